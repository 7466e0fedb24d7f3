//! Configuration: `ORDO_*` environment variables, or the same keys in a TOML
//! file named by `ORDO_CONFIG`, with loopback defaults.

use anyhow::Context as _;
use clap::Args;
use ordo_ledger::Namespace;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Settings shared by every subcommand that talks to NATS or PostgreSQL.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// NATS server with JetStream.
    #[arg(long, env = "ORDO_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// PostgreSQL database for the read models; created if missing.
    #[arg(
        long,
        env = "ORDO_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/ordo"
    )]
    pub database_url: String,
    /// Namespace: the stream is its upper-case form, subjects start with it.
    #[arg(long, env = "ORDO_NAMESPACE", default_value = "ordo", value_parser = parse_namespace)]
    pub namespace: Namespace,
    /// Stream replicas: 1 on one server, 3 on a cluster.
    #[arg(long, env = "ORDO_STREAM_REPLICAS", default_value_t = 1)]
    pub stream_replicas: usize,
    /// The IANA time zone whose calendar days are the ERP's business days.
    #[arg(long, env = "ORDO_BUSINESS_TZ", default_value = "UTC")]
    pub business_tz: String,
}

/// Settings of `ordo serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    #[command(flatten)]
    pub common: Config,
    /// Address the HTTP API listens on.
    #[arg(long, env = "ORDO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// File of `<role> <token>` lines; required unless `--dev`.
    #[arg(long, env = "ORDO_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,
    /// File holding the master key (64 hex characters) that wraps the
    /// customers' data keys; required unless `--dev`.
    #[arg(long, env = "ORDO_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Development mode: well-known tokens and master key when no files
    /// are given.
    #[arg(long)]
    pub dev: bool,
    /// Seal the ledger after this many events...
    #[arg(long, env = "ORDO_SEAL_EVERY_EVENTS", default_value_t = 1000)]
    pub seal_every_events: usize,
    /// ...or after this many seconds, whichever comes first.
    #[arg(long, env = "ORDO_SEAL_EVERY_SECONDS", default_value_t = 10)]
    pub seal_every_seconds: u64,
    /// Place a few demo orders after start (idempotent across restarts).
    #[arg(long)]
    pub demo: bool,
    /// Do not run the routing process here (run `ordo route` elsewhere).
    #[arg(long, env = "ORDO_NO_ROUTER")]
    pub no_router: bool,
}

fn parse_namespace(raw: &str) -> Result<Namespace, String> {
    Namespace::parse(raw).map_err(|e| e.to_string())
}

/// Sets `ORDO_*` variables from the TOML file named by `ORDO_CONFIG`, for
/// every key the environment does not set already (the environment wins).
/// Keys are the variable names without the prefix, in lower case:
/// `nats_url = "nats://10.0.0.5:4222"`.
pub fn load_config_file() -> anyhow::Result<()> {
    let Some(path) = std::env::var_os("ORDO_CONFIG") else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("read config file {}", PathBuf::from(&path).display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("parse config file {}", PathBuf::from(&path).display()))?;
    for (key, value) in table {
        let name = format!("ORDO_{}", key.to_ascii_uppercase());
        let value = match value {
            toml::Value::String(s) => s,
            other => other.to_string(),
        };
        if std::env::var_os(&name).is_none() {
            // Runs in `main` before the runtime starts any thread.
            std::env::set_var(name, value);
        }
    }
    Ok(())
}
