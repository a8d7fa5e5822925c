//! PostgreSQL faults short of a restart (that one is the `postgres_restart`
//! test binary): a statement or lock wait that runs out of time and an
//! exhausted connection pool are 503s with a code, not hangs, and lose
//! nothing already accepted.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::harness::*;

/// A server with short database timeouts and one HTTP connection.
async fn impatient_server() -> Option<TestServer> {
    if !postgres_available().await {
        return None;
    }
    Some(
        on(Backend::Postgres, async {
            TestServer::start_with(|config| {
                config.store.connections_max = 1;
                config.store.acquire_timeout = Duration::from_millis(300);
                config.store.statement_timeout = Duration::from_millis(1500);
            })
            .await
        })
        .await,
    )
}

/// Another session takes `table` and keeps it until the value is dropped.
async fn lock_table(url: &str, table: &str) -> sqlx::PgConnection {
    let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut connection).await.unwrap();
    sqlx::query(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")).execute(&mut connection).await.unwrap();
    connection
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statement_timeouts_and_pool_exhaustion_are_503_with_a_code() {
    let Some(server) = impatient_server().await else { return };
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("waits", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "w").await;
    let first = server.send_ok(&partner, json!([event("kept", "w", "bus_ride", json!({}))])).await;
    assert_eq!(first[0]["outcome"], "credited");

    // A citizen read waits on a locked table: cancelled after the statement
    // timeout, and a second request finds the only connection taken.
    let lock = lock_table(&server.database_url, "sessions").await;
    let started = Instant::now();
    let (slow, busy) = tokio::join!(server.get("/v1/me", Some(&citizen.token)), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.get("/v1/me", Some(&citizen.token)).await
    });
    assert_eq!(slow.status, StatusCode::SERVICE_UNAVAILABLE, "{slow:?}");
    assert_eq!(slow.code(), "storage_timeout");
    assert_eq!(slow.headers.get("retry-after").unwrap(), "1");
    assert_eq!(busy.status, StatusCode::SERVICE_UNAVAILABLE, "{busy:?}");
    assert_eq!(busy.code(), "storage_busy");
    assert!(started.elapsed() < Duration::from_secs(10), "answers, not hangs");
    drop(lock);
    assert_eq!(server.me(&citizen).await["reduction_grams"], 80);

    // The ingestion writer waits on a locked journal: the batch is refused
    // whole, and sent again once the lock is gone it is credited once.
    let lock = lock_table(&server.database_url, "postings").await;
    let refused = server.send_events(&partner, json!([event("later", "w", "bus_ride", json!({}))])).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "{refused:?}");
    assert_eq!(refused.code(), "storage_timeout");
    drop(lock);
    let again = server
        .send_ok(
            &partner,
            json!([event("later", "w", "bus_ride", json!({})), event("kept", "w", "bus_ride", json!({}))]),
        )
        .await;
    assert_eq!(again[0]["outcome"], "credited");
    assert_eq!(again[1]["outcome"], "duplicate");
    assert_eq!(server.me(&citizen).await["reduction_grams"], 160);
}
