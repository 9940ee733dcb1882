//! Prometheus remote write 1.0, receiver side: [`decode`] a body, [`validate`]
//! it into model series, and report what was refused.
//!
//! The body is a snappy block-compressed protobuf [`WriteRequest`]. Decoding is
//! pure and bounded ([`DecodeError::TooLarge`] maps to HTTP 413, the others to
//! 400). Validation never fails as a whole: each series is accepted or rejected
//! with a reason ([`Rejection`]), and [`Validated::error_message`] is the body of
//! the 400 answer Prometheus gives when some series were refused.
//!
//! Native histograms (`TimeSeries.histograms`) are decoded but not ingested;
//! they are counted in [`Validated::unsupported_histograms`].
//!
//! [`visit_write_request`] is the zero-copy equivalent of [`decode_protobuf`]
//! followed by [`validate`], for the hot path: valid series are handed to a
//! visitor as label pairs borrowed from the [`decompress`]ed buffer.
//!
//! This module knows nothing of HTTP or storage.
//!
//! ```
//! use pharos_ingest::remote_write::{self, Label, Limits, Sample, TimeSeries, WriteRequest};
//! let req = WriteRequest {
//!     timeseries: vec![TimeSeries {
//!         labels: vec![Label::new("__name__", "up"), Label::new("job", "node")],
//!         samples: vec![Sample { value: 1.0, timestamp: 1_700_000_000_000 }],
//!         ..Default::default()
//!     }],
//!     metadata: vec![],
//! };
//! let body = remote_write::encode(&req);
//! let decoded = remote_write::decode(&body).unwrap();
//! let v = remote_write::validate(decoded, &Limits::default());
//! assert_eq!(v.series[0].labels.to_string(), r#"up{job="node"}"#);
//! assert!(v.error_message().is_none());
//! ```

mod decode;
mod fast;
mod proto;
mod validate;

#[cfg(test)]
mod fast_tests;
#[cfg(test)]
mod tests;

pub use decode::{
    decode, decode_protobuf, decode_with_limit, encode, DecodeError, DEFAULT_MAX_DECOMPRESSED,
};
pub use fast::{decompress, visit_write_request, SeriesView, VisitSummary};
pub use proto::{
    histogram, BucketSpan, Exemplar, Histogram, Label, MetricMetadata, MetricType, Sample,
    TimeSeries, WriteRequest,
};
pub use validate::{
    summarize, validate, Limits, Rejection, ValidSeries, Validated, MAX_EXEMPLAR_LABELS_CHARS,
};
