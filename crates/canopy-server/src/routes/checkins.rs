//! Daily check-ins.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Citizen;
use crate::body::OptionalJsonBody;
use crate::error::{ApiResult, Problem};
use crate::AppState;

/// `POST /v1/me/checkins` (the body may be left out).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateCheckin {
    /// A note (at most 200 characters).
    note: Option<String>,
}

/// A check-in.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CheckinOut {
    /// The citizen's local date (YYYY-MM-DD).
    date: String,
    /// Consecutive local days checked in, including today.
    streak_days: i64,
    /// The streak milestone's reward paid from the check-in pool, grams of energy (0 on other days).
    reward_grams: i64,
    /// A milestone reward the check-in pool could not pay (it never goes negative).
    reward_unpaid_grams: i64,
}

/// Checks in for the citizen's local day: one per day; streaks continue
/// across month ends and time zones; milestones pay from the check-in pool.
#[utoipa::path(post, path = "/v1/me/checkins", tag = "game", security(("session" = [])), request_body = CreateCheckin,
    responses((status = 201, body = CheckinOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 409, description = "already_checked_in", body = Problem), (status = 429, description = "rate_limited (with Retry-After)", body = Problem), (status = 503, body = Problem)))]
pub(crate) async fn check_in(
    State(state): State<AppState>,
    citizen: Citizen,
    OptionalJsonBody(body): OptionalJsonBody<CreateCheckin>,
) -> ApiResult<(StatusCode, Json<CheckinOut>)> {
    let done = state.service.check_in(citizen.user_id, body.note).await?;
    Ok((
        StatusCode::CREATED,
        Json(CheckinOut {
            date: done.date,
            streak_days: done.streak_days,
            reward_grams: done.reward_grams,
            reward_unpaid_grams: done.reward_unpaid_grams,
        }),
    ))
}
