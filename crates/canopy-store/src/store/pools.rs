//! Funded pools and check-ins in storage. Creating and listing pools is
//! plain SQL; funding a pool and checking in move units, so they run as
//! game commands inside the writer's transaction (`*_sqlite`, `*_postgres`)
//! and post through the one posting path.

use canopy_core::game::checkins::{check_in, LastCheckin};
use canopy_core::game::settings::GameSettings;
use canopy_core::game::time_zone::default_time_zone;
use canopy_core::ledger::{PoolUnit, PostingSet};
use canopy_core::types::RegionCode;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension};
use sqlx::PgConnection;

use super::balls::GameOutcome;
use super::postings::{post_postgres, post_sqlite, LedgerLocked, PostFailure};
use super::{on_read, on_write, Store};
use crate::{format_time, parse_time, StoreResult};

/// The purpose that marks the pool paying check-in rewards.
pub const CHECKIN_POOL: &str = "checkins";

/// The most pools listed.
pub const POOLS_LISTED_MAX: i64 = 500;

/// A pool as stored, with its balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRow {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Who funds it.
    pub sponsor: String,
    /// Its unit.
    pub unit: PoolUnit,
    /// What it pays for (`checkins`), if anything in particular.
    pub purpose: Option<String>,
    /// What it holds, in its unit.
    pub balance: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// (id, name, sponsor, unit, purpose, balance, created_at)
type PoolTuple = (i64, String, String, String, Option<String>, i64, String);

fn pool_from_tuple((id, name, sponsor, unit, purpose, balance, created_at): PoolTuple) -> PoolRow {
    PoolRow {
        id,
        name,
        sponsor,
        unit: PoolUnit::parse(&unit).unwrap_or_else(|| panic!("stored pool unit `{unit}` is not known")),
        purpose,
        balance,
        created_at: parse_time(&created_at),
    }
}

const POOL_SELECT: &str = "SELECT p.id, p.name, p.sponsor, p.unit, p.purpose,
        COALESCE((SELECT a.credits - a.debits FROM accounts a
                  WHERE a.user_id = p.id AND a.kind = CASE p.unit WHEN 'fen' THEN 'pool_fen' ELSE 'pool_energy' END), 0),
        p.created_at
 FROM pools p";

/// Why a pool could not be created.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Another pool already has this purpose.
    #[error("a pool for `{0}` exists already")]
    PurposeTaken(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::StoreError),
}

impl Store {
    /// Creates a pool (empty until funded).
    pub async fn create_pool(
        &self,
        name: &str,
        sponsor: &str,
        unit: PoolUnit,
        purpose: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<PoolRow, PoolError> {
        let created_at = format_time(now);
        let inserted: Result<i64, sqlx::Error> = on_write!(self, |db| {
            sqlx::query_scalar(
                "INSERT INTO pools (name, sponsor, unit, purpose, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(name)
            .bind(sponsor)
            .bind(unit.as_str())
            .bind(purpose)
            .bind(&created_at)
            .fetch_one(db)
            .await
        });
        let id = match inserted {
            Ok(id) => id,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(PoolError::PurposeTaken(purpose.unwrap_or_default().to_owned()))
            }
            Err(e) => return Err(PoolError::Store(e.into())),
        };
        Ok(PoolRow {
            id,
            name: name.to_owned(),
            sponsor: sponsor.to_owned(),
            unit,
            purpose: purpose.map(str::to_owned),
            balance: 0,
            created_at: parse_time(&created_at),
        })
    }

    /// One pool, with its balance.
    pub async fn pool(&self, id: i64) -> StoreResult<Option<PoolRow>> {
        let row: Option<PoolTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{POOL_SELECT} WHERE p.id = $1")).bind(id).fetch_optional(db).await
        })?;
        Ok(row.map(pool_from_tuple))
    }

    /// Every pool (at most [`POOLS_LISTED_MAX`]), oldest first.
    pub async fn pools(&self) -> StoreResult<Vec<PoolRow>> {
        let rows: Vec<PoolTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{POOL_SELECT} ORDER BY p.id LIMIT $1")).bind(POOLS_LISTED_MAX).fetch_all(db).await
        })?;
        Ok(rows.into_iter().map(pool_from_tuple).collect())
    }
}

fn pool_kind_of(unit: &str) -> &'static str {
    match unit {
        "fen" => "pool_fen",
        _ => "pool_energy",
    }
}

// ---------------------------------------------------------------- SQLite --

/// Funds pool `pool_id` with `amount` (SQLite writer transaction).
pub(crate) fn fund_sqlite(
    tx: &rusqlite::Transaction<'_>,
    pool_id: i64,
    amount: i64,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<rusqlite::Error>> {
    let Some((unit, fundings)) = tx
        .prepare_cached("SELECT unit, fundings FROM pools WHERE id = ?1")?
        .query_row(params![pool_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .optional()?
    else {
        return Ok(GameOutcome::Refused { code: "pool_not_found".into(), message: "no such pool".into() });
    };
    let unit = PoolUnit::parse(&unit).expect("stored pool units are known");
    let n = fundings + 1;
    post_sqlite(tx, &[PostingSet::pool_funded(pool_id, n, unit, amount)], &format_time(now))?;
    tx.prepare_cached("UPDATE pools SET fundings = ?2 WHERE id = ?1")?.execute(params![pool_id, n])?;
    let balance: i64 = tx
        .prepare_cached("SELECT credits - debits FROM accounts WHERE user_id = ?1 AND kind = ?2")?
        .query_row(params![pool_id, unit.pool_kind().as_str()], |r| r.get(0))?;
    Ok(GameOutcome::Funded { pool_id, balance })
}

/// Checks `user_id` in (SQLite writer transaction).
pub(crate) fn check_in_sqlite(
    tx: &rusqlite::Transaction<'_>,
    user_id: i64,
    note: Option<&str>,
    settings: &GameSettings,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<rusqlite::Error>> {
    let region: Option<String> = tx
        .prepare_cached("SELECT region FROM users WHERE id = ?1")?
        .query_row(params![user_id], |r| r.get(0))
        .optional()?;
    let last: Option<(String, String, i64)> = tx
        .prepare_cached("SELECT date, at, streak_days FROM checkins WHERE user_id = ?1 ORDER BY date DESC LIMIT 1")?
        .query_row(params![user_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let pool: Option<(i64, i64)> = tx
        .prepare_cached(
            "SELECT p.id, COALESCE(a.credits - a.debits, 0) FROM pools p
             LEFT JOIN accounts a ON a.user_id = p.id AND a.kind = 'pool_energy'
             WHERE p.purpose = ?1 AND p.unit = 'energy_grams'",
        )?
        .query_row(params![CHECKIN_POOL], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let plan = match plan_checkin(user_id, region, last, pool, settings, now) {
        Ok(plan) => plan,
        Err(outcome) => return Ok(outcome),
    };
    if let Some(set) = &plan.reward {
        post_sqlite(tx, std::slice::from_ref(set), &format_time(now))?;
    }
    tx.prepare_cached(
        "INSERT INTO checkins (user_id, date, streak_days, reward_grams, unpaid_grams, note, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        user_id,
        plan.date.to_string(),
        plan.streak_days,
        plan.paid,
        plan.unpaid,
        note,
        format_time(now)
    ])?;
    Ok(plan.outcome())
}

/// What a check-in does: its date and streak, the reward paid (and the
/// part of the milestone the pool could not pay), and the set paying it.
struct CheckinPlan {
    date: NaiveDate,
    streak_days: i64,
    paid: i64,
    unpaid: i64,
    reward: Option<PostingSet>,
}

impl CheckinPlan {
    fn outcome(&self) -> GameOutcome {
        GameOutcome::CheckedIn {
            date: self.date.to_string(),
            streak_days: self.streak_days,
            reward_grams: self.paid,
            reward_unpaid_grams: self.unpaid,
        }
    }
}

/// Decides a check-in from what was read: the citizen's region (their
/// zone), their last check-in and the check-in pool with its balance. A
/// milestone reward is paid in full when the pool holds it, and not at all
/// otherwise (`reward_unpaid_grams` says what was owed): a pool never goes
/// negative, and half a reward is no milestone.
fn plan_checkin(
    user_id: i64,
    region: Option<String>,
    last: Option<(String, String, i64)>,
    pool: Option<(i64, i64)>,
    settings: &GameSettings,
    now: DateTime<Utc>,
) -> Result<CheckinPlan, GameOutcome> {
    let Some(region) = region else {
        return Err(GameOutcome::Refused { code: "user_not_found".into(), message: "no such citizen".into() });
    };
    let tz = RegionCode::parse(&region).map(|r| default_time_zone(&r)).unwrap_or_default();
    let last = last.map(|(date, at, streak)| LastCheckin {
        date: NaiveDate::parse_from_str(&date, "%Y-%m-%d").expect("stored check-in dates are YYYY-MM-DD"),
        at: parse_time(&at),
        streak_days: u32::try_from(streak).unwrap_or(u32::MAX),
    });
    let checkin = match check_in(user_id, now, tz, last.as_ref(), settings) {
        Ok(checkin) => checkin,
        Err(refusal) => return Err(GameOutcome::Refused { code: refusal.code().into(), message: refusal.to_string() }),
    };
    let (paid, unpaid, reward) = match (checkin.reward_grams, pool) {
        (0, _) => (0, 0, None),
        (owed, Some((pool_id, balance))) if balance >= owed => (owed, 0, checkin.reward_posting(pool_id)),
        (owed, _) => (0, owed, None),
    };
    Ok(CheckinPlan { date: checkin.date, streak_days: i64::from(checkin.streak_days), paid, unpaid, reward })
}

// ------------------------------------------------------------ PostgreSQL --

/// Funds pool `pool_id` with `amount` (PostgreSQL writer, under the ledger's lock).
pub(crate) async fn fund_postgres(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    pool_id: i64,
    amount: i64,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<sqlx::Error>> {
    let found: Option<(String, i64)> = sqlx::query_as("SELECT unit, fundings FROM pools WHERE id = $1 FOR UPDATE")
        .bind(pool_id)
        .fetch_optional(&mut *db)
        .await?;
    let Some((unit, fundings)) = found else {
        return Ok(GameOutcome::Refused { code: "pool_not_found".into(), message: "no such pool".into() });
    };
    let kind = pool_kind_of(&unit);
    let unit = PoolUnit::parse(&unit).expect("stored pool units are known");
    let n = fundings + 1;
    post_postgres(db, locked, &[PostingSet::pool_funded(pool_id, n, unit, amount)], &format_time(now)).await?;
    sqlx::query("UPDATE pools SET fundings = $2 WHERE id = $1").bind(pool_id).bind(n).execute(&mut *db).await?;
    let balance: i64 = sqlx::query_scalar("SELECT credits - debits FROM accounts WHERE user_id = $1 AND kind = $2")
        .bind(pool_id)
        .bind(kind)
        .fetch_one(&mut *db)
        .await?;
    Ok(GameOutcome::Funded { pool_id, balance })
}

/// Checks `user_id` in (PostgreSQL writer, under the ledger's lock).
pub(crate) async fn check_in_postgres(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    user_id: i64,
    note: Option<&str>,
    settings: &GameSettings,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<sqlx::Error>> {
    let region: Option<String> =
        sqlx::query_scalar("SELECT region FROM users WHERE id = $1").bind(user_id).fetch_optional(&mut *db).await?;
    let last: Option<(String, String, i64)> =
        sqlx::query_as("SELECT date, at, streak_days FROM checkins WHERE user_id = $1 ORDER BY date DESC LIMIT 1")
            .bind(user_id)
            .fetch_optional(&mut *db)
            .await?;
    let pool: Option<(i64, i64)> = sqlx::query_as(
        "SELECT p.id, COALESCE(a.credits - a.debits, 0) FROM pools p
         LEFT JOIN accounts a ON a.user_id = p.id AND a.kind = 'pool_energy'
         WHERE p.purpose = $1 AND p.unit = 'energy_grams'",
    )
    .bind(CHECKIN_POOL)
    .fetch_optional(&mut *db)
    .await?;
    let plan = match plan_checkin(user_id, region, last, pool, settings, now) {
        Ok(plan) => plan,
        Err(outcome) => return Ok(outcome),
    };
    if let Some(set) = &plan.reward {
        post_postgres(db, locked, std::slice::from_ref(set), &format_time(now)).await?;
    }
    sqlx::query(
        "INSERT INTO checkins (user_id, date, streak_days, reward_grams, unpaid_grams, note, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(user_id)
    .bind(plan.date.to_string())
    .bind(plan.streak_days)
    .bind(plan.paid)
    .bind(plan.unpaid)
    .bind(note)
    .bind(format_time(now))
    .execute(&mut *db)
    .await?;
    Ok(plan.outcome())
}
