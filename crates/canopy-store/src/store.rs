//! The store over embedded SQLite or PostgreSQL.
//!
//! Both stores have the same tables and columns (see the two migration
//! directories), so every query below is one SQL text that runs on both:
//! `$n` placeholders, `ON CONFLICT`, `RETURNING`, integers cast to BIGINT
//! where PostgreSQL would widen them, timestamps as fixed-width RFC 3339 text.
//! [`on_read!`] and [`on_write!`] expand a body once per store, so the
//! compiler checks it against both drivers.

use std::str::FromStr;
use std::time::Duration;

use canopy_core::types::CategorySet;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::{
    format_time, parse_time, Balances, ConsentRow, LedgerEntryRow, LedgerEventRow, NewUser, PartnerRow,
    PublishedMethodology, StoreError, StoreResult, UserRow,
};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a connection waits for SQLite's write lock before giving up.
const BUSY_TIMEOUT_MS: u64 = 5_000;
/// Reader connections (WAL lets readers run beside the one writer).
const READ_CONNECTIONS_MAX: u32 = 8;
/// Connection limits and timeouts of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Connections to PostgreSQL per server process for HTTP reads and
    /// writes (the ingestion writer has one of its own).
    pub connections_max: u32,
    /// How long a request waits for a pooled connection before it is
    /// answered 503 `storage_busy` (pool exhaustion is an answer, not a hang).
    pub acquire_timeout: Duration,
    /// The longest one PostgreSQL statement, or one wait for a lock, may
    /// take before it is cancelled and answered 503 `storage_timeout`.
    pub statement_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            connections_max: 16,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(15),
        }
    }
}

/// The database behind a store.
#[derive(Clone, Debug)]
pub(crate) enum Pools {
    /// Embedded SQLite: readers, and the single writer connection (SQLite
    /// takes one writer at a time, so queueing writers here is cheaper than
    /// letting them spin on the lock).
    Sqlite { read: SqlitePool, write: SqlitePool, path: String },
    /// PostgreSQL: one pool for everything.
    Postgres { pool: PgPool },
}

/// Runs `$body` once per store with `$db` bound to the pool for reads.
macro_rules! on_read {
    ($store:expr, |$db:ident| $body:expr) => {
        match &$store.pools {
            Pools::Sqlite { read: $db, .. } => $body,
            Pools::Postgres { pool: $db } => $body,
        }
    };
}

/// Runs `$body` once per store with `$db` bound to the pool for writes.
macro_rules! on_write {
    ($store:expr, |$db:ident| $body:expr) => {
        match &$store.pools {
            Pools::Sqlite { write: $db, .. } => $body,
            Pools::Postgres { pool: $db } => $body,
        }
    };
}

pub(crate) use on_write;

/// The store. Cheap to clone: it holds connection pools.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pools: Pools,
    url: String,
    options: StoreOptions,
}

/// Which store a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://path`
    Sqlite,
    /// `postgres://…` or `postgresql://…`
    Postgres,
}

impl Backend {
    /// The store a database URL names, if Canopy can open it.
    pub fn of(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

impl Store {
    /// Opens the database at `url` without migrating (creating the file if
    /// it is SQLite and does not exist yet).
    pub async fn connect(url: &str) -> StoreResult<Store> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Opens the database at `url` with `options`, without migrating.
    pub async fn connect_with(url: &str, options: StoreOptions) -> StoreResult<Store> {
        let pools = match Backend::of(url) {
            Some(Backend::Sqlite) => Self::connect_sqlite(url).await?,
            Some(Backend::Postgres) => {
                let pool = PgPoolOptions::new()
                    .max_connections(options.connections_max)
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(postgres_options(url, "canopy", &options)?)
                    .await?;
                Pools::Postgres { pool }
            }
            None => return Err(StoreError::UnsupportedUrl(crate::redact_url(url))),
        };
        Ok(Store { pools, url: url.to_owned(), options })
    }

    /// Options for another connection to this store's PostgreSQL database
    /// (the ingestion writer's), with the same timeouts.
    pub(crate) fn postgres_connect_options(&self, application_name: &str) -> StoreResult<PgConnectOptions> {
        postgres_options(&self.url, application_name, &self.options)
    }

    /// The store's limits and timeouts.
    pub fn options(&self) -> StoreOptions {
        self.options
    }

    async fn connect_sqlite(url: &str) -> StoreResult<Pools> {
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or_default();
        let file = path.split('?').next().unwrap_or(path);
        if file == ":memory:" || file.is_empty() {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        }
        if let Some(parent) = std::path::Path::new(file).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Database(sqlx::Error::Configuration(
                        format!("cannot create the directory {}: {e}", parent.display()).into(),
                    ))
                })?;
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
        Ok(Pools::Sqlite { read, write, path: file.to_owned() })
    }

    /// Opens the database and applies pending migrations.
    pub async fn open(url: &str) -> StoreResult<Store> {
        Self::open_with(url, StoreOptions::default()).await
    }

    /// Opens the database with `options` and applies pending migrations.
    pub async fn open_with(url: &str, options: StoreOptions) -> StoreResult<Store> {
        let store = Store::connect_with(url, options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens a database that must exist already (for inspection commands
    /// such as `ledger verify`, where a mistyped path must not pass as an
    /// empty, sound ledger). A PostgreSQL database must exist to connect.
    pub async fn open_existing(url: &str) -> StoreResult<Store> {
        if Backend::of(url) == Some(Backend::Sqlite) {
            let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or("");
            let file = path.split('?').next().unwrap_or(path);
            if !file.is_empty() && !std::path::Path::new(file).is_file() {
                return Err(StoreError::Missing(file.to_owned()));
            }
        }
        Store::open(url).await
    }

    /// Applies pending migrations (safe to re-run; on PostgreSQL the
    /// migrator holds an advisory lock, so servers starting together take
    /// turns).
    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.pools {
            Pools::Sqlite { write, .. } => SQLITE_MIGRATOR.run(write).await?,
            Pools::Postgres { pool } => POSTGRES_MIGRATOR.run(pool).await?,
        }
        Ok(())
    }

    /// Which store this is.
    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The SQLite database file (`None` on PostgreSQL).
    pub fn sqlite_path(&self) -> Option<&str> {
        match &self.pools {
            Pools::Sqlite { path, .. } => Some(path),
            Pools::Postgres { .. } => None,
        }
    }

    /// The PostgreSQL pool (`None` on SQLite).
    pub(crate) fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.pools {
            Pools::Sqlite { .. } => None,
            Pools::Postgres { pool } => Some(pool),
        }
    }

    /// The URL the store was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes the pools, waiting for connections to finish.
    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { read, write, .. } => {
                read.close().await;
                write.close().await;
            }
            Pools::Postgres { pool } => pool.close().await,
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        on_read!(self, |db| sqlx::query("SELECT 1").execute(db).await.map(drop))?;
        Ok(())
    }

    // --- citizens and sessions -------------------------------------------

    /// Registers a citizen.
    pub async fn create_user(&self, user: &NewUser, now: DateTime<Utc>) -> StoreResult<UserRow> {
        let result: Result<i64, sqlx::Error> = on_write!(self, |db| {
            sqlx::query_scalar(
                "INSERT INTO users (username, password_hash, display_name, region, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(&user.username)
            .bind(&user.password_hash)
            .bind(&user.display_name)
            .bind(&user.region)
            .bind(format_time(now))
            .fetch_one(db)
            .await
        });
        match result {
            Ok(id) => Ok(UserRow {
                id,
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
        let row: Option<UserTuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT id, username, password_hash, display_name, region, created_at FROM users WHERE username = $1",
            )
            .bind(username)
            .fetch_optional(db)
            .await
        })?;
        Ok(row.map(user_from_tuple))
    }

    /// A citizen by id.
    pub async fn user_by_id(&self, id: i64) -> StoreResult<Option<UserRow>> {
        let row: Option<UserTuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT id, username, password_hash, display_name, region, created_at FROM users WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(db)
            .await
        })?;
        Ok(row.map(user_from_tuple))
    }

    /// Stores a session under the hash of its token.
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_write!(self, |db| {
            sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(token_hash)
                .bind(user_id)
                .bind(format_time(now))
                .bind(format_time(expires_at))
                .execute(db)
                .await
                .map(drop)
        })?;
        Ok(())
    }

    /// The citizen behind an unexpired session.
    pub async fn session_user(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<i64>> {
        Ok(on_read!(self, |db| {
            sqlx::query_scalar("SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash)
                .bind(format_time(now))
                .fetch_optional(db)
                .await
        })?)
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
        let id: i64 = on_write!(self, |db| {
            sqlx::query_scalar(
                "INSERT INTO partners (name, categories, secret, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(name)
            .bind(categories.mask())
            .bind(secret)
            .bind(format_time(now))
            .fetch_one(db)
            .await
        })?;
        Ok(PartnerRow { id, name: name.to_owned(), categories, secret: secret.to_owned(), created_at: now })
    }

    /// A partner by id.
    pub async fn partner(&self, id: i64) -> StoreResult<Option<PartnerRow>> {
        let row: Option<PartnerTuple> = on_read!(self, |db| {
            sqlx::query_as("SELECT id, name, categories, secret, created_at FROM partners WHERE id = $1")
                .bind(id)
                .fetch_optional(db)
                .await
        })?;
        Ok(row.map(partner_from_tuple))
    }

    /// Every partner, oldest first.
    pub async fn partners(&self) -> StoreResult<Vec<PartnerRow>> {
        let rows: Vec<PartnerTuple> = on_read!(self, |db| {
            sqlx::query_as("SELECT id, name, categories, secret, created_at FROM partners ORDER BY id")
                .fetch_all(db)
                .await
        })?;
        Ok(rows.into_iter().map(partner_from_tuple).collect())
    }

    /// Remembers a request signature until `expires_at` (unix seconds);
    /// false if it was seen already (a replay).
    pub async fn remember_signature(&self, partner_id: i64, signature: &str, expires_at: i64) -> StoreResult<bool> {
        let inserted = on_write!(self, |db| {
            sqlx::query(
                "INSERT INTO request_signatures (signature, partner_id, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (signature) DO NOTHING",
            )
            .bind(signature)
            .bind(partner_id)
            .bind(expires_at)
            .execute(db)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(inserted == 1)
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
        on_write!(self, |db| {
            let mut tx = db.begin().await?;
            sqlx::query(
                "INSERT INTO consents (user_id, partner_id, scopes, granted_at, revoked_at)
                 VALUES ($1, $2, $3, $4, NULL)
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
        });
        Ok(())
    }

    /// A citizen's consents, active and revoked.
    pub async fn consents(&self, user_id: i64) -> StoreResult<Vec<ConsentRow>> {
        type ConsentTuple = (i64, String, i64, String, Option<String>, i64);
        let rows: Vec<ConsentTuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT c.partner_id, p.name, c.scopes, c.granted_at, c.revoked_at,
                        CAST(CASE WHEN EXISTS (SELECT 1 FROM partner_links l
                                               WHERE l.user_id = c.user_id AND l.partner_id = c.partner_id)
                             THEN 1 ELSE 0 END AS BIGINT)
                 FROM consents c JOIN partners p ON p.id = c.partner_id
                 WHERE c.user_id = $1 ORDER BY c.partner_id",
            )
            .bind(user_id)
            .fetch_all(db)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(partner_id, partner_name, scopes, granted_at, revoked_at, linked)| ConsentRow {
                partner_id,
                partner_name,
                scopes: CategorySet::from_mask(scopes),
                granted_at: parse_time(&granted_at),
                revoked_at: revoked_at.as_deref().map(parse_time),
                linked: linked != 0,
            })
            .collect())
    }

    /// Revokes a consent at once; false if there was no active consent.
    pub async fn revoke_consent(&self, user_id: i64, partner_id: i64, now: DateTime<Utc>) -> StoreResult<bool> {
        let revoked = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            let done = sqlx::query(
                "UPDATE consents SET revoked_at = $3 WHERE user_id = $1 AND partner_id = $2 AND revoked_at IS NULL",
            )
            .bind(user_id)
            .bind(partner_id)
            .bind(format_time(now))
            .execute(&mut *tx)
            .await?;
            // Outstanding link codes die with the consent.
            sqlx::query(
                "UPDATE link_codes SET used_at = $3 WHERE user_id = $1 AND partner_id = $2 AND used_at IS NULL",
            )
            .bind(user_id)
            .bind(partner_id)
            .bind(format_time(now))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            done.rows_affected()
        });
        Ok(revoked == 1)
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
        on_write!(self, |db| {
            let mut tx = db.begin().await?;
            let user_id: Option<i64> = sqlx::query_scalar(
                "UPDATE link_codes SET used_at = $3
                 WHERE code_hash = $1 AND partner_id = $2 AND used_at IS NULL AND expires_at > $3
                 RETURNING user_id",
            )
            .bind(code_hash)
            .bind(partner_id)
            .bind(format_time(now))
            .fetch_optional(&mut *tx)
            .await?;
            let Some(user_id) = user_id else {
                // The contract: a used or expired code is `link_code_invalid`,
                // even when a partner retries the very link it made.
                return Err(StoreError::LinkCodeInvalid);
            };
            let existing: Option<String> =
                sqlx::query_scalar("SELECT user_ref FROM partner_links WHERE partner_id = $1 AND user_id = $2")
                    .bind(partner_id)
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(existing) = existing {
                if existing != user_ref {
                    return Err(StoreError::LinkConflict(format!(
                        "this citizen is already linked to your user_ref `{existing}`"
                    )));
                }
            } else {
                let owner: Option<i64> =
                    sqlx::query_scalar("SELECT user_id FROM partner_links WHERE partner_id = $1 AND user_ref = $2")
                        .bind(partner_id)
                        .bind(user_ref)
                        .fetch_optional(&mut *tx)
                        .await?;
                if owner.is_some() {
                    return Err(StoreError::LinkConflict(format!(
                        "your user_ref `{user_ref}` is already linked to another citizen"
                    )));
                }
                sqlx::query(
                    "INSERT INTO partner_links (partner_id, user_ref, user_id, linked_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(partner_id)
                .bind(user_ref)
                .bind(user_id)
                .bind(format_time(now))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(user_id)
        })
    }

    /// Deletes what has expired: sessions, link codes a day past expiry and
    /// request signatures past their replay window. Returns rows deleted.
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let deleted = on_write!(self, |db| {
            let mut deleted = 0;
            deleted += sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(format_time(now))
                .execute(db)
                .await?
                .rows_affected();
            deleted += sqlx::query("DELETE FROM link_codes WHERE expires_at <= $1")
                .bind(format_time(now - chrono::Duration::days(1)))
                .execute(db)
                .await?
                .rows_affected();
            deleted += sqlx::query("DELETE FROM request_signatures WHERE expires_at < $1")
                .bind(now.timestamp())
                .execute(db)
                .await?
                .rows_affected();
            deleted
        });
        Ok(deleted)
    }

    // --- methodologies -------------------------------------------------------

    /// Every published methodology, in publication order.
    pub async fn published_methodologies(&self) -> StoreResult<Vec<PublishedMethodology>> {
        let rows: Vec<(String, String, String, String, String)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT id, version, source_name, source_text, origin FROM methodologies
                 ORDER BY published_at, id, version",
            )
            .fetch_all(db)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, version, source_name, source_text, origin)| PublishedMethodology {
                id,
                version,
                source_name,
                source_text,
                origin,
            })
            .collect())
    }

    /// Records a published methodology. Publishing the same text again is a
    /// no-op; other text under the same id and version is refused. Two
    /// servers publishing at once cannot both win: the insert skips a row
    /// that appeared meanwhile, and the text is compared again.
    pub async fn publish_methodology(&self, m: &PublishedMethodology, now: DateTime<Utc>) -> StoreResult<bool> {
        let inserted = on_write!(self, |db| {
            sqlx::query(
                "INSERT INTO methodologies (id, version, source_name, source_text, origin, published_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id, version) DO NOTHING",
            )
            .bind(&m.id)
            .bind(&m.version)
            .bind(&m.source_name)
            .bind(&m.source_text)
            .bind(&m.origin)
            .bind(format_time(now))
            .execute(db)
            .await
            .map(|done| done.rows_affected())
        })?;
        if inserted == 1 {
            return Ok(true);
        }
        let existing: String = on_write!(self, |db| {
            sqlx::query_scalar("SELECT source_text FROM methodologies WHERE id = $1 AND version = $2")
                .bind(&m.id)
                .bind(&m.version)
                .fetch_one(db)
                .await
        })?;
        if existing == m.source_text {
            Ok(false)
        } else {
            Err(StoreError::MethodologyVersionExists(format!("{}@{}", m.id, m.version)))
        }
    }

    // --- ledger --------------------------------------------------------------

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

/// Connection options for `url` with the store's timeouts (a statement, or a
/// wait for a lock, longer than `statement_timeout` is cancelled).
fn postgres_options(url: &str, application_name: &str, options: &StoreOptions) -> StoreResult<PgConnectOptions> {
    let timeout = format!("{}ms", options.statement_timeout.as_millis().max(1));
    Ok(PgConnectOptions::from_str(url)?
        .application_name(application_name)
        .options([("statement_timeout", timeout.as_str()), ("lock_timeout", timeout.as_str())]))
}

type UserTuple = (i64, String, String, String, String, String);
type PartnerTuple = (i64, String, i64, String, String);
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

fn partner_from_tuple((id, name, categories, secret, created_at): PartnerTuple) -> PartnerRow {
    PartnerRow { id, name, categories: CategorySet::from_mask(categories), secret, created_at: parse_time(&created_at) }
}

fn user_from_tuple((id, username, password_hash, display_name, region, created_at): UserTuple) -> UserRow {
    UserRow { id, username, password_hash, display_name, region, created_at: parse_time(&created_at) }
}

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
