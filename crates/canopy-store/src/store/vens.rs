//! OpenADR VENs and their bearer tokens, in storage (secrets and tokens
//! only as hashes).

use chrono::{DateTime, Utc};

use super::{on_read, on_write, Store};
use crate::{format_time, parse_time, StoreResult};

/// A VEN as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenRow {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its OAuth2 client id.
    pub client_id: String,
    /// The SHA-256 of its secret (hex).
    pub secret_hash: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// The utility partner whose meters it reports for, if any.
    pub partner_id: Option<i64>,
}

type VenTuple = (i64, String, String, String, String, Option<i64>);

fn ven_from((id, name, client_id, secret_hash, created_at, partner_id): VenTuple) -> VenRow {
    VenRow { id, name, client_id, secret_hash, created_at: parse_time(&created_at), partner_id }
}

const VEN_SELECT: &str = "SELECT id, name, client_id, secret_hash, created_at, partner_id FROM vens";

impl Store {
    /// Registers a VEN; `None` if the name is taken.
    pub async fn create_ven(
        &self,
        name: &str,
        client_id: &str,
        secret_hash: &str,
        partner_id: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<VenRow>> {
        let id: Option<i64> = on_write!(self, |db| {
            sqlx::query_scalar(
                "INSERT INTO vens (name, client_id, secret_hash, created_at, partner_id) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO NOTHING RETURNING id",
            )
            .bind(name)
            .bind(client_id)
            .bind(secret_hash)
            .bind(format_time(now))
            .bind(partner_id)
            .fetch_optional(db)
            .await
        })?;
        match id {
            None => Ok(None),
            Some(id) => self.ven(id).await,
        }
    }

    /// One VEN.
    pub async fn ven(&self, id: i64) -> StoreResult<Option<VenRow>> {
        let row: Option<VenTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{VEN_SELECT} WHERE id = $1")).bind(id).fetch_optional(db).await
        })?;
        Ok(row.map(ven_from))
    }

    /// Every VEN (at most 1,000), oldest first.
    pub async fn vens(&self) -> StoreResult<Vec<VenRow>> {
        let rows: Vec<VenTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{VEN_SELECT} ORDER BY id LIMIT 1000")).fetch_all(db).await
        })?;
        Ok(rows.into_iter().map(ven_from).collect())
    }

    /// A VEN by its client id.
    pub async fn ven_by_client_id(&self, client_id: &str) -> StoreResult<Option<VenRow>> {
        let row: Option<VenTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{VEN_SELECT} WHERE client_id = $1")).bind(client_id).fetch_optional(db).await
        })?;
        Ok(row.map(ven_from))
    }

    /// Keeps a bearer token (its hash) for a VEN until `expires_at`, and
    /// forgets the VENs' tokens that expired before `now`.
    pub async fn create_ven_token(
        &self,
        ven_id: i64,
        token_hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_write!(self, |db| {
            let mut tx = db.begin().await?;
            sqlx::query("DELETE FROM ven_tokens WHERE expires_at < $1")
                .bind(format_time(now))
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO ven_tokens (token_hash, ven_id, expires_at) VALUES ($1, $2, $3)")
                .bind(token_hash)
                .bind(ven_id)
                .bind(format_time(expires_at))
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// The VEN a bearer token (its hash) stands for at `now`, if it has not expired.
    pub async fn ven_for_token(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<VenRow>> {
        let row: Option<VenTuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT v.id, v.name, v.client_id, v.secret_hash, v.created_at, v.partner_id FROM ven_tokens t
                 JOIN vens v ON v.id = t.ven_id WHERE t.token_hash = $1 AND t.expires_at > $2",
            )
            .bind(token_hash)
            .bind(format_time(now))
            .fetch_optional(db)
            .await
        })?;
        Ok(row.map(ven_from))
    }

    /// Keeps a VEN's report (the OpenADR JSON) on an event; its id.
    pub async fn create_ven_report(
        &self,
        ven_id: i64,
        event_id: i64,
        body: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        Ok(on_write!(self, |db| {
            sqlx::query_scalar(
                "INSERT INTO ven_reports (ven_id, event_id, body, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(ven_id)
            .bind(event_id)
            .bind(body)
            .bind(format_time(now))
            .fetch_one(db)
            .await
        })?)
    }

    /// The events meter `meter_id` of utility `partner_id` takes part in (at most 1,000, newest first).
    pub async fn events_of_meter(&self, partner_id: i64, meter_id: &str) -> StoreResult<Vec<i64>> {
        Ok(on_read!(self, |db| {
            sqlx::query_scalar(
                "SELECT p.event_id FROM meters m JOIN energy_participants p ON p.meter = m.id
                 WHERE m.partner_id = $1 AND m.meter_id = $2 ORDER BY p.event_id DESC LIMIT 1000",
            )
            .bind(partner_id)
            .bind(meter_id)
            .fetch_all(db)
            .await
        })?)
    }

    /// A VEN's reports, oldest first, `skip`ped and at most `limit`; only
    /// on `event_id` if given, only on `program_id`'s events if given:
    /// (id, event id, body, created at).
    pub async fn ven_reports(
        &self,
        ven_id: i64,
        program_id: Option<i64>,
        event_id: Option<i64>,
        skip: i64,
        limit: i64,
    ) -> StoreResult<Vec<VenReportRow>> {
        let rows: Vec<(i64, i64, String, String)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT r.id, r.event_id, r.body, r.created_at FROM ven_reports r
                 JOIN energy_events e ON e.id = r.event_id
                 WHERE r.ven_id = $1 AND ($2 IS NULL OR e.program_id = $2) AND ($3 IS NULL OR r.event_id = $3)
                 ORDER BY r.id LIMIT $4 OFFSET $5",
            )
            .bind(ven_id)
            .bind(program_id)
            .bind(event_id)
            .bind(limit)
            .bind(skip)
            .fetch_all(db)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, event_id, body, created_at)| VenReportRow {
                id,
                ven_id,
                event_id,
                body,
                created_at: parse_time(&created_at),
            })
            .collect())
    }

    /// One report, if VEN `ven_id` made it.
    pub async fn ven_report(&self, ven_id: i64, id: i64) -> StoreResult<Option<VenReportRow>> {
        let row: Option<(i64, String, String)> = on_read!(self, |db| {
            sqlx::query_as("SELECT event_id, body, created_at FROM ven_reports WHERE id = $1 AND ven_id = $2")
                .bind(id)
                .bind(ven_id)
                .fetch_optional(db)
                .await
        })?;
        Ok(row.map(|(event_id, body, created_at)| VenReportRow {
            id,
            ven_id,
            event_id,
            body,
            created_at: parse_time(&created_at),
        }))
    }
}

/// A VEN's report as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenReportRow {
    /// Its id.
    pub id: i64,
    /// The VEN that sent it.
    pub ven_id: i64,
    /// The event it reports on.
    pub event_id: i64,
    /// The OpenADR report as received (JSON).
    pub body: String,
    /// When it arrived.
    pub created_at: DateTime<Utc>,
}
