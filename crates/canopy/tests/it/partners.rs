//! Partners: creation and the signed request scheme.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

async fn only_the_operator_creates_partners_and_secrets_are_never_listed() {
    let server = TestServer::start().await;
    let body = json!({ "name": "Bike Co", "categories": ["transport"] });
    let anonymous = server.post("/v1/partners", None, body.clone()).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.code(), "unauthorized");
    let wrong = server.post("/v1/partners", Some("not-the-token"), body.clone()).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let created = server.post("/v1/partners", Some(ADMIN_TOKEN), body).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert!(created.body["id"].as_str().unwrap().starts_with("ptn_"));
    assert_eq!(created.body["secret"].as_str().unwrap().len(), 64);

    let list = server.get("/v1/partners", Some(ADMIN_TOKEN)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["partners"][0]["name"], "Bike Co");
    assert!(!list.body.to_string().contains(created.body["secret"].as_str().unwrap()));

    let bad = server.post("/v1/partners", Some(ADMIN_TOKEN), json!({ "name": "X", "categories": ["flying"] })).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.code(), "invalid_scope");
    let empty = server.post("/v1/partners", Some(ADMIN_TOKEN), json!({ "name": "X", "categories": [] })).await;
    assert_eq!(empty.code(), "invalid_scope");
}

async fn signatures_are_checked_for_key_time_and_replay() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let body = serde_json::to_vec(&json!({ "events": [] })).unwrap();
    let path = "/v1/partner/events";
    let now = Utc::now().timestamp();

    // A good signature works once; the same request again is a replay.
    let headers = sign_headers(&partner, "POST", path, &body, now);
    let first = server.raw(Method::POST, path, &headers, body.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    assert_eq!(first.body, json!({ "results": [] }));
    let replay = server.raw(Method::POST, path, &headers, body.clone()).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.code(), "replayed_request");
    // The same signature written otherwise is still the same request.
    let signature = headers[3].1.clone();
    let respelled = |value: String| {
        let mut changed = headers.clone();
        changed[3].1 = value;
        changed
    };
    let rotated = respelled(format!("{signature},v1={}", "0".repeat(64)));
    let again = server.raw(Method::POST, path, &rotated, body.clone()).await;
    assert_eq!(again.code(), "replayed_request");
    for malformed in
        [signature.to_uppercase().replace("V1=", "v1="), format!("x,{signature}"), format!("{signature},v1=00")]
    {
        let reply = server.raw(Method::POST, path, &respelled(malformed.clone()), body.clone()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{malformed}");
        assert_eq!(reply.code(), "bad_signature", "{malformed}");
    }

    // Signed with the wrong secret.
    let impostor = Partner { id: partner.id.clone(), secret: "wrong".into() };
    let forged = server.raw(Method::POST, path, &sign_headers(&impostor, "POST", path, &body, now), body.clone()).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(forged.code(), "bad_signature");

    // A body changed after signing.
    let tampered = server
        .raw(Method::POST, path, &sign_headers(&partner, "POST", path, &body, now + 1), b"{\"events\":[{}]}".to_vec())
        .await;
    assert_eq!(tampered.code(), "bad_signature");

    // Signed for another path.
    let elsewhere = server
        .raw(Method::POST, path, &sign_headers(&partner, "POST", "/v1/partner/links", &body, now + 2), body.clone())
        .await;
    assert_eq!(elsewhere.code(), "bad_signature");

    // An unknown partner, and a missing header.
    let ghost = Partner { id: "ptn_999".into(), secret: partner.secret.clone() };
    let unknown = server.raw(Method::POST, path, &sign_headers(&ghost, "POST", path, &body, now), body.clone()).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.code(), "bad_signature");
    let unsigned = server.raw(Method::POST, path, &[("content-type", "application/json".into())], body.clone()).await;
    assert_eq!(unsigned.code(), "bad_signature");

    // More than 300 s off, either way.
    for skew in [-400, 400] {
        let stale = server
            .raw(Method::POST, path, &sign_headers(&partner, "POST", path, &body, now + skew), body.clone())
            .await;
        assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
        assert_eq!(stale.code(), "stale_timestamp");
    }
    // Within the window is fine.
    let slightly_off =
        server.raw(Method::POST, path, &sign_headers(&partner, "POST", path, &body, now - 200), body).await;
    assert_eq!(slightly_off.status, StatusCode::OK, "{slightly_off:?}");
}

async fn malformed_bodies_and_oversized_batches_fail_whole_and_credit_nothing() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("rider", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "r-1").await;
    let path = "/v1/partner/events";

    for body in [&b"{\"events\": [ {\"id\": "[..], b"[]", b"{\"events\": [{\"id\": 5}]}", b"{}"] {
        let headers = sign_headers(&partner, "POST", path, body, Utc::now().timestamp());
        let reply = server.raw(Method::POST, path, &headers, body.to_vec()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
        assert_eq!(reply.code(), "malformed_body");
    }

    let events: Vec<_> =
        (0..10_001).map(|i| event(&format!("big-{i}"), "r-1", "shared_bike", json!({ "distance_km": 1 }))).collect();
    let too_many = server.send_events(&partner, json!(events)).await;
    assert_eq!(too_many.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_many.code(), "batch_too_large");
    assert_eq!(server.me(&citizen).await["reduction_grams"], 0);

    // A full batch of 10,000 is accepted.
    let results = server.send_ok(&partner, json!(events[..10_000])).await;
    assert_eq!(results.len(), 10_000);
    assert!(results.iter().all(|r| r["outcome"] == "credited"));
    assert_eq!(server.me(&citizen).await["reduction_grams"], 10_000 * 250);
}

async fn a_partner_reports_only_its_own_categories() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["food"]).await;
    let citizen = server.create_citizen("eater", "CN-BJ").await;
    server.link(&citizen, &partner, &["food"], "e-1").await;
    let results = server
        .send_ok(
            &partner,
            json!([
                event("bike", "e-1", "shared_bike", json!({ "distance_km": 2 })),
                event("meal", "e-1", "no_utensils", json!({})),
            ]),
        )
        .await;
    assert_eq!(results[0]["outcome"], "rejected");
    assert_eq!(results[0]["code"], "category_not_allowed");
    assert_eq!(results[1]["outcome"], "credited");
    assert_eq!(results[1]["grams"], 45);
}

async fn a_full_ingestion_queue_answers_503_overloaded_and_loses_nothing() {
    let server = TestServer::start_with(|config| config.queue_events_max = 10_000).await;
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("queued", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "q").await;
    let batch = |prefix: &str| {
        json!((0..10_000).map(|i| event(&format!("{prefix}-{i}"), "q", "bus_ride", json!({}))).collect::<Vec<_>>())
    };

    // Another process holds the writer's lock (SQLite's write lock, or the
    // ingestion advisory lock on PostgreSQL), so the writer cannot commit:
    // the first full batch fills the queue and waits.
    let block = WriterBlock::hold(&server.database_url).await;

    let mut first = {
        let (base, partner, body) = (server.base.clone(), partner.clone(), batch("a"));
        tokio::spawn(async move { TestServer::external(&base).send_events(&partner, body).await })
    };
    let mut second = {
        let (base, partner, body) = (server.base.clone(), partner.clone(), batch("b"));
        tokio::spawn(async move { TestServer::external(&base).send_events(&partner, body).await })
    };
    // Whichever request reached the queue second is refused at once.
    let (refused, waiting) = tokio::select! {
        reply = &mut first => (reply.unwrap(), second),
        reply = &mut second => (reply.unwrap(), first),
    };
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "{refused:?}");
    assert_eq!(refused.code(), "overloaded");
    assert_eq!(refused.headers.get("retry-after").unwrap(), "1");

    drop(block);
    let accepted = waiting.await.unwrap();
    assert_eq!(accepted.status, StatusCode::OK, "{accepted:?}");
    assert!(accepted.body["results"].as_array().unwrap().iter().all(|r| r["outcome"] == "credited"));
    assert_eq!(server.me(&citizen).await["reduction_grams"], 10_000 * 80);
}

crate::contract!(
    only_the_operator_creates_partners_and_secrets_are_never_listed,
    signatures_are_checked_for_key_time_and_replay,
    malformed_bodies_and_oversized_batches_fail_whole_and_credit_nothing,
    a_partner_reports_only_its_own_categories,
    a_full_ingestion_queue_answers_503_overloaded_and_loses_nothing,
);
