//! Ingestion: a partner's signed batch, checked and handed to the
//! group-commit writer, which answers every event with its outcome.

use canopy_core::ingest::{self, EventIn, Outcome};
use canopy_store::writer::{IngestError, IngestRequest};
use canopy_store::PartnerRow;

use crate::consent::replayed;
use crate::error::{ErrorKind, ServiceError, ServiceResult};
use crate::Service;

impl Service {
    /// Decides a partner's batch: the stateless checks here, the rest in the
    /// writer, which answers once the credited events are durable. A
    /// signed request's signature (`signature`, forgettable after
    /// `forget_after`) is claimed in the same transaction as its events.
    pub async fn ingest(
        &self,
        partner: &PartnerRow,
        signature: Option<(String, i64)>,
        events: Vec<EventIn>,
    ) -> ServiceResult<Vec<Outcome>> {
        if events.len() > ingest::BATCH_EVENTS_MAX {
            return Err(ServiceError::new(
                ErrorKind::TooLarge,
                "batch_too_large",
                format!("a batch carries at most {} events; this one has {}", ingest::BATCH_EVENTS_MAX, events.len()),
            ));
        }
        let ingestor = self
            .ingestor
            .as_ref()
            .ok_or_else(|| ServiceError::internal("ingestion needs a writer; this service has none"))?;
        // The registry as the database has it, so that a methodology
        // published on another server is known to the prechecks at once.
        let registry = self.store.refresh_registry(&self.registry).await?;
        let now = self.now();
        let timezone = self.settings.timezone;
        let categories = partner.categories;
        let events =
            events.into_iter().map(|event| ingest::precheck(event, categories, &registry, now, timezone)).collect();
        drop(registry);
        ingestor
            .submit(IngestRequest {
                partner_id: partner.id,
                partner_regions: partner.regions.clone(),
                signature,
                events,
            })
            .await
            .map_err(|e| match e {
                IngestError::Replayed => replayed(),
                IngestError::Overloaded => {
                    ServiceError::unavailable("overloaded", "the ingestion queue is full; retry shortly", 1)
                }
                IngestError::Unavailable { code, detail } => {
                    tracing::error!(%detail, code, "ingestion failed");
                    ServiceError::storage(code, "nothing was credited; retry")
                }
                // The ledger refused what this batch would post (grams that
                // would overflow an account); retrying will not help.
                IngestError::Refused { code, detail } => {
                    ServiceError::new(ErrorKind::Unprocessable, code, format!("nothing was credited: {detail}"))
                }
            })
    }
}
