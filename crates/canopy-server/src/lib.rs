//! Canopy's HTTP edge.
//!
//! Start-up is a library: [`App::build`] opens the store, applies
//! migrations, loads the methodologies and binds the listener (port 0 in
//! tests); [`App::run`] serves until the shutdown future completes, then
//! drains in-flight requests and the ingestion queue.

pub mod api;
pub mod auth;
pub mod body;
pub mod config;
pub mod error;
pub mod ids;
mod listener;
pub mod methodologies;
pub mod metrics;
mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use canopy_store::writer::{Ingestor, SharedRegistry};
use canopy_store::Store;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use config::Config;
pub use routes::citizens::{hash_password, new_link_code};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The group-commit writer.
    pub ingestor: Ingestor,
    /// The methodologies in force.
    pub registry: SharedRegistry,
    /// Configuration.
    pub config: Arc<Config>,
    /// Metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Serialises methodology publication.
    pub publish_lock: Arc<tokio::sync::Mutex<()>>,
}

/// A built server, bound and ready to run.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    writer: tokio::task::JoinHandle<()>,
}

impl App {
    /// Opens the store (applying pending migrations), loads the shipped and
    /// published methodologies, starts the writer and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let store = Store::open_with(&config.database_url, config.store).await.with_context(|| {
            format!("cannot open the database at {}", canopy_store::redact_url(&config.database_url))
        })?;
        let registry = methodologies::load(&store, config.event_grams_max).await?;
        let (ingestor, writer) = Ingestor::start(&store, registry.clone(), config.ingestor())?;
        let listener =
            TcpListener::bind(&config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
        let state = AppState {
            store,
            ingestor,
            registry,
            config: Arc::new(config),
            metrics: Arc::new(metrics::Metrics::default()),
            publish_lock: Arc::new(tokio::sync::Mutex::new(())),
        };
        let router = router(state.clone());
        Ok(App { listener, router, state, writer })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// The shared state (for the demo seeder and tests).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops accepting, finishes
    /// in-flight requests, lets the writer drain and closes the store.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let App { listener, router, state, writer } = self;
        let listener = listener::LimitedListener::new(listener, state.config.connections_max);
        // Expired sessions, link codes and replay signatures are purged every minute.
        let purger = {
            let store = state.store.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    every.tick().await;
                    match store.purge_expired(chrono::Utc::now()).await {
                        Ok(deleted) if deleted > 0 => tracing::debug!(deleted, "purged expired rows"),
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "purging expired rows failed; retrying later"),
                    }
                }
            })
        };
        axum::serve(listener, router.into_make_service())
            .with_graceful_shutdown(shutdown)
            .await
            .context("the HTTP server failed")?;
        purger.abort();
        let store = state.store.clone();
        drop(state);
        // The router (and every Ingestor handle in it) is gone once serve
        // returns, so the writer finishes its queue and stops.
        let _ = writer.await;
        store.close().await;
        Ok(())
    }
}

/// The whole router, with the OpenAPI document it is generated with.
pub fn router(state: AppState) -> axum::Router {
    let (router, openapi) = routes::router().split_for_parts();
    let openapi = Arc::new(openapi);
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let openapi = openapi.clone();
                async move { axum::Json(openapi.as_ref().clone()) }
            }),
        )
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body::BODY_BYTES_MAX))
        .layer(middleware::from_fn_with_state(state.clone(), count_requests))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The OpenAPI document (for the snapshot test and `canopy openapi`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes::router().split_for_parts().1
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    state
        .metrics
        .requests
        .get_or_create(&metrics::RequestLabels { method, route, status: response.status().as_u16() })
        .inc();
    response
}
