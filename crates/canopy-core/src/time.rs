//! Timestamps as partners send them.

use chrono::{DateTime, Timelike, Utc};

/// Parses an RFC 3339 timestamp into UTC, refusing a leap second anywhere
/// but the last minute of a UTC day.
///
/// chrono accepts `:60` at any minute (it represents a leap second as a
/// nanosecond count of a second or more), but UTC inserts leap seconds only
/// as `23:59:60`; `12:30:60Z` is no time at all, and accepting it would let
/// the same instant be written two ways.
pub fn parse_rfc3339_utc(text: &str) -> Option<DateTime<Utc>> {
    let at = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    let is_leap_second = at.nanosecond() >= 1_000_000_000;
    if is_leap_second && !(at.hour() == 23 && at.minute() == 59) {
        return None;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339_utc;

    #[test]
    fn only_the_last_minute_of_a_utc_day_has_a_leap_second() {
        for good in
            ["2016-12-31T23:59:60Z", "2017-01-01T07:59:60+08:00", "2024-05-01T12:30:59Z", "2024-05-01T12:30:59.5Z"]
        {
            assert!(parse_rfc3339_utc(good).is_some(), "{good}");
        }
        for bad in ["2024-05-01T12:30:60Z", "2024-05-01T23:59:60+08:00", "2024-05-01T23:58:60Z", "2024-05-01T12:30:61Z"]
        {
            assert!(parse_rfc3339_utc(bad).is_none(), "{bad}");
        }
    }
}
