//! The ERP export read model: one record per business fact, placed in the
//! business day of its event's `recorded_at` in the configured time zone.
//!
//! A day's export is closed by an `ErpDayClosed` event. When the projector
//! reaches it, every record of that day that is not in an export yet is
//! assigned to it, together with the late records of days closed before
//! (their corrections). Because the assignment happens at a stream position,
//! a rebuild from position 0 assigns every record to the same export, and
//! producing an export twice reads exactly the same rows.

use crate::{Projection, ProjectionError};
use ordo_domain::erp::{fact_of, ErpDay, ErpDayEvent};
use ordo_domain::{evolve, Order, OrderEvent, Personal};
use ordo_ledger::{decode_event, Aggregate, Envelope, StoredCommit};
use sqlx::PgConnection;
use std::collections::HashMap;
use std::future::Future;
use time::OffsetDateTime;
use uuid::Uuid;

/// The projector's name and checkpoint row.
pub const ERP_EXPORT: &str = "erp_export";

/// The ERP export projection, for one business time zone.
#[derive(Debug, Clone)]
pub struct ErpExport {
    zone: jiff::tz::TimeZone,
    zone_name: String,
}

impl ErpExport {
    /// `zone_name` must be an IANA time zone known to this machine.
    pub fn new(zone_name: &str) -> Result<Self, jiff::Error> {
        Ok(Self {
            zone: jiff::tz::TimeZone::get(zone_name)?,
            zone_name: zone_name.to_owned(),
        })
    }

    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// The business day of a moment.
    pub fn business_day(&self, at: OffsetDateTime) -> Result<time::Date, String> {
        let timestamp = jiff::Timestamp::from_nanosecond(at.unix_timestamp_nanos())
            .map_err(|e| format!("timestamp out of range: {e}"))?;
        let date = timestamp.to_zoned(self.zone.clone()).date();
        let month = time::Month::try_from(date.month() as u8).map_err(|e| e.to_string())?;
        time::Date::from_calendar_date(i32::from(date.year()), month, date.day() as u8)
            .map_err(|e| e.to_string())
    }
}

impl Projection for ErpExport {
    fn name(&self) -> &'static str {
        ERP_EXPORT
    }

    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        commits: &'a [StoredCommit],
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send + 'a {
        apply_batch(self, tx, commits)
    }
}

/// Column vectors of the records a batch adds.
#[derive(Default)]
struct Records {
    event_id: Vec<Uuid>,
    position: Vec<i64>,
    business_day: Vec<time::Date>,
    record_type: Vec<&'static str>,
    order_id: Vec<String>,
    currency: Vec<String>,
    amount_minor: Vec<i64>,
    quantity: Vec<i64>,
    location_id: Vec<Option<String>>,
    lines: Vec<serde_json::Value>,
    recorded_at: Vec<OffsetDateTime>,
}

async fn apply_batch(
    export: &ErpExport,
    tx: &mut PgConnection,
    commits: &[StoredCommit],
) -> Result<(), ProjectionError> {
    let orders: Vec<&StoredCommit> = commits
        .iter()
        .filter(|c| c.aggregate_type() == Some("order"))
        .collect();
    let mut states = load_orders(tx, &orders).await?;
    let mut records = Records::default();
    for commit in commits {
        match commit.aggregate_type() {
            Some("order") => {
                for envelope in &commit.envelopes {
                    fold(export, &mut states, &mut records, envelope, commit.position)?;
                }
            }
            Some(ErpDay::KIND) => {
                // Records before the close belong to it: write them first.
                write_records(tx, std::mem::take(&mut records)).await?;
                for envelope in &commit.envelopes {
                    close(export, tx, envelope, commit.position).await?;
                }
            }
            _ => {}
        }
    }
    write_records(tx, records).await?;
    write_orders(tx, &states).await
}

async fn load_orders(
    tx: &mut PgConnection,
    commits: &[&StoredCommit],
) -> Result<HashMap<String, Order>, ProjectionError> {
    let ids = crate::aggregate_ids(commits);
    let rows: Vec<(String, serde_json::Value)> =
        sqlx::query_as("select order_id, state from erp_order where order_id = any($1)")
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(ProjectionError::database("load erp orders"))?;
    let mut states = HashMap::with_capacity(ids.len());
    for (id, state) in rows {
        let order: Order =
            serde_json::from_value(state).map_err(|e| ProjectionError::Unapplicable {
                position: 0,
                reason: format!("stored erp state of order {id} does not parse: {e}"),
            })?;
        states.insert(id, order);
    }
    Ok(states)
}

fn fold(
    export: &ErpExport,
    states: &mut HashMap<String, Order>,
    records: &mut Records,
    envelope: &Envelope,
    position: u64,
) -> Result<(), ProjectionError> {
    let unapplicable = |reason: String| ProjectionError::Unapplicable { position, reason };
    let order = states.entry(envelope.aggregate_id.clone()).or_default();
    if envelope.aggregate_version != order.version + 1 {
        return Err(unapplicable(format!(
            "order {} event version {} does not follow the export's version {}",
            envelope.aggregate_id, envelope.aggregate_version, order.version
        )));
    }
    let event: OrderEvent = decode_event::<Order>(envelope).map_err(unapplicable)?;
    let currency = match (&event, order.placed.as_ref()) {
        (OrderEvent::OrderPlaced(placed), _) => Some(placed.currency),
        (_, Some(placed)) => Some(placed.currency),
        _ => None,
    };
    if let (Some(fact), Some(currency)) = (fact_of(order, &event), currency) {
        push(records, envelope, position, export, fact, currency.code())?;
    }
    let mut next = evolve(std::mem::take(order), &event);
    // The export needs no personal data; it never stores any.
    if let Some(placed) = next.placed.as_mut() {
        placed.shipping_address = Personal::Withheld;
    }
    *order = next;
    Ok(())
}

fn push(
    records: &mut Records,
    envelope: &Envelope,
    position: u64,
    export: &ErpExport,
    fact: ordo_domain::erp::Fact,
    currency: &str,
) -> Result<(), ProjectionError> {
    let unapplicable = |reason: String| ProjectionError::Unapplicable { position, reason };
    let day = export
        .business_day(envelope.recorded_at)
        .map_err(unapplicable)?;
    let lines = serde_json::to_value(&fact.lines).map_err(|e| unapplicable(e.to_string()))?;
    records.event_id.push(envelope.event_id);
    records.position.push(position as i64);
    records.business_day.push(day);
    records.record_type.push(fact.record_type.as_str());
    records.order_id.push(envelope.aggregate_id.clone());
    records.currency.push(currency.to_owned());
    records.amount_minor.push(fact.amount_minor);
    records.quantity.push(fact.quantity);
    records
        .location_id
        .push(fact.location_id.map(|l| l.to_string()));
    records.lines.push(lines);
    records.recorded_at.push(envelope.recorded_at);
    Ok(())
}

/// A plain insert: a record applied twice violates the primary key and
/// stops the projector instead of being exported twice.
async fn write_records(tx: &mut PgConnection, records: Records) -> Result<(), ProjectionError> {
    if records.event_id.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "insert into erp_record (event_id, position, business_day, record_type, order_id,
             currency, amount_minor, quantity, location_id, lines, recorded_at)
         select * from unnest($1::uuid[], $2::int8[], $3::date[], $4::text[], $5::text[],
             $6::text[], $7::int8[], $8::int8[], $9::text[], $10::jsonb[], $11::timestamptz[])",
    )
    .bind(&records.event_id)
    .bind(&records.position)
    .bind(&records.business_day)
    .bind(&records.record_type)
    .bind(&records.order_id)
    .bind(&records.currency)
    .bind(&records.amount_minor)
    .bind(&records.quantity)
    .bind(&records.location_id)
    .bind(&records.lines)
    .bind(&records.recorded_at)
    .execute(&mut *tx)
    .await
    .map_err(ProjectionError::database("write erp records"))?;
    Ok(())
}

async fn write_orders(
    tx: &mut PgConnection,
    states: &HashMap<String, Order>,
) -> Result<(), ProjectionError> {
    let mut ids = Vec::with_capacity(states.len());
    let mut values = Vec::with_capacity(states.len());
    for (id, order) in states {
        ids.push(id.clone());
        values.push(
            serde_json::to_value(order).map_err(|e| ProjectionError::Unapplicable {
                position: 0,
                reason: e.to_string(),
            })?,
        );
    }
    sqlx::query(
        "insert into erp_order (order_id, state)
         select * from unnest($1::text[], $2::jsonb[])
         on conflict (order_id) do update set state = excluded.state",
    )
    .bind(&ids)
    .bind(&values)
    .execute(&mut *tx)
    .await
    .map_err(ProjectionError::database("write erp orders"))?;
    Ok(())
}

/// Closes a day: records it, and assigns the day's records and the late
/// records of earlier closed days to its export.
async fn close(
    export: &ErpExport,
    tx: &mut PgConnection,
    envelope: &Envelope,
    position: u64,
) -> Result<(), ProjectionError> {
    let unapplicable = |reason: String| ProjectionError::Unapplicable { position, reason };
    let event = decode_event::<ErpDay>(envelope).map_err(unapplicable)?;
    let ErpDayEvent::ErpDayClosed {
        business_day,
        timezone,
    } = event
    else {
        return Ok(());
    };
    if timezone != export.zone_name {
        return Err(unapplicable(format!(
            "day {business_day} was closed in time zone {timezone}, this export runs in {}",
            export.zone_name
        )));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(&business_day, &format).map_err(|e| unapplicable(e.to_string()))?;
    sqlx::query(
        "insert into erp_day (business_day, timezone, closed_position, closed_at)
         values ($1, $2, $3, $4)",
    )
    .bind(day)
    .bind(&timezone)
    .bind(position as i64)
    .bind(envelope.recorded_at)
    .execute(&mut *tx)
    .await
    .map_err(ProjectionError::database("close erp day"))?;
    sqlx::query(
        "update erp_record set export_day = $1
         where export_day is null
           and (business_day = $1
                or business_day in (select business_day from erp_day where business_day < $1))",
    )
    .bind(day)
    .execute(&mut *tx)
    .await
    .map_err(ProjectionError::database("assign erp records"))?;
    Ok(())
}
