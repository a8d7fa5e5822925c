//! Energy balls: a citizen's balls and collecting them.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use canopy_service::{BallView, Idempotency, ServiceError};
use canopy_store::format_time;

use crate::api::*;
use crate::auth::Citizen;
use crate::error::{ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// The `Idempotency-Key` header, if sent (it must be visible ASCII).
pub(super) fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<&str>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(value) => {
            Ok(Some(value.to_str().map_err(|_| {
                ServiceError::invalid("invalid_idempotency_key", "Idempotency-Key must be visible ASCII")
            })?))
        }
    }
}

fn ball_out(view: BallView) -> BallOut {
    let ball = &view.row.ball;
    BallOut {
        id: ids::ball(ball.id),
        behavior: ball.key.behavior.clone(),
        category: view.row.category.clone(),
        grams: ball.grams,
        remaining_grams: match view.state {
            canopy_core::game::BallState::Growing | canopy_core::game::BallState::Ripe => ball.remaining_grams(),
            _ => 0,
        },
        state: view.state.as_str().to_owned(),
        ripens_at: format_time(ball.ripens_at),
        expires_at: format_time(ball.expires_at),
        taken: view
            .row
            .taken
            .iter()
            .map(|t| BallTakenOut {
                user_id: ids::user(t.user_id),
                display_name: t.display_name.clone(),
                grams: t.grams,
                at: format_time(t.at),
            })
            .collect(),
    }
}

/// The signed-in citizen's energy balls, newest first: every open ball and
/// those that closed within the last ball lifetime.
#[utoipa::path(get, path = "/v1/me/balls", tag = "game", security(("session" = [])),
    responses((status = 200, body = BallsOut), (status = 401, body = Problem)))]
pub(crate) async fn list_balls(State(state): State<AppState>, citizen: Citizen) -> ApiResult<Json<BallsOut>> {
    let balls = state.service.balls(citizen.user_id).await?;
    Ok(Json(BallsOut { balls: balls.into_iter().map(ball_out).collect() }))
}

/// Collects one ripe ball into the citizen's energy. With an
/// `Idempotency-Key`, a retry gets the original answer.
#[utoipa::path(post, path = "/v1/me/balls/{id}/collect", tag = "game", security(("session" = [])),
    params(("id" = String, Path, description = "The ball's id (`bal_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "1 to 128 visible ASCII characters")),
    responses((status = 200, body = CollectedOne), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 404, description = "ball_not_found", body = Problem),
              (status = 409, description = "ball_not_ripe, ball_expired, already_collected", body = Problem),
              (status = 422, description = "idempotency_key_reused", body = Problem),
              (status = 429, description = "rate_limited (with Retry-After)", body = Problem), (status = 503, body = Problem)))]
pub(crate) async fn collect_ball(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<CollectedOne>> {
    let ball_id = ids::parse_ball(&id)
        .ok_or_else(|| ServiceError::not_found("ball_not_found", format!("there is no ball `{id}`")))?;
    // The request a key stands for: these collects take no body.
    let request = format!("POST /v1/me/balls/{id}/collect").into_bytes();
    let key = idempotency_key(&headers)?;
    let idempotency = key.map(|key| Idempotency { key, request: &request });
    let done = state.service.collect_balls(citizen.user_id, Some(ball_id), idempotency).await?;
    Ok(Json(CollectedOne { collected_grams: done.collected_grams, energy_grams: done.energy_grams }))
}

/// Collects every ripe ball at once (none ripe is not an error: 0 g).
#[utoipa::path(post, path = "/v1/me/balls/collect", tag = "game", security(("session" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 128 visible ASCII characters")),
    responses((status = 200, body = CollectedAll), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 422, description = "idempotency_key_reused", body = Problem),
              (status = 429, description = "rate_limited (with Retry-After)", body = Problem), (status = 503, body = Problem)))]
pub(crate) async fn collect_all(
    State(state): State<AppState>,
    citizen: Citizen,
    headers: HeaderMap,
) -> ApiResult<Json<CollectedAll>> {
    let request = b"POST /v1/me/balls/collect".to_vec();
    let key = idempotency_key(&headers)?;
    let idempotency = key.map(|key| Idempotency { key, request: &request });
    let done = state.service.collect_balls(citizen.user_id, None, idempotency).await?;
    Ok(Json(CollectedAll { collected_grams: done.collected_grams, balls: done.balls, energy_grams: done.energy_grams }))
}
