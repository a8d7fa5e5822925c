//! Medals: declarative files naming a rule over a period, and their
//! evaluation.
//!
//! # File format
//!
//! One TOML file per medal, shipped under `medals/` and embedded in the
//! binary like the methodologies:
//!
//! ```toml
//! id = "transport-50kg-month"        # [a-z0-9-]+, 3..=64 characters, unique
//! title = "Green commuter"           # 1..=100 characters
//! description = "50 kg of verified transport reductions in one calendar month."
//! period = "month"                   # once, day, week, month or year
//!
//! [rule]
//! kind = "reduction_grams"           # reduction_grams, acts, streak_days,
//!                                    #   energy_collected_grams, challenges_completed
//! category = "transport"             # optional, reduction_grams only
//! # behavior = "shared_bike"         # optional, acts only
//! at_least = 50000                   # a positive integer: grams, acts, days or challenges
//! ```
//!
//! Unknown keys, wrong types, a missing key and a `category` or `behavior`
//! on the wrong kind are errors; every error names the file and the field
//! (`medals/x.toml: rule.at_least: expected a positive integer, found the
//! integer 0`), and every error of a file is reported ([`parse_all`]).
//!
//! # Periods and evaluation
//!
//! A medal is earned at most once per period: `once` means once ever; the
//! others are the citizen's local day, ISO week (Monday to Sunday), month
//! or year. [`MedalPeriod::key`] names the period containing an instant
//! (`once`, `2026-12-05`, `2026-W49`, `2026-12`, `2026`); a store awards a
//! medal under (citizen, medal, period key), so a retry cannot award it
//! twice. The caller counts, over that period, what the rule needs
//! ([`Counters`]); [`Medal::evaluate`] says whether it is earned or how far
//! along it is. Streaks count the current streak's days; energy collected
//! counts grams from one's own balls and taken from friends' balls;
//! challenges completed counts challenges that ended with the citizen on
//! a team that reached the goal.

mod load;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, Utc};

pub use load::{parse, parse_all, MedalError};

use super::time_zone::TimeZone;
use crate::types::Category;

/// Over which period a medal is earned, at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MedalPeriod {
    /// Once ever.
    Once,
    /// Once per local day.
    Day,
    /// Once per local ISO week.
    Week,
    /// Once per local calendar month.
    Month,
    /// Once per local calendar year.
    Year,
}

impl MedalPeriod {
    /// Every period, in file order.
    pub const ALL: [MedalPeriod; 5] =
        [MedalPeriod::Once, MedalPeriod::Day, MedalPeriod::Week, MedalPeriod::Month, MedalPeriod::Year];

    /// The file's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            MedalPeriod::Once => "once",
            MedalPeriod::Day => "day",
            MedalPeriod::Week => "week",
            MedalPeriod::Month => "month",
            MedalPeriod::Year => "year",
        }
    }

    /// Parses the file's name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// The key of the period containing local `date`: `once`, `2026-12-05`,
    /// `2026-W49` (the ISO week-numbering year, so 2027-01-01 is in
    /// `2026-W53`), `2026-12` or `2026`.
    pub fn key_of_date(self, date: NaiveDate) -> String {
        match self {
            MedalPeriod::Once => "once".to_owned(),
            MedalPeriod::Day => date.format("%Y-%m-%d").to_string(),
            MedalPeriod::Week => {
                let week = date.iso_week();
                format!("{:04}-W{:02}", week.year(), week.week())
            }
            MedalPeriod::Month => date.format("%Y-%m").to_string(),
            MedalPeriod::Year => format!("{:04}", date.year()),
        }
    }

    /// The key of the period containing `at` in the citizen's zone `tz`.
    pub fn key(self, at: DateTime<Utc>, tz: TimeZone) -> String {
        self.key_of_date(tz.local_date(at))
    }

    /// The first and the first-after-last local dates of the period
    /// containing `date` (`None` for `once`, which has no bounds).
    pub fn dates(self, date: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
        let (first, next) = match self {
            MedalPeriod::Once => return None,
            MedalPeriod::Day => (date, date.succ_opt()?),
            MedalPeriod::Week => {
                let monday = date - chrono::Days::new(u64::from(date.weekday().num_days_from_monday()));
                (monday, monday + chrono::Days::new(7))
            }
            MedalPeriod::Month => {
                let first = date.with_day(1)?;
                (first, first.checked_add_months(chrono::Months::new(1))?)
            }
            MedalPeriod::Year => {
                let first = NaiveDate::from_ymd_opt(date.year(), 1, 1)?;
                (first, NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)?)
            }
        };
        Some((first, next))
    }

    /// The instants `[start, end)` of the period containing `at` in zone
    /// `tz`, each the first existing instant of its local date (`None` for
    /// `once`): what a store sums over.
    pub fn range(self, at: DateTime<Utc>, tz: TimeZone) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.dates(tz.local_date(at)).map(|(first, next)| (tz.start_of(first), tz.start_of(next)))
    }
}

/// What a medal's rule counts, and how much it needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MedalRule {
    /// Verified reduction grams, of one category or all.
    ReductionGrams {
        /// The category counted, if only one.
        category: Option<Category>,
        /// The grams needed.
        at_least: i64,
    },
    /// Credited acts, of one behaviour or all.
    Acts {
        /// The behaviour counted, if only one.
        behavior: Option<String>,
        /// The acts needed.
        at_least: i64,
    },
    /// The current check-in streak.
    StreakDays {
        /// The days needed.
        at_least: i64,
    },
    /// Energy collected (one's own balls and friends' shares).
    EnergyCollectedGrams {
        /// The grams needed.
        at_least: i64,
    },
    /// Challenges completed on a team that reached the goal.
    ChallengesCompleted {
        /// The challenges needed.
        at_least: i64,
    },
}

impl MedalRule {
    /// The file's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            MedalRule::ReductionGrams { .. } => "reduction_grams",
            MedalRule::Acts { .. } => "acts",
            MedalRule::StreakDays { .. } => "streak_days",
            MedalRule::EnergyCollectedGrams { .. } => "energy_collected_grams",
            MedalRule::ChallengesCompleted { .. } => "challenges_completed",
        }
    }

    /// The goal (`at_least`).
    pub fn goal(&self) -> i64 {
        match self {
            MedalRule::ReductionGrams { at_least, .. }
            | MedalRule::Acts { at_least, .. }
            | MedalRule::StreakDays { at_least }
            | MedalRule::EnergyCollectedGrams { at_least }
            | MedalRule::ChallengesCompleted { at_least } => *at_least,
        }
    }
}

/// A medal, as its file defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Medal {
    /// Its id, unique among medals.
    pub id: String,
    /// Shown to citizens.
    pub title: String,
    /// What it takes, in words.
    pub description: String,
    /// How often it may be earned.
    pub period: MedalPeriod,
    /// What it takes, as a rule.
    pub rule: MedalRule,
}

/// A citizen's counts over one period, as the caller computed them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Verified reduction grams by category.
    pub reduction_grams: BTreeMap<Category, i64>,
    /// Credited acts by behaviour.
    pub acts: BTreeMap<String, i64>,
    /// The current check-in streak, in days.
    pub streak_days: i64,
    /// Energy collected, grams.
    pub energy_collected_grams: i64,
    /// Challenges completed.
    pub challenges_completed: i64,
}

impl Counters {
    /// The count `rule` compares with its goal.
    pub fn current(&self, rule: &MedalRule) -> i64 {
        let sum = |values: &mut dyn Iterator<Item = &i64>| values.fold(0i64, |total, v| total.saturating_add(*v));
        match rule {
            MedalRule::ReductionGrams { category: Some(c), .. } => self.reduction_grams.get(c).copied().unwrap_or(0),
            MedalRule::ReductionGrams { category: None, .. } => sum(&mut self.reduction_grams.values()),
            MedalRule::Acts { behavior: Some(b), .. } => self.acts.get(b).copied().unwrap_or(0),
            MedalRule::Acts { behavior: None, .. } => sum(&mut self.acts.values()),
            MedalRule::StreakDays { .. } => self.streak_days,
            MedalRule::EnergyCollectedGrams { .. } => self.energy_collected_grams,
            MedalRule::ChallengesCompleted { .. } => self.challenges_completed,
        }
    }
}

/// Where a citizen stands on a medal in a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MedalStatus {
    /// The rule is met.
    Earned,
    /// Not yet: `current` of `goal`.
    InProgress {
        /// The count so far.
        current: i64,
        /// The count needed.
        goal: i64,
    },
}

impl Medal {
    /// Whether `counters` (over this medal's period) earn it.
    pub fn evaluate(&self, counters: &Counters) -> MedalStatus {
        let current = counters.current(&self.rule);
        let goal = self.rule.goal();
        if current >= goal {
            MedalStatus::Earned
        } else {
            MedalStatus::InProgress { current, goal }
        }
    }
}

macro_rules! shipped_files {
    ($($name:literal),* $(,)?) => {
        &[$((concat!("medals/", $name), include_str!(concat!("../../../../medals/", $name)))),*]
    };
}

static SHIPPED: &[(&str, &str)] = shipped_files![
    "bike-100.toml",
    "energy-10kg.toml",
    "first-act.toml",
    "green-day.toml",
    "no-utensils-week.toml",
    "reduction-100kg-year.toml",
    "streak-30.toml",
    "streak-7.toml",
    "team-player.toml",
    "transport-50kg-month.toml",
];

/// The medal files shipped in the binary: `(file name, text)`, such as
/// `("medals/streak-30.toml", "id = …")`.
pub fn shipped_sources() -> &'static [(&'static str, &'static str)] {
    SHIPPED
}

/// Checks medal files together: parses each, then refuses an id defined by
/// two files. Returns the medals in the order given, or every error, each
/// a one-line message naming its file.
pub fn check_sources<N: AsRef<str>, T: AsRef<str>>(sources: &[(N, T)]) -> Result<Vec<Medal>, Vec<String>> {
    let mut errors = Vec::new();
    let mut medals = Vec::new();
    let mut files: HashMap<String, &str> = HashMap::new();
    for (name, text) in sources {
        match parse_all(name.as_ref(), text.as_ref()) {
            Ok(medal) => {
                if let Some(other) = files.insert(medal.id.clone(), name.as_ref()) {
                    errors.push(format!("{}: id: `{}` is already defined in {other}", name.as_ref(), medal.id));
                }
                medals.push(medal);
            }
            Err(e) => errors.extend(e.iter().map(ToString::to_string)),
        }
    }
    if errors.is_empty() {
        Ok(medals)
    } else {
        Err(errors)
    }
}

/// The shipped medals.
///
/// # Panics
///
/// If a shipped file is invalid (a test proves they all load).
pub fn shipped() -> Vec<Medal> {
    check_sources(shipped_sources()).unwrap_or_else(|e| panic!("shipped medals are invalid: {}", e.join("; ")))
}

#[cfg(test)]
mod tests;
