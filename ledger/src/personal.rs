//! Personal data at rest: crypto-shredding (DESIGN.md, "Personal data").
//!
//! Each customer has a data key, created on first use and kept in the NATS KV
//! bucket `<STREAM>_KEYS`, wrapped (encrypted) by the master key from the
//! configuration. Personal values in events, marked `{"$personal": v}` by the
//! domain, are stored as
//! `{"$sealed": {"subject", "key_id", "nonce", "ciphertext"}}`: the canonical
//! JSON of `v` encrypted with XChaCha20-Poly1305 under the customer's key,
//! with the event id as associated data. The hash chain covers the sealed
//! form, so destroying the key erases the data and leaves every hash intact.
//! Reading gives `{"$personal": v}` back while the key exists and
//! `{"$erased": true}` after.

use crate::envelope::write_canonical;
use crate::LedgerError;
use async_nats::jetstream::{self, kv};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

const PERSONAL_TAG: &str = "$personal";
const SEALED_TAG: &str = "$sealed";
/// The sealed tag as a JSON string token: inside a longer string, or escaped
/// as string content, its quotes would not both be there.
const SEALED_TOKEN: &str = "\"$sealed\"";
const ERASED_TAG: &str = "$erased";
const WITHHELD_TAG: &str = "$withheld";

/// The key that wraps every customer's data key: 32 random bytes.
#[derive(Clone)]
pub struct MasterKey(Key);

/// Why a master key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("cannot read master key file {path}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the master key must be 64 hexadecimal characters (32 bytes)")]
    Malformed,
}

impl MasterKey {
    /// Parses 64 hex characters (surrounding white space is ignored).
    pub fn from_hex(text: &str) -> Result<Self, MasterKeyError> {
        let bytes = hex::decode(text.trim()).map_err(|_| MasterKeyError::Malformed)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| MasterKeyError::Malformed)?;
        Ok(Self(Key::from(bytes)))
    }

    pub fn load(path: &Path) -> Result<Self, MasterKeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| MasterKeyError::Unreadable {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_hex(&text)
    }

    /// A fresh random key (tests and `bench`, which own their namespace).
    pub fn random() -> Self {
        Self(Key::from(rand::random::<[u8; 32]>()))
    }

    /// A well-known key for `serve --dev`. Anything sealed with it is only
    /// as secret as this source file.
    pub fn development() -> Self {
        Self(Key::from(*b"ordo development key, not secret"))
    }

    /// A secret derived from the master key for keyed digests (so that a
    /// stored request digest reveals nothing about the request).
    pub fn digest_secret(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"ordo request digest\n");
        hasher.update(self.0.as_slice());
        hasher.finalize().into()
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// One customer's data key.
struct DataKey {
    key_id: String,
    cipher: XChaCha20Poly1305,
}

/// The keys a process holds, and the subjects erased while it runs.
#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<DataKey>>,
    /// Erased since this process started. A key read from the bucket just
    /// before its erasure may arrive after the erasure's notice; it must not
    /// be kept then. A new key for the subject takes it off this list.
    erased: HashSet<String>,
}

/// A data key as stored in the KV bucket: wrapped by the master key.
#[derive(Serialize, Deserialize)]
struct StoredKey {
    key_id: String,
    nonce: String,
    wrapped: String,
}

/// A sealed personal value as stored in an event.
#[derive(Serialize, Deserialize)]
struct Sealed {
    subject: String,
    key_id: String,
    nonce: String,
    ciphertext: String,
}

/// Where a customer's data key stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStatus {
    Active {
        key_id: String,
    },
    /// The key was destroyed: the customer was erased.
    Erased,
    /// No key was ever made: Ordo holds no personal data of this customer.
    Unknown,
}

/// The customers' data keys.
pub struct KeyRing {
    kv: kv::Store,
    stream: jetstream::stream::Stream<()>,
    bucket: String,
    master: XChaCha20Poly1305,
    cache: Mutex<Cache>,
    /// Whether every key has been loaded once ([`KeyRing::preload`]).
    is_preloaded: AtomicBool,
}

impl KeyRing {
    /// Opens (or creates) the key bucket and starts evicting cached keys that
    /// another process erases.
    pub(crate) async fn open(
        js: &jetstream::Context,
        bucket: String,
        replicas: usize,
        master: &MasterKey,
    ) -> Result<Arc<Self>, LedgerError> {
        // We set up the bucket's stream ourselves, as a KV bucket with one
        // difference: single messages may be deleted, which JetStream does by
        // overwriting them, so a destroyed key leaves no bytes on disk. (The
        // client's own bucket creation also needs a newer server than 2.9.)
        let stream_name = format!("KV_{bucket}");
        let config = jetstream::stream::Config {
            name: stream_name.clone(),
            description: Some("Ordo customer data keys, wrapped by the master key".into()),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            storage: jetstream::stream::StorageType::File,
            num_replicas: replicas,
            allow_rollup: true,
            deny_delete: false,
            deny_purge: false,
            allow_direct: true,
            discard: jetstream::stream::DiscardPolicy::New,
            ..Default::default()
        };
        let unavailable = |e| LedgerError::unavailable(format!("open key bucket {bucket}"), e);
        js.create_or_update_stream(config)
            .await
            .map_err(|e| LedgerError::unavailable(format!("create key bucket {bucket}"), e))?;
        let kv = js.get_key_value(&bucket).await.map_err(unavailable)?;
        let stream = js
            .get_stream_no_info(&stream_name)
            .await
            .map_err(|e| LedgerError::unavailable(format!("open key bucket {bucket}"), e))?;
        let ring = Arc::new(Self {
            kv,
            stream,
            bucket,
            master: XChaCha20Poly1305::new(&master.0),
            cache: Mutex::new(Cache::default()),
            is_preloaded: AtomicBool::new(false),
        });
        ring.watch_erasures().await?;
        Ok(ring)
    }

    async fn watch_erasures(self: &Arc<Self>) -> Result<(), LedgerError> {
        let mut watch = self.kv.watch_all().await.map_err(|e| {
            LedgerError::unavailable(format!("watch key bucket {}", self.bucket), e)
        })?;
        let ring: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(Ok(entry)) = watch.next().await {
                let Some(ring) = ring.upgrade() else { break };
                if entry.operation == kv::Operation::Put {
                    ring.lock_cache().erased.remove(&entry.key);
                } else {
                    ring.evict(&entry.key);
                }
            }
        });
        Ok(())
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A panic while the lock was held cannot leave the maps half
        // changed: every change is a single insert or remove.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn evict(&self, subject: &str) {
        let mut cache = self.lock_cache();
        cache.keys.remove(subject);
        cache.erased.insert(subject.to_owned());
    }

    fn cached(&self, subject: &str) -> Option<Arc<DataKey>> {
        self.lock_cache().keys.get(subject).cloned()
    }

    /// Keeps a key read from the bucket, unless its subject was erased since
    /// the read began: the key is then used for the read at hand only.
    fn keep(&self, subject: &str, key: &Arc<DataKey>) -> bool {
        let mut cache = self.lock_cache();
        let is_kept = !cache.erased.contains(subject);
        if is_kept {
            cache.keys.insert(subject.to_owned(), key.clone());
        }
        is_kept
    }

    /// The current key of `subject`, or `None` when it has none.
    async fn current(&self, subject: &str) -> Result<Option<Arc<DataKey>>, LedgerError> {
        if let Some(key) = self.cached(subject) {
            return Ok(Some(key));
        }
        let stored = self
            .kv
            .get(subject)
            .await
            .map_err(|e| LedgerError::unavailable(format!("read data key of {subject}"), e))?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let key = Arc::new(self.unwrap_key(subject, &stored)?);
        self.keep(subject, &key);
        Ok(Some(key))
    }

    /// The key to seal new personal data of `subject` with; made on first use.
    async fn writing_key(&self, subject: &str) -> Result<Arc<DataKey>, LedgerError> {
        if let Some(key) = self.current(subject).await? {
            return Ok(key);
        }
        let key_id = hex::encode(rand::random::<[u8; 8]>());
        let secret = rand::random::<[u8; 32]>();
        let stored = self.wrap_key(subject, &key_id, &secret)?;
        match self.kv.create(subject, stored.into()).await {
            Ok(_) => {
                // Ours is the key now: keep it without reading it back.
                let key = Arc::new(DataKey {
                    key_id,
                    cipher: XChaCha20Poly1305::new(&Key::from(secret)),
                });
                let mut cache = self.lock_cache();
                cache.erased.remove(subject);
                cache.keys.insert(subject.to_owned(), key.clone());
                return Ok(key);
            }
            // Another command made one first: use theirs.
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(LedgerError::unavailable(
                    format!("store data key of {subject}"),
                    e,
                ))
            }
        }
        self.current(subject)
            .await?
            .ok_or_else(|| LedgerError::Misconfigured {
                stream: self.bucket.clone(),
                reason: format!("the data key of {subject} vanished right after it was made"),
            })
    }

    /// Where `subject`'s key stands.
    pub async fn status(&self, subject: &str) -> Result<KeyStatus, LedgerError> {
        let entry = self
            .kv
            .entry(subject)
            .await
            .map_err(|e| LedgerError::unavailable(format!("read data key of {subject}"), e))?;
        Ok(match entry {
            None => KeyStatus::Unknown,
            Some(entry) if entry.operation == kv::Operation::Put => {
                let stored: StoredKey = serde_json::from_slice(&entry.value)
                    .map_err(|e| self.corrupt(subject, &e.to_string()))?;
                KeyStatus::Active {
                    key_id: stored.key_id,
                }
            }
            Some(_) => KeyStatus::Erased,
        })
    }

    /// Destroys `subject`'s key: its message is erased (overwritten) and a
    /// purge marker remembers that the customer existed. Every value sealed
    /// with the key becomes unreadable for good.
    pub async fn erase(&self, subject: &str) -> Result<(), LedgerError> {
        let entry = self
            .kv
            .entry(subject)
            .await
            .map_err(|e| LedgerError::unavailable(format!("read data key of {subject}"), e))?;
        if let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) {
            self.stream
                .delete_message(entry.revision)
                .await
                .map_err(|e| LedgerError::unavailable(format!("erase data key of {subject}"), e))?;
        }
        self.kv
            .purge(subject)
            .await
            .map_err(|e| LedgerError::unavailable(format!("destroy data key of {subject}"), e))?;
        self.evict(subject);
        Ok(())
    }

    fn wrap_key(
        &self,
        subject: &str,
        key_id: &str,
        secret: &[u8; 32],
    ) -> Result<Vec<u8>, LedgerError> {
        let nonce = rand::random::<[u8; 24]>();
        let aad = format!("{}\n{subject}\n{key_id}", self.bucket);
        let wrapped = self
            .master
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| self.corrupt(subject, "cannot wrap a data key"))?;
        let stored = StoredKey {
            key_id: key_id.to_owned(),
            nonce: BASE64.encode(nonce),
            wrapped: BASE64.encode(wrapped),
        };
        serde_json::to_vec(&stored).map_err(|e| self.corrupt(subject, &e.to_string()))
    }

    fn unwrap_key(&self, subject: &str, bytes: &[u8]) -> Result<DataKey, LedgerError> {
        let stored: StoredKey =
            serde_json::from_slice(bytes).map_err(|e| self.corrupt(subject, &e.to_string()))?;
        let nonce =
            decode_nonce(&stored.nonce).ok_or_else(|| self.corrupt(subject, "bad nonce"))?;
        let wrapped = BASE64
            .decode(&stored.wrapped)
            .map_err(|e| self.corrupt(subject, &e.to_string()))?;
        let aad = format!("{}\n{subject}\n{}", self.bucket, stored.key_id);
        let secret = self
            .master
            .decrypt(
                &nonce,
                Payload {
                    msg: &wrapped,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| self.corrupt(subject, "the master key does not open this data key"))?;
        let key: [u8; 32] = secret
            .try_into()
            .map_err(|_| self.corrupt(subject, "data key has a wrong length"))?;
        Ok(DataKey {
            key_id: stored.key_id,
            cipher: XChaCha20Poly1305::new(&Key::from(key)),
        })
    }

    fn corrupt(&self, subject: &str, reason: &str) -> LedgerError {
        LedgerError::Misconfigured {
            stream: self.bucket.clone(),
            reason: format!("data key of {subject}: {reason}"),
        }
    }

    /// The key that seals new personal data of `subject`, made on first use.
    pub(crate) async fn seal_key(&self, subject: &str) -> Result<SealingKey, LedgerError> {
        Ok(SealingKey {
            subject: subject.to_owned(),
            key: self.writing_key(subject).await?,
        })
    }

    /// Loads every current key into the cache in one pass over the bucket,
    /// once per process: for a reader about to open a large backlog, which
    /// would otherwise ask for each customer's key on its own when it first
    /// meets them. A request per key cost a catch-up over a quarter of its
    /// reading time; a pass delivers the keys as a stream. Keys made later
    /// are fetched on first use as before.
    ///
    /// An erasure that lands during the pass is noticed by the erasure watch,
    /// and its key, if the pass read it before, is not kept.
    ///
    /// Limitation: the cache is not bounded, here as on first use, so a
    /// process that has read every customer's data holds every key (about
    /// 150 bytes each).
    pub(crate) async fn preload(&self) -> Result<usize, LedgerError> {
        if self.is_preloaded.swap(true, Ordering::SeqCst) {
            return Ok(0);
        }
        let operation = format!("preload key bucket {}", self.bucket);
        let info = self
            .stream
            .get_info()
            .await
            .map_err(|e| LedgerError::unavailable(operation.clone(), e))?;
        if info.state.messages == 0 {
            return Ok(0);
        }
        // The last message of each key; `delta` counts those still to come.
        let mut entries = self
            .kv
            .watch_with_history(">")
            .await
            .map_err(|e| LedgerError::unavailable(operation.clone(), e))?;
        let mut loaded = 0;
        while let Some(entry) = entries.next().await {
            let entry = entry.map_err(|e| LedgerError::unavailable(operation.clone(), e))?;
            if entry.operation == kv::Operation::Put && self.cached(&entry.key).is_none() {
                let key = Arc::new(self.unwrap_key(&entry.key, &entry.value)?);
                if self.keep(&entry.key, &key) {
                    loaded += 1;
                }
            }
            if entry.delta == 0 {
                break;
            }
        }
        Ok(loaded)
    }

    /// Loads the keys of every data subject sealed in `values` into the cache,
    /// concurrently, so that opening a batch costs one round trip rather
    /// than one per customer.
    pub(crate) async fn prefetch(&self, values: &[&Value]) -> Result<(), LedgerError> {
        let mut wanted = Vec::new();
        for value in values {
            collect_sealed(value, &mut wanted);
        }
        wanted.sort_unstable();
        wanted.dedup();
        wanted.retain(|subject| self.cached(subject).is_none());
        for chunk in wanted.chunks(64) {
            let loads = chunk.iter().map(|subject| self.current(subject));
            for loaded in futures::future::join_all(loads).await {
                loaded?;
            }
        }
        Ok(())
    }

    /// Replaces every sealed value in `data` by `{"$personal": v}`, or by
    /// `{"$erased": true}` when its key is gone. `aad` is the event id.
    pub(crate) async fn unseal(&self, data: &mut Value, aad: &str) -> Result<(), String> {
        let mut wanted = Vec::new();
        collect_sealed(data, &mut wanted);
        if wanted.is_empty() {
            return Ok(());
        }
        let mut keys: HashMap<String, Option<Arc<DataKey>>> = HashMap::new();
        for subject in wanted {
            if let std::collections::hash_map::Entry::Vacant(slot) = keys.entry(subject) {
                let key = self.current(slot.key()).await.map_err(|e| e.to_string())?;
                slot.insert(key);
            }
        }
        open_sealed(data, &keys, aad)
    }
}

/// A customer's key, fetched before an append so that sealing stays sync.
pub(crate) struct SealingKey {
    subject: String,
    key: Arc<DataKey>,
}

impl SealingKey {
    pub(crate) fn seal(&self, data: &mut Value, aad: &str) -> Result<(), String> {
        match data {
            Value::Object(members) if members.len() == 1 && members.contains_key(PERSONAL_TAG) => {
                let mut plain = String::new();
                write_canonical(&members[PERSONAL_TAG], &mut plain);
                let nonce = rand::random::<[u8; 24]>();
                let payload = Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                };
                let ciphertext = self
                    .key
                    .cipher
                    .encrypt(XNonce::from_slice(&nonce), payload)
                    .map_err(|_| "cannot encrypt personal data".to_owned())?;
                let sealed = Sealed {
                    subject: self.subject.clone(),
                    key_id: self.key.key_id.clone(),
                    nonce: BASE64.encode(nonce),
                    ciphertext: BASE64.encode(ciphertext),
                };
                let sealed = serde_json::to_value(sealed).map_err(|e| e.to_string())?;
                *data = Value::Object(Map::from_iter([(SEALED_TAG.to_owned(), sealed)]));
                Ok(())
            }
            Value::Object(members) => members.values_mut().try_for_each(|v| self.seal(v, aad)),
            Value::Array(items) => items.iter_mut().try_for_each(|v| self.seal(v, aad)),
            _ => Ok(()),
        }
    }
}

/// Whether stored data may hold a sealed value: whether its text has the
/// sealed tag as a string token. Our writer never escapes the tag's
/// characters, so data without it holds nothing sealed; data with it is
/// parsed and looked at properly (a string value that is exactly the tag
/// costs a parse, no more).
pub(crate) fn may_hold_sealed(data: &RawValue) -> bool {
    memchr::memmem::find(data.get().as_bytes(), SEALED_TOKEN.as_bytes()).is_some()
}

/// Whether `data` holds a value marked personal.
pub(crate) fn contains_personal(data: &Value) -> bool {
    match data {
        Value::Object(members) => {
            members.contains_key(PERSONAL_TAG) || members.values().any(contains_personal)
        }
        Value::Array(items) => items.iter().any(contains_personal),
        _ => false,
    }
}

fn sealed_of(members: &Map<String, Value>) -> Option<Sealed> {
    if members.len() != 1 {
        return None;
    }
    serde_json::from_value(members.get(SEALED_TAG)?.clone()).ok()
}

fn collect_sealed(data: &Value, wanted: &mut Vec<String>) {
    match data {
        Value::Object(members) => match sealed_of(members) {
            Some(sealed) => wanted.push(sealed.subject),
            None => members.values().for_each(|v| collect_sealed(v, wanted)),
        },
        Value::Array(items) => items.iter().for_each(|v| collect_sealed(v, wanted)),
        _ => {}
    }
}

fn open_sealed(
    data: &mut Value,
    keys: &HashMap<String, Option<Arc<DataKey>>>,
    aad: &str,
) -> Result<(), String> {
    match data {
        Value::Object(members) => match sealed_of(members) {
            Some(sealed) => {
                let key = keys.get(&sealed.subject).and_then(Option::as_ref);
                *data = match key {
                    Some(key) if key.key_id == sealed.key_id => {
                        let value = decrypt(key, &sealed, aad)?;
                        Value::Object(Map::from_iter([(PERSONAL_TAG.to_owned(), value)]))
                    }
                    // No key, or a newer one than sealed this: erased.
                    _ => {
                        Value::Object(Map::from_iter([(ERASED_TAG.to_owned(), Value::Bool(true))]))
                    }
                };
                Ok(())
            }
            None => members
                .values_mut()
                .try_for_each(|v| open_sealed(v, keys, aad)),
        },
        Value::Array(items) => items.iter_mut().try_for_each(|v| open_sealed(v, keys, aad)),
        _ => Ok(()),
    }
}

fn decrypt(key: &DataKey, sealed: &Sealed, aad: &str) -> Result<Value, String> {
    let nonce = decode_nonce(&sealed.nonce).ok_or("sealed value has a bad nonce")?;
    let ciphertext = BASE64
        .decode(&sealed.ciphertext)
        .map_err(|e| e.to_string())?;
    let plain = key
        .cipher
        .decrypt(
            &nonce,
            Payload {
                msg: &ciphertext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| "sealed value does not decrypt: altered, or sealed for another event")?;
    serde_json::from_slice(&plain).map_err(|e| e.to_string())
}

fn decode_nonce(text: &str) -> Option<XNonce> {
    let bytes = BASE64.decode(text).ok()?;
    let bytes: [u8; 24] = bytes.try_into().ok()?;
    Some(XNonce::from(bytes))
}

/// Replaces every sealed value by `{"$withheld": true}`: for readers without
/// a master key.
pub(crate) fn withhold(data: &mut Value) {
    match data {
        Value::Object(members) if sealed_of(members).is_some() => {
            *data = Value::Object(Map::from_iter([(
                WITHHELD_TAG.to_owned(),
                Value::Bool(true),
            )]));
        }
        Value::Object(members) => members.values_mut().for_each(withhold),
        Value::Array(items) => items.iter_mut().for_each(withhold),
        _ => {}
    }
}
