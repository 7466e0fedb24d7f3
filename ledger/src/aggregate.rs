//! Loading aggregates and running commands against them.
//!
//! A command runs as: load the aggregate (from cache plus anything newer in
//! the stream), answer a retried idempotency key from the history, check the
//! caller's expected version, decide, and append with the expected subject
//! sequence. A conflicting append means someone else got there first: we
//! reload and decide again, a bounded number of times (DESIGN.md, "Optimistic
//! concurrency").

use crate::commit::CommitPayload;
use crate::envelope::{Actor, Envelope, GENESIS_HASH};
use crate::personal::{contains_personal, SealingKey};
use crate::{Ledger, LedgerError, StoredCommit};
use serde::de::value::MapDeserializer;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use uuid::Uuid;

/// How often a conflicting command is reloaded and decided again.
pub const MAX_ATTEMPTS: usize = 8;

/// The most aggregates a repository keeps in memory.
const CACHE_CAPACITY: usize = 50_000;

/// An event-sourced aggregate as the ledger sees it.
pub trait Aggregate: Default + Clone + Send + Sync + 'static {
    /// The aggregate's event type; serializes as `{"type": ..., "data": ...}`.
    type Event: Serialize + DeserializeOwned + Send + Sync;
    /// What a repeated request needs to rebuild its first answer.
    type Receipt: Clone + Send + Sync + 'static;

    /// The subject token of the aggregate type: `order` in `ordo.order.<id>`.
    const KIND: &'static str;

    fn apply(self, event: &Self::Event) -> Self;
    fn version(&self) -> u64;
    fn schema_version(event: &Self::Event) -> u32;
    fn receipt(&self) -> Self::Receipt;

    /// Whose personal data the events carry: the id whose data key seals
    /// their `$personal` values (the customer, for orders).
    fn data_subject(&self, events: &[Self::Event]) -> Option<String> {
        let _ = events;
        None
    }

    /// Lifts stored event data of an older schema version to the current
    /// shape. Events are never rewritten on disk; they are upcast on read.
    /// `None` means the data is already current and is decoded as stored,
    /// without an intermediate `Value`.
    fn upcast(
        event_type: &str,
        schema_version: u32,
        data: &RawValue,
    ) -> Result<Option<Value>, String> {
        let _ = (event_type, schema_version, data);
        Ok(None)
    }
}

/// Decodes an envelope's data into the aggregate's event type.
///
/// Current data is parsed from its stored text straight into the event, as
/// the `{"type": ..., "data": ...}` map its serde form expects; only data
/// that an upcaster lifts goes through a `Value`.
pub fn decode_event<A: Aggregate>(envelope: &Envelope) -> Result<A::Event, String> {
    let event_type = envelope.event_type.as_str();
    let failed = |e: serde_json::Error| format!("{event_type} does not parse: {e}");
    match A::upcast(event_type, envelope.schema_version, &envelope.data)? {
        None => {
            let tag = serde_json::value::to_raw_value(event_type).map_err(failed)?;
            let tagged = [("type", &*tag), ("data", &*envelope.data)];
            A::Event::deserialize(MapDeserializer::new(tagged.into_iter())).map_err(failed)
        }
        Some(current) => {
            let tag = Value::String(event_type.to_owned());
            let tagged = [("type", &tag), ("data", &current)];
            A::Event::deserialize(MapDeserializer::new(tagged.into_iter())).map_err(failed)
        }
    }
}

/// The first answer to an idempotent request, as recorded in the history.
#[derive(Debug, Clone)]
pub struct IdempotencyRecord<R> {
    pub request_digest: Option<String>,
    pub version: u64,
    pub position: u64,
    pub receipt: R,
}

/// An aggregate as loaded from the ledger.
#[derive(Debug, Clone)]
pub struct Loaded<A: Aggregate> {
    pub state: A,
    /// The stream sequence of the aggregate's last commit; 0 when it has none.
    pub last_position: u64,
    pub last_hash: String,
    pub idempotency: HashMap<String, IdempotencyRecord<A::Receipt>>,
}

impl<A: Aggregate> Default for Loaded<A> {
    fn default() -> Self {
        Self {
            state: A::default(),
            last_position: 0,
            last_hash: GENESIS_HASH.to_owned(),
            idempotency: HashMap::new(),
        }
    }
}

impl<A: Aggregate> Loaded<A> {
    /// Folds one commit in, checking it continues the hash chain and version.
    fn apply_commit(&mut self, commit: &StoredCommit) -> Result<(), LedgerError> {
        let corrupt = |reason: String| LedgerError::Corrupt {
            subject: commit.subject.clone(),
            stream_seq: commit.position,
            reason,
        };
        let mut key = None;
        for envelope in &commit.envelopes {
            if envelope.prev_hash != self.last_hash {
                return Err(corrupt(format!(
                    "prev_hash {} does not link to {}",
                    envelope.prev_hash, self.last_hash
                )));
            }
            if envelope.aggregate_version != self.state.version() + 1 {
                return Err(corrupt(format!(
                    "version {} does not follow {}",
                    envelope.aggregate_version,
                    self.state.version()
                )));
            }
            let event = decode_event::<A>(envelope).map_err(corrupt)?;
            self.state = std::mem::take(&mut self.state).apply(&event);
            self.last_hash = envelope.hash.clone();
            key = envelope
                .idempotency_key
                .clone()
                .map(|k| (k, envelope.request_digest.clone()));
        }
        self.last_position = commit.position;
        if let Some((key, request_digest)) = key {
            let record = IdempotencyRecord {
                request_digest,
                version: self.state.version(),
                position: commit.position,
                receipt: self.state.receipt(),
            };
            self.idempotency.entry(key).or_insert(record);
        }
        Ok(())
    }
}

/// Who is asking, and under which conditions.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub actor: Actor,
    /// Domain time of the decision.
    pub now: OffsetDateTime,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    /// Caller-scoped key; a repeat returns the first answer.
    pub idempotency_key: Option<String>,
    /// Digest of the request, to refuse a reused key with another request.
    pub request_digest: Option<String>,
    /// `If-Match`: the version the caller saw.
    pub expected_version: Option<u64>,
    /// For a process reacting to the event `causation_id`: which step this
    /// is. Without an idempotency key, the message id is derived from the
    /// cause, the step and the aggregate's position the decision saw, so a
    /// step repeated against the same state is dropped by JetStream.
    pub step: Option<String>,
}

impl CommandContext {
    /// A context for `actor` at `now`, with a fresh correlation id and no
    /// idempotency key or expected version.
    pub fn new(actor: Actor, now: OffsetDateTime) -> Self {
        Self {
            actor,
            now,
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            idempotency_key: None,
            request_digest: None,
            expected_version: None,
            step: None,
        }
    }

    /// A process's step in reaction to the event `cause`.
    pub fn for_step(actor: Actor, now: OffsetDateTime, cause: Uuid, step: String) -> Self {
        Self {
            causation_id: Some(cause),
            step: Some(step),
            ..Self::new(actor, now)
        }
    }
}

/// A command's successful outcome.
#[derive(Debug, Clone)]
pub enum Executed<A: Aggregate> {
    /// New events were appended at `position`.
    Appended {
        state: A,
        position: u64,
        event_count: usize,
    },
    /// The decision produced no events; nothing was appended.
    Unchanged { state: A, position: u64 },
    /// The idempotency key was seen before: this is the first answer.
    Replayed(IdempotencyRecord<A::Receipt>),
}

impl<A: Aggregate> Executed<A> {
    /// The stream position the answer stands on: the new commit, the last
    /// commit when nothing changed, or the first answer's commit.
    pub fn position(&self) -> u64 {
        match self {
            Self::Appended { position, .. } | Self::Unchanged { position, .. } => *position,
            Self::Replayed(record) => record.position,
        }
    }
}

/// Why a command did not run.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError<E> {
    /// The domain refused the command.
    #[error("command rejected: {0}")]
    Rejected(E),
    /// `If-Match` named another version than the current one.
    #[error("expected version {expected}, current version is {current}")]
    VersionMismatch { expected: u64, current: u64 },
    /// The idempotency key was used before with a different request.
    #[error("idempotency key reused with a different request")]
    KeyReused,
    /// Still conflicting after [`MAX_ATTEMPTS`] attempts.
    #[error("gave up after {attempts} conflicting attempts")]
    TooManyConflicts { attempts: usize },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Loads and changes aggregates of one type, with a cache so that a hot
/// aggregate is not re-read from its first event for every command.
pub struct Repository<A: Aggregate> {
    ledger: Ledger,
    cache: Mutex<HashMap<String, Arc<Loaded<A>>>>,
    /// Added to this machine's clock for `recorded_at`.
    clock_offset: time::Duration,
}

impl<A: Aggregate> Repository<A> {
    pub fn new(ledger: Ledger) -> Self {
        Self {
            ledger,
            cache: Mutex::new(HashMap::new()),
            clock_offset: time::Duration::ZERO,
        }
    }

    /// A repository on a node whose clock is off by `offset`: its events
    /// are recorded at that time. For tests of what a skewed clock does to
    /// business days; production code has no use for it.
    pub fn with_clock_offset(ledger: Ledger, offset: time::Duration) -> Self {
        Self {
            clock_offset: offset,
            ..Self::new(ledger)
        }
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn subject(&self, id: &str) -> String {
        self.ledger.namespace().subject(A::KIND, id)
    }

    /// Loads an aggregate: the cached copy plus every newer commit. Reading
    /// only what is newer keeps hot aggregates cheap, and the conditional
    /// append catches anything a stale read missed.
    pub async fn load(&self, id: &str) -> Result<Arc<Loaded<A>>, LedgerError> {
        let subject = self.subject(id);
        let cached = self.cached(&subject);
        let mut loaded: Option<Loaded<A>> = None;
        let mut from = cached.as_ref().map_or(1, |c| c.last_position + 1);
        while let Some(mut commit) = self.ledger.next_commit(&subject, from).await? {
            self.ledger.unseal(&mut commit).await?;
            let current =
                loaded.get_or_insert_with(|| cached.as_deref().cloned().unwrap_or_default());
            current.apply_commit(&commit)?;
            from = commit.position + 1;
        }
        match loaded {
            None => Ok(cached.unwrap_or_default()),
            Some(loaded) => Ok(self.remember(subject, loaded)),
        }
    }

    fn cached(&self, subject: &str) -> Option<Arc<Loaded<A>>> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.get(subject).cloned()
    }

    /// Caches a loaded aggregate unless a newer copy is cached already.
    fn remember(&self, subject: String, loaded: Loaded<A>) -> Arc<Loaded<A>> {
        let loaded = Arc::new(loaded);
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= CACHE_CAPACITY && !cache.contains_key(&subject) {
            // A full cache is cleared rather than managed as an LRU: entries
            // are only an optimisation and reload cheaply on demand.
            cache.clear();
        }
        match cache.get(&subject) {
            Some(existing) if existing.last_position >= loaded.last_position => existing.clone(),
            _ => {
                cache.insert(subject, loaded.clone());
                loaded
            }
        }
    }

    /// Runs a command: load, check, decide, append; retried on conflict.
    pub async fn execute<E, F>(
        &self,
        id: &str,
        context: &CommandContext,
        decide: F,
    ) -> Result<Executed<A>, ExecuteError<E>>
    where
        F: Fn(&A) -> Result<Vec<A::Event>, E>,
    {
        let subject = self.subject(id);
        for attempt in 1..=MAX_ATTEMPTS {
            let loaded = self.load(id).await?;
            if let Some(replayed) = replayed_answer(&loaded, context)? {
                return Ok(Executed::Replayed(replayed));
            }
            if let Some(expected) = context.expected_version {
                let current = loaded.state.version();
                if expected != current {
                    return Err(ExecuteError::VersionMismatch { expected, current });
                }
            }

            let events = decide(&loaded.state).map_err(ExecuteError::Rejected)?;
            if events.is_empty() {
                let state = loaded.state.clone();
                return Ok(Executed::Unchanged {
                    state,
                    position: loaded.last_position,
                });
            }

            let sealing = self.sealing_key(&loaded.state, &events).await?;
            let recorded_at = OffsetDateTime::now_utc() + self.clock_offset;
            let (envelopes, stored) =
                build_commit::<A>(id, &loaded, &events, context, recorded_at, sealing.as_ref())?;
            let payload = serde_json::to_vec(&CommitPayload { events: &stored })
                .map_err(|e| serialize_error(&subject, e))?;
            let msg_id = message_id(&subject, context, loaded.last_position, &envelopes);
            match self
                .ledger
                .append(&subject, loaded.last_position, &msg_id, payload.into())
                .await
            {
                Ok((_, true)) => {
                    // JetStream saw this message id before: the first attempt
                    // landed. The reload finds its record in the history.
                    tracing::debug!(subject = %subject, "duplicate append, reloading");
                }
                Ok((position, false)) => {
                    let commit = StoredCommit {
                        position,
                        subject: subject.clone(),
                        envelopes,
                        seal: None,
                    };
                    let mut next = (*loaded).clone();
                    next.apply_commit(&commit)?;
                    let state = next.state.clone();
                    self.remember(subject, next);
                    return Ok(Executed::Appended {
                        state,
                        position,
                        event_count: events.len(),
                    });
                }
                Err(LedgerError::Conflict { .. }) => {
                    tracing::warn!(subject = %subject, attempt, "append conflicted, retrying");
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(ExecuteError::TooManyConflicts {
            attempts: MAX_ATTEMPTS,
        })
    }
}

impl<A: Aggregate> Repository<A> {
    /// The data subject's key, when the events carry personal data.
    async fn sealing_key(
        &self,
        state: &A,
        events: &[A::Event],
    ) -> Result<Option<SealingKey>, LedgerError> {
        let has_personal = events
            .iter()
            .any(|e| serde_json::to_value(e).is_ok_and(|v| contains_personal(&v)));
        if !has_personal {
            return Ok(None);
        }
        let subject = state
            .data_subject(events)
            .ok_or_else(|| LedgerError::Misconfigured {
                stream: self.ledger.namespace().stream_name(),
                reason: format!(
                    "{} events carry personal data but name no data subject",
                    A::KIND
                ),
            })?;
        Ok(Some(self.ledger.keys()?.seal_key(&subject).await?))
    }
}

/// An aggregate's events up to a moment, and the state they fold to.
#[derive(Debug, Clone)]
pub struct History<A: Aggregate> {
    pub state: A,
    /// Each event with the position of its commit, personal values opened.
    pub events: Vec<(u64, Envelope)>,
}

impl<A: Aggregate> Repository<A> {
    /// Replays an aggregate from the ledger itself (hashes and links
    /// verified), up to and including the last commit recorded at or before
    /// `as_of`.
    pub async fn history(
        &self,
        id: &str,
        as_of: Option<OffsetDateTime>,
    ) -> Result<History<A>, LedgerError> {
        let mut loaded = Loaded::<A>::default();
        let mut events = Vec::new();
        for mut commit in self.ledger.read_subject(&self.subject(id)).await? {
            let recorded_at = commit.envelopes.first().map(|e| e.recorded_at);
            if let (Some(as_of), Some(recorded_at)) = (as_of, recorded_at) {
                if recorded_at > as_of {
                    break;
                }
            }
            self.ledger.unseal(&mut commit).await?;
            loaded.apply_commit(&commit)?;
            let position = commit.position;
            events.extend(commit.envelopes.into_iter().map(|e| (position, e)));
        }
        Ok(History {
            state: loaded.state,
            events,
        })
    }
}

/// The first answer, when this request's idempotency key is in the history.
fn replayed_answer<A: Aggregate, E>(
    loaded: &Loaded<A>,
    context: &CommandContext,
) -> Result<Option<IdempotencyRecord<A::Receipt>>, ExecuteError<E>> {
    let Some(key) = &context.idempotency_key else {
        return Ok(None);
    };
    match loaded.idempotency.get(key) {
        Some(record) if record.request_digest == context.request_digest => Ok(Some(record.clone())),
        Some(_) => Err(ExecuteError::KeyReused),
        None => Ok(None),
    }
}

/// Builds the envelopes of one commit, twice: as the aggregate reads them
/// (personal values open) and as they are stored (personal values sealed,
/// hashes computed over the sealed form).
fn build_commit<A: Aggregate>(
    id: &str,
    loaded: &Loaded<A>,
    events: &[A::Event],
    context: &CommandContext,
    recorded_at: OffsetDateTime,
    sealing: Option<&SealingKey>,
) -> Result<(Vec<Envelope>, Vec<Envelope>), LedgerError> {
    let subject = format!("{}.{id}", A::KIND);
    let mut prev_hash = loaded.last_hash.clone();
    let mut envelopes = Vec::with_capacity(events.len());
    let mut stored = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let tagged = serde_json::to_value(event).map_err(|e| serialize_error(&subject, e))?;
        let (event_type, data) = split_tagged(tagged)
            .ok_or_else(|| serialize_error(&subject, "event is not {type, data}"))?;
        let event_id = Uuid::now_v7();
        let raw = |value: &Value| {
            serde_json::value::to_raw_value(value).map_err(|e| serialize_error(&subject, e))
        };
        let (open_data, sealed_data) = match sealing {
            Some(key) => {
                let mut sealed = data.clone();
                key.seal(&mut sealed, &event_id.to_string())
                    .map_err(|reason| serialize_error(&subject, reason))?;
                (raw(&data)?, raw(&sealed)?)
            }
            None => {
                let data = raw(&data)?;
                (data.clone(), data)
            }
        };
        let sealed = Envelope {
            event_id,
            event_type,
            schema_version: A::schema_version(event),
            aggregate_type: A::KIND.to_owned(),
            aggregate_id: id.to_owned(),
            aggregate_version: loaded.state.version() + i as u64 + 1,
            occurred_at: context.now,
            recorded_at,
            actor: context.actor.clone(),
            correlation_id: context.correlation_id,
            causation_id: context.causation_id,
            idempotency_key: context.idempotency_key.clone(),
            request_digest: context.request_digest.clone(),
            prev_hash: prev_hash.clone(),
            hash: String::new(),
            data: sealed_data,
        }
        .seal()
        .map_err(|e| serialize_error(&subject, e))?;
        prev_hash = sealed.hash.clone();
        envelopes.push(Envelope {
            data: open_data,
            ..sealed.clone()
        });
        stored.push(sealed);
    }
    Ok((envelopes, stored))
}

fn split_tagged(value: Value) -> Option<(String, Value)> {
    let Value::Object(mut members) = value else {
        return None;
    };
    let event_type = members.remove("type")?.as_str()?.to_owned();
    let data = members.remove("data").unwrap_or(Value::Null);
    Some((event_type, data))
}

/// `Nats-Msg-Id`: derived from the caller-scoped idempotency key when there is
/// one, so that a retry within JetStream's duplicate window is dropped by the
/// server itself; for a process step, from its cause, the step and the state
/// it saw; otherwise the first event's id (unique, so no dedup).
fn message_id(
    subject: &str,
    context: &CommandContext,
    seen_position: u64,
    envelopes: &[Envelope],
) -> String {
    let hashed = |text: String| hex::encode(Sha256::digest(text.as_bytes()));
    match (
        &context.idempotency_key,
        &context.causation_id,
        &context.step,
    ) {
        (Some(key), _, _) => hashed(format!("{subject}\n{key}")),
        (None, Some(cause), Some(step)) => {
            hashed(format!("{subject}\n{cause}\n{step}\n{seen_position}"))
        }
        _ => envelopes
            .first()
            .map(|e| e.event_id.to_string())
            .unwrap_or_default(),
    }
}

fn serialize_error(subject: &str, error: impl std::fmt::Display) -> LedgerError {
    LedgerError::Corrupt {
        subject: subject.to_owned(),
        stream_seq: 0,
        reason: format!("cannot serialize event: {error}"),
    }
}
