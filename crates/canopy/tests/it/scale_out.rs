//! Several `canopy serve` processes on one PostgreSQL database (SQLite is
//! the single-process embedded store): overlapping
//! batches are credited exactly once, caps stay exact, a replayed signature
//! is refused by whichever process sees it second, and balances never go
//! negative.

use std::collections::HashMap;

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;
use crate::process::{canopy, serve};

/// A day's worth of e-payments (capped at 10 a day) and rides (fingerprinted)
/// for one citizen, as batches.
fn batches(rounds: usize) -> Vec<Value> {
    let morning = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    (0..rounds)
        .map(|round| {
            let mut events = Vec::new();
            for i in 0..100 {
                let mut ride = event(&format!("ride-{round}-{i}"), "both", "shared_bike", json!({ "distance_km": 2 }));
                ride["fingerprint"] = json!(format!("trip-{round}-{i}"));
                events.push(ride);
            }
            for i in 0..4 {
                events.push(json!({
                    "id": format!("pay-{round}-{i}"), "user_ref": "both", "behavior": "e_payment",
                    "occurred_at": morning, "inputs": { "amount_yuan": 20 }
                }));
            }
            json!(events)
        })
        .collect()
}

async fn send_signed(base: &str, partner: &Partner, body: &[u8], headers: &[(&str, String)]) -> Reply {
    let client = reqwest::Client::new();
    let mut request = client.request(Method::POST, format!("{base}/v1/partner/events")).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let _ = partner;
    reply(request.send().await.expect("request sent")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_postgres_database_credit_each_event_once() {
    if !postgres_available().await {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    // Both start at once: migrations take turns under the migrator's lock.
    let (mut a, mut b) = tokio::join!(serve(&db.url), serve(&db.url));
    let (server_a, server_b) = (TestServer::external(&a.base), TestServer::external(&b.base));
    let partner = server_a.create_partner(&["transport", "digital_finance"]).await;
    let citizen = server_b.create_citizen("twice", "CN-BJ").await;
    server_a.link(&citizen, &partner, &["transport", "digital_finance"], "both").await;

    // The same events, signed apart, to both servers at once.
    let mut credited: HashMap<String, i64> = HashMap::new();
    let mut duplicates = 0;
    for batch in batches(6) {
        let (from_a, from_b) =
            tokio::join!(server_a.send_ok(&partner, batch.clone()), server_b.send_ok(&partner, batch));
        for (ra, rb) in from_a.iter().zip(&from_b) {
            assert_eq!(ra["id"], rb["id"]);
            let outcomes = [ra["outcome"].as_str().unwrap(), rb["outcome"].as_str().unwrap()];
            let first = if outcomes[1] == "duplicate" { ra } else { rb };
            assert!(outcomes.contains(&"duplicate"), "one of the two is a duplicate: {ra} {rb}");
            assert_ne!(outcomes, ["duplicate", "duplicate"], "and one of them decided it: {ra} {rb}");
            assert_eq!(ra["grams"], rb["grams"], "the duplicate returns the original grams");
            credited.insert(first["id"].as_str().unwrap().to_owned(), first["grams"].as_i64().unwrap());
            duplicates += 1;
        }
    }
    assert_eq!(duplicates, 6 * 104);
    // 600 rides at 500 g; the cap lets 10 of the 24 payments through at 5 g.
    let payments: Vec<_> = credited.iter().filter(|(id, _)| id.starts_with("pay-")).map(|(_, g)| *g).collect();
    assert_eq!(payments.iter().filter(|g| **g == 5).count(), 10, "the daily cap holds across servers");
    assert_eq!(payments.iter().filter(|g| **g == 0).count(), 14);
    let total: i64 = credited.values().sum();
    assert_eq!(total, 600 * 500 + 10 * 5);
    assert_eq!(server_a.me(&citizen).await["reduction_grams"], total);
    assert_eq!(server_b.me(&citizen).await["balls_grams"], total);

    // One signed request replayed to the other server at once: exactly one
    // of them accepts it.
    let body = serde_json::to_vec(&json!({ "events": [event("replayed", "both", "bus_ride", json!({}))] })).unwrap();
    let headers = sign_headers(&partner, "POST", "/v1/partner/events", &body, Utc::now().timestamp());
    let (ra, rb) =
        tokio::join!(send_signed(&a.base, &partner, &body, &headers), send_signed(&b.base, &partner, &body, &headers));
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED], "{ra:?} {rb:?}");
    let refused = if ra.status == StatusCode::UNAUTHORIZED { &ra } else { &rb };
    assert_eq!(refused.code(), "replayed_request");
    assert_eq!(server_b.me(&citizen).await["reduction_grams"], total + 80);

    for served in [&mut a, &mut b] {
        served.child.kill().unwrap();
        served.child.wait().unwrap();
    }
    let verify = canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", &db.url).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
}
