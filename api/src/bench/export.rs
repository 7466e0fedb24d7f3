//! The ERP export of a large business day: records per second and the
//! memory the export needs, beside a plain PostgreSQL read of the same rows.
//!
//! The rows are written straight into `erp_record` by SQL (the projector's
//! speed is the catch-up scenario's subject); two days are filled, one with a
//! tenth of the records, so that the memory figures of both can be compared.

use super::measure::{since, usage_of, Figure};
use super::Bench;
use crate::export::{self, Format};
use anyhow::Context as _;
use futures::TryStreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RAW_READ: &str = "raw PostgreSQL read of the export rows";

/// The resident memory of this process now, in MiB (0 off Linux).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Samples the resident memory every 5 ms until dropped; `peak` is the
/// highest sample.
struct RssSampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<f64>,
}

impl RssSampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut peak = rss_mib();
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_mib());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            peak.max(rss_mib())
        });
        Self { stop, task }
    }

    async fn peak(self) -> anyhow::Result<f64> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.context("memory sampler")
    }
}

/// Fills `day` with `count` records of two lines each, in 100,000-row
/// statements, and marks the day closed.
async fn fill(bench: &Bench, day: time::Date, first: i64, count: i64) -> anyhow::Result<()> {
    let mut from = first;
    while from < first + count {
        let to = (from + 100_000).min(first + count);
        sqlx::query(
            "insert into erp_record (event_id, position, business_day, record_type, order_id,
                 currency, amount_minor, quantity, location_id, lines, recorded_at, export_day)
             select gen_random_uuid(), n, $1,
                 (array['order_booked', 'goods_issued', 'delivered', 'order_changed'])[n % 4 + 1],
                 'o-' || (n / 3), 'EUR', 2 * (499 + n % 20000) + 1299, 3,
                 case when n % 4 in (1, 2) then 'hamburg-dc' end,
                 jsonb_build_array(
                     jsonb_build_object('sku', 'SKU-' || n % 5000, 'quantity', 2,
                         'unit_price_minor', 499 + n % 20000),
                     jsonb_build_object('sku', 'SOCKS-3PK', 'quantity', 1,
                         'unit_price_minor', 1299)),
                 $1::timestamp + make_interval(secs => (n % 86400)), $1
             from generate_series($2::int8, $3::int8 - 1) as n",
        )
        .bind(day)
        .bind(from)
        .bind(to)
        .execute(&bench.pool)
        .await
        .context("fill the export table")?;
        from = to;
    }
    sqlx::query(
        "insert into erp_day (business_day, timezone, closed_position, closed_at)
         values ($1, 'UTC', $2, now())",
    )
    .bind(day)
    .bind(first + count)
    .execute(&bench.pool)
    .await
    .context("close the bench day")?;
    sqlx::query("analyze erp_record")
        .execute(&bench.pool)
        .await
        .context("analyze")?;
    Ok(())
}

/// Reads the day's rows as the export does, and does nothing with them.
async fn raw_read(bench: &Bench, day: time::Date) -> anyhow::Result<usize> {
    let mut rows = sqlx::query(
        "select business_day, position, event_id, record_type, order_id, currency,
             amount_minor, quantity, location_id, lines, recorded_at
         from erp_record where export_day = $1
         order by business_day <> $1, position, event_id",
    )
    .bind(day)
    .fetch(&bench.pool);
    let mut count = 0;
    while rows.try_next().await.context("read export rows")?.is_some() {
        count += 1;
    }
    Ok(count)
}

/// What exporting one day took.
struct Run {
    records: u64,
    elapsed: Duration,
    /// The highest resident memory sampled while it ran, in MiB.
    peak_rss: f64,
    /// How far that peak was above the memory before it started.
    growth: f64,
    usage: super::measure::Usage,
}

/// Exports `day` to a file in the temporary folder, then removes the file.
async fn export_day(bench: &Bench, day: time::Date, format: Format) -> anyhow::Result<Run> {
    let path = std::env::temp_dir().join(format!(
        "ordo-bench-{}-{}",
        bench.config.namespace.as_str(),
        export::file_name(day, format)
    ));
    let mut file = tokio::io::BufWriter::new(
        tokio::fs::File::create(&path)
            .await
            .with_context(|| format!("create {}", path.display()))?,
    );
    let before_rss = rss_mib();
    let before = usage_of("self");
    let sampler = RssSampler::start();
    let started = Instant::now();
    let written = export::write_file(&bench.pool, day, format, &mut file).await;
    let elapsed = started.elapsed();
    let peak = sampler.peak().await?;
    let usage = since(before, usage_of("self"));
    let _ = tokio::fs::remove_file(&path).await;
    Ok(Run {
        records: written?.records,
        elapsed,
        peak_rss: peak,
        growth: peak - before_rss,
        usage,
    })
}

pub(super) async fn erp_export(bench: &Bench) -> anyhow::Result<Vec<Figure>> {
    let count = bench.size.export_records as i64;
    let small_day = time::macros::date!(2026 - 01 - 14);
    let big_day = time::macros::date!(2026 - 01 - 15);
    let small = (count / 10).max(1);
    fill(bench, small_day, 1, small).await?;
    fill(bench, big_day, small + 1, count).await?;

    let started = Instant::now();
    let read = raw_read(bench, big_day).await?;
    let baseline = Figure::rate(RAW_READ, "rows/s", read, started.elapsed());
    let baselines = [baseline.clone()];

    let small = export_day(bench, small_day, Format::Csv).await?;
    let mut figures = vec![baseline];
    for format in [Format::Csv, Format::Jsonl] {
        let run = export_day(bench, big_day, format).await?;
        let name = format!(
            "ERP export, {} records, {}",
            run.records,
            format.extension()
        );
        let mut figure = Figure::rate(name, "records/s", run.records as usize, run.elapsed)
            .against(&baselines, RAW_READ)
            .usage(run.usage)
            .note(format!(
                "resident memory grew {:.1} MiB during the export \
                 ({:.1} MiB for a day of {} records)",
                run.growth, small.growth, small.records
            ));
        figure.peak_rss_mib = Some(run.peak_rss);
        figures.push(figure);
    }
    Ok(figures)
}
