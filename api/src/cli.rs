//! The command line: parses the subcommand and calls one library function.
//!
//! It lives in the library so that the end-to-end tests can build the very
//! same program under another name.

use crate::config::{self, Config, ServeConfig};
use crate::{app, telemetry};
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
    /// Apply the read-model migrations and exit.
    Migrate(Config),
}

/// The program: reads the configuration, sets up tracing, runs a subcommand.
pub fn main() -> anyhow::Result<()> {
    config::load_config_file()?;
    let cli = Cli::parse();
    telemetry::init(std::io::stderr);
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(config) => {
            let tokens = app::resolve_tokens(&config)?;
            let master_key = app::resolve_master_key(&config)?;
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
        Command::Migrate(config) => {
            let services = app::connect(&config, None).await?;
            app::migrate(&services.pool).await
        }
    }
}
