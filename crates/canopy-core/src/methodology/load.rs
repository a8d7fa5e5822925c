//! Reading a methodology file: TOML syntax, then a field-by-field walk that
//! names the field of every error.

use std::cell::RefCell;
use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use toml::{Table, Value};

use super::analysis;
use super::formula::{Formula, RESERVED};
use super::{Bound, Caps, InputKind, InputSpec, Methodology, RegionPattern};
use crate::types::{Category, RegionCode};

/// Why a methodology file is invalid. Its `Display` is one line naming the
/// file and the field (or the line and column of a TOML syntax error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct MethodologyError {
    /// The file name the caller gave.
    pub source_name: String,
    /// The field path, such as `inputs.distance_km.maximum`; `None` for TOML
    /// syntax errors and checks that involve several fields.
    pub field: Option<String>,
    /// Line and column (1-based) of a TOML syntax error.
    pub position: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl MethodologyError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        "invalid_methodology"
    }
}

impl fmt::Display for MethodologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.source_name)?;
        if let Some((line, column)) = self.position {
            write!(f, "line {line}, column {column}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

const TOP_KEYS: [&str; 14] = [
    "id",
    "version",
    "title",
    "issuer",
    "source",
    "behavior",
    "category",
    "regions",
    "valid_from",
    "valid_to",
    "supersedes",
    "inputs",
    "formula",
    "caps",
];
const INPUT_KEYS: [&str; 7] =
    ["unit", "type", "minimum", "exclusive_minimum", "maximum", "exclusive_maximum", "description"];
const FORMULA_KEYS: [&str; 2] = ["baseline", "project"];
const CAPS_KEYS: [&str; 4] = ["per_day_count", "per_day_grams", "per_month_count", "per_month_grams"];

/// The longest free-text field accepted (title, issuer, source, unit,
/// description), in characters.
const MAX_TEXT_LEN: usize = 1000;

/// Parses and validates one methodology file and analyses its formulas
/// (see [`parse_all`]), returning the first error found. `source_name` is
/// only used in error messages (and is what the registry's callers record).
pub fn parse(source_name: &str, text: &str) -> Result<Methodology> {
    parse_all(source_name, text).map_err(|mut errors| errors.swap_remove(0))
}

/// Parses and validates one methodology file, returning every error found
/// (never an empty list): each field is checked on its own, so a file with
/// three faults reports three. When the fields are valid, the formulas are
/// analysed over the inputs' bounds (division by zero, negative values, the
/// largest grams one event can yield).
pub fn parse_all(source_name: &str, text: &str) -> std::result::Result<Methodology, Vec<MethodologyError>> {
    let loader = Loader { source_name, errors: RefCell::new(Vec::new()) };
    let table: Table = toml::from_str(text).map_err(|e| vec![loader.syntax(text, &e)])?;
    let methodology = loader.methodology(&table);
    let errors = loader.errors.into_inner();
    match methodology {
        Some(m) if errors.is_empty() => Ok(m),
        _ => Err(errors),
    }
}

struct Loader<'a> {
    source_name: &'a str,
    /// Every error found so far; each field is checked on its own.
    errors: RefCell<Vec<MethodologyError>>,
}

type Result<T> = std::result::Result<T, MethodologyError>;

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string {s:?}"),
        Value::Integer(i) => format!("the integer {i}"),
        Value::Float(f) => format!("the float {f}"),
        Value::Boolean(b) => format!("the boolean {b}"),
        Value::Datetime(d) => format!("the datetime {d}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Table(_) => "a table".to_owned(),
    }
}

impl Loader<'_> {
    fn error(&self, field: Option<&str>, message: impl Into<String>) -> MethodologyError {
        MethodologyError {
            source_name: self.source_name.to_owned(),
            field: field.map(str::to_owned),
            position: None,
            message: message.into(),
        }
    }

    /// Records the error of `result`, if any, so that checking goes on.
    fn keep<T>(&self, result: Result<T>) -> Option<T> {
        result.map_err(|e| self.errors.borrow_mut().push(e)).ok()
    }

    fn field_error(&self, field: &str, message: impl Into<String>) -> MethodologyError {
        self.error(Some(field), message)
    }

    fn syntax(&self, text: &str, e: &toml::de::Error) -> MethodologyError {
        let mut message = e.message().trim().lines().map(str::trim).collect::<Vec<_>>().join("; ");
        if message.is_empty() {
            let at_end = e.span().is_some_and(|span| text[span.start.min(text.len())..].trim().is_empty());
            message = if at_end { "unexpected end of file" } else { "syntax error" }.to_owned();
        }
        let position = e.span().map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            (line, before[line_start..].chars().count() + 1)
        });
        MethodologyError {
            source_name: self.source_name.to_owned(),
            field: None,
            position,
            message: format!("invalid TOML: {message}"),
        }
    }

    /// Records one error per unknown key.
    fn deny_unknown(&self, table: &Table, prefix: &str, allowed: &[&str]) {
        for key in table.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.keep::<()>(Err(self.field_error(
                &format!("{prefix}{key}"),
                format!("unknown key (expected one of: {})", allowed.join(", ")),
            )));
        }
    }

    fn required<'t>(&self, table: &'t Table, key: &str, path: &str) -> Result<&'t Value> {
        table.get(key).ok_or_else(|| self.field_error(path, "missing"))
    }

    fn string<'t>(&self, value: &'t Value, path: &str) -> Result<&'t str> {
        value.as_str().ok_or_else(|| self.field_error(path, format!("expected a string, found {}", describe(value))))
    }

    fn text(&self, value: &Value, path: &str) -> Result<String> {
        let s = self.string(value, path)?.trim();
        if s.is_empty() {
            return Err(self.field_error(path, "must not be empty"));
        }
        if s.chars().count() > MAX_TEXT_LEN {
            return Err(self.field_error(path, format!("longer than {MAX_TEXT_LEN} characters")));
        }
        Ok(s.to_owned())
    }

    fn identifier(
        &self,
        value: &Value,
        path: &str,
        min: usize,
        max: usize,
        allowed: fn(u8) -> bool,
        what: &str,
    ) -> Result<String> {
        let s = self.string(value, path)?;
        let len = s.len();
        if len < min || len > max || !s.bytes().all(allowed) {
            return Err(self.field_error(path, format!("`{s}` is not {what}, {min} to {max} characters")));
        }
        Ok(s.to_owned())
    }

    fn date(&self, value: &Value, path: &str) -> Result<NaiveDate> {
        let bad = || self.field_error(path, format!("expected a date such as 2023-01-01, found {}", describe(value)));
        match value {
            Value::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
                (Some(d), None, None) => {
                    NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day)).ok_or_else(bad)
                }
                _ => Err(bad()),
            },
            Value::String(s) => {
                let shape_ok = s.len() == 10
                    && s.bytes().enumerate().all(
                        |(i, b)| {
                            if i == 4 || i == 7 {
                                b == b'-'
                            } else {
                                b.is_ascii_digit()
                            }
                        },
                    );
                if !shape_ok {
                    return Err(bad());
                }
                NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    }

    fn decimal(&self, value: &Value, path: &str) -> Result<Decimal> {
        match value {
            Value::Integer(i) => Ok(Decimal::from(*i)),
            Value::Float(f) if f.is_finite() => Decimal::from_str_exact(&f.to_string())
                .map_err(|_| self.field_error(path, format!("{f} cannot be represented as an exact decimal"))),
            _ => Err(self.field_error(path, format!("expected a number, found {}", describe(value)))),
        }
    }

    /// Checks every field, recording each error; `None` when any failed.
    fn methodology(&self, table: &Table) -> Option<Methodology> {
        self.deny_unknown(table, "", &TOP_KEYS);
        let id = self.keep(self.required(table, "id", "id").and_then(|v| {
            self.identifier(
                v,
                "id",
                3,
                64,
                |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-',
                "an id of lower-case letters, digits and `-`",
            )
        }));
        let version = self.keep(self.required(table, "version", "version").and_then(|v| self.version(v, "version")));
        let title = self.keep(self.required(table, "title", "title").and_then(|v| self.text(v, "title")));
        let issuer = self.keep(self.required(table, "issuer", "issuer").and_then(|v| self.text(v, "issuer")));
        let source = self.keep(self.required(table, "source", "source").and_then(|v| self.text(v, "source")));
        let behavior = self.keep(self.required(table, "behavior", "behavior").and_then(|v| {
            self.identifier(
                v,
                "behavior",
                1,
                64,
                |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_',
                "a behavior code of lower-case letters, digits and `_`",
            )
        }));
        let category = self.keep(self.required(table, "category", "category").and_then(|v| {
            self.string(v, "category")?
                .parse::<Category>()
                .map_err(|e: crate::types::UnknownCategory| self.field_error("category", e.to_string()))
        }));
        let regions = self.keep(self.required(table, "regions", "regions").and_then(|v| self.regions(v)));
        let valid_from =
            self.keep(self.required(table, "valid_from", "valid_from").and_then(|v| self.date(v, "valid_from")));
        let valid_to = match table.get("valid_to") {
            None => Some(None),
            Some(v) => self.keep(self.date(v, "valid_to")).map(Some),
        };
        if let (Some(from), Some(Some(to))) = (valid_from, valid_to) {
            if to < from {
                self.keep::<()>(Err(self.error(None, format!("valid_to {to} is before valid_from {from}"))));
            }
        }
        let supersedes = match table.get("supersedes") {
            None => Some(None),
            Some(v) => self.keep(self.supersedes(v)).map(Some),
        };
        if let (Some(Some(old)), Some(new)) = (&supersedes, &version) {
            if old.rsplit('@').next() == Some(new.as_str()) {
                self.keep::<()>(Err(self.field_error("supersedes", format!("version {new} cannot supersede itself"))));
            }
        }
        let (inputs, names) = match table.get("inputs") {
            None => (Some(Vec::new()), Vec::new()),
            Some(Value::Table(inputs)) => {
                let specs: Vec<Option<InputSpec>> = inputs.iter().map(|(name, spec)| self.input(name, spec)).collect();
                // Formulas are checked against every declared name, even of
                // an input whose declaration has an error, so that one fault
                // is reported once.
                let names: Vec<&str> = inputs.keys().map(String::as_str).collect();
                let specs = specs.into_iter().collect::<Option<Vec<_>>>().map(|mut specs| {
                    specs.sort_by(|a, b| a.name.cmp(&b.name));
                    specs
                });
                (specs, names)
            }
            Some(other) => {
                self.keep::<()>(
                    Err(self.field_error("inputs", format!("expected a table, found {}", describe(other)))),
                );
                (None, Vec::new())
            }
        };
        let zero = || Formula::parse("0", &names).ok();
        let (baseline_field, baseline, project) = match table.get("formula") {
            None => {
                self.keep::<()>(Err(self.field_error("formula", "missing")));
                ("formula", None, None)
            }
            // `formula = "<expression>"` is shorthand for a baseline with no
            // project emissions: the reduction itself, as published.
            Some(value @ Value::String(_)) => ("formula", self.keep(self.formula(value, "formula", &names)), zero()),
            Some(Value::Table(formula)) => {
                self.deny_unknown(formula, "formula.", &FORMULA_KEYS);
                let baseline = self.keep(
                    self.required(formula, "baseline", "formula.baseline")
                        .and_then(|v| self.formula(v, "formula.baseline", &names)),
                );
                let project = match formula.get("project") {
                    None => zero(),
                    Some(v) => self.keep(self.formula(v, "formula.project", &names)),
                };
                ("formula.baseline", baseline, project)
            }
            Some(other) => {
                self.keep::<()>(Err(
                    self.field_error("formula", format!("expected a table or a string, found {}", describe(other)))
                ));
                ("formula", None, None)
            }
        };
        let caps = match table.get("caps") {
            None => Some(Caps::default()),
            Some(Value::Table(t)) => self.caps(t),
            Some(other) => {
                self.keep::<()>(Err(self.field_error("caps", format!("expected a table, found {}", describe(other)))));
                None
            }
        };
        let mut methodology = Methodology {
            id: id?,
            version: version?,
            title: title?,
            issuer: issuer?,
            source: source?,
            behavior: behavior?,
            category: category?,
            regions: regions?,
            valid_from: valid_from?,
            valid_to: valid_to?,
            supersedes: supersedes?,
            inputs: inputs?,
            baseline: baseline?,
            project: project?,
            caps: caps?,
            grams_max: 0,
        };
        if !self.errors.borrow().is_empty() {
            return None;
        }
        match analysis::grams_max(&methodology, baseline_field) {
            Ok(grams_max) => methodology.grams_max = grams_max,
            Err(findings) => {
                for f in findings {
                    self.keep::<()>(Err(self.field_error(&f.field, f.message)));
                }
                return None;
            }
        }
        Some(methodology)
    }

    /// `supersedes`: a version of the same id, or `id@version`.
    fn supersedes(&self, value: &Value) -> Result<String> {
        let text = self.string(value, "supersedes")?;
        let (id, version) = text.split_once('@').unwrap_or(("xxx", text));
        let id_ok = (3..=64).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(self.field_error("supersedes", format!("`{text}` is not a version or `id@version`")));
        }
        self.version(&Value::String(version.to_owned()), "supersedes")?;
        Ok(text.to_owned())
    }

    fn version(&self, value: &Value, path: &str) -> Result<String> {
        self.identifier(
            value,
            path,
            1,
            32,
            |b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-',
            "a version of letters, digits, `.` and `-`",
        )
    }

    fn regions(&self, value: &Value) -> Result<Vec<RegionPattern>> {
        let Value::Array(items) = value else {
            return Err(
                self.field_error("regions", format!("expected an array of region codes, found {}", describe(value)))
            );
        };
        if items.is_empty() {
            return Err(self.field_error("regions", "must not be empty; use [\"*\"] for everywhere"));
        }
        let mut regions = Vec::with_capacity(items.len());
        for item in items {
            let s = self.string(item, "regions")?;
            let pattern = if s == "*" {
                RegionPattern::Any
            } else {
                RegionPattern::Exact(
                    RegionCode::parse_pattern(s).map_err(|e| self.field_error("regions", e.to_string()))?,
                )
            };
            if regions.contains(&pattern) {
                return Err(self.field_error("regions", format!("`{s}` is listed twice")));
            }
            regions.push(pattern);
        }
        if regions.len() > 1 && regions.contains(&RegionPattern::Any) {
            return Err(self.field_error("regions", "`*` already means everywhere; it must be the only region"));
        }
        Ok(regions)
    }

    fn input(&self, name: &str, value: &Value) -> Option<InputSpec> {
        let path = format!("inputs.{name}");
        let name_ok = name.len() <= 64
            && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return self.keep(Err(self.field_error(
                &path,
                format!("`{name}` is not an input name: a lower-case letter, then lower-case letters, digits and `_`, at most 64 characters"),
            )));
        }
        if RESERVED.contains(&name) {
            return self.keep(Err(self.field_error(&path, format!("`{name}` is reserved by the formula language"))));
        }
        let Value::Table(spec) = value else {
            return self.keep(Err(self.field_error(&path, format!("expected a table, found {}", describe(value)))));
        };
        self.deny_unknown(spec, &format!("{path}."), &INPUT_KEYS);
        let unit_path = format!("{path}.unit");
        let unit = self.keep(self.required(spec, "unit", &unit_path).and_then(|v| self.text(v, &unit_path)));
        let kind_path = format!("{path}.type");
        let kind = self.keep(self.required(spec, "type", &kind_path).and_then(|v| match self.string(v, &kind_path)? {
            "number" => Ok(InputKind::Number),
            "integer" => Ok(InputKind::Integer),
            other => Err(
                self.field_error(&kind_path, format!("`{other}` is not a type; expected \"number\" or \"integer\"")),
            ),
        }));
        let bound = |inclusive: &str, exclusive: &str| -> Result<Option<(Bound, String)>> {
            match (spec.get(inclusive), spec.get(exclusive)) {
                (Some(_), Some(_)) => {
                    Err(self.field_error(&path, format!("both {inclusive} and {exclusive} given; use one")))
                }
                (Some(v), None) => {
                    let value = self.decimal(v, &format!("{path}.{inclusive}"))?;
                    Ok(Some((Bound { value, exclusive: false }, inclusive.to_owned())))
                }
                (None, Some(v)) => {
                    let value = self.decimal(v, &format!("{path}.{exclusive}"))?;
                    Ok(Some((Bound { value, exclusive: true }, exclusive.to_owned())))
                }
                (None, None) => Ok(None),
            }
        };
        let minimum = self.keep(bound("minimum", "exclusive_minimum"));
        let maximum = self.keep(bound("maximum", "exclusive_maximum").and_then(|maximum| {
            // The load-time analysis needs a finite range for every input:
            // without it no methodology's largest credit is known.
            maximum.map(Some).ok_or_else(|| {
                self.field_error(
                    &format!("{path}.maximum"),
                    "missing: every input needs an upper bound (maximum or exclusive_maximum)",
                )
            })
        }));
        if let (Some(Some((lo, lo_name))), Some(Some((hi, hi_name)))) = (&minimum, &maximum) {
            let (lo_v, hi_v) = (lo.value.normalize(), hi.value.normalize());
            if lo.value > hi.value {
                self.keep::<()>(Err(
                    self.field_error(&path, format!("{lo_name} {lo_v} is greater than {hi_name} {hi_v}"))
                ));
                return None;
            }
            if lo.value == hi.value && (lo.exclusive || hi.exclusive) {
                self.keep::<()>(Err(
                    self.field_error(&path, format!("{lo_name} {lo_v} and {hi_name} {hi_v} leave no valid value"))
                ));
                return None;
            }
        }
        let description = match spec.get("description") {
            None => Some(None),
            Some(v) => self.keep(self.text(v, &format!("{path}.description"))).map(Some),
        };
        Some(InputSpec {
            name: name.to_owned(),
            unit: unit?,
            kind: kind?,
            minimum: minimum?.map(|(b, _)| b),
            maximum: maximum?.map(|(b, _)| b),
            description: description?,
        })
    }

    fn formula(&self, value: &Value, path: &str, inputs: &[&str]) -> Result<Formula> {
        let src = self.string(value, path)?;
        Formula::parse(src, inputs).map_err(|e| self.field_error(path, e.to_string()))
    }

    /// Checks every cap, recording each error; `None` when any failed.
    fn caps(&self, table: &Table) -> Option<Caps> {
        self.deny_unknown(table, "caps.", &CAPS_KEYS);
        let positive = |key: &str| -> Result<Option<i64>> {
            let path = format!("caps.{key}");
            match table.get(key) {
                None => Ok(None),
                Some(Value::Integer(i)) if *i > 0 => Ok(Some(*i)),
                Some(v) => Err(self.field_error(&path, format!("expected a positive integer, found {}", describe(v)))),
            }
        };
        let count = |key: &str| -> Result<Option<u32>> {
            positive(key)?
                .map(|n| {
                    u32::try_from(n)
                        .map_err(|_| self.field_error(&format!("caps.{key}"), format!("{n} is more than {}", u32::MAX)))
                })
                .transpose()
        };
        let per_day_count = self.keep(count("per_day_count"));
        let per_day_grams = self.keep(positive("per_day_grams"));
        let per_month_count = self.keep(count("per_month_count"));
        let per_month_grams = self.keep(positive("per_month_grams"));
        Some(Caps {
            per_day_count: per_day_count?,
            per_day_grams: per_day_grams?,
            per_month_count: per_month_count?,
            per_month_grams: per_month_grams?,
        })
    }
}
