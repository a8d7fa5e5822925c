//! Canopy's web app, served by `canopy serve` beside the API: server-rendered
//! HTML pages (maud, compiled into the binary) in Simplified Chinese and
//! English (Fluent catalogues), signed in by a session cookie, every form
//! guarded by a form token, every page under a strict Content-Security-Policy.
//! Pages call the same service layer as the API's handlers and re-implement
//! none of its checks.
//!
//! Each capability has its own module: `accounts` (sign up, in, out,
//! language), `forest` (my forest), `history` (the ledger, its chart),
//! `connections` (connected apps, link codes), `friends` (friends and their forests),
//! `leaderboards`, `redeem` (the catalogue, redeeming, planting together),
//! `redemptions` (what was redeemed, certificates), `campaigns`,
//! `medals` (check-in, streaks, medals, challenges), `energy` (home energy),
//! `settings` (profile, language, privacy, your data), `docs` (for
//! developers). The shell is `layout`, the viewer `session`, the catalogues
//! `i18n`, what forms share `forms`. The operator's dashboard under
//! `/admin` is `admin`.

// A page handler stops early with the page to show instead (the sign-in
// page, a refusal): `Result<_, Response>` is its natural shape, and pages
// are not a hot path where the size of the error matters.
#![allow(clippy::result_large_err)]

use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use canopy_service::Service;
use maud::html;

pub mod accounts;
pub mod admin;
pub mod assets;
pub mod campaigns;
pub mod charts;
pub mod connections;
pub mod docs;
pub mod energy;
pub mod forest;
mod forms;
pub mod friends;
pub mod history;
pub mod i18n;
pub mod layout;
pub mod leaderboards;
pub mod medals;
pub mod redeem;
pub mod redemptions;
pub mod session;
pub mod settings;

pub use session::Viewer;

/// What the pages share: the service layer, and the admin token the
/// operator may sign in to the dashboard with (none: accounts only).
#[derive(Clone)]
pub struct Web {
    /// The use cases.
    pub service: Service,
    /// The server's admin token (`CANOPY_ADMIN_TOKEN`), if it has one.
    pub admin_token: Option<std::sync::Arc<str>>,
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

/// The pages, for any router state (they carry their own). Each capability's
/// module gives its own routes.
/// `admin_token` is the server's, for signing in to `/admin` with it.
pub fn router<S: Clone + Send + Sync + 'static>(service: Service, admin_token: Option<String>) -> Router<S> {
    Router::new()
        .merge(accounts::routes())
        .merge(forest::routes())
        .merge(history::routes())
        .merge(connections::routes())
        .merge(friends::routes())
        .merge(leaderboards::routes())
        .merge(redeem::routes())
        .merge(redemptions::routes())
        .merge(campaigns::routes())
        .merge(medals::routes())
        .merge(energy::routes())
        .merge(docs::routes())
        .merge(settings::routes())
        .merge(admin::routes())
        .route(assets::STYLESHEET_PATH, get(assets::stylesheet))
        .with_state(Web { service, admin_token: admin_token.map(std::sync::Arc::from) })
}
