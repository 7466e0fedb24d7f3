//! Namespaces: one stream and one subject prefix per tenant or test.

use std::fmt;

/// A validated namespace such as `ordo`. The stream is its upper-case form
/// (`ORDO`) and every subject starts with it (`ordo.order.A17`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace(String);

/// Why a string cannot be a namespace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "namespace {0:?} must be 1 to 32 lower-case ASCII letters, digits or '_', \
     starting with a letter"
)]
pub struct InvalidNamespace(pub String);

impl Namespace {
    /// Lower-case only, so that the stream name (upper case) maps back to
    /// exactly one namespace; no `-` because stream names and SQL
    /// identifiers derived from it must stay simple.
    pub fn parse(raw: &str) -> Result<Self, InvalidNamespace> {
        let valid = (1..=32).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidNamespace(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JetStream stream that holds the namespace's events.
    pub fn stream_name(&self) -> String {
        self.0.to_ascii_uppercase()
    }

    /// The subject of one aggregate instance: `<ns>.<kind>.<id>`.
    pub fn subject(&self, kind: &str, id: &str) -> String {
        format!("{}.{kind}.{id}", self.0)
    }

    /// The wildcard that captures every subject of the namespace.
    pub fn all_subjects(&self) -> String {
        format!("{}.>", self.0)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_stream_and_subjects() {
        let ns = Namespace::parse("ordo").unwrap();
        assert_eq!(ns.stream_name(), "ORDO");
        assert_eq!(ns.subject("order", "A17"), "ordo.order.A17");
        assert_eq!(ns.all_subjects(), "ordo.>");
    }

    #[test]
    fn unsafe_names_are_rejected() {
        for raw in ["", "Ordo", "a.b", "a-b", "1abc", &"a".repeat(33)] {
            assert!(Namespace::parse(raw).is_err(), "{raw:?}");
        }
    }
}
