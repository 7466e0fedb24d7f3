//! Ordo's stream consumers.
//!
//! - [`runtime`]: the projector runtime. It reads the stream with an ordered
//!   consumer from its checkpoint + 1 and applies each batch and the new
//!   checkpoint in one PostgreSQL transaction, which gives exactly-once
//!   effects across crashes.
//! - [`order_views`]: the order read models (tracking, timeline, the
//!   customer's order index).
//! - [`rebuild`]: rebuild a read model beside the live one and swap it in,
//!   or check it against a fresh copy.
//! - [`stock_views`]: the location and inventory read models.
//! - [`erp_export`]: the ERP export records per business day.
//! - [`router`]: the routing process manager (allocations, reservations,
//!   backorders).
//! - [`sealer`]: appends seals (Merkle roots over stream ranges).
//! - [`error`]: what can go wrong, as [`ProjectionError`].
//!
//! The read-model schema lives in the workspace's `migrations/` folder and is
//! embedded here as [`MIGRATOR`].

mod binary_copy;
pub mod erp_export;
pub mod error;
pub mod order_views;
pub mod rebuild;
pub mod router;
pub mod runtime;
pub mod sealer;
pub mod stock_views;

pub use erp_export::{ErpExport, ERP_EXPORT};
pub use error::ProjectionError;
pub use order_views::{OrderViews, ORDER_VIEWS};
pub use router::{Router, ROUTER};
pub use runtime::{checkpoint, wait_for_position, Projection, Projector, ProjectorConfig};
pub use sealer::{Sealer, SealerConfig};
pub use stock_views::{StockViews, STOCK_VIEWS};

/// The distinct aggregate ids of a batch's commits, sorted: what a
/// projection loads the current rows of before folding the batch.
pub(crate) fn aggregate_ids(commits: &[&ordo_ledger::StoredCommit]) -> Vec<String> {
    let mut ids: Vec<String> = commits
        .iter()
        .filter_map(|c| c.envelopes.first())
        .map(|e| e.aggregate_id.clone())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The read-model migrations, applied by `ordo migrate` and on `serve`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
