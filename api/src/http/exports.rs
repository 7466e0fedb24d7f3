//! The ERP export over HTTP: the manifest of a business day (producing the
//! export closes the day), its file, the ERP's acknowledgement and the
//! reconciliation report.

use super::extract::{CommandHeaders, JsonBody};
use super::{ApiError, AppState};
use crate::auth::{Caller, Role};
use crate::export::{self, DayError, Format};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures::StreamExt;
use ordo_domain::erp::{
    reconcile, Acknowledgement, BookedRecord, ErpDayEvent, ExportedRecord, Reconciliation,
    RecordType, Total,
};
use ordo_domain::{Currency, FieldErrors};
use ordo_projections::ERP_EXPORT;
use serde::Deserialize;
use std::convert::Infallible;
use time::OffsetDateTime;
use tokio::io::AsyncReadExt;
use utoipa::ToSchema;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/exports/erp/{date}", get(get_manifest))
        .route(
            "/v1/exports/erp/{date}/reconciliation",
            get(get_reconciliation),
        )
        .route("/v1/exports/erp/{date}/acknowledgement", post(acknowledge))
        .route("/v1/exports/erp/{date}/{file}", get(get_file))
}

const ROLES: &[Role] = &[Role::Erp, Role::Operator];

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `csv` (default) or `jsonl`.
    pub format: Option<Format>,
}

fn parse_day(app: &AppState, raw: &str) -> Result<time::Date, ApiError> {
    export::parse_day(raw, &app.erp).map_err(|e| match e {
        DayError::Malformed | DayError::NotBegun(_) => ApiError::field("/path/date", e.to_string()),
    })
}

/// A day that was exported, or 404.
async fn exported_day(app: &AppState, day: time::Date) -> Result<export::ClosedDay, ApiError> {
    export::closed_day(&app.pool, day)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("an ERP export of {day}")))
}

/// Produce (closing the day, once) and describe the export of a business day.
#[utoipa::path(get, path = "/v1/exports/erp/{date}", tag = "erp",
    params(("date" = String, Path, description = "YYYY-MM-DD"), FormatQuery),
    responses((status = 200, description = "the manifest"),
        (status = 400, body = super::error::Problem)),
    security(("bearer" = [])))]
pub(super) async fn get_manifest(
    State(app): State<AppState>,
    caller: Caller,
    Path(date): Path<String>,
    Query(query): Query<FormatQuery>,
) -> Result<Json<export::Manifest>, ApiError> {
    caller.require(ROLES)?;
    let day = parse_day(&app, &date)?;
    let format = query.format.unwrap_or(Format::Csv);

    let position = export::close(&app.erp_days, day, &app.erp, caller.actor()).await?;
    app.wait_for_model(ERP_EXPORT, Some(position)).await?;
    let closed = exported_day(&app, day).await?;
    let summary = export::write_file(&app.pool, day, format, &mut tokio::io::sink())
        .await
        .map_err(|e| ApiError::internal(std::io::Error::other(format!("{e:#}"))))?;
    Ok(Json(export::manifest(day, &closed, summary)))
}

/// Download an export file, streamed.
#[utoipa::path(get, path = "/v1/exports/erp/{date}/{file}", tag = "erp",
    params(("date" = String, Path),
        ("file" = String, Path, description = "as named in the manifest")),
    responses((status = 200, description = "the file"),
        (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub(super) async fn get_file(
    State(app): State<AppState>,
    caller: Caller,
    Path((date, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(ROLES)?;
    let day = parse_day(&app, &date)?;
    let format = [Format::Csv, Format::Jsonl]
        .into_iter()
        .find(|f| export::file_name(day, *f) == file)
        .ok_or_else(|| ApiError::NotFound(format!("export file {file}")))?;
    exported_day(&app, day).await?;

    // The file is written into one end of a pipe and streamed from the
    // other; a failure midway breaks the response instead of ending it as
    // if the file were complete.
    let (reader, mut writer) = tokio::io::duplex(64 * 1024);
    let (done, outcome) = tokio::sync::oneshot::channel();
    let pool = app.pool.clone();
    tokio::spawn(async move {
        let written = export::write_file(&pool, day, format, &mut writer).await;
        drop(writer);
        let _ = done.send(written.map(|_| ()));
    });
    let chunks = futures::stream::unfold((reader, Some(outcome)), next_chunk);
    let mut response = Body::from_stream(chunks.boxed()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    Ok(response)
}

/// The reading end of an export pipe, and the writer's outcome until seen.
type Pipe = (
    tokio::io::DuplexStream,
    Option<tokio::sync::oneshot::Receiver<anyhow::Result<()>>>,
);

/// The next chunk of the file; at its end, an error if the writer failed.
async fn next_chunk((mut reader, outcome): Pipe) -> Option<(std::io::Result<Bytes>, Pipe)> {
    let mut chunk = vec![0; 64 * 1024];
    match reader.read(&mut chunk).await {
        Ok(0) => match outcome?.await {
            Ok(Ok(())) => None,
            Ok(Err(error)) => {
                let error = format!("{error:#}");
                tracing::error!(error, "export file failed midway");
                Some((Err(std::io::Error::other(error)), (reader, None)))
            }
            Err(_) => {
                let error = std::io::Error::other("export task ended");
                Some((Err(error), (reader, None)))
            }
        },
        Ok(n) => {
            chunk.truncate(n);
            Some((Ok(Bytes::from(chunk)), (reader, outcome)))
        }
        Err(error) => Some((Err(error), (reader, None))),
    }
}

/// The ERP's totals for one currency and record type.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotalRequest {
    pub currency: String,
    pub record_type: String,
    pub count: i64,
    pub amount_minor: i64,
    pub quantity: i64,
}

/// One record as the ERP booked it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookedRequest {
    pub event_id: String,
    pub amount_minor: i64,
    pub quantity: i64,
}

/// What the ERP booked of a day's export.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgementRequest {
    /// One entry per currency and record type booked (corrections included).
    pub totals: Vec<TotalRequest>,
    /// Optionally every record booked, to compare record by record.
    pub records: Option<Vec<BookedRequest>>,
}

impl AcknowledgementRequest {
    fn parse(self) -> Result<Acknowledgement, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut totals = Vec::with_capacity(self.totals.len());
        for (i, total) in self.totals.into_iter().enumerate() {
            let currency = errors.check(
                &format!("/totals/{i}/currency"),
                Currency::parse(&total.currency),
            );
            let record_type = RecordType::parse(&total.record_type);
            if record_type.is_none() {
                errors.push(
                    format!("/totals/{i}/record_type"),
                    "is not a known record type",
                );
            }
            let count = u64::try_from(total.count).ok();
            if count.is_none() {
                errors.push(format!("/totals/{i}/count"), "must be 0 or more");
            }
            if let (Some(currency), Some(record_type), Some(count)) = (currency, record_type, count)
            {
                totals.push(Total {
                    currency: currency.code().to_owned(),
                    record_type,
                    count,
                    amount_minor: total.amount_minor,
                    quantity: total.quantity,
                });
            }
        }
        let records = self.records.map(|records| {
            records
                .into_iter()
                .map(|r| BookedRecord {
                    event_id: r.event_id,
                    amount_minor: r.amount_minor,
                    quantity: r.quantity,
                })
                .collect()
        });
        errors.finish(Some(Acknowledgement { totals, records }))
    }
}

/// Report what the ERP booked; answers with the reconciliation.
#[utoipa::path(post, path = "/v1/exports/erp/{date}/acknowledgement", tag = "erp",
    request_body = AcknowledgementRequest, params(("date" = String, Path)),
    responses((status = 200, description = "the reconciliation report"),
        (status = 400, body = super::error::Problem), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub(super) async fn acknowledge(
    State(app): State<AppState>,
    caller: Caller,
    Path(date): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<AcknowledgementRequest>,
) -> Result<Json<Reconciliation>, ApiError> {
    caller.require(ROLES)?;
    let day = parse_day(&app, &date)?;
    let digest = body.digest.clone();
    let ack = body
        .value
        .parse()
        .map_err(|e| ApiError::Validation(e.into_vec()))?;
    exported_day(&app, day).await?;

    let exported = exported_records(&app, day).await?;
    let report = reconcile(&exported, &ack);
    let context = super::command_context(&caller, &headers, Some(digest.clone()));
    let event = ErpDayEvent::ErpDayAcknowledged {
        business_day: date.clone(),
        acknowledgement_digest: digest,
        outcome: report.summary(),
    };
    let executed = app
        .erp_days
        .execute(&date, &context, |_| {
            Ok::<_, Infallible>(vec![event.clone()])
        })
        .await?;
    if matches!(executed, ordo_ledger::Executed::Replayed(_)) {
        // A retried acknowledgement (same Idempotency-Key): already recorded.
        return Ok(Json(report));
    }
    let json = serde_json::to_value(&report).map_err(ApiError::internal)?;
    sqlx::query(
        "insert into erp_reconciliation (business_day, position, received_at, report)
         values ($1, $2, $3, $4)
         on conflict (business_day) do update set
             position = excluded.position, received_at = excluded.received_at,
             report = excluded.report",
    )
    .bind(day)
    .bind(executed.position() as i64)
    .bind(OffsetDateTime::now_utc())
    .bind(json)
    .execute(&app.pool)
    .await?;
    Ok(Json(report))
}

async fn exported_records(
    app: &AppState,
    day: time::Date,
) -> Result<Vec<ExportedRecord>, ApiError> {
    let rows: Vec<(uuid::Uuid, String, String, i64, i64)> = sqlx::query_as(
        "select event_id, record_type, currency, amount_minor, quantity
         from erp_record where export_day = $1 order by position",
    )
    .bind(day)
    .fetch_all(&app.pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, record_type, currency, amount_minor, quantity)| {
            Some(ExportedRecord {
                event_id: id.to_string(),
                record_type: RecordType::parse(&record_type)?,
                currency,
                amount_minor,
                quantity,
            })
        })
        .collect())
}

/// The latest reconciliation report of a day.
#[utoipa::path(get, path = "/v1/exports/erp/{date}/reconciliation", tag = "erp",
    params(("date" = String, Path)),
    responses((status = 200, description = "the latest report"),
        (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
pub(super) async fn get_reconciliation(
    State(app): State<AppState>,
    caller: Caller,
    Path(date): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(&[Role::Erp, Role::Operator, Role::Auditor])?;
    let day = parse_day(&app, &date)?;
    let report: Option<serde_json::Value> =
        sqlx::query_scalar("select report from erp_reconciliation where business_day = $1")
            .bind(day)
            .fetch_optional(&app.pool)
            .await?;
    report
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("a reconciliation of {day}")))
}
