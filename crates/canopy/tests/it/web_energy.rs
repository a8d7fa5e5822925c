//! Home energy (issue 13) over HTTP: a household answers a power-saving
//! invitation on its page, the event settles, and the page shows the
//! saving, the reward and the carbon as the API gives them, with the
//! baseline against actual use as a chart and a table.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::checkins::admin;
use crate::settlement::{at, event_readings, event_start, program, send, settlements, world, World};
use crate::webpage::Browser;

async fn a_household_answers_an_invitation_and_sees_its_settlement() {
    let World { server, clock, utility, households, pool } = world(at("2026-07-22T00:00:00Z"), 10_000, false).await;
    let program = program(&server, &pool, "required").await;
    let event = admin(
        &server,
        Method::POST,
        "/v1/energy/events",
        json!({ "program_id": program, "start": event_start().to_rfc3339(), "duration_minutes": 60,
                "respond_by": "2026-07-22T09:00:00Z", "targets": { "region": "CN-JX" } }),
    )
    .await;
    assert_eq!(event.status, StatusCode::CREATED, "{event:?}");
    let id = event.body["id"].as_str().unwrap().to_owned();
    let mut home = Browser::signed_in(&server, &households[0], "en");

    let page = home.get("/energy").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("Smart Sharing Power Saving") && page.html.contains("2026-07-22 18:00 – 19:00"),
        "{}",
        page.html
    );
    assert!(page.html.contains("¥2.00 for each kWh saved"), "{}", page.html);
    let action =
        page.html.split(r#"action="/energy/invitations/"#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(action.ends_with("/in"), "{action}");
    let forged = home.post(&format!("/energy/invitations/{action}"), &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let answered = home.submit("/energy", &format!("/energy/invitations/{action}"), &[]).await;
    assert_eq!(answered.location(), "/energy?answered=in");
    let api = server.get("/v1/me/energy/invitations", Some(&households[0].token)).await;
    assert_eq!(api.body["invitations"][0]["answer"], "in", "the API agrees: {api:?}");

    // After the deadline an answer is refused in words.
    clock.set(at("2026-07-22T11:30:00Z"));
    let theirs = server.get("/v1/me/energy/invitations", Some(&households[1].token)).await;
    let theirs = theirs.body["invitations"][0]["id"].as_str().unwrap().to_owned();
    let mut neighbour = Browser::signed_in(&server, &households[1], "en");
    let late = neighbour.submit("/energy", &format!("/energy/invitations/{theirs}/out"), &[]).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.html);
    assert!(late.html.contains("Answers to this invitation have closed."), "{}", late.html);
    // Someone else's invitation is nobody's to answer.
    let other = neighbour.submit("/energy", &format!("/energy/invitations/{action}"), &[]).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);

    // The readings come, the event settles: 0.5 kWh saved, ¥1.00, 269 g.
    let mut sent = event_readings("M0", &[Some(0.2)], "actual");
    sent.extend(event_readings("M0", &[None, Some(0.3), Some(0.5), Some(0.6)], "actual"));
    assert!(send(&server, &utility, sent).await.iter().all(|o| o == "stored"));
    let settled = admin(&server, Method::POST, &format!("/v1/energy/events/{id}/settle"), Value::Null).await;
    assert_eq!(settled.status, StatusCode::OK, "{settled:?}");
    let mine = settlements(&server, &households[0]).await;
    assert_eq!((mine[0]["reward_fen"].as_i64(), mine[0]["carbon_grams"].as_i64()), (Some(100), Some(269)));
    let page = home.get("/energy").await;
    assert!(page.html.contains("Saved 0.500 kWh: ¥1.00 reward, 269 g CO2e reduced."), "{}", page.html);
    assert!(
        page.html.contains("<polyline")
            && page.html.contains("<td>500 Wh</td>")
            && page.html.contains("<td>200 Wh</td>"),
        "baseline against actual: {}",
        page.html
    );
    let link = page.html.split(r#"href="/energy/settlements/"#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let one = home.get(&format!("/energy/settlements/{link}")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert!(one.html.contains("Days the baseline was drawn from: 2026-07-21"), "{}", one.html);
    let theirs = Browser::signed_in(&server, &households[1], "en").get(&format!("/energy/settlements/{link}")).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "another household's settlement is not shown");

    // The operator's dashboard lists the program's event and its report, as the API's report gives it.
    let mut operator = Browser::new(&server, "en");
    crate::web_admin::sign_in(&mut operator, &[("token", crate::harness::ADMIN_TOKEN)]).await;
    let programs = operator.get("/admin/programs").await;
    assert_eq!(programs.status, StatusCode::OK, "{}", programs.html);
    assert!(
        programs.html.contains("Smart Sharing Power Saving") && programs.html.contains(&format!("/admin/events/{id}")),
        "{}",
        programs.html
    );
    let report = admin(&server, Method::GET, &format!("/v1/energy/events/{id}/report"), Value::Null).await.body;
    let page = operator.get(&format!("/admin/events/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains(&format!(r#"id="settled">{}</dd>"#, report["households"]["settled"])), "{}", page.html);
    assert!(
        page.html.contains(&format!(r#"id="paid">¥{:.2}</dd>"#, report["yuan_paid"].as_f64().unwrap())),
        "{}",
        page.html
    );
    assert!(page.html.contains(r#"<th scope="row">M0</th>"#), "the household's settlement is listed");
    // A citizen is not an operator.
    assert_eq!(home.get("/admin/programs").await.status, StatusCode::SEE_OTHER);
}

crate::contract!(a_household_answers_an_invitation_and_sees_its_settlement);
