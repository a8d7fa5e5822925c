//! Connected apps (`/connections`): the partners the citizen has given
//! access to, with their scopes and whether the partner has linked its
//! account; the grant flow, which shows the link code to give the
//! partner's app; and revoking.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use canopy_core::ids;
use canopy_core::types::{Category, CategorySet};
use canopy_service::ServiceError;
use chrono::{DateTime, Utc};
use fluent_bundle::FluentValue;
use maud::{html, Markup};

use crate::forms::{citizen, posted, service_error_page, values};
use crate::history::category_name;
use crate::layout::{page, see_other};
use crate::session::Viewer;
use crate::Web;

/// The connected apps and the grant flow.
pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/connections", get(connections).post(grant))
        .route("/connections/{partner}/revoke", post(revoke))
}

fn local(web: &Web, at: DateTime<Utc>) -> String {
    at.with_timezone(&web.service.settings().timezone).format("%Y-%m-%d %H:%M").to_string()
}

fn scopes_text(v: &Viewer, scopes: CategorySet) -> String {
    scopes.to_vec().into_iter().map(|c| category_name(v, c)).collect::<Vec<_>>().join(v.t("list-separator").as_str())
}

/// The grant form: a partner and the categories it may report.
async fn grant_form(web: &Web, v: &Viewer, error: Option<&str>) -> Result<Markup, ServiceError> {
    let partners = web.service.partners().await?;
    Ok(html! {
        section class="card" aria-labelledby="connect-title" {
            h2 id="connect-title" { (v.t("connections-connect")) }
            p { (v.t("connections-connect-body")) }
            @if let Some(error) = error { p class="alert" role="alert" id="grant-error" { (error) } }
            form method="post" action="/connections" class="stacked" {
                (v.csrf_field())
                div class="field" {
                    label for="partner" { (v.t("connections-partner")) }
                    select id="partner" name="partner" required {
                        @for p in &partners {
                            option value=(ids::partner(p.id)) { (p.name) " — " (scopes_text(v, p.categories)) }
                        }
                    }
                }
                fieldset class="field" {
                    legend { (v.t("connections-scopes")) }
                    p class="hint" { (v.t("connections-scopes-hint")) }
                    ul class="checks" {
                        @for c in Category::ALL {
                            li {
                                input type="checkbox" id=(format!("scope-{}", c.as_str())) name="scope" value=(c.as_str());
                                label for=(format!("scope-{}", c.as_str())) { (category_name(v, c)) }
                            }
                        }
                    }
                }
                button type="submit" { (v.t("connections-grant")) }
            }
        }
    })
}

async fn connections_page(
    web: &Web,
    v: &Viewer,
    user_id: i64,
    extra: Option<Markup>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let consents = match web.service.consents(user_id).await {
        Ok(consents) => consents,
        Err(error) => return service_error_page(v, &error),
    };
    let form = match grant_form(web, v, error).await {
        Ok(form) => form,
        Err(error) => return service_error_page(v, &error),
    };
    let active: Vec<_> = consents.iter().filter(|c| c.revoked_at.is_none()).collect();
    let revoked: Vec<_> = consents.iter().filter(|c| c.revoked_at.is_some()).collect();
    let body = html! {
        h1 { (v.t("connections-title")) }
        @if let Some(extra) = extra { (extra) }
        section class="card" aria-labelledby="active-title" {
            h2 id="active-title" { (v.t("connections-active")) }
            @if active.is_empty() {
                p { (v.t("connections-none")) }
            } @else {
                ul class="rows" {
                    @for c in &active {
                        li class="row" {
                            div {
                                strong { (c.partner_name) }
                                p class="entry-meta" { (v.ta("connections-may-report", &[("scopes", FluentValue::from(scopes_text(v, c.scopes)))])) }
                                p class="entry-meta" {
                                    (v.ta("connections-granted", &[("when", FluentValue::from(local(web, c.granted_at)))]))
                                    " · "
                                    @if c.linked { (v.t("connections-linked")) } @else { (v.t("connections-waiting")) }
                                }
                            }
                            form method="post" action=(format!("/connections/{}/revoke", ids::partner(c.partner_id))) {
                                (v.csrf_field())
                                button type="submit" class="secondary"
                                    aria-label=(v.ta("connections-revoke-named", &[("partner", FluentValue::from(c.partner_name.as_str()))])) {
                                    (v.t("connections-revoke"))
                                }
                            }
                        }
                    }
                }
            }
        }
        (form)
        @if !revoked.is_empty() {
            section class="card" aria-labelledby="revoked-title" {
                h2 id="revoked-title" { (v.t("connections-revoked")) }
                ul class="rows" {
                    @for c in &revoked {
                        li class="row" {
                            span { (c.partner_name) }
                            span class="entry-meta" {
                                (v.ta("connections-revoked-at", &[("when", FluentValue::from(local(web, c.revoked_at.unwrap_or(c.granted_at))))]))
                            }
                        }
                    }
                }
            }
        }
    };
    page(v, status, "/connections", &v.t("connections-title"), body)
}

/// The connected apps (`GET /connections`).
pub async fn connections(State(web): State<Web>, v: Viewer, query: axum::extract::RawQuery) -> Response {
    let user_id = match citizen(&v) {
        Ok(user_id) => user_id,
        Err(page) => return page,
    };
    let notice = (query.0.as_deref() == Some("revoked=1"))
        .then(|| html! { p class="notice" role="status" { (v.t("connections-revoked-notice")) } });
    connections_page(&web, &v, user_id, notice, None, StatusCode::OK).await
}

/// Grants a partner access and shows the link code (`POST /connections`).
pub async fn grant(State(web): State<Web>, v: Viewer, body: Bytes) -> Response {
    let (user_id, fields) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let partner = fields.get("partner").cloned().unwrap_or_default();
    let scopes = values(&body, "scope");
    if scopes.is_empty() {
        let error = v.t("connections-choose-scope");
        return connections_page(&web, &v, user_id, None, Some(&error), StatusCode::BAD_REQUEST).await;
    }
    match web.service.grant_consent(user_id, &partner, &scopes).await {
        Ok(grant) => {
            let name =
                web.service.partner_by_public_id(&partner).await.ok().flatten().map(|p| p.name).unwrap_or_default();
            let code = html! {
                section class="card code-card" aria-labelledby="code-title" role="status" {
                    h2 id="code-title" { (v.ta("connections-code-title", &[("partner", FluentValue::from(name.as_str()))])) }
                    p class="link-code" id="link-code" { (grant.link_code) }
                    p { (v.ta("connections-code-body", &[("partner", FluentValue::from(name.as_str())),
                                                         ("when", FluentValue::from(local(&web, grant.expires_at)))])) }
                }
            };
            connections_page(&web, &v, user_id, Some(code), None, StatusCode::CREATED).await
        }
        Err(error)
            if error.kind == canopy_service::ErrorKind::Unavailable
                || error.kind == canopy_service::ErrorKind::Internal =>
        {
            service_error_page(&v, &error)
        }
        Err(error) => {
            let message = match error.code {
                "scope_not_reportable" => v.t("connections-not-reportable"),
                "partner_not_found" => v.t("connections-unknown-partner"),
                _ => v.t("error-refused"),
            };
            let status = crate::forms::status_of(&error);
            connections_page(&web, &v, user_id, None, Some(&message), status).await
        }
    }
}

/// Revokes a partner's access (`POST /connections/{partner}/revoke`).
pub async fn revoke(State(web): State<Web>, v: Viewer, Path(partner): Path<String>, body: Bytes) -> Response {
    let (user_id, _) = match posted(&v, &body) {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    match web.service.revoke_consent(user_id, &partner).await {
        Ok(()) => see_other("/connections?revoked=1", Vec::new()),
        Err(error) => service_error_page(&v, &error),
    }
}
