//! Order commands: what a client asks for, already parsed into domain types.

use super::event::{ItemLine, PricedLine};
use crate::routing::RoutingPlan;
use crate::{Address, ChannelId, Currency, CustomerId, LocationId, OrderId};
use crate::{ReturnId, ShipmentId, Timestamp};

#[derive(Debug, Clone, PartialEq)]
pub struct PlaceOrder {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub channel: ChannelId,
    pub currency: Currency,
    pub lines: Vec<PricedLine>,
    pub shipping_address: Address,
    /// Chosen by the caller (from a secure random source) so that `decide`
    /// stays deterministic.
    pub tracking_token: String,
}

/// Replaces the lines, the address, or both. `None` leaves a part unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct ModifyOrder {
    pub lines: Option<Vec<PricedLine>>,
    pub shipping_address: Option<Address>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickOrder {
    pub location_id: Option<LocationId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelOrder {
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipOrder {
    pub shipment_id: ShipmentId,
    pub location_id: LocationId,
    pub carrier: String,
    pub tracking_number: String,
    pub lines: Vec<ItemLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverShipment {
    pub shipment_id: ShipmentId,
    pub delivered_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnItems {
    pub return_id: ReturnId,
    pub lines: Vec<ItemLine>,
    pub reason: String,
}

/// Record a routing decision (the routing process's command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOrder {
    pub plan: RoutingPlan,
    pub policy_version: u64,
    /// The id of the event the routing process reacted to.
    pub cause: String,
}

/// Give up the order's allocations so that it is routed again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRouting {
    pub reason: String,
}

/// Everything a client may ask of an order.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderCommand {
    Place(PlaceOrder),
    Modify(ModifyOrder),
    Pick(PickOrder),
    Cancel(CancelOrder),
    Ship(ShipOrder),
    Deliver(DeliverShipment),
    Return(ReturnItems),
    Route(RouteOrder),
    Release(ReleaseRouting),
}

impl OrderCommand {
    /// A stable name for logs and spans.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Place(_) => "place_order",
            Self::Modify(_) => "modify_order",
            Self::Pick(_) => "pick_order",
            Self::Cancel(_) => "cancel_order",
            Self::Ship(_) => "ship_order",
            Self::Deliver(_) => "deliver_shipment",
            Self::Return(_) => "return_items",
            Self::Route(_) => "route_order",
            Self::Release(_) => "release_routing",
        }
    }
}
