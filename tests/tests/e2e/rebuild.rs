//! Rebuilds: a fresh copy equals the live read model, and swapping one in
//! under query load fails no query.

use ordo_domain::order::{ModifyOrder, PricedLine};
use ordo_domain::{decide, Order, OrderCommand};
use ordo_ledger::{Actor, ActorKind, CommandContext, Repository};
use ordo_projections::{checkpoint, ORDER_VIEWS};
use ordo_tests::{eventually, nats_url, order_body, TestApp};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs `ordo rebuild` against the app's namespace and database.
async fn rebuild_cli(app: &TestApp, args: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ordo-e2e"))
        .arg("rebuild")
        .args(args)
        .env("ORDO_NATS_URL", nats_url())
        .env("ORDO_NAMESPACE", app.sandbox.namespace.as_str())
        .env("ORDO_DATABASE_URL", app.sandbox.database_url())
        .env("ORDO_MASTER_KEY_FILE", &app.sandbox.master_key_file)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

async fn caught_up(app: &TestApp) {
    let last = app.sandbox.ledger.last_position().await.unwrap();
    let pool = app.sandbox.pool.clone();
    eventually(Duration::from_secs(120), || async {
        checkpoint(&pool, ORDER_VIEWS).await.unwrap() >= last
    })
    .await;
}

fn context() -> CommandContext {
    let actor = Actor {
        kind: ActorKind::Channel,
        id: "load".into(),
    };
    CommandContext::new(actor, time::OffsetDateTime::now_utc())
}

/// Appends `per_order - 1` line changes to each order, from 32 tasks.
async fn grow(app: &TestApp, ids: Vec<String>, per_order: usize) {
    let orders = Arc::new(Repository::<Order>::new(app.sandbox.ledger.clone()));
    let chunks: Vec<Vec<String>> = ids
        .chunks(ids.len().div_ceil(32))
        .map(<[String]>::to_vec)
        .collect();
    let tasks = chunks.into_iter().map(|chunk| {
        let orders = orders.clone();
        tokio::spawn(async move {
            for id in chunk {
                for step in 1..per_order {
                    let line = PricedLine {
                        sku: ordo_domain::Sku::parse(&format!("SKU-{step}")).unwrap(),
                        quantity: ordo_domain::Quantity::parse(1 + (step % 5) as i64).unwrap(),
                        unit_price_minor: 100 * step as i64,
                    };
                    let modify = ModifyOrder {
                        lines: Some(vec![line]),
                        shipping_address: None,
                    };
                    let command = OrderCommand::Modify(modify);
                    let context = context();
                    let now = context.now;
                    orders
                        .execute(&id, &context, |o| decide(o, command.clone(), now))
                        .await
                        .unwrap();
                }
            }
        })
    });
    for task in futures::future::join_all(tasks).await {
        task.unwrap();
    }
}

async fn place_many(app: &TestApp, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for chunk in 0..count.div_ceil(50) {
        let bodies: Vec<serde_json::Value> = (0..50.min(count - chunk * 50))
            .map(|i| order_body(&format!("c-{}", (chunk * 50 + i) % 97)))
            .collect();
        let placed = futures::future::join_all(bodies.iter().map(|b| app.place_order(b))).await;
        ids.extend(
            placed
                .iter()
                .map(|a| a.body["order_id"].as_str().unwrap().to_owned()),
        );
    }
    ids
}

#[tokio::test]
async fn a_check_of_a_hundred_thousand_events_finds_no_difference() {
    let app = TestApp::spawn().await;
    let ids = place_many(&app, 2000).await;
    grow(&app, ids, 50).await;
    let events = app.message_count().await;
    assert!(events >= 100_000, "{events} events");
    caught_up(&app).await;

    let (clean, output) = rebuild_cli(&app, &["order_views", "--check"]).await;

    assert!(clean, "{output}");
    assert!(output.contains(": 0 differing rows"), "{output}");
}

#[tokio::test]
async fn a_rebuild_under_query_load_fails_no_query_and_the_projector_goes_on() {
    let app = TestApp::spawn().await;
    let ids = Arc::new(place_many(&app, 200).await);
    caught_up(&app).await;
    let running = Arc::new(AtomicBool::new(true));
    let (served, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let loads = (0..4).map(|worker| {
        let (ids, running) = (ids.clone(), running.clone());
        let (served, failed) = (served.clone(), failed.clone());
        let (http, base) = (app.http.clone(), app.base.clone());
        tokio::spawn(async move {
            let mut i = worker;
            while running.load(Ordering::Relaxed) {
                let id = &ids[i % ids.len()];
                let response = http
                    .get(format!("{base}/v1/orders/{id}"))
                    .bearer_auth(ordo_tests::token("channel"))
                    .send()
                    .await
                    .unwrap();
                let ok = response.status() == 200;
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                if ok
                    && body["order_id"] == id.as_str()
                    && body["lines"].as_array().is_some_and(|l| !l.is_empty())
                {
                    served.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                i += 4;
            }
        })
    });
    let loads: Vec<_> = loads.collect();

    let (rebuilt, output) = rebuild_cli(&app, &["--all"]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    running.store(false, Ordering::Relaxed);
    for load in loads {
        load.await.unwrap();
    }

    assert!(rebuilt, "{output}");
    assert!(served.load(Ordering::Relaxed) > 0);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "{} queries failed",
        failed.load(Ordering::Relaxed)
    );
    let placed = app.place_order(&order_body("after-the-swap")).await;
    let id = placed.body["order_id"].as_str().unwrap();
    let view = app
        .order_at(id, placed.body["position"].as_u64().unwrap())
        .await;
    assert_eq!(
        view.status, 200,
        "the live projector resumed on the new tables: {view:?}"
    );
    let (clean, output) = rebuild_cli(&app, &["order_views", "--check"]).await;
    assert!(clean, "{output}");
}
