//! The auditors' resources: an order's history as of any moment, its proof
//! against the seals, and the seals themselves. All of them read the ledger,
//! never a read model.

use super::extract::Consistency;
use super::orders::views::{address_view, LineView, ReturnView, ShipmentView};
use super::{ApiError, AppState};
use crate::auth::{Caller, Role};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use ordo_domain::{Order, OrderId};
use ordo_ledger::seal::{leaf_of, merkle_path, PathStep};
use ordo_ledger::{Envelope, Seal};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/orders/{id}/history", get(order_history))
        .route("/v1/orders/{id}/proof", get(order_proof))
        .route("/v1/audit/seals", get(list_seals))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// RFC 3339; the history includes every commit recorded at or before it.
    pub as_of: Option<String>,
}

/// The order as Ordo knew it at `as_of`, folded from the ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderHistory {
    pub order_id: String,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub as_of: Option<OffsetDateTime>,
    pub version: u64,
    pub status: String,
    #[schema(value_type = Object)]
    pub state: Value,
    pub events: Vec<HistoryEvent>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEvent {
    pub position: u64,
    pub event_id: String,
    pub event_type: String,
    pub schema_version: u32,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: OffsetDateTime,
    pub actor: String,
    /// The event's data, personal values opened (or `"[erased]"`).
    #[schema(value_type = Object)]
    pub data: Value,
}

/// An order's events up to a moment and the state they fold to.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}/history",
    tag = "audit",
    params(("id" = String, Path), AsOf),
    responses((status = 200, body = OrderHistory), (status = 404, body = super::error::Problem)),
    security(("bearer" = []))
)]
pub(super) async fn order_history(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<AsOf>,
) -> Result<Json<OrderHistory>, ApiError> {
    caller.require(&[Role::Auditor, Role::Operator])?;
    let order_id = OrderId::parse(&id).map_err(|e| ApiError::field("/path/id", e.to_string()))?;
    let as_of = query.as_of.as_deref().map(parse_as_of).transpose()?;

    let history = app.orders.history(order_id.as_str(), as_of).await?;
    if history.events.is_empty() && as_of.is_none() {
        return Err(ApiError::NotFound(format!("order {order_id}")));
    }
    Ok(Json(OrderHistory {
        order_id: order_id.to_string(),
        as_of,
        version: history.state.version,
        status: history.state.status().as_str().to_owned(),
        state: state_view(&history.state)?,
        events: history
            .events
            .iter()
            .map(|(p, e)| history_event(*p, e))
            .collect::<Result<_, _>>()?,
    }))
}

fn parse_as_of(raw: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ApiError::field("/query/as_of", "must be an RFC 3339 timestamp"))
}

/// The folded order, in the shape of the tracking view.
pub fn state_view(order: &Order) -> Result<Value, ApiError> {
    let Some(placed) = &order.placed else {
        return Ok(Value::Null);
    };
    let lines: Vec<LineView> = placed.lines.iter().map(LineView::from).collect();
    let shipments: Vec<ShipmentView> = placed.shipments.iter().map(ShipmentView::from).collect();
    let returns: Vec<ReturnView> = placed.returns.iter().map(ReturnView::from).collect();
    Ok(serde_json::json!({
        "customer_id": placed.customer_id,
        "channel": placed.channel,
        "currency": placed.currency,
        "total_minor": placed.total_minor(),
        "lines": lines,
        "shipments": shipments,
        "returns": returns,
        "shipping_address": address_view(&placed.shipping_address)?,
        "cancellation_reason": placed.cancellation_reason,
    }))
}

fn history_event(position: u64, envelope: &Envelope) -> Result<HistoryEvent, ApiError> {
    let data = envelope.data_value().map_err(ApiError::internal)?;
    Ok(HistoryEvent {
        position,
        event_id: envelope.event_id.to_string(),
        event_type: envelope.event_type.clone(),
        schema_version: envelope.schema_version,
        version: envelope.aggregate_version,
        occurred_at: envelope.occurred_at,
        recorded_at: envelope.recorded_at,
        actor: format!("{}:{}", envelope.actor.kind.as_str(), envelope.actor.id),
        data: present(&data),
    })
}

/// Drops the ledger's personal-data tags for people: the opened value, or
/// `"[erased]"` / `"[withheld]"`.
pub fn present(data: &Value) -> Value {
    match data {
        Value::Object(members) if members.len() == 1 => match members.iter().next() {
            Some((tag, value)) if tag == "$personal" => present(value),
            Some((tag, _)) if tag == "$erased" => Value::from("[erased]"),
            Some((tag, _)) if tag == "$withheld" => Value::from("[withheld]"),
            _ => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), present(v)))
                    .collect(),
            ),
        },
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), present(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(present).collect()),
        other => other.clone(),
    }
}

/// One stored event and how it reaches a seal.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvenEvent {
    pub position: u64,
    /// The envelope exactly as stored (personal values sealed).
    #[schema(value_type = Object)]
    pub envelope: Value,
    /// The seal that covers the event; absent until the next seal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal_position: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf_index: Option<usize>,
    /// Sibling hashes from the event's leaf up to the seal's Merkle root.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub path: Option<Vec<PathStep>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PositionedSeal {
    pub position: u64,
    #[schema(value_type = Object)]
    pub seal: Seal,
}

/// What a third party needs to check an order without Ordo.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderProof {
    pub order_id: String,
    pub events: Vec<ProvenEvent>,
    /// Every seal up to the last one used, so the seal chain can be checked.
    pub seals: Vec<PositionedSeal>,
}

/// The order's stored events with Merkle paths to the seals covering them.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}/proof",
    tag = "audit",
    params(("id" = String, Path)),
    responses((status = 200, body = OrderProof), (status = 404, body = super::error::Problem)),
    security(("bearer" = []))
)]
pub(super) async fn order_proof(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<OrderProof>, ApiError> {
    caller.require(&[Role::Auditor, Role::Operator])?;
    let order_id = OrderId::parse(&id).map_err(|e| ApiError::field("/path/id", e.to_string()))?;

    let messages = app
        .ledger
        .raw_subject(&app.orders.subject(order_id.as_str()))
        .await?;
    if messages.is_empty() {
        return Err(ApiError::NotFound(format!("order {order_id}")));
    }
    let seals = app.ledger.seals().await?;
    let mut leaves_of_seal: HashMap<u64, Vec<(u64, [u8; 32])>> = HashMap::new();
    let mut events = Vec::new();
    for message in messages {
        let stored: Value = serde_json::from_slice(&message.payload).map_err(ApiError::internal)?;
        let envelopes = stored
            .get("events")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let seal = seals
            .iter()
            .find(|(_, s)| (s.from_position..=s.to_position).contains(&message.position));
        for envelope in envelopes {
            let proven = match seal {
                Some((seal_position, seal)) => {
                    if !leaves_of_seal.contains_key(seal_position) {
                        let leaves = seal_leaves(&app, seal).await?;
                        leaves_of_seal.insert(*seal_position, leaves);
                    }
                    let leaves = &leaves_of_seal[seal_position];
                    prove(message.position, envelope, *seal_position, leaves)
                }
                None => ProvenEvent {
                    position: message.position,
                    envelope,
                    seal_position: None,
                    leaf_index: None,
                    path: None,
                },
            };
            events.push(proven);
        }
    }
    let last_used = events
        .iter()
        .filter_map(|e| e.seal_position)
        .max()
        .unwrap_or(0);
    let seals = seals
        .into_iter()
        .filter(|(position, _)| *position <= last_used)
        .map(|(position, seal)| PositionedSeal { position, seal })
        .collect();
    Ok(Json(OrderProof {
        order_id: order_id.to_string(),
        events,
        seals,
    }))
}

/// The leaves of a seal: every event hash in its range, in order.
async fn seal_leaves(app: &AppState, seal: &Seal) -> Result<Vec<(u64, [u8; 32])>, ApiError> {
    let messages = app
        .ledger
        .raw_range(seal.from_position, seal.to_position)
        .await?;
    let mut leaves = Vec::new();
    for message in messages {
        let stored: Value = serde_json::from_slice(&message.payload).map_err(ApiError::internal)?;
        let Some(envelopes) = stored.get("events").and_then(Value::as_array) else {
            continue;
        };
        for envelope in envelopes {
            if let Some(leaf) = envelope
                .get("hash")
                .and_then(Value::as_str)
                .and_then(leaf_of)
            {
                leaves.push((message.position, leaf));
            }
        }
    }
    Ok(leaves)
}

fn prove(
    position: u64,
    envelope: Value,
    seal_position: u64,
    leaves: &[(u64, [u8; 32])],
) -> ProvenEvent {
    let leaf = envelope
        .get("hash")
        .and_then(Value::as_str)
        .and_then(leaf_of);
    let index = leaf.and_then(|leaf| {
        leaves
            .iter()
            .position(|(p, l)| *p == position && *l == leaf)
    });
    let all: Vec<[u8; 32]> = leaves.iter().map(|(_, leaf)| *leaf).collect();
    ProvenEvent {
        position,
        envelope,
        seal_position: index.map(|_| seal_position),
        leaf_index: index,
        path: index.map(|i| merkle_path(&all, i)),
    }
}

/// Every seal, oldest first.
#[utoipa::path(
    get,
    path = "/v1/audit/seals",
    tag = "audit",
    params(Consistency),
    responses((status = 200, body = [PositionedSeal])),
    security(("bearer" = []))
)]
pub(super) async fn list_seals(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<PositionedSeal>>, ApiError> {
    caller.require(&[Role::Auditor, Role::Operator])?;
    let seals = app.ledger.seals().await?;
    Ok(Json(
        seals
            .into_iter()
            .map(|(position, seal)| PositionedSeal { position, seal })
            .collect(),
    ))
}
