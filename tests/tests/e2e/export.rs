//! The ERP export of a business day on real NATS and PostgreSQL: control
//! totals that the events themselves confirm, byte-identical repeats, late
//! events in the next day's corrections, reconciliation, and bad input.

use ordo_domain::Order;
use ordo_ledger::Repository;
use ordo_tests::commands::{line, place_lines, run};
use ordo_tests::{order_body, token, TestApp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

/// Sums by (currency, record type): (count, amount, quantity).
type Sums = BTreeMap<(String, String), (u64, i64, i64)>;

/// The ERP facts of one order, worked out from its events alone: what an
/// auditor would compute by hand.
fn facts_from_events(events: &[Value], sums: &mut Sums) {
    let mut currency = String::new();
    let mut lines: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut shipments: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    let items = |data: &Value| -> Vec<(String, i64)> {
        data["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let sku = l["sku"].as_str().unwrap().to_owned();
                (sku, l["quantity"].as_i64().unwrap())
            })
            .collect()
    };
    let priced_lines = |data: &Value| -> BTreeMap<String, (i64, i64)> {
        data["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let sku = l["sku"].as_str().unwrap().to_owned();
                let price = l["unit_price_minor"].as_i64().unwrap();
                (sku, (l["quantity"].as_i64().unwrap(), price))
            })
            .collect()
    };
    for event in events {
        let data = &event["data"];
        let value = |items: &[(String, i64)], lines: &BTreeMap<String, (i64, i64)>| {
            let amount = items.iter().map(|(sku, q)| q * lines[sku].1).sum::<i64>();
            (amount, items.iter().map(|(_, q)| q).sum::<i64>())
        };
        let (record_type, amount, quantity) = match event["event_type"].as_str().unwrap() {
            "OrderPlaced" => {
                currency = data["currency"].as_str().unwrap().to_owned();
                lines = priced_lines(data);
                let amount = lines.values().map(|(q, p)| q * p).sum();
                ("order_booked", amount, lines.values().map(|(q, _)| q).sum())
            }
            "OrderLinesChanged" => {
                let before: i64 = lines.values().map(|(q, p)| q * p).sum();
                let units_before: i64 = lines.values().map(|(q, _)| q).sum();
                lines = priced_lines(data);
                let after: i64 = lines.values().map(|(q, p)| q * p).sum();
                let units_after: i64 = lines.values().map(|(q, _)| q).sum();
                ("order_changed", after - before, units_after - units_before)
            }
            "OrderCancelled" => {
                let amount: i64 = lines.values().map(|(q, p)| q * p).sum();
                let units: i64 = lines.values().map(|(q, _)| q).sum();
                ("order_cancelled", -amount, -units)
            }
            "ShipmentDispatched" => {
                let parcel = items(data);
                let (amount, units) = value(&parcel, &lines);
                let id = data["shipment_id"].as_str().unwrap().to_owned();
                shipments.insert(id, parcel);
                ("goods_issued", amount, units)
            }
            "ShipmentDelivered" => {
                let parcel = &shipments[data["shipment_id"].as_str().unwrap()];
                let (amount, units) = value(parcel, &lines);
                ("delivered", amount, units)
            }
            "ReturnReceived" => {
                let (amount, units) = value(&items(data), &lines);
                ("returned", amount, units)
            }
            _ => continue,
        };
        let sum = sums
            .entry((currency.clone(), record_type.to_owned()))
            .or_default();
        sum.0 += 1;
        sum.1 += amount;
        sum.2 += quantity;
    }
}

/// The manifest's control totals of one section, in the shape of [`Sums`].
fn control_totals(manifest: &Value, section: &str) -> Sums {
    manifest["control_totals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["section"] == section)
        .map(|t| {
            let key = (
                t["currency"].as_str().unwrap().to_owned(),
                t["record_type"].as_str().unwrap().to_owned(),
            );
            let sums = (
                t["count"].as_u64().unwrap(),
                t["amount_minor"].as_i64().unwrap(),
                t["quantity"].as_i64().unwrap(),
            );
            (key, sums)
        })
        .collect()
}

/// Downloads an export file as bytes.
async fn download(app: &TestApp, day: time::Date, file: &str) -> (u16, Vec<u8>) {
    let response = app
        .http
        .get(format!("{}/v1/exports/erp/{day}/{file}", app.base))
        .bearer_auth(token("erp"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

async fn manifest(app: &TestApp, day: time::Date, format: &str) -> Value {
    let path = format!("/v1/exports/erp/{day}?format={format}");
    let answer = app.get(&path, Some("erp")).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

/// The JSON Lines records of a day's export.
async fn records(app: &TestApp, day: time::Date) -> Vec<Value> {
    let manifest = manifest(app, day, "jsonl").await;
    let file = manifest["files"][0]["name"].as_str().unwrap();
    let (status, bytes) = download(app, day, file).await;
    assert_eq!(status, 200);
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn post_path(id: &str, what: &str) -> String {
    format!("/v1/orders/{id}/{what}")
}

/// A day with every kind of business fact, in two currencies.
async fn a_busy_day(app: &TestApp) -> Vec<String> {
    let booked = app.place_routed(&order_body("c-booked")).await;
    let mut pounds = order_body("c-pounds");
    pounds["currency"] = json!("GBP");
    let pounds = app.place_routed(&pounds).await;

    let changed = app.place_routed(&order_body("c-changed")).await;
    let lines = json!({"lines": [
        {"sku": "SHOE-42", "quantity": 3, "unit_price_minor": 8999},
        {"sku": "SOCKS-3PK", "quantity": 1, "unit_price_minor": 1299}
    ]});
    let patched = app
        .patch(&format!("/v1/orders/{changed}"), "channel", &lines, &[])
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");

    let cancelled = app.place_routed(&order_body("c-cancelled")).await;
    let cancel = json!({"reason": "customer asked"});
    let answer = app
        .post(&post_path(&cancelled, "cancel"), "channel", &cancel, &[])
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");

    let shipped = app.place_routed(&order_body("c-shipped")).await;
    let parcels = [
        ("P1", json!([{"sku": "SHOE-42", "quantity": 1}])),
        ("P2", json!([{"sku": "SOCKS-3PK", "quantity": 2}])),
    ];
    for (parcel, lines) in &parcels {
        let body = json!({"shipment_id": parcel, "location_id": "wh-1", "carrier": "DHL",
            "tracking_number": format!("T-{parcel}"), "lines": lines});
        let answer = app
            .post(&post_path(&shipped, "shipments"), "store", &body, &[])
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let delivery = json!({"shipment_id": "P2", "delivered_at": "2026-01-02T10:00:00Z"});
    let answer = app
        .post(&post_path(&shipped, "deliveries"), "store", &delivery, &[])
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let ret = json!({"return_id": "R1", "lines": [{"sku": "SOCKS-3PK", "quantity": 1}],
        "reason": "too small"});
    let answer = app
        .post(&post_path(&shipped, "returns"), "store", &ret, &[])
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    app.settle().await;
    vec![booked, pounds, changed, cancelled, shipped]
}

#[tokio::test]
async fn a_days_control_totals_match_the_events_and_a_repeat_is_byte_identical() {
    let app = TestApp::spawn_routing().await;
    let orders = a_busy_day(&app).await;
    let day = today();

    let mut expected = Sums::new();
    let mut event_ids = BTreeSet::new();
    for id in &orders {
        let events = app
            .get(&format!("/v1/orders/{id}/events"), Some("auditor"))
            .await;
        let events = events.body.as_array().unwrap();
        facts_from_events(events, &mut expected);
        event_ids.extend(
            events
                .iter()
                .map(|e| e["event_id"].as_str().unwrap().to_owned()),
        );
    }
    let record_types: BTreeSet<&str> = expected.keys().map(|(_, t)| t.as_str()).collect();
    assert_eq!(record_types.len(), 6, "every kind of fact: {expected:?}");

    let first = manifest(&app, day, "csv").await;
    assert_eq!(first["business_day"], day.to_string());
    assert_eq!(first["timezone"], "UTC");
    assert_eq!(first["format_version"], 1);
    assert_eq!(control_totals(&first, "day"), expected);
    assert!(control_totals(&first, "correction").is_empty());
    let counted: u64 = expected.values().map(|(count, _, _)| count).sum();
    let by_type: u64 = first["counts"]["day"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(by_type, counted);

    // The same day again: the same manifest, the same bytes, and the
    // manifest's digest is the file's.
    let second = manifest(&app, day, "csv").await;
    assert_eq!(first, second);
    let file = first["files"][0]["name"].as_str().unwrap();
    let (status, bytes) = download(&app, day, file).await;
    assert_eq!(status, 200);
    let (_, again) = download(&app, day, file).await;
    assert_eq!(bytes, again);
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        first["files"][0]["sha256"]
    );
    assert_eq!(first["files"][0]["bytes"], bytes.len());

    // RFC 4180: a header row, CRLF line ends, one row per record.
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("section,business_day,position,event_id,record_type,"));
    assert!(text.ends_with("\r\n"));
    assert_eq!(text.matches("\r\n").count() as u64, counted + 1);

    // Every record names an event of these orders, exactly once.
    let records = records(&app, day).await;
    assert_eq!(records.len() as u64, counted);
    let exported: BTreeSet<String> = records
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(exported.len(), records.len());
    assert!(exported.is_subset(&event_ids));
    let issued = records
        .iter()
        .find(|r| r["record_type"] == "goods_issued")
        .unwrap();
    assert_eq!(issued["location_id"], "wh-1");
}

#[tokio::test]
async fn a_late_event_goes_into_the_next_days_corrections_and_nowhere_else() {
    let app = TestApp::spawn().await;
    let (today, yesterday) = (today(), today().previous_day().unwrap());
    // A node whose clock runs a day behind records its events yesterday.
    let behind = Repository::<Order>::with_clock_offset(
        app.sandbox.ledger.clone(),
        -time::Duration::days(1),
    );
    let on_time = place_lines("on-time", vec![line("A", 2, 500)]);
    run(&behind, "on-time", on_time).await;
    let first = manifest(&app, yesterday, "csv").await;
    assert_eq!(first["counts"]["day"]["order_booked"], 1);

    let late = place_lines("late", vec![line("B", 3, 700)]);
    let executed = run(&behind, "late", late).await;
    app.place_order(&order_body("c-today")).await;

    // Yesterday's export is fixed: the late order is not in it.
    let again = manifest(&app, yesterday, "csv").await;
    assert_eq!(first, again);
    let records_yesterday = records(&app, yesterday).await;
    assert!(records_yesterday.iter().all(|r| r["order_id"] == "on-time"));

    // Today's export carries it once, as a correction of yesterday.
    let records_today = records(&app, today).await;
    let late: Vec<&Value> = records_today
        .iter()
        .filter(|r| r["order_id"] == "late")
        .collect();
    assert_eq!(late.len(), 1, "{records_today:?}");
    assert_eq!(late[0]["section"], "correction");
    assert_eq!(late[0]["business_day"], yesterday.to_string());
    assert_eq!(late[0]["position"], executed.position());
    assert_eq!(late[0]["amount_minor"], 2100);
    let manifest_today = manifest(&app, today, "csv").await;
    assert_eq!(manifest_today["counts"]["correction"]["order_booked"], 1);
    assert_eq!(manifest_today["counts"]["day"]["order_booked"], 1);
    let today_rows: Vec<&Value> = records_today
        .iter()
        .filter(|r| r["section"] == "day")
        .collect();
    assert_eq!(today_rows.len(), 1);
    assert_eq!(today_rows[0]["business_day"], today.to_string());
}

/// The acknowledgement an ERP that booked exactly `records` would send.
fn acknowledgement(records: &[Value], with_records: bool) -> Value {
    let mut totals: BTreeMap<(String, String), (i64, i64, i64)> = BTreeMap::new();
    for r in records {
        let key = (
            r["currency"].as_str().unwrap().to_owned(),
            r["record_type"].as_str().unwrap().to_owned(),
        );
        let total = totals.entry(key).or_default();
        total.0 += 1;
        total.1 += r["amount_minor"].as_i64().unwrap();
        total.2 += r["quantity"].as_i64().unwrap();
    }
    let totals: Vec<Value> = totals
        .into_iter()
        .map(|((currency, record_type), (count, amount, quantity))| {
            json!({"currency": currency, "record_type": record_type, "count": count,
                "amount_minor": amount, "quantity": quantity})
        })
        .collect();
    let mut body = json!({ "totals": totals });
    if with_records {
        body["records"] = records
            .iter()
            .map(|r| {
                json!({"event_id": r["event_id"], "amount_minor": r["amount_minor"],
                    "quantity": r["quantity"]})
            })
            .collect();
    }
    body
}

#[tokio::test]
async fn reconciliation_reports_each_injected_difference_and_nothing_when_clean() {
    let app = TestApp::spawn_routing().await;
    a_busy_day(&app).await;
    let day = today();
    let records = records(&app, day).await;
    assert!(records.len() >= 4);
    let path = format!("/v1/exports/erp/{day}/acknowledgement");

    let clean = app
        .post(&path, "erp", &acknowledgement(&records, true), &[])
        .await;
    assert_eq!(clean.status, 200, "{clean:?}");
    assert_eq!(clean.body["matched"], records.len());
    assert_eq!(clean.body["missing_in_erp"], json!([]));
    assert_eq!(clean.body["unknown_to_ordo"], json!([]));
    assert_eq!(clean.body["differences"], json!([]));
    let totals_only = app
        .post(&path, "erp", &acknowledgement(&records, false), &[])
        .await;
    assert_eq!(totals_only.body["differences"], json!([]));
    assert_eq!(totals_only.body["matched"], records.len());

    // The ERP lost one record, booked one Ordo never sent, and booked two
    // others with a different amount and a different quantity.
    let mut booked = records.clone();
    let missing = booked.remove(0);
    booked[0]["amount_minor"] = json!(booked[0]["amount_minor"].as_i64().unwrap() + 1);
    booked[1]["quantity"] = json!(booked[1]["quantity"].as_i64().unwrap() - 1);
    let mut unknown = booked[2].clone();
    unknown["event_id"] = json!(uuid::Uuid::new_v4().to_string());
    booked.push(unknown.clone());
    let before = app.message_count().await;
    let key = [("Idempotency-Key", "erp-run-1")];
    let report = app
        .post(&path, "erp", &acknowledgement(&booked, true), &key)
        .await;
    assert_eq!(report.status, 200, "{report:?}");
    assert_eq!(report.body["missing_in_erp"], json!([missing["event_id"]]));
    assert_eq!(report.body["unknown_to_ordo"], json!([unknown["event_id"]]));
    let differences = report.body["differences"].as_array().unwrap();
    let by_record: Vec<(&Value, &Value)> = differences
        .iter()
        .filter(|d| !d["key"].as_str().unwrap().contains('/'))
        .map(|d| (&d["key"], &d["field"]))
        .collect();
    assert_eq!(
        by_record,
        [
            (&booked[0]["event_id"], &json!("amount_minor")),
            (&booked[1]["event_id"], &json!("quantity")),
        ]
    );
    assert_eq!(report.body["matched"], records.len() - 3);
    assert_eq!(
        app.message_count().await,
        before + 1,
        "the outcome is an event"
    );
    let retried = app
        .post(&path, "erp", &acknowledgement(&booked, true), &key)
        .await;
    assert_eq!(retried.body, report.body);
    assert_eq!(
        app.message_count().await,
        before + 1,
        "a retry records nothing"
    );

    let latest = app
        .get(
            &format!("/v1/exports/erp/{day}/reconciliation"),
            Some("auditor"),
        )
        .await;
    assert_eq!(latest.body, report.body);
    let ledger = &app.sandbox.ledger;
    let subject = ledger.namespace().subject("erpday", &day.to_string());
    let history = ledger.read_subject(&subject).await.unwrap();
    let kinds: Vec<&str> = history
        .iter()
        .flat_map(|c| &c.envelopes)
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "ErpDayClosed",
            "ErpDayAcknowledged",
            "ErpDayAcknowledged",
            "ErpDayAcknowledged"
        ]
    );
    let last = history.last().unwrap().envelopes[0].data_value().unwrap();
    assert_eq!(last["outcome"]["is_clean"], false, "{last}");
    assert_eq!(last["outcome"]["differences"], differences.len());
}

#[tokio::test]
async fn bad_acknowledgements_and_days_are_refused_and_record_nothing() {
    let app = TestApp::spawn().await;
    app.place_order(&order_body("c-1")).await;
    let day = today();
    manifest(&app, day, "csv").await;
    let path = format!("/v1/exports/erp/{day}/acknowledgement");
    let before = app.message_count().await;

    let wrong_type = json!({"totals": [{"currency": "EUR", "record_type": "order_booked",
        "count": "one", "amount_minor": 100, "quantity": 1}]});
    let answer = app.post(&path, "erp", &wrong_type, &[]).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    let negative = json!({"totals": [{"currency": "EUR", "record_type": "order_booked",
        "count": -1, "amount_minor": 100, "quantity": 1}]});
    let answer = app.post(&path, "erp", &negative, &[]).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(answer.body["errors"][0]["path"], "/totals/0/count");
    let unknown_type = json!({"totals": [{"currency": "EUR", "record_type": "refund",
        "count": 1, "amount_minor": 100, "quantity": 1}]});
    let answer = app.post(&path, "erp", &unknown_type, &[]).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(answer.body["errors"][0]["path"], "/totals/0/record_type");

    let clean = json!({"totals": []});
    let never_exported = today().previous_day().unwrap();
    let path = format!("/v1/exports/erp/{never_exported}/acknowledgement");
    assert_eq!(app.post(&path, "erp", &clean, &[]).await.status, 404);
    let tomorrow = today().next_day().unwrap();
    for bad_day in [
        tomorrow.to_string(),
        "2026-02-30".into(),
        "yesterday".into(),
    ] {
        let path = format!("/v1/exports/erp/{bad_day}/acknowledgement");
        let answer = app.post(&path, "erp", &clean, &[]).await;
        assert_eq!(answer.status, 400, "{bad_day}: {answer:?}");
        assert_eq!(answer.body["errors"][0]["path"], "/path/date");
        let manifest = app
            .get(&format!("/v1/exports/erp/{bad_day}"), Some("erp"))
            .await;
        assert_eq!(manifest.status, 400, "{bad_day}: {manifest:?}");
    }
    let file = app
        .get(
            &format!("/v1/exports/erp/{day}/erp-{day}.xlsx"),
            Some("erp"),
        )
        .await;
    assert_eq!(file.status, 404);
    let channel = app
        .get(&format!("/v1/exports/erp/{day}"), Some("channel"))
        .await;
    assert_eq!(channel.status, 403);
    assert_eq!(app.message_count().await, before, "nothing was recorded");
}
