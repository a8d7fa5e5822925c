//! Canopy's web app, served by `canopy serve` beside the API: server-rendered
//! HTML pages (maud, compiled into the binary) in Simplified Chinese and
//! English (Fluent catalogues), signed in by a session cookie, every form
//! guarded by a form token, every page under a strict Content-Security-Policy.
//! Pages call the same service layer as the API's handlers and re-implement
//! none of its checks.
//!
//! Each capability has its own module: `accounts` (sign up, in, out,
//! language), `forest` (my forest). The shell is `layout`, the viewer
//! `session`, the catalogues `i18n`.

use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use canopy_service::Service;
use maud::html;

pub mod accounts;
pub mod assets;
pub mod forest;
pub mod i18n;
pub mod layout;
pub mod session;

pub use session::Viewer;

/// What the pages share: the service layer.
#[derive(Clone)]
pub struct Web {
    /// The use cases.
    pub service: Service,
}

/// A page that says what went wrong (message `id`), with `status`.
pub fn error_page(v: &Viewer, status: StatusCode, id: &str) -> Response {
    let body = html! {
        h1 { (v.t("error-title")) }
        p class="alert" role="alert" { (v.t(id)) }
        p { a href="/" { (v.t("nav-forest")) } }
    };
    layout::page(v, status, "/", &v.t("error-title"), body)
}

/// The pages, for any router state (they carry their own).
pub fn router<S: Clone + Send + Sync + 'static>(service: Service) -> Router<S> {
    Router::new()
        .route("/", get(forest::forest))
        .route("/login", get(accounts::login_form).post(accounts::login))
        .route("/signup", get(accounts::signup_form).post(accounts::signup))
        .route("/logout", get(accounts::logout_form).post(accounts::logout))
        .route("/lang", post(accounts::choose_language))
        .route("/collect", post(forest::collect_all))
        .route("/balls/{id}/collect", post(forest::collect_one))
        .route(assets::STYLESHEET_PATH, get(assets::stylesheet))
        .with_state(Web { service })
}
