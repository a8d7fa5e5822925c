//! Year-on-year bill vouchers in storage. Issuing one and spending one move
//! fen, so both run in the writer: issuing reads the pool's balance, pays
//! what it can (never beyond it), credits the kWh decrease's reduction and
//! keeps the voucher in one transaction, once per household and month;
//! spending marks the code used by a participating shop before its expiry
//! and moves its value out of the citizen's vouchers in the same
//! transaction, so two tills cannot both take it.

use canopy_core::energy::bills::BillVouchers;
use canopy_core::ledger::{AccountKind, AccountRef, Cause, Owner, PostingSet, Transfer, TransferKind, Unit};
use canopy_core::redemption::voucher::VoucherRefusal;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use sqlx::PgConnection;

use super::balls::GameOutcome;
use super::postings::{post_postgres, post_sqlite, LedgerLocked, PostFailure};
use super::{on_read, Store};
use crate::{format_time, parse_time, StoreResult};

/// The most vouchers a citizen's list shows.
pub const BILL_VOUCHERS_LISTED_MAX: i64 = 200;

/// A voucher to issue for a household's month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillVoucherIssue {
    /// The household.
    pub user_id: i64,
    /// The program paying it.
    pub program_id: i64,
    /// Its pool (fen).
    pub pool_id: i64,
    /// The month (YYYY-MM).
    pub month: String,
    /// The code, should the pool pay anything.
    pub code: String,
    /// What the decrease earns, fen (the pool pays at most what it holds).
    pub earned_fen: i64,
    /// The bill's decrease, fen.
    pub decrease_fen: i64,
    /// The kWh decrease, Wh.
    pub decrease_wh: i64,
    /// The reduction it verifies, grams.
    pub carbon_grams: i64,
    /// The methodology that verified it.
    pub methodology: Option<String>,
    /// Until when it is valid.
    pub expires_at: DateTime<Utc>,
}

/// A shop spending a voucher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherSpend {
    /// The code.
    pub code: String,
    /// The shop (partner).
    pub merchant_id: i64,
}

/// A bill voucher as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BillVoucherRow {
    /// Its id.
    pub id: i64,
    /// Its code (none when the pool paid nothing).
    pub code: Option<String>,
    /// The household.
    pub user_id: i64,
    /// The program.
    pub program_id: i64,
    /// The month (YYYY-MM).
    pub month: String,
    /// Its value, fen.
    pub face_value_fen: i64,
    /// The bill's decrease, fen.
    pub decrease_fen: i64,
    /// The kWh decrease, Wh.
    pub decrease_wh: i64,
    /// The reduction verified, grams.
    pub carbon_grams: i64,
    /// The methodology that verified it.
    pub methodology: Option<String>,
    /// When it was issued (RFC 3339).
    pub issued_at: String,
    /// Until when it is valid (RFC 3339).
    pub expires_at: String,
    /// When a shop took it (RFC 3339).
    pub used_at: Option<String>,
    /// The shop.
    pub used_by: Option<i64>,
}

const COLUMNS: &str = "id, code, user_id, program_id, month, face_value_fen, decrease_fen, decrease_wh, carbon_grams,
    methodology, issued_at, expires_at, used_at, used_by";

impl BillVoucherIssue {
    fn set(&self, paid: i64) -> Option<PostingSet> {
        let mut transfers = Vec::new();
        if paid > 0 {
            transfers.push(Transfer {
                kind: TransferKind::BillVoucherIssued,
                debit: AccountRef { owner: Owner::Pool(self.pool_id), kind: AccountKind::PoolFen },
                credit: AccountRef::citizen(self.user_id, AccountKind::Vouchers),
                amount: paid,
                unit: Unit::Fen,
            });
        }
        if self.carbon_grams > 0 {
            transfers.push(Transfer {
                kind: TransferKind::ReductionVerified,
                debit: AccountRef::system(AccountKind::ReductionIssuance),
                credit: AccountRef::citizen(self.user_id, AccountKind::Reduction),
                amount: self.carbon_grams,
                unit: Unit::GramsCo2e,
            });
        }
        let cause = Cause::Settlement { id: format!("bill-u{}-{}", self.user_id, self.month) };
        (!transfers.is_empty()).then_some(PostingSet { cause, transfers })
    }

    fn issued(&self, id: i64, paid: i64, new: bool) -> GameOutcome {
        GameOutcome::BillVoucherIssued { voucher_id: id, face_value_fen: paid, carbon_grams: self.carbon_grams, new }
    }
}

fn spent(program_id: i64, face_value_fen: i64) -> GameOutcome {
    GameOutcome::VoucherSpent { program_id, face_value_fen }
}

fn refused(refusal: VoucherRefusal) -> GameOutcome {
    GameOutcome::Refused { code: refusal.code().to_owned(), message: refusal.to_string() }
}

fn spend_set(code: &str, user_id: i64, face_value_fen: i64) -> PostingSet {
    PostingSet::single(
        Cause::Settlement { id: format!("vch-{code}") },
        TransferKind::VoucherSpent,
        AccountRef::citizen(user_id, AccountKind::Vouchers),
        AccountRef::system(AccountKind::VouchersSpent),
        face_value_fen,
    )
}

/// Whether a stored voucher may be spent by `merchant_id` at `now`.
fn may_spend(
    rule: Option<&str>,
    used: bool,
    expires_at: &str,
    merchant_id: i64,
    now: DateTime<Utc>,
) -> Result<(), VoucherRefusal> {
    let rule: Option<BillVouchers> = rule.and_then(|text| serde_json::from_str(text).ok());
    if used {
        return Err(VoucherRefusal::Used);
    }
    if !rule.is_some_and(|r| r.merchants.contains(&merchant_id)) {
        return Err(VoucherRefusal::WrongMerchant);
    }
    if parse_time(expires_at) <= now {
        return Err(VoucherRefusal::Expired);
    }
    Ok(())
}

/// Issues a household's voucher (SQLite writer transaction).
pub(crate) fn issue_sqlite(
    tx: &rusqlite::Transaction<'_>,
    issue: &BillVoucherIssue,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<rusqlite::Error>> {
    let existing: Option<(i64, i64)> = tx
        .prepare_cached("SELECT id, face_value_fen FROM bill_vouchers WHERE user_id = ?1 AND month = ?2")?
        .query_row(params![issue.user_id, issue.month], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((id, paid)) = existing {
        return Ok(issue.issued(id, paid, false));
    }
    let balance: i64 = tx
        .prepare_cached("SELECT credits - debits FROM accounts WHERE user_id = ?1 AND kind = 'pool_fen'")?
        .query_row(params![issue.pool_id], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let paid = issue.earned_fen.min(balance.max(0));
    let now_text = format_time(now);
    if let Some(set) = issue.set(paid) {
        post_sqlite(tx, &[set], &now_text)?;
    }
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO bill_vouchers (code, user_id, program_id, month, face_value_fen, decrease_fen, decrease_wh,
                 carbon_grams, methodology, issued_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
        )?
        .query_row(
            params![
                (paid > 0).then_some(&issue.code),
                issue.user_id,
                issue.program_id,
                issue.month,
                paid,
                issue.decrease_fen,
                issue.decrease_wh,
                issue.carbon_grams,
                issue.methodology,
                now_text,
                format_time(issue.expires_at),
            ],
            |r| r.get(0),
        )?;
    Ok(issue.issued(id, paid, true))
}

/// Issues a household's voucher (PostgreSQL writer, under the ledger's lock).
pub(crate) async fn issue_postgres(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    issue: &BillVoucherIssue,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<sqlx::Error>> {
    let existing: Option<(i64, i64)> =
        sqlx::query_as("SELECT id, face_value_fen FROM bill_vouchers WHERE user_id = $1 AND month = $2")
            .bind(issue.user_id)
            .bind(&issue.month)
            .fetch_optional(&mut *db)
            .await?;
    if let Some((id, paid)) = existing {
        return Ok(issue.issued(id, paid, false));
    }
    let balance: Option<i64> =
        sqlx::query_scalar("SELECT credits - debits FROM accounts WHERE user_id = $1 AND kind = 'pool_fen'")
            .bind(issue.pool_id)
            .fetch_optional(&mut *db)
            .await?;
    let paid = issue.earned_fen.min(balance.unwrap_or(0).max(0));
    let now_text = format_time(now);
    if let Some(set) = issue.set(paid) {
        post_postgres(db, locked, &[set], &now_text).await?;
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO bill_vouchers (code, user_id, program_id, month, face_value_fen, decrease_fen, decrease_wh,
             carbon_grams, methodology, issued_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind((paid > 0).then_some(&issue.code))
    .bind(issue.user_id)
    .bind(issue.program_id)
    .bind(&issue.month)
    .bind(paid)
    .bind(issue.decrease_fen)
    .bind(issue.decrease_wh)
    .bind(issue.carbon_grams)
    .bind(&issue.methodology)
    .bind(&now_text)
    .bind(format_time(issue.expires_at))
    .fetch_one(&mut *db)
    .await?;
    Ok(issue.issued(id, paid, true))
}

type SpendTuple = (i64, i64, i64, Option<String>, String, Option<String>);

const SPEND_SELECT: &str = "SELECT v.user_id, v.program_id, v.face_value_fen, v.used_at, v.expires_at, g.bill_voucher
     FROM bill_vouchers v JOIN energy_programs g ON g.id = v.program_id WHERE v.code = $1";

/// A shop spends a voucher (SQLite writer transaction).
pub(crate) fn spend_sqlite(
    tx: &rusqlite::Transaction<'_>,
    spend: &VoucherSpend,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<rusqlite::Error>> {
    let found: Option<SpendTuple> = tx
        .prepare_cached(&SPEND_SELECT.replace('$', "?"))?
        .query_row(params![spend.code], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .optional()?;
    let Some((user_id, program_id, face, used_at, expires_at, rule)) = found else {
        return Ok(refused(VoucherRefusal::Unknown));
    };
    if let Err(refusal) = may_spend(rule.as_deref(), used_at.is_some(), &expires_at, spend.merchant_id, now) {
        return Ok(refused(refusal));
    }
    let now_text = format_time(now);
    post_sqlite(tx, &[spend_set(&spend.code, user_id, face)], &now_text)?;
    tx.prepare_cached("UPDATE bill_vouchers SET used_at = ?2, used_by = ?3 WHERE code = ?1")?.execute(params![
        spend.code,
        now_text,
        spend.merchant_id
    ])?;
    Ok(spent(program_id, face))
}

/// A shop spends a voucher (PostgreSQL writer, under the ledger's lock).
pub(crate) async fn spend_postgres(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    spend: &VoucherSpend,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<sqlx::Error>> {
    let found: Option<SpendTuple> =
        sqlx::query_as(&format!("{SPEND_SELECT} FOR UPDATE OF v")).bind(&spend.code).fetch_optional(&mut *db).await?;
    let Some((user_id, program_id, face, used_at, expires_at, rule)) = found else {
        return Ok(refused(VoucherRefusal::Unknown));
    };
    if let Err(refusal) = may_spend(rule.as_deref(), used_at.is_some(), &expires_at, spend.merchant_id, now) {
        return Ok(refused(refusal));
    }
    let now_text = format_time(now);
    post_postgres(db, locked, &[spend_set(&spend.code, user_id, face)], &now_text).await?;
    sqlx::query("UPDATE bill_vouchers SET used_at = $2, used_by = $3 WHERE code = $1")
        .bind(&spend.code)
        .bind(&now_text)
        .bind(spend.merchant_id)
        .execute(&mut *db)
        .await?;
    Ok(spent(program_id, face))
}

impl Store {
    /// A citizen's bill vouchers, newest month first.
    pub async fn bill_vouchers_of(&self, user_id: i64) -> StoreResult<Vec<BillVoucherRow>> {
        Ok(on_read!(self, |db| {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM bill_vouchers WHERE user_id = $1 ORDER BY month DESC LIMIT $2"
            ))
            .bind(user_id)
            .bind(BILL_VOUCHERS_LISTED_MAX)
            .fetch_all(db)
            .await
        })?)
    }

    /// A program's bill vouchers: (vouchers with a code, fen issued, fen spent, grams verified).
    pub async fn bill_voucher_totals(&self, program_id: i64) -> StoreResult<(i64, i64, i64, i64)> {
        Ok(on_read!(self, |db| {
            sqlx::query_as(
                "SELECT CAST(COUNT(code) AS BIGINT), CAST(COALESCE(SUM(face_value_fen), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN used_at IS NOT NULL THEN face_value_fen ELSE 0 END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(carbon_grams), 0) AS BIGINT)
                 FROM bill_vouchers WHERE program_id = $1",
            )
            .bind(program_id)
            .fetch_one(db)
            .await
        })?)
    }
}
