//! The routing process: decides where orders are fulfilled and keeps the
//! stock reservations in step with those decisions (DESIGN.md, "Routing").
//!
//! It runs in the projector runtime: it reads the stream in order from its
//! checkpoint and commits its own state (the backorder queue and the daily
//! capacity used) with the checkpoint. Its effects on the ledger happen
//! before that commit, so after a crash it repeats the last batch. Every step
//! is therefore safe to repeat:
//!
//! - a reservation is set as the order's total at a stock item, derived from
//!   the order's allocations, so repeating it changes nothing;
//! - a decision is recorded on the order only for what is still unallocated,
//!   after its reservations are made; what an interrupted attempt reserved
//!   beyond the order's allocations is released by the next attempt, and an
//!   attempt the order overtook (cancelled, lines changed) gives back what it
//!   reserved;
//! - consumption carries an idempotency key made from the shipment event's
//!   id, which the stock's history remembers.
//!
//! Reactions: `OrderPlaced`, `OrderLinesChanged` and `RoutingReleased` route
//! the order; `OrderCancelled` releases its reservations; `ShipmentDispatched`
//! consumes them. Stock that grows (received, counted, corrected, released)
//! routes the backordered lines of its SKU in order of placement, stopping at
//! the first order that still cannot be served, before any newer order.

mod offer;
mod state;

use crate::{Projection, ProjectionError};
use ordo_domain::order::{ItemLine, OrderCommand, RouteOrder};
use ordo_domain::routing::{plan_route, Allocation, RoutingPolicyState};
use ordo_domain::stock::{decide_stock, StockCommand, StockError};
use ordo_domain::{decide, Location, LocationId, Order, OrderEvent, OrderId, OrderStatus};
use ordo_domain::{Quantity, Sku, Stock};
use ordo_ledger::aggregate::{decode_event, ExecuteError, Executed, Repository};
use ordo_ledger::{stock_id, Actor, ActorKind, CommandContext, Envelope, Ledger, StoredCommit};
use ordo_ledger::{Aggregate, ROUTING_POLICY_ID};
use sqlx::PgConnection;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// The process's name and checkpoint row.
pub const ROUTER: &str = "router";

/// How often one order is planned again when a reservation was refused (a
/// store counted the stock down while we decided).
const MAX_ROUTING_ATTEMPTS: usize = 4;

/// A stock item: (location, SKU).
type StockKey = (LocationId, Sku);

/// The routing process manager.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

struct Inner {
    ledger: Ledger,
    orders: Repository<Order>,
    stock: Repository<Stock>,
    locations: Repository<Location>,
    policy: Repository<RoutingPolicyState>,
    /// Every location id, read from the stream's subject index at the first
    /// batch and extended by location events.
    location_ids: tokio::sync::Mutex<Option<BTreeSet<String>>>,
}

impl Router {
    pub fn new(ledger: Ledger) -> Self {
        Self {
            inner: Arc::new(Inner {
                orders: Repository::new(ledger.clone()),
                stock: Repository::new(ledger.clone()),
                locations: Repository::new(ledger.clone()),
                policy: Repository::new(ledger.clone()),
                ledger,
                location_ids: tokio::sync::Mutex::new(None),
            }),
        }
    }
}

impl Projection for Router {
    fn name(&self) -> &'static str {
        ROUTER
    }

    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        commits: &'a [StoredCommit],
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send + 'a {
        let mut batch = Batch {
            router: &self.inner,
            tx,
            dirty: BTreeMap::new(),
            counted: HashSet::new(),
        };
        async move {
            for commit in commits {
                for envelope in &commit.envelopes {
                    batch.react(envelope, commit.position).await?;
                }
            }
            batch.drain_all().await
        }
    }
}

/// What the router holds while it works through one batch.
struct Batch<'a> {
    router: &'a Inner,
    tx: &'a mut PgConnection,
    /// SKUs whose stock grew, with the event that grew it.
    dirty: BTreeMap<Sku, Uuid>,
    /// (order, cause) pairs whose decisions are counted against capacity.
    counted: HashSet<(OrderId, Uuid)>,
}

/// What routing one order achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Routed {
    Allocated,
    Nothing,
}

impl Batch<'_> {
    async fn react(&mut self, envelope: &Envelope, position: u64) -> Result<(), ProjectionError> {
        let cause = envelope.event_id;
        match envelope.aggregate_type.as_str() {
            "order" => self.react_to_order(envelope, position).await,
            "stock" => {
                let grows = matches!(
                    envelope.event_type.as_str(),
                    "StockReceived" | "StockCounted" | "StockCorrected" | "ReservationReleased"
                );
                let sku = envelope.aggregate_id.split_once('.').map(|(_, sku)| sku);
                if let (true, Some(sku)) = (grows, sku) {
                    let sku = Sku::parse(sku).map_err(|e| unapplicable(position, e))?;
                    self.dirty.entry(sku).or_insert(cause);
                }
                Ok(())
            }
            "location" => {
                self.router
                    .location_ids(Some(&envelope.aggregate_id))
                    .await?;
                // A new or changed location may serve what waits.
                for sku in state::backordered_skus(self.tx).await? {
                    self.dirty.entry(sku).or_insert(cause);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn react_to_order(
        &mut self,
        envelope: &Envelope,
        position: u64,
    ) -> Result<(), ProjectionError> {
        let cause = envelope.event_id;
        let order_id =
            OrderId::parse(&envelope.aggregate_id).map_err(|e| unapplicable(position, e))?;
        let event = || decode_event::<Order>(envelope).map_err(|e| unapplicable(position, e));
        match envelope.event_type.as_str() {
            "OrderPlaced" | "OrderLinesChanged" => {
                self.drain_all().await?;
                self.route(&order_id, cause, position).await?;
            }
            "RoutingReleased" => {
                if let OrderEvent::RoutingReleased(released) = event()? {
                    let touched = released.allocations.iter().map(stock_key).collect();
                    self.settle(&order_id, touched, cause).await?;
                }
                self.drain_all().await?;
                self.route(&order_id, cause, position).await?;
            }
            "OrderCancelled" => {
                let loaded = self.router.orders.load(order_id.as_str()).await?;
                let touched = loaded
                    .state
                    .placed
                    .as_ref()
                    .map_or_else(BTreeSet::new, |p| {
                        p.allocations.iter().map(stock_key).collect()
                    });
                self.settle(&order_id, touched, cause).await?;
                state::sync_backorders(self.tx, &order_id, &loaded.state, position).await?;
            }
            "ShipmentDispatched" => {
                if let OrderEvent::ShipmentDispatched(shipped) = event()? {
                    for line in &shipped.lines {
                        self.consume(&order_id, &shipped.location_id, line, cause)
                            .await?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Routes what of the order is unallocated: plan, reserve, record.
    /// `position` orders a new backorder in the queue when the order has no
    /// queued line yet.
    async fn route(
        &mut self,
        order_id: &OrderId,
        cause: Uuid,
        position: u64,
    ) -> Result<Routed, ProjectionError> {
        for attempt in 1..=MAX_ROUTING_ATTEMPTS {
            let loaded = self.router.orders.load(order_id.as_str()).await?;
            let order = &loaded.state;
            self.count_earlier_decisions(order_id, order, cause).await?;
            let Some(placed) = order.placed.as_ref() else {
                return Ok(Routed::Nothing);
            };
            let need = placed.unallocated();
            if order.status() == OrderStatus::Cancelled || need.is_empty() {
                state::sync_backorders(self.tx, order_id, order, position).await?;
                return Ok(Routed::Nothing);
            }

            let (policy, offer) = futures::try_join!(
                async { Ok(self.router.policy.load(ROUTING_POLICY_ID).await?) },
                self.router.offer(self.tx, order_id, placed, &need),
            )?;
            let destination = placed.shipping_address.known().and_then(|a| a.coordinates);
            let lines = item_lines(&need);
            let plan = plan_route(&lines, destination, &offer.candidates, &policy.state.policy);

            let mut targets = offer.baseline(placed);
            for allocation in &plan.allocations {
                let key = stock_key(allocation);
                let base = placed.allocated_unshipped(&key.0, &key.1);
                *targets.entry(key).or_insert(base) += allocation.quantity.get();
            }
            let step = format!("reserve-{order_id}-{attempt}");
            if !self.reserve(order_id, &targets, cause, &step).await? {
                tracing::warn!(order_id = %order_id, attempt, "stock moved while routing");
                continue;
            }

            let command = OrderCommand::Route(RouteOrder {
                plan: plan.clone(),
                policy_version: policy.state.version,
                cause: cause.to_string(),
            });
            let context = step_context(cause, format!("route-{attempt}"));
            let outcome = self
                .router
                .orders
                .execute(order_id.as_str(), &context, |o| {
                    decide(o, command.clone(), context.now)
                })
                .await;
            match outcome {
                Ok(executed) => {
                    let allocated = !plan.allocations.is_empty();
                    if allocated {
                        self.count(&plan.allocations, &offer.days).await?;
                    }
                    let now = match executed {
                        Executed::Appended { state, .. } | Executed::Unchanged { state, .. } => {
                            state
                        }
                        Executed::Replayed(_) => self
                            .router
                            .orders
                            .load(order_id.as_str())
                            .await?
                            .state
                            .clone(),
                    };
                    state::sync_backorders(self.tx, order_id, &now, position).await?;
                    tracing::info!(
                        order_id = %order_id,
                        allocations = plan.allocations.len(),
                        backordered = plan.backordered.len(),
                        policy_version = policy.state.version,
                        "order routed"
                    );
                    return Ok(if allocated {
                        Routed::Allocated
                    } else {
                        Routed::Nothing
                    });
                }
                Err(ExecuteError::Rejected(error)) => {
                    // The order changed while we decided: give back what
                    // this attempt reserved, then look again.
                    tracing::info!(order_id = %order_id, error = %error, "routing overtaken");
                    self.settle(order_id, targets.into_keys().collect(), cause)
                        .await?;
                }
                Err(other) => return Err(step_failed("route", other)),
            }
        }
        // Still moving after every attempt: keep nothing the order does not
        // hold, and let the batch be retried.
        let loaded = self.router.orders.load(order_id.as_str()).await?;
        if let Some(placed) = &loaded.state.placed {
            let need = placed.unallocated();
            let offer = self.router.offer(self.tx, order_id, placed, &need).await?;
            self.settle(order_id, offer.held.into_keys().collect(), cause)
                .await?;
        }
        Err(ProjectionError::StepStalled {
            step: format!("route {order_id}"),
            reason: "the stock kept changing while routing".to_owned(),
        })
    }

    /// Sets the order's reservation at each stock item to its target.
    /// Returns false if a stock item refused (not enough available).
    async fn reserve(
        &mut self,
        order_id: &OrderId,
        targets: &BTreeMap<StockKey, u32>,
        cause: Uuid,
        step: &str,
    ) -> Result<bool, ProjectionError> {
        for ((location, sku), total) in targets {
            let command = StockCommand::Reserve {
                order_id: order_id.clone(),
                total: *total,
            };
            let context = step_context(cause, step.to_owned());
            let outcome = self
                .router
                .stock
                .execute(&stock_id(location, sku), &context, |s| {
                    decide_stock(s, command.clone())
                })
                .await;
            match outcome {
                Ok(_) => {}
                Err(ExecuteError::Rejected(StockError::InsufficientStock { .. })) => {
                    return Ok(false)
                }
                Err(other) => return Err(step_failed("reserve", other)),
            }
        }
        Ok(true)
    }

    /// Brings the order's reservations at `touched` back to what its current
    /// state says: its unshipped allocations, or nothing once cancelled.
    async fn settle(
        &mut self,
        order_id: &OrderId,
        touched: BTreeSet<StockKey>,
        cause: Uuid,
    ) -> Result<(), ProjectionError> {
        if touched.is_empty() {
            return Ok(());
        }
        let loaded = self.router.orders.load(order_id.as_str()).await?;
        let targets = touched
            .into_iter()
            .map(|key| {
                let target = reservation_target(&loaded.state, &key);
                (key, target)
            })
            .collect();
        let step = format!("settle-{order_id}");
        if !self.reserve(order_id, &targets, cause, &step).await? {
            // Only a target above what the order holds can be refused, and
            // settling lowers targets; a person must look if it happens.
            tracing::error!(order_id = %order_id, "settling reservations was refused");
        }
        Ok(())
    }

    /// A shipment left: its units leave the stock and the reservation.
    async fn consume(
        &mut self,
        order_id: &OrderId,
        location: &LocationId,
        line: &ItemLine,
        cause: Uuid,
    ) -> Result<(), ProjectionError> {
        let mut context = step_context(cause, "consume".to_owned());
        context.idempotency_key = Some(format!("consume-{cause}"));
        let command = StockCommand::Consume {
            order_id: order_id.clone(),
            quantity: line.quantity,
        };
        let outcome = self
            .router
            .stock
            .execute(&stock_id(location, &line.sku), &context, |s| {
                decide_stock(s, command.clone())
            })
            .await;
        match outcome {
            Ok(_) => Ok(()),
            Err(ExecuteError::Rejected(error)) => {
                // The order's own rules let the shipment through, so the
                // stock disagrees with the order: a person must look.
                tracing::error!(
                    order_id = %order_id,
                    location_id = %location,
                    sku = %line.sku,
                    error = %error,
                    "shipment could not be consumed from stock"
                );
                Ok(())
            }
            Err(other) => Err(step_failed("consume", other)),
        }
    }

    /// Routes waiting orders of every SKU whose stock grew.
    async fn drain_all(&mut self) -> Result<(), ProjectionError> {
        while let Some((sku, cause)) = self.dirty.pop_first() {
            self.drain(&sku, cause).await?;
        }
        Ok(())
    }

    /// Routes the backordered lines of `sku` in order of placement until
    /// one order cannot be served.
    async fn drain(&mut self, sku: &Sku, cause: Uuid) -> Result<(), ProjectionError> {
        let mut after = None;
        loop {
            let queue = state::backorder_queue(self.tx, sku, after.clone()).await?;
            if queue.is_empty() {
                return Ok(());
            }
            for (order_id, position) in queue {
                if self.route(&order_id, cause, position).await? == Routed::Nothing {
                    return Ok(());
                }
                after = Some((position, order_id));
            }
        }
    }

    /// After a crash, the decisions a cause made before are counted again,
    /// because the transaction that counted them was rolled back.
    async fn count_earlier_decisions(
        &mut self,
        order_id: &OrderId,
        order: &Order,
        cause: Uuid,
    ) -> Result<(), ProjectionError> {
        if !self.counted.insert((order_id.clone(), cause)) {
            return Ok(());
        }
        let Some(placed) = &order.placed else {
            return Ok(());
        };
        let cause = cause.to_string();
        let earlier: Vec<Allocation> = placed
            .routing
            .iter()
            .filter(|d| d.cause == cause)
            .flat_map(|d| d.allocations.iter().cloned())
            .collect();
        if earlier.is_empty() {
            return Ok(());
        }
        let mut days = BTreeMap::new();
        for allocation in &earlier {
            if let Some(day) = self.router.local_day(&allocation.location_id).await? {
                days.insert(allocation.location_id.clone(), day);
            }
        }
        self.count(&earlier, &days).await
    }

    /// Counts one order against the daily capacity of each location used.
    async fn count(
        &mut self,
        allocations: &[Allocation],
        days: &BTreeMap<LocationId, time::Date>,
    ) -> Result<(), ProjectionError> {
        let used: BTreeSet<&LocationId> = allocations.iter().map(|a| &a.location_id).collect();
        for location in used {
            if let Some(day) = days.get(location) {
                state::count_order(self.tx, location, *day).await?;
            }
        }
        Ok(())
    }
}

/// What the order should hold at a stock item now.
fn reservation_target(order: &Order, (location, sku): &StockKey) -> u32 {
    match &order.placed {
        Some(placed) if order.status() != OrderStatus::Cancelled => {
            placed.allocated_unshipped(location, sku)
        }
        _ => 0,
    }
}

fn stock_key(allocation: &Allocation) -> StockKey {
    (allocation.location_id.clone(), allocation.sku.clone())
}

fn item_lines(need: &BTreeMap<Sku, u32>) -> Vec<ItemLine> {
    need.iter()
        .filter_map(|(sku, units)| {
            let quantity = Quantity::parse(i64::from(*units)).ok()?;
            Some(ItemLine {
                sku: sku.clone(),
                quantity,
            })
        })
        .collect()
}

fn step_context(cause: Uuid, step: String) -> CommandContext {
    let actor = Actor {
        kind: ActorKind::Process,
        id: ROUTER.to_owned(),
    };
    CommandContext::for_step(actor, OffsetDateTime::now_utc(), cause, step)
}

fn unapplicable(position: u64, error: impl Display) -> ProjectionError {
    ProjectionError::Unapplicable {
        position,
        reason: error.to_string(),
    }
}

fn step_failed<E: Display>(step: &str, error: ExecuteError<E>) -> ProjectionError {
    match error {
        ExecuteError::Ledger(error) => error.into(),
        other => ProjectionError::StepStalled {
            step: step.to_owned(),
            reason: other.to_string(),
        },
    }
}

impl Inner {
    /// Adds a location id (when `id` is given) to the known ones, reading the
    /// stream's subject index first if this router has not yet.
    async fn location_ids(&self, id: Option<&str>) -> Result<Vec<String>, ProjectionError> {
        let mut ids = self.location_ids.lock().await;
        let known = match ids.as_mut() {
            Some(known) => known,
            None => ids.insert(
                self.ledger
                    .aggregate_ids(Location::KIND)
                    .await?
                    .into_iter()
                    .collect(),
            ),
        };
        if let Some(id) = id {
            known.insert(id.to_owned());
        }
        Ok(known.iter().cloned().collect())
    }
}
