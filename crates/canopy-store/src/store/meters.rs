//! Smart meters and their 15-minute readings, in storage.
//!
//! A batch of readings is decided and written in one transaction that holds
//! the readings' lock (PostgreSQL: a transaction-scoped advisory lock;
//! SQLite: the single write connection), so two batches naming the same
//! interval are decided one after the other. The batch's meters, and the
//! readings already stored for its intervals, are loaded in one statement
//! each; the core decides each reading in order (a later reading of the
//! same interval in the batch meets the earlier one); the final value of
//! every interval that changed is written in one upsert, and every value it
//! replaced in one insert into the history. On PostgreSQL the month
//! partitions a batch writes into are made first.

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

async fn ingest_sqlite(
    pool: &SqlitePool,
    partner_id: i64,
    batch: &[ReadingIn],
    now: i64,
) -> Result<Vec<Result<Effect, ReadingRefusal>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let ids = serde_json::to_string(&meter_ids(batch)).expect("ids serialise");
    let found: Vec<MeterConsent> = sqlx::query_as(&format!("{METERS} IN (SELECT value FROM json_each($2))"))
        .bind(partner_id)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
    let meters: HashMap<String, MeterConsent> = found.into_iter().map(|m| (m.0.clone(), m)).collect();
    let keys = serde_json::to_string(&keys(batch, &meters)).expect("keys serialise");
    let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT r.meter, r.slot, r.wh, r.quality, r.received_at FROM json_each($1) j
         JOIN meter_readings r ON r.meter = json_extract(j.value, '$[0]') AND r.slot = json_extract(j.value, '$[1]')",
    )
    .bind(&keys)
    .fetch_all(&mut *tx)
    .await?;
    let stored = rows.into_iter().map(|(m, s, wh, q, at)| ((m, s), (wh, Quality::from_code(q), at))).collect();
    let decided = decide(batch, &meters, stored, now);
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
        let rows: Vec<(i64, i64, i64, i64)> =
            decided.upserts.iter().map(|((m, s), (wh, q))| (*m, *s, *wh, q.code())).collect();
        sqlx::query(
            "INSERT INTO meter_readings (meter, slot, wh, quality, received_at)
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
                    json_extract(value, '$[3]'), $2
             FROM json_each($1) WHERE true
             ON CONFLICT (meter, slot) DO UPDATE SET wh = excluded.wh, quality = excluded.quality,
                                                     received_at = excluded.received_at",
        )
        .bind(serde_json::to_string(&rows).expect("rows serialise"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(decided.outcomes)
}

async fn ingest_postgres(
    pool: &PgPool,
    partner_id: i64,
    batch: &[ReadingIn],
    now: i64,
) -> Result<Vec<Result<Effect, ReadingRefusal>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(READINGS_LOCK).execute(&mut *tx).await?;
    let found: Vec<MeterConsent> = sqlx::query_as(&format!("{METERS} = ANY($2)"))
        .bind(partner_id)
        .bind(meter_ids(batch))
        .fetch_all(&mut *tx)
        .await?;
    let meters: HashMap<String, MeterConsent> = found.into_iter().map(|m| (m.0.clone(), m)).collect();
    let (meter_keys, slot_keys): (Vec<i64>, Vec<i64>) = keys(batch, &meters).into_iter().unzip();
    let rows: Vec<(i64, i64, i32, i16, i64)> = sqlx::query_as(
        "SELECT r.meter, r.slot, r.wh, r.quality, r.received_at
         FROM unnest($1::bigint[], $2::bigint[]) AS k(meter, slot)
         JOIN meter_readings r ON r.meter = k.meter AND r.slot = k.slot",
    )
    .bind(&meter_keys)
    .bind(&slot_keys)
    .fetch_all(&mut *tx)
    .await?;
    let stored = rows
        .into_iter()
        .map(|(m, s, wh, q, at)| ((m, s), (i64::from(wh), Quality::from_code(i64::from(q)), at)))
        .collect();
    let decided = decide(batch, &meters, stored, now);
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
    if !decided.upserts.is_empty() {
        // The month partitions first, so no reading lands in the default one.
        let months: HashSet<(i64, i64, String)> = decided.upserts.keys().map(|(_, slot)| month_bounds(*slot)).collect();
        for (from, to, name) in months {
            let exists: Option<String> =
                sqlx::query_scalar("SELECT to_regclass($1)::text").bind(&name).fetch_one(&mut *tx).await?;
            if exists.is_none() {
                sqlx::query(&format!(
                    "CREATE TABLE IF NOT EXISTS {name} PARTITION OF meter_readings FOR VALUES FROM ({from}) TO ({to})"
                ))
                .execute(&mut *tx)
                .await?;
            }
        }
        let rows: Vec<((i64, i64), (i64, Quality))> = decided.upserts.into_iter().collect();
        let (keys, values): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
        sqlx::query(
            "INSERT INTO meter_readings (meter, slot, wh, quality, received_at)
             SELECT m, s, w, q, $5 FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::smallint[]) AS n(m, s, w, q)
             ON CONFLICT (meter, slot) DO UPDATE SET wh = excluded.wh, quality = excluded.quality,
                                                     received_at = excluded.received_at",
        )
        .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
        .bind(values.iter().map(|v| v.0 as i32).collect::<Vec<_>>())
        .bind(values.iter().map(|v| v.1.code() as i16).collect::<Vec<_>>())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(decided.outcomes)
}

#[cfg(test)]
mod tests {
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
