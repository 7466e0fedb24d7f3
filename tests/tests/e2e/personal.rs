//! Personal data: stored only encrypted, and erasable without touching the
//! ledger's integrity.

use futures::StreamExt;
use ordo_domain::Order;
use ordo_ledger::Repository;
use ordo_projections::{checkpoint, OrderViews, Projector, ProjectorConfig, ORDER_VIEWS};
use ordo_tests::{eventually, nats_url, order_body, token, Sandbox, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

const SECRETS: [&str; 6] = [
    "Ada Lovelace",
    "12 St James's Square",
    "ada@example.org",
    "Grace Hopper",
    "1 Navy Way",
    "grace@example.net",
];

fn body_of(customer: &str, name: &str, street: &str, email: &str) -> Value {
    let mut body = order_body(customer);
    body["shipping_address"]["name"] = json!(name);
    body["shipping_address"]["line1"] = json!(street);
    body["shipping_address"]["email"] = json!(email);
    body["shipping_address"]["phone"] = json!("+44 20 7946 0000");
    body
}

/// Every message of the sandbox's stream, headers and payload, as raw bytes.
async fn raw_stream(app: &TestApp) -> Vec<u8> {
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js
        .get_stream(app.sandbox.namespace.stream_name())
        .await
        .unwrap();
    let last = app.sandbox.ledger.last_position().await.unwrap();
    let mut bytes = Vec::new();
    for sequence in 1..=last {
        let message = stream.get_raw_message(sequence).await.unwrap();
        bytes.extend_from_slice(&message.payload);
        for (name, values) in message.headers.iter() {
            bytes.extend_from_slice(name.to_string().as_bytes());
            for value in values {
                bytes.extend_from_slice(value.as_str().as_bytes());
            }
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn erase(app: &TestApp, customer: &str) -> ordo_tests::Answer {
    let path = format!("/v1/customers/{customer}/erasure");
    app.post(
        &path,
        "operator",
        &json!({"reason": "GDPR request #4711"}),
        &[],
    )
    .await
}

#[tokio::test]
async fn the_stream_holds_no_personal_data_in_clear() {
    let app = TestApp::spawn().await;
    let ada = app
        .place_order(&body_of("c-ada", SECRETS[0], SECRETS[1], SECRETS[2]))
        .await;
    let id = ada.body["order_id"].as_str().unwrap().to_owned();
    let moved = json!({"shipping_address": {"name": SECRETS[3], "line1": SECRETS[4],
        "postal_code": "12345", "city": "Arlington", "country": "US", "email": SECRETS[5]}});
    assert_eq!(
        app.patch(&format!("/v1/orders/{id}"), "channel", &moved, &[])
            .await
            .status,
        200
    );

    let bytes = raw_stream(&app).await;

    assert!(
        contains(&bytes, "$sealed"),
        "personal data is sealed, not left out"
    );
    for secret in SECRETS {
        assert!(
            !contains(&bytes, secret),
            "{secret:?} is in the stream in clear"
        );
    }
    let view = app.order_at(&id, 2).await;
    assert_eq!(view.body["shipping_address"]["name"], SECRETS[3]);
}

#[tokio::test]
async fn an_erased_customer_reads_as_erased_everywhere_and_the_ledger_still_verifies() {
    let app = TestApp::spawn_routing().await;
    let ada = app
        .place_routed(&body_of("c-ada", SECRETS[0], SECRETS[1], SECRETS[2]))
        .await;
    let grace = app
        .place_routed(&body_of("c-grace", SECRETS[3], SECRETS[4], SECRETS[5]))
        .await;
    let (ada_id, grace_id) = (ada.as_str(), grace.as_str());
    let parcel = json!({"shipment_id": "P1", "location_id": "wh-1", "carrier": "DHL",
        "tracking_number": "T1", "lines": [{"sku": "SHOE-42", "quantity": 1}]});
    let shipped = app
        .post(
            &format!("/v1/orders/{ada_id}/shipments"),
            "store",
            &parcel,
            &[],
        )
        .await;
    assert_eq!(shipped.status, 200);

    let erased = erase(&app, "c-ada").await;
    assert_eq!(erased.status, 200, "{erased:?}");

    // The read models, right after the answer.
    let ada_view = app
        .get(&format!("/v1/orders/{ada_id}"), Some("channel"))
        .await;
    let grace_view = app
        .get(&format!("/v1/orders/{grace_id}"), Some("channel"))
        .await;
    assert_eq!(ada_view.body["shipping_address"]["name"], "[erased]");
    assert_eq!(ada_view.body["shipping_address"]["email"], "[erased]");
    assert_eq!(
        ada_view.body["status"], "partially_shipped",
        "non-personal data stays"
    );
    assert_eq!(ada_view.body["total_minor"], 8999 + 2 * 1299);
    assert_eq!(grace_view.body["shipping_address"]["name"], SECRETS[3]);
    let ada_text = ada_view.body.to_string();
    for secret in &SECRETS[..3] {
        assert!(
            !ada_text.contains(secret),
            "{secret} survived in the tracking view"
        );
    }
    let token = ada_view.body["tracking_token"].as_str().unwrap();
    let tracking = app.get(&format!("/v1/track/{token}"), None).await;
    assert_eq!(tracking.body["status"], "partially_shipped");

    // The history, read and verified from the ledger itself.
    let orders = Repository::<Order>::new(app.sandbox.ledger.clone());
    let loaded = orders
        .load(ada_id)
        .await
        .expect("hash chain verifies after erasure");
    let placed = loaded.state.placed.as_ref().unwrap();
    assert!(placed.shipping_address.is_erased());
    assert_eq!(loaded.state.version, 3, "placed, routed, shipped");
    let grace_loaded = orders.load(grace_id).await.unwrap();
    assert!(!grace_loaded
        .state
        .placed
        .as_ref()
        .unwrap()
        .shipping_address
        .is_erased());
    let events = app
        .get(&format!("/v1/orders/{ada_id}/events"), Some("auditor"))
        .await;
    assert_eq!(events.body.as_array().unwrap().len(), 3);
    let history = app
        .get(&format!("/v1/orders/{ada_id}/history"), Some("auditor"))
        .await;
    assert_eq!(
        history.body["state"]["shipping_address"]["name"],
        "[erased]"
    );
    assert_eq!(
        history.body["events"][0]["data"]["shipping_address"],
        "[erased]"
    );
    let grace_history = app
        .get(&format!("/v1/orders/{grace_id}/history"), Some("auditor"))
        .await;
    assert_eq!(
        grace_history.body["events"][0]["data"]["shipping_address"]["name"],
        SECRETS[3]
    );
    let report = ordo_ledger::verify(&app.sandbox.ledger, 1, None, |_, _| {})
        .await
        .unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);

    // A full rebuild from position 0 gives the very same read model.
    let rebuilt = app.sandbox.scratch_database("rebuild").await.unwrap();
    let projector = Projector::new(
        OrderViews,
        app.sandbox.ledger.clone(),
        rebuilt.clone(),
        ProjectorConfig::default(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(projector.run(async move {
        let _ = stopped.await;
    }));
    let last = app.sandbox.ledger.last_position().await.unwrap();
    eventually(Duration::from_secs(20), || async {
        checkpoint(&rebuilt, ORDER_VIEWS).await.unwrap() >= last
    })
    .await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    let dump = |pool: sqlx::PgPool| async move {
        // The state as a JSON value: the erasure rewrote the live one in
        // jsonb's layout, the rebuild wrote it in ours.
        let sql = "select json_agg(t order by order_id)::text from \
                   (select order_id, state::jsonb as state from order_tracking) t";
        sqlx::query_scalar::<_, String>(sql)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(dump(rebuilt).await, dump(app.sandbox.pool.clone()).await);
}

#[tokio::test]
async fn erasing_twice_answers_200_and_appends_nothing_and_unknown_customers_are_404() {
    let app = TestApp::spawn().await;
    app.place_order(&body_of("c-ada", SECRETS[0], SECRETS[1], SECRETS[2]))
        .await;

    let first = erase(&app, "c-ada").await;
    let count = app.message_count().await;
    let second = erase(&app, "c-ada").await;
    let unknown = erase(&app, "c-nobody").await;
    let by_channel = app
        .post(
            "/v1/customers/c-ada/erasure",
            "channel",
            &json!({"reason": "x"}),
            &[],
        )
        .await;

    assert_eq!(first.status, 200);
    assert_eq!(second.status, 200, "{second:?}");
    assert_eq!(second.body["position"], first.body["position"]);
    assert_eq!(app.message_count().await, count);
    assert_eq!(unknown.status, 404);
    assert_eq!(by_channel.status, 403);
}

#[tokio::test]
async fn serve_refuses_to_start_without_a_tokens_file() {
    let sandbox = Sandbox::create().await.unwrap();

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ordo-e2e"))
        .arg("serve")
        .env("ORDO_NAMESPACE", sandbox.namespace.as_str())
        .env("ORDO_MASTER_KEY_FILE", &sandbox.master_key_file)
        .env_remove("ORDO_TOKENS_FILE")
        .output()
        .await
        .unwrap();

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ORDO_TOKENS_FILE") && stderr.contains("--dev"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_refuses_to_start_without_a_master_key() {
    let sandbox = Sandbox::create().await.unwrap();
    let tokens = std::env::temp_dir().join(format!("ordo-tokens-nokey-{}", sandbox.namespace));
    std::fs::write(&tokens, format!("channel {}\n", token("channel"))).unwrap();

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ordo-e2e"))
        .arg("serve")
        .env("ORDO_NAMESPACE", sandbox.namespace.as_str())
        .env("ORDO_DATABASE_URL", sandbox.database_url())
        .env("ORDO_NATS_URL", nats_url())
        .env("ORDO_LISTEN", "127.0.0.1:0")
        .env("ORDO_TOKENS_FILE", &tokens)
        .env_remove("ORDO_MASTER_KEY_FILE")
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&tokens);

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ORDO_MASTER_KEY_FILE"), "{stderr}");
}

#[tokio::test]
async fn keys_loaded_at_once_open_live_customers_and_leave_erased_ones_erased() {
    let app = TestApp::spawn().await;
    let ada = app
        .place_order(&body_of("c-ada", SECRETS[0], SECRETS[1], SECRETS[2]))
        .await;
    let grace = app
        .place_order(&body_of("c-grace", SECRETS[3], SECRETS[4], SECRETS[5]))
        .await;
    assert_eq!(erase(&app, "c-ada").await.status, 200);

    // Another process, as a projector far behind would start: every key
    // loaded in one pass before the first read.
    let mut config = ordo_ledger::LedgerConfig::new(app.sandbox.namespace.clone());
    config.master_key = Some(app.sandbox.master_key.clone());
    let client = async_nats::connect(nats_url()).await.unwrap();
    let ledger = ordo_ledger::Ledger::attach(client, config).await.unwrap();
    ledger.preload_keys().await.unwrap();
    let last = ledger.last_position().await.unwrap();
    let mut commits = Vec::new();
    let mut read = ledger.read_from(1, None, true).await.unwrap();
    while let Some(commit) = read.next().await {
        let commit = commit.unwrap();
        let position = commit.position;
        commits.push(commit);
        if position >= last {
            break;
        }
    }
    ledger.unseal_all(&mut commits).await.unwrap();

    let address_of = |answer: &ordo_tests::Answer| {
        let order_id = answer.body["order_id"].as_str().unwrap().to_owned();
        commits
            .iter()
            .flat_map(|c| &c.envelopes)
            .find(|e| e.aggregate_id == order_id && e.event_type == "OrderPlaced")
            .map(|e| e.data_value().unwrap()["shipping_address"].clone())
            .unwrap()
    };
    assert_eq!(address_of(&ada), json!({"$erased": true}));
    assert_eq!(address_of(&grace)["$personal"]["name"], SECRETS[3]);
}
