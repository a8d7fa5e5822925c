//! Support for `canopy bench`: bulk seeding and the raw insert ceiling.

use std::time::{Duration, Instant};

use canopy_core::ingest::AcceptedEvent;
use canopy_core::types::CategorySet;
use chrono::{DateTime, Utc};

use crate::writer::{insert_events, EventRow};
use crate::{format_time, Store, StoreResult};

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

const BARE_INSERT_HEAD: &str = "INSERT INTO bare_events (partner_id, event_id, user_id, behavior, occurred_at, region,
     inputs, fingerprint, methodology, grams, outcome, received_at)";

impl Store {
    /// Imports citizens already linked to `partner_id`, in one transaction.
    /// Returns their ids in order.
    pub async fn import_linked_citizens(
        &self,
        partner_id: i64,
        citizens: &[LinkedCitizen],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<i64>> {
        let now = format_time(now);
        let mut tx = self.write.begin().await?;
        let mut ids = Vec::with_capacity(citizens.len());
        for c in citizens {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO users (username, password_hash, display_name, region, created_at)
                 VALUES ($1, $2, $1, $3, $4) RETURNING id",
            )
            .bind(&c.username)
            .bind(&c.password_hash)
            .bind(&c.region)
            .bind(&now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO consents (user_id, partner_id, scopes, granted_at) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(partner_id)
                .bind(c.scopes.mask())
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO partner_links (partner_id, user_ref, user_id, linked_at) VALUES ($1, $2, $3, $4)")
                .bind(partner_id)
                .bind(&c.user_ref)
                .bind(id)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// The storage ceiling: inserts the same event rows into a bare table
    /// (no keys, no indexes) in transactions of `rows_per_transaction`, on
    /// this store's connection with its durability settings. Returns the
    /// elapsed time.
    pub async fn raw_insert_ceiling(
        &self,
        events: &[AcceptedEvent],
        rows_per_transaction: usize,
    ) -> StoreResult<Duration> {
        let mut conn = self.write.acquire().await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS bare_events (partner_id INTEGER, event_id TEXT, user_id INTEGER,
             behavior TEXT, occurred_at TEXT, region TEXT, inputs TEXT, fingerprint TEXT, methodology TEXT,
             grams INTEGER, outcome TEXT, received_at TEXT)",
        )
        .execute(&mut *conn)
        .await?;
        let now = format_time(Utc::now());

        // The same rows, the same statements and the same transaction
        // sizes as the writer, into a table with no keys and no indexes.
        let rows: Vec<EventRow<'_>> = events.iter().map(EventRow::new).collect();
        let started = Instant::now();
        for chunk in rows.chunks(rows_per_transaction) {
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            insert_events(&mut conn, BARE_INSERT_HEAD, chunk, &now).await?;
            sqlx::query("COMMIT").execute(&mut *conn).await?;
        }
        let elapsed = started.elapsed();
        sqlx::query("DROP TABLE bare_events").execute(&mut *conn).await?;
        Ok(elapsed)
    }
}
