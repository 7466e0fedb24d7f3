//! The projector runtime.
//!
//! A projector owns one checkpoint row. It reads commits from checkpoint + 1
//! with an ordered consumer, groups what is ready into a batch, and applies
//! the batch and the new checkpoint in one transaction. A crash at any point
//! leaves either the whole batch with its checkpoint or neither, so every
//! event takes effect exactly once.

use crate::ProjectionError;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use ordo_ledger::{Ledger, LedgerError, StoredCommit};
use sqlx::{PgConnection, PgPool};
use std::future::Future;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

/// What a projector does with a batch of commits, inside the transaction the
/// runtime opened. It must not commit or roll back itself.
pub trait Projection: Send + Sync + 'static {
    /// The projector's name: its checkpoint row and its log field.
    fn name(&self) -> &'static str;

    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        commits: &'a [StoredCommit],
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send + 'a;
}

/// How a projector batches.
#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// The most commits applied in one transaction.
    pub max_batch: usize,
    /// How long the reader waits for more commits after the first of a
    /// chunk when none is ready. Short, so that a lone command shows up in
    /// the read model quickly; commits that are ready are taken regardless.
    pub linger: Duration,
    /// Stop once this position is applied (rebuilds and checks); `None`
    /// follows the stream for ever.
    pub stop_at: Option<u64>,
}

impl Default for ProjectorConfig {
    /// Batches of up to 500 commits: for processes whose batch performs
    /// ledger commands one by one (the router), so that a crash repeats
    /// little work.
    fn default() -> Self {
        Self {
            max_batch: 500,
            linger: Duration::from_millis(2),
            stop_at: None,
        }
    }
}

impl ProjectorConfig {
    /// Batches of up to 10,000 commits: for read models, whose batch is a few
    /// bulk statements. A batch only grows while a backlog waits (a restart,
    /// a rebuild, a burst), and then fewer, larger transactions catch up
    /// faster: each costs a commit, and an order touched by many events of
    /// one batch is written once. Following a live stream, batches stay small
    /// because the reader stops collecting after `linger`.
    ///
    /// The reader also gathers a little longer (10 ms) before it hands a
    /// chunk on: under a steady stream that bounds each projector to about
    /// a hundred transactions a second, where applying every few commits
    /// on their own would spend the servers' CPU on transaction overhead
    /// that the router and the API need.
    pub fn read_model() -> Self {
        Self {
            max_batch: 10_000,
            linger: Duration::from_millis(10),
            ..Self::default()
        }
    }
}

/// Why [`Projector::follow`] returned without error.
enum Flow {
    Stopped,
    ConsumerEnded,
}

/// Runs one projection against the ledger.
pub struct Projector<P: Projection> {
    projection: P,
    ledger: Ledger,
    pool: PgPool,
    config: ProjectorConfig,
    position: watch::Sender<u64>,
}

impl<P: Projection> Projector<P> {
    pub fn new(projection: P, ledger: Ledger, pool: PgPool, config: ProjectorConfig) -> Self {
        Self {
            projection,
            ledger,
            pool,
            config,
            position: watch::Sender::new(0),
        }
    }

    /// The committed position, updated after every batch.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.position.subscribe()
    }

    /// Runs until `shutdown` resolves or a fault that needs a person occurs.
    /// Shutdown is honoured between batches: a batch in progress is committed
    /// first. Transient faults are logged and retried.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let shutdown = shutdown.boxed().shared();
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.follow(shutdown.clone()).await {
                Ok(Flow::Stopped) => {
                    tracing::info!(projector = name, "projector stopped");
                    return Ok(());
                }
                Ok(Flow::ConsumerEnded) => backoff = Duration::from_millis(100),
                Err(error) if error.is_transient() => {
                    tracing::warn!(projector = name, error = %error, "projector fault, retrying");
                    let sleep = tokio::time::sleep(backoff);
                    tokio::select! {
                        () = sleep => {}
                        () = shutdown.clone() => return Ok(()),
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(error) => {
                    tracing::error!(
                        projector = name,
                        error = %error,
                        "projector stopped on a fault"
                    );
                    return Err(error);
                }
            }
        }
    }

    /// Follows the stream from the stored checkpoint until shutdown, until
    /// `stop_at`, or until the consumer ends or fails.
    ///
    /// Reading is pipelined with applying: a reader task reads and opens
    /// commits in chunks while a batch is being written, and the next batch
    /// is every chunk that is ready by then, grown to `max_batch` while the
    /// reader's chunks come full. So batches are small while the stream
    /// trickles (a commit is applied within `linger` of the previous
    /// batch's end) and reach `max_batch` when a backlog waits, which is
    /// when fewer, larger transactions pay off.
    async fn follow(
        &self,
        shutdown: impl Future<Output = ()> + Clone,
    ) -> Result<Flow, ProjectionError> {
        let name = self.projection.name();
        let stream = self.ledger.namespace().stream_name();
        let mut committed = checkpoint(&self.pool, name).await?;
        self.position.send_replace(committed);
        tracing::info!(
            projector = name,
            stream = %stream,
            stream_seq = committed,
            "projector started"
        );
        let stop_at = self.config.stop_at.unwrap_or(u64::MAX);
        if committed >= stop_at {
            return Ok(Flow::Stopped);
        }
        let backlog = self
            .ledger
            .last_position()
            .await?
            .min(stop_at)
            .saturating_sub(committed);
        if backlog >= PRELOAD_KEYS_BACKLOG {
            self.ledger.preload_keys().await?;
        }
        let commits = self.ledger.read_from(committed + 1, None, false).await?;
        let chunk = self.config.max_batch.clamp(1, MAX_CHUNK);
        let (sender, mut chunks) = mpsc::channel(self.config.max_batch.div_ceil(chunk) + 1);
        let reader = Reader {
            ledger: self.ledger.clone(),
            chunk,
            linger: self.config.linger,
            stop_at,
        };
        let span = tracing::debug_span!("reader", projector = name);
        let _reader = AbortOnDrop(tokio::spawn(reader.run(commits, sender).instrument(span)));
        let mut held = None;
        loop {
            if committed >= stop_at {
                return Ok(Flow::Stopped);
            }
            let first = match held.take() {
                Some(chunk) => Some(chunk),
                None => tokio::select! {
                    chunk = chunks.recv() => chunk,
                    () = shutdown.clone() => return Ok(Flow::Stopped),
                },
            };
            let Some(first) = first else {
                return Ok(Flow::ConsumerEnded);
            };
            let Batch { commits, last, .. } =
                fill(first?, &mut chunks, &mut held, self.config.max_batch).await;
            self.apply(&stream, commits, committed, last).await?;
            committed = last;
        }
    }

    async fn apply(
        &self,
        stream: &str,
        batch: Vec<StoredCommit>,
        expected: u64,
        last: u64,
    ) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let first = batch.first().map_or(last, |c| c.position);
        let span = tracing::debug_span!(
            "batch",
            projector = name,
            stream,
            first_seq = first,
            last_seq = last
        );
        async {
            let mut tx = self
                .pool
                .begin()
                .await
                .map_err(ProjectionError::database("begin batch"))?;
            // The checkpoint row is locked for the whole batch, and must still
            // be where we left it: another instance of this projector, or a
            // rebuild that swapped tables, may have moved it.
            let found = lock_checkpoint(&mut tx, name).await?;
            if found != expected {
                return Err(ProjectionError::CheckpointMoved { expected, found });
            }
            self.projection.apply_batch(&mut tx, &batch).await?;
            store_checkpoint(&mut tx, name, stream, last).await?;
            // Freeing a large batch takes real time; it happens while the
            // server commits rather than after.
            let commits = batch.len();
            let (committed, ()) = futures::join!(tx.commit(), async move { drop(batch) });
            committed.map_err(ProjectionError::database("commit batch"))?;
            self.position.send_replace(last);
            tracing::debug!(commits, "batch committed");
            Ok(())
        }
        .instrument(span)
        .await
    }
}

/// Grows `batch` to `max_batch` commits while the reader hands on full
/// chunks, waiting for them if need be. A full chunk means a backlog waits
/// (a restart, a rebuild, a burst), and then fewer, larger transactions
/// catch up faster: each order is written once per batch, not once per
/// part of it, and each transaction costs a commit. On a busy machine the
/// reader and the applier share the CPU, so applying whatever happens to be
/// ready would settle on batches a fraction of that size. A chunk that is
/// not full means the reader has caught up: the batch goes as it is. A chunk
/// that does not fit, or a fault, is held for the next batch.
async fn fill(
    batch: Batch,
    chunks: &mut mpsc::Receiver<Result<Batch, ProjectionError>>,
    held: &mut Option<Result<Batch, ProjectionError>>,
    max_batch: usize,
) -> Batch {
    let mut batch = join_ready(batch, chunks, held, max_batch);
    while batch.is_full && held.is_none() && batch.commits.len() < max_batch {
        // The reader ends after the chunk that reaches `stop_at`.
        let Some(next) = chunks.recv().await else {
            break;
        };
        match absorb(&mut batch, next, max_batch) {
            Some(rest) => *held = Some(rest),
            None => batch = join_ready(batch, chunks, held, max_batch),
        }
    }
    batch
}

/// Adds every chunk that is ready to `batch`, up to `max_batch` commits.
fn join_ready(
    mut batch: Batch,
    chunks: &mut mpsc::Receiver<Result<Batch, ProjectionError>>,
    held: &mut Option<Result<Batch, ProjectionError>>,
    max_batch: usize,
) -> Batch {
    while let Ok(next) = chunks.try_recv() {
        if let Some(rest) = absorb(&mut batch, next, max_batch) {
            *held = Some(rest);
            break;
        }
    }
    batch
}

/// Adds `next` to `batch` if it fits, or gives it back (a fault never fits).
fn absorb(
    batch: &mut Batch,
    next: Result<Batch, ProjectionError>,
    max_batch: usize,
) -> Option<Result<Batch, ProjectionError>> {
    match next {
        Ok(more) if batch.commits.len() + more.commits.len() <= max_batch => {
            batch.commits.extend(more.commits);
            batch.last = more.last;
            batch.is_full = more.is_full;
            None
        }
        other => Some(other),
    }
}

/// The most commits the reader reads and opens as one chunk.
const MAX_CHUNK: usize = 500;

/// A backlog from which a projector loads every data key before it reads:
/// past this size, it would meet a good share of the customers anyway.
const PRELOAD_KEYS_BACKLOG: u64 = 10_000;

/// Commits read and opened, ready to apply, and the position applying them
/// brings the projector to.
struct Batch {
    commits: Vec<StoredCommit>,
    last: u64,
    /// Whether the last chunk in it was full: the reader had more ready.
    is_full: bool,
}

/// The reading half of a projector: reads what the consumer has ready in
/// chunks and opens their sealed personal data.
struct Reader {
    ledger: Ledger,
    chunk: usize,
    linger: Duration,
    stop_at: u64,
}

impl Reader {
    /// Sends chunks until the consumer ends, a fault (sent on as the last
    /// item), `stop_at`, or the projector hanging up.
    async fn run(
        self,
        mut commits: BoxStream<'static, Result<StoredCommit, LedgerError>>,
        sender: mpsc::Sender<Result<Batch, ProjectionError>>,
    ) {
        while let Some(first) = commits.next().await {
            let chunk = self.collect(first, &mut commits).await;
            let done = chunk.as_ref().map_or(true, |b| b.last >= self.stop_at);
            if sender.send(chunk).await.is_err() || done {
                return;
            }
        }
    }

    /// Takes commits that are ready, and waits for more up to `linger` after
    /// the first: a ready commit is taken even past that moment, so a
    /// backlog fills whole chunks while a trickle is handed on at once.
    async fn collect(
        &self,
        first: Result<StoredCommit, LedgerError>,
        commits: &mut BoxStream<'static, Result<StoredCommit, LedgerError>>,
    ) -> Result<Batch, ProjectionError> {
        let first = first?;
        let deadline = tokio::time::Instant::now() + self.linger;
        let mut batch = Vec::new();
        let mut is_beyond = first.position > self.stop_at;
        if !is_beyond {
            batch.push(first);
        }
        while !is_beyond && batch.len() < self.chunk {
            match tokio::time::timeout_at(deadline, commits.next()).await {
                Ok(Some(commit)) => {
                    let commit = commit?;
                    is_beyond = commit.position > self.stop_at;
                    if !is_beyond {
                        batch.push(commit);
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
        self.ledger.unseal_all(&mut batch).await?;
        // Past `stop_at` everything up to it has been delivered, gaps too.
        let last = match batch.last() {
            Some(commit) if !is_beyond => commit.position,
            _ => self.stop_at,
        };
        Ok(Batch {
            is_full: batch.len() >= self.chunk,
            commits: batch,
            last,
        })
    }
}

/// Stops the reader task when the projector's loop ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn lock_checkpoint(tx: &mut PgConnection, projector: &str) -> Result<u64, ProjectionError> {
    let position: Option<i64> = sqlx::query_scalar(
        "select position from projector_checkpoint where projector = $1 for update",
    )
    .bind(projector)
    .fetch_optional(&mut *tx)
    .await
    .map_err(ProjectionError::database("lock checkpoint"))?;
    Ok(position.map_or(0, |p| p as u64))
}

/// The position a projector has committed (0 if it never ran).
pub async fn checkpoint(pool: &PgPool, projector: &str) -> Result<u64, ProjectionError> {
    let position: Option<i64> =
        sqlx::query_scalar("select position from projector_checkpoint where projector = $1")
            .bind(projector)
            .fetch_optional(pool)
            .await
            .map_err(ProjectionError::database("read checkpoint"))?;
    Ok(position.map_or(0, |p| p as u64))
}

async fn store_checkpoint(
    tx: &mut PgConnection,
    projector: &str,
    stream: &str,
    position: u64,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "insert into projector_checkpoint (projector, stream, position, updated_at)
         values ($1, $2, $3, now())
         on conflict (projector) do update
         set position = excluded.position, stream = excluded.stream, updated_at = now()",
    )
    .bind(projector)
    .bind(stream)
    .bind(position as i64)
    .execute(tx)
    .await
    .map_err(ProjectionError::database("store checkpoint"))?;
    Ok(())
}

/// Waits until `projector` has committed `position`, polling its checkpoint,
/// for at most `timeout`. Returns whether it got there.
pub async fn wait_for_position(
    pool: &PgPool,
    projector: &str,
    position: u64,
    timeout: Duration,
) -> Result<bool, ProjectionError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut interval = Duration::from_millis(5);
    loop {
        if checkpoint(pool, projector).await? >= position {
            return Ok(true);
        }
        if tokio::time::Instant::now() + interval > deadline {
            return Ok(false);
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_millis(100));
    }
}
