//! Sponsors and the projects energy buys: what each kind of project must
//! say about itself, checked once when the operator creates it.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::RegionCode;

/// The longest title, name or free text of a project, in characters.
pub const TEXT_MAX: usize = 200;
/// The longest terms of a voucher, in characters.
pub const TERMS_MAX: usize = 2000;
/// The most regions a project may list.
pub const REGIONS_MAX: usize = 100;
/// The largest energy price of one unit, in grams (a tonne of energy).
pub const PRICE_GRAMS_MAX: i64 = 1_000_000;
/// The largest stock a project may have, in units.
pub const STOCK_MAX: i64 = 1_000_000_000;
/// The largest face value of a voucher, in fen (10,000 yuan).
pub const FACE_VALUE_FEN_MAX: i64 = 1_000_000;

/// Who pays for what energy buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SponsorKind {
    /// A company.
    Company,
    /// A foundation.
    Foundation,
    /// A government body.
    Government,
}

impl SponsorKind {
    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SponsorKind::Company => "company",
            SponsorKind::Foundation => "foundation",
            SponsorKind::Government => "government",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [SponsorKind::Company, SponsorKind::Foundation, SponsorKind::Government]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// What a project gives for energy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectKind {
    /// A real tree planted (a unit is one tree).
    Tree,
    /// Protected land (a unit is one square metre).
    Land,
    /// A merchant's voucher (a unit is one code).
    Voucher,
    /// A donation (a unit is what the project says one buys).
    Donation,
}

impl ProjectKind {
    /// Every kind.
    pub const ALL: [ProjectKind; 4] =
        [ProjectKind::Tree, ProjectKind::Land, ProjectKind::Voucher, ProjectKind::Donation];

    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectKind::Tree => "tree",
            ProjectKind::Land => "land",
            ProjectKind::Voucher => "voucher",
            ProjectKind::Donation => "donation",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The most units one redemption may ask for: a hundred trees, ten
    /// thousand square metres, one voucher (a redemption shows one code),
    /// a thousand donation units.
    pub fn quantity_max(self) -> i64 {
        match self {
            ProjectKind::Tree => 100,
            ProjectKind::Land => 10_000,
            ProjectKind::Voucher => 1,
            ProjectKind::Donation => 1_000,
        }
    }

    /// Whether a redemption yields a public certificate (vouchers yield a
    /// code shown only to its owner instead).
    pub fn has_certificate(self) -> bool {
        self != ProjectKind::Voucher
    }
}

/// Whether a project is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    /// Open within its dates.
    Active,
    /// Closed for now; it may reopen.
    Paused,
    /// Closed for good.
    Ended,
}

impl ProjectStatus {
    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectStatus::Active => "active",
            ProjectStatus::Paused => "paused",
            ProjectStatus::Ended => "ended",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [ProjectStatus::Active, ProjectStatus::Paused, ProjectStatus::Ended].into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the operator may move a project from `self` to `to`: an
    /// ended project stays ended.
    pub fn may_become(self, to: ProjectStatus) -> bool {
        self != ProjectStatus::Ended || to == ProjectStatus::Ended
    }
}

/// What a project says about itself, by kind, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProjectDetails {
    /// A tree.
    Tree(TreeDetails),
    /// Protected land.
    Land(LandDetails),
    /// A voucher.
    Voucher(VoucherDetails),
    /// A donation.
    Donation(DonationDetails),
}

/// A tree: its species, where it is planted, and what one tree takes up
/// over its life (the energy price of one tree equals it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeDetails {
    /// The species (`Haloxylon ammodendron`).
    pub species: String,
    /// Where it is planted.
    pub site: String,
    /// The ISO 3166-2 region of the site.
    pub region: String,
    /// Expected sequestration per tree over its life, in kg of CO2e, to
    /// the gram (the number as written, kept exact).
    #[serde(alias = "expected_sequestration_kg", alias = "sequestration_kg_per_tree")]
    pub sequestration_kg: serde_json::Number,
}

/// Protected land: where, and how many square metres there are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandDetails {
    /// Where the land is.
    pub site: String,
    /// The ISO 3166-2 region of the site, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Square metres available for protection (the project's stock).
    #[serde(alias = "m2_available", alias = "available_m2", alias = "area_m2_available")]
    pub area_m2: i64,
}

/// A voucher: the merchant (a partner) who honours it, its face value,
/// when it expires and its terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoucherDetails {
    /// The merchant's public partner id (`ptn_…`).
    #[serde(alias = "merchant", alias = "merchant_partner_id")]
    pub merchant_id: String,
    /// Face value in fen.
    pub face_value_fen: i64,
    /// When an issued code stops being honoured (RFC 3339).
    #[serde(alias = "expiry", alias = "valid_until")]
    pub expires_at: String,
    /// The terms shown to the citizen.
    #[serde(default)]
    pub terms: String,
}

/// A donation: who receives it and what one unit buys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DonationDetails {
    /// Who receives it.
    pub beneficiary: String,
    /// What one unit buys (`one school lunch`).
    #[serde(alias = "unit", alias = "per_unit", alias = "unit_description", alias = "what_one_unit_buys")]
    pub unit_buys: String,
}

/// A project as the operator asks for it, before checks.
#[derive(Debug, Clone)]
pub struct ProjectDraft {
    /// `tree`, `land`, `voucher` or `donation`.
    pub kind: String,
    /// Its title.
    pub title: String,
    /// Energy per unit in grams; a tree's defaults to its sequestration.
    pub price_grams: Option<i64>,
    /// Units on offer; land's defaults to its area, a voucher's starts at
    /// zero and grows with the codes uploaded.
    pub stock: Option<i64>,
    /// Where citizens may redeem it: ISO 3166-2 subdivisions, countries, or `*`.
    pub regions: Vec<String>,
    /// When it opens.
    pub starts_at: DateTime<Utc>,
    /// When it closes.
    pub ends_at: DateTime<Utc>,
    /// The kind's details (a JSON object).
    pub details: Value,
}

/// A project that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectSpec {
    /// Its kind.
    pub kind: ProjectKind,
    /// Its title, trimmed.
    pub title: String,
    /// Energy per unit, in grams.
    pub price_grams: i64,
    /// Units on offer.
    pub stock: i64,
    /// Where it may be redeemed.
    pub regions: Vec<String>,
    /// When it opens.
    pub starts_at: DateTime<Utc>,
    /// When it closes.
    pub ends_at: DateTime<Utc>,
    /// Its details, checked.
    pub details: ProjectDetails,
}

/// Why a project, or a field of it, is refused: the field and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InvalidProject {
    /// The field (`details.species`).
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

fn invalid(field: &str, problem: impl Into<String>) -> InvalidProject {
    InvalidProject { field: field.to_owned(), problem: problem.into() }
}

/// Checks a piece of free text: 1 to `max` characters once trimmed, no
/// control characters. Returns it trimmed.
pub fn checked_text(field: &str, text: &str, max: usize) -> Result<String, InvalidProject> {
    let trimmed = text.trim();
    let length = trimmed.chars().count();
    if length == 0 || length > max {
        return Err(invalid(field, format!("must be 1 to {max} characters")));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

/// Checks a region a project may be redeemed in: `*`, a country (`CN`) or
/// an ISO 3166-2 subdivision (`CN-BJ`).
pub fn checked_region_pattern(field: &str, text: &str) -> Result<String, InvalidProject> {
    if text == "*" {
        return Ok(text.to_owned());
    }
    RegionCode::parse_pattern(text)
        .map(|r| r.as_str().to_owned())
        .map_err(|_| invalid(field, format!("`{text}` is not `*`, a country (CN) or an ISO 3166-2 region (CN-BJ)")))
}

/// Whether a citizen of `region` may redeem a project offered in `regions`.
pub fn serves(regions: &[String], region: &str) -> bool {
    regions.iter().any(|pattern| {
        pattern == "*"
            || pattern == region
            || (pattern.len() == 2 && region.len() > 3 && region.starts_with(pattern.as_str()) && &region[2..3] == "-")
    })
}

fn details_of<T: serde::de::DeserializeOwned>(kind: ProjectKind, details: &Value) -> Result<T, InvalidProject> {
    serde_json::from_value(details.clone())
        .map_err(|e| invalid("details", format!("not the details of a {}: {e}", kind.as_str())))
}

fn subdivision(field: &str, text: &str) -> Result<String, InvalidProject> {
    RegionCode::parse(text)
        .map(|r| r.as_str().to_owned())
        .map_err(|_| invalid(field, format!("`{text}` is not an ISO 3166-2 region such as CN-NM")))
}

impl TreeDetails {
    /// Grams of CO2e one tree takes up over its life.
    pub fn sequestration_grams(&self) -> Option<i64> {
        let kg: Decimal = self.sequestration_kg.to_string().parse().ok()?;
        let grams = kg.checked_mul(Decimal::from(1000))?;
        if grams.fract() != Decimal::ZERO {
            return None;
        }
        i64::try_from(grams).ok().filter(|g| *g > 0)
    }
}

/// Checks a draft: the kind, title, dates, regions and the kind's details,
/// and settles the price and stock the kind implies. Every fault names its
/// field.
pub fn check_project(draft: &ProjectDraft) -> Result<ProjectSpec, InvalidProject> {
    let kind = ProjectKind::parse(&draft.kind)
        .ok_or_else(|| invalid("kind", format!("`{}` is not tree, land, voucher or donation", draft.kind)))?;
    let title = checked_text("title", &draft.title, TEXT_MAX)?;
    if draft.ends_at <= draft.starts_at {
        return Err(invalid("ends_at", "must be after starts_at"));
    }
    if draft.regions.is_empty() || draft.regions.len() > REGIONS_MAX {
        return Err(invalid("regions", format!("must list 1 to {REGIONS_MAX} regions (or `*`)")));
    }
    let mut regions = Vec::with_capacity(draft.regions.len());
    for (i, region) in draft.regions.iter().enumerate() {
        let region = checked_region_pattern(&format!("regions[{i}]"), region)?;
        if !regions.contains(&region) {
            regions.push(region);
        }
    }
    if !draft.details.is_object() {
        return Err(invalid("details", "must be an object"));
    }
    let (details, price_grams, stock) = match kind {
        ProjectKind::Tree => {
            let mut tree: TreeDetails = details_of(kind, &draft.details)?;
            tree.species = checked_text("details.species", &tree.species, TEXT_MAX)?;
            tree.site = checked_text("details.site", &tree.site, TEXT_MAX)?;
            tree.region = subdivision("details.region", &tree.region)?;
            let grams = tree.sequestration_grams().filter(|g| *g <= PRICE_GRAMS_MAX).ok_or_else(|| {
                invalid(
                    "details.sequestration_kg",
                    format!("must be more than 0 and at most {} kg, to the gram", PRICE_GRAMS_MAX / 1000),
                )
            })?;
            tree.sequestration_kg = Decimal::from(grams)
                .checked_div(Decimal::from(1000))
                .and_then(|kg| kg.normalize().to_string().parse().ok())
                .expect("a whole number of grams is a number of kg");
            match draft.price_grams {
                Some(price) if price != grams => {
                    return Err(invalid(
                        "price_grams",
                        format!("a tree's price is its sequestration: {grams} g, not {price}"),
                    ))
                }
                _ => {}
            }
            (ProjectDetails::Tree(tree), grams, required_stock(draft.stock)?)
        }
        ProjectKind::Land => {
            let mut land: LandDetails = details_of(kind, &draft.details)?;
            land.site = checked_text("details.site", &land.site, TEXT_MAX)?;
            land.region = land.region.as_deref().map(|r| subdivision("details.region", r)).transpose()?;
            if !(1..=STOCK_MAX).contains(&land.area_m2) {
                return Err(invalid("details.area_m2", format!("must be 1 to {STOCK_MAX} square metres")));
            }
            let stock = draft.stock.unwrap_or(land.area_m2);
            if stock > land.area_m2 {
                return Err(invalid("stock", format!("must not exceed the land's area ({} m²)", land.area_m2)));
            }
            let area = land.area_m2;
            (ProjectDetails::Land(land), required_price(draft.price_grams)?, checked_stock(stock, area)?)
        }
        ProjectKind::Voucher => {
            let mut voucher: VoucherDetails = details_of(kind, &draft.details)?;
            if crate::ids::parse_partner(&voucher.merchant_id).is_none() {
                return Err(invalid("details.merchant_id", "must be a partner id (`ptn_…`)"));
            }
            if !(1..=FACE_VALUE_FEN_MAX).contains(&voucher.face_value_fen) {
                return Err(invalid("details.face_value_fen", format!("must be 1 to {FACE_VALUE_FEN_MAX} fen")));
            }
            let expires = crate::time::parse_rfc3339_utc(&voucher.expires_at)
                .ok_or_else(|| invalid("details.expires_at", "must be an RFC 3339 time"))?;
            if expires <= draft.starts_at {
                return Err(invalid("details.expires_at", "must be after the project's starts_at"));
            }
            voucher.expires_at = expires.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            if !voucher.terms.trim().is_empty() {
                voucher.terms = checked_text("details.terms", &voucher.terms, TERMS_MAX)?;
            }
            // A voucher's stock is its codes: it starts at zero, whatever
            // the draft said, and grows with each upload.
            (ProjectDetails::Voucher(voucher), required_price(draft.price_grams)?, 0)
        }
        ProjectKind::Donation => {
            let mut donation: DonationDetails = details_of(kind, &draft.details)?;
            donation.beneficiary = checked_text("details.beneficiary", &donation.beneficiary, TEXT_MAX)?;
            donation.unit_buys = checked_text("details.unit_buys", &donation.unit_buys, TEXT_MAX)?;
            (ProjectDetails::Donation(donation), required_price(draft.price_grams)?, required_stock(draft.stock)?)
        }
    };
    Ok(ProjectSpec {
        kind,
        title,
        price_grams,
        stock,
        regions,
        starts_at: draft.starts_at,
        ends_at: draft.ends_at,
        details,
    })
}

fn required_price(price: Option<i64>) -> Result<i64, InvalidProject> {
    match price {
        Some(p) if (1..=PRICE_GRAMS_MAX).contains(&p) => Ok(p),
        _ => Err(invalid("price_grams", format!("must be 1 to {PRICE_GRAMS_MAX} grams of energy per unit"))),
    }
}

fn required_stock(stock: Option<i64>) -> Result<i64, InvalidProject> {
    checked_stock(stock.ok_or_else(|| invalid("stock", "is required"))?, STOCK_MAX)
}

fn checked_stock(stock: i64, max: i64) -> Result<i64, InvalidProject> {
    if (0..=max).contains(&stock) {
        Ok(stock)
    } else {
        Err(invalid("stock", format!("must be 0 to {max} units")))
    }
}

impl ProjectDetails {
    /// Reads stored details of a project of `kind`.
    pub fn from_stored(kind: ProjectKind, text: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(text).ok()?;
        Some(match kind {
            ProjectKind::Tree => ProjectDetails::Tree(serde_json::from_value(value).ok()?),
            ProjectKind::Land => ProjectDetails::Land(serde_json::from_value(value).ok()?),
            ProjectKind::Voucher => ProjectDetails::Voucher(serde_json::from_value(value).ok()?),
            ProjectKind::Donation => ProjectDetails::Donation(serde_json::from_value(value).ok()?),
        })
    }

    /// The stored text.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("project details serialise")
    }

    /// A voucher's face value in fen (0 for the other kinds).
    pub fn face_value_fen(&self) -> i64 {
        match self {
            ProjectDetails::Voucher(v) => v.face_value_fen,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339_utc(text).unwrap()
    }

    fn draft(kind: &str, details: Value) -> ProjectDraft {
        ProjectDraft {
            kind: kind.to_owned(),
            title: " Haloxylon in Alxa ".to_owned(),
            price_grams: None,
            stock: Some(100),
            regions: vec!["*".to_owned()],
            starts_at: at("2026-01-01T00:00:00Z"),
            ends_at: at("2027-01-01T00:00:00Z"),
            details,
        }
    }

    fn haloxylon() -> Value {
        json!({ "species": "Haloxylon ammodendron", "site": "Alxa League", "region": "CN-NM", "sequestration_kg": 17.9 })
    }

    #[test]
    fn a_trees_price_is_its_sequestration() {
        let spec = check_project(&draft("tree", haloxylon())).unwrap();
        assert_eq!(
            (spec.kind, spec.price_grams, spec.stock, spec.title.as_str()),
            (ProjectKind::Tree, 17_900, 100, "Haloxylon in Alxa")
        );
        let mut priced = draft("tree", haloxylon());
        priced.price_grams = Some(18_000);
        assert_eq!(check_project(&priced).unwrap_err().field, "price_grams");
        priced.price_grams = Some(17_900);
        assert!(check_project(&priced).is_ok());
        let fine = draft("tree", json!({ "species": "x", "site": "y", "region": "CN-NM", "sequestration_kg": 0.0005 }));
        assert_eq!(check_project(&fine).unwrap_err().field, "details.sequestration_kg", "not to the gram");
    }

    #[test]
    fn each_fault_names_its_field() {
        let cases = [
            (draft("shrub", haloxylon()), "kind"),
            (
                draft("tree", json!({ "species": "x", "site": "y", "region": "CN-XX", "sequestration_kg": 1 })),
                "details.region",
            ),
            (
                draft("tree", json!({ "species": "", "site": "y", "region": "CN-NM", "sequestration_kg": 1 })),
                "details.species",
            ),
            (draft("tree", json!({ "species": "x" })), "details"),
            (draft("tree", json!([])), "details"),
            (draft("land", json!({ "site": "x", "region": "CN-YN", "area_m2": 0 })), "details.area_m2"),
            (
                draft(
                    "voucher",
                    json!({ "merchant_id": "7", "face_value_fen": 500, "expires_at": "2027-06-01T00:00:00Z", "terms": "t" }),
                ),
                "details.merchant_id",
            ),
            (draft("donation", json!({ "beneficiary": "School", "unit_buys": "a lunch" })), "price_grams"),
        ];
        for (draft, field) in cases {
            assert_eq!(check_project(&draft).unwrap_err().field, field, "{draft:?}");
        }
        let mut backwards = draft("tree", haloxylon());
        backwards.ends_at = backwards.starts_at;
        assert_eq!(check_project(&backwards).unwrap_err().field, "ends_at");
        let mut nowhere = draft("tree", haloxylon());
        nowhere.regions = vec!["Beijing".to_owned()];
        assert_eq!(check_project(&nowhere).unwrap_err().field, "regions[0]");
    }

    #[test]
    fn land_stock_defaults_to_its_area_and_vouchers_start_empty() {
        let mut land = draft("land", json!({ "site": "Xishuangbanna", "region": "CN-YN", "area_m2": 5000 }));
        land.stock = None;
        land.price_grams = Some(300);
        assert_eq!(check_project(&land).unwrap().stock, 5000);
        land.stock = Some(6000);
        assert_eq!(check_project(&land).unwrap_err().field, "stock");
        let mut voucher = draft(
            "voucher",
            json!({ "merchant_id": "ptn_3", "face_value_fen": 500, "expires_at": "2027-06-01T08:00:00+08:00", "terms": "One per order" }),
        );
        voucher.stock = None;
        voucher.price_grams = Some(2000);
        let spec = check_project(&voucher).unwrap();
        assert_eq!(spec.stock, 0);
        assert_eq!(spec.details.face_value_fen(), 500);
        let ProjectDetails::Voucher(details) = &spec.details else { panic!() };
        assert_eq!(details.expires_at, "2027-06-01T00:00:00Z");
        let stored = spec.details.to_stored();
        assert_eq!(ProjectDetails::from_stored(ProjectKind::Voucher, &stored), Some(spec.details));
    }

    #[test]
    fn regions_match_exactly_by_country_or_everywhere() {
        let regions = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(serves(&regions(&["*"]), "DE-BE"));
        assert!(serves(&regions(&["CN"]), "CN-BJ"));
        assert!(!serves(&regions(&["CN"]), "CH-BE"));
        assert!(serves(&regions(&["CN-SH", "CN-BJ"]), "CN-BJ"));
        assert!(!serves(&regions(&["CN-SH"]), "CN-BJ"));
    }

    #[test]
    fn ended_projects_stay_ended() {
        assert!(ProjectStatus::Active.may_become(ProjectStatus::Paused));
        assert!(ProjectStatus::Paused.may_become(ProjectStatus::Active));
        assert!(!ProjectStatus::Ended.may_become(ProjectStatus::Active));
        assert!(ProjectStatus::Ended.may_become(ProjectStatus::Ended));
    }
}
