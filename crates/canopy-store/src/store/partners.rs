//! Partners and the replay guard for their signatures.

use chrono::{DateTime, Utc};

use super::{on_read, on_write, Store};
use crate::{format_time, parse_time, PartnerRow, StoreResult};
use canopy_core::types::CategorySet;

impl Store {
    /// Creates a partner.
    pub async fn create_partner(
        &self,
        name: &str,
        categories: CategorySet,
        secret: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<PartnerRow> {
        let id: i64 = on_write!(self, |db| {
            sqlx::query_scalar(
                "INSERT INTO partners (name, categories, secret, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(name)
            .bind(categories.mask())
            .bind(secret)
            .bind(format_time(now))
            .fetch_one(db)
            .await
        })?;
        Ok(PartnerRow { id, name: name.to_owned(), categories, secret: secret.to_owned(), created_at: now })
    }

    /// A partner by id.
    pub async fn partner(&self, id: i64) -> StoreResult<Option<PartnerRow>> {
        let row: Option<PartnerTuple> = on_read!(self, |db| {
            sqlx::query_as("SELECT id, name, categories, secret, created_at FROM partners WHERE id = $1")
                .bind(id)
                .fetch_optional(db)
                .await
        })?;
        Ok(row.map(partner_from_tuple))
    }

    /// Every partner, oldest first.
    pub async fn partners(&self) -> StoreResult<Vec<PartnerRow>> {
        let rows: Vec<PartnerTuple> = on_read!(self, |db| {
            sqlx::query_as("SELECT id, name, categories, secret, created_at FROM partners ORDER BY id")
                .fetch_all(db)
                .await
        })?;
        Ok(rows.into_iter().map(partner_from_tuple).collect())
    }

    /// Remembers a request signature until `expires_at` (unix seconds);
    /// false if it was seen already (a replay).
    pub async fn remember_signature(&self, partner_id: i64, signature: &str, expires_at: i64) -> StoreResult<bool> {
        let inserted = on_write!(self, |db| {
            sqlx::query(
                "INSERT INTO request_signatures (signature, partner_id, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (signature) DO NOTHING",
            )
            .bind(signature)
            .bind(partner_id)
            .bind(expires_at)
            .execute(db)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(inserted == 1)
    }
}

type PartnerTuple = (i64, String, i64, String, String);

fn partner_from_tuple((id, name, categories, secret, created_at): PartnerTuple) -> PartnerRow {
    PartnerRow { id, name, categories: CategorySet::from_mask(categories), secret, created_at: parse_time(&created_at) }
}
