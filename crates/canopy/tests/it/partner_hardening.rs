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

/// Names that disguise themselves, regions that are not real ISO 3166-2
/// subdivisions and a bare country are refused at registration.
async fn registration_refuses_disguised_names_and_unreal_regions() {
    let server = TestServer::start().await;
    let register = |username: &str, display_name: &str, region: &str| {
        let body =
            json!({ "username": username, "password": PASSWORD, "display_name": display_name, "region": region });
        server.post("/v1/users", None, body)
    };
    for (name, why) in [
        ("admin\u{202E}gnp.exe", "a right-to-left override"),
        ("a\u{2066}b\u{2069}", "an isolate"),
        ("\u{200B}\u{200C}\u{200D}", "only zero-width characters"),
        ("\u{2060}\u{FEFF}", "only invisible characters"),
        ("name\u{FDD0}", "a noncharacter"),
        ("name\u{FFFF}", "a noncharacter"),
        ("tab\there", "a control character"),
    ] {
        let reply = register("wang", name, "CN-BJ").await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{why}: {reply:?}");
        assert_eq!(reply.code(), "invalid_display_name", "{why}");
    }
    for region in ["XX-YY", "CN", "CN-11", "cn-bj", "CN-XX"] {
        let reply = register("wang", "Wang", region).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{region}: {reply:?}");
        assert_eq!(reply.code(), "invalid_region", "{region}");
    }
    // What is refused was not stored: the same username registers cleanly,
    // its name trimmed, and an emoji with joiners is a fine name.
    let ok = register("wang", "  👩\u{200D}👩\u{200D}👧 Wang ", "CN-HB").await;
    assert_eq!(ok.status, StatusCode::CREATED, "{ok:?}");
    assert_eq!(ok.body["display_name"], "👩\u{200D}👩\u{200D}👧 Wang");
    assert_eq!(ok.body["region"], "CN-HB");
}

/// A partner's name follows the same rules.
async fn partner_names_refuse_disguises() {
    let server = TestServer::start().await;
    for name in ["\u{200B}", "Bike\u{202E}Co", "Bike\u{FFFE}", "   "] {
        let reply =
            server.post("/v1/partners", Some(ADMIN_TOKEN), json!({ "name": name, "categories": ["transport"] })).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name:?}: {reply:?}");
        assert_eq!(reply.code(), "invalid_name");
    }
}

/// A citizen cannot grant a partner a scope it may not report: the grant
/// is refused with 422 `scope_not_reportable` and nothing is stored.
async fn consent_to_a_scope_the_partner_cannot_report_is_refused() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("fang", "CN-BJ").await;
    let grant = |scopes: serde_json::Value| {
        server.post("/v1/me/consents", Some(&citizen.token), json!({ "partner_id": partner.id, "scopes": scopes }))
    };
    let refused = grant(json!(["transport", "housing"])).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{refused:?}");
    assert_eq!(refused.code(), "scope_not_reportable");
    assert!(refused.body["detail"].as_str().unwrap().contains("housing"), "{refused:?}");
    let consents = server.get("/v1/me/consents", Some(&citizen.token)).await;
    assert_eq!(consents.body["consents"], json!([]), "{consents:?}");
    let unknown = grant(json!(["flying"])).await;
    assert_eq!(unknown.code(), "invalid_scope");
    let ok = grant(json!(["transport"])).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{ok:?}");
}

/// Regression: an event's `region` overrode the citizen's, so any partner
/// could credit a Wuhan citizen's ride at Beijing's 250 g/km instead of 40.
/// A partner names a region only where it is registered.
async fn a_partner_credits_another_region_only_where_it_is_registered() {
    let server = TestServer::start().await;
    let create = |regions: serde_json::Value| {
        server.post(
            "/v1/partners",
            Some(ADMIN_TOKEN),
            json!({ "name": "Bike Co", "categories": ["transport"], "regions": regions }),
        )
    };
    let hubei_only = create(json!(["CN-HB"])).await;
    assert_eq!(hubei_only.status, StatusCode::CREATED, "{hubei_only:?}");
    assert_eq!(hubei_only.body["regions"], json!(["CN-HB"]));
    let beijing_too = create(json!(["CN-HB", "CN-BJ"])).await;
    assert_eq!(beijing_too.body["regions"], json!(["CN-HB", "CN-BJ"]));
    for bad in [json!(["XX-YY"]), json!(["CN"]), json!(["cn-bj"])] {
        let refused = create(bad.clone()).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}: {refused:?}");
        assert_eq!(refused.code(), "invalid_region");
    }
    let listed = server.get("/v1/partners", Some(ADMIN_TOKEN)).await;
    assert_eq!(listed.body["partners"][0]["regions"], json!(["CN-HB"]));
    assert_eq!(listed.body["partners"][1]["regions"], json!(["CN-HB", "CN-BJ"]));

    let as_partner = |reply: &Reply| Partner {
        id: reply.body["id"].as_str().unwrap().to_owned(),
        secret: reply.body["secret"].as_str().unwrap().to_owned(),
    };
    let (hubei_only, beijing_too) = (as_partner(&hubei_only), as_partner(&beijing_too));
    let wuhan = server.create_citizen("wuhan", "CN-HB").await;
    server.link(&wuhan, &hubei_only, &["transport"], "w1").await;
    server.link(&wuhan, &beijing_too, &["transport"], "w2").await;
    let ride = |id: &str, user_ref: &str, region: Option<&str>| {
        let mut e = event(id, user_ref, "shared_bike", json!({ "distance_km": 2 }));
        if let Some(region) = region {
            e["region"] = json!(region);
        }
        e
    };
    let results = server
        .send_ok(
            &hubei_only,
            json!([ride("bj", "w1", Some("CN-BJ")), ride("own", "w1", Some("CN-HB")), ride("home", "w1", None)]),
        )
        .await;
    assert_eq!(results[0]["outcome"], "rejected", "{results:?}");
    assert_eq!(results[0]["code"], "region_not_allowed");
    assert_eq!(results[1]["outcome"], "credited");
    assert_eq!(results[1]["grams"], 80, "Hubei's 40 g/km");
    assert_eq!(results[2]["grams"], 80);
    let results = server.send_ok(&beijing_too, json!([ride("bj", "w2", Some("CN-BJ"))])).await;
    assert_eq!(results[0]["outcome"], "credited", "{results:?}");
    assert_eq!(results[0]["grams"], 500, "Beijing's 250 g/km, where this partner is registered");
    // A bare country is not a region an event can name either.
    let results = server.send_ok(&beijing_too, json!([ride("cn", "w2", Some("CN"))])).await;
    assert_eq!(results[0]["code"], "invalid_region", "{results:?}");
    assert_eq!(server.me(&wuhan).await["reduction_grams"], 660);
}

/// Rotation: a new secret is issued once; old and new both verify until the
/// old one is retired, then the old one is refused 401; the last live
/// secret cannot be retired.
async fn a_partner_rotates_its_secret_without_a_gap() {
    let server = TestServer::start().await;
    let old = server.create_partner(&["transport"]).await;
    let created_list = server.get(&format!("/v1/partners/{}/secrets", old.id), Some(ADMIN_TOKEN)).await;
    assert_eq!(created_list.status, StatusCode::OK, "{created_list:?}");
    let old_secret_id = created_list.body["secrets"][0]["id"].as_str().unwrap().to_owned();
    assert!(old_secret_id.starts_with("sec_"));

    let path = format!("/v1/partners/{}/secrets", old.id);
    let anonymous = server.post(&path, None, json!({})).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let issued = server.post(&path, Some(ADMIN_TOKEN), json!({})).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{issued:?}");
    let new = Partner { id: old.id.clone(), secret: issued.body["secret"].as_str().unwrap().to_owned() };
    assert_ne!(new.secret, old.secret);
    assert_eq!(new.secret.len(), 64);

    // Both verify during the grace period.
    for partner in [&old, &new] {
        let reply = server.send_events(partner, json!([])).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    }
    let listed = server.get(&path, Some(ADMIN_TOKEN)).await;
    let secrets = listed.body["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 2, "{listed:?}");
    assert!(secrets.iter().all(|s| s["active"] == true), "{listed:?}");
    assert!(secrets[0]["expires_at"].is_string(), "the old secret now expires: {listed:?}");
    for secret in [&old.secret, &new.secret] {
        assert!(!listed.body.to_string().contains(secret.as_str()), "secrets are never listed");
    }

    // Retire the old one: it fails at once, the new one goes on.
    let retire =
        server.request(reqwest::Method::DELETE, &format!("{path}/{old_secret_id}"), Some(ADMIN_TOKEN), None).await;
    assert_eq!(retire.status, StatusCode::NO_CONTENT, "{retire:?}");
    let refused = server.send_events(&old, json!([])).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{refused:?}");
    assert_eq!(refused.code(), "bad_signature");
    assert_eq!(server.send_events(&new, json!([])).await.status, StatusCode::OK);
    let again =
        server.request(reqwest::Method::DELETE, &format!("{path}/{old_secret_id}"), Some(ADMIN_TOKEN), None).await;
    assert_eq!(again.code(), "secret_not_found");
    let new_secret_id = issued.body["id"].as_str().unwrap();
    let last =
        server.request(reqwest::Method::DELETE, &format!("{path}/{new_secret_id}"), Some(ADMIN_TOKEN), None).await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{last:?}");
    assert_eq!(last.code(), "last_secret");
    assert_eq!(server.send_events(&new, json!([])).await.status, StatusCode::OK);
    let unknown = server.post("/v1/partners/ptn_999/secrets", Some(ADMIN_TOKEN), json!({})).await;
    assert_eq!(unknown.code(), "partner_not_found");
}

/// An old secret stops verifying by itself when its grace period ends.
async fn an_old_secret_expires_after_the_grace_period() {
    let server = TestServer::start_with(|config| config.secret_grace_s = 0).await;
    let old = server.create_partner(&["transport"]).await;
    let issued = server.post(&format!("/v1/partners/{}/secrets", old.id), Some(ADMIN_TOKEN), json!({})).await;
    let new = Partner { id: old.id.clone(), secret: issued.body["secret"].as_str().unwrap().to_owned() };
    assert_eq!(server.send_events(&old, json!([])).await.code(), "bad_signature");
    assert_eq!(server.send_events(&new, json!([])).await.status, StatusCode::OK);
}

/// Secrets are sealed at rest; a clear secret left by an older version is
/// sealed at the next start and still verifies; a server started with
/// another key refuses to start instead of failing every signature.
async fn secrets_are_sealed_at_rest_and_a_wrong_key_stops_the_server() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let url = server.database_url.clone();
    let db = server.stop().await;

    let store = canopy_store::Store::open_existing(&url).await.unwrap();
    let stored = store.all_partner_secrets().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].1.starts_with("v1."), "sealed: {}", stored[0].1.len());
    assert!(!stored[0].1.contains(&partner.secret), "the secret is not stored in clear");
    // As a database from before sealing would hold it.
    store.replace_partner_secret(stored[0].0, &partner.secret).await.unwrap();
    store.close().await;

    let restarted = TestServer::start_on(&url).await;
    let reply = restarted.send_events(&partner, json!([])).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    drop(restarted);
    let store = canopy_store::Store::open_existing(&url).await.unwrap();
    let stored = store.all_partner_secrets().await.unwrap();
    assert!(stored[0].1.starts_with("v1.") && !stored[0].1.contains(&partner.secret), "sealed at start");
    store.close().await;

    let mut config = canopy_server::Config::new(&url, "127.0.0.1:0");
    config.secret_key = Some(canopy_server::secrets::SecretKey::generate());
    let error = canopy_server::App::build(config).await.err().expect("a wrong key stops the server");
    assert!(error.to_string().contains("sealed with another key"), "{error:#}");
    drop(db);
}

/// No `Debug` of a configuration, row or response shows a secret, token
/// or password.
#[test]
fn debug_output_hides_secrets_tokens_and_passwords() {
    let mut config = canopy_server::Config::new("postgres://canopy:hunter2@db/canopy", "127.0.0.1:0");
    config.admin_token = Some("admin-token-value".to_owned());
    config.secret_key = Some(canopy_server::secrets::SecretKey::from_hex(SECRET_KEY_HEX).unwrap());
    let shown = format!("{config:?}");
    for hidden in ["hunter2", "admin-token-value", "0102030405", "000102"] {
        assert!(!shown.contains(hidden), "{hidden} in {shown}");
    }
    assert!(shown.contains("[redacted]"), "{shown}");
    let row = canopy_store::PartnerSecretRow {
        id: 1,
        partner_id: 1,
        sealed: "clear-secret-value".to_owned(),
        created_at: chrono::Utc::now(),
        expires_at: None,
        retired_at: None,
    };
    assert!(!format!("{row:?}").contains("clear-secret-value"));
    let user = canopy_store::UserRow {
        id: 1,
        username: "ann".to_owned(),
        password_hash: "$argon2id$secret-hash".to_owned(),
        display_name: "Ann".to_owned(),
        region: "CN-BJ".to_owned(),
        district: None,
        created_at: chrono::Utc::now(),
    };
    assert!(!format!("{user:?}").contains("secret-hash"));
    let created = canopy_server::api::PartnerCreated {
        id: "ptn_1".to_owned(),
        name: "P".to_owned(),
        categories: vec![],
        regions: vec![],
        secret: "shown-once-secret".to_owned(),
        secret_id: "sec_1".to_owned(),
    };
    assert!(!format!("{created:?}").contains("shown-once-secret"));
}

/// `canopy partner create` and `canopy partner rotate-secret` seal and
/// rotate through the same code as HTTP: a running `canopy serve` verifies
/// both secrets, and the key file is created owner-only next to the
/// SQLite database when no key is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_and_rotates_partner_secrets_the_server_verifies() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("canopy.db").display());
    let cli = |args: &[&str]| crate::process::canopy().args(args).env("CANOPY_DATABASE_URL", &url).output().unwrap();
    assert!(cli(&["migrate"]).status.success());
    let created =
        cli(&["partner", "create", "--name", "CLI Bikes", "--categories", "transport", "--regions", "CN-BJ", "--json"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let first = Partner {
        id: created["id"].as_str().unwrap().to_owned(),
        secret: created["secret"].as_str().unwrap().to_owned(),
    };
    let refused = cli(&["partner", "create", "--name", "X", "--categories", "transport", "--regions", "XX-YY"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("XX-YY"), "{}", String::from_utf8_lossy(&refused.stderr));

    let mut served = crate::process::serve(&url).await;
    let server = TestServer::external(&served.base);
    assert_eq!(server.send_events(&first, json!([])).await.status, StatusCode::OK);
    let rotated = cli(&["partner", "rotate-secret", &first.id, "--json"]);
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let rotated: serde_json::Value = serde_json::from_slice(&rotated.stdout).unwrap();
    let second = Partner { id: first.id.clone(), secret: rotated["secret"].as_str().unwrap().to_owned() };
    assert_eq!(server.send_events(&second, json!([])).await.status, StatusCode::OK, "the new secret verifies");
    assert_eq!(server.send_events(&first, json!([])).await.status, StatusCode::OK, "the old one too, for now");
    served.child.kill().unwrap();
    served.child.wait().unwrap();

    // No key given: a key file, owner-only, next to the database; another
    // key then refuses to open this database's secrets.
    let other = tempfile::TempDir::new().unwrap();
    let other_url = format!("sqlite://{}", other.path().join("canopy.db").display());
    let without_key = |args: &[&str]| {
        crate::process::canopy()
            .args(args)
            .env("CANOPY_DATABASE_URL", &other_url)
            .env_remove("CANOPY_SECRET_KEY")
            .output()
            .unwrap()
    };
    assert!(without_key(&["migrate"]).status.success());
    let made = without_key(&["partner", "create", "--name", "Keyed", "--categories", "food"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let key_file = other.path().join("canopy-secret.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let wrong = crate::process::canopy()
        .args(["partner", "rotate-secret", "ptn_1"])
        .env("CANOPY_DATABASE_URL", &other_url)
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("sealed with another key"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
}

crate::contract!(
    link_code_race_has_one_winner_and_one_link_code_invalid,
    two_codes_of_one_citizen_raced_answer_created_or_link_conflict,
    one_user_ref_raced_for_two_citizens_is_one_link_and_one_conflict,
    registration_refuses_disguised_names_and_unreal_regions,
    partner_names_refuse_disguises,
    consent_to_a_scope_the_partner_cannot_report_is_refused,
    a_partner_credits_another_region_only_where_it_is_registered,
    a_partner_rotates_its_secret_without_a_gap,
    an_old_secret_expires_after_the_grace_period,
    secrets_are_sealed_at_rest_and_a_wrong_key_stops_the_server,
);
