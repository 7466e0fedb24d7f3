//! `ordo bench`: Ordo's speed on this machine, beside the raw speed of the
//! JetStream and PostgreSQL it runs on, measured in the same run.
//!
//! The bench works in a namespace and database of its own and removes both
//! at the end. Figures are printed as a table and optionally written as JSON;
//! nothing here asserts a timing.

pub mod baseline;
mod export;
mod lifecycle;
pub mod measure;
mod routing;
mod scenario;

use crate::config::Config;
use anyhow::Context as _;
use measure::Figure;
use ordo_ledger::{Ledger, LedgerConfig, MasterKey, Namespace};
use serde::Serialize;
use sqlx::PgPool;
use std::path::PathBuf;

/// How big a run is.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub publishes: usize,
    pub pipelined: usize,
    pub upsert_rows: usize,
    pub http_seconds: u64,
    pub http_clients: usize,
    pub hot_history: &'static [usize],
    pub catch_up_events: usize,
    pub big_stream_orders: usize,
    /// Single-unit orders of one SKU in the hot-SKU burst.
    pub burst_orders: usize,
    /// Records in the exported business day.
    pub export_records: usize,
}

impl Size {
    pub fn quick() -> Self {
        Self {
            publishes: 2_000,
            pipelined: 20_000,
            upsert_rows: 50_000,
            http_seconds: 8,
            http_clients: 32,
            hot_history: &[100, 1_000, 2_000],
            catch_up_events: 200_000,
            big_stream_orders: 2_000,
            burst_orders: 2_000,
            export_records: 100_000,
        }
    }

    /// Just enough to prove every scenario runs (the test suite's run).
    pub fn tiny() -> Self {
        Self {
            publishes: 50,
            pipelined: 500,
            upsert_rows: 2_000,
            http_seconds: 1,
            http_clients: 4,
            hot_history: &[10, 20],
            catch_up_events: 500,
            big_stream_orders: 50,
            burst_orders: 100,
            export_records: 2_000,
        }
    }

    pub fn full() -> Self {
        Self {
            publishes: 20_000,
            pipelined: 200_000,
            upsert_rows: 500_000,
            http_seconds: 30,
            http_clients: 64,
            hot_history: &[100, 1_000, 10_000],
            catch_up_events: 1_000_000,
            big_stream_orders: 100_000,
            burst_orders: 10_000,
            export_records: 1_000_000,
        }
    }
}

/// The scenarios, for running just one (`ordo bench --only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    ErpExport,
    HotSkuBurst,
    FullLifecycle,
    PlaceOrders,
    HotAggregate,
    CatchUp,
    BigStream,
    Rebuild,
    Replay,
}

/// Everything a scenario needs: its own namespace, stream and database.
pub struct Bench {
    pub config: Config,
    pub ledger: Ledger,
    pub pool: PgPool,
    pub master_key_file: PathBuf,
    pub size: Size,
    /// Run only this scenario (the baselines always run).
    pub only: Option<Scenario>,
}

impl Bench {
    fn wants(&self, scenario: Scenario) -> bool {
        self.only.is_none_or(|only| only == scenario)
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: String,
    /// Where the bench ran (both removed at the end).
    pub namespace: String,
    pub database: String,
    pub figures: Vec<Figure>,
}

/// Runs every baseline and scenario and prints the table.
pub async fn run(
    base: &Config,
    size: Size,
    only: Option<Scenario>,
    json: Option<PathBuf>,
) -> anyhow::Result<()> {
    let bench = setup(base, size, only).await?;
    let result = run_all(&bench).await;
    teardown(&bench).await;
    let figures = result?;
    let report = Report {
        machine: machine(),
        namespace: bench.config.namespace.to_string(),
        database: database_of(&bench.config.database_url).to_owned(),
        figures,
    };
    measure::print_table(&report.figures);
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&report).context("render the report")?;
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

async fn run_all(bench: &Bench) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    figures.push(baseline::publish_awaited(bench).await?);
    figures.push(baseline::publish_pipelined(bench).await?);
    figures.push(baseline::read_stream(bench).await?);
    figures.push(baseline::pg_upsert(bench).await?);
    let baselines = figures.clone();
    // Before the scenarios that grow this process, so that its memory
    // figures are the export's own.
    if bench.wants(Scenario::ErpExport) {
        figures.extend(export::erp_export(bench).await?);
    }
    // Before the ledger scenarios, while the stream holds nothing else for
    // the router to read.
    if bench.wants(Scenario::HotSkuBurst) {
        figures.extend(routing::hot_sku_burst(bench, &baselines).await?);
    }
    // Also before placing orders without a router: the router would have to
    // read all of those first.
    if bench.wants(Scenario::FullLifecycle) {
        figures.extend(lifecycle::full_lifecycle(bench, &baselines).await?);
    }
    if bench.wants(Scenario::PlaceOrders) {
        figures.extend(scenario::place_orders_http(bench, &baselines).await?);
    }
    if bench.wants(Scenario::HotAggregate) {
        figures.extend(scenario::hot_aggregate(bench, &baselines).await?);
    }
    if bench.wants(Scenario::CatchUp) {
        figures.extend(scenario::catch_up(bench, &baselines).await?);
    }
    if bench.wants(Scenario::BigStream) {
        figures.extend(scenario::big_stream_load(bench, &baselines).await?);
    }
    if bench.wants(Scenario::Rebuild) {
        figures.extend(scenario::rebuild(bench, &baselines).await?);
    }
    if bench.wants(Scenario::Replay) {
        figures.extend(scenario::replay_and_verify(bench, &baselines).await?);
    }
    Ok(figures)
}

async fn setup(base: &Config, size: Size, only: Option<Scenario>) -> anyhow::Result<Bench> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let namespace = Namespace::parse(&format!("bench{}", &id[..12])).context("bench namespace")?;
    let database = format!("ordo_bench_{}", &id[..12]);
    let database_url = match base.database_url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{database}"),
        None => anyhow::bail!("ORDO_DATABASE_URL has no database part"),
    };
    let config = Config {
        namespace: namespace.clone(),
        database_url,
        ..base.clone()
    };
    let hex_key = hex::encode(rand::random::<[u8; 32]>());
    let master_key_file = std::env::temp_dir().join(format!("ordo-bench-{id}.key"));
    std::fs::write(&master_key_file, &hex_key).context("write the bench master key")?;
    let master_key = MasterKey::from_hex(&hex_key).context("bench master key")?;
    let services = crate::app::connect(&config, Some(master_key)).await?;
    crate::app::migrate(&services.pool).await?;
    Ok(Bench {
        config,
        ledger: services.ledger,
        pool: services.pool,
        master_key_file,
        size,
        only,
    })
}

/// Removes the bench's stream, key bucket, baseline stream and database.
async fn teardown(bench: &Bench) {
    let _ = std::fs::remove_file(&bench.master_key_file);
    if let Err(error) = bench.ledger.delete_stream().await {
        tracing::warn!(error = %error, "could not delete the bench stream");
    }
    baseline::delete_stream(bench).await;
    bench.pool.close().await;
    let database = database_of(&bench.config.database_url).to_owned();
    let admin = bench
        .config
        .database_url
        .replace(&format!("/{database}"), "/postgres");
    match PgPool::connect(&admin).await {
        Ok(pool) => {
            let sql = format!("drop database if exists {database} with (force)");
            if let Err(error) = sqlx::query(&sql).execute(&pool).await {
                tracing::warn!(error = %error, "could not drop the bench database");
            }
        }
        Err(error) => tracing::warn!(error = %error, "could not drop the bench database"),
    }
}

fn database_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or_default()
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown cpu".to_owned());
    format!("{cores} cores, {cpu}")
}

/// Builds a ledger handle with this bench's settings (for scenarios that need
/// a second connection).
pub(crate) async fn ledger_connection(bench: &Bench, master_key: bool) -> anyhow::Result<Ledger> {
    let client = async_nats::connect(&bench.config.nats_url)
        .await
        .context("connect to NATS")?;
    let mut config = LedgerConfig::new(bench.config.namespace.clone());
    if master_key {
        config.master_key = Some(MasterKey::load(&bench.master_key_file)?);
    }
    Ledger::attach(client, config)
        .await
        .context("attach to the bench stream")
}
