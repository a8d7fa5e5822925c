//! The API reference for developers at `/docs/api/`: Swagger UI (the
//! `utoipa-swagger-ui` crate's vendored copy, compiled into the binary, no
//! download at build or run time) rendering the served `/openapi.json`.
//! The web app's `/docs` page explains the signing scheme and links here.

use axum::http::{header, HeaderValue};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Where the reference is served.
pub const API_REFERENCE_PATH: &str = "/docs/api";

/// Swagger UI's own policy: its scripts and styles from this server (it
/// sets element styles from script, hence `'unsafe-inline'` for styles
/// only), the document fetched from this server, nothing else.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The reference's routes.
pub fn api_reference<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let ui = SwaggerUi::new(API_REFERENCE_PATH)
        .config(Config::from("/openapi.json").try_it_out_enabled(true).display_request_duration(true));
    Router::from(ui)
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
}
