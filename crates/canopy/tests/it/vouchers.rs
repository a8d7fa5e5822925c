//! Vouchers (issue 11): the sponsor's codes uploaded all or none against
//! its budget, one code issued per redemption, accepted once by its own
//! merchant before it expires, voided when its holder cancels.

use std::sync::Arc;

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::checkins::admin;
use crate::friends::call;
use crate::harness::*;
use crate::redemption::*;

async fn upload_json(server: &TestServer, project: &str, codes: &[&str]) -> Reply {
    admin(server, Method::POST, &format!("/v1/projects/{project}/voucher-codes"), json!({ "codes": codes })).await
}

async fn upload_csv(server: &TestServer, project: &str, csv: &str) -> Reply {
    let headers = [("authorization", format!("Bearer {ADMIN_TOKEN}")), ("content-type", "text/csv".to_owned())];
    server.raw(Method::POST, &format!("/v1/projects/{project}/voucher-codes"), &headers, csv.as_bytes().to_vec()).await
}

async fn accept(server: &TestServer, merchant: &Partner, code: &str) -> Reply {
    server.signed(merchant, "/v1/partner/vouchers/redeem", json!({ "code": code })).await
}

/// A store's 5-yuan voucher for 2 kg of energy, honoured by `merchant` until `expires_at`.
async fn voucher_project(server: &TestServer, sponsor_id: &str, merchant: &Partner, expires_at: &str) -> String {
    let (starts_at, ends_at) = window();
    let made = admin(
        server,
        Method::POST,
        "/v1/projects",
        json!({
            "kind": "voucher", "title": "5 yuan off at the low-carbon store", "sponsor_id": sponsor_id, "price_grams": 2000,
            "regions": ["*"], "starts_at": starts_at, "ends_at": ends_at,
            "details": { "merchant_id": merchant.id, "face_value_fen": 500, "expires_at": expires_at, "terms": "One per order" }
        }),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    assert_eq!((made.body["stock"].as_i64(), made.body["quantity_max"].as_i64()), (Some(0), Some(1)));
    made.body["id"].as_str().unwrap().to_owned()
}

async fn vouchers_are_uploaded_issued_accepted_once_and_voided_on_cancel() {
    let (server, clock) = server().await;
    let partner = server.create_partner(&["use"]).await;
    let store = server.create_partner(&["use"]).await;
    let other_store = server.create_partner(&["use"]).await;
    let sponsor = admin(
        &server,
        Method::POST,
        "/v1/sponsors",
        json!({ "name": "Low-carbon Store", "kind": "company", "budget_fen": 2000 }),
    )
    .await;
    let sponsor = sponsor.body["id"].as_str().unwrap().to_owned();
    let expires_at = (Utc::now() + Duration::days(10)).to_rfc3339();
    let project_id = voucher_project(&server, &sponsor, &store, &expires_at).await;

    // Uploads: JSON and CSV, all or none, never a code twice, within the budget (4 × 500 fen).
    let first = upload_json(&server, &project_id, &["GREEN-0001", "GREEN-0002", "GREEN-0003"]).await;
    assert_eq!((first.status, &first.body), (StatusCode::CREATED, &json!({ "added": 3, "stock": 3 })), "{first:?}");
    let twice = upload_csv(&server, &project_id, "code\nGREEN-0004\nGREEN-0002\n").await;
    assert_refused(&twice, StatusCode::CONFLICT, "voucher_code_exists");
    assert!(twice.body["detail"].as_str().unwrap().contains("GREEN-0002"), "{twice:?}");
    let csv = upload_csv(&server, &project_id, "code\r\nGREEN-0004\r\n\r\n").await;
    assert_eq!((csv.status, &csv.body["stock"]), (StatusCode::CREATED, &json!(4)), "{csv:?}");
    assert_refused(
        &upload_json(&server, &project_id, &["GREEN-0005"]).await,
        StatusCode::CONFLICT,
        "sponsor_budget_exceeded",
    );
    assert_refused(&upload_json(&server, &project_id, &["no spaces"]).await, StatusCode::BAD_REQUEST, "invalid_codes");
    assert_refused(
        &upload_json(&server, &project_id, &["DUP-1", "DUP-1"]).await,
        StatusCode::BAD_REQUEST,
        "invalid_codes",
    );
    assert_refused(&upload_json(&server, &project_id, &[]).await, StatusCode::BAD_REQUEST, "invalid_codes");
    assert_refused(&upload_json(&server, "prj_999", &["GREEN-0009"]).await, StatusCode::NOT_FOUND, "project_not_found");
    let foundation = sponsor_named(&server, "Trees").await;
    let (starts_at, ends_at) = window();
    let tree = admin(
        &server,
        Method::POST,
        "/v1/projects",
        json!({ "kind": "donation", "title": "d", "sponsor_id": foundation, "price_grams": 10, "stock": 1, "regions": ["*"],
                "starts_at": starts_at, "ends_at": ends_at, "details": { "beneficiary": "b", "unit_buys": "u" } }),
    )
    .await;
    let not_voucher = upload_json(&server, tree.body["id"].as_str().unwrap(), &["GREEN-0009"]).await;
    assert_refused(&not_voucher, StatusCode::CONFLICT, "not_a_voucher_project");
    let xml = server
        .raw(
            Method::POST,
            &format!("/v1/projects/{project_id}/voucher-codes"),
            &[("authorization", format!("Bearer {ADMIN_TOKEN}")), ("content-type", "application/xml".to_owned())],
            b"<codes/>".to_vec(),
        )
        .await;
    assert_refused(&xml, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    assert_eq!(project(&server, &project_id).await["stock"], 4);

    // A redemption issues one code, shown to its owner.
    let ann = citizen_with_energy(&server, &partner, "v-ann", "CN-ZJ", 1).await;
    let bo = citizen_with_energy(&server, &partner, "v-bo", "CN-ZJ", 1).await;
    assert_refused(
        &redeem(&server, &ann, &project_id, 2, None).await,
        StatusCode::BAD_REQUEST,
        "quantity_out_of_bounds",
    );
    let got = redeem(&server, &ann, &project_id, 1, None).await;
    assert_eq!(got.status, StatusCode::CREATED, "{got:?}");
    let code = got.body["voucher_code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("GREEN-"), "{code}");
    assert_eq!(got.body["certificate_number"], Value::Null, "vouchers have codes, not certificates");
    let listed = server.get("/v1/me/redemptions", Some(&ann.token)).await;
    assert_eq!(listed.body["redemptions"][0]["voucher_code"], code.as_str());

    // The merchant accepts it once; nobody else can.
    assert_refused(&accept(&server, &other_store, &code).await, StatusCode::FORBIDDEN, "voucher_wrong_merchant");
    let accepted = accept(&server, &store, &code).await;
    assert_eq!(accepted.status, StatusCode::OK, "{accepted:?}");
    assert_eq!(
        (accepted.body["face_value_fen"].as_i64(), accepted.body["project_id"].as_str()),
        (Some(500), Some(project_id.as_str()))
    );
    assert_refused(&accept(&server, &store, &code).await, StatusCode::CONFLICT, "voucher_used");
    assert_refused(&accept(&server, &store, "NEVER-ISSUED").await, StatusCode::NOT_FOUND, "voucher_unknown");
    let unissued = ["GREEN-0001", "GREEN-0002", "GREEN-0003", "GREEN-0004"].into_iter().find(|c| *c != code).unwrap();
    assert_refused(&accept(&server, &store, unissued).await, StatusCode::NOT_FOUND, "voucher_unknown");
    assert_refused(&accept(&server, &store, "x").await, StatusCode::NOT_FOUND, "voucher_unknown");
    // A used voucher cannot be cancelled.
    let cancel_path = format!("/v1/me/redemptions/{}/cancel", got.body["id"].as_str().unwrap());
    assert_refused(
        &call(&server, &ann, Method::POST, &cancel_path, None, None).await,
        StatusCode::CONFLICT,
        "voucher_used",
    );

    // Cancelling an unused voucher returns the energy and voids the code (it was shown).
    let held = redeem(&server, &bo, &project_id, 1, None).await;
    let bo_code = held.body["voucher_code"].as_str().unwrap().to_owned();
    let bo_cancel = format!("/v1/me/redemptions/{}/cancel", held.body["id"].as_str().unwrap());
    let cancelled = call(&server, &bo, Method::POST, &bo_cancel, None, None).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{cancelled:?}");
    assert_eq!(energy(&server, &bo).await, COMPUTER_G);
    assert_refused(&accept(&server, &store, &bo_code).await, StatusCode::CONFLICT, "voucher_cancelled");
    let after = project(&server, &project_id).await;
    assert_eq!(
        (after["stock"].as_i64(), after["sold"].as_i64(), after["available"].as_i64()),
        (Some(3), Some(1), Some(2))
    );

    // An issued voucher expires.
    let late = redeem(&server, &bo, &project_id, 1, None).await;
    let late_code = late.body["voucher_code"].as_str().unwrap().to_owned();
    assert_ne!(late_code, bo_code, "a voided code is never issued again");
    clock.advance(Duration::days(11));
    assert_refused(&accept(&server, &store, &late_code).await, StatusCode::CONFLICT, "voucher_expired");
    verify_is_clean(server).await;
}

async fn sponsor_named(server: &TestServer, name: &str) -> String {
    let made = admin(server, Method::POST, "/v1/sponsors", json!({ "name": name, "kind": "foundation" })).await;
    made.body["id"].as_str().unwrap().to_owned()
}

async fn a_voucher_is_accepted_once_when_merchants_race() {
    let (server, _clock) = server().await;
    let partner = server.create_partner(&["use"]).await;
    let store = server.create_partner(&["use"]).await;
    let impostor = server.create_partner(&["use"]).await;
    let sponsor = sponsor_named(&server, "Race Store").await;
    let project_id = voucher_project(&server, &sponsor, &store, &(Utc::now() + Duration::days(10)).to_rfc3339()).await;
    let codes: Vec<String> = (0..6).map(|i| format!("RACE-{i:04}")).collect();
    let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
    let path = format!("/v1/projects/{project_id}/voucher-codes");
    assert_eq!(
        admin(&server, Method::POST, &path, json!(refs)).await.status,
        StatusCode::CREATED,
        "a bare array of codes"
    );
    let server = Arc::new(server);
    for round in 0..3 {
        let ann = citizen_with_energy(&server, &partner, &format!("race-{round}"), "CN-ZJ", 1).await;
        let code = redeem(&server, &ann, &project_id, 1, None).await.body["voucher_code"].as_str().unwrap().to_owned();
        // The store's two tills and another merchant, at once; and the holder cancelling.
        let tasks: Vec<_> = [&store, &store, &impostor]
            .into_iter()
            .map(|merchant| {
                let (server, merchant, code) = (server.clone(), merchant.clone(), code.clone());
                tokio::spawn(async move { accept(&server, &merchant, &code).await })
            })
            .collect();
        let redemption = redeem_id_of(&server, &ann).await;
        let cancel =
            call(&server, &ann, Method::POST, &format!("/v1/me/redemptions/{redemption}/cancel"), None, None).await;
        let mut accepted = 0;
        for task in tasks {
            let reply = task.await.unwrap();
            match reply.status {
                StatusCode::OK => accepted += 1,
                StatusCode::FORBIDDEN => assert_eq!(reply.code(), "voucher_wrong_merchant"),
                _ => assert!(["voucher_used", "voucher_cancelled"].contains(&reply.code()), "{reply:?}"),
            }
        }
        // Either the till won (the cancel is refused) or the cancel did (no till accepts).
        match cancel.status {
            StatusCode::OK => assert_eq!(accepted, 0, "a cancelled voucher is accepted by nobody"),
            _ => {
                assert_refused(&cancel, StatusCode::CONFLICT, "voucher_used");
                assert_eq!(accepted, 1, "one till accepts it");
            }
        }
    }
    let server = Arc::into_inner(server).expect("every task is done");
    verify_is_clean(server).await;
}

async fn redeem_id_of(server: &TestServer, who: &Citizen) -> String {
    server.get("/v1/me/redemptions?limit=1", Some(&who.token)).await.body["redemptions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

crate::contract!(
    vouchers_are_uploaded_issued_accepted_once_and_voided_on_cancel,
    a_voucher_is_accepted_once_when_merchants_race
);
