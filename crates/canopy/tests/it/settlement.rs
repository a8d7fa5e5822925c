//! Settling power-saving events (issue 12): baselines from each
//! household's own history, red packets in fen from the program's pool
//! (pro rata when it is short), carbon verified through the grid's
//! methodology, settlement at once or by the sweep at the cut-off, and
//! late or corrected data settling again with correcting entries.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use canopy_core::clock::ManualClock;
use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::checkins::admin;
use crate::friends::call;
use crate::harness::*;
use crate::process::canopy;

/// Wednesday 22 July 2026; the event runs 18:00–19:00 Beijing time (10:00–11:00 UTC).
pub(crate) fn event_start() -> DateTime<Utc> {
    "2026-07-22T10:00:00Z".parse().unwrap()
}

pub(crate) fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

pub(crate) struct World {
    pub(crate) server: TestServer,
    pub(crate) clock: ManualClock,
    pub(crate) utility: Partner,
    pub(crate) households: Vec<Citizen>,
    pub(crate) pool: String,
}

/// Five Jiangxi households with meters `M0`…`M4`: the first four with 20
/// days of history at the event's hours (working days 0.5 kWh an
/// interval, weekends 0.9), the last with only 3 days.
/// With `sweeping`, the sweep runs every 100 ms; without, it stays out of
/// the way of a test that settles by hand (a concurrent sweep would make
/// the hand's settlement `settlement_raced`, as it should).
pub(crate) async fn world(now: DateTime<Utc>, pool_fen: i64, sweeping: bool) -> World {
    let clock = ManualClock::new(now);
    let shared = clock.clone();
    let server = TestServer::start_with(move |config| {
        config.clock = Arc::new(shared);
        config.session_ttl_s = 30 * 24 * 3600;
        config.ball_sweep_interval =
            if sweeping { StdDuration::from_millis(100) } else { StdDuration::from_secs(3600) };
    })
    .await;
    let utility = server.create_partner(&["housing"]).await;
    let mut households = Vec::new();
    let mut readings = Vec::new();
    for i in 0..5 {
        let citizen = server.create_citizen(&format!("st-{i}"), "CN-JX").await;
        server.link(&citizen, &utility, &["housing"], &format!("st-hh-{i}")).await;
        let body = json!({ "user_ref": format!("st-hh-{i}"), "meter_id": format!("M{i}"), "region": "CN-JX" });
        assert_eq!(server.signed(&utility, "/v1/partner/meters", body).await.status, StatusCode::CREATED);
        let days = if i == 4 { 3 } else { 20 };
        for back in 1..=days {
            let day = event_start() - Duration::days(back);
            let weekend = matches!(chrono::Datelike::weekday(&day), chrono::Weekday::Sat | chrono::Weekday::Sun);
            for q in 0..4 {
                let kwh = if weekend { 0.9 } else { 0.5 };
                readings.push(reading(&format!("M{i}"), day + Duration::minutes(15 * q), kwh, "actual"));
            }
        }
        households.push(citizen);
    }
    let stored = send(&server, &utility, readings).await;
    assert!(stored.iter().all(|o| o == "stored"), "{stored:?}");
    let pool =
        admin(&server, Method::POST, "/v1/pools", json!({ "name": "Peak premiums", "sponsor": "Grid", "unit": "fen" }))
            .await;
    let pool = pool.body["id"].as_str().unwrap().to_owned();
    let funded = admin(&server, Method::POST, &format!("/v1/pools/{pool}/fund"), json!({ "amount": pool_fen })).await;
    assert_eq!(funded.status, StatusCode::OK, "{funded:?}");
    World { server, clock, utility, households, pool }
}

fn reading(meter: &str, start: DateTime<Utc>, kwh: f64, quality: &str) -> Value {
    json!({ "meter_id": meter, "start": start.to_rfc3339(), "kwh": kwh, "quality": quality })
}

pub(crate) async fn send(server: &TestServer, utility: &Partner, readings: Vec<Value>) -> Vec<String> {
    let reply = server.signed(utility, "/v1/partner/meter-readings", json!({ "readings": readings })).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().map_or_else(|| r["outcome"].as_str().unwrap().to_owned(), str::to_owned))
        .collect()
}

/// The event's intervals, `kwh[q]` for each (`None`: not sent).
pub(crate) fn event_readings(meter: &str, kwh: &[Option<f64>], quality: &str) -> Vec<Value> {
    kwh.iter()
        .enumerate()
        .filter_map(|(q, k)| k.map(|k| reading(meter, event_start() + Duration::minutes(15 * q as i64), k, quality)))
        .collect()
}

pub(crate) async fn program(server: &TestServer, pool: &str, opt_in: &str) -> String {
    let program = admin(
        server,
        Method::POST,
        "/v1/energy/programs",
        json!({ "name": "Smart Sharing Power Saving", "region": "CN-JX", "reward_fen_per_kwh": 200,
                "baseline": { "method": "mean_10_of_10" }, "pool": pool, "opt_in": opt_in }),
    )
    .await;
    assert_eq!(program.status, StatusCode::CREATED, "{program:?}");
    program.body["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn settlements(server: &TestServer, who: &Citizen) -> Vec<Value> {
    let reply = server.get("/v1/me/energy/settlements", Some(&who.token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["settlements"].as_array().unwrap().clone()
}

async fn money(server: &TestServer, who: &Citizen) -> (i64, i64) {
    let me = server.me(who).await;
    (me["money_fen"].as_i64().unwrap(), me["reduction_grams"].as_i64().unwrap())
}

fn verify_is_clean(url: &str) {
    let verified = canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", url).output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
}

async fn answer(server: &TestServer, who: &Citizen, answer: &str) {
    let invitations = server.get("/v1/me/energy/invitations", Some(&who.token)).await;
    let id = invitations.body["invitations"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/me/energy/invitations/{id}");
    let reply = call(server, who, Method::POST, &path, Some(json!({ "answer": answer })), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

async fn an_event_settles_on_baselines_and_settles_again_on_late_data() {
    let World { server, clock, utility, households, pool } = world(at("2026-07-22T00:00:00Z"), 10_000, false).await;
    let program = program(&server, &pool, "required").await;
    let event = admin(
        &server,
        Method::POST,
        "/v1/energy/events",
        json!({ "program_id": program, "start": event_start().to_rfc3339(), "duration_minutes": 60,
                "respond_by": "2026-07-22T09:00:00Z", "targets": { "region": "CN-JX" } }),
    )
    .await;
    assert_eq!(event.status, StatusCode::CREATED, "{event:?}");
    assert_eq!(event.body["settlement"], "scheduled");
    assert_eq!(event.body["cutoff"], "2026-07-23T11:00:00.000000Z", "a day after the end");
    let id = event.body["id"].as_str().unwrap().to_owned();
    for (who, said) in [(0, "in"), (1, "in"), (2, "out"), (3, "in"), (4, "in")] {
        answer(&server, &households[who], said).await;
    }
    // Household 3 revokes the utility's consent: nothing of it is settled.
    let revoked = server
        .request(Method::DELETE, &format!("/v1/me/consents/{}", utility.id), Some(&households[3].token), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let early = admin(&server, Method::POST, &format!("/v1/energy/events/{id}/settle"), Value::Null).await;
    assert_eq!((early.status, early.code()), (StatusCode::CONFLICT, "event_not_ended"));

    clock.set(at("2026-07-22T11:30:00Z"));
    // Household 0 saves 0.3 + 0.2 kWh (its first interval an estimate); household 1 sends three intervals of four.
    let mut sent = event_readings("M0", &[Some(0.2)], "estimated");
    sent.extend(event_readings("M0", &[None, Some(0.3), Some(0.5), Some(0.6)], "actual"));
    sent.extend(event_readings("M1", &[Some(0.1), Some(0.1), Some(0.1), None], "actual"));
    sent.extend(event_readings("M2", &[Some(0.1); 4], "actual"));
    sent.extend(event_readings("M4", &[Some(0.1); 4], "actual"));
    assert!(send(&server, &utility, sent).await.iter().all(|o| o == "stored"));
    let waiting = admin(&server, Method::GET, &format!("/v1/energy/events/{id}"), Value::Null).await;
    assert_eq!(waiting.body["settlement"], "awaiting_data", "{waiting:?}");

    let settled = admin(&server, Method::POST, &format!("/v1/energy/events/{id}/settle"), Value::Null).await;
    assert_eq!(settled.status, StatusCode::OK, "{settled:?}");
    assert_eq!(
        (settled.body["settlement"].as_str(), settled.body["settled_version"].as_i64()),
        (Some("settled_incomplete"), Some(1))
    );

    // Household 0: baseline 0.5 kWh an interval from its ten latest working days.
    let mine = settlements(&server, &households[0]).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    let s = &mine[0];
    assert_eq!(
        (s["event_id"].as_str(), s["method"].as_str(), s["status"].as_str()),
        (Some(id.as_str()), Some("mean_10_of_10@1"), Some("settled"))
    );
    let days: Vec<&str> = s["days_used"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert_eq!(days.len(), 10);
    assert_eq!((days[0], days[9]), ("2026-07-21", "2026-07-08"), "working days only, most recent first");
    assert_eq!(s["intervals"].as_array().unwrap().len(), 4);
    assert_eq!(
        s["intervals"][0],
        json!({ "start": "2026-07-22T10:00:00.000000Z", "baseline_kwh": 0.5, "actual_kwh": 0.2 })
    );
    assert_eq!(s["intervals"][3]["actual_kwh"], 0.6);
    // 0.5 kWh saved × 200 fen = 100 fen; 0.5 kWh × 539.5 g (Central China grid) = 269 g.
    assert_eq!(
        (s["saving_kwh"].as_f64(), s["reward_fen"].as_i64(), s["paid_fen"].as_i64(), s["carbon_grams"].as_i64()),
        (Some(0.5), Some(100), Some(100), Some(269))
    );
    assert_eq!(s["methodology"], "cn-grid-central-power-saving@1.0");
    assert_eq!(s["complete"], false, "an estimate is not an actual");
    assert_eq!(money(&server, &households[0]).await, (100, 269));
    let one = server
        .get(&format!("/v1/me/energy/settlements/{}", s["id"].as_str().unwrap()), Some(&households[0].token))
        .await;
    assert_eq!((one.status, &one.body["paid_fen"]), (StatusCode::OK, &json!(100)));
    let theirs = server
        .get(&format!("/v1/me/energy/settlements/{}", s["id"].as_str().unwrap()), Some(&households[1].token))
        .await;
    assert_eq!((theirs.status, theirs.code()), (StatusCode::NOT_FOUND, "settlement_not_found"));
    // Household 1: 1.2 kWh over the three intervals that arrived.
    let h1 = &settlements(&server, &households[1]).await[0];
    assert_eq!((h1["saving_kwh"].as_f64(), h1["paid_fen"].as_i64()), (Some(1.2), Some(240)));
    assert_eq!(h1["intervals"][3]["actual_kwh"], Value::Null);
    assert!(settlements(&server, &households[2]).await.is_empty(), "it said no");
    let h3 = &settlements(&server, &households[3]).await[0];
    assert_eq!(
        (h3["status"].as_str(), h3["paid_fen"].as_i64(), h3["intervals"].as_array().map(Vec::len)),
        (Some("consent_revoked"), Some(0), Some(0))
    );
    let h4 = &settlements(&server, &households[4]).await[0];
    assert_eq!(
        (h4["status"].as_str(), h4["code"].as_str(), h4["paid_fen"].as_i64()),
        (Some("no_baseline"), Some("insufficient_history"), Some(0))
    );

    let report = admin(&server, Method::GET, &format!("/v1/energy/events/{id}/report"), Value::Null).await;
    assert_eq!(report.status, StatusCode::OK, "{report:?}");
    let r = &report.body;
    assert_eq!(
        r["households"],
        json!({ "targeted": 5, "invited": 5, "opted_in": 4, "opted_out": 1, "responding": 2, "settled": 2,
                "no_baseline": 1, "consent_revoked": 1, "complete_data": 1 })
    );
    // Intervals: 0.3 + 0.4, 0.2 + 0.4, 0.4, 0 kWh: the peak is 0.7 kWh in a quarter hour, 2.8 kW.
    assert_eq!((r["saving_kwh"].as_f64(), r["peak_kw_reduced"].as_f64()), (Some(1.7), Some(2.8)));
    assert_eq!(
        (r["paid_fen"].as_i64(), r["yuan_paid"].as_f64(), r["pro_rata"].as_bool()),
        (Some(340), Some(3.4), Some(false))
    );
    assert_eq!(r["results"].as_array().unwrap().len(), 4);

    // Late and corrected data: household 0's estimate becomes an actual of
    // 0.45 (it saved less), household 1's last interval arrives.
    clock.advance(Duration::hours(2));
    let mut late = event_readings("M0", &[Some(0.45)], "actual");
    late.extend(event_readings("M1", &[None, None, None, Some(0.1)], "actual"));
    assert_eq!(send(&server, &utility, late).await, ["superseded", "stored"]);
    let again = admin(&server, Method::POST, &format!("/v1/energy/events/{id}/settle"), Value::Null).await;
    assert_eq!(
        (again.body["settlement"].as_str(), again.body["settled_version"].as_i64()),
        (Some("settled"), Some(2)),
        "{again:?}"
    );
    let s = &settlements(&server, &households[0]).await[0];
    assert_eq!(
        (s["saving_kwh"].as_f64(), s["paid_fen"].as_i64(), s["carbon_grams"].as_i64(), s["version"].as_i64()),
        (Some(0.25), Some(50), Some(134), Some(2))
    );
    assert_eq!(money(&server, &households[0]).await, (50, 134), "the difference went back by a correcting entry");
    let h1 = &settlements(&server, &households[1]).await[0];
    assert_eq!(
        (h1["saving_kwh"].as_f64(), h1["paid_fen"].as_i64(), h1["carbon_grams"].as_i64()),
        (Some(1.6), Some(320), Some(863))
    );
    // The ledger kept both settlements and the correction: nothing edited.
    let ledger = server.get("/v1/me/ledger", Some(&households[0].token)).await;
    let kinds: Vec<&str> =
        ledger.body["entries"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"saving_rewarded") && kinds.contains(&"reward_corrected"), "{kinds:?}");
    // Settling again with nothing new changes nothing.
    let same = admin(&server, Method::POST, &format!("/v1/energy/events/{id}/settle"), Value::Null).await;
    assert_eq!(same.body["settled_version"].as_i64(), Some(2));
    let csv = server
        .raw(
            Method::GET,
            &format!("/v1/energy/events/{id}/report?format=csv"),
            &[("authorization", format!("Bearer {ADMIN_TOKEN}"))],
            Vec::new(),
        )
        .await;
    let text = csv.body.as_str().unwrap().to_owned();
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(
        text.lines().any(|l| l.contains(",M1,settled,,mean_10_of_10@1,") && l.contains(",1.600,320,320,863,true")),
        "{text}"
    );
    // The program's report: its events, and a household's history.
    let path = format!("/v1/energy/programs/{program}/report?user_id={}", households[0].id);
    let whole = admin(&server, Method::GET, &path, Value::Null).await;
    assert_eq!(whole.status, StatusCode::OK, "{whole:?}");
    let w = &whole.body;
    assert_eq!(
        (
            w["events_count"].as_i64(),
            w["opted_in"].as_i64(),
            w["responding"].as_i64(),
            w["saving_kwh"].as_f64(),
            w["paid_fen"].as_i64()
        ),
        (Some(1), Some(4), Some(2), Some(1.85), Some(370))
    );
    assert_eq!(w["events"][0]["settlement"], "settled");
    assert_eq!(w["household"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        (w["household"][0]["paid_fen"].as_i64(), w["household"][0]["saving_kwh"].as_f64()),
        (Some(50), Some(0.25))
    );
    let csv = server
        .raw(
            Method::GET,
            &format!("/v1/energy/programs/{program}/report?format=csv"),
            &[("authorization", format!("Bearer {ADMIN_TOKEN}"))],
            Vec::new(),
        )
        .await;
    assert_eq!(csv.body.as_str().unwrap().lines().count(), 2, "{csv:?}");
    let pools = admin(&server, Method::GET, "/v1/pools", Value::Null).await;
    let balance =
        pools.body["pools"].as_array().unwrap().iter().find(|p| p["id"] == pool.as_str()).unwrap()["balance"].as_i64();
    assert_eq!(balance, Some(10_000 - 50 - 320));
    verify_is_clean(&server.database_url);
}

async fn the_sweep_settles_at_the_cutoff_pro_rata_from_a_short_pool() {
    // Recorded after the fact under `default_in`: every silent household takes part.
    let World { server, clock, utility, households, pool } = world(at("2026-07-22T11:30:00Z"), 150, true).await;
    let program = program(&server, &pool, "default_in").await;
    let event = admin(
        &server,
        Method::POST,
        "/v1/energy/events",
        json!({ "program_id": program, "start": event_start().to_rfc3339(), "duration_minutes": 60,
                "cutoff": "2026-07-22T12:00:00Z", "targets": { "user_ids": [households[0].id, households[1].id] } }),
    )
    .await;
    assert_eq!((event.status, event.body["recorded"].as_bool()), (StatusCode::CREATED, Some(true)), "{event:?}");
    let id = event.body["id"].as_str().unwrap().to_owned();
    // 0.5 kWh (100 fen) and 1.2 kWh over three intervals (240 fen): 340 fen from a pool of 150.
    let mut sent = event_readings("M0", &[Some(0.2), Some(0.3), Some(0.5), Some(0.6)], "actual");
    sent.extend(event_readings("M1", &[Some(0.1), Some(0.1), Some(0.1), None], "actual"));
    assert!(send(&server, &utility, sent).await.iter().all(|o| o == "stored"));
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    let waiting = admin(&server, Method::GET, &format!("/v1/energy/events/{id}"), Value::Null).await;
    assert_eq!(waiting.body["settlement"], "awaiting_data", "incomplete data waits for the cut-off: {waiting:?}");

    clock.set(at("2026-07-22T12:00:00Z"));
    let settled = poll(&server, &id, 1).await;
    assert_eq!(settled["settlement"], "settled_incomplete", "settled at the cut-off on what arrived");
    // Pro rata, rounded down: 100 × 150 / 340 = 44, 240 × 150 / 340 = 105; one fen stays in the pool.
    let (h0, h1) = (&settlements(&server, &households[0]).await[0], &settlements(&server, &households[1]).await[0]);
    assert_eq!((h0["reward_fen"].as_i64(), h0["paid_fen"].as_i64()), (Some(100), Some(44)));
    assert_eq!((h1["reward_fen"].as_i64(), h1["paid_fen"].as_i64()), (Some(240), Some(105)));
    let report = admin(&server, Method::GET, &format!("/v1/energy/events/{id}/report"), Value::Null).await;
    assert_eq!((report.body["pro_rata"].as_bool(), report.body["paid_fen"].as_i64()), (Some(true), Some(149)));
    assert_eq!(report.body["households"]["opted_in"], 2, "silent households take part under default_in");

    // The last interval arrives late; the sweep settles again once it looks (every five minutes),
    // to what settling once on the final data pays: 100 and 320 of 420 from 150.
    clock.advance(Duration::minutes(1));
    assert_eq!(
        send(&server, &utility, event_readings("M1", &[None, None, None, Some(0.1)], "actual")).await,
        ["stored"]
    );
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    assert_eq!(
        admin(&server, Method::GET, &format!("/v1/energy/events/{id}"), Value::Null).await.body["settled_version"],
        1
    );
    clock.advance(Duration::minutes(5));
    let again = poll(&server, &id, 2).await;
    assert_eq!(again["settlement"], "settled");
    let (h0, h1) = (&settlements(&server, &households[0]).await[0], &settlements(&server, &households[1]).await[0]);
    assert_eq!((h0["paid_fen"].as_i64(), h1["paid_fen"].as_i64()), (Some(100 * 150 / 420), Some(320 * 150 / 420)));
    assert_eq!(money(&server, &households[0]).await.0, 35);
    assert_eq!(money(&server, &households[1]).await.0, 114);
    verify_is_clean(&server.database_url);
}

/// Waits for the sweep to bring event `id` to settlement `version`.
async fn poll(server: &TestServer, id: &str, version: i64) -> Value {
    for _ in 0..100 {
        let event = admin(server, Method::GET, &format!("/v1/energy/events/{id}"), Value::Null).await;
        if event.body["settled_version"].as_i64() == Some(version) {
            return event.body;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    panic!("event {id} never reached settlement {version}");
}

crate::contract!(
    an_event_settles_on_baselines_and_settles_again_on_late_data,
    the_sweep_settles_at_the_cutoff_pro_rata_from_a_short_pool
);
