//! The order resource: commands that append to the ledger, and the tracking
//! view read from PostgreSQL.
//!
//! Every command handler reads the same way: authorise, parse, execute
//! against the ledger (load, decide, append with retries), respond with the
//! new version and the stream position of the commit.

pub mod requests;
pub mod views;

use super::extract::{CommandHeaders, Consistency, JsonBody};
use super::{ApiError, AppState};
use crate::auth::{Caller, Role};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use ordo_domain::order::ReleaseRouting;
use ordo_domain::{decide, FieldErrors, OrderCommand, OrderId, OrderStatus};
use ordo_ledger::Executed;
use requests::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::Instrument;
use utoipa::ToSchema;
use uuid::Uuid;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/orders", post(place_order))
        .route("/v1/orders/{id}", get(views::get_order).patch(modify_order))
        .route("/v1/orders/{id}/cancel", post(cancel_order))
        .route("/v1/orders/{id}/reroute", post(reroute_order))
        .route("/v1/orders/{id}/pick", post(pick_order))
        .route("/v1/orders/{id}/shipments", post(ship_order))
        .route("/v1/orders/{id}/deliveries", post(deliver_shipment))
        .route("/v1/orders/{id}/returns", post(return_items))
        .route("/v1/orders/{id}/events", get(views::order_events))
        .route("/v1/customers/{id}/orders", get(views::customer_orders))
}

/// The answer to `POST /v1/orders`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPlacedResponse {
    pub order_id: String,
    pub version: u64,
    /// Stream position of the commit; pass it as `min_position` to read your write.
    pub position: u64,
    /// The customer's key to `GET /v1/track/{tracking_token}`.
    pub tracking_token: String,
    pub status: String,
}

/// The answer to every other order command.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderChangedResponse {
    pub order_id: String,
    pub version: u64,
    pub position: u64,
    pub status: String,
}

/// What the ledger answered, in the terms a response needs.
struct Outcome {
    version: u64,
    position: u64,
    status: OrderStatus,
    tracking_token: Option<String>,
}

/// Runs one order command against the ledger.
async fn execute(
    app: &AppState,
    caller: &Caller,
    headers: &CommandHeaders,
    digest: String,
    order_id: &OrderId,
    command: OrderCommand,
) -> Result<Outcome, ApiError> {
    let context = super::command_context(caller, headers, Some(digest));
    let now = context.now;
    let span = tracing::info_span!(
        "command",
        order_id = %order_id,
        command = command.name(),
        correlation_id = %context.correlation_id
    );
    let executed = app
        .orders
        .execute(order_id.as_str(), &context, |order| {
            decide(order, command.clone(), now)
        })
        .instrument(span)
        .await?;
    Ok(match executed {
        Executed::Appended {
            state, position, ..
        }
        | Executed::Unchanged { state, position } => Outcome {
            version: state.version,
            position,
            status: state.status(),
            tracking_token: state.placed.map(|p| p.tracking_token),
        },
        Executed::Replayed(record) => Outcome {
            version: record.version,
            position: record.position,
            status: record.receipt.status,
            tracking_token: record.receipt.tracking_token,
        },
    })
}

fn etag(version: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{version}\"")) {
        headers.insert(header::ETAG, value);
    }
    headers
}

/// The answer to every order command but placement.
type Changed = (StatusCode, HeaderMap, Json<OrderChangedResponse>);

/// Everything a command on an existing order arrives with: the caller, the
/// order id from the path, the command headers and the JSON body.
pub(super) struct ChangeRequest<T> {
    caller: Caller,
    id: String,
    headers: CommandHeaders,
    body: JsonBody<T>,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for ChangeRequest<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = request.into_parts();
        let caller = Caller::from_request_parts(&mut parts, state).await?;
        let Path(id) = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map_err(|_| ApiError::field("/path/id", "is missing"))?;
        let headers = CommandHeaders::from_request_parts(&mut parts, state).await?;
        let body = JsonBody::from_request(Request::from_parts(parts, body), state).await?;
        Ok(Self {
            caller,
            id,
            headers,
            body,
        })
    }
}

impl<T> ChangeRequest<T> {
    /// The recipe shared by the commands on an existing order: authorise,
    /// parse the id and the body, execute, answer with the new version and
    /// position.
    async fn run(
        self,
        app: &AppState,
        roles: &[Role],
        parse: impl FnOnce(T) -> Result<OrderCommand, FieldErrors>,
    ) -> Result<Changed, ApiError> {
        self.caller.require(roles)?;
        let order_id = parse_order_id(&self.id)?;
        let command = parse(self.body.value).map_err(|e| ApiError::Validation(e.into_vec()))?;

        let digest = self.body.digest;
        let outcome = execute(app, &self.caller, &self.headers, digest, &order_id, command).await?;

        Ok(changed(&order_id, outcome))
    }
}

fn changed(order_id: &OrderId, outcome: Outcome) -> Changed {
    let body = OrderChangedResponse {
        order_id: order_id.to_string(),
        version: outcome.version,
        position: outcome.position,
        status: outcome.status.as_str().to_owned(),
    };
    (StatusCode::OK, etag(outcome.version), Json(body))
}

fn parse_order_id(raw: &str) -> Result<OrderId, ApiError> {
    OrderId::parse(raw).map_err(|e| ApiError::field("/path/id", e.to_string()))
}

/// The order id of a new order: the client's, or one derived from the
/// caller's idempotency key (so a retried placement finds the same order),
/// or a fresh one.
fn new_order_id(
    requested: Option<&str>,
    caller: &Caller,
    headers: &CommandHeaders,
) -> Result<OrderId, ApiError> {
    let raw = match (requested, &headers.idempotency_key) {
        (Some(requested), _) => {
            return OrderId::parse(requested)
                .map_err(|e| ApiError::field("/order_id", e.to_string()))
        }
        (None, Some(key)) => {
            let digest = Sha256::digest(format!("{}/{key}", caller.id).as_bytes());
            format!("o-{}", &hex::encode(digest)[..32])
        }
        (None, None) => format!("o-{}", Uuid::now_v7().simple()),
    };
    OrderId::parse(&raw).map_err(ApiError::internal)
}

/// 128 random bits, URL-safe: the customer's tracking key.
fn new_tracking_token() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// Place an order.
#[utoipa::path(
    post,
    path = "/v1/orders",
    tag = "orders",
    request_body = PlaceOrderRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key"),
    ),
    responses(
        (status = 201, body = OrderPlacedResponse),
        (status = 400, body = super::error::Problem),
        (status = 409, body = super::error::Problem),
        (status = 422, body = super::error::Problem),
    ),
    security(("bearer" = []))
)]
pub(super) async fn place_order(
    State(app): State<AppState>,
    caller: Caller,
    headers: CommandHeaders,
    body: JsonBody<PlaceOrderRequest>,
) -> Result<(StatusCode, HeaderMap, Json<OrderPlacedResponse>), ApiError> {
    caller.require(&[Role::Channel])?;
    let order_id = new_order_id(body.value.order_id.as_deref(), &caller, &headers)?;
    let command = body
        .value
        .parse(order_id.clone(), new_tracking_token())
        .map_err(|e| ApiError::Validation(e.into_vec()))?;

    let outcome = execute(
        &app,
        &caller,
        &headers,
        body.digest,
        &order_id,
        OrderCommand::Place(command),
    )
    .await?;

    let mut response_headers = etag(outcome.version);
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/orders/{order_id}")) {
        response_headers.insert(header::LOCATION, location);
    }
    let body = OrderPlacedResponse {
        order_id: order_id.to_string(),
        version: outcome.version,
        position: outcome.position,
        tracking_token: outcome.tracking_token.unwrap_or_default(),
        status: outcome.status.as_str().to_owned(),
    };
    Ok((StatusCode::CREATED, response_headers, Json(body)))
}

/// Replace an order's lines and/or shipping address (until it is picked).
#[utoipa::path(
    patch,
    path = "/v1/orders/{id}",
    tag = "orders",
    request_body = ModifyOrderRequest,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses(
        (status = 200, body = OrderChangedResponse),
        (status = 409, body = super::error::Problem),
        (status = 412, body = super::error::Problem)
    ),
    security(("bearer" = []))
)]
pub(super) async fn modify_order(
    State(app): State<AppState>,
    request: ChangeRequest<ModifyOrderRequest>,
) -> Result<Changed, ApiError> {
    request
        .run(&app, &[Role::Channel, Role::Operator], |body| {
            body.parse().map(OrderCommand::Modify)
        })
        .await
}

/// Cancel an order (until its first parcel ships).
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/cancel",
    tag = "orders",
    request_body = CancelOrderRequest,
    params(("id" = String, Path)),
    responses(
        (status = 200, body = OrderChangedResponse),
        (status = 409, body = super::error::Problem)
    ),
    security(("bearer" = []))
)]
pub(super) async fn cancel_order(
    State(app): State<AppState>,
    request: ChangeRequest<CancelOrderRequest>,
) -> Result<Changed, ApiError> {
    request
        .run(&app, &[Role::Channel, Role::Operator], |body| {
            body.parse().map(OrderCommand::Cancel)
        })
        .await
}

/// Give up the order's allocations and route it again (before it is
/// picked). The body is a reason, as for cancelling.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/reroute",
    tag = "orders",
    request_body = CancelOrderRequest,
    params(("id" = String, Path)),
    responses(
        (status = 200, body = OrderChangedResponse),
        (status = 409, body = super::error::Problem)
    ),
    security(("bearer" = []))
)]
pub(super) async fn reroute_order(
    State(app): State<AppState>,
    request: ChangeRequest<CancelOrderRequest>,
) -> Result<Changed, ApiError> {
    request
        .run(&app, &[Role::Operator], |body| {
            body.parse()
                .map(|c| OrderCommand::Release(ReleaseRouting { reason: c.reason }))
        })
        .await
}

/// Report that the goods were picked; lines and address are fixed from now on.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/pick",
    tag = "fulfilment",
    request_body = PickOrderRequest,
    params(("id" = String, Path)),
    responses(
        (status = 200, body = OrderChangedResponse),
        (status = 409, body = super::error::Problem)
    ),
    security(("bearer" = []))
)]
pub(super) async fn pick_order(
    State(app): State<AppState>,
    request: ChangeRequest<PickOrderRequest>,
) -> Result<Changed, ApiError> {
    request
        .run(&app, &[Role::Store], |body| {
            body.parse().map(OrderCommand::Pick)
        })
        .await
}

/// Report a parcel that left a location.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/shipments",
    tag = "fulfilment",
    request_body = ShipmentRequest,
    params(("id" = String, Path)),
    responses(
        (status = 200, body = OrderChangedResponse),
        (status = 409, body = super::error::Problem)
    ),
    security(("bearer" = []))
)]
pub(super) async fn ship_order(
    State(app): State<AppState>,
    request: ChangeRequest<ShipmentRequest>,
) -> Result<Changed, ApiError> {
    request
        .run(&app, &[Role::Store], |body| {
            body.parse().map(OrderCommand::Ship)
        })
        .await
}

/// Report a delivered parcel.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/deliveries",
    tag = "fulfilment",
    request_body = DeliveryRequest,
    params(("id" = String, Path)),
    responses(
        (status = 200, body = OrderChangedResponse),
        (status = 409, body = super::error::Problem)
    ),
    security(("bearer" = []))
)]
pub(super) async fn deliver_shipment(
    State(app): State<AppState>,
    request: ChangeRequest<DeliveryRequest>,
) -> Result<Changed, ApiError> {
    request
        .run(&app, &[Role::Store], |body| {
            body.parse().map(OrderCommand::Deliver)
        })
        .await
}

/// Report returned goods (per line, partial quantities allowed).
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/returns",
    tag = "fulfilment",
    request_body = ReturnRequest,
    params(("id" = String, Path)),
    responses(
        (status = 200, body = OrderChangedResponse),
        (status = 409, body = super::error::Problem)
    ),
    security(("bearer" = []))
)]
pub(super) async fn return_items(
    State(app): State<AppState>,
    request: ChangeRequest<ReturnRequest>,
) -> Result<Changed, ApiError> {
    request
        .run(&app, &[Role::Store], |body| {
            body.parse().map(OrderCommand::Return)
        })
        .await
}

/// Shared by the query handlers: `?min_position` first, then the query.
pub(super) async fn consistent(app: &AppState, query: &Query<Consistency>) -> Result<(), ApiError> {
    app.wait_for(query.min_position).await
}
