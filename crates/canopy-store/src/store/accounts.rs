//! Citizens and their sessions.

use chrono::{DateTime, Utc};

use super::{on_read, on_write, Store};
use canopy_core::types::Username;

use crate::{format_time, parse_time, NewUser, StoreError, StoreResult, UserRow};

impl Store {
    /// Registers a citizen.
    pub async fn create_user(&self, user: &NewUser, now: DateTime<Utc>) -> StoreResult<UserRow> {
        let result: Result<i64, sqlx::Error> = on_write!(self, |db| {
            sqlx::query_scalar(
                "INSERT INTO users (username, password_hash, display_name, region, district, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(user.username.as_str())
            .bind(&user.password_hash)
            .bind(user.display_name.as_str())
            .bind(user.region.as_str())
            .bind(user.district.as_ref().map(|d| d.code()))
            .bind(format_time(now))
            .fetch_one(db)
            .await
        });
        match result {
            Ok(id) => Ok(UserRow {
                id,
                username: user.username.as_str().to_owned(),
                password_hash: user.password_hash.clone(),
                display_name: user.display_name.as_str().to_owned(),
                region: user.region.as_str().to_owned(),
                district: user.district.as_ref().map(|d| d.code().to_owned()),
                created_at: now,
            }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// A citizen by username.
    pub async fn user_by_username(&self, username: &Username) -> StoreResult<Option<UserRow>> {
        let row: Option<UserTuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT id, username, password_hash, display_name, region, district, created_at FROM users WHERE username = $1",
            )
            .bind(username.as_str())
            .fetch_optional(db)
            .await
        })?;
        Ok(row.map(user_from_tuple))
    }

    /// A citizen by id.
    pub async fn user_by_id(&self, id: i64) -> StoreResult<Option<UserRow>> {
        let row: Option<UserTuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT id, username, password_hash, display_name, region, district, created_at FROM users WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(db)
            .await
        })?;
        Ok(row.map(user_from_tuple))
    }

    /// Ends a session (its token's hash); whether there was one.
    pub async fn delete_session(&self, token_hash: &str) -> StoreResult<bool> {
        let deleted = on_write!(self, |db| {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(token_hash)
                .execute(db)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(deleted > 0)
    }

    /// Stores a session under the hash of its token.
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_write!(self, |db| {
            sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(token_hash)
                .bind(user_id)
                .bind(format_time(now))
                .bind(format_time(expires_at))
                .execute(db)
                .await
                .map(drop)
        })?;
        Ok(())
    }

    /// The citizen behind an unexpired session.
    pub async fn session_user(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<i64>> {
        Ok(on_read!(self, |db| {
            sqlx::query_scalar("SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash)
                .bind(format_time(now))
                .fetch_optional(db)
                .await
        })?)
    }
}

type UserTuple = (i64, String, String, String, String, Option<String>, String);

fn user_from_tuple((id, username, password_hash, display_name, region, district, created_at): UserTuple) -> UserRow {
    UserRow { id, username, password_hash, display_name, region, district, created_at: parse_time(&created_at) }
}
