//! Household power saving, the utility partner's side: meters and their
//! 15-minute readings (signed like every partner request).

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::Json;
use canopy_service::ReadingWire;
use canopy_store::format_time;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::PartnerCaller;
use crate::body::{parse_json, RawBody};
use crate::error::{ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// `POST /v1/partner/meters`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MeterIn {
    /// The partner's reference of a household that linked it and granted `housing`.
    user_ref: String,
    /// The partner's id for the meter (1 to 128 bytes).
    meter_id: String,
    /// Where the meter is (ISO 3166-2).
    region: String,
}

/// A registered meter.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MeterOut {
    /// The partner's id for it.
    meter_id: String,
    /// The household (`usr_…`).
    user_id: String,
    /// Where it is.
    region: String,
    /// When it was registered (RFC 3339).
    registered_at: String,
}

/// One 15-minute reading.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadingIn {
    /// The partner's meter id.
    meter_id: String,
    /// The interval's start: RFC 3339, on a 15-minute boundary, ended by now.
    start: String,
    /// kWh drawn in the interval, not negative, to the Wh (at most three decimals).
    #[schema(value_type = f64)]
    kwh: serde_json::Number,
    /// `actual` or `estimated` (an actual supersedes an estimate).
    quality: String,
}

/// `POST /v1/partner/meter-readings`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadingBatch {
    /// At most 50,000 readings.
    readings: Vec<ReadingIn>,
}

/// What became of one reading.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReadingOut {
    /// The meter, as sent.
    meter_id: String,
    /// The interval's start, as sent.
    start: String,
    /// `stored`, `duplicate` (nothing changed), `superseded` (it replaced an estimate, which is kept) or `rejected`.
    outcome: String,
    /// Why it was rejected: `meter_unknown`, `misaligned_interval`, `negative_reading`, `invalid_reading`,
    /// `invalid_quality`, `occurred_in_future`, `reading_conflict`, `consent_missing`, `consent_revoked`, `scope_not_granted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    /// What the code means.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// The results of a batch, in order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReadingResults {
    /// One a reading, in the order sent.
    results: Vec<ReadingOut>,
}

/// `POST /v1/partner/bills`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BillIn {
    /// The partner's reference of a household that linked it and granted `housing`.
    user_ref: String,
    /// The month billed (`YYYY-MM`), not after the current one.
    month: String,
    /// kWh billed, to the Wh.
    #[schema(value_type = f64)]
    kwh: serde_json::Number,
    /// The amount billed, in fen.
    amount_fen: i64,
}

/// A bill as recorded, and how it compares with the same month a year earlier.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BillOut {
    /// The household (`usr_…`).
    user_id: String,
    /// The month (`YYYY-MM`).
    month: String,
    /// kWh billed.
    #[schema(value_type = f64)]
    kwh: serde_json::Number,
    /// The amount, fen.
    amount_fen: i64,
    /// What the same month a year earlier was billed, fen, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    year_ago_amount_fen: Option<i64>,
    /// How much less than a year earlier, fen (0 when not less), if a year earlier was billed.
    #[serde(skip_serializing_if = "Option::is_none")]
    decrease_fen: Option<i64>,
    /// The decrease as a percentage of a year earlier, to a tenth, if a year earlier was billed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    decrease_pct: Option<serde_json::Number>,
    /// The year-on-year voucher the decrease earned the household, if a program pays one (its code goes to the
    /// household, not here).
    #[serde(skip_serializing_if = "Option::is_none")]
    voucher: Option<BillVoucherEarnedOut>,
}

/// The voucher a bill earned.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BillVoucherEarnedOut {
    /// The program paying it (`prg_…`).
    program_id: String,
    /// What the decrease earned, fen.
    earned_fen: i64,
    /// Its value, fen: what the program's pool paid (less than earned when the pool ran short).
    face_value_fen: i64,
    /// kWh less than a year earlier.
    kwh_decrease: f64,
    /// Grams of CO2e verified for the kWh decrease.
    carbon_grams: i64,
}

/// Records a household's monthly bill; the same bill again is answered 200, other figures for a billed month 409.
#[utoipa::path(post, path = "/v1/partner/bills", tag = "energy", security(("partner_signature" = [])), request_body = BillIn,
    responses((status = 201, body = BillOut), (status = 200, body = BillOut, description = "the same bill, sent before"),
              (status = 400, description = "invalid_bill", body = Problem),
              (status = 401, description = "bad_signature, stale_timestamp, replayed_request", body = Problem),
              (status = 403, description = "category_not_allowed (not a housing partner)", body = Problem),
              (status = 409, description = "bill_conflict", body = Problem),
              (status = 422, description = "consent_missing, consent_revoked, scope_not_granted", body = Problem)))]
pub(crate) async fn bill(
    State(state): State<AppState>,
    caller: PartnerCaller,
    method: Method,
    uri: Uri,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<BillOut>)> {
    let signed = caller.verify(&state, &method, &uri, &body).await?;
    let bill: BillIn = parse_json(&body)?;
    let view = state
        .service
        .record_bill(&signed.partner, &bill.user_ref, &bill.month, &bill.kwh.to_string(), bill.amount_fen)
        .await?;
    let yoy = view.year_on_year;
    let pct = yoy.map(|y| {
        let tenths = y.decrease_milli;
        format!("{}.{}", tenths / 10, tenths % 10).parse().expect("a decimal is a JSON number")
    });
    let status = if view.new { StatusCode::CREATED } else { StatusCode::OK };
    Ok((
        status,
        Json(BillOut {
            user_id: ids::user(view.user_id),
            month: view.bill.month.format("%Y-%m").to_string(),
            kwh: bill.kwh,
            amount_fen: view.bill.amount_fen,
            year_ago_amount_fen: yoy.map(|y| y.year_ago_fen),
            decrease_fen: yoy.map(|y| y.decrease_fen),
            decrease_pct: pct,
            voucher: view.voucher.map(|v| BillVoucherEarnedOut {
                program_id: ids::program(v.program_id),
                earned_fen: v.earned_fen,
                face_value_fen: v.face_value_fen,
                kwh_decrease: v.decrease_wh as f64 / 1000.0,
                carbon_grams: v.carbon_grams,
            }),
        }),
    ))
}

/// Registers a household's smart meter (again for the same household: the same answer, 200).
#[utoipa::path(post, path = "/v1/partner/meters", tag = "energy", security(("partner_signature" = [])), request_body = MeterIn,
    responses((status = 201, body = MeterOut), (status = 200, body = MeterOut, description = "registered before"),
              (status = 400, description = "invalid_meter_id, invalid_region, invalid_user_ref", body = Problem),
              (status = 401, description = "bad_signature, stale_timestamp, replayed_request", body = Problem),
              (status = 403, description = "category_not_allowed (not a housing partner)", body = Problem),
              (status = 409, description = "meter_registered (to another household)", body = Problem),
              (status = 422, description = "consent_missing, consent_revoked, scope_not_granted", body = Problem)))]
pub(crate) async fn register(
    State(state): State<AppState>,
    caller: PartnerCaller,
    method: Method,
    uri: Uri,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<MeterOut>)> {
    let signed = caller.verify(&state, &method, &uri, &body).await?;
    let meter: MeterIn = parse_json(&body)?;
    let (row, new) =
        state.service.register_meter(&signed.partner, &meter.user_ref, &meter.meter_id, &meter.region).await?;
    let status = if new { StatusCode::CREATED } else { StatusCode::OK };
    Ok((
        status,
        Json(MeterOut {
            meter_id: row.meter_id,
            user_id: ids::user(row.user_id),
            region: row.region,
            registered_at: format_time(row.registered_at),
        }),
    ))
}

/// Sends 15-minute readings, up to 50,000 a batch; each gets its own outcome. Idempotent per (meter, interval).
#[utoipa::path(post, path = "/v1/partner/meter-readings", tag = "energy", security(("partner_signature" = [])),
    request_body = ReadingBatch,
    responses((status = 200, body = ReadingResults), (status = 400, description = "malformed_body", body = Problem),
              (status = 401, description = "bad_signature, stale_timestamp, replayed_request", body = Problem),
              (status = 403, description = "category_not_allowed (not a housing partner)", body = Problem),
              (status = 413, description = "batch_too_large, body_too_large", body = Problem)))]
pub(crate) async fn readings(
    State(state): State<AppState>,
    caller: PartnerCaller,
    method: Method,
    uri: Uri,
    RawBody(body): RawBody,
) -> ApiResult<Json<ReadingResults>> {
    let signed = caller.verify(&state, &method, &uri, &body).await?;
    let batch: ReadingBatch = parse_json(&body)?;
    let echoes: Vec<(String, String)> = batch.readings.iter().map(|r| (r.meter_id.clone(), r.start.clone())).collect();
    let wire = batch
        .readings
        .into_iter()
        .map(|r| ReadingWire { meter_id: r.meter_id, start: r.start, kwh: r.kwh.to_string(), quality: r.quality })
        .collect();
    let results = state.service.ingest_readings(&signed.partner, wire).await?;
    Ok(Json(ReadingResults {
        results: echoes
            .into_iter()
            .zip(results)
            .map(|((meter_id, start), r)| ReadingOut {
                meter_id,
                start,
                outcome: r.outcome.to_owned(),
                code: r.code.map(str::to_owned),
                message: r.message,
            })
            .collect(),
    }))
}
