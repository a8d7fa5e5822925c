//! Funded pools and daily check-ins (issue 10): the operator funds a pool
//! from a named sponsor; a citizen checks in once per local day, streaks
//! continue across midnight and month ends, and milestone rewards are paid
//! from the check-in pool, never beyond what it holds.

use std::sync::Arc;

use canopy_core::clock::ManualClock;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;
use crate::process::canopy;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

pub(crate) async fn admin(server: &TestServer, method: Method, path: &str, body: Value) -> Reply {
    let headers = [("authorization", format!("Bearer {ADMIN_TOKEN}")), ("content-type", "application/json".to_owned())];
    server.raw(method, path, &headers, serde_json::to_vec(&body).unwrap()).await
}

pub(crate) async fn check_in(server: &TestServer, citizen: &Citizen, body: Option<Value>) -> Reply {
    let mut headers = vec![("authorization", format!("Bearer {}", citizen.token))];
    let bytes = match body {
        Some(body) => {
            headers.push(("content-type", "application/json".to_owned()));
            serde_json::to_vec(&body).unwrap()
        }
        None => Vec::new(),
    };
    server.raw(Method::POST, "/v1/me/checkins", &headers, bytes).await
}

async fn pools_are_created_and_funded_by_the_operator() {
    let server = TestServer::start().await;
    let created =
        admin(&server, Method::POST, "/v1/pools", json!({ "name": "Green Week", "sponsor": "Acme Bikes" })).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.body["unit"], "energy_grams");
    assert_eq!(created.body["balance"], 0);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("pool_"), "{id}");

    let funded = admin(&server, Method::POST, &format!("/v1/pools/{id}/fund"), json!({ "amount": 5000 })).await;
    assert_eq!((funded.status, &funded.body["balance"]), (StatusCode::OK, &json!(5000)), "{funded:?}");
    let again = admin(&server, Method::POST, &format!("/v1/pools/{id}/fund"), json!({ "amount": 250 })).await;
    assert_eq!(again.body["balance"], 5250);

    let fen =
        admin(&server, Method::POST, "/v1/pools", json!({ "name": "Vouchers", "sponsor": "City", "unit": "fen" }))
            .await;
    assert_eq!((fen.status, &fen.body["unit"]), (StatusCode::CREATED, &json!("fen")));
    let listed =
        server.raw(Method::GET, "/v1/pools", &[("authorization", format!("Bearer {ADMIN_TOKEN}"))], vec![]).await;
    let pools = listed.body["pools"].as_array().unwrap();
    assert_eq!(pools.len(), 2);
    assert_eq!(pools[0]["balance"], 5250);

    for (body, code) in [
        (json!({ "name": "", "sponsor": "x" }), "invalid_pool"),
        (json!({ "name": "x", "sponsor": "y", "unit": "yuan" }), "invalid_unit"),
        (json!({ "name": "x", "sponsor": "y", "purpose": "lottery" }), "invalid_pool"),
        (json!({ "name": "x", "sponsor": "y", "unit": "fen", "purpose": "checkins" }), "invalid_pool"),
    ] {
        let refused = admin(&server, Method::POST, "/v1/pools", body.clone()).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, code), "{body}");
    }
    for amount in [json!(0), json!(-5), json!(1_000_000_000_001_i64)] {
        let refused = admin(&server, Method::POST, &format!("/v1/pools/{id}/fund"), json!({ "amount": amount })).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, "invalid_amount"), "{amount}");
    }
    let unknown = admin(&server, Method::POST, "/v1/pools/pool_999/fund", json!({ "amount": 1 })).await;
    assert_eq!((unknown.status, unknown.code()), (StatusCode::NOT_FOUND, "pool_not_found"));
    let first =
        admin(&server, Method::POST, "/v1/pools", json!({ "name": "a", "sponsor": "b", "purpose": "checkins" })).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second =
        admin(&server, Method::POST, "/v1/pools", json!({ "name": "c", "sponsor": "d", "purpose": "checkins" })).await;
    assert_eq!((second.status, second.code()), (StatusCode::CONFLICT, "pool_exists"));
    let citizen = server.create_citizen("pool-peeker", "CN-BJ").await;
    let forbidden =
        server.raw(Method::POST, "/v1/pools", &[("authorization", format!("Bearer {}", citizen.token))], vec![]).await;
    assert_eq!(forbidden.status, StatusCode::UNAUTHORIZED);

    let url = server.database_url.clone();
    let db = server.stop().await;
    let verified = canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    drop(db);
}

async fn streaks_cross_midnight_and_month_ends_and_milestones_pay_from_the_pool() {
    // Beijing is UTC+8: 15:59Z is 23:59 local, 16:01Z is 00:01 the next day.
    let clock = ManualClock::new(at("2026-01-30T15:59:00Z"));
    let shared = clock.clone();
    let server = TestServer::start_with(move |config| {
        config.clock = Arc::new(shared);
        config.session_ttl_s = 30 * 24 * 3600;
        config.game.set("checkin_rewards", "3:40,4:100").unwrap();
    })
    .await;
    let pool = admin(
        &server,
        Method::POST,
        "/v1/pools",
        json!({ "name": "Check-ins", "sponsor": "City", "purpose": "checkins" }),
    )
    .await;
    let pool_id = pool.body["id"].as_str().unwrap().to_owned();
    admin(&server, Method::POST, &format!("/v1/pools/{pool_id}/fund"), json!({ "amount": 120 })).await;
    let citizen = server.create_citizen("streaky", "CN-BJ").await;

    let first = check_in(&server, &citizen, None).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    assert_eq!(
        first.body,
        json!({ "date": "2026-01-30", "streak_days": 1, "reward_grams": 0, "reward_unpaid_grams": 0 })
    );
    let twice = check_in(&server, &citizen, Some(json!({}))).await;
    assert_eq!((twice.status, twice.code()), (StatusCode::CONFLICT, "already_checked_in"));

    // Two minutes later it is the 31st in Beijing: the streak goes on.
    clock.set(at("2026-01-30T16:01:00Z"));
    let second = check_in(&server, &citizen, Some(json!({ "note": "rode to work" }))).await;
    assert_eq!((second.body["date"].as_str(), second.body["streak_days"].as_i64()), (Some("2026-01-31"), Some(2)));
    // Across the month end, the third day is a milestone: 40 g from the pool.
    clock.set(at("2026-02-01T02:00:00Z"));
    let third = check_in(&server, &citizen, None).await;
    assert_eq!(
        third.body,
        json!({ "date": "2026-02-01", "streak_days": 3, "reward_grams": 40, "reward_unpaid_grams": 0 })
    );
    assert_eq!(server.me(&citizen).await["energy_grams"], 40);
    // The fourth day's 100 g is more than the 80 g left: nothing is paid.
    clock.set(at("2026-02-02T02:00:00Z"));
    let fourth = check_in(&server, &citizen, None).await;
    assert_eq!(
        fourth.body,
        json!({ "date": "2026-02-02", "streak_days": 4, "reward_grams": 0, "reward_unpaid_grams": 100 })
    );
    assert_eq!(server.me(&citizen).await["energy_grams"], 40);
    let pools =
        server.raw(Method::GET, "/v1/pools", &[("authorization", format!("Bearer {ADMIN_TOKEN}"))], vec![]).await;
    assert_eq!(pools.body["pools"][0]["balance"], 80, "the pool never goes below zero");
    // A missed day starts again from one.
    clock.set(at("2026-02-04T02:00:00Z"));
    let restart = check_in(&server, &citizen, None).await;
    assert_eq!((restart.body["date"].as_str(), restart.body["streak_days"].as_i64()), (Some("2026-02-04"), Some(1)));

    // The reward is a ledger entry from the pool, labelled as a reward.
    let ledger = server.get("/v1/me/ledger", Some(&citizen.token)).await;
    let rewards: Vec<&Value> =
        ledger.body["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "reward_paid").collect();
    assert_eq!(rewards.len(), 1, "{ledger:?}");
    assert_eq!((rewards[0]["grams"].as_i64(), rewards[0]["account"].as_str()), (Some(40), Some("energy")));
    assert_eq!(server.me(&citizen).await["reduction_grams"], 0, "rewards never count as reduction");

    let bad = check_in(&server, &citizen, Some(json!({ "note": "x".repeat(201) }))).await;
    assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "invalid_note"));
    let url = server.database_url.clone();
    let db = server.stop().await;
    let verified = canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    drop(db);
}

crate::contract!(
    pools_are_created_and_funded_by_the_operator,
    streaks_cross_midnight_and_month_ends_and_milestones_pay_from_the_pool,
);
