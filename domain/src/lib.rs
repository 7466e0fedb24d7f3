//! Ordo's domain model, free of IO.
//!
//! Everything a business rule needs arrives as an argument: the current
//! state, the command and the time. That makes every decision replayable from
//! the ledger (see `shared/DESIGN.md`, "Time, randomness and ids enter the
//! domain as arguments").
//!
//! - [`id`]: validated identifiers that are safe as NATS subject tokens.
//! - [`money`]: ISO 4217 currencies and amounts in integer minor units.
//! - [`quantity`]: positive item counts with a sane upper bound.
//! - [`address`]: the shipping address and its validation.
//! - [`personal`]: the marker for personal data, which can be erased.
//! - [`customer`]: the customer aggregate (erasure records).
//! - [`order`]: the order aggregate, its commands, events, `decide` and
//!   `evolve`.
//! - [`stock`]: stock of one SKU at one location; never oversold.
//! - [`location`]: stores and warehouses, as routing sees them.
//! - [`routing`]: the routing policy and the pure routing decision.
//! - [`erp`]: export records for the ERP, business days, reconciliation.
//! - [`field`]: the field-level validation errors shared by all parsers.

pub mod address;
pub mod customer;
pub mod erp;
pub mod field;
pub mod id;
pub mod location;
pub mod money;
pub mod order;
pub mod personal;
pub mod quantity;
pub mod routing;
pub mod stock;

pub use address::Address;
pub use customer::{Customer, CustomerEvent};
pub use field::{FieldError, FieldErrors};
pub use id::{
    ChannelId, CustomerId, Identifier, IdentifierError, LocationId, OrderId, ReturnId, ShipmentId,
    Sku,
};
pub use location::{Location, LocationEvent};
pub use money::{Currency, MinorUnits};
pub use order::{decide, evolve, Order, OrderCommand, OrderError, OrderEvent, OrderStatus};
pub use personal::Personal;
pub use quantity::Quantity;
pub use stock::{Stock, StockEvent};

/// A point in domain time. It always comes from outside the domain.
pub type Timestamp = time::OffsetDateTime;
