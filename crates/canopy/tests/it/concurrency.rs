//! The same batch from several connections at once is credited exactly once.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

const CONNECTIONS: usize = 8;

async fn linked_server() -> (TestServer, Partner, Citizen, Vec<Value>) {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("crowd", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "crowd").await;
    let events: Vec<Value> = (0..200)
        .map(|i| {
            let mut e = event(&format!("c-{i}"), "crowd", "shared_bike", json!({ "distance_km": 2 }));
            e["fingerprint"] = json!(format!("trip-{i}"));
            e
        })
        .collect();
    (server, partner, citizen, events)
}

async fn one_signed_request_sent_on_many_connections_is_credited_once() {
    let (server, partner, citizen, events) = linked_server().await;
    let body = serde_json::to_vec(&json!({ "events": events })).unwrap();
    let headers = sign_headers(&partner, "POST", "/v1/partner/events", &body, Utc::now().timestamp());
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let url = format!("{}/v1/partner/events", server.base);
        let (headers, body) = (headers.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut request = client.request(Method::POST, url).body(body);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            reply(request.send().await.unwrap()).await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            StatusCode::OK => {
                accepted += 1;
                assert!(reply.body["results"].as_array().unwrap().iter().all(|r| r["outcome"] == "credited"));
            }
            StatusCode::UNAUTHORIZED => assert_eq!(reply.code(), "replayed_request"),
            other => panic!("unexpected {other}: {reply:?}"),
        }
    }
    assert_eq!(accepted, 1);
    assert_eq!(server.me(&citizen).await["reduction_grams"], 200 * 500);
}

async fn the_same_events_signed_apart_on_many_connections_are_credited_once() {
    let (server, partner, citizen, events) = linked_server().await;
    let mut tasks = Vec::new();
    for i in 0..CONNECTIONS {
        let url = format!("{}/v1/partner/events", server.base);
        let partner = partner.clone();
        // Different key order makes each body, and so each signature, differ.
        let body = serde_json::to_vec(&json!({ "events": events, })).unwrap();
        let mut body = body;
        body.extend(std::iter::repeat_n(b' ', i));
        tasks.push(tokio::spawn(async move {
            let headers = sign_headers(&partner, "POST", "/v1/partner/events", &body, Utc::now().timestamp());
            let client = reqwest::Client::new();
            let mut request = client.request(Method::POST, url).body(body);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            reply(request.send().await.unwrap()).await
        }));
    }
    let mut credited = 0;
    let mut duplicates = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        for result in reply.body["results"].as_array().unwrap() {
            match result["outcome"].as_str().unwrap() {
                "credited" => credited += 1,
                "duplicate" => {
                    duplicates += 1;
                    assert_eq!(result["grams"], 500);
                }
                other => panic!("unexpected outcome {other}: {result}"),
            }
        }
    }
    assert_eq!(credited, 200);
    assert_eq!(duplicates, 200 * (CONNECTIONS - 1));
    assert_eq!(server.me(&citizen).await["reduction_grams"], 200 * 500);
}

crate::contract!(
    one_signed_request_sent_on_many_connections_is_credited_once,
    the_same_events_signed_apart_on_many_connections_are_credited_once,
);
