//! Consent: link codes, scopes, revocation, isolation between partners.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

async fn link_codes_are_single_use_and_bind_the_partner_reference() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("ana", "CN-BJ").await;
    let grant = server
        .post("/v1/me/consents", Some(&citizen.token), json!({ "partner_id": partner.id, "scopes": ["transport"] }))
        .await;
    assert_eq!(grant.status, StatusCode::CREATED);
    let code = grant.body["link_code"].as_str().unwrap().to_owned();
    assert!(grant.body["expires_at"].is_string());

    let linked = server.signed(&partner, "/v1/partner/links", json!({ "link_code": code, "user_ref": "ana-7" })).await;
    assert_eq!(linked.status, StatusCode::CREATED, "{linked:?}");
    assert_eq!(linked.body["user_ref"], "ana-7");
    assert_eq!(linked.body["scopes"], json!(["transport"]));

    // A used code is spent, whatever it is sent with.
    for user_ref in ["ana-7", "ana-8"] {
        let again =
            server.signed(&partner, "/v1/partner/links", json!({ "link_code": code, "user_ref": user_ref })).await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST);
        assert_eq!(again.code(), "link_code_invalid");
    }
    let unknown =
        server.signed(&partner, "/v1/partner/links", json!({ "link_code": "AAAA-BBBB-CCCC", "user_ref": "x" })).await;
    assert_eq!(unknown.code(), "link_code_invalid");

    let consents = server.get("/v1/me/consents", Some(&citizen.token)).await;
    assert_eq!(consents.status, StatusCode::OK);
    let consent = &consents.body["consents"][0];
    assert_eq!(consent["partner_id"], partner.id.as_str());
    assert_eq!(consent["scopes"], json!(["transport"]));
    assert_eq!(consent["active"], true);
    assert_eq!(consent["linked"], true);

    let results =
        server.send_ok(&partner, json!([event("ride", "ana-7", "shared_bike", json!({ "distance_km": 1 }))])).await;
    assert_eq!(results[0]["outcome"], "credited");
}

async fn a_code_for_one_partner_does_not_work_for_another() {
    let server = TestServer::start().await;
    let first = server.create_partner(&["transport"]).await;
    let second = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("bob", "CN-BJ").await;
    let grant = server
        .post("/v1/me/consents", Some(&citizen.token), json!({ "partner_id": first.id, "scopes": ["transport"] }))
        .await;
    let code = grant.body["link_code"].as_str().unwrap();
    let stolen = server.signed(&second, "/v1/partner/links", json!({ "link_code": code, "user_ref": "bo" })).await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST);
    assert_eq!(stolen.code(), "link_code_invalid");
}

async fn consent_codes_reject_unlinked_revoked_and_out_of_scope_events() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport", "food"]).await;
    let other = server.create_partner(&["transport", "food"]).await;
    let citizen = server.create_citizen("chen", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "chen-1").await;

    let results = server
        .send_ok(
            &partner,
            json!([
                event("a", "stranger", "shared_bike", json!({ "distance_km": 1 })),
                event("b", "chen-1", "no_utensils", json!({})),
                event("c", "chen-1", "shared_bike", json!({ "distance_km": 1 })),
            ]),
        )
        .await;
    assert_eq!(results[0]["code"], "consent_missing");
    assert_eq!(results[1]["code"], "scope_not_granted");
    assert_eq!(results[2]["outcome"], "credited");

    // Another partner cannot use this partner's reference.
    let foreign =
        server.send_ok(&other, json!([event("d", "chen-1", "shared_bike", json!({ "distance_km": 1 }))])).await;
    assert_eq!(foreign[0]["code"], "consent_missing");

    // Revocation stops crediting at once.
    let revoked =
        server.request(Method::DELETE, &format!("/v1/me/consents/{}", partner.id), Some(&citizen.token), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let after =
        server.send_ok(&partner, json!([event("e", "chen-1", "shared_bike", json!({ "distance_km": 1 }))])).await;
    assert_eq!(after[0]["outcome"], "rejected");
    assert_eq!(after[0]["code"], "consent_revoked");
    let consents = server.get("/v1/me/consents", Some(&citizen.token)).await;
    assert_eq!(consents.body["consents"][0]["active"], false);
    assert!(consents.body["consents"][0]["revoked_at"].is_string());
    let twice =
        server.request(Method::DELETE, &format!("/v1/me/consents/{}", partner.id), Some(&citizen.token), None).await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND);
    assert_eq!(twice.code(), "consent_not_found");

    // What was credited before revocation stays.
    assert_eq!(server.me(&citizen).await["reduction_grams"], 250);

    // Granting again restores crediting under the same reference.
    let regrant = server
        .post(
            "/v1/me/consents",
            Some(&citizen.token),
            json!({ "partner_id": partner.id, "scopes": ["transport", "food"] }),
        )
        .await;
    assert_eq!(regrant.status, StatusCode::CREATED);
    let restored = server.send_ok(&partner, json!([event("f", "chen-1", "no_utensils", json!({}))])).await;
    assert_eq!(restored[0]["outcome"], "credited");
}

async fn bad_consent_requests_are_refused() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("dee", "CN-BJ").await;
    let unknown = server
        .post("/v1/me/consents", Some(&citizen.token), json!({ "partner_id": "ptn_404", "scopes": ["transport"] }))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "partner_not_found");
    let scope = server
        .post("/v1/me/consents", Some(&citizen.token), json!({ "partner_id": partner.id, "scopes": ["teleport"] }))
        .await;
    assert_eq!(scope.status, StatusCode::BAD_REQUEST);
    assert_eq!(scope.code(), "invalid_scope");
    let anonymous =
        server.post("/v1/me/consents", None, json!({ "partner_id": partner.id, "scopes": ["transport"] })).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

crate::contract!(
    link_codes_are_single_use_and_bind_the_partner_reference,
    a_code_for_one_partner_does_not_work_for_another,
    consent_codes_reject_unlinked_revoked_and_out_of_scope_events,
    bad_consent_requests_are_refused,
);
