//! Connected apps (issue 13) over HTTP: the citizen gives a partner access
//! with the page, gives the link code it shows to the partner's app (which
//! links through the partner API), sees the link, and revokes it; the
//! partner's acts are credited in between and refused after.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;
use crate::webpage::Browser;

/// The link code on a page.
fn link_code(html: &str) -> String {
    let at = html.find(r#"id="link-code">"#).unwrap_or_else(|| panic!("no link code: {html}"));
    let rest = &html[at + r#"id="link-code">"#.len()..];
    rest[..rest.find('<').unwrap()].trim().to_owned()
}

async fn a_citizen_connects_an_app_with_a_link_code_and_revokes_it() {
    let server = TestServer::start().await;
    let fang = server.create_citizen("conn-fang", "CN-BJ").await;
    let partner = server.create_partner(&["transport"]).await;
    let mut browser = Browser::signed_in(&server, &fang, "en");

    let page = browser.get("/connections").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("No app reports your acts yet."), "{}", page.html);
    assert!(
        page.html.contains(&format!(r#"<option value="{}">"#, partner.id)),
        "the partner is offered: {}",
        page.html
    );

    // Nothing chosen, or a category the partner cannot report: said, and nothing granted.
    let none = browser.submit("/connections", "/connections", &[("partner", &partner.id)]).await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    assert!(none.html.contains("Choose at least one category."), "{}", none.html);
    let food = browser.submit("/connections", "/connections", &[("partner", &partner.id), ("scope", "food")]).await;
    assert_eq!(food.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(food.html.contains("cannot report one of the categories"), "{}", food.html);
    let consents = server.get("/v1/me/consents", Some(&fang.token)).await;
    assert_eq!(consents.body["consents"].as_array().map(Vec::len), Some(0), "{consents:?}");

    // Granted: the page shows a link code, and the partner's app links with it.
    let granted =
        browser.submit("/connections", "/connections", &[("partner", &partner.id), ("scope", "transport")]).await;
    assert_eq!(granted.status, StatusCode::CREATED, "{}", granted.html);
    let code = link_code(&granted.html);
    assert!(granted.html.contains("Waiting for the app to use the link code"));
    let linked = server.signed(&partner, "/v1/partner/links", json!({ "link_code": code, "user_ref": "fang" })).await;
    assert_eq!(linked.status, StatusCode::CREATED, "{linked:?}");
    let page = browser.get("/connections").await;
    assert!(page.html.contains("Linked to your account in the app") && page.html.contains("May report: Transport"));
    let credited =
        server.send_ok(&partner, json!([event("c-1", "fang", "shared_bike", json!({ "distance_km": 5 }))])).await;
    assert_eq!(credited[0]["outcome"], "credited", "{credited:?}");

    // Revoking needs the form token; with it, the partner's next act is refused.
    let forged = browser.post(&format!("/connections/{}/revoke", partner.id), &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let revoked = browser.submit("/connections", &format!("/connections/{}/revoke", partner.id), &[]).await;
    assert_eq!((revoked.status, revoked.location()), (StatusCode::SEE_OTHER, "/connections?revoked=1"));
    let page = browser.get(revoked.location()).await;
    assert!(page.html.contains("Access revoked.") && page.html.contains("Access you revoked"), "{}", page.html);
    let refused =
        server.send_ok(&partner, json!([event("c-2", "fang", "shared_bike", json!({ "distance_km": 5 }))])).await;
    assert_eq!(refused[0]["code"], "consent_revoked", "{refused:?}");
    // Revoking what is not granted says so.
    let again = browser.submit("/connections", &format!("/connections/{}/revoke", partner.id), &[]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

crate::contract!(a_citizen_connects_an_app_with_a_link_code_and_revokes_it);
