//! The order read models: tracking (current state) and timeline (one
//! human-readable row per event). The customer's order index is an index on
//! the tracking rows (migration `…0005`), so it cannot disagree with them.
//!
//! One projector keeps both, in one transaction per batch, so they can never
//! disagree with each other. A batch loads the stored state of the orders it
//! touches in one query, folds the events in memory with the domain's
//! `evolve`, and writes in bulk: the timeline and the tracking rows of orders
//! placed in the batch by `COPY`, the other tracking rows by one upsert. The
//! timeline is stored as one segment per order and batch (see its
//! migration), so a batch writes one row per order it touches to each table.

mod summary;

use crate::binary_copy::CopyRows;
use crate::{Projection, ProjectionError};
use ordo_domain::{evolve, Customer, CustomerEvent, Order, OrderEvent};
use ordo_ledger::{decode_event, Envelope, StoredCommit};
use sqlx::PgConnection;
use std::collections::HashMap;
use std::future::Future;
use time::OffsetDateTime;
use uuid::Uuid;

/// The projector's name and checkpoint row.
pub const ORDER_VIEWS: &str = "order_views";

/// The order read-model projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderViews;

impl Projection for OrderViews {
    fn name(&self) -> &'static str {
        ORDER_VIEWS
    }

    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        commits: &'a [StoredCommit],
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send + 'a {
        apply_batch(tx, commits)
    }
}

/// How a rebuild check reads these tables to compare two copies
/// ([`crate::rebuild::ReadModel`]). The timeline's rows are segments whose
/// boundaries depend on how the projector batched, so its entries are
/// compared one by one; a tracking state is json text, which has no
/// equality, so it is compared as jsonb.
pub(crate) const COMPARED_ENTRIES: &[(&str, &str)] = &[
    (
        "order_tracking",
        "select order_id, customer_id, channel, status, version, position, currency,
             total_minor, tracking_token, placed_at, updated_at, state::jsonb as state
         from {schema}.order_tracking",
    ),
    (
        "order_timeline",
        "select t.order_id, t.first_version + e.n - 1 as version, e.event_id,
             e.position, e.event_type, e.occurred_at, e.recorded_at, e.actor, e.summary
         from {schema}.order_timeline t,
             unnest(t.event_ids, t.positions, t.event_types, t.occurred_at,
                 t.recorded_at, t.actors, t.summaries)
             with ordinality as e(event_id, position, event_type, occurred_at,
                 recorded_at, actor, summary, n)",
    ),
];

/// An order as the batch sees it.
struct Tracked<'a> {
    order: Order,
    position: u64,
    updated_at: OffsetDateTime,
    /// Whether the order has a tracking row from an earlier batch; if not,
    /// it was placed in this one.
    is_stored: bool,
    /// The timeline entries this batch adds.
    timeline: Segment<'a>,
}

impl Tracked<'_> {
    fn stored(order: Order, position: u64, updated_at: OffsetDateTime) -> Self {
        Self {
            order,
            position,
            updated_at,
            is_stored: true,
            timeline: Segment::default(),
        }
    }

    fn placed(recorded_at: OffsetDateTime) -> Self {
        Self {
            order: Order::default(),
            position: 0,
            updated_at: recorded_at,
            is_stored: false,
            timeline: Segment::default(),
        }
    }
}

/// Consecutive timeline entries of one order, stored as one row of parallel
/// arrays: entry `i` has version `first_version + i`.
#[derive(Default)]
struct Segment<'a> {
    first_version: u64,
    event_ids: Vec<Uuid>,
    positions: Vec<i64>,
    event_types: Vec<&'a str>,
    occurred_at: Vec<OffsetDateTime>,
    recorded_at: Vec<OffsetDateTime>,
    actors: Vec<String>,
    summaries: Vec<String>,
}

impl<'a> Segment<'a> {
    fn push(&mut self, envelope: &'a Envelope, position: u64, summary: String) {
        if self.event_ids.is_empty() {
            self.first_version = envelope.aggregate_version;
        }
        self.event_ids.push(envelope.event_id);
        self.positions.push(position as i64);
        self.event_types.push(&envelope.event_type);
        self.occurred_at.push(envelope.occurred_at);
        self.recorded_at.push(envelope.recorded_at);
        let actor = &envelope.actor;
        self.actors
            .push(format!("{}:{}", actor.kind.as_str(), actor.id));
        self.summaries.push(summary);
    }

    /// Adds the segment as a row, in the column order of [`write_timeline`].
    fn encode(&self, order_id: &str, rows: &mut CopyRows) {
        rows.row();
        rows.text(order_id);
        rows.int8(self.first_version as i64);
        rows.uuid_array(&self.event_ids);
        rows.int8_array(&self.positions);
        rows.text_array(&self.event_types);
        rows.timestamptz_array(&self.occurred_at);
        rows.timestamptz_array(&self.recorded_at);
        rows.text_array(&self.actors);
        rows.text_array(&self.summaries);
    }
}

async fn apply_batch(
    tx: &mut PgConnection,
    commits: &[StoredCommit],
) -> Result<(), ProjectionError> {
    // A batch is applied in runs: an erasure must redact exactly the orders
    // projected before it, so orders and erasures keep their stream order.
    let mut run: Vec<&StoredCommit> = Vec::new();
    for commit in commits {
        match commit.aggregate_type() {
            Some("order") => run.push(commit),
            Some("customer") => {
                apply_orders(tx, &run).await?;
                run.clear();
                apply_customer(tx, commit).await?;
            }
            _ => {}
        }
    }
    apply_orders(tx, &run).await
}

/// Redacts the personal data of an erased customer from every order view.
/// A rebuild reaches the same rows another way: the key is gone, so the
/// events themselves read as erased.
async fn apply_customer(
    tx: &mut PgConnection,
    commit: &StoredCommit,
) -> Result<(), ProjectionError> {
    for envelope in &commit.envelopes {
        let event: CustomerEvent =
            decode_event::<Customer>(envelope).map_err(|reason| ProjectionError::Unapplicable {
                position: commit.position,
                reason,
            })?;
        let CustomerEvent::CustomerErased { customer_id, .. } = event;
        sqlx::query(
            "update order_tracking
             set state = jsonb_set(
                 state::jsonb, '{placed,shipping_address}', '{\"$erased\": true}'
             )::json
             where customer_id = $1",
        )
        .bind(customer_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(ProjectionError::database("redact order_tracking"))?;
        tracing::info!(
            stream_seq = commit.position,
            "customer erased from the order views"
        );
    }
    Ok(())
}

async fn apply_orders(
    tx: &mut PgConnection,
    orders: &[&StoredCommit],
) -> Result<(), ProjectionError> {
    if orders.is_empty() {
        return Ok(());
    }
    let mut tracked = load_current(tx, orders).await?;
    for commit in orders {
        for envelope in &commit.envelopes {
            fold(&mut tracked, envelope, commit.position)?;
        }
    }
    let mut timeline = CopyRows::new(9);
    for (order_id, entry) in &tracked {
        if !entry.timeline.event_ids.is_empty() {
            entry.timeline.encode(order_id, &mut timeline);
        }
    }
    // The tracking rows are built while PostgreSQL inserts the timeline, so
    // that our CPU work and the server's overlap instead of taking turns.
    let (inserted, tracking) = futures::join!(write_timeline(tx, timeline), async {
        TrackingRows::of(&tracked)
    });
    inserted?;
    let (placed, changed) = tracking?;
    copy_tracking(tx, &placed).await?;
    write_tracking(tx, &changed).await
}

/// Loads the stored state of every order the batch touches, except those it
/// meets at their first event: they have none yet. A rebuild, or a burst of
/// placements, is mostly such orders, and looking each up found nothing.
async fn load_current<'a>(
    tx: &mut PgConnection,
    commits: &[&StoredCommit],
) -> Result<HashMap<String, Tracked<'a>>, ProjectionError> {
    let mut first_versions: HashMap<&str, u64> = HashMap::new();
    for envelope in commits.iter().filter_map(|c| c.envelopes.first()) {
        first_versions
            .entry(&envelope.aggregate_id)
            .or_insert(envelope.aggregate_version);
    }
    let ids: Vec<&str> = first_versions
        .into_iter()
        .filter(|&(_, version)| version > 1)
        .map(|(id, _)| id)
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // The state as text, parsed straight into an `Order`: decoding it into
    // a `Value` tree first would build and free one tree per order.
    let rows: Vec<(String, String, i64, OffsetDateTime)> = sqlx::query_as(
        "select order_id, state::text, position, updated_at from order_tracking
         where order_id = any($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await
    .map_err(ProjectionError::database("load order states"))?;
    let mut tracked = HashMap::with_capacity(ids.len());
    for (order_id, state, position, updated_at) in rows {
        let order: Order =
            serde_json::from_str(&state).map_err(|e| ProjectionError::Unapplicable {
                position: position as u64,
                reason: format!("stored state of order {order_id} does not parse: {e}"),
            })?;
        tracked.insert(
            order_id,
            Tracked::stored(order, position as u64, updated_at),
        );
    }
    Ok(tracked)
}

/// Applies one event to the batch's view of its order and records its
/// timeline entry. Events must arrive in version order; anything else means
/// the read model and the log disagree, which a person must look at.
fn fold<'a>(
    tracked: &mut HashMap<String, Tracked<'a>>,
    envelope: &'a Envelope,
    position: u64,
) -> Result<(), ProjectionError> {
    let entry = tracked
        .entry(envelope.aggregate_id.clone())
        .or_insert_with(|| Tracked::placed(envelope.recorded_at));
    if envelope.aggregate_version != entry.order.version + 1 {
        return Err(ProjectionError::Unapplicable {
            position,
            reason: format!(
                "order {} event version {} does not follow projected version {}",
                envelope.aggregate_id, envelope.aggregate_version, entry.order.version
            ),
        });
    }
    let event: OrderEvent = decode_event::<Order>(envelope)
        .map_err(|reason| ProjectionError::Unapplicable { position, reason })?;
    let summary = summary::describe(&entry.order, &event);
    entry.timeline.push(envelope, position, summary);
    entry.order = evolve(std::mem::take(&mut entry.order), &event);
    entry.position = position;
    entry.updated_at = envelope.recorded_at;
    Ok(())
}

#[derive(Default)]
struct TrackingRows {
    order_id: Vec<String>,
    customer_id: Vec<String>,
    channel: Vec<String>,
    status: Vec<String>,
    version: Vec<i64>,
    position: Vec<i64>,
    currency: Vec<String>,
    total_minor: Vec<i64>,
    tracking_token: Vec<String>,
    placed_at: Vec<OffsetDateTime>,
    updated_at: Vec<OffsetDateTime>,
    state: Vec<String>,
}

impl TrackingRows {
    /// One row per placed order of the batch, its state as JSON text, split
    /// into the orders placed in this batch (no row yet) and the others.
    fn of(tracked: &HashMap<String, Tracked<'_>>) -> Result<(Self, Self), ProjectionError> {
        let (mut placed_here, mut stored) = (Self::default(), Self::default());
        for (order_id, entry) in tracked {
            let Some(placed) = &entry.order.placed else {
                continue;
            };
            let rows = if entry.is_stored {
                &mut stored
            } else {
                &mut placed_here
            };
            rows.order_id.push(order_id.clone());
            rows.customer_id.push(placed.customer_id.to_string());
            rows.channel.push(placed.channel.to_string());
            rows.status.push(entry.order.status().as_str().to_owned());
            rows.version.push(entry.order.version as i64);
            rows.position.push(entry.position as i64);
            rows.currency.push(placed.currency.code().to_owned());
            rows.total_minor.push(placed.total_minor());
            rows.tracking_token.push(placed.tracking_token.clone());
            rows.placed_at.push(placed.placed_at);
            rows.updated_at.push(entry.updated_at);
            // Straight to JSON text, which the json column keeps as sent: an
            // intermediate `Value` tree per order is costly at catch-up
            // rates.
            let state =
                serde_json::to_string(&entry.order).map_err(|e| ProjectionError::Unapplicable {
                    position: entry.position,
                    reason: e.to_string(),
                })?;
            rows.state.push(state);
        }
        Ok((placed_here, stored))
    }

    /// The rows in `COPY`'s binary format, in the column order of
    /// [`copy_tracking`].
    fn encode(&self) -> CopyRows {
        let mut rows = CopyRows::new(12);
        for i in 0..self.order_id.len() {
            rows.row();
            rows.text(&self.order_id[i]);
            rows.text(&self.customer_id[i]);
            rows.text(&self.channel[i]);
            rows.text(&self.status[i]);
            rows.int8(self.version[i]);
            rows.int8(self.position[i]);
            rows.text(&self.currency[i]);
            rows.int8(self.total_minor[i]);
            rows.text(&self.tracking_token[i]);
            rows.timestamptz(self.placed_at[i]);
            rows.timestamptz(self.updated_at[i]);
            rows.json(&self.state[i]);
        }
        rows
    }
}

/// Inserts the tracking rows of orders placed in this batch. They have no
/// row yet, so no conflict to resolve, and `COPY` spares the server the
/// upsert's per-row executor work and the client and server the arrays. A
/// row that exists after all (the read model ahead of its checkpoint)
/// breaks the key and stops the projector loudly.
async fn copy_tracking(tx: &mut PgConnection, rows: &TrackingRows) -> Result<(), ProjectionError> {
    if rows.order_id.is_empty() {
        return Ok(());
    }
    copy_in(
        tx,
        "copy order_tracking (order_id, customer_id, channel, status, version, position,
             currency, total_minor, tracking_token, placed_at, updated_at, state)
         from stdin (format binary)",
        rows.encode(),
        "copy into order_tracking",
    )
    .await
}

/// Upserts the tracking rows of orders that had one before this batch.
async fn write_tracking(tx: &mut PgConnection, rows: &TrackingRows) -> Result<(), ProjectionError> {
    if rows.order_id.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "insert into order_tracking (order_id, customer_id, channel, status, version, position,
             currency, total_minor, tracking_token, placed_at, updated_at, state)
         select o, cu, ch, st, v, p, c, t, tt, pa, ua, s::json
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[],
             $6::int8[], $7::text[], $8::int8[], $9::text[], $10::timestamptz[],
             $11::timestamptz[], $12::text[]) as r(o, cu, ch, st, v, p, c, t, tt, pa, ua, s)
         on conflict (order_id) do update set
             customer_id = excluded.customer_id, channel = excluded.channel,
             status = excluded.status, version = excluded.version,
             position = excluded.position, currency = excluded.currency,
             total_minor = excluded.total_minor, tracking_token = excluded.tracking_token,
             placed_at = excluded.placed_at, updated_at = excluded.updated_at,
             state = excluded.state",
    )
    .bind(&rows.order_id)
    .bind(&rows.customer_id)
    .bind(&rows.channel)
    .bind(&rows.status)
    .bind(&rows.version)
    .bind(&rows.position)
    .bind(&rows.currency)
    .bind(&rows.total_minor)
    .bind(&rows.tracking_token)
    .bind(&rows.placed_at)
    .bind(&rows.updated_at)
    .bind(&rows.state)
    .execute(&mut *tx)
    .await
    .map_err(ProjectionError::database("write order_tracking"))?;
    Ok(())
}

/// Inserts the timeline segments. A plain insert on purpose: a batch
/// applied twice would violate the primary key and stop the projector loudly
/// instead of passing unnoticed. (An event applied twice in another batching
/// is caught earlier, by `fold`'s version check against the stored state.)
async fn write_timeline(tx: &mut PgConnection, rows: CopyRows) -> Result<(), ProjectionError> {
    copy_in(
        tx,
        "copy order_timeline (order_id, first_version, event_ids, positions, event_types,
             occurred_at, recorded_at, actors, summaries)
         from stdin (format binary)",
        rows,
        "copy into order_timeline",
    )
    .await
}

/// Sends `rows` through a `COPY … FROM STDIN (FORMAT binary)` statement;
/// `operation` names it in errors.
async fn copy_in(
    tx: &mut PgConnection,
    statement: &str,
    rows: CopyRows,
    operation: &'static str,
) -> Result<(), ProjectionError> {
    let mut copy = tx
        .copy_in_raw(statement)
        .await
        .map_err(ProjectionError::database(operation))?;
    copy.send(rows.finish())
        .await
        .map_err(ProjectionError::database(operation))?;
    copy.finish()
        .await
        .map_err(ProjectionError::database(operation))?;
    Ok(())
}
