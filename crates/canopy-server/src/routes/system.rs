//! Health, metrics and fallbacks.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

use crate::api::Health;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Liveness and database reachability.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, body = Health), (status = 503, body = crate::error::Problem)))]
pub(crate) async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    state.service.store().ping().await?;
    Ok(Json(Health { status: "ok".into(), queued_events: state.ingestor().queued_events() }))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "OpenMetrics text format (Prometheus reads it)", content_type = "application/openmetrics-text")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.queued_events.set(state.ingestor().queued_events() as i64);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such endpoint; see /openapi.json")
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint does not accept that method")
}
