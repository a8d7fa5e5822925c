//! Server configuration. The CLI fills it from flags, the environment and
//! an optional TOML file; tests build it directly.

use chrono::FixedOffset;

/// Everything `canopy serve` needs. Its `Debug` hides the admin token, the
/// secret key and the database password.
#[derive(Clone)]
pub struct Config {
    /// Database URL (`sqlite://path` or `postgres://user@host/database`).
    pub database_url: String,
    /// Connection limits and timeouts of the database.
    pub store: canopy_store::StoreOptions,
    /// Address to listen on, such as `127.0.0.1:8080` (port 0 picks one).
    pub listen: String,
    /// The operator's bearer token; admin endpoints refuse everything when unset.
    pub admin_token: Option<String>,
    /// The instance's time zone: it decides which calendar day and month an
    /// act falls in, for caps and methodology validity.
    pub timezone: FixedOffset,
    /// How long a citizen session lasts, in seconds.
    pub session_ttl_s: i64,
    /// Open connections accepted at once; more are answered 503 and closed.
    pub connections_max: usize,
    /// Events that may wait for the writer at once.
    pub queue_events_max: usize,
    /// How long the PostgreSQL writer waits for more requests to join a
    /// group that is under half full.
    pub group_linger: std::time::Duration,
    /// The most grams one event may yield: a methodology that can yield more
    /// is refused at load and at publication, and evaluation refuses a
    /// result above it.
    pub event_grams_max: i64,
    /// How long a connection may take to send a request's headers; a
    /// connection that is slower is closed (a slow-loris client must not
    /// hold a connection slot for minutes).
    pub header_read_timeout: std::time::Duration,
    /// How long reading a request's body may take in all; slower is 408
    /// `request_timeout` and the connection is closed.
    pub body_read_timeout: std::time::Duration,
    /// How long a whole request may take, from its headers to its response;
    /// longer is 408 `request_timeout` and the connection is closed.
    pub request_timeout: std::time::Duration,
    /// Password hashes (argon2, about 19 MiB of memory each) computed at once;
    /// a sign-in or registration that cannot start one within a short wait is
    /// 503 `busy`.
    pub password_hashes_max: usize,
    /// The key that seals partner secrets (`CANOPY_SECRET_KEY`); when
    /// unset, the key file is used (created on first start).
    pub secret_key: Option<canopy_service::secrets::SecretKey>,
    /// The key file (`CANOPY_SECRET_KEY_FILE`); by default
    /// `canopy-secret.key` next to the SQLite database, or
    /// `./canopy-data/canopy-secret.key` for PostgreSQL.
    pub secret_key_file: Option<std::path::PathBuf>,
    /// How long a partner's older secrets keep verifying after a rotation
    /// (`CANOPY_SECRET_GRACE_S`), unless retired sooner.
    pub secret_grace_s: i64,
    /// The energy game's settings (ripening, lifetime, friends' shares, …).
    pub game: canopy_core::game::settings::GameSettings,
    /// Game moves one citizen may make per second (`CANOPY_GAME_MOVES_PER_S`).
    pub game_moves_per_s: u32,
    /// Game moves one citizen may make at once (`CANOPY_GAME_MOVES_BURST`).
    pub game_moves_burst: u32,
    /// Seconds after a redemption within which it may be cancelled
    /// (`CANOPY_CANCEL_WINDOW_S`).
    pub cancel_window_s: i64,
    /// How often the sweep expires balls past their expiry.
    pub ball_sweep_interval: std::time::Duration,
    /// Where the time comes from (the system's; tests pass a manual clock).
    pub clock: std::sync::Arc<dyn canopy_core::clock::Clock>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &canopy_store::redact_url(&self.database_url))
            .field("store", &self.store)
            .field("listen", &self.listen)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "[redacted]"))
            .field("timezone", &self.timezone)
            .field("session_ttl_s", &self.session_ttl_s)
            .field("connections_max", &self.connections_max)
            .field("queue_events_max", &self.queue_events_max)
            .field("group_linger", &self.group_linger)
            .field("secret_key", &self.secret_key)
            .field("secret_key_file", &self.secret_key_file)
            .field("secret_grace_s", &self.secret_grace_s)
            .field("event_grams_max", &self.event_grams_max)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("password_hashes_max", &self.password_hashes_max)
            .field("game", &self.game)
            .field("ball_sweep_interval", &self.ball_sweep_interval)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A configuration with the defaults and the given database and address.
    pub fn new(database_url: impl Into<String>, listen: impl Into<String>) -> Self {
        Config {
            database_url: database_url.into(),
            store: canopy_store::StoreOptions::default(),
            listen: listen.into(),
            admin_token: None,
            timezone: default_timezone(),
            session_ttl_s: 24 * 3600,
            connections_max: 1024,
            queue_events_max: 200_000,
            group_linger: canopy_store::writer::IngestorConfig::default().group_linger,
            event_grams_max: canopy_core::methodology::DEFAULT_EVENT_GRAMS_MAX,
            header_read_timeout: std::time::Duration::from_secs(10),
            body_read_timeout: std::time::Duration::from_secs(30),
            request_timeout: std::time::Duration::from_secs(60),
            password_hashes_max: std::thread::available_parallelism().map_or(2, |n| n.get()),
            secret_key: None,
            secret_key_file: None,
            secret_grace_s: 7 * 24 * 3600,
            game: canopy_core::game::settings::GameSettings::default(),
            ball_sweep_interval: std::time::Duration::from_secs(10),
            game_moves_per_s: 10,
            game_moves_burst: 30,
            cancel_window_s: canopy_service::CANCEL_WINDOW_S_DEFAULT,
            clock: std::sync::Arc::new(canopy_core::clock::SystemClock),
        }
    }
}

impl Config {
    /// The ingestion writer's settings.
    pub fn ingestor(&self) -> canopy_store::writer::IngestorConfig {
        canopy_store::writer::IngestorConfig {
            queue_events_max: self.queue_events_max,
            group_linger: self.group_linger,
            ..Default::default()
        }
    }
}

impl Config {
    /// The use cases' settings.
    pub fn settings(&self) -> canopy_service::Settings {
        canopy_service::Settings {
            timezone: self.timezone,
            session_ttl_s: self.session_ttl_s,
            event_grams_max: self.event_grams_max,
            password_hashes_max: self.password_hashes_max,
            secret_grace_s: self.secret_grace_s,
            game_moves_per_s: self.game_moves_per_s,
            game_moves_burst: self.game_moves_burst,
            cancel_window_s: self.cancel_window_s,
        }
    }
}

/// UTC+08:00, the time zone of the programmes Canopy stands in for.
pub fn default_timezone() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

/// Parses `+08:00`, `-05:30`, `Z` or `UTC`.
pub fn parse_timezone(text: &str) -> Option<FixedOffset> {
    if text == "Z" || text == "UTC" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (hours, minutes) = rest.split_once(':')?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(hours) || !two_digits(minutes) {
        return None;
    }
    let (hours, minutes) = (hours.parse::<i32>().ok()?, minutes.parse::<i32>().ok()?);
    if hours > 14 || minutes >= 60 {
        return None;
    }
    let seconds = hours * 3600 + minutes * 60;
    FixedOffset::east_opt(sign * seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timezones_parse() {
        assert_eq!(parse_timezone("+08:00"), FixedOffset::east_opt(8 * 3600));
        assert_eq!(parse_timezone("-05:30"), FixedOffset::east_opt(-(5 * 3600 + 1800)));
        assert_eq!(parse_timezone("Z"), FixedOffset::east_opt(0));
        assert_eq!(parse_timezone("8"), None);
        assert_eq!(parse_timezone("+8:00"), None);
        for bad in ["++8:00", "+-5:00", "+08:99", "+08:-1", "+15:00", "08:00"] {
            assert_eq!(parse_timezone(bad), None, "{bad}");
        }
    }
}
