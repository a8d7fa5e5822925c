//! A citizen's own data (PIPL): the profile update, the tables an export
//! reads, page by page, and the erasure of an account.
//!
//! The export reads every table keyed by a citizen's id except the ledger's
//! `postings` (the service reads those through the ledger's own paging) and
//! `users` (the profile, read through [`Store::user_by_id`]); see
//! [`EXPORT_TABLES`]. Secrets are left out: password and token hashes,
//! link-code hashes.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::{Column, Row};

use super::{on_read, on_write, Store};
use crate::{format_time, StoreError, StoreResult};
use canopy_core::district::District;
use canopy_core::types::{DisplayName, RegionCode, Username};

/// One table of a citizen's data as the export reads it.
#[derive(Debug, Clone, Copy)]
pub struct ExportTable {
    /// The export's section name (the table's name).
    pub name: &'static str,
    /// Which of the table's rows are the citizen's (`$1` is the citizen's id).
    filter: &'static str,
    /// A total order of those rows, so that pages neither skip nor repeat.
    order: &'static str,
    /// Columns left out (secrets, never personal data of the citizen's own).
    omit: &'static [&'static str],
}

/// Every table keyed by a citizen's id that the export reads, in order:
/// sessions (times only), consents, link_codes (without the code hash),
/// partner_links (the partners' `user_ref`s), events (the acts partners
/// reported), act_fingerprints, cap_usage, accounts, balls, ball_takes,
/// waterings, idempotency_keys, friend_requests, friendships, blocks,
/// privacy, checkins, medals_awarded, challenge_members, challenge_teams
/// (the teams they created), redemptions
/// (certificates), voucher_codes, campaign_contributions, coplantings,
/// coplanting_shares, meters, energy_participants (participations and
/// invitations), energy_bills, energy_settlements, bill_vouchers.
pub const EXPORT_TABLES: &[ExportTable] = &[
    t("sessions", "user_id = $1", "created_at, expires_at", &["token_hash"]),
    t("consents", "user_id = $1", "partner_id", &[]),
    t("link_codes", "user_id = $1", "expires_at, partner_id", &["code_hash"]),
    t("partner_links", "user_id = $1", "partner_id, user_ref", &[]),
    t("events", "user_id = $1", "partner_id, event_id", &[]),
    t("act_fingerprints", "user_id = $1", "behavior, fingerprint", &[]),
    t("cap_usage", "user_id = $1", "behavior, period", &[]),
    t("accounts", "user_id = $1", "kind", &[]),
    t("balls", "user_id = $1", "id", &[]),
    t("ball_takes", "collector = $1", "ball_id", &[]),
    t("waterings", "giver = $1 OR friend = $1", "id", &[]),
    t("idempotency_keys", "user_id = $1", "key", &[]),
    t("friend_requests", "sender = $1 OR recipient = $1", "id", &[]),
    t("friendships", "user_id = $1", "friend_id", &[]),
    t("blocks", "blocker = $1", "blocked", &[]),
    t("privacy", "user_id = $1", "user_id", &[]),
    t("checkins", "user_id = $1", "date", &[]),
    t("medals_awarded", "user_id = $1", "medal_id, period_key", &[]),
    t("challenge_members", "user_id = $1", "challenge_id", &[]),
    t("challenge_teams", "created_by = $1", "id", &[]),
    t("redemptions", "user_id = $1", "id", &[]),
    t("voucher_codes", "used_by = $1 OR redemption_id IN (SELECT id FROM redemptions WHERE user_id = $1)", "code", &[]),
    t("campaign_contributions", "user_id = $1", "campaign_id, id", &[]),
    t("coplantings", "creator = $1", "id", &[]),
    t("coplanting_shares", "user_id = $1", "plan_id", &[]),
    t("meters", "user_id = $1", "id", &[]),
    t("energy_participants", "user_id = $1", "id", &[]),
    t("energy_bills", "user_id = $1", "month", &[]),
    t("energy_settlements", "user_id = $1", "id", &[]),
    t("bill_vouchers", "user_id = $1 OR used_by = $1", "id", &[]),
];

const fn t(
    name: &'static str,
    filter: &'static str,
    order: &'static str,
    omit: &'static [&'static str],
) -> ExportTable {
    ExportTable { name, filter, order, omit }
}

/// The largest page of one table an export reads at a time.
pub const EXPORT_PAGE_MAX: i64 = 1_000;

/// What an erased account's fields become.
#[derive(Debug, Clone)]
pub struct Erasure {
    /// The pseudonym that replaces the username (`deleted-…`).
    pub pseudonym: Username,
    /// The display name shown where the account still appears.
    pub display_name: DisplayName,
    /// A password hash no password matches.
    pub password_hash: String,
}

impl Store {
    /// Changes a citizen's display name and/or home place; false if there
    /// is no such citizen. The place is the region and the district written
    /// together (the caller checked the district against that region), so
    /// two changes at once leave one of the checked pairs, never a district
    /// of one and the region of the other.
    pub async fn update_profile(
        &self,
        user_id: i64,
        display_name: Option<&DisplayName>,
        place: Option<(&RegionCode, Option<&District>)>,
    ) -> StoreResult<bool> {
        let (region, district) = match place {
            Some((region, district)) => (Some(region.as_str().to_owned()), district.map(|d| d.code().to_owned())),
            None => (None, None),
        };
        let updated = on_write!(self, |db| {
            sqlx::query(
                "UPDATE users SET display_name = COALESCE($2, display_name),
                     region = CASE WHEN $3 THEN $4 ELSE region END,
                     district = CASE WHEN $3 THEN $5 ELSE district END
                 WHERE id = $1",
            )
            .bind(user_id)
            .bind(display_name.map(|d| d.as_str().to_owned()))
            .bind(place.is_some())
            .bind(region)
            .bind(district)
            .execute(db)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(updated == 1)
    }

    /// One page of a citizen's rows of `table` (at most
    /// [`EXPORT_PAGE_MAX`]), each row as column name → value (integers,
    /// booleans, text; NULL as null), in the table's export order.
    pub async fn export_page(
        &self,
        table: &ExportTable,
        user_id: i64,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<Map<String, Value>>> {
        let limit = limit.clamp(1, EXPORT_PAGE_MAX);
        // Table, filter and order are the constants above, never input.
        let sql =
            format!("SELECT * FROM {} WHERE {} ORDER BY {} LIMIT $2 OFFSET $3", table.name, table.filter, table.order);
        let rows = on_read!(self, |db| {
            let rows = sqlx::query(&sql).bind(user_id).bind(limit).bind(offset).fetch_all(db).await?;
            rows.iter()
                .map(|row| {
                    let mut record = Map::new();
                    for (i, column) in row.columns().iter().enumerate() {
                        if table.omit.contains(&column.name()) {
                            continue;
                        }
                        record.insert(column.name().to_owned(), any_value(row, i));
                    }
                    record
                })
                .collect::<Vec<_>>()
        });
        Ok(rows)
    }

    /// Erases a citizen at once, in one transaction: the username becomes
    /// the pseudonym, the display name a placeholder and the password hash
    /// one no password matches (the region, a province code, and the
    /// district stay for regional totals); every session, link code, partner link and consent
    /// goes, as do friendships, friend requests and blocks either way, and
    /// stored idempotent answers; the privacy becomes "nobody sees, nobody
    /// collects". The ledger (postings, events, balls, redemptions…) keeps
    /// every entry under the same account id. False if there is no such
    /// citizen.
    pub async fn erase_user(&self, user_id: i64, erasure: &Erasure, now: DateTime<Utc>) -> StoreResult<bool> {
        let result: Result<bool, sqlx::Error> = on_write!(self, |db| {
            async {
                let mut tx = db.begin().await?;
                let erased =
                    sqlx::query("UPDATE users SET username = $2, display_name = $3, password_hash = $4 WHERE id = $1")
                        .bind(user_id)
                        .bind(erasure.pseudonym.as_str())
                        .bind(erasure.display_name.as_str())
                        .bind(&erasure.password_hash)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                if erased != 1 {
                    return Ok(false);
                }
                for statement in [
                    "DELETE FROM sessions WHERE user_id = $1",
                    "DELETE FROM link_codes WHERE user_id = $1",
                    "DELETE FROM partner_links WHERE user_id = $1",
                    "DELETE FROM consents WHERE user_id = $1",
                    "DELETE FROM friendships WHERE user_id = $1 OR friend_id = $1",
                    "DELETE FROM friend_requests WHERE sender = $1 OR recipient = $1",
                    "DELETE FROM blocks WHERE blocker = $1 OR blocked = $1",
                    "DELETE FROM idempotency_keys WHERE user_id = $1",
                ] {
                    sqlx::query(statement).bind(user_id).execute(&mut *tx).await?;
                }
                sqlx::query(
                    "INSERT INTO privacy (user_id, forest, friends_may_collect, updated_at)
                     VALUES ($1, 'nobody', FALSE, $2)
                     ON CONFLICT (user_id) DO UPDATE SET forest = 'nobody', friends_may_collect = FALSE,
                         updated_at = excluded.updated_at",
                )
                .bind(user_id)
                .bind(format_time(now))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }
            .await
        });
        match result {
            Ok(erased) => Ok(erased),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }
}

/// A column's value whatever its type on either store.
fn any_value<R>(row: &R, i: usize) -> Value
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i32>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i16>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<bool>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return v.map_or(Value::Null, Value::from);
    }
    if let Ok(v) = row.try_get::<Option<i32>, _>(i) {
        return v.map_or(Value::Null, Value::from);
    }
    if let Ok(v) = row.try_get::<Option<i16>, _>(i) {
        return v.map_or(Value::Null, Value::from);
    }
    if let Ok(v) = row.try_get::<Option<bool>, _>(i) {
        return v.map_or(Value::Null, Value::from);
    }
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return v.map_or(Value::Null, Value::from);
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
        return v.map_or(Value::Null, Value::from);
    }
    Value::Null
}
