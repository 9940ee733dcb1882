//! Wire formats to the model: Prometheus text and OpenMetrics, remote write, OTLP metrics and
//! logs, Loki push, Elasticsearch bulk, syslog.

use pharos_model::civil;
pub mod elasticsearch;
pub mod exposition;
pub mod jsonlines;
pub mod loki;
pub mod otlp;
pub mod remote_write;
pub mod syslog;
