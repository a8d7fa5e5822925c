//! Campaigns matched by retired carbon credits: the operator creates them
//! and records retirements; citizens contribute energy; anyone reads how a
//! campaign stands, as JSON or as a public page.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use canopy_core::redemption::campaign::Standing;
use canopy_service::{CampaignView, Idempotency, NewCampaign, Retirement, ServiceError};
use canopy_store::{format_time, CampaignRow, RetirementRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::balls::idempotency_key;
use crate::auth::{Citizen, Operator, Viewer};
use crate::body::JsonBody;
use crate::error::{ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// `POST /v1/campaigns`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CampaignIn {
    /// Its title.
    title: String,
    /// Who benefits (`Hangzhou Asian Games`).
    beneficiary: String,
    /// The goal, in grams of energy.
    goal_grams: i64,
    /// What one citizen may give in all, in grams (1,000 for "1 kg per person").
    per_person_limit_grams: i64,
    /// Grams of CO2e the sponsor retires per gram of energy given (default 1.0; to a thousandth).
    #[schema(value_type = Option<f64>)]
    match_ratio: Option<serde_json::Number>,
    /// The sponsor buying and retiring the credits (`spn_…`).
    sponsor_id: String,
    /// When it opens (RFC 3339).
    starts_at: String,
    /// When it closes (RFC 3339).
    ends_at: String,
}

/// `POST /v1/campaigns/{id}/contributions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContributionIn {
    /// Grams of energy to give (1 to what is left of your per-person limit).
    grams: i64,
}

/// `POST /v1/campaigns/{id}/retirements`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetirementIn {
    /// The registry that retired the credits (`CCER`, `Verra`, …).
    registry: String,
    /// The first serial (`CCER-2026-000001`).
    serial_first: String,
    /// The last serial, in the same series.
    serial_last: String,
    /// Tonnes retired: the number of serials in the range.
    quantity_t: i64,
    /// When the registry retired them (RFC 3339).
    retired_at: String,
    /// On whose behalf they were retired.
    beneficiary: String,
}

/// A recorded retirement.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RetirementOut {
    /// The registry.
    registry: String,
    /// The first serial.
    serial_first: String,
    /// The last serial.
    serial_last: String,
    /// Tonnes retired.
    quantity_t: i64,
    /// When the registry retired them (RFC 3339).
    retired_at: String,
    /// On whose behalf.
    beneficiary: String,
}

/// A campaign and how it stands.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CampaignOut {
    /// Public id (`cmp_…`).
    id: String,
    /// Its title.
    title: String,
    /// Who benefits.
    beneficiary: String,
    /// The goal, in grams of energy.
    goal_grams: i64,
    /// What one citizen may give in all, in grams.
    per_person_limit_grams: i64,
    /// Grams of CO2e retired per gram given.
    #[schema(value_type = f64)]
    match_ratio: serde_json::Number,
    /// The sponsor (`spn_…`).
    sponsor_id: String,
    /// The sponsor's name.
    sponsor: String,
    /// When it opens (RFC 3339).
    starts_at: String,
    /// When it closes (RFC 3339).
    ends_at: String,
    /// Citizens who gave.
    participants: i64,
    /// Energy given, in grams.
    contributed_grams: i64,
    /// Credits retired to match, in grams of CO2e.
    retired_grams: i64,
    /// Whether the retirements reach what was given times the ratio.
    matched: bool,
    /// What the retirements still lack, in grams of CO2e (0 when matched).
    shortfall_grams: i64,
    /// The retirements, oldest first (with a single campaign; empty in lists).
    retirements: Vec<RetirementOut>,
    /// What you gave (a signed-in citizen reading one campaign).
    #[serde(skip_serializing_if = "Option::is_none")]
    my_contributed_grams: Option<i64>,
}

/// `GET /v1/campaigns`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CampaignsOut {
    /// Newest first.
    campaigns: Vec<CampaignOut>,
}

/// What a contribution did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ContributedOut {
    /// The contribution's id.
    id: i64,
    /// Grams given now.
    grams: i64,
    /// What you gave this campaign in all.
    contributed_grams: i64,
    /// Your energy afterwards.
    energy_left: i64,
}

fn ratio(milli: i64) -> serde_json::Number {
    let text = if milli % 1000 == 0 {
        format!("{}.0", milli / 1000)
    } else {
        format!("{}.{}", milli / 1000, format!("{:03}", milli % 1000).trim_end_matches('0'))
    };
    text.parse().expect("a decimal is a JSON number")
}

fn retirement_out(r: RetirementRow) -> RetirementOut {
    RetirementOut {
        registry: r.registry,
        serial_first: r.serial_first,
        serial_last: r.serial_last,
        quantity_t: r.quantity_t,
        retired_at: format_time(r.retired_at),
        beneficiary: r.beneficiary,
    }
}

fn campaign_out(
    row: CampaignRow,
    standing: Standing,
    retirements: Vec<RetirementRow>,
    mine: Option<i64>,
) -> CampaignOut {
    CampaignOut {
        id: ids::campaign(row.id),
        title: row.title,
        beneficiary: row.beneficiary,
        goal_grams: row.goal_grams,
        per_person_limit_grams: row.per_person_limit_grams,
        match_ratio: ratio(row.ratio_milli),
        sponsor_id: ids::sponsor(row.sponsor_id),
        sponsor: row.sponsor_name,
        starts_at: format_time(row.starts_at),
        ends_at: format_time(row.ends_at),
        participants: row.participants,
        contributed_grams: standing.contributed_grams,
        retired_grams: standing.retired_grams,
        matched: standing.matched,
        shortfall_grams: standing.shortfall_grams,
        retirements: retirements.into_iter().map(retirement_out).collect(),
        my_contributed_grams: mine,
    }
}

fn view_out(view: CampaignView) -> CampaignOut {
    campaign_out(view.row, view.standing, view.retirements, view.mine)
}

pub(crate) fn campaign_id(text: &str) -> Result<i64, ServiceError> {
    ids::parse_campaign(text)
        .ok_or_else(|| ServiceError::not_found("campaign_not_found", format!("there is no campaign `{text}`")))
}

/// Creates a campaign whose contributions a sponsor matches with retired carbon credits.
#[utoipa::path(post, path = "/v1/campaigns", tag = "redemption", security(("admin" = [])), request_body = CampaignIn,
    responses((status = 201, body = CampaignOut), (status = 400, description = "invalid_campaign", body = Problem),
              (status = 401, body = Problem), (status = 404, description = "sponsor_not_found", body = Problem)))]
pub(crate) async fn create_campaign(
    State(state): State<AppState>,
    _operator: Operator,
    JsonBody(body): JsonBody<CampaignIn>,
) -> ApiResult<(StatusCode, Json<CampaignOut>)> {
    let CampaignIn {
        title,
        beneficiary,
        goal_grams,
        per_person_limit_grams,
        match_ratio,
        sponsor_id,
        starts_at,
        ends_at,
    } = body;
    let sponsor = ids::parse_sponsor(&sponsor_id)
        .ok_or_else(|| ServiceError::not_found("sponsor_not_found", format!("there is no sponsor `{sponsor_id}`")))?;
    let new = NewCampaign {
        title,
        beneficiary,
        goal_grams,
        per_person_limit_grams,
        match_ratio: match_ratio.map_or_else(|| "1.0".to_owned(), |n| n.to_string()),
        sponsor_id: sponsor,
        starts_at,
        ends_at,
    };
    let view = state.service.create_campaign(new).await?;
    Ok((StatusCode::CREATED, Json(view_out(view))))
}

/// Every campaign, newest first (public).
#[utoipa::path(get, path = "/v1/campaigns", tag = "redemption", responses((status = 200, body = CampaignsOut)))]
pub(crate) async fn list_campaigns(State(state): State<AppState>) -> ApiResult<Json<CampaignsOut>> {
    let campaigns = state.service.campaigns().await?;
    Ok(Json(CampaignsOut {
        campaigns: campaigns.into_iter().map(|(row, standing)| campaign_out(row, standing, Vec::new(), None)).collect(),
    }))
}

/// One campaign and how it stands (public; a signed-in citizen also sees what they gave).
#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "redemption", security((), ("session" = [])),
    params(("id" = String, Path, description = "The campaign's id (`cmp_…`)")),
    responses((status = 200, body = CampaignOut), (status = 401, body = Problem),
              (status = 404, description = "campaign_not_found", body = Problem)))]
pub(crate) async fn get_campaign(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignOut>> {
    let citizen = match viewer {
        Viewer::Citizen(user_id) => Some(user_id),
        Viewer::Anonymous | Viewer::Operator => None,
    };
    let view = state.service.campaign(campaign_id(&id)?, citizen).await?;
    Ok(Json(view_out(view)))
}

/// Gives energy to a campaign, within your per-person limit. With an `Idempotency-Key`, a retry gets the original answer.
#[utoipa::path(post, path = "/v1/campaigns/{id}/contributions", tag = "redemption", security(("session" = [])),
    request_body = ContributionIn,
    params(("id" = String, Path, description = "The campaign's id (`cmp_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "1 to 128 visible ASCII characters")),
    responses((status = 201, body = ContributedOut), (status = 400, description = "invalid_amount", body = Problem),
              (status = 401, body = Problem), (status = 404, description = "campaign_not_found", body = Problem),
              (status = 409, description = "campaign_not_active, contribution_over_limit, insufficient_energy", body = Problem),
              (status = 422, description = "idempotency_key_reused", body = Problem),
              (status = 429, description = "rate_limited (with Retry-After)", body = Problem)))]
pub(crate) async fn contribute(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ContributionIn>,
) -> ApiResult<(StatusCode, Json<ContributedOut>)> {
    let campaign = campaign_id(&id)?;
    let request = format!("POST /v1/campaigns/{campaign}/contributions {}", body.grams).into_bytes();
    let idempotency = idempotency_key(&headers)?.map(|key| Idempotency { key, request: &request });
    let done = state.service.contribute(citizen.user_id, campaign, body.grams, idempotency).await?;
    Ok((
        StatusCode::CREATED,
        Json(ContributedOut {
            id: done.id,
            grams: done.grams,
            contributed_grams: done.contributed_grams,
            energy_left: done.energy_left,
        }),
    ))
}

/// Records carbon credits the sponsor bought and retired to match a campaign; serial ranges never overlap within a registry.
#[utoipa::path(post, path = "/v1/campaigns/{id}/retirements", tag = "redemption", security(("admin" = [])),
    request_body = RetirementIn,
    params(("id" = String, Path, description = "The campaign's id (`cmp_…`)")),
    responses((status = 201, body = RetirementOut), (status = 400, description = "invalid_campaign (the field named)", body = Problem),
              (status = 401, body = Problem), (status = 404, description = "campaign_not_found", body = Problem),
              (status = 409, description = "serial_range_overlaps", body = Problem)))]
pub(crate) async fn record_retirement(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RetirementIn>,
) -> ApiResult<(StatusCode, Json<RetirementOut>)> {
    let RetirementIn { registry, serial_first, serial_last, quantity_t, retired_at, beneficiary } = body;
    let retirement = Retirement { registry, serial_first, serial_last, quantity_t, retired_at, beneficiary };
    let recorded = state.service.record_retirement(campaign_id(&id)?, retirement).await?;
    Ok((StatusCode::CREATED, Json(retirement_out(recorded))))
}
