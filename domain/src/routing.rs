//! Routing: which locations fulfil an order, and why.
//!
//! The policy is an aggregate of its own (`ordo.policy.routing`), so every
//! change is an event and every decision can name the policy version that
//! made it. [`plan_route`] is the pure decision: given the lines to route,
//! the destination, the candidate locations with what they can offer and the
//! policy, it returns the allocations, the lines that must wait for stock,
//! and the score of every candidate. Scores are integer points so that a
//! decision hashes and replays exactly.

mod plan;

pub use plan::{plan_route, Candidate, Exclusion, LocationScore, RoutingPlan};

use crate::field::FieldErrors;
use crate::{LocationId, Quantity, Sku};
use serde::{Deserialize, Serialize};

/// The most shipments one order may be split into.
pub const MAX_SHIPMENTS: u32 = 10;

/// The most points any single weight may carry.
pub const MAX_WEIGHT: u32 = 1_000_000;

/// How the routing process weighs candidate locations. All values are
/// points; a location's score is its priority and spare capacity minus its
/// distance and a penalty when it cannot handle the order today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingPolicy {
    /// Points subtracted per 100 km between the location and the destination.
    pub distance_weight: u32,
    /// Points per step of the location's priority (0..=100).
    pub priority_weight: u32,
    /// Points for a location with its whole daily capacity left, scaled down
    /// as the capacity is used.
    pub capacity_weight: u32,
    /// Points subtracted when the location is closed today or past its
    /// cut-off time.
    pub closed_penalty: u32,
    /// Points subtracted per shipment beyond the first.
    pub split_penalty: u32,
    /// The most locations (shipments) one order may be split over.
    pub max_shipments: u32,
}

impl Default for RoutingPolicy {
    fn default() -> Self {
        Self {
            distance_weight: 10,
            priority_weight: 1,
            capacity_weight: 20,
            closed_penalty: 50,
            split_penalty: 100,
            max_shipments: 2,
        }
    }
}

impl RoutingPolicy {
    pub fn validate(&self, errors: &mut FieldErrors) {
        let weights = [
            ("/distance_weight", self.distance_weight),
            ("/priority_weight", self.priority_weight),
            ("/capacity_weight", self.capacity_weight),
            ("/closed_penalty", self.closed_penalty),
            ("/split_penalty", self.split_penalty),
        ];
        for (path, value) in weights {
            if value > MAX_WEIGHT {
                errors.push(path, format!("must be between 0 and {MAX_WEIGHT}"));
            }
        }
        if self.max_shipments == 0 || self.max_shipments > MAX_SHIPMENTS {
            errors.push(
                "/max_shipments",
                format!("must be between 1 and {MAX_SHIPMENTS}"),
            );
        }
    }
}

/// The routing policy's history: its version (0 until an operator sets one)
/// and the policy in force.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutingPolicyState {
    pub version: u64,
    pub policy: RoutingPolicy,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum RoutingPolicyEvent {
    RoutingPolicySet {
        policy: RoutingPolicy,
        reason: String,
    },
}

/// Sets the policy; setting the one in force changes nothing.
pub fn set_policy(
    state: &RoutingPolicyState,
    policy: RoutingPolicy,
    reason: String,
) -> Vec<RoutingPolicyEvent> {
    if state.version > 0 && state.policy == policy {
        return Vec::new();
    }
    vec![RoutingPolicyEvent::RoutingPolicySet { policy, reason }]
}

pub fn evolve_policy(
    mut state: RoutingPolicyState,
    event: &RoutingPolicyEvent,
) -> RoutingPolicyState {
    state.version += 1;
    let RoutingPolicyEvent::RoutingPolicySet { policy, reason } = event;
    state.policy = policy.clone();
    state.reason = Some(reason.clone());
    state
}

/// Units of one SKU promised by one location to an order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Allocation {
    pub location_id: LocationId,
    pub sku: Sku,
    pub quantity: Quantity,
}

#[cfg(test)]
mod tests;
