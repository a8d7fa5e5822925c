//! Meter readings: 15-minute intervals of energy drawn, in whole watt-hours.
//!
//! An interval is named by its slot, the number of 15-minute steps since
//! the Unix epoch (`start = slot × 900 s`), so a reading's key is
//! (meter, slot) and the store keeps two integers, not a timestamp. Energy
//! is kept in whole Wh: a reading may carry at most three decimals of kWh,
//! and more is refused rather than rounded (a rounding would change what
//! the utility measured).
//!
//! What a reading does to the one stored for its interval:
//!
//! | stored | arriving | outcome |
//! |---|---|---|
//! | none | any | `stored` |
//! | the same Wh and quality | — | `duplicate` |
//! | estimated | actual, or another estimate | `superseded` (the old value is kept in the history) |
//! | actual | an estimate | `duplicate` (the actual stands) |
//! | actual | another actual | rejected `reading_conflict` |

use chrono::{DateTime, TimeZone, Timelike, Utc};
use rust_decimal::Decimal;

/// Seconds in one interval.
pub const INTERVAL_S: i64 = 900;
/// The most readings one batch may carry.
pub const BATCH_MAX: usize = 50_000;
/// The most Wh one 15-minute interval may hold (400 kW drawn for a quarter
/// hour: far beyond a household, within any meter's range).
pub const INTERVAL_WH_MAX: i64 = 100_000;

/// How a reading was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quality {
    /// Measured.
    Actual,
    /// Estimated (a gap filled by the utility), to be superseded by an actual.
    Estimated,
}

impl Quality {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Actual => "actual",
            Quality::Estimated => "estimated",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Quality::Actual, Quality::Estimated].into_iter().find(|q| q.as_str() == text)
    }

    /// The stored code (0 actual, 1 estimated).
    pub fn code(self) -> i64 {
        match self {
            Quality::Actual => 0,
            Quality::Estimated => 1,
        }
    }

    /// From the stored code.
    pub fn from_code(code: i64) -> Self {
        if code == 0 {
            Quality::Actual
        } else {
            Quality::Estimated
        }
    }
}

/// A reading that passed the checks that need no stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// The interval's slot.
    pub slot: i64,
    /// Energy drawn in the interval, Wh.
    pub wh: i64,
    /// Measured or estimated.
    pub quality: Quality,
}

/// Why a reading is refused. Each has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadingRefusal {
    /// The meter is not registered by this partner.
    #[error("meter `{0}` is not registered by this partner")]
    MeterUnknown(String),
    /// `start` is not on a 15-minute boundary (or not a time).
    #[error("start must be an RFC 3339 time on a 15-minute boundary (:00, :15, :30, :45)")]
    MisalignedInterval,
    /// A negative amount.
    #[error("kwh must not be negative")]
    NegativeReading,
    /// Not a number of kWh to the Wh, or beyond any meter.
    #[error("kwh must be a number with at most three decimals, at most {} kWh an interval", INTERVAL_WH_MAX / 1000)]
    InvalidReading,
    /// Not `actual` or `estimated`.
    #[error("quality must be `actual` or `estimated`")]
    InvalidQuality,
    /// The interval has not ended.
    #[error("the interval has not ended yet")]
    OccurredInFuture,
    /// Another actual for an interval that has one.
    #[error("the interval has an actual reading of {stored_wh} Wh already")]
    ReadingConflict {
        /// What is stored.
        stored_wh: i64,
    },
    /// The household revoked this partner's consent, or never gave it.
    #[error("{0}")]
    Consent(&'static str),
}

impl ReadingRefusal {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ReadingRefusal::MeterUnknown(_) => "meter_unknown",
            ReadingRefusal::MisalignedInterval => "misaligned_interval",
            ReadingRefusal::NegativeReading => "negative_reading",
            ReadingRefusal::InvalidReading => "invalid_reading",
            ReadingRefusal::InvalidQuality => "invalid_quality",
            ReadingRefusal::OccurredInFuture => "occurred_in_future",
            ReadingRefusal::ReadingConflict { .. } => "reading_conflict",
            ReadingRefusal::Consent(code) => code,
        }
    }
}

/// The slot of an interval starting at `start`, if it is on a boundary.
pub fn slot_of(start: DateTime<Utc>) -> Option<i64> {
    let seconds = start.timestamp();
    (start.nanosecond() == 0 && seconds.rem_euclid(INTERVAL_S) == 0).then_some(seconds.div_euclid(INTERVAL_S))
}

/// The start of slot `slot`.
pub fn start_of(slot: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(slot * INTERVAL_S, 0).single().expect("slots are within chrono's range")
}

/// Checks a reading as sent: `start` (RFC 3339) on a boundary and ended by
/// `now`, `kwh` (the number as written) not negative and to the Wh, and a
/// known quality.
pub fn check(start: &str, kwh: &str, quality: &str, now: DateTime<Utc>) -> Result<Reading, ReadingRefusal> {
    let at = crate::time::parse_rfc3339_utc(start).ok_or(ReadingRefusal::MisalignedInterval)?;
    let slot = slot_of(at).ok_or(ReadingRefusal::MisalignedInterval)?;
    let kwh: Decimal = kwh.parse().map_err(|_| ReadingRefusal::InvalidReading)?;
    if kwh.is_sign_negative() && !kwh.is_zero() {
        return Err(ReadingRefusal::NegativeReading);
    }
    let wh = kwh.checked_mul(Decimal::from(1000)).ok_or(ReadingRefusal::InvalidReading)?;
    if wh.fract() != Decimal::ZERO {
        return Err(ReadingRefusal::InvalidReading);
    }
    let wh = i64::try_from(wh).ok().filter(|wh| *wh <= INTERVAL_WH_MAX).ok_or(ReadingRefusal::InvalidReading)?;
    let quality = Quality::parse(quality).ok_or(ReadingRefusal::InvalidQuality)?;
    if start_of(slot + 1) > now {
        return Err(ReadingRefusal::OccurredInFuture);
    }
    Ok(Reading { slot, wh, quality })
}

/// What a reading does to the interval's stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The interval had nothing: stored.
    Stored,
    /// The same, or an estimate after an actual: nothing changes.
    Duplicate,
    /// It replaces an estimate (the old value goes to the history).
    Superseded,
}

impl Effect {
    /// The wire name of the outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Stored => "stored",
            Effect::Duplicate => "duplicate",
            Effect::Superseded => "superseded",
        }
    }
}

/// Decides `reading` against what the interval holds (`stored`: Wh and quality).
pub fn decide(stored: Option<(i64, Quality)>, reading: &Reading) -> Result<Effect, ReadingRefusal> {
    match stored {
        None => Ok(Effect::Stored),
        Some((wh, quality)) if wh == reading.wh && quality == reading.quality => Ok(Effect::Duplicate),
        Some((_, Quality::Estimated)) => Ok(Effect::Superseded),
        Some((_, Quality::Actual)) if reading.quality == Quality::Estimated => Ok(Effect::Duplicate),
        Some((stored_wh, Quality::Actual)) => Err(ReadingRefusal::ReadingConflict { stored_wh }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        crate::time::parse_rfc3339_utc("2026-07-01T12:00:00Z").unwrap()
    }

    #[test]
    fn readings_are_checked_to_the_interval_and_the_watt_hour() {
        let ok = check("2026-07-01T11:45:00Z", "0.325", "actual", now()).unwrap();
        assert_eq!((ok.wh, ok.quality), (325, Quality::Actual));
        assert_eq!(start_of(ok.slot), crate::time::parse_rfc3339_utc("2026-07-01T11:45:00Z").unwrap());
        assert_eq!(check("2026-07-01T19:30:00+08:00", "1", "estimated", now()).unwrap().wh, 1000, "any offset");
        let code = |start: &str, kwh: &str, quality: &str| check(start, kwh, quality, now()).unwrap_err().code();
        assert_eq!(code("2026-07-01T11:50:00Z", "1", "actual"), "misaligned_interval");
        assert_eq!(code("2026-07-01T11:45:01Z", "1", "actual"), "misaligned_interval");
        assert_eq!(code("yesterday", "1", "actual"), "misaligned_interval");
        assert_eq!(code("2026-07-01T11:45:00Z", "-0.1", "actual"), "negative_reading");
        assert_eq!(code("2026-07-01T11:45:00Z", "0.0001", "actual"), "invalid_reading");
        assert_eq!(code("2026-07-01T11:45:00Z", "100.001", "actual"), "invalid_reading");
        assert_eq!(code("2026-07-01T11:45:00Z", "1", "guessed"), "invalid_quality");
        assert_eq!(code("2026-07-01T12:00:00Z", "1", "actual"), "occurred_in_future", "it ends at 12:15");
        assert_eq!(check("2026-07-01T11:45:00Z", "0", "actual", now()).unwrap().wh, 0);
    }

    #[test]
    fn an_actual_supersedes_an_estimate_and_conflicts_with_another_actual() {
        let reading = |wh, quality| Reading { slot: 1, wh, quality };
        use Quality::{Actual, Estimated};
        assert_eq!(decide(None, &reading(5, Actual)), Ok(Effect::Stored));
        assert_eq!(decide(Some((5, Actual)), &reading(5, Actual)), Ok(Effect::Duplicate));
        assert_eq!(decide(Some((5, Estimated)), &reading(6, Actual)), Ok(Effect::Superseded));
        assert_eq!(decide(Some((5, Estimated)), &reading(7, Estimated)), Ok(Effect::Superseded));
        assert_eq!(decide(Some((5, Actual)), &reading(7, Estimated)), Ok(Effect::Duplicate));
        assert_eq!(decide(Some((5, Actual)), &reading(6, Actual)).unwrap_err().code(), "reading_conflict");
    }
}
