//! The broken rules of the order aggregate.

use super::OrderStatus;
use crate::{LocationId, ReturnId, ShipmentId, Sku};
use std::fmt;

/// One variant per rule that a command can break. Each carries what a
/// client needs to understand and fix the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderError {
    /// The order does not exist yet; only `Place` may start it.
    NotPlaced,
    /// `Place` on an order id that is taken.
    AlreadyPlaced {
        status: OrderStatus,
    },
    NoLines,
    TooManyLines {
        max: usize,
        count: usize,
    },
    /// The same SKU appears twice in one list; `index` is the second one.
    DuplicateSku {
        sku: Sku,
        index: usize,
    },
    TotalTooLarge,
    /// Lines and address may change only until the order is picked.
    NotModifiable {
        status: OrderStatus,
    },
    NotCancellable {
        status: OrderStatus,
    },
    NotPickable {
        status: OrderStatus,
    },
    NotShippable {
        status: OrderStatus,
    },
    DuplicateShipment {
        shipment_id: ShipmentId,
    },
    /// A shipped or returned SKU that is not on the order.
    UnknownSku {
        sku: Sku,
        index: usize,
    },
    ShipsMoreThanOrdered {
        sku: Sku,
        index: usize,
        remaining: u32,
    },
    UnknownShipment {
        shipment_id: ShipmentId,
    },
    AlreadyDelivered {
        shipment_id: ShipmentId,
    },
    DeliveredInFuture,
    DuplicateReturn {
        return_id: ReturnId,
    },
    ReturnsMoreThanDelivered {
        sku: Sku,
        index: usize,
        returnable: u32,
    },
    /// Routing is possible only while something is waiting to be routed
    /// and the order is not cancelled.
    NotRoutable {
        status: OrderStatus,
    },
    /// The routing decision was made for other lines than the order has now
    /// (it changed while the decision was made).
    RoutingOutdated,
    /// Routing can be released only before the goods are picked.
    NotReroutable {
        status: OrderStatus,
    },
    /// A shipment must leave from a location the order is allocated to, and
    /// carry no more than is allocated there.
    NotAllocatedHere {
        sku: Sku,
        index: usize,
        location_id: LocationId,
        allocated: u32,
    },
}

/// How a broken rule reads to a client: bad input or a clash with the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderErrorKind {
    /// The request itself is wrong, whatever the order's state.
    Invalid,
    /// The request is well-formed but the order's state forbids it.
    Conflict,
    /// The order does not exist.
    NotFound,
}

impl OrderError {
    pub fn kind(&self) -> OrderErrorKind {
        match self {
            Self::NotPlaced => OrderErrorKind::NotFound,
            Self::NoLines
            | Self::TooManyLines { .. }
            | Self::DuplicateSku { .. }
            | Self::TotalTooLarge
            | Self::UnknownSku { .. }
            | Self::DeliveredInFuture => OrderErrorKind::Invalid,
            _ => OrderErrorKind::Conflict,
        }
    }

    /// A stable, machine-readable name of the rule.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotPlaced => "order-not-found",
            Self::AlreadyPlaced { .. } => "order-already-placed",
            Self::NoLines => "no-lines",
            Self::TooManyLines { .. } => "too-many-lines",
            Self::DuplicateSku { .. } => "duplicate-sku",
            Self::TotalTooLarge => "total-too-large",
            Self::NotModifiable { .. } => "order-not-modifiable",
            Self::NotCancellable { .. } => "order-not-cancellable",
            Self::NotPickable { .. } => "order-not-pickable",
            Self::NotShippable { .. } => "order-not-shippable",
            Self::DuplicateShipment { .. } => "duplicate-shipment",
            Self::UnknownSku { .. } => "unknown-sku",
            Self::ShipsMoreThanOrdered { .. } => "ships-more-than-ordered",
            Self::UnknownShipment { .. } => "unknown-shipment",
            Self::AlreadyDelivered { .. } => "already-delivered",
            Self::DeliveredInFuture => "delivered-in-future",
            Self::DuplicateReturn { .. } => "duplicate-return",
            Self::ReturnsMoreThanDelivered { .. } => "returns-more-than-delivered",
            Self::NotRoutable { .. } => "order-not-routable",
            Self::RoutingOutdated => "routing-outdated",
            Self::NotReroutable { .. } => "order-not-reroutable",
            Self::NotAllocatedHere { .. } => "not-allocated-here",
        }
    }

    /// The JSON pointer, relative to the request body, of the field at fault.
    pub fn field(&self) -> Option<String> {
        match self {
            Self::NoLines | Self::TooManyLines { .. } | Self::TotalTooLarge => {
                Some("/lines".to_owned())
            }
            Self::DuplicateSku { index, .. } | Self::UnknownSku { index, .. } => {
                Some(format!("/lines/{index}/sku"))
            }
            Self::ShipsMoreThanOrdered { index, .. }
            | Self::NotAllocatedHere { index, .. }
            | Self::ReturnsMoreThanDelivered { index, .. } => {
                Some(format!("/lines/{index}/quantity"))
            }
            Self::DeliveredInFuture => Some("/delivered_at".to_owned()),
            Self::DuplicateShipment { .. } => Some("/shipment_id".to_owned()),
            Self::UnknownShipment { .. } | Self::AlreadyDelivered { .. } => {
                Some("/shipment_id".to_owned())
            }
            Self::DuplicateReturn { .. } => Some("/return_id".to_owned()),
            _ => None,
        }
    }

    /// The order's status, for errors that clash with it.
    pub fn status(&self) -> Option<OrderStatus> {
        match self {
            Self::AlreadyPlaced { status }
            | Self::NotModifiable { status }
            | Self::NotCancellable { status }
            | Self::NotPickable { status }
            | Self::NotShippable { status }
            | Self::NotRoutable { status }
            | Self::NotReroutable { status } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotPlaced => f.write_str("the order does not exist"),
            Self::AlreadyPlaced { status } => {
                write!(f, "an order with this id exists already (status {status})")
            }
            Self::NoLines => f.write_str("an order needs at least one line"),
            Self::TooManyLines { max, count } => {
                write!(f, "an order may have at most {max} lines, got {count}")
            }
            Self::DuplicateSku { sku, .. } => {
                write!(f, "SKU {sku} appears more than once; merge the lines")
            }
            Self::TotalTooLarge => f.write_str("the order total exceeds the allowed maximum"),
            Self::NotModifiable { status } => write!(
                f,
                "lines and address can change only until the order is picked; status is {status}"
            ),
            Self::NotCancellable { status } => {
                write!(
                    f,
                    "the order can no longer be cancelled; status is {status}"
                )
            }
            Self::NotPickable { status } => {
                write!(f, "only a routed order can be picked; status is {status}")
            }
            Self::NotShippable { status } => {
                write!(f, "the order cannot ship in its current status {status}")
            }
            Self::DuplicateShipment { shipment_id } => {
                write!(f, "shipment {shipment_id} was recorded already")
            }
            Self::UnknownSku { sku, .. } => write!(f, "SKU {sku} is not on this order"),
            Self::ShipsMoreThanOrdered { sku, remaining, .. } => {
                write!(f, "only {remaining} of SKU {sku} remain to ship")
            }
            Self::UnknownShipment { shipment_id } => {
                write!(f, "shipment {shipment_id} is not part of this order")
            }
            Self::AlreadyDelivered { shipment_id } => {
                write!(f, "shipment {shipment_id} was delivered already")
            }
            Self::DeliveredInFuture => f.write_str("delivered_at lies in the future"),
            Self::DuplicateReturn { return_id } => {
                write!(f, "return {return_id} was recorded already")
            }
            Self::ReturnsMoreThanDelivered {
                sku, returnable, ..
            } => {
                write!(
                    f,
                    "only {returnable} delivered items of SKU {sku} can be returned"
                )
            }
            Self::NotRoutable { status } => {
                write!(
                    f,
                    "nothing of the order waits for routing; status is {status}"
                )
            }
            Self::RoutingOutdated => {
                f.write_str("the routing decision no longer matches the order's lines")
            }
            Self::NotReroutable { status } => write!(
                f,
                "routing can be released only until the order is picked; status is {status}"
            ),
            Self::NotAllocatedHere {
                sku,
                location_id,
                allocated,
                ..
            } => write!(
                f,
                "only {allocated} of SKU {sku} are allocated to location {location_id} and \
                 not shipped yet; an operator must re-route the order first"
            ),
        }
    }
}

impl std::error::Error for OrderError {}
