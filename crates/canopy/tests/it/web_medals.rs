//! Check-in, medals and challenges (issue 13) over HTTP: checking in once a
//! day with the streak shown, medals earned and on the way, joining a
//! challenge by starting a team and another citizen joining it, its
//! progress as the API counts it.

use std::sync::Arc;

use canopy_core::clock::{Clock, ManualClock};
use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;
use crate::webpage::Browser;

async fn admin(server: &TestServer, path: &str, body: Value) -> Reply {
    let headers = [("authorization", format!("Bearer {ADMIN_TOKEN}")), ("content-type", "application/json".to_owned())];
    server.raw(Method::POST, path, &headers, serde_json::to_vec(&body).unwrap()).await
}

async fn a_citizen_checks_in_sees_medals_and_joins_a_challenge_as_a_team() {
    let clock = ManualClock::new(Utc::now());
    let shared = clock.clone();
    let server = TestServer::start_with(move |config| {
        config.clock = Arc::new(shared);
        config.session_ttl_s = 30 * 24 * 3600;
    })
    .await;
    let yu = server.create_citizen("wm-yu", "CN-BJ").await;
    let zoe = server.create_citizen("wm-zoe", "CN-BJ").await;
    let mut browser = Browser::signed_in(&server, &yu, "en");

    let page = browser.get("/medals").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("Streak: 0 days in a row") && page.html.contains("Check in today"), "{}", page.html);
    assert!(page.html.contains("On the way"), "medals in progress are listed: {}", page.html);
    let checked = browser.submit("/medals", "/checkin", &[]).await;
    assert_eq!(checked.status, StatusCode::SEE_OTHER);
    assert!(checked.location().starts_with("/medals?checked=1,"), "{}", checked.location());
    let page = browser.get(checked.location()).await;
    assert!(page.html.contains("Checked in: 1 day in a row."), "{}", page.html);
    assert!(page.html.contains("You checked in today.") && !page.html.contains(r#"action="/checkin""#));
    // Posting again the same day is refused in words.
    let again = browser.submit("/", "/checkin", &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.html.contains("You checked in today already."), "{}", again.html);
    // The next day, the streak goes on.
    clock.set(clock.now() + Duration::days(1));
    browser.submit("/medals", "/checkin", &[]).await;
    assert!(browser.get("/medals").await.html.contains("Streak: 2 days in a row"));

    // A challenge: Yu starts a team, Zoe joins it on her page; the API lists both in it.
    let pool = admin(&server, "/v1/pools", json!({ "name": "Ride week", "sponsor": "Acme Bikes" })).await;
    let pool_id = pool.body["id"].as_str().unwrap().to_owned();
    admin(&server, &format!("/v1/pools/{pool_id}/fund"), json!({ "amount": 250 })).await;
    let now = clock.now();
    let created = admin(
        &server,
        "/v1/challenges",
        json!({
            "title": "Ride to work", "metric": "acts", "behavior": "shared_bike", "goal": 2,
            "starts_at": (now - Duration::hours(2)).to_rfc3339(), "ends_at": (now + Duration::hours(5)).to_rfc3339(),
            "team_size_max": 2, "reward_grams": 100, "pool": pool_id,
        }),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let id = created.body["id"].as_str().unwrap().to_owned();
    let page = browser.get("/medals").await;
    assert!(page.html.contains("Ride to work") && page.html.contains("Goal: 2 acts of shared_bike"), "{}", page.html);
    let empty = browser.submit("/medals", &format!("/challenges/{id}/teams"), &[("name", "  ")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.html.contains("Give the team a name"), "{}", empty.html);
    let made = browser.submit("/medals", &format!("/challenges/{id}/teams"), &[("name", "Riders")]).await;
    assert_eq!(made.location(), "/medals?joined=1");
    assert!(browser.get("/medals").await.html.contains("You are in team Riders."));
    let mut zoe_page = Browser::signed_in(&server, &zoe, "en");
    let offered = zoe_page.get("/medals").await;
    let team = offered
        .html
        .split(r#"name="team"><option value=""#)
        .nth(1)
        .expect("a team to join")
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let joined = zoe_page.submit("/medals", &format!("/challenges/{id}/join"), &[("team", &team)]).await;
    assert_eq!(joined.location(), "/medals?joined=1", "{}", joined.html);
    let view = server.get(&format!("/v1/challenges/{id}"), Some(&zoe.token)).await;
    let teams = view.body["teams"].as_array().unwrap();
    assert_eq!(teams.len(), 1, "{view:?}");
    assert_eq!(teams[0]["members"].as_array().map(Vec::len), Some(2), "{view:?}");
    let twice = zoe_page.submit("/medals", &format!("/challenges/{id}/join"), &[]).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert!(twice.html.contains("You have joined this challenge already."));
}

crate::contract!(a_citizen_checks_in_sees_medals_and_joins_a_challenge_as_a_team);
