//! The syntax half of the parser: a precedence-climbing parser over the
//! lexer's tokens building the [`Expr`] tree. Type checks that Prometheus
//! runs after parsing (`checkAST`) live in `check`.

use pharos_model::{MatchOp, Matcher};

use super::lexer::{lex, Tok, Token};
use super::{functions, ParseError};
use crate::ast::*;

type PResult<T> = Result<T, ParseError>;

/// Aggregation operator by lower-case name.
pub fn aggregator(lower: &str) -> Option<AggregateOp> {
    Some(match lower {
        "sum" => AggregateOp::Sum,
        "avg" => AggregateOp::Avg,
        "count" => AggregateOp::Count,
        "min" => AggregateOp::Min,
        "max" => AggregateOp::Max,
        "group" => AggregateOp::Group,
        "stddev" => AggregateOp::Stddev,
        "stdvar" => AggregateOp::Stdvar,
        "topk" => AggregateOp::TopK,
        "bottomk" => AggregateOp::BottomK,
        "count_values" => AggregateOp::CountValues,
        "quantile" => AggregateOp::Quantile,
        "limitk" => AggregateOp::LimitK,
        "limit_ratio" => AggregateOp::LimitRatio,
        _ => return None,
    })
}

/// Whether a lower-case word is an aggregation operator.
pub fn is_aggregator(lower: &str) -> bool {
    aggregator(lower).is_some()
}

/// Binding power of a binary operator (higher binds tighter).
fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And | BinaryOp::Unless => 2,
        BinaryOp::Eql
        | BinaryOp::Neq
        | BinaryOp::Gtr
        | BinaryOp::Lss
        | BinaryOp::Gte
        | BinaryOp::Lte => 3,
        BinaryOp::Add | BinaryOp::Sub => 4,
        BinaryOp::Mul
        | BinaryOp::Div
        | BinaryOp::Mod
        | BinaryOp::Atan2
        | BinaryOp::TrimUpper
        | BinaryOp::TrimLower => 5,
        BinaryOp::Pow => 6,
    }
}

/// What a duration position accepts, in messages.
const DURATION_EXPECTED: &str = "number, duration, step(), or range()";

/// Maximum nesting depth, to keep recursion bounded on hostile input.
const MAX_DEPTH: usize = 500;

/// Parses the syntax of a query (no type checks).
pub fn parse_syntax(input: &str) -> PResult<Expr> {
    let mut p = Parser {
        src: input,
        toks: lex(input),
        i: 0,
        depth: 0,
        dctx: "duration expression",
    };
    let e = p.parse_expr(0)?;
    let t = p.peek().clone();
    match t.tok {
        Tok::Eof => Ok(e),
        _ => Err(p.unexpected_tok(&t, "", "")),
    }
}

pub(crate) struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
    depth: usize,
    /// Context named in errors inside duration expressions.
    dctx: &'static str,
}

fn span(a: PosRange, b: PosRange) -> PosRange {
    PosRange {
        start: a.start.min(b.start),
        end: a.end.max(b.end),
    }
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token {
        self.peek_at(0)
    }

    fn peek_at(&self, k: usize) -> &Token {
        let idx = (self.i + k).min(self.toks.len().saturating_sub(1));
        &self.toks[idx]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn err(&self, pos: PosRange, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.src, pos, msg)
    }

    /// `unexpected <item> [in <ctx>][, expected <exp>]`; lexer errors pass through.
    fn unexpected_tok(&self, t: &Token, ctx: &str, expected: &str) -> ParseError {
        if let Tok::Error(m) = &t.tok {
            return self.err(t.pos, m.clone());
        }
        let mut msg = format!("unexpected {}", t.desc());
        if !ctx.is_empty() {
            msg.push_str(" in ");
            msg.push_str(ctx);
        }
        if !expected.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(expected);
        }
        self.err(t.pos, msg)
    }

    fn is_kw(t: &Token, kw: &str) -> bool {
        matches!(&t.tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn expect(&mut self, want: Tok, ctx: &str, expected: &str) -> PResult<Token> {
        let t = self.peek().clone();
        if t.tok == want {
            Ok(self.next())
        } else {
            Err(self.unexpected_tok(&t, ctx, expected))
        }
    }

    fn binop(t: &Token) -> Option<BinaryOp> {
        Some(match &t.tok {
            Tok::Add => BinaryOp::Add,
            Tok::Sub => BinaryOp::Sub,
            Tok::Mul => BinaryOp::Mul,
            Tok::Div => BinaryOp::Div,
            Tok::Mod => BinaryOp::Mod,
            Tok::Pow => BinaryOp::Pow,
            Tok::Eql => BinaryOp::Eql,
            Tok::Neq => BinaryOp::Neq,
            Tok::Lss => BinaryOp::Lss,
            Tok::Lte => BinaryOp::Lte,
            Tok::Gtr => BinaryOp::Gtr,
            Tok::Gte => BinaryOp::Gte,
            Tok::TrimUpper => BinaryOp::TrimUpper,
            Tok::TrimLower => BinaryOp::TrimLower,
            Tok::Ident(s) => match s.to_ascii_lowercase().as_str() {
                "and" => BinaryOp::And,
                "or" => BinaryOp::Or,
                "unless" => BinaryOp::Unless,
                "atan2" => BinaryOp::Atan2,
                _ => return None,
            },
            _ => return None,
        })
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let t = self.peek().clone();
            return Err(self.err(t.pos, "expression nested too deeply"));
        }
        Ok(())
    }

    /// Parses binary expressions whose operators bind at least `min_prec`.
    pub(crate) fn parse_expr(&mut self, min_prec: u8) -> PResult<Expr> {
        self.enter()?;
        let r = self.parse_expr_inner(min_prec);
        self.depth -= 1;
        r
    }

    fn parse_expr_inner(&mut self, min_prec: u8) -> PResult<Expr> {
        let mut lhs = self.parse_unary()?;
        loop {
            let t = self.peek().clone();
            let Some(op) = Self::binop(&t) else { break };
            let prec = precedence(op);
            if prec < min_prec {
                break;
            }
            self.next();
            let mut return_bool = false;
            if Self::is_kw(self.peek(), "bool") {
                self.next();
                return_bool = true;
            }
            let mut matching = VectorMatching {
                card: Cardinality::OneToOne,
                labels: Vec::new(),
                on: false,
                include: Vec::new(),
            };
            let p = self.peek().clone();
            if (Self::is_kw(&p, "on") || Self::is_kw(&p, "ignoring"))
                && self.peek_at(1).tok == Tok::LParen
            {
                self.next();
                matching.on = Self::is_kw(&p, "on");
                matching.labels = self.parse_label_list()?;
                let g = self.peek().clone();
                if Self::is_kw(&g, "group_left") || Self::is_kw(&g, "group_right") {
                    self.next();
                    matching.card = if Self::is_kw(&g, "group_left") {
                        Cardinality::ManyToOne
                    } else {
                        Cardinality::OneToMany
                    };
                    if self.peek().tok == Tok::LParen {
                        matching.include = self.parse_label_list()?;
                    }
                }
            }
            let mut fill = Fill::default();
            loop {
                let f = self.peek().clone();
                let which = match &f.tok {
                    Tok::Ident(s) if self.peek_at(1).tok == Tok::LParen => s.to_ascii_lowercase(),
                    _ => break,
                };
                if !matches!(which.as_str(), "fill" | "fill_left" | "fill_right") {
                    break;
                }
                self.next();
                self.next();
                let v = self.parse_signed_number("fill modifier")?;
                self.expect(Tok::RParen, "fill modifier", "\")\"")?;
                match which.as_str() {
                    "fill" => {
                        fill.left = Some(v);
                        fill.right = Some(v);
                    }
                    "fill_left" => fill.left = Some(v),
                    _ => fill.right = Some(v),
                }
            }
            let next_min = if op == BinaryOp::Pow { prec } else { prec + 1 };
            let rhs = self.parse_expr(next_min)?;
            let pos = span(lhs.pos(), rhs.pos());
            lhs = Expr::Binary(BinaryExpr {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                return_bool,
                matching: Some(matching),
                fill,
                pos,
            });
        }
        Ok(lhs)
    }

    /// An optionally signed number literal (for `fill(...)`).
    fn parse_signed_number(&mut self, ctx: &str) -> PResult<f64> {
        let mut sign = 1.0;
        match self.peek().tok {
            Tok::Sub => {
                self.next();
                sign = -1.0;
            }
            Tok::Add => {
                self.next();
            }
            _ => {}
        }
        let t = self.next();
        match t.tok {
            Tok::Number(v) => Ok(sign * v),
            Tok::Duration(ms) => Ok(sign * ms as f64 / 1000.0),
            _ => Err(self.unexpected_tok(&t, ctx, "number")),
        }
    }

    fn parse_unary(&mut self) -> PResult<Expr> {
        let t = self.peek().clone();
        let op = match t.tok {
            Tok::Add => UnaryOp::Pos,
            Tok::Sub => UnaryOp::Neg,
            _ => {
                let e = self.parse_primary()?;
                return self.parse_postfix(e);
            }
        };
        self.next();
        let operand = self.parse_expr(precedence(BinaryOp::Pow))?;
        let pos = span(t.pos, operand.pos());
        Ok(match operand {
            Expr::Number(v, _) => Expr::Number(if op == UnaryOp::Neg { -v } else { v }, pos),
            e => Expr::Unary(op, Box::new(e), pos),
        })
    }

    fn parse_postfix(&mut self, mut e: Expr) -> PResult<Expr> {
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::LBracket => e = self.parse_range(e)?,
                Tok::At => e = self.parse_at(e)?,
                Tok::Ident(s) if s.eq_ignore_ascii_case("offset") => e = self.parse_offset(e)?,
                Tok::Ident(s)
                    if (s.eq_ignore_ascii_case("anchored")
                        || s.eq_ignore_ascii_case("smoothed"))
                        && matches!(e, Expr::Vector(_) | Expr::Matrix(_)) =>
                {
                    self.next();
                    let anchored = s.eq_ignore_ascii_case("anchored");
                    match &mut e {
                        Expr::Matrix(m) => {
                            if anchored {
                                m.anchored = true;
                            } else {
                                m.smoothed = true;
                            }
                            m.pos.end = t.pos.end;
                        }
                        Expr::Vector(v) => {
                            if anchored {
                                v.anchored = true;
                            } else {
                                v.smoothed = true;
                            }
                            v.pos.end = t.pos.end;
                        }
                        _ => {}
                    }
                }
                _ => return Ok(e),
            }
        }
    }

    /// `[range]` or `[range:step]` after `e`.
    fn parse_range(&mut self, e: Expr) -> PResult<Expr> {
        let lb = self.next();
        let range_start = self.peek().pos;
        let range = self.parse_duration_expr("subquery or range selector")?;
        let range_pos = span(range_start, self.toks[self.i.saturating_sub(1)].pos);
        let t = self.next();
        match t.tok {
            Tok::Colon => {
                let step = if self.peek().tok == Tok::RBracket {
                    None
                } else {
                    Some(self.parse_duration_expr("subquery or range selector")?)
                };
                if matches!(range, Duration::Millis(ms) if ms <= 0) {
                    return Err(self.err(range_pos, "duration must be greater than 0"));
                }
                let close = self.expect(Tok::RBracket, "subquery selector", "\"]\"")?;
                let pos = span(e.pos(), close.pos);
                Ok(Expr::Subquery(Subquery {
                    expr: Box::new(e),
                    range,
                    step,
                    offset: None,
                    at: None,
                    pos,
                }))
            }
            Tok::RBracket => {
                let pos = span(e.pos(), t.pos);
                let brackets = span(lb.pos, t.pos);
                let Expr::Vector(vs) = e else {
                    return Err(self.err(e.pos(), "ranges only allowed for vector selectors"));
                };
                if vs.offset.is_some() {
                    return Err(self.err(brackets, "no offset modifiers allowed before range"));
                }
                if vs.at.is_some() {
                    return Err(self.err(brackets, "no @ modifiers allowed before range"));
                }
                if matches!(range, Duration::Millis(ms) if ms <= 0) {
                    return Err(self.err(range_pos, "duration must be greater than 0"));
                }
                Ok(Expr::Matrix(MatrixSelector {
                    selector: vs,
                    range,
                    anchored: false,
                    smoothed: false,
                    pos,
                }))
            }
            _ => Err(self.unexpected_tok(&t, "subquery or range", "\":\" or \"]\"")),
        }
    }

    /// A duration expression inside brackets (full arithmetic).
    fn parse_duration_expr(&mut self, ctx: &'static str) -> PResult<Duration> {
        let saved = std::mem::replace(&mut self.dctx, ctx);
        let e = self.parse_dexpr(0);
        self.dctx = saved;
        let e = e?;
        Ok(to_duration(e))
    }

    fn parse_dexpr(&mut self, min_prec: u8) -> PResult<Expr> {
        self.enter()?;
        let r = self.parse_dexpr_inner(min_prec);
        self.depth -= 1;
        r
    }

    fn parse_dexpr_inner(&mut self, min_prec: u8) -> PResult<Expr> {
        let mut lhs = self.parse_dunary()?;
        loop {
            let t = self.peek().clone();
            let op = match t.tok {
                Tok::Add => BinaryOp::Add,
                Tok::Sub => BinaryOp::Sub,
                Tok::Mul => BinaryOp::Mul,
                Tok::Div => BinaryOp::Div,
                Tok::Mod => BinaryOp::Mod,
                Tok::Pow => BinaryOp::Pow,
                _ => break,
            };
            let prec = precedence(op);
            if prec < min_prec {
                break;
            }
            self.next();
            let next_min = if op == BinaryOp::Pow { prec } else { prec + 1 };
            let rhs = self.parse_dexpr(next_min)?;
            let pos = span(lhs.pos(), rhs.pos());
            lhs = Expr::Binary(BinaryExpr {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                return_bool: false,
                matching: None,
                fill: Fill::default(),
                pos,
            });
        }
        Ok(lhs)
    }

    fn parse_dunary(&mut self) -> PResult<Expr> {
        let t = self.peek().clone();
        let op = match t.tok {
            Tok::Add => UnaryOp::Pos,
            Tok::Sub => UnaryOp::Neg,
            _ => return self.parse_dprimary(),
        };
        self.next();
        let operand = self.parse_dexpr(precedence(BinaryOp::Pow))?;
        let pos = span(t.pos, operand.pos());
        Ok(match operand {
            Expr::Number(v, _) => Expr::Number(if op == UnaryOp::Neg { -v } else { v }, pos),
            e => Expr::Unary(op, Box::new(e), pos),
        })
    }

    /// A duration primary: literal, `( … )`, `step()`, `range()`, `min_of(a, b)`, `max_of(a, b)`.
    fn parse_dprimary(&mut self) -> PResult<Expr> {
        let t = self.next();
        match &t.tok {
            Tok::Number(v) => Ok(Expr::Number(*v, t.pos)),
            Tok::Duration(ms) => Ok(Expr::Number(*ms as f64 / 1000.0, t.pos)),
            Tok::LParen => {
                let e = self.parse_dexpr(0)?;
                let close = self.expect(Tok::RParen, "duration expression", "\")\"")?;
                Ok(Expr::Paren(Box::new(e), span(t.pos, close.pos)))
            }
            Tok::Ident(s) if self.peek().tok == Tok::LParen => {
                let lower = s.to_ascii_lowercase();
                match lower.as_str() {
                    "step" | "range" => {
                        self.next();
                        let close = self.expect(Tok::RParen, "duration expression", "\")\"")?;
                        let pos = span(t.pos, close.pos);
                        Ok(if lower == "step" {
                            Expr::Step(pos)
                        } else {
                            Expr::Range(pos)
                        })
                    }
                    "min_of" | "max_of" => {
                        self.next();
                        let a = self.parse_dexpr(0)?;
                        self.expect(Tok::Comma, "duration expression", "\",\"")?;
                        let b = self.parse_dexpr(0)?;
                        let close = self.expect(Tok::RParen, "duration expression", "\")\"")?;
                        Ok(Expr::Call(Call {
                            name: lower,
                            args: vec![a, b],
                            pos: span(t.pos, close.pos),
                        }))
                    }
                    _ => Err(self.unexpected_tok(&t, self.dctx, DURATION_EXPECTED)),
                }
            }
            _ => Err(self.unexpected_tok(&t, self.dctx, DURATION_EXPECTED)),
        }
    }

    /// `offset d` after `e`.
    fn parse_offset(&mut self, mut e: Expr) -> PResult<Expr> {
        let kw = self.next();
        let saved = std::mem::replace(&mut self.dctx, "offset");
        let d = self.parse_dunary_primary();
        self.dctx = saved;
        let d = d?;
        let d = to_duration(d);
        let d = match d {
            Duration::Millis(0) => None,
            d => Some(d),
        };
        let end = self.toks[self.i.saturating_sub(1)].pos.end;
        let slot = match &mut e {
            Expr::Vector(v) => {
                v.pos.end = end;
                &mut v.offset
            }
            Expr::Matrix(m) => {
                m.pos.end = end;
                &mut m.selector.offset
            }
            Expr::Subquery(s) => {
                s.pos.end = end;
                &mut s.offset
            }
            _ => {
                return Err(self.err(
                    e.pos(),
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ))
            }
        };
        if slot.is_some() {
            return Err(self.err(kw.pos, "offset may not be set multiple times"));
        }
        *slot = d;
        Ok(e)
    }

    /// An optionally signed duration primary (the operand of `offset`).
    fn parse_dunary_primary(&mut self) -> PResult<Expr> {
        let t = self.peek().clone();
        let op = match t.tok {
            Tok::Add => UnaryOp::Pos,
            Tok::Sub => UnaryOp::Neg,
            _ => return self.parse_dprimary(),
        };
        self.next();
        let operand = self.parse_dprimary()?;
        let pos = span(t.pos, operand.pos());
        Ok(match operand {
            Expr::Number(v, _) => Expr::Number(if op == UnaryOp::Neg { -v } else { v }, pos),
            e => Expr::Unary(op, Box::new(e), pos),
        })
    }

    /// `@ t`, `@ start()`, `@ end()` after `e`.
    fn parse_at(&mut self, mut e: Expr) -> PResult<Expr> {
        let kw = self.next();
        let t = self.peek().clone();
        let at = match &t.tok {
            Tok::Ident(s)
                if (s.eq_ignore_ascii_case("start") || s.eq_ignore_ascii_case("end"))
                    && self.peek_at(1).tok == Tok::LParen =>
            {
                self.next();
                self.next();
                self.expect(Tok::RParen, "@", "\")\"")?;
                if s.eq_ignore_ascii_case("start") {
                    At::Start
                } else {
                    At::End
                }
            }
            Tok::Number(_) | Tok::Duration(_) | Tok::Add | Tok::Sub => {
                let v = self.parse_signed_number("@")?;
                if !v.is_finite() || v >= i64::MAX as f64 / 1000.0 || v <= i64::MIN as f64 / 1000.0
                {
                    return Err(self.err(
                        t.pos,
                        format!("timestamp out of bounds for @ modifier: {v:.6}"),
                    ));
                }
                At::Time((v * 1000.0).round() as i64)
            }
            _ => return Err(self.unexpected_tok(&t, "@", "timestamp")),
        };
        let end = self.toks[self.i.saturating_sub(1)].pos.end;
        let slot = match &mut e {
            Expr::Vector(v) => {
                v.pos.end = end;
                &mut v.at
            }
            Expr::Matrix(m) => {
                m.pos.end = end;
                &mut m.selector.at
            }
            Expr::Subquery(s) => {
                s.pos.end = end;
                &mut s.at
            }
            _ => {
                return Err(self.err(
                    e.pos(),
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ))
            }
        };
        if slot.is_some() {
            return Err(self.err(kw.pos, "@ <timestamp> may not be set multiple times"));
        }
        *slot = Some(at);
        Ok(e)
    }

    fn parse_primary(&mut self) -> PResult<Expr> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::Number(v) => {
                self.next();
                Ok(Expr::Number(*v, t.pos))
            }
            Tok::Duration(ms) => {
                self.next();
                Ok(Expr::Number(*ms as f64 / 1000.0, t.pos))
            }
            Tok::Str(s) => {
                self.next();
                Ok(Expr::String(s.clone(), t.pos))
            }
            Tok::LParen => {
                self.next();
                let e = self.parse_expr(0)?;
                let close = self.expect(Tok::RParen, "paren expression", "\")\"")?;
                Ok(Expr::Paren(Box::new(e), span(t.pos, close.pos)))
            }
            Tok::LBrace => self.parse_selector(None, t.pos),
            Tok::Ident(name) => {
                let lower = name.to_ascii_lowercase();
                let next = self.peek_at(1).clone();
                if let Some(op) = aggregator(&lower) {
                    if next.tok == Tok::LParen
                        || Self::is_kw(&next, "by")
                        || Self::is_kw(&next, "without")
                    {
                        return self.parse_aggregate(op, t.pos);
                    }
                }
                if next.tok == Tok::LParen {
                    if let Some(e) = self.parse_time_call(&lower, t.pos)? {
                        return Ok(e);
                    }
                    return self.parse_call(name.clone(), t.pos);
                }
                self.next();
                if next.tok == Tok::LBrace {
                    self.parse_selector(Some(name.clone()), t.pos)
                } else {
                    let m = Matcher::equal("__name__", name);
                    Ok(Expr::Vector(VectorSelector {
                        name: Some(name.clone()),
                        matchers: vec![m],
                        offset: None,
                        at: None,
                        anchored: false,
                        smoothed: false,
                        pos: t.pos,
                    }))
                }
            }
            _ => Err(self.unexpected_tok(&t, "", "")),
        }
    }

    /// `step()`, `range()`, `start()`, `end()`, `min_of(a, b)`, `max_of(a, b)`
    /// (newer PromQL, case-insensitive keywords); `None` for other names.
    /// `start()`/`end()`/`min_of`/`max_of` become [`Call`]s of those names.
    fn parse_time_call(&mut self, lower: &str, start: PosRange) -> PResult<Option<Expr>> {
        match lower {
            "step" | "range" | "start" | "end" => {
                if self.peek_at(2).tok != Tok::RParen {
                    return Ok(None);
                }
                self.next();
                self.next();
                let close = self.next();
                let pos = span(start, close.pos);
                Ok(Some(match lower {
                    "step" => Expr::Step(pos),
                    "range" => Expr::Range(pos),
                    _ => Expr::Call(Call {
                        name: lower.to_string(),
                        args: Vec::new(),
                        pos,
                    }),
                }))
            }
            "min_of" | "max_of" => {
                self.next();
                self.next();
                let (args, close) = self.parse_args("function call")?;
                Ok(Some(Expr::Call(Call {
                    name: lower.to_string(),
                    args,
                    pos: span(start, close),
                })))
            }
            _ => Ok(None),
        }
    }

    fn parse_call(&mut self, name: String, start: PosRange) -> PResult<Expr> {
        if functions::lookup(&name).is_none() {
            return Err(self.err(
                start,
                format!(
                    "unknown function with name {}",
                    super::lexer::go_quote(&name)
                ),
            ));
        }
        self.next();
        self.next();
        let (args, close) = self.parse_args("function call")?;
        Ok(Expr::Call(Call {
            name,
            args,
            pos: span(start, close),
        }))
    }

    /// Comma-separated arguments up to and including `)`.
    fn parse_args(&mut self, ctx: &str) -> PResult<(Vec<Expr>, PosRange)> {
        let mut args = Vec::new();
        if self.peek().tok == Tok::RParen {
            return Ok((args, self.next().pos));
        }
        loop {
            args.push(self.parse_expr(0)?);
            let t = self.next();
            match t.tok {
                Tok::RParen => return Ok((args, t.pos)),
                Tok::Comma => {
                    if self.peek().tok == Tok::RParen {
                        let c = self.peek().clone();
                        return Err(
                            self.err(c.pos, format!("trailing commas not allowed in {ctx} args"))
                        );
                    }
                }
                _ => return Err(self.unexpected_tok(&t, ctx, "\",\" or \")\"")),
            }
        }
    }

    fn parse_aggregate(&mut self, op: AggregateOp, start: PosRange) -> PResult<Expr> {
        self.next();
        let mut grouping = None;
        let t = self.peek().clone();
        if Self::is_kw(&t, "by") || Self::is_kw(&t, "without") {
            self.next();
            grouping = Some((Self::is_kw(&t, "without"), self.parse_label_list()?));
        }
        let lp = self.peek().clone();
        if lp.tok != Tok::LParen {
            return Err(self.unexpected_tok(&lp, "aggregation", "\"(\""));
        }
        self.next();
        let (mut args, close) = self.parse_args("aggregation")?;
        let mut end = close;
        if grouping.is_none() {
            let t = self.peek().clone();
            if Self::is_kw(&t, "by") || Self::is_kw(&t, "without") {
                self.next();
                grouping = Some((Self::is_kw(&t, "without"), self.parse_label_list()?));
                end = self.toks[self.i.saturating_sub(1)].pos;
            }
        }
        let pos = span(start, end);
        if args.is_empty() {
            return Err(self.err(pos, "no arguments for aggregate expression provided"));
        }
        let want = if op.takes_param() { 2 } else { 1 };
        if args.len() != want {
            return Err(self.err(
                pos,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {want}, got {}",
                    args.len()
                ),
            ));
        }
        let expr = args.pop().map(Box::new);
        let param = args.pop().map(Box::new);
        let Some(expr) = expr else {
            return Err(self.err(pos, "no arguments for aggregate expression provided"));
        };
        let (without, grouping) = grouping.unwrap_or((false, Vec::new()));
        Ok(Expr::Aggregate(AggregateExpr {
            op,
            expr,
            param,
            grouping,
            without,
            pos,
        }))
    }

    /// `( label, "label", … )`.
    fn parse_label_list(&mut self) -> PResult<Vec<String>> {
        self.expect(Tok::LParen, "grouping opts", "\"(\"")?;
        let mut out = Vec::new();
        loop {
            let t = self.next();
            match &t.tok {
                Tok::RParen => return Ok(out),
                Tok::Ident(s) if !s.contains(':') => out.push(s.clone()),
                Tok::Str(s) => out.push(s.clone()),
                _ => return Err(self.unexpected_tok(&t, "grouping opts", "label")),
            }
            let t = self.next();
            match t.tok {
                Tok::RParen => return Ok(out),
                Tok::Comma => {}
                _ => return Err(self.unexpected_tok(&t, "grouping opts", "\",\" or \")\"")),
            }
        }
    }

    /// `{ matchers }`, the current token being `{`.
    fn parse_selector(&mut self, name: Option<String>, start: PosRange) -> PResult<Expr> {
        self.next();
        let mut matchers = Vec::new();
        let close;
        loop {
            let t = self.next();
            let lname = match &t.tok {
                Tok::RBrace => {
                    close = t.pos;
                    break;
                }
                Tok::Ident(s) if !s.contains(':') => s.clone(),
                Tok::Str(s) => {
                    if matches!(self.peek().tok, Tok::Comma | Tok::RBrace) {
                        matchers.push(Matcher::equal("__name__", s));
                        let sep = self.next();
                        if sep.tok == Tok::RBrace {
                            close = sep.pos;
                            break;
                        }
                        continue;
                    }
                    s.clone()
                }
                _ => {
                    return Err(self.unexpected_tok(&t, "label matching", "identifier or \"}\""));
                }
            };
            let opt = self.next();
            let op = match opt.tok {
                Tok::Assign => MatchOp::Equal,
                Tok::Neq => MatchOp::NotEqual,
                Tok::EqlRegex => MatchOp::RegexMatch,
                Tok::NeqRegex => MatchOp::RegexNoMatch,
                _ => {
                    return Err(self.unexpected_tok(
                        &opt,
                        "label matching",
                        "label matching operator",
                    ))
                }
            };
            let vt = self.next();
            let Tok::Str(value) = &vt.tok else {
                return Err(self.unexpected_tok(&vt, "label matching", "string"));
            };
            let m = Matcher::new(op, &lname, value)
                .map_err(|e| self.err(span(t.pos, vt.pos), e.to_string()))?;
            matchers.push(m);
            let sep = self.next();
            match sep.tok {
                Tok::Comma => {}
                Tok::RBrace => {
                    close = sep.pos;
                    break;
                }
                _ => return Err(self.unexpected_tok(&sep, "label matching", "\",\" or \"}\"")),
            }
        }
        if let Some(n) = &name {
            matchers.push(Matcher::equal("__name__", n));
        }
        Ok(Expr::Vector(VectorSelector {
            name,
            matchers,
            offset: None,
            at: None,
            anchored: false,
            smoothed: false,
            pos: span(start, close),
        }))
    }
}

/// A duration from a duration expression: literals become milliseconds.
fn to_duration(e: Expr) -> Duration {
    match e {
        Expr::Number(v, _) if v.is_finite() && (v * 1000.0).abs() < 9.0e18 => {
            Duration::Millis((v * 1000.0).round() as i64)
        }
        e => Duration::Expr(Box::new(e)),
    }
}
