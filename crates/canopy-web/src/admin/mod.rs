//! The operator's dashboard under `/admin`: its own sign-in (an operator
//! account, or the admin token) and session cookie, its own header
//! navigation, and its own form token derived from the operator's session.
//! Pages call the service; the role check (an analyst only reads) is the
//! service's.
//!
//! Modules: `auth` (sign in and out), `figures` (the city's figures, as
//! charts, tables and CSV), `partners` (list, create, rotate a secret,
//! suspend), `methodologies` (list, view, publish with each error at its
//! line, supersede), `sponsors` (the list, registering one), `catalogue`
//! (pools, projects, campaigns and challenges on one page, each section
//! with its forms in `pools` (create, fund), `projects` (create, change
//! status), `campaigns` (create, record a retirement) and `challenges`
//! (create)), `programs` (energy programs and events: create both, settle
//! an event now; an event's settlement report). `form` holds what the write
//! forms share: a refusal placed at its field, the typed values kept.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use canopy_service::{Operator, ServiceError};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::i18n::Lang;
use crate::layout::{secure_headers, see_other};
use crate::session::{constant_time_eq, cookie, keyed_csrf, Viewer, CSRF_FIELD};
use crate::Web;

pub mod auth;
pub mod campaigns;
pub mod catalogue;
pub mod challenges;
pub mod figures;
pub(crate) mod form;
pub mod methodologies;
pub mod partners;
pub mod pools;
pub mod programs;
pub mod projects;
pub mod sponsors;

/// The operator's session cookie (its own token, never the admin token).
pub const OPERATOR_COOKIE: &str = "canopy_operator";

/// The dashboard's pages in its header, in order: (path, message id).
const ADMIN_PAGES: &[(&str, &str)] = &[
    ("/admin", "admin-nav-figures"),
    ("/admin/partners", "admin-nav-partners"),
    ("/admin/methodologies", "admin-nav-methodologies"),
    ("/admin/sponsors", "admin-nav-sponsors"),
    ("/admin/catalogue", "admin-nav-catalogue"),
    ("/admin/programs", "admin-nav-programs"),
];

/// The dashboard's routes.
pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .merge(auth::routes())
        .merge(figures::routes())
        .merge(partners::routes())
        .merge(methodologies::routes())
        .merge(sponsors::routes())
        .merge(catalogue::routes())
        .merge(pools::routes())
        .merge(projects::routes())
        .merge(campaigns::routes())
        .merge(challenges::routes())
        .merge(programs::routes())
}

/// A signed-in operator and its session token.
#[derive(Debug, Clone)]
pub struct SignedOperator {
    /// Who, and what it may do.
    pub operator: Operator,
    /// The operator session's token.
    pub token: String,
}

/// Who looks at a dashboard page: the viewer (language, the visitor's form
/// token for the language switch), the operator when signed in, and the
/// form token the dashboard's forms carry.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The viewer as every page sees it.
    pub v: Viewer,
    /// The operator, when signed in.
    pub operator: Option<SignedOperator>,
    /// The dashboard forms' token: derived from the operator's session, or
    /// the visitor's on the sign-in page.
    pub csrf: String,
}

impl FromRequestParts<Web> for Admin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        let v = Viewer::from_request_parts(parts, web).await?;
        let mut operator = None;
        if let Some(token) = cookie(&parts.headers, OPERATOR_COOKIE).filter(|t| !t.is_empty() && t.len() <= 128) {
            if let Ok(signed) = web.service.operator_session(token).await {
                operator = Some(SignedOperator { operator: signed, token: token.to_owned() });
            }
        }
        let csrf = match &operator {
            Some(signed) => keyed_csrf(&signed.token, b"canopy admin form"),
            None => v.csrf.clone(),
        };
        Ok(Admin { v, operator, csrf })
    }
}

impl Admin {
    /// Message `id` in the viewer's language.
    pub fn t(&self, id: &str) -> String {
        self.v.t(id)
    }

    /// Message `id` with arguments.
    pub fn ta(&self, id: &str, args: &[(&str, fluent_bundle::FluentValue<'_>)]) -> String {
        self.v.ta(id, args)
    }

    /// The hidden form-token field of the dashboard's forms.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name=(CSRF_FIELD) value=(self.csrf); }
    }

    /// Whether a dashboard form's token is genuine.
    pub fn form_is_genuine(&self, sent: Option<&str>) -> bool {
        if self.operator.is_none() {
            return self.v.form_is_genuine(sent);
        }
        sent.is_some_and(|sent| constant_time_eq(sent, &self.csrf))
    }
}

/// The signed-in operator, or the dashboard's sign-in page.
pub(crate) fn signed(a: &Admin) -> Result<&SignedOperator, Response> {
    a.operator.as_ref().ok_or_else(|| see_other("/admin/login", Vec::new()))
}

/// A signed-in operator's posted form, its token checked, from an operator
/// the service lets write: (operator, fields); else the sign-in page, 403
/// for a forged form, or 403 `operator_read_only` for an analyst.
pub(crate) fn posted_write(
    web: &Web,
    a: &Admin,
    body: &[u8],
) -> Result<(SignedOperator, HashMap<String, String>), Response> {
    writable(web, a, crate::forms::form(body))
}

/// [`posted_write`] for a form already read (a multipart form's fields).
pub(crate) fn writable(
    web: &Web,
    a: &Admin,
    fields: HashMap<String, String>,
) -> Result<(SignedOperator, HashMap<String, String>), Response> {
    let signed = signed(a)?.clone();
    if !a.form_is_genuine(fields.get(CSRF_FIELD).map(String::as_str)) {
        return Err(error_page(a, StatusCode::FORBIDDEN, "error-csrf"));
    }
    web.service.operator_may_write(&signed.operator).map_err(|e| service_error_page(a, &e))?;
    Ok((signed, fields))
}

/// A dashboard page that says what went wrong (message `id`).
pub(crate) fn error_page(a: &Admin, status: StatusCode, id: &str) -> Response {
    let body = html! {
        h1 { (a.t("error-title")) }
        p class="alert" role="alert" { (a.t(id)) }
        p { a href="/admin" { (a.t("admin-nav-figures")) } }
    };
    page(a, status, "/admin", &a.t("error-title"), body)
}

/// A dashboard page for a service error: its own message when the
/// catalogue has one (`error-<code>`), else what its kind means.
pub(crate) fn service_error_page(a: &Admin, error: &ServiceError) -> Response {
    let id = format!("error-{}", error.code.replace('_', "-"));
    let id = if crate::i18n::has_message(&id) { id } else { "error-refused".to_owned() };
    error_page(a, crate::forms::status_of(error), &id)
}

fn nav(a: &Admin, here: &str) -> Markup {
    html! {
        nav aria-label=(a.t("admin-nav-main")) {
            ul {
                @if let Some(signed) = &a.operator {
                    @for (path, id) in ADMIN_PAGES {
                        li { a href=(path) aria-current=[(*path == here).then_some("page")] { (a.t(id)) } }
                    }
                    li class="who" {
                        (signed.operator.username.clone().unwrap_or_else(|| a.t("admin-token-operator")))
                        " (" (a.t(&format!("admin-role-{}", signed.operator.role.as_str()))) ")"
                    }
                    li {
                        form method="post" action="/admin/logout" class="inline" {
                            (a.csrf_field())
                            button type="submit" class="link" { (a.t("nav-logout")) }
                        }
                    }
                } @else {
                    li { a href="/admin/login" { (a.t("nav-login")) } }
                }
            }
        }
    }
}

fn language_switch(a: &Admin, here: &str) -> Markup {
    // `/lang` is the citizen app's: it takes the viewer's own form token.
    html! {
        form method="post" action="/lang" class="lang" {
            (a.v.csrf_field())
            input type="hidden" name="back" value=(here);
            label for="lang-choice" { (a.t("lang-switch")) }
            select id="lang-choice" name="lang" {
                @for lang in Lang::ALL {
                    option value=(lang.tag()) selected[lang == a.v.lang] { (a.t(&format!("lang-name-{}", lang.tag()))) }
                }
            }
            button type="submit" { (a.t("lang-switch-go")) }
        }
    }
}

/// A whole dashboard page: `title` over `main`, at `here`.
pub(crate) fn page(a: &Admin, status: StatusCode, here: &str, title: &str, main: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang=(a.v.lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (a.t("admin-app-name")) }
                link rel="stylesheet" href=(crate::assets::STYLESHEET_PATH);
            }
            body {
                a class="skip" href="#content" { (a.t("skip-to-content")) }
                header class="top admin" {
                    a class="brand" href="/admin" { (PreEscaped("&#127795; ")) (a.t("admin-app-name")) }
                    (nav(a, here))
                }
                main id="content" { (main) }
                footer { (language_switch(a, here)) }
            }
        }
    };
    let mut response =
        (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response();
    secure_headers(&mut response);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in a.v.cookies() {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}
