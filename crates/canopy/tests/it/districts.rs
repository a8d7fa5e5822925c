//! A citizen's district (issue 13): given at sign-up or in the profile
//! (`PATCH /v1/me`, the settings and sign-up forms), refused with
//! `invalid_district` when it is not a county-level GB/T 2260 code of the
//! citizen's province, and the city figures by city and district (JSON, CSV
//! and the dashboard, equal), grouped by each citizen's current district.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::admin_figures::local_day;
use crate::harness::*;
use crate::web_admin::sign_in;
use crate::webpage::Browser;

/// Registers a citizen with `district` (or none) over the API and signs in.
async fn citizen_in(server: &TestServer, username: &str, region: &str, district: Option<&str>) -> Citizen {
    let mut body = json!({ "username": username, "password": PASSWORD, "display_name": username, "region": region });
    if let Some(district) = district {
        body["district"] = json!(district);
    }
    let created = server.post("/v1/users", None, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.body["district"], json!(district), "{created:?}");
    let session = server.post("/v1/sessions", None, json!({ "username": username, "password": PASSWORD })).await;
    assert_eq!(session.status, StatusCode::OK, "{session:?}");
    Citizen {
        id: created.body["id"].as_str().unwrap().to_owned(),
        username: username.to_owned(),
        token: session.body["token"].as_str().unwrap().to_owned(),
    }
}

async fn patch_me(server: &TestServer, citizen: &Citizen, body: Value) -> Reply {
    server.request(Method::PATCH, "/v1/me", Some(&citizen.token), Some(body)).await
}

/// The district fields of `GET /v1/me`.
async fn place(server: &TestServer, citizen: &Citizen) -> (Value, Value, Value, Value, Value) {
    let me = server.me(citizen).await;
    (
        me["region"].clone(),
        me["district"].clone(),
        me["district_name"].clone(),
        me["city"].clone(),
        me["city_name"].clone(),
    )
}

async fn a_citizen_gives_changes_and_clears_their_district() {
    let server = TestServer::start().await;

    // At sign-up: refused unless a county-level code of the region, with a sentence saying why.
    for (district, why) in [
        ("12345", "six digits"),
        ("119999", "not a GB/T 2260 division"),
        ("110000", "not a district or county"),
        ("110100", "not a district or county"),
        ("310104", "not in the region CN-BJ"),
    ] {
        let body = json!({ "username": "dis-nope", "password": PASSWORD, "display_name": "N", "region": "CN-BJ",
                           "district": district });
        let refused = server.post("/v1/users", None, body).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, "invalid_district"), "{refused:?}");
        assert!(refused.body["detail"].as_str().unwrap().contains(why), "{district}: {refused:?}");
    }
    let lan = citizen_in(&server, "dis-lan", "CN-BJ", Some("110108")).await;
    assert_eq!(
        place(&server, &lan).await,
        (json!("CN-BJ"), json!("110108"), json!("海淀区"), json!("110100"), json!("北京市"))
    );
    let none = citizen_in(&server, "dis-none", "CN-BJ", None).await;
    assert_eq!(place(&server, &none).await, (json!("CN-BJ"), Value::Null, Value::Null, Value::Null, Value::Null));

    // PATCH /v1/me: a new district answers as GET /v1/me.
    let moved = patch_me(&server, &lan, json!({ "district": "110105" })).await;
    assert_eq!(moved.status, StatusCode::OK, "{moved:?}");
    assert_eq!(
        (moved.body["district"].as_str(), moved.body["district_name"].as_str()),
        (Some("110105"), Some("朝阳区"))
    );
    for bad in ["999999", "110000", "310104", "", "11010８"] {
        let refused = patch_me(&server, &lan, json!({ "district": bad })).await;
        assert_eq!(
            (refused.status, refused.code()),
            (StatusCode::BAD_REQUEST, "invalid_district"),
            "{bad}: {refused:?}"
        );
    }
    assert_eq!(server.me(&lan).await["district"], "110105", "a refused change changes nothing");

    // Moving to another province with a district of the old one is refused, unless the district comes along.
    let alone = patch_me(&server, &lan, json!({ "region": "CN-SH", "display_name": "Lan" })).await;
    assert_eq!((alone.status, alone.code()), (StatusCode::BAD_REQUEST, "invalid_district"), "{alone:?}");
    assert!(alone.body["detail"].as_str().unwrap().contains("110105"), "{alone:?}");
    let me = server.me(&lan).await;
    assert_eq!((me["region"].as_str(), me["display_name"].as_str()), (Some("CN-BJ"), Some("dis-lan")));
    let together = patch_me(&server, &lan, json!({ "region": "CN-SH", "district": "310104" })).await;
    assert_eq!(together.status, StatusCode::OK, "{together:?}");
    assert_eq!(
        place(&server, &lan).await,
        (json!("CN-SH"), json!("310104"), json!("徐汇区"), json!("310100"), json!("上海市"))
    );
    // A district of the new region is checked against it.
    let wrong = patch_me(&server, &lan, json!({ "region": "CN-BJ", "district": "310104" })).await;
    assert_eq!(wrong.code(), "invalid_district", "{wrong:?}");

    // Null clears it; then the region may change alone; leaving the district out keeps it.
    let cleared = patch_me(&server, &lan, json!({ "district": null })).await;
    assert_eq!((cleared.status, cleared.body["district"].clone()), (StatusCode::OK, Value::Null), "{cleared:?}");
    assert_eq!(cleared.body["city"], Value::Null);
    let region_only = patch_me(&server, &lan, json!({ "region": "CN-BJ" })).await;
    assert_eq!(region_only.status, StatusCode::OK, "{region_only:?}");
    patch_me(&server, &lan, json!({ "district": "110108" })).await;
    let renamed = patch_me(&server, &lan, json!({ "display_name": "Lan Lan" })).await;
    assert_eq!(renamed.body["district"], "110108", "{renamed:?}");
    // A district in a region without GB/T 2260 districts is refused.
    let hong_kong = patch_me(&server, &none, json!({ "region": "CN-HK", "district": "110108" })).await;
    assert_eq!(hong_kong.code(), "invalid_district", "{hong_kong:?}");

    // The export holds it.
    let export = server.get("/v1/me/export", Some(&lan.token)).await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(export.body["sections"]["profile"]["records"][0]["district"], "110108", "{:?}", export.body);
}

/// Four citizens: two in Beijing districts (Haidian, Chaoyang), one in
/// Shanghai's Xuhui, one in Beijing without a district, Ling riding and
/// each ordering a takeaway without utensils. Returns them and
/// the grams of one takeaway order.
async fn city_with_districts(server: &TestServer) -> (Vec<Citizen>, i64) {
    let ling = citizen_in(server, "dis-ling", "CN-BJ", Some("110108")).await;
    let chen = citizen_in(server, "dis-chen", "CN-BJ", None).await;
    let set = patch_me(server, &chen, json!({ "district": "110105" })).await;
    assert_eq!(set.status, StatusCode::OK, "{set:?}");
    let wei = citizen_in(server, "dis-wei", "CN-BJ", None).await;
    let shu = citizen_in(server, "dis-shu", "CN-SH", Some("310104")).await;
    let partner = server.create_partner(&["transport", "food"]).await;
    for (citizen, user_ref) in [(&ling, "ling"), (&chen, "chen"), (&wei, "wei"), (&shu, "shu")] {
        server.link(citizen, &partner, &["transport", "food"], user_ref).await;
    }
    let credited = server
        .send_ok(
            &partner,
            json!([
                event("d-1", "ling", "shared_bike", json!({ "distance_km": 3.2 })),
                event("d-2", "ling", "no_utensils", json!({})),
                event("d-3", "chen", "no_utensils", json!({})),
                event("d-4", "wei", "no_utensils", json!({})),
                event("d-5", "shu", "no_utensils", json!({})),
            ]),
        )
        .await;
    assert_eq!(credited[0]["grams"].as_i64(), Some(800), "{credited:?}");
    let food = credited[1]["grams"].as_i64().unwrap();
    assert!(food > 0 && credited[2..].iter().all(|c| c["grams"] == food), "{credited:?}");
    (vec![ling, chen, wei, shu], food)
}

fn place_row(key: &str, name: Option<&str>, acts: i64, grams: i64) -> Value {
    json!({ "key": key, "name": name, "acts": acts, "grams": grams })
}

async fn the_figures_count_acts_by_the_citizens_current_city_and_district_in_json_csv_and_the_dashboard() {
    let server = TestServer::start().await;
    let (citizens, food) = city_with_districts(&server).await;
    let (from, to) = (local_day(1), local_day(0));
    let path = format!("/v1/admin/figures?from={from}&to={to}");

    let f = server.get(&path, Some(ADMIN_TOKEN)).await;
    assert_eq!(f.status, StatusCode::OK, "{f:?}");
    let f = f.body;
    assert_eq!(
        f["by_district"],
        json!([
            place_row("110105", Some("朝阳区"), 1, food),
            place_row("110108", Some("海淀区"), 2, 800 + food),
            place_row("310104", Some("徐汇区"), 1, food),
            place_row("unknown", None, 1, food),
        ]),
        "{f}"
    );
    assert_eq!(
        f["by_city"],
        json!([
            place_row("110100", Some("北京市"), 3, 800 + 2 * food),
            place_row("310100", Some("上海市"), 1, food),
            place_row("unknown", None, 1, food),
        ]),
        "{f}"
    );
    assert_eq!(f["grams"].as_i64(), Some(800 + 4 * food), "the districts add up to the total: {f}");

    // The CSV has the same rows, keyed by code.
    let csv = server.get(&format!("{path}&format=csv"), Some(ADMIN_TOKEN)).await;
    let text = csv.body.as_str().unwrap().to_owned();
    for line in [
        format!("city,110100,3,{},,,", 800 + 2 * food),
        format!("city,310100,1,{food},,,"),
        format!("city,unknown,1,{food},,,"),
        format!("district,110105,1,{food},,,"),
        format!("district,110108,2,{},,,", 800 + food),
        format!("district,310104,1,{food},,,"),
        format!("district,unknown,1,{food},,,"),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }

    // The dashboard shows the API's rows, and its CSV is the API's.
    let mut browser = Browser::new(&server, "en");
    let signed = sign_in(&mut browser, &[("token", ADMIN_TOKEN)]).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.html);
    let page = browser.get(&format!("/admin?from={from}&to={to}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("Reductions by city") && page.html.contains("Reductions by district"));
    for figure in ["by_city", "by_district"] {
        for row in f[figure].as_array().unwrap() {
            let name = row["name"].as_str().unwrap_or("Unknown (no district given)");
            let shown = format!(
                r#"<th scope="row">{name}</th><td>{}</td><td>{}</td><td>{}</td>"#,
                row["key"].as_str().unwrap(),
                row["acts"],
                row["grams"]
            );
            assert!(page.html.contains(&shown), "{figure}: {shown} in {}", page.html);
        }
    }
    let dashboard_csv = browser.get(&format!("/admin/figures.csv?from={from}&to={to}")).await;
    assert_eq!(dashboard_csv.html, text);
    let zh = {
        let mut zh = Browser::new(&server, "zh-CN");
        sign_in(&mut zh, &[("token", ADMIN_TOKEN)]).await;
        zh.get(&format!("/admin?from={from}&to={to}")).await
    };
    assert!(zh.html.contains("各区县减排量") && zh.html.contains("未知（未填写区县）"), "{}", zh.html);

    // A citizen who moves takes their history along: Chen moves to Haidian.
    let chen = &citizens[1];
    assert_eq!(patch_me(&server, chen, json!({ "district": "110108" })).await.status, StatusCode::OK);
    let after = server.get(&path, Some(ADMIN_TOKEN)).await.body;
    assert_eq!(after["by_district"][0], place_row("110108", Some("海淀区"), 3, 800 + 2 * food), "{after}");

    // A deleted account keeps its district for the totals.
    let ling = &citizens[0];
    let deleted = server.request(Method::DELETE, "/v1/me", Some(&ling.token), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    let erased = server.get(&path, Some(ADMIN_TOKEN)).await.body;
    assert_eq!(erased["by_district"], after["by_district"], "{erased}");
}

async fn the_signup_and_settings_forms_take_a_district_with_its_error_next_to_it() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server, "en");
    let form = browser.get("/signup").await;
    assert!(form.html.contains("Six-digit code, e.g. 110108 for Haidian."), "{}", form.html);
    let fields = |district: &'static str| {
        [
            ("username", "dis-web"),
            ("password", PASSWORD),
            ("display_name", "Web"),
            ("region", "cn-bj"),
            ("district", district),
        ]
    };
    let refused = browser.submit("/signup", "/signup", &fields("310104")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.html.contains(r#"id="district-error">Give the six-digit code of a district of your home region"#),
        "{}",
        refused.html
    );
    assert!(refused.html.contains(r#"value="310104""#), "what was typed stays: {}", refused.html);
    let made = browser.submit("/signup", "/signup", &fields(" 110108 ")).await;
    assert_eq!((made.status, made.location()), (StatusCode::SEE_OTHER, "/"), "{}", made.html);

    // The settings show it, its place, and refuse a wrong one next to the field.
    let session = browser.cookies["canopy_session"].clone();
    let web = Citizen { id: String::new(), username: "dis-web".to_owned(), token: session };
    let me = server.get("/v1/me", Some(&web.token)).await.body;
    assert_eq!(me["district"], "110108", "{me}");
    let page = browser.get("/settings").await;
    assert!(page.html.contains(r#"id="district" name="district" type="text" value="110108""#), "{}", page.html);
    assert!(page.html.contains("海淀区 · 北京市"), "{}", page.html);
    let bad = browser
        .submit(
            "/settings",
            "/settings/profile",
            &[("display_name", "Web"), ("region", "CN-BJ"), ("district", "999999")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.html.contains(r#"id="district-error">Give the six-digit code"#), "{}", bad.html);
    assert!(bad.html.contains(r#"aria-describedby="district-hint district-error""#), "{}", bad.html);
    // Moving to Shanghai with the Beijing district still in the field is refused at the district.
    let moved = browser
        .submit(
            "/settings",
            "/settings/profile",
            &[("display_name", "Web"), ("region", "CN-SH"), ("district", "110108")],
        )
        .await;
    assert_eq!(moved.status, StatusCode::BAD_REQUEST);
    assert!(moved.html.contains(r#"id="district-error">"#), "{}", moved.html);
    assert_eq!(server.get("/v1/me", Some(&web.token)).await.body["region"], "CN-BJ");
    // In Chinese too.
    let mut zh = Browser::signed_in(&server, &web, "zh-CN");
    let zh_bad = zh
        .submit("/settings", "/settings/profile", &[("display_name", "Web"), ("region", "CN-BJ"), ("district", "1")])
        .await;
    assert!(zh_bad.html.contains(r#"id="district-error">请填写你所在地区内区县的六位代码"#), "{}", zh_bad.html);
    // Emptied, the field clears the district.
    let cleared = browser
        .submit("/settings", "/settings/profile", &[("display_name", "Web"), ("region", "CN-SH"), ("district", "")])
        .await;
    assert_eq!((cleared.status, cleared.location()), (StatusCode::SEE_OTHER, "/settings?saved=profile"));
    let me = server.get("/v1/me", Some(&web.token)).await.body;
    assert_eq!((me["region"].as_str(), me["district"].clone()), (Some("CN-SH"), Value::Null), "{me}");
}

crate::contract!(
    a_citizen_gives_changes_and_clears_their_district,
    the_figures_count_acts_by_the_citizens_current_city_and_district_in_json_csv_and_the_dashboard,
    the_signup_and_settings_forms_take_a_district_with_its_error_next_to_it
);
