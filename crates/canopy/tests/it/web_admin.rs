//! The operator's dashboard (issue 13) over HTTP, as a browser without
//! JavaScript uses it: signing in with the admin token and with operator
//! accounts made by `canopy operators add`, an analyst refused a write,
//! the dashboard's figures and CSV equal to the API's, creating a partner.

use reqwest::StatusCode;

use crate::admin_figures::{city_with_acts, local_day};
use crate::harness::*;
use crate::process::canopy;
use crate::webpage::Browser;

/// Adds an operator with `canopy operators add` (password on standard input
/// or from the environment) to the database at `url`.
pub(crate) fn add_operator(
    url: &str,
    username: &str,
    role: &str,
    password: &str,
    on_stdin: bool,
) -> std::process::Output {
    use std::io::Write;
    let mut command = canopy();
    command.args(["operators", "add", username, "--role", role]).env("CANOPY_DATABASE_URL", url);
    command.env_remove("CANOPY_OPERATOR_PASSWORD");
    if !url.starts_with("postgres") {
        // SQLite's partner secrets are sealed with the key file beside the database.
        command.env_remove("CANOPY_SECRET_KEY");
    }
    if !on_stdin {
        command.env("CANOPY_OPERATOR_PASSWORD", password);
    }
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if on_stdin {
        writeln!(stdin, "{password}").unwrap();
    }
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) async fn sign_in(browser: &mut Browser, fields: &[(&str, &str)]) -> crate::webpage::Page {
    browser.submit("/admin/login", "/admin/login", fields).await
}

async fn the_admin_token_opens_a_session_whose_figures_and_csv_are_the_apis() {
    let server = TestServer::start().await;
    let food = city_with_acts(&server).await;

    // A visitor is sent to sign in; a wrong token is refused.
    let mut browser = Browser::new(&server, "en");
    let visitor = browser.get("/admin").await;
    assert_eq!((visitor.status, visitor.location()), (StatusCode::SEE_OTHER, "/admin/login"));
    let wrong = sign_in(&mut browser, &[("token", "not-the-token")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("wrong admin token"), "{}", wrong.html);
    // A form without its token is refused.
    let forged = browser.post("/admin/login", &[("token", ADMIN_TOKEN)]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.html);

    let signed = sign_in(&mut browser, &[("token", ADMIN_TOKEN)]).await;
    assert_eq!((signed.status, signed.location()), (StatusCode::SEE_OTHER, "/admin"), "{}", signed.html);
    let cookie =
        signed.set_cookies().into_iter().find(|c| c.starts_with("canopy_operator=")).expect("a session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let session = browser.cookies["canopy_operator"].clone();
    assert!(session.len() == 64 && !cookie.contains(ADMIN_TOKEN), "the cookie holds a session of its own: {cookie}");

    // The dashboard's figures are the API's over the same window.
    let (from, to) = (local_day(6), local_day(0));
    let page = browser.get(&format!("/admin?from={from}&to={to}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let api = server.get(&format!("/v1/admin/figures?from={from}&to={to}"), Some(ADMIN_TOKEN)).await.body;
    let html = &page.html;
    assert!(html.contains(&format!(r#"<dd id="active-citizens">{}</dd>"#, api["active_citizens"])), "{html}");
    assert!(html.contains(&format!(r#"<dd id="total-acts">{}</dd>"#, api["acts"])), "{html}");
    assert!(html.contains(&format!(r#"<dd id="total-grams">{}</dd>"#, api["grams"])), "{html}");
    assert_eq!(api["grams"].as_i64(), Some(800 + 2 * food));
    for region in api["by_region"].as_array().unwrap() {
        let row = format!(
            r#"<th scope="row">{}</th><td>{}</td><td>{}</td>"#,
            region["key"].as_str().unwrap(),
            region["acts"],
            region["grams"]
        );
        assert!(html.contains(&row), "{row} in {html}");
    }
    let today = &api["by_day"].as_array().unwrap()[6];
    assert!(
        html.contains(&format!(r#"<th scope="row">{to}</th><td>{}</td><td>{}</td>"#, today["acts"], today["grams"]))
    );
    assert!(html.contains("<svg") && html.contains("Transport") && html.contains("Food"), "charts by category");
    assert!(html.contains("Admin token (admin)"), "who is signed in: {html}");

    // The CSV download is the API's CSV.
    let link = format!("/admin/figures.csv?from={from}&amp;to={to}");
    assert!(html.contains(&link), "{html}");
    let csv = browser.get(&format!("/admin/figures.csv?from={from}&to={to}")).await;
    assert_eq!(csv.status, StatusCode::OK);
    let api_csv = server.get(&format!("/v1/admin/figures?from={from}&to={to}&format=csv"), Some(ADMIN_TOKEN)).await;
    assert_eq!(csv.html, api_csv.body.as_str().unwrap());

    // A bad window is said on the page.
    let bad = browser.get(&format!("/admin?from={to}&to={from}")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.html.contains("at most 366 days apart"), "{}", bad.html);

    // The sponsors, as the API made them.
    let made = server
        .post(
            "/v1/sponsors",
            Some(ADMIN_TOKEN),
            serde_json::json!({ "name": "Alxa SEE", "kind": "foundation", "budget_units": 40 }),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let sponsors = browser.get("/admin/sponsors").await;
    assert_eq!(sponsors.status, StatusCode::OK);
    let row = format!(
        r#"<td><code>{}</code></td><th scope="row">Alxa SEE</th><td>foundation</td><td>40</td><td>0</td>"#,
        made.body["id"].as_str().unwrap()
    );
    assert!(sponsors.html.contains(&row), "{row} in {}", sponsors.html);

    // Signing out ends the session: the old cookie opens nothing.
    let out = browser.submit("/admin", "/admin/logout", &[]).await;
    assert_eq!((out.status, out.location()), (StatusCode::SEE_OTHER, "/admin/login"));
    let mut replay = Browser::new(&server, "en");
    replay.cookies.insert("canopy_operator".to_owned(), session);
    assert_eq!(replay.get("/admin").await.location(), "/admin/login");
}

async fn operator_accounts_sign_in_and_an_analyst_cannot_write() {
    let server = TestServer::start().await;
    let url = server.database_url.clone();
    let _db = server.stop().await;
    let added = add_operator(&url, "ops-admin", "admin", "admin-password-1", true);
    assert!(added.status.success(), "{}", text(&added.stderr));
    assert!(text(&added.stdout).contains("operator ops-admin added with the role admin"), "{}", text(&added.stdout));
    let added = add_operator(&url, "ops-analyst", "analyst", "analyst-password-1", false);
    assert!(added.status.success(), "{}", text(&added.stderr));
    let taken = add_operator(&url, "ops-analyst", "admin", "another-password", false);
    assert!(!taken.status.success() && text(&taken.stderr).contains("username_taken"), "{}", text(&taken.stderr));
    let weak = add_operator(&url, "ops-weak", "admin", "short", false);
    assert!(!weak.status.success() && text(&weak.stderr).contains("weak_password"), "{}", text(&weak.stderr));
    let server = TestServer::start_on(&url).await;

    // A wrong password is refused; the analyst signs in and reads the figures.
    let mut analyst = Browser::new(&server, "en");
    let wrong = sign_in(&mut analyst, &[("username", "ops-analyst"), ("password", "wrong-password")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let signed = sign_in(&mut analyst, &[("username", "ops-analyst"), ("password", "analyst-password-1")]).await;
    assert_eq!((signed.status, signed.location()), (StatusCode::SEE_OTHER, "/admin"));
    let dashboard = analyst.get("/admin").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    assert!(dashboard.html.contains("ops-analyst (analyst)"), "{}", dashboard.html);
    // …but may not create a partner.
    let refused = analyst
        .submit("/admin/partners", "/admin/partners", &[("name", "Analyst Bikes"), ("categories", "transport")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert!(refused.html.contains("An analyst reads figures and reports only"), "{}", refused.html);
    assert!(!analyst.get("/admin/partners").await.html.contains("Analyst Bikes"));

    // The admin creates one; its secret is shown once, and the API lists it.
    let mut admin = Browser::new(&server, "en");
    let signed = sign_in(&mut admin, &[("username", "ops-admin"), ("password", "admin-password-1")]).await;
    assert_eq!(signed.location(), "/admin");
    let invalid = admin.submit("/admin/partners", "/admin/partners", &[("name", "No Categories")]).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST, "{}", invalid.html);
    assert!(invalid.html.contains("Choose at least one category") && invalid.html.contains("No Categories"));
    let created = admin
        .submit(
            "/admin/partners",
            "/admin/partners",
            &[
                ("name", "Green Bikes"),
                ("categories", "transport"),
                ("categories", "food"),
                ("regions", "cn-bj, CN-SH"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.html);
    assert!(created.html.contains(r#"<code id="new-secret">"#), "{}", created.html);
    assert!(created.html.contains("Green Bikes") && created.html.contains("CN-BJ, CN-SH"), "{}", created.html);
    assert!(!admin.get("/admin/partners").await.html.contains(r#"id="new-secret""#), "shown once");
    let listed = server.get("/v1/partners", Some(ADMIN_TOKEN)).await;
    assert!(listed.body.to_string().contains("Green Bikes"), "{listed:?}");

    // Suspending a partner: the analyst may not; the admin's suspension stops its requests at once.
    let citizen = server.create_citizen("ops-rider", "CN-BJ").await;
    let partner = server.create_partner(&["transport"]).await;
    server.link(&citizen, &partner, &["transport"], "rider").await;
    let ride =
        |id: &str| serde_json::json!([event(id, "rider", "shared_bike", serde_json::json!({ "distance_km": 1 }))]);
    assert_eq!(server.send_events(&partner, ride("r-1")).await.status, StatusCode::OK);
    let suspend = format!("/admin/partners/{}/suspend", partner.id);
    let refused = analyst.submit("/admin/partners", &suspend, &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert_eq!(server.send_events(&partner, ride("r-2")).await.status, StatusCode::OK, "still working");
    let suspended = admin.submit("/admin/partners", &suspend, &[]).await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.html);
    assert!(suspended.html.contains(&format!("{} is suspended", partner.id)), "{}", suspended.html);
    let after = server.send_events(&partner, ride("r-3")).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{after:?}");
    // Rotating its secret resumes it, with the secret shown once.
    let rotated = admin.submit("/admin/partners", &format!("/admin/partners/{}/rotate", partner.id), &[]).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.html);
    let at =
        rotated.html.find(r#"<code id="new-secret">"#).expect("the new secret") + r#"<code id="new-secret">"#.len();
    let secret = rotated.html[at..].split('<').next().unwrap().to_owned();
    let resumed = Partner { id: partner.id.clone(), secret };
    assert_eq!(server.send_events(&resumed, ride("r-4")).await.status, StatusCode::OK, "resumed");
    assert_eq!(
        server.send_events(&partner, ride("r-5")).await.status,
        StatusCode::UNAUTHORIZED,
        "the old secret stays off"
    );
    let unknown = server.post("/v1/partners/ptn_999/suspend", Some(ADMIN_TOKEN), serde_json::json!({})).await;
    assert_eq!((unknown.status, unknown.code()), (StatusCode::NOT_FOUND, "partner_not_found"), "{unknown:?}");
    // The API suspends it too: the resumed secret stops; a second suspension retires nothing.
    let path = format!("/v1/partners/{}/suspend", partner.id);
    let first = server.post(&path, Some(ADMIN_TOKEN), serde_json::json!({})).await;
    assert_eq!((first.status, first.body["retired_secrets"].as_i64()), (StatusCode::OK, Some(1)), "{first:?}");
    assert_eq!(server.send_events(&resumed, ride("r-6")).await.status, StatusCode::UNAUTHORIZED);
    let again = server.post(&path, Some(ADMIN_TOKEN), serde_json::json!({})).await;
    assert_eq!((again.status, again.body["retired_secrets"].as_i64()), (StatusCode::OK, Some(0)), "{again:?}");
}

pub(crate) const SCOOTER: &str = r#"id = "admin-scooter"
version = "1"
title = "Shared e-scooter ride (dashboard test)"
issuer = "Test Authority"
source = "integration test"
behavior = "admin_scooter"
category = "transport"
regions = ["*"]
valid_from = 2020-01-01

[inputs.distance_km]
unit = "km"
type = "number"
exclusive_minimum = 0
maximum = "fifty"

[formula]
baseline = "round(120.6 * distance_km)"
project = "20 * distance_km"

[caps]
per_day_grams = 1000
"#;

async fn a_methodology_with_an_error_is_shown_at_its_line_then_published_fixed() {
    let server = TestServer::start().await;
    let mut admin = Browser::new(&server, "en");
    assert_eq!(sign_in(&mut admin, &[("token", ADMIN_TOKEN)]).await.location(), "/admin");
    let list = admin.get("/admin/methodologies").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.html.contains("cn-bj-shared-bike@"), "the shipped ones are listed: {}", list.html);

    let refused = admin
        .submit("/admin/methodologies", "/admin/methodologies", &[("source_name", "scooter.toml"), ("text", SCOOTER)])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
    let line = SCOOTER.lines().position(|l| l.starts_with("maximum")).unwrap() + 1;
    let marked = format!(
        r#"<li class="error-line" id="line-{line}"><code>maximum = &quot;fifty&quot;</code><p class="error">Line {line}: scooter.toml: inputs.distance_km.maximum"#
    );
    assert!(refused.html.contains(&marked), "{marked} in {}", refused.html);
    assert_eq!(refused.html.matches(r#"class="error-line""#).count(), 1, "only the faulty line is marked");
    assert!(
        refused.html.contains("(dashboard test)&quot;\nissuer = &quot;Test Authority&quot;\n"),
        "the text is kept in the form, to fix: {}",
        refused.html
    );

    let fixed = SCOOTER.replace("maximum = \"fifty\"", "maximum = 50");
    let published = admin
        .submit("/admin/methodologies", "/admin/methodologies", &[("source_name", "scooter.toml"), ("text", &fixed)])
        .await;
    assert_eq!(
        (published.status, published.location()),
        (StatusCode::SEE_OTHER, "/admin/methodologies/admin-scooter/1")
    );
    let view = admin.get("/admin/methodologies/admin-scooter/1").await;
    assert_eq!(view.status, StatusCode::OK);
    assert!(view.html.contains("Shared e-scooter ride (dashboard test)") && view.html.contains("admin_scooter"));
    let api = server.get("/v1/methodologies", None).await;
    assert!(api.body.to_string().contains("admin-scooter"), "the API has it too");
}

/// The text of the page's `<textarea>`, unescaped as a browser shows it.
fn textarea(html: &str) -> String {
    let start = html.find("<textarea").map(|at| at + html[at..].find('>').unwrap() + 1).expect("a textarea");
    let end = start + html[start..].find("</textarea>").unwrap();
    html[start..end].replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

async fn a_methodology_is_published_from_a_file_and_superseded_from_its_page() {
    let server = TestServer::start().await;
    let mut admin = Browser::new(&server, "en");
    assert_eq!(sign_in(&mut admin, &[("token", ADMIN_TOKEN)]).await.location(), "/admin");
    let fixed = SCOOTER.replace("maximum = \"fifty\"", "maximum = 50");

    // A file with an error: refused, its error at its line, the file's name kept.
    let refused =
        admin.upload("/admin/methodologies", "/admin/methodologies", &[], ("file", "scooter.toml", SCOOTER)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
    assert!(
        refused.html.contains(r#"class="error-line""#) && refused.html.contains(r#"value="scooter.toml""#),
        "{}",
        refused.html
    );
    // Too large a file is refused before the service sees it.
    let huge = format!("{fixed}\n# {}\n", "x".repeat(70 * 1024));
    let too_large =
        admin.upload("/admin/methodologies", "/admin/methodologies", &[], ("file", "huge.toml", &huge)).await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", too_large.html);
    assert!(too_large.html.contains("at most 64 KiB"), "{}", too_large.html);
    // A form without its token is refused.
    let forged = admin
        .upload("/admin/methodologies", "/admin/methodologies", &[("csrf", "forged")], ("file", "s.toml", &fixed))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // The fixed file, uploaded with nothing typed: published under the file's name.
    let published = admin
        .upload(
            "/admin/methodologies",
            "/admin/methodologies",
            &[("source_name", ""), ("text", "")],
            ("file", "scooter.toml", &fixed),
        )
        .await;
    assert_eq!(
        (published.status, published.location()),
        (StatusCode::SEE_OTHER, "/admin/methodologies/admin-scooter/1"),
        "{}",
        published.html
    );

    // Its page offers to supersede it: a draft of version 2, in force from tomorrow.
    let view = admin.get("/admin/methodologies/admin-scooter/1").await;
    assert!(view.html.contains(r#"name="supersede" value="admin-scooter@1""#), "{}", view.html);
    let tomorrow = || {
        let tz = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        (chrono::Utc::now().with_timezone(&tz).date_naive() + chrono::Days::new(1)).to_string()
    };
    let before = tomorrow();
    let draft_page = admin.get("/admin/methodologies?supersede=admin-scooter@1").await;
    let after = tomorrow();
    assert_eq!(draft_page.status, StatusCode::OK);
    assert!(draft_page.html.contains(r#"value="admin-scooter-2.toml""#), "{}", draft_page.html);
    let draft = textarea(&draft_page.html);
    let in_force = |day: &str| draft.contains(&format!("version = \"2\"\nsupersedes = \"1\"\nvalid_from = {day}\n"));
    assert!(in_force(&before) || in_force(&after), "{draft}");
    assert!(draft.contains("[caps]\nper_day_grams = 1000"), "the rest as published: {draft}");
    let unknown = admin.get("/admin/methodologies?supersede=admin-scooter@9").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // The operator changes the factor and publishes the draft.
    let edited = draft.replace("20 * distance_km", "25 * distance_km");
    let second = admin
        .submit(
            "/admin/methodologies",
            "/admin/methodologies",
            &[("source_name", "admin-scooter-2.toml"), ("text", &edited)],
        )
        .await;
    assert_eq!(
        (second.status, second.location()),
        (StatusCode::SEE_OTHER, "/admin/methodologies/admin-scooter/2"),
        "{}",
        second.html
    );
    let old = admin.get("/admin/methodologies/admin-scooter/1").await;
    assert!(!old.html.contains(r#"name="supersede""#), "a superseded version offers no second successor: {}", old.html);
    let api = server.get("/v1/methodologies", None).await;
    let versions: Vec<&serde_json::Value> =
        api.body["methodologies"].as_array().unwrap().iter().filter(|m| m["id"] == "admin-scooter").collect();
    assert_eq!(versions.len(), 2, "{}", api.body);
    // Superseding the old version again is refused as a conflict, shown on the form.
    let again = admin
        .submit(
            "/admin/methodologies",
            "/admin/methodologies",
            &[("source_name", "x.toml"), ("text", &edited.replace("version = \"2\"", "version = \"3\""))],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.html);
}

crate::contract!(
    the_admin_token_opens_a_session_whose_figures_and_csv_are_the_apis,
    operator_accounts_sign_in_and_an_analyst_cannot_write,
    a_methodology_with_an_error_is_shown_at_its_line_then_published_fixed,
    a_methodology_is_published_from_a_file_and_superseded_from_its_page
);
