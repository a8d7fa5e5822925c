//! Small validated value types shared by every part of Canopy.
//!
//! Each type is parsed once at the edge (`parse`/`FromStr`); once a value
//! exists it is valid, so the rest of the code never re-checks it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Whole grams of CO2e. Signed, because ledger entries carry a direction and
/// the operator's issuance accounts run negative; a citizen's balance never
/// does (the ledger asserts it).
pub type Grams = i64;

/// The seven behaviour categories of the All-China Environment Federation
/// guideline (2023). Consent scopes and partner permissions are sets of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Second-hand and recycled clothing.
    Clothing,
    /// Food: no single-use utensils, small portions, …
    Food,
    /// Housing: utility bills, household energy saving.
    Housing,
    /// Transport: bike share, bus, metro, walking.
    Transport,
    /// Use: parcels, second-hand goods, recycling.
    Use,
    /// Office: paperless work, online meetings.
    Office,
    /// Digital finance: electronic payments and receipts.
    DigitalFinance,
}

impl Category {
    /// Every category, in the guideline's order.
    pub const ALL: [Category; 7] = [
        Category::Clothing,
        Category::Food,
        Category::Housing,
        Category::Transport,
        Category::Use,
        Category::Office,
        Category::DigitalFinance,
    ];

    /// The wire name (`digital_finance`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Clothing => "clothing",
            Category::Food => "food",
            Category::Housing => "housing",
            Category::Transport => "transport",
            Category::Use => "use",
            Category::Office => "office",
            Category::DigitalFinance => "digital_finance",
        }
    }

    /// A bit for this category, so that a set of categories fits in a `u8`.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A category name that is not one of the seven.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown category `{0}`; expected one of clothing, food, housing, transport, use, office, digital_finance")]
pub struct UnknownCategory(pub String);

impl FromStr for Category {
    type Err = UnknownCategory;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| UnknownCategory(s.to_owned()))
    }
}

/// A set of categories, stored as a bit mask (consent scopes, partner
/// permissions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CategorySet(u8);

impl CategorySet {
    /// The empty set.
    pub const EMPTY: CategorySet = CategorySet(0);

    /// Builds a set from categories.
    pub fn from_categories(categories: impl IntoIterator<Item = Category>) -> Self {
        CategorySet(categories.into_iter().fold(0, |mask, c| mask | c.bit()))
    }

    /// Rebuilds a set from its stored mask, ignoring unknown bits.
    pub fn from_mask(mask: i64) -> Self {
        CategorySet((mask & 0x7f) as u8)
    }

    /// The stored form of the set.
    pub fn mask(self) -> i64 {
        i64::from(self.0)
    }

    /// Whether `category` is in the set.
    pub fn contains(self, category: Category) -> bool {
        self.0 & category.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The categories in the set, in the guideline's order.
    pub fn to_vec(self) -> Vec<Category> {
        Category::ALL.into_iter().filter(|c| self.contains(*c)).collect()
    }
}

/// An ISO 3166-2 subdivision code such as `CN-BJ`, or a bare ISO 3166-1
/// country code such as `CN`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RegionCode(String);

/// A region that is not an ISO 3166 code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an ISO 3166-2 region code such as CN-BJ")]
pub struct InvalidRegion(pub String);

impl RegionCode {
    /// Parses `CC` or `CC-XXX` (two upper-case letters, then optionally a
    /// dash and one to three upper-case letters or digits).
    pub fn parse(s: &str) -> Result<Self, InvalidRegion> {
        let bad = || InvalidRegion(s.to_owned());
        let (country, subdivision) = match s.split_once('-') {
            Some((c, sub)) => (c, Some(sub)),
            None => (s, None),
        };
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(bad());
        }
        if let Some(sub) = subdivision {
            if sub.is_empty() || sub.len() > 3 || !sub.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
                return Err(bad());
            }
        }
        Ok(RegionCode(s.to_owned()))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RegionCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        RegionCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_parse_iso_codes_only() {
        for ok in ["CN", "CN-BJ", "CN-HB", "US-CA", "GB-ENG", "FR-75"] {
            assert!(RegionCode::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "cn-bj", "CN-", "CNX-BJ", "CN-BJXX", "CN_BJ", "*"] {
            assert!(RegionCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn category_sets_round_trip() {
        let set = CategorySet::from_categories([Category::Food, Category::DigitalFinance]);
        assert!(set.contains(Category::Food));
        assert!(!set.contains(Category::Transport));
        assert_eq!(CategorySet::from_mask(set.mask()), set);
        assert_eq!(set.to_vec(), vec![Category::Food, Category::DigitalFinance]);
        assert_eq!("digital_finance".parse::<Category>(), Ok(Category::DigitalFinance));
        assert!("walking".parse::<Category>().is_err());
    }
}
