//! A property over HTTP (issue 10): for any sequence of credits, collects,
//! friends' takes, waterings, check-in rewards and expiries (the clock
//! moving by hours between them), every move is answered with success or a
//! stable refusal, no balance goes negative, energy is conserved — what the
//! citizens hold in balls and energy, plus what expired, equals what was
//! credited plus what the check-in pool paid — and `ledger verify` is
//! clean.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use canopy_core::clock::{Clock, ManualClock};
use chrono::Duration;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::checkins::{admin, check_in};
use crate::friends::{befriend, call};
use crate::harness::*;
use crate::process::canopy;

#[derive(Debug, Clone)]
enum Op {
    Credit { user: u8, behavior: u8, amount: u8 },
    Advance { hours: u8 },
    Collect { user: u8, pick: u8 },
    CollectAll { user: u8 },
    Take { collector: u8, owner: u8, pick: u8 },
    Water { giver: u8, friend: u8, grams: u8 },
    CheckIn { user: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..3, 0u8..2, 1u8..60).prop_map(|(user, behavior, amount)| Op::Credit { user, behavior, amount }),
        2 => (1u8..40).prop_map(|hours| Op::Advance { hours }),
        2 => (0u8..3, any::<u8>()).prop_map(|(user, pick)| Op::Collect { user, pick }),
        3 => (0u8..3).prop_map(|user| Op::CollectAll { user }),
        4 => (0u8..3, 0u8..3, any::<u8>()).prop_map(|(collector, owner, pick)| Op::Take { collector, owner, pick }),
        3 => (0u8..3, 1u8..3, prop::sample::select(vec![10u8, 10, 20, 50, 7]))
            .prop_map(|(giver, other, grams)| Op::Water { giver, friend: (giver + other) % 3, grams }),
        1 => (0u8..3).prop_map(|user| Op::CheckIn { user }),
    ]
}

/// The codes a move may be refused with in these sequences.
const REFUSALS: &[&str] = &[
    "ball_not_found",
    "ball_not_ripe",
    "ball_expired",
    "already_collected",
    "already_taken",
    "ball_protected",
    "daily_limit_reached",
    "not_friend",
    "water_limit_reached",
    "insufficient_energy",
    "already_checked_in",
    "invalid_amount",
];

fn answered(reply: &Reply) -> Result<(), TestCaseError> {
    if reply.status.is_success() {
        return Ok(());
    }
    prop_assert!(
        matches!(
            reply.status,
            StatusCode::BAD_REQUEST | StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY | StatusCode::NOT_FOUND
        ) && REFUSALS.contains(&reply.code()),
        "an unexpected answer: {reply:?}"
    );
    Ok(())
}

async fn ball_ids(server: &TestServer, who: &Citizen) -> Vec<String> {
    let reply = server.get("/v1/me/balls", Some(&who.token)).await;
    reply.body["balls"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_owned()).collect()
}

/// Grams of `who`'s ledger entries of `kind` on `account`.
async fn entries(server: &TestServer, who: &Citizen, kind: &str, account: &str) -> i64 {
    let ledger = server.get("/v1/me/ledger?limit=500", Some(&who.token)).await;
    ledger.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind && e["account"] == account)
        .map(|e| e["grams"].as_i64().unwrap())
        .sum()
}

mod energy_is_conserved_whatever_the_players_do {
    use super::*;

    #[test]
    fn sqlite() {
        energy_is_conserved_whatever_the_players_do(Backend::Sqlite);
    }

    #[test]
    fn postgres() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        if runtime.block_on(postgres_available()) {
            energy_is_conserved_whatever_the_players_do(Backend::Postgres);
        }
    }
}

fn energy_is_conserved_whatever_the_players_do(backend: Backend) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // A fixed start (10:00 in Beijing), so that the seeded sequences meet
    // the same ripening and expiry times whenever the suite runs.
    let clock = ManualClock::new("2026-07-22T02:00:00Z".parse().unwrap());
    let (server, partner) = runtime.block_on(on(backend, {
        let clock = clock.clone();
        async move {
            let server = TestServer::start_with(move |config| {
                config.clock = Arc::new(clock);
                config.ball_sweep_interval = StdDuration::from_millis(50);
                config.session_ttl_s = 3650 * 24 * 3600;
                config.game_moves_burst = 1000;
                config.game.set("checkin_rewards", "1:5,2:20").unwrap();
            })
            .await;
            let pool = admin(
                &server,
                Method::POST,
                "/v1/pools",
                json!({ "name": "Check-ins", "sponsor": "City", "purpose": "checkins" }),
            )
            .await;
            let fund = format!("/v1/pools/{}/fund", pool.body["id"].as_str().unwrap());
            // Enough for some milestones, not all: a short pool pays nothing.
            admin(&server, Method::POST, &fund, json!({ "amount": 300 })).await;
            let partner = server.create_partner(&["transport"]).await;
            (server, partner)
        }
    }));
    let case_counter = std::sync::atomic::AtomicUsize::new(0);
    // A fixed seed: the same sequences every run, so that the tally below
    // (every kind of move happened) is a fact, not a chance.
    let mut runner = TestRunner::new_with_rng(
        Config { cases: 16, failure_persistence: None, ..Config::default() },
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let tally: std::sync::Mutex<std::collections::BTreeMap<String, usize>> = Default::default();
    let count = |what: &'static str, reply: &Reply| {
        if reply.status.is_success() {
            *tally.lock().unwrap().entry(what.to_owned()).or_default() += 1;
        } else if let Some(code) = reply.body["code"].as_str() {
            *tally.lock().unwrap().entry(format!("{what} refused {code}")).or_default() += 1;
        }
    };
    runner
        .run(&proptest::collection::vec(op(), 10..45), |ops| {
            let case = case_counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            runtime.block_on(async {
                let mut citizens = Vec::new();
                for user in 0..3 {
                    let citizen = server.create_citizen(&format!("g{case}u{user}"), "CN-BJ").await;
                    server.link(&citizen, &partner, &["transport"], &format!("g{case}-u{user}")).await;
                    citizens.push(citizen);
                }
                befriend(&server, &citizens[0], &citizens[1]).await;
                befriend(&server, &citizens[1], &citizens[2]).await;
                befriend(&server, &citizens[2], &citizens[0]).await;
                let (mut credited, mut rewards, mut event) = (0i64, 0i64, 0usize);
                for op in &ops {
                    match *op {
                        Op::Credit { user, behavior, amount } => {
                            event += 1;
                            let (behavior, inputs) = match behavior {
                                0 => ("shared_bike", json!({ "distance_km": f64::from(amount) / 4.0 })),
                                _ => ("walking", json!({ "steps": u32::from(amount) * 100 })),
                            };
                            let id = format!("g{case}-e{event}");
                            let mut act = crate::harness::event(&id, &format!("g{case}-u{user}"), behavior, inputs);
                            act["occurred_at"] = json!((clock.now() - Duration::minutes(1)).to_rfc3339());
                            let sent = server.send_ok(&partner, json!([act])).await;
                            credited += sent[0]["grams"].as_i64().unwrap_or(0);
                        }
                        Op::Advance { hours } => {
                            clock.advance(Duration::hours(i64::from(hours)));
                            // Let the sweep see the new time.
                            tokio::time::sleep(StdDuration::from_millis(120)).await;
                        }
                        Op::Collect { user, pick } => {
                            let who = &citizens[usize::from(user)];
                            let balls = ball_ids(&server, who).await;
                            if let Some(ball) = balls.get(usize::from(pick) % balls.len().max(1)) {
                                let path = format!("/v1/me/balls/{ball}/collect");
                                let reply = call(&server, who, Method::POST, &path, None, None).await;
                                answered(&reply)?;
                                count("collect", &reply);
                            }
                        }
                        Op::CollectAll { user } => {
                            let who = &citizens[usize::from(user)];
                            let reply = call(&server, who, Method::POST, "/v1/me/balls/collect", None, None).await;
                            prop_assert_eq!(reply.status, StatusCode::OK, "{:?}", reply);
                        }
                        Op::Take { collector, owner, pick } => {
                            let (who, owner) = (&citizens[usize::from(collector)], &citizens[usize::from(owner)]);
                            let balls = ball_ids(&server, owner).await;
                            if let Some(ball) = balls.get(usize::from(pick) % balls.len().max(1)) {
                                let path = format!("/v1/friends/{}/balls/{ball}/collect", owner.id);
                                let reply = call(&server, who, Method::POST, &path, None, None).await;
                                if reply.status != StatusCode::FORBIDDEN {
                                    answered(&reply)?;
                                }
                                count("take", &reply);
                            }
                        }
                        Op::Water { giver, friend, grams } => {
                            let (who, friend) = (&citizens[usize::from(giver)], &citizens[usize::from(friend)]);
                            let path = format!("/v1/friends/{}/water", friend.id);
                            let body = json!({ "grams": grams });
                            let reply = call(&server, who, Method::POST, &path, Some(body), None).await;
                            answered(&reply)?;
                            count("water", &reply);
                        }
                        Op::CheckIn { user } => {
                            let reply = check_in(&server, &citizens[usize::from(user)], None).await;
                            answered(&reply)?;
                            rewards += reply.body["reward_grams"].as_i64().unwrap_or(0);
                            if reply.body["reward_grams"].as_i64().unwrap_or(0) > 0 {
                                count("reward", &reply);
                            }
                        }
                    }
                }
                // The last sweep has run by now; nothing moves while we read.
                tokio::time::sleep(StdDuration::from_millis(150)).await;
                let (mut held, mut expired) = (0i64, 0i64);
                for citizen in &citizens {
                    let me = server.me(citizen).await;
                    let (energy, balls) = (me["energy_grams"].as_i64().unwrap(), me["balls_grams"].as_i64().unwrap());
                    prop_assert!(energy >= 0 && balls >= 0, "{me}");
                    held += energy + balls;
                    expired -= entries(&server, citizen, "ball_expired", "balls").await;
                }
                prop_assert_eq!(held + expired, credited + rewards, "energy is conserved");
                if expired > 0 {
                    *tally.lock().unwrap().entry("expiry".to_owned()).or_default() += 1;
                }
                Ok(())
            })
        })
        .unwrap();
    let tally = tally.into_inner().unwrap();
    for what in ["collect", "take", "water", "reward", "expiry"] {
        assert!(tally.get(what).is_some_and(|n| *n > 0), "the sequences never made a {what}: {tally:?}");
    }
    let url = server.database_url.clone();
    let db = runtime.block_on(server.stop());
    let verified = canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    drop(db);
}
