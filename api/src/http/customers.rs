//! Customers: the right to erasure (GDPR Art. 17).
//!
//! Erasure destroys the customer's data key first, then records the erasure
//! as an event, then waits until the read models have redacted the customer.
//! That order means a failure at any step is repaired by simply repeating the
//! request: the key's purge marker remembers that the customer existed.

use super::extract::{CommandHeaders, JsonBody};
use super::{ApiError, AppState};
use crate::auth::{Caller, Role};
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use ordo_domain::customer::{decide_customer, EraseCustomer};
use ordo_domain::field::parse_text;
use ordo_domain::CustomerId;
use ordo_ledger::{CommandContext, KeyStatus};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/customers/{id}/erasure", post(erase_customer))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    /// Why, for the auditors: e.g. the ticket of the customer's request.
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureResponse {
    pub customer_id: String,
    pub erased: bool,
    /// Position of the erasure record in the stream.
    pub position: u64,
}

/// Erase a customer's personal data everywhere; idempotent.
#[utoipa::path(
    post,
    path = "/v1/customers/{id}/erasure",
    tag = "customers",
    request_body = ErasureRequest,
    params(("id" = String, Path)),
    responses(
        (status = 200, body = ErasureResponse),
        (status = 404, body = super::error::Problem),
        (status = 503, body = super::error::Problem)
    ),
    security(("bearer" = []))
)]
pub(super) async fn erase_customer(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<ErasureRequest>,
) -> Result<Json<ErasureResponse>, ApiError> {
    caller.require(&[Role::Operator])?;
    let customer_id =
        CustomerId::parse(&id).map_err(|e| ApiError::field("/path/id", e.to_string()))?;
    let reason = parse_text(&body.value.reason, 500)
        .map_err(|e| ApiError::field("/reason", e.to_string()))?;

    let keys = app.ledger.keys()?;
    let key_id = match keys.status(customer_id.as_str()).await? {
        KeyStatus::Active { key_id } => {
            keys.erase(customer_id.as_str()).await?;
            Some(key_id)
        }
        KeyStatus::Erased => None,
        KeyStatus::Unknown => return Err(ApiError::NotFound(format!("customer {customer_id}"))),
    };
    let position = record(&app, &caller, &headers, &customer_id, reason, key_id).await?;

    app.wait_for(Some(position)).await?;
    Ok(Json(ErasureResponse {
        customer_id: customer_id.to_string(),
        erased: true,
        position,
    }))
}

/// Appends the erasure record unless it is there already; returns its position.
async fn record(
    app: &AppState,
    caller: &Caller,
    headers: &CommandHeaders,
    customer_id: &CustomerId,
    reason: String,
    key_id: Option<String>,
) -> Result<u64, ApiError> {
    let now = OffsetDateTime::now_utc();
    let context = CommandContext {
        actor: caller.actor(),
        now,
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        idempotency_key: None,
        request_digest: None,
        expected_version: headers.if_match,
        step: None,
    };
    let command = EraseCustomer {
        customer_id: customer_id.clone(),
        reason,
        key_id,
    };
    let executed = app
        .customers
        .execute(customer_id.as_str(), &context, |customer| {
            decide_customer(customer, command.clone())
        })
        .await?;
    Ok(executed.position())
}
