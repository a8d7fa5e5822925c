//! The one path by which posting sets reach the journal, per store.
//!
//! A writer of postings (ingestion now; games and redemptions later) hands
//! a slice of [`PostingSet`]s to [`post_sqlite`] or [`post_postgres`] inside
//! its own transaction. The path loads the stored totals of the accounts
//! whose balance a rule needs (those the sets debit that may not go
//! negative: a credit-only ingestion group loads none), applies the sets
//! through the core's [`Book`] (so the rules — positive amounts, one unit
//! per account, no citizen below zero, a cause posts once, no overflow —
//! are the core's, not the SQL's), then numbers the transfers from the
//! journal's counter row and writes one journal row per set and the account
//! totals. Nothing is written if any set is refused.
//!
//! The totals of accounts that were not loaded are added to in SQL; should
//! such a sum overflow (PostgreSQL's `bigint out of range`, SQLite's
//! integer-only trigger), the failure is [`PostFailure::Overflow`], answered
//! as the core's overflow is, and nothing is written.
//!
//! Sequence numbers are global and gap-free in commit order: the counter is
//! a row (`sequences.transfers`) updated in the writing transaction, so a
//! rollback returns its numbers, and writers take turns — on SQLite through
//! the single write lock (`BEGIN IMMEDIATE`), on PostgreSQL through the
//! ledger's advisory lock, which [`lock_ledger`] takes and every caller must
//! hold ([`LedgerLocked`] is the proof).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use canopy_core::ledger::{AccountRef, Book, Cause, Owner, PostingError, PostingSet, Totals};
use rusqlite::{params, OptionalExtension};
use sqlx::PgConnection;

use crate::pg_copy::{copy_in, CopyText};

/// The advisory lock every PostgreSQL writer of postings (and every
/// ingestion group) holds until it commits: the ASCII of "canopy" and a 1.
const LEDGER_LOCK: i64 = 0x63_61_6e_6f_70_79_01;

/// What SQLite's trigger says when a total would stop being an integer
/// (the sum overflowed into a REAL).
const SQLITE_NOT_INTEGER: &str = "account totals must be integers";

/// Why posting failed: the ledger refused a set, or the database failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PostFailure<E> {
    /// The core refused a set (nothing was written).
    #[error(transparent)]
    Ledger(#[from] PostingError),
    /// An account total that was not loaded would overflow once the
    /// group's additions are written (nothing was written).
    #[error("an account total would overflow: {0}")]
    Overflow(String),
    /// The database failed.
    #[error("{0}")]
    Storage(E),
}

impl From<rusqlite::Error> for PostFailure<rusqlite::Error> {
    fn from(error: rusqlite::Error) -> Self {
        if error.to_string().contains(SQLITE_NOT_INTEGER) {
            return PostFailure::Overflow(error.to_string());
        }
        PostFailure::Storage(error)
    }
}

impl From<sqlx::Error> for PostFailure<sqlx::Error> {
    fn from(error: sqlx::Error) -> Self {
        // 22003: numeric value out of range (a BIGINT sum that overflowed).
        if matches!(&error, sqlx::Error::Database(e) if e.code().as_deref() == Some("22003")) {
            return PostFailure::Overflow(error.to_string());
        }
        PostFailure::Storage(error)
    }
}

/// Proof that the transaction holds the ledger's advisory lock.
#[derive(Debug)]
pub(crate) struct LedgerLocked(());

/// Takes the ledger's transaction-scoped advisory lock (PostgreSQL), which
/// orders every writer of postings and every ingestion group.
pub(crate) async fn lock_ledger(db: &mut PgConnection) -> Result<LedgerLocked, sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(LEDGER_LOCK).execute(db).await?;
    Ok(LedgerLocked(()))
}

/// The accounts whose stored totals the rules need: every account the sets
/// debit that may not go negative, in key order. Accounts that are only
/// credited, or may go negative, cannot break a balance rule, so their
/// totals are added to in SQL without being read.
fn to_load(sets: &[PostingSet]) -> BTreeSet<AccountRef> {
    sets.iter().flat_map(|s| &s.transfers).map(|t| t.debit).filter(|a| !a.kind.may_go_negative()).collect()
}

/// The causes among `sets` that the journal itself must say whether they
/// posted before. An event is not among them: the events table's primary
/// key already lets each event be decided (and so posted) once.
fn causes_to_look_up(sets: &[PostingSet]) -> Vec<&Cause> {
    sets.iter().map(|s| &s.cause).filter(|c| !matches!(c, Cause::Event { .. })).collect()
}

/// Applies every set to a book loaded with `loaded` totals and the causes
/// that `posted` before; the first refusal refuses them all.
fn apply(
    sets: &[PostingSet],
    accounts: usize,
    loaded: impl IntoIterator<Item = (AccountRef, Totals)>,
    posted: impl IntoIterator<Item = Cause>,
) -> Result<Book, PostingError> {
    let mut book = Book::with_capacity(accounts.max(2 * sets.len()), sets.len());
    for (account, totals) in loaded {
        book.load(account, totals);
    }
    for cause in posted {
        book.load_posted(cause);
    }
    for set in sets {
        book.apply(set)?;
    }
    Ok(book)
}

/// One journal row: a set, the seq of its first transfer, and the (at most
/// two) citizens whose accounts it touches.
struct JournalRow<'a> {
    seq: i64,
    set: &'a PostingSet,
    citizens: [Option<i64>; 2],
}

/// The citizens whose accounts `set` touches, in order of appearance. The
/// core's book refuses a set that touches more than two, so a set that
/// reaches here has at most two.
fn citizens(set: &PostingSet) -> [Option<i64>; 2] {
    let mut found = [None, None];
    let mut count = 0;
    for account in set.transfers.iter().flat_map(|t| [t.debit, t.credit]) {
        if let Owner::Citizen(id) = account.owner {
            if !found.contains(&Some(id)) {
                assert!(count < 2, "{} touches more than two citizens; the book refuses such sets", set.cause);
                found[count] = Some(id);
                count += 1;
            }
        }
    }
    found
}

/// The journal rows of `sets`, their transfers numbered from `first_seq` in order.
fn journal_rows(sets: &[PostingSet], first_seq: i64) -> Vec<JournalRow<'_>> {
    let mut rows = Vec::with_capacity(sets.len());
    let mut seq = first_seq;
    for set in sets {
        rows.push(JournalRow { seq, set, citizens: citizens(set) });
        seq += set.transfers.len() as i64;
    }
    rows
}

/// A set's legs as the journal stores them: a JSON array of
/// `[kind, debit_owner, debit_account, credit_owner, credit_account, amount, unit]`
/// (every name is a fixed snake_case identifier, so nothing needs escaping).
fn legs_json(set: &PostingSet, out: &mut String) {
    out.push('[');
    for (i, t) in set.transfers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write!(
            out,
            r#"["{}",{},"{}",{},"{}",{},"{}"]"#,
            t.kind.as_str(),
            t.debit.owner.id(),
            t.debit.kind.as_str(),
            t.credit.owner.id(),
            t.credit.kind.as_str(),
            t.amount,
            t.unit.as_str()
        )
        .expect("writing to a String");
    }
    out.push(']');
}

fn transfer_count(sets: &[PostingSet]) -> i64 {
    sets.iter().map(|s| s.transfers.len() as i64).sum()
}

/// Posts `sets` inside the SQLite transaction `tx` (which holds the write
/// lock), at time `now`. Returns the book (what changed).
pub(crate) fn post_sqlite(
    tx: &rusqlite::Transaction<'_>,
    sets: &[PostingSet],
    now: &str,
) -> Result<Book, PostFailure<rusqlite::Error>> {
    if sets.is_empty() {
        return Ok(Book::new());
    }
    let to_load = to_load(sets);
    let mut loaded = Vec::with_capacity(to_load.len());
    {
        let mut load = tx.prepare_cached("SELECT debits, credits FROM accounts WHERE user_id = ?1 AND kind = ?2")?;
        for &account in &to_load {
            let totals = load
                .query_row(params![account.owner.id(), account.kind.as_str()], |r| {
                    Ok(Totals { debits: r.get(0)?, credits: r.get(1)? })
                })
                .optional()?;
            if let Some(totals) = totals {
                loaded.push((account, totals));
            }
        }
    }
    let mut posted = Vec::new();
    {
        // The terms repeat the partial unique index's, so it answers.
        let mut exists =
            tx.prepare_cached("SELECT 1 FROM postings WHERE cause = ?1 AND cause_ref = ?2 AND cause <> 'event'")?;
        for cause in causes_to_look_up(sets) {
            let (kind, _, reference) = cause.columns();
            if exists.exists(params![kind, reference])? {
                posted.push(cause.clone());
            }
        }
    }
    let book = apply(sets, to_load.len(), loaded, posted)?;

    let count = transfer_count(sets);
    let last: i64 = tx
        .prepare_cached("UPDATE sequences SET value = value + ?1 WHERE name = 'transfers' RETURNING value")?
        .query_row(params![count], |r| r.get(0))?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO postings (seq, transfers, citizen_a, citizen_b, cause, partner_id, cause_ref, at, legs)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut legs = String::with_capacity(256);
    for row in journal_rows(sets, last - count + 1) {
        let (cause, partner_id, reference) = row.set.cause.columns();
        legs.clear();
        legs_json(row.set, &mut legs);
        insert.execute(params![
            row.seq,
            row.set.transfers.len() as i64,
            row.citizens[0],
            row.citizens[1],
            cause,
            partner_id,
            reference,
            now,
            legs,
        ])?;
    }
    let mut accounts = tx.prepare_cached(
        "INSERT INTO accounts (user_id, kind, debits, credits) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, kind) DO UPDATE SET debits = debits + excluded.debits, credits = credits + excluded.credits",
    )?;
    for (account, added) in book.changes() {
        accounts.execute(params![account.owner.id(), account.kind.as_str(), added.debits, added.credits])?;
    }
    Ok(book)
}

/// Posts `sets` inside a PostgreSQL transaction that holds the ledger's
/// lock, at time `now`, set-wise: at most one statement to load the
/// accounts a rule needs, one to number the transfers, one `COPY` for the
/// journal and one upsert for the accounts. Returns the book (what changed).
pub(crate) async fn post_postgres(
    db: &mut PgConnection,
    _locked: &LedgerLocked,
    sets: &[PostingSet],
    now: &str,
) -> Result<Book, PostFailure<sqlx::Error>> {
    if sets.is_empty() {
        return Ok(Book::new());
    }
    let to_load: Vec<AccountRef> = to_load(sets).into_iter().collect();
    let mut loaded = Vec::with_capacity(to_load.len());
    if !to_load.is_empty() {
        let owners: Vec<i64> = to_load.iter().map(|a| a.owner.id()).collect();
        let kinds: Vec<&str> = to_load.iter().map(|a| a.kind.as_str()).collect();
        let found: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT k.n, a.debits, a.credits
             FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS k(user_id, kind, n)
             JOIN accounts a ON a.user_id = k.user_id AND a.kind = k.kind",
        )
        .bind(&owners)
        .bind(&kinds)
        .fetch_all(&mut *db)
        .await?;
        loaded.extend(
            found.into_iter().map(|(n, debits, credits)| (to_load[(n - 1) as usize], Totals { debits, credits })),
        );
    }
    let lookups = causes_to_look_up(sets);
    let mut posted = Vec::new();
    if !lookups.is_empty() {
        let kinds: Vec<&str> = lookups.iter().map(|c| c.kind_str()).collect();
        let references: Vec<&str> = lookups.iter().map(|c| c.columns().2).collect();
        let found: Vec<i64> = sqlx::query_scalar(
            "SELECT k.n FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(cause, cause_ref, n)
             JOIN postings p ON p.cause = k.cause AND p.cause_ref = k.cause_ref AND p.cause <> 'event'",
        )
        .bind(&kinds)
        .bind(&references)
        .fetch_all(&mut *db)
        .await?;
        posted = found.into_iter().map(|n| lookups[(n - 1) as usize].clone()).collect();
    }
    let book = apply(sets, to_load.len(), loaded, posted)?;

    let count = transfer_count(sets);
    let last: i64 =
        sqlx::query_scalar("UPDATE sequences SET value = value + $1 WHERE name = 'transfers' RETURNING value")
            .bind(count)
            .fetch_one(&mut *db)
            .await?;
    let rows = journal_rows(sets, last - count + 1);
    let mut copy = CopyText::with_capacity(rows.len() * 256);
    let mut legs = String::with_capacity(256);
    for row in rows {
        let (cause, partner_id, reference) = row.set.cause.columns();
        copy.int(row.seq).int(row.set.transfers.len() as i64);
        for citizen in row.citizens {
            match citizen {
                Some(id) => copy.int(id),
                None => copy.null(),
            };
        }
        copy.text(cause);
        match partner_id {
            Some(partner_id) => copy.int(partner_id),
            None => copy.null(),
        };
        legs.clear();
        legs_json(row.set, &mut legs);
        copy.text(reference).text(now).text(&legs).end_row();
    }
    copy_in(
        db,
        "COPY postings (seq, transfers, citizen_a, citizen_b, cause, partner_id, cause_ref, at, legs) FROM STDIN",
        copy,
    )
    .await?;

    let changes = book.changes();
    sqlx::query(
        "INSERT INTO accounts (user_id, kind, debits, credits)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[])
         ON CONFLICT (user_id, kind)
         DO UPDATE SET debits = accounts.debits + excluded.debits, credits = accounts.credits + excluded.credits",
    )
    .bind(changes.keys().map(|a| a.owner.id()).collect::<Vec<_>>())
    .bind(changes.keys().map(|a| a.kind.as_str()).collect::<Vec<_>>())
    .bind(changes.values().map(|t| t.debits).collect::<Vec<_>>())
    .bind(changes.values().map(|t| t.credits).collect::<Vec<_>>())
    .execute(&mut *db)
    .await?;
    Ok(book)
}

#[cfg(test)]
mod tests {
    use canopy_core::ledger::{AccountKind, Transfer, TransferKind, Unit};

    use super::*;
    use crate::writer::open_writer_connection;
    use crate::Store;

    /// A citizen paying `amount` g of energy (still in their balls) back for redemption `id`.
    fn redeem(id: &str, user_id: i64, amount: i64) -> PostingSet {
        PostingSet {
            cause: Cause::Redemption { id: id.into() },
            transfers: vec![Transfer {
                kind: TransferKind::EnergyIssued,
                debit: AccountRef::citizen(user_id, AccountKind::Balls),
                credit: AccountRef::system(AccountKind::EnergyIssuance),
                amount,
                unit: Unit::GramsEnergy,
            }],
        }
    }

    #[tokio::test]
    async fn the_sqlite_path_checks_stored_balances_and_causes() {
        let dir = std::env::temp_dir().join(format!("canopy-postings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("postings.db");
        let _ = std::fs::remove_file(&path);
        let store = Store::open(&format!("sqlite://{}", path.display())).await.unwrap();
        store.close().await;
        let mut connection = open_writer_connection(path.to_str().unwrap()).unwrap();
        let mut post = |sets: &[PostingSet]| {
            let tx = connection.transaction().unwrap();
            let result = post_sqlite(&tx, sets, "2026-01-01T00:00:00.000000Z").map(|_| ());
            if result.is_ok() {
                tx.commit().unwrap();
            }
            result
        };
        post(&[PostingSet::credit(1, "e-1", 5, 100)]).unwrap();
        // The balance is read from the database, not assumed.
        let overdraw = post(&[redeem("r-1", 5, 101)]).unwrap_err();
        assert!(
            matches!(overdraw, PostFailure::Ledger(PostingError::WouldGoNegative { balance: -1, .. })),
            "{overdraw}"
        );
        post(&[redeem("r-1", 5, 60)]).unwrap();
        // A cause posted in an earlier transaction posts no second set.
        let again = post(&[redeem("r-1", 5, 10)]).unwrap_err();
        assert!(matches!(again, PostFailure::Ledger(PostingError::AlreadyPosted { .. })), "{again}");
        // And nothing refused was numbered: the journal is 1..3.
        let seqs: Vec<i64> = {
            let mut statement = connection.prepare("SELECT seq FROM transfers ORDER BY seq").unwrap();
            statement.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        };
        assert_eq!(seqs, [1, 2, 3]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn journal_rows_number_sets_in_order_and_share_their_first_seq() {
        let sets = [PostingSet::credit(1, "a", 5, 10), PostingSet::credit(1, "b", 6, 20)];
        let rows = journal_rows(&sets, 41);
        let numbered: Vec<(i64, [Option<i64>; 2])> = rows.iter().map(|r| (r.seq, r.citizens)).collect();
        assert_eq!(numbered, [(41, [Some(5), None]), (43, [Some(6), None])]);
        assert_eq!(transfer_count(&sets), 4);
        assert!(to_load(&sets).is_empty(), "a credit debits only issuance, which may go negative");
        assert_eq!(
            to_load(&[redeem("r", 5, 1)]).into_iter().collect::<Vec<_>>(),
            [AccountRef::citizen(5, AccountKind::Balls)]
        );
        let mut legs = String::new();
        legs_json(&sets[0], &mut legs);
        assert_eq!(
            legs,
            r#"[["reduction_verified",0,"reduction_issuance",5,"reduction",10,"g_co2e"],["energy_issued",0,"energy_issuance",5,"balls",10,"g_energy"]]"#
        );
    }
}
