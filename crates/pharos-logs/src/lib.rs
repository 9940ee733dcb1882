//! The log store and LogQL.
//!
//! `store` is the log store (validate → WAL → head; `LogStore`), `logql` the
//! query language (parser, AST, printer), `query` its evaluation over the store,
//! `deadline` the query timeout every read and evaluation checks,
//! `process` the ingest pipeline run on pushed streams before the store
//! (`process::ProcessingSink`). Knows nothing of HTTP or wire
//! formats: decoders hand it `pharos_model::LogStream`s.

pub mod deadline;
pub mod logql;
pub mod metric;
pub mod pipeline;
pub mod process;
pub mod query;
pub mod store;

pub use deadline::{Deadline, TimedOut};
pub use store::{
    Limits, LogStore, Retention, RetentionRule, Scan, SegmentOptions, StoreOptions, StoreStats,
    StreamEntries,
};
