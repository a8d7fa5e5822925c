//! Consent, link codes and the purge of expired state.

use chrono::{DateTime, Utc};

use super::{on_read, on_write, Store};
use crate::{format_time, parse_time, ConsentRow, StoreError, StoreResult};
use canopy_core::types::CategorySet;

impl Store {
    /// Grants (or re-grants, replacing the scopes) a partner consent, and
    /// stores a single-use link code for it.
    pub async fn grant_consent(
        &self,
        user_id: i64,
        partner_id: i64,
        scopes: CategorySet,
        code_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_write!(self, |db| {
            let mut tx = db.begin().await?;
            sqlx::query(
                "INSERT INTO consents (user_id, partner_id, scopes, granted_at, revoked_at)
                 VALUES ($1, $2, $3, $4, NULL)
                 ON CONFLICT (user_id, partner_id) DO UPDATE SET scopes = excluded.scopes,
                     granted_at = excluded.granted_at, revoked_at = NULL",
            )
            .bind(user_id)
            .bind(partner_id)
            .bind(scopes.mask())
            .bind(format_time(now))
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO link_codes (code_hash, user_id, partner_id, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(code_hash)
                .bind(user_id)
                .bind(partner_id)
                .bind(format_time(expires_at))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// A citizen's consents, active and revoked.
    pub async fn consents(&self, user_id: i64) -> StoreResult<Vec<ConsentRow>> {
        type ConsentTuple = (i64, String, i64, String, Option<String>, i64);
        let rows: Vec<ConsentTuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT c.partner_id, p.name, c.scopes, c.granted_at, c.revoked_at,
                        CAST(CASE WHEN EXISTS (SELECT 1 FROM partner_links l
                                               WHERE l.user_id = c.user_id AND l.partner_id = c.partner_id)
                             THEN 1 ELSE 0 END AS BIGINT)
                 FROM consents c JOIN partners p ON p.id = c.partner_id
                 WHERE c.user_id = $1 ORDER BY c.partner_id",
            )
            .bind(user_id)
            .fetch_all(db)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(partner_id, partner_name, scopes, granted_at, revoked_at, linked)| ConsentRow {
                partner_id,
                partner_name,
                scopes: CategorySet::from_mask(scopes),
                granted_at: parse_time(&granted_at),
                revoked_at: revoked_at.as_deref().map(parse_time),
                linked: linked != 0,
            })
            .collect())
    }

    /// Revokes a consent at once; false if there was no active consent.
    pub async fn revoke_consent(&self, user_id: i64, partner_id: i64, now: DateTime<Utc>) -> StoreResult<bool> {
        let revoked = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            let done = sqlx::query(
                "UPDATE consents SET revoked_at = $3 WHERE user_id = $1 AND partner_id = $2 AND revoked_at IS NULL",
            )
            .bind(user_id)
            .bind(partner_id)
            .bind(format_time(now))
            .execute(&mut *tx)
            .await?;
            // Outstanding link codes die with the consent.
            sqlx::query(
                "UPDATE link_codes SET used_at = $3 WHERE user_id = $1 AND partner_id = $2 AND used_at IS NULL",
            )
            .bind(user_id)
            .bind(partner_id)
            .bind(format_time(now))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            done.rows_affected()
        });
        Ok(revoked == 1)
    }

    /// Spends a link code: binds the partner's `user_ref` to the citizen who
    /// issued the code. Returns the citizen's id.
    pub async fn use_link_code(
        &self,
        partner_id: i64,
        code_hash: &str,
        user_ref: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        on_write!(self, |db| {
            let mut tx = db.begin().await?;
            let user_id: Option<i64> = sqlx::query_scalar(
                "UPDATE link_codes SET used_at = $3
                 WHERE code_hash = $1 AND partner_id = $2 AND used_at IS NULL AND expires_at > $3
                 RETURNING user_id",
            )
            .bind(code_hash)
            .bind(partner_id)
            .bind(format_time(now))
            .fetch_optional(&mut *tx)
            .await?;
            let Some(user_id) = user_id else {
                // The contract: a used or expired code is `link_code_invalid`,
                // even when a partner retries the very link it made.
                return Err(StoreError::LinkCodeInvalid);
            };
            // Two links can race for one citizen (two codes) or one
            // reference (two citizens). The insert skips a conflicting row
            // instead of failing on the unique key: on PostgreSQL it waits
            // for the other transaction, and the statements after it (each
            // with a fresh snapshot under READ COMMITTED) see what that one
            // committed, so the loser gets the answer a later request would.
            let inserted = sqlx::query(
                "INSERT INTO partner_links (partner_id, user_ref, user_id, linked_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
            )
            .bind(partner_id)
            .bind(user_ref)
            .bind(user_id)
            .bind(format_time(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                let existing: Option<String> =
                    sqlx::query_scalar("SELECT user_ref FROM partner_links WHERE partner_id = $1 AND user_id = $2")
                        .bind(partner_id)
                        .bind(user_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                match existing {
                    // The very link already exists: linking again is harmless.
                    Some(existing) if existing == user_ref => {}
                    Some(existing) => {
                        return Err(StoreError::LinkConflict(format!(
                            "this citizen is already linked to your user_ref `{existing}`"
                        )));
                    }
                    None => {
                        return Err(StoreError::LinkConflict(format!(
                            "your user_ref `{user_ref}` is already linked to another citizen"
                        )));
                    }
                }
            }
            tx.commit().await?;
            Ok(user_id)
        })
    }

    /// Deletes what has expired: sessions, link codes a day past expiry and
    /// request signatures past their replay window. Returns rows deleted.
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let deleted = on_write!(self, |db| {
            let mut deleted = 0;
            deleted += sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(format_time(now))
                .execute(db)
                .await?
                .rows_affected();
            deleted += sqlx::query("DELETE FROM link_codes WHERE expires_at <= $1")
                .bind(format_time(now - chrono::Duration::days(1)))
                .execute(db)
                .await?
                .rows_affected();
            // Webhook notifications are kept 30 days after they were delivered or given up.
            deleted += sqlx::query("DELETE FROM ven_notifications WHERE COALESCE(delivered_at, failed_at) < $1")
                .bind(format_time(now - chrono::Duration::days(30)))
                .execute(db)
                .await?
                .rows_affected();
            deleted += sqlx::query("DELETE FROM request_signatures WHERE expires_at < $1")
                .bind(now.timestamp())
                .execute(db)
                .await?
                .rows_affected();
            deleted
        });
        Ok(deleted)
    }
}
