//! Published methodologies.

use chrono::{DateTime, Utc};

use super::{on_read, on_write, Store};
use crate::{format_time, PublishedMethodology, StoreError, StoreResult};

impl Store {
    /// Every published methodology, in publication order.
    pub async fn published_methodologies(&self) -> StoreResult<Vec<PublishedMethodology>> {
        let rows: Vec<(String, String, String, String, String)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT id, version, source_name, source_text, origin FROM methodologies
                 ORDER BY published_at, id, version",
            )
            .fetch_all(db)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, version, source_name, source_text, origin)| PublishedMethodology {
                id,
                version,
                source_name,
                source_text,
                origin,
            })
            .collect())
    }

    /// Records a published methodology. Publishing the same text again is a
    /// no-op; other text under the same id and version is refused. Two
    /// servers publishing at once cannot both win: the insert skips a row
    /// that appeared meanwhile, and the text is compared again.
    pub async fn publish_methodology(&self, m: &PublishedMethodology, now: DateTime<Utc>) -> StoreResult<bool> {
        let inserted = on_write!(self, |db| {
            sqlx::query(
                "INSERT INTO methodologies (id, version, source_name, source_text, origin, published_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id, version) DO NOTHING",
            )
            .bind(&m.id)
            .bind(&m.version)
            .bind(&m.source_name)
            .bind(&m.source_text)
            .bind(&m.origin)
            .bind(format_time(now))
            .execute(db)
            .await
            .map(|done| done.rows_affected())
        })?;
        if inserted == 1 {
            return Ok(true);
        }
        let existing: String = on_write!(self, |db| {
            sqlx::query_scalar("SELECT source_text FROM methodologies WHERE id = $1 AND version = $2")
                .bind(&m.id)
                .bind(&m.version)
                .fetch_one(db)
                .await
        })?;
        if existing == m.source_text {
            Ok(false)
        } else {
            Err(StoreError::MethodologyVersionExists(format!("{}@{}", m.id, m.version)))
        }
    }
}
