//! Leaderboard scores: grams per citizen of a region (or of a set of
//! citizens) since a period's start, by metric. The service ranks them and
//! caches each board for a short while (see `canopy_service::leaderboards`).

use std::collections::HashMap;

use canopy_core::game::leaderboard::Metric;
use chrono::{DateTime, Utc};

use super::{on_read, Store};
use crate::{format_time, StoreResult};

/// Which citizens a board ranks.
#[derive(Debug, Clone, Copy)]
pub enum Members<'a> {
    /// Every citizen whose home region is this.
    Region(&'a str),
    /// A citizen and their friends (a friends board).
    FriendsOf(i64),
}

/// The score of each member with more than 0 g: verified reduction credited
/// for acts since `since` (all time when `None`), or green energy received
/// into their spendable energy since then (collected, taken from friends,
/// watered, rewarded).
fn score_sql(metric: Metric, since: bool, members: &str) -> String {
    match (metric, since) {
        (Metric::Reduction, false) => format!(
            "SELECT a.user_id, a.credits - a.debits FROM accounts a JOIN users u ON u.id = a.user_id
             WHERE a.kind = 'reduction' AND a.credits - a.debits > 0 AND {members}"
        ),
        (Metric::Reduction, true) => format!(
            "SELECT e.user_id, CAST(SUM(e.grams) AS BIGINT) FROM events e JOIN users u ON u.id = e.user_id
             WHERE e.grams > 0 AND e.occurred_at >= $2 AND {members} GROUP BY e.user_id"
        ),
        (Metric::Energy, false) => format!(
            "SELECT a.user_id, a.credits FROM accounts a JOIN users u ON u.id = a.user_id
             WHERE a.kind = 'energy' AND a.credits > 0 AND {members}"
        ),
        (Metric::Energy, true) => format!(
            "SELECT t.credit_owner, CAST(SUM(t.amount) AS BIGINT) FROM transfers t JOIN users u ON u.id = t.credit_owner
             WHERE t.credit_account = 'energy' AND t.at >= $2 AND {members} GROUP BY t.credit_owner"
        ),
    }
}

/// The scores of a set of citizens (a friends board), read through each
/// member's own rows: the accounts' key for all time, and for a period the
/// journal's citizen indexes (an act's posting joined to its event by the
/// event's key), so that a board of a hundred friends reads their rows
/// and nothing else. An act's posting is recorded after the act, so
/// `p.at >= since` keeps every act of the period. `set` is a subquery
/// yielding the member ids.
fn citizens_score_sql(metric: Metric, since: bool, set: &str) -> String {
    match (metric, since) {
        (Metric::Reduction, false) => format!(
            "SELECT a.user_id AS member, a.credits - a.debits AS grams FROM accounts a
             WHERE a.user_id IN ({set}) AND a.kind = 'reduction' AND a.credits - a.debits > 0"
        ),
        (Metric::Reduction, true) => format!(
            "SELECT e.user_id AS member, CAST(SUM(e.grams) AS BIGINT) AS grams
             FROM postings p JOIN events e ON e.partner_id = p.partner_id AND e.event_id = p.cause_ref
             WHERE p.citizen_a IN ({set}) AND p.cause = 'event' AND p.at >= $2
               AND e.grams > 0 AND e.occurred_at >= $2
             GROUP BY e.user_id"
        ),
        (Metric::Energy, false) => format!(
            "SELECT a.user_id AS member, a.credits AS grams FROM accounts a
             WHERE a.user_id IN ({set}) AND a.kind = 'energy' AND a.credits > 0"
        ),
        (Metric::Energy, true) => format!(
            "SELECT t.credit_owner AS member, CAST(SUM(t.amount) AS BIGINT) AS grams FROM transfers t
             WHERE t.posting IN (SELECT seq FROM postings WHERE citizen_a IN ({set}) AND at >= $2
                                 UNION SELECT seq FROM postings WHERE citizen_b IN ({set}) AND at >= $2)
               AND t.credit_account = 'energy' AND t.credit_owner IN ({set})
             GROUP BY t.credit_owner"
        ),
    }
}

impl Store {
    /// Each member's grams (only those above 0), unordered.
    pub async fn scores(
        &self,
        members: Members<'_>,
        metric: Metric,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<(i64, i64)>> {
        let since_text = since.map(format_time).unwrap_or_default();
        let rows: Vec<(i64, i64)> = match members {
            Members::Region(region) => on_read!(self, |db| {
                let sql = score_sql(metric, since.is_some(), "u.region = $1");
                let mut query = sqlx::query_as(&sql).bind(region);
                if since.is_some() {
                    query = query.bind(&since_text);
                }
                query.fetch_all(db).await
            })?,
            Members::FriendsOf(viewer) => {
                let set = "SELECT friend_id FROM friendships WHERE user_id = $1 UNION ALL SELECT $1";
                let sql = citizens_score_sql(metric, since.is_some(), set);
                match &self.pools {
                    // One row for the whole board: sqlx's SQLite driver hands
                    // each row over from its worker thread on its own, and a
                    // hundred wake-ups cost more than the query.
                    super::Pools::Sqlite { read, .. } => {
                        let sql = format!(
                            "SELECT CAST(COALESCE(json_group_array(json_array(member, grams)), '[]') AS TEXT)
                             FROM ({sql})"
                        );
                        let mut query = sqlx::query_scalar(&sql).bind(viewer);
                        if since.is_some() {
                            query = query.bind(&since_text);
                        }
                        let board: String = query.fetch_one(read).await?;
                        serde_json::from_str(&board)
                            .map_err(|e| crate::StoreError::Writer(format!("a friends board did not read back: {e}")))?
                    }
                    super::Pools::Postgres { pool } => {
                        let mut query = sqlx::query_as(&sql).bind(viewer);
                        if since.is_some() {
                            query = query.bind(&since_text);
                        }
                        query.fetch_all(pool).await?
                    }
                }
            }
        };
        Ok(rows)
    }

    /// Display names of `ids`.
    pub async fn display_names(&self, ids: &[i64]) -> StoreResult<HashMap<i64, String>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids_json = serde_json::to_string(ids).expect("ids serialise");
        let rows: Vec<(i64, String)> = match &self.pools {
            super::Pools::Sqlite { read, .. } => {
                sqlx::query_as("SELECT id, display_name FROM users WHERE id IN (SELECT value FROM json_each($1))")
                    .bind(&ids_json)
                    .fetch_all(read)
                    .await?
            }
            super::Pools::Postgres { pool } => {
                sqlx::query_as(
                    "SELECT id, display_name FROM users
                     WHERE id IN (SELECT value::bigint FROM json_array_elements_text($1::json))",
                )
                .bind(&ids_json)
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows.into_iter().collect())
    }
}
