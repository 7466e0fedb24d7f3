//! The ERP export of a business day: closing the day, writing its records
//! file (CSV or JSON Lines) by streaming rows from PostgreSQL, and the
//! manifest with counts, control totals and the file's SHA-256.
//!
//! Everything written is a function of the rows the `erp_export` projector
//! assigned to the day when it reached the day's `ErpDayClosed` event, read
//! in a fixed order, so producing a day twice gives the same bytes. The
//! format is documented field by field in `docs/erp-export.md`.

use anyhow::Context as _;
use futures::TryStreamExt;
use ordo_domain::erp::{close_day, ErpDay, RecordType};
use ordo_ledger::{Actor, CommandContext, ExecuteError, Repository};
use ordo_projections::ErpExport;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::convert::Infallible;
use time::OffsetDateTime;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use uuid::Uuid;

/// The version of the file and manifest formats.
pub const FORMAT_VERSION: u32 = 1;

/// The columns of the CSV file, in order (JSON Lines uses the same names).
pub const COLUMNS: [&str; 12] = [
    "section",
    "business_day",
    "position",
    "event_id",
    "record_type",
    "order_id",
    "currency",
    "amount_minor",
    "quantity",
    "location_id",
    "lines",
    "recorded_at",
];

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Jsonl => "application/jsonl",
        }
    }
}

/// `erp-<day>.<csv|jsonl>` and `erp-<day>.manifest.json`.
pub fn file_name(day: time::Date, format: Format) -> String {
    format!("erp-{}.{}", iso(day), format.extension())
}

pub fn manifest_name(day: time::Date) -> String {
    format!("erp-{}.manifest.json", iso(day))
}

fn iso(day: time::Date) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    day.format(&format).unwrap_or_default()
}

/// Why a day cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum DayError {
    #[error("must be a date YYYY-MM-DD")]
    Malformed,
    #[error("has not begun yet in time zone {0}")]
    NotBegun(String),
}

/// Parses a business day and refuses one that has not begun.
pub fn parse_day(raw: &str, export: &ErpExport) -> Result<time::Date, DayError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(raw, &format).map_err(|_| DayError::Malformed)?;
    let today = export
        .business_day(OffsetDateTime::now_utc())
        .map_err(|_| DayError::Malformed)?;
    if day > today {
        return Err(DayError::NotBegun(export.zone_name().to_owned()));
    }
    Ok(day)
}

/// Closes the day in the ledger (once; a repeat changes nothing) and
/// returns the position the export projector must reach before the day's
/// records are complete.
pub async fn close(
    days: &Repository<ErpDay>,
    day: time::Date,
    export: &ErpExport,
    actor: Actor,
) -> Result<u64, ExecuteError<Infallible>> {
    let context = CommandContext::new(actor, OffsetDateTime::now_utc());
    let (business_day, zone) = (iso(day), export.zone_name().to_owned());
    let executed = days
        .execute(&business_day, &context, |state| {
            Ok::<_, Infallible>(close_day(state, business_day.clone(), zone.clone()))
        })
        .await?;
    Ok(executed.position())
}

/// The closing of a day, as the export projector recorded it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClosedDay {
    pub timezone: String,
    pub closed_position: i64,
}

pub async fn closed_day(pool: &PgPool, day: time::Date) -> sqlx::Result<Option<ClosedDay>> {
    sqlx::query_as("select timezone, closed_position from erp_day where business_day = $1")
        .bind(day)
        .fetch_optional(pool)
        .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    section: String,
    business_day: time::Date,
    position: i64,
    event_id: Uuid,
    record_type: String,
    order_id: String,
    currency: String,
    amount_minor: i64,
    quantity: i64,
    location_id: Option<String>,
    lines: serde_json::Value,
    recorded_at: OffsetDateTime,
}

/// One record in JSON Lines.
#[derive(Serialize)]
struct JsonRecord<'a> {
    section: &'a str,
    business_day: String,
    position: i64,
    event_id: Uuid,
    record_type: &'a str,
    order_id: &'a str,
    currency: &'a str,
    amount_minor: i64,
    quantity: i64,
    location_id: Option<&'a str>,
    lines: &'a serde_json::Value,
    recorded_at: String,
}

/// Counts and sums of one group of records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub count: u64,
    pub amount_minor: i64,
    pub quantity: i64,
}

/// What writing a file produced.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileSummary {
    pub name: String,
    pub format: &'static str,
    pub records: u64,
    pub bytes: u64,
    pub sha256: String,
    #[serde(skip)]
    pub first_position: Option<i64>,
    #[serde(skip)]
    pub last_position: Option<i64>,
    /// By section (`day`, `correction`), currency and record type.
    #[serde(skip)]
    pub totals: BTreeMap<(String, String, String), Totals>,
}

/// Streams the day's records into `out`, hashing as it goes; memory stays
/// flat whatever the number of records.
pub async fn write_file<W: AsyncWrite + Unpin>(
    pool: &PgPool,
    day: time::Date,
    format: Format,
    out: &mut W,
) -> anyhow::Result<FileSummary> {
    let mut summary = FileSummary {
        name: file_name(day, format),
        format: format.extension(),
        ..FileSummary::default()
    };
    let mut hasher = Sha256::new();
    let mut buffer = Vec::with_capacity(64 * 1024);
    if format == Format::Csv {
        csv_row(&mut buffer, COLUMNS.iter().map(|c| c.to_string()))?;
    }
    let mut rows = sqlx::query_as::<_, Row>(
        "select case when business_day = $1 then 'day' else 'correction' end as section,
             business_day, position, event_id, record_type, order_id, currency, amount_minor,
             quantity, location_id, lines, recorded_at
         from erp_record where export_day = $1
         order by business_day <> $1, position, event_id",
    )
    .bind(day)
    .fetch(pool);
    while let Some(row) = rows.try_next().await.context("read export records")? {
        encode(&row, format, &mut buffer)?;
        count(&mut summary, &row);
        if buffer.len() >= 60 * 1024 {
            flush(out, &mut hasher, &mut buffer, &mut summary).await?;
        }
    }
    flush(out, &mut hasher, &mut buffer, &mut summary).await?;
    out.flush().await.context("flush the export file")?;
    summary.sha256 = hex::encode(hasher.finalize());
    Ok(summary)
}

async fn flush<W: AsyncWrite + Unpin>(
    out: &mut W,
    hasher: &mut Sha256,
    buffer: &mut Vec<u8>,
    summary: &mut FileSummary,
) -> anyhow::Result<()> {
    hasher.update(&buffer[..]);
    out.write_all(buffer)
        .await
        .context("write the export file")?;
    summary.bytes += buffer.len() as u64;
    buffer.clear();
    Ok(())
}

fn count(summary: &mut FileSummary, row: &Row) {
    summary.records += 1;
    summary.first_position = Some(
        summary
            .first_position
            .map_or(row.position, |p| p.min(row.position)),
    );
    summary.last_position = Some(
        summary
            .last_position
            .map_or(row.position, |p| p.max(row.position)),
    );
    let key = (
        row.section.clone(),
        row.currency.clone(),
        row.record_type.clone(),
    );
    let totals = summary.totals.entry(key).or_default();
    totals.count += 1;
    totals.amount_minor += row.amount_minor;
    totals.quantity += row.quantity;
}

fn encode(row: &Row, format: Format, buffer: &mut Vec<u8>) -> anyhow::Result<()> {
    let recorded_at = row
        .recorded_at
        .format(&time::format_description::well_known::Rfc3339)
        .context("format recorded_at")?;
    match format {
        Format::Csv => csv_row(
            buffer,
            [
                row.section.clone(),
                iso(row.business_day),
                row.position.to_string(),
                row.event_id.to_string(),
                row.record_type.clone(),
                row.order_id.clone(),
                row.currency.clone(),
                row.amount_minor.to_string(),
                row.quantity.to_string(),
                row.location_id.clone().unwrap_or_default(),
                csv_lines(&row.lines),
                recorded_at,
            ]
            .into_iter(),
        ),
        Format::Jsonl => {
            let record = JsonRecord {
                section: &row.section,
                business_day: iso(row.business_day),
                position: row.position,
                event_id: row.event_id,
                record_type: &row.record_type,
                order_id: &row.order_id,
                currency: &row.currency,
                amount_minor: row.amount_minor,
                quantity: row.quantity,
                location_id: row.location_id.as_deref(),
                lines: &row.lines,
                recorded_at,
            };
            serde_json::to_writer(&mut *buffer, &record).context("encode a record")?;
            buffer.push(b'\n');
            Ok(())
        }
    }
}

/// One RFC 4180 row, quoted where needed, ended by CRLF.
fn csv_row(buffer: &mut Vec<u8>, fields: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(&mut *buffer);
    writer.write_record(fields).context("encode a CSV row")?;
    writer.flush().context("encode a CSV row")?;
    Ok(())
}

/// `SKU*quantity@unit_price` per line, `;` between lines. SKUs hold only
/// letters, digits, `-` and `_`, so the separators are unambiguous.
fn csv_lines(lines: &serde_json::Value) -> String {
    lines
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|l| {
                    format!(
                        "{}*{}@{}",
                        l["sku"].as_str().unwrap_or(""),
                        l["quantity"],
                        l["unit_price_minor"]
                    )
                })
                .collect::<Vec<_>>()
                .join(";")
        })
        .unwrap_or_default()
}

/// The manifest of one export file.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub format_version: u32,
    pub business_day: String,
    pub timezone: String,
    /// The day was closed at this stream position: every record of the day
    /// before it is in `day`; later ones go to a later export's corrections.
    pub closed_at_position: i64,
    /// The positions of the first and last record in the file.
    pub positions: Option<(i64, i64)>,
    /// Records per section and record type.
    pub counts: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per section, currency and record type.
    pub control_totals: Vec<ControlTotal>,
    pub files: Vec<FileSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ControlTotal {
    pub section: String,
    pub currency: String,
    pub record_type: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// Builds the manifest of a closed day from a written (or hashed) file.
pub fn manifest(day: time::Date, closed: &ClosedDay, file: FileSummary) -> Manifest {
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for section in ["day", "correction"] {
        let by_type = counts.entry(section.to_owned()).or_default();
        for record_type in RecordType::ALL {
            by_type.insert(record_type.as_str().to_owned(), 0);
        }
    }
    let mut control_totals = Vec::new();
    for ((section, currency, record_type), totals) in &file.totals {
        if let Some(count) = counts.get_mut(section).and_then(|c| c.get_mut(record_type)) {
            *count += totals.count;
        }
        control_totals.push(ControlTotal {
            section: section.clone(),
            currency: currency.clone(),
            record_type: record_type.clone(),
            totals: totals.clone(),
        });
    }
    Manifest {
        format_version: FORMAT_VERSION,
        business_day: iso(day),
        timezone: closed.timezone.clone(),
        closed_at_position: closed.closed_position,
        positions: file.first_position.zip(file.last_position),
        counts,
        control_totals,
        files: vec![file],
    }
}
