//! Given events, when a command, then events or an error.

use super::*;
use crate::address::RawAddress;
use crate::order::evolve;
use crate::routing::{Allocation, RoutingPlan};
use crate::{Address, ChannelId, Currency, CustomerId, FieldErrors, LocationId, OrderId};
use crate::{Quantity, ReturnId, ShipmentId};
use proptest::prelude::*;
use time::macros::datetime;

const NOW: Timestamp = datetime!(2026-11-27 10:00 UTC);

fn given(events: &[OrderEvent]) -> Order {
    events.iter().fold(Order::default(), evolve)
}

fn sku(raw: &str) -> Sku {
    Sku::parse(raw).unwrap()
}

fn qty(n: i64) -> Quantity {
    Quantity::parse(n).unwrap()
}

fn address(city: &str) -> Address {
    let raw = RawAddress {
        name: "Grace Hopper".into(),
        line1: "1 Navy Way".into(),
        postal_code: "12345".into(),
        city: city.into(),
        country: "US".into(),
        ..RawAddress::default()
    };
    Address::parse(raw, "", &mut FieldErrors::new()).unwrap()
}

fn line(s: &str, quantity: i64, price: i64) -> PricedLine {
    PricedLine {
        sku: sku(s),
        quantity: qty(quantity),
        unit_price_minor: price,
    }
}

fn item(s: &str, quantity: i64) -> ItemLine {
    ItemLine {
        sku: sku(s),
        quantity: qty(quantity),
    }
}

fn place(lines: Vec<PricedLine>) -> OrderCommand {
    OrderCommand::Place(PlaceOrder {
        order_id: OrderId::parse("o-1").unwrap(),
        customer_id: CustomerId::parse("c-1").unwrap(),
        channel: ChannelId::parse("web").unwrap(),
        currency: Currency::parse("EUR").unwrap(),
        lines,
        shipping_address: address("Springfield"),
        tracking_token: "tok".into(),
    })
}

fn placed() -> OrderEvent {
    decide(
        &Order::default(),
        place(vec![line("A", 2, 500), line("B", 1, 250)]),
        NOW,
    )
    .unwrap()
    .remove(0)
}

/// Everything allocated to `store-1`, where the tests ship from.
fn route_all(order: &Order) -> OrderCommand {
    let unallocated = order
        .placed
        .as_ref()
        .map(PlacedOrder::unallocated)
        .unwrap_or_default();
    let allocations = unallocated
        .into_iter()
        .map(|(sku, quantity)| Allocation {
            location_id: LocationId::parse("store-1").unwrap(),
            sku,
            quantity: qty(i64::from(quantity)),
        })
        .collect();
    OrderCommand::Route(RouteOrder {
        plan: RoutingPlan {
            allocations,
            backordered: Vec::new(),
            plan_score: 0,
            scores: Vec::new(),
        },
        policy_version: 0,
        cause: "test".into(),
    })
}

fn routed() -> OrderEvent {
    decide(&given(&[placed()]), route_all(&given(&[placed()])), NOW)
        .unwrap()
        .remove(0)
}

fn ship(id: &str, items: Vec<ItemLine>) -> OrderCommand {
    OrderCommand::Ship(ShipOrder {
        shipment_id: ShipmentId::parse(id).unwrap(),
        location_id: LocationId::parse("store-1").unwrap(),
        carrier: "DHL".into(),
        tracking_number: "JD0001".into(),
        lines: items,
    })
}

fn shipped(id: &str, items: Vec<ItemLine>) -> OrderEvent {
    let order = given(&[placed(), routed()]);
    decide(&order, ship(id, items), NOW).unwrap().remove(0)
}

fn deliver(id: &str) -> OrderCommand {
    OrderCommand::Deliver(DeliverShipment {
        shipment_id: ShipmentId::parse(id).unwrap(),
        delivered_at: NOW,
    })
}

fn delivered(id: &str) -> OrderEvent {
    OrderEvent::ShipmentDelivered(ShipmentDelivered {
        shipment_id: ShipmentId::parse(id).unwrap(),
        delivered_at: NOW,
    })
}

fn cancel() -> OrderCommand {
    OrderCommand::Cancel(CancelOrder {
        reason: "customer changed mind".into(),
    })
}

fn return_of(id: &str, items: Vec<ItemLine>) -> OrderCommand {
    OrderCommand::Return(ReturnItems {
        return_id: ReturnId::parse(id).unwrap(),
        lines: items,
        reason: "too small".into(),
    })
}

#[test]
fn placing_a_new_order_records_it_with_the_time_given() {
    let events = decide(&Order::default(), place(vec![line("A", 1, 100)]), NOW).unwrap();
    let OrderEvent::OrderPlaced(placed) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(placed.placed_at, NOW);
    assert_eq!(given(&events).status(), OrderStatus::Placed);
}

#[test]
fn placing_an_existing_order_is_rejected() {
    let result = decide(&given(&[placed()]), place(vec![line("A", 1, 1)]), NOW);
    assert_eq!(
        result,
        Err(OrderError::AlreadyPlaced {
            status: OrderStatus::Placed
        })
    );
}

#[test]
fn an_order_without_lines_is_rejected() {
    assert_eq!(
        decide(&Order::default(), place(vec![]), NOW),
        Err(OrderError::NoLines)
    );
}

#[test]
fn a_repeated_sku_is_rejected_with_its_index() {
    let result = decide(
        &Order::default(),
        place(vec![line("A", 1, 1), line("A", 2, 1)]),
        NOW,
    );
    assert_eq!(
        result,
        Err(OrderError::DuplicateSku {
            sku: sku("A"),
            index: 1
        })
    );
}

#[test]
fn an_absurd_total_is_rejected() {
    let lines = (0..150)
        .map(|i| line(&format!("S{i}"), 10_000, 100_000_000_000))
        .collect();
    assert_eq!(
        decide(&Order::default(), place(lines), NOW),
        Err(OrderError::TotalTooLarge)
    );
}

#[test]
fn commands_on_an_unplaced_order_are_not_found() {
    assert_eq!(
        decide(&Order::default(), cancel(), NOW),
        Err(OrderError::NotPlaced)
    );
}

#[test]
fn lines_can_change_until_the_order_is_picked() {
    let modify = || {
        OrderCommand::Modify(ModifyOrder {
            lines: Some(vec![line("C", 3, 10)]),
            shipping_address: None,
        })
    };
    let events = decide(&given(&[placed()]), modify(), NOW).unwrap();
    assert!(matches!(events[..], [OrderEvent::OrderLinesChanged(_)]));

    let picked = OrderEvent::OrderPicked(OrderPicked { location_id: None });
    let result = decide(&given(&[placed(), routed(), picked]), modify(), NOW);
    assert_eq!(
        result,
        Err(OrderError::NotModifiable {
            status: OrderStatus::Picked
        })
    );
}

#[test]
fn modifying_lines_and_address_at_once_records_two_events() {
    let modify = OrderCommand::Modify(ModifyOrder {
        lines: Some(vec![line("C", 3, 10)]),
        shipping_address: Some(address("Shelbyville")),
    });
    let events = decide(&given(&[placed()]), modify, NOW).unwrap();
    assert_eq!(events.len(), 2);
}

#[test]
fn repeating_the_current_lines_changes_nothing() {
    let modify = OrderCommand::Modify(ModifyOrder {
        lines: Some(vec![line("A", 2, 500), line("B", 1, 250)]),
        shipping_address: Some(address("Springfield")),
    });
    assert_eq!(decide(&given(&[placed()]), modify, NOW), Ok(vec![]));
}

#[test]
fn cancelling_a_shipped_order_is_rejected() {
    let order = given(&[
        placed(),
        routed(),
        shipped("S1", vec![item("A", 2), item("B", 1)]),
    ]);
    assert_eq!(
        decide(&order, cancel(), NOW),
        Err(OrderError::NotCancellable {
            status: OrderStatus::Shipped
        })
    );
}

#[test]
fn cancelling_a_picked_order_is_allowed() {
    let picked = OrderEvent::OrderPicked(OrderPicked { location_id: None });
    let events = decide(&given(&[placed(), routed(), picked]), cancel(), NOW).unwrap();
    assert_eq!(
        given(&[placed(), events[0].clone()]).status(),
        OrderStatus::Cancelled
    );
}

#[test]
fn an_order_can_ship_in_several_parcels() {
    let first = shipped("S1", vec![item("A", 1)]);
    let order = given(&[placed(), routed(), first.clone()]);
    assert_eq!(order.status(), OrderStatus::PartiallyShipped);

    let second = decide(&order, ship("S2", vec![item("A", 1), item("B", 1)]), NOW).unwrap();
    assert_eq!(
        given(&[placed(), routed(), first, second[0].clone()]).status(),
        OrderStatus::Shipped
    );
}

#[test]
fn shipping_more_than_remains_is_rejected() {
    let order = given(&[placed(), routed(), shipped("S1", vec![item("A", 1)])]);
    let result = decide(&order, ship("S2", vec![item("A", 2)]), NOW);
    assert_eq!(
        result,
        Err(OrderError::ShipsMoreThanOrdered {
            sku: sku("A"),
            index: 0,
            remaining: 1
        })
    );
}

#[test]
fn shipping_an_unknown_sku_is_rejected() {
    let result = decide(
        &given(&[placed(), routed()]),
        ship("S1", vec![item("Z", 1)]),
        NOW,
    );
    assert_eq!(
        result,
        Err(OrderError::UnknownSku {
            sku: sku("Z"),
            index: 0
        })
    );
}

#[test]
fn a_shipment_id_is_used_once() {
    let order = given(&[placed(), routed(), shipped("S1", vec![item("A", 1)])]);
    let result = decide(&order, ship("S1", vec![item("B", 1)]), NOW);
    assert!(matches!(result, Err(OrderError::DuplicateShipment { .. })));
}

#[test]
fn delivering_a_shipment_twice_is_rejected() {
    let order = given(&[
        placed(),
        routed(),
        shipped("S1", vec![item("A", 2), item("B", 1)]),
        delivered("S1"),
    ]);
    assert_eq!(order.status(), OrderStatus::Delivered);
    assert!(matches!(
        decide(&order, deliver("S1"), NOW),
        Err(OrderError::AlreadyDelivered { .. })
    ));
}

#[test]
fn a_delivery_in_the_future_is_rejected() {
    let order = given(&[placed(), routed(), shipped("S1", vec![item("A", 2)])]);
    let late = OrderCommand::Deliver(DeliverShipment {
        shipment_id: ShipmentId::parse("S1").unwrap(),
        delivered_at: NOW + time::Duration::hours(1),
    });
    assert_eq!(
        decide(&order, late, NOW),
        Err(OrderError::DeliveredInFuture)
    );
}

#[test]
fn returns_are_limited_to_delivered_items() {
    let order = given(&[
        placed(),
        routed(),
        shipped("S1", vec![item("A", 2)]),
        delivered("S1"),
        decide(
            &given(&[placed(), routed(), shipped("S1", vec![item("A", 2)])]),
            ship("S2", vec![item("B", 1)]),
            NOW,
        )
        .unwrap()
        .remove(0),
    ]);
    let result = decide(&order, return_of("R1", vec![item("B", 1)]), NOW);
    assert_eq!(
        result,
        Err(OrderError::ReturnsMoreThanDelivered {
            sku: sku("B"),
            index: 0,
            returnable: 0
        })
    );
    let events = decide(&order, return_of("R1", vec![item("A", 1)]), NOW).unwrap();
    let after = evolve(order, &events[0]);
    assert_eq!(after.status(), OrderStatus::PartiallyReturned);
}

#[test]
fn returning_everything_marks_the_order_returned() {
    let order = given(&[
        placed(),
        routed(),
        shipped("S1", vec![item("A", 2), item("B", 1)]),
        delivered("S1"),
    ]);
    let events = decide(
        &order,
        return_of("R1", vec![item("A", 2), item("B", 1)]),
        NOW,
    )
    .unwrap();
    assert_eq!(evolve(order, &events[0]).status(), OrderStatus::Returned);
}

#[test]
fn an_unrouted_order_cannot_ship_and_a_shipment_must_leave_from_its_allocation() {
    let result = decide(&given(&[placed()]), ship("S1", vec![item("A", 1)]), NOW);
    assert_eq!(
        result,
        Err(OrderError::NotShippable {
            status: OrderStatus::Placed
        })
    );
    let order = given(&[placed(), routed()]);
    assert_eq!(order.status(), OrderStatus::Routed);
    let elsewhere = OrderCommand::Ship(ShipOrder {
        location_id: LocationId::parse("store-2").unwrap(),
        ..match ship("S1", vec![item("A", 1)]) {
            OrderCommand::Ship(ship) => ship,
            _ => unreachable!(),
        }
    });
    let result = decide(&order, elsewhere, NOW);
    assert_eq!(
        result.map_err(|e| e.code()),
        Err("not-allocated-here"),
        "a shipment from a location without allocation is refused"
    );
}

#[test]
fn a_partial_routing_backorders_the_rest_until_stock_arrives() {
    let order = given(&[placed()]);
    let partial = OrderCommand::Route(RouteOrder {
        plan: RoutingPlan {
            allocations: vec![Allocation {
                location_id: LocationId::parse("store-1").unwrap(),
                sku: sku("A"),
                quantity: qty(2),
            }],
            backordered: vec![item("B", 1)],
            plan_score: 5,
            scores: Vec::new(),
        },
        policy_version: 3,
        cause: "e1".into(),
    });
    let events = decide(&order, partial.clone(), NOW).unwrap();
    assert!(matches!(
        events[..],
        [OrderEvent::OrderRouted(_), OrderEvent::OrderBackordered(_)]
    ));
    let order = events.iter().fold(order, evolve);
    assert_eq!(order.status(), OrderStatus::Backordered);
    assert_eq!(
        decide(&order, partial, NOW),
        Err(OrderError::RoutingOutdated)
    );

    let events = decide(&order, route_all(&order), NOW).unwrap();
    let order = events.iter().fold(order, evolve);
    assert_eq!(order.status(), OrderStatus::Routed);
    let placed = order.placed.as_ref().unwrap();
    assert!(placed.backordered.is_empty());
    assert_eq!(placed.routing.len(), 2);
    assert_eq!(placed.routing[0].policy_version, 3);
}

#[test]
fn changing_the_lines_of_a_routed_order_releases_its_routing() {
    let order = given(&[placed(), routed()]);
    let modify = OrderCommand::Modify(ModifyOrder {
        lines: Some(vec![line("C", 1, 10)]),
        shipping_address: None,
    });
    let events = decide(&order, modify, NOW).unwrap();
    let [OrderEvent::RoutingReleased(released), OrderEvent::OrderLinesChanged(_)] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(released.allocations.len(), 2);
    let order = events.iter().fold(order, evolve);
    assert_eq!(order.status(), OrderStatus::Placed);
}

// Property tests: random command sequences against the rules' invariants.

fn arb_sku() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["A", "B", "C", "D"]).prop_map(str::to_owned)
}

fn arb_priced_lines() -> impl Strategy<Value = Vec<PricedLine>> {
    prop::collection::vec((arb_sku(), 1i64..20, 0i64..10_000), 0..4)
        .prop_map(|raw| raw.into_iter().map(|(s, q, p)| line(&s, q, p)).collect())
}

fn arb_items() -> impl Strategy<Value = Vec<ItemLine>> {
    prop::collection::vec((arb_sku(), 1i64..6), 0..3)
        .prop_map(|raw| raw.into_iter().map(|(s, q)| item(&s, q)).collect())
}

fn arb_command() -> impl Strategy<Value = OrderCommand> {
    let shipment = prop::sample::select(vec!["S1", "S2", "S3"]);
    prop_oneof![
        arb_priced_lines().prop_map(place),
        arb_priced_lines().prop_map(|lines| OrderCommand::Modify(ModifyOrder {
            lines: Some(lines),
            shipping_address: None
        })),
        Just(OrderCommand::Pick(PickOrder { location_id: None })),
        // Stands for "route everything that waits"; `run_live` fills it in.
        Just(route_all(&Order::default())),
        Just(cancel()),
        (shipment.clone(), arb_items()).prop_map(|(id, items)| ship(id, items)),
        shipment.prop_map(deliver),
        (prop::sample::select(vec!["R1", "R2"]), arb_items())
            .prop_map(|(id, items)| return_of(id, items)),
    ]
}

/// Runs commands live, keeping the events that were accepted.
fn run_live(commands: Vec<OrderCommand>) -> (Order, Vec<OrderEvent>, Vec<u64>) {
    let mut order = Order::default();
    let mut log = Vec::new();
    let mut versions = vec![0];
    for command in commands {
        let command = match command {
            OrderCommand::Route(_) => route_all(&order),
            other => other,
        };
        if let Ok(events) = decide(&order, command, NOW) {
            for event in events {
                order = evolve(order, &event);
                versions.push(order.version);
                log.push(event);
            }
        }
    }
    (order, log, versions)
}

proptest! {
    #[test]
    fn versions_increase_by_one_per_event(commands in prop::collection::vec(arb_command(), 0..40)) {
        let (order, log, versions) = run_live(commands);
        prop_assert_eq!(order.version, log.len() as u64);
        for pair in versions.windows(2) {
            prop_assert_eq!(pair[1], pair[0] + 1);
        }
    }

    #[test]
    fn replay_equals_live_state(commands in prop::collection::vec(arb_command(), 0..40)) {
        let (live, log, _) = run_live(commands);
        let stored: Vec<OrderEvent> = log
            .iter()
            .map(|e| serde_json::from_value(serde_json::to_value(e).unwrap()).unwrap())
            .collect();
        prop_assert_eq!(given(&stored), live);
    }

    #[test]
    fn quantities_and_totals_stay_consistent(
        commands in prop::collection::vec(arb_command(), 0..40)
    ) {
        let (order, _, _) = run_live(commands);
        if let Some(placed) = &order.placed {
            let by_lines: i64 = placed
                .lines
                .iter()
                .map(|l| i64::from(l.quantity) * l.unit_price_minor)
                .sum();
            prop_assert_eq!(placed.total_minor(), by_lines);
            prop_assert!(placed.total_minor() >= 0);
            for line in &placed.lines {
                prop_assert!(line.returned <= line.delivered);
                prop_assert!(line.delivered <= line.shipped);
                prop_assert!(line.shipped <= line.quantity);
            }
            let shipped: u32 = placed
                .shipments
                .iter()
                .flat_map(|s| &s.lines)
                .map(|i| i.quantity.get())
                .sum();
            prop_assert_eq!(shipped, placed.lines.iter().map(|l| l.shipped).sum::<u32>());
        }
    }
}
