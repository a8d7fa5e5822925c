//! The OpenADR 3.1 VTN interface over Canopy's power-saving programs and
//! events, in OpenADR's own JSON (the `openleadr-wire` types): a VEN with a
//! bearer token lists programs and events (each event's 15-minute
//! intervals carry a SIMPLE level and the reward as a PRICE in yuan per
//! kWh, and ask for USAGE reports), and posts reports whose USAGE intervals
//! become its utility's meter readings, which settle the event like any.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use canopy_core::energy::readings::INTERVAL_S;
use canopy_service::{ReadingWire, ServiceError};
use openleadr_wire::report::{ReportRequest, ReportType};
use openleadr_wire::values_map::Value;
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

impl VtnObject {
    pub(crate) fn of<T: serde::Serialize>(value: &T) -> Self {
        VtnObject(serde_json::to_value(value).expect("OpenADR objects serialise"))
    }
}

/// Paging and filters of a list (OpenADR's query parameters; `targets` and
/// `objects` may repeat). Only the filters a list names apply to it.
// The OpenAPI document's account of the query, which [`VtnQuery`] reads.
#[allow(dead_code)]
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Objects to skip (default 0).
    skip: Option<usize>,
    /// Objects to answer, at most 50 (default 50).
    limit: Option<usize>,
    /// Only this program's objects (`prg_…`).
    #[param(rename = "programID")]
    program_id: Option<String>,
    /// Only objects with one of these targets (a region such as `CN-36`, or for events one of the VEN's meters);
    /// at most 50.
    #[param(style = Form, explode)]
    targets: Option<Vec<String>>,
}

/// The query of a list, read from the raw query string (repeated keys collect).
#[derive(Debug, Default)]
pub(crate) struct VtnQuery {
    pub(crate) skip: usize,
    pub(crate) limit: usize,
    pub(crate) program_id: Option<String>,
    pub(crate) event_id: Option<String>,
    pub(crate) client_name: Option<String>,
    pub(crate) targets: Vec<String>,
    pub(crate) objects: Vec<String>,
}

impl VtnQuery {
    pub(crate) fn parse(raw: Option<&str>) -> Result<VtnQuery, ApiError> {
        let bad = |detail: String| ApiError::bad_request("invalid_query", detail);
        let count = |name: &str, value: &str| {
            value.parse::<usize>().map_err(|_| bad(format!("{name} must be a whole number, not `{value}`")))
        };
        let mut q = VtnQuery { limit: PAGE_MAX, ..VtnQuery::default() };
        for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "skip" => q.skip = count("skip", &value)?,
                "limit" => q.limit = count("limit", &value)?.min(PAGE_MAX),
                "programID" => q.program_id = Some(value.into_owned()),
                "eventID" => q.event_id = Some(value.into_owned()),
                "clientName" => q.client_name = Some(value.into_owned()),
                "targets" => q.targets.push(value.into_owned()),
                "objects" => q.objects.push(value.into_owned()),
                _ => {}
            }
        }
        if q.targets.len() > canopy_service::VTN_TARGETS_MAX {
            return Err(bad(format!("at most {} targets", canopy_service::VTN_TARGETS_MAX)));
        }
        Ok(q)
    }

    /// This page of `items`, as OpenADR objects.
    pub(crate) fn page<T: serde::Serialize>(&self, items: &[T]) -> Vec<VtnObject> {
        items.iter().skip(self.skip).take(self.limit).map(VtnObject::of).collect()
    }

    /// The program filter: `None` for none, `Some(0)` for an id that names no program (it matches none).
    pub(crate) fn program(&self) -> Option<i64> {
        self.program_id.as_deref().map(|p| ids::parse_program(p).unwrap_or(0))
    }
}

/// The programs (OpenADR 3.1 `GET /programs`).
#[utoipa::path(get, path = "/openadr3/programs", tag = "openadr", security(("ven" = [])), params(ListQuery),
    responses((status = 200, body = [VtnObject], content_type = "application/json"),
              (status = 400, description = "invalid_query", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "invalid_token", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn programs(
    State(state): State<AppState>,
    _ven: Ven,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<VtnObject>>> {
    let q = VtnQuery::parse(raw.as_deref())?;
    let programs = state.service.vtn_programs(q.program(), &q.targets).await?;
    Ok(Json(q.page(&programs)))
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
    let id = ids::parse_program(&id)
        .ok_or_else(|| ServiceError::not_found("program_not_found", format!("there is no program `{id}`")))?;
    Ok(Json(VtnObject::of(&state.service.vtn_program(id).await?)))
}

/// The events (OpenADR 3.1 `GET /events`), by program and then oldest first; `programID` and `targets` filter.
#[utoipa::path(get, path = "/openadr3/events", tag = "openadr", security(("ven" = [])), params(ListQuery),
    responses((status = 200, body = [VtnObject], content_type = "application/json"),
              (status = 400, description = "invalid_query", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "invalid_token", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn events(
    State(state): State<AppState>,
    Ven(ven): Ven,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<VtnObject>>> {
    let q = VtnQuery::parse(raw.as_deref())?;
    let events = state.service.vtn_events(q.program(), &q.targets, ven.partner_id).await?;
    Ok(Json(q.page(&events)))
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
    let id = ids::parse_energy_event(&id)
        .ok_or_else(|| ServiceError::not_found("event_not_found", format!("there is no event `{id}`")))?;
    Ok(Json(VtnObject::of(&state.service.vtn_event(id).await?)))
}

/// The report filters (`GET /reports`).
// The OpenAPI document's account of the query, which [`VtnQuery`] reads.
#[allow(dead_code)]
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReportQuery {
    /// Objects to skip (default 0).
    skip: Option<usize>,
    /// Objects to answer, at most 50 (default 50).
    limit: Option<usize>,
    /// Only reports on this program's events (`prg_…`).
    #[param(rename = "programID")]
    program_id: Option<String>,
    /// Only reports on this event (`dre_…`).
    #[param(rename = "eventID")]
    event_id: Option<String>,
    /// Only reports whose clientName is this.
    #[param(rename = "clientName")]
    client_name: Option<String>,
}

/// The report as the VTN answers it: as the VEN sent it, with its id, times and the VEN's client id.
fn report_object(report: &canopy_store::VenReportRow, client_id: &str) -> VtnObject {
    let mut object: serde_json::Value = serde_json::from_str(&report.body).unwrap_or_default();
    if let Some(fields) = object.as_object_mut() {
        let created = serde_json::Value::String(canopy_store::format_time(report.created_at));
        fields.insert("id".to_owned(), serde_json::Value::String(format!("rpt_{}", report.id)));
        fields.insert("createdDateTime".to_owned(), created.clone());
        fields.insert("modificationDateTime".to_owned(), created);
        fields.insert("clientID".to_owned(), serde_json::Value::String(client_id.to_owned()));
    }
    VtnObject(object)
}

/// The VEN's own reports (OpenADR 3.1 `GET /reports`), oldest first.
#[utoipa::path(get, path = "/openadr3/reports", tag = "openadr", security(("ven" = [])), params(ReportQuery),
    responses((status = 200, body = [VtnObject], content_type = "application/json"),
              (status = 400, description = "invalid_query", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "invalid_token", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn reports(
    State(state): State<AppState>,
    Ven(ven): Ven,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<VtnObject>>> {
    let q = VtnQuery::parse(raw.as_deref())?;
    // An id that names nothing matches nothing.
    let event = q.event_id.as_deref().map(|e| ids::parse_energy_event(e).unwrap_or(0));
    let found = state.service.ven_reports(&ven, q.program(), event, q.client_name.as_deref(), q.skip, q.limit).await?;
    Ok(Json(found.iter().map(|r| report_object(r, &ven.client_id)).collect()))
}

/// One of the VEN's reports (OpenADR 3.1 `GET /reports/{reportID}`).
#[utoipa::path(get, path = "/openadr3/reports/{id}", tag = "openadr", security(("ven" = [])),
    params(("id" = String, Path, description = "The report's id (`rpt_…`)")),
    responses((status = 200, body = VtnObject, content_type = "application/json"),
              (status = 401, description = "invalid_token", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "report_not_found", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn get_report(
    State(state): State<AppState>,
    Ven(ven): Ven,
    Path(id): Path<String>,
) -> ApiResult<Json<VtnObject>> {
    let not_found = || ServiceError::not_found("report_not_found", format!("this VEN has no report `{id}`"));
    let number = id.strip_prefix("rpt_").and_then(|n| n.parse::<i64>().ok()).ok_or_else(not_found)?;
    let report = state.service.ven_report_of(&ven, number).await?.ok_or_else(not_found)?;
    Ok(Json(report_object(&report, &ven.client_id)))
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
    let mut texts: serde_json::Value = serde_json::from_slice(&body).map_err(|e| invalid(format!("not JSON: {e}")))?;
    // Numbers are read exactly, from their text: each payload value is
    // handed to the wire types as its decimal text (serde's untagged
    // `Value` cannot take a number kept as text, as Canopy keeps them).
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
    let report = state
        .service
        .ven_report_of(&ven, id)
        .await?
        .ok_or_else(|| ServiceError::internal("a report just kept is gone"))?;
    Ok((StatusCode::CREATED, Json(report_object(&report, &ven.client_id))))
}
