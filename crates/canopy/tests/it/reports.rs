//! Reports (issue 11): per project and campaign, units and energy by
//! region and by day, as JSON or CSV; the operator reads every one, a
//! sponsor its own with the read-only key the operator issued; the same
//! from the command line. And a sponsor's budget, raced.

use std::sync::Arc;

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::checkins::admin;
use crate::friends::call;
use crate::harness::*;
use crate::process::canopy;
use crate::redemption::*;

async fn get_as(server: &TestServer, token: &str, path: &str) -> Reply {
    server.raw(Method::GET, path, &[("authorization", format!("Bearer {token}"))], Vec::new()).await
}

async fn sponsors_read_their_own_reports_and_the_operator_all() {
    let (server, _clock) = server().await;
    let partner = server.create_partner(&["use"]).await;
    let ann = citizen_with_energy(&server, &partner, "rp-ann", "CN-BJ", 1).await;
    let bo = citizen_with_energy(&server, &partner, "rp-bo", "CN-SH", 1).await;
    let mut sponsors = Vec::new();
    for name in ["Report Foundation", "Other Foundation"] {
        let made = admin(&server, Method::POST, "/v1/sponsors", json!({ "name": name, "kind": "foundation" })).await;
        sponsors.push(made.body["id"].as_str().unwrap().to_owned());
    }
    let (starts_at, ends_at) = window();
    let made = admin(
        &server,
        Method::POST,
        "/v1/projects",
        json!({ "kind": "donation", "title": "School lunches", "sponsor_id": sponsors[0], "price_grams": 500, "stock": 100,
                "regions": ["*"], "starts_at": starts_at, "ends_at": ends_at,
                "details": { "beneficiary": "Hope Primary School", "unit_buys": "one school lunch" } }),
    )
    .await;
    let project = made.body["id"].as_str().unwrap().to_owned();
    assert_eq!(redeem(&server, &ann, &project, 3, None).await.status, StatusCode::CREATED);
    assert_eq!(redeem(&server, &bo, &project, 2, None).await.status, StatusCode::CREATED);
    let cancelled = redeem(&server, &bo, &project, 7, None).await;
    let path = format!("/v1/me/redemptions/{}/cancel", cancelled.body["id"].as_str().unwrap());
    assert_eq!(call(&server, &bo, Method::POST, &path, None, None).await.status, StatusCode::OK);

    let report = get_as(&server, ADMIN_TOKEN, &format!("/v1/projects/{project}/report")).await;
    assert_eq!(report.status, StatusCode::OK, "{report:?}");
    assert_eq!(
        (report.body["units"].as_i64(), report.body["energy_grams"].as_i64(), report.body["participants"].as_i64()),
        (Some(5), Some(2_500), Some(2)),
        "cancelled units are left out"
    );
    assert_eq!(
        report.body["by_region"],
        json!([{ "key": "CN-BJ", "units": 3, "energy_grams": 1500 }, { "key": "CN-SH", "units": 2, "energy_grams": 1000 }])
    );
    let today = Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(report.body["by_day"], json!([{ "key": today, "units": 5, "energy_grams": 2500 }]));
    let csv = get_as(&server, ADMIN_TOKEN, &format!("/v1/projects/{project}/report?format=csv")).await;
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(csv.body.as_str().unwrap(), format!("dimension,value,units,energy_grams\ntotal,,5,2500\nregion,CN-BJ,3,1500\nregion,CN-SH,2,1000\nday,{today},5,2500\n"));
    assert_refused(
        &get_as(&server, ADMIN_TOKEN, &format!("/v1/projects/{project}/report?format=xml")).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );

    // The sponsor's key reads its own reports only.
    let key = admin(&server, Method::POST, &format!("/v1/sponsors/{}/keys", sponsors[0]), json!(null)).await;
    assert_eq!(key.status, StatusCode::CREATED, "{key:?}");
    let key = key.body["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("spk_"), "{key}");
    let own = get_as(&server, &key, &format!("/v1/projects/{project}/report")).await;
    assert_eq!((own.status, &own.body["units"]), (StatusCode::OK, &json!(5)));
    let other_key = admin(&server, Method::POST, &format!("/v1/sponsors/{}/keys", sponsors[1]), json!(null)).await;
    let other =
        get_as(&server, other_key.body["key"].as_str().unwrap(), &format!("/v1/projects/{project}/report")).await;
    assert_refused(&other, StatusCode::FORBIDDEN, "not_your_report");
    assert_refused(
        &get_as(&server, "spk_unknown", &format!("/v1/projects/{project}/report")).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_eq!(
        get_as(&server, &ann.token, &format!("/v1/projects/{project}/report")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_as(&server, &key, "/v1/sponsors").await.status,
        StatusCode::UNAUTHORIZED,
        "a sponsor key is not the operator's"
    );
    assert_refused(
        &get_as(&server, ADMIN_TOKEN, "/v1/projects/prj_999/report").await,
        StatusCode::NOT_FOUND,
        "project_not_found",
    );
    assert_refused(
        &admin(&server, Method::POST, "/v1/sponsors/spn_999/keys", json!(null)).await,
        StatusCode::NOT_FOUND,
        "sponsor_not_found",
    );

    // A campaign's report.
    let campaign = admin(
        &server,
        Method::POST,
        "/v1/campaigns",
        json!({ "title": "1 kg", "beneficiary": "Games", "goal_grams": 10_000, "per_person_limit_grams": 1000, "sponsor_id": sponsors[0],
                "starts_at": (Utc::now() - Duration::hours(1)).to_rfc3339(), "ends_at": (Utc::now() + Duration::days(3)).to_rfc3339() }),
    )
    .await;
    let campaign = campaign.body["id"].as_str().unwrap().to_owned();
    for (who, grams) in [(&ann, 300), (&ann, 200), (&bo, 1000)] {
        let given = call(
            &server,
            who,
            Method::POST,
            &format!("/v1/campaigns/{campaign}/contributions"),
            Some(json!({ "grams": grams })),
            None,
        )
        .await;
        assert_eq!(given.status, StatusCode::CREATED, "{given:?}");
    }
    let report = get_as(&server, &key, &format!("/v1/campaigns/{campaign}/report")).await;
    assert_eq!(
        (report.body["units"].as_i64(), report.body["energy_grams"].as_i64(), report.body["participants"].as_i64()),
        (Some(3), Some(1_500), Some(2)),
        "{report:?}"
    );
    assert_eq!(report.body["by_region"][0], json!({ "key": "CN-BJ", "units": 2, "energy_grams": 500 }));

    // The same from the command line.
    let url = server.database_url.clone();
    let _db = server.stop().await;
    let printed = canopy()
        .args(["report", "project", &project, "--format", "csv"])
        .env("CANOPY_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    assert_eq!(String::from_utf8(printed.stdout).unwrap(), format!("dimension,value,units,energy_grams\ntotal,,5,2500\nregion,CN-BJ,3,1500\nregion,CN-SH,2,1000\nday,{today},5,2500\n"));
    let issued =
        canopy().args(["sponsor", "key", &sponsors[1], "--json"]).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    assert!(issued.status.success(), "{}", String::from_utf8_lossy(&issued.stderr));
    let issued: serde_json::Value = serde_json::from_slice(&issued.stdout).unwrap();
    assert!(issued["key"].as_str().unwrap().starts_with("spk_"));
    let unknown = canopy().args(["report", "campaign", "cmp_999"]).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("campaign_not_found"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

async fn a_sponsors_budget_is_never_exceeded_when_projects_are_made_at_once() {
    let (server, _clock) = server().await;
    let made = admin(
        &server,
        Method::POST,
        "/v1/sponsors",
        json!({ "name": "Tight", "kind": "company", "budget_units": 100 }),
    )
    .await;
    let sponsor = made.body["id"].as_str().unwrap().to_owned();
    let server = Arc::new(server);
    let (starts_at, ends_at) = window();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let body = json!({ "kind": "donation", "title": format!("Lunches {i}"), "sponsor_id": sponsor, "price_grams": 10, "stock": 30,
                               "regions": ["*"], "starts_at": starts_at, "ends_at": ends_at,
                               "details": { "beneficiary": "School", "unit_buys": "a lunch" } });
            let server = server.clone();
            tokio::spawn(async move { admin(&server, Method::POST, "/v1/projects", body).await })
        })
        .collect();
    let mut made = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            StatusCode::CREATED => made += 1,
            _ => assert_refused(&reply, StatusCode::CONFLICT, "sponsor_budget_exceeded"),
        }
    }
    assert_eq!(made, 3, "three projects of 30 fit a budget of 100");
    let listed = server
        .raw(Method::GET, "/v1/sponsors", &[("authorization", format!("Bearer {ADMIN_TOKEN}"))], Vec::new())
        .await;
    assert_eq!(listed.body["sponsors"][0]["committed_units"], 90);
}

crate::contract!(
    sponsors_read_their_own_reports_and_the_operator_all,
    a_sponsors_budget_is_never_exceeded_when_projects_are_made_at_once
);
