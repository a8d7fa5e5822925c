//! What the operator runs for citizens, on one page (`/admin/catalogue`):
//! pools and their balances, projects (every status), campaigns with
//! whether their retirements match, and challenges — read from the same
//! service lists as the API — each section with its forms. The sections
//! and their forms live in `pools`, `projects`, `campaigns` and
//! `challenges`; a form's handler renders this page again with what became
//! of it (a notice, or the service's refusal at its field).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use canopy_service::{ProjectQuery, ServiceError};
use chrono::{DateTime, Utc};
use maud::html;

use super::form::Outcome;
use super::{campaigns, challenges, page, pools, projects, service_error_page, signed, Admin};
use crate::Web;

/// The catalogue page.
pub(crate) fn routes() -> Router<Web> {
    Router::new().route("/admin/catalogue", get(catalogue))
}

/// A moment's local day.
pub(crate) fn day(web: &Web, at: DateTime<Utc>) -> String {
    at.with_timezone(&web.service.settings().timezone).format("%Y-%m-%d").to_string()
}

/// The catalogue page with `outcome` of the form just sent; `ok` is its
/// status when the form succeeded.
pub(crate) async fn render(web: &Web, a: &Admin, outcome: Outcome, ok: StatusCode) -> Response {
    let loaded = async {
        Ok::<_, ServiceError>((
            web.service.pools().await?,
            web.service.sponsors().await?,
            web.service.projects(ProjectQuery { kind: None, region: None, all: true }).await?,
            web.service.campaigns().await?,
            web.service.challenges().await?,
        ))
    };
    let (pools, sponsors, projects, campaigns, challenges) = match loaded.await {
        Ok(loaded) => loaded,
        Err(e) => return service_error_page(a, &e),
    };
    let body = html! {
        h1 { (a.t("admin-catalogue-title")) }
        (outcome.notice())
        (pools::section(a, &pools, &outcome))
        (projects::section(web, a, &projects, &sponsors, &outcome))
        (campaigns::section(web, a, &campaigns, &sponsors, &outcome))
        (challenges::section(web, a, &challenges, &pools, &outcome))
    };
    page(a, outcome.status(ok), "/admin/catalogue", &a.t("admin-catalogue-title"), body)
}

/// Pools, projects, campaigns and challenges (`GET /admin/catalogue`).
pub async fn catalogue(State(web): State<Web>, a: Admin) -> Response {
    if let Err(to_login) = signed(&a) {
        return to_login;
    }
    render(&web, &a, Outcome::none(), StatusCode::OK).await
}

/// The sponsors as (id, "id · name") options of a select.
pub(crate) fn sponsor_options(a: &Admin, sponsors: &[canopy_store::SponsorRow]) -> Vec<(String, String)> {
    let mut options = vec![(String::new(), a.t("admin-form-choose"))];
    options.extend(sponsors.iter().map(|s| {
        let id = canopy_core::ids::sponsor(s.id);
        (id.clone(), format!("{id} · {}", s.name))
    }));
    options
}
