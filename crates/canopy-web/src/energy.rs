//! Home energy (`/energy`): power-saving invitations to answer, past events
//! each with the household's baseline against what it used as a chart, the
//! saving, the reward and the carbon credited; and the bill vouchers.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use canopy_core::energy::readings::start_of;
use canopy_core::ids;
use canopy_service::{ErrorKind, ServiceError};
use canopy_store::SettlementRow;
use chrono::{DateTime, Utc};
use fluent_bundle::FluentValue;
use maud::{html, Markup};

use crate::charts::{lines, Series};
use crate::forms::{citizen, posted, service_error_page, status_of};
use crate::layout::{page, see_other};
use crate::session::Viewer;
use crate::Web;

/// The page and the answers.
pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/energy", get(energy))
        .route("/energy/invitations/{id}/{answer}", post(answer))
        .route("/energy/settlements/{id}", get(settlement))
}

fn local(web: &Web, at: DateTime<Utc>, format: &str) -> String {
    at.with_timezone(&web.service.settings().timezone).format(format).to_string()
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, (fen % 100).abs())
}

fn kwh(wh: i64) -> String {
    format!("{}.{:03}", wh / 1000, (wh % 1000).abs())
}

fn window(web: &Web, start_slot: i64, intervals: i64) -> String {
    format!(
        "{} – {}",
        local(web, start_of(start_slot), "%Y-%m-%d %H:%M"),
        local(web, start_of(start_slot + intervals), "%H:%M")
    )
}

fn settlement_summary(web: &Web, v: &Viewer, s: &SettlementRow) -> Markup {
    html! {
        p {
            (v.ta("energy-saved", &[("kwh", FluentValue::from(kwh(s.saving_wh))), ("yuan", FluentValue::from(yuan(s.reward_fen))),
                                    ("grams", FluentValue::from(s.carbon_grams))]))
        }
        p class="entry-meta" {
            (v.ta("energy-settled", &[("when", FluentValue::from(local(web, s.settled_at, "%Y-%m-%d %H:%M"))), ("version", FluentValue::from(s.version))]))
            " · " (v.ta("energy-method", &[("method", FluentValue::from(s.method.as_str()))]))
            @if !s.complete { " · " (v.t("energy-incomplete")) }
        }
    }
}

/// The chart of one settlement: baseline and actual, per half-hour, in Wh.
fn settlement_chart(web: &Web, v: &Viewer, s: &SettlementRow) -> Markup {
    let labels: Vec<String> =
        (0..s.baseline.len() as i64).map(|i| local(web, start_of(s.start_slot + i), "%H:%M")).collect();
    let series = vec![
        Series { label: v.t("energy-baseline"), values: s.baseline.clone() },
        Series { label: v.t("energy-actual"), values: s.actual.iter().map(|a| a.unwrap_or(0)).collect() },
    ];
    lines(
        &format!("settlement-{}", s.id),
        &v.t("energy-chart-title"),
        &labels,
        &series,
        "Wh",
        &v.t("energy-chart-table"),
    )
}

async fn energy_page(web: &Web, v: &Viewer, user_id: i64, top: Option<Markup>, status: StatusCode) -> Response {
    let loaded = async {
        Ok::<_, ServiceError>((
            web.service.invitations(user_id).await?,
            web.service.my_settlements(user_id).await?,
            web.service.my_bill_vouchers(user_id).await?,
        ))
    };
    let (invitations, settlements, vouchers) = match loaded.await {
        Ok(loaded) => loaded,
        Err(error) => return service_error_page(v, &error),
    };
    let now = web.service.now();
    let open: Vec<_> = invitations.iter().filter(|i| i.respond_by.is_none_or(|by| by > now)).collect();
    let body = html! {
        h1 { (v.t("energy-title")) }
        @if let Some(top) = top { (top) }
        p { (v.t("energy-intro")) }
        section class="card" aria-labelledby="invitations-title" {
            h2 id="invitations-title" { (v.t("energy-invitations")) }
            @if open.is_empty() {
                p { (v.t("energy-no-invitations")) }
            } @else {
                ul class="rows" {
                    @for i in &open {
                        li class="row" {
                            div {
                                strong { (i.program) }
                                p class="entry-meta" { (window(web, i.start_slot, i.intervals)) }
                                p class="entry-meta" { (v.ta("energy-reward-rate", &[("yuan", FluentValue::from(yuan(i.reward_fen_per_kwh)))]))
                                    @if let Some(by) = i.respond_by { " · " (v.ta("energy-respond-by", &[("when", FluentValue::from(local(web, by, "%m-%d %H:%M")))])) } }
                                @if let Some(answer) = &i.answer {
                                    p { (v.t(&format!("energy-answered-{}", answer.as_str()))) }
                                }
                            }
                            span class="actions-inline" {
                                form method="post" action=(format!("/energy/invitations/{}/in", ids::invitation(i.id))) class="inline" {
                                    (v.csrf_field())
                                    button type="submit" { (v.t("energy-answer-in")) }
                                }
                                form method="post" action=(format!("/energy/invitations/{}/out", ids::invitation(i.id))) class="inline" {
                                    (v.csrf_field())
                                    button type="submit" class="secondary" { (v.t("energy-answer-out")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section class="card" aria-labelledby="past-title" {
            h2 id="past-title" { (v.t("energy-past")) }
            @if settlements.is_empty() {
                p { (v.t("energy-no-past")) }
            }
            @for s in settlements.iter().take(10) {
                article class="challenge" {
                    h3 { a href=(format!("/energy/settlements/{}", ids::settlement(s.id))) { (s.program) " · " (window(web, s.start_slot, s.baseline.len() as i64)) } }
                    (settlement_summary(web, v, s))
                    @if s.id == settlements[0].id { (settlement_chart(web, v, s)) }
                }
            }
        }
        section class="card" aria-labelledby="vouchers-title" {
            h2 id="vouchers-title" { (v.t("energy-vouchers")) }
            @if vouchers.is_empty() {
                p { (v.t("energy-no-vouchers")) }
            } @else {
                ul class="rows" {
                    @for b in &vouchers {
                        li class="row" {
                            div {
                                strong { (v.ta("energy-voucher", &[("yuan", FluentValue::from(yuan(b.face_value_fen))), ("month", FluentValue::from(b.month.as_str()))])) }
                                p class="entry-meta" { (v.ta("energy-voucher-why", &[("kwh", FluentValue::from(kwh(b.decrease_wh))), ("grams", FluentValue::from(b.carbon_grams))])) }
                            }
                            @if let Some(code) = &b.code { code class="voucher-code" { (code) } }
                        }
                    }
                }
            }
        }
    };
    page(v, status, "/energy", &v.t("energy-title"), body)
}

/// Home energy (`GET /energy`).
pub async fn energy(State(web): State<Web>, v: Viewer, RawQuery(query): RawQuery) -> Response {
    let user_id = match citizen(&v) {
        Ok(user_id) => user_id,
        Err(page) => return page,
    };
    let top = match query.as_deref() {
        Some("answered=in") => Some(v.t("energy-answered-in")),
        Some("answered=out") => Some(v.t("energy-answered-out")),
        _ => None,
    }
    .map(|text| html! { p class="notice" role="status" { (text) } });
    energy_page(&web, &v, user_id, top, StatusCode::OK).await
}

/// Answers an invitation (`POST /energy/invitations/{id}/{in|out}`).
pub async fn answer(
    State(web): State<Web>,
    v: Viewer,
    Path((id, answer)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (user_id, _) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let Some(id) = ids::parse_invitation(&id) else {
        return crate::error_page(&v, StatusCode::NOT_FOUND, "error-not-found");
    };
    match web.service.answer_invitation(user_id, id, &answer).await {
        Ok(row) => {
            let answered = row.answer.map_or("in", |a| a.as_str());
            see_other(&format!("/energy?answered={answered}"), Vec::new())
        }
        Err(error) if matches!(error.kind, ErrorKind::Unavailable | ErrorKind::Internal) => {
            service_error_page(&v, &error)
        }
        Err(error) => {
            let text = crate::forms::refusal(&v, "energy", &error);
            let top = html! { p class="alert" role="alert" { (text) } };
            energy_page(&web, &v, user_id, Some(top), status_of(&error)).await
        }
    }
}

/// One settlement with its chart (`GET /energy/settlements/{id}`).
pub async fn settlement(State(web): State<Web>, v: Viewer, Path(id): Path<String>) -> Response {
    let user_id = match citizen(&v) {
        Ok(user_id) => user_id,
        Err(page) => return page,
    };
    let Some(id) = ids::parse_settlement(&id) else {
        return crate::error_page(&v, StatusCode::NOT_FOUND, "error-not-found");
    };
    let s = match web.service.my_settlement(user_id, id).await {
        Ok(s) => s,
        Err(error) => return service_error_page(&v, &error),
    };
    let title = format!("{} · {}", s.program, window(&web, s.start_slot, s.baseline.len() as i64));
    let here = format!("/energy/settlements/{}", ids::settlement(id));
    let body = html! {
        p { a href="/energy" { (v.t("energy-back")) } }
        h1 { (title) }
        section class="card" {
            (settlement_summary(&web, &v, &s))
            (settlement_chart(&web, &v, &s))
            p class="entry-meta" { (v.ta("energy-days-used", &[("days", FluentValue::from(s.days_used.join(", ")))])) }
        }
    };
    page(&v, StatusCode::OK, &here, &title, body)
}
