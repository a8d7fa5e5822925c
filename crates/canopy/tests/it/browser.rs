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
use serde_json::json;

use crate::harness::*;

/// A chromedriver of this test's own, and a browser session on it.
struct Chrome {
    driver: Child,
    client: Client,
    _profile: tempfile::TempDir,
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
        let binary = std::env::var("CANOPY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        // The flags keep Chromium off the network it cannot reach here.
        let options = json!({
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--lang=en-US",
                     format!("--user-data-dir={}", profile.path().display())],
            "prefs": { "intl.accept_languages": "en-US,en" }
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::rustls().unwrap().capabilities(capabilities.clone()).connect(&url).await {
                Ok(client) => return Chrome { driver: child, client, _profile: profile },
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
        chrome.stop().await;
        assert!(violations.is_empty(), "axe-core found serious or critical violations:\n{}", violations.join("\n"));
    })
    .await;
}
