//! Sponsors on the dashboard (`/admin/sponsors`): each with its kind, budget
//! and what its projects have committed and handed out, read from the
//! service's `sponsors` (as `GET /v1/sponsors` does), and registering one
//! (`Service::create_sponsor`; projects and campaigns need a sponsor).
//! Analysts see the list; writing needs an admin.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use canopy_service::NewSponsor;
use maud::html;

use super::form::{optional_whole, text, Control, FormSpec, Input, Outcome};
use super::{page, posted_write, service_error_page, signed, Admin};
use crate::Web;

/// The sponsors page.
pub(crate) fn routes() -> Router<Web> {
    Router::new().route("/admin/sponsors", get(list).post(create))
}

/// Registering a sponsor.
pub(crate) const CREATE: FormSpec = FormSpec {
    id: "sponsor-new",
    fields: &["name", "kind", "budget_units", "budget_fen"],
    places: &[("sponsor_exists", "name")],
};

const KINDS: [&str; 3] = ["company", "foundation", "government"];

fn budget(a: &Admin, value: Option<i64>) -> String {
    value.map_or_else(|| a.t("admin-sponsors-unbounded"), |v| v.to_string())
}

/// The sponsors (`GET /admin/sponsors`).
pub async fn list(State(web): State<Web>, a: Admin) -> Response {
    if let Err(to_login) = signed(&a) {
        return to_login;
    }
    render(&web, &a, Outcome::none(), StatusCode::OK).await
}

/// Registers a sponsor (`POST /admin/sponsors` {name, kind, budget_units, budget_fen}).
pub async fn create(State(web): State<Web>, a: Admin, body: Bytes) -> Response {
    let (_, fields) = match posted_write(&web, &a, &body) {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let created = async {
        let new = NewSponsor {
            name: text(&fields, "name"),
            kind: text(&fields, "kind"),
            budget_units: optional_whole(&fields, "budget_units", "invalid_sponsor")?,
            budget_fen: optional_whole(&fields, "budget_fen", "invalid_sponsor")?,
        };
        web.service.create_sponsor(new).await
    };
    match created.await {
        Ok(sponsor) => {
            let notice = a.ta("admin-sponsors-created", &[("id", canopy_core::ids::sponsor(sponsor.id).into())]);
            render(&web, &a, Outcome::done(notice), StatusCode::CREATED).await
        }
        Err(error) => render(&web, &a, Outcome::refused(&CREATE, fields, error), StatusCode::OK).await,
    }
}

async fn render(web: &Web, a: &Admin, outcome: Outcome, ok: StatusCode) -> Response {
    let sponsors = match web.service.sponsors().await {
        Ok(sponsors) => sponsors,
        Err(e) => return service_error_page(a, &e),
    };
    let mut kinds = vec![(String::new(), a.t("admin-form-choose"))];
    kinds.extend(KINDS.iter().map(|k| ((*k).to_owned(), a.t(&format!("admin-sponsors-kind-{k}")))));
    let body = html! {
        h1 { (a.t("admin-sponsors-title")) }
        (outcome.notice())
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
                        td { (budget(a, s.budget_units)) }
                        td { (s.committed_units) }
                        td { (s.handed_out_units) }
                    }
                }
                @if sponsors.is_empty() { tr { td colspan="6" { (a.t("admin-figures-none")) } } }
            }
        } }
        form class="stacked card" method="post" action="/admin/sponsors" novalidate {
            h2 { (a.t("admin-sponsors-create")) }
            (a.csrf_field())
            (outcome.unplaced(a, &CREATE))
            (Input { form: &CREATE, name: "name", control: Control::Input("text"), label: a.t("admin-partners-name"),
                     hint: None, required: true }.render(a, &outcome))
            (Input { form: &CREATE, name: "kind", control: Control::Select(kinds), label: a.t("admin-figures-kind"),
                     hint: None, required: true }.render(a, &outcome))
            (Input { form: &CREATE, name: "budget_units", control: Control::Input("number"), label: a.t("admin-sponsors-budget-units"),
                     hint: Some(a.t("admin-sponsors-budget-hint")), required: false }.render(a, &outcome))
            (Input { form: &CREATE, name: "budget_fen", control: Control::Input("number"), label: a.t("admin-sponsors-budget-fen"),
                     hint: Some(a.t("admin-sponsors-budget-hint")), required: false }.render(a, &outcome))
            button type="submit" { (a.t("admin-sponsors-create-submit")) }
        }
    };
    page(a, outcome.status(ok), "/admin/sponsors", &a.t("admin-sponsors-title"), body)
}
