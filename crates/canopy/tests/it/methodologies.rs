//! Methodologies over HTTP and the authoring CLI.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

const CUSTOM: &str = r#"
id = "test-scooter"
version = "1"
title = "Shared e-scooter ride (test)"
issuer = "Test Authority"
source = "integration test"
behavior = "shared_scooter"
category = "transport"
regions = ["*"]
valid_from = 2020-01-01

[inputs.distance_km]
unit = "km"
type = "number"
exclusive_minimum = 0
maximum = 50

[formula]
baseline = "round(120.6 * distance_km)"
project = "20 * distance_km"

[caps]
per_day_grams = 1000
"#;

async fn methodologies_are_listed_with_inputs_caps_and_formulas() {
    let server = TestServer::start().await;
    let list = server.get("/v1/methodologies", None).await;
    assert_eq!(list.status, StatusCode::OK);
    let all = list.body["methodologies"].as_array().unwrap();
    assert!(all.len() >= 12, "at least 12 shipped methodologies");
    for behavior in [
        "shared_bike",
        "e_payment",
        "no_utensils",
        "e_waybill",
        "secondhand_clothing",
        "secondhand_computer",
        "utility_bill_online",
        "bus_ride",
    ] {
        assert!(all.iter().any(|m| m["behavior"] == behavior), "{behavior} is shipped");
    }
    let payment = all.iter().find(|m| m["behavior"] == "e_payment").unwrap();
    assert_eq!(payment["category"], "digital_finance");
    assert_eq!(payment["caps"]["per_day_count"], 10);
    assert_eq!(payment["inputs"][0]["name"], "amount_yuan");
    assert_eq!(payment["inputs"][0]["minimum"], "1");
    let bike_bj = all.iter().find(|m| m["behavior"] == "shared_bike" && m["regions"] == json!(["CN-BJ"])).unwrap();
    assert!(bike_bj["formula"]["text"].as_str().unwrap().contains("250"));
    assert_eq!(bike_bj["inputs"][0]["exclusive_minimum"], "0");
    assert_eq!(bike_bj["inputs"][0]["maximum"], "100");
}

async fn the_operator_publishes_a_methodology_and_it_credits_at_once() {
    let server = TestServer::start().await;
    let toml_body = |text: &str| text.as_bytes().to_vec();
    let headers = [("content-type", "application/toml".to_owned()), ("authorization", format!("Bearer {ADMIN_TOKEN}"))];

    let anonymous = server.raw(Method::POST, "/v1/methodologies", &headers[..1], toml_body(CUSTOM)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let published = server.raw(Method::POST, "/v1/methodologies", &headers, toml_body(CUSTOM)).await;
    assert_eq!(published.status, StatusCode::CREATED, "{published:?}");
    assert_eq!(published.body["key"], "test-scooter@1");
    let again = server.raw(Method::POST, "/v1/methodologies", &headers, toml_body(CUSTOM)).await;
    assert_eq!(again.status, StatusCode::OK, "identical re-publication is a no-op");

    let changed = CUSTOM.replace("20 * distance_km", "10 * distance_km");
    let refused = server.raw(Method::POST, "/v1/methodologies", &headers, toml_body(&changed)).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.code(), "methodology_version_exists");

    let invalid = CUSTOM.replace("20 * distance_km", "20 * distanse_km");
    let bad = server.raw(Method::POST, "/v1/methodologies", &headers, toml_body(&invalid)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.code(), "invalid_methodology");
    assert!(bad.body["detail"].as_str().unwrap().contains("distanse_km"), "{bad:?}");

    // A NUL in the text or in the source name is refused (PostgreSQL text
    // cannot hold one), with a code.
    let with_nul = format!("{}\n# note \u{0}\n", CUSTOM.replace("version = \"1\"", "version = \"9\""));
    let bad = server.raw(Method::POST, "/v1/methodologies", &headers, toml_body(&with_nul)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");
    assert_eq!(bad.code(), "invalid_methodology");
    let named = json!({ "toml": CUSTOM.replace("version = \"1\"", "version = \"9\""), "source_name": "a\u{0}b" });
    let bad = server.post("/v1/methodologies", Some(ADMIN_TOKEN), named).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");
    assert_eq!(bad.code(), "invalid_source_name");

    // JSON form works too.
    let v2 = CUSTOM
        .replace("version = \"1\"", "version = \"2\"")
        .replace("valid_from = 2020-01-01", "valid_from = 2020-01-01\nvalid_to = 2020-12-31");
    let overlap_free = server
        .raw(
            Method::POST,
            "/v1/methodologies",
            &[("content-type", "application/json".to_owned()), headers[1].clone()],
            serde_json::to_vec(&json!({ "toml": v2, "source_name": "v2.toml" })).unwrap(),
        )
        .await;
    // v2 overlaps v1 (both from 2020-01-01), so it is refused.
    assert_eq!(overlap_free.status, StatusCode::CONFLICT, "{overlap_free:?}");
    assert_eq!(overlap_free.code(), "methodology_overlap");

    // The methodology as a JSON object, with a one-line formula.
    let as_json = json!({
        "id": "test-scooter-json", "version": "1", "title": "Scooter (JSON)", "issuer": "Test Authority",
        "source": "integration test", "behavior": "shared_scooter_json", "category": "transport",
        "regions": ["*"], "valid_from": "2020-01-01",
        "inputs": { "distance_km": { "unit": "km", "type": "number", "exclusive_minimum": 0, "maximum": 50 } },
        "formula": "100 * distance_km"
    });
    let published_json = server.post("/v1/methodologies", Some(ADMIN_TOKEN), as_json).await;
    assert_eq!(published_json.status, StatusCode::CREATED, "{published_json:?}");
    assert_eq!(published_json.body["formula"]["baseline"], "100 * distance_km");

    // The new behaviour is credited: round(120.6 * 3) - 20 * 3 = 362 - 60 = 302.
    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("scoot", "CN-SH").await;
    server.link(&citizen, &partner, &["transport"], "s").await;
    let results = server
        .send_ok(
            &partner,
            json!([
                event("s1", "s", "shared_scooter", json!({ "distance_km": 3 })),
                event("s2", "s", "shared_scooter", json!({ "distance_km": 40 }))
            ]),
        )
        .await;
    assert_eq!(results[0]["grams"], 302);
    assert_eq!(results[0]["methodology"], "test-scooter@1");
    // The second ride is 4024 g but the daily cap leaves 698 g.
    assert_eq!(results[1]["outcome"], "capped");
    assert_eq!(results[1]["grams"], 698);
}

#[test]
fn methodology_check_names_the_file_and_field() {
    let dir = tempfile::TempDir::new().unwrap();
    let good = dir.path().join("scooter.toml");
    std::fs::write(&good, CUSTOM).unwrap();
    let bad = dir.path().join("broken.toml");
    std::fs::write(
        &bad,
        CUSTOM.replace("maximum = 50", "maximum = -1").replace("id = \"test-scooter\"", "id = \"test-broken\""),
    )
    .unwrap();

    let canopy = env!("CARGO_BIN_EXE_canopy");
    let ok = std::process::Command::new(canopy).args(["methodology", "check"]).arg(&good).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("test-scooter@1"));

    let failed =
        std::process::Command::new(canopy).args(["methodology", "check"]).arg(&good).arg(&bad).output().unwrap();
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("broken.toml"), "{stderr}");
    assert!(stderr.contains("inputs.distance_km"), "{stderr}");

    // A file that re-publishes a shipped id and version with other content
    // is the file at fault, not the shipped one.
    let shipped_bus =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../methodologies/bus-ride.toml")).unwrap();
    let changed_bus = dir.path().join("bus2.toml");
    std::fs::write(&changed_bus, shipped_bus.replace("baseline = \"80\"", "baseline = \"81\"")).unwrap();
    assert_ne!(std::fs::read_to_string(&changed_bus).unwrap(), shipped_bus, "the copy differs");
    let conflict =
        std::process::Command::new(canopy).args(["methodology", "check"]).arg(&changed_bus).output().unwrap();
    assert!(!conflict.status.success());
    let stderr = String::from_utf8_lossy(&conflict.stderr);
    assert!(stderr.starts_with(&format!("error: {}", changed_bus.display())), "{stderr}");

    // The shipped files are valid.
    let shipped: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../methodologies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(shipped.len() >= 12);
    let all = std::process::Command::new(canopy).args(["methodology", "check"]).args(&shipped).output().unwrap();
    assert!(all.status.success(), "{}", String::from_utf8_lossy(&all.stderr));
}

async fn a_methodology_with_three_faults_is_refused_listing_all_three() {
    let server = TestServer::start().await;
    let headers = [("content-type", "application/toml".to_owned()), ("authorization", format!("Bearer {ADMIN_TOKEN}"))];
    let broken = CUSTOM
        .replace("title =", "titel =")
        .replace("maximum = 50\n", "")
        .replace("project = \"20 * distance_km\"", "project = \"20 * distanse_km\"");
    let refused = server.raw(Method::POST, "/v1/methodologies", &headers, broken.into_bytes()).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    assert_eq!(refused.code(), "invalid_methodology");
    let errors: Vec<&str> = refused.body["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(errors[0].starts_with("request: titel: unknown key"), "{errors:#?}");
    assert_eq!(errors[1], "request: title: missing");
    assert!(errors.iter().any(|e| e.starts_with("request: inputs.distance_km.maximum: missing")), "{errors:#?}");
    assert!(
        errors.iter().any(|e| e.starts_with("request: formula.project: unknown input `distanse_km`")),
        "{errors:#?}"
    );

    // A formula that can divide by zero within its bounds is found at load.
    let divides = CUSTOM.replace("project = \"20 * distance_km\"", "project = \"20 / (distance_km - 1)\"");
    let refused = server.raw(Method::POST, "/v1/methodologies", &headers, divides.into_bytes()).await;
    assert_eq!(refused.code(), "invalid_methodology");
    assert_eq!(
        refused.body["errors"],
        json!(["request: formula.project: can divide by zero (or by values arbitrarily close to it) within the inputs' bounds"])
    );

    // One that can yield more than the per-event cap (10,000,000 g by default).
    let huge = CUSTOM.replace("round(120.6 * distance_km)", "250000 * distance_km");
    let refused = server.raw(Method::POST, "/v1/methodologies", &headers, huge.into_bytes()).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    assert_eq!(refused.code(), "methodology_exceeds_event_grams_max");

    // A JSON body that is not an object is not a methodology.
    for body in [json!("AAA"), json!(1), json!([])] {
        let refused = server.post("/v1/methodologies", Some(ADMIN_TOKEN), body.clone()).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}: {refused:?}");
        assert_eq!(refused.code(), "invalid_methodology", "{body}");
    }
}

async fn a_new_version_supersedes_the_old_from_its_valid_from() {
    let server = TestServer::start().await;
    let headers = [("content-type", "application/toml".to_owned()), ("authorization", format!("Bearer {ADMIN_TOKEN}"))];
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../methodologies/cn-bj-shared-bike.toml"))
            .unwrap();
    // The new version takes effect two days ago (in the instance's UTC+8).
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let day = today - chrono::Duration::days(2);
    let (eve, day) = ((day - chrono::Duration::days(1)).to_string(), day.to_string());
    let v2 = |supersedes: &str| {
        shipped
            .replace("version = \"1.0\"", &format!("version = \"2.0\"\nsupersedes = \"{supersedes}\""))
            .replace("valid_from = 2020-01-01", &format!("valid_from = {day}"))
            .replace("250 * distance_km", "200 * distance_km")
    };
    let missing = server.raw(Method::POST, "/v1/methodologies", &headers, v2("0.9").into_bytes()).await;
    assert_eq!(missing.code(), "superseded_methodology_not_found", "{missing:?}");
    let other = server.raw(Method::POST, "/v1/methodologies", &headers, v2("walking@1.0").into_bytes()).await;
    assert_eq!(other.code(), "supersedes_other_methodology", "{other:?}");
    let published = server.raw(Method::POST, "/v1/methodologies", &headers, v2("1.0").into_bytes()).await;
    assert_eq!(published.status, StatusCode::CREATED, "{published:?}");

    let list = server.get("/v1/methodologies", None).await;
    let find = |version: &str| {
        list.body["methodologies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == "cn-bj-shared-bike" && m["version"] == version)
            .cloned()
            .unwrap()
    };
    let v1 = find("1.0");
    assert_eq!(v1["superseded_by"], "2.0");
    assert_eq!(v1["valid_until"], eve);
    assert_eq!(v1["valid_to"], serde_json::Value::Null, "v1's published text is unchanged");
    assert_eq!(find("2.0")["supersedes"], "1.0");
    assert_eq!(
        list.body["supersessions"],
        json!([{ "id": "cn-bj-shared-bike", "old_version": "1.0", "new_version": "2.0", "from": day }])
    );

    let partner = server.create_partner(&["transport"]).await;
    let citizen = server.create_citizen("beijing", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport"], "u").await;
    let mut before = event("before", "u", "shared_bike", json!({ "distance_km": 1 }));
    before["occurred_at"] = json!(format!("{eve}T12:00:00+08:00"));
    let mut after = event("after", "u", "shared_bike", json!({ "distance_km": 1 }));
    after["occurred_at"] = json!(format!("{day}T12:00:00+08:00"));
    let results = server.send_ok(&partner, json!([before, after])).await;
    assert_eq!(
        (results[0]["grams"].clone(), results[0]["methodology"].clone()),
        (json!(250), json!("cn-bj-shared-bike@1.0"))
    );
    assert_eq!(
        (results[1]["grams"].clone(), results[1]["methodology"].clone()),
        (json!(200), json!("cn-bj-shared-bike@2.0"))
    );
}

async fn inputs_are_checked_exactly_and_given_once() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport", "digital_finance"]).await;
    let citizen = server.create_citizen("exact", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport", "digital_finance"], "x").await;
    // Built from text: a Rust float literal would already be rounded.
    let exact = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    let results = server
        .send_ok(
            &partner,
            json!([
                event("pay-under", "x", "e_payment", exact(r#"{"amount_yuan": 0.99999999999999999999}"#)),
                event("ride-over", "x", "shared_bike", exact(r#"{"distance_km": 100.00000000000001}"#)),
                event("pay", "x", "e_payment", exact(r#"{"amount_yuan": 1}"#)),
                event("ride", "x", "shared_bike", exact(r#"{"distance_km": 100}"#)),
            ]),
        )
        .await;
    assert_eq!(results[0]["code"], "input_out_of_bounds", "{}", results[0]);
    assert_eq!(
        results[0]["message"], "amount_yuan = 0.99999999999999999999 is outside 1 <= x <= 1000000",
        "{}",
        results[0]
    );
    assert_eq!(results[1]["code"], "input_out_of_bounds", "{}", results[1]);
    assert_eq!(results[1]["message"], "distance_km = 100.00000000000001 is outside 0 < x <= 100");
    assert_eq!((results[2]["outcome"].clone(), results[2]["grams"].clone()), (json!("credited"), json!(5)));
    assert_eq!((results[3]["outcome"].clone(), results[3]["grams"].clone()), (json!("credited"), json!(25_000)));

    // A key given twice inside `inputs` is refused, as one given twice
    // elsewhere in the batch is.
    for (inputs, event_keys) in [
        (r#"{"distance_km": 1, "distance_km": 100}"#, r#""id": "dup""#),
        (r#"{"distance_km": 1}"#, r#""id": "a", "id": "b""#),
    ] {
        let body = format!(
            r#"{{"events": [{{{event_keys}, "user_ref": "x", "behavior": "shared_bike", "occurred_at": "{}", "inputs": {inputs}}}]}}"#,
            hours_ago(1)
        );
        let headers =
            sign_headers(&partner, "POST", "/v1/partner/events", body.as_bytes(), chrono::Utc::now().timestamp());
        let reply = server.raw(Method::POST, "/v1/partner/events", &headers, body.into_bytes()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{inputs} {event_keys}: {reply:?}");
        assert_eq!(reply.code(), "malformed_body");
        assert!(reply.body["detail"].as_str().unwrap().contains("duplicate"), "{reply:?}");
    }
    assert_eq!(server.me(&citizen).await["reduction_grams"], 25_005);
}

#[test]
fn methodology_check_reports_every_fault_and_the_grams_cap() {
    let dir = tempfile::TempDir::new().unwrap();
    let bad = dir.path().join("three.toml");
    std::fs::write(
        &bad,
        CUSTOM
            .replace("title =", "titel =")
            .replace("maximum = 50\n", "")
            .replace("per_day_grams = 1000", "per_day_grams = 0"),
    )
    .unwrap();
    let canopy = env!("CARGO_BIN_EXE_canopy");
    let failed =
        std::process::Command::new(canopy).args(["methodology", "check", "--alone"]).arg(&bad).output().unwrap();
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(lines.iter().all(|l| l.contains("three.toml: ")), "{stderr}");
    for field in ["titel: ", "title: ", "inputs.distance_km.maximum: ", "caps.per_day_grams: "] {
        assert!(lines.iter().any(|l| l.contains(field)), "{field}: {stderr}");
    }

    // The scooter yields at most round(120.6 * 50) - 0 = 6030 g.
    let good = dir.path().join("scooter.toml");
    std::fs::write(&good, CUSTOM).unwrap();
    let capped = std::process::Command::new(canopy)
        .args(["methodology", "check", "--alone", "--event-grams-max", "6029"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(!capped.status.success());
    assert!(String::from_utf8_lossy(&capped.stderr).contains("above the per-event maximum of 6029 g"));
    let fits = std::process::Command::new(canopy)
        .args(["methodology", "check", "--alone"])
        .arg(&good)
        .env("CANOPY_EVENT_GRAMS_MAX", "6030")
        .output()
        .unwrap();
    assert!(fits.status.success(), "{}", String::from_utf8_lossy(&fits.stderr));
}

crate::contract!(
    methodologies_are_listed_with_inputs_caps_and_formulas,
    the_operator_publishes_a_methodology_and_it_credits_at_once,
    a_methodology_with_three_faults_is_refused_listing_all_three,
    a_new_version_supersedes_the_old_from_its_valid_from,
    inputs_are_checked_exactly_and_given_once,
);

/// A methodology of `behavior` everywhere, from 2020 (so that any two of
/// one behaviour overlap).
fn everywhere(id: &str, behavior: &str) -> String {
    CUSTOM
        .replace("id = \"test-scooter\"", &format!("id = \"{id}\""))
        .replace("behavior = \"shared_scooter\"", &format!("behavior = \"{behavior}\""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_postgres_database_share_one_registry() {
    if !postgres_available().await {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    let (mut a, mut b) = tokio::join!(crate::process::serve(&db.url), crate::process::serve(&db.url));
    let (server_a, server_b) = (TestServer::external(&a.base), TestServer::external(&b.base));
    let headers = [("content-type", "application/toml".to_owned()), ("authorization", format!("Bearer {ADMIN_TOKEN}"))];
    let partner = server_a.create_partner(&["transport"]).await;
    let citizen = server_b.create_citizen("shared", "CN-BJ").await;
    server_a.link(&citizen, &partner, &["transport"], "u").await;
    // B loads its registry and decides a group before anything is published.
    let warm =
        server_b.send_ok(&partner, json!([event("warm", "u", "shared_bike", json!({ "distance_km": 1 }))])).await;
    assert_eq!(warm[0]["grams"], 250);

    // Published on A, in force on B at once: the prechecks and the writer.
    let published = server_a.raw(Method::POST, "/v1/methodologies", &headers, CUSTOM.as_bytes().to_vec()).await;
    assert_eq!(published.status, StatusCode::CREATED, "{published:?}");
    let results =
        server_b.send_ok(&partner, json!([event("s1", "u", "shared_scooter", json!({ "distance_km": 3 }))])).await;
    assert_eq!((results[0]["outcome"].clone(), results[0]["grams"].clone()), (json!("credited"), json!(302)));
    let listed = server_b.get("/v1/methodologies", None).await;
    assert!(listed.body["methodologies"].as_array().unwrap().iter().any(|m| m["key"] == "test-scooter@1"));

    // Overlapping methodologies published on both at once: exactly one wins.
    for round in 0..5 {
        let behavior = format!("race_{round}");
        let (from_a, from_b) = tokio::join!(
            server_a.raw(
                Method::POST,
                "/v1/methodologies",
                &headers,
                everywhere(&format!("race-a-{round}"), &behavior).into_bytes()
            ),
            server_b.raw(
                Method::POST,
                "/v1/methodologies",
                &headers,
                everywhere(&format!("race-b-{round}"), &behavior).into_bytes()
            ),
        );
        let mut statuses = [from_a.status, from_b.status];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT], "{from_a:?} {from_b:?}");
        let loser = if from_a.status == StatusCode::CONFLICT { &from_a } else { &from_b };
        assert_eq!(loser.code(), "methodology_overlap");
    }

    // A supersession published on B ends v1 on A from its day.
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../methodologies/cn-bj-shared-bike.toml"))
            .unwrap();
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let day = today - chrono::Duration::days(2);
    let eve = day - chrono::Duration::days(1);
    let v2 = shipped
        .replace("version = \"1.0\"", "version = \"2.0\"\nsupersedes = \"1.0\"")
        .replace("valid_from = 2020-01-01", &format!("valid_from = {day}"))
        .replace("250 * distance_km", "200 * distance_km");
    let published = server_b.raw(Method::POST, "/v1/methodologies", &headers, v2.into_bytes()).await;
    assert_eq!(published.status, StatusCode::CREATED, "{published:?}");
    let mut before = event("before", "u", "shared_bike", json!({ "distance_km": 1 }));
    before["occurred_at"] = json!(format!("{eve}T12:00:00+08:00"));
    let mut after = event("after", "u", "shared_bike", json!({ "distance_km": 1 }));
    after["occurred_at"] = json!(format!("{day}T12:00:00+08:00"));
    let results = server_a.send_ok(&partner, json!([before, after])).await;
    assert_eq!(results[0]["methodology"], "cn-bj-shared-bike@1.0");
    assert_eq!(results[1]["methodology"], "cn-bj-shared-bike@2.0");
    assert_eq!(results[1]["grams"], 200);
    let listed = server_a.get("/v1/methodologies", None).await;
    assert_eq!(listed.body["supersessions"][0]["new_version"], "2.0");
    for served in [&mut a, &mut b] {
        served.child.kill().unwrap();
        served.child.wait().unwrap();
    }
}
