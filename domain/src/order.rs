//! The order aggregate: its state and how events change it.
//!
//! The lifecycle is placed → (picked) → shipped → delivered, with returns after
//! delivery and cancellation until the first parcel leaves. The status is not
//! stored but derived from the quantities, so it can never disagree with them.

mod command;
mod decide;
mod error;
mod event;

pub use command::{
    CancelOrder, DeliverShipment, ModifyOrder, OrderCommand, PickOrder, PlaceOrder, ReleaseRouting,
    ReturnItems, RouteOrder, ShipOrder,
};
pub use decide::{decide, DELIVERY_CLOCK_SKEW, MAX_LINES};
pub use error::{OrderError, OrderErrorKind};
pub use event::{
    ItemLine, OrderBackordered, OrderCancelled, OrderEvent, OrderLinesChanged, OrderPicked,
    OrderPlaced, OrderRouted, PricedLine, ReturnReceived, RoutingReleased, ShipmentDelivered,
    ShipmentDispatched, ShippingAddressChanged,
};

use crate::routing::{Allocation, LocationScore};
use crate::{Address, ChannelId, Currency, CustomerId, LocationId, MinorUnits, OrderId, Personal};
use crate::{Quantity, ReturnId, ShipmentId, Sku, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Where an order stands. Derived from the order's quantities and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Not placed yet: the state before the first event.
    New,
    /// Placed, waiting for the routing process.
    Placed,
    /// Every line is allocated to a location.
    Routed,
    /// Some lines wait for stock.
    Backordered,
    Picked,
    PartiallyShipped,
    Shipped,
    PartiallyDelivered,
    Delivered,
    PartiallyReturned,
    Returned,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Placed => "placed",
            Self::Routed => "routed",
            Self::Backordered => "backordered",
            Self::Picked => "picked",
            Self::PartiallyShipped => "partially_shipped",
            Self::Shipped => "shipped",
            Self::PartiallyDelivered => "partially_delivered",
            Self::Delivered => "delivered",
            Self::PartiallyReturned => "partially_returned",
            Self::Returned => "returned",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An order line with what has happened to its items so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    pub sku: Sku,
    pub quantity: u32,
    pub unit_price_minor: MinorUnits,
    pub shipped: u32,
    pub delivered: u32,
    pub returned: u32,
}

impl OrderLine {
    /// The line's value. Bounded by the quantity and price limits, so it
    /// cannot overflow.
    pub fn total_minor(&self) -> MinorUnits {
        i64::from(self.quantity) * self.unit_price_minor
    }
}

/// One parcel that left a location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    pub shipment_id: ShipmentId,
    pub location_id: LocationId,
    pub carrier: String,
    pub tracking_number: String,
    pub lines: Vec<ItemLine>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<Timestamp>,
}

/// Goods that came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReturnRecord {
    pub return_id: ReturnId,
    pub lines: Vec<ItemLine>,
    pub reason: String,
}

/// A routing decision as the order remembers it, to explain it later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingDecision {
    pub allocations: Vec<Allocation>,
    pub policy_version: u64,
    pub plan_score: i64,
    pub scores: Vec<LocationScore>,
    pub cause: String,
}

/// Everything known about an order once it has been placed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacedOrder {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub channel: ChannelId,
    pub currency: Currency,
    pub lines: Vec<OrderLine>,
    pub shipping_address: Personal<Address>,
    pub tracking_token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: Timestamp,
    pub is_picked: bool,
    pub cancellation_reason: Option<String>,
    pub shipments: Vec<Shipment>,
    pub returns: Vec<ReturnRecord>,
    /// Where the lines are fulfilled: current allocations.
    #[serde(default)]
    pub allocations: Vec<Allocation>,
    /// Lines waiting for stock.
    #[serde(default)]
    pub backordered: Vec<ItemLine>,
    /// Every routing decision, oldest first.
    #[serde(default)]
    pub routing: Vec<RoutingDecision>,
}

impl PlacedOrder {
    pub fn total_minor(&self) -> MinorUnits {
        self.lines.iter().map(OrderLine::total_minor).sum()
    }

    pub fn line(&self, sku: &Sku) -> Option<&OrderLine> {
        self.lines.iter().find(|line| &line.sku == sku)
    }

    fn line_mut(&mut self, sku: &Sku) -> Option<&mut OrderLine> {
        self.lines.iter_mut().find(|line| &line.sku == sku)
    }

    pub fn shipment(&self, shipment_id: &ShipmentId) -> Option<&Shipment> {
        self.shipments
            .iter()
            .find(|s| &s.shipment_id == shipment_id)
    }

    /// Units of `sku` allocated to `location` and not shipped from there.
    pub fn allocated_unshipped(&self, location: &LocationId, sku: &Sku) -> u32 {
        let allocated: u32 = self
            .allocations
            .iter()
            .filter(|a| &a.location_id == location && &a.sku == sku)
            .map(|a| a.quantity.get())
            .sum();
        let shipped: u32 = self
            .shipments
            .iter()
            .filter(|s| &s.location_id == location)
            .flat_map(|s| &s.lines)
            .filter(|l| &l.sku == sku)
            .map(|l| l.quantity.get())
            .sum();
        allocated.saturating_sub(shipped)
    }

    /// Units of each SKU that are neither allocated nor cancelled: what the
    /// routing process still has to place (backordered units included).
    pub fn unallocated(&self) -> BTreeMap<Sku, u32> {
        let mut need: BTreeMap<Sku, u32> = BTreeMap::new();
        for line in &self.lines {
            *need.entry(line.sku.clone()).or_insert(0) += line.quantity;
        }
        for allocation in &self.allocations {
            if let Some(units) = need.get_mut(&allocation.sku) {
                *units = units.saturating_sub(allocation.quantity.get());
            }
        }
        need.retain(|_, units| *units > 0);
        need
    }

    pub fn status(&self) -> OrderStatus {
        let sum =
            |f: fn(&OrderLine) -> u32| -> u64 { self.lines.iter().map(|l| u64::from(f(l))).sum() };
        let (ordered, shipped) = (sum(|l| l.quantity), sum(|l| l.shipped));
        let (delivered, returned) = (sum(|l| l.delivered), sum(|l| l.returned));
        if self.cancellation_reason.is_some() {
            OrderStatus::Cancelled
        } else if shipped == 0 {
            if self.is_picked {
                OrderStatus::Picked
            } else if !self.backordered.is_empty() {
                OrderStatus::Backordered
            } else if !self.allocations.is_empty() {
                OrderStatus::Routed
            } else {
                OrderStatus::Placed
            }
        } else if shipped < ordered {
            OrderStatus::PartiallyShipped
        } else if returned > 0 && returned == ordered {
            OrderStatus::Returned
        } else if returned > 0 {
            OrderStatus::PartiallyReturned
        } else if delivered == ordered {
            OrderStatus::Delivered
        } else if delivered > 0 {
            OrderStatus::PartiallyDelivered
        } else {
            OrderStatus::Shipped
        }
    }
}

/// The order aggregate: its version (the number of events applied) and,
/// once placed, its details.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub version: u64,
    pub placed: Option<PlacedOrder>,
}

impl Order {
    pub fn status(&self) -> OrderStatus {
        self.placed
            .as_ref()
            .map_or(OrderStatus::New, PlacedOrder::status)
    }
}

/// Applies one event. Total: it never fails and holds no rules, because an
/// event is a fact that `decide` already checked. An event that does not fit
/// the state (which `decide` never produces) still bumps the version, so that
/// versions always count events.
pub fn evolve(mut order: Order, event: &OrderEvent) -> Order {
    order.version += 1;
    if let OrderEvent::OrderPlaced(placed) = event {
        order.placed = Some(PlacedOrder {
            order_id: placed.order_id.clone(),
            customer_id: placed.customer_id.clone(),
            channel: placed.channel.clone(),
            currency: placed.currency,
            lines: placed.lines.iter().map(new_line).collect(),
            shipping_address: placed.shipping_address.clone(),
            tracking_token: placed.tracking_token.clone(),
            placed_at: placed.placed_at,
            is_picked: false,
            cancellation_reason: None,
            shipments: Vec::new(),
            returns: Vec::new(),
            allocations: Vec::new(),
            backordered: Vec::new(),
            routing: Vec::new(),
        });
        return order;
    }
    if let Some(placed) = order.placed.as_mut() {
        apply_to_placed(placed, event);
    }
    order
}

fn new_line(line: &PricedLine) -> OrderLine {
    OrderLine {
        sku: line.sku.clone(),
        quantity: line.quantity.get(),
        unit_price_minor: line.unit_price_minor,
        shipped: 0,
        delivered: 0,
        returned: 0,
    }
}

fn apply_to_placed(order: &mut PlacedOrder, event: &OrderEvent) {
    match event {
        OrderEvent::OrderPlaced(_) => {}
        OrderEvent::OrderLinesChanged(changed) => {
            order.lines = changed.lines.iter().map(new_line).collect();
        }
        OrderEvent::ShippingAddressChanged(changed) => {
            order.shipping_address = changed.shipping_address.clone();
        }
        OrderEvent::OrderPicked(_) => order.is_picked = true,
        OrderEvent::OrderCancelled(cancelled) => {
            order.cancellation_reason = Some(cancelled.reason.clone());
        }
        OrderEvent::ShipmentDispatched(dispatched) => {
            for item in &dispatched.lines {
                if let Some(line) = order.line_mut(&item.sku) {
                    line.shipped += item.quantity.get();
                }
            }
            order.shipments.push(Shipment {
                shipment_id: dispatched.shipment_id.clone(),
                location_id: dispatched.location_id.clone(),
                carrier: dispatched.carrier.clone(),
                tracking_number: dispatched.tracking_number.clone(),
                lines: dispatched.lines.clone(),
                delivered_at: None,
            });
        }
        OrderEvent::ShipmentDelivered(delivered) => deliver(order, delivered),
        OrderEvent::OrderRouted(routed) => route(order, routed),
        OrderEvent::OrderBackordered(backordered) => {
            order.backordered = backordered.lines.clone();
        }
        OrderEvent::RoutingReleased(_) => {
            order.allocations.clear();
            order.backordered.clear();
        }
        OrderEvent::ReturnReceived(received) => {
            for item in &received.lines {
                if let Some(line) = order.line_mut(&item.sku) {
                    line.returned += item.quantity.get();
                }
            }
            order.returns.push(ReturnRecord {
                return_id: received.return_id.clone(),
                lines: received.lines.clone(),
                reason: received.reason.clone(),
            });
        }
    }
}

/// Adds the allocations; units allocated are no longer backordered.
fn route(order: &mut PlacedOrder, routed: &OrderRouted) {
    order.allocations.extend(routed.allocations.iter().cloned());
    order.backordered = backorder_after(&order.backordered, &routed.allocations);
    order.routing.push(RoutingDecision {
        allocations: routed.allocations.clone(),
        policy_version: routed.policy_version,
        plan_score: routed.plan_score,
        scores: routed.scores.clone(),
        cause: routed.cause.clone(),
    });
}

/// The backordered lines left once `allocations` are made.
pub fn backorder_after(backordered: &[ItemLine], allocations: &[Allocation]) -> Vec<ItemLine> {
    backordered
        .iter()
        .filter_map(|line| {
            let allocated: u32 = allocations
                .iter()
                .filter(|a| a.sku == line.sku)
                .map(|a| a.quantity.get())
                .sum();
            let left = line.quantity.get().saturating_sub(allocated);
            let quantity = Quantity::parse(i64::from(left)).ok()?;
            Some(ItemLine {
                sku: line.sku.clone(),
                quantity,
            })
        })
        .collect()
}

fn deliver(order: &mut PlacedOrder, delivered: &ShipmentDelivered) {
    let Some(shipment) = order
        .shipments
        .iter_mut()
        .find(|s| s.shipment_id == delivered.shipment_id)
    else {
        return;
    };
    shipment.delivered_at = Some(delivered.delivered_at);
    let items = shipment.lines.clone();
    for item in &items {
        if let Some(line) = order.line_mut(&item.sku) {
            line.delivered += item.quantity.get();
        }
    }
}
