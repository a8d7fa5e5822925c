//! Monthly electricity bills in storage: one per household and month,
//! idempotent (the same bill again is answered as before; other figures
//! for a month already billed are refused).

use canopy_core::energy::bills::{year_before, Bill};
use chrono::{DateTime, Utc};

use super::meters::MeterError;
use super::{on_read, on_write, Store};
use crate::format_time;

/// What recording a bill did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRecorded {
    /// The household.
    pub user_id: i64,
    /// Whether it was new (not a repeat of the same bill).
    pub new: bool,
    /// What the same month a year earlier was billed, fen, if known.
    pub year_ago_fen: Option<i64>,
    /// What the same month a year earlier drew, Wh, if known.
    pub year_ago_wh: Option<i64>,
}

/// Why a bill was refused.
#[derive(Debug, thiserror::Error)]
pub enum BillError {
    /// The household is not the partner's (link, consent, scope).
    #[error(transparent)]
    Household(#[from] MeterError),
    /// The month was billed with other figures.
    #[error("the month was billed already: {wh} Wh, {amount_fen} fen")]
    Conflict {
        /// Stored Wh.
        wh: i64,
        /// Stored fen.
        amount_fen: i64,
    },
}

impl From<sqlx::Error> for BillError {
    fn from(e: sqlx::Error) -> Self {
        BillError::Household(e.into())
    }
}

impl From<crate::StoreError> for BillError {
    fn from(e: crate::StoreError) -> Self {
        BillError::Household(e.into())
    }
}

impl Store {
    /// Records a household's bill for a month.
    pub async fn record_bill(
        &self,
        partner_id: i64,
        user_ref: &str,
        bill: &Bill,
        now: DateTime<Utc>,
    ) -> Result<BillRecorded, BillError> {
        let user_id = self.household(partner_id, user_ref).await?;
        let month = bill.month.format("%Y-%m").to_string();
        let inserted: Option<String> = on_write!(self, |db| {
            sqlx::query_scalar(
                "INSERT INTO energy_bills (user_id, month, partner_id, wh, amount_fen, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, month) DO NOTHING RETURNING month",
            )
            .bind(user_id)
            .bind(&month)
            .bind(partner_id)
            .bind(bill.wh)
            .bind(bill.amount_fen)
            .bind(format_time(now))
            .fetch_optional(db)
            .await
        })?;
        if inserted.is_none() {
            let (wh, amount_fen): (i64, i64) = on_read!(self, |db| {
                sqlx::query_as("SELECT wh, amount_fen FROM energy_bills WHERE user_id = $1 AND month = $2")
                    .bind(user_id)
                    .bind(&month)
                    .fetch_one(db)
                    .await
            })?;
            if (wh, amount_fen) != (bill.wh, bill.amount_fen) {
                return Err(BillError::Conflict { wh, amount_fen });
            }
        }
        let year_ago = year_before(bill.month).format("%Y-%m").to_string();
        let year_ago: Option<(i64, i64)> = on_read!(self, |db| {
            sqlx::query_as("SELECT amount_fen, wh FROM energy_bills WHERE user_id = $1 AND month = $2")
                .bind(user_id)
                .bind(&year_ago)
                .fetch_optional(db)
                .await
        })?;
        Ok(BillRecorded {
            user_id,
            new: inserted.is_some(),
            year_ago_fen: year_ago.map(|y| y.0),
            year_ago_wh: year_ago.map(|y| y.1),
        })
    }
}
