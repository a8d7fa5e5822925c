//! Campaigns (issue 11): "1 kg per person", each kilogram given matched by
//! carbon credits a sponsor bought and retired; serial ranges never overlap
//! within a registry.

use std::sync::Arc;

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::checkins::admin;
use crate::friends::call;
use crate::harness::*;
use crate::redemption::*;

pub(crate) async fn sponsor(server: &TestServer) -> String {
    let made =
        admin(server, Method::POST, "/v1/sponsors", json!({ "name": "Asian Games Sponsor", "kind": "company" })).await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    made.body["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn campaign(server: &TestServer, sponsor_id: &str, starts_in_days: i64) -> Value {
    let now = Utc::now();
    let made = admin(
        server,
        Method::POST,
        "/v1/campaigns",
        json!({
            "title": "1 kg per person for the Asian Games", "beneficiary": "Hangzhou Asian Games", "goal_grams": 5000,
            "per_person_limit_grams": 1000, "match_ratio": 1.0, "sponsor_id": sponsor_id,
            "starts_at": (now + Duration::days(starts_in_days) - Duration::hours(1)).to_rfc3339(),
            "ends_at": (now + Duration::days(starts_in_days + 30)).to_rfc3339()
        }),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    made.body
}

async fn give(server: &TestServer, who: &Citizen, campaign: &str, grams: i64, key: Option<&str>) -> Reply {
    let path = format!("/v1/campaigns/{campaign}/contributions");
    call(server, who, Method::POST, &path, Some(json!({ "grams": grams })), key).await
}

async fn retire(server: &TestServer, campaign: &str, first: &str, last: &str, quantity_t: i64) -> Reply {
    admin(
        server,
        Method::POST,
        &format!("/v1/campaigns/{campaign}/retirements"),
        json!({ "registry": "CCER", "serial_first": first, "serial_last": last, "quantity_t": quantity_t,
                "retired_at": Utc::now().to_rfc3339(), "beneficiary": "Hangzhou Asian Games" }),
    )
    .await
}

async fn one_kilogram_per_person_matched_by_retired_credits() {
    let (server, clock) = server().await;
    let partner = server.create_partner(&["use"]).await;
    let sponsor_id = sponsor(&server).await;
    let made = campaign(&server, &sponsor_id, 0).await;
    assert_eq!(
        (made["match_ratio"].as_f64(), made["matched"].as_bool()),
        (Some(1.0), Some(true)),
        "nothing given, nothing owed: {made}"
    );
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cmp_"));
    let ann = citizen_with_energy(&server, &partner, "cg-ann", "CN-ZJ", 1).await;
    let bo = citizen_with_energy(&server, &partner, "cg-bo", "CN-ZJ", 1).await;
    let broke = citizen_with_energy(&server, &partner, "cg-cy", "CN-ZJ", 0).await;

    let first = give(&server, &ann, &id, 600, Some("g-1")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    assert_eq!(
        (first.body["contributed_grams"].as_i64(), first.body["energy_left"].as_i64()),
        (Some(600), Some(COMPUTER_G - 600))
    );
    let retry = give(&server, &ann, &id, 600, Some("g-1")).await;
    assert_eq!((retry.status, &retry.body["id"]), (StatusCode::CREATED, &first.body["id"]), "a retry is answered once");
    assert_refused(
        &give(&server, &ann, &id, 500, Some("g-1")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );
    assert_eq!(give(&server, &ann, &id, 400, None).await.body["contributed_grams"], 1000);
    let over = give(&server, &ann, &id, 1, None).await;
    assert_refused(&over, StatusCode::CONFLICT, "contribution_over_limit");
    assert_eq!(give(&server, &bo, &id, 1000, None).await.status, StatusCode::CREATED);
    assert_refused(&give(&server, &broke, &id, 10, None).await, StatusCode::CONFLICT, "insufficient_energy");
    for grams in [0, -5, 1001] {
        assert_refused(&give(&server, &bo, &id, grams, None).await, StatusCode::BAD_REQUEST, "invalid_amount");
    }
    assert_refused(&give(&server, &bo, "cmp_999", 10, None).await, StatusCode::NOT_FOUND, "campaign_not_found");
    assert_eq!(energy(&server, &ann).await, COMPUTER_G - 1000);
    let ledger = server.get("/v1/me/ledger?limit=1", Some(&ann.token)).await;
    assert_eq!(
        (ledger.body["entries"][0]["kind"].as_str(), ledger.body["entries"][0]["grams"].as_i64()),
        (Some("campaign_contributed"), Some(-400))
    );

    // How it stands: 2 kg given, nothing retired yet.
    let standing = server.get(&format!("/v1/campaigns/{id}"), Some(&ann.token)).await;
    assert_eq!(standing.status, StatusCode::OK, "{standing:?}");
    let body = &standing.body;
    assert_eq!(
        (body["participants"].as_i64(), body["contributed_grams"].as_i64(), body["retired_grams"].as_i64()),
        (Some(2), Some(2000), Some(0))
    );
    assert_eq!((body["matched"].as_bool(), body["shortfall_grams"].as_i64()), (Some(false), Some(2000)));
    assert_eq!(body["my_contributed_grams"], 1000);
    assert_eq!(server.get(&format!("/v1/campaigns/{id}"), None).await.body.get("my_contributed_grams"), None);

    // The sponsor retires a tonne: matched. Ranges never overlap within a registry's series.
    let retired = retire(&server, &id, "CCER-2026-000001", "CCER-2026-000001", 1).await;
    assert_eq!(retired.status, StatusCode::CREATED, "{retired:?}");
    assert_refused(
        &retire(&server, &id, "CCER-2026-000001", "CCER-2026-000003", 3).await,
        StatusCode::CONFLICT,
        "serial_range_overlaps",
    );
    assert_eq!(retire(&server, &id, "CCER-2026-000002", "CCER-2026-000003", 2).await.status, StatusCode::CREATED);
    assert_eq!(
        retire(&server, &id, "CCER-2027-000001", "CCER-2027-000001", 1).await.status,
        StatusCode::CREATED,
        "another series"
    );
    for (first, last, quantity) in [
        ("CCER-2026-000010", "CCER-2026-000019", 9),
        ("CCER-2026-000030", "CCER-2026-000020", 1),
        ("no-number", "no-number", 1),
    ] {
        assert_refused(&retire(&server, &id, first, last, quantity).await, StatusCode::BAD_REQUEST, "invalid_campaign");
    }
    assert_refused(
        &retire(&server, "cmp_999", "CCER-2026-000100", "CCER-2026-000100", 1).await,
        StatusCode::NOT_FOUND,
        "campaign_not_found",
    );
    let matched = server.get(&format!("/v1/campaigns/{id}"), None).await;
    assert_eq!(
        (
            matched.body["retired_grams"].as_i64(),
            matched.body["matched"].as_bool(),
            matched.body["shortfall_grams"].as_i64()
        ),
        (Some(4_000_000), Some(true), Some(0))
    );
    assert_eq!(matched.body["retirements"].as_array().unwrap().len(), 3);

    // The public page says the same.
    let page = server.get(&format!("/campaigns/{id}"), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.body.as_str().unwrap();
    assert!(
        html.contains("1 kg per person for the Asian Games") && html.contains("2.000 kg") && html.contains("Matched"),
        "{html}"
    );
    assert_eq!(server.get("/campaigns/cmp_999", None).await.status, StatusCode::NOT_FOUND);
    let listed = server.get("/v1/campaigns", None).await;
    assert_eq!(listed.body["campaigns"][0]["id"], id.as_str());

    // Not before its start, not after its end.
    let later = campaign(&server, &sponsor_id, 2).await;
    assert_refused(
        &give(&server, &bo, later["id"].as_str().unwrap(), 10, None).await,
        StatusCode::CONFLICT,
        "campaign_not_active",
    );
    clock.advance(Duration::days(31));
    assert_refused(&give(&server, &broke, &id, 10, None).await, StatusCode::CONFLICT, "campaign_not_active");

    // Bad campaigns.
    for (field, value) in [
        ("match_ratio", json!(0)),
        ("per_person_limit_grams", json!(0)),
        ("title", json!("")),
        ("ends_at", json!("2020-01-01T00:00:00Z")),
    ] {
        let mut body = json!({ "title": "t", "beneficiary": "b", "goal_grams": 1, "per_person_limit_grams": 1, "sponsor_id": sponsor_id,
                               "starts_at": Utc::now().to_rfc3339(), "ends_at": (Utc::now() + Duration::days(1)).to_rfc3339() });
        body[field] = value;
        let refused = admin(&server, Method::POST, "/v1/campaigns", body).await;
        assert_refused(&refused, StatusCode::BAD_REQUEST, "invalid_campaign");
    }
    verify_is_clean(server).await;
}

async fn overlapping_retirements_recorded_at_once_are_recorded_once() {
    let (server, _clock) = server().await;
    let sponsor_id = sponsor(&server).await;
    let id = campaign(&server, &sponsor_id, 0).await["id"].as_str().unwrap().to_owned();
    let server = Arc::new(server);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (server, id) = (server.clone(), id.clone());
            // Each range shares CCER-2026-000500 with every other.
            let (first, last) = (format!("CCER-2026-{:06}", 500 - i), format!("CCER-2026-{:06}", 500 + i));
            tokio::spawn(async move { retire(&server, &id, &first, &last, 2 * i + 1).await })
        })
        .collect();
    let mut recorded = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            StatusCode::CREATED => recorded += 1,
            _ => assert_refused(&reply, StatusCode::CONFLICT, "serial_range_overlaps"),
        }
    }
    assert_eq!(recorded, 1);
    let standing = server.get(&format!("/v1/campaigns/{id}"), None).await;
    assert_eq!(standing.body["retirements"].as_array().unwrap().len(), 1);
}

crate::contract!(
    one_kilogram_per_person_matched_by_retired_credits,
    overlapping_retirements_recorded_at_once_are_recorded_once
);
