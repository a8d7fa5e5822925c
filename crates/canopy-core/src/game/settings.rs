//! The energy game's settings, each parsed from text (a flag, an
//! environment variable `CANOPY_<NAME>` or a configuration file key
//! `<name>`) and checked once: a [`GameSettings`] is always valid.
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `ball_ripens` | `next-morning` | `next-morning` or `immediately` |
//! | `ball_ripen_hour` | 7 | local hour (0–23) a ball ripens the day after its energy was recorded |
//! | `ball_lifetime_s` | 259200 | seconds a ripe ball stays before it vanishes (1 s to 30 days) |
//! | `friend_share_pct` | 20 | percent of a ball's grams a friend takes (1–100) |
//! | `owner_keeps_pct` | 50 | percent of a ball's grams the owner always keeps (1–100) |
//! | `friend_collect_daily_g` | 2000 | grams one citizen may take from friends per local day |
//! | `water_amounts_g` | `10,20,50` | the grams one may water with (1 to 10 distinct positive amounts) |
//! | `water_per_friend_daily` | 3 | waterings of one friend per local day (1–100) |
//! | `checkin_rewards` | `7:50,30:300` | streak milestones `day:grams`, comma-separated (may be empty) |

use std::fmt;

/// When a ball ripens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ripening {
    /// At the ripen hour, local time, on the day after the energy was recorded.
    NextMorning,
    /// As soon as the energy is recorded.
    Immediately,
}

impl Ripening {
    /// The setting's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Ripening::NextMorning => "next-morning",
            Ripening::Immediately => "immediately",
        }
    }
}

/// A setting that is unknown or whose value is refused. Its `Display`
/// names the setting: `friend_share_pct: expected an integer from 1 to
/// 100, found "120"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct SettingError {
    /// The setting's name (the file key; the environment variable is
    /// [`SettingError::env_var`]).
    pub setting: String,
    /// What is wrong.
    pub message: String,
}

impl SettingError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        "invalid_setting"
    }

    /// The environment variable of the setting, `CANOPY_<NAME>`.
    pub fn env_var(&self) -> String {
        format!("CANOPY_{}", self.setting.to_ascii_uppercase())
    }
}

/// A streak milestone: checking in on `day` consecutive local days pays
/// `grams` from the check-in pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreakReward {
    /// The streak's length, in days (at least 1).
    pub day: u32,
    /// The reward, in grams of energy (at least 1).
    pub grams: i64,
}

/// The most streak milestones a setting may list.
const STREAK_REWARDS_MAX: usize = 100;
/// The most water amounts a setting may list.
const WATER_AMOUNTS_MAX: usize = 10;
/// The largest single amount (water, reward, daily limit): a kilogram of
/// energy a day is already far beyond any behaviour's daily cap; this is a
/// guard against typos, not a game rule.
const GRAMS_SETTING_MAX: i64 = 1_000_000_000;
/// The longest ball lifetime: thirty days.
const BALL_LIFETIME_S_MAX: i64 = 30 * 24 * 3600;

/// The energy game's settings. Built from [`GameSettings::default`] and
/// changed one setting at a time with [`GameSettings::set`], so every value
/// held has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameSettings {
    ripens: Ripening,
    ripen_hour: u32,
    ball_lifetime_s: i64,
    friend_share_pct: u32,
    owner_keeps_pct: u32,
    friend_collect_daily_g: i64,
    water_amounts_g: Vec<i64>,
    water_per_friend_daily: u32,
    checkin_rewards: Vec<StreakReward>,
}

impl Default for GameSettings {
    fn default() -> Self {
        GameSettings {
            ripens: Ripening::NextMorning,
            ripen_hour: 7,
            ball_lifetime_s: 259_200,
            friend_share_pct: 20,
            owner_keeps_pct: 50,
            friend_collect_daily_g: 2000,
            water_amounts_g: vec![10, 20, 50],
            water_per_friend_daily: 3,
            checkin_rewards: vec![StreakReward { day: 7, grams: 50 }, StreakReward { day: 30, grams: 300 }],
        }
    }
}

impl GameSettings {
    /// Every setting's name, in the order of the module's table.
    pub const NAMES: [&'static str; 9] = [
        "ball_ripens",
        "ball_ripen_hour",
        "ball_lifetime_s",
        "friend_share_pct",
        "owner_keeps_pct",
        "friend_collect_daily_g",
        "water_amounts_g",
        "water_per_friend_daily",
        "checkin_rewards",
    ];

    /// Sets one setting from its text (surrounding white space ignored).
    /// On error the settings are unchanged.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SettingError> {
        let value = value.trim();
        let error = |message: String| SettingError { setting: name.to_owned(), message };
        let integer = |min: i64, max: i64| -> Result<i64, SettingError> {
            value
                .parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| error(format!("expected an integer from {min} to {max}, found {value:?}")))
        };
        // Every bound below fits a u32, so the conversions cannot fail.
        let small = |n: i64| u32::try_from(n).expect("bounded above");
        match name {
            "ball_ripens" => {
                self.ripens = match value {
                    "next-morning" => Ripening::NextMorning,
                    "immediately" => Ripening::Immediately,
                    _ => return Err(error(format!("expected next-morning or immediately, found {value:?}"))),
                }
            }
            "ball_ripen_hour" => self.ripen_hour = small(integer(0, 23)?),
            "ball_lifetime_s" => self.ball_lifetime_s = integer(1, BALL_LIFETIME_S_MAX)?,
            "friend_share_pct" => self.friend_share_pct = small(integer(1, 100)?),
            "owner_keeps_pct" => self.owner_keeps_pct = small(integer(1, 100)?),
            "friend_collect_daily_g" => self.friend_collect_daily_g = integer(0, GRAMS_SETTING_MAX)?,
            "water_amounts_g" => self.water_amounts_g = parse_water_amounts(value).map_err(error)?,
            "water_per_friend_daily" => self.water_per_friend_daily = small(integer(1, 100)?),
            "checkin_rewards" => self.checkin_rewards = parse_streak_rewards(value).map_err(error)?,
            _ => return Err(error(format!("unknown setting (expected one of: {})", Self::NAMES.join(", ")))),
        }
        Ok(())
    }

    /// Sets several settings, reporting every error (and applying none of
    /// the settings if any fails).
    pub fn with<'a>(
        &self,
        settings: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<GameSettings, Vec<SettingError>> {
        let mut changed = self.clone();
        let errors: Vec<SettingError> =
            settings.into_iter().filter_map(|(name, value)| changed.set(name, value).err()).collect();
        if errors.is_empty() {
            Ok(changed)
        } else {
            Err(errors)
        }
    }

    /// The current value of setting `name` as text, in the form [`set`]
    /// parses (for `--help` and configuration dumps).
    ///
    /// [`set`]: GameSettings::set
    pub fn get(&self, name: &str) -> Option<String> {
        let join = |items: Vec<String>| items.join(",");
        Some(match name {
            "ball_ripens" => self.ripens.as_str().to_owned(),
            "ball_ripen_hour" => self.ripen_hour.to_string(),
            "ball_lifetime_s" => self.ball_lifetime_s.to_string(),
            "friend_share_pct" => self.friend_share_pct.to_string(),
            "owner_keeps_pct" => self.owner_keeps_pct.to_string(),
            "friend_collect_daily_g" => self.friend_collect_daily_g.to_string(),
            "water_amounts_g" => join(self.water_amounts_g.iter().map(ToString::to_string).collect()),
            "water_per_friend_daily" => self.water_per_friend_daily.to_string(),
            "checkin_rewards" => join(self.checkin_rewards.iter().map(|r| format!("{}:{}", r.day, r.grams)).collect()),
            _ => return None,
        })
    }

    /// When balls ripen.
    pub fn ripens(&self) -> Ripening {
        self.ripens
    }

    /// The local hour at which balls ripen (next-morning), 0–23.
    pub fn ripen_hour(&self) -> u32 {
        self.ripen_hour
    }

    /// Seconds from ripening to vanishing.
    pub fn ball_lifetime_s(&self) -> i64 {
        self.ball_lifetime_s
    }

    /// Percent of a ball's grams a friend takes, 1–100.
    pub fn friend_share_pct(&self) -> u32 {
        self.friend_share_pct
    }

    /// Percent of a ball's grams the owner always keeps, 1–100.
    pub fn owner_keeps_pct(&self) -> u32 {
        self.owner_keeps_pct
    }

    /// Grams one citizen may take from friends per local day.
    pub fn friend_collect_daily_g(&self) -> i64 {
        self.friend_collect_daily_g
    }

    /// The grams one may water a friend with, ascending.
    pub fn water_amounts_g(&self) -> &[i64] {
        &self.water_amounts_g
    }

    /// Waterings of one friend per local day.
    pub fn water_per_friend_daily(&self) -> u32 {
        self.water_per_friend_daily
    }

    /// The streak milestones, ascending by day.
    pub fn checkin_rewards(&self) -> &[StreakReward] {
        &self.checkin_rewards
    }

    /// The reward for a check-in that makes a streak of `streak_days`: the
    /// milestone's grams when the streak is exactly a milestone, else 0.
    pub fn streak_reward_g(&self, streak_days: u32) -> i64 {
        self.checkin_rewards.iter().find(|r| r.day == streak_days).map_or(0, |r| r.grams)
    }
}

impl fmt::Display for GameSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in Self::NAMES.iter().enumerate() {
            let value = self.get(name).expect("every listed name has a value");
            write!(f, "{}{name} = {value}", if i == 0 { "" } else { ", " })?;
        }
        Ok(())
    }
}

/// `10,20,50`: distinct positive amounts, stored ascending.
fn parse_water_amounts(text: &str) -> Result<Vec<i64>, String> {
    let mut amounts = Vec::new();
    for item in text.split(',').map(str::trim) {
        let amount = item
            .parse::<i64>()
            .ok()
            .filter(|g| (1..=GRAMS_SETTING_MAX).contains(g))
            .ok_or_else(|| format!("`{item}` is not an amount of grams from 1 to {GRAMS_SETTING_MAX}"))?;
        if amounts.contains(&amount) {
            return Err(format!("{amount} is listed twice"));
        }
        amounts.push(amount);
    }
    if amounts.len() > WATER_AMOUNTS_MAX {
        return Err(format!("at most {WATER_AMOUNTS_MAX} amounts"));
    }
    amounts.sort_unstable();
    Ok(amounts)
}

/// `7:50,30:300`: distinct days, positive grams, stored ascending by day;
/// an empty text means no rewards.
fn parse_streak_rewards(text: &str) -> Result<Vec<StreakReward>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut rewards: Vec<StreakReward> = Vec::new();
    for item in text.split(',').map(str::trim) {
        let shape = || format!("`{item}` is not a milestone `day:grams` such as 7:50");
        let (day, grams) = item.split_once(':').ok_or_else(shape)?;
        let day = day.trim().parse::<u32>().ok().filter(|d| *d >= 1).ok_or_else(shape)?;
        let grams =
            grams.trim().parse::<i64>().ok().filter(|g| (1..=GRAMS_SETTING_MAX).contains(g)).ok_or_else(shape)?;
        if rewards.iter().any(|r| r.day == day) {
            return Err(format!("day {day} is listed twice"));
        }
        rewards.push(StreakReward { day, grams });
    }
    if rewards.len() > STREAK_REWARDS_MAX {
        return Err(format!("at most {STREAK_REWARDS_MAX} milestones"));
    }
    rewards.sort_unstable_by_key(|r| r.day);
    Ok(rewards)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_issues() {
        let s = GameSettings::default();
        assert_eq!(s.ripens(), Ripening::NextMorning);
        assert_eq!((s.ripen_hour(), s.ball_lifetime_s()), (7, 259_200));
        assert_eq!((s.friend_share_pct(), s.owner_keeps_pct(), s.friend_collect_daily_g()), (20, 50, 2000));
        assert_eq!((s.water_amounts_g(), s.water_per_friend_daily()), (&[10, 20, 50][..], 3));
        assert_eq!((s.streak_reward_g(7), s.streak_reward_g(30), s.streak_reward_g(8)), (50, 300, 0));
        assert_eq!(
            s.to_string(),
            "ball_ripens = next-morning, ball_ripen_hour = 7, ball_lifetime_s = 259200, friend_share_pct = 20, \
             owner_keeps_pct = 50, friend_collect_daily_g = 2000, water_amounts_g = 10,20,50, \
             water_per_friend_daily = 3, checkin_rewards = 7:50,30:300"
        );
    }

    #[test]
    fn every_setting_round_trips_through_its_text() {
        let s = GameSettings::default()
            .with([
                ("ball_ripens", "immediately"),
                ("ball_ripen_hour", " 0 "),
                ("water_amounts_g", "50, 5"),
                ("checkin_rewards", "30:300, 3:10"),
            ])
            .unwrap();
        assert_eq!(s.ripens(), Ripening::Immediately);
        assert_eq!(s.ripen_hour(), 0);
        assert_eq!(s.water_amounts_g(), [5, 50]);
        assert_eq!(s.checkin_rewards(), [StreakReward { day: 3, grams: 10 }, StreakReward { day: 30, grams: 300 }]);
        for name in GameSettings::NAMES {
            let text = s.get(name).unwrap();
            let mut copy = GameSettings::default();
            copy.set(name, &text).unwrap();
            assert_eq!(copy.get(name), Some(text), "{name}");
        }
        assert!(GameSettings::default().with([("checkin_rewards", "")]).unwrap().checkin_rewards().is_empty());
    }

    #[test]
    fn bad_values_are_refused_naming_the_setting() {
        let check = |name: &str, value: &str, message: &str| {
            let mut s = GameSettings::default();
            let err = s.set(name, value).unwrap_err();
            assert_eq!(err.to_string(), format!("{name}: {message}"), "{name} = {value:?}");
            assert_eq!(s, GameSettings::default(), "unchanged after an error");
        };
        check("ball_ripens", "tomorrow", "expected next-morning or immediately, found \"tomorrow\"");
        check("ball_ripen_hour", "24", "expected an integer from 0 to 23, found \"24\"");
        check("ball_lifetime_s", "0", "expected an integer from 1 to 2592000, found \"0\"");
        check("friend_share_pct", "120", "expected an integer from 1 to 100, found \"120\"");
        check("owner_keeps_pct", "0", "expected an integer from 1 to 100, found \"0\"");
        check("friend_collect_daily_g", "-1", "expected an integer from 0 to 1000000000, found \"-1\"");
        check("water_amounts_g", "10,x", "`x` is not an amount of grams from 1 to 1000000000");
        check("water_amounts_g", "10,10", "10 is listed twice");
        check("water_amounts_g", "", "`` is not an amount of grams from 1 to 1000000000");
        check("water_amounts_g", "1,2,3,4,5,6,7,8,9,10,11", "at most 10 amounts");
        check("water_per_friend_daily", "0", "expected an integer from 1 to 100, found \"0\"");
        check("checkin_rewards", "7=50", "`7=50` is not a milestone `day:grams` such as 7:50");
        check("checkin_rewards", "0:50", "`0:50` is not a milestone `day:grams` such as 7:50");
        check("checkin_rewards", "7:0", "`7:0` is not a milestone `day:grams` such as 7:50");
        check("checkin_rewards", "7:5,7:6", "day 7 is listed twice");
        let err = GameSettings::default().set("ball_colour", "green").unwrap_err();
        assert!(err.to_string().starts_with("ball_colour: unknown setting (expected one of: ball_ripens,"), "{err}");
        assert_eq!(err.env_var(), "CANOPY_BALL_COLOUR");
        assert_eq!(err.code(), "invalid_setting");
    }

    #[test]
    fn several_bad_settings_are_all_reported() {
        let errors =
            GameSettings::default().with([("ball_ripen_hour", "25"), ("ball_lifetime_s", "60"), ("nope", "1")]);
        let names: Vec<_> = errors.unwrap_err().into_iter().map(|e| e.setting).collect();
        assert_eq!(names, ["ball_ripen_hour", "nope"]);
    }
}
