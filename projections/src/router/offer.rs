//! What the locations can offer one order right now: each candidate with its
//! profile, whether it handles the order today (in its own time zone), its
//! capacity left today and the units it has of each SKU the order needs.

use super::{state, Inner, StockKey};
use crate::ProjectionError;
use futures::future::try_join_all;
use ordo_domain::location::{LocationProfile, TimeOfDay, Weekday};
use ordo_domain::order::PlacedOrder;
use ordo_domain::routing::Candidate;
use ordo_domain::{LocationId, OrderId, Sku};
use ordo_ledger::stock_id;
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// The candidates for one order, and what the order holds among them.
pub(super) struct Offer {
    pub(super) candidates: Vec<Candidate>,
    /// The order's reservation at each stock item looked at, where it has one.
    pub(super) held: BTreeMap<StockKey, u32>,
    /// Each candidate's local date today, for counting capacity.
    pub(super) days: BTreeMap<LocationId, time::Date>,
}

impl Offer {
    /// Targets that bring every reservation the order holds back to its
    /// allocations: whatever an interrupted attempt left is released.
    pub(super) fn baseline(&self, placed: &PlacedOrder) -> BTreeMap<StockKey, u32> {
        self.held
            .keys()
            .map(|key| (key.clone(), placed.allocated_unshipped(&key.0, &key.1)))
            .collect()
    }
}

/// One location's view for one order, before capacity is known.
struct Seen {
    location_id: LocationId,
    profile: LocationProfile,
    available: BTreeMap<Sku, u32>,
    held: Vec<(Sku, u32)>,
}

/// A location's local moment.
struct LocalNow {
    weekday: Weekday,
    time: TimeOfDay,
    date: time::Date,
}

impl Inner {
    pub(super) async fn offer(
        &self,
        tx: &mut PgConnection,
        order_id: &OrderId,
        placed: &PlacedOrder,
        need: &BTreeMap<Sku, u32>,
    ) -> Result<Offer, ProjectionError> {
        let ids = self.location_ids(None).await?;
        let seen = try_join_all(
            ids.iter()
                .map(|id| self.look_at(id, order_id, placed, need)),
        )
        .await?;
        let mut offer = Offer {
            candidates: Vec::new(),
            held: BTreeMap::new(),
            days: BTreeMap::new(),
        };
        let mut moments = Vec::new();
        for seen in seen.into_iter().flatten() {
            let now = local_now(&seen.location_id, &seen.profile.timezone)?;
            offer.days.insert(seen.location_id.clone(), now.date);
            moments.push((seen, now));
        }
        let used = state::capacity_used(tx, &offer.days).await?;
        for (seen, now) in moments {
            for (sku, units) in seen.held {
                offer.held.insert((seen.location_id.clone(), sku), units);
            }
            let used = used.get(&seen.location_id).copied().unwrap_or(0);
            offer.candidates.push(Candidate {
                is_open_now: seen.profile.is_open_at(now.weekday, now.time),
                capacity_left: seen.profile.daily_capacity.saturating_sub(used),
                location_id: seen.location_id,
                profile: seen.profile,
                available: seen.available,
            });
        }
        Ok(offer)
    }

    /// Loads one location and its stock of every SKU the order needs.
    async fn look_at(
        &self,
        id: &str,
        order_id: &OrderId,
        placed: &PlacedOrder,
        need: &BTreeMap<Sku, u32>,
    ) -> Result<Option<Seen>, ProjectionError> {
        let location = self.locations.load(id).await?;
        let (Some(profile), Ok(location_id)) =
            (location.state.profile.clone(), LocationId::parse(id))
        else {
            return Ok(None);
        };
        let stocks = try_join_all(need.keys().map(|sku| {
            let id = stock_id(&location_id, sku);
            async move { self.stock.load(&id).await }
        }))
        .await?;
        let mut seen = Seen {
            location_id,
            profile,
            available: BTreeMap::new(),
            held: Vec::new(),
        };
        for (sku, stock) in need.keys().zip(stocks) {
            let held = stock.state.reservations.get(order_id).copied().unwrap_or(0);
            // Units the order holds beyond its allocations are a leftover of
            // an interrupted attempt: they are the order's to use again.
            let allocated = placed.allocated_unshipped(&seen.location_id, sku);
            let leftover = i64::from(held.saturating_sub(allocated));
            let units = (stock.state.available().max(0) + leftover).clamp(0, i64::from(u32::MAX));
            seen.available.insert(sku.clone(), units as u32);
            if held > 0 {
                seen.held.push((sku.clone(), held));
            }
        }
        Ok(Some(seen))
    }

    /// A location's local date today, if it is registered.
    pub(super) async fn local_day(
        &self,
        location: &LocationId,
    ) -> Result<Option<time::Date>, ProjectionError> {
        let loaded = self.locations.load(location.as_str()).await?;
        match &loaded.state.profile {
            Some(profile) => Ok(Some(local_now(location, &profile.timezone)?.date)),
            None => Ok(None),
        }
    }
}

/// The weekday, time and date now at a location.
fn local_now(location: &LocationId, timezone: &str) -> Result<LocalNow, ProjectionError> {
    let zone = jiff::tz::TimeZone::get(timezone).unwrap_or_else(|error| {
        tracing::warn!(
            location_id = %location,
            timezone,
            error = %error,
            "unknown time zone on this machine, using UTC"
        );
        jiff::tz::TimeZone::UTC
    });
    let zoned = jiff::Timestamp::now().to_zoned(zone);
    let weekday = match zoned.weekday() {
        jiff::civil::Weekday::Monday => Weekday::Mon,
        jiff::civil::Weekday::Tuesday => Weekday::Tue,
        jiff::civil::Weekday::Wednesday => Weekday::Wed,
        jiff::civil::Weekday::Thursday => Weekday::Thu,
        jiff::civil::Weekday::Friday => Weekday::Fri,
        jiff::civil::Weekday::Saturday => Weekday::Sat,
        jiff::civil::Weekday::Sunday => Weekday::Sun,
    };
    let invalid = |what: &str| ProjectionError::StepStalled {
        step: format!("local time of location {location}"),
        reason: format!("{what} out of range"),
    };
    let hour = u8::try_from(zoned.hour()).map_err(|_| invalid("hour"))?;
    let minute = u8::try_from(zoned.minute()).map_err(|_| invalid("minute"))?;
    let time = TimeOfDay::from_hm(hour, minute).ok_or_else(|| invalid("time"))?;
    let month = u8::try_from(zoned.month())
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(|| invalid("month"))?;
    let day = u8::try_from(zoned.day()).map_err(|_| invalid("day"))?;
    let date = time::Date::from_calendar_date(i32::from(zoned.year()), month, day)
        .map_err(|_| invalid("date"))?;
    Ok(LocalNow {
        weekday,
        time,
        date,
    })
}
