//! Co-planting: friends pool energy into one tree.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use canopy_service::{Idempotency, NewCoplanting, ServiceError};
use canopy_store::{format_time, CoplantingRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::balls::idempotency_key;
use super::projects::project_id;
use crate::auth::Citizen;
use crate::body::JsonBody;
use crate::error::{ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// `POST /v1/me/coplantings`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CoplantingIn {
    /// The tree project (`prj_…`).
    project_id: String,
    /// The friends invited (`usr_…`), 1 to 9.
    invitees: Vec<String>,
    /// Every participant's share in grams, yours included, keyed by citizen id; they add up to the tree's price.
    shares: BTreeMap<String, i64>,
}

/// A participant's share.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ShareOut {
    /// The citizen (`usr_…`).
    user_id: String,
    /// Their display name.
    display_name: String,
    /// Grams.
    grams: i64,
    /// `invited`, `held`, `declined`, `released` or `spent`.
    state: String,
}

/// A co-planting plan.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CoplantingOut {
    /// Public id (`cpl_…`).
    id: String,
    /// The tree (`prj_…`).
    project_id: String,
    /// The tree's title.
    title: String,
    /// Who opened it (`usr_…`).
    creator: String,
    /// `open`, `planted`, `declined`, `expired` or `failed` (the tree could not be had when the last share came).
    status: String,
    /// When every held share is released unless all are held by then (RFC 3339).
    deadline: String,
    /// The shares, largest first.
    shares: Vec<ShareOut>,
    /// The redemption that planted it (`rdm_…`).
    redemption_id: Option<String>,
    /// The certificate naming every planter.
    certificate_number: Option<String>,
    /// When it was opened (RFC 3339).
    created_at: String,
}

/// `GET /v1/me/coplantings`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CoplantingsOut {
    /// Newest first.
    coplantings: Vec<CoplantingOut>,
}

fn out(plan: CoplantingRow) -> CoplantingOut {
    CoplantingOut {
        id: ids::coplanting(plan.id),
        project_id: ids::project(plan.project_id),
        title: plan.project_title,
        creator: ids::user(plan.creator),
        status: plan.status,
        deadline: format_time(plan.deadline),
        shares: plan
            .shares
            .into_iter()
            .map(|s| ShareOut {
                user_id: ids::user(s.user_id),
                display_name: s.display_name,
                grams: s.grams,
                state: s.state,
            })
            .collect(),
        redemption_id: plan.redemption_id.map(ids::redemption),
        certificate_number: plan.certificate,
        created_at: format_time(plan.created_at),
    }
}

fn user(text: &str) -> Result<i64, ServiceError> {
    ids::parse_user(text)
        .ok_or_else(|| ServiceError::invalid("invalid_shares", format!("`{text}` is not a citizen id")))
}

fn plan_id(text: &str) -> Result<i64, ServiceError> {
    ids::parse_coplanting(text).ok_or_else(|| {
        ServiceError::not_found("coplanting_not_found", format!("there is no co-planting plan `{text}`"))
    })
}

/// Opens a plan to plant one tree with friends; your share is held at once, theirs when they accept.
#[utoipa::path(post, path = "/v1/me/coplantings", tag = "redemption", security(("session" = [])), request_body = CoplantingIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 128 visible ASCII characters")),
    responses((status = 201, body = CoplantingOut), (status = 400, description = "invalid_shares", body = Problem),
              (status = 401, body = Problem), (status = 404, description = "project_not_found", body = Problem),
              (status = 409, description = "not_friend, insufficient_energy, coplanting_trees_only, project_not_active, region_not_eligible, out_of_stock", body = Problem),
              (status = 422, description = "idempotency_key_reused", body = Problem),
              (status = 429, description = "rate_limited (with Retry-After)", body = Problem)))]
pub(crate) async fn open(
    State(state): State<AppState>,
    citizen: Citizen,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CoplantingIn>,
) -> ApiResult<(StatusCode, Json<CoplantingOut>)> {
    let project = project_id(&body.project_id)?;
    let invitees = body.invitees.iter().map(|i| user(i)).collect::<Result<Vec<_>, _>>()?;
    let shares = body.shares.iter().map(|(u, g)| Ok((user(u)?, *g))).collect::<Result<Vec<_>, ServiceError>>()?;
    let request = format!("POST /v1/me/coplantings {project} {invitees:?} {shares:?}").into_bytes();
    let idempotency = idempotency_key(&headers)?.map(|key| Idempotency { key, request: &request });
    let plan = NewCoplanting { project_id: project, invitees, shares };
    let opened = state.service.open_coplanting(citizen.user_id, plan, idempotency).await?;
    Ok((StatusCode::CREATED, Json(out(opened))))
}

/// The plans you are in, newest first.
#[utoipa::path(get, path = "/v1/me/coplantings", tag = "redemption", security(("session" = [])),
    responses((status = 200, body = CoplantingsOut), (status = 401, body = Problem)))]
pub(crate) async fn list(State(state): State<AppState>, citizen: Citizen) -> ApiResult<Json<CoplantingsOut>> {
    let plans = state.service.coplantings(citizen.user_id).await?;
    Ok(Json(CoplantingsOut { coplantings: plans.into_iter().map(out).collect() }))
}

/// One plan you are in.
#[utoipa::path(get, path = "/v1/me/coplantings/{id}", tag = "redemption", security(("session" = [])),
    params(("id" = String, Path, description = "The plan's id (`cpl_…`)")),
    responses((status = 200, body = CoplantingOut), (status = 401, body = Problem),
              (status = 404, description = "coplanting_not_found", body = Problem)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(id): Path<String>,
) -> ApiResult<Json<CoplantingOut>> {
    Ok(Json(out(state.service.coplanting(citizen.user_id, plan_id(&id)?).await?)))
}

async fn answer(
    state: AppState,
    citizen: Citizen,
    id: String,
    headers: HeaderMap,
    accept: bool,
) -> ApiResult<Json<CoplantingOut>> {
    let plan = plan_id(&id)?;
    let request = format!("POST /v1/me/coplantings/{plan}/{}", if accept { "accept" } else { "decline" }).into_bytes();
    let idempotency = idempotency_key(&headers)?.map(|key| Idempotency { key, request: &request });
    Ok(Json(out(state.service.answer_coplanting(citizen.user_id, plan, accept, idempotency).await?)))
}

/// Accepts an invitation: your share is held; the last share plants the tree.
#[utoipa::path(post, path = "/v1/me/coplantings/{id}/accept", tag = "redemption", security(("session" = [])),
    params(("id" = String, Path, description = "The plan's id (`cpl_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "1 to 128 visible ASCII characters")),
    responses((status = 200, body = CoplantingOut), (status = 401, body = Problem),
              (status = 404, description = "coplanting_not_found", body = Problem),
              (status = 409, description = "insufficient_energy, already_answered, coplanting_closed, coplanting_expired", body = Problem),
              (status = 422, description = "idempotency_key_reused", body = Problem),
              (status = 429, description = "rate_limited (with Retry-After)", body = Problem)))]
pub(crate) async fn accept(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<CoplantingOut>> {
    answer(state, citizen, id, headers, true).await
}

/// Declines an invitation: every held share of the plan is released.
#[utoipa::path(post, path = "/v1/me/coplantings/{id}/decline", tag = "redemption", security(("session" = [])),
    params(("id" = String, Path, description = "The plan's id (`cpl_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "1 to 128 visible ASCII characters")),
    responses((status = 200, body = CoplantingOut), (status = 401, body = Problem),
              (status = 404, description = "coplanting_not_found", body = Problem),
              (status = 409, description = "already_answered, coplanting_closed, coplanting_expired", body = Problem),
              (status = 422, description = "idempotency_key_reused", body = Problem),
              (status = 429, description = "rate_limited (with Retry-After)", body = Problem)))]
pub(crate) async fn decline(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<CoplantingOut>> {
    answer(state, citizen, id, headers, false).await
}
