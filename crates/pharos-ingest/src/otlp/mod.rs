//! OTLP metrics to the Prometheus model: [`decode_protobuf`] or [`decode_json`]
//! an `ExportMetricsServiceRequest`, then [`convert`] it to series.
//!
//! The message types are those of the `opentelemetry-proto` crate. The mapping
//! (names, units, `_total`, histograms, exponential histograms, resources,
//! delta temporality) is documented in [`convert`](convert()) and its module.
//! Conversion never fails as a whole: refused data points are counted in
//! [`Converted::rejected_points`] and described in [`Converted::messages`],
//! which are what OTLP's `partial_success` carries.
//!
//! This module knows nothing of HTTP, gRPC, compression or storage.
//!
//! ```
//! use pharos_ingest::otlp::{self, OtlpOptions};
//! let body = br#"{"resourceMetrics":[{
//!   "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
//!   "scopeMetrics":[{"metrics":[{"name":"http.server.requests","unit":"{request}",
//!     "sum":{"aggregationTemporality":2,"isMonotonic":true,
//!       "dataPoints":[{"asInt":"7","timeUnixNano":"1700000000000000000"}]}}]}]}]}"#;
//! let req = otlp::decode_json(body).unwrap();
//! let out = otlp::convert(&req, &OtlpOptions::default());
//! assert_eq!(out.series[0].0.to_string(), r#"http_server_requests_total{job="api"}"#);
//! assert_eq!(out.series[0].1[0].v, 7.0);
//! ```

mod convert;
mod json;
pub mod logs;
mod names;

#[cfg(test)]
mod tests;

pub use convert::{convert, Converted, OtlpOptions};
pub use json::decode_json;
pub use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

use prost::Message;

/// Why an OTLP metrics body could not be decoded (HTTP 400, gRPC `InvalidArgument`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not a valid protobuf `ExportMetricsServiceRequest`; the field path is included.
    #[error("protobuf: {0}")]
    Protobuf(String),
    /// Not valid OTLP/JSON; the position or field path is included.
    #[error("json: {0}")]
    Json(String),
}

/// Decodes a binary protobuf `ExportMetricsServiceRequest` (already decompressed).
pub fn decode_protobuf(body: &[u8]) -> Result<ExportMetricsServiceRequest, DecodeError> {
    ExportMetricsServiceRequest::decode(body).map_err(|e| {
        let s = e.to_string();
        DecodeError::Protobuf(
            match s.strip_prefix("failed to decode Protobuf message: ") {
                Some(rest) => rest.to_string(),
                None => s,
            },
        )
    })
}
