//! Scrape bodies: the Prometheus text format 0.0.4 and OpenMetrics 1.0, parsed
//! the way Prometheus 2.42's `textparse` parses them.
//!
//! [`parse`] turns one body into [`Scraped`]: every sample line as a
//! [`ScrapedSample`] (labels sorted, `__name__` included) and the
//! `HELP`/`TYPE`/`UNIT` metadata per metric family. Histograms and summaries
//! come out as their plain `_bucket`/`_sum`/`_count`/quantile samples; `le` and
//! `quantile` values are kept exactly as written, as 2.42 does. Which parser to
//! use follows the response's Content-Type: [`format_from_content_type`].
//!
//! The acceptance rules are Prometheus's, quirks included: the text format
//! allows blank lines, spaces and tabs between tokens, a trailing comma and
//! even no comma between labels, raw newlines inside label values, and stops
//! quietly at a NUL byte at the start of a line; OpenMetrics allows none of
//! that, wants exactly one space between tokens and the closing `# EOF`. Values
//! are Go `ParseFloat` numbers without hex or `_`; text timestamps are integer
//! milliseconds, OpenMetrics ones float seconds truncated to milliseconds.
//! Two rules go beyond 2.42 and can be turned off with [`ParseOptions`]:
//! OpenMetrics `_created` samples of counters, histograms and summaries are
//! skipped, and exemplars are refused except on counter `_total` and histogram
//! `_bucket` samples. Labels with empty values are dropped (Prometheus's
//! storage drops them too); a label name twice in one sample is an error.
//!
//! Errors ([`ParseError`]) name the 1-based line and byte offset and use
//! Prometheus's wording. Parsing is one pass over the bytes with no regular
//! expressions and no copy of the body; it allocates the result's strings and
//! little else.
//!
//! This module is pure: it knows nothing of HTTP, targets, relabelling or
//! storage. Invariant: **no input makes it panic** (fuzzed: `fuzz/fuzz_targets/exposition.rs`).
//!
//! ```
//! use pharos_ingest::exposition::{parse, Format};
//! let body = b"# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 1027 1395066363000\n";
//! let s = parse(body, Format::PrometheusText).unwrap();
//! assert_eq!(s.samples[0].labels.to_string(), r#"http_requests_total{code="200"}"#);
//! assert_eq!(s.samples[0].timestamp_ms, Some(1395066363000));
//!
//! let err = parse(b"up 1\nup{job=\"x\"}\n", Format::PrometheusText).unwrap_err();
//! assert_eq!(err.line, 2);
//! ```

mod error;
mod lexer;
mod openmetrics;
mod text;

#[cfg(test)]
mod tests;

pub use error::{ParseError, ParseErrorKind};

use pharos_model::{Exemplar, Labels, MetricMetadata};

/// The exposition format of a scrape body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    PrometheusText,
    /// OpenMetrics 1.0 text (`application/openmetrics-text`).
    OpenMetrics,
}

/// Chooses the parser from a response Content-Type the way Prometheus does
/// (application/openmetrics-text → OpenMetrics; anything else, incl. missing → text 0.0.4).
///
/// The media type is compared without parameters and case-insensitively.
pub fn format_from_content_type(ct: Option<&str>) -> Format {
    let Some(ct) = ct else {
        return Format::PrometheusText;
    };
    let media = ct.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case("application/openmetrics-text") {
        Format::OpenMetrics
    } else {
        Format::PrometheusText
    }
}

/// The Accept header Prometheus 2.42 sends on scrapes.
pub const SCRAPE_ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// One sample line of a scrape body.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapedSample {
    /// All labels including `__name__`, sorted; labels with empty values omitted.
    pub labels: Labels,
    pub value: f64,
    /// The timestamp written in the body, in milliseconds, if any.
    pub timestamp_ms: Option<i64>,
    /// The OpenMetrics exemplar of the line, if any.
    pub exemplar: Option<Exemplar>,
}

/// Everything one scrape body holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scraped {
    /// Samples in body order.
    pub samples: Vec<ScrapedSample>,
    /// Metadata per metric family name, in order of first mention.
    pub metadata: Vec<(String /* metric family name */, MetricMetadata)>,
}

/// Rules on which pharos is stricter than Prometheus 2.42; both on by default
/// ([`parse`]). Turning both off gives 2.42's behaviour exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// OpenMetrics: skip `<name>_created` samples of counter, histogram and
    /// summary families (they carry a creation time, not a value).
    pub skip_created_series: bool,
    /// OpenMetrics: refuse an exemplar on any sample but a counter's `_total` or a
    /// (gauge) histogram's `_bucket`, as the OpenMetrics specification requires.
    pub strict_exemplars: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            skip_created_series: true,
            strict_exemplars: true,
        }
    }
}

impl ParseOptions {
    /// Exactly Prometheus 2.42's rules: `_created` samples kept, exemplars anywhere.
    pub fn prometheus_2_42() -> Self {
        ParseOptions {
            skip_created_series: false,
            strict_exemplars: false,
        }
    }
}

/// Parses a whole scrape body with the default [`ParseOptions`].
pub fn parse(body: &[u8], format: Format) -> Result<Scraped, ParseError> {
    parse_with_options(body, format, &ParseOptions::default())
}

/// Parses a whole scrape body.
pub fn parse_with_options(
    body: &[u8],
    format: Format,
    opts: &ParseOptions,
) -> Result<Scraped, ParseError> {
    match format {
        Format::PrometheusText => text::parse(body),
        Format::OpenMetrics => openmetrics::parse(body, opts),
    }
}
