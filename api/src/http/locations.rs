//! Locations (stores and warehouses) and the routing policy: both set by
//! operators as whole documents with `PUT`, both events in the ledger, so
//! every routing decision can name what it was based on.

use super::extract::{CommandHeaders, Consistency, JsonBody};
use super::{command_context, ApiError, AppState};
use crate::auth::{Caller, Role};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use ordo_domain::address::Coordinates;
use ordo_domain::field::parse_text;
use ordo_domain::location::{
    describe_location, LocationKind, LocationProfile, LocationStatus, TimeOfDay, Weekday,
};
use ordo_domain::routing::{set_policy, RoutingPolicy};
use ordo_domain::{FieldErrors, LocationId};
use ordo_ledger::{Executed, ROUTING_POLICY_ID};
use ordo_projections::STOCK_VIEWS;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use utoipa::ToSchema;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/locations", get(list_locations))
        .route("/v1/locations/{id}", get(get_location).put(put_location))
        .route("/v1/routing-policy", get(get_policy).put(put_policy))
}

/// A location as an operator describes it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationRequest {
    pub name: String,
    /// `warehouse` or `store`.
    #[schema(value_type = String, example = "store")]
    pub kind: LocationKind,
    pub coordinates: CoordinatesRequest,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Orders the location can take per local day.
    pub daily_capacity: i64,
    /// Days it ships: `mon` … `sun`.
    #[schema(value_type = Vec<String>, example = json!(["mon", "tue", "wed", "thu", "fri"]))]
    pub opening_days: Vec<Weekday>,
    /// Local time after which orders ship the next opening day, `HH:MM`.
    pub cutoff: String,
    /// 0..=100, higher preferred.
    #[serde(default)]
    pub priority: i64,
    /// `active` (default) or `paused`.
    #[serde(default = "active")]
    #[schema(value_type = String, example = "active")]
    pub status: LocationStatus,
}

/// WGS 84 decimal degrees.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoordinatesRequest {
    pub latitude: f64,
    pub longitude: f64,
}

fn active() -> LocationStatus {
    LocationStatus::Active
}

impl LocationRequest {
    fn parse(self) -> Result<LocationProfile, FieldErrors> {
        let mut errors = FieldErrors::new();
        let cutoff = errors.check("/cutoff", TimeOfDay::parse(&self.cutoff));
        if jiff::tz::TimeZone::get(&self.timezone).is_err() {
            errors.push(
                "/timezone",
                "must be an IANA time zone name, such as Europe/Berlin",
            );
        }
        let daily_capacity = u32::try_from(self.daily_capacity).unwrap_or(0);
        let priority = u32::try_from(self.priority).unwrap_or(u32::MAX);
        let profile = LocationProfile {
            name: self.name.trim().to_owned(),
            kind: self.kind,
            coordinates: Coordinates {
                latitude: self.coordinates.latitude,
                longitude: self.coordinates.longitude,
            },
            timezone: self.timezone,
            daily_capacity,
            opening_days: self.opening_days,
            // A cut-off that did not parse is already an error above.
            cutoff: cutoff.unwrap_or(TimeOfDay::MIDNIGHT),
            priority,
            status: self.status,
        };
        profile.validate(&mut errors);
        if errors.is_empty() {
            Ok(profile)
        } else {
            Err(errors)
        }
    }
}

/// A location as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocationView {
    pub location_id: String,
    pub version: u64,
    pub position: u64,
    #[serde(flatten)]
    pub profile: LocationRequest,
}

fn view(location_id: &str, version: u64, position: u64, profile: LocationProfile) -> LocationView {
    LocationView {
        location_id: location_id.to_owned(),
        version,
        position,
        profile: LocationRequest {
            name: profile.name,
            kind: profile.kind,
            coordinates: CoordinatesRequest {
                latitude: profile.coordinates.latitude,
                longitude: profile.coordinates.longitude,
            },
            timezone: profile.timezone,
            daily_capacity: i64::from(profile.daily_capacity),
            opening_days: profile.opening_days,
            cutoff: profile.cutoff.to_string(),
            priority: i64::from(profile.priority),
            status: profile.status,
        },
    }
}

pub(crate) fn parse_location_id(raw: &str, path: &str) -> Result<LocationId, ApiError> {
    LocationId::parse(raw).map_err(|e| ApiError::field(path, e.to_string()))
}

/// Register a location or replace its profile.
#[utoipa::path(
    put,
    path = "/v1/locations/{id}",
    tag = "locations",
    request_body = LocationRequest,
    params(("id" = String, Path)),
    responses(
        (status = 200, body = LocationView, description = "updated or unchanged"),
        (status = 201, body = LocationView, description = "registered"),
        (status = 400, body = super::error::Problem),
    ),
    security(("bearer" = []))
)]
pub(super) async fn put_location(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<LocationRequest>,
) -> Result<(StatusCode, Json<LocationView>), ApiError> {
    caller.require(&[Role::Operator])?;
    let location_id = parse_location_id(&id, "/path/id")?;
    let profile = body
        .value
        .parse()
        .map_err(|e| ApiError::Validation(e.into_vec()))?;

    let context = command_context(&caller, &headers, Some(body.digest));
    let executed = app
        .locations
        .execute(location_id.as_str(), &context, |location| {
            Ok::<_, Infallible>(describe_location(location, profile.clone()))
        })
        .await?;

    let (created, position) = match &executed {
        Executed::Appended {
            state, position, ..
        } => (state.version == 1, *position),
        Executed::Unchanged { position, .. } => (false, *position),
        Executed::Replayed(record) => (record.version == 1, record.position),
    };
    let loaded = app.locations.load(location_id.as_str()).await?;
    let version = loaded.state.version;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&id, version, position, profile))))
}

/// One location, from the ledger.
#[utoipa::path(
    get,
    path = "/v1/locations/{id}",
    tag = "locations",
    params(("id" = String, Path)),
    responses((status = 200, body = LocationView), (status = 404, body = super::error::Problem)),
    security(("bearer" = []))
)]
pub(super) async fn get_location(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<LocationView>, ApiError> {
    caller.require(&[Role::Operator, Role::Store, Role::Channel, Role::Auditor])?;
    let location_id = parse_location_id(&id, "/path/id")?;
    let loaded = app.locations.load(location_id.as_str()).await?;
    let Some(profile) = loaded.state.profile.clone() else {
        return Err(ApiError::NotFound(format!("location {location_id}")));
    };
    let version = loaded.state.version;
    Ok(Json(view(&id, version, loaded.last_position, profile)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocationList {
    pub locations: Vec<LocationView>,
}

/// Every location, from the read model.
#[utoipa::path(
    get,
    path = "/v1/locations",
    tag = "locations",
    params(Consistency),
    responses((status = 200, body = LocationList)),
    security(("bearer" = []))
)]
pub(super) async fn list_locations(
    State(app): State<AppState>,
    caller: Caller,
    query: Query<Consistency>,
) -> Result<Json<LocationList>, ApiError> {
    caller.require(&[Role::Operator, Role::Store, Role::Channel, Role::Auditor])?;
    app.wait_for_model(STOCK_VIEWS, query.min_position).await?;
    let rows: Vec<(String, i64, i64, serde_json::Value)> = sqlx::query_as(
        "select location_id, version, position, profile from location order by location_id",
    )
    .fetch_all(&app.pool)
    .await?;
    let mut locations = Vec::with_capacity(rows.len());
    for (id, version, position, profile) in rows {
        let profile: LocationProfile =
            serde_json::from_value(profile).map_err(ApiError::internal)?;
        locations.push(view(&id, version as u64, position as u64, profile));
    }
    Ok(Json(LocationList { locations }))
}

/// The routing policy as an operator sets it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    /// Points subtracted per 100 km to the destination.
    pub distance_weight: i64,
    /// Points per step of a location's priority.
    pub priority_weight: i64,
    /// Points for a location with all of today's capacity left.
    pub capacity_weight: i64,
    /// Points subtracted when a location is closed or past its cut-off.
    pub closed_penalty: i64,
    /// Points subtracted per shipment beyond the first.
    pub split_penalty: i64,
    /// The most locations one order may be split over (1..=10).
    pub max_shipments: i64,
    /// Why the policy changes, for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PolicyRequest {
    fn parse(self) -> Result<(RoutingPolicy, String), FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut points = |path: &str, value: i64| match u32::try_from(value) {
            Ok(value) => value,
            Err(_) => {
                errors.push(path, "must be a whole number of points, 0 or more");
                0
            }
        };
        let policy = RoutingPolicy {
            distance_weight: points("/distance_weight", self.distance_weight),
            priority_weight: points("/priority_weight", self.priority_weight),
            capacity_weight: points("/capacity_weight", self.capacity_weight),
            closed_penalty: points("/closed_penalty", self.closed_penalty),
            split_penalty: points("/split_penalty", self.split_penalty),
            max_shipments: u32::try_from(self.max_shipments).unwrap_or(0),
        };
        policy.validate(&mut errors);
        let reason = match self.reason.as_deref() {
            None => "set by an operator".to_owned(),
            Some(reason) => errors
                .check("/reason", parse_text(reason, 500))
                .unwrap_or_default(),
        };
        if errors.is_empty() {
            Ok((policy, reason))
        } else {
            Err(errors)
        }
    }
}

/// The policy in force and its version (0: the built-in default).
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    pub version: u64,
    pub position: u64,
    #[serde(flatten)]
    pub policy: PolicyRequest,
}

fn policy_view(
    version: u64,
    position: u64,
    policy: &RoutingPolicy,
    reason: Option<String>,
) -> PolicyView {
    PolicyView {
        version,
        position,
        policy: PolicyRequest {
            distance_weight: i64::from(policy.distance_weight),
            priority_weight: i64::from(policy.priority_weight),
            capacity_weight: i64::from(policy.capacity_weight),
            closed_penalty: i64::from(policy.closed_penalty),
            split_penalty: i64::from(policy.split_penalty),
            max_shipments: i64::from(policy.max_shipments),
            reason,
        },
    }
}

/// The routing policy in force.
#[utoipa::path(
    get,
    path = "/v1/routing-policy",
    tag = "locations",
    responses((status = 200, body = PolicyView)),
    security(("bearer" = []))
)]
pub(super) async fn get_policy(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<PolicyView>, ApiError> {
    caller.require(&[Role::Operator, Role::Auditor])?;
    let loaded = app.policy.load(ROUTING_POLICY_ID).await?;
    let state = &loaded.state;
    let view = policy_view(
        state.version,
        loaded.last_position,
        &state.policy,
        state.reason.clone(),
    );
    Ok(Json(view))
}

/// Set the routing policy; the next routing decision uses it.
#[utoipa::path(
    put,
    path = "/v1/routing-policy",
    tag = "locations",
    request_body = PolicyRequest,
    responses((status = 200, body = PolicyView), (status = 400, body = super::error::Problem)),
    security(("bearer" = []))
)]
pub(super) async fn put_policy(
    State(app): State<AppState>,
    caller: Caller,
    headers: CommandHeaders,
    body: JsonBody<PolicyRequest>,
) -> Result<Json<PolicyView>, ApiError> {
    caller.require(&[Role::Operator])?;
    let (policy, reason) = body
        .value
        .parse()
        .map_err(|e| ApiError::Validation(e.into_vec()))?;

    let context = command_context(&caller, &headers, Some(body.digest));
    let executed = app
        .policy
        .execute(ROUTING_POLICY_ID, &context, |state| {
            Ok::<_, Infallible>(set_policy(state, policy.clone(), reason.clone()))
        })
        .await?;
    let position = executed.position();
    let loaded = app.policy.load(ROUTING_POLICY_ID).await?;
    let state = &loaded.state;
    Ok(Json(policy_view(
        state.version,
        position,
        &state.policy,
        state.reason.clone(),
    )))
}
