//! Energy programs on the dashboard (`/admin/programs`): each program with
//! its events (window, invited, answers, settled version), and an event's
//! settlement report (`/admin/events/{id}`): the totals, the saving per
//! interval as a chart, and the households' settlements — read from the
//! same service reports as `GET /v1/energy/events/{id}/report`. Read-only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use canopy_core::energy::readings::start_of;
use canopy_core::ids;
use canopy_service::ServiceError;
use chrono::{DateTime, Utc};
use maud::html;

use super::{error_page, page, service_error_page, signed, Admin};
use crate::charts::{stacked_bars, Series};
use crate::Web;

/// Households an event page lists.
const HOUSEHOLDS_SHOWN: i64 = 100;

/// The programs and event reports.
pub(crate) fn routes() -> Router<Web> {
    Router::new().route("/admin/programs", get(programs)).route("/admin/events/{id}", get(event))
}

fn local(web: &Web, at: DateTime<Utc>) -> String {
    at.with_timezone(&web.service.settings().timezone).format("%Y-%m-%d %H:%M").to_string()
}

fn kwh(wh: i64) -> String {
    format!("{}.{:03}", wh / 1000, (wh % 1000).abs())
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, (fen % 100).abs())
}

/// The programs and their events (`GET /admin/programs`).
pub async fn programs(State(web): State<Web>, a: Admin) -> Response {
    if let Err(to_login) = signed(&a) {
        return to_login;
    }
    let loaded = async {
        let mut out = Vec::new();
        for program in web.service.programs().await? {
            let events = web.service.program_events(program.id).await?;
            out.push((program, events));
        }
        Ok::<_, ServiceError>(out)
    };
    let programs = match loaded.await {
        Ok(programs) => programs,
        Err(e) => return service_error_page(&a, &e),
    };
    let body = html! {
        h1 { (a.t("admin-programs-title")) }
        @if programs.is_empty() { p class="card" { (a.t("admin-figures-none")) } }
        @for (p, events) in &programs {
            section class="card" {
                h2 { (p.name) " " code { (ids::program(p.id)) } }
                p class="entry-meta" {
                    (p.region) " · ¥" (yuan(p.reward_fen_per_kwh)) "/kWh · " (p.baseline_method) " · " (p.opt_in.as_str())
                    " · " (a.t("admin-programs-pool")) " " code { (ids::pool(p.pool_id)) }
                }
                div class="table-wrap" tabindex="0" { table {
                    caption { (a.t("admin-programs-events")) }
                    thead { tr {
                        th scope="col" { (a.t("admin-programs-event")) }
                        th scope="col" { (a.t("admin-programs-window")) }
                        th scope="col" class="num" { (a.t("admin-programs-invited")) }
                        th scope="col" class="num" { (a.t("admin-programs-in")) }
                        th scope="col" class="num" { (a.t("admin-programs-out")) }
                        th scope="col" class="num" { (a.t("admin-programs-version")) }
                    } }
                    tbody {
                        @for e in events {
                            tr {
                                th scope="row" { a href=(format!("/admin/events/{}", ids::energy_event(e.id))) { (ids::energy_event(e.id)) } }
                                td { (local(&web, start_of(e.start_slot))) " – " (local(&web, start_of(e.start_slot + e.intervals))) }
                                td class="num" { (e.invited) }
                                td class="num" { (e.answered_in) }
                                td class="num" { (e.answered_out) }
                                td class="num" { (e.settled_version) }
                            }
                        }
                        @if events.is_empty() { tr { td colspan="6" { (a.t("admin-figures-none")) } } }
                    }
                } }
            }
        }
    };
    page(&a, StatusCode::OK, "/admin/programs", &a.t("admin-programs-title"), body)
}

/// An event's settlement report (`GET /admin/events/{id}`).
pub async fn event(State(web): State<Web>, a: Admin, Path(id): Path<String>) -> Response {
    if let Err(to_login) = signed(&a) {
        return to_login;
    }
    let Some(id) = ids::parse_energy_event(&id) else {
        return error_page(&a, StatusCode::NOT_FOUND, "error-not-found");
    };
    let report = match web.service.energy_event_report(id, 0, HOUSEHOLDS_SHOWN).await {
        Ok(report) => report,
        Err(e) => return service_error_page(&a, &e),
    };
    let t = &report.totals;
    let labels: Vec<String> = (0..report.interval_savings.len() as i64)
        .map(|i| {
            start_of(report.event.start_slot + i)
                .with_timezone(&web.service.settings().timezone)
                .format("%H:%M")
                .to_string()
        })
        .collect();
    let series = vec![Series { label: a.t("admin-programs-saving-wh"), values: report.interval_savings.clone() }];
    let title = format!("{} · {}", report.program.name, ids::energy_event(id));
    let here = format!("/admin/events/{}", ids::energy_event(id));
    let body = html! {
        p { a href="/admin/programs" { (a.t("admin-programs-back")) } }
        h1 { (title) }
        dl class="figures" {
            div class="figure card" { dt class="label" { (a.t("admin-programs-taking-part")) } dd class="value" id="taking-part" { (report.taking_part) } }
            div class="figure card" { dt class="label" { (a.t("admin-programs-settled")) } dd class="value" id="settled" { (t.settled) } }
            div class="figure card" { dt class="label" { (a.t("admin-programs-saving")) } dd class="value" id="saving-kwh" { (kwh(t.saving_wh)) " kWh" } }
            div class="figure card" { dt class="label" { (a.t("admin-programs-paid")) } dd class="value" id="paid" { "¥" (yuan(t.paid_fen)) } }
            div class="figure card" { dt class="label" { (a.t("admin-programs-carbon")) } dd class="value" id="carbon" { (t.carbon_grams) " g" } }
        }
        section class="card" {
            (stacked_bars("interval-savings", &a.t("admin-programs-saving-chart"), &labels, &series, "Wh", &a.t("admin-programs-chart-table")))
        }
        section class="card" {
            div class="table-wrap" tabindex="0" { table {
                caption { (a.t("admin-programs-households")) }
                thead { tr {
                    th scope="col" { (a.t("admin-programs-meter")) }
                    th scope="col" { (a.t("admin-programs-status")) }
                    th scope="col" class="num" { (a.t("admin-programs-saving")) }
                    th scope="col" class="num" { (a.t("admin-programs-paid")) }
                    th scope="col" class="num" { (a.t("admin-programs-carbon")) }
                } }
                tbody {
                    @for s in &report.households {
                        tr {
                            th scope="row" { (s.meter_id) }
                            td { (s.status) }
                            td class="num" { (kwh(s.saving_wh)) }
                            td class="num" { (yuan(s.paid_fen)) }
                            td class="num" { (s.carbon_grams) }
                        }
                    }
                    @if report.households.is_empty() { tr { td colspan="5" { (a.t("admin-figures-none")) } } }
                }
            } }
        }
    };
    page(&a, StatusCode::OK, &here, &title, body)
}
