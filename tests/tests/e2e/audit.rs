//! Auditors: history as of any moment, tamper detection, proofs that a third
//! party can check, and upcasting of old event shapes.

use ordo_domain::order::ModifyOrder;
use ordo_domain::{Order, OrderCommand};
use ordo_ledger::envelope::hash_of;
use ordo_ledger::{Ledger, LedgerConfig, Repository};
use ordo_projections::{Sealer, SealerConfig};
use ordo_tests::commands::{context, line, place, run};
use ordo_tests::{eventually, nats_url, order_body, Sandbox, TestApp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

#[tokio::test]
async fn history_as_of_each_event_gives_the_state_right_after_it() {
    let app = TestApp::spawn_routing().await;
    app.receive("wh-1", "HAT", 5).await;
    let id = app.place_routed(&order_body("c-1")).await;
    let lines = json!({"lines": [{"sku": "HAT", "quantity": 2, "unit_price_minor": 700}]});
    app.patch(&format!("/v1/orders/{id}"), "channel", &lines, &[])
        .await;
    app.settle().await;
    let parcel = json!({"shipment_id": "P1", "location_id": "wh-1", "carrier": "DHL",
        "tracking_number": "T1", "lines": [{"sku": "HAT", "quantity": 2}]});
    app.post(&format!("/v1/orders/{id}/shipments"), "store", &parcel, &[])
        .await;
    let delivery = json!({"shipment_id": "P1", "delivered_at": "2026-01-01T12:00:00Z"});
    app.post(
        &format!("/v1/orders/{id}/deliveries"),
        "store",
        &delivery,
        &[],
    )
    .await;

    let events = app
        .get(&format!("/v1/orders/{id}/events"), Some("auditor"))
        .await;
    // One entry per commit: the routing's release and the new lines are one
    // decision, stored together.
    let expected = [
        ("placed", 8999 + 2 * 1299),
        ("routed", 8999 + 2 * 1299),
        ("placed", 1400),
        ("routed", 1400),
        ("shipped", 1400),
        ("delivered", 1400),
    ];
    let events = events.body.as_array().unwrap();
    let last_of_commits: Vec<&Value> = events
        .iter()
        .enumerate()
        .filter(|(i, e)| {
            events
                .get(i + 1)
                .is_none_or(|n| n["recorded_at"] != e["recorded_at"])
        })
        .map(|(_, e)| e)
        .collect();
    assert_eq!(last_of_commits.len(), expected.len(), "{events:?}");
    for (event, (status, total)) in last_of_commits.into_iter().zip(expected) {
        let at = event["recorded_at"].as_str().unwrap();
        let path = format!("/v1/orders/{id}/history?as_of={}", at.replace('+', "%2B"));
        let history = app.get(&path, Some("auditor")).await;
        assert_eq!(history.status, 200, "{history:?}");
        assert_eq!(history.body["version"], event["aggregate_version"]);
        assert_eq!(history.body["status"], status);
        assert_eq!(history.body["state"]["total_minor"], total);
        assert_eq!(
            history.body["state"]["shipping_address"]["name"],
            "Ada Lovelace"
        );
    }
    let before = app
        .get(
            &format!("/v1/orders/{id}/history?as_of=2000-01-01T00:00:00Z"),
            Some("auditor"),
        )
        .await;
    assert_eq!(before.body["version"], 0);
    let bad = app
        .get(
            &format!("/v1/orders/{id}/history?as_of=yesterday"),
            Some("auditor"),
        )
        .await;
    assert_eq!(bad.status, 400);
}

/// Runs `ordo verify --json` and returns whether it passed and its report.
async fn verify_cli(sandbox: &Sandbox) -> (bool, Value) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ordo-e2e"))
        .args(["verify", "--json"])
        .env("ORDO_NATS_URL", nats_url())
        .env("ORDO_NAMESPACE", sandbox.namespace.as_str())
        .output()
        .await
        .unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.success(), report)
}

fn problems_at(report: &Value, position: u64) -> Vec<String> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["position"] == position)
        .map(|p| p["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn verify_names_forged_and_deleted_events_and_passes_an_untouched_ledger() {
    let (namespace, database) = ordo_tests::unique_names();
    let sandbox = Sandbox::create_with(namespace, database, |config: &mut LedgerConfig| {
        config.deny_delete = false;
    })
    .await
    .unwrap();
    let ledger: Ledger = sandbox.ledger.clone();
    let orders = Repository::<Order>::new(ledger.clone());
    for i in 0..6 {
        run(&orders, &format!("o-{i}"), place(&format!("o-{i}"))).await;
        let modify = ModifyOrder {
            lines: Some(vec![line("B", 2, 50)]),
            shipping_address: None,
        };
        run(&orders, &format!("o-{i}"), OrderCommand::Modify(modify)).await;
    }
    let sealer = Sealer::new(
        ledger.clone(),
        SealerConfig {
            every_events: 4,
            every: Duration::from_millis(200),
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(sealer.run(async move {
        let _ = stopped.await;
    }));
    eventually(Duration::from_secs(10), || async {
        ledger
            .seals()
            .await
            .unwrap()
            .last()
            .is_some_and(|(_, s)| s.to_position >= 12)
    })
    .await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    let (intact, report) = verify_cli(&sandbox).await;
    assert!(intact, "{report}");
    assert!(report["seals"].as_u64().unwrap() >= 3);

    // Deleting an event inside a sealed range.
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js
        .get_stream(sandbox.namespace.stream_name())
        .await
        .unwrap();
    assert!(stream.delete_message(5).await.unwrap());
    let (intact, report) = verify_cli(&sandbox).await;
    assert!(!intact);
    assert!(
        problems_at(&report, 5).contains(&"missing".to_owned()),
        "{report}"
    );
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "seal"),
        "{report}"
    );

    // A forged event with a wrong hash: o-1's placement with another price.
    let subject = format!("{}.order.o-1", sandbox.namespace);
    let original = ledger.raw_subject(&subject).await.unwrap().remove(0);
    let mut forged: Value = serde_json::from_slice(&original.payload).unwrap();
    forged["events"][0]["data"]["lines"][0]["unit_price_minor"] = json!(1);
    let ack = js
        .publish(subject.clone(), serde_json::to_vec(&forged).unwrap().into())
        .await
        .unwrap();
    let wrong_hash = ack.await.unwrap().sequence;

    // A well-formed event whose hash is right but whose prev_hash is not
    // (o-3: o-2 lost its placement, position 5, above).
    let subject = format!("{}.order.o-3", sandbox.namespace);
    let commits = ledger.raw_subject(&subject).await.unwrap();
    let last: Value = serde_json::from_slice(&commits[1].payload).unwrap();
    let mut event = last["events"][0].clone();
    event["aggregate_version"] = json!(3);
    event["event_id"] = json!(uuid::Uuid::now_v7().to_string());
    event["prev_hash"] = json!(hex::encode(Sha256::digest(b"not the previous event")));
    event["hash"] = json!(hash_of(&event));
    let payload = serde_json::to_vec(&json!({"events": [event]})).unwrap();
    let broken_link = js
        .publish(subject, payload.into())
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence;

    let (intact, report) = verify_cli(&sandbox).await;
    assert!(!intact);
    assert!(
        problems_at(&report, wrong_hash).contains(&"hash".to_owned()),
        "{report}"
    );
    assert_eq!(problems_at(&report, broken_link), ["link"], "{report}");
}

/// An independent checker: SHA-256 and the documented format, nothing of Ordo.
mod checker {
    use serde_json::Value;
    use sha2::{Digest, Sha256};

    fn canonical(value: &Value, out: &mut String) {
        match value {
            Value::Object(members) => {
                let mut keys: Vec<&String> = members.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(key).unwrap());
                    out.push(':');
                    canonical(&members[*key], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    /// SHA-256 of the canonical JSON without `hash`, in hex.
    pub(super) fn content_hash(value: &Value) -> String {
        let mut without = value.clone();
        without.as_object_mut().unwrap().remove("hash");
        let mut text = String::new();
        canonical(&without, &mut text);
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    fn node(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
        let mut hasher = Sha256::new();
        hasher.update([prefix]);
        for part in parts {
            hasher.update(part);
        }
        hasher.finalize().to_vec()
    }

    /// The Merkle root reached from an event hash along its path.
    pub(super) fn root(event_hash: &str, path: &[Value]) -> String {
        let mut current = node(0, &[&hex::decode(event_hash).unwrap()]);
        for step in path {
            let sibling = hex::decode(step["hash"].as_str().unwrap()).unwrap();
            current = match step["side"].as_str().unwrap() {
                "left" => node(1, &[&sibling, &current]),
                _ => node(1, &[&current, &sibling]),
            };
        }
        hex::encode(current)
    }
}

#[tokio::test]
async fn a_proof_checks_out_with_an_independent_checker() {
    let app = TestApp::spawn_sealing(3, 1).await;
    let placed = app.place_order(&order_body("c-proof")).await;
    let id = placed.body["order_id"].as_str().unwrap().to_owned();
    for i in 0..4 {
        app.place_order(&order_body(&format!("c-other-{i}"))).await;
    }
    let lines = json!({"lines": [{"sku": "HAT", "quantity": 1, "unit_price_minor": 700}]});
    app.patch(&format!("/v1/orders/{id}"), "channel", &lines, &[])
        .await;
    let path = format!("/v1/orders/{id}/proof");
    eventually(Duration::from_secs(15), || async {
        let proof = app.get(&path, Some("auditor")).await;
        proof.body["events"]
            .as_array()
            .is_some_and(|e| e.iter().all(|e| e.get("path").is_some()))
    })
    .await;

    let proof = app.get(&path, Some("auditor")).await;

    let seals = proof.body["seals"].as_array().unwrap();
    let mut previous_seal_hash = "0".repeat(64);
    for entry in seals {
        let seal = &entry["seal"];
        assert_eq!(checker::content_hash(seal), seal["hash"].as_str().unwrap());
        assert_eq!(seal["prev_seal_hash"], previous_seal_hash.as_str());
        previous_seal_hash = seal["hash"].as_str().unwrap().to_owned();
    }
    let mut previous_event_hash = "0".repeat(64);
    let events = proof.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    for event in events {
        let envelope = &event["envelope"];
        let hash = envelope["hash"].as_str().unwrap();
        assert_eq!(checker::content_hash(envelope), hash);
        assert_eq!(envelope["prev_hash"], previous_event_hash.as_str());
        previous_event_hash = hash.to_owned();
        let seal = seals
            .iter()
            .find(|s| s["position"] == event["seal_position"])
            .unwrap();
        let root = checker::root(hash, event["path"].as_array().unwrap());
        assert_eq!(root, seal["seal"]["merkle_root"].as_str().unwrap());
    }
    let listed = app.get("/v1/audit/seals", Some("auditor")).await;
    assert!(listed.body.as_array().unwrap().len() >= seals.len());
}

/// A test aggregate whose event changed shape: version 1 stored an amount in
/// whole euros, version 2 stores minor units and a currency.
mod thing {
    use ordo_ledger::Aggregate;
    use serde::{Deserialize, Serialize};
    use serde_json::value::RawValue;
    use serde_json::{json, Value};

    #[derive(Debug, Clone, Serialize, Deserialize)]
    #[serde(tag = "type", content = "data")]
    pub(super) enum OldEvent {
        Priced { euros: i64 },
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    #[serde(tag = "type", content = "data")]
    pub(super) enum Event {
        Priced { amount_minor: i64, currency: String },
    }

    /// Writes version-1 events, as old code did.
    #[derive(Debug, Clone, Default)]
    pub(super) struct OldThing {
        pub(super) version: u64,
    }

    /// Reads every version, upcasting version 1.
    #[derive(Debug, Clone, Default)]
    pub(super) struct Thing {
        pub(super) version: u64,
        pub(super) total_minor: i64,
    }

    impl Aggregate for OldThing {
        type Event = OldEvent;
        type Receipt = ();
        const KIND: &'static str = "thing";
        fn apply(self, _: &OldEvent) -> Self {
            Self {
                version: self.version + 1,
            }
        }
        fn version(&self) -> u64 {
            self.version
        }
        fn schema_version(_: &OldEvent) -> u32 {
            1
        }
        fn receipt(&self) {}
    }

    impl Aggregate for Thing {
        type Event = Event;
        type Receipt = ();
        const KIND: &'static str = "thing";
        fn apply(self, event: &Event) -> Self {
            let Event::Priced { amount_minor, .. } = event;
            Self {
                version: self.version + 1,
                total_minor: self.total_minor + amount_minor,
            }
        }
        fn version(&self) -> u64 {
            self.version
        }
        fn schema_version(_: &Event) -> u32 {
            2
        }
        fn receipt(&self) {}
        fn upcast(
            event_type: &str,
            schema_version: u32,
            data: &RawValue,
        ) -> Result<Option<Value>, String> {
            match (event_type, schema_version) {
                ("Priced", 1) => {
                    let data: Value =
                        serde_json::from_str(data.get()).map_err(|e| e.to_string())?;
                    let euros = data["euros"].as_i64().ok_or("euros missing")?;
                    Ok(Some(
                        json!({"amount_minor": euros * 100, "currency": "EUR"}),
                    ))
                }
                _ => Ok(None),
            }
        }
    }
}

#[tokio::test]
async fn old_event_shapes_are_read_through_their_upcaster_and_still_verify() {
    let sandbox = Sandbox::create().await.unwrap();
    let old = Repository::<thing::OldThing>::new(sandbox.ledger.clone());
    let new = Repository::<thing::Thing>::new(sandbox.ledger.clone());
    let context = context();
    old.execute("t-1", &context, |_| {
        Ok::<_, std::convert::Infallible>(vec![thing::OldEvent::Priced { euros: 3 }])
    })
    .await
    .unwrap();

    new.execute("t-1", &context, |_| {
        Ok::<_, std::convert::Infallible>(vec![thing::Event::Priced {
            amount_minor: 250,
            currency: "EUR".into(),
        }])
    })
    .await
    .unwrap();
    let fresh = Repository::<thing::Thing>::new(sandbox.ledger.clone());
    let loaded = fresh.load("t-1").await.unwrap();

    assert_eq!(loaded.state.total_minor, 550);
    assert_eq!(loaded.state.version, 2);
    let report = ordo_ledger::verify(&sandbox.ledger, 1, None, |_, _| {})
        .await
        .unwrap();
    assert!(report.is_intact(), "{report:?}");
    let stored = sandbox
        .ledger
        .raw_subject(&format!("{}.thing.t-1", sandbox.namespace))
        .await
        .unwrap();
    let first: Value = serde_json::from_slice(&stored[0].payload).unwrap();
    assert_eq!(first["events"][0]["schema_version"], 1);
    assert_eq!(first["events"][0]["data"]["euros"], 3);
}
