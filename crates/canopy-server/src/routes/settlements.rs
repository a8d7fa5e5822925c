//! Settling power-saving events: the operator settles at once and reads an
//! event's report (JSON or `?format=csv`); a household reads its
//! settlements, each with the baseline, the actuals and the days used.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use canopy_core::energy::readings::start_of;
use canopy_service::{EventReport, ServiceError};
use canopy_store::{format_time, SettlementRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::energy::{event_out, EventOut};
use crate::auth::{Citizen, Operator};
use crate::error::{ApiError, ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// The most households a report page lists.
const REPORT_PAGE_MAX: i64 = 1_000;
/// The most households a CSV report holds.
const REPORT_CSV_MAX: i64 = 1_000_000;

/// One interval of a settlement.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IntervalOut {
    /// Its start (RFC 3339).
    start: String,
    /// What the household would have drawn, kWh (none without a baseline).
    baseline_kwh: Option<f64>,
    /// What it drew, kWh (none if no reading arrived).
    actual_kwh: Option<f64>,
}

/// A household's settlement of an event.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SettlementOut {
    /// Public id (`stl_…`).
    id: String,
    /// The event (`dre_…`).
    event_id: String,
    /// The program's name.
    program: String,
    /// The meter (the utility's id).
    meter_id: String,
    /// `settled`, `no_baseline` (too little history: nothing is guessed) or `consent_revoked` (nothing settled).
    status: String,
    /// Why there is no saving, when there is a reason (`insufficient_history`, `consent_revoked`).
    code: Option<String>,
    /// The baseline method and its version (`mean_10_of_10@1`).
    method: String,
    /// The days the baseline averaged (YYYY-MM-DD), most recent first.
    days_used: Vec<String>,
    /// The day-of adjustment applied (1.0: none).
    adjustment: f64,
    /// Per 15-minute interval: baseline against actual.
    intervals: Vec<IntervalOut>,
    /// Whether every interval had an actual reading.
    complete: bool,
    /// kWh saved: Σ max(0, baseline − actual).
    saving_kwh: f64,
    /// What the saving earns at the program's rate, fen.
    reward_fen: i64,
    /// What was paid, fen (less than `reward_fen` when the pool was short: pro rata, rounded down).
    paid_fen: i64,
    /// Grams of CO2e verified for the saving.
    carbon_grams: i64,
    /// The methodology (`id@version`) that verified it.
    methodology: Option<String>,
    /// How many times its figures changed (late or corrected data).
    version: i64,
    /// When its figures last changed (RFC 3339).
    settled_at: String,
}

/// `GET /v1/me/energy/settlements`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SettlementsOut {
    /// Newest event first.
    settlements: Vec<SettlementOut>,
}

/// The households of an event, counted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HouseholdCounts {
    /// Targeted (with a meter).
    targeted: i64,
    /// Invited.
    invited: i64,
    /// Taking part: answered `in`, or did not answer under `default_in`.
    opted_in: i64,
    /// Answered `out`.
    opted_out: i64,
    /// Responding: saved something.
    responding: i64,
    /// Settled with a baseline.
    settled: i64,
    /// Without a baseline (too little history).
    no_baseline: i64,
    /// Whose consent was revoked (nothing settled).
    consent_revoked: i64,
    /// Whose data was complete.
    complete_data: i64,
}

/// An event's report.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventReportOut {
    /// The event.
    event: EventOut,
    /// The program's name.
    program: String,
    /// Households.
    households: HouseholdCounts,
    /// kWh saved in all.
    saving_kwh: f64,
    /// The peak reduced, kW: the largest interval's saving × 4.
    peak_kw_reduced: f64,
    /// The saving of all households per interval.
    intervals: Vec<IntervalSaving>,
    /// What the savings earn at the program's rate, fen.
    reward_fen: i64,
    /// What was paid, fen.
    paid_fen: i64,
    /// What was paid, yuan.
    yuan_paid: f64,
    /// Whether the pool was short, so rewards were paid pro rata (rounded down to the fen).
    pro_rata: bool,
    /// Grams of CO2e verified.
    carbon_grams: i64,
    /// Where the emission factors come from.
    emission_factor_source: String,
    /// Per household, in meter order.
    results: Vec<SettlementOut>,
    /// Pass as `cursor` for the next page of `results`.
    next_cursor: Option<String>,
}

/// One interval's saving over all households.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IntervalSaving {
    /// Its start (RFC 3339).
    start: String,
    /// kWh saved.
    saving_kwh: f64,
}

/// Query of an event's report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventReportQuery {
    /// `json` (default) or `csv` (every household).
    format: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Households per page: 1 to 1000, default 100.
    limit: Option<i64>,
}

fn kwh(wh: i64) -> f64 {
    wh as f64 / 1000.0
}

fn settlement_out(s: SettlementRow) -> SettlementOut {
    let intervals = s
        .actual
        .iter()
        .enumerate()
        .map(|(i, actual)| IntervalOut {
            start: format_time(start_of(s.start_slot + i as i64)),
            baseline_kwh: s.baseline.get(i).map(|b| kwh(*b)),
            actual_kwh: actual.map(kwh),
        })
        .collect();
    SettlementOut {
        id: ids::settlement(s.id),
        event_id: ids::energy_event(s.event_id),
        program: s.program,
        meter_id: s.meter_id,
        status: s.status,
        code: s.code,
        method: s.method,
        days_used: s.days_used,
        adjustment: s.adjustment_milli as f64 / 1000.0,
        intervals,
        complete: s.complete,
        saving_kwh: kwh(s.saving_wh),
        reward_fen: s.reward_fen,
        paid_fen: s.paid_fen,
        carbon_grams: s.carbon_grams,
        methodology: s.methodology,
        version: s.version,
        settled_at: format_time(s.settled_at),
    }
}

/// Whether a report's `format` asks for CSV (`json`, the default, or `csv`).
fn wants_csv(format: Option<&str>) -> ApiResult<bool> {
    match format {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(other) => Err(ApiError::bad_request("invalid_query", format!("format `{other}` is not json or csv"))),
    }
}

fn event_id(id: &str) -> ApiResult<i64> {
    Ok(ids::parse_energy_event(id)
        .ok_or_else(|| ServiceError::not_found("event_not_found", format!("there is no event `{id}`")))?)
}

/// Settles an ended event now, on the meter data that has arrived (again, if it was settled: differences are paid
/// or returned as correcting entries).
#[utoipa::path(post, path = "/v1/energy/events/{id}/settle", tag = "energy", security(("admin" = [])),
    params(("id" = String, Path, description = "The event's id (`dre_…`)")),
    responses((status = 200, body = EventOut), (status = 401, body = Problem),
              (status = 404, description = "event_not_found", body = Problem),
              (status = 409, description = "event_not_ended, settlement_raced", body = Problem)))]
pub(crate) async fn settle_event(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Json<EventOut>> {
    let run = state.service.settle_energy_event(event_id(&id)?).await?;
    Ok(Json(event_out(run.event, state.service.now())))
}

/// An event's figures: households invited, taking part and responding; kWh saved, peak kW reduced, yuan paid,
/// carbon; and its households' results (JSON, paged; or every household as CSV with `format=csv`).
#[utoipa::path(get, path = "/v1/energy/events/{id}/report", tag = "energy", security(("admin" = [])),
    params(("id" = String, Path, description = "The event's id (`dre_…`)"), EventReportQuery),
    responses((status = 200, body = EventReportOut, description = "The report (text/csv with format=csv)"),
              (status = 400, description = "invalid_query", body = Problem), (status = 401, body = Problem),
              (status = 404, description = "event_not_found", body = Problem)))]
pub(crate) async fn event_report(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
    q: Result<Query<EventReportQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let id = event_id(&id)?;
    let csv = wants_csv(q.format.as_deref())?;
    let after = match q.cursor.as_deref() {
        None => 0,
        Some(c) => {
            c.parse::<i64>().map_err(|_| ApiError::bad_request("invalid_cursor", "cursor is not one we gave"))?
        }
    };
    let limit = match (csv, q.limit) {
        (true, _) => REPORT_CSV_MAX,
        (false, None) => 100,
        (false, Some(n)) if (1..=REPORT_PAGE_MAX).contains(&n) => n,
        (false, Some(_)) => {
            return Err(ApiError::bad_request("invalid_query", format!("limit must be 1 to {REPORT_PAGE_MAX}")))
        }
    };
    let report = state.service.energy_event_report(id, after, limit).await?;
    if csv {
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], report_csv(&report)).into_response());
    }
    let now = state.service.now();
    let EventReport { event, program, taking_part, totals, interval_savings, households, next_cursor } = report;
    let peak_w = canopy_core::energy::settlement::peak_w(&interval_savings);
    let start_slot = event.start_slot;
    let counts = HouseholdCounts {
        targeted: event.participants,
        invited: event.invited,
        opted_in: taking_part,
        opted_out: event.answered_out,
        responding: totals.saving,
        settled: totals.settled,
        no_baseline: totals.no_baseline,
        consent_revoked: totals.consent_revoked,
        complete_data: totals.complete,
    };
    Ok(Json(EventReportOut {
        event: event_out(event, now),
        program: program.name,
        households: counts,
        saving_kwh: kwh(totals.saving_wh),
        peak_kw_reduced: kwh(peak_w),
        intervals: interval_savings
            .iter()
            .enumerate()
            .map(|(i, wh)| IntervalSaving { start: format_time(start_of(start_slot + i as i64)), saving_kwh: kwh(*wh) })
            .collect(),
        reward_fen: totals.reward_fen,
        paid_fen: totals.paid_fen,
        yuan_paid: totals.paid_fen as f64 / 100.0,
        pro_rata: totals.paid_fen < totals.reward_fen,
        carbon_grams: totals.carbon_grams,
        emission_factor_source: program.emission_factor_source,
        results: households.into_iter().map(settlement_out).collect(),
        next_cursor: next_cursor.map(|c| c.to_string()),
    })
    .into_response())
}

fn report_csv(report: &EventReport) -> String {
    let mut out = String::from(
        "event_id,user_id,meter_id,status,code,method,days_used,saving_kwh,reward_fen,paid_fen,carbon_grams,complete\n",
    );
    for h in &report.households {
        let field = |text: &str| {
            if text.contains([',', '"', '\n']) {
                format!("\"{}\"", text.replace('"', "\"\""))
            } else {
                text.to_owned()
            }
        };
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{:.3},{},{},{},{}\n",
            ids::energy_event(h.event_id),
            ids::user(h.user_id),
            field(&h.meter_id),
            h.status,
            h.code.as_deref().unwrap_or(""),
            h.method,
            h.days_used.join(" "),
            kwh(h.saving_wh),
            h.reward_fen,
            h.paid_fen,
            h.carbon_grams,
            h.complete
        ));
    }
    out
}

/// Your settlements of power-saving events, newest first: what you saved against your baseline and what it paid.
#[utoipa::path(get, path = "/v1/me/energy/settlements", tag = "energy", security(("session" = [])),
    responses((status = 200, body = SettlementsOut), (status = 401, body = Problem)))]
pub(crate) async fn my_settlements(State(state): State<AppState>, citizen: Citizen) -> ApiResult<Json<SettlementsOut>> {
    let rows = state.service.my_settlements(citizen.user_id).await?;
    Ok(Json(SettlementsOut { settlements: rows.into_iter().map(settlement_out).collect() }))
}

/// One of your settlements, with the baseline and the actuals of every interval and the days the baseline used.
#[utoipa::path(get, path = "/v1/me/energy/settlements/{id}", tag = "energy", security(("session" = [])),
    params(("id" = String, Path, description = "The settlement's id (`stl_…`)")),
    responses((status = 200, body = SettlementOut), (status = 401, body = Problem),
              (status = 404, description = "settlement_not_found", body = Problem)))]
pub(crate) async fn my_settlement(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(id): Path<String>,
) -> ApiResult<Json<SettlementOut>> {
    let id = ids::parse_settlement(&id)
        .ok_or_else(|| ServiceError::not_found("settlement_not_found", format!("there is no settlement `{id}`")))?;
    Ok(Json(settlement_out(state.service.my_settlement(citizen.user_id, id).await?)))
}

/// A year-on-year bill voucher.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BillVoucherOut {
    /// The code to show at a participating shop (none when the program's pool could pay nothing).
    code: Option<String>,
    /// The program that paid it (`prg_…`).
    program_id: String,
    /// The bill's month (`YYYY-MM`).
    month: String,
    /// Its value, fen.
    face_value_fen: i64,
    /// How much less the bill was than the same month a year earlier, fen.
    decrease_fen: i64,
    /// kWh less than a year earlier.
    kwh_decrease: f64,
    /// Grams of CO2e verified for the kWh decrease.
    carbon_grams: i64,
    /// `unused`, `used` or `expired` (or `unfunded`: no value, no code).
    status: String,
    /// When it was issued (RFC 3339).
    issued_at: String,
    /// Until when shops accept it (RFC 3339).
    expires_at: String,
    /// When a shop took it (RFC 3339).
    used_at: Option<String>,
}

/// `GET /v1/me/energy/vouchers`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BillVouchersOut {
    /// Newest month first.
    vouchers: Vec<BillVoucherOut>,
}

/// Your year-on-year bill vouchers: what a lower electricity bill than a year before earned you, to spend at
/// the program's shops.
#[utoipa::path(get, path = "/v1/me/energy/vouchers", tag = "energy", security(("session" = [])),
    responses((status = 200, body = BillVouchersOut), (status = 401, body = Problem)))]
pub(crate) async fn my_vouchers(State(state): State<AppState>, citizen: Citizen) -> ApiResult<Json<BillVouchersOut>> {
    let now = state.service.now();
    let rows = state.service.my_bill_vouchers(citizen.user_id).await?;
    let vouchers = rows
        .into_iter()
        .map(|v| {
            let status = match (&v.code, &v.used_at) {
                (None, _) => "unfunded",
                (_, Some(_)) => "used",
                _ if canopy_core::time::parse_rfc3339_utc(&v.expires_at).is_some_and(|at| at <= now) => "expired",
                _ => "unused",
            };
            BillVoucherOut {
                code: v.code,
                program_id: ids::program(v.program_id),
                month: v.month,
                face_value_fen: v.face_value_fen,
                decrease_fen: v.decrease_fen,
                kwh_decrease: kwh(v.decrease_wh),
                carbon_grams: v.carbon_grams,
                status: status.to_owned(),
                issued_at: v.issued_at,
                expires_at: v.expires_at,
                used_at: v.used_at,
            }
        })
        .collect();
    Ok(Json(BillVouchersOut { vouchers }))
}

/// One event's figures in a program's report.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProgramEventOut {
    /// The event (`dre_…`).
    event_id: String,
    /// Its start (RFC 3339).
    start: String,
    /// Its end (RFC 3339).
    end: String,
    /// Where its settlement stands.
    settlement: String,
    /// Households invited.
    invited: i64,
    /// Households taking part.
    opted_in: i64,
    /// Households that saved something.
    responding: i64,
    /// kWh saved.
    saving_kwh: f64,
    /// Peak reduced, kW (the largest interval's saving × 4).
    peak_kw_reduced: f64,
    /// Fen paid.
    paid_fen: i64,
    /// Grams of CO2e verified.
    carbon_grams: i64,
}

/// A program's year-on-year bill vouchers, counted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProgramVouchersOut {
    /// Vouchers issued with a value.
    issued: i64,
    /// Their value, fen.
    face_value_fen: i64,
    /// Of it, spent at shops, fen.
    spent_fen: i64,
    /// Grams of CO2e verified for the kWh decreases.
    carbon_grams: i64,
}

/// One event of a household's history in a program.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HouseholdEventOut {
    /// The settlement (`stl_…`).
    settlement_id: String,
    /// The event (`dre_…`).
    event_id: String,
    /// The event's start (RFC 3339).
    start: String,
    /// `settled`, `no_baseline` or `consent_revoked`.
    status: String,
    /// kWh saved.
    saving_kwh: f64,
    /// Fen paid.
    paid_fen: i64,
    /// Grams of CO2e verified.
    carbon_grams: i64,
}

/// A program's report.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProgramReportOut {
    /// The program (`prg_…`).
    program_id: String,
    /// Its name.
    name: String,
    /// Events.
    events_count: i64,
    /// Households invited, over its events.
    invited: i64,
    /// Households taking part, over its events.
    opted_in: i64,
    /// Households that saved something, over its events.
    responding: i64,
    /// kWh saved.
    saving_kwh: f64,
    /// The largest peak reduced of its events, kW.
    peak_kw_reduced: f64,
    /// Fen paid.
    paid_fen: i64,
    /// Yuan paid.
    yuan_paid: f64,
    /// Grams of CO2e verified.
    carbon_grams: i64,
    /// Where the emission factors come from.
    emission_factor_source: String,
    /// Each event, oldest first.
    events: Vec<ProgramEventOut>,
    /// Its year-on-year bill vouchers.
    bill_vouchers: ProgramVouchersOut,
    /// With `user_id`: that household's history in the program, newest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    household: Option<Vec<HouseholdEventOut>>,
}

/// Query of a program's report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProgramReportQuery {
    /// `json` (default) or `csv` (one line an event).
    format: Option<String>,
    /// A household (`usr_…`) whose history in the program to include.
    user_id: Option<String>,
}

/// A program's figures: per event and in all, households invited, taking part and responding, kWh saved, peak kW
/// reduced, yuan paid and carbon; its bill vouchers; and, with `user_id`, one household's history (JSON, or one
/// line an event as CSV with `format=csv`).
#[utoipa::path(get, path = "/v1/energy/programs/{id}/report", tag = "energy", security(("admin" = [])),
    params(("id" = String, Path, description = "The program's id (`prg_…`)"), ProgramReportQuery),
    responses((status = 200, body = ProgramReportOut, description = "The report (text/csv with format=csv)"),
              (status = 400, description = "invalid_query", body = Problem), (status = 401, body = Problem),
              (status = 404, description = "program_not_found", body = Problem)))]
pub(crate) async fn program_report(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
    q: Result<Query<ProgramReportQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let id = ids::parse_program(&id)
        .ok_or_else(|| ServiceError::not_found("program_not_found", format!("there is no program `{id}`")))?;
    let csv = wants_csv(q.format.as_deref())?;
    let household = q
        .user_id
        .as_deref()
        .map(|u| {
            ids::parse_user(u)
                .ok_or_else(|| ApiError::bad_request("invalid_query", format!("`{u}` is not a citizen id")))
        })
        .transpose()?;
    let now = state.service.now();
    let report = state.service.energy_program_report(id, household).await?;
    let events: Vec<ProgramEventOut> = report
        .events
        .iter()
        .map(|e| ProgramEventOut {
            event_id: ids::energy_event(e.event.id),
            start: format_time(start_of(e.event.start_slot)),
            end: format_time(start_of(e.event.start_slot + e.event.intervals)),
            settlement: super::energy::settlement_state(&e.event, now).to_owned(),
            invited: e.event.invited,
            opted_in: e.taking_part,
            responding: e.totals.saving,
            saving_kwh: kwh(e.totals.saving_wh),
            peak_kw_reduced: kwh(e.peak_w()),
            paid_fen: e.totals.paid_fen,
            carbon_grams: e.totals.carbon_grams,
        })
        .collect();
    if csv {
        let mut out = String::from(
            "event_id,start,end,settlement,invited,opted_in,responding,saving_kwh,peak_kw_reduced,paid_fen,carbon_grams\n",
        );
        for e in &events {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{:.3},{:.3},{},{}\n",
                e.event_id,
                e.start,
                e.end,
                e.settlement,
                e.invited,
                e.opted_in,
                e.responding,
                e.saving_kwh,
                e.peak_kw_reduced,
                e.paid_fen,
                e.carbon_grams
            ));
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response());
    }
    let sum = |f: fn(&EventReport) -> i64| report.events.iter().map(f).sum::<i64>();
    let paid_fen = sum(|e| e.totals.paid_fen);
    let (issued, face_value_fen, spent_fen, voucher_grams) = report.vouchers;
    Ok(Json(ProgramReportOut {
        program_id: ids::program(report.program.id),
        name: report.program.name.clone(),
        events_count: report.events.len() as i64,
        invited: sum(|e| e.event.invited),
        opted_in: sum(|e| e.taking_part),
        responding: sum(|e| e.totals.saving),
        saving_kwh: kwh(sum(|e| e.totals.saving_wh)),
        peak_kw_reduced: kwh(report.events.iter().map(EventReport::peak_w).max().unwrap_or(0)),
        paid_fen,
        yuan_paid: paid_fen as f64 / 100.0,
        carbon_grams: sum(|e| e.totals.carbon_grams),
        emission_factor_source: report.program.emission_factor_source.clone(),
        events,
        bill_vouchers: ProgramVouchersOut { issued, face_value_fen, spent_fen, carbon_grams: voucher_grams },
        household: report.household.map(|rows| {
            rows.into_iter()
                .map(|s| HouseholdEventOut {
                    settlement_id: ids::settlement(s.id),
                    event_id: ids::energy_event(s.event_id),
                    start: format_time(start_of(s.start_slot)),
                    status: s.status,
                    saving_kwh: kwh(s.saving_wh),
                    paid_fen: s.paid_fen,
                    carbon_grams: s.carbon_grams,
                })
                .collect()
        }),
    })
    .into_response())
}
