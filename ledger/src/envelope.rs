//! The envelope: the stored form of one event, and its hash chain.
//!
//! `hash` is the SHA-256 of the envelope's canonical JSON without the `hash`
//! member. Canonical JSON here means: object members sorted by their key's
//! UTF-8 bytes, no insignificant white space, strings escaped as serde_json
//! does (RFC 8259 minimal escaping), integers in plain decimal. Every value we
//! store is an object, array, string, integer, boolean or null, so this is
//! unambiguous. `prev_hash` is the `hash` of the previous event of the same
//! aggregate, or [`GENESIS_HASH`] for its first event, so changing, removing
//! or reordering any stored event breaks the chain (DESIGN.md, "Tamper
//! evidence").

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use time::OffsetDateTime;
use uuid::Uuid;

/// The `prev_hash` of an aggregate's first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Operator,
    Channel,
    Store,
    Erp,
    Auditor,
    /// A process manager of Ordo reacting to another event.
    Process,
    /// An automated agent acting for a person.
    Agent,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Channel => "channel",
            Self::Store => "store",
            Self::Erp => "erp",
            Self::Auditor => "auditor",
            Self::Process => "process",
            Self::Agent => "agent",
        }
    }
}

/// The caller on whose behalf an event was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    /// A stable, non-secret name of the caller (never a token).
    pub id: String,
}

/// One stored event with its metadata. `data` is the event's own payload in
/// the shape named by `event_type` and `schema_version`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// Counts the aggregate's events: 1 for its first.
    pub aggregate_version: u64,
    /// Domain time: when the fact happened, as the decision saw it.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// Ledger time: when the ledger wrote it.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    pub actor: Actor,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    /// The caller-scoped idempotency key of the request that caused it.
    pub idempotency_key: Option<String>,
    /// SHA-256 of the request, to tell a retry from a reused key.
    pub request_digest: Option<String>,
    pub prev_hash: String,
    pub hash: String,
    /// The payload as JSON text, kept as read. Readers decode it straight
    /// into their event type ([`crate::decode_event`]); a tree of `Value`s
    /// per event, built and freed again, cost a projector catching up more
    /// than a third of its time.
    pub data: Box<RawValue>,
}

impl Envelope {
    /// The payload as a JSON value, for readers that inspect it generically
    /// (audit views, tests).
    pub fn data_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }

    /// Computes and sets `hash` from every other member.
    pub fn seal(mut self) -> Result<Self, serde_json::Error> {
        let value = serde_json::to_value(&self)?;
        self.hash = hash_of(&value);
        Ok(self)
    }
}

/// The hash an envelope should carry, computed over the JSON value as stored
/// (so a verifier needs no knowledge of our types).
pub fn hash_of(envelope: &Value) -> String {
    let mut canonical = String::with_capacity(1024);
    match envelope {
        Value::Object(members) => {
            let without_hash: serde_json::Map<String, Value> = members
                .iter()
                .filter(|(k, _)| *k != "hash")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            write_canonical(&Value::Object(without_hash), &mut canonical);
        }
        other => write_canonical(other, &mut canonical),
    }
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Checks that a stored envelope's `hash` matches its content.
pub fn verify_hash(envelope: &Value) -> Result<(), String> {
    let stored = envelope
        .get("hash")
        .and_then(Value::as_str)
        .ok_or("the envelope has no hash")?;
    let computed = hash_of(envelope);
    if stored == computed {
        Ok(())
    } else {
        Err(format!(
            "hash mismatch: stored {stored}, computed {computed}"
        ))
    }
}

/// Writes `value` as canonical JSON (see the module docs).
pub fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(members) => {
            let mut keys: Vec<&String> = members.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(&members[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
    }
}

fn write_string(s: &str, out: &mut String) {
    // serde_json's string escaping is RFC 8259's minimal one; serializing a
    // &str cannot fail.
    match serde_json::to_string(s) {
        Ok(escaped) => out.push_str(&escaped),
        Err(_) => out.push_str("\"\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let mut out = String::new();
        write_canonical(
            &json!({"b": 1, "a": {"d": [true, null], "c": "x\"y"}}),
            &mut out,
        );
        assert_eq!(out, r#"{"a":{"c":"x\"y","d":[true,null]},"b":1}"#);
    }

    #[test]
    fn the_hash_ignores_the_hash_member_and_sees_every_other_change() {
        let sealed = json!({"a": 1, "hash": "whatever"});
        assert_eq!(hash_of(&sealed), hash_of(&json!({"a": 1})));
        assert_ne!(hash_of(&sealed), hash_of(&json!({"a": 2})));
    }

    #[test]
    fn a_known_vector_hashes_as_documented() {
        // docs/ledger-format.md quotes this vector.
        assert_eq!(
            hash_of(&json!({"b": [1, "two"], "a": null})),
            "7405a42ac18ef43c1df67bf06ad61c91741ce7be701bde16c8a00e699d3e4219"
        );
    }

    #[test]
    fn a_tampered_envelope_fails_verification() {
        let mut value = json!({"a": 1});
        let hash = hash_of(&value);
        value["hash"] = json!(hash);
        assert!(verify_hash(&value).is_ok());
        value["a"] = json!(2);
        assert!(verify_hash(&value).is_err());
    }
}
