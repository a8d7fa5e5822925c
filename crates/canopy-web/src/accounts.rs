//! Signing up, in and out, and choosing the language: forms that post to
//! the same paths, call the service (as the API does) and show each error
//! next to its field.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use canopy_service::{ErrorKind, NewAccount, ServiceError};
use maud::{html, Markup};

use crate::forms::{form, local_path};
use crate::i18n::Lang;
use crate::layout::{page, see_other, Field};
use crate::session::{Viewer, CSRF_FIELD, LANG_COOKIE, SESSION_COOKIE};
use crate::Web;

/// Signing up, in and out, and the language.
pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/signup", get(signup_form).post(signup))
        .route("/logout", get(logout_form).post(logout))
        .route("/lang", post(choose_language))
}

/// The message id for a service error's code, and the field it belongs to.
fn error_message(error: &ServiceError) -> (&'static str, Option<&'static str>) {
    match error.code {
        "invalid_credentials" => ("error-invalid-credentials", None),
        "username_taken" => ("error-username-taken", Some("username")),
        "invalid_username" => ("error-invalid-username", Some("username")),
        "weak_password" => ("error-weak-password", Some("password")),
        "invalid_display_name" => ("error-invalid-display-name", Some("display_name")),
        "invalid_region" => ("error-invalid-region", Some("region")),
        "invalid_district" => ("error-invalid-district", Some("district")),
        _ if error.kind == ErrorKind::RateLimited => ("error-rate-limited", None),
        _ => ("error-unavailable", None),
    }
}

/// A form that failed: the form-level message, or the one field's.
struct Failure {
    message: String,
    field: Option<&'static str>,
}

impl Failure {
    fn of(v: &Viewer, error: &ServiceError) -> Failure {
        let (id, field) = error_message(error);
        Failure { message: v.t(id), field }
    }

    fn csrf(v: &Viewer) -> Failure {
        Failure { message: v.t("error-csrf"), field: None }
    }

    fn at(&self, field: &str) -> Option<String> {
        (self.field == Some(field)).then(|| self.message.clone())
    }

    fn general(&self) -> Option<&str> {
        self.field.is_none().then_some(self.message.as_str())
    }
}

fn status_of(failure: Option<&Failure>, error: Option<&ServiceError>) -> StatusCode {
    match (failure, error) {
        (None, _) => StatusCode::OK,
        (Some(_), Some(e)) if e.kind == ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        (Some(_), Some(e)) if e.kind == ErrorKind::Conflict => StatusCode::CONFLICT,
        (Some(_), Some(e)) if e.kind == ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        (Some(_), Some(e)) if e.kind == ErrorKind::Unavailable || e.kind == ErrorKind::Internal => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        (Some(_), _) => StatusCode::BAD_REQUEST,
    }
}

fn general(failure: Option<&Failure>) -> Markup {
    html! {
        @if let Some(message) = failure.and_then(Failure::general) {
            p class="alert" role="alert" { (message) }
        }
    }
}

fn login_page(v: &Viewer, username: &str, failure: Option<&Failure>, status: StatusCode) -> Response {
    let body = html! {
        h1 { (v.t("login-title")) }
        (general(failure))
        form class="stacked card" method="post" action="/login" novalidate {
            (v.csrf_field())
            (Field { name: "username", kind: "text", label: v.t("login-username"), hint: None, value: username,
                     error: failure.and_then(|f| f.at("username")), autocomplete: "username" }.render())
            (Field { name: "password", kind: "password", label: v.t("login-password"), hint: None, value: "",
                     error: failure.and_then(|f| f.at("password")), autocomplete: "current-password" }.render())
            button type="submit" { (v.t("login-submit")) }
        }
        p { (v.t("login-no-account")) " " a href="/signup" { (v.t("nav-signup")) } }
    };
    page(v, status, "/login", &v.t("login-title"), body)
}

/// The sign-in form (`GET /login`); a signed-in citizen goes home.
pub async fn login_form(v: Viewer) -> Response {
    if v.user.is_some() {
        return see_other("/", Vec::new());
    }
    login_page(&v, "", None, StatusCode::OK)
}

/// Signs in (`POST /login`): a session cookie and home, or the form again with the error.
pub async fn login(State(web): State<Web>, v: Viewer, body: Bytes) -> Response {
    let fields = form(&body);
    let username = fields.get("username").cloned().unwrap_or_default();
    if !v.form_is_genuine(fields.get(CSRF_FIELD).map(String::as_str)) {
        return login_page(&v, &username, Some(&Failure::csrf(&v)), StatusCode::FORBIDDEN);
    }
    let password = fields.get("password").cloned().unwrap_or_default();
    let signed_in = web.service.sign_in(&username, password).await;
    home_or_again(&web, &v, signed_in, |failure, status| login_page(&v, &username, Some(failure), status))
}

/// Home with the new session's cookie, or the form `again` with what failed.
fn home_or_again(
    web: &Web,
    v: &Viewer,
    signed_in: Result<canopy_service::Session, ServiceError>,
    again: impl FnOnce(&Failure, StatusCode) -> Response,
) -> Response {
    match signed_in {
        Ok(session) => {
            let max_age = (session.expires_at - web.service.now()).num_seconds().max(0);
            see_other("/", vec![v.cookie(SESSION_COOKIE, &session.token, max_age)])
        }
        Err(error) => {
            let failure = Failure::of(v, &error);
            again(&failure, status_of(Some(&failure), Some(&error)))
        }
    }
}

struct SignupValues<'a> {
    username: &'a str,
    display_name: &'a str,
    region: &'a str,
    district: &'a str,
}

fn signup_page(v: &Viewer, values: &SignupValues<'_>, failure: Option<&Failure>, status: StatusCode) -> Response {
    let error = |field: &str| failure.and_then(|f| f.at(field));
    let body = html! {
        h1 { (v.t("signup-title")) }
        (general(failure))
        form class="stacked card" method="post" action="/signup" novalidate {
            (v.csrf_field())
            (Field { name: "username", kind: "text", label: v.t("signup-username"),
                     hint: Some(v.t("signup-username-hint")), value: values.username, error: error("username"),
                     autocomplete: "username" }.render())
            (Field { name: "password", kind: "password", label: v.t("signup-password"),
                     hint: Some(v.t("signup-password-hint")), value: "", error: error("password"),
                     autocomplete: "new-password" }.render())
            (Field { name: "display_name", kind: "text", label: v.t("signup-display-name"), hint: None,
                     value: values.display_name, error: error("display_name"), autocomplete: "nickname" }.render())
            (Field { name: "region", kind: "text", label: v.t("signup-region"), hint: Some(v.t("signup-region-hint")),
                     value: values.region, error: error("region"), autocomplete: "off" }.render())
            (Field { name: "district", kind: "text", label: v.t("signup-district"),
                     hint: Some(v.t("signup-district-hint")), value: values.district, error: error("district"),
                     autocomplete: "off" }.render_optional())
            button type="submit" { (v.t("signup-submit")) }
        }
        p { (v.t("signup-have-account")) " " a href="/login" { (v.t("nav-login")) } }
    };
    page(v, status, "/signup", &v.t("signup-title"), body)
}

/// The sign-up form (`GET /signup`).
pub async fn signup_form(v: Viewer) -> Response {
    if v.user.is_some() {
        return see_other("/", Vec::new());
    }
    signup_page(&v, &SignupValues { username: "", display_name: "", region: "", district: "" }, None, StatusCode::OK)
}

/// Opens an account and signs in (`POST /signup`).
pub async fn signup(State(web): State<Web>, v: Viewer, body: Bytes) -> Response {
    let fields = form(&body);
    let get = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let (username, display_name, region, district) =
        (get("username"), get("display_name"), get("region"), get("district"));
    let values =
        SignupValues { username: &username, display_name: &display_name, region: &region, district: &district };
    if !v.form_is_genuine(fields.get(CSRF_FIELD).map(String::as_str)) {
        return signup_page(&v, &values, Some(&Failure::csrf(&v)), StatusCode::FORBIDDEN);
    }
    let account = NewAccount {
        username: username.clone(),
        password: get("password"),
        display_name: display_name.clone(),
        region: region.trim().to_ascii_uppercase(),
        district: optional(&district),
    };
    let password = account.password.clone();
    let signed_in = match web.service.register(account).await {
        Ok(_) => web.service.sign_in(&username, password).await,
        Err(error) => Err(error),
    };
    home_or_again(&web, &v, signed_in, |failure, status| signup_page(&v, &values, Some(failure), status))
}

/// A text field left empty is no value; otherwise it is trimmed.
pub(crate) fn optional(field: &str) -> Option<String> {
    Some(field.trim()).filter(|f| !f.is_empty()).map(str::to_owned)
}

/// The sign-out page (`GET /logout`): a button, since signing out changes state.
pub async fn logout_form(v: Viewer) -> Response {
    if v.user.is_none() {
        return see_other("/", Vec::new());
    }
    let body = html! {
        h1 { (v.t("logout-title")) }
        form class="card" method="post" action="/logout" {
            (v.csrf_field())
            p { (v.t("logout-body")) }
            button type="submit" { (v.t("logout-submit")) }
        }
    };
    page(&v, StatusCode::OK, "/logout", &v.t("logout-title"), body)
}

/// Signs out (`POST /logout`): the session ends and its cookie goes.
pub async fn logout(State(web): State<Web>, v: Viewer, body: Bytes) -> Response {
    let fields = form(&body);
    if !v.form_is_genuine(fields.get(CSRF_FIELD).map(String::as_str)) {
        return logout_form(v).await;
    }
    if let Some(user) = &v.user {
        if let Err(error) = web.service.sign_out(&user.token).await {
            tracing::warn!(%error.detail, "signing out failed");
        }
    }
    see_other("/", vec![v.cookie(SESSION_COOKIE, "", 0)])
}

/// Chooses the language (`POST /lang` {lang, back}) and goes back.
pub async fn choose_language(v: Viewer, body: Bytes) -> Response {
    let fields = form(&body);
    let back = local_path(fields.get("back"));
    let chosen = fields.get("lang").and_then(|l| Lang::from_tag(l));
    match chosen {
        Some(lang) if v.form_is_genuine(fields.get(CSRF_FIELD).map(String::as_str)) => {
            see_other(&back, vec![v.cookie(LANG_COOKIE, lang.tag(), 365 * 24 * 3600)])
        }
        _ => see_other(&back, Vec::new()),
    }
}
