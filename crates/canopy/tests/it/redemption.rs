//! Redeeming energy (issue 11): sponsors and their budgets, projects of
//! every kind, redemptions that are atomic and never oversell, cancelling
//! within the window, and public certificates.

use std::sync::Arc;

use canopy_core::clock::ManualClock;
use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::checkins::admin;
use crate::friends::call;
use crate::harness::*;
use crate::process::canopy;

/// Energy one second-hand computer earns: 162.64 kg.
pub(crate) const COMPUTER_G: i64 = 162_640;

/// A server whose balls ripen at once, on a clock the test moves.
pub(crate) async fn server() -> (TestServer, ManualClock) {
    let clock = ManualClock::new(Utc::now());
    let shared = clock.clone();
    let server = TestServer::start_with(move |config| {
        config.clock = Arc::new(shared);
        config.session_ttl_s = 90 * 24 * 3600;
        config.game.set("ball_ripens", "immediately").unwrap();
        // The key the `canopy` binary is run with, so the CLI may administer this database.
        config.secret_key = Some(canopy_server::secrets::SecretKey::from_hex(SECRET_KEY_HEX).expect("a valid key"));
    })
    .await;
    (server, clock)
}

/// A citizen of `region` holding `computers` × 162,640 g of energy (credited by a partner, collected).
pub(crate) async fn citizen_with_energy(
    server: &TestServer,
    partner: &Partner,
    name: &str,
    region: &str,
    computers: i64,
) -> Citizen {
    let citizen = server.create_citizen(name, region).await;
    server.link(&citizen, partner, &["use"], name).await;
    if computers > 0 {
        let items = json!({ "items": computers });
        server.send_ok(partner, json!([event(&format!("{name}-pc"), name, "secondhand_computer", items)])).await;
        let collected = call(server, &citizen, Method::POST, "/v1/me/balls/collect", None, None).await;
        assert_eq!(collected.body["energy_grams"], computers * COMPUTER_G, "{collected:?}");
    }
    citizen
}

pub(crate) async fn energy(server: &TestServer, who: &Citizen) -> i64 {
    server.me(who).await["energy_grams"].as_i64().unwrap()
}

pub(crate) async fn sponsor(server: &TestServer, name: &str, budget_units: Option<i64>) -> String {
    let made = admin(
        server,
        Method::POST,
        "/v1/sponsors",
        json!({ "name": name, "kind": "foundation", "budget_units": budget_units }),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    made.body["id"].as_str().unwrap().to_owned()
}

pub(crate) fn window() -> (String, String) {
    let now = Utc::now();
    ((now - Duration::days(1)).to_rfc3339(), (now + Duration::days(30)).to_rfc3339())
}

/// A Haloxylon project (17.9 kg a tree) of `stock` trees, redeemable in China.
pub(crate) async fn haloxylon(server: &TestServer, sponsor_id: &str, stock: i64) -> Value {
    let (starts_at, ends_at) = window();
    let made = admin(
        server,
        Method::POST,
        "/v1/projects",
        json!({
            "kind": "tree", "title": "Haloxylon in the Alxa desert", "sponsor_id": sponsor_id, "stock": stock,
            "regions": ["CN"], "starts_at": starts_at, "ends_at": ends_at,
            "details": { "species": "Haloxylon ammodendron", "site": "Alxa League, Inner Mongolia", "region": "CN-NM",
                         "sequestration_kg": 17.9 }
        }),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    made.body
}

pub(crate) async fn redeem(
    server: &TestServer,
    who: &Citizen,
    project: &str,
    quantity: i64,
    key: Option<&str>,
) -> Reply {
    let body = json!({ "project_id": project, "quantity": quantity });
    call(server, who, Method::POST, "/v1/me/redemptions", Some(body), key).await
}

pub(crate) async fn project(server: &TestServer, id: &str) -> Value {
    let reply = server.get(&format!("/v1/projects/{id}"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body
}

pub(crate) async fn admin_get(server: &TestServer, path: &str) -> Reply {
    server.raw(Method::GET, path, &[("authorization", format!("Bearer {ADMIN_TOKEN}"))], Vec::new()).await
}

pub(crate) fn assert_refused(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!((reply.status, reply.code()), (status, code), "{reply:?}");
}

pub(crate) async fn verify_is_clean(server: TestServer) {
    let url = server.database_url.clone();
    let _db = server.stop().await;
    let verified = canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
}

async fn sponsors_budgets_bound_the_projects_they_pay_for() {
    let (server, _clock) = server().await;
    let foundation = sponsor(&server, "Green Foundation", Some(100)).await;
    let again =
        admin(&server, Method::POST, "/v1/sponsors", json!({ "name": "Green Foundation", "kind": "company" })).await;
    assert_refused(&again, StatusCode::CONFLICT, "sponsor_exists");
    for body in [
        json!({ "name": "", "kind": "company" }),
        json!({ "name": "x", "kind": "club" }),
        json!({ "name": "x", "kind": "company", "budget_units": -1 }),
    ] {
        let refused = admin(&server, Method::POST, "/v1/sponsors", body.clone()).await;
        assert_refused(&refused, StatusCode::BAD_REQUEST, "invalid_sponsor");
    }

    let tree = haloxylon(&server, &foundation, 60).await;
    assert_eq!((tree["price_grams"].as_i64(), tree["available"].as_i64()), (Some(17_900), Some(60)), "{tree}");
    assert_eq!(tree["details"]["sequestration_kg"], json!(17.9));
    assert!(tree["id"].as_str().unwrap().starts_with("prj_"));
    // 60 of the 100 units are allocated: 41 more would exceed the budget.
    let (starts_at, ends_at) = window();
    let donation = |stock: i64| {
        json!({
            "kind": "donation", "title": "School lunches", "sponsor_id": foundation, "price_grams": 500, "stock": stock,
            "regions": ["*"], "starts_at": starts_at, "ends_at": ends_at,
            "details": { "beneficiary": "Hope Primary School", "unit_buys": "one school lunch" }
        })
    };
    let over = admin(&server, Method::POST, "/v1/projects", donation(41)).await;
    assert_refused(&over, StatusCode::CONFLICT, "sponsor_budget_exceeded");
    let fits = admin(&server, Method::POST, "/v1/projects", donation(40)).await;
    assert_eq!(fits.status, StatusCode::CREATED, "{fits:?}");
    let listed = admin_get(&server, "/v1/sponsors").await;
    assert_eq!(listed.body["sponsors"][0]["committed_units"], 100, "{listed:?}");
    // Land: its stock is its area unless said; its region may be left out.
    let unbounded = sponsor(&server, "Open Hands", None).await;
    let land = admin(
        &server,
        Method::POST,
        "/v1/projects",
        json!({ "kind": "land", "title": "Panda habitat", "sponsor_id": unbounded, "price_grams": 400, "regions": ["*"],
                "starts_at": starts_at, "ends_at": ends_at, "details": { "site": "Pingwu", "m2_available": 5000 } }),
    )
    .await;
    assert_eq!((land.status, land.body["stock"].as_i64()), (StatusCode::CREATED, Some(5000)), "{land:?}");
    assert_eq!(land.body["details"], json!({ "site": "Pingwu", "area_m2": 5000 }));

    // Each fault names its field; nothing is made.
    let bad_details = admin(
        &server,
        Method::POST,
        "/v1/projects",
        json!({ "kind": "tree", "title": "t", "sponsor_id": foundation, "stock": 1, "regions": ["CN"],
                "starts_at": starts_at, "ends_at": ends_at,
                "details": { "species": "x", "site": "y", "region": "CN-NM", "sequestration_kg": 17.9 }, "price_grams": 100 }),
    )
    .await;
    assert_refused(&bad_details, StatusCode::BAD_REQUEST, "invalid_project");
    assert!(bad_details.body["detail"].as_str().unwrap().contains("price_grams"), "{bad_details:?}");
    let unknown_sponsor = admin(&server, Method::POST, "/v1/projects", {
        let mut body = donation(1);
        body["sponsor_id"] = json!("spn_999");
        body
    })
    .await;
    assert_refused(&unknown_sponsor, StatusCode::NOT_FOUND, "sponsor_not_found");
    let no_merchant = admin(
        &server,
        Method::POST,
        "/v1/projects",
        json!({ "kind": "voucher", "title": "5 yuan off", "sponsor_id": foundation, "price_grams": 2000, "regions": ["*"],
                "starts_at": starts_at, "ends_at": ends_at,
                "details": { "merchant_id": "ptn_999", "face_value_fen": 500, "expires_at": ends_at, "terms": "One per order" } }),
    )
    .await;
    assert_refused(&no_merchant, StatusCode::BAD_REQUEST, "invalid_project");
    let citizen = server.create_citizen("not-operator", "CN-BJ").await;
    let forbidden = server.post("/v1/projects", Some(&citizen.token), donation(1)).await;
    assert_eq!(forbidden.status, StatusCode::UNAUTHORIZED);

    // Listing: by kind, and where a citizen lives.
    let trees = server.get("/v1/projects?kind=tree", None).await;
    assert_eq!(trees.body["projects"].as_array().unwrap().len(), 1, "{trees:?}");
    let in_berlin = server.get("/v1/projects?region=DE-BE", None).await;
    let kinds: Vec<&str> =
        in_berlin.body["projects"].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["donation", "land"], "the tree is offered in China only");
    let mine = server.get("/v1/projects", Some(&citizen.token)).await;
    assert_eq!(mine.body["projects"].as_array().unwrap().len(), 3, "a Beijing citizen sees all three: {mine:?}");
    assert_refused(&server.get("/v1/projects?kind=shrub", None).await, StatusCode::BAD_REQUEST, "invalid_query");
    assert_refused(&server.get("/v1/projects?all=true", None).await, StatusCode::FORBIDDEN, "operator_only");

    // Pausing hides a project from citizens; ending is for good.
    let id = tree["id"].as_str().unwrap();
    let paused = admin(&server, Method::PATCH, &format!("/v1/projects/{id}"), json!({ "status": "paused" })).await;
    assert_eq!(paused.body["status"], "paused", "{paused:?}");
    assert_eq!(server.get("/v1/projects?kind=tree", None).await.body["projects"], json!([]));
    let all = admin_get(&server, "/v1/projects?all=true&kind=tree").await;
    assert_eq!(all.body["projects"].as_array().unwrap().len(), 1, "{all:?}");
    let ended = admin(&server, Method::PATCH, &format!("/v1/projects/{id}"), json!({ "status": "ended" })).await;
    assert_eq!(ended.body["status"], "ended");
    let reopened = admin(&server, Method::PATCH, &format!("/v1/projects/{id}"), json!({ "status": "active" })).await;
    assert_refused(&reopened, StatusCode::CONFLICT, "project_ended");
    let bad_status = admin(&server, Method::PATCH, &format!("/v1/projects/{id}"), json!({ "status": "gone" })).await;
    assert_refused(&bad_status, StatusCode::BAD_REQUEST, "invalid_status");
    assert_refused(&server.get("/v1/projects/prj_999", None).await, StatusCode::NOT_FOUND, "project_not_found");
}

async fn a_tree_is_planted_with_energy_and_certified() {
    let (server, _clock) = server().await;
    let partner = server.create_partner(&["use"]).await;
    let ann = citizen_with_energy(&server, &partner, "plant-ann", "CN-BJ", 1).await;
    let foundation = sponsor(&server, "Alxa SEE", None).await;
    let tree = haloxylon(&server, &foundation, 10).await;
    let id = tree["id"].as_str().unwrap();

    let planted = redeem(&server, &ann, id, 2, Some("plant-1")).await;
    assert_eq!(planted.status, StatusCode::CREATED, "{planted:?}");
    assert_eq!(planted.body["energy_grams"], 35_800);
    assert_eq!(planted.body["energy_left"], COMPUTER_G - 35_800);
    assert_eq!(planted.body["project"], json!({ "id": id, "kind": "tree", "title": "Haloxylon in the Alxa desert" }));
    assert_eq!(planted.body["status"], "active");
    let number = planted.body["certificate_number"].as_str().unwrap().to_owned();
    assert!(number.starts_with("CNP-") && number.len() == 23, "{number}");
    assert_eq!(energy(&server, &ann).await, COMPUTER_G - 35_800);
    let after = project(&server, id).await;
    assert_eq!(
        (after["sold"].as_i64(), after["available"].as_i64(), after["energy_grams"].as_i64()),
        (Some(2), Some(8), Some(35_800))
    );

    // The certificate is public, as JSON and as an image.
    let certificate = server.get(&format!("/v1/certificates/{number}"), None).await;
    assert_eq!(certificate.status, StatusCode::OK, "{certificate:?}");
    assert_eq!(certificate.body["owner"], "plant-ann");
    assert_eq!(certificate.body["species"], "Haloxylon ammodendron");
    assert_eq!(certificate.body["site"], "Alxa League, Inner Mongolia");
    assert_eq!(
        (certificate.body["quantity"].as_i64(), certificate.body["energy_grams"].as_i64()),
        (Some(2), Some(35_800))
    );
    assert_eq!(certificate.body["sponsor"], "Alxa SEE");
    let image = server.get(&format!("/v1/certificates/{number}.svg"), None).await;
    assert_eq!(image.status, StatusCode::OK);
    assert_eq!(image.headers["content-type"], "image/svg+xml; charset=utf-8");
    let svg = image.body.as_str().unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("plant-ann") && svg.contains("35.8 kg") && svg.contains(&number),
        "{svg}"
    );
    assert_refused(
        &server.get("/v1/certificates/CNP-0000-0000-0000-0000", None).await,
        StatusCode::NOT_FOUND,
        "certificate_not_found",
    );
    assert_refused(&server.get("/v1/certificates/guess", None).await, StatusCode::NOT_FOUND, "certificate_not_found");

    // A citizen may keep their name off the certificate.
    let body = json!({ "project_id": id, "quantity": 1, "show_name": false });
    let anonymous = call(&server, &ann, Method::POST, "/v1/me/redemptions", Some(body), None).await;
    let anonymous_number = anonymous.body["certificate_number"].as_str().unwrap();
    let shown = server.get(&format!("/v1/certificates/{anonymous_number}"), None).await;
    assert_eq!(shown.body["owner"], Value::Null, "{shown:?}");

    // The ledger explains the move; the list shows both, newest first.
    let ledger = server.get("/v1/me/ledger?limit=10", Some(&ann.token)).await;
    let entry = &ledger.body["entries"][1];
    assert_eq!(
        (entry["kind"].as_str(), entry["account"].as_str(), entry["grams"].as_i64()),
        (Some("redeemed"), Some("energy"), Some(-35_800)),
        "{ledger:?}"
    );
    let listed = server.get("/v1/me/redemptions", Some(&ann.token)).await;
    let redemptions = listed.body["redemptions"].as_array().unwrap();
    assert_eq!(redemptions.len(), 2);
    assert_eq!(redemptions[1]["id"], planted.body["id"]);
    let paged = server.get("/v1/me/redemptions?limit=1", Some(&ann.token)).await;
    let cursor = paged.body["next_cursor"].as_str().unwrap();
    let next = server.get(&format!("/v1/me/redemptions?limit=1&cursor={cursor}"), Some(&ann.token)).await;
    assert_eq!(next.body["redemptions"][0]["id"], planted.body["id"]);
    assert_eq!(next.body["next_cursor"], Value::Null);

    // `ledger verify` holds each project's stock and energy to its redemptions.
    let url = server.database_url.clone();
    let _db = server.stop().await;
    let verify = || canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    let clean = verify();
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stderr));
    execute_sql(&url, "UPDATE projects SET sold = sold + 1").await.unwrap();
    execute_sql(&url, "UPDATE redemptions SET energy_grams = energy_grams - 1 WHERE quantity = 1").await.unwrap();
    let found = verify();
    let report = String::from_utf8_lossy(&found.stderr);
    assert_eq!(found.status.code(), Some(2), "{report}");
    assert!(report.contains("has sold 4 units but its redemptions hold 3"), "{report}");
    assert!(report.contains("project_energy balance is 53700 g but its redemptions spent 53699 g"), "{report}");
}

async fn refused_redemptions_move_nothing() {
    let (server, clock) = server().await;
    let partner = server.create_partner(&["use"]).await;
    let ann = citizen_with_energy(&server, &partner, "refuse-ann", "CN-BJ", 1).await;
    let berliner = citizen_with_energy(&server, &partner, "refuse-bo", "DE-BE", 1).await;
    let foundation = sponsor(&server, "Refusals", None).await;
    let tree = haloxylon(&server, &foundation, 3).await;
    let id = tree["id"].as_str().unwrap().to_owned();

    for (quantity, code) in
        [(0, "quantity_out_of_bounds"), (101, "quantity_out_of_bounds"), (-1, "quantity_out_of_bounds")]
    {
        assert_refused(&redeem(&server, &ann, &id, quantity, None).await, StatusCode::BAD_REQUEST, code);
    }
    assert_refused(&redeem(&server, &ann, &id, 4, None).await, StatusCode::CONFLICT, "out_of_stock");
    assert_refused(&redeem(&server, &berliner, &id, 1, None).await, StatusCode::CONFLICT, "region_not_eligible");
    assert_refused(&redeem(&server, &ann, "prj_999", 1, None).await, StatusCode::NOT_FOUND, "project_not_found");
    assert_refused(&redeem(&server, &ann, "tree", 1, None).await, StatusCode::NOT_FOUND, "project_not_found");
    // 162.64 kg buys nine trees' worth, not ten: a project with stock to spare proves it.
    let big = haloxylon(&server, &foundation, 50).await;
    let big_id = big["id"].as_str().unwrap();
    assert_refused(&redeem(&server, &ann, big_id, 10, None).await, StatusCode::CONFLICT, "insufficient_energy");
    let paused = admin(&server, Method::PATCH, &format!("/v1/projects/{id}"), json!({ "status": "paused" })).await;
    assert_eq!(paused.status, StatusCode::OK);
    assert_refused(&redeem(&server, &ann, &id, 1, None).await, StatusCode::CONFLICT, "project_not_active");
    admin(&server, Method::PATCH, &format!("/v1/projects/{id}"), json!({ "status": "active" })).await;
    // After the project's end.
    clock.advance(Duration::days(31));
    assert_refused(&redeem(&server, &ann, &id, 1, None).await, StatusCode::CONFLICT, "project_not_active");
    // Malformed bodies.
    for body in [
        json!({ "project_id": id }),
        json!({ "project_id": id, "quantity": "1" }),
        json!({ "project_id": id, "quantity": 1, "extra": 1 }),
    ] {
        let reply = call(&server, &ann, Method::POST, "/v1/me/redemptions", Some(body.clone()), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {reply:?}");
    }

    assert_eq!(energy(&server, &ann).await, COMPUTER_G);
    assert_eq!(energy(&server, &berliner).await, COMPUTER_G);
    assert_eq!(project(&server, &id).await["sold"], 0);
    assert_eq!(server.get("/v1/me/redemptions", Some(&ann.token)).await.body["redemptions"], json!([]));
    verify_is_clean(server).await;
}

async fn a_retry_is_answered_once_and_cancelling_returns_energy_and_stock() {
    let (server, clock) = server().await;
    let partner = server.create_partner(&["use"]).await;
    let ann = citizen_with_energy(&server, &partner, "cancel-ann", "CN-SH", 1).await;
    let foundation = sponsor(&server, "Cancels", None).await;
    let tree = haloxylon(&server, &foundation, 5).await;
    let id = tree["id"].as_str().unwrap();

    let first = redeem(&server, &ann, id, 1, Some("k-1")).await;
    let retry = redeem(&server, &ann, id, 1, Some("k-1")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    assert_eq!(
        (retry.status, &retry.body["id"], &retry.body["certificate_number"]),
        (StatusCode::CREATED, &first.body["id"], &first.body["certificate_number"])
    );
    assert_refused(
        &redeem(&server, &ann, id, 2, Some("k-1")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );
    assert_eq!(energy(&server, &ann).await, COMPUTER_G - 17_900, "one tree, whatever the retries");
    assert_eq!(project(&server, id).await["sold"], 1);

    let rid = first.body["id"].as_str().unwrap();
    let number = first.body["certificate_number"].as_str().unwrap();
    let path = format!("/v1/me/redemptions/{rid}/cancel");
    let cancelled = call(&server, &ann, Method::POST, &path, None, Some("c-1")).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{cancelled:?}");
    assert_eq!(
        (cancelled.body["status"].as_str(), cancelled.body["energy_left"].as_i64()),
        (Some("cancelled"), Some(COMPUTER_G))
    );
    let again = call(&server, &ann, Method::POST, &path, None, Some("c-1")).await;
    assert_eq!(
        (again.status, &again.body["status"]),
        (StatusCode::OK, &json!("cancelled")),
        "a retried cancel is answered the same"
    );
    assert_refused(
        &call(&server, &ann, Method::POST, &path, None, None).await,
        StatusCode::CONFLICT,
        "already_cancelled",
    );
    assert_eq!(energy(&server, &ann).await, COMPUTER_G);
    assert_eq!(project(&server, id).await["sold"], 0);
    assert_refused(
        &server.get(&format!("/v1/certificates/{number}"), None).await,
        StatusCode::GONE,
        "certificate_void",
    );
    let ledger = server.get("/v1/me/ledger?limit=1", Some(&ann.token)).await;
    assert_eq!(ledger.body["entries"][0]["kind"], "redemption_cancelled");

    // Someone else's redemption is not found; the window closes after a day.
    let bo = server.create_citizen("cancel-bo", "CN-SH").await;
    let second = redeem(&server, &ann, id, 1, None).await;
    let second_path = format!("/v1/me/redemptions/{}/cancel", second.body["id"].as_str().unwrap());
    assert_refused(
        &call(&server, &bo, Method::POST, &second_path, None, None).await,
        StatusCode::NOT_FOUND,
        "redemption_not_found",
    );
    assert_refused(
        &call(&server, &ann, Method::POST, "/v1/me/redemptions/rdm_999/cancel", None, None).await,
        StatusCode::NOT_FOUND,
        "redemption_not_found",
    );
    clock.advance(Duration::seconds(86_400));
    assert_refused(
        &call(&server, &ann, Method::POST, &second_path, None, None).await,
        StatusCode::CONFLICT,
        "cancel_window_passed",
    );
    assert_eq!(project(&server, id).await["sold"], 1);
    verify_is_clean(server).await;
}

async fn the_last_units_go_once_when_many_redeem_at_once() {
    let (server, _clock) = server().await;
    let partner = server.create_partner(&["use"]).await;
    let foundation = sponsor(&server, "Hot", None).await;
    let tree = haloxylon(&server, &foundation, 5).await;
    let id = tree["id"].as_str().unwrap().to_owned();
    let mut citizens = Vec::new();
    for i in 0..16 {
        citizens.push(citizen_with_energy(&server, &partner, &format!("hot-{i}"), "CN-BJ", 1).await);
    }
    let server = Arc::new(server);
    let tasks: Vec<_> = citizens
        .iter()
        .cloned()
        .map(|c| {
            let (server, id) = (server.clone(), id.clone());
            tokio::spawn(async move { redeem(&server, &c, &id, 1, None).await })
        })
        .collect();
    let mut sold = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            StatusCode::CREATED => sold += 1,
            _ => assert_refused(&reply, StatusCode::CONFLICT, "out_of_stock"),
        }
    }
    assert_eq!(sold, 5, "exactly the stock is sold");
    let after = project(&server, &id).await;
    assert_eq!((after["sold"].as_i64(), after["available"].as_i64()), (Some(5), Some(0)));

    // One citizen's energy spent from several connections at once: 162.64 kg buys nine trees.
    let big = haloxylon(&server, &foundation, 100).await;
    let big_id = big["id"].as_str().unwrap().to_owned();
    let spender = citizens[0].clone();
    let before = energy(&server, &spender).await;
    let tasks: Vec<_> = (0..14)
        .map(|_| {
            let (server, id, who) = (server.clone(), big_id.clone(), spender.clone());
            tokio::spawn(async move { redeem(&server, &who, &id, 1, None).await })
        })
        .collect();
    let mut bought = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            StatusCode::CREATED => bought += 1,
            _ => assert_refused(&reply, StatusCode::CONFLICT, "insufficient_energy"),
        }
    }
    assert_eq!(bought, before / 17_900, "as many trees as the energy buys");
    assert_eq!(energy(&server, &spender).await, before - bought * 17_900);

    // One redemption retried at once from several connections under one key: made once.
    let buyer = citizens[1].clone();
    let before = energy(&server, &buyer).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (server, id, who) = (server.clone(), big_id.clone(), buyer.clone());
            tokio::spawn(async move { redeem(&server, &who, &id, 1, Some("once")).await })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        ids.insert(reply.body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "every retry gets the one redemption: {ids:?}");
    assert_eq!(energy(&server, &buyer).await, before - 17_900);
    let server = Arc::into_inner(server).expect("every task is done");
    verify_is_clean(server).await;
}

crate::contract!(
    sponsors_budgets_bound_the_projects_they_pay_for,
    a_tree_is_planted_with_energy_and_certified,
    refused_redemptions_move_nothing,
    a_retry_is_answered_once_and_cancelling_returns_energy_and_stock,
    the_last_units_go_once_when_many_redeem_at_once,
);
