//! A credit's arithmetic in words, as a citizen reads it in their history:
//! the methodology's formula with the reported inputs written in, each with
//! its unit, and the grams it came to — `250 × 3.2 km = 800 g` for a
//! 3.2 km shared-bike ride.

use serde_json::{Map, Value};

use super::formula::Formula;
use super::Methodology;

impl Methodology {
    /// The formula with `inputs` written in and `grams` as its result, such
    /// as `250 × 3.2 km = 800 g`, or `(136) − (0.8 × 12 kWh) = 126 g` when
    /// the project side is not zero. Inputs missing from `inputs` keep
    /// their names.
    pub fn worked_text(&self, inputs: &Map<String, Value>, grams: i64) -> String {
        let baseline = self.written_in(&self.baseline, inputs);
        let project = self.written_in(&self.project, inputs);
        if project == "0" {
            format!("{baseline} = {grams} g")
        } else {
            format!("({baseline}) − ({project}) = {grams} g")
        }
    }

    /// One side of the formula with each input's value and unit in place of its name.
    fn written_in(&self, formula: &Formula, inputs: &Map<String, Value>) -> String {
        let source = formula.source().split_whitespace().collect::<Vec<_>>().join(" ");
        let mut out = String::with_capacity(source.len() + 16);
        let mut chars = source.char_indices().peekable();
        while let Some((start, c)) = chars.next() {
            if c.is_ascii_alphabetic() || c == '_' {
                let mut end = start + c.len_utf8();
                while let Some(&(i, next)) = chars.peek() {
                    if next.is_ascii_alphanumeric() || next == '_' {
                        end = i + next.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let name = &source[start..end];
                match (self.inputs.iter().find(|i| i.name == name), inputs.get(name)) {
                    (Some(spec), Some(value)) => {
                        let value = match value {
                            Value::Number(n) => n.to_string(),
                            other => other.to_string(),
                        };
                        out.push_str(&value);
                        if !spec.unit.is_empty() {
                            out.push(' ');
                            out.push_str(&spec.unit);
                        }
                    }
                    _ => out.push_str(name),
                }
            } else {
                match c {
                    '*' => out.push('×'),
                    '/' => out.push('÷'),
                    '-' => out.push('−'),
                    c => out.push(c),
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::methodology::shipped;

    fn inputs(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn a_ride_reads_as_distance_times_factor() {
        let registry = shipped();
        let bike = registry.iter().find(|m| m.id == "cn-bj-shared-bike").unwrap();
        assert_eq!(bike.worked_text(&inputs(json!({ "distance_km": 3.2 })), 800), "250 × 3.2 km = 800 g");
    }

    #[test]
    fn functions_and_constants_keep_their_names_and_missing_inputs_theirs() {
        let registry = shipped();
        let walk = registry.iter().find(|m| m.baseline.source().contains("steps")).unwrap();
        let text = walk.worked_text(&inputs(json!({ "steps": 10000 })), 296);
        assert!(text.starts_with("min(296, floor(10000 ") && text.ends_with("× 0.0296)) = 296 g"), "{text}");
        let text = walk.worked_text(&serde_json::Map::new(), 0);
        assert!(text.contains("steps × 0.0296"), "{text}");
    }
}
