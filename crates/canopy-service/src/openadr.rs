//! Canopy's programs and events as OpenADR 3.1 objects (the
//! `openleadr-wire` types), and the VTN's lists of them: what a VEN reads
//! over `/openadr3`, and what its subscriptions are notified of.
//!
//! Each event's 15-minute intervals carry a SIMPLE level and the reward as
//! a PRICE in yuan per kWh, and ask for USAGE reports. A program's targets
//! are its region; an event's, the region it was called over (an event
//! called for named households has none, and is found by their meters).

use canopy_core::energy::readings::start_of;
use canopy_store::{EventRow, ProgramRow};
use openleadr_wire::event::{EventInterval, EventPayloadDescriptor, EventRequest, EventType, EventValuesMap};
use openleadr_wire::interval::IntervalPeriod;
use openleadr_wire::program::{ProgramId, ProgramRequest};
use openleadr_wire::report::{ReportDescriptor, ReportType};
use openleadr_wire::target::Target;
use openleadr_wire::values_map::{Value, ValueType, ValuesMap};
use openleadr_wire::{Event, Program};

use crate::error::ServiceResult;
use crate::Service;

/// The most targets one list is filtered by.
pub const VTN_TARGETS_MAX: usize = 50;

/// A program's OpenADR id (`prg_…`).
pub fn program_id(id: i64) -> ProgramId {
    ProgramId::new(&format!("prg_{id}")).expect("program ids are OpenADR identifiers")
}

fn target(text: &str) -> Option<Target> {
    text.parse().ok()
}

/// A program as an OpenADR program.
pub fn program_object(p: &ProgramRow) -> Program {
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
    content.targets = target(&p.region).into_iter().collect();
    Program { id: program_id(p.id), created_date_time: p.created_at, modification_date_time: p.created_at, content }
}

/// Fen as yuan: a whole number of yuan as an integer (the same JSON number
/// as `2.0`, and read as such by deserialisers that keep numbers as text),
/// else a fraction.
fn yuan(fen: i64) -> Value {
    if fen % 100 == 0 {
        Value::Integer(fen / 100)
    } else {
        Value::Number(fen as f64 / 100.0)
    }
}

/// An event of program `p` as an OpenADR event; modified when it was last settled.
pub fn event_object(e: &EventRow, p: &ProgramRow) -> Event {
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
    content.targets = e.target_region.as_deref().and_then(target).into_iter().collect();
    Event {
        id: format!("dre_{}", e.id).parse().expect("event ids are OpenADR identifiers"),
        created_date_time: e.created_at,
        modification_date_time: e.settled_at.unwrap_or(e.created_at),
        content,
    }
}

impl Service {
    /// The programs as OpenADR programs, oldest first: only `program` if
    /// given; with `targets`, only those whose region is one of them.
    pub async fn vtn_programs(&self, program: Option<i64>, targets: &[String]) -> ServiceResult<Vec<Program>> {
        let programs = self.store.programs().await?;
        Ok(programs
            .iter()
            .filter(|p| program.is_none_or(|id| id == p.id))
            .filter(|p| targets.is_empty() || targets.contains(&p.region))
            .map(program_object)
            .collect())
    }

    /// The events as OpenADR events, by program and then oldest first:
    /// only `program`'s if given; with `targets`, only those called over
    /// one of them as a region or taking part one of them as a meter of
    /// `utility` (the VEN's utility partner).
    pub async fn vtn_events(
        &self,
        program: Option<i64>,
        targets: &[String],
        utility: Option<i64>,
    ) -> ServiceResult<Vec<Event>> {
        let mut by_meter = std::collections::HashSet::new();
        if let Some(partner) = utility {
            for meter in targets {
                by_meter.extend(self.store.events_of_meter(partner, meter).await?);
            }
        }
        let mut events = Vec::new();
        for p in self.store.programs().await?.iter().filter(|p| program.is_none_or(|id| id == p.id)) {
            for e in self.store.program_events(p.id).await? {
                let targeted = targets.is_empty()
                    || by_meter.contains(&e.id)
                    || e.target_region.as_ref().is_some_and(|r| targets.contains(r));
                if targeted {
                    events.push(event_object(&e, p));
                }
            }
        }
        Ok(events)
    }

    /// One program as an OpenADR program.
    pub async fn vtn_program(&self, id: i64) -> ServiceResult<Program> {
        let p = self.program(id).await?;
        Ok(program_object(&p))
    }

    /// One event as an OpenADR event.
    pub async fn vtn_event(&self, id: i64) -> ServiceResult<Event> {
        let e = self.energy_event(id).await?;
        let p = self.program(e.program_id).await?;
        Ok(event_object(&e, &p))
    }
}
