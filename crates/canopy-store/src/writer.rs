//! Group commit: one writer takes the events of many concurrent requests,
//! decides them together and commits them in one transaction.
//!
//! Requests are queued on a bounded channel; the queue's size in events is
//! bounded by a semaphore, and a request that does not fit is refused at
//! once ([`IngestError::Overloaded`]) instead of waiting in an unbounded
//! backlog. The writer takes whatever is queued (up to
//! [`IngestorConfig::group_events_max`] events), so a lone request is
//! committed at once and a burst shares one transaction and one fsync.
//!
//! The writer runs on a thread of its own with its own SQLite connection
//! (rusqlite), and uses prepared statements, one row at a time, inside the
//! group's transaction. Measured on this project's 2-core machine, sqlx's
//! SQLite driver costs about 8 µs a row (each statement and its arguments
//! cross to sqlx's worker thread) against about 3 µs with a prepared
//! rusqlite statement, and the hot path writes three to four rows an event;
//! see BENCHMARKS.md. Everything else in the store stays on sqlx.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use canopy_core::ingest::{
    self, AcceptedEvent, ConsentState, Decision, LinkView, Outcome, PrecheckedEvent, RequestEvents, Snapshot,
    StoredEvent, Usage,
};
use canopy_core::ledger::{AccountKind, CREDIT_TRANSFERS, SYSTEM_USER_ID};
use canopy_core::methodology::Registry;
use canopy_core::types::{CategorySet, RegionCode};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::{format_time, Store, StoreError, StoreResult};

/// The methodologies in force, shared between the HTTP edge (which
/// publishes) and the writer (which applies them). Readers take a cheap
/// clone of the inner `Arc`.
#[derive(Clone, Debug)]
pub struct SharedRegistry(Arc<RwLock<Arc<Registry>>>);

impl SharedRegistry {
    /// Shares `registry`.
    pub fn new(registry: Registry) -> Self {
        SharedRegistry(Arc::new(RwLock::new(Arc::new(registry))))
    }

    /// The registry in force now.
    pub fn current(&self) -> Arc<Registry> {
        self.0.read().expect("registry lock poisoned").clone()
    }

    /// Replaces the registry (after a publication).
    pub fn replace(&self, registry: Registry) {
        *self.0.write().expect("registry lock poisoned") = Arc::new(registry);
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
}

impl Default for IngestorConfig {
    fn default() -> Self {
        IngestorConfig { queue_events_max: 200_000, group_events_max: 20_000 }
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
    /// The database failed; nothing of the request was committed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// One request for the writer.
#[derive(Debug)]
pub struct IngestRequest {
    /// The reporting partner.
    pub partner_id: i64,
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
    /// Microseconds from `BEGIN` to the end of `COMMIT`.
    pub total_us: u64,
}

/// The handle through which requests reach the writer. Cloning it is cheap;
/// the writer stops once every handle is dropped and the queue is drained.
#[derive(Clone, Debug)]
pub struct Ingestor {
    sender: mpsc::Sender<Job>,
    permits: Arc<Semaphore>,
    queue_events_max: usize,
}

impl Ingestor {
    /// Opens the writer's connection and starts the writer thread.
    pub fn start(
        store: &Store,
        registry: SharedRegistry,
        config: IngestorConfig,
    ) -> StoreResult<(Ingestor, tokio::task::JoinHandle<()>)> {
        assert!(config.group_events_max >= ingest::BATCH_EVENTS_MAX, "a whole batch fits in a group");
        assert!(config.queue_events_max >= ingest::BATCH_EVENTS_MAX, "a whole batch fits in the queue");
        let mut connection = open_writer_connection(store.path())?;
        let (sender, receiver) = mpsc::channel(config.queue_events_max.div_ceil(64).max(64));
        let handle = tokio::task::spawn_blocking(move || {
            // A panic here is a bug (an invariant assertion failed). Bugs
            // crash: a server whose writer is gone must not go on answering
            // as if it were merely busy, so the whole process stops and its
            // supervisor restarts it; nothing unacknowledged was committed.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_writer(&mut connection, registry, config, receiver)
            }));
            if outcome.is_err() {
                tracing::error!("the ingestion writer panicked; aborting");
                std::process::abort();
            }
        });
        Ok((
            Ingestor {
                sender,
                permits: Arc::new(Semaphore::new(config.queue_events_max)),
                queue_events_max: config.queue_events_max,
            },
            handle,
        ))
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
        self.sender.try_send(Job { request, reply, _permit: permit }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => IngestError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => IngestError::Unavailable("the writer stopped".into()),
        })?;
        answer.await.unwrap_or_else(|_| Err(IngestError::Unavailable("the writer stopped".into())))
    }
}

/// Opens a connection for the writer with the store's durability settings.
pub(crate) fn open_writer_connection(path: &str) -> StoreResult<Connection> {
    let connection = Connection::open(path).map_err(|e| StoreError::Writer(e.to_string()))?;
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;
             PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -65536;
             PRAGMA temp_store = MEMORY;
             PRAGMA wal_autocheckpoint = 16384;",
        )
        .map_err(|e| StoreError::Writer(e.to_string()))?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

fn run_writer(
    connection: &mut Connection,
    registry: SharedRegistry,
    config: IngestorConfig,
    mut receiver: mpsc::Receiver<Job>,
) {
    let mut last_purge = Instant::now();
    // A job that would have made the last group too large starts the next.
    let mut held: Option<Job> = None;
    while let Some(first) = held.take().or_else(|| receiver.blocking_recv()) {
        let mut events = first.request.events.len();
        let mut jobs = vec![first];
        while let Ok(job) = receiver.try_recv() {
            if events + job.request.events.len() > config.group_events_max {
                held = Some(job);
                break;
            }
            events += job.request.events.len();
            jobs.push(job);
        }
        debug_assert!(events <= config.group_events_max);
        let purge = last_purge.elapsed().as_secs() >= 30;
        if purge {
            last_purge = Instant::now();
        }
        let registry = registry.current();
        let requests: Vec<&IngestRequest> = jobs.iter().map(|j| &j.request).collect();
        match commit_group(connection, &requests, &registry, Utc::now(), purge) {
            Ok((answers, stats)) => {
                tracing::debug!(
                    requests = stats.requests,
                    events = stats.events,
                    load_us = stats.load_us,
                    decide_us = stats.decide_us,
                    write_us = stats.write_us,
                    total_us = stats.total_us,
                    "group committed"
                );
                for (job, answer) in jobs.into_iter().zip(answers) {
                    let _ = job.reply.send(answer);
                }
            }
            Err(error) => {
                tracing::error!(%error, requests = jobs.len(), "ingestion group failed; nothing committed");
                for job in jobs {
                    let _ = job.reply.send(Err(IngestError::Unavailable(error.to_string())));
                }
            }
        }
    }
}

type Answers = Vec<Result<Vec<Outcome>, IngestError>>;

/// Decides and commits one group of requests in one transaction.
fn commit_group(
    connection: &mut Connection,
    requests: &[&IngestRequest],
    registry: &Registry,
    now: DateTime<Utc>,
    purge_signatures: bool,
) -> Result<(Answers, GroupStats), rusqlite::Error> {
    let started = Instant::now();
    let tx = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now_text = format_time(now);
    if purge_signatures {
        tx.prepare_cached("DELETE FROM request_signatures WHERE expires_at < ?1")?.execute(params![now.timestamp()])?;
    }

    // Replays: the first request of the group to carry a signature that is
    // new to the database claims it; every later carrier is a replay.
    let mut admitted = Vec::with_capacity(requests.len());
    {
        let mut remember = tx.prepare_cached(
            "INSERT INTO request_signatures (signature, partner_id, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (signature) DO NOTHING",
        )?;
        for request in requests {
            admitted.push(match &request.signature {
                None => true,
                Some((signature, expires_at)) => {
                    remember.execute(params![signature, request.partner_id, expires_at])? == 1
                }
            });
        }
    }
    let groups: Vec<RequestEvents<'_>> = requests
        .iter()
        .zip(&admitted)
        .filter(|(_, ok)| **ok)
        .map(|(r, _)| RequestEvents { partner_id: r.partner_id, events: &r.events })
        .collect();

    let phase = Instant::now();
    let snapshot = load_snapshot(&tx, &groups, registry)?;
    let load_us = phase.elapsed().as_micros() as u64;
    let phase = Instant::now();
    let decision = ingest::decide(&groups, &snapshot, registry);
    let decide_us = phase.elapsed().as_micros() as u64;
    let phase = Instant::now();
    write_decision(&tx, &decision, &now_text)?;
    let write_us = phase.elapsed().as_micros() as u64;
    tx.commit()?;

    let stats = GroupStats {
        requests: requests.len(),
        events: requests.iter().map(|r| r.events.len()).sum(),
        load_us,
        decide_us,
        write_us,
        total_us: started.elapsed().as_micros() as u64,
    };
    let mut outcomes = decision.outcomes.into_iter();
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
    Ok((answers, stats))
}

fn load_snapshot(
    tx: &rusqlite::Transaction<'_>,
    groups: &[RequestEvents<'_>],
    registry: &Registry,
) -> Result<Snapshot, rusqlite::Error> {
    let mut snapshot = Snapshot::default();
    let (event_keys, link_keys) = ingest::keys::events_and_links(groups);
    {
        let mut existing =
            tx.prepare_cached("SELECT grams, methodology FROM events WHERE partner_id = ?1 AND event_id = ?2")?;
        for (partner_id, event_id) in event_keys {
            let stored = existing
                .query_row(params![partner_id, event_id], |r| {
                    Ok(StoredEvent { grams: r.get(0)?, methodology: r.get(1)? })
                })
                .optional()?;
            if let Some(stored) = stored {
                snapshot.existing.insert((partner_id, event_id.to_owned()), stored);
            }
        }
    }
    {
        let mut links = tx.prepare_cached(
            "SELECT l.user_id, u.region, c.scopes, c.revoked_at
             FROM partner_links l
             JOIN users u ON u.id = l.user_id
             LEFT JOIN consents c ON c.user_id = l.user_id AND c.partner_id = l.partner_id
             WHERE l.partner_id = ?1 AND l.user_ref = ?2",
        )?;
        for (partner_id, user_ref) in link_keys {
            let link = links
                .query_row(params![partner_id, user_ref], |r| {
                    let region: String = r.get(1)?;
                    let region = RegionCode::parse(&region).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
                    })?;
                    let scopes: Option<i64> = r.get(2)?;
                    let revoked: Option<String> = r.get(3)?;
                    Ok(LinkView {
                        user_id: r.get(0)?,
                        region,
                        consent: match (scopes, revoked) {
                            (Some(mask), None) => ConsentState::Active(CategorySet::from_mask(mask)),
                            _ => ConsentState::Revoked,
                        },
                    })
                })
                .optional()?;
            if let Some(link) = link {
                snapshot.links.insert((partner_id, user_ref.to_owned()), link);
            }
        }
    }
    let (fingerprint_keys, usage_keys) = ingest::keys::fingerprints_and_usage(groups, &snapshot.links, registry);
    {
        let mut fingerprints = tx.prepare_cached(
            "SELECT 1 FROM act_fingerprints WHERE user_id = ?1 AND behavior = ?2 AND fingerprint = ?3",
        )?;
        for key in fingerprint_keys {
            if fingerprints.exists(params![key.0, key.1, key.2])? {
                snapshot.fingerprints.insert(key);
            }
        }
    }
    {
        let mut usage = tx.prepare_cached(
            "SELECT count, grams FROM cap_usage WHERE user_id = ?1 AND behavior = ?2 AND period = ?3",
        )?;
        for key in usage_keys {
            let found = usage
                .query_row(params![key.user_id, key.behavior, key.period.key()], |r| {
                    Ok(Usage { count: r.get(0)?, grams: r.get(1)? })
                })
                .optional()?;
            if let Some(found) = found {
                snapshot.usage.insert(key, found);
            }
        }
    }
    Ok(snapshot)
}

/// The event insert, shared with the raw-insert benchmark so that both
/// write the same rows the same way.
pub(crate) const EVENT_INSERT: &str =
    "INSERT INTO events (partner_id, event_id, user_id, behavior, occurred_at, region,
     inputs, fingerprint, methodology, grams, outcome, received_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/// Inserts one event row with a prepared `statement` (for the events table,
/// or the benchmark's bare table).
pub(crate) fn insert_event(
    statement: &mut rusqlite::CachedStatement<'_>,
    e: &AcceptedEvent,
    received_at: &str,
) -> Result<(), rusqlite::Error> {
    statement.execute(params![
        e.partner_id,
        e.event_id,
        e.user_id,
        e.behavior,
        format_time(e.occurred_at),
        e.region.as_str(),
        serde_json::to_string(&e.inputs).expect("serialisable"),
        e.fingerprint,
        e.methodology,
        e.grams,
        e.outcome.as_str(),
        received_at,
    ])?;
    Ok(())
}

fn write_decision(tx: &rusqlite::Transaction<'_>, decision: &Decision, now: &str) -> Result<(), rusqlite::Error> {
    if decision.accepted.is_empty() {
        return Ok(());
    }
    let mut events = tx.prepare_cached(EVENT_INSERT)?;
    let mut fingerprints = tx.prepare_cached(
        "INSERT INTO act_fingerprints (user_id, behavior, fingerprint, partner_id, event_id) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for e in &decision.accepted {
        insert_event(&mut events, e, now)?;
        if let Some(fingerprint) = &e.fingerprint {
            fingerprints.execute(params![e.user_id, e.behavior, fingerprint, e.partner_id, e.event_id])?;
        }
    }

    let credited = decision.accepted.iter().filter(|e| e.grams > 0).count();
    if credited > 0 {
        // A range of transfer ids for the whole group, in one update.
        let count = (credited * CREDIT_TRANSFERS.len()) as i64;
        let last: i64 = tx
            .prepare_cached("UPDATE sequences SET value = value + ?1 WHERE name = 'transfers' RETURNING value")?
            .query_row(params![count], |r| r.get(0))?;
        let mut next_id = last - count + 1;
        let mut transfers = tx.prepare_cached(
            "INSERT INTO transfers (user_id, id, kind, debit_user, debit_account, credit_user, credit_account,
                                    grams, partner_id, event_id, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for e in decision.accepted.iter().filter(|e| e.grams > 0) {
            for (kind, debit, credit) in CREDIT_TRANSFERS {
                transfers.execute(params![
                    e.user_id,
                    next_id,
                    kind.as_str(),
                    SYSTEM_USER_ID,
                    debit.as_str(),
                    e.user_id,
                    credit.as_str(),
                    e.grams,
                    e.partner_id,
                    e.event_id,
                    now,
                ])?;
                next_id += 1;
            }
        }
        assert_eq!(next_id, last + 1, "every allocated transfer id is used");
    }

    let mut usage = tx.prepare_cached(
        "INSERT INTO cap_usage (user_id, behavior, period, count, grams) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (user_id, behavior, period)
         DO UPDATE SET count = count + excluded.count, grams = grams + excluded.grams",
    )?;
    for (key, delta) in &decision.usage_deltas {
        usage.execute(params![key.user_id, key.behavior, key.period.key(), delta.count, delta.grams])?;
    }

    let total = decision.credited_grams();
    if total > 0 {
        let mut accounts = tx.prepare_cached(
            "INSERT INTO accounts (user_id, kind, debits, credits) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (user_id, kind) DO UPDATE SET debits = debits + excluded.debits, credits = credits + excluded.credits",
        )?;
        // Citizens are credited; the operator's issuance accounts are
        // debited by the same total, so debits equal credits.
        let mut citizens: Vec<(&i64, &i64)> = decision.balance_deltas.iter().collect();
        citizens.sort_unstable();
        for (user_id, grams) in citizens {
            assert!(*grams > 0, "a credit only raises a citizen's balances");
            accounts.execute(params![user_id, AccountKind::Reduction.as_str(), 0, grams])?;
            accounts.execute(params![user_id, AccountKind::Energy.as_str(), 0, grams])?;
        }
        accounts.execute(params![SYSTEM_USER_ID, AccountKind::ReductionIssuance.as_str(), total, 0])?;
        accounts.execute(params![SYSTEM_USER_ID, AccountKind::EnergyIssuance.as_str(), total, 0])?;
    }
    Ok(())
}
