//! The formula language: a hand-written lexer, a recursive-descent parser
//! that type-checks as it builds the tree, and an exact decimal evaluator.
//!
//! See the [module documentation](super) for the grammar.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};

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

fn arithmetic(message: &str) -> EvaluationError {
    EvaluationError::Arithmetic { message: message.to_owned() }
}

/// An evaluation failure inside the tree: small and `Copy`, so that the
/// recursive evaluator's frames stay small (see [`Formula::evaluate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
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
fn unary(func: Func, v: Decimal) -> Decimal {
    match func {
        Func::Min | Func::Max => v,
        Func::Floor => v.floor(),
        Func::Ceil => v.ceil(),
        Func::Round => v.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero),
    }
}

impl Expr {
    fn eval(&self, values: &BTreeMap<String, Decimal>) -> Result<Decimal, Fault> {
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

    fn collect_inputs(&self, names: &mut Vec<String>) {
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
    fn eval(&self, values: &BTreeMap<String, Decimal>) -> Result<bool, Fault> {
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

    fn collect_inputs(&self, names: &mut Vec<String>) {
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

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Number(Decimal),
    Ident(String),
    Plus,
    Minus,
    Star,
    Slash,
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Lt,
    Le,
    Gt,
    Ge,
    EqEq,
    Ne,
    AndAnd,
    OrOr,
    Bang,
    End,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Tok::Number(n) => return write!(f, "number `{n}`"),
            Tok::Ident(name) => return write!(f, "`{name}`"),
            Tok::Plus => "`+`",
            Tok::Minus => "`-`",
            Tok::Star => "`*`",
            Tok::Slash => "`/`",
            Tok::LParen => "`(`",
            Tok::RParen => "`)`",
            Tok::LBrace => "`{`",
            Tok::RBrace => "`}`",
            Tok::Comma => "`,`",
            Tok::Lt => "`<`",
            Tok::Le => "`<=`",
            Tok::Gt => "`>`",
            Tok::Ge => "`>=`",
            Tok::EqEq => "`==`",
            Tok::Ne => "`!=`",
            Tok::AndAnd => "`&&`",
            Tok::OrOr => "`||`",
            Tok::Bang => "`!`",
            Tok::End => "the end of the formula",
        };
        f.write_str(s)
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
}

type Failure = (usize, String);

fn lex(src: &str) -> Result<Vec<Token>, Failure> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let two = |second: u8| bytes.get(i + 1) == Some(&second);
        let (tok, len) = match b {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'0'..=b'9' => {
                let mut end = i;
                while end < bytes.len() && bytes[end].is_ascii_digit() {
                    end += 1;
                }
                if end < bytes.len() && bytes[end] == b'.' {
                    end += 1;
                    if !(end < bytes.len() && bytes[end].is_ascii_digit()) {
                        return Err((end, "expected digits after the decimal point".to_owned()));
                    }
                    while end < bytes.len() && bytes[end].is_ascii_digit() {
                        end += 1;
                    }
                }
                if end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_' || bytes[end] == b'.')
                {
                    let c = src[end..].chars().next().unwrap_or('?');
                    return Err((
                        end,
                        format!("unexpected `{c}` right after a number (numbers are written like 45.72)"),
                    ));
                }
                let text = &src[start..end];
                let n = Decimal::from_str_exact(text)
                    .map_err(|_| (start, format!("the number `{text}` is out of range")))?;
                (Tok::Number(n), end - start)
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let mut end = i;
                while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                    end += 1;
                }
                (Tok::Ident(src[start..end].to_owned()), end - start)
            }
            b'+' => (Tok::Plus, 1),
            b'-' => (Tok::Minus, 1),
            b'*' => (Tok::Star, 1),
            b'/' => (Tok::Slash, 1),
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'{' => (Tok::LBrace, 1),
            b'}' => (Tok::RBrace, 1),
            b',' => (Tok::Comma, 1),
            b'<' if two(b'=') => (Tok::Le, 2),
            b'<' => (Tok::Lt, 1),
            b'>' if two(b'=') => (Tok::Ge, 2),
            b'>' => (Tok::Gt, 1),
            b'=' if two(b'=') => (Tok::EqEq, 2),
            b'=' => return Err((start, "unexpected `=`; did you mean `==`?".to_owned())),
            b'!' if two(b'=') => (Tok::Ne, 2),
            b'!' => (Tok::Bang, 1),
            b'&' if two(b'&') => (Tok::AndAnd, 2),
            b'&' => return Err((start, "unexpected `&`; did you mean `&&`?".to_owned())),
            b'|' if two(b'|') => (Tok::OrOr, 2),
            b'|' => return Err((start, "unexpected `|`; did you mean `||`?".to_owned())),
            _ => {
                let c = src[start..].chars().next().unwrap_or('?');
                return Err((start, format!("unexpected character `{c}`")));
            }
        };
        tokens.push(Token { tok, pos: start });
        i = start + len;
    }
    tokens.push(Token { tok: Tok::End, pos: src.len() });
    Ok(tokens)
}

// ---------------------------------------------------------------------------
// Parser

/// A parsed sub-expression, typed.
enum Typed {
    Num(Expr),
    Bool(Cond),
}

struct Parser<'a> {
    tokens: Vec<Token>,
    i: usize,
    depth: usize,
    inputs: &'a [&'a str],
}

const NOT_A_CONDITION: &str = "a number is not a condition; compare it, e.g. `x > 0`";
const NOT_A_NUMBER: &str = "expected a number, found a condition (conditions only follow `if`)";

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.i].tok
    }

    fn pos(&self) -> usize {
        self.tokens[self.i].pos
    }

    fn advance(&mut self) -> Token {
        let token = self.tokens[self.i].clone();
        if self.i + 1 < self.tokens.len() {
            self.i += 1;
        }
        token
    }

    fn expect(&mut self, tok: &Tok, context: &'static str) -> Result<(), Failure> {
        if self.peek() == tok {
            self.advance();
            Ok(())
        } else {
            Err(self.expected(tok, context))
        }
    }

    #[cold]
    #[inline(never)]
    fn expected(&self, tok: &Tok, context: &str) -> Failure {
        (self.pos(), format!("expected {tok} {context}, found {}", self.peek()))
    }

    fn enter(&mut self, pos: usize) -> Result<(), Failure> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err((pos, format!("the formula nests deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn parse_formula(&mut self) -> Result<Expr, Failure> {
        if *self.peek() == Tok::End {
            return Err((self.pos(), "the formula is empty".to_owned()));
        }
        let pos = self.pos();
        let expr = num(self.parse_expr()?, pos)?;
        if *self.peek() != Tok::End {
            return Err((self.pos(), format!("unexpected {} after a complete formula", self.peek())));
        }
        Ok(expr)
    }

    /// A full expression (number or condition).
    #[inline(always)]
    fn parse_expr(&mut self) -> Result<Typed, Failure> {
        self.parse_binary(1)
    }

    /// Precedence climbing over the binary operators, loosest first: `||`
    /// (level 1), `&&` (2), comparisons (3, not chained), `+ -` (4) and
    /// `* /` (5), all left-associative. Runs of one level are kept flat.
    fn parse_binary(&mut self, min_level: u8) -> Result<Typed, Failure> {
        let pos = self.pos();
        let mut left = self.parse_unary()?;
        while let Some(level) = binary_level(self.peek()).filter(|l| *l >= min_level) {
            let op = self.advance().tok;
            let right_pos = self.pos();
            let right = self.parse_binary(level + 1)?;
            left = self.combine(level, &op, (left, pos), (right, right_pos))?;
        }
        Ok(left)
    }

    /// Joins two operands of a binary operator of `level`, checking types.
    #[inline(never)]
    fn combine(
        &self,
        level: u8,
        op: &Tok,
        (left, pos): (Typed, usize),
        (right, right_pos): (Typed, usize),
    ) -> Result<Typed, Failure> {
        Ok(match level {
            1 | 2 => {
                let (l, r) = (cond(left, pos)?, cond(right, right_pos)?);
                Typed::Bool(match (level, l) {
                    (1, Cond::Any(mut all)) => {
                        all.push(r);
                        Cond::Any(all)
                    }
                    (1, l) => Cond::Any(vec![l, r]),
                    (_, Cond::All(mut all)) => {
                        all.push(r);
                        Cond::All(all)
                    }
                    (_, l) => Cond::All(vec![l, r]),
                })
            }
            3 => {
                let only_numbers = |(p, _): Failure| (p, "only numbers can be compared".to_owned());
                let l = num(left, pos).map_err(only_numbers)?;
                let r = num(right, right_pos).map_err(only_numbers)?;
                if binary_level(self.peek()) == Some(3) {
                    return Err((
                        self.pos(),
                        "comparisons cannot be chained; join them with `&&`, e.g. `0 < x && x < 10`".to_owned(),
                    ));
                }
                let op = match op {
                    Tok::Lt => CmpOp::Lt,
                    Tok::Le => CmpOp::Le,
                    Tok::Gt => CmpOp::Gt,
                    Tok::Ge => CmpOp::Ge,
                    Tok::EqEq => CmpOp::Eq,
                    _ => CmpOp::Ne,
                };
                Typed::Bool(Cond::Compare(op, Box::new(l), Box::new(r)))
            }
            _ => {
                let op = match op {
                    Tok::Plus => BinOp::Add,
                    Tok::Minus => BinOp::Sub,
                    Tok::Star => BinOp::Mul,
                    _ => BinOp::Div,
                };
                let (l, r) = (num(left, pos)?, num(right, right_pos)?);
                let same_level = |o: &BinOp| matches!(o, BinOp::Add | BinOp::Sub) == (level == 4);
                Typed::Num(match l {
                    Expr::Chain(first, mut rest) if rest.iter().all(|(o, _)| same_level(o)) => {
                        rest.push((op, r));
                        Expr::Chain(first, rest)
                    }
                    l => Expr::Chain(Box::new(l), vec![(op, r)]),
                })
            }
        })
    }

    fn parse_unary(&mut self) -> Result<Typed, Failure> {
        let pos = self.pos();
        match self.peek() {
            Tok::Minus => {
                self.advance();
                self.enter(pos)?;
                let operand_pos = self.pos();
                let operand = num(self.parse_unary()?, operand_pos)?;
                self.leave();
                Ok(Typed::Num(Expr::Neg(Box::new(operand))))
            }
            Tok::Bang => {
                self.advance();
                self.enter(pos)?;
                let operand_pos = self.pos();
                let operand = cond(self.parse_unary()?, operand_pos)
                    .map_err(|(p, _)| (p, "`!` applies to a condition, not a number".to_owned()))?;
                self.leave();
                Ok(Typed::Bool(Cond::Not(Box::new(operand))))
            }
            _ => self.parse_primary(),
        }
    }

    // The recursive functions keep their error paths in separate cold
    // functions: unoptimised builds give every temporary its own stack slot,
    // and the nesting limit must stay far from a thread's stack size.

    fn parse_primary(&mut self) -> Result<Typed, Failure> {
        let pos = self.pos();
        match self.peek() {
            Tok::Number(n) => {
                let n = *n;
                self.advance();
                Ok(Typed::Num(Expr::Number(n)))
            }
            Tok::LParen => {
                self.advance();
                self.enter(pos)?;
                let inner = self.parse_expr()?;
                self.expect(&Tok::RParen, "to close the `(`")?;
                self.leave();
                Ok(inner)
            }
            Tok::Ident(name) if name == "if" => self.parse_if(),
            Tok::Ident(_) => {
                let Tok::Ident(name) = self.advance().tok else { unreachable!("peeked an identifier") };
                if *self.peek() == Tok::LParen {
                    return self.parse_call(&name, pos);
                }
                if self.inputs.contains(&name.as_str()) {
                    return Ok(Typed::Num(Expr::Input(name)));
                }
                Err(self.unknown_name(&name, pos))
            }
            _ => Err(self.unexpected_operand(pos)),
        }
    }

    #[cold]
    #[inline(never)]
    fn unknown_name(&self, name: &str, pos: usize) -> Failure {
        if FUNCTIONS.contains(&name) {
            return (pos, format!("`{name}` is a function; call it as `{name}(…)`"));
        }
        if name == "else" {
            return (pos, "unexpected `else` without `if`".to_owned());
        }
        let declared = if self.inputs.is_empty() {
            "no inputs are declared".to_owned()
        } else {
            format!("declared inputs: {}", self.inputs.join(", "))
        };
        (pos, format!("unknown input `{name}` ({declared})"))
    }

    #[cold]
    #[inline(never)]
    fn unexpected_operand(&self, pos: usize) -> Failure {
        (pos, format!("expected a number, an input, a function call, `if` or `(`, found {}", self.peek()))
    }

    #[cold]
    #[inline(never)]
    fn call_error(name: &str, pos: usize, args: Option<usize>) -> Failure {
        let message = match (name, args) {
            (_, None) => format!("unknown function `{name}` (functions: {})", FUNCTIONS.join(", ")),
            ("min" | "max", Some(n)) => format!("`{name}` takes two or more arguments, got {n}"),
            (_, Some(n)) => format!("`{name}` takes one argument, got {n}"),
        };
        (pos, message)
    }

    fn parse_call(&mut self, name: &str, pos: usize) -> Result<Typed, Failure> {
        let func = match name {
            "min" => Func::Min,
            "max" => Func::Max,
            "floor" => Func::Floor,
            "ceil" => Func::Ceil,
            "round" => Func::Round,
            _ => return Err(Self::call_error(name, pos, None)),
        };
        self.enter(pos)?;
        self.advance(); // `(`
        let mut args = Vec::new();
        if *self.peek() != Tok::RParen {
            loop {
                let arg_pos = self.pos();
                args.push(num(self.parse_expr()?, arg_pos)?);
                if *self.peek() != Tok::Comma {
                    break;
                }
                self.advance();
            }
        }
        self.expect(&Tok::RParen, "to close the arguments")?;
        self.leave();
        let arity_ok = match func {
            Func::Min | Func::Max => args.len() >= 2,
            Func::Floor | Func::Ceil | Func::Round => args.len() == 1,
        };
        if !arity_ok {
            return Err(Self::call_error(name, pos, Some(args.len())));
        }
        Ok(Typed::Num(Expr::Call(func, args)))
    }

    fn parse_if(&mut self) -> Result<Typed, Failure> {
        let pos = self.pos();
        self.enter(pos)?;
        self.advance(); // `if`
        let cond_pos = self.pos();
        if *self.peek() == Tok::LBrace {
            return Err((cond_pos, "`if` needs a condition before `{`".to_owned()));
        }
        let condition = cond(self.parse_expr()?, cond_pos)?;
        let then = self.parse_block("after the condition of `if`")?;
        if !self.at_keyword("else") {
            return Err(self.expected_else());
        }
        self.advance();
        let otherwise = if self.at_keyword("if") {
            let else_if_pos = self.pos();
            num(self.parse_if()?, else_if_pos)?
        } else {
            self.parse_block("after `else`")?
        };
        self.leave();
        Ok(Typed::Num(Expr::If(Box::new(condition), Box::new(then), Box::new(otherwise))))
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Tok::Ident(name) if name == keyword)
    }

    #[cold]
    #[inline(never)]
    fn expected_else(&self) -> Failure {
        (self.pos(), format!("expected `else` after the `if` branch, found {}", self.peek()))
    }

    fn parse_block(&mut self, context: &'static str) -> Result<Expr, Failure> {
        self.expect(&Tok::LBrace, context)?;
        let pos = self.pos();
        if *self.peek() == Tok::RBrace {
            return Err((pos, "an `if` branch cannot be empty".to_owned()));
        }
        let Typed::Num(expr) = self.parse_expr()? else {
            return Err((pos, "an `if` branch must be a number".to_owned()));
        };
        self.expect(&Tok::RBrace, "to close the branch")?;
        Ok(expr)
    }
}

fn num(typed: Typed, pos: usize) -> Result<Expr, Failure> {
    match typed {
        Typed::Num(e) => Ok(e),
        Typed::Bool(_) => Err((pos, NOT_A_NUMBER.to_owned())),
    }
}

/// The binding level of a binary operator token (see
/// [`Parser::parse_binary`]).
fn binary_level(tok: &Tok) -> Option<u8> {
    match tok {
        Tok::OrOr => Some(1),
        Tok::AndAnd => Some(2),
        Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge | Tok::EqEq | Tok::Ne => Some(3),
        Tok::Plus | Tok::Minus => Some(4),
        Tok::Star | Tok::Slash => Some(5),
        _ => None,
    }
}

fn cond(typed: Typed, pos: usize) -> Result<Cond, Failure> {
    match typed {
        Typed::Bool(c) => Ok(c),
        Typed::Num(_) => Err((pos, NOT_A_CONDITION.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const INPUTS: [&str; 3] = ["a", "b", "distance_km"];

    fn values() -> BTreeMap<String, Decimal> {
        [("a", "3"), ("b", "-2.5"), ("distance_km", "3.2")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Decimal::from_str(v).unwrap()))
            .collect()
    }

    /// `expect` is the decimal result, or `error: <message>` for an
    /// evaluation error.
    fn check(src: &str, expect: &str) {
        let formula = Formula::parse(src, &INPUTS).unwrap_or_else(|e| panic!("{src}: {e}"));
        let got = match formula.evaluate(&values()) {
            Ok(d) => d.normalize().to_string(),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect, "{src}");
    }

    /// `expect` is the exact parse error message, with its column.
    fn check_error(src: &str, expect: &str) {
        match Formula::parse(src, &INPUTS) {
            Ok(f) => panic!("{src}: parsed as {f:?}"),
            Err(e) => assert_eq!(e.to_string(), expect, "{src}"),
        }
    }

    #[test]
    fn evaluates() {
        for (src, expect) in [
            ("0", "0"),
            ("45.72", "45.72"),
            ("250 * distance_km", "800"),
            ("40 * distance_km", "128"),
            ("1 + 2 * 3", "7"),
            ("(1 + 2) * 3", "9"),
            ("10 - 4 - 3", "3"),
            ("24 / 4 / 2", "3"),
            ("2 * -a", "-6"),
            ("--a", "3"),
            ("-(a + b)", "-0.5"),
            ("1 / 8", "0.125"),
            ("1 / 3 * 3", "0.9999999999999999999999999999"),
            ("min(a, b)", "-2.5"),
            ("max(a, b, 7, 1)", "7"),
            ("floor(b)", "-3"),
            ("ceil(b)", "-2"),
            ("round(b)", "-3"),
            ("round(2.5)", "3"),
            ("round(2.49)", "2"),
            ("round(-0.5)", "-1"),
            ("floor(45.72)", "45"),
            ("if a > 2 { 1 } else { 2 }", "1"),
            ("if a > 3 { 1 } else { 2 }", "2"),
            ("if a >= 3 && b < 0 { 1 } else { 2 }", "1"),
            ("if a == 3 || 1 / 0 > 1 { 1 } else { 2 }", "1"),
            ("if a != 3 && 1 / 0 > 1 { 1 } else { 2 }", "2"),
            ("if !(a < b) { 1 } else { 2 }", "1"),
            ("if a < 0 { 1 } else if a < 5 { 2 } else { 3 }", "2"),
            ("if a < 0 { 1 } else if a < 2 { 2 } else if b < 0 { 4 } else { 3 }", "4"),
            ("1 + if a > 0 { 10 } else { 20 } * 2", "21"),
            ("if (a > 0) && (b > 0 || a == 3) { 1 } else { 0 }", "1"),
            ("if (a + 1) * 2 > 7 { 1 } else { 0 }", "1"),
            ("min(296, floor(10000 * 0.0296))", "296"),
            ("  250*distance_km  ", "800"),
            ("250\n  * distance_km", "800"),
            ("1 / 0", "error: formula error: division by zero"),
            ("a / (b + 2.5)", "error: formula error: division by zero"),
            ("79228162514264337593543950335 + 1", "error: formula error: arithmetic overflow"),
            ("79228162514264337593543950335 * 2", "error: formula error: arithmetic overflow"),
            ("-79228162514264337593543950335 - 1", "error: formula error: arithmetic overflow"),
        ] {
            check(src, expect);
        }
    }

    #[test]
    fn rejects_at_load() {
        for (src, expect) in [
            ("", "the formula is empty at column 1"),
            ("   ", "the formula is empty at column 4"),
            ("250 * distanse_km", "unknown input `distanse_km` (declared inputs: a, b, distance_km) at column 7"),
            ("sqrt(a)", "unknown function `sqrt` (functions: min, max, floor, ceil, round) at column 1"),
            ("min(a)", "`min` takes two or more arguments, got 1 at column 1"),
            ("max()", "`max` takes two or more arguments, got 0 at column 1"),
            ("floor(a, b)", "`floor` takes one argument, got 2 at column 1"),
            ("round", "`round` is a function; call it as `round(…)` at column 1"),
            ("1 + 2 3", "unexpected number `3` after a complete formula at column 7"),
            ("1 + 2)", "unexpected `)` after a complete formula at column 6"),
            ("(1 + 2", "expected `)` to close the `(`, found the end of the formula at column 7"),
            (
                "1 +",
                "expected a number, an input, a function call, `if` or `(`, found the end of the formula at column 4",
            ),
            ("1 ** 2", "expected a number, an input, a function call, `if` or `(`, found `*` at column 4"),
            ("a = 1", "unexpected `=`; did you mean `==`? at column 3"),
            ("a & b", "unexpected `&`; did you mean `&&`? at column 3"),
            ("a # b", "unexpected character `#` at column 3"),
            ("a × b", "unexpected character `×` at column 3"),
            ("1.", "expected digits after the decimal point at column 3"),
            ("1e3", "unexpected `e` right after a number (numbers are written like 45.72) at column 2"),
            ("1.2.3", "unexpected `.` right after a number (numbers are written like 45.72) at column 4"),
            ("a < b", "expected a number, found a condition (conditions only follow `if`) at column 1"),
            ("1 + (a < b)", "expected a number, found a condition (conditions only follow `if`) at column 5"),
            ("if a { 1 } else { 2 }", "a number is not a condition; compare it, e.g. `x > 0` at column 4"),
            ("if a > 1 && b { 1 } else { 2 }", "a number is not a condition; compare it, e.g. `x > 0` at column 13"),
            ("if !a { 1 } else { 2 }", "`!` applies to a condition, not a number at column 5"),
            ("if a > 1 { a > 2 } else { 2 }", "an `if` branch must be a number at column 12"),
            ("if a > 1 { 1 }", "expected `else` after the `if` branch, found the end of the formula at column 15"),
            ("if a > 1 { } else { 2 }", "an `if` branch cannot be empty at column 12"),
            ("if { 1 } else { 2 }", "`if` needs a condition before `{` at column 4"),
            (
                "if 0 < a < 2 { 1 } else { 2 }",
                "comparisons cannot be chained; join them with `&&`, e.g. `0 < x && x < 10` at column 10",
            ),
            ("if (a < b) < 1 { 1 } else { 0 }", "only numbers can be compared at column 4"),
            ("min(a < b, 1)", "expected a number, found a condition (conditions only follow `if`) at column 5"),
            ("else", "unexpected `else` without `if` at column 1"),
            (
                "123456789012345678901234567890",
                "the number `123456789012345678901234567890` is out of range at column 1",
            ),
            ("1 +\n  foo", "unknown input `foo` (declared inputs: a, b, distance_km) at line 2, column 3"),
        ] {
            check_error(src, expect);
        }
        let no_inputs: [&str; 0] = [];
        assert_eq!(
            Formula::parse("items * 2", &no_inputs).unwrap_err().to_string(),
            "unknown input `items` (no inputs are declared) at column 1"
        );
    }

    #[test]
    fn limits_depth_and_length() {
        let ok = format!("{}1{}", "(".repeat(64), ")".repeat(64));
        check(&ok, "1");
        let deep = format!("{}1{}", "(".repeat(65), ")".repeat(65));
        check_error(&deep, "the formula nests deeper than 64 levels at column 65");
        let minus = format!("{}1", "-".repeat(65));
        check_error(&minus, "the formula nests deeper than 64 levels at column 65");
        let calls = format!("{}1{}", "floor(".repeat(65), ")".repeat(65));
        check_error(&calls, "the formula nests deeper than 64 levels at column 385");
        // A long flat chain is fine: the nesting is what is limited.
        let long = vec!["1"; 2000].join("+");
        assert!(long.len() <= MAX_SOURCE_LEN);
        check(&long, "2000");
        let conditions = format!("if {} {{ 1 }} else {{ 0 }}", vec!["a > 0"; 400].join(" && "));
        check(&conditions, "1");
        let either = format!("if {} {{ 1 }} else {{ 0 }}", vec!["a < 0"; 400].join(" || "));
        check(&either, "0");
        // The deepest nesting of every kind still parses and evaluates on a
        // test thread's stack.
        let ifs = format!("{}1{}", "if a > 0 { ".repeat(64), " } else { 0 }".repeat(64));
        check(&ifs, "1");
        let mut in_conditions = "a".to_owned();
        for _ in 0..32 {
            in_conditions = format!("if ({in_conditions}) > 0 {{ 1 }} else {{ 0 }}");
        }
        check(&in_conditions, "1");
        let mixed = format!("{}a{}", "-floor(if !(a < 0) { ".repeat(16), " } else { 0 })".repeat(16));
        check(&mixed, "3");
        let too_long = vec!["1"; 2100].join("+");
        check_error(&too_long, "the formula is 4199 bytes long; the limit is 4096 at column 4097");
    }

    /// The deepest formulas of each shape parse and evaluate within a 1 MiB
    /// stack even unoptimised (they need about 450 KiB there, 128 KiB
    /// optimised); server threads have 2 MiB.
    #[test]
    fn deepest_formulas_fit_a_small_stack() {
        let mut in_conditions = "a".to_owned();
        for _ in 0..32 {
            in_conditions = format!("if ({in_conditions}) > 0 {{ 1 }} else {{ 0 }}");
        }
        let sources = [
            format!("{}a{}", "(".repeat(64), ")".repeat(64)),
            format!("{}a", "-".repeat(64)),
            format!("{}a{}", "floor(".repeat(64), ")".repeat(64)),
            format!("{}a{}", "min(1, ".repeat(64), ")".repeat(64)),
            format!("{}1{}", "if a > 0 { ".repeat(64), " } else { 0 }".repeat(64)),
            in_conditions,
            format!("{}a{}", "-floor(if !(a < 0) { ".repeat(16), " } else { 0 })".repeat(16)),
            format!("{}a{}", "(".repeat(65), ")".repeat(65)),
        ];
        std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || {
                for src in sources {
                    if let Ok(f) = Formula::parse(&src, &INPUTS) {
                        f.evaluate(&values()).unwrap();
                    }
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn reports_inputs_used() {
        let f = Formula::parse("if a > 0 { a * distance_km } else { a }", &INPUTS).unwrap();
        assert_eq!(f.inputs_used(), vec!["a".to_owned(), "distance_km".to_owned()]);
        assert_eq!(f.source(), "if a > 0 { a * distance_km } else { a }");
    }
}
