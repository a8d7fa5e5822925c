//! Support for `canopy bench redeem`: every project's stock and sales, and
//! the raw ceiling of writing the same redemptions (a project's `sold`
//! raised and a redemption row inserted) without the writer, the rule or
//! the ledger.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rusqlite::params;

use crate::pg_copy::{copy_in, CopyText};
use crate::store::on_read;
use crate::writer::open_writer_connection;
use crate::{Store, StoreError, StoreResult};

/// The columns of a redemption row, in the order the raw ceiling writes them.
const COLUMNS: &str =
    "id, user_id, project_id, quantity, energy_grams, certificate, voucher_code, show_name, status, created_at, \
     cancelled_at";

/// A stored redemption row, every column.
type RedemptionColumns =
    (i64, i64, i64, i64, i64, Option<String>, Option<String>, bool, String, String, Option<String>);

impl Store {
    /// Every project as (id, stock, sold), by id.
    pub async fn project_sales_for_bench(&self) -> StoreResult<Vec<(i64, i64, i64)>> {
        Ok(on_read!(self, |db| {
            sqlx::query_as("SELECT id, stock, sold FROM projects ORDER BY id").fetch_all(db).await
        })?)
    }

    /// The raw ceiling of a redemption: the stored rows of `redemption_ids`
    /// (in that order) written again into bare copies — the projects' ids
    /// and `sold` (keyed by id) and an empty table of redemption rows (no
    /// key, no index) — one project update and one row inserted per
    /// redemption, in transactions of `per_transaction` redemptions, with
    /// the writer's durability. On SQLite one prepared `UPDATE` and one
    /// `INSERT` a redemption on the writer's connection settings; on
    /// PostgreSQL, set-wise as its writers write new rows, one `UPDATE`
    /// over the transaction's projects and one `COPY` of its rows. Returns
    /// the elapsed time (the copies are dropped afterwards; the real rows
    /// are only read).
    pub async fn raw_redemption_ceiling(
        &self,
        redemption_ids: &[i64],
        per_transaction: usize,
    ) -> StoreResult<Duration> {
        let per_transaction = per_transaction.max(1);
        let stored: Vec<RedemptionColumns> = on_read!(self, |db| {
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM redemptions ORDER BY id")).fetch_all(db).await
        })?;
        let mut by_id: HashMap<i64, RedemptionColumns> = stored.into_iter().map(|r| (r.0, r)).collect();
        let rows = redemption_ids
            .iter()
            .map(|id| by_id.remove(id).ok_or_else(|| StoreError::Writer(format!("there is no redemption {id}"))))
            .collect::<StoreResult<Vec<_>>>()?;
        let copies = format!(
            "CREATE TABLE bare_projects AS SELECT id, sold FROM projects;
             CREATE TABLE bare_redemptions AS SELECT {COLUMNS} FROM redemptions WHERE 1 = 0"
        );
        if let Some(path) = self.sqlite_path() {
            let fail = |e: rusqlite::Error| StoreError::Writer(e.to_string());
            let mut connection = open_writer_connection(path)?;
            connection
                .execute_batch(&format!(
                    "DROP TABLE IF EXISTS bare_projects; DROP TABLE IF EXISTS bare_redemptions; {copies};
                     CREATE UNIQUE INDEX bare_projects_id ON bare_projects(id);"
                ))
                .map_err(fail)?;
            let started = Instant::now();
            for chunk in rows.chunks(per_transaction) {
                let tx =
                    connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(fail)?;
                {
                    let mut sell =
                        tx.prepare_cached("UPDATE bare_projects SET sold = sold + ?2 WHERE id = ?1").map_err(fail)?;
                    let mut insert = tx
                        .prepare_cached(&format!(
                            "INSERT INTO bare_redemptions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                        ))
                        .map_err(fail)?;
                    for r in chunk {
                        sell.execute(params![r.2, r.3]).map_err(fail)?;
                        insert
                            .execute(params![r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10])
                            .map_err(fail)?;
                    }
                }
                tx.commit().map_err(fail)?;
            }
            let elapsed = started.elapsed();
            connection.execute_batch("DROP TABLE bare_projects; DROP TABLE bare_redemptions;").map_err(fail)?;
            return Ok(elapsed);
        }
        let pool = self.postgres_pool().expect("a store is SQLite or PostgreSQL");
        let mut connection = pool.acquire().await?;
        sqlx::query("DROP TABLE IF EXISTS bare_projects, bare_redemptions").execute(&mut *connection).await?;
        sqlx::raw_sql(&copies).execute(&mut *connection).await?;
        sqlx::query("ALTER TABLE bare_projects ADD PRIMARY KEY (id)").execute(&mut *connection).await?;
        let started = Instant::now();
        for chunk in rows.chunks(per_transaction) {
            let mut tx = sqlx::Connection::begin(&mut *connection).await?;
            let projects: Vec<i64> = chunk.iter().map(|r| r.2).collect();
            let quantities: Vec<i64> = chunk.iter().map(|r| r.3).collect();
            sqlx::query(
                "UPDATE bare_projects p SET sold = p.sold + k.quantity
                 FROM (SELECT id, SUM(quantity) AS quantity FROM unnest($1::bigint[], $2::bigint[]) AS u(id, quantity)
                       GROUP BY id) k
                 WHERE p.id = k.id",
            )
            .bind(&projects)
            .bind(&quantities)
            .execute(&mut *tx)
            .await?;
            let mut copy = CopyText::with_capacity(chunk.len() * 128);
            for r in chunk {
                copy.int(r.0).int(r.1).int(r.2).int(r.3).int(r.4);
                for text in [&r.5, &r.6] {
                    match text {
                        Some(text) => copy.text(text),
                        None => copy.null(),
                    };
                }
                copy.text(if r.7 { "t" } else { "f" }).text(&r.8).text(&r.9);
                match &r.10 {
                    Some(text) => copy.text(text),
                    None => copy.null(),
                };
                copy.end_row();
            }
            copy_in(&mut tx, &format!("COPY bare_redemptions ({COLUMNS}) FROM STDIN"), copy).await?;
            tx.commit().await?;
        }
        let elapsed = started.elapsed();
        sqlx::query("DROP TABLE bare_projects, bare_redemptions").execute(&mut *connection).await?;
        Ok(elapsed)
    }
}
