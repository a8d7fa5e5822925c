//! Consent: a citizen grants a partner scopes and gets a link code; the
//! partner redeems the code to bind its own reference for the citizen.

use canopy_core::ids;
use canopy_core::ingest;
use canopy_core::types::CategorySet;
use canopy_store::ConsentRow;
use chrono::{DateTime, Duration, Utc};

use crate::error::{ServiceError, ServiceResult};
use crate::partners::parse_categories;
use crate::tokens::{link_code_hash, new_link_code};
use crate::Service;

/// How long a link code stays valid.
pub const LINK_CODE_TTL_S: i64 = 600;

/// A granted consent and the code to give the partner.
#[derive(Debug, Clone)]
pub struct ConsentGrant {
    /// The single-use link code, in clear (only its hash is stored).
    pub link_code: String,
    /// When the code expires.
    pub expires_at: DateTime<Utc>,
    /// The partner.
    pub partner_id: i64,
    /// The granted scopes.
    pub scopes: CategorySet,
}

/// A partner's reference bound to a citizen.
#[derive(Debug, Clone)]
pub struct Link {
    /// The partner's reference.
    pub user_ref: String,
    /// The scopes the citizen granted this partner.
    pub scopes: CategorySet,
    /// When it was bound.
    pub linked_at: DateTime<Utc>,
}

impl Service {
    /// Grants the partner named by its public id the `scopes`; returns a
    /// single-use link code.
    pub async fn grant_consent(
        &self,
        user_id: i64,
        partner_public_id: &str,
        scopes: &[String],
    ) -> ServiceResult<ConsentGrant> {
        let scopes = parse_categories(scopes, "scopes")?;
        let partner = self
            .partner_by_public_id(partner_public_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("partner_not_found", format!("no partner `{partner_public_id}`")))?;
        let link_code = new_link_code();
        let now = self.now();
        let expires_at = now + Duration::seconds(LINK_CODE_TTL_S);
        self.store.grant_consent(user_id, partner.id, scopes, &link_code_hash(&link_code), now, expires_at).await?;
        Ok(ConsentGrant { link_code, expires_at, partner_id: partner.id, scopes })
    }

    /// A citizen's consents, active and revoked.
    pub async fn consents(&self, user_id: i64) -> ServiceResult<Vec<ConsentRow>> {
        Ok(self.store.consents(user_id).await?)
    }

    /// Revokes the consent of the partner named by its public id.
    pub async fn revoke_consent(&self, user_id: i64, partner_public_id: &str) -> ServiceResult<()> {
        let not_found = || {
            ServiceError::not_found("consent_not_found", format!("no active consent for partner `{partner_public_id}`"))
        };
        let partner_id = ids::parse_partner(partner_public_id).ok_or_else(not_found)?;
        match self.store.revoke_consent(user_id, partner_id, self.now()).await? {
            true => Ok(()),
            false => Err(not_found()),
        }
    }

    /// Binds the partner's `user_ref` to the citizen who issued `link_code`.
    /// A signed request's signature (`signature`, forgettable after the
    /// unix second `forget_after`) is claimed first: a replay is refused.
    pub async fn link(
        &self,
        partner_id: i64,
        signature: Option<(&str, i64)>,
        link_code: &str,
        user_ref: &str,
    ) -> ServiceResult<Link> {
        if let Some((signature, forget_after)) = signature {
            if !self.store.remember_signature(partner_id, signature, forget_after).await? {
                return Err(replayed());
            }
        }
        if !ingest::reference_ok(user_ref) {
            return Err(ServiceError::invalid(
                "invalid_user_ref",
                format!("user_ref must be {}", ingest::reference_rule()),
            ));
        }
        let now = self.now();
        let user_id = self.store.use_link_code(partner_id, &link_code_hash(link_code), user_ref, now).await?;
        let scopes = self
            .store
            .consents(user_id)
            .await?
            .into_iter()
            .find(|c| c.partner_id == partner_id)
            .map(|c| c.scopes)
            .unwrap_or_default();
        Ok(Link { user_ref: user_ref.to_owned(), scopes, linked_at: now })
    }
}

/// A request signature seen before.
pub(crate) fn replayed() -> ServiceError {
    ServiceError::unauthorized("replayed_request", "this signature was already used; sign each request afresh")
}
