//! Balances, the ledger and its verification.

use super::{on_read, Store};
use crate::{parse_time, Balances, LedgerEntryRow, LedgerEventRow, StoreResult};

impl Store {
    /// A citizen's balances.
    pub async fn balances(&self, user_id: i64) -> StoreResult<Balances> {
        let rows: Vec<(String, i64)> = on_read!(self, |db| {
            sqlx::query_as("SELECT kind, credits - debits FROM accounts WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(db)
                .await
        })?;
        let mut balances = Balances::default();
        for (kind, grams) in rows {
            match kind.as_str() {
                "reduction" => balances.reduction_grams = grams,
                "energy" => balances.energy_grams = grams,
                _ => {}
            }
        }
        Ok(balances)
    }

    /// A page of a citizen's ledger, newest first: entries with id below
    /// `before` (all if `None`), at most `limit`.
    pub async fn ledger_page(&self, user_id: i64, before: Option<i64>, limit: u32) -> StoreResult<Vec<LedgerEntryRow>> {
        let rows: Vec<LedgerTuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT t.id, t.at, t.kind, t.grams, t.credit_user, t.credit_account, t.debit_account,
                        e.partner_id, e.event_id, e.behavior, e.occurred_at, e.region, e.inputs, e.methodology, p.name
                 FROM transfers t
                 LEFT JOIN events e
                   ON e.user_id = t.user_id AND e.partner_id = t.partner_id AND e.event_id = t.event_id
                 LEFT JOIN partners p ON p.id = e.partner_id
                 WHERE t.user_id = $1 AND t.id < $2
                 ORDER BY t.id DESC LIMIT $3",
            )
            .bind(user_id)
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(db)
            .await
        })?;
        Ok(rows.into_iter().map(|row| ledger_entry_from_tuple(user_id, row)).collect())
    }

    /// Checks the ledger's invariants and returns every violation found (an
    /// empty list means the ledger is sound).
    pub async fn verify_ledger(&self) -> StoreResult<Vec<String>> {
        let mut problems = Vec::new();
        let (debits, credits): (i64, i64) = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(debits), 0) AS BIGINT), CAST(COALESCE(SUM(credits), 0) AS BIGINT)
                 FROM accounts",
            )
            .fetch_one(db)
            .await
        })?;
        if debits != credits {
            problems.push(format!("total debits {debits} g differ from total credits {credits} g"));
        }
        // Every account's stored debits and credits equal the sums of its transfers.
        let mismatches: Vec<(i64, String, i64, i64, i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "WITH moves AS (
                     SELECT credit_user AS user_id, credit_account AS kind, 0 AS debits, grams AS credits
                     FROM transfers
                     UNION ALL
                     SELECT debit_user, debit_account, grams, 0 FROM transfers),
                 sums AS (
                     SELECT user_id, kind, CAST(SUM(debits) AS BIGINT) AS debits,
                            CAST(SUM(credits) AS BIGINT) AS credits
                     FROM moves GROUP BY user_id, kind),
                 joined AS (
                     SELECT a.user_id, a.kind, a.debits AS stored_debits, a.credits AS stored_credits,
                            COALESCE(s.debits, 0) AS debits, COALESCE(s.credits, 0) AS credits
                     FROM accounts a LEFT JOIN sums s ON s.user_id = a.user_id AND s.kind = a.kind
                     UNION ALL
                     SELECT s.user_id, s.kind, 0, 0, s.debits, s.credits
                     FROM sums s
                     WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.user_id = s.user_id AND a.kind = s.kind))
                 SELECT user_id, kind, stored_debits, stored_credits, debits, credits FROM joined
                 WHERE stored_debits <> debits OR stored_credits <> credits LIMIT 100",
            )
            .fetch_all(db)
            .await
        })?;
        for (user_id, kind, stored_debits, stored_credits, debits, credits) in mismatches {
            problems.push(format!(
                "account {user_id}:{kind} stores debits {stored_debits} / credits {stored_credits} \
                 but its transfers sum to {debits} / {credits}"
            ));
        }
        let negative: Vec<(i64, String, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT user_id, kind, credits - debits FROM accounts
                 WHERE kind IN ('reduction', 'energy') AND credits - debits < 0 LIMIT 100",
            )
            .fetch_all(db)
            .await
        })?;
        for (user_id, kind, balance) in negative {
            problems.push(format!("citizen {user_id} has a negative {kind} balance of {balance} g"));
        }
        // Every credit has its event, with the same citizen and grams.
        let orphans: Vec<(i64, String, Option<i64>, Option<String>)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT t.id, t.kind, t.partner_id, t.event_id FROM transfers t
                 LEFT JOIN events e ON e.partner_id = t.partner_id AND e.event_id = t.event_id
                 WHERE t.kind IN ('reduction_verified', 'energy_issued')
                   AND (e.event_id IS NULL OR e.user_id <> t.user_id OR e.grams <> t.grams) LIMIT 100",
            )
            .fetch_all(db)
            .await
        })?;
        for (id, kind, partner_id, event_id) in orphans {
            problems.push(format!(
                "transfer {id} ({kind}) does not match an event: partner {partner_id:?}, event {event_id:?}"
            ));
        }
        // And every credited event was paid exactly once in each kind.
        let unpaid: Vec<(i64, String, i64, i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "WITH paid AS (
                     SELECT partner_id, event_id,
                            CAST(SUM(CASE WHEN kind = 'reduction_verified' THEN 1 ELSE 0 END) AS BIGINT) AS reductions,
                            CAST(SUM(CASE WHEN kind = 'energy_issued' THEN 1 ELSE 0 END) AS BIGINT) AS energies
                     FROM transfers WHERE event_id IS NOT NULL GROUP BY partner_id, event_id)
                 SELECT e.partner_id, e.event_id, e.grams, COALESCE(p.reductions, 0), COALESCE(p.energies, 0)
                 FROM events e LEFT JOIN paid p ON p.partner_id = e.partner_id AND p.event_id = e.event_id
                 WHERE e.grams > 0 AND (COALESCE(p.reductions, 0) <> 1 OR COALESCE(p.energies, 0) <> 1)
                 LIMIT 100",
            )
            .fetch_all(db)
            .await
        })?;
        for (partner_id, event_id, grams, reductions, energies) in unpaid {
            problems.push(format!(
                "event {partner_id}/{event_id} credited {grams} g but has {reductions} reduction and \
                 {energies} energy transfers (expected 1 and 1)"
            ));
        }
        Ok(problems)
    }

    /// Counts of stored rows, for the operator and the benchmarks.
    pub async fn counts(&self) -> StoreResult<(i64, i64)> {
        Ok(on_read!(self, |db| {
            sqlx::query_as("SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM transfers)").fetch_one(db).await
        })?)
    }
}

type LedgerTuple = (
    i64,
    String,
    String,
    i64,
    i64,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn ledger_entry_from_tuple(user_id: i64, row: LedgerTuple) -> LedgerEntryRow {
    let (id, at, kind, grams, credit_user, credit_account, debit_account, partner_id, event_id, behavior) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9);
    let (occurred_at, region, inputs, methodology, partner_name) = (row.10, row.11, row.12, row.13, row.14);
    let incoming = credit_user == user_id;
    let event = partner_id.map(|partner_id| LedgerEventRow {
        partner_id,
        partner_name,
        event_id: event_id.unwrap_or_default(),
        behavior: behavior.unwrap_or_default(),
        occurred_at: parse_time(occurred_at.as_deref().unwrap_or_default()),
        region: region.unwrap_or_default(),
        inputs: inputs.as_deref().and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default(),
        methodology: methodology.unwrap_or_default(),
    });
    LedgerEntryRow {
        id,
        at: parse_time(&at),
        kind,
        account: if incoming { credit_account } else { debit_account },
        grams: if incoming { grams } else { -grams },
        event,
    }
}
