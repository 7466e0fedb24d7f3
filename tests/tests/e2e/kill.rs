//! No acknowledged order is lost when the server dies with SIGKILL.

use ordo_tests::{eventually, nats_url, order_body, token, Sandbox};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// A tokens file and a master key file for the sandbox.
pub(super) fn secret_files(sandbox: &Sandbox) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir();
    let tokens = dir.join(format!("ordo-tokens-{}", sandbox.namespace));
    std::fs::write(&tokens, format!("channel {}\n", token("channel"))).unwrap();
    let master = dir.join(format!("ordo-master-{}", sandbox.namespace));
    let key: [u8; 32] = rand_bytes();
    std::fs::write(&master, hex_of(&key)).unwrap();
    (tokens, master)
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    let id = uuid::Uuid::new_v4();
    let other = uuid::Uuid::new_v4();
    bytes[..16].copy_from_slice(id.as_bytes());
    bytes[16..].copy_from_slice(other.as_bytes());
    bytes
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts the real program on a free port and waits until it is ready.
async fn start(sandbox: &Sandbox, files: &(PathBuf, PathBuf)) -> (Child, String) {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let child = Command::new(env!("CARGO_BIN_EXE_ordo-e2e"))
        .arg("serve")
        .env("ORDO_NATS_URL", nats_url())
        .env("ORDO_DATABASE_URL", sandbox.database_url())
        .env("ORDO_NAMESPACE", sandbox.namespace.as_str())
        .env("ORDO_LISTEN", format!("127.0.0.1:{port}"))
        .env("ORDO_TOKENS_FILE", &files.0)
        .env("ORDO_MASTER_KEY_FILE", &files.1)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start ordo");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    eventually(Duration::from_secs(30), || async {
        let ready = client.get(format!("{base}/readyz")).send().await;
        ready.is_ok_and(|r| r.status() == 200)
    })
    .await;
    (child, base)
}

#[tokio::test]
async fn every_order_acknowledged_before_a_sigkill_is_there_after_restart() {
    let sandbox = Sandbox::create().await.unwrap();
    let files = secret_files(&sandbox);
    let (mut server, base) = start(&sandbox, &files).await;

    let client = reqwest::Client::new();
    let (results, mut received) = mpsc::unbounded_channel();
    for i in 0..200 {
        let (client, base, results) = (client.clone(), base.clone(), results.clone());
        tokio::spawn(async move {
            let mut body = order_body(&format!("cust-{i}"));
            body["order_id"] = format!("kill-{i}").into();
            let sent = client
                .post(format!("{base}/v1/orders"))
                .bearer_auth(token("channel"))
                .header("Idempotency-Key", format!("k-{i}"))
                .json(&body)
                .send()
                .await;
            let acknowledged = match sent {
                Ok(response) if response.status() == 201 => {
                    let body: serde_json::Value = response.json().await.unwrap_or_default();
                    body["position"].as_u64().map(|p| (format!("kill-{i}"), p))
                }
                _ => None,
            };
            let _ = results.send(acknowledged);
        });
    }
    drop(results);
    let mut acknowledged = Vec::new();
    let mut answered = 0;
    while let Some(result) = received.recv().await {
        answered += 1;
        acknowledged.extend(result);
        if acknowledged.len() == 40 {
            server.start_kill().unwrap();
        }
    }
    server.wait().await.unwrap();
    assert_eq!(answered, 200);
    assert!(
        acknowledged.len() >= 40,
        "the kill happened after 40 acknowledgements"
    );

    let (_server, base) = start(&sandbox, &files).await;
    let mut missing = Vec::new();
    for (order_id, position) in &acknowledged {
        let url = format!("{base}/v1/orders/{order_id}?min_position={position}");
        let response = client
            .get(url)
            .bearer_auth(token("channel"))
            .send()
            .await
            .unwrap();
        if response.status() != 200 {
            missing.push(order_id.clone());
        }
    }
    let _ = std::fs::remove_file(&files.0);
    let _ = std::fs::remove_file(&files.1);
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    let stored = sandbox.ledger.message_count().await.unwrap() as usize;
    assert!(stored >= acknowledged.len());
}
