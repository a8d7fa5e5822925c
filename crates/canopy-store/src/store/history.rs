//! A citizen's history as the web app shows it: the ledger page narrowed
//! to a window of time and to some behaviours, and the credited acts of a
//! window for the chart of reductions by month and category.

use chrono::{DateTime, Utc};

use super::ledger::{entries_of, PostingTuple};
use super::{on_read, Store};
use crate::{format_time, parse_time, LedgerEntryRow, StoreResult};

/// What a history page is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    /// Only entries posted at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only entries posted before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Only entries caused by acts of these behaviours (`None`: every entry,
    /// whatever caused it).
    pub behaviors: Option<Vec<String>>,
}

/// The most behaviours a filter may name (a category has a handful).
pub const HISTORY_BEHAVIORS_MAX: usize = 64;

/// One credited act: its behaviour, when its credit was posted, and the grams of CO2e credited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditedAct {
    /// The act's behaviour.
    pub behavior: String,
    /// When the credit was posted.
    pub at: DateTime<Utc>,
    /// The reduction credited.
    pub grams: i64,
}

const ENTRY_COLUMNS: &str = "p.seq, p.at, p.cause, p.cause_ref, p.legs,
     e.partner_id, e.event_id, e.behavior, e.occurred_at, e.region, e.inputs, e.methodology, pa.name";

impl Store {
    /// A page of `user_id`'s ledger within `filter`, newest first, with
    /// sequence numbers below `before`, at most `limit` entries.
    pub async fn history_page(
        &self,
        user_id: i64,
        filter: &HistoryFilter,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<LedgerEntryRow>> {
        let before = before.unwrap_or(i64::MAX);
        let from = filter.from.map(format_time).unwrap_or_default();
        // Every stored instant sorts before this.
        let to = filter.to.map(format_time).unwrap_or_else(|| "9999".to_owned());
        let rows: Vec<PostingTuple> = match &filter.behaviors {
            None => {
                let sql = format!(
                    "SELECT {ENTRY_COLUMNS}
                     FROM (SELECT * FROM (
                               SELECT seq, at, cause, partner_id, cause_ref, legs FROM postings
                               WHERE citizen_a = $1 AND seq < $2 AND at >= $3 AND at < $4 ORDER BY seq DESC LIMIT $5) a
                           UNION ALL
                           SELECT * FROM (
                               SELECT seq, at, cause, partner_id, cause_ref, legs FROM postings
                               WHERE citizen_b = $1 AND seq < $2 AND at >= $3 AND at < $4 ORDER BY seq DESC LIMIT $5) b) p
                     LEFT JOIN events e ON p.cause = 'event' AND e.partner_id = p.partner_id AND e.event_id = p.cause_ref
                     LEFT JOIN partners pa ON pa.id = e.partner_id
                     ORDER BY p.seq DESC LIMIT $5"
                );
                on_read!(self, |db| {
                    sqlx::query_as(&sql)
                        .bind(user_id)
                        .bind(before)
                        .bind(&from)
                        .bind(&to)
                        .bind(i64::from(limit))
                        .fetch_all(db)
                        .await
                })?
            }
            Some(behaviors) if behaviors.is_empty() => Vec::new(),
            Some(behaviors) => {
                let behaviors = &behaviors[..behaviors.len().min(HISTORY_BEHAVIORS_MAX)];
                let list = (0..behaviors.len()).map(|i| format!("${}", i + 6)).collect::<Vec<_>>().join(", ");
                // An act's credit touches one citizen, who is its set's `citizen_a`.
                let sql = format!(
                    "SELECT {ENTRY_COLUMNS}
                     FROM postings p
                     JOIN events e ON e.partner_id = p.partner_id AND e.event_id = p.cause_ref
                     LEFT JOIN partners pa ON pa.id = e.partner_id
                     WHERE p.citizen_a = $1 AND p.cause = 'event' AND p.seq < $2 AND p.at >= $3 AND p.at < $4
                       AND e.behavior IN ({list})
                     ORDER BY p.seq DESC LIMIT $5"
                );
                on_read!(self, |db| {
                    let mut query =
                        sqlx::query_as(&sql).bind(user_id).bind(before).bind(&from).bind(&to).bind(i64::from(limit));
                    for behavior in behaviors {
                        query = query.bind(behavior);
                    }
                    query.fetch_all(db).await
                })?
            }
        };
        let mut entries = Vec::with_capacity(rows.len() * 2);
        for row in rows {
            entries.extend(entries_of(row, user_id, before)?);
        }
        entries.sort_by_key(|e| std::cmp::Reverse((e.id, e.grams)));
        entries.truncate(limit as usize);
        Ok(entries)
    }

    /// The acts credited to `user_id` whose credit was posted in `[from, to)`,
    /// at most `limit` of them (the newest).
    pub async fn credited_acts(
        &self,
        user_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<CreditedAct>> {
        let rows: Vec<(String, String, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT e.behavior, p.at, e.grams
                 FROM postings p
                 JOIN events e ON e.partner_id = p.partner_id AND e.event_id = p.cause_ref
                 WHERE p.citizen_a = $1 AND p.cause = 'event' AND p.at >= $2 AND p.at < $3 AND e.grams > 0
                 ORDER BY p.seq DESC LIMIT $4",
            )
            .bind(user_id)
            .bind(format_time(from))
            .bind(format_time(to))
            .bind(i64::from(limit))
            .fetch_all(db)
            .await
        })?;
        Ok(rows.into_iter().map(|(behavior, at, grams)| CreditedAct { behavior, at: parse_time(&at), grams }).collect())
    }
}
