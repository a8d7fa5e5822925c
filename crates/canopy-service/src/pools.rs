//! Funded pools: the operator creates a pool for a named sponsor and funds
//! it; every game reward is a transfer out of a pool, never beyond what it
//! holds.

use canopy_core::ledger::PoolUnit;
use canopy_store::writer::{GameCommand, GameOutcome};
use canopy_store::{PoolError, PoolRow, CHECKIN_POOL};

use crate::error::{ServiceError, ServiceResult};
use crate::Service;

/// The longest pool or sponsor name, in characters.
pub const POOL_NAME_MAX: usize = 100;
/// The most one funding may add, in the pool's unit.
pub const POOL_FUNDING_MAX: i64 = 1_000_000_000_000;

/// A pool to create.
#[derive(Debug, Clone)]
pub struct NewPool {
    /// Its name.
    pub name: String,
    /// Who funds it.
    pub sponsor: String,
    /// `energy_grams` (default) or `fen`.
    pub unit: Option<String>,
    /// `checkins` for the pool that pays check-in rewards.
    pub purpose: Option<String>,
}

fn checked_name(field: &'static str, value: &str) -> ServiceResult<String> {
    let trimmed = value.trim();
    let length = trimmed.chars().count();
    if length == 0 || length > POOL_NAME_MAX || trimmed.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "invalid_pool",
            format!("{field} must be 1 to {POOL_NAME_MAX} characters without control characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

impl Service {
    /// Creates a pool (empty until funded).
    pub async fn create_pool(&self, pool: NewPool) -> ServiceResult<PoolRow> {
        let name = checked_name("name", &pool.name)?;
        let sponsor = checked_name("sponsor", &pool.sponsor)?;
        let unit = match pool.unit.as_deref() {
            None => PoolUnit::EnergyGrams,
            Some(text) => PoolUnit::parse(text).ok_or_else(|| {
                ServiceError::invalid("invalid_unit", format!("unit `{text}` is not `energy_grams` or `fen`"))
            })?,
        };
        match pool.purpose.as_deref() {
            None => {}
            Some(CHECKIN_POOL) if unit == PoolUnit::EnergyGrams => {}
            Some(CHECKIN_POOL) => {
                return Err(ServiceError::invalid(
                    "invalid_pool",
                    "the check-in pool pays energy: its unit is energy_grams",
                ))
            }
            Some(other) => {
                return Err(ServiceError::invalid(
                    "invalid_pool",
                    format!("purpose `{other}` is not known (the one purpose is `{CHECKIN_POOL}`)"),
                ))
            }
        }
        self.store.create_pool(&name, &sponsor, unit, pool.purpose.as_deref(), self.now()).await.map_err(|e| match e {
            PoolError::PurposeTaken(purpose) => {
                ServiceError::conflict("pool_exists", format!("a pool for `{purpose}` exists already"))
            }
            PoolError::Store(e) => e.into(),
        })
    }

    /// Every pool with its balance.
    pub async fn pools(&self) -> ServiceResult<Vec<PoolRow>> {
        Ok(self.store.pools().await?)
    }

    /// Funds pool `pool_id` with `amount` of its unit; returns the pool.
    pub async fn fund_pool(&self, pool_id: i64, amount: i64) -> ServiceResult<PoolRow> {
        if !(1..=POOL_FUNDING_MAX).contains(&amount) {
            return Err(ServiceError::invalid(
                "invalid_amount",
                format!("amount must be a whole number from 1 to {POOL_FUNDING_MAX}"),
            ));
        }
        match self.game(GameCommand::FundPool { pool_id, amount }).await? {
            GameOutcome::Funded { .. } => {}
            GameOutcome::Refused { .. } => {
                return Err(ServiceError::not_found("pool_not_found", "there is no such pool"));
            }
            other => return Err(ServiceError::internal(format!("a funding answered {other:?}"))),
        }
        self.store
            .pool(pool_id)
            .await?
            .ok_or_else(|| ServiceError::internal(format!("pool {pool_id} was funded but is not found")))
    }
}
