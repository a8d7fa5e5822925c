//! Reading a medal file: TOML syntax, then a field-by-field walk that
//! names the field of every error (in the style of methodology loading).

use std::cell::RefCell;
use std::fmt;

use toml::{Table, Value};

use super::{Medal, MedalPeriod, MedalRule};
use crate::types::Category;

/// Why a medal file is invalid. Its `Display` is one line naming the file
/// and the field (or the line and column of a TOML syntax error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct MedalError {
    /// The file name the caller gave.
    pub source_name: String,
    /// The field path, such as `rule.at_least`; `None` for TOML syntax errors.
    pub field: Option<String>,
    /// Line and column (1-based) of a TOML syntax error.
    pub position: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl MedalError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        "invalid_medal"
    }
}

impl fmt::Display for MedalError {
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

const TOP_KEYS: [&str; 5] = ["id", "title", "description", "period", "rule"];
const RULE_KEYS: [&str; 4] = ["kind", "category", "behavior", "at_least"];
const KINDS: [&str; 5] = ["reduction_grams", "acts", "streak_days", "energy_collected_grams", "challenges_completed"];
/// The longest title, in characters.
const TITLE_CHARS_MAX: usize = 100;
/// The longest description, in characters.
const DESCRIPTION_CHARS_MAX: usize = 1000;

/// Parses and validates one medal file, returning the first error found.
/// `source_name` is only used in error messages.
pub fn parse(source_name: &str, text: &str) -> Result<Medal, MedalError> {
    parse_all(source_name, text).map_err(|mut errors| errors.swap_remove(0))
}

/// Parses and validates one medal file, returning every error found (never
/// an empty list): each field is checked on its own.
pub fn parse_all(source_name: &str, text: &str) -> Result<Medal, Vec<MedalError>> {
    let loader = Loader { source_name, errors: RefCell::new(Vec::new()) };
    let table: Table = toml::from_str(text).map_err(|e| vec![loader.syntax(text, &e)])?;
    let medal = loader.medal(&table);
    let errors = loader.errors.into_inner();
    match medal {
        Some(medal) if errors.is_empty() => Ok(medal),
        _ => Err(errors),
    }
}

struct Loader<'a> {
    source_name: &'a str,
    /// Every error found so far.
    errors: RefCell<Vec<MedalError>>,
}

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
    /// Records an error at `field`; returns `None` so callers can `?` on it.
    fn refuse<T>(&self, field: &str, message: impl Into<String>) -> Option<T> {
        self.errors.borrow_mut().push(MedalError {
            source_name: self.source_name.to_owned(),
            field: Some(field.to_owned()),
            position: None,
            message: message.into(),
        });
        None
    }

    fn syntax(&self, text: &str, e: &toml::de::Error) -> MedalError {
        let mut message = e.message().trim().lines().map(str::trim).collect::<Vec<_>>().join("; ");
        if message.is_empty() {
            message = "syntax error".to_owned();
        }
        let position = e.span().map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            (line, before[line_start..].chars().count() + 1)
        });
        MedalError {
            source_name: self.source_name.to_owned(),
            field: None,
            position,
            message: format!("invalid TOML: {message}"),
        }
    }

    fn deny_unknown(&self, table: &Table, prefix: &str, allowed: &[&str]) {
        for key in table.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.refuse::<()>(
                &format!("{prefix}{key}"),
                format!("unknown key (expected one of: {})", allowed.join(", ")),
            );
        }
    }

    fn string<'t>(&self, table: &'t Table, key: &str, path: &str) -> Option<&'t str> {
        match table.get(key) {
            None => self.refuse(path, "missing"),
            Some(Value::String(s)) => Some(s),
            Some(other) => self.refuse(path, format!("expected a string, found {}", describe(other))),
        }
    }

    fn text(&self, table: &Table, key: &str, max_chars: usize) -> Option<String> {
        let s = self.string(table, key, key)?.trim();
        if s.is_empty() {
            return self.refuse(key, "must not be empty");
        }
        if s.chars().count() > max_chars {
            return self.refuse(key, format!("longer than {max_chars} characters"));
        }
        Some(s.to_owned())
    }

    fn medal(&self, table: &Table) -> Option<Medal> {
        self.deny_unknown(table, "", &TOP_KEYS);
        let id = self.string(table, "id", "id").and_then(|id| {
            let ok = (3..=64).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if ok {
                Some(id.to_owned())
            } else {
                self.refuse(
                    "id",
                    format!("`{id}` is not an id of lower-case letters, digits and `-`, 3 to 64 characters"),
                )
            }
        });
        let title = self.text(table, "title", TITLE_CHARS_MAX);
        let description = self.text(table, "description", DESCRIPTION_CHARS_MAX);
        let period = self.string(table, "period", "period").and_then(|p| {
            MedalPeriod::parse(p)
                .or_else(|| self.refuse("period", format!("expected once, day, week, month or year, found {p:?}")))
        });
        let rule = match table.get("rule") {
            None => self.refuse("rule", "missing"),
            Some(Value::Table(rule)) => self.rule(rule),
            Some(other) => self.refuse("rule", format!("expected a table, found {}", describe(other))),
        };
        Some(Medal { id: id?, title: title?, description: description?, period: period?, rule: rule? })
    }

    fn rule(&self, table: &Table) -> Option<MedalRule> {
        self.deny_unknown(table, "rule.", &RULE_KEYS);
        let kind = self.string(table, "kind", "rule.kind").and_then(|k| {
            KINDS
                .contains(&k)
                .then_some(k)
                .or_else(|| self.refuse("rule.kind", format!("expected one of {}, found {k:?}", KINDS.join(", "))))
        });
        let at_least = match table.get("at_least") {
            None => self.refuse("rule.at_least", "missing"),
            Some(Value::Integer(n)) if *n > 0 => Some(*n),
            Some(other) => {
                self.refuse("rule.at_least", format!("expected a positive integer, found {}", describe(other)))
            }
        };
        let category = match table.get("category") {
            None => Some(None),
            Some(Value::String(c)) => match c.parse::<Category>() {
                Ok(c) => Some(Some(c)),
                Err(e) => self.refuse("rule.category", e.to_string()),
            },
            Some(other) => self.refuse("rule.category", format!("expected a string, found {}", describe(other))),
        };
        let behavior = match table.get("behavior") {
            None => Some(None),
            Some(Value::String(b))
                if (1..=64).contains(&b.len())
                    && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_') =>
            {
                Some(Some(b.clone()))
            }
            Some(other) => self.refuse(
                "rule.behavior",
                format!("expected a behavior code of lower-case letters, digits and `_`, found {}", describe(other)),
            ),
        };
        let kind = kind?;
        if kind != "reduction_grams" && matches!(category, Some(Some(_))) {
            self.refuse::<()>("rule.category", format!("only a reduction_grams rule counts one category, not {kind}"));
        }
        if kind != "acts" && matches!(behavior, Some(Some(_))) {
            self.refuse::<()>("rule.behavior", format!("only an acts rule counts one behavior, not {kind}"));
        }
        let at_least = at_least?;
        Some(match kind {
            "reduction_grams" => MedalRule::ReductionGrams { category: category?, at_least },
            "acts" => MedalRule::Acts { behavior: behavior?, at_least },
            "streak_days" => MedalRule::StreakDays { at_least },
            "energy_collected_grams" => MedalRule::EnergyCollectedGrams { at_least },
            _ => MedalRule::ChallengesCompleted { at_least },
        })
    }
}
