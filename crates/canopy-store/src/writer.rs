//! Group commit: one writer task takes the events of many concurrent
//! requests, decides them together and commits them in one transaction.
//!
//! Requests are queued on a bounded channel; the queue's size in events is
//! bounded by a semaphore, and a request that does not fit is refused at once
//! ([`IngestError::Overloaded`]) instead of waiting in an unbounded backlog.
//! The writer takes whatever is queued (up to [`IngestorConfig::group_events_max`]
//! events), so a lone request is committed at once and a burst shares one
//! transaction and one fsync. Every set-wise read and write is one statement
//! over a JSON array (`json_each`), so the statements are prepared once and
//! the work per event stays inside SQLite.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use canopy_core::ingest::{
    self, AcceptedEvent, ConsentState, Decision, LinkView, Outcome, PrecheckedEvent, RequestEvents, Snapshot,
    StoredEvent, Usage, UsageKey,
};
use canopy_core::ledger::{AccountKind, CREDIT_TRANSFERS, SYSTEM_USER_ID};
use canopy_core::methodology::Registry;
use canopy_core::types::{CategorySet, RegionCode};
use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::{format_time, Store};

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

/// Statistics of one committed group, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupStats {
    /// Requests in the group.
    pub requests: usize,
    /// Events in the group.
    pub events: usize,
    /// Microseconds from the start of the transaction to its commit.
    pub commit_us: u64,
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
    /// Starts the writer task.
    pub fn start(
        store: Store,
        registry: SharedRegistry,
        config: IngestorConfig,
    ) -> (Ingestor, tokio::task::JoinHandle<()>) {
        assert!(config.group_events_max >= ingest::BATCH_EVENTS_MAX, "a whole batch fits in a group");
        assert!(config.queue_events_max >= ingest::BATCH_EVENTS_MAX, "a whole batch fits in the queue");
        let (sender, receiver) = mpsc::channel(config.queue_events_max.div_ceil(64).max(64));
        let handle = tokio::spawn(run_writer(store, registry, config, receiver));
        (
            Ingestor {
                sender,
                permits: Arc::new(Semaphore::new(config.queue_events_max)),
                queue_events_max: config.queue_events_max,
            },
            handle,
        )
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
        self.sender.try_send(Job { request, reply, _permit: permit }).map_err(|_| IngestError::Overloaded)?;
        answer.await.unwrap_or_else(|_| Err(IngestError::Unavailable("the writer stopped".into())))
    }
}

async fn run_writer(store: Store, registry: SharedRegistry, config: IngestorConfig, mut receiver: mpsc::Receiver<Job>) {
    let mut last_purge = Instant::now();
    while let Some(first) = receiver.recv().await {
        let mut events = first.request.events.len();
        let mut jobs = vec![first];
        while events < config.group_events_max {
            match receiver.try_recv() {
                Ok(job) => {
                    events += job.request.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let purge = last_purge.elapsed().as_secs() >= 30;
        if purge {
            last_purge = Instant::now();
        }
        let registry = registry.current();
        let requests: Vec<&IngestRequest> = jobs.iter().map(|j| &j.request).collect();
        match store.commit_group(&requests, &registry, Utc::now(), purge).await {
            Ok((answers, stats)) => {
                tracing::debug!(
                    requests = stats.requests,
                    events = stats.events,
                    commit_us = stats.commit_us,
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

impl Store {
    /// Decides and commits one group of requests in one transaction.
    ///
    /// Public so that the benchmark can drive the pipeline without the queue.
    pub async fn commit_group(
        &self,
        requests: &[&IngestRequest],
        registry: &Registry,
        now: DateTime<Utc>,
        purge_signatures: bool,
    ) -> Result<(Answers, GroupStats), sqlx::Error> {
        let started = Instant::now();
        let mut conn = self.write.acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        match commit_group_in(&mut conn, requests, registry, now, purge_signatures).await {
            Ok(answers) => {
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                let stats = GroupStats {
                    requests: requests.len(),
                    events: requests.iter().map(|r| r.events.len()).sum(),
                    commit_us: started.elapsed().as_micros() as u64,
                };
                Ok((answers, stats))
            }
            Err(error) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(error)
            }
        }
    }
}

async fn commit_group_in(
    conn: &mut SqliteConnection,
    requests: &[&IngestRequest],
    registry: &Registry,
    now: DateTime<Utc>,
    purge_signatures: bool,
) -> Result<Answers, sqlx::Error> {
    let now_text = format_time(now);
    if purge_signatures {
        sqlx::query("DELETE FROM request_signatures WHERE expires_at < $1")
            .bind(now.timestamp())
            .execute(&mut *conn)
            .await?;
    }

    // Replays: the first request of the group to carry a signature that is
    // new to the database claims it; every other carrier is a replay.
    let signatures: Vec<(&str, i64, i64)> =
        requests.iter().filter_map(|r| r.signature.as_ref().map(|(s, exp)| (s.as_str(), r.partner_id, *exp))).collect();
    let mut fresh: HashSet<String> = HashSet::new();
    if !signatures.is_empty() {
        let rows = sqlx::query(
            "INSERT INTO request_signatures (signature, partner_id, expires_at)
             SELECT value->>0, value->>1, value->>2 FROM json_each($1) WHERE true
             ON CONFLICT (signature) DO NOTHING RETURNING signature",
        )
        .bind(serde_json::to_string(&signatures).expect("serialisable"))
        .fetch_all(&mut *conn)
        .await?;
        fresh = rows.into_iter().map(|r| r.get(0)).collect();
    }
    let mut admitted = Vec::with_capacity(requests.len());
    for request in requests {
        admitted.push(match &request.signature {
            None => true,
            Some((signature, _)) => fresh.remove(signature),
        });
    }
    let groups: Vec<RequestEvents> = requests
        .iter()
        .zip(&admitted)
        .filter(|(_, ok)| **ok)
        .map(|(r, _)| RequestEvents { partner_id: r.partner_id, events: &r.events })
        .collect();

    let phase = Instant::now();
    let snapshot = load_snapshot(conn, &groups, registry).await?;
    let loaded_us = phase.elapsed().as_micros();
    let decision = ingest::decide(&groups, &snapshot, registry);
    let decided_us = phase.elapsed().as_micros() - loaded_us;
    write_decision(conn, &decision, &now_text).await?;
    tracing::debug!(
        loaded_us,
        decided_us,
        written_us = phase.elapsed().as_micros() - loaded_us - decided_us,
        "group phases"
    );

    let mut outcomes = decision.outcomes.into_iter();
    Ok(admitted
        .into_iter()
        .map(|ok| {
            if ok {
                Ok(outcomes.next().expect("one outcome list per admitted request"))
            } else {
                Err(IngestError::Replayed)
            }
        })
        .collect())
}

async fn load_snapshot(
    conn: &mut SqliteConnection,
    groups: &[RequestEvents<'_>],
    registry: &Registry,
) -> Result<Snapshot, sqlx::Error> {
    let mut snapshot = Snapshot::default();
    let (event_keys, link_keys) = ingest::keys::events_and_links(groups);
    if !event_keys.is_empty() {
        let rows = sqlx::query(
            "SELECT e.partner_id, e.event_id, e.grams, e.methodology
             FROM json_each($1) AS j
             JOIN events e ON e.partner_id = j.value->>0 AND e.event_id = j.value->>1",
        )
        .bind(serde_json::to_string(&event_keys).expect("serialisable"))
        .fetch_all(&mut *conn)
        .await?;
        for r in rows {
            snapshot.existing.insert((r.get(0), r.get(1)), StoredEvent { grams: r.get(2), methodology: r.get(3) });
        }
    }
    if !link_keys.is_empty() {
        let rows = sqlx::query(
            "SELECT l.partner_id, l.user_ref, l.user_id, u.region, c.scopes, c.revoked_at
             FROM json_each($1) AS j
             JOIN partner_links l ON l.partner_id = j.value->>0 AND l.user_ref = j.value->>1
             JOIN users u ON u.id = l.user_id
             LEFT JOIN consents c ON c.user_id = l.user_id AND c.partner_id = l.partner_id",
        )
        .bind(serde_json::to_string(&link_keys).expect("serialisable"))
        .fetch_all(&mut *conn)
        .await?;
        for r in rows {
            let scopes: Option<i64> = r.get(4);
            let revoked: Option<String> = r.get(5);
            let consent = match (scopes, revoked) {
                (Some(mask), None) => ConsentState::Active(CategorySet::from_mask(mask)),
                _ => ConsentState::Revoked,
            };
            let region: String = r.get(3);
            snapshot.links.insert(
                (r.get(0), r.get(1)),
                LinkView {
                    user_id: r.get(2),
                    region: RegionCode::parse(&region).expect("stored regions are valid"),
                    consent,
                },
            );
        }
    }
    let (fingerprint_keys, usage_keys) = ingest::keys::fingerprints_and_usage(groups, &snapshot.links, registry);
    if !fingerprint_keys.is_empty() {
        let rows = sqlx::query(
            "SELECT f.user_id, f.behavior, f.fingerprint
             FROM json_each($1) AS j
             JOIN act_fingerprints f
               ON f.user_id = j.value->>0 AND f.behavior = j.value->>1 AND f.fingerprint = j.value->>2",
        )
        .bind(serde_json::to_string(&fingerprint_keys).expect("serialisable"))
        .fetch_all(&mut *conn)
        .await?;
        for r in rows {
            snapshot.fingerprints.insert((r.get(0), r.get(1), r.get(2)));
        }
    }
    if !usage_keys.is_empty() {
        let by_text: HashMap<(i64, &str, String), &UsageKey> =
            usage_keys.iter().map(|k| ((k.user_id, k.behavior.as_str(), k.period.key()), k)).collect();
        let wire: Vec<(i64, &str, String)> =
            usage_keys.iter().map(|k| (k.user_id, k.behavior.as_str(), k.period.key())).collect();
        let rows = sqlx::query(
            "SELECT c.user_id, c.behavior, c.period, c.count, c.grams
             FROM json_each($1) AS j
             JOIN cap_usage c ON c.user_id = j.value->>0 AND c.behavior = j.value->>1 AND c.period = j.value->>2",
        )
        .bind(serde_json::to_string(&wire).expect("serialisable"))
        .fetch_all(&mut *conn)
        .await?;
        for r in rows {
            let behavior: String = r.get(1);
            let key = (r.get::<i64, _>(0), behavior.as_str(), r.get::<String, _>(2));
            if let Some(usage_key) = by_text.get(&key) {
                snapshot.usage.insert((*usage_key).clone(), Usage { count: r.get(3), grams: r.get(4) });
            }
        }
    }
    Ok(snapshot)
}

/// Rows per multi-row `INSERT … VALUES` statement. Large enough that the
/// per-statement cost (a round trip to sqlx's SQLite worker thread) is
/// spread thin, small enough that the statement text stays short and is
/// prepared once and then taken from the statement cache.
const ROWS_PER_STATEMENT: usize = 64;

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// `INSERT INTO table (columns) VALUES (?, …), … <suffix>` over `rows`, in
/// chunks of [`ROWS_PER_STATEMENT`]; `bind` binds one row's values.
async fn insert_values<T>(
    conn: &mut SqliteConnection,
    head: &str,
    columns: usize,
    suffix: &str,
    rows: &[T],
    bind: impl for<'s> Fn(SqliteQuery<'s>, &'s T) -> SqliteQuery<'s>,
) -> Result<(), sqlx::Error> {
    let row = format!("({})", vec!["?"; columns].join(","));
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!("{head} VALUES {} {suffix}", vec![row.as_str(); chunk.len()].join(","));
        let mut query = sqlx::query(&sql);
        for item in chunk {
            query = bind(query, item);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The head of the event insert, shared with the raw-insert benchmark so
/// that both write the same rows the same way.
pub(crate) const EVENT_INSERT_HEAD: &str =
    "INSERT INTO events (partner_id, event_id, user_id, behavior, occurred_at, region, inputs,
                     fingerprint, methodology, grams, outcome, received_at)";

/// An accepted event in the form its row is bound from.
pub(crate) struct EventRow<'a> {
    event: &'a AcceptedEvent,
    occurred_at: String,
    inputs: String,
}

impl<'a> EventRow<'a> {
    pub(crate) fn new(event: &'a AcceptedEvent) -> Self {
        EventRow {
            event,
            occurred_at: format_time(event.occurred_at),
            inputs: serde_json::to_string(&event.inputs).expect("serialisable"),
        }
    }
}

/// Inserts event rows with `head` (the events table, or the benchmark's bare table).
pub(crate) async fn insert_events(
    conn: &mut SqliteConnection,
    head: &str,
    rows: &[EventRow<'_>],
    received_at: &str,
) -> Result<(), sqlx::Error> {
    insert_values(conn, head, 12, "", rows, |q, r| {
        let e = r.event;
        q.bind(e.partner_id)
            .bind(e.event_id.as_str())
            .bind(e.user_id)
            .bind(e.behavior.as_str())
            .bind(r.occurred_at.as_str())
            .bind(e.region.as_str())
            .bind(r.inputs.as_str())
            .bind(e.fingerprint.as_deref())
            .bind(e.methodology.as_str())
            .bind(e.grams)
            .bind(e.outcome.as_str())
            .bind(received_at)
    })
    .await
}

async fn write_decision(conn: &mut SqliteConnection, decision: &Decision, now: &str) -> Result<(), sqlx::Error> {
    if decision.accepted.is_empty() {
        return Ok(());
    }
    let rows: Vec<EventRow<'_>> = decision.accepted.iter().map(EventRow::new).collect();
    insert_events(conn, EVENT_INSERT_HEAD, &rows, now).await?;

    let with_fingerprints: Vec<&AcceptedEvent> = decision.accepted.iter().filter(|e| e.fingerprint.is_some()).collect();
    insert_values(
        conn,
        "INSERT INTO act_fingerprints (user_id, behavior, fingerprint, partner_id, event_id)",
        5,
        "",
        &with_fingerprints,
        |q, e| {
            q.bind(e.user_id)
                .bind(e.behavior.as_str())
                .bind(e.fingerprint.as_deref())
                .bind(e.partner_id)
                .bind(e.event_id.as_str())
        },
    )
    .await?;

    let credited: Vec<&AcceptedEvent> = decision.accepted.iter().filter(|e| e.grams > 0).collect();
    if !credited.is_empty() {
        // Allocate a range of transfer ids for the group.
        let count = (credited.len() * CREDIT_TRANSFERS.len()) as i64;
        let last: i64 =
            sqlx::query_scalar("UPDATE sequences SET value = value + $1 WHERE name = 'transfers' RETURNING value")
                .bind(count)
                .fetch_one(&mut *conn)
                .await?;
        let first = last - count + 1;
        let transfers: Vec<(i64, &AcceptedEvent, usize)> = credited
            .iter()
            .enumerate()
            .flat_map(|(i, e)| (0..CREDIT_TRANSFERS.len()).map(move |leg| (i, *e, leg)))
            .enumerate()
            .map(|(n, (_, e, leg))| (first + n as i64, e, leg))
            .collect();
        insert_values(
            conn,
            "INSERT INTO transfers (user_id, id, kind, debit_user, debit_account, credit_user, credit_account,
                                    grams, partner_id, event_id, at)",
            11,
            "",
            &transfers,
            |q, (id, e, leg)| {
                let (kind, debit, credit) = CREDIT_TRANSFERS[*leg];
                q.bind(e.user_id)
                    .bind(*id)
                    .bind(kind.as_str())
                    .bind(SYSTEM_USER_ID)
                    .bind(debit.as_str())
                    .bind(e.user_id)
                    .bind(credit.as_str())
                    .bind(e.grams)
                    .bind(e.partner_id)
                    .bind(e.event_id.as_str())
                    .bind(now)
            },
        )
        .await?;
    }

    let usage: Vec<(i64, &str, String, i64, i64)> = decision
        .usage_deltas
        .iter()
        .map(|(k, u)| (k.user_id, k.behavior.as_str(), k.period.key(), u.count, u.grams))
        .collect();
    insert_values(
        conn,
        "INSERT INTO cap_usage (user_id, behavior, period, count, grams)",
        5,
        "ON CONFLICT (user_id, behavior, period) DO UPDATE SET count = count + excluded.count, grams = grams + excluded.grams",
        &usage,
        |q, (user, behavior, period, count, grams)| {
            q.bind(*user).bind(*behavior).bind(period.as_str()).bind(*count).bind(*grams)
        },
    )
    .await?;

    let total = decision.credited_grams();
    if total > 0 {
        // (user, kind, debits, credits): citizens are credited, the
        // operator's issuance accounts debited by the same total.
        let mut accounts: Vec<(i64, &str, i64, i64)> = Vec::with_capacity(decision.balance_deltas.len() * 2 + 2);
        for (user_id, grams) in &decision.balance_deltas {
            assert!(*grams > 0, "a credit only raises a citizen's balances");
            accounts.push((*user_id, AccountKind::Reduction.as_str(), 0, *grams));
            accounts.push((*user_id, AccountKind::Energy.as_str(), 0, *grams));
        }
        accounts.push((SYSTEM_USER_ID, AccountKind::ReductionIssuance.as_str(), total, 0));
        accounts.push((SYSTEM_USER_ID, AccountKind::EnergyIssuance.as_str(), total, 0));
        accounts.sort_unstable();
        insert_values(
            conn,
            "INSERT INTO accounts (user_id, kind, debits, credits)",
            4,
            "ON CONFLICT (user_id, kind) DO UPDATE SET debits = debits + excluded.debits, credits = credits + excluded.credits",
            &accounts,
            |q, (user, kind, debits, credits)| q.bind(*user).bind(*kind).bind(*debits).bind(*credits),
        )
        .await?;
    }
    Ok(())
}
