//! The lexer: formula text to tokens, each with its byte position.

use std::fmt;

use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) pos: usize,
}

pub(super) type Failure = (usize, String);

pub(super) fn lex(src: &str) -> Result<Vec<Token>, Failure> {
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
