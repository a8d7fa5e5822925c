//! The formula language: a hand-written lexer ([`lexer`]), a
//! recursive-descent parser that type-checks as it builds the tree
//! ([`parser`]), an exact decimal evaluator ([`evaluator`]) and an interval
//! evaluator for load-time analysis ([`interval`]).
//!
//! See the [module documentation](super) for the grammar.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;

pub use self::interval::Interval;

use self::evaluator::{arithmetic, Fault};
use self::lexer::lex;
use self::parser::Parser;
use super::EvaluationError;

/// The longest formula source accepted, in bytes.
pub const MAX_SOURCE_LEN: usize = 4096;

/// The deepest nesting accepted (parentheses, function calls, `if`, unary
/// operators).
pub const MAX_DEPTH: usize = 64;

/// The functions a formula may call.
const FUNCTIONS: [&str; 5] = ["min", "max", "floor", "ceil", "round"];

/// Words that cannot be input names.
pub(crate) const RESERVED: [&str; 9] = ["if", "else", "min", "max", "floor", "ceil", "round", "true", "false"];

/// A parsed, type-checked formula, together with its source text.
///
/// Two formulas are equal when their source texts are equal.
#[derive(Debug, Clone)]
pub struct Formula {
    source: String,
    expr: Expr,
}

impl PartialEq for Formula {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Formula {}

impl serde::Serialize for Formula {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl fmt::Display for Formula {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Why a formula does not parse or type-check. The position is 1-based and
/// counts characters within the formula text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FormulaError {
    /// The line within the formula (1 unless the formula spans lines).
    pub line: usize,
    /// The column within that line.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    multiline: bool,
}

impl fmt::Display for FormulaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.multiline {
            write!(f, "{} at line {}, column {}", self.message, self.line, self.column)
        } else {
            write!(f, "{} at column {}", self.message, self.column)
        }
    }
}

impl Formula {
    /// Parses and type-checks `src`. Identifiers must be one of
    /// `declared_inputs` or a built-in function; the whole formula must be a
    /// number (conditions only appear after `if`).
    pub fn parse<S: AsRef<str>>(src: &str, declared_inputs: &[S]) -> Result<Formula, FormulaError> {
        let inputs: Vec<&str> = declared_inputs.iter().map(AsRef::as_ref).collect();
        let trimmed = src.trim();
        let offset = src.len() - src.trim_start().len();
        let error_at = |pos: usize, message: String| position_error(src, offset + pos, message);
        if src.len() > MAX_SOURCE_LEN {
            let mut at = MAX_SOURCE_LEN;
            while !src.is_char_boundary(at) {
                at -= 1;
            }
            return Err(position_error(
                src,
                at,
                format!("the formula is {} bytes long; the limit is {MAX_SOURCE_LEN}", src.len()),
            ));
        }
        let tokens = lex(trimmed).map_err(|(pos, message)| error_at(pos, message))?;
        let mut parser = Parser { tokens, i: 0, depth: 0, inputs: &inputs };
        let expr = parser.parse_formula().map_err(|(pos, message)| error_at(pos, message))?;
        Ok(Formula { source: trimmed.to_owned(), expr })
    }

    /// The formula as written (surrounding whitespace trimmed).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the formula with exact decimal arithmetic. `values` must hold
    /// every input the formula names.
    pub fn evaluate(&self, values: &BTreeMap<String, Decimal>) -> Result<Decimal, EvaluationError> {
        self.expr.eval(values).map_err(|fault| match fault {
            Fault::DivisionByZero => arithmetic("division by zero"),
            Fault::Overflow => arithmetic("arithmetic overflow"),
            Fault::MissingInput => {
                let input = self.inputs_used().into_iter().find(|name| !values.contains_key(name));
                EvaluationError::MissingInput { input: input.unwrap_or_default() }
            }
        })
    }

    /// The interval the formula's values lie in when each input lies in its
    /// interval of `inputs`: for the load-time analysis. Refuses a formula
    /// that can divide by zero or overflow there (and one naming an input
    /// missing from `inputs`, as [`Formula::evaluate`] does).
    pub fn bounds(&self, inputs: &BTreeMap<String, Interval>) -> Result<Interval, EvaluationError> {
        self.expr.bounds(inputs).map_err(|fault| match fault {
            Fault::DivisionByZero => arithmetic("can divide by zero (or by values arbitrarily close to it)"),
            Fault::Overflow => arithmetic("can overflow"),
            Fault::MissingInput => {
                let input = self.inputs_used().into_iter().find(|name| !inputs.contains_key(name));
                EvaluationError::MissingInput { input: input.unwrap_or_default() }
            }
        })
    }

    /// The input names the formula refers to, sorted, without duplicates.
    pub fn inputs_used(&self) -> Vec<String> {
        let mut names = Vec::new();
        self.expr.collect_inputs(&mut names);
        names.sort();
        names.dedup();
        names
    }
}

fn position_error(src: &str, byte: usize, message: String) -> FormulaError {
    let before = &src[..byte.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    FormulaError { line, column, message, multiline: src.trim().contains('\n') }
}

// ---------------------------------------------------------------------------
// Tree

mod evaluator;
mod interval;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Min,
    Max,
    Floor,
    Ceil,
    Round,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Number(Decimal),
    Input(String),
    Neg(Box<Expr>),
    /// A left-associative chain `first op1 e1 op2 e2 …` of one precedence
    /// level, kept flat so that long sums do not make the tree deep.
    Chain(Box<Expr>, Vec<(BinOp, Expr)>),
    Call(Func, Vec<Expr>),
    If(Box<Cond>, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Cond {
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    /// `c1 && c2 && …`, flat.
    All(Vec<Cond>),
    /// `c1 || c2 || …`, flat.
    Any(Vec<Cond>),
    Not(Box<Cond>),
}
