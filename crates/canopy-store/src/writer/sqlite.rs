//! The SQLite writer: a thread of its own with its own connection
//! (rusqlite), prepared statements, one row at a time inside the group's
//! transaction. Measured on this project's 2-core machine, sqlx's SQLite
//! driver costs about 8 µs a row (each statement and its arguments cross to
//! sqlx's worker thread) against about 3 µs with a prepared rusqlite
//! statement, and the hot path writes three to four rows an event; see
//! BENCHMARKS.md. Everything else in the store stays on sqlx.

use std::time::Instant;

use canopy_core::ingest::{
    self, AcceptedEvent, ConsentState, Decision, LinkView, RequestEvents, Snapshot, StoredEvent, Usage,
};
use canopy_core::methodology::Registry;
use canopy_core::types::{CategorySet, RegionCode};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::mpsc;

use super::{
    admit, answer_one_by_one, answers, fill_group, fingerprints_in_key_order, finish, reply, retry_one_by_one, Answers,
    GroupStats, IngestRequest, IngestorConfig, SharedRegistry, Work, WriterContext,
};
use crate::store::balls::{GameCommand, GameOutcome};
use crate::store::postings::{post_sqlite, PostFailure};
use crate::{format_time, Store, StoreError, StoreResult};

/// Opens the writer's connection and starts the writer thread.
pub(super) fn spawn(
    store: &Store,
    registry: SharedRegistry,
    config: IngestorConfig,
    context: WriterContext,
    receiver: mpsc::Receiver<Work>,
) -> StoreResult<tokio::task::JoinHandle<()>> {
    let path = store.sqlite_path().expect("a SQLite store");
    let mut connection = open_writer_connection(path)?;
    Ok(tokio::task::spawn_blocking(move || {
        // A panic here is a bug (an invariant assertion failed). Bugs
        // crash: a server whose writer is gone must not go on answering
        // as if it were merely busy, so the whole process stops and its
        // supervisor restarts it; nothing unacknowledged was committed.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_writer(&mut connection, registry, config, &context, receiver)
        }));
        if outcome.is_err() {
            tracing::error!("the ingestion writer panicked; aborting");
            std::process::abort();
        }
    }))
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
    context: &WriterContext,
    mut receiver: mpsc::Receiver<Work>,
) {
    let mut last_purge = Instant::now();
    // A job that would have made the last group too large starts the next.
    let mut held: Option<Work> = None;
    while let Some(work) = held.take().or_else(|| receiver.blocking_recv()) {
        let first = match work {
            Work::Ingest(job) => job,
            Work::Game(job) => {
                let (jobs, next) = super::fill_games(job, &mut receiver, &context.game_groups);
                held = next;
                let started = Instant::now();
                let now = context.clock.now();
                let commands: Vec<&GameCommand> = jobs.iter().map(|j| &j.command).collect();
                let together = run_games(connection, &commands, &context.game, now);
                super::answer_games(&context.game_groups, started, jobs, together, |command| {
                    run_games(connection, &[command], &context.game, now).map(|mut o| o.remove(0))
                });
                continue;
            }
        };
        let mut jobs = vec![first];
        held = fill_group(&mut jobs, &mut receiver, config.group_events_max);
        let purge = last_purge.elapsed().as_secs() >= 30;
        if purge {
            last_purge = Instant::now();
        }
        let requests: Vec<&IngestRequest> = jobs.iter().map(|j| &j.request).collect();
        let now = context.clock.now();
        match commit_group(connection, &requests, &registry, context, now, purge) {
            Err(failure) if retry_one_by_one(requests.len(), &failure) => {
                let answers = answer_one_by_one(requests.len(), &failure, |i| {
                    commit_group(connection, &requests[i..=i], &registry, context, now, false)
                });
                reply(jobs, answers);
            }
            result => finish(jobs, result),
        }
    }
}

/// Runs game commands in order in one transaction.
fn run_games(
    connection: &mut Connection,
    commands: &[&GameCommand],
    settings: &canopy_core::game::settings::GameSettings,
    now: DateTime<Utc>,
) -> Result<Vec<GameOutcome>, PostFailure<rusqlite::Error>> {
    let tx = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(commands.len());
    for command in commands {
        outcomes.push(crate::store::balls::game_sqlite(&tx, command, settings, now)?);
    }
    tx.commit()?;
    Ok(outcomes)
}

/// Decides and commits one group of requests in one transaction.
fn commit_group(
    connection: &mut Connection,
    requests: &[&IngestRequest],
    shared: &SharedRegistry,
    context: &WriterContext,
    now: DateTime<Utc>,
    purge_signatures: bool,
) -> Result<(Answers, GroupStats), PostFailure<rusqlite::Error>> {
    let started = Instant::now();
    let tx = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Inside the transaction, so that no group decides with a registry older
    // than the last publication committed.
    let registry = crate::store::methodologies::registry_for_group_sqlite(&tx, shared)?;
    let registry: &Registry = &registry;
    let now_text = format_time(now);
    if purge_signatures {
        tx.prepare_cached("DELETE FROM request_signatures WHERE expires_at < ?1")?.execute(params![now.timestamp()])?;
    }

    // Replays: the first request of the group to carry a signature that is
    // new to the database claims it; every later carrier is a replay.
    let admitted = {
        let mut remember = tx.prepare_cached(
            "INSERT INTO request_signatures (signature, partner_id, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (signature) DO NOTHING",
        )?;
        let mut failure = None;
        let admitted = admit(requests, |request, signature, expires_at| {
            match remember.execute(params![signature, request.partner_id, expires_at]) {
                Ok(inserted) => inserted == 1,
                Err(e) => {
                    failure.get_or_insert(e);
                    false
                }
            }
        });
        if let Some(e) = failure {
            return Err(e.into());
        }
        admitted
    };
    let groups: Vec<RequestEvents<'_>> = requests
        .iter()
        .zip(&admitted)
        .filter(|(_, ok)| **ok)
        .map(|(r, _)| RequestEvents {
            partner_id: r.partner_id,
            partner_regions: &r.partner_regions,
            events: &r.events,
        })
        .collect();

    let phase = Instant::now();
    let snapshot = load_snapshot(&tx, &groups, registry)?;
    let load_us = phase.elapsed().as_micros() as u64;
    let phase = Instant::now();
    let decision = ingest::decide(&groups, &snapshot, registry);
    let decide_us = phase.elapsed().as_micros() as u64;
    let phase = Instant::now();
    write_decision(&tx, &decision, &now_text)?;
    {
        let mut remembered = context.open_balls.lock().expect("only the writer takes this lock");
        crate::store::balls::credit_balls_sqlite(&tx, &decision, registry, &context.game, &mut remembered, now)?;
    }
    let write_us = phase.elapsed().as_micros() as u64;
    let phase = Instant::now();
    tx.commit()?;
    let commit_us = phase.elapsed().as_micros() as u64;

    let stats = GroupStats {
        requests: requests.len(),
        events: requests.iter().map(|r| r.events.len()).sum(),
        load_us,
        decide_us,
        write_us,
        commit_us,
        total_us: started.elapsed().as_micros() as u64,
    };
    let answers = answers(admitted, decision.outcomes);
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

fn write_decision(
    tx: &rusqlite::Transaction<'_>,
    decision: &Decision,
    now: &str,
) -> Result<(), PostFailure<rusqlite::Error>> {
    if decision.accepted.is_empty() {
        return Ok(());
    }
    let mut events = tx.prepare_cached(EVENT_INSERT)?;
    let mut fingerprints = tx.prepare_cached(
        "INSERT INTO act_fingerprints (user_id, behavior, fingerprint, partner_id, event_id) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    // Each table's rows go in its primary-key order (the tables are
    // WITHOUT ROWID: clustered by key), so that a page is dirtied by a run
    // of rows rather than again and again.
    let mut by_event: Vec<&AcceptedEvent> = decision.accepted.iter().collect();
    by_event.sort_unstable_by(|a, b| (a.partner_id, &*a.event_id).cmp(&(b.partner_id, &*b.event_id)));
    for e in by_event {
        insert_event(&mut events, e, now)?;
    }
    for (e, fingerprint) in fingerprints_in_key_order(decision) {
        fingerprints.execute(params![e.user_id, e.behavior, fingerprint, e.partner_id, e.event_id])?;
    }

    let mut usage = tx.prepare_cached(
        "INSERT INTO cap_usage (user_id, behavior, period, count, grams) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (user_id, behavior, period)
         DO UPDATE SET count = count + excluded.count, grams = grams + excluded.grams",
    )?;
    let mut deltas: Vec<_> = decision.usage_deltas.iter().collect();
    deltas.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (key, delta) in deltas {
        usage.execute(params![key.user_id, key.behavior, key.period.key(), delta.count, delta.grams])?;
    }

    // The ledger's one path: the core's book checks every set against the
    // stored totals before anything is numbered or written.
    post_sqlite(tx, &decision.postings, now)?;
    Ok(())
}
