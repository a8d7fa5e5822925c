//! Sponsors and projects: the operator registers sponsors and creates,
//! pauses and ends projects; anyone lists what can be redeemed where.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use canopy_service::{NewProject, NewSponsor, ProjectQuery, ServiceError};
use canopy_store::{format_time, ProjectRow, SponsorRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Operator, Viewer};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// `POST /v1/sponsors`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SponsorIn {
    /// Its name (1 to 200 characters, unique).
    name: String,
    /// `company`, `foundation` or `government`.
    kind: String,
    /// The units (trees, m², codes, donation units) it commits to in all; none: no limit in units.
    budget_units: Option<i64>,
    /// The fen it commits to in all (vouchers' face values); none: no limit in fen.
    budget_fen: Option<i64>,
}

/// A sponsor, its budget and what of it is allocated and handed out.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SponsorOut {
    /// Public id (`spn_…`).
    id: String,
    /// Its name.
    name: String,
    /// `company`, `foundation` or `government`.
    kind: String,
    /// Units committed in all, if it commits units.
    budget_units: Option<i64>,
    /// Fen committed in all, if it commits fen.
    budget_fen: Option<i64>,
    /// Units allocated to its projects' stock.
    committed_units: i64,
    /// Fen allocated to its vouchers.
    committed_fen: i64,
    /// Units citizens hold (redeemed, not cancelled) across its projects.
    handed_out_units: i64,
    /// When it was registered (RFC 3339).
    created_at: String,
}

/// `GET /v1/sponsors`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SponsorsOut {
    /// Every sponsor, oldest first.
    sponsors: Vec<SponsorOut>,
}

/// `POST /v1/projects`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProjectIn {
    /// `tree`, `land`, `voucher` or `donation`.
    kind: String,
    /// Its title (1 to 200 characters).
    title: String,
    /// The sponsor paying for it (`spn_…`).
    sponsor_id: String,
    /// Energy per unit in grams (a tree's is its sequestration, and may be left out).
    price_grams: Option<i64>,
    /// Units on offer (land: defaults to its area; vouchers: the codes uploaded).
    stock: Option<i64>,
    /// Where citizens may redeem it: ISO 3166-2 regions, countries (`CN`) or `*`.
    regions: Vec<String>,
    /// When it opens (RFC 3339).
    starts_at: String,
    /// When it closes (RFC 3339).
    ends_at: String,
    /// By kind — tree: {species, site, region, sequestration_kg}; land: {site, region, area_m2};
    /// voucher: {merchant_id, face_value_fen, expires_at, terms}; donation: {beneficiary, unit_buys}.
    #[schema(value_type = Object)]
    details: Value,
}

/// `PATCH /v1/projects/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProjectPatch {
    /// `active` (reopen), `paused` or `ended` (for good).
    status: String,
}

/// A project.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProjectOut {
    /// Public id (`prj_…`).
    id: String,
    /// `tree`, `land`, `voucher` or `donation`.
    kind: String,
    /// Its title.
    title: String,
    /// The sponsor (`spn_…`).
    sponsor_id: String,
    /// The sponsor's name.
    sponsor: String,
    /// Energy per unit, in grams.
    price_grams: i64,
    /// Units on offer in all.
    stock: i64,
    /// Units redeemed (and not cancelled).
    sold: i64,
    /// Units left.
    available: i64,
    /// The most units one redemption may ask for.
    quantity_max: i64,
    /// Where it may be redeemed.
    regions: Vec<String>,
    /// When it opens (RFC 3339).
    starts_at: String,
    /// When it closes (RFC 3339).
    ends_at: String,
    /// `active`, `paused` or `ended`.
    status: String,
    /// Its kind's details.
    #[schema(value_type = Object)]
    details: Value,
    /// Energy citizens spent on it, in grams.
    energy_grams: i64,
    /// When it was created (RFC 3339).
    created_at: String,
}

/// `GET /v1/projects`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProjectsOut {
    /// The projects, oldest first.
    projects: Vec<ProjectOut>,
}

/// Query of `GET /v1/projects`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProjectsQuery {
    /// Only this kind (`tree`, `land`, `voucher`, `donation`).
    kind: Option<String>,
    /// Only those a citizen of this ISO 3166-2 region may redeem; a signed-in citizen's own region by default.
    region: Option<String>,
    /// Every project, open or not (the operator only).
    all: Option<bool>,
}

fn sponsor_out(s: SponsorRow) -> SponsorOut {
    SponsorOut {
        id: ids::sponsor(s.id),
        name: s.name,
        kind: s.kind.as_str().to_owned(),
        budget_units: s.budget_units,
        budget_fen: s.budget_fen,
        committed_units: s.committed_units,
        committed_fen: s.committed_fen,
        handed_out_units: s.handed_out_units,
        created_at: format_time(s.created_at),
    }
}

pub(crate) fn project_out(p: ProjectRow) -> ProjectOut {
    ProjectOut {
        id: ids::project(p.state.id),
        kind: p.state.kind.as_str().to_owned(),
        title: p.title,
        sponsor_id: ids::sponsor(p.sponsor_id),
        sponsor: p.sponsor_name,
        price_grams: p.state.price_grams,
        stock: p.state.stock,
        sold: p.state.sold,
        available: p.state.available(),
        quantity_max: p.state.kind.quantity_max(),
        regions: p.state.regions.clone(),
        starts_at: format_time(p.state.starts_at),
        ends_at: format_time(p.state.ends_at),
        status: p.state.status.as_str().to_owned(),
        details: serde_json::to_value(&p.details).unwrap_or(Value::Null),
        energy_grams: p.energy_grams,
        created_at: format_time(p.created_at),
    }
}

pub(crate) fn project_id(text: &str) -> Result<i64, ServiceError> {
    ids::parse_project(text)
        .ok_or_else(|| ServiceError::not_found("project_not_found", format!("there is no project `{text}`")))
}

/// Registers a sponsor with its budget.
#[utoipa::path(post, path = "/v1/sponsors", tag = "redemption", security(("admin" = [])), request_body = SponsorIn,
    responses((status = 201, body = SponsorOut), (status = 400, description = "invalid_sponsor", body = Problem),
              (status = 401, body = Problem), (status = 409, description = "sponsor_exists", body = Problem)))]
pub(crate) async fn create_sponsor(
    State(state): State<AppState>,
    _operator: Operator,
    JsonBody(body): JsonBody<SponsorIn>,
) -> ApiResult<(StatusCode, Json<SponsorOut>)> {
    let SponsorIn { name, kind, budget_units, budget_fen } = body;
    let sponsor = state.service.create_sponsor(NewSponsor { name, kind, budget_units, budget_fen }).await?;
    Ok((StatusCode::CREATED, Json(sponsor_out(sponsor))))
}

/// Every sponsor with its budget.
#[utoipa::path(get, path = "/v1/sponsors", tag = "redemption", security(("admin" = [])),
    responses((status = 200, body = SponsorsOut), (status = 401, body = Problem)))]
pub(crate) async fn list_sponsors(State(state): State<AppState>, _operator: Operator) -> ApiResult<Json<SponsorsOut>> {
    let sponsors = state.service.sponsors().await?;
    Ok(Json(SponsorsOut { sponsors: sponsors.into_iter().map(sponsor_out).collect() }))
}

/// Creates a project; its stock is allocated against the sponsor's budget.
#[utoipa::path(post, path = "/v1/projects", tag = "redemption", security(("admin" = [])), request_body = ProjectIn,
    responses((status = 201, body = ProjectOut), (status = 400, description = "invalid_project (the field named)", body = Problem),
              (status = 401, body = Problem), (status = 404, description = "sponsor_not_found", body = Problem),
              (status = 409, description = "sponsor_budget_exceeded", body = Problem)))]
pub(crate) async fn create_project(
    State(state): State<AppState>,
    _operator: Operator,
    JsonBody(body): JsonBody<ProjectIn>,
) -> ApiResult<(StatusCode, Json<ProjectOut>)> {
    let ProjectIn { kind, title, sponsor_id, price_grams, stock, regions, starts_at, ends_at, details } = body;
    let sponsor = ids::parse_sponsor(&sponsor_id)
        .ok_or_else(|| ServiceError::not_found("sponsor_not_found", format!("there is no sponsor `{sponsor_id}`")))?;
    let new = NewProject { kind, title, sponsor_id: sponsor, price_grams, stock, regions, starts_at, ends_at, details };
    let project = state.service.create_project(new).await?;
    Ok((StatusCode::CREATED, Json(project_out(project))))
}

/// What can be redeemed: open projects (of a kind, where a region's citizens may redeem them).
/// A signed-in citizen sees what they may redeem where they live; the operator may ask for `all`.
#[utoipa::path(get, path = "/v1/projects", tag = "redemption", params(ProjectsQuery),
    security((), ("session" = []), ("admin" = [])),
    responses((status = 200, body = ProjectsOut), (status = 400, description = "invalid_query", body = Problem),
              (status = 401, body = Problem), (status = 403, description = "operator_only (all=true)", body = Problem)))]
pub(crate) async fn list_projects(
    State(state): State<AppState>,
    viewer: Viewer,
    query: Result<Query<ProjectsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ProjectsOut>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let all = query.all.unwrap_or(false);
    if all && viewer != Viewer::Operator {
        let detail = "all=true lists closed projects: the operator's view";
        return Err(ServiceError::new(canopy_service::ErrorKind::Forbidden, "operator_only", detail).into());
    }
    let own_region = match (viewer, &query.region) {
        (Viewer::Citizen(user_id), None) => Some(state.service.account(user_id).await?.user.region),
        _ => None,
    };
    let region = query.region.as_deref().or(own_region.as_deref());
    let projects = state.service.projects(ProjectQuery { kind: query.kind.as_deref(), region, all }).await?;
    Ok(Json(ProjectsOut { projects: projects.into_iter().map(project_out).collect() }))
}

/// One project (public).
#[utoipa::path(get, path = "/v1/projects/{id}", tag = "redemption",
    params(("id" = String, Path, description = "The project's id (`prj_…`)")),
    responses((status = 200, body = ProjectOut), (status = 404, description = "project_not_found", body = Problem)))]
pub(crate) async fn get_project(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ProjectOut>> {
    let project = state.service.project(project_id(&id)?).await?;
    Ok(Json(project_out(project)))
}

/// Pauses, reopens or ends a project (an ended project stays ended).
#[utoipa::path(patch, path = "/v1/projects/{id}", tag = "redemption", security(("admin" = [])), request_body = ProjectPatch,
    params(("id" = String, Path, description = "The project's id (`prj_…`)")),
    responses((status = 200, body = ProjectOut), (status = 400, description = "invalid_status", body = Problem),
              (status = 401, body = Problem), (status = 404, description = "project_not_found", body = Problem),
              (status = 409, description = "project_ended", body = Problem)))]
pub(crate) async fn patch_project(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ProjectPatch>,
) -> ApiResult<Json<ProjectOut>> {
    let project = state.service.set_project_status(project_id(&id)?, &body.status).await?;
    Ok(Json(project_out(project)))
}
