//! Item quantities.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The most items of one SKU a single order line may ask for. Larger numbers
/// are almost always typos or abuse, and bounding them keeps totals far from
/// overflow.
pub const MAX_QUANTITY: u32 = 10_000;

/// Why a number is not a valid quantity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuantityError {
    NotPositive,
    TooLarge,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotPositive => f.write_str("must be at least 1"),
            Self::TooLarge => write!(f, "must be at most {MAX_QUANTITY}"),
        }
    }
}

impl std::error::Error for QuantityError {}

/// A count of items, from 1 to [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    pub fn parse(raw: i64) -> Result<Self, QuantityError> {
        if raw < 1 {
            return Err(QuantityError::NotPositive);
        }
        if raw > i64::from(MAX_QUANTITY) {
            return Err(QuantityError::TooLarge);
        }
        Ok(Self(raw as u32))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Quantity {
    type Error = QuantityError;

    fn try_from(raw: i64) -> Result<Self, Self::Error> {
        Self::parse(raw)
    }
}

impl From<Quantity> for u32 {
    fn from(quantity: Quantity) -> u32 {
        quantity.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
