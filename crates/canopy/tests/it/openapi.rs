//! The OpenAPI document served by the server is generated from the code and
//! locked by a snapshot: a change to the contract shows up in review.

use reqwest::StatusCode;

use crate::harness::*;

#[tokio::test]
async fn the_served_openapi_document_is_locked() {
    let server = TestServer::start().await;
    let reply = server.get("/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["openapi"], "3.1.0");
    for path in [
        "/v1/users",
        "/v1/sessions",
        "/v1/me",
        "/v1/me/ledger",
        "/v1/me/consents",
        "/v1/me/consents/{partner_id}",
        "/v1/partners",
        "/v1/partner/links",
        "/v1/partner/events",
        "/v1/methodologies",
        "/healthz",
        "/metrics",
    ] {
        assert!(reply.body["paths"][path].is_object(), "{path} is documented");
    }
    // Serialised by serde_json itself: with `arbitrary_precision` a JSON
    // number is a private struct to every other serialiser (insta's too).
    insta::assert_snapshot!("openapi", serde_json::to_string_pretty(&reply.body).unwrap());
}
