//! Citizens: registration, sessions, the account, consent and the ledger.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use canopy_service::NewAccount;
use canopy_store::format_time;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::*;
use crate::auth::Citizen;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult, Problem};
use crate::ids;
use crate::routes::category_names;
use crate::AppState;

/// Opens a carbon account.
#[utoipa::path(post, path = "/v1/users", tag = "citizens", request_body = CreateUser,
    responses((status = 201, body = UserCreated), (status = 400, body = Problem), (status = 409, description = "username_taken", body = Problem)))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserCreated>)> {
    let CreateUser { username, password, display_name, region, district } = body;
    let user = state.service.register(NewAccount { username, password, display_name, region, district }).await?;
    Ok((
        StatusCode::CREATED,
        Json(UserCreated {
            id: ids::user(user.id),
            username: user.username,
            region: user.region,
            district: user.district,
            display_name: user.display_name,
        }),
    ))
}

/// Signs in: returns an opaque bearer token.
#[utoipa::path(post, path = "/v1/sessions", tag = "citizens", request_body = CreateSession,
    responses((status = 200, body = SessionCreated), (status = 401, description = "invalid_credentials", body = Problem),
              (status = 429, description = "rate_limited: too many failed sign-ins for this username (with Retry-After)", body = Problem)))]
pub(crate) async fn create_session(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateSession>,
) -> ApiResult<(StatusCode, Json<SessionCreated>)> {
    let session = state.service.sign_in(&body.username, body.password).await?;
    let (token, expires_at) = (session.token, session.expires_at);
    Ok((StatusCode::OK, Json(SessionCreated { token, expires_at: format_time(expires_at) })))
}

/// The signed-in citizen's account and balances.
#[utoipa::path(get, path = "/v1/me", tag = "citizens", security(("session" = [])),
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub(crate) async fn me(State(state): State<AppState>, citizen: Citizen) -> ApiResult<Json<Me>> {
    Ok(Json(me_view(state.service.account(citizen.user_id).await?)))
}

/// What `GET /v1/me` (and `PATCH /v1/me`) answer for an account.
pub(crate) fn me_view(account: canopy_service::Account) -> Me {
    let district = account.district();
    let city = district.as_ref().map(|d| d.city());
    let canopy_service::Account { user, balances } = account;
    Me {
        id: ids::user(user.id),
        username: user.username,
        display_name: user.display_name,
        region: user.region,
        district: user.district,
        district_name: district.map(|d| d.name().to_owned()),
        city: city.as_ref().map(|c| c.code.clone()),
        city_name: city.map(|c| c.name),
        reduction_grams: balances.reduction_grams,
        energy_grams: balances.energy_grams,
        balls_grams: balances.balls_grams,
        held_energy_grams: balances.held_energy_grams,
        money_fen: balances.money_fen,
    }
}

/// Query of `GET /v1/me/ledger`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LedgerQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Entries per page: 1 to 500, default 50.
    limit: Option<u32>,
}

/// The citizen's ledger, newest first, each entry with its cause.
#[utoipa::path(get, path = "/v1/me/ledger", tag = "citizens", security(("session" = [])), params(LedgerQuery),
    responses((status = 200, body = LedgerPage), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub(crate) async fn ledger(
    State(state): State<AppState>,
    citizen: Citizen,
    query: Result<Query<LedgerQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<LedgerPage>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let page = state.service.ledger_page(citizen.user_id, query.cursor.as_deref(), query.limit).await?;
    let entries = page
        .entries
        .into_iter()
        .map(|entry| {
            let methodology = entry.methodology.map(|(id, version)| LedgerMethodology {
                id,
                version,
                title: entry.known.as_ref().map(|m| m.title.clone()),
                formula: entry.known.as_ref().map(|m| m.formula_text()),
            });
            let row = entry.row;
            LedgerEntry {
                id: row.id.to_string(),
                seq: row.id,
                at: format_time(row.at),
                account: row.account,
                grams: row.grams,
                unit: row.unit,
                kind: row.kind,
                cause: LedgerCause { kind: row.cause, reference: row.cause_ref },
                event: row.event.map(|e| LedgerEvent {
                    partner: ids::partner(e.partner_id),
                    partner_name: e.partner_name,
                    id: e.event_id,
                    behavior: e.behavior,
                    occurred_at: format_time(e.occurred_at),
                    region: e.region,
                    inputs: e.inputs,
                }),
                methodology,
                counterpart: row.counterpart.map(ids::user),
            }
        })
        .collect();
    Ok(Json(LedgerPage { entries, next_cursor: page.next_cursor }))
}

/// Grants a partner consent for some categories; returns a single-use link code.
#[utoipa::path(post, path = "/v1/me/consents", tag = "consent", security(("session" = [])), request_body = GrantConsent,
    responses((status = 201, body = ConsentGranted), (status = 400, body = Problem), (status = 404, description = "partner_not_found", body = Problem),
              (status = 422, description = "scope_not_reportable", body = Problem)))]
pub(crate) async fn grant_consent(
    State(state): State<AppState>,
    citizen: Citizen,
    JsonBody(body): JsonBody<GrantConsent>,
) -> ApiResult<(StatusCode, Json<ConsentGranted>)> {
    let grant = state.service.grant_consent(citizen.user_id, &body.partner_id, &body.scopes).await?;
    Ok((
        StatusCode::CREATED,
        Json(ConsentGranted {
            link_code: grant.link_code,
            expires_at: format_time(grant.expires_at),
            partner_id: ids::partner(grant.partner_id),
            scopes: category_names(grant.scopes),
        }),
    ))
}

/// The citizen's consents, active and revoked.
#[utoipa::path(get, path = "/v1/me/consents", tag = "consent", security(("session" = [])),
    responses((status = 200, body = ConsentList), (status = 401, body = Problem)))]
pub(crate) async fn list_consents(State(state): State<AppState>, citizen: Citizen) -> ApiResult<Json<ConsentList>> {
    let consents = state
        .service
        .consents(citizen.user_id)
        .await?
        .into_iter()
        .map(|c| ConsentView {
            partner_id: ids::partner(c.partner_id),
            partner_name: c.partner_name,
            scopes: category_names(c.scopes),
            active: c.revoked_at.is_none(),
            linked: c.linked,
            granted_at: format_time(c.granted_at),
            revoked_at: c.revoked_at.map(format_time),
        })
        .collect();
    Ok(Json(ConsentList { consents }))
}

/// Revokes a partner's consent at once: its later events are rejected.
#[utoipa::path(delete, path = "/v1/me/consents/{partner_id}", tag = "consent", security(("session" = [])),
    params(("partner_id" = String, Path, description = "The partner (`ptn_…`)")),
    responses((status = 204, description = "revoked"), (status = 404, description = "consent_not_found", body = Problem)))]
pub(crate) async fn revoke_consent(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(partner_id): Path<String>,
) -> ApiResult<StatusCode> {
    state.service.revoke_consent(citizen.user_id, &partner_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
