//! The PromQL syntax tree.
//!
//! Shaped after Prometheus's `parser/ast.go`, extended with what the newest
//! Prometheus accepts: duration expressions (`[26m+4m]`, `offset (2*2)`,
//! `step()`, `range()`), `anchored` / `smoothed` range selectors, `fill`
//! modifiers on binary operators, and the native-histogram trim operators
//! `</` and `>/`. Every node carries its byte position in the query
//! ([`PosRange`]) for error messages. This module knows nothing of storage.

use pharos_model::Matcher;

/// Byte offsets `[start, end)` of a node in the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PosRange {
    pub start: usize,
    pub end: usize,
}

/// The type of an expression's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Scalar,
    Vector,
    Matrix,
    String,
}

impl ValueType {
    /// The name Prometheus uses in messages and in the API's `resultType`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "vector",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }
}

/// A duration: a literal (milliseconds) or, in newer PromQL, an expression
/// that evaluates to seconds (`[26m+4m]`, `offset (2*2)`, `step()`).
#[derive(Debug, Clone, PartialEq)]
pub enum Duration {
    Millis(i64),
    Expr(Box<Expr>),
}

/// The `@` modifier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum At {
    /// `@ <unix seconds>`, stored in milliseconds.
    Time(i64),
    /// `@ start()`
    Start,
    /// `@ end()`
    End,
}

/// `name{matchers} offset d @ t`.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSelector {
    /// The metric name if written before the braces (also present as a `__name__` matcher).
    pub name: Option<String>,
    /// All matchers, including the one for the name.
    pub matchers: Vec<Matcher>,
    /// `offset`; negative durations allowed. `None` when absent.
    pub offset: Option<Duration>,
    pub at: Option<At>,
    /// `anchored` written after an instant selector (newer PromQL).
    pub anchored: bool,
    /// `smoothed` written after an instant selector (`metric smoothed`).
    pub smoothed: bool,
    pub pos: PosRange,
}

/// `selector[range]`, optionally `anchored` or `smoothed`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSelector {
    pub selector: VectorSelector,
    pub range: Duration,
    pub anchored: bool,
    pub smoothed: bool,
    pub pos: PosRange,
}

/// `expr[range:step] offset d @ t`.
#[derive(Debug, Clone, PartialEq)]
pub struct Subquery {
    pub expr: Box<Expr>,
    pub range: Duration,
    /// `None` when the step is omitted (`[5m:]`): the engine's default applies.
    pub step: Option<Duration>,
    pub offset: Option<Duration>,
    pub at: Option<At>,
    pub pos: PosRange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Pos,
}

/// Binary operators, arithmetic, comparison, set, and the trim operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eql,
    Neq,
    Gtr,
    Lss,
    Gte,
    Lte,
    And,
    Or,
    Unless,
    /// `</`: trim a native histogram's upper side.
    TrimUpper,
    /// `>/`: trim a native histogram's lower side.
    TrimLower,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Gtr => ">",
            BinaryOp::Lss => "<",
            BinaryOp::Gte => ">=",
            BinaryOp::Lte => "<=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
            BinaryOp::TrimUpper => "</",
            BinaryOp::TrimLower => ">/",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eql
                | BinaryOp::Neq
                | BinaryOp::Gtr
                | BinaryOp::Lss
                | BinaryOp::Gte
                | BinaryOp::Lte
        )
    }

    pub fn is_set(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }
}

/// Which side may match several series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

/// `on(...)`/`ignoring(...)` and `group_left(...)`/`group_right(...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    pub card: Cardinality,
    /// Labels of `on(...)` or `ignoring(...)`.
    pub labels: Vec<String>,
    /// True for `on`, false for `ignoring` (and when neither was written).
    pub on: bool,
    /// Labels of `group_left(...)` / `group_right(...)`.
    pub include: Vec<String>,
}

/// `fill(v)`, `fill_left(v)`, `fill_right(v)` on a binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Fill {
    pub left: Option<f64>,
    pub right: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    pub op: BinaryOp,
    pub lhs: Box<Expr>,
    pub rhs: Box<Expr>,
    /// `bool` modifier of comparisons.
    pub return_bool: bool,
    /// Present when both sides are vectors.
    pub matching: Option<VectorMatching>,
    pub fill: Fill,
    pub pos: PosRange,
}

/// Aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateOp {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    TopK,
    BottomK,
    CountValues,
    Quantile,
    LimitK,
    LimitRatio,
}

impl AggregateOp {
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Count => "count",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::TopK => "topk",
            AggregateOp::BottomK => "bottomk",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Quantile => "quantile",
            AggregateOp::LimitK => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// Whether the operator takes a parameter before the vector.
    pub fn takes_param(self) -> bool {
        matches!(
            self,
            AggregateOp::TopK
                | AggregateOp::BottomK
                | AggregateOp::CountValues
                | AggregateOp::Quantile
                | AggregateOp::LimitK
                | AggregateOp::LimitRatio
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AggregateExpr {
    pub op: AggregateOp,
    pub expr: Box<Expr>,
    pub param: Option<Box<Expr>>,
    pub grouping: Vec<String>,
    /// `without(...)` rather than `by(...)`.
    pub without: bool,
    pub pos: PosRange,
}

/// A function call; `name` is the function's PromQL name.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: String,
    pub args: Vec<Expr>,
    pub pos: PosRange,
}

/// A PromQL expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64, PosRange),
    String(String, PosRange),
    Vector(VectorSelector),
    Matrix(MatrixSelector),
    Subquery(Subquery),
    Paren(Box<Expr>, PosRange),
    Unary(UnaryOp, Box<Expr>, PosRange),
    Binary(BinaryExpr),
    Aggregate(AggregateExpr),
    Call(Call),
    /// `step()` in a duration expression: the query's step, in seconds.
    Step(PosRange),
    /// `range()` in a duration expression: the query's range, in seconds.
    Range(PosRange),
}
