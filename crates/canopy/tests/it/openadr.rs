//! OpenADR 3.1 (issue 12), the VENs' credentials: the operator registers a
//! VEN and gets its client id and secret once; the VEN trades them for a
//! bearer token at `/openadr3/auth/token` by OAuth2 client credentials,
//! with OAuth2's error shape when it cannot.

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::checkins::admin;
use crate::harness::*;

async fn token(server: &TestServer, headers: &[(&str, String)], form: &str) -> Reply {
    let mut all = vec![("content-type", "application/x-www-form-urlencoded".to_owned())];
    all.extend(headers.iter().cloned());
    server.raw(Method::POST, "/openadr3/auth/token", &all, form.as_bytes().to_vec()).await
}

fn basic(id: &str, secret: &str) -> (&'static str, String) {
    ("authorization", format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))))
}

async fn a_ven_trades_its_client_credentials_for_a_bearer_token() {
    let server = TestServer::start().await;
    let made = admin(&server, Method::POST, "/v1/energy/vens", json!({ "name": "Jiangxi home energy hub" })).await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let (id, secret) =
        (made.body["client_id"].as_str().unwrap().to_owned(), made.body["client_secret"].as_str().unwrap().to_owned());
    assert!(made.body["id"].as_str().unwrap().starts_with("ven_"));
    let again = admin(&server, Method::POST, "/v1/energy/vens", json!({ "name": "Jiangxi home energy hub" })).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "ven_exists"));
    let listed = admin(&server, Method::GET, "/v1/energy/vens", Value::Null).await;
    assert_eq!(listed.body["vens"][0]["client_id"], id.as_str());
    assert!(listed.body["vens"][0].get("client_secret").is_none(), "the secret is shown once");

    // HTTP Basic, as RFC 6749 prefers; and in the form body.
    for reply in [
        token(&server, &[basic(&id, &secret)], "grant_type=client_credentials").await,
        token(&server, &[], &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}")).await,
    ] {
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_eq!(
            (reply.body["token_type"].as_str(), reply.body["expires_in"].as_i64()),
            (Some("Bearer"), Some(3600))
        );
        assert_eq!(reply.body["access_token"].as_str().map(str::len), Some(64));
        assert_eq!(reply.headers["cache-control"], "no-store");
    }
    let wrong = token(&server, &[basic(&id, "not-the-secret")], "grant_type=client_credentials").await;
    assert_eq!((wrong.status, &wrong.body["error"]), (StatusCode::UNAUTHORIZED, &json!("invalid_client")), "{wrong:?}");
    assert!(wrong.headers.contains_key("www-authenticate"));
    let nobody = token(&server, &[basic("ven-nobody", &secret)], "grant_type=client_credentials").await;
    assert_eq!(nobody.body["error"], "invalid_client");
    let grant = token(&server, &[basic(&id, &secret)], "grant_type=password&username=a&password=b").await;
    assert_eq!((grant.status, &grant.body["error"]), (StatusCode::BAD_REQUEST, &json!("unsupported_grant_type")));
    let missing = token(&server, &[basic(&id, &secret)], "").await;
    assert_eq!((missing.status, &missing.body["error"]), (StatusCode::BAD_REQUEST, &json!("invalid_request")));
    let bad = admin(&server, Method::POST, "/v1/energy/vens", json!({ "name": "" })).await;
    assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "invalid_ven"));
}

/// A real VEN (the `openleadr-client` crate) authenticates, lists the
/// programs and events, and posts a USAGE report whose readings settle.
async fn a_ven_reads_programs_and_events_and_its_report_settles() {
    use openleadr_client::{Client, ClientCredentials, Filter, VirtualEndNode};
    use openleadr_wire::event::EventType;
    use openleadr_wire::interval::{Interval, IntervalPeriod};
    use openleadr_wire::report::{ReportPayloadDescriptor, ReportResource, ReportType, ResourceName};
    use openleadr_wire::values_map::{Value as OaValue, ValueType, ValuesMap};

    use crate::settlement::{at, event_start, program, settlements, world, World};

    let World { server, clock, utility, households, pool } = world(at("2026-07-22T00:00:00Z"), 10_000, false).await;
    let program_id = program(&server, &pool, "default_in").await;
    let event = admin(
        &server,
        Method::POST,
        "/v1/energy/events",
        json!({ "program_id": program_id, "start": event_start().to_rfc3339(), "duration_minutes": 60,
                "targets": { "user_ids": [households[0].id] } }),
    )
    .await;
    assert_eq!(event.status, StatusCode::CREATED, "{event:?}");
    let event_id = event.body["id"].as_str().unwrap().to_owned();
    let ven =
        admin(&server, Method::POST, "/v1/energy/vens", json!({ "name": "Jiangxi hub", "partner_id": utility.id }))
            .await;
    assert_eq!(ven.status, StatusCode::CREATED, "{ven:?}");
    let (client_id, secret) =
        (ven.body["client_id"].as_str().unwrap().to_owned(), ven.body["client_secret"].as_str().unwrap().to_owned());
    let vtn: url::Url = format!("{}/openadr3/", server.base).parse().unwrap();
    let connect = || {
        Client::<VirtualEndNode>::with_details(
            vtn.clone(),
            vtn.join("auth/token").unwrap(),
            reqwest013::Client::new(),
            Some(ClientCredentials::new(client_id.clone(), secret.clone())),
        )
    };
    let client = connect();

    let programs = client.get_program_list(Filter::<&str>::None).await.expect("programs");
    assert_eq!(programs.len(), 1);
    assert_eq!(programs[0].id().as_str(), program_id);
    assert_eq!(programs[0].content().program_name, "Smart Sharing Power Saving");
    let events = client.get_event_list(None, Filter::<&str>::None).await.expect("events");
    assert_eq!(events.len(), 1);
    let oa_event = &events[0];
    assert_eq!(oa_event.id().as_str(), event_id);
    let intervals = oa_event.content().intervals.clone().unwrap();
    assert_eq!(intervals.len(), 4, "one interval a quarter hour");
    let price = intervals[0].payloads.iter().find(|p| p.value_type == EventType::Price).unwrap();
    let two = match price.values[0] {
        OaValue::Integer(yuan) => yuan as f64,
        OaValue::Number(yuan) => yuan,
        _ => f64::NAN,
    };
    assert_eq!(two, 2.0, "2 yuan a kWh: {price:?}");
    assert_eq!(intervals[2].interval_period.as_ref().unwrap().start, event_start() + chrono::Duration::minutes(30));

    // After the event, the VEN reports what the household drew: 200, 300, 500, 600 Wh. (The
    // test's clock jumped past its token's hour, so it signs in again.)
    clock.set(at("2026-07-22T11:30:00Z"));
    let client = connect();
    let oa_event = &client.get_event_by_id(oa_event.id()).await.expect("the event");
    let usage = |id: i32, wh: i64| Interval {
        id,
        interval_period: None,
        payloads: vec![ValuesMap { value_type: ValueType("USAGE".to_owned()), values: vec![OaValue::Integer(wh)] }],
    };
    let mut descriptor = ReportPayloadDescriptor::new(ReportType::Usage);
    descriptor.units = Some(openleadr_wire::Unit::Private("WH".to_owned()));
    let report = oa_event
        .new_report("Jiangxi hub".to_owned())
        .with_payload_descriptors(vec![descriptor])
        .with_resources(vec![ReportResource {
            resource_name: ResourceName::Private("M0".to_owned()),
            interval_period: Some(IntervalPeriod {
                start: event_start(),
                duration: Some("PT15M".parse().unwrap()),
                randomize_start: None,
            }),
            intervals: vec![usage(0, 200), usage(1, 300), usage(2, 500), usage(3, 600)],
        }]);
    let posted = oa_event.create_report(report).await.expect("the report is accepted");
    assert!(posted.id().as_str().starts_with("rpt_"));

    let settled = admin(&server, Method::POST, &format!("/v1/energy/events/{event_id}/settle"), Value::Null).await;
    assert_eq!(settled.body["settlement"], "settled", "the VEN's readings completed the data: {settled:?}");
    let mine = settlements(&server, &households[0]).await;
    assert_eq!((mine[0]["saving_kwh"].as_f64(), mine[0]["paid_fen"].as_i64()), (Some(0.5), Some(100)), "{mine:?}");

    // Without a token, or with a made-up one: 401.
    let anonymous = server.get("/openadr3/programs", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let forged = server.get("/openadr3/events", Some("not-a-token")).await;
    assert_eq!((forged.status, forged.code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
}

crate::contract!(
    a_ven_trades_its_client_credentials_for_a_bearer_token,
    a_ven_reads_programs_and_events_and_its_report_settles
);
