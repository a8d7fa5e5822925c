//! OpenADR 3.1 (issue 12), the VENs' credentials: the operator registers a
//! VEN and gets its client id and secret once; the VEN trades them for a
//! bearer token at `/openadr3/auth/token` by OAuth2 client credentials,
//! with OAuth2's error shape when it cannot.

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::checkins::admin;
use crate::harness::*;

async fn token(server: &TestServer, headers: &[(&str, String)], form: &str) -> Reply {
    let mut all = vec![("content-type", "application/x-www-form-urlencoded".to_owned())];
    all.extend(headers.iter().cloned());
    server.raw(Method::POST, "/openadr3/auth/token", &all, form.as_bytes().to_vec()).await
}

fn basic(id: &str, secret: &str) -> (&'static str, String) {
    ("authorization", format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))))
}

async fn a_ven_trades_its_client_credentials_for_a_bearer_token() {
    let server = TestServer::start().await;
    let made = admin(&server, Method::POST, "/v1/energy/vens", json!({ "name": "Jiangxi home energy hub" })).await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let (id, secret) =
        (made.body["client_id"].as_str().unwrap().to_owned(), made.body["client_secret"].as_str().unwrap().to_owned());
    assert!(made.body["id"].as_str().unwrap().starts_with("ven_"));
    let again = admin(&server, Method::POST, "/v1/energy/vens", json!({ "name": "Jiangxi home energy hub" })).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "ven_exists"));
    let listed = admin(&server, Method::GET, "/v1/energy/vens", Value::Null).await;
    assert_eq!(listed.body["vens"][0]["client_id"], id.as_str());
    assert!(listed.body["vens"][0].get("client_secret").is_none(), "the secret is shown once");

    // HTTP Basic, as RFC 6749 prefers; and in the form body.
    for reply in [
        token(&server, &[basic(&id, &secret)], "grant_type=client_credentials").await,
        token(&server, &[], &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}")).await,
    ] {
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_eq!(
            (reply.body["token_type"].as_str(), reply.body["expires_in"].as_i64()),
            (Some("Bearer"), Some(3600))
        );
        assert_eq!(reply.body["access_token"].as_str().map(str::len), Some(64));
        assert_eq!(reply.headers["cache-control"], "no-store");
    }
    let wrong = token(&server, &[basic(&id, "not-the-secret")], "grant_type=client_credentials").await;
    assert_eq!((wrong.status, &wrong.body["error"]), (StatusCode::UNAUTHORIZED, &json!("invalid_client")), "{wrong:?}");
    assert!(wrong.headers.contains_key("www-authenticate"));
    let nobody = token(&server, &[basic("ven-nobody", &secret)], "grant_type=client_credentials").await;
    assert_eq!(nobody.body["error"], "invalid_client");
    let grant = token(&server, &[basic(&id, &secret)], "grant_type=password&username=a&password=b").await;
    assert_eq!((grant.status, &grant.body["error"]), (StatusCode::BAD_REQUEST, &json!("unsupported_grant_type")));
    let missing = token(&server, &[basic(&id, &secret)], "").await;
    assert_eq!((missing.status, &missing.body["error"]), (StatusCode::BAD_REQUEST, &json!("invalid_request")));
    let bad = admin(&server, Method::POST, "/v1/energy/vens", json!({ "name": "" })).await;
    assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "invalid_ven"));
}

crate::contract!(a_ven_trades_its_client_credentials_for_a_bearer_token);
