//! Settings and your data (issue 13) over HTTP: the profile with an error
//! next to its field then fixed, privacy, both downloads with the session
//! cookie, and deleting the account behind a typed confirmation (a wrong
//! one deletes nothing), after which the cookie is gone and the welcome
//! page says so.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;
use crate::webpage::Browser;

async fn settings_change_profile_and_privacy_download_and_delete() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let mei = server.create_citizen("set-mei", "CN-BJ").await;
    server.link(&mei, &partner, &["transport"], "mei-1").await;
    server.send_ok(&partner, json!([event("m1", "mei-1", "shared_bike", json!({ "distance_km": 2 }))])).await;
    let mut browser = Browser::signed_in(&server, &mei, "en");

    let page = browser.get("/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains(r#"<a href="/settings" aria-current="page">Settings</a>"#), "{}", page.html);
    assert!(page.html.contains("Profile") && page.html.contains("Privacy") && page.html.contains("Your data"));
    assert!(page.html.contains(r#"action="/lang""#), "the language section posts to /lang");

    // A bad region is shown next to its field, with what was typed; nothing changes.
    let bad =
        browser.submit("/settings", "/settings/profile", &[("display_name", "Mei Lin"), ("region", "CN-ZZ")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.html.contains(r#"id="region-error">Give a region code such as CN-BJ."#), "{}", bad.html);
    assert!(bad.html.contains(r#"value="Mei Lin""#) && bad.html.contains(r#"value="CN-ZZ""#));
    assert_eq!(server.me(&mei).await["display_name"], "set-mei");
    let fixed =
        browser.submit("/settings", "/settings/profile", &[("display_name", "Mei Lin"), ("region", "CN-SH")]).await;
    assert_eq!((fixed.status, fixed.location()), (StatusCode::SEE_OTHER, "/settings?saved=profile"));
    let me = server.me(&mei).await;
    assert_eq!((me["display_name"].as_str(), me["region"].as_str()), (Some("Mei Lin"), Some("CN-SH")));
    assert!(browser.get("/settings?saved=profile").await.html.contains("Profile saved."));

    // Privacy: nobody sees the forest, friends may not collect.
    let saved = browser.submit("/settings", "/settings/privacy", &[("forest", "nobody")]).await;
    assert_eq!((saved.status, saved.location()), (StatusCode::SEE_OTHER, "/settings?saved=privacy"));
    let privacy = server.get("/v1/me/privacy", Some(&mei.token)).await;
    assert_eq!(
        (privacy.body["forest"].as_str(), privacy.body["friends_may_collect"].as_bool()),
        (Some("nobody"), Some(false)),
        "{privacy:?}"
    );
    let page = browser.get("/settings").await;
    assert!(page.html.contains(r#"id="forest-nobody" name="forest" value="nobody" checked"#), "{}", page.html);

    // Both downloads, with the session cookie, hold the ledger's entries.
    let ledger = server.get("/v1/me/ledger", Some(&mei.token)).await;
    let first = ledger.body["entries"][0]["seq"].as_i64().unwrap();
    let json_file = browser.get("/settings/export.json").await;
    assert_eq!(json_file.status, StatusCode::OK);
    assert!(json_file.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let export: Value = serde_json::from_str(&json_file.html).unwrap();
    assert_eq!(export["sections"]["profile"]["records"][0]["display_name"], "Mei Lin");
    assert!(export["sections"]["ledger"]["records"].as_array().unwrap().iter().any(|r| r["id"] == first));
    let csv_file = browser.get("/settings/export.csv").await;
    assert_eq!(csv_file.status, StatusCode::OK);
    assert!(csv_file.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(csv_file.html.starts_with("section,record,field,value\r\n"));
    assert!(csv_file.html.contains(&format!("ledger,1,id,{first}\r\n")), "{}", csv_file.html);
    // A visitor gets the sign-in page, not someone's data.
    let mut visitor = Browser::new(&server, "en");
    assert_eq!(visitor.get("/settings/export.json").await.location(), "/login");

    // A wrong confirmation deletes nothing; the right one ends the account and the session cookie.
    let wrong = browser.submit("/settings", "/settings/delete", &[("confirm", "someone")]).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(
        wrong.html.contains(r#"id="confirm-error">That is not your username; nothing was deleted."#),
        "{}",
        wrong.html
    );
    assert_eq!(server.me(&mei).await["username"], "set-mei");
    let forged = browser.post("/settings/delete", &[("confirm", "set-mei")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let deleted = browser.submit("/settings", "/settings/delete", &[("confirm", "set-mei")]).await;
    assert_eq!((deleted.status, deleted.location()), (StatusCode::SEE_OTHER, "/?deleted=1"));
    assert!(deleted.set_cookies().iter().any(|c| c.starts_with("canopy_session=;") && c.contains("Max-Age=0")));
    assert!(!browser.cookies.contains_key("canopy_session"));
    let welcome = browser.get("/?deleted=1").await;
    assert!(welcome.html.contains("Your account was deleted."), "{}", welcome.html);
    assert!(welcome.html.contains(r#"href="/login""#));
    let gone = server.get("/v1/me", Some(&mei.token)).await;
    assert_eq!((gone.status, gone.code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
    // The old cookie, if a browser kept it, no longer signs anyone in.
    let mut stale = Browser::signed_in(&server, &mei, "zh-CN");
    assert_eq!(stale.get("/settings").await.location(), "/login");
}

async fn settings_speak_chinese() {
    let server = TestServer::start().await;
    let li = server.create_citizen("set-li", "CN-BJ").await;
    let mut browser = Browser::signed_in(&server, &li, "zh-CN");
    let page = browser.get("/settings").await;
    assert!(
        page.html.contains("<h1>设置</h1>") && page.html.contains("你的数据") && page.html.contains("下载 CSV"),
        "{}",
        page.html
    );
    let wrong = browser.submit("/settings", "/settings/delete", &[("confirm", "nope")]).await;
    assert!(wrong.html.contains("这不是你的用户名"), "{}", wrong.html);
}

crate::contract!(settings_change_profile_and_privacy_download_and_delete, settings_speak_chinese);
