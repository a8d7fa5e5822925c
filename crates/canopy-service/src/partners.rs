//! Partners: created by the operator (over HTTP or the CLI), listed, found.

use canopy_core::ids;
use canopy_core::types::{CategorySet, InvalidCategories, PartnerName};
use canopy_store::PartnerRow;

use crate::error::{ServiceError, ServiceResult};
use crate::tokens::random_token;
use crate::Service;

/// A partner as the operator describes it.
#[derive(Debug, Clone)]
pub struct NewPartner {
    /// Display name.
    pub name: String,
    /// Category names the partner may report.
    pub categories: Vec<String>,
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
    /// Creates a partner; returns it with its signing secret, which is shown
    /// only this once.
    pub async fn create_partner(&self, partner: NewPartner) -> ServiceResult<(PartnerRow, String)> {
        let name = PartnerName::parse(&partner.name)
            .map_err(|e| ServiceError::invalid("invalid_name", format!("name {e}")))?;
        let name = name.as_str();
        let categories = parse_categories(&partner.categories, "categories")?;
        let secret = random_token();
        let row = self.store.create_partner(name, categories, &secret, self.now()).await?;
        Ok((row, secret))
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
}
