//! Campaigns matched by retired carbon credits: the operator creates one
//! for a sponsor; citizens contribute energy within the per-person limit
//! (in the writer, so the limit and the balance are read where the energy
//! moves); the operator records the credits the sponsor retired; anyone
//! reads how the campaign stands.

use canopy_core::redemption::campaign::{self, Standing, GRAMS_MAX};
use canopy_store::writer::{GameCommand, GameOutcome};
use canopy_store::{CampaignError, CampaignRow, Contribution, NewCampaignRow, NewRetirement, RetirementRow};

use crate::balls::{key_reused, Idempotency};
use crate::error::{ErrorKind, ServiceError, ServiceResult};
use crate::Service;

/// A campaign to create.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    /// Its title.
    pub title: String,
    /// Who benefits.
    pub beneficiary: String,
    /// The goal, in grams of energy.
    pub goal_grams: i64,
    /// What one citizen may give in all (1,000 for "1 kg per person").
    pub per_person_limit_grams: i64,
    /// The match ratio as written (`1.0`: a gram of CO2e retired per gram given).
    pub match_ratio: String,
    /// The sponsor retiring credits to match.
    pub sponsor_id: i64,
    /// When it opens (RFC 3339).
    pub starts_at: String,
    /// When it closes (RFC 3339).
    pub ends_at: String,
}

/// Credits retired to match a campaign, as the operator records them.
#[derive(Debug, Clone)]
pub struct Retirement {
    /// The registry (`CCER`, `Verra`, …).
    pub registry: String,
    /// The first serial.
    pub serial_first: String,
    /// The last serial.
    pub serial_last: String,
    /// Tonnes retired (the serials in the range).
    pub quantity_t: i64,
    /// When the registry retired them (RFC 3339).
    pub retired_at: String,
    /// On whose behalf.
    pub beneficiary: String,
}

/// A campaign as anyone sees it.
#[derive(Debug, Clone)]
pub struct CampaignView {
    /// The stored campaign with its totals.
    pub row: CampaignRow,
    /// Whether the retirements match the contributions.
    pub standing: Standing,
    /// The credits retired to match it.
    pub retirements: Vec<RetirementRow>,
    /// What the viewing citizen gave, if a citizen views it.
    pub mine: Option<i64>,
}

/// What a contribution did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contributed {
    /// The contribution's id.
    pub id: i64,
    /// Grams given now.
    pub grams: i64,
    /// What the citizen gave the campaign in all.
    pub contributed_grams: i64,
    /// The citizen's energy afterwards.
    pub energy_left: i64,
}

fn invalid(detail: impl Into<String>) -> ServiceError {
    ServiceError::invalid("invalid_campaign", detail)
}

fn time(field: &str, text: &str) -> ServiceResult<chrono::DateTime<chrono::Utc>> {
    canopy_core::time::parse_rfc3339_utc(text).ok_or_else(|| invalid(format!("{field}: must be an RFC 3339 time")))
}

fn campaign_error(error: CampaignError) -> ServiceError {
    match error {
        CampaignError::SponsorNotFound => ServiceError::not_found("sponsor_not_found", "there is no such sponsor"),
        CampaignError::CampaignNotFound => ServiceError::not_found("campaign_not_found", "there is no such campaign"),
        e @ CampaignError::Overlaps(..) => ServiceError::conflict("serial_range_overlaps", e.to_string()),
        CampaignError::Store(e) => e.into(),
    }
}

impl Service {
    /// Creates a campaign.
    pub async fn create_campaign(&self, new: NewCampaign) -> ServiceResult<CampaignView> {
        let title = campaign::text("title", &new.title).map_err(|e| invalid(e.to_string()))?;
        let beneficiary = campaign::text("beneficiary", &new.beneficiary).map_err(|e| invalid(e.to_string()))?;
        for (field, grams) in [("goal_grams", new.goal_grams), ("per_person_limit_grams", new.per_person_limit_grams)] {
            if !(1..=GRAMS_MAX).contains(&grams) {
                return Err(invalid(format!("{field} must be 1 to {GRAMS_MAX} grams")));
            }
        }
        let ratio_milli = campaign::ratio_milli(&new.match_ratio).ok_or_else(|| {
            invalid(format!("match_ratio `{}` must be more than 0 and at most 100, to a thousandth", new.match_ratio))
        })?;
        let (starts_at, ends_at) = (time("starts_at", &new.starts_at)?, time("ends_at", &new.ends_at)?);
        if ends_at <= starts_at {
            return Err(invalid("ends_at: must be after starts_at"));
        }
        let row = NewCampaignRow {
            title,
            beneficiary,
            goal_grams: new.goal_grams,
            per_person_limit_grams: new.per_person_limit_grams,
            ratio_milli,
            sponsor_id: new.sponsor_id,
            starts_at,
            ends_at,
        };
        let created = self.store.create_campaign(&row, self.now()).await.map_err(campaign_error)?;
        self.campaign(created.id, None).await
    }

    /// Every campaign, newest first, with its standing.
    pub async fn campaigns(&self) -> ServiceResult<Vec<(CampaignRow, Standing)>> {
        let rows = self.store.campaigns().await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let standing = campaign::standing(row.contributed_grams, row.retired_grams(), row.ratio_milli);
                (row, standing)
            })
            .collect())
    }

    /// One campaign, as `viewer` (a citizen, if any) sees it.
    pub async fn campaign(&self, id: i64, viewer: Option<i64>) -> ServiceResult<CampaignView> {
        let row = self
            .store
            .campaign(id)
            .await?
            .ok_or_else(|| ServiceError::not_found("campaign_not_found", "there is no such campaign"))?;
        let standing = campaign::standing(row.contributed_grams, row.retired_grams(), row.ratio_milli);
        let retirements = self.store.retirements(id).await?;
        let mine = match viewer {
            Some(user_id) => Some(self.store.contributed_by(id, user_id).await?),
            None => None,
        };
        Ok(CampaignView { row, standing, retirements, mine })
    }

    /// `user_id` gives `grams` of energy to campaign `campaign_id`.
    pub async fn contribute(
        &self,
        user_id: i64,
        campaign_id: i64,
        grams: i64,
        idempotency: Option<Idempotency<'_>>,
    ) -> ServiceResult<Contributed> {
        let idempotency = idempotency.map(|i| i.check()).transpose()?;
        let command = GameCommand::Contribute(Contribution { user_id, campaign_id, grams, idempotency });
        match self.game(command).await? {
            GameOutcome::Contributed { contribution_id, grams, contributed_grams, energy_left } => {
                Ok(Contributed { id: contribution_id, grams, contributed_grams, energy_left })
            }
            GameOutcome::Refused { code, message } => {
                let (kind, code): (ErrorKind, &'static str) = match code.as_str() {
                    "campaign_not_found" => (ErrorKind::NotFound, "campaign_not_found"),
                    "invalid_amount" => (ErrorKind::Invalid, "invalid_amount"),
                    "campaign_not_active" => (ErrorKind::Conflict, "campaign_not_active"),
                    "contribution_over_limit" => (ErrorKind::Conflict, "contribution_over_limit"),
                    "insufficient_energy" => (ErrorKind::Conflict, "insufficient_energy"),
                    _ => (ErrorKind::Conflict, "contribution_refused"),
                };
                Err(ServiceError::new(kind, code, message))
            }
            GameOutcome::KeyReused => Err(key_reused()),
            other => Err(ServiceError::internal(format!("a contribution answered {other:?}"))),
        }
    }

    /// Records credits the sponsor retired to match campaign `campaign_id`.
    pub async fn record_retirement(&self, campaign_id: i64, retirement: Retirement) -> ServiceResult<RetirementRow> {
        let bad = |e: canopy_core::redemption::project::InvalidProject| invalid(e.to_string());
        let registry = campaign::text("registry", &retirement.registry).map_err(bad)?;
        let beneficiary = campaign::text("beneficiary", &retirement.beneficiary).map_err(bad)?;
        let range = campaign::serial_range(&retirement.serial_first, &retirement.serial_last, retirement.quantity_t)
            .map_err(bad)?;
        let retired_at = time("retired_at", &retirement.retired_at)?;
        let new = NewRetirement {
            registry,
            range,
            serial_first: retirement.serial_first.trim().to_owned(),
            serial_last: retirement.serial_last.trim().to_owned(),
            retired_at,
            beneficiary,
        };
        self.store.record_retirement(campaign_id, &new, self.now()).await.map_err(campaign_error)
    }
}
