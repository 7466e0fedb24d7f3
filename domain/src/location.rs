//! The location aggregate: a store or warehouse that fulfils orders
//! (`ordo.location.<id>`).
//!
//! A location is described as a whole by an operator (`PUT`): the profile
//! replaces the previous one, and an identical profile changes nothing. The
//! routing process reads the profile to decide whether and how well the
//! location can serve an order.

use crate::address::Coordinates;
use crate::field::FieldErrors;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The most orders a location can promise to handle in one day.
pub const MAX_DAILY_CAPACITY: u32 = 1_000_000;

/// The highest routing priority; higher is preferred.
pub const MAX_PRIORITY: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    Warehouse,
    Store,
}

impl LocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warehouse => "warehouse",
            Self::Store => "store",
        }
    }
}

/// Whether the routing process may send orders to a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationStatus {
    Active,
    Paused,
}

impl LocationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
        }
    }
}

/// A day of the week, as a location's opening days name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// A local wall-clock time, minutes after midnight; `"HH:MM"` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    pub const MIDNIGHT: TimeOfDay = TimeOfDay(0);

    pub fn parse(raw: &str) -> Result<Self, String> {
        let invalid = || format!("must be a time \"HH:MM\" between 00:00 and 23:59, got {raw:?}");
        let (hours, minutes) = raw.split_once(':').ok_or_else(invalid)?;
        if hours.len() != 2 || minutes.len() != 2 {
            return Err(invalid());
        }
        let hours: u16 = hours.parse().map_err(|_| invalid())?;
        let minutes: u16 = minutes.parse().map_err(|_| invalid())?;
        if hours > 23 || minutes > 59 {
            return Err(invalid());
        }
        Ok(Self(hours * 60 + minutes))
    }

    pub fn from_hm(hours: u8, minutes: u8) -> Option<Self> {
        (hours < 24 && minutes < 60).then(|| Self(u16::from(hours) * 60 + u16::from(minutes)))
    }

    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        TimeOfDay::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Everything routing needs to know about a location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationProfile {
    pub name: String,
    pub kind: LocationKind,
    pub coordinates: Coordinates,
    /// An IANA time zone name ("Europe/Berlin"); the caller checks it against
    /// the time zone database, which the pure domain does not carry.
    pub timezone: String,
    /// Orders the location can take per local day.
    pub daily_capacity: u32,
    pub opening_days: Vec<Weekday>,
    /// Orders routed after this local time ship on the next opening day.
    pub cutoff: TimeOfDay,
    /// 0..=100; higher is preferred.
    pub priority: u32,
    pub status: LocationStatus,
}

impl LocationProfile {
    /// Checks the rules a profile must meet, recording each problem under
    /// `/<field>`. The time zone's existence is the caller's check.
    pub fn validate(&self, errors: &mut FieldErrors) {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            errors.push(
                "/name",
                "must be 1 to 200 characters without control characters",
            );
        }
        let Coordinates {
            latitude,
            longitude,
        } = self.coordinates;
        if !(latitude.is_finite() && (-90.0..=90.0).contains(&latitude)) {
            errors.push("/coordinates/latitude", "must be between -90 and 90");
        }
        if !(longitude.is_finite() && (-180.0..=180.0).contains(&longitude)) {
            errors.push("/coordinates/longitude", "must be between -180 and 180");
        }
        if self.daily_capacity == 0 || self.daily_capacity > MAX_DAILY_CAPACITY {
            errors.push(
                "/daily_capacity",
                format!("must be between 1 and {MAX_DAILY_CAPACITY}"),
            );
        }
        if self.opening_days.is_empty() {
            errors.push("/opening_days", "must name at least one day");
        }
        let mut days = self.opening_days.clone();
        days.sort();
        days.dedup();
        if days.len() != self.opening_days.len() {
            errors.push("/opening_days", "must not repeat a day");
        }
        if self.priority > MAX_PRIORITY {
            errors.push("/priority", format!("must be between 0 and {MAX_PRIORITY}"));
        }
    }

    /// Whether an order routed at this local moment is handled today: the
    /// location opens today and the cut-off has not passed.
    pub fn is_open_at(&self, weekday: Weekday, time: TimeOfDay) -> bool {
        self.opening_days.contains(&weekday) && time < self.cutoff
    }
}

/// A location's history folded: its version and current profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub version: u64,
    pub profile: Option<LocationProfile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum LocationEvent {
    LocationRegistered(LocationProfile),
    /// The whole profile, as it is from now on.
    LocationUpdated(LocationProfile),
}

impl LocationEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::LocationRegistered(_) => "LocationRegistered",
            Self::LocationUpdated(_) => "LocationUpdated",
        }
    }
}

/// Registers a location or replaces its profile. A profile equal to the
/// current one changes nothing, so a repeated `PUT` appends nothing.
pub fn describe_location(location: &Location, profile: LocationProfile) -> Vec<LocationEvent> {
    match &location.profile {
        None => vec![LocationEvent::LocationRegistered(profile)],
        Some(current) if *current == profile => Vec::new(),
        Some(_) => vec![LocationEvent::LocationUpdated(profile)],
    }
}

pub fn evolve_location(mut location: Location, event: &LocationEvent) -> Location {
    location.version += 1;
    match event {
        LocationEvent::LocationRegistered(profile) | LocationEvent::LocationUpdated(profile) => {
            location.profile = Some(profile.clone());
        }
    }
    location
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> LocationProfile {
        LocationProfile {
            name: "Berlin Mitte".into(),
            kind: LocationKind::Store,
            coordinates: Coordinates {
                latitude: 52.52,
                longitude: 13.40,
            },
            timezone: "Europe/Berlin".into(),
            daily_capacity: 200,
            opening_days: vec![Weekday::Mon, Weekday::Tue],
            cutoff: TimeOfDay::parse("15:30").expect("valid"),
            priority: 10,
            status: LocationStatus::Active,
        }
    }

    #[test]
    fn describing_registers_then_updates_and_a_repeat_changes_nothing() {
        let first = describe_location(&Location::default(), profile());
        assert!(matches!(first[..], [LocationEvent::LocationRegistered(_)]));
        let location = evolve_location(Location::default(), &first[0]);
        assert!(describe_location(&location, profile()).is_empty());
        let paused = LocationProfile {
            status: LocationStatus::Paused,
            ..profile()
        };
        let second = describe_location(&location, paused);
        assert!(matches!(second[..], [LocationEvent::LocationUpdated(_)]));
    }

    #[test]
    fn validation_names_each_wrong_field() {
        let wrong = LocationProfile {
            name: " ".into(),
            daily_capacity: 0,
            opening_days: vec![Weekday::Mon, Weekday::Mon],
            priority: 101,
            coordinates: Coordinates {
                latitude: 91.0,
                longitude: f64::NAN,
            },
            ..profile()
        };
        let mut errors = FieldErrors::new();
        wrong.validate(&mut errors);
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/name",
                "/coordinates/latitude",
                "/coordinates/longitude",
                "/daily_capacity",
                "/opening_days",
                "/priority"
            ]
        );
    }

    #[test]
    fn times_of_day_parse_strictly() {
        assert_eq!(TimeOfDay::parse("09:05").map(|t| t.minutes()), Ok(545));
        for raw in ["9:05", "24:00", "12:60", "12-00", "ab:cd", ""] {
            assert!(TimeOfDay::parse(raw).is_err(), "{raw:?}");
        }
        let open = profile();
        let before = TimeOfDay::parse("15:29").expect("valid");
        assert!(open.is_open_at(Weekday::Mon, before));
        assert!(!open.is_open_at(Weekday::Mon, open.cutoff));
        assert!(!open.is_open_at(Weekday::Sun, before));
    }
}
