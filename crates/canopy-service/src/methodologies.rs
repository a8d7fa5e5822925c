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
use canopy_store::{PublishedMethodology, Store, StoreError};
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

/// Records the shipped methodologies and loads every published one.
pub async fn load_registry(store: &Store) -> anyhow::Result<Registry> {
    let now = Utc::now();
    for (name, text) in methodology::shipped_sources() {
        let parsed = methodology::parse(name, text).map_err(|e| anyhow::anyhow!("{e}"))?;
        let record = PublishedMethodology {
            id: parsed.id.clone(),
            version: parsed.version.clone(),
            source_name: (*name).to_owned(),
            source_text: (*text).to_owned(),
            origin: "shipped".to_owned(),
        };
        store
            .publish_methodology(&record, now)
            .await
            .with_context(|| format!("shipped methodology {name} conflicts with the published {}", parsed.key()))?;
    }
    let mut registry = Registry::new();
    for published in store.published_methodologies().await? {
        let parsed = methodology::parse(&published.source_name, &published.source_text)
            .map_err(|e| anyhow::anyhow!("stored methodology {}@{}: {e}", published.id, published.version))?;
        registry
            .add(parsed)
            .map_err(|e| anyhow::anyhow!("stored methodology {}@{}: {e}", published.id, published.version))?;
    }
    Ok(registry)
}

impl Service {
    /// The methodologies in force now.
    pub fn methodologies(&self) -> Arc<Registry> {
        self.registry.current()
    }

    /// Validates and publishes a methodology: it is added to a copy of the
    /// registry (which checks version immutability and overlaps), recorded
    /// in the store, and only then put in force.
    pub async fn publish_methodology(&self, source_name: &str, text: &str) -> ServiceResult<Published> {
        if source_name.is_empty() || source_name.len() > 200 || source_name.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "invalid_source_name",
                "source_name must be 1 to 200 bytes, none a control character",
            ));
        }
        let parsed = methodology::parse(source_name, text)
            .map_err(|e| ServiceError::invalid("invalid_methodology", e.to_string()))?;
        let _guard = self.publish_lock.lock().await;
        let current = self.registry.current();
        let mut next: Registry = (*current).clone();
        let added = next.add(parsed.clone()).map_err(|e| {
            let kind = if e.code() == "methodology_version_exists" || e.code() == "methodology_overlap" {
                ErrorKind::Conflict
            } else {
                ErrorKind::Invalid
            };
            ServiceError::new(kind, e.code(), e.to_string())
        })?;
        let record = PublishedMethodology {
            id: parsed.id.clone(),
            version: parsed.version.clone(),
            source_name: source_name.to_owned(),
            source_text: text.to_owned(),
            origin: "operator".to_owned(),
        };
        let is_new = match self.store.publish_methodology(&record, self.now()).await {
            Ok(is_new) => is_new,
            // The same content published with other formatting: the registry
            // says it is identical, so it is not a conflict.
            Err(StoreError::MethodologyVersionExists(_)) if matches!(added, methodology::Added::AlreadyPublished) => {
                false
            }
            Err(e) => return Err(e.into()),
        };
        self.registry.replace(next);
        Ok(Published { methodology: parsed, is_new: is_new && matches!(added, methodology::Added::New) })
    }
}
