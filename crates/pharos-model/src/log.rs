//! The log vocabulary.
//!
//! A *stream* is identified by a small set of indexed labels (service,
//! namespace, level, host, ...). An [`LogEntry`] is a timestamp in Unix
//! nanoseconds, a line of text, and *structured metadata*: key/value pairs kept
//! with the entry but not indexed as labels (OTLP attributes, Elasticsearch
//! document fields, `trace_id` and `span_id`).
//!
//! Every log decoder (Loki push, Elasticsearch bulk, OTLP, syslog, JSON lines)
//! produces [`LogStream`]s; the log store takes them through the [`LogSink`]
//! seam, judges every entry against its limits, and answers with a
//! [`PushOutcome`] that names each refused entry's stream and reason.

use crate::{LabelError, Labels, Line};

/// Structured-metadata key under which a trace id (lowercase hex) is kept.
pub const TRACE_ID: &str = "trace_id";
/// Structured-metadata key under which a span id (lowercase hex) is kept.
pub const SPAN_ID: &str = "span_id";

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogEntry {
    /// Unix nanoseconds.
    pub ts: i64,
    pub line: Line,
    /// Structured metadata in arrival order (names need not be unique).
    pub metadata: Vec<(String, String)>,
}

impl LogEntry {
    /// An entry without metadata.
    pub fn new(ts: i64, line: impl Into<Line>) -> LogEntry {
        LogEntry {
            ts,
            line: line.into(),
            metadata: Vec::new(),
        }
    }

    /// The first metadata value under `name`.
    pub fn metadata_value(&self, name: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Bytes this entry counts for in size limits and rate limits: the line
    /// plus its metadata names and values (as Loki counts them).
    pub fn size(&self) -> usize {
        self.line.len() + metadata_size(&self.metadata)
    }
}

/// Bytes structured metadata counts for in [`LogEntry::size`]: its names
/// and values.
pub fn metadata_size(md: &[(String, String)]) -> usize {
    md.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// Entries of one stream, in the order they arrived.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogStream {
    pub labels: Labels,
    pub entries: Vec<LogEntry>,
}

/// Why the store refused one entry (or every entry of a stream).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogRejectReason {
    #[error("stream has no labels")]
    NoLabels,
    #[error("invalid labels: {0}")]
    InvalidLabels(#[from] LabelError),
    #[error("line of {len} bytes is longer than the limit of {max} bytes")]
    LineTooLong { len: usize, max: usize },
    #[error("timestamp {ts} is older than the oldest acceptable {oldest}")]
    TooOld { ts: i64, oldest: i64 },
    #[error("timestamp {ts} is more than the allowed grace period in the future (newest acceptable {newest})")]
    TooNew { ts: i64, newest: i64 },
    #[error("ingestion rate limit exceeded")]
    RateLimited,
    #[error("too many active streams (limit {0})")]
    TooManyStreams(usize),
}

impl LogRejectReason {
    /// A short reason string for metrics (`reason` label of the discarded
    /// counter, named as Loki names them).
    pub fn reason(&self) -> &'static str {
        match self {
            LogRejectReason::NoLabels => "missing_labels",
            LogRejectReason::InvalidLabels(_) => "invalid_labels",
            LogRejectReason::LineTooLong { .. } => "line_too_long",
            LogRejectReason::TooOld { .. } => "greater_than_max_sample_age",
            LogRejectReason::TooNew { .. } => "too_far_in_future",
            LogRejectReason::RateLimited => "rate_limited",
            LogRejectReason::TooManyStreams(_) => "stream_limit",
        }
    }
}

/// Entries of one stream refused for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRejection {
    pub stream: Labels,
    /// How many entries of the stream were refused for this reason.
    pub entries: usize,
    /// The first refused entry's timestamp and line length, for the message.
    pub first_ts: i64,
    pub reason: LogRejectReason,
}

/// What a push did: entries accepted (durable when the call returns) and
/// those refused, grouped by stream and reason.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushOutcome {
    pub accepted: usize,
    pub accepted_bytes: usize,
    pub streams_created: usize,
    pub rejected: Vec<LogRejection>,
}

impl PushOutcome {
    /// True when every entry was refused because of a rate or stream limit
    /// (the API answers 429 then, 400 for other refusals).
    pub fn only_limited(&self) -> bool {
        !self.rejected.is_empty()
            && self.accepted == 0
            && self.rejected.iter().all(|r| {
                matches!(
                    r.reason,
                    LogRejectReason::RateLimited | LogRejectReason::TooManyStreams(_)
                )
            })
    }
}

/// Failure of the log store itself, as opposed to a refused entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogStoreError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("log store is closed")]
    Closed,
}

/// Where decoded log streams go. The store behind it validates, writes its
/// WAL and applies; when `push` returns, every accepted entry is durable.
pub trait LogSink: Send + Sync {
    fn push(&self, streams: Vec<LogStream>) -> Result<PushOutcome, LogStoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_metadata() {
        let mut e = LogEntry::new(5, "hello");
        e.metadata.push((TRACE_ID.into(), "abc".into()));
        assert_eq!(e.size(), 5 + 8 + 3);
        assert_eq!(e.metadata_value(TRACE_ID), Some("abc"));
        assert_eq!(e.metadata_value(SPAN_ID), None);
    }

    #[test]
    fn only_limited_needs_all_refusals_to_be_limits() {
        let r = |reason| LogRejection {
            stream: Labels::from_pairs(&[("a", "b")]),
            entries: 1,
            first_ts: 0,
            reason,
        };
        let mut o = PushOutcome::default();
        assert!(!o.only_limited());
        o.rejected.push(r(LogRejectReason::RateLimited));
        assert!(o.only_limited());
        o.rejected.push(r(LogRejectReason::NoLabels));
        assert!(!o.only_limited());
    }
}
