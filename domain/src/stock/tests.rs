//! Given events, when a command, then events or an error; and the no-oversell
//! invariant under random command sequences.

use super::*;
use proptest::prelude::*;

fn order(n: u8) -> OrderId {
    OrderId::parse(&format!("o-{n}")).unwrap()
}

fn qty(n: i64) -> Quantity {
    Quantity::parse(n).unwrap()
}

fn given(commands: Vec<StockCommand>) -> Stock {
    commands
        .into_iter()
        .fold(Stock::default(), |stock, command| {
            let events = decide_stock(&stock, command).unwrap();
            events.iter().fold(stock, evolve_stock)
        })
}

fn receive(n: i64) -> StockCommand {
    StockCommand::Receive {
        quantity: qty(n),
        incoming_id: None,
    }
}

fn reserve(o: u8, n: i64) -> StockCommand {
    StockCommand::Reserve {
        order_id: order(o),
        total: qty(n).get(),
    }
}

#[test]
fn a_reservation_beyond_what_is_available_is_refused() {
    let stock = given(vec![receive(3), reserve(1, 2)]);
    assert_eq!(
        decide_stock(&stock, reserve(2, 2)),
        Err(StockError::InsufficientStock { available: 1 })
    );
}

#[test]
fn a_reservation_is_set_as_a_total_so_a_repeat_changes_nothing() {
    let stock = given(vec![receive(5), reserve(1, 2)]);
    assert_eq!(decide_stock(&stock, reserve(1, 2)), Ok(vec![]));
    let more = decide_stock(&stock, reserve(1, 4)).unwrap();
    assert!(
        matches!(more[..], [StockEvent::StockReserved { quantity, .. }] if quantity.get() == 2)
    );
    let fewer = decide_stock(&stock, reserve(1, 1)).unwrap();
    assert!(matches!(
        fewer[..],
        [StockEvent::ReservationReleased { quantity: 1, .. }]
    ));
}

#[test]
fn releasing_frees_the_units_for_the_next_order() {
    let stock = given(vec![
        receive(2),
        reserve(1, 2),
        StockCommand::Release { order_id: order(1) },
    ]);
    assert_eq!(stock.available(), 2);
    assert!(decide_stock(&stock, reserve(2, 2)).is_ok());
}

#[test]
fn a_shipment_consumes_its_reservation_and_the_stock() {
    let consume = StockCommand::Consume {
        order_id: order(1),
        quantity: qty(2),
    };
    let stock = given(vec![receive(5), reserve(1, 2), consume]);
    assert_eq!(
        (stock.on_hand, stock.reserved(), stock.available()),
        (3, 0, 3)
    );
}

#[test]
fn a_count_below_what_is_promised_is_refused() {
    let stock = given(vec![receive(5), reserve(1, 4)]);
    let count = StockCommand::Count {
        counted: 3,
        reason: "stock take".into(),
    };
    assert_eq!(
        decide_stock(&stock, count),
        Err(StockError::BelowReserved { reserved: 4 })
    );
}

#[test]
fn receiving_a_scheduled_delivery_closes_it() {
    let schedule = StockCommand::ScheduleIncoming {
        incoming_id: "po-7".into(),
        quantity: qty(10),
    };
    let stock = given(vec![schedule]);
    assert_eq!(stock.incoming_total(), 10);
    let stock = given(vec![
        StockCommand::ScheduleIncoming {
            incoming_id: "po-7".into(),
            quantity: qty(10),
        },
        StockCommand::Receive {
            quantity: qty(10),
            incoming_id: Some("po-7".into()),
        },
    ]);
    assert_eq!((stock.on_hand, stock.incoming_total()), (10, 0));
}

fn arb_command() -> impl Strategy<Value = StockCommand> {
    let order_id = (0u8..6).prop_map(order);
    prop_oneof![
        (1i64..20).prop_map(receive),
        (0u32..30, Just("count".to_owned()))
            .prop_map(|(counted, reason)| StockCommand::Count { counted, reason }),
        (-10i64..10).prop_map(|delta| StockCommand::Correct {
            delta,
            reason: "fix".into()
        }),
        (order_id.clone(), 0u32..8)
            .prop_map(|(order_id, total)| StockCommand::Reserve { order_id, total }),
        order_id
            .clone()
            .prop_map(|order_id| StockCommand::Release { order_id }),
        (order_id, 1i64..8).prop_map(|(order_id, n)| StockCommand::Consume {
            order_id,
            quantity: qty(n)
        }),
    ]
}

/// What on hand must be, computed from the events alone.
fn on_hand_from(events: &[StockEvent]) -> i64 {
    events.iter().fold(0, |on_hand, event| match event {
        StockEvent::StockReceived { quantity, .. } => on_hand + i64::from(quantity.get()),
        StockEvent::StockCounted { counted, .. } => i64::from(*counted),
        StockEvent::StockCorrected { delta, .. } => on_hand + delta,
        StockEvent::StockConsumed { quantity, .. } => on_hand - i64::from(quantity.get()),
        _ => on_hand,
    })
}

proptest! {
    #[test]
    fn available_never_goes_below_zero_and_on_hand_is_the_sum_of_events(
        commands in prop::collection::vec(arb_command(), 0..80)
    ) {
        let mut stock = Stock::default();
        let mut log = Vec::new();
        for command in commands {
            if let Ok(events) = decide_stock(&stock, command) {
                for event in events {
                    stock = evolve_stock(stock, &event);
                    log.push(event);
                    prop_assert!(stock.available() >= 0, "oversold: {stock:?}");
                    prop_assert!(stock.on_hand >= 0);
                }
            }
        }
        prop_assert_eq!(stock.on_hand, on_hand_from(&log));
        prop_assert_eq!(stock.version, log.len() as u64);
    }
}
