//! What the operator runs for citizens, on one page (`/admin/catalogue`):
//! pools and their balances, projects (every status), campaigns with
//! whether their retirements match, and challenges — read from the same
//! service lists as the API. Read-only; changes go through the API.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use canopy_core::ids;
use canopy_service::{ProjectQuery, ServiceError};
use chrono::{DateTime, Utc};
use maud::html;

use super::{page, service_error_page, signed, Admin};
use crate::Web;

/// The catalogue page.
pub(crate) fn routes() -> Router<Web> {
    Router::new().route("/admin/catalogue", get(catalogue))
}

fn day(web: &Web, at: DateTime<Utc>) -> String {
    at.with_timezone(&web.service.settings().timezone).format("%Y-%m-%d").to_string()
}

/// Pools, projects, campaigns and challenges (`GET /admin/catalogue`).
pub async fn catalogue(State(web): State<Web>, a: Admin) -> Response {
    if let Err(to_login) = signed(&a) {
        return to_login;
    }
    let loaded = async {
        Ok::<_, ServiceError>((
            web.service.pools().await?,
            web.service.projects(ProjectQuery { kind: None, region: None, all: true }).await?,
            web.service.campaigns().await?,
            web.service.challenges().await?,
        ))
    };
    let (pools, projects, campaigns, challenges) = match loaded.await {
        Ok(loaded) => loaded,
        Err(e) => return service_error_page(&a, &e),
    };
    let none = a.t("admin-figures-none");
    let body = html! {
        h1 { (a.t("admin-catalogue-title")) }
        section class="card" aria-labelledby="pools-title" {
            h2 id="pools-title" { (a.t("admin-catalogue-pools")) }
            div class="table-wrap" tabindex="0" { table {
                thead { tr { th scope="col" { "id" } th scope="col" { (a.t("admin-partners-name")) } th scope="col" { (a.t("admin-catalogue-sponsor")) }
                             th scope="col" { (a.t("admin-catalogue-unit")) } th scope="col" class="num" { (a.t("admin-catalogue-balance")) } } }
                tbody {
                    @for p in &pools {
                        tr { td { code { (ids::pool(p.id)) } } th scope="row" { (p.name) } td { (p.sponsor) } td { (p.unit.as_str()) } td class="num" { (p.balance) } }
                    }
                    @if pools.is_empty() { tr { td colspan="5" { (none) } } }
                }
            } }
        }
        section class="card" aria-labelledby="projects-title" {
            h2 id="projects-title" { (a.t("admin-catalogue-projects")) }
            div class="table-wrap" tabindex="0" { table {
                thead { tr { th scope="col" { "id" } th scope="col" { (a.t("admin-partners-name")) } th scope="col" { (a.t("admin-figures-kind")) }
                             th scope="col" { (a.t("admin-catalogue-status")) } th scope="col" class="num" { (a.t("admin-catalogue-price")) }
                             th scope="col" class="num" { (a.t("admin-catalogue-sold")) } th scope="col" class="num" { (a.t("admin-catalogue-stock")) } } }
                tbody {
                    @for p in &projects {
                        tr { td { code { (ids::project(p.state.id)) } } th scope="row" { (p.title) } td { (p.state.kind.as_str()) }
                             td { (p.state.status.as_str()) } td class="num" { (p.state.price_grams) } td class="num" { (p.state.sold) } td class="num" { (p.state.stock) } }
                    }
                    @if projects.is_empty() { tr { td colspan="7" { (none) } } }
                }
            } }
        }
        section class="card" aria-labelledby="campaigns-title" {
            h2 id="campaigns-title" { (a.t("admin-catalogue-campaigns")) }
            div class="table-wrap" tabindex="0" { table {
                thead { tr { th scope="col" { "id" } th scope="col" { (a.t("admin-partners-name")) } th scope="col" class="num" { (a.t("admin-catalogue-given")) }
                             th scope="col" class="num" { (a.t("admin-catalogue-retired")) } th scope="col" { (a.t("admin-catalogue-matched")) } } }
                tbody {
                    @for (c, s) in &campaigns {
                        tr { td { a href=(format!("/campaigns/{}", ids::campaign(c.id))) { code { (ids::campaign(c.id)) } } } th scope="row" { (c.title) }
                             td class="num" { (c.contributed_grams) } td class="num" { (s.retired_grams) }
                             td { (if s.matched { a.t("admin-catalogue-yes") } else { a.t("admin-catalogue-no") }) } }
                    }
                    @if campaigns.is_empty() { tr { td colspan="5" { (none) } } }
                }
            } }
        }
        section class="card" aria-labelledby="challenges-title" {
            h2 id="challenges-title" { (a.t("admin-catalogue-challenges")) }
            div class="table-wrap" tabindex="0" { table {
                thead { tr { th scope="col" { "id" } th scope="col" { (a.t("admin-partners-name")) } th scope="col" { (a.t("admin-catalogue-dates")) }
                             th scope="col" class="num" { (a.t("admin-catalogue-paid")) } } }
                tbody {
                    @for c in &challenges {
                        tr { td { code { (ids::challenge(c.id)) } } th scope="row" { (c.challenge.title) }
                             td { (day(&web, c.challenge.starts_at)) " – " (day(&web, c.challenge.ends_at)) } td class="num" { (c.paid_grams) } }
                    }
                    @if challenges.is_empty() { tr { td colspan="4" { (none) } } }
                }
            } }
        }
    };
    page(&a, StatusCode::OK, "/admin/catalogue", &a.t("admin-catalogue-title"), body)
}
