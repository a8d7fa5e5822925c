//! Partners: created by the operator (over HTTP or the CLI), listed, found.

use canopy_core::ids;
use canopy_core::signature;
use canopy_core::types::{CategorySet, InvalidCategories, PartnerName, RegionCode};
use canopy_store::{PartnerRow, PartnerSecretRow, RetireOutcome};
use chrono::Duration;

use crate::error::{ServiceError, ServiceResult};
use crate::secrets::{self, CreatedPartner, PartnerSecret};
use crate::Service;

/// A partner as the operator describes it.
#[derive(Debug, Clone)]
pub struct NewPartner {
    /// Display name.
    pub name: String,
    /// Category names the partner may report.
    pub categories: Vec<String>,
    /// ISO 3166-2 regions the partner operates in: an event may name one
    /// of them (or the citizen's own) as where it happened.
    pub regions: Vec<String>,
}

/// Validates a category list (non-empty, known names; repeats are merged).
pub fn parse_categories(names: &[String], field: &str) -> ServiceResult<CategorySet> {
    CategorySet::parse_names(names).map_err(|e| match e {
        InvalidCategories::Empty => {
            ServiceError::invalid("invalid_scope", format!("{field} must name at least one category"))
        }
        InvalidCategories::Unknown(e) => ServiceError::invalid("invalid_scope", format!("{field}: {e}")),
    })
}

impl Service {
    /// Creates a partner with its first signing secret, sealed at rest and
    /// returned in clear only this once.
    pub async fn create_partner(&self, partner: NewPartner) -> ServiceResult<CreatedPartner> {
        let name = PartnerName::parse(&partner.name)
            .map_err(|e| ServiceError::invalid("invalid_name", format!("name {e}")))?;
        let categories = parse_categories(&partner.categories, "categories")?;
        let mut regions = Vec::with_capacity(partner.regions.len());
        for text in &partner.regions {
            let region = RegionCode::parse(text)
                .map_err(|e| ServiceError::invalid("invalid_region", format!("regions: {e}")))?;
            if !regions.contains(&region) {
                regions.push(region);
            }
        }
        Ok(secrets::create_partner(&self.store, &self.secret_key, name, categories, regions, self.now()).await?)
    }

    /// Every partner.
    pub async fn partners(&self) -> ServiceResult<Vec<PartnerRow>> {
        Ok(self.store.partners().await?)
    }

    /// The partner with public id `public_id` (`ptn_…`), if any.
    pub async fn partner_by_public_id(&self, public_id: &str) -> ServiceResult<Option<PartnerRow>> {
        match ids::parse_partner(public_id) {
            Some(id) => Ok(self.store.partner(id).await?),
            None => Ok(None),
        }
    }

    /// The partner a public id names, or `partner_not_found`.
    async fn existing_partner(&self, public_id: &str) -> ServiceResult<PartnerRow> {
        self.partner_by_public_id(public_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("partner_not_found", format!("no partner `{public_id}`")))
    }

    /// Issues the partner a new signing secret (returned in clear once). Its
    /// other secrets keep verifying for the grace period, or until retired,
    /// so the partner can switch without a gap.
    pub async fn rotate_partner_secret(&self, public_id: &str) -> ServiceResult<(PartnerSecretRow, PartnerSecret)> {
        let partner = self.existing_partner(public_id).await?;
        let grace = Duration::seconds(self.settings.secret_grace_s);
        Ok(secrets::rotate_secret(&self.store, &self.secret_key, partner.id, grace, self.now()).await?)
    }

    /// Suspends a partner: every secret that still verifies is retired now,
    /// so none of its requests is accepted until the operator issues it a
    /// new secret (a rotation resumes it). Returns the secrets retired.
    pub async fn suspend_partner(&self, public_id: &str) -> ServiceResult<u64> {
        let partner = self.existing_partner(public_id).await?;
        Ok(self.store.retire_all_partner_secrets(partner.id, self.now()).await?)
    }

    /// The partner's secrets as stored (sealed; never shown).
    pub async fn partner_secrets(&self, public_id: &str) -> ServiceResult<Vec<PartnerSecretRow>> {
        let partner = self.existing_partner(public_id).await?;
        Ok(self.store.partner_secrets(partner.id).await?)
    }

    /// Retires one of the partner's secrets at once. The last secret that
    /// verifies cannot be retired (`last_secret`).
    pub async fn retire_partner_secret(&self, public_id: &str, secret_public_id: &str) -> ServiceResult<()> {
        let partner = self.existing_partner(public_id).await?;
        let not_found = || {
            ServiceError::not_found("secret_not_found", format!("no live secret `{secret_public_id}` of `{public_id}`"))
        };
        let secret = secrets::parse_secret_id(secret_public_id).ok_or_else(not_found)?;
        match self.store.retire_partner_secret(partner.id, secret, self.now()).await? {
            RetireOutcome::Retired => Ok(()),
            RetireOutcome::NotFound => Err(not_found()),
            RetireOutcome::LastSecret => Err(ServiceError::conflict(
                "last_secret",
                "this is the partner's only secret that verifies; issue a new one first",
            )),
        }
    }

    /// Checks a request signature against every live secret of the partner
    /// (two or more while it rotates), newest first, each opened only for
    /// this check. Returns the replay key (the HMAC that matched), or `None`.
    pub async fn verify_partner_signature(
        &self,
        partner: &PartnerRow,
        signature_header: &str,
        timestamp: i64,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> ServiceResult<Option<String>> {
        for stored in self.store.live_partner_secrets(partner.id, self.now()).await? {
            let secret = self.secret_key.open(&stored.sealed).map_err(|e| {
                tracing::error!(partner_id = partner.id, secret_id = stored.id, "{e}");
                ServiceError::internal(e)
            })?;
            let matched = signature::verify(
                secret.expose().as_bytes(),
                signature_header,
                timestamp,
                method,
                path_and_query,
                body,
            );
            if matched.is_some() {
                return Ok(matched);
            }
        }
        Ok(None)
    }
}
