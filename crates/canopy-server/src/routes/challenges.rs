//! Team challenges.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use canopy_service::{ChallengeView, NewChallenge, ServiceError};
use canopy_store::{format_time, ChallengeRow};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Citizen, Operator};
use crate::body::{JsonBody, OptionalJsonBody};
use crate::error::{ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// `POST /v1/challenges`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateChallenge {
    /// The title (1 to 100 characters).
    title: String,
    /// `reduction_grams` (with an optional `category`) or `acts` (with an optional `behavior`).
    metric: String,
    /// For `reduction_grams`: count one category only.
    category: Option<String>,
    /// For `acts`: count one behavior only.
    behavior: Option<String>,
    /// The goal each team must reach (grams or acts).
    goal: i64,
    /// When acts start to count (RFC 3339).
    starts_at: String,
    /// When they stop counting (exclusive) and the challenge pays (RFC 3339).
    ends_at: String,
    /// The most members in one team (1 to 1000).
    team_size_max: i64,
    /// Grams of energy paid to each member of a team that reached the goal.
    reward_grams: i64,
    /// The funded energy pool that pays (`pool_…`).
    pool: String,
}

/// `POST /v1/challenges/{id}/join`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JoinChallenge {
    /// The team to join (`team_…`); without it, the citizen joins alone (a team of one).
    team_id: Option<String>,
}

/// `POST /v1/challenges/{id}/teams`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTeam {
    /// The team's name (1 to 60 characters).
    name: String,
}

/// A team and its live progress.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TeamOut {
    /// Public id (`team_…`).
    id: String,
    /// Its name.
    name: String,
    /// Its members' public ids.
    members: Vec<String>,
    /// Its progress towards the goal (grams or acts in the period).
    progress: i64,
    /// Whether it reached the goal.
    reached: bool,
}

/// The viewer's place in a challenge.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChallengeMe {
    /// The viewer's team, if they joined.
    team_id: Option<String>,
    /// Their team's progress.
    progress: i64,
}

/// A challenge.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChallengeOut {
    /// Public id (`chl_…`).
    id: String,
    /// Its title.
    title: String,
    /// `reduction_grams` or `acts`.
    metric: String,
    /// The category counted, if one.
    category: Option<String>,
    /// The behavior counted, if one.
    behavior: Option<String>,
    /// The goal per team.
    goal: i64,
    /// When acts start to count.
    starts_at: String,
    /// When they stop counting.
    ends_at: String,
    /// The most members in one team.
    team_size_max: u32,
    /// Grams paid to each member of a winning team.
    reward_grams: i64,
    /// The paying pool.
    pool: String,
    /// `upcoming`, `running`, `ended` (awaiting settlement) or `settled`.
    state: String,
    /// Grams paid at settlement (0 before).
    paid_grams: i64,
    /// Whether the pool was short and every winner was paid pro rata.
    pro_rata: bool,
    /// Every team with its progress (on `GET /v1/challenges/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    teams: Option<Vec<TeamOut>>,
    /// The viewer (on `GET /v1/challenges/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    me: Option<ChallengeMe>,
}

/// `GET /v1/challenges`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChallengesOut {
    /// The newest challenges.
    challenges: Vec<ChallengeOut>,
}

/// `POST /v1/challenges/{id}/join` and `/teams`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JoinedOut {
    /// The challenge.
    challenge_id: String,
    /// The team joined.
    team_id: String,
}

fn challenge_out(row: &ChallengeRow, now: DateTime<Utc>) -> ChallengeOut {
    use canopy_core::game::ChallengeMetric;
    let c = &row.challenge;
    let (category, behavior) = match &c.metric {
        ChallengeMetric::ReductionGrams { category } => (category.map(|c| c.as_str().to_owned()), None),
        ChallengeMetric::Acts { behavior } => (None, behavior.clone()),
    };
    let state = if row.settled_at.is_some() {
        "settled"
    } else if now >= c.ends_at {
        "ended"
    } else if now >= c.starts_at {
        "running"
    } else {
        "upcoming"
    };
    ChallengeOut {
        id: ids::challenge(row.id),
        title: c.title.to_string(),
        metric: c.metric.as_str().to_owned(),
        category,
        behavior,
        goal: c.goal,
        starts_at: format_time(c.starts_at),
        ends_at: format_time(c.ends_at),
        team_size_max: c.team_size_max,
        reward_grams: c.reward_grams,
        pool: ids::pool(c.pool_id),
        state: state.to_owned(),
        paid_grams: row.paid_grams,
        pro_rata: row.pro_rata,
        teams: None,
        me: None,
    }
}

fn time(field: &str, text: &str) -> Result<DateTime<Utc>, ServiceError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ServiceError::invalid("invalid_challenge", format!("{field}: `{text}` is not an RFC 3339 time")))
}

fn challenge_id(id: &str) -> Result<i64, ServiceError> {
    ids::parse_challenge(id)
        .ok_or_else(|| ServiceError::not_found("challenge_not_found", format!("there is no challenge `{id}`")))
}

/// Creates a team challenge (the operator's).
#[utoipa::path(post, path = "/v1/challenges", tag = "game", security(("admin" = [])), request_body = CreateChallenge,
    responses((status = 201, body = ChallengeOut), (status = 400, description = "invalid_challenge", body = Problem),
              (status = 401, body = Problem), (status = 404, description = "pool_not_found", body = Problem)))]
pub(crate) async fn create_challenge(
    State(state): State<AppState>,
    _operator: Operator,
    JsonBody(body): JsonBody<CreateChallenge>,
) -> ApiResult<(StatusCode, Json<ChallengeOut>)> {
    let pool_id = ids::parse_pool(&body.pool)
        .ok_or_else(|| ServiceError::not_found("pool_not_found", format!("there is no pool `{}`", body.pool)))?;
    let row = state
        .service
        .create_challenge(NewChallenge {
            starts_at: time("starts_at", &body.starts_at)?,
            ends_at: time("ends_at", &body.ends_at)?,
            title: body.title,
            metric: body.metric,
            category: body.category,
            behavior: body.behavior,
            goal: body.goal,
            team_size_max: body.team_size_max,
            reward_grams: body.reward_grams,
            pool_id,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(challenge_out(&row, state.service.now()))))
}

/// The newest challenges.
#[utoipa::path(get, path = "/v1/challenges", tag = "game", security(("session" = [])),
    responses((status = 200, body = ChallengesOut), (status = 401, body = Problem)))]
pub(crate) async fn list_challenges(
    State(state): State<AppState>,
    _citizen: Citizen,
) -> ApiResult<Json<ChallengesOut>> {
    let now = state.service.now();
    let rows = state.service.challenges().await?;
    Ok(Json(ChallengesOut { challenges: rows.iter().map(|r| challenge_out(r, now)).collect() }))
}

/// A challenge with every team's live progress and the viewer's own.
#[utoipa::path(get, path = "/v1/challenges/{id}", tag = "game", security(("session" = [])),
    params(("id" = String, Path, description = "The challenge's id (`chl_…`)")),
    responses((status = 200, body = ChallengeOut), (status = 401, body = Problem),
              (status = 404, description = "challenge_not_found", body = Problem)))]
pub(crate) async fn get_challenge(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(id): Path<String>,
) -> ApiResult<Json<ChallengeOut>> {
    let ChallengeView { row, teams, my_team } =
        state.service.challenge_view(challenge_id(&id)?, citizen.user_id).await?;
    let mut out = challenge_out(&row, state.service.now());
    let my_progress = teams.iter().find(|(t, _)| Some(t.id) == my_team).map_or(0, |(_, r)| r.progress);
    out.teams = Some(
        teams
            .into_iter()
            .map(|(team, result)| TeamOut {
                id: ids::team(team.id),
                name: team.name,
                members: team.members.iter().map(|m| ids::user(*m)).collect(),
                progress: result.progress,
                reached: result.progress >= row.challenge.goal,
            })
            .collect(),
    );
    out.me = Some(ChallengeMe { team_id: my_team.map(ids::team), progress: my_progress });
    Ok(Json(out))
}

/// Joins a challenge, alone (a team of one) or into a team.
#[utoipa::path(post, path = "/v1/challenges/{id}/join", tag = "game", security(("session" = [])), request_body = JoinChallenge,
    params(("id" = String, Path, description = "The challenge's id (`chl_…`)")),
    responses((status = 200, body = JoinedOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 404, description = "challenge_not_found, team_not_found", body = Problem),
              (status = 409, description = "already_joined, challenge_ended, team_full", body = Problem)))]
pub(crate) async fn join_challenge(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<JoinChallenge>,
) -> ApiResult<Json<JoinedOut>> {
    let challenge = challenge_id(&id)?;
    let team = match body.team_id {
        None => None,
        Some(text) => Some(
            ids::parse_team(&text)
                .ok_or_else(|| ServiceError::not_found("team_not_found", format!("there is no team `{text}`")))?,
        ),
    };
    let team_id = state.service.join_challenge(challenge, citizen.user_id, team).await?;
    Ok(Json(JoinedOut { challenge_id: ids::challenge(challenge), team_id: ids::team(team_id) }))
}

/// Creates a team in a challenge and joins it.
#[utoipa::path(post, path = "/v1/challenges/{id}/teams", tag = "game", security(("session" = [])), request_body = CreateTeam,
    params(("id" = String, Path, description = "The challenge's id (`chl_…`)")),
    responses((status = 201, body = JoinedOut), (status = 400, description = "invalid_team", body = Problem),
              (status = 401, body = Problem), (status = 404, description = "challenge_not_found", body = Problem),
              (status = 409, description = "already_joined, challenge_ended", body = Problem)))]
pub(crate) async fn create_team(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CreateTeam>,
) -> ApiResult<(StatusCode, Json<JoinedOut>)> {
    let challenge = challenge_id(&id)?;
    let team_id = state.service.create_team(challenge, citizen.user_id, &body.name).await?;
    Ok((StatusCode::CREATED, Json(JoinedOut { challenge_id: ids::challenge(challenge), team_id: ids::team(team_id) })))
}
