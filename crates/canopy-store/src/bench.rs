//! Support for `canopy bench`: bulk seeding and the raw insert ceiling.

mod forest;
mod game;
pub mod meter;
mod redeem;

use std::time::{Duration, Instant};

use canopy_core::ingest::AcceptedEvent;
use canopy_core::types::CategorySet;
use chrono::{DateTime, Utc};

use crate::store::on_write;
use crate::writer::{insert_event, open_writer_connection, EVENT_INSERT};
use crate::{format_time, Store, StoreError, StoreResult};

/// A citizen to import with an existing partner link (a programme moving
/// its linked accounts to Canopy, or a benchmark).
#[derive(Debug, Clone)]
pub struct LinkedCitizen {
    /// Login name.
    pub username: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Home region.
    pub region: String,
    /// The partner's reference.
    pub user_ref: String,
    /// Granted categories.
    pub scopes: CategorySet,
}

/// Rows a bulk import statement carries (six parameters each at most, well
/// under both stores' limits on bound parameters).
pub(crate) const IMPORT_ROWS: usize = 1_000;

impl Store {
    /// Imports citizens already linked to `partner_id`, in one transaction,
    /// numbered after the last citizen, many rows a statement (a million
    /// one row at a time would take minutes on PostgreSQL). Returns their
    /// ids in order.
    pub async fn import_linked_citizens(
        &self,
        partner_id: i64,
        citizens: &[LinkedCitizen],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<i64>> {
        for c in citizens {
            canopy_core::types::RegionCode::parse(&c.region).map_err(|e| StoreError::Writer(e.to_string()))?;
        }
        let now = format_time(now);
        let ids = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            let last: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM users")
                .fetch_one(&mut *tx)
                .await?;
            let ids: Vec<i64> = (last + 1..).take(citizens.len()).collect();
            for (chunk, ids) in citizens.chunks(IMPORT_ROWS).zip(ids.chunks(IMPORT_ROWS)) {
                let rows = || chunk.iter().zip(ids);
                sqlx::QueryBuilder::new(
                    "INSERT INTO users (id, username, password_hash, display_name, region, created_at) ",
                )
                .push_values(rows(), |mut row, (c, id)| {
                    row.push_bind(*id)
                        .push_bind(&c.username)
                        .push_bind(&c.password_hash)
                        .push_bind(&c.username)
                        .push_bind(&c.region)
                        .push_bind(&now);
                })
                .build()
                .execute(&mut *tx)
                .await?;
                sqlx::QueryBuilder::new("INSERT INTO consents (user_id, partner_id, scopes, granted_at) ")
                    .push_values(rows(), |mut row, (c, id)| {
                        row.push_bind(*id).push_bind(partner_id).push_bind(c.scopes.mask()).push_bind(&now);
                    })
                    .build()
                    .execute(&mut *tx)
                    .await?;
                sqlx::QueryBuilder::new("INSERT INTO partner_links (partner_id, user_ref, user_id, linked_at) ")
                    .push_values(rows(), |mut row, (c, id)| {
                        row.push_bind(partner_id).push_bind(&c.user_ref).push_bind(*id).push_bind(&now);
                    })
                    .build()
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            ids
        });
        if let Some(pool) = self.postgres_pool() {
            // Explicit ids leave the identity behind; the next registration
            // must not collide with an imported citizen.
            sqlx::query("SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT MAX(id) FROM users))")
                .execute(pool)
                .await?;
        }
        Ok(ids)
    }

    /// The storage ceiling: inserts the same event rows into a bare table
    /// (no keys, no indexes) in transactions of `rows_per_transaction`, with
    /// the writer's connection settings, statement and durability. Returns
    /// the elapsed time.
    pub fn raw_insert_ceiling(&self, events: &[AcceptedEvent], rows_per_transaction: usize) -> StoreResult<Duration> {
        let fail = |e: rusqlite::Error| StoreError::Writer(e.to_string());
        let mut connection = open_writer_connection(
            self.sqlite_path().ok_or_else(|| StoreError::Writer("the raw ceiling is measured on SQLite".into()))?,
        )?;
        connection
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS bare_events (partner_id INTEGER, event_id TEXT, user_id INTEGER,
                 behavior TEXT, occurred_at TEXT, region TEXT, inputs TEXT, fingerprint TEXT, methodology TEXT,
                 grams INTEGER, outcome TEXT, received_at TEXT)",
            )
            .map_err(fail)?;
        let insert = EVENT_INSERT.replacen("INSERT INTO events", "INSERT INTO bare_events", 1);
        let now = format_time(Utc::now());
        let started = Instant::now();
        for chunk in events.chunks(rows_per_transaction) {
            let tx = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(fail)?;
            {
                let mut statement = tx.prepare_cached(&insert).map_err(fail)?;
                for event in chunk {
                    insert_event(&mut statement, event, &now).map_err(fail)?;
                }
            }
            tx.commit().map_err(fail)?;
        }
        let elapsed = started.elapsed();
        connection.execute_batch("DROP TABLE bare_events").map_err(fail)?;
        Ok(elapsed)
    }

    /// The PostgreSQL ceiling: `COPY`s the same event rows into a bare
    /// table (no keys, no indexes) in transactions of `rows_per_transaction`
    /// with the default durability (`synchronous_commit = on`). Returns the
    /// elapsed time.
    pub async fn raw_copy_ceiling(
        &self,
        events: &[AcceptedEvent<'_>],
        rows_per_transaction: usize,
    ) -> StoreResult<Duration> {
        let pool = self.postgres_pool().ok_or_else(|| StoreError::Writer("COPY is measured on PostgreSQL".into()))?;
        let mut connection = pool.acquire().await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS bare_events (partner_id BIGINT, event_id TEXT, user_id BIGINT,
             behavior TEXT, occurred_at TEXT, region TEXT, inputs TEXT, fingerprint TEXT, methodology TEXT,
             grams BIGINT, outcome TEXT, received_at TEXT)",
        )
        .execute(&mut *connection)
        .await?;
        let now = format_time(Utc::now());
        let started = Instant::now();
        let mut buffer = String::new();
        for chunk in events.chunks(rows_per_transaction) {
            buffer.clear();
            for e in chunk {
                copy_row(&mut buffer, e, &now);
            }
            let mut tx = sqlx::Connection::begin(&mut *connection).await?;
            let mut copy = tx.copy_in_raw("COPY bare_events FROM STDIN").await?;
            copy.send(buffer.as_bytes()).await?;
            copy.finish().await?;
            tx.commit().await?;
        }
        let elapsed = started.elapsed();
        sqlx::query("DROP TABLE bare_events").execute(&mut *connection).await?;
        Ok(elapsed)
    }
}

/// One event in `COPY`'s text format.
fn copy_row(buffer: &mut String, e: &AcceptedEvent, received_at: &str) {
    use std::fmt::Write;
    fn text(buffer: &mut String, value: &str) {
        for c in value.chars() {
            match c {
                '\\' => buffer.push_str("\\\\"),
                '\t' => buffer.push_str("\\t"),
                '\n' => buffer.push_str("\\n"),
                '\r' => buffer.push_str("\\r"),
                c => buffer.push(c),
            }
        }
    }
    let _ = write!(buffer, "{}\t", e.partner_id);
    text(buffer, &e.event_id);
    let _ = write!(buffer, "\t{}\t", e.user_id);
    text(buffer, &e.behavior);
    buffer.push('\t');
    text(buffer, &format_time(e.occurred_at));
    buffer.push('\t');
    text(buffer, e.region.as_str());
    buffer.push('\t');
    text(buffer, &serde_json::to_string(&e.inputs).expect("serialisable"));
    buffer.push('\t');
    match &e.fingerprint {
        Some(fingerprint) => text(buffer, fingerprint),
        None => buffer.push_str("\\N"),
    }
    buffer.push('\t');
    text(buffer, &e.methodology);
    let _ = write!(buffer, "\t{}\t", e.grams);
    text(buffer, e.outcome.as_str());
    buffer.push('\t');
    text(buffer, received_at);
    buffer.push('\n');
}

/// Creates an empty database `name` on the PostgreSQL server of
/// `server_url` and returns its URL (for benchmarks that need a fresh
/// database per phase).
pub async fn create_postgres_database(server_url: &str, name: &str) -> StoreResult<String> {
    assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "a plain name");
    let admin = sqlx::PgPool::connect(server_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await?;
    admin.close().await;
    Ok(with_database_name(server_url, name))
}

/// Drops a database made by [`create_postgres_database`].
pub async fn drop_postgres_database(server_url: &str, name: &str) -> StoreResult<()> {
    assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "a plain name");
    let admin = sqlx::PgPool::connect(server_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await?;
    admin.close().await;
    Ok(())
}

/// `url` with its database name replaced by `name`.
pub fn with_database_name(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_start..].find('/') {
        Some(slash) => &base[..host_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}
