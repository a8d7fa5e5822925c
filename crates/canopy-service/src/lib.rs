//! Canopy's use cases, in one layer.
//!
//! Registering, signing in, granting and revoking consent, linking,
//! creating partners, publishing methodologies, ingesting a batch and
//! reading the ledger live here, once. The HTTP handlers, the CLI, `canopy
//! demo`, `canopy bench` and the web pages call these methods and only
//! translate: wire JSON in, a [`ServiceError`] or a value out. No edge
//! re-implements a check, so a rule holds whichever door a request comes in
//! by. Each capability is a module with its own `impl Service`.

mod accounts;
mod balls;
mod campaigns;
mod challenges;
mod checkins;
mod consent;
mod coplanting;
mod demand;
mod energy;
mod error;
mod figures;
mod friends;
mod history;
mod ingest;
mod leaderboards;
mod ledger;
mod medals;
mod methodologies;
mod openadr;
mod operators;
mod partners;
mod pools;
mod rate_limit;
mod redemption;
mod reports;
pub mod secrets;
mod settlement;
mod subscriptions;
pub mod tokens;
mod vens;
mod vouchers;
mod your_data;

use std::sync::Arc;

use canopy_core::clock::{Clock, SystemClock};
use canopy_core::game::settings::GameSettings;
use canopy_store::writer::{Ingestor, SharedRegistry};
use canopy_store::Store;
use chrono::{DateTime, FixedOffset, Utc};

pub use accounts::{Account, NewAccount, Session};
pub use balls::{BallView, Collected, Idempotency, IDEMPOTENCY_KEY_MAX};
pub use campaigns::{CampaignView, Contributed, NewCampaign, Retirement};
pub use canopy_store::NotificationRow;
pub use challenges::{ChallengeView, NewChallenge, TEAM_NAME_MAX};
pub use checkins::{CheckedIn, Streak, CHECKIN_NOTE_MAX};
pub use consent::{ConsentGrant, Link};
pub use coplanting::NewCoplanting;
pub use demand::{NewBillVouchers, NewEvent, NewProgram, DEFAULT_EMISSION_FACTOR_SOURCE};
pub use energy::{BillView, ReadingResult, ReadingWire};
pub use error::{ErrorKind, ServiceError, ServiceResult};
pub use figures::{parse_window, Figures, PlaceTally, Tally, FIGURES_DAYS_MAX, TOP_BEHAVIORS, UNKNOWN_PLACE};
pub use friends::{FriendBallView, FriendForest, RequestAnswer, TakenShare, Watered};
pub use history::{HistoryQuery, MonthlyReductions, HISTORY_ACTS_MAX, HISTORY_MONTHS_MAX};
pub use leaderboards::{BoardCache, BoardEntry, BoardPage, BoardQuery, BOARD_FRESH_S, BOARD_PAGE_MAX};
pub use ledger::{LedgerEntry, LedgerPage, LEDGER_PAGE_DEFAULT, LEDGER_PAGE_MAX};
pub use medals::{EarnedMedal, MedalCursor, MedalProgress, Medals, MEDAL_SWEEP_MAX};
pub use methodologies::{load_registry, Published};
pub use openadr::{event_object, program_object, VTN_TARGETS_MAX};
pub use operators::{Operator, Role};
pub use partners::{parse_categories, NewPartner};
pub use pools::{NewPool, POOL_FUNDING_MAX, POOL_NAME_MAX};
pub use rate_limit::{FailedSignIns, MoveLimit, SIGN_IN_FAILURES_MAX, SIGN_IN_WINDOW_S};
pub use redemption::{
    NewProject, NewSponsor, ProjectQuery, Redemption, RedemptionsPage, CANCEL_WINDOW_S_DEFAULT,
    REDEMPTIONS_PAGE_DEFAULT,
};
pub use reports::{Report, ReportReader, SPONSOR_KEY_PREFIX};
pub use settlement::{EventReport, ProgramReport, SettleRun, RECHECK_S, RESETTLE_HORIZON_S};
pub use subscriptions::{
    backoff_s, subscription_object, CALLBACK_URL_MAX, NOTIFY_ATTEMPTS_MAX, NOTIFY_BACKOFF_S, NOTIFY_BATCH_MAX,
    SUBSCRIPTIONS_PER_VEN_MAX,
};
pub use vens::{NewVen, TokenRefusal, VEN_TOKEN_TTL_S};
pub use your_data::{DataExport, ExportSection, ProfileUpdate, EXPORT_SECTION_ROWS_MAX};

/// Settings the use cases need.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The instance's time zone: it fixes the local day of an act.
    pub timezone: FixedOffset,
    /// How long a session lasts, in seconds.
    pub session_ttl_s: i64,
    /// The most grams one event may yield: a methodology that can yield
    /// more is refused at load and at publication.
    pub event_grams_max: i64,
    /// Password hashes (argon2) computed at once; a sign-in or registration
    /// that cannot start one within a short wait is refused `busy`.
    pub password_hashes_max: usize,
    /// How long a partner's older secrets keep verifying after a rotation,
    /// in seconds, unless retired sooner.
    pub secret_grace_s: i64,
    /// Game moves (collects, check-ins, …) one citizen may make per second.
    pub game_moves_per_s: u32,
    /// Game moves one citizen may make at once before the rate applies.
    pub game_moves_burst: u32,
    /// Seconds after a redemption within which its citizen may cancel it.
    pub cancel_window_s: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timezone: FixedOffset::east_opt(8 * 3600).expect("valid offset"),
            session_ttl_s: 24 * 3600,
            event_grams_max: canopy_core::methodology::DEFAULT_EVENT_GRAMS_MAX,
            password_hashes_max: std::thread::available_parallelism().map_or(2, |n| n.get()),
            secret_grace_s: 7 * 24 * 3600,
            game_moves_per_s: 10,
            game_moves_burst: 30,
            cancel_window_s: CANCEL_WINDOW_S_DEFAULT,
        }
    }
}

/// The use cases over one store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Service {
    store: Store,
    registry: SharedRegistry,
    ingestor: Option<Ingestor>,
    settings: Settings,
    clock: Arc<dyn Clock>,
    /// Serialises methodology publication within this process (the
    /// database serialises it across processes).
    publish_lock: Arc<tokio::sync::Mutex<()>>,
    /// Bounds the argon2 hashes computed at once.
    password_hashing: tokens::PasswordHashing,
    /// The operator's key that seals partner secrets.
    secret_key: secrets::SecretKey,
    /// The energy game's settings.
    game: Arc<GameSettings>,
    /// The per-citizen limit on game moves.
    moves: MoveLimit,
    /// The per-username limit on failed sign-ins.
    sign_ins: rate_limit::FailedSignIns,
    /// Region leaderboards computed lately.
    boards: BoardCache,
    /// Signalled when OpenADR notifications were written.
    webhooks: Arc<tokio::sync::Notify>,
}

impl Service {
    /// The use cases over `store`, with `registry` in force. Ingestion
    /// needs a writer: see [`Service::with_ingestor`].
    pub fn new(store: Store, registry: SharedRegistry, settings: Settings, secret_key: secrets::SecretKey) -> Self {
        Service {
            store,
            registry,
            ingestor: None,
            settings,
            clock: Arc::new(SystemClock),
            publish_lock: Arc::new(tokio::sync::Mutex::new(())),
            password_hashing: tokens::PasswordHashing::new(settings.password_hashes_max),
            secret_key,
            game: Arc::new(GameSettings::default()),
            moves: MoveLimit::new(settings.game_moves_per_s, settings.game_moves_burst),
            sign_ins: rate_limit::FailedSignIns::default(),
            boards: BoardCache::default(),
            webhooks: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Plays the energy game by `settings`.
    pub fn with_game_settings(mut self, settings: Arc<GameSettings>) -> Self {
        self.game = settings;
        self
    }

    /// The energy game's settings.
    pub fn game_settings(&self) -> &GameSettings {
        &self.game
    }

    /// The clock the service reads (shared with the writer).
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Opens the use cases over `store` with every published methodology
    /// loaded (recording the shipped ones first), after checking that
    /// `secret_key` is the one the partner secrets were sealed with (and
    /// sealing any still in clear).
    pub async fn open(store: Store, settings: Settings, secret_key: secrets::SecretKey) -> anyhow::Result<Self> {
        secrets::prepare(&store, &secret_key).await?;
        let registry = load_registry(&store, settings.event_grams_max).await?;
        Ok(Service::new(store, registry, settings, secret_key))
    }

    /// The use cases over `store` with no methodologies loaded, for
    /// administration commands (`partner create`, `ledger verify`) that
    /// neither ingest nor read methodologies and must not write at start.
    /// The key is checked against the database as in [`Service::open`].
    pub async fn for_administration(
        store: Store,
        settings: Settings,
        secret_key: secrets::SecretKey,
    ) -> anyhow::Result<Self> {
        secrets::prepare(&store, &secret_key).await?;
        let registry = canopy_core::methodology::Registry::with_event_grams_max(settings.event_grams_max);
        Ok(Service::new(store, SharedRegistry::new(registry), settings, secret_key))
    }

    /// Ingests through `ingestor` (the group-commit writer).
    pub fn with_ingestor(mut self, ingestor: Ingestor) -> Self {
        self.ingestor = Some(ingestor);
        self
    }

    /// Takes the time from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The store (for health checks and shutdown).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The methodologies in force.
    pub fn registry(&self) -> &SharedRegistry {
        &self.registry
    }

    /// The writer, if this service ingests.
    pub fn ingestor(&self) -> Option<&Ingestor> {
        self.ingestor.as_ref()
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The current time, from the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
