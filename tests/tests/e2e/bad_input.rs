//! Bad input gets a specific 4xx problem+json and changes nothing.

use ordo_tests::{order_body, token, TestApp};
use serde_json::{json, Value};

/// One bad request and what it must get.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Body,
    headers: Vec<(&'static str, String)>,
    status: u16,
    problem: &'static str,
    /// A field the problem must name, when the fault is in one field.
    field: Option<&'static str>,
}

enum Body {
    Json(Value),
    Raw(&'static str, String),
    None,
}

fn place(mutate: impl FnOnce(&mut Value)) -> Body {
    let mut body = order_body("cust-bad");
    mutate(&mut body);
    Body::Json(body)
}

fn case(name: &'static str, path: &str, body: Body, status: u16, problem: &'static str) -> Case {
    Case {
        name,
        method: "POST",
        path: path.to_owned(),
        body,
        headers: Vec::new(),
        status,
        problem,
        field: None,
    }
}

impl Case {
    fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    fn method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

fn cases(open: &str, shipped: &str) -> Vec<Case> {
    let orders = "/v1/orders";
    let open_path = format!("/v1/orders/{open}");
    let shipped_path = format!("/v1/orders/{shipped}");
    let ship = |lines: Value| {
        Body::Json(
            json!({"shipment_id": "X1", "location_id": "wh-1", "carrier": "DHL",
            "tracking_number": "T1", "lines": lines}),
        )
    };
    vec![
        case(
            "malformed json",
            orders,
            Body::Raw("application/json", "{".into()),
            400,
            "malformed-json",
        ),
        case(
            "array body",
            orders,
            Body::Json(json!([])),
            400,
            "validation",
        ),
        case(
            "quantity as text",
            orders,
            place(|b| b["lines"][0]["quantity"] = json!("two")),
            400,
            "validation",
        )
        .field("/lines/0/quantity"),
        case(
            "customer id as number",
            orders,
            place(|b| b["customer_id"] = json!(42)),
            400,
            "validation",
        )
        .field("/customer_id"),
        case(
            "missing customer id",
            orders,
            place(|b| {
                b.as_object_mut().unwrap().remove("customer_id");
            }),
            400,
            "validation",
        )
        .field("/customer_id"),
        case(
            "missing lines",
            orders,
            place(|b| {
                b.as_object_mut().unwrap().remove("lines");
            }),
            400,
            "validation",
        )
        .field("/lines"),
        case(
            "zero quantity",
            orders,
            place(|b| b["lines"][0]["quantity"] = json!(0)),
            400,
            "validation",
        )
        .field("/lines/0/quantity"),
        case(
            "negative quantity",
            orders,
            place(|b| b["lines"][1]["quantity"] = json!(-3)),
            400,
            "validation",
        )
        .field("/lines/1/quantity"),
        case(
            "absurd quantity",
            orders,
            place(|b| b["lines"][0]["quantity"] = json!(1_000_000_000)),
            400,
            "validation",
        )
        .field("/lines/0/quantity"),
        case(
            "fractional quantity",
            orders,
            place(|b| b["lines"][0]["quantity"] = json!(1.5)),
            400,
            "validation",
        )
        .field("/lines/0/quantity"),
        case(
            "negative price",
            orders,
            place(|b| b["lines"][0]["unit_price_minor"] = json!(-1)),
            400,
            "validation",
        )
        .field("/lines/0/unit_price_minor"),
        case(
            "absurd price",
            orders,
            place(|b| b["lines"][0]["unit_price_minor"] = json!(1_000_000_000_000_000i64)),
            400,
            "validation",
        )
        .field("/lines/0/unit_price_minor"),
        case(
            "unknown currency",
            orders,
            place(|b| b["currency"] = json!("EURO")),
            400,
            "validation",
        )
        .field("/currency"),
        case(
            "lower-case currency",
            orders,
            place(|b| b["currency"] = json!("eur")),
            400,
            "validation",
        )
        .field("/currency"),
        case(
            "order id with a dot",
            orders,
            place(|b| b["order_id"] = json!("a.b")),
            400,
            "validation",
        )
        .field("/order_id"),
        case(
            "sku with a star",
            orders,
            place(|b| b["lines"][0]["sku"] = json!("A*")),
            400,
            "validation",
        )
        .field("/lines/0/sku"),
        case(
            "customer id with >",
            orders,
            place(|b| b["customer_id"] = json!("c>")),
            400,
            "validation",
        )
        .field("/customer_id"),
        case(
            "customer id with a space",
            orders,
            place(|b| b["customer_id"] = json!("c 1")),
            400,
            "validation",
        )
        .field("/customer_id"),
        case(
            "id of 65 characters",
            orders,
            place(|b| b["customer_id"] = json!("c".repeat(65))),
            400,
            "validation",
        )
        .field("/customer_id"),
        case(
            "no lines",
            orders,
            place(|b| b["lines"] = json!([])),
            400,
            "no-lines",
        )
        .field("/lines"),
        case(
            "repeated sku",
            orders,
            place(|b| b["lines"][1]["sku"] = json!("SHOE-42")),
            400,
            "duplicate-sku",
        )
        .field("/lines/1/sku"),
        case(
            "unknown field",
            orders,
            place(|b| b["colour"] = json!("red")),
            400,
            "validation",
        ),
        case(
            "country name instead of code",
            orders,
            place(|b| b["shipping_address"]["country"] = json!("Germany")),
            400,
            "validation",
        )
        .field("/shipping_address/country"),
        case(
            "latitude off the globe",
            orders,
            place(|b| {
                b["shipping_address"]["latitude"] = json!(200.0);
                b["shipping_address"]["longitude"] = json!(10.0);
            }),
            400,
            "validation",
        )
        .field("/shipping_address/latitude"),
        case(
            "body over the size limit",
            orders,
            Body::Raw(
                "application/json",
                format!("{{\"pad\": \"{}\"}}", "x".repeat(70_000)),
            ),
            413,
            "body-too-large",
        ),
        case(
            "not json",
            orders,
            Body::Raw("text/plain", "hello".into()),
            415,
            "unsupported-media-type",
        ),
        case(
            "cancel an unknown order",
            "/v1/orders/nope/cancel",
            Body::Json(json!({"reason": "x"})),
            404,
            "order-not-found",
        ),
        case(
            "cancel a shipped order",
            &format!("{shipped_path}/cancel"),
            Body::Json(json!({"reason": "x"})),
            409,
            "order-not-cancellable",
        ),
        case(
            "modify a shipped order",
            &shipped_path,
            Body::Json(json!({"lines": [{"sku": "A", "quantity": 1, "unit_price_minor": 1}]})),
            409,
            "order-not-modifiable",
        )
        .method("PATCH"),
        case(
            "ship more than ordered",
            &format!("{open_path}/shipments"),
            ship(json!([{"sku": "SHOE-42", "quantity": 5}])),
            409,
            "ships-more-than-ordered",
        )
        .field("/lines/0/quantity"),
        case(
            "ship an unknown sku",
            &format!("{open_path}/shipments"),
            ship(json!([{"sku": "HAT", "quantity": 1}])),
            400,
            "unknown-sku",
        )
        .field("/lines/0/sku"),
        case(
            "deliver an unknown parcel",
            &format!("{open_path}/deliveries"),
            Body::Json(json!({"shipment_id": "nope", "delivered_at": "2026-01-01T00:00:00Z"})),
            409,
            "unknown-shipment",
        ),
        case(
            "delivery time not a timestamp",
            &format!("{shipped_path}/deliveries"),
            Body::Json(json!({"shipment_id": "P1", "delivered_at": "yesterday"})),
            400,
            "validation",
        )
        .field("/delivered_at"),
        case(
            "return before delivery",
            &format!("{shipped_path}/returns"),
            Body::Json(
                json!({"return_id": "R1", "lines": [{"sku": "SHOE-42", "quantity": 1}],
                    "reason": "no"}),
            ),
            409,
            "returns-more-than-delivered",
        ),
        case(
            "empty cancel reason",
            &format!("{open_path}/cancel"),
            Body::Json(json!({"reason": "  "})),
            400,
            "validation",
        )
        .field("/reason"),
        case(
            "garbled If-Match",
            &format!("{open_path}/cancel"),
            Body::Json(json!({"reason": "x"})),
            400,
            "validation",
        )
        .field("/headers/If-Match")
        .header("If-Match", "seven"),
        case(
            "idempotency key too long",
            &format!("{open_path}/cancel"),
            Body::Json(json!({"reason": "x"})),
            400,
            "validation",
        )
        .field("/headers/Idempotency-Key")
        .header("Idempotency-Key", &"k".repeat(300)),
        case(
            "order id with a dot in the path",
            "/v1/orders/a.b/cancel",
            Body::Json(json!({"reason": "x"})),
            400,
            "validation",
        )
        .field("/path/id"),
        case(
            "placing an existing order id",
            orders,
            place(|b| b["order_id"] = json!(open)),
            409,
            "order-already-placed",
        ),
        case(
            "modify without any part",
            &open_path,
            Body::Json(json!({})),
            400,
            "validation",
        )
        .method("PATCH"),
        case(
            "page size zero",
            "/v1/customers/cust-bad/orders?limit=0",
            Body::None,
            400,
            "validation",
        )
        .method("GET")
        .field("/query/limit"),
        case(
            "forged cursor",
            "/v1/customers/cust-bad/orders?cursor=zz",
            Body::None,
            400,
            "validation",
        )
        .method("GET")
        .field("/query/cursor"),
        case(
            "ship from a location the order is not allocated to",
            &format!("{open_path}/shipments"),
            Body::Json(
                json!({"shipment_id": "X2", "location_id": "store-9", "carrier": "DHL",
                "tracking_number": "T1", "lines": [{"sku": "SHOE-42", "quantity": 1}]}),
            ),
            409,
            "not-allocated-here",
        )
        .field("/lines/0/quantity"),
        case(
            "receive a negative quantity",
            "/v1/stock/wh-1/SHOE-42/receipts",
            Body::Json(json!({"quantity": -3})),
            400,
            "validation",
        )
        .field("/quantity"),
        case(
            "receive at an unknown location",
            "/v1/stock/nowhere/SHOE-42/receipts",
            Body::Json(json!({"quantity": 3})),
            404,
            "not-found",
        ),
        case(
            "count below what is reserved",
            "/v1/stock/wh-1/SHOE-42/counts",
            Body::Json(json!({"counted": 0, "reason": "stock take"})),
            409,
            "below-reserved",
        ),
        case(
            "a correction of zero",
            "/v1/stock/wh-1/SHOE-42/corrections",
            Body::Json(json!({"delta": 0, "reason": "nothing"})),
            400,
            "zero-correction",
        )
        .field("/delta"),
        case(
            "a location in an unknown time zone",
            "/v1/locations/wh-2",
            Body::Json({
                let mut body = ordo_tests::location_body(50.0, 8.0);
                body["timezone"] = json!("Mars/Olympus");
                body
            }),
            400,
            "validation",
        )
        .method("PUT")
        .field("/timezone"),
        case(
            "a location with a latitude off the globe",
            "/v1/locations/wh-2",
            Body::Json(ordo_tests::location_body(95.0, 8.0)),
            400,
            "validation",
        )
        .method("PUT")
        .field("/coordinates/latitude"),
        case(
            "a routing policy without shipments",
            "/v1/routing-policy",
            Body::Json(
                json!({"distance_weight": 1, "priority_weight": 1, "capacity_weight": 1,
                "closed_penalty": 1, "split_penalty": 1, "max_shipments": 0}),
            ),
            400,
            "validation",
        )
        .method("PUT")
        .field("/max_shipments"),
        case(
            "a negative routing weight",
            "/v1/routing-policy",
            Body::Json(
                json!({"distance_weight": -1, "priority_weight": 1, "capacity_weight": 1,
                "closed_penalty": 1, "split_penalty": 1, "max_shipments": 2}),
            ),
            400,
            "validation",
        )
        .method("PUT")
        .field("/distance_weight"),
    ]
}

#[tokio::test]
async fn bad_input_gets_a_specific_problem_and_changes_nothing() {
    let app = TestApp::spawn_routing().await;
    let open = app.place_routed(&order_body("cust-open")).await;
    let shipped = app.place_routed(&order_body("cust-shipped")).await;
    let all = json!({"shipment_id": "P1", "location_id": "wh-1", "carrier": "DHL",
        "tracking_number": "T",
        "lines": [{"sku": "SHOE-42", "quantity": 1}, {"sku": "SOCKS-3PK", "quantity": 2}]});
    assert_eq!(
        app.post(
            &format!("/v1/orders/{shipped}/shipments"),
            "store",
            &all,
            &[]
        )
        .await
        .status,
        200
    );
    let cases = cases(&open, &shipped);
    assert!(cases.len() >= 30);
    app.settle().await;
    let before = app.message_count().await;

    let mut failures = Vec::new();
    for case in &cases {
        let role = if case.path.contains("shipments")
            || case.path.contains("deliveries")
            || case.path.contains("returns")
            || case.path.starts_with("/v1/stock/")
        {
            "store"
        } else if case.path.starts_with("/v1/locations") || case.path.contains("routing-policy") {
            "operator"
        } else {
            "channel"
        };
        let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
        let mut request = app
            .http
            .request(method, format!("{}{}", app.base, case.path))
            .bearer_auth(token(role));
        request = match &case.body {
            Body::Json(value) => request.json(value),
            Body::Raw(content_type, text) => request
                .header("content-type", *content_type)
                .body(text.clone()),
            Body::None => request,
        };
        for (name, value) in &case.headers {
            request = request.header(*name, value);
        }
        let answer = ordo_tests::answer(request.send().await.unwrap()).await;

        let problem_type = format!("urn:ordo:problem:{}", case.problem);
        let named = case.field.is_none_or(|field| {
            answer.body["errors"]
                .as_array()
                .is_some_and(|errors| errors.iter().any(|e| e["path"] == field))
        });
        if answer.status != case.status
            || answer.header("content-type") != Some("application/problem+json")
            || answer.body["type"] != problem_type.as_str()
            || !named
        {
            failures.push(format!(
                "{}: got {} {}",
                case.name, answer.status, answer.body
            ));
        }
    }

    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        app.message_count().await,
        before,
        "bad input appended to the stream"
    );
}
