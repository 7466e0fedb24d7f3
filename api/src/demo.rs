//! Demo orders for `serve --demo`, so a newcomer sees Ordo work at once.
//!
//! The demo goes through the same ledger path as the API. Every step has a
//! fixed idempotency key, so restarting with `--demo` adds nothing twice.

use anyhow::Context as _;
use ordo_domain::address::RawAddress;
use ordo_domain::order::{DeliverShipment, ItemLine, PlaceOrder, PricedLine, ShipOrder};
use ordo_domain::{decide, Address, ChannelId, Currency, CustomerId, FieldErrors, LocationId};
use ordo_domain::{Order, OrderCommand, OrderId, Quantity, ShipmentId, Sku};
use ordo_ledger::{Actor, ActorKind, CommandContext, Executed, Repository};
use std::net::SocketAddr;
use time::OffsetDateTime;
use uuid::Uuid;

/// Places three demo orders (placed, shipped, delivered) and prints how to
/// look at them.
pub async fn seed(orders: &Repository<Order>, listen: SocketAddr) -> anyhow::Result<()> {
    let mut tokens = Vec::new();
    for (n, steps) in [(1001, 0), (1002, 1), (1003, 2)] {
        let order_id = OrderId::parse(&format!("demo-{n}")).context("demo order id")?;
        tokens.push((order_id.clone(), place(orders, &order_id, n).await?));
        if steps >= 1 {
            ship(orders, &order_id).await?;
        }
        if steps >= 2 {
            deliver(orders, &order_id).await?;
        }
    }
    let base = format!("http://{listen}");
    crate::output::print_line("demo orders are in place; try:");
    for (order_id, token) in &tokens {
        crate::output::print_line(&format!(
            "  curl -s {base}/v1/orders/{order_id} -H 'Authorization: Bearer dev-channel-token'"
        ));
        crate::output::print_line(&format!("  curl -s {base}/v1/track/{token}"));
    }
    Ok(())
}

async fn run(
    orders: &Repository<Order>,
    order_id: &OrderId,
    step: &str,
    actor: ActorKind,
    command: OrderCommand,
) -> anyhow::Result<Order> {
    let now = OffsetDateTime::now_utc();
    let context = CommandContext {
        actor: Actor {
            kind: actor,
            id: "demo".to_owned(),
        },
        now,
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        idempotency_key: Some(format!("demo/{order_id}/{step}")),
        request_digest: Some(step.to_owned()),
        expected_version: None,
        step: None,
    };
    let executed = orders
        .execute(order_id.as_str(), &context, |order| {
            decide(order, command.clone(), now)
        })
        .await
        .with_context(|| format!("demo step {step} of {order_id}"))?;
    match executed {
        Executed::Appended { state, .. } | Executed::Unchanged { state, .. } => Ok(state),
        Executed::Replayed(_) => Ok(orders.load(order_id.as_str()).await?.state.clone()),
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
    let order = run(orders, order_id, "place", ActorKind::Channel, command).await?;
    Ok(order.placed.map(|p| p.tracking_token).unwrap_or_default())
}

async fn ship(orders: &Repository<Order>, order_id: &OrderId) -> anyhow::Result<()> {
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
        location_id: LocationId::parse("berlin-mitte")?,
        carrier: "DHL".into(),
        tracking_number: format!("JJD{}", &order_id.as_str()[5..]),
        lines,
    });
    run(orders, order_id, "ship", ActorKind::Store, command)
        .await
        .map(|_| ())
}

async fn deliver(orders: &Repository<Order>, order_id: &OrderId) -> anyhow::Result<()> {
    let command = OrderCommand::Deliver(DeliverShipment {
        shipment_id: ShipmentId::parse(&format!("{order_id}-P1"))?,
        delivered_at: OffsetDateTime::now_utc(),
    });
    run(orders, order_id, "deliver", ActorKind::Store, command)
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
