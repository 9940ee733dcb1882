//! Wire formats to the model: Prometheus text and OpenMetrics, remote write, OTLP metrics.
