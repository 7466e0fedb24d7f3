//! Verification of a stretch of the ledger: every event hash, every
//! per-aggregate link, every seal, and the absence of gaps.
//!
//! It reads the stored bytes, not our types, so it checks exactly what a
//! third party would (`docs/ledger-format.md`). It collects every problem it
//! finds rather than stopping at the first, so one run shows the extent of a
//! tampering.

use crate::commit::is_seal_subject;
use crate::envelope::{verify_hash, Envelope, GENESIS_HASH};
use crate::seal::{leaf_of, merkle_root, SealPayload};
use crate::{Ledger, LedgerError, Seal};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// The most problems a report lists; a badly damaged ledger would otherwise
/// produce an unreadable report.
const MAX_PROBLEMS: usize = 1000;

/// What `verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub from_position: u64,
    pub to_position: u64,
    pub commits: u64,
    pub events: u64,
    pub seals: u64,
    /// Links into the range from events before it, which a partial run cannot
    /// check.
    pub unchecked_links: u64,
    /// Seals that reach back before the range.
    pub unchecked_seals: u64,
    pub problems: Vec<VerifyProblem>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One thing that does not match.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyProblem {
    pub position: u64,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// `hash`, `link`, `version`, `missing`, `seal` or `malformed`.
    pub kind: &'static str,
    pub detail: String,
}

/// The running state of a verification.
struct Verifier {
    report: VerifyReport,
    /// Per subject: the last version and hash seen.
    chains: HashMap<String, (u64, String)>,
    /// Event hashes not yet covered by a seal, with their positions.
    pending: Vec<(u64, [u8; 32])>,
    last_seal: Option<Seal>,
}

/// Verifies positions `from..=to` (`to` defaults to the stream's end).
/// `progress` is called with each position and the last one.
pub async fn verify(
    ledger: &Ledger,
    from: u64,
    to: Option<u64>,
    mut progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, LedgerError> {
    let from = from.max(1);
    let end = ledger.last_position().await?;
    let to = to.unwrap_or(end).min(end);
    let mut verifier = Verifier {
        report: VerifyReport {
            from_position: from,
            to_position: to,
            ..Default::default()
        },
        chains: HashMap::new(),
        pending: Vec::new(),
        last_seal: None,
    };
    if to < from {
        return Ok(verifier.report);
    }
    let mut messages = ledger.read_raw_from(from).await?;
    let mut expected = from;
    while let Some(message) = messages.next().await {
        let message = message?;
        if message.position > to {
            break;
        }
        if message.position > expected {
            verifier.missing(expected, message.position - 1, &message.subject);
        }
        expected = message.position + 1;
        if is_seal_subject(&message.subject) {
            verifier.check_seal(message.position, &message.subject, &message.payload);
        } else {
            verifier.check_commit(message.position, &message.subject, &message.payload);
        }
        progress(message.position, to);
        if message.position == to {
            break;
        }
    }
    if expected <= to {
        verifier.missing(expected, to, "");
    }
    Ok(verifier.report)
}

impl Verifier {
    fn problem(
        &mut self,
        position: u64,
        subject: &str,
        event_id: Option<String>,
        kind: &'static str,
        detail: String,
    ) {
        if self.report.problems.len() < MAX_PROBLEMS {
            let subject = subject.to_owned();
            self.report.problems.push(VerifyProblem {
                position,
                subject,
                event_id,
                kind,
                detail,
            });
        }
    }

    fn missing(&mut self, first: u64, last: u64, next_subject: &str) {
        let detail = if first == last {
            format!("stream position {first} is missing (deleted)")
        } else {
            format!("stream positions {first} to {last} are missing (deleted)")
        };
        self.problem(first, next_subject, None, "missing", detail);
    }

    fn check_commit(&mut self, position: u64, subject: &str, payload: &[u8]) {
        self.report.commits += 1;
        let events = serde_json::from_slice::<Value>(payload)
            .ok()
            .and_then(|v| v.get("events").and_then(Value::as_array).cloned());
        let Some(events) = events else {
            let detail = "payload is not a commit".to_owned();
            return self.problem(position, subject, None, "malformed", detail);
        };
        for value in events {
            self.check_event(position, subject, &value);
        }
    }

    fn check_event(&mut self, position: u64, subject: &str, value: &Value) {
        self.report.events += 1;
        let event_id = value
            .get("event_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Err(detail) = verify_hash(value) {
            self.problem(position, subject, event_id.clone(), "hash", detail);
        }
        if let Some(leaf) = value.get("hash").and_then(Value::as_str).and_then(leaf_of) {
            self.pending.push((position, leaf));
        }
        let envelope: Envelope = match serde_json::from_value(value.clone()) {
            Ok(envelope) => envelope,
            Err(e) => {
                let detail = format!("envelope does not parse: {e}");
                return self.problem(position, subject, event_id, "malformed", detail);
            }
        };
        self.check_link(position, subject, &envelope);
        self.chains.insert(
            subject.to_owned(),
            (envelope.aggregate_version, envelope.hash),
        );
    }

    /// Checks that an event continues its aggregate's chain.
    fn check_link(&mut self, position: u64, subject: &str, envelope: &Envelope) {
        let event_id = Some(envelope.event_id.to_string());
        let (expected_version, expected_prev) = match self.chains.get(subject) {
            Some((version, hash)) => (version + 1, hash.clone()),
            None if envelope.aggregate_version == 1 => (1, GENESIS_HASH.to_owned()),
            None if self.report.from_position > 1 => {
                self.report.unchecked_links += 1;
                return;
            }
            None => (1, GENESIS_HASH.to_owned()),
        };
        if envelope.aggregate_version != expected_version {
            let detail = format!(
                "version {} where {expected_version} was due",
                envelope.aggregate_version
            );
            self.problem(position, subject, event_id.clone(), "version", detail);
        }
        if envelope.prev_hash != expected_prev {
            let detail = format!(
                "prev_hash {} does not link to the previous event's hash {expected_prev}",
                envelope.prev_hash
            );
            self.problem(position, subject, event_id, "link", detail);
        }
    }

    fn check_seal(&mut self, position: u64, subject: &str, payload: &[u8]) {
        self.report.seals += 1;
        let seal = match serde_json::from_slice::<SealPayload>(payload) {
            Ok(payload) => payload.seal,
            Err(e) => {
                let detail = format!("payload is not a seal: {e}");
                return self.problem(position, subject, None, "malformed", detail);
            }
        };
        if !seal.is_hash_valid() {
            self.problem(
                position,
                subject,
                None,
                "seal",
                "seal hash mismatch".to_owned(),
            );
        }
        let covered: Vec<[u8; 32]> = self
            .pending
            .iter()
            .filter(|(p, _)| *p >= seal.from_position && *p <= seal.to_position)
            .map(|(_, leaf)| *leaf)
            .collect();
        self.pending.retain(|(p, _)| *p > seal.to_position);
        let is_partial = self.last_seal.is_none() && seal.from_position < self.report.from_position;
        if is_partial {
            self.report.unchecked_seals += 1;
        } else {
            self.check_seal_chain(position, subject, &seal);
            self.check_seal_root(position, subject, &seal, &covered);
        }
        self.last_seal = Some(seal);
    }

    fn check_seal_chain(&mut self, position: u64, subject: &str, seal: &Seal) {
        let (from, prev_hash) = match &self.last_seal {
            Some(last) => (last.to_position + 1, last.hash.clone()),
            None => (1, GENESIS_HASH.to_owned()),
        };
        if seal.from_position != from || seal.prev_seal_hash != prev_hash {
            let detail = format!(
                "seal of {}..={} does not follow the previous seal",
                seal.from_position, seal.to_position
            );
            self.problem(position, subject, None, "seal", detail);
        }
    }

    fn check_seal_root(&mut self, position: u64, subject: &str, seal: &Seal, covered: &[[u8; 32]]) {
        let root = hex::encode(merkle_root(covered));
        if root != seal.merkle_root || covered.len() as u64 != seal.event_count {
            let detail = format!(
                "seal of {}..={} does not match the events stored there \
                 (sealed {} events, root {}; found {} events, root {root})",
                seal.from_position,
                seal.to_position,
                seal.event_count,
                seal.merkle_root,
                covered.len()
            );
            self.problem(position, subject, None, "seal", detail);
        }
    }
}
