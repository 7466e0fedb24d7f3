//! Order events: facts in the past tense, and a contract on disk.
//!
//! Never rename a variant or a field: stored events name them. A changed shape
//! gets a new schema version and an upcaster in the ledger. Deserializing a
//! stored event re-validates ids and quantities; limits may therefore only be
//! widened, never narrowed, or old events would stop loading.

use crate::routing::{Allocation, LocationScore};
use crate::{Address, ChannelId, Currency, CustomerId, LocationId, MinorUnits, OrderId, Personal};
use crate::{Quantity, ReturnId, ShipmentId, Sku, Timestamp};
use serde::{Deserialize, Serialize};

/// A line with its price, as ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    pub sku: Sku,
    pub quantity: Quantity,
    pub unit_price_minor: MinorUnits,
}

/// A count of one SKU that moved (shipped or returned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemLine {
    pub sku: Sku,
    pub quantity: Quantity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub channel: ChannelId,
    pub currency: Currency,
    pub lines: Vec<PricedLine>,
    /// Personal data: stored encrypted with the customer's key.
    pub shipping_address: Personal<Address>,
    /// The customer's unguessable key to the tracking page.
    pub tracking_token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: Timestamp,
}

/// The lines were replaced as a whole; the new list is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLinesChanged {
    pub lines: Vec<PricedLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShippingAddressChanged {
    /// Personal data: stored encrypted with the customer's key.
    pub shipping_address: Personal<Address>,
}

/// The goods were picked; from now on lines and address are fixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPicked {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<LocationId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub reason: String,
}

/// A parcel left a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentDispatched {
    pub shipment_id: ShipmentId,
    pub location_id: LocationId,
    pub carrier: String,
    pub tracking_number: String,
    pub lines: Vec<ItemLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentDelivered {
    pub shipment_id: ShipmentId,
    #[serde(with = "time::serde::rfc3339")]
    pub delivered_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnReceived {
    pub return_id: ReturnId,
    pub lines: Vec<ItemLine>,
    pub reason: String,
}

/// The routing process chose where (part of) the order is fulfilled and
/// reserved the stock there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRouted {
    pub allocations: Vec<Allocation>,
    /// The version of the routing policy that decided.
    pub policy_version: u64,
    pub plan_score: i64,
    /// Every candidate location's score, the excluded ones with the reason.
    pub scores: Vec<LocationScore>,
    /// The id of the event the routing process reacted to.
    pub cause: String,
}

/// Lines no location can serve now; they are routed when stock arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderBackordered {
    /// Every line still waiting for stock: the complete list.
    pub lines: Vec<ItemLine>,
    pub policy_version: u64,
    pub cause: String,
}

/// The order's allocations and backorders were given up (the lines changed,
/// or an operator asked for a new routing); the stock reserved for them is
/// released and the order is routed again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingReleased {
    pub allocations: Vec<Allocation>,
    pub backordered: Vec<ItemLine>,
    pub reason: String,
}

/// Everything that can happen to an order. The serde form is
/// `{"type": "<variant>", "data": {...}}`; the type name is stable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum OrderEvent {
    OrderPlaced(OrderPlaced),
    OrderLinesChanged(OrderLinesChanged),
    ShippingAddressChanged(ShippingAddressChanged),
    OrderPicked(OrderPicked),
    OrderCancelled(OrderCancelled),
    ShipmentDispatched(ShipmentDispatched),
    ShipmentDelivered(ShipmentDelivered),
    ReturnReceived(ReturnReceived),
    OrderRouted(OrderRouted),
    OrderBackordered(OrderBackordered),
    RoutingReleased(RoutingReleased),
}

impl OrderEvent {
    /// The stable name stored in the envelope's `event_type`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::OrderPlaced(_) => "OrderPlaced",
            Self::OrderLinesChanged(_) => "OrderLinesChanged",
            Self::ShippingAddressChanged(_) => "ShippingAddressChanged",
            Self::OrderPicked(_) => "OrderPicked",
            Self::OrderCancelled(_) => "OrderCancelled",
            Self::ShipmentDispatched(_) => "ShipmentDispatched",
            Self::ShipmentDelivered(_) => "ShipmentDelivered",
            Self::ReturnReceived(_) => "ReturnReceived",
            Self::OrderRouted(_) => "OrderRouted",
            Self::OrderBackordered(_) => "OrderBackordered",
            Self::RoutingReleased(_) => "RoutingReleased",
        }
    }

    /// The schema version of the shape this code writes. Every order event is
    /// at version 1 so far.
    pub fn schema_version(&self) -> u32 {
        1
    }
}
