//! Medals (issue 10): declarative rules over acts, reductions, streaks and
//! collected energy, awarded once per period, listed with the date earned
//! or with how far along.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

async fn medals(server: &TestServer, citizen: &Citizen) -> (Vec<Value>, Vec<Value>) {
    let reply = server.get("/v1/me/medals", Some(&citizen.token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    (reply.body["earned"].as_array().unwrap().clone(), reply.body["in_progress"].as_array().unwrap().clone())
}

fn find<'a>(list: &'a [Value], id: &str) -> Option<&'a Value> {
    list.iter().find(|m| m["id"] == id)
}

async fn medals_are_earned_once_and_show_their_progress() {
    let server = TestServer::start_with(|config| config.game.set("ball_ripens", "immediately").unwrap()).await;
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("medal-mei", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "mei").await;

    let (earned, progress) = medals(&server, &citizen).await;
    assert!(earned.is_empty(), "{earned:?}");
    assert!(progress.len() >= 8, "at least eight medals ship: {progress:?}");
    assert_eq!(find(&progress, "first-act").unwrap()["current"], 0);

    let credited =
        server.send_ok(&partner, json!([event("m-1", "mei", "shared_bike", json!({ "distance_km": 2 }))])).await;
    let grams = credited[0]["grams"].as_i64().unwrap();
    let (earned, progress) = medals(&server, &citizen).await;
    let first = find(&earned, "first-act").expect("the first act earns its medal");
    assert_eq!(first["period_key"], "once");
    assert!(first["earned_at"].as_str().unwrap().ends_with('Z'));
    assert!(find(&progress, "first-act").is_none());
    assert_eq!(
        (
            find(&progress, "bike-100").unwrap()["current"].as_i64(),
            find(&progress, "bike-100").unwrap()["goal"].as_i64()
        ),
        (Some(1), Some(100))
    );
    // "A green day" counts today's acts (Beijing's day): the act an hour ago
    // is yesterday's in the hour after midnight.
    let beijing = |t: chrono::DateTime<chrono::Utc>| (t + chrono::Duration::hours(8)).date_naive();
    let now = chrono::Utc::now();
    let today_acts = if beijing(now - chrono::Duration::hours(1)) == beijing(now) { 1 } else { 0 };
    assert_eq!(find(&progress, "green-day").unwrap()["current"], today_acts);

    // Looking again, or after more acts, awards nothing twice.
    server.send_ok(&partner, json!([event("m-2", "mei", "shared_bike", json!({ "distance_km": 1 }))])).await;
    let (earned, progress) = medals(&server, &citizen).await;
    assert_eq!(earned.iter().filter(|m| m["id"] == "first-act").count(), 1);
    assert_eq!(find(&progress, "bike-100").unwrap()["current"], 2);

    // Collected energy and the check-in streak count too.
    let auth = [("authorization", format!("Bearer {}", citizen.token))];
    let collected = server.raw(Method::POST, "/v1/me/balls/collect", &auth, vec![]).await;
    let energy = collected.body["collected_grams"].as_i64().unwrap();
    assert!(energy > grams, "{collected:?}");
    assert_eq!(server.raw(Method::POST, "/v1/me/checkins", &auth, vec![]).await.status, StatusCode::CREATED);
    let (_, progress) = medals(&server, &citizen).await;
    assert_eq!(find(&progress, "energy-10kg").unwrap()["current"], energy);
    assert_eq!(find(&progress, "streak-7").unwrap()["current"], 1);
}

crate::contract!(medals_are_earned_once_and_show_their_progress);
