//! Balances, the ledger and its verification.

use std::collections::BTreeMap;

use canopy_core::ledger::{AccountKind, Cause, Unit, SYSTEM_USER_ID};

use super::{on_read, Store};
use crate::{parse_time, Balances, LedgerEntryRow, LedgerEventRow, StoreError, StoreResult};

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
                "balls" => balances.balls_grams = grams,
                "held_energy" => balances.held_energy_grams = grams,
                "money" => balances.money_fen = grams,
                _ => {}
            }
        }
        Ok(balances)
    }

    /// A page of a citizen's ledger, newest first: the transfers into or
    /// out of any of the citizen's accounts, of any kind and unit, with
    /// sequence number below `before` (all if `None`), at most `limit`.
    pub async fn ledger_page(&self, user_id: i64, before: Option<i64>, limit: u32) -> StoreResult<Vec<LedgerEntryRow>> {
        // The journal holds one row per posting set, indexed under each of
        // the (at most two) citizens it touches. Each index is read newest
        // first and cut at `limit` sets before the two are merged (every
        // set yields at least one entry for the citizen), so a page costs
        // `limit` rows however long the citizen's history is.
        let before = before.unwrap_or(i64::MAX);
        let rows: Vec<PostingTuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT p.seq, p.at, p.cause, p.cause_ref, p.legs,
                        e.partner_id, e.event_id, e.behavior, e.occurred_at, e.region, e.inputs, e.methodology, pa.name
                 FROM (SELECT * FROM (
                           SELECT seq, at, cause, partner_id, cause_ref, legs FROM postings
                           WHERE citizen_a = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3) a
                       UNION ALL
                       SELECT * FROM (
                           SELECT seq, at, cause, partner_id, cause_ref, legs FROM postings
                           WHERE citizen_b = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3) b) p
                 LEFT JOIN events e ON p.cause = 'event' AND e.partner_id = p.partner_id AND e.event_id = p.cause_ref
                 LEFT JOIN partners pa ON pa.id = e.partner_id
                 ORDER BY p.seq DESC LIMIT $3",
            )
            .bind(user_id)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(db)
            .await
        })?;
        let mut entries = Vec::with_capacity(rows.len() * 2);
        for row in rows {
            entries.extend(entries_of(row, user_id, before)?);
        }
        // Newest first; within one transfer, the credit before the debit.
        entries.sort_by_key(|e| std::cmp::Reverse((e.id, e.grams)));
        entries.truncate(limit as usize);
        Ok(entries)
    }

    /// Checks the ledger's invariants and returns every violation found (an
    /// empty list means the ledger is sound). Sums that could exceed an
    /// `i64` are taken in Rust over 128 bits, so a ledger broken by an
    /// overflow is reported, not met with a database error.
    pub async fn verify_ledger(&self) -> StoreResult<Vec<String>> {
        let mut problems = Vec::new();

        // Sequence numbers are 1..N without gaps, and the counter is at N:
        // each set's transfers run from its seq, and the next set starts
        // where it ends.
        let (count, first, last): (i64, Option<i64>, Option<i64>) = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(transfers), 0) AS BIGINT), MIN(seq), MAX(seq + transfers - 1) FROM postings",
            )
            .fetch_one(db)
            .await
        })?;
        let gaps: Vec<(i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT seq, expected FROM (
                     SELECT seq, LAG(seq + transfers) OVER (ORDER BY seq) AS expected FROM postings) s
                 WHERE expected IS NOT NULL AND expected <> seq LIMIT 100",
            )
            .fetch_all(db)
            .await
        })?;
        if count > 0 && (first != Some(1) || last != Some(count) || !gaps.is_empty()) {
            problems.push(format!(
                "transfer sequence numbers are not 1..{count} without gaps: they run from {} to {}",
                first.unwrap_or_default(),
                last.unwrap_or_default()
            ));
        }
        for (seq, expected) in gaps {
            problems.push(format!("the posting set at {seq} should start at {expected}, where the one before ends"));
        }
        let counter: Option<i64> = on_read!(self, |db| {
            sqlx::query_scalar("SELECT value FROM sequences WHERE name = 'transfers'").fetch_optional(db).await
        })?;
        if counter != Some(count) {
            problems
                .push(format!("the transfer counter stands at {counter:?} but the journal holds {count} transfers"));
        }

        // Each set's row says truly how many transfers it holds and which
        // citizens they touch (a citizen's ledger is read by those columns).
        let citizen_kinds = AccountKind::ALL
            .iter()
            .filter(|k| k.is_citizen())
            .map(|k| format!("'{}'", k.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let misfiled: Vec<(i64, String)> = on_read!(self, |db| {
            sqlx::query_as(&format!(
                "SELECT p.seq, 'holds ' || CAST(COUNT(t.seq) AS TEXT) || ' transfers but says ' || CAST(p.transfers AS TEXT)
                 FROM postings p LEFT JOIN transfers t ON t.posting = p.seq
                 GROUP BY p.seq, p.transfers HAVING COUNT(t.seq) <> p.transfers
                 UNION ALL
                 SELECT t.posting, 'touches citizen ' || CAST(t.owner AS TEXT) || ' but is not filed under them'
                 FROM (SELECT posting, debit_owner AS owner FROM transfers WHERE debit_account IN ({citizen_kinds})
                       UNION SELECT posting, credit_owner FROM transfers WHERE credit_account IN ({citizen_kinds})) t
                 JOIN postings p ON p.seq = t.posting
                 WHERE t.owner <> COALESCE(p.citizen_a, -1) AND t.owner <> COALESCE(p.citizen_b, -1)
                 LIMIT 100"
            ))
            .fetch_all(db)
            .await
        })?;
        for (seq, what) in misfiled {
            problems.push(format!("the posting set at {seq} {what}"));
        }

        // Every transfer names known accounts whose unit is the transfer's.
        let shapes: Vec<(String, String, String, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT debit_account, credit_account, unit, CAST(COUNT(*) AS BIGINT) FROM transfers
                 GROUP BY debit_account, credit_account, unit",
            )
            .fetch_all(db)
            .await
        })?;
        for (debit, credit, unit, transfers) in shapes {
            for account in [&debit, &credit] {
                let fits = AccountKind::parse(account).is_some_and(|k| Some(k.unit()) == Unit::parse(&unit));
                if !fits {
                    problems.push(format!(
                        "{transfers} transfers move {unit} between {debit} and {credit}: account kind {account} \
                         does not count in {unit}"
                    ));
                }
            }
        }

        // Per unit, debits equal credits over all accounts; and no account
        // that may not go negative is negative.
        // Totals are read as text: a total that an overflow once turned into
        // a REAL (SQLite, before the writer checked its sums) is a finding,
        // not a decoding error.
        let stored_text: Vec<(i64, String, String, String)> = on_read!(self, |db| {
            sqlx::query_as("SELECT user_id, kind, CAST(debits AS TEXT), CAST(credits AS TEXT) FROM accounts")
                .fetch_all(db)
                .await
        })?;
        let mut accounts = Vec::with_capacity(stored_text.len());
        for (user_id, kind, debits, credits) in stored_text {
            match (debits.parse::<i64>(), credits.parse::<i64>()) {
                (Ok(debits), Ok(credits)) => accounts.push((user_id, kind, debits, credits)),
                _ => problems.push(format!(
                    "account {user_id}:{kind} stores totals that are not whole numbers: debits {debits} / credits {credits}"
                )),
            }
        }
        let mut per_unit: BTreeMap<&'static str, (i128, i128)> = BTreeMap::new();
        for (user_id, kind, debits, credits) in &accounts {
            let Some(parsed) = AccountKind::parse(kind) else {
                problems.push(format!("account {user_id}:{kind} is of no known kind"));
                continue;
            };
            let sums = per_unit.entry(parsed.unit().as_str()).or_default();
            sums.0 += i128::from(*debits);
            sums.1 += i128::from(*credits);
            let balance = i128::from(*credits) - i128::from(*debits);
            if balance < 0 && !parsed.may_go_negative() {
                let owner =
                    if *user_id == SYSTEM_USER_ID { "the system".to_owned() } else { format!("citizen {user_id}") };
                problems.push(format!("{owner} has a negative {kind} balance of {balance}"));
            }
        }
        for (unit, (debits, credits)) in per_unit {
            if debits != credits {
                problems.push(format!("total debits {debits} {unit} differ from total credits {credits} {unit}"));
            }
        }

        // Every account's stored debits and credits equal the sums of its
        // transfers. Amounts are summed in two halves (the high and the low
        // 32 bits), neither of which can overflow a BIGINT sum for fewer than
        // 2^31 rows, and joined over 128 bits here: a journal whose sums do
        // not fit an i64 is reported, not met with an overflow error.
        let halves: Vec<(i64, String, i64, i64, i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "WITH moves AS (
                     SELECT credit_owner AS user_id, credit_account AS kind, 0 AS debits, amount AS credits
                     FROM transfers
                     UNION ALL
                     SELECT debit_owner, debit_account, amount, 0 FROM transfers)
                 SELECT user_id, kind,
                        CAST(SUM(debits >> 32) AS BIGINT), CAST(SUM(debits & 4294967295) AS BIGINT),
                        CAST(SUM(credits >> 32) AS BIGINT), CAST(SUM(credits & 4294967295) AS BIGINT)
                 FROM moves GROUP BY user_id, kind",
            )
            .fetch_all(db)
            .await
        })?;
        let join = |high: i64, low: i64| (i128::from(high) << 32) + i128::from(low);
        let sums = halves.into_iter().map(|(user_id, kind, debits_high, debits_low, credits_high, credits_low)| {
            (user_id, kind, join(debits_high, debits_low), join(credits_high, credits_low))
        });
        // Each citizen's balls account holds exactly what their balls say:
        // credited with every gram that went into a ball, debited with what
        // friends took, the owner collected and expiry removed.
        let balls_accounts: BTreeMap<i64, (i64, i64)> = accounts
            .iter()
            .filter(|(user_id, kind, _, _)| kind == AccountKind::Balls.as_str() && *user_id != SYSTEM_USER_ID)
            .map(|(user_id, _, debits, credits)| (*user_id, (*debits, *credits)))
            .collect();
        let mut ball_sums: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        for (user_id, _open, grams, taken, collected, expired) in self.ball_sums().await? {
            let out = i128::from(taken) + i128::from(collected) + i128::from(expired);
            ball_sums.insert(user_id, (i64::try_from(out).unwrap_or(i64::MAX), grams));
        }
        let owners: std::collections::BTreeSet<i64> = balls_accounts.keys().chain(ball_sums.keys()).copied().collect();
        for user_id in owners {
            let account = balls_accounts.get(&user_id).copied().unwrap_or_default();
            let balls = ball_sums.get(&user_id).copied().unwrap_or_default();
            if account != balls {
                problems.push(format!(
                    "citizen {user_id}'s balls account stores debits {} / credits {} but their balls took in {} g \
                     and gave out {} g (taken, collected, expired)",
                    account.0, account.1, balls.1, balls.0
                ));
            }
        }

        // Friends' takes and waterings agree with the balls and the journal.
        problems.extend(self.verify_social().await?);

        let mut stored: BTreeMap<(i64, String), (i64, i64)> =
            accounts.into_iter().map(|(user_id, kind, debits, credits)| ((user_id, kind), (debits, credits))).collect();
        for (user_id, kind, debits, credits) in sums {
            let (stored_debits, stored_credits) = stored.remove(&(user_id, kind.clone())).unwrap_or_default();
            if (i128::from(stored_debits), i128::from(stored_credits)) != (debits, credits) {
                problems.push(format!(
                    "account {user_id}:{kind} stores debits {stored_debits} / credits {stored_credits} \
                     but its transfers sum to {debits} / {credits}"
                ));
            }
        }
        for ((user_id, kind), (debits, credits)) in stored {
            if (debits, credits) != (0, 0) {
                problems.push(format!(
                    "account {user_id}:{kind} stores debits {debits} / credits {credits} but has no transfers"
                ));
            }
        }

        // Each cause posted once: all its transfers belong to one set.
        let reposted: Vec<(String, Option<i64>, String, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT cause, partner_id, cause_ref, CAST(COUNT(DISTINCT posting) AS BIGINT) FROM transfers
                 GROUP BY cause, partner_id, cause_ref HAVING COUNT(DISTINCT posting) > 1 LIMIT 100",
            )
            .fetch_all(db)
            .await
        })?;
        for (cause, partner_id, reference, sets) in reposted {
            let cause = match Cause::from_columns(&cause, partner_id, &reference) {
                Some(cause) => cause.to_string(),
                None => format!("{cause} {partner_id:?}/{reference}"),
            };
            problems.push(format!("{cause} posted {sets} times"));
        }

        // Every event-caused transfer matches its event: the same citizen
        // and the event's grams.
        let orphans: Vec<(i64, String, Option<i64>, String)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT t.seq, t.kind, t.partner_id, t.cause_ref FROM transfers t
                 LEFT JOIN events e ON e.partner_id = t.partner_id AND e.event_id = t.cause_ref
                 WHERE t.cause = 'event'
                   AND (e.event_id IS NULL OR e.user_id <> t.credit_owner OR e.grams <> t.amount) LIMIT 100",
            )
            .fetch_all(db)
            .await
        })?;
        for (seq, kind, partner_id, event_id) in orphans {
            problems.push(format!(
                "transfer {seq} ({kind}) does not match an event: partner {partner_id:?}, event {event_id:?}"
            ));
        }
        // And every credited event was posted exactly once in each kind.
        let unpaid: Vec<(i64, String, i64, i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "WITH paid AS (
                     SELECT partner_id, cause_ref AS event_id,
                            CAST(SUM(CASE WHEN kind = 'reduction_verified' THEN 1 ELSE 0 END) AS BIGINT) AS reductions,
                            CAST(SUM(CASE WHEN kind = 'energy_issued' THEN 1 ELSE 0 END) AS BIGINT) AS energies
                     FROM transfers WHERE cause = 'event' GROUP BY partner_id, cause_ref)
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
        problems.extend(self.verify_redemptions().await?);
        problems.extend(self.verify_campaigns().await?);
        problems.extend(self.verify_holds().await?);
        Ok(problems)
    }

    /// Counts of stored rows, for the operator and the benchmarks.
    pub async fn counts(&self) -> StoreResult<(i64, i64)> {
        Ok(on_read!(self, |db| {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM events),
                        (SELECT CAST(COALESCE(SUM(transfers), 0) AS BIGINT) FROM postings)",
            )
            .fetch_one(db)
            .await
        })?)
    }
}

/// (seq of the set's first transfer, at, cause, cause_ref, legs, and the
/// event's partner, id, behaviour, occurred_at, region, inputs,
/// methodology, and the partner's name).
pub(super) type PostingTuple = (
    i64,
    String,
    String,
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

/// One stored leg: [kind, debit_owner, debit_account, credit_owner, credit_account, amount, unit].
type Leg = (String, i64, String, i64, String, i64, String);

/// The entries a set's row yields for `user_id`: each side of each of its
/// transfers (numbered below `before`) that is one of the citizen's accounts.
pub(super) fn entries_of(row: PostingTuple, user_id: i64, before: i64) -> StoreResult<Vec<LedgerEntryRow>> {
    let (seq, at, cause, cause_ref, legs) = (row.0, row.1, row.2, row.3, row.4);
    let (partner_id, event_id, behavior, occurred_at, region, inputs, methodology, partner_name) =
        (row.5, row.6, row.7, row.8, row.9, row.10, row.11, row.12);
    let legs: Vec<Leg> = serde_json::from_str(&legs)
        .map_err(|e| StoreError::Database(sqlx::Error::Decode(format!("the legs of posting set {seq}: {e}").into())))?;
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
    let at = parse_time(&at);
    let is_citizens = |account: &str| AccountKind::parse(account).is_some_and(AccountKind::is_citizen);
    let is_mine = |owner: i64, account: &str| owner == user_id && is_citizens(account);
    let mut entries = Vec::new();
    for (index, (kind, debit_owner, debit_account, credit_owner, credit_account, amount, unit)) in
        legs.into_iter().enumerate()
    {
        let id = seq + index as i64;
        if id >= before {
            continue;
        }
        let other = |owner: i64, account: &str| is_citizens(account).then_some(owner).filter(|o| *o != user_id);
        let entry = |account: String, grams: i64, counterpart: Option<i64>| LedgerEntryRow {
            id,
            at,
            kind: kind.clone(),
            account,
            grams,
            unit: unit.clone(),
            cause: cause.clone(),
            cause_ref: cause_ref.clone(),
            event: event.clone(),
            counterpart,
        };
        let (credit_counterpart, debit_counterpart) =
            (other(debit_owner, &debit_account), other(credit_owner, &credit_account));
        if is_mine(credit_owner, &credit_account) {
            entries.push(entry(credit_account, amount, credit_counterpart));
        }
        if is_mine(debit_owner, &debit_account) {
            entries.push(entry(debit_account, -amount, debit_counterpart));
        }
    }
    Ok(entries)
}
