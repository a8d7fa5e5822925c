//! Year-on-year bill vouchers (issue 12): a household whose monthly bill
//! fell by more than the program's threshold against the same month a year
//! earlier gets a consumer voucher worth the decrease from the government's
//! funded pool (never beyond it), usable once at a participating shop, and
//! the kWh decrease is credited as verified reduction.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::checkins::admin;
use crate::harness::*;
use crate::process::canopy;

async fn bill(server: &TestServer, utility: &Partner, user_ref: &str, month: &str, kwh: f64, fen: i64) -> Reply {
    let body = json!({ "user_ref": user_ref, "month": month, "kwh": kwh, "amount_fen": fen });
    server.signed(utility, "/v1/partner/bills", body).await
}

async fn vouchers(server: &TestServer, who: &Citizen) -> Vec<Value> {
    let reply = server.get("/v1/me/energy/vouchers", Some(&who.token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["vouchers"].as_array().unwrap().clone()
}

async fn a_lower_bill_than_a_year_before_earns_a_voucher_from_the_pool() {
    let server = TestServer::start().await;
    let utility = server.create_partner(&["housing"]).await;
    let shop = server.create_partner(&["use"]).await;
    let other_shop = server.create_partner(&["use"]).await;
    let mut households = Vec::new();
    for i in 0..3 {
        let citizen = server.create_citizen(&format!("yoy-{i}"), "CN-JX").await;
        server.link(&citizen, &utility, &["housing"], &format!("yoy-hh-{i}")).await;
        households.push(citizen);
    }
    let pool = admin(
        &server,
        Method::POST,
        "/v1/pools",
        json!({ "name": "District consumption fund", "sponsor": "Huangyan district", "unit": "fen" }),
    )
    .await;
    let pool = pool.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        admin(&server, Method::POST, &format!("/v1/pools/{pool}/fund"), json!({ "amount": 1_500 })).await.status,
        StatusCode::OK
    );
    let rewards =
        admin(&server, Method::POST, "/v1/pools", json!({ "name": "Peak premiums", "sponsor": "Grid", "unit": "fen" }))
            .await;
    let program = admin(
        &server,
        Method::POST,
        "/v1/energy/programs",
        json!({ "name": "Huangyan bill vouchers", "region": "CN-JX", "reward_fen_per_kwh": 0,
                "baseline": { "method": "mean_10_of_10" }, "pool": rewards.body["id"], "opt_in": "default_in",
                "bill_vouchers": { "pool": pool, "threshold_pct": 5, "merchants": [shop.id] } }),
    )
    .await;
    assert_eq!(program.status, StatusCode::CREATED, "{program:?}");
    assert_eq!(
        program.body["bill_vouchers"],
        json!({ "pool": pool, "threshold_pct": 5.0, "ratio": 1.0, "valid_days": 90, "merchants": [shop.id] })
    );
    for (i, fen) in [(0, 20_000), (1, 20_000), (2, 20_000)] {
        let last_year = bill(&server, &utility, &format!("yoy-hh-{i}"), "2025-06", 200.0, fen).await;
        assert_eq!(last_year.status, StatusCode::CREATED);
        assert!(last_year.body.get("voucher").is_none());
    }
    // 6.25 % less: a voucher of 12.50 yuan, and 12.5 kWh × 539.5 g (Central China grid) credited.
    let lower = bill(&server, &utility, "yoy-hh-0", "2026-06", 187.5, 18_750).await;
    assert_eq!(lower.status, StatusCode::CREATED, "{lower:?}");
    assert_eq!(
        lower.body["voucher"],
        json!({ "program_id": program.body["id"], "earned_fen": 1_250, "face_value_fen": 1_250, "kwh_decrease": 12.5, "carbon_grams": 6_743 })
    );
    assert!(lower.body["voucher"].get("code").is_none(), "the code goes to the household, not the utility");
    // Exactly 5 % less is not more than 5 %.
    let five = bill(&server, &utility, "yoy-hh-1", "2026-06", 190.0, 19_000).await;
    assert_eq!((five.body["decrease_fen"].as_i64(), five.body.get("voucher")), (Some(1_000), None));
    // Half: 100 yuan earned, the 2.50 yuan left in the pool paid.
    let half = bill(&server, &utility, "yoy-hh-2", "2026-06", 100.0, 10_000).await;
    assert_eq!(
        (half.body["voucher"]["earned_fen"].as_i64(), half.body["voucher"]["face_value_fen"].as_i64()),
        (Some(10_000), Some(250))
    );
    // The same bill again: the same voucher, not a second one.
    let again = bill(&server, &utility, "yoy-hh-0", "2026-06", 187.5, 18_750).await;
    assert_eq!((again.status, &again.body["voucher"]["face_value_fen"]), (StatusCode::OK, &json!(1_250)));
    let pools = admin(&server, Method::GET, "/v1/pools", Value::Null).await;
    let balance =
        pools.body["pools"].as_array().unwrap().iter().find(|p| p["id"] == pool.as_str()).unwrap()["balance"].clone();
    assert_eq!(balance, 0, "never beyond the pool");

    let mine = vouchers(&server, &households[0]).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(
        (mine[0]["month"].as_str(), mine[0]["face_value_fen"].as_i64(), mine[0]["status"].as_str()),
        (Some("2026-06"), Some(1_250), Some("unused"))
    );
    let me = server.me(&households[0]).await;
    assert_eq!(me["reduction_grams"], 6_743);
    let code = mine[0]["code"].as_str().unwrap().to_owned();
    // At the till: another shop may not take it; the program's shop takes it once.
    let wrong = server.signed(&other_shop, "/v1/partner/vouchers/redeem", json!({ "code": code })).await;
    assert_eq!((wrong.status, wrong.code()), (StatusCode::FORBIDDEN, "voucher_wrong_merchant"));
    let taken = server.signed(&shop, "/v1/partner/vouchers/redeem", json!({ "code": code })).await;
    assert_eq!(taken.status, StatusCode::OK, "{taken:?}");
    assert_eq!((taken.body["face_value_fen"].as_i64(), &taken.body["program_id"]), (Some(1_250), &program.body["id"]));
    let twice = server.signed(&shop, "/v1/partner/vouchers/redeem", json!({ "code": code })).await;
    assert_eq!((twice.status, twice.code()), (StatusCode::CONFLICT, "voucher_used"));
    assert_eq!(vouchers(&server, &households[0]).await[0]["status"], "used");
    let unknown = server.signed(&shop, "/v1/partner/vouchers/redeem", json!({ "code": "YOY-NOSUCHCODE" })).await;
    assert_eq!((unknown.status, unknown.code()), (StatusCode::NOT_FOUND, "voucher_unknown"));

    // Programs refuse rules that make no sense.
    for (rule, what) in [
        (json!({ "pool": pool, "threshold_pct": 120, "merchants": [shop.id] }), "threshold"),
        (json!({ "pool": pool, "merchants": [] }), "no shop"),
        (json!({ "pool": pool, "merchants": ["ptn_9999"] }), "unknown shop"),
    ] {
        let refused = admin(
            &server,
            Method::POST,
            "/v1/energy/programs",
            json!({ "name": "x", "region": "CN-JX", "reward_fen_per_kwh": 0, "baseline": { "method": "mean_10_of_10" },
                    "pool": rewards.body["id"], "opt_in": "default_in", "bill_vouchers": rule }),
        )
        .await;
        assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, "invalid_program"), "{what}");
    }
    let verified =
        canopy().args(["ledger", "verify"]).env("CANOPY_DATABASE_URL", &server.database_url).output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
}

crate::contract!(a_lower_bill_than_a_year_before_earns_a_voucher_from_the_pool);
