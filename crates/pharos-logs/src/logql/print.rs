//! `Display` for the syntax tree: a canonical LogQL string that parses back
//! to an equal tree.
//!
//! Canonical choices: strings in double quotes with Go escapes; `and` (never
//! `,`) between label filters, parenthesized only where needed; `[range]` after
//! the pipeline and unwrap; grouping before the arguments of vector
//! aggregations; binary operations parenthesized only where precedence needs it.
//!
//! Every tree the parser builds round-trips. A few trees it never builds do
//! not: `| drop a` directly followed by a `!=`/`!~` line filter prints as the
//! `drop` matcher `a != "..."`, as Loki's grammar reads it.

use std::fmt::{self, Display, Formatter, Write};

use pharos_model::{MatchOp, Matcher};

use super::ast::*;

/// Quotes `s` as a Go double-quoted string that the lexer reads back as `s`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A number as the lexer reads it back: `5`, `0.25`, `1e+20`-style as `1e20`;
/// negative zero as `-0.0` (`-0` would lex as a zero duration).
pub(crate) fn number(v: f64) -> String {
    if v == 0.0 && v.is_sign_negative() {
        return "-0.0".to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v}")
    } else {
        format!("{v:?}")
    }
}

/// A duration the lexer reads back exactly: Prometheus syntax (`5d`,
/// `1h30m`, `250ms`) for positive whole milliseconds, else Go syntax with
/// units `h m s ms us ns` (`-1h30m`, `1s500us`).
pub(crate) fn duration(nanos: i64) -> String {
    const NS_PER_MS: i64 = 1_000_000;
    if nanos > 0 && nanos % NS_PER_MS == 0 {
        return pharos_model::duration::format_duration(std::time::Duration::from_nanos(
            nanos.unsigned_abs(),
        ));
    }
    if nanos == 0 {
        return "0s".to_string();
    }
    let mut n = nanos.unsigned_abs();
    let mut out = String::new();
    if nanos < 0 {
        out.push('-');
    }
    for (unit, mult) in [
        ("h", 3_600_000_000_000u64),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ] {
        if n >= mult {
            let _ = write!(out, "{}{unit}", n / mult);
            n %= mult;
        }
    }
    out
}

/// A byte size in the largest unit that divides it (`20MB`, `1KiB`, `2500B`).
pub(crate) fn bytes(b: u64) -> String {
    if b == 0 {
        return "0B".to_string();
    }
    for (unit, mult) in [
        ("PiB", 1u64 << 50),
        ("PB", 1_000_000_000_000_000),
        ("TiB", 1 << 40),
        ("TB", 1_000_000_000_000),
        ("GiB", 1 << 30),
        ("GB", 1_000_000_000),
        ("MiB", 1 << 20),
        ("MB", 1_000_000),
        ("KiB", 1 << 10),
        ("KB", 1_000),
    ] {
        if b.is_multiple_of(mult) {
            return format!("{}{unit}", b / mult);
        }
    }
    format!("{b}B")
}

fn write_matcher(f: &mut Formatter<'_>, m: &Matcher) -> fmt::Result {
    let op = match m.op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::RegexMatch => "=~",
        MatchOp::RegexNoMatch => "!~",
    };
    write!(f, "{}{}{}", m.name, op, quote(&m.value))
}

fn write_list<T>(
    f: &mut Formatter<'_>,
    items: &[T],
    mut each: impl FnMut(&mut Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        each(f, item)?;
    }
    Ok(())
}

fn write_extractions(f: &mut Formatter<'_>, params: &[LabelExtraction]) -> fmt::Result {
    write_list(f, params, |f, p| {
        write!(f, "{}={}", p.label, quote(&p.expr))
    })
}

fn write_selections(f: &mut Formatter<'_>, items: &[LabelSelection]) -> fmt::Result {
    write_list(f, items, |f, s| match s {
        LabelSelection::Name(n) => f.write_str(n),
        LabelSelection::Matcher(m) => write_matcher(f, m),
    })
}

fn write_labels(f: &mut Formatter<'_>, labels: &[String]) -> fmt::Result {
    f.write_str("(")?;
    write_list(f, labels, |f, l| f.write_str(l))?;
    f.write_str(")")
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(l) => l.fmt(f),
            Expr::Metric(m) => m.fmt(f),
        }
    }
}

impl Display for LogExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        write_list(f, &self.matchers, write_matcher)?;
        f.write_str("}")?;
        for s in &self.stages {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

impl Display for LineFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.as_str())?;
        for (i, v) in self.values.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { " or " })?;
            match v {
                LineFilterValue::Literal(s) => f.write_str(&quote(s))?,
                LineFilterValue::Ip(s) => write!(f, "ip({})", quote(s))?,
            }
        }
        Ok(())
    }
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(lf) => lf.fmt(f),
            Stage::Parser(ParserStage::Json(params)) => {
                f.write_str("| json")?;
                if !params.is_empty() {
                    f.write_str(" ")?;
                    write_extractions(f, params)?;
                }
                Ok(())
            }
            Stage::Parser(ParserStage::Logfmt {
                strict,
                keep_empty,
                params,
            }) => {
                f.write_str("| logfmt")?;
                if *strict {
                    f.write_str(" --strict")?;
                }
                if *keep_empty {
                    f.write_str(" --keep-empty")?;
                }
                if !params.is_empty() {
                    f.write_str(" ")?;
                    write_extractions(f, params)?;
                }
                Ok(())
            }
            Stage::Parser(ParserStage::Regexp(re)) => write!(f, "| regexp {}", quote(re)),
            Stage::Parser(ParserStage::Pattern(p)) => write!(f, "| pattern {}", quote(p)),
            Stage::Parser(ParserStage::Unpack) => f.write_str("| unpack"),
            Stage::LabelFilter(lf) => write!(f, "| {lf}"),
            Stage::LineFormat(t) => write!(f, "| line_format {}", quote(t)),
            Stage::LabelFormat(ops) => {
                f.write_str("| label_format ")?;
                write_list(f, ops, |f, op| match op {
                    LabelFormatOp::Rename { dst, src } => write!(f, "{dst}={src}"),
                    LabelFormatOp::Template { dst, template } => {
                        write!(f, "{dst}={}", quote(template))
                    }
                })
            }
            Stage::Drop(items) => {
                f.write_str("| drop ")?;
                write_selections(f, items)
            }
            Stage::Keep(items) => {
                f.write_str("| keep ")?;
                write_selections(f, items)
            }
            Stage::Decolorize => f.write_str("| decolorize"),
        }
    }
}

impl LabelFilterExpr {
    fn is_binary(&self) -> bool {
        matches!(self, LabelFilterExpr::And(..) | LabelFilterExpr::Or(..))
    }
}

impl Display for LabelFilterExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_filter(f, self, true)
    }
}

/// `(e)`.
fn write_filter_group(f: &mut Formatter<'_>, e: &LabelFilterExpr) -> fmt::Result {
    f.write_str("(")?;
    write_filter(f, e, true)?;
    f.write_str(")")
}

/// Whether no `and` on the tail of `e` has an `and`/`or` right operand:
/// then `(e)` nests no further parentheses.
fn simple_tail(e: &LabelFilterExpr) -> bool {
    match e {
        LabelFilterExpr::And(_, r) => !r.is_binary(),
        LabelFilterExpr::Or(_, r) => matches!(**r, LabelFilterExpr::Or(..)) || simple_tail(r),
        _ => true,
    }
}

/// Writes a label filter; `tail` when nothing of the filter expression
/// follows it. `and` binds tighter than `or`, both associate to the left. In
/// tail position `l, r` stands for `l and (r)` (Loki's `,` takes the rest of
/// the expression); it is used when `r` is an `and`, or an `or` whose own
/// tail is not simple, so that `,` chains print flat instead of nesting
/// parentheses.
fn write_filter(f: &mut Formatter<'_>, e: &LabelFilterExpr, tail: bool) -> fmt::Result {
    match e {
        LabelFilterExpr::And(l, r)
            if tail
                && (matches!(**r, LabelFilterExpr::And(..))
                    || (matches!(**r, LabelFilterExpr::Or(..)) && !simple_tail(r))) =>
        {
            if l.is_binary() {
                write_filter_group(f, l)?;
            } else {
                write_filter(f, l, false)?;
            }
            f.write_str(", ")?;
            write_filter(f, r, true)
        }
        LabelFilterExpr::And(l, r) => {
            if matches!(**l, LabelFilterExpr::Or(..)) {
                write_filter_group(f, l)?;
            } else {
                write_filter(f, l, false)?;
            }
            f.write_str(" and ")?;
            if r.is_binary() {
                write_filter_group(f, r)
            } else {
                write_filter(f, r, tail)
            }
        }
        LabelFilterExpr::Or(l, r) => {
            write_filter(f, l, false)?;
            f.write_str(" or ")?;
            if matches!(**r, LabelFilterExpr::Or(..)) {
                write_filter_group(f, r)
            } else {
                write_filter(f, r, tail)
            }
        }
        LabelFilterExpr::Matcher(m) => write_matcher(f, m),
        LabelFilterExpr::Number { label, op, value } => {
            write!(f, "{label} {} {}", op.as_str(), number(*value))
        }
        LabelFilterExpr::Duration { label, op, nanos } => {
            write!(f, "{label} {} {}", op.as_str(), duration(*nanos))
        }
        LabelFilterExpr::Bytes {
            label,
            op,
            bytes: b,
        } => {
            write!(f, "{label} {} {}", op.as_str(), bytes(*b))
        }
        LabelFilterExpr::Ip {
            label,
            negated,
            pattern,
        } => {
            let op = if *negated { "!=" } else { "=" };
            write!(f, "{label}{op}ip({})", quote(pattern))
        }
    }
}

impl Display for LogRange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.selector.fmt(f)?;
        if let Some(u) = &self.unwrap {
            f.write_str(" | unwrap ")?;
            match u.conversion {
                Some(c) => write!(f, "{}({})", c.as_str(), u.label)?,
                None => f.write_str(&u.label)?,
            }
            for pf in &u.post_filters {
                write!(f, " | {pf}")?;
            }
        }
        // `{a="b"}[5m]`, but `{a="b"} | json [5m]`.
        if !self.selector.stages.is_empty() || self.unwrap.is_some() {
            f.write_str(" ")?;
        }
        write!(
            f,
            "[{}]",
            pharos_model::duration::format_duration(self.range)
        )?;
        if self.offset_nanos != 0 {
            write!(f, " offset {}", duration(self.offset_nanos))?;
        }
        Ok(())
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(if self.without { "without " } else { "by " })?;
        write_labels(f, &self.labels)
    }
}

/// Whether operand `e` of `parent` needs parentheses.
fn needs_parens(e: &MetricExpr, parent: BinaryOp, right: bool) -> bool {
    match e {
        MetricExpr::Binary(b) => {
            let (c, p) = (b.op.precedence(), parent.precedence());
            c < p || (c == p && right != parent.is_right_associative())
        }
        _ => false,
    }
}

fn write_operand(f: &mut Formatter<'_>, e: &MetricExpr, paren: bool) -> fmt::Result {
    if paren {
        write!(f, "({e})")
    } else {
        e.fmt(f)
    }
}

impl Display for MetricExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricExpr::RangeAggregation(r) => {
                write!(f, "{}(", r.op.as_str())?;
                if let Some(p) = r.param {
                    write!(f, "{}, ", number(p))?;
                }
                write!(f, "{})", r.range)?;
                if let Some(g) = &r.grouping {
                    write!(f, " {g}")?;
                }
                Ok(())
            }
            MetricExpr::VectorAggregation(v) => {
                f.write_str(v.op.as_str())?;
                if v.grouping != Grouping::default() {
                    write!(f, " {} ", v.grouping)?;
                }
                f.write_str("(")?;
                if let Some(k) = v.param {
                    write!(f, "{k}, ")?;
                }
                write!(f, "{})", v.expr)
            }
            MetricExpr::Binary(b) => {
                write_operand(f, &b.lhs, needs_parens(&b.lhs, b.op, false))?;
                write!(f, " {}", b.op.as_str())?;
                if b.return_bool {
                    f.write_str(" bool")?;
                }
                let rhs_paren = needs_parens(&b.rhs, b.op, true);
                if let Some(m) = &b.matching {
                    f.write_str(if m.on { " on " } else { " ignoring " })?;
                    write_labels(f, &m.labels)?;
                    if m.card != Cardinality::OneToOne {
                        f.write_str(match m.card {
                            Cardinality::ManyToOne => " group_left",
                            _ => " group_right",
                        })?;
                        // `group_left (` would read a right operand that
                        // starts with `(` as the include list: write `()` then.
                        let rhs = if rhs_paren {
                            format!("({})", b.rhs)
                        } else {
                            b.rhs.to_string()
                        };
                        if !m.include.is_empty() || rhs.starts_with('(') {
                            f.write_str(" ")?;
                            write_labels(f, &m.include)?;
                        }
                        return write!(f, " {rhs}");
                    }
                }
                f.write_str(" ")?;
                write_operand(f, &b.rhs, rhs_paren)
            }
            MetricExpr::Literal(v) => f.write_str(&number(*v)),
            MetricExpr::Vector(v) => write!(f, "vector({})", number(*v)),
            MetricExpr::LabelReplace(l) => write!(
                f,
                "label_replace({}, {}, {}, {}, {})",
                l.expr,
                quote(&l.dst),
                quote(&l.replacement),
                quote(&l.src),
                quote(&l.regex)
            ),
        }
    }
}
