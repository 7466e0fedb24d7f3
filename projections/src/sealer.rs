//! The sealer: appends a seal every N events or T seconds, whichever comes
//! first (DESIGN.md, "Tamper evidence").
//!
//! It follows the stream from the last seal, checks each event's hash, and
//! seals the Merkle root of the event hashes since the last seal. The append
//! is conditional on the last seal's position, so two sealers (two Ordo
//! processes) can never fork the seal chain: the loser resynchronises.

use crate::ProjectionError;
use futures::{FutureExt, StreamExt};
use ordo_ledger::seal::leaf_of;
use ordo_ledger::{Ledger, LedgerError, Seal};
use std::future::Future;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::Instant;

/// When to seal.
#[derive(Debug, Clone)]
pub struct SealerConfig {
    pub every_events: usize,
    pub every: Duration,
}

impl Default for SealerConfig {
    fn default() -> Self {
        Self {
            every_events: 1000,
            every: Duration::from_secs(10),
        }
    }
}

/// Appends seals to one namespace's stream.
pub struct Sealer {
    ledger: Ledger,
    config: SealerConfig,
}

/// Why [`Sealer::follow`] returned without error.
enum Flow {
    Stopped,
    /// Someone else sealed, or the consumer ended: start again from the
    /// newest seal.
    Resync,
}

/// The seal chain as this sealer knows it.
struct Chain {
    last: Option<(u64, Seal)>,
    leaves: Vec<[u8; 32]>,
    to_position: u64,
}

impl Sealer {
    pub fn new(ledger: Ledger, config: SealerConfig) -> Self {
        Self { ledger, config }
    }

    /// Runs until `shutdown` resolves; transient faults are retried.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ProjectionError> {
        let shutdown = shutdown.boxed().shared();
        loop {
            match self.follow(shutdown.clone()).await {
                Ok(Flow::Stopped) => return Ok(()),
                Ok(Flow::Resync) => {}
                Err(error) if error.is_transient() => {
                    tracing::warn!(error = %error, "sealer fault, retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = shutdown.clone() => return Ok(()),
                    }
                }
                Err(error) => {
                    tracing::error!(error = %error, "sealer stopped on a fault");
                    return Err(error);
                }
            }
        }
    }

    async fn follow(
        &self,
        shutdown: impl Future<Output = ()> + Clone,
    ) -> Result<Flow, ProjectionError> {
        let last = self.ledger.last_seal().await?;
        let start = last.as_ref().map_or(1, |(_, seal)| seal.to_position + 1);
        let mut chain = Chain {
            last,
            leaves: Vec::new(),
            to_position: 0,
        };
        let mut commits = self.ledger.read_from(start, None, true).await?;
        let mut deadline = Instant::now() + self.config.every;
        loop {
            tokio::select! {
                next = commits.next() => {
                    let Some(commit) = next else { return Ok(Flow::Resync) };
                    let commit = commit?;
                    if let Some(seal) = commit.seal {
                        let is_ours = chain.last.as_ref().is_some_and(|(_, s)| s.hash == seal.hash);
                        if !is_ours {
                            return Ok(Flow::Resync);
                        }
                        continue;
                    }
                    for envelope in &commit.envelopes {
                        chain.leaves.extend(leaf_of(&envelope.hash));
                    }
                    chain.to_position = commit.position;
                    if chain.leaves.len() >= self.config.every_events {
                        if !self.seal(&mut chain).await? {
                            return Ok(Flow::Resync);
                        }
                        deadline = Instant::now() + self.config.every;
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    if !chain.leaves.is_empty() && !self.seal(&mut chain).await? {
                        return Ok(Flow::Resync);
                    }
                    deadline = Instant::now() + self.config.every;
                }
                () = shutdown.clone() => return Ok(Flow::Stopped),
            }
        }
    }

    /// Appends the seal of the pending leaves. `false` when another sealer
    /// sealed first.
    async fn seal(&self, chain: &mut Chain) -> Result<bool, ProjectionError> {
        let previous = chain.last.as_ref().map(|(_, seal)| seal);
        let seal = Seal::new(
            previous,
            chain.to_position,
            &chain.leaves,
            OffsetDateTime::now_utc(),
        )
        .map_err(|e| ProjectionError::Unapplicable {
            position: chain.to_position,
            reason: format!("cannot build a seal: {e}"),
        })?;
        let expected = chain.last.as_ref().map_or(0, |(position, _)| *position);
        match self.ledger.append_seal(&seal, expected).await {
            Ok(position) => {
                tracing::info!(
                    stream_seq = position,
                    from = seal.from_position,
                    to = seal.to_position,
                    events = seal.event_count,
                    "ledger sealed"
                );
                chain.last = Some((position, seal));
                chain.leaves.clear();
                Ok(true)
            }
            Err(LedgerError::Conflict { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}
