//! Support for `canopy bench forest`: how much history the benchmark made.

use crate::store::on_read;
use crate::{Store, StoreResult};

impl Store {
    /// How many ledger postings and balls the store holds.
    pub async fn history_counts_for_bench(&self) -> StoreResult<(i64, i64)> {
        Ok(on_read!(self, |db| {
            sqlx::query_as("SELECT (SELECT COUNT(*) FROM postings), (SELECT COUNT(*) FROM balls)").fetch_one(db).await
        })?)
    }
}
