//! Friends (issue 10): requests, friendships, silent blocks and privacy;
//! taking a share of a friend's ripe ball (20 % rounded down, once per
//! ball, never into the owner's half rounded up, within a daily limit per
//! collector's local day); watering a friend (allowed amounts, 3 times a
//! day per friend, never beyond one's balance). Time comes from a manual
//! clock; every move is checked in the ledger and by `ledger verify`.

use std::sync::Arc;

use canopy_core::clock::{Clock, ManualClock};
use chrono::{DateTime, Duration, FixedOffset, NaiveTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;
use crate::process::canopy;

/// A server whose clock the test holds.
async fn server_with_clock(adjust: impl FnOnce(&mut canopy_server::config::Config)) -> (TestServer, ManualClock) {
    let clock = ManualClock::new(Utc::now());
    let shared = clock.clone();
    let server = TestServer::start_with(move |config| {
        config.clock = Arc::new(shared);
        // Sessions outlive the days the test's clock crosses.
        config.session_ttl_s = 30 * 24 * 3600;
        adjust(config);
    })
    .await;
    (server, clock)
}

/// A server whose balls ripen as soon as energy is recorded.
async fn ripening_at_once(adjust: impl FnOnce(&mut canopy_server::config::Config)) -> (TestServer, ManualClock) {
    server_with_clock(|config| {
        config.game.set("ball_ripens", "immediately").unwrap();
        adjust(config);
    })
    .await
}

/// Midnight in Beijing (UTC+8) that starts the first day beginning at least ten minutes after `at`.
fn next_beijing_midnight(at: DateTime<Utc>) -> DateTime<Utc> {
    let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
    let day = (at + Duration::minutes(10)).with_timezone(&beijing).date_naive().succ_opt().unwrap();
    day.and_time(NaiveTime::MIN).and_local_timezone(beijing).unwrap().with_timezone(&Utc)
}

/// A request as `who`, with a JSON body and an idempotency key if given.
pub(crate) async fn call(
    server: &TestServer,
    who: &Citizen,
    method: Method,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> Reply {
    let mut headers = vec![("authorization", format!("Bearer {}", who.token))];
    if let Some(key) = key {
        headers.push(("idempotency-key", key.to_owned()));
    }
    let body = match body {
        Some(body) => {
            headers.push(("content-type", "application/json".to_owned()));
            serde_json::to_vec(&body).unwrap()
        }
        None => Vec::new(),
    };
    server.raw(method, path, &headers, body).await
}

async fn ask(server: &TestServer, from: &Citizen, to: &str) -> Reply {
    call(server, from, Method::POST, "/v1/me/friends/requests", Some(json!({ "username": to })), None).await
}

fn assert_refused(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!((reply.status, reply.code()), (status, code), "{reply:?}");
}

/// `a` asks `b`, `b` accepts.
pub(crate) async fn befriend(server: &TestServer, a: &Citizen, b: &Citizen) {
    let sent = ask(server, a, &b.username).await;
    assert_eq!((sent.status, sent.body["status"].as_str()), (StatusCode::CREATED, Some("pending")), "{sent:?}");
    let path = format!("/v1/me/friends/requests/{}/accept", sent.body["id"].as_str().unwrap());
    let accepted = call(server, b, Method::POST, &path, None, None).await;
    assert_eq!(accepted.status, StatusCode::OK, "{accepted:?}");
    assert_eq!(accepted.body["user_id"], a.id.as_str());
}

async fn requests(server: &TestServer, who: &Citizen) -> (Vec<Value>, Vec<Value>) {
    let reply = server.get("/v1/me/friends/requests", Some(&who.token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    (reply.body["incoming"].as_array().unwrap().clone(), reply.body["outgoing"].as_array().unwrap().clone())
}

async fn friend_ids(server: &TestServer, who: &Citizen) -> Vec<String> {
    let reply = server.get("/v1/me/friends", Some(&who.token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["friends"].as_array().unwrap().iter().map(|f| f["user_id"].as_str().unwrap().to_owned()).collect()
}

async fn own_balls(server: &TestServer, who: &Citizen) -> Vec<Value> {
    let reply = server.get("/v1/me/balls", Some(&who.token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["balls"].as_array().unwrap().clone()
}

/// The id of `who`'s (only) ball of `behavior`.
async fn ball_of(server: &TestServer, who: &Citizen, behavior: &str) -> String {
    let balls = own_balls(server, who).await;
    let ball = balls.iter().find(|b| b["behavior"] == behavior).unwrap_or_else(|| panic!("{behavior}: {balls:?}"));
    ball["id"].as_str().unwrap().to_owned()
}

async fn take(server: &TestServer, who: &Citizen, owner: &Citizen, ball: &str, key: Option<&str>) -> Reply {
    let path = format!("/v1/friends/{}/balls/{ball}/collect", owner.id);
    call(server, who, Method::POST, &path, None, key).await
}

async fn water(server: &TestServer, who: &Citizen, friend: &Citizen, grams: i64, key: Option<&str>) -> Reply {
    let path = format!("/v1/friends/{}/water", friend.id);
    call(server, who, Method::POST, &path, Some(json!({ "grams": grams })), key).await
}

async fn energy(server: &TestServer, who: &Citizen) -> i64 {
    server.me(who).await["energy_grams"].as_i64().unwrap()
}

/// (account, grams) of `who`'s ledger entries of `kind`.
async fn ledger_entries(server: &TestServer, who: &Citizen, kind: &str) -> Vec<(String, i64)> {
    let ledger = server.get("/v1/me/ledger?limit=500", Some(&who.token)).await;
    assert_eq!(ledger.status, StatusCode::OK, "{ledger:?}");
    let mut entries: Vec<(String, i64)> = ledger.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| (e["account"].as_str().unwrap().to_owned(), e["grams"].as_i64().unwrap()))
        .collect();
    entries.sort();
    entries
}

/// The other citizens named by `who`'s ledger entries of `kind`, sorted.
async fn counterparts(server: &TestServer, who: &Citizen, kind: &str) -> Vec<String> {
    let ledger = server.get("/v1/me/ledger?limit=500", Some(&who.token)).await;
    let mut named: Vec<String> = ledger.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["counterpart"].as_str().unwrap_or("none").to_owned())
        .collect();
    named.sort();
    named
}

async fn stop_and_verify(server: TestServer) {
    let url = server.database_url.clone();
    let db = server.stop().await;
    let verified = canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    assert!(
        verified.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    drop(db);
}

async fn requests_are_sent_answered_and_listed() {
    let server = TestServer::start().await;
    let ann = server.create_citizen("fr-ann", "CN-BJ").await;
    let bo = server.create_citizen("fr-bo", "CN-BJ").await;
    let cy = server.create_citizen("fr-cy", "CN-HB").await;
    let di = server.create_citizen("fr-di", "CN-HB").await;

    // Nobody, oneself, and a name nobody could register.
    assert_refused(&ask(&server, &ann, "fr-nobody").await, StatusCode::NOT_FOUND, "user_not_found");
    assert_refused(&ask(&server, &ann, "Not A Name!").await, StatusCode::NOT_FOUND, "user_not_found");
    assert_refused(&ask(&server, &ann, "fr-ann").await, StatusCode::BAD_REQUEST, "invalid_request");
    let anonymous = server.post("/v1/me/friends/requests", None, json!({ "username": "fr-bo" })).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let sent = ask(&server, &ann, "fr-bo").await;
    assert_eq!(sent.status, StatusCode::CREATED, "{sent:?}");
    assert_eq!(sent.body["status"], "pending");
    let request_id = sent.body["id"].as_str().unwrap().to_owned();
    assert!(request_id.starts_with("frq_"), "{request_id}");
    assert_refused(&ask(&server, &ann, "fr-bo").await, StatusCode::CONFLICT, "request_exists");

    // Both see it, each from their side, naming the other.
    let (incoming, outgoing) = requests(&server, &ann).await;
    assert!(incoming.is_empty());
    assert_eq!(outgoing.len(), 1);
    assert_eq!(
        (&outgoing[0]["id"], &outgoing[0]["user_id"], &outgoing[0]["username"], &outgoing[0]["display_name"]),
        (&json!(request_id), &json!(bo.id), &json!("fr-bo"), &json!("fr-bo"))
    );
    assert!(outgoing[0]["created_at"].as_str().unwrap().ends_with('Z'));
    let (incoming, outgoing) = requests(&server, &bo).await;
    assert!(outgoing.is_empty());
    assert_eq!((&incoming[0]["id"], &incoming[0]["user_id"]), (&json!(request_id), &json!(ann.id)));

    // Only its recipient accepts it; an unknown or malformed id is not found.
    let accept = format!("/v1/me/friends/requests/{request_id}/accept");
    for (who, path) in [
        (&ann, accept.clone()),
        (&cy, accept.clone()),
        (&bo, "/v1/me/friends/requests/frq_999999/accept".to_owned()),
        (&bo, "/v1/me/friends/requests/usr_1/accept".to_owned()),
    ] {
        let refused = call(&server, who, Method::POST, &path, None, None).await;
        assert_refused(&refused, StatusCode::NOT_FOUND, "request_not_found");
    }
    let accepted = call(&server, &bo, Method::POST, &accept, None, None).await;
    assert_eq!(accepted.status, StatusCode::OK, "{accepted:?}");
    assert_eq!((&accepted.body["user_id"], &accepted.body["username"]), (&json!(ann.id), &json!("fr-ann")));
    assert_eq!(friend_ids(&server, &ann).await, [bo.id.as_str()]);
    assert_eq!(friend_ids(&server, &bo).await, [ann.id.as_str()]);
    let listed = server.get("/v1/me/friends", Some(&ann.token)).await;
    assert_eq!(listed.body["friends"][0]["display_name"], "fr-bo");
    assert!(listed.body["friends"][0]["since"].as_str().unwrap().ends_with('Z'));
    assert_eq!(requests(&server, &ann).await, (vec![], vec![]), "an answered request is gone");
    assert_refused(&ask(&server, &ann, "fr-bo").await, StatusCode::CONFLICT, "already_friends");
    assert_refused(&ask(&server, &bo, "fr-ann").await, StatusCode::CONFLICT, "already_friends");
    let again = call(&server, &bo, Method::POST, &accept, None, None).await;
    assert_refused(&again, StatusCode::NOT_FOUND, "request_not_found");

    // A mutual request simply makes them friends.
    let first = ask(&server, &cy, "fr-di").await;
    let mutual = ask(&server, &di, "fr-cy").await;
    assert_eq!(mutual.status, StatusCode::CREATED, "{mutual:?}");
    assert_eq!((&mutual.body["status"], &mutual.body["id"]), (&json!("accepted"), &first.body["id"]));
    assert_eq!(friend_ids(&server, &cy).await, [di.id.as_str()]);
    assert_eq!(requests(&server, &di).await, (vec![], vec![]));

    // Declined by its recipient, or withdrawn by its sender: gone.
    let declined = ask(&server, &cy, "fr-ann").await.body["id"].as_str().unwrap().to_owned();
    let decline = format!("/v1/me/friends/requests/{declined}/decline");
    assert_eq!(call(&server, &ann, Method::POST, &decline, None, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(requests(&server, &cy).await, (vec![], vec![]));
    let gone =
        call(&server, &ann, Method::POST, &format!("/v1/me/friends/requests/{declined}/accept"), None, None).await;
    assert_refused(&gone, StatusCode::NOT_FOUND, "request_not_found");
    let withdrawn = ask(&server, &di, "fr-ann").await.body["id"].as_str().unwrap().to_owned();
    let stranger =
        call(&server, &bo, Method::POST, &format!("/v1/me/friends/requests/{withdrawn}/decline"), None, None).await;
    assert_refused(&stranger, StatusCode::NOT_FOUND, "request_not_found");
    let withdraw = format!("/v1/me/friends/requests/{withdrawn}/decline");
    assert_eq!(call(&server, &di, Method::POST, &withdraw, None, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(requests(&server, &ann).await, (vec![], vec![]));

    // Ending a friendship ends it for both.
    let unfriend = format!("/v1/me/friends/{}", bo.id);
    assert_eq!(call(&server, &ann, Method::DELETE, &unfriend, None, None).await.status, StatusCode::NO_CONTENT);
    assert!(friend_ids(&server, &ann).await.is_empty() && friend_ids(&server, &bo).await.is_empty());
    assert_refused(
        &call(&server, &ann, Method::DELETE, &unfriend, None, None).await,
        StatusCode::CONFLICT,
        "not_friend",
    );
    let own = format!("/v1/me/friends/{}", ann.id);
    assert_refused(
        &call(&server, &ann, Method::DELETE, &own, None, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    let bad = call(&server, &ann, Method::DELETE, "/v1/me/friends/fr-bo", None, None).await;
    assert_refused(&bad, StatusCode::NOT_FOUND, "user_not_found");
    // And they may ask again.
    assert_eq!(ask(&server, &bo, "fr-ann").await.status, StatusCode::CREATED);
}

async fn a_block_is_silent_and_privacy_hides_the_forest() {
    let (server, _clock) = ripening_at_once(|_| {}).await;
    let partner = server.create_partner(&["transport"]).await;
    let ann = server.create_citizen("bl-ann", "CN-BJ").await;
    let bo = server.create_citizen("bl-bo", "CN-BJ").await;
    let cy = server.create_citizen("bl-cy", "CN-BJ").await;
    server.link(&ann, &partner, &["transport"], "ann").await;
    server.send_ok(&partner, json!([event("bl-1", "ann", "shared_bike", json!({ "distance_km": 2 }))])).await;
    let ball = ball_of(&server, &ann, "shared_bike").await;
    befriend(&server, &ann, &bo).await;
    befriend(&server, &ann, &cy).await;

    // Privacy: friends see the forest and may take from it by default.
    let privacy = server.get("/v1/me/privacy", Some(&ann.token)).await;
    assert_eq!(privacy.body, json!({ "forest": "friends", "friends_may_collect": true }));
    let forest = server.get(&format!("/v1/friends/{}/balls", ann.id), Some(&bo.token)).await;
    assert_eq!(forest.status, StatusCode::OK, "{forest:?}");
    assert_eq!(forest.body["balls"][0]["may_collect"], true);

    // Friends may look but not take.
    let set = |forest: &str, may: bool| json!({ "forest": forest, "friends_may_collect": may });
    let put = call(&server, &ann, Method::PUT, "/v1/me/privacy", Some(set("friends", false)), None).await;
    assert_eq!((put.status, &put.body), (StatusCode::OK, &set("friends", false)));
    let forest = server.get(&format!("/v1/friends/{}/balls", ann.id), Some(&bo.token)).await;
    assert_eq!(forest.status, StatusCode::OK, "{forest:?}");
    let shown = &forest.body["balls"][0];
    assert_eq!((&shown["id"], &shown["state"]), (&json!(ball), &json!("ripe")));
    assert_eq!((&shown["may_collect"], &shown["refusal"]), (&json!(false), &json!("collect_not_allowed")));
    assert_refused(&take(&server, &bo, &ann, &ball, None).await, StatusCode::FORBIDDEN, "collect_not_allowed");

    // Nobody sees it, and nobody takes from a forest they cannot see.
    call(&server, &ann, Method::PUT, "/v1/me/privacy", Some(set("nobody", true)), None).await;
    assert_eq!(server.get("/v1/me/privacy", Some(&ann.token)).await.body, set("nobody", true));
    let hidden = server.get(&format!("/v1/friends/{}/balls", ann.id), Some(&bo.token)).await;
    assert_refused(&hidden, StatusCode::FORBIDDEN, "not_visible");
    assert_refused(&take(&server, &bo, &ann, &ball, None).await, StatusCode::FORBIDDEN, "collect_not_allowed");
    let bad = call(&server, &ann, Method::PUT, "/v1/me/privacy", Some(set("everyone", true)), None).await;
    assert_refused(&bad, StatusCode::BAD_REQUEST, "invalid_forest");
    call(&server, &ann, Method::PUT, "/v1/me/privacy", Some(set("friends", true)), None).await;

    // A block ends the friendship for both.
    let blocked = call(&server, &ann, Method::POST, "/v1/me/blocks", Some(json!({ "username": "bl-bo" })), None).await;
    assert_eq!(blocked.status, StatusCode::CREATED, "{blocked:?}");
    assert_eq!(blocked.body["user_id"], bo.id.as_str());
    assert_eq!(friend_ids(&server, &ann).await, [cy.id.as_str()]);
    assert!(friend_ids(&server, &bo).await.is_empty());
    let listed = server.get("/v1/me/blocks", Some(&ann.token)).await;
    assert_eq!(listed.body["blocks"][0]["user_id"], bo.id.as_str());
    // Blocking again changes nothing.
    let again = call(&server, &ann, Method::POST, "/v1/me/blocks", Some(json!({ "username": "bl-bo" })), None).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(server.get("/v1/me/blocks", Some(&ann.token)).await.body["blocks"].as_array().unwrap().len(), 1);

    // The blocked person's request looks sent to them, and never reaches the blocker.
    let silent = ask(&server, &bo, "bl-ann").await;
    assert_eq!((silent.status, &silent.body["status"]), (StatusCode::CREATED, &json!("pending")), "{silent:?}");
    let (_, outgoing) = requests(&server, &bo).await;
    assert_eq!(outgoing[0]["id"], silent.body["id"]);
    assert_eq!(requests(&server, &ann).await, (vec![], vec![]));
    assert_refused(&ask(&server, &bo, "bl-ann").await, StatusCode::CONFLICT, "request_exists");
    let path = format!("/v1/me/friends/requests/{}/accept", silent.body["id"].as_str().unwrap());
    assert_refused(
        &call(&server, &ann, Method::POST, &path, None, None).await,
        StatusCode::NOT_FOUND,
        "request_not_found",
    );
    // The blocker must unblock before asking; the blocked see nothing of the blocker's forest.
    assert_refused(&ask(&server, &ann, "bl-bo").await, StatusCode::CONFLICT, "user_blocked");
    let forest = server.get(&format!("/v1/friends/{}/balls", ann.id), Some(&bo.token)).await;
    assert_refused(&forest, StatusCode::CONFLICT, "not_friend");
    assert_refused(&take(&server, &bo, &ann, &ball, None).await, StatusCode::CONFLICT, "not_friend");
    assert_refused(&water(&server, &bo, &ann, 10, None).await, StatusCode::CONFLICT, "not_friend");

    // A block during a pending request: the blocked person's request stays
    // pending in their eyes and leaves the blocker's.
    let dan = server.create_citizen("bl-dan", "CN-BJ").await;
    let pending = ask(&server, &dan, "bl-ann").await;
    assert_eq!(requests(&server, &ann).await.0.len(), 1);
    call(&server, &ann, Method::POST, "/v1/me/blocks", Some(json!({ "username": "bl-dan" })), None).await;
    assert!(requests(&server, &ann).await.0.is_empty());
    assert_eq!(requests(&server, &dan).await.1[0]["id"], pending.body["id"]);

    for (body, status, code) in [
        (json!({ "username": "bl-ann" }), StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({ "username": "bl-nobody" }), StatusCode::NOT_FOUND, "user_not_found"),
    ] {
        assert_refused(&call(&server, &ann, Method::POST, "/v1/me/blocks", Some(body), None).await, status, code);
    }

    // Unblocking lets them become friends again (the hidden request stays hidden).
    let unblock = format!("/v1/me/blocks/{}", bo.id);
    assert_eq!(call(&server, &ann, Method::DELETE, &unblock, None, None).await.status, StatusCode::NO_CONTENT);
    assert_refused(
        &call(&server, &ann, Method::DELETE, &unblock, None, None).await,
        StatusCode::NOT_FOUND,
        "block_not_found",
    );
    assert!(requests(&server, &ann).await.0.is_empty());
    befriend(&server, &ann, &bo).await;
    assert_eq!(requests(&server, &bo).await, (vec![], vec![]), "befriending ends every request between them");
    assert_eq!(take(&server, &bo, &ann, &ball, None).await.status, StatusCode::OK);
    stop_and_verify(server).await;
}

async fn a_friend_takes_a_rounded_share_and_the_owner_sees_who() {
    let (server, clock) = server_with_clock(|_| {}).await;
    let partner = server.create_partner(&["transport"]).await;
    let ann = server.create_citizen("tk-ann", "CN-BJ").await;
    let friends = [
        server.create_citizen("tk-bo", "CN-BJ").await,
        server.create_citizen("tk-cy", "CN-HB").await,
        server.create_citizen("tk-di", "US-CA").await,
        server.create_citizen("tk-ed", "CN-BJ").await,
    ];
    let [bo, cy, di, ed] = &friends;
    let eve = server.create_citizen("tk-eve", "CN-BJ").await;
    server.link(&ann, &partner, &["transport"], "ann").await;
    for friend in &friends {
        befriend(&server, &ann, friend).await;
    }
    // A bike ball first (for the expiry at the end: partners sign with the
    // real time, so every act is sent before the test's clock moves), then
    // the walking ball, listed first (newest first). 2500 steps are 74 g: a
    // friend takes floor(74 × 20 %) = 14 g, the owner keeps ceil(74 × 50 %) = 37 g.
    server.send_ok(&partner, json!([event("tk-2", "ann", "shared_bike", json!({ "distance_km": 1 }))])).await;
    server.send_ok(&partner, json!([event("tk-1", "ann", "walking", json!({ "steps": 2500 }))])).await;
    let ball = ball_of(&server, &ann, "walking").await;
    let bike = ball_of(&server, &ann, "shared_bike").await;
    assert_eq!(own_balls(&server, &ann).await[0]["grams"], 74);

    // Growing: shown, not taken.
    let forest = server.get(&format!("/v1/friends/{}/balls", ann.id), Some(&bo.token)).await;
    assert_eq!(forest.status, StatusCode::OK, "{forest:?}");
    assert_eq!(forest.body["user_id"], ann.id.as_str());
    assert_eq!(forest.body["balls"].as_array().unwrap().len(), 2);
    let shown = &forest.body["balls"][0];
    assert_eq!(
        (&shown["state"], &shown["refusal"], &shown["may_collect"]),
        (&json!("growing"), &json!("ball_not_ripe"), &json!(false))
    );
    assert_eq!(
        (forest.body["taken_today_grams"].as_i64(), forest.body["daily_limit_grams"].as_i64()),
        (Some(0), Some(2000))
    );
    assert_refused(&take(&server, bo, &ann, &ball, None).await, StatusCode::CONFLICT, "ball_not_ripe");

    // Ripe the next morning.
    let ripens = DateTime::parse_from_rfc3339(shown["ripens_at"].as_str().unwrap()).unwrap().with_timezone(&Utc);
    clock.set(ripens);
    let forest = server.get(&format!("/v1/friends/{}/balls", ann.id), Some(&bo.token)).await;
    let shown = &forest.body["balls"][0];
    assert_eq!(
        (&shown["state"], &shown["may_collect"], &shown["collectable_grams"]),
        (&json!("ripe"), &json!(true), &json!(14))
    );
    assert_eq!(shown["refusal"], Value::Null);

    // Who may not take, and which balls are not there.
    assert_refused(&take(&server, &eve, &ann, &ball, None).await, StatusCode::CONFLICT, "not_friend");
    let stranger = server.get(&format!("/v1/friends/{}/balls", ann.id), Some(&eve.token)).await;
    assert_refused(&stranger, StatusCode::CONFLICT, "not_friend");
    assert_refused(&take(&server, &ann, &ann, &ball, None).await, StatusCode::CONFLICT, "not_friend");
    assert_refused(&take(&server, bo, &ann, "bal_999999", None).await, StatusCode::NOT_FOUND, "ball_not_found");
    assert_refused(&take(&server, bo, &ann, "walking", None).await, StatusCode::NOT_FOUND, "ball_not_found");
    // Ann's ball is not found under another friend's forest.
    assert_refused(&take(&server, bo, cy, &ball, None).await, StatusCode::CONFLICT, "not_friend");
    befriend(&server, bo, cy).await;
    assert_refused(&take(&server, bo, cy, &ball, None).await, StatusCode::NOT_FOUND, "ball_not_found");
    let nobody = call(&server, bo, Method::POST, &format!("/v1/friends/usr_x/balls/{ball}/collect"), None, None).await;
    assert_refused(&nobody, StatusCode::NOT_FOUND, "user_not_found");

    // Each friend once, with an idempotent retry; never into the owner's 37 g.
    let first = take(&server, bo, &ann, &ball, Some("take-1")).await;
    assert_eq!((first.status, &first.body), (StatusCode::OK, &json!({ "collected_grams": 14, "energy_grams": 14 })));
    let retry = take(&server, bo, &ann, &ball, Some("take-1")).await;
    assert_eq!((retry.status, &retry.body), (StatusCode::OK, &first.body));
    assert_refused(
        &water(&server, bo, &ann, 10, Some("take-1")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );
    assert_refused(&take(&server, bo, &ann, &ball, None).await, StatusCode::CONFLICT, "already_taken");
    let forest = server.get(&format!("/v1/friends/{}/balls", ann.id), Some(&bo.token)).await;
    assert_eq!(forest.body["balls"][0]["refusal"], "already_taken");
    assert_eq!(forest.body["taken_today_grams"], 14);
    assert_eq!(take(&server, cy, &ann, &ball, None).await.body["collected_grams"], 14);
    // 74 - 28 taken leaves 46, of which 9 are above the owner's 37.
    assert_eq!(take(&server, di, &ann, &ball, None).await.body["collected_grams"], 9);
    assert_refused(&take(&server, ed, &ann, &ball, None).await, StatusCode::CONFLICT, "ball_protected");

    // The owner sees who took what, and keeps the rest.
    let listed = own_balls(&server, &ann).await;
    assert_eq!((listed[0]["remaining_grams"].as_i64(), listed[0]["state"].as_str()), (Some(37), Some("ripe")));
    let taken: Vec<(&str, &str, i64)> = listed[0]["taken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["user_id"].as_str().unwrap(), t["display_name"].as_str().unwrap(), t["grams"].as_i64().unwrap()))
        .collect();
    assert_eq!(taken, [(bo.id.as_str(), "tk-bo", 14), (cy.id.as_str(), "tk-cy", 14), (di.id.as_str(), "tk-di", 9)]);
    assert!(listed[0]["taken"][0]["at"].as_str().unwrap().ends_with('Z'));
    let collected = call(&server, &ann, Method::POST, &format!("/v1/me/balls/{ball}/collect"), None, None).await;
    assert_eq!(collected.body, json!({ "collected_grams": 37, "energy_grams": 37 }));
    assert_refused(&take(&server, ed, &ann, &ball, None).await, StatusCode::CONFLICT, "already_collected");
    assert_eq!(own_balls(&server, &ann).await[0]["taken"].as_array().unwrap().len(), 3, "still shown once collected");

    // The ledger: transfers from the owner's balls to each friend's energy.
    assert_eq!(
        ledger_entries(&server, &ann, "friend_collected").await,
        [("balls".into(), -14), ("balls".into(), -14), ("balls".into(), -9)]
    );
    assert_eq!(ledger_entries(&server, bo, "friend_collected").await, [("energy".into(), 14)]);
    // Each side's entry names the other citizen.
    assert_eq!(counterparts(&server, bo, "friend_collected").await, [ann.id.as_str()]);
    let mut takers = vec![bo.id.clone(), cy.id.clone(), di.id.clone()];
    takers.sort();
    assert_eq!(counterparts(&server, &ann, "friend_collected").await, takers);
    assert_eq!(
        counterparts(&server, &ann, "ball_collected").await,
        ["none", "none"],
        "a move within one citizen names nobody"
    );
    assert_eq!((energy(&server, bo).await, energy(&server, di).await, energy(&server, &ann).await), (14, 9, 37));
    let me = server.me(&ann).await;
    assert_eq!(
        (me["reduction_grams"].as_i64(), me["balls_grams"].as_i64()),
        (Some(74 + 250), Some(250)),
        "reduction is never taken"
    );

    // A ball past its expiry is refused as expired.
    clock.advance(Duration::days(5));
    assert_refused(&take(&server, ed, &ann, &bike, None).await, StatusCode::CONFLICT, "ball_expired");
    stop_and_verify(server).await;
}

async fn the_daily_limit_resets_at_the_collectors_local_midnight() {
    let (server, clock) = ripening_at_once(|config| config.game.set("friend_collect_daily_g", "120").unwrap()).await;
    let partner = server.create_partner(&["transport"]).await;
    let bo = server.create_citizen("dl-bo", "CN-BJ").await;
    let mut owners = Vec::new();
    for name in ["dl-ann", "dl-cy", "dl-di"] {
        let owner = server.create_citizen(name, "CN-BJ").await;
        server.link(&owner, &partner, &["transport"], name).await;
        // 2 km: a 500 g ball, of which a friend takes 100 g.
        server
            .send_ok(&partner, json!([event(&format!("{name}-1"), name, "shared_bike", json!({ "distance_km": 2 }))]))
            .await;
        befriend(&server, &owner, &bo).await;
        owners.push(owner);
    }
    let mut balls = Vec::new();
    for owner in &owners {
        balls.push(ball_of(&server, owner, "shared_bike").await);
    }

    // A minute before Beijing's midnight, bo takes 100 g, then the 20 g
    // left of the day's 120 g, then nothing.
    let midnight = next_beijing_midnight(clock.now());
    clock.set(midnight - Duration::minutes(1));
    assert_eq!(take(&server, &bo, &owners[0], &balls[0], None).await.body["collected_grams"], 100);
    assert_eq!(take(&server, &bo, &owners[1], &balls[1], None).await.body["collected_grams"], 20);
    assert_refused(&take(&server, &bo, &owners[2], &balls[2], None).await, StatusCode::CONFLICT, "daily_limit_reached");
    let forest = server.get(&format!("/v1/friends/{}/balls", owners[2].id), Some(&bo.token)).await;
    assert_eq!(forest.body["balls"][0]["refusal"], "daily_limit_reached");
    assert_eq!(forest.body["taken_today_grams"], 120);
    clock.set(midnight - Duration::microseconds(1));
    assert_refused(&take(&server, &bo, &owners[2], &balls[2], None).await, StatusCode::CONFLICT, "daily_limit_reached");

    // A new local day: a new allowance (the balls taken stay taken).
    clock.set(midnight);
    let forest = server.get(&format!("/v1/friends/{}/balls", owners[2].id), Some(&bo.token)).await;
    assert_eq!(
        (forest.body["taken_today_grams"].as_i64(), forest.body["balls"][0]["collectable_grams"].as_i64()),
        (Some(0), Some(100))
    );
    assert_eq!(take(&server, &bo, &owners[2], &balls[2], None).await.body["collected_grams"], 100);
    assert_refused(&take(&server, &bo, &owners[1], &balls[1], None).await, StatusCode::CONFLICT, "already_taken");
    assert_eq!(energy(&server, &bo).await, 220);
    stop_and_verify(server).await;
}

async fn the_owner_and_friends_collecting_one_ball_at_once_never_overdraw_it() {
    const FRIENDS: usize = 6;
    let (server, _clock) = ripening_at_once(|_| {}).await;
    let partner = server.create_partner(&["transport"]).await;
    let ann = server.create_citizen("cc-ann", "CN-BJ").await;
    server.link(&ann, &partner, &["transport"], "ann").await;
    server
        .send_ok(
            &partner,
            json!([
                event("cc-1", "ann", "shared_bike", json!({ "distance_km": 3 })),
                event("cc-2", "ann", "walking", json!({ "steps": 9999 })),
                event("cc-3", "ann", "bus_ride", json!({})),
            ]),
        )
        .await;
    let mut friends = Vec::new();
    for i in 0..FRIENDS {
        let friend = server.create_citizen(&format!("cc-f{i}"), "CN-BJ").await;
        befriend(&server, &ann, &friend).await;
        friends.push(friend);
    }
    let balls = own_balls(&server, &ann).await;
    assert_eq!(balls.len(), 3);

    // Every ball at once: its owner collecting it and every friend taking
    // from it, each from a connection of its own.
    let mut tasks = Vec::new();
    for ball in &balls {
        let id = ball["id"].as_str().unwrap().to_owned();
        let mut movers = vec![(ann.clone(), format!("/v1/me/balls/{id}/collect"))];
        movers.extend(friends.iter().map(|f| (f.clone(), format!("/v1/friends/{}/balls/{id}/collect", ann.id))));
        for (who, path) in movers {
            let url = format!("{}{path}", server.base);
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let sent = client.post(url).bearer_auth(&who.token).send().await.unwrap();
                (who.id.clone(), reply(sent).await)
            }));
        }
    }
    let mut paid: i64 = 0;
    for task in tasks {
        let (who, reply) = task.await.unwrap();
        match reply.status {
            StatusCode::OK => paid += reply.body["collected_grams"].as_i64().unwrap(),
            StatusCode::CONFLICT => {
                let code = reply.code();
                assert!(["already_collected", "ball_protected"].contains(&code), "{who}: {reply:?}");
            }
            other => panic!("{who}: unexpected {other}: {reply:?}"),
        }
    }

    // Each ball paid out exactly its grams, the owner at least their half.
    let total: i64 = balls.iter().map(|b| b["grams"].as_i64().unwrap()).sum();
    assert_eq!(paid, total);
    for ball in own_balls(&server, &ann).await {
        let grams = ball["grams"].as_i64().unwrap();
        let taken: i64 = ball["taken"].as_array().unwrap().iter().map(|t| t["grams"].as_i64().unwrap()).sum();
        assert_eq!((ball["state"].as_str(), ball["remaining_grams"].as_i64()), (Some("collected"), Some(0)), "{ball}");
        assert!(grams - taken >= (grams + 1) / 2, "the owner kept {} of {grams}: {ball}", grams - taken);
        assert!(ball["taken"].as_array().unwrap().iter().all(|t| t["grams"].as_i64().unwrap() <= grams / 5), "{ball}");
    }
    let mut energies = energy(&server, &ann).await;
    for friend in &friends {
        energies += energy(&server, friend).await;
    }
    assert_eq!(energies, total, "energy is conserved");
    stop_and_verify(server).await;
}

async fn watering_has_amounts_limits_and_needs_energy() {
    let (server, clock) = ripening_at_once(|_| {}).await;
    let partner = server.create_partner(&["transport"]).await;
    let ann = server.create_citizen("wt-ann", "CN-BJ").await;
    let bo = server.create_citizen("wt-bo", "CN-BJ").await;
    let cy = server.create_citizen("wt-cy", "CN-BJ").await;
    let eve = server.create_citizen("wt-eve", "CN-BJ").await;
    server.link(&ann, &partner, &["transport"], "ann").await;
    server.send_ok(&partner, json!([event("wt-1", "ann", "shared_bike", json!({ "distance_km": 2 }))])).await;
    let collected = call(&server, &ann, Method::POST, "/v1/me/balls/collect", None, None).await;
    assert_eq!(collected.body["energy_grams"], 500, "{collected:?}");
    befriend(&server, &ann, &bo).await;
    befriend(&server, &ann, &cy).await;

    assert_refused(&water(&server, &eve, &bo, 10, None).await, StatusCode::CONFLICT, "not_friend");
    assert_refused(&water(&server, &ann, &ann, 10, None).await, StatusCode::CONFLICT, "not_friend");
    for grams in [15, 0, -10, 100] {
        assert_refused(&water(&server, &ann, &bo, grams, None).await, StatusCode::BAD_REQUEST, "invalid_amount");
    }
    let malformed = call(
        &server,
        &ann,
        Method::POST,
        &format!("/v1/friends/{}/water", bo.id),
        Some(json!({ "grams": "ten" })),
        None,
    )
    .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);

    // Three times a day per friend, idempotently.
    let first = water(&server, &ann, &bo, 50, None).await;
    assert_eq!(
        (first.status, &first.body),
        (StatusCode::OK, &json!({ "watered_grams": 50, "energy_grams": 450, "waterings_left": 2 }))
    );
    let second = water(&server, &ann, &bo, 50, Some("water-2")).await;
    assert_eq!(second.body, json!({ "watered_grams": 50, "energy_grams": 400, "waterings_left": 1 }));
    assert_eq!(water(&server, &ann, &bo, 50, Some("water-2")).await.body, second.body, "a retry moves nothing");
    assert_refused(
        &water(&server, &ann, &bo, 20, Some("water-2")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );
    assert_eq!(water(&server, &ann, &bo, 10, None).await.body["waterings_left"], 0);
    assert_refused(&water(&server, &ann, &bo, 10, None).await, StatusCode::CONFLICT, "water_limit_reached");
    // Another friend has their own three.
    assert_eq!(water(&server, &ann, &cy, 20, None).await.body["energy_grams"], 370);
    assert_eq!((energy(&server, &bo).await, energy(&server, &cy).await), (110, 20));

    // Never beyond one's balance; a refusal moves nothing and uses no watering.
    assert_refused(&water(&server, &cy, &ann, 50, None).await, StatusCode::CONFLICT, "insufficient_energy");
    assert_eq!(
        water(&server, &cy, &ann, 20, None).await.body,
        json!({ "watered_grams": 20, "energy_grams": 0, "waterings_left": 2 })
    );
    assert_refused(&water(&server, &cy, &ann, 10, None).await, StatusCode::CONFLICT, "insufficient_energy");
    assert_eq!(energy(&server, &cy).await, 0);

    // The giver's next local day brings three more.
    clock.set(next_beijing_midnight(clock.now()));
    assert_eq!(water(&server, &ann, &bo, 10, None).await.body["waterings_left"], 2);

    // Both see the waterings in their ledger.
    assert_eq!(
        ledger_entries(&server, &ann, "watered").await,
        [
            ("energy".into(), -50),
            ("energy".into(), -50),
            ("energy".into(), -20),
            ("energy".into(), -10),
            ("energy".into(), -10),
            ("energy".into(), 20)
        ]
    );
    assert_eq!(
        ledger_entries(&server, &bo, "watered").await,
        [("energy".into(), 10), ("energy".into(), 10), ("energy".into(), 50), ("energy".into(), 50)]
    );
    assert_eq!(counterparts(&server, &bo, "watered").await, vec![ann.id.clone(); 4]);
    assert_eq!(energy(&server, &ann).await, 500 - 50 - 50 - 10 - 20 + 20 - 10);
    stop_and_verify(server).await;
}

async fn ledger_verify_finds_takes_and_waterings_the_journal_does_not_hold() {
    let (server, _clock) = ripening_at_once(|_| {}).await;
    let partner = server.create_partner(&["transport"]).await;
    let ann = server.create_citizen("lv-ann", "CN-BJ").await;
    let bo = server.create_citizen("lv-bo", "CN-BJ").await;
    server.link(&ann, &partner, &["transport"], "ann").await;
    server.send_ok(&partner, json!([event("lv-1", "ann", "shared_bike", json!({ "distance_km": 2 }))])).await;
    befriend(&server, &ann, &bo).await;
    let ball = ball_of(&server, &ann, "shared_bike").await;
    assert_eq!(take(&server, &bo, &ann, &ball, None).await.body["collected_grams"], 100);
    assert_eq!(water(&server, &bo, &ann, 50, None).await.status, StatusCode::OK);
    let url = server.database_url.clone();
    let db = server.stop().await;
    let verify = || canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    assert!(verify().status.success());

    execute_sql(&url, "UPDATE ball_takes SET grams = grams - 1").await.unwrap();
    execute_sql(&url, "DELETE FROM waterings").await.unwrap();
    let broken = verify();
    let found = String::from_utf8_lossy(&broken.stdout).into_owned() + &String::from_utf8_lossy(&broken.stderr);
    assert_eq!(broken.status.code(), Some(2), "{found}");
    assert!(found.contains("says friends took 100 g but its takes sum to 99 g"), "{found}");
    assert!(found.contains("takes from friends' balls: 1 recorded (99 g) but 1 in the journal (100 g)"), "{found}");
    assert!(found.contains("waterings: 0 recorded (0 g) but 1 in the journal (50 g)"), "{found}");
    drop(db);
}

crate::contract!(
    requests_are_sent_answered_and_listed,
    a_block_is_silent_and_privacy_hides_the_forest,
    a_friend_takes_a_rounded_share_and_the_owner_sees_who,
    the_daily_limit_resets_at_the_collectors_local_midnight,
    the_owner_and_friends_collecting_one_ball_at_once_never_overdraw_it,
    watering_has_amounts_limits_and_needs_energy,
    ledger_verify_finds_takes_and_waterings_the_journal_does_not_hold,
);
