//! The game moves between friends, decided and written inside the writer's
//! transaction: a friend taking a share of a ripe ball, and a citizen
//! watering a friend with their own energy. Also the takes an owner sees on
//! their balls, and the checks `ledger verify` makes of both moves.
//!
//! Each move reads what its rule needs in the same transaction that writes
//! the answer — the friendship, blocks and the owner's privacy, the ball,
//! the collector's earlier take and their takes on their local day, the
//! giver's waterings of this friend on their local day — asks the core
//! (`friend_collect`, `water`), posts the set through the one posting path,
//! and records the move (`ball_takes` and the ball's `taken_grams`, or a
//! `waterings` row). The writer runs moves one at a time (on PostgreSQL
//! under the ledger's lock), so the owner and several friends collecting
//! one ball at once are decided in order: the ball never pays out more than
//! its grams and the owner keeps their share. A local day is the citizen's
//! region's zone's (`default_time_zone`).
//!
//! SQL texts are written once with `$n` placeholders; the SQLite writer
//! runs them as `?n` (see [`sqlite`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use canopy_core::game::balls::friend_collect;
use canopy_core::game::friends::Privacy;
use canopy_core::game::settings::GameSettings;
use canopy_core::game::time_zone::{default_time_zone, TimeZone};
use canopy_core::game::watering::{insufficient_energy, water, WaterRefusal};
use canopy_core::game::{Ball, BallRefusal, FriendCollect, Watering};
use canopy_core::ledger::AccountKind;
use canopy_core::types::RegionCode;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use sqlx::PgConnection;

use super::balls::{
    ball_from_tuple, record_moves_postgres, record_moves_sqlite, sqlite_ball, BallTuple, GameOutcome, IdempotencyKey,
    BALL_COLUMNS,
};
use super::idempotency::{remember_postgres, remember_sqlite, replay_postgres, replay_sqlite};
use super::postings::{post_postgres, post_sqlite, LedgerLocked, PostFailure};
use super::{on_read, Store};
use crate::{format_time, parse_time, StoreResult};

/// A move between friends for the writer (`GameCommand::Social`).
#[derive(Debug, Clone)]
pub struct SocialMove {
    /// The citizen acting: the collector, or the giver.
    pub citizen: i64,
    /// The friend: the ball's owner, or the one watered.
    pub friend: i64,
    /// What the citizen does.
    pub action: SocialAction,
    /// The client's idempotency key and a hash of the request.
    pub idempotency: Option<IdempotencyKey>,
    /// The settings the rules decide by (the service's, which are the
    /// writer's: carried here so that the writer's shared entry points keep
    /// their signatures).
    pub settings: Arc<GameSettings>,
}

/// What a citizen does to a friend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocialAction {
    /// Takes a share of the friend's ball `ball_id`.
    TakeShare {
        /// The ball.
        ball_id: i64,
    },
    /// Gives the friend `grams` of their own energy.
    Water {
        /// The grams (one of the settings' amounts).
        grams: i64,
    },
}

/// A friend's take from a ball, as the owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BallTake {
    /// The friend.
    pub user_id: i64,
    /// The friend's display name.
    pub display_name: String,
    /// Grams taken.
    pub grams: i64,
    /// When.
    pub at: DateTime<Utc>,
}

/// The zone of a citizen's stored region (UTC should it not parse, which
/// registration prevents).
pub(crate) fn citizen_zone(region: &str) -> TimeZone {
    RegionCode::parse(region).map(|r| default_time_zone(&r)).unwrap_or_default()
}

/// The bounds `[start, end)` of the local day at `now` in `zone`, as stored text.
pub(crate) fn local_day(zone: TimeZone, now: DateTime<Utc>) -> (String, String) {
    let today = zone.local_date(now);
    let tomorrow = today.succ_opt().expect("dates this close to the end of time are not played");
    (format_time(zone.start_of(today)), format_time(zone.start_of(tomorrow)))
}

fn refused(code: &str, message: String) -> GameOutcome {
    GameOutcome::Refused { code: code.to_owned(), message }
}

fn ball_refused(refusal: BallRefusal) -> GameOutcome {
    refused(refusal.code(), refusal.to_string())
}

fn water_refused(refusal: WaterRefusal) -> GameOutcome {
    refused(refusal.code(), refusal.to_string())
}

/// Whether `$1` and `$2` are friends, either blocks the other, and `$2`'s
/// privacy (NULLs for the defaults).
const RELATION: &str = "SELECT
    (SELECT COUNT(*) FROM friendships WHERE user_id = $1 AND friend_id = $2),
    (SELECT COUNT(*) FROM blocks WHERE (blocker = $1 AND blocked = $2) OR (blocker = $2 AND blocked = $1)),
    (SELECT forest FROM privacy WHERE user_id = $2),
    (SELECT friends_may_collect FROM privacy WHERE user_id = $2),
    (SELECT region FROM users WHERE id = $1)";

/// (friends, blocks either way, forest, friends_may_collect, the actor's region)
type RelationTuple = (i64, i64, Option<String>, Option<bool>, Option<String>);

/// What the rules read of two citizens.
struct Between {
    is_friend: bool,
    /// Whether the owner lets this friend collect (privacy, and no block).
    may_collect: bool,
    /// The actor's zone.
    zone: TimeZone,
}

fn between((friends, blocks, forest, may_collect, region): RelationTuple) -> Between {
    let privacy = match (forest.as_deref().and_then(canopy_core::game::friends::Forest::parse), may_collect) {
        (Some(forest), Some(friends_may_collect)) => Privacy { forest, friends_may_collect },
        _ => Privacy::default(),
    };
    Between {
        is_friend: friends > 0,
        may_collect: blocks == 0 && privacy.lets_friends_collect(),
        zone: citizen_zone(region.as_deref().unwrap_or_default()),
    }
}

/// Refuses a take early, before the ball is looked at, so that a
/// non-friend learns nothing of another's balls.
fn early_refusal(between: &Between) -> Option<BallRefusal> {
    if !between.is_friend {
        Some(BallRefusal::NotFriend)
    } else if !between.may_collect {
        Some(BallRefusal::CollectNotAllowed)
    } else {
        None
    }
}

// ---------------------------------------------------------------- SQLite --

/// A `$n` SQL text as SQLite's `?n`.
fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

/// Runs a move between friends in the SQLite writer's transaction.
pub(crate) fn social_sqlite(
    tx: &rusqlite::Transaction<'_>,
    social: &SocialMove,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<rusqlite::Error>> {
    let now_text = format_time(now);
    if let Some(replay) = replay_sqlite(tx, social.citizen, social.idempotency.as_ref())? {
        return Ok(replay);
    }
    let found: RelationTuple =
        tx.prepare_cached(&sqlite(RELATION))?.query_row(params![social.citizen, social.friend], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
    let between = between(found);
    let (day_start, day_end) = local_day(between.zone, now);
    let outcome = match social.action {
        SocialAction::TakeShare { ball_id } => 'take: {
            if let Some(refusal) = early_refusal(&between) {
                break 'take ball_refused(refusal);
            }
            let ball: Option<Ball> = tx
                .prepare_cached(&format!("SELECT {BALL_COLUMNS} FROM balls WHERE id = ?1"))?
                .query_row(params![ball_id], sqlite_ball)
                .optional()?
                .map(|row| row.ball);
            let Some(ball) = ball.filter(|b| b.key.owner == social.friend) else {
                break 'take ball_refused(BallRefusal::NotFound);
            };
            let already_taken = tx
                .prepare_cached("SELECT 1 FROM ball_takes WHERE ball_id = ?1 AND collector = ?2")?
                .exists(params![ball_id, social.citizen])?;
            let taken_today_g: i64 = tx
                .prepare_cached(&sqlite(TAKEN_TODAY))?
                .query_row(params![social.citizen, day_start, day_end], |r| r.get(0))?;
            let context = FriendCollect {
                collector: social.citizen,
                is_friend: between.is_friend,
                may_collect: between.may_collect,
                already_taken,
                taken_today_g,
            };
            match friend_collect(&ball, &context, now, &social.settings) {
                Err(refusal) => ball_refused(refusal),
                Ok(taken) => {
                    post_sqlite(tx, std::slice::from_ref(&taken.posting), &now_text)?;
                    record_moves_sqlite(tx, std::slice::from_ref(&taken))?;
                    tx.prepare_cached(&sqlite(INSERT_TAKE))?.execute(params![
                        ball_id,
                        social.citizen,
                        taken.grams,
                        now_text
                    ])?;
                    GameOutcome::FriendCollected {
                        collected_grams: taken.grams,
                        energy_grams: energy_sqlite(tx, social.citizen)?,
                    }
                }
            }
        }
        SocialAction::Water { grams } => {
            let waterings_today: i64 = tx
                .prepare_cached(&sqlite(WATERED_TODAY))?
                .query_row(params![social.citizen, social.friend, day_start, day_end], |r| r.get(0))?;
            // Numbered only if it posts: the writer is the only one numbering.
            let id: i64 = tx
                .prepare_cached("SELECT value + 1 FROM sequences WHERE name = 'waterings'")?
                .query_row([], |r| r.get(0))?;
            let action_id = id.to_string();
            let watering = watering(social, grams, between.is_friend, waterings_today, &action_id);
            match water(&watering, &social.settings) {
                Err(refusal) => water_refused(refusal),
                Ok(set) => match post_sqlite(tx, std::slice::from_ref(&set), &now_text) {
                    Err(PostFailure::Ledger(error)) if insufficient_energy(&error, social.citizen).is_some() => {
                        water_refused(WaterRefusal::InsufficientEnergy)
                    }
                    Err(failure) => return Err(failure),
                    Ok(_) => {
                        tx.prepare_cached("UPDATE sequences SET value = ?1 WHERE name = 'waterings'")?
                            .execute(params![id])?;
                        tx.prepare_cached(&sqlite(INSERT_WATERING))?.execute(params![
                            id,
                            social.citizen,
                            social.friend,
                            grams,
                            now_text
                        ])?;
                        watered(social, grams, waterings_today, energy_sqlite(tx, social.citizen)?)
                    }
                },
            }
        }
    };
    remember_sqlite(tx, social.citizen, social.idempotency.as_ref(), &outcome, &now_text)?;
    Ok(outcome)
}

const TAKEN_TODAY: &str = "SELECT CAST(COALESCE(SUM(grams), 0) AS BIGINT) FROM ball_takes
     WHERE collector = $1 AND at >= $2 AND at < $3";
const WATERED_TODAY: &str = "SELECT COUNT(*) FROM waterings WHERE giver = $1 AND friend = $2 AND at >= $3 AND at < $4";
const INSERT_TAKE: &str = "INSERT INTO ball_takes (ball_id, collector, grams, at) VALUES ($1, $2, $3, $4)";
const INSERT_WATERING: &str = "INSERT INTO waterings (id, giver, friend, grams, at) VALUES ($1, $2, $3, $4, $5)";
const ENERGY: &str = "SELECT credits - debits FROM accounts WHERE user_id = $1 AND kind = $2";

fn energy_sqlite(tx: &rusqlite::Transaction<'_>, user_id: i64) -> rusqlite::Result<i64> {
    Ok(tx
        .prepare_cached(&sqlite(ENERGY))?
        .query_row(params![user_id, AccountKind::Energy.as_str()], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

fn watering<'a>(social: &SocialMove, grams: i64, is_friend: bool, today: i64, action_id: &'a str) -> Watering<'a> {
    Watering {
        giver: social.citizen,
        friend: social.friend,
        grams,
        is_friend,
        waterings_today: u32::try_from(today).unwrap_or(u32::MAX),
        action_id,
    }
}

fn watered(social: &SocialMove, grams: i64, before_today: i64, energy_grams: i64) -> GameOutcome {
    let allowed = i64::from(social.settings.water_per_friend_daily());
    GameOutcome::Watered { watered_grams: grams, energy_grams, waterings_left: (allowed - before_today - 1).max(0) }
}

// ------------------------------------------------------------ PostgreSQL --

/// Runs a move between friends on the PostgreSQL writer's connection,
/// under the ledger's lock.
pub(crate) async fn social_postgres(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    social: &SocialMove,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<sqlx::Error>> {
    let now_text = format_time(now);
    if let Some(replay) = replay_postgres(db, social.citizen, social.idempotency.as_ref()).await? {
        return Ok(replay);
    }
    let found: RelationTuple =
        sqlx::query_as(RELATION).bind(social.citizen).bind(social.friend).fetch_one(&mut *db).await?;
    let between = between(found);
    let (day_start, day_end) = local_day(between.zone, now);
    let outcome = match social.action {
        SocialAction::TakeShare { ball_id } => 'take: {
            if let Some(refusal) = early_refusal(&between) {
                break 'take ball_refused(refusal);
            }
            let row: Option<BallTuple> = sqlx::query_as(&format!("SELECT {BALL_COLUMNS} FROM balls WHERE id = $1"))
                .bind(ball_id)
                .fetch_optional(&mut *db)
                .await?;
            let Some(ball) = row.map(|r| ball_from_tuple(r).ball).filter(|b| b.key.owner == social.friend) else {
                break 'take ball_refused(BallRefusal::NotFound);
            };
            let already_taken: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM ball_takes WHERE ball_id = $1 AND collector = $2")
                    .bind(ball_id)
                    .bind(social.citizen)
                    .fetch_optional(&mut *db)
                    .await?;
            let taken_today_g: i64 = sqlx::query_scalar(TAKEN_TODAY)
                .bind(social.citizen)
                .bind(&day_start)
                .bind(&day_end)
                .fetch_one(&mut *db)
                .await?;
            let context = FriendCollect {
                collector: social.citizen,
                is_friend: between.is_friend,
                may_collect: between.may_collect,
                already_taken: already_taken.is_some(),
                taken_today_g,
            };
            match friend_collect(&ball, &context, now, &social.settings) {
                Err(refusal) => ball_refused(refusal),
                Ok(taken) => {
                    post_postgres(db, locked, std::slice::from_ref(&taken.posting), &now_text).await?;
                    record_moves_postgres(db, std::slice::from_ref(&taken)).await?;
                    sqlx::query(INSERT_TAKE)
                        .bind(ball_id)
                        .bind(social.citizen)
                        .bind(taken.grams)
                        .bind(&now_text)
                        .execute(&mut *db)
                        .await?;
                    GameOutcome::FriendCollected {
                        collected_grams: taken.grams,
                        energy_grams: energy_postgres(db, social.citizen).await?,
                    }
                }
            }
        }
        SocialAction::Water { grams } => {
            let waterings_today: i64 = sqlx::query_scalar(WATERED_TODAY)
                .bind(social.citizen)
                .bind(social.friend)
                .bind(&day_start)
                .bind(&day_end)
                .fetch_one(&mut *db)
                .await?;
            // Numbered only if it posts: every writer of waterings holds the ledger's lock.
            let id: i64 = sqlx::query_scalar("SELECT value + 1 FROM sequences WHERE name = 'waterings'")
                .fetch_one(&mut *db)
                .await?;
            let action_id = id.to_string();
            let watering = watering(social, grams, between.is_friend, waterings_today, &action_id);
            match water(&watering, &social.settings) {
                Err(refusal) => water_refused(refusal),
                Ok(set) => match post_postgres(db, locked, std::slice::from_ref(&set), &now_text).await {
                    Err(PostFailure::Ledger(error)) if insufficient_energy(&error, social.citizen).is_some() => {
                        water_refused(WaterRefusal::InsufficientEnergy)
                    }
                    Err(failure) => return Err(failure),
                    Ok(_) => {
                        sqlx::query("UPDATE sequences SET value = $1 WHERE name = 'waterings'")
                            .bind(id)
                            .execute(&mut *db)
                            .await?;
                        sqlx::query(INSERT_WATERING)
                            .bind(id)
                            .bind(social.citizen)
                            .bind(social.friend)
                            .bind(grams)
                            .bind(&now_text)
                            .execute(&mut *db)
                            .await?;
                        watered(social, grams, waterings_today, energy_postgres(db, social.citizen).await?)
                    }
                },
            }
        }
    };
    remember_postgres(db, social.citizen, social.idempotency.as_ref(), &outcome, &now_text).await?;
    Ok(outcome)
}

async fn energy_postgres(db: &mut PgConnection, user_id: i64) -> Result<i64, sqlx::Error> {
    let energy: Option<i64> =
        sqlx::query_scalar(ENERGY).bind(user_id).bind(AccountKind::Energy.as_str()).fetch_optional(&mut *db).await?;
    Ok(energy.unwrap_or(0))
}

// ----------------------------------------------------------------- reads --

impl Store {
    /// The takes from `owner`'s balls that [`Store::balls_of`] lists (the
    /// same balls, only those friends took from), by ball, oldest first.
    pub(crate) async fn takes_of(
        &self,
        owner: i64,
        closed_since: &str,
        listed_max: i64,
    ) -> StoreResult<BTreeMap<i64, Vec<BallTake>>> {
        let rows: Vec<(i64, i64, String, i64, String)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT t.ball_id, t.collector, u.display_name, t.grams, t.at
                 FROM ball_takes t JOIN users u ON u.id = t.collector
                 WHERE t.ball_id IN (
                     SELECT id FROM balls
                     WHERE user_id = $1 AND (outcome IS NULL OR expires_at >= $2) AND taken_grams > 0
                     ORDER BY id DESC LIMIT $3)
                 ORDER BY t.ball_id, t.at, t.collector",
            )
            .bind(owner)
            .bind(closed_since)
            .bind(listed_max)
            .fetch_all(db)
            .await
        })?;
        let mut takes: BTreeMap<i64, Vec<BallTake>> = BTreeMap::new();
        for (ball_id, user_id, display_name, grams, at) in rows {
            takes.entry(ball_id).or_default().push(BallTake { user_id, display_name, grams, at: parse_time(&at) });
        }
        Ok(takes)
    }

    /// What `ledger verify` checks of the moves between friends: each
    /// ball's `taken_grams` is the sum of its takes, and per citizen the
    /// takes and waterings recorded equal the `friend_collected` and
    /// `watered` transfers in the journal.
    pub(crate) async fn verify_social(&self) -> StoreResult<Vec<String>> {
        let mut problems = Vec::new();
        let balls: Vec<(i64, i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT b.id, b.taken_grams, CAST(COALESCE(SUM(t.grams), 0) AS BIGINT)
                 FROM balls b LEFT JOIN ball_takes t ON t.ball_id = b.id
                 GROUP BY b.id, b.taken_grams HAVING b.taken_grams <> COALESCE(SUM(t.grams), 0) LIMIT 100",
            )
            .fetch_all(db)
            .await
        })?;
        for (ball, taken, takes) in balls {
            problems.push(format!("ball {ball} says friends took {taken} g but its takes sum to {takes} g"));
        }
        type Sums = Vec<(i64, i64, i64)>;
        let (takes, taken, waterings, watered): (Sums, Sums, Sums, Sums) = on_read!(self, |db| {
            let sums = |sql: &'static str| sqlx::query_as::<_, (i64, i64, i64)>(sql).fetch_all(db);
            (
                sums("SELECT collector, CAST(COUNT(*) AS BIGINT), CAST(SUM(grams) AS BIGINT) FROM ball_takes GROUP BY collector")
                    .await?,
                sums("SELECT credit_owner, CAST(COUNT(*) AS BIGINT), CAST(SUM(amount) AS BIGINT) FROM transfers
                      WHERE kind = 'friend_collected' GROUP BY credit_owner")
                .await?,
                sums("SELECT giver, CAST(COUNT(*) AS BIGINT), CAST(SUM(grams) AS BIGINT) FROM waterings GROUP BY giver")
                    .await?,
                sums("SELECT debit_owner, CAST(COUNT(*) AS BIGINT), CAST(SUM(amount) AS BIGINT) FROM transfers
                      WHERE kind = 'watered' GROUP BY debit_owner")
                .await?,
            )
        });
        for (what, recorded, posted) in [("takes from friends' balls", takes, taken), ("waterings", waterings, watered)]
        {
            let recorded: BTreeMap<i64, (i64, i64)> = recorded.into_iter().map(|(u, n, g)| (u, (n, g))).collect();
            let posted: BTreeMap<i64, (i64, i64)> = posted.into_iter().map(|(u, n, g)| (u, (n, g))).collect();
            for user_id in recorded.keys().chain(posted.keys()).collect::<std::collections::BTreeSet<_>>() {
                let (r, p) = (
                    recorded.get(user_id).copied().unwrap_or_default(),
                    posted.get(user_id).copied().unwrap_or_default(),
                );
                if r != p {
                    problems.push(format!(
                        "citizen {user_id}'s {what}: {} recorded ({} g) but {} in the journal ({} g)",
                        r.0, r.1, p.0, p.1
                    ));
                }
            }
        }
        Ok(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_day_runs_from_local_midnight_to_the_next() {
        let beijing = citizen_zone("CN-BJ");
        let now = DateTime::parse_from_rfc3339("2026-03-01T17:30:00Z").unwrap().with_timezone(&Utc);
        // 01:30 on 2 March in Beijing: the day began at 16:00 UTC on 1 March.
        assert_eq!(
            local_day(beijing, now),
            ("2026-03-01T16:00:00.000000Z".to_owned(), "2026-03-02T16:00:00.000000Z".to_owned())
        );
        assert_eq!(citizen_zone("not a region"), TimeZone::UTC);
        assert_eq!(sqlite("a = $1 AND b = $2"), "a = ?1 AND b = ?2");
    }
}
