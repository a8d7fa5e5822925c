//! The city's figures over a window of time: one aggregate query per
//! figure, each bounded by the window (and by a row limit).

use chrono::{DateTime, Utc};

use super::{on_read, Store};
use crate::{format_time, StoreResult};

/// The most groups one figure returns (behaviors, regions, districts, kinds, programs, hours).
pub const FIGURE_GROUPS_MAX: i64 = 10_000;

/// A group's count and grams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTally {
    /// The group (a behavior, a region, an hour `YYYY-MM-DDTHH` in UTC).
    pub key: String,
    /// Accepted acts.
    pub acts: i64,
    /// Grams credited.
    pub grams: i64,
}

/// Acts and grams of the citizens of one district (their current one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistrictTally {
    /// The district's GB/T 2260 code; `None` for citizens who gave none.
    pub district: Option<String>,
    /// Accepted acts.
    pub acts: i64,
    /// Grams credited.
    pub grams: i64,
}

/// Redemptions of one project kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionTally {
    /// `tree`, `land`, `voucher` or `donation`.
    pub kind: String,
    /// Redemptions (not cancelled).
    pub count: i64,
    /// Units redeemed.
    pub quantity: i64,
    /// Energy spent, in grams.
    pub energy_grams: i64,
}

/// Settlements of one energy program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramTally {
    /// The program.
    pub program_id: i64,
    /// Its name.
    pub name: String,
    /// Meters settled.
    pub settlements: i64,
    /// Energy saved, in Wh.
    pub saving_wh: i64,
    /// Paid, in fen.
    pub paid_fen: i64,
}

impl Store {
    /// Citizens with at least one accepted act in [from, to).
    pub async fn figure_active_citizens(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<i64> {
        Ok(on_read!(self, |db| {
            sqlx::query_scalar(
                "SELECT COUNT(DISTINCT user_id) FROM events WHERE occurred_at >= $1 AND occurred_at < $2",
            )
            .bind(format_time(from))
            .bind(format_time(to))
            .fetch_one(db)
            .await
        })?)
    }

    /// Acts and grams in [from, to) grouped by `column` (behavior, region or UTC hour).
    async fn figure_events_by(
        &self,
        group: &'static str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<GroupTally>> {
        let sql = format!(
            "SELECT {group} AS k, COUNT(*), CAST(COALESCE(SUM(grams), 0) AS BIGINT) FROM events
             WHERE occurred_at >= $1 AND occurred_at < $2 GROUP BY k ORDER BY k LIMIT $3"
        );
        let rows: Vec<(String, i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(&sql)
                .bind(format_time(from))
                .bind(format_time(to))
                .bind(FIGURE_GROUPS_MAX)
                .fetch_all(db)
                .await
        })?;
        Ok(rows.into_iter().map(|(key, acts, grams)| GroupTally { key, acts, grams }).collect())
    }

    /// Acts and grams in [from, to) by behavior.
    pub async fn figure_by_behavior(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<GroupTally>> {
        self.figure_events_by("behavior", from, to).await
    }

    /// Acts and grams in [from, to) by region (ISO 3166-2, as the events carry it).
    pub async fn figure_by_region(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<GroupTally>> {
        self.figure_events_by("region", from, to).await
    }

    /// Acts and grams in [from, to) by UTC hour (`YYYY-MM-DDTHH`), for the
    /// caller to fold into local days.
    pub async fn figure_by_hour(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<GroupTally>> {
        self.figure_events_by("SUBSTR(occurred_at, 1, 13)", from, to).await
    }

    /// Acts and grams in [from, to) by the district their citizen has now
    /// (`users.district`, not what it was at the time of the act: the ledger
    /// records no place but the event's province). Citizens without a
    /// district are one group, `None`.
    pub async fn figure_by_district(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<DistrictTally>> {
        let rows: Vec<(Option<String>, i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT u.district, COUNT(*), CAST(COALESCE(SUM(e.grams), 0) AS BIGINT)
                 FROM events e JOIN users u ON u.id = e.user_id
                 WHERE e.occurred_at >= $1 AND e.occurred_at < $2
                 GROUP BY u.district ORDER BY u.district LIMIT $3",
            )
            .bind(format_time(from))
            .bind(format_time(to))
            .bind(FIGURE_GROUPS_MAX)
            .fetch_all(db)
            .await
        })?;
        Ok(rows.into_iter().map(|(district, acts, grams)| DistrictTally { district, acts, grams }).collect())
    }

    /// Redemptions made in [from, to) and not cancelled, by project kind.
    pub async fn figure_redemptions(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<RedemptionTally>> {
        let rows: Vec<(String, i64, i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT p.kind, COUNT(*), CAST(COALESCE(SUM(r.quantity), 0) AS BIGINT),
                        CAST(COALESCE(SUM(r.energy_grams), 0) AS BIGINT)
                 FROM redemptions r JOIN projects p ON p.id = r.project_id
                 WHERE r.status = 'active' AND r.created_at >= $1 AND r.created_at < $2
                 GROUP BY p.kind ORDER BY p.kind LIMIT $3",
            )
            .bind(format_time(from))
            .bind(format_time(to))
            .bind(FIGURE_GROUPS_MAX)
            .fetch_all(db)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(kind, count, quantity, energy_grams)| RedemptionTally { kind, count, quantity, energy_grams })
            .collect())
    }

    /// Energy programs' settlements made in [from, to) (settled ones): Wh saved and fen paid.
    pub async fn figure_energy_programs(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ProgramTally>> {
        let rows: Vec<(i64, String, i64, i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT p.id, p.name, COUNT(*), CAST(COALESCE(SUM(s.saving_wh), 0) AS BIGINT),
                        CAST(COALESCE(SUM(s.paid_fen), 0) AS BIGINT)
                 FROM energy_settlements s JOIN energy_events e ON e.id = s.event_id
                 JOIN energy_programs p ON p.id = e.program_id
                 WHERE s.status = 'settled' AND s.settled_at >= $1 AND s.settled_at < $2
                 GROUP BY p.id, p.name ORDER BY p.id LIMIT $3",
            )
            .bind(format_time(from))
            .bind(format_time(to))
            .bind(FIGURE_GROUPS_MAX)
            .fetch_all(db)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(program_id, name, settlements, saving_wh, paid_fen)| ProgramTally {
                program_id,
                name,
                settlements,
                saving_wh,
                paid_fen,
            })
            .collect())
    }
}
