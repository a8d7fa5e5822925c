//! Citizens' time zones: the local day that balls ripen on, check-ins count
//! in, and medal and leaderboard periods start from.
//!
//! A citizen's zone is an IANA name (`Asia/Shanghai`), so daylight saving is
//! followed as the zone's rules say (the `chrono-tz` crate's copy of the
//! IANA database). A citizen who sets none gets the zone of their region
//! ([`default_time_zone`]).
//!
//! # Local times that do not exist, or exist twice
//!
//! When clocks jump forward, some local times never happen (07:00 may not
//! exist on a spring-forward morning where the jump is at 07:00); when they
//! fall back, some happen twice. [`TimeZone::instant_at`] resolves both the
//! same way everywhere: a time in a gap becomes the first instant after the
//! gap (the instant the clock jumps, whose local time is the first existing
//! one after the time asked for); an ambiguous time becomes the earlier of
//! its two instants.

use std::fmt;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::types::RegionCode;

/// A valid IANA time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone(Tz);

/// A name that is not an IANA time zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IANA time zone such as Asia/Shanghai")]
pub struct InvalidTimeZone(pub String);

impl InvalidTimeZone {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        "invalid_time_zone"
    }
}

/// The longest time zone name accepted (the longest IANA name is 32).
const NAME_LEN_MAX: usize = 64;

/// The longest run of local time that may not exist: Samoa skipped a whole
/// day (2011-12-30) when it crossed the date line; two days bound the search.
const GAP_MINUTES_MAX: i64 = 2 * 24 * 60;

impl TimeZone {
    /// Coordinated Universal Time, the fallback zone.
    pub const UTC: TimeZone = TimeZone(Tz::UTC);

    /// Parses an IANA name, spelled exactly as the database spells it
    /// (`Asia/Shanghai`, `America/Argentina/Buenos_Aires`, `UTC`); the
    /// database's backward-compatible links (`Asia/Calcutta`) are accepted.
    pub fn parse(name: &str) -> Result<Self, InvalidTimeZone> {
        if name.len() > NAME_LEN_MAX {
            return Err(InvalidTimeZone(name.chars().take(NAME_LEN_MAX).collect()));
        }
        name.parse::<Tz>().map(TimeZone).map_err(|_| InvalidTimeZone(name.to_owned()))
    }

    /// The IANA name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The `chrono-tz` zone, for conversions this type does not offer.
    pub fn tz(self) -> Tz {
        self.0
    }

    /// The local date at `at` in this zone.
    pub fn local_date(self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.0).date_naive()
    }

    /// The local date and time at `at` in this zone.
    pub fn local(self, at: DateTime<Utc>) -> NaiveDateTime {
        at.with_timezone(&self.0).naive_local()
    }

    /// The instant at which the local clock shows `time` on `date`: in a
    /// gap, the first instant after it; when ambiguous, the earlier one
    /// (see the module's documentation).
    pub fn instant_at(self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let wanted = date.and_time(time);
        let mut local = wanted;
        // Gaps begin and end on whole minutes in every zone's current
        // rules, so the first existing minute after the time asked for is
        // the instant the clock jumps.
        for _ in 0..=GAP_MINUTES_MAX {
            match self.0.from_local_datetime(&local) {
                LocalResult::Single(at) => return at.with_timezone(&Utc),
                LocalResult::Ambiguous(earlier, later) => return earlier.min(later).with_timezone(&Utc),
                LocalResult::None => local += chrono::Duration::minutes(1),
            }
        }
        // No zone skips more than a day; should the database ever say
        // otherwise, the time as if in UTC is an answer, not a crash.
        wanted.and_utc()
    }

    /// The instant the local `date` begins (its first existing instant).
    pub fn start_of(self, date: NaiveDate) -> DateTime<Utc> {
        self.instant_at(date, NaiveTime::MIN)
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone::UTC
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for TimeZone {
    type Err = InvalidTimeZone;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TimeZone::parse(s)
    }
}

impl Serialize for TimeZone {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        TimeZone::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// The zone of each country, by ISO 3166-1 code: the zone most of its
/// people live in. Countries not listed fall back to UTC.
const COUNTRY_ZONES: &[(&str, &str)] = &[
    ("AE", "Asia/Dubai"),
    ("AR", "America/Argentina/Buenos_Aires"),
    ("AT", "Europe/Vienna"),
    ("AU", "Australia/Sydney"),
    ("BD", "Asia/Dhaka"),
    ("BE", "Europe/Brussels"),
    ("BR", "America/Sao_Paulo"),
    ("CA", "America/Toronto"),
    ("CH", "Europe/Zurich"),
    ("CL", "America/Santiago"),
    // China keeps one official time, Beijing time, in every province.
    ("CN", "Asia/Shanghai"),
    ("CO", "America/Bogota"),
    ("CZ", "Europe/Prague"),
    ("DE", "Europe/Berlin"),
    ("DK", "Europe/Copenhagen"),
    ("EG", "Africa/Cairo"),
    ("ES", "Europe/Madrid"),
    ("FI", "Europe/Helsinki"),
    ("FR", "Europe/Paris"),
    ("GB", "Europe/London"),
    ("GR", "Europe/Athens"),
    ("HK", "Asia/Hong_Kong"),
    ("ID", "Asia/Jakarta"),
    ("IE", "Europe/Dublin"),
    ("IL", "Asia/Jerusalem"),
    ("IN", "Asia/Kolkata"),
    ("IT", "Europe/Rome"),
    ("JP", "Asia/Tokyo"),
    ("KE", "Africa/Nairobi"),
    ("KR", "Asia/Seoul"),
    ("KZ", "Asia/Almaty"),
    ("MN", "Asia/Ulaanbaatar"),
    ("MO", "Asia/Macau"),
    ("MX", "America/Mexico_City"),
    ("MY", "Asia/Kuala_Lumpur"),
    ("NG", "Africa/Lagos"),
    ("NL", "Europe/Amsterdam"),
    ("NO", "Europe/Oslo"),
    ("NZ", "Pacific/Auckland"),
    ("PE", "America/Lima"),
    ("PH", "Asia/Manila"),
    ("PK", "Asia/Karachi"),
    ("PL", "Europe/Warsaw"),
    ("PT", "Europe/Lisbon"),
    ("RU", "Europe/Moscow"),
    ("SA", "Asia/Riyadh"),
    ("SE", "Europe/Stockholm"),
    ("SG", "Asia/Singapore"),
    ("TH", "Asia/Bangkok"),
    ("TR", "Europe/Istanbul"),
    ("TW", "Asia/Taipei"),
    ("UA", "Europe/Kyiv"),
    ("US", "America/New_York"),
    ("VN", "Asia/Ho_Chi_Minh"),
    ("ZA", "Africa/Johannesburg"),
];

/// Subdivisions of countries that span several zones, where their zone is
/// not the country's. A subdivision split between zones gets the zone of
/// most of its people.
const SUBDIVISION_ZONES: &[(&str, &str)] = &[
    // Australia.
    ("AU-NT", "Australia/Darwin"),
    ("AU-QLD", "Australia/Brisbane"),
    ("AU-SA", "Australia/Adelaide"),
    ("AU-TAS", "Australia/Hobart"),
    ("AU-VIC", "Australia/Melbourne"),
    ("AU-WA", "Australia/Perth"),
    // Brazil (its east, the default, is São Paulo time).
    ("BR-AC", "America/Rio_Branco"),
    ("BR-AM", "America/Manaus"),
    ("BR-MS", "America/Campo_Grande"),
    ("BR-MT", "America/Cuiaba"),
    ("BR-RO", "America/Porto_Velho"),
    ("BR-RR", "America/Boa_Vista"),
    // Canada.
    ("CA-AB", "America/Edmonton"),
    ("CA-BC", "America/Vancouver"),
    ("CA-MB", "America/Winnipeg"),
    ("CA-NB", "America/Moncton"),
    ("CA-NL", "America/St_Johns"),
    ("CA-NS", "America/Halifax"),
    ("CA-NT", "America/Edmonton"),
    ("CA-NU", "America/Iqaluit"),
    ("CA-PE", "America/Halifax"),
    ("CA-SK", "America/Regina"),
    ("CA-YT", "America/Whitehorse"),
    // Spain's Canary Islands.
    ("ES-CN", "Atlantic/Canary"),
    // Indonesia.
    ("ID-BA", "Asia/Makassar"),
    ("ID-PA", "Asia/Jayapura"),
    ("ID-SN", "Asia/Makassar"),
    // Mexico.
    ("MX-BCN", "America/Tijuana"),
    ("MX-ROO", "America/Cancun"),
    ("MX-SON", "America/Hermosillo"),
    // Portugal's Azores and Madeira.
    ("PT-20", "Atlantic/Azores"),
    ("PT-30", "Atlantic/Madeira"),
    // Russia: the largest cities of each zone east of Moscow, and Kaliningrad.
    ("RU-BA", "Asia/Yekaterinburg"),
    ("RU-CHE", "Asia/Yekaterinburg"),
    ("RU-IRK", "Asia/Irkutsk"),
    ("RU-KAM", "Asia/Kamchatka"),
    ("RU-KGD", "Europe/Kaliningrad"),
    ("RU-KHA", "Asia/Vladivostok"),
    ("RU-KRS", "Europe/Moscow"),
    ("RU-KYA", "Asia/Krasnoyarsk"),
    ("RU-MAG", "Asia/Magadan"),
    ("RU-NVS", "Asia/Novosibirsk"),
    ("RU-OMS", "Asia/Omsk"),
    ("RU-PER", "Asia/Yekaterinburg"),
    ("RU-PRI", "Asia/Vladivostok"),
    ("RU-SA", "Asia/Yakutsk"),
    ("RU-SAK", "Asia/Sakhalin"),
    ("RU-SAM", "Europe/Samara"),
    ("RU-SVE", "Asia/Yekaterinburg"),
    ("RU-TYU", "Asia/Yekaterinburg"),
    ("RU-UD", "Europe/Samara"),
    // United States (states and territories; the default is Eastern).
    ("US-AK", "America/Anchorage"),
    ("US-AL", "America/Chicago"),
    ("US-AR", "America/Chicago"),
    ("US-AS", "Pacific/Pago_Pago"),
    ("US-AZ", "America/Phoenix"),
    ("US-CA", "America/Los_Angeles"),
    ("US-CO", "America/Denver"),
    ("US-GU", "Pacific/Guam"),
    ("US-HI", "Pacific/Honolulu"),
    ("US-IA", "America/Chicago"),
    ("US-ID", "America/Boise"),
    ("US-IL", "America/Chicago"),
    ("US-IN", "America/Indiana/Indianapolis"),
    ("US-KS", "America/Chicago"),
    ("US-LA", "America/Chicago"),
    ("US-MI", "America/Detroit"),
    ("US-MN", "America/Chicago"),
    ("US-MO", "America/Chicago"),
    ("US-MP", "Pacific/Saipan"),
    ("US-MS", "America/Chicago"),
    ("US-MT", "America/Denver"),
    ("US-ND", "America/Chicago"),
    ("US-NE", "America/Chicago"),
    ("US-NM", "America/Denver"),
    ("US-NV", "America/Los_Angeles"),
    ("US-OK", "America/Chicago"),
    ("US-OR", "America/Los_Angeles"),
    ("US-PR", "America/Puerto_Rico"),
    ("US-SD", "America/Chicago"),
    ("US-TN", "America/Chicago"),
    ("US-TX", "America/Chicago"),
    ("US-UT", "America/Denver"),
    ("US-VI", "America/St_Thomas"),
    ("US-WA", "America/Los_Angeles"),
    ("US-WI", "America/Chicago"),
    ("US-WY", "America/Denver"),
];

/// The zone of a region: its subdivision's where the country spans several
/// zones and the table names it, else its country's, else UTC. A region
/// pattern naming a whole country (`CN`) gets the country's zone.
pub fn default_time_zone(region: &RegionCode) -> TimeZone {
    let code = region.as_str();
    let country = code.split_once('-').map_or(code, |(country, _)| country);
    fn lookup(table: &[(&'static str, &'static str)], key: &str) -> Option<&'static str> {
        table.binary_search_by(|(k, _)| (*k).cmp(key)).ok().map(|index| table[index].1)
    }
    lookup(SUBDIVISION_ZONES, code)
        .or_else(|| lookup(COUNTRY_ZONES, country))
        .and_then(|name| TimeZone::parse(name).ok())
        .unwrap_or(TimeZone::UTC)
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveTime};

    use super::*;

    fn region(code: &str) -> RegionCode {
        RegionCode::parse(code).unwrap_or_else(|_| RegionCode::parse_pattern(code).expect(code))
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect(text).with_timezone(&Utc)
    }

    #[test]
    fn the_tables_are_sorted_valid_and_name_real_places() {
        for table in [COUNTRY_ZONES, SUBDIVISION_ZONES] {
            for pair in table.windows(2) {
                assert!(pair[0].0 < pair[1].0, "sorted for the binary search: {} before {}", pair[0].0, pair[1].0);
            }
            for (code, zone) in table {
                assert!(TimeZone::parse(zone).is_ok(), "{zone}");
                assert!(
                    RegionCode::parse(code).is_ok() || RegionCode::parse_pattern(code).is_ok(),
                    "{code} is a real ISO 3166 code"
                );
            }
        }
    }

    #[test]
    fn regions_map_to_their_zones() {
        let check = |code: &str, zone: &str| assert_eq!(default_time_zone(&region(code)).name(), zone, "{code}");
        check("CN-BJ", "Asia/Shanghai");
        check("CN-XJ", "Asia/Shanghai");
        check("CN", "Asia/Shanghai");
        check("US-CA", "America/Los_Angeles");
        check("US-NY", "America/New_York");
        check("US-AZ", "America/Phoenix");
        check("US-HI", "Pacific/Honolulu");
        check("CA-QC", "America/Toronto");
        check("CA-BC", "America/Vancouver");
        check("AU-WA", "Australia/Perth");
        check("AU-NSW", "Australia/Sydney");
        check("RU-MOW", "Europe/Moscow");
        check("RU-PRI", "Asia/Vladivostok");
        check("BR-AM", "America/Manaus");
        check("BR-RJ", "America/Sao_Paulo");
        check("GB-ENG", "Europe/London");
        check("FR-75C", "Europe/Paris");
        // A country with no entry falls back to UTC.
        check("IS-1", "UTC");
    }

    #[test]
    fn names_parse_exactly() {
        assert_eq!(TimeZone::parse("Asia/Shanghai").unwrap().name(), "Asia/Shanghai");
        assert_eq!(TimeZone::parse("UTC").unwrap(), TimeZone::UTC);
        assert_eq!("Europe/Kyiv".parse::<TimeZone>().unwrap().to_string(), "Europe/Kyiv");
        for bad in ["", "asia/shanghai", "Asia/Atlantis", "+08:00", "Asia/Shanghai ", &"A".repeat(200)] {
            let err = TimeZone::parse(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_time_zone");
        }
        let zone: TimeZone = serde_json::from_str("\"America/New_York\"").unwrap();
        assert_eq!(serde_json::to_string(&zone).unwrap(), "\"America/New_York\"");
        assert!(serde_json::from_str::<TimeZone>("\"Mars/Olympus\"").is_err());
    }

    #[test]
    fn a_time_in_a_gap_becomes_the_first_instant_after_it() {
        let seven = NaiveTime::from_hms_opt(7, 0, 0).unwrap();
        let two_thirty = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
        let new_york = TimeZone::parse("America/New_York").unwrap();
        // 2026-03-08: New York's clocks go from 02:00 EST to 03:00 EDT.
        let spring = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        assert_eq!(new_york.instant_at(spring, two_thirty), utc("2026-03-08T07:00:00Z"), "03:00 EDT");
        assert_eq!(new_york.instant_at(spring, seven), utc("2026-03-08T11:00:00Z"), "07:00 EDT");
        // 2026-11-01: 01:30 happens twice; the earlier (EDT) is taken.
        let autumn = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let one_thirty = NaiveTime::from_hms_opt(1, 30, 0).unwrap();
        assert_eq!(new_york.instant_at(autumn, one_thirty), utc("2026-11-01T05:30:00Z"));
        // Samoa skipped 2011-12-30 entirely: its 07:00 is the next midnight.
        let apia = TimeZone::parse("Pacific/Apia").unwrap();
        let skipped = NaiveDate::from_ymd_opt(2011, 12, 30).unwrap();
        assert_eq!(apia.instant_at(skipped, seven), utc("2011-12-30T10:00:00Z"), "00:00 +14 on 12-31");
        // Santiago's clocks jump at midnight: the day starts at 01:00.
        let santiago = TimeZone::parse("America/Santiago").unwrap();
        let start = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        assert_eq!(santiago.start_of(start), utc("2026-09-06T04:00:00Z"), "01:00 -03");
        assert_eq!(santiago.local(santiago.start_of(start)).time(), NaiveTime::from_hms_opt(1, 0, 0).unwrap());
    }
}
