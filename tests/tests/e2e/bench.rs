//! `ordo bench` runs every baseline and scenario and cleans up after itself.
//! (A token run: it proves the bench works, it measures nothing.)

use ordo_tests::{nats_url, pg_base_url};

#[tokio::test]
async fn a_tiny_bench_prints_every_figure_and_leaves_nothing_behind() {
    let json = std::env::temp_dir().join(format!("ordo-bench-{}.json", uuid::Uuid::new_v4()));

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ordo-e2e"))
        .args(["bench", "--tiny", "--json"])
        .arg(&json)
        .env("ORDO_NATS_URL", nats_url())
        .env("ORDO_DATABASE_URL", format!("{}/ordo", pg_base_url()))
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    let names: Vec<&str> = report["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for expected in [
        "raw JetStream publish, awaited",
        "raw JetStream publish, 1024 in flight",
        "raw JetStream ordered read",
        "raw PostgreSQL upsert, 1000-row batches",
        "hot-SKU burst: orders routed or backordered",
        "full lifecycle: commands",
        "full lifecycle: tracking reads",
        "place orders over HTTP",
        "projection lag (201 to visible in GET)",
        "hot aggregate at 10 events of history",
        "catch-up: projector applies a backlog",
        "rebuild: order views from position 0",
        "load one order (uncached) from the big stream",
        "replay: read, verify hash, open, fold",
        "verify: hashes, links, seals",
        "raw PostgreSQL read of the export rows",
        "ERP export, 2000 records, csv",
        "ERP export, 2000 records, jsonl",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
        assert!(stdout.contains(expected));
    }
    let place = report["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "place orders over HTTP")
        .unwrap();
    assert!(place["ratio"].as_f64().unwrap() > 0.0);
    let rate_of = |name: &str| {
        report["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()["rate"]
            .as_f64()
            .unwrap()
    };
    let count_of = |name: &str| {
        report["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()["count"]
            .as_u64()
            .unwrap()
    };
    // The catch-up counts the backlog appended while its projector was
    // stopped, not the earlier scenarios' commits, which the rebuild counts.
    assert_eq!(count_of("catch-up: projector applies a backlog"), 500);
    assert!(count_of("rebuild: order views from position 0") > 500);
    let commands = rate_of("full lifecycle: commands");
    assert!(commands > 0.0, "no lifecycle command was measured");
    assert!(rate_of("full lifecycle: tracking reads") >= 10.0 * commands);
    let pool = sqlx::PgPool::connect(&format!("{}/postgres", pg_base_url()))
        .await
        .unwrap();
    let database = report["database"].as_str().unwrap();
    let left: i64 = sqlx::query_scalar("select count(*) from pg_database where datname = $1")
        .bind(database)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "the bench database {database} was not removed");
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = report["namespace"].as_str().unwrap().to_ascii_uppercase();
    assert!(
        js.get_stream(&stream).await.is_err(),
        "the bench stream {stream} was not removed"
    );
}
