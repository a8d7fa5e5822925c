//! Demand response: the operator's programs and events; the households'
//! invitations and answers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use canopy_core::energy::readings::start_of;
use canopy_service::{NewBillVouchers, NewEvent, NewProgram, ServiceError};
use canopy_store::{format_time, EventRow, InvitationRow, ProgramRow, Target};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Citizen, Operator};
use crate::body::JsonBody;
use crate::error::{ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// A program's baseline.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BaselineIn {
    /// `mean_10_of_10`, `high_5_of_10` or `mean_5_working_days`.
    method: String,
    /// Adjust by the hours before the event, capped at ±20 % (default false).
    #[serde(default)]
    day_of_adjustment: bool,
}

/// `POST /v1/energy/programs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProgramIn {
    /// Its name.
    name: String,
    /// Where it runs: an ISO 3166-2 region (`CN-JX`) or a country.
    region: String,
    /// Fen paid per kWh saved (200 for 2 yuan).
    reward_fen_per_kwh: i64,
    /// How baselines are computed.
    baseline: BaselineIn,
    /// Where the grid emission factors come from (default the 2022 MEE/NBS factors).
    emission_factor_source: Option<String>,
    /// The funded pool (unit `fen`) rewards are paid from (`pool_…`).
    pool: String,
    /// `required` (only households that answer `in`) or `default_in` (all but those that answer `out`).
    opt_in: String,
    /// Year-on-year bill vouchers: a household whose monthly bill fell by more than the threshold against the same
    /// month a year earlier gets a voucher worth the decrease × the ratio, from this pool, for these shops.
    bill_vouchers: Option<BillVouchersIn>,
}

/// A program's year-on-year bill vouchers.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BillVouchersIn {
    /// The funded pool (unit `fen`) they are paid from (`pool_…`).
    pool: String,
    /// The decrease a bill must exceed, percent (default 5).
    threshold_pct: Option<f64>,
    /// Voucher fen per fen of decrease (default 1).
    ratio: Option<f64>,
    /// Days a voucher is valid (default 90).
    valid_days: Option<i64>,
    /// The shops (partners, `ptn_…`) that accept them.
    merchants: Vec<String>,
}

/// A program.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProgramOut {
    /// Public id (`prg_…`).
    id: String,
    /// Its name.
    name: String,
    /// Where it runs.
    region: String,
    /// Fen per kWh saved.
    reward_fen_per_kwh: i64,
    /// How baselines are computed.
    baseline: BaselineIn,
    /// Where the emission factors come from.
    emission_factor_source: String,
    /// The pool (`pool_…`).
    pool: String,
    /// `required` or `default_in`.
    opt_in: String,
    /// When it was created (RFC 3339).
    created_at: String,
    /// Its year-on-year bill vouchers, if it pays them.
    bill_vouchers: Option<BillVouchersIn>,
}

/// `GET /v1/energy/programs`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProgramsOut {
    /// Oldest first.
    programs: Vec<ProgramOut>,
}

/// Whom an event targets: `{region}` or `{user_ids}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetsIn {
    /// Every household with a meter in this ISO 3166-2 region (or country).
    region: Option<String>,
    /// These households (`usr_…`), those of them with a meter.
    user_ids: Option<Vec<String>>,
}

/// `POST /v1/energy/events`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventIn {
    /// Its program (`prg_…`).
    program_id: String,
    /// Its start: RFC 3339 on a 15-minute boundary; in the past for an event recorded after the fact.
    start: String,
    /// Its length: a multiple of 15 minutes, at most 480.
    duration_minutes: i64,
    /// When invitations go out (default now; none for an event recorded after the fact).
    invitations_at: Option<String>,
    /// The deadline for answers (default the start).
    respond_by: Option<String>,
    /// When it settles on whatever meter data arrived (default a day after its end; at most 31 days after).
    cutoff: Option<String>,
    /// Whom it targets.
    targets: TargetsIn,
}

/// An event.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventOut {
    /// Public id (`dre_…`).
    id: String,
    /// Its program (`prg_…`).
    program_id: String,
    /// Its start (RFC 3339).
    start: String,
    /// Its end (RFC 3339).
    end: String,
    /// Its length in minutes.
    duration_minutes: i64,
    /// When invitations go out.
    invitations_at: Option<String>,
    /// The deadline for answers.
    respond_by: Option<String>,
    /// Recorded after it began: nobody was invited.
    recorded: bool,
    /// Households (meters) targeted.
    households: i64,
    /// Of them, invited.
    invited: i64,
    /// Of them, answered `in`.
    answered_in: i64,
    /// Of them, answered `out`.
    answered_out: i64,
    /// When it settles on whatever meter data arrived (RFC 3339).
    cutoff: String,
    /// `scheduled` (not ended), `awaiting_data` (ended, data incomplete, before the cut-off), `settled`
    /// (on complete data) or `settled_incomplete` (at the cut-off, on the data that had arrived).
    settlement: String,
    /// How many times it was settled (late or corrected data settles it again).
    settled_version: i64,
    /// When it was last settled (RFC 3339).
    settled_at: Option<String>,
}

/// `POST /v1/me/energy/invitations/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnswerIn {
    /// `in` or `out`.
    answer: String,
}

/// An invitation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InvitationOut {
    /// Public id (`inv_…`).
    id: String,
    /// The event (`dre_…`).
    event_id: String,
    /// The program's name.
    program: String,
    /// Fen per kWh saved.
    reward_fen_per_kwh: i64,
    /// The event's start (RFC 3339).
    start: String,
    /// Its end (RFC 3339).
    end: String,
    /// The deadline for answers (RFC 3339).
    respond_by: Option<String>,
    /// Your answer: `in`, `out` or none yet.
    answer: Option<String>,
}

/// `GET /v1/me/energy/invitations`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InvitationsOut {
    /// Newest first.
    invitations: Vec<InvitationOut>,
}

fn program_out(p: ProgramRow) -> ProgramOut {
    ProgramOut {
        id: ids::program(p.id),
        name: p.name,
        region: p.region,
        reward_fen_per_kwh: p.reward_fen_per_kwh,
        baseline: BaselineIn { method: p.baseline_method, day_of_adjustment: p.day_of_adjustment },
        emission_factor_source: p.emission_factor_source,
        pool: ids::pool(p.pool_id),
        opt_in: p.opt_in.as_str().to_owned(),
        created_at: format_time(p.created_at),
        bill_vouchers: p.bill_vouchers.map(|b| BillVouchersIn {
            pool: ids::pool(b.pool_id),
            threshold_pct: Some(b.rule.threshold_milli as f64 / 10.0),
            ratio: Some(b.rule.ratio_milli as f64 / 1000.0),
            valid_days: Some(b.rule.valid_days),
            merchants: b.merchants.into_iter().map(ids::partner).collect(),
        }),
    }
}

pub(crate) fn event_out(e: EventRow, now: chrono::DateTime<chrono::Utc>) -> EventOut {
    EventOut {
        id: ids::energy_event(e.id),
        program_id: ids::program(e.program_id),
        start: format_time(start_of(e.start_slot)),
        end: format_time(start_of(e.start_slot + e.intervals)),
        duration_minutes: e.intervals * 15,
        invitations_at: e.invitations_at.map(format_time),
        respond_by: e.respond_by.map(format_time),
        recorded: e.recorded,
        households: e.participants,
        invited: e.invited,
        answered_in: e.answered_in,
        answered_out: e.answered_out,
        cutoff: format_time(e.cutoff),
        settlement: settlement_state(&e, now).to_owned(),
        settled_version: e.settled_version,
        settled_at: e.settled_at.map(format_time),
    }
}

/// Where an event stands in its settlement.
pub(crate) fn settlement_state(e: &EventRow, now: chrono::DateTime<chrono::Utc>) -> &'static str {
    match (e.settled_version, e.settled_complete) {
        (0, _) if start_of(e.start_slot + e.intervals) > now => "scheduled",
        (0, _) => "awaiting_data",
        (_, Some(true)) => "settled",
        _ => "settled_incomplete",
    }
}

fn invitation_out(i: InvitationRow) -> InvitationOut {
    InvitationOut {
        id: ids::invitation(i.id),
        event_id: ids::energy_event(i.event_id),
        program: i.program,
        reward_fen_per_kwh: i.reward_fen_per_kwh,
        start: format_time(start_of(i.start_slot)),
        end: format_time(start_of(i.start_slot + i.intervals)),
        respond_by: i.respond_by.map(format_time),
        answer: i.answer.map(|a| a.as_str().to_owned()),
    }
}

/// Creates a demand-response program paid from a funded pool in fen.
#[utoipa::path(post, path = "/v1/energy/programs", tag = "energy", security(("admin" = [])), request_body = ProgramIn,
    responses((status = 201, body = ProgramOut), (status = 400, description = "invalid_program, invalid_pool", body = Problem),
              (status = 401, body = Problem), (status = 404, description = "pool_not_found", body = Problem)))]
pub(crate) async fn create_program(
    State(state): State<AppState>,
    _operator: Operator,
    JsonBody(body): JsonBody<ProgramIn>,
) -> ApiResult<(StatusCode, Json<ProgramOut>)> {
    let pool_id = ids::parse_pool(&body.pool)
        .ok_or_else(|| ServiceError::not_found("pool_not_found", format!("there is no pool `{}`", body.pool)))?;
    let new = NewProgram {
        name: body.name,
        region: body.region,
        reward_fen_per_kwh: body.reward_fen_per_kwh,
        baseline_method: body.baseline.method,
        day_of_adjustment: body.baseline.day_of_adjustment,
        emission_factor_source: body.emission_factor_source,
        pool_id,
        opt_in: body.opt_in,
        bill_vouchers: match body.bill_vouchers {
            None => None,
            Some(b) => Some(NewBillVouchers {
                pool_id: ids::parse_pool(&b.pool).ok_or_else(|| {
                    ServiceError::not_found("pool_not_found", format!("there is no pool `{}`", b.pool))
                })?,
                threshold_pct: b.threshold_pct,
                ratio: b.ratio,
                valid_days: b.valid_days,
                merchants: b
                    .merchants
                    .iter()
                    .map(|m| {
                        ids::parse_partner(m).ok_or_else(|| {
                            ServiceError::invalid(
                                "invalid_program",
                                format!("bill_vouchers.merchants: `{m}` is not a partner id"),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
            }),
        },
    };
    let program = state.service.create_program(new).await?;
    Ok((StatusCode::CREATED, Json(program_out(program))))
}

/// Every program.
#[utoipa::path(get, path = "/v1/energy/programs", tag = "energy", security(("admin" = [])),
    responses((status = 200, body = ProgramsOut), (status = 401, body = Problem)))]
pub(crate) async fn list_programs(State(state): State<AppState>, _operator: Operator) -> ApiResult<Json<ProgramsOut>> {
    let programs = state.service.programs().await?;
    Ok(Json(ProgramsOut { programs: programs.into_iter().map(program_out).collect() }))
}

/// Creates an event: households with a meter among the targets are invited (or, for an event in the past, recorded).
#[utoipa::path(post, path = "/v1/energy/events", tag = "energy", security(("admin" = [])), request_body = EventIn,
    responses((status = 201, body = EventOut), (status = 400, description = "invalid_event", body = Problem),
              (status = 401, body = Problem), (status = 404, description = "program_not_found", body = Problem)))]
pub(crate) async fn create_event(
    State(state): State<AppState>,
    _operator: Operator,
    JsonBody(body): JsonBody<EventIn>,
) -> ApiResult<(StatusCode, Json<EventOut>)> {
    let program_id = ids::parse_program(&body.program_id).ok_or_else(|| {
        ServiceError::not_found("program_not_found", format!("there is no program `{}`", body.program_id))
    })?;
    let target = match (body.targets.region, body.targets.user_ids) {
        (Some(region), None) => Target::Region(region),
        (None, Some(users)) => Target::Citizens(
            users
                .iter()
                .map(|u| {
                    ids::parse_user(u).ok_or_else(|| {
                        ServiceError::invalid("invalid_event", format!("targets.user_ids: `{u}` is not a citizen id"))
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => {
            return Err(
                ServiceError::invalid("invalid_event", "targets: give `region` or `user_ids`, one of them").into()
            )
        }
    };
    let new = NewEvent {
        program_id,
        start: body.start,
        duration_minutes: body.duration_minutes,
        invitations_at: body.invitations_at,
        respond_by: body.respond_by,
        cutoff: body.cutoff,
        target,
    };
    let event = state.service.create_energy_event(new).await?;
    Ok((StatusCode::CREATED, Json(event_out(event, state.service.now()))))
}

/// One event, with its households counted.
#[utoipa::path(get, path = "/v1/energy/events/{id}", tag = "energy", security(("admin" = [])),
    params(("id" = String, Path, description = "The event's id (`dre_…`)")),
    responses((status = 200, body = EventOut), (status = 401, body = Problem), (status = 404, description = "event_not_found", body = Problem)))]
pub(crate) async fn get_event(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Json<EventOut>> {
    let event_id = ids::parse_energy_event(&id)
        .ok_or_else(|| ServiceError::not_found("event_not_found", format!("there is no event `{id}`")))?;
    Ok(Json(event_out(state.service.energy_event(event_id).await?, state.service.now())))
}

/// Your invitations to power-saving events, newest first.
#[utoipa::path(get, path = "/v1/me/energy/invitations", tag = "energy", security(("session" = [])),
    responses((status = 200, body = InvitationsOut), (status = 401, body = Problem)))]
pub(crate) async fn list_invitations(
    State(state): State<AppState>,
    citizen: Citizen,
) -> ApiResult<Json<InvitationsOut>> {
    let invitations = state.service.invitations(citizen.user_id).await?;
    Ok(Json(InvitationsOut { invitations: invitations.into_iter().map(invitation_out).collect() }))
}

/// Answers an invitation, `in` or `out`, before its deadline.
#[utoipa::path(post, path = "/v1/me/energy/invitations/{id}", tag = "energy", security(("session" = [])), request_body = AnswerIn,
    params(("id" = String, Path, description = "The invitation's id (`inv_…`)")),
    responses((status = 200, body = InvitationOut), (status = 400, description = "invalid_answer", body = Problem),
              (status = 401, body = Problem), (status = 404, description = "invitation_not_found", body = Problem),
              (status = 409, description = "response_closed", body = Problem)))]
pub(crate) async fn answer_invitation(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AnswerIn>,
) -> ApiResult<Json<InvitationOut>> {
    let invitation = ids::parse_invitation(&id)
        .ok_or_else(|| ServiceError::not_found("invitation_not_found", format!("there is no invitation `{id}`")))?;
    let answered = state.service.answer_invitation(citizen.user_id, invitation, &body.answer).await?;
    Ok(Json(invitation_out(answered)))
}
