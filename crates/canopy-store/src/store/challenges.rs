//! Team challenges in storage: challenges, teams and members (plain SQL,
//! each join checked in a transaction that locks the team), the members'
//! acts in the challenge's period, and the settlement, which pays rewards
//! from the pool as a game command inside the writer's transaction.

use canopy_core::game::challenges::{Challenge, ChallengeDraft, TeamResult};
use canopy_core::ledger::PostingSet;
use canopy_core::methodology::Registry;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use sqlx::PgConnection;

use super::balls::GameOutcome;
use super::postings::{post_postgres, post_sqlite, LedgerLocked, PostFailure};
use super::{on_read, on_write, Store};
use crate::{format_time, parse_time, StoreError, StoreResult};

/// The most challenges listed.
pub const CHALLENGES_LISTED_MAX: i64 = 200;

/// A challenge as stored.
#[derive(Debug, Clone)]
pub struct ChallengeRow {
    /// Its id.
    pub id: i64,
    /// Its rules.
    pub challenge: Challenge,
    /// When it was settled, if it was.
    pub settled_at: Option<DateTime<Utc>>,
    /// Grams paid at settlement.
    pub paid_grams: i64,
    /// Whether the pool was short and each was paid pro rata.
    pub pro_rata: bool,
}

/// A team, with its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRow {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its members' ids.
    pub members: Vec<i64>,
}

/// Why a join was refused.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// No such challenge.
    #[error("no such challenge")]
    ChallengeNotFound,
    /// No such team in this challenge.
    #[error("no such team in this challenge")]
    TeamNotFound,
    /// The citizen is in the challenge already.
    #[error("you have joined this challenge already")]
    AlreadyJoined,
    /// The core refused (ended, team full).
    #[error("{0}")]
    Refused(canopy_core::game::ChallengeRefusal),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for JoinError {
    fn from(error: sqlx::Error) -> Self {
        JoinError::Store(error.into())
    }
}

/// (id, title, metric, category, behavior, goal, starts_at, ends_at,
/// team_size_max, reward_grams, pool_id, settled_at, paid_grams, pro_rata)
type ChallengeTuple =
    (i64, String, String, Option<String>, Option<String>, i64, String, String, i64, i64, i64, Option<String>, i64, i64);

const CHALLENGE_COLUMNS: &str = "id, title, metric, category, behavior, goal, starts_at, ends_at, team_size_max, \
                                 reward_grams, pool_id, settled_at, paid_grams, pro_rata";

fn challenge_from_tuple(row: ChallengeTuple) -> ChallengeRow {
    let (id, title, metric, category, behavior, goal, starts_at, ends_at, team_size_max, reward_grams, pool_id) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10);
    let draft = ChallengeDraft {
        title: &title,
        metric: &metric,
        category: category.as_deref(),
        behavior: behavior.as_deref(),
        goal,
        starts_at: parse_time(&starts_at),
        ends_at: parse_time(&ends_at),
        team_size_max,
        reward_grams,
        pool_id,
    };
    let challenge =
        Challenge::parse(&draft).unwrap_or_else(|errors| panic!("stored challenge {id} no longer parses: {errors:?}"));
    ChallengeRow {
        id,
        challenge,
        settled_at: row.11.as_deref().map(parse_time),
        paid_grams: row.12,
        pro_rata: row.13 != 0,
    }
}

/// The join's steps, on either store's transaction (`$lock` is the row
/// lock PostgreSQL takes on the challenge; SQLite has one writer).
macro_rules! join_in {
    ($tx:expr, $challenge_id:expr, $user_id:expr, $team:expr, $new_team:expr, $now:expr, $now_text:expr, $lock:expr) => {{
        let tx = $tx;
        let row: Option<(String, i64)> =
            sqlx::query_as(&format!("SELECT ends_at, team_size_max FROM challenges WHERE id = $1{}", $lock))
                .bind($challenge_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((ends_at, size)) = row else { return Err(JoinError::ChallengeNotFound) };
        let joined: Option<i64> =
            sqlx::query_scalar("SELECT team_id FROM challenge_members WHERE challenge_id = $1 AND user_id = $2")
                .bind($challenge_id)
                .bind($user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if joined.is_some() {
            return Err(JoinError::AlreadyJoined);
        }
        let members: i64 = match $team {
            Some(team_id) => {
                let found: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM challenge_teams WHERE id = $1 AND challenge_id = $2")
                        .bind(team_id)
                        .bind($challenge_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if found.is_none() {
                    return Err(JoinError::TeamNotFound);
                }
                sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM challenge_members WHERE team_id = $1")
                    .bind(team_id)
                    .fetch_one(&mut *tx)
                    .await?
            }
            None => 0,
        };
        // The core decides whether the join is allowed: before the end, and
        // into a team with room.
        let deadline = parse_time(&ends_at);
        if $now >= deadline {
            return Err(JoinError::Refused(canopy_core::game::ChallengeRefusal::Ended));
        }
        if members >= size {
            return Err(JoinError::Refused(canopy_core::game::ChallengeRefusal::TeamFull));
        }
        let team_id: i64 =
            match $team {
                Some(team_id) => team_id,
                None => sqlx::query_scalar(
                    "INSERT INTO challenge_teams (challenge_id, name, created_by, created_at) VALUES ($1, $2, $3, $4)
                     RETURNING id",
                )
                .bind($challenge_id)
                .bind($new_team.unwrap_or(""))
                .bind($user_id)
                .bind($now_text)
                .fetch_one(&mut *tx)
                .await?,
            };
        sqlx::query(
            "INSERT INTO challenge_members (challenge_id, user_id, team_id, joined_at) VALUES ($1, $2, $3, $4)",
        )
        .bind($challenge_id)
        .bind($user_id)
        .bind(team_id)
        .bind($now_text)
        .execute(&mut *tx)
        .await?;
        team_id
    }};
}

impl Store {
    /// Stores a checked challenge; returns its id.
    pub async fn create_challenge(&self, draft: &ChallengeDraft<'_>, now: DateTime<Utc>) -> StoreResult<i64> {
        Ok(on_write!(self, |db| {
            sqlx::query_scalar(
                "INSERT INTO challenges (title, metric, category, behavior, goal, starts_at, ends_at, team_size_max,
                                         reward_grams, pool_id, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            )
            .bind(draft.title)
            .bind(draft.metric)
            .bind(draft.category)
            .bind(draft.behavior)
            .bind(draft.goal)
            .bind(format_time(draft.starts_at))
            .bind(format_time(draft.ends_at))
            .bind(draft.team_size_max)
            .bind(draft.reward_grams)
            .bind(draft.pool_id)
            .bind(format_time(now))
            .fetch_one(db)
            .await
        })?)
    }

    /// One challenge.
    pub async fn challenge(&self, id: i64) -> StoreResult<Option<ChallengeRow>> {
        let row: Option<ChallengeTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE id = $1"))
                .bind(id)
                .fetch_optional(db)
                .await
        })?;
        Ok(row.map(challenge_from_tuple))
    }

    /// The newest challenges (at most [`CHALLENGES_LISTED_MAX`]).
    pub async fn challenges(&self) -> StoreResult<Vec<ChallengeRow>> {
        let rows: Vec<ChallengeTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("SELECT {CHALLENGE_COLUMNS} FROM challenges ORDER BY id DESC LIMIT $1"))
                .bind(CHALLENGES_LISTED_MAX)
                .fetch_all(db)
                .await
        })?;
        Ok(rows.into_iter().map(challenge_from_tuple).collect())
    }

    /// Unsettled challenges that ended by `now`.
    pub async fn challenges_to_settle(&self, now: DateTime<Utc>) -> StoreResult<Vec<i64>> {
        Ok(on_read!(self, |db| {
            sqlx::query_scalar(
                "SELECT id FROM challenges WHERE settled_at IS NULL AND ends_at <= $1 ORDER BY id LIMIT 100",
            )
            .bind(format_time(now))
            .fetch_all(db)
            .await
        })?)
    }

    /// A challenge's teams with their members.
    pub async fn challenge_teams(&self, challenge_id: i64) -> StoreResult<Vec<TeamRow>> {
        let rows: Vec<(i64, String, Option<i64>)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT t.id, t.name, m.user_id FROM challenge_teams t
                 LEFT JOIN challenge_members m ON m.team_id = t.id
                 WHERE t.challenge_id = $1 ORDER BY t.id, m.user_id",
            )
            .bind(challenge_id)
            .fetch_all(db)
            .await
        })?;
        let mut teams: Vec<TeamRow> = Vec::new();
        for (id, name, member) in rows {
            if teams.last().map(|t| t.id) != Some(id) {
                teams.push(TeamRow { id, name, members: Vec::new() });
            }
            if let Some(member) = member {
                teams.last_mut().expect("pushed above").members.push(member);
            }
        }
        Ok(teams)
    }

    /// Each member's acts in `[start, end)`: (user, behavior, grams, acts).
    pub async fn member_acts(
        &self,
        challenge_id: i64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> StoreResult<Vec<(i64, String, i64, i64)>> {
        Ok(on_read!(self, |db| {
            sqlx::query_as(
                "SELECT e.user_id, e.behavior, CAST(SUM(e.grams) AS BIGINT), CAST(COUNT(*) AS BIGINT)
                 FROM challenge_members m JOIN events e ON e.user_id = m.user_id
                 WHERE m.challenge_id = $1 AND e.grams > 0 AND e.occurred_at >= $2 AND e.occurred_at < $3
                 GROUP BY e.user_id, e.behavior",
            )
            .bind(challenge_id)
            .bind(format_time(start))
            .bind(format_time(end))
            .fetch_all(db)
            .await
        })?)
    }

    /// `user_id` joins challenge `challenge_id`: into team `team` (an
    /// existing one), or into a new team named `new_team` that they create.
    /// Checked and written in one transaction that locks the challenge's
    /// row, so two joins cannot both take a team's last place.
    pub async fn join_challenge(
        &self,
        challenge_id: i64,
        user_id: i64,
        team: Option<i64>,
        new_team: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<i64, JoinError> {
        let now_text = format_time(now);
        match &self.pools {
            super::Pools::Sqlite { write, .. } => {
                let mut tx = write.begin().await?;
                let team_id = join_in!(&mut *tx, challenge_id, user_id, team, new_team, now, &now_text, "");
                tx.commit().await?;
                Ok(team_id)
            }
            super::Pools::Postgres { pool } => {
                let mut tx = pool.begin().await?;
                let team_id = join_in!(&mut *tx, challenge_id, user_id, team, new_team, now, &now_text, " FOR UPDATE");
                tx.commit().await?;
                Ok(team_id)
            }
        }
    }
}

/// Each team's progress: the contributions of its members' acts.
pub fn team_results(
    challenge: &Challenge,
    teams: &[TeamRow],
    acts: &[(i64, String, i64, i64)],
    registry: &Registry,
) -> Vec<TeamResult> {
    use canopy_core::game::ChallengeMetric;
    let contribution = |user: i64| -> i64 {
        acts.iter()
            .filter(|(u, ..)| *u == user)
            .map(|(_, behavior, grams, count)| match &challenge.metric {
                ChallengeMetric::ReductionGrams { category: None } => *grams,
                ChallengeMetric::ReductionGrams { category: Some(c) } => {
                    if registry.category_of(behavior) == Some(*c) {
                        *grams
                    } else {
                        0
                    }
                }
                ChallengeMetric::Acts { behavior: None } => *count,
                ChallengeMetric::Acts { behavior: Some(b) } => {
                    if b == behavior {
                        *count
                    } else {
                        0
                    }
                }
            })
            .fold(0i64, |sum, v| sum.saturating_add(v))
    };
    teams
        .iter()
        .map(|t| TeamResult {
            members: t.members.clone(),
            progress: t.members.iter().map(|m| contribution(*m)).fold(0i64, |s, v| s.saturating_add(v)),
        })
        .collect()
}

// ------------------------------------------------------- the settlement --

/// What the settlement read: the challenge (unless settled), its teams'
/// results, and what the pool holds.
fn payout_of(
    challenge: &ChallengeRow,
    results: &[TeamResult],
    pool_grams: i64,
    now: DateTime<Utc>,
) -> Result<canopy_core::game::Payout, GameOutcome> {
    challenge
        .challenge
        .payout(now, results, pool_grams)
        .map_err(|refusal| GameOutcome::Refused { code: refusal.code().to_owned(), message: refusal.to_string() })
}

/// Settles challenge `id` (SQLite writer transaction): pays every member of
/// each team that reached the goal, from the pool, once.
pub(crate) fn settle_sqlite(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    results: &[TeamResult],
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<rusqlite::Error>> {
    let row: Option<ChallengeTuple> = tx
        .prepare_cached(&format!("SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE id = ?1"))?
        .query_row(params![id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
                r.get(12)?,
                r.get(13)?,
            ))
        })
        .optional()?;
    let Some(challenge) = row.map(challenge_from_tuple) else {
        return Ok(GameOutcome::Refused { code: "challenge_not_found".into(), message: "no such challenge".into() });
    };
    if challenge.settled_at.is_some() {
        return Ok(GameOutcome::Settled { challenge_id: id, paid_grams: challenge.paid_grams, members: 0 });
    }
    let pool_grams: i64 = tx
        .prepare_cached("SELECT credits - debits FROM accounts WHERE user_id = ?1 AND kind = 'pool_energy'")?
        .query_row(params![challenge.challenge.pool_id], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let payout = match payout_of(&challenge, results, pool_grams, now) {
        Ok(payout) => payout,
        Err(refused) => return Ok(refused),
    };
    let sets: Vec<PostingSet> = payout.postings(id, challenge.challenge.pool_id);
    post_sqlite(tx, &sets, &format_time(now))?;
    tx.prepare_cached("UPDATE challenges SET settled_at = ?2, paid_grams = ?3, pro_rata = ?4 WHERE id = ?1")?
        .execute(params![id, format_time(now), payout.paid_grams, i64::from(payout.pro_rata)])?;
    Ok(GameOutcome::Settled { challenge_id: id, paid_grams: payout.paid_grams, members: payout.payments.len() as i64 })
}

/// Settles challenge `id` (PostgreSQL writer, under the ledger's lock).
pub(crate) async fn settle_postgres(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    id: i64,
    results: &[TeamResult],
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<sqlx::Error>> {
    let row: Option<ChallengeTuple> =
        sqlx::query_as(&format!("SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE id = $1 FOR UPDATE"))
            .bind(id)
            .fetch_optional(&mut *db)
            .await?;
    let Some(challenge) = row.map(challenge_from_tuple) else {
        return Ok(GameOutcome::Refused { code: "challenge_not_found".into(), message: "no such challenge".into() });
    };
    if challenge.settled_at.is_some() {
        return Ok(GameOutcome::Settled { challenge_id: id, paid_grams: challenge.paid_grams, members: 0 });
    }
    let pool_grams: Option<i64> =
        sqlx::query_scalar("SELECT credits - debits FROM accounts WHERE user_id = $1 AND kind = 'pool_energy'")
            .bind(challenge.challenge.pool_id)
            .fetch_optional(&mut *db)
            .await?;
    let payout = match payout_of(&challenge, results, pool_grams.unwrap_or(0), now) {
        Ok(payout) => payout,
        Err(refused) => return Ok(refused),
    };
    let sets: Vec<PostingSet> = payout.postings(id, challenge.challenge.pool_id);
    post_postgres(db, locked, &sets, &format_time(now)).await?;
    sqlx::query("UPDATE challenges SET settled_at = $2, paid_grams = $3, pro_rata = $4 WHERE id = $1")
        .bind(id)
        .bind(format_time(now))
        .bind(payout.paid_grams)
        .bind(i64::from(payout.pro_rata))
        .execute(&mut *db)
        .await?;
    Ok(GameOutcome::Settled { challenge_id: id, paid_grams: payout.paid_grams, members: payout.payments.len() as i64 })
}
