//! The stock aggregate: one SKU at one location (`ordo.stock.<loc>.<sku>`).
//!
//! It keeps what is physically there (`on_hand`), what is promised to orders
//! (`reserved`, per order) and what is on its way (`incoming`). Its one hard
//! rule is that nothing is promised twice: `available = on_hand - reserved`
//! never goes below zero, so a reservation that does not fit is refused
//! rather than oversold (DESIGN.md, "Routing").
//!
//! Reservations are set as a total per order (`Reserve { total }`), not
//! added, so that the routing process can repeat a step after a crash
//! without reserving twice.

use crate::{OrderId, Quantity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Stock of one SKU at one location.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stock {
    pub version: u64,
    pub on_hand: i64,
    /// Units promised to each order and not yet shipped.
    pub reservations: BTreeMap<OrderId, u32>,
    /// Units expected, by the id of their delivery.
    pub incoming: BTreeMap<String, u32>,
}

impl Stock {
    pub fn reserved(&self) -> i64 {
        self.reservations.values().map(|q| i64::from(*q)).sum()
    }

    /// What can still be promised.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved()
    }

    pub fn incoming_total(&self) -> i64 {
        self.incoming.values().map(|q| i64::from(*q)).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockCommand {
    /// Goods arrived; `incoming_id` closes a scheduled delivery if given.
    Receive {
        quantity: Quantity,
        incoming_id: Option<String>,
    },
    /// A stock take: the absolute count, with why.
    Count { counted: u32, reason: String },
    /// A relative correction (damage, found goods), with why.
    Correct { delta: i64, reason: String },
    /// Sets the order's reservation here to `total` units: more reserves
    /// the difference, fewer releases it, the same changes nothing.
    Reserve { order_id: OrderId, total: u32 },
    /// Releases whatever the order holds here (nothing if it holds nothing).
    Release { order_id: OrderId },
    /// A shipment left: the order's reserved units leave the building.
    Consume {
        order_id: OrderId,
        quantity: Quantity,
    },
    ScheduleIncoming {
        incoming_id: String,
        quantity: Quantity,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum StockEvent {
    StockReceived {
        quantity: Quantity,
        incoming_id: Option<String>,
    },
    StockCounted {
        counted: u32,
        previous_on_hand: i64,
        reason: String,
    },
    StockCorrected {
        delta: i64,
        reason: String,
    },
    /// `quantity` more units are promised to the order.
    StockReserved {
        order_id: OrderId,
        quantity: Quantity,
    },
    /// `quantity` of the order's units are free again.
    ReservationReleased {
        order_id: OrderId,
        quantity: u32,
    },
    StockConsumed {
        order_id: OrderId,
        quantity: Quantity,
    },
    IncomingScheduled {
        incoming_id: String,
        quantity: Quantity,
    },
}

/// The broken rules of the stock aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockError {
    /// Fewer units are available than the reservation asks for.
    InsufficientStock {
        available: i64,
    },
    NoReservation {
        order_id: OrderId,
    },
    /// More units would leave than the order has reserved.
    ConsumesMoreThanReserved {
        reserved: u32,
    },
    /// A count or correction would leave less on hand than is promised:
    /// release or re-route the reservations first.
    BelowReserved {
        reserved: i64,
    },
    ZeroCorrection,
    UnknownIncoming {
        incoming_id: String,
    },
    DuplicateIncoming {
        incoming_id: String,
    },
}

impl fmt::Display for StockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InsufficientStock { available } => {
                write!(f, "only {available} units are available")
            }
            Self::NoReservation { order_id } => {
                write!(f, "order {order_id} has no reservation here")
            }
            Self::ConsumesMoreThanReserved { reserved } => {
                write!(f, "only {reserved} units are reserved for this order")
            }
            Self::BelowReserved { reserved } => {
                write!(
                    f,
                    "{reserved} units are reserved; on hand cannot drop below that"
                )
            }
            Self::ZeroCorrection => f.write_str("a correction must change the stock"),
            Self::UnknownIncoming { incoming_id } => {
                write!(f, "no incoming delivery {incoming_id} is scheduled")
            }
            Self::DuplicateIncoming { incoming_id } => {
                write!(f, "incoming delivery {incoming_id} is scheduled already")
            }
        }
    }
}

impl std::error::Error for StockError {}

/// Decides what a stock command does.
pub fn decide_stock(stock: &Stock, command: StockCommand) -> Result<Vec<StockEvent>, StockError> {
    let event =
        match command {
            StockCommand::Receive {
                quantity,
                incoming_id,
            } => {
                if let Some(id) = &incoming_id {
                    if !stock.incoming.contains_key(id) {
                        return Err(StockError::UnknownIncoming {
                            incoming_id: id.clone(),
                        });
                    }
                }
                StockEvent::StockReceived {
                    quantity,
                    incoming_id,
                }
            }
            StockCommand::Count { counted, reason } => {
                if i64::from(counted) < stock.reserved() {
                    return Err(StockError::BelowReserved {
                        reserved: stock.reserved(),
                    });
                }
                StockEvent::StockCounted {
                    counted,
                    previous_on_hand: stock.on_hand,
                    reason,
                }
            }
            StockCommand::Correct { delta, reason } => {
                if delta == 0 {
                    return Err(StockError::ZeroCorrection);
                }
                if stock.on_hand + delta < stock.reserved() {
                    return Err(StockError::BelowReserved {
                        reserved: stock.reserved(),
                    });
                }
                StockEvent::StockCorrected { delta, reason }
            }
            StockCommand::Reserve { order_id, total } => return reserve(stock, order_id, total),
            StockCommand::Release { order_id } => return reserve(stock, order_id, 0),
            StockCommand::Consume { order_id, quantity } => {
                let reserved = *stock.reservations.get(&order_id).ok_or_else(|| {
                    StockError::NoReservation {
                        order_id: order_id.clone(),
                    }
                })?;
                if quantity.get() > reserved {
                    return Err(StockError::ConsumesMoreThanReserved { reserved });
                }
                StockEvent::StockConsumed { order_id, quantity }
            }
            StockCommand::ScheduleIncoming {
                incoming_id,
                quantity,
            } => {
                if stock.incoming.contains_key(&incoming_id) {
                    return Err(StockError::DuplicateIncoming { incoming_id });
                }
                StockEvent::IncomingScheduled {
                    incoming_id,
                    quantity,
                }
            }
        };
    Ok(vec![event])
}

fn reserve(stock: &Stock, order_id: OrderId, total: u32) -> Result<Vec<StockEvent>, StockError> {
    let held = stock.reservations.get(&order_id).copied().unwrap_or(0);
    if total < held {
        return Ok(vec![StockEvent::ReservationReleased {
            order_id,
            quantity: held - total,
        }]);
    }
    let Ok(more) = Quantity::parse(i64::from(total - held)) else {
        // Nothing more to reserve (or more than one reservation may hold,
        // which the quantity check below would refuse anyway).
        if total == held {
            return Ok(Vec::new());
        }
        return Err(StockError::InsufficientStock {
            available: stock.available(),
        });
    };
    if i64::from(more.get()) > stock.available() {
        return Err(StockError::InsufficientStock {
            available: stock.available(),
        });
    }
    Ok(vec![StockEvent::StockReserved {
        order_id,
        quantity: more,
    }])
}

/// Applies one stock event.
pub fn evolve_stock(mut stock: Stock, event: &StockEvent) -> Stock {
    stock.version += 1;
    match event {
        StockEvent::StockReceived {
            quantity,
            incoming_id,
        } => {
            stock.on_hand += i64::from(quantity.get());
            if let Some(id) = incoming_id {
                stock.incoming.remove(id);
            }
        }
        StockEvent::StockCounted { counted, .. } => stock.on_hand = i64::from(*counted),
        StockEvent::StockCorrected { delta, .. } => stock.on_hand += delta,
        StockEvent::StockReserved { order_id, quantity } => {
            *stock.reservations.entry(order_id.clone()).or_insert(0) += quantity.get();
        }
        StockEvent::ReservationReleased { order_id, quantity } => {
            if let Some(reserved) = stock.reservations.get_mut(order_id) {
                *reserved = reserved.saturating_sub(*quantity);
                if *reserved == 0 {
                    stock.reservations.remove(order_id);
                }
            }
        }
        StockEvent::StockConsumed { order_id, quantity } => {
            stock.on_hand -= i64::from(quantity.get());
            if let Some(reserved) = stock.reservations.get_mut(order_id) {
                *reserved = reserved.saturating_sub(quantity.get());
                if *reserved == 0 {
                    stock.reservations.remove(order_id);
                }
            }
        }
        StockEvent::IncomingScheduled {
            incoming_id,
            quantity,
        } => {
            stock.incoming.insert(incoming_id.clone(), quantity.get());
        }
    }
    stock
}

#[cfg(test)]
mod tests;
