//! Methodologies: the registry loaded at start, and publication.
//!
//! At start the shipped methodologies (embedded in the binary) are recorded
//! in the store, then everything the store holds is loaded into one
//! registry. A shipped file whose text differs from what an earlier release
//! published under the same id and version stops the start: a published
//! version never changes.

use std::sync::Arc;

use anyhow::Context;
use canopy_core::methodology::{self, Methodology, Registry};
use canopy_store::writer::SharedRegistry;
use canopy_store::{PublishedMethodology, Store, SupersessionRecord};
use chrono::Utc;

use crate::error::{ErrorKind, ServiceError, ServiceResult};
use crate::Service;

/// What a publication did.
#[derive(Debug, Clone)]
pub struct Published {
    /// The methodology as parsed.
    pub methodology: Methodology,
    /// False when the identical text was already published.
    pub is_new: bool,
}

/// Records the shipped methodologies and loads every published one, at
/// the database's registry version.
pub async fn load_registry(store: &Store, event_grams_max: i64) -> anyhow::Result<SharedRegistry> {
    let mut shipped = Vec::new();
    for (name, text) in methodology::shipped_sources() {
        let parsed = methodology::parse(name, text).map_err(|e| anyhow::anyhow!("{e}"))?;
        shipped.push(PublishedMethodology {
            id: parsed.id.clone(),
            version: parsed.version.clone(),
            source_name: (*name).to_owned(),
            source_text: (*text).to_owned(),
            origin: "shipped".to_owned(),
        });
    }
    store
        .publish_methodologies(&shipped, Utc::now())
        .await
        .context("a shipped methodology differs from the version published under its id and version")?;
    // The version first: a publication between the two reads makes the
    // registry look stale, and the first group reloads it.
    let version = store.registry_version().await?;
    let rows = store.published_methodologies().await?;
    let (registry, errors) = canopy_store::build_registry(&rows, event_grams_max);
    if let Some(error) = errors.first() {
        anyhow::bail!("{error}");
    }
    Ok(SharedRegistry::at_version(version, registry))
}

impl Service {
    /// The methodologies in force now, as the database has them (including
    /// publications on other servers).
    pub async fn methodologies(&self) -> ServiceResult<Arc<Registry>> {
        Ok(self.store.refresh_registry(&self.registry).await?)
    }

    /// The text a methodology version was published from (shipped or by an
    /// operator).
    pub async fn methodology_source(&self, id: &str, version: &str) -> ServiceResult<PublishedMethodology> {
        self.store
            .published_methodologies()
            .await?
            .into_iter()
            .find(|m| m.id == id && m.version == version)
            .ok_or_else(|| ServiceError::not_found("methodology_not_found", format!("no methodology {id}@{version}")))
    }

    /// Validates and publishes a methodology. Under the database's registry
    /// lock (so that two servers cannot both publish overlapping
    /// methodologies) it is added to the registry of every published
    /// methodology (which checks version immutability, overlaps,
    /// supersession and the per-event cap), recorded with its supersession,
    /// and the registry version is bumped: every server's next ingestion
    /// group uses it.
    pub async fn publish_methodology(&self, source_name: &str, text: &str) -> ServiceResult<Published> {
        if source_name.is_empty() || source_name.len() > 200 || source_name.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "invalid_source_name",
                "source_name must be 1 to 200 bytes, none a control character",
            ));
        }
        let parsed = methodology::parse_all(source_name, text).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            let detail = match lines.len() {
                1 => lines[0].clone(),
                n => format!("{n} errors: {}", lines.join("; ")),
            };
            ServiceError::invalid("invalid_methodology", detail).with_errors(lines)
        })?;
        let _guard = self.publish_lock.lock().await;
        let event_grams_max = self.registry.current().event_grams_max();
        let record = PublishedMethodology {
            id: parsed.id.clone(),
            version: parsed.version.clone(),
            source_name: source_name.to_owned(),
            source_text: text.to_owned(),
            origin: "operator".to_owned(),
        };
        let supersession = parsed.supersedes.as_deref().map(|target| SupersessionRecord {
            old_version: target.rsplit('@').next().unwrap_or(target).to_owned(),
            effective_from: parsed.valid_from.to_string(),
        });
        let (registry, version) = self
            .store
            .publish_methodology_checked(&record, supersession.as_ref(), self.now(), |rows| {
                let (mut registry, errors) = canopy_store::build_registry(rows, event_grams_max);
                for error in errors {
                    tracing::error!(%error, "a published methodology cannot be loaded");
                }
                let added = registry.add(parsed.clone()).map_err(|e| {
                    let conflict = ["methodology_version_exists", "methodology_overlap", "supersession_refused"];
                    let kind = if conflict.contains(&e.code()) { ErrorKind::Conflict } else { ErrorKind::Invalid };
                    ServiceError::new(kind, e.code(), e.to_string())
                })?;
                let is_new = matches!(added, methodology::Added::New);
                Ok::<_, ServiceError>((registry, is_new))
            })
            .await??;
        if let Some(version) = version {
            self.registry.replace_at(version, registry);
        }
        Ok(Published { methodology: parsed, is_new: version.is_some() })
    }
}
