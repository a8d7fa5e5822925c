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

/// The hash map of the hot path (snapshots, `decide`, the book): aHash
/// instead of SipHash, measured faster on the ingestion benchmark (see
/// BENCHMARKS.md); still keyed at random per process, so a partner cannot
/// precompute colliding event ids.
pub type Map<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;
/// The hash set of the hot path; see [`Map`].
pub type Set<T> = std::collections::HashSet<T, ahash::RandomState>;

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

/// An ISO 3166-2 subdivision code such as `CN-BJ`: one that the standard
/// really assigns (a bare country `CN` or an unreal `XX-YY` is refused).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RegionCode(String);

/// A region that is not an ISO 3166-2 subdivision code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an ISO 3166-2 region code such as CN-BJ")]
pub struct InvalidRegion(pub String);

/// Every assigned ISO 3166-2 code, from the `keshvar` crate's data (built
/// once: the crate assembles a country's subdivisions on every call).
fn subdivision_codes() -> &'static std::collections::HashSet<String> {
    static CODES: std::sync::OnceLock<std::collections::HashSet<String>> = std::sync::OnceLock::new();
    CODES.get_or_init(|| {
        keshvar::CountryIterator::new()
            .flat_map(|country| {
                let alpha2 = country.alpha2().to_string();
                country.subdivisions().keys().map(move |code| format!("{alpha2}-{code}")).collect::<Vec<_>>()
            })
            .collect()
    })
}

impl RegionCode {
    /// Parses an ISO 3166-2 subdivision code, written as the standard
    /// writes it (upper case, `CC-XXX`).
    pub fn parse(s: &str) -> Result<Self, InvalidRegion> {
        if subdivision_codes().contains(s) {
            Ok(RegionCode(s.to_owned()))
        } else {
            Err(InvalidRegion(s.to_owned()))
        }
    }

    /// Parses a methodology's region pattern: a subdivision, or a real
    /// ISO 3166-1 country (`CN`), which matches every subdivision of it.
    /// Citizens and events never carry a bare country.
    pub fn parse_pattern(s: &str) -> Result<Self, InvalidRegion> {
        let is_country =
            s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()) && keshvar::Alpha2::try_from(s).is_ok();
        if is_country {
            Ok(RegionCode(s.to_owned()))
        } else {
            Self::parse(s)
        }
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

/// A sign-in name: 3 to 32 of lower-case ASCII letters, digits, `_`, `.`
/// and `-` (so it is unambiguous, and safe in any key or URL).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

/// A username that breaks the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("username must be 3 to 32 characters: lower-case letters, digits, `_`, `.` or `-`")]
pub struct InvalidUsername;

impl Username {
    /// Parses a username as typed (it is not trimmed or folded: a name
    /// with a capital was never registered).
    pub fn parse(s: &str) -> Result<Self, InvalidUsername> {
        let ok = (3..=32).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'));
        if ok {
            Ok(Username(s.to_owned()))
        } else {
            Err(InvalidUsername)
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a name shown to people was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidName {
    /// Empty after trimming, or longer than allowed.
    #[error("must be 1 to {0} characters after trimming white space")]
    Length(usize),
    /// A control character (C0, C1, DEL).
    #[error("must not contain control characters")]
    Control,
    /// A bidirectional override, embedding, isolate or mark, which can
    /// make a name display as something else.
    #[error("must not contain bidirectional control characters")]
    Bidirectional,
    /// A Unicode noncharacter or an unassigned or surrogate code point.
    #[error("must not contain Unicode noncharacters or unassigned code points")]
    Noncharacter,
    /// Nothing visible: only zero-width, format or filler characters.
    #[error("must contain at least one visible character")]
    Invisible,
}

/// Whether `c` steers bidirectional text (UAX #9's explicit formatting
/// characters and the implicit marks).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` shows nothing by itself: white space, format characters
/// (zero-width space and joiners, word joiner, BOM, …) and the filler
/// letters that render blank.
fn is_invisible(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    c.is_whitespace()
        || c.general_category() == GeneralCategory::Format
        || matches!(c, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{2800}' | '\u{180E}')
}

/// Checks a name shown to people and returns it trimmed, as stored.
pub(crate) fn parse_shown_name(s: &str, max_chars: usize) -> Result<String, InvalidName> {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    let trimmed = s.trim();
    if !(1..=max_chars).contains(&trimmed.chars().count()) {
        return Err(InvalidName::Length(max_chars));
    }
    for c in trimmed.chars() {
        if c.is_control() {
            return Err(InvalidName::Control);
        }
        if is_bidi_control(c) {
            return Err(InvalidName::Bidirectional);
        }
        // Noncharacters (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF) are unassigned
        // by definition; so is anything a newer Unicode may assign later.
        if matches!(c.general_category(), GeneralCategory::Unassigned | GeneralCategory::Surrogate) {
            return Err(InvalidName::Noncharacter);
        }
    }
    if trimmed.chars().all(is_invisible) {
        return Err(InvalidName::Invisible);
    }
    Ok(trimmed.to_owned())
}

/// The name a citizen shows to friends: 1 to 64 characters, trimmed, with
/// something visible and nothing that disguises it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    /// The longest display name, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Parses a display name; the value is the trimmed text.
    pub fn parse(s: &str) -> Result<Self, InvalidName> {
        parse_shown_name(s, Self::MAX_CHARS).map(DisplayName)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A partner's name: 1 to 100 characters, by the display-name rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartnerName(String);

impl PartnerName {
    /// The longest partner name, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Parses a partner name; the value is the trimmed text.
    pub fn parse(s: &str) -> Result<Self, InvalidName> {
        parse_shown_name(s, Self::MAX_CHARS).map(PartnerName)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a list of category names was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCategories {
    /// The list is empty.
    #[error("must name at least one category")]
    Empty,
    /// A name is not a category.
    #[error(transparent)]
    Unknown(#[from] UnknownCategory),
}

impl CategorySet {
    /// Parses a non-empty list of category names (a consent's scopes, a
    /// partner's categories); repeats are harmless.
    pub fn parse_names<S: AsRef<str>>(names: &[S]) -> Result<Self, InvalidCategories> {
        if names.is_empty() {
            return Err(InvalidCategories::Empty);
        }
        let categories = names.iter().map(|n| n.as_ref().parse()).collect::<Result<Vec<Category>, _>>()?;
        Ok(CategorySet::from_categories(categories))
    }

    /// The categories of `self` that are not in `other`.
    pub fn without(self, other: CategorySet) -> CategorySet {
        CategorySet(self.0 & !other.0)
    }
}

/// A consent's scopes: categories the citizen grants and the partner may
/// report. Granting a category the partner cannot report would be a
/// promise nobody can keep, so it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentScopes(CategorySet);

/// Scopes that name categories the partner may not report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this partner cannot report {}", .0.to_vec().iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "))]
pub struct ScopeNotReportable(pub CategorySet);

impl ConsentScopes {
    /// Checks requested scopes against the partner's categories.
    pub fn within(requested: CategorySet, partner_categories: CategorySet) -> Result<Self, ScopeNotReportable> {
        let outside = requested.without(partner_categories);
        if outside.is_empty() {
            Ok(ConsentScopes(requested))
        } else {
            Err(ScopeNotReportable(outside))
        }
    }

    /// The granted categories.
    pub fn categories(self) -> CategorySet {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_parse_iso_codes_only() {
        for ok in ["CN-BJ", "CN-HB", "US-CA", "GB-ENG", "FR-75C"] {
            assert!(RegionCode::parse(ok).is_ok(), "{ok}");
        }
        // A bare country, an unreal code, a code the standard withdrew
        // (CN-11 became CN-BJ in 2017) and other spellings are refused.
        for bad in ["", "CN", "XX-YY", "CN-11", "CN-XX", "cn-bj", "CN-", "CNX-BJ", "CN-BJXX", "CN_BJ", "*"] {
            assert!(RegionCode::parse(bad).is_err(), "{bad}");
        }
        // A methodology may name a whole (real) country.
        assert_eq!(RegionCode::parse_pattern("CN").unwrap().as_str(), "CN");
        assert_eq!(RegionCode::parse_pattern("CN-BJ").unwrap().as_str(), "CN-BJ");
        for bad in ["XX", "cn", "XX-YY", "C"] {
            assert!(RegionCode::parse_pattern(bad).is_err(), "{bad}");
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

    #[test]
    fn usernames_follow_the_rule() {
        for ok in ["ann", "li.wei-2", "a_b"] {
            assert_eq!(Username::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "ab", "Ann", "ann wei", "ann\0", &"a".repeat(33)] {
            assert_eq!(Username::parse(bad), Err(InvalidUsername), "{bad:?}");
        }
    }

    #[test]
    fn display_names_refuse_what_disguises_them() {
        let check = |input: &str, expect: Result<&str, InvalidName>| {
            assert_eq!(
                DisplayName::parse(input).as_ref().map(DisplayName::as_str),
                expect.as_ref().copied(),
                "{input:?}"
            );
        };
        check("  Wang Fang ", Ok("Wang Fang"));
        check("王芳", Ok("王芳"));
        check("👩\u{200D}👩\u{200D}👧 family", Ok("👩\u{200D}👩\u{200D}👧 family"));
        check("", Err(InvalidName::Length(64)));
        check("   ", Err(InvalidName::Length(64)));
        check(&"x".repeat(65), Err(InvalidName::Length(64)));
        check("tab\there", Err(InvalidName::Control));
        check("admin\u{202E}gnp.exe", Err(InvalidName::Bidirectional));
        check("a\u{2066}b\u{2069}", Err(InvalidName::Bidirectional));
        check("\u{200F}mark", Err(InvalidName::Bidirectional));
        check("\u{200B}\u{200C}\u{200D}", Err(InvalidName::Invisible));
        check("\u{2060}\u{FEFF}", Err(InvalidName::Invisible));
        check("\u{3164}", Err(InvalidName::Invisible));
        check("bad\u{FDD0}", Err(InvalidName::Noncharacter));
        check("bad\u{FFFF}", Err(InvalidName::Noncharacter));
        check("bad\u{1FFFE}", Err(InvalidName::Noncharacter));
        assert_eq!(PartnerName::parse(&"p".repeat(100)).map(|n| n.as_str().len()), Ok(100));
        assert_eq!(PartnerName::parse(&"p".repeat(101)), Err(InvalidName::Length(100)));
    }

    #[test]
    fn consent_scopes_must_be_reportable() {
        let partner = CategorySet::from_categories([Category::Transport, Category::Food]);
        let asked = CategorySet::parse_names(&["transport"]).unwrap();
        assert_eq!(ConsentScopes::within(asked, partner).map(ConsentScopes::categories), Ok(asked));
        let too_much = CategorySet::parse_names(&["transport", "housing", "office"]).unwrap();
        let refused = ConsentScopes::within(too_much, partner).unwrap_err();
        assert_eq!(refused.0, CategorySet::from_categories([Category::Housing, Category::Office]));
        assert_eq!(refused.to_string(), "this partner cannot report housing, office");
        assert_eq!(CategorySet::parse_names::<&str>(&[]), Err(InvalidCategories::Empty));
        assert!(matches!(CategorySet::parse_names(&["flying"]), Err(InvalidCategories::Unknown(_))));
    }
}
