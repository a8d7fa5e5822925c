//! PostgreSQL restarts under load: requests in flight fail with a clear 503,
//! nothing acknowledged is lost, and the server reconnects by itself.
//!
//! This is a test binary of its own because it restarts the whole
//! PostgreSQL cluster: cargo runs test binaries one after another, so no
//! other test is disturbed. It restarts the cluster with
//! `CANOPY_TEST_POSTGRES_RESTART` (a shell command) if set, else with
//! `pg_ctlcluster --skip-systemctl-redirect <version> main restart`.

#[allow(dead_code)]
#[path = "it/harness.rs"]
mod harness;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The command that restarts PostgreSQL, if this machine has one.
fn restart_command() -> Option<String> {
    if let Ok(command) = std::env::var("CANOPY_TEST_POSTGRES_RESTART") {
        return Some(command);
    }
    let version = std::fs::read_dir("/etc/postgresql").ok()?.filter_map(|e| e.ok()).next()?.file_name();
    let found = Command::new("sh").args(["-c", "command -v pg_ctlcluster"]).output().ok()?;
    found
        .status
        .success()
        .then(|| format!("pg_ctlcluster --skip-systemctl-redirect {} main restart", version.to_string_lossy()))
}

fn batch(start: usize, size: usize) -> Value {
    json!((start..start + size)
        .map(|i| event(&format!("r-{i}"), "steady", "shared_bike", json!({ "distance_km": 1 })))
        .collect::<Vec<_>>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_loses_nothing_and_the_server_reconnects() {
    if !postgres_available().await {
        return;
    }
    let Some(restart) = restart_command() else {
        let required = std::env::var("CANOPY_TEST_REQUIRE_POSTGRES").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(!required, "cannot restart PostgreSQL here: set CANOPY_TEST_POSTGRES_RESTART");
        eprintln!("no way to restart PostgreSQL here; skipped");
        return;
    };
    let db = TestDb::new(Backend::Postgres).await;
    let server = TestServer::start_on(&db.url).await;
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("steady", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "steady").await;

    // Three writers send 200-event batches, each batch once, until told to stop.
    const BATCH: usize = 200;
    let acknowledged = Arc::new(Mutex::new(Vec::<usize>::new()));
    let unavailable = Arc::new(Mutex::new(Vec::<String>::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for _ in 0..3 {
        let (base, partner) = (server.base.clone(), partner.clone());
        let (acknowledged, unavailable, next, stop) =
            (acknowledged.clone(), unavailable.clone(), next.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let client = TestServer::external(&base);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let start = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) * BATCH;
                let reply = client.send_events(&partner, batch(start, BATCH)).await;
                match reply.status {
                    StatusCode::OK => {
                        let results = reply.body["results"].as_array().unwrap();
                        assert!(results.iter().all(|r| r["outcome"] == "credited"), "{reply:?}");
                        acknowledged.lock().unwrap().push(start);
                    }
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert!(reply.headers.contains_key("retry-after"), "{reply:?}");
                        unavailable.lock().unwrap().push(reply.code().to_owned());
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    other => panic!("unexpected {other}: {reply:?}"),
                }
            }
        }));
    }
    let wait_for = |count: usize| {
        let acknowledged = acknowledged.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while acknowledged.lock().unwrap().len() < count {
                assert!(
                    Instant::now() < deadline,
                    "no progress: {} batches acknowledged",
                    acknowledged.lock().unwrap().len()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_for(5).await;
    let before = acknowledged.lock().unwrap().len();
    let restarted = Command::new("sh")
        .args(["-c", &restart])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("the restart command runs");
    assert!(restarted.status.success(), "{restart}: {}", String::from_utf8_lossy(&restarted.stderr));
    // The server carries on by itself.
    wait_for(before + 10).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    let codes = unavailable.lock().unwrap().clone();
    assert!(codes.iter().all(|c| c.starts_with("storage_")), "503s name the storage: {codes:?}");
    eprintln!("{} batches refused with 503 during the restart: {codes:?}", codes.len());

    // Every batch ever sent is sent again: the acknowledged ones are all
    // duplicates, and each event ends up credited once.
    let acknowledged = acknowledged.lock().unwrap().clone();
    let sent = next.load(std::sync::atomic::Ordering::SeqCst);
    for slot in 0..sent {
        let start = slot * BATCH;
        let results = server.send_ok(&partner, batch(start, BATCH)).await;
        if acknowledged.contains(&start) {
            assert!(results.iter().all(|r| r["outcome"] == "duplicate" && r["grams"] == 250), "batch {start} lost");
        } else {
            assert!(results.iter().all(|r| r["outcome"] == "credited" || r["outcome"] == "duplicate"));
        }
    }
    assert_eq!(server.me(&citizen).await["reduction_grams"], (sent * BATCH * 250) as i64, "each event once");
    let store = canopy_store::Store::connect(&db.url).await.unwrap();
    assert_eq!(store.verify_ledger().await.unwrap(), Vec::<String>::new());
    store.close().await;
}
