//! Co-planting: friends pool energy into one tree. Every step goes through
//! the writer (a share held, every hold released, the tree planted), so a
//! plan's energy is never spent twice nor left held after it closes.

use canopy_core::redemption::certificate;
use canopy_store::writer::{GameCommand, GameOutcome};
use canopy_store::{CoplantCommand, CoplantingRow};
use rand::RngCore;

use crate::balls::{key_reused, Idempotency};
use crate::error::{ErrorKind, ServiceError, ServiceResult};
use crate::Service;

/// A plan to open.
#[derive(Debug, Clone)]
pub struct NewCoplanting {
    /// The tree.
    pub project_id: i64,
    /// The friends invited.
    pub invitees: Vec<i64>,
    /// Every participant's share, the creator's included: (citizen, grams).
    pub shares: Vec<(i64, i64)>,
}

fn refusal(code: &str, message: String) -> ServiceError {
    let (kind, code): (ErrorKind, &'static str) = match code {
        "project_not_found" => (ErrorKind::NotFound, "project_not_found"),
        "coplanting_not_found" => (ErrorKind::NotFound, "coplanting_not_found"),
        "user_not_found" => (ErrorKind::NotFound, "user_not_found"),
        "invalid_shares" => (ErrorKind::Invalid, "invalid_shares"),
        "coplanting_trees_only" => (ErrorKind::Conflict, "coplanting_trees_only"),
        "not_friend" => (ErrorKind::Conflict, "not_friend"),
        "insufficient_energy" => (ErrorKind::Conflict, "insufficient_energy"),
        "project_not_active" => (ErrorKind::Conflict, "project_not_active"),
        "region_not_eligible" => (ErrorKind::Conflict, "region_not_eligible"),
        "out_of_stock" => (ErrorKind::Conflict, "out_of_stock"),
        "coplanting_closed" => (ErrorKind::Conflict, "coplanting_closed"),
        "coplanting_expired" => (ErrorKind::Conflict, "coplanting_expired"),
        "already_answered" => (ErrorKind::Conflict, "already_answered"),
        _ => (ErrorKind::Conflict, "coplanting_refused"),
    };
    ServiceError::new(kind, code, message)
}

impl Service {
    /// `creator` opens a plan; their share is held at once.
    pub async fn open_coplanting(
        &self,
        creator: i64,
        plan: NewCoplanting,
        idempotency: Option<Idempotency<'_>>,
    ) -> ServiceResult<CoplantingRow> {
        let idempotency = idempotency.map(|i| i.check()).transpose()?;
        let command = CoplantCommand::Open {
            creator,
            project_id: plan.project_id,
            invitees: plan.invitees,
            shares: plan.shares,
            idempotency,
        };
        match self.game(GameCommand::Coplant(command)).await? {
            GameOutcome::CoplantOpened { plan_id } => self.coplanting(creator, plan_id).await,
            GameOutcome::Refused { code, message } => Err(refusal(&code, message)),
            GameOutcome::KeyReused => Err(key_reused()),
            other => Err(ServiceError::internal(format!("opening a plan answered {other:?}"))),
        }
    }

    /// `user_id` accepts (their share is held; the last one plants the
    /// tree) or declines (every hold is released) plan `plan_id`.
    pub async fn answer_coplanting(
        &self,
        user_id: i64,
        plan_id: i64,
        accept: bool,
        idempotency: Option<Idempotency<'_>>,
    ) -> ServiceResult<CoplantingRow> {
        let idempotency = idempotency.map(|i| i.check()).transpose()?;
        let mut random = [0u8; certificate::RANDOM_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let command =
            CoplantCommand::Answer { user_id, plan_id, accept, certificate: certificate::number(random), idempotency };
        match self.game(GameCommand::Coplant(command)).await? {
            GameOutcome::CoplantAnswered { plan_id, .. } => self.coplanting(user_id, plan_id).await,
            GameOutcome::Refused { code, message } => Err(refusal(&code, message)),
            GameOutcome::KeyReused => Err(key_reused()),
            other => Err(ServiceError::internal(format!("answering a plan answered {other:?}"))),
        }
    }

    /// Plan `plan_id`, if `user_id` is in it.
    pub async fn coplanting(&self, user_id: i64, plan_id: i64) -> ServiceResult<CoplantingRow> {
        self.store
            .coplanting(plan_id)
            .await?
            .filter(|plan| plan.shares.iter().any(|s| s.user_id == user_id))
            .ok_or_else(|| ServiceError::not_found("coplanting_not_found", "there is no such co-planting plan"))
    }

    /// The plans `user_id` is in, newest first.
    pub async fn coplantings(&self, user_id: i64) -> ServiceResult<Vec<CoplantingRow>> {
        Ok(self.store.coplantings_of(user_id).await?)
    }

    /// Releases the holds of every plan past its deadline, in chunks
    /// through the writer. Returns the plans expired.
    pub async fn expire_coplantings(&self) -> ServiceResult<i64> {
        let chunk = 200;
        let mut expired = 0;
        loop {
            match self.game(GameCommand::Coplant(CoplantCommand::ExpireDue { limit: chunk })).await? {
                GameOutcome::CoplantsExpired { plans } => {
                    expired += plans;
                    if plans < chunk as i64 {
                        return Ok(expired);
                    }
                }
                other => return Err(ServiceError::internal(format!("expiring plans answered {other:?}"))),
            }
        }
    }
}
