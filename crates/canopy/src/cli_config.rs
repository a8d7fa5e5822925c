//! Configuration from flags, the environment and an optional TOML file
//! (in that order of precedence), and logging set-up.
//!
//! The options come in groups, and each sub-command flattens only the
//! groups it uses, so its `--help` lists what it reads and nothing else:
//! [`DatabaseArgs`] for every command that opens a database,
//! [`PoolArgs`] for the long-running ones, [`IngestionArgs`] for the ones
//! that run the writer and [`ServerArgs`] for the ones that listen. The
//! defaults shown in `--help` are read from [`Config::new`], so they cannot
//! drift from the values used; clap's own `default_value` is not used
//! because a default filled in by clap could not be told from a flag, and
//! the configuration file sits between the two.

use std::path::PathBuf;

use anyhow::Context;
use canopy_server::config::{parse_timezone, Config};
use clap::Args;
use serde::Deserialize;

/// The default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./canopy-data/canopy.db";
/// The default address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The defaults every help text quotes.
fn defaults() -> Config {
    Config::new(DEFAULT_DATABASE_URL, DEFAULT_LISTEN)
}

/// `help` followed by clap's usual `[default: …]` note.
fn with_default(help: &str, default: impl std::fmt::Display) -> String {
    format!("{help} [default: {default}]")
}

fn help_config() -> String {
    "A TOML configuration file; flags and the environment override it (keys: database_url, listen, \
     admin_token, timezone, session_ttl_s, connections_max, queue_events_max, group_linger_ms, \
     db_connections_max, db_acquire_timeout_ms, db_statement_timeout_ms, event_grams_max, \
     header_read_timeout_ms, body_read_timeout_ms, request_timeout_ms, password_hashes_max, secret_key, \
     secret_key_file, secret_grace_s, cancel_window_s, and a [game] table: ball_ripens, ball_ripen_hour, ball_lifetime_s, \
     friend_share_pct, owner_keeps_pct, friend_collect_daily_g, water_amounts_g, checkin_rewards)"
        .to_owned()
}
fn help_database() -> String {
    with_default("Database URL: sqlite://path or postgres://user:password@host/database", DEFAULT_DATABASE_URL)
}
fn help_listen() -> String {
    with_default("Address to listen on", DEFAULT_LISTEN)
}
fn help_timezone() -> String {
    with_default("The instance time zone for daily and monthly caps and validity dates", defaults().timezone)
}
fn help_session_ttl() -> String {
    with_default("Session lifetime in seconds", defaults().session_ttl_s)
}
fn help_connections_max() -> String {
    with_default("Open connections accepted at once (more are answered 503)", defaults().connections_max)
}
fn help_header_read_timeout() -> String {
    with_default(
        "Milliseconds a client may take to send a request's headers (then the connection is closed)",
        defaults().header_read_timeout.as_millis(),
    )
}
fn help_body_read_timeout() -> String {
    with_default(
        "Milliseconds a client may take to send a request's body (then 408 request_timeout)",
        defaults().body_read_timeout.as_millis(),
    )
}
fn help_request_timeout() -> String {
    with_default(
        "Milliseconds a whole request may take (then 408 request_timeout)",
        defaults().request_timeout.as_millis(),
    )
}
fn help_password_hashes_max() -> String {
    with_default("Password hashes computed at once; more wait briefly, then 503 busy", "the CPU count")
}
fn help_queue_events_max() -> String {
    with_default("Events that may wait for the writer at once (at least 10000)", defaults().queue_events_max)
}
fn help_group_linger() -> String {
    with_default(
        "Milliseconds (0-100) the PostgreSQL writer waits for more requests to join a group that is under half full",
        defaults().group_linger.as_millis(),
    )
}
fn help_db_connections_max() -> String {
    with_default("PostgreSQL connections per process for HTTP requests", defaults().store.connections_max)
}
fn help_db_acquire_timeout() -> String {
    with_default(
        "Milliseconds a request waits for a free database connection (then 503 storage_busy)",
        defaults().store.acquire_timeout.as_millis(),
    )
}
fn help_db_statement_timeout() -> String {
    with_default(
        "Milliseconds a PostgreSQL statement or lock wait may take (then 503 storage_timeout)",
        defaults().store.statement_timeout.as_millis(),
    )
}

/// Which database, for every sub-command that opens one. Its `Debug` hides
/// a password in the URL.
#[derive(Args, Default, Clone)]
#[command(next_help_heading = "Database options")]
pub struct DatabaseArgs {
    #[arg(long, env = "CANOPY_CONFIG", value_name = "FILE", help = help_config())]
    config: Option<PathBuf>,
    #[arg(long = "database", env = "CANOPY_DATABASE_URL", value_name = "URL", help = help_database())]
    database_url: Option<String>,
}

impl std::fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field("config", &self.config)
            .field("database_url", &self.database_url.as_deref().map(canopy_store::redact_url))
            .finish()
    }
}

impl DatabaseArgs {
    /// Whether a flag or the environment names the database (a
    /// configuration file may still name it).
    pub fn names_a_database(&self) -> bool {
        self.database_url.is_some()
    }

    /// These options, overridden by the ones given before the sub-command.
    pub fn overridden_by(self, config: Option<PathBuf>, database_url: Option<String>) -> DatabaseArgs {
        DatabaseArgs { config: config.or(self.config), database_url: database_url.or(self.database_url) }
    }
}

/// Database connection limits and timeouts, for the long-running commands.
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Database options")]
pub struct PoolArgs {
    #[arg(long, env = "CANOPY_DB_CONNECTIONS_MAX", value_name = "N", help = help_db_connections_max())]
    db_connections_max: Option<u32>,
    #[arg(long, env = "CANOPY_DB_ACQUIRE_TIMEOUT_MS", value_name = "MS", help = help_db_acquire_timeout())]
    db_acquire_timeout_ms: Option<u64>,
    #[arg(long, env = "CANOPY_DB_STATEMENT_TIMEOUT_MS", value_name = "MS", help = help_db_statement_timeout())]
    db_statement_timeout_ms: Option<u64>,
}

/// The operator's key that seals partner secrets, for the commands that
/// create, rotate or verify them. Its `Debug` never shows the key.
#[derive(Args, Default)]
#[command(next_help_heading = "Secret options")]
pub struct SecretArgs {
    /// The key that seals partner secrets: 64 hex digits (`openssl rand -hex 32`)
    /// [default: the key file].
    #[arg(long, env = "CANOPY_SECRET_KEY", hide_env_values = true, value_name = "HEX")]
    secret_key: Option<String>,
    /// The key file used when no key is given, created on first start with mode 0600
    /// [default: canopy-secret.key next to the SQLite database, or ./canopy-data/ for PostgreSQL].
    #[arg(long, env = "CANOPY_SECRET_KEY_FILE", value_name = "FILE")]
    secret_key_file: Option<PathBuf>,
    /// Seconds a partner's older secrets keep verifying after a rotation [default: 604800].
    #[arg(long, env = "CANOPY_SECRET_GRACE_S", value_name = "SECONDS")]
    secret_grace_s: Option<i64>,
}

impl std::fmt::Debug for SecretArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretArgs")
            .field("secret_key", &self.secret_key.as_ref().map(|_| "[redacted]"))
            .field("secret_key_file", &self.secret_key_file)
            .field("secret_grace_s", &self.secret_grace_s)
            .finish()
    }
}

/// How events are decided and written, for the commands that run the writer.
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Ingestion options")]
pub struct IngestionArgs {
    #[arg(long, env = "CANOPY_TIMEZONE", value_name = "OFFSET", help = help_timezone())]
    timezone: Option<String>,
    #[arg(long, env = "CANOPY_QUEUE_EVENTS_MAX", value_name = "N", help = help_queue_events_max())]
    queue_events_max: Option<usize>,
    #[arg(long, env = "CANOPY_GROUP_LINGER_MS", value_name = "MS", help = help_group_linger())]
    group_linger_ms: Option<u64>,
    /// The most grams one event may yield; a methodology that can yield more
    /// is refused at start and at publication [default: 10000000].
    #[arg(long, env = "CANOPY_EVENT_GRAMS_MAX", value_name = "GRAMS")]
    event_grams_max: Option<i64>,
}

/// The energy game's settings, for the commands that run the server. Each
/// is parsed and checked by the core's `GameSettings`, which names the
/// setting in its error.
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Game options")]
pub struct GameArgs {
    /// When a ball ripens: `next-morning` (at the ripen hour, local time, the day after its
    /// energy was recorded) or `immediately` [default: next-morning].
    #[arg(long, env = "CANOPY_BALL_RIPENS", value_name = "WHEN")]
    ball_ripens: Option<String>,
    /// The local hour at which balls ripen [default: 7].
    #[arg(long, env = "CANOPY_BALL_RIPEN_HOUR", value_name = "HOUR")]
    ball_ripen_hour: Option<String>,
    /// Seconds a ripe ball lasts before it vanishes [default: 259200].
    #[arg(long, env = "CANOPY_BALL_LIFETIME_S", value_name = "SECONDS")]
    ball_lifetime_s: Option<String>,
    /// Percent of a ball's grams a friend takes, rounded down [default: 20].
    #[arg(long, env = "CANOPY_FRIEND_SHARE_PCT", value_name = "PCT")]
    friend_share_pct: Option<String>,
    /// Percent of a ball's grams its owner always keeps [default: 50].
    #[arg(long, env = "CANOPY_OWNER_KEEPS_PCT", value_name = "PCT")]
    owner_keeps_pct: Option<String>,
    /// Grams a citizen may take from friends per local day [default: 2000].
    #[arg(long, env = "CANOPY_FRIEND_COLLECT_DAILY_G", value_name = "GRAMS")]
    friend_collect_daily_g: Option<String>,
    /// The amounts one may water a friend with, comma-separated [default: 10,20,50].
    #[arg(long, env = "CANOPY_WATER_AMOUNTS_G", value_name = "GRAMS,…")]
    water_amounts_g: Option<String>,
    /// Check-in streak rewards, `day:grams` comma-separated [default: 7:50,30:300].
    #[arg(long, env = "CANOPY_CHECKIN_REWARDS", value_name = "DAY:GRAMS,…")]
    checkin_rewards: Option<String>,
    /// Game moves (collects, check-ins, …) one citizen may make per second; faster is 429
    /// rate_limited [default: 10].
    #[arg(long, env = "CANOPY_GAME_MOVES_PER_S", value_name = "N")]
    game_moves_per_s: Option<u32>,
    /// Game moves one citizen may make at once before the rate applies [default: 30].
    #[arg(long, env = "CANOPY_GAME_MOVES_BURST", value_name = "N")]
    game_moves_burst: Option<u32>,
    /// Seconds after a redemption within which its citizen may cancel it [default: 86400].
    #[arg(long, env = "CANOPY_CANCEL_WINDOW_S", value_name = "SECONDS")]
    cancel_window_s: Option<i64>,
}

impl GameArgs {
    /// Balls ripen as soon as their energy is recorded unless a flag or the
    /// environment says otherwise (the demo's default, so a visitor can
    /// collect what the demo credits without waiting for 07:00).
    pub fn ripen_at_once_unless_set(&mut self) {
        self.ball_ripens.get_or_insert_with(|| "immediately".to_owned());
    }

    fn values(&mut self) -> [(&'static str, Option<String>); 8] {
        [
            ("ball_ripens", self.ball_ripens.take()),
            ("ball_ripen_hour", self.ball_ripen_hour.take()),
            ("ball_lifetime_s", self.ball_lifetime_s.take()),
            ("friend_share_pct", self.friend_share_pct.take()),
            ("owner_keeps_pct", self.owner_keeps_pct.take()),
            ("friend_collect_daily_g", self.friend_collect_daily_g.take()),
            ("water_amounts_g", self.water_amounts_g.take()),
            ("checkin_rewards", self.checkin_rewards.take()),
        ]
    }
}

/// The HTTP server's options, for the commands that listen. Its `Debug`
/// never shows the admin token.
#[derive(Args, Default)]
#[command(next_help_heading = "Server options")]
pub struct ServerArgs {
    #[arg(long, env = "CANOPY_LISTEN", value_name = "ADDRESS", help = help_listen())]
    listen: Option<String>,
    /// The operator's bearer token [default: none: admin endpoints refuse everything].
    #[arg(long, env = "CANOPY_ADMIN_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    admin_token: Option<String>,
    #[arg(long, env = "CANOPY_SESSION_TTL_S", value_name = "SECONDS", help = help_session_ttl())]
    session_ttl_s: Option<i64>,
    #[arg(long, env = "CANOPY_CONNECTIONS_MAX", value_name = "N", help = help_connections_max())]
    connections_max: Option<usize>,
    #[arg(long, env = "CANOPY_HEADER_READ_TIMEOUT_MS", value_name = "MS", help = help_header_read_timeout())]
    header_read_timeout_ms: Option<u64>,
    #[arg(long, env = "CANOPY_BODY_READ_TIMEOUT_MS", value_name = "MS", help = help_body_read_timeout())]
    body_read_timeout_ms: Option<u64>,
    #[arg(long, env = "CANOPY_REQUEST_TIMEOUT_MS", value_name = "MS", help = help_request_timeout())]
    request_timeout_ms: Option<u64>,
    #[arg(long, env = "CANOPY_PASSWORD_HASHES_MAX", value_name = "N", help = help_password_hashes_max())]
    password_hashes_max: Option<usize>,
}

impl std::fmt::Debug for ServerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerArgs")
            .field("listen", &self.listen)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "[redacted]"))
            .field("session_ttl_s", &self.session_ttl_s)
            .field("connections_max", &self.connections_max)
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
    event_grams_max: Option<i64>,
    header_read_timeout_ms: Option<u64>,
    body_read_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    password_hashes_max: Option<usize>,
    secret_key: Option<String>,
    secret_key_file: Option<PathBuf>,
    secret_grace_s: Option<i64>,
    cancel_window_s: Option<i64>,
    /// The energy game's settings, by name (`ball_ripens = "immediately"`).
    #[serde(default)]
    game: std::collections::BTreeMap<String, toml::Value>,
}

/// The option groups one sub-command took; the groups it does not take are
/// left empty, so their settings come from the configuration file or the
/// defaults (one file serves every command).
#[derive(Default)]
pub struct Settings {
    /// Which database.
    pub database: DatabaseArgs,
    /// Connection limits.
    pub pool: PoolArgs,
    /// Writer options.
    pub ingestion: IngestionArgs,
    /// Server options.
    pub server: ServerArgs,
    /// The key that seals partner secrets.
    pub secrets: SecretArgs,
    /// The energy game's settings.
    pub game: GameArgs,
}

impl Settings {
    /// Merges flags/environment over the file over the defaults.
    pub fn resolve(self) -> anyhow::Result<Config> {
        let file = match &self.database.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                toml::from_str::<FileSettings>(&text).with_context(|| format!("{}", path.display()))?
            }
            None => FileSettings::default(),
        };
        let Settings { database, pool, ingestion, server, secrets, mut game } = self;
        let mut config = Config::new(
            database.database_url.or(file.database_url).unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            server.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
        );
        config.admin_token = server.admin_token.or(file.admin_token).filter(|t| !t.is_empty());
        if let Some(tz) = ingestion.timezone.or(file.timezone) {
            config.timezone =
                parse_timezone(&tz).with_context(|| format!("timezone `{tz}` is not an offset like +08:00"))?;
        }
        if let Some(ttl) = server.session_ttl_s.or(file.session_ttl_s) {
            anyhow::ensure!(ttl > 0, "session_ttl_s must be positive");
            config.session_ttl_s = ttl;
        }
        if let Some(max) = server.connections_max.or(file.connections_max) {
            anyhow::ensure!(max > 0, "connections_max must be positive");
            config.connections_max = max;
        }
        if let Some(max) = ingestion.queue_events_max.or(file.queue_events_max) {
            anyhow::ensure!(max >= 10_000, "queue_events_max must hold at least one full batch (10000)");
            config.queue_events_max = max;
        }
        if let Some(ms) = ingestion.group_linger_ms.or(file.group_linger_ms) {
            anyhow::ensure!(ms <= 100, "group_linger_ms must be at most 100");
            config.group_linger = std::time::Duration::from_millis(ms);
        }
        if let Some(max) = pool.db_connections_max.or(file.db_connections_max) {
            anyhow::ensure!(max > 0, "db_connections_max must be positive");
            config.store.connections_max = max;
        }
        if let Some(ms) = pool.db_acquire_timeout_ms.or(file.db_acquire_timeout_ms) {
            anyhow::ensure!(ms > 0, "db_acquire_timeout_ms must be positive");
            config.store.acquire_timeout = std::time::Duration::from_millis(ms);
        }
        if let Some(ms) = pool.db_statement_timeout_ms.or(file.db_statement_timeout_ms) {
            anyhow::ensure!(ms > 0, "db_statement_timeout_ms must be positive");
            config.store.statement_timeout = std::time::Duration::from_millis(ms);
        }
        if let Some(max) = ingestion.event_grams_max.or(file.event_grams_max) {
            anyhow::ensure!(max > 0, "event_grams_max must be positive");
            config.event_grams_max = max;
        }
        for (value, name, field) in [
            (
                server.header_read_timeout_ms.or(file.header_read_timeout_ms),
                "header_read_timeout_ms",
                &mut config.header_read_timeout,
            ),
            (
                server.body_read_timeout_ms.or(file.body_read_timeout_ms),
                "body_read_timeout_ms",
                &mut config.body_read_timeout,
            ),
            (server.request_timeout_ms.or(file.request_timeout_ms), "request_timeout_ms", &mut config.request_timeout),
        ] {
            if let Some(ms) = value {
                anyhow::ensure!(ms > 0, "{name} must be positive");
                *field = std::time::Duration::from_millis(ms);
            }
        }
        if let Some(max) = server.password_hashes_max.or(file.password_hashes_max) {
            anyhow::ensure!(max > 0, "password_hashes_max must be positive");
            config.password_hashes_max = max;
        }
        if let Some(key) = secrets.secret_key.or(file.secret_key).filter(|k| !k.is_empty()) {
            config.secret_key = Some(canopy_server::secrets::SecretKey::from_hex(&key).context("secret_key")?);
        }
        config.secret_key_file = secrets.secret_key_file.or(file.secret_key_file);
        if let Some(grace) = secrets.secret_grace_s.or(file.secret_grace_s) {
            anyhow::ensure!(grace >= 0, "secret_grace_s must not be negative");
            config.secret_grace_s = grace;
        }
        // The file's [game] table first, then flags and the environment.
        for (name, value) in &file.game {
            let text = match value {
                toml::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            config.game.set(name, &text).map_err(|e| anyhow::anyhow!("[game] {e}"))?;
        }
        if let Some(window) = game.cancel_window_s.or(file.cancel_window_s) {
            anyhow::ensure!(
                (0..=365 * 24 * 3600).contains(&window),
                "cancel_window_s must be 0 to 31536000 seconds (0: no cancelling)"
            );
            config.cancel_window_s = window;
        }
        for (value, name, field) in [
            (game.game_moves_per_s, "game_moves_per_s", &mut config.game_moves_per_s),
            (game.game_moves_burst, "game_moves_burst", &mut config.game_moves_burst),
        ] {
            if let Some(value) = value {
                anyhow::ensure!(value > 0, "{name} must be positive");
                *field = value;
            }
        }
        for (name, value) in game.values() {
            if let Some(value) = value {
                config.game.set(name, &value).map_err(|e| anyhow::anyhow!("{}: {e}", e.env_var()))?;
            }
        }
        Ok(config)
    }
}

/// Structured logs on stderr: human-readable by default, JSON with
/// `CANOPY_LOG_FORMAT=json`; level from `RUST_LOG` (default info for the
/// server, warn for one-shot commands). Colours only when stderr is a
/// terminal: escape codes in a log file or a pipe are noise to every tool
/// that reads it.
pub fn init_tracing(server: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let default = if server { "info,tower_http=info,sqlx=warn" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if std::env::var("CANOPY_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
