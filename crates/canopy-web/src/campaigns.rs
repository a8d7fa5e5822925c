//! Campaigns (`/campaigns`): the public-good campaigns a sponsor matches
//! with retired carbon credits, each with its public page
//! (`/campaigns/{id}`: what was given, what was retired, whether they
//! match, the retirements' serials), and for a signed-in citizen the form
//! to give energy to one.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use canopy_core::ids;
use canopy_service::{ErrorKind, ServiceError};
use chrono::{DateTime, Utc};
use fluent_bundle::FluentValue;
use maud::{html, Markup};

use crate::forms::{citizen, posted, service_error_page, status_of};
use crate::layout::{page, see_other, Field};
use crate::session::Viewer;
use crate::Web;

/// The campaigns and giving to them.
pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/campaigns", get(campaigns))
        .route("/campaigns/{id}", get(campaign))
        .route("/campaigns/{id}/contribute", post(contribute))
}

/// Grams as kilograms with three decimals (`2.000 kg`).
pub(crate) fn kg(grams: i64) -> String {
    format!("{}.{:03} kg", grams / 1000, (grams % 1000).abs())
}

fn day(web: &Web, at: DateTime<Utc>) -> String {
    at.with_timezone(&web.service.settings().timezone).format("%Y-%m-%d").to_string()
}

/// The campaigns (`GET /campaigns`).
pub async fn campaigns(State(web): State<Web>, v: Viewer) -> Response {
    let list = match web.service.campaigns().await {
        Ok(list) => list,
        Err(error) => return service_error_page(&v, &error),
    };
    let now = web.service.now();
    let body = html! {
        h1 { (v.t("campaigns-title")) }
        p { (v.t("campaigns-intro")) }
        @if list.is_empty() {
            p class="card" { (v.t("campaigns-none")) }
        } @else {
            ul class="projects" {
                @for (c, standing) in &list {
                    li class="card project" {
                        h2 { a href=(format!("/campaigns/{}", ids::campaign(c.id))) { (c.title) } }
                        p class="entry-meta" { (v.ta("campaigns-for", &[("beneficiary", FluentValue::from(c.beneficiary.as_str())), ("sponsor", FluentValue::from(c.sponsor_name.as_str()))])) }
                        p { (v.ta("campaigns-given", &[("given", FluentValue::from(kg(c.contributed_grams))), ("goal", FluentValue::from(kg(c.goal_grams)))])) }
                        p class="entry-meta" {
                            @if standing.matched { (v.t("campaigns-matched")) } @else { (v.ta("campaigns-shortfall", &[("missing", FluentValue::from(kg(standing.shortfall_grams)))])) }
                            " · "
                            @if now < c.starts_at { (v.ta("campaigns-starts", &[("when", FluentValue::from(day(&web, c.starts_at)))])) }
                            @else if now >= c.ends_at { (v.t("campaigns-ended")) }
                            @else { (v.ta("campaigns-until", &[("when", FluentValue::from(day(&web, c.ends_at)))])) }
                        }
                    }
                }
            }
        }
    };
    page(&v, StatusCode::OK, "/campaigns", &v.t("campaigns-title"), body)
}

fn campaign_id(v: &Viewer, text: &str) -> Result<i64, Response> {
    ids::parse_campaign(text).ok_or_else(|| crate::error_page(v, StatusCode::NOT_FOUND, "error-campaign-not-found"))
}

async fn campaign_page(
    web: &Web,
    v: &Viewer,
    id: i64,
    top: Option<Markup>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let view = match web.service.campaign(id, v.user.as_ref().map(|u| u.user_id)).await {
        Ok(view) => view,
        Err(error) => return service_error_page(v, &error),
    };
    let (c, s) = (&view.row, &view.standing);
    let here = format!("/campaigns/{}", ids::campaign(id));
    let now = web.service.now();
    let open = now >= c.starts_at && now < c.ends_at;
    let body = html! {
        p { a href="/campaigns" { (v.t("campaigns-back")) } }
        h1 { (c.title) }
        @if let Some(top) = top { (top) }
        p { (v.ta("campaigns-for", &[("beneficiary", FluentValue::from(c.beneficiary.as_str())), ("sponsor", FluentValue::from(c.sponsor_name.as_str()))])) }
        div class="figures" {
            div class="figure card" { div class="value" { (c.participants) } div class="label" { (v.t("campaigns-participants")) } }
            div class="figure card" { div class="value" { (kg(c.contributed_grams)) } div class="label" { (v.ta("campaigns-given-label", &[("goal", FluentValue::from(kg(c.goal_grams)))])) } }
            div class="figure card" { div class="value" { (kg(s.retired_grams)) } div class="label" { (v.t("campaigns-retired")) } }
        }
        p class="notice" {
            @if s.matched { (v.t("campaigns-matched-long")) }
            @else { (v.ta("campaigns-shortfall", &[("missing", FluentValue::from(kg(s.shortfall_grams)))])) }
        }
        @if v.user.is_some() && open {
            section class="card" aria-labelledby="give-title" {
                h2 id="give-title" { (v.t("campaigns-give")) }
                @if let Some(mine) = view.mine { p { (v.ta("campaigns-mine", &[("given", FluentValue::from(mine)), ("limit", FluentValue::from(c.per_person_limit_grams))])) } }
                form method="post" action=(format!("{here}/contribute")) class="stacked" novalidate {
                    (v.csrf_field())
                    (Field { name: "grams", kind: "number", label: v.t("campaigns-grams"), hint: Some(v.ta("campaigns-grams-hint", &[("limit", FluentValue::from(c.per_person_limit_grams))])),
                             value: "", error, autocomplete: "off" }.render())
                    button type="submit" { (v.t("campaigns-give-go")) }
                }
            }
        }
        section class="card" aria-labelledby="retired-title" {
            h2 id="retired-title" { (v.t("campaigns-retirements")) }
            @if view.retirements.is_empty() {
                p { (v.t("campaigns-no-retirements")) }
            } @else {
                div class="table-wrap" tabindex="0" {
                    table {
                        thead { tr {
                            th scope="col" { (v.t("campaigns-registry")) }
                            th scope="col" { (v.t("campaigns-serials")) }
                            th scope="col" class="num" { (v.t("campaigns-tonnes")) }
                            th scope="col" { (v.t("campaigns-retired-on")) }
                        } }
                        tbody {
                            @for r in &view.retirements {
                                tr { td { (r.registry) } td { (r.serial_first) " – " (r.serial_last) } td class="num" { (r.quantity_t) " t" } td { (day(web, r.retired_at)) } }
                            }
                        }
                    }
                }
            }
        }
    };
    page(v, status, &here, &c.title, body)
}

/// A campaign's public page (`GET /campaigns/{id}`).
pub async fn campaign(
    State(web): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let id = match campaign_id(&v, &id) {
        Ok(id) => id,
        Err(page) => return page,
    };
    let top = query.as_deref().and_then(|q| q.strip_prefix("gave=")).and_then(|g| g.parse::<i64>().ok()).map(|g| {
        html! { p class="notice" role="status" { (v.ta("campaigns-thanks", &[("grams", FluentValue::from(g))])) } }
    });
    campaign_page(&web, &v, id, top, None, StatusCode::OK).await
}

/// Gives energy to a campaign (`POST /campaigns/{id}/contribute` {grams}).
pub async fn contribute(State(web): State<Web>, v: Viewer, Path(id): Path<String>, body: Bytes) -> Response {
    if let Err(page) = citizen(&v) {
        return page;
    }
    let (user_id, fields) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let id = match campaign_id(&v, &id) {
        Ok(id) => id,
        Err(page) => return page,
    };
    let result = match fields.get("grams").and_then(|g| g.trim().parse::<i64>().ok()) {
        Some(grams) => web.service.contribute(user_id, id, grams, None).await,
        None => Err(ServiceError::invalid("invalid_amount", "grams must be a whole number")),
    };
    match result {
        Ok(done) => see_other(&format!("/campaigns/{}?gave={}", ids::campaign(id), done.grams), Vec::new()),
        Err(error) if matches!(error.kind, ErrorKind::Unavailable | ErrorKind::Internal) => {
            service_error_page(&v, &error)
        }
        Err(error) => {
            let message = crate::forms::refusal(&v, "campaigns", &error);
            campaign_page(&web, &v, id, None, Some(message), status_of(&error)).await
        }
    }
}
