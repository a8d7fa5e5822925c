//! Partners: creation by the operator, signed linking and signed ingestion.

use axum::extract::Path;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::Json;
use canopy_core::ingest::OutcomeKind;
use canopy_core::types::RegionCode;
use canopy_service::NewPartner;
use canopy_store::format_time;

use crate::api::*;
use crate::auth::{Operator, PartnerCaller};
use crate::body::{parse_json, JsonBody, RawBody};
use crate::error::{ApiResult, Problem};
use crate::ids;
use crate::metrics::OutcomeLabels;
use crate::routes::category_names;
use crate::secrets;
use crate::AppState;

/// Creates a partner; the response carries its signing secret, once.
#[utoipa::path(post, path = "/v1/partners", tag = "partners", security(("admin" = [])), request_body = CreatePartner,
    responses((status = 201, body = PartnerCreated), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub(crate) async fn create_partner(
    State(state): State<AppState>,
    _operator: Operator,
    JsonBody(body): JsonBody<CreatePartner>,
) -> ApiResult<(StatusCode, Json<PartnerCreated>)> {
    let created = state
        .service
        .create_partner(NewPartner { name: body.name, categories: body.categories, regions: body.regions })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PartnerCreated {
            id: ids::partner(created.partner.id),
            name: created.partner.name,
            categories: category_names(created.partner.categories),
            regions: region_names(&created.partner.regions),
            secret: created.secret.expose().to_owned(),
            secret_id: secrets::secret_id(created.secret_row.id),
        }),
    ))
}

/// Lists partners (never their secrets).
#[utoipa::path(get, path = "/v1/partners", tag = "partners", security(("admin" = [])),
    responses((status = 200, body = PartnerList), (status = 401, body = Problem)))]
pub(crate) async fn list_partners(State(state): State<AppState>, _operator: Operator) -> ApiResult<Json<PartnerList>> {
    let partners = state
        .service
        .partners()
        .await?
        .into_iter()
        .map(|p| PartnerView {
            id: ids::partner(p.id),
            name: p.name,
            categories: category_names(p.categories),
            regions: region_names(&p.regions),
            created_at: format_time(p.created_at),
        })
        .collect();
    Ok(Json(PartnerList { partners }))
}

fn region_names(regions: &[RegionCode]) -> Vec<String> {
    regions.iter().map(|r| r.as_str().to_owned()).collect()
}

/// Issues the partner a new signing secret (returned once). Its other
/// secrets keep verifying for the grace period (`CANOPY_SECRET_GRACE_S`)
/// or until retired, so the partner can switch without a gap.
#[utoipa::path(post, path = "/v1/partners/{id}/secrets", tag = "partners", security(("admin" = [])),
    params(("id" = String, Path, description = "The partner (`ptn_…`)")),
    responses((status = 201, body = SecretIssued), (status = 401, body = Problem),
              (status = 404, description = "partner_not_found", body = Problem)))]
pub(crate) async fn rotate_secret(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<SecretIssued>)> {
    let (row, secret) = state.service.rotate_partner_secret(&id).await?;
    Ok((
        StatusCode::CREATED,
        Json(SecretIssued {
            id: secrets::secret_id(row.id),
            secret: secret.expose().to_owned(),
            created_at: format_time(row.created_at),
        }),
    ))
}

/// A partner suspended.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Suspended {
    /// How many secrets stopped verifying (0 when it was suspended already).
    retired_secrets: u64,
}

/// Suspends the partner: every secret that still verifies is retired at once,
/// so its requests are refused until a new secret is issued (which resumes it).
#[utoipa::path(post, path = "/v1/partners/{id}/suspend", tag = "partners", security(("admin" = [])),
    params(("id" = String, Path, description = "The partner (`ptn_…`)")),
    responses((status = 200, body = Suspended), (status = 401, body = Problem),
              (status = 404, description = "partner_not_found", body = Problem)))]
pub(crate) async fn suspend(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Json<Suspended>> {
    let retired_secrets = state.service.suspend_partner(&id).await?;
    Ok(Json(Suspended { retired_secrets }))
}

/// Lists the partner's secrets (never the secrets themselves).
#[utoipa::path(get, path = "/v1/partners/{id}/secrets", tag = "partners", security(("admin" = [])),
    params(("id" = String, Path, description = "The partner (`ptn_…`)")),
    responses((status = 200, body = SecretList), (status = 401, body = Problem),
              (status = 404, description = "partner_not_found", body = Problem)))]
pub(crate) async fn list_secrets(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Json<SecretList>> {
    let now = state.service.now();
    let secrets = state
        .service
        .partner_secrets(&id)
        .await?
        .into_iter()
        .map(|s| SecretView {
            id: secrets::secret_id(s.id),
            created_at: format_time(s.created_at),
            expires_at: s.expires_at.map(format_time),
            retired_at: s.retired_at.map(format_time),
            active: s.retired_at.is_none() && s.expires_at.is_none_or(|at| at > now),
        })
        .collect();
    Ok(Json(SecretList { secrets }))
}

/// Retires one of the partner's secrets at once: it no longer verifies.
/// The last secret that verifies cannot be retired (409 `last_secret`).
#[utoipa::path(delete, path = "/v1/partners/{id}/secrets/{secret_id}", tag = "partners", security(("admin" = [])),
    params(("id" = String, Path, description = "The partner (`ptn_…`)"),
           ("secret_id" = String, Path, description = "The secret (`sec_…`)")),
    responses((status = 204, description = "retired"), (status = 401, body = Problem),
              (status = 404, description = "partner_not_found, secret_not_found", body = Problem),
              (status = 409, description = "last_secret", body = Problem)))]
pub(crate) async fn retire_secret(
    State(state): State<AppState>,
    _operator: Operator,
    Path((id, secret_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.service.retire_partner_secret(&id, &secret_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Binds the partner's user reference to the citizen who issued the link code.
#[utoipa::path(post, path = "/v1/partner/links", tag = "partners", security(("partner_signature" = [])), request_body = CreateLink,
    responses((status = 201, body = LinkCreated), (status = 400, description = "link_code_invalid", body = Problem),
              (status = 401, description = "bad_signature, stale_timestamp, replayed_request", body = Problem),
              (status = 409, description = "link_conflict", body = Problem)))]
pub(crate) async fn create_link(
    State(state): State<AppState>,
    caller: PartnerCaller,
    method: Method,
    uri: Uri,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<LinkCreated>)> {
    let signed = caller.verify(&state, &method, &uri, &body).await?;
    let link: CreateLink = parse_json(&body)?;
    let link = state
        .service
        .link(signed.partner.id, Some((&signed.signature, signed.forget_after)), &link.link_code, &link.user_ref)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(LinkCreated {
            user_ref: link.user_ref,
            scopes: category_names(link.scopes),
            linked_at: format_time(link.linked_at),
        }),
    ))
}

/// Reports a batch of low-carbon acts; every event gets its own outcome.
///
/// The response is sent once the credited events are durable. Events are
/// decided in order; an id already accepted from this partner is a
/// `duplicate` (with the original grams), whatever else changed since.
#[utoipa::path(post, path = "/v1/partner/events", tag = "partners", security(("partner_signature" = [])),
    request_body = EventBatch,
    responses((status = 200, body = EventResults),
              (status = 400, description = "malformed_body", body = Problem),
              (status = 401, description = "bad_signature, stale_timestamp, replayed_request", body = Problem),
              (status = 413, description = "batch_too_large, body_too_large", body = Problem),
              (status = 422, description = "grams_overflow, ledger_refused", body = Problem),
              (status = 503, description = "overloaded, storage_unavailable (with Retry-After)", body = Problem)))]
pub(crate) async fn ingest_events(
    State(state): State<AppState>,
    caller: PartnerCaller,
    method: Method,
    uri: Uri,
    RawBody(body): RawBody,
) -> ApiResult<Json<EventResults>> {
    let signed = caller.verify(&state, &method, &uri, &body).await?;
    let batch: EventBatch = parse_json(&body)?;
    let outcomes =
        state.service.ingest(&signed.partner, Some((signed.signature, signed.forget_after)), batch.events).await?;
    let mut counts = [0u64; 4];
    let mut grams = 0u64;
    for o in &outcomes {
        counts[o.outcome as usize] += 1;
        if matches!(o.outcome, OutcomeKind::Credited | OutcomeKind::Capped) {
            grams = grams.saturating_add(o.grams.unwrap_or(0).max(0) as u64);
        }
    }
    for (kind, count) in [OutcomeKind::Credited, OutcomeKind::Capped, OutcomeKind::Duplicate, OutcomeKind::Rejected]
        .into_iter()
        .zip(counts)
    {
        if count > 0 {
            state.metrics.events.get_or_create(&OutcomeLabels { outcome: kind.as_str().to_owned() }).inc_by(count);
        }
    }
    state.metrics.grams_credited.inc_by(grams);
    Ok(Json(EventResults { results: outcomes }))
}
