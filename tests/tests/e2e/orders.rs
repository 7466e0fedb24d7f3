//! The order lifecycle through the HTTP API.

use futures::future::join_all;
use ordo_tests::{order_body, TestApp};
use serde_json::json;

#[tokio::test]
async fn a_placed_order_can_be_tracked_by_staff_and_customer() {
    let app = TestApp::spawn().await;

    let placed = app.place_order(&order_body("cust-1")).await;
    let order_id = placed.body["order_id"].as_str().unwrap().to_owned();
    let position = placed.body["position"].as_u64().unwrap();
    let token = placed.body["tracking_token"].as_str().unwrap().to_owned();

    let view = app.order_at(&order_id, position).await;
    assert_eq!(view.status, 200, "{view:?}");
    assert_eq!(view.body["status"], "placed");
    assert_eq!(view.body["total_minor"], 8999 + 2 * 1299);
    assert_eq!(view.header("etag"), Some("\"1\""));
    assert_eq!(view.body["timeline"].as_array().unwrap().len(), 1);

    let tracking = app.get(&format!("/v1/track/{token}"), None).await;
    assert_eq!(tracking.status, 200);
    assert_eq!(tracking.body["status"], "placed");
    let text = tracking.body.to_string();
    assert!(
        !text.contains("Lovelace") && !text.contains("unit_price"),
        "{text}"
    );
}

#[tokio::test]
async fn an_order_goes_from_placed_to_returned() {
    let app = TestApp::spawn_routing().await;
    let id = app.place_routed(&order_body("cust-2")).await;

    let pick = app
        .post(&format!("/v1/orders/{id}/pick"), "store", &json!({}), &[])
        .await;
    assert_eq!(pick.body["status"], "picked", "{pick:?}");
    let first = json!({"shipment_id": "P1", "location_id": "wh-1", "carrier": "DHL",
        "tracking_number": "JJD01", "lines": [{"sku": "SHOE-42", "quantity": 1}]});
    let shipped = app
        .post(&format!("/v1/orders/{id}/shipments"), "store", &first, &[])
        .await;
    assert_eq!(shipped.body["status"], "partially_shipped", "{shipped:?}");
    let second = json!({"shipment_id": "P2", "location_id": "wh-1", "carrier": "UPS",
        "tracking_number": "1Z02", "lines": [{"sku": "SOCKS-3PK", "quantity": 2}]});
    let shipped = app
        .post(&format!("/v1/orders/{id}/shipments"), "store", &second, &[])
        .await;
    assert_eq!(shipped.body["status"], "shipped");
    for parcel in ["P1", "P2"] {
        let delivery = json!({"shipment_id": parcel, "delivered_at": "2026-01-02T10:00:00Z"});
        let delivered = app
            .post(
                &format!("/v1/orders/{id}/deliveries"),
                "store",
                &delivery,
                &[],
            )
            .await;
        assert_eq!(delivered.status, 200, "{delivered:?}");
    }
    let ret = json!({"return_id": "R1", "lines": [{"sku": "SOCKS-3PK", "quantity": 1}],
        "reason": "too small"});
    let returned = app
        .post(&format!("/v1/orders/{id}/returns"), "store", &ret, &[])
        .await;
    assert_eq!(returned.body["status"], "partially_returned");
    let position = returned.body["position"].as_u64().unwrap();

    let view = app.order_at(&id, position).await;
    assert_eq!(
        view.body["version"], 8,
        "placed, routed, picked, 2 shipped, 2 delivered, 1 return"
    );
    assert_eq!(view.body["allocations"][0]["location_id"], "wh-1");
    assert_eq!(view.body["shipments"].as_array().unwrap().len(), 2);
    assert_eq!(view.body["lines"][1]["returned"], 1);
    let token = view.body["tracking_token"].as_str().unwrap();
    let tracking = app.get(&format!("/v1/track/{token}"), None).await;
    assert_eq!(tracking.body["shipments"][1]["carrier"], "UPS");
    assert_eq!(tracking.body["shipments"][1]["tracking_number"], "1Z02");
    let events = app
        .get(&format!("/v1/orders/{id}/events"), Some("auditor"))
        .await;
    assert_eq!(events.body.as_array().unwrap().len(), 8);

    // The shipments took their units out of the warehouse and out of the
    // order's reservation.
    let stock = ordo_tests::WAREHOUSE_STOCK as i64;
    ordo_tests::eventually(std::time::Duration::from_secs(10), || async {
        let socks = app.get("/v1/inventory/SOCKS-3PK", Some("operator")).await;
        socks.body["total"]["on_hand"] == stock - 2 && socks.body["total"]["reserved"] == 0
    })
    .await;
}

#[tokio::test]
async fn modify_and_cancel_honour_if_match() {
    let app = TestApp::spawn().await;
    let placed = app.place_order(&order_body("cust-3")).await;
    let id = placed.body["order_id"].as_str().unwrap().to_owned();
    let lines = json!({"lines": [{"sku": "HAT", "quantity": 1, "unit_price_minor": 1500}]});

    let stale = app
        .patch(
            &format!("/v1/orders/{id}"),
            "channel",
            &lines,
            &[("If-Match", "\"7\"")],
        )
        .await;
    assert_eq!(stale.status, 412, "{stale:?}");
    assert_eq!(stale.body["current_version"], 1);
    let before = app.message_count().await;
    let matched = app
        .patch(
            &format!("/v1/orders/{id}"),
            "channel",
            &lines,
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(matched.status, 200, "{matched:?}");
    assert_eq!(matched.body["version"], 2);
    assert_eq!(app.message_count().await, before + 1);
    let unconditional = json!({"shipping_address": {"name": "Ada", "line1": "1 Road",
        "postal_code": "1000", "city": "Brussels", "country": "BE"}});
    let changed = app
        .patch(&format!("/v1/orders/{id}"), "channel", &unconditional, &[])
        .await;
    assert_eq!(changed.body["version"], 3);

    let cancel = json!({"reason": "customer asked"});
    let stale = app
        .post(
            &format!("/v1/orders/{id}/cancel"),
            "channel",
            &cancel,
            &[("If-Match", "\"2\"")],
        )
        .await;
    assert_eq!(stale.status, 412);
    let cancelled = app
        .post(
            &format!("/v1/orders/{id}/cancel"),
            "channel",
            &cancel,
            &[("If-Match", "\"3\"")],
        )
        .await;
    assert_eq!(cancelled.body["status"], "cancelled", "{cancelled:?}");
    let again = app
        .post(&format!("/v1/orders/{id}/cancel"), "channel", &cancel, &[])
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["current_status"], "cancelled");
    let after_cancel = app
        .patch(&format!("/v1/orders/{id}"), "channel", &lines, &[])
        .await;
    assert_eq!(after_cancel.status, 409);
}

#[tokio::test]
async fn of_twenty_concurrent_modifications_with_one_if_match_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let placed = app.place_order(&order_body("cust-4")).await;
    let id = placed.body["order_id"].as_str().unwrap().to_owned();
    let before = app.message_count().await;

    let attempts = (0..20).map(|i| {
        let body =
            json!({"lines": [{"sku": format!("SKU-{i}"), "quantity": 1, "unit_price_minor": 100}]});
        let path = format!("/v1/orders/{id}");
        let app = &app;
        async move {
            app.patch(&path, "channel", &body, &[("If-Match", "\"1\"")])
                .await
        }
    });
    let answers = join_all(attempts).await;

    let wins = answers.iter().filter(|a| a.status == 200).count();
    let refused = answers
        .iter()
        .filter(|a| a.status == 412 || a.status == 409)
        .count();
    assert_eq!(wins, 1, "{answers:?}");
    assert_eq!(refused, 19, "{answers:?}");
    assert_eq!(app.message_count().await, before + 1);
}

#[tokio::test]
async fn a_retried_idempotency_key_appends_once_and_answers_the_same() {
    let app = TestApp::spawn().await;
    let key = [("Idempotency-Key", "checkout-8f14e45f")];
    let body = order_body("cust-5");

    let first = app.post("/v1/orders", "channel", &body, &key).await;
    let count = app.message_count().await;
    let retries = join_all((0..5).map(|_| app.post("/v1/orders", "channel", &body, &key))).await;

    assert_eq!(first.status, 201);
    for retry in &retries {
        assert_eq!(retry.status, 201, "{retry:?}");
        assert_eq!(retry.body, first.body);
    }
    assert_eq!(app.message_count().await, count);
    assert_eq!(count, 1);

    let other = app
        .post("/v1/orders", "channel", &order_body("cust-6"), &key)
        .await;
    assert_eq!(other.status, 422, "{other:?}");
    assert_eq!(app.message_count().await, count);

    let id = first.body["order_id"].as_str().unwrap();
    let cancel = json!({"reason": "duplicate checkout"});
    let cancel_key = [("Idempotency-Key", "cancel-1")];
    let cancelled = app
        .post(
            &format!("/v1/orders/{id}/cancel"),
            "channel",
            &cancel,
            &cancel_key,
        )
        .await;
    let repeated = app
        .post(
            &format!("/v1/orders/{id}/cancel"),
            "channel",
            &cancel,
            &cancel_key,
        )
        .await;
    assert_eq!(cancelled.status, 200);
    assert_eq!(repeated.body, cancelled.body);
    assert_eq!(app.message_count().await, 2);
}

#[tokio::test]
async fn a_customers_orders_are_listed_newest_first_in_pages() {
    let app = TestApp::spawn().await;
    let mut last = 0;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let placed = app.place_order(&order_body("cust-7")).await;
        last = placed.body["position"].as_u64().unwrap();
        ids.push(placed.body["order_id"].as_str().unwrap().to_owned());
    }
    app.place_order(&order_body("someone-else")).await;

    let page = app
        .get(
            &format!("/v1/customers/cust-7/orders?limit=3&min_position={last}"),
            Some("channel"),
        )
        .await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .get(
            &format!("/v1/customers/cust-7/orders?limit=3&cursor={cursor}"),
            Some("channel"),
        )
        .await;

    let listed: Vec<String> = page.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest.body["orders"].as_array().unwrap())
        .map(|o| o["order_id"].as_str().unwrap().to_owned())
        .collect();
    ids.reverse();
    assert_eq!(listed, ids);
    assert!(rest.body.get("next_cursor").is_none());
}

#[tokio::test]
async fn a_query_waits_for_its_position_and_then_gives_up_with_503() {
    let app = TestApp::spawn().await;
    let placed = app.place_order(&order_body("cust-8")).await;
    let id = placed.body["order_id"].as_str().unwrap();

    let far = app
        .get(
            &format!("/v1/orders/{id}?min_position=1000000"),
            Some("channel"),
        )
        .await;

    assert_eq!(far.status, 503);
    assert_eq!(far.header("retry-after"), Some("1"));
    assert_eq!(far.header("content-type"), Some("application/problem+json"));
}

#[tokio::test]
async fn roles_are_enforced() {
    let app = TestApp::spawn().await;

    let anonymous = app
        .request(
            reqwest::Method::POST,
            "/v1/orders",
            None,
            Some(&order_body("c")),
            &[],
        )
        .await;
    let store = app.post("/v1/orders", "store", &order_body("c"), &[]).await;
    let events = app.get("/v1/orders/x/events", Some("channel")).await;

    assert_eq!(anonymous.status, 401);
    assert_eq!(store.status, 403);
    assert_eq!(events.status, 403);
    assert_eq!(app.message_count().await, 0);
}

#[tokio::test]
async fn the_openapi_document_lists_the_order_endpoints() {
    let app = TestApp::spawn().await;

    let doc = app.get("/openapi.json", None).await;

    assert_eq!(doc.status, 200);
    for path in [
        "/v1/orders",
        "/v1/orders/{id}",
        "/v1/track/{tracking_token}",
        "/readyz",
    ] {
        assert!(doc.body["paths"].get(path).is_some(), "{path} missing");
    }
}
