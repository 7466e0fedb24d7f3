//! Routing on real NATS and PostgreSQL: a hot SKU is never oversold, waiting
//! orders are served in order of placement, a killed routing process neither
//! reserves twice nor leaks, and every decision names its policy.

use futures::StreamExt;
use ordo_domain::{Location, Stock};
use ordo_ledger::{Aggregate, Repository};
use ordo_tests::{eventually, nats_url, order_body, TestApp};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

const HOT: &str = "HOT-1";
const LOCATIONS: usize = 5;
const UNITS_EACH: u32 = 100;
const ORDERS: usize = 2_000;

/// Five warehouses across Germany with 100 units of the hot SKU each.
async fn hot_network(app: &TestApp) {
    for i in 0..LOCATIONS {
        let id = format!("loc-{i}");
        app.put_location(&id, 48.0 + i as f64, 9.0 + i as f64).await;
        app.receive(&id, HOT, UNITS_EACH).await;
    }
}

fn hot_order(i: usize) -> Value {
    let mut body = order_body(&format!("burst-{}", i % 97));
    body["order_id"] = json!(format!("hot-{i:04}"));
    body["lines"] = json!([{"sku": HOT, "quantity": 1, "unit_price_minor": 2999}]);
    body
}

/// Places the burst from 64 concurrent clients; returns each order's
/// placement position.
async fn place_burst(app: &TestApp) -> BTreeMap<u64, String> {
    let placed = futures::stream::iter(0..ORDERS)
        .map(|i| async move {
            let answer = app.place_order(&hot_order(i)).await;
            let position = answer.body["position"].as_u64().unwrap();
            (
                position,
                answer.body["order_id"].as_str().unwrap().to_owned(),
            )
        })
        .buffer_unordered(64)
        .collect::<BTreeMap<_, _>>()
        .await;
    assert_eq!(placed.len(), ORDERS);
    placed
}

/// Order ids by status, from the tracking read model, once the router and
/// the projectors have caught up with the stream.
async fn statuses(app: &TestApp) -> BTreeMap<String, BTreeSet<String>> {
    app.settle().await;
    let last = app.sandbox.ledger.last_position().await.unwrap();
    let path = format!("/v1/inventory/{HOT}?min_position={last}");
    assert_eq!(app.get(&path, Some("operator")).await.status, 200);
    let view = format!("/v1/orders/hot-0000?min_position={last}");
    assert_eq!(app.get(&view, Some("operator")).await.status, 200);
    let rows: Vec<(String, String)> =
        sqlx::query_as("select status, order_id from order_tracking where order_id like 'hot-%'")
            .fetch_all(&app.sandbox.pool)
            .await
            .unwrap();
    let mut by_status: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (status, order_id) in rows {
        by_status.entry(status).or_default().insert(order_id);
    }
    by_status
}

fn count(by_status: &BTreeMap<String, BTreeSet<String>>, status: &str) -> usize {
    by_status.get(status).map_or(0, BTreeSet::len)
}

/// What the ledger itself says: units reserved, released and allocated by
/// routing decisions, summed over every event.
#[derive(Debug, Default, PartialEq, Eq)]
struct LedgerSums {
    reserved: u64,
    released: u64,
    allocated: u64,
}

async fn ledger_sums(app: &TestApp) -> LedgerSums {
    let last = app.sandbox.ledger.last_position().await.unwrap();
    let mut commits = app.sandbox.ledger.read_from(1, None, false).await.unwrap();
    let mut sums = LedgerSums::default();
    while let Some(commit) = commits.next().await {
        let commit = commit.unwrap();
        for envelope in &commit.envelopes {
            let data = envelope.data_value().unwrap();
            match envelope.event_type.as_str() {
                "StockReserved" => sums.reserved += data["quantity"].as_u64().unwrap(),
                "ReservationReleased" => sums.released += data["quantity"].as_u64().unwrap(),
                "OrderRouted" => {
                    for allocation in data["allocations"].as_array().unwrap() {
                        sums.allocated += allocation["quantity"].as_u64().unwrap();
                    }
                }
                _ => {}
            }
        }
        if commit.position >= last {
            break;
        }
    }
    sums
}

/// On hand and reserved over the network, from the stock aggregates.
async fn ledger_stock(app: &TestApp) -> (i64, i64) {
    let stock = Repository::<Stock>::new(app.sandbox.ledger.clone());
    let (mut on_hand, mut reserved) = (0, 0);
    for i in 0..LOCATIONS {
        let loaded = stock.load(&format!("loc-{i}.{HOT}")).await.unwrap();
        assert!(loaded.state.available() >= 0, "loc-{i} is oversold");
        on_hand += loaded.state.on_hand;
        reserved += loaded.state.reserved();
    }
    (on_hand, reserved)
}

async fn inventory_total(app: &TestApp) -> Value {
    let last = app.sandbox.ledger.last_position().await.unwrap();
    let path = format!("/v1/inventory/{HOT}?min_position={last}");
    app.get(&path, Some("operator")).await.body["total"].clone()
}

/// The first `n` orders by placement among `among`.
fn first(placed: &BTreeMap<u64, String>, among: &BTreeSet<String>, n: usize) -> BTreeSet<String> {
    placed
        .values()
        .filter(|id| among.contains(*id))
        .take(n)
        .cloned()
        .collect()
}

/// After the burst: exactly the first 500 orders routed, the rest waiting,
/// nothing oversold, and the reservations add up to the allocations.
async fn check_burst(app: &TestApp, placed: &BTreeMap<u64, String>) {
    let by_status = statuses(app).await;
    let all: BTreeSet<String> = placed.values().cloned().collect();
    let capacity = LOCATIONS * UNITS_EACH as usize;
    assert_eq!(count(&by_status, "routed"), capacity, "{by_status:?}");
    assert_eq!(count(&by_status, "backordered"), ORDERS - capacity);
    assert_eq!(
        by_status["routed"],
        first(placed, &all, capacity),
        "routed in order of placement"
    );

    let total = inventory_total(app).await;
    assert_eq!(total["reserved"], capacity as i64);
    assert_eq!(total["available"], 0);
    let sums = ledger_sums(app).await;
    assert_eq!(sums.reserved, capacity as u64, "{sums:?}");
    assert_eq!(sums.reserved - sums.released, sums.allocated, "{sums:?}");
    assert_eq!(ledger_stock(app).await, (capacity as i64, capacity as i64));
}

#[tokio::test]
async fn a_hot_sku_burst_is_never_oversold_and_waiting_orders_are_served_in_order() {
    let app = TestApp::spawn_with_router().await;
    hot_network(&app).await;
    let placed = place_burst(&app).await;
    check_burst(&app, &placed).await;
    let before = statuses(&app).await;

    // Cancel 100 routed orders and receive 50 more units.
    let cancelled: Vec<String> = before["routed"].iter().step_by(5).cloned().collect();
    assert_eq!(cancelled.len(), 100);
    for id in &cancelled {
        let path = format!("/v1/orders/{id}/cancel");
        let answer = app
            .post(&path, "channel", &json!({"reason": "changed mind"}), &[])
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    app.receive("loc-0", HOT, 50).await;

    let after = statuses(&app).await;
    assert_eq!(count(&after, "cancelled"), 100);
    assert_eq!(count(&after, "routed"), 550, "{after:?}");
    assert_eq!(count(&after, "backordered"), 1_350);
    let newly: BTreeSet<String> = after["routed"]
        .difference(&before["routed"])
        .cloned()
        .collect();
    assert_eq!(
        newly,
        first(&placed, &before["backordered"], 150),
        "backorders are served in order of placement"
    );
    let total = inventory_total(&app).await;
    assert_eq!(
        (total["on_hand"].clone(), total["reserved"].clone()),
        (json!(550), json!(550))
    );
    assert_eq!(total["available"], 0);
    let sums = ledger_sums(&app).await;
    assert_eq!(sums.reserved - sums.released, 550, "{sums:?}");
    assert_eq!(
        sums.reserved, sums.allocated,
        "each allocation reserved exactly once"
    );
    assert_eq!(ledger_stock(&app).await, (550, 550));
}

/// Starts `ordo route` as its own process against the app's sandbox.
fn start_router(app: &TestApp) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ordo-e2e"))
        .arg("route")
        .env("ORDO_NATS_URL", nats_url())
        .env("ORDO_DATABASE_URL", app.sandbox.database_url())
        .env("ORDO_NAMESPACE", app.sandbox.namespace.as_str())
        .env("ORDO_MASTER_KEY_FILE", &app.sandbox.master_key_file)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the routing process")
}

#[tokio::test]
async fn a_routing_process_killed_mid_burst_ends_with_the_same_totals() {
    let app = TestApp::spawn().await;
    hot_network(&app).await;
    let mut router = start_router(&app);
    let placed = place_burst(&app).await;

    // Kill it once it has routed some of the burst, but not all of it.
    eventually(Duration::from_secs(60), || async {
        let routed: i64 = sqlx::query_scalar(
            "select count(*) from order_tracking where status in ('routed', 'backordered')",
        )
        .fetch_one(&app.sandbox.pool)
        .await
        .unwrap();
        routed >= 300
    })
    .await;
    router.start_kill().unwrap();
    router.wait().await.unwrap();
    let unrouted: i64 =
        sqlx::query_scalar("select count(*) from order_tracking where status = 'placed'")
            .fetch_one(&app.sandbox.pool)
            .await
            .unwrap();
    assert!(unrouted > 0, "the kill came in the middle of the burst");

    let _router = start_router(&app);
    check_burst(&app, &placed).await;
}

#[tokio::test]
async fn a_policy_change_shows_in_the_next_decision_and_the_order_names_it() {
    let app = &TestApp::spawn_with_router().await;
    let policy = |priority_weight: u32| {
        json!({"distance_weight": 10, "priority_weight": priority_weight, "capacity_weight": 0,
            "closed_penalty": 0, "split_penalty": 100, "max_shipments": 2,
            "reason": "test"})
    };
    let put_policy = |body: Value| async move {
        let answer = app
            .request(
                reqwest::Method::PUT,
                "/v1/routing-policy",
                Some("operator"),
                Some(&body),
                &[],
            )
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body["version"].as_u64().unwrap()
    };
    assert_eq!(put_policy(policy(0)).await, 1);
    app.put_location("near", 50.0, 10.0).await;
    let mut favoured = ordo_tests::location_body(53.0, 10.0);
    favoured["priority"] = json!(100);
    let answer = app
        .request(
            reqwest::Method::PUT,
            "/v1/locations/favoured",
            Some("operator"),
            Some(&favoured),
            &[],
        )
        .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    for location in ["near", "favoured"] {
        app.receive(location, "SHOE-42", 10).await;
        app.receive(location, "SOCKS-3PK", 10).await;
    }
    let order = |id: &str| {
        let mut body = order_body("c-policy");
        body["order_id"] = json!(id);
        body["shipping_address"]["latitude"] = json!(50.0);
        body["shipping_address"]["longitude"] = json!(10.0);
        body
    };

    app.place_routed(&order("by-distance")).await;
    assert_eq!(put_policy(policy(10)).await, 2);
    app.place_routed(&order("by-priority")).await;

    let first = app.get("/v1/orders/by-distance", Some("operator")).await;
    assert_eq!(
        first.body["allocations"][0]["location_id"], "near",
        "{first:?}"
    );
    let decision = &first.body["routing"][0];
    assert_eq!(decision["policy_version"], 1);
    let score = |name: &str| {
        decision["scores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["location_id"] == name)
            .unwrap()["total"]
            .as_i64()
            .unwrap()
    };
    assert!(score("near") > score("favoured"), "{decision}");
    assert_eq!(
        decision["scores"][0]["distance_km"], 334,
        "favoured is 3 degrees north"
    );

    let second = app.get("/v1/orders/by-priority", Some("operator")).await;
    assert_eq!(
        second.body["allocations"][0]["location_id"], "favoured",
        "{second:?}"
    );
    assert_eq!(second.body["routing"][0]["policy_version"], 2);

    // The location read model and the ledger agree on both locations.
    let last = app.sandbox.ledger.last_position().await.unwrap();
    let path = format!("/v1/locations?min_position={last}");
    let listed = app.get(&path, Some("operator")).await;
    assert_eq!(listed.body["locations"].as_array().unwrap().len(), 2);
    let ids = app
        .sandbox
        .ledger
        .aggregate_ids(Location::KIND)
        .await
        .unwrap();
    assert_eq!(ids, ["favoured", "near"]);
}
