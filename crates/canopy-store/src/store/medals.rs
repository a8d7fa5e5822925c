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
        // Both read the citizen's own postings by the journal's citizen
        // indexes (events and the journal have no index by time, and must
        // not be scanned per citizen). An act's posting is recorded after
        // it occurred, so `p.at >= since` keeps every act of the period.
        let acts: Vec<(String, i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT e.behavior, CAST(SUM(e.grams) AS BIGINT), CAST(COUNT(*) AS BIGINT)
                 FROM postings p JOIN events e ON e.partner_id = p.partner_id AND e.event_id = p.cause_ref
                 WHERE p.citizen_a = $1 AND p.cause = 'event' AND p.at >= $2
                   AND e.user_id = $1 AND e.grams > 0 AND e.occurred_at >= $2
                 GROUP BY e.behavior",
            )
            .bind(user_id)
            .bind(&since)
            .fetch_all(db)
            .await
        })?;
        let collected: Option<i64> = on_read!(self, |db| {
            sqlx::query_scalar(
                "SELECT CAST(SUM(t.amount) AS BIGINT) FROM transfers t
                 WHERE t.posting IN (SELECT seq FROM postings WHERE citizen_a = $1 AND at >= $2
                                     UNION SELECT seq FROM postings WHERE citizen_b = $1 AND at >= $2)
                   AND t.credit_owner = $1 AND t.credit_account = 'energy'
                   AND t.kind IN ('ball_collected', 'friend_collected')",
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

    /// The citizens of the postings after `after_seq` (at most
    /// `postings_max` postings, in journal order, read by the journal's key)
    /// and the seq of the last posting read (`after_seq` when none), for the
    /// medal sweep's cursor. Every act credited, ball collected, share
    /// taken, watering and reward is a posting naming its citizens.
    pub async fn citizens_posted_after(
        &self,
        after_seq: i64,
        postings_max: i64,
    ) -> StoreResult<(Vec<i64>, i64, usize)> {
        let rows: Vec<(i64, Option<i64>, Option<i64>)> = on_read!(self, |db| {
            sqlx::query_as("SELECT seq, citizen_a, citizen_b FROM postings WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after_seq)
                .bind(postings_max)
                .fetch_all(db)
                .await
        })?;
        let last = rows.last().map_or(after_seq, |r| r.0);
        let mut citizens: Vec<i64> = rows.iter().flat_map(|r| [r.1, r.2]).flatten().collect();
        citizens.sort_unstable();
        citizens.dedup();
        Ok((citizens, last, rows.len()))
    }

    /// The seq of the journal's last posting (0 when it is empty).
    pub async fn last_posting_seq(&self) -> StoreResult<i64> {
        Ok(on_read!(self, |db| {
            sqlx::query_scalar("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM postings").fetch_one(db).await
        })?)
    }

    /// Citizens who checked in since `since` (at most `limit`, by the
    /// check-ins' time index), for the medal sweep.
    pub async fn citizens_checked_in_since(&self, since: DateTime<Utc>, limit: i64) -> StoreResult<Vec<i64>> {
        Ok(on_read!(self, |db| {
            sqlx::query_scalar("SELECT DISTINCT user_id FROM checkins WHERE at >= $1 ORDER BY user_id LIMIT $2")
                .bind(format_time(since))
                .bind(limit)
                .fetch_all(db)
                .await
        })?)
    }
}
