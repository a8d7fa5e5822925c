//! Reports per project and per campaign (units and energy, by region and by
//! UTC day), and the sponsors' read-only keys that let a sponsor read its
//! own. Cancelled redemptions are left out; a region is the citizen's.

use chrono::{DateTime, Utc};

use super::{on_read, on_write, Store};
use crate::{format_time, StoreResult};

/// One line of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    /// The region (ISO 3166-2) or the UTC day (YYYY-MM-DD).
    pub key: String,
    /// Units redeemed (a project) or contributions (a campaign).
    pub units: i64,
    /// Energy received, in grams.
    pub energy_grams: i64,
}

/// What a project or campaign received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// Units redeemed, or contributions made.
    pub units: i64,
    /// Energy received, in grams.
    pub energy_grams: i64,
    /// Citizens who redeemed or gave.
    pub participants: i64,
    /// By the citizens' region.
    pub by_region: Vec<ReportLine>,
    /// By UTC day.
    pub by_day: Vec<ReportLine>,
}

type LineTuple = (String, i64, i64);

fn lines(rows: Vec<LineTuple>) -> Vec<ReportLine> {
    rows.into_iter().map(|(key, units, energy_grams)| ReportLine { key, units, energy_grams }).collect()
}

/// The source a report sums: (table, the column of units, the owner column).
const PROJECT: (&str, &str, &str) = ("redemptions", "r.quantity", "r.project_id = $1 AND r.cancelled_at IS NULL");
const CAMPAIGN: (&str, &str, &str) = ("campaign_contributions", "1", "r.campaign_id = $1");

impl Store {
    async fn report(&self, (table, units, filter): (&str, &str, &str), id: i64) -> StoreResult<ReportRow> {
        let sum = format!(
            "CAST(COALESCE(SUM({units}), 0) AS BIGINT), CAST(COALESCE(SUM(r.{energy}), 0) AS BIGINT)",
            energy = if table == "redemptions" { "energy_grams" } else { "grams" }
        );
        let (total_units, energy_grams, participants): (i64, i64, i64) = on_read!(self, |db| {
            sqlx::query_as(&format!("SELECT {sum}, COUNT(DISTINCT r.user_id) FROM {table} r WHERE {filter}"))
                .bind(id)
                .fetch_one(db)
                .await
        })?;
        let by_region: Vec<LineTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!(
                "SELECT u.region, {sum} FROM {table} r JOIN users u ON u.id = r.user_id WHERE {filter}
                 GROUP BY u.region ORDER BY u.region"
            ))
            .bind(id)
            .fetch_all(db)
            .await
        })?;
        let at = if table == "redemptions" { "r.created_at" } else { "r.at" };
        let by_day: Vec<LineTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!(
                "SELECT SUBSTR({at}, 1, 10) AS day, {sum} FROM {table} r WHERE {filter} GROUP BY day ORDER BY day"
            ))
            .bind(id)
            .fetch_all(db)
            .await
        })?;
        Ok(ReportRow {
            units: total_units,
            energy_grams,
            participants,
            by_region: lines(by_region),
            by_day: lines(by_day),
        })
    }

    /// What project `id` received.
    pub async fn project_report(&self, id: i64) -> StoreResult<ReportRow> {
        self.report(PROJECT, id).await
    }

    /// What campaign `id` received.
    pub async fn campaign_report(&self, id: i64) -> StoreResult<ReportRow> {
        self.report(CAMPAIGN, id).await
    }

    /// Stores a sponsor's new key (its hash); returns the key's id.
    pub async fn create_sponsor_key(&self, sponsor_id: i64, key_hash: &str, now: DateTime<Utc>) -> StoreResult<i64> {
        Ok(on_write!(self, |db| {
            sqlx::query_scalar(
                "INSERT INTO sponsor_keys (sponsor_id, key_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(sponsor_id)
            .bind(key_hash)
            .bind(format_time(now))
            .fetch_one(db)
            .await
        })?)
    }

    /// The sponsor a live key (by its hash) belongs to.
    pub async fn sponsor_of_key(&self, key_hash: &str) -> StoreResult<Option<i64>> {
        Ok(on_read!(self, |db| {
            sqlx::query_scalar("SELECT sponsor_id FROM sponsor_keys WHERE key_hash = $1 AND revoked_at IS NULL")
                .bind(key_hash)
                .fetch_optional(db)
                .await
        })?)
    }
}
