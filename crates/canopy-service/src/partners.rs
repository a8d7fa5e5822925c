//! Partners: created by the operator (over HTTP or the CLI), listed, found.

use canopy_core::ids;
use canopy_core::types::{Category, CategorySet, UnknownCategory};
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
    if names.is_empty() {
        return Err(ServiceError::invalid("invalid_scope", format!("{field} must name at least one category")));
    }
    let mut categories = Vec::with_capacity(names.len());
    for name in names {
        let category: Category = name
            .parse()
            .map_err(|e: UnknownCategory| ServiceError::invalid("invalid_scope", format!("{field}: {e}")))?;
        categories.push(category);
    }
    Ok(CategorySet::from_categories(categories))
}

impl Service {
    /// Creates a partner; returns it with its signing secret, which is shown
    /// only this once.
    pub async fn create_partner(&self, partner: NewPartner) -> ServiceResult<(PartnerRow, String)> {
        let name = partner.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "invalid_name",
                "name must be 1 to 100 characters, none a control character",
            ));
        }
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
