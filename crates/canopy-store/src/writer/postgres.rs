//! The PostgreSQL writer: a task with its own connection pool that loads
//! and writes each group set-wise (one `unnest` statement per table), under
//! a transaction-scoped advisory lock.
//!
//! The lock is what makes several `canopy serve` processes on one database
//! safe: a group's snapshot (duplicates, fingerprints, cap counters) is
//! read after the lock is taken, so it includes everything any process
//! committed before, and nothing can change it until this group commits.
//! Within a process the writer is already alone, so the lock only ever
//! waits for another process's group.

use std::collections::HashSet;
use std::time::Instant;

use canopy_core::ingest::{
    self, AcceptedEvent, ConsentState, Decision, LinkView, RequestEvents, Snapshot, StoredEvent, Usage,
};
use canopy_core::methodology::Registry;
use canopy_core::types::{CategorySet, RegionCode};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};
use tokio::sync::mpsc;

use super::{
    admit, answers, fill_group, fingerprints_in_key_order, finish, reply, retry_one_by_one, Answers, GroupStats,
    IngestError, IngestRequest, IngestorConfig, Job, SharedRegistry, Work, WriterContext,
};
use crate::pg_copy::{copy_in, CopyText};
use crate::store::balls::{GameCommand, GameOutcome, OneCollect};
use crate::store::postings::{lock_ledger, post_postgres, LedgerLocked, PostFailure};
use crate::{format_time, Store, StoreResult};

/// Starts the writer task with a connection pool of its own (one
/// connection: a broken one is replaced by the pool on the next group).
pub(super) fn spawn(
    store: &Store,
    registry: SharedRegistry,
    config: IngestorConfig,
    context: WriterContext,
    receiver: mpsc::Receiver<Work>,
) -> StoreResult<tokio::task::JoinHandle<()>> {
    let options = store.postgres_connect_options("canopy-writer")?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(store.options().acquire_timeout)
        .connect_lazy_with(options);
    Ok(tokio::spawn(async move {
        // A panic in the writer is a bug (an invariant assertion failed):
        // the process stops rather than answer as if it were merely busy.
        let writer = tokio::spawn(run_writer(pool.clone(), registry, config, context, receiver));
        if let Err(error) = writer.await {
            if error.is_panic() {
                tracing::error!("the ingestion writer panicked; aborting");
                std::process::abort();
            }
        }
        pool.close().await;
    }))
}

async fn run_writer(
    pool: PgPool,
    registry: SharedRegistry,
    config: IngestorConfig,
    context: WriterContext,
    mut receiver: mpsc::Receiver<Work>,
) {
    let mut last_purge = Instant::now();
    // A job that would have made the last group too large starts the next.
    let mut held: Option<Work> = None;
    loop {
        let work = match held.take() {
            Some(work) => work,
            None => match receiver.recv().await {
                Some(work) => work,
                None => break,
            },
        };
        let first = match work {
            Work::Ingest(job) => job,
            Work::Game(job) => {
                let (jobs, next) = super::fill_games(job, &mut receiver, &context.game_groups);
                held = next;
                let started = Instant::now();
                let now = context.clock.now();
                let commands: Vec<&GameCommand> = jobs.iter().map(|j| &j.command).collect();
                let together = run_games(&pool, &commands, &context.game, now).await;
                if together.is_err() && jobs.len() > 1 {
                    // As `answer_games` does on SQLite, awaiting each command's own transaction.
                    let mut alone = Vec::with_capacity(jobs.len());
                    for command in &commands {
                        alone.push(run_games(&pool, &[command], &context.game, now).await.map(|mut o| o.remove(0)));
                    }
                    let mut alone = alone.into_iter();
                    super::answer_games(&context.game_groups, started, jobs, together, |_| {
                        alone.next().expect("one answer a command")
                    });
                } else {
                    super::answer_games(&context.game_groups, started, jobs, together, |_| {
                        unreachable!("a group that committed or a single command")
                    });
                }
                continue;
            }
        };
        let mut jobs = vec![first];
        held = fill_group(&mut jobs, &mut receiver, config.group_events_max);
        if held.is_none() && !config.group_linger.is_zero() {
            held = linger(&mut jobs, &mut receiver, &config).await;
        }
        let purge = last_purge.elapsed().as_secs() >= 30;
        if purge {
            last_purge = Instant::now();
        }
        let requests: Vec<&IngestRequest> = jobs.iter().map(|j| &j.request).collect();
        let now = context.clock.now();
        match commit_group(&pool, &requests, &registry, &context, now, purge).await {
            Err(failure) if retry_one_by_one(requests.len(), &failure) => {
                // As `answer_one_by_one`, awaiting each request's own group.
                tracing::warn!(%failure, requests = requests.len(), "ingestion group failed; deciding its requests one by one");
                let mut answers = Vec::with_capacity(requests.len());
                for i in 0..requests.len() {
                    answers.push(match commit_group(&pool, &requests[i..=i], &registry, &context, now, false).await {
                        Ok((mut one, _)) => one.pop().expect("one answer for one request"),
                        Err(failure) => {
                            tracing::warn!(%failure, "an ingestion request failed on its own; nothing of it committed");
                            Err(IngestError::from_failure(&failure))
                        }
                    });
                }
                reply(jobs, answers);
            }
            result => finish(jobs, result),
        }
    }
}

/// Waits up to `group_linger` for more requests while the group is under
/// half full. Returns a job that did not fit.
async fn linger(jobs: &mut Vec<Job>, receiver: &mut mpsc::Receiver<Work>, config: &IngestorConfig) -> Option<Work> {
    let deadline = tokio::time::Instant::now() + config.group_linger;
    let mut events: usize = jobs.iter().map(|j| j.request.events.len()).sum();
    while events < config.group_events_max / 2 {
        let Ok(Some(work)) = tokio::time::timeout_at(deadline, receiver.recv()).await else { break };
        let job = match work {
            Work::Ingest(job) => job,
            game => return Some(game),
        };
        if events + job.request.events.len() > config.group_events_max {
            return Some(Work::Ingest(job));
        }
        jobs.push(job);
        if let Some(job) = fill_group(jobs, receiver, config.group_events_max) {
            return Some(job);
        }
        events = jobs.iter().map(|j| j.request.events.len()).sum();
    }
    None
}

/// Runs game commands in order in one transaction, under the ledger's lock.
async fn run_games(
    pool: &PgPool,
    commands: &[&GameCommand],
    settings: &canopy_core::game::settings::GameSettings,
    now: DateTime<Utc>,
) -> Result<Vec<GameOutcome>, PostFailure<sqlx::Error>> {
    let mut tx: Transaction<'_, Postgres> = pool.begin().await?;
    let locked = lock_ledger(&mut tx).await?;
    // Every command of a group was in flight at once (none had been
    // answered when the group formed), so any order of them is one the
    // clients could have seen: the owners' single-ball collects (the 07:00
    // storm) go first, decided set-wise in a dozen statements for all of
    // them, then the rest one by one in the order they came.
    let mut outcomes: Vec<Option<GameOutcome>> = vec![None; commands.len()];
    let (collects, others): (Vec<(usize, OneCollect<'_>)>, Vec<usize>) = {
        let (mut collects, mut others) = (Vec::new(), Vec::new());
        for (i, command) in commands.iter().enumerate() {
            match command {
                GameCommand::Collect { user_id, ball_id: Some(ball_id), idempotency } => collects
                    .push((i, OneCollect { user_id: *user_id, ball_id: *ball_id, idempotency: idempotency.as_ref() })),
                _ => others.push(i),
            }
        }
        (collects, others)
    };
    if !collects.is_empty() {
        let (at, run): (Vec<usize>, Vec<OneCollect<'_>>) = collects.into_iter().unzip();
        let decided = crate::store::balls::collect_batch_postgres(&mut tx, &locked, &run, now).await?;
        for (i, outcome) in at.into_iter().zip(decided) {
            outcomes[i] = Some(outcome);
        }
    }
    // Redemptions (a hot project's last units at once) are decided set-wise
    // too; those the batch leaves (vouchers, unknown projects) run one by one.
    let (redeems, others): (Vec<usize>, Vec<usize>) = others.into_iter().partition(|i| {
        matches!(commands[*i], GameCommand::Redemption(crate::store::redemption::RedemptionCommand::Redeem { .. }))
    });
    let mut others = others;
    if !redeems.is_empty() {
        let run: Vec<&crate::store::redemption::RedemptionCommand> = redeems
            .iter()
            .map(|i| match commands[*i] {
                GameCommand::Redemption(command) => command,
                _ => unreachable!("partitioned above"),
            })
            .collect();
        let decided = crate::store::redemption::writer::redeem_batch_postgres(&mut tx, &locked, &run, now).await?;
        for (i, outcome) in redeems.into_iter().zip(decided) {
            match outcome {
                Some(outcome) => outcomes[i] = Some(outcome),
                None => others.push(i),
            }
        }
        others.sort_unstable();
    }
    for i in others {
        outcomes[i] = Some(crate::store::balls::game_postgres(&mut tx, &locked, commands[i], settings, now).await?);
    }
    let outcomes = outcomes.into_iter().map(|o| o.expect("every command decided")).collect();
    tx.commit().await?;
    Ok(outcomes)
}

/// Decides and commits one group of requests in one transaction.
async fn commit_group(
    pool: &PgPool,
    requests: &[&IngestRequest],
    shared: &SharedRegistry,
    context: &WriterContext,
    now: DateTime<Utc>,
    purge_signatures: bool,
) -> Result<(Answers, GroupStats), PostFailure<sqlx::Error>> {
    let started = Instant::now();
    let mut tx: Transaction<'_, Postgres> = pool.begin().await?;
    // The ledger's lock, taken before the snapshot is read: it orders the
    // groups of every process (and every other writer of postings).
    let locked = lock_ledger(&mut tx).await?;
    // Under the lock, so that no group decides with a registry older than
    // the last publication committed on any server.
    let registry = crate::store::methodologies::registry_for_group_pg(&mut tx, shared).await?;
    let registry: &Registry = &registry;
    if purge_signatures {
        sqlx::query("DELETE FROM request_signatures WHERE expires_at < $1")
            .bind(now.timestamp())
            .execute(&mut *tx)
            .await?;
    }

    // Replays: claim every signature of the group in one statement; the
    // first request to carry a signature that was new to the database goes
    // on, every other carrier is a replay.
    let mut seen = HashSet::new();
    let (mut signatures, mut partners, mut expiries) = (Vec::new(), Vec::new(), Vec::new());
    for request in requests {
        if let Some((signature, expires_at)) = &request.signature {
            if seen.insert(signature.as_str()) {
                signatures.push(signature.as_str());
                partners.push(request.partner_id);
                expiries.push(*expires_at);
            }
        }
    }
    let claimed: HashSet<String> = if signatures.is_empty() {
        HashSet::new()
    } else {
        sqlx::query_scalar(
            "INSERT INTO request_signatures (signature, partner_id, expires_at)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
             ON CONFLICT (signature) DO NOTHING RETURNING signature",
        )
        .bind(&signatures)
        .bind(&partners)
        .bind(&expiries)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect()
    };
    let admitted = admit(requests, |_, signature, _| claimed.contains(signature));
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
    let snapshot = load_snapshot(&mut tx, &groups, registry).await?;
    let load_us = phase.elapsed().as_micros() as u64;
    let phase = Instant::now();
    let decision = ingest::decide(&groups, &snapshot, registry);
    let decide_us = phase.elapsed().as_micros() as u64;
    let phase = Instant::now();
    write_decision(&mut tx, &locked, &decision, &format_time(now)).await?;
    {
        // Only this task uses the memory: it is taken out for the await and put back.
        let mut remembered = std::mem::take(&mut *context.open_balls.lock().expect("only the writer takes this lock"));
        let credited = crate::store::balls::credit_balls_postgres(
            &mut tx,
            &locked,
            &decision,
            registry,
            &context.game,
            &mut remembered,
            now,
        )
        .await;
        *context.open_balls.lock().expect("only the writer takes this lock") = remembered;
        credited?;
    }
    let write_us = phase.elapsed().as_micros() as u64;
    let phase = Instant::now();
    tx.commit().await?;
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
    Ok((answers(admitted, decision.outcomes), stats))
}

/// The position (from 1) of a key in the arrays sent with `WITH ORDINALITY`.
fn index(n: i64) -> usize {
    usize::try_from(n - 1).expect("ordinality counts from 1")
}

/// (ordinality, citizen, home region, consent scopes, revoked at).
type LinkTuple = (i64, i64, String, Option<i64>, Option<String>);

async fn load_snapshot(
    db: &mut PgConnection,
    groups: &[RequestEvents<'_>],
    registry: &Registry,
) -> Result<Snapshot, sqlx::Error> {
    let mut snapshot = Snapshot::default();
    let (event_keys, link_keys) = ingest::keys::events_and_links(groups);

    let (partners, ids): (Vec<i64>, Vec<&str>) = event_keys.iter().copied().unzip();
    let existing: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT k.n, e.grams, e.methodology
         FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS k(partner_id, event_id, n)
         JOIN events e ON e.partner_id = k.partner_id AND e.event_id = k.event_id",
    )
    .bind(&partners)
    .bind(&ids)
    .fetch_all(&mut *db)
    .await?;
    for (n, grams, methodology) in existing {
        let (partner_id, event_id) = event_keys[index(n)];
        snapshot.existing.insert((partner_id, event_id.to_owned()), StoredEvent { grams, methodology });
    }

    let (partners, refs): (Vec<i64>, Vec<&str>) = link_keys.iter().copied().unzip();
    let links: Vec<LinkTuple> = sqlx::query_as(
        "SELECT k.n, l.user_id, u.region, c.scopes, c.revoked_at
         FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS k(partner_id, user_ref, n)
         JOIN partner_links l ON l.partner_id = k.partner_id AND l.user_ref = k.user_ref
         JOIN users u ON u.id = l.user_id
         LEFT JOIN consents c ON c.user_id = l.user_id AND c.partner_id = l.partner_id",
    )
    .bind(&partners)
    .bind(&refs)
    .fetch_all(&mut *db)
    .await?;
    for (n, user_id, region, scopes, revoked_at) in links {
        let (partner_id, user_ref) = link_keys[index(n)];
        let region = RegionCode::parse(&region).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let consent = match (scopes, revoked_at) {
            (Some(mask), None) => ConsentState::Active(CategorySet::from_mask(mask)),
            _ => ConsentState::Revoked,
        };
        snapshot.links.insert((partner_id, user_ref.to_owned()), LinkView { user_id, region, consent });
    }

    let (fingerprint_keys, usage_keys) = ingest::keys::fingerprints_and_usage(groups, &snapshot.links, registry);
    if !fingerprint_keys.is_empty() {
        let users: Vec<i64> = fingerprint_keys.iter().map(|k| k.0).collect();
        let behaviors: Vec<&str> = fingerprint_keys.iter().map(|k| k.1.as_str()).collect();
        let prints: Vec<&str> = fingerprint_keys.iter().map(|k| k.2.as_str()).collect();
        let found: Vec<i64> = sqlx::query_scalar(
            "SELECT k.n
             FROM unnest($1::bigint[], $2::text[], $3::text[]) WITH ORDINALITY AS k(user_id, behavior, fingerprint, n)
             JOIN act_fingerprints f
               ON f.user_id = k.user_id AND f.behavior = k.behavior AND f.fingerprint = k.fingerprint",
        )
        .bind(&users)
        .bind(&behaviors)
        .bind(&prints)
        .fetch_all(&mut *db)
        .await?;
        for n in found {
            snapshot.fingerprints.insert(fingerprint_keys[index(n)].clone());
        }
    }
    if !usage_keys.is_empty() {
        let users: Vec<i64> = usage_keys.iter().map(|k| k.user_id).collect();
        let behaviors: Vec<&str> = usage_keys.iter().map(|k| k.behavior.as_str()).collect();
        let periods: Vec<String> = usage_keys.iter().map(|k| k.period.key()).collect();
        let found: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT k.n, u.count, u.grams
             FROM unnest($1::bigint[], $2::text[], $3::text[]) WITH ORDINALITY AS k(user_id, behavior, period, n)
             JOIN cap_usage u ON u.user_id = k.user_id AND u.behavior = k.behavior AND u.period = k.period",
        )
        .bind(&users)
        .bind(&behaviors)
        .bind(&periods)
        .fetch_all(&mut *db)
        .await?;
        for (n, count, grams) in found {
            snapshot.usage.insert(usage_keys[index(n)].clone(), Usage { count, grams });
        }
    }
    Ok(snapshot)
}

async fn write_decision(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    decision: &Decision<'_>,
    now: &str,
) -> Result<(), PostFailure<sqlx::Error>> {
    if decision.accepted.is_empty() {
        return Ok(());
    }
    let accepted = &decision.accepted;
    // Rows go in primary-key order: consecutive inserts land on the same
    // index pages.
    let mut order: Vec<&AcceptedEvent> = accepted.iter().collect();
    order.sort_unstable_by(|a, b| (a.partner_id, &*a.event_id).cmp(&(b.partner_id, &*b.event_id)));
    let mut rows = CopyText::with_capacity(accepted.len() * 256);
    for e in &order {
        rows.int(e.partner_id).text(&e.event_id).int(e.user_id).text(&e.behavior);
        rows.text(&format_time(e.occurred_at)).text(e.region.as_str());
        rows.text(&serde_json::to_string(&e.inputs).expect("serialisable"));
        match &e.fingerprint {
            Some(fingerprint) => rows.text(fingerprint),
            None => rows.null(),
        };
        rows.text(&e.methodology).int(e.grams).text(e.outcome.as_str()).text(now).end_row();
    }
    copy_in(
        db,
        "COPY events (partner_id, event_id, user_id, behavior, occurred_at, region, inputs, fingerprint, methodology,
                      grams, outcome, received_at) FROM STDIN",
        rows,
    )
    .await?;

    let printed = fingerprints_in_key_order(decision);
    if !printed.is_empty() {
        let mut rows = CopyText::with_capacity(printed.len() * 64);
        for (e, fingerprint) in printed {
            rows.int(e.user_id).text(&e.behavior).text(fingerprint).int(e.partner_id).text(&e.event_id).end_row();
        }
        copy_in(db, "COPY act_fingerprints (user_id, behavior, fingerprint, partner_id, event_id) FROM STDIN", rows)
            .await?;
    }

    if !decision.usage_deltas.is_empty() {
        let mut deltas: Vec<_> = decision.usage_deltas.iter().collect();
        deltas.sort_unstable_by(|a, b| a.0.cmp(b.0));
        sqlx::query(
            "INSERT INTO cap_usage (user_id, behavior, period, count, grams)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
             ON CONFLICT (user_id, behavior, period)
             DO UPDATE SET count = cap_usage.count + excluded.count, grams = cap_usage.grams + excluded.grams",
        )
        .bind(deltas.iter().map(|(k, _)| k.user_id).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(k, _)| k.behavior.as_str()).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(k, _)| k.period.key()).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(_, d)| d.count).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(_, d)| d.grams).collect::<Vec<_>>())
        .execute(&mut *db)
        .await?;
    }

    // The ledger's one path: the core's book checks every set against the
    // stored totals before anything is numbered or written.
    post_postgres(db, locked, &decision.postings, now).await?;
    Ok(())
}
