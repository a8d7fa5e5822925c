//! A citizen's redemptions: redeem energy for a project's units, list them,
//! cancel one within the cancel window.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use canopy_service::{Idempotency, Redemption, ServiceError};
use canopy_store::{format_time, RedemptionRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::balls::idempotency_key;
use super::projects::project_id;
use crate::auth::Citizen;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// `POST /v1/me/redemptions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedeemIn {
    /// The project (`prj_…`).
    project_id: String,
    /// Units: trees, square metres, vouchers or donation units (1 to the kind's `quantity_max`).
    quantity: i64,
    /// Whether the certificate shows your display name (default true).
    show_name: Option<bool>,
}

/// The project a redemption is of.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RedeemedProjectOut {
    /// Public id (`prj_…`).
    id: String,
    /// `tree`, `land`, `voucher` or `donation`.
    kind: String,
    /// Its title.
    title: String,
}

/// A redemption.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RedemptionOut {
    /// Public id (`rdm_…`).
    id: String,
    /// What it redeemed.
    project: RedeemedProjectOut,
    /// The project's id (`prj_…`), as `project.id`.
    project_id: String,
    /// Units redeemed.
    quantity: i64,
    /// Energy spent, in grams.
    energy_grams: i64,
    /// The certificate's number (trees, land, donations): `GET /v1/certificates/{number}`.
    certificate_number: Option<String>,
    /// The voucher's code (vouchers), shown only to its owner.
    voucher_code: Option<String>,
    /// `active` or `cancelled`.
    status: String,
    /// When it was made (RFC 3339).
    created_at: String,
    /// When it was cancelled (RFC 3339), if it was.
    cancelled_at: Option<String>,
    /// Your energy after this move, in grams (in the answers to a redemption or a cancellation).
    #[serde(skip_serializing_if = "Option::is_none")]
    energy_left: Option<i64>,
}

/// `GET /v1/me/redemptions`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RedemptionsOut {
    /// Newest first.
    redemptions: Vec<RedemptionOut>,
    /// The cursor of the next page, if there is one.
    next_cursor: Option<String>,
}

/// Query of `GET /v1/me/redemptions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RedemptionsQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<i64>,
}

fn redemption_out(row: RedemptionRow, energy_left: Option<i64>) -> RedemptionOut {
    RedemptionOut {
        id: ids::redemption(row.id),
        project_id: ids::project(row.project_id),
        project: RedeemedProjectOut {
            id: ids::project(row.project_id),
            kind: row.project_kind.as_str().to_owned(),
            title: row.project_title,
        },
        quantity: row.quantity,
        energy_grams: row.energy_grams,
        certificate_number: row.certificate,
        voucher_code: row.voucher_code,
        status: if row.cancelled_at.is_some() { "cancelled" } else { "active" }.to_owned(),
        created_at: format_time(row.created_at),
        cancelled_at: row.cancelled_at.map(format_time),
        energy_left,
    }
}

fn answer(done: Redemption) -> RedemptionOut {
    redemption_out(done.row, done.energy_left)
}

/// Redeems energy for a project's units: energy debited, stock decremented and the certificate
/// or code issued together, or nothing. With an `Idempotency-Key`, a retry gets the original answer.
#[utoipa::path(post, path = "/v1/me/redemptions", tag = "redemption", security(("session" = [])), request_body = RedeemIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 128 visible ASCII characters")),
    responses((status = 201, body = RedemptionOut), (status = 400, description = "quantity_out_of_bounds", body = Problem),
              (status = 401, body = Problem), (status = 404, description = "project_not_found", body = Problem),
              (status = 409, description = "insufficient_energy, out_of_stock, project_not_active, region_not_eligible", body = Problem),
              (status = 422, description = "idempotency_key_reused", body = Problem),
              (status = 429, description = "rate_limited (with Retry-After)", body = Problem)))]
pub(crate) async fn redeem(
    State(state): State<AppState>,
    citizen: Citizen,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RedeemIn>,
) -> ApiResult<(StatusCode, Json<RedemptionOut>)> {
    let project = project_id(&body.project_id)?;
    let show_name = body.show_name.unwrap_or(true);
    // The request a key stands for: the body's meaning, not its spelling.
    let request = format!("POST /v1/me/redemptions {project} {} {show_name}", body.quantity).into_bytes();
    let idempotency = idempotency_key(&headers)?.map(|key| Idempotency { key, request: &request });
    let done = state.service.redeem(citizen.user_id, project, body.quantity, show_name, idempotency).await?;
    Ok((StatusCode::CREATED, Json(answer(done))))
}

/// Your redemptions, newest first.
#[utoipa::path(get, path = "/v1/me/redemptions", tag = "redemption", security(("session" = [])), params(RedemptionsQuery),
    responses((status = 200, body = RedemptionsOut), (status = 400, description = "invalid_limit, invalid_cursor", body = Problem),
              (status = 401, body = Problem)))]
pub(crate) async fn list_redemptions(
    State(state): State<AppState>,
    citizen: Citizen,
    query: Result<Query<RedemptionsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<RedemptionsOut>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let page = state.service.redemptions(citizen.user_id, query.cursor.as_deref(), query.limit).await?;
    Ok(Json(RedemptionsOut {
        redemptions: page.redemptions.into_iter().map(|r| redemption_out(r, None)).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Cancels a redemption within the cancel window (`CANOPY_CANCEL_WINDOW_S`): its energy and stock return.
#[utoipa::path(post, path = "/v1/me/redemptions/{id}/cancel", tag = "redemption", security(("session" = [])),
    params(("id" = String, Path, description = "The redemption's id (`rdm_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "1 to 128 visible ASCII characters")),
    responses((status = 200, body = RedemptionOut), (status = 401, body = Problem),
              (status = 404, description = "redemption_not_found", body = Problem),
              (status = 409, description = "cancel_window_passed, voucher_used, already_cancelled", body = Problem),
              (status = 422, description = "idempotency_key_reused", body = Problem),
              (status = 429, description = "rate_limited (with Retry-After)", body = Problem)))]
pub(crate) async fn cancel_redemption(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<RedemptionOut>> {
    let redemption = ids::parse_redemption(&id)
        .ok_or_else(|| ServiceError::not_found("redemption_not_found", format!("there is no redemption `{id}`")))?;
    let request = format!("POST /v1/me/redemptions/{id}/cancel").into_bytes();
    let idempotency = idempotency_key(&headers)?.map(|key| Idempotency { key, request: &request });
    let done = state.service.cancel_redemption(citizen.user_id, redemption, idempotency).await?;
    Ok(Json(answer(done)))
}
