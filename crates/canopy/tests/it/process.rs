//! The real `canopy` binary: crash safety, clean shutdown and the CLI.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::harness::*;

pub fn canopy() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_canopy"));
    command
        .env_remove("CANOPY_CONFIG")
        .env_remove("CANOPY_ADMIN_TOKEN")
        .env_remove("CANOPY_SECRET_KEY_FILE")
        .env("CANOPY_SECRET_KEY", SECRET_KEY_HEX)
        .env("RUST_LOG", "warn");
    command
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Served {
    pub child: Child,
    pub base: String,
}

pub async fn serve(database_url: &str) -> Served {
    let port = free_port();
    let child = canopy()
        .arg("serve")
        .env("CANOPY_DATABASE_URL", database_url)
        .env("CANOPY_LISTEN", format!("127.0.0.1:{port}"))
        .env("CANOPY_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("canopy serve starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await {
            if response.status() == StatusCode::OK {
                break;
            }
        }
        assert!(Instant::now() < deadline, "canopy serve did not become healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Served { child, base }
}

fn batch(start: usize, size: usize) -> Value {
    json!((start..start + size)
        .map(|i| event(&format!("k-{i}"), "survivor", "shared_bike", json!({ "distance_km": 1 })))
        .collect::<Vec<_>>())
}

async fn a_killed_server_keeps_every_acknowledged_event_exactly_once() {
    let db = TestDb::new(backend()).await;
    let url = db.url.clone();
    let mut served = serve(&url).await;
    let server = TestServer::external(&served.base);
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("survivor", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "survivor").await;

    // Four writers send 500-event batches until the server dies under them.
    const BATCH: usize = 500;
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let base = served.base.clone();
        let partner = partner.clone();
        let acknowledged = acknowledged.clone();
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for round in 0.. {
                let start = (round * 4 + writer) * BATCH;
                let body = serde_json::to_vec(&json!({ "events": batch(start, BATCH) })).unwrap();
                let headers = sign_headers(&partner, "POST", "/v1/partner/events", &body, Utc::now().timestamp());
                let mut request = client.request(Method::POST, format!("{base}/v1/partner/events")).body(body);
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                match request.send().await {
                    Ok(response) if response.status() == StatusCode::OK => {
                        let body: Value = response.json().await.unwrap();
                        assert!(body["results"].as_array().unwrap().iter().all(|r| r["outcome"] == "credited"));
                        acknowledged.lock().unwrap().push(start);
                    }
                    _ => return round * 4 + writer,
                }
            }
            unreachable!()
        }));
    }
    // Let some batches land, then SIGKILL mid-stream.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 8 {
        assert!(Instant::now() < deadline, "no progress before the kill");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    served.child.kill().unwrap();
    served.child.wait().unwrap();
    let mut highest_round = 0;
    for writer in writers {
        highest_round = highest_round.max(writer.await.unwrap());
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 8);

    // Restart on the same file: every batch ever sent is sent again.
    let mut restarted = serve(&url).await;
    let server = TestServer::external(&restarted.base);
    let mut credited_now = 0;
    for slot in 0..=highest_round + 4 {
        let start = slot * BATCH;
        let results = server.send_ok(&partner, batch(start, BATCH)).await;
        let was_acknowledged = acknowledged.contains(&start);
        for r in &results {
            match r["outcome"].as_str().unwrap() {
                "duplicate" => assert_eq!(r["grams"], 250),
                "credited" => {
                    assert!(!was_acknowledged, "acknowledged event {} was lost", r["id"]);
                    credited_now += 1;
                }
                other => panic!("unexpected {other}"),
            }
        }
        if was_acknowledged {
            assert!(results.iter().all(|r| r["outcome"] == "duplicate"));
        }
    }
    let total_events = (highest_round + 5) * BATCH;
    assert!(credited_now <= total_events - acknowledged.len() * BATCH);
    assert_eq!(server.me(&citizen).await["reduction_grams"], (total_events * 250) as i64, "each event once");
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();

    let verify = canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert!(String::from_utf8_lossy(&verify.stdout).starts_with("ledger ok"));
}

async fn sigterm_shuts_the_server_down_cleanly() {
    let db = TestDb::new(backend()).await;
    let url = db.url.clone();
    let mut served = serve(&url).await;
    let pid = served.child.id() as i32;
    // SAFETY-free: libc::kill only sends a signal to our own child.
    #[allow(unsafe_code)]
    let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

async fn the_cli_creates_partners_migrates_and_verifies() {
    let db = TestDb::new(backend()).await;
    let url = db.url.clone();
    for _ in 0..2 {
        let migrate = canopy().arg("migrate").env("CANOPY_DATABASE_URL", &url).output().unwrap();
        assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    }
    let created = canopy()
        .args(["partner", "create", "--name", "Metro Wuhan", "--categories", "transport,food", "--json"])
        .env("CANOPY_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let partner: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert!(partner["id"].as_str().unwrap().starts_with("ptn_"));
    assert_eq!(partner["secret"].as_str().unwrap().len(), 64);

    let bad = canopy()
        .args(["partner", "create", "--name", "X", "--categories", "flying"])
        .env("CANOPY_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown category"));

    let verify = canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    assert!(verify.status.success());
}

async fn ledger_verify_names_what_is_wrong() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("tampered", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "t").await;
    server.send_ok(&partner, json!([event("t-1", "t", "shared_bike", json!({ "distance_km": 2 }))])).await;
    let url = server.database_url.clone();
    let db = server.stop().await;

    let clean = canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stderr));

    // Someone edits a balance behind the ledger's back.
    execute_sql(&url, "UPDATE accounts SET credits = credits + 1000 WHERE kind = 'balls' AND user_id <> 0")
        .await
        .unwrap();
    // And the journal refuses edits outright.
    let edit = execute_sql(&url, "UPDATE postings SET at = 'x'").await;
    assert!(edit.unwrap_err().contains("append-only"));
    let delete = execute_sql(&url, "DELETE FROM postings").await;
    assert!(delete.unwrap_err().contains("append-only"));

    let broken = canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    assert_eq!(broken.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("debits"), "{stderr}");
    assert!(stderr.contains(":balls stores debits 0 / credits 1500 but its transfers sum to 0 / 500"), "{stderr}");
    assert!(stderr.contains("balls account stores debits 0 / credits 1500 but their balls took in 500 g"), "{stderr}");
    drop(db);
}

#[test]
fn an_unopenable_database_is_a_one_line_error() {
    let output =
        canopy().arg("migrate").env("CANOPY_DATABASE_URL", "sqlite:///proc/no-such-dir/canopy.db").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("canopy: cannot open the database at sqlite:///proc/no-such-dir/canopy.db"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn bad_settings_are_refused_with_a_one_line_error() {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("settings.db").display());
    for (variable, value, message) in [
        ("CANOPY_GROUP_LINGER_MS", "500", "group_linger_ms must be at most 100"),
        ("CANOPY_QUEUE_EVENTS_MAX", "5", "queue_events_max must hold at least one full batch"),
        ("CANOPY_TIMEZONE", "Mars", "timezone `Mars` is not an offset"),
        ("CANOPY_DB_STATEMENT_TIMEOUT_MS", "0", "db_statement_timeout_ms must be positive"),
        ("CANOPY_BALL_RIPENS", "tomorrow", "CANOPY_BALL_RIPENS"),
        ("CANOPY_BALL_RIPEN_HOUR", "24", "CANOPY_BALL_RIPEN_HOUR"),
        ("CANOPY_BALL_LIFETIME_S", "0", "CANOPY_BALL_LIFETIME_S"),
    ] {
        // `serve` reads every one of these settings; a bad one stops it
        // before it listens.
        let output = crate::cli::output_within(
            canopy()
                .arg("serve")
                .env("CANOPY_DATABASE_URL", &url)
                .env("CANOPY_LISTEN", "127.0.0.1:0")
                .env(variable, value),
            60,
        );
        assert!(!output.status.success(), "{variable}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{variable}={value}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    // A good value is taken.
    let output =
        canopy().arg("migrate").env("CANOPY_DATABASE_URL", &url).env("CANOPY_DB_STATEMENT_TIMEOUT_MS", "1").output();
    assert!(output.unwrap().status.success());
}

#[test]
fn ledger_verify_refuses_a_database_that_does_not_exist() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("typo").join("nothere.db");
    let output = canopy()
        .args(["ledger", "verify"])
        .env("CANOPY_DATABASE_URL", format!("sqlite://{}", missing.display()))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("there is no database at"));
    assert!(!missing.exists(), "verify must not create the file it was asked to check");
}

#[test]
fn an_unreachable_postgres_is_a_one_line_error_naming_the_url_without_its_password() {
    for command in ["migrate", "serve"] {
        let started = Instant::now();
        let output = canopy()
            .arg(command)
            .env("CANOPY_DATABASE_URL", "postgres://canopy:hunter2@127.0.0.1:1/db")
            .env("CANOPY_LISTEN", "127.0.0.1:0")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{command}");
        assert!(started.elapsed() < Duration::from_secs(30), "{command} gave up in time");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(
            stderr.starts_with("canopy: cannot open the database at postgres://canopy:***@127.0.0.1:1/db"),
            "{stderr}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}

async fn bench_ingest_reports_every_figure_as_json() {
    // SQLite: fresh files in a temporary directory (the default database is
    // never touched); PostgreSQL: fresh databases on the server.
    // The form the README documents: `bench ingest --database sqlite|postgres://…`.
    let (database, store) = match backend() {
        Backend::Sqlite => ("sqlite".to_owned(), "sqlite"),
        Backend::Postgres => (postgres_admin_url(), "postgres"),
    };
    let output = canopy()
        .args(["bench", "ingest", "--database", &database])
        .args(["--events", "2000", "--citizens", "50", "--single-rate", "50", "--single-seconds", "1", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["store"], store);
    // It says where its databases are, as every command that opens one does.
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("canopy: benchmarking on fresh"), "{said}");
    for key in [
        "credited_events_per_s",
        "http_credited_events_per_s",
        "raw_rows_per_s",
        "ratio",
        "p50_ms",
        "p99_ms",
        "single_p50_ms",
        "single_p99_ms",
    ] {
        assert!(report[key].as_f64().is_some_and(|v| v > 0.0), "{key} in {report}");
    }
    assert_eq!(report["events"], 2000);
}

crate::contract!(
    a_killed_server_keeps_every_acknowledged_event_exactly_once,
    sigterm_shuts_the_server_down_cleanly,
    the_cli_creates_partners_migrates_and_verifies,
    ledger_verify_names_what_is_wrong,
    bench_ingest_reports_every_figure_as_json,
);
