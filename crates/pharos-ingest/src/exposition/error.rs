//! Why a scrape body was refused: [`ParseError`] names the line and byte offset,
//! [`ParseErrorKind`] the condition.
//!
//! Messages follow Prometheus 2.42's textparse wording where it has one
//! (`expected value after metric, got "..."`, `data does not end with # EOF`,
//! `strconv.ParseFloat: parsing "x": invalid syntax`), so that operators who know
//! Prometheus's scrape errors recognise ours.

/// A scrape body that could not be parsed, with where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} (offset {offset}): {kind}")]
pub struct ParseError {
    /// 1-based line number of the offending byte.
    pub line: usize,
    /// Byte offset of the offending token from the start of the body.
    pub offset: usize,
    /// What was wrong.
    pub kind: ParseErrorKind,
}

/// The condition that made a body unparseable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The grammar wanted something else here; `got` is the offending token's text
    /// (`"EOF"` at the end of the body).
    #[error("{expected}, got {got:?}")]
    Unexpected { expected: &'static str, got: String },
    /// `# TYPE` named a type the format does not know.
    #[error("invalid metric type {0:?}")]
    InvalidMetricType(String),
    /// `# HELP` text is not UTF-8.
    #[error("help text is not a valid utf8 string")]
    InvalidHelpUtf8,
    /// A label value (of a sample or an exemplar) is not UTF-8.
    #[error("invalid UTF-8 label value")]
    InvalidLabelValueUtf8,
    /// The same label name appears twice in one sample (the metric name counts as `__name__`).
    #[error("duplicate label name {0:?}")]
    DuplicateLabelName(String),
    /// A value or timestamp contains `p`, `P` or `_` (Go float forms Prometheus refuses).
    #[error("unsupported character in float")]
    UnsupportedFloatChar,
    /// A value or float timestamp is not a number.
    #[error("strconv.ParseFloat: parsing {0:?}: invalid syntax")]
    InvalidFloat(String),
    /// A value or float timestamp is finite in the text but beyond `f64`.
    #[error("strconv.ParseFloat: parsing {0:?}: value out of range")]
    FloatOutOfRange(String),
    /// A text-format timestamp does not fit in an `i64` of milliseconds.
    #[error("strconv.ParseInt: parsing {0:?}: value out of range")]
    TimestampOutOfRange(String),
    /// An OpenMetrics sample timestamp is NaN or infinite.
    #[error("invalid timestamp {0}")]
    InvalidTimestamp(String),
    /// An OpenMetrics exemplar timestamp is NaN or infinite.
    #[error("invalid exemplar timestamp {0}")]
    InvalidExemplarTimestamp(String),
    /// `# UNIT` text is not a `_`-separated suffix of the metric family name.
    #[error("unit {unit:?} not a suffix of metric {metric:?}")]
    UnitNotSuffix { unit: String, metric: String },
    /// An OpenMetrics body ended without the `# EOF` line.
    #[error("data does not end with # EOF")]
    MissingEof,
    /// Something follows the OpenMetrics `# EOF` line.
    #[error("unexpected data after # EOF")]
    DataAfterEof,
    /// An exemplar on a sample that is neither a counter's `_total` nor a histogram's `_bucket`.
    #[error("exemplar on {0:?}: only counter _total and histogram _bucket samples may have one")]
    ExemplarNotAllowed(String),
}

impl ParseError {
    /// An error at `offset` in `body`; the line number is counted here, only on failure.
    pub(crate) fn at(body: &[u8], offset: usize, kind: ParseErrorKind) -> ParseError {
        let end = offset.min(body.len());
        let line = 1 + body[..end].iter().filter(|&&c| c == b'\n').count();
        ParseError {
            line,
            offset: end,
            kind,
        }
    }
}
