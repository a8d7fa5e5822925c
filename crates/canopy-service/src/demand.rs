//! Demand response: the operator's programs and events, and the
//! households' invitations and answers.

use canopy_core::energy::baseline::Method;
use canopy_core::energy::bills::{BillVouchers, VoucherRule};
use canopy_core::energy::program::{self, Answer, OptIn, REWARD_FEN_PER_KWH_MAX};
use canopy_core::ledger::PoolUnit;
use canopy_core::types::RegionCode;
use canopy_store::{EventRow, InvitationRow, ProgramRow, Target};
use openleadr_wire::subscription::{AnyObject, Operation};

use crate::error::{ErrorKind, ServiceError, ServiceResult};
use crate::Service;

/// The emission factors' source when a program names none.
pub const DEFAULT_EMISSION_FACTOR_SOURCE: &str =
    "Ministry of Ecology and Environment and National Bureau of Statistics, 2022 grid emission factors";
/// The most households an event may name one by one.
pub const EVENT_CITIZENS_MAX: usize = 10_000;

/// A program to create.
#[derive(Debug, Clone)]
pub struct NewProgram {
    /// Its name.
    pub name: String,
    /// Where it runs: an ISO 3166-2 region or a country.
    pub region: String,
    /// Fen paid per kWh saved (200 for Jiangxi's 2 yuan).
    pub reward_fen_per_kwh: i64,
    /// The baseline method's name.
    pub baseline_method: String,
    /// Whether the baseline is adjusted by the hours before an event.
    pub day_of_adjustment: bool,
    /// Where the emission factors come from.
    pub emission_factor_source: Option<String>,
    /// The funded pool (fen) rewards are paid from.
    pub pool_id: i64,
    /// `required` or `default_in`.
    pub opt_in: String,
    /// Year-on-year bill vouchers, if the program pays them.
    pub bill_vouchers: Option<NewBillVouchers>,
}

/// A program's year-on-year bill vouchers, as asked for.
#[derive(Debug, Clone)]
pub struct NewBillVouchers {
    /// The funded pool (fen) they are paid from.
    pub pool_id: i64,
    /// The decrease a bill must exceed, percent of the same month a year earlier (default 5).
    pub threshold_pct: Option<f64>,
    /// Voucher fen per fen of decrease (default 1).
    pub ratio: Option<f64>,
    /// How long a voucher is valid, days (default 90).
    pub valid_days: Option<i64>,
    /// The shops (partners) that accept them.
    pub merchants: Vec<i64>,
}

/// The most shops a program's vouchers may name.
pub const VOUCHER_MERCHANTS_MAX: usize = 10_000;

/// An event to create.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Its program.
    pub program_id: i64,
    /// Its start (RFC 3339, on a 15-minute boundary).
    pub start: String,
    /// Its length in minutes (a multiple of 15).
    pub duration_minutes: i64,
    /// When invitations go out (default now; none for an event in the past).
    pub invitations_at: Option<String>,
    /// The deadline for answers (default the start).
    pub respond_by: Option<String>,
    /// When it settles on whatever data arrived (default a day after the end).
    pub cutoff: Option<String>,
    /// Who is targeted.
    pub target: Target,
}

fn invalid(code: &'static str, detail: impl Into<String>) -> ServiceError {
    ServiceError::invalid(code, detail)
}

fn time(field: &str, text: &str) -> ServiceResult<chrono::DateTime<chrono::Utc>> {
    canopy_core::time::parse_rfc3339_utc(text)
        .ok_or_else(|| invalid("invalid_event", format!("{field}: must be an RFC 3339 time")))
}

impl Service {
    /// Creates a program.
    pub async fn create_program(&self, new: NewProgram) -> ServiceResult<ProgramRow> {
        let name = canopy_core::redemption::project::checked_text("name", &new.name, 200)
            .map_err(|e| invalid("invalid_program", e.to_string()))?;
        let region =
            RegionCode::parse_pattern(&new.region).map_err(|e| invalid("invalid_program", format!("region: {e}")))?;
        if !(0..=REWARD_FEN_PER_KWH_MAX).contains(&new.reward_fen_per_kwh) {
            return Err(invalid(
                "invalid_program",
                format!("reward_fen_per_kwh must be 0 to {REWARD_FEN_PER_KWH_MAX}"),
            ));
        }
        let method = Method::parse(&new.baseline_method).ok_or_else(|| {
            invalid("invalid_program", "baseline.method must be mean_10_of_10, high_5_of_10 or mean_5_working_days")
        })?;
        let opt_in = OptIn::parse(&new.opt_in)
            .ok_or_else(|| invalid("invalid_program", "opt_in must be `required` or `default_in`"))?;
        let source = match new.emission_factor_source.as_deref() {
            None => DEFAULT_EMISSION_FACTOR_SOURCE.to_owned(),
            Some(text) => canopy_core::redemption::project::checked_text("emission_factor_source", text, 200)
                .map_err(|e| invalid("invalid_program", e.to_string()))?,
        };
        let pool = self.fen_pool(new.pool_id).await?;
        let bill_vouchers = match new.bill_vouchers {
            None => None,
            Some(b) => Some(self.bill_voucher_rule(b).await?),
        };
        let program = self
            .store
            .create_program(
                &name,
                region.as_str(),
                new.reward_fen_per_kwh,
                method.as_str(),
                new.day_of_adjustment,
                &source,
                pool.id,
                opt_in,
                bill_vouchers.as_ref(),
                self.now(),
            )
            .await?;
        let object = AnyObject::Program(crate::openadr::program_object(&program));
        self.notify_vens(program.id, object, Operation::Create).await;
        Ok(program)
    }

    /// One program.
    pub async fn program(&self, id: i64) -> ServiceResult<ProgramRow> {
        self.store
            .program(id)
            .await?
            .ok_or_else(|| ServiceError::not_found("program_not_found", "there is no such program"))
    }

    async fn fen_pool(&self, id: i64) -> ServiceResult<canopy_store::PoolRow> {
        let pool = self
            .store
            .pool(id)
            .await?
            .ok_or_else(|| ServiceError::not_found("pool_not_found", "there is no such pool"))?;
        if pool.unit != PoolUnit::Fen {
            return Err(invalid("invalid_pool", "rewards and vouchers are paid in fen: the pool's unit must be `fen`"));
        }
        Ok(pool)
    }

    async fn bill_voucher_rule(&self, b: NewBillVouchers) -> ServiceResult<BillVouchers> {
        let pool = self.fen_pool(b.pool_id).await?;
        let milli = |field: &str, value: f64, range: std::ops::RangeInclusive<f64>| {
            if value.is_finite() && range.contains(&value) {
                Ok((value * 1000.0).round() as i64)
            } else {
                Err(invalid(
                    "invalid_program",
                    format!("bill_vouchers.{field} must be {} to {}", range.start(), range.end()),
                ))
            }
        };
        let defaults = VoucherRule::default();
        let threshold_milli = match b.threshold_pct {
            None => defaults.threshold_milli,
            Some(pct) => milli("threshold_pct", pct / 100.0, 0.0..=0.99)?,
        };
        let ratio_milli = match b.ratio {
            None => defaults.ratio_milli,
            Some(ratio) => milli("ratio", ratio, 0.001..=10.0)?,
        };
        let valid_days = b.valid_days.unwrap_or(defaults.valid_days);
        if !(1..=366).contains(&valid_days) {
            return Err(invalid("invalid_program", "bill_vouchers.valid_days must be 1 to 366"));
        }
        if b.merchants.is_empty() || b.merchants.len() > VOUCHER_MERCHANTS_MAX {
            return Err(invalid(
                "invalid_program",
                format!("bill_vouchers.merchants must name 1 to {VOUCHER_MERCHANTS_MAX} shops"),
            ));
        }
        for merchant in &b.merchants {
            if self.store.partner(*merchant).await?.is_none() {
                return Err(invalid(
                    "invalid_program",
                    format!("bill_vouchers.merchants: ptn_{merchant} is not a partner"),
                ));
            }
        }
        Ok(BillVouchers {
            pool_id: pool.id,
            rule: VoucherRule { threshold_milli, ratio_milli, valid_days },
            merchants: b.merchants,
        })
    }

    /// Every program.
    pub async fn programs(&self) -> ServiceResult<Vec<ProgramRow>> {
        Ok(self.store.programs().await?)
    }

    /// Creates an event and invites (or, after the fact, records) the
    /// targeted households with a meter.
    pub async fn create_energy_event(&self, new: NewEvent) -> ServiceResult<EventRow> {
        let program = self.program(new.program_id).await?;
        let start = time("start", &new.start)?;
        let invitations_at = new.invitations_at.as_deref().map(|t| time("invitations_at", t)).transpose()?;
        let respond_by = new.respond_by.as_deref().map(|t| time("respond_by", t)).transpose()?;
        let cutoff = new.cutoff.as_deref().map(|t| time("cutoff", t)).transpose()?;
        let plan = program::check_event(start, new.duration_minutes, invitations_at, respond_by, cutoff, self.now())
            .map_err(|e| invalid("invalid_event", e.to_string()))?;
        let target = match new.target {
            Target::Region(region) => Target::Region(
                RegionCode::parse_pattern(&region)
                    .map_err(|e| invalid("invalid_event", format!("targets.region: {e}")))?
                    .as_str()
                    .to_owned(),
            ),
            Target::Citizens(citizens) if citizens.is_empty() || citizens.len() > EVENT_CITIZENS_MAX => {
                return Err(invalid(
                    "invalid_event",
                    format!("targets.user_ids must name 1 to {EVENT_CITIZENS_MAX} citizens"),
                ))
            }
            citizens => citizens,
        };
        let event = self.store.create_event(new.program_id, &plan, &target, self.now()).await?;
        let object = AnyObject::Event(crate::openadr::event_object(&event, &program));
        self.notify_vens(program.id, object, Operation::Create).await;
        Ok(event)
    }

    /// A program's events, oldest first.
    pub async fn program_events(&self, program_id: i64) -> ServiceResult<Vec<EventRow>> {
        Ok(self.store.program_events(program_id).await?)
    }

    /// One event.
    pub async fn energy_event(&self, id: i64) -> ServiceResult<EventRow> {
        self.store
            .energy_event(id)
            .await?
            .ok_or_else(|| ServiceError::not_found("event_not_found", "there is no such event"))
    }

    /// A household's invitations, newest first.
    pub async fn invitations(&self, user_id: i64) -> ServiceResult<Vec<InvitationRow>> {
        let now = self.now();
        let mut invitations = self.store.invitations_of(user_id).await?;
        // An invitation is seen once it has gone out.
        invitations.retain(|i| i.invitations_at.is_some_and(|sent| sent <= now));
        Ok(invitations)
    }

    /// `user_id` answers invitation `id` before its deadline.
    pub async fn answer_invitation(&self, user_id: i64, id: i64, answer: &str) -> ServiceResult<InvitationRow> {
        let answer = Answer::parse(answer).ok_or_else(|| invalid("invalid_answer", "answer must be `in` or `out`"))?;
        let not_found = || ServiceError::not_found("invitation_not_found", "there is no such invitation");
        let invitation = self.store.invitation(user_id, id).await?.ok_or_else(not_found)?;
        let now = self.now();
        program::may_answer(invitation.invitations_at, invitation.respond_by, now).map_err(
            |refusal| match refusal {
                program::AnswerRefusal::NotYetInvited => not_found(),
                program::AnswerRefusal::ResponseClosed => {
                    ServiceError::new(ErrorKind::Conflict, "response_closed", "answers to this invitation closed")
                }
            },
        )?;
        self.store.answer_invitation(user_id, id, answer, now).await?;
        self.store.invitation(user_id, id).await?.ok_or_else(not_found)
    }
}
