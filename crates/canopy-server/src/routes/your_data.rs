//! A citizen's own data (PIPL): the profile, the export of everything
//! Canopy holds about them, and the deletion of their account.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use canopy_service::ProfileUpdate;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::Me;
use crate::auth::Citizen;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult, Problem};
use crate::routes::citizens::me_view;
use crate::AppState;

/// `PATCH /v1/me`: what is left out stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateProfile {
    /// 1 to 64 characters, shown to friends (checked as at sign-up).
    display_name: Option<String>,
    /// ISO 3166-2 home region such as `CN-BJ` (checked as at sign-up). Moving to another province while the
    /// account has a district of the old one is refused with `invalid_district` unless `district` is given too.
    region: Option<String>,
    /// District: a GB/T 2260 six-digit county-level code in the (new) region, such as `110108` (Haidian,
    /// Beijing), or null to clear it; left out, it stays.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    district: Option<Option<String>>,
}

/// A field that is present: `Some(None)` for null, `Some(Some(v))` for a
/// value (a missing field is `None` through `#[serde(default)]`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Changes the signed-in citizen's display name, region and/or district; answers as `GET /v1/me`.
#[utoipa::path(patch, path = "/v1/me", tag = "citizens", security(("session" = [])), request_body = UpdateProfile,
    responses((status = 200, body = Me), (status = 400, description = "invalid_display_name, invalid_region, invalid_district", body = Problem),
              (status = 401, body = Problem)))]
pub(crate) async fn update_me(
    State(state): State<AppState>,
    citizen: Citizen,
    JsonBody(body): JsonBody<UpdateProfile>,
) -> ApiResult<Json<Me>> {
    let update = ProfileUpdate { display_name: body.display_name, region: body.region, district: body.district };
    Ok(Json(me_view(state.service.update_profile(citizen.user_id, update).await?)))
}

/// Query of `GET /v1/me/export`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportQuery {
    /// `json` (the default) or `csv` (also chosen by `Accept: text/csv`).
    format: Option<String>,
}

/// The shape of `GET /v1/me/export` as JSON (the service's
/// `DataExport::to_json` writes it; this type only documents it).
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
pub(crate) struct DataExportOut {
    /// `canopy-export/1`.
    format: String,
    /// When the export was made (RFC 3339).
    generated_at: String,
    /// Section name (`profile`, `balances`, `ledger`, then one per table keyed by the citizen:
    /// `consents`, `partner_links`, `events`, `balls`, `friendships`, `friend_requests`, `blocks`, `privacy`,
    /// `redemptions`, `checkins`, `medals_awarded`, `energy_participants`, `energy_settlements`, `bill_vouchers`, …)
    /// → its records.
    sections: std::collections::BTreeMap<String, ExportSectionOut>,
}

/// One section of an export.
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
pub(crate) struct ExportSectionOut {
    /// One object per record: field → value (null, integer, boolean, text; a ledger entry's `event_inputs` is an object).
    #[schema(value_type = Vec<Object>)]
    records: Vec<serde_json::Value>,
    /// Whether the section was cut at 100 000 records.
    truncated: bool,
}

/// Everything Canopy holds about the signed-in citizen (PIPL), as a download: JSON, or with
/// `format=csv` (or `Accept: text/csv`) CSV with the header `section,record,field,value`, one row per
/// non-null field (RFC 4180 quoting).
#[utoipa::path(get, path = "/v1/me/export", tag = "citizens", security(("session" = [])), params(ExportQuery),
    responses((status = 200, description = "The export as an attachment: JSON, or CSV (`section,record,field,value`) with format=csv or `Accept: text/csv`",
                content((DataExportOut = "application/json"), (String = "text/csv"))),
              (status = 400, description = "invalid_query", body = Problem), (status = 401, body = Problem)))]
pub(crate) async fn export(
    State(state): State<AppState>,
    citizen: Citizen,
    headers: HeaderMap,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let wants_csv = match query.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::bad_request("invalid_query", format!("format `{other}` is not json or csv")))
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/csv"))),
    };
    let export = state.service.export_data(citizen.user_id).await?;
    Ok(download(&export, wants_csv))
}

/// An export as a download (JSON or CSV, `Content-Disposition: attachment`).
pub(crate) fn download(export: &canopy_service::DataExport, csv: bool) -> Response {
    if csv {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"canopy-export.csv\""),
            ],
            export.to_csv(),
        )
            .into_response()
    } else {
        ([(header::CONTENT_DISPOSITION, "attachment; filename=\"canopy-export.json\"")], Json(export.to_json()))
            .into_response()
    }
}

/// Deletes the signed-in citizen's account at once (PIPL): personal data erased, every session
/// ended, partner links and consents cut, friendships, requests and blocks removed; the ledger keeps
/// every entry under a pseudonym, so every total stays verifiable. The region (a province code) stays
/// for regional totals.
#[utoipa::path(delete, path = "/v1/me", tag = "citizens", security(("session" = [])),
    responses((status = 204, description = "deleted"), (status = 401, body = Problem)))]
pub(crate) async fn delete_me(State(state): State<AppState>, citizen: Citizen) -> ApiResult<StatusCode> {
    state.service.delete_account(citizen.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
