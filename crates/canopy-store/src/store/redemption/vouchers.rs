//! Voucher codes in storage: a sponsor's upload (all or nothing, its codes
//! allocated against the sponsor's budget with the project's row and the
//! sponsor's row locked), and a merchant accepting a code (one conditional
//! update, so two merchants, or one merchant twice, at once accept it at
//! most once). Issuing a code to a redemption and voiding it on
//! cancellation happen in the writer (`writer.rs`).

use canopy_core::redemption::voucher::{self, CodeState, VoucherRefusal};
use canopy_core::redemption::ProjectDetails;
use chrono::{DateTime, Utc};

use super::{on_write, ProjectError, Store};
use crate::{format_time, parse_time};

/// Codes checked or inserted per statement.
const CHUNK: usize = 500;

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodesUploaded {
    /// Codes added.
    pub added: i64,
    /// The project's stock afterwards (codes not yet issued, plus those held).
    pub stock: i64,
}

/// A code a merchant accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherAccepted {
    /// The voucher's project (0 for a year-on-year bill voucher).
    pub project_id: i64,
    /// The program that paid a year-on-year bill voucher.
    pub program_id: Option<i64>,
    /// Its face value in fen.
    pub face_value_fen: i64,
    /// When it was accepted.
    pub used_at: DateTime<Utc>,
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The project, its sponsor or its budget refused it.
    #[error(transparent)]
    Project(#[from] ProjectError),
    /// The project does not sell vouchers.
    #[error("project {0} is not a voucher project")]
    NotVoucher(i64),
    /// Some codes exist already (here or in another project).
    #[error("{} codes exist already, such as `{}`", .0.len(), .0.first().map(String::as_str).unwrap_or_default())]
    CodesExist(Vec<String>),
}

impl From<sqlx::Error> for UploadError {
    fn from(e: sqlx::Error) -> Self {
        UploadError::Project(e.into())
    }
}

fn placeholders(from: usize, count: usize) -> String {
    (from..from + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// (project's sponsor, kind, status, details, the sponsor's budgets and commitments)
type UploadTuple = (i64, String, String, String, Option<i64>, Option<i64>, i64, i64);

impl Store {
    /// Adds `codes` (distinct, each valid) to voucher project `project_id`:
    /// all of them or none. Each code adds one unit to the stock and its
    /// face value to what the sponsor commits.
    pub async fn upload_voucher_codes(
        &self,
        project_id: i64,
        codes: &[String],
        now: DateTime<Utc>,
    ) -> Result<CodesUploaded, UploadError> {
        let now = format_time(now);
        let added = codes.len() as i64;
        let uploaded = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            // Lock the project's row first (its stock changes), then its sponsor's.
            let locked = sqlx::query("UPDATE projects SET stock = stock WHERE id = $1")
                .bind(project_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if locked == 0 {
                return Err(ProjectError::ProjectNotFound.into());
            }
            let (sponsor_id, kind, status, details, budget_units, budget_fen, committed_units, committed_fen): UploadTuple =
                sqlx::query_as(
                    "SELECT p.sponsor_id, p.kind, p.status, p.details, s.budget_units, s.budget_fen, s.committed_units,
                            s.committed_fen
                     FROM projects p JOIN sponsors s ON s.id = p.sponsor_id WHERE p.id = $1",
                )
                .bind(project_id)
                .fetch_one(&mut *tx)
                .await?;
            if kind != "voucher" {
                return Err(UploadError::NotVoucher(project_id));
            }
            if status == "ended" {
                return Err(ProjectError::Ended.into());
            }
            let face = ProjectDetails::from_stored(canopy_core::redemption::ProjectKind::Voucher, &details)
                .map(|d| d.face_value_fen())
                .unwrap_or_else(|| panic!("the details of voucher project {project_id} do not read"));
            sqlx::query("UPDATE sponsors SET committed_units = committed_units WHERE id = $1")
                .bind(sponsor_id)
                .execute(&mut *tx)
                .await?;
            let mut existing = Vec::new();
            for chunk in codes.chunks(CHUNK) {
                let sql = format!("SELECT code FROM voucher_codes WHERE code IN ({})", placeholders(1, chunk.len()));
                let mut query = sqlx::query_scalar::<_, String>(&sql);
                for code in chunk {
                    query = query.bind(code);
                }
                existing.extend(query.fetch_all(&mut *tx).await?);
            }
            if !existing.is_empty() {
                existing.sort();
                return Err(UploadError::CodesExist(existing));
            }
            super::within_budget(budget_units, committed_units, added, "units")?;
            super::within_budget(budget_fen, committed_fen, added.saturating_mul(face), "fen")?;
            for chunk in codes.chunks(CHUNK) {
                let rows = (0..chunk.len()).map(|i| format!("(${}, $1, $2)", i + 3)).collect::<Vec<_>>().join(", ");
                let sql = format!("INSERT INTO voucher_codes (code, project_id, uploaded_at) VALUES {rows}");
                let mut query = sqlx::query(&sql).bind(project_id).bind(&now);
                for code in chunk {
                    query = query.bind(code);
                }
                if let Err(e) = query.execute(&mut *tx).await {
                    return Err(match e {
                        // Another upload of the same code won the race.
                        sqlx::Error::Database(d) if d.is_unique_violation() => UploadError::CodesExist(vec![]),
                        e => e.into(),
                    });
                }
            }
            let stock: i64 = sqlx::query_scalar("UPDATE projects SET stock = stock + $2 WHERE id = $1 RETURNING stock")
                .bind(project_id)
                .bind(added)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE sponsors SET committed_units = committed_units + $2, committed_fen = committed_fen + $3
                 WHERE id = $1",
            )
            .bind(sponsor_id)
            .bind(added)
            .bind(added.saturating_mul(face))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            CodesUploaded { added, stock }
        });
        Ok(uploaded)
    }

    /// Merchant `merchant_id` accepts voucher `code` at `now`: once, and
    /// only a code issued to a citizen, of this merchant, not expired.
    pub async fn accept_voucher(
        &self,
        merchant_id: i64,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<VoucherAccepted, VoucherRefusal>, crate::StoreError> {
        let now_text = format_time(now);
        let accepted = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            // The conditional update decides at once who accepts a code:
            // two merchants at the same moment cannot both.
            let used = sqlx::query(
                "UPDATE voucher_codes SET used_at = $2, used_by = $3
                 WHERE code = $1 AND redemption_id IS NOT NULL AND voided_at IS NULL AND used_at IS NULL",
            )
            .bind(code)
            .bind(&now_text)
            .bind(merchant_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let found: Option<(i64, String, bool, bool, bool)> = sqlx::query_as(
                "SELECT c.project_id, p.details, c.redemption_id IS NOT NULL, c.voided_at IS NOT NULL,
                        c.used_at IS NOT NULL
                 FROM voucher_codes c JOIN projects p ON p.id = c.project_id WHERE c.code = $1",
            )
            .bind(code)
            .fetch_optional(&mut *tx)
            .await?;
            let details = found.as_ref().map(|(project_id, details, ..)| {
                match ProjectDetails::from_stored(canopy_core::redemption::ProjectKind::Voucher, details) {
                    Some(ProjectDetails::Voucher(v)) => v,
                    _ => panic!("the details of voucher project {project_id} do not read"),
                }
            });
            let state = found.as_ref().zip(details.as_ref()).map(|((_, _, issued, voided, was_used), v)| CodeState {
                merchant_id: canopy_core::ids::parse_partner(&v.merchant_id).unwrap_or_default(),
                issued: *issued && !*voided,
                voided: *voided,
                // Used before this request, unless this request's update is what used it.
                used: *was_used && used == 0,
                expires_at: parse_time_lenient(&v.expires_at),
            });
            let decided = voucher::accept(state.as_ref(), merchant_id, now);
            match (&decided, used) {
                // Accepted by the update, and the rules agree: keep it.
                (Ok(()), 1) => tx.commit().await?,
                // The update took a code the rules refuse (another merchant's,
                // or expired): undo it.
                _ => tx.rollback().await?,
            }
            decided.map(|()| {
                let (project_id, ..) = found.expect("an accepted code was found");
                VoucherAccepted {
                    project_id,
                    program_id: None,
                    face_value_fen: details.map(|d| d.face_value_fen).unwrap_or_default(),
                    used_at: parse_time(&now_text),
                }
            })
        });
        Ok(accepted)
    }
}

/// A stored RFC 3339 time (voucher details keep the form the core wrote).
fn parse_time_lenient(text: &str) -> DateTime<Utc> {
    canopy_core::time::parse_rfc3339_utc(text).unwrap_or_else(|| panic!("stored time `{text}` does not parse"))
}
