//! Household power saving (issue 12), meters and readings: a utility
//! partner registers its households' meters and sends 15-minute readings,
//! each with its own outcome, idempotent per (meter, interval), an actual
//! superseding an estimate with the change kept.

use chrono::{DateTime, Duration, DurationRound, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;

async fn scalar(url: &str, sql: &str) -> i64 {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let value: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        value
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let value: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        value
    }
}

fn quarter(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::minutes(15)).unwrap()
}

fn reading(meter: &str, start: DateTime<Utc>, kwh: Value, quality: &str) -> Value {
    json!({ "meter_id": meter, "start": start.to_rfc3339(), "kwh": kwh, "quality": quality })
}

async fn send(server: &TestServer, partner: &Partner, readings: Vec<Value>) -> Reply {
    server.signed(partner, "/v1/partner/meter-readings", json!({ "readings": readings })).await
}

fn outcomes(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| match r["code"].as_str() {
            Some(code) => format!("rejected {code}"),
            None => r["outcome"].as_str().unwrap().to_owned(),
        })
        .collect()
}

async fn utility_registers_meters_for_consenting_households() {
    let server = TestServer::start().await;
    let utility = server.create_partner(&["housing"]).await;
    let ann = server.create_citizen("mt-ann", "CN-JX").await;
    let bo = server.create_citizen("mt-bo", "CN-JX").await;
    let cy = server.create_citizen("mt-cy", "CN-JX").await;
    server.link(&ann, &utility, &["housing"], "hh-ann").await;
    server.link(&bo, &utility, &["housing"], "hh-bo").await;
    let register = |user_ref: &str, meter: &str, region: &str| {
        let body = json!({ "user_ref": user_ref, "meter_id": meter, "region": region });
        let server = &server;
        let utility = &utility;
        async move { server.signed(utility, "/v1/partner/meters", body).await }
    };
    let made = register("hh-ann", "JX-0001", "CN-JX").await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    assert_eq!((made.body["user_id"].as_str(), made.body["region"].as_str()), (Some(ann.id.as_str()), Some("CN-JX")));
    assert_eq!(register("hh-ann", "JX-0001", "CN-JX").await.status, StatusCode::OK, "again: the same meter");
    let elsewhere = register("hh-bo", "JX-0001", "CN-JX").await;
    assert_eq!((elsewhere.status, elsewhere.code()), (StatusCode::CONFLICT, "meter_registered"));
    let unknown = register("hh-nobody", "JX-0002", "CN-JX").await;
    assert_eq!((unknown.status, unknown.code()), (StatusCode::UNPROCESSABLE_ENTITY, "consent_missing"));
    let bad_region = register("hh-bo", "JX-0003", "Jiangxi").await;
    assert_eq!((bad_region.status, bad_region.code()), (StatusCode::BAD_REQUEST, "invalid_region"));
    // A household that granted transport only, to a partner of both.
    let both = server.create_partner(&["housing", "transport"]).await;
    server.link(&cy, &both, &["transport"], "hh-cy").await;
    let body = json!({ "user_ref": "hh-cy", "meter_id": "X-1", "region": "CN-JX" });
    let scope = server.signed(&both, "/v1/partner/meters", body).await;
    assert_eq!((scope.status, scope.code()), (StatusCode::UNPROCESSABLE_ENTITY, "scope_not_granted"));
    // A partner that is no utility.
    let bikes = server.create_partner(&["transport"]).await;
    let body = json!({ "user_ref": "x", "meter_id": "X-2", "region": "CN-JX" });
    let not_utility = server.signed(&bikes, "/v1/partner/meters", body).await;
    assert_eq!((not_utility.status, not_utility.code()), (StatusCode::FORBIDDEN, "category_not_allowed"));
}

async fn readings_are_idempotent_per_interval_and_an_actual_supersedes_an_estimate() {
    let server = TestServer::start().await;
    let utility = server.create_partner(&["housing"]).await;
    let ann = server.create_citizen("rd-ann", "CN-JX").await;
    server.link(&ann, &utility, &["housing"], "hh-ann").await;
    let made = server
        .signed(&utility, "/v1/partner/meters", json!({ "user_ref": "hh-ann", "meter_id": "M-1", "region": "CN-JX" }))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let now = quarter(Utc::now());
    let (t1, t2, t3) = (now - Duration::minutes(60), now - Duration::minutes(45), now - Duration::minutes(30));
    let first = send(
        &server,
        &utility,
        vec![
            reading("M-1", t1, json!(0.325), "actual"),
            reading("M-1", t2, json!(0.4), "estimated"),
            reading("M-1", t3, json!(0.5), "actual"),
            reading("M-1", t1 + Duration::minutes(5), json!(0.1), "actual"),
            reading("M-1", t3, json!(-0.1), "actual"),
            reading("M-1", now, json!(0.1), "actual"),
            reading("M-9", t1, json!(0.1), "actual"),
            reading("M-1", t1, json!(0.0001), "actual"),
            reading("M-1", t1, json!(0.1), "guessed"),
            reading("M-1", t3, json!(0.6), "actual"),
        ],
    )
    .await;
    assert_eq!(
        outcomes(&first),
        [
            "stored",
            "stored",
            "stored",
            "rejected misaligned_interval",
            "rejected negative_reading",
            "rejected occurred_in_future",
            "rejected meter_unknown",
            "rejected invalid_reading",
            "rejected invalid_quality",
            "rejected reading_conflict",
        ]
    );
    assert_eq!(first.body["results"][0]["start"], t1.to_rfc3339(), "each result names its reading");
    // Sent again: duplicates. The estimate is superseded by the actual, which an estimate no longer moves.
    let again = send(
        &server,
        &utility,
        vec![
            reading("M-1", t1, json!(0.325), "actual"),
            reading("M-1", t2, json!(0.45), "actual"),
            reading("M-1", t2, json!(0.3), "estimated"),
            reading("M-1", t2, json!(0.45), "actual"),
        ],
    )
    .await;
    assert_eq!(outcomes(&again), ["duplicate", "superseded", "duplicate", "duplicate"]);
    let url = server.database_url.clone();
    assert_eq!(scalar(&url, "SELECT COUNT(*) FROM meter_readings").await, 3);
    assert_eq!(scalar(&url, "SELECT CAST(SUM(wh) AS BIGINT) FROM meter_readings").await, 325 + 450 + 500);
    assert_eq!(
        scalar(&url, "SELECT CAST(wh AS BIGINT) FROM meter_reading_history").await,
        400,
        "the superseded estimate is kept"
    );

    // A household that revokes its consent: its readings are rejected.
    let revoked = server
        .request(reqwest::Method::DELETE, &format!("/v1/me/consents/{}", utility.id), Some(&ann.token), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let after = send(&server, &utility, vec![reading("M-1", now - Duration::minutes(15), json!(0.2), "actual")]).await;
    assert_eq!(outcomes(&after), ["rejected consent_revoked"]);

    // Limits.
    let too_many = (0..50_001).map(|i| reading("M-1", t1 - Duration::minutes(15 * i), json!(0.1), "actual")).collect();
    let refused = send(&server, &utility, too_many).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large"));
    let empty = send(&server, &utility, vec![]).await;
    assert_eq!((empty.status, &empty.body["results"]), (StatusCode::OK, &json!([])), "as an empty batch of events");
}

async fn a_month_of_readings_for_many_meters_lands_in_its_month() {
    let server = TestServer::start().await;
    let utility = server.create_partner(&["housing"]).await;
    let mut meters = Vec::new();
    for i in 0..20 {
        let citizen = server.create_citizen(&format!("mm-{i}"), "CN-JX").await;
        server.link(&citizen, &utility, &["housing"], &format!("hh-{i}")).await;
        let meter = format!("MM-{i:03}");
        let body = json!({ "user_ref": format!("hh-{i}"), "meter_id": meter, "region": "CN-JX" });
        assert_eq!(server.signed(&utility, "/v1/partner/meters", body).await.status, StatusCode::CREATED);
        meters.push(meter);
    }
    // Two days across a month's end, 96 intervals a day, for every meter: 3,840 readings in one batch.
    let start = DateTime::parse_from_rfc3339("2026-10-31T00:00:00Z").unwrap().with_timezone(&Utc);
    let mut batch = Vec::new();
    for meter in &meters {
        for i in 0..192 {
            batch.push(reading(meter, start + Duration::minutes(15 * i), json!(0.25), "actual"));
        }
    }
    let reply = send(&server, &utility, batch).await;
    assert!(outcomes(&reply).iter().all(|o| o == "stored"), "{:?}", &reply.body["results"][0]);
    let url = server.database_url.clone();
    assert_eq!(scalar(&url, "SELECT COUNT(*) FROM meter_readings").await, 20 * 192);
    if backend() == Backend::Postgres {
        for (partition, rows) in
            [("meter_readings_2026_10", 20 * 96), ("meter_readings_2026_11", 20 * 96), ("meter_readings_default", 0)]
        {
            assert_eq!(scalar(&url, &format!("SELECT COUNT(*) FROM {partition}")).await, rows, "{partition}");
        }
    }
}

async fn batches_sent_at_once_for_the_same_intervals_are_decided_one_after_the_other() {
    let server = TestServer::start().await;
    let utility = server.create_partner(&["housing"]).await;
    let mut meters = Vec::new();
    for i in 0..4 {
        let citizen = server.create_citizen(&format!("cc-{i}"), "CN-JX").await;
        server.link(&citizen, &utility, &["housing"], &format!("hh-{i}")).await;
        let meter = format!("CC-{i}");
        let body = json!({ "user_ref": format!("hh-{i}"), "meter_id": meter, "region": "CN-JX" });
        assert_eq!(server.signed(&utility, "/v1/partner/meters", body).await.status, StatusCode::CREATED);
        meters.push(meter);
    }
    // Six batches over the same 4 × 48 intervals at once: estimates, and
    // actuals of two different values. Whatever order they are decided in,
    // each batch meets all of the intervals in one state.
    let start = quarter(Utc::now()) - Duration::days(2);
    let batch = |kwh: f64, quality: &str| -> Vec<Value> {
        meters
            .iter()
            .flat_map(|m| (0..48).map(move |i| (m, i)))
            .map(|(m, i)| reading(m, start + Duration::minutes(15 * i), json!(kwh), quality))
            .collect()
    };
    let kinds =
        [(0.1, "estimated"), (0.1, "estimated"), (0.2, "actual"), (0.2, "actual"), (0.3, "actual"), (0.1, "estimated")];
    let send_one = |n: usize| send(&server, &utility, batch(kinds[n].0, kinds[n].1));
    let (a, b, c, d, e, f) = tokio::join!(send_one(0), send_one(1), send_one(2), send_one(3), send_one(4), send_one(5));
    let replies = [a, b, c, d, e, f];
    let mut seen = Vec::new();
    for (reply, kind) in replies.iter().zip(&kinds) {
        let outcomes = outcomes(reply);
        assert!(outcomes.iter().all(|o| *o == outcomes[0]), "{kind:?}: one state for every interval: {outcomes:?}");
        seen.push((kind.1, outcomes[0].clone()));
    }
    // Exactly one actual is kept; the other actual's batch conflicts.
    let actual_stored = seen.iter().filter(|(q, o)| *q == "actual" && (o == "stored" || o == "superseded")).count();
    assert_eq!(actual_stored, 1, "{seen:?}");
    let url = server.database_url.clone();
    assert_eq!(scalar(&url, "SELECT COUNT(*) FROM meter_readings").await, 4 * 48);
    assert_eq!(scalar(&url, "SELECT COUNT(*) FROM meter_readings WHERE quality = 0").await, 4 * 48);
    let kept =
        scalar(&url, "SELECT CAST(MIN(wh) AS BIGINT) * 1000 + CAST(MAX(wh) AS BIGINT) FROM meter_readings").await;
    assert!(kept == 200 * 1000 + 200 || kept == 300 * 1000 + 300, "one actual everywhere: {kept}");
    // An estimate decided before the actual was superseded by it, and kept.
    let estimate_stored = seen.iter().any(|(q, o)| *q == "estimated" && o == "stored");
    let history = scalar(&url, "SELECT COUNT(*) FROM meter_reading_history").await;
    assert_eq!(history, if estimate_stored { 4 * 48 } else { 0 }, "{seen:?}");
}

async fn monthly_bills_are_kept_once_and_compared_with_a_year_before() {
    let server = TestServer::start().await;
    let utility = server.create_partner(&["housing"]).await;
    let ann = server.create_citizen("bl-ann", "CN-ZJ").await;
    server.link(&ann, &utility, &["housing"], "hh-ann").await;
    let bill = |month: &str, kwh: Value, fen: i64| {
        let body = json!({ "user_ref": "hh-ann", "month": month, "kwh": kwh, "amount_fen": fen });
        let (server, utility) = (&server, &utility);
        async move { server.signed(utility, "/v1/partner/bills", body).await }
    };
    let last_year = bill("2025-06", json!(320), 20_000).await;
    assert_eq!(last_year.status, StatusCode::CREATED, "{last_year:?}");
    assert_eq!(last_year.body.get("decrease_fen"), None, "nothing to compare with");
    let this_year = bill("2026-06", json!(300.5), 18_750).await;
    assert_eq!(this_year.status, StatusCode::CREATED, "{this_year:?}");
    assert_eq!(
        (
            this_year.body["year_ago_amount_fen"].as_i64(),
            this_year.body["decrease_fen"].as_i64(),
            this_year.body["decrease_pct"].as_f64()
        ),
        (Some(20_000), Some(1_250), Some(6.2)),
        "6.25 % less, to a tenth rounded down"
    );
    assert_eq!(bill("2026-06", json!(300.5), 18_750).await.status, StatusCode::OK, "the same bill again");
    let conflict = bill("2026-06", json!(300.5), 18_000).await;
    assert_eq!((conflict.status, conflict.code()), (StatusCode::CONFLICT, "bill_conflict"));
    for (month, kwh) in [("2026-6", json!(1)), ("2999-01", json!(1)), ("2026-05", json!(-1))] {
        let refused = bill(month, kwh, 100).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, "invalid_bill"), "{month}");
    }
    let body = json!({ "user_ref": "hh-nobody", "month": "2026-05", "kwh": 1, "amount_fen": 1 });
    let stranger = server.signed(&utility, "/v1/partner/bills", body).await;
    assert_eq!((stranger.status, stranger.code()), (StatusCode::UNPROCESSABLE_ENTITY, "consent_missing"));
}

crate::contract!(
    monthly_bills_are_kept_once_and_compared_with_a_year_before,
    utility_registers_meters_for_consenting_households,
    readings_are_idempotent_per_interval_and_an_actual_supersedes_an_estimate,
    a_month_of_readings_for_many_meters_lands_in_its_month,
    batches_sent_at_once_for_the_same_intervals_are_decided_one_after_the_other,
);
