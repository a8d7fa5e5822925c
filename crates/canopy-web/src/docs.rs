//! For developers (`/docs`): how a partner signs its requests, with a
//! worked example in shell, Python and Rust, and the link to the API
//! reference (Swagger UI over the served OpenAPI document, at `/docs/api/`).

use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;

use crate::layout::page;
use crate::session::Viewer;
use crate::Web;

/// The developers' page.
pub(crate) fn routes() -> Router<Web> {
    Router::new().route("/docs", get(docs))
}

/// The worked example's values, the same in every language.
const SECRET: &str = "whsec_example";
const TIMESTAMP: i64 = 1_767_225_600;
const BODY: &str = r#"{"events":[{"id":"ride-1","user_ref":"u-42","behavior":"shared_bike","occurred_at":"2026-01-01T08:00:00Z","inputs":{"distance_km":3.2}}]}"#;

const SHELL: &str = r#"secret='whsec_example'
timestamp=$(date +%s)
body='{"events":[{"id":"ride-1","user_ref":"u-42","behavior":"shared_bike","occurred_at":"2026-01-01T08:00:00Z","inputs":{"distance_km":3.2}}]}'
body_hash=$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)
signature=$(printf '%s' "$timestamp.POST./v1/partner/events.$body_hash" \
  | openssl dgst -sha256 -hmac "$secret" -hex | sed 's/^.* //')
curl -sS https://canopy.example.cn/v1/partner/events \
  -H 'Content-Type: application/json' \
  -H 'Canopy-Partner: prt_1' \
  -H "Canopy-Timestamp: $timestamp" \
  -H "Canopy-Signature: v1=$signature" \
  --data-binary "$body""#;

const PYTHON: &str = r#"import hashlib, hmac, json, time, urllib.request

secret = b"whsec_example"
body = json.dumps({"events": [{"id": "ride-1", "user_ref": "u-42", "behavior": "shared_bike",
                               "occurred_at": "2026-01-01T08:00:00Z",
                               "inputs": {"distance_km": 3.2}}]}).encode()
timestamp = str(int(time.time()))
signed = f"{timestamp}.POST./v1/partner/events.{hashlib.sha256(body).hexdigest()}"
signature = hmac.new(secret, signed.encode(), hashlib.sha256).hexdigest()
request = urllib.request.Request(
    "https://canopy.example.cn/v1/partner/events", data=body, method="POST",
    headers={"Content-Type": "application/json", "Canopy-Partner": "prt_1",
             "Canopy-Timestamp": timestamp, "Canopy-Signature": f"v1={signature}"})
print(urllib.request.urlopen(request).read().decode())"#;

const RUST: &str = r##"// Cargo.toml: hmac = "0.12", sha2 = "0.10", hex = "0.4", reqwest = { version = "0.12", features = ["blocking"] }
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = b"whsec_example";
    let body = r#"{"events":[{"id":"ride-1","user_ref":"u-42","behavior":"shared_bike","occurred_at":"2026-01-01T08:00:00Z","inputs":{"distance_km":3.2}}]}"#;
    let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let signed = format!("{timestamp}.POST./v1/partner/events.{}", hex::encode(Sha256::digest(body)));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)?;
    mac.update(signed.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let reply = reqwest::blocking::Client::new()
        .post("https://canopy.example.cn/v1/partner/events")
        .header("Content-Type", "application/json")
        .header("Canopy-Partner", "prt_1")
        .header("Canopy-Timestamp", timestamp.to_string())
        .header("Canopy-Signature", format!("v1={signature}"))
        .body(body)
        .send()?;
    println!("{}", reply.text()?);
    Ok(())
}"##;

/// The developers' page (`GET /docs`).
pub async fn docs(v: Viewer) -> Response {
    let signed = canopy_core::signature::signing_string(TIMESTAMP, "POST", "/v1/partner/events", BODY.as_bytes());
    let signature =
        canopy_core::signature::sign(SECRET.as_bytes(), TIMESTAMP, "POST", "/v1/partner/events", BODY.as_bytes());
    let body = html! {
        h1 { (v.t("docs-title")) }
        p { (v.t("docs-intro")) }
        p class="actions" { a class="tab current" href="/docs/api/" { (v.t("docs-reference")) } a class="tab" href="/openapi.json" { (v.t("docs-openapi")) } }
        section class="card" aria-labelledby="signing-title" {
            h2 id="signing-title" { (v.t("docs-signing")) }
            p { (v.t("docs-signing-body")) }
            ol {
                li { (v.t("docs-step-hash")) }
                li { (v.t("docs-step-string")) " " code { "<timestamp>.<METHOD>.<path with query>.<hex SHA-256 of body>" } }
                li { (v.t("docs-step-hmac")) }
                li { (v.t("docs-step-headers")) " " code { "Canopy-Partner" } ", " code { "Canopy-Timestamp" } ", " code { "Canopy-Signature: v1=<hex>" } }
            }
            p { (v.t("docs-replay")) }
        }
        section class="card" aria-labelledby="worked-title" {
            h2 id="worked-title" { (v.t("docs-worked")) }
            p { (v.t("docs-worked-body")) }
            dl class="worked-example" {
                dt { (v.t("docs-secret")) } dd { code { (SECRET) } }
                dt { (v.t("docs-timestamp")) } dd { code { (TIMESTAMP) } }
                dt { (v.t("docs-body")) } dd { pre tabindex="0" { code { (BODY) } } }
                dt { (v.t("docs-string")) } dd { pre tabindex="0" { code id="signing-string" { (signed) } } }
                dt { (v.t("docs-signature")) } dd { pre tabindex="0" { code id="signature" { (signature) } } }
            }
        }
        section class="card" aria-labelledby="shell-title" {
            h2 id="shell-title" { (v.t("docs-shell")) }
            pre class="code" tabindex="0" aria-labelledby="shell-title" { code { (SHELL) } }
        }
        section class="card" aria-labelledby="python-title" {
            h2 id="python-title" { "Python" }
            pre class="code" tabindex="0" aria-labelledby="python-title" { code { (PYTHON) } }
        }
        section class="card" aria-labelledby="rust-title" {
            h2 id="rust-title" { "Rust" }
            pre class="code" tabindex="0" aria-labelledby="rust-title" { code { (RUST) } }
        }
    };
    page(&v, StatusCode::OK, "/docs", &v.t("docs-title"), body)
}
