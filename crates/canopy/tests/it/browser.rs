//! The web app in a real browser (issue 13): headless Chromium driven over
//! WebDriver (Debian's `chromium` and `chromium-driver`, which `.ci/run`
//! installs), at a phone's width and a desktop's, with a screenshot of each
//! page under `target/screenshots/`; every main page in both languages at
//! both widths is checked by axe-core (no serious or critical violation).
//!
//! The driver is `CANOPY_CHROMEDRIVER` or `/usr/bin/chromedriver`. Without
//! one the tests pass and say they were skipped, unless
//! `CANOPY_TEST_REQUIRE_BROWSER=1` (as in `.ci/run`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration as StdDuration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

/// A chromedriver of this test's own, and a browser session on it.
struct Chrome {
    driver: Child,
    client: Client,
    _profile: tempfile::TempDir,
    /// Where its downloads go.
    downloads: tempfile::TempDir,
}

fn chromedriver() -> Option<PathBuf> {
    let named = std::env::var_os("CANOPY_CHROMEDRIVER").filter(|p| !p.is_empty()).map(PathBuf::from);
    let found = named.or_else(|| Some(PathBuf::from("/usr/bin/chromedriver"))).filter(|p| p.exists());
    if found.is_none() {
        let required = std::env::var("CANOPY_TEST_REQUIRE_BROWSER").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(!required, "CANOPY_TEST_REQUIRE_BROWSER is set but no chromedriver was found");
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** no chromedriver (CANOPY_CHROMEDRIVER, /usr/bin/chromedriver): the browser test is SKIPPED.\n"
        );
    }
    found
}

impl Chrome {
    async fn start(driver: &PathBuf) -> Chrome {
        // The test build links two TLS crypto providers; WebDriver's client needs one named.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let downloads = tempfile::tempdir().unwrap();
        let binary = std::env::var("CANOPY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        // The flags keep Chromium off the network it cannot reach here.
        let options = json!({
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--lang=en-US",
                     format!("--user-data-dir={}", profile.path().display())],
            "prefs": { "intl.accept_languages": "en-US,en",
                       "download.default_directory": downloads.path().display().to_string(),
                       "download.prompt_for_download": false, "download.directory_upgrade": true }
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::rustls().unwrap().capabilities(capabilities.clone()).connect(&url).await {
                Ok(client) => return Chrome { driver: child, client, _profile: profile, downloads },
                Err(error) => last = Some(error),
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        panic!("no browser session: {last:?}");
    }

    /// Saves a screenshot as `target/screenshots/<name>.png`.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn text(&self) -> String {
        self.client.find(Locator::Css("body")).await.unwrap().text().await.unwrap()
    }

    /// Waits (up to 10 s) for the page to hold `css`: a click's navigation may still be under way.
    async fn wait_for(&self, css: &str) {
        if let Err(error) = self.client.wait().at_most(StdDuration::from_secs(10)).for_element(Locator::Css(css)).await
        {
            panic!("no {css} ({error}) in {}", self.client.source().await.unwrap_or_default());
        }
    }

    async fn fill(&self, field: &str, value: &str) {
        let input = self.client.find(Locator::Id(field)).await.unwrap_or_else(|e| panic!("no #{field}: {e}"));
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).click().await.unwrap();
    }

    /// Clicks the link `css` and waits (up to 10 s) for the download it
    /// starts to finish as `name`; returns its content.
    async fn download(&self, css: &str, name: &str) -> String {
        self.click(css).await;
        let path = self.downloads.path().join(name);
        let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
        loop {
            let partial = std::fs::read_dir(self.downloads.path())
                .unwrap()
                .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".crdownload"));
            if path.exists() && !partial {
                return std::fs::read_to_string(&path).unwrap();
            }
            let listed: Vec<_> =
                std::fs::read_dir(self.downloads.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert!(std::time::Instant::now() < deadline, "no download {name}: {listed:?}");
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
    }

    async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_citizen_signs_up_and_sees_her_forest_in_chromium() {
    let Some(driver) = chromedriver() else { return };
    let server = on(Backend::Sqlite, TestServer::start()).await;
    let chrome = Chrome::start(&driver).await;
    let base = server.base.replace("localhost", "127.0.0.1");
    for (width, height, label) in [(360, 800, "phone"), (1280, 900, "desktop")] {
        chrome.client.set_window_size(width, height).await.unwrap();
        chrome.client.goto(&format!("{base}/")).await.unwrap();
        assert!(chrome.text().await.contains("Welcome to Canopy"));
        chrome.screenshot(&format!("welcome-en-{label}")).await;
    }

    // Sign up with a mistake, see it next to the field, correct it.
    chrome.client.set_window_size(360, 800).await.unwrap();
    chrome.client.goto(&format!("{base}/signup")).await.unwrap();
    chrome.fill("username", "chromium-li").await;
    chrome.fill("password", "short").await;
    chrome.fill("display_name", "Li Hua").await;
    chrome.fill("region", "CN-JX").await;
    chrome.click("form.stacked button[type=submit]").await;
    chrome.wait_for("#password-error").await;
    let error = chrome.client.find(Locator::Id("password-error")).await.unwrap();
    assert_eq!(error.text().await.unwrap(), "Use 8 to 256 characters.");
    chrome.screenshot("signup-error-en-phone").await;
    chrome.fill("password", PASSWORD).await;
    chrome.click("form.stacked button[type=submit]").await;
    chrome.wait_for(".figures").await;
    let body = chrome.text().await;
    assert!(body.contains("Hello, Li Hua") && body.contains("0 g of green energy"), "{body}");
    chrome.screenshot("forest-en-phone").await;

    // Switch to Chinese with the footer's form; the forest speaks it.
    chrome.client.find(Locator::Id("lang-choice")).await.unwrap().select_by_value("zh-CN").await.unwrap();
    chrome.click("form.lang button").await;
    chrome.wait_for(r#"html[lang="zh-CN"] .figures"#).await;
    let body = chrome.text().await;
    assert!(body.contains("你好，Li Hua") && body.contains("绿色能量 0 克"), "{body}");
    chrome.screenshot("forest-zh-phone").await;
    chrome.client.set_window_size(1280, 900).await.unwrap();
    chrome.screenshot("forest-zh-desktop").await;

    // Sign out with the header's button.
    chrome.click("header form.inline button").await;
    chrome.wait_for("section.card > h1").await;
    assert!(chrome.text().await.contains("欢迎来到碳林"));
    chrome.stop().await;
}

/// axe-core's script (`CANOPY_AXE`, else `target/axe/node_modules/axe-core/axe.min.js`,
/// which `.ci/run` installs from npm). Without it the accessibility checks are skipped and
/// say so, unless `CANOPY_TEST_REQUIRE_AXE=1`.
fn axe_source() -> Option<String> {
    let named = std::env::var_os("CANOPY_AXE").filter(|p| !p.is_empty()).map(PathBuf::from);
    let path = named.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/axe/node_modules/axe-core/axe.min.js")
    });
    let source = std::fs::read_to_string(&path).ok();
    if source.is_none() {
        let required = std::env::var("CANOPY_TEST_REQUIRE_AXE").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(!required, "CANOPY_TEST_REQUIRE_AXE is set but axe-core is not at {}", path.display());
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** no axe-core at {}: the accessibility checks are SKIPPED.\n",
            path.display()
        );
    }
    source
}

impl Chrome {
    /// axe-core's serious and critical violations on the current page.
    async fn axe(&self, source: &str) -> Vec<serde_json::Value> {
        self.client.execute(source, Vec::new()).await.expect("axe-core loads");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                  nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')) }))));",
                Vec::new(),
            )
            .await
            .expect("axe-core runs");
        found.as_array().cloned().unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_main_page_reads_in_both_languages_at_both_widths() {
    let Some(driver) = chromedriver() else { return };
    let axe = axe_source();
    on(Backend::Sqlite, async {
        // A citizen with acts, energy, a friend, a tree to redeem and a campaign to give to.
        let (server, _clock) = crate::redemption::server().await;
        let partner = server.create_partner(&["use"]).await;
        let mei = crate::redemption::citizen_with_energy(&server, &partner, "pages-mei", "CN-BJ", 1).await;
        let lei = crate::redemption::citizen_with_energy(&server, &partner, "pages-lei", "CN-BJ", 1).await;
        crate::friends::befriend(&server, &mei, &lei).await;
        let sponsor = crate::redemption::sponsor(&server, "Alxa SEE", None).await;
        crate::redemption::haloxylon(&server, &sponsor, 100).await;
        let campaign_sponsor = crate::campaigns::sponsor(&server).await;
        crate::campaigns::campaign(&server, &campaign_sponsor, 0).await;

        let chrome = Chrome::start(&driver).await;
        let base = server.base.replace("localhost", "127.0.0.1");
        // Signed in through the form, as she would.
        chrome.client.goto(&format!("{base}/login")).await.unwrap();
        chrome.fill("username", &mei.username).await;
        chrome.fill("password", PASSWORD).await;
        chrome.click("form.stacked button[type=submit]").await;
        chrome.wait_for(".figures").await;
        let pages = [
            ("forest", "/"),
            ("history", "/history"),
            ("connections", "/connections"),
            ("friends", "/friends"),
            ("friend-forest", &*format!("/friends/{}", lei.id)),
            ("leaderboards", "/leaderboards"),
            ("redeem", "/redeem"),
            ("redemptions", "/redemptions"),
            ("campaigns", "/campaigns"),
            ("medals", "/medals"),
            ("energy", "/energy"),
            ("settings", "/settings"),
            ("docs", "/docs"),
        ];
        let mut violations = Vec::new();
        for lang in ["en", "zh-CN"] {
            // The footer's switch chooses the language.
            chrome.client.find(Locator::Id("lang-choice")).await.unwrap().select_by_value(lang).await.unwrap();
            chrome.click("form.lang button").await;
            chrome.wait_for(&format!(r#"html[lang="{lang}"]"#)).await;
            for (width, height, label) in [(360, 800, "phone"), (1280, 900, "desktop")] {
                chrome.client.set_window_size(width, height).await.unwrap();
                for (name, path) in &pages {
                    chrome.client.goto(&format!("{base}{path}")).await.unwrap();
                    chrome.wait_for(&format!(r#"html[lang="{lang}"] main h1"#)).await;
                    let text = chrome.text().await;
                    assert!(!text.contains('{') || *name == "docs", "no raw JSON or template on {path}: {text}");
                    chrome.screenshot(&format!("{name}-{lang}-{label}")).await;
                    if let Some(axe) = &axe {
                        for v in chrome.axe(axe).await {
                            violations.push(format!("{path} ({lang}, {label}): {v}"));
                        }
                    }
                }
            }
        }
        // The operator's dashboard, the same way.
        chrome.client.goto(&format!("{base}/admin/login")).await.unwrap();
        chrome.fill("token", ADMIN_TOKEN).await;
        chrome.click(r#"form[action="/admin/login"]:last-of-type button[type=submit]"#).await;
        chrome.wait_for("#active-citizens").await;
        let admin_pages = [
            "/admin",
            "/admin/partners",
            "/admin/methodologies",
            "/admin/sponsors",
            "/admin/catalogue",
            "/admin/programs",
        ];
        for lang in ["en", "zh-CN"] {
            chrome.client.find(Locator::Id("lang-choice")).await.unwrap().select_by_value(lang).await.unwrap();
            chrome.click("form.lang button").await;
            chrome.wait_for(&format!(r#"html[lang="{lang}"]"#)).await;
            for (width, height, label) in [(360, 800, "phone"), (1280, 900, "desktop")] {
                chrome.client.set_window_size(width, height).await.unwrap();
                for path in admin_pages {
                    chrome.client.goto(&format!("{base}{path}")).await.unwrap();
                    chrome.wait_for(&format!(r#"html[lang="{lang}"] main h1"#)).await;
                    let name = path.trim_start_matches('/').replace('/', "-");
                    chrome.screenshot(&format!("{name}-{lang}-{label}")).await;
                    if let Some(axe) = &axe {
                        for v in chrome.axe(axe).await {
                            violations.push(format!("{path} ({lang}, {label}): {v}"));
                        }
                    }
                }
            }
        }
        chrome.stop().await;
        assert!(violations.is_empty(), "axe-core found serious or critical violations:\n{}", violations.join("\n"));
    })
    .await;
}

impl Chrome {
    /// Clicks the submit button of the form posting to `action`, and waits for the page to hold `then`.
    async fn submit(&self, action: &str, then: &str) {
        self.click(&format!(r#"form[action="{action}"] button[type=submit]"#)).await;
        self.wait_for(then).await;
    }
}

/// The citizen's whole journey in Chromium: sign up; connect a partner by the
/// link code the page shows; the partner reports acts; collect the energy;
/// take a share from a friend; redeem a tree and open its certificate;
/// download her data; delete her account.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_citizen_connects_collects_takes_redeems_and_deletes_in_chromium() {
    let Some(driver) = chromedriver() else { return };
    on(Backend::Sqlite, async {
        let (server, _clock) = crate::redemption::server().await;
        let partner = server.create_partner(&["transport", "use"]).await;
        let lei = crate::redemption::citizen_with_energy(&server, &partner, "flow-lei", "CN-BJ", 0).await;
        server
            .send_ok(&partner, json!([event("flow-lei-pc", "flow-lei", "secondhand_computer", json!({ "items": 1 }))]))
            .await;
        let sponsor = crate::redemption::sponsor(&server, "Alxa SEE", None).await;
        let tree = crate::redemption::haloxylon(&server, &sponsor, 10).await;
        let tree_id = tree["id"].as_str().unwrap().to_owned();
        let chrome = Chrome::start(&driver).await;
        let base = server.base.replace("localhost", "127.0.0.1");
        chrome.client.set_window_size(360, 800).await.unwrap();

        // Sign up.
        chrome.client.goto(&format!("{base}/signup")).await.unwrap();
        chrome.fill("username", "flow-ann").await;
        chrome.fill("password", PASSWORD).await;
        chrome.fill("display_name", "Ann").await;
        chrome.fill("region", "CN-BJ").await;
        chrome.submit("/signup", ".figures").await;

        // Connect the partner: the page shows a link code, the partner's app links with it.
        chrome.client.goto(&format!("{base}/connections")).await.unwrap();
        chrome.client.find(Locator::Id("partner")).await.unwrap().select_by_value(&partner.id).await.unwrap();
        chrome.click("#scope-transport").await;
        chrome.click("#scope-use").await;
        chrome.submit("/connections", "#link-code").await;
        let code = chrome.client.find(Locator::Id("link-code")).await.unwrap().text().await.unwrap();
        chrome.screenshot("connections-code-en-phone").await;
        let linked =
            server.signed(&partner, "/v1/partner/links", json!({ "link_code": code, "user_ref": "flow-ann" })).await;
        assert_eq!(linked.status, StatusCode::CREATED, "{linked:?}");

        // The partner reports acts; the balls ripen at once here; she collects them.
        server
            .send_ok(
                &partner,
                json!([
                    event("flow-1", "flow-ann", "secondhand_computer", json!({ "items": 1 })),
                    event("flow-2", "flow-ann", "shared_bike", json!({ "distance_km": 3.2 })),
                ]),
            )
            .await;
        chrome.client.goto(&format!("{base}/")).await.unwrap();
        chrome.wait_for(".ball.ripe").await;
        chrome.screenshot("forest-balls-en-phone").await;
        chrome.submit("/collect", ".notice").await;
        let body = chrome.text().await;
        assert!(body.contains("You collected 163440 g."), "{body}");
        let session = server.post("/v1/sessions", None, json!({ "username": "flow-ann", "password": PASSWORD })).await;
        let ann = Citizen {
            id: server.get("/v1/me", session.body["token"].as_str()).await.body["id"].as_str().unwrap().to_owned(),
            username: "flow-ann".to_owned(),
            token: session.body["token"].as_str().unwrap().to_owned(),
        };
        assert_eq!(server.me(&ann).await["energy_grams"], 163_440, "the API agrees");

        // Take a share of a friend's ripe energy.
        crate::friends::befriend(&server, &ann, &lei).await;
        chrome.client.goto(&format!("{base}/friends/{}", lei.id)).await.unwrap();
        chrome.wait_for(r#"form[action$="/take"] button"#).await;
        chrome.click(r#"form[action$="/take"] button"#).await;
        chrome.wait_for(".notice").await;
        let body = chrome.text().await;
        assert!(body.contains("You took"), "{body}");
        let after_take = server.me(&ann).await["energy_grams"].as_i64().unwrap();
        assert!(after_take > 163_440, "the API agrees: {after_take}");

        // Redeem a tree and open its certificate.
        chrome.client.goto(&format!("{base}/redeem/{tree_id}")).await.unwrap();
        chrome.submit(&format!("/redeem/{tree_id}"), ".certificate").await;
        let body = chrome.text().await;
        assert!(body.contains("planted 1 Haloxylon ammodendron at Alxa League"), "{body}");
        chrome.screenshot("certificate-en-phone").await;
        assert_eq!(
            server.me(&ann).await["energy_grams"].as_i64().unwrap(),
            after_take - tree["price_grams"].as_i64().unwrap()
        );

        // Her data: she downloads it as JSON and as CSV, the same as the
        // API's export; then she deletes her account.
        chrome.client.goto(&format!("{base}/settings")).await.unwrap();
        chrome.wait_for(r#"a[href="/settings/export.json"]"#).await;
        let downloaded = chrome.download(r#"a[href="/settings/export.json"]"#, "canopy-export.json").await;
        let downloaded: serde_json::Value = serde_json::from_str(&downloaded).expect("the download is JSON");
        let export = server.get("/v1/me/export", Some(&ann.token)).await;
        assert_eq!(export.status, StatusCode::OK);
        assert!(downloaded.to_string().contains("flow-1"), "the download holds her acts: {downloaded}");
        assert_eq!(downloaded["sections"], export.body["sections"], "the download is the API's export");
        let csv = chrome.download(r#"a[href="/settings/export.csv"]"#, "canopy-export.csv").await;
        assert!(csv.starts_with("section,record,field,value") && csv.contains("flow-ann"), "{csv}");
        chrome.fill("confirm", "flow-ann").await;
        chrome.submit("/settings/delete", "section.card > h1").await;
        let body = chrome.text().await;
        assert!(body.contains("Your account was deleted."), "{body}");
        assert_eq!(server.get("/v1/me", Some(&ann.token)).await.status, StatusCode::UNAUTHORIZED);
        chrome.stop().await;
    })
    .await;
}

/// A household answers a power-saving invitation in Chromium and, once the
/// event settles, sees its saving with the baseline against its use.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_household_answers_an_invitation_and_sees_its_settlement_in_chromium() {
    let Some(driver) = chromedriver() else { return };
    on(Backend::Sqlite, async {
        use crate::settlement::{at, event_readings, event_start, program, send, world, World};
        let World { server, clock, utility, households, pool } = world(at("2026-07-22T00:00:00Z"), 10_000, false).await;
        let program = program(&server, &pool, "required").await;
        let event = crate::checkins::admin(
            &server,
            reqwest::Method::POST,
            "/v1/energy/events",
            json!({ "program_id": program, "start": event_start().to_rfc3339(), "duration_minutes": 60,
                    "respond_by": "2026-07-22T09:00:00Z", "targets": { "region": "CN-JX" } }),
        )
        .await;
        let id = event.body["id"].as_str().unwrap().to_owned();
        let chrome = Chrome::start(&driver).await;
        let base = server.base.replace("localhost", "127.0.0.1");
        chrome.client.set_window_size(360, 800).await.unwrap();
        chrome.client.goto(&format!("{base}/login")).await.unwrap();
        chrome.fill("username", &households[0].username).await;
        chrome.fill("password", PASSWORD).await;
        chrome.submit("/login", ".figures").await;
        chrome.client.goto(&format!("{base}/energy")).await.unwrap();
        chrome.click(r#"form[action$="/in"] button"#).await;
        chrome.wait_for(".notice").await;
        assert!(chrome.text().await.contains("You are taking part."));
        let answered = server.get("/v1/me/energy/invitations", Some(&households[0].token)).await;
        assert_eq!(answered.body["invitations"][0]["answer"], "in");

        clock.set(at("2026-07-22T11:30:00Z"));
        let sent = event_readings("M0", &[Some(0.2), Some(0.3), Some(0.5), Some(0.5)], "actual");
        assert!(send(&server, &utility, sent).await.iter().all(|o| o == "stored"));
        let settled = crate::checkins::admin(
            &server,
            reqwest::Method::POST,
            &format!("/v1/energy/events/{id}/settle"),
            serde_json::Value::Null,
        )
        .await;
        assert_eq!(settled.status, StatusCode::OK, "{settled:?}");
        chrome.client.goto(&format!("{base}/energy")).await.unwrap();
        chrome.wait_for("figure.chart svg polyline").await;
        let body = chrome.text().await;
        assert!(body.contains("Saved 0.500 kWh: ¥1.00 reward, 269 g CO2e reduced."), "{body}");
        chrome.screenshot("energy-settled-en-phone").await;
        chrome.stop().await;
    })
    .await;
}

/// The operator in Chromium: signs in with the admin token, publishes a
/// methodology with an error (shown at its line), then fixed; the
/// dashboard's figures are the API's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_publishes_a_methodology_and_reads_the_figures_in_chromium() {
    let Some(driver) = chromedriver() else { return };
    on(Backend::Sqlite, async {
        let server = TestServer::start().await;
        let partner = server.create_partner(&["transport"]).await;
        let wen = server.create_citizen("flow-wen", "CN-BJ").await;
        server.link(&wen, &partner, &["transport"], "wen").await;
        server.send_ok(&partner, json!([event("op-1", "wen", "shared_bike", json!({ "distance_km": 2 }))])).await;
        let chrome = Chrome::start(&driver).await;
        let base = server.base.replace("localhost", "127.0.0.1");
        chrome.client.set_window_size(1280, 900).await.unwrap();
        chrome.client.goto(&format!("{base}/admin/login")).await.unwrap();
        chrome.fill("token", ADMIN_TOKEN).await;
        // The second form on the page signs in with the token.
        chrome.click(r#"form[action="/admin/login"]:last-of-type button[type=submit]"#).await;
        chrome.wait_for("#active-citizens").await;
        // The same window on both: the last week, in Beijing's days.
        let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
        let window = format!("from={}&to={today}", today - chrono::Days::new(6));
        chrome.client.goto(&format!("{base}/admin?{window}")).await.unwrap();
        chrome.wait_for("#active-citizens").await;
        let api = server.get(&format!("/v1/admin/figures?{window}"), Some(ADMIN_TOKEN)).await;
        assert_eq!(api.status, StatusCode::OK, "{api:?}");
        let api = api.body;
        assert_eq!(api["active_citizens"], 1, "{api}");
        let shown = chrome.client.find(Locator::Id("active-citizens")).await.unwrap().text().await.unwrap();
        assert_eq!(shown, api["active_citizens"].to_string(), "the dashboard's figure is the API's");
        let acts = chrome.client.find(Locator::Id("total-acts")).await.unwrap().text().await.unwrap();
        assert_eq!(acts, api["acts"].to_string());
        chrome.screenshot("admin-figures-en-desktop").await;

        chrome.client.goto(&format!("{base}/admin/methodologies")).await.unwrap();
        chrome.fill("source_name", "scooter.toml").await;
        chrome.fill("text", crate::web_admin::SCOOTER).await;
        chrome.submit("/admin/methodologies", ".error-line").await;
        chrome.screenshot("admin-methodology-error-en-desktop").await;
        let fixed = crate::web_admin::SCOOTER.replace("maximum = \"fifty\"", "maximum = 50");
        chrome.fill("text", &fixed).await;
        chrome.click(r#"form[action="/admin/methodologies"] button[type=submit]"#).await;
        chrome.wait_for("main h1").await;
        let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
        while !chrome.client.current_url().await.unwrap().path().starts_with("/admin/methodologies/admin-scooter") {
            assert!(std::time::Instant::now() < deadline, "not published: {}", chrome.text().await);
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        let api = server.get("/v1/methodologies", None).await;
        assert!(api.body.to_string().contains("admin-scooter"), "the API has it");
        chrome.stop().await;
    })
    .await;
}
