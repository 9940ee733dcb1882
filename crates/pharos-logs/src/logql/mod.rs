//! LogQL, Loki's query language: a hand-written parser, the syntax tree and a
//! printer.
//!
//! [`parse_expr`] turns a query into an [`Expr`]: either a log query
//! ([`LogExpr`]: stream matchers and pipeline [`Stage`]s) or a metric query
//! ([`MetricExpr`]). `Display` on [`Expr`] (and on every node) writes a
//! canonical query that parses back to an equal tree. Errors are
//! [`ParseError`]s displayed as Loki displays them:
//! `parse error at line 1, col 5: syntax error: unexpected ...`.
//!
//! # Grammar covered
//!
//! - Stream selectors `{a="b", c=~"x.*", d!="e", f!~"y"}`, with Loki's rule
//!   that one matcher must not match the empty string.
//! - Line filters `|=`, `!=`, `|~`, `!~`, `|>` and `!>` (patterns), with `or`
//!   between values (`|= "a" or "b"`) and `ip("...")` values (`|=`, `!=`).
//! - Parsers: `json` (optionally `json a="x.y", b="z[0]", c`), `logfmt`
//!   (`--strict`, `--keep-empty`, optional parameters), `regexp "..."`
//!   (checked: a valid regex with named groups), `pattern "..."` (checked:
//!   named captures, none consecutive or repeated), `unpack`.
//! - Label filters: strings (`=`, `!=`, `=~`, `!~`), numbers, Go durations
//!   (`250ms`, `1h30m`, `1.5s`, `100us`, Prometheus units `d w y` too) and
//!   humanized byte sizes (`20MB` = 20·10⁶, `1KiB` = 1024) with `==`/`=`,
//!   `!=`, `>`, `>=`, `<`, `<=`; `ip("...")` with `=`/`!=`; combined with
//!   `and`, `or`, `,`, juxtaposition and parentheses, with Loki's precedence
//!   (see [`LabelFilterExpr`]).
//! - `line_format "..."`, `label_format a=b, c="{{.x}}"`, `drop`, `keep`
//!   (names or matchers), `decolorize`.
//! - Range aggregations `count_over_time`, `rate`, `rate_counter`,
//!   `bytes_over_time`, `bytes_rate`, `absent_over_time` and the unwrapped
//!   `sum_`, `avg_`, `min_`, `max_`, `stddev_`, `stdvar_`, `first_`,
//!   `last_over_time` and `quantile_over_time(q, ...)`; `| unwrap x`,
//!   `| unwrap bytes(x)`, `duration(x)`, `duration_seconds(x)` followed by
//!   label filters; `[range]` before or after the pipeline, or after a
//!   parenthesized selector; `offset` (negative allowed); `by`/`without`
//!   where Loki allows it; Loki's rules on which functions need or refuse an
//!   unwrap.
//! - Vector aggregations `sum`, `avg`, `min`, `max`, `stddev`, `stdvar`,
//!   `count`, `topk(k, ...)`, `bottomk(k, ...)`, `sort`, `sort_desc`, with
//!   `by`/`without` before or after the arguments.
//! - Binary operators `or`, `and`, `unless`, comparisons with optional
//!   `bool`, `+ - * / % ^` (Loki's precedence, `^` right associative),
//!   `on`/`ignoring` with `group_left`/`group_right`; number literals (a sign
//!   belongs to the literal: `-2 ^ 2` is 4, as in Loki); `label_replace`;
//!   `vector(n)`.
//! - Lexing as Loki's lexer does it: case-insensitive keywords, function names
//!   usable as label names (`| rate="x"`), `#`, `//` and `/* */` comments,
//!   Go strings (`"..."` with escapes, raw `` `...` ``).
//!
//! # Not supported, or different from Loki
//!
//! - `approx_topk`, `variants(...) of (...)` and the `xml` parser are not
//!   supported (syntax errors).
//! - Loki folds operations between literals (`1 + 1` becomes `2`) when it
//!   parses; here they stay [`BinaryExpr`] nodes, and
//!   [`MetricExpr::const_value`] computes them as Loki does.
//! - Loki accepts any unknown character as an identifier (`{@="x"}`); here it
//!   is an error. Hexadecimal and `_`-separated numbers are not read.
//! - `,`, `and` and juxtaposition in label filters are all [`LabelFilterExpr::And`];
//!   adjacent line filters stay separate stages (Loki merges them; same meaning).
//! - Regexes are checked with Rust's `regex` crate (RE2 syntax, like Go's), at
//!   parse time also for line filters (Loki checks those when it runs the query).
//! - Loki's post-parse checks report no position (`parse error : ...`); here
//!   every error has one. The yacc parser's `expecting ...` lists are
//!   approximated.
//! - Depth is bounded instead of the input size (Loki refuses 5 KiB and
//!   more): at most 64 nested parentheses or function calls, and chains of
//!   at most 1024 operators (`a + b + ...`, `x="1", y="2", ...`); deeper
//!   queries get `query too deeply nested`, never a stack overflow.
//!
//! # Printing
//!
//! The canonical form uses double-quoted strings, `==` for numeric equality,
//! `[range]` after the pipeline and unwrap, grouping before the arguments of
//! vector aggregations, Prometheus durations where exact (Go syntax for
//! negative and sub-millisecond ones), the largest exact byte unit, and only
//! the parentheses precedence needs. Label filters are joined with `and`,
//! except that a long `,` chain prints with `,` (which takes the rest of the
//! expression as its right operand) rather than nested parentheses.

mod ast;
mod lexer;
mod parser;
mod print;

#[cfg(test)]
mod tests;

use std::fmt;

pub use ast::{
    BinaryExpr, BinaryOp, Cardinality, CmpOp, Expr, Grouping, LabelExtraction, LabelFilterExpr,
    LabelFormatOp, LabelReplace, LabelSelection, LineFilter, LineFilterOp, LineFilterValue,
    LogExpr, LogRange, MetricExpr, ParserStage, RangeAggregation, RangeOp, Stage, Unwrap,
    UnwrapConversion, VectorAggregation, VectorMatching, VectorOp,
};

/// Parses a LogQL query, with Loki's checks and error messages.
///
/// ```
/// use pharos_logs::logql::{parse_expr, Expr, Stage};
/// let e = parse_expr(r#"{app="api"} |= "error" | json | status >= 500"#).unwrap();
/// let Expr::Log(log) = &e else { panic!() };
/// assert_eq!(log.matchers[0].value, "api");
/// assert!(matches!(log.stages[2], Stage::LabelFilter(_)));
/// assert_eq!(e.to_string(), r#"{app="api"} |= "error" | json | status >= 500"#);
///
/// let err = parse_expr(r#"{app="api"} |= 5"#).unwrap_err();
/// assert_eq!(err.to_string(), "parse error at line 1, col 16: syntax error: unexpected NUMBER, expecting STRING or ip");
/// ```
pub fn parse_expr(input: &str) -> Result<Expr, ParseError> {
    parser::parse(input)
}

/// Why a query was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the query of the token (or node) at fault.
    pub pos: usize,
    /// 1-based line of `pos`.
    pub line: usize,
    /// 1-based column of `pos`, in characters, as Loki counts it.
    pub col: usize,
    /// The message, e.g. `syntax error: unexpected )`.
    pub msg: String,
}

impl ParseError {
    /// An error at byte `pos` of `query`.
    pub(crate) fn new(query: &str, pos: usize, msg: impl Into<String>) -> ParseError {
        let mut pos = pos.min(query.len());
        while !query.is_char_boundary(pos) {
            pos -= 1;
        }
        let before = query.get(..pos).unwrap_or("");
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        ParseError {
            pos,
            line: 1 + before.matches('\n').count(),
            col: 1 + before.get(line_start..).unwrap_or("").chars().count(),
            msg: msg.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parse error at line {}, col {}: {}",
            self.line, self.col, self.msg
        )
    }
}

impl std::error::Error for ParseError {}
