//! Wire formats to the model: Prometheus text and OpenMetrics, remote write, OTLP metrics.

pub mod exposition;
pub mod otlp;
pub mod remote_write;
