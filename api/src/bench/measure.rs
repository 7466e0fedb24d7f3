//! Figures, latency percentiles, and a process's CPU time and peak memory.

use serde::Serialize;
use std::time::Duration;

/// One measured figure: a rate, and where it has them, latencies, CPU and
/// memory, and the ratio to the baseline it is compared with.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub unit: &'static str,
    pub rate: f64,
    /// How many of `unit` the rate was measured over.
    pub count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Percentiles>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_mib: Option<f64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl Figure {
    pub fn rate(
        name: impl Into<String>,
        unit: &'static str,
        count: usize,
        elapsed: Duration,
    ) -> Self {
        Self {
            name: name.into(),
            unit,
            rate: count as f64 / elapsed.as_secs_f64().max(1e-9),
            count,
            baseline: None,
            ratio: None,
            latency_ms: None,
            cpu_seconds: None,
            peak_rss_mib: None,
            note: String::new(),
        }
    }

    /// Compares this rate with the baseline named `name`.
    pub fn against(mut self, baselines: &[Figure], name: &str) -> Self {
        if let Some(baseline) = baselines.iter().find(|b| b.name == name) {
            self.ratio = Some(self.rate / baseline.rate.max(1e-9));
            self.baseline = Some(name.to_owned());
        }
        self
    }

    pub fn latencies(mut self, latencies: &mut [Duration]) -> Self {
        self.latency_ms = Percentiles::of(latencies);
        self
    }

    pub fn usage(mut self, usage: Usage) -> Self {
        self.cpu_seconds = Some(usage.cpu_seconds);
        self.peak_rss_mib = Some(usage.peak_rss_mib);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

/// p50, p99 and max, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(latencies: &mut [Duration]) -> Option<Self> {
        if latencies.is_empty() {
            return None;
        }
        latencies.sort_unstable();
        let at = |q: f64| {
            let index = ((latencies.len() - 1) as f64 * q).round() as usize;
            latencies[index].as_secs_f64() * 1000.0
        };
        Some(Self {
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        })
    }
}

/// CPU time used and peak resident memory of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub peak_rss_mib: f64,
}

/// Reads `/proc/<pid>` (`self` for this process). Linux only; elsewhere the
/// figures read as zero.
pub fn usage_of(pid: &str) -> Usage {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which may hold spaces, end with ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after ')'.
    // Linux counts them in USER_HZ, 100 per second on every common platform.
    let cpu_seconds = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_kib = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    Usage {
        cpu_seconds,
        peak_rss_mib: peak_kib / 1024.0,
    }
}

/// The usage between two readings (peak memory is the later reading's).
pub fn since(before: Usage, after: Usage) -> Usage {
    Usage {
        cpu_seconds: after.cpu_seconds - before.cpu_seconds,
        peak_rss_mib: after.peak_rss_mib,
    }
}

/// Prints the figures as a table.
pub fn print_table(figures: &[Figure]) {
    let header = format!(
        "{:<44} {:>14} {:<10} {:>28} {:>26} {:>8} {:>9}",
        "figure", "rate", "unit", "ratio to baseline", "latency p50/p99/max ms", "cpu s", "rss MiB"
    );
    crate::output::print_line(&header);
    for figure in figures {
        let ratio = match (&figure.ratio, &figure.baseline) {
            (Some(ratio), Some(name)) => format!("{ratio:.2} of {name}"),
            _ => String::new(),
        };
        let latency = figure
            .latency_ms
            .map(|l| format!("{:.2}/{:.2}/{:.2}", l.p50, l.p99, l.max))
            .unwrap_or_default();
        let cpu = figure
            .cpu_seconds
            .map(|c| format!("{c:.1}"))
            .unwrap_or_default();
        let rss = figure
            .peak_rss_mib
            .map(|r| format!("{r:.0}"))
            .unwrap_or_default();
        crate::output::print_line(&format!(
            "{:<44} {:>14.0} {:<10} {:>28} {:>26} {:>8} {:>9}",
            figure.name, figure.rate, figure.unit, ratio, latency, cpu, rss
        ));
        if !figure.note.is_empty() {
            crate::output::print_line(&format!("    {}", figure.note));
        }
    }
}
