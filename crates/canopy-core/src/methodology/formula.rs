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
pub(crate) const RESERVED: [&str; 9] = [
    "if", "else", "min", "max", "floor", "ceil", "round", "true", "false",
];

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
            write!(
                f,
                "{} at line {}, column {}",
                self.message, self.line, self.column
            )
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
                format!(
                    "the formula is {} bytes long; the limit is {MAX_SOURCE_LEN}",
                    src.len()
                ),
            ));
        }
        let tokens = lex(trimmed).map_err(|(pos, message)| error_at(pos, message))?;
        let mut parser = Parser {
            tokens,
            i: 0,
            depth: 0,
            inputs: &inputs,
        };
        let expr = parser
            .parse_formula()
            .map_err(|(pos, message)| error_at(pos, message))?;
        Ok(Formula {
            source: trimmed.to_owned(),
            expr,
        })
    }

    /// The formula as written (surrounding whitespace trimmed).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the formula with exact decimal arithmetic. `values` must hold
    /// every input the formula names.
    pub fn evaluate(&self, values: &BTreeMap<String, Decimal>) -> Result<Decimal, EvaluationError> {
        self.expr.eval(values)
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
    FormulaError {
        line,
        column,
        message,
        multiline: src.trim().contains('\n'),
    }
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
    EvaluationError::Arithmetic {
        message: message.to_owned(),
    }
}

impl Expr {
    fn eval(&self, values: &BTreeMap<String, Decimal>) -> Result<Decimal, EvaluationError> {
        Ok(match self {
            Expr::Number(n) => *n,
            Expr::Input(name) => {
                *values
                    .get(name)
                    .ok_or_else(|| EvaluationError::MissingInput {
                        input: name.clone(),
                    })?
            }
            Expr::Neg(e) => -e.eval(values)?,
            Expr::Chain(first, rest) => {
                let mut acc = first.eval(values)?;
                for (op, e) in rest {
                    let r = e.eval(values)?;
                    acc = match op {
                        BinOp::Add => acc.checked_add(r),
                        BinOp::Sub => acc.checked_sub(r),
                        BinOp::Mul => acc.checked_mul(r),
                        BinOp::Div if r.is_zero() => return Err(arithmetic("division by zero")),
                        BinOp::Div => acc.checked_div(r),
                    }
                    .ok_or_else(|| arithmetic("arithmetic overflow"))?;
                }
                acc
            }
            Expr::Call(func, args) => {
                let mut result = args[0].eval(values)?;
                for arg in &args[1..] {
                    let v = arg.eval(values)?;
                    result = if *func == Func::Min {
                        result.min(v)
                    } else {
                        result.max(v)
                    };
                }
                match func {
                    Func::Min | Func::Max => result,
                    Func::Floor => result.floor(),
                    Func::Ceil => result.ceil(),
                    Func::Round => {
                        result.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
                    }
                }
            }
            Expr::If(cond, then, otherwise) => {
                if cond.eval(values)? {
                    then.eval(values)?
                } else {
                    otherwise.eval(values)?
                }
            }
        })
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
    fn eval(&self, values: &BTreeMap<String, Decimal>) -> Result<bool, EvaluationError> {
        Ok(match self {
            Cond::Compare(op, l, r) => {
                let l = l.eval(values)?;
                let r = r.eval(values)?;
                match op {
                    CmpOp::Lt => l < r,
                    CmpOp::Le => l <= r,
                    CmpOp::Gt => l > r,
                    CmpOp::Ge => l >= r,
                    CmpOp::Eq => l == r,
                    CmpOp::Ne => l != r,
                }
            }
            Cond::All(conds) => {
                for c in conds {
                    if !c.eval(values)? {
                        return Ok(false);
                    }
                }
                true
            }
            Cond::Any(conds) => {
                for c in conds {
                    if c.eval(values)? {
                        return Ok(true);
                    }
                }
                false
            }
            Cond::Not(c) => !c.eval(values)?,
        })
    }

    fn collect_inputs(&self, names: &mut Vec<String>) {
        match self {
            Cond::Compare(_, l, r) => {
                l.collect_inputs(names);
                r.collect_inputs(names);
            }
            Cond::All(conds) | Cond::Any(conds) => {
                conds.iter().for_each(|c| c.collect_inputs(names))
            }
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
                if end < bytes.len()
                    && (bytes[end].is_ascii_alphanumeric()
                        || bytes[end] == b'_'
                        || bytes[end] == b'.')
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
                while end < bytes.len()
                    && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_')
                {
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
    tokens.push(Token {
        tok: Tok::End,
        pos: src.len(),
    });
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

    fn expect(&mut self, tok: &Tok, context: &str) -> Result<(), Failure> {
        if self.peek() == tok {
            self.advance();
            Ok(())
        } else {
            Err((
                self.pos(),
                format!("expected {tok} {context}, found {}", self.peek()),
            ))
        }
    }

    fn enter(&mut self, pos: usize) -> Result<(), Failure> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err((
                pos,
                format!("the formula nests deeper than {MAX_DEPTH} levels"),
            ));
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
        let expr = num(self.parse_or()?, pos)?;
        if *self.peek() != Tok::End {
            return Err((
                self.pos(),
                format!("unexpected {} after a complete formula", self.peek()),
            ));
        }
        Ok(expr)
    }

    fn parse_or(&mut self) -> Result<Typed, Failure> {
        let pos = self.pos();
        let first = self.parse_and()?;
        if *self.peek() != Tok::OrOr {
            return Ok(first);
        }
        let mut conds = vec![cond(first, pos)?];
        while *self.peek() == Tok::OrOr {
            self.advance();
            let right_pos = self.pos();
            conds.push(cond(self.parse_and()?, right_pos)?);
        }
        Ok(Typed::Bool(Cond::Any(conds)))
    }

    fn parse_and(&mut self) -> Result<Typed, Failure> {
        let pos = self.pos();
        let first = self.parse_comparison()?;
        if *self.peek() != Tok::AndAnd {
            return Ok(first);
        }
        let mut conds = vec![cond(first, pos)?];
        while *self.peek() == Tok::AndAnd {
            self.advance();
            let right_pos = self.pos();
            conds.push(cond(self.parse_comparison()?, right_pos)?);
        }
        Ok(Typed::Bool(Cond::All(conds)))
    }

    fn parse_comparison(&mut self) -> Result<Typed, Failure> {
        let pos = self.pos();
        let left = self.parse_additive()?;
        let op = match self.peek() {
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::EqEq => CmpOp::Eq,
            Tok::Ne => CmpOp::Ne,
            _ => return Ok(left),
        };
        self.advance();
        let left =
            num(left, pos).map_err(|(p, _)| (p, "only numbers can be compared".to_owned()))?;
        let right_pos = self.pos();
        let right = num(self.parse_additive()?, right_pos)
            .map_err(|(p, _)| (p, "only numbers can be compared".to_owned()))?;
        if matches!(
            self.peek(),
            Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge | Tok::EqEq | Tok::Ne
        ) {
            return Err((
                self.pos(),
                "comparisons cannot be chained; join them with `&&`, e.g. `0 < x && x < 10`"
                    .to_owned(),
            ));
        }
        Ok(Typed::Bool(Cond::Compare(
            op,
            Box::new(left),
            Box::new(right),
        )))
    }

    fn parse_additive(&mut self) -> Result<Typed, Failure> {
        self.parse_chain(Self::parse_multiplicative, |t| match t {
            Tok::Plus => Some(BinOp::Add),
            Tok::Minus => Some(BinOp::Sub),
            _ => None,
        })
    }

    fn parse_multiplicative(&mut self) -> Result<Typed, Failure> {
        self.parse_chain(Self::parse_unary, |t| match t {
            Tok::Star => Some(BinOp::Mul),
            Tok::Slash => Some(BinOp::Div),
            _ => None,
        })
    }

    /// `operand (op operand)*`, left-associative.
    fn parse_chain(
        &mut self,
        operand: fn(&mut Self) -> Result<Typed, Failure>,
        operator: fn(&Tok) -> Option<BinOp>,
    ) -> Result<Typed, Failure> {
        let pos = self.pos();
        let first = operand(self)?;
        if operator(self.peek()).is_none() {
            return Ok(first);
        }
        let first = num(first, pos)?;
        let mut rest = Vec::new();
        while let Some(op) = operator(self.peek()) {
            self.advance();
            let right_pos = self.pos();
            rest.push((op, num(operand(self)?, right_pos)?));
        }
        Ok(Typed::Num(Expr::Chain(Box::new(first), rest)))
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

    fn parse_primary(&mut self) -> Result<Typed, Failure> {
        let pos = self.pos();
        match self.peek().clone() {
            Tok::Number(n) => {
                self.advance();
                Ok(Typed::Num(Expr::Number(n)))
            }
            Tok::LParen => {
                self.advance();
                self.enter(pos)?;
                let inner = self.parse_or()?;
                self.expect(&Tok::RParen, "to close the `(`")?;
                self.leave();
                Ok(inner)
            }
            Tok::Ident(name) if name == "if" => self.parse_if(),
            Tok::Ident(name) => {
                self.advance();
                if *self.peek() == Tok::LParen {
                    return self.parse_call(&name, pos);
                }
                if FUNCTIONS.contains(&name.as_str()) {
                    return Err((
                        pos,
                        format!("`{name}` is a function; call it as `{name}(…)`"),
                    ));
                }
                if name == "else" {
                    return Err((pos, "unexpected `else` without `if`".to_owned()));
                }
                if self.inputs.contains(&name.as_str()) {
                    return Ok(Typed::Num(Expr::Input(name)));
                }
                let declared = if self.inputs.is_empty() {
                    "no inputs are declared".to_owned()
                } else {
                    format!("declared inputs: {}", self.inputs.join(", "))
                };
                Err((pos, format!("unknown input `{name}` ({declared})")))
            }
            other => Err((
                pos,
                format!("expected a number, an input, a function call, `if` or `(`, found {other}"),
            )),
        }
    }

    fn parse_call(&mut self, name: &str, pos: usize) -> Result<Typed, Failure> {
        let func = match name {
            "min" => Func::Min,
            "max" => Func::Max,
            "floor" => Func::Floor,
            "ceil" => Func::Ceil,
            "round" => Func::Round,
            _ => {
                return Err((
                    pos,
                    format!(
                        "unknown function `{name}` (functions: {})",
                        FUNCTIONS.join(", ")
                    ),
                ));
            }
        };
        self.enter(pos)?;
        self.advance(); // `(`
        let mut args = Vec::new();
        if *self.peek() != Tok::RParen {
            loop {
                let arg_pos = self.pos();
                args.push(num(self.parse_or()?, arg_pos)?);
                if *self.peek() == Tok::Comma {
                    self.advance();
                    continue;
                }
                break;
            }
        }
        self.expect(&Tok::RParen, &format!("to close the arguments of `{name}`"))?;
        self.leave();
        match func {
            Func::Min | Func::Max if args.len() < 2 => Err((
                pos,
                format!("`{name}` takes two or more arguments, got {}", args.len()),
            )),
            Func::Floor | Func::Ceil | Func::Round if args.len() != 1 => Err((
                pos,
                format!("`{name}` takes one argument, got {}", args.len()),
            )),
            _ => Ok(Typed::Num(Expr::Call(func, args))),
        }
    }

    fn parse_if(&mut self) -> Result<Typed, Failure> {
        let pos = self.pos();
        self.enter(pos)?;
        self.advance(); // `if`
        let cond_pos = self.pos();
        if *self.peek() == Tok::LBrace {
            return Err((cond_pos, "`if` needs a condition before `{`".to_owned()));
        }
        let condition = cond(self.parse_or()?, cond_pos)?;
        let then = self.parse_block("after the condition of `if`")?;
        if *self.peek() != Tok::Ident("else".to_owned()) {
            return Err((
                self.pos(),
                format!(
                    "expected `else` after the `if` branch, found {}",
                    self.peek()
                ),
            ));
        }
        self.advance();
        let otherwise = if *self.peek() == Tok::Ident("if".to_owned()) {
            let else_if_pos = self.pos();
            num(self.parse_if()?, else_if_pos)?
        } else {
            self.parse_block("after `else`")?
        };
        self.leave();
        Ok(Typed::Num(Expr::If(
            Box::new(condition),
            Box::new(then),
            Box::new(otherwise),
        )))
    }

    fn parse_block(&mut self, context: &str) -> Result<Expr, Failure> {
        self.expect(&Tok::LBrace, context)?;
        let pos = self.pos();
        if *self.peek() == Tok::RBrace {
            return Err((pos, "an `if` branch cannot be empty".to_owned()));
        }
        let expr = num(self.parse_or()?, pos)
            .map_err(|(p, _)| (p, "an `if` branch must be a number".to_owned()))?;
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
            (
                "if a < 0 { 1 } else if a < 2 { 2 } else if b < 0 { 4 } else { 3 }",
                "4",
            ),
            ("1 + if a > 0 { 10 } else { 20 } * 2", "21"),
            ("if (a > 0) && (b > 0 || a == 3) { 1 } else { 0 }", "1"),
            ("if (a + 1) * 2 > 7 { 1 } else { 0 }", "1"),
            ("min(296, floor(10000 * 0.0296))", "296"),
            ("  250*distance_km  ", "800"),
            ("250\n  * distance_km", "800"),
            ("1 / 0", "error: formula error: division by zero"),
            ("a / (b + 2.5)", "error: formula error: division by zero"),
            (
                "79228162514264337593543950335 + 1",
                "error: formula error: arithmetic overflow",
            ),
            (
                "79228162514264337593543950335 * 2",
                "error: formula error: arithmetic overflow",
            ),
            (
                "-79228162514264337593543950335 - 1",
                "error: formula error: arithmetic overflow",
            ),
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
            ("1 +", "expected a number, an input, a function call, `if` or `(`, found the end of the formula at column 4"),
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
            ("if 0 < a < 2 { 1 } else { 2 }", "comparisons cannot be chained; join them with `&&`, e.g. `0 < x && x < 10` at column 10"),
            ("if (a < b) < 1 { 1 } else { 0 }", "only numbers can be compared at column 4"),
            ("min(a < b, 1)", "expected a number, found a condition (conditions only follow `if`) at column 5"),
            ("else", "unexpected `else` without `if` at column 1"),
            ("123456789012345678901234567890", "the number `123456789012345678901234567890` is out of range at column 1"),
            ("1 +\n  foo", "unknown input `foo` (declared inputs: a, b, distance_km) at line 2, column 3"),
        ] {
            check_error(src, expect);
        }
        let no_inputs: [&str; 0] = [];
        assert_eq!(
            Formula::parse("items * 2", &no_inputs)
                .unwrap_err()
                .to_string(),
            "unknown input `items` (no inputs are declared) at column 1"
        );
    }

    #[test]
    fn limits_depth_and_length() {
        let ok = format!("{}1{}", "(".repeat(64), ")".repeat(64));
        check(&ok, "1");
        let deep = format!("{}1{}", "(".repeat(65), ")".repeat(65));
        check_error(
            &deep,
            "the formula nests deeper than 64 levels at column 65",
        );
        let minus = format!("{}1", "-".repeat(65));
        check_error(
            &minus,
            "the formula nests deeper than 64 levels at column 65",
        );
        let calls = format!("{}1{}", "floor(".repeat(65), ")".repeat(65));
        check_error(
            &calls,
            "the formula nests deeper than 64 levels at column 385",
        );
        // A long flat chain is fine: the nesting is what is limited.
        let long = vec!["1"; 2000].join("+");
        assert!(long.len() <= MAX_SOURCE_LEN);
        check(&long, "2000");
        let too_long = vec!["1"; 2100].join("+");
        check_error(
            &too_long,
            "the formula is 4199 bytes long; the limit is 4096 at column 4097",
        );
    }

    #[test]
    fn reports_inputs_used() {
        let f = Formula::parse("if a > 0 { a * distance_km } else { a }", &INPUTS).unwrap();
        assert_eq!(
            f.inputs_used(),
            vec!["a".to_owned(), "distance_km".to_owned()]
        );
        assert_eq!(f.source(), "if a > 0 { a * distance_km } else { a }");
    }
}
