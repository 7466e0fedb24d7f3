//! The order aggregate's binding to the log.

use crate::Aggregate;
use ordo_domain::{evolve, Order, OrderEvent, OrderStatus};

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

    fn receipt(&self) -> OrderReceipt {
        OrderReceipt {
            status: self.status(),
            tracking_token: self.placed.as_ref().map(|p| p.tracking_token.clone()),
        }
    }
}
