//! Settling demand-response events, in storage: what a settlement reads
//! (the taking-part households with their consent and their last figures;
//! the meter readings are `settlement_reads`), what it
//! writes (a chunk of households' figures with their correcting ledger
//! sets, in the writer, so that the figures and the money move together or
//! not at all), and what citizens and operators read back.
//!
//! A chunk is compare-and-set: each household's figures are written only if
//! the version the settlement started from is still the stored one, so two
//! servers settling one event at once cannot pay a household twice; the
//! loser is refused with `settlement_raced` and the next run starts over
//! from what the winner wrote.

use canopy_core::energy::program::Answer;
use canopy_core::energy::settlement;
use canopy_core::ledger::{Cause, PostingSet};
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension};
use sqlx::PgConnection;

use super::balls::GameOutcome;
use super::postings::{post_postgres, post_sqlite, LedgerLocked, PostFailure};
use super::{on_read, on_write, Store};
use crate::{format_time, parse_time, StoreResult};

/// The most households one writer command settles.
pub const SETTLE_CHUNK_MAX: usize = 5_000;
/// The most settlements a citizen's list shows.
pub const SETTLEMENTS_LISTED_MAX: i64 = 200;

/// A household taking part in an event, as a settlement reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementParticipant {
    /// The meter (internal id).
    pub meter: i64,
    /// The household.
    pub user_id: i64,
    /// The meter's region (which grid's factor applies).
    pub region: String,
    /// Its answer, if it answered.
    pub answer: Option<Answer>,
    /// Whether it was invited (rather than recorded after the fact).
    pub invited: bool,
    /// Whether the utility's consent with the housing scope still stands.
    pub consent_active: bool,
    /// Its figures as last settled, if it was.
    pub previous: Option<Previous>,
}

/// A household's figures as last settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    /// How many times its figures changed.
    pub version: i64,
    /// What it was paid in all, fen.
    pub paid_fen: i64,
    /// The reduction verified in all, grams.
    pub carbon_grams: i64,
    /// The saving, Wh.
    pub saving_wh: i64,
    /// Whether its data was complete.
    pub complete: bool,
    /// Its status.
    pub status: String,
}

/// A household's figures to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementWrite {
    /// The meter.
    pub meter: i64,
    /// The household.
    pub user_id: i64,
    /// The version the settlement started from (0: none).
    pub previous_version: i64,
    /// What it was paid before, fen.
    pub paid_before: i64,
    /// The reduction verified before, grams.
    pub carbon_before: i64,
    /// `settled`, `no_baseline` or `consent_revoked`.
    pub status: &'static str,
    /// Why there is no saving, when there is none for a reason.
    pub code: Option<String>,
    /// The baseline method, versioned.
    pub method: String,
    /// The days the baseline averaged.
    pub days_used: Vec<NaiveDate>,
    /// The day-of adjustment, thousandths.
    pub adjustment_milli: i64,
    /// The baseline per event interval, Wh.
    pub baseline: Vec<i64>,
    /// What was drawn per event interval, Wh (`None`: no reading).
    pub actual: Vec<Option<i64>>,
    /// Whether every interval has an actual reading.
    pub complete: bool,
    /// The saving, Wh.
    pub saving_wh: i64,
    /// What the saving earns in full, fen.
    pub reward_fen: i64,
    /// What it is paid in all now, fen.
    pub paid_fen: i64,
    /// The reduction verified in all now, grams.
    pub carbon_grams: i64,
    /// The methodology (`id@version`) that verified it.
    pub methodology: Option<String>,
}

/// How a settlement run ends: the event's figures, written with its last chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementFinish {
    /// The event's settlement count before this run.
    pub previous_version: i64,
    /// Whether every taking-part household's data was complete.
    pub complete: bool,
    /// The saving of all households per event interval, Wh.
    pub interval_savings: Vec<i64>,
}

/// A chunk of an event's settlement for the writer.
#[derive(Debug, Clone)]
pub struct SettlementChunk {
    /// The event.
    pub event_id: i64,
    /// The program's pool (fen).
    pub pool_id: i64,
    /// The households whose figures changed.
    pub rows: Vec<SettlementWrite>,
    /// Set on the run's last chunk.
    pub finish: Option<SettlementFinish>,
}

impl SettlementChunk {
    fn sets(&self) -> Vec<PostingSet> {
        self.rows
            .iter()
            .filter_map(|r| {
                let cause =
                    Cause::Settlement { id: settlement::cause_id(self.event_id, r.meter, r.previous_version + 1) };
                settlement::posting(
                    cause,
                    r.user_id,
                    self.pool_id,
                    r.paid_fen - r.paid_before,
                    r.carbon_grams - r.carbon_before,
                )
            })
            .collect()
    }

    fn outcome(&self) -> GameOutcome {
        GameOutcome::EnergySettled {
            event_id: self.event_id,
            households: self.rows.len() as i64,
            paid_fen: self.rows.iter().map(|r| r.paid_fen - r.paid_before).sum(),
        }
    }
}

fn raced() -> GameOutcome {
    GameOutcome::Refused {
        code: "settlement_raced".into(),
        message: "another settlement of this event changed it meanwhile; settle again".into(),
    }
}

pub(crate) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("settlement figures serialise")
}

const UPSERT: &str = "INSERT INTO energy_settlements (event_id, meter, user_id, version, status, code, method, days_used,
        adjustment_milli, baseline, actual, complete, saving_wh, reward_fen, paid_fen, carbon_grams, methodology, settled_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
     ON CONFLICT (event_id, meter) DO UPDATE SET version = excluded.version, status = excluded.status,
        code = excluded.code, method = excluded.method, days_used = excluded.days_used,
        adjustment_milli = excluded.adjustment_milli, baseline = excluded.baseline, actual = excluded.actual,
        complete = excluded.complete, saving_wh = excluded.saving_wh, reward_fen = excluded.reward_fen,
        paid_fen = excluded.paid_fen, carbon_grams = excluded.carbon_grams, methodology = excluded.methodology,
        settled_at = excluded.settled_at";

const FINISH: &str = "UPDATE energy_events SET settled_version = settled_version + 1, settled_at = $2,
        settled_complete = $3, checked_at = $2, interval_savings = $4
     WHERE id = $1 AND settled_version = $5";

/// Writes a chunk in the SQLite writer's transaction.
pub(crate) fn settle_sqlite(
    tx: &rusqlite::Transaction<'_>,
    chunk: &SettlementChunk,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<rusqlite::Error>> {
    let now_text = format_time(now);
    {
        let mut version =
            tx.prepare_cached("SELECT version FROM energy_settlements WHERE event_id = ?1 AND meter = ?2")?;
        for row in &chunk.rows {
            let stored: i64 =
                version.query_row(params![chunk.event_id, row.meter], |r| r.get(0)).optional()?.unwrap_or(0);
            if stored != row.previous_version {
                return Ok(raced());
            }
        }
    }
    post_sqlite(tx, &chunk.sets(), &now_text)?;
    let sql = UPSERT.replace('$', "?");
    let mut upsert = tx.prepare_cached(&sql)?;
    for r in &chunk.rows {
        upsert.execute(params![
            chunk.event_id,
            r.meter,
            r.user_id,
            r.previous_version + 1,
            r.status,
            r.code,
            r.method,
            json(&r.days_used),
            r.adjustment_milli,
            json(&r.baseline),
            json(&r.actual),
            r.complete,
            r.saving_wh,
            r.reward_fen,
            r.paid_fen,
            r.carbon_grams,
            r.methodology,
            now_text,
        ])?;
    }
    if let Some(finish) = &chunk.finish {
        let changed = tx.prepare_cached(&FINISH.replace('$', "?"))?.execute(params![
            chunk.event_id,
            now_text,
            finish.complete,
            json(&finish.interval_savings),
            finish.previous_version,
        ])?;
        if changed != 1 {
            return Ok(raced());
        }
    }
    Ok(chunk.outcome())
}

/// Writes a chunk on the PostgreSQL writer's connection, under the ledger's lock.
pub(crate) async fn settle_postgres(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    chunk: &SettlementChunk,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<sqlx::Error>> {
    let now_text = format_time(now);
    let meters: Vec<i64> = chunk.rows.iter().map(|r| r.meter).collect();
    let stored: Vec<(i64, i64)> =
        sqlx::query_as("SELECT meter, version FROM energy_settlements WHERE event_id = $1 AND meter = ANY($2)")
            .bind(chunk.event_id)
            .bind(&meters)
            .fetch_all(&mut *db)
            .await?;
    let stored: std::collections::HashMap<i64, i64> = stored.into_iter().collect();
    if chunk.rows.iter().any(|r| stored.get(&r.meter).copied().unwrap_or(0) != r.previous_version) {
        return Ok(raced());
    }
    post_postgres(db, locked, &chunk.sets(), &now_text).await?;
    if !chunk.rows.is_empty() {
        let rows = &chunk.rows;
        let col = |f: fn(&SettlementWrite) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
        sqlx::query(
            "INSERT INTO energy_settlements (event_id, meter, user_id, version, status, code, method, days_used,
                adjustment_milli, baseline, actual, complete, saving_wh, reward_fen, paid_fen, carbon_grams,
                methodology, settled_at)
             SELECT $1, * , $17 FROM UNNEST($2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::TEXT[], $6::TEXT[],
                $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::TEXT[], $11::TEXT[], $12::BOOLEAN[], $13::BIGINT[],
                $14::BIGINT[], $15::BIGINT[], $16::BIGINT[], $18::TEXT[])
             ON CONFLICT (event_id, meter) DO UPDATE SET version = excluded.version, status = excluded.status,
                code = excluded.code, method = excluded.method, days_used = excluded.days_used,
                adjustment_milli = excluded.adjustment_milli, baseline = excluded.baseline, actual = excluded.actual,
                complete = excluded.complete, saving_wh = excluded.saving_wh, reward_fen = excluded.reward_fen,
                paid_fen = excluded.paid_fen, carbon_grams = excluded.carbon_grams,
                methodology = excluded.methodology, settled_at = excluded.settled_at",
        )
        .bind(chunk.event_id)
        .bind(col(|r| r.meter))
        .bind(col(|r| r.user_id))
        .bind(col(|r| r.previous_version + 1))
        .bind(rows.iter().map(|r| r.status.to_owned()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.code.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.method.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| json(&r.days_used)).collect::<Vec<_>>())
        .bind(col(|r| r.adjustment_milli))
        .bind(rows.iter().map(|r| json(&r.baseline)).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| json(&r.actual)).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.complete).collect::<Vec<_>>())
        .bind(col(|r| r.saving_wh))
        .bind(col(|r| r.reward_fen))
        .bind(col(|r| r.paid_fen))
        .bind(col(|r| r.carbon_grams))
        .bind(&now_text)
        .bind(rows.iter().map(|r| r.methodology.clone()).collect::<Vec<_>>())
        .execute(&mut *db)
        .await?;
    }
    if let Some(finish) = &chunk.finish {
        let changed = sqlx::query(FINISH)
            .bind(chunk.event_id)
            .bind(&now_text)
            .bind(finish.complete)
            .bind(json(&finish.interval_savings))
            .bind(finish.previous_version)
            .execute(&mut *db)
            .await?
            .rows_affected();
        if changed != 1 {
            return Ok(raced());
        }
    }
    Ok(chunk.outcome())
}

/// A household's settlement as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementRow {
    /// Its id.
    pub id: i64,
    /// The event.
    pub event_id: i64,
    /// The program's name.
    pub program: String,
    /// The event's first slot.
    pub start_slot: i64,
    /// The meter (internal id).
    pub meter: i64,
    /// The partner's id for the meter.
    pub meter_id: String,
    /// The household.
    pub user_id: i64,
    /// How many times its figures changed.
    pub version: i64,
    /// `settled`, `no_baseline` or `consent_revoked`.
    pub status: String,
    /// Why there is no saving, when there is none for a reason.
    pub code: Option<String>,
    /// The baseline method, versioned.
    pub method: String,
    /// The days the baseline averaged (YYYY-MM-DD).
    pub days_used: Vec<String>,
    /// The day-of adjustment, thousandths.
    pub adjustment_milli: i64,
    /// The baseline per interval, Wh.
    pub baseline: Vec<i64>,
    /// What was drawn per interval, Wh.
    pub actual: Vec<Option<i64>>,
    /// Whether every interval had an actual reading.
    pub complete: bool,
    /// The saving, Wh.
    pub saving_wh: i64,
    /// What the saving earns in full, fen.
    pub reward_fen: i64,
    /// What was paid, fen.
    pub paid_fen: i64,
    /// The reduction verified, grams.
    pub carbon_grams: i64,
    /// The methodology that verified it.
    pub methodology: Option<String>,
    /// When its figures last changed.
    pub settled_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SettlementRecord {
    id: i64,
    event_id: i64,
    program: String,
    start_slot: i64,
    meter: i64,
    meter_id: String,
    user_id: i64,
    version: i64,
    status: String,
    code: Option<String>,
    method: String,
    days_used: String,
    adjustment_milli: i64,
    baseline: String,
    actual: String,
    complete: bool,
    saving_wh: i64,
    reward_fen: i64,
    paid_fen: i64,
    carbon_grams: i64,
    methodology: Option<String>,
    settled_at: String,
}

impl From<SettlementRecord> for SettlementRow {
    fn from(r: SettlementRecord) -> Self {
        fn read<T: serde::de::DeserializeOwned>(text: &str) -> T {
            serde_json::from_str(text).unwrap_or_else(|e| panic!("stored figures `{text}`: {e}"))
        }
        SettlementRow {
            id: r.id,
            event_id: r.event_id,
            program: r.program,
            start_slot: r.start_slot,
            meter: r.meter,
            meter_id: r.meter_id,
            user_id: r.user_id,
            version: r.version,
            status: r.status,
            code: r.code,
            method: r.method,
            days_used: read(&r.days_used),
            adjustment_milli: r.adjustment_milli,
            baseline: read(&r.baseline),
            actual: read(&r.actual),
            complete: r.complete,
            saving_wh: r.saving_wh,
            reward_fen: r.reward_fen,
            paid_fen: r.paid_fen,
            carbon_grams: r.carbon_grams,
            methodology: r.methodology,
            settled_at: parse_time(&r.settled_at),
        }
    }
}

const SETTLEMENT_SELECT: &str = "SELECT s.id, s.event_id, g.name AS program, e.start_slot, s.meter, m.meter_id,
        s.user_id, s.version, s.status, s.code, s.method, s.days_used, s.adjustment_milli, s.baseline, s.actual,
        s.complete, s.saving_wh, s.reward_fen, s.paid_fen, s.carbon_grams, s.methodology, s.settled_at
 FROM energy_settlements s JOIN energy_events e ON e.id = s.event_id
 JOIN energy_programs g ON g.id = e.program_id JOIN meters m ON m.id = s.meter";

/// An event's totals over its households' settlements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettlementTotals {
    /// Households settled with a saving figure (status `settled`).
    pub settled: i64,
    /// Households with no baseline.
    pub no_baseline: i64,
    /// Households whose consent was revoked.
    pub consent_revoked: i64,
    /// Households whose data was complete.
    pub complete: i64,
    /// Households that saved something.
    pub saving: i64,
    /// Wh saved.
    pub saving_wh: i64,
    /// Fen earned in full.
    pub reward_fen: i64,
    /// Fen paid.
    pub paid_fen: i64,
    /// Grams of CO2e verified.
    pub carbon_grams: i64,
}

impl Store {
    /// Every household of event `event_id`, with its answer, its consent
    /// and its last figures, in meter order.
    pub async fn settlement_participants(&self, event_id: i64) -> StoreResult<Vec<SettlementParticipant>> {
        type Tuple = (
            i64,
            i64,
            String,
            Option<String>,
            bool,
            bool,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<bool>,
            Option<String>,
        );
        let housing = i64::from(canopy_core::types::Category::Housing.bit());
        let rows: Vec<Tuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT p.meter, p.user_id, m.region, p.answer, p.invited,
                        COALESCE(c.revoked_at IS NULL AND (c.scopes & $2) <> 0, FALSE),
                        s.version, s.paid_fen, s.carbon_grams, s.saving_wh, s.complete, s.status
                 FROM energy_participants p JOIN meters m ON m.id = p.meter
                 LEFT JOIN consents c ON c.user_id = m.user_id AND c.partner_id = m.partner_id
                 LEFT JOIN energy_settlements s ON s.event_id = p.event_id AND s.meter = p.meter
                 WHERE p.event_id = $1 ORDER BY p.meter",
            )
            .bind(event_id)
            .bind(housing)
            .fetch_all(db)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|r| SettlementParticipant {
                meter: r.0,
                user_id: r.1,
                region: r.2,
                answer: r.3.as_deref().and_then(Answer::parse),
                invited: r.4,
                consent_active: r.5,
                previous: r.6.map(|version| Previous {
                    version,
                    paid_fen: r.7.unwrap_or(0),
                    carbon_grams: r.8.unwrap_or(0),
                    saving_wh: r.9.unwrap_or(0),
                    complete: r.10.unwrap_or(false),
                    status: r.11.clone().unwrap_or_default(),
                }),
            })
            .collect())
    }

    /// Events due a look by the settlement sweep at `now`: ended, and
    /// either never settled or settled before their re-settlement horizon
    /// (`horizon_s` after the cut-off) and not looked at for `recheck_s`.
    /// At most `limit`, oldest first.
    pub async fn events_to_settle(
        &self,
        now: DateTime<Utc>,
        horizon_s: i64,
        recheck_s: i64,
        limit: i64,
    ) -> StoreResult<Vec<i64>> {
        let now_slot = now.timestamp().div_euclid(canopy_core::energy::readings::INTERVAL_S);
        let ids: Vec<(i64, Option<String>, i64, Option<String>)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT id, cutoff, settled_version, checked_at FROM energy_events
                 WHERE start_slot + intervals <= $1 ORDER BY id DESC LIMIT 2000",
            )
            .bind(now_slot)
            .fetch_all(db)
            .await
        })?;
        let mut due: Vec<i64> = ids
            .into_iter()
            .filter(|(_, cutoff, version, checked)| {
                let cutoff = cutoff.as_deref().map(parse_time);
                let recent = checked.as_deref().map(parse_time).is_some_and(|at| (now - at).num_seconds() < recheck_s);
                match cutoff {
                    _ if recent => false,
                    _ if *version == 0 => true,
                    Some(cutoff) => (now - cutoff).num_seconds() < horizon_s,
                    None => false,
                }
            })
            .map(|(id, ..)| id)
            .collect();
        due.sort_unstable();
        due.truncate(limit as usize);
        Ok(due)
    }

    /// Notes that the sweep looked at event `event_id` at `now`.
    pub async fn event_checked(&self, event_id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        on_write!(self, |db| {
            sqlx::query("UPDATE energy_events SET checked_at = $2 WHERE id = $1")
                .bind(event_id)
                .bind(format_time(now))
                .execute(db)
                .await
                .map(drop)
        })?;
        Ok(())
    }

    /// The other events of the same program whose days count as event days
    /// for baselines: (start slot, intervals).
    pub async fn program_event_windows(&self, program_id: i64) -> StoreResult<Vec<(i64, i64)>> {
        Ok(on_read!(self, |db| {
            sqlx::query_as("SELECT start_slot, intervals FROM energy_events WHERE program_id = $1 LIMIT 10000")
                .bind(program_id)
                .fetch_all(db)
                .await
        })?)
    }

    /// A citizen's settlements, newest event first (at most [`SETTLEMENTS_LISTED_MAX`]).
    pub async fn settlements_of(&self, user_id: i64) -> StoreResult<Vec<SettlementRow>> {
        let rows: Vec<SettlementRecord> = on_read!(self, |db| {
            sqlx::query_as(&format!(
                "{SETTLEMENT_SELECT} WHERE s.user_id = $1 ORDER BY e.start_slot DESC, s.id DESC LIMIT $2"
            ))
            .bind(user_id)
            .bind(SETTLEMENTS_LISTED_MAX)
            .fetch_all(db)
            .await
        })?;
        Ok(rows.into_iter().map(SettlementRow::from).collect())
    }

    /// One settlement.
    pub async fn settlement(&self, id: i64) -> StoreResult<Option<SettlementRow>> {
        let row: Option<SettlementRecord> = on_read!(self, |db| {
            sqlx::query_as(&format!("{SETTLEMENT_SELECT} WHERE s.id = $1")).bind(id).fetch_optional(db).await
        })?;
        Ok(row.map(SettlementRow::from))
    }

    /// An event's settlements in meter order, after meter `after`, at most `limit`.
    pub async fn event_settlements(&self, event_id: i64, after: i64, limit: i64) -> StoreResult<Vec<SettlementRow>> {
        let rows: Vec<SettlementRecord> = on_read!(self, |db| {
            sqlx::query_as(&format!(
                "{SETTLEMENT_SELECT} WHERE s.event_id = $1 AND s.meter > $2 ORDER BY s.meter LIMIT $3"
            ))
            .bind(event_id)
            .bind(after)
            .bind(limit)
            .fetch_all(db)
            .await
        })?;
        Ok(rows.into_iter().map(SettlementRow::from).collect())
    }

    /// An event's totals, and its per-interval savings as last settled.
    pub async fn settlement_totals(&self, event_id: i64) -> StoreResult<(SettlementTotals, Vec<i64>)> {
        type Tuple = (i64, i64, i64, i64, i64, i64, i64, i64, i64);
        let t: Tuple = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'settled' THEN 1 ELSE 0 END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN status = 'no_baseline' THEN 1 ELSE 0 END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN status = 'consent_revoked' THEN 1 ELSE 0 END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN complete THEN 1 ELSE 0 END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN saving_wh > 0 THEN 1 ELSE 0 END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(saving_wh), 0) AS BIGINT), CAST(COALESCE(SUM(reward_fen), 0) AS BIGINT),
                        CAST(COALESCE(SUM(paid_fen), 0) AS BIGINT), CAST(COALESCE(SUM(carbon_grams), 0) AS BIGINT)
                 FROM energy_settlements WHERE event_id = $1",
            )
            .bind(event_id)
            .fetch_one(db)
            .await
        })?;
        let intervals: Option<Option<String>> = on_read!(self, |db| {
            sqlx::query_scalar("SELECT interval_savings FROM energy_events WHERE id = $1")
                .bind(event_id)
                .fetch_optional(db)
                .await
        })?;
        let intervals = intervals.flatten();
        let intervals = intervals.map(|text| serde_json::from_str(&text).unwrap_or_default()).unwrap_or_default();
        Ok((
            SettlementTotals {
                settled: t.0,
                no_baseline: t.1,
                consent_revoked: t.2,
                complete: t.3,
                saving: t.4,
                saving_wh: t.5,
                reward_fen: t.6,
                paid_fen: t.7,
                carbon_grams: t.8,
            },
            intervals,
        ))
    }
}
