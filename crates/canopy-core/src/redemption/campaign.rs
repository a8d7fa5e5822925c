//! Campaigns matched by retired carbon credits ("1 kg per person"):
//! citizens contribute energy within a per-person limit during the
//! campaign; the sponsor buys and retires carbon credits to match what was
//! contributed, at the campaign's ratio; the campaign says whether it is
//! matched and by how much it falls short.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::project::{checked_text, InvalidProject, TEXT_MAX};
use crate::ledger::{AccountKind, AccountRef, Cause, PostingSet, TransferKind};

/// Grams in one tonne of CO2e (a carbon credit).
pub const GRAMS_PER_TONNE: i64 = 1_000_000;
/// The largest goal or per-person limit, in grams (a million tonnes).
pub const GRAMS_MAX: i64 = 1_000_000_000_000;
/// The largest match ratio.
pub const RATIO_MAX: i64 = 100;
/// The most credits (tonnes) one retirement may record.
pub const RETIREMENT_TONNES_MAX: i64 = 100_000_000;

/// A campaign as its rules read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CampaignState {
    /// Its id.
    pub id: i64,
    /// What one citizen may contribute in all, in grams.
    pub per_person_limit_grams: i64,
    /// When it opens.
    pub starts_at: DateTime<Utc>,
    /// When it closes.
    pub ends_at: DateTime<Utc>,
}

/// Why a contribution is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContributeRefusal {
    /// No such campaign.
    #[error("there is no such campaign")]
    NotFound,
    /// Not a positive whole number of grams.
    #[error("grams must be a whole number from 1 to the per-person limit")]
    InvalidAmount,
    /// Before the start or after the end.
    #[error("the campaign is not open for contributions now")]
    NotActive,
    /// It would take the citizen past the per-person limit.
    #[error("a citizen may contribute {limit} g in all; {left} g are left")]
    OverLimit {
        /// The limit.
        limit: i64,
        /// What is left of it.
        left: i64,
    },
    /// The citizen holds less energy.
    #[error("the contribution needs {needed} g of energy and the citizen has {held} g")]
    InsufficientEnergy {
        /// What it needs.
        needed: i64,
        /// What the citizen holds.
        held: i64,
    },
}

impl ContributeRefusal {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ContributeRefusal::NotFound => "campaign_not_found",
            ContributeRefusal::InvalidAmount => "invalid_amount",
            ContributeRefusal::NotActive => "campaign_not_active",
            ContributeRefusal::OverLimit { .. } => "contribution_over_limit",
            ContributeRefusal::InsufficientEnergy { .. } => "insufficient_energy",
        }
    }
}

/// A contribution as asked, with what the writer read.
#[derive(Debug, Clone, Copy)]
pub struct ContributeAsk {
    /// Its id (allocated by the store, used only if it posts).
    pub contribution_id: i64,
    /// The citizen.
    pub user_id: i64,
    /// Grams asked to give.
    pub grams: i64,
    /// What the citizen contributed to this campaign before.
    pub contributed_before: i64,
    /// The citizen's energy.
    pub energy_grams: i64,
}

/// Decides a contribution: a positive amount, the campaign open, within
/// the citizen's limit, and energy to cover it.
pub fn contribute(
    campaign: &CampaignState,
    ask: &ContributeAsk,
    now: DateTime<Utc>,
) -> Result<PostingSet, ContributeRefusal> {
    if ask.grams < 1 || ask.grams > campaign.per_person_limit_grams {
        return Err(ContributeRefusal::InvalidAmount);
    }
    if now < campaign.starts_at || now >= campaign.ends_at {
        return Err(ContributeRefusal::NotActive);
    }
    let left = (campaign.per_person_limit_grams - ask.contributed_before).max(0);
    if ask.grams > left {
        return Err(ContributeRefusal::OverLimit { limit: campaign.per_person_limit_grams, left });
    }
    if ask.energy_grams < ask.grams {
        return Err(ContributeRefusal::InsufficientEnergy { needed: ask.grams, held: ask.energy_grams });
    }
    Ok(contributed(ask.contribution_id, ask.user_id, campaign.id, ask.grams))
}

/// Contribution `id`: `grams` of `user_id`'s energy to campaign
/// `campaign_id`, caused by redemption `contribute:<id>`.
pub fn contributed(id: i64, user_id: i64, campaign_id: i64, grams: i64) -> PostingSet {
    PostingSet::single(
        Cause::Redemption { id: format!("contribute:{id}") },
        TransferKind::CampaignContributed,
        AccountRef::citizen(user_id, AccountKind::Energy),
        AccountRef::campaign(campaign_id, AccountKind::CampaignEnergy),
        grams,
    )
}

/// A match ratio in thousandths (1.0 is 1000), from the number as written.
pub fn ratio_milli(text: &str) -> Option<i64> {
    let ratio: Decimal = text.parse().ok()?;
    let milli = ratio.checked_mul(Decimal::from(1000))?;
    if milli.fract() != Decimal::ZERO || milli <= Decimal::ZERO || milli > Decimal::from(RATIO_MAX * 1000) {
        return None;
    }
    i64::try_from(milli).ok()
}

/// How a campaign stands: what was contributed, what was retired, and
/// whether the retirements match the contributions at the ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Energy contributed, in grams.
    pub contributed_grams: i64,
    /// Credits retired, in grams of CO2e.
    pub retired_grams: i64,
    /// What the retirements must reach: contributed × ratio, rounded up.
    pub required_grams: i64,
    /// Whether they do.
    pub matched: bool,
    /// What is missing (0 when matched).
    pub shortfall_grams: i64,
}

/// The standing of a campaign with these totals, at `ratio_milli`.
pub fn standing(contributed_grams: i64, retired_grams: i64, ratio_milli: i64) -> Standing {
    let required = (i128::from(contributed_grams) * i128::from(ratio_milli) + 999) / 1000;
    let required_grams = i64::try_from(required).unwrap_or(i64::MAX);
    let shortfall_grams = required_grams.saturating_sub(retired_grams).max(0);
    Standing { contributed_grams, retired_grams, required_grams, matched: shortfall_grams == 0, shortfall_grams }
}

/// A block of serial numbers a registry issued, `PREFIX` + digits: the
/// prefix names the block's series and the digits count within it
/// (`CCER-2026-000001` … `CCER-2026-000500`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialRange {
    /// What the serials share before their number.
    pub prefix: String,
    /// The first number.
    pub first: i64,
    /// The last number.
    pub last: i64,
}

impl SerialRange {
    /// How many serials (credits, one tonne each) the range holds.
    pub fn count(&self) -> i64 {
        self.last - self.first + 1
    }

    /// Whether two ranges of one registry share a serial.
    pub fn overlaps(&self, other: &SerialRange) -> bool {
        self.prefix == other.prefix && self.first <= other.last && other.first <= self.last
    }
}

fn invalid(field: &str, problem: impl Into<String>) -> InvalidProject {
    InvalidProject { field: field.to_owned(), problem: problem.into() }
}

fn split_serial(field: &str, serial: &str) -> Result<(String, i64, usize), InvalidProject> {
    let serial = serial.trim();
    let digits = serial.bytes().rev().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 15 || serial.len() > TEXT_MAX || serial.chars().any(char::is_control) {
        return Err(invalid(field, "must end in a number of 1 to 15 digits (`CCER-2026-000001`)"));
    }
    let (prefix, number) = serial.split_at(serial.len() - digits);
    Ok((prefix.to_owned(), number.parse().expect("digits parse"), digits))
}

/// Parses a retirement's serial range and checks it holds `quantity_t`
/// credits (one tonne each).
pub fn serial_range(first: &str, last: &str, quantity_t: i64) -> Result<SerialRange, InvalidProject> {
    let (prefix, from, width) = split_serial("serial_first", first)?;
    let (last_prefix, to, last_width) = split_serial("serial_last", last)?;
    if prefix != last_prefix || width != last_width {
        return Err(invalid("serial_last", "must be in the same series as serial_first (same prefix and width)"));
    }
    if to < from {
        return Err(invalid("serial_last", "must not come before serial_first"));
    }
    let range = SerialRange { prefix, first: from, last: to };
    if !(1..=RETIREMENT_TONNES_MAX).contains(&quantity_t) || range.count() != quantity_t {
        return Err(invalid(
            "quantity_t",
            format!("must be the number of serials in the range ({}), one tonne each", range.count()),
        ));
    }
    Ok(range)
}

/// Checks a campaign's or retirement's free text.
pub fn text(field: &str, value: &str) -> Result<String, InvalidProject> {
    checked_text(field, value, TEXT_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339_utc(text).unwrap()
    }

    fn games() -> CampaignState {
        CampaignState {
            id: 4,
            per_person_limit_grams: 1000,
            starts_at: at("2023-09-01T00:00:00Z"),
            ends_at: at("2023-10-08T16:00:00Z"),
        }
    }

    fn ask(grams: i64, before: i64, energy: i64) -> ContributeAsk {
        ContributeAsk { contribution_id: 9, user_id: 7, grams, contributed_before: before, energy_grams: energy }
    }

    #[test]
    fn one_kilogram_per_person() {
        let now = at("2023-09-23T12:00:00Z");
        let set = contribute(&games(), &ask(600, 0, 5000), now).unwrap();
        assert_eq!(set.cause, Cause::Redemption { id: "contribute:9".to_owned() });
        let t = set.transfers[0];
        assert!(t.kind.accepts(t.debit, t.credit));
        assert!(contribute(&games(), &ask(400, 600, 5000), now).is_ok(), "up to the limit");
        let code = |a: ContributeAsk, now| contribute(&games(), &a, now).unwrap_err().code();
        assert_eq!(code(ask(401, 600, 5000), now), "contribution_over_limit");
        assert_eq!(code(ask(0, 0, 5000), now), "invalid_amount");
        assert_eq!(code(ask(1001, 0, 5000), now), "invalid_amount");
        assert_eq!(code(ask(500, 0, 499), now), "insufficient_energy");
        assert_eq!(code(ask(500, 0, 5000), at("2023-10-08T16:00:00Z")), "campaign_not_active");
        assert_eq!(code(ask(500, 0, 5000), at("2023-08-31T23:59:59Z")), "campaign_not_active");
    }

    #[test]
    fn matched_when_retirements_reach_contributions_times_the_ratio() {
        assert_eq!(ratio_milli("1.0"), Some(1000));
        assert_eq!(ratio_milli("1.5"), Some(1500));
        assert_eq!(ratio_milli("0.0005"), None);
        assert_eq!(ratio_milli("0"), None);
        assert_eq!(ratio_milli("101"), None);
        let s = standing(2_500_000, 2_000_000, 1000);
        assert_eq!((s.required_grams, s.matched, s.shortfall_grams), (2_500_000, false, 500_000));
        let s = standing(2_500_000, 3_000_000, 1000);
        assert_eq!((s.matched, s.shortfall_grams), (true, 0));
        assert_eq!(standing(3, 0, 1500).required_grams, 5, "rounded up");
    }

    #[test]
    fn serial_ranges_count_their_tonnes_and_overlap_within_a_series() {
        let a = serial_range("CCER-2026-000001", "CCER-2026-000500", 500).unwrap();
        assert_eq!(a.count(), 500);
        let b = serial_range("CCER-2026-000500", "CCER-2026-000600", 101).unwrap();
        let c = serial_range("CCER-2026-000501", "CCER-2026-000600", 100).unwrap();
        let other_series = serial_range("CCER-2027-000001", "CCER-2027-000500", 500).unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert!(!a.overlaps(&other_series));
        for (first, last, q, field) in [
            ("CCER-2026-000001", "CCER-2026-000500", 499, "quantity_t"),
            ("CCER-2026-000010", "CCER-2026-000001", 10, "serial_last"),
            ("CCER-2026-000001", "CCER-2027-000002", 2, "serial_last"),
            ("CCER-2026-01", "CCER-2026-0002", 2, "serial_last"),
            ("CCER", "CCER-1", 1, "serial_first"),
        ] {
            assert_eq!(serial_range(first, last, q).unwrap_err().field, field, "{first}..{last}");
        }
    }
}
