//! The bindings of the domain aggregates (orders, customers) to the log.

use crate::Aggregate;
use ordo_domain::customer::evolve_customer;
use ordo_domain::{evolve, Customer, CustomerEvent, Order, OrderEvent, OrderStatus};

/// What a repeated order request needs to give its first answer again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderReceipt {
    pub status: OrderStatus,
    pub tracking_token: Option<String>,
}

impl Aggregate for Order {
    type Event = OrderEvent;
    type Receipt = OrderReceipt;

    const KIND: &'static str = "order";

    fn apply(self, event: &OrderEvent) -> Self {
        evolve(self, event)
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn schema_version(event: &OrderEvent) -> u32 {
        event.schema_version()
    }

    fn data_subject(&self, events: &[OrderEvent]) -> Option<String> {
        let placed_by = events.iter().find_map(|e| match e {
            OrderEvent::OrderPlaced(placed) => Some(placed.customer_id.to_string()),
            _ => None,
        });
        placed_by.or_else(|| self.placed.as_ref().map(|p| p.customer_id.to_string()))
    }

    fn receipt(&self) -> OrderReceipt {
        OrderReceipt {
            status: self.status(),
            tracking_token: self.placed.as_ref().map(|p| p.tracking_token.clone()),
        }
    }
}

impl Aggregate for Customer {
    type Event = CustomerEvent;
    type Receipt = ();

    const KIND: &'static str = "customer";

    fn apply(self, event: &CustomerEvent) -> Self {
        evolve_customer(self, event)
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn schema_version(_: &CustomerEvent) -> u32 {
        1
    }

    fn receipt(&self) {}
}
