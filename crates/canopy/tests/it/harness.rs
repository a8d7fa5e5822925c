//! The test harness: a real server on port 0 over a fresh SQLite file, and
//! helpers that act as citizens, partners and the operator over HTTP.

use canopy_server::{App, Config};
use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

/// The operator token every test server uses.
pub const ADMIN_TOKEN: &str = "test-admin-token";
/// The password every test citizen uses.
pub const PASSWORD: &str = "correct horse battery";

/// A running server.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub database_url: String,
    pub dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
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
        let dir = TempDir::new().expect("temp dir");
        let database_url = format!("sqlite://{}", dir.path().join("canopy.db").display());
        let mut config = Config::new(&database_url, "127.0.0.1:0");
        config.admin_token = Some(ADMIN_TOKEN.to_owned());
        adjust(&mut config);
        let app = App::build(config).await.expect("server builds");
        let base = format!("http://{}", app.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        TestServer { base, client: reqwest::Client::new(), database_url, dir, stop: Some(stop), handle: Some(handle) }
    }

    /// Helpers aimed at a server run elsewhere (a `canopy serve` process).
    pub fn external(base: &str) -> TestServer {
        TestServer {
            base: base.to_owned(),
            client: reqwest::Client::new(),
            database_url: String::new(),
            dir: TempDir::new().expect("temp dir"),
            stop: None,
            handle: None,
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) -> TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("server stops cleanly");
        }
        let dir = TempDir::new().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
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
            let headers = sign_headers(partner, "POST", path, &body, Utc::now().timestamp());
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
