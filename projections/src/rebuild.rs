//! Rebuilding a read model from position 0 beside the live one
//! (DESIGN.md, "Rebuild is routine").
//!
//! The copy is built in a schema of its own by the same projection code,
//! then swapped in within one transaction that holds the live projector's
//! checkpoint row: queries keep reading the old tables until the swap and
//! the new ones right after it, and the live projector, finding its
//! checkpoint moved, resumes from the copy's position. `check` builds the
//! same copy, brings it to exactly the live position, and lists the rows
//! that differ.

use crate::{checkpoint, Projection, ProjectionError, Projector, ProjectorConfig};
use ordo_ledger::Ledger;
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};
use std::time::Duration;

/// A read model: the projector that writes it and the tables it owns.
#[derive(Debug, Clone, Copy)]
pub struct ReadModel {
    pub name: &'static str,
    pub tables: &'static [&'static str],
    /// Tables whose rows `check` cannot compare as they are, each with the
    /// query that reads it as comparable entries (`{schema}` stands for the
    /// schema). Every other table is compared row by row.
    pub entries: &'static [(&'static str, &'static str)],
}

impl ReadModel {
    /// The query that reads `table` of `schema` for comparison.
    fn entries_of(&self, table: &str, schema: &str) -> String {
        match self.entries.iter().find(|(name, _)| *name == table) {
            Some((_, query)) => query.replace("{schema}", schema),
            None => format!("select * from {schema}.{table}"),
        }
    }
}

/// Every read model Ordo has.
pub const READ_MODELS: &[ReadModel] = &[
    ReadModel {
        name: crate::ORDER_VIEWS,
        tables: &["order_tracking", "order_timeline"],
        entries: crate::order_views::COMPARED_ENTRIES,
    },
    ReadModel {
        name: crate::STOCK_VIEWS,
        tables: &["location", "inventory"],
        entries: &[],
    },
    ReadModel {
        name: crate::ERP_EXPORT,
        tables: &["erp_order", "erp_record", "erp_day"],
        entries: &[],
    },
];

/// A row found on one side only.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub table: String,
    /// `live` or `rebuilt`.
    pub only_in: &'static str,
    pub row: String,
}

/// How far a rebuild has got: (position, target).
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Rebuilds `model` from position 0 and swaps it in. Returns the position
/// the new copy had at the swap.
pub async fn rebuild<P: Projection + Clone>(
    ledger: &Ledger,
    live: &PgPool,
    options: &PgConnectOptions,
    model: ReadModel,
    projection: P,
    progress: Progress<'_>,
) -> Result<u64, ProjectionError> {
    let schema = format!("rebuild_{}", model.name);
    let scratch = prepare(live, options, &schema, model).await?;
    let target = ledger.last_position().await?;
    build_until(ledger, &scratch, projection.clone(), target, progress).await?;
    loop {
        let mut tx = live
            .begin()
            .await
            .map_err(ProjectionError::database("begin swap"))?;
        let live_position = lock(&mut tx, model.name).await?;
        let built = checkpoint(&scratch, model.name).await?;
        if built < live_position {
            // The live model moved on while we built: catch up without
            // holding its lock, then try again.
            drop(tx);
            build_until(
                ledger,
                &scratch,
                projection.clone(),
                live_position,
                progress,
            )
            .await?;
            continue;
        }
        let stream = ledger.namespace().stream_name();
        swap(&mut tx, &schema, model, &stream, built).await?;
        tx.commit()
            .await
            .map_err(ProjectionError::database("commit swap"))?;
        tracing::info!(
            projector = model.name,
            stream_seq = built,
            "rebuilt read model swapped in"
        );
        drop_schema(live, "retired").await?;
        drop_schema(live, &schema).await?;
        scratch.close().await;
        return Ok(built);
    }
}

/// Rebuilds `model` into a scratch copy, brings it to exactly the live
/// position, and lists the rows that differ. The live model is untouched.
pub async fn check<P: Projection + Clone>(
    ledger: &Ledger,
    live: &PgPool,
    options: &PgConnectOptions,
    model: ReadModel,
    projection: P,
    progress: Progress<'_>,
) -> Result<(u64, Vec<Difference>), ProjectionError> {
    let schema = format!("check_{}", model.name);
    let scratch = prepare(live, options, &schema, model).await?;
    let target = ledger.last_position().await?;
    build_until(ledger, &scratch, projection.clone(), target, progress).await?;
    let result = loop {
        let built = checkpoint(&scratch, model.name).await?;
        if checkpoint(live, model.name).await? < built {
            // The live projector is behind the copy; give it a moment.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        // Holding the live checkpoint row keeps the live model still while
        // the copy catches up to it and the two are compared.
        let mut tx = live
            .begin()
            .await
            .map_err(ProjectionError::database("begin check"))?;
        let live_position = lock(&mut tx, model.name).await?;
        build_until(
            ledger,
            &scratch,
            projection.clone(),
            live_position,
            progress,
        )
        .await?;
        let differences = compare(&mut tx, &schema, model).await?;
        drop(tx);
        break (live_position, differences);
    };
    scratch.close().await;
    drop_schema(live, &schema).await?;
    Ok(result)
}

/// Creates `schema` with empty copies of the model's tables and a
/// checkpoint table, and returns a pool that writes there.
pub async fn prepare(
    live: &PgPool,
    options: &PgConnectOptions,
    schema: &str,
    model: ReadModel,
) -> Result<PgPool, ProjectionError> {
    drop_schema(live, schema).await?;
    let mut statements = vec![format!("create schema {schema}")];
    for table in model.tables.iter().chain(&["projector_checkpoint"]) {
        statements.push(format!(
            "create table {schema}.{table} (like public.{table} including all)"
        ));
    }
    for statement in statements {
        sqlx::query(&statement)
            .execute(live)
            .await
            .map_err(ProjectionError::database("prepare rebuild schema"))?;
    }
    let scratch = options.clone().options([("search_path", schema)]);
    PgPoolOptions::new()
        .max_connections(4)
        .connect_with(scratch)
        .await
        .map_err(ProjectionError::database("connect to rebuild schema"))
}

/// Runs the projection into the scratch copy until it has applied `target`.
pub async fn build_until<P: Projection>(
    ledger: &Ledger,
    scratch: &PgPool,
    projection: P,
    target: u64,
    progress: Progress<'_>,
) -> Result<(), ProjectionError> {
    let config = ProjectorConfig {
        stop_at: Some(target),
        ..ProjectorConfig::read_model()
    };
    let projector = Projector::new(projection, ledger.clone(), scratch.clone(), config);
    let mut position = projector.subscribe();
    let run = projector.run(std::future::pending());
    tokio::pin!(run);
    loop {
        tokio::select! {
            result = &mut run => {
                progress(target, target);
                return result;
            }
            changed = position.changed() => {
                if changed.is_ok() {
                    progress(*position.borrow(), target);
                }
            }
        }
    }
}

async fn lock(tx: &mut PgConnection, projector: &str) -> Result<u64, ProjectionError> {
    let position: Option<i64> = sqlx::query_scalar(
        "select position from public.projector_checkpoint where projector = $1 for update",
    )
    .bind(projector)
    .fetch_optional(&mut *tx)
    .await
    .map_err(ProjectionError::database("lock live checkpoint"))?;
    Ok(position.map_or(0, |p| p as u64))
}

/// Moves the live tables out and the rebuilt ones in, and sets the live
/// checkpoint to the rebuilt position, all in the caller's transaction.
async fn swap(
    tx: &mut PgConnection,
    schema: &str,
    model: ReadModel,
    stream: &str,
    built: u64,
) -> Result<(), ProjectionError> {
    let mut statements = vec!["drop schema if exists retired cascade".to_owned()];
    statements.push("create schema retired".to_owned());
    for table in model.tables {
        statements.push(format!("alter table public.{table} set schema retired"));
        statements.push(format!("alter table {schema}.{table} set schema public"));
    }
    for statement in statements {
        sqlx::query(&statement)
            .execute(&mut *tx)
            .await
            .map_err(ProjectionError::database("swap read model"))?;
    }
    sqlx::query(
        "insert into public.projector_checkpoint (projector, stream, position, updated_at)
         values ($1, $2, $3, now())
         on conflict (projector) do update set position = excluded.position, updated_at = now()",
    )
    .bind(model.name)
    .bind(stream)
    .bind(built as i64)
    .execute(&mut *tx)
    .await
    .map_err(ProjectionError::database("move live checkpoint"))?;
    Ok(())
}

async fn compare(
    tx: &mut PgConnection,
    schema: &str,
    model: ReadModel,
) -> Result<Vec<Difference>, ProjectionError> {
    let mut differences = Vec::new();
    for table in model.tables {
        for (only_in, left, right) in [("live", "public", schema), ("rebuilt", schema, "public")] {
            let sql = format!(
                "select row_to_json(d)::text from ({} except all {}) d limit 20",
                model.entries_of(table, left),
                model.entries_of(table, right),
            );
            let rows: Vec<String> = sqlx::query_scalar(&sql)
                .fetch_all(&mut *tx)
                .await
                .map_err(ProjectionError::database("compare read models"))?;
            differences.extend(rows.into_iter().map(|row| Difference {
                table: (*table).to_owned(),
                only_in,
                row,
            }));
        }
    }
    Ok(differences)
}

/// Drops a scratch schema and everything in it.
pub async fn drop_schema(pool: &PgPool, schema: &str) -> Result<(), ProjectionError> {
    sqlx::query(&format!("drop schema if exists {schema} cascade"))
        .execute(pool)
        .await
        .map_err(ProjectionError::database("drop rebuild schema"))?;
    Ok(())
}
