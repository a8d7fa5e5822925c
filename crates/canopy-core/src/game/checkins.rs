//! Daily check-ins and streaks.
//!
//! # The rule
//!
//! A check-in's date is the local date at the moment of checking in, in
//! the citizen's zone at that moment; it is stored with the instant.
//!
//! - A citizen checks in at most once per date, and never on a date on or
//!   before their last check-in's date (`already_checked_in`): moving west
//!   after checking in does not give the same date twice.
//! - The streak continues (previous streak + 1) when today's date is the
//!   day after the last check-in's date, **or** the day after the last
//!   check-in's instant as seen in today's zone. The second clause is what
//!   lets a streak survive a move east: checking in at 23:00 in Los Angeles
//!   and next at 10:00 two dates later in Tokyo is one day later there.
//!   Otherwise the streak restarts at 1.
//!
//! Dates are calendar dates, so month ends, year ends and 29 February need
//! no special case. A citizen hopping zones can gain at most one day over
//! the range of offsets (26 hours), never two check-ins on one date.
//!
//! The reward is the milestone's grams when the new streak is exactly a
//! milestone (`checkin_rewards`), paid from the check-in pool under the
//! cause `checkin:<user>:<date>`, so a check-in posts its reward once.

use chrono::{DateTime, NaiveDate, Utc};

use super::settings::GameSettings;
use super::time_zone::TimeZone;
use crate::ledger::PostingSet;

/// A citizen's last check-in, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastCheckin {
    /// Its local date (in the zone in force then).
    pub date: NaiveDate,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The streak it made.
    pub streak_days: u32,
}

/// A check-in the rule allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkin {
    /// The citizen.
    pub user_id: i64,
    /// The local date checked in on.
    pub date: NaiveDate,
    /// When.
    pub at: DateTime<Utc>,
    /// The streak, in days, including this one.
    pub streak_days: u32,
    /// The milestone reward, in grams (0 when the streak is no milestone).
    pub reward_grams: i64,
}

impl Checkin {
    /// The set paying the reward from the check-in pool `pool_id`, if there
    /// is a reward.
    pub fn reward_posting(&self, pool_id: i64) -> Option<PostingSet> {
        (self.reward_grams > 0).then(|| PostingSet::checkin_reward(pool_id, self.user_id, self.date, self.reward_grams))
    }

    /// What the citizen's last check-in is once this one is stored.
    pub fn as_last(&self) -> LastCheckin {
        LastCheckin { date: self.date, at: self.at, streak_days: self.streak_days }
    }
}

/// Why a check-in was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CheckinRefusal {
    /// The citizen checked in on this date (or a later one) already.
    #[error("already checked in today")]
    AlreadyCheckedIn,
}

impl CheckinRefusal {
    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            CheckinRefusal::AlreadyCheckedIn => "already_checked_in",
        }
    }
}

/// `user_id` checking in at `now` in zone `tz`, after `last` (see the
/// module's rule).
pub fn check_in(
    user_id: i64,
    now: DateTime<Utc>,
    tz: TimeZone,
    last: Option<&LastCheckin>,
    settings: &GameSettings,
) -> Result<Checkin, CheckinRefusal> {
    let date = tz.local_date(now);
    let streak_days = match last {
        None => 1,
        Some(last) if date <= last.date => return Err(CheckinRefusal::AlreadyCheckedIn),
        Some(last) => {
            let follows = |previous: NaiveDate| previous.succ_opt() == Some(date);
            if follows(last.date) || follows(tz.local_date(last.at)) {
                last.streak_days.saturating_add(1)
            } else {
                1
            }
        }
    };
    Ok(Checkin { user_id, date, at: now, streak_days, reward_grams: settings.streak_reward_g(streak_days) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{AccountKind, AccountRef, Cause};

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect(text).with_timezone(&Utc)
    }

    fn zone(name: &str) -> TimeZone {
        TimeZone::parse(name).unwrap()
    }

    /// Checks in at each instant in `tz`, carrying the last check-in on;
    /// returns each outcome's (date, streak) or refusal code.
    fn run(tz: TimeZone, instants: &[&str]) -> Vec<Result<(String, u32), &'static str>> {
        let s = GameSettings::default();
        let mut last: Option<LastCheckin> = None;
        instants
            .iter()
            .map(|at| match check_in(7, utc(at), tz, last.as_ref(), &s) {
                Ok(c) => {
                    last = Some(c.as_last());
                    Ok((c.date.to_string(), c.streak_days))
                }
                Err(e) => Err(e.code()),
            })
            .collect()
    }

    fn ok(date: &str, streak: u32) -> Result<(String, u32), &'static str> {
        Ok((date.to_owned(), streak))
    }

    #[test]
    fn one_check_in_per_local_day() {
        let shanghai = zone("Asia/Shanghai");
        // 15:59Z and 16:00Z are different local days in Shanghai.
        let got = run(
            shanghai,
            &["2026-12-05T01:00:00Z", "2026-12-05T15:59:00Z", "2026-12-05T16:00:00Z", "2026-12-06T10:00:00Z"],
        );
        assert_eq!(
            got,
            [ok("2026-12-05", 1), Err("already_checked_in"), ok("2026-12-06", 2), Err("already_checked_in")]
        );
    }

    #[test]
    fn streaks_cross_month_ends_year_ends_and_leap_days() {
        let utc_zone = TimeZone::UTC;
        let got = run(
            utc_zone,
            &["2028-02-28T12:00:00Z", "2028-02-29T12:00:00Z", "2028-03-01T12:00:00Z", "2028-03-03T12:00:00Z"],
        );
        assert_eq!(got, [ok("2028-02-28", 1), ok("2028-02-29", 2), ok("2028-03-01", 3), ok("2028-03-03", 1)]);
        let got = run(utc_zone, &["2026-12-31T23:59:00Z", "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z"]);
        assert_eq!(got, [ok("2026-12-31", 1), ok("2027-01-01", 2), ok("2027-02-01", 1)]);
        let got = run(utc_zone, &["2027-02-28T08:00:00Z", "2027-03-01T08:00:00Z"]);
        assert_eq!(got, [ok("2027-02-28", 1), ok("2027-03-01", 2)], "no 29 February in 2027");
        let got = run(utc_zone, &["2026-04-30T08:00:00Z", "2026-05-01T08:00:00Z"]);
        assert_eq!(got, [ok("2026-04-30", 1), ok("2026-05-01", 2)]);
    }

    #[test]
    fn streaks_survive_a_change_of_time_zone() {
        let s = GameSettings::default();
        let la = zone("America/Los_Angeles");
        let tokyo = zone("Asia/Tokyo");
        // East: 23:00 on 12-05 in Los Angeles, then 10:00 on 12-07 in Tokyo,
        // 19 hours later (12-06 in Tokyo was mostly before the first one).
        let first = check_in(7, utc("2026-12-06T07:00:00Z"), la, None, &s).unwrap();
        assert_eq!((first.date.to_string(), first.streak_days), ("2026-12-05".to_owned(), 1));
        let east = check_in(7, utc("2026-12-07T01:00:00Z"), tokyo, Some(&first.as_last()), &s).unwrap();
        assert_eq!((east.date.to_string(), east.streak_days), ("2026-12-07".to_owned(), 2));
        // West: 08:00 on 12-08 in Tokyo, then Los Angeles, where it is
        // still 12-07 and later 12-08: that date is taken, the next is not.
        let tokyo_day = check_in(7, utc("2026-12-07T23:00:00Z"), tokyo, Some(&east.as_last()), &s).unwrap();
        assert_eq!((tokyo_day.date.to_string(), tokyo_day.streak_days), ("2026-12-08".to_owned(), 3));
        let last = tokyo_day.as_last();
        assert_eq!(
            check_in(7, utc("2026-12-08T01:00:00Z"), la, Some(&last), &s),
            Err(CheckinRefusal::AlreadyCheckedIn)
        );
        assert_eq!(
            check_in(7, utc("2026-12-08T20:00:00Z"), la, Some(&last), &s),
            Err(CheckinRefusal::AlreadyCheckedIn)
        );
        let west = check_in(7, utc("2026-12-09T20:00:00Z"), la, Some(&last), &s).unwrap();
        assert_eq!((west.date.to_string(), west.streak_days), ("2026-12-09".to_owned(), 4));
        // A real gap still breaks the streak, whatever the zones.
        let later = check_in(7, utc("2026-12-12T01:00:00Z"), tokyo, Some(&west.as_last()), &s).unwrap();
        assert_eq!(later.streak_days, 1);
    }

    #[test]
    fn milestones_pay_once_from_the_pool() {
        let s = GameSettings::default();
        let day = |n: i64| utc("2026-01-01T12:00:00Z") + chrono::Duration::days(n);
        let mut last: Option<LastCheckin> = None;
        let mut rewards = Vec::new();
        for n in 0..31 {
            let c = check_in(7, day(n), TimeZone::UTC, last.as_ref(), &s).unwrap();
            if c.reward_grams > 0 {
                rewards.push((c.streak_days, c.reward_grams));
            }
            last = Some(c.as_last());
        }
        assert_eq!(rewards, [(7, 50), (30, 300)]);
        let seventh = check_in(7, day(6), TimeZone::UTC, None, &s).unwrap();
        assert_eq!(seventh.reward_posting(3), None, "a first check-in has no reward");
        let streak = LastCheckin { date: day(5).date_naive(), at: day(5), streak_days: 6 };
        let paid = check_in(7, day(6), TimeZone::UTC, Some(&streak), &s).unwrap();
        let set = paid.reward_posting(3).unwrap();
        assert_eq!(set.cause, Cause::GameAction { id: "checkin:7:2026-01-07".into() });
        let t = set.transfers[0];
        assert_eq!(
            (t.debit, t.credit, t.amount),
            (AccountRef::pool(3, AccountKind::PoolEnergy), AccountRef::citizen(7, AccountKind::Energy), 50)
        );
    }
}
