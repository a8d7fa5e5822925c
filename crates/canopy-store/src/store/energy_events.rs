//! Demand-response programs, their events and the households taking part,
//! in storage. An event's participants are chosen in one statement (the
//! meters of the targeted households that consented to the utility with the
//! `housing` scope), so inviting a million households is one `INSERT …
//! SELECT`, not a million round trips.

use canopy_core::energy::bills::BillVouchers;
use canopy_core::energy::program::{Answer, EventPlan, OptIn};
use canopy_core::types::Category;
use chrono::{DateTime, Utc};

use super::{on_read, on_write, Store};
use crate::{format_time, parse_time, StoreResult};

/// A program as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramRow {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Where it runs (ISO 3166-2 region or country).
    pub region: String,
    /// Fen paid per kWh saved.
    pub reward_fen_per_kwh: i64,
    /// The baseline method's name.
    pub baseline_method: String,
    /// Whether the baseline is adjusted by the hours before an event.
    pub day_of_adjustment: bool,
    /// Where the grid emission factors come from.
    pub emission_factor_source: String,
    /// The pool (fen) rewards are paid from.
    pub pool_id: i64,
    /// Who takes part.
    pub opt_in: OptIn,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its year-on-year bill vouchers, if it pays them.
    pub bill_vouchers: Option<BillVouchers>,
}

type ProgramTuple = (i64, String, String, i64, String, bool, String, i64, String, String, Option<String>);

const PROGRAM_SELECT: &str = "SELECT id, name, region, reward_fen_per_kwh, baseline_method, day_of_adjustment,
        emission_factor_source, pool_id, opt_in, created_at, bill_voucher FROM energy_programs";

fn program_from(r: ProgramTuple) -> ProgramRow {
    ProgramRow {
        id: r.0,
        name: r.1,
        region: r.2,
        reward_fen_per_kwh: r.3,
        baseline_method: r.4,
        day_of_adjustment: r.5,
        emission_factor_source: r.6,
        pool_id: r.7,
        opt_in: OptIn::parse(&r.8).unwrap_or_else(|| panic!("stored opt_in `{}` is not known", r.8)),
        created_at: parse_time(&r.9),
        bill_vouchers: r.10.map(|text| {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("a stored voucher rule `{text}` does not read: {e}"))
        }),
    }
}

/// An event as stored, with its participants counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Its id.
    pub id: i64,
    /// Its program.
    pub program_id: i64,
    /// Its first interval's slot.
    pub start_slot: i64,
    /// How many intervals.
    pub intervals: i64,
    /// When invitations went (or go) out.
    pub invitations_at: Option<DateTime<Utc>>,
    /// The deadline for answers.
    pub respond_by: Option<DateTime<Utc>>,
    /// Recorded after it began (nobody invited).
    pub recorded: bool,
    /// The targeted region, if a region was targeted.
    pub target_region: Option<String>,
    /// Households (meters) taking part or invited.
    pub participants: i64,
    /// Of them, invited.
    pub invited: i64,
    /// Of them, answered `in`.
    pub answered_in: i64,
    /// Of them, answered `out`.
    pub answered_out: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it settles on whatever data arrived.
    pub cutoff: DateTime<Utc>,
    /// How many times it was settled (0: not yet).
    pub settled_version: i64,
    /// When it was last settled.
    pub settled_at: Option<DateTime<Utc>>,
    /// Whether every taking-part household's data was complete when it was last settled.
    pub settled_complete: Option<bool>,
}

#[derive(sqlx::FromRow)]
struct EventRecord {
    id: i64,
    program_id: i64,
    start_slot: i64,
    intervals: i64,
    invitations_at: Option<String>,
    respond_by: Option<String>,
    recorded: bool,
    target_region: Option<String>,
    participants: i64,
    invited: i64,
    answered_in: i64,
    answered_out: i64,
    created_at: String,
    cutoff: Option<String>,
    settled_version: i64,
    settled_at: Option<String>,
    settled_complete: Option<bool>,
}

const EVENT_SELECT: &str = "SELECT e.id, e.program_id, e.start_slot, e.intervals, e.invitations_at, e.respond_by,
        e.recorded, e.target_region,
        (SELECT COUNT(*) FROM energy_participants p WHERE p.event_id = e.id) AS participants,
        (SELECT COUNT(*) FROM energy_participants p WHERE p.event_id = e.id AND p.invited) AS invited,
        (SELECT COUNT(*) FROM energy_participants p WHERE p.event_id = e.id AND p.answer = 'in') AS answered_in,
        (SELECT COUNT(*) FROM energy_participants p WHERE p.event_id = e.id AND p.answer = 'out') AS answered_out,
        e.created_at, e.cutoff, e.settled_version, e.settled_at, e.settled_complete
 FROM energy_events e";

fn event_from(r: EventRecord) -> EventRow {
    EventRow {
        id: r.id,
        program_id: r.program_id,
        start_slot: r.start_slot,
        intervals: r.intervals,
        invitations_at: r.invitations_at.as_deref().map(parse_time),
        respond_by: r.respond_by.as_deref().map(parse_time),
        recorded: r.recorded,
        target_region: r.target_region,
        participants: r.participants,
        invited: r.invited,
        answered_in: r.answered_in,
        answered_out: r.answered_out,
        created_at: parse_time(&r.created_at),
        cutoff: r.cutoff.as_deref().map(parse_time).unwrap_or_else(|| {
            // Events made before cut-offs were stored: a day after the end.
            canopy_core::energy::readings::start_of(r.start_slot + r.intervals)
                + chrono::Duration::seconds(canopy_core::energy::program::CUTOFF_AFTER_END_S)
        }),
        settled_version: r.settled_version,
        settled_at: r.settled_at.as_deref().map(parse_time),
        settled_complete: r.settled_complete,
    }
}

/// A household's invitation, with its event's window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRow {
    /// Its id.
    pub id: i64,
    /// The event.
    pub event_id: i64,
    /// The program's name.
    pub program: String,
    /// Fen per kWh saved.
    pub reward_fen_per_kwh: i64,
    /// The event's first slot.
    pub start_slot: i64,
    /// Its intervals.
    pub intervals: i64,
    /// When the invitation went out.
    pub invitations_at: Option<DateTime<Utc>>,
    /// The deadline.
    pub respond_by: Option<DateTime<Utc>>,
    /// The household's answer.
    pub answer: Option<Answer>,
}

type InvitationTuple = (i64, i64, String, i64, i64, i64, Option<String>, Option<String>, Option<String>);

const INVITATION_SELECT: &str = "SELECT p.id, e.id, g.name, g.reward_fen_per_kwh, e.start_slot, e.intervals,
        e.invitations_at, e.respond_by, p.answer
 FROM energy_participants p JOIN energy_events e ON e.id = p.event_id JOIN energy_programs g ON g.id = e.program_id";

fn invitation_from(r: InvitationTuple) -> InvitationRow {
    InvitationRow {
        id: r.0,
        event_id: r.1,
        program: r.2,
        reward_fen_per_kwh: r.3,
        start_slot: r.4,
        intervals: r.5,
        invitations_at: r.6.as_deref().map(parse_time),
        respond_by: r.7.as_deref().map(parse_time),
        answer: r.8.as_deref().and_then(Answer::parse),
    }
}

/// Which households an event targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every household with a meter in the region (a subdivision, or a country's subdivisions).
    Region(String),
    /// These households (those of them with a meter).
    Citizens(Vec<i64>),
}

/// The households that may take part: a meter, and the utility's consent
/// with the `housing` scope, not revoked.
const ELIGIBLE: &str = "FROM meters m JOIN consents c ON c.user_id = m.user_id AND c.partner_id = m.partner_id
     WHERE c.revoked_at IS NULL AND (c.scopes & $3) <> 0";

impl Store {
    /// Creates a program.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_program(
        &self,
        name: &str,
        region: &str,
        reward_fen_per_kwh: i64,
        baseline_method: &str,
        day_of_adjustment: bool,
        emission_factor_source: &str,
        pool_id: i64,
        opt_in: OptIn,
        bill_vouchers: Option<&BillVouchers>,
        now: DateTime<Utc>,
    ) -> StoreResult<ProgramRow> {
        let id: i64 = on_write!(self, |db| {
            sqlx::query_scalar(
                "INSERT INTO energy_programs (name, region, reward_fen_per_kwh, baseline_method, day_of_adjustment,
                                              emission_factor_source, pool_id, opt_in, created_at, bill_voucher)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(name)
            .bind(region)
            .bind(reward_fen_per_kwh)
            .bind(baseline_method)
            .bind(day_of_adjustment)
            .bind(emission_factor_source)
            .bind(pool_id)
            .bind(opt_in.as_str())
            .bind(format_time(now))
            .bind(bill_vouchers.map(|b| serde_json::to_string(b).expect("a voucher rule serialises")))
            .fetch_one(db)
            .await
        })?;
        Ok(self.program(id).await?.expect("a program just made"))
    }

    /// One program.
    pub async fn program(&self, id: i64) -> StoreResult<Option<ProgramRow>> {
        let row: Option<ProgramTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{PROGRAM_SELECT} WHERE id = $1")).bind(id).fetch_optional(db).await
        })?;
        Ok(row.map(program_from))
    }

    /// Every program (at most 500), oldest first.
    pub async fn programs(&self) -> StoreResult<Vec<ProgramRow>> {
        let rows: Vec<ProgramTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{PROGRAM_SELECT} ORDER BY id LIMIT 500")).fetch_all(db).await
        })?;
        Ok(rows.into_iter().map(program_from).collect())
    }

    /// Creates an event and its participants (the targeted households'
    /// meters), in one transaction.
    pub async fn create_event(
        &self,
        program_id: i64,
        plan: &EventPlan,
        target: &Target,
        now: DateTime<Utc>,
    ) -> StoreResult<EventRow> {
        let housing = i64::from(Category::Housing.bit());
        let region = match target {
            Target::Region(region) => Some(region.clone()),
            Target::Citizens(_) => None,
        };
        let id: i64 = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO energy_events (program_id, start_slot, intervals, invitations_at, respond_by, recorded,
                                            target_region, created_at, cutoff)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(program_id)
            .bind(plan.start_slot)
            .bind(plan.intervals)
            .bind(plan.invitations_at.map(format_time))
            .bind(plan.respond_by.map(format_time))
            .bind(plan.recorded)
            .bind(&region)
            .bind(format_time(now))
            .bind(format_time(plan.cutoff))
            .fetch_one(&mut *tx)
            .await?;
            let insert =
                "INSERT INTO energy_participants (event_id, user_id, meter, invited) SELECT $1, m.user_id, m.id, $2";
            match target {
                Target::Region(region) => {
                    // A country (`CN`) targets its subdivisions (`CN-…`).
                    let (exact, prefix) = (region.clone(), format!("{region}-%"));
                    sqlx::query(&format!("{insert} {ELIGIBLE} AND (m.region = $4 OR m.region LIKE $5)"))
                        .bind(id)
                        .bind(!plan.recorded)
                        .bind(housing)
                        .bind(&exact)
                        .bind(&prefix)
                        .execute(&mut *tx)
                        .await?;
                }
                Target::Citizens(citizens) => {
                    for citizen in citizens {
                        sqlx::query(&format!("{insert} {ELIGIBLE} AND m.user_id = $4 ON CONFLICT DO NOTHING"))
                            .bind(id)
                            .bind(!plan.recorded)
                            .bind(housing)
                            .bind(citizen)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            tx.commit().await?;
            id
        });
        Ok(self.energy_event(id).await?.expect("an event just made"))
    }

    /// One event, with its participants counted.
    pub async fn energy_event(&self, id: i64) -> StoreResult<Option<EventRow>> {
        let row: Option<EventRecord> = on_read!(self, |db| {
            sqlx::query_as(&format!("{EVENT_SELECT} WHERE e.id = $1")).bind(id).fetch_optional(db).await
        })?;
        Ok(row.map(event_from))
    }

    /// A program's events, oldest first (at most 1,000).
    pub async fn program_events(&self, program_id: i64) -> StoreResult<Vec<EventRow>> {
        let rows: Vec<EventRecord> = on_read!(self, |db| {
            sqlx::query_as(&format!("{EVENT_SELECT} WHERE e.program_id = $1 ORDER BY e.start_slot, e.id LIMIT 1000"))
                .bind(program_id)
                .fetch_all(db)
                .await
        })?;
        Ok(rows.into_iter().map(event_from).collect())
    }

    /// A household's invitations, newest first (at most 200).
    pub async fn invitations_of(&self, user_id: i64) -> StoreResult<Vec<InvitationRow>> {
        let rows: Vec<InvitationTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!(
                "{INVITATION_SELECT} WHERE p.user_id = $1 AND p.invited ORDER BY p.id DESC LIMIT 200"
            ))
            .bind(user_id)
            .fetch_all(db)
            .await
        })?;
        Ok(rows.into_iter().map(invitation_from).collect())
    }

    /// One invitation of `user_id`.
    pub async fn invitation(&self, user_id: i64, id: i64) -> StoreResult<Option<InvitationRow>> {
        let row: Option<InvitationTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{INVITATION_SELECT} WHERE p.id = $1 AND p.user_id = $2 AND p.invited"))
                .bind(id)
                .bind(user_id)
                .fetch_optional(db)
                .await
        })?;
        Ok(row.map(invitation_from))
    }

    /// Records `user_id`'s answer to invitation `id` (the caller checked the deadline).
    pub async fn answer_invitation(
        &self,
        user_id: i64,
        id: i64,
        answer: Answer,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_write!(self, |db| {
            sqlx::query("UPDATE energy_participants SET answer = $3, answered_at = $4 WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .bind(answer.as_str())
                .bind(format_time(now))
                .execute(db)
                .await
                .map(drop)
        })?;
        Ok(())
    }
}
