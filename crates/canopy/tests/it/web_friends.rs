//! Friends (issue 13) over HTTP: asking by username, answering, a friend's
//! forest with what may be taken, taking a share and watering (checked
//! against the API), refusals shown in words, removing and blocking.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;
use crate::webpage::Browser;

async fn friends_ask_answer_take_water_and_block_on_the_pages() {
    let server = TestServer::start_with(|config| config.game.set("ball_ripens", "immediately").unwrap()).await;
    let ann = server.create_citizen("wf-ann", "CN-BJ").await;
    let bo = server.create_citizen("wf-bo", "CN-BJ").await;
    let mut ann_page = Browser::signed_in(&server, &ann, "en");
    let mut bo_page = Browser::signed_in(&server, &bo, "en");

    let nobody = ann_page.submit("/friends", "/friends/requests", &[("username", "wf-nobody")]).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    assert!(nobody.html.contains(r#"id="username-error""#) && nobody.html.contains("Nobody has this username."));
    assert!(nobody.html.contains(r#"value="wf-nobody""#), "what was typed stays");
    let asked = ann_page.submit("/friends", "/friends/requests", &[("username", "wf-bo")]).await;
    assert_eq!((asked.status, asked.location()), (StatusCode::SEE_OTHER, "/friends?done=requested"));
    assert!(ann_page.get("/friends?done=requested").await.html.contains("Waiting for an answer"));

    // Bo sees the request and accepts it.
    let page = bo_page.get("/friends").await;
    assert!(page.html.contains("Asking to be your friend") && page.html.contains("wf-ann"), "{}", page.html);
    let accept = page.html.split("/friends/requests/").nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(accept.ends_with("/accept"), "{accept}");
    let accepted = bo_page.submit("/friends", &format!("/friends/requests/{accept}"), &[]).await;
    assert_eq!(accepted.location(), "/friends?done=accepted");
    let friends = server.get("/v1/me/friends", Some(&ann.token)).await.body;
    assert_eq!(friends["friends"][0]["user_id"], bo.id.as_str(), "the API agrees: {friends}");

    // Bo's act grows a ripe ball; Ann sees it in Bo's forest and takes her share.
    let partner = server.create_partner(&["transport"]).await;
    server.link(&bo, &partner, &["transport"], "bo").await;
    server.send_ok(&partner, json!([event("wf-1", "bo", "shared_bike", json!({ "distance_km": 4 }))])).await;
    let forest_path = format!("/friends/{}", bo.id);
    let forest = ann_page.get(&forest_path).await;
    assert_eq!(forest.status, StatusCode::OK, "{}", forest.html);
    assert!(forest.html.contains("wf-bo") || forest.html.contains("forest"), "{}", forest.html);
    let take =
        forest.html.split(&format!("{forest_path}/balls/")).nth(1).expect("a ball to take").split('"').next().unwrap();
    let take_path = format!("{forest_path}/balls/{take}");
    let taken = ann_page.submit(&forest_path, &take_path, &[]).await;
    assert_eq!(taken.status, StatusCode::SEE_OTHER, "{}", taken.html);
    let grams: i64 = taken.location().rsplit('=').next().unwrap().parse().unwrap();
    assert!(grams > 0);
    assert_eq!(server.me(&ann).await["energy_grams"].as_i64(), Some(grams), "the API agrees");
    assert!(ann_page.get(taken.location()).await.html.contains(&format!("You took {grams} g of energy.")));
    // Taking twice is refused in words.
    let again = ann_page.submit(&forest_path, &take_path, &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.html.contains("You took from this one already."), "{}", again.html);

    // Watering: a bad amount, then more than she has, then a good one.
    let water = format!("{forest_path}/water");
    let bad = ann_page.submit(&forest_path, &water, &[("grams", "lots")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.html.contains("Choose one of the amounts offered."), "{}", bad.html);
    let odd = ann_page.submit(&forest_path, &water, &[("grams", "7")]).await;
    assert!(odd.status.is_client_error() && odd.html.contains(r#"role="alert""#), "{}", odd.html);
    let bo_before = server.me(&bo).await["energy_grams"].as_i64().unwrap();
    let page = ann_page.get(&forest_path).await;
    assert!(page.html.contains(r#"<option value="10">10 g</option>"#), "the allowed amounts: {}", page.html);
    let watered = ann_page.submit(&forest_path, &water, &[("grams", "10")]).await;
    assert_eq!(
        (watered.status, watered.location()),
        (StatusCode::SEE_OTHER, format!("{forest_path}?watered=10").as_str())
    );
    assert_eq!(server.me(&bo).await["energy_grams"].as_i64(), Some(bo_before + 10), "the API agrees");
    assert_eq!(server.me(&ann).await["energy_grams"].as_i64(), Some(grams - 10));

    // Remove and block.
    let removed = bo_page.submit("/friends", &format!("/friends/{}/remove", ann.id), &[]).await;
    assert_eq!(removed.location(), "/friends?done=removed");
    assert_eq!(ann_page.get(&forest_path).await.status, StatusCode::NOT_FOUND);
    let blocked = bo_page.submit("/friends", "/friends/blocks", &[("username", "wf-ann")]).await;
    assert_eq!(blocked.location(), "/friends?done=blocked");
    let page = bo_page.get("/friends").await;
    assert!(page.html.contains("Blocked") && page.html.contains("Unblock"), "{}", page.html);
    let refused = ann_page.submit("/friends", "/friends/requests", &[("username", "wf-bo")]).await;
    assert!(refused.status == StatusCode::SEE_OTHER || refused.status == StatusCode::CONFLICT, "a silent block");
}

crate::contract!(friends_ask_answer_take_water_and_block_on_the_pages);
