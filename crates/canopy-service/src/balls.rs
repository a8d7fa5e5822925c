//! Energy balls: a citizen's balls, collecting them, and the sweep that
//! lets uncollected ones vanish. Every move goes through the writer (see
//! `canopy_store::writer::GameCommand`), in order with ingestion.

use canopy_core::game::BallState;
use canopy_store::writer::{GameCommand, GameOutcome, IdempotencyKey, IngestError};
use canopy_store::BallRow;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::error::{ErrorKind, ServiceError, ServiceResult};
use crate::Service;

/// The longest idempotency key accepted.
pub const IDEMPOTENCY_KEY_MAX: usize = 128;

/// A ball as its owner sees it.
#[derive(Debug, Clone)]
pub struct BallView {
    /// The stored ball.
    pub row: BallRow,
    /// Its state now.
    pub state: BallState,
}

/// What a collect did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collected {
    /// Grams moved into the citizen's energy.
    pub collected_grams: i64,
    /// Balls collected.
    pub balls: i64,
    /// The citizen's energy afterwards.
    pub energy_grams: i64,
}

/// A client's `Idempotency-Key` with what identifies its request.
#[derive(Debug, Clone)]
pub struct Idempotency<'a> {
    /// The key as sent.
    pub key: &'a str,
    /// The request it came with: method, path and body.
    pub request: &'a [u8],
}

impl Idempotency<'_> {
    pub(crate) fn check(&self) -> ServiceResult<IdempotencyKey> {
        let ok = !self.key.is_empty()
            && self.key.len() <= IDEMPOTENCY_KEY_MAX
            && self.key.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(ServiceError::invalid(
                "invalid_idempotency_key",
                format!("Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters"),
            ));
        }
        Ok(IdempotencyKey { key: self.key.to_owned(), request_hash: hex::encode(Sha256::digest(self.request)) })
    }
}

impl Service {
    /// A citizen's balls, newest first: the open ones and those that closed
    /// within the last ball lifetime.
    pub async fn balls(&self, user_id: i64) -> ServiceResult<Vec<BallView>> {
        let now = self.now();
        let lifetime = Duration::seconds(self.game_settings().ball_lifetime_s());
        let rows = self.store.balls_of(user_id, now - lifetime).await?;
        Ok(rows.into_iter().map(|row| BallView { state: row.state(now), row }).collect())
    }

    /// The owner collects one ripe ball (`Some(id)`) or every ripe ball.
    pub async fn collect_balls(
        &self,
        user_id: i64,
        ball_id: Option<i64>,
        idempotency: Option<Idempotency<'_>>,
    ) -> ServiceResult<Collected> {
        let idempotency = idempotency.map(|i| i.check()).transpose()?;
        match self.game(GameCommand::Collect { user_id, ball_id, idempotency }).await? {
            GameOutcome::Collected { collected_grams, balls, energy_grams } => {
                Ok(Collected { collected_grams, balls, energy_grams })
            }
            GameOutcome::Refused { code, message } => Err(refusal(&code, message)),
            GameOutcome::KeyReused => Err(key_reused()),
            other => Err(ServiceError::internal(format!("a collect answered {other:?}"))),
        }
    }

    /// Expires every ball past its expiry at `now`, in chunks of the store's
    /// size ([`canopy_store::Store::expire_chunk`], each its own transaction
    /// in the writer, so ingestion waits at most one chunk). Returns (balls,
    /// grams).
    pub async fn expire_balls(&self) -> ServiceResult<(i64, i64)> {
        let (mut balls, mut grams) = (0, 0);
        loop {
            let chunk = self.store.expire_chunk();
            match self.game(GameCommand::ExpireDue { limit: chunk }).await? {
                GameOutcome::Expired { balls: n, grams: g } => {
                    balls += n;
                    grams += g;
                    if (n as usize) < chunk {
                        return Ok((balls, grams));
                    }
                }
                other => return Err(ServiceError::internal(format!("an expiry answered {other:?}"))),
            }
        }
    }

    pub(crate) async fn game(&self, command: GameCommand) -> ServiceResult<GameOutcome> {
        if let Some(user_id) = mover(&command) {
            self.moves.check(user_id)?;
        }
        let ingestor = self
            .ingestor
            .as_ref()
            .ok_or_else(|| ServiceError::internal("this service has no writer for game moves"))?;
        ingestor.game(command).await.map_err(|e| match e {
            IngestError::Overloaded => {
                ServiceError::unavailable("overloaded", "the writer's queue is full; retry shortly", 1)
            }
            IngestError::Unavailable { code, detail } => {
                tracing::error!(%detail, code, "a game move failed");
                ServiceError::storage(code, "nothing was moved; retry")
            }
            IngestError::Refused { code, detail } => {
                ServiceError::new(ErrorKind::Unprocessable, code, format!("nothing was moved: {detail}"))
            }
            IngestError::Replayed => ServiceError::internal("a game move was answered as a replay"),
        })
    }

    /// The time a ball ripened or will, for callers that show it.
    pub fn ball_times(row: &BallRow) -> (DateTime<Utc>, DateTime<Utc>) {
        (row.ball.ripens_at, row.ball.expires_at)
    }
}

/// The citizen making a move, whose rate is limited (the operator's
/// fundings and the sweep are not).
fn mover(command: &GameCommand) -> Option<i64> {
    match command {
        GameCommand::Collect { user_id, .. } | GameCommand::CheckIn { user_id, .. } => Some(*user_id),
        GameCommand::Social(social) => Some(social.citizen),
        GameCommand::Redemption(command) => Some(command.citizen()),
        GameCommand::Contribute(contribution) => Some(contribution.user_id),
        GameCommand::Coplant(canopy_store::CoplantCommand::Open { creator, .. }) => Some(*creator),
        GameCommand::Coplant(canopy_store::CoplantCommand::Answer { user_id, .. }) => Some(*user_id),
        GameCommand::Coplant(canopy_store::CoplantCommand::ExpireDue { .. }) => None,
        GameCommand::ExpireDue { .. }
        | GameCommand::FundPool { .. }
        | GameCommand::SettleChallenge { .. }
        | GameCommand::SettleEnergy(_)
        | GameCommand::IssueBillVoucher(_)
        | GameCommand::SpendBillVoucher(_) => None,
    }
}

pub(crate) fn key_reused() -> ServiceError {
    ServiceError::new(
        ErrorKind::Unprocessable,
        "idempotency_key_reused",
        "this Idempotency-Key was already used with a different request",
    )
}

/// A refusal of the game's rules, with its status.
fn refusal(code: &str, message: String) -> ServiceError {
    let (kind, code): (ErrorKind, &'static str) = match code {
        "ball_not_found" => (ErrorKind::NotFound, "ball_not_found"),
        "ball_not_ripe" => (ErrorKind::Conflict, "ball_not_ripe"),
        "ball_expired" => (ErrorKind::Conflict, "ball_expired"),
        "already_collected" => (ErrorKind::Conflict, "already_collected"),
        "already_taken" => (ErrorKind::Conflict, "already_taken"),
        "ball_protected" => (ErrorKind::Conflict, "ball_protected"),
        "daily_limit_reached" => (ErrorKind::Conflict, "daily_limit_reached"),
        "collect_not_allowed" => (ErrorKind::Conflict, "collect_not_allowed"),
        "not_friend" => (ErrorKind::Conflict, "not_friend"),
        _ => (ErrorKind::Conflict, "game_refused"),
    };
    ServiceError::new(kind, code, message)
}
