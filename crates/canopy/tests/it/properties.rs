//! Properties over HTTP: after any sequence of batches the ledger's
//! invariants hold, and a retried batch changes nothing.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

use crate::harness::*;

#[derive(Debug, Clone)]
struct Act {
    id: u8,
    user: u8,
    behavior: u8,
    amount: u8,
    fingerprint: Option<u8>,
}

fn act() -> impl Strategy<Value = Act> {
    (0u8..40, 0u8..4, 0u8..4, 1u8..60, proptest::option::of(0u8..6))
        .prop_map(|(id, user, behavior, amount, fingerprint)| Act { id, user, behavior, amount, fingerprint })
}

fn to_event(case: usize, act: &Act) -> Value {
    let user_ref = format!("case{case}-user{}", act.user); // user 3 is never linked
    let (behavior, inputs) = match act.behavior {
        0 => ("shared_bike", json!({ "distance_km": f64::from(act.amount) / 2.0 })),
        1 => ("e_payment", json!({ "amount_yuan": act.amount })),
        2 => ("secondhand_clothing", json!({ "items": act.amount })),
        _ => ("bus_ride", json!({})),
    };
    let mut e = event(&format!("case{case}-ev{}", act.id), &user_ref, behavior, inputs);
    if let Some(f) = act.fingerprint {
        e["fingerprint"] = json!(format!("case{case}-act{f}"));
    }
    e
}

mod ledger_invariants_hold_and_retries_change_nothing {
    use super::*;

    #[test]
    fn sqlite() {
        ledger_invariants_hold_and_retries_change_nothing(Backend::Sqlite);
    }

    #[test]
    fn postgres() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        if runtime.block_on(postgres_available()) {
            ledger_invariants_hold_and_retries_change_nothing(Backend::Postgres);
        }
    }
}

fn ledger_invariants_hold_and_retries_change_nothing(backend: Backend) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (server, partner) = runtime.block_on(on(backend, async {
        let server = TestServer::start().await;
        let partner = server.create_partner(&["transport", "digital_finance", "clothing"]).await;
        (server, partner)
    }));
    let case_counter = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config { cases: 16, failure_persistence: None, ..Config::default() });
    let strategy = proptest::collection::vec(proptest::collection::vec(act(), 0..25), 1..5);
    runner
        .run(&strategy, |batches| {
            let case = case_counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            runtime.block_on(async {
                let mut citizens = Vec::new();
                for user in 0..3 {
                    let citizen = server
                        .create_citizen(&format!("c{case}u{user}"), if user == 1 { "CN-HB" } else { "CN-BJ" })
                        .await;
                    server
                        .link(
                            &citizen,
                            &partner,
                            &["transport", "digital_finance", "clothing"],
                            &format!("case{case}-user{user}"),
                        )
                        .await;
                    citizens.push(citizen);
                }
                let mut credited: HashMap<String, i64> = HashMap::new();
                let mut accepted_ids = std::collections::HashSet::new();
                for batch in &batches {
                    let events: Vec<Value> = batch.iter().map(|a| to_event(case, a)).collect();
                    let first = server.send_ok(&partner, json!(events)).await;
                    prop_assert_eq!(first.len(), events.len());
                    for (event, result) in events.iter().zip(&first) {
                        prop_assert_eq!(&result["id"], &event["id"]);
                        if matches!(result["outcome"].as_str(), Some("credited" | "capped")) {
                            let grams = result["grams"].as_i64().unwrap();
                            prop_assert!(grams >= 0);
                            *credited.entry(event["user_ref"].as_str().unwrap().to_owned()).or_default() += grams;
                            accepted_ids.insert(event["id"].as_str().unwrap().to_owned());
                        }
                    }
                    let before: Vec<Value> = balances_of(&server, &citizens).await;
                    // The same batch again (signed afresh): nothing changes.
                    let retry = server.send_ok(&partner, json!(events)).await;
                    for (original, again) in first.iter().zip(&retry) {
                        match original["outcome"].as_str().unwrap() {
                            // An id rejected once but accepted later is a
                            // duplicate of the accepted report.
                            "rejected" if accepted_ids.contains(original["id"].as_str().unwrap()) => {
                                prop_assert_eq!(&again["outcome"], "duplicate");
                            }
                            "rejected" => {
                                prop_assert_eq!(&again["outcome"], "rejected");
                                prop_assert_eq!(&again["code"], &original["code"]);
                            }
                            _ => {
                                prop_assert_eq!(&again["outcome"], "duplicate");
                                prop_assert_eq!(&again["grams"], &original["grams"]);
                            }
                        }
                    }
                    prop_assert_eq!(balances_of(&server, &citizens).await, before);
                }
                for (user, citizen) in citizens.iter().enumerate() {
                    let me = server.me(citizen).await;
                    let expected = credited.get(&format!("case{case}-user{user}")).copied().unwrap_or(0);
                    prop_assert_eq!(me["reduction_grams"].as_i64().unwrap(), expected);
                    prop_assert_eq!(me["balls_grams"].as_i64().unwrap(), expected);
                    prop_assert_eq!(me["energy_grams"].as_i64().unwrap(), 0);
                    let ledger = server.get("/v1/me/ledger?limit=500", Some(&citizen.token)).await;
                    let entries = ledger.body["entries"].as_array().unwrap();
                    for account in ["reduction", "balls"] {
                        let sum: i64 = entries
                            .iter()
                            .filter(|e| e["account"] == account)
                            .map(|e| e["grams"].as_i64().unwrap())
                            .sum();
                        prop_assert_eq!(sum, expected);
                    }
                    prop_assert!(entries.iter().all(|e| e["grams"].as_i64().unwrap() > 0 && e["event"].is_object()));
                }
                let store = canopy_store::Store::connect(&server.database_url).await.unwrap();
                let problems = store.verify_ledger().await.unwrap();
                store.close().await;
                prop_assert!(problems.is_empty(), "{:?}", problems);
                Ok(())
            })
        })
        .unwrap();
}

async fn balances_of(server: &TestServer, citizens: &[Citizen]) -> Vec<Value> {
    let mut balances = Vec::new();
    for citizen in citizens {
        balances.push(server.me(citizen).await);
    }
    balances
}
