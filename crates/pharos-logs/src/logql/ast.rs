//! The LogQL syntax tree.
//!
//! Nodes hold values, not source positions, so two queries that mean the same
//! thing and differ only in spacing, parentheses, `,` versus `and`, or the
//! place of `[range]` parse to equal trees. `Display` (in `print.rs`) writes a
//! canonical query that parses back to an equal tree.

use std::time::Duration;

use pharos_model::Matcher;

/// A parsed LogQL query: a log query or a metric (sample) query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A log query: `{app="x"} |= "error" | json`.
    Log(LogExpr),
    /// A metric query: `sum by (app) (rate({app="x"}[5m]))`, `vector(1)`, `2`.
    Metric(MetricExpr),
}

/// A stream selector and its pipeline: `{a="b"} |= "x" | logfmt | level="error"`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    /// The stream matchers, in query order. At least one of them does not
    /// match the empty string (the parser enforces it, as Loki does).
    pub matchers: Vec<Matcher>,
    /// The pipeline stages, applied in order to each line.
    pub stages: Vec<Stage>,
}

/// One stage of a log pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// `|= "a"`, `!~ "b" or "c"`, `|> "<_> x"`.
    LineFilter(LineFilter),
    /// `| json`, `| logfmt`, `| regexp "..."`, `| pattern "..."`, `| unpack`.
    Parser(ParserStage),
    /// `| status >= 500 and latency > 1s`.
    LabelFilter(LabelFilterExpr),
    /// `| line_format "{{.msg}}"`: the Go template.
    LineFormat(String),
    /// `| label_format dst=src, other="{{.x}}"`.
    LabelFormat(Vec<LabelFormatOp>),
    /// `| drop a, b="v"`.
    Drop(Vec<LabelSelection>),
    /// `| keep a, b="v"`.
    Keep(Vec<LabelSelection>),
    /// `| decolorize`: strips ANSI color sequences from the line.
    Decolorize,
}

/// A line filter: one operator and one or more alternatives joined with `or`.
///
/// For the positive operators (`|=`, `|~`, `|>`) a line passes when any value
/// matches; for the negative ones (`!=`, `!~`, `!>`) it passes when none does
/// (`!= "a" or "b"` drops lines containing `a` and lines containing `b`).
#[derive(Debug, Clone, PartialEq)]
pub struct LineFilter {
    /// The operator.
    pub op: LineFilterOp,
    /// The alternatives; never empty.
    pub values: Vec<LineFilterValue>,
}

/// The operator of a line filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineFilterOp {
    /// `|=`: the line contains the string.
    Contains,
    /// `!=`: the line does not contain the string.
    NotContains,
    /// `|~`: the line matches the (unanchored) regular expression.
    Match,
    /// `!~`: the line does not match the regular expression.
    NotMatch,
    /// `|>`: the line matches the pattern (`<_>` matches anything).
    Pattern,
    /// `!>`: the line does not match the pattern.
    NotPattern,
}

impl LineFilterOp {
    /// The operator as written in LogQL.
    pub fn as_str(self) -> &'static str {
        match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Match => "|~",
            LineFilterOp::NotMatch => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        }
    }

    /// True for `!=`, `!~` and `!>`.
    pub fn is_negative(self) -> bool {
        matches!(
            self,
            LineFilterOp::NotContains | LineFilterOp::NotMatch | LineFilterOp::NotPattern
        )
    }
}

/// One alternative of a line filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFilterValue {
    /// A string, regular expression or pattern, depending on the operator.
    Literal(String),
    /// `ip("192.168.0.0/16")`: the line contains an address in the range
    /// (a single address, a CIDR block or `a-b`); only with `|=` and `!=`.
    Ip(String),
}

/// A parser stage: extracts labels from the line.
#[derive(Debug, Clone, PartialEq)]
pub enum ParserStage {
    /// `| json` (every field, flattened with `_`) or `| json a="x.y", b`
    /// (only the listed JSON paths).
    Json(Vec<LabelExtraction>),
    /// `| logfmt [--strict] [--keep-empty] [a="key", ...]`.
    Logfmt {
        /// `--strict`: stop at the first malformed pair.
        strict: bool,
        /// `--keep-empty`: keep standalone keys as empty labels.
        keep_empty: bool,
        /// Only these keys, renamed; empty for every key.
        params: Vec<LabelExtraction>,
    },
    /// `| regexp "(?P<name>...)"`: named groups become labels.
    Regexp(String),
    /// `| pattern "<ip> - <_> <status>"`: named captures become labels.
    Pattern(String),
    /// `| unpack`: the line is a JSON object written by Promtail's `pack`.
    Unpack,
}

/// `label="expression"` in `json` and `logfmt` parameters; a bare `label`
/// is stored with the label name as the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelExtraction {
    /// The label to set.
    pub label: String,
    /// The JSON path (`a.b[0]`) or logfmt key to read.
    pub expr: String,
}

/// A label filter expression, `| a="b" and (c > 5 or d < 1s)`.
///
/// `,` and juxtaposition (`| a="b" c="d"`) mean `and`. As in Loki, `and` binds
/// tighter than `or`, while `,` and juxtaposition take everything to their
/// right as the right operand: `a=1, b=2 or c=3` is `a=1 and (b=2 or c=3)`.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilterExpr {
    /// Both filters pass.
    And(Box<LabelFilterExpr>, Box<LabelFilterExpr>),
    /// Either filter passes.
    Or(Box<LabelFilterExpr>, Box<LabelFilterExpr>),
    /// A string comparison: `a="b"`, `a!="b"`, `a=~"b.*"`, `a!~"b"`.
    Matcher(Matcher),
    /// A numeric comparison: `status >= 500`.
    Number {
        /// The label.
        label: String,
        /// The comparison.
        op: CmpOp,
        /// The value (finite).
        value: f64,
    },
    /// A duration comparison, the label parsed as a Go duration: `latency > 250ms`.
    Duration {
        /// The label.
        label: String,
        /// The comparison.
        op: CmpOp,
        /// The value in nanoseconds (may be negative).
        nanos: i64,
    },
    /// A byte-size comparison, the label parsed as a humanized size: `size > 20MB`.
    Bytes {
        /// The label.
        label: String,
        /// The comparison.
        op: CmpOp,
        /// The value in bytes.
        bytes: u64,
    },
    /// `addr = ip("10.0.0.0/8")` or `addr != ip("...")`.
    Ip {
        /// The label.
        label: String,
        /// True for `!=`.
        negated: bool,
        /// The address, CIDR block or range.
        pattern: String,
    },
}

/// A comparison operator of numeric, duration and byte label filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==` (also written `=`).
    Eq,
    /// `!=`.
    Ne,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
}

impl CmpOp {
    /// Whether `a op b` holds.
    pub fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
        }
    }

    /// The operator as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }
}

/// One assignment of `label_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelFormatOp {
    /// `dst=src`: renames `src` to `dst`.
    Rename {
        /// The new label.
        dst: String,
        /// The label renamed (and removed).
        src: String,
    },
    /// `dst="{{.a}}-{{.b}}"`: sets `dst` from a Go template.
    Template {
        /// The label set.
        dst: String,
        /// The template.
        template: String,
    },
}

/// One item of `drop` and `keep`: a label name, or a matcher on its value.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelSelection {
    /// The label, whatever its value.
    Name(String),
    /// The label when its value matches.
    Matcher(Matcher),
}

/// A metric query.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricExpr {
    /// `rate({a="b"}[5m])`, `quantile_over_time(0.9, {a="b"} | unwrap x [1m]) by (c)`.
    RangeAggregation(RangeAggregation),
    /// `sum by (a) (...)`, `topk(5, ...)`.
    VectorAggregation(VectorAggregation),
    /// `lhs op rhs`.
    Binary(BinaryExpr),
    /// A number literal, sign included: `2`, `-1.5`. Finite.
    Literal(f64),
    /// `vector(1)`: one sample without labels at every step.
    Vector(f64),
    /// `label_replace(expr, "dst", "replacement", "src", "regex")`.
    LabelReplace(LabelReplace),
}

/// A range aggregation over a log range.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeAggregation {
    /// The function.
    pub op: RangeOp,
    /// The quantile of `quantile_over_time` (`None` for the others).
    pub param: Option<f64>,
    /// The selected logs and the window.
    pub range: LogRange,
    /// `by (...)`/`without (...)`, allowed for the unwrapped aggregations
    /// that do not sum (avg, min, max, stddev, stdvar, quantile, first, last).
    /// `None` keeps every label.
    pub grouping: Option<Grouping>,
}

/// The range functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeOp {
    /// `count_over_time`: lines per range.
    CountOverTime,
    /// `rate`: lines (or, unwrapped, the sum of values) per second.
    Rate,
    /// `rate_counter`: per-second rate of an unwrapped counter.
    RateCounter,
    /// `bytes_over_time`: bytes of the lines.
    BytesOverTime,
    /// `bytes_rate`: bytes per second.
    BytesRate,
    /// `avg_over_time` (unwrapped).
    AvgOverTime,
    /// `sum_over_time` (unwrapped).
    SumOverTime,
    /// `min_over_time` (unwrapped).
    MinOverTime,
    /// `max_over_time` (unwrapped).
    MaxOverTime,
    /// `stdvar_over_time` (unwrapped).
    StdvarOverTime,
    /// `stddev_over_time` (unwrapped).
    StddevOverTime,
    /// `quantile_over_time(q, ...)` (unwrapped).
    QuantileOverTime,
    /// `first_over_time` (unwrapped).
    FirstOverTime,
    /// `last_over_time` (unwrapped).
    LastOverTime,
    /// `absent_over_time`: 1 where the range has no line.
    AbsentOverTime,
}

impl RangeOp {
    /// Every range function.
    pub const ALL: [RangeOp; 15] = [
        RangeOp::CountOverTime,
        RangeOp::Rate,
        RangeOp::RateCounter,
        RangeOp::BytesOverTime,
        RangeOp::BytesRate,
        RangeOp::AvgOverTime,
        RangeOp::SumOverTime,
        RangeOp::MinOverTime,
        RangeOp::MaxOverTime,
        RangeOp::StdvarOverTime,
        RangeOp::StddevOverTime,
        RangeOp::QuantileOverTime,
        RangeOp::FirstOverTime,
        RangeOp::LastOverTime,
        RangeOp::AbsentOverTime,
    ];

    /// The function name.
    pub fn as_str(self) -> &'static str {
        match self {
            RangeOp::CountOverTime => "count_over_time",
            RangeOp::Rate => "rate",
            RangeOp::RateCounter => "rate_counter",
            RangeOp::BytesOverTime => "bytes_over_time",
            RangeOp::BytesRate => "bytes_rate",
            RangeOp::AvgOverTime => "avg_over_time",
            RangeOp::SumOverTime => "sum_over_time",
            RangeOp::MinOverTime => "min_over_time",
            RangeOp::MaxOverTime => "max_over_time",
            RangeOp::StdvarOverTime => "stdvar_over_time",
            RangeOp::StddevOverTime => "stddev_over_time",
            RangeOp::QuantileOverTime => "quantile_over_time",
            RangeOp::FirstOverTime => "first_over_time",
            RangeOp::LastOverTime => "last_over_time",
            RangeOp::AbsentOverTime => "absent_over_time",
        }
    }

    /// The function called `name` (lower case).
    pub fn from_name(name: &str) -> Option<RangeOp> {
        RangeOp::ALL.into_iter().find(|op| op.as_str() == name)
    }

    /// Whether the function may (`Some(true)` must, `Some(false)` must not)
    /// have an `unwrap`; `None` when both are allowed (`rate`, `absent_over_time`).
    pub fn unwrap_required(self) -> Option<bool> {
        match self {
            RangeOp::CountOverTime | RangeOp::BytesOverTime | RangeOp::BytesRate => Some(false),
            RangeOp::Rate | RangeOp::AbsentOverTime => None,
            _ => Some(true),
        }
    }

    /// Whether `by`/`without` may follow the function.
    pub fn allows_grouping(self) -> bool {
        matches!(
            self,
            RangeOp::AvgOverTime
                | RangeOp::StddevOverTime
                | RangeOp::StdvarOverTime
                | RangeOp::QuantileOverTime
                | RangeOp::MaxOverTime
                | RangeOp::MinOverTime
                | RangeOp::FirstOverTime
                | RangeOp::LastOverTime
        )
    }
}

/// The log range a range aggregation reads:
/// `{a="b"} |= "x" | json | unwrap latency [5m] offset 1h`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRange {
    /// The selector and pipeline.
    pub selector: LogExpr,
    /// The window (whole milliseconds, as Prometheus durations are).
    pub range: Duration,
    /// `offset`, in nanoseconds; may be negative; 0 when absent.
    pub offset_nanos: i64,
    /// `| unwrap label`: the sample value of each line.
    pub unwrap: Option<Unwrap>,
}

/// `| unwrap label`, `| unwrap duration(label)`, followed by label filters
/// applied after the conversion (`| unwrap x | __error__=""`).
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    /// The label whose value becomes the sample.
    pub label: String,
    /// How the value is converted; `None` parses it as a float.
    pub conversion: Option<UnwrapConversion>,
    /// Label filters after the unwrap.
    pub post_filters: Vec<LabelFilterExpr>,
}

/// The conversion of an unwrapped label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnwrapConversion {
    /// `bytes(x)`: a humanized size, in bytes.
    Bytes,
    /// `duration(x)`: a Go duration, in seconds.
    Duration,
    /// `duration_seconds(x)`: the same as `duration`.
    DurationSeconds,
}

impl UnwrapConversion {
    /// The conversion function name.
    pub fn as_str(self) -> &'static str {
        match self {
            UnwrapConversion::Bytes => "bytes",
            UnwrapConversion::Duration => "duration",
            UnwrapConversion::DurationSeconds => "duration_seconds",
        }
    }
}

/// `by (a, b)` or `without (a, b)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grouping {
    /// True for `without`.
    pub without: bool,
    /// The labels, in query order.
    pub labels: Vec<String>,
}

/// A vector aggregation: `sum without (a) (expr)`, `topk(3, expr)`.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorAggregation {
    /// The aggregation.
    pub op: VectorOp,
    /// `k` of `topk`/`bottomk` (positive); `None` for the others.
    pub param: Option<u64>,
    /// The grouping; no clause is `by ()` (everything in one group), the default.
    pub grouping: Grouping,
    /// The aggregated expression.
    pub expr: Box<MetricExpr>,
}

/// The vector aggregations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VectorOp {
    /// `sum`.
    Sum,
    /// `avg`.
    Avg,
    /// `min`.
    Min,
    /// `max`.
    Max,
    /// `stddev`.
    Stddev,
    /// `stdvar`.
    Stdvar,
    /// `count`.
    Count,
    /// `topk(k, ...)`.
    Topk,
    /// `bottomk(k, ...)`.
    Bottomk,
    /// `sort`: ascending by value; no grouping labels.
    Sort,
    /// `sort_desc`: descending by value; no grouping labels.
    SortDesc,
}

impl VectorOp {
    /// Every vector aggregation.
    pub const ALL: [VectorOp; 11] = [
        VectorOp::Sum,
        VectorOp::Avg,
        VectorOp::Min,
        VectorOp::Max,
        VectorOp::Stddev,
        VectorOp::Stdvar,
        VectorOp::Count,
        VectorOp::Topk,
        VectorOp::Bottomk,
        VectorOp::Sort,
        VectorOp::SortDesc,
    ];

    /// The aggregation name.
    pub fn as_str(self) -> &'static str {
        match self {
            VectorOp::Sum => "sum",
            VectorOp::Avg => "avg",
            VectorOp::Min => "min",
            VectorOp::Max => "max",
            VectorOp::Stddev => "stddev",
            VectorOp::Stdvar => "stdvar",
            VectorOp::Count => "count",
            VectorOp::Topk => "topk",
            VectorOp::Bottomk => "bottomk",
            VectorOp::Sort => "sort",
            VectorOp::SortDesc => "sort_desc",
        }
    }

    /// The aggregation called `name` (lower case).
    pub fn from_name(name: &str) -> Option<VectorOp> {
        VectorOp::ALL.into_iter().find(|op| op.as_str() == name)
    }
}

/// A binary operation between two metric expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinaryOp,
    /// `bool`: comparisons return 0/1 instead of filtering.
    pub return_bool: bool,
    /// `on (...)`/`ignoring (...)` with `group_left`/`group_right`; `None`
    /// matches on all labels, one to one.
    pub matching: Option<VectorMatching>,
    /// The left operand.
    pub lhs: Box<MetricExpr>,
    /// The right operand.
    pub rhs: Box<MetricExpr>,
}

/// The binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `or`.
    Or,
    /// `and`.
    And,
    /// `unless`.
    Unless,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `^` (right associative).
    Pow,
}

impl BinaryOp {
    /// `l op r` for the arithmetic operators (division and modulo by zero
    /// are NaN, as in Loki); `None` for the others.
    pub fn arith(self, l: f64, r: f64) -> Option<f64> {
        Some(match self {
            BinaryOp::Add => l + r,
            BinaryOp::Sub => l - r,
            BinaryOp::Mul => l * r,
            BinaryOp::Div if r == 0.0 => f64::NAN,
            BinaryOp::Div => l / r,
            BinaryOp::Mod if r == 0.0 => f64::NAN,
            BinaryOp::Mod => l % r,
            BinaryOp::Pow => l.powf(r),
            _ => return None,
        })
    }

    /// Every binary operator.
    pub const ALL: [BinaryOp; 15] = [
        BinaryOp::Or,
        BinaryOp::And,
        BinaryOp::Unless,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Mod,
        BinaryOp::Pow,
    ];

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Unless => "unless",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
        }
    }

    /// Binding strength, 1 (`or`) to 6 (`^`).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Gt
            | BinaryOp::Ge
            | BinaryOp::Lt
            | BinaryOp::Le => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// True for `^`, the only right-associative operator.
    pub fn is_right_associative(self) -> bool {
        self == BinaryOp::Pow
    }

    /// True for `==`, `!=`, `>`, `>=`, `<`, `<=`.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    /// True for `and`, `or`, `unless`.
    pub fn is_set_operator(self) -> bool {
        matches!(self, BinaryOp::Or | BinaryOp::And | BinaryOp::Unless)
    }
}

/// How the samples of the two sides of a binary operation are paired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMatching {
    /// True for `on (labels)`, false for `ignoring (labels)`.
    pub on: bool,
    /// The labels of `on`/`ignoring`.
    pub labels: Vec<String>,
    /// `group_left`/`group_right`.
    pub card: Cardinality,
    /// The labels of `group_left (...)`/`group_right (...)` copied from the "one" side.
    pub include: Vec<String>,
}

/// The cardinality of a vector matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cardinality {
    /// One to one (no group modifier).
    OneToOne,
    /// `group_left`: many on the left, one on the right.
    ManyToOne,
    /// `group_right`: one on the left, many on the right.
    OneToMany,
}

/// `label_replace(expr, "dst", "replacement", "src", "regex")`.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelReplace {
    /// The expression whose labels are rewritten.
    pub expr: Box<MetricExpr>,
    /// The label set.
    pub dst: String,
    /// The replacement, with `$1`-style references.
    pub replacement: String,
    /// The label matched.
    pub src: String,
    /// The regex, anchored at both ends when applied.
    pub regex: String,
}

impl MetricExpr {
    /// The value of an expression made of number literals only (`2 * 3`),
    /// computed as Loki folds them: division and modulo by zero give NaN,
    /// comparisons give 1 or 0. `None` when the expression reads logs or is a
    /// `vector(...)`.
    pub fn const_value(&self) -> Option<f64> {
        match self {
            MetricExpr::Literal(v) => Some(*v),
            MetricExpr::Binary(b) => {
                let (l, r) = (b.lhs.const_value()?, b.rhs.const_value()?);
                let truth = |c: bool| if c { 1.0 } else { 0.0 };
                if let Some(v) = b.op.arith(l, r) {
                    return Some(v);
                }
                Some(match b.op {
                    BinaryOp::Eq => truth(l == r),
                    BinaryOp::Ne => truth(l != r),
                    BinaryOp::Gt => truth(l > r),
                    BinaryOp::Ge => truth(l >= r),
                    BinaryOp::Lt => truth(l < r),
                    BinaryOp::Le => truth(l <= r),
                    _ => return None,
                })
            }
            _ => None,
        }
    }
}
