//! The HTTP API under `/v1`: shared state, the router, and middleware.
//!
//! Each resource module exposes a `router()`; this module merges them and adds
//! tracing, request ids, and the logging of 5xx causes.

pub mod audit;
pub mod customers;
pub mod error;
pub mod exports;
pub mod extract;
pub mod health;
pub mod locations;
pub mod openapi;
pub mod orders;
pub mod stock;
pub mod tracking;

pub use error::ApiError;

use crate::auth::{Caller, Tokens};
use axum::extract::Request;
use axum::http::HeaderName;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use extract::CommandHeaders;
use ordo_domain::erp::ErpDay;
use ordo_domain::routing::RoutingPolicyState;
use ordo_domain::{Customer, Location, Order, Stock};
use ordo_ledger::{CommandContext, Ledger, Repository};
use ordo_projections::ErpExport;
use sqlx::PgPool;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// How long a query waits for `min_position` before answering 503.
pub const MAX_CONSISTENCY_WAIT: Duration = Duration::from_secs(5);

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub ledger: Ledger,
    pub orders: Repository<Order>,
    pub pool: PgPool,
    pub tokens: Tokens,
    pub customers: Repository<Customer>,
    pub locations: Repository<Location>,
    pub stock: Repository<Stock>,
    pub policy: Repository<RoutingPolicyState>,
    pub erp_days: Repository<ErpDay>,
    /// The business time zone of the ERP export.
    pub erp: ErpExport,
    /// Keys request digests, so a stored digest reveals nothing about the
    /// (personal) content of a request.
    pub digest_secret: [u8; 32],
}

impl AppState {
    pub fn new(
        ledger: Ledger,
        pool: PgPool,
        tokens: Tokens,
        digest_secret: [u8; 32],
        erp: ErpExport,
    ) -> Self {
        Self(Arc::new(AppInner {
            orders: Repository::new(ledger.clone()),
            customers: Repository::new(ledger.clone()),
            locations: Repository::new(ledger.clone()),
            stock: Repository::new(ledger.clone()),
            policy: Repository::new(ledger.clone()),
            erp_days: Repository::new(ledger.clone()),
            erp,
            ledger,
            pool,
            tokens,
            digest_secret,
        }))
    }

    /// Waits until the order read models have applied `position`.
    pub async fn wait_for(&self, position: Option<u64>) -> Result<(), ApiError> {
        self.wait_for_model(ordo_projections::ORDER_VIEWS, position)
            .await
    }

    /// Waits until the read model kept by `projector` has applied `position`.
    pub async fn wait_for_model(
        &self,
        projector: &str,
        position: Option<u64>,
    ) -> Result<(), ApiError> {
        let Some(position) = position else {
            return Ok(());
        };
        let reached = ordo_projections::wait_for_position(
            &self.pool,
            projector,
            position,
            MAX_CONSISTENCY_WAIT,
        )
        .await?;
        if reached {
            Ok(())
        } else {
            Err(ApiError::NotYetProjected { position })
        }
    }
}

/// The context of a command `caller` sends: its idempotency key scoped by
/// caller (two channels may pick the same key), the request's digest and
/// the `If-Match` version.
pub(crate) fn command_context(
    caller: &Caller,
    headers: &CommandHeaders,
    digest: Option<String>,
) -> CommandContext {
    let mut context = CommandContext::new(caller.actor(), OffsetDateTime::now_utc());
    context.idempotency_key = headers
        .idempotency_key
        .as_ref()
        .map(|key| format!("{}/{key}", caller.id));
    context.request_digest = digest;
    context.expected_version = headers.if_match;
    context
}

impl Deref for AppState {
    type Target = AppInner;

    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(orders::router())
        .merge(customers::router())
        .merge(locations::router())
        .merge(stock::router())
        .merge(exports::router())
        .merge(audit::router())
        .merge(tracking::router())
        .merge(health::router())
        .merge(openapi::router())
        .layer(middleware::from_fn(log_failures))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let route = request
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map_or("unmatched", |p| p.as_str())
                    .to_owned();
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                tracing::info_span!("request", method = %request.method(), route, request_id = id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Logs the cause of every 5xx once, inside the request span, and keeps
/// it out of the response body.
async fn log_failures(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(chain) = response.extensions().get::<error::ErrorChain>() {
        if response.status().as_u16() == 503 {
            tracing::warn!(status = response.status().as_u16(), error = %chain.0, "request failed");
        } else {
            let status = response.status().as_u16();
            tracing::error!(status, error = %chain.0, "request failed");
        }
    }
    response
}
