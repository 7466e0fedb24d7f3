//! Liveness and readiness.

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<String>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub(super) async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        failing: Vec::new(),
    })
}

/// NATS and PostgreSQL are reachable and every migration is applied.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses((status = 200, body = Health), (status = 503, body = Health))
)]
pub(super) async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Health>) {
    let mut failing = Vec::new();
    if app.ledger.client().connection_state() != async_nats::connection::State::Connected {
        failing.push("nats: not connected".to_owned());
    } else if let Err(error) = app.ledger.last_position().await {
        failing.push(format!("nats: {error}"));
    }
    match applied_migrations(&app).await {
        Ok(applied) => {
            let expected = ordo_projections::MIGRATOR.iter().count() as i64;
            if applied < expected {
                failing.push(format!(
                    "postgres: {applied} of {expected} migrations applied"
                ));
            }
        }
        Err(error) => failing.push(format!("postgres: {error}")),
    }
    if failing.is_empty() {
        (
            StatusCode::OK,
            Json(Health {
                status: "ready",
                failing,
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "not ready",
                failing,
            }),
        )
    }
}

async fn applied_migrations(app: &AppState) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(&app.pool)
        .await
}
