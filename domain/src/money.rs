//! Money: ISO 4217 currencies and amounts in integer minor units.
//!
//! Amounts are never floats. An amount is a count of the currency's minor
//! unit (cents for EUR, yen for JPY, fils for KWD), and arithmetic on it is
//! checked, so an absurd order is refused instead of silently wrapping.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount in a currency's minor unit (may be negative for refunds).
pub type MinorUnits = i64;

/// The largest amount one order may total: ten trillion minor units. It is far
/// beyond any real order and far below `i64::MAX`, so sums of many orders in
/// the ERP export cannot overflow either.
pub const MAX_ORDER_TOTAL: MinorUnits = 10_000_000_000_000;

/// The largest unit price we accept, in minor units.
pub const MAX_UNIT_PRICE: MinorUnits = 100_000_000_000;

/// Active ISO 4217 codes and the number of digits of their minor unit.
/// Funds and precious-metal codes (XAU, XDR, ...) are not currencies a shop
/// sells in and are left out on purpose.
const ISO_4217: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

/// Why a string is not a currency we accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCurrency {
    pub code: String,
}

impl fmt::Display for UnknownCurrency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not an active ISO 4217 currency code", self.code)
    }
}

impl std::error::Error for UnknownCurrency {}

/// An active ISO 4217 currency, such as `EUR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    minor_digits: u8,
}

impl Currency {
    /// Accepts upper-case codes only: `eur` is as likely a typo as a currency.
    pub fn parse(raw: &str) -> Result<Self, UnknownCurrency> {
        ISO_4217
            .iter()
            .find(|(code, _)| *code == raw)
            .map(|(code, minor_digits)| {
                let bytes = code.as_bytes();
                Self {
                    code: [bytes[0], bytes[1], bytes[2]],
                    minor_digits: *minor_digits,
                }
            })
            .ok_or_else(|| UnknownCurrency {
                code: raw.to_owned(),
            })
    }

    pub fn code(&self) -> &str {
        // The code was taken from the ASCII table above.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for KWD.
    pub fn minor_digits(&self) -> u8 {
        self.minor_digits
    }

    /// Renders an amount for people, e.g. `12.50 EUR`. Not for machines:
    /// machines get the integer minor units.
    pub fn display_amount(&self, amount: MinorUnits) -> String {
        let digits = u32::from(self.minor_digits);
        if digits == 0 {
            return format!("{amount} {}", self.code());
        }
        let scale = 10_i64.pow(digits);
        let sign = if amount < 0 { "-" } else { "" };
        let abs = amount.unsigned_abs();
        let (major, minor) = (abs / scale as u64, abs % scale as u64);
        format!(
            "{sign}{major}.{minor:0width$} {}",
            self.code(),
            width = digits as usize
        )
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Currency::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Why a unit price is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceError {
    Negative,
    TooLarge,
}

impl fmt::Display for PriceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Negative => f.write_str("must not be negative"),
            Self::TooLarge => write!(f, "must be at most {MAX_UNIT_PRICE} minor units"),
        }
    }
}

impl std::error::Error for PriceError {}

/// Checks a unit price in minor units. Zero is allowed: free gifts are lines too.
pub fn parse_unit_price(raw: i64) -> Result<MinorUnits, PriceError> {
    match raw {
        _ if raw < 0 => Err(PriceError::Negative),
        _ if raw > MAX_UNIT_PRICE => Err(PriceError::TooLarge),
        _ => Ok(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_parse_with_their_minor_digits() {
        assert_eq!(Currency::parse("EUR").map(|c| c.minor_digits()), Ok(2));
        assert_eq!(Currency::parse("JPY").map(|c| c.minor_digits()), Ok(0));
        assert_eq!(Currency::parse("KWD").map(|c| c.minor_digits()), Ok(3));
    }

    #[test]
    fn unknown_and_lower_case_codes_are_rejected() {
        for raw in ["EURO", "eur", "XXX", "", "ABC"] {
            assert!(Currency::parse(raw).is_err(), "{raw:?} should be rejected");
        }
    }

    #[test]
    fn amounts_render_with_the_currency_precision() {
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(eur.display_amount(1250), "12.50 EUR");
        assert_eq!(eur.display_amount(-5), "-0.05 EUR");
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(jpy.display_amount(1250), "1250 JPY");
    }
}
