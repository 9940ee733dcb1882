//! The hand-written PromQL parser: [`parse`] turns a query into an [`Expr`],
//! reproducing Prometheus's grammar, its type checks and its error messages
//! (`1:5: parse error: unexpected "}"`).
//!
//! Layout: [`lexer`] (tokens), `parse` (syntax), `check` (Prometheus's
//! `checkAST` type checks), [`functions`] (the function table) and `display`
//! (`Expr`'s `Display`, like Prometheus's `String()`).

use std::fmt;

use crate::ast::{Expr, PosRange, ValueType};

mod check;
mod display;
pub mod functions;
pub mod lexer;
mod parse;

/// A parse error, displayed like Prometheus's `ParseErr`:
/// `<line>:<col>: parse error: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub pos: PosRange,
    pub message: String,
    /// 1-based line of `pos.start`.
    pub line: usize,
    /// 1-based byte column of `pos.start` within its line.
    pub col: usize,
}

impl ParseError {
    /// An error at `pos` of `query`; line and column are derived from the query.
    pub fn new(query: &str, pos: PosRange, message: impl Into<String>) -> ParseError {
        let start = pos.start.min(query.len());
        let before = query.as_bytes().get(..start).unwrap_or(&[]);
        let line = 1 + before.iter().filter(|&&c| c == b'\n').count();
        let last_nl = before.iter().rposition(|&c| c == b'\n');
        let col = match last_nl {
            Some(i) => start - i,
            None => start + 1,
        };
        ParseError {
            pos,
            message: message.into(),
            line,
            col,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: parse error: {}",
            self.line, self.col, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// Parses a PromQL expression, with Prometheus's checks and messages.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let mut expr = parse::parse_syntax(input)?;
    check::check(input, &mut expr)?;
    Ok(expr)
}

impl Expr {
    /// The type of the expression's value.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(..) | Expr::Step(_) | Expr::Range(_) => ValueType::Scalar,
            Expr::String(..) => ValueType::String,
            Expr::Vector(_) => ValueType::Vector,
            Expr::Matrix(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Paren(e, _) | Expr::Unary(_, e, _) => e.value_type(),
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Aggregate(_) => ValueType::Vector,
            Expr::Call(c) => match functions::lookup(&c.name) {
                Some(f) => f.return_type,
                None if matches!(c.name.as_str(), "min_of" | "max_of" | "start" | "end") => {
                    ValueType::Scalar
                }
                None => ValueType::Vector,
            },
        }
    }

    /// The expression's byte range in the query.
    pub fn pos(&self) -> PosRange {
        match self {
            Expr::Number(_, p)
            | Expr::String(_, p)
            | Expr::Paren(_, p)
            | Expr::Unary(_, _, p)
            | Expr::Step(p)
            | Expr::Range(p) => *p,
            Expr::Vector(v) => v.pos,
            Expr::Matrix(m) => m.pos,
            Expr::Subquery(s) => s.pos,
            Expr::Binary(b) => b.pos,
            Expr::Aggregate(a) => a.pos,
            Expr::Call(c) => c.pos,
        }
    }
}

#[cfg(test)]
mod tests;
