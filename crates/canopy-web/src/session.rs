//! Who is looking: the session cookie (the same session token as the
//! API's bearer token), the language, and the form token that guards
//! every form against cross-site requests.
//!
//! Cookies are `HttpOnly` and `SameSite=Lax`, and `Secure` unless the page
//! was asked for over plain HTTP on localhost. A signed-in viewer's form
//! token is an HMAC of the session token (so it needs no storage and dies
//! with the session); a visitor's is a random value in its own cookie,
//! sent back in the form (double submit).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::i18n::Lang;
use crate::Web;

/// The session cookie.
pub const SESSION_COOKIE: &str = "canopy_session";
/// A visitor's form-token cookie.
pub const CSRF_COOKIE: &str = "canopy_csrf";
/// The chosen language's cookie.
pub const LANG_COOKIE: &str = "canopy_lang";
/// The form field that carries the form token.
pub const CSRF_FIELD: &str = "csrf";

/// A signed-in citizen.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The citizen.
    pub user_id: i64,
    /// Their session token.
    pub token: String,
}

/// The viewer of a page.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The language pages speak to them in.
    pub lang: Lang,
    /// The citizen, when signed in.
    pub user: Option<SignedIn>,
    /// The form token their forms carry.
    pub csrf: String,
    /// Whether their cookies must be `Secure`.
    pub secure: bool,
    /// A visitor's new form-token cookie, to be set by the page.
    pub(crate) new_csrf_cookie: bool,
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Whether the request came over plain HTTP to this machine (the only place
/// cookies go without `Secure`).
fn plain_localhost(headers: &HeaderMap) -> bool {
    let forwarded_https =
        headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let name = if host.starts_with('[') {
        host.split(']').next().map(|h| h.trim_start_matches('[')).unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default()
    };
    !forwarded_https && matches!(name, "localhost" | "127.0.0.1" | "::1")
}

/// The signed-in viewer's form token.
fn session_csrf(token: &str) -> String {
    keyed_csrf(token, b"canopy web form")
}

/// A form token derived from a session token for one purpose (`label`).
pub(crate) fn keyed_csrf(token: &str, label: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("HMAC takes any key");
    mac.update(label);
    hex::encode(&mac.finalize().into_bytes()[..16])
}

pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    canopy_service::tokens::constant_time_eq(a.as_bytes(), b.as_bytes())
}

impl Viewer {
    /// Whether a form's token is this viewer's.
    pub fn form_is_genuine(&self, sent: Option<&str>) -> bool {
        !self.new_csrf_cookie && sent.is_some_and(|sent| constant_time_eq(sent, &self.csrf))
    }

    /// A `Set-Cookie` value: `name=value` for `max_age_s` seconds (0 deletes it).
    pub fn cookie(&self, name: &str, value: &str, max_age_s: i64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}"))
            .expect("cookie values are visible ASCII")
    }

    /// The cookies a page sets for this viewer (a new visitor's form token).
    pub(crate) fn cookies(&self) -> Vec<HeaderValue> {
        if self.new_csrf_cookie {
            vec![self.cookie(CSRF_COOKIE, &self.csrf, 7 * 24 * 3600)]
        } else {
            Vec::new()
        }
    }
}

impl FromRequestParts<Web> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        let lang = cookie(headers, LANG_COOKIE)
            .and_then(Lang::from_tag)
            .unwrap_or_else(|| Lang::negotiate(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())));
        let secure = !plain_localhost(headers);
        let mut user = None;
        if let Some(token) = cookie(headers, SESSION_COOKIE).filter(|t| !t.is_empty() && t.len() <= 128) {
            if let Ok(user_id) = web.service.session_user(token).await {
                user = Some(SignedIn { user_id, token: token.to_owned() });
            }
        }
        let (csrf, new_csrf_cookie) = match (&user, cookie(headers, CSRF_COOKIE)) {
            (Some(signed_in), _) => (session_csrf(&signed_in.token), false),
            (None, Some(token)) if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) => {
                (token.to_owned(), false)
            }
            (None, _) => (canopy_service::tokens::random_token(), true),
        };
        Ok(Viewer { lang, user, csrf, secure, new_csrf_cookie })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn cookies_are_read_by_name() {
        let h = headers(&[("cookie", "a=1; canopy_session=abc"), ("cookie", "canopy_lang=zh-CN")]);
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, LANG_COOKIE), Some("zh-CN"));
        assert_eq!(cookie(&h, CSRF_COOKIE), None);
    }

    #[test]
    fn only_plain_localhost_goes_without_secure() {
        assert!(plain_localhost(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(plain_localhost(&headers(&[("host", "localhost")])));
        assert!(plain_localhost(&headers(&[("host", "[::1]:8080")])));
        assert!(!plain_localhost(&headers(&[("host", "canopy.example.cn")])));
        assert!(!plain_localhost(&headers(&[("host", "127.0.0.1:8080"), ("x-forwarded-proto", "https")])));
    }

    #[test]
    fn a_session_form_token_is_stable_and_differs_by_session() {
        assert_eq!(session_csrf("one"), session_csrf("one"));
        assert_ne!(session_csrf("one"), session_csrf("two"));
        assert_eq!(session_csrf("one").len(), 32);
    }
}
