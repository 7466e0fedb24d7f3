//! Stock: what stores and warehouses report (receipts, counts, corrections,
//! scheduled deliveries), and the inventory read model (on hand, reserved,
//! available, incoming). Reservations are not reported: the routing process
//! makes and releases them.

use super::extract::{CommandHeaders, Consistency, JsonBody};
use super::locations::parse_location_id;
use super::{command_context, ApiError, AppState};
use crate::auth::{Caller, Role};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use ordo_domain::field::parse_text;
use ordo_domain::stock::{decide_stock, StockCommand};
use ordo_domain::{FieldErrors, Identifier, LocationId, Quantity, Sku};
use ordo_ledger::stock_id;
use ordo_projections::STOCK_VIEWS;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/stock/{location}/{sku}/receipts", post(receive))
        .route("/v1/stock/{location}/{sku}/counts", post(count))
        .route("/v1/stock/{location}/{sku}/corrections", post(correct))
        .route(
            "/v1/stock/{location}/{sku}/incoming",
            post(schedule_incoming),
        )
        .route("/v1/inventory/{sku}", get(sku_inventory))
        .route("/v1/locations/{id}/inventory", get(location_inventory))
}

/// Goods arrived.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptRequest {
    pub quantity: i64,
    /// Closes this scheduled delivery, if given.
    pub incoming_id: Option<String>,
}

/// A stock take: the absolute count.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountRequest {
    pub counted: i64,
    pub reason: String,
}

/// A relative correction (damaged, found).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    pub delta: i64,
    pub reason: String,
}

/// A delivery expected at the location.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncomingRequest {
    pub incoming_id: String,
    pub quantity: i64,
}

/// A stock item after a report.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockView {
    pub location_id: String,
    pub sku: String,
    pub version: u64,
    /// Stream position of the report's commit.
    pub position: u64,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub incoming: i64,
}

fn quantity(path: &str, raw: i64, errors: &mut FieldErrors) -> Option<Quantity> {
    errors.check(path, Quantity::parse(raw))
}

fn reason(raw: &str, errors: &mut FieldErrors) -> String {
    errors
        .check("/reason", parse_text(raw, 500))
        .unwrap_or_default()
}

fn incoming_id(raw: &str, errors: &mut FieldErrors) -> Option<String> {
    errors
        .check("/incoming_id", Identifier::parse(raw))
        .map(|id| id.to_string())
}

/// Record goods received.
#[utoipa::path(post, path = "/v1/stock/{location}/{sku}/receipts", tag = "stock",
    request_body = ReceiptRequest, params(("location" = String, Path), ("sku" = String, Path)),
    responses((status = 200, body = StockView), (status = 400, body = super::error::Problem),
        (status = 404, body = super::error::Problem), (status = 409, body = super::error::Problem)),
    security(("bearer" = [])))]
pub(super) async fn receive(
    State(app): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    headers: CommandHeaders,
    body: JsonBody<ReceiptRequest>,
) -> Result<Json<StockView>, ApiError> {
    let mut errors = FieldErrors::new();
    let quantity = quantity("/quantity", body.value.quantity, &mut errors);
    let incoming_id = match &body.value.incoming_id {
        Some(raw) => incoming_id(raw, &mut errors).map(Some),
        None => Some(None),
    };
    let command = match (quantity, incoming_id) {
        (Some(quantity), Some(incoming_id)) => Some(StockCommand::Receive {
            quantity,
            incoming_id,
        }),
        _ => None,
    };
    report(&app, &caller, path, &headers, body.digest, errors, command).await
}

/// Record a stock take.
#[utoipa::path(post, path = "/v1/stock/{location}/{sku}/counts", tag = "stock",
    request_body = CountRequest, params(("location" = String, Path), ("sku" = String, Path)),
    responses((status = 200, body = StockView), (status = 400, body = super::error::Problem),
        (status = 404, body = super::error::Problem), (status = 409, body = super::error::Problem)),
    security(("bearer" = [])))]
pub(super) async fn count(
    State(app): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    headers: CommandHeaders,
    body: JsonBody<CountRequest>,
) -> Result<Json<StockView>, ApiError> {
    let mut errors = FieldErrors::new();
    let counted = errors.check(
        "/counted",
        u32::try_from(body.value.counted).map_err(|_| "must be 0 or more"),
    );
    let reason = reason(&body.value.reason, &mut errors);
    let command = counted.map(|counted| StockCommand::Count { counted, reason });
    report(&app, &caller, path, &headers, body.digest, errors, command).await
}

/// Record a relative correction.
#[utoipa::path(post, path = "/v1/stock/{location}/{sku}/corrections", tag = "stock",
    request_body = CorrectionRequest, params(("location" = String, Path), ("sku" = String, Path)),
    responses((status = 200, body = StockView), (status = 400, body = super::error::Problem),
        (status = 404, body = super::error::Problem), (status = 409, body = super::error::Problem)),
    security(("bearer" = [])))]
pub(super) async fn correct(
    State(app): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    headers: CommandHeaders,
    body: JsonBody<CorrectionRequest>,
) -> Result<Json<StockView>, ApiError> {
    let mut errors = FieldErrors::new();
    let delta = body.value.delta;
    if delta.abs() > 1_000_000 {
        errors.push("/delta", "must be between -1000000 and 1000000");
    }
    let reason = reason(&body.value.reason, &mut errors);
    let command = Some(StockCommand::Correct { delta, reason });
    report(&app, &caller, path, &headers, body.digest, errors, command).await
}

/// Schedule an expected delivery.
#[utoipa::path(post, path = "/v1/stock/{location}/{sku}/incoming", tag = "stock",
    request_body = IncomingRequest, params(("location" = String, Path), ("sku" = String, Path)),
    responses((status = 200, body = StockView), (status = 400, body = super::error::Problem),
        (status = 404, body = super::error::Problem), (status = 409, body = super::error::Problem)),
    security(("bearer" = [])))]
pub(super) async fn schedule_incoming(
    State(app): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    headers: CommandHeaders,
    body: JsonBody<IncomingRequest>,
) -> Result<Json<StockView>, ApiError> {
    let mut errors = FieldErrors::new();
    let id = incoming_id(&body.value.incoming_id, &mut errors);
    let quantity = quantity("/quantity", body.value.quantity, &mut errors);
    let command = match (id, quantity) {
        (Some(incoming_id), Some(quantity)) => Some(StockCommand::ScheduleIncoming {
            incoming_id,
            quantity,
        }),
        _ => None,
    };
    report(&app, &caller, path, &headers, body.digest, errors, command).await
}

/// The recipe of every stock report: authorise, parse, check the location
/// exists, execute, answer with the stock item's new state.
async fn report(
    app: &AppState,
    caller: &Caller,
    (location, sku): (String, String),
    headers: &CommandHeaders,
    digest: String,
    mut errors: FieldErrors,
    command: Option<StockCommand>,
) -> Result<Json<StockView>, ApiError> {
    caller.require(&[Role::Store, Role::Operator])?;
    let location_id = errors.check("/path/location", LocationId::parse(&location));
    let sku = errors.check("/path/sku", Sku::parse(&sku));
    let (Some(location_id), Some(sku), Some(command), true) =
        (location_id, sku, command, errors.is_empty())
    else {
        return Err(ApiError::Validation(errors.into_vec()));
    };
    let location = app.locations.load(location_id.as_str()).await?;
    if location.state.profile.is_none() {
        return Err(ApiError::NotFound(format!("location {location_id}")));
    }

    let context = command_context(caller, headers, Some(digest));
    let id = stock_id(&location_id, &sku);
    let executed = app
        .stock
        .execute(&id, &context, |stock| decide_stock(stock, command.clone()))
        .await?;

    let position = executed.position();
    let stock = &app.stock.load(&id).await?.state;
    Ok(Json(StockView {
        location_id: location_id.to_string(),
        sku: sku.to_string(),
        version: stock.version,
        position,
        on_hand: stock.on_hand,
        reserved: stock.reserved(),
        available: stock.available(),
        incoming: stock.incoming_total(),
    }))
}

/// One stock item in the inventory read model.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct InventoryRow {
    pub location_id: String,
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub incoming: i64,
}

/// A SKU across the network.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkuInventory {
    pub sku: String,
    pub locations: Vec<InventoryRow>,
    pub total: Totals,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Totals {
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub incoming: i64,
}

/// A SKU at every location and the network total.
#[utoipa::path(get, path = "/v1/inventory/{sku}", tag = "stock",
    params(("sku" = String, Path), Consistency),
    responses((status = 200, body = SkuInventory), (status = 400, body = super::error::Problem)),
    security(("bearer" = [])))]
pub(super) async fn sku_inventory(
    State(app): State<AppState>,
    caller: Caller,
    Path(sku): Path<String>,
    query: Query<Consistency>,
) -> Result<Json<SkuInventory>, ApiError> {
    caller.require(&[Role::Channel, Role::Store, Role::Operator, Role::Auditor])?;
    let sku = Sku::parse(&sku).map_err(|e| ApiError::field("/path/sku", e.to_string()))?;
    app.wait_for_model(STOCK_VIEWS, query.min_position).await?;

    let locations: Vec<InventoryRow> = sqlx::query_as(
        "select location_id, sku, on_hand, reserved, on_hand - reserved as available, incoming
         from inventory where sku = $1 order by location_id",
    )
    .bind(sku.as_str())
    .fetch_all(&app.pool)
    .await?;
    let mut total = Totals::default();
    for row in &locations {
        total.on_hand += row.on_hand;
        total.reserved += row.reserved;
        total.available += row.available;
        total.incoming += row.incoming;
    }
    Ok(Json(SkuInventory {
        sku: sku.to_string(),
        locations,
        total,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InventoryPage {
    /// Continue after this SKU (the `next` of the previous page).
    pub after: Option<String>,
    /// 1..=500, default 100.
    pub limit: Option<i64>,
    pub min_position: Option<u64>,
}

/// One page of a location's inventory, by SKU.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocationInventory {
    pub location_id: String,
    pub items: Vec<InventoryRow>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A location's inventory, paged by SKU.
#[utoipa::path(get, path = "/v1/locations/{id}/inventory", tag = "stock",
    params(("id" = String, Path), InventoryPage),
    responses((status = 200, body = LocationInventory),
        (status = 400, body = super::error::Problem)),
    security(("bearer" = [])))]
pub(super) async fn location_inventory(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<InventoryPage>,
) -> Result<Json<LocationInventory>, ApiError> {
    caller.require(&[Role::Store, Role::Operator, Role::Auditor])?;
    let location_id = parse_location_id(&id, "/path/id")?;
    let limit = page.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("/query/limit", "must be between 1 and 500"));
    }
    app.wait_for_model(STOCK_VIEWS, page.min_position).await?;

    let mut items: Vec<InventoryRow> = sqlx::query_as(
        "select location_id, sku, on_hand, reserved, on_hand - reserved as available, incoming
         from inventory where location_id = $1 and sku > $2 order by sku limit $3",
    )
    .bind(location_id.as_str())
    .bind(page.after.unwrap_or_default())
    .bind(limit + 1)
    .fetch_all(&app.pool)
    .await?;
    let next = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|row| row.sku.clone())
    } else {
        None
    };
    Ok(Json(LocationInventory {
        location_id: location_id.to_string(),
        items,
        next,
    }))
}
