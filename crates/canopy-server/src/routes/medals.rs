//! Medals.

use axum::extract::State;
use axum::Json;
use canopy_store::format_time;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Citizen;
use crate::error::{ApiResult, Problem};
use crate::AppState;

/// A medal earned.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EarnedOut {
    /// The medal's id.
    id: String,
    /// Its title.
    title: String,
    /// What it is for.
    description: String,
    /// `once`, `day`, `week`, `month` or `year`.
    period: String,
    /// The period it was earned for (`once`, `2026-12-05`, `2026-W49`, `2026-12`, `2026`).
    period_key: String,
    /// When it was awarded (RFC 3339).
    earned_at: String,
}

/// A medal in progress.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProgressOut {
    /// The medal's id.
    id: String,
    /// Its title.
    title: String,
    /// What it is for.
    description: String,
    /// `once`, `day`, `week`, `month` or `year`.
    period: String,
    /// The current period.
    period_key: String,
    /// How far along (grams, acts, days…, as the rule counts).
    current: i64,
    /// The goal.
    goal: i64,
}

/// `GET /v1/me/medals`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MedalsOut {
    /// Medals earned, newest first.
    earned: Vec<EarnedOut>,
    /// Medals not yet earned in their current period.
    in_progress: Vec<ProgressOut>,
}

/// The citizen's medals: earned (with the date) and in progress (with how far along).
#[utoipa::path(get, path = "/v1/me/medals", tag = "game", security(("session" = [])),
    responses((status = 200, body = MedalsOut), (status = 401, body = Problem), (status = 503, body = Problem)))]
pub(crate) async fn medals(State(state): State<AppState>, citizen: Citizen) -> ApiResult<Json<MedalsOut>> {
    let medals = state.service.medals(citizen.user_id).await?;
    Ok(Json(MedalsOut {
        earned: medals
            .earned
            .into_iter()
            .map(|e| EarnedOut {
                id: e.medal.id.clone(),
                title: e.medal.title.clone(),
                description: e.medal.description.clone(),
                period: e.medal.period.as_str().to_owned(),
                period_key: e.period_key,
                earned_at: format_time(e.earned_at),
            })
            .collect(),
        in_progress: medals
            .in_progress
            .into_iter()
            .map(|p| ProgressOut {
                id: p.medal.id.clone(),
                title: p.medal.title.clone(),
                description: p.medal.description.clone(),
                period: p.medal.period.as_str().to_owned(),
                period_key: p.period_key,
                current: p.current,
                goal: p.goal,
            })
            .collect(),
    }))
}
