//! Voucher codes: the sponsor's codes uploaded by the operator (JSON or
//! CSV), and a merchant (a partner, signed) accepting a code at the till.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Json;
use canopy_store::format_time;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::projects::project_id;
use crate::auth::{Operator, PartnerCaller};
use crate::body::{is_json, media_type, parse_json, unsupported, RawBody};
use crate::error::{ApiError, ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// `POST /v1/projects/{id}/voucher-codes` as JSON (or the bare array of codes, or `text/csv`: one code a line, an optional `code` header).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CodesIn {
    /// 1 to 10,000 codes, each 4 to 64 letters, digits, `-` or `_`, new everywhere.
    codes: Vec<String>,
}

/// What an upload added.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CodesOut {
    /// Codes added.
    added: i64,
    /// The project's stock afterwards.
    stock: i64,
}

/// `POST /v1/partner/vouchers/redeem`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VoucherIn {
    /// The code the citizen shows.
    code: String,
}

/// A voucher the merchant accepted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VoucherOut {
    /// The code.
    code: String,
    /// Its face value, in fen.
    face_value_fen: i64,
    /// Its project (`prj_…`); none for a year-on-year bill voucher.
    project_id: Option<String>,
    /// The power-saving program that paid a year-on-year bill voucher (`prg_…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    program_id: Option<String>,
    /// When it was accepted (RFC 3339).
    used_at: String,
}

/// Codes from a JSON body: `{"codes": […]}`, or the bare array.
fn json_codes(body: &[u8]) -> Result<Vec<String>, ApiError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Codes {
        Wrapped(CodesIn),
        Bare(Vec<String>),
    }
    Ok(match parse_json::<Codes>(body)? {
        Codes::Wrapped(wrapped) => wrapped.codes,
        Codes::Bare(codes) => codes,
    })
}

/// Codes from a CSV body: one a line (the first column), blank lines
/// skipped, an optional `code` header.
fn csv_codes(body: &[u8]) -> Result<Vec<String>, ApiError> {
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request("malformed_body", "the CSV is not UTF-8"))?;
    let mut codes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let first = line.split(',').next().unwrap_or("").trim().trim_matches('"');
        if first.is_empty() || (i == 0 && first.eq_ignore_ascii_case("code")) {
            continue;
        }
        codes.push(first.to_owned());
    }
    Ok(codes)
}

/// Uploads a voucher project's codes (JSON `{codes}` or `text/csv`), all or none; each adds one unit of stock.
#[utoipa::path(post, path = "/v1/projects/{id}/voucher-codes", tag = "redemption", security(("admin" = [])),
    request_body(content(
        (CodesIn = "application/json"),
        (String = "text/csv")
    )),
    params(("id" = String, Path, description = "The voucher project's id (`prj_…`)")),
    responses((status = 201, body = CodesOut), (status = 400, description = "invalid_codes", body = Problem),
              (status = 401, body = Problem), (status = 404, description = "project_not_found", body = Problem),
              (status = 409, description = "voucher_code_exists, not_a_voucher_project, project_ended, sponsor_budget_exceeded", body = Problem)))]
pub(crate) async fn upload_codes(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<CodesOut>)> {
    let project = project_id(&id)?;
    let codes = match media_type(&headers).as_deref() {
        Some("text/csv") => csv_codes(&body)?,
        None => json_codes(&body)?,
        Some(json) if is_json(json) => json_codes(&body)?,
        Some(other) => return Err(unsupported(other, "application/json or text/csv")),
    };
    let done = state.service.upload_voucher_codes(project, codes).await?;
    Ok((StatusCode::CREATED, Json(CodesOut { added: done.added, stock: done.stock })))
}

/// A merchant accepts a voucher at the till: once, only its own, only an issued one, before it expires.
#[utoipa::path(post, path = "/v1/partner/vouchers/redeem", tag = "partners", security(("partner_signature" = [])),
    request_body = VoucherIn,
    responses((status = 200, body = VoucherOut), (status = 400, description = "malformed_body", body = Problem),
              (status = 401, description = "bad_signature, stale_timestamp, replayed_request", body = Problem),
              (status = 403, description = "voucher_wrong_merchant", body = Problem),
              (status = 404, description = "voucher_unknown", body = Problem),
              (status = 409, description = "voucher_used, voucher_expired, voucher_cancelled", body = Problem)))]
pub(crate) async fn redeem_voucher(
    State(state): State<AppState>,
    caller: PartnerCaller,
    method: Method,
    uri: Uri,
    RawBody(body): RawBody,
) -> ApiResult<Json<VoucherOut>> {
    let signed = caller.verify(&state, &method, &uri, &body).await?;
    let voucher: VoucherIn = parse_json(&body)?;
    let accepted = state.service.accept_voucher(signed.partner.id, &voucher.code).await?;
    Ok(Json(VoucherOut {
        code: voucher.code,
        face_value_fen: accepted.face_value_fen,
        project_id: accepted.program_id.is_none().then(|| ids::project(accepted.project_id)),
        program_id: accepted.program_id.map(ids::program),
        used_at: format_time(accepted.used_at),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_takes_the_first_column_and_skips_a_header_and_blank_lines() {
        let codes = super::csv_codes(b"code,note\nAAAA-1,first\n\n\"BBBB-2\"\r\nCCCC-3").unwrap();
        assert_eq!(codes, ["AAAA-1", "BBBB-2", "CCCC-3"]);
    }
}
