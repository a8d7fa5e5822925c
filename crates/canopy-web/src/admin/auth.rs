//! The dashboard's sign-in (`/admin/login`: an operator's username and
//! password, or the admin token) and sign-out (`/admin/logout`). The
//! session cookie holds a fresh operator session token, never the admin
//! token.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use canopy_service::{ErrorKind, ServiceError};
use maud::html;

use super::{page, Admin, OPERATOR_COOKIE};
use crate::forms::{form, status_of};
use crate::layout::{see_other, Field};
use crate::session::CSRF_FIELD;
use crate::Web;

/// Signing in and out.
pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/admin/login", get(login_form).post(login))
        .route("/admin/logout", get(logout_form).post(logout))
}

fn message_of(error: &ServiceError) -> &'static str {
    match error.code {
        "invalid_credentials" => "admin-error-credentials",
        _ if error.kind == ErrorKind::RateLimited => "error-rate-limited",
        _ => "error-unavailable",
    }
}

fn login_page(a: &Admin, username: &str, failure: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        h1 { (a.t("admin-login-title")) }
        @if let Some(message) = failure { p class="alert" role="alert" { (message) } }
        form class="stacked card" method="post" action="/admin/login" novalidate {
            h2 { (a.t("admin-login-account")) }
            (a.csrf_field())
            (Field { name: "username", kind: "text", label: a.t("login-username"), hint: None, value: username,
                     error: None, autocomplete: "username" }.render())
            (Field { name: "password", kind: "password", label: a.t("login-password"), hint: None, value: "",
                     error: None, autocomplete: "current-password" }.render())
            button type="submit" { (a.t("login-submit")) }
        }
        form class="stacked card" method="post" action="/admin/login" novalidate {
            h2 { (a.t("admin-login-token")) }
            (a.csrf_field())
            (Field { name: "token", kind: "password", label: a.t("admin-login-token-label"),
                     hint: Some(a.t("admin-login-token-hint")), value: "", error: None, autocomplete: "off" }.render())
            button type="submit" { (a.t("login-submit")) }
        }
    };
    page(a, status, "/admin/login", &a.t("admin-login-title"), body)
}

/// The sign-in page (`GET /admin/login`); a signed-in operator goes to the dashboard.
pub async fn login_form(a: Admin) -> Response {
    if a.operator.is_some() {
        return see_other("/admin", Vec::new());
    }
    login_page(&a, "", None, StatusCode::OK)
}

/// Signs in (`POST /admin/login` {username, password} or {token}).
pub async fn login(State(web): State<Web>, a: Admin, body: Bytes) -> Response {
    let fields = form(&body);
    let username = fields.get("username").cloned().unwrap_or_default();
    if !a.v.form_is_genuine(fields.get(CSRF_FIELD).map(String::as_str)) {
        return login_page(&a, &username, Some(&a.t("error-csrf")), StatusCode::FORBIDDEN);
    }
    let signed_in = match fields.get("token").filter(|t| !t.is_empty()) {
        Some(token) => web.service.operator_token_sign_in(token, web.admin_token.as_deref()).await,
        None => {
            let password = fields.get("password").cloned().unwrap_or_default();
            web.service.operator_sign_in(&username, password).await
        }
    };
    match signed_in {
        Ok(session) => {
            let max_age = (session.expires_at - web.service.now()).num_seconds().max(0);
            see_other("/admin", vec![a.v.cookie(OPERATOR_COOKIE, &session.token, max_age)])
        }
        Err(error) => login_page(&a, &username, Some(&a.t(message_of(&error))), status_of(&error)),
    }
}

/// The sign-out page (`GET /admin/logout`).
pub async fn logout_form(a: Admin) -> Response {
    if a.operator.is_none() {
        return see_other("/admin/login", Vec::new());
    }
    let body = html! {
        h1 { (a.t("admin-logout-title")) }
        form class="card" method="post" action="/admin/logout" {
            (a.csrf_field())
            button type="submit" { (a.t("nav-logout")) }
        }
    };
    page(&a, StatusCode::OK, "/admin/logout", &a.t("admin-logout-title"), body)
}

/// Signs out (`POST /admin/logout`): the operator session ends, its cookie goes.
pub async fn logout(State(web): State<Web>, a: Admin, body: Bytes) -> Response {
    let fields = form(&body);
    if !a.form_is_genuine(fields.get(CSRF_FIELD).map(String::as_str)) {
        return logout_form(a).await;
    }
    if let Some(signed) = &a.operator {
        if let Err(error) = web.service.operator_sign_out(&signed.token).await {
            tracing::warn!(%error.detail, "signing out failed");
        }
    }
    see_other("/admin/login", vec![a.v.cookie(OPERATOR_COOKIE, "", 0)])
}
