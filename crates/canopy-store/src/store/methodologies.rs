//! Published methodologies, their supersessions, and the registry version
//! that keeps every server on one database deciding with the same registry.
//!
//! Every publication bumps the one-row `methodology_registry` counter in its
//! own transaction; the update's row lock serialises publications across
//! processes, so the overlap check a publication runs against the published
//! rows (read under that lock) cannot race another publication. Every
//! ingestion group reads the counter inside its transaction and reloads the
//! registry from the database when it moved (see [`crate::writer`]).

use std::sync::Arc;

use canopy_core::methodology::{self, Registry};
use chrono::{DateTime, Utc};

use super::{on_read, on_write, Store};
use crate::writer::SharedRegistry;
use crate::{format_time, PublishedMethodology, StoreError, StoreResult};

/// (id, version, source_name, source_text, origin) as selected.
type MethodologyRow = (String, String, String, String, String);

const SELECT_PUBLISHED: &str = "SELECT id, version, source_name, source_text, origin FROM methodologies
     ORDER BY published_at, id, version";
const SELECT_VERSION: &str = "SELECT version FROM methodology_registry WHERE singleton = 1";
const BUMP_VERSION: &str =
    "UPDATE methodology_registry SET version = version + 1 WHERE singleton = 1 RETURNING version";

fn published(rows: Vec<MethodologyRow>) -> Vec<PublishedMethodology> {
    rows.into_iter()
        .map(|(id, version, source_name, source_text, origin)| PublishedMethodology {
            id,
            version,
            source_name,
            source_text,
            origin,
        })
        .collect()
}

/// A supersession to record with a publication: from `effective_from`, the
/// published methodology replaces `old_version` of its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupersessionRecord {
    /// The version superseded.
    pub old_version: String,
    /// The first day of the new version (`YYYY-MM-DD`).
    pub effective_from: String,
}

/// Builds the registry of published methodologies (in publication order; a
/// superseding version after the one it supersedes). Returns the registry
/// and one message for each stored methodology that could not join it.
pub fn build_registry(rows: &[PublishedMethodology], event_grams_max: i64) -> (Registry, Vec<String>) {
    let mut registry = Registry::with_event_grams_max(event_grams_max);
    let mut errors = Vec::new();
    let mut pending = Vec::new();
    for row in rows {
        match methodology::parse(&row.source_name, &row.source_text) {
            Ok(m) => pending.push(m),
            Err(e) => errors.push(format!("stored methodology {}@{}: {e}", row.id, row.version)),
        }
    }
    // A version can only supersede one already in the registry: add in
    // rounds until nothing more joins.
    loop {
        let before = pending.len();
        let mut waiting = Vec::new();
        for m in pending {
            let target_missing = m.supersedes.as_deref().is_some_and(|target| {
                let version = target.rsplit('@').next().unwrap_or(target);
                registry.get(&m.id, version).is_none()
            });
            if target_missing {
                waiting.push(m);
                continue;
            }
            let key = m.key();
            if let Err(e) = registry.add(m) {
                errors.push(format!("stored methodology {key}: {e}"));
            }
        }
        pending = waiting;
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    for m in pending {
        errors.push(format!("stored methodology {}: supersedes {:?}, which is not published", m.key(), m.supersedes));
    }
    (registry, errors)
}

impl Store {
    /// Every published methodology, in publication order.
    pub async fn published_methodologies(&self) -> StoreResult<Vec<PublishedMethodology>> {
        let rows: Vec<MethodologyRow> = on_read!(self, |db| { sqlx::query_as(SELECT_PUBLISHED).fetch_all(db).await })?;
        Ok(published(rows))
    }

    /// The registry version: how many publications the database has seen.
    pub async fn registry_version(&self) -> StoreResult<i64> {
        Ok(on_read!(self, |db| { sqlx::query_scalar(SELECT_VERSION).fetch_one(db).await })?)
    }

    /// The registry as the database has it now: `shared` itself when its
    /// version is current, else a registry rebuilt from the published rows
    /// (which `shared` then holds).
    pub async fn refresh_registry(&self, shared: &SharedRegistry) -> StoreResult<Arc<Registry>> {
        let version = self.registry_version().await?;
        if let Some(registry) = shared.at(version) {
            return Ok(registry);
        }
        let rows = self.published_methodologies().await?;
        let (registry, errors) = build_registry(&rows, shared.current().event_grams_max());
        for error in errors {
            tracing::error!(%error, "a published methodology cannot be loaded");
        }
        Ok(shared.replace_at(version, registry))
    }

    /// Records methodologies (the shipped ones, at start) in one
    /// transaction. Recording the same text again is a no-op; other text
    /// under a published id and version is refused (nothing is recorded). A
    /// new row bumps the registry version, so that other servers reload.
    /// Returns how many were new.
    pub async fn publish_methodologies(&self, ms: &[PublishedMethodology], now: DateTime<Utc>) -> StoreResult<usize> {
        let now = format_time(now);
        let outcome = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            let mut inserted = 0;
            for m in ms {
                inserted += insert_methodology(m, &now).execute(&mut *tx).await?.rows_affected();
            }
            let rows: Vec<MethodologyRow> = sqlx::query_as(SELECT_PUBLISHED).fetch_all(&mut *tx).await?;
            // Two servers starting at once both insert; each then finds its
            // text in place, whoever inserted it.
            let differs = ms.iter().find(|m| {
                rows.iter()
                    .any(|(id, version, _, text, _)| *id == m.id && *version == m.version && *text != m.source_text)
            });
            if let Some(m) = differs {
                tx.rollback().await?;
                return Err(StoreError::MethodologyVersionExists(format!("{}@{}", m.id, m.version)));
            }
            if inserted > 0 {
                sqlx::query_scalar::<_, i64>(BUMP_VERSION).fetch_one(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(inserted)
        })?;
        Ok(usize::try_from(outcome).unwrap_or(usize::MAX))
    }

    /// Publishes a methodology under the registry lock: in one transaction,
    /// bumps the registry version (whose row lock makes every other
    /// publication wait), reads every published methodology, and lets
    /// `check` decide against them. `check` returns its value and whether
    /// to record the methodology (false: already published, nothing
    /// changes). Recording inserts the row and the supersession, if any,
    /// and commits; returns `check`'s value and the new registry version
    /// (`None` when nothing was recorded), or `check`'s error.
    pub async fn publish_methodology_checked<T, E>(
        &self,
        m: &PublishedMethodology,
        supersession: Option<&SupersessionRecord>,
        now: DateTime<Utc>,
        check: impl FnOnce(&[PublishedMethodology]) -> Result<(T, bool), E>,
    ) -> StoreResult<Result<(T, Option<i64>), E>> {
        let now = format_time(now);
        let outcome = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            // First, so that the lock is held before anything is read.
            let version: i64 = sqlx::query_scalar(BUMP_VERSION).fetch_one(&mut *tx).await?;
            let rows: Vec<MethodologyRow> = sqlx::query_as(SELECT_PUBLISHED).fetch_all(&mut *tx).await?;
            match check(&published(rows)) {
                Err(e) => {
                    tx.rollback().await?;
                    Ok(Err(e))
                }
                Ok((value, false)) => {
                    tx.rollback().await?;
                    Ok(Ok((value, None)))
                }
                Ok((value, true)) => {
                    // Under the registry lock, and checked new: no conflict.
                    insert_methodology(m, &now).execute(&mut *tx).await?;
                    if let Some(s) = supersession {
                        sqlx::query(
                            "INSERT INTO methodology_supersessions
                                 (id, old_version, new_version, effective_from, recorded_at)
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(&m.id)
                        .bind(&s.old_version)
                        .bind(&m.version)
                        .bind(&s.effective_from)
                        .bind(&now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok::<_, sqlx::Error>(Ok((value, Some(version))))
                }
            }
        })?;
        Ok(outcome)
    }

    /// Every recorded supersession: (id, old version, new version, effective
    /// from), sorted.
    pub async fn supersessions(&self) -> StoreResult<Vec<(String, String, String, String)>> {
        Ok(on_read!(self, |db| {
            sqlx::query_as(
                "SELECT id, old_version, new_version, effective_from FROM methodology_supersessions
                 ORDER BY id, old_version",
            )
            .fetch_all(db)
            .await
        })?)
    }
}

/// Reads, inside a writer's transaction on PostgreSQL, the registry version
/// and, when `shared` is stale, the published rows: the registry the group
/// must decide with.
pub(crate) async fn registry_for_group_pg(
    db: &mut sqlx::PgConnection,
    shared: &SharedRegistry,
) -> Result<Arc<Registry>, sqlx::Error> {
    let version: i64 = sqlx::query_scalar(SELECT_VERSION).fetch_one(&mut *db).await?;
    if let Some(registry) = shared.at(version) {
        return Ok(registry);
    }
    let rows: Vec<MethodologyRow> = sqlx::query_as(SELECT_PUBLISHED).fetch_all(&mut *db).await?;
    Ok(reload(shared, version, &published(rows)))
}

/// [`registry_for_group_pg`] for the SQLite writer's connection.
pub(crate) fn registry_for_group_sqlite(
    db: &rusqlite::Connection,
    shared: &SharedRegistry,
) -> Result<Arc<Registry>, rusqlite::Error> {
    let version: i64 = db.prepare_cached(SELECT_VERSION)?.query_row([], |row| row.get(0))?;
    if let Some(registry) = shared.at(version) {
        return Ok(registry);
    }
    let mut statement = db.prepare_cached(SELECT_PUBLISHED)?;
    let rows = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))?
        .collect::<Result<Vec<MethodologyRow>, _>>()?;
    Ok(reload(shared, version, &published(rows)))
}

fn reload(shared: &SharedRegistry, version: i64, rows: &[PublishedMethodology]) -> Arc<Registry> {
    let (registry, errors) = build_registry(rows, shared.current().event_grams_max());
    for error in errors {
        tracing::error!(%error, "a published methodology cannot be loaded");
    }
    shared.replace_at(version, registry)
}

/// Records a published methodology's text; a row already under its id and
/// version is left as it is (the caller compares texts).
fn insert_methodology<'q, DB: sqlx::Database>(
    m: &'q PublishedMethodology,
    now: &'q str,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO methodologies (id, version, source_name, source_text, origin, published_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id, version) DO NOTHING",
    )
    .bind(&m.id)
    .bind(&m.version)
    .bind(&m.source_name)
    .bind(&m.source_text)
    .bind(&m.origin)
    .bind(now)
}
