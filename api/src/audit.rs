//! The auditors' and operators' command-line tools: `ordo verify`,
//! `ordo replay` and `ordo rebuild`.
//!
//! They attach to the stream read-only: they never create or change the
//! ledger they audit or rebuild from.

use crate::config::Config;
use crate::http::audit::{present, state_view};
use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use ordo_domain::Order;
use ordo_ledger::{Ledger, LedgerConfig, MasterKey, Repository};
use ordo_projections::rebuild::{self, ReadModel, READ_MODELS};
use ordo_projections::{OrderViews, Projection, StockViews, ERP_EXPORT, ORDER_VIEWS, STOCK_VIEWS};
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use std::io::IsTerminal;
use std::str::FromStr;
use time::OffsetDateTime;

async fn attach(config: &Config, master_key: Option<MasterKey>) -> anyhow::Result<Ledger> {
    let client = async_nats::ConnectOptions::new()
        .name("ordo-audit")
        .connect(&config.nats_url)
        .await
        .with_context(|| format!("connect to NATS at {}", config.nats_url))?;
    let mut ledger_config = LedgerConfig::new(config.namespace.clone());
    ledger_config.master_key = master_key;
    Ledger::attach(client, ledger_config)
        .await
        .with_context(|| format!("open stream {}", config.namespace.stream_name()))
}

/// `ordo verify`: recomputes hashes, links and seals over a range. Returns
/// whether the ledger is intact.
pub async fn verify(
    config: &Config,
    from: u64,
    to: Option<u64>,
    json: bool,
) -> anyhow::Result<bool> {
    let ledger = attach(config, None).await?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("verifying {bar:40} {pos}/{len} positions ({per_sec})")
                .context("progress bar template")?,
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let report = ordo_ledger::verify(&ledger, from, to, |position, last| {
        bar.set_length(last);
        bar.set_position(position);
    })
    .await
    .context("read the ledger")?;
    bar.finish_and_clear();

    if json {
        crate::output::print_json(&serde_json::to_value(&report).context("render report")?);
    } else {
        crate::output::print_line(&format!(
            "positions {}..={}: {} commits, {} events, {} seals checked \
             ({} links and {} seals reach before the range, unchecked)",
            report.from_position,
            report.to_position,
            report.commits,
            report.events,
            report.seals,
            report.unchecked_links,
            report.unchecked_seals
        ));
        for problem in &report.problems {
            let event = problem
                .event_id
                .as_deref()
                .map(|id| format!(" event {id}"))
                .unwrap_or_default();
            crate::output::print_line(&format!(
                "BROKEN at position {} {}{event}: {}: {}",
                problem.position, problem.subject, problem.kind, problem.detail
            ));
        }
        let verdict = if report.is_intact() {
            "ledger intact"
        } else {
            "ledger NOT intact"
        };
        crate::output::print_line(verdict);
    }
    Ok(report.is_intact())
}

fn progress_bar(what: &str) -> anyhow::Result<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return Ok(ProgressBar::hidden());
    }
    let bar = ProgressBar::new(0);
    let template = format!("{what} {{bar:40}} {{pos}}/{{len}} positions ({{per_sec}})");
    bar.set_style(ProgressStyle::with_template(&template).context("progress bar template")?);
    Ok(bar)
}

/// `ordo rebuild`: rebuilds read models from position 0 and swaps them in,
/// or with `check` only compares a fresh copy with the live one. Returns
/// whether everything matched (always true without `check`).
pub async fn rebuild(
    config: &Config,
    master_key: MasterKey,
    names: &[String],
    check: bool,
) -> anyhow::Result<bool> {
    let ledger = attach(config, Some(master_key)).await?;
    let options = sqlx::postgres::PgConnectOptions::from_str(&config.database_url)
        .context("parse ORDO_DATABASE_URL")?;
    let pool = crate::app::connect_database(&config.database_url).await?;
    let mut is_clean = true;
    for name in names {
        let model = READ_MODELS
            .iter()
            .find(|m| m.name == name)
            .copied()
            .with_context(|| format!("unknown read model {name:?}"))?;
        let is_model_clean = match model.name {
            ORDER_VIEWS => rebuild_one(&ledger, &pool, &options, model, OrderViews, check).await?,
            STOCK_VIEWS => rebuild_one(&ledger, &pool, &options, model, StockViews, check).await?,
            ERP_EXPORT => {
                let erp = crate::app::erp_export(config)?;
                rebuild_one(&ledger, &pool, &options, model, erp, check).await?
            }
            other => anyhow::bail!("read model {other:?} has no projection to rebuild it"),
        };
        is_clean &= is_model_clean;
    }
    Ok(is_clean)
}

/// Rebuilds (or, with `check`, compares) one read model with its
/// projection; returns whether it was clean.
async fn rebuild_one<P: Projection + Clone>(
    ledger: &Ledger,
    pool: &PgPool,
    options: &PgConnectOptions,
    model: ReadModel,
    projection: P,
    check: bool,
) -> anyhow::Result<bool> {
    let name = model.name;
    let bar = progress_bar(&format!("rebuilding {name}"))?;
    let progress = |position: u64, target: u64| {
        bar.set_length(target);
        bar.set_position(position);
    };
    if !check {
        let position =
            rebuild::rebuild(ledger, pool, options, model, projection, &progress).await?;
        bar.finish_and_clear();
        crate::output::print_line(&format!(
            "{name} rebuilt to position {position} and swapped in"
        ));
        return Ok(true);
    }
    let (position, differences) =
        rebuild::check(ledger, pool, options, model, projection, &progress).await?;
    bar.finish_and_clear();
    for difference in &differences {
        crate::output::print_line(&format!(
            "{} row only in the {} copy: {}",
            difference.table, difference.only_in, difference.row
        ));
    }
    crate::output::print_line(&format!(
        "{name} at position {position}: {} differing rows",
        differences.len()
    ));
    Ok(differences.is_empty())
}

/// How `ordo replay` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayFormat {
    Json,
    Table,
}

/// `ordo replay`: an order's events up to a moment and the state they fold
/// to, from the ledger itself. Personal data is shown only with the master
/// key.
pub async fn replay(
    config: &Config,
    master_key: Option<MasterKey>,
    order_id: &str,
    as_of: Option<OffsetDateTime>,
    format: ReplayFormat,
) -> anyhow::Result<()> {
    let ledger = attach(config, master_key).await?;
    let orders: Repository<Order> = Repository::new(ledger);
    let history = orders
        .history(order_id, as_of)
        .await
        .context("replay the order")?;
    anyhow::ensure!(
        !history.events.is_empty(),
        "order {order_id} has no events in the ledger"
    );
    let state = state_view(&history.state).map_err(|e| anyhow::anyhow!("{e}"))?;
    match format {
        ReplayFormat::Json => {
            let events: Vec<serde_json::Value> = history
                .events
                .iter()
                .map(|(position, e)| {
                    Ok(serde_json::json!({
                        "position": position, "event_id": e.event_id, "event_type": e.event_type,
                        "version": e.aggregate_version, "recorded_at": e.recorded_at,
                        "data": present(&e.data_value()?),
                    }))
                })
                .collect::<Result<_, serde_json::Error>>()
                .context("read the event data")?;
            crate::output::print_json(&serde_json::json!({
                "order_id": order_id,
                "version": history.state.version,
                "status": history.state.status().as_str(),
                "state": state,
                "events": events,
            }));
        }
        ReplayFormat::Table => {
            crate::output::print_line(&format!(
                "{:>8}  {:>3}  {:<32}  {:<24}",
                "position", "v", "recorded_at", "event"
            ));
            for (position, e) in &history.events {
                let at = e
                    .recorded_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                crate::output::print_line(&format!(
                    "{position:>8}  {:>3}  {at:<32}  {:<24}",
                    e.aggregate_version, e.event_type
                ));
            }
            crate::output::print_line(&format!(
                "order {order_id} at version {}: {}",
                history.state.version,
                history.state.status()
            ));
        }
    }
    Ok(())
}
