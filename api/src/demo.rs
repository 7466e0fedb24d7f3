//! Demo data for `serve --demo`, so a newcomer sees Ordo work at once: two
//! locations with stock, and three orders that the routing process routes
//! (one left routed, one shipped, one delivered).
//!
//! The demo goes through the same ledger path as the API. Every step has a
//! fixed idempotency key, so restarting with `--demo` adds nothing twice.

use crate::http::AppState;
use anyhow::Context as _;
use ordo_domain::address::{Coordinates, RawAddress};
use ordo_domain::location::{describe_location, LocationKind, LocationProfile, LocationStatus};
use ordo_domain::location::{TimeOfDay, Weekday};
use ordo_domain::order::{DeliverShipment, ItemLine, PlaceOrder, PricedLine, ShipOrder};
use ordo_domain::stock::decide_stock;
use ordo_domain::stock::StockCommand;
use ordo_domain::{decide, Address, ChannelId, Currency, CustomerId, FieldErrors, LocationId};
use ordo_domain::{Order, OrderCommand, OrderId, Quantity, ShipmentId, Sku};
use ordo_ledger::{stock_id, Actor, ActorKind, Aggregate, CommandContext, Executed, Repository};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;
use time::OffsetDateTime;

/// How long the demo waits for the routing process to route an order.
const ROUTING_WAIT: Duration = Duration::from_secs(15);

/// Sets up the demo network, places three demo orders (routed, shipped,
/// delivered) and prints how to look at them. Without a routing process in
/// this server, the orders stay placed.
pub async fn seed(app: &AppState, is_routing: bool, listen: SocketAddr) -> anyhow::Result<()> {
    stock_network(app).await?;
    let orders = &app.orders;
    let mut tokens = Vec::new();
    for (n, steps) in [(1001, 0), (1002, 1), (1003, 2)] {
        let order_id = OrderId::parse(&format!("demo-{n}")).context("demo order id")?;
        tokens.push((order_id.clone(), place(orders, &order_id, n).await?));
        if steps == 0 || !is_routing {
            continue;
        }
        let location = routed_at(orders, &order_id).await?;
        ship(orders, &order_id, location).await?;
        if steps >= 2 {
            deliver(orders, &order_id).await?;
        }
    }
    let base = format!("http://{listen}");
    crate::output::print_line("demo orders are in place; try:");
    crate::output::print_line(&format!(
        "  curl -s {base}/v1/inventory/SHOE-42 -H 'Authorization: Bearer dev-operator-token'"
    ));
    for (order_id, token) in &tokens {
        crate::output::print_line(&format!(
            "  curl -s {base}/v1/orders/{order_id} -H 'Authorization: Bearer dev-channel-token'"
        ));
        crate::output::print_line(&format!("  curl -s {base}/v1/track/{token}"));
    }
    Ok(())
}

/// A Berlin store and a Hamburg warehouse, with stock of the demo SKUs.
async fn stock_network(app: &AppState) -> anyhow::Result<()> {
    let network = [
        ("berlin-mitte", LocationKind::Store, 52.52, 13.40, 20, 5),
        ("hamburg-dc", LocationKind::Warehouse, 53.55, 9.99, 0, 500),
    ];
    for (id, kind, latitude, longitude, priority, units) in network {
        let profile = LocationProfile {
            name: id.replace('-', " "),
            kind,
            coordinates: Coordinates {
                latitude,
                longitude,
            },
            timezone: "Europe/Berlin".to_owned(),
            daily_capacity: 500,
            opening_days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            cutoff: TimeOfDay::from_hm(16, 0).context("demo cut-off")?,
            priority,
            status: LocationStatus::Active,
        };
        let step = format!("location/{id}");
        run(&app.locations, id, &step, ActorKind::Operator, |location| {
            Ok::<_, Infallible>(describe_location(location, profile.clone()))
        })
        .await?;
        let location = LocationId::parse(id).context("demo location")?;
        for sku in ["SHOE-42", "SOCKS-3PK"] {
            let command = StockCommand::Receive {
                quantity: Quantity::parse(units)?,
                incoming_id: None,
            };
            let stock = stock_id(&location, &Sku::parse(sku)?);
            let step = format!("receive/{stock}");
            run(&app.stock, &stock, &step, ActorKind::Store, |s| {
                decide_stock(s, command.clone())
            })
            .await?;
        }
    }
    Ok(())
}

/// Runs one demo step with its fixed idempotency key.
async fn run<A, E, F>(
    repository: &Repository<A>,
    id: &str,
    step: &str,
    actor: ActorKind,
    decide: F,
) -> anyhow::Result<A>
where
    A: Aggregate,
    E: std::error::Error + Send + Sync + 'static,
    F: Fn(&A) -> Result<Vec<A::Event>, E>,
{
    let actor = Actor {
        kind: actor,
        id: "demo".to_owned(),
    };
    let mut context = CommandContext::new(actor, OffsetDateTime::now_utc());
    context.idempotency_key = Some(format!("demo/{step}"));
    context.request_digest = Some(step.to_owned());
    let executed = repository
        .execute(id, &context, decide)
        .await
        .with_context(|| format!("demo step {step}"))?;
    match executed {
        Executed::Appended { state, .. } | Executed::Unchanged { state, .. } => Ok(state),
        Executed::Replayed(_) => Ok(repository.load(id).await?.state.clone()),
    }
}

async fn run_order(
    orders: &Repository<Order>,
    order_id: &OrderId,
    step: &str,
    actor: ActorKind,
    command: OrderCommand,
) -> anyhow::Result<Order> {
    let now = OffsetDateTime::now_utc();
    let step = format!("{order_id}/{step}");
    run(orders, order_id.as_str(), &step, actor, |order| {
        decide(order, command.clone(), now)
    })
    .await
}

/// Waits until the routing process has routed the order; returns the
/// location it was allocated to.
async fn routed_at(orders: &Repository<Order>, order_id: &OrderId) -> anyhow::Result<LocationId> {
    let deadline = tokio::time::Instant::now() + ROUTING_WAIT;
    loop {
        let order = orders.load(order_id.as_str()).await?.state.clone();
        let allocated = order.placed.as_ref().and_then(|p| p.allocations.first());
        if let Some(allocation) = allocated {
            return Ok(allocation.location_id.clone());
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("demo order {order_id} was not routed within {ROUTING_WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn place(orders: &Repository<Order>, order_id: &OrderId, n: u32) -> anyhow::Result<String> {
    let mut errors = FieldErrors::new();
    let raw = RawAddress {
        name: "Demo Customer".into(),
        line1: "1 Example Street".into(),
        postal_code: "10115".into(),
        city: "Berlin".into(),
        country: "DE".into(),
        latitude: Some(52.53),
        longitude: Some(13.38),
        email: Some("demo@example.com".into()),
        ..RawAddress::default()
    };
    let address = Address::parse(raw, "", &mut errors).context("demo address")?;
    let command = OrderCommand::Place(PlaceOrder {
        order_id: order_id.clone(),
        customer_id: CustomerId::parse("demo-customer").context("demo customer")?,
        channel: ChannelId::parse("web").context("demo channel")?,
        currency: Currency::parse("EUR").context("demo currency")?,
        lines: vec![
            line("SHOE-42", 1, 8_999)?,
            line("SOCKS-3PK", i64::from(n % 3 + 1), 1_299)?,
        ],
        shipping_address: address,
        tracking_token: hex::encode(rand::random::<[u8; 16]>()),
    });
    let order = run_order(orders, order_id, "place", ActorKind::Channel, command).await?;
    Ok(order.placed.map(|p| p.tracking_token).unwrap_or_default())
}

async fn ship(
    orders: &Repository<Order>,
    order_id: &OrderId,
    location: LocationId,
) -> anyhow::Result<()> {
    let order = orders.load(order_id.as_str()).await?.state.clone();
    let lines = order
        .placed
        .iter()
        .flat_map(|p| &p.lines)
        .map(|l| {
            Ok(ItemLine {
                sku: l.sku.clone(),
                quantity: Quantity::parse(i64::from(l.quantity))?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let command = OrderCommand::Ship(ShipOrder {
        shipment_id: ShipmentId::parse(&format!("{order_id}-P1"))?,
        location_id: location,
        carrier: "DHL".into(),
        tracking_number: format!("JJD{}", &order_id.as_str()[5..]),
        lines,
    });
    run_order(orders, order_id, "ship", ActorKind::Store, command)
        .await
        .map(|_| ())
}

async fn deliver(orders: &Repository<Order>, order_id: &OrderId) -> anyhow::Result<()> {
    let command = OrderCommand::Deliver(DeliverShipment {
        shipment_id: ShipmentId::parse(&format!("{order_id}-P1"))?,
        delivered_at: OffsetDateTime::now_utc(),
    });
    run_order(orders, order_id, "deliver", ActorKind::Store, command)
        .await
        .map(|_| ())
}

fn line(sku: &str, quantity: i64, price: i64) -> anyhow::Result<PricedLine> {
    Ok(PricedLine {
        sku: Sku::parse(sku)?,
        quantity: Quantity::parse(quantity)?,
        unit_price_minor: price,
    })
}
