use super::*;
use crate::address::Coordinates;
use crate::location::{LocationKind, LocationProfile, LocationStatus, TimeOfDay, Weekday};
use crate::order::ItemLine;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn sku(raw: &str) -> Sku {
    Sku::parse(raw).expect("valid sku")
}

fn line(raw: &str, quantity: u32) -> ItemLine {
    ItemLine {
        sku: sku(raw),
        quantity: Quantity::parse(i64::from(quantity)).expect("valid quantity"),
    }
}

fn candidate(id: &str, latitude: f64, stock: &[(&str, u32)]) -> Candidate {
    Candidate {
        location_id: LocationId::parse(id).expect("valid id"),
        profile: LocationProfile {
            name: id.into(),
            kind: LocationKind::Warehouse,
            coordinates: Coordinates {
                latitude,
                longitude: 10.0,
            },
            timezone: "UTC".into(),
            daily_capacity: 100,
            opening_days: vec![Weekday::Mon],
            cutoff: TimeOfDay::parse("18:00").expect("valid"),
            priority: 0,
            status: LocationStatus::Active,
        },
        is_open_now: true,
        capacity_left: 100,
        available: stock.iter().map(|(s, q)| (sku(s), *q)).collect(),
    }
}

fn here() -> Option<Coordinates> {
    Some(Coordinates {
        latitude: 50.0,
        longitude: 10.0,
    })
}

fn locations(plan: &RoutingPlan) -> Vec<&str> {
    let mut ids: Vec<&str> = plan
        .allocations
        .iter()
        .map(|a| a.location_id.as_str())
        .collect();
    ids.dedup();
    ids
}

#[test]
fn the_nearest_location_with_everything_wins() {
    let lines = [line("a", 2), line("b", 1)];
    let candidates = [
        candidate("far", 53.0, &[("a", 5), ("b", 5)]),
        candidate("near", 50.1, &[("a", 5), ("b", 5)]),
        candidate("nearest-but-short", 50.0, &[("a", 5)]),
    ];
    let plan = plan_route(&lines, here(), &candidates, &RoutingPolicy::default());
    assert_eq!(locations(&plan), ["near"]);
    assert!(plan.backordered.is_empty());
    assert_eq!(plan.scores.len(), 3);
}

#[test]
fn a_low_split_penalty_lets_two_near_locations_beat_one_far_one() {
    let lines = [line("a", 1), line("b", 1)];
    let candidates = [
        candidate("far", 55.0, &[("a", 1), ("b", 1)]),
        candidate("near-a", 50.0, &[("a", 1)]),
        candidate("near-b", 50.0, &[("b", 1)]),
    ];
    let strict = RoutingPolicy::default();
    assert_eq!(
        locations(&plan_route(&lines, here(), &candidates, &strict)),
        ["far"]
    );
    let lenient = RoutingPolicy {
        split_penalty: 0,
        ..RoutingPolicy::default()
    };
    let plan = plan_route(&lines, here(), &candidates, &lenient);
    assert_eq!(locations(&plan), ["near-a", "near-b"]);
}

#[test]
fn what_no_location_has_is_backordered_and_paused_locations_are_skipped() {
    let mut paused = candidate("paused", 50.0, &[("a", 10)]);
    paused.profile.status = LocationStatus::Paused;
    let candidates = [paused, candidate("small", 51.0, &[("a", 1)])];
    let plan = plan_route(
        &[line("a", 3)],
        here(),
        &candidates,
        &RoutingPolicy::default(),
    );
    assert_eq!(locations(&plan), ["small"]);
    assert_eq!(plan.backordered, [line("a", 2)]);
    assert_eq!(plan.scores[0].excluded, Some(Exclusion::Paused));
}

#[test]
fn a_location_at_capacity_or_closed_loses() {
    let mut full = candidate("full", 50.0, &[("a", 10)]);
    full.capacity_left = 0;
    let mut closed = candidate("closed", 50.0, &[("a", 10)]);
    closed.is_open_now = false;
    let open = candidate("open", 50.2, &[("a", 10)]);
    let plan = plan_route(
        &[line("a", 1)],
        here(),
        &[full, closed, open],
        &RoutingPolicy::default(),
    );
    assert_eq!(locations(&plan), ["open"]);
}

#[test]
fn a_policy_change_changes_the_choice() {
    let mut favoured = candidate("favoured", 52.0, &[("a", 10)]);
    favoured.profile.priority = 100;
    let candidates = [favoured, candidate("near", 50.0, &[("a", 10)])];
    let by_distance = RoutingPolicy {
        priority_weight: 0,
        ..RoutingPolicy::default()
    };
    let by_priority = RoutingPolicy::default();
    let lines = [line("a", 1)];
    assert_eq!(
        locations(&plan_route(&lines, here(), &candidates, &by_distance)),
        ["near"]
    );
    assert_eq!(
        locations(&plan_route(&lines, here(), &candidates, &by_priority)),
        ["favoured"]
    );
}

fn arb_candidates() -> impl Strategy<Value = Vec<Candidate>> {
    prop::collection::vec(
        (
            40.0..60.0_f64,
            prop::collection::vec(0..6_u32, 3),
            0..3_u32,
            any::<bool>(),
        ),
        0..6,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (latitude, stock, capacity, open))| {
                let skus = [("a", stock[0]), ("b", stock[1]), ("c", stock[2])];
                let mut c = candidate(&format!("loc-{i}"), latitude, &skus);
                c.capacity_left = capacity;
                c.is_open_now = open;
                c
            })
            .collect()
    })
}

proptest! {
    /// Whatever the stock, a plan never takes more than a location offers,
    /// never more than the order wants, never more shipments than allowed,
    /// and allocated plus backordered is exactly what was asked.
    #[test]
    fn plans_account_for_every_unit_and_never_overdraw(
        wants in prop::collection::vec(1..8_u32, 3),
        candidates in arb_candidates(),
        max_shipments in 1..4_u32,
        split_penalty in 0..200_u32,
    ) {
        let lines: Vec<ItemLine> = ["a", "b", "c"].iter().zip(&wants)
            .map(|(s, q)| line(s, *q)).collect();
        let policy = RoutingPolicy { max_shipments, split_penalty, ..RoutingPolicy::default() };
        let plan = plan_route(&lines, here(), &candidates, &policy);

        let mut taken: BTreeMap<(&str, &str), u32> = BTreeMap::new();
        let mut per_sku: BTreeMap<&str, u32> = BTreeMap::new();
        for a in &plan.allocations {
            *taken.entry((a.location_id.as_str(), a.sku.as_str())).or_default() += a.quantity.get();
            *per_sku.entry(a.sku.as_str()).or_default() += a.quantity.get();
        }
        for ((location, sku_id), units) in &taken {
            let c = candidates.iter().find(|c| c.location_id.as_str() == *location).expect("known");
            prop_assert!(c.capacity_left > 0);
            prop_assert!(*units <= c.available.get(&sku(sku_id)).copied().unwrap_or(0));
        }
        for l in &plan.backordered {
            *per_sku.entry(l.sku.as_str()).or_default() += l.quantity.get();
        }
        for l in &lines {
            prop_assert_eq!(per_sku.get(l.sku.as_str()).copied(), Some(l.quantity.get()));
        }
        let mut shipments: Vec<&str> = taken.keys().map(|(l, _)| *l).collect();
        shipments.dedup();
        prop_assert!(shipments.len() <= max_shipments as usize);
        prop_assert_eq!(plan, plan_route(&lines, here(), &candidates, &policy));
    }
}
