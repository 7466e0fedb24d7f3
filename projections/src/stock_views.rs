//! The location and inventory read models: each location's profile, and
//! per location and SKU what is on hand, reserved, available and incoming.
//!
//! A batch loads the rows it touches in one query, applies the events in
//! memory and writes each table back with one statement, like the order
//! views. Counts move by the events' deltas; versions must follow each
//! other, so an event applied twice or skipped stops the projector loudly.

use crate::{Projection, ProjectionError};
use ordo_domain::{Location, LocationEvent, Stock, StockEvent};
use ordo_ledger::{decode_event, Envelope, StoredCommit};
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use time::OffsetDateTime;

/// The projector's name and checkpoint row.
pub const STOCK_VIEWS: &str = "stock_views";

/// The location and inventory read-model projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct StockViews;

impl Projection for StockViews {
    fn name(&self) -> &'static str {
        STOCK_VIEWS
    }

    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        commits: &'a [StoredCommit],
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send + 'a {
        apply_batch(tx, commits)
    }
}

/// One inventory row as the batch sees it.
#[derive(Debug, Clone, Default)]
struct InventoryRow {
    on_hand: i64,
    reserved: i64,
    incoming: BTreeMap<String, u32>,
    version: u64,
    position: u64,
    updated_at: Option<OffsetDateTime>,
}

async fn apply_batch(
    tx: &mut PgConnection,
    commits: &[StoredCommit],
) -> Result<(), ProjectionError> {
    let stock: Vec<&StoredCommit> = commits
        .iter()
        .filter(|c| c.aggregate_type() == Some("stock"))
        .collect();
    if !stock.is_empty() {
        let mut rows = load_inventory(tx, &stock).await?;
        for commit in &stock {
            for envelope in &commit.envelopes {
                fold_stock(&mut rows, envelope, commit.position)?;
            }
        }
        write_inventory(tx, &rows).await?;
    }
    for commit in commits
        .iter()
        .filter(|c| c.aggregate_type() == Some("location"))
    {
        for envelope in &commit.envelopes {
            write_location(tx, envelope, commit.position).await?;
        }
    }
    Ok(())
}

/// Splits a stock aggregate id `<location>.<sku>`.
fn split_stock_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('.')
}

async fn load_inventory(
    tx: &mut PgConnection,
    commits: &[&StoredCommit],
) -> Result<HashMap<String, InventoryRow>, ProjectionError> {
    let ids = crate::aggregate_ids(commits);
    type Row = (
        String,
        i64,
        i64,
        i64,
        i64,
        OffsetDateTime,
        serde_json::Value,
    );
    let found: Vec<Row> = sqlx::query_as(
        "select location_id || '.' || sku, on_hand, reserved, version, position, updated_at,
             incoming_detail
         from inventory where location_id || '.' || sku = any($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await
    .map_err(ProjectionError::database("load inventory"))?;
    let mut rows = HashMap::with_capacity(ids.len());
    for (id, on_hand, reserved, version, position, updated_at, incoming) in found {
        let incoming =
            serde_json::from_value(incoming).map_err(|e| ProjectionError::Unapplicable {
                position: position as u64,
                reason: format!("stored incoming of {id} does not parse: {e}"),
            })?;
        let row = InventoryRow {
            on_hand,
            reserved,
            incoming,
            version: version as u64,
            position: position as u64,
            updated_at: Some(updated_at),
        };
        rows.insert(id, row);
    }
    Ok(rows)
}

fn fold_stock(
    rows: &mut HashMap<String, InventoryRow>,
    envelope: &Envelope,
    position: u64,
) -> Result<(), ProjectionError> {
    let row = rows.entry(envelope.aggregate_id.clone()).or_default();
    if envelope.aggregate_version != row.version + 1 {
        return Err(ProjectionError::Unapplicable {
            position,
            reason: format!(
                "stock {} event version {} does not follow projected version {}",
                envelope.aggregate_id, envelope.aggregate_version, row.version
            ),
        });
    }
    let event = decode_event::<Stock>(envelope)
        .map_err(|reason| ProjectionError::Unapplicable { position, reason })?;
    match event {
        StockEvent::StockReceived {
            quantity,
            incoming_id,
        } => {
            row.on_hand += i64::from(quantity.get());
            if let Some(id) = incoming_id {
                row.incoming.remove(&id);
            }
        }
        StockEvent::StockCounted { counted, .. } => row.on_hand = i64::from(counted),
        StockEvent::StockCorrected { delta, .. } => row.on_hand += delta,
        StockEvent::StockReserved { quantity, .. } => row.reserved += i64::from(quantity.get()),
        StockEvent::ReservationReleased { quantity, .. } => row.reserved -= i64::from(quantity),
        StockEvent::StockConsumed { quantity, .. } => {
            row.on_hand -= i64::from(quantity.get());
            row.reserved -= i64::from(quantity.get());
        }
        StockEvent::IncomingScheduled {
            incoming_id,
            quantity,
        } => {
            row.incoming.insert(incoming_id, quantity.get());
        }
    }
    row.version = envelope.aggregate_version;
    row.position = position;
    row.updated_at = Some(envelope.recorded_at);
    Ok(())
}

async fn write_inventory(
    tx: &mut PgConnection,
    rows: &HashMap<String, InventoryRow>,
) -> Result<(), ProjectionError> {
    let mut columns = InventoryColumns::default();
    for (id, row) in rows {
        let Some((location, sku)) = split_stock_id(id) else {
            return Err(ProjectionError::Unapplicable {
                position: row.position,
                reason: format!("stock id {id} is not <location>.<sku>"),
            });
        };
        columns.location_id.push(location.to_owned());
        columns.sku.push(sku.to_owned());
        columns.on_hand.push(row.on_hand);
        columns.reserved.push(row.reserved);
        columns
            .incoming
            .push(row.incoming.values().map(|q| i64::from(*q)).sum());
        columns.version.push(row.version as i64);
        columns.position.push(row.position as i64);
        columns
            .updated_at
            .push(row.updated_at.unwrap_or(OffsetDateTime::UNIX_EPOCH));
        columns
            .incoming_detail
            .push(serde_json::json!(row.incoming));
    }
    sqlx::query(
        "insert into inventory (location_id, sku, on_hand, reserved, incoming, version,
             position, updated_at, incoming_detail)
         select * from unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[],
             $6::int8[], $7::int8[], $8::timestamptz[], $9::jsonb[])
         on conflict (location_id, sku) do update set
             on_hand = excluded.on_hand, reserved = excluded.reserved,
             incoming = excluded.incoming, version = excluded.version,
             position = excluded.position, updated_at = excluded.updated_at,
             incoming_detail = excluded.incoming_detail",
    )
    .bind(&columns.location_id)
    .bind(&columns.sku)
    .bind(&columns.on_hand)
    .bind(&columns.reserved)
    .bind(&columns.incoming)
    .bind(&columns.version)
    .bind(&columns.position)
    .bind(&columns.updated_at)
    .bind(&columns.incoming_detail)
    .execute(&mut *tx)
    .await
    .map_err(ProjectionError::database("write inventory"))?;
    Ok(())
}

#[derive(Default)]
struct InventoryColumns {
    location_id: Vec<String>,
    sku: Vec<String>,
    on_hand: Vec<i64>,
    reserved: Vec<i64>,
    incoming: Vec<i64>,
    version: Vec<i64>,
    position: Vec<i64>,
    updated_at: Vec<OffsetDateTime>,
    incoming_detail: Vec<serde_json::Value>,
}

/// Locations change rarely: one upsert per event, guarded by the version.
async fn write_location(
    tx: &mut PgConnection,
    envelope: &Envelope,
    position: u64,
) -> Result<(), ProjectionError> {
    let event = decode_event::<Location>(envelope)
        .map_err(|reason| ProjectionError::Unapplicable { position, reason })?;
    let (LocationEvent::LocationRegistered(profile) | LocationEvent::LocationUpdated(profile)) =
        event;
    let (kind, status) = (profile.kind.as_str(), profile.status.as_str());
    let profile_json =
        serde_json::to_value(&profile).map_err(|e| ProjectionError::Unapplicable {
            position,
            reason: e.to_string(),
        })?;
    let stored: Option<i64> = sqlx::query_scalar(
        "insert into location (location_id, kind, status, version, position, updated_at, profile)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (location_id) do update set
             kind = excluded.kind, status = excluded.status, version = excluded.version,
             position = excluded.position, updated_at = excluded.updated_at,
             profile = excluded.profile
         where location.version + 1 = excluded.version
         returning version",
    )
    .bind(&envelope.aggregate_id)
    .bind(kind)
    .bind(status)
    .bind(envelope.aggregate_version as i64)
    .bind(position as i64)
    .bind(envelope.recorded_at)
    .bind(profile_json)
    .fetch_optional(&mut *tx)
    .await
    .map_err(ProjectionError::database("write location"))?;
    if stored.is_none() {
        return Err(ProjectionError::Unapplicable {
            position,
            reason: format!(
                "location {} event version {} does not follow the projected one",
                envelope.aggregate_id, envelope.aggregate_version
            ),
        });
    }
    Ok(())
}
