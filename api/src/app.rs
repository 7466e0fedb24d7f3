//! Startup wiring: connect, verify the stream, migrate, and serve.
//!
//! Each subcommand is one function here that takes what it needs (including
//! its listener and shutdown signal) as arguments, so tests call the same
//! code the binary runs.

use crate::auth::{Tokens, DEV_TOKENS};
use crate::config::{Config, ServeConfig};
use crate::http::{self, AppState};
use anyhow::{bail, Context as _};
use futures::future::BoxFuture;
use futures::FutureExt;
use ordo_ledger::{Ledger, LedgerConfig, MasterKey};
use ordo_projections::{ErpExport, Router, Sealer, SealerConfig, StockViews, MIGRATOR};
use ordo_projections::{OrderViews, Projection, ProjectionError, Projector, ProjectorConfig};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The connections every subcommand needs.
pub struct Services {
    pub ledger: Ledger,
    pub pool: PgPool,
}

/// Connects to PostgreSQL (creating the database if missing) and NATS, and
/// creates or verifies the stream.
pub async fn connect(config: &Config, master_key: Option<MasterKey>) -> anyhow::Result<Services> {
    let pool = connect_database(&config.database_url).await?;
    let client = async_nats::ConnectOptions::new()
        .name("ordo")
        .connect(&config.nats_url)
        .await
        .with_context(|| format!("connect to NATS at {}", config.nats_url))?;
    let mut ledger_config = LedgerConfig::new(config.namespace.clone());
    ledger_config.replicas = config.stream_replicas;
    ledger_config.master_key = master_key;
    let ledger = Ledger::open(client, ledger_config)
        .await
        .with_context(|| format!("open stream {}", config.namespace.stream_name()))?;
    report_durability(&ledger).await?;
    Ok(Services { ledger, pool })
}

/// Says at start what an acknowledged append means on this server
/// (DESIGN.md, "Durability").
async fn report_durability(ledger: &Ledger) -> anyhow::Result<()> {
    let durability = ledger
        .durability()
        .await
        .context("read stream durability")?;
    let meaning = if durability.replicas >= 3 {
        "acknowledged after a quorum of replicas stored it"
    } else if durability.supports_sync_always {
        "acknowledged after the write; fsync before ack only with sync_interval: always"
    } else {
        "acknowledged after the write; this server version fsyncs on a timer (every 2 min)"
    };
    tracing::info!(
        server_version = %durability.server_version,
        stream = %durability.stream,
        storage = %durability.storage,
        replicas = durability.replicas,
        "ledger durability: {meaning}"
    );
    Ok(())
}

/// Connects to the database, creating it first if it does not exist.
pub async fn connect_database(url: &str) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .with_context(|| "parse ORDO_DATABASE_URL")?
        .log_statements(tracing::log::LevelFilter::Trace);
    match PgPoolOptions::new()
        .max_connections(16)
        .connect_with(options.clone())
        .await
    {
        Ok(pool) => Ok(pool),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
            let name = options.get_database().unwrap_or("ordo").to_owned();
            create_database(&options, &name).await?;
            PgPoolOptions::new()
                .max_connections(16)
                .connect_with(options)
                .await
                .with_context(|| format!("connect to database {name}"))
        }
        Err(e) => Err(e).with_context(|| "connect to PostgreSQL"),
    }
}

async fn create_database(options: &PgConnectOptions, name: &str) -> anyhow::Result<()> {
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        bail!("database {name:?} does not exist and its name is not safe to create");
    }
    let admin = options.clone().database("postgres");
    let mut connection = admin
        .connect()
        .await
        .context("connect to database postgres")?;
    let created = sqlx::query(&format!("create database {name}"))
        .execute(&mut connection)
        .await;
    match created {
        Ok(_) => tracing::info!(database = name, "created database"),
        // Someone else created it in the meantime: fine.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
        Err(e) => return Err(e).with_context(|| format!("create database {name}")),
    }
    Ok(())
}

/// `ordo migrate`: applies the read-model migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("apply migrations")?;
    tracing::info!(migrations = MIGRATOR.iter().count(), "migrations applied");
    Ok(())
}

/// The tokens `serve` accepts: the tokens file, or with `--dev` the
/// well-known development tokens. Anything else refuses to start.
pub fn resolve_tokens(config: &ServeConfig) -> anyhow::Result<Tokens> {
    match (&config.tokens_file, config.dev) {
        (Some(path), _) => Tokens::load(path),
        (None, true) => {
            crate::output::print_dev_tokens(DEV_TOKENS);
            Ok(Tokens::dev())
        }
        (None, false) => bail!(
            "no tokens file: set ORDO_TOKENS_FILE (one `<role> <token>` per line), \
             or pass --dev for development tokens"
        ),
    }
}

/// The master key: from its file, or with `--dev` the well-known development
/// key. Anything else refuses to start, because personal data would have no
/// protection.
pub fn resolve_master_key(file: Option<&Path>, dev: bool) -> anyhow::Result<MasterKey> {
    match (file, dev) {
        (Some(path), _) => MasterKey::load(path).context("load the master key"),
        (None, true) => {
            tracing::warn!("using the development master key: personal data is not protected");
            Ok(MasterKey::development())
        }
        (None, false) => bail!(
            "no master key: set ORDO_MASTER_KEY_FILE to a file holding 32 random bytes as \
             64 hex characters (e.g. `openssl rand -hex 32`), or pass --dev"
        ),
    }
}

/// `ordo serve`: the API, the projector and the sealer in one process, until
/// `shutdown` resolves. Then it stops taking requests, lets in-flight ones
/// finish for up to [`SHUTDOWN_GRACE`], and lets the projector commit its
/// current batch.
pub async fn serve(
    config: &ServeConfig,
    tokens: Tokens,
    master_key: MasterKey,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let digest_secret = master_key.digest_secret();
    let services = connect(&config.common, Some(master_key)).await?;
    migrate(&services.pool).await?;

    let erp = erp_export(&config.common)?;
    let mut background = Background::default();
    let (ledger, pool) = (&services.ledger, &services.pool);
    let read_model = ProjectorConfig::read_model;
    background.project(OrderViews, read_model(), ledger, pool);
    background.project(erp.clone(), read_model(), ledger, pool);
    background.project(StockViews, read_model(), ledger, pool);
    if !config.no_router {
        let router = Router::new(ledger.clone());
        background.project(router, ProjectorConfig::default(), ledger, pool);
    }
    let sealer_config = SealerConfig {
        every_events: config.seal_every_events.max(1),
        every: std::time::Duration::from_secs(config.seal_every_seconds.max(1)),
    };
    let sealer = Sealer::new(ledger.clone(), sealer_config);
    background.spawn("sealer", |stopped| sealer.run(stopped));

    let state = AppState::new(services.ledger, services.pool, tokens, digest_secret, erp);
    let address = listener.local_addr().context("read listen address")?;
    tracing::info!(%address, "listening");
    if config.demo {
        crate::demo::seed(&state, !config.no_router, address)
            .await
            .context("seed demo orders")?;
    }
    // Once shutdown begins, in-flight requests get a bounded time to finish;
    // a client that keeps its connection open cannot hold the process.
    let shutdown = shutdown.shared();
    let server =
        axum::serve(listener, http::router(state)).with_graceful_shutdown(shutdown.clone());
    let deadline = async {
        shutdown.await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = server => served.context("serve HTTP")?,
        () = deadline => tracing::warn!(
            grace_seconds = SHUTDOWN_GRACE.as_secs(),
            "requests still open after the grace period, closing them"
        ),
    }
    tracing::info!("HTTP server stopped, stopping projectors and processes");
    background.stop().await;
    tracing::info!("shut down");
    Ok(())
}

/// The ERP export projection in the configured business time zone.
pub fn erp_export(config: &Config) -> anyhow::Result<ErpExport> {
    ErpExport::new(&config.business_tz).with_context(|| {
        format!(
            "ORDO_BUSINESS_TZ {:?} is not a time zone known to this machine",
            config.business_tz
        )
    })
}

/// `ordo export erp`: closes the day, brings the export read model to the
/// close, and writes the day's file and manifest into `out`. Returns their
/// paths.
pub async fn export_erp(
    config: &Config,
    date: &str,
    format: crate::export::Format,
    out: &Path,
) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let erp = erp_export(config)?;
    let day = crate::export::parse_day(date, &erp).with_context(|| format!("--date {date}"))?;
    let services = connect(config, None).await?;
    migrate(&services.pool).await?;
    let days = ordo_ledger::Repository::new(services.ledger.clone());
    let actor = ordo_ledger::Actor {
        kind: ordo_ledger::ActorKind::Erp,
        id: "ordo-export".to_owned(),
    };
    let position = crate::export::close(&days, day, &erp, actor)
        .await
        .with_context(|| format!("close business day {date}"))?;
    let catch_up = ProjectorConfig {
        stop_at: Some(position),
        ..ProjectorConfig::read_model()
    };
    Projector::new(
        erp,
        services.ledger.clone(),
        services.pool.clone(),
        catch_up,
    )
    .run(std::future::pending())
    .await
    .context("bring the export read model to the close")?;
    let closed = crate::export::closed_day(&services.pool, day)
        .await?
        .context("the day's close was not projected")?;

    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let file_path = out.join(crate::export::file_name(day, format));
    let mut file = tokio::io::BufWriter::new(
        tokio::fs::File::create(&file_path)
            .await
            .with_context(|| format!("create {}", file_path.display()))?,
    );
    let summary = crate::export::write_file(&services.pool, day, format, &mut file).await?;
    let manifest = crate::export::manifest(day, &closed, summary);
    let manifest_path = out.join(crate::export::manifest_name(day));
    let text = serde_json::to_string_pretty(&manifest).context("render the manifest")?;
    std::fs::write(&manifest_path, text + "\n")
        .with_context(|| format!("write {}", manifest_path.display()))?;
    Ok((file_path, manifest_path))
}

/// `ordo route`: only the routing process, until `shutdown` resolves, for
/// deployments that run it apart from the API (`serve --no-router`).
pub async fn route(
    config: &Config,
    master_key: MasterKey,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let services = connect(config, Some(master_key)).await?;
    migrate(&services.pool).await?;
    let router = Projector::new(
        Router::new(services.ledger.clone()),
        services.ledger,
        services.pool,
        ProjectorConfig::default(),
    );
    router.run(shutdown).await.context("routing process")
}

/// A background task: its name, how to stop it, and its outcome.
type Task = (
    &'static str,
    oneshot::Sender<()>,
    JoinHandle<Result<(), ProjectionError>>,
);

/// The projectors, processes and sealer that run beside the API, each
/// stopped between batches on shutdown.
#[derive(Default)]
struct Background {
    tasks: Vec<Task>,
}

impl Background {
    fn spawn<F, R>(&mut self, name: &'static str, run: R)
    where
        R: FnOnce(BoxFuture<'static, ()>) -> F,
        F: Future<Output = Result<(), ProjectionError>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(stopped.map(|_| ()).boxed()));
        self.tasks.push((name, stop, task));
    }

    fn project<P: Projection>(
        &mut self,
        projection: P,
        config: ProjectorConfig,
        ledger: &Ledger,
        pool: &PgPool,
    ) {
        let name = projection.name();
        let projector = Projector::new(projection, ledger.clone(), pool.clone(), config);
        self.spawn(name, |stopped| projector.run(stopped));
    }

    /// Stops every task and waits for it, so that current batches commit. A
    /// task may have ended on its own already (it logged why).
    async fn stop(self) {
        let mut waiting = Vec::new();
        for (name, stop, task) in self.tasks {
            // A task that ended on its own has dropped its receiver.
            let _ = stop.send(());
            waiting.push((name, task));
        }
        for (name, task) in waiting {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::error!(task = name, error = %error, "had stopped on a fault")
                }
                Err(error) => tracing::error!(task = name, error = %error, "task failed"),
            }
        }
    }
}

/// How long in-flight requests may take once shutdown begins.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
