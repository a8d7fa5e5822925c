//! Redeeming (`/redeem`): the catalogue of open projects a citizen of the
//! viewer's region may redeem, by kind (trees, protected land, vouchers,
//! donations); a project's page with what it costs and what would be left,
//! where the citizen confirms (`/redeem/{id}`), or invites friends to plant
//! a tree together.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use canopy_core::ids;
use canopy_core::redemption::{ProjectDetails, ProjectKind};
use canopy_service::{ErrorKind, NewCoplanting, ProjectQuery, ServiceError};
use canopy_store::ProjectRow;
use fluent_bundle::FluentValue;
use maud::{html, Markup};
use serde::Deserialize;

use crate::forms::{citizen, posted, service_error_page, status_of, values};
use crate::layout::{page, see_other, Field};
use crate::session::Viewer;
use crate::Web;

/// The catalogue and redeeming.
pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/redeem", get(catalogue))
        .route("/redeem/{id}", get(confirm).post(redeem))
        .route("/redeem/{id}/together", post(plant_together))
}

const KINDS: [(&str, &str); 4] = [
    ("tree", "redeem-kind-tree"),
    ("land", "redeem-kind-land"),
    ("voucher", "redeem-kind-voucher"),
    ("donation", "redeem-kind-donation"),
];

/// The kind in the catalogue's address.
#[derive(Debug, Default, Deserialize)]
pub struct CatalogueParams {
    kind: Option<String>,
}

/// A project's kind in words.
pub(crate) fn kind_name(v: &Viewer, kind: ProjectKind) -> String {
    v.t(&format!("redeem-kind-{}", kind.as_str()))
}

/// What a project is, in a line or two.
fn details(v: &Viewer, project: &ProjectRow) -> Markup {
    html! {
        @match &project.details {
            ProjectDetails::Tree(t) => p class="entry-meta" { (v.ta("redeem-tree-details", &[("species", FluentValue::from(t.species.as_str())),
                ("site", FluentValue::from(t.site.as_str())), ("kg", FluentValue::from(t.sequestration_kg.to_string()))])) },
            ProjectDetails::Land(l) => p class="entry-meta" { (v.ta("redeem-land-details", &[("site", FluentValue::from(l.site.as_str())),
                ("area", FluentValue::from(l.area_m2))])) },
            ProjectDetails::Voucher(d) => p class="entry-meta" { (v.ta("redeem-voucher-details", &[("yuan", FluentValue::from(format!("{:.2}", d.face_value_fen as f64 / 100.0))),
                ("terms", FluentValue::from(d.terms.as_str()))])) },
            ProjectDetails::Donation(d) => p class="entry-meta" { (v.ta("redeem-donation-details", &[("beneficiary", FluentValue::from(d.beneficiary.as_str())),
                ("buys", FluentValue::from(d.unit_buys.as_str()))])) },
        }
    }
}

fn price(v: &Viewer, project: &ProjectRow) -> String {
    v.ta("redeem-price", &[("grams", FluentValue::from(project.state.price_grams))])
}

/// The catalogue (`GET /redeem?kind=`).
pub async fn catalogue(
    State(web): State<Web>,
    v: Viewer,
    params: Result<Query<CatalogueParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let user_id = match citizen(&v) {
        Ok(user_id) => user_id,
        Err(page) => return page,
    };
    let Query(params) = params.unwrap_or_default();
    let kind = params.kind.as_deref().filter(|k| !k.is_empty());
    let loaded = async {
        let account = web.service.account(user_id).await?;
        let projects =
            web.service.projects(ProjectQuery { kind, region: Some(&account.user.region), all: false }).await?;
        Ok::<_, ServiceError>((account, projects))
    };
    let (account, projects) = match loaded.await {
        Ok(loaded) => loaded,
        Err(error) => return service_error_page(&v, &error),
    };
    let body = html! {
        h1 { (v.t("redeem-title")) }
        p class="notice" { (v.ta("redeem-balance", &[("grams", FluentValue::from(account.balances.energy_grams))])) }
        div class="tabs" role="group" aria-label=(v.t("redeem-kinds")) {
            @if kind.is_none() { a class="tab current" href="/redeem" aria-current="true" { (v.t("redeem-kind-all")) } }
            @else { a class="tab" href="/redeem" { (v.t("redeem-kind-all")) } }
            @for (k, id) in KINDS {
                @if kind == Some(k) { a class="tab current" href=(format!("/redeem?kind={k}")) aria-current="true" { (v.t(id)) } }
                @else { a class="tab" href=(format!("/redeem?kind={k}")) { (v.t(id)) } }
            }
        }
        p { a href="/redemptions" { (v.t("redeem-mine")) } " · " a href="/campaigns" { (v.t("nav-campaigns")) } }
        @if projects.is_empty() {
            p class="card" { (v.t("redeem-none")) }
        } @else {
            ul class="projects" {
                @for p in &projects {
                    li class="card project" {
                        h2 { a href=(format!("/redeem/{}", ids::project(p.state.id))) { (p.title) } }
                        p class="entry-meta" { (kind_name(&v, p.state.kind)) " · " (v.ta("redeem-sponsor", &[("sponsor", FluentValue::from(p.sponsor_name.as_str()))])) }
                        (details(&v, p))
                        p { strong { (price(&v, p)) } " · " (v.ta("redeem-left", &[("count", FluentValue::from(p.state.available()))])) }
                    }
                }
            }
        }
    };
    page(&v, StatusCode::OK, "/redeem", &v.t("redeem-title"), body)
}

fn project_id(v: &Viewer, text: &str) -> Result<i64, Response> {
    ids::parse_project(text).ok_or_else(|| crate::error_page(v, StatusCode::NOT_FOUND, "error-not-found"))
}

/// The message of a refused redemption or plan, by its stable code.
pub(crate) fn refusal_message(v: &Viewer, error: &ServiceError) -> String {
    crate::forms::refusal(v, "redeem", error)
}

async fn confirm_page(
    web: &Web,
    v: &Viewer,
    user_id: i64,
    id: i64,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let loaded = async {
        Ok::<_, ServiceError>((
            web.service.project(id).await?,
            web.service.account(user_id).await?,
            web.service.friends(user_id).await?,
        ))
    };
    let (project, account, friends) = match loaded.await {
        Ok(loaded) => loaded,
        Err(error) => return service_error_page(v, &error),
    };
    let here = format!("/redeem/{}", ids::project(id));
    let balance = account.balances.energy_grams;
    let left = balance - project.state.price_grams;
    let body = html! {
        p { a href="/redeem" { (v.t("redeem-back")) } }
        h1 { (project.title) }
        section class="card" {
            p class="entry-meta" { (kind_name(v, project.state.kind)) " · " (v.ta("redeem-sponsor", &[("sponsor", FluentValue::from(project.sponsor_name.as_str()))])) }
            (details(v, &project))
            p { strong { (price(v, &project)) } " · " (v.ta("redeem-left", &[("count", FluentValue::from(project.state.available()))])) }
        }
        @if let Some(error) = &error { p class="alert" role="alert" id="redeem-error" { (error) } }
        section class="card" aria-labelledby="confirm-title" {
            h2 id="confirm-title" { (v.t("redeem-confirm-title")) }
            p { (v.ta("redeem-confirm-body", &[("balance", FluentValue::from(balance)), ("left", FluentValue::from(left.max(0)))])) }
            form method="post" action=(here) class="stacked" {
                (v.csrf_field())
                (Field { name: "quantity", kind: "number", label: v.t("redeem-quantity"), hint: Some(v.t("redeem-quantity-hint")),
                         value: "1", error: None, autocomplete: "off" }.render())
                div class="checks" {
                    input type="checkbox" id="show_name" name="show_name" value="1" checked;
                    label for="show_name" { (v.t("redeem-show-name")) }
                }
                p { button type="submit" { (v.t("redeem-confirm")) } }
            }
        }
        @if project.state.kind == ProjectKind::Tree && !friends.is_empty() {
            section class="card" aria-labelledby="together-title" {
                h2 id="together-title" { (v.t("redeem-together-title")) }
                p { (v.t("redeem-together-body")) }
                form method="post" action=(format!("{here}/together")) class="stacked" {
                    (v.csrf_field())
                    fieldset class="field" {
                        legend { (v.t("redeem-together-friends")) }
                        ul class="checks" {
                            @for f in &friends {
                                li {
                                    input type="checkbox" id=(format!("friend-{}", f.person.user_id)) name="friend" value=(ids::user(f.person.user_id));
                                    label for=(format!("friend-{}", f.person.user_id)) { (f.person.display_name) }
                                }
                            }
                        }
                    }
                    button type="submit" { (v.t("redeem-together-go")) }
                }
            }
        }
    };
    page(v, status, &here, &project.title, body)
}

/// A project and the confirmation to redeem it (`GET /redeem/{id}`).
pub async fn confirm(State(web): State<Web>, v: Viewer, Path(id): Path<String>) -> Response {
    let user_id = match citizen(&v) {
        Ok(user_id) => user_id,
        Err(page) => return page,
    };
    match project_id(&v, &id) {
        Ok(id) => confirm_page(&web, &v, user_id, id, None, StatusCode::OK).await,
        Err(page) => page,
    }
}

/// Redeems (`POST /redeem/{id}` {quantity, show_name}): to the redemption's certificate or voucher.
pub async fn redeem(State(web): State<Web>, v: Viewer, Path(id): Path<String>, body: Bytes) -> Response {
    let (user_id, fields) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let id = match project_id(&v, &id) {
        Ok(id) => id,
        Err(page) => return page,
    };
    let Some(quantity) = fields.get("quantity").and_then(|q| q.trim().parse::<i64>().ok()) else {
        return confirm_page(
            &web,
            &v,
            user_id,
            id,
            Some(v.t("redeem-refused-quantity-out-of-bounds")),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let show_name = fields.get("show_name").is_some_and(|s| s == "1");
    match web.service.redeem(user_id, id, quantity, show_name, None).await {
        Ok(done) => match &done.row.certificate {
            Some(number) => see_other(&format!("/certificates/{number}?new=1"), Vec::new()),
            None => see_other(&format!("/redemptions?done={}", ids::redemption(done.row.id)), Vec::new()),
        },
        Err(error) if matches!(error.kind, ErrorKind::Unavailable | ErrorKind::Internal) => {
            service_error_page(&v, &error)
        }
        Err(error) => confirm_page(&web, &v, user_id, id, Some(refusal_message(&v, &error)), status_of(&error)).await,
    }
}

/// Invites friends to plant a tree together, in equal shares (`POST /redeem/{id}/together` {friend…}).
pub async fn plant_together(State(web): State<Web>, v: Viewer, Path(id): Path<String>, body: Bytes) -> Response {
    let (user_id, _) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let id = match project_id(&v, &id) {
        Ok(id) => id,
        Err(page) => return page,
    };
    let invitees: Vec<i64> = values(&body, "friend").iter().filter_map(|f| ids::parse_user(f)).collect();
    let project = match web.service.project(id).await {
        Ok(project) => project,
        Err(error) => return service_error_page(&v, &error),
    };
    if invitees.is_empty() {
        return confirm_page(&web, &v, user_id, id, Some(v.t("redeem-together-choose")), StatusCode::BAD_REQUEST).await;
    }
    // Equal shares; the creator takes what does not divide evenly.
    let people = invitees.len() as i64 + 1;
    let share = project.state.price_grams / people;
    let mut shares: Vec<(i64, i64)> = invitees.iter().map(|f| (*f, share)).collect();
    shares.push((user_id, project.state.price_grams - share * (people - 1)));
    match web.service.open_coplanting(user_id, NewCoplanting { project_id: id, invitees, shares }, None).await {
        Ok(_) => see_other("/redemptions?done=together", Vec::new()),
        Err(error) if matches!(error.kind, ErrorKind::Unavailable | ErrorKind::Internal) => {
            service_error_page(&v, &error)
        }
        Err(error) => confirm_page(&web, &v, user_id, id, Some(refusal_message(&v, &error)), status_of(&error)).await,
    }
}
