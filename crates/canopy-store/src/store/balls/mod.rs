//! Energy balls in storage: how a group's credited energy goes into balls,
//! how the game's moves on balls (collect, expire) are decided and written
//! inside the writer's transaction, and how a citizen's balls are read.
//!
//! The rules are the core's (`canopy_core::game::balls`); this module loads
//! the balls a move needs, asks the core, posts the sets through the one
//! posting path and records the moves on the ball rows, in the same
//! transaction. Per store: `*_sqlite` on the SQLite writer's rusqlite
//! transaction, `*_postgres` on the PostgreSQL writer's connection under the
//! ledger's lock.

use std::collections::BTreeMap;

use canopy_core::game::balls::{collect, expire, BallEffect, BallOutcome};
use canopy_core::game::settings::GameSettings;
use canopy_core::game::time_zone::default_time_zone;
use canopy_core::game::{Ball, BallKey, BallMove, BallRefusal, BallState};
use canopy_core::ingest::Decision;
use canopy_core::ledger::{AccountKind, PostingSet};
use canopy_core::methodology::Registry;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::postings::{post_sqlite, PostFailure};
use super::{on_read, Store};
use crate::{format_time, parse_time, StoreResult};

mod postgres;

pub(crate) use postgres::{
    collect_batch_postgres, credit_balls_postgres, game_postgres, record_moves_postgres, OneCollect,
};

/// The most balls one sweep expires in one transaction.
pub const EXPIRE_CHUNK_MAX: usize = 10_000;

impl Store {
    /// The balls a sweep expires a transaction on this store, so that
    /// ingestion waits behind the sweep for one short chunk at a time
    /// (measured in BENCHMARKS.md: 10,000 take ~140 ms on SQLite; on
    /// PostgreSQL 10,000 took ~440 ms and 2,500 take ~200 ms, a fixed cost
    /// per chunk being most of it).
    pub fn expire_chunk(&self) -> usize {
        match self.backend() {
            super::Backend::Sqlite => EXPIRE_CHUNK_MAX,
            super::Backend::Postgres => 2_500,
        }
    }
}

/// The most balls a citizen's listing shows (the newest).
pub const BALLS_LISTED_MAX: i64 = 200;

/// A move on balls that a citizen (or the operator's sweep) asks the writer for.
#[derive(Debug, Clone)]
pub enum GameCommand {
    /// The owner collects one ball (`ball_id`) or every ripe ball (`None`).
    Collect {
        /// The citizen.
        user_id: i64,
        /// The ball, or every ripe one.
        ball_id: Option<i64>,
        /// The client's idempotency key and a hash of the request it came with.
        idempotency: Option<IdempotencyKey>,
    },
    /// Expires up to `limit` balls past their expiry (the sweep).
    ExpireDue {
        /// At most this many (capped at [`EXPIRE_CHUNK_MAX`]).
        limit: usize,
    },
    /// A sponsor funds a pool (see `store/pools.rs`).
    FundPool {
        /// The pool.
        pool_id: i64,
        /// How much, in the pool's unit (positive).
        amount: i64,
    },
    /// A citizen checks in for their local day (see `store/pools.rs`).
    CheckIn {
        /// The citizen.
        user_id: i64,
        /// Their note, if any.
        note: Option<String>,
    },
    /// An ended challenge pays its rewards (see `store/challenges.rs`).
    SettleChallenge {
        /// The challenge.
        challenge_id: i64,
        /// Each team's members and progress.
        results: Vec<canopy_core::game::challenges::TeamResult>,
    },
    /// A move between friends: taking a share of a ball, or watering (see `store::social`).
    Social(super::social::SocialMove),
    /// Redeeming energy for a project's units, or cancelling a redemption
    /// (see `store::redemption`).
    Redemption(super::redemption::RedemptionCommand),
    /// A citizen contributing energy to a campaign (see `store::campaigns`).
    Contribute(super::campaigns::Contribution),
    /// A step of a co-planting plan (see `store::redemption::coplanting`).
    Coplant(super::redemption::CoplantCommand),
    /// A chunk of a demand-response event's settlement (see `store::energy_settlements`).
    SettleEnergy(super::energy_settlements::SettlementChunk),
    /// A household's year-on-year bill voucher (see `store::bill_vouchers`).
    IssueBillVoucher(super::bill_vouchers::BillVoucherIssue),
    /// A shop spending a bill voucher (see `store::bill_vouchers`).
    SpendBillVoucher(super::bill_vouchers::VoucherSpend),
}

/// A client's idempotency key, with a hash of the request it was sent with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The key, as sent.
    pub key: String,
    /// A hash of the request (method, path, body): the same key with another
    /// request is refused.
    pub request_hash: String,
}

/// What a game command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GameOutcome {
    /// Energy collected from `balls` balls; `energy_grams` is the citizen's
    /// energy afterwards.
    Collected {
        /// Grams moved into the citizen's energy.
        collected_grams: i64,
        /// Balls collected.
        balls: i64,
        /// The citizen's energy balance afterwards.
        energy_grams: i64,
    },
    /// A move was refused (a stable code from the core).
    Refused {
        /// The code (`ball_not_found`, `ball_not_ripe`, …).
        code: String,
        /// What it means.
        message: String,
    },
    /// The sweep expired `balls` balls holding `grams`.
    Expired {
        /// Balls expired.
        balls: i64,
        /// Grams moved to the expiry account.
        grams: i64,
    },
    /// The same idempotency key was sent before with another request.
    KeyReused,
    /// A pool was funded; `balance` is what it holds now.
    Funded {
        /// The pool.
        pool_id: i64,
        /// Its balance afterwards.
        balance: i64,
    },
    /// A citizen checked in.
    CheckedIn {
        /// The local date (YYYY-MM-DD).
        date: String,
        /// The streak including today.
        streak_days: i64,
        /// The milestone reward paid from the check-in pool.
        reward_grams: i64,
        /// A milestone reward the pool could not pay.
        reward_unpaid_grams: i64,
    },
    /// A challenge was settled (or had been).
    Settled {
        /// The challenge.
        challenge_id: i64,
        /// Grams paid in all.
        paid_grams: i64,
        /// Members paid by this settlement.
        members: i64,
    },
    /// A friend took a share of a ball; `energy_grams` is the collector's energy afterwards.
    FriendCollected {
        /// Grams moved into the collector's energy.
        collected_grams: i64,
        /// The collector's energy balance afterwards.
        energy_grams: i64,
    },
    /// A citizen watered a friend; `energy_grams` is the giver's energy afterwards.
    Watered {
        /// Grams given.
        watered_grams: i64,
        /// The giver's energy balance afterwards.
        energy_grams: i64,
        /// Waterings of this friend still allowed on the giver's local day.
        waterings_left: i64,
    },
    /// A citizen redeemed energy; `energy_left` is their energy afterwards.
    Redeemed {
        /// The redemption.
        redemption_id: i64,
        /// Energy spent.
        energy_grams: i64,
        /// The citizen's energy afterwards.
        energy_left: i64,
    },
    /// A citizen contributed to a campaign.
    Contributed {
        /// The contribution.
        contribution_id: i64,
        /// Grams given now.
        grams: i64,
        /// What the citizen gave the campaign in all.
        contributed_grams: i64,
        /// The citizen's energy afterwards.
        energy_left: i64,
    },
    /// A co-planting plan was opened (the creator's share held).
    CoplantOpened {
        /// The plan.
        plan_id: i64,
    },
    /// An invitee answered a plan.
    CoplantAnswered {
        /// The plan.
        plan_id: i64,
        /// The plan's status afterwards (`open`, `planted`, `declined`, `failed`).
        status: String,
        /// The redemption, if this answer planted the tree.
        redemption_id: Option<i64>,
    },
    /// The sweep expired plans past their deadline.
    CoplantsExpired {
        /// Plans expired.
        plans: i64,
    },
    /// A chunk of an event's settlement was written.
    EnergySettled {
        /// The event.
        event_id: i64,
        /// Households whose figures were written.
        households: i64,
        /// Fen paid (negative: returned to the pool) by this chunk.
        paid_fen: i64,
    },
    /// A household's bill voucher was issued (or had been).
    BillVoucherIssued {
        /// The voucher.
        voucher_id: i64,
        /// What the pool paid, fen.
        face_value_fen: i64,
        /// The reduction verified, grams.
        carbon_grams: i64,
        /// Whether it was issued now (not before).
        new: bool,
    },
    /// A shop spent a bill voucher.
    VoucherSpent {
        /// The program that paid it.
        program_id: i64,
        /// Its value, fen.
        face_value_fen: i64,
    },
    /// A redemption was cancelled and its energy returned.
    RedemptionCancelled {
        /// The redemption.
        redemption_id: i64,
        /// Energy returned.
        energy_grams: i64,
        /// The citizen's energy afterwards.
        energy_left: i64,
    },
}

impl GameOutcome {
    fn refused(refusal: BallRefusal) -> Self {
        GameOutcome::Refused { code: refusal.code().to_owned(), message: refusal.to_string() }
    }
}

/// A ball as stored, with its category (for the citizen's listing).
#[derive(Debug, Clone)]
pub struct BallRow {
    /// The ball.
    pub ball: Ball,
    /// The category of its behaviour.
    pub category: String,
    /// What friends took from it, oldest first (filled by [`Store::balls_of`]).
    pub taken: Vec<super::social::BallTake>,
}

impl BallRow {
    /// Its state at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> BallState {
        self.ball.state(now)
    }
}

/// (id, user_id, behavior, category, local_date, grams, taken_grams, outcome,
/// closed_grams, ripens_at, expires_at)
pub(super) type BallTuple = (i64, i64, String, String, String, i64, i64, Option<String>, i64, String, String);

pub(super) const BALL_COLUMNS: &str =
    "id, user_id, behavior, category, local_date, grams, taken_grams, outcome, closed_grams, ripens_at, expires_at";

pub(super) fn ball_from_tuple(row: BallTuple) -> BallRow {
    let (id, user_id, behavior, category, local_date, grams, taken_grams, outcome, closed, ripens_at, expires_at) = row;
    let outcome = match outcome.as_deref() {
        Some("collected") => Some(BallOutcome::Collected { grams: closed }),
        Some("expired") => Some(BallOutcome::Expired { grams: closed }),
        _ => None,
    };
    let local_date = NaiveDate::parse_from_str(&local_date, "%Y-%m-%d")
        .unwrap_or_else(|_| panic!("stored ball date `{local_date}` is not YYYY-MM-DD"));
    BallRow {
        ball: Ball {
            id,
            key: BallKey { owner: user_id, behavior, local_date },
            grams,
            taken_grams,
            outcome,
            ripens_at: parse_time(&ripens_at),
            expires_at: parse_time(&expires_at),
        },
        category,
        taken: Vec::new(),
    }
}

pub(super) fn sqlite_ball(row: &rusqlite::Row<'_>) -> rusqlite::Result<BallRow> {
    Ok(ball_from_tuple((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
    )))
}

impl Store {
    /// A citizen's balls, newest first (at most [`BALLS_LISTED_MAX`]):
    /// every open ball, and closed ones that closed within the last
    /// lifetime (so a citizen sees what they collected or lost lately),
    /// each with what friends took from it (read only when some did).
    pub async fn balls_of(&self, user_id: i64, closed_since: DateTime<Utc>) -> StoreResult<Vec<BallRow>> {
        let since = format_time(closed_since);
        let rows: Vec<BallTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!(
                "SELECT {BALL_COLUMNS} FROM balls
                 WHERE user_id = $1 AND (outcome IS NULL OR expires_at >= $2)
                 ORDER BY id DESC LIMIT $3"
            ))
            .bind(user_id)
            .bind(&since)
            .bind(BALLS_LISTED_MAX)
            .fetch_all(db)
            .await
        })?;
        let mut balls: Vec<BallRow> = rows.into_iter().map(ball_from_tuple).collect();
        if balls.iter().any(|b| b.ball.taken_grams > 0) {
            let mut takes = self.takes_of(user_id, &since, BALLS_LISTED_MAX).await?;
            for row in &mut balls {
                row.taken = takes.remove(&row.ball.id).unwrap_or_default();
            }
        }
        Ok(balls)
    }

    /// Every ball's grams summed per citizen as (user_id, open grams left,
    /// grams that went in, taken, collected, expired), for `ledger verify`.
    pub(crate) async fn ball_sums(&self) -> StoreResult<Vec<(i64, i64, i64, i64, i64, i64)>> {
        Ok(on_read!(self, |db| {
            sqlx::query_as(
                "SELECT user_id,
                        CAST(SUM(CASE WHEN outcome IS NULL THEN grams - taken_grams ELSE 0 END) AS BIGINT),
                        CAST(SUM(grams) AS BIGINT), CAST(SUM(taken_grams) AS BIGINT),
                        CAST(SUM(CASE WHEN outcome = 'collected' THEN closed_grams ELSE 0 END) AS BIGINT),
                        CAST(SUM(CASE WHEN outcome = 'expired' THEN closed_grams ELSE 0 END) AS BIGINT)
                 FROM balls GROUP BY user_id",
            )
            .fetch_all(db)
            .await
        })?)
    }
}

/// The open balls the writer made or found lately, by key: (id, expires
/// at). Energy for a remembered key is added by id with one conditional
/// update (`outcome IS NULL AND expires_at > now`), so the per-key lookup
/// is skipped; when the update finds nothing (the ball was collected,
/// expired, or its group rolled back), the key is looked up as if unknown.
/// So a stale entry costs one extra statement, never a wrong credit.
#[derive(Debug, Default)]
pub struct OpenBalls {
    by_key: std::collections::HashMap<BallKey, (i64, DateTime<Utc>)>,
}

impl OpenBalls {
    /// Keys remembered at most; beyond it the memory starts afresh.
    const KEYS_MAX: usize = 1_000_000;

    fn remember(&mut self, key: BallKey, id: i64, expires_at: DateTime<Utc>) {
        if self.by_key.len() >= Self::KEYS_MAX {
            self.by_key.clear();
        }
        self.by_key.insert(key, (id, expires_at));
    }

    /// The remembered open ball of `key` that can still take energy at `now`.
    fn open(&self, key: &BallKey, now: DateTime<Utc>) -> Option<i64> {
        self.by_key.get(key).filter(|(_, expires)| now < *expires).map(|(id, _)| *id)
    }
}

/// A group's credited energy by ball key, with each behaviour's category,
/// in key order: acts of one behaviour recorded on one local day (in the
/// zone of the act's region) share a ball.
pub(crate) fn credits_by_key(
    decision: &Decision<'_>,
    registry: &Registry,
    now: DateTime<Utc>,
) -> BTreeMap<BallKey, (String, i64)> {
    let mut credits: BTreeMap<BallKey, (String, i64)> = BTreeMap::new();
    for event in decision.accepted.iter().filter(|e| e.grams > 0) {
        let key = BallKey::for_act(event.user_id, &event.behavior, now, default_time_zone(&event.region));
        let category = registry.category_of(&event.behavior).map(|c| c.as_str().to_owned()).unwrap_or_default();
        let entry = credits.entry(key).or_insert((category, 0));
        // The group's postings are summed with checks before this runs;
        // a ball holds no more than its owner's balls account.
        entry.1 = entry.1.checked_add(event.grams).expect("a group's credits fit an i64");
    }
    credits
}

/// What a group's credits do to the balls: new balls, energy added to open
/// ones, and open balls found past their expiry (closed first, so the new
/// energy starts a ball of its own).
#[derive(Debug, Default)]
pub(crate) struct CreditPlan {
    /// Balls to insert, with their categories.
    pub new: Vec<(Ball, String)>,
    /// (ball id, grams added).
    pub grown: Vec<(i64, i64)>,
    /// Moves expiring open balls that can no longer take energy.
    pub expired: Vec<BallMove>,
}

/// Plans the credits against the open balls of their keys; new balls are
/// numbered from `first_id`.
pub(crate) fn plan_credits(
    credits: BTreeMap<BallKey, (String, i64)>,
    open: &BTreeMap<BallKey, Ball>,
    first_id: i64,
    now: DateTime<Utc>,
    settings: &GameSettings,
    zone_of: impl Fn(&BallKey) -> canopy_core::game::time_zone::TimeZone,
) -> CreditPlan {
    let mut plan = CreditPlan::default();
    let mut next_id = first_id;
    for (key, (category, grams)) in credits {
        match open.get(&key) {
            Some(ball) if ball.accepts_energy(now) => plan.grown.push((ball.id, grams)),
            found => {
                if let Some(ball) = found {
                    plan.expired.extend(expire(ball, now));
                }
                let tz = zone_of(&key);
                plan.new.push((Ball::new(next_id, key, grams, now, tz, settings), category));
                next_id += 1;
            }
        }
    }
    plan
}

/// The keys' regions' zones, remembered from the credits (the zone of the
/// act's region; the citizen's own zone when the region is theirs).
pub(crate) fn zones(decision: &Decision<'_>) -> BTreeMap<(i64, String), canopy_core::game::time_zone::TimeZone> {
    decision.accepted.iter().map(|e| ((e.user_id, e.behavior.to_string()), default_time_zone(&e.region))).collect()
}

fn outcome_text(effect: BallEffect) -> Option<&'static str> {
    match effect {
        BallEffect::Collected => Some("collected"),
        BallEffect::Expired => Some("expired"),
        BallEffect::Taken { .. } => None,
    }
}

// ---------------------------------------------------------------- SQLite --

/// Puts a group's credited energy into balls (SQLite writer transaction).
pub(crate) fn credit_balls_sqlite(
    tx: &rusqlite::Transaction<'_>,
    decision: &Decision<'_>,
    registry: &Registry,
    settings: &GameSettings,
    remembered: &mut OpenBalls,
    now: DateTime<Utc>,
) -> Result<(), PostFailure<rusqlite::Error>> {
    let mut credits = credits_by_key(decision, registry, now);
    if credits.is_empty() {
        return Ok(());
    }
    let now_text = format_time(now);
    {
        let mut grow = tx.prepare_cached(
            "UPDATE balls SET grams = grams + ?2 WHERE id = ?1 AND outcome IS NULL AND expires_at > ?3",
        )?;
        let mut grown = Vec::new();
        for (key, (_, grams)) in &credits {
            if let Some(id) = remembered.open(key, now) {
                if grow.execute(params![id, grams, now_text])? == 1 {
                    grown.push(key.clone());
                }
            }
        }
        for key in grown {
            credits.remove(&key);
        }
    }
    if credits.is_empty() {
        return Ok(());
    }
    let mut open = BTreeMap::new();
    {
        let mut find = tx.prepare_cached(&format!(
            "SELECT {BALL_COLUMNS} FROM balls
             WHERE user_id = ?1 AND behavior = ?2 AND local_date = ?3 AND outcome IS NULL"
        ))?;
        for key in credits.keys() {
            let date = key.local_date.to_string();
            if let Some(row) = find.query_row(params![key.owner, key.behavior, date], sqlite_ball).optional()? {
                open.insert(key.clone(), row.ball);
            }
        }
    }
    let new_count = credits.keys().filter(|k| !open.get(*k).is_some_and(|b: &Ball| b.accepts_energy(now))).count();
    let first_id = allocate_sqlite(tx, new_count as i64)?;
    let zones = zones(decision);
    let plan = plan_credits(credits, &open, first_id, now, settings, |k| zones[&(k.owner, k.behavior.clone())]);
    write_plan_sqlite(tx, &plan, now)?;
    remember_plan(remembered, &plan, &open);
    Ok(())
}

/// Remembers the balls a plan made or grew.
fn remember_plan(remembered: &mut OpenBalls, plan: &CreditPlan, open: &BTreeMap<BallKey, Ball>) {
    for (ball, _) in &plan.new {
        remembered.remember(ball.key.clone(), ball.id, ball.expires_at);
    }
    for ball in open.values() {
        if plan.grown.iter().any(|(id, _)| *id == ball.id) {
            remembered.remember(ball.key.clone(), ball.id, ball.expires_at);
        }
    }
}

fn allocate_sqlite(tx: &rusqlite::Transaction<'_>, count: i64) -> rusqlite::Result<i64> {
    if count == 0 {
        return Ok(0);
    }
    let last: i64 = tx
        .prepare_cached("UPDATE sequences SET value = value + ?1 WHERE name = 'balls' RETURNING value")?
        .query_row(params![count], |r| r.get(0))?;
    Ok(last - count + 1)
}

fn write_plan_sqlite(
    tx: &rusqlite::Transaction<'_>,
    plan: &CreditPlan,
    now: DateTime<Utc>,
) -> Result<(), PostFailure<rusqlite::Error>> {
    let now_text = format_time(now);
    if !plan.expired.is_empty() {
        let sets: Vec<PostingSet> = plan.expired.iter().map(|m| m.posting.clone()).collect();
        post_sqlite(tx, &sets, &now_text)?;
        record_moves_sqlite(tx, &plan.expired)?;
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO balls (id, user_id, behavior, category, local_date, grams, ripens_at, expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for (ball, category) in &plan.new {
        insert.execute(params![
            ball.id,
            ball.key.owner,
            ball.key.behavior,
            category,
            ball.key.local_date.to_string(),
            ball.grams,
            format_time(ball.ripens_at),
            format_time(ball.expires_at),
            now_text,
        ])?;
    }
    let mut grow = tx.prepare_cached("UPDATE balls SET grams = grams + ?2 WHERE id = ?1")?;
    for (id, grams) in &plan.grown {
        grow.execute(params![id, grams])?;
    }
    Ok(())
}

pub(super) fn record_moves_sqlite(tx: &rusqlite::Transaction<'_>, moves: &[BallMove]) -> rusqlite::Result<()> {
    let mut close = tx.prepare_cached("UPDATE balls SET outcome = ?2, closed_grams = ?3 WHERE id = ?1")?;
    let mut take = tx.prepare_cached("UPDATE balls SET taken_grams = taken_grams + ?2 WHERE id = ?1")?;
    for m in moves {
        match outcome_text(m.effect) {
            Some(outcome) => close.execute(params![m.ball_id, outcome, m.grams])?,
            None => take.execute(params![m.ball_id, m.grams])?,
        };
    }
    Ok(())
}

fn energy_sqlite(tx: &rusqlite::Transaction<'_>, user_id: i64) -> rusqlite::Result<i64> {
    Ok(tx
        .prepare_cached("SELECT credits - debits FROM accounts WHERE user_id = ?1 AND kind = ?2")?
        .query_row(params![user_id, AccountKind::Energy.as_str()], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Runs a game command in the SQLite writer's transaction.
pub(crate) fn game_sqlite(
    tx: &rusqlite::Transaction<'_>,
    command: &GameCommand,
    settings: &GameSettings,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<rusqlite::Error>> {
    let now_text = format_time(now);
    match command {
        GameCommand::FundPool { pool_id, amount } => super::pools::fund_sqlite(tx, *pool_id, *amount, now),
        GameCommand::CheckIn { user_id, note } => {
            super::pools::check_in_sqlite(tx, *user_id, note.as_deref(), settings, now)
        }
        GameCommand::SettleChallenge { challenge_id, results } => {
            super::challenges::settle_sqlite(tx, *challenge_id, results, now)
        }
        GameCommand::Collect { user_id, ball_id, idempotency } => {
            if let Some(replay) = super::idempotency::replay_sqlite(tx, *user_id, idempotency.as_ref())? {
                return Ok(replay);
            }
            let balls: Vec<Ball> = match ball_id {
                Some(id) => tx
                    .prepare_cached(&format!("SELECT {BALL_COLUMNS} FROM balls WHERE id = ?1"))?
                    .query_row(params![id], sqlite_ball)
                    .optional()?
                    .map(|r| r.ball)
                    .into_iter()
                    .collect(),
                None => tx
                    .prepare_cached(&format!(
                        "SELECT {BALL_COLUMNS} FROM balls WHERE user_id = ?1 AND outcome IS NULL ORDER BY id"
                    ))?
                    .query_map(params![user_id], sqlite_ball)?
                    .map(|r| r.map(|row| row.ball))
                    .collect::<rusqlite::Result<_>>()?,
            };
            let outcome = match decide_collect(*user_id, *ball_id, &balls, now) {
                Err(refusal) => GameOutcome::refused(refusal),
                Ok(moves) => {
                    let sets: Vec<PostingSet> = moves.iter().map(|m| m.posting.clone()).collect();
                    post_sqlite(tx, &sets, &now_text)?;
                    record_moves_sqlite(tx, &moves)?;
                    GameOutcome::Collected {
                        collected_grams: moves.iter().map(|m| m.grams).sum(),
                        balls: moves.len() as i64,
                        energy_grams: energy_sqlite(tx, *user_id)?,
                    }
                }
            };
            super::idempotency::remember_sqlite(tx, *user_id, idempotency.as_ref(), &outcome, &now_text)?;
            Ok(outcome)
        }
        GameCommand::ExpireDue { limit } => {
            let due: Vec<Ball> = tx
                .prepare_cached(&format!(
                    "SELECT {BALL_COLUMNS} FROM balls WHERE outcome IS NULL AND expires_at <= ?1
                     ORDER BY expires_at, id LIMIT ?2"
                ))?
                .query_map(params![now_text, (*limit).min(EXPIRE_CHUNK_MAX) as i64], sqlite_ball)?
                .map(|r| r.map(|row| row.ball))
                .collect::<rusqlite::Result<_>>()?;
            let moves: Vec<BallMove> = due.iter().filter_map(|b| expire(b, now)).collect();
            let sets: Vec<PostingSet> = moves.iter().map(|m| m.posting.clone()).collect();
            post_sqlite(tx, &sets, &now_text)?;
            record_moves_sqlite(tx, &moves)?;
            Ok(GameOutcome::Expired { balls: moves.len() as i64, grams: moves.iter().map(|m| m.grams).sum() })
        }
        GameCommand::Social(social) => super::social::social_sqlite(tx, social, now),
        GameCommand::Redemption(command) => super::redemption::writer::redemption_sqlite(tx, command, now),
        GameCommand::Contribute(contribution) => super::campaigns::contribute_sqlite(tx, contribution, now),
        GameCommand::Coplant(command) => super::redemption::coplanting::coplant_sqlite(tx, command, now),
        GameCommand::SettleEnergy(chunk) => super::energy_settlements::settle_sqlite(tx, chunk, now),
        GameCommand::IssueBillVoucher(issue) => super::bill_vouchers::issue_sqlite(tx, issue, now),
        GameCommand::SpendBillVoucher(spend) => super::bill_vouchers::spend_sqlite(tx, spend, now),
    }
}

/// The moves an owner's collect makes: the one ball asked for (its refusal
/// if the core refuses), or every ripe ball among `balls` (none is fine).
fn decide_collect(
    user_id: i64,
    ball_id: Option<i64>,
    balls: &[Ball],
    now: DateTime<Utc>,
) -> Result<Vec<BallMove>, BallRefusal> {
    match ball_id {
        Some(_) => {
            let ball = balls.first().ok_or(BallRefusal::NotFound)?;
            Ok(vec![collect(ball, user_id, now)?])
        }
        None => Ok(balls
            .iter()
            .filter(|b| b.key.owner == user_id && b.state(now) == BallState::Ripe)
            .filter_map(|b| collect(b, user_id, now).ok())
            .collect()),
    }
}

pub(super) fn stored(outcome: &GameOutcome) -> String {
    serde_json::to_string(outcome).expect("a game outcome serialises")
}

pub(super) fn replayed(hash: &str, body: &str, key: &IdempotencyKey) -> GameOutcome {
    if hash != key.request_hash {
        return GameOutcome::KeyReused;
    }
    serde_json::from_str(body).unwrap_or_else(|e| panic!("a stored game outcome `{body}` does not read: {e}"))
}
