//! The OpenADR 3.1 VTN interface over Canopy's power-saving programs and
//! events, in OpenADR's own JSON (the `openleadr-wire` types): a VEN with a
//! bearer token lists programs and events (each event's 15-minute
//! intervals carry a SIMPLE level and the reward as a PRICE in yuan per
//! kWh, and ask for USAGE reports), and posts reports whose USAGE intervals
//! become its utility's meter readings, which settle the event like any.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use canopy_core::energy::readings::{start_of, INTERVAL_S};
use canopy_service::{ReadingWire, ServiceError};
use canopy_store::{EventRow, ProgramRow};
use openleadr_wire::event::{EventInterval, EventPayloadDescriptor, EventRequest, EventType, EventValuesMap};
use openleadr_wire::interval::IntervalPeriod;
use openleadr_wire::program::{ProgramId, ProgramRequest};
use openleadr_wire::report::{ReportDescriptor, ReportRequest, ReportType};
use openleadr_wire::values_map::{Value, ValueType, ValuesMap};
use openleadr_wire::{Event, Program};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Ven;
use crate::body::RawBody;
use crate::error::{ApiError, ApiResult, Problem};
use crate::ids;
use crate::AppState;

/// The most objects one list answers.
const PAGE_MAX: usize = 50;

/// An OpenADR 3.1 object, in the shape the OpenADR 3.1 specification gives it.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub(crate) struct VtnObject(serde_json::Value);

/// Paging and filters of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Objects to skip (default 0).
    skip: Option<usize>,
    /// Objects to answer, at most 50 (default 50).
    limit: Option<usize>,
    /// Only this program's events (`prg_…`).
    #[serde(rename = "programID")]
    #[param(rename = "programID")]
    program_id: Option<String>,
}

fn page<T>(items: Vec<T>, q: &ListQuery) -> Vec<T> {
    items.into_iter().skip(q.skip.unwrap_or(0)).take(q.limit.unwrap_or(PAGE_MAX).min(PAGE_MAX)).collect()
}

fn object<T: serde::Serialize>(value: &T) -> VtnObject {
    VtnObject(serde_json::to_value(value).expect("OpenADR objects serialise"))
}

fn program_id(id: i64) -> ProgramId {
    ProgramId::new(&ids::program(id)).expect("program ids are OpenADR identifiers")
}

fn program(p: &ProgramRow) -> Program {
    let mut content = ProgramRequest::new(&p.name);
    content.attributes = Some(vec![
        ValuesMap { value_type: ValueType("REGION".to_owned()), values: vec![Value::String(p.region.clone())] },
        ValuesMap {
            value_type: ValueType("REWARD_FEN_PER_KWH".to_owned()),
            values: vec![Value::Integer(p.reward_fen_per_kwh)],
        },
        ValuesMap {
            value_type: ValueType("BASELINE".to_owned()),
            values: vec![Value::String(p.baseline_method.clone())],
        },
    ]);
    Program { id: program_id(p.id), created_date_time: p.created_at, modification_date_time: p.created_at, content }
}

/// Fen as yuan: a whole number of yuan as an integer (the same JSON number as `2.0`, and read as such by
/// deserialisers that keep numbers as text), else a fraction.
fn yuan(fen: i64) -> Value {
    if fen % 100 == 0 {
        Value::Integer(fen / 100)
    } else {
        Value::Number(fen as f64 / 100.0)
    }
}

fn event(e: &EventRow, p: &ProgramRow) -> Event {
    let quarter: openleadr_wire::Duration = "PT15M".parse().expect("an ISO 8601 duration");
    let mut content = EventRequest::new(program_id(e.program_id));
    content.event_name = Some(format!("{} {}", p.name, canopy_store::format_time(start_of(e.start_slot))));
    content.payload_descriptors =
        Some(vec![EventPayloadDescriptor::new(EventType::Simple), EventPayloadDescriptor::new(EventType::Price)]);
    content.report_descriptors = Some(vec![ReportDescriptor::new(ReportType::Usage)]);
    content.interval_period =
        Some(IntervalPeriod { start: start_of(e.start_slot), duration: Some(quarter.clone()), randomize_start: None });
    content.intervals = Some(
        (0..e.intervals)
            .map(|i| {
                let mut interval = EventInterval::new(
                    i as i32,
                    vec![
                        EventValuesMap { value_type: EventType::Simple, values: vec![Value::Integer(1)] },
                        EventValuesMap { value_type: EventType::Price, values: vec![yuan(p.reward_fen_per_kwh)] },
                    ],
                );
                interval.interval_period = Some(IntervalPeriod {
                    start: start_of(e.start_slot + i),
                    duration: Some(quarter.clone()),
                    randomize_start: None,
                });
                interval
            })
            .collect(),
    );
    Event {
        id: ids::energy_event(e.id).parse().expect("event ids are OpenADR identifiers"),
        created_date_time: e.created_at,
        modification_date_time: e.settled_at.unwrap_or(e.created_at),
        content,
    }
}

/// The programs (OpenADR 3.1 `GET /programs`).
#[utoipa::path(get, path = "/openadr3/programs", tag = "openadr", security(("ven" = [])), params(ListQuery),
    responses((status = 200, body = [VtnObject], content_type = "application/json"),
              (status = 401, description = "invalid_token", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn programs(
    State(state): State<AppState>,
    _ven: Ven,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<VtnObject>>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let programs = state.service.programs().await?;
    Ok(Json(page(programs.iter().map(|p| object(&program(p))).collect(), &q)))
}

/// One program (OpenADR 3.1 `GET /programs/{programID}`).
#[utoipa::path(get, path = "/openadr3/programs/{id}", tag = "openadr", security(("ven" = [])),
    params(("id" = String, Path, description = "The program's id (`prg_…`)")),
    responses((status = 200, body = VtnObject, content_type = "application/json"),
              (status = 401, description = "invalid_token", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "program_not_found", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn get_program(
    State(state): State<AppState>,
    _ven: Ven,
    Path(id): Path<String>,
) -> ApiResult<Json<VtnObject>> {
    let not_found = || ServiceError::not_found("program_not_found", format!("there is no program `{id}`"));
    let id = ids::parse_program(&id).ok_or_else(not_found)?;
    let programs = state.service.programs().await?;
    let found = programs.iter().find(|p| p.id == id).ok_or_else(not_found)?;
    Ok(Json(object(&program(found))))
}

/// The events (OpenADR 3.1 `GET /events`), newest programs' events included; `programID` filters.
#[utoipa::path(get, path = "/openadr3/events", tag = "openadr", security(("ven" = [])), params(ListQuery),
    responses((status = 200, body = [VtnObject], content_type = "application/json"),
              (status = 400, description = "invalid_query", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "invalid_token", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn events(
    State(state): State<AppState>,
    _ven: Ven,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<VtnObject>>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let programs = state.service.programs().await?;
    // An id that names no program matches none.
    let wanted = q.program_id.as_deref().map(|p| ids::parse_program(p).unwrap_or(0));
    let mut all = Vec::new();
    for p in programs.iter().filter(|p| wanted.is_none_or(|w| w == p.id)) {
        for e in state.service.program_events(p.id).await? {
            all.push(object(&event(&e, p)));
        }
    }
    Ok(Json(page(all, &q)))
}

/// One event (OpenADR 3.1 `GET /events/{eventID}`).
#[utoipa::path(get, path = "/openadr3/events/{id}", tag = "openadr", security(("ven" = [])),
    params(("id" = String, Path, description = "The event's id (`dre_…`)")),
    responses((status = 200, body = VtnObject, content_type = "application/json"),
              (status = 401, description = "invalid_token", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "event_not_found", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn get_event(
    State(state): State<AppState>,
    _ven: Ven,
    Path(id): Path<String>,
) -> ApiResult<Json<VtnObject>> {
    let not_found = || ServiceError::not_found("event_not_found", format!("there is no event `{id}`"));
    let id = ids::parse_energy_event(&id).ok_or_else(not_found)?;
    let e = state.service.energy_event(id).await?;
    let programs = state.service.programs().await?;
    let p = programs.iter().find(|p| p.id == e.program_id).ok_or_else(not_found)?;
    Ok(Json(object(&event(&e, p))))
}

/// A VEN's report (OpenADR 3.1 `POST /reports`): each resource is one of its utility's meters (`resourceName` =
/// the meter id), and each interval's USAGE value (kWh) becomes that meter's 15-minute reading, as actual.
#[utoipa::path(post, path = "/openadr3/reports", tag = "openadr", security(("ven" = [])),
    request_body(content = VtnObject, content_type = "application/json"),
    responses((status = 201, body = VtnObject, content_type = "application/json"),
              (status = 400, description = "invalid_report", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "invalid_token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "ven_without_utility", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "event_not_found", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn create_report(
    State(state): State<AppState>,
    Ven(ven): Ven,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<VtnObject>)> {
    let invalid = |detail: String| ApiError::bad_request("invalid_report", detail);
    let original: serde_json::Value = serde_json::from_slice(&body).map_err(|e| invalid(format!("not JSON: {e}")))?;
    // Numbers are read exactly, from their text: each payload value is
    // handed to the wire types as its decimal text (serde's untagged
    // `Value` cannot take a number kept as text, as Canopy keeps them).
    let mut texts = original.clone();
    for resource in texts.get_mut("resources").and_then(|r| r.as_array_mut()).into_iter().flatten() {
        for interval in resource.get_mut("intervals").and_then(|i| i.as_array_mut()).into_iter().flatten() {
            for payload in interval.get_mut("payloads").and_then(|p| p.as_array_mut()).into_iter().flatten() {
                for value in payload.get_mut("values").and_then(|v| v.as_array_mut()).into_iter().flatten() {
                    if let serde_json::Value::Number(n) = value {
                        *value = serde_json::Value::String(n.to_string());
                    }
                }
            }
        }
    }
    let request: ReportRequest =
        serde_json::from_value(texts).map_err(|e| invalid(format!("not an OpenADR report: {e}")))?;
    let event_id = ids::parse_energy_event(request.event_id.as_str()).ok_or_else(|| {
        ServiceError::not_found("event_not_found", format!("there is no event `{}`", request.event_id))
    })?;
    // USAGE in kWh unless its descriptor says Wh.
    let in_wh = request.payload_descriptors.iter().flatten().any(|d| {
        d.payload_type == ReportType::Usage
            && matches!(&d.units, Some(openleadr_wire::Unit::Private(u)) if u.eq_ignore_ascii_case("WH"))
    });
    let mut readings = Vec::new();
    for resource in &request.resources {
        let meter = match &resource.resource_name {
            openleadr_wire::report::ResourceName::Private(name) => name.clone(),
            other => return Err(invalid(format!("resourceName {other:?}: name a meter"))),
        };
        for interval in &resource.intervals {
            // An interval without its own period follows its resource's, a quarter hour per id.
            let start = match (&interval.interval_period, &resource.interval_period) {
                (Some(own), _) => own.start,
                (None, Some(shared)) => shared.start + chrono::Duration::seconds(INTERVAL_S * i64::from(interval.id)),
                (None, None) => {
                    return Err(invalid(format!(
                        "{meter}: interval {} has no intervalPeriod, nor has its resource",
                        interval.id
                    )))
                }
            };
            for payload in interval.payloads.iter().filter(|p| p.value_type.0 == "USAGE") {
                for value in &payload.values {
                    let text = match value {
                        Value::String(text) => text.clone(),
                        Value::Integer(n) => n.to_string(),
                        other => {
                            return Err(invalid(format!("{meter}: a USAGE value must be a number, not {other:?}")))
                        }
                    };
                    let amount: rust_decimal::Decimal =
                        text.parse().map_err(|_| invalid(format!("{meter}: USAGE `{text}` is not a number")))?;
                    let kwh = if in_wh { amount / rust_decimal::Decimal::from(1000) } else { amount };
                    readings.push(ReadingWire {
                        meter_id: meter.clone(),
                        start: start.to_rfc3339(),
                        kwh: kwh.normalize().to_string(),
                        quality: "actual".to_owned(),
                    });
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let (id, results) = state.service.ven_report(&ven, event_id, &text, readings).await?;
    if let Some(refused) = results.iter().find(|r| r.code.is_some()) {
        // What was stored stays stored (readings are idempotent); the refusal is logged.
        tracing::info!(ven = ven.id, code = refused.code, "a VEN report held refused readings");
    }
    // The report as the VEN sent it, with what the VTN gives a report.
    let now = canopy_store::format_time(state.service.now());
    let mut report = original;
    if let Some(fields) = report.as_object_mut() {
        fields.insert("id".to_owned(), serde_json::Value::String(format!("rpt_{id}")));
        fields.insert("createdDateTime".to_owned(), serde_json::Value::String(now.clone()));
        fields.insert("modificationDateTime".to_owned(), serde_json::Value::String(now));
        fields.insert("clientID".to_owned(), serde_json::Value::String(ven.client_id.clone()));
    }
    Ok((StatusCode::CREATED, Json(VtnObject(report))))
}
