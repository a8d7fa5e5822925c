//! OpenADR 3.1 (issue 12), subscriptions and the rest of the VTN: a VEN
//! subscribes to events and programs and hears of their creation and
//! settlement at its webhook (retried when the webhook fails), filters the
//! lists by targets, and reads back its own reports.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use openleadr_wire::subscription::{AnyObject, Notification, Operation, Subscription};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::checkins::admin;
use crate::harness::*;
use crate::settlement::{at, event_start, program, world, World};

/// What the webhook receiver heard: the path, the Authorization header, the body.
type Heard = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;

/// A webhook receiver on a free port: it keeps every request and answers
/// 500 to the first `failing` of them, then 200.
struct Receiver {
    base: String,
    heard: Heard,
    failing: Arc<Mutex<usize>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let heard: Heard = Arc::default();
        let failing = Arc::new(Mutex::new(0usize));
        let (h, f) = (heard.clone(), failing.clone());
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (h, f) = (h.clone(), f.clone());
            async move {
                let path = request.uri().path().to_owned();
                let auth = request.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let bytes = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap_or_default();
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                h.lock().unwrap().push((path, auth, body));
                let mut failing = f.lock().unwrap();
                if *failing > 0 {
                    *failing -= 1;
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { base, heard, failing }
    }

    fn heard(&self) -> Vec<(String, Option<String>, Value)> {
        self.heard.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) until `n` requests have arrived, and answers them.
    async fn wait_for(&self, n: usize) -> Vec<(String, Option<String>, Value)> {
        for _ in 0..200 {
            let heard = self.heard();
            if heard.len() >= n {
                return heard;
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        panic!("expected {n} notifications, heard {:?}", self.heard());
    }
}

/// A VEN of `utility` (or of none): its client id and secret.
async fn ven(server: &TestServer, name: &str, utility: Option<&Partner>) -> (String, String) {
    let mut body = json!({ "name": name });
    if let Some(utility) = utility {
        body["partner_id"] = json!(utility.id);
    }
    let made = admin(server, Method::POST, "/v1/energy/vens", body).await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    (made.body["client_id"].as_str().unwrap().to_owned(), made.body["client_secret"].as_str().unwrap().to_owned())
}

/// A bearer token for a VEN's credentials (good for an hour of the server's clock).
async fn token(server: &TestServer, (id, secret): &(String, String)) -> String {
    let form = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    let headers = [("content-type", "application/x-www-form-urlencoded".to_owned())];
    let token = server.raw(Method::POST, "/openadr3/auth/token", &headers, form.into_bytes()).await;
    assert_eq!(token.status, StatusCode::OK, "{token:?}");
    token.body["access_token"].as_str().unwrap().to_owned()
}

fn notification(body: &Value) -> Notification {
    serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("not an OpenADR notification ({e}): {body}"))
}

async fn new_event(server: &TestServer, program: &str, body: Value) -> String {
    let mut body = body;
    body["program_id"] = json!(program);
    body["start"] = json!(event_start().to_rfc3339());
    body["duration_minutes"] = json!(60);
    let event = admin(server, Method::POST, "/v1/energy/events", body).await;
    assert_eq!(event.status, StatusCode::CREATED, "{event:?}");
    event.body["id"].as_str().unwrap().to_owned()
}

async fn a_ven_subscribes_and_hears_of_events_by_webhook() {
    let World { server, clock, utility, households, pool } = world(at("2026-07-22T00:00:00Z"), 10_000, false).await;
    let program_id = program(&server, &pool, "default_in").await;
    let hub = ven(&server, "Jiangxi hub", Some(&utility)).await;
    let client_id = hub.0.clone();
    let token = token(&server, &hub).await;
    let hooks = Receiver::start().await;

    let subscribe = json!({
        "clientName": "Jiangxi hub",
        "objectOperations": [{ "objects": ["EVENT"], "operations": ["CREATE", "UPDATE"],
                               "callbackUrl": format!("{}/events", hooks.base), "bearerToken": "hook-secret" }]
    });
    let made = server.post("/openadr3/subscriptions", Some(&token), subscribe.clone()).await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let subscription: Subscription = serde_json::from_value(made.body.clone()).expect("an OpenADR subscription");
    assert!(subscription.id.as_str().starts_with("sub_"));
    assert_eq!(subscription.client_id.to_string(), client_id);
    assert_eq!(subscription.content.client_name, "Jiangxi hub");
    let path = format!("/openadr3/subscriptions/{}", subscription.id.as_str());
    let listed = server.get("/openadr3/subscriptions", Some(&token)).await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1), "{listed:?}");
    let by_object = server.get("/openadr3/subscriptions?objects=PROGRAM", Some(&token)).await;
    assert_eq!(by_object.body, json!([]), "it asked for events only");
    let one = server.get(&path, Some(&token)).await;
    assert_eq!(one.body["id"], made.body["id"]);

    // The operator calls an event: the VEN hears of it, with its bearer token.
    let event_id = new_event(&server, &program_id, json!({ "targets": { "user_ids": [households[0].id] } })).await;
    let heard = hooks.wait_for(1).await;
    let (at_path, auth, body) = &heard[0];
    assert_eq!((at_path.as_str(), auth.as_deref()), ("/events", Some("Bearer hook-secret")));
    let note = notification(body);
    assert_eq!(note.operation, Operation::Create);
    let AnyObject::Event(event) = &note.object else { panic!("an event: {body}") };
    assert_eq!(event.id.as_str(), event_id);
    assert_eq!(event.content.intervals.as_ref().map(Vec::len), Some(4));

    // The webhook fails once: the notification comes again after the backoff (5 s), the same one.
    *hooks.failing.lock().unwrap() = 1;
    let second = new_event(&server, &program_id, json!({ "targets": { "user_ids": [households[1].id] } })).await;
    let heard = hooks.wait_for(2).await;
    assert_eq!(notification(&heard[1].2).object.id().to_string(), second);
    tokio::time::sleep(StdDuration::from_millis(1500)).await;
    assert_eq!(hooks.heard().len(), 2, "no retry before the backoff");
    clock.set(at("2026-07-22T00:00:10Z"));
    let heard = hooks.wait_for(3).await;
    assert_eq!(heard[2].2, heard[1].2, "the retry is the same notification");

    // The event settles (after its end): an UPDATE.
    clock.set(at("2026-07-22T11:30:00Z"));
    let settled = admin(&server, Method::POST, &format!("/v1/energy/events/{event_id}/settle"), Value::Null).await;
    assert_eq!(settled.status, StatusCode::OK, "{settled:?}");
    let heard = hooks.wait_for(4).await;
    let update = notification(&heard[3].2);
    assert_eq!((update.operation, update.object.id().to_string()), (Operation::Update, event_id.clone()));
    let AnyObject::Event(event) = &update.object else { panic!("an event") };
    assert!(event.modification_date_time > event.created_date_time, "modified when it settled");

    // Bad requests: 400 invalid_subscription, nothing kept.
    // The clock passed the tokens' hour: a second VEN signs in, and the first again.
    let other = ven(&server, "Shangrao hub", Some(&utility)).await;
    let token = self::token(&server, &other).await;
    let hook = format!("{}/events", hooks.base);
    for bad in [
        json!({ "clientName": "x", "objectOperations": [{ "objects": ["EVENT"], "operations": ["CREATE"],
                "mechanism": "WEBSOCKET", "callbackUrl": hook }] }),
        json!({ "clientName": "x", "objectOperations": [{ "objects": ["REPORT"], "operations": ["CREATE"],
                "callbackUrl": hook }] }),
        json!({ "clientName": "x", "objectOperations": [{ "objects": ["EVENT"], "operations": ["CREATE"],
                "callbackUrl": "ftp://example.com/hook" }] }),
        json!({ "clientName": "x", "objectOperations": [{ "objects": ["EVENT"], "operations": ["CREATE"] }] }),
        json!({ "clientName": "x", "objectOperations": [] }),
        json!({ "clientName": "x", "programID": "prg_999", "objectOperations": [{ "objects": ["EVENT"],
                "operations": ["CREATE"], "callbackUrl": hook }] }),
        json!({ "objectOperations": "nope" }),
    ] {
        let refused = server.post("/openadr3/subscriptions", Some(&token), bad.clone()).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, "invalid_subscription"), "{bad}");
    }
    assert_eq!(server.get("/openadr3/subscriptions", Some(&token)).await.body, json!([]));
    // Another VEN neither sees nor deletes the first one's subscription.
    let theirs = server.get(&path, Some(&token)).await;
    assert_eq!((theirs.status, theirs.code()), (StatusCode::NOT_FOUND, "subscription_not_found"));
    let gone = server.request(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // The first VEN turns its subscription to programs, then deletes it.
    let first = self::token(&server, &hub).await;
    let mut programs = subscribe.clone();
    programs["objectOperations"][0]["objects"] = json!(["PROGRAM"]);
    programs["objectOperations"][0]["callbackUrl"] = json!(format!("{}/programs", hooks.base));
    let updated = server.request(Method::PUT, &path, Some(&first), Some(programs)).await;
    assert_eq!(updated.status, StatusCode::OK, "{updated:?}");
    assert_eq!(updated.body["objectOperations"][0]["objects"], json!(["PROGRAM"]));
    let another = program(&server, &pool, "required").await;
    let heard = hooks.wait_for(5).await;
    assert_eq!(heard[4].0, "/programs");
    let note = notification(&heard[4].2);
    assert_eq!((note.operation, note.object.id().to_string()), (Operation::Create, another));
    let deleted = server.request(Method::DELETE, &path, Some(&first), None).await;
    assert_eq!((deleted.status, &deleted.body["id"]), (StatusCode::OK, &made.body["id"]));
    assert_eq!(server.get(&path, Some(&first)).await.status, StatusCode::NOT_FOUND);
    // A fresh subscription hears of the next program; the deleted one does not.
    let mut fresh = subscribe.clone();
    fresh["objectOperations"][0]["objects"] = json!(["PROGRAM"]);
    fresh["objectOperations"][0]["callbackUrl"] = json!(format!("{}/fresh", hooks.base));
    assert_eq!(server.post("/openadr3/subscriptions", Some(&first), fresh).await.status, StatusCode::CREATED);
    program(&server, &pool, "required").await;
    let heard = hooks.wait_for(6).await;
    tokio::time::sleep(StdDuration::from_millis(1500)).await;
    let heard_later = hooks.heard();
    assert_eq!(heard_later.len(), 6, "only the fresh subscription hears: {heard_later:?}");
    assert_eq!(heard[5].0, "/fresh");
}

async fn a_ven_lists_by_targets_and_reads_back_its_reports() {
    use openleadr_client::{Client, ClientCredentials, Filter, VirtualEndNode};

    let World { server, utility, households, pool, .. } = world(at("2026-07-22T00:00:00Z"), 10_000, false).await;
    let program_id = program(&server, &pool, "default_in").await;
    let by_region = new_event(&server, &program_id, json!({ "targets": { "region": "CN-JX" } })).await;
    let by_household = new_event(&server, &program_id, json!({ "targets": { "user_ids": [households[1].id] } })).await;
    let made =
        admin(&server, Method::POST, "/v1/energy/vens", json!({ "name": "hub", "partner_id": utility.id })).await;
    let (client_id, secret) =
        (made.body["client_id"].as_str().unwrap().to_owned(), made.body["client_secret"].as_str().unwrap().to_owned());
    let vtn: url::Url = format!("{}/openadr3/", server.base).parse().unwrap();
    let client = Client::<VirtualEndNode>::with_details(
        vtn.clone(),
        vtn.join("auth/token").unwrap(),
        reqwest013::Client::new(),
        Some(ClientCredentials::new(client_id.clone(), secret.clone())),
    );

    // The real VEN filters by targets: a region, one of its meters, both.
    let ids = |events: Vec<openleadr_client::EventClient<VirtualEndNode>>| {
        events.iter().map(|e| e.id().as_str().to_owned()).collect::<Vec<_>>()
    };
    let region = client.get_event_list(None, Filter::By(&["CN-JX"])).await.expect("events");
    assert_eq!(ids(region), vec![by_region.clone()]);
    // Every meter of the region takes part in the regional event; M1 in the other too.
    let meter = client.get_event_list(None, Filter::By(&["M0"])).await.expect("events");
    assert_eq!(ids(meter), vec![by_region.clone()]);
    let meter = client.get_event_list(None, Filter::By(&["M1"])).await.expect("events");
    assert_eq!(ids(meter), vec![by_region.clone(), by_household.clone()]);
    let both = client.get_event_list(None, Filter::By(&["M0", "CN-JX"])).await.expect("events");
    assert_eq!(ids(both), vec![by_region.clone()]);
    let none = client.get_event_list(None, Filter::By(&["M9", "CN-GD"])).await.expect("events");
    assert!(ids(none).is_empty(), "no meter M9, no event over CN-GD");
    let all = client.get_event_list(None, Filter::<&str>::None).await.expect("events");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].content().targets.iter().map(|t| t.to_string()).collect::<Vec<_>>(), vec!["CN-JX"]);
    let programs = client.get_program_list(Filter::By(&["CN-JX"])).await.expect("programs");
    assert_eq!(programs.len(), 1);
    let elsewhere = client.get_program_list(Filter::By(&["CN-GD"])).await.expect("programs");
    assert!(elsewhere.is_empty());

    // Its report, read back; filtered by event; another VEN does not see it.
    let token = token(&server, &(client_id.clone(), secret.clone())).await;
    let report = json!({
        "programID": program_id, "eventID": by_household, "clientName": "hub",
        "resources": [{ "resourceName": "M1",
            "intervalPeriod": { "start": (event_start() - chrono::Duration::days(1)).to_rfc3339(), "duration": "PT15M" },
            "intervals": [{ "id": 0, "payloads": [{ "type": "USAGE", "values": [0.25] }] }] }]
    });
    let posted = server.post("/openadr3/reports", Some(&token), report).await;
    assert_eq!(posted.status, StatusCode::CREATED, "{posted:?}");
    let id = posted.body["id"].as_str().unwrap().to_owned();
    let listed = server.get("/openadr3/reports", Some(&token)).await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1), "{listed:?}");
    assert_eq!(listed.body[0]["id"], id.as_str());
    assert_eq!(listed.body[0]["resources"][0]["intervals"][0]["payloads"][0]["values"][0], json!(0.25));
    let on_other = server.get(&format!("/openadr3/reports?eventID={by_region}"), Some(&token)).await;
    assert_eq!(on_other.body, json!([]));
    let by_name = server.get("/openadr3/reports?clientName=hub", Some(&token)).await;
    assert_eq!(by_name.body.as_array().map(Vec::len), Some(1));
    let one = server.get(&format!("/openadr3/reports/{id}"), Some(&token)).await;
    assert_eq!((one.status, &one.body["clientID"]), (StatusCode::OK, &json!(client_id)));
    let other = ven(&server, "another hub", Some(&utility)).await;
    let other = self::token(&server, &other).await;
    let theirs = server.get(&format!("/openadr3/reports/{id}"), Some(&other)).await;
    assert_eq!((theirs.status, theirs.code()), (StatusCode::NOT_FOUND, "report_not_found"));
    assert_eq!(server.get("/openadr3/reports", Some(&other)).await.body, json!([]));

    let bad = server.get("/openadr3/events?skip=-1", Some(&token)).await;
    assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "invalid_query"));
    let too_many = (0..51).map(|i| format!("targets=T{i}")).collect::<Vec<_>>().join("&");
    let bad = server.get(&format!("/openadr3/programs?{too_many}"), Some(&token)).await;
    assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "invalid_query"));
}

crate::contract!(a_ven_subscribes_and_hears_of_events_by_webhook, a_ven_lists_by_targets_and_reads_back_its_reports);
