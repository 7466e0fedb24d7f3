use super::*;

fn record(id: &str, record_type: RecordType, amount: i64, quantity: i64) -> ExportedRecord {
    ExportedRecord {
        event_id: id.into(),
        record_type,
        currency: "EUR".into(),
        amount_minor: amount,
        quantity,
    }
}

fn exported() -> Vec<ExportedRecord> {
    vec![
        record("e1", RecordType::OrderBooked, 1000, 2),
        record("e2", RecordType::OrderBooked, 500, 1),
        record("e3", RecordType::GoodsIssued, 1000, 2),
    ]
}

fn totals_of(records: &[ExportedRecord]) -> Vec<Total> {
    let mut totals: BTreeMap<RecordType, Total> = BTreeMap::new();
    for r in records {
        let total = totals.entry(r.record_type).or_insert(Total {
            currency: r.currency.clone(),
            record_type: r.record_type,
            count: 0,
            amount_minor: 0,
            quantity: 0,
        });
        total.count += 1;
        total.amount_minor += r.amount_minor;
        total.quantity += r.quantity;
    }
    totals.into_values().collect()
}

fn booked(records: &[ExportedRecord]) -> Vec<BookedRecord> {
    records
        .iter()
        .map(|r| BookedRecord {
            event_id: r.event_id.clone(),
            amount_minor: r.amount_minor,
            quantity: r.quantity,
        })
        .collect()
}

#[test]
fn a_clean_acknowledgement_reports_nothing() {
    let ours = exported();
    let ack = Acknowledgement {
        totals: totals_of(&ours),
        records: Some(booked(&ours)),
    };
    let report = reconcile(&ours, &ack);
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.matched, 3);
}

#[test]
fn each_injected_difference_is_found() {
    let ours = exported();
    let mut theirs = booked(&ours);
    theirs.remove(1);
    theirs[0].amount_minor = 999;
    theirs[1].quantity = 3;
    theirs.push(BookedRecord {
        event_id: "stranger".into(),
        amount_minor: 1,
        quantity: 1,
    });
    let ack = Acknowledgement {
        totals: totals_of(&ours),
        records: Some(theirs),
    };
    let report = reconcile(&ours, &ack);
    assert_eq!(report.missing_in_erp, ["e2"]);
    assert_eq!(report.unknown_to_ordo, ["stranger"]);
    let fields: Vec<(&str, &str)> = report
        .differences
        .iter()
        .map(|d| (d.key.as_str(), d.field.as_str()))
        .collect();
    assert_eq!(fields, [("e1", "amount_minor"), ("e3", "quantity")]);
    assert_eq!(report.matched, 0);
}

#[test]
fn totals_alone_are_compared_per_currency_and_type() {
    let ours = exported();
    let mut totals = totals_of(&ours);
    totals[0].count = 1;
    let report = reconcile(
        &ours,
        &Acknowledgement {
            totals,
            records: None,
        },
    );
    assert_eq!(report.differences.len(), 1);
    assert_eq!(report.differences[0].key, "EUR/order_booked");
    assert_eq!(report.differences[0].field, "count");
}
