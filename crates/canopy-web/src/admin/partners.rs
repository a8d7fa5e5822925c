//! Partners on the dashboard (`/admin/partners`): the list, creating one
//! with its categories and regions, rotating a secret (a new secret is
//! shown once) and suspending one (its secrets stop verifying; a rotation
//! resumes it). Writes need an admin (the service refuses an analyst).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use canopy_core::types::Category;
use canopy_service::{NewPartner, ServiceError};
use maud::{html, Markup};

use super::{page, posted_write, service_error_page, signed, Admin};
use crate::layout::Field;
use crate::Web;

/// The partner pages.
pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/admin/partners", get(list).post(create))
        .route("/admin/partners/{id}/rotate", post(rotate))
        .route("/admin/partners/{id}/suspend", post(suspend))
}

fn field_of(error: &ServiceError) -> Option<&'static str> {
    match error.code {
        "invalid_name" => Some("name"),
        "invalid_scope" | "invalid_categories" => Some("categories"),
        "invalid_region" => Some("regions"),
        _ => None,
    }
}

struct Shown<'a> {
    name: &'a str,
    categories: &'a [String],
    regions: &'a str,
    error: Option<&'a ServiceError>,
    secret: Option<(String, String)>,
    suspended: Option<String>,
}

async fn partners_page(web: &Web, a: &Admin, shown: Shown<'_>, status: StatusCode) -> Response {
    let partners = match web.service.partners().await {
        Ok(partners) => partners,
        Err(e) => return service_error_page(a, &e),
    };
    let error_at = |field: &str| {
        shown.error.filter(|e| field_of(e) == Some(field)).map(|e| a.t(&format!("error-{}", e.code.replace('_', "-"))))
    };
    let general = shown.error.filter(|e| field_of(e).is_none());
    let body: Markup = html! {
        h1 { (a.t("admin-partners-title")) }
        @if let Some((id, secret)) = &shown.secret {
            div class="card secret" role="status" {
                p { (a.ta("admin-partners-secret", &[("id", id.clone().into())])) }
                p { code id="new-secret" { (secret) } }
            }
        }
        @if let Some(id) = &shown.suspended {
            p class="card" role="status" id="suspended" { (a.ta("admin-partners-suspended", &[("id", id.clone().into())])) }
        }
        @if let Some(e) = general {
            p class="alert" role="alert" { (a.t(&format!("error-{}", e.code.replace('_', "-")))) }
        }
        div class="table-wrap" tabindex="0" { table {
            caption { (a.t("admin-partners-list")) }
            thead { tr {
                th scope="col" { (a.t("admin-partners-id")) }
                th scope="col" { (a.t("admin-partners-name")) }
                th scope="col" { (a.t("admin-partners-categories")) }
                th scope="col" { (a.t("admin-partners-regions")) }
                th scope="col" { (a.t("admin-partners-actions")) }
            } }
            tbody {
                @for p in &partners {
                    @let id = canopy_core::ids::partner(p.id);
                    tr {
                        td { code { (id) } }
                        td { (p.name) }
                        td { (p.categories.to_vec().iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")) }
                        td { (p.regions.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ")) }
                        td {
                            form method="post" action=(format!("/admin/partners/{id}/rotate")) class="inline" {
                                (a.csrf_field())
                                button type="submit" { (a.t("admin-partners-rotate")) }
                            }
                            form method="post" action=(format!("/admin/partners/{id}/suspend")) class="inline" {
                                (a.csrf_field())
                                button type="submit" { (a.t("admin-partners-suspend")) }
                            }
                        }
                    }
                }
            }
        } }
        form class="stacked card" method="post" action="/admin/partners" novalidate {
            h2 { (a.t("admin-partners-create")) }
            (a.csrf_field())
            (Field { name: "name", kind: "text", label: a.t("admin-partners-name"), hint: None, value: shown.name,
                     error: error_at("name"), autocomplete: "off" }.render())
            fieldset class=(if error_at("categories").is_some() { "field invalid" } else { "field" }) {
                legend { (a.t("admin-partners-categories")) }
                @if let Some(e) = error_at("categories") { p class="error" { (e) } }
                @for c in Category::ALL {
                    label class="check" {
                        input type="checkbox" name="categories" value=(c.as_str())
                            checked[shown.categories.iter().any(|s| s == c.as_str())];
                        " " (a.t(&format!("category-{}", c.as_str().replace('_', "-"))))
                    }
                }
            }
            (Field { name: "regions", kind: "text", label: a.t("admin-partners-regions"),
                     hint: Some(a.t("admin-partners-regions-hint")), value: shown.regions, error: error_at("regions"),
                     autocomplete: "off" }.render())
            button type="submit" { (a.t("admin-partners-create-submit")) }
        }
    };
    page(a, status, "/admin/partners", &a.t("admin-partners-title"), body)
}

/// The partners (`GET /admin/partners`).
pub async fn list(State(web): State<Web>, a: Admin) -> Response {
    if let Err(to_login) = signed(&a) {
        return to_login;
    }
    let shown = Shown { name: "", categories: &[], regions: "", error: None, secret: None, suspended: None };
    partners_page(&web, &a, shown, StatusCode::OK).await
}

/// Creates a partner (`POST /admin/partners` {name, categories…, regions}); its secret is shown once.
pub async fn create(State(web): State<Web>, a: Admin, body: Bytes) -> Response {
    let (_, fields) = match posted_write(&web, &a, &body) {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let name = fields.get("name").cloned().unwrap_or_default();
    let categories = crate::forms::values(&body, "categories");
    let regions_text = fields.get("regions").cloned().unwrap_or_default();
    let regions: Vec<String> =
        regions_text.split([',', ' ']).map(|r| r.trim().to_ascii_uppercase()).filter(|r| !r.is_empty()).collect();
    let created =
        web.service.create_partner(NewPartner { name: name.clone(), categories: categories.clone(), regions }).await;
    match created {
        Ok(created) => {
            let id = canopy_core::ids::partner(created.partner.id);
            let secret = Some((id, created.secret.expose().to_owned()));
            let shown = Shown { name: "", categories: &[], regions: "", error: None, secret, suspended: None };
            partners_page(&web, &a, shown, StatusCode::CREATED).await
        }
        Err(error) => {
            let status = crate::forms::status_of(&error);
            let shown = Shown {
                name: &name,
                categories: &categories,
                regions: &regions_text,
                error: Some(&error),
                secret: None,
                suspended: None,
            };
            partners_page(&web, &a, shown, status).await
        }
    }
}

/// Issues a partner a new secret (`POST /admin/partners/{id}/rotate`), shown once.
pub async fn rotate(State(web): State<Web>, a: Admin, Path(id): Path<String>, body: Bytes) -> Response {
    if let Err(refused) = posted_write(&web, &a, &body) {
        return refused;
    }
    match web.service.rotate_partner_secret(&id).await {
        Ok((_, secret)) => {
            let shown = Shown {
                name: "",
                categories: &[],
                regions: "",
                error: None,
                secret: Some((id, secret.expose().to_owned())),
                suspended: None,
            };
            partners_page(&web, &a, shown, StatusCode::OK).await
        }
        Err(error) => service_error_page(&a, &error),
    }
}

/// Suspends a partner (`POST /admin/partners/{id}/suspend`): its secrets stop
/// verifying at once; rotating a secret resumes it.
pub async fn suspend(State(web): State<Web>, a: Admin, Path(id): Path<String>, body: Bytes) -> Response {
    if let Err(refused) = posted_write(&web, &a, &body) {
        return refused;
    }
    match web.service.suspend_partner(&id).await {
        Ok(_) => {
            let shown =
                Shown { name: "", categories: &[], regions: "", error: None, secret: None, suspended: Some(id) };
            partners_page(&web, &a, shown, StatusCode::OK).await
        }
        Err(error) => service_error_page(&a, &error),
    }
}
