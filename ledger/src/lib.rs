//! Ordo's event log, kept in one NATS JetStream stream per namespace.
//!
//! This crate is the only code that speaks JetStream: subjects, header names
//! and the envelope format are defined here once, and everyone else calls
//! [`Repository::execute`], [`Repository::load`] and [`Ledger::read_from`].
//!
//! - [`namespace`]: the namespace that names the stream and prefixes every
//!   subject (`ordo` → stream `ORDO`, subjects `ordo.>`).
//! - [`envelope`]: the stored form of one event, its canonical bytes and its
//!   SHA-256 hash chain.
//! - [`commit`]: one JetStream message, holding the events of one decision.
//! - [`stream`]: the [`Ledger`] handle: stream setup, append, read from a
//!   position, and what an acknowledgement means on the server found.
//! - [`personal`]: crypto-shredding: per-customer data keys in a KV bucket,
//!   and the sealing of personal values in events.
//! - [`seal`]: seals, the Merkle roots over stream ranges, and proofs.
//! - [`verify`]: recomputes hashes, chains and seals over a range.
//! - [`aggregate`]: loading an aggregate and running a command against it with
//!   optimistic concurrency, idempotency and a bounded retry.
//! - [`error`]: what can go wrong, as [`LedgerError`].
//!
//! The on-disk format is documented for third parties in
//! `docs/ledger-format.md`.

pub mod aggregate;
mod bindings;
pub mod commit;
pub mod envelope;
pub mod error;
pub mod namespace;
pub mod personal;
pub mod seal;
pub mod verify;
pub use bindings::{stock_id, OrderReceipt, ROUTING_POLICY_ID};
pub mod stream;

pub use aggregate::{
    decode_event, Aggregate, CommandContext, ExecuteError, Executed, History, IdempotencyRecord,
    Loaded, Repository,
};
pub use commit::StoredCommit;
pub use envelope::{Actor, ActorKind, Envelope};
pub use error::LedgerError;
pub use namespace::Namespace;
pub use personal::{KeyStatus, MasterKey};
pub use seal::Seal;
pub use stream::{Durability, Ledger, LedgerConfig, RawMessage};
pub use verify::{verify, VerifyProblem, VerifyReport};
