//! Order queries: the tracking view, the raw event history, and a
//! customer's order index.

use super::super::extract::Consistency;
use super::super::{ApiError, AppState};
use super::{consistent, etag, parse_order_id};
use crate::auth::{Caller, Role};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use ordo_domain::order::{OrderLine, ReturnRecord, RoutingDecision, Shipment};
use ordo_domain::routing::Allocation;
use ordo_domain::{Address, CustomerId, Order, Personal};
use ordo_ledger::Envelope;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// The staff view of one order.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub order_id: String,
    pub customer_id: String,
    pub channel: String,
    pub status: String,
    pub version: u64,
    pub position: u64,
    pub currency: String,
    pub total_minor: i64,
    pub tracking_token: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub placed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    #[schema(value_type = Object)]
    pub shipping_address: serde_json::Value,
    pub lines: Vec<LineView>,
    pub shipments: Vec<ShipmentView>,
    pub returns: Vec<ReturnView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancellation_reason: Option<String>,
    /// Where each line is fulfilled.
    pub allocations: Vec<AllocationView>,
    /// Lines waiting for stock.
    pub backordered: Vec<ItemView>,
    /// Every routing decision: the policy version and the scores behind it.
    pub routing: Vec<RoutingView>,
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllocationView {
    pub location_id: String,
    pub sku: String,
    pub quantity: u32,
}

/// One routing decision, as recorded in `OrderRouted`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoutingView {
    pub policy_version: u64,
    pub plan_score: i64,
    pub allocations: Vec<AllocationView>,
    /// Every candidate's score in points, the excluded ones with the reason.
    #[schema(value_type = Vec<Object>)]
    pub scores: Vec<serde_json::Value>,
}

pub(crate) fn allocations(allocations: &[Allocation]) -> Vec<AllocationView> {
    allocations
        .iter()
        .map(|a| AllocationView {
            location_id: a.location_id.to_string(),
            sku: a.sku.to_string(),
            quantity: a.quantity.get(),
        })
        .collect()
}

fn routing_view(decision: &RoutingDecision) -> Result<RoutingView, ApiError> {
    let scores = decision
        .scores
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()
        .map_err(ApiError::internal)?;
    Ok(RoutingView {
        policy_version: decision.policy_version,
        plan_score: decision.plan_score,
        allocations: allocations(&decision.allocations),
        scores,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineView {
    pub sku: String,
    pub quantity: u32,
    pub unit_price_minor: i64,
    pub line_total_minor: i64,
    pub shipped: u32,
    pub delivered: u32,
    pub returned: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentView {
    pub shipment_id: String,
    pub location_id: String,
    pub carrier: String,
    pub tracking_number: String,
    pub lines: Vec<ItemView>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    pub sku: String,
    pub quantity: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnView {
    pub return_id: String,
    pub lines: Vec<ItemView>,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct TimelineEntry {
    pub version: i64,
    pub event_type: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub summary: String,
}

impl From<&OrderLine> for LineView {
    fn from(line: &OrderLine) -> Self {
        Self {
            sku: line.sku.to_string(),
            quantity: line.quantity,
            unit_price_minor: line.unit_price_minor,
            line_total_minor: line.total_minor(),
            shipped: line.shipped,
            delivered: line.delivered,
            returned: line.returned,
        }
    }
}

impl From<&Shipment> for ShipmentView {
    fn from(shipment: &Shipment) -> Self {
        Self {
            shipment_id: shipment.shipment_id.to_string(),
            location_id: shipment.location_id.to_string(),
            carrier: shipment.carrier.clone(),
            tracking_number: shipment.tracking_number.clone(),
            lines: items(&shipment.lines),
            delivered_at: shipment.delivered_at,
        }
    }
}

impl From<&ReturnRecord> for ReturnView {
    fn from(record: &ReturnRecord) -> Self {
        Self {
            return_id: record.return_id.to_string(),
            lines: items(&record.lines),
            reason: record.reason.clone(),
        }
    }
}

pub(crate) fn items(lines: &[ordo_domain::order::ItemLine]) -> Vec<ItemView> {
    lines
        .iter()
        .map(|l| ItemView {
            sku: l.sku.to_string(),
            quantity: l.quantity.get(),
        })
        .collect()
}

/// The address as staff see it: every field `"[erased]"` once the customer
/// was erased.
pub fn address_view(address: &Personal<Address>) -> Result<serde_json::Value, ApiError> {
    match address {
        Personal::Known(address) => serde_json::to_value(address).map_err(ApiError::internal),
        Personal::Erased => Ok(every_field(ERASED)),
        Personal::Withheld => Ok(every_field("[withheld]")),
    }
}

fn every_field(mark: &str) -> serde_json::Value {
    let fields = [
        "name",
        "line1",
        "line2",
        "postal_code",
        "city",
        "country",
        "email",
        "phone",
    ];
    serde_json::Value::Object(
        fields
            .iter()
            .map(|f| (f.to_string(), mark.into()))
            .collect(),
    )
}

/// What erased personal fields read as.
pub const ERASED: &str = "[erased]";

#[derive(sqlx::FromRow)]
struct TrackingRow {
    position: i64,
    updated_at: OffsetDateTime,
    state: serde_json::Value,
}

/// Loads the projected order and its timeline, or `None` if not projected.
pub(crate) async fn load_tracked(
    app: &AppState,
    column: &str,
    key: &str,
) -> Result<Option<(Order, u64, OffsetDateTime, Vec<TimelineEntry>)>, ApiError> {
    // `column` is one of two fixed names chosen by our code, never input.
    let sql = format!("select position, updated_at, state from order_tracking where {column} = $1");
    let Some(row) = sqlx::query_as::<_, TrackingRow>(&sql)
        .bind(key)
        .fetch_optional(&app.pool)
        .await?
    else {
        return Ok(None);
    };
    let order: Order = serde_json::from_value(row.state).map_err(ApiError::internal)?;
    let order_id = order
        .placed
        .as_ref()
        .map(|p| p.order_id.to_string())
        .unwrap_or_default();
    // The timeline is stored in segments of consecutive versions (see the
    // migration that introduced them); each array element is one entry.
    let timeline = sqlx::query_as::<_, TimelineEntry>(
        "select t.first_version + e.n - 1 as version, e.event_type, e.at, e.summary
         from order_timeline t,
             unnest(t.event_types, t.recorded_at, t.summaries)
                 with ordinality as e(event_type, at, summary, n)
         where t.order_id = $1
         order by version",
    )
    .bind(&order_id)
    .fetch_all(&app.pool)
    .await?;
    Ok(Some((order, row.position as u64, row.updated_at, timeline)))
}

/// The tracking view of one order, as far as the read model has got.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}",
    tag = "orders",
    params(("id" = String, Path), Consistency),
    responses((status = 200, body = OrderView), (status = 404, body = super::super::error::Problem),
        (status = 503, body = super::super::error::Problem)),
    security(("bearer" = []))
)]
pub(crate) async fn get_order(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Query<Consistency>,
) -> Result<(HeaderMap, Json<OrderView>), ApiError> {
    caller.require(&[Role::Channel, Role::Store, Role::Operator, Role::Auditor])?;
    let order_id = parse_order_id(&id)?;
    consistent(&app, &query).await?;

    let tracked = load_tracked(&app, "order_id", order_id.as_str()).await?;
    let Some((order, position, updated_at, timeline)) = tracked else {
        return Err(ApiError::NotFound(format!("order {order_id}")));
    };
    let Some(placed) = &order.placed else {
        return Err(ApiError::NotFound(format!("order {order_id}")));
    };
    let view = OrderView {
        order_id: placed.order_id.to_string(),
        customer_id: placed.customer_id.to_string(),
        channel: placed.channel.to_string(),
        status: order.status().as_str().to_owned(),
        version: order.version,
        position,
        currency: placed.currency.code().to_owned(),
        total_minor: placed.total_minor(),
        tracking_token: placed.tracking_token.clone(),
        placed_at: placed.placed_at,
        updated_at,
        shipping_address: address_view(&placed.shipping_address)?,
        lines: placed.lines.iter().map(LineView::from).collect(),
        shipments: placed.shipments.iter().map(ShipmentView::from).collect(),
        returns: placed.returns.iter().map(ReturnView::from).collect(),
        cancellation_reason: placed.cancellation_reason.clone(),
        allocations: allocations(&placed.allocations),
        backordered: items(&placed.backordered),
        routing: placed
            .routing
            .iter()
            .map(routing_view)
            .collect::<Result<_, _>>()?,
        timeline,
    };
    Ok((etag(order.version), Json(view)))
}

/// Every stored event of one order, oldest first, read from the ledger
/// itself (not from a read model) with hashes verified.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}/events",
    tag = "audit",
    params(("id" = String, Path)),
    responses((status = 200, body = [Object]), (status = 404, body = super::super::error::Problem)),
    security(("bearer" = []))
)]
pub(crate) async fn order_events(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<EventView>>, ApiError> {
    caller.require(&[Role::Auditor, Role::Operator])?;
    let order_id = parse_order_id(&id)?;

    let subject = app.orders.subject(order_id.as_str());
    let commits = app.ledger.read_subject(&subject).await?;
    if commits.is_empty() {
        return Err(ApiError::NotFound(format!("order {order_id}")));
    }
    let events = commits
        .into_iter()
        .flat_map(|commit| {
            let position = commit.position;
            commit
                .envelopes
                .into_iter()
                .map(move |envelope| EventView { position, envelope })
        })
        .collect();
    Ok(Json(events))
}

/// One stored event and the position of the commit that holds it.
#[derive(Debug, Serialize)]
pub struct EventView {
    pub position: u64,
    #[serde(flatten)]
    pub envelope: Envelope,
}

/// `?cursor=&limit=` of the customer's order index.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<i64>,
    pub min_position: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerOrders {
    pub orders: Vec<CustomerOrderEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct CustomerOrderEntry {
    pub order_id: String,
    pub status: String,
    pub currency: String,
    pub total_minor: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub placed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// A customer's orders, newest first.
#[utoipa::path(
    get,
    path = "/v1/customers/{id}/orders",
    tag = "orders",
    params(("id" = String, Path), Page),
    responses(
        (status = 200, body = CustomerOrders),
        (status = 400, body = super::super::error::Problem)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn customer_orders(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<CustomerOrders>, ApiError> {
    caller.require(&[Role::Channel, Role::Operator])?;
    let customer_id =
        CustomerId::parse(&id).map_err(|e| ApiError::field("/path/id", e.to_string()))?;
    let limit = page.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("/query/limit", "must be between 1 and 100"));
    }
    let after = page.cursor.as_deref().map(decode_cursor).transpose()?;
    app.wait_for(page.min_position).await?;

    let (after_at, after_id) = after.unwrap_or((
        OffsetDateTime::now_utc() + time::Duration::days(36_500),
        String::new(),
    ));
    let mut orders = sqlx::query_as::<_, CustomerOrderEntry>(
        "select order_id, status, currency, total_minor, placed_at, updated_at
         from order_tracking
         where customer_id = $1 and (placed_at, order_id) < ($2, $3)
         order by placed_at desc, order_id desc
         limit $4",
    )
    .bind(customer_id.as_str())
    .bind(after_at)
    .bind(&after_id)
    .bind(limit + 1)
    .fetch_all(&app.pool)
    .await?;
    let next_cursor = if orders.len() as i64 > limit {
        orders.truncate(limit as usize);
        orders
            .last()
            .map(|last| encode_cursor(last.placed_at, &last.order_id))
    } else {
        None
    };
    Ok(Json(CustomerOrders {
        orders,
        next_cursor,
    }))
}

/// Cursors are opaque to clients: hex of `<placed_at unix nanos>|<order_id>`.
fn encode_cursor(placed_at: OffsetDateTime, order_id: &str) -> String {
    hex::encode(format!("{}|{order_id}", placed_at.unix_timestamp_nanos()))
}

fn decode_cursor(raw: &str) -> Result<(OffsetDateTime, String), ApiError> {
    let invalid = || ApiError::field("/query/cursor", "is not a cursor this API returned");
    let bytes = hex::decode(raw).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (nanos, order_id) = text.split_once('|').ok_or_else(invalid)?;
    let nanos: i128 = nanos.parse().map_err(|_| invalid())?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| invalid())?;
    Ok((at, order_id.to_owned()))
}
