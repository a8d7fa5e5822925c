//! Support for `canopy bench meter`: 15-minute readings written raw, with
//! none of the ingestion's checks, reads or decisions. Two uses: the
//! ceiling the HTTP ingestion is measured against (the same rows into a
//! scratch table shaped like `meter_readings`, dropped afterwards), and
//! the bulk load of the history a run does not send over HTTP (into
//! `meter_readings` itself, so that the settlement reads it).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, TimeZone, Utc};
use rusqlite::params;

use crate::pg_copy::{copy_in, CopyText};
use crate::writer::open_writer_connection;
use crate::{Store, StoreError, StoreResult};

/// One actual reading as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawReading {
    /// The meter's internal id.
    pub meter: i64,
    /// The interval: 15-minute steps since the Unix epoch.
    pub slot: i64,
    /// What was drawn in it, Wh.
    pub wh: i64,
}

/// The scratch table of the ceiling: `meter_readings`' columns, checks and
/// primary key, unpartitioned.
const CEILING_TABLE: &str = "bench_meter_readings";

impl Store {
    /// The raw ceiling of reading ingestion: `rows` written as actual
    /// readings into an empty scratch table with `meter_readings`' columns,
    /// checks and primary key (`(meter, slot)`), in transactions of
    /// `per_transaction` rows — on SQLite one prepared `INSERT` a row on
    /// the writer's connection settings (WAL, `synchronous = FULL`), on
    /// PostgreSQL one `COPY … FROM STDIN` a transaction. Returns the
    /// elapsed time; the scratch table is dropped afterwards.
    pub async fn raw_reading_ceiling(&self, rows: &[RawReading], per_transaction: usize) -> StoreResult<Duration> {
        let columns = "meter BIGINT NOT NULL, slot BIGINT NOT NULL, wh INTEGER NOT NULL CHECK (wh >= 0),
             quality SMALLINT NOT NULL CHECK (quality IN (0, 1)), received_at BIGINT NOT NULL,
             PRIMARY KEY (meter, slot)";
        let create = match self.sqlite_path() {
            // As `meter_readings` is on SQLite: clustered on its key.
            Some(_) => format!("CREATE TABLE {CEILING_TABLE} ({columns}) WITHOUT ROWID"),
            None => format!("CREATE TABLE {CEILING_TABLE} ({columns})"),
        };
        self.bench_sql(&format!("DROP TABLE IF EXISTS {CEILING_TABLE}")).await?;
        self.bench_sql(&create).await?;
        let elapsed = self.write_readings(CEILING_TABLE, rows, per_transaction).await;
        self.bench_sql(&format!("DROP TABLE {CEILING_TABLE}")).await?;
        elapsed
    }

    /// Loads `rows` as actual readings into `meter_readings` itself, raw
    /// (no meter, consent or interval check, no decision against what is
    /// stored: the caller writes only new intervals of registered meters),
    /// as [`Store::raw_reading_ceiling`] writes, after making on PostgreSQL
    /// the month partitions they fall in, named and bounded as the
    /// ingestion makes them. Returns the elapsed time.
    pub async fn load_readings_for_bench(&self, rows: &[RawReading], per_transaction: usize) -> StoreResult<Duration> {
        if self.sqlite_path().is_none() {
            let months: BTreeSet<(i64, i64, String)> = rows.iter().map(|r| month_partition(r.slot)).collect();
            for (from, to, name) in months {
                self.bench_sql(&format!(
                    "CREATE TABLE IF NOT EXISTS {name} PARTITION OF meter_readings FOR VALUES FROM ({from}) TO ({to})"
                ))
                .await?;
            }
        }
        self.write_readings("meter_readings", rows, per_transaction).await
    }

    /// Runs one statement of the benchmark's own (a scratch table made or dropped).
    async fn bench_sql(&self, sql: &str) -> StoreResult<()> {
        match self.sqlite_path() {
            Some(path) => {
                let connection = open_writer_connection(path)?;
                connection.execute_batch(sql).map_err(|e| StoreError::Writer(e.to_string()))
            }
            None => {
                let pool = self.postgres_pool().expect("a store is SQLite or PostgreSQL");
                sqlx::query(sql).execute(pool).await?;
                Ok(())
            }
        }
    }

    /// Writes `rows` into `table` (`meter`, `slot`, `wh`, actual, received
    /// now) in transactions of `per_transaction`; returns the elapsed time.
    async fn write_readings(&self, table: &str, rows: &[RawReading], per_transaction: usize) -> StoreResult<Duration> {
        let per_transaction = per_transaction.max(1);
        let received_at = Utc::now().timestamp();
        if let Some(path) = self.sqlite_path() {
            let fail = |e: rusqlite::Error| StoreError::Writer(e.to_string());
            let mut connection = open_writer_connection(path)?;
            let insert =
                format!("INSERT INTO {table} (meter, slot, wh, quality, received_at) VALUES (?1, ?2, ?3, 0, ?4)");
            let started = Instant::now();
            for chunk in rows.chunks(per_transaction) {
                let tx =
                    connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(fail)?;
                {
                    let mut statement = tx.prepare_cached(&insert).map_err(fail)?;
                    for r in chunk {
                        statement.execute(params![r.meter, r.slot, r.wh, received_at]).map_err(fail)?;
                    }
                }
                tx.commit().map_err(fail)?;
            }
            return Ok(started.elapsed());
        }
        let pool = self.postgres_pool().expect("a store is SQLite or PostgreSQL");
        let mut connection = pool.acquire().await?;
        let statement = format!("COPY {table} (meter, slot, wh, quality, received_at) FROM STDIN");
        let started = Instant::now();
        for chunk in rows.chunks(per_transaction) {
            // The text is made inside the measurement, as a writer makes it.
            let mut copy = CopyText::with_capacity(chunk.len() * 32);
            for r in chunk {
                copy.int(r.meter).int(r.slot).int(r.wh).int(0).int(received_at);
                copy.end_row();
            }
            let mut tx = sqlx::Connection::begin(&mut *connection).await?;
            copy_in(&mut tx, &statement, copy).await?;
            tx.commit().await?;
        }
        Ok(started.elapsed())
    }
}

/// The month partition of `meter_readings` that `slot` falls in, as the
/// ingestion names and bounds it: (first slot, first slot of the next
/// month, name).
fn month_partition(slot: i64) -> (i64, i64, String) {
    use canopy_core::energy::readings::{slot_of, start_of};
    let at = start_of(slot);
    let first = Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0).single().expect("a month's first day");
    let (year, month) = if at.month() == 12 { (at.year() + 1, 1) } else { (at.year(), at.month() + 1) };
    let next = Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single().expect("a month's first day");
    let slot_of = |t: DateTime<Utc>| slot_of(t).expect("midnight is on a boundary");
    (slot_of(first), slot_of(next), format!("meter_readings_{:04}_{:02}", at.year(), at.month()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_month_partition_spans_the_month_in_slots() {
        // 2026-12-31T23:45:00Z, the last interval of a December.
        let slot = 1_798_760_700 / 900;
        let (from, to, name) = super::month_partition(slot);
        assert_eq!(name, "meter_readings_2026_12");
        assert_eq!(to - from, 31 * 96);
        assert!(from <= slot && slot < to);
    }
}
