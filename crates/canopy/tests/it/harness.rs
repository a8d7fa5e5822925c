//! The test harness: a real server on port 0 over a fresh database, and
//! helpers that act as citizens, partners and the operator over HTTP.
//!
//! One contract suite, two stores: [`contract!`] turns each test into a
//! `sqlite` and a `postgres` variant of the same code. The PostgreSQL
//! variant gets its own database on the server named by
//! `CANOPY_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! dropped afterwards. Without a reachable PostgreSQL the variant passes
//! without running and says so on stderr, unless
//! `CANOPY_TEST_REQUIRE_POSTGRES=1` (set by `.ci/run`) makes that a failure.

use canopy_server::{App, Config};
use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

/// The operator token every test server uses.
pub const ADMIN_TOKEN: &str = "test-admin-token";
/// The key that seals partner secrets on PostgreSQL test servers and in
/// `canopy` processes (a SQLite test server uses its key file, created next
/// to its database).
pub const SECRET_KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// The password every test citizen uses.
pub const PASSWORD: &str = "correct horse battery";

/// The store a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    static BACKEND: Backend;
}

/// Runs a test body against `backend`.
pub async fn on<F: std::future::Future>(backend: Backend, body: F) -> F::Output {
    BACKEND.scope(backend, body).await
}

/// The store the running test uses.
pub fn backend() -> Backend {
    BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite)
}

/// Generates, for each named `async fn`, a module with a `sqlite` and a
/// `postgres` test running it.
#[macro_export]
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    $crate::harness::on($crate::harness::Backend::Sqlite, super::$name()).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    if $crate::harness::postgres_available().await {
                        $crate::harness::on($crate::harness::Backend::Postgres, super::$name()).await
                    }
                }
            }
        )*
    };
}

/// The PostgreSQL server the tests use (a database on it that exists).
pub fn postgres_admin_url() -> String {
    std::env::var("CANOPY_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Whether PostgreSQL is reachable. When it is not, the first caller says
/// on stderr (uncaptured, so that `cargo test` shows it) that the
/// PostgreSQL half is skipped, or fails if `CANOPY_TEST_REQUIRE_POSTGRES`
/// asks for it.
pub async fn postgres_available() -> bool {
    static AVAILABLE: tokio::sync::OnceCell<Result<(), String>> = tokio::sync::OnceCell::const_new();
    let url = postgres_admin_url();
    let state = AVAILABLE
        .get_or_init(|| async {
            let attempt = tokio::time::timeout(std::time::Duration::from_secs(5), sqlx::PgPool::connect(&url)).await;
            match attempt {
                Ok(Ok(pool)) => {
                    pool.close().await;
                    Ok(())
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timed out after 5 s".to_owned()),
            }
        })
        .await;
    match state {
        Ok(()) => true,
        Err(error) => {
            let required = std::env::var("CANOPY_TEST_REQUIRE_POSTGRES").is_ok_and(|v| !v.is_empty() && v != "0");
            assert!(!required, "CANOPY_TEST_REQUIRE_POSTGRES is set but PostgreSQL at {url} is unreachable: {error}");
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** PostgreSQL at {url} is unreachable ({error}):\n*** the PostgreSQL half of the contract \
                     suite is SKIPPED (its tests pass without running).\n*** Set CANOPY_TEST_POSTGRES_URL, or \
                     CANOPY_TEST_REQUIRE_POSTGRES=1 to make this a failure.\n"
                );
            });
            false
        }
    }
}

/// A fresh, empty database for one test: a SQLite file in a temporary
/// directory, or a PostgreSQL database that is dropped with this value.
pub struct TestDb {
    pub url: String,
    _dir: TempDir,
    postgres_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let dir = TempDir::new().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("canopy.db").display());
                TestDb { url, _dir: dir, postgres_name: None }
            }
            Backend::Postgres => {
                static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let name = format!("canopy_test_{}_{n}_{}", std::process::id(), rand_suffix());
                let admin = sqlx::PgPool::connect(&postgres_admin_url()).await.expect("PostgreSQL answers");
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("test database created");
                admin.close().await;
                TestDb {
                    url: canopy_store::bench::with_database_name(&postgres_admin_url(), &name),
                    _dir: dir,
                    postgres_name: Some(name),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else { return };
        // Drop may run inside the test's runtime: use a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

fn rand_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64);
    format!("{:08x}", hasher.finish() as u32)
}

/// Runs one SQL statement on a test database directly, behind the server's
/// back (to tamper with it, or to hold a lock). Returns the error text.
pub async fn execute_sql(url: &str, sql: &str) -> Result<(), String> {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.map_err(|e| e.to_string())?;
        let done = sqlx::query(sql).execute(&pool).await.map(drop).map_err(|e| e.to_string());
        pool.close().await;
        done
    } else {
        let pool = sqlx::PgPool::connect(url).await.map_err(|e| e.to_string())?;
        let done = sqlx::query(sql).execute(&pool).await.map(drop).map_err(|e| e.to_string());
        pool.close().await;
        done
    }
}

/// Keeps the ingestion writer of every server on `url` from committing
/// until dropped: SQLite's write lock, or PostgreSQL's ingestion advisory
/// lock, held by another connection.
pub struct WriterBlock {
    _connection: Box<dyn std::any::Any + Send>,
}

impl WriterBlock {
    pub async fn hold(url: &str) -> WriterBlock {
        use sqlx::Connection;
        if url.starts_with("sqlite:") {
            let mut connection = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE").execute(&mut connection).await.unwrap();
            WriterBlock { _connection: Box::new(connection) }
        } else {
            let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(0x63_61_6e_6f_70_79_01_i64)
                .execute(&mut connection)
                .await
                .unwrap();
            WriterBlock { _connection: Box::new(connection) }
        }
    }
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub database_url: String,
    pub db: Option<TestDb>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The server's clock: a partner signs with the time the server keeps
    /// (a test's manual clock, or the system's).
    clock: std::sync::Arc<dyn canopy_core::clock::Clock>,
}

/// A partner and its secret.
#[derive(Clone, Debug)]
pub struct Partner {
    pub id: String,
    pub secret: String,
}

/// A citizen and its session token.
#[derive(Clone, Debug)]
pub struct Citizen {
    pub id: String,
    pub username: String,
    pub token: String,
}

/// A response: status, headers and parsed body (JSON, or a string).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The problem `code` of an error response, asserting problem+json.
    pub fn code(&self) -> &str {
        let content_type = self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(content_type, "application/problem+json", "errors are problem+json: {self:?}");
        self.body["code"].as_str().unwrap_or_else(|| panic!("problem without code: {self:?}"))
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let db = TestDb::new(backend()).await;
        let mut server = Self::start_configured(&db.url.clone(), adjust).await;
        server.db = Some(db);
        server
    }

    /// A server on a database the caller owns (the restart test binary's).
    #[allow(dead_code)]
    pub async fn start_on(database_url: &str) -> TestServer {
        Self::start_configured(database_url, |_| {}).await
    }

    async fn start_configured(database_url: &str, adjust: impl FnOnce(&mut Config)) -> TestServer {
        let database_url = database_url.to_owned();
        let mut config = Config::new(&database_url, "127.0.0.1:0");
        config.admin_token = Some(ADMIN_TOKEN.to_owned());
        if database_url.starts_with("postgres") {
            config.secret_key = Some(canopy_server::secrets::SecretKey::from_hex(SECRET_KEY_HEX).expect("a valid key"));
        }
        adjust(&mut config);
        let clock = config.clock.clone();
        let app = App::build(config).await.expect("server builds");
        let base = format!("http://{}", app.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        TestServer {
            base,
            client: reqwest::Client::new(),
            database_url,
            db: None,
            stop: Some(stop),
            handle: Some(handle),
            clock,
        }
    }

    /// Helpers aimed at a server run elsewhere (a `canopy serve` process).
    pub fn external(base: &str) -> TestServer {
        TestServer {
            base: base.to_owned(),
            client: reqwest::Client::new(),
            database_url: String::new(),
            db: None,
            stop: None,
            handle: None,
            clock: std::sync::Arc::new(canopy_core::clock::SystemClock),
        }
    }

    /// Stops the server gracefully and waits for it; the database lives on
    /// with the returned value.
    pub async fn stop(mut self) -> TestDb {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("server stops cleanly");
        }
        self.db.take().expect("a server the harness started")
    }

    pub async fn request(&self, method: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(request.send().await.expect("request sent")).await
    }

    pub async fn raw(&self, method: Method, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        reply(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.request(Method::GET, path, bearer, None).await
    }

    pub async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, bearer, Some(body)).await
    }

    pub async fn create_partner(&self, categories: &[&str]) -> Partner {
        let reply = self
            .post("/v1/partners", Some(ADMIN_TOKEN), json!({ "name": "Test Partner", "categories": categories }))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        Partner {
            id: reply.body["id"].as_str().unwrap().to_owned(),
            secret: reply.body["secret"].as_str().unwrap().to_owned(),
        }
    }

    /// A partner registered for `regions` besides each citizen's own.
    pub async fn create_partner_in(&self, categories: &[&str], regions: &[&str]) -> Partner {
        let body = json!({ "name": "Regional Partner", "categories": categories, "regions": regions });
        let reply = self.post("/v1/partners", Some(ADMIN_TOKEN), body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        Partner {
            id: reply.body["id"].as_str().unwrap().to_owned(),
            secret: reply.body["secret"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn create_citizen(&self, username: &str, region: &str) -> Citizen {
        let reply = self
            .post(
                "/v1/users",
                None,
                json!({ "username": username, "password": PASSWORD, "display_name": username, "region": region }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        let id = reply.body["id"].as_str().unwrap().to_owned();
        let session = self.post("/v1/sessions", None, json!({ "username": username, "password": PASSWORD })).await;
        assert_eq!(session.status, StatusCode::OK, "{session:?}");
        Citizen { id, username: username.to_owned(), token: session.body["token"].as_str().unwrap().to_owned() }
    }

    /// The citizen grants `scopes` to the partner and the partner links `user_ref`.
    pub async fn link(&self, citizen: &Citizen, partner: &Partner, scopes: &[&str], user_ref: &str) {
        let grant = self
            .post("/v1/me/consents", Some(&citizen.token), json!({ "partner_id": partner.id, "scopes": scopes }))
            .await;
        assert_eq!(grant.status, StatusCode::CREATED, "{grant:?}");
        let code = grant.body["link_code"].as_str().unwrap();
        let link = self.signed(partner, "/v1/partner/links", json!({ "link_code": code, "user_ref": user_ref })).await;
        assert_eq!(link.status, StatusCode::CREATED, "{link:?}");
    }

    /// A correctly signed partner POST. The same body signed twice in one
    /// second would carry the same signature (a replay), so a repeated body
    /// gets trailing white space, as a real client's retry would differ.
    pub async fn signed(&self, partner: &Partner, path: &str, body: Value) -> Reply {
        static USED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let mut body = serde_json::to_vec(&body).unwrap();
        let headers = loop {
            let headers = sign_headers(partner, "POST", path, &body, self.clock.now().timestamp());
            let signature = headers[3].1.clone();
            let mut used = USED.lock().unwrap();
            if !used.contains(&signature) {
                used.push(signature);
                break headers;
            }
            body.push(b' ');
        };
        self.raw(Method::POST, path, &headers, body).await
    }

    /// Sends events and returns the reply.
    pub async fn send_events(&self, partner: &Partner, events: Value) -> Reply {
        self.signed(partner, "/v1/partner/events", json!({ "events": events })).await
    }

    /// Sends events, asserts 200, returns the results array.
    pub async fn send_ok(&self, partner: &Partner, events: Value) -> Vec<Value> {
        let reply = self.send_events(partner, events).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        reply.body["results"].as_array().unwrap().clone()
    }

    pub async fn me(&self, citizen: &Citizen) -> Value {
        let reply = self.get("/v1/me", Some(&citizen.token)).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_eq!(reply.body["id"], citizen.id.as_str());
        assert_eq!(reply.body["username"], citizen.username.as_str());
        reply.body
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply { status, headers, body }
}

/// The three partner headers for a request.
pub fn sign_headers(
    partner: &Partner,
    method: &str,
    path: &str,
    body: &[u8],
    timestamp: i64,
) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".to_owned()),
        ("Canopy-Partner", partner.id.clone()),
        ("Canopy-Timestamp", timestamp.to_string()),
        ("Canopy-Signature", canopy_core::signature::sign(partner.secret.as_bytes(), timestamp, method, path, body)),
    ]
}

/// An RFC 3339 time `hours` ago.
pub fn hours_ago(hours: i64) -> String {
    (Utc::now() - Duration::hours(hours)).to_rfc3339()
}

/// One event.
pub fn event(id: &str, user_ref: &str, behavior: &str, inputs: Value) -> Value {
    json!({ "id": id, "user_ref": user_ref, "behavior": behavior, "occurred_at": hours_ago(1), "inputs": inputs })
}
