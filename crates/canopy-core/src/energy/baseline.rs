//! Baselines: what a household would have drawn in an event's intervals had
//! there been no event, computed per 15-minute interval from its own
//! history. Named and versioned (`mean_10_of_10@1`), so a settlement says
//! which formula produced its figures.
//!
//! History is given per local day: 96 intervals of Wh, `None` where data is
//! missing. A day is **eligible** when it comes before the event day,
//! within [`LOOKBACK_DAYS`], is of the event day's type (working: Monday to
//! Friday and not a holiday; non-working: the rest), was not itself an
//! event day, and has a reading for every interval the method reads: the
//! event's intervals and, with the day-of adjustment, the
//! [`ADJUSTMENT_INTERVALS`] before them (a gap elsewhere in the day changes
//! nothing the method computes, so it does not cost the day). Then, for the
//! event's intervals:
//!
//! - `mean_10_of_10`: the 10 most recent eligible days, averaged per
//!   interval. With the day-of adjustment, the baseline is scaled by
//!   (what the household drew in the [`ADJUSTMENT_INTERVALS`] intervals
//!   before the event) ÷ (what the same days' average drew in them), the
//!   ratio capped to 0.8–1.2 (±20 %).
//! - `high_5_of_10`: of those 10 days, the 5 that drew the most over the
//!   event's intervals, averaged per interval.
//! - `mean_5_working_days`: the 5 most recent eligible working days
//!   (whatever the event day's type), averaged per interval.
//!
//! Averages are rounded half up to the Wh; the adjustment is applied in
//! thousandths and rounded half up. Fewer eligible days than the method
//! needs is `insufficient_history`: no baseline is guessed.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Weekday};

/// Intervals in a day.
pub const DAY_INTERVALS: usize = 96;
/// How far back eligible days are looked for.
pub const LOOKBACK_DAYS: i64 = 45;
/// Intervals before the event that the day-of adjustment compares (2 hours).
pub const ADJUSTMENT_INTERVALS: usize = 8;
/// The adjustment's cap, in thousandths either side of 1 (±20 %).
pub const ADJUSTMENT_CAP_MILLI: i64 = 200;

/// A day's 96 intervals of Wh (`None`: missing).
pub type Day = [Option<i64>; DAY_INTERVALS];

/// A baseline method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// The 10 most recent eligible days of the same type, averaged.
    Mean10Of10,
    /// The 5 highest of those 10, averaged.
    High5Of10,
    /// The 5 most recent eligible working days, averaged.
    Mean5WorkingDays,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 3] = [Method::Mean10Of10, Method::High5Of10, Method::Mean5WorkingDays];

    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Mean10Of10 => "mean_10_of_10",
            Method::High5Of10 => "high_5_of_10",
            Method::Mean5WorkingDays => "mean_5_working_days",
        }
    }

    /// The name with the formula's version, as a settlement stores it.
    pub fn versioned(self) -> String {
        format!("{}@1", self.as_str())
    }

    /// Parses the name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

/// The event a baseline is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventWindow {
    /// The event's local day.
    pub day: NaiveDate,
    /// Its first interval of that day (0–95).
    pub first: usize,
    /// How many intervals it lasts (within the day).
    pub intervals: usize,
}

/// A baseline for an event's intervals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    /// The method, versioned.
    pub method: String,
    /// The days it averaged, most recent first.
    pub days_used: Vec<NaiveDate>,
    /// Wh per event interval.
    pub intervals: Vec<i64>,
    /// The day-of adjustment applied, in thousandths (1000: none).
    pub adjustment_milli: i64,
}

/// Why there is no baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BaselineError {
    /// Fewer eligible days than the method needs.
    #[error("{found} eligible days of history; the method needs {needed}")]
    InsufficientHistory {
        /// Days found.
        found: usize,
        /// Days needed.
        needed: usize,
    },
    /// The event does not fit in its day.
    #[error("the event must lie within one day's 96 intervals")]
    BadWindow,
}

impl BaselineError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            BaselineError::InsufficientHistory { .. } => "insufficient_history",
            BaselineError::BadWindow => "bad_window",
        }
    }
}

/// Whether `day` is a working day: Monday to Friday, not a holiday.
pub fn is_working(day: NaiveDate, holidays: &[NaiveDate]) -> bool {
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(&day)
}

fn average(sum: i64, n: i64) -> i64 {
    (sum * 2 + n) / (2 * n)
}

/// The intervals of a day a baseline reads: the event's, and the
/// [`ADJUSTMENT_INTERVALS`] before them when adjusting.
pub fn read_intervals(event: &EventWindow, adjusting: bool) -> std::ops::Range<usize> {
    let before = if adjusting { ADJUSTMENT_INTERVALS } else { 0 };
    event.first.saturating_sub(before)..event.first + event.intervals
}

/// The baseline of `method` for `event` from `history` (local day → its
/// intervals), skipping `event_days` (earlier events) and using `holidays`
/// for day types. `adjust` applies the day-of adjustment (`mean_10_of_10`
/// only), from the event day's own intervals before the event.
pub fn baseline(
    method: Method,
    event: &EventWindow,
    history: &BTreeMap<NaiveDate, Day>,
    event_days: &[NaiveDate],
    holidays: &[NaiveDate],
    adjust: bool,
) -> Result<Baseline, BaselineError> {
    if event.intervals == 0 || event.first + event.intervals > DAY_INTERVALS {
        return Err(BaselineError::BadWindow);
    }
    let working_event = is_working(event.day, holidays);
    let wanted_working = match method {
        Method::Mean5WorkingDays => true,
        Method::Mean10Of10 | Method::High5Of10 => working_event,
    };
    let adjusting = adjust && method == Method::Mean10Of10 && event.first >= ADJUSTMENT_INTERVALS;
    let read = read_intervals(event, adjusting);
    let earliest = event.day - chrono::Duration::days(LOOKBACK_DAYS);
    let eligible: Vec<(NaiveDate, &Day)> = history
        .range(earliest..event.day)
        .rev()
        .filter(|(day, data)| {
            is_working(**day, holidays) == wanted_working
                && !event_days.contains(day)
                && read.clone().all(|i| data[i].is_some())
        })
        .map(|(day, data)| (*day, data))
        .collect();
    let (take, keep) = match method {
        Method::Mean10Of10 => (10, 10),
        Method::High5Of10 => (10, 5),
        Method::Mean5WorkingDays => (5, 5),
    };
    if eligible.len() < take {
        return Err(BaselineError::InsufficientHistory { found: eligible.len(), needed: take });
    }
    let window = event.first..event.first + event.intervals;
    let value = |data: &Day, i: usize| data[i].expect("eligible days have what the method reads");
    let mut days: Vec<(NaiveDate, &Day)> = eligible.into_iter().take(take).collect();
    if keep < take {
        // The highest-drawing days over the event's window; ties to the more recent.
        let total = |data: &Day| window.clone().map(|i| value(data, i)).sum::<i64>();
        let mut ranked: Vec<(usize, i64)> = days.iter().enumerate().map(|(rank, (_, d))| (rank, total(d))).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut chosen: Vec<usize> = ranked.into_iter().take(keep).map(|(rank, _)| rank).collect();
        chosen.sort_unstable();
        days = chosen.into_iter().map(|rank| days[rank]).collect();
    }
    let n = days.len() as i64;
    let mean = |i: usize| average(days.iter().map(|(_, d)| value(d, i)).sum(), n);
    let mut intervals: Vec<i64> = window.clone().map(mean).collect();
    let mut adjustment_milli = 1000;
    if adjusting {
        let before = event.first - ADJUSTMENT_INTERVALS..event.first;
        let today = history.get(&event.day);
        let actual: Option<i64> = today.and_then(|d| before.clone().map(|i| d[i]).sum());
        let expected: i64 = before.map(mean).sum();
        if let (Some(actual), true) = (actual, expected > 0) {
            let ratio = average(actual * 1000, expected);
            adjustment_milli = ratio.clamp(1000 - ADJUSTMENT_CAP_MILLI, 1000 + ADJUSTMENT_CAP_MILLI);
            for wh in &mut intervals {
                *wh = average(*wh * adjustment_milli, 1000);
            }
        }
    }
    Ok(Baseline {
        method: method.versioned(),
        days_used: days.iter().map(|(d, _)| *d).collect(),
        intervals,
        adjustment_milli,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn flat(wh: i64) -> Day {
        [Some(wh); DAY_INTERVALS]
    }

    /// Working days before Wednesday 2026-07-22, each drawing `100 + n` Wh an interval (n = days back).
    fn history() -> BTreeMap<NaiveDate, Day> {
        (1..=30).map(|back| (date("2026-07-22") - chrono::Duration::days(back), flat(100 + back))).collect()
    }

    fn event() -> EventWindow {
        EventWindow { day: date("2026-07-22"), first: 72, intervals: 4 } // 18:00–19:00
    }

    #[test]
    fn mean_10_of_10_averages_the_ten_latest_working_days() {
        let b = baseline(Method::Mean10Of10, &event(), &history(), &[], &[], false).unwrap();
        // The ten working days back: 1, 2, 5, 6, 7, 8, 9, 12, 13, 14 → 107.7 Wh → 108.
        assert_eq!(b.days_used.len(), 10);
        assert_eq!(b.days_used[0], date("2026-07-21"));
        assert_eq!(b.days_used[9], date("2026-07-08"));
        assert_eq!(b.intervals, vec![108; 4]);
        assert_eq!(b.method, "mean_10_of_10@1");
        // An earlier event day and a holiday are skipped; a day with a gap
        // in the event's window too, but not a gap elsewhere.
        let mut gappy = history();
        gappy.get_mut(&date("2026-07-20")).unwrap()[73] = None;
        gappy.get_mut(&date("2026-07-15")).unwrap()[5] = None;
        let b = baseline(Method::Mean10Of10, &event(), &gappy, &[date("2026-07-21")], &[date("2026-07-17")], false)
            .unwrap();
        assert!(!b.days_used.contains(&date("2026-07-21")) && !b.days_used.contains(&date("2026-07-20")));
        assert!(!b.days_used.contains(&date("2026-07-17")));
        assert!(b.days_used.contains(&date("2026-07-15")), "a gap outside the window costs nothing");
    }

    #[test]
    fn the_day_of_adjustment_scales_by_the_hours_before_capped_at_twenty_percent() {
        let mut h = history();
        let mut today = [None; DAY_INTERVALS];
        for slot in today.iter_mut().take(72) {
            *slot = Some(118); // above the same days' 107.7 before the event: 118 / 107.7 = 1.0926
        }
        h.insert(date("2026-07-22"), today);
        let b = baseline(Method::Mean10Of10, &event(), &h, &[], &[], true).unwrap();
        assert_eq!(b.adjustment_milli, 1093);
        assert_eq!(b.intervals, vec![118; 4], "108 × 1.093 = 118.04");
        for slot in today.iter_mut().take(72) {
            *slot = Some(500);
        }
        h.insert(date("2026-07-22"), today);
        let b = baseline(Method::Mean10Of10, &event(), &h, &[], &[], true).unwrap();
        assert_eq!((b.adjustment_milli, b.intervals[0]), (1200, 130), "capped at +20 %: 108 × 1.2 = 129.6");
    }

    #[test]
    fn high_5_and_working_days_and_too_little_history() {
        let b = baseline(Method::High5Of10, &event(), &history(), &[], &[], false).unwrap();
        // The highest five of the ten: 14, 13, 12, 9, 8 back → 111.2 → 111.
        assert_eq!(b.intervals, vec![111; 4]);
        assert_eq!(
            b.days_used,
            vec![date("2026-07-14"), date("2026-07-13"), date("2026-07-10"), date("2026-07-09"), date("2026-07-08")]
        );
        let saturday = EventWindow { day: date("2026-07-25"), ..event() };
        let b = baseline(Method::Mean5WorkingDays, &saturday, &history(), &[], &[], false).unwrap();
        assert!(b.days_used.iter().all(|d| is_working(*d, &[])));
        let short: BTreeMap<NaiveDate, Day> = history().into_iter().take(5).collect();
        let err = baseline(Method::Mean10Of10, &event(), &short, &[], &[], false).unwrap_err();
        assert_eq!(err.code(), "insufficient_history");
        let bad = EventWindow { first: 94, intervals: 4, ..event() };
        assert_eq!(baseline(Method::Mean10Of10, &bad, &history(), &[], &[], false).unwrap_err().code(), "bad_window");
    }

    /// A straightforward reference: filter, sort, average with floats, round half up.
    fn reference(method: Method, event: &EventWindow, history: &BTreeMap<NaiveDate, Day>) -> Option<Vec<i64>> {
        let working = |d: NaiveDate| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
        let want = if method == Method::Mean5WorkingDays { true } else { working(event.day) };
        let mut days: Vec<(NaiveDate, Vec<i64>)> = history
            .iter()
            .filter(|(d, data)| {
                **d < event.day
                    && (event.day - **d).num_days() <= LOOKBACK_DAYS
                    && working(**d) == want
                    && (event.first..event.first + event.intervals).all(|i| data[i].is_some())
            })
            .map(|(d, data)| (*d, data.iter().map(|v| v.unwrap_or(-1)).collect()))
            .collect();
        days.sort_by_key(|d| std::cmp::Reverse(d.0));
        let (take, keep) = match method {
            Method::Mean10Of10 => (10, 10),
            Method::High5Of10 => (10, 5),
            Method::Mean5WorkingDays => (5, 5),
        };
        if days.len() < take {
            return None;
        }
        days.truncate(take);
        if keep < take {
            let total = |d: &Vec<i64>| (event.first..event.first + event.intervals).map(|i| d[i]).sum::<i64>();
            let mut ranked: Vec<usize> = (0..days.len()).collect();
            ranked.sort_by(|a, b| total(&days[*b].1).cmp(&total(&days[*a].1)).then(a.cmp(b)));
            ranked.truncate(keep);
            days = ranked.into_iter().map(|i| days[i].clone()).collect();
        }
        Some(
            (event.first..event.first + event.intervals)
                .map(|i| {
                    let mean = days.iter().map(|(_, d)| d[i] as f64).sum::<f64>() / days.len() as f64;
                    (mean + 0.5).floor() as i64
                })
                .collect(),
        )
    }

    proptest! {
        #[test]
        fn baselines_match_a_straightforward_reference(
            values in prop::collection::vec(prop::collection::vec(prop::option::weighted(0.99, 0i64..5_000), DAY_INTERVALS), 0..40),
            first in 0usize..90,
            length in 1usize..6,
            weekday in 0i64..7,
            method in prop::sample::select(Method::ALL.to_vec()),
        ) {
            let day = date("2026-07-20") + chrono::Duration::days(weekday);
            let event = EventWindow { day, first, intervals: length.min(DAY_INTERVALS - first) };
            let history: BTreeMap<NaiveDate, Day> = values
                .into_iter()
                .enumerate()
                .map(|(back, v)| (day - chrono::Duration::days(back as i64 + 1), v.try_into().unwrap()))
                .collect();
            let ours = baseline(method, &event, &history, &[], &[], false).ok().map(|b| b.intervals);
            prop_assert_eq!(ours, reference(method, &event, &history));
        }
    }
}
