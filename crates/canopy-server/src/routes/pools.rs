//! Funded pools (the operator's): create, list, fund.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use canopy_service::{NewPool, ServiceError};
use canopy_store::{format_time, PoolRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Operator;
use crate::body::JsonBody;
use crate::error::{ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// `POST /v1/pools`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreatePool {
    /// The pool's name (1 to 100 characters).
    name: String,
    /// Who funds it (1 to 100 characters).
    sponsor: String,
    /// `energy_grams` (default) or `fen`.
    unit: Option<String>,
    /// `checkins` for the one pool that pays check-in streak rewards.
    purpose: Option<String>,
}

/// `POST /v1/pools/{id}/fund`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FundPool {
    /// How much to add, in the pool's unit (1 to 10^12).
    amount: i64,
}

/// A pool and what it holds.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PoolOut {
    /// Public id (`pool_…`).
    id: String,
    /// Its name.
    name: String,
    /// Who funds it.
    sponsor: String,
    /// `energy_grams` or `fen`.
    unit: String,
    /// What it pays for, if anything in particular (`checkins`).
    purpose: Option<String>,
    /// What it holds, in its unit.
    balance: i64,
    /// When it was created (RFC 3339).
    created_at: String,
}

/// `GET /v1/pools`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PoolsOut {
    /// Every pool, oldest first.
    pools: Vec<PoolOut>,
}

fn pool_out(pool: PoolRow) -> PoolOut {
    PoolOut {
        id: ids::pool(pool.id),
        name: pool.name,
        sponsor: pool.sponsor,
        unit: pool.unit.as_str().to_owned(),
        purpose: pool.purpose,
        balance: pool.balance,
        created_at: format_time(pool.created_at),
    }
}

/// Creates a funded pool (empty until funded).
#[utoipa::path(post, path = "/v1/pools", tag = "game", security(("admin" = [])), request_body = CreatePool,
    responses((status = 201, body = PoolOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 409, description = "pool_exists (a pool with this purpose)", body = Problem)))]
pub(crate) async fn create_pool(
    State(state): State<AppState>,
    _operator: Operator,
    JsonBody(body): JsonBody<CreatePool>,
) -> ApiResult<(StatusCode, Json<PoolOut>)> {
    let CreatePool { name, sponsor, unit, purpose } = body;
    let pool = state.service.create_pool(NewPool { name, sponsor, unit, purpose }).await?;
    Ok((StatusCode::CREATED, Json(pool_out(pool))))
}

/// Every pool with its balance.
#[utoipa::path(get, path = "/v1/pools", tag = "game", security(("admin" = [])),
    responses((status = 200, body = PoolsOut), (status = 401, body = Problem)))]
pub(crate) async fn list_pools(State(state): State<AppState>, _operator: Operator) -> ApiResult<Json<PoolsOut>> {
    let pools = state.service.pools().await?;
    Ok(Json(PoolsOut { pools: pools.into_iter().map(pool_out).collect() }))
}

/// Funds a pool from its sponsor: a ledger transfer from the sponsorship account.
#[utoipa::path(post, path = "/v1/pools/{id}/fund", tag = "game", security(("admin" = [])), request_body = FundPool,
    params(("id" = String, Path, description = "The pool's id (`pool_…`)")),
    responses((status = 200, body = PoolOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 404, description = "pool_not_found", body = Problem), (status = 503, body = Problem)))]
pub(crate) async fn fund_pool(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<FundPool>,
) -> ApiResult<Json<PoolOut>> {
    let pool_id = ids::parse_pool(&id)
        .ok_or_else(|| ServiceError::not_found("pool_not_found", format!("there is no pool `{id}`")))?;
    let pool = state.service.fund_pool(pool_id, body.amount).await?;
    Ok(Json(pool_out(pool)))
}
