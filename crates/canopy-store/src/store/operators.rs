//! Operator accounts (the web dashboard's sign-in) and their sessions.

use chrono::{DateTime, Utc};

use super::{on_read, on_write, Store};
use crate::{format_time, parse_time, StoreError, StoreResult};

/// An operator account (its `Debug` hides the password hash).
#[derive(Clone)]
pub struct OperatorRow {
    /// Internal id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// `admin` or `analyst`.
    pub role: String,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for OperatorRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Who an unexpired operator session belongs to: the operator (none for a
/// session opened with the admin token), its username and role.
#[derive(Debug, Clone)]
pub struct OperatorSessionRow {
    /// The operator, or none for the admin token's session.
    pub operator_id: Option<i64>,
    /// The operator's username (none for the admin token's session).
    pub username: Option<String>,
    /// `admin` or `analyst`.
    pub role: String,
}

type OperatorTuple = (i64, String, String, String, String);

impl Store {
    /// Creates an operator account; `UsernameTaken` if the name is in use.
    pub async fn create_operator(
        &self,
        username: &str,
        password_hash: &str,
        role: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<OperatorRow> {
        let result: Result<i64, sqlx::Error> = on_write!(self, |db| {
            sqlx::query_scalar(
                "INSERT INTO operators (username, password_hash, role, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(username)
            .bind(password_hash)
            .bind(role)
            .bind(format_time(now))
            .fetch_one(db)
            .await
        });
        match result {
            Ok(id) => Ok(OperatorRow {
                id,
                username: username.to_owned(),
                password_hash: password_hash.to_owned(),
                role: role.to_owned(),
                created_at: now,
            }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// An operator by username.
    pub async fn operator_by_username(&self, username: &str) -> StoreResult<Option<OperatorRow>> {
        let row: Option<OperatorTuple> = on_read!(self, |db| {
            sqlx::query_as("SELECT id, username, password_hash, role, created_at FROM operators WHERE username = $1")
                .bind(username)
                .fetch_optional(db)
                .await
        })?;
        Ok(row.map(|(id, username, password_hash, role, created_at)| OperatorRow {
            id,
            username,
            password_hash,
            role,
            created_at: parse_time(&created_at),
        }))
    }

    /// Stores an operator session under the hash of its token.
    pub async fn create_operator_session(
        &self,
        token_hash: &str,
        operator_id: Option<i64>,
        role: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_write!(self, |db| {
            sqlx::query(
                "INSERT INTO operator_sessions (token_hash, operator_id, role, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash)
            .bind(operator_id)
            .bind(role)
            .bind(format_time(now))
            .bind(format_time(expires_at))
            .execute(db)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// The operator behind an unexpired operator session.
    pub async fn operator_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OperatorSessionRow>> {
        let row: Option<(Option<i64>, Option<String>, String)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT s.operator_id, o.username, s.role FROM operator_sessions s
                 LEFT JOIN operators o ON o.id = s.operator_id
                 WHERE s.token_hash = $1 AND s.expires_at > $2",
            )
            .bind(token_hash)
            .bind(format_time(now))
            .fetch_optional(db)
            .await
        })?;
        Ok(row.map(|(operator_id, username, role)| OperatorSessionRow { operator_id, username, role }))
    }

    /// Ends an operator session; whether there was one.
    pub async fn delete_operator_session(&self, token_hash: &str) -> StoreResult<bool> {
        let deleted = on_write!(self, |db| {
            sqlx::query("DELETE FROM operator_sessions WHERE token_hash = $1")
                .bind(token_hash)
                .execute(db)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(deleted > 0)
    }
}
