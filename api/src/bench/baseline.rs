//! Baselines: what the servers themselves do on this machine, with no Ordo
//! code in the way.

use super::measure::Figure;
use super::Bench;
use anyhow::Context as _;
use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use std::collections::VecDeque;
use std::time::Instant;

pub(super) const PUBLISH_AWAITED: &str = "raw JetStream publish, awaited";
pub(super) const PUBLISH_PIPELINED: &str = "raw JetStream publish, 1024 in flight";
pub(super) const READ_STREAM: &str = "raw JetStream ordered read";
pub(super) const PG_UPSERT: &str = "raw PostgreSQL upsert, 1000-row batches";

fn stream_name(bench: &Bench) -> String {
    format!("{}_BASELINE", bench.config.namespace.stream_name())
}

fn subject_prefix(bench: &Bench) -> String {
    format!("{}_baseline", bench.config.namespace.as_str())
}

async fn context(bench: &Bench) -> anyhow::Result<jetstream::Context> {
    let client = async_nats::connect(&bench.config.nats_url)
        .await
        .context("connect to NATS")?;
    let js = jetstream::new(client);
    js.create_or_update_stream(stream::Config {
        name: stream_name(bench),
        subjects: vec![format!("{}.>", subject_prefix(bench))],
        storage: stream::StorageType::File,
        allow_direct: true,
        ..Default::default()
    })
    .await
    .context("create the baseline stream")?;
    Ok(js)
}

/// A publish like an append: 300 bytes, a message id and an expected
/// last-subject sequence (0: each message has a subject of its own).
async fn publish(
    js: &jetstream::Context,
    subject: String,
    id: &str,
) -> Result<jetstream::context::PublishAckFuture, jetstream::context::PublishError> {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", id);
    headers.insert("Nats-Expected-Last-Subject-Sequence", "0");
    js.publish_with_headers(subject, headers, vec![b'x'; 300].into())
        .await
}

pub(super) async fn publish_awaited(bench: &Bench) -> anyhow::Result<Figure> {
    let js = context(bench).await?;
    let prefix = subject_prefix(bench);
    let count = bench.size.publishes;
    let started = Instant::now();
    for i in 0..count {
        publish(&js, format!("{prefix}.a.{i}"), &format!("a{i}"))
            .await?
            .await?;
    }
    Ok(Figure::rate(
        PUBLISH_AWAITED,
        "msgs/s",
        count,
        started.elapsed(),
    ))
}

pub(super) async fn publish_pipelined(bench: &Bench) -> anyhow::Result<Figure> {
    let js = context(bench).await?;
    let prefix = subject_prefix(bench);
    let count = bench.size.pipelined;
    let started = Instant::now();
    let mut in_flight = VecDeque::with_capacity(1024);
    for i in 0..count {
        if in_flight.len() == 1024 {
            if let Some(ack) = in_flight.pop_front() {
                ack.await?;
            }
        }
        in_flight.push_back(publish(&js, format!("{prefix}.p.{i}"), &format!("p{i}")).await?);
    }
    for ack in in_flight {
        ack.await?;
    }
    Ok(Figure::rate(
        PUBLISH_PIPELINED,
        "msgs/s",
        count,
        started.elapsed(),
    ))
}

pub(super) async fn read_stream(bench: &Bench) -> anyhow::Result<Figure> {
    let js = context(bench).await?;
    let stream = js
        .get_stream(stream_name(bench))
        .await
        .context("open the baseline stream")?;
    let total = stream
        .get_info()
        .await
        .context("baseline stream info")?
        .state
        .messages as usize;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig::default())
        .await
        .context("create an ordered consumer")?;
    let started = Instant::now();
    let mut messages = consumer
        .messages()
        .await
        .context("read the baseline stream")?;
    let mut read = 0;
    while read < total {
        match messages.next().await {
            Some(message) => {
                message.context("read a baseline message")?;
                read += 1;
            }
            None => break,
        }
    }
    Ok(Figure::rate(READ_STREAM, "msgs/s", read, started.elapsed()))
}

pub(super) async fn pg_upsert(bench: &Bench) -> anyhow::Result<Figure> {
    pg_upsert_into(bench, "bench_upsert", PG_UPSERT).await
}

/// The same upsert into a table of its own, measured again right beside a
/// scenario: on a shared machine the servers' speed drifts by tens of
/// percent within minutes, and a figure from the start of the run alone
/// would make a scenario's ratio partly a measure of that drift.
pub(super) async fn pg_upsert_beside(bench: &Bench, scenario: &str) -> anyhow::Result<Figure> {
    let table = format!("bench_upsert_{}", scenario.replace('-', "_"));
    let name = format!("raw PostgreSQL upsert, before {scenario}");
    pg_upsert_into(bench, &table, &name).await
}

async fn pg_upsert_into(bench: &Bench, table: &str, name: &str) -> anyhow::Result<Figure> {
    sqlx::query(&format!(
        "create table if not exists {table} (id bigint primary key, payload text not null)"
    ))
    .execute(&bench.pool)
    .await
    .context("create the upsert table")?;
    let rows = bench.size.upsert_rows;
    let started = Instant::now();
    for batch in 0..rows.div_ceil(1000) {
        let ids: Vec<i64> = (0..1000).map(|i| (batch * 1000 + i) as i64).collect();
        let payloads: Vec<String> = ids.iter().map(|i| format!("payload {i:0>280}")).collect();
        sqlx::query(&format!(
            "insert into {table} (id, payload)
             select * from unnest($1::int8[], $2::text[])
             on conflict (id) do update set payload = excluded.payload"
        ))
        .bind(&ids)
        .bind(&payloads)
        .execute(&bench.pool)
        .await
        .context("upsert a batch")?;
    }
    Ok(Figure::rate(
        name,
        "rows/s",
        rows.div_ceil(1000) * 1000,
        started.elapsed(),
    ))
}

pub(super) async fn delete_stream(bench: &Bench) {
    if let Ok(client) = async_nats::connect(&bench.config.nats_url).await {
        let _ = jetstream::new(client)
            .delete_stream(stream_name(bench))
            .await;
    }
}
