//! The bindings of the domain aggregates to the log: orders, customers,
//! locations, stock (`stock.<location>.<sku>`) and the routing policy
//! (`policy.routing`).

use crate::Aggregate;
use ordo_domain::customer::evolve_customer;
use ordo_domain::erp::{evolve_erp_day, ErpDay, ErpDayEvent};
use ordo_domain::location::evolve_location;
use ordo_domain::routing::{evolve_policy, RoutingPolicyEvent, RoutingPolicyState};
use ordo_domain::stock::evolve_stock;
use ordo_domain::{evolve, Customer, CustomerEvent, Order, OrderEvent, OrderStatus};
use ordo_domain::{Location, LocationEvent, LocationId, Sku, Stock, StockEvent};

/// The id of the stock aggregate of `sku` at `location`: two subject tokens.
pub fn stock_id(location: &LocationId, sku: &Sku) -> String {
    format!("{location}.{sku}")
}

/// The id of the one routing policy aggregate.
pub const ROUTING_POLICY_ID: &str = "routing";

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

/// Aggregates whose commands need no receipt beyond their version.
macro_rules! plain_aggregate {
    ($state:ty, $event:ty, $kind:literal, $evolve:path) => {
        impl Aggregate for $state {
            type Event = $event;
            type Receipt = ();

            const KIND: &'static str = $kind;

            fn apply(self, event: &$event) -> Self {
                $evolve(self, event)
            }

            fn version(&self) -> u64 {
                self.version
            }

            fn schema_version(_: &$event) -> u32 {
                1
            }

            fn receipt(&self) {}
        }
    };
}

plain_aggregate!(Customer, CustomerEvent, "customer", evolve_customer);
plain_aggregate!(ErpDay, ErpDayEvent, "erpday", evolve_erp_day);
plain_aggregate!(Location, LocationEvent, "location", evolve_location);
plain_aggregate!(Stock, StockEvent, "stock", evolve_stock);
plain_aggregate!(
    RoutingPolicyState,
    RoutingPolicyEvent,
    "policy",
    evolve_policy
);
