//! The page shell every page shares: the document head, the header with the
//! navigation for a visitor or a citizen, the language switch, and the
//! security headers (a strict Content-Security-Policy: the app's own
//! stylesheet, no inline script or style).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fluent_bundle::FluentValue;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::i18n::{message, Lang};
use crate::session::{Viewer, CSRF_FIELD};

/// The Content-Security-Policy of every page.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

impl Viewer {
    /// Message `id` in the viewer's language.
    pub fn t(&self, id: &str) -> String {
        message(self.lang, id, &[])
    }

    /// Message `id` with arguments.
    pub fn ta(&self, id: &str, args: &[(&str, FluentValue<'_>)]) -> String {
        message(self.lang, id, args)
    }

    /// The hidden form-token field every form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name=(CSRF_FIELD) value=(self.csrf); }
    }
}

/// The security headers of every HTML answer.
pub fn secure_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// The citizen's pages in the header, in order: (path, message id).
const CITIZEN_PAGES: &[(&str, &str)] = &[
    ("/", "nav-forest"),
    ("/history", "nav-history"),
    ("/friends", "nav-friends"),
    ("/redeem", "nav-redeem"),
    ("/medals", "nav-medals"),
    ("/energy", "nav-energy"),
    ("/connections", "nav-connections"),
    ("/settings", "nav-settings"),
];

fn nav(v: &Viewer, here: &str) -> Markup {
    html! {
        nav aria-label=(v.t("nav-main")) {
            ul {
                @if v.user.is_some() {
                    @for (path, id) in CITIZEN_PAGES {
                        li { a href=(path) aria-current=[(*path == here).then_some("page")] { (v.t(id)) } }
                    }
                    li {
                        form method="post" action="/logout" class="inline" {
                            (v.csrf_field())
                            button type="submit" class="link" { (v.t("nav-logout")) }
                        }
                    }
                } @else {
                    li { a href="/docs" { (v.t("nav-docs")) } }
                    li { a href="/login" { (v.t("nav-login")) } }
                    li { a href="/signup" { (v.t("nav-signup")) } }
                }
            }
        }
    }
}

fn language_switch(v: &Viewer, here: &str) -> Markup {
    html! {
        form method="post" action="/lang" class="lang" {
            (v.csrf_field())
            input type="hidden" name="back" value=(here);
            label for="lang-choice" { (v.t("lang-switch")) }
            select id="lang-choice" name="lang" {
                @for lang in Lang::ALL {
                    option value=(lang.tag()) selected[lang == v.lang] { (v.t(&format!("lang-name-{}", lang.tag()))) }
                }
            }
            button type="submit" { (v.t("lang-switch-go")) }
        }
    }
}

/// A whole page: `title` (already in the viewer's language) over `main`, at `here`.
pub fn page(v: &Viewer, status: StatusCode, here: &str, title: &str, main: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang=(v.lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (v.t("app-name")) }
                link rel="stylesheet" href=(crate::assets::STYLESHEET_PATH);
            }
            body {
                a class="skip" href="#content" { (v.t("skip-to-content")) }
                header class="top" {
                    a class="brand" href="/" { (PreEscaped("&#127795; ")) (v.t("app-name")) }
                    (nav(v, here))
                }
                main id="content" { (main) }
                footer { (language_switch(v, here)) }
            }
        }
    };
    let mut response =
        (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response();
    secure_headers(&mut response);
    let headers = response.headers_mut();
    // Pages show a citizen's own figures: never cached.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in v.cookies() {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

/// A 303 to `to` (after a form), setting `cookies`.
pub fn see_other(to: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// A form field with its label, hint and error (the error next to the field, tied to it for screen readers).
pub struct Field<'a> {
    /// Its name (and id).
    pub name: &'a str,
    /// Its input type.
    pub kind: &'a str,
    /// Its label.
    pub label: String,
    /// What to type, if said.
    pub hint: Option<String>,
    /// The value to show again.
    pub value: &'a str,
    /// The error, if the last attempt had one here.
    pub error: Option<String>,
    /// The browser's autocomplete hint.
    pub autocomplete: &'a str,
}

impl Field<'_> {
    /// The field's markup, a required field.
    pub fn render(&self) -> Markup {
        self.markup(true)
    }

    /// The field's markup, a field that may be left empty.
    pub fn render_optional(&self) -> Markup {
        self.markup(false)
    }

    fn markup(&self, required: bool) -> Markup {
        let hint_id = format!("{}-hint", self.name);
        let error_id = format!("{}-error", self.name);
        let described = [self.hint.as_ref().map(|_| hint_id.as_str()), self.error.as_ref().map(|_| error_id.as_str())]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        html! {
            div class=(if self.error.is_some() { "field invalid" } else { "field" }) {
                label for=(self.name) { (self.label) }
                @if let Some(hint) = &self.hint { p class="hint" id=(hint_id) { (hint) } }
                @if let Some(error) = &self.error { p class="error" id=(error_id) { (error) } }
                input id=(self.name) name=(self.name) type=(self.kind) value=(self.value) required[required]
                    autocomplete=(self.autocomplete)
                    aria-invalid=[self.error.as_ref().map(|_| "true")]
                    aria-describedby=[(!described.is_empty()).then_some(described.as_str())];
            }
        }
    }
}
