//! The customer's tracking page: "where is my order?".
//!
//! Reached with the order's unguessable tracking token and no bearer token,
//! so it shows status, timeline and parcels, and never the address or prices.

use super::extract::Consistency;
use super::orders::views::TimelineEntry;
use super::orders::views::{allocations, items, load_tracked, AllocationView, ItemView};
use super::{ApiError, AppState};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/track/{tracking_token}", get(track))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrackingView {
    pub order_id: String,
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub placed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// Where the goods will ship from.
    pub allocations: Vec<AllocationView>,
    pub shipments: Vec<ParcelView>,
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParcelView {
    pub shipment_id: String,
    pub carrier: String,
    pub tracking_number: String,
    pub items: Vec<ItemView>,
    /// `in_transit` or `delivered`.
    pub status: &'static str,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<OffsetDateTime>,
}

/// Where is my order?
#[utoipa::path(
    get,
    path = "/v1/track/{tracking_token}",
    tag = "tracking",
    params(("tracking_token" = String, Path), Consistency),
    responses((status = 200, body = TrackingView), (status = 404, body = super::error::Problem))
)]
pub(super) async fn track(
    State(app): State<AppState>,
    Path(token): Path<String>,
    query: Query<Consistency>,
) -> Result<Json<TrackingView>, ApiError> {
    // Tokens are 32 hex digits; anything else cannot match, so we do not
    // send it to the database.
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::NotFound("tracking token".to_owned()));
    }
    app.wait_for(query.min_position).await?;

    let tracked = load_tracked(&app, "tracking_token", &token).await?;
    let Some((order, _, updated_at, timeline)) = tracked else {
        return Err(ApiError::NotFound("tracking token".to_owned()));
    };
    let Some(placed) = &order.placed else {
        return Err(ApiError::NotFound("tracking token".to_owned()));
    };
    let shipments = placed
        .shipments
        .iter()
        .map(|s| ParcelView {
            shipment_id: s.shipment_id.to_string(),
            carrier: s.carrier.clone(),
            tracking_number: s.tracking_number.clone(),
            items: items(&s.lines),
            status: if s.delivered_at.is_some() {
                "delivered"
            } else {
                "in_transit"
            },
            delivered_at: s.delivered_at,
        })
        .collect();
    Ok(Json(TrackingView {
        order_id: placed.order_id.to_string(),
        status: order.status().as_str().to_owned(),
        placed_at: placed.placed_at,
        updated_at,
        allocations: allocations(&placed.allocations),
        shipments,
        timeline,
    }))
}
