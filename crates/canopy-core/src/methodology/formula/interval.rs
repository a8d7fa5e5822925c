//! The interval evaluator: what a formula can yield when each input ranges
//! over an interval, for the analysis a methodology gets at load.
//!
//! Every operation returns an interval that contains every value the exact
//! evaluator can produce for inputs inside the given intervals (it may be
//! wider, since an input that appears twice is treated as two independent
//! values). Division by an interval that contains zero is a fault: the
//! formula can divide by zero, or by values arbitrarily close to it.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::evaluator::{compare_intervals, unary, Fault};
use super::{BinOp, Cond, Expr, Func};

/// A closed range of decimals, `lo ≤ hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// The smallest value.
    pub lo: Decimal,
    /// The largest value.
    pub hi: Decimal,
}

impl Interval {
    /// The range holding only `value`.
    pub fn point(value: Decimal) -> Interval {
        Interval { lo: value, hi: value }
    }

    /// The smallest range holding both.
    fn hull(self, other: Interval) -> Interval {
        Interval { lo: self.lo.min(other.lo), hi: self.hi.max(other.hi) }
    }

    fn from_candidates(candidates: [Option<Decimal>; 4]) -> Result<Interval, Fault> {
        let mut lo = None::<Decimal>;
        let mut hi = None::<Decimal>;
        for c in candidates {
            let c = c.ok_or(Fault::Overflow)?;
            lo = Some(lo.map_or(c, |l| l.min(c)));
            hi = Some(hi.map_or(c, |h| h.max(c)));
        }
        Ok(Interval { lo: lo.unwrap_or_default(), hi: hi.unwrap_or_default() })
    }
}

fn apply(op: BinOp, l: Interval, r: Interval) -> Result<Interval, Fault> {
    match op {
        BinOp::Add => Ok(Interval {
            lo: l.lo.checked_add(r.lo).ok_or(Fault::Overflow)?,
            hi: l.hi.checked_add(r.hi).ok_or(Fault::Overflow)?,
        }),
        BinOp::Sub => Ok(Interval {
            lo: l.lo.checked_sub(r.hi).ok_or(Fault::Overflow)?,
            hi: l.hi.checked_sub(r.lo).ok_or(Fault::Overflow)?,
        }),
        BinOp::Mul => Interval::from_candidates([
            l.lo.checked_mul(r.lo),
            l.lo.checked_mul(r.hi),
            l.hi.checked_mul(r.lo),
            l.hi.checked_mul(r.hi),
        ]),
        BinOp::Div if r.lo <= Decimal::ZERO && r.hi >= Decimal::ZERO => Err(Fault::DivisionByZero),
        BinOp::Div => Interval::from_candidates([
            l.lo.checked_div(r.lo),
            l.lo.checked_div(r.hi),
            l.hi.checked_div(r.lo),
            l.hi.checked_div(r.hi),
        ]),
    }
}

impl Expr {
    /// The interval of values over `inputs` (see the module documentation).
    pub(super) fn bounds(&self, inputs: &BTreeMap<String, Interval>) -> Result<Interval, Fault> {
        match self {
            Expr::Number(n) => Ok(Interval::point(*n)),
            Expr::Input(name) => inputs.get(name).copied().ok_or(Fault::MissingInput),
            Expr::Neg(e) => {
                let v = e.bounds(inputs)?;
                Ok(Interval { lo: -v.hi, hi: -v.lo })
            }
            Expr::Chain(first, rest) => {
                let mut acc = first.bounds(inputs)?;
                for (op, e) in rest {
                    acc = apply(*op, acc, e.bounds(inputs)?)?;
                }
                Ok(acc)
            }
            Expr::Call(func, args) => {
                let mut acc = args[0].bounds(inputs)?;
                for arg in &args[1..] {
                    let v = arg.bounds(inputs)?;
                    // min and max are monotone in each argument.
                    acc = if *func == Func::Min {
                        Interval { lo: acc.lo.min(v.lo), hi: acc.hi.min(v.hi) }
                    } else {
                        Interval { lo: acc.lo.max(v.lo), hi: acc.hi.max(v.hi) }
                    };
                }
                // floor, ceil and round are monotone too.
                Ok(Interval { lo: unary(*func, acc.lo), hi: unary(*func, acc.hi) })
            }
            Expr::If(cond, then, otherwise) => match cond.bounds(inputs)? {
                Some(true) => then.bounds(inputs),
                Some(false) => otherwise.bounds(inputs),
                None => Ok(then.bounds(inputs)?.hull(otherwise.bounds(inputs)?)),
            },
        }
    }
}

impl Cond {
    /// `Some(answer)` when the condition has that answer everywhere over
    /// `inputs`, `None` when it can go either way.
    fn bounds(&self, inputs: &BTreeMap<String, Interval>) -> Result<Option<bool>, Fault> {
        match self {
            Cond::Compare(op, l, r) => Ok(compare_intervals(*op, l.bounds(inputs)?, r.bounds(inputs)?)),
            Cond::All(conds) => {
                let mut all = Some(true);
                for c in conds {
                    match c.bounds(inputs)? {
                        Some(false) => return Ok(Some(false)),
                        Some(true) => {}
                        None => all = None,
                    }
                }
                Ok(all)
            }
            Cond::Any(conds) => {
                let mut any = Some(false);
                for c in conds {
                    match c.bounds(inputs)? {
                        Some(true) => return Ok(Some(true)),
                        Some(false) => {}
                        None => any = None,
                    }
                }
                Ok(any)
            }
            Cond::Not(c) => Ok(c.bounds(inputs)?.map(|b| !b)),
        }
    }
}
