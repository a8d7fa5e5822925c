//! Your data (issue 13, PIPL): `PATCH /v1/me` changes the profile with the
//! sign-up's checks; `GET /v1/me/export` downloads everything Canopy holds
//! about the caller (JSON, or CSV `section,record,field,value`);
//! `DELETE /v1/me` erases the account at once while the ledger keeps every
//! entry under a pseudonym, so totals and `ledger verify` do not change.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::friends::befriend;
use crate::harness::*;
use crate::process::canopy;

async fn patch_me(server: &TestServer, who: &Citizen, body: Value) -> Reply {
    server.request(Method::PATCH, "/v1/me", Some(&who.token), Some(body)).await
}

fn refused(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!((reply.status, reply.code()), (status, code), "{reply:?}");
}

async fn ledger_ids(server: &TestServer, who: &Citizen) -> BTreeSet<String> {
    let reply = server.get("/v1/me/ledger?limit=500", Some(&who.token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert!(reply.body["next_cursor"].is_null());
    reply.body["entries"].as_array().unwrap().iter().map(|e| e["seq"].to_string()).collect()
}

/// The CSV's rows, each split by RFC 4180 (quoted fields, doubled quotes).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted, mut chars) = (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

fn region_total(board: &Value) -> i64 {
    board["entries"].as_array().unwrap().iter().map(|e| e["grams"].as_i64().unwrap()).sum()
}

fn verify_is_clean(url: &str) -> String {
    let verified = canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", url).output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    String::from_utf8_lossy(&verified.stdout).into_owned()
}

async fn profile_updates_with_the_sign_up_checks() {
    let server = TestServer::start().await;
    let ana = server.create_citizen("prof-ana", "CN-BJ").await;
    refused(
        &patch_me(&server, &ana, json!({ "display_name": "   " })).await,
        StatusCode::BAD_REQUEST,
        "invalid_display_name",
    );
    refused(
        &patch_me(&server, &ana, json!({ "display_name": "a\u{202e}b" })).await,
        StatusCode::BAD_REQUEST,
        "invalid_display_name",
    );
    refused(&patch_me(&server, &ana, json!({ "region": "CN-XX" })).await, StatusCode::BAD_REQUEST, "invalid_region");
    // A refused change loses nothing: neither field moved, not even the valid one.
    refused(
        &patch_me(&server, &ana, json!({ "display_name": "Ana", "region": "nowhere" })).await,
        StatusCode::BAD_REQUEST,
        "invalid_region",
    );
    let me = server.me(&ana).await;
    assert_eq!((me["display_name"].as_str(), me["region"].as_str()), (Some("prof-ana"), Some("CN-BJ")));

    let changed = patch_me(&server, &ana, json!({ "display_name": "  Ana Li ", "region": "CN-SH" })).await;
    assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
    assert_eq!(
        (changed.body["display_name"].as_str(), changed.body["region"].as_str()),
        (Some("Ana Li"), Some("CN-SH"))
    );
    assert_eq!(changed.body, server.me(&ana).await);
    // Only what is sent changes.
    let named = patch_me(&server, &ana, json!({ "display_name": "Ana" })).await;
    assert_eq!((named.body["display_name"].as_str(), named.body["region"].as_str()), (Some("Ana"), Some("CN-SH")));
    let unknown = patch_me(&server, &ana, json!({ "username": "someone-else" })).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{unknown:?}");
    assert_eq!(server.me(&ana).await["username"], "prof-ana");
    refused(
        &server.request(Method::PATCH, "/v1/me", None, Some(json!({}))).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

async fn export_holds_ledger_consents_and_friends_in_json_and_csv() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let ana = server.create_citizen("exp-ana", "CN-BJ").await;
    let bo = server.create_citizen("exp-bo", "CN-BJ").await;
    server.link(&ana, &partner, &["transport"], "ana-7").await;
    let sent = server
        .send_ok(
            &partner,
            json!([
                event("r1", "ana-7", "shared_bike", json!({ "distance_km": 3 })),
                event("r2", "ana-7", "shared_bike", json!({ "distance_km": 5 })),
            ]),
        )
        .await;
    assert!(sent.iter().all(|r| r["outcome"] == "credited"), "{sent:?}");
    befriend(&server, &ana, &bo).await;
    let cy = server.create_citizen("exp-cy", "CN-BJ").await;
    let asked = server.post("/v1/me/friends/requests", Some(&cy.token), json!({ "username": "exp-ana" })).await;
    assert_eq!(asked.status, StatusCode::CREATED, "{asked:?}");
    let ids = ledger_ids(&server, &ana).await;
    assert!(ids.len() >= 2, "{ids:?}");

    let export = server.get("/v1/me/export", Some(&ana.token)).await;
    assert_eq!(export.status, StatusCode::OK, "{export:?}");
    let disposition = export.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment") && disposition.contains(".json"), "{disposition}");
    let sections = &export.body["sections"];
    let profile = &sections["profile"]["records"][0];
    assert_eq!((profile["username"].as_str(), profile["public_id"].as_str()), (Some("exp-ana"), Some(ana.id.as_str())));
    assert!(!export.body.to_string().contains("argon2"), "no password hash in the export");
    let exported: BTreeSet<String> =
        sections["ledger"]["records"].as_array().unwrap().iter().map(|r| r["id"].to_string()).collect();
    assert_eq!(exported, ids);
    assert_eq!(sections["ledger"]["truncated"], false);
    let links = sections["partner_links"]["records"].as_array().unwrap();
    assert_eq!(links.iter().map(|l| l["user_ref"].as_str().unwrap()).collect::<Vec<_>>(), ["ana-7"]);
    assert_eq!(sections["consents"]["records"].as_array().unwrap().len(), 1);
    let events: BTreeSet<&str> =
        sections["events"]["records"].as_array().unwrap().iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    assert_eq!(events, BTreeSet::from(["r1", "r2"]));
    let bo_id = canopy_core::ids::parse_user(&bo.id).unwrap();
    let friends = sections["friendships"]["records"].as_array().unwrap();
    assert_eq!(friends.iter().map(|f| f["friend_id"].as_i64().unwrap()).collect::<Vec<_>>(), [bo_id]);
    // A request to the citizen is theirs too (the table's filter names them on either side).
    let cy_id = canopy_core::ids::parse_user(&cy.id).unwrap();
    let requests = sections["friend_requests"]["records"].as_array().unwrap();
    assert!(requests.iter().any(|r| r["sender"] == cy_id && r["recipient"] == friends[0]["user_id"]), "{requests:?}");
    assert!(sections["sessions"]["records"][0].get("token_hash").is_none());
    assert_eq!(sections["balances"]["records"][0]["reduction_grams"], server.me(&ana).await["reduction_grams"]);

    for (path, accept) in [("/v1/me/export?format=csv", "*/*"), ("/v1/me/export", "text/csv")] {
        let headers = [("authorization", format!("Bearer {}", ana.token)), ("accept", accept.to_owned())];
        let csv = server.raw(Method::GET, path, &headers, Vec::new()).await;
        assert_eq!(csv.status, StatusCode::OK, "{csv:?}");
        assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"), "{csv:?}");
        assert!(csv.headers["content-disposition"].to_str().unwrap().contains(".csv"));
        let rows = csv_rows(csv.body.as_str().unwrap());
        assert_eq!(rows[0], ["section", "record", "field", "value"]);
        assert!(rows.iter().all(|r| r.len() == 4), "{rows:?}");
        let csv_ids: BTreeSet<String> =
            rows.iter().filter(|r| r[0] == "ledger" && r[2] == "id").map(|r| r[3].clone()).collect();
        assert_eq!(csv_ids, ids);
        // A field holding commas and quotes survives the quoting.
        let inputs: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == "ledger" && r[2] == "event_inputs").collect();
        assert!(inputs.iter().any(|r| serde_json::from_str::<Value>(&r[3]).unwrap()["distance_km"] == 3), "{inputs:?}");
        assert!(rows.iter().any(|r| r[0] == "partner_links" && r[2] == "user_ref" && r[3] == "ana-7"));
    }
    refused(&server.get("/v1/me/export?format=xml", Some(&ana.token)).await, StatusCode::BAD_REQUEST, "invalid_query");
    refused(&server.get("/v1/me/export", None).await, StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn deletion_erases_the_person_and_keeps_the_ledger() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let ana = server.create_citizen("del-ana", "CN-BJ").await;
    let bo = server.create_citizen("del-bo", "CN-BJ").await;
    server.link(&ana, &partner, &["transport"], "ana-9").await;
    server.send_ok(&partner, json!([event("d1", "ana-9", "shared_bike", json!({ "distance_km": 4 }))])).await;
    befriend(&server, &ana, &bo).await;
    let ana_id = canopy_core::ids::parse_user(&ana.id).unwrap();
    let store = canopy_store::Store::connect(&server.database_url).await.unwrap();
    let entries_before = store.ledger_page(ana_id, None, 500).await.unwrap();
    let balances_before = store.balances(ana_id).await.unwrap();
    assert!(balances_before.reduction_grams > 0);
    let board = "/v1/leaderboards?board=region&region=CN-BJ&period=all&metric=reduction";
    let board_before = server.get(board, Some(&bo.token)).await;
    assert_eq!(board_before.status, StatusCode::OK, "{board_before:?}");
    let verified_before = verify_is_clean(&server.database_url);
    let forest = format!("/v1/friends/{}/balls", ana.id);
    let seen = server.get(&forest, Some(&bo.token)).await;
    assert_eq!(seen.status, StatusCode::OK, "{seen:?}");
    let ball = seen.body["balls"][0]["id"].as_str().expect("ana has an open ball").to_owned();

    let deleted = server.request(Method::DELETE, "/v1/me", Some(&ana.token), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");

    // The token is dead, as is a second deletion; the old password and name no longer sign in.
    refused(&server.get("/v1/me", Some(&ana.token)).await, StatusCode::UNAUTHORIZED, "invalid_token");
    refused(
        &server.request(Method::DELETE, "/v1/me", Some(&ana.token), None).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    let signin = server.post("/v1/sessions", None, json!({ "username": "del-ana", "password": PASSWORD })).await;
    refused(&signin, StatusCode::UNAUTHORIZED, "invalid_credentials");
    // The name is free: a new account takes it, with nothing of the old one.
    let again = server.create_citizen("del-ana", "CN-SH").await;
    assert_ne!(again.id, ana.id);
    assert_eq!(server.me(&again).await["reduction_grams"], 0);

    // The partner's link is cut: its next event for that user_ref is refused like an unknown one's.
    let refused_event =
        server.send_ok(&partner, json!([event("d2", "ana-9", "shared_bike", json!({ "distance_km": 2 }))])).await;
    assert_eq!(
        (refused_event[0]["outcome"].as_str(), refused_event[0]["code"].as_str()),
        (Some("rejected"), Some("consent_missing"))
    );
    let stranger =
        server.send_ok(&partner, json!([event("d3", "nobody-here", "shared_bike", json!({ "distance_km": 2 }))])).await;
    assert_eq!(stranger[0]["code"], refused_event[0]["code"]);

    // The friend no longer lists them; a request to the old name reaches the new account, not the erased one.
    let friends = server.get("/v1/me/friends", Some(&bo.token)).await;
    assert_eq!(friends.body["friends"], json!([]), "{friends:?}");

    // Her open balls are out of anyone's reach.
    let hidden = server.get(&forest, Some(&bo.token)).await;
    refused(&hidden, StatusCode::CONFLICT, "not_friend");
    let take = format!("{forest}/{ball}/collect");
    let taken = server.raw(Method::POST, &take, &[("authorization", format!("Bearer {}", bo.token))], Vec::new()).await;
    refused(&taken, StatusCode::CONFLICT, "not_friend");

    // The person is gone from the row; the ledger keeps every entry, and the totals and verification agree.
    let erased = store.user_by_id(ana_id).await.unwrap().unwrap();
    assert!(erased.username.starts_with("deleted-"), "{}", erased.username);
    assert_ne!(erased.display_name, "del-ana");
    assert_eq!(erased.region, "CN-BJ", "the region stays for regional totals");
    let entries_after = store.ledger_page(ana_id, None, 500).await.unwrap();
    let key = |e: &canopy_store::LedgerEntryRow| (e.id, e.grams, e.account.clone(), e.cause_ref.clone());
    assert_eq!(entries_after.iter().map(key).collect::<Vec<_>>(), entries_before.iter().map(key).collect::<Vec<_>>());
    let balances_after = store.balances(ana_id).await.unwrap();
    assert_eq!(
        (balances_after.reduction_grams, balances_after.energy_grams, balances_after.balls_grams),
        (balances_before.reduction_grams, balances_before.energy_grams, balances_before.balls_grams)
    );
    let board_after = server.get(board, Some(&bo.token)).await;
    assert_eq!(region_total(&board_after.body), region_total(&board_before.body));
    assert_eq!(verify_is_clean(&server.database_url), verified_before);
}

crate::contract!(
    profile_updates_with_the_sign_up_checks,
    export_holds_ledger_consents_and_friends_in_json_and_csv,
    deletion_erases_the_person_and_keeps_the_ledger,
);
