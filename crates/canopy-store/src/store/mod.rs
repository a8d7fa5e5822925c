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

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::{StoreError, StoreResult};

mod accounts;
pub(crate) mod balls;
pub(crate) mod bill_vouchers;
pub(crate) mod bills;
pub(crate) mod campaigns;
pub(crate) mod challenges;
mod consent;
pub(crate) mod energy_events;
pub(crate) mod energy_settlements;
pub(crate) mod figures;
pub(crate) mod friends;
pub(crate) mod history;
pub(crate) mod idempotency;
pub(crate) mod leaderboards;
mod ledger;
pub(crate) mod medals;
pub(crate) mod meters;
pub(crate) mod methodologies;
pub(crate) mod operators;
mod partners;
pub(crate) mod pools;
pub(crate) mod postings;
pub(crate) mod redemption;
pub(crate) mod reports;
pub(crate) mod settlement_reads;
pub(crate) mod social;
pub(crate) mod ven_subscriptions;
pub(crate) mod vens;
pub(crate) mod your_data;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a connection waits for SQLite's write lock before giving up.
const BUSY_TIMEOUT_MS: u64 = 5_000;
/// Reader connections (WAL lets readers run beside the one writer).
const READ_CONNECTIONS_MAX: u32 = 8;

/// How much of a SQLite database its readers map into memory (address
/// space, not memory: the kernel's page cache backs it).
const READ_MMAP_BYTES: &str = "4294967296";
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
            $crate::store::Pools::Sqlite { read: $db, .. } => $body,
            $crate::store::Pools::Postgres { pool: $db } => $body,
        }
    };
}

/// Runs `$body` once per store with `$db` bound to the pool for writes.
macro_rules! on_write {
    ($store:expr, |$db:ident| $body:expr) => {
        match &$store.pools {
            $crate::store::Pools::Sqlite { write: $db, .. } => $body,
            $crate::store::Pools::Postgres { pool: $db } => $body,
        }
    };
}

pub(crate) use {on_read, on_write};

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
            // A reader's page cache is dropped whenever it starts a read
            // after any commit (SQLite resets it when the WAL changed), so
            // under a steady stream of writes a large one is never reused
            // and costs its size in every reset: readers keep a small one,
            // and read the database file through a memory map instead of
            // copying pages in (the WAL's pages are still read as before).
            .connect_with(options.read_only(true).pragma("cache_size", "-2048").pragma("mmap_size", READ_MMAP_BYTES))
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
    #[cfg(feature = "bench")]
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
}

/// Connection options for `url` with the store's timeouts (a statement, or a
/// wait for a lock, longer than `statement_timeout` is cancelled).
fn postgres_options(url: &str, application_name: &str, options: &StoreOptions) -> StoreResult<PgConnectOptions> {
    let timeout = format!("{}ms", options.statement_timeout.as_millis().max(1));
    Ok(PgConnectOptions::from_str(url)?
        .application_name(application_name)
        .options([("statement_timeout", timeout.as_str()), ("lock_timeout", timeout.as_str())]))
}
