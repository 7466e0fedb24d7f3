//! The scenarios: Ordo doing real work, each figure beside its baseline.

use super::baseline::{PG_UPSERT, PUBLISH_AWAITED, PUBLISH_PIPELINED};
use super::measure::{since, usage_of, Figure};
use super::Bench;
use anyhow::Context as _;
use futures::StreamExt;
use ordo_domain::address::RawAddress;
use ordo_domain::order::{ModifyOrder, PlaceOrder, PricedLine};
use ordo_domain::{decide, evolve, Address, ChannelId, Currency, CustomerId, FieldErrors};
use ordo_domain::{Order, OrderCommand, OrderEvent, OrderId, Quantity, Sku};
use ordo_ledger::{decode_event, Actor, ActorKind, CommandContext, Repository};
use ordo_projections::rebuild::{build_until, drop_schema, prepare, READ_MODELS};
use ordo_projections::{checkpoint, OrderViews, ORDER_VIEWS};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RAW_LEDGER_READ: &str = "raw JetStream read of the ledger stream";

fn context() -> CommandContext {
    let actor = Actor {
        kind: ActorKind::Channel,
        id: "bench".into(),
    };
    CommandContext::new(actor, time::OffsetDateTime::now_utc())
}

/// A realistic order body: 2 to 5 lines.
fn order_body(n: usize) -> serde_json::Value {
    let lines: Vec<serde_json::Value> = (0..2 + n % 4)
        .map(|i| {
            serde_json::json!({"sku": format!("SKU-{}", (n * 7 + i * 13) % 5000),
            "quantity": 1 + (n + i) % 3, "unit_price_minor": 499 + (n * 31 + i) % 20_000})
        })
        .collect();
    serde_json::json!({
        "customer_id": format!("c-{}", n % 50_000), "channel": "web", "currency": "EUR",
        "lines": lines,
        "shipping_address": {"name": "Bench Customer", "line1": format!("{} Bench Street", n % 999),
            "postal_code": "10115", "city": "Berlin", "country": "DE",
            "email": "bench@example.com"}
    })
}

fn line(sku: usize, quantity: i64) -> anyhow::Result<PricedLine> {
    Ok(PricedLine {
        sku: Sku::parse(&format!("SKU-{sku}"))?,
        quantity: Quantity::parse(quantity)?,
        unit_price_minor: 100 + sku as i64,
    })
}

fn place_command(order_id: &str, n: usize) -> anyhow::Result<OrderCommand> {
    let raw = RawAddress {
        name: "Bench Customer".into(),
        line1: format!("{n} Bench Street"),
        postal_code: "10115".into(),
        city: "Berlin".into(),
        country: "DE".into(),
        ..RawAddress::default()
    };
    let address = Address::parse(raw, "", &mut FieldErrors::new()).context("bench address")?;
    Ok(OrderCommand::Place(PlaceOrder {
        order_id: OrderId::parse(order_id)?,
        customer_id: CustomerId::parse(&format!("c-{}", n % 50_000))?,
        channel: ChannelId::parse("web")?,
        currency: Currency::parse("EUR").context("EUR")?,
        lines: vec![line(n % 5000, 1)?, line((n + 1) % 5000, 2)?],
        shipping_address: address,
        tracking_token: hex::encode(rand::random::<[u8; 16]>()),
    }))
}

fn modify_command(step: usize) -> anyhow::Result<OrderCommand> {
    let lines = vec![line(step % 5000, 1 + (step % 3) as i64)?];
    Ok(OrderCommand::Modify(ModifyOrder {
        lines: Some(lines),
        shipping_address: None,
    }))
}

async fn run(orders: &Repository<Order>, id: &str, command: OrderCommand) -> anyhow::Result<()> {
    let context = context();
    let now = context.now;
    orders
        .execute(id, &context, |order| decide(order, command.clone(), now))
        .await
        .with_context(|| format!("run a command on {id}"))?;
    Ok(())
}

/// Scenario 1: many clients place orders over HTTP against a real `ordo
/// serve` process; rate, latency, projection lag, and the server's CPU.
pub(super) async fn place_orders_http(
    bench: &Bench,
    baselines: &[Figure],
) -> anyhow::Result<Vec<Figure>> {
    let (server, base) = start_server(bench, false).await?;
    let pid = server.id().map(|p| p.to_string()).unwrap_or_default();
    let before = usage_of(&pid);
    let http = reqwest::Client::new();
    let running = Arc::new(AtomicBool::new(true));
    let lags = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let clients: Vec<_> = (0..bench.size.http_clients)
        .map(|client| {
            let (http, base, running, lags) =
                (http.clone(), base.clone(), running.clone(), lags.clone());
            tokio::spawn(async move { http_client(client, http, base, running, lags).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(bench.size.http_seconds)).await;
    running.store(false, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.context("bench client")??);
    }
    let elapsed = started.elapsed();
    let drain_started = Instant::now();
    let last = bench.ledger.last_position().await?;
    while checkpoint(&bench.pool, ORDER_VIEWS).await? < last {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain = drain_started.elapsed();
    let usage = since(before, usage_of(&pid));
    stop_server(server).await?;

    let placed = latencies.len();
    let orders = Figure::rate("place orders over HTTP", "orders/s", placed, elapsed)
        .against(baselines, PUBLISH_PIPELINED)
        .latencies(&mut latencies)
        .usage(usage)
        .note(format!(
            "{} clients for {} s; cpu and rss are the server process's",
            bench.size.http_clients, bench.size.http_seconds
        ));
    let mut lags = lags.lock().map(|l| l.clone()).unwrap_or_default();
    let lag = Figure::rate(
        "projection lag (201 to visible in GET)",
        "samples/s",
        lags.len(),
        elapsed,
    )
    .latencies(&mut lags)
    .note(format!(
        "drained {:.2} s after the load stopped",
        drain.as_secs_f64()
    ));
    Ok(vec![orders, lag])
}

async fn http_client(
    client: usize,
    http: reqwest::Client,
    base: String,
    running: Arc<AtomicBool>,
    lags: Arc<Mutex<Vec<Duration>>>,
) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    let mut n = client * 1_000_000;
    while running.load(Ordering::Relaxed) {
        let sent = Instant::now();
        let response = http
            .post(format!("{base}/v1/orders"))
            .bearer_auth("bench-channel-token-000000")
            .json(&order_body(n))
            .send()
            .await
            .context("place an order")?;
        anyhow::ensure!(
            response.status() == 201,
            "placing an order answered {}",
            response.status()
        );
        latencies.push(sent.elapsed());
        let body: serde_json::Value = response.json().await.context("read the answer")?;
        if n % 20 == 0 {
            let id = body["order_id"].as_str().unwrap_or_default().to_owned();
            let (http, base, lags) = (http.clone(), base.clone(), lags.clone());
            tokio::spawn(async move {
                let acknowledged = Instant::now();
                for _ in 0..5000 {
                    let get = http
                        .get(format!("{base}/v1/orders/{id}"))
                        .bearer_auth("bench-channel-token-000000")
                        .send()
                        .await;
                    if get.is_ok_and(|r| r.status() == 200) {
                        if let Ok(mut lags) = lags.lock() {
                            lags.push(acknowledged.elapsed());
                        }
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            });
        }
        n += 1;
    }
    Ok(latencies)
}

/// Stops a server from [`start_server`]. One that already exited failed
/// during the scenario, so its figures are not to be trusted: an error.
pub(super) async fn stop_server(mut server: tokio::process::Child) -> anyhow::Result<()> {
    if let Some(status) = server.try_wait().context("check ordo serve")? {
        anyhow::bail!("ordo serve exited during the scenario ({status})");
    }
    server.kill().await.context("stop ordo serve")
}

/// Starts `ordo serve` on the bench's namespace, with or without the
/// routing process. Tokens: `bench-<role>-token-000000`.
pub(super) async fn start_server(
    bench: &Bench,
    routing: bool,
) -> anyhow::Result<(tokio::process::Child, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let tokens = bench.master_key_file.with_extension("tokens");
    let lines: String = ["channel", "store", "operator"]
        .iter()
        .map(|role| format!("{role} bench-{role}-token-000000\n"))
        .collect();
    std::fs::write(&tokens, lines).context("write bench tokens")?;
    let exe = std::env::current_exe().context("find the ordo program")?;
    let child = tokio::process::Command::new(exe)
        .arg("serve")
        .env("ORDO_NATS_URL", &bench.config.nats_url)
        .env("ORDO_DATABASE_URL", &bench.config.database_url)
        .env("ORDO_NAMESPACE", bench.config.namespace.as_str())
        .env("ORDO_LISTEN", format!("127.0.0.1:{port}"))
        .env("ORDO_TOKENS_FILE", &tokens)
        .env("ORDO_MASTER_KEY_FILE", &bench.master_key_file)
        .env("ORDO_NO_ROUTER", if routing { "false" } else { "true" })
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .context("start ordo serve")?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            let _ = std::fs::remove_file(&tokens);
            return Ok((child, base));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("ordo serve did not become ready")
}

/// Scenario 3: thousands of commands on one order; latency at growing history.
pub(super) async fn hot_aggregate(
    bench: &Bench,
    baselines: &[Figure],
) -> anyhow::Result<Vec<Figure>> {
    let orders = Repository::<Order>::new(bench.ledger.clone());
    let id = "hot-order";
    run(&orders, id, place_command(id, 1)?).await?;
    let mut figures = Vec::new();
    let mut history = 1;
    for &mark in bench.size.hot_history {
        while history < mark {
            run(&orders, id, modify_command(history)?).await?;
            history += 1;
        }
        let mut latencies = Vec::new();
        let started = Instant::now();
        for step in 0..100 {
            let sent = Instant::now();
            run(&orders, id, modify_command(history + step)?).await?;
            latencies.push(sent.elapsed());
        }
        history += 100;
        figures.push(
            Figure::rate(
                format!("hot aggregate at {mark} events of history"),
                "cmds/s",
                100,
                started.elapsed(),
            )
            .against(baselines, PUBLISH_AWAITED)
            .latencies(&mut latencies),
        );
    }
    Ok(figures)
}

/// Generates `events` events over orders of 10 events each, from 32 tasks.
async fn generate(bench: &Bench, events: usize) -> anyhow::Result<Vec<String>> {
    let orders = Arc::new(Repository::<Order>::new(bench.ledger.clone()));
    let count = events / 10;
    let ids: Vec<String> = (0..count).map(|i| format!("gen-{i}")).collect();
    let chunks: Vec<Vec<(usize, String)>> = ids
        .iter()
        .cloned()
        .enumerate()
        .collect::<Vec<_>>()
        .chunks(count.div_ceil(32).max(1))
        .map(<[(usize, String)]>::to_vec)
        .collect();
    let tasks = chunks.into_iter().map(|chunk| {
        let orders = orders.clone();
        tokio::spawn(async move {
            for (n, id) in chunk {
                run(&orders, &id, place_command(&id, n)?).await?;
                for step in 1..10 {
                    run(&orders, &id, modify_command(n + step)?).await?;
                }
            }
            anyhow::Ok(())
        })
    });
    for task in futures::future::join_all(tasks).await {
        task.context("generator task")??;
    }
    Ok(ids)
}

/// When a projector's batches were committed, so that a stall (a slow
/// commit, a consumer that stopped delivering) shows in the figure's note
/// instead of only as a low rate.
struct Pace {
    started: Instant,
    batches: Mutex<Batches>,
}

/// What [`Pace`] has seen so far.
struct Batches {
    count: usize,
    /// The last position reported, and when.
    position: u64,
    at: Instant,
    longest_wait: Duration,
    first_after: Option<Duration>,
}

impl Pace {
    /// Starts the clock for a projector that starts at position `from`.
    fn new(from: u64) -> Self {
        let started = Instant::now();
        let batches = Batches {
            count: 0,
            position: from,
            at: started,
            longest_wait: Duration::ZERO,
            first_after: None,
        };
        Self {
            started,
            batches: Mutex::new(batches),
        }
    }

    /// Called at every checkpoint the projector reports.
    fn batch(&self, position: u64) {
        let now = Instant::now();
        let mut batches = self.batches.lock().unwrap_or_else(|e| e.into_inner());
        if position == batches.position {
            return;
        }
        batches.count += 1;
        batches.longest_wait = batches.longest_wait.max(now - batches.at);
        batches.first_after.get_or_insert(now - self.started);
        batches.position = position;
        batches.at = now;
    }

    fn summary(&self) -> String {
        let batches = self.batches.lock().unwrap_or_else(|e| e.into_inner());
        format!(
            "{} batches, the first committed after {:.2} s, the longest wait for one {:.2} s",
            batches.count,
            batches.first_after.unwrap_or_default().as_secs_f64(),
            batches.longest_wait.as_secs_f64()
        )
    }
}

/// Scenario 4, as the bench issue states it: a projector that was current
/// stops, the backlog is appended, and a restarted projector applies it;
/// beside the raw PostgreSQL batched upsert rate measured again just before.
///
/// The projector first catches up on whatever the earlier scenarios left in
/// the stream, so the figure counts the backlog alone. The restart gets a new
/// connection, so it starts as a new process would: nothing cached.
pub(super) async fn catch_up(bench: &Bench, baselines: &[Figure]) -> anyhow::Result<Vec<Figure>> {
    let options = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(
        &bench.config.database_url,
    )?;
    let schema = "bench_catch_up";
    let scratch = prepare(&bench.pool, &options, schema, READ_MODELS[0]).await?;
    let stopped_at = bench.ledger.last_position().await?;
    let current = super::ledger_connection(bench, true).await?;
    build_until(&current, &scratch, OrderViews, stopped_at, &|_, _| {}).await?;
    drop(current);

    generate(bench, bench.size.catch_up_events).await?;
    let target = bench.ledger.last_position().await?;
    let backlog = target - stopped_at;
    let restarted = super::ledger_connection(bench, true).await?;
    let beside = super::baseline::pg_upsert_beside(bench, "catch-up").await?;
    let before = usage_of("self");
    let pace = Pace::new(stopped_at);
    build_until(&restarted, &scratch, OrderViews, target, &|position, _| {
        pace.batch(position)
    })
    .await?;
    let elapsed = pace.started.elapsed();
    let usage = since(before, usage_of("self"));
    scratch.close().await;
    drop_schema(&bench.pool, schema).await?;

    let catch_up = Figure::rate(
        "catch-up: projector applies a backlog",
        "commits/s",
        backlog as usize,
        elapsed,
    );
    let ratio_beside = catch_up.rate / beside.rate.max(1e-9);
    let catch_up = catch_up
        .against(baselines, PG_UPSERT)
        .usage(usage)
        .note(format!(
            "{backlog} commits (one event each) appended while the projector was stopped at \
             position {stopped_at}; {ratio_beside:.2} of the upsert measured again just \
             before it ({:.0} rows/s); {}",
            beside.rate,
            pace.summary()
        ));
    Ok(vec![beside, catch_up])
}

/// Rebuild: the order views built from position 0 beside the live ones, over
/// the whole stream the scenarios left (what `ordo rebuild` does).
pub(super) async fn rebuild(bench: &Bench, baselines: &[Figure]) -> anyhow::Result<Vec<Figure>> {
    let options = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(
        &bench.config.database_url,
    )?;
    let schema = "bench_rebuild";
    let scratch = prepare(&bench.pool, &options, schema, READ_MODELS[0]).await?;
    let target = bench.ledger.last_position().await?;
    let ledger = super::ledger_connection(bench, true).await?;
    let before = usage_of("self");
    let pace = Pace::new(0);
    build_until(&ledger, &scratch, OrderViews, target, &|position, _| {
        pace.batch(position)
    })
    .await?;
    let elapsed = pace.started.elapsed();
    let usage = since(before, usage_of("self"));
    scratch.close().await;
    drop_schema(&bench.pool, schema).await?;
    Ok(vec![Figure::rate(
        "rebuild: order views from position 0",
        "commits/s",
        target as usize,
        elapsed,
    )
    .against(baselines, PG_UPSERT)
    .usage(usage)
    .note(format!(
        "{target} commits, every scenario's: the catch-up's backlog and the earlier \
         scenarios' orders, most of those of a customer new to the projector; {}",
        pace.summary()
    ))])
}

/// Scenario 5: loading single orders (not cached) from a big stream.
pub(super) async fn big_stream_load(
    bench: &Bench,
    _baselines: &[Figure],
) -> anyhow::Result<Vec<Figure>> {
    let have = bench.size.catch_up_events / 10;
    let more = bench.size.big_stream_orders.saturating_sub(have);
    if more > 0 {
        generate(bench, more * 10).await?;
    }
    let orders = Repository::<Order>::new(bench.ledger.clone());
    let total = bench.ledger.message_count().await?;
    let mut latencies = Vec::new();
    let started = Instant::now();
    for i in 0..1000 {
        let id = format!("gen-{}", (i * 7919) % have.max(1));
        let sent = Instant::now();
        orders.load(&id).await?;
        latencies.push(sent.elapsed());
    }
    Ok(vec![Figure::rate(
        "load one order (uncached) from the big stream",
        "loads/s",
        1000,
        started.elapsed(),
    )
    .latencies(&mut latencies)
    .note(format!(
        "stream of {total} commits; each order has 10 events"
    ))])
}

/// Replay (read, open and fold every event) and verify, beside a raw read of
/// the same stream.
pub(super) async fn replay_and_verify(
    bench: &Bench,
    _baselines: &[Figure],
) -> anyhow::Result<Vec<Figure>> {
    let ledger = super::ledger_connection(bench, true).await?;
    let last = ledger.last_position().await?;

    let started = Instant::now();
    let mut raw = ledger.read_raw_from(1).await?;
    let mut messages = 0;
    while let Some(message) = raw.next().await {
        let message = message?;
        messages += 1;
        if message.position >= last {
            break;
        }
    }
    let raw_read = Figure::rate(RAW_LEDGER_READ, "msgs/s", messages, started.elapsed());
    let baselines = vec![raw_read.clone()];

    let started = Instant::now();
    let mut commits = ledger.read_from(1, None, true).await?;
    let mut orders: HashMap<String, Order> = HashMap::new();
    let mut events = 0;
    while let Some(commit) = commits.next().await {
        let mut commit = commit?;
        ledger.unseal(&mut commit).await?;
        for envelope in &commit.envelopes {
            if envelope.aggregate_type == "order" {
                let event: OrderEvent =
                    decode_event::<Order>(envelope).map_err(anyhow::Error::msg)?;
                let order = orders.remove(&envelope.aggregate_id).unwrap_or_default();
                orders.insert(envelope.aggregate_id.clone(), evolve(order, &event));
            }
            events += 1;
        }
        if commit.position >= last {
            break;
        }
    }
    let replay = Figure::rate(
        "replay: read, verify hash, open, fold",
        "events/s",
        events,
        started.elapsed(),
    )
    .against(&baselines, RAW_LEDGER_READ)
    .note(format!("{} orders folded", orders.len()));

    let started = Instant::now();
    let report = ordo_ledger::verify(&ledger, 1, Some(last), |_, _| {}).await?;
    anyhow::ensure!(
        report.is_intact(),
        "the bench ledger does not verify: {:?}",
        report.problems.first()
    );
    let verify = Figure::rate(
        "verify: hashes, links, seals",
        "events/s",
        report.events as usize,
        started.elapsed(),
    )
    .against(&baselines, RAW_LEDGER_READ);
    Ok(vec![raw_read, replay, verify])
}
