//! The HTTP edge against hostile clients: slow clients, large bodies from
//! strangers, sign-in floods, media types, the bearer scheme, leap seconds
//! and the replay window.

use std::time::Duration;

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

fn address(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Reads what the server sends until it closes the connection (or `wait`
/// passes: then the connection was still open, which the caller asserts on).
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut answer = Vec::new();
    match tokio::time::timeout(wait, stream.read_to_end(&mut answer)).await {
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(_) => None,
    }
}

async fn clients_that_send_half_their_headers_are_dropped() {
    let server = TestServer::start_with(|config| {
        config.connections_max = 8;
        config.header_read_timeout = Duration::from_millis(500);
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut stream = TcpStream::connect(address(&server)).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: canopy\r\nX-Half: ").await.unwrap();
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The cap is full of slow clients: everyone else is refused...
    let mut another = TcpStream::connect(address(&server)).await.unwrap();
    let refused = read_until_closed(&mut another, Duration::from_secs(5)).await.expect("refused at once");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("\"code\":\"too_many_connections\""), "{refused}");
    // ...until the header timeout drops them all.
    for stream in &mut slow {
        assert!(read_until_closed(stream, Duration::from_secs(5)).await.is_some(), "a slow client was kept");
    }
    let healthy = server.get("/healthz", None).await;
    assert_eq!(healthy.status, StatusCode::OK, "{healthy:?}");
}

async fn a_body_sent_too_slowly_is_408_and_the_connection_closed() {
    for (body_ms, request_ms) in [(300, 60_000), (60_000, 300)] {
        let server = TestServer::start_with(|config| {
            config.body_read_timeout = Duration::from_millis(body_ms);
            config.request_timeout = Duration::from_millis(request_ms);
        })
        .await;
        let mut stream = TcpStream::connect(address(&server)).await.unwrap();
        stream
            .write_all(
                b"POST /v1/users HTTP/1.1\r\nHost: canopy\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"user",
            )
            .await
            .unwrap();
        let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await.expect("the connection is closed");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
    }
}

async fn a_large_body_from_an_unknown_partner_is_refused_unread() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let ghost = Partner { id: "ptn_999".into(), secret: partner.secret.clone() };
    for (who, expected) in [(&ghost, "bad_signature"), (&partner, "")] {
        let mut stream = TcpStream::connect(address(&server)).await.unwrap();
        let mut head = "POST /v1/partner/events HTTP/1.1\r\nHost: canopy\r\ncontent-length: 16777216\r\n".to_owned();
        for (name, value) in sign_headers(who, "POST", "/v1/partner/events", b"{}", Utc::now().timestamp()) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        // Not a byte of the 16 MiB is sent: the answer must not wait for it.
        let mut answer = vec![0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut answer)).await;
        if expected.is_empty() {
            // A known partner's body is awaited (it is what gets verified).
            assert!(read.is_err(), "a known partner's body was not awaited: {:?}", read);
        } else {
            let n = read.expect("answered before the body").unwrap();
            let answer = String::from_utf8_lossy(&answer[..n]);
            assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
            assert!(answer.contains(&format!("\"code\":\"{expected}\"")), "{answer}");
        }
    }
}

async fn body_limits_are_per_route() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    // 100 KiB is too much for registration...
    let padded = |bytes: usize, value: Value| {
        let mut body = serde_json::to_vec(&value).unwrap();
        body.resize(bytes, b' ');
        body
    };
    let user = json!({ "username": "alice", "password": PASSWORD, "display_name": "A", "region": "CN-BJ" });
    let json_type = [("content-type", "application/json".to_owned())];
    let big = server.raw(Method::POST, "/v1/users", &json_type, padded(100 * 1024, user.clone())).await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE, "{big:?}");
    assert_eq!(big.code(), "body_too_large");
    let small = server.raw(Method::POST, "/v1/users", &json_type, padded(60 * 1024, user)).await;
    assert_eq!(small.status, StatusCode::CREATED, "{small:?}");
    // ...but a signed 8 MiB batch is read and answered.
    let body = padded(8 * 1024 * 1024, json!({ "events": [] }));
    let path = "/v1/partner/events";
    let batch = server
        .raw(Method::POST, path, &sign_headers(&partner, "POST", path, &body, Utc::now().timestamp()), body)
        .await;
    assert_eq!(batch.status, StatusCode::OK, "{batch:?}");
    // Over 16 MiB is 413 even from a known partner.
    let body = vec![b' '; 17 * 1024 * 1024];
    let huge = server
        .raw(Method::POST, path, &sign_headers(&partner, "POST", path, &body, Utc::now().timestamp()), body)
        .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE, "{huge:?}");
    assert_eq!(huge.code(), "body_too_large");
    // A methodology may be larger than a registration, but not megabytes.
    let admin = [("content-type", "application/toml".to_owned()), ("authorization", format!("Bearer {ADMIN_TOKEN}"))];
    // A fresh client: the pooled connection of the 413 above is closed.
    let fresh = TestServer::external(&server.base);
    let toml = fresh.raw(Method::POST, "/v1/methodologies", &admin, vec![b'#'; 200 * 1024]).await;
    assert_eq!(toml.status, StatusCode::BAD_REQUEST, "{toml:?}");
    // Over the limit, the answer comes once the limit is passed, without
    // the rest of the body (a client sending it all would race the server
    // closing a connection whose body it will not read).
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    let head = format!(
        "POST /v1/methodologies HTTP/1.1\r\nHost: canopy\r\ncontent-type: application/toml\r\n\
         authorization: Bearer {ADMIN_TOKEN}\r\ncontent-length: {}\r\n\r\n",
        2 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Just past the limit, not the whole declared body.
    stream.write_all(&vec![b'#'; 1024 * 1024 + 64 * 1024]).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await.expect("answered").unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"code\":\"body_too_large\""), "{answer}");
}

async fn a_flood_of_sign_ins_is_503_busy_beyond_the_hashing_bound() {
    let server = TestServer::start_with(|config| config.password_hashes_max = 1).await;
    server.create_citizen("alice", "CN-BJ").await;
    let attempts =
        (0..48).map(|_| server.post("/v1/sessions", None, json!({ "username": "alice", "password": PASSWORD })));
    let replies = futures_join_all(attempts).await;
    let busy: Vec<&Reply> = replies.iter().filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE).collect();
    assert!(!busy.is_empty(), "48 sign-ins at once on one hashing slot all waited");
    for reply in &busy {
        assert_eq!(reply.code(), "busy");
        assert_eq!(reply.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    }
    assert!(replies.iter().all(|r| r.status == StatusCode::OK || r.status == StatusCode::SERVICE_UNAVAILABLE));
    assert!(replies.iter().any(|r| r.status == StatusCode::OK));
    // Once the flood is over, signing in works again.
    let after = server.post("/v1/sessions", None, json!({ "username": "alice", "password": PASSWORD })).await;
    assert_eq!(after.status, StatusCode::OK, "{after:?}");
}

/// Runs the futures at once (tokio tasks would need 'static borrows).
async fn futures_join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in set.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("every future finished")).collect()
}

async fn json_media_types_match_exactly_and_in_any_case() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    for (n, content_type, expected) in [
        (1, "Application/JSON", StatusCode::CREATED),
        (2, "application/json; charset=utf-8", StatusCode::CREATED),
        (3, "application/jsonx", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (4, "text/plain", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ] {
        let body =
            json!({ "username": format!("user{n}"), "password": PASSWORD, "display_name": "U", "region": "CN-BJ" });
        let reply = server
            .raw(Method::POST, "/v1/users", &[("content-type", content_type.to_owned())], body.to_string().into())
            .await;
        assert_eq!(reply.status, expected, "{content_type}: {reply:?}");
        if expected == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            assert_eq!(reply.code(), "unsupported_media_type");
        }
    }
    // A signed batch declared as something else is 415 too.
    let path = "/v1/partner/events";
    let body = br#"{"events":[]}"#.to_vec();
    let mut headers = sign_headers(&partner, "POST", path, &body, Utc::now().timestamp());
    headers[0].1 = "application/jsonx".to_owned();
    let reply = server.raw(Method::POST, path, &headers, body.clone()).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{reply:?}");
    assert_eq!(reply.code(), "unsupported_media_type");
    headers[0].1 = "APPLICATION/json".to_owned();
    let reply = server.raw(Method::POST, path, &headers, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    // Publication: JSON only by its exact type.
    let admin = |content_type: &str| {
        [("content-type", content_type.to_owned()), ("authorization", format!("Bearer {ADMIN_TOKEN}"))]
    };
    let reply = server.raw(Method::POST, "/v1/methodologies", &admin("application/jsonx"), b"{}".to_vec()).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{reply:?}");
    assert_eq!(reply.code(), "unsupported_media_type");
}

async fn the_bearer_scheme_is_case_insensitive() {
    let server = TestServer::start().await;
    let citizen = server.create_citizen("alice", "CN-BJ").await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let me = server
            .raw(Method::GET, "/v1/me", &[("authorization", format!("{scheme} {}", citizen.token))], vec![])
            .await;
        assert_eq!(me.status, StatusCode::OK, "{scheme}: {me:?}");
        let partners = server
            .raw(Method::GET, "/v1/partners", &[("authorization", format!("{scheme} {ADMIN_TOKEN}"))], vec![])
            .await;
        assert_eq!(partners.status, StatusCode::OK, "{scheme}: {partners:?}");
    }
    let basic =
        server.raw(Method::GET, "/v1/me", &[("authorization", format!("Basic {}", citizen.token))], vec![]).await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
}

async fn only_23_59_60_can_be_a_leap_second() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("alice", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "alice").await;
    let day = (Utc::now() - chrono::Duration::days(2)).format("%Y-%m-%d");
    let ride = |id: &str, time: &str| {
        json!({ "id": id, "user_ref": "alice", "behavior": "shared_bike", "occurred_at": format!("{day}T{time}"),
                "inputs": { "distance_km": 1 } })
    };
    let results = server
        .send_ok(
            &partner,
            json!([ride("noon", "12:30:60Z"), ride("shifted", "23:59:60+08:00"), ride("midnight", "23:59:60Z")]),
        )
        .await;
    assert_eq!(results[0]["code"], "invalid_timestamp", "{results:?}");
    assert_eq!(results[1]["code"], "invalid_timestamp", "{results:?}");
    assert_eq!(results[2]["outcome"], "credited", "{results:?}");
}

async fn a_seen_signature_is_remembered_for_twice_the_tolerance() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let path = "/v1/partner/events";
    let body = br#"{"events":[]}"#.to_vec();
    // Signed almost a tolerance ago: a server whose clock runs up to a
    // tolerance behind this one accepts it for almost two more tolerances.
    let signed_at = Utc::now().timestamp() - canopy_core::signature::TIMESTAMP_TOLERANCE_S + 5;
    let reply = server.raw(Method::POST, path, &sign_headers(&partner, "POST", path, &body, signed_at), body).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let sql = "SELECT expires_at FROM request_signatures";
    let expires_at: i64 = if server.database_url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&server.database_url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    } else {
        let pool = sqlx::PgPool::connect(&server.database_url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    };
    assert!(
        expires_at >= signed_at + 2 * canopy_core::signature::TIMESTAMP_TOLERANCE_S,
        "forgotten at {expires_at}, signed at {signed_at}"
    );
}

crate::contract!(
    clients_that_send_half_their_headers_are_dropped,
    a_body_sent_too_slowly_is_408_and_the_connection_closed,
    a_large_body_from_an_unknown_partner_is_refused_unread,
    body_limits_are_per_route,
    a_flood_of_sign_ins_is_503_busy_beyond_the_hashing_bound,
    json_media_types_match_exactly_and_in_any_case,
    the_bearer_scheme_is_case_insensitive,
    only_23_59_60_can_be_a_leap_second,
    a_seen_signature_is_remembered_for_twice_the_tolerance,
);
