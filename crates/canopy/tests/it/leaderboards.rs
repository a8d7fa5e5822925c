//! Leaderboards (issue 10): a region's citizens ranked by verified
//! reduction or energy received, equal grams sharing a rank, paged, with
//! the viewer's own place and how fresh the ranking is.

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

fn ride(id: &str, user_ref: &str, km: i64) -> Value {
    let at = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    json!({ "id": id, "user_ref": user_ref, "behavior": "shared_bike", "occurred_at": at, "inputs": { "distance_km": km } })
}

async fn board(server: &TestServer, viewer: &Citizen, query: &str) -> Reply {
    server.get(&format!("/v1/leaderboards?{query}"), Some(&viewer.token)).await
}

fn ranks(reply: &Reply) -> Vec<(String, i64, i64)> {
    reply.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (e["display_name"].as_str().unwrap().to_owned(), e["rank"].as_i64().unwrap(), e["grams"].as_i64().unwrap())
        })
        .collect()
}

async fn a_region_board_ranks_ties_together_and_pages() {
    let server = TestServer::start_with(|config| config.game.set("ball_ripens", "immediately").unwrap()).await;
    let partner = server.create_partner_in(&["transport"], &["CN-BJ", "CN-HB"]).await;
    let mut citizens = Vec::new();
    for (name, region) in
        [("lb-ann", "CN-BJ"), ("lb-bo", "CN-BJ"), ("lb-cy", "CN-BJ"), ("lb-di", "CN-BJ"), ("lb-ed", "CN-HB")]
    {
        let citizen = server.create_citizen(name, region).await;
        server.link(&citizen, &partner, &["transport"], name).await;
        citizens.push(citizen);
    }
    let credited = server
        .send_ok(
            &partner,
            json!([
                ride("r-a", "lb-ann", 2),
                ride("r-b", "lb-bo", 2),
                ride("r-c", "lb-cy", 4),
                ride("r-e", "lb-ed", 10)
            ]),
        )
        .await;
    let grams: Vec<i64> = credited.iter().map(|o| o["grams"].as_i64().unwrap()).collect();
    assert_eq!(grams[0], grams[1]);
    assert!(grams[2] > grams[0]);
    let before = Utc::now();

    let all = board(&server, &citizens[3], "board=region&metric=reduction&period=all").await;
    assert_eq!(all.status, StatusCode::OK, "{all:?}");
    let display = |i: usize| citizens[i].username.clone();
    assert_eq!(
        ranks(&all),
        [(display(2), 1, grams[2]), (display(0), 2, grams[0]), (display(1), 2, grams[1])],
        "equal grams share a rank; Wuhan is another board"
    );
    assert_eq!(all.body["me"], json!({ "rank": 4, "grams": 0 }), "a viewer with nothing ranks after everyone");
    assert_eq!(all.body["region"], "CN-BJ");
    let as_of = DateTime::parse_from_rfc3339(all.body["as_of"].as_str().unwrap()).unwrap().with_timezone(&Utc);
    assert!((before - as_of).num_seconds() < 60 && as_of <= Utc::now(), "{as_of}");
    assert_eq!(all.body["entries"][0]["user_id"], citizens[2].id.as_str());

    // Pages of two: the tie continues on the next page with its rank.
    let first = board(&server, &citizens[0], "period=all&limit=2").await;
    assert_eq!(ranks(&first).len(), 2);
    assert_eq!(first.body["me"], json!({ "rank": 2, "grams": grams[0] }));
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = board(&server, &citizens[0], &format!("period=all&limit=2&cursor={cursor}")).await;
    assert_eq!(ranks(&second), [(display(1), 2, grams[1])]);
    assert!(second.body["next_cursor"].is_null());

    // This week, and another region by name.
    let week = board(&server, &citizens[0], "period=week").await;
    assert_eq!(ranks(&week).len(), 3, "{week:?}");
    let wuhan = board(&server, &citizens[0], "region=CN-HB&period=month").await;
    assert_eq!(ranks(&wuhan), [(display(4), 1, grams[3])]);
    assert_eq!(wuhan.body["me"]["grams"], 0);

    // Energy counts what was collected into one's energy.
    let collect = [("authorization", format!("Bearer {}", citizens[1].token))];
    assert_eq!(server.raw(Method::POST, "/v1/me/balls/collect", &collect, vec![]).await.status, StatusCode::OK);
    let energy = board(&server, &citizens[1], "metric=energy&period=day").await;
    assert_eq!(ranks(&energy), [(display(1), 1, grams[1])], "{energy:?}");

    for (query, code) in [
        ("board=world", "invalid_board"),
        ("metric=carbs", "invalid_metric"),
        ("period=year", "invalid_period"),
        ("region=XX-YY", "invalid_region"),
        ("limit=0", "invalid_limit"),
        ("limit=201", "invalid_limit"),
        ("cursor=abc", "invalid_cursor"),
        ("limit=-1", "invalid_query"),
    ] {
        let refused = board(&server, &citizens[0], query).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, code), "{query}");
    }
    let anonymous = server.get("/v1/leaderboards", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

async fn a_friends_board_ranks_the_viewer_among_friends_only() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport"]).await;
    let mut citizens = Vec::new();
    for name in ["fb-ann", "fb-bo", "fb-cy"] {
        let citizen = server.create_citizen(name, "CN-BJ").await;
        server.link(&citizen, &partner, &["transport"], name).await;
        citizens.push(citizen);
    }
    server.send_ok(&partner, json!([ride("f-a", "fb-ann", 1), ride("f-b", "fb-bo", 3), ride("f-c", "fb-cy", 5)])).await;
    // Ann and Bo are friends; Cy, the region's best, is no friend of Ann's.
    let asked = server.post("/v1/me/friends/requests", Some(&citizens[0].token), json!({ "username": "fb-bo" })).await;
    assert_eq!(asked.status, StatusCode::CREATED, "{asked:?}");
    let id = asked.body["id"].as_str().unwrap().to_owned();
    let accepted =
        server.post(&format!("/v1/me/friends/requests/{id}/accept"), Some(&citizens[1].token), json!({})).await;
    assert_eq!(accepted.status, StatusCode::OK, "{accepted:?}");

    let friends = board(&server, &citizens[0], "board=friends&period=all").await;
    assert_eq!(friends.status, StatusCode::OK, "{friends:?}");
    let names: Vec<String> = ranks(&friends).into_iter().map(|(name, rank, _)| format!("{name}:{rank}")).collect();
    assert_eq!(names, ["fb-bo:1", "fb-ann:2"]);
    assert_eq!(friends.body["me"]["rank"], 2);
    assert!(friends.body["region"].is_null());
    let region = board(&server, &citizens[0], "board=region&period=all").await;
    assert_eq!(ranks(&region).len(), 3);
}

crate::contract!(a_region_board_ranks_ties_together_and_pages, a_friends_board_ranks_the_viewer_among_friends_only);
