//! Ingestion outcomes, methodologies applied by region, caps, duplicates,
//! and the explained ledger.

use chrono::{Datelike, Duration, FixedOffset, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;

/// A server with one partner (all categories) and citizens linked to it.
async fn setup(citizens: &[(&str, &str)]) -> (TestServer, Partner, Vec<Citizen>) {
    let server = TestServer::start().await;
    let all = ["clothing", "food", "housing", "transport", "use", "office", "digital_finance"];
    let partner = server.create_partner(&all).await;
    let mut linked = Vec::new();
    for (username, region) in citizens {
        let citizen = server.create_citizen(&format!("u-{username}"), region).await;
        server.link(&citizen, &partner, &all, username).await;
        linked.push(citizen);
    }
    (server, partner, linked)
}

fn at(id: &str, user_ref: &str, behavior: &str, occurred_at: &str, inputs: Value) -> Value {
    json!({ "id": id, "user_ref": user_ref, "behavior": behavior, "occurred_at": occurred_at, "inputs": inputs })
}

/// 09:00 (UTC+8, the instance time zone) of the latest day whose noon is
/// past, so that times up to three hours later are on the same day and past.
fn last_local_morning() -> chrono::DateTime<FixedOffset> {
    let tz = FixedOffset::east_opt(8 * 3600).unwrap();
    let now = Utc::now().with_timezone(&tz);
    let noon = tz.from_local_datetime(&now.date_naive().and_hms_opt(12, 0, 0).unwrap()).unwrap();
    let noon = if noon > now { noon - Duration::days(1) } else { noon };
    noon - Duration::hours(3)
}

async fn the_same_ride_is_800_g_in_beijing_and_128_g_in_wuhan() {
    let (server, partner, citizens) = setup(&[("bj", "CN-BJ"), ("hb", "CN-HB")]).await;
    let results = server
        .send_ok(
            &partner,
            json!([
                event("ride-bj", "bj", "shared_bike", json!({ "distance_km": 3.2 })),
                event("ride-hb", "hb", "shared_bike", json!({ "distance_km": 3.2 })),
            ]),
        )
        .await;
    assert_eq!(
        results[0],
        json!({ "id": "ride-bj", "outcome": "credited", "grams": 800, "methodology": results[0]["methodology"] })
    );
    assert_eq!(results[1]["grams"], 128);
    assert!(results[0]["methodology"].as_str().unwrap().contains('@'));
    assert_ne!(results[0]["methodology"], results[1]["methodology"]);
    assert_eq!(server.me(&citizens[0]).await["reduction_grams"], 800);
    // Its energy waits in a ball until collected.
    assert_eq!(server.me(&citizens[0]).await["balls_grams"], 800);
    assert_eq!(server.me(&citizens[0]).await["energy_grams"], 0);
    assert_eq!(server.me(&citizens[1]).await["reduction_grams"], 128);

    // An event's own region beats the citizen's (where the partner is
    // registered for it); a region with no methodology for the behaviour
    // is `no_methodology`; `*` applies anywhere.
    let partner = server.create_partner_in(&["transport"], &["CN-HB", "CN-SH"]).await;
    server.link(&citizens[0], &partner, &["transport"], "bj").await;
    server.link(&citizens[1], &partner, &["transport"], "hb").await;
    let mut away = event("ride-bj-in-wuhan", "bj", "shared_bike", json!({ "distance_km": 3.2 }));
    away["region"] = json!("CN-HB");
    let mut shanghai = event("ride-sh", "bj", "shared_bike", json!({ "distance_km": 3.2 }));
    shanghai["region"] = json!("CN-SH");
    let mut bus = event("bus-sh", "bj", "bus_ride", json!({}));
    bus["region"] = json!("CN-SH");
    let mut bus_hb = event("bus-hb", "hb", "bus_ride", json!({}));
    bus_hb["region"] = json!("CN-HB");
    let mut bad_region = event("bus-x", "hb", "bus_ride", json!({}));
    bad_region["region"] = json!("wuhan");
    let results = server.send_ok(&partner, json!([away, shanghai, bus, bus_hb, bad_region])).await;
    assert_eq!(results[0]["grams"], 128);
    assert_eq!(results[1]["code"], "no_methodology");
    assert_eq!(results[2]["grams"], 80);
    assert_eq!(results[3]["grams"], 150);
    assert_eq!(results[4]["code"], "invalid_region");
}

async fn the_shipped_figures_are_credited() {
    let (server, partner, citizens) = setup(&[("fig", "CN-BJ")]).await;
    let results = server
        .send_ok(
            &partner,
            json!([
                event("1", "fig", "e_payment", json!({ "amount_yuan": 12.5 })),
                event("2", "fig", "no_utensils", json!({})),
                event("3", "fig", "e_waybill", json!({})),
                event("4", "fig", "secondhand_clothing", json!({ "items": 3 })),
                event("5", "fig", "secondhand_computer", json!({ "items": 1 })),
                event("6", "fig", "utility_bill_online", json!({})),
                event("7", "fig", "bus_ride", json!({})),
            ]),
        )
        .await;
    let grams: Vec<i64> = results.iter().map(|r| r["grams"].as_i64().unwrap()).collect();
    assert_eq!(grams, vec![5, 45, 5, 2_160, 162_640, 262, 80]);
    assert_eq!(server.me(&citizens[0]).await["reduction_grams"], grams.iter().sum::<i64>());
}

async fn bad_events_are_rejected_one_by_one_with_stable_codes() {
    let (server, partner, citizens) = setup(&[("odd", "CN-BJ")]).await;
    let future = (Utc::now() + Duration::hours(2)).to_rfc3339();
    let ancient = (Utc::now() - Duration::days(91)).to_rfc3339();
    let results = server
        .send_ok(
            &partner,
            json!([
                event("unknown", "odd", "teleportation", json!({})),
                event("too-far", "odd", "shared_bike", json!({ "distance_km": 150 })),
                event("zero", "odd", "shared_bike", json!({ "distance_km": 0 })),
                event("missing", "odd", "shared_bike", json!({})),
                event("text", "odd", "shared_bike", json!({ "distance_km": "3 km" })),
                event("extra", "odd", "shared_bike", json!({ "distance_km": 1, "speed": 20 })),
                event("fraction", "odd", "secondhand_clothing", json!({ "items": 1.5 })),
                at("future", "odd", "bus_ride", &future, json!({})),
                at("old", "odd", "bus_ride", &ancient, json!({})),
                at("garbled", "odd", "bus_ride", "yesterday", json!({})),
                event("fine", "odd", "shared_bike", json!({ "distance_km": 100 })),
            ]),
        )
        .await;
    let codes: Vec<&str> =
        results.iter().map(|r| r["code"].as_str().unwrap_or(r["outcome"].as_str().unwrap())).collect();
    assert_eq!(
        codes,
        vec![
            "unknown_behavior",
            "input_out_of_bounds",
            "input_out_of_bounds",
            "missing_input",
            "invalid_input",
            "unknown_input",
            "invalid_input",
            "occurred_in_future",
            "too_old",
            "invalid_timestamp",
            "credited",
        ]
    );
    for r in &results[..10] {
        assert_eq!(r["outcome"], "rejected");
        assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
        assert!(r.get("grams").is_none(), "{r}");
    }
    // Nothing rejected was credited; the good event was.
    assert_eq!(server.me(&citizens[0]).await["reduction_grams"], 25_000);

    // A rejected event is not remembered: fixed and resent, it is credited.
    let fixed =
        server.send_ok(&partner, json!([event("too-far", "odd", "shared_bike", json!({ "distance_km": 15 }))])).await;
    assert_eq!(fixed[0]["outcome"], "credited");
}

async fn a_duplicate_id_credits_nothing_and_returns_the_original_grams() {
    let (server, partner, citizens) = setup(&[("dup", "CN-BJ")]).await;
    let first =
        server.send_ok(&partner, json!([event("once", "dup", "shared_bike", json!({ "distance_km": 2 }))])).await;
    assert_eq!(first[0]["outcome"], "credited");
    // Resent later, even with other content, it is a duplicate of the original.
    let again = server
        .send_ok(
            &partner,
            json!([
                event("once", "dup", "shared_bike", json!({ "distance_km": 9 })),
                event("twice", "dup", "bus_ride", json!({})),
                event("twice", "dup", "bus_ride", json!({}))
            ]),
        )
        .await;
    assert_eq!(
        again[0],
        json!({ "id": "once", "outcome": "duplicate", "grams": 500, "methodology": first[0]["methodology"] })
    );
    assert_eq!(again[1]["outcome"], "credited");
    assert_eq!(again[2]["outcome"], "duplicate");
    assert_eq!(again[2]["grams"], 80);
    assert_eq!(server.me(&citizens[0]).await["reduction_grams"], 580);
}

async fn the_same_act_from_a_second_partner_is_a_duplicate_act() {
    let (server, first, citizens) = setup(&[("fp", "CN-BJ")]).await;
    let second = server.create_partner(&["transport"]).await;
    server.link(&citizens[0], &second, &["transport"], "fp-at-second").await;
    let mut trip = event("t-1", "fp", "bus_ride", json!({}));
    trip["fingerprint"] = json!("transit-authority-trip-42");
    assert_eq!(server.send_ok(&first, json!([trip])).await[0]["outcome"], "credited");

    let mut same = event("other-id", "fp-at-second", "bus_ride", json!({}));
    same["fingerprint"] = json!("transit-authority-trip-42");
    let mut other = event("other-id-2", "fp-at-second", "bus_ride", json!({}));
    other["fingerprint"] = json!("transit-authority-trip-43");
    let results = server.send_ok(&second, json!([same, other])).await;
    assert_eq!(results[0]["outcome"], "rejected");
    assert_eq!(results[0]["code"], "duplicate_act");
    assert_eq!(results[1]["outcome"], "credited");
    assert_eq!(server.me(&citizens[0]).await["reduction_grams"], 160);
}

async fn a_daily_cap_credits_ten_payments_a_day() {
    let (server, partner, citizens) = setup(&[("payer", "CN-BJ")]).await;
    let noon = last_local_morning();
    let events: Vec<Value> = (0..11)
        .map(|i| {
            at(
                &format!("pay-{i}"),
                "payer",
                "e_payment",
                &(noon + Duration::minutes(i)).to_rfc3339(),
                json!({ "amount_yuan": 3 }),
            )
        })
        .collect();
    let results = server.send_ok(&partner, json!(events)).await;
    for r in &results[..10] {
        assert_eq!(r["outcome"], "credited", "{r}");
        assert_eq!(r["grams"], 5);
    }
    assert_eq!(results[10]["outcome"], "capped");
    assert_eq!(results[10]["grams"], 0);
    // The cap holds across batches, and the next day has its own.
    let later = server
        .send_ok(
            &partner,
            json!([
                at(
                    "pay-late",
                    "payer",
                    "e_payment",
                    &(noon + Duration::minutes(30)).to_rfc3339(),
                    json!({ "amount_yuan": 3 })
                ),
                at(
                    "pay-before",
                    "payer",
                    "e_payment",
                    &(noon - Duration::days(1)).to_rfc3339(),
                    json!({ "amount_yuan": 3 })
                ),
            ]),
        )
        .await;
    assert_eq!(later[0]["outcome"], "capped");
    assert_eq!(later[1]["outcome"], "credited");
    assert_eq!(server.me(&citizens[0]).await["reduction_grams"], 55);
    // A capped event is remembered: resending it is a duplicate of 0 g.
    let resent = server.send_ok(&partner, json!([events[10].clone()])).await;
    assert_eq!(resent[0]["outcome"], "duplicate");
    assert_eq!(resent[0]["grams"], 0);
}

async fn a_monthly_cap_credits_ten_bills_a_month() {
    let (server, partner, citizens) = setup(&[("bills", "CN-BJ")]).await;
    let noon = last_local_morning();
    // Ten bills spread over this month's past days (some on the same day),
    // an eleventh this month, and one in the previous month.
    let first_of_month = noon - Duration::days(i64::from(noon.day()) - 1);
    let events: Vec<Value> = (0..11)
        .map(|i| {
            let day = first_of_month + Duration::days(i % i64::from(noon.day())) + Duration::minutes(i);
            at(&format!("bill-{i}"), "bills", "utility_bill_online", &day.to_rfc3339(), json!({}))
        })
        .collect();
    let results = server.send_ok(&partner, json!(events)).await;
    assert!(results[..10].iter().all(|r| r["outcome"] == "credited" && r["grams"] == 262), "{results:?}");
    assert_eq!(results[10]["outcome"], "capped");
    assert_eq!(results[10]["grams"], 0);
    let previous_month =
        at("bill-prev", "bills", "utility_bill_online", &(first_of_month - Duration::days(1)).to_rfc3339(), json!({}));
    assert_eq!(server.send_ok(&partner, json!([previous_month])).await[0]["outcome"], "credited");
    assert_eq!(server.me(&citizens[0]).await["reduction_grams"], 11 * 262);
}

async fn the_ledger_explains_every_gram_and_pages_by_cursor() {
    let (server, partner, citizens) = setup(&[("reader", "CN-BJ")]).await;
    let events: Vec<Value> =
        (0..5).map(|i| event(&format!("l-{i}"), "reader", "shared_bike", json!({ "distance_km": 1 + i }))).collect();
    server.send_ok(&partner, json!(events)).await;
    let token = &citizens[0].token;

    let page = server.get("/v1/me/ledger?limit=4", Some(token)).await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    let entries = page.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    // Newest first: the last event's two entries (energy into its ball, then reduction).
    let newest = &entries[0];
    assert_eq!(newest["account"], "balls");
    assert_eq!(newest["grams"], 1_250);
    assert_eq!(newest["kind"], "energy_issued");
    assert_eq!(newest["event"]["id"], "l-4");
    assert_eq!(newest["event"]["partner"], partner.id.as_str());
    assert_eq!(newest["event"]["behavior"], "shared_bike");
    assert_eq!(newest["event"]["inputs"], json!({ "distance_km": 5 }));
    assert!(newest["methodology"]["formula"].as_str().unwrap().contains("distance_km"), "{newest}");
    assert!(!newest["methodology"]["version"].as_str().unwrap().is_empty());
    assert_eq!(entries[1]["account"], "reduction");
    assert_eq!(entries[1]["kind"], "reduction_verified");

    let mut seen = entries.len();
    let mut cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    loop {
        let next = server.get(&format!("/v1/me/ledger?limit=4&cursor={cursor}"), Some(token)).await;
        seen += next.body["entries"].as_array().unwrap().len();
        match next.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, 10, "two entries for each of five credited events");
    let sum: i64 = {
        let all = server.get("/v1/me/ledger?limit=500", Some(token)).await;
        all.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["account"] == "reduction")
            .map(|e| e["grams"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(sum, server.me(&citizens[0]).await["reduction_grams"].as_i64().unwrap());

    for (query, code) in [
        ("limit=0", "invalid_limit"),
        ("limit=501", "invalid_limit"),
        ("cursor=abc", "invalid_cursor"),
        ("limit=x", "invalid_query"),
    ] {
        let bad = server.get(&format!("/v1/me/ledger?{query}"), Some(token)).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(bad.code(), code, "{query}");
    }
}

/// References are stored and compared byte for byte on both stores: a
/// backslash, `\N`, quotes and CJK text survive the PostgreSQL COPY path;
/// control characters are refused one event at a time, and the rest of the
/// batch is credited.
async fn references_with_unusual_text_round_trip_and_control_characters_are_refused() {
    let (server, partner, citizens) = setup(&[("text", "CN-BJ")]).await;
    let odd_ids = ["back\\slash", "\\N", "q\"uote'd", "骑行-一", "tab\\t\\n"];
    let mut batch: Vec<Value> =
        odd_ids.iter().map(|id| event(id, "text", "shared_bike", json!({ "distance_km": 1 }))).collect();
    let mut printed = event("printed", "text", "bus_ride", json!({}));
    printed["fingerprint"] = json!("trip\\42\\N");
    batch.push(printed);
    for (id, user_ref, fingerprint) in [
        ("nul\u{0}", "text", None),
        ("tab\tid", "text", None),
        ("ok-ref", "te\nxt", None),
        ("ok-fp", "text", Some("fp\u{0}")),
    ] {
        let mut bad = event(id, user_ref, "bus_ride", json!({}));
        if let Some(fingerprint) = fingerprint {
            bad["fingerprint"] = json!(fingerprint);
        }
        batch.push(bad);
    }
    let results = server.send_ok(&partner, json!(batch)).await;
    for (i, id) in odd_ids.iter().enumerate() {
        assert_eq!(results[i]["id"], *id);
        assert_eq!(results[i]["outcome"], "credited", "{id}: {}", results[i]);
    }
    assert_eq!(results[5]["outcome"], "credited");
    let codes: Vec<&str> = results[6..].iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["invalid_id", "invalid_id", "invalid_user_ref", "invalid_fingerprint"]);
    assert!(results[6]["message"].as_str().unwrap().contains("control characters"), "{}", results[6]);
    assert_eq!(server.me(&citizens[0]).await["reduction_grams"], 5 * 250 + 80);

    // A link's user_ref follows the same rule; the link code is not used up.
    let newcomer = server.create_citizen("u-newcomer", "CN-BJ").await;
    let grant = server
        .post("/v1/me/consents", Some(&newcomer.token), json!({ "partner_id": partner.id, "scopes": ["transport"] }))
        .await;
    let code = grant.body["link_code"].as_str().unwrap();
    let refused =
        server.signed(&partner, "/v1/partner/links", json!({ "link_code": code, "user_ref": "a\u{0}" })).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    assert_eq!(refused.code(), "invalid_user_ref");
    let linked = server.signed(&partner, "/v1/partner/links", json!({ "link_code": code, "user_ref": "text-2" })).await;
    assert_eq!(linked.status, StatusCode::CREATED, "{linked:?}");

    // The ledger shows each id exactly as sent.
    let ledger = server.get("/v1/me/ledger?limit=500", Some(&citizens[0].token)).await;
    let mut shown: Vec<String> = ledger.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["account"] == "reduction")
        .map(|e| e["event"]["id"].as_str().unwrap().to_owned())
        .collect();
    shown.sort();
    let mut sent: Vec<String> = odd_ids.iter().map(|s| s.to_string()).chain(["printed".to_owned()]).collect();
    sent.sort();
    assert_eq!(shown, sent);

    // Sent again, each is found by its exact id, and the fingerprint by its exact text.
    let mut again: Vec<Value> =
        odd_ids.iter().map(|id| event(id, "text", "shared_bike", json!({ "distance_km": 1 }))).collect();
    let mut same_act = event("printed-again", "text", "bus_ride", json!({}));
    same_act["fingerprint"] = json!("trip\\42\\N");
    again.push(same_act);
    let results = server.send_ok(&partner, json!(again)).await;
    for (i, id) in odd_ids.iter().enumerate() {
        assert_eq!(results[i]["outcome"], "duplicate", "{id}: {}", results[i]);
        assert_eq!(results[i]["grams"], 250);
    }
    assert_eq!(results[5]["code"], "duplicate_act", "{}", results[5]);
    assert_eq!(server.me(&citizens[0]).await["reduction_grams"], 5 * 250 + 80);

    // An event stored before the rule, with a tab in its id, still answers
    // its retry as a duplicate with the original grams.
    let tab = match backend() {
        Backend::Sqlite => "char(9)",
        Backend::Postgres => "chr(9)",
    };
    let renamed = format!("UPDATE events SET event_id = 'old' || {tab} || 'id' WHERE event_id = '骑行-一'");
    execute_sql(&server.database_url, &renamed).await.unwrap();
    let retry = event("old\tid", "text", "shared_bike", json!({ "distance_km": 1 }));
    let results = server.send_ok(&partner, json!([retry])).await;
    assert_eq!(results[0]["outcome"], "duplicate", "{}", results[0]);
    assert_eq!(results[0]["grams"], 250);
}

crate::contract!(
    the_same_ride_is_800_g_in_beijing_and_128_g_in_wuhan,
    the_shipped_figures_are_credited,
    bad_events_are_rejected_one_by_one_with_stable_codes,
    a_duplicate_id_credits_nothing_and_returns_the_original_grams,
    the_same_act_from_a_second_partner_is_a_duplicate_act,
    a_daily_cap_credits_ten_payments_a_day,
    a_monthly_cap_credits_ten_bills_a_month,
    the_ledger_explains_every_gram_and_pages_by_cursor,
    references_with_unusual_text_round_trip_and_control_characters_are_refused,
);
