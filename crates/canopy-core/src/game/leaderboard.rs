//! Leaderboards: which board, which metric, which period, and ranks.
//!
//! Ranks are standard competition ranks ("1224"): equal grams share a
//! rank, and the next different grams take the rank of their position, so
//! a citizen's rank is one more than the number of citizens with strictly
//! more grams. That is what makes a viewer's rank cheap at a million
//! citizens: one count, not a walk ([`rank_of`]). A page read by cursor
//! ranks its entries from its first entry's count ([`rank_page`]).
//!
//! A period starts at the local midnight of its first day ([`Period::start`]):
//! the day's, the ISO week's Monday, the month's first. The friends board
//! uses the viewer's zone; a region board uses the region's zone
//! ([`default_time_zone`](super::time_zone::default_time_zone)), so that
//! every citizen of the region shares one board.

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};

use super::time_zone::TimeZone;

/// A query parameter of a leaderboard that names nothing known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter} must be one of {expected}, not {value:?}")]
pub struct InvalidLeaderboardParameter {
    /// The parameter (`board`, `metric`, `period`).
    pub parameter: &'static str,
    /// The values accepted, for the message.
    pub expected: &'static str,
    /// The value given.
    pub value: String,
}

impl InvalidLeaderboardParameter {
    /// The stable error code: `invalid_board`, `invalid_metric` or `invalid_period`.
    pub fn code(&self) -> &'static str {
        match self.parameter {
            "board" => "invalid_board",
            "metric" => "invalid_metric",
            _ => "invalid_period",
        }
    }
}

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident, $parameter:literal, $expected:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in the wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the wire name.
            pub fn parse(text: &str) -> Result<Self, InvalidLeaderboardParameter> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text).ok_or_else(|| InvalidLeaderboardParameter {
                    parameter: $parameter,
                    expected: $expected,
                    value: text.to_owned(),
                })
            }
        }
    };
}

wire_enum!(
    /// Whose grams a board ranks.
    Board, "board", "friends, region", {
        /// The viewer and their friends.
        Friends => "friends",
        /// Every citizen of a region.
        Region => "region",
    }
);

wire_enum!(
    /// What a board ranks by.
    Metric, "metric", "reduction, energy", {
        /// Verified reduction, grams CO2e.
        Reduction => "reduction",
        /// Green energy gained, grams.
        Energy => "energy",
    }
);

wire_enum!(
    /// Over which period a board sums.
    Period, "period", "day, week, month, all", {
        /// The current local day.
        Day => "day",
        /// The current ISO week (Monday to Sunday), local.
        Week => "week",
        /// The current calendar month, local.
        Month => "month",
        /// Everything, ever.
        All => "all",
    }
);

impl Period {
    /// The first local date of the period containing `date` (`None` for `all`).
    pub fn first_date(self, date: NaiveDate) -> Option<NaiveDate> {
        match self {
            Period::Day => Some(date),
            Period::Week => date.checked_sub_days(Days::new(u64::from(date.weekday().num_days_from_monday()))),
            Period::Month => date.with_day(1),
            Period::All => None,
        }
    }

    /// The instant the period containing `now` began in zone `tz`: the
    /// first existing instant of its first local date (`None` for `all`).
    pub fn start(self, now: DateTime<Utc>, tz: TimeZone) -> Option<DateTime<Utc>> {
        self.first_date(tz.local_date(now)).map(|date| tz.start_of(date))
    }
}

/// One ranked entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranked {
    /// The competition rank, from 1.
    pub rank: u64,
    /// The citizen.
    pub user_id: i64,
    /// Their grams over the period.
    pub grams: i64,
}

/// The rank of grams that `above` citizens strictly exceed.
pub fn rank_of(above: u64) -> u64 {
    above + 1
}

/// Ranks `(user_id, grams)` pairs: sorted by grams descending, then by
/// user id (so equal grams list in a stable order), with competition ranks.
pub fn rank(entries: impl IntoIterator<Item = (i64, i64)>) -> Vec<Ranked> {
    let mut entries: Vec<(i64, i64)> = entries.into_iter().collect();
    entries.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let grams: Vec<i64> = entries.iter().map(|e| e.1).collect();
    rank_page(&grams, 0, 0)
        .into_iter()
        .zip(entries)
        .map(|(rank, (user_id, grams))| Ranked { rank, user_id, grams })
        .collect()
}

/// The ranks of a page of grams in board order (descending) whose first
/// entry is at 0-based position `first_position` of the whole board and is
/// strictly exceeded by `above_first` entries. Each later entry with the
/// same grams as the one before shares its rank; one with fewer grams is
/// ranked by its position.
///
/// # Panics
///
/// If the page is not in descending order (a bug in the caller's query).
pub fn rank_page(grams: &[i64], first_position: u64, above_first: u64) -> Vec<u64> {
    let mut ranks = Vec::with_capacity(grams.len());
    let mut previous: Option<(i64, u64)> = None;
    for (index, &g) in (0u64..).zip(grams) {
        let rank = match previous {
            None => rank_of(above_first),
            Some((before, rank)) if before == g => rank,
            Some((before, _)) => {
                assert!(g < before, "a board page is in descending order of grams");
                first_position + index + 1
            }
        };
        ranks.push(rank);
        previous = Some((g, rank));
    }
    ranks
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect(text).with_timezone(&Utc)
    }

    #[test]
    fn ties_share_a_rank() {
        let ranked = rank([(5, 100), (3, 300), (4, 100), (9, 300), (1, 50), (2, 0)]);
        let got: Vec<_> = ranked.iter().map(|r| (r.rank, r.user_id, r.grams)).collect();
        assert_eq!(got, [(1, 3, 300), (1, 9, 300), (3, 4, 100), (3, 5, 100), (5, 1, 50), (6, 2, 0)]);
        assert!(rank([]).is_empty());
        assert_eq!(rank_of(0), 1);
        assert_eq!(rank_of(41), 42);
    }

    #[test]
    fn a_page_continues_the_ranks_of_the_board() {
        // The board 300 300 100 100 100 50, read from position 3 (a 100,
        // exceeded by the two 300s).
        assert_eq!(rank_page(&[100, 100, 50], 3, 2), [3, 3, 6]);
        assert_eq!(rank_page(&[50], 5, 5), [6]);
        assert!(rank_page(&[], 7, 7).is_empty());
    }

    #[test]
    #[should_panic(expected = "descending order")]
    fn an_ascending_page_is_a_bug() {
        rank_page(&[1, 2], 0, 0);
    }

    #[test]
    fn parameters_parse_with_their_codes() {
        assert_eq!(Board::parse("friends"), Ok(Board::Friends));
        assert_eq!(Metric::parse("energy"), Ok(Metric::Energy));
        assert_eq!(Period::parse("all"), Ok(Period::All));
        let names: Vec<_> = Period::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, ["day", "week", "month", "all"]);
        for (result, code, message) in [
            (Board::parse("world").map(|_| ()), "invalid_board", "board must be one of friends, region, not \"world\""),
            (
                Metric::parse("Energy").map(|_| ()),
                "invalid_metric",
                "metric must be one of reduction, energy, not \"Energy\"",
            ),
            (
                Period::parse("year").map(|_| ()),
                "invalid_period",
                "period must be one of day, week, month, all, not \"year\"",
            ),
        ] {
            let err = result.unwrap_err();
            assert_eq!((err.code(), err.to_string().as_str()), (code, message));
        }
    }

    #[test]
    fn periods_start_at_local_midnight() {
        let shanghai = TimeZone::parse("Asia/Shanghai").unwrap();
        // Thursday 2026-12-31 08:30 in Shanghai.
        let now = utc("2026-12-31T00:30:00Z");
        assert_eq!(Period::Day.start(now, shanghai), Some(utc("2026-12-30T16:00:00Z")));
        assert_eq!(Period::Week.start(now, shanghai), Some(utc("2026-12-27T16:00:00Z")), "Monday 12-28");
        assert_eq!(Period::Month.start(now, shanghai), Some(utc("2026-11-30T16:00:00Z")));
        assert_eq!(Period::All.start(now, shanghai), None);
        // The same instant is still 12-30 in New York.
        let new_york = TimeZone::parse("America/New_York").unwrap();
        assert_eq!(Period::Day.start(now, new_york), Some(utc("2026-12-30T05:00:00Z")));
        // A week that starts across a year end: Friday 2027-01-01.
        assert_eq!(
            Period::Week.first_date(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()).unwrap().to_string(),
            "2026-12-28"
        );
        // The day daylight saving starts is 23 hours long, and starts at 00:00 EST.
        assert_eq!(Period::Day.start(utc("2026-03-08T20:00:00Z"), new_york), Some(utc("2026-03-08T05:00:00Z")));
        assert_eq!(Period::Day.start(utc("2026-03-09T20:00:00Z"), new_york), Some(utc("2026-03-09T04:00:00Z")));
    }

    proptest! {
        /// Any page of a ranked board, ranked from its first entry's
        /// count, agrees with the board's own ranks.
        #[test]
        fn pages_agree_with_the_whole_board(grams in proptest::collection::vec(0i64..6, 0..40), start in 0usize..40, len in 0usize..10) {
            let board = rank(grams.iter().enumerate().map(|(i, g)| (i as i64, *g)));
            let start = start.min(board.len());
            let end = (start + len).min(board.len());
            let page: Vec<i64> = board[start..end].iter().map(|r| r.grams).collect();
            let above = page.first().map_or(0, |first| board.iter().filter(|r| r.grams > *first).count() as u64);
            let expect: Vec<u64> = board[start..end].iter().map(|r| r.rank).collect();
            prop_assert_eq!(rank_page(&page, start as u64, above), expect);
            for r in &board {
                prop_assert_eq!(r.rank, rank_of(board.iter().filter(|o| o.grams > r.grams).count() as u64));
            }
        }
    }
}
