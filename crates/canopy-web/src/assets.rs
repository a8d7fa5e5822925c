//! The app's own static files, compiled into the binary.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Where the stylesheet is served (the release in the path, so a new
/// release's pages fetch its own).
pub const STYLESHEET_PATH: &str = concat!("/static/app-", env!("CARGO_PKG_VERSION"), ".css");

const STYLESHEET: &str = include_str!("../static/app.css");

/// The stylesheet.
pub async fn stylesheet() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        STYLESHEET,
    )
        .into_response()
}
