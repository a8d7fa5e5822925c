//! Sponsors on the dashboard (`/admin/sponsors`): each with its kind, budget
//! and what its projects have committed and handed out, read from the
//! service's `sponsors` (as `GET /v1/sponsors` does). Read-only: analysts
//! see it too.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;

use super::{page, service_error_page, signed, Admin};
use crate::Web;

/// The sponsors page.
pub(crate) fn routes() -> Router<Web> {
    Router::new().route("/admin/sponsors", get(list))
}

fn budget(a: &Admin, value: Option<i64>) -> String {
    value.map_or_else(|| a.t("admin-sponsors-unbounded"), |v| v.to_string())
}

/// The sponsors (`GET /admin/sponsors`).
pub async fn list(State(web): State<Web>, a: Admin) -> Response {
    if let Err(to_login) = signed(&a) {
        return to_login;
    }
    let sponsors = match web.service.sponsors().await {
        Ok(sponsors) => sponsors,
        Err(e) => return service_error_page(&a, &e),
    };
    let body = html! {
        h1 { (a.t("admin-sponsors-title")) }
        div class="table-wrap" tabindex="0" { table {
            caption { (a.t("admin-sponsors-title")) }
            thead { tr {
                th scope="col" { (a.t("admin-partners-id")) }
                th scope="col" { (a.t("admin-partners-name")) }
                th scope="col" { (a.t("admin-figures-kind")) }
                th scope="col" { (a.t("admin-sponsors-budget-units")) }
                th scope="col" { (a.t("admin-sponsors-committed-units")) }
                th scope="col" { (a.t("admin-sponsors-handed-out")) }
            } }
            tbody {
                @for s in &sponsors {
                    tr {
                        td { code { (canopy_core::ids::sponsor(s.id)) } }
                        th scope="row" { (s.name) }
                        td { (s.kind.as_str()) }
                        td { (budget(&a, s.budget_units)) }
                        td { (s.committed_units) }
                        td { (s.handed_out_units) }
                    }
                }
                @if sponsors.is_empty() { tr { td colspan="6" { (a.t("admin-figures-none")) } } }
            }
        } }
    };
    page(&a, StatusCode::OK, "/admin/sponsors", &a.t("admin-sponsors-title"), body)
}
