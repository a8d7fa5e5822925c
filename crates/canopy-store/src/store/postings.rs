//! The one path by which posting sets reach the journal, per store.
//!
//! A writer of postings (ingestion now; games and redemptions later) hands
//! a slice of [`PostingSet`]s to [`post_sqlite`] or [`post_postgres`] inside
//! its own transaction. The path loads the totals of every account the sets
//! touch, applies the sets through the core's [`Book`] (so the rules —
//! positive amounts, one unit per account, no citizen below zero, a cause
//! posts once, no overflow — are the core's, not the SQL's), then numbers
//! the transfers from the journal's counter row and writes the journal rows
//! and the account totals. Nothing is written if any set is refused.
//!
//! Sequence numbers are global and gap-free in commit order: the counter is
//! a row (`sequences.transfers`) updated in the writing transaction, so a
//! rollback returns its numbers, and writers take turns — on SQLite through
//! the single write lock (`BEGIN IMMEDIATE`), on PostgreSQL through the
//! ledger's advisory lock, which [`lock_ledger`] takes and every caller must
//! hold ([`LedgerLocked`] is the proof).

use std::collections::BTreeSet;

use canopy_core::ledger::{AccountKind, AccountRef, Book, Cause, Owner, PostingError, PostingSet, Totals};
use rusqlite::{params, OptionalExtension};
use sqlx::PgConnection;

use crate::pg_copy::{copy_in, CopyText};

/// The advisory lock every PostgreSQL writer of postings (and every
/// ingestion group) holds until it commits: the ASCII of "canopy" and a 1.
const LEDGER_LOCK: i64 = 0x63_61_6e_6f_70_79_01;

/// Why posting failed: the ledger refused a set, or the database failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PostFailure<E> {
    /// The core refused a set (nothing was written).
    #[error(transparent)]
    Ledger(#[from] PostingError),
    /// The database failed.
    #[error("{0}")]
    Storage(E),
}

impl From<rusqlite::Error> for PostFailure<rusqlite::Error> {
    fn from(error: rusqlite::Error) -> Self {
        PostFailure::Storage(error)
    }
}

impl From<sqlx::Error> for PostFailure<sqlx::Error> {
    fn from(error: sqlx::Error) -> Self {
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

/// Every account the sets touch, in key order (so that concurrent writers
/// of account rows lock them in one order).
fn touched(sets: &[PostingSet]) -> BTreeSet<AccountRef> {
    sets.iter().flat_map(|s| &s.transfers).flat_map(|t| [t.debit, t.credit]).collect()
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
    let mut book = Book::with_capacity(accounts, sets.len());
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

/// One journal row: (seq, posting, the set, the transfer).
type JournalRow<'a> = (i64, i64, &'a PostingSet, &'a canopy_core::ledger::Transfer);

/// The journal rows of `sets`, numbered from `first_seq` in order.
fn journal_rows(sets: &[PostingSet], first_seq: i64) -> Vec<JournalRow<'_>> {
    let mut rows = Vec::with_capacity(sets.iter().map(|s| s.transfers.len()).sum());
    let mut seq = first_seq;
    for set in sets {
        let posting = seq;
        for transfer in &set.transfers {
            rows.push((seq, posting, set, transfer));
            seq += 1;
        }
    }
    rows
}

fn transfer_count(sets: &[PostingSet]) -> i64 {
    sets.iter().map(|s| s.transfers.len() as i64).sum()
}

fn kind_of(text: &str) -> AccountKind {
    // Account rows are only ever written through this path, from core kinds.
    AccountKind::parse(text).unwrap_or_else(|| panic!("unknown account kind `{text}` in the accounts table"))
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
    let touched = touched(sets);
    let mut loaded = Vec::with_capacity(touched.len());
    {
        let mut load = tx.prepare_cached("SELECT debits, credits FROM accounts WHERE user_id = ?1 AND kind = ?2")?;
        for &account in &touched {
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
        let mut exists = tx.prepare_cached(
            "SELECT 1 FROM transfers WHERE cause = ?1 AND cause_ref = ?2 AND seq = posting AND cause <> 'event'",
        )?;
        for cause in causes_to_look_up(sets) {
            let (kind, _, reference) = cause.columns();
            if exists.exists(params![kind, reference])? {
                posted.push(cause.clone());
            }
        }
    }
    let book = apply(sets, touched.len(), loaded, posted)?;

    let count = transfer_count(sets);
    let last: i64 = tx
        .prepare_cached("UPDATE sequences SET value = value + ?1 WHERE name = 'transfers' RETURNING value")?
        .query_row(params![count], |r| r.get(0))?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO transfers (seq, posting, kind, debit_owner, debit_account, credit_owner, credit_account,
                                amount, unit, cause, partner_id, cause_ref, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for (seq, posting, set, t) in journal_rows(sets, last - count + 1) {
        let (cause, partner_id, reference) = set.cause.columns();
        insert.execute(params![
            seq,
            posting,
            t.kind.as_str(),
            t.debit.owner.id(),
            t.debit.kind.as_str(),
            t.credit.owner.id(),
            t.credit.kind.as_str(),
            t.amount,
            t.unit.as_str(),
            cause,
            partner_id,
            reference,
            now,
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
/// lock, at time `now`, set-wise: one statement to load the accounts, one
/// to number the transfers, one `COPY` for the journal and one upsert for
/// the accounts. Returns the book (what changed).
pub(crate) async fn post_postgres(
    db: &mut PgConnection,
    _locked: &LedgerLocked,
    sets: &[PostingSet],
    now: &str,
) -> Result<Book, PostFailure<sqlx::Error>> {
    if sets.is_empty() {
        return Ok(Book::new());
    }
    let accounts: Vec<AccountRef> = touched(sets).into_iter().collect();
    let owners: Vec<i64> = accounts.iter().map(|a| a.owner.id()).collect();
    let kinds: Vec<&str> = accounts.iter().map(|a| a.kind.as_str()).collect();
    let found: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT a.user_id, a.kind, a.debits, a.credits
         FROM unnest($1::bigint[], $2::text[]) AS k(user_id, kind)
         JOIN accounts a ON a.user_id = k.user_id AND a.kind = k.kind",
    )
    .bind(&owners)
    .bind(&kinds)
    .fetch_all(&mut *db)
    .await?;
    let loaded = found.into_iter().map(|(owner, kind, debits, credits)| {
        (AccountRef { owner: Owner::from_id(owner), kind: kind_of(&kind) }, Totals { debits, credits })
    });
    let lookups = causes_to_look_up(sets);
    let mut posted = Vec::new();
    if !lookups.is_empty() {
        let kinds: Vec<&str> = lookups.iter().map(|c| c.kind_str()).collect();
        let references: Vec<&str> = lookups.iter().map(|c| c.columns().2).collect();
        let found: Vec<i64> = sqlx::query_scalar(
            "SELECT k.n FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(cause, cause_ref, n)
             JOIN transfers t ON t.cause = k.cause AND t.cause_ref = k.cause_ref
              AND t.seq = t.posting AND t.cause <> 'event'",
        )
        .bind(&kinds)
        .bind(&references)
        .fetch_all(&mut *db)
        .await?;
        posted = found.into_iter().map(|n| lookups[(n - 1) as usize].clone()).collect();
    }
    let book = apply(sets, accounts.len(), loaded, posted)?;

    let count = transfer_count(sets);
    let last: i64 =
        sqlx::query_scalar("UPDATE sequences SET value = value + $1 WHERE name = 'transfers' RETURNING value")
            .bind(count)
            .fetch_one(&mut *db)
            .await?;
    let rows = journal_rows(sets, last - count + 1);
    let mut copy = CopyText::with_capacity(rows.len() * 128);
    for (seq, posting, set, t) in rows {
        let (cause, partner_id, reference) = set.cause.columns();
        copy.int(seq).int(posting).text(t.kind.as_str());
        copy.int(t.debit.owner.id()).text(t.debit.kind.as_str());
        copy.int(t.credit.owner.id()).text(t.credit.kind.as_str());
        copy.int(t.amount).text(t.unit.as_str()).text(cause);
        match partner_id {
            Some(partner_id) => copy.int(partner_id),
            None => copy.null(),
        };
        copy.text(reference).text(now).end_row();
    }
    copy_in(
        db,
        "COPY transfers (seq, posting, kind, debit_owner, debit_account, credit_owner, credit_account, amount, unit,
                         cause, partner_id, cause_ref, at) FROM STDIN",
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
    use canopy_core::ledger::{Transfer, TransferKind, Unit};

    use super::*;
    use crate::writer::open_writer_connection;
    use crate::Store;

    /// A citizen paying `amount` g of energy back for redemption `id`.
    fn redeem(id: &str, user_id: i64, amount: i64) -> PostingSet {
        PostingSet {
            cause: Cause::Redemption { id: id.into() },
            transfers: vec![Transfer {
                kind: TransferKind::EnergyIssued,
                debit: AccountRef::citizen(user_id, AccountKind::Energy),
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
        let numbered: Vec<(i64, i64, i64)> =
            rows.iter().map(|(seq, posting, _, t)| (*seq, *posting, t.amount)).collect();
        assert_eq!(numbered, [(41, 41, 10), (42, 41, 10), (43, 43, 20), (44, 43, 20)]);
        assert_eq!(transfer_count(&sets), 4);
        assert_eq!(touched(&sets).len(), 6, "two issuance accounts and two per citizen");
    }
}
