//! Redeeming (issue 13) over HTTP: the catalogue for the viewer's region,
//! a project's confirmation, redeeming a tree and opening its public
//! certificate, cancelling within the window, planting a tree together
//! with a friend; each step checked against the API.

use reqwest::StatusCode;

use crate::friends::befriend;
use crate::redemption::{citizen_with_energy, energy, haloxylon, server, sponsor};
use crate::webpage::Browser;

async fn a_citizen_redeems_a_tree_opens_its_certificate_and_plants_one_with_a_friend() {
    let (server, _clock) = server().await;
    let partner = server.create_partner(&["use"]).await;
    let lin = citizen_with_energy(&server, &partner, "wr-lin", "CN-BJ", 1).await;
    let sponsor_id = sponsor(&server, "Alxa SEE Foundation", None).await;
    let tree = haloxylon(&server, &sponsor_id, 10).await;
    let tree_id = tree["id"].as_str().unwrap().to_owned();
    let price = tree["price_grams"].as_i64().unwrap();
    let mut browser = Browser::signed_in(&server, &lin, "en");

    let catalogue = browser.get("/redeem").await;
    assert_eq!(catalogue.status, StatusCode::OK);
    assert!(catalogue.html.contains("Haloxylon in the Alxa desert"), "{}", catalogue.html);
    assert!(catalogue.html.contains(&format!("{price} g of energy each")) && catalogue.html.contains("10 left"));
    assert!(browser.get("/redeem?kind=voucher").await.html.contains("Nothing to redeem here"));

    let here = format!("/redeem/{tree_id}");
    let confirm = browser.get(&here).await;
    let before = energy(&server, &lin).await;
    assert!(confirm.html.contains(&format!("You have {before} g; one unit leaves you {} g.", before - price)));
    let zero = browser.submit(&here, &here, &[("quantity", "0"), ("show_name", "1")]).await;
    assert_eq!(zero.status, StatusCode::BAD_REQUEST);
    assert!(zero.html.contains("Choose a quantity this project allows."), "{}", zero.html);
    let too_many = browser.submit(&here, &here, &[("quantity", "10"), ("show_name", "1")]).await;
    assert_eq!(too_many.status, StatusCode::CONFLICT);
    assert!(too_many.html.contains("You do not have enough energy for this."), "{}", too_many.html);
    assert_eq!(energy(&server, &lin).await, before, "a refusal moves nothing");

    let redeemed = browser.submit(&here, &here, &[("quantity", "1"), ("show_name", "1")]).await;
    assert_eq!(redeemed.status, StatusCode::SEE_OTHER, "{}", redeemed.html);
    let certificate = redeemed.location().to_owned();
    assert!(certificate.starts_with("/certificates/") && certificate.ends_with("?new=1"), "{certificate}");
    assert_eq!(energy(&server, &lin).await, before - price, "the API agrees");
    // The certificate is public: a visitor sees it, with the image to share.
    let number = certificate.trim_start_matches("/certificates/").trim_end_matches("?new=1").to_owned();
    let public = Browser::new(&server, "en").get(&format!("/certificates/{number}")).await;
    assert_eq!(public.status, StatusCode::OK);
    assert!(public.html.contains("planted 1 Haloxylon ammodendron at Alxa League"), "{}", public.html);
    assert!(public.html.contains(&format!(r#"src="/v1/certificates/{number}.svg""#)));
    let api = server.get(&format!("/v1/certificates/{number}"), None).await;
    assert_eq!(api.body["owner"], "wr-lin", "{api:?}");
    assert!(public.html.contains(r#"<p class="cert-owner">wr-lin</p>"#), "the page names her as the API does");
    assert_eq!(Browser::new(&server, "en").get("/certificates/CNP-nonsense").await.status, StatusCode::NOT_FOUND);
    // Her forest lists the tree with its certificate.
    let forest = browser.get("/").await;
    assert!(
        forest.html.contains("Haloxylon in the Alxa desert × 1")
            && forest.html.contains(&format!("Certificate {number}")),
        "{}",
        forest.html
    );

    // Listed among what she redeemed; cancelled within the window, the energy returns and the certificate is void.
    let list = browser.get("/redemptions").await;
    assert!(list.html.contains(&format!("Certificate {number}")), "{}", list.html);
    let cancel = list.html.split("/redemptions/").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let cancelled = browser.submit("/redemptions", &format!("/redemptions/{cancel}"), &[]).await;
    assert_eq!(cancelled.location(), "/redemptions?done=cancelled");
    assert_eq!(energy(&server, &lin).await, before);
    assert_eq!(Browser::new(&server, "en").get(&format!("/certificates/{number}")).await.status, StatusCode::GONE);

    // Planting together: Lin invites Wen, Wen accepts on her page, and the tree is planted.
    let wen = citizen_with_energy(&server, &partner, "wr-wen", "CN-BJ", 1).await;
    befriend(&server, &lin, &wen).await;
    let together = browser.submit(&here, &format!("{here}/together"), &[("friend", &wen.id)]).await;
    assert_eq!(together.location(), "/redemptions?done=together", "{}", together.html);
    assert!(energy(&server, &lin).await < before, "her share is held");
    let mut wen_page = Browser::signed_in(&server, &wen, "en");
    let plans = wen_page.get("/redemptions").await;
    assert!(plans.html.contains("Trees to plant together"), "{}", plans.html);
    let accept = plans.html.split("/coplantings/").nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(accept.ends_with("/accept"));
    let planted = wen_page.submit("/redemptions", &format!("/coplantings/{accept}"), &[]).await;
    assert!(planted.location().starts_with("/certificates/"), "{}", planted.location());
    let shared = wen_page.get(planted.location()).await;
    assert!(shared.html.contains("Planted together by"), "{}", shared.html);
    assert_eq!(
        energy(&server, &lin).await + energy(&server, &wen).await,
        2 * before - price,
        "the tree cost its price once"
    );
}

async fn a_citizen_gives_energy_to_a_campaign_on_its_page() {
    let (server, _clock) = server().await;
    let partner = server.create_partner(&["use"]).await;
    let mei = citizen_with_energy(&server, &partner, "wc-mei", "CN-ZJ", 1).await;
    let sponsor_id = crate::campaigns::sponsor(&server).await;
    let made = crate::campaigns::campaign(&server, &sponsor_id, 0).await;
    let id = made["id"].as_str().unwrap().to_owned();
    let mut browser = Browser::signed_in(&server, &mei, "en");

    let list = browser.get("/campaigns").await;
    assert!(
        list.html.contains("1 kg per person for the Asian Games")
            && list.html.contains("0.000 kg given of a 5.000 kg goal"),
        "{}",
        list.html
    );
    let here = format!("/campaigns/{id}");
    let over = browser.submit(&here, &format!("{here}/contribute"), &[("grams", "1001")]).await;
    assert_eq!(over.status, StatusCode::BAD_REQUEST);
    assert!(over.html.contains("from 1 up to the limit") && over.html.contains(r#"id="grams-error""#), "{}", over.html);
    let before = energy(&server, &mei).await;
    let gave = browser.submit(&here, &format!("{here}/contribute"), &[("grams", "400")]).await;
    assert_eq!(gave.location(), format!("{here}?gave=400"));
    let page = browser.get(gave.location()).await;
    assert!(
        page.html.contains("Thank you: you gave 400 g.") && page.html.contains("You gave 400 g of your 1000 g limit."),
        "{}",
        page.html
    );
    assert_eq!(energy(&server, &mei).await, before - 400, "the API agrees");
    let beyond = browser.submit(&here, &format!("{here}/contribute"), &[("grams", "700")]).await;
    assert_eq!(beyond.status, StatusCode::CONFLICT);
    assert!(beyond.html.contains("more than your limit for this campaign"), "{}", beyond.html);
    let api = server.get(&format!("/v1/campaigns/{id}"), None).await;
    assert_eq!(api.body["contributed_grams"], 400);
    // The public page, for a visitor: no form, the same figures.
    let public = Browser::new(&server, "en").get(&here).await;
    assert!(public.html.contains("0.400 kg") && !public.html.contains("/contribute"), "{}", public.html);
    assert_eq!(Browser::new(&server, "en").get("/campaigns/cmp_999").await.status, StatusCode::NOT_FOUND);
    // The operator's catalogue lists the campaign with what was given.
    let mut operator = Browser::new(&server, "en");
    crate::web_admin::sign_in(&mut operator, &[("token", crate::harness::ADMIN_TOKEN)]).await;
    let catalogue = operator.get("/admin/catalogue").await;
    assert_eq!(catalogue.status, StatusCode::OK, "{}", catalogue.html);
    assert!(
        catalogue.html.contains("1 kg per person for the Asian Games")
            && catalogue.html.contains(r#"<td class="num">400</td>"#),
        "{}",
        catalogue.html
    );
}

crate::contract!(
    a_citizen_redeems_a_tree_opens_its_certificate_and_plants_one_with_a_friend,
    a_citizen_gives_energy_to_a_campaign_on_its_page
);
