//! Commits: one JetStream message holding the events of one decision.
//!
//! A decision may produce several events (a modification that changes lines
//! and address at once). They are stored as one message, so the decision is
//! stored whole or not at all, and a position (a stream sequence) names a
//! commit. The payload is `{"events": [<envelope>, ...]}`.

use crate::envelope::{verify_hash, Envelope};
use crate::seal::{Seal, SealPayload};
use crate::LedgerError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The payload of one commit message.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CommitPayload<T> {
    pub(crate) events: T,
}

/// A commit as read back from the stream.
#[derive(Debug, Clone)]
pub struct StoredCommit {
    /// The stream sequence of the message: the commit's position.
    pub position: u64,
    pub subject: String,
    /// The events of the commit; empty for a seal.
    pub envelopes: Vec<Envelope>,
    /// Set when the message is a seal rather than a commit of events.
    pub seal: Option<Seal>,
}

impl StoredCommit {
    /// Parses a message payload. With `verify`, every envelope's hash is
    /// recomputed over the stored JSON before it is trusted.
    pub fn parse(
        subject: &str,
        position: u64,
        payload: &[u8],
        verify: bool,
    ) -> Result<Self, LedgerError> {
        let corrupt = |reason: String| LedgerError::Corrupt {
            subject: subject.to_owned(),
            stream_seq: position,
            reason,
        };
        if is_seal_subject(subject) {
            let payload: SealPayload = serde_json::from_slice(payload)
                .map_err(|e| corrupt(format!("payload is not a seal: {e}")))?;
            if verify && !payload.seal.is_hash_valid() {
                return Err(corrupt("seal hash mismatch".to_owned()));
            }
            let (subject, seal) = (subject.to_owned(), Some(payload.seal));
            return Ok(Self {
                position,
                subject,
                envelopes: Vec::new(),
                seal,
            });
        }
        let envelopes = if verify {
            // The hash is computed over the stored JSON, so read it as a value
            // first and our types second.
            let raw: CommitPayload<Vec<Value>> = serde_json::from_slice(payload)
                .map_err(|e| corrupt(format!("payload is not a commit: {e}")))?;
            let mut envelopes = Vec::with_capacity(raw.events.len());
            for value in raw.events {
                verify_hash(&value).map_err(corrupt)?;
                let envelope: Envelope = serde_json::from_value(value)
                    .map_err(|e| corrupt(format!("envelope does not parse: {e}")))?;
                envelopes.push(envelope);
            }
            envelopes
        } else {
            let raw: CommitPayload<Vec<Envelope>> = serde_json::from_slice(payload)
                .map_err(|e| corrupt(format!("payload is not a commit: {e}")))?;
            raw.events
        };
        if envelopes.is_empty() {
            return Err(corrupt("commit holds no events".to_owned()));
        }
        Ok(Self {
            position,
            subject: subject.to_owned(),
            envelopes,
            seal: None,
        })
    }

    /// The aggregate type named by the subject (`<ns>.<kind>.<id>`).
    pub fn aggregate_type(&self) -> Option<&str> {
        self.subject.split('.').nth(1)
    }

    /// The aggregate version after this commit.
    pub fn last_version(&self) -> u64 {
        self.envelopes.last().map_or(0, |e| e.aggregate_version)
    }
}

/// Seals live on `<ns>.seal`, the one two-token subject of a namespace.
pub(crate) fn is_seal_subject(subject: &str) -> bool {
    let mut tokens = subject.split('.');
    matches!(
        (tokens.next(), tokens.next(), tokens.next()),
        (Some(_), Some("seal"), None)
    )
}
