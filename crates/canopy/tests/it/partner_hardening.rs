//! Partners and citizens hardened (issue 9, section 4): the link race,
//! partner regions, validated names and regions, secrets at rest and their
//! rotation.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

/// Regression: two simultaneous uses of one link code answered the loser
/// 503 on PostgreSQL instead of 400 `link_code_invalid`.
async fn link_code_race_has_one_winner_and_one_link_code_invalid() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    for round in 0..6 {
        let citizen = server.create_citizen(&format!("racer{round}"), "CN-BJ").await;
        let grant = server
            .post("/v1/me/consents", Some(&citizen.token), json!({ "partner_id": partner.id, "scopes": ["transport"] }))
            .await;
        assert_eq!(grant.status, StatusCode::CREATED, "{grant:?}");
        let code = grant.body["link_code"].as_str().unwrap().to_owned();
        // Odd rounds race the same user_ref, even rounds two different ones.
        let (first_ref, second_ref) = if round % 2 == 1 {
            (format!("u{round}"), format!("u{round}"))
        } else {
            (format!("a{round}"), format!("b{round}"))
        };
        let (a, b) = tokio::join!(
            server.signed(&partner, "/v1/partner/links", json!({ "link_code": code, "user_ref": first_ref })),
            server.signed(&partner, "/v1/partner/links", json!({ "link_code": code, "user_ref": second_ref })),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::CREATED, StatusCode::BAD_REQUEST], "round {round}: {a:?} {b:?}");
        let loser = if a.status == StatusCode::BAD_REQUEST { &a } else { &b };
        assert_eq!(loser.code(), "link_code_invalid", "round {round}");
    }
}

/// The same race through two codes of one citizen (granted twice): both
/// codes are good, so the same `user_ref` links twice (the second is the
/// same link again) and two different ones are a `link_conflict`, never a
/// 503 from the unique key the two transactions both hit.
async fn two_codes_of_one_citizen_raced_answer_created_or_link_conflict() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    for round in 0..6 {
        let citizen = server.create_citizen(&format!("twocodes{round}"), "CN-BJ").await;
        let mut codes = Vec::new();
        for _ in 0..2 {
            let grant = server
                .post(
                    "/v1/me/consents",
                    Some(&citizen.token),
                    json!({ "partner_id": partner.id, "scopes": ["transport"] }),
                )
                .await;
            assert_eq!(grant.status, StatusCode::CREATED, "{grant:?}");
            codes.push(grant.body["link_code"].as_str().unwrap().to_owned());
        }
        let same = round % 2 == 1;
        let second_ref = if same { format!("r{round}") } else { format!("s{round}") };
        let (a, b) = tokio::join!(
            server.signed(
                &partner,
                "/v1/partner/links",
                json!({ "link_code": codes[0], "user_ref": format!("r{round}") })
            ),
            server.signed(&partner, "/v1/partner/links", json!({ "link_code": codes[1], "user_ref": second_ref })),
        );
        if same {
            assert_eq!((a.status, b.status), (StatusCode::CREATED, StatusCode::CREATED), "round {round}: {a:?} {b:?}");
        } else {
            let mut statuses = [a.status, b.status];
            statuses.sort();
            assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT], "round {round}: {a:?} {b:?}");
            let loser = if a.status == StatusCode::CONFLICT { &a } else { &b };
            assert_eq!(loser.code(), "link_conflict");
        }
    }
}

/// Two citizens' codes raced with one `user_ref`: one links, the other is
/// told the reference is taken (409 `link_conflict`).
async fn one_user_ref_raced_for_two_citizens_is_one_link_and_one_conflict() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    for round in 0..6 {
        let mut codes = Vec::new();
        for who in 0..2 {
            let citizen = server.create_citizen(&format!("shared{round}x{who}"), "CN-BJ").await;
            let grant = server
                .post(
                    "/v1/me/consents",
                    Some(&citizen.token),
                    json!({ "partner_id": partner.id, "scopes": ["transport"] }),
                )
                .await;
            codes.push(grant.body["link_code"].as_str().unwrap().to_owned());
        }
        let user_ref = format!("shared{round}");
        let (a, b) = tokio::join!(
            server.signed(&partner, "/v1/partner/links", json!({ "link_code": codes[0], "user_ref": user_ref })),
            server.signed(&partner, "/v1/partner/links", json!({ "link_code": codes[1], "user_ref": user_ref })),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT], "round {round}: {a:?} {b:?}");
    }
}

crate::contract!(
    link_code_race_has_one_winner_and_one_link_code_invalid,
    two_codes_of_one_citizen_raced_answer_created_or_link_conflict,
    one_user_ref_raced_for_two_citizens_is_one_link_and_one_conflict,
);
