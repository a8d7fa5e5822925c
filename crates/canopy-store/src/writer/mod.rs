//! Group commit: one writer takes the events of many concurrent requests,
//! decides them together and commits them in one transaction.
//!
//! Requests are queued on a bounded channel; the queue's size in events is
//! bounded by a semaphore, and a request that does not fit is refused at
//! once ([`IngestError::Overloaded`]) instead of waiting in an unbounded
//! backlog. The writer takes whatever is queued (up to
//! [`IngestorConfig::group_events_max`] events), so a lone request is
//! committed at once and a burst shares one transaction and one fsync;
//! requests arriving while a group commits form the next group.
//!
//! Two writers implement the same steps (claim signatures, load a snapshot
//! of what the group touches, [`ingest::decide`], write, commit):
//! - [`sqlite`]: a thread of its own with its own SQLite connection
//!   (rusqlite) and prepared statements, one row at a time inside the
//!   group's transaction (cheap in-process; see BENCHMARKS.md);
//! - [`postgres`]: a task with its own connection that loads and writes
//!   set-wise, one `unnest` statement per table and group, under a
//!   transaction-scoped advisory lock so that several server processes on
//!   one database decide one group at a time.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use canopy_core::clock::{Clock, SystemClock};
use canopy_core::game::settings::GameSettings;
use canopy_core::ingest::{self, AcceptedEvent, Decision, Outcome, PrecheckedEvent};
use canopy_core::ledger::PostingError;
use canopy_core::methodology::Registry;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

pub use crate::store::balls::{GameCommand, GameOutcome, IdempotencyKey, EXPIRE_CHUNK_MAX};
use crate::store::postings::PostFailure;
pub use crate::store::social::{SocialAction, SocialMove};
use crate::{Backend, Store, StoreResult};

mod postgres;
mod sqlite;

#[cfg(feature = "bench")]
pub(crate) use sqlite::{insert_event, open_writer_connection, EVENT_INSERT};

/// The methodologies in force, shared between the HTTP edge (which
/// publishes) and the writer (which applies them), with the database's
/// registry version they were loaded at. Readers take a cheap clone of the
/// inner `Arc`.
#[derive(Clone, Debug)]
pub struct SharedRegistry(Arc<RwLock<(i64, Arc<Registry>)>>);

impl SharedRegistry {
    /// Shares `registry`, loaded at registry version 0 (a database no
    /// publication has touched).
    pub fn new(registry: Registry) -> Self {
        SharedRegistry::at_version(0, registry)
    }

    /// Shares `registry`, loaded at the database's registry `version`.
    pub fn at_version(version: i64, registry: Registry) -> Self {
        SharedRegistry(Arc::new(RwLock::new((version, Arc::new(registry)))))
    }

    /// The registry in force now.
    pub fn current(&self) -> Arc<Registry> {
        self.0.read().expect("registry lock poisoned").1.clone()
    }

    /// The registry, if it was loaded at the database's registry `version`;
    /// `None` when it is stale and must be reloaded.
    pub fn at(&self, version: i64) -> Option<Arc<Registry>> {
        let guard = self.0.read().expect("registry lock poisoned");
        (guard.0 == version).then(|| guard.1.clone())
    }

    /// Replaces the registry with one loaded at `version` (unless a newer
    /// one is already in place) and returns the one in force.
    pub fn replace_at(&self, version: i64, registry: Registry) -> Arc<Registry> {
        let mut guard = self.0.write().expect("registry lock poisoned");
        if version >= guard.0 {
            *guard = (version, Arc::new(registry));
        }
        guard.1.clone()
    }
}

/// Limits of the ingestion pipeline.
#[derive(Debug, Clone, Copy)]
pub struct IngestorConfig {
    /// Events that may wait for the writer at once; beyond it, requests are
    /// refused with [`IngestError::Overloaded`].
    pub queue_events_max: usize,
    /// The most events committed in one transaction.
    pub group_events_max: usize,
    /// How long the PostgreSQL writer waits for more requests when the
    /// queue runs dry before a group is full (a commit there costs a network
    /// round trip, so a few more requests per group pay for the wait).
    pub group_linger: Duration,
}

impl Default for IngestorConfig {
    fn default() -> Self {
        IngestorConfig { queue_events_max: 200_000, group_events_max: 20_000, group_linger: Duration::from_millis(1) }
    }
}

/// Why a request's events were not decided.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    /// The request's signature was already used.
    #[error("this signature was already used")]
    Replayed,
    /// The queue is full.
    #[error("the ingestion queue is full")]
    Overloaded,
    /// The database failed; nothing of the request was committed. `code`
    /// says how: `storage_unavailable` (down or unreachable),
    /// `storage_timeout` (a statement or lock wait ran out of time) or
    /// `storage_busy` (no connection free in time).
    #[error("storage unavailable: {detail}")]
    Unavailable {
        /// The stable error code.
        code: &'static str,
        /// What the database said.
        detail: String,
    },
    /// The ledger refused what this request's events would post (a sum of
    /// grams that would overflow an account, say); nothing of the request
    /// was committed, and the other requests of its group were decided
    /// without it. `code` is `grams_overflow` or `ledger_refused`.
    #[error("the ledger refused this request: {detail}")]
    Refused {
        /// The stable error code.
        code: &'static str,
        /// What the ledger said.
        detail: String,
    },
}

impl IngestError {
    /// The answer to a request whose group (of itself alone) failed.
    pub(crate) fn from_failure<E: StorageFailure>(failure: &PostFailure<E>) -> Self {
        match failure {
            PostFailure::Ledger(error) => IngestError::Refused {
                code: match error {
                    PostingError::Overflow { .. } => "grams_overflow",
                    _ => "ledger_refused",
                },
                detail: error.to_string(),
            },
            PostFailure::Overflow(detail) => IngestError::Refused { code: "grams_overflow", detail: detail.clone() },
            PostFailure::Storage(error) => IngestError::Unavailable { code: error.code(), detail: error.to_string() },
        }
    }
}

/// One request for the writer.
#[derive(Debug)]
pub struct IngestRequest {
    /// The reporting partner.
    pub partner_id: i64,
    /// The regions the partner is registered for (see
    /// [`canopy_core::ingest::RequestEvents::partner_regions`]).
    pub partner_regions: Vec<canopy_core::types::RegionCode>,
    /// The request signature and when it may be forgotten (unix seconds);
    /// recorded in the same transaction as the events, so that a replay is
    /// refused exactly when the original was committed.
    pub signature: Option<(String, i64)>,
    /// The events, prechecked.
    pub events: Vec<PrecheckedEvent>,
}

struct Job {
    request: IngestRequest,
    reply: oneshot::Sender<Result<Vec<Outcome>, IngestError>>,
    _permit: OwnedSemaphorePermit,
}

/// A game command for the writer (see [`crate::store::balls`]).
struct GameJob {
    command: GameCommand,
    reply: oneshot::Sender<Result<GameOutcome, IngestError>>,
}

/// What the writer's queue carries: ingestion requests, which it groups,
/// and game commands, which it groups apart (consecutive commands, up to
/// [`GAME_GROUP_MAX`], in one transaction), everything in the order it
/// arrived.
enum Work {
    Ingest(Job),
    Game(GameJob),
}

/// What the writer needs beyond the registry: the game's settings (how
/// balls ripen) and the clock that says when energy was recorded.
#[derive(Debug, Clone)]
pub struct WriterContext {
    /// The game's settings.
    pub game: Arc<GameSettings>,
    /// Where the time comes from.
    pub clock: Arc<dyn Clock>,
    /// The open balls the writer made or found lately (only the writer uses it).
    pub open_balls: Arc<std::sync::Mutex<crate::store::balls::OpenBalls>>,
    /// How the writer has grouped game commands.
    pub game_groups: Arc<GameGroups>,
}

/// Counts of the game commands the writer decided and the transactions it
/// decided them in (for benchmarks and logs).
#[derive(Debug, Default)]
pub struct GameGroups {
    groups: std::sync::atomic::AtomicU64,
    commands: std::sync::atomic::AtomicU64,
    busy_us: std::sync::atomic::AtomicU64,
}

impl GameGroups {
    fn record(&self, commands: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.groups.fetch_add(1, Relaxed);
        self.commands.fetch_add(commands as u64, Relaxed);
    }

    fn busy(&self, took: std::time::Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        self.busy_us.fetch_add(took.as_micros() as u64, Relaxed);
    }

    /// (transactions, commands, microseconds the writer spent on them) so far.
    pub fn counts(&self) -> (u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.groups.load(Relaxed), self.commands.load(Relaxed), self.busy_us.load(Relaxed))
    }
}

impl Default for WriterContext {
    fn default() -> Self {
        WriterContext::new(Arc::new(GameSettings::default()), Arc::new(SystemClock))
    }
}

impl WriterContext {
    /// A context with the game's settings and a clock.
    pub fn new(game: Arc<GameSettings>, clock: Arc<dyn Clock>) -> Self {
        WriterContext { game, clock, open_balls: Default::default(), game_groups: Default::default() }
    }
}

/// Statistics of one committed group, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupStats {
    /// Requests in the group.
    pub requests: usize,
    /// Events in the group.
    pub events: usize,
    /// Microseconds loading the snapshot.
    pub load_us: u64,
    /// Microseconds deciding.
    pub decide_us: u64,
    /// Microseconds writing rows.
    pub write_us: u64,
    /// Microseconds committing (on SQLite the WAL append and its fsync; on
    /// PostgreSQL the round trip and the server's flush).
    pub commit_us: u64,
    /// Microseconds from `BEGIN` to the end of `COMMIT`.
    pub total_us: u64,
}

/// The handle through which requests reach the writer. Cloning it is cheap;
/// the writer stops once every handle is dropped and the queue is drained.
#[derive(Clone, Debug)]
pub struct Ingestor {
    sender: mpsc::Sender<Work>,
    permits: Arc<Semaphore>,
    queue_events_max: usize,
    game_groups: Arc<GameGroups>,
}

impl Ingestor {
    /// Starts the writer for `store` (a thread on SQLite, a task on
    /// PostgreSQL). The returned handle ends when every [`Ingestor`] is
    /// dropped and the queue is drained.
    pub fn start(
        store: &Store,
        registry: SharedRegistry,
        config: IngestorConfig,
    ) -> StoreResult<(Ingestor, tokio::task::JoinHandle<()>)> {
        Ingestor::start_with(store, registry, config, WriterContext::default())
    }

    /// As [`Ingestor::start`], with the game's settings and a clock.
    pub fn start_with(
        store: &Store,
        registry: SharedRegistry,
        config: IngestorConfig,
        context: WriterContext,
    ) -> StoreResult<(Ingestor, tokio::task::JoinHandle<()>)> {
        assert!(config.group_events_max >= ingest::BATCH_EVENTS_MAX, "a whole batch fits in a group");
        assert!(config.queue_events_max >= ingest::BATCH_EVENTS_MAX, "a whole batch fits in the queue");
        let (sender, receiver) = mpsc::channel(config.queue_events_max.div_ceil(64).max(64));
        let game_groups = context.game_groups.clone();
        let handle = match store.backend() {
            Backend::Sqlite => sqlite::spawn(store, registry, config, context, receiver)?,
            Backend::Postgres => postgres::spawn(store, registry, config, context, receiver)?,
        };
        Ok((
            Ingestor {
                sender,
                permits: Arc::new(Semaphore::new(config.queue_events_max)),
                queue_events_max: config.queue_events_max,
                game_groups,
            },
            handle,
        ))
    }

    /// How the writer has grouped game commands so far.
    pub fn game_groups(&self) -> &GameGroups {
        &self.game_groups
    }

    /// Events waiting for the writer now.
    pub fn queued_events(&self) -> usize {
        self.queue_events_max - self.permits.available_permits()
    }

    /// Decides and commits a request's events; returns their outcomes once
    /// they are durable.
    pub async fn submit(&self, request: IngestRequest) -> Result<Vec<Outcome>, IngestError> {
        // An empty request still takes one permit so that it is counted.
        let wanted = request.events.len().max(1) as u32;
        let permit = self.permits.clone().try_acquire_many_owned(wanted).map_err(|_| IngestError::Overloaded)?;
        let (reply, answer) = oneshot::channel();
        self.sender.try_send(Work::Ingest(Job { request, reply, _permit: permit })).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => IngestError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => {
                IngestError::Unavailable { code: "storage_unavailable", detail: "the writer stopped".into() }
            }
        })?;
        answer.await.unwrap_or_else(|_| {
            Err(IngestError::Unavailable { code: "storage_unavailable", detail: "the writer stopped".into() })
        })
    }
}

impl Ingestor {
    /// Decides and commits a game command in the writer, in order with
    /// everything else that moves energy; returns what it did once durable.
    pub async fn game(&self, command: GameCommand) -> Result<GameOutcome, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.sender.try_send(Work::Game(GameJob { command, reply })).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => IngestError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => {
                IngestError::Unavailable { code: "storage_unavailable", detail: "the writer stopped".into() }
            }
        })?;
        answer.await.unwrap_or_else(|_| {
            Err(IngestError::Unavailable { code: "storage_unavailable", detail: "the writer stopped".into() })
        })
    }
}

/// The most game commands the writer decides in one transaction. Each
/// command is small (a collect touches one ball, two accounts and a journal
/// row), so a group of them shares one commit, as ingestion requests do.
pub const GAME_GROUP_MAX: usize = 512;

/// The game jobs queued right behind `first`, up to [`GAME_GROUP_MAX`]; an
/// ingestion job that comes before the group is full ends it and is
/// returned to run next, so that the order of arrival is kept.
fn fill_games(
    first: GameJob,
    receiver: &mut mpsc::Receiver<Work>,
    counts: &GameGroups,
) -> (Vec<GameJob>, Option<Work>) {
    let mut jobs = vec![first];
    let mut next = None;
    while jobs.len() < GAME_GROUP_MAX {
        match receiver.try_recv() {
            Ok(Work::Game(job)) => jobs.push(job),
            Ok(ingest) => {
                next = Some(ingest);
                break;
            }
            Err(_) => break,
        }
    }
    counts.record(jobs.len());
    (jobs, next)
}

/// Answers a group of game jobs decided together: every outcome once the
/// group committed. When the group failed, each job is decided again in a
/// transaction of its own (`alone`), so that one failing command (an
/// overflow, a storage error on its rows) fails only its own request.
fn answer_games<E: StorageFailure>(
    counts: &GameGroups,
    started: std::time::Instant,
    jobs: Vec<GameJob>,
    together: Result<Vec<GameOutcome>, PostFailure<E>>,
    mut alone: impl FnMut(&GameCommand) -> Result<GameOutcome, PostFailure<E>>,
) {
    counts.busy(started.elapsed());
    match together {
        Ok(outcomes) => {
            assert_eq!(outcomes.len(), jobs.len(), "one outcome per game command");
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                answer_game::<E>(job, Ok(outcome));
            }
        }
        Err(failure) if jobs.len() == 1 => {
            let job = jobs.into_iter().next().expect("one job");
            answer_game(job, Err(failure));
        }
        Err(failure) => {
            tracing::warn!(%failure, commands = jobs.len(), "a game group failed; deciding its commands one by one");
            for job in jobs {
                let result = alone(&job.command);
                answer_game(job, result);
            }
        }
    }
}

/// Answers a game job with its result.
fn answer_game<E: StorageFailure>(job: GameJob, result: Result<GameOutcome, PostFailure<E>>) {
    let answer = result.map_err(|failure| {
        tracing::warn!(%failure, "a game command failed; nothing of it committed");
        IngestError::from_failure(&failure)
    });
    let _ = job.reply.send(answer);
}

type Answers = Vec<Result<Vec<Outcome>, IngestError>>;

/// Adds to `jobs` (which holds a group's first job) whatever is queued, up to
/// `group_events_max` events in all; a job that would overflow the group is
/// returned to start the next one.
fn fill_group(jobs: &mut Vec<Job>, receiver: &mut mpsc::Receiver<Work>, group_events_max: usize) -> Option<Work> {
    let mut events: usize = jobs.iter().map(|j| j.request.events.len()).sum();
    while let Ok(work) = receiver.try_recv() {
        let job = match work {
            Work::Ingest(job) => job,
            game => return Some(game),
        };
        if events + job.request.events.len() > group_events_max {
            return Some(Work::Ingest(job));
        }
        events += job.request.events.len();
        jobs.push(job);
    }
    debug_assert!(events <= group_events_max);
    None
}

/// Which requests of a group may go on: the first carrier of a signature
/// that `is_new` (to the database) claims it; a later carrier in the same
/// group, or any carrier of a signature already stored, is a replay.
fn admit(requests: &[&IngestRequest], mut is_new: impl FnMut(&IngestRequest, &str, i64) -> bool) -> Vec<bool> {
    let mut claimed = std::collections::HashSet::new();
    requests
        .iter()
        .map(|request| match &request.signature {
            None => true,
            Some((signature, expires_at)) => {
                claimed.insert(signature.as_str()) && is_new(request, signature, *expires_at)
            }
        })
        .collect()
}

/// Pairs each request with its answer: its outcomes if it was admitted, a
/// replay error otherwise.
fn answers(admitted: Vec<bool>, outcomes: Vec<Vec<Outcome>>) -> Answers {
    let mut outcomes = outcomes.into_iter();
    let answers = admitted
        .into_iter()
        .map(|ok| {
            if ok {
                Ok(outcomes.next().expect("one outcome list per admitted request"))
            } else {
                Err(IngestError::Replayed)
            }
        })
        .collect();
    assert!(outcomes.next().is_none(), "every outcome list has its request");
    answers
}

/// A decision's fingerprints, in their table's primary-key order
/// (behaviour, fingerprint, citizen; see migration 0005).
fn fingerprints_in_key_order<'d>(decision: &'d Decision<'_>) -> Vec<(&'d AcceptedEvent<'d>, &'d str)> {
    let mut printed: Vec<(&AcceptedEvent, &str)> =
        decision.accepted.iter().filter_map(|e| e.fingerprint.as_deref().map(|f| (e, f))).collect();
    printed.sort_unstable_by(|(a, fa), (b, fb)| (&*a.behavior, *fa, a.user_id).cmp(&(&*b.behavior, *fb, b.user_id)));
    printed
}

/// Whether a failed group of several requests is decided again one request
/// at a time: when the ledger refused its postings, or the database refused
/// its content, one request's events may be to blame, and they must not fail
/// their neighbours. An outage or a timeout would fail each alone as well,
/// so those are answered at once.
fn retry_one_by_one<E: StorageFailure>(requests: usize, failure: &PostFailure<E>) -> bool {
    requests > 1
        && match failure {
            PostFailure::Ledger(_) | PostFailure::Overflow(_) => true,
            PostFailure::Storage(error) => error.is_content(),
        }
}

/// Decides a failed group's requests again, each in a transaction of its
/// own, with `commit_one`; each request gets its own answer.
fn answer_one_by_one<E: StorageFailure>(
    requests: usize,
    failure: &PostFailure<E>,
    mut commit_one: impl FnMut(usize) -> Result<(Answers, GroupStats), PostFailure<E>>,
) -> Answers {
    tracing::warn!(%failure, requests, "ingestion group failed; deciding its requests one by one");
    (0..requests)
        .map(|i| match commit_one(i) {
            Ok((mut answers, _)) => answers.pop().expect("one answer for one request"),
            Err(failure) => {
                tracing::warn!(%failure, "an ingestion request failed on its own; nothing of it committed");
                Err(IngestError::from_failure(&failure))
            }
        })
        .collect()
}

/// Answers a group's jobs: each its outcome if the group committed, or the
/// failure that rolled all of it back.
fn finish<E: StorageFailure>(jobs: Vec<Job>, result: Result<(Answers, GroupStats), PostFailure<E>>) {
    match result {
        Ok((answers, stats)) => {
            tracing::debug!(
                requests = stats.requests,
                events = stats.events,
                load_us = stats.load_us,
                decide_us = stats.decide_us,
                write_us = stats.write_us,
                commit_us = stats.commit_us,
                total_us = stats.total_us,
                "group committed"
            );
            reply(jobs, answers);
        }
        Err(failure) => fail(jobs, &failure),
    }
}

/// Sends each job its answer.
fn reply(jobs: Vec<Job>, answers: Answers) {
    assert_eq!(jobs.len(), answers.len(), "one answer per request");
    for (job, answer) in jobs.into_iter().zip(answers) {
        let _ = job.reply.send(answer);
    }
}

/// A database failure, with the stable code it is answered with.
pub(crate) trait StorageFailure: std::fmt::Display {
    /// `storage_unavailable`, `storage_timeout` or `storage_busy`.
    fn code(&self) -> &'static str;
    /// Whether the database refused what was written (a constraint, a
    /// trigger, a number out of range) rather than failing to run it.
    fn is_content(&self) -> bool;
}

impl StorageFailure for sqlx::Error {
    fn code(&self) -> &'static str {
        crate::failure_code(self)
    }

    fn is_content(&self) -> bool {
        // SQLSTATE classes 22 (data exception, such as bigint out of
        // range) and 23 (integrity constraint violation), and a trigger's
        // RAISE (P0001).
        matches!(self, sqlx::Error::Database(e)
            if e.code().is_some_and(|c| c.starts_with("22") || c.starts_with("23") || c == "P0001"))
    }
}

impl StorageFailure for rusqlite::Error {
    fn code(&self) -> &'static str {
        match self.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => "storage_timeout",
            _ => "storage_unavailable",
        }
    }

    fn is_content(&self) -> bool {
        matches!(self.sqlite_error_code(), Some(rusqlite::ErrorCode::ConstraintViolation | rusqlite::ErrorCode::TooBig))
            || matches!(self, rusqlite::Error::IntegralValueOutOfRange(..) | rusqlite::Error::InvalidColumnType(..))
    }
}

/// Tells each job that its group failed and nothing of it was committed.
fn fail<E: StorageFailure>(jobs: Vec<Job>, failure: &PostFailure<E>) {
    let answer = IngestError::from_failure(failure);
    tracing::error!(%failure, requests = jobs.len(), "ingestion group failed; nothing committed");
    for job in jobs {
        let _ = job.reply.send(Err(answer.clone()));
    }
}
