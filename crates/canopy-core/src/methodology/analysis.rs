//! The analysis every methodology gets at load: its formulas are evaluated
//! over the intervals its inputs' bounds allow, so that a formula that can
//! divide by zero, overflow or go negative is refused before it credits
//! anyone, and the largest number of grams one event can yield is known.
//!
//! Interval arithmetic is sound (the true range lies inside the computed
//! one) but can be too wide when an input appears more than once. So a
//! formula whose interval reaches below zero is refused only when a point
//! within the bounds (the ends and the middle of each input's range, in
//! every combination) really yields a negative value, which the message
//! names; the maximum and the division-by-zero check use the interval
//! itself, erring on the side of refusing.

use std::collections::BTreeMap;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::{Formula, InputKind, InputSpec, Interval, Methodology};
use crate::types::Grams;

/// One problem the analysis found: the field it concerns and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// The field path, such as `formula.baseline`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The most input combinations tried when looking for a negative value.
const WITNESS_POINTS_MAX: usize = 4096;

/// The largest grams one event can yield under `m`, or what is wrong with
/// its formulas. `baseline_field` names the baseline as the file wrote it
/// (`formula` for the one-line form).
pub(crate) fn grams_max(m: &Methodology, baseline_field: &str) -> Result<Grams, Vec<Finding>> {
    let ranges: BTreeMap<String, Interval> = m.inputs.iter().map(|i| (i.name.clone(), range(i))).collect();
    let points = witness_points(&m.inputs);
    let mut findings = Vec::new();
    let mut finding = |field: &str, message: String| findings.push(Finding { field: field.to_owned(), message });
    let mut analyse = |field: &str, formula: &Formula| match formula.bounds(&ranges) {
        Err(e) => {
            finding(
                field,
                format!("{} within the inputs' bounds", e.to_string().trim_start_matches("formula error: ")),
            );
            None
        }
        Ok(interval) => {
            if interval.lo < Decimal::ZERO {
                let negative = points.iter().find_map(|p| {
                    let v = formula.evaluate(p).ok()?;
                    (v < Decimal::ZERO).then_some((v, p))
                });
                if let Some((value, point)) = negative {
                    finding(
                        field,
                        format!("can be negative within the inputs' bounds: {} at {}", value.normalize(), show(point)),
                    );
                }
            }
            Some(interval)
        }
    };
    let baseline = analyse(baseline_field, &m.baseline);
    let project = analyse("formula.project", &m.project);
    let (Some(baseline), Some(project)) = (baseline, project) else {
        return Err(findings);
    };
    if !findings.is_empty() {
        return Err(findings);
    }
    let (Some(lo), Some(hi)) = (baseline.lo.checked_sub(project.hi), baseline.hi.checked_sub(project.lo)) else {
        return Err(vec![Finding {
            field: "formula".to_owned(),
            message: "baseline − project can overflow".to_owned(),
        }]);
    };
    if lo < Decimal::ZERO {
        let negative = points.iter().find_map(|p| {
            let v = m.baseline.evaluate(p).ok()?.checked_sub(m.project.evaluate(p).ok()?)?;
            (v < Decimal::ZERO).then_some((v, p))
        });
        if let Some((value, point)) = negative {
            return Err(vec![Finding {
                field: "formula".to_owned(),
                message: format!(
                    "baseline − project can be negative within the inputs' bounds (it would credit nothing): {} at {}",
                    value.normalize(),
                    show(point)
                ),
            }]);
        }
    }
    hi.floor().max(Decimal::ZERO).to_i64().ok_or_else(|| {
        vec![Finding {
            field: "formula".to_owned(),
            message: format!("can yield {} g for one event, more than any ledger can hold", hi.floor()),
        }]
    })
}

/// The closed range an input's bounds allow (an exclusive bound is
/// included, which only widens the range). A missing lower bound is the
/// smallest decimal, so arithmetic on it overflows: the formula then needs
/// a `minimum`.
fn range(spec: &InputSpec) -> Interval {
    Interval { lo: spec.minimum.map_or(Decimal::MIN, |b| b.value), hi: spec.maximum.map_or(Decimal::MAX, |b| b.value) }
}

/// Values to try for one input: both ends (moved inside when exclusive) and
/// the middle, or values around zero when there is no lower bound.
fn candidates(spec: &InputSpec) -> Vec<Decimal> {
    let Some(hi) = spec.maximum else { return Vec::new() };
    let integer = spec.kind == InputKind::Integer;
    let mut values = Vec::new();
    let top = match (integer, hi.exclusive) {
        (true, true) => hi.value.ceil() - Decimal::ONE,
        (true, false) => hi.value.floor(),
        (false, _) => hi.value,
    };
    values.push(top);
    match spec.minimum {
        Some(lo) => {
            let bottom = match (integer, lo.exclusive) {
                (true, true) => lo.value.floor() + Decimal::ONE,
                (true, false) => lo.value.ceil(),
                (false, _) => lo.value,
            };
            values.push(bottom);
            let middle = (bottom + top) / Decimal::TWO;
            values.push(if integer { middle.floor() } else { middle });
            if !integer && (lo.exclusive || hi.exclusive) {
                // Just inside an exclusive end.
                let step = (top - bottom) / Decimal::from(1024);
                values.push(bottom + step);
                values.push(top - step);
            }
        }
        None => values.extend([Decimal::NEGATIVE_ONE, Decimal::ZERO]),
    }
    values.retain(|v| spec.within_bounds(*v));
    values.sort();
    values.dedup();
    values
}

/// Every combination of the inputs' candidate values, at most
/// [`WITNESS_POINTS_MAX`] of them.
fn witness_points(inputs: &[InputSpec]) -> Vec<BTreeMap<String, Decimal>> {
    let mut points = vec![BTreeMap::new()];
    for spec in inputs {
        let values = candidates(spec);
        if values.is_empty() {
            return Vec::new();
        }
        let mut next = Vec::new();
        'outer: for point in &points {
            for v in &values {
                if next.len() == WITNESS_POINTS_MAX {
                    break 'outer;
                }
                let mut p = point.clone();
                p.insert(spec.name.clone(), *v);
                next.push(p);
            }
        }
        points = next;
    }
    points
}

fn show(point: &BTreeMap<String, Decimal>) -> String {
    if point.is_empty() {
        return "any inputs".to_owned();
    }
    point.iter().map(|(k, v)| format!("{k} = {}", v.normalize())).collect::<Vec<_>>().join(", ")
}
