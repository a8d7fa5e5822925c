//! The dashboard's write forms (issue 13) over HTTP, as a browser without
//! JavaScript uses them: an operator registers a sponsor, creates and funds
//! a pool, creates a project citizens then see in `/redeem` and changes its
//! status, creates a campaign and records a retirement the API then counts,
//! creates a challenge, creates an energy program and events and settles
//! one. A refused form shows the service's error at its field with what was
//! typed kept; an analyst is refused every write.

use chrono::{DateTime, Duration, FixedOffset, Timelike, Utc};
use reqwest::StatusCode;

use crate::harness::*;
use crate::web_admin::{add_operator, sign_in};
use crate::webpage::{Browser, Page};

/// The platform's time zone in the tests (the default settings').
fn platform() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// `at` as a `datetime-local` value in the platform's time zone.
fn local_input(at: DateTime<Utc>) -> String {
    at.with_timezone(&platform()).format("%Y-%m-%dT%H:%M").to_string()
}

/// The whole hour `hours` from now, in UTC.
fn hour(hours: i64) -> DateTime<Utc> {
    let now = Utc::now() + Duration::hours(hours);
    now.with_minute(0).unwrap().with_second(0).unwrap().with_nanosecond(0).unwrap()
}

/// The id (starting with `prefix`) the success notice names.
fn notice_id(page: &Page, prefix: &str) -> String {
    let at = page.html.find(r#"role="status" id="notice">"#).unwrap_or_else(|| panic!("no notice: {}", page.html));
    let notice = &page.html[at..];
    let start = notice.find(prefix).unwrap_or_else(|| panic!("no {prefix} in the notice: {notice}"));
    notice[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

/// The error shown next to field `field` of form `form`.
fn error_at(page: &Page, form: &str, field: &str) -> String {
    let marker = format!(r#"<p class="error" id="{form}-{field}-error">"#);
    let at = page.html.find(&marker).unwrap_or_else(|| panic!("no error at {form}-{field}: {}", page.html));
    let rest = &page.html[at + marker.len()..];
    rest[..rest.find("</p>").unwrap()].to_owned()
}

/// Owned (field, value) pairs as the browser posts them.
fn form<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn admin(server: &TestServer) -> Browser {
    let mut browser = Browser::new(server, "en");
    assert_eq!(sign_in(&mut browser, &[("token", ADMIN_TOKEN)]).await.location(), "/admin");
    browser
}

async fn the_operator_fills_the_catalogue_from_the_dashboard() {
    let server = TestServer::start().await;
    let mut ops = admin(&server).await;
    assert_eq!(ops.get("/admin/catalogue").await.status, StatusCode::OK);

    // A sponsor: a refused kind is said at the kind, the name kept; then it is registered.
    let refused = ops
        .submit(
            "/admin/sponsors",
            "/admin/sponsors",
            &[("name", "Alxa SEE"), ("kind", "charity"), ("budget_units", "40")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
    assert!(error_at(&refused, "sponsor-new", "kind").contains("is not company, foundation or government"));
    assert!(refused.html.contains(r#"name="name" type="text" value="Alxa SEE""#), "{}", refused.html);
    assert!(refused.html.contains(r#"aria-invalid="true" aria-describedby="sponsor-new-kind-error""#));
    let made = ops
        .submit(
            "/admin/sponsors",
            "/admin/sponsors",
            &[("name", "Alxa SEE"), ("kind", "foundation"), ("budget_units", "40")],
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.html);
    let sponsor = notice_id(&made, "spn_");
    let row = format!(r#"<td><code>{sponsor}</code></td><th scope="row">Alxa SEE</th><td>foundation</td><td>40</td>"#);
    assert!(made.html.contains(&row), "{row} in {}", made.html);
    let taken = ops.submit("/admin/sponsors", "/admin/sponsors", &[("name", "Alxa SEE"), ("kind", "company")]).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(error_at(&taken, "sponsor-new", "name"), "A sponsor of this name exists already.");

    // A pool, created then funded (a funding that is no number is refused at the amount).
    let pool = ops
        .submit(
            "/admin/catalogue",
            "/admin/pools",
            &[("name", "Game energy"), ("sponsor", "Ant Forest"), ("unit", "energy_grams"), ("purpose", "")],
        )
        .await;
    assert_eq!(pool.status, StatusCode::CREATED, "{}", pool.html);
    let pool = notice_id(&pool, "pool_");
    let bad = ops.submit("/admin/catalogue", "/admin/pools/fund", &[("pool", &pool), ("amount", "lots")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.html);
    assert!(error_at(&bad, "pool-fund", "amount").contains("is not a whole number"), "{}", bad.html);
    assert!(bad.html.contains(r#"name="amount" type="number" value="lots""#));
    let funded = ops.submit("/admin/catalogue", "/admin/pools/fund", &[("pool", &pool), ("amount", "50000")]).await;
    assert_eq!(funded.status, StatusCode::OK, "{}", funded.html);
    assert!(funded.html.contains(&format!("Pool {pool} is funded: it holds 50000 now.")), "{}", funded.html);
    let pools = server.get("/v1/pools", Some(ADMIN_TOKEN)).await;
    let listed = pools.body["pools"].as_array().unwrap().iter().find(|p| p["id"] == pool.as_str()).unwrap().clone();
    assert_eq!(listed["balance"], 50000, "{pools:?}");

    // A project: details that are no JSON are refused at the details, the rest kept.
    let (opens, closes) = (hour(-24), hour(24 * 30));
    let details =
        r#"{"species": "Haloxylon ammodendron", "site": "Alxa League", "region": "CN-NM", "sequestration_kg": 17.9}"#;
    let project = |details: &'static str| {
        let (opens, closes, sponsor) = (local_input(opens), local_input(closes), sponsor.clone());
        vec![
            ("kind", "tree".to_owned()),
            ("title", "Haloxylon in Alxa".to_owned()),
            ("sponsor_id", sponsor),
            // A tree's price is its sequestration: left empty.
            ("price_grams", String::new()),
            ("stock", "10".to_owned()),
            ("regions", "*".to_owned()),
            ("starts_at", opens),
            ("ends_at", closes),
            ("details", details.to_owned()),
        ]
    };
    let refused = ops.submit("/admin/catalogue", "/admin/projects", &form(&project(r#"{"species": "Haloxylon"#))).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
    assert!(error_at(&refused, "project-new", "details").contains("details: not JSON"), "{}", refused.html);
    assert!(refused.html.contains(r#"value="Haloxylon in Alxa""#), "the title is kept");
    assert!(refused.html.contains("{&quot;species&quot;: &quot;Haloxylon</textarea>"), "the details are kept");
    let created = ops.submit("/admin/catalogue", "/admin/projects", &form(&project(details))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.html);
    let project_id = notice_id(&created, "prj_");
    // The API has it, its times read in the platform's time zone.
    let api = server.get(&format!("/v1/projects/{project_id}"), None).await;
    assert_eq!(api.status, StatusCode::OK, "{api:?}");
    assert_eq!((api.body["title"].as_str(), api.body["status"].as_str()), (Some("Haloxylon in Alxa"), Some("active")));
    assert_eq!(api.body["price_grams"], 17900, "{api:?}");
    let starts = DateTime::parse_from_rfc3339(api.body["starts_at"].as_str().unwrap()).unwrap();
    assert_eq!(starts, opens, "{api:?}");
    // A citizen sees it to redeem.
    let citizen = server.create_citizen("cat-lin", "CN-BJ").await;
    let mut lin = Browser::signed_in(&server, &citizen, "en");
    let redeem = lin.get("/redeem").await;
    assert!(redeem.html.contains("Haloxylon in Alxa"), "{}", redeem.html);

    // Pausing hides it from citizens; an ended project stays ended.
    let status = format!("/admin/projects/{project_id}/status");
    let paused = ops.submit("/admin/catalogue", &status, &[("status", "paused")]).await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.html);
    assert!(paused.html.contains(&format!("Project {project_id} is paused now.")), "{}", paused.html);
    assert_eq!(server.get(&format!("/v1/projects/{project_id}"), None).await.body["status"], "paused");
    assert!(!lin.get("/redeem").await.html.contains("Haloxylon in Alxa"));
    let ended = ops.submit("/admin/catalogue", &status, &[("status", "ended")]).await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.html);
    let reopened = ops.submit("/admin/catalogue", &status, &[("status", "active")]).await;
    assert_eq!(reopened.status, StatusCode::CONFLICT, "{}", reopened.html);
    assert!(reopened.html.contains(r#"<p class="alert" role="alert">A project that ended stays ended.</p>"#));
    assert_eq!(server.get(&format!("/v1/projects/{project_id}"), None).await.body["status"], "ended");

    // A campaign, then a retirement the API counts as the page shows it.
    let campaign = ops
        .submit(
            "/admin/catalogue",
            "/admin/campaigns",
            &[
                ("title", "Greener Games"),
                ("beneficiary", "Hangzhou Asian Games"),
                ("goal_grams", "100000"),
                ("per_person_limit_grams", "1000"),
                ("match_ratio", ""),
                ("sponsor_id", &sponsor),
                ("starts_at", &local_input(hour(-1))),
                ("ends_at", &local_input(hour(24 * 7))),
            ],
        )
        .await;
    assert_eq!(campaign.status, StatusCode::CREATED, "{}", campaign.html);
    let campaign = notice_id(&campaign, "cmp_");
    let retirement = |last: &'static str| {
        vec![
            ("campaign", campaign.clone()),
            ("registry", "CCER".to_owned()),
            ("serial_first", "CCER-2026-000010".to_owned()),
            ("serial_last", last.to_owned()),
            ("quantity_t", "2".to_owned()),
            ("retired_at", local_input(hour(-2))),
            ("beneficiary", "Greener Games".to_owned()),
        ]
    };
    let refused =
        ops.submit("/admin/catalogue", "/admin/campaigns/retirements", &form(&retirement("CCER-2026-000009"))).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
    assert!(error_at(&refused, "retirement-new", "serial_last").contains("must not come before serial_first"));
    assert!(refused.html.contains(r#"value="CCER-2026-000009""#), "{}", refused.html);
    let recorded =
        ops.submit("/admin/catalogue", "/admin/campaigns/retirements", &form(&retirement("CCER-2026-000011"))).await;
    assert_eq!(recorded.status, StatusCode::CREATED, "{}", recorded.html);
    assert!(recorded.html.contains(&format!("2 t retired for {campaign} are recorded.")), "{}", recorded.html);
    let api = server.get(&format!("/v1/campaigns/{campaign}"), None).await;
    assert_eq!((api.body["retired_grams"].as_i64(), api.body["matched"].as_bool()), (Some(2_000_000), Some(true)));
    let row = format!(
        r#"<th scope="row">Greener Games</th><td class="num">0</td><td class="num">{}</td><td>yes</td>"#,
        api.body["retired_grams"]
    );
    assert!(recorded.html.contains(&row), "{row} in {}", recorded.html);

    // A challenge: each bad field is said at its field; then it is created.
    let challenge = |goal: &'static str, team: &'static str| {
        vec![
            ("title", "Car-free week".to_owned()),
            ("metric", "reduction_grams".to_owned()),
            ("category", "transport".to_owned()),
            ("behavior", String::new()),
            ("goal", goal.to_owned()),
            ("starts_at", local_input(hour(1))),
            ("ends_at", local_input(hour(24 * 7))),
            ("team_size_max", team.to_owned()),
            ("reward_grams", "100".to_owned()),
            ("pool", pool.clone()),
        ]
    };
    let refused = ops.submit("/admin/catalogue", "/admin/challenges", &form(&challenge("0", "0"))).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
    assert!(error_at(&refused, "challenge-new", "goal").contains("must be positive"), "{}", refused.html);
    assert!(error_at(&refused, "challenge-new", "team_size_max").contains("must be from 1 to"));
    assert!(refused.html.contains(r#"<option value="transport" selected>"#), "the category is kept");
    let created = ops.submit("/admin/catalogue", "/admin/challenges", &form(&challenge("5000", "5"))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.html);
    let challenge = notice_id(&created, "chl_");
    let api = server.get(&format!("/v1/challenges/{challenge}"), Some(&citizen.token)).await;
    assert_eq!(api.status, StatusCode::OK, "{api:?}");
    assert_eq!(api.body["title"], "Car-free week", "{api:?}");
    assert!(created.html.contains(&format!(r#"<td><code>{challenge}</code></td><th scope="row">Car-free week</th>"#)));
}

async fn energy_programs_and_events_are_made_and_settled_from_the_dashboard() {
    let server = TestServer::start().await;
    let mut ops = admin(&server).await;
    let pool = ops
        .submit(
            "/admin/catalogue",
            "/admin/pools",
            &[("name", "Peak rewards"), ("sponsor", "State Grid"), ("unit", "fen"), ("purpose", "")],
        )
        .await;
    let pool = notice_id(&pool, "pool_");
    assert_eq!(
        ops.submit("/admin/catalogue", "/admin/pools/fund", &[("pool", &pool), ("amount", "100000")]).await.status,
        StatusCode::OK
    );

    // A program: a region that is none is said at the region, the name kept.
    let program = |region: &'static str| {
        vec![
            ("name", "Jiangxi peak saving".to_owned()),
            ("region", region.to_owned()),
            ("reward_fen_per_kwh", "200".to_owned()),
            ("baseline_method", "mean_10_of_10".to_owned()),
            ("emission_factor_source", String::new()),
            ("pool", pool.clone()),
            ("opt_in", "required".to_owned()),
        ]
    };
    let refused = ops.submit("/admin/programs", "/admin/programs", &form(&program("Jiangxi"))).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
    assert!(error_at(&refused, "program-new", "region").starts_with("Not accepted:"), "{}", refused.html);
    assert!(refused.html.contains(r#"value="Jiangxi peak saving""#));
    let created = ops.submit("/admin/programs", "/admin/programs", &form(&program("CN-JX"))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.html);
    let program = notice_id(&created, "prg_");
    let api = server.get("/v1/energy/programs", Some(ADMIN_TOKEN)).await;
    assert!(api.body.to_string().contains(&program), "{api:?}");

    // Events: a start off the quarter hour is refused at the start.
    let ended = hour(-3);
    let off = ended.with_timezone(&platform()).format("%Y-%m-%dT%H:07").to_string();
    let event = |start: String| {
        vec![
            ("program", program.clone()),
            ("start", start),
            ("duration_minutes", "60".to_owned()),
            ("invitations_at", String::new()),
            ("respond_by", String::new()),
            ("cutoff", String::new()),
            ("targets_region", "CN-JX".to_owned()),
            ("targets_user_ids", String::new()),
        ]
    };
    let refused = ops.submit("/admin/programs", "/admin/events", &form(&event(off.clone()))).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
    assert!(error_at(&refused, "event-new", "start").contains("15-minute boundary"), "{}", refused.html);
    assert!(refused.html.contains(&format!(r#"value="{off}""#)), "{}", refused.html);
    // One recorded after the fact (no households in the region), one to come.
    let past = ops.submit("/admin/programs", "/admin/events", &form(&event(local_input(ended)))).await;
    assert_eq!(past.status, StatusCode::CREATED, "{}", past.html);
    let past = notice_id(&past, "dre_");
    let coming = ops.submit("/admin/programs", "/admin/events", &form(&event(local_input(hour(30))))).await;
    assert_eq!(coming.status, StatusCode::CREATED, "{}", coming.html);
    assert!(coming.html.contains("households invited"), "{}", coming.html);
    let coming = notice_id(&coming, "dre_");
    let api = server.get(&format!("/v1/energy/events/{past}"), Some(ADMIN_TOKEN)).await;
    let start = DateTime::parse_from_rfc3339(api.body["start"].as_str().unwrap()).unwrap();
    assert_eq!(start, ended, "the start is read in the platform's time zone: {api:?}");

    // An event to come cannot settle yet: said in its row.
    let early = ops.submit("/admin/programs", &format!("/admin/events/{coming}/settle"), &[]).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.html);
    assert!(early.html.contains(r#"<p class="alert" role="alert">An event settles after its end.</p>"#));
    // The past one settles now; its report says so, as the API's does.
    let settled = ops.submit("/admin/programs", &format!("/admin/events/{past}/settle"), &[]).await;
    assert_eq!(settled.status, StatusCode::OK, "{}", settled.html);
    let report = server.get(&format!("/v1/energy/events/{past}/report"), Some(ADMIN_TOKEN)).await;
    assert_eq!(report.status, StatusCode::OK, "{report:?}");
    // The server's own sweep may have settled it first (nobody's data is missing): the page's version is the API's.
    let version = report.body["event"]["settled_version"].as_i64().unwrap();
    assert!(version >= 1, "{report:?}");
    let said = format!("Event {past} is settled (version {version}; 0 households changed).");
    assert!(settled.html.contains(&said), "{said} in {}", settled.html);
    let page = ops.get(&format!("/admin/events/{past}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let settled_count = format!(r#"id="settled">{}</dd>"#, report.body["households"]["settled"]);
    assert!(page.html.contains(&settled_count), "{settled_count} in {}", page.html);
}

/// A form an analyst tries: (the page it is on, where it posts, its fields).
type Write = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

async fn an_analyst_reads_the_catalogue_but_writes_nothing() {
    let server = TestServer::start().await;
    let url = server.database_url.clone();
    let _db = server.stop().await;
    let added = add_operator(&url, "cat-analyst", "analyst", "analyst-password-1", false);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let server = TestServer::start_on(&url).await;
    let mut analyst = Browser::new(&server, "en");
    let signed = sign_in(&mut analyst, &[("username", "cat-analyst"), ("password", "analyst-password-1")]).await;
    assert_eq!(signed.location(), "/admin");
    assert_eq!(analyst.get("/admin/catalogue").await.status, StatusCode::OK);
    assert_eq!(analyst.get("/admin/programs").await.status, StatusCode::OK);
    let writes: [Write; 4] = [
        ("/admin/sponsors", "/admin/sponsors", &[("name", "Analyst Fund"), ("kind", "company")]),
        ("/admin/catalogue", "/admin/pools", &[("name", "Analyst pool"), ("sponsor", "Analyst"), ("unit", "fen")]),
        ("/admin/catalogue", "/admin/campaigns", &[("title", "Analyst campaign")]),
        ("/admin/programs", "/admin/programs", &[("name", "Analyst program"), ("region", "CN-JX")]),
    ];
    for (page, action, fields) in writes {
        let refused = analyst.submit(page, action, fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{action}: {}", refused.html);
        assert!(refused.html.contains("An analyst reads figures and reports only"), "{}", refused.html);
    }
    assert!(!server.get("/v1/sponsors", Some(ADMIN_TOKEN)).await.body.to_string().contains("Analyst"));
    assert!(!server.get("/v1/pools", Some(ADMIN_TOKEN)).await.body.to_string().contains("Analyst"));
    assert!(!server.get("/v1/energy/programs", Some(ADMIN_TOKEN)).await.body.to_string().contains("Analyst"));
}

crate::contract!(
    the_operator_fills_the_catalogue_from_the_dashboard,
    energy_programs_and_events_are_made_and_settled_from_the_dashboard,
    an_analyst_reads_the_catalogue_but_writes_nothing
);
