//! Team challenges (issue 10): citizens join alone or in teams, only acts
//! inside the period count, and at the end every member of a team that
//! reached the goal is paid once from the pool, pro rata when it is short.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use canopy_core::clock::{Clock, ManualClock};
use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;
use crate::process::canopy;

async fn admin(server: &TestServer, path: &str, body: Value) -> Reply {
    let headers = [("authorization", format!("Bearer {ADMIN_TOKEN}")), ("content-type", "application/json".to_owned())];
    server.raw(Method::POST, path, &headers, serde_json::to_vec(&body).unwrap()).await
}

async fn teams_reach_goals_and_winners_are_paid_once_pro_rata() {
    let clock = ManualClock::new(Utc::now());
    let shared = clock.clone();
    let server = TestServer::start_with(move |config| {
        config.clock = Arc::new(shared);
        config.ball_sweep_interval = StdDuration::from_millis(100);
        config.session_ttl_s = 30 * 24 * 3600;
    })
    .await;
    let pool = admin(&server, "/v1/pools", json!({ "name": "Ride week", "sponsor": "Acme Bikes" })).await;
    let pool_id = pool.body["id"].as_str().unwrap().to_owned();
    admin(&server, &format!("/v1/pools/{pool_id}/fund"), json!({ "amount": 250 })).await;
    let now = clock.now();
    let draft = json!({
        "title": "Ride to work", "metric": "acts", "behavior": "shared_bike", "goal": 2,
        "starts_at": (now - Duration::hours(2)).to_rfc3339(), "ends_at": (now + Duration::hours(1)).to_rfc3339(),
        "team_size_max": 2, "reward_grams": 100, "pool": pool_id,
    });
    let created = admin(&server, "/v1/challenges", draft.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.body["state"], "running");
    let id = created.body["id"].as_str().unwrap().to_owned();

    let partner = server.create_partner(&["transport"]).await;
    let mut citizens = Vec::new();
    for name in ["chl-ann", "chl-bo", "chl-cy", "chl-di"] {
        let citizen = server.create_citizen(name, "CN-BJ").await;
        server.link(&citizen, &partner, &["transport"], name).await;
        citizens.push(citizen);
    }
    let (ann, bo, cy, di) = (&citizens[0], &citizens[1], &citizens[2], &citizens[3]);
    let team = server.post(&format!("/v1/challenges/{id}/teams"), Some(&ann.token), json!({ "name": "Riders" })).await;
    assert_eq!(team.status, StatusCode::CREATED, "{team:?}");
    let team_id = team.body["team_id"].as_str().unwrap().to_owned();
    let join_path = format!("/v1/challenges/{id}/join");
    let join = |who: &Citizen, body: Value| {
        let (server, path, token) = (&server, join_path.clone(), who.token.clone());
        async move { server.post(&path, Some(&token), body).await }
    };
    assert_eq!(join(bo, json!({ "team_id": team_id })).await.status, StatusCode::OK);
    let full = join(cy, json!({ "team_id": team_id })).await;
    assert_eq!((full.status, full.code()), (StatusCode::CONFLICT, "team_full"));
    let alone = join(cy, json!({})).await;
    assert_eq!(alone.status, StatusCode::OK, "{alone:?}");
    assert_ne!(alone.body["team_id"], team_id.as_str());
    let di_joined = join(di, json!({})).await;
    assert_eq!(di_joined.status, StatusCode::OK, "{di_joined:?}");
    let again = join(ann, json!({})).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "already_joined"));
    let unknown_team = join(di, json!({ "team_id": "team_99999" })).await;
    assert_eq!(unknown_team.status, StatusCode::CONFLICT, "already in: {unknown_team:?}");
    let missing = server.post("/v1/challenges/chl_99999/join", Some(&ann.token), json!({})).await;
    assert_eq!((missing.status, missing.code()), (StatusCode::NOT_FOUND, "challenge_not_found"));
    let bad = admin(&server, "/v1/challenges", json!({ "goal": 0 })).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");
    let mut wrong = draft.clone();
    wrong["goal"] = json!(0);
    wrong["ends_at"] = wrong["starts_at"].clone();
    let refused = admin(&server, "/v1/challenges", wrong).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, "invalid_challenge"));
    assert_eq!(refused.body["errors"].as_array().unwrap().len(), 2, "{refused:?}");

    // Ann and Bo ride once each (their team reaches 2), Cy twice alone, Di once; a bus ride does not count.
    let ride = |id: &str, who: &str| event(id, who, "shared_bike", json!({ "distance_km": 1 }));
    server
        .send_ok(
            &partner,
            json!([
                ride("c-1", "chl-ann"),
                ride("c-2", "chl-bo"),
                ride("c-3", "chl-cy"),
                ride("c-4", "chl-cy"),
                ride("c-5", "chl-di"),
                event("c-6", "chl-di", "bus_ride", json!({}))
            ]),
        )
        .await;
    let live = server.get(&format!("/v1/challenges/{id}"), Some(&ann.token)).await;
    assert_eq!(live.status, StatusCode::OK);
    let teams = live.body["teams"].as_array().unwrap();
    let progress: Vec<(i64, bool)> =
        teams.iter().map(|t| (t["progress"].as_i64().unwrap(), t["reached"].as_bool().unwrap())).collect();
    assert_eq!(progress, [(2, true), (2, true), (1, false)], "{live:?}");
    assert_eq!(live.body["me"], json!({ "team_id": team_id, "progress": 2 }));

    // At the end, the three winners are due 300 g but the pool holds 250:
    // each is paid floor(250 × 100 / 300) = 83 g, once.
    clock.set(now + Duration::hours(1));
    let mut settled = Value::Null;
    for _ in 0..50 {
        settled = server.get(&format!("/v1/challenges/{id}"), Some(&ann.token)).await.body;
        if settled["state"] == "settled" {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert_eq!(settled["state"], "settled", "{settled:?}");
    assert_eq!((settled["paid_grams"].as_i64(), settled["pro_rata"].as_bool()), (Some(249), Some(true)));
    tokio::time::sleep(StdDuration::from_millis(400)).await;
    for (citizen, paid) in [(ann, 83), (bo, 83), (cy, 83), (di, 0)] {
        assert_eq!(server.me(citizen).await["energy_grams"], paid, "{}", citizen.username);
    }
    let late = join(di, json!({})).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    let newcomer = server.create_citizen("chl-ed", "CN-BJ").await;
    let ended = join(&newcomer, json!({})).await;
    assert_eq!((ended.status, ended.code()), (StatusCode::CONFLICT, "challenge_ended"));

    let url = server.database_url.clone();
    let db = server.stop().await;
    let verified = canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    drop(db);
}

crate::contract!(teams_reach_goals_and_winners_are_paid_once_pro_rata);
