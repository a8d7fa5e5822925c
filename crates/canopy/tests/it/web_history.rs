//! The history page (issue 13) over HTTP: every ledger entry with its act,
//! partner, methodology and arithmetic in words; narrowed by category and
//! month; a chart of reductions by month and category whose figures equal
//! the API's ledger.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;
use crate::webpage::Browser;

async fn history_shows_each_act_with_its_arithmetic_and_filters() {
    let server = TestServer::start().await;
    let ling = server.create_citizen("hist-ling", "CN-BJ").await;
    let partner = server.create_partner(&["transport", "food"]).await;
    server.link(&ling, &partner, &["transport", "food"], "ling").await;
    let credited = server
        .send_ok(
            &partner,
            json!([
                event("h-1", "ling", "shared_bike", json!({ "distance_km": 3.2 })),
                event("h-2", "ling", "no_utensils", json!({})),
            ]),
        )
        .await;
    assert_eq!(credited[0]["grams"].as_i64(), Some(800), "{credited:?}");
    let food_grams = credited[1]["grams"].as_i64().unwrap();

    // A visitor is sent to sign in.
    let visitor = Browser::new(&server, "en").get("/history").await;
    assert_eq!((visitor.status, visitor.location()), (StatusCode::SEE_OTHER, "/login"));

    let mut browser = Browser::signed_in(&server, &ling, "en");
    let page = browser.get("/history").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let html = &page.html;
    assert!(html.contains("Shared bicycle ride (Beijing)"), "the act: {html}");
    assert!(html.contains("250 × 3.2 km = 800 g"), "the arithmetic in words: {html}");
    assert!(html.contains("Methodology cn-bj-shared-bike version 1.0"), "{html}");
    assert!(html.contains("Takeaway order without single-use utensils"));
    assert!(html.contains(&format!("= {food_grams} g")), "{html}");
    assert!(html.contains("Reduction verified") && html.contains("+800 g CO2e"), "{html}");
    // The chart's table gives this month's figures by category, as the API's ledger sums them.
    let ledger = server.get("/v1/me/ledger", Some(&ling.token)).await.body;
    let reduced: i64 = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["account"] == "reduction")
        .map(|e| e["grams"].as_i64().unwrap())
        .sum();
    assert_eq!(reduced, 800 + food_grams);
    assert!(html.contains("<td>800 g</td>") && html.contains(&format!("<td>{food_grams} g</td>")), "{html}");
    assert!(html.contains("<svg") && html.contains("Transport") && html.contains("Food"));

    // Narrowed to food, the ride is gone; to a month without acts, everything is.
    let food = browser.get("/history?category=food").await;
    assert!(food.html.contains("Takeaway order") && !food.html.contains("250 × 3.2 km"), "{}", food.html);
    assert!(food.html.contains(r#"<option value="food" selected>"#), "the filter shows what was chosen");
    let long_ago = browser.get("/history?month=2021-01").await;
    assert_eq!(long_ago.status, StatusCode::OK);
    assert!(long_ago.html.contains("Nothing here yet.") && !long_ago.html.contains("Takeaway order"));

    // Bad filters get a page that says what is wrong, not a crash.
    let bad = browser.get("/history?month=2021-13").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.html.contains("Choose a month"), "{}", bad.html);
    let bad = browser.get("/history?category=spaceflight").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // In Chinese, the same page speaks Chinese and keeps the arithmetic.
    let chinese = Browser::signed_in(&server, &ling, "zh-CN").get("/history").await;
    assert!(chinese.html.contains("记录") && chinese.html.contains("250 × 3.2 km = 800 g"), "{}", chinese.html);
}

async fn history_pages_through_a_long_ledger() {
    let server = TestServer::start().await;
    let bo = server.create_citizen("hist-bo", "CN-BJ").await;
    let partner = server.create_partner(&["transport"]).await;
    server.link(&bo, &partner, &["transport"], "bo").await;
    let events: Vec<_> =
        (0..40).map(|i| event(&format!("p-{i}"), "bo", "shared_bike", json!({ "distance_km": 1 + i % 5 }))).collect();
    server.send_ok(&partner, json!(events)).await;
    let mut browser = Browser::signed_in(&server, &bo, "en");
    let first = browser.get("/history?category=transport").await;
    let older = first.html.split(r#"rel="next""#).next().unwrap().rsplit("href=\"").next().unwrap().to_owned();
    let older = older.split('"').next().unwrap().replace("&amp;", "&");
    assert!(older.starts_with("/history?category=transport&cursor="), "{older}");
    let second = browser.get(&older).await;
    assert_eq!(second.status, StatusCode::OK);
    let count = |html: &str| html.matches(r#"class="entry card""#).count();
    // 40 acts, each a verified reduction and grown energy: 80 entries, 30 a page.
    assert_eq!((count(&first.html), count(&second.html)), (30, 30));
    let bad = browser.get("/history?cursor=nonsense").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

crate::contract!(history_shows_each_act_with_its_arithmetic_and_filters, history_pages_through_a_long_ledger);
