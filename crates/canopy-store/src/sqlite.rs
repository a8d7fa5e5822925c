//! The store over embedded SQLite.

use std::str::FromStr;
use std::time::Duration;

use canopy_core::types::CategorySet;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Row;

use crate::{
    format_time, parse_time, Balances, ConsentRow, LedgerEntryRow, LedgerEventRow, NewUser, PartnerRow,
    PublishedMethodology, StoreError, StoreResult, UserRow,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits for SQLite's write lock before giving up.
const BUSY_TIMEOUT_MS: u64 = 5_000;
/// Reader connections (WAL lets readers run beside the one writer).
const READ_CONNECTIONS_MAX: u32 = 8;

/// The store. Cheap to clone: it holds connection pools.
#[derive(Clone, Debug)]
pub struct Store {
    /// Readers.
    pub(crate) read: SqlitePool,
    /// The single writer connection: SQLite takes one writer at a time, so
    /// queueing writers here is cheaper than letting them spin on the lock.
    pub(crate) write: SqlitePool,
    url: String,
    /// The database file, for the ingestion writer's own connection.
    path: String,
}

impl Store {
    /// Opens (creating if needed) the database at `url` without migrating.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| StoreError::UnsupportedUrl(crate::redact_url(url)))?;
        let file = path.split('?').next().unwrap_or(path);
        if file == ":memory:" || file.is_empty() {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        }
        {
            if let Some(parent) = std::path::Path::new(file).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        StoreError::Database(sqlx::Error::Configuration(
                            format!("cannot create the directory {}: {e}", parent.display()).into(),
                        ))
                    })?;
                }
            }
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk (the WAL is fsynced) before the
            // writer answers, which is what "acknowledged" means here.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
            .foreign_keys(true)
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS_MAX)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.read_only(true))
            .await;
        // A read-only connection cannot open a database whose WAL does not
        // exist yet; the writer has created it by now, so retry once.
        let read = match read {
            Ok(pool) => pool,
            Err(_) => {
                SqlitePoolOptions::new()
                    .max_connections(READ_CONNECTIONS_MAX)
                    .connect_with(
                        SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
                            .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
                            .pragma("query_only", "1"),
                    )
                    .await?
            }
        };
        Ok(Store { read, write, url: url.to_owned(), path: file.to_owned() })
    }

    /// Opens the database and applies pending migrations.
    pub async fn open(url: &str) -> StoreResult<Store> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens a database that must exist already (for inspection commands
    /// such as `ledger verify`, where a mistyped path must not pass as an
    /// empty, sound ledger).
    pub async fn open_existing(url: &str) -> StoreResult<Store> {
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or("");
        let file = path.split('?').next().unwrap_or(path);
        if !file.is_empty() && !std::path::Path::new(file).is_file() {
            return Err(StoreError::Missing(file.to_owned()));
        }
        Store::open(url).await
    }

    /// Applies pending migrations (safe to re-run).
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.write).await?;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The URL the store was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes the pools, waiting for connections to finish.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    // --- citizens and sessions -------------------------------------------

    /// Registers a citizen.
    pub async fn create_user(&self, user: &NewUser, now: DateTime<Utc>) -> StoreResult<UserRow> {
        let result = sqlx::query(
            "INSERT INTO users (username, password_hash, display_name, region, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(&user.display_name)
        .bind(&user.region)
        .bind(format_time(now))
        .fetch_one(&self.write)
        .await;
        match result {
            Ok(row) => Ok(UserRow {
                id: row.get(0),
                username: user.username.clone(),
                password_hash: user.password_hash.clone(),
                display_name: user.display_name.clone(),
                region: user.region.clone(),
                created_at: now,
            }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// A citizen by username.
    pub async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRow>> {
        let row = sqlx::query(
            "SELECT id, username, password_hash, display_name, region, created_at FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| user_from_row(&r)))
    }

    /// A citizen by id.
    pub async fn user_by_id(&self, id: i64) -> StoreResult<Option<UserRow>> {
        let row = sqlx::query(
            "SELECT id, username, password_hash, display_name, region, created_at FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| user_from_row(&r)))
    }

    /// Stores a session under the hash of its token.
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user_id)
            .bind(format_time(now))
            .bind(format_time(expires_at))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// The citizen behind an unexpired session.
    pub async fn session_user(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<i64>> {
        let row = sqlx::query("SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash)
            .bind(format_time(now))
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    // --- partners ------------------------------------------------------------

    /// Creates a partner.
    pub async fn create_partner(
        &self,
        name: &str,
        categories: CategorySet,
        secret: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<PartnerRow> {
        let row = sqlx::query(
            "INSERT INTO partners (name, categories, secret, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(categories.mask())
        .bind(secret)
        .bind(format_time(now))
        .fetch_one(&self.write)
        .await?;
        Ok(PartnerRow { id: row.get(0), name: name.to_owned(), categories, secret: secret.to_owned(), created_at: now })
    }

    /// A partner by id.
    pub async fn partner(&self, id: i64) -> StoreResult<Option<PartnerRow>> {
        let row = sqlx::query("SELECT id, name, categories, secret, created_at FROM partners WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(partner_from_row))
    }

    /// Every partner, oldest first.
    pub async fn partners(&self) -> StoreResult<Vec<PartnerRow>> {
        let rows = sqlx::query("SELECT id, name, categories, secret, created_at FROM partners ORDER BY id")
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(partner_from_row).collect())
    }

    /// Remembers a request signature until `expires_at` (unix seconds);
    /// false if it was seen already (a replay).
    pub async fn remember_signature(&self, partner_id: i64, signature: &str, expires_at: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO request_signatures (signature, partner_id, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (signature) DO NOTHING",
        )
        .bind(signature)
        .bind(partner_id)
        .bind(expires_at)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    // --- consent -------------------------------------------------------------

    /// Grants (or re-grants, replacing the scopes) a partner consent, and
    /// stores a single-use link code for it.
    pub async fn grant_consent(
        &self,
        user_id: i64,
        partner_id: i64,
        scopes: CategorySet,
        code_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO consents (user_id, partner_id, scopes, granted_at, revoked_at) VALUES ($1, $2, $3, $4, NULL)
             ON CONFLICT (user_id, partner_id) DO UPDATE SET scopes = excluded.scopes,
                 granted_at = excluded.granted_at, revoked_at = NULL",
        )
        .bind(user_id)
        .bind(partner_id)
        .bind(scopes.mask())
        .bind(format_time(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO link_codes (code_hash, user_id, partner_id, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(code_hash)
            .bind(user_id)
            .bind(partner_id)
            .bind(format_time(expires_at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A citizen's consents, active and revoked.
    pub async fn consents(&self, user_id: i64) -> StoreResult<Vec<ConsentRow>> {
        let rows = sqlx::query(
            "SELECT c.partner_id, p.name, c.scopes, c.granted_at, c.revoked_at,
                    EXISTS (SELECT 1 FROM partner_links l WHERE l.user_id = c.user_id AND l.partner_id = c.partner_id)
             FROM consents c JOIN partners p ON p.id = c.partner_id
             WHERE c.user_id = $1 ORDER BY c.partner_id",
        )
        .bind(user_id)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ConsentRow {
                partner_id: r.get(0),
                partner_name: r.get(1),
                scopes: CategorySet::from_mask(r.get(2)),
                granted_at: parse_time(r.get::<&str, _>(3)),
                revoked_at: r.get::<Option<&str>, _>(4).map(parse_time),
                linked: r.get::<i64, _>(5) != 0,
            })
            .collect())
    }

    /// Revokes a consent at once; false if there was no active consent.
    pub async fn revoke_consent(&self, user_id: i64, partner_id: i64, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE consents SET revoked_at = $3 WHERE user_id = $1 AND partner_id = $2 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(partner_id)
        .bind(format_time(now))
        .execute(&mut *tx)
        .await?;
        // Outstanding link codes die with the consent.
        sqlx::query("UPDATE link_codes SET used_at = $3 WHERE user_id = $1 AND partner_id = $2 AND used_at IS NULL")
            .bind(user_id)
            .bind(partner_id)
            .bind(format_time(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Spends a link code: binds the partner's `user_ref` to the citizen who
    /// issued the code. Returns the citizen's id.
    pub async fn use_link_code(
        &self,
        partner_id: i64,
        code_hash: &str,
        user_ref: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(
            "UPDATE link_codes SET used_at = $3
             WHERE code_hash = $1 AND partner_id = $2 AND used_at IS NULL AND expires_at > $3
             RETURNING user_id",
        )
        .bind(code_hash)
        .bind(partner_id)
        .bind(format_time(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            // The contract: a used or expired code is `link_code_invalid`,
            // even when a partner retries the very link it made.
            return Err(StoreError::LinkCodeInvalid);
        };
        let user_id: i64 = row.get(0);
        let existing = sqlx::query("SELECT user_ref FROM partner_links WHERE partner_id = $1 AND user_id = $2")
            .bind(partner_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(existing) = existing {
            let existing: String = existing.get(0);
            if existing != user_ref {
                return Err(StoreError::LinkConflict(format!(
                    "this citizen is already linked to your user_ref `{existing}`"
                )));
            }
        } else {
            let owner = sqlx::query("SELECT user_id FROM partner_links WHERE partner_id = $1 AND user_ref = $2")
                .bind(partner_id)
                .bind(user_ref)
                .fetch_optional(&mut *tx)
                .await?;
            if owner.is_some() {
                return Err(StoreError::LinkConflict(format!(
                    "your user_ref `{user_ref}` is already linked to another citizen"
                )));
            }
            sqlx::query("INSERT INTO partner_links (partner_id, user_ref, user_id, linked_at) VALUES ($1, $2, $3, $4)")
                .bind(partner_id)
                .bind(user_ref)
                .bind(user_id)
                .bind(format_time(now))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(user_id)
    }

    /// Deletes what has expired: sessions, link codes a day past expiry and
    /// request signatures past their replay window. Returns rows deleted.
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut deleted = 0;
        deleted += sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(format_time(now))
            .execute(&self.write)
            .await?
            .rows_affected();
        deleted += sqlx::query("DELETE FROM link_codes WHERE expires_at <= $1")
            .bind(format_time(now - chrono::Duration::days(1)))
            .execute(&self.write)
            .await?
            .rows_affected();
        deleted += sqlx::query("DELETE FROM request_signatures WHERE expires_at < $1")
            .bind(now.timestamp())
            .execute(&self.write)
            .await?
            .rows_affected();
        Ok(deleted)
    }

    // --- methodologies -------------------------------------------------------

    /// Every published methodology, in publication order.
    pub async fn published_methodologies(&self) -> StoreResult<Vec<PublishedMethodology>> {
        let rows = sqlx::query(
            "SELECT id, version, source_name, source_text, origin FROM methodologies ORDER BY published_at, id, version",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .iter()
            .map(|r| PublishedMethodology {
                id: r.get(0),
                version: r.get(1),
                source_name: r.get(2),
                source_text: r.get(3),
                origin: r.get(4),
            })
            .collect())
    }

    /// Records a published methodology. Publishing the same text again is a
    /// no-op; other text under the same id and version is refused.
    pub async fn publish_methodology(&self, m: &PublishedMethodology, now: DateTime<Utc>) -> StoreResult<bool> {
        let existing = sqlx::query("SELECT source_text FROM methodologies WHERE id = $1 AND version = $2")
            .bind(&m.id)
            .bind(&m.version)
            .fetch_optional(&self.write)
            .await?;
        if let Some(existing) = existing {
            let text: String = existing.get(0);
            return if text == m.source_text {
                Ok(false)
            } else {
                Err(StoreError::MethodologyVersionExists(format!("{}@{}", m.id, m.version)))
            };
        }
        sqlx::query(
            "INSERT INTO methodologies (id, version, source_name, source_text, origin, published_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&m.id)
        .bind(&m.version)
        .bind(&m.source_name)
        .bind(&m.source_text)
        .bind(&m.origin)
        .bind(format_time(now))
        .execute(&self.write)
        .await?;
        Ok(true)
    }

    // --- ledger --------------------------------------------------------------

    /// A citizen's balances.
    pub async fn balances(&self, user_id: i64) -> StoreResult<Balances> {
        let rows = sqlx::query("SELECT kind, credits - debits FROM accounts WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&self.read)
            .await?;
        let mut balances = Balances::default();
        for row in rows {
            match row.get::<&str, _>(0) {
                "reduction" => balances.reduction_grams = row.get(1),
                "energy" => balances.energy_grams = row.get(1),
                _ => {}
            }
        }
        Ok(balances)
    }

    /// A page of a citizen's ledger, newest first: entries with id below
    /// `before` (all if `None`), at most `limit`.
    pub async fn ledger_page(&self, user_id: i64, before: Option<i64>, limit: u32) -> StoreResult<Vec<LedgerEntryRow>> {
        let rows = sqlx::query(
            "SELECT t.id, t.at, t.kind, t.grams, t.credit_user, t.credit_account, t.debit_account,
                    e.partner_id, e.event_id, e.behavior, e.occurred_at, e.region, e.inputs, e.methodology, p.name
             FROM transfers t
             LEFT JOIN events e ON e.partner_id = t.partner_id AND e.event_id = t.event_id
             LEFT JOIN partners p ON p.id = e.partner_id
             WHERE t.user_id = $1 AND t.id < $2
             ORDER BY t.id DESC LIMIT $3",
        )
        .bind(user_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let incoming = r.get::<i64, _>(4) == user_id;
                let grams: i64 = r.get(3);
                let event = r.get::<Option<i64>, _>(7).map(|partner_id| LedgerEventRow {
                    partner_id,
                    partner_name: r.get(14),
                    event_id: r.get(8),
                    behavior: r.get(9),
                    occurred_at: parse_time(r.get::<&str, _>(10)),
                    region: r.get(11),
                    inputs: serde_json::from_str(r.get::<&str, _>(12)).unwrap_or_default(),
                    methodology: r.get(13),
                });
                LedgerEntryRow {
                    id: r.get(0),
                    at: parse_time(r.get::<&str, _>(1)),
                    kind: r.get(2),
                    account: if incoming { r.get(5) } else { r.get(6) },
                    grams: if incoming { grams } else { -grams },
                    event,
                }
            })
            .collect())
    }

    /// Checks the ledger's invariants and returns every violation found (an
    /// empty list means the ledger is sound).
    pub async fn verify_ledger(&self) -> StoreResult<Vec<String>> {
        let mut problems = Vec::new();
        let totals = sqlx::query("SELECT COALESCE(SUM(debits), 0), COALESCE(SUM(credits), 0) FROM accounts")
            .fetch_one(&self.read)
            .await?;
        let (debits, credits): (i64, i64) = (totals.get(0), totals.get(1));
        if debits != credits {
            problems.push(format!("total debits {debits} g differ from total credits {credits} g"));
        }
        // Every account's stored debits and credits equal the sums of its transfers.
        let mismatches = sqlx::query(
            "WITH moves AS (
                 SELECT credit_user AS user_id, credit_account AS kind, 0 AS debits, grams AS credits FROM transfers
                 UNION ALL
                 SELECT debit_user, debit_account, grams, 0 FROM transfers),
             sums AS (SELECT user_id, kind, SUM(debits) AS debits, SUM(credits) AS credits FROM moves GROUP BY user_id, kind),
             joined AS (
                 SELECT a.user_id, a.kind, a.debits AS stored_debits, a.credits AS stored_credits,
                        COALESCE(s.debits, 0) AS debits, COALESCE(s.credits, 0) AS credits
                 FROM accounts a LEFT JOIN sums s ON s.user_id = a.user_id AND s.kind = a.kind
                 UNION ALL
                 SELECT s.user_id, s.kind, 0, 0, s.debits, s.credits
                 FROM sums s WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.user_id = s.user_id AND a.kind = s.kind))
             SELECT user_id, kind, stored_debits, stored_credits, debits, credits FROM joined
             WHERE stored_debits <> debits OR stored_credits <> credits LIMIT 100",
        )
        .fetch_all(&self.read)
        .await?;
        for r in mismatches {
            problems.push(format!(
                "account {}:{} stores debits {} / credits {} but its transfers sum to {} / {}",
                r.get::<i64, _>(0),
                r.get::<&str, _>(1),
                r.get::<i64, _>(2),
                r.get::<i64, _>(3),
                r.get::<i64, _>(4),
                r.get::<i64, _>(5)
            ));
        }
        let negative = sqlx::query(
            "SELECT user_id, kind, credits - debits FROM accounts
             WHERE kind IN ('reduction', 'energy') AND credits - debits < 0 LIMIT 100",
        )
        .fetch_all(&self.read)
        .await?;
        for r in negative {
            problems.push(format!(
                "citizen {} has a negative {} balance of {} g",
                r.get::<i64, _>(0),
                r.get::<&str, _>(1),
                r.get::<i64, _>(2)
            ));
        }
        // Every credit has its event, with the same citizen and grams.
        let orphans = sqlx::query(
            "SELECT t.id, t.kind, t.partner_id, t.event_id FROM transfers t
             LEFT JOIN events e ON e.partner_id = t.partner_id AND e.event_id = t.event_id
             WHERE t.kind IN ('reduction_verified', 'energy_issued')
               AND (e.event_id IS NULL OR e.user_id <> t.user_id OR e.grams <> t.grams) LIMIT 100",
        )
        .fetch_all(&self.read)
        .await?;
        for r in orphans {
            problems.push(format!(
                "transfer {} ({}) does not match an event: partner {:?}, event {:?}",
                r.get::<i64, _>(0),
                r.get::<&str, _>(1),
                r.get::<Option<i64>, _>(2),
                r.get::<Option<String>, _>(3)
            ));
        }
        // And every credited event was paid exactly once in each kind.
        let unpaid = sqlx::query(
            "WITH paid AS (
                 SELECT partner_id, event_id,
                        SUM(CASE WHEN kind = 'reduction_verified' THEN 1 ELSE 0 END) AS reductions,
                        SUM(CASE WHEN kind = 'energy_issued' THEN 1 ELSE 0 END) AS energies
                 FROM transfers WHERE event_id IS NOT NULL GROUP BY partner_id, event_id)
             SELECT e.partner_id, e.event_id, e.grams, COALESCE(p.reductions, 0), COALESCE(p.energies, 0)
             FROM events e LEFT JOIN paid p ON p.partner_id = e.partner_id AND p.event_id = e.event_id
             WHERE e.grams > 0 AND (COALESCE(p.reductions, 0) <> 1 OR COALESCE(p.energies, 0) <> 1)
             LIMIT 100",
        )
        .fetch_all(&self.read)
        .await?;
        for r in unpaid {
            problems.push(format!(
                "event {}/{} credited {} g but has {} reduction and {} energy transfers (expected 1 and 1)",
                r.get::<i64, _>(0),
                r.get::<&str, _>(1),
                r.get::<i64, _>(2),
                r.get::<i64, _>(3),
                r.get::<i64, _>(4)
            ));
        }
        Ok(problems)
    }

    /// Counts of stored rows, for the operator and the benchmarks.
    pub async fn counts(&self) -> StoreResult<(i64, i64)> {
        let row = sqlx::query("SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM transfers)")
            .fetch_one(&self.read)
            .await?;
        Ok((row.get(0), row.get(1)))
    }
}

fn partner_from_row(r: &sqlx::sqlite::SqliteRow) -> PartnerRow {
    PartnerRow {
        id: r.get(0),
        name: r.get(1),
        categories: CategorySet::from_mask(r.get(2)),
        secret: r.get(3),
        created_at: parse_time(r.get::<&str, _>(4)),
    }
}

fn user_from_row(r: &sqlx::sqlite::SqliteRow) -> UserRow {
    UserRow {
        id: r.get(0),
        username: r.get(1),
        password_hash: r.get(2),
        display_name: r.get(3),
        region: r.get(4),
        created_at: parse_time(r.get::<&str, _>(5)),
    }
}
