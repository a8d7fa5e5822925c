//! What energy buys: the operator registers sponsors and their projects;
//! citizens list what they can redeem where they live, redeem energy for
//! units (atomically, in the writer), see and cancel their redemptions; the
//! public reads certificates.

use canopy_core::redemption::certificate;
use canopy_core::redemption::project::{self, ProjectDraft, SponsorKind, TEXT_MAX};
use canopy_core::redemption::{ProjectKind, ProjectStatus};
use canopy_store::writer::{GameCommand, GameOutcome};
use canopy_store::{CertificateRow, ProjectError, ProjectRow, RedemptionCommand, RedemptionRow, SponsorRow};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde_json::Value;

use crate::balls::{key_reused, Idempotency};
use crate::error::{ErrorKind, ServiceError, ServiceResult};
use crate::Service;

/// The default cancel window: a day.
pub const CANCEL_WINDOW_S_DEFAULT: i64 = 24 * 3600;
/// The default page of a citizen's redemptions.
pub const REDEMPTIONS_PAGE_DEFAULT: i64 = 50;
/// The largest budget a sponsor may commit, in units or fen.
pub const BUDGET_MAX: i64 = 1_000_000_000_000;

/// A sponsor to register.
#[derive(Debug, Clone)]
pub struct NewSponsor {
    /// Its name.
    pub name: String,
    /// `company`, `foundation` or `government`.
    pub kind: String,
    /// The units it commits to, if any.
    pub budget_units: Option<i64>,
    /// The fen it commits to, if any.
    pub budget_fen: Option<i64>,
}

/// A project to create (see [`ProjectDraft`]), for a sponsor.
#[derive(Debug, Clone)]
pub struct NewProject {
    /// `tree`, `land`, `voucher` or `donation`.
    pub kind: String,
    /// Its title.
    pub title: String,
    /// The sponsor paying for it.
    pub sponsor_id: i64,
    /// Energy per unit (a tree's is its sequestration).
    pub price_grams: Option<i64>,
    /// Units on offer.
    pub stock: Option<i64>,
    /// Where it may be redeemed.
    pub regions: Vec<String>,
    /// When it opens (RFC 3339).
    pub starts_at: String,
    /// When it closes (RFC 3339).
    pub ends_at: String,
    /// The kind's details.
    pub details: Value,
}

/// Which projects to list.
#[derive(Debug, Clone, Default)]
pub struct ProjectQuery<'a> {
    /// Only this kind.
    pub kind: Option<&'a str>,
    /// Only those a citizen of this region may redeem (by default the
    /// viewer's region, for a citizen).
    pub region: Option<&'a str>,
    /// Every project, open or not (the operator's view); otherwise only
    /// those open now.
    pub all: bool,
}

/// A redemption with its project and the citizen's energy afterwards.
#[derive(Debug, Clone)]
pub struct Redemption {
    /// The stored redemption.
    pub row: RedemptionRow,
    /// The citizen's energy after the move that answered (a redemption or
    /// a cancellation).
    pub energy_left: Option<i64>,
}

/// A page of a citizen's redemptions, newest first.
#[derive(Debug, Clone)]
pub struct RedemptionsPage {
    /// The redemptions.
    pub redemptions: Vec<RedemptionRow>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

fn invalid_project(error: project::InvalidProject) -> ServiceError {
    ServiceError::invalid("invalid_project", error.to_string())
}

fn time(field: &str, text: &str) -> ServiceResult<DateTime<Utc>> {
    canopy_core::time::parse_rfc3339_utc(text)
        .ok_or_else(|| ServiceError::invalid("invalid_project", format!("{field}: must be an RFC 3339 time")))
}

fn project_error(error: ProjectError) -> ServiceError {
    match error {
        ProjectError::SponsorExists(name) => {
            ServiceError::conflict("sponsor_exists", format!("a sponsor named `{name}` exists already"))
        }
        ProjectError::SponsorNotFound => ServiceError::not_found("sponsor_not_found", "there is no such sponsor"),
        ProjectError::ProjectNotFound => ServiceError::not_found("project_not_found", "there is no such project"),
        e @ ProjectError::BudgetExceeded { .. } => ServiceError::conflict("sponsor_budget_exceeded", e.to_string()),
        ProjectError::Ended => ServiceError::conflict("project_ended", "a project that ended stays ended"),
        ProjectError::Store(e) => e.into(),
    }
}

/// A refusal of a redemption rule, with its status.
fn refusal(code: &str, message: String) -> ServiceError {
    let (kind, code): (ErrorKind, &'static str) = match code {
        "project_not_found" => (ErrorKind::NotFound, "project_not_found"),
        "redemption_not_found" => (ErrorKind::NotFound, "redemption_not_found"),
        "user_not_found" => (ErrorKind::NotFound, "user_not_found"),
        "quantity_out_of_bounds" => (ErrorKind::Invalid, "quantity_out_of_bounds"),
        "project_not_active" => (ErrorKind::Conflict, "project_not_active"),
        "region_not_eligible" => (ErrorKind::Conflict, "region_not_eligible"),
        "out_of_stock" => (ErrorKind::Conflict, "out_of_stock"),
        "insufficient_energy" => (ErrorKind::Conflict, "insufficient_energy"),
        "already_cancelled" => (ErrorKind::Conflict, "already_cancelled"),
        "voucher_used" => (ErrorKind::Conflict, "voucher_used"),
        "cancel_window_passed" => (ErrorKind::Conflict, "cancel_window_passed"),
        "cancel_not_allowed" => (ErrorKind::Conflict, "cancel_not_allowed"),
        _ => (ErrorKind::Conflict, "redemption_refused"),
    };
    ServiceError::new(kind, code, message)
}

impl Service {
    /// Registers a sponsor.
    pub async fn create_sponsor(&self, sponsor: NewSponsor) -> ServiceResult<SponsorRow> {
        let name = project::checked_text("name", &sponsor.name, TEXT_MAX)
            .map_err(|e| ServiceError::invalid("invalid_sponsor", e.to_string()))?;
        let kind = SponsorKind::parse(&sponsor.kind).ok_or_else(|| {
            ServiceError::invalid(
                "invalid_sponsor",
                format!("kind `{}` is not company, foundation or government", sponsor.kind),
            )
        })?;
        for (field, budget) in [("budget_units", sponsor.budget_units), ("budget_fen", sponsor.budget_fen)] {
            if budget.is_some_and(|b| !(0..=BUDGET_MAX).contains(&b)) {
                return Err(ServiceError::invalid("invalid_sponsor", format!("{field} must be 0 to {BUDGET_MAX}")));
            }
        }
        self.store
            .create_sponsor(&name, kind, sponsor.budget_units, sponsor.budget_fen, self.now())
            .await
            .map_err(project_error)
    }

    /// Every sponsor, with its budget and what of it is allocated.
    pub async fn sponsors(&self) -> ServiceResult<Vec<SponsorRow>> {
        Ok(self.store.sponsors().await?)
    }

    /// Creates a project, its stock allocated against its sponsor's budget.
    pub async fn create_project(&self, new: NewProject) -> ServiceResult<ProjectRow> {
        let draft = ProjectDraft {
            kind: new.kind,
            title: new.title,
            price_grams: new.price_grams,
            stock: new.stock,
            regions: new.regions,
            starts_at: time("starts_at", &new.starts_at)?,
            ends_at: time("ends_at", &new.ends_at)?,
            details: new.details,
        };
        let spec = project::check_project(&draft).map_err(invalid_project)?;
        if let canopy_core::redemption::ProjectDetails::Voucher(voucher) = &spec.details {
            let merchant = canopy_core::ids::parse_partner(&voucher.merchant_id).unwrap_or_default();
            if self.store.partner(merchant).await?.is_none() {
                return Err(ServiceError::invalid(
                    "invalid_project",
                    format!("details.merchant_id: there is no partner `{}`", voucher.merchant_id),
                ));
            }
        }
        self.store.create_project(new.sponsor_id, &spec, self.now()).await.map_err(project_error)
    }

    /// One project.
    pub async fn project(&self, id: i64) -> ServiceResult<ProjectRow> {
        self.store
            .project(id)
            .await?
            .ok_or_else(|| ServiceError::not_found("project_not_found", "there is no such project"))
    }

    /// The projects a query selects, oldest first.
    pub async fn projects(&self, query: ProjectQuery<'_>) -> ServiceResult<Vec<ProjectRow>> {
        let kind = match query.kind {
            None | Some("") => None,
            Some(text) => Some(ProjectKind::parse(text).ok_or_else(|| {
                ServiceError::invalid("invalid_query", format!("kind `{text}` is not tree, land, voucher or donation"))
            })?),
        };
        let region = match query.region {
            None | Some("") => None,
            Some(text) => Some(
                canopy_core::types::RegionCode::parse(text)
                    .map_err(|e| ServiceError::invalid("invalid_query", format!("region: {e}")))?,
            ),
        };
        let now = self.now();
        let mut projects = self.store.projects(kind).await?;
        projects.retain(|p| {
            (query.all || p.state.is_open(now))
                && region.as_ref().is_none_or(|r| project::serves(&p.state.regions, r.as_str()))
        });
        Ok(projects)
    }

    /// Pauses (`paused`), reopens (`active`) or ends (`ended`) a project.
    pub async fn set_project_status(&self, id: i64, status: &str) -> ServiceResult<ProjectRow> {
        let status = ProjectStatus::parse(status).ok_or_else(|| {
            ServiceError::invalid("invalid_status", format!("status `{status}` is not active, paused or ended"))
        })?;
        self.store.set_project_status(id, status).await.map_err(project_error)
    }

    /// `user_id` redeems `quantity` units of project `project_id`: energy
    /// debited, stock decremented and the certificate issued together, in
    /// the writer, or nothing at all. `show_name` lets the certificate show
    /// the citizen's display name.
    pub async fn redeem(
        &self,
        user_id: i64,
        project_id: i64,
        quantity: i64,
        show_name: bool,
        idempotency: Option<Idempotency<'_>>,
    ) -> ServiceResult<Redemption> {
        let idempotency = idempotency.map(|i| i.check()).transpose()?;
        let mut random = [0u8; certificate::RANDOM_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let command = RedemptionCommand::Redeem {
            user_id,
            project_id,
            quantity,
            certificate: certificate::number(random),
            show_name,
            idempotency,
        };
        match self.game(GameCommand::Redemption(command)).await? {
            GameOutcome::Redeemed { redemption_id, energy_left, .. } => {
                Ok(Redemption { row: self.stored_redemption(redemption_id).await?, energy_left: Some(energy_left) })
            }
            GameOutcome::Refused { code, message } => Err(refusal(&code, message)),
            GameOutcome::KeyReused => Err(key_reused()),
            other => Err(ServiceError::internal(format!("a redemption answered {other:?}"))),
        }
    }

    /// `user_id` cancels their redemption `redemption_id` within the cancel
    /// window: the energy and the stock return.
    pub async fn cancel_redemption(
        &self,
        user_id: i64,
        redemption_id: i64,
        idempotency: Option<Idempotency<'_>>,
    ) -> ServiceResult<Redemption> {
        let idempotency = idempotency.map(|i| i.check()).transpose()?;
        let command =
            RedemptionCommand::Cancel { user_id, redemption_id, window_s: self.settings.cancel_window_s, idempotency };
        match self.game(GameCommand::Redemption(command)).await? {
            GameOutcome::RedemptionCancelled { redemption_id, energy_left, .. } => {
                Ok(Redemption { row: self.stored_redemption(redemption_id).await?, energy_left: Some(energy_left) })
            }
            GameOutcome::Refused { code, message } => Err(refusal(&code, message)),
            GameOutcome::KeyReused => Err(key_reused()),
            other => Err(ServiceError::internal(format!("a cancellation answered {other:?}"))),
        }
    }

    async fn stored_redemption(&self, id: i64) -> ServiceResult<RedemptionRow> {
        self.store
            .redemption(id)
            .await?
            .ok_or_else(|| ServiceError::internal(format!("redemption {id} was made but is not found")))
    }

    /// A page of `user_id`'s redemptions, newest first.
    pub async fn redemptions(
        &self,
        user_id: i64,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> ServiceResult<RedemptionsPage> {
        let limit = limit.unwrap_or(REDEMPTIONS_PAGE_DEFAULT);
        if !(1..=canopy_store::REDEMPTIONS_PAGE_MAX).contains(&limit) {
            return Err(ServiceError::invalid(
                "invalid_limit",
                format!("limit must be 1 to {}", canopy_store::REDEMPTIONS_PAGE_MAX),
            ));
        }
        let before = match cursor {
            None | Some("") => None,
            Some(text) => Some(text.parse::<i64>().ok().filter(|c| *c > 0).ok_or_else(|| {
                ServiceError::invalid("invalid_cursor", "cursor must be a next_cursor from an earlier page")
            })?),
        };
        let mut redemptions = self.store.redemptions_of(user_id, before, limit + 1).await?;
        let next_cursor = if redemptions.len() > limit as usize {
            redemptions.truncate(limit as usize);
            redemptions.last().map(|r| r.id.to_string())
        } else {
            None
        };
        Ok(RedemptionsPage { redemptions, next_cursor })
    }

    /// The certificate numbered `number` (public), with the friends who
    /// planted it together and their shares, if they did. A cancelled
    /// redemption's certificate is void: 410 `certificate_void`.
    pub async fn certificate(&self, number: &str) -> ServiceResult<(CertificateRow, Vec<(String, i64)>)> {
        let not_found = || ServiceError::not_found("certificate_not_found", "there is no such certificate");
        if !certificate::is_number(number) {
            return Err(not_found());
        }
        let found = self.store.certificate(number).await?.ok_or_else(not_found)?;
        if found.redemption.cancelled_at.is_some() {
            return Err(ServiceError::new(
                ErrorKind::Gone,
                "certificate_void",
                "the redemption behind this certificate was cancelled",
            ));
        }
        let planters = match self.store.coplanting_of_redemption(found.redemption.id).await? {
            Some(plan) => plan.shares.into_iter().map(|s| (s.display_name, s.grams)).collect(),
            None => Vec::new(),
        };
        Ok((found, planters))
    }
}
