//! Demand response (issue 12), programs and events: the operator defines a
//! program paid from a funded pool in fen and its events; households with
//! a meter among the targets are invited and answer before the deadline;
//! an event in the past is recorded without invitations.

use std::sync::Arc;

use canopy_core::clock::{Clock, ManualClock};
use chrono::{Duration, DurationRound, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::checkins::admin;
use crate::friends::call;
use crate::harness::*;

struct World {
    server: TestServer,
    clock: ManualClock,
    households: Vec<Citizen>,
    beijing: Citizen,
    no_meter: Citizen,
    program: String,
}

async fn world() -> World {
    let clock = ManualClock::new(Utc::now());
    let shared = clock.clone();
    let server = TestServer::start_with(move |config| {
        config.clock = Arc::new(shared);
        config.session_ttl_s = 30 * 24 * 3600;
    })
    .await;
    let utility = server.create_partner(&["housing"]).await;
    let mut households = Vec::new();
    for (i, region) in ["CN-JX", "CN-JX", "CN-JX", "CN-BJ", "CN-JX"].iter().enumerate() {
        let citizen = server.create_citizen(&format!("dr-{i}"), region).await;
        server.link(&citizen, &utility, &["housing"], &format!("hh-{i}")).await;
        if i < 4 {
            let body = json!({ "user_ref": format!("hh-{i}"), "meter_id": format!("JX-{i}"), "region": region });
            assert_eq!(server.signed(&utility, "/v1/partner/meters", body).await.status, StatusCode::CREATED);
        }
        households.push(citizen);
    }
    let no_meter = households.pop().unwrap();
    let beijing = households.pop().unwrap();
    let pool = admin(
        &server,
        Method::POST,
        "/v1/pools",
        json!({ "name": "Peak premiums", "sponsor": "Industrial users", "unit": "fen" }),
    )
    .await;
    let pool = pool.body["id"].as_str().unwrap().to_owned();
    let program = admin(
        &server,
        Method::POST,
        "/v1/energy/programs",
        json!({ "name": "Smart Sharing Power Saving", "region": "CN-JX", "reward_fen_per_kwh": 200,
                "baseline": { "method": "mean_10_of_10", "day_of_adjustment": true }, "pool": pool, "opt_in": "required" }),
    )
    .await;
    assert_eq!(program.status, StatusCode::CREATED, "{program:?}");
    assert_eq!(program.body["baseline"], json!({ "method": "mean_10_of_10", "day_of_adjustment": true }));
    assert!(program.body["emission_factor_source"].as_str().unwrap().contains("2022"));
    World { server, clock, households, beijing, no_meter, program: program.body["id"].as_str().unwrap().to_owned() }
}

fn quarter(at: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    at.duration_trunc(Duration::minutes(15)).unwrap()
}

async fn invitations(server: &TestServer, who: &Citizen) -> Vec<Value> {
    let reply = server.get("/v1/me/energy/invitations", Some(&who.token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["invitations"].as_array().unwrap().clone()
}

async fn households_with_a_meter_are_invited_and_answer_before_the_deadline() {
    let World { server, clock, households, beijing, no_meter, program } = world().await;
    let start = quarter(clock.now()) + Duration::hours(2);
    let event = admin(
        &server,
        Method::POST,
        "/v1/energy/events",
        json!({ "program_id": program, "start": start.to_rfc3339(), "duration_minutes": 60,
                "respond_by": (start - Duration::minutes(30)).to_rfc3339(), "targets": { "region": "CN-JX" } }),
    )
    .await;
    assert_eq!(event.status, StatusCode::CREATED, "{event:?}");
    assert_eq!(
        (event.body["households"].as_i64(), event.body["invited"].as_i64(), event.body["recorded"].as_bool()),
        (Some(3), Some(3), Some(false))
    );
    assert_eq!(event.body["end"], (start + Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    let event_id = event.body["id"].as_str().unwrap().to_owned();

    // Invited: the three Jiangxi households with a meter; not Beijing, not the one without a meter.
    let mine = invitations(&server, &households[0]).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(
        (mine[0]["event_id"].as_str(), mine[0]["reward_fen_per_kwh"].as_i64(), &mine[0]["answer"]),
        (Some(event_id.as_str()), Some(200), &Value::Null)
    );
    assert!(invitations(&server, &beijing).await.is_empty());
    assert!(invitations(&server, &no_meter).await.is_empty());

    let path = format!("/v1/me/energy/invitations/{}", mine[0]["id"].as_str().unwrap());
    let yes = call(&server, &households[0], Method::POST, &path, Some(json!({ "answer": "in" })), None).await;
    assert_eq!((yes.status, &yes.body["answer"]), (StatusCode::OK, &json!("in")), "{yes:?}");
    let bad = call(&server, &households[0], Method::POST, &path, Some(json!({ "answer": "maybe" })), None).await;
    assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "invalid_answer"));
    let not_mine = call(&server, &households[1], Method::POST, &path, Some(json!({ "answer": "in" })), None).await;
    assert_eq!((not_mine.status, not_mine.code()), (StatusCode::NOT_FOUND, "invitation_not_found"));
    let theirs = invitations(&server, &households[1]).await;
    let no = format!("/v1/me/energy/invitations/{}", theirs[0]["id"].as_str().unwrap());
    assert_eq!(
        call(&server, &households[1], Method::POST, &no, Some(json!({ "answer": "out" })), None).await.status,
        StatusCode::OK
    );

    // After the deadline, answers close.
    clock.advance(Duration::minutes(91));
    let late = call(
        &server,
        &households[2],
        Method::POST,
        &format!("/v1/me/energy/invitations/{}", invitations(&server, &households[2]).await[0]["id"].as_str().unwrap()),
        Some(json!({ "answer": "in" })),
        None,
    )
    .await;
    assert_eq!((late.status, late.code()), (StatusCode::CONFLICT, "response_closed"));
    let counted = admin(&server, Method::GET, &format!("/v1/energy/events/{event_id}"), Value::Null).await;
    assert_eq!(
        (counted.body["answered_in"].as_i64(), counted.body["answered_out"].as_i64()),
        (Some(1), Some(1)),
        "{counted:?}"
    );
}

async fn events_are_checked_recorded_after_the_fact_or_aimed_at_households() {
    let World { server, clock, households, beijing, program, .. } = world().await;
    let post = |body: Value| {
        let server = &server;
        async move { admin(server, Method::POST, "/v1/energy/events", body).await }
    };
    // After the fact: no invitations, the households recorded.
    let past = quarter(clock.now()) - Duration::hours(3);
    let recorded = post(json!({ "program_id": program, "start": past.to_rfc3339(), "duration_minutes": 120, "targets": { "region": "CN" } })).await;
    assert_eq!(recorded.status, StatusCode::CREATED, "{recorded:?}");
    assert_eq!(
        (recorded.body["recorded"].as_bool(), recorded.body["invited"].as_i64(), recorded.body["households"].as_i64()),
        (Some(true), Some(0), Some(4)),
        "a country targets its regions"
    );
    assert!(invitations(&server, &households[0]).await.is_empty(), "nobody is invited to the past");

    // Named households: those with a meter.
    let start = quarter(clock.now()) + Duration::hours(5);
    let named = post(json!({ "program_id": program, "start": start.to_rfc3339(), "duration_minutes": 30,
                             "invitations_at": (start - Duration::hours(2)).to_rfc3339(),
                             "targets": { "user_ids": [households[0].id, beijing.id] } }))
    .await;
    assert_eq!((named.status, named.body["households"].as_i64()), (StatusCode::CREATED, Some(2)), "{named:?}");
    assert!(invitations(&server, &beijing).await.is_empty(), "the invitation goes out at invitations_at");
    clock.advance(Duration::hours(3));
    assert_eq!(invitations(&server, &beijing).await.len(), 1);

    for (body, code, status) in [
        (
            json!({ "program_id": program, "start": (start + Duration::minutes(5)).to_rfc3339(), "duration_minutes": 30, "targets": { "region": "CN-JX" } }),
            "invalid_event",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "program_id": program, "start": (start + Duration::hours(1)).to_rfc3339(), "duration_minutes": 20, "targets": { "region": "CN-JX" } }),
            "invalid_event",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "program_id": program, "start": (start + Duration::hours(1)).to_rfc3339(), "duration_minutes": 30, "targets": {} }),
            "invalid_event",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "program_id": "prg_999", "start": (start + Duration::hours(1)).to_rfc3339(), "duration_minutes": 30, "targets": { "region": "CN-JX" } }),
            "program_not_found",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let refused = post(body.clone()).await;
        assert_eq!((refused.status, refused.code()), (status, code), "{body}");
    }
    // Programs: paid in fen from a known pool, with a known method.
    let energy_pool = admin(&server, Method::POST, "/v1/pools", json!({ "name": "Energy", "sponsor": "x" })).await;
    for (pool, method, code, status) in [
        (energy_pool.body["id"].as_str().unwrap(), "mean_10_of_10", "invalid_pool", StatusCode::BAD_REQUEST),
        ("pool_999", "mean_10_of_10", "pool_not_found", StatusCode::NOT_FOUND),
        ("pool_1", "median_3", "invalid_program", StatusCode::BAD_REQUEST),
    ] {
        let body = json!({ "name": "p", "region": "CN-JX", "reward_fen_per_kwh": 200, "baseline": { "method": method }, "pool": pool, "opt_in": "default_in" });
        let refused = admin(&server, Method::POST, "/v1/energy/programs", body).await;
        assert_eq!((refused.status, refused.code()), (status, code));
    }
}

crate::contract!(
    households_with_a_meter_are_invited_and_answer_before_the_deadline,
    events_are_checked_recorded_after_the_fact_or_aimed_at_households
);
