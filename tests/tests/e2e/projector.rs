//! A projector killed at the worst moments still applies every event exactly
//! once: its read model ends equal to a rebuild from position 0.

use ordo_ledger::StoredCommit;
use ordo_projections::{
    checkpoint, OrderViews, Projection, ProjectionError, Projector, ProjectorConfig, ORDER_VIEWS,
};
use ordo_tests::{eventually, order_body, TestApp};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// Where the projector dies.
#[derive(Clone, Copy)]
enum Death {
    /// Right after a batch committed, before the next one writes anything.
    AfterCommit,
    /// Halfway through a batch's writes, before its commit.
    MidBatch,
}

/// The real projection, except that it hangs in its `dies_in`-th batch so the
/// test can kill it there.
struct Doomed {
    calls: AtomicUsize,
    dies_in: usize,
    death: Death,
    reached: mpsc::Sender<()>,
}

impl Projection for Doomed {
    fn name(&self) -> &'static str {
        ORDER_VIEWS
    }

    async fn apply_batch(
        &self,
        tx: &mut PgConnection,
        commits: &[StoredCommit],
    ) -> Result<(), ProjectionError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call == self.dies_in {
            if let Death::MidBatch = self.death {
                OrderViews
                    .apply_batch(tx, &commits[..commits.len() / 2])
                    .await?;
            }
            let _ = self.reached.send(()).await;
            std::future::pending::<()>().await;
        }
        OrderViews.apply_batch(tx, commits).await
    }
}

/// A ledger with orders in several states, some with multi-event commits.
async fn busy_ledger(app: &TestApp) {
    for i in 0..25 {
        let id = app
            .place_routed(&order_body(&format!("cust-{}", i % 4)))
            .await;
        if i % 3 == 0 {
            let both = json!({"lines": [{"sku": "HAT", "quantity": 2, "unit_price_minor": 700}],
                "shipping_address": {"name": "B", "line1": "2 Lane", "postal_code": "1",
                    "city": "Oslo", "country": "NO"}});
            let patched = app
                .patch(&format!("/v1/orders/{id}"), "channel", &both, &[])
                .await;
            assert_eq!(patched.status, 200, "{patched:?}");
        }
        if i % 4 == 1 && i % 3 != 0 {
            let parcel = json!({"shipment_id": "P1", "location_id": "wh-1", "carrier": "DHL",
                "tracking_number": "T1", "lines": [{"sku": "SHOE-42", "quantity": 1}]});
            assert_eq!(
                app.post(&format!("/v1/orders/{id}/shipments"), "store", &parcel, &[])
                    .await
                    .status,
                200
            );
        }
    }
}

async fn run_to_end(pool: &PgPool, app: &TestApp) {
    let projector = Projector::new(
        OrderViews,
        app.sandbox.ledger.clone(),
        pool.clone(),
        small_batches(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(projector.run(async move {
        let _ = stopped.await;
    }));
    let last = app.sandbox.ledger.last_position().await.unwrap();
    eventually(Duration::from_secs(30), || async {
        checkpoint(pool, ORDER_VIEWS).await.unwrap() >= last
    })
    .await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

fn small_batches() -> ProjectorConfig {
    ProjectorConfig {
        max_batch: 7,
        linger: Duration::from_millis(20),
        stop_at: None,
    }
}

/// The timeline's entries, one row each: its rows are segments, whose
/// boundaries depend on how the projector batched.
const TIMELINE_ENTRIES: &str = "select t.order_id, t.first_version + e.n - 1 as version,
        e.event_id, e.position, e.event_type, e.occurred_at, e.recorded_at, e.actor, e.summary
    from order_timeline t,
        unnest(t.event_ids, t.positions, t.event_types, t.occurred_at, t.recorded_at,
            t.actors, t.summaries)
        with ordinality as e(event_id, position, event_type, occurred_at, recorded_at, actor,
            summary, n)";

/// The tracking rows, their state compared as JSON values: an erasure
/// rewrites it in jsonb's own layout.
const TRACKING_ENTRIES: &str = "select order_id, customer_id, channel, status, version, position,
        currency, total_minor, tracking_token, placed_at, updated_at, state::jsonb as state
    from order_tracking";

/// Every read-model row, as JSON text, in a stable order.
async fn dump(pool: &PgPool) -> Vec<String> {
    let mut tables = Vec::new();
    for (rows, order) in [
        (TRACKING_ENTRIES, "order_id"),
        (TIMELINE_ENTRIES, "order_id, version"),
    ] {
        let sql =
            format!("select coalesce(json_agg(t order by {order})::text, '[]') from ({rows}) t");
        tables.push(
            sqlx::query_scalar::<_, String>(&sql)
                .fetch_one(pool)
                .await
                .unwrap(),
        );
    }
    tables
}

async fn killed_projector_ends_exactly_once(death: Death) {
    let app = TestApp::spawn_routing().await;
    busy_ledger(&app).await;
    let crashed = app.sandbox.scratch_database("crash").await.unwrap();
    let (reached, mut arrived) = mpsc::channel(1);
    let doomed = Doomed {
        calls: AtomicUsize::new(0),
        dies_in: 3,
        death,
        reached,
    };

    let projector = Projector::new(
        doomed,
        app.sandbox.ledger.clone(),
        crashed.clone(),
        small_batches(),
    );
    let task = tokio::spawn(projector.run(std::future::pending()));
    arrived.recv().await.unwrap();
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let stopped_at = checkpoint(&crashed, ORDER_VIEWS).await.unwrap();
    let timeline_rows: i64 =
        sqlx::query_scalar(&format!("select count(*) from ({TIMELINE_ENTRIES}) t"))
            .fetch_one(&crashed)
            .await
            .unwrap();
    let events_until: i64 = sqlx::query_scalar(&format!(
        "select coalesce(max(version), 0) from ({TIMELINE_ENTRIES}) t where position > $1"
    ))
    .bind(stopped_at as i64)
    .fetch_one(&crashed)
    .await
    .unwrap();

    run_to_end(&crashed, &app).await;
    let rebuilt = app.sandbox.scratch_database("rebuild").await.unwrap();
    run_to_end(&rebuilt, &app).await;

    assert!(
        stopped_at > 0,
        "the first batches committed before the kill"
    );
    assert!(timeline_rows > 0);
    assert_eq!(
        events_until, 0,
        "nothing past the checkpoint survived the kill"
    );
    assert_eq!(dump(&crashed).await, dump(&rebuilt).await);
    assert_eq!(
        dump(&app.sandbox.pool).await,
        dump(&rebuilt).await,
        "the live projector agrees"
    );
}

#[tokio::test]
async fn a_projector_killed_right_after_a_commit_applies_every_event_once() {
    killed_projector_ends_exactly_once(Death::AfterCommit).await;
}

#[tokio::test]
async fn a_projector_killed_in_the_middle_of_a_batch_applies_every_event_once() {
    killed_projector_ends_exactly_once(Death::MidBatch).await;
}
