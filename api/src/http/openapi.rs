//! The OpenAPI document, generated from the handlers and types, and a docs
//! page that renders it.

use super::AppState;
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Ordo", description = "Event-sourced order ledger for retail order management"),
    paths(
        super::orders::place_order,
        super::orders::modify_order,
        super::orders::cancel_order,
        super::orders::reroute_order,
        super::orders::pick_order,
        super::orders::ship_order,
        super::orders::deliver_shipment,
        super::orders::return_items,
        super::orders::views::get_order,
        super::orders::views::order_events,
        super::orders::views::customer_orders,
        super::tracking::track,
        super::customers::erase_customer,
        super::locations::put_location,
        super::locations::get_location,
        super::locations::list_locations,
        super::locations::get_policy,
        super::locations::put_policy,
        super::stock::receive,
        super::stock::count,
        super::stock::correct,
        super::stock::schedule_incoming,
        super::stock::sku_inventory,
        super::stock::location_inventory,
        super::exports::get_manifest,
        super::exports::get_file,
        super::exports::acknowledge,
        super::exports::get_reconciliation,
        super::audit::order_history,
        super::audit::order_proof,
        super::audit::list_seals,
        super::health::healthz,
        super::health::readyz,
    ),
    components(schemas(super::error::Problem, super::error::ProblemField)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs))
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// A page that renders `/openapi.json` with Redoc, loaded by the browser.
async fn docs() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html><html><head><title>Ordo API</title><meta charset=\"utf-8\"></head>",
        "<body><redoc spec-url=\"/openapi.json\"></redoc>",
        "<script src=\"https://cdn.redoc.ly/redoc/latest/bundles/redoc.standalone.js\"></script>",
        "</body></html>"
    ))
}
