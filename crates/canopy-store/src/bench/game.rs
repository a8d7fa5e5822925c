//! Support for `canopy bench collect` and `canopy bench leaderboard`: bulk
//! sessions and friendships, the balls to collect, and the raw ceiling of
//! updating the same ball rows by key.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::IMPORT_ROWS;
use crate::store::{on_read, on_write};
use crate::writer::open_writer_connection;
use crate::{format_time, Store, StoreError, StoreResult};

impl Store {
    /// Imports sessions: (citizen, the SHA-256 of the token as the server
    /// stores it), valid until `expires_at`.
    pub async fn import_sessions(
        &self,
        sessions: &[(i64, String)],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (now, expires_at) = (format_time(now), format_time(expires_at));
        on_write!(self, |db| {
            let mut tx = db.begin().await?;
            for chunk in sessions.chunks(IMPORT_ROWS) {
                sqlx::QueryBuilder::new("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) ")
                    .push_values(chunk, |mut row, (user_id, hash)| {
                        row.push_bind(hash).push_bind(*user_id).push_bind(&now).push_bind(&expires_at);
                    })
                    .build()
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Imports friendships, each pair stored in both directions as the
    /// friends module stores an accepted request.
    pub async fn import_friendships(&self, pairs: &[(i64, i64)], now: DateTime<Utc>) -> StoreResult<()> {
        let now = format_time(now);
        let directed: Vec<(i64, i64)> = pairs.iter().flat_map(|&(a, b)| [(a, b), (b, a)]).collect();
        on_write!(self, |db| {
            let mut tx = db.begin().await?;
            for chunk in directed.chunks(IMPORT_ROWS) {
                sqlx::QueryBuilder::new("INSERT INTO friendships (user_id, friend_id, since) ")
                    .push_values(chunk, |mut row, (a, b)| {
                        row.push_bind(*a).push_bind(*b).push_bind(&now);
                    })
                    .build()
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Every open ball as (id, owner, grams), by id.
    pub async fn open_balls_for_bench(&self) -> StoreResult<Vec<(i64, i64, i64)>> {
        Ok(on_read!(self, |db| {
            sqlx::query_as("SELECT id, user_id, grams FROM balls WHERE outcome IS NULL ORDER BY id").fetch_all(db).await
        })?)
    }

    /// Balls that paid out more than they held (there must be none; the
    /// table's check refuses it too), and balls collected by their owner.
    pub async fn ball_payout_check(&self) -> StoreResult<(i64, i64)> {
        Ok(on_read!(self, |db| {
            sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(CASE WHEN taken_grams + closed_grams > grams THEN 1 ELSE 0 END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN outcome = 'collected' THEN 1 ELSE 0 END), 0) AS BIGINT)
                 FROM balls",
            )
            .fetch_one(db)
            .await
        })?)
    }

    /// The raw ceiling of a collect: the same ball rows, copied to a bare
    /// table keyed by id (no other index, no ledger), closed by key
    /// (`outcome`, `closed_grams`) in transactions of `per_transaction`,
    /// with the writer's durability: on SQLite one prepared `UPDATE` a row
    /// on the writer's connection settings; on PostgreSQL one `UPDATE …
    /// WHERE id = ANY(…)` a transaction. Returns the elapsed time.
    pub async fn raw_ball_update_ceiling(&self, ids: &[i64], per_transaction: usize) -> StoreResult<Duration> {
        let per_transaction = per_transaction.max(1);
        const COPY: &str = "CREATE TABLE bare_balls AS SELECT id, grams, taken_grams, outcome, closed_grams FROM balls";
        if let Some(path) = self.sqlite_path() {
            let fail = |e: rusqlite::Error| StoreError::Writer(e.to_string());
            let mut connection = open_writer_connection(path)?;
            connection
                .execute_batch(&format!(
                    "DROP TABLE IF EXISTS bare_balls; {COPY}; CREATE UNIQUE INDEX bare_balls_id ON bare_balls(id);"
                ))
                .map_err(fail)?;
            let started = Instant::now();
            for chunk in ids.chunks(per_transaction) {
                let tx =
                    connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(fail)?;
                {
                    let mut update = tx
                        .prepare_cached(
                            "UPDATE bare_balls SET outcome = 'raw', closed_grams = grams - taken_grams WHERE id = ?1",
                        )
                        .map_err(fail)?;
                    for id in chunk {
                        update.execute([id]).map_err(fail)?;
                    }
                }
                tx.commit().map_err(fail)?;
            }
            let elapsed = started.elapsed();
            connection.execute_batch("DROP TABLE bare_balls").map_err(fail)?;
            return Ok(elapsed);
        }
        let pool = self.postgres_pool().expect("a store is SQLite or PostgreSQL");
        let mut connection = pool.acquire().await?;
        sqlx::query("DROP TABLE IF EXISTS bare_balls").execute(&mut *connection).await?;
        sqlx::query(COPY).execute(&mut *connection).await?;
        sqlx::query("ALTER TABLE bare_balls ADD PRIMARY KEY (id)").execute(&mut *connection).await?;
        let started = Instant::now();
        for chunk in ids.chunks(per_transaction) {
            let mut tx = sqlx::Connection::begin(&mut *connection).await?;
            sqlx::query("UPDATE bare_balls SET outcome = 'raw', closed_grams = grams - taken_grams WHERE id = ANY($1)")
                .bind(chunk)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        let elapsed = started.elapsed();
        sqlx::query("DROP TABLE bare_balls").execute(&mut *connection).await?;
        Ok(elapsed)
    }
}

impl Store {
    /// The latest ripening and the earliest expiry among open balls
    /// (a benchmark moves its clock between them).
    pub async fn open_ball_window(&self) -> StoreResult<(DateTime<Utc>, DateTime<Utc>)> {
        let (ripens, expires): (Option<String>, Option<String>) = on_read!(self, |db| {
            sqlx::query_as("SELECT MAX(ripens_at), MIN(expires_at) FROM balls WHERE outcome IS NULL")
                .fetch_one(db)
                .await
        })?;
        match (ripens, expires) {
            (Some(r), Some(e)) => Ok((crate::parse_time(&r), crate::parse_time(&e))),
            _ => Err(StoreError::Writer("there are no open balls".into())),
        }
    }
}

impl Store {
    /// Makes every citizen of `first..first + count` a friend of the
    /// `half` citizens before and the `half` after them (a ring, so that
    /// each has `2 × half` friends), both directions stored, a slice of
    /// citizens a statement. Returns the friendships stored.
    pub async fn import_ring_friendships(
        &self,
        first: i64,
        count: i64,
        half: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        // A slice a statement, each well inside the store's statement timeout.
        let slice: i64 = if self.postgres_pool().is_some() { 2_000 } else { 20_000 };
        let now = format_time(now);
        let mut stored = 0;
        let mut from = first;
        while from < first + count {
            let to = (from + slice - 1).min(first + count - 1);
            stored += match &self.pools {
                crate::store::Pools::Sqlite { write, .. } => sqlx::query(
                    "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < $1),
                          d(d) AS (SELECT n FROM k UNION ALL SELECT -n FROM k)
                     INSERT INTO friendships (user_id, friend_id, since)
                     SELECT u.id, $2 + ((u.id - $2 + d.d + $3) % $3), $4
                     FROM users u, d WHERE u.id BETWEEN $5 AND $6",
                )
                .bind(half)
                .bind(first)
                .bind(count)
                .bind(&now)
                .bind(from)
                .bind(to)
                .execute(write)
                .await?
                .rows_affected(),
                crate::store::Pools::Postgres { pool } => sqlx::query(
                    "INSERT INTO friendships (user_id, friend_id, since)
                     SELECT u, $2 + ((u - $2 + d + $3) % $3), $4
                     FROM generate_series($5::bigint, $6::bigint) u,
                          (SELECT generate_series(1::bigint, $1::bigint) UNION ALL
                           SELECT -generate_series(1::bigint, $1::bigint)) s(d)",
                )
                .bind(half)
                .bind(first)
                .bind(count)
                .bind(&now)
                .bind(from)
                .bind(to)
                .execute(pool)
                .await?
                .rows_affected(),
            };
            from = to + 1;
        }
        Ok(stored)
    }
}

impl Store {
    /// Gathers the planner's statistics after a bulk seed (PostgreSQL's
    /// autovacuum would, minutes later; a benchmark reads at once). SQLite
    /// plans these reads by its indexes alone and is left as it is.
    pub async fn analyze_for_bench(&self) -> StoreResult<()> {
        if let Some(pool) = self.postgres_pool() {
            sqlx::query("ANALYZE").execute(pool).await?;
        }
        Ok(())
    }
}
