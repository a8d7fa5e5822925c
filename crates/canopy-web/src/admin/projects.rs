//! Projects on the dashboard's catalogue page: the list (every status),
//! creating a project (`Service::create_project`: its kind's details typed
//! as JSON, as the API takes them) and opening, pausing or ending one
//! (`Service::set_project_status`). Writes need an admin.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use canopy_core::ids;
use canopy_service::{NewProject, ServiceError};
use canopy_store::{ProjectRow, SponsorRow};
use maud::{html, Markup};

use super::catalogue::{render, sponsor_options};
use super::form::{instant, optional_whole, regions, text, time_hint, Control, FormSpec, Input, Outcome};
use super::{posted_write, Admin};
use crate::Web;

/// The project forms.
pub(crate) fn routes() -> Router<Web> {
    Router::new().route("/admin/projects", post(create)).route("/admin/projects/{id}/status", post(set_status))
}

/// Creating a project.
pub(crate) const CREATE: FormSpec = FormSpec {
    id: "project-new",
    fields: &["kind", "title", "sponsor_id", "price_grams", "stock", "regions", "starts_at", "ends_at", "details"],
    places: &[("sponsor_not_found", "sponsor_id"), ("sponsor_budget_exceeded", "stock")],
};

/// A project's status (one form a row; the row's project is `project`).
pub(crate) const STATUS: FormSpec = FormSpec { id: "project-status", fields: &[], places: &[] };

const KINDS: [&str; 4] = ["tree", "land", "voucher", "donation"];
const STATUSES: [&str; 3] = ["active", "paused", "ended"];

/// The projects section of the catalogue page.
pub(crate) fn section(
    web: &Web,
    a: &Admin,
    projects: &[ProjectRow],
    sponsors: &[SponsorRow],
    outcome: &Outcome,
) -> Markup {
    let none = a.t("admin-figures-none");
    let mut kinds = vec![(String::new(), a.t("admin-form-choose"))];
    kinds.extend(KINDS.iter().map(|k| ((*k).to_owned(), a.t(&format!("admin-projects-kind-{k}")))));
    html! {
        section class="card" aria-labelledby="projects-title" {
            h2 id="projects-title" { (a.t("admin-catalogue-projects")) }
            div class="table-wrap" tabindex="0" { table {
                thead { tr { th scope="col" { "id" } th scope="col" { (a.t("admin-partners-name")) } th scope="col" { (a.t("admin-figures-kind")) }
                             th scope="col" { (a.t("admin-catalogue-status")) } th scope="col" class="num" { (a.t("admin-catalogue-price")) }
                             th scope="col" class="num" { (a.t("admin-catalogue-sold")) } th scope="col" class="num" { (a.t("admin-catalogue-stock")) }
                             th scope="col" { (a.t("admin-projects-change-status")) } } }
                tbody {
                    @for p in projects {
                        @let id = ids::project(p.state.id);
                        tr { td { code { (id) } } th scope="row" { (p.title) } td { (p.state.kind.as_str()) }
                             td { (p.state.status.as_str()) } td class="num" { (p.state.price_grams) } td class="num" { (p.state.sold) } td class="num" { (p.state.stock) }
                             td { (status_form(a, &id, p.state.status.as_str(), outcome)) } }
                    }
                    @if projects.is_empty() { tr { td colspan="8" { (none) } } }
                }
            } }
            form class="stacked" method="post" action="/admin/projects" novalidate {
                h3 { (a.t("admin-projects-create")) }
                (a.csrf_field())
                (outcome.unplaced(a, &CREATE))
                (Input { form: &CREATE, name: "kind", control: Control::Select(kinds), label: a.t("admin-figures-kind"),
                         hint: None, required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "title", control: Control::Input("text"), label: a.t("admin-projects-title"),
                         hint: None, required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "sponsor_id", control: Control::Select(sponsor_options(a, sponsors)),
                         label: a.t("admin-catalogue-sponsor"), hint: Some(a.t("admin-projects-sponsor-hint")), required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "price_grams", control: Control::Input("number"), label: a.t("admin-catalogue-price"),
                         hint: Some(a.t("admin-projects-price-hint")), required: false }.render(a, outcome))
                (Input { form: &CREATE, name: "stock", control: Control::Input("number"), label: a.t("admin-catalogue-stock"),
                         hint: Some(a.t("admin-projects-stock-hint")), required: false }.render(a, outcome))
                (Input { form: &CREATE, name: "regions", control: Control::Input("text"), label: a.t("admin-partners-regions"),
                         hint: Some(a.t("admin-projects-regions-hint")), required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "starts_at", control: Control::Input("datetime-local"), label: a.t("admin-form-starts"),
                         hint: Some(time_hint(web, a)), required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "ends_at", control: Control::Input("datetime-local"), label: a.t("admin-form-ends"),
                         hint: Some(time_hint(web, a)), required: true }.render(a, outcome))
                (Input { form: &CREATE, name: "details", control: Control::Text(6), label: a.t("admin-projects-details"),
                         hint: Some(a.t("admin-projects-details-hint")), required: true }.render(a, outcome))
                button type="submit" { (a.t("admin-projects-create-submit")) }
            }
        }
    }
}

fn status_form(a: &Admin, id: &str, current: &str, outcome: &Outcome) -> Markup {
    let select_id = format!("status-{id}");
    let refused_here = outcome.typed(&STATUS, "project") == id;
    html! {
        form method="post" action=(format!("/admin/projects/{id}/status")) class="inline-form" {
            (a.csrf_field())
            label class="visually-hidden" for=(select_id) { (a.ta("admin-projects-status-of", &[("id", id.to_owned().into())])) }
            select id=(select_id) name="status" {
                @for s in STATUSES {
                    option value=(s) selected[s == current] { (a.t(&format!("admin-projects-status-{s}"))) }
                }
            }
            button type="submit" { (a.t("admin-projects-status-submit")) }
        }
        @if refused_here { (outcome.unplaced(a, &STATUS)) }
    }
}

/// Creates a project (`POST /admin/projects` {kind, title, sponsor_id, price_grams, stock, regions, starts_at,
/// ends_at, details (JSON)}).
pub async fn create(State(web): State<Web>, a: Admin, body: Bytes) -> Response {
    let (_, fields) = match posted_write(&web, &a, &body) {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let created = async {
        let typed = text(&fields, "sponsor_id");
        let sponsor_id = ids::parse_sponsor(&typed)
            .ok_or_else(|| ServiceError::not_found("sponsor_not_found", format!("there is no sponsor `{typed}`")))?;
        let details: serde_json::Value = serde_json::from_str(&text(&fields, "details"))
            .map_err(|e| ServiceError::invalid("invalid_project", format!("details: not JSON ({e})")))?;
        let new = NewProject {
            kind: text(&fields, "kind"),
            title: text(&fields, "title"),
            sponsor_id,
            price_grams: optional_whole(&fields, "price_grams", "invalid_project")?,
            stock: optional_whole(&fields, "stock", "invalid_project")?,
            regions: regions(&fields, "regions"),
            starts_at: instant(&web, &text(&fields, "starts_at")),
            ends_at: instant(&web, &text(&fields, "ends_at")),
            details,
        };
        web.service.create_project(new).await
    };
    match created.await {
        Ok(project) => {
            let notice = a.ta("admin-projects-created", &[("id", ids::project(project.state.id).into())]);
            render(&web, &a, Outcome::done(notice), StatusCode::CREATED).await
        }
        Err(error) => render(&web, &a, Outcome::refused(&CREATE, fields, error), StatusCode::OK).await,
    }
}

/// Opens, pauses or ends a project (`POST /admin/projects/{id}/status` {status}).
pub async fn set_status(State(web): State<Web>, a: Admin, Path(id): Path<String>, body: Bytes) -> Response {
    let (_, mut fields) = match posted_write(&web, &a, &body) {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let status = text(&fields, "status");
    let changed = async {
        let project = ids::parse_project(&id)
            .ok_or_else(|| ServiceError::not_found("project_not_found", format!("there is no project `{id}`")))?;
        web.service.set_project_status(project, &status).await
    };
    match changed.await {
        Ok(project) => {
            let args = [
                ("id", ids::project(project.state.id).into()),
                ("status", a.t(&format!("admin-projects-status-{}", project.state.status.as_str())).into()),
            ];
            render(&web, &a, Outcome::done(a.ta("admin-projects-status-set", &args)), StatusCode::OK).await
        }
        Err(error) if error.kind == canopy_service::ErrorKind::NotFound => super::service_error_page(&a, &error),
        Err(error) => {
            fields.insert("project".to_owned(), id);
            render(&web, &a, Outcome::refused(&STATUS, fields, error), StatusCode::OK).await
        }
    }
}
