//! The ERP's view of orders: one export record per business fact, the
//! business day an export closes, and reconciliation of what the ERP booked
//! against what Ordo exported.
//!
//! Amounts are minor units of the order's currency. Booked, issued, delivered
//! and returned values are positive; a change carries the signed delta of the
//! order's value and units, a cancellation the negative of what was booked.

use crate::order::{ItemLine, PlacedOrder};
use crate::{LocationId, MinorUnits, Order, OrderEvent, Sku};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The kinds of business fact the ERP books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordType {
    OrderBooked,
    OrderChanged,
    OrderCancelled,
    GoodsIssued,
    Delivered,
    Returned,
}

impl RecordType {
    pub const ALL: [RecordType; 6] = [
        Self::OrderBooked,
        Self::OrderChanged,
        Self::OrderCancelled,
        Self::GoodsIssued,
        Self::Delivered,
        Self::Returned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderBooked => "order_booked",
            Self::OrderChanged => "order_changed",
            Self::OrderCancelled => "order_cancelled",
            Self::GoodsIssued => "goods_issued",
            Self::Delivered => "delivered",
            Self::Returned => "returned",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a record: a SKU, its units (signed for changes) and price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordLine {
    pub sku: Sku,
    pub quantity: i64,
    pub unit_price_minor: MinorUnits,
}

/// What one order event means to the ERP, before it is placed in a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub record_type: RecordType,
    pub amount_minor: MinorUnits,
    pub quantity: i64,
    pub location_id: Option<LocationId>,
    pub lines: Vec<RecordLine>,
}

/// The business fact of `event`, given the order as it was before it.
/// Routing and picking are not booked; they return `None`.
pub fn fact_of(before: &Order, event: &OrderEvent) -> Option<Fact> {
    let placed = before.placed.as_ref();
    match event {
        OrderEvent::OrderPlaced(placed) => {
            let lines: Vec<RecordLine> = placed
                .lines
                .iter()
                .map(|l| RecordLine {
                    sku: l.sku.clone(),
                    quantity: i64::from(l.quantity.get()),
                    unit_price_minor: l.unit_price_minor,
                })
                .collect();
            Some(fact(RecordType::OrderBooked, None, lines))
        }
        OrderEvent::OrderLinesChanged(changed) => {
            let before = placed?;
            let mut delta: BTreeMap<(&Sku, MinorUnits), i64> = BTreeMap::new();
            for line in &before.lines {
                *delta.entry((&line.sku, line.unit_price_minor)).or_default() -=
                    i64::from(line.quantity);
            }
            for line in &changed.lines {
                *delta.entry((&line.sku, line.unit_price_minor)).or_default() +=
                    i64::from(line.quantity.get());
            }
            let lines = delta
                .into_iter()
                .filter(|(_, quantity)| *quantity != 0)
                .map(|((sku, unit_price_minor), quantity)| RecordLine {
                    sku: sku.clone(),
                    quantity,
                    unit_price_minor,
                })
                .collect();
            Some(fact(RecordType::OrderChanged, None, lines))
        }
        OrderEvent::OrderCancelled(_) => {
            let lines = placed?
                .lines
                .iter()
                .map(|l| RecordLine {
                    sku: l.sku.clone(),
                    quantity: -i64::from(l.quantity),
                    unit_price_minor: l.unit_price_minor,
                })
                .collect();
            Some(fact(RecordType::OrderCancelled, None, lines))
        }
        OrderEvent::ShipmentDispatched(dispatched) => {
            let lines = priced(placed?, &dispatched.lines);
            let location = Some(dispatched.location_id.clone());
            Some(fact(RecordType::GoodsIssued, location, lines))
        }
        OrderEvent::ShipmentDelivered(delivered) => {
            let order = placed?;
            let shipment = order.shipment(&delivered.shipment_id)?;
            let lines = priced(order, &shipment.lines);
            let location = Some(shipment.location_id.clone());
            Some(fact(RecordType::Delivered, location, lines))
        }
        OrderEvent::ReturnReceived(received) => {
            let lines = priced(placed?, &received.lines);
            Some(fact(RecordType::Returned, None, lines))
        }
        OrderEvent::ShippingAddressChanged(_)
        | OrderEvent::OrderPicked(_)
        | OrderEvent::OrderRouted(_)
        | OrderEvent::OrderBackordered(_)
        | OrderEvent::RoutingReleased(_) => None,
    }
}

fn priced(order: &PlacedOrder, items: &[ItemLine]) -> Vec<RecordLine> {
    items
        .iter()
        .map(|item| RecordLine {
            sku: item.sku.clone(),
            quantity: i64::from(item.quantity.get()),
            unit_price_minor: order.line(&item.sku).map_or(0, |l| l.unit_price_minor),
        })
        .collect()
}

fn fact(record_type: RecordType, location_id: Option<LocationId>, lines: Vec<RecordLine>) -> Fact {
    Fact {
        record_type,
        amount_minor: lines.iter().map(|l| l.quantity * l.unit_price_minor).sum(),
        quantity: lines.iter().map(|l| l.quantity).sum(),
        location_id,
        lines,
    }
}

/// An exported business day, as the ledger remembers it
/// (`ordo.erpday.<YYYY-MM-DD>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErpDay {
    pub version: u64,
    pub is_closed: bool,
    pub acknowledgements: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ErpDayEvent {
    /// The day's export was produced: everything of the day projected
    /// before this event is in it; what arrives later is a correction in a
    /// later export.
    ErpDayClosed {
        business_day: String,
        timezone: String,
    },
    /// The ERP reported what it booked, and how that compared.
    ErpDayAcknowledged {
        business_day: String,
        /// The keyed digest of the acknowledgement as received (the same
        /// digest Ordo keeps of every request).
        acknowledgement_digest: String,
        outcome: ReconciliationSummary,
    },
}

/// Closes a day once; closing it again changes nothing.
pub fn close_day(day: &ErpDay, business_day: String, timezone: String) -> Vec<ErpDayEvent> {
    if day.is_closed {
        return Vec::new();
    }
    vec![ErpDayEvent::ErpDayClosed {
        business_day,
        timezone,
    }]
}

pub fn evolve_erp_day(mut day: ErpDay, event: &ErpDayEvent) -> ErpDay {
    day.version += 1;
    match event {
        ErpDayEvent::ErpDayClosed { .. } => day.is_closed = true,
        ErpDayEvent::ErpDayAcknowledged { .. } => day.acknowledgements += 1,
    }
    day
}

/// One exported record as reconciliation compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedRecord {
    pub event_id: String,
    pub record_type: RecordType,
    pub currency: String,
    pub amount_minor: MinorUnits,
    pub quantity: i64,
}

/// The ERP's totals for one currency and record type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Total {
    pub currency: String,
    pub record_type: RecordType,
    pub count: u64,
    pub amount_minor: MinorUnits,
    pub quantity: i64,
}

/// One record as the ERP booked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookedRecord {
    pub event_id: String,
    pub amount_minor: MinorUnits,
    pub quantity: i64,
}

/// What the ERP says it booked for a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub totals: Vec<Total>,
    /// Per record, when the ERP sends them.
    pub records: Option<Vec<BookedRecord>>,
}

/// A difference in one record or one total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// The record's event id, or `<currency>/<record_type>` for a total.
    pub key: String,
    /// `amount_minor`, `quantity` or `count`.
    pub field: String,
    pub ordo: i64,
    pub erp: i64,
}

/// The full reconciliation report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub matched: u64,
    pub missing_in_erp: Vec<String>,
    pub unknown_to_ordo: Vec<String>,
    pub differences: Vec<Difference>,
}

/// The counts of a reconciliation, stored in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationSummary {
    pub is_clean: bool,
    pub matched: u64,
    pub missing_in_erp: u64,
    pub unknown_to_ordo: u64,
    pub differences: u64,
}

impl Reconciliation {
    pub fn is_clean(&self) -> bool {
        self.missing_in_erp.is_empty()
            && self.unknown_to_ordo.is_empty()
            && self.differences.is_empty()
    }

    pub fn summary(&self) -> ReconciliationSummary {
        ReconciliationSummary {
            is_clean: self.is_clean(),
            matched: self.matched,
            missing_in_erp: self.missing_in_erp.len() as u64,
            unknown_to_ordo: self.unknown_to_ordo.len() as u64,
            differences: self.differences.len() as u64,
        }
    }
}

/// Compares what Ordo exported with what the ERP booked: totals per
/// currency and record type always, and record by record when the ERP sent
/// its records.
pub fn reconcile(exported: &[ExportedRecord], ack: &Acknowledgement) -> Reconciliation {
    let mut report = Reconciliation {
        matched: 0,
        missing_in_erp: Vec::new(),
        unknown_to_ordo: Vec::new(),
        differences: Vec::new(),
    };
    compare_totals(exported, &ack.totals, &mut report);
    let Some(booked) = &ack.records else {
        let is_total_clean = report.differences.is_empty();
        report.matched = if is_total_clean {
            exported.len() as u64
        } else {
            0
        };
        return report;
    };
    let booked: BTreeMap<&str, &BookedRecord> =
        booked.iter().map(|b| (b.event_id.as_str(), b)).collect();
    let known: BTreeSet<&str> = exported.iter().map(|r| r.event_id.as_str()).collect();
    for record in exported {
        let Some(erp) = booked.get(record.event_id.as_str()) else {
            report.missing_in_erp.push(record.event_id.clone());
            continue;
        };
        let mut is_same = true;
        for (field, ordo, erp) in [
            ("amount_minor", record.amount_minor, erp.amount_minor),
            ("quantity", record.quantity, erp.quantity),
        ] {
            if ordo != erp {
                is_same = false;
                report.differences.push(Difference {
                    key: record.event_id.clone(),
                    field: field.to_owned(),
                    ordo,
                    erp,
                });
            }
        }
        report.matched += u64::from(is_same);
    }
    report.unknown_to_ordo = booked
        .keys()
        .filter(|id| !known.contains(*id))
        .map(|id| (*id).to_owned())
        .collect();
    report
}

fn compare_totals(exported: &[ExportedRecord], erp: &[Total], report: &mut Reconciliation) {
    let mut ours: BTreeMap<(String, RecordType), (i64, i64, i64)> = BTreeMap::new();
    for record in exported {
        let entry = ours
            .entry((record.currency.clone(), record.record_type))
            .or_default();
        entry.0 += 1;
        entry.1 += record.amount_minor;
        entry.2 += record.quantity;
    }
    let mut theirs: BTreeMap<(String, RecordType), (i64, i64, i64)> = BTreeMap::new();
    for total in erp {
        let entry = theirs
            .entry((total.currency.clone(), total.record_type))
            .or_default();
        entry.0 += i64::try_from(total.count).unwrap_or(i64::MAX);
        entry.1 += total.amount_minor;
        entry.2 += total.quantity;
    }
    let keys: BTreeSet<&(String, RecordType)> = ours.keys().chain(theirs.keys()).collect();
    for key in keys {
        let o = ours.get(key).copied().unwrap_or_default();
        let e = theirs.get(key).copied().unwrap_or_default();
        let name = format!("{}/{}", key.0, key.1);
        for (field, ordo, erp) in [
            ("count", o.0, e.0),
            ("amount_minor", o.1, e.1),
            ("quantity", o.2, e.2),
        ] {
            if ordo != erp {
                report.differences.push(Difference {
                    key: name.clone(),
                    field: field.to_owned(),
                    ordo,
                    erp,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
