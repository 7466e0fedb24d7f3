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
    CancelOrder, DeliverShipment, ModifyOrder, OrderCommand, PickOrder, PlaceOrder, ReturnItems,
    ShipOrder,
};
pub use decide::{decide, DELIVERY_CLOCK_SKEW, MAX_LINES};
pub use error::{OrderError, OrderErrorKind};
pub use event::{
    ItemLine, OrderCancelled, OrderEvent, OrderLinesChanged, OrderPicked, OrderPlaced, PricedLine,
    ReturnReceived, ShipmentDelivered, ShipmentDispatched, ShippingAddressChanged,
};

use crate::{Address, ChannelId, Currency, CustomerId, LocationId, MinorUnits, OrderId, Personal};
use crate::{ReturnId, ShipmentId, Sku, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where an order stands. Derived from the order's quantities and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Not placed yet: the state before the first event.
    New,
    Placed,
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
