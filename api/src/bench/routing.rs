//! The hot-SKU burst: one popular SKU at five locations, thousands of
//! single-unit orders at once over HTTP, routed by the routing process of a
//! real `ordo serve`. A quarter of the orders find stock; the rest are
//! backordered. Reported: decisions per second (routed or backordered) and
//! the latency from placement to the decision, beside the raw JetStream
//! append rate (awaited one at a time, as the router appends).

use super::baseline::PUBLISH_AWAITED;
use super::measure::{since, usage_of, Figure};
use super::scenario::{start_server, stop_server};
use super::Bench;
use anyhow::Context as _;
use futures::StreamExt;
use ordo_projections::{checkpoint, ROUTER};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const SKU: &str = "BURST-HOT";
const LOCATIONS: usize = 5;
const CLIENTS: usize = 64;

pub(super) async fn hot_sku_burst(
    bench: &Bench,
    baselines: &[Figure],
) -> anyhow::Result<Vec<Figure>> {
    let (server, base) = start_server(bench, true).await?;
    let pid = server.id().map(|p| p.to_string()).unwrap_or_default();
    let http = reqwest::Client::new();
    let orders = bench.size.burst_orders;
    let units = (orders / 4 / LOCATIONS).max(1);
    stock_network(&http, &base, units).await?;
    let first_position = bench.ledger.last_position().await? + 1;

    let before = usage_of(&pid);
    let started = Instant::now();
    let placed = futures::stream::iter(0..orders)
        .map(|n| place(&http, &base, n))
        .buffer_unordered(CLIENTS)
        .collect::<Vec<_>>()
        .await;
    for result in placed {
        result?;
    }
    wait_for_router(bench).await?;
    let elapsed = started.elapsed();
    let usage = since(before, usage_of(&pid));
    stop_server(server).await?;

    let decisions = decisions(bench, first_position).await?;
    let routed = decisions.routed;
    let mut latencies = decisions.latencies;
    let figure = Figure::rate(
        "hot-SKU burst: orders routed or backordered",
        "orders/s",
        latencies.len(),
        elapsed,
    )
    .against(baselines, PUBLISH_AWAITED)
    .latencies(&mut latencies)
    .usage(usage)
    .note(format!(
        "{orders} one-unit orders of one SKU from {CLIENTS} clients, {LOCATIONS} locations \
         x {units} units: {routed} routed, the rest backordered; latency is placement to \
         decision (server clock); cpu and rss are the server's (API, projectors, router)"
    ));
    Ok(vec![figure])
}

pub(super) async fn send(
    request: reqwest::RequestBuilder,
    role: &str,
    body: &Value,
) -> anyhow::Result<()> {
    let response = request
        .bearer_auth(format!("bench-{role}-token-000000"))
        .json(body)
        .send()
        .await
        .context("send a bench request")?;
    let status = response.status();
    if !status.is_success() {
        let problem = response.text().await.unwrap_or_default();
        anyhow::bail!("bench request answered {status}: {problem}");
    }
    Ok(())
}

async fn stock_network(http: &reqwest::Client, base: &str, units: usize) -> anyhow::Result<()> {
    for i in 0..LOCATIONS {
        let location = warehouse(
            &format!("Burst warehouse {i}"),
            48.0 + i as f64,
            9.0 + i as f64,
        );
        let path = format!("{base}/v1/locations/burst-{i}");
        send(http.put(path), "operator", &location).await?;
        let receipt = json!({ "quantity": units });
        let path = format!("{base}/v1/stock/burst-{i}/{SKU}/receipts");
        send(http.post(path), "store", &receipt).await?;
    }
    Ok(())
}

/// A warehouse open every day until 23:59, with the most daily capacity a
/// location may have, so that only stock limits a bench's routing.
pub(super) fn warehouse(name: &str, latitude: f64, longitude: f64) -> Value {
    json!({
        "name": name, "kind": "warehouse",
        "coordinates": {"latitude": latitude, "longitude": longitude},
        "timezone": "UTC", "daily_capacity": 1_000_000,
        "opening_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "cutoff": "23:59", "priority": 0
    })
}

async fn place(http: &reqwest::Client, base: &str, n: usize) -> anyhow::Result<()> {
    let body = json!({
        "order_id": format!("burst-{n:06}"), "customer_id": format!("c-{}", n % 5_000),
        "channel": "web", "currency": "EUR",
        "lines": [{"sku": SKU, "quantity": 1, "unit_price_minor": 2_999}],
        "shipping_address": {"name": "Bench Customer", "line1": "1 Bench Street",
            "postal_code": "10115", "city": "Berlin", "country": "DE",
            "latitude": 52.5, "longitude": 13.4}
    });
    send(http.post(format!("{base}/v1/orders")), "channel", &body).await
}

/// Waits until the router has read the whole stream, its own appends
/// included, and the stream has stopped growing.
async fn wait_for_router(bench: &Bench) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let last = bench.ledger.last_position().await?;
        let routed = checkpoint(&bench.pool, ROUTER).await?;
        if routed >= last && bench.ledger.last_position().await? == last {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the router did not finish the burst"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Each order's first routing decision, read back from the ledger.
struct Decisions {
    routed: usize,
    latencies: Vec<Duration>,
}

async fn decisions(bench: &Bench, from: u64) -> anyhow::Result<Decisions> {
    let last = bench.ledger.last_position().await?;
    let mut commits = bench.ledger.read_from(from, None, false).await?;
    let mut placed: HashMap<String, OffsetDateTime> = HashMap::new();
    let mut decided: HashMap<String, OffsetDateTime> = HashMap::new();
    let mut routed = 0;
    while let Some(commit) = commits.next().await {
        let commit = commit?;
        for envelope in &commit.envelopes {
            let id = envelope.aggregate_id.clone();
            match envelope.event_type.as_str() {
                "OrderPlaced" => {
                    placed.insert(id, envelope.recorded_at);
                }
                "OrderRouted" | "OrderBackordered" if !decided.contains_key(&id) => {
                    routed += usize::from(envelope.event_type == "OrderRouted");
                    decided.insert(id, envelope.recorded_at);
                }
                _ => {}
            }
        }
        if commit.position >= last {
            break;
        }
    }
    let latencies = decided
        .iter()
        .filter_map(|(id, at)| {
            let waited = *at - *placed.get(id)?;
            Some(Duration::from_secs_f64(waited.as_seconds_f64().max(0.0)))
        })
        .collect();
    Ok(Decisions { routed, latencies })
}
