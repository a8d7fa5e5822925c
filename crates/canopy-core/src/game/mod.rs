//! The energy game: balls that ripen and vanish, friends who take a share
//! or water, check-ins and streaks, medals, leaderboards and team
//! challenges.
//!
//! Every rule here is a pure function: it takes what the caller read (a
//! ball, a friendship, counters, the time, the citizen's zone, the
//! settings) and returns either a typed refusal with a stable code or the
//! grams and the [`PostingSet`](crate::ledger::PostingSet) to apply
//! through the [`Book`](crate::ledger::Book). The book alone decides
//! balances, so a rule never needs to know one; the stores apply the sets
//! in their group-commit writer, in order.
//!
//! Two quantities stay apart: verified reduction (grams CO2e) is never
//! touched by a game rule; green energy moves between citizens' `balls`
//! and `energy`, the expiry sink and funded pools, and [`conservation`]
//! states how it adds up.
//!
//! - [`settings`]: the game's settings and their defaults;
//! - [`time_zone`]: citizens' IANA zones, region defaults, local times;
//! - [`balls`]: ball keys, ripening and expiry, collecting and taking;
//! - [`friends`]: requests, friendships, blocks and privacy;
//! - [`watering`]: giving a friend energy;
//! - [`checkins`]: one check-in per local day, streaks, milestone rewards;
//! - [`medals`]: declarative medal files and their evaluation;
//! - [`leaderboard`]: boards, metrics, periods and competition ranking;
//! - [`challenges`]: team challenges and their pro-rata payout;
//! - [`conservation`]: the energy accounts' identities, for `ledger verify`.

pub mod balls;
pub mod challenges;
pub mod checkins;
pub mod conservation;
pub mod friends;
pub mod leaderboard;
pub mod medals;
pub mod settings;
pub mod time_zone;
pub mod watering;

pub use balls::{Ball, BallKey, BallMove, BallRefusal, BallState, FriendCollect};
pub use challenges::{Challenge, ChallengeDraft, ChallengeMetric, ChallengeRefusal, Payout};
pub use checkins::{Checkin, CheckinRefusal, LastCheckin};
pub use conservation::EnergyTotals;
pub use leaderboard::{Board, Metric, Period};
pub use medals::{Counters, Medal, MedalPeriod, MedalRule, MedalStatus};
pub use settings::{GameSettings, Ripening, SettingError, StreakReward};
pub use time_zone::{default_time_zone, InvalidTimeZone, TimeZone};
pub use watering::{WaterRefusal, Watering};

#[cfg(test)]
mod properties;
