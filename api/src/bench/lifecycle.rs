//! Scenario 2, the full lifecycle: shops place orders, the routing process
//! of a real `ordo serve` allocates them, stores ship and deliver every
//! parcel, and after each write the shop reads the tracking view ten times,
//! as a peak day looks from outside. Reported: commands/s (the shops' and
//! stores' writes), reads/s, and the latency of each.

use super::baseline::PUBLISH_AWAITED;
use super::measure::{since, usage_of, Figure};
use super::routing::{send, warehouse};
use super::scenario::{start_server, stop_server};
use super::Bench;
use anyhow::Context as _;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LOCATIONS: usize = 2;
const SKUS: usize = 40;
/// Reads of the tracking view after every write.
const READS_PER_WRITE: usize = 10;
/// How often a shop looks again while its order waits for routing, once it
/// has made its ten reads.
const ROUTING_POLL: Duration = Duration::from_millis(20);
/// How long one order may take to be routed before the run fails.
const ROUTING_DEADLINE: Duration = Duration::from_secs(60);

/// What one client measured.
#[derive(Default)]
struct Tally {
    writes: Vec<Duration>,
    reads: Vec<Duration>,
    /// From the placement's answer to the first read that shows it routed.
    routing: Vec<Duration>,
    lifecycles: usize,
}

pub(super) async fn full_lifecycle(
    bench: &Bench,
    baselines: &[Figure],
) -> anyhow::Result<Vec<Figure>> {
    let (server, base) = start_server(bench, true).await?;
    let pid = server.id().map(|p| p.to_string()).unwrap_or_default();
    let http = reqwest::Client::new();
    stock_network(&http, &base).await?;

    let before = usage_of(&pid);
    let running = Arc::new(AtomicBool::new(true));
    let started = Instant::now();
    let clients: Vec<_> = (0..bench.size.http_clients)
        .map(|client| {
            let shop = Shop {
                http: http.clone(),
                base: base.clone(),
            };
            let running = running.clone();
            tokio::spawn(async move { shop.run(client, running).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(bench.size.http_seconds)).await;
    running.store(false, Ordering::Relaxed);
    let mut tally = Tally::default();
    for client in clients {
        let one = client.await.context("lifecycle client")??;
        tally.writes.extend(one.writes);
        tally.reads.extend(one.reads);
        tally.routing.extend(one.routing);
        tally.lifecycles += one.lifecycles;
    }
    let elapsed = started.elapsed();
    let usage = since(before, usage_of(&pid));
    stop_server(server).await?;

    let note = format!(
        "{} clients for {} s, {} orders placed, routed, shipped and delivered; \
         writes are placements, shipments and deliveries (the router's own appends \
         not counted); cpu and rss are the server's (API, projectors, router)",
        bench.size.http_clients, bench.size.http_seconds, tally.lifecycles
    );
    let commands = Figure::rate(
        "full lifecycle: commands",
        "cmds/s",
        tally.writes.len(),
        elapsed,
    )
    .against(baselines, PUBLISH_AWAITED)
    .latencies(&mut tally.writes)
    .usage(usage)
    .note(note);
    let reads = Figure::rate(
        "full lifecycle: tracking reads",
        "reads/s",
        tally.reads.len(),
        elapsed,
    )
    .latencies(&mut tally.reads)
    .note(format!(
        "{READS_PER_WRITE} reads of GET /v1/orders/{{id}} after every write, more while \
         an order waits for routing"
    ));
    let routing = Figure::rate(
        "full lifecycle: placed to routed in GET",
        "orders/s",
        tally.routing.len(),
        elapsed,
    )
    .latencies(&mut tally.routing)
    .note("from the placement's 201 to the first tracking read that shows the allocations");
    Ok(vec![commands, reads, routing])
}

/// Two warehouses with ample stock of every SKU the shops sell.
async fn stock_network(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for i in 0..LOCATIONS {
        let name = format!("Lifecycle warehouse {i}");
        let location = warehouse(&name, 52.0 + i as f64, 13.0 + i as f64);
        send(
            http.put(format!("{base}/v1/locations/life-{i}")),
            "operator",
            &location,
        )
        .await?;
        for sku in 0..SKUS {
            let path = format!("{base}/v1/stock/life-{i}/LIFE-{sku}/receipts");
            send(http.post(path), "store", &json!({ "quantity": 10_000 })).await?;
        }
    }
    Ok(())
}

/// One shop (and the stores that fulfil its orders), one order at a time.
struct Shop {
    http: reqwest::Client,
    base: String,
}

impl Shop {
    async fn run(self, client: usize, running: Arc<AtomicBool>) -> anyhow::Result<Tally> {
        let mut tally = Tally::default();
        let mut n = client * 1_000_000;
        while running.load(Ordering::Relaxed) {
            self.lifecycle(n, &mut tally).await?;
            tally.lifecycles += 1;
            n += 1;
        }
        Ok(tally)
    }

    /// Place, wait for routing, ship each allocation, deliver each parcel.
    async fn lifecycle(&self, n: usize, tally: &mut Tally) -> anyhow::Result<()> {
        let placed = self
            .write(tally, "channel", "/v1/orders".into(), &order_body(n))
            .await?;
        let order_id = placed["order_id"]
            .as_str()
            .context("placement answer without order_id")?
            .to_owned();
        let view = self.read_until_routed(tally, &order_id).await?;

        let parcels = parcels(&view)?;
        for (location, lines) in &parcels {
            let shipment = json!({
                "shipment_id": format!("P-{location}"), "location_id": location,
                "carrier": "DHL", "tracking_number": format!("JJD{n:012}"), "lines": lines
            });
            let path = format!("/v1/orders/{order_id}/shipments");
            self.write(tally, "store", path, &shipment).await?;
            self.reads(tally, &order_id, READS_PER_WRITE).await?;
        }
        for location in parcels.keys() {
            let now = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .context("format the delivery time")?;
            let delivery = json!({ "shipment_id": format!("P-{location}"), "delivered_at": now });
            let path = format!("/v1/orders/{order_id}/deliveries");
            self.write(tally, "store", path, &delivery).await?;
            self.reads(tally, &order_id, READS_PER_WRITE).await?;
        }
        Ok(())
    }

    /// A POST that must succeed; its latency counts as a write.
    async fn write(
        &self,
        tally: &mut Tally,
        role: &str,
        path: String,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let sent = Instant::now();
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(format!("bench-{role}-token-000000"))
            .json(body)
            .send()
            .await
            .with_context(|| format!("post {path}"))?;
        let status = response.status();
        let answer: Value = response.json().await.context("read a write's answer")?;
        anyhow::ensure!(
            status.is_success(),
            "post {path} answered {status}: {answer}"
        );
        tally.writes.push(sent.elapsed());
        Ok(answer)
    }

    /// Reads the tracking view; a 404 (not projected yet) is a read too.
    async fn read(&self, tally: &mut Tally, order_id: &str) -> anyhow::Result<Option<Value>> {
        let sent = Instant::now();
        let response = self
            .http
            .get(format!("{}/v1/orders/{order_id}", self.base))
            .bearer_auth("bench-channel-token-000000")
            .send()
            .await
            .context("read the tracking view")?;
        let status = response.status();
        let view = match status.as_u16() {
            200 => Some(response.json().await.context("parse the tracking view")?),
            404 => None,
            _ => anyhow::bail!("reading order {order_id} answered {status}"),
        };
        tally.reads.push(sent.elapsed());
        Ok(view)
    }

    async fn reads(&self, tally: &mut Tally, order_id: &str, count: usize) -> anyhow::Result<()> {
        for _ in 0..count {
            self.read(tally, order_id).await?;
        }
        Ok(())
    }

    /// Reads at least ten times, and on until the view shows the order
    /// routed (a backorder here would mean the bench's stock ran out).
    async fn read_until_routed(&self, tally: &mut Tally, order_id: &str) -> anyhow::Result<Value> {
        let placed = Instant::now();
        let deadline = placed + ROUTING_DEADLINE;
        let mut routed = None;
        let mut reads = 0;
        loop {
            let view = self.read(tally, order_id).await?;
            reads += 1;
            if let Some(view) = view {
                let status = view["status"].as_str().unwrap_or_default();
                anyhow::ensure!(
                    status == "placed" || status == "routed",
                    "order {order_id} became {status} in the lifecycle bench"
                );
                if status == "routed" {
                    let at = *routed.get_or_insert_with(|| placed.elapsed());
                    if reads >= READS_PER_WRITE {
                        tally.routing.push(at);
                        return Ok(view);
                    }
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "order {order_id} was not routed within {} s",
                ROUTING_DEADLINE.as_secs()
            );
            if reads >= READS_PER_WRITE {
                tokio::time::sleep(ROUTING_POLL).await;
            }
        }
    }
}

/// 1 to 3 lines of the SKUs the network stocks.
fn order_body(n: usize) -> Value {
    let lines: Vec<Value> = (0..1 + n % 3)
        .map(|i| {
            json!({"sku": format!("LIFE-{}", (n * 7 + i * 13) % SKUS),
                "quantity": 1 + (n + i) % 2, "unit_price_minor": 999 + (n * 31 + i) % 9_000})
        })
        .collect();
    json!({
        "customer_id": format!("life-{}", n % 20_000), "channel": "web", "currency": "EUR",
        "lines": lines,
        "shipping_address": {"name": "Bench Customer", "line1": "1 Bench Street",
            "postal_code": "10115", "city": "Berlin", "country": "DE",
            "latitude": 52.5, "longitude": 13.4}
    })
}

/// The routed order's allocations as one parcel per location.
fn parcels(view: &Value) -> anyhow::Result<BTreeMap<String, Vec<Value>>> {
    let allocations = view["allocations"]
        .as_array()
        .context("routed order without allocations")?;
    let mut parcels: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for allocation in allocations {
        let location = allocation["location_id"]
            .as_str()
            .context("allocation without location")?;
        parcels.entry(location.to_owned()).or_default().push(json!({
            "sku": allocation["sku"], "quantity": allocation["quantity"]
        }));
    }
    anyhow::ensure!(!parcels.is_empty(), "routed order with no allocation");
    Ok(parcels)
}
