//! The ledger as a citizen and the operator see it: every entry numbered in
//! commit order with its unit and cause, and grams that no methodology can
//! make wrap (issue 9, "Postings in the core" and "Grams overflow").

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;
use crate::process::canopy;

/// A methodology whose formula yields 9×10^18 g for `x = 1`: two of them
/// do not fit an `i64`.
const HUGE: &str = r#"
id = "test-huge"
version = "1"
title = "An act worth almost every gram there is (test)"
issuer = "Test Authority"
source = "integration test"
behavior = "huge_act"
category = "transport"
regions = ["*"]
valid_from = 2020-01-01

[inputs.x]
unit = "1"
type = "number"
exclusive_minimum = 0
maximum = 1

[formula]
baseline = "9000000000000000000 * x"
project = "0"
"#;

const HUGE_GRAMS: i64 = 9_000_000_000_000_000_000;

async fn publish_huge(server: &TestServer) {
    let headers = [("content-type", "application/toml".to_owned()), ("authorization", format!("Bearer {ADMIN_TOKEN}"))];
    let published = server.raw(Method::POST, "/v1/methodologies", &headers, HUGE.as_bytes().to_vec()).await;
    assert_eq!(published.status, StatusCode::CREATED, "{published:?}");
}

fn huge(id: &str, user_ref: &str) -> Value {
    event(id, user_ref, "huge_act", json!({ "x": 1 }))
}

fn verify(url: &str) -> std::process::Output {
    canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", url).output().unwrap()
}

async fn huge_grams_never_wrap_a_balance() {
    let server = TestServer::start_with(|config| config.event_grams_max = i64::MAX).await;
    publish_huge(&server).await;
    let partner = server.create_partner(&["transport"]).await;
    let alice = server.create_citizen("huge-alice", "CN-BJ").await;
    let bob = server.create_citizen("huge-bob", "CN-BJ").await;
    server.link(&alice, &partner, &["transport"], "a").await;
    server.link(&bob, &partner, &["transport"], "b").await;

    // Twice in one batch: the sum does not fit, so the batch is refused
    // whole and nothing of it is credited.
    let twice = server.send_events(&partner, json!([huge("h-1", "a"), huge("h-2", "a")])).await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY, "{twice:?}");
    assert_eq!(twice.code(), "grams_overflow");
    assert_eq!(server.me(&alice).await["reduction_grams"], 0);

    // Once fits; the second time, in another batch, does not.
    let once = server.send_ok(&partner, json!([huge("h-3", "a")])).await;
    assert_eq!(once[0]["outcome"], "credited");
    assert_eq!(once[0]["grams"], HUGE_GRAMS);
    let again = server.send_events(&partner, json!([huge("h-4", "a")])).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "{again:?}");
    assert_eq!(again.code(), "grams_overflow");
    // Nor for another citizen: the system's issuance account would overflow.
    let other = server.send_events(&partner, json!([huge("h-5", "b")])).await;
    assert_eq!(other.code(), "grams_overflow");

    // The balances still read, exactly; ordinary credits go on.
    let me = server.me(&alice).await;
    assert_eq!(me["reduction_grams"], HUGE_GRAMS);
    assert_eq!(me["balls_grams"], HUGE_GRAMS);
    let ride = server.send_ok(&partner, json!([event("r-1", "b", "shared_bike", json!({ "distance_km": 2 }))])).await;
    assert_eq!(ride[0]["outcome"], "credited");
    assert_eq!(server.me(&bob).await["reduction_grams"], ride[0]["grams"]);
    // A retry of the refused batch is decided afresh (nothing was stored).
    let retry = server.send_events(&partner, json!([huge("h-4", "a")])).await;
    assert_eq!(retry.code(), "grams_overflow");

    let url = server.database_url.clone();
    let db = server.stop().await;
    let verified = verify(&url);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    drop(db);
}

async fn a_request_that_overflows_does_not_fail_its_group() {
    let server = TestServer::start_with(|config| config.event_grams_max = i64::MAX).await;
    publish_huge(&server).await;
    let partner = server.create_partner(&["transport"]).await;
    let alice = server.create_citizen("group-alice", "CN-BJ").await;
    let bob = server.create_citizen("group-bob", "CN-BJ").await;
    server.link(&alice, &partner, &["transport"], "a").await;
    server.link(&bob, &partner, &["transport"], "b").await;
    server.send_ok(&partner, json!([huge("h-1", "a")])).await;

    // The writer is held, and a first request takes it and waits; the next
    // two queue up behind it and are decided as one group once it is free.
    let block = WriterBlock::hold(&server.database_url).await;
    let send = |body: Value| {
        let (base, partner) = (server.base.clone(), partner.clone());
        tokio::spawn(async move { TestServer::external(&base).send_events(&partner, body).await })
    };
    let first = send(json!([event("r-0", "b", "shared_bike", json!({ "distance_km": 1 }))]));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let bad = send(json!([huge("h-2", "a")]));
    let good = send(json!([event("r-1", "b", "shared_bike", json!({ "distance_km": 2 }))]));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    drop(block);

    assert_eq!(first.await.unwrap().status, StatusCode::OK);
    let bad = bad.await.unwrap();
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    assert_eq!(bad.code(), "grams_overflow");
    let good = good.await.unwrap();
    assert_eq!(good.status, StatusCode::OK, "{good:?}");
    assert_eq!(good.body["results"][0]["outcome"], "credited");
    let bob_grams = server.me(&bob).await["reduction_grams"].as_i64().unwrap();
    assert!(bob_grams > 0);
    assert_eq!(server.me(&alice).await["reduction_grams"], HUGE_GRAMS);
}

async fn every_entry_has_a_gap_free_seq_unit_and_cause() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let alice = server.create_citizen("seq-alice", "CN-BJ").await;
    let bob = server.create_citizen("seq-bob", "CN-BJ").await;
    server.link(&alice, &partner, &["transport"], "a").await;
    server.link(&bob, &partner, &["transport"], "b").await;
    let ride = |id: &str, user_ref: &str, km: i64| event(id, user_ref, "shared_bike", json!({ "distance_km": km }));
    server.send_ok(&partner, json!([ride("a-1", "a", 1), ride("b-1", "b", 2)])).await;
    server.send_ok(&partner, json!([ride("a-2", "a", 3)])).await;

    let mut seqs = Vec::new();
    for (citizen, count) in [(&alice, 4), (&bob, 2)] {
        let page = server.get("/v1/me/ledger?limit=500", Some(&citizen.token)).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        let entries = page.body["entries"].as_array().unwrap();
        assert_eq!(entries.len(), count);
        for entry in entries {
            let seq = entry["seq"].as_i64().unwrap();
            assert_eq!(entry["id"], seq.to_string(), "the id stays the cursor");
            assert!(entry["grams"].as_i64().unwrap() > 0, "credits come in");
            let (kind, unit, account) = match entry["kind"].as_str().unwrap() {
                "reduction_verified" => ("reduction_verified", "g_co2e", "reduction"),
                "energy_issued" => ("energy_issued", "g_energy", "balls"),
                other => panic!("unexpected kind {other}"),
            };
            assert_eq!(entry["kind"], kind);
            assert_eq!(entry["unit"], unit);
            assert_eq!(entry["account"], account);
            assert_eq!(entry["cause"]["kind"], "event");
            assert_eq!(entry["cause"]["reference"], entry["event"]["id"]);
            seqs.push(seq);
        }
        let listed: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert!(listed.windows(2).all(|w| w[0] > w[1]), "newest first: {listed:?}");
    }
    // Both citizens' entries together are 1..6: global and gap-free.
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
    // The newest set is the second batch (its two transfers are 5 and 6).
    let newest = server.get("/v1/me/ledger?limit=2", Some(&alice.token)).await;
    let newest: Vec<&Value> = newest.body["entries"].as_array().unwrap().iter().collect();
    assert!(newest.iter().all(|e| e["event"]["id"] == "a-2"), "{newest:?}");
    assert_eq!(newest.iter().map(|e| e["seq"].as_i64().unwrap()).collect::<Vec<_>>(), [6, 5]);
}

async fn ledger_verify_finds_a_gap_in_the_sequence() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("gap", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "g").await;
    server.send_ok(&partner, json!([event("g-1", "g", "shared_bike", json!({ "distance_km": 2 }))])).await;
    let url = server.database_url.clone();
    let db = server.stop().await;
    assert!(verify(&url).status.success());

    // A set appended behind the ledger's back, numbered past a gap,
    // crediting a citizen without its event, and not filed under the
    // citizen it credits: each is named.
    execute_sql(
        &url,
        r#"INSERT INTO postings (seq, transfers, citizen_a, citizen_b, cause, partner_id, cause_ref, at, legs)
           VALUES (10, 1, NULL, NULL, 'redemption', NULL, 'x', '2026-01-01T00:00:00.000000Z',
                   '[["energy_issued",0,"energy_issuance",1,"energy",5,"g_co2e"]]')"#,
    )
    .await
    .unwrap();
    let broken = verify(&url);
    assert_eq!(broken.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("sequence numbers are not 1..3 without gaps"), "{stderr}");
    assert!(stderr.contains("the transfer counter stands at Some(2) but the journal holds 3"), "{stderr}");
    assert!(stderr.contains("account kind energy does not count in g_co2e"), "{stderr}");
    assert!(stderr.contains("its transfers sum to"), "{stderr}");
    assert!(stderr.contains("the posting set at 10 should start at 3, where the one before ends"), "{stderr}");
    assert!(stderr.contains("the posting set at 10 touches citizen 1 but is not filed under them"), "{stderr}");
    drop(db);
}

async fn ledger_verify_reports_sums_beyond_an_i64_as_findings() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("wide", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "w").await;
    server.send_ok(&partner, json!([event("w-1", "w", "shared_bike", json!({ "distance_km": 2 }))])).await;
    let url = server.database_url.clone();
    let db = server.stop().await;

    // Two forged transfers whose sum does not fit an i64.
    for seq in [3, 4] {
        execute_sql(
            &url,
            &format!(
                r#"INSERT INTO postings (seq, transfers, citizen_a, citizen_b, cause, partner_id, cause_ref, at, legs)
                   VALUES ({seq}, 1, 1, NULL, 'settlement', NULL, 'forged-{seq}', '2026-01-01T00:00:00.000000Z',
                           '[["energy_issued",0,"energy_issuance",1,"energy",9000000000000000000,"g_energy"]]')"#
            ),
        )
        .await
        .unwrap();
    }
    if url.starts_with("sqlite:") {
        // A balance that an overflow turned into a REAL before this release.
        execute_sql(&url, "DROP TRIGGER accounts_stay_integer_update").await.unwrap();
        execute_sql(&url, "UPDATE accounts SET credits = 1.8e19 WHERE kind = 'reduction' AND user_id <> 0")
            .await
            .unwrap();
    }
    let broken = verify(&url);
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert_eq!(broken.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("but its transfers sum to 0 / 18000000000000000"), "{stderr}");
    if url.starts_with("sqlite:") {
        assert!(stderr.contains(":reduction stores totals that are not whole numbers"), "{stderr}");
    }
    drop(db);
}

crate::contract!(
    huge_grams_never_wrap_a_balance,
    ledger_verify_reports_sums_beyond_an_i64_as_findings,
    a_request_that_overflows_does_not_fail_its_group,
    every_entry_has_a_gap_free_seq_unit_and_cause,
    ledger_verify_finds_a_gap_in_the_sequence,
);

/// The journal rows as (seq, posting, kind, credit owner, amount, unit, cause reference), in seq order.
async fn journal(url: &str) -> Vec<(i64, i64, String, i64, i64, String, String)> {
    let sql = "SELECT seq, posting, kind, credit_owner, amount, unit, cause_ref FROM transfers ORDER BY seq";
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let rows = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let rows = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows
    }
}

/// A database made by the first release (migration 0001 only), with two
/// credited events whose old transfer ids interleave across citizens (ids
/// above where fresh id sequences start, so that new rows do not collide).
const OLD_ROWS: &[&str] = &[
    "INSERT INTO users (id, username, password_hash, display_name, region, created_at) VALUES
        (101, 'old-one', 'x', 'One', 'CN-BJ', '2026-01-01T00:00:00.000000Z'),
        (102, 'old-two', 'x', 'Two', 'CN-BJ', '2026-01-01T00:00:00.000000Z')",
    "INSERT INTO partners (id, name, categories, secret, created_at) VALUES
        (101, 'Old', 8, 'secret', '2026-01-01T00:00:00.000000Z')",
    "INSERT INTO events (partner_id, event_id, user_id, behavior, occurred_at, region, inputs, fingerprint,
                         methodology, grams, outcome, received_at) VALUES
        (101, 'first', 102, 'shared_bike', '2026-01-02T00:00:00.000000Z', 'CN-BJ', '{}', NULL,
         'cn-bj-shared-bike@1.0', 500, 'credited', '2026-01-02T00:00:00.000000Z'),
        (101, 'second', 101, 'shared_bike', '2026-01-02T00:00:00.000000Z', 'CN-BJ', '{}', NULL,
         'cn-bj-shared-bike@1.0', 250, 'credited', '2026-01-02T00:00:00.000000Z')",
    "INSERT INTO transfers (user_id, id, kind, debit_user, debit_account, credit_user, credit_account, grams,
                            partner_id, event_id, at) VALUES
        (101, 3, 'reduction_verified', 0, 'reduction_issuance', 101, 'reduction', 250, 101, 'second', '2026-01-02T00:00:01.000000Z'),
        (101, 4, 'energy_issued', 0, 'energy_issuance', 101, 'energy', 250, 101, 'second', '2026-01-02T00:00:01.000000Z'),
        (102, 1, 'reduction_verified', 0, 'reduction_issuance', 102, 'reduction', 500, 101, 'first', '2026-01-02T00:00:00.000000Z'),
        (102, 2, 'energy_issued', 0, 'energy_issuance', 102, 'energy', 500, 101, 'first', '2026-01-02T00:00:00.000000Z')",
    "INSERT INTO accounts (user_id, kind, debits, credits) VALUES
        (0, 'reduction_issuance', 750, 0), (0, 'energy_issuance', 750, 0),
        (101, 'reduction', 0, 250), (101, 'energy', 0, 250), (102, 'reduction', 0, 500), (102, 'energy', 0, 500)",
    "UPDATE sequences SET value = 4 WHERE name = 'transfers'",
];

async fn a_database_of_the_first_release_upgrades_its_journal_in_order() {
    let db = TestDb::new(backend()).await;
    let store = if db.url.starts_with("sqlite:") { "sqlite" } else { "postgres" };
    let first = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../canopy-store/migrations")
        .join(store)
        .join("0001_core.sql");
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::copy(first, dir.path().join("0001_core.sql")).unwrap();
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    if store == "sqlite" {
        use std::str::FromStr;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url).unwrap().create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        migrator.run(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        migrator.run(&pool).await.unwrap();
        pool.close().await;
    }
    for sql in OLD_ROWS {
        execute_sql(&db.url, sql).await.unwrap();
    }

    let migrated = canopy().arg("migrate").env("CANOPY_DATABASE_URL", &db.url).output().unwrap();
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let rows = journal(&db.url).await;
    let expected = [
        (1, 1, "reduction_verified", 102, 500, "g_co2e", "first"),
        (2, 1, "energy_issued", 102, 500, "g_energy", "first"),
        (3, 3, "reduction_verified", 101, 250, "g_co2e", "second"),
        (4, 3, "energy_issued", 101, 250, "g_energy", "second"),
    ]
    .map(|(seq, posting, kind, owner, amount, unit, cause)| {
        (seq, posting, kind.to_owned(), owner, amount, unit.to_owned(), cause.to_owned())
    });
    assert_eq!(rows, expected);
    let verified = verify(&db.url);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    let edit = execute_sql(&db.url, "DELETE FROM postings").await;
    assert!(edit.unwrap_err().contains("append-only"), "the new journal is append-only too");

    // New credits continue the numbering.
    let server = TestServer::start_on(&db.url).await;
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("new-one", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "n").await;
    server.send_ok(&partner, json!([event("n-1", "n", "shared_bike", json!({ "distance_km": 1 }))])).await;
    let page = server.get("/v1/me/ledger", Some(&citizen.token)).await;
    let seqs: Vec<i64> = page.body["entries"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [6, 5]);
    drop(server);
    let verified = verify(&db.url);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
}

crate::contract!(a_database_of_the_first_release_upgrades_its_journal_in_order);
