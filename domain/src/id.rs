//! Validated identifiers.
//!
//! Ids become NATS subject tokens (`ordo.order.<order_id>`), so they may only
//! hold characters that cannot change a subject's meaning: ASCII letters,
//! digits, `-` and `_`, at most 64 of them. Anything else is rejected, never
//! escaped, so that one id always maps to exactly one subject.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest identifier we accept.
pub const MAX_ID_LEN: usize = 64;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentifierError {
    Empty,
    TooLong { len: usize },
    InvalidCharacter { character: char },
}

impl fmt::Display for IdentifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("must not be empty"),
            Self::TooLong { len } => {
                write!(f, "must be at most {MAX_ID_LEN} characters, got {len}")
            }
            Self::InvalidCharacter { character } => write!(
                f,
                "may only contain ASCII letters, digits, '-' and '_', found {character:?}"
            ),
        }
    }
}

impl std::error::Error for IdentifierError {}

/// A string that is safe as one NATS subject token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Identifier(String);

impl Identifier {
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        if raw.is_empty() {
            return Err(IdentifierError::Empty);
        }
        let len = raw.chars().count();
        if len > MAX_ID_LEN {
            return Err(IdentifierError::TooLong { len });
        }
        if let Some(character) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(IdentifierError::InvalidCharacter { character });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Identifier {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Identifier::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Identifier);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
                Identifier::parse(raw).map(Self)
            }

            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

identifier!(
    /// Identifies one order; chosen by the channel or derived by Ordo.
    OrderId
);
identifier!(
    /// Identifies a customer of the retailer; owned by the channel or CRM.
    CustomerId
);
identifier!(
    /// The sales channel an order came through (web shop, store, marketplace).
    ChannelId
);
identifier!(
    /// A stock-keeping unit: one sellable article.
    Sku
);
identifier!(
    /// A store or warehouse.
    LocationId
);
identifier!(
    /// One parcel of an order, named by the location that ships it.
    ShipmentId
);
identifier!(
    /// One return of goods, named by the location that receives it.
    ReturnId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_digits_dash_and_underscore_are_accepted() {
        assert!(Identifier::parse("A-17_b").is_ok());
        assert!(Identifier::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn subject_metacharacters_and_spaces_are_rejected() {
        for raw in ["a.b", "a*", ">", "a b", "ä", "a/b", ""] {
            assert!(
                Identifier::parse(raw).is_err(),
                "{raw:?} should be rejected"
            );
        }
    }

    #[test]
    fn identifiers_longer_than_64_characters_are_rejected() {
        assert_eq!(
            Identifier::parse(&"x".repeat(65)),
            Err(IdentifierError::TooLong { len: 65 })
        );
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<OrderId>("\"a.b\"").is_err());
        assert!(serde_json::from_str::<OrderId>("\"ab\"").is_ok());
    }
}
