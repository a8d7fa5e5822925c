//! Voucher codes: the sponsor's upload (through the operator) and a
//! merchant accepting a code at the till.

use canopy_core::redemption::voucher::{self, VoucherRefusal};
use canopy_store::{CodesUploaded, ProjectError, UploadError, VoucherAccepted};

use crate::error::{ErrorKind, ServiceError, ServiceResult};
use crate::Service;

fn refusal(refusal: VoucherRefusal) -> ServiceError {
    let kind = match refusal {
        VoucherRefusal::Unknown => ErrorKind::NotFound,
        VoucherRefusal::WrongMerchant => ErrorKind::Forbidden,
        VoucherRefusal::Used | VoucherRefusal::Expired | VoucherRefusal::Cancelled => ErrorKind::Conflict,
    };
    ServiceError::new(kind, refusal.code(), refusal.to_string())
}

impl Service {
    /// Adds `codes` to voucher project `project_id`, all or none: each must
    /// be a valid code, appear once, and exist nowhere yet; the sponsor's
    /// budget must cover them.
    pub async fn upload_voucher_codes(&self, project_id: i64, codes: Vec<String>) -> ServiceResult<CodesUploaded> {
        if codes.is_empty() || codes.len() > voucher::UPLOAD_MAX {
            return Err(ServiceError::invalid(
                "invalid_codes",
                format!("an upload carries 1 to {} codes", voucher::UPLOAD_MAX),
            ));
        }
        let mut seen = std::collections::HashSet::with_capacity(codes.len());
        for (i, code) in codes.iter().enumerate() {
            if !voucher::is_code(code) {
                return Err(ServiceError::invalid(
                    "invalid_codes",
                    format!(
                        "code {} (`{}`) is not 4 to 64 letters, digits, `-` or `_`",
                        i + 1,
                        code.chars().take(70).collect::<String>()
                    ),
                ));
            }
            if !seen.insert(code.as_str()) {
                return Err(ServiceError::invalid(
                    "invalid_codes",
                    format!("code `{code}` appears twice in the upload"),
                ));
            }
        }
        self.store.upload_voucher_codes(project_id, &codes, self.now()).await.map_err(|e| match e {
            UploadError::NotVoucher(_) => {
                ServiceError::conflict("not_a_voucher_project", "codes are uploaded to voucher projects only")
            }
            UploadError::CodesExist(existing) => ServiceError::conflict(
                "voucher_code_exists",
                if existing.is_empty() {
                    "some codes were uploaded at the same moment by another request; nothing was added".to_owned()
                } else {
                    format!(
                        "{} codes exist already, nothing was added: {}",
                        existing.len(),
                        existing.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
                    )
                },
            ),
            UploadError::Project(ProjectError::ProjectNotFound) => {
                ServiceError::not_found("project_not_found", "there is no such project")
            }
            UploadError::Project(ProjectError::Ended) => {
                ServiceError::conflict("project_ended", "the project has ended")
            }
            UploadError::Project(e @ ProjectError::BudgetExceeded { .. }) => {
                ServiceError::conflict("sponsor_budget_exceeded", e.to_string())
            }
            UploadError::Project(e) => ServiceError::internal(e),
        })
    }

    /// Merchant `merchant_id` accepts voucher `code`: once, only a code
    /// issued to a citizen, of this merchant, before it expires.
    pub async fn accept_voucher(&self, merchant_id: i64, code: &str) -> ServiceResult<VoucherAccepted> {
        if !voucher::is_code(code) {
            return Err(refusal(VoucherRefusal::Unknown));
        }
        match self.store.accept_voucher(merchant_id, code, self.now()).await? {
            Err(VoucherRefusal::Unknown) => self.spend_bill_voucher(merchant_id, code).await,
            decided => decided.map_err(refusal),
        }
    }

    /// A participating shop takes a year-on-year bill voucher.
    async fn spend_bill_voucher(&self, merchant_id: i64, code: &str) -> ServiceResult<VoucherAccepted> {
        let spend = canopy_store::VoucherSpend { code: code.to_owned(), merchant_id };
        match self.game(canopy_store::writer::GameCommand::SpendBillVoucher(spend)).await? {
            canopy_store::writer::GameOutcome::VoucherSpent { program_id, face_value_fen } => {
                Ok(VoucherAccepted { project_id: 0, program_id: Some(program_id), face_value_fen, used_at: self.now() })
            }
            canopy_store::writer::GameOutcome::Refused { code, .. } => Err(refusal(
                [VoucherRefusal::Unknown, VoucherRefusal::Used, VoucherRefusal::Expired, VoucherRefusal::WrongMerchant]
                    .into_iter()
                    .find(|r| r.code() == code)
                    .unwrap_or(VoucherRefusal::Unknown),
            )),
            other => Err(ServiceError::internal(format!("spending a voucher answered {other:?}"))),
        }
    }
}
