//! Shipping addresses.
//!
//! An address is personal data. The domain only checks its shape; how it is
//! protected at rest is the ledger's concern.

use crate::field::FieldErrors;
use serde::{Deserialize, Serialize};

/// The address as a client sent it, before validation.
#[derive(Debug, Clone, Default)]
pub struct RawAddress {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub postal_code: String,
    pub city: String,
    pub country: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A validated shipping address, with the contact the carrier may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub postal_code: String,
    pub city: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<Coordinates>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// A point on earth in decimal degrees (WGS 84), used for routing distance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Coordinates {
    pub latitude: f64,
    pub longitude: f64,
}

impl Address {
    /// Validates every field and records each problem under `base/<field>`.
    pub fn parse(raw: RawAddress, base: &str, errors: &mut FieldErrors) -> Option<Address> {
        let before = errors.clone();
        let name = text(&raw.name, 1, 200, &format!("{base}/name"), errors);
        let line1 = text(&raw.line1, 1, 200, &format!("{base}/line1"), errors);
        let line2 = match &raw.line2 {
            Some(line2) if !line2.trim().is_empty() => {
                Some(text(line2, 1, 200, &format!("{base}/line2"), errors))
            }
            _ => None,
        };
        let postal_code = text(
            &raw.postal_code,
            1,
            20,
            &format!("{base}/postal_code"),
            errors,
        );
        let city = text(&raw.city, 1, 100, &format!("{base}/city"), errors);
        let country = raw.country.clone();
        if !(country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase())) {
            errors.push(
                format!("{base}/country"),
                "must be an ISO 3166-1 alpha-2 code in upper case, such as \"DE\"",
            );
        }
        let coordinates = coordinates(raw.latitude, raw.longitude, base, errors);
        let email = raw
            .email
            .as_deref()
            .map(|e| email(e, &format!("{base}/email"), errors));
        let phone = raw
            .phone
            .as_deref()
            .map(|p| phone(p, &format!("{base}/phone"), errors));
        if errors.iter().count() != before.iter().count() {
            return None;
        }
        Some(Address {
            name,
            line1,
            line2,
            postal_code,
            city,
            country,
            coordinates,
            email,
            phone,
        })
    }
}

fn text(raw: &str, min: usize, max: usize, path: &str, errors: &mut FieldErrors) -> String {
    let trimmed = raw.trim();
    let len = trimmed.chars().count();
    if len < min {
        errors.push(path, "must not be empty");
    } else if len > max {
        errors.push(path, format!("must be at most {max} characters, got {len}"));
    } else if trimmed.chars().any(char::is_control) {
        errors.push(path, "must not contain control characters");
    }
    trimmed.to_owned()
}

/// A plausible e-mail address: one `@` with text on both sides and a dot in
/// the domain. Deliverability is the channel's business, not ours.
fn email(raw: &str, path: &str, errors: &mut FieldErrors) -> String {
    let trimmed = raw.trim();
    let plausible = trimmed.len() <= 254
        && !trimmed.chars().any(|c| c.is_whitespace() || c.is_control())
        && trimmed.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        });
    if !plausible {
        errors.push(path, "must be an e-mail address such as ada@example.com");
    }
    trimmed.to_owned()
}

/// Digits with an optional leading `+` and spaces, dashes or parentheses.
fn phone(raw: &str, path: &str, errors: &mut FieldErrors) -> String {
    let trimmed = raw.trim();
    let digits = trimmed.chars().filter(char::is_ascii_digit).count();
    let allowed = trimmed
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || " -()".contains(c) || (i == 0 && c == '+'));
    if !(allowed && (5..=20).contains(&digits)) {
        errors.push(
            path,
            "must be a phone number of 5 to 20 digits, such as +49 30 1234567",
        );
    }
    trimmed.to_owned()
}

fn coordinates(
    latitude: Option<f64>,
    longitude: Option<f64>,
    base: &str,
    errors: &mut FieldErrors,
) -> Option<Coordinates> {
    match (latitude, longitude) {
        (None, None) => None,
        (Some(latitude), Some(longitude)) => {
            if !(-90.0..=90.0).contains(&latitude) {
                errors.push(format!("{base}/latitude"), "must be between -90 and 90");
            }
            if !(-180.0..=180.0).contains(&longitude) {
                errors.push(format!("{base}/longitude"), "must be between -180 and 180");
            }
            Some(Coordinates {
                latitude,
                longitude,
            })
        }
        (None, Some(_)) => {
            errors.push(
                format!("{base}/latitude"),
                "must be given together with longitude",
            );
            None
        }
        (Some(_), None) => {
            errors.push(
                format!("{base}/longitude"),
                "must be given together with latitude",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> RawAddress {
        RawAddress {
            name: "Ada Lovelace".into(),
            line1: "12 St James's Square".into(),
            line2: None,
            postal_code: "SW1Y 4JH".into(),
            city: "London".into(),
            country: "GB".into(),
            latitude: Some(51.507),
            longitude: Some(-0.134),
            email: Some("ada@example.org".into()),
            phone: Some("+44 20 7946 0000".into()),
        }
    }

    #[test]
    fn a_complete_address_parses() {
        let mut errors = FieldErrors::new();
        assert!(Address::parse(valid(), "/shipping_address", &mut errors).is_some());
        assert!(errors.is_empty());
    }

    #[test]
    fn every_wrong_field_is_named() {
        let raw = RawAddress {
            name: " ".into(),
            country: "Germany".into(),
            latitude: Some(123.0),
            ..valid()
        };
        let mut errors = FieldErrors::new();
        assert!(Address::parse(raw, "/a", &mut errors).is_none());
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/a/name", "/a/country", "/a/latitude"]);
    }
}
