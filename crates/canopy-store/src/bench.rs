//! Support for `canopy bench`: bulk seeding and the raw insert ceiling.

use std::time::{Duration, Instant};

use canopy_core::ingest::AcceptedEvent;
use canopy_core::types::CategorySet;
use chrono::{DateTime, Utc};

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

impl Store {
    /// Imports citizens already linked to `partner_id`, in one transaction.
    /// Returns their ids in order.
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
    /// (no keys, no indexes) in transactions of `rows_per_transaction`, with
    /// the writer's connection settings, statement and durability. Returns
    /// the elapsed time.
    pub fn raw_insert_ceiling(&self, events: &[AcceptedEvent], rows_per_transaction: usize) -> StoreResult<Duration> {
        let fail = |e: rusqlite::Error| StoreError::Writer(e.to_string());
        let mut connection = open_writer_connection(self.path())?;
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
}
