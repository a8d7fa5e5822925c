//! The methodology registry: declarative, versioned methodology files, the
//! formula language they are written in, and the matching of a reported act
//! to the methodology in force for its region and date.
//!
//! Nothing is credited without a methodology. Each one is a TOML file that a
//! methodology authority publishes under an `id` and a `version`; a published
//! version never changes, and every credit names the `id@version` that
//! produced it. This module does no I/O: callers pass file names and texts.
//!
//! # File format
//!
//! This format is a contract with methodology authors and partners.
//!
//! ```toml
//! id = "cn-bj-shared-bike"            # [a-z0-9-]+, 3..=64 characters
//! version = "1.0"                     # [0-9A-Za-z.-]+, 1..=32 characters
//! title = "Shared bicycle ride (Beijing)"
//! issuer = "Beijing Municipal Ecology and Environment Bureau"
//! source = "Beijing personal carbon ledger: 250 g CO2e per km"
//! behavior = "shared_bike"            # [a-z0-9_]+, 1..=64 characters
//! category = "transport"              # clothing, food, housing, transport, use, office, digital_finance
//! regions = ["CN-BJ"]                 # ISO 3166 codes, or ["*"]; non-empty, no duplicates, "*" only alone
//! valid_from = 2023-01-01             # a TOML local date, or a "YYYY-MM-DD" string
//! # valid_to = 2030-12-31             # optional, inclusive; not before valid_from
//! # supersedes = "0.9"               # optional: a version of this id (or "id@version");
//! #                                   #   from valid_from, it no longer matches events
//!
//! [inputs.distance_km]                # input names: [a-z][a-z0-9_]*, not a keyword or function name
//! unit = "km"                         # required, free text
//! type = "number"                     # "number" or "integer"
//! exclusive_minimum = 0               # optional bounds, JSON-Schema names: minimum or
//! maximum = 100                       #   exclusive_minimum; maximum or exclusive_maximum (required)
//! description = "Ride distance"       # optional
//!
//! [formula]
//! baseline = "250 * distance_km"      # grams CO2e the baseline activity would emit
//! project = "0"                       # grams CO2e the low-carbon activity emits (default "0")
//! # or, in one line: formula = "250 * distance_km"  (a baseline with no project emissions)
//!
//! [caps]                              # optional; each key optional; positive integers
//! per_day_count = 10                  # credited acts per citizen per day
//! per_day_grams = 296                 # grams per citizen per day
//! per_month_count = 10
//! per_month_grams = 5000
//! ```
//!
//! Unknown keys are errors everywhere, as are wrong types, a missing required
//! key, both `minimum` and `exclusive_minimum` (or both maxima), bounds that
//! leave no valid value, a zero cap, `valid_to` before `valid_from` and a
//! formula that does not parse. Every error names the source file and the
//! field, e.g. ``methodologies/bike.toml: formula.baseline: unknown input
//! `distanse_km` (declared inputs: distance_km) at column 7``; TOML syntax
//! errors give the line and column instead.
//!
//! Every error of a file is reported, each field checked on its own
//! ([`parse_all`]). When the fields are valid, the formulas are analysed over
//! the inputs' bounds with interval arithmetic (see `analysis`): a formula
//! that can divide by zero or overflow there is refused, as is one that a
//! point within the bounds makes negative; the largest grams one event can
//! yield becomes [`Methodology::grams_max`], which a [`Registry`] compares
//! with its per-event cap.
//!
//! # Credited grams
//!
//! A methodology credits `baseline − project`, floored to whole grams (the
//! conservative direction) and clamped at zero: a negative reduction credits
//! nothing. Every declared input is required; inputs are checked against
//! their type and bounds before the formula runs.
//!
//! # Formula language
//!
//! A small expression language, parsed by hand and evaluated with exact
//! decimal arithmetic ([`rust_decimal`]: 96-bit integers scaled by a power of
//! ten, so `45.72` and `0.1 + 0.2` are exact; a division that does not
//! terminate is rounded at 28 digits). Binary operators are
//! left-associative; `*` and `/` bind tighter than `+` and `-`:
//!
//! ```text
//! formula    := or
//! or         := and ( "||" and )*
//! and        := comparison ( "&&" comparison )*
//! comparison := additive ( ( "<" | "<=" | ">" | ">=" | "==" | "!=" ) additive )?
//! additive   := term ( ( "+" | "-" ) term )*
//! term       := unary ( ( "*" | "/" ) unary )*
//! unary      := "-" unary | "!" unary | primary
//! primary    := NUMBER | INPUT | FUNCTION "(" or ( "," or )* ")" | "(" or ")" | if
//! if         := "if" or "{" or "}" "else" ( if | "{" or "}" )
//! NUMBER     := [0-9]+ ( "." [0-9]+ )?
//! FUNCTION   := min | max (two or more arguments) | floor | ceil | round (one argument)
//! ```
//!
//! Types are checked at load: a formula and every operand of an arithmetic
//! operator, function and `if` branch is a number; the condition of `if` and
//! the operands of `&&`, `||` and `!` are conditions (a comparison); a number
//! is never a condition and a condition is never a number. Comparisons do not
//! chain. `round` rounds half away from zero. `&&` and `||` short-circuit.
//! Load-time errors carry the column; the source is limited to 4 KiB and the
//! nesting (parentheses, calls, `if`, unary operators) to 64 levels. At
//! evaluation, division by zero and overflow are [`EvaluationError::Arithmetic`],
//! never a panic.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::types::{Category, Grams, RegionCode};

mod analysis;
mod draft;
mod formula;
mod load;
mod registry;
#[cfg(test)]
mod tests;
mod worked;

pub use draft::{next_version, superseding_draft};
pub use formula::{Formula, FormulaError, Interval, MAX_DEPTH, MAX_SOURCE_LEN};
pub use load::{parse, parse_all, MethodologyError};
pub use registry::{
    check_sources, shipped, shipped_sources, Added, Registry, RegistryError, Supersession, DEFAULT_EVENT_GRAMS_MAX,
};

/// A validated methodology: how one behaviour is quantified in some regions
/// during some dates.
///
/// Equality is content equality; it is used to refuse re-publishing different
/// content under the same `id@version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Methodology {
    /// Stable identifier, `[a-z0-9-]+`.
    pub id: String,
    /// Version, `[0-9A-Za-z.-]+`; a published version never changes.
    pub version: String,
    /// Human-readable title.
    pub title: String,
    /// The authority that published the method.
    pub issuer: String,
    /// Where the figures come from.
    pub source: String,
    /// The behaviour code partners report, such as `shared_bike`.
    pub behavior: String,
    /// The behaviour's category (consent scope).
    pub category: Category,
    /// Where the methodology applies.
    pub regions: Vec<RegionPattern>,
    /// First day in force.
    pub valid_from: NaiveDate,
    /// Last day in force (inclusive); `None` = open-ended.
    pub valid_to: Option<NaiveDate>,
    /// The version of the same id this one supersedes, if any: from this
    /// version's `valid_from`, the superseded one no longer matches.
    pub supersedes: Option<String>,
    /// Declared inputs, sorted by name.
    pub inputs: Vec<InputSpec>,
    /// Grams CO2e the baseline activity would emit.
    pub baseline: Formula,
    /// Grams CO2e the low-carbon activity emits.
    pub project: Formula,
    /// Per-citizen caps.
    pub caps: Caps,
    /// The largest grams one event can yield, found at load by evaluating
    /// the formulas over the inputs' bounds (see `analysis`). A registry
    /// refuses a methodology whose maximum exceeds its per-event cap, and
    /// evaluation refuses a result above it.
    pub grams_max: Grams,
}

/// A region a methodology applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RegionPattern {
    /// Everywhere (`"*"`).
    Any,
    /// One ISO 3166 code. A country code (`CN`) also matches its
    /// subdivisions (`CN-BJ`), less specifically.
    Exact(RegionCode),
}

impl RegionPattern {
    /// How specifically this pattern matches `region`: `Some(2)` for the same
    /// code, `Some(1)` for a country pattern matching one of its
    /// subdivisions, `Some(0)` for `*`, `None` for no match.
    pub fn specificity(&self, region: &RegionCode) -> Option<u8> {
        match self {
            RegionPattern::Any => Some(0),
            RegionPattern::Exact(code) if code == region => Some(2),
            RegionPattern::Exact(code) => {
                let country = code.as_str();
                let is_country = !country.contains('-');
                let within = region.as_str().strip_prefix(country).is_some_and(|rest| rest.starts_with('-'));
                (is_country && within).then_some(1)
            }
        }
    }
}

impl fmt::Display for RegionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionPattern::Any => f.write_str("*"),
            RegionPattern::Exact(code) => f.write_str(code.as_str()),
        }
    }
}

impl Serialize for RegionPattern {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A declared input of a methodology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputSpec {
    /// The name used in formulas and in reported events.
    pub name: String,
    /// The unit, such as `km`.
    pub unit: String,
    /// Number or integer.
    pub kind: InputKind,
    /// Lower bound, if any.
    pub minimum: Option<Bound>,
    /// Upper bound, if any.
    pub maximum: Option<Bound>,
    /// What the input means.
    pub description: Option<String>,
}

impl InputSpec {
    /// The accepted range written with `x`, such as `0 < x <= 100`, or
    /// `None` when the input is unbounded.
    pub fn bounds_text(&self) -> Option<String> {
        let op = |b: &Bound| if b.exclusive { "<" } else { "<=" };
        match (&self.minimum, &self.maximum) {
            (None, None) => None,
            (Some(lo), Some(hi)) => {
                Some(format!("{} {} x {} {}", lo.value.normalize(), op(lo), op(hi), hi.value.normalize()))
            }
            (Some(lo), None) => Some(format!("x {} {}", if lo.exclusive { ">" } else { ">=" }, lo.value.normalize())),
            (None, Some(hi)) => Some(format!("x {} {}", op(hi), hi.value.normalize())),
        }
    }

    /// Whether `value` satisfies both bounds.
    pub fn within_bounds(&self, value: Decimal) -> bool {
        let above = self.minimum.as_ref().is_none_or(|b| if b.exclusive { value > b.value } else { value >= b.value });
        let below = self.maximum.as_ref().is_none_or(|b| if b.exclusive { value < b.value } else { value <= b.value });
        above && below
    }
}

/// One bound of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bound {
    /// The bound's value (serialized as a decimal string).
    #[serde(serialize_with = "serialize_decimal")]
    pub value: Decimal,
    /// Whether the bound itself is excluded.
    pub exclusive: bool,
}

fn serialize_decimal<S: serde::Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&value.normalize())
}

/// The type of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// Any decimal number.
    Number,
    /// A whole number.
    Integer,
}

impl InputKind {
    /// The name used in methodology files: `number` or `integer`.
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Number => "number",
            InputKind::Integer => "integer",
        }
    }
}

/// Per-citizen caps of a methodology. The default is no caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Caps {
    /// At most this many credited acts a day.
    pub per_day_count: Option<u32>,
    /// At most this many grams a day.
    pub per_day_grams: Option<i64>,
    /// At most this many credited acts a month.
    pub per_month_count: Option<u32>,
    /// At most this many grams a month.
    pub per_month_grams: Option<i64>,
}

impl Caps {
    /// Whether no cap is set.
    pub fn is_empty(&self) -> bool {
        *self == Caps::default()
    }
}

/// Why a methodology could not evaluate a reported act.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationError {
    /// A declared input is absent.
    #[error("missing input `{input}`")]
    MissingInput {
        /// The input's name.
        input: String,
    },
    /// The act carries an input the methodology does not declare.
    #[error("unknown input `{input}`")]
    UnknownInput {
        /// The input's name.
        input: String,
    },
    /// The input is not a number, or not an integer where one is required.
    #[error("invalid input `{input}`: {reason}")]
    InvalidInput {
        /// The input's name.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The input is outside its declared bounds.
    #[error("{input} = {value} is outside {bounds}")]
    OutOfBounds {
        /// The input's name.
        input: String,
        /// The value given.
        value: Decimal,
        /// The accepted range, such as `0 < x <= 100`.
        bounds: String,
    },
    /// Division by zero or overflow.
    #[error("formula error: {message}")]
    Arithmetic {
        /// What went wrong.
        message: String,
    },
}

impl EvaluationError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            EvaluationError::MissingInput { .. } => "missing_input",
            EvaluationError::UnknownInput { .. } => "unknown_input",
            EvaluationError::InvalidInput { .. } => "invalid_input",
            EvaluationError::OutOfBounds { .. } => "input_out_of_bounds",
            EvaluationError::Arithmetic { .. } => "formula_error",
        }
    }
}

impl Methodology {
    /// `id@version`, the name every credit records.
    pub fn key(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }

    /// The whole formula as shown to citizens, such as
    /// `floor((250 * distance_km) - (0))`. (The result is also never below
    /// zero.)
    pub fn formula_text(&self) -> String {
        let tidy = |f: &Formula| f.source().split_whitespace().collect::<Vec<_>>().join(" ");
        format!("floor(({}) - ({}))", tidy(&self.baseline), tidy(&self.project))
    }

    /// Checks the reported inputs and computes the grams credited:
    /// `max(0, floor(baseline − project))`.
    pub fn evaluate(&self, inputs: &serde_json::Map<String, serde_json::Value>) -> Result<Grams, EvaluationError> {
        let values = self.check_inputs(inputs)?;
        self.evaluate_values(&values)
    }

    /// Validates reported inputs against the declarations and converts them
    /// to exact decimals (from the JSON number's text, never through `f64`
    /// arithmetic).
    pub fn check_inputs(
        &self,
        inputs: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<BTreeMap<String, Decimal>, EvaluationError> {
        if let Some(unknown) = inputs.keys().find(|k| !self.inputs.iter().any(|i| &i.name == *k)) {
            return Err(EvaluationError::UnknownInput { input: unknown.clone() });
        }
        let mut values = BTreeMap::new();
        for spec in &self.inputs {
            let input = || spec.name.clone();
            let value = inputs.get(&spec.name).ok_or_else(|| EvaluationError::MissingInput { input: input() })?;
            let invalid = |reason: String| EvaluationError::InvalidInput { input: input(), reason };
            let number = match value {
                serde_json::Value::Number(n) => n,
                serde_json::Value::Null => return Err(invalid("expected a number, got null".to_owned())),
                serde_json::Value::Bool(_) => return Err(invalid("expected a number, got a boolean".to_owned())),
                serde_json::Value::String(_) => return Err(invalid("expected a number, got a string".to_owned())),
                serde_json::Value::Array(_) => return Err(invalid("expected a number, got an array".to_owned())),
                serde_json::Value::Object(_) => return Err(invalid("expected a number, got an object".to_owned())),
            };
            let decimal = json_number_to_decimal(number)
                .ok_or_else(|| invalid(format!("{number} cannot be represented as an exact decimal")))?;
            if spec.kind == InputKind::Integer && !decimal.is_integer() {
                return Err(invalid(format!("expected an integer, got {number}")));
            }
            if !spec.within_bounds(decimal) {
                return Err(EvaluationError::OutOfBounds {
                    input: input(),
                    value: decimal.normalize(),
                    bounds: spec.bounds_text().unwrap_or_default(),
                });
            }
            values.insert(spec.name.clone(), decimal);
        }
        Ok(values)
    }

    /// Computes `max(0, floor(baseline − project))` from checked values.
    pub fn evaluate_values(&self, values: &BTreeMap<String, Decimal>) -> Result<Grams, EvaluationError> {
        let baseline = self.baseline.evaluate(values)?;
        let project = self.project.evaluate(values)?;
        let reduction = baseline
            .checked_sub(project)
            .ok_or_else(|| EvaluationError::Arithmetic { message: "arithmetic overflow".to_owned() })?
            .floor();
        if reduction <= Decimal::ZERO {
            return Ok(0);
        }
        // The analysis bounds every result by `grams_max`; a result above it
        // would mean the analysis is wrong, and is refused rather than
        // credited or wrapped.
        match reduction.to_i64() {
            Some(grams) if grams <= self.grams_max => Ok(grams),
            _ => Err(EvaluationError::Arithmetic {
                message: format!(
                    "the result {reduction} g is above this methodology's maximum of {} g",
                    self.grams_max
                ),
            }),
        }
    }

    /// How specifically the methodology's regions match `region`: `None` =
    /// no match; `Some(2)` the exact code, `Some(1)` a country pattern (`CN`
    /// matching `CN-BJ`), `Some(0)` `*`.
    pub fn matches_region(&self, region: &RegionCode) -> Option<u8> {
        self.regions.iter().filter_map(|p| p.specificity(region)).max()
    }

    /// Whether the methodology is in force on `date` (both ends inclusive).
    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && self.valid_to.is_none_or(|to| date <= to)
    }
}

/// Converts a JSON number exactly, from its decimal text.
fn json_number_to_decimal(number: &serde_json::Number) -> Option<Decimal> {
    let text = number.to_string();
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(&text).ok()
    } else {
        Decimal::from_str_exact(&text).ok()
    }
}

/// Deserialises an event's `inputs` object, refusing a key given twice
/// (serde_json keeps the last one silently, so a partner could send a
/// checked value and a different one). Numbers keep their text
/// (serde_json's `arbitrary_precision`), so bounds are checked exactly.
pub fn deserialize_inputs<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<serde_json::Map<String, serde_json::Value>, D::Error> {
    struct Inputs;
    impl<'de> serde::de::Visitor<'de> for Inputs {
        type Value = serde_json::Map<String, serde_json::Value>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of inputs")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut map = serde_json::Map::new();
            while let Some(key) = access.next_key::<String>()? {
                if map.contains_key(&key) {
                    return Err(serde::de::Error::custom(format_args!("duplicate key `{key}` in inputs")));
                }
                let value = access.next_value()?;
                map.insert(key, value);
            }
            Ok(map)
        }
    }
    deserializer.deserialize_map(Inputs)
}
