//! The command line: parses the subcommand and calls one library function.
//!
//! It lives in the library so that the end-to-end tests can build the very
//! same program under another name.

use crate::config::{self, Config, ServeConfig};
use crate::{app, audit, telemetry};
use anyhow::Context as _;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ordo",
    version,
    about = "Event-sourced order ledger for retail"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API and the projectors.
    Serve(ServeConfig),
    /// Run only the routing process (beside `serve --no-router`).
    Route {
        #[command(flatten)]
        config: Config,
        /// The master key, to read destinations for distance scoring.
        #[arg(long, env = "ORDO_MASTER_KEY_FILE")]
        master_key_file: Option<std::path::PathBuf>,
        /// Use the well-known development key when no file is given.
        #[arg(long)]
        dev: bool,
    },
    /// Produce an export file and its manifest.
    Export {
        #[command(subcommand)]
        what: ExportCommand,
    },
    /// Apply the read-model migrations and exit.
    Migrate(Config),
    /// Recompute every hash, link and seal; exit 1 when anything is broken.
    Verify {
        #[command(flatten)]
        config: Config,
        /// First stream position to check.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Last stream position to check (default: the end).
        #[arg(long)]
        to: Option<u64>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild read models from position 0 beside the live ones and swap
    /// them in; with --check only compare (exit 1 on any difference).
    Rebuild {
        #[command(flatten)]
        config: Config,
        /// The read model (`order_views`); omit with --all.
        read_model: Option<String>,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        check: bool,
        /// The master key, so that personal data is rebuilt too.
        #[arg(long, env = "ORDO_MASTER_KEY_FILE")]
        master_key_file: Option<std::path::PathBuf>,
    },
    /// Measure Ordo beside the raw speed of NATS and PostgreSQL, in a
    /// namespace and database of its own that it removes afterwards.
    Bench {
        #[command(flatten)]
        config: Config,
        /// A short run (under two minutes on two cores).
        #[arg(long)]
        quick: bool,
        /// A token run that only proves every scenario works (for tests).
        #[arg(long, hide = true)]
        tiny: bool,
        /// Run only this scenario (after the baselines).
        #[arg(long, value_enum)]
        only: Option<crate::bench::Scenario>,
        /// Also write the figures as JSON to this file.
        #[arg(long)]
        json: Option<std::path::PathBuf>,
    },
    /// Print an order's events and state as of a moment, from the ledger.
    Replay {
        #[command(flatten)]
        config: Config,
        #[arg(long)]
        order: String,
        /// RFC 3339; default: now.
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: audit::ReplayFormat,
        /// Master key file, to show personal data (otherwise "[withheld]").
        #[arg(long, env = "ORDO_MASTER_KEY_FILE")]
        master_key_file: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// The ERP export of one business day: closes the day (the current day
    /// may be closed early) and writes `erp-<date>.<format>` and its manifest.
    Erp {
        #[command(flatten)]
        config: Config,
        /// The business day, YYYY-MM-DD, in ORDO_BUSINESS_TZ.
        #[arg(long)]
        date: String,
        /// The folder to write into.
        #[arg(long)]
        out: std::path::PathBuf,
        #[arg(long, value_enum, default_value = "csv")]
        format: crate::export::Format,
    },
}

/// The program: reads the configuration, sets up tracing, runs a subcommand.
pub fn main() -> anyhow::Result<()> {
    config::load_config_file()?;
    let cli = Cli::parse();
    // The bench's own table is its output: connection chatter and the slow
    // statements it causes on purpose (filling a day of a million records)
    // would bury it.
    let default_filter = match cli.command {
        Command::Bench { .. } => "warn,sqlx::query=error",
        _ => "info",
    };
    telemetry::init(std::io::stderr, default_filter);
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(config) => {
            let tokens = app::resolve_tokens(&config)?;
            let master_key =
                app::resolve_master_key(config.master_key_file.as_deref(), config.dev)?;
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("listen on {}", config.listen))?;
            app::serve(
                &config,
                tokens,
                master_key,
                listener,
                app::shutdown_signal(),
            )
            .await
        }
        Command::Verify {
            config,
            from,
            to,
            json,
        } => {
            if audit::verify(&config, from, to, json).await? {
                Ok(())
            } else {
                anyhow::bail!("the ledger is not intact")
            }
        }
        Command::Rebuild {
            config,
            read_model,
            all,
            check,
            master_key_file,
        } => {
            let Some(master_key_file) = master_key_file else {
                anyhow::bail!(
                    "rebuild needs ORDO_MASTER_KEY_FILE: without it, personal data would be \
                     rebuilt as withheld"
                );
            };
            let master_key =
                ordo_ledger::MasterKey::load(&master_key_file).context("load the master key")?;
            let names: Vec<String> = match (read_model, all) {
                (Some(name), false) => vec![name],
                (None, true) => ordo_projections::rebuild::READ_MODELS
                    .iter()
                    .map(|m| m.name.to_owned())
                    .collect(),
                _ => anyhow::bail!("name one read model, or pass --all"),
            };
            if audit::rebuild(&config, master_key, &names, check).await? {
                Ok(())
            } else {
                anyhow::bail!("the rebuilt copy differs from the live read model")
            }
        }
        Command::Bench {
            config,
            quick,
            tiny,
            only,
            json,
        } => {
            let size = match (tiny, quick) {
                (true, _) => crate::bench::Size::tiny(),
                (false, true) => crate::bench::Size::quick(),
                (false, false) => crate::bench::Size::full(),
            };
            crate::bench::run(&config, size, only, json).await
        }
        Command::Replay {
            config,
            order,
            as_of,
            format,
            master_key_file,
        } => {
            let as_of = as_of
                .map(|raw| {
                    time::OffsetDateTime::parse(
                        &raw,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .with_context(|| format!("--as-of {raw:?} is not an RFC 3339 timestamp"))
                })
                .transpose()?;
            let master_key = master_key_file
                .map(|path| ordo_ledger::MasterKey::load(&path).context("load the master key"))
                .transpose()?;
            audit::replay(&config, master_key, &order, as_of, format).await
        }
        Command::Route {
            config,
            master_key_file,
            dev,
        } => {
            let master_key = app::resolve_master_key(master_key_file.as_deref(), dev)?;
            app::route(&config, master_key, app::shutdown_signal()).await
        }
        Command::Export {
            what:
                ExportCommand::Erp {
                    config,
                    date,
                    out,
                    format,
                },
        } => {
            let (file, manifest) = app::export_erp(&config, &date, format, &out).await?;
            crate::output::print_line(&file.display().to_string());
            crate::output::print_line(&manifest.display().to_string());
            Ok(())
        }
        Command::Migrate(config) => {
            let services = app::connect(&config, None).await?;
            app::migrate(&services.pool).await
        }
    }
}
