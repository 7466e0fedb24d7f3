//! The end-to-end test harness.
//!
//! [`TestApp::spawn`] gives each test its own namespace (so its own JetStream
//! stream and subjects) and its own PostgreSQL database on the real servers,
//! runs the API and the projector in-process on port 0, and offers typed
//! request helpers. Dropping it deletes the stream and the database.
//!
//! The servers come from `ORDO_TEST_NATS_URL` (default
//! `nats://127.0.0.1:4222`) and `ORDO_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432`).

pub mod commands;

use anyhow::Context as _;
use ordo_api::auth::{Role, Tokens};
use ordo_api::config::{Config, ServeConfig};
use ordo_ledger::{Ledger, LedgerConfig, MasterKey, Namespace};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::future::Future;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub fn nats_url() -> String {
    std::env::var("ORDO_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

pub fn pg_base_url() -> String {
    std::env::var("ORDO_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// The token each role uses in tests.
pub fn token(role: &str) -> String {
    format!("test-{role}-token-0123456789")
}

pub fn test_tokens() -> Tokens {
    let roles = [
        Role::Channel,
        Role::Store,
        Role::Erp,
        Role::Auditor,
        Role::Operator,
    ];
    let tokens: Vec<(Role, String)> = roles.iter().map(|r| (*r, token(r.as_str()))).collect();
    Tokens::from_pairs(tokens.iter().map(|(r, t)| (*r, t.as_str())))
}

/// A fresh namespace and database name, unique per test.
pub fn unique_names() -> (Namespace, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let namespace = Namespace::parse(&format!("t{}", &id[..16])).expect("valid namespace");
    (namespace, format!("ordo_test_{}", &id[..16]))
}

/// A test's own namespace and database, removed on drop.
pub struct Sandbox {
    pub master_key: MasterKey,
    /// The same key as 64 hex characters in a file, for the real binary.
    pub master_key_file: std::path::PathBuf,
    pub namespace: Namespace,
    pub database: String,
    pub ledger: Ledger,
    pub pool: PgPool,
}

impl Sandbox {
    pub async fn create() -> anyhow::Result<Self> {
        let (namespace, database) = unique_names();
        Self::create_named(namespace, database).await
    }

    pub async fn create_named(namespace: Namespace, database: String) -> anyhow::Result<Self> {
        Self::create_with(namespace, database, |_| {}).await
    }

    /// A sandbox whose ledger configuration the test adjusts first.
    pub async fn create_with(
        namespace: Namespace,
        database: String,
        adjust: impl FnOnce(&mut LedgerConfig),
    ) -> anyhow::Result<Self> {
        let pool =
            ordo_api::app::connect_database(&format!("{}/{database}", pg_base_url())).await?;
        ordo_api::app::migrate(&pool).await?;
        let client = async_nats::connect(nats_url())
            .await
            .context("connect to NATS")?;
        let hex_key: String =
            uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string();
        let master_key_file = std::env::temp_dir().join(format!("ordo-master-{namespace}"));
        std::fs::write(&master_key_file, &hex_key).context("write master key file")?;
        let master_key = MasterKey::from_hex(&hex_key)?;
        let mut config = LedgerConfig::new(namespace.clone());
        config.master_key = Some(master_key.clone());
        adjust(&mut config);
        let ledger = Ledger::open(client, config).await?;
        Ok(Self {
            master_key,
            master_key_file,
            namespace,
            database,
            ledger,
            pool,
        })
    }

    pub fn database_url(&self) -> String {
        format!("{}/{}", pg_base_url(), self.database)
    }

    /// A second, empty database for the same namespace (for rebuilds).
    pub async fn scratch_database(&self, suffix: &str) -> anyhow::Result<PgPool> {
        let name = format!("{}_{suffix}", self.database);
        let pool = ordo_api::app::connect_database(&format!("{}/{name}", pg_base_url())).await?;
        ordo_api::app::migrate(&pool).await?;
        Ok(pool)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let stream = self.namespace.stream_name();
        let database = self.database.clone();
        let _ = std::fs::remove_file(&self.master_key_file);
        // Cleanup is async and Drop is not: it runs on a thread and runtime
        // of its own, with connections of its own (the test's runtime is
        // blocked right here, so its NATS client cannot make progress).
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let Ok(runtime) = runtime else { return };
            runtime.block_on(async move {
                if let Ok(client) = async_nats::connect(nats_url()).await {
                    let js = async_nats::jetstream::new(client);
                    let _ = js.delete_stream(&stream).await;
                    let _ = js.delete_stream(format!("KV_{stream}_KEYS")).await;
                }
                let admin = format!("{}/postgres", pg_base_url());
                if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
                    for suffix in ["", "_rebuild", "_crash"] {
                        let sql =
                            format!("drop database if exists {database}{suffix} with (force)");
                        let _ = sqlx::query(&sql).execute(&pool).await;
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// An HTTP answer: status, headers and the JSON body (or `Null`).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Ordo running in-process against the test's sandbox.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub sandbox: Sandbox,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Ordo without the routing process: orders stay placed, and the stream
    /// holds only what the test itself appends.
    pub async fn spawn() -> Self {
        Self::spawn_with(None, false).await
    }

    /// Like `spawn`, with a sealer that seals every `events` events or
    /// `seconds` seconds.
    pub async fn spawn_sealing(events: usize, seconds: u64) -> Self {
        Self::spawn_with(Some((events, seconds)), false).await
    }

    /// Ordo with the routing process and no locations yet.
    pub async fn spawn_with_router() -> Self {
        Self::spawn_with(None, true).await
    }

    /// Ordo with the routing process, and warehouse `wh-1` holding
    /// [`WAREHOUSE_STOCK`] of every SKU of [`order_body`]: orders can be
    /// routed there and shipped from there.
    pub async fn spawn_routing() -> Self {
        let app = Self::spawn_with(None, true).await;
        app.put_location("wh-1", 52.52, 13.40).await;
        for sku in ["SHOE-42", "SOCKS-3PK"] {
            app.receive("wh-1", sku, WAREHOUSE_STOCK).await;
        }
        app
    }

    async fn spawn_with(seal_every: Option<(usize, u64)>, routing: bool) -> Self {
        init_test_logging();
        let sandbox = Sandbox::create().await.expect("create test sandbox");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let address = listener.local_addr().expect("local address");
        let config = ServeConfig {
            common: Config {
                nats_url: nats_url(),
                database_url: sandbox.database_url(),
                namespace: sandbox.namespace.clone(),
                stream_replicas: 1,
                business_tz: "UTC".to_owned(),
            },
            listen: address,
            tokens_file: None,
            master_key_file: None,
            // Tests count stream messages exactly; those that want seals
            // ask for them with `spawn_sealing`.
            seal_every_events: seal_every.map_or(1_000_000, |(events, _)| events),
            seal_every_seconds: seal_every.map_or(3600, |(_, seconds)| seconds),
            dev: false,
            demo: false,
            no_router: !routing,
        };
        let (shutdown, stopped) = oneshot::channel::<()>();
        let master_key = sandbox.master_key.clone();
        let server = tokio::spawn(async move {
            ordo_api::app::serve(&config, test_tokens(), master_key, listener, async {
                let _ = stopped.await;
            })
            .await
        });
        let app = Self {
            base: format!("http://{address}"),
            http: reqwest::Client::new(),
            sandbox,
            shutdown: Some(shutdown),
            server: Some(server),
        };
        eventually(Duration::from_secs(20), || async {
            app.get("/readyz", None).await.status == 200
        })
        .await;
        app
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server result");
        }
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        role: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(role) = role {
            request = request.bearer_auth(token(role));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("send request");
        answer(response).await
    }

    pub async fn get(&self, path: &str, role: Option<&str>) -> Answer {
        self.request(reqwest::Method::GET, path, role, None, &[])
            .await
    }

    pub async fn post(
        &self,
        path: &str,
        role: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Answer {
        self.request(reqwest::Method::POST, path, Some(role), Some(body), headers)
            .await
    }

    pub async fn patch(
        &self,
        path: &str,
        role: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Answer {
        self.request(
            reqwest::Method::PATCH,
            path,
            Some(role),
            Some(body),
            headers,
        )
        .await
    }

    /// Places an order and checks it was created.
    pub async fn place_order(&self, body: &Value) -> Answer {
        let answer = self.post("/v1/orders", "channel", body, &[]).await;
        assert_eq!(answer.status, 201, "{answer:?}");
        answer
    }

    /// The order's tracking view once the projector has reached `position`.
    pub async fn order_at(&self, order_id: &str, position: u64) -> Answer {
        let path = format!("/v1/orders/{order_id}?min_position={position}");
        self.get(&path, Some("channel")).await
    }

    /// Registers (or updates) an active warehouse open every day until
    /// 23:59 UTC, with room for a million orders a day.
    pub async fn put_location(&self, id: &str, latitude: f64, longitude: f64) -> Answer {
        let body = location_body(latitude, longitude);
        let answer = self
            .request(
                reqwest::Method::PUT,
                &format!("/v1/locations/{id}"),
                Some("operator"),
                Some(&body),
                &[],
            )
            .await;
        assert!(matches!(answer.status, 200 | 201), "{answer:?}");
        answer
    }

    /// Reports goods received at a location.
    pub async fn receive(&self, location: &str, sku: &str, quantity: u32) -> Answer {
        let path = format!("/v1/stock/{location}/{sku}/receipts");
        let answer = self
            .post(&path, "store", &json!({ "quantity": quantity }), &[])
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer
    }

    /// Places an order and waits until the routing process has allocated
    /// all of it; returns the order id.
    pub async fn place_routed(&self, body: &Value) -> String {
        let placed = self.place_order(body).await;
        let id = placed.body["order_id"]
            .as_str()
            .expect("order id")
            .to_owned();
        self.wait_for_status(&id, "routed").await;
        id
    }

    /// Waits until the tracking view shows `status`; returns the view.
    pub async fn wait_for_status(&self, order_id: &str, status: &str) -> Answer {
        let path = format!("/v1/orders/{order_id}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let view = self.get(&path, Some("operator")).await;
            if view.body["status"] == status {
                return view;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "order {order_id} did not become {status}: {view:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the routing process has reacted to everything in the
    /// stream, including its own appends, so that the stream is quiet.
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let last = self
                .sandbox
                .ledger
                .last_position()
                .await
                .expect("last position");
            let routed = ordo_projections::checkpoint(&self.sandbox.pool, ordo_projections::ROUTER)
                .await
                .expect("router checkpoint");
            if routed >= last && self.sandbox.ledger.last_position().await.ok() == Some(last) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the router did not settle"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn message_count(&self) -> u64 {
        self.sandbox
            .ledger
            .message_count()
            .await
            .expect("stream message count")
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("read body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// Units of each SKU that `TestApp::spawn_routing` puts into `wh-1`.
pub const WAREHOUSE_STOCK: u32 = 10_000;

/// A warehouse open every day until 23:59 UTC.
pub fn location_body(latitude: f64, longitude: f64) -> Value {
    json!({
        "name": "Test warehouse",
        "kind": "warehouse",
        "coordinates": {"latitude": latitude, "longitude": longitude},
        "timezone": "UTC",
        "daily_capacity": 1_000_000,
        "opening_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "cutoff": "23:59",
        "priority": 0
    })
}

/// A realistic order body.
pub fn order_body(customer: &str) -> Value {
    json!({
        "customer_id": customer,
        "channel": "web",
        "currency": "EUR",
        "lines": [
            {"sku": "SHOE-42", "quantity": 1, "unit_price_minor": 8999},
            {"sku": "SOCKS-3PK", "quantity": 2, "unit_price_minor": 1299}
        ],
        "shipping_address": {
            "name": "Ada Lovelace",
            "line1": "12 St James's Square",
            "postal_code": "SW1Y 4JH",
            "city": "London",
            "country": "GB"
        }
    })
}

/// Polls `check` until it holds, for at most `timeout`; panics otherwise.
pub async fn eventually<F, Fut>(timeout: Duration, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Quiet unless `TEST_LOG` is set.
pub fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        ordo_api::telemetry::init(std::io::stderr, "info");
    } else {
        ordo_api::telemetry::init(std::io::sink, "info");
    }
}
