//! Team challenges: their definition, which acts count, joining, and the
//! payout at the end.
//!
//! A challenge counts either verified reduction grams (optionally of one
//! category) or acts (optionally of one behaviour), made inside its period
//! `[starts_at, ends_at)`. Citizens join a team or alone; one who joins
//! alone is a team of one.
//!
//! # Payout
//!
//! At the end, every member of each team whose progress reached the goal
//! is due `reward_grams` from the challenge's pool, once (a citizen listed
//! twice is paid once, under the cause `reward:<challenge>:<user>`). When
//! the pool holds at least the total due, each is paid in full. Otherwise
//! the pool is shared equally: each is paid `floor(pool × reward_grams /
//! total_due)`, which is `floor(pool / members)`, and the remainder (fewer
//! grams than members) stays in the pool. A member whose share rounds to
//! zero is paid nothing. So the sum paid never exceeds the pool.

use chrono::{DateTime, Duration, Utc};

use crate::ledger::PostingSet;
use crate::types::{parse_shown_name, Category};

/// The longest challenge title, in characters.
pub const TITLE_CHARS_MAX: usize = 100;
/// The longest challenge, in days.
pub const CHALLENGE_DAYS_MAX: i64 = 366;
/// The largest team.
pub const TEAM_SIZE_MAX: i64 = 1000;
/// The largest reward per member, in grams (a guard against typos).
pub const REWARD_GRAMS_MAX: i64 = 1_000_000_000;

/// What a challenge counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChallengeMetric {
    /// Grams of verified reduction, of one category or of any.
    ReductionGrams {
        /// The category counted, if only one.
        category: Option<Category>,
    },
    /// Acts, of one behaviour or of any.
    Acts {
        /// The behaviour counted, if only one.
        behavior: Option<String>,
    },
}

impl ChallengeMetric {
    /// The wire name (`reduction_grams`, `acts`).
    pub fn as_str(&self) -> &'static str {
        match self {
            ChallengeMetric::ReductionGrams { .. } => "reduction_grams",
            ChallengeMetric::Acts { .. } => "acts",
        }
    }
}

/// A challenge as the operator sends it, before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeDraft<'a> {
    /// Shown to citizens.
    pub title: &'a str,
    /// `reduction_grams` or `acts`.
    pub metric: &'a str,
    /// With `reduction_grams`: the category counted.
    pub category: Option<&'a str>,
    /// With `acts`: the behaviour counted.
    pub behavior: Option<&'a str>,
    /// The progress a team must reach.
    pub goal: i64,
    /// The first instant counted.
    pub starts_at: DateTime<Utc>,
    /// The first instant no longer counted.
    pub ends_at: DateTime<Utc>,
    /// The most members a team may have.
    pub team_size_max: i64,
    /// The grams paid to each member of a team that reached the goal.
    pub reward_grams: i64,
    /// The pool the rewards come from.
    pub pool_id: i64,
}

/// A checked challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Shown to citizens (trimmed).
    pub title: String,
    /// What it counts.
    pub metric: ChallengeMetric,
    /// The progress a team must reach (positive).
    pub goal: i64,
    /// The first instant counted.
    pub starts_at: DateTime<Utc>,
    /// The first instant no longer counted (after `starts_at`).
    pub ends_at: DateTime<Utc>,
    /// The most members a team may have (at least 1).
    pub team_size_max: u32,
    /// The grams due to each member of a team that reached the goal.
    pub reward_grams: i64,
    /// The pool the rewards come from.
    pub pool_id: i64,
}

/// A field of a challenge draft that is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ChallengeError {
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl ChallengeError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        "invalid_challenge"
    }
}

/// Why joining or paying out a challenge was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeRefusal {
    /// The challenge is over: no one joins any more.
    #[error("the challenge has ended")]
    Ended,
    /// The team has `team_size_max` members.
    #[error("the team is full")]
    TeamFull,
    /// The challenge is not over: it cannot pay out yet.
    #[error("the challenge has not ended")]
    NotEnded,
}

impl ChallengeRefusal {
    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            ChallengeRefusal::Ended => "challenge_ended",
            ChallengeRefusal::TeamFull => "team_full",
            ChallengeRefusal::NotEnded => "challenge_not_ended",
        }
    }
}

/// An act, as a challenge sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Act<'a> {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Its behaviour code.
    pub behavior: &'a str,
    /// Its category.
    pub category: Category,
    /// The verified reduction it was credited, grams CO2e.
    pub grams: i64,
}

/// A team's standing at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamResult {
    /// Its members.
    pub members: Vec<i64>,
    /// Its progress, in the challenge's metric.
    pub progress: i64,
}

/// One member's reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payment {
    /// The member.
    pub user_id: i64,
    /// The grams paid (positive).
    pub grams: i64,
}

/// What a challenge pays at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    /// One payment per rewarded member, by user id.
    pub payments: Vec<Payment>,
    /// What full rewards would cost.
    pub due_grams: i64,
    /// What is paid (never more than the pool held).
    pub paid_grams: i64,
    /// Whether the pool was short and shared pro rata.
    pub pro_rata: bool,
}

impl Payout {
    /// The posting sets that pay each member of challenge `challenge_id`
    /// from pool `pool_id`.
    pub fn postings(&self, challenge_id: i64, pool_id: i64) -> Vec<PostingSet> {
        self.payments.iter().map(|p| PostingSet::challenge_reward(challenge_id, pool_id, p.user_id, p.grams)).collect()
    }
}

fn behavior_code(text: &str) -> bool {
    (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Challenge {
    /// Checks a draft, reporting every field refused.
    pub fn parse(draft: &ChallengeDraft<'_>) -> Result<Challenge, Vec<ChallengeError>> {
        let mut errors = Vec::new();
        let mut refuse = |field: &'static str, message: String| errors.push(ChallengeError { field, message });
        let title = parse_shown_name(draft.title, TITLE_CHARS_MAX).map_err(|e| refuse("title", e.to_string())).ok();
        let metric = match (draft.metric, draft.category, draft.behavior) {
            ("reduction_grams", category, None) => match category.map(str::parse::<Category>).transpose() {
                Ok(category) => Some(ChallengeMetric::ReductionGrams { category }),
                Err(e) => {
                    refuse("category", e.to_string());
                    None
                }
            },
            ("acts", None, behavior) => match behavior {
                Some(b) if !behavior_code(b) => {
                    refuse("behavior", format!("`{b}` is not a behavior code of lower-case letters, digits and `_`"));
                    None
                }
                _ => Some(ChallengeMetric::Acts { behavior: behavior.map(str::to_owned) }),
            },
            ("reduction_grams", _, Some(_)) => {
                refuse("behavior", "only an `acts` challenge counts one behavior".to_owned());
                None
            }
            ("acts", Some(_), _) => {
                refuse("category", "only a `reduction_grams` challenge counts one category".to_owned());
                None
            }
            (other, _, _) => {
                refuse("metric", format!("expected reduction_grams or acts, found {other:?}"));
                None
            }
        };
        if draft.goal <= 0 {
            refuse("goal", format!("must be positive, found {}", draft.goal));
        }
        if draft.starts_at >= draft.ends_at {
            refuse("ends_at", "must be after starts_at".to_owned());
        } else if draft.ends_at - draft.starts_at > Duration::days(CHALLENGE_DAYS_MAX) {
            refuse("ends_at", format!("a challenge lasts at most {CHALLENGE_DAYS_MAX} days"));
        }
        if !(1..=TEAM_SIZE_MAX).contains(&draft.team_size_max) {
            refuse("team_size_max", format!("must be from 1 to {TEAM_SIZE_MAX}, found {}", draft.team_size_max));
        }
        if !(0..=REWARD_GRAMS_MAX).contains(&draft.reward_grams) {
            refuse("reward_grams", format!("must be from 0 to {REWARD_GRAMS_MAX}, found {}", draft.reward_grams));
        }
        if draft.pool_id <= 0 {
            refuse("pool", format!("is not a pool id: {}", draft.pool_id));
        }
        match (title, metric) {
            (Some(title), Some(metric)) if errors.is_empty() => Ok(Challenge {
                title,
                metric,
                goal: draft.goal,
                starts_at: draft.starts_at,
                ends_at: draft.ends_at,
                team_size_max: u32::try_from(draft.team_size_max).expect("checked above"),
                reward_grams: draft.reward_grams,
                pool_id: draft.pool_id,
            }),
            _ => Err(errors),
        }
    }

    /// Whether an act at `at` counts: inside `[starts_at, ends_at)`.
    pub fn counts(&self, at: DateTime<Utc>) -> bool {
        self.starts_at <= at && at < self.ends_at
    }

    /// What `act` adds to its team's progress: its grams or one act when
    /// it is inside the period and of the counted category or behaviour,
    /// else nothing.
    pub fn contribution(&self, act: &Act<'_>) -> i64 {
        if !self.counts(act.at) {
            return 0;
        }
        match &self.metric {
            ChallengeMetric::ReductionGrams { category } if category.is_none_or(|c| c == act.category) => act.grams,
            ChallengeMetric::Acts { behavior } if behavior.as_deref().is_none_or(|b| b == act.behavior) => 1,
            _ => 0,
        }
    }

    /// Whether a citizen may join, at `now`, a team that has
    /// `team_members` members (0 for a new team or joining alone).
    pub fn check_join(&self, now: DateTime<Utc>, team_members: u32) -> Result<(), ChallengeRefusal> {
        if now >= self.ends_at {
            return Err(ChallengeRefusal::Ended);
        }
        if team_members >= self.team_size_max {
            return Err(ChallengeRefusal::TeamFull);
        }
        Ok(())
    }

    /// The payout at `now` (refused before the end), given each team's
    /// result and what the pool holds (see the module's rule).
    pub fn payout(
        &self,
        now: DateTime<Utc>,
        teams: &[TeamResult],
        pool_grams: i64,
    ) -> Result<Payout, ChallengeRefusal> {
        if now < self.ends_at {
            return Err(ChallengeRefusal::NotEnded);
        }
        let mut members: Vec<i64> =
            teams.iter().filter(|t| t.progress >= self.goal).flat_map(|t| t.members.iter().copied()).collect();
        members.sort_unstable();
        members.dedup();
        let due = i128::from(self.reward_grams) * i128::try_from(members.len()).expect("a count fits");
        let pool = i128::from(pool_grams.max(0));
        let pro_rata = due > pool;
        let each = if pro_rata { pool * i128::from(self.reward_grams) / due } else { i128::from(self.reward_grams) };
        let each = i64::try_from(each).expect("at most the reward");
        let payments: Vec<Payment> = if each > 0 {
            members.into_iter().map(|user_id| Payment { user_id, grams: each }).collect()
        } else {
            Vec::new()
        };
        let paid = i128::from(each) * i128::try_from(payments.len()).expect("a count fits");
        assert!(paid <= pool, "a payout never exceeds the pool");
        Ok(Payout {
            payments,
            due_grams: i64::try_from(due).unwrap_or(i64::MAX),
            paid_grams: i64::try_from(paid).expect("at most the pool"),
            pro_rata,
        })
    }
}

#[cfg(test)]
mod tests;
