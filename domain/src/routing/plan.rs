//! The routing decision itself, free of IO.
//!
//! Each eligible location gets a score in points. Then a few candidate plans
//! are built (each location alone, and splits taken greedily by score and by
//! coverage, up to the policy's number of shipments) and the best is chosen:
//! the plan that covers the most units, then the highest plan score (the
//! unit-weighted mean of its locations' scores minus the split penalty per
//! extra shipment), then the fewest shipments. Whatever no plan covers is
//! backordered.

use super::{Allocation, RoutingPolicy};
use crate::address::Coordinates;
use crate::location::{LocationProfile, LocationStatus};
use crate::order::ItemLine;
use crate::{LocationId, Quantity, Sku};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A location the routing process could use, with what it offers now.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub location_id: LocationId,
    pub profile: LocationProfile,
    /// Whether the location handles an order routed now today (computed by
    /// the caller in the location's own time zone).
    pub is_open_now: bool,
    /// Orders the location can still take today.
    pub capacity_left: u32,
    /// Units of each SKU the order may take here: the available stock plus
    /// whatever the order already holds here.
    pub available: BTreeMap<Sku, u32>,
}

/// Why a location was not considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    Paused,
    CapacityExhausted,
    NoStock,
}

/// How one location scored, and from what. Stored in `OrderRouted`, so that
/// a decision can be explained later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationScore {
    pub location_id: LocationId,
    /// Units of the requested lines the location could supply.
    pub units_available: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<u32>,
    pub priority_points: i64,
    pub capacity_points: i64,
    pub distance_points: i64,
    pub closed_points: i64,
    pub total: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded: Option<Exclusion>,
}

/// The decision: what goes where, what waits, and the scores behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingPlan {
    pub allocations: Vec<Allocation>,
    pub backordered: Vec<ItemLine>,
    pub plan_score: i64,
    pub scores: Vec<LocationScore>,
}

/// Decides where `lines` are fulfilled. Deterministic: equal inputs give
/// equal plans, ties going to the lower location id.
pub fn plan_route(
    lines: &[ItemLine],
    destination: Option<Coordinates>,
    candidates: &[Candidate],
    policy: &RoutingPolicy,
) -> RoutingPlan {
    let mut scores: Vec<LocationScore> = candidates
        .iter()
        .map(|c| score(c, lines, destination, policy))
        .collect();
    scores.sort_by(|a, b| a.location_id.cmp(&b.location_id));
    let mut eligible: Vec<(&Candidate, i64)> = candidates
        .iter()
        .filter_map(|c| {
            let s = scores.iter().find(|s| s.location_id == c.location_id)?;
            s.excluded.is_none().then_some((c, s.total))
        })
        .collect();
    eligible.sort_by(|(a, sa), (b, sb)| sb.cmp(sa).then(a.location_id.cmp(&b.location_id)));

    let max_shipments = policy.max_shipments.max(1) as usize;
    let mut plans: Vec<Vec<&(&Candidate, i64)>> = eligible.iter().map(|e| vec![e]).collect();
    plans.push(greedy(lines, &eligible, max_shipments, false));
    plans.push(greedy(lines, &eligible, max_shipments, true));
    let best = plans
        .iter()
        .map(|plan| build(lines, plan, policy))
        .max_by(|a, b| {
            a.covered
                .cmp(&b.covered)
                .then(a.plan_score.cmp(&b.plan_score))
                .then(b.shipments.cmp(&a.shipments))
                .then(b.ids.cmp(&a.ids))
        });
    let (allocations, plan_score, remaining) = match best {
        Some(plan) if plan.covered > 0 => (plan.allocations, plan.plan_score, plan.remaining),
        _ => (Vec::new(), 0, demand(lines)),
    };
    RoutingPlan {
        allocations,
        backordered: item_lines(&remaining),
        plan_score,
        scores,
    }
}

fn score(
    candidate: &Candidate,
    lines: &[ItemLine],
    destination: Option<Coordinates>,
    policy: &RoutingPolicy,
) -> LocationScore {
    let profile = &candidate.profile;
    let units_available: u32 = lines
        .iter()
        .map(|l| {
            let here = candidate.available.get(&l.sku).copied().unwrap_or(0);
            l.quantity.get().min(here)
        })
        .sum();
    let distance_km = destination.map(|d| distance_km(profile.coordinates, d));
    let priority_points = i64::from(profile.priority) * i64::from(policy.priority_weight);
    let capacity_points = i64::from(policy.capacity_weight)
        * i64::from(candidate.capacity_left.min(profile.daily_capacity))
        / i64::from(profile.daily_capacity.max(1));
    let distance_points =
        -(i64::from(distance_km.unwrap_or(0)) * i64::from(policy.distance_weight) / 100);
    let closed_points = if candidate.is_open_now {
        0
    } else {
        -i64::from(policy.closed_penalty)
    };
    let excluded = if profile.status == LocationStatus::Paused {
        Some(Exclusion::Paused)
    } else if candidate.capacity_left == 0 {
        Some(Exclusion::CapacityExhausted)
    } else if units_available == 0 {
        Some(Exclusion::NoStock)
    } else {
        None
    };
    LocationScore {
        location_id: candidate.location_id.clone(),
        units_available,
        distance_km,
        priority_points,
        capacity_points,
        distance_points,
        closed_points,
        total: priority_points + capacity_points + distance_points + closed_points,
        excluded,
    }
}

/// Great-circle distance in whole kilometres (haversine).
fn distance_km(a: Coordinates, b: Coordinates) -> u32 {
    const EARTH_RADIUS_KM: f64 = 6371.0;
    let (lat1, lat2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.longitude - a.longitude).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    let km = 2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin();
    // Bounded by half the earth's circumference, so the cast cannot truncate.
    km.round() as u32
}

/// Picks locations one after another, each time the one that scores best
/// (or, with `by_coverage`, that covers the most of what is left), until all
/// is covered or the shipment limit is reached.
fn greedy<'a>(
    lines: &[ItemLine],
    eligible: &'a [(&'a Candidate, i64)],
    max_shipments: usize,
    by_coverage: bool,
) -> Vec<&'a (&'a Candidate, i64)> {
    let mut remaining = demand(lines);
    let mut chosen: Vec<&(&Candidate, i64)> = Vec::new();
    while chosen.len() < max_shipments && remaining.values().any(|q| *q > 0) {
        let next = eligible
            .iter()
            .filter(|e| !chosen.iter().any(|c| c.0.location_id == e.0.location_id))
            .map(|e| (e, coverage(e.0, &remaining)))
            .filter(|(_, covered)| *covered > 0)
            // `eligible` is sorted by score, so the first maximum wins ties.
            .fold(
                None::<(&(&Candidate, i64), u32)>,
                |best, (e, covered)| match best {
                    Some((_, best_covered)) if !by_coverage || covered <= best_covered => best,
                    _ => Some((e, covered)),
                },
            );
        let Some((next, _)) = next else { break };
        take(next.0, &mut remaining);
        chosen.push(next);
    }
    chosen
}

fn demand(lines: &[ItemLine]) -> BTreeMap<Sku, u32> {
    let mut demand = BTreeMap::new();
    for line in lines {
        *demand.entry(line.sku.clone()).or_insert(0) += line.quantity.get();
    }
    demand
}

fn coverage(candidate: &Candidate, remaining: &BTreeMap<Sku, u32>) -> u32 {
    remaining
        .iter()
        .map(|(sku, want)| (*want).min(candidate.available.get(sku).copied().unwrap_or(0)))
        .sum()
}

/// Takes what `candidate` can give from `remaining`; returns the allocations.
fn take(candidate: &Candidate, remaining: &mut BTreeMap<Sku, u32>) -> Vec<Allocation> {
    let mut allocations = Vec::new();
    for (sku, want) in remaining.iter_mut() {
        let here = candidate.available.get(sku).copied().unwrap_or(0);
        let taken = (*want).min(here);
        if let Ok(quantity) = Quantity::parse(i64::from(taken)) {
            *want -= taken;
            allocations.push(Allocation {
                location_id: candidate.location_id.clone(),
                sku: sku.clone(),
                quantity,
            });
        }
    }
    allocations
}

fn item_lines(remaining: &BTreeMap<Sku, u32>) -> Vec<ItemLine> {
    remaining
        .iter()
        .filter_map(|(sku, quantity)| {
            let quantity = Quantity::parse(i64::from(*quantity)).ok()?;
            Some(ItemLine {
                sku: sku.clone(),
                quantity,
            })
        })
        .collect()
}

/// One candidate plan, evaluated.
struct Built {
    allocations: Vec<Allocation>,
    remaining: BTreeMap<Sku, u32>,
    covered: u32,
    plan_score: i64,
    shipments: usize,
    ids: Vec<LocationId>,
}

fn build(lines: &[ItemLine], plan: &[&(&Candidate, i64)], policy: &RoutingPolicy) -> Built {
    let mut remaining = demand(lines);
    let mut allocations = Vec::new();
    let (mut weighted, mut covered, mut shipments) = (0_i64, 0_u32, 0_usize);
    for (candidate, total) in plan {
        let taken = take(candidate, &mut remaining);
        let units: u32 = taken.iter().map(|a| a.quantity.get()).sum();
        if units == 0 {
            continue;
        }
        weighted += total * i64::from(units);
        covered += units;
        shipments += 1;
        allocations.extend(taken);
    }
    let extra = i64::try_from(shipments.saturating_sub(1)).unwrap_or(i64::MAX);
    let plan_score = if covered == 0 {
        0
    } else {
        weighted / i64::from(covered) - extra.saturating_mul(i64::from(policy.split_penalty))
    };
    let mut ids: Vec<LocationId> = allocations.iter().map(|a| a.location_id.clone()).collect();
    ids.dedup();
    Built {
        allocations,
        remaining,
        covered,
        plan_score,
        shipments,
        ids,
    }
}
