//! Medals in storage: the counters a medal's rule reads over a period, the
//! medals awarded (once per period, by primary key), and the citizens
//! active lately (whom the sweep evaluates).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{on_read, on_write, Store};
use crate::{format_time, parse_time, StoreResult};

/// What a citizen did over a period, by behaviour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MedalCounts {
    /// Verified reduction credited, grams, by behaviour.
    pub reduction_by_behavior: BTreeMap<String, i64>,
    /// Acts credited, by behaviour.
    pub acts_by_behavior: BTreeMap<String, i64>,
    /// Energy collected into the citizen's energy (own balls and friends' shares), grams.
    pub energy_collected_grams: i64,
}

impl Store {
    /// What `user_id` did since `since` (all time when `None`).
    pub async fn medal_counts(&self, user_id: i64, since: Option<DateTime<Utc>>) -> StoreResult<MedalCounts> {
        let since = since.map(format_time).unwrap_or_default();
        let acts: Vec<(String, i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT behavior, CAST(SUM(grams) AS BIGINT), CAST(COUNT(*) AS BIGINT) FROM events
                 WHERE user_id = $1 AND grams > 0 AND occurred_at >= $2 GROUP BY behavior",
            )
            .bind(user_id)
            .bind(&since)
            .fetch_all(db)
            .await
        })?;
        let collected: Option<i64> = on_read!(self, |db| {
            sqlx::query_scalar(
                "SELECT CAST(SUM(amount) AS BIGINT) FROM transfers
                 WHERE credit_owner = $1 AND credit_account = 'energy'
                   AND kind IN ('ball_collected', 'friend_collected') AND at >= $2",
            )
            .bind(user_id)
            .bind(&since)
            .fetch_one(db)
            .await
        })?;
        let mut counts = MedalCounts { energy_collected_grams: collected.unwrap_or(0), ..Default::default() };
        for (behavior, grams, count) in acts {
            counts.reduction_by_behavior.insert(behavior.clone(), grams);
            counts.acts_by_behavior.insert(behavior, count);
        }
        Ok(counts)
    }

    /// The streak of `user_id`'s last check-in and its local date (YYYY-MM-DD).
    pub async fn last_checkin(&self, user_id: i64) -> StoreResult<Option<(String, i64)>> {
        Ok(on_read!(self, |db| {
            sqlx::query_as("SELECT date, streak_days FROM checkins WHERE user_id = $1 ORDER BY date DESC LIMIT 1")
                .bind(user_id)
                .fetch_optional(db)
                .await
        })?)
    }

    /// Medals `user_id` has earned: (medal id, period key, earned at), newest first.
    pub async fn medals_awarded(&self, user_id: i64) -> StoreResult<Vec<(String, String, DateTime<Utc>)>> {
        let rows: Vec<(String, String, String)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT medal_id, period_key, earned_at FROM medals_awarded WHERE user_id = $1
                 ORDER BY earned_at DESC LIMIT 1000",
            )
            .bind(user_id)
            .fetch_all(db)
            .await
        })?;
        Ok(rows.into_iter().map(|(m, p, at)| (m, p, parse_time(&at))).collect())
    }

    /// Awards a medal for a period, unless it was awarded already; true if
    /// this call awarded it.
    pub async fn award_medal(
        &self,
        user_id: i64,
        medal_id: &str,
        period_key: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = on_write!(self, |db| {
            sqlx::query(
                "INSERT INTO medals_awarded (user_id, medal_id, period_key, earned_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, medal_id, period_key) DO NOTHING",
            )
            .bind(user_id)
            .bind(medal_id)
            .bind(period_key)
            .bind(format_time(at))
            .execute(db)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(done == 1)
    }

    /// Citizens with an act credited, a check-in or a ledger move since
    /// `since` (at most `limit`), for the medal sweep.
    pub async fn active_citizens(&self, since: DateTime<Utc>, limit: i64) -> StoreResult<Vec<i64>> {
        let since = format_time(since);
        Ok(on_read!(self, |db| {
            sqlx::query_scalar(
                "SELECT user_id FROM (
                     SELECT user_id FROM events WHERE received_at >= $1
                     UNION SELECT user_id FROM checkins WHERE at >= $1
                     UNION SELECT citizen_a FROM postings WHERE at >= $1 AND citizen_a IS NOT NULL
                     UNION SELECT citizen_b FROM postings WHERE at >= $1 AND citizen_b IS NOT NULL) active
                 ORDER BY user_id LIMIT $2",
            )
            .bind(&since)
            .bind(limit)
            .fetch_all(db)
            .await
        })?)
    }
}
