//! Settling demand-response events: each taking-part household's baseline,
//! actuals and saving from its meter data; its red packet from the
//! program's pool (pro rata when the pool is short); the reduction its
//! saving verifies through the grid's `power_saving` methodology; all
//! written, with the ledger's correcting sets, through the writer.
//!
//! An event settles once every taking-part household's data is complete,
//! or at its cut-off on what arrived; late or corrected data settles it
//! again, paying only the differences (see
//! [`canopy_core::energy::settlement::resettle`]). The sweep does all of
//! this by itself; the operator can settle at once.

use std::collections::{BTreeMap, HashMap, VecDeque};

use openleadr_wire::subscription::{AnyObject, Operation};

use canopy_core::energy::baseline::{self, Day, EventWindow, Method, DAY_INTERVALS, LOOKBACK_DAYS};
use canopy_core::energy::readings::{start_of, INTERVAL_S};
use canopy_core::energy::settlement::{self, POWER_SAVING};
use canopy_core::types::RegionCode;
use canopy_store::writer::{GameCommand, GameOutcome};
use canopy_store::{
    EventRow, ProgramRow, SettlementChunk, SettlementFinish, SettlementParticipant, SettlementRow, SettlementTotals,
    SettlementWrite, READ_CHUNK_MAX, SETTLE_CHUNK_MAX,
};
use chrono::{DateTime, NaiveDate, Utc};

use crate::error::{ErrorKind, ServiceError, ServiceResult};
use crate::Service;

/// How long after its cut-off late data still settles an event again (30 days).
pub const RESETTLE_HORIZON_S: i64 = 30 * 24 * 3600;
/// How often the sweep looks again at an event for late data (5 minutes).
pub const RECHECK_S: i64 = 300;
/// The most events one sweep looks at.
pub const SWEEP_EVENTS_MAX: i64 = 20;
/// How many chunks of meters' readings a settlement reads ahead of the one
/// it computes (each holds a connection while it reads).
pub const READS_IN_FLIGHT: usize = 2;

/// What a settlement run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleRun {
    /// The event afterwards.
    pub event: EventRow,
    /// Households whose figures changed.
    pub changed: i64,
    /// Fen paid by this run (negative: returned to the pool).
    pub paid_fen: i64,
}

/// An event's report.
#[derive(Debug, Clone)]
pub struct EventReport {
    /// The event.
    pub event: EventRow,
    /// Its program.
    pub program: ProgramRow,
    /// Households taking part (answered `in`, or silent under `default_in`).
    pub taking_part: i64,
    /// Totals over the settled households.
    pub totals: SettlementTotals,
    /// The saving of all households per interval, Wh.
    pub interval_savings: Vec<i64>,
    /// The households, in meter order, after the cursor.
    pub households: Vec<SettlementRow>,
    /// Where the next page starts.
    pub next_cursor: Option<i64>,
}

impl EventReport {
    /// The peak reduced, W: the largest interval's saving × 4.
    pub fn peak_w(&self) -> i64 {
        settlement::peak_w(&self.interval_savings)
    }
}

/// A program's report: each event's report (without households), its
/// year-on-year vouchers, and one household's history if asked.
#[derive(Debug, Clone)]
pub struct ProgramReport {
    /// The program.
    pub program: ProgramRow,
    /// Its events' reports, oldest first.
    pub events: Vec<EventReport>,
    /// Its bill vouchers: (with a code, fen issued, fen spent, grams verified).
    pub vouchers: (i64, i64, i64, i64),
    /// The asked household's settlements in this program, newest first.
    pub household: Option<Vec<SettlementRow>>,
}

/// The local day and interval of an event, in the instance's time zone.
fn local_window(event: &EventRow, offset_slots: i64) -> (EventWindow, i64) {
    let local = event.start_slot + offset_slots;
    let day_number = local.div_euclid(DAY_INTERVALS as i64);
    let day = NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch") + chrono::Duration::days(day_number);
    let first = local.rem_euclid(DAY_INTERVALS as i64) as usize;
    (EventWindow { day, first, intervals: event.intervals as usize }, day_number)
}

fn not_found() -> ServiceError {
    ServiceError::not_found("event_not_found", "there is no such event")
}

impl Service {
    fn offset_slots(&self) -> i64 {
        i64::from(self.settings.timezone.local_minus_utc()) / INTERVAL_S
    }

    /// Settles event `id` now on the data that has arrived (again, if it
    /// was settled: only what changed is written, and paid as a correction).
    pub async fn settle_energy_event(&self, id: i64) -> ServiceResult<SettleRun> {
        let event = self.store.energy_event(id).await?.ok_or_else(not_found)?;
        let now = self.now();
        if start_of(event.start_slot + event.intervals) > now {
            return Err(ServiceError::new(
                ErrorKind::Conflict,
                "event_not_ended",
                "an event settles after its end, once its meter data has arrived",
            ));
        }
        self.settle(event, now).await
    }

    async fn settle(&self, event: EventRow, now: DateTime<Utc>) -> ServiceResult<SettleRun> {
        let program = self.store.program(event.program_id).await?.ok_or_else(not_found)?;
        let method = Method::parse(&program.baseline_method).expect("stored baseline methods are known");
        let offset = self.offset_slots();
        let (window, day_number) = local_window(&event, offset);
        let adjusting =
            program.day_of_adjustment && method == Method::Mean10Of10 && window.first >= baseline::ADJUSTMENT_INTERVALS;
        let read = baseline::read_intervals(&window, adjusting);
        let day_slots = DAY_INTERVALS as i64;
        let from = (day_number - LOOKBACK_DAYS) * day_slots - offset;
        let to = event.start_slot + event.intervals;
        // Other events' days are not baseline days.
        let event_days: Vec<NaiveDate> = self
            .store
            .program_event_windows(program.id)
            .await?
            .into_iter()
            .filter(|(start, _)| *start != event.start_slot)
            .map(|(start, intervals)| {
                local_window(&EventRow { start_slot: start, intervals, ..event.clone() }, offset).0.day
            })
            .collect();
        let registry = self.store.refresh_registry(&self.registry).await?;
        let participants: Vec<SettlementParticipant> = self
            .store
            .settlement_participants(event.id)
            .await?
            .into_iter()
            .filter(|p| program.opt_in.takes_part(p.answer))
            .collect();

        // Each household's figures, read a chunk of meters at a time.
        struct Figures {
            participant: SettlementParticipant,
            write: SettlementWrite,
        }
        let mut figures: Vec<Figures> = Vec::with_capacity(participants.len());
        let mut interval_savings = vec![0i64; window.intervals];
        // The readings of the next chunks are read while a chunk is
        // computed: on two cores the database (or SQLite's reader threads)
        // and the baselines work at once.
        let read_chunk = |chunk: &[SettlementParticipant]| {
            let meters: Vec<i64> = chunk.iter().filter(|p| p.consent_active).map(|p| p.meter).collect();
            let store = self.store.clone();
            let (first, last) = (read.start as i64, read.end as i64 - 1);
            tokio::spawn(async move {
                if meters.is_empty() {
                    return Ok(Vec::new());
                }
                store.window_readings(&meters, from, to, offset, first, last).await
            })
        };
        let chunks: Vec<&[SettlementParticipant]> = participants.chunks(READ_CHUNK_MAX).collect();
        let mut reads: VecDeque<_> = chunks.iter().take(READS_IN_FLIGHT).map(|c| read_chunk(c)).collect();
        for (n, chunk) in chunks.iter().enumerate() {
            let windows = reads
                .pop_front()
                .expect("a read per chunk")
                .await
                .map_err(|e| ServiceError::internal(format!("a settlement read failed: {e}")))??;
            if let Some(next) = chunks.get(n + READS_IN_FLIGHT) {
                reads.push_back(read_chunk(next));
            }
            let mut readings: HashMap<i64, Vec<(i64, i64, bool)>> =
                windows.into_iter().map(|w| (w.meter, w.readings)).collect();
            for p in chunk.iter() {
                let write = if !p.consent_active {
                    // Revoked consent: nothing of its data is read or settled.
                    SettlementWrite {
                        status: "consent_revoked",
                        code: Some("consent_revoked".into()),
                        ..blank_write(p, &program)
                    }
                } else {
                    let mut history: BTreeMap<NaiveDate, Day> = BTreeMap::new();
                    let mut quality = vec![false; window.intervals];
                    for (slot, wh, actual) in readings.remove(&p.meter).unwrap_or_default() {
                        let local = slot + offset;
                        let day = NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch")
                            + chrono::Duration::days(local.div_euclid(day_slots));
                        let i = local.rem_euclid(day_slots) as usize;
                        history.entry(day).or_insert([None; DAY_INTERVALS])[i] = Some(wh);
                        if day == window.day && (window.first..window.first + window.intervals).contains(&i) {
                            quality[i - window.first] = actual;
                        }
                    }
                    let f = settlement::household(method, adjusting, &window, &history, &quality, &event_days, &[]);
                    let methodology = RegionCode::parse(&p.region)
                        .ok()
                        .and_then(|region| registry.find(POWER_SAVING, &region, window.day).cloned());
                    let carbon = match (&methodology, f.saving_wh) {
                        (_, 0) | (None, _) => 0,
                        (Some(m), saving) => settlement::carbon_grams(m, saving).unwrap_or(0),
                    };
                    if let Ok(b) = &f.baseline {
                        for (i, (base, actual)) in b.intervals.iter().zip(&f.actual).enumerate() {
                            interval_savings[i] += actual.map_or(0, |a| (base - a).max(0));
                        }
                    }
                    let (status, code, days_used, adjustment_milli, baseline) = match f.baseline {
                        Ok(b) => ("settled", None, b.days_used, b.adjustment_milli, b.intervals),
                        Err(e) => ("no_baseline", Some(e.code().to_owned()), Vec::new(), 1000, Vec::new()),
                    };
                    SettlementWrite {
                        status,
                        code,
                        days_used,
                        adjustment_milli,
                        baseline,
                        actual: f.actual,
                        complete: f.complete,
                        saving_wh: f.saving_wh,
                        reward_fen: settlement::reward_fen(f.saving_wh, program.reward_fen_per_kwh),
                        carbon_grams: carbon,
                        methodology: methodology.map(|m| m.key()),
                        ..blank_write(p, &program)
                    }
                };
                figures.push(Figures { participant: p.clone(), write });
            }
        }

        // What the pool pays: a household whose consent was revoked after
        // it was paid keeps what it was paid and is left out.
        let kept = |f: &Figures| !f.participant.consent_active && f.participant.previous.is_some();
        let paying: Vec<&mut Figures> = figures.iter_mut().filter(|f| !kept(f)).collect();
        let pool = self.store.pool(program.pool_id).await?.map_or(0, |p| p.balance);
        let before: Vec<i64> = paying.iter().map(|f| f.write.paid_before).collect();
        let rewards: Vec<i64> = paying.iter().map(|f| f.write.reward_fen).collect();
        let payout = settlement::resettle(&before, &rewards, pool);
        for (f, paid) in paying.into_iter().zip(payout.paid) {
            f.write.paid_fen = paid;
        }
        let complete = figures.iter().all(|f| f.write.complete || kept(f) || f.write.status == "consent_revoked");
        let changed: Vec<SettlementWrite> = figures
            .into_iter()
            .filter(|f| !kept(f))
            .filter(|f| match &f.participant.previous {
                None => true,
                Some(p) => {
                    p.paid_fen != f.write.paid_fen
                        || p.carbon_grams != f.write.carbon_grams
                        || p.saving_wh != f.write.saving_wh
                        || p.complete != f.write.complete
                        || p.status != f.write.status
                }
            })
            .map(|f| f.write)
            .collect();

        if changed.is_empty() && event.settled_version > 0 {
            self.store.event_checked(event.id, now).await?;
            let event = self.store.energy_event(event.id).await?.ok_or_else(not_found)?;
            return Ok(SettleRun { event, changed: 0, paid_fen: 0 });
        }
        let finish = SettlementFinish { previous_version: event.settled_version, complete, interval_savings };
        let mut chunks: Vec<Vec<SettlementWrite>> = Vec::new();
        let mut rest = changed;
        while rest.len() > SETTLE_CHUNK_MAX {
            let tail = rest.split_off(SETTLE_CHUNK_MAX);
            chunks.push(rest);
            rest = tail;
        }
        chunks.push(rest);
        let last = chunks.len() - 1;
        let (mut households, mut paid_fen) = (0, 0);
        for (n, rows) in chunks.into_iter().enumerate() {
            let chunk = SettlementChunk {
                event_id: event.id,
                pool_id: program.pool_id,
                rows,
                finish: (n == last).then(|| finish.clone()),
            };
            match self.game(GameCommand::SettleEnergy(chunk)).await? {
                GameOutcome::EnergySettled { households: h, paid_fen: p, .. } => {
                    households += h;
                    paid_fen += p;
                }
                GameOutcome::Refused { code, message } if code == "settlement_raced" => {
                    return Err(ServiceError::new(ErrorKind::Conflict, "settlement_raced", message))
                }
                other => return Err(ServiceError::internal(format!("a settlement chunk answered {other:?}"))),
            }
        }
        let settled_before = event.settled_version;
        let event = self.store.energy_event(event.id).await?.ok_or_else(not_found)?;
        if event.settled_version != settled_before {
            let object = AnyObject::Event(crate::openadr::event_object(&event, &program));
            self.notify_vens(program.id, object, Operation::Update).await;
        }
        Ok(SettleRun { event, changed: households, paid_fen })
    }

    /// The sweep: settles ended events whose data is complete or whose
    /// cut-off has passed, and settles again those that received late or
    /// corrected data. Returns the runs that changed something.
    pub async fn settle_energy_events(&self) -> ServiceResult<Vec<SettleRun>> {
        let now = self.now();
        let mut runs = Vec::new();
        for id in self.store.events_to_settle(now, RESETTLE_HORIZON_S, RECHECK_S, SWEEP_EVENTS_MAX).await? {
            let Some(event) = self.store.energy_event(id).await? else { continue };
            let due = if event.settled_version == 0 {
                now >= event.cutoff || self.data_complete(&event).await?
            } else {
                let since = event.settled_at.map_or(0, |at| at.timestamp());
                self.store
                    .readings_arrived_since(event.id, event.start_slot, event.start_slot + event.intervals, since)
                    .await?
            };
            if !due {
                self.store.event_checked(event.id, now).await?;
                continue;
            }
            let run = self.settle(event, now).await?;
            if run.changed > 0 {
                runs.push(run);
            }
        }
        Ok(runs)
    }

    /// Whether every taking-part household has an actual reading for every interval of `event`.
    async fn data_complete(&self, event: &EventRow) -> ServiceResult<bool> {
        let program = self.store.program(event.program_id).await?.ok_or_else(not_found)?;
        let default_in = program.opt_in == canopy_core::energy::program::OptIn::DefaultIn;
        let taking_part = self
            .store
            .settlement_participants(event.id)
            .await?
            .iter()
            .filter(|p| p.consent_active && program.opt_in.takes_part(p.answer))
            .count() as i64;
        let found = self
            .store
            .actual_readings(event.id, event.start_slot, event.start_slot + event.intervals, default_in)
            .await?;
        Ok(found >= taking_part * event.intervals)
    }

    /// A citizen's settlements, newest event first.
    pub async fn my_settlements(&self, user_id: i64) -> ServiceResult<Vec<SettlementRow>> {
        Ok(self.store.settlements_of(user_id).await?)
    }

    /// One of a citizen's settlements.
    pub async fn my_settlement(&self, user_id: i64, id: i64) -> ServiceResult<SettlementRow> {
        self.store
            .settlement(id)
            .await?
            .filter(|s| s.user_id == user_id)
            .ok_or_else(|| ServiceError::not_found("settlement_not_found", "there is no such settlement"))
    }

    /// A program's report: every event's figures, its vouchers, and (with
    /// `household`) that household's history in it.
    pub async fn energy_program_report(&self, id: i64, household: Option<i64>) -> ServiceResult<ProgramReport> {
        let program = self
            .store
            .program(id)
            .await?
            .ok_or_else(|| ServiceError::not_found("program_not_found", "there is no such program"))?;
        let mut events = Vec::new();
        for event in self.store.program_events(id).await? {
            events.push(self.energy_event_report(event.id, 0, 0).await?);
        }
        let vouchers = self.store.bill_voucher_totals(id).await?;
        let household = match household {
            None => None,
            Some(user_id) => {
                let ids: std::collections::HashSet<i64> = events.iter().map(|e| e.event.id).collect();
                let mut rows = self.store.settlements_of(user_id).await?;
                rows.retain(|s| ids.contains(&s.event_id));
                Some(rows)
            }
        };
        Ok(ProgramReport { program, events, vouchers, household })
    }

    /// An event's report: its counts and totals, and a page of its households.
    pub async fn energy_event_report(&self, id: i64, after: i64, limit: i64) -> ServiceResult<EventReport> {
        let event = self.store.energy_event(id).await?.ok_or_else(not_found)?;
        let program = self.store.program(event.program_id).await?.ok_or_else(not_found)?;
        let taking_part = self
            .store
            .settlement_participants(id)
            .await?
            .iter()
            .filter(|p| program.opt_in.takes_part(p.answer))
            .count() as i64;
        let (totals, interval_savings) = self.store.settlement_totals(id).await?;
        let mut households =
            if limit > 0 { self.store.event_settlements(id, after, limit + 1).await? } else { Vec::new() };
        let next_cursor = if limit > 0 && households.len() as i64 > limit {
            households.truncate(limit as usize);
            households.last().map(|h| h.meter)
        } else {
            None
        };
        Ok(EventReport { event, program, taking_part, totals, interval_savings, households, next_cursor })
    }
}

/// A household's write before its figures: its identity, what it had
/// before, and nothing saved.
fn blank_write(p: &SettlementParticipant, program: &ProgramRow) -> SettlementWrite {
    let previous = p.previous.as_ref();
    SettlementWrite {
        meter: p.meter,
        user_id: p.user_id,
        previous_version: previous.map_or(0, |p| p.version),
        paid_before: previous.map_or(0, |p| p.paid_fen),
        carbon_before: previous.map_or(0, |p| p.carbon_grams),
        status: "settled",
        code: None,
        method: Method::parse(&program.baseline_method)
            .map_or_else(|| program.baseline_method.clone(), Method::versioned),
        days_used: Vec::new(),
        adjustment_milli: 1000,
        baseline: Vec::new(),
        actual: Vec::new(),
        complete: false,
        saving_wh: 0,
        reward_fen: 0,
        paid_fen: 0,
        carbon_grams: 0,
        methodology: None,
    }
}
