//! Reports per project and campaign (JSON or `?format=csv`), read by the
//! operator or by the paying sponsor with its read-only key; and the keys.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use canopy_service::{Report, ServiceError};
use canopy_store::ReportLine;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::projects::project_id;
use crate::auth::{Operator, Reader};
use crate::error::{ApiError, ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// Query of a report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReportQuery {
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// One line of a report.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReportLineOut {
    /// The region (ISO 3166-2) or the UTC day (YYYY-MM-DD).
    key: String,
    /// Units redeemed (a project) or contributions (a campaign).
    units: i64,
    /// Energy received, in grams.
    energy_grams: i64,
}

/// What a project or campaign received.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReportOut {
    /// `project` or `campaign`.
    subject: String,
    /// Its id (`prj_…` or `cmp_…`).
    id: String,
    /// Its title.
    title: String,
    /// Its sponsor (`spn_…`).
    sponsor_id: String,
    /// Units redeemed, or contributions made (cancelled redemptions left out).
    units: i64,
    /// Energy received, in grams.
    energy_grams: i64,
    /// Citizens who redeemed or gave.
    participants: i64,
    /// By the citizens' region.
    by_region: Vec<ReportLineOut>,
    /// By UTC day.
    by_day: Vec<ReportLineOut>,
}

/// A sponsor's new key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SponsorKeyOut {
    /// The key's id.
    id: i64,
    /// The key (`spk_…`), shown once: send it as `Authorization: Bearer <key>` to read the sponsor's reports.
    key: String,
}

fn lines(lines: Vec<ReportLine>) -> Vec<ReportLineOut> {
    lines.into_iter().map(|l| ReportLineOut { key: l.key, units: l.units, energy_grams: l.energy_grams }).collect()
}

fn answer(report: Report, query: ReportQuery) -> ApiResult<Response> {
    match query.format.as_deref() {
        None | Some("json") => {
            let id = if report.subject == "project" { ids::project(report.id) } else { ids::campaign(report.id) };
            Ok(Json(ReportOut {
                subject: report.subject.to_owned(),
                id,
                title: report.title,
                sponsor_id: ids::sponsor(report.sponsor_id),
                units: report.row.units,
                energy_grams: report.row.energy_grams,
                participants: report.row.participants,
                by_region: lines(report.row.by_region),
                by_day: lines(report.row.by_day),
            })
            .into_response())
        }
        Some("csv") => Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], report.to_csv()).into_response()),
        Some(other) => Err(ApiError::bad_request("invalid_query", format!("format `{other}` is not json or csv"))),
    }
}

fn query(query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>) -> ApiResult<ReportQuery> {
    query.map(|Query(q)| q).map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
}

/// What a project received: units and energy, by region and by day (JSON, or CSV with `format=csv`).
#[utoipa::path(get, path = "/v1/projects/{id}/report", tag = "redemption", security(("admin" = []), ("sponsor_key" = [])),
    params(("id" = String, Path, description = "The project's id (`prj_…`)"), ReportQuery),
    responses((status = 200, body = ReportOut, description = "The report (text/csv with format=csv)"),
              (status = 401, body = Problem), (status = 403, description = "not_your_report", body = Problem),
              (status = 404, description = "project_not_found", body = Problem)))]
pub(crate) async fn project_report(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
    q: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let report = state.service.project_report(reader.0, project_id(&id)?).await?;
    answer(report, q)
}

/// What a campaign received: contributions and energy, by region and by day (JSON, or CSV with `format=csv`).
#[utoipa::path(get, path = "/v1/campaigns/{id}/report", tag = "redemption", security(("admin" = []), ("sponsor_key" = [])),
    params(("id" = String, Path, description = "The campaign's id (`cmp_…`)"), ReportQuery),
    responses((status = 200, body = ReportOut, description = "The report (text/csv with format=csv)"),
              (status = 401, body = Problem), (status = 403, description = "not_your_report", body = Problem),
              (status = 404, description = "campaign_not_found", body = Problem)))]
pub(crate) async fn campaign_report(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
    q: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let report = state.service.campaign_report(reader.0, super::campaigns::campaign_id(&id)?).await?;
    answer(report, q)
}

/// Issues a sponsor a read-only key for its reports (shown once).
#[utoipa::path(post, path = "/v1/sponsors/{id}/keys", tag = "redemption", security(("admin" = [])),
    params(("id" = String, Path, description = "The sponsor's id (`spn_…`)")),
    responses((status = 201, body = SponsorKeyOut), (status = 401, body = Problem),
              (status = 404, description = "sponsor_not_found", body = Problem)))]
pub(crate) async fn issue_key(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<SponsorKeyOut>)> {
    let sponsor = ids::parse_sponsor(&id)
        .ok_or_else(|| ServiceError::not_found("sponsor_not_found", format!("there is no sponsor `{id}`")))?;
    let (id, key) = state.service.issue_sponsor_key(sponsor).await?;
    Ok((StatusCode::CREATED, Json(SponsorKeyOut { id, key })))
}
