//! What the citizen redeemed (`/redemptions`): each redemption with its
//! certificate or voucher code, cancelling within the window, and the
//! co-planting plans to answer; and a certificate's public page
//! (`/certificates/{number}`), with its shareable image.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use canopy_core::ids;
use canopy_core::redemption::ProjectDetails;
use canopy_service::{ErrorKind, ServiceError};
use chrono::{DateTime, Utc};
use fluent_bundle::FluentValue;
use maud::{html, Markup};

use crate::forms::{citizen, posted, service_error_page, status_of};
use crate::layout::{page, see_other};
use crate::redeem::{kind_name, refusal_message};
use crate::session::Viewer;
use crate::Web;

/// Redemptions, co-planting answers and certificates.
pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/redemptions", get(redemptions))
        .route("/redemptions/{id}/cancel", post(cancel))
        .route("/coplantings/{id}/{answer}", post(answer))
        .route("/certificates/{number}", get(certificate))
}

fn local(web: &Web, at: DateTime<Utc>) -> String {
    at.with_timezone(&web.service.settings().timezone).format("%Y-%m-%d %H:%M").to_string()
}

async fn redemptions_page(web: &Web, v: &Viewer, user_id: i64, top: Option<Markup>, status: StatusCode) -> Response {
    let loaded = async {
        Ok::<_, ServiceError>((
            web.service.redemptions(user_id, None, Some(100)).await?,
            web.service.coplantings(user_id).await?,
        ))
    };
    let (list, plans) = match loaded.await {
        Ok(loaded) => loaded,
        Err(error) => return service_error_page(v, &error),
    };
    let window = web.service.settings().cancel_window_s;
    let now = web.service.now();
    let body = html! {
        h1 { (v.t("redemptions-title")) }
        @if let Some(top) = top { (top) }
        p { a href="/redeem" { (v.t("redemptions-redeem-more")) } }
        @let open: Vec<_> = plans.iter().filter(|p| p.status == "open").collect();
        @if !open.is_empty() {
            section class="card" aria-labelledby="plans-title" {
                h2 id="plans-title" { (v.t("redemptions-plans")) }
                ul class="rows" {
                    @for plan in &open {
                        @let mine = plan.shares.iter().find(|s| s.user_id == user_id);
                        li class="row" {
                            div {
                                strong { (plan.project_title) }
                                p class="entry-meta" {
                                    (plan.shares.iter().map(|s| format!("{} {} g", s.display_name, s.grams)).collect::<Vec<_>>().join(&v.t("list-separator")))
                                }
                                p class="entry-meta" { (v.ta("redemptions-plan-deadline", &[("when", FluentValue::from(local(web, plan.deadline)))])) }
                            }
                            @if plan.creator != user_id && mine.is_some_and(|s| s.state == "invited") {
                                span class="actions-inline" {
                                    form method="post" action=(format!("/coplantings/{}/accept", ids::coplanting(plan.id))) class="inline" {
                                        (v.csrf_field())
                                        button type="submit" { (v.ta("redemptions-plan-accept", &[("grams", FluentValue::from(mine.map_or(0, |s| s.grams)))])) }
                                    }
                                    form method="post" action=(format!("/coplantings/{}/decline", ids::coplanting(plan.id))) class="inline" {
                                        (v.csrf_field())
                                        button type="submit" class="secondary" { (v.t("redemptions-plan-decline")) }
                                    }
                                }
                            } @else {
                                span class="entry-meta" { (v.t("redemptions-plan-waiting")) }
                            }
                        }
                    }
                }
            }
        }
        section class="card" aria-labelledby="list-title" {
            h2 id="list-title" { (v.t("redemptions-list")) }
            @if list.redemptions.is_empty() {
                p { (v.t("redemptions-none")) }
            } @else {
                ul class="rows" {
                    @for r in &list.redemptions {
                        li class="row" {
                            div {
                                strong { (r.project_title) }
                                " · " (kind_name(v, r.project_kind)) " × " (r.quantity)
                                p class="entry-meta" {
                                    (v.ta("redemptions-spent", &[("grams", FluentValue::from(r.energy_grams)), ("when", FluentValue::from(local(web, r.created_at)))]))
                                    @if r.cancelled_at.is_some() { " · " (v.t("redemptions-cancelled")) }
                                }
                                @if r.cancelled_at.is_none() {
                                    @if let Some(number) = &r.certificate {
                                        p { a href=(format!("/certificates/{number}")) { (v.ta("redemptions-certificate", &[("number", FluentValue::from(number.as_str()))])) } }
                                    }
                                    @if let Some(code) = &r.voucher_code {
                                        p { (v.t("redemptions-voucher-code")) " " code class="voucher-code" { (code) } }
                                    }
                                }
                            }
                            @if r.cancelled_at.is_none() && (now - r.created_at).num_seconds() < window {
                                form method="post" action=(format!("/redemptions/{}/cancel", ids::redemption(r.id))) class="inline" {
                                    (v.csrf_field())
                                    button type="submit" class="secondary" { (v.t("redemptions-cancel")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(v, status, "/redemptions", &v.t("redemptions-title"), body)
}

/// What the citizen redeemed (`GET /redemptions?done=`).
pub async fn redemptions(State(web): State<Web>, v: Viewer, RawQuery(query): RawQuery) -> Response {
    let user_id = match citizen(&v) {
        Ok(user_id) => user_id,
        Err(page) => return page,
    };
    let done = query.as_deref().and_then(|q| q.strip_prefix("done=")).map(|what| match what {
        "together" => v.t("redemptions-done-together"),
        "cancelled" => v.t("redemptions-done-cancelled"),
        "accepted" => v.t("redemptions-done-accepted"),
        "declined" => v.t("redemptions-done-declined"),
        _ => v.t("redemptions-done"),
    });
    let top = done.map(|text| html! { p class="notice" role="status" { (text) } });
    redemptions_page(&web, &v, user_id, top, StatusCode::OK).await
}

async fn refused(web: &Web, v: &Viewer, user_id: i64, error: &ServiceError) -> Response {
    if matches!(error.kind, ErrorKind::Unavailable | ErrorKind::Internal) {
        return service_error_page(v, error);
    }
    let top = html! { p class="alert" role="alert" { (refusal_message(v, error)) } };
    redemptions_page(web, v, user_id, Some(top), status_of(error)).await
}

/// Cancels a redemption within the window (`POST /redemptions/{id}/cancel`).
pub async fn cancel(State(web): State<Web>, v: Viewer, Path(id): Path<String>, body: Bytes) -> Response {
    let (user_id, _) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let Some(id) = ids::parse_redemption(&id) else {
        return crate::error_page(&v, StatusCode::NOT_FOUND, "error-not-found");
    };
    match web.service.cancel_redemption(user_id, id, None).await {
        Ok(_) => see_other("/redemptions?done=cancelled", Vec::new()),
        Err(error) => refused(&web, &v, user_id, &error).await,
    }
}

/// Accepts or declines a co-planting plan (`POST /coplantings/{id}/{accept|decline}`).
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
    let (Some(id), accept) = (ids::parse_coplanting(&id), answer == "accept") else {
        return crate::error_page(&v, StatusCode::NOT_FOUND, "error-not-found");
    };
    if !accept && answer != "decline" {
        return crate::error_page(&v, StatusCode::NOT_FOUND, "error-not-found");
    }
    match web.service.answer_coplanting(user_id, id, accept, None).await {
        Ok(plan) => match (&plan.certificate, accept) {
            (Some(number), true) => see_other(&format!("/certificates/{number}?new=1"), Vec::new()),
            (_, true) => see_other("/redemptions?done=accepted", Vec::new()),
            (_, false) => see_other("/redemptions?done=declined", Vec::new()),
        },
        Err(error) => refused(&web, &v, user_id, &error).await,
    }
}

/// A certificate, for anyone (`GET /certificates/{number}`).
pub async fn certificate(
    State(web): State<Web>,
    v: Viewer,
    Path(number): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let (found, planters) = match web.service.certificate(&number).await {
        Ok(found) => found,
        Err(error) if error.code == "certificate_void" => {
            return crate::error_page(&v, StatusCode::GONE, "certificates-void")
        }
        Err(error) => return service_error_page(&v, &error),
    };
    let (r, p) = (&found.redemption, &found.project);
    let owner = found.owner.clone().unwrap_or_else(|| v.t("certificates-anonymous"));
    let what = match &p.details {
        ProjectDetails::Tree(t) => v.ta(
            "certificates-tree",
            &[
                ("count", FluentValue::from(r.quantity)),
                ("species", FluentValue::from(t.species.as_str())),
                ("site", FluentValue::from(t.site.as_str())),
            ],
        ),
        ProjectDetails::Land(l) => v.ta(
            "certificates-land",
            &[("area", FluentValue::from(r.quantity)), ("site", FluentValue::from(l.site.as_str()))],
        ),
        ProjectDetails::Donation(d) => v.ta(
            "certificates-donation",
            &[
                ("count", FluentValue::from(r.quantity)),
                ("buys", FluentValue::from(d.unit_buys.as_str())),
                ("beneficiary", FluentValue::from(d.beneficiary.as_str())),
            ],
        ),
        ProjectDetails::Voucher(_) => p.title.clone(),
    };
    let title = v.ta("certificates-title", &[("number", FluentValue::from(number.as_str()))]);
    let here = format!("/certificates/{number}");
    let body = html! {
        @if query.as_deref() == Some("new=1") { p class="notice" role="status" { (v.t("certificates-new")) } }
        h1 { (v.t("certificates-heading")) }
        figure class="certificate card" {
            img src=(format!("/v1/certificates/{number}.svg")) alt=(format!("{owner} · {what}")) width="600" height="400";
            figcaption {
                p class="cert-owner" { (owner) }
                p { (what) }
                p class="entry-meta" { (v.ta("certificates-by", &[("sponsor", FluentValue::from(p.sponsor_name.as_str())), ("project", FluentValue::from(p.title.as_str()))])) }
                p class="entry-meta" { (v.ta("certificates-energy", &[("grams", FluentValue::from(r.energy_grams)), ("when", FluentValue::from(local(&web, r.created_at)))])) }
                @if !planters.is_empty() {
                    p { (v.t("certificates-together")) " " (planters.iter().map(|(name, g)| format!("{name} {g} g")).collect::<Vec<_>>().join(&v.t("list-separator"))) }
                }
                p class="entry-meta" { (title) }
            }
        }
        p { (v.t("certificates-share")) " " a href=(format!("/v1/certificates/{number}.svg")) download=(format!("canopy-{number}.svg")) { (v.t("certificates-image")) } }
    };
    page(&v, StatusCode::OK, &here, &title, body)
}
