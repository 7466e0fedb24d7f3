//! The order's business rules: given the state, a command and the time,
//! which events happen, or which rule the command breaks.

use super::command::*;
use super::event::*;
use super::{backorder_after, Order, OrderError, OrderStatus, PlacedOrder};
use crate::money::MAX_ORDER_TOTAL;
use crate::{Personal, Sku, Timestamp};
use std::collections::{BTreeMap, HashSet};
use time::Duration;

/// The most lines one order may have.
pub const MAX_LINES: usize = 200;

/// How far in the future a reported delivery time may lie: store clocks and
/// carrier scanners drift, so we allow a few minutes.
pub const DELIVERY_CLOCK_SKEW: Duration = Duration::minutes(5);

/// Decides what a command does to an order. Holds every rule of the order
/// aggregate; an empty list means the command changes nothing (for example a
/// modification that repeats the current lines).
pub fn decide(
    order: &Order,
    command: OrderCommand,
    now: Timestamp,
) -> Result<Vec<OrderEvent>, OrderError> {
    let (placed, command) = match (&order.placed, command) {
        (None, OrderCommand::Place(place)) => return place_order(place, now),
        (None, _) => return Err(OrderError::NotPlaced),
        (Some(placed), command) => (placed, command),
    };
    match command {
        OrderCommand::Place(_) => Err(OrderError::AlreadyPlaced {
            status: placed.status(),
        }),
        OrderCommand::Modify(modify) => modify_order(placed, modify),
        OrderCommand::Pick(pick) => pick_order(placed, pick),
        OrderCommand::Cancel(cancel) => cancel_order(placed, cancel),
        OrderCommand::Ship(ship) => ship_order(placed, ship),
        OrderCommand::Deliver(deliver) => deliver_shipment(placed, deliver, now),
        OrderCommand::Return(items) => return_items(placed, items),
        OrderCommand::Route(route) => route_order(placed, route),
        OrderCommand::Release(release) => release_routing(placed, release),
    }
}

fn place_order(place: PlaceOrder, now: Timestamp) -> Result<Vec<OrderEvent>, OrderError> {
    check_lines(&place.lines)?;
    Ok(vec![OrderEvent::OrderPlaced(OrderPlaced {
        order_id: place.order_id,
        customer_id: place.customer_id,
        channel: place.channel,
        currency: place.currency,
        lines: place.lines,
        shipping_address: Personal::Known(place.shipping_address),
        tracking_token: place.tracking_token,
        placed_at: now,
    })])
}

/// Lines must be non-empty, bounded, free of repeated SKUs and sum to a sane
/// total. Repeated SKUs are refused rather than merged, because a shipment
/// or return names a SKU and must know which line it means.
fn check_lines(lines: &[PricedLine]) -> Result<(), OrderError> {
    if lines.is_empty() {
        return Err(OrderError::NoLines);
    }
    if lines.len() > MAX_LINES {
        return Err(OrderError::TooManyLines {
            max: MAX_LINES,
            count: lines.len(),
        });
    }
    check_unique_skus(lines.iter().map(|l| &l.sku))?;
    let mut total: i64 = 0;
    for line in lines {
        let line_total = i64::from(line.quantity.get())
            .checked_mul(line.unit_price_minor)
            .ok_or(OrderError::TotalTooLarge)?;
        total = total
            .checked_add(line_total)
            .ok_or(OrderError::TotalTooLarge)?;
    }
    if total > MAX_ORDER_TOTAL {
        return Err(OrderError::TotalTooLarge);
    }
    Ok(())
}

fn check_unique_skus<'a>(skus: impl Iterator<Item = &'a Sku>) -> Result<(), OrderError> {
    let mut seen = HashSet::new();
    for (index, sku) in skus.enumerate() {
        if !seen.insert(sku) {
            return Err(OrderError::DuplicateSku {
                sku: sku.clone(),
                index,
            });
        }
    }
    Ok(())
}

fn modify_order(order: &PlacedOrder, modify: ModifyOrder) -> Result<Vec<OrderEvent>, OrderError> {
    let status = order.status();
    if !is_before_pick(status) {
        return Err(OrderError::NotModifiable { status });
    }
    let mut events = Vec::new();
    if let Some(lines) = modify.lines {
        check_lines(&lines)?;
        if !same_lines(order, &lines) {
            // The old routing was for the old lines: give it up first.
            if !order.allocations.is_empty() || !order.backordered.is_empty() {
                events.push(OrderEvent::RoutingReleased(RoutingReleased {
                    allocations: order.allocations.clone(),
                    backordered: order.backordered.clone(),
                    reason: "the order's lines changed".to_owned(),
                }));
            }
            events.push(OrderEvent::OrderLinesChanged(OrderLinesChanged { lines }));
        }
    }
    if let Some(address) = modify.shipping_address {
        if order.shipping_address.known() != Some(&address) {
            events.push(OrderEvent::ShippingAddressChanged(ShippingAddressChanged {
                shipping_address: Personal::Known(address),
            }));
        }
    }
    Ok(events)
}

fn same_lines(order: &PlacedOrder, lines: &[PricedLine]) -> bool {
    order.lines.len() == lines.len()
        && order.lines.iter().zip(lines).all(|(have, want)| {
            have.sku == want.sku
                && have.quantity == want.quantity.get()
                && have.unit_price_minor == want.unit_price_minor
        })
}

/// Placed, routed or backordered: nothing picked or shipped, not cancelled.
fn is_before_pick(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::Placed | OrderStatus::Routed | OrderStatus::Backordered
    )
}

fn pick_order(order: &PlacedOrder, pick: PickOrder) -> Result<Vec<OrderEvent>, OrderError> {
    let status = order.status();
    let is_routed = matches!(status, OrderStatus::Routed | OrderStatus::Backordered);
    if !is_routed || order.allocations.is_empty() {
        return Err(OrderError::NotPickable { status });
    }
    Ok(vec![OrderEvent::OrderPicked(OrderPicked {
        location_id: pick.location_id,
    })])
}

fn cancel_order(order: &PlacedOrder, cancel: CancelOrder) -> Result<Vec<OrderEvent>, OrderError> {
    let status = order.status();
    if !(is_before_pick(status) || status == OrderStatus::Picked) {
        return Err(OrderError::NotCancellable { status });
    }
    Ok(vec![OrderEvent::OrderCancelled(OrderCancelled {
        reason: cancel.reason,
    })])
}

fn ship_order(order: &PlacedOrder, ship: ShipOrder) -> Result<Vec<OrderEvent>, OrderError> {
    let status = order.status();
    if !matches!(
        status,
        OrderStatus::Routed
            | OrderStatus::Backordered
            | OrderStatus::Picked
            | OrderStatus::PartiallyShipped
    ) {
        return Err(OrderError::NotShippable { status });
    }
    if order.shipment(&ship.shipment_id).is_some() {
        return Err(OrderError::DuplicateShipment {
            shipment_id: ship.shipment_id,
        });
    }
    if ship.lines.is_empty() {
        return Err(OrderError::NoLines);
    }
    check_unique_skus(ship.lines.iter().map(|l| &l.sku))?;
    for (index, item) in ship.lines.iter().enumerate() {
        let line = order.line(&item.sku).ok_or(OrderError::UnknownSku {
            sku: item.sku.clone(),
            index,
        })?;
        let remaining = line.quantity - line.shipped;
        if item.quantity.get() > remaining {
            return Err(OrderError::ShipsMoreThanOrdered {
                sku: item.sku.clone(),
                index,
                remaining,
            });
        }
        let allocated = order.allocated_unshipped(&ship.location_id, &item.sku);
        if item.quantity.get() > allocated {
            return Err(OrderError::NotAllocatedHere {
                sku: item.sku.clone(),
                index,
                location_id: ship.location_id.clone(),
                allocated,
            });
        }
    }
    Ok(vec![OrderEvent::ShipmentDispatched(ShipmentDispatched {
        shipment_id: ship.shipment_id,
        location_id: ship.location_id,
        carrier: ship.carrier,
        tracking_number: ship.tracking_number,
        lines: ship.lines,
    })])
}

fn deliver_shipment(
    order: &PlacedOrder,
    deliver: DeliverShipment,
    now: Timestamp,
) -> Result<Vec<OrderEvent>, OrderError> {
    let shipment =
        order
            .shipment(&deliver.shipment_id)
            .ok_or_else(|| OrderError::UnknownShipment {
                shipment_id: deliver.shipment_id.clone(),
            })?;
    if shipment.delivered_at.is_some() {
        return Err(OrderError::AlreadyDelivered {
            shipment_id: deliver.shipment_id,
        });
    }
    if deliver.delivered_at > now + DELIVERY_CLOCK_SKEW {
        return Err(OrderError::DeliveredInFuture);
    }
    Ok(vec![OrderEvent::ShipmentDelivered(ShipmentDelivered {
        shipment_id: deliver.shipment_id,
        delivered_at: deliver.delivered_at,
    })])
}

fn return_items(order: &PlacedOrder, items: ReturnItems) -> Result<Vec<OrderEvent>, OrderError> {
    if order.returns.iter().any(|r| r.return_id == items.return_id) {
        return Err(OrderError::DuplicateReturn {
            return_id: items.return_id,
        });
    }
    if items.lines.is_empty() {
        return Err(OrderError::NoLines);
    }
    check_unique_skus(items.lines.iter().map(|l| &l.sku))?;
    for (index, item) in items.lines.iter().enumerate() {
        let line = order.line(&item.sku).ok_or(OrderError::UnknownSku {
            sku: item.sku.clone(),
            index,
        })?;
        let returnable = line.delivered - line.returned;
        if item.quantity.get() > returnable {
            return Err(OrderError::ReturnsMoreThanDelivered {
                sku: item.sku.clone(),
                index,
                returnable,
            });
        }
    }
    Ok(vec![OrderEvent::ReturnReceived(ReturnReceived {
        return_id: items.return_id,
        lines: items.lines,
        reason: items.reason,
    })])
}

#[cfg(test)]
mod tests;

/// Records a routing decision. The plan must account for exactly what is
/// unallocated now (allocated or backordered, unit for unit); otherwise the
/// order changed while the decision was made.
fn route_order(order: &PlacedOrder, route: RouteOrder) -> Result<Vec<OrderEvent>, OrderError> {
    let status = order.status();
    let need = order.unallocated();
    if status == OrderStatus::Cancelled || need.is_empty() {
        return Err(OrderError::NotRoutable { status });
    }
    let mut planned: BTreeMap<&Sku, u32> = BTreeMap::new();
    let items = route.plan.allocations.iter().map(|a| (&a.sku, a.quantity));
    let waiting = route.plan.backordered.iter().map(|l| (&l.sku, l.quantity));
    for (sku, quantity) in items.chain(waiting) {
        *planned.entry(sku).or_insert(0) += quantity.get();
    }
    if planned.len() != need.len() || need.iter().any(|(sku, n)| planned.get(sku) != Some(n)) {
        return Err(OrderError::RoutingOutdated);
    }

    let mut events = Vec::new();
    if !route.plan.allocations.is_empty() {
        events.push(OrderEvent::OrderRouted(OrderRouted {
            allocations: route.plan.allocations.clone(),
            policy_version: route.policy_version,
            plan_score: route.plan.plan_score,
            scores: route.plan.scores,
            cause: route.cause.clone(),
        }));
    }
    let left = backorder_after(&order.backordered, &route.plan.allocations);
    if sorted(&left) != sorted(&route.plan.backordered) {
        events.push(OrderEvent::OrderBackordered(OrderBackordered {
            lines: route.plan.backordered,
            policy_version: route.policy_version,
            cause: route.cause,
        }));
    }
    Ok(events)
}

fn sorted(lines: &[ItemLine]) -> Vec<(&Sku, u32)> {
    let mut lines: Vec<_> = lines.iter().map(|l| (&l.sku, l.quantity.get())).collect();
    lines.sort();
    lines
}

/// Gives up the routing so the order is routed afresh (an operator's
/// re-route). Always records the release, even of nothing, because the
/// routing process reacts to it.
fn release_routing(
    order: &PlacedOrder,
    release: ReleaseRouting,
) -> Result<Vec<OrderEvent>, OrderError> {
    let status = order.status();
    if !is_before_pick(status) {
        return Err(OrderError::NotReroutable { status });
    }
    Ok(vec![OrderEvent::RoutingReleased(RoutingReleased {
        allocations: order.allocations.clone(),
        backordered: order.backordered.clone(),
        reason: release.reason,
    })])
}
