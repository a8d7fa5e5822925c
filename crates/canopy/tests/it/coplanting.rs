//! Co-planting (issue 11): friends pool energy into one tree; each share
//! is held until the last one plants it, and a decline, a deadline or a
//! tree that sold out meanwhile releases every hold.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use canopy_core::clock::ManualClock;
use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::checkins::admin;
use crate::friends::{befriend, call};
use crate::harness::*;
use crate::redemption::*;

/// Three friends with a computer's worth of energy each, a stranger, and a Haloxylon project of `stock` trees.
async fn setup(stock: i64) -> (TestServer, ManualClock, [Citizen; 4], String) {
    let clock = ManualClock::new(Utc::now());
    let shared = clock.clone();
    let server = TestServer::start_with(move |config| {
        config.clock = Arc::new(shared);
        config.session_ttl_s = 90 * 24 * 3600;
        config.ball_sweep_interval = StdDuration::from_millis(100);
        config.game.set("ball_ripens", "immediately").unwrap();
    })
    .await;
    let partner = server.create_partner(&["use"]).await;
    let ann = citizen_with_energy(&server, &partner, "cp-ann", "CN-BJ", 1).await;
    let bo = citizen_with_energy(&server, &partner, "cp-bo", "CN-BJ", 1).await;
    let cy = citizen_with_energy(&server, &partner, "cp-cy", "CN-SH", 1).await;
    let stranger = citizen_with_energy(&server, &partner, "cp-dee", "CN-BJ", 1).await;
    befriend(&server, &ann, &bo).await;
    befriend(&server, &ann, &cy).await;
    let sponsor = admin(&server, Method::POST, "/v1/sponsors", json!({ "name": "Alxa", "kind": "foundation" })).await;
    let (starts_at, ends_at) = window();
    let tree = admin(
        &server,
        Method::POST,
        "/v1/projects",
        json!({ "kind": "tree", "title": "Haloxylon", "sponsor_id": sponsor.body["id"], "stock": stock, "regions": ["CN"],
                "starts_at": starts_at, "ends_at": ends_at,
                "details": { "species": "Haloxylon ammodendron", "site": "Alxa", "region": "CN-NM", "sequestration_kg": 17.9 } }),
    )
    .await;
    assert_eq!(tree.status, StatusCode::CREATED, "{tree:?}");
    (server, clock, [ann, bo, cy, stranger], tree.body["id"].as_str().unwrap().to_owned())
}

async fn open(server: &TestServer, creator: &Citizen, tree: &str, shares: &[(&Citizen, i64)]) -> Reply {
    let invitees: Vec<&str> = shares.iter().map(|(c, _)| c.id.as_str()).filter(|id| *id != creator.id).collect();
    let shares: serde_json::Map<String, Value> = shares.iter().map(|(c, g)| (c.id.clone(), json!(g))).collect();
    let body = json!({ "project_id": tree, "invitees": invitees, "shares": shares });
    call(server, creator, Method::POST, "/v1/me/coplantings", Some(body), None).await
}

async fn answer(server: &TestServer, who: &Citizen, plan: &str, verb: &str) -> Reply {
    call(server, who, Method::POST, &format!("/v1/me/coplantings/{plan}/{verb}"), None, None).await
}

fn state_of(plan: &Value, who: &Citizen) -> String {
    let share = plan["shares"].as_array().unwrap().iter().find(|s| s["user_id"] == who.id.as_str()).unwrap();
    share["state"].as_str().unwrap().to_owned()
}

async fn friends_plant_one_tree_together() {
    let (server, _clock, [ann, bo, cy, dee], tree) = setup(5).await;
    // Her own share left out: she pays what the others' leave of the price (7.9 kg).
    let opened = open(&server, &ann, &tree, &[(&bo, 5_000), (&cy, 5_000)]).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{opened:?}");
    let plan = opened.body["id"].as_str().unwrap().to_owned();
    assert_eq!((opened.body["status"].as_str(), state_of(&opened.body, &ann).as_str()), (Some("open"), "held"));
    assert_eq!(state_of(&opened.body, &bo), "invited");
    assert_eq!(energy(&server, &ann).await, COMPUTER_G - 7_900, "the creator's share is held at once");
    let ledger = server.get("/v1/me/ledger?limit=2", Some(&ann.token)).await;
    let kinds: Vec<(&str, &str)> = ledger.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["account"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("energy_held", "held_energy"), ("energy_held", "energy")], "{ledger:?}");

    // Invitees see it; a stranger does not.
    assert_eq!(server.get("/v1/me/coplantings", Some(&bo.token)).await.body["coplantings"][0]["id"], plan.as_str());
    let hidden = server.get(&format!("/v1/me/coplantings/{plan}"), Some(&dee.token)).await;
    assert_refused(&hidden, StatusCode::NOT_FOUND, "coplanting_not_found");
    assert_refused(&answer(&server, &dee, &plan, "accept").await, StatusCode::NOT_FOUND, "coplanting_not_found");

    let bo_in = answer(&server, &bo, &plan, "accept").await;
    assert_eq!((bo_in.status, bo_in.body["status"].as_str()), (StatusCode::OK, Some("open")), "{bo_in:?}");
    assert_refused(&answer(&server, &bo, &plan, "accept").await, StatusCode::CONFLICT, "already_answered");
    assert_eq!(project(&server, &tree).await["sold"], 0, "not planted until every share is held");
    let planted = answer(&server, &cy, &plan, "accept").await;
    assert_eq!(planted.body["status"], "planted", "{planted:?}");
    for who in [&ann, &bo, &cy] {
        assert_eq!(state_of(&planted.body, who), "spent");
    }
    let after = project(&server, &tree).await;
    assert_eq!((after["sold"].as_i64(), after["energy_grams"].as_i64()), (Some(1), Some(17_900)));
    for (who, share) in [(&ann, 7_900), (&bo, 5_000), (&cy, 5_000)] {
        assert_eq!(energy(&server, who).await, COMPUTER_G - share);
    }

    // One certificate names them all.
    let number = planted.body["certificate_number"].as_str().unwrap();
    let certificate = server.get(&format!("/v1/certificates/{number}"), None).await;
    let planters: Vec<(&str, i64)> = certificate.body["co_planters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["display_name"].as_str().unwrap(), p["grams"].as_i64().unwrap()))
        .collect();
    assert_eq!(planters, [("cp-ann", 7_900), ("cp-bo", 5_000), ("cp-cy", 5_000)], "{certificate:?}");
    let svg = server.get(&format!("/v1/certificates/{number}.svg"), None).await;
    assert!(svg.body.as_str().unwrap().contains("cp-cy (5 kg)"), "{svg:?}");
    // Nobody cancels a tree planted together.
    let redemption = planted.body["redemption_id"].as_str().unwrap();
    let cancel =
        call(&server, &ann, Method::POST, &format!("/v1/me/redemptions/{redemption}/cancel"), None, None).await;
    assert_refused(&cancel, StatusCode::CONFLICT, "cancel_not_allowed");
    assert_refused(&answer(&server, &bo, &plan, "decline").await, StatusCode::CONFLICT, "coplanting_closed");
    verify_is_clean(server).await;
}

async fn a_plan_that_does_not_complete_releases_every_hold() {
    let (server, clock, [ann, bo, cy, dee], tree) = setup(1).await;
    let shares = [(&ann, 7_900), (&bo, 5_000), (&cy, 5_000)];

    // Declined: every hold returns.
    let declined = open(&server, &ann, &tree, &shares).await.body["id"].as_str().unwrap().to_owned();
    assert_eq!(answer(&server, &bo, &declined, "accept").await.status, StatusCode::OK);
    let no = answer(&server, &cy, &declined, "decline").await;
    assert_eq!(no.body["status"], "declined", "{no:?}");
    assert_eq!(
        (state_of(&no.body, &ann), state_of(&no.body, &bo), state_of(&no.body, &cy)),
        ("released".into(), "released".into(), "declined".into())
    );
    for who in [&ann, &bo, &cy] {
        assert_eq!(energy(&server, who).await, COMPUTER_G);
    }

    // Failed: the last tree went to someone else before the last share came.
    let failing = open(&server, &ann, &tree, &shares).await.body["id"].as_str().unwrap().to_owned();
    assert_eq!(answer(&server, &bo, &failing, "accept").await.status, StatusCode::OK);
    assert_eq!(redeem(&server, &dee, &tree, 1, None).await.status, StatusCode::CREATED);
    let failed = answer(&server, &cy, &failing, "accept").await;
    assert_eq!(failed.body["status"], "failed", "{failed:?}");
    for who in [&ann, &bo, &cy] {
        assert_eq!(energy(&server, who).await, COMPUTER_G, "every hold returns");
    }
    assert_refused(&open(&server, &ann, &tree, &shares).await, StatusCode::CONFLICT, "out_of_stock");

    // Expired: the deadline passes; a late answer says so, and the sweep releases the rest.
    let (starts_at, ends_at) = window();
    let sponsor =
        admin(&server, Method::POST, "/v1/sponsors", json!({ "name": "More trees", "kind": "foundation" })).await;
    let other = admin(
        &server,
        Method::POST,
        "/v1/projects",
        json!({ "kind": "tree", "title": "Poplar", "sponsor_id": sponsor.body["id"], "stock": 5, "regions": ["*"],
                "starts_at": starts_at, "ends_at": ends_at,
                "details": { "species": "Populus", "site": "Kubuqi", "region": "CN-NM", "sequestration_kg": 10 } }),
    )
    .await;
    let poplar = other.body["id"].as_str().unwrap().to_owned();
    let late =
        open(&server, &ann, &poplar, &[(&ann, 5_000), (&bo, 5_000)]).await.body["id"].as_str().unwrap().to_owned();
    let swept =
        open(&server, &bo, &poplar, &[(&bo, 4_000), (&ann, 6_000)]).await.body["id"].as_str().unwrap().to_owned();
    assert_eq!(energy(&server, &bo).await, COMPUTER_G - 4_000);
    clock.advance(Duration::hours(73));
    assert_refused(&answer(&server, &bo, &late, "accept").await, StatusCode::CONFLICT, "coplanting_expired");
    assert_eq!(server.get(&format!("/v1/me/coplantings/{late}"), Some(&ann.token)).await.body["status"], "expired");
    let mut status = Value::Null;
    for _ in 0..100 {
        status = server.get(&format!("/v1/me/coplantings/{swept}"), Some(&bo.token)).await.body["status"].clone();
        if status == "expired" {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    assert_eq!(status, "expired", "the sweep expires a plan nobody answers");
    for who in [&ann, &bo] {
        assert_eq!(energy(&server, who).await, COMPUTER_G);
    }
    verify_is_clean(server).await;
}

async fn plans_that_cannot_be_are_refused_and_hold_nothing() {
    let (server, _clock, [ann, bo, cy, dee], tree) = setup(5).await;
    type Case<'a> = (&'a [(&'a Citizen, i64)], StatusCode, &'a str);
    let cases: [Case<'_>; 4] = [
        (&[(&ann, 7_900), (&bo, 5_000), (&cy, 4_999)], StatusCode::BAD_REQUEST, "invalid_shares"),
        (&[(&ann, 17_900)], StatusCode::BAD_REQUEST, "invalid_shares"),
        (&[(&ann, 7_900), (&bo, 5_000), (&dee, 5_000)], StatusCode::CONFLICT, "not_friend"),
        (&[(&ann, 0), (&bo, 12_900), (&cy, 5_000)], StatusCode::BAD_REQUEST, "invalid_shares"),
    ];
    for (shares, status, code) in cases {
        assert_refused(&open(&server, &ann, &tree, shares).await, status, code);
    }
    assert_refused(
        &open(&server, &ann, "prj_999", &[(&ann, 1), (&bo, 1)]).await,
        StatusCode::NOT_FOUND,
        "project_not_found",
    );
    let body = json!({ "project_id": tree, "invitees": ["bob"], "shares": { "bob": 1 } });
    let malformed = call(&server, &ann, Method::POST, "/v1/me/coplantings", Some(body), None).await;
    assert_refused(&malformed, StatusCode::BAD_REQUEST, "invalid_shares");
    assert_eq!(energy(&server, &ann).await, COMPUTER_G, "nothing is held by a refused plan");
    assert_eq!(server.get("/v1/me/coplantings", Some(&ann.token)).await.body["coplantings"], json!([]));
    verify_is_clean(server).await;
}

crate::contract!(
    friends_plant_one_tree_together,
    a_plan_that_does_not_complete_releases_every_hold,
    plans_that_cannot_be_are_refused_and_hold_nothing,
);
