//! One-line, human-readable descriptions of order events for the timeline.
//!
//! The customer sees these on the tracking page, so they hold no address and
//! no personal data; amounts appear only in the staff timeline's wording of
//! the events that change them.

use ordo_domain::order::{ItemLine, PricedLine};
use ordo_domain::{Order, OrderEvent};

/// Describes `event`, given the order as it was before it.
pub(crate) fn describe(before: &Order, event: &OrderEvent) -> String {
    match event {
        OrderEvent::OrderPlaced(placed) => {
            format!("Order placed: {}", describe_lines(&placed.lines))
        }
        OrderEvent::OrderLinesChanged(changed) => {
            format!("Order lines changed: {}", describe_lines(&changed.lines))
        }
        OrderEvent::ShippingAddressChanged(_) => "Shipping address changed".to_owned(),
        OrderEvent::OrderPicked(picked) => match &picked.location_id {
            Some(location) => format!("Order picked at {location}"),
            None => "Order picked".to_owned(),
        },
        OrderEvent::OrderCancelled(cancelled) => {
            format!("Order cancelled: {}", cancelled.reason)
        }
        OrderEvent::ShipmentDispatched(dispatched) => format!(
            "Shipment {} left {} with {}, tracking number {} ({})",
            dispatched.shipment_id,
            dispatched.location_id,
            dispatched.carrier,
            dispatched.tracking_number,
            describe_items(&dispatched.lines)
        ),
        OrderEvent::ShipmentDelivered(delivered) => {
            let carrier = before
                .placed
                .as_ref()
                .and_then(|p| p.shipment(&delivered.shipment_id))
                .map(|s| format!(" by {}", s.carrier))
                .unwrap_or_default();
            format!("Shipment {} delivered{carrier}", delivered.shipment_id)
        }
        OrderEvent::ReturnReceived(received) => format!(
            "Return {} received: {} (reason: {})",
            received.return_id,
            describe_items(&received.lines),
            received.reason
        ),
        OrderEvent::OrderRouted(routed) => {
            let mut locations: Vec<String> = routed
                .allocations
                .iter()
                .map(|a| a.location_id.to_string())
                .collect();
            locations.dedup();
            let items = routed
                .allocations
                .iter()
                .map(|a| u64::from(a.quantity.get()));
            format!(
                "Order routed: {} from {}",
                plural(items.sum(), "item"),
                locations.join(", ")
            )
        }
        OrderEvent::OrderBackordered(backordered) => format!(
            "Backordered: {} wait for stock",
            describe_items(&backordered.lines)
        ),
        OrderEvent::RoutingReleased(released) => {
            format!("Routing released: {}", released.reason)
        }
    }
}

fn describe_lines(lines: &[PricedLine]) -> String {
    let items: u64 = lines.iter().map(|l| u64::from(l.quantity.get())).sum();
    format!(
        "{} in {} {}",
        plural(items, "item"),
        lines.len(),
        noun(lines.len() as u64, "line")
    )
}

fn describe_items(lines: &[ItemLine]) -> String {
    let items: u64 = lines.iter().map(|l| u64::from(l.quantity.get())).sum();
    plural(items, "item")
}

fn plural(count: u64, word: &str) -> String {
    format!("{count} {}", noun(count, word))
}

fn noun(count: u64, word: &str) -> String {
    if count == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}
