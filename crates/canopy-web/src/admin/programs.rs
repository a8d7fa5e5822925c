//! Energy programs on the dashboard (`/admin/programs`): each program with
//! its events (window, invited, answers, settled version), and an event's
//! settlement report (`/admin/events/{id}`): the totals, the saving per
//! interval as a chart, and the households' settlements — read from the
//! same service reports as `GET /v1/energy/events/{id}/report`. An admin
//! creates a program (`Service::create_program`; year-on-year bill vouchers
//! are the API's only), an event for a program
//! (`Service::create_energy_event`) and settles an ended event now
//! (`Service::settle_energy_event`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use canopy_core::energy::readings::start_of;
use canopy_core::ids;
use canopy_service::{NewEvent, NewProgram, ServiceError};
use canopy_store::{EventRow, ProgramRow, Target};
use chrono::{DateTime, Utc};
use maud::{html, Markup};

use super::form::{instant, optional, text, time_hint, whole, Control, FormSpec, Input, Outcome};
use super::{error_page, page, posted_write, service_error_page, signed, Admin};
use crate::charts::{stacked_bars, Series};
use crate::Web;

/// Creating a program.
pub(crate) const PROGRAM: FormSpec = FormSpec {
    id: "program-new",
    fields: &[
        "name",
        "region",
        "reward_fen_per_kwh",
        "baseline_method",
        "day_of_adjustment",
        "emission_factor_source",
        "pool",
        "opt_in",
    ],
    places: &[("pool_not_found", "pool"), ("invalid_pool", "pool")],
};

/// Creating an event.
pub(crate) const EVENT: FormSpec = FormSpec {
    id: "event-new",
    fields: &[
        "program",
        "start",
        "duration_minutes",
        "invitations_at",
        "respond_by",
        "cutoff",
        "targets_region",
        "targets_user_ids",
    ],
    places: &[("program_not_found", "program"), ("targets", "targets_region")],
};

/// Settling an event (one button a row; the row's event is `event`).
pub(crate) const SETTLE: FormSpec = FormSpec { id: "event-settle", fields: &[], places: &[] };

const BASELINES: [&str; 3] = ["mean_10_of_10", "high_5_of_10", "mean_5_working_days"];
const OPT_IN: [&str; 2] = ["required", "default_in"];

/// Households an event page lists.
const HOUSEHOLDS_SHOWN: i64 = 100;

/// The programs and event reports.
pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/admin/programs", get(programs).post(create_program))
        .route("/admin/events", post(create_event))
        .route("/admin/events/{id}", get(event))
        .route("/admin/events/{id}/settle", post(settle))
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
    render(&web, &a, Outcome::none(), StatusCode::OK).await
}

async fn render(web: &Web, a: &Admin, outcome: Outcome, ok: StatusCode) -> Response {
    let loaded = async {
        let mut out = Vec::new();
        for program in web.service.programs().await? {
            let events = web.service.program_events(program.id).await?;
            out.push((program, events));
        }
        Ok::<_, ServiceError>((out, web.service.pools().await?))
    };
    let (programs, pools) = match loaded.await {
        Ok(loaded) => loaded,
        Err(e) => return service_error_page(a, &e),
    };
    let body = html! {
        h1 { (a.t("admin-programs-title")) }
        (outcome.notice())
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
                        th scope="col" { (a.t("admin-programs-settle")) }
                    } }
                    tbody {
                        @for e in events {
                            tr {
                                th scope="row" { a href=(format!("/admin/events/{}", ids::energy_event(e.id))) { (ids::energy_event(e.id)) } }
                                td { (local(web, start_of(e.start_slot))) " – " (local(web, start_of(e.start_slot + e.intervals))) }
                                td class="num" { (e.invited) }
                                td class="num" { (e.answered_in) }
                                td class="num" { (e.answered_out) }
                                td class="num" { (e.settled_version) }
                                td { (settle_form(a, e, &outcome)) }
                            }
                        }
                        @if events.is_empty() { tr { td colspan="7" { (a.t("admin-figures-none")) } } }
                    }
                } }
            }
        }
        (program_form(a, &pools, &outcome))
        (event_form(web, a, &programs, &outcome))
    };
    page(a, outcome.status(ok), "/admin/programs", &a.t("admin-programs-title"), body)
}

fn settle_form(a: &Admin, e: &EventRow, outcome: &Outcome) -> Markup {
    let id = ids::energy_event(e.id);
    html! {
        form method="post" action=(format!("/admin/events/{id}/settle")) class="inline" {
            (a.csrf_field())
            button type="submit" aria-label=(a.ta("admin-programs-settle-event", &[("id", id.clone().into())])) {
                (a.t("admin-programs-settle-now"))
            }
        }
        @if outcome.typed(&SETTLE, "event") == id { (outcome.unplaced(a, &SETTLE)) }
    }
}

fn event_form(web: &Web, a: &Admin, programs: &[(ProgramRow, Vec<EventRow>)], outcome: &Outcome) -> Markup {
    let mut choices = vec![(String::new(), a.t("admin-form-choose"))];
    choices.extend(programs.iter().map(|(p, _)| (ids::program(p.id), format!("{} · {}", ids::program(p.id), p.name))));
    let times = |id: &str| Some(format!("{} {}", a.t(id), time_hint(web, a)));
    html! {
        form class="stacked card" method="post" action="/admin/events" novalidate {
            h2 { (a.t("admin-programs-event-create")) }
            (a.csrf_field())
            (outcome.unplaced(a, &EVENT))
            (Input { form: &EVENT, name: "program", control: Control::Select(choices), label: a.t("admin-figures-program"),
                     hint: None, required: true }.render(a, outcome))
            (Input { form: &EVENT, name: "start", control: Control::Input("datetime-local"), label: a.t("admin-programs-start"),
                     hint: times("admin-programs-start-hint"), required: true }.render(a, outcome))
            (Input { form: &EVENT, name: "duration_minutes", control: Control::Input("number"), label: a.t("admin-programs-duration"),
                     hint: Some(a.t("admin-programs-duration-hint")), required: true }.render(a, outcome))
            (Input { form: &EVENT, name: "invitations_at", control: Control::Input("datetime-local"), label: a.t("admin-programs-invitations-at"),
                     hint: times("admin-programs-invitations-at-hint"), required: false }.render(a, outcome))
            (Input { form: &EVENT, name: "respond_by", control: Control::Input("datetime-local"), label: a.t("admin-programs-respond-by"),
                     hint: times("admin-programs-respond-by-hint"), required: false }.render(a, outcome))
            (Input { form: &EVENT, name: "cutoff", control: Control::Input("datetime-local"), label: a.t("admin-programs-cutoff"),
                     hint: times("admin-programs-cutoff-hint"), required: false }.render(a, outcome))
            (Input { form: &EVENT, name: "targets_region", control: Control::Input("text"), label: a.t("admin-programs-target-region"),
                     hint: Some(a.t("admin-programs-target-hint")), required: false }.render(a, outcome))
            (Input { form: &EVENT, name: "targets_user_ids", control: Control::Input("text"), label: a.t("admin-programs-target-citizens"),
                     hint: Some(a.t("admin-programs-target-citizens-hint")), required: false }.render(a, outcome))
            button type="submit" { (a.t("admin-programs-event-create-submit")) }
        }
    }
}

fn program_form(a: &Admin, pools: &[canopy_store::PoolRow], outcome: &Outcome) -> Markup {
    let baselines: Vec<(String, String)> = BASELINES
        .iter()
        .map(|b| ((*b).to_owned(), a.t(&format!("admin-programs-baseline-{}", b.replace('_', "-")))))
        .collect();
    let opt_in: Vec<(String, String)> = OPT_IN
        .iter()
        .map(|o| ((*o).to_owned(), a.t(&format!("admin-programs-opt-in-{}", o.replace('_', "-")))))
        .collect();
    html! {
        form class="stacked card" method="post" action="/admin/programs" novalidate {
            h2 { (a.t("admin-programs-create")) }
            (a.csrf_field())
            (outcome.unplaced(a, &PROGRAM))
            (Input { form: &PROGRAM, name: "name", control: Control::Input("text"), label: a.t("admin-partners-name"),
                     hint: None, required: true }.render(a, outcome))
            (Input { form: &PROGRAM, name: "region", control: Control::Input("text"), label: a.t("admin-programs-region"),
                     hint: Some(a.t("admin-programs-region-hint")), required: true }.render(a, outcome))
            (Input { form: &PROGRAM, name: "reward_fen_per_kwh", control: Control::Input("number"), label: a.t("admin-programs-reward"),
                     hint: Some(a.t("admin-programs-reward-hint")), required: true }.render(a, outcome))
            (Input { form: &PROGRAM, name: "baseline_method", control: Control::Select(baselines), label: a.t("admin-programs-baseline"),
                     hint: None, required: true }.render(a, outcome))
            (Input { form: &PROGRAM, name: "day_of_adjustment", control: Control::Check, label: a.t("admin-programs-adjustment"),
                     hint: None, required: false }.render(a, outcome))
            (Input { form: &PROGRAM, name: "emission_factor_source", control: Control::Input("text"),
                     label: a.t("admin-programs-factor-source"), hint: Some(a.t("admin-programs-factor-source-hint")), required: false }.render(a, outcome))
            (Input { form: &PROGRAM, name: "pool", control: Control::Select(super::pools::options(a, pools, Some("fen"))),
                     label: a.t("admin-pools-pool"), hint: Some(a.t("admin-programs-pool-hint")), required: true }.render(a, outcome))
            (Input { form: &PROGRAM, name: "opt_in", control: Control::Select(opt_in), label: a.t("admin-programs-opt-in"),
                     hint: None, required: true }.render(a, outcome))
            button type="submit" { (a.t("admin-programs-create-submit")) }
        }
    }
}

/// Creates a program (`POST /admin/programs` {name, region, reward_fen_per_kwh, baseline_method,
/// day_of_adjustment, emission_factor_source, pool, opt_in}).
pub async fn create_program(State(web): State<Web>, a: Admin, body: Bytes) -> Response {
    let (_, fields) = match posted_write(&web, &a, &body) {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let created = async {
        let typed = text(&fields, "pool");
        let pool_id = ids::parse_pool(&typed)
            .ok_or_else(|| ServiceError::not_found("pool_not_found", format!("there is no pool `{typed}`")))?;
        let new = NewProgram {
            name: text(&fields, "name"),
            region: text(&fields, "region").to_ascii_uppercase(),
            reward_fen_per_kwh: whole(&fields, "reward_fen_per_kwh", "invalid_program")?,
            baseline_method: text(&fields, "baseline_method"),
            day_of_adjustment: !text(&fields, "day_of_adjustment").is_empty(),
            emission_factor_source: optional(&fields, "emission_factor_source"),
            pool_id,
            opt_in: text(&fields, "opt_in"),
            bill_vouchers: None,
        };
        web.service.create_program(new).await
    };
    match created.await {
        Ok(program) => {
            let notice = a.ta("admin-programs-created", &[("id", ids::program(program.id).into())]);
            render(&web, &a, Outcome::done(notice), StatusCode::CREATED).await
        }
        Err(error) => render(&web, &a, Outcome::refused(&PROGRAM, fields, error), StatusCode::OK).await,
    }
}

/// Whom an event form targets: a region, or citizens (`usr_…`) separated by commas or spaces — one of them.
fn target(fields: &std::collections::HashMap<String, String>) -> Result<Target, ServiceError> {
    let region = optional(fields, "targets_region");
    let citizens: Vec<String> = text(fields, "targets_user_ids")
        .split([',', ' '])
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    match (region, citizens.is_empty()) {
        (Some(region), true) => Ok(Target::Region(region.to_ascii_uppercase())),
        (None, false) => Ok(Target::Citizens(
            citizens
                .iter()
                .map(|u| {
                    ids::parse_user(u).ok_or_else(|| {
                        ServiceError::invalid("invalid_event", format!("targets.user_ids: `{u}` is not a citizen id"))
                    })
                })
                .collect::<Result<_, _>>()?,
        )),
        _ => Err(ServiceError::invalid("invalid_event", "targets: give a region or citizens, one of them")),
    }
}

/// Creates an event (`POST /admin/events` {program, start, duration_minutes, invitations_at, respond_by, cutoff,
/// targets_region | targets_user_ids}).
pub async fn create_event(State(web): State<Web>, a: Admin, body: Bytes) -> Response {
    let (_, fields) = match posted_write(&web, &a, &body) {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let created = async {
        let typed = text(&fields, "program");
        let program_id = ids::parse_program(&typed)
            .ok_or_else(|| ServiceError::not_found("program_not_found", format!("there is no program `{typed}`")))?;
        let at = |name: &str| optional(&fields, name).map(|t| instant(&web, &t));
        let new = NewEvent {
            program_id,
            start: instant(&web, &text(&fields, "start")),
            duration_minutes: whole(&fields, "duration_minutes", "invalid_event")?,
            invitations_at: at("invitations_at"),
            respond_by: at("respond_by"),
            cutoff: at("cutoff"),
            target: target(&fields)?,
        };
        web.service.create_energy_event(new).await
    };
    match created.await {
        Ok(event) => {
            let args = [("id", ids::energy_event(event.id).into()), ("invited", event.invited.to_string().into())];
            render(&web, &a, Outcome::done(a.ta("admin-programs-event-created", &args)), StatusCode::CREATED).await
        }
        Err(error) => render(&web, &a, Outcome::refused(&EVENT, fields, error), StatusCode::OK).await,
    }
}

/// Settles an ended event now (`POST /admin/events/{id}/settle`), on the meter data that has arrived.
pub async fn settle(State(web): State<Web>, a: Admin, Path(id): Path<String>, body: Bytes) -> Response {
    let (_, mut fields) = match posted_write(&web, &a, &body) {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let Some(event_id) = ids::parse_energy_event(&id) else {
        return error_page(&a, StatusCode::NOT_FOUND, "error-not-found");
    };
    match web.service.settle_energy_event(event_id).await {
        Ok(run) => {
            let args = [
                ("id", ids::energy_event(run.event.id).into()),
                ("version", run.event.settled_version.to_string().into()),
                ("changed", run.changed.to_string().into()),
            ];
            render(&web, &a, Outcome::done(a.ta("admin-programs-settled-now", &args)), StatusCode::OK).await
        }
        Err(error) if error.kind == canopy_service::ErrorKind::NotFound => service_error_page(&a, &error),
        Err(error) => {
            fields.insert("event".to_owned(), id);
            render(&web, &a, Outcome::refused(&SETTLE, fields, error), StatusCode::OK).await
        }
    }
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
