//! Support for `canopy bench`: bulk seeding and the raw insert ceiling.

use std::time::{Duration, Instant};

use canopy_core::ingest::AcceptedEvent;
use canopy_core::types::CategorySet;
use chrono::{DateTime, Utc};

use crate::writer::{events_json, EVENT_INSERT_SELECT};
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
    /// elapsed time of the best of the two insert methods (one statement
    /// over a JSON array, as the writer does, and multi-row `VALUES`).
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

        let started = Instant::now();
        for chunk in events.chunks(rows_per_transaction) {
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            sqlx::query(&format!("INSERT INTO bare_events {EVENT_INSERT_SELECT}"))
                .bind(events_json(chunk))
                .bind(&now)
                .execute(&mut *conn)
                .await?;
            sqlx::query("COMMIT").execute(&mut *conn).await?;
        }
        let json_elapsed = started.elapsed();
        sqlx::query("DELETE FROM bare_events").execute(&mut *conn).await?;

        // Multi-row VALUES with bound parameters, 12 per row, in statements
        // of at most 2,500 rows (SQLite's 32,766-variable limit).
        let started = Instant::now();
        for chunk in events.chunks(rows_per_transaction) {
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            for rows in chunk.chunks(2_500) {
                let mut builder = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "INSERT INTO bare_events (partner_id, event_id, user_id, behavior, occurred_at, region, inputs,
                     fingerprint, methodology, grams, outcome, received_at) ",
                );
                builder.push_values(rows, |mut b, e| {
                    b.push_bind(e.partner_id)
                        .push_bind(e.event_id.as_str())
                        .push_bind(e.user_id)
                        .push_bind(e.behavior.as_str())
                        .push_bind(format_time(e.occurred_at))
                        .push_bind(e.region.as_str())
                        .push_bind(serde_json::to_string(&e.inputs).expect("serialisable"))
                        .push_bind(e.fingerprint.as_deref())
                        .push_bind(e.methodology.as_str())
                        .push_bind(e.grams)
                        .push_bind(e.outcome.as_str())
                        .push_bind(now.as_str());
                });
                builder.build().execute(&mut *conn).await?;
            }
            sqlx::query("COMMIT").execute(&mut *conn).await?;
        }
        let values_elapsed = started.elapsed();
        sqlx::query("DROP TABLE bare_events").execute(&mut *conn).await?;
        Ok(json_elapsed.min(values_elapsed))
    }
}
