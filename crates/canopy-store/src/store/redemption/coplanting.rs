//! Co-planting plans in storage. Every step moves energy (a share held,
//! every share released, the tree planted from the held shares), so each
//! runs as a writer command (`GameCommand::Coplant`): it reads what the
//! core's rule needs, decides, and applies a list of writes in the same
//! transaction. The decision is written once ([`decide`]); only the reads
//! and the writes are per store.

use canopy_core::ledger::PostingSet;
use canopy_core::redemption::coplanting::{self, CoplantRefusal, OpenAsk, DEADLINE_S};
use canopy_core::redemption::ProjectState;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use sqlx::PgConnection;

use super::super::balls::{GameOutcome, IdempotencyKey};
use super::super::idempotency::{remember_postgres, remember_sqlite, replay_postgres, replay_sqlite};
use super::super::postings::{post_postgres, post_sqlite, LedgerLocked, PostFailure};
use super::writer::{state_from, StateTuple, CITIZEN, PROJECT_STATE};
use super::{on_read, Store};
use crate::{format_time, parse_time, StoreResult};

/// The most plans a sweep expires at once.
pub const EXPIRE_PLANS_MAX: usize = 1_000;

/// A co-planting move for the writer.
#[derive(Debug, Clone)]
pub enum CoplantCommand {
    /// The creator opens a plan; their share is held at once.
    Open {
        /// The creator.
        creator: i64,
        /// The tree.
        project_id: i64,
        /// The friends invited.
        invitees: Vec<i64>,
        /// Every participant's share (the creator's included): (citizen, grams).
        shares: Vec<(i64, i64)>,
        /// The client's idempotency key.
        idempotency: Option<IdempotencyKey>,
    },
    /// An invitee accepts (their share is held; the last one plants the
    /// tree) or declines (every hold is released).
    Answer {
        /// The invitee.
        user_id: i64,
        /// The plan.
        plan_id: i64,
        /// Accept or decline.
        accept: bool,
        /// The certificate number to issue if this answer plants the tree.
        certificate: String,
        /// The client's idempotency key.
        idempotency: Option<IdempotencyKey>,
    },
    /// The sweep: plans past their deadline release every hold.
    ExpireDue {
        /// At most this many plans.
        limit: usize,
    },
}

/// A plan as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoplantingRow {
    /// Its id.
    pub id: i64,
    /// The tree.
    pub project_id: i64,
    /// The tree's title.
    pub project_title: String,
    /// Who opened it.
    pub creator: i64,
    /// `open`, `planted`, `declined`, `expired` or `failed`.
    pub status: String,
    /// When it expires unless every share is held.
    pub deadline: DateTime<Utc>,
    /// The redemption that planted it.
    pub redemption_id: Option<i64>,
    /// The certificate of the tree planted.
    pub certificate: Option<String>,
    /// The shares.
    pub shares: Vec<ShareRow>,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
}

/// A participant's share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRow {
    /// The citizen.
    pub user_id: i64,
    /// Their display name.
    pub display_name: String,
    /// Grams.
    pub grams: i64,
    /// `invited`, `held`, `declined`, `released` or `spent`.
    pub state: String,
}

/// (id, project_id, creator, status, deadline)
type PlanTuple = (i64, i64, i64, String, String);
/// (user_id, grams, state)
type ShareTuple = (i64, i64, String);

/// What a step writes, in order.
#[derive(Debug)]
enum Write {
    Post(Vec<PostingSet>),
    TakeId(&'static str, i64),
    InsertPlan { id: i64, project_id: i64, creator: i64, deadline: String },
    InsertShare { plan_id: i64, user_id: i64, grams: i64, state: &'static str },
    SetShares { plan_id: i64, from: &'static str, to: &'static str },
    SetShare { plan_id: i64, user_id: i64, state: &'static str },
    ClosePlan { plan_id: i64, status: &'static str, redemption_id: Option<i64> },
    Sell { project_id: i64 },
    InsertRedemption { id: i64, user_id: i64, project_id: i64, energy_grams: i64, certificate: String },
}

/// What the step read.
#[derive(Debug, Default)]
struct Reads {
    project: Option<StateTuple>,
    citizen: Option<(String, i64)>,
    friends: Vec<i64>,
    plan: Option<PlanTuple>,
    shares: Vec<ShareTuple>,
    next_plan: i64,
    next_redemption: i64,
    expiring: Vec<(i64, Vec<ShareTuple>)>,
}

fn refused(refusal: CoplantRefusal) -> GameOutcome {
    GameOutcome::Refused { code: refusal.code().to_owned(), message: refusal.to_string() }
}

/// Every held share of a plan released, and the plan closed as `status`.
fn release_all(plan_id: i64, shares: &[ShareTuple], status: &'static str) -> Vec<Write> {
    let sets: Vec<PostingSet> = shares
        .iter()
        .filter(|(_, _, state)| state == "held")
        .map(|(user, grams, _)| coplanting::release(plan_id, *user, *grams))
        .collect();
    vec![
        Write::Post(sets),
        Write::SetShares { plan_id, from: "held", to: "released" },
        Write::ClosePlan { plan_id, status, redemption_id: None },
    ]
}

/// Decides a step over what was read: the writes and the answer.
fn decide(command: &CoplantCommand, reads: Reads, now: DateTime<Utc>) -> (Vec<Write>, GameOutcome) {
    match command {
        CoplantCommand::Open { creator, project_id, invitees, shares: asked, .. } => {
            let Some(project) = reads.project.map(state_from) else {
                return (
                    vec![],
                    refused(CoplantRefusal::Project(canopy_core::redemption::RedeemRefusal::ProjectNotFound)),
                );
            };
            let Some((region, energy_grams)) = reads.citizen else {
                return (
                    vec![],
                    GameOutcome::Refused { code: "user_not_found".into(), message: "no such citizen".into() },
                );
            };
            let ask = OpenAsk {
                creator: *creator,
                region: &region,
                energy_grams,
                invitees,
                shares: asked,
                friends: &reads.friends,
            };
            let shares = match coplanting::open(&project, &ask, now) {
                Ok(shares) => shares,
                Err(refusal) => return (vec![], refused(refusal)),
            };
            let own = shares[0].1;
            let id = reads.next_plan;
            let deadline = format_time(now + chrono::Duration::seconds(DEADLINE_S));
            let mut writes = vec![
                Write::Post(vec![coplanting::hold(id, *creator, own)]),
                Write::TakeId("coplantings", id),
                Write::InsertPlan { id, project_id: *project_id, creator: *creator, deadline },
            ];
            for (user, grams) in &shares {
                let state = if user == creator { "held" } else { "invited" };
                writes.push(Write::InsertShare { plan_id: id, user_id: *user, grams: *grams, state });
            }
            (writes, GameOutcome::CoplantOpened { plan_id: id })
        }
        CoplantCommand::Answer { user_id, plan_id, accept, certificate, .. } => {
            let Some((_, project_id, creator, status, deadline)) = reads.plan else {
                return (vec![], refused(CoplantRefusal::NotFound));
            };
            let Some((_, grams, state)) = reads.shares.iter().find(|(user, ..)| user == user_id).cloned() else {
                return (vec![], refused(CoplantRefusal::NotFound));
            };
            if status != "open" {
                return (vec![], refused(CoplantRefusal::Closed));
            }
            if now >= parse_time(&deadline) {
                // Too late: the plan expires now, and this answer says so.
                return (release_all(*plan_id, &reads.shares, "expired"), refused(CoplantRefusal::Expired));
            }
            if state != "invited" {
                return (vec![], refused(CoplantRefusal::AlreadyAnswered));
            }
            if !accept {
                let mut writes = vec![Write::SetShare { plan_id: *plan_id, user_id: *user_id, state: "declined" }];
                writes.extend(release_all(*plan_id, &reads.shares, "declined"));
                return (writes, answered(*plan_id, "declined", None));
            }
            let energy = reads.citizen.map(|(_, e)| e).unwrap_or_default();
            if energy < grams {
                return (vec![], refused(CoplantRefusal::InsufficientEnergy { needed: grams, held: energy }));
            }
            let mut writes = vec![
                Write::Post(vec![coplanting::hold(*plan_id, *user_id, grams)]),
                Write::SetShare { plan_id: *plan_id, user_id: *user_id, state: "held" },
            ];
            let all_held = reads.shares.iter().all(|(user, _, state)| user == user_id || state == "held");
            if !all_held {
                return (writes, answered(*plan_id, "open", None));
            }
            // The last share: plant the tree, if it can still be had.
            let project: Option<ProjectState> = reads.project.map(state_from);
            let plantable = project.as_ref().is_some_and(|p| p.is_open(now) && p.available() >= 1);
            let mut held: Vec<ShareTuple> = reads.shares.clone();
            for share in held.iter_mut().filter(|(user, ..)| user == user_id) {
                share.2 = "held".to_owned();
            }
            if !plantable {
                writes.extend(release_all(*plan_id, &held, "failed"));
                return (writes, answered(*plan_id, "failed", None));
            }
            let price: i64 = held.iter().map(|(_, g, _)| g).sum();
            let rid = reads.next_redemption;
            let pairs: Vec<(i64, i64)> = held.iter().map(|(u, g, _)| (*u, *g)).collect();
            writes.extend([
                Write::Post(coplanting::plant(rid, project_id, &pairs)),
                Write::TakeId("redemptions", rid),
                Write::Sell { project_id },
                Write::InsertRedemption {
                    id: rid,
                    user_id: creator,
                    project_id,
                    energy_grams: price,
                    certificate: certificate.clone(),
                },
                Write::SetShares { plan_id: *plan_id, from: "held", to: "spent" },
                Write::ClosePlan { plan_id: *plan_id, status: "planted", redemption_id: Some(rid) },
            ]);
            (writes, answered(*plan_id, "planted", Some(rid)))
        }
        CoplantCommand::ExpireDue { .. } => {
            let plans = reads.expiring.len() as i64;
            let writes =
                reads.expiring.iter().flat_map(|(plan, shares)| release_all(*plan, shares, "expired")).collect();
            (writes, GameOutcome::CoplantsExpired { plans })
        }
    }
}

fn answered(plan_id: i64, status: &str, redemption_id: Option<i64>) -> GameOutcome {
    GameOutcome::CoplantAnswered { plan_id, status: status.to_owned(), redemption_id }
}

fn idempotency(command: &CoplantCommand) -> Option<(i64, &IdempotencyKey)> {
    match command {
        CoplantCommand::Open { creator, idempotency, .. } => idempotency.as_ref().map(|k| (*creator, k)),
        CoplantCommand::Answer { user_id, idempotency, .. } => idempotency.as_ref().map(|k| (*user_id, k)),
        CoplantCommand::ExpireDue { .. } => None,
    }
}

const PLAN: &str = "SELECT id, project_id, creator, status, deadline FROM coplantings WHERE id = $1";
const SHARES: &str = "SELECT user_id, grams, state FROM coplanting_shares WHERE plan_id = $1 ORDER BY user_id";
const FRIENDS: &str = "SELECT friend_id FROM friendships WHERE user_id = $1";
const NEXT: &str = "SELECT value + 1 FROM sequences WHERE name = $1";
const DUE: &str = "SELECT id FROM coplantings WHERE status = 'open' AND deadline <= $1 ORDER BY deadline, id LIMIT $2";

// ---------------------------------------------------------------- SQLite --

fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

fn shares_sqlite(tx: &rusqlite::Transaction<'_>, plan_id: i64) -> rusqlite::Result<Vec<ShareTuple>> {
    tx.prepare_cached(&sqlite(SHARES))?
        .query_map(params![plan_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect()
}

fn read_sqlite(tx: &rusqlite::Transaction<'_>, command: &CoplantCommand, now: &str) -> rusqlite::Result<Reads> {
    let mut reads = Reads::default();
    let project = super::writer::project_state_sqlite;
    let citizen = |tx: &rusqlite::Transaction<'_>, id: i64| -> rusqlite::Result<Option<(String, i64)>> {
        tx.prepare_cached(&sqlite(CITIZEN))?.query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?))).optional()
    };
    let next = |tx: &rusqlite::Transaction<'_>, name: &str| -> rusqlite::Result<i64> {
        tx.prepare_cached(&sqlite(NEXT))?.query_row(params![name], |r| r.get(0))
    };
    match command {
        CoplantCommand::Open { creator, project_id, .. } => {
            reads.project = project(tx, *project_id)?;
            reads.citizen = citizen(tx, *creator)?;
            reads.friends = tx
                .prepare_cached(&sqlite(FRIENDS))?
                .query_map(params![creator], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            reads.next_plan = next(tx, "coplantings")?;
        }
        CoplantCommand::Answer { user_id, plan_id, .. } => {
            reads.plan = tx
                .prepare_cached(&sqlite(PLAN))?
                .query_row(params![plan_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                .optional()?;
            reads.shares = shares_sqlite(tx, *plan_id)?;
            reads.citizen = citizen(tx, *user_id)?;
            if let Some((_, project_id, ..)) = &reads.plan {
                reads.project = project(tx, *project_id)?;
            }
            reads.next_redemption = next(tx, "redemptions")?;
        }
        CoplantCommand::ExpireDue { limit } => {
            let due: Vec<i64> = tx
                .prepare_cached(&sqlite(DUE))?
                .query_map(params![now, (*limit).min(EXPIRE_PLANS_MAX) as i64], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for plan in due {
                reads.expiring.push((plan, shares_sqlite(tx, plan)?));
            }
        }
    }
    Ok(reads)
}

fn apply_sqlite(
    tx: &rusqlite::Transaction<'_>,
    writes: &[Write],
    now: &str,
) -> Result<(), PostFailure<rusqlite::Error>> {
    for write in writes {
        match write {
            Write::Post(sets) => {
                post_sqlite(tx, sets, now)?;
            }
            Write::TakeId(name, value) => {
                tx.prepare_cached("UPDATE sequences SET value = ?2 WHERE name = ?1")?.execute(params![name, value])?;
            }
            Write::InsertPlan { id, project_id, creator, deadline } => {
                tx.prepare_cached(&sqlite(INSERT_PLAN))?.execute(params![id, project_id, creator, deadline, now])?;
            }
            Write::InsertShare { plan_id, user_id, grams, state } => {
                tx.prepare_cached(&sqlite(INSERT_SHARE))?.execute(params![plan_id, user_id, grams, state, now])?;
            }
            Write::SetShares { plan_id, from, to } => {
                tx.prepare_cached(&sqlite(SET_SHARES))?.execute(params![plan_id, from, to])?;
            }
            Write::SetShare { plan_id, user_id, state } => {
                tx.prepare_cached(&sqlite(SET_SHARE))?.execute(params![plan_id, user_id, state, now])?;
            }
            Write::ClosePlan { plan_id, status, redemption_id } => {
                tx.prepare_cached(&sqlite(CLOSE_PLAN))?.execute(params![plan_id, status, redemption_id, now])?;
            }
            Write::Sell { project_id } => {
                tx.prepare_cached(&sqlite(SELL))?.execute(params![project_id])?;
            }
            Write::InsertRedemption { id, user_id, project_id, energy_grams, certificate } => {
                tx.prepare_cached(&sqlite(INSERT_REDEMPTION))?.execute(params![
                    id,
                    user_id,
                    project_id,
                    energy_grams,
                    certificate,
                    now
                ])?;
            }
        }
    }
    Ok(())
}

const INSERT_PLAN: &str =
    "INSERT INTO coplantings (id, project_id, creator, status, deadline, created_at) VALUES ($1, $2, $3, 'open', $4, $5)";
const INSERT_SHARE: &str = "INSERT INTO coplanting_shares (plan_id, user_id, grams, state, answered_at)
     VALUES ($1, $2, $3, $4, CASE WHEN $4 = 'held' THEN $5 END)";
const SET_SHARES: &str = "UPDATE coplanting_shares SET state = $3 WHERE plan_id = $1 AND state = $2";
const SET_SHARE: &str = "UPDATE coplanting_shares SET state = $3, answered_at = $4 WHERE plan_id = $1 AND user_id = $2";
const CLOSE_PLAN: &str = "UPDATE coplantings SET status = $2, redemption_id = $3, closed_at = $4 WHERE id = $1";
const SELL: &str = "UPDATE projects SET sold = sold + 1 WHERE id = $1";
const INSERT_REDEMPTION: &str = "INSERT INTO redemptions (id, user_id, project_id, quantity, energy_grams, certificate,
        voucher_code, show_name, status, created_at)
     VALUES ($1, $2, $3, 1, $4, $5, NULL, TRUE, 'active', $6)";

/// Runs a co-planting step in the SQLite writer's transaction.
pub(crate) fn coplant_sqlite(
    tx: &rusqlite::Transaction<'_>,
    command: &CoplantCommand,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<rusqlite::Error>> {
    let key = idempotency(command);
    if let Some((user, key)) = key {
        if let Some(replay) = replay_sqlite(tx, user, Some(key))? {
            return Ok(replay);
        }
    }
    let now_text = format_time(now);
    let reads = read_sqlite(tx, command, &now_text)?;
    let (writes, outcome) = decide(command, reads, now);
    apply_sqlite(tx, &writes, &now_text)?;
    if let Some((user, key)) = key {
        remember_sqlite(tx, user, Some(key), &outcome, &now_text)?;
    }
    Ok(outcome)
}

// ------------------------------------------------------------ PostgreSQL --

async fn shares_postgres(db: &mut PgConnection, plan_id: i64) -> Result<Vec<ShareTuple>, sqlx::Error> {
    sqlx::query_as(SHARES).bind(plan_id).fetch_all(&mut *db).await
}

async fn read_postgres(db: &mut PgConnection, command: &CoplantCommand, now: &str) -> Result<Reads, sqlx::Error> {
    let mut reads = Reads::default();
    let project_for_update = format!("{PROJECT_STATE} FOR UPDATE");
    match command {
        CoplantCommand::Open { creator, project_id, .. } => {
            reads.project = sqlx::query_as(&project_for_update).bind(project_id).fetch_optional(&mut *db).await?;
            reads.citizen = sqlx::query_as(CITIZEN).bind(creator).fetch_optional(&mut *db).await?;
            reads.friends = sqlx::query_scalar(FRIENDS).bind(creator).fetch_all(&mut *db).await?;
            reads.next_plan = sqlx::query_scalar(NEXT).bind("coplantings").fetch_one(&mut *db).await?;
        }
        CoplantCommand::Answer { user_id, plan_id, .. } => {
            reads.plan = sqlx::query_as(&format!("{PLAN} FOR UPDATE")).bind(plan_id).fetch_optional(&mut *db).await?;
            reads.shares = shares_postgres(db, *plan_id).await?;
            reads.citizen = sqlx::query_as(CITIZEN).bind(user_id).fetch_optional(&mut *db).await?;
            if let Some((_, project_id, ..)) = &reads.plan {
                reads.project = sqlx::query_as(&project_for_update).bind(project_id).fetch_optional(&mut *db).await?;
            }
            reads.next_redemption = sqlx::query_scalar(NEXT).bind("redemptions").fetch_one(&mut *db).await?;
        }
        CoplantCommand::ExpireDue { limit } => {
            let due: Vec<i64> = sqlx::query_scalar(&format!("{DUE} FOR UPDATE"))
                .bind(now)
                .bind((*limit).min(EXPIRE_PLANS_MAX) as i64)
                .fetch_all(&mut *db)
                .await?;
            for plan in due {
                let shares = shares_postgres(db, plan).await?;
                reads.expiring.push((plan, shares));
            }
        }
    }
    Ok(reads)
}

async fn apply_postgres(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    writes: &[Write],
    now: &str,
) -> Result<(), PostFailure<sqlx::Error>> {
    for write in writes {
        match write {
            Write::Post(sets) => {
                post_postgres(db, locked, sets, now).await?;
            }
            Write::TakeId(name, value) => {
                sqlx::query("UPDATE sequences SET value = $2 WHERE name = $1")
                    .bind(name)
                    .bind(value)
                    .execute(&mut *db)
                    .await?;
            }
            Write::InsertPlan { id, project_id, creator, deadline } => {
                sqlx::query(INSERT_PLAN)
                    .bind(id)
                    .bind(project_id)
                    .bind(creator)
                    .bind(deadline)
                    .bind(now)
                    .execute(&mut *db)
                    .await?;
            }
            Write::InsertShare { plan_id, user_id, grams, state } => {
                sqlx::query(INSERT_SHARE)
                    .bind(plan_id)
                    .bind(user_id)
                    .bind(grams)
                    .bind(state)
                    .bind(now)
                    .execute(&mut *db)
                    .await?;
            }
            Write::SetShares { plan_id, from, to } => {
                sqlx::query(SET_SHARES).bind(plan_id).bind(from).bind(to).execute(&mut *db).await?;
            }
            Write::SetShare { plan_id, user_id, state } => {
                sqlx::query(SET_SHARE).bind(plan_id).bind(user_id).bind(state).bind(now).execute(&mut *db).await?;
            }
            Write::ClosePlan { plan_id, status, redemption_id } => {
                sqlx::query(CLOSE_PLAN)
                    .bind(plan_id)
                    .bind(status)
                    .bind(redemption_id)
                    .bind(now)
                    .execute(&mut *db)
                    .await?;
            }
            Write::Sell { project_id } => {
                sqlx::query(SELL).bind(project_id).execute(&mut *db).await?;
            }
            Write::InsertRedemption { id, user_id, project_id, energy_grams, certificate } => {
                sqlx::query(INSERT_REDEMPTION)
                    .bind(id)
                    .bind(user_id)
                    .bind(project_id)
                    .bind(energy_grams)
                    .bind(certificate)
                    .bind(now)
                    .execute(&mut *db)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Runs a co-planting step on the PostgreSQL writer's connection, under the ledger's lock.
pub(crate) async fn coplant_postgres(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    command: &CoplantCommand,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<sqlx::Error>> {
    let key = idempotency(command);
    if let Some((user, key)) = key {
        if let Some(replay) = replay_postgres(db, user, Some(key)).await? {
            return Ok(replay);
        }
    }
    let now_text = format_time(now);
    let reads = read_postgres(db, command, &now_text).await?;
    let (writes, outcome) = decide(command, reads, now);
    apply_postgres(db, locked, &writes, &now_text).await?;
    if let Some((user, key)) = key {
        remember_postgres(db, user, Some(key), &outcome, &now_text).await?;
    }
    Ok(outcome)
}

// ----------------------------------------------------------------- Reads --

type PlanRowTuple = (i64, i64, String, i64, String, String, Option<i64>, Option<String>, String);
type ShareRowTuple = (i64, String, i64, String);

impl Store {
    /// One plan, with its shares.
    pub async fn coplanting(&self, id: i64) -> StoreResult<Option<CoplantingRow>> {
        let plan: Option<PlanRowTuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT c.id, c.project_id, p.title, c.creator, c.status, c.deadline, c.redemption_id,
                        (SELECT r.certificate FROM redemptions r WHERE r.id = c.redemption_id), c.created_at
                 FROM coplantings c JOIN projects p ON p.id = c.project_id WHERE c.id = $1",
            )
            .bind(id)
            .fetch_optional(db)
            .await
        })?;
        let Some((id, project_id, project_title, creator, status, deadline, redemption_id, certificate, created_at)) =
            plan
        else {
            return Ok(None);
        };
        let shares: Vec<ShareRowTuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT s.user_id, u.display_name, s.grams, s.state FROM coplanting_shares s
                 JOIN users u ON u.id = s.user_id WHERE s.plan_id = $1 ORDER BY s.grams DESC, s.user_id",
            )
            .bind(id)
            .fetch_all(db)
            .await
        })?;
        Ok(Some(CoplantingRow {
            id,
            project_id,
            project_title,
            creator,
            status,
            deadline: parse_time(&deadline),
            redemption_id,
            certificate,
            shares: shares
                .into_iter()
                .map(|(user_id, display_name, grams, state)| ShareRow { user_id, display_name, grams, state })
                .collect(),
            created_at: parse_time(&created_at),
        }))
    }

    /// The plans `user_id` is in, newest first (at most 100).
    pub async fn coplantings_of(&self, user_id: i64) -> StoreResult<Vec<CoplantingRow>> {
        let ids: Vec<i64> = on_read!(self, |db| {
            sqlx::query_scalar(
                "SELECT plan_id FROM coplanting_shares WHERE user_id = $1 ORDER BY plan_id DESC LIMIT 100",
            )
            .bind(user_id)
            .fetch_all(db)
            .await
        })?;
        let mut plans = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(plan) = self.coplanting(id).await? {
                plans.push(plan);
            }
        }
        Ok(plans)
    }

    /// The plan that planted redemption `redemption_id`, if one did.
    pub async fn coplanting_of_redemption(&self, redemption_id: i64) -> StoreResult<Option<CoplantingRow>> {
        let id: Option<i64> = on_read!(self, |db| {
            sqlx::query_scalar("SELECT id FROM coplantings WHERE redemption_id = $1")
                .bind(redemption_id)
                .fetch_optional(db)
                .await
        })?;
        match id {
            Some(id) => self.coplanting(id).await,
            None => Ok(None),
        }
    }

    /// What `ledger verify` finds wrong with holds: each citizen's
    /// `held_energy` balance must be their shares held in open plans.
    pub(crate) async fn verify_holds(&self) -> StoreResult<Vec<String>> {
        let rows: Vec<(i64, i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT u.user_id, u.held, u.shares FROM (
                     SELECT a.user_id AS user_id, a.credits - a.debits AS held,
                            CAST(COALESCE((SELECT SUM(s.grams) FROM coplanting_shares s JOIN coplantings c ON c.id = s.plan_id
                                           WHERE s.user_id = a.user_id AND s.state = 'held' AND c.status = 'open'), 0)
                                 AS BIGINT) AS shares
                     FROM accounts a WHERE a.kind = 'held_energy') u
                 WHERE u.held <> u.shares LIMIT 100",
            )
            .fetch_all(db)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(user, held, shares)| {
                format!("citizen {user} has {held} g of held energy but {shares} g of shares held in open plans")
            })
            .collect())
    }
}
