//! Smart meters and their 15-minute readings, in storage.
//!
//! A batch of readings is decided and written in one transaction, so that
//! two batches naming the same interval are decided one after the other.
//! On SQLite the single write connection orders them. On PostgreSQL
//! batches hold the readings' advisory lock shared and run side by side;
//! each writes an interval only if it is still as the batch read it (empty,
//! or holding the value it replaces), and a batch that finds one changed
//! is rolled back and decided again holding the lock alone. The batch's
//! meters, and the readings already stored for its intervals, are loaded in
//! one statement each; the core decides each reading in order (a later
//! reading of the same interval in the batch meets the earlier one); the
//! final value of every interval that changed is written in key order, and
//! every value it replaced in one insert into the history. On PostgreSQL
//! the month partitions a batch writes into are made first (alone).

use std::collections::{HashMap, HashSet};

use canopy_core::energy::readings::{self, Effect, Quality, Reading, ReadingRefusal};
use canopy_core::types::Category;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use sqlx::{PgPool, SqlitePool};

use super::{on_write, Pools, Store};
use crate::{format_time, parse_time, StoreError, StoreResult};

/// The advisory lock key every PostgreSQL batch of readings takes.
const READINGS_LOCK: i64 = 0x6d65_7465_7273; // "meters"

/// A registered meter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterRow {
    /// Internal id.
    pub id: i64,
    /// The partner's id for it.
    pub meter_id: String,
    /// The household (citizen).
    pub user_id: i64,
    /// Where it is (ISO 3166-2).
    pub region: String,
    /// When it was registered.
    pub registered_at: DateTime<Utc>,
}

/// Why a meter could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    /// The partner's user reference names no citizen who consented to it.
    #[error("user_ref is not linked to a consenting citizen")]
    ConsentMissing,
    /// The citizen revoked the partner's consent.
    #[error("the citizen revoked this partner's consent")]
    ConsentRevoked,
    /// The citizen did not grant the housing scope.
    #[error("the citizen did not grant the `housing` scope")]
    ScopeNotGranted,
    /// The partner registered this meter for another household.
    #[error("this meter is registered to another household")]
    RegisteredElsewhere,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for MeterError {
    fn from(e: sqlx::Error) -> Self {
        MeterError::Store(e.into())
    }
}

/// One reading of a batch: the partner's meter id, and the reading as the
/// stateless checks left it.
#[derive(Debug, Clone)]
pub struct ReadingIn {
    /// The partner's meter id.
    pub meter_id: String,
    /// The checked reading, or why it was refused.
    pub checked: Result<Reading, ReadingRefusal>,
}

/// (meter_id, id, consent scopes, consent revoked) — scopes NULL: no consent row.
type MeterConsent = (String, i64, Option<i64>, bool);

/// A batch's decision: each reading's answer, the final value of every
/// interval that changed, and the values they replaced.
struct Decided {
    outcomes: Vec<Result<Effect, ReadingRefusal>>,
    /// (meter, slot) → (wh, quality)
    upserts: HashMap<(i64, i64), (i64, Quality)>,
    /// (meter, slot, wh, quality, received_at) replaced
    history: Vec<(i64, i64, i64, Quality, i64)>,
}

/// Decides a batch in order over the meters and the stored readings.
fn decide(
    batch: &[ReadingIn],
    meters: &HashMap<String, MeterConsent>,
    mut stored: HashMap<(i64, i64), (i64, Quality, i64)>,
    now: i64,
) -> Decided {
    let housing = i64::from(Category::Housing.bit());
    let mut decided =
        Decided { outcomes: Vec::with_capacity(batch.len()), upserts: HashMap::new(), history: Vec::new() };
    for reading in batch {
        let outcome = (|| {
            let checked = reading.checked.clone()?;
            let (_, meter, scopes, revoked) =
                meters.get(&reading.meter_id).ok_or_else(|| ReadingRefusal::MeterUnknown(reading.meter_id.clone()))?;
            match (scopes, revoked) {
                (None, _) => return Err(ReadingRefusal::Consent("consent_missing")),
                (Some(_), true) => return Err(ReadingRefusal::Consent("consent_revoked")),
                (Some(scopes), false) if scopes & housing == 0 => {
                    return Err(ReadingRefusal::Consent("scope_not_granted"))
                }
                _ => {}
            }
            let key = (*meter, checked.slot);
            let before = stored.get(&key).map(|(wh, quality, _)| (*wh, *quality));
            let effect = readings::decide(before, &checked)?;
            if effect == Effect::Superseded {
                let (wh, quality, received) = stored[&key];
                decided.history.push((key.0, key.1, wh, quality, received));
            }
            if effect != Effect::Duplicate {
                stored.insert(key, (checked.wh, checked.quality, now));
                decided.upserts.insert(key, (checked.wh, checked.quality));
            }
            Ok(effect)
        })();
        decided.outcomes.push(outcome);
    }
    decided
}

/// The batch's (meter, slot) keys of readings whose meter is known.
fn keys(batch: &[ReadingIn], meters: &HashMap<String, MeterConsent>) -> Vec<(i64, i64)> {
    let mut seen = HashSet::new();
    batch
        .iter()
        .filter_map(|r| Some((meters.get(&r.meter_id)?.1, r.checked.as_ref().ok()?.slot)))
        .filter(|k| seen.insert(*k))
        .collect()
}

fn meter_ids(batch: &[ReadingIn]) -> Vec<&str> {
    let mut seen = HashSet::new();
    batch.iter().map(|r| r.meter_id.as_str()).filter(|m| seen.insert(*m)).collect()
}

/// The first slot of the month that `slot` falls in, and of the next.
fn month_bounds(slot: i64) -> (i64, i64, String) {
    let at = readings::start_of(slot);
    let first = Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0).single().expect("a month's first day");
    let (year, month) = if at.month() == 12 { (at.year() + 1, 1) } else { (at.year(), at.month() + 1) };
    let next = Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single().expect("a month's first day");
    let slot_of = |t: DateTime<Utc>| readings::slot_of(t).expect("midnight is on a boundary");
    (slot_of(first), slot_of(next), format!("meter_readings_{:04}_{:02}", at.year(), at.month()))
}

impl Store {
    /// The household a utility partner calls `user_ref`: linked, with the
    /// partner's consent and its `housing` scope.
    pub async fn household(&self, partner_id: i64, user_ref: &str) -> Result<i64, MeterError> {
        let housing = i64::from(Category::Housing.bit());
        let link: Option<(i64, Option<i64>, bool)> = super::on_read!(self, |db| {
            sqlx::query_as(
                "SELECT l.user_id, c.scopes, COALESCE(c.revoked_at IS NOT NULL, FALSE) FROM partner_links l
                 LEFT JOIN consents c ON c.user_id = l.user_id AND c.partner_id = l.partner_id
                 WHERE l.partner_id = $1 AND l.user_ref = $2",
            )
            .bind(partner_id)
            .bind(user_ref)
            .fetch_optional(db)
            .await
        })?;
        match link {
            None | Some((_, None, _)) => Err(MeterError::ConsentMissing),
            Some((_, Some(_), true)) => Err(MeterError::ConsentRevoked),
            Some((_, Some(scopes), false)) if scopes & housing == 0 => Err(MeterError::ScopeNotGranted),
            Some((user_id, ..)) => Ok(user_id),
        }
    }

    /// Registers `meter_id` for the household the partner calls `user_ref`
    /// (linked, with the housing scope granted). Registering it again for
    /// the same household answers the meter (`false`: not new).
    pub async fn register_meter(
        &self,
        partner_id: i64,
        user_ref: &str,
        meter_id: &str,
        region: &str,
        now: DateTime<Utc>,
    ) -> Result<(MeterRow, bool), MeterError> {
        let registered_at = format_time(now);
        let user_id = self.household(partner_id, user_ref).await?;
        let done: Result<(MeterRow, bool), MeterError> = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO meters (partner_id, meter_id, user_id, region, registered_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (partner_id, meter_id) DO NOTHING RETURNING id",
            )
            .bind(partner_id)
            .bind(meter_id)
            .bind(user_id)
            .bind(region)
            .bind(&registered_at)
            .fetch_optional(&mut *tx)
            .await?;
            let (id, owner, region, at): (i64, i64, String, String) = sqlx::query_as(
                "SELECT id, user_id, region, registered_at FROM meters WHERE partner_id = $1 AND meter_id = $2",
            )
            .bind(partner_id)
            .bind(meter_id)
            .fetch_one(&mut *tx)
            .await?;
            if owner != user_id {
                return Err(MeterError::RegisteredElsewhere);
            }
            tx.commit().await?;
            Ok((
                MeterRow { id, meter_id: meter_id.to_owned(), user_id, region, registered_at: parse_time(&at) },
                inserted.is_some(),
            ))
        });
        done
    }

    /// Decides and stores a partner's batch of readings; one answer a reading.
    pub async fn ingest_readings(
        &self,
        partner_id: i64,
        batch: &[ReadingIn],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Result<Effect, ReadingRefusal>>> {
        let at = now.timestamp();
        match &self.pools {
            Pools::Sqlite { write, .. } => Ok(ingest_sqlite(write, partner_id, batch, at).await?),
            Pools::Postgres { pool } => Ok(ingest_postgres(pool, partner_id, batch, at).await?),
        }
    }

    /// A meter's readings from `from` (inclusive) to `to` (exclusive):
    /// (slot, Wh, quality), in time order.
    pub async fn meter_readings(&self, meter: i64, from: i64, to: i64) -> StoreResult<Vec<(i64, i64, Quality)>> {
        let rows: Vec<(i64, i64, i64)> = super::on_read!(self, |db| {
            sqlx::query_as(
                "SELECT slot, CAST(wh AS BIGINT), CAST(quality AS BIGINT) FROM meter_readings
                 WHERE meter = $1 AND slot >= $2 AND slot < $3 ORDER BY slot",
            )
            .bind(meter)
            .bind(from)
            .bind(to)
            .fetch_all(db)
            .await
        })?;
        Ok(rows.into_iter().map(|(slot, wh, q)| (slot, wh, Quality::from_code(q))).collect())
    }

    /// The values readings replaced for one interval, oldest first:
    /// (Wh, quality, replaced at, unix seconds).
    pub async fn reading_history(&self, meter: i64, slot: i64) -> StoreResult<Vec<(i64, Quality, i64)>> {
        let rows: Vec<(i64, i64, i64)> = super::on_read!(self, |db| {
            sqlx::query_as(
                "SELECT CAST(wh AS BIGINT), CAST(quality AS BIGINT), replaced_at FROM meter_reading_history
                 WHERE meter = $1 AND slot = $2 ORDER BY replaced_at",
            )
            .bind(meter)
            .bind(slot)
            .fetch_all(db)
            .await
        })?;
        Ok(rows.into_iter().map(|(wh, q, at)| (wh, Quality::from_code(q), at)).collect())
    }

    /// A partner's meter by its id.
    pub async fn meter(&self, partner_id: i64, meter_id: &str) -> StoreResult<Option<MeterRow>> {
        let row: Option<(i64, i64, String, String)> = super::on_read!(self, |db| {
            sqlx::query_as(
                "SELECT id, user_id, region, registered_at FROM meters WHERE partner_id = $1 AND meter_id = $2",
            )
            .bind(partner_id)
            .bind(meter_id)
            .fetch_optional(db)
            .await
        })?;
        Ok(row.map(|(id, user_id, region, at)| MeterRow {
            id,
            meter_id: meter_id.to_owned(),
            user_id,
            region,
            registered_at: parse_time(&at),
        }))
    }
}

const METERS: &str = "SELECT m.meter_id, m.id, c.scopes, COALESCE(c.revoked_at IS NOT NULL, FALSE) FROM meters m
     LEFT JOIN consents c ON c.user_id = m.user_id AND c.partner_id = m.partner_id
     WHERE m.partner_id = $1 AND m.meter_id";

/// The most empty intervals inside one run of a meter's intervals.
const RUN_GAP_MAX: i64 = 4;

/// `items`, sorted by their (meter, slot) key, cut into runs: each a
/// meter's intervals, none further than [`RUN_GAP_MAX`] empty intervals
/// from the one before it.
fn runs<T: Copy>(items: &[T], key: impl Fn(&T) -> (i64, i64)) -> Vec<Vec<T>> {
    let mut runs: Vec<Vec<T>> = Vec::new();
    for item in items {
        let (meter, slot) = key(item);
        match runs.last_mut() {
            Some(run)
                if key(&run[run.len() - 1]).0 == meter && slot - key(&run[run.len() - 1]).1 <= RUN_GAP_MAX + 1 =>
            {
                run.push(*item)
            }
            _ => runs.push(vec![*item]),
        }
    }
    runs
}

async fn ingest_sqlite(
    pool: &SqlitePool,
    partner_id: i64,
    batch: &[ReadingIn],
    now: i64,
) -> Result<Vec<Result<Effect, ReadingRefusal>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let started = std::time::Instant::now();
    let ids = serde_json::to_string(&meter_ids(batch)).expect("ids serialise");
    let found: Vec<MeterConsent> = sqlx::query_as(&format!("{METERS} IN (SELECT value FROM json_each($2))"))
        .bind(partner_id)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
    let meters: HashMap<String, MeterConsent> = found.into_iter().map(|m| (m.0.clone(), m)).collect();
    let loaded = started.elapsed();
    // Read by runs of each meter's intervals: one search a run rather than
    // one a reading (a partner sends a meter's day or hours together).
    let mut wanted = keys(batch, &meters);
    wanted.sort_unstable();
    let lookups: Vec<(i64, i64, i64)> =
        runs(&wanted, |key| *key).into_iter().map(|run| (run[0].0, run[0].1, run[run.len() - 1].1)).collect();
    let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT r.meter, r.slot, r.wh, r.quality, r.received_at FROM json_each($1) j
         JOIN meter_readings r ON r.meter = json_extract(j.value, '$[0]')
          AND r.slot BETWEEN json_extract(j.value, '$[1]') AND json_extract(j.value, '$[2]')",
    )
    .bind(serde_json::to_string(&lookups).expect("runs serialise"))
    .fetch_all(&mut *tx)
    .await?;
    let wanted: HashSet<(i64, i64)> = wanted.into_iter().collect();
    let stored = rows
        .into_iter()
        .filter(|(m, s, ..)| wanted.contains(&(*m, *s)))
        .map(|(m, s, wh, q, at)| ((m, s), (wh, Quality::from_code(q), at)))
        .collect();
    let found_at = started.elapsed();
    let decided = decide(batch, &meters, stored, now);
    let decided_at = started.elapsed();
    if !decided.history.is_empty() {
        let history: Vec<(i64, i64, i64, i64, i64)> =
            decided.history.iter().map(|(m, s, wh, q, at)| (*m, *s, *wh, q.code(), *at)).collect();
        sqlx::query(
            "INSERT INTO meter_reading_history (meter, slot, wh, quality, received_at, replaced_at)
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
                    json_extract(value, '$[3]'), json_extract(value, '$[4]'), $2
             FROM json_each($1)",
        )
        .bind(serde_json::to_string(&history).expect("rows serialise"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    if !decided.upserts.is_empty() {
        // In key order (the table is clustered on it), as runs of a
        // meter's intervals: [meter, first slot, [wh × 2 + quality or null
        // for an interval not written, …]], so that SQLite extracts two
        // numbers a run and one a reading.
        let mut rows: Vec<((i64, i64), (i64, Quality))> = decided.upserts.into_iter().collect();
        rows.sort_unstable_by_key(|(key, _)| *key);
        let runs: Vec<(i64, i64, Vec<Option<i64>>)> = runs(&rows, |(key, _)| *key)
            .into_iter()
            .map(|run| {
                let ((meter, first), _) = run[0];
                let mut values = vec![None; (run[run.len() - 1].0 .1 - first + 1) as usize];
                for ((_, slot), (wh, quality)) in run {
                    values[(slot - first) as usize] = Some(wh * 2 + quality.code());
                }
                (meter, first, values)
            })
            .collect();
        sqlx::query(
            "INSERT INTO meter_readings (meter, slot, wh, quality, received_at)
             SELECT json_extract(m.value, '$[0]'), json_extract(m.value, '$[1]') + r.key, r.value >> 1, r.value & 1, $2
             FROM json_each($1) m, json_each(m.value, '$[2]') r WHERE r.value IS NOT NULL
             ON CONFLICT (meter, slot) DO UPDATE SET wh = excluded.wh, quality = excluded.quality,
                                                     received_at = excluded.received_at",
        )
        .bind(serde_json::to_string(&runs).expect("runs serialise"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    let written = started.elapsed();
    tx.commit().await?;
    tracing::debug!(
        readings = batch.len(),
        meters_us = loaded.as_micros() as u64,
        stored_us = (found_at - loaded).as_micros() as u64,
        decide_us = (decided_at - found_at).as_micros() as u64,
        write_us = (written - decided_at).as_micros() as u64,
        commit_us = (started.elapsed() - written).as_micros() as u64,
        "readings batch"
    );
    Ok(decided.outcomes)
}

async fn ingest_postgres(
    pool: &PgPool,
    partner_id: i64,
    batch: &[ReadingIn],
    now: i64,
) -> Result<Vec<Result<Effect, ReadingRefusal>>, sqlx::Error> {
    match ingest_postgres_once(pool, partner_id, batch, now, LockMode::Shared).await {
        Ok(Some(outcomes)) => return Ok(outcomes),
        // Another batch wrote one of this batch's intervals meanwhile, or
        // a month partition is missing: decided again, alone.
        Ok(None) => {}
        Err(e) if is_deadlock(&e) => {}
        Err(e) => return Err(e),
    }
    let outcomes = ingest_postgres_once(pool, partner_id, batch, now, LockMode::Exclusive).await?;
    Ok(outcomes.expect("a batch decided alone cannot race"))
}

/// How a PostgreSQL batch holds the readings' lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LockMode {
    /// Beside other batches: it writes only what it decided on, checking
    /// that nothing it read changed (intervals it found empty are still
    /// empty, values it replaces are still there), and gives up otherwise.
    Shared,
    /// Alone: no other batch runs, so what it read stays true.
    Exclusive,
}

fn is_deadlock(e: &sqlx::Error) -> bool {
    e.as_database_error().and_then(|d| d.code()).is_some_and(|code| code == "40P01")
}

/// One attempt at a batch. Batches take the readings' advisory lock
/// shared, so that batches over different intervals run at once (on two
/// cores the lock held alone made them queue: BENCHMARKS.md, issue 12);
/// one that finds an interval changed under it since it read, or a month
/// partition to make, gives up (`None`, rolled back) and is run again with
/// the lock held alone, when nothing can change under it.
async fn ingest_postgres_once(
    pool: &PgPool,
    partner_id: i64,
    batch: &[ReadingIn],
    now: i64,
    mode: LockMode,
) -> Result<Option<Vec<Result<Effect, ReadingRefusal>>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let lock = match mode {
        LockMode::Shared => "SELECT pg_advisory_xact_lock_shared($1)",
        LockMode::Exclusive => "SELECT pg_advisory_xact_lock($1)",
    };
    sqlx::query(lock).bind(READINGS_LOCK).execute(&mut *tx).await?;
    let found: Vec<MeterConsent> = sqlx::query_as(&format!("{METERS} = ANY($2)"))
        .bind(partner_id)
        .bind(meter_ids(batch))
        .fetch_all(&mut *tx)
        .await?;
    let meters: HashMap<String, MeterConsent> = found.into_iter().map(|m| (m.0.clone(), m)).collect();
    // Read by runs of each meter's intervals, as on SQLite.
    let mut wanted = keys(batch, &meters);
    wanted.sort_unstable();
    let lookups: Vec<(i64, i64, i64)> =
        runs(&wanted, |key| *key).into_iter().map(|run| (run[0].0, run[0].1, run[run.len() - 1].1)).collect();
    let rows: Vec<(i64, i64, i32, i16, i64)> = sqlx::query_as(
        "SELECT r.meter, r.slot, r.wh, r.quality, r.received_at
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS k(meter, first, last)
         JOIN meter_readings r ON r.meter = k.meter AND r.slot BETWEEN k.first AND k.last",
    )
    .bind(lookups.iter().map(|l| l.0).collect::<Vec<_>>())
    .bind(lookups.iter().map(|l| l.1).collect::<Vec<_>>())
    .bind(lookups.iter().map(|l| l.2).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    let wanted: HashSet<(i64, i64)> = wanted.into_iter().collect();
    let stored: HashMap<(i64, i64), (i64, Quality, i64)> = rows
        .into_iter()
        .filter(|(m, s, ..)| wanted.contains(&(*m, *s)))
        .map(|(m, s, wh, q, at)| ((m, s), (i64::from(wh), Quality::from_code(i64::from(q)), at)))
        .collect();
    let read = stored.clone();
    let decided = decide(batch, &meters, stored, now);
    if decided.upserts.is_empty() {
        tx.commit().await?;
        return Ok(Some(decided.outcomes));
    }
    // The month partitions first, so no reading lands in the default one.
    let months: HashSet<(i64, i64, String)> = decided.upserts.keys().map(|(_, slot)| month_bounds(*slot)).collect();
    for (from, to, name) in months {
        let exists: Option<String> =
            sqlx::query_scalar("SELECT to_regclass($1)::text").bind(&name).fetch_one(&mut *tx).await?;
        if exists.is_none() {
            if mode == LockMode::Shared {
                return Ok(None);
            }
            sqlx::query(&format!(
                "CREATE TABLE IF NOT EXISTS {name} PARTITION OF meter_readings FOR VALUES FROM ({from}) TO ({to})"
            ))
            .execute(&mut *tx)
            .await?;
        }
    }
    if !decided.history.is_empty() {
        let h = &decided.history;
        sqlx::query(
            "INSERT INTO meter_reading_history (meter, slot, wh, quality, received_at, replaced_at)
             SELECT m, s, w, q, r, $6 FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::smallint[], $5::bigint[])
                  AS n(m, s, w, q, r)",
        )
        .bind(h.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(h.iter().map(|r| r.1).collect::<Vec<_>>())
        .bind(h.iter().map(|r| r.2 as i32).collect::<Vec<_>>())
        .bind(h.iter().map(|r| r.3.code() as i16).collect::<Vec<_>>())
        .bind(h.iter().map(|r| r.4).collect::<Vec<_>>())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    // In key order: fewer pages touched at random, and two batches that
    // meet wait for each other in one order.
    let mut rows: Vec<((i64, i64), (i64, Quality))> = decided.upserts.into_iter().collect();
    rows.sort_unstable_by_key(|(key, _)| *key);
    let (replacing, new): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(key, _)| read.contains_key(key));
    if !replacing.is_empty() {
        // Each value replaced only if it is still the one read.
        let changed = sqlx::query(
            "UPDATE meter_readings r SET wh = n.w, quality = n.q, received_at = $8
             FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::smallint[], $5::int[], $6::smallint[],
                         $7::bigint[]) AS n(m, s, w, q, was_w, was_q, was_at)
             WHERE r.meter = n.m AND r.slot = n.s AND r.wh = n.was_w AND r.quality = n.was_q
               AND r.received_at = n.was_at",
        )
        .bind(replacing.iter().map(|(k, _)| k.0).collect::<Vec<_>>())
        .bind(replacing.iter().map(|(k, _)| k.1).collect::<Vec<_>>())
        .bind(replacing.iter().map(|(_, v)| v.0 as i32).collect::<Vec<_>>())
        .bind(replacing.iter().map(|(_, v)| v.1.code() as i16).collect::<Vec<_>>())
        .bind(replacing.iter().map(|(k, _)| read[k].0 as i32).collect::<Vec<_>>())
        .bind(replacing.iter().map(|(k, _)| read[k].1.code() as i16).collect::<Vec<_>>())
        .bind(replacing.iter().map(|(k, _)| read[k].2).collect::<Vec<_>>())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != replacing.len() as u64 {
            assert!(mode == LockMode::Shared, "readings changed under a batch that held their lock alone");
            return Ok(None);
        }
    }
    if !new.is_empty() {
        // Each interval written only if it is still empty.
        let inserted = sqlx::query(
            "INSERT INTO meter_readings (meter, slot, wh, quality, received_at)
             SELECT m, s, w, q, $5 FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::smallint[]) AS n(m, s, w, q)
             ON CONFLICT (meter, slot) DO NOTHING",
        )
        .bind(new.iter().map(|(k, _)| k.0).collect::<Vec<_>>())
        .bind(new.iter().map(|(k, _)| k.1).collect::<Vec<_>>())
        .bind(new.iter().map(|(_, v)| v.0 as i32).collect::<Vec<_>>())
        .bind(new.iter().map(|(_, v)| v.1.code() as i16).collect::<Vec<_>>())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted != new.len() as u64 {
            assert!(mode == LockMode::Shared, "readings appeared under a batch that held their lock alone");
            return Ok(None);
        }
    }
    tx.commit().await?;
    Ok(Some(decided.outcomes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_keep_a_meter_s_near_intervals_together() {
        let keys = [(1, 10), (1, 11), (1, 16), (1, 22), (2, 23), (2, 24), (3, 1)];
        let runs: Vec<Vec<(i64, i64)>> = super::runs(&keys, |k| *k);
        assert_eq!(runs, vec![vec![(1, 10), (1, 11), (1, 16)], vec![(1, 22)], vec![(2, 23), (2, 24)], vec![(3, 1)]]);
        assert!(super::runs(&[], |k: &(i64, i64)| *k).is_empty());
    }

    #[test]
    fn a_month_partition_spans_the_month_in_slots() {
        let slot = canopy_core::energy::readings::slot_of(
            canopy_core::time::parse_rfc3339_utc("2026-12-31T23:45:00Z").unwrap(),
        )
        .unwrap();
        let (from, to, name) = super::month_bounds(slot);
        assert_eq!(name, "meter_readings_2026_12");
        assert_eq!(to - from, 31 * 96);
        assert!(from <= slot && slot < to);
    }
}
