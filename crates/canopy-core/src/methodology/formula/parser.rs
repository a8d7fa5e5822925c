//! The parser: recursive descent over the tokens, type-checking numbers
//! against conditions as it builds the tree.

use super::lexer::{Failure, Tok, Token};
use super::{BinOp, CmpOp, Cond, Expr, Func, FUNCTIONS, MAX_DEPTH};

/// A parsed sub-expression, typed.
enum Typed {
    Num(Expr),
    Bool(Cond),
}

pub(super) struct Parser<'a> {
    pub(super) tokens: Vec<Token>,
    pub(super) i: usize,
    pub(super) depth: usize,
    pub(super) inputs: &'a [&'a str],
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

    pub(super) fn parse_formula(&mut self) -> Result<Expr, Failure> {
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
