//! The shared vocabulary of pharos.
//!
//! Every other crate speaks in these types: [`Labels`] identify a series, a
//! [`Matcher`] selects series by one label, a [`Sample`] is one point, and the
//! storage seams ([`Appendable`], [`Appender`], [`Queryable`], [`Querier`]) are
//! the small traits through which ingest writes and queries read.
//!
//! This crate knows nothing of wire formats, of the storage engine, or of HTTP.
//!
//! ```
//! use pharos_model::{Labels, Matcher, MatchOp};
//! let ls = Labels::from_pairs(&[("__name__", "up"), ("job", "node")]);
//! let m = Matcher::new(MatchOp::RegexMatch, "job", "no.*").unwrap();
//! assert!(m.matches(ls.get("job").unwrap_or("")));
//! assert_eq!(ls.to_string(), r#"up{job="node"}"#);
//! ```

pub mod civil;
pub mod duration;
pub mod histogram;
mod labels;
mod line;
pub mod log;
mod matcher;
pub mod pool;
mod sample;
mod storage;

pub use labels::{
    hash_label_pairs, is_valid_label_name, is_valid_metric_name, validate_slice, Label, LabelError,
    Labels, LabelsBuilder, METRIC_NAME,
};
pub use line::{InvalidUtf8, Line};
pub use log::{
    metadata_size, LogEntry, LogRejectReason, LogRejection, LogSink, LogStoreError, LogStream,
    PushOutcome,
};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use sample::{is_stale_nan, Sample, STALE_NAN, STALE_NAN_BITS};
pub use storage::{
    AppendError, Appendable, Appender, CommitRejection, CommitStats, Exemplar, MetricMetadata,
    MetricType, Querier, Queryable, Series, StorageError,
};
