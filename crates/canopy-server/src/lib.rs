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
pub mod docs;
pub mod error;
pub mod ids;
mod listener;
pub mod metrics;
mod routes;
mod webhooks;

pub use canopy_service::secrets;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use canopy_service::Service;
use canopy_store::writer::Ingestor;
use canopy_store::Store;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use config::Config;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The use cases (every handler calls these; none re-implements a check).
    pub service: Service,
    /// Configuration.
    pub config: Arc<Config>,
    /// Metrics.
    pub metrics: Arc<metrics::Metrics>,
}

impl AppState {
    /// The group-commit writer (a server always has one).
    pub fn ingestor(&self) -> &Ingestor {
        self.service.ingestor().expect("a server's service has a writer")
    }
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
        // The address is taken before the database is touched, so a second
        // server started by mistake on a busy port changes nothing.
        let listener =
            TcpListener::bind(&config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
        Self::build_on(config, listener).await
    }

    /// [`App::build`] on a listener the caller bound already (`canopy demo`
    /// binds first, then prepares its database); `config.listen` is not used.
    pub async fn build_on(config: Config, listener: TcpListener) -> anyhow::Result<App> {
        let store = Store::open_with(&config.database_url, config.store).await.with_context(|| {
            format!("cannot open the database at {}", canopy_store::redact_url(&config.database_url))
        })?;
        let secret_key =
            secrets::resolve_key(config.secret_key.as_ref(), config.secret_key_file.as_deref(), &config.database_url)?;
        let game = Arc::new(config.game.clone());
        let service = Service::open(store, config.settings(), secret_key)
            .await?
            .with_clock(config.clock.clone())
            .with_game_settings(game.clone());
        let context = canopy_store::writer::WriterContext::new(game, config.clock.clone());
        let (ingestor, writer) =
            Ingestor::start_with(service.store(), service.registry().clone(), config.ingestor(), context)?;
        let service = service.with_ingestor(ingestor);
        let state = AppState { service, config: Arc::new(config), metrics: Arc::new(metrics::Metrics::default()) };
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
            let store = state.service.store().clone();
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
        // Balls past their expiry vanish: their energy moves to the expiry
        // account, in bounded chunks through the writer.
        let sweeper = {
            let service = state.service.clone();
            let interval = state.config.ball_sweep_interval;
            tokio::spawn(async move {
                let mut every = tokio::time::interval(interval);
                loop {
                    every.tick().await;
                    match service.expire_balls().await {
                        Ok((0, _)) => {}
                        Ok((balls, grams)) => tracing::info!(balls, grams, "expired energy balls"),
                        Err(error) => tracing::warn!(%error, "expiring balls failed; retrying later"),
                    }
                    // Ended challenges pay their winners.
                    if let Err(error) = service.settle_challenges().await {
                        tracing::warn!(%error, "settling challenges failed; retrying later");
                    }
                    // Ended power-saving events settle (and settle again on late data).
                    match service.settle_energy_events().await {
                        Ok(runs) => {
                            for run in runs {
                                tracing::info!(
                                    event = run.event.id,
                                    households = run.changed,
                                    paid_fen = run.paid_fen,
                                    "settled a power-saving event"
                                );
                            }
                        }
                        Err(error) => tracing::warn!(%error, "settling power-saving events failed; retrying later"),
                    }
                    // Co-planting plans past their deadline release their holds.
                    match service.expire_coplantings().await {
                        Ok(0) => {}
                        Ok(plans) => tracing::info!(plans, "expired co-planting plans"),
                        Err(error) => tracing::warn!(%error, "expiring co-planting plans failed; retrying later"),
                    }
                }
            })
        };
        // Medals are awarded as things happen: every minute, the citizens
        // of the postings and check-ins since the last look are evaluated.
        let medalist = {
            let service = state.service.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
                let mut cursor = None;
                loop {
                    every.tick().await;
                    let result = match &mut cursor {
                        None => service.medal_cursor().await.map(|c| {
                            cursor = Some(c);
                            0
                        }),
                        Some(cursor) => service.sweep_medals(cursor).await,
                    };
                    match result {
                        Ok(awarded) if awarded > 0 => tracing::info!(awarded, "medals awarded"),
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "awarding medals failed; retrying later"),
                    }
                }
            })
        };
        // OpenADR subscriptions' webhooks are delivered from the outbox.
        let notifier = tokio::spawn(webhooks::deliver(state.service.clone()));
        serve(listener, router, &state.config, shutdown).await;
        notifier.abort();
        purger.abort();
        sweeper.abort();
        medalist.abort();
        let store = state.service.store().clone();
        drop(state);
        // The router (and every Ingestor handle in it) is gone once serve
        // returns, so the writer finishes its queue and stops.
        let _ = writer.await;
        store.close().await;
        Ok(())
    }
}

/// Accepts connections until `shutdown` completes, then lets every open
/// connection finish its request in flight and closes it.
///
/// This is hyper-util's connection builder rather than `axum::serve`, which
/// sets no timer and so no header-read timeout: with it, a client that sends
/// half its headers and stops is dropped after `header_read_timeout`
/// instead of holding a connection slot for good.
async fn serve(
    mut listener: listener::LimitedListener,
    router: axum::Router,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    use axum::serve::Listener;
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(config.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let service = hyper_util::service::TowerToHyperService::new(router);
    tokio::pin!(shutdown);
    loop {
        let (stream, _address) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service.clone()).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that vanishes or times out is no error of ours.
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
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
        // The web app's pages, over the same service, and the API reference.
        .merge(canopy_web::router(state.service.clone(), state.config.admin_token.clone()))
        .merge(docs::api_reference())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(body::limit(body::BODY_BYTES_DEFAULT))
        .layer(axum::Extension(body::BodyReadTimeout(state.config.body_read_timeout)))
        .layer(middleware::from_fn_with_state(state.clone(), time_limit))
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

/// The whole-request timeout: a request that takes longer (a client sending
/// its body too slowly, or a handler stuck waiting) is answered 408
/// `request_timeout` and its connection closed, so it frees its slot.
async fn time_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    use axum::response::IntoResponse;
    let limit = state.config.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error::ApiError::request_timeout(format!("the request took longer than {} ms", limit.as_millis()))
            .into_response(),
    }
}
