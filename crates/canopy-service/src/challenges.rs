//! Team challenges: the operator sets a goal over a period and a reward
//! from a funded pool; citizens join alone or in teams; progress is live;
//! at the end every member of a team that reached the goal is paid once,
//! never beyond what the pool holds (pro rata when it is short: each gets
//! `floor(pool × reward ÷ due)`).

use canopy_core::game::challenges::{ChallengeDraft, TeamResult};
use canopy_core::ledger::PoolUnit;
use canopy_store::writer::{GameCommand, GameOutcome};
use canopy_store::{team_results, ChallengeRow, JoinError, TeamRow};
use chrono::{DateTime, Utc};

use crate::error::{ServiceError, ServiceResult};
use crate::Service;

/// The longest team name, in characters.
pub const TEAM_NAME_MAX: usize = 60;

/// A challenge as the operator sends it.
#[derive(Debug, Clone)]
pub struct NewChallenge {
    /// Its title.
    pub title: String,
    /// `reduction_grams` or `acts`.
    pub metric: String,
    /// For `reduction_grams`: one category only.
    pub category: Option<String>,
    /// For `acts`: one behaviour only.
    pub behavior: Option<String>,
    /// The goal per team.
    pub goal: i64,
    /// When acts start to count.
    pub starts_at: DateTime<Utc>,
    /// When they stop (exclusive) and the challenge pays.
    pub ends_at: DateTime<Utc>,
    /// The most members a team may have.
    pub team_size_max: i64,
    /// Grams of energy each member of a winning team is paid.
    pub reward_grams: i64,
    /// The pool that pays.
    pub pool_id: i64,
}

/// A challenge with every team's live progress.
#[derive(Debug, Clone)]
pub struct ChallengeView {
    /// The challenge.
    pub row: ChallengeRow,
    /// Each team with its progress.
    pub teams: Vec<(TeamRow, TeamResult)>,
    /// The viewer's team, if they joined.
    pub my_team: Option<i64>,
}

impl Service {
    /// Creates a challenge paying from `pool_id` (an energy pool).
    pub async fn create_challenge(&self, new: NewChallenge) -> ServiceResult<ChallengeRow> {
        let draft = ChallengeDraft {
            title: &new.title,
            metric: &new.metric,
            category: new.category.as_deref(),
            behavior: new.behavior.as_deref(),
            goal: new.goal,
            starts_at: new.starts_at,
            ends_at: new.ends_at,
            team_size_max: new.team_size_max,
            reward_grams: new.reward_grams,
            pool_id: new.pool_id,
        };
        canopy_core::game::Challenge::parse(&draft).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
            ServiceError::invalid("invalid_challenge", lines.join("; ")).with_errors(lines)
        })?;
        match self.store.pool(new.pool_id).await? {
            Some(pool) if pool.unit == PoolUnit::EnergyGrams => {}
            Some(_) => {
                return Err(ServiceError::invalid(
                    "invalid_challenge",
                    "pool: a challenge pays energy; this pool holds fen",
                ))
            }
            None => return Err(ServiceError::not_found("pool_not_found", "there is no such pool")),
        }
        let id = self.store.create_challenge(&draft, self.now()).await?;
        self.store.challenge(id).await?.ok_or_else(|| ServiceError::internal("a created challenge is not found"))
    }

    /// The newest challenges.
    pub async fn challenges(&self) -> ServiceResult<Vec<ChallengeRow>> {
        Ok(self.store.challenges().await?)
    }

    /// One challenge with its teams' progress, as `viewer` sees it.
    pub async fn challenge_view(&self, id: i64, viewer: i64) -> ServiceResult<ChallengeView> {
        let row = self.store.challenge(id).await?.ok_or_else(not_found)?;
        let results = self.results(&row).await?;
        let teams: Vec<TeamRow> = self.store.challenge_teams(id).await?;
        let my_team = teams.iter().find(|t| t.members.contains(&viewer)).map(|t| t.id);
        Ok(ChallengeView { row, teams: teams.into_iter().zip(results).collect(), my_team })
    }

    /// `user_id` joins challenge `id`, alone (a team of one) or into `team`.
    pub async fn join_challenge(&self, id: i64, user_id: i64, team: Option<i64>) -> ServiceResult<i64> {
        let name = match team {
            Some(_) => None,
            None => {
                Some(self.store.user_by_id(user_id).await?.map(|u| u.display_name).unwrap_or_else(|| "Solo".to_owned()))
            }
        };
        self.store.join_challenge(id, user_id, team, name.as_deref(), self.now()).await.map_err(join_error)
    }

    /// `user_id` creates a team named `name` in challenge `id` and joins it.
    pub async fn create_team(&self, id: i64, user_id: i64, name: &str) -> ServiceResult<i64> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > TEAM_NAME_MAX || name.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "invalid_team",
                format!("a team name is 1 to {TEAM_NAME_MAX} characters without control characters"),
            ));
        }
        self.store.join_challenge(id, user_id, None, Some(name), self.now()).await.map_err(join_error)
    }

    /// Settles every challenge that has ended; returns how many.
    pub async fn settle_challenges(&self) -> ServiceResult<usize> {
        let due = self.store.challenges_to_settle(self.now()).await?;
        for id in &due {
            let Some(row) = self.store.challenge(*id).await? else { continue };
            let results = self.results(&row).await?;
            match self.game(GameCommand::SettleChallenge { challenge_id: *id, results }).await? {
                GameOutcome::Settled { paid_grams, members, .. } => {
                    tracing::info!(challenge = id, paid_grams, members, "challenge settled");
                }
                other => tracing::warn!(challenge = id, ?other, "a challenge did not settle"),
            }
        }
        Ok(due.len())
    }

    async fn results(&self, row: &ChallengeRow) -> ServiceResult<Vec<TeamResult>> {
        let teams = self.store.challenge_teams(row.id).await?;
        let acts = self.store.member_acts(row.id, row.challenge.starts_at, row.challenge.ends_at).await?;
        Ok(team_results(&row.challenge, &teams, &acts, &self.registry.current()))
    }
}

fn not_found() -> ServiceError {
    ServiceError::not_found("challenge_not_found", "there is no such challenge")
}

fn join_error(error: JoinError) -> ServiceError {
    match error {
        JoinError::ChallengeNotFound => not_found(),
        JoinError::TeamNotFound => ServiceError::not_found("team_not_found", "there is no such team in this challenge"),
        JoinError::AlreadyJoined => ServiceError::conflict("already_joined", "you have joined this challenge already"),
        JoinError::Refused(refusal) => ServiceError::conflict(refusal.code(), refusal.to_string()),
        JoinError::Store(e) => e.into(),
    }
}
