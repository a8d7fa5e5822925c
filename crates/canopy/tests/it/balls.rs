//! Energy balls (issue 10): a credited act's energy waits in a ball that
//! ripens the next morning at 07:00 local time, is collected once into the
//! citizen's energy, and vanishes into the expiry account 72 hours after
//! ripening if nobody collects it. Time comes from a manual clock the test
//! moves across 07:00 and past the expiry.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use canopy_core::clock::{Clock, ManualClock};
use chrono::{DateTime, Duration, FixedOffset, NaiveTime, SubsecRound, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;
use crate::process::canopy;

/// A server whose clock the test holds, sweeping expired balls often.
async fn server_with_clock(adjust: impl FnOnce(&mut canopy_server::config::Config)) -> (TestServer, ManualClock) {
    let clock = ManualClock::new(Utc::now());
    let shared = clock.clone();
    let server = TestServer::start_with(move |config| {
        config.clock = Arc::new(shared);
        config.ball_sweep_interval = StdDuration::from_millis(100);
        // Sessions outlive the days the test's clock crosses.
        config.session_ttl_s = 30 * 24 * 3600;
        adjust(config);
    })
    .await;
    (server, clock)
}

/// 07:00 in Beijing (UTC+8, no daylight saving) on the day after `at`.
fn next_beijing_morning(at: DateTime<Utc>) -> DateTime<Utc> {
    let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
    let day = at.with_timezone(&beijing).date_naive().succ_opt().unwrap();
    day.and_time(NaiveTime::from_hms_opt(7, 0, 0).unwrap()).and_local_timezone(beijing).unwrap().with_timezone(&Utc)
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap().with_timezone(&Utc)
}

async fn balls(server: &TestServer, citizen: &Citizen) -> Vec<Value> {
    let reply = server.get("/v1/me/balls", Some(&citizen.token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["balls"].as_array().unwrap().clone()
}

async fn collect(server: &TestServer, citizen: &Citizen, path: &str, key: Option<&str>) -> Reply {
    let mut headers = vec![("authorization", format!("Bearer {}", citizen.token))];
    if let Some(key) = key {
        headers.push(("idempotency-key", key.to_owned()));
    }
    server.raw(Method::POST, path, &headers, Vec::new()).await
}

fn verify_is_clean(url: &str) {
    let verified = canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", url).output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
}

async fn energy_ripens_next_morning_and_is_collected_once() {
    let (server, clock) = server_with_clock(|_| {}).await;
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("forest-ann", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "ann").await;
    let recorded = clock.now();
    let credited = server
        .send_ok(
            &partner,
            json!([
                event("b-1", "ann", "shared_bike", json!({ "distance_km": 2 })),
                event("b-2", "ann", "shared_bike", json!({ "distance_km": 3 })),
                event("bus-1", "ann", "bus_ride", json!({})),
            ]),
        )
        .await;
    let grams: Vec<i64> = credited.iter().map(|o| o["grams"].as_i64().unwrap()).collect();
    assert!(grams.iter().all(|g| *g > 0), "{credited:?}");
    let (bike, bus) = (grams[0] + grams[1], grams[2]);

    // One ball per behaviour and local day, growing until 07:00 tomorrow.
    let listed = balls(&server, &citizen).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let ripens = next_beijing_morning(recorded);
    let by_behavior = |behavior: &str| listed.iter().find(|b| b["behavior"] == behavior).unwrap().clone();
    let (bike_ball, bus_ball) = (by_behavior("shared_bike"), by_behavior("bus_ride"));
    assert_eq!(bike_ball["grams"], bike);
    assert_eq!(bike_ball["remaining_grams"], bike);
    assert_eq!(bike_ball["category"], "transport");
    assert_eq!(bike_ball["state"], "growing");
    assert_eq!(bike_ball["taken"], json!([]));
    assert_eq!(bus_ball["grams"], bus);
    assert_eq!(time(&bike_ball["ripens_at"]), ripens);
    assert_eq!(time(&bike_ball["expires_at"]), ripens + Duration::hours(72));
    let me = server.me(&citizen).await;
    assert_eq!((me["energy_grams"].as_i64(), me["balls_grams"].as_i64()), (Some(0), Some(bike + bus)));
    assert_eq!(me["reduction_grams"], bike + bus, "verified reduction is credited at once, whatever the game does");

    let bike_path = format!("/v1/me/balls/{}/collect", bike_ball["id"].as_str().unwrap());
    let early = collect(&server, &citizen, &bike_path, None).await;
    assert_eq!((early.status, early.code()), (StatusCode::CONFLICT, "ball_not_ripe"), "{early:?}");

    // A second before 07:00 it is still growing; at 07:00 it is ripe.
    clock.set(ripens - Duration::seconds(1));
    assert_eq!(balls(&server, &citizen).await[0]["state"], "growing");
    clock.set(ripens);
    assert!(balls(&server, &citizen).await.iter().all(|b| b["state"] == "ripe"));

    let first = collect(&server, &citizen, &bike_path, Some("collect-bike-1")).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    assert_eq!(first.body, json!({ "collected_grams": bike, "energy_grams": bike }));
    // The retry with the same key gets the original answer, and moves nothing.
    let retry = collect(&server, &citizen, &bike_path, Some("collect-bike-1")).await;
    assert_eq!((retry.status, &retry.body), (StatusCode::OK, &first.body));
    // Without the key, a second collect is refused.
    let twice = collect(&server, &citizen, &bike_path, None).await;
    assert_eq!((twice.status, twice.code()), (StatusCode::CONFLICT, "already_collected"), "{twice:?}");
    // The same key with another request is refused.
    let bus_path = format!("/v1/me/balls/{}/collect", bus_ball["id"].as_str().unwrap());
    let reused = collect(&server, &citizen, &bus_path, Some("collect-bike-1")).await;
    assert_eq!((reused.status, reused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"));

    // Everything ripe at once: only the bus ball is left.
    let all = collect(&server, &citizen, "/v1/me/balls/collect", Some("all-1")).await;
    assert_eq!(all.status, StatusCode::OK, "{all:?}");
    assert_eq!(all.body, json!({ "collected_grams": bus, "balls": 1, "energy_grams": bike + bus }));
    let none = collect(&server, &citizen, "/v1/me/balls/collect", None).await;
    assert_eq!(none.body, json!({ "collected_grams": 0, "balls": 0, "energy_grams": bike + bus }));
    let me = server.me(&citizen).await;
    assert_eq!((me["energy_grams"].as_i64(), me["balls_grams"].as_i64()), (Some(bike + bus), Some(0)));
    let listed = balls(&server, &citizen).await;
    assert!(listed.iter().all(|b| b["state"] == "collected" && b["remaining_grams"] == 0), "{listed:?}");

    // The ledger explains every move: energy issued into balls, then
    // collected from the balls into energy.
    let ledger = server.get("/v1/me/ledger", Some(&citizen.token)).await;
    let entries = ledger.body["entries"].as_array().unwrap();
    let collected: Vec<(&str, i64)> = entries
        .iter()
        .filter(|e| e["kind"] == "ball_collected")
        .map(|e| (e["account"].as_str().unwrap(), e["grams"].as_i64().unwrap()))
        .collect();
    assert_eq!(collected.len(), 4, "a credit and a debit for each of two collects: {entries:?}");
    assert!(collected.contains(&("energy", bike)) && collected.contains(&("balls", -bike)), "{collected:?}");
    assert!(entries.iter().any(|e| e["kind"] == "energy_issued" && e["account"] == "balls"));

    let url = server.database_url.clone();
    let db = server.stop().await;
    verify_is_clean(&url);
    drop(db);
}

async fn uncollected_balls_vanish_into_the_expiry_account() {
    let (server, clock) = server_with_clock(|_| {}).await;
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("forest-bo", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "bo").await;
    let recorded = clock.now();
    let credited =
        server.send_ok(&partner, json!([event("x-1", "bo", "shared_bike", json!({ "distance_km": 4 }))])).await;
    let grams = credited[0]["grams"].as_i64().unwrap();
    let ball = balls(&server, &citizen).await[0].clone();
    let path = format!("/v1/me/balls/{}/collect", ball["id"].as_str().unwrap());

    // Still there a second before the end of its 72 hours; gone at the end.
    let expires = next_beijing_morning(recorded) + Duration::hours(72);
    clock.set(expires - Duration::seconds(1));
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    assert_eq!(balls(&server, &citizen).await[0]["state"], "ripe");
    assert_eq!(server.me(&citizen).await["balls_grams"], grams);
    clock.set(expires);

    // The sweep moves its energy to the expiry account, with a ledger entry.
    let mut expired = false;
    for _ in 0..50 {
        let ledger = server.get("/v1/me/ledger", Some(&citizen.token)).await;
        if ledger.body["entries"].as_array().unwrap().iter().any(|e| e["kind"] == "ball_expired") {
            expired = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert!(expired, "the sweep expired the ball");
    let listed = balls(&server, &citizen).await;
    assert_eq!((listed[0]["state"].as_str(), listed[0]["remaining_grams"].as_i64()), (Some("expired"), Some(0)));
    let late = collect(&server, &citizen, &path, None).await;
    assert_eq!((late.status, late.code()), (StatusCode::CONFLICT, "ball_expired"), "{late:?}");
    let me = server.me(&citizen).await;
    assert_eq!((me["energy_grams"].as_i64(), me["balls_grams"].as_i64()), (Some(0), Some(0)));
    assert_eq!(me["reduction_grams"], grams, "expiry never touches the verified reduction");

    let url = server.database_url.clone();
    let db = server.stop().await;
    verify_is_clean(&url);
    drop(db);
}

async fn balls_ripen_at_once_when_configured_and_belong_to_their_owner() {
    let (server, clock) = server_with_clock(|config| config.game.set("ball_ripens", "immediately").unwrap()).await;
    let partner = server.create_partner(&["transport"]).await;
    let owner = server.create_citizen("forest-cy", "CN-BJ").await;
    let other = server.create_citizen("forest-di", "CN-BJ").await;
    server.link(&owner, &partner, &["transport"], "cy").await;
    server.send_ok(&partner, json!([event("i-1", "cy", "shared_bike", json!({ "distance_km": 1 }))])).await;
    let ball = balls(&server, &owner).await[0].clone();
    assert_eq!(ball["state"], "ripe");
    assert_eq!(time(&ball["ripens_at"]), clock.now().trunc_subsecs(6), "ripe when recorded");
    let path = format!("/v1/me/balls/{}/collect", ball["id"].as_str().unwrap());

    // Someone else's ball, an unknown one and a malformed id are not found.
    for (who, path) in [
        (&other, path.clone()),
        (&owner, "/v1/me/balls/bal_999999/collect".to_owned()),
        (&owner, "/v1/me/balls/12/collect".to_owned()),
    ] {
        let refused = collect(&server, who, &path, None).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::NOT_FOUND, "ball_not_found"), "{path}: {refused:?}");
    }
    let bad_key = collect(&server, &owner, &path, Some(&"k".repeat(129))).await;
    assert_eq!((bad_key.status, bad_key.code()), (StatusCode::BAD_REQUEST, "invalid_idempotency_key"));
    let unsigned = server.raw(Method::POST, &path, &[], Vec::new()).await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    let ok = collect(&server, &owner, &path, None).await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
    assert_eq!(ok.body["collected_grams"], ball["grams"]);
    assert!(balls(&server, &other).await.is_empty());

    // More energy of the same behaviour and day after the collect starts a
    // new ball: a collected ball takes nothing more (the writer remembers
    // the old ball, and finds it closed).
    let more = server.send_ok(&partner, json!([event("i-2", "cy", "shared_bike", json!({ "distance_km": 2 }))])).await;
    let listed = balls(&server, &owner).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!((listed[0]["state"].as_str(), &listed[0]["grams"]), (Some("ripe"), &more[0]["grams"]));
    assert_eq!((listed[1]["state"].as_str(), &listed[1]["grams"]), (Some("collected"), &ball["grams"]));
    // And the next act of that day joins the new ball.
    let third = server.send_ok(&partner, json!([event("i-3", "cy", "shared_bike", json!({ "distance_km": 1 }))])).await;
    let listed = balls(&server, &owner).await;
    assert_eq!(listed.len(), 2);
    let expected = more[0]["grams"].as_i64().unwrap() + third[0]["grams"].as_i64().unwrap();
    assert_eq!(listed[0]["grams"], expected);
}

async fn a_script_collecting_at_machine_speed_is_rate_limited() {
    let (server, _clock) = server_with_clock(|config| {
        config.game_moves_per_s = 1;
        config.game_moves_burst = 3;
    })
    .await;
    let citizen = server.create_citizen("forest-script", "CN-BJ").await;
    let other = server.create_citizen("forest-person", "CN-BJ").await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..8 {
        let reply = collect(&server, &citizen, "/v1/me/balls/collect", None).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(reply.code(), "rate_limited");
            retry_after = reply.headers.get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        }
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(&statuses[..3], [200, 200, 200], "the burst passes: {statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "then the rate applies: {statuses:?}");
    let wait = retry_after.expect("429 says when to retry");
    assert!((1..=2).contains(&wait), "{wait}");
    // Another citizen is not slowed by the first one's script.
    assert_eq!(collect(&server, &other, "/v1/me/balls/collect", None).await.status, StatusCode::OK);
    // After the wait it says, the citizen may move again.
    tokio::time::sleep(StdDuration::from_secs(wait)).await;
    assert_eq!(collect(&server, &citizen, "/v1/me/balls/collect", None).await.status, StatusCode::OK);
}

/// The same collect sent at once from many connections (a client retrying
/// before its first answer came), under two keys: the writer decides the
/// requests together, and every request of a key gets that key's one
/// answer, the ball moves once, and only one of the keys collects it.
async fn one_collect_retried_at_once_under_two_keys_moves_once() {
    let (server, _clock) = server_with_clock(|config| {
        config.game.set("ball_ripens", "immediately").unwrap();
        config.game_moves_burst = 100;
    })
    .await;
    let partner = server.create_partner(&["transport"]).await;
    let owner = server.create_citizen("forest-retry", "CN-BJ").await;
    server.link(&owner, &partner, &["transport"], "retry").await;
    let credited = server.send_ok(&partner, json!([event("r-1", "retry", "bus_ride", json!({}))])).await;
    let grams = credited[0]["grams"].as_i64().unwrap();
    let ball = balls(&server, &owner).await[0].clone();
    let url = format!("{}/v1/me/balls/{}/collect", server.base, ball["id"].as_str().unwrap());
    let mut tasks = Vec::new();
    for n in 0..32 {
        let (url, token, key) = (url.clone(), owner.token.clone(), if n % 2 == 0 { "first" } else { "second" });
        tasks.push(tokio::spawn(async move {
            let reply = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", key)
                .send()
                .await
                .unwrap();
            let status = reply.status();
            (key, status, reply.json::<Value>().await.unwrap())
        }));
    }
    let mut answers: std::collections::BTreeMap<&str, Vec<(StatusCode, Value)>> = Default::default();
    for task in tasks {
        let (key, status, body) = task.await.unwrap();
        answers.entry(key).or_default().push((status, body));
    }
    for (key, replies) in &answers {
        assert!(
            replies.iter().all(|r| r == &replies[0]),
            "{key}: every request of a key has its one answer: {replies:?}"
        );
    }
    let (first, second) = (&answers["first"][0], &answers["second"][0]);
    let collected = json!({ "collected_grams": grams, "energy_grams": grams });
    let (won, lost) = if first.0 == StatusCode::OK { (first, second) } else { (second, first) };
    assert_eq!((won.0, &won.1), (StatusCode::OK, &collected), "one key collects: {answers:?}");
    assert_eq!((lost.0, lost.1["code"].as_str()), (StatusCode::CONFLICT, Some("already_collected")), "{answers:?}");
    assert_eq!(server.me(&owner).await["energy_grams"], grams, "the ball moved once");
    let url = server.database_url.clone();
    let db = server.stop().await;
    verify_is_clean(&url);
    drop(db);
}

/// Ripening and local days across a daylight-saving change: Berlin moves
/// from UTC+1 to UTC+2 at 02:00 on Sunday 29 March 2026. A ball recorded on
/// Saturday ripens at 07:00 on Sunday, which is 05:00Z (not 06:00Z as the
/// day before), and vanishes 72 hours later; an act at 00:30 local on
/// Sunday (23:30Z on Saturday) is a new local day, so a new ball.
async fn balls_ripen_at_local_seven_across_a_daylight_saving_change() {
    let (server, clock) = server_with_clock(|_| {}).await;
    let utc = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
    clock.set(utc("2026-03-28T12:00:00Z"));
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("forest-berlin", "DE-BE").await;
    server.link(&citizen, &partner, &["transport"], "berlin").await;
    let walk = |id: &str, at: DateTime<Utc>| {
        let mut e = event(id, "berlin", "walking", json!({ "steps": 3000 }));
        e["occurred_at"] = json!(at.to_rfc3339());
        e
    };
    let noon = server.send_ok(&partner, json!([walk("w-noon", clock.now() - Duration::minutes(5))])).await;
    assert_eq!(noon[0]["outcome"], "credited", "{noon:?}");
    // 23:20 local on Saturday (CET, UTC+1): the same local day, the same ball.
    clock.set(utc("2026-03-28T22:20:00Z"));
    server.send_ok(&partner, json!([walk("w-late", clock.now() - Duration::minutes(5))])).await;
    let listed = balls(&server, &citizen).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let saturday = listed[0].clone();
    assert_eq!(time(&saturday["ripens_at"]), utc("2026-03-29T05:00:00Z"), "07:00 CEST on the day the clocks change");
    assert_eq!(time(&saturday["expires_at"]), utc("2026-04-01T05:00:00Z"));
    // 00:30 local on Sunday, still CET: a new local day, a new ball, ripe at 07:00 CEST on Monday.
    clock.set(utc("2026-03-28T23:30:00Z"));
    server.send_ok(&partner, json!([walk("w-sunday", clock.now() - Duration::minutes(5))])).await;
    let listed = balls(&server, &citizen).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let sunday = listed.iter().find(|b| b["id"] != saturday["id"]).unwrap();
    assert_eq!(time(&sunday["ripens_at"]), utc("2026-03-30T05:00:00Z"));

    // Across the change: growing a second before 05:00Z, ripe at 05:00Z.
    clock.set(utc("2026-03-29T04:59:59Z"));
    let path = format!("/v1/me/balls/{}/collect", saturday["id"].as_str().unwrap());
    let early = collect(&server, &citizen, &path, None).await;
    assert_eq!((early.status, early.code()), (StatusCode::CONFLICT, "ball_not_ripe"), "{early:?}");
    clock.set(utc("2026-03-29T05:00:00Z"));
    let collected = collect(&server, &citizen, &path, None).await;
    assert_eq!(collected.status, StatusCode::OK, "{collected:?}");
    assert_eq!(collected.body["collected_grams"], saturday["grams"]);
}

crate::contract!(
    balls_ripen_at_local_seven_across_a_daylight_saving_change,
    one_collect_retried_at_once_under_two_keys_moves_once,
    a_script_collecting_at_machine_speed_is_rate_limited,
    energy_ripens_next_morning_and_is_collected_once,
    uncollected_balls_vanish_into_the_expiry_account,
    balls_ripen_at_once_when_configured_and_belong_to_their_owner,
);
