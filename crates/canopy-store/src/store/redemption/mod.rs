//! What energy buys, in storage: sponsors and their budgets, projects and
//! their stock, redemptions and certificates. Creating sponsors and
//! projects is plain SQL (a project's stock is allocated against its
//! sponsor's budget in the same transaction, which first locks the sponsor's
//! row); redeeming and cancelling move energy, so they run as writer
//! commands (`writer.rs`) and post through the one posting path.

pub(crate) mod coplanting;
pub(crate) mod vouchers;
pub(crate) mod writer;

use canopy_core::redemption::project::{ProjectSpec, SponsorKind};
use canopy_core::redemption::{ProjectDetails, ProjectKind, ProjectState, ProjectStatus};
use chrono::{DateTime, Utc};

use super::{on_read, on_write, Store};
use crate::{format_time, parse_time, StoreError, StoreResult};

pub use coplanting::{CoplantCommand, CoplantingRow, ShareRow};
pub use vouchers::{CodesUploaded, UploadError, VoucherAccepted};
pub use writer::RedemptionCommand;

/// The most sponsors listed.
pub const SPONSORS_LISTED_MAX: i64 = 500;
/// The most projects listed.
pub const PROJECTS_LISTED_MAX: i64 = 1_000;
/// The most redemptions on one page.
pub const REDEMPTIONS_PAGE_MAX: i64 = 200;

/// A sponsor with its budget and what of it is allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SponsorRow {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Company, foundation or government.
    pub kind: SponsorKind,
    /// The units it commits to in all, if it commits units.
    pub budget_units: Option<i64>,
    /// The fen it commits to in all, if it commits fen.
    pub budget_fen: Option<i64>,
    /// Units allocated to its projects' stock.
    pub committed_units: i64,
    /// Fen allocated to its vouchers.
    pub committed_fen: i64,
    /// Units citizens hold (redeemed and not cancelled) across its projects.
    pub handed_out_units: i64,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

type SponsorTuple = (i64, String, String, Option<i64>, Option<i64>, i64, i64, i64, String);

const SPONSOR_SELECT: &str = "SELECT s.id, s.name, s.kind, s.budget_units, s.budget_fen, s.committed_units,
        s.committed_fen, CAST(COALESCE((SELECT SUM(p.sold) FROM projects p WHERE p.sponsor_id = s.id), 0) AS BIGINT),
        s.created_at
 FROM sponsors s";

fn sponsor_from(
    (id, name, kind, budget_units, budget_fen, units, fen, handed_out, created_at): SponsorTuple,
) -> SponsorRow {
    SponsorRow {
        id,
        name,
        kind: SponsorKind::parse(&kind).unwrap_or_else(|| panic!("stored sponsor kind `{kind}` is not known")),
        budget_units,
        budget_fen,
        committed_units: units,
        committed_fen: fen,
        handed_out_units: handed_out,
        created_at: parse_time(&created_at),
    }
}

/// A project as stored, with its sponsor's name and the energy it received.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectRow {
    /// What the rules read.
    pub state: ProjectState,
    /// Its title.
    pub title: String,
    /// Its sponsor.
    pub sponsor_id: i64,
    /// The sponsor's name.
    pub sponsor_name: String,
    /// Its kind's details.
    pub details: ProjectDetails,
    /// Energy citizens spent on it (its `project_energy` balance).
    pub energy_grams: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// (id, kind, title, sponsor_id, sponsor name, price_grams, stock, sold,
/// regions, starts_at, ends_at, status, details, created_at, energy)
type ProjectTuple =
    (i64, String, String, i64, String, i64, i64, i64, String, String, String, String, String, String, i64);

pub(crate) const PROJECT_SELECT: &str = "SELECT p.id, p.kind, p.title, p.sponsor_id, s.name, p.price_grams, p.stock,
        p.sold, p.regions, p.starts_at, p.ends_at, p.status, p.details, p.created_at,
        COALESCE((SELECT a.credits - a.debits FROM accounts a WHERE a.user_id = p.id AND a.kind = 'project_energy'), 0)
 FROM projects p JOIN sponsors s ON s.id = p.sponsor_id";

fn project_from(row: ProjectTuple) -> ProjectRow {
    let (id, kind, title, sponsor_id, sponsor_name, price_grams, stock, sold, regions, starts_at, ends_at) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10);
    let (status, details, created_at, energy_grams) = (row.11, row.12, row.13, row.14);
    let kind = ProjectKind::parse(&kind).unwrap_or_else(|| panic!("stored project kind `{kind}` is not known"));
    ProjectRow {
        state: ProjectState {
            id,
            kind,
            price_grams,
            stock,
            sold,
            regions: serde_json::from_str(&regions)
                .unwrap_or_else(|e| panic!("the regions of project {id} do not read: {e}")),
            starts_at: parse_time(&starts_at),
            ends_at: parse_time(&ends_at),
            status: ProjectStatus::parse(&status)
                .unwrap_or_else(|| panic!("stored project status `{status}` is not known")),
        },
        title,
        sponsor_id,
        sponsor_name,
        details: ProjectDetails::from_stored(kind, &details)
            .unwrap_or_else(|| panic!("the details of project {id} do not read")),
        energy_grams,
        created_at: parse_time(&created_at),
    }
}

/// A redemption, with its project's kind and title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionRow {
    /// Its id.
    pub id: i64,
    /// Whose it is.
    pub user_id: i64,
    /// The project.
    pub project_id: i64,
    /// The project's kind.
    pub project_kind: ProjectKind,
    /// The project's title.
    pub project_title: String,
    /// Units redeemed.
    pub quantity: i64,
    /// Energy spent.
    pub energy_grams: i64,
    /// The certificate's number (trees, land, donations).
    pub certificate: Option<String>,
    /// The voucher's code (vouchers; shown to its owner only).
    pub voucher_code: Option<String>,
    /// Whether the certificate shows the owner's display name.
    pub show_name: bool,
    /// `active` or `cancelled`.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

type RedemptionTuple =
    (i64, i64, i64, String, String, i64, i64, Option<String>, Option<String>, bool, Option<String>, String);

pub(crate) const REDEMPTION_SELECT: &str = "SELECT r.id, r.user_id, r.project_id, p.kind, p.title, r.quantity,
        r.energy_grams, r.certificate, r.voucher_code, r.show_name, r.cancelled_at, r.created_at
 FROM redemptions r JOIN projects p ON p.id = r.project_id";

fn redemption_from(row: RedemptionTuple) -> RedemptionRow {
    let (id, user_id, project_id, kind, title, quantity, energy_grams, certificate, voucher_code, show_name) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9);
    RedemptionRow {
        id,
        user_id,
        project_id,
        project_kind: ProjectKind::parse(&kind).unwrap_or_else(|| panic!("stored project kind `{kind}` is not known")),
        project_title: title,
        quantity,
        energy_grams,
        certificate,
        voucher_code,
        show_name,
        cancelled_at: row.10.as_deref().map(parse_time),
        created_at: parse_time(&row.11),
    }
}

/// A certificate as the public sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateRow {
    /// The redemption behind it.
    pub redemption: RedemptionRow,
    /// The project.
    pub project: ProjectRow,
    /// The owner's display name, if they show it.
    pub owner: Option<String>,
}

/// Why a sponsor or project could not be made or changed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// Another sponsor has this name.
    #[error("a sponsor named `{0}` exists already")]
    SponsorExists(String),
    /// No such sponsor.
    #[error("there is no such sponsor")]
    SponsorNotFound,
    /// No such project.
    #[error("there is no such project")]
    ProjectNotFound,
    /// The stock would exceed what the sponsor committed.
    #[error("the sponsor's budget has {left} {unit} left, and this needs {needed}")]
    BudgetExceeded {
        /// `units` or `fen`.
        unit: &'static str,
        /// What is left of the budget.
        left: i64,
        /// What the stock needs.
        needed: i64,
    },
    /// The status change is not allowed (an ended project stays ended).
    #[error("a project that ended stays ended")]
    Ended,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ProjectError {
    fn from(e: sqlx::Error) -> Self {
        ProjectError::Store(e.into())
    }
}

/// What a project's stock takes of its sponsor's budget: (units, fen).
fn allocation(spec: &ProjectSpec) -> (i64, i64) {
    (spec.stock, spec.stock.saturating_mul(spec.details.face_value_fen()))
}

fn within_budget(budget: Option<i64>, committed: i64, needed: i64, unit: &'static str) -> Result<(), ProjectError> {
    match budget {
        Some(budget) if committed.saturating_add(needed) > budget => {
            Err(ProjectError::BudgetExceeded { unit, left: budget - committed, needed })
        }
        _ => Ok(()),
    }
}

impl Store {
    /// Registers a sponsor.
    pub async fn create_sponsor(
        &self,
        name: &str,
        kind: SponsorKind,
        budget_units: Option<i64>,
        budget_fen: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<SponsorRow, ProjectError> {
        let created_at = format_time(now);
        let inserted: Result<i64, sqlx::Error> = on_write!(self, |db| {
            sqlx::query_scalar(
                "INSERT INTO sponsors (name, kind, budget_units, budget_fen, created_at) VALUES ($1, $2, $3, $4, $5)
                 RETURNING id",
            )
            .bind(name)
            .bind(kind.as_str())
            .bind(budget_units)
            .bind(budget_fen)
            .bind(&created_at)
            .fetch_one(db)
            .await
        });
        match inserted {
            Ok(id) => self.sponsor(id).await?.ok_or(ProjectError::SponsorNotFound),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(ProjectError::SponsorExists(name.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// One sponsor.
    pub async fn sponsor(&self, id: i64) -> StoreResult<Option<SponsorRow>> {
        let row: Option<SponsorTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{SPONSOR_SELECT} WHERE s.id = $1")).bind(id).fetch_optional(db).await
        })?;
        Ok(row.map(sponsor_from))
    }

    /// Every sponsor (at most [`SPONSORS_LISTED_MAX`]), oldest first.
    pub async fn sponsors(&self) -> StoreResult<Vec<SponsorRow>> {
        let rows: Vec<SponsorTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{SPONSOR_SELECT} ORDER BY s.id LIMIT $1"))
                .bind(SPONSORS_LISTED_MAX)
                .fetch_all(db)
                .await
        })?;
        Ok(rows.into_iter().map(sponsor_from).collect())
    }

    /// Creates a project for `sponsor_id`, allocating its stock against the
    /// sponsor's budget in the same transaction (which first locks the
    /// sponsor's row, so two projects made at once cannot both take the
    /// budget's last units).
    pub async fn create_project(
        &self,
        sponsor_id: i64,
        spec: &ProjectSpec,
        now: DateTime<Utc>,
    ) -> Result<ProjectRow, ProjectError> {
        let (units, fen) = allocation(spec);
        let regions = serde_json::to_string(&spec.regions).expect("regions serialise");
        let id: i64 = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            let locked = sqlx::query("UPDATE sponsors SET committed_units = committed_units WHERE id = $1")
                .bind(sponsor_id)
                .execute(&mut *tx)
                .await?;
            if locked.rows_affected() == 0 {
                return Err(ProjectError::SponsorNotFound);
            }
            let (budget_units, budget_fen, committed_units, committed_fen): (Option<i64>, Option<i64>, i64, i64) =
                sqlx::query_as(
                    "SELECT budget_units, budget_fen, committed_units, committed_fen FROM sponsors WHERE id = $1",
                )
                .bind(sponsor_id)
                .fetch_one(&mut *tx)
                .await?;
            within_budget(budget_units, committed_units, units, "units")?;
            within_budget(budget_fen, committed_fen, fen, "fen")?;
            sqlx::query("UPDATE sponsors SET committed_units = committed_units + $2, committed_fen = committed_fen + $3 WHERE id = $1")
                .bind(sponsor_id)
                .bind(units)
                .bind(fen)
                .execute(&mut *tx)
                .await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO projects (kind, title, sponsor_id, price_grams, stock, regions, starts_at, ends_at, status,
                                       details, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $10) RETURNING id",
            )
            .bind(spec.kind.as_str())
            .bind(&spec.title)
            .bind(sponsor_id)
            .bind(spec.price_grams)
            .bind(spec.stock)
            .bind(&regions)
            .bind(format_time(spec.starts_at))
            .bind(format_time(spec.ends_at))
            .bind(spec.details.to_stored())
            .bind(format_time(now))
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            id
        });
        self.project(id).await?.ok_or(ProjectError::ProjectNotFound)
    }

    /// One project.
    pub async fn project(&self, id: i64) -> StoreResult<Option<ProjectRow>> {
        let row: Option<ProjectTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{PROJECT_SELECT} WHERE p.id = $1")).bind(id).fetch_optional(db).await
        })?;
        Ok(row.map(project_from))
    }

    /// Projects of `kind` (or every kind), oldest first, at most [`PROJECTS_LISTED_MAX`].
    pub async fn projects(&self, kind: Option<ProjectKind>) -> StoreResult<Vec<ProjectRow>> {
        let kind = kind.map(ProjectKind::as_str);
        let rows: Vec<ProjectTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{PROJECT_SELECT} WHERE ($1 IS NULL OR p.kind = $1) ORDER BY p.id LIMIT $2"))
                .bind(kind)
                .bind(PROJECTS_LISTED_MAX)
                .fetch_all(db)
                .await
        })?;
        Ok(rows.into_iter().map(project_from).collect())
    }

    /// Pauses, reopens or ends a project.
    pub async fn set_project_status(&self, id: i64, status: ProjectStatus) -> Result<ProjectRow, ProjectError> {
        let current = self.project(id).await?.ok_or(ProjectError::ProjectNotFound)?;
        if !current.state.status.may_become(status) {
            return Err(ProjectError::Ended);
        }
        let changed: u64 = on_write!(self, |db| {
            sqlx::query("UPDATE projects SET status = $2 WHERE id = $1 AND status <> 'ended'")
                .bind(id)
                .bind(status.as_str())
                .execute(db)
                .await
                .map(|done| done.rows_affected())
        })?;
        if changed == 0 && status != ProjectStatus::Ended {
            return Err(ProjectError::Ended);
        }
        self.project(id).await?.ok_or(ProjectError::ProjectNotFound)
    }

    /// One redemption.
    pub async fn redemption(&self, id: i64) -> StoreResult<Option<RedemptionRow>> {
        let row: Option<RedemptionTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{REDEMPTION_SELECT} WHERE r.id = $1")).bind(id).fetch_optional(db).await
        })?;
        Ok(row.map(redemption_from))
    }

    /// A citizen's redemptions, newest first, below id `before` if given.
    pub async fn redemptions_of(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<RedemptionRow>> {
        let rows: Vec<RedemptionTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!(
                "{REDEMPTION_SELECT} WHERE r.user_id = $1 AND r.id < $2 ORDER BY r.id DESC LIMIT $3"
            ))
            .bind(user_id)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit.clamp(1, REDEMPTIONS_PAGE_MAX))
            .fetch_all(db)
            .await
        })?;
        Ok(rows.into_iter().map(redemption_from).collect())
    }

    /// The certificate numbered `number`, with its project and the owner's
    /// display name if they show it.
    pub async fn certificate(&self, number: &str) -> StoreResult<Option<CertificateRow>> {
        let row: Option<RedemptionTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{REDEMPTION_SELECT} WHERE r.certificate = $1"))
                .bind(number)
                .fetch_optional(db)
                .await
        })?;
        let Some(redemption) = row.map(redemption_from) else { return Ok(None) };
        let Some(project) = self.project(redemption.project_id).await? else { return Ok(None) };
        let owner =
            if redemption.show_name { self.person(redemption.user_id).await?.map(|p| p.display_name) } else { None };
        Ok(Some(CertificateRow { redemption, project, owner }))
    }

    /// What `ledger verify` finds wrong with redemptions: per project, the
    /// units sold must be the units of its redemptions not cancelled, and
    /// its `project_energy` balance their energy.
    pub(crate) async fn verify_redemptions(&self) -> StoreResult<Vec<String>> {
        let rows: Vec<(i64, i64, i64, i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT p.id, p.sold,
                        CAST(COALESCE((SELECT SUM(r.quantity) FROM redemptions r
                                       WHERE r.project_id = p.id AND r.cancelled_at IS NULL), 0) AS BIGINT),
                        COALESCE((SELECT a.credits - a.debits FROM accounts a
                                  WHERE a.user_id = p.id AND a.kind = 'project_energy'), 0),
                        CAST(COALESCE((SELECT SUM(r.energy_grams) FROM redemptions r
                                       WHERE r.project_id = p.id AND r.cancelled_at IS NULL), 0) AS BIGINT)
                 FROM projects p ORDER BY p.id",
            )
            .fetch_all(db)
            .await
        })?;
        let mut findings = Vec::new();
        for (id, sold, redeemed, balance, spent) in rows {
            if sold != redeemed {
                findings.push(format!("project {id} has sold {sold} units but its redemptions hold {redeemed}"));
            }
            if balance != spent {
                findings.push(format!(
                    "project {id}'s project_energy balance is {balance} g but its redemptions spent {spent} g"
                ));
            }
        }
        let vouchers: Vec<(i64, i64, i64, i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT p.id, p.stock, p.sold,
                        (SELECT COUNT(*) FROM voucher_codes c WHERE c.project_id = p.id AND c.voided_at IS NULL),
                        (SELECT COUNT(*) FROM voucher_codes c
                         WHERE c.project_id = p.id AND c.voided_at IS NULL AND c.redemption_id IS NOT NULL)
                 FROM projects p WHERE p.kind = 'voucher' ORDER BY p.id",
            )
            .fetch_all(db)
            .await
        })?;
        for (id, stock, sold, codes, issued) in vouchers {
            if stock != codes || sold != issued {
                findings.push(format!(
                    "voucher project {id} has stock {stock} and sold {sold}, but {codes} live codes of which {issued} issued"
                ));
            }
        }
        Ok(findings)
    }
}
