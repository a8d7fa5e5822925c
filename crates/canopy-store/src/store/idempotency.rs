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

/// The stored answers of a run's keys, by (citizen, key): (request hash,
/// body). One statement for the whole run (PostgreSQL batches).
pub(crate) async fn answered_postgres(
    db: &mut PgConnection,
    keyed: &[(i64, &IdempotencyKey)],
) -> Result<std::collections::HashMap<(i64, String), (String, String)>, sqlx::Error> {
    if keyed.is_empty() {
        return Ok(Default::default());
    }
    // By the citizens' ids (the key's first column); the pairs are matched here.
    let found: Vec<(i64, String, String, String)> =
        sqlx::query_as("SELECT user_id, key, request_hash, body FROM idempotency_keys WHERE user_id = ANY($1)")
            .bind(keyed.iter().map(|(u, _)| *u).collect::<Vec<_>>())
            .fetch_all(&mut *db)
            .await?;
    let wanted: std::collections::HashSet<(i64, &str)> = keyed.iter().map(|(u, k)| (*u, k.key.as_str())).collect();
    Ok(found
        .into_iter()
        .filter(|(u, key, _, _)| wanted.contains(&(*u, key.as_str())))
        .map(|(u, key, hash, body)| ((u, key), (hash, body)))
        .collect())
}

/// Keeps the answers of a run's keys used for the first time: (citizen,
/// key, answer). One statement for the whole run (PostgreSQL batches).
pub(crate) async fn remember_all_postgres(
    db: &mut PgConnection,
    first_uses: &[(i64, &IdempotencyKey, &GameOutcome)],
    now: &str,
) -> Result<(), sqlx::Error> {
    if first_uses.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, status, body, created_at)
         SELECT u, k, h, 0, b, $5 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS n(u, k, h, b)",
    )
    .bind(first_uses.iter().map(|(u, _, _)| *u).collect::<Vec<_>>())
    .bind(first_uses.iter().map(|(_, k, _)| k.key.as_str()).collect::<Vec<_>>())
    .bind(first_uses.iter().map(|(_, k, _)| k.request_hash.as_str()).collect::<Vec<_>>())
    .bind(first_uses.iter().map(|(_, _, o)| stored(o)).collect::<Vec<_>>())
    .bind(now)
    .execute(&mut *db)
    .await?;
    Ok(())
}
