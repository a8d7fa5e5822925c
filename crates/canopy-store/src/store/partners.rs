//! Partners, their signing secrets and the replay guard for their
//! signatures.
//!
//! Secrets are stored as the caller hands them: the server seals them with
//! the operator's key before they reach the store, and opens them after.

use chrono::{DateTime, Utc};

use super::{on_read, on_write, Store};
use crate::{format_time, parse_time, NewPartner, PartnerRow, PartnerSecretRow, RetireOutcome, StoreResult};
use canopy_core::types::{CategorySet, RegionCode};

impl Store {
    /// Creates a partner with its first secret (already sealed).
    pub async fn create_partner(
        &self,
        partner: &NewPartner,
        sealed_secret: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<(PartnerRow, PartnerSecretRow)> {
        let regions = join_regions(&partner.regions);
        let (id, secret_id): (i64, i64) = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO partners (name, categories, regions, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(partner.name.as_str())
            .bind(partner.categories.mask())
            .bind(&regions)
            .bind(format_time(now))
            .fetch_one(&mut *tx)
            .await?;
            let secret_id: i64 = sqlx::query_scalar(
                "INSERT INTO partner_secrets (partner_id, secret, created_at) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(id)
            .bind(sealed_secret)
            .bind(format_time(now))
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            (id, secret_id)
        });
        Ok((
            PartnerRow {
                id,
                name: partner.name.as_str().to_owned(),
                categories: partner.categories,
                regions: partner.regions.clone(),
                created_at: now,
            },
            PartnerSecretRow {
                id: secret_id,
                partner_id: id,
                sealed: sealed_secret.to_owned(),
                created_at: now,
                expires_at: None,
                retired_at: None,
            },
        ))
    }

    /// A partner by id.
    pub async fn partner(&self, id: i64) -> StoreResult<Option<PartnerRow>> {
        let row: Option<PartnerTuple> = on_read!(self, |db| {
            sqlx::query_as("SELECT id, name, categories, regions, created_at FROM partners WHERE id = $1")
                .bind(id)
                .fetch_optional(db)
                .await
        })?;
        Ok(row.map(partner_from_tuple))
    }

    /// Every partner, oldest first.
    pub async fn partners(&self) -> StoreResult<Vec<PartnerRow>> {
        let rows: Vec<PartnerTuple> = on_read!(self, |db| {
            sqlx::query_as("SELECT id, name, categories, regions, created_at FROM partners ORDER BY id")
                .fetch_all(db)
                .await
        })?;
        Ok(rows.into_iter().map(partner_from_tuple).collect())
    }

    /// A partner's secrets, oldest first, retired and expired ones included.
    pub async fn partner_secrets(&self, partner_id: i64) -> StoreResult<Vec<PartnerSecretRow>> {
        let rows: Vec<SecretTuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT id, partner_id, secret, created_at, expires_at, retired_at FROM partner_secrets
                 WHERE partner_id = $1 ORDER BY id",
            )
            .bind(partner_id)
            .fetch_all(db)
            .await
        })?;
        Ok(rows.into_iter().map(secret_from_tuple).collect())
    }

    /// The secrets that verify a partner's signatures at `now`.
    pub async fn live_partner_secrets(
        &self,
        partner_id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<PartnerSecretRow>> {
        let rows: Vec<SecretTuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT id, partner_id, secret, created_at, expires_at, retired_at FROM partner_secrets
                 WHERE partner_id = $1 AND retired_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
                 ORDER BY id DESC",
            )
            .bind(partner_id)
            .bind(format_time(now))
            .fetch_all(db)
            .await
        })?;
        Ok(rows.into_iter().map(secret_from_tuple).collect())
    }

    /// Suspends a partner: every secret of it still live is retired at
    /// `now`, so no request of it verifies until a new secret is issued.
    /// Returns how many secrets were retired.
    pub async fn retire_all_partner_secrets(&self, partner_id: i64, now: DateTime<Utc>) -> StoreResult<u64> {
        Ok(on_write!(self, |db| {
            sqlx::query(
                "UPDATE partner_secrets SET retired_at = $2
                 WHERE partner_id = $1 AND retired_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(partner_id)
            .bind(format_time(now))
            .execute(db)
            .await
            .map(|r| r.rows_affected())
        })?)
    }

    /// Adds a secret (already sealed) to a partner. Its other live secrets
    /// keep verifying until `others_expire_at` (the grace period), unless
    /// they were set to expire sooner.
    pub async fn add_partner_secret(
        &self,
        partner_id: i64,
        sealed_secret: &str,
        now: DateTime<Utc>,
        others_expire_at: DateTime<Utc>,
    ) -> StoreResult<PartnerSecretRow> {
        let id: i64 = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            sqlx::query(
                "UPDATE partner_secrets SET expires_at = $2
                 WHERE partner_id = $1 AND retired_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(partner_id)
            .bind(format_time(others_expire_at))
            .execute(&mut *tx)
            .await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO partner_secrets (partner_id, secret, created_at) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(partner_id)
            .bind(sealed_secret)
            .bind(format_time(now))
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            id
        });
        Ok(PartnerSecretRow {
            id,
            partner_id,
            sealed: sealed_secret.to_owned(),
            created_at: now,
            expires_at: None,
            retired_at: None,
        })
    }

    /// Retires one of a partner's live secrets at once, unless it is the
    /// last one that verifies.
    pub async fn retire_partner_secret(
        &self,
        partner_id: i64,
        secret_id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<RetireOutcome> {
        let now = format_time(now);
        let outcome = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            // Lock the partner's row so that two retirements cannot each
            // leave the other's secret as the "last" one and retire both.
            sqlx::query("UPDATE partners SET regions = regions WHERE id = $1")
                .bind(partner_id)
                .execute(&mut *tx)
                .await?;
            let live: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM partner_secrets
                 WHERE partner_id = $1 AND retired_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(partner_id)
            .bind(&now)
            .fetch_all(&mut *tx)
            .await?;
            let outcome = if !live.contains(&secret_id) {
                RetireOutcome::NotFound
            } else if live.len() == 1 {
                RetireOutcome::LastSecret
            } else {
                sqlx::query("UPDATE partner_secrets SET retired_at = $3 WHERE partner_id = $1 AND id = $2")
                    .bind(partner_id)
                    .bind(secret_id)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await?;
                RetireOutcome::Retired
            };
            tx.commit().await?;
            outcome
        });
        Ok(outcome)
    }

    /// Every stored secret as `(id, stored text)`: the start-up seals those
    /// still in clear and checks the key against the sealed ones.
    pub async fn all_partner_secrets(&self) -> StoreResult<Vec<(i64, String)>> {
        let rows: Vec<(i64, String)> = on_read!(self, |db| {
            sqlx::query_as("SELECT id, secret FROM partner_secrets ORDER BY id").fetch_all(db).await
        })?;
        Ok(rows)
    }

    /// Replaces a stored secret's text (sealing one kept in clear).
    pub async fn replace_partner_secret(&self, id: i64, sealed_secret: &str) -> StoreResult<()> {
        on_write!(self, |db| {
            sqlx::query("UPDATE partner_secrets SET secret = $2 WHERE id = $1")
                .bind(id)
                .bind(sealed_secret)
                .execute(db)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// The key check: a fixed text sealed with the operator's key, if one
    /// was stored.
    pub async fn secret_key_check(&self) -> StoreResult<Option<String>> {
        let sealed: Option<String> = on_read!(self, |db| {
            sqlx::query_scalar("SELECT sealed FROM secret_key_check WHERE id = 1").fetch_optional(db).await
        })?;
        Ok(sealed)
    }

    /// Stores the key check unless one is stored already; returns the one
    /// in force (another process may have stored its own first).
    pub async fn store_secret_key_check(&self, sealed: &str) -> StoreResult<String> {
        on_write!(self, |db| {
            sqlx::query("INSERT INTO secret_key_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
                .bind(sealed)
                .execute(db)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(self.secret_key_check().await?.unwrap_or_else(|| sealed.to_owned()))
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

/// Regions as stored: comma-separated codes (a code holds no comma).
fn join_regions(regions: &[RegionCode]) -> String {
    regions.iter().map(RegionCode::as_str).collect::<Vec<_>>().join(",")
}

type PartnerTuple = (i64, String, i64, String, String);

fn partner_from_tuple((id, name, categories, regions, created_at): PartnerTuple) -> PartnerRow {
    PartnerRow {
        id,
        name,
        categories: CategorySet::from_mask(categories),
        // Stored codes were parsed on the way in; one that no longer parses
        // (withdrawn from the standard since) simply stops being allowed.
        regions: regions.split(',').filter_map(|code| RegionCode::parse(code).ok()).collect(),
        created_at: parse_time(&created_at),
    }
}

type SecretTuple = (i64, i64, String, String, Option<String>, Option<String>);

fn secret_from_tuple((id, partner_id, sealed, created_at, expires_at, retired_at): SecretTuple) -> PartnerSecretRow {
    PartnerSecretRow {
        id,
        partner_id,
        sealed,
        created_at: parse_time(&created_at),
        expires_at: expires_at.as_deref().map(parse_time),
        retired_at: retired_at.as_deref().map(parse_time),
    }
}
