//! The [`Ledger`] handle on the namespace's JetStream stream.

use crate::commit::StoredCommit;
use crate::personal::{KeyRing, MasterKey};
use crate::seal::{Seal, SealPayload};
use crate::{LedgerError, Namespace};
use async_nats::jetstream::{self, consumer, context::PublishErrorKind, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Header that makes JetStream drop a message it has seen within the
/// duplicate window.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";
/// Header that makes an append conditional on the subject's last sequence.
pub const EXPECTED_LAST_SUBJECT_SEQUENCE_HEADER: &str = "Nats-Expected-Last-Subject-Sequence";

/// How the ledger's stream is set up.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    pub namespace: Namespace,
    /// Stream replicas: 1 on a single server, 3 on a cluster.
    pub replicas: usize,
    /// How long JetStream itself remembers message ids; the aggregate's own
    /// history covers retries after that.
    pub duplicate_window: Duration,
    /// Wraps the customers' data keys. Without it, personal data can be
    /// neither written nor read.
    pub master_key: Option<MasterKey>,
    /// Forbid deleting single messages (always, in production). Only a test
    /// that proves `verify` notices a deleted event turns it off.
    pub deny_delete: bool,
}

impl LedgerConfig {
    pub fn new(namespace: Namespace) -> Self {
        Self {
            namespace,
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            master_key: None,
            deny_delete: true,
        }
    }
}

/// What an acknowledged append means on the server we found.
#[derive(Debug, Clone, Serialize)]
pub struct Durability {
    pub server_version: String,
    pub stream: String,
    pub storage: String,
    pub replicas: usize,
    /// Whether this server version can be told to fsync before acknowledging
    /// (`sync_interval: always`, nats-server 2.10 and later). We cannot read
    /// the setting itself through the client protocol.
    pub supports_sync_always: bool,
}

/// One stored message, uninterpreted.
#[derive(Debug, Clone)]
pub struct RawMessage {
    pub subject: String,
    pub position: u64,
    pub payload: Bytes,
}

/// The event log of one namespace. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    js: jetstream::Context,
    stream: stream::Stream<()>,
    namespace: Namespace,
    keys: Option<Arc<KeyRing>>,
}

impl Ledger {
    /// Opens an existing stream without changing it: for read-only tools
    /// (`verify`, `replay`), which must not touch what they audit.
    pub async fn attach(
        client: async_nats::Client,
        config: LedgerConfig,
    ) -> Result<Self, LedgerError> {
        let js = jetstream::new(client.clone());
        let name = config.namespace.stream_name();
        let stream = js
            .get_stream_no_info(&name)
            .await
            .map_err(|e| LedgerError::unavailable(format!("open stream {name}"), e))?;
        Self::assemble(client, js, stream, config).await
    }

    async fn assemble(
        client: async_nats::Client,
        js: jetstream::Context,
        stream: stream::Stream<()>,
        config: LedgerConfig,
    ) -> Result<Self, LedgerError> {
        let name = config.namespace.stream_name();
        let keys = match &config.master_key {
            Some(master) => {
                let bucket = format!("{name}_KEYS");
                Some(KeyRing::open(&js, bucket, config.replicas, master).await?)
            }
            None => None,
        };
        let namespace = config.namespace;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                js,
                stream,
                namespace,
                keys,
            }),
        })
    }

    /// Creates the stream, or updates it to our configuration, and returns a
    /// handle. Safe to call on every start.
    pub async fn open(
        client: async_nats::Client,
        config: LedgerConfig,
    ) -> Result<Self, LedgerError> {
        let js = jetstream::new(client.clone());
        let name = config.namespace.stream_name();
        let stream_config = stream::Config {
            name: name.clone(),
            subjects: vec![config.namespace.all_subjects()],
            storage: stream::StorageType::File,
            num_replicas: config.replicas,
            duplicate_window: config.duplicate_window,
            allow_direct: true,
            // The log is append-only: nobody may delete or purge single events
            // (a setting JetStream lets nobody undo later).
            deny_delete: config.deny_delete,
            deny_purge: true,
            ..Default::default()
        };
        let info = js
            .create_or_update_stream(stream_config)
            .await
            .map_err(|e| LedgerError::unavailable(format!("create or update stream {name}"), e))?;
        let stream = js
            .get_stream_no_info(&name)
            .await
            .map_err(|e| LedgerError::unavailable(format!("open stream {name}"), e))?;
        tracing::info!(
            stream = %name,
            messages = info.state.messages,
            last_seq = info.state.last_sequence,
            "stream verified"
        );
        Self::assemble(client, js, stream, config).await
    }

    pub fn namespace(&self) -> &Namespace {
        &self.inner.namespace
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    /// The customers' data keys; an error when no master key is configured.
    pub fn keys(&self) -> Result<&KeyRing, LedgerError> {
        self.inner
            .keys
            .as_deref()
            .ok_or_else(|| LedgerError::Misconfigured {
                stream: self.inner.namespace.stream_name(),
                reason: "personal data needs a master key (ORDO_MASTER_KEY_FILE)".to_owned(),
            })
    }

    /// Opens the sealed personal values of a batch of commits, fetching the
    /// keys they need concurrently first. Only data that holds a sealed
    /// value is parsed and written again; the rest stays as read.
    pub async fn unseal_all(&self, commits: &mut [StoredCommit]) -> Result<(), LedgerError> {
        let mut opened = Vec::new();
        for (c, commit) in commits.iter().enumerate() {
            for (e, envelope) in commit.envelopes.iter().enumerate() {
                if crate::personal::may_hold_sealed(&envelope.data) {
                    let value = envelope
                        .data_value()
                        .map_err(|e| corrupt(commit, format!("event data: {e}")))?;
                    opened.push((c, e, value));
                }
            }
        }
        if opened.is_empty() {
            return Ok(());
        }
        if let Some(keys) = self.inner.keys.as_deref() {
            let values: Vec<&serde_json::Value> = opened.iter().map(|(_, _, v)| v).collect();
            keys.prefetch(&values).await?;
        }
        for (c, e, mut value) in opened {
            let commit = &mut commits[c];
            match self.inner.keys.as_deref() {
                Some(keys) => {
                    let aad = commit.envelopes[e].event_id.to_string();
                    keys.unseal(&mut value, &aad)
                        .await
                        .map_err(|reason| corrupt(commit, reason))?;
                }
                None => crate::personal::withhold(&mut value),
            }
            commit.envelopes[e].data = serde_json::value::to_raw_value(&value)
                .map_err(|e| corrupt(commit, format!("event data: {e}")))?;
        }
        Ok(())
    }

    /// Loads every customer's data key at once, for a reader about to open a
    /// large backlog (see `KeyRing::preload`). Does nothing without a master
    /// key, or when this process loaded them before.
    pub async fn preload_keys(&self) -> Result<(), LedgerError> {
        if let Some(keys) = self.inner.keys.as_deref() {
            let loaded = keys.preload().await?;
            tracing::info!(keys = loaded, "data keys preloaded");
        }
        Ok(())
    }

    /// Opens the sealed personal values of a commit that was read: each
    /// becomes `{"$personal": v}`, or `{"$erased": true}` once its key is
    /// destroyed, or `{"$withheld": true}` when this ledger has no master
    /// key. The envelope hashes stay those of the stored (sealed) form.
    pub async fn unseal(&self, commit: &mut StoredCommit) -> Result<(), LedgerError> {
        self.unseal_all(std::slice::from_mut(commit)).await
    }

    /// Reports what an acknowledgement means here: server version, storage
    /// and replicas of the stream.
    pub async fn durability(&self) -> Result<Durability, LedgerError> {
        let info = self.stream_info().await?;
        let server_version = self.inner.client.server_info().version;
        Ok(Durability {
            supports_sync_always: version_at_least(&server_version, 2, 10),
            server_version,
            stream: info.config.name,
            storage: format!("{:?}", info.config.storage).to_lowercase(),
            replicas: info.config.num_replicas,
        })
    }

    async fn stream_info(&self) -> Result<stream::Info, LedgerError> {
        let name = self.inner.namespace.stream_name();
        self.inner
            .stream
            .get_info()
            .await
            .map_err(|e| LedgerError::unavailable(format!("read info of stream {name}"), e))
    }

    /// The ids of every aggregate of `kind` that has a commit, read from the
    /// stream's own subject index, sorted.
    pub async fn aggregate_ids(&self, kind: &str) -> Result<Vec<String>, LedgerError> {
        let prefix = format!("{}.{kind}.", self.inner.namespace.as_str());
        let name = self.inner.namespace.stream_name();
        let unavailable =
            |e| LedgerError::unavailable(format!("list {kind} subjects of {name}"), e);
        let mut subjects = self
            .inner
            .stream
            .info_with_subjects(format!("{prefix}>"))
            .await
            .map_err(unavailable)?;
        let mut ids = Vec::new();
        while let Some(entry) = subjects.next().await {
            let (subject, _) = entry.map_err(unavailable)?;
            if let Some(id) = subject.strip_prefix(&prefix) {
                ids.push(id.to_owned());
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The position of the newest commit in the stream (0 when empty).
    pub async fn last_position(&self) -> Result<u64, LedgerError> {
        Ok(self.stream_info().await?.state.last_sequence)
    }

    /// How many messages (commits) the stream holds.
    pub async fn message_count(&self) -> Result<u64, LedgerError> {
        Ok(self.stream_info().await?.state.messages)
    }

    /// Appends one commit to `subject` if the subject's last sequence is still
    /// `expected_last_seq`. Returns the commit's position and whether
    /// JetStream recognised the message id as a duplicate.
    pub(crate) async fn append(
        &self,
        subject: &str,
        expected_last_seq: u64,
        msg_id: &str,
        payload: Bytes,
    ) -> Result<(u64, bool), LedgerError> {
        let mut headers = HeaderMap::new();
        headers.insert(MSG_ID_HEADER, msg_id);
        headers.insert(
            EXPECTED_LAST_SUBJECT_SEQUENCE_HEADER,
            expected_last_seq.to_string().as_str(),
        );
        let operation = || format!("append to {subject}");
        let ack_future = self
            .inner
            .js
            .publish_with_headers(subject.to_owned(), headers, payload)
            .await
            .map_err(|e| LedgerError::unavailable(operation(), e))?;
        match ack_future.await {
            Ok(ack) => Ok((ack.sequence, ack.duplicate)),
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                Err(LedgerError::Conflict {
                    subject: subject.to_owned(),
                })
            }
            Err(e) => Err(LedgerError::unavailable(operation(), e)),
        }
    }

    /// The first commit on `subject` at or after stream sequence `from`, if
    /// any, with hashes verified.
    pub(crate) async fn next_commit(
        &self,
        subject: &str,
        from: u64,
    ) -> Result<Option<StoredCommit>, LedgerError> {
        let Some(message) = self.next_raw(subject, from).await? else {
            return Ok(None);
        };
        StoredCommit::parse(subject, message.position, &message.payload, true).map(Some)
    }

    /// The first message on `subject` at or after stream sequence `from`, as
    /// stored. Served by JetStream's Direct Get, one request per message.
    async fn next_raw(&self, subject: &str, from: u64) -> Result<Option<RawMessage>, LedgerError> {
        use async_nats::jetstream::stream::DirectGetErrorKind;
        match self
            .inner
            .stream
            .direct_get_next_for_subject(subject, Some(from))
            .await
        {
            Ok(message) => Ok(Some(RawMessage {
                subject: subject.to_owned(),
                position: message.sequence,
                payload: message.payload,
            })),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(LedgerError::unavailable(format!("load {subject}"), e)),
        }
    }

    /// Every commit of one subject, oldest first, with hashes verified.
    pub async fn read_subject(&self, subject: &str) -> Result<Vec<StoredCommit>, LedgerError> {
        let mut commits = Vec::new();
        let mut from = 1;
        while let Some(commit) = self.next_commit(subject, from).await? {
            from = commit.position + 1;
            commits.push(commit);
        }
        Ok(commits)
    }

    /// The subject that holds the namespace's seals.
    pub fn seal_subject(&self) -> String {
        format!("{}.seal", self.inner.namespace.as_str())
    }

    /// The newest seal and its position, if any.
    pub async fn last_seal(&self) -> Result<Option<(u64, Seal)>, LedgerError> {
        use async_nats::jetstream::stream::DirectGetErrorKind;
        let subject = self.seal_subject();
        match self
            .inner
            .stream
            .direct_get_last_for_subject(&subject)
            .await
        {
            Ok(message) => {
                let commit =
                    StoredCommit::parse(&subject, message.sequence, &message.payload, true)?;
                Ok(commit.seal.map(|seal| (message.sequence, seal)))
            }
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(LedgerError::unavailable(format!("load {subject}"), e)),
        }
    }

    /// Every seal with its position, oldest first.
    pub async fn seals(&self) -> Result<Vec<(u64, Seal)>, LedgerError> {
        let commits = self.read_subject(&self.seal_subject()).await?;
        Ok(commits
            .into_iter()
            .filter_map(|c| c.seal.map(|seal| (c.position, seal)))
            .collect())
    }

    /// Appends a seal if the last seal is still the one at `expected_last_seq`
    /// (0 for none), so that concurrent sealers cannot fork the seal chain.
    pub async fn append_seal(
        &self,
        seal: &Seal,
        expected_last_seq: u64,
    ) -> Result<u64, LedgerError> {
        let payload = serde_json::to_vec(&SealPayload { seal: seal.clone() }).map_err(|e| {
            LedgerError::Corrupt {
                subject: self.seal_subject(),
                stream_seq: 0,
                reason: format!("cannot serialize seal: {e}"),
            }
        })?;
        let msg_id = format!("seal-{}-{}", seal.from_position, seal.to_position);
        let subject = self.seal_subject();
        let (position, _) = self
            .append(&subject, expected_last_seq, &msg_id, payload.into())
            .await?;
        Ok(position)
    }

    /// Every raw message of one subject, oldest first (Direct Get).
    pub async fn raw_subject(&self, subject: &str) -> Result<Vec<RawMessage>, LedgerError> {
        let (mut messages, mut from) = (Vec::new(), 1);
        while let Some(message) = self.next_raw(subject, from).await? {
            from = message.position + 1;
            messages.push(message);
        }
        Ok(messages)
    }

    /// Every raw message of positions `from..=to`.
    pub async fn raw_range(&self, from: u64, to: u64) -> Result<Vec<RawMessage>, LedgerError> {
        let mut messages = Vec::new();
        if to < from {
            return Ok(messages);
        }
        let mut stream = self.read_raw_from(from).await?;
        while let Some(message) = stream.next().await {
            let message = message?;
            if message.position > to {
                break;
            }
            let is_last = message.position == to;
            messages.push(message);
            if is_last {
                break;
            }
        }
        Ok(messages)
    }

    /// Every raw message from position `start` on, for verification: the
    /// bytes exactly as stored, without interpretation.
    pub async fn read_raw_from(
        &self,
        start: u64,
    ) -> Result<BoxStream<'static, Result<RawMessage, LedgerError>>, LedgerError> {
        self.ordered_read(start, self.inner.namespace.all_subjects())
            .await
    }

    /// Every commit from position `start` on (inclusive), oldest first, and
    /// then new ones as they arrive. `filter` narrows the subjects (default:
    /// the whole namespace). Hashes are verified when `verify` is set.
    pub async fn read_from(
        &self,
        start: u64,
        filter: Option<String>,
        verify: bool,
    ) -> Result<BoxStream<'static, Result<StoredCommit, LedgerError>>, LedgerError> {
        let filter = filter.unwrap_or_else(|| self.inner.namespace.all_subjects());
        let messages = self.ordered_read(start, filter).await?;
        let commits = messages.map(move |message| {
            let message = message?;
            StoredCommit::parse(&message.subject, message.position, &message.payload, verify)
        });
        Ok(commits.boxed())
    }

    /// An ordered consumer over `filter` from `start`, as raw messages.
    async fn ordered_read(
        &self,
        start: u64,
        filter: String,
    ) -> Result<BoxStream<'static, Result<RawMessage, LedgerError>>, LedgerError> {
        let deliver_policy = if start <= 1 {
            consumer::DeliverPolicy::All
        } else {
            consumer::DeliverPolicy::ByStartSequence {
                start_sequence: start,
            }
        };
        let operation = format!("read {filter} from {start}");
        let config = consumer::pull::OrderedConfig {
            filter_subject: filter,
            deliver_policy,
            ..Default::default()
        };
        let consumer = self
            .inner
            .stream
            .create_consumer(config)
            .await
            .map_err(|e| LedgerError::unavailable(operation.clone(), e))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| LedgerError::unavailable(operation.clone(), e))?;
        let raw = messages.map(move |message| {
            let message = message.map_err(|e| LedgerError::unavailable(operation.clone(), e))?;
            let position = message.info().map_err(|e| LedgerError::Corrupt {
                subject: message.subject.to_string(),
                stream_seq: 0,
                reason: format!("message without stream metadata: {e}"),
            })?;
            Ok(RawMessage {
                subject: message.subject.to_string(),
                position: position.stream_sequence,
                payload: message.payload.clone(),
            })
        });
        Ok(raw.boxed())
    }

    /// Deletes the whole stream. For tests and `bench`, which own their
    /// namespace; never called on a production namespace.
    pub async fn delete_stream(&self) -> Result<(), LedgerError> {
        let name = self.inner.namespace.stream_name();
        if self.inner.keys.is_some() {
            let bucket = format!("{name}_KEYS");
            self.inner
                .js
                .delete_key_value(&bucket)
                .await
                .map_err(|e| LedgerError::unavailable(format!("delete key bucket {bucket}"), e))?;
        }
        self.inner
            .js
            .delete_stream(&name)
            .await
            .map(|_| ())
            .map_err(|e| LedgerError::unavailable(format!("delete stream {name}"), e))
    }
}

fn corrupt(commit: &StoredCommit, reason: String) -> LedgerError {
    LedgerError::Corrupt {
        subject: commit.subject.clone(),
        stream_seq: commit.position,
        reason,
    }
}

fn version_at_least(version: &str, major: u64, minor: u64) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let (found_major, found_minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (found_major, found_minor) >= (major, minor)
}

#[cfg(test)]
mod tests {
    use super::version_at_least;

    #[test]
    fn server_versions_compare_numerically() {
        assert!(!version_at_least("2.9.10", 2, 10));
        assert!(version_at_least("2.10.0", 2, 10));
        assert!(version_at_least("3.0.0", 2, 10));
    }
}
