//! Idempotency keys inside the writer's transaction: a move sent with a key
//! first looks for the key's stored answer (a replay, or a refusal if the
//! key came with another request), and stores its own answer in the same
//! transaction that makes the move, so a retry can never move twice.

use rusqlite::{params, OptionalExtension};
use sqlx::PgConnection;

use super::balls::{replayed, stored, GameOutcome, IdempotencyKey};

const FIND: &str = "SELECT request_hash, body FROM idempotency_keys WHERE user_id = $1 AND key = $2";
const REMEMBER: &str = "INSERT INTO idempotency_keys (user_id, key, request_hash, status, body, created_at)
     VALUES ($1, $2, $3, 0, $4, $5)";

/// The stored answer to `key` of `user_id`, if the key was used (SQLite writer).
pub(crate) fn replay_sqlite(
    tx: &rusqlite::Transaction<'_>,
    user_id: i64,
    key: Option<&IdempotencyKey>,
) -> rusqlite::Result<Option<GameOutcome>> {
    let Some(key) = key else { return Ok(None) };
    let found: Option<(String, String)> = tx
        .prepare_cached(&FIND.replace('$', "?"))?
        .query_row(params![user_id, key.key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(found.map(|(hash, body)| replayed(&hash, &body, key)))
}

/// Stores `outcome` as the answer to `key` (SQLite writer).
pub(crate) fn remember_sqlite(
    tx: &rusqlite::Transaction<'_>,
    user_id: i64,
    key: Option<&IdempotencyKey>,
    outcome: &GameOutcome,
    now: &str,
) -> rusqlite::Result<()> {
    if let Some(key) = key {
        tx.prepare_cached(&REMEMBER.replace('$', "?"))?.execute(params![
            user_id,
            key.key,
            key.request_hash,
            stored(outcome),
            now
        ])?;
    }
    Ok(())
}

/// The stored answer to `key` of `user_id`, if the key was used (PostgreSQL writer).
pub(crate) async fn replay_postgres(
    db: &mut PgConnection,
    user_id: i64,
    key: Option<&IdempotencyKey>,
) -> Result<Option<GameOutcome>, sqlx::Error> {
    let Some(key) = key else { return Ok(None) };
    let found: Option<(String, String)> =
        sqlx::query_as(FIND).bind(user_id).bind(&key.key).fetch_optional(&mut *db).await?;
    Ok(found.map(|(hash, body)| replayed(&hash, &body, key)))
}

/// Stores `outcome` as the answer to `key` (PostgreSQL writer).
pub(crate) async fn remember_postgres(
    db: &mut PgConnection,
    user_id: i64,
    key: Option<&IdempotencyKey>,
    outcome: &GameOutcome,
    now: &str,
) -> Result<(), sqlx::Error> {
    if let Some(key) = key {
        sqlx::query(REMEMBER)
            .bind(user_id)
            .bind(&key.key)
            .bind(&key.request_hash)
            .bind(stored(outcome))
            .bind(now)
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}
