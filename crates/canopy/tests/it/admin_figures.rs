//! The city's figures for the operator (`GET /v1/admin/figures`, issue 13):
//! citizens, partners and acts set up through the real API, the figures
//! asserted as JSON and CSV, and every kind of bad window refused.

use chrono::{Duration, FixedOffset, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;

/// The instance's local day (UTC+8) `days` days ago.
pub fn local_day(days: i64) -> String {
    let tz = FixedOffset::east_opt(8 * 3600).unwrap();
    ((Utc::now() - Duration::hours(1)).with_timezone(&tz).date_naive() - chrono::Days::new(days as u64)).to_string()
}

/// Two active citizens (one in Beijing riding and ordering, one in Shanghai
/// ordering) and one idle: returns the grams of one takeaway order.
pub async fn city_with_acts(server: &TestServer) -> i64 {
    let ling = server.create_citizen("fig-ling", "CN-BJ").await;
    let wei = server.create_citizen("fig-wei", "CN-SH").await;
    let _idle = server.create_citizen("fig-idle", "CN-BJ").await;
    let partner = server.create_partner(&["transport", "food"]).await;
    server.link(&ling, &partner, &["transport", "food"], "ling").await;
    server.link(&wei, &partner, &["transport", "food"], "wei").await;
    let credited = server
        .send_ok(
            &partner,
            json!([
                event("f-1", "ling", "shared_bike", json!({ "distance_km": 3.2 })),
                event("f-2", "ling", "no_utensils", json!({})),
                event("f-3", "wei", "no_utensils", json!({})),
            ]),
        )
        .await;
    assert_eq!(credited[0]["grams"].as_i64(), Some(800), "{credited:?}");
    let food = credited[1]["grams"].as_i64().unwrap();
    assert_eq!(credited[2]["grams"].as_i64(), Some(food), "{credited:?}");
    food
}

async fn figures(server: &TestServer, query: &str) -> Reply {
    server.get(&format!("/v1/admin/figures?{query}"), Some(ADMIN_TOKEN)).await
}

async fn the_figures_count_the_windows_acts_by_category_region_and_day() {
    let server = TestServer::start().await;
    let food = city_with_acts(&server).await;
    let (yesterday, today) = (local_day(1), local_day(0));

    let reply = figures(&server, &format!("from={yesterday}&to={today}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let f = &reply.body;
    assert_eq!((f["from"].as_str(), f["to"].as_str()), (Some(yesterday.as_str()), Some(today.as_str())));
    assert_eq!(f["active_citizens"], 2, "the idle citizen is not active: {f}");
    assert_eq!((f["acts"].as_i64(), f["grams"].as_i64()), (Some(3), Some(800 + 2 * food)), "{f}");
    // Categories come in the core's order; compared as a set.
    let mut categories: Vec<Value> = f["by_category"].as_array().unwrap().clone();
    categories.sort_by_key(|t| t["key"].as_str().unwrap().to_owned());
    assert_eq!(
        categories,
        vec![
            json!({ "key": "food", "acts": 2, "grams": 2 * food }),
            json!({ "key": "transport", "acts": 1, "grams": 800 })
        ]
    );
    assert_eq!(
        f["by_region"],
        json!([{ "key": "CN-BJ", "acts": 2, "grams": 800 + food }, { "key": "CN-SH", "acts": 1, "grams": food }])
    );
    assert_eq!(
        f["by_day"],
        json!([{ "key": yesterday, "acts": 0, "grams": 0 }, { "key": today, "acts": 3, "grams": 800 + 2 * food }]),
        "every day of the window, in local days"
    );
    let top: Vec<&str> = f["top_behaviors"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap()).collect();
    assert_eq!(top.len(), 2);
    assert!(top.contains(&"shared_bike") && top.contains(&"no_utensils"), "{top:?}");
    assert_eq!((f["redemptions"].clone(), f["energy_programs"].clone()), (json!([]), json!([])));

    // A window before the acts has none of them.
    let before = figures(&server, &format!("from={}&to={}", local_day(10), local_day(2))).await;
    assert_eq!((before.body["active_citizens"].as_i64(), before.body["acts"].as_i64()), (Some(0), Some(0)));
    assert_eq!(before.body["by_day"].as_array().unwrap().len(), 9);

    // The same figures as CSV.
    let csv = figures(&server, &format!("from={yesterday}&to={today}&format=csv")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let text = csv.body.as_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "figure,key,count,grams,quantity,wh,fen");
    assert!(lines.contains(&"active_citizens,,2,,,,"), "{text}");
    assert!(lines.contains(&format!("total,,3,{},,,", 800 + 2 * food).as_str()), "{text}");
    assert!(lines.contains(&format!("region,CN-SH,1,{food},,,").as_str()), "{text}");
    assert!(lines.contains(&format!("day,{today},3,{},,,", 800 + 2 * food).as_str()), "{text}");
    assert!(lines.contains(&"category,transport,1,800,,,"), "{text}");
}

async fn bad_windows_and_callers_are_refused_with_a_code() {
    let server = TestServer::start().await;
    for query in [
        "from=2026-01-02&to=2026-01-01",
        "from=2024-01-01&to=2025-01-01",
        "from=2026-02-30&to=2026-03-01",
        "from=yesterday&to=2026-03-01",
    ] {
        let reply = figures(&server, query).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "invalid_window"), "{query}: {reply:?}");
    }
    let whole_leap_year = figures(&server, "from=2024-01-01&to=2024-12-31").await;
    assert_eq!(whole_leap_year.status, StatusCode::OK, "366 days are allowed: {whole_leap_year:?}");
    assert_eq!(whole_leap_year.body["by_day"].as_array().unwrap().len(), 366);
    for query in ["from=2026-01-01", "from=2026-01-01&to=2026-01-02&format=xml"] {
        let reply = figures(&server, query).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "invalid_query"), "{query}: {reply:?}");
    }
    let citizen = server.create_citizen("fig-nosy", "CN-BJ").await;
    for bearer in [None, Some(citizen.token.as_str())] {
        let reply = server.get("/v1/admin/figures?from=2026-01-01&to=2026-01-02", bearer).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::UNAUTHORIZED, "unauthorized"), "{reply:?}");
    }
}

async fn redemptions_are_counted_by_kind_and_cancelled_ones_left_out() {
    use crate::redemption::{citizen_with_energy, haloxylon, redeem, sponsor, COMPUTER_G};
    let (server, _clock) = crate::redemption::server().await;
    let partner = server.create_partner(&["use"]).await;
    let ann = citizen_with_energy(&server, &partner, "fig-ann", "CN-BJ", 1).await;
    let foundation = sponsor(&server, "Figures Foundation", None).await;
    let tree = haloxylon(&server, &foundation, 10).await;
    let id = tree["id"].as_str().unwrap();
    let planted = redeem(&server, &ann, id, 2, Some("fig-plant-1")).await;
    assert_eq!(planted.status, StatusCode::CREATED, "{planted:?}");
    let spent = planted.body["energy_grams"].as_i64().unwrap();
    let cancelled = redeem(&server, &ann, id, 1, Some("fig-plant-2")).await;
    let redemption = cancelled.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/me/redemptions/{redemption}/cancel");
    let undone = crate::friends::call(&server, &ann, reqwest::Method::POST, &path, None, None).await;
    assert_eq!(undone.status, StatusCode::OK, "{undone:?}");

    // The act was an hour ago, the redemptions now: in the hour after local
    // midnight they fall on different days, and the window holds both.
    let today = Utc::now().with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap()).date_naive();
    let f = figures(&server, &format!("from={}&to={today}", local_day(1))).await.body;
    assert_eq!(f["redemptions"], json!([{ "kind": "tree", "count": 1, "quantity": 2, "energy_grams": spent }]), "{f}");
    assert_eq!((f["active_citizens"].as_i64(), f["grams"].as_i64()), (Some(1), Some(COMPUTER_G)), "{f}");
    assert_eq!(f["by_category"], json!([{ "key": "use", "acts": 1, "grams": COMPUTER_G }]));
}

crate::contract!(redemptions_are_counted_by_kind_and_cancelled_ones_left_out);

crate::contract!(
    the_figures_count_the_windows_acts_by_category_region_and_day,
    bad_windows_and_callers_are_refused_with_a_code
);
