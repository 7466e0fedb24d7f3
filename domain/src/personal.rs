//! Personal data: values that belong to a customer and can be erased.
//!
//! The domain only marks them. The ledger stores a [`Personal::Known`] value
//! encrypted with the customer's key and hands it back as `Known` while the
//! key exists, or as [`Personal::Erased`] once the customer was erased
//! (crypto-shredding, DESIGN.md "Personal data"). Rules never depend on the
//! content of personal data, so erased events still replay.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value about a person, or the mark that it was erased.
#[derive(Debug, Clone, PartialEq)]
pub enum Personal<T> {
    Known(T),
    Erased,
    /// Stored encrypted, and this reader holds no master key (an auditor's
    /// replay, say). Not the same as erased: the data still exists.
    Withheld,
}

impl<T> Personal<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Self::Known(value) => Some(value),
            Self::Erased | Self::Withheld => None,
        }
    }

    pub fn is_erased(&self) -> bool {
        matches!(self, Self::Erased)
    }
}

/// The JSON form: `{"$personal": <value>}` or `{"$erased": true}`. The
/// `$personal` tag is what the ledger looks for when it encrypts an event.
#[derive(Serialize, Deserialize)]
enum Repr<T> {
    #[serde(rename = "$personal")]
    Known(T),
    #[serde(rename = "$erased")]
    Erased(bool),
    #[serde(rename = "$withheld")]
    Withheld(bool),
}

impl<T: Serialize> Serialize for Personal<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Known(value) => Repr::Known(value).serialize(serializer),
            Self::Erased => Repr::<&T>::Erased(true).serialize(serializer),
            Self::Withheld => Repr::<&T>::Withheld(true).serialize(serializer),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Personal<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Repr::deserialize(deserializer)? {
            Repr::Known(value) => Self::Known(value),
            Repr::Erased(_) => Self::Erased,
            Repr::Withheld(_) => Self::Withheld,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_erased_values_have_tagged_json() {
        let known = serde_json::to_string(&Personal::Known("Ada")).unwrap();
        let erased = serde_json::to_string(&Personal::<String>::Erased).unwrap();
        assert_eq!(known, r#"{"$personal":"Ada"}"#);
        assert_eq!(erased, r#"{"$erased":true}"#);
        let back: Personal<String> = serde_json::from_str(&erased).unwrap();
        assert!(back.is_erased());
    }
}
