//! The evaluator: exact decimal arithmetic over the typed tree.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};

use super::interval::Interval;
use super::{BinOp, CmpOp, Cond, Expr, Func};
use crate::methodology::EvaluationError;

pub(super) fn arithmetic(message: &str) -> EvaluationError {
    EvaluationError::Arithmetic { message: message.to_owned() }
}

/// An evaluation failure inside the tree: small and `Copy`, so that the
/// recursive evaluator's frames stay small (see [`Formula::evaluate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    DivisionByZero,
    Overflow,
    MissingInput,
}

#[inline(never)]
fn apply(op: BinOp, l: Decimal, r: Decimal) -> Result<Decimal, Fault> {
    match op {
        BinOp::Add => l.checked_add(r),
        BinOp::Sub => l.checked_sub(r),
        BinOp::Mul => l.checked_mul(r),
        BinOp::Div if r.is_zero() => return Err(Fault::DivisionByZero),
        BinOp::Div => l.checked_div(r),
    }
    .ok_or(Fault::Overflow)
}

#[inline(never)]
fn compare(op: CmpOp, l: Decimal, r: Decimal) -> bool {
    match op {
        CmpOp::Lt => l < r,
        CmpOp::Le => l <= r,
        CmpOp::Gt => l > r,
        CmpOp::Ge => l >= r,
        CmpOp::Eq => l == r,
        CmpOp::Ne => l != r,
    }
}

#[inline(never)]
pub(super) fn unary(func: Func, v: Decimal) -> Decimal {
    match func {
        Func::Min | Func::Max => v,
        Func::Floor => v.floor(),
        Func::Ceil => v.ceil(),
        Func::Round => v.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero),
    }
}

impl Expr {
    pub(super) fn eval(&self, values: &BTreeMap<String, Decimal>) -> Result<Decimal, Fault> {
        match self {
            Expr::Number(n) => Ok(*n),
            Expr::Input(name) => values.get(name).copied().ok_or(Fault::MissingInput),
            Expr::Neg(e) => Ok(-e.eval(values)?),
            Expr::Chain(first, rest) => {
                let mut acc = first.eval(values)?;
                for (op, e) in rest {
                    acc = apply(*op, acc, e.eval(values)?)?;
                }
                Ok(acc)
            }
            Expr::Call(func, args) => {
                let mut acc = args[0].eval(values)?;
                for arg in &args[1..] {
                    let v = arg.eval(values)?;
                    acc = if *func == Func::Min { acc.min(v) } else { acc.max(v) };
                }
                Ok(unary(*func, acc))
            }
            Expr::If(cond, then, otherwise) => {
                if cond.eval(values)? {
                    then.eval(values)
                } else {
                    otherwise.eval(values)
                }
            }
        }
    }

    pub(super) fn collect_inputs(&self, names: &mut Vec<String>) {
        match self {
            Expr::Number(_) => {}
            Expr::Input(name) => names.push(name.clone()),
            Expr::Neg(e) => e.collect_inputs(names),
            Expr::Chain(first, rest) => {
                first.collect_inputs(names);
                rest.iter().for_each(|(_, e)| e.collect_inputs(names));
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.collect_inputs(names)),
            Expr::If(c, t, o) => {
                c.collect_inputs(names);
                t.collect_inputs(names);
                o.collect_inputs(names);
            }
        }
    }
}

impl Cond {
    pub(super) fn eval(&self, values: &BTreeMap<String, Decimal>) -> Result<bool, Fault> {
        match self {
            Cond::Compare(op, l, r) => Ok(compare(*op, l.eval(values)?, r.eval(values)?)),
            Cond::All(conds) => {
                for c in conds {
                    if !c.eval(values)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Cond::Any(conds) => {
                for c in conds {
                    if c.eval(values)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Cond::Not(c) => Ok(!c.eval(values)?),
        }
    }

    pub(super) fn collect_inputs(&self, names: &mut Vec<String>) {
        match self {
            Cond::Compare(_, l, r) => {
                l.collect_inputs(names);
                r.collect_inputs(names);
            }
            Cond::All(conds) | Cond::Any(conds) => conds.iter().for_each(|c| c.collect_inputs(names)),
            Cond::Not(c) => c.collect_inputs(names),
        }
    }
}

// ---------------------------------------------------------------------------
// Lexer

/// The answer of a comparison of two intervals: `Some` when every pair of
/// values gives the same answer, `None` when it can go either way.
pub(super) fn compare_intervals(op: CmpOp, l: Interval, r: Interval) -> Option<bool> {
    let always_less = l.hi < r.lo;
    let never_less = l.lo >= r.hi;
    let always_greater = l.lo > r.hi;
    let never_greater = l.hi <= r.lo;
    let same_point = l.lo == l.hi && r.lo == r.hi && l.lo == r.lo;
    let disjoint = l.hi < r.lo || r.hi < l.lo;
    let decided = |always: bool, never: bool| {
        if always {
            Some(true)
        } else if never {
            Some(false)
        } else {
            None
        }
    };
    match op {
        CmpOp::Lt => decided(always_less, never_less),
        CmpOp::Le => decided(never_greater, always_greater),
        CmpOp::Gt => decided(always_greater, never_greater),
        CmpOp::Ge => decided(never_less, always_less),
        CmpOp::Eq => decided(same_point, disjoint),
        CmpOp::Ne => decided(disjoint, same_point),
    }
}
