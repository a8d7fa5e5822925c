//! OpenADR subscriptions and the outbox of their webhook notifications, in
//! storage. A notification is written once per subscription and operation
//! and delivered by whichever server claims it (a lease in
//! `claimed_until`, so two servers on one database never both send it
//! while the lease holds).

use chrono::{DateTime, Utc};

use super::{on_read, on_write, Store};
use crate::{format_time, parse_time, StoreResult};

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRow {
    /// Its id.
    pub id: i64,
    /// The VEN that made it.
    pub ven_id: i64,
    /// That VEN's OAuth2 client id.
    pub client_id: String,
    /// The program it is limited to, if any.
    pub program_id: Option<i64>,
    /// The OpenADR SubscriptionRequest, as accepted (JSON).
    pub request: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub modified_at: DateTime<Utc>,
}

type SubscriptionTuple = (i64, i64, String, Option<i64>, String, String, String);

fn subscription_from(
    (id, ven_id, client_id, program_id, request, created_at, modified_at): SubscriptionTuple,
) -> SubscriptionRow {
    SubscriptionRow {
        id,
        ven_id,
        client_id,
        program_id,
        request,
        created_at: parse_time(&created_at),
        modified_at: parse_time(&modified_at),
    }
}

const SUBSCRIPTION_SELECT: &str = "SELECT s.id, s.ven_id, v.client_id, s.program_id, s.request, s.created_at, \
     s.modified_at FROM ven_subscriptions s JOIN vens v ON v.id = s.ven_id";

/// A notification to write: where it goes and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// The subscription it answers.
    pub subscription_id: i64,
    /// Where it is POSTed.
    pub callback_url: String,
    /// The bearer token the callback expects, if any.
    pub bearer_token: Option<String>,
    /// The OpenADR Notification (JSON).
    pub body: String,
}

/// A notification claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    /// Its id.
    pub id: i64,
    /// The subscription it answers.
    pub subscription_id: i64,
    /// Where it is POSTed.
    pub callback_url: String,
    /// The bearer token the callback expects, if any.
    pub bearer_token: Option<String>,
    /// The OpenADR Notification (JSON).
    pub body: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The callback answered 2xx.
    Delivered,
    /// It failed; try again at the given time.
    Retry {
        /// When.
        at: DateTime<Utc>,
        /// What went wrong.
        error: String,
    },
    /// It failed for the last time.
    GaveUp {
        /// What went wrong.
        error: String,
    },
}

impl Store {
    /// Makes a subscription for a VEN unless it has `max` already; `None` then.
    pub async fn create_subscription(
        &self,
        ven_id: i64,
        program_id: Option<i64>,
        request: &str,
        max: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SubscriptionRow>> {
        let id: Option<i64> = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            // The VEN's row, locked on PostgreSQL (SQLite's one writer serialises), so the count holds.
            sqlx::query("UPDATE vens SET name = name WHERE id = $1").bind(ven_id).execute(&mut *tx).await?;
            let have: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ven_subscriptions WHERE ven_id = $1")
                .bind(ven_id)
                .fetch_one(&mut *tx)
                .await?;
            if have >= max {
                None
            } else {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO ven_subscriptions (ven_id, program_id, request, created_at, modified_at)
                     VALUES ($1, $2, $3, $4, $4) RETURNING id",
                )
                .bind(ven_id)
                .bind(program_id)
                .bind(request)
                .bind(format_time(now))
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Some(id)
            }
        });
        match id {
            None => Ok(None),
            Some(id) => self.subscription(id).await,
        }
    }

    /// One subscription.
    pub async fn subscription(&self, id: i64) -> StoreResult<Option<SubscriptionRow>> {
        let row: Option<SubscriptionTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{SUBSCRIPTION_SELECT} WHERE s.id = $1")).bind(id).fetch_optional(db).await
        })?;
        Ok(row.map(subscription_from))
    }

    /// A VEN's subscriptions, oldest first (at most `limit`).
    pub async fn subscriptions_of(&self, ven_id: i64, limit: i64) -> StoreResult<Vec<SubscriptionRow>> {
        let rows: Vec<SubscriptionTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{SUBSCRIPTION_SELECT} WHERE s.ven_id = $1 ORDER BY s.id LIMIT $2"))
                .bind(ven_id)
                .bind(limit)
                .fetch_all(db)
                .await
        })?;
        Ok(rows.into_iter().map(subscription_from).collect())
    }

    /// The subscriptions that may hear of an operation on `program_id`'s
    /// objects: those limited to it and those limited to none.
    pub async fn subscriptions_for_program(&self, program_id: i64) -> StoreResult<Vec<SubscriptionRow>> {
        let rows: Vec<SubscriptionTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!(
                "{SUBSCRIPTION_SELECT} WHERE s.program_id IS NULL OR s.program_id = $1 ORDER BY s.id"
            ))
            .bind(program_id)
            .fetch_all(db)
            .await
        })?;
        Ok(rows.into_iter().map(subscription_from).collect())
    }

    /// Replaces a VEN's subscription; `None` if it has none of that id.
    pub async fn update_subscription(
        &self,
        id: i64,
        ven_id: i64,
        program_id: Option<i64>,
        request: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SubscriptionRow>> {
        let updated = on_write!(self, |db| {
            sqlx::query(
                "UPDATE ven_subscriptions SET program_id = $1, request = $2, modified_at = $3
                 WHERE id = $4 AND ven_id = $5",
            )
            .bind(program_id)
            .bind(request)
            .bind(format_time(now))
            .bind(id)
            .bind(ven_id)
            .execute(db)
            .await
            .map(|r| r.rows_affected())
        })?;
        if updated == 0 {
            return Ok(None);
        }
        self.subscription(id).await
    }

    /// Deletes a VEN's subscription and its undelivered notifications; the
    /// subscription as it was, or `None` if the VEN has none of that id.
    pub async fn delete_subscription(&self, id: i64, ven_id: i64) -> StoreResult<Option<SubscriptionRow>> {
        let Some(found) = self.subscription(id).await?.filter(|s| s.ven_id == ven_id) else {
            return Ok(None);
        };
        let deleted = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            sqlx::query("DELETE FROM ven_notifications WHERE subscription_id = $1 AND delivered_at IS NULL")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let deleted = sqlx::query("DELETE FROM ven_subscriptions WHERE id = $1 AND ven_id = $2")
                .bind(id)
                .bind(ven_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok::<_, sqlx::Error>(deleted)
        })?;
        Ok((deleted > 0).then_some(found))
    }

    /// Writes notifications to the outbox, due at `now`.
    pub async fn enqueue_notifications(&self, notes: &[NewNotification], now: DateTime<Utc>) -> StoreResult<()> {
        if notes.is_empty() {
            return Ok(());
        }
        on_write!(self, |db| {
            let mut tx = db.begin().await?;
            for note in notes {
                sqlx::query(
                    "INSERT INTO ven_notifications (subscription_id, callback_url, bearer_token, body, due_at, created_at)
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(note.subscription_id)
                .bind(&note.callback_url)
                .bind(&note.bearer_token)
                .bind(&note.body)
                .bind(format_time(now))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Claims up to `limit` notifications due at `now` for `lease_s`
    /// seconds (counting the attempt); another server skips them meanwhile.
    pub async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        lease_s: i64,
        limit: i64,
    ) -> StoreResult<Vec<NotificationRow>> {
        let now_text = format_time(now);
        let until = format_time(now + chrono::Duration::seconds(lease_s));
        // The outer conditions repeat the inner ones: on PostgreSQL a row
        // another server claimed meanwhile is re-checked, and skipped.
        let rows: Vec<(i64, i64, String, Option<String>, String, i64)> = on_write!(self, |db| {
            sqlx::query_as(
                "UPDATE ven_notifications SET claimed_until = $1, attempts = attempts + 1
                 WHERE id IN (SELECT id FROM ven_notifications
                              WHERE delivered_at IS NULL AND failed_at IS NULL AND due_at <= $2
                                AND (claimed_until IS NULL OR claimed_until <= $2)
                              ORDER BY due_at, id LIMIT $3)
                   AND delivered_at IS NULL AND failed_at IS NULL
                   AND (claimed_until IS NULL OR claimed_until <= $2)
                 RETURNING id, subscription_id, callback_url, bearer_token, body, CAST(attempts AS BIGINT)",
            )
            .bind(&until)
            .bind(&now_text)
            .bind(limit)
            .fetch_all(db)
            .await
        })?;
        let mut claimed: Vec<NotificationRow> = rows
            .into_iter()
            .map(|(id, subscription_id, callback_url, bearer_token, body, attempts)| NotificationRow {
                id,
                subscription_id,
                callback_url,
                bearer_token,
                body,
                attempts,
            })
            .collect();
        claimed.sort_by_key(|n| n.id);
        Ok(claimed)
    }

    /// Records how a claimed notification's delivery ended.
    pub async fn finish_notification(&self, id: i64, outcome: &Delivery, now: DateTime<Utc>) -> StoreResult<()> {
        let now = format_time(now);
        on_write!(self, |db| {
            match outcome {
                Delivery::Delivered => {
                    sqlx::query("UPDATE ven_notifications SET delivered_at = $1, claimed_until = NULL WHERE id = $2")
                        .bind(&now)
                        .bind(id)
                        .execute(db)
                        .await
                        .map(|_| ())
                }
                Delivery::Retry { at, error } => sqlx::query(
                    "UPDATE ven_notifications SET due_at = $1, last_error = $2, claimed_until = NULL WHERE id = $3",
                )
                .bind(format_time(*at))
                .bind(error)
                .bind(id)
                .execute(db)
                .await
                .map(|_| ()),
                Delivery::GaveUp { error } => sqlx::query(
                    "UPDATE ven_notifications SET failed_at = $1, last_error = $2, claimed_until = NULL WHERE id = $3",
                )
                .bind(&now)
                .bind(error)
                .bind(id)
                .execute(db)
                .await
                .map(|_| ()),
            }
        })?;
        Ok(())
    }
}
