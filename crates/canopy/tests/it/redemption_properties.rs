//! A property over HTTP (issue 11): for any sequence of redemptions,
//! cancellations, co-planting plans (opened, accepted, declined, left to
//! expire) and campaign contributions, with the clock moving between them,
//! every move is answered with success or a stable refusal, no balance goes
//! negative, no project sells beyond its stock, energy is conserved —
//! what the citizens hold (spendable and held) plus what projects and
//! campaigns received equals what they were given — and `ledger verify` is
//! clean.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use canopy_core::clock::{Clock, ManualClock};
use chrono::{Duration, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::checkins::admin;
use crate::friends::{befriend, call};
use crate::harness::*;
use crate::process::canopy;

#[derive(Debug, Clone)]
enum Op {
    Redeem { user: u8, project: u8, quantity: u8 },
    Cancel { user: u8, pick: u8 },
    Open { creator: u8, split: u8 },
    Answer { user: u8, pick: u8, accept: bool },
    Contribute { user: u8, grams: u16 },
    Advance { hours: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u8..3, 0u8..2, 1u8..4).prop_map(|(user, project, quantity)| Op::Redeem { user, project, quantity }),
        2 => (0u8..3, any::<u8>()).prop_map(|(user, pick)| Op::Cancel { user, pick }),
        2 => (0u8..3, 1u8..20).prop_map(|(creator, split)| Op::Open { creator, split }),
        4 => (0u8..3, any::<u8>(), prop::bool::weighted(0.8)).prop_map(|(user, pick, accept)| Op::Answer { user, pick, accept }),
        2 => (0u8..3, 1u16..700).prop_map(|(user, grams)| Op::Contribute { user, grams }),
        2 => prop::sample::select(vec![2u8, 12, 30, 80]).prop_map(|hours| Op::Advance { hours }),
    ]
}

/// The codes a move may be refused with in these sequences.
const REFUSALS: &[&str] = &[
    "insufficient_energy",
    "out_of_stock",
    "project_not_active",
    "already_cancelled",
    "cancel_window_passed",
    "cancel_not_allowed",
    "already_answered",
    "coplanting_closed",
    "coplanting_expired",
    "contribution_over_limit",
    "campaign_not_active",
];

fn answered(reply: &Reply) -> Result<(), TestCaseError> {
    if reply.status.is_success() {
        return Ok(());
    }
    prop_assert!(
        matches!(reply.status, StatusCode::BAD_REQUEST | StatusCode::CONFLICT) && REFUSALS.contains(&reply.code()),
        "an unexpected answer: {reply:?}"
    );
    Ok(())
}

/// Energy one second-hand computer earns.
const COMPUTER_G: i64 = 162_640;
/// A tree's price (60 kg), so a citizen affords two.
const TREE_G: i64 = 60_000;

mod energy_held_and_spent_add_up_whatever_citizens_redeem {
    use super::*;

    #[test]
    fn sqlite() {
        energy_held_and_spent_add_up(Backend::Sqlite);
    }

    #[test]
    fn postgres() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        if runtime.block_on(postgres_available()) {
            energy_held_and_spent_add_up(Backend::Postgres);
        }
    }
}

async fn json_of(server: &TestServer, who: &Citizen, path: &str) -> Value {
    server.get(path, Some(&who.token)).await.body
}

fn energy_held_and_spent_add_up(backend: Backend) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let clock = ManualClock::new(Utc::now());
    let (server, partner, sponsor) = runtime.block_on(on(backend, {
        let clock = clock.clone();
        async move {
            let server = TestServer::start_with(move |config| {
                config.clock = Arc::new(clock);
                config.ball_sweep_interval = StdDuration::from_millis(50);
                config.session_ttl_s = 3650 * 24 * 3600;
                config.game_moves_burst = 1000;
                config.game.set("ball_ripens", "immediately").unwrap();
            })
            .await;
            let partner = server.create_partner(&["use"]).await;
            let sponsor =
                admin(&server, Method::POST, "/v1/sponsors", json!({ "name": "Props", "kind": "foundation" })).await;
            (server, partner, sponsor.body["id"].as_str().unwrap().to_owned())
        }
    }));
    let case_counter = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = TestRunner::new_with_rng(
        Config { cases: 12, failure_persistence: None, ..Config::default() },
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let tally: std::sync::Mutex<std::collections::BTreeMap<String, usize>> = Default::default();
    let count = |what: &str, reply: &Reply| {
        let key = match reply.status.is_success() {
            true => what.to_owned(),
            false => format!("{what} refused {}", reply.body["code"].as_str().unwrap_or("?")),
        };
        *tally.lock().unwrap().entry(key).or_default() += 1;
    };
    runner
        .run(&proptest::collection::vec(op(), 10..40), |ops| {
            let case = case_counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            runtime.block_on(async {
                // Three friends with a computer's worth of energy each.
                let mut citizens = Vec::new();
                for user in 0..3 {
                    let name = format!("r{case}u{user}");
                    let citizen = server.create_citizen(&name, "CN-BJ").await;
                    server.link(&citizen, &partner, &["use"], &name).await;
                    let mut act = crate::harness::event(&format!("{name}-pc"), &name, "secondhand_computer", json!({ "items": 1 }));
                    act["occurred_at"] = json!((clock.now() - Duration::minutes(1)).to_rfc3339());
                    server.send_ok(&partner, json!([act])).await;
                    call(&server, &citizen, Method::POST, "/v1/me/balls/collect", None, None).await;
                    citizens.push(citizen);
                }
                befriend(&server, &citizens[0], &citizens[1]).await;
                befriend(&server, &citizens[1], &citizens[2]).await;
                befriend(&server, &citizens[2], &citizens[0]).await;
                let given = 3 * COMPUTER_G;
                // This case's tree (4 in stock), donation (6 units of 9 kg) and campaign, open for 60 days.
                let (starts_at, ends_at) = ((clock.now() - Duration::hours(1)).to_rfc3339(), (clock.now() + Duration::days(60)).to_rfc3339());
                let tree = admin(&server, Method::POST, "/v1/projects", json!({
                    "kind": "tree", "title": "Props tree", "sponsor_id": sponsor, "stock": 4, "regions": ["*"], "starts_at": starts_at, "ends_at": ends_at,
                    "details": { "species": "Populus", "site": "Kubuqi", "region": "CN-NM", "sequestration_kg": 60 } })).await;
                let donation = admin(&server, Method::POST, "/v1/projects", json!({
                    "kind": "donation", "title": "Props lunches", "sponsor_id": sponsor, "price_grams": 9_000, "stock": 6, "regions": ["*"],
                    "starts_at": starts_at, "ends_at": ends_at, "details": { "beneficiary": "School", "unit_buys": "a lunch" } })).await;
                let campaign = admin(&server, Method::POST, "/v1/campaigns", json!({
                    "title": "Props kg", "beneficiary": "Games", "goal_grams": 3000, "per_person_limit_grams": 1000, "sponsor_id": sponsor,
                    "starts_at": starts_at, "ends_at": ends_at })).await;
                let projects = [tree.body["id"].as_str().unwrap().to_owned(), donation.body["id"].as_str().unwrap().to_owned()];
                let campaign = campaign.body["id"].as_str().unwrap().to_owned();
                for op in &ops {
                    match *op {
                        Op::Redeem { user, project, quantity } => {
                            let body = json!({ "project_id": projects[usize::from(project)], "quantity": quantity });
                            let reply = call(&server, &citizens[usize::from(user)], Method::POST, "/v1/me/redemptions", Some(body), None).await;
                            answered(&reply)?;
                            count("redeem", &reply);
                        }
                        Op::Cancel { user, pick } => {
                            let who = &citizens[usize::from(user)];
                            let listed = json_of(&server, who, "/v1/me/redemptions").await;
                            let ids: Vec<&str> = listed["redemptions"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
                            if let Some(id) = ids.get(usize::from(pick) % ids.len().max(1)) {
                                let reply = call(&server, who, Method::POST, &format!("/v1/me/redemptions/{id}/cancel"), None, None).await;
                                answered(&reply)?;
                                count("cancel", &reply);
                            }
                        }
                        Op::Open { creator, split } => {
                            let others: Vec<&Citizen> = (1..3).map(|k| &citizens[(usize::from(creator) + k) % 3]).collect();
                            let theirs = i64::from(split) * 1_000;
                            let own = TREE_G - 2 * theirs;
                            let shares: serde_json::Map<String, Value> = [(citizens[usize::from(creator)].id.clone(), json!(own))]
                                .into_iter()
                                .chain(others.iter().map(|c| (c.id.clone(), json!(theirs))))
                                .collect();
                            let body = json!({ "project_id": projects[0], "invitees": others.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), "shares": shares });
                            let reply = call(&server, &citizens[usize::from(creator)], Method::POST, "/v1/me/coplantings", Some(body), None).await;
                            answered(&reply)?;
                            count("open", &reply);
                        }
                        Op::Answer { user, pick, accept } => {
                            let who = &citizens[usize::from(user)];
                            let plans = json_of(&server, who, "/v1/me/coplantings").await;
                            let invited: Vec<String> = plans["coplantings"].as_array().unwrap().iter()
                                .filter(|p| p["creator"] != who.id.as_str())
                                .map(|p| p["id"].as_str().unwrap().to_owned())
                                .collect();
                            if let Some(plan) = invited.get(usize::from(pick) % invited.len().max(1)) {
                                let verb = if accept { "accept" } else { "decline" };
                                let reply = call(&server, who, Method::POST, &format!("/v1/me/coplantings/{plan}/{verb}"), None, None).await;
                                answered(&reply)?;
                                count(verb, &reply);
                                if reply.body["status"] == "planted" {
                                    *tally.lock().unwrap().entry("planted".into()).or_default() += 1;
                                }
                            }
                        }
                        Op::Contribute { user, grams } => {
                            let path = format!("/v1/campaigns/{campaign}/contributions");
                            let reply = call(&server, &citizens[usize::from(user)], Method::POST, &path, Some(json!({ "grams": grams })), None).await;
                            answered(&reply)?;
                            count("contribute", &reply);
                        }
                        Op::Advance { hours } => {
                            clock.advance(Duration::hours(i64::from(hours)));
                            // Let the sweep see the new time (plans past their deadline).
                            tokio::time::sleep(StdDuration::from_millis(120)).await;
                        }
                    }
                }
                tokio::time::sleep(StdDuration::from_millis(120)).await;
                let mut holding = 0i64;
                for citizen in &citizens {
                    let me = server.me(citizen).await;
                    let (energy, held) = (me["energy_grams"].as_i64().unwrap(), me["held_energy_grams"].as_i64().unwrap());
                    prop_assert!(energy >= 0 && held >= 0, "{me}");
                    holding += energy + held;
                }
                let mut spent = 0i64;
                for id in &projects {
                    let project = server.get(&format!("/v1/projects/{id}"), None).await.body;
                    prop_assert!(project["sold"].as_i64().unwrap() <= project["stock"].as_i64().unwrap(), "{project}");
                    spent += project["energy_grams"].as_i64().unwrap();
                }
                let standing = server.get(&format!("/v1/campaigns/{campaign}"), None).await.body;
                spent += standing["contributed_grams"].as_i64().unwrap();
                prop_assert_eq!(holding + spent, given, "energy + held + spent is conserved");
                Ok(())
            })
        })
        .unwrap();
    let tally = tally.into_inner().unwrap();
    for what in [
        "redeem",
        "cancel",
        "open",
        "accept",
        "decline",
        "planted",
        "contribute",
        "redeem refused out_of_stock",
        "redeem refused insufficient_energy",
    ] {
        assert!(tally.get(what).is_some_and(|n| *n > 0), "the sequences never made a {what}: {tally:?}");
    }
    let url = server.database_url.clone();
    let db = runtime.block_on(server.stop());
    let verified = canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    drop(db);
}
