//! Leaderboards.

use axum::extract::{Query, State};
use axum::Json;
use canopy_service::BoardQuery;
use canopy_store::format_time;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Citizen;
use crate::error::{ApiError, ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// Query of `GET /v1/leaderboards`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LeaderboardQuery {
    /// `region` (default) or `friends`.
    board: Option<String>,
    /// `reduction` (default: verified reduction) or `energy` (energy received).
    metric: Option<String>,
    /// `day`, `week` (default), `month` or `all` (local to the board's region).
    period: Option<String>,
    /// For a region board: an ISO 3166-2 region (default: the viewer's).
    region: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Entries per page: 1 to 200, default 50.
    limit: Option<u32>,
}

/// One ranked citizen.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LeaderboardEntry {
    /// Rank: equal grams share one (1, 1, 3).
    rank: u64,
    /// The citizen's public id.
    user_id: String,
    /// Their display name.
    display_name: String,
    /// Their grams in the period.
    grams: i64,
}

/// The viewer's place.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LeaderboardMe {
    /// The viewer's rank (with 0 g, after everyone who has more).
    rank: u64,
    /// The viewer's grams in the period.
    grams: i64,
}

/// `GET /v1/leaderboards`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LeaderboardOut {
    /// When the ranking was computed (RFC 3339); at most 30 s before the answer.
    as_of: String,
    /// `region` or `friends`.
    board: String,
    /// `reduction` or `energy`.
    metric: String,
    /// `day`, `week`, `month` or `all`.
    period: String,
    /// The region ranked (a region board).
    region: Option<String>,
    /// The page, best first.
    entries: Vec<LeaderboardEntry>,
    /// The viewer.
    me: LeaderboardMe,
    /// The cursor of the next page, if there is one.
    next_cursor: Option<String>,
}

/// A leaderboard page: a region's citizens, or the viewer and their friends.
#[utoipa::path(get, path = "/v1/leaderboards", tag = "game", security(("session" = [])), params(LeaderboardQuery),
    responses((status = 200, body = LeaderboardOut), (status = 400, description = "invalid_board, invalid_metric, invalid_period, invalid_region, invalid_cursor, invalid_limit", body = Problem),
              (status = 401, body = Problem), (status = 503, body = Problem)))]
pub(crate) async fn leaderboard(
    State(state): State<AppState>,
    citizen: Citizen,
    query: Result<Query<LeaderboardQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<LeaderboardOut>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let LeaderboardQuery { board, metric, period, region, cursor, limit } = query;
    let page =
        state.service.leaderboard(citizen.user_id, BoardQuery { board, metric, period, region, cursor, limit }).await?;
    Ok(Json(LeaderboardOut {
        as_of: format_time(page.as_of),
        board: page.board.as_str().to_owned(),
        metric: page.metric.as_str().to_owned(),
        period: page.period.as_str().to_owned(),
        region: page.region,
        entries: page
            .entries
            .into_iter()
            .map(|e| LeaderboardEntry {
                rank: e.rank,
                user_id: ids::user(e.user_id),
                display_name: e.display_name,
                grams: e.grams,
            })
            .collect(),
        me: LeaderboardMe { rank: page.me.0, grams: page.me.1 },
        next_cursor: page.next_cursor,
    }))
}
