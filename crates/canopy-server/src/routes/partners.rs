//! Partners: creation by the operator, signed linking and signed ingestion.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Json;
use canopy_core::ingest::{self, EventIn, OutcomeKind};
use canopy_store::format_time;
use canopy_store::writer::{IngestError, IngestRequest};
use chrono::Utc;
use serde::Deserialize;

use crate::api::*;
use crate::auth::{link_code_hash, random_token, verify_partner, Operator};
use crate::body::{parse_json, JsonBody, RawBody};
use crate::error::{ApiError, ApiResult, Problem};
use crate::ids;
use crate::metrics::OutcomeLabels;
use crate::routes::{category_names, parse_categories};
use crate::AppState;

/// Creates a partner; the response carries its signing secret, once.
#[utoipa::path(post, path = "/v1/partners", tag = "partners", security(("admin" = [])), request_body = CreatePartner,
    responses((status = 201, body = PartnerCreated), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub(crate) async fn create_partner(
    State(state): State<AppState>,
    _operator: Operator,
    JsonBody(body): JsonBody<CreatePartner>,
) -> ApiResult<(StatusCode, Json<PartnerCreated>)> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_name",
            "name must be 1 to 100 characters, none a control character",
        ));
    }
    let categories = parse_categories(&body.categories, "categories")?;
    let secret = random_token();
    let partner = state.store.create_partner(name, categories, &secret, Utc::now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(PartnerCreated {
            id: ids::partner(partner.id),
            name: partner.name,
            categories: category_names(categories),
            secret,
        }),
    ))
}

/// Lists partners (never their secrets).
#[utoipa::path(get, path = "/v1/partners", tag = "partners", security(("admin" = [])),
    responses((status = 200, body = PartnerList), (status = 401, body = Problem)))]
pub(crate) async fn list_partners(State(state): State<AppState>, _operator: Operator) -> ApiResult<Json<PartnerList>> {
    let partners = state
        .store
        .partners()
        .await?
        .into_iter()
        .map(|p| PartnerView {
            id: ids::partner(p.id),
            name: p.name,
            categories: category_names(p.categories),
            created_at: format_time(p.created_at),
        })
        .collect();
    Ok(Json(PartnerList { partners }))
}

/// Binds the partner's user reference to the citizen who issued the link code.
#[utoipa::path(post, path = "/v1/partner/links", tag = "partners", security(("partner_signature" = [])), request_body = CreateLink,
    responses((status = 201, body = LinkCreated), (status = 400, description = "link_code_invalid", body = Problem),
              (status = 401, description = "bad_signature, stale_timestamp, replayed_request", body = Problem),
              (status = 409, description = "link_conflict", body = Problem)))]
pub(crate) async fn create_link(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<LinkCreated>)> {
    let signed = verify_partner(&state, &headers, &method, &uri, &body).await?;
    let link: CreateLink = parse_json(&body)?;
    if !state.store.remember_signature(signed.partner.id, &signed.signature, signed.forget_after).await? {
        return Err(replayed());
    }
    if !ingest::reference_ok(&link.user_ref) {
        return Err(ApiError::bad_request(
            "invalid_user_ref",
            format!("user_ref must be {}", ingest::reference_rule()),
        ));
    }
    let now = Utc::now();
    let user_id =
        state.store.use_link_code(signed.partner.id, &link_code_hash(&link.link_code), &link.user_ref, now).await?;
    let scopes = state
        .store
        .consents(user_id)
        .await?
        .into_iter()
        .find(|c| c.partner_id == signed.partner.id)
        .map(|c| category_names(c.scopes))
        .unwrap_or_default();
    Ok((StatusCode::CREATED, Json(LinkCreated { user_ref: link.user_ref, scopes, linked_at: format_time(now) })))
}

fn replayed() -> ApiError {
    ApiError::unauthorized("replayed_request", "this signature was already used; sign each request afresh")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBatch {
    events: Vec<EventIn>,
}

/// Reports a batch of low-carbon acts; every event gets its own outcome.
///
/// The response is sent once the credited events are durable. Events are
/// decided in order; an id already accepted from this partner is a
/// `duplicate` (with the original grams), whatever else changed since.
#[utoipa::path(post, path = "/v1/partner/events", tag = "partners", security(("partner_signature" = [])),
    request_body = EventBatchSchema,
    responses((status = 200, body = EventResults),
              (status = 400, description = "malformed_body", body = Problem),
              (status = 401, description = "bad_signature, stale_timestamp, replayed_request", body = Problem),
              (status = 413, description = "batch_too_large, body_too_large", body = Problem),
              (status = 503, description = "overloaded, storage_unavailable (with Retry-After)", body = Problem)))]
pub(crate) async fn ingest_events(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<EventResults>> {
    let signed = verify_partner(&state, &headers, &method, &uri, &body).await?;
    let batch: EventBatch = parse_json(&body)?;
    if batch.events.len() > ingest::BATCH_EVENTS_MAX {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("a batch carries at most {} events; this one has {}", ingest::BATCH_EVENTS_MAX, batch.events.len()),
        ));
    }
    // The registry as the database has it, so that a methodology published
    // on another server is known to the prechecks at once.
    let registry = state.store.refresh_registry(&state.registry).await?;
    let now = Utc::now();
    let timezone = state.config.timezone;
    let categories = signed.partner.categories;
    let events =
        batch.events.into_iter().map(|event| ingest::precheck(event, categories, &registry, now, timezone)).collect();
    drop(registry);
    let outcomes = state
        .ingestor
        .submit(IngestRequest {
            partner_id: signed.partner.id,
            signature: Some((signed.signature, signed.forget_after)),
            events,
        })
        .await
        .map_err(|e| match e {
            IngestError::Replayed => replayed(),
            IngestError::Overloaded => {
                ApiError::unavailable("overloaded", "the ingestion queue is full; retry shortly", 1)
            }
            IngestError::Unavailable { code, detail } => {
                tracing::error!(%detail, code, "ingestion failed");
                ApiError::storage(code, "nothing was credited; retry")
            }
        })?;
    let mut counts = [0u64; 4];
    let mut grams = 0u64;
    let results = outcomes
        .into_iter()
        .map(|o| {
            counts[o.outcome as usize] += 1;
            if matches!(o.outcome, OutcomeKind::Credited | OutcomeKind::Capped) {
                grams += o.grams.unwrap_or(0) as u64;
            }
            EventResult {
                id: o.id,
                outcome: o.outcome.as_str().to_owned(),
                grams: o.grams,
                methodology: o.methodology,
                code: o.code,
                message: o.message,
            }
        })
        .collect();
    for (kind, count) in [OutcomeKind::Credited, OutcomeKind::Capped, OutcomeKind::Duplicate, OutcomeKind::Rejected]
        .into_iter()
        .zip(counts)
    {
        if count > 0 {
            state.metrics.events.get_or_create(&OutcomeLabels { outcome: kind.as_str().to_owned() }).inc_by(count);
        }
    }
    state.metrics.grams_credited.inc_by(grams);
    Ok(Json(EventResults { results }))
}
