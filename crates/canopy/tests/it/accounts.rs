//! Citizens: registration, sessions, the account.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

async fn a_citizen_registers_signs_in_and_reads_an_empty_account() {
    let server = TestServer::start().await;
    let created = server
        .post(
            "/v1/users",
            None,
            json!({ "username": "mei", "password": PASSWORD, "display_name": "Mei", "region": "CN-BJ" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["username"], "mei");
    assert_eq!(created.body["region"], "CN-BJ");
    let id = created.body["id"].as_str().unwrap().to_owned();

    let session = server.post("/v1/sessions", None, json!({ "username": "mei", "password": PASSWORD })).await;
    assert_eq!(session.status, StatusCode::OK);
    let token = session.body["token"].as_str().unwrap();
    assert!(session.body["expires_at"].as_str().unwrap().ends_with('Z'));

    let me = server.get("/v1/me", Some(token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        me.body,
        json!({ "id": id, "username": "mei", "display_name": "Mei", "region": "CN-BJ", "district": null,
                "district_name": null, "city": null, "city_name": null, "reduction_grams": 0, "energy_grams": 0, "balls_grams": 0, "held_energy_grams": 0, "money_fen": 0 })
    );
}

async fn a_taken_username_is_409_and_bad_fields_are_400() {
    let server = TestServer::start().await;
    server.create_citizen("taken", "CN-BJ").await;
    let again = server
        .post(
            "/v1/users",
            None,
            json!({ "username": "taken", "password": PASSWORD, "display_name": "x", "region": "CN-BJ" }),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "username_taken");

    let cases = [
        (
            json!({ "username": "Bad Name", "password": PASSWORD, "display_name": "x", "region": "CN-BJ" }),
            "invalid_username",
        ),
        (json!({ "username": "shorty", "password": "short", "display_name": "x", "region": "CN-BJ" }), "weak_password"),
        (
            json!({ "username": "region", "password": PASSWORD, "display_name": "x", "region": "Beijing" }),
            "invalid_region",
        ),
        (
            json!({ "username": "noname", "password": PASSWORD, "display_name": " ", "region": "CN-BJ" }),
            "invalid_display_name",
        ),
        (
            json!({ "username": "nulname", "password": PASSWORD, "display_name": "a\u{0}b", "region": "CN-BJ" }),
            "invalid_display_name",
        ),
        (json!({ "username": "missing" }), "malformed_body"),
    ];
    for (body, code) in cases {
        let reply = server.post("/v1/users", None, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.code(), code, "{body}");
    }
    let malformed = server
        .raw(reqwest::Method::POST, "/v1/users", &[("content-type", "application/json".into())], b"{not json".to_vec())
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.code(), "malformed_body");
}

async fn wrong_passwords_and_bad_tokens_are_refused() {
    let server = TestServer::start().await;
    server.create_citizen("lin", "CN-HB").await;
    let wrong = server.post("/v1/sessions", None, json!({ "username": "lin", "password": "not the password" })).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.code(), "invalid_credentials");
    for username in ["nobody", "li\u{0}n", "LIN"] {
        let unknown = server.post("/v1/sessions", None, json!({ "username": username, "password": PASSWORD })).await;
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED, "{username:?}: {unknown:?}");
        assert_eq!(unknown.code(), "invalid_credentials");
    }

    let anonymous = server.get("/v1/me", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.code(), "unauthorized");
    let forged = server.get("/v1/me", Some("0123456789abcdef")).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(forged.code(), "invalid_token");
}

async fn an_expired_session_token_is_refused() {
    let server = TestServer::start_with(|config| config.session_ttl_s = 1).await;
    let citizen = server.create_citizen("brief", "CN-BJ").await;
    assert_eq!(server.get("/v1/me", Some(&citizen.token)).await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let expired = server.get("/v1/me", Some(&citizen.token)).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.code(), "invalid_token");
}

async fn unknown_paths_and_methods_are_problems() {
    let server = TestServer::start().await;
    let missing = server.get("/v1/nothing-here", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "not_found");
    let wrong_method = server.request(reqwest::Method::PUT, "/v1/users", None, Some(json!({}))).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.code(), "method_not_allowed");
}

async fn health_and_metrics_report() {
    let server = TestServer::start().await;
    let health = server.get("/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("metro", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "m-1").await;
    server.send_ok(&partner, json!([event("e1", "m-1", "shared_bike", json!({ "distance_km": 2 }))])).await;
    let metrics = server.get("/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.body.as_str().unwrap();
    assert!(text.contains("canopy_events_total{outcome=\"credited\"} 1"), "{text}");
    assert!(text.contains("canopy_grams_credited_total 500"), "{text}");
    assert!(
        text.contains("canopy_http_requests_total{method=\"POST\",route=\"/v1/partner/events\",status=\"200\"} 1"),
        "{text}"
    );
}

async fn bodies_over_the_limit_are_413() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let huge = vec![b' '; 17 * 1024 * 1024];
    let path = "/v1/partner/events";
    let headers = sign_headers(&partner, "POST", path, &huge, chrono::Utc::now().timestamp());
    let reply = server.raw(reqwest::Method::POST, path, &headers, huge).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.code(), "body_too_large");
}

async fn connections_over_the_limit_get_a_clear_503() {
    use tokio::io::AsyncReadExt;
    let server = TestServer::start_with(|config| config.connections_max = 2).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let _held = [
        tokio::net::TcpStream::connect(&address).await.unwrap(),
        tokio::net::TcpStream::connect(&address).await.unwrap(),
    ];
    // Give the server a moment to accept the two it holds.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut third = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut answer = String::new();
    third.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"code\":\"too_many_connections\""), "{answer}");
    drop(_held);
}

crate::contract!(
    a_citizen_registers_signs_in_and_reads_an_empty_account,
    a_taken_username_is_409_and_bad_fields_are_400,
    wrong_passwords_and_bad_tokens_are_refused,
    an_expired_session_token_is_refused,
    unknown_paths_and_methods_are_problems,
    health_and_metrics_report,
    bodies_over_the_limit_are_413,
    connections_over_the_limit_get_a_clear_503,
);
