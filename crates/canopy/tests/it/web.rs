//! The web app (issue 13), over HTTP as a browser without JavaScript sees
//! it: pages in the visitor's language, sign-up and sign-in by forms that
//! carry a form token, a session cookie, my forest with its balls to
//! collect, signing out. (In Chromium: browser.rs.)

use std::sync::Arc;
use std::time::Duration as StdDuration;

use canopy_core::clock::{Clock, ManualClock};
use chrono::{FixedOffset, NaiveTime, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;
use crate::webpage::Browser;

async fn pages_speak_the_visitors_language_under_a_strict_policy() {
    let server = TestServer::start().await;
    let mut english = Browser::new(&server, "en-US,en;q=0.9");
    let home = english.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(home.headers["content-type"], "text/html; charset=utf-8");
    assert!(home.html.contains(r#"<html lang="en">"#), "{}", home.html);
    assert!(home.html.contains("Welcome to Canopy"));
    let csp = home.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("form-action 'self'"), "{csp}");
    assert_eq!(home.headers["x-content-type-options"], "nosniff");
    let token = home.set_cookies().into_iter().find(|c| c.starts_with("canopy_csrf=")).expect("a form-token cookie");
    assert!(token.contains("HttpOnly") && token.contains("SameSite=Lax"), "{token}");
    assert!(!token.contains("Secure"), "plain HTTP on localhost: {token}");
    let stylesheet =
        home.html.split(r#"rel="stylesheet" href=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let css = english.get(&stylesheet).await;
    assert_eq!(
        (css.status, css.headers["content-type"].to_str().unwrap()),
        (StatusCode::OK, "text/css; charset=utf-8")
    );

    let mut chinese = Browser::new(&server, "zh-CN,zh;q=0.9,en;q=0.5");
    let home = chinese.get("/").await;
    assert!(home.html.contains(r#"<html lang="zh-CN">"#) && home.html.contains("欢迎来到碳林"), "{}", home.html);
    // The English reader switches to Chinese; the choice sticks.
    let switched = english.submit("/login", "/lang", &[("lang", "zh-CN"), ("back", "/login")]).await;
    assert_eq!((switched.status, switched.location()), (StatusCode::SEE_OTHER, "/login"));
    assert!(english.get("/login").await.html.contains("登录"));
    // Not somewhere else, though.
    let away = english.submit("/", "/lang", &[("lang", "en"), ("back", "https://evil.example/")]).await;
    assert_eq!(away.location(), "/");
}

async fn a_visitor_signs_up_collects_energy_and_signs_out() {
    let clock = ManualClock::new(Utc::now());
    let shared = clock.clone();
    let server = TestServer::start_with(move |config| {
        config.clock = Arc::new(shared);
        config.session_ttl_s = 30 * 24 * 3600;
        config.ball_sweep_interval = StdDuration::from_secs(3600);
    })
    .await;
    let mut browser = Browser::new(&server, "en");

    // Mistakes come back next to their field, with what was typed.
    let weak = browser
        .submit(
            "/signup",
            "/signup",
            &[("username", "web-mei"), ("password", "short"), ("display_name", "Mei"), ("region", "CN-BJ")],
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(
        weak.html.contains(r#"id="password-error""#) && weak.html.contains("Use 8 to 256 characters."),
        "{}",
        weak.html
    );
    assert!(weak.html.contains(r#"value="web-mei""#), "the username is kept");
    assert!(!weak.html.contains("short"), "a password is never shown again");
    // A form without its token is refused, and nothing is created.
    let forged = browser
        .post(
            "/signup",
            &[("username", "web-mei"), ("password", PASSWORD), ("display_name", "Mei"), ("region", "CN-BJ")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.set_cookies().iter().all(|c| !c.starts_with("canopy_session=")));

    let made = browser
        .submit(
            "/signup",
            "/signup",
            &[("username", "web-mei"), ("password", PASSWORD), ("display_name", "Mei Lin"), ("region", "cn-bj")],
        )
        .await;
    assert_eq!((made.status, made.location()), (StatusCode::SEE_OTHER, "/"), "{}", made.html);
    let session = made.set_cookies().into_iter().find(|c| c.starts_with("canopy_session=")).expect("a session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"), "{session}");
    let taken = Browser::new(&server, "en")
        .submit(
            "/signup",
            "/signup",
            &[("username", "web-mei"), ("password", PASSWORD), ("display_name", "M"), ("region", "CN-BJ")],
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert!(taken.html.contains(r#"id="username-error""#) && taken.html.contains("This username is taken."));

    // Her forest is empty until a partner reports an act; then a ball grows until 07:00 Beijing time.
    let forest = browser.get("/").await;
    assert!(forest.html.contains("Hello, Mei Lin") && forest.html.contains("No energy to collect"), "{}", forest.html);
    let token = browser.cookies["canopy_session"].clone();
    let id = server.get("/v1/me", Some(&token)).await.body["id"].as_str().unwrap().to_owned();
    let mei = Citizen { id, username: "web-mei".to_owned(), token };
    let partner = server.create_partner(&["transport"]).await;
    server.link(&mei, &partner, &["transport"], "mei").await;
    let credited =
        server.send_ok(&partner, json!([event("w-1", "mei", "shared_bike", json!({ "distance_km": 3.2 }))])).await;
    let grams = credited[0]["grams"].as_i64().unwrap();
    let forest = browser.get("/").await;
    assert!(forest.html.contains("Growing") || forest.html.contains("Ripens"), "{}", forest.html);
    assert!(forest.html.contains("shared_bike"), "what the ball is from");
    assert!(!forest.html.contains("Collect all"), "nothing ripe yet");
    let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
    let morning = clock.now().with_timezone(&beijing).date_naive().succ_opt().unwrap();
    clock.set(
        morning.and_time(NaiveTime::from_hms_opt(7, 30, 0).unwrap()).and_local_timezone(beijing).unwrap().to_utc(),
    );
    let forest = browser.get("/").await;
    assert!(forest.html.contains(&format!("Collect all ({grams} g)")), "{}", forest.html);
    assert!(forest.html.contains("Vanishes"));

    // Collecting needs the form token; with it, the energy moves.
    let forged = browser.post("/collect", &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let collected = browser.submit("/", "/collect", &[]).await;
    assert_eq!(
        (collected.status, collected.location()),
        (StatusCode::SEE_OTHER, format!("/?collected={grams}").as_str())
    );
    let forest = browser.get(collected.location()).await;
    assert!(forest.html.contains(&format!("You collected {grams} g.")), "{}", forest.html);
    assert!(forest.html.contains(&format!("{grams} g of green energy")));
    let me = server.me(&mei).await;
    assert_eq!(me["energy_grams"].as_i64(), Some(grams), "the page and the API agree");
    let again = browser.submit("/", "/collect", &[]).await;
    assert_eq!(again.location(), "/?collected=0");

    // Signing out ends the session: the cookie goes and the token stops working.
    let out = browser.submit("/logout", "/logout", &[]).await;
    assert_eq!((out.status, out.location()), (StatusCode::SEE_OTHER, "/"));
    assert!(!browser.cookies.contains_key("canopy_session"));
    assert_eq!(server.get("/v1/me", Some(&mei.token)).await.status, StatusCode::UNAUTHORIZED);
    assert!(browser.get("/").await.html.contains("Welcome to Canopy"));
    // And signing in brings her back.
    let wrong = browser.submit("/login", "/login", &[("username", "web-mei"), ("password", "not-her-password")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("Unknown username or wrong password."));
    let back = browser.submit("/login", "/login", &[("username", "web-mei"), ("password", PASSWORD)]).await;
    assert_eq!(back.location(), "/");
    assert!(browser.get("/").await.html.contains("Hello, Mei Lin"));
}

async fn guessing_a_password_is_refused_on_the_page_and_the_api_alike() {
    let server = TestServer::start().await;
    let kai = server.create_citizen("web-kai", "CN-BJ").await;
    let mut browser = Browser::new(&server, "en");
    // Ten wrong guesses, by the form and the API together; then both refuse the name, even with the right password.
    for i in 0..10 {
        if i % 2 == 0 {
            let wrong =
                browser.submit("/login", "/login", &[("username", "web-kai"), ("password", "guess-guess")]).await;
            assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        } else {
            let wrong =
                server.post("/v1/sessions", None, json!({ "username": "web-kai", "password": "guess-guess" })).await;
            assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        }
    }
    let page = browser.submit("/login", "/login", &[("username", "web-kai"), ("password", PASSWORD)]).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.html.contains("Too many attempts. Please wait a moment."), "{}", page.html);
    let api = server.post("/v1/sessions", None, json!({ "username": "web-kai", "password": PASSWORD })).await;
    assert_eq!((api.status, api.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert!(api.headers.contains_key("retry-after"), "{api:?}");
    // Another name is not held up; and the one session Kai had still works.
    assert_eq!(server.get("/v1/me", Some(&kai.token)).await.status, StatusCode::OK);
    let other = server.create_citizen("web-lan", "CN-BJ").await;
    let signed = browser.submit("/login", "/login", &[("username", &other.username), ("password", PASSWORD)]).await;
    assert_eq!(signed.location(), "/");
}

async fn developers_find_the_signing_guide_and_the_api_reference() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server, "en");
    let docs = browser.get("/docs").await;
    assert_eq!(docs.status, StatusCode::OK);
    for part in ["Signing a partner request", "Shell (curl and openssl)", "Python", "Rust", r#"href="/docs/api/""#] {
        assert!(docs.html.contains(part), "{part}: {}", docs.html);
    }
    // The worked example's signature is one the server accepts: sign the same way for a real partner.
    let string = docs.html.split(r#"id="signing-string">"#).nth(1).unwrap().split('<').next().unwrap();
    let parts: Vec<&str> = string.splitn(4, '.').collect();
    assert_eq!((parts[1], parts[2]), ("POST", "/v1/partner/events"), "{string}");
    assert_eq!(parts[3].len(), 64, "a hex SHA-256 of the body: {string}");
    assert!(docs.html.contains(r#"id="signature">v1="#));
    // The API reference: Swagger UI, served from the binary, reading the served document.
    let reference = browser.get("/docs/api/").await;
    assert_eq!(reference.status, StatusCode::OK, "{reference:?}");
    assert!(reference.html.to_lowercase().contains("swagger"), "{}", reference.html);
    let initializer = browser.get("/docs/api/swagger-initializer.js").await;
    assert!(initializer.html.contains("/openapi.json"), "{}", initializer.html);
    assert!(reference.headers["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    assert_eq!(browser.get("/openapi.json").await.status, StatusCode::OK);
}

crate::contract!(
    developers_find_the_signing_guide_and_the_api_reference,
    pages_speak_the_visitors_language_under_a_strict_policy,
    a_visitor_signs_up_collects_energy_and_signs_out,
    guessing_a_password_is_refused_on_the_page_and_the_api_alike
);
