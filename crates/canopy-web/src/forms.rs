//! What every page's forms share: reading a posted form, checking its form
//! token, sending a visitor who is not signed in to the sign-in page, and
//! turning a service error into a page.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use canopy_service::{ErrorKind, ServiceError};

use crate::layout::see_other;
use crate::session::{Viewer, CSRF_FIELD};

/// A posted form's fields (the last of a repeated name wins).
pub(crate) fn form(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// Every value posted under `name`, in order (for a group of checkboxes).
pub(crate) fn values(body: &[u8], name: &str) -> Vec<String> {
    form_urlencoded::parse(body).filter(|(k, _)| k == name).map(|(_, v)| v.into_owned()).collect()
}

/// A path on this site to go back to (anything else goes home).
pub(crate) fn local_path(back: Option<&String>) -> String {
    match back {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.clone(),
        _ => "/".to_owned(),
    }
}

/// The signed-in citizen looking at a page, or the sign-in page for a visitor.
pub(crate) fn citizen(v: &Viewer) -> Result<i64, Response> {
    v.user.as_ref().map(|u| u.user_id).ok_or_else(|| see_other("/login", Vec::new()))
}

/// A signed-in citizen's posted form, its token checked: (citizen, fields),
/// or the sign-in page for a visitor, or 403 for a forged or stale form.
pub(crate) fn posted(v: &Viewer, body: &[u8]) -> Result<(i64, HashMap<String, String>), Response> {
    let user_id = citizen(v)?;
    let fields = form(body);
    if !v.form_is_genuine(fields.get(CSRF_FIELD).map(String::as_str)) {
        return Err(crate::error_page(v, StatusCode::FORBIDDEN, "error-csrf"));
    }
    Ok((user_id, fields))
}

/// The HTTP status a service error's kind stands for.
pub(crate) fn status_of(error: &ServiceError) -> StatusCode {
    match error.kind {
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Gone => StatusCode::GONE,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable | ErrorKind::Internal => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
    }
}

/// A page for a service error that has no better place to be shown: its
/// message when the catalogue has one for its code (`error-<code>`), else
/// what its kind means.
pub(crate) fn service_error_page(v: &Viewer, error: &ServiceError) -> Response {
    let id = format!("error-{}", error.code.replace('_', "-"));
    let id = if crate::i18n::has_message(&id) {
        id
    } else {
        match error.kind {
            ErrorKind::NotFound => "error-not-found".to_owned(),
            ErrorKind::RateLimited => "error-rate-limited".to_owned(),
            ErrorKind::Unavailable | ErrorKind::Internal => "error-unavailable".to_owned(),
            _ => "error-refused".to_owned(),
        }
    };
    crate::error_page(v, status_of(error), &id)
}

/// The message of a refusal the page shows in place: the capability's own
/// words for its stable code (`<capability>-refused-<code>`) when its
/// catalogue has them, else what a rate limit or a refusal means.
pub(crate) fn refusal(v: &Viewer, capability: &str, error: &ServiceError) -> String {
    let id = format!("{capability}-refused-{}", error.code.replace('_', "-"));
    if crate::i18n::has_message(&id) {
        v.t(&id)
    } else if error.kind == ErrorKind::RateLimited {
        v.t("error-rate-limited")
    } else {
        v.t("error-refused")
    }
}
