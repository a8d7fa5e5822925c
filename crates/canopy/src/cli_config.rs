//! Configuration from flags, the environment and an optional TOML file
//! (in that order of precedence), and logging set-up.

use std::path::PathBuf;

use anyhow::Context;
use canopy_server::config::{parse_timezone, Config};
use clap::Args;
use serde::Deserialize;

/// Settings every sub-command accepts. Its `Debug` names which secrets
/// were given, never their values.
#[derive(Args, Default)]
pub struct Settings {
    /// A TOML configuration file (keys: database_url, listen, admin_token,
    /// timezone, session_ttl_s, connections_max, queue_events_max,
    /// group_linger_ms, db_connections_max, db_acquire_timeout_ms,
    /// db_statement_timeout_ms).
    #[arg(long, env = "CANOPY_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Database URL.
    #[arg(long = "database", env = "CANOPY_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "CANOPY_LISTEN", global = true)]
    listen: Option<String>,
    /// The operator's bearer token.
    #[arg(long, env = "CANOPY_ADMIN_TOKEN", global = true, hide_env_values = true)]
    admin_token: Option<String>,
    /// The instance time zone for daily and monthly caps, e.g. +08:00.
    #[arg(long, env = "CANOPY_TIMEZONE", global = true)]
    timezone: Option<String>,
    /// Session lifetime in seconds.
    #[arg(long, env = "CANOPY_SESSION_TTL_S", global = true)]
    session_ttl_s: Option<i64>,
    /// Open connections accepted at once.
    #[arg(long, env = "CANOPY_CONNECTIONS_MAX", global = true)]
    connections_max: Option<usize>,
    /// Events that may wait for the writer at once.
    #[arg(long, env = "CANOPY_QUEUE_EVENTS_MAX", global = true)]
    queue_events_max: Option<usize>,
    /// Milliseconds the PostgreSQL writer waits for more requests to join a
    /// group that is under half full (0: only what is already queued).
    #[arg(long, env = "CANOPY_GROUP_LINGER_MS", global = true)]
    group_linger_ms: Option<u64>,
    /// PostgreSQL connections per process for HTTP requests.
    #[arg(long, env = "CANOPY_DB_CONNECTIONS_MAX", global = true)]
    db_connections_max: Option<u32>,
    /// Milliseconds a request waits for a free database connection (then 503 storage_busy).
    #[arg(long, env = "CANOPY_DB_ACQUIRE_TIMEOUT_MS", global = true)]
    db_acquire_timeout_ms: Option<u64>,
    /// Milliseconds a PostgreSQL statement or lock wait may take (then 503 storage_timeout).
    #[arg(long, env = "CANOPY_DB_STATEMENT_TIMEOUT_MS", global = true)]
    db_statement_timeout_ms: Option<u64>,
    /// The key that seals partner secrets: 64 hex digits (`openssl rand -hex 32`).
    #[arg(long, env = "CANOPY_SECRET_KEY", global = true, hide_env_values = true)]
    secret_key: Option<String>,
    /// The key file used when no key is given (created on first start, mode 0600;
    /// default: canopy-secret.key next to the SQLite database, or ./canopy-data/).
    #[arg(long, env = "CANOPY_SECRET_KEY_FILE", global = true)]
    secret_key_file: Option<PathBuf>,
    /// Seconds a partner's older secrets keep verifying after a rotation (default 604800).
    #[arg(long, env = "CANOPY_SECRET_GRACE_S", global = true)]
    secret_grace_s: Option<i64>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let given = |secret: &Option<String>| secret.as_ref().map(|_| "[redacted]");
        f.debug_struct("Settings")
            .field("config", &self.config)
            .field("database_url", &self.database_url.as_deref().map(canopy_store::redact_url))
            .field("listen", &self.listen)
            .field("admin_token", &given(&self.admin_token))
            .field("secret_key", &given(&self.secret_key))
            .field("secret_key_file", &self.secret_key_file)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    listen: Option<String>,
    admin_token: Option<String>,
    timezone: Option<String>,
    session_ttl_s: Option<i64>,
    connections_max: Option<usize>,
    queue_events_max: Option<usize>,
    group_linger_ms: Option<u64>,
    db_connections_max: Option<u32>,
    db_acquire_timeout_ms: Option<u64>,
    db_statement_timeout_ms: Option<u64>,
    secret_key: Option<String>,
    secret_key_file: Option<PathBuf>,
    secret_grace_s: Option<i64>,
}

/// The default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./canopy-data/canopy.db";
/// The default address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Settings {
    /// Merges flags/environment over the file over the defaults.
    pub fn resolve(self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                toml::from_str::<FileSettings>(&text).with_context(|| format!("{}", path.display()))?
            }
            None => FileSettings::default(),
        };
        let mut config = Config::new(
            self.database_url.or(file.database_url).unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            self.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
        );
        config.admin_token = self.admin_token.or(file.admin_token).filter(|t| !t.is_empty());
        if let Some(tz) = self.timezone.or(file.timezone) {
            config.timezone =
                parse_timezone(&tz).with_context(|| format!("timezone `{tz}` is not an offset like +08:00"))?;
        }
        if let Some(ttl) = self.session_ttl_s.or(file.session_ttl_s) {
            anyhow::ensure!(ttl > 0, "session_ttl_s must be positive");
            config.session_ttl_s = ttl;
        }
        if let Some(max) = self.connections_max.or(file.connections_max) {
            anyhow::ensure!(max > 0, "connections_max must be positive");
            config.connections_max = max;
        }
        if let Some(max) = self.queue_events_max.or(file.queue_events_max) {
            anyhow::ensure!(max >= 10_000, "queue_events_max must hold at least one full batch (10000)");
            config.queue_events_max = max;
        }
        if let Some(ms) = self.group_linger_ms.or(file.group_linger_ms) {
            anyhow::ensure!(ms <= 100, "group_linger_ms must be at most 100");
            config.group_linger = std::time::Duration::from_millis(ms);
        }
        if let Some(max) = self.db_connections_max.or(file.db_connections_max) {
            anyhow::ensure!(max > 0, "db_connections_max must be positive");
            config.store.connections_max = max;
        }
        if let Some(ms) = self.db_acquire_timeout_ms.or(file.db_acquire_timeout_ms) {
            anyhow::ensure!(ms > 0, "db_acquire_timeout_ms must be positive");
            config.store.acquire_timeout = std::time::Duration::from_millis(ms);
        }
        if let Some(ms) = self.db_statement_timeout_ms.or(file.db_statement_timeout_ms) {
            anyhow::ensure!(ms > 0, "db_statement_timeout_ms must be positive");
            config.store.statement_timeout = std::time::Duration::from_millis(ms);
        }
        if let Some(key) = self.secret_key.or(file.secret_key).filter(|k| !k.is_empty()) {
            config.secret_key = Some(canopy_server::secrets::SecretKey::from_hex(&key).context("secret_key")?);
        }
        config.secret_key_file = self.secret_key_file.or(file.secret_key_file);
        if let Some(grace) = self.secret_grace_s.or(file.secret_grace_s) {
            anyhow::ensure!(grace >= 0, "secret_grace_s must not be negative");
            config.secret_grace_s = grace;
        }
        Ok(config)
    }
}

/// Structured logs on stderr: human-readable by default, JSON with
/// `CANOPY_LOG_FORMAT=json`; level from `RUST_LOG` (default info for the
/// server, warn for one-shot commands).
pub fn init_tracing(server: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if server { "info,tower_http=info,sqlx=warn" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("CANOPY_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
