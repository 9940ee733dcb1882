//! pharos's own metrics, served at `GET /metrics` in the Prometheus text format.
//!
//! Components keep cheap atomic counters or expose a stats snapshot; at scrape
//! time each [`MetricsSource`] writes its families through a [`MetricsWriter`].
//! Names follow Prometheus conventions (`_total`, unit suffixes, `pharos_` prefix).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Writes metric families in text format 0.0.4.
#[derive(Default)]
pub struct MetricsWriter {
    out: String,
}

/// Metric kinds as `# TYPE` names them.
#[derive(Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
}

impl MetricsWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a family: `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, help: &str, kind: Kind) -> &mut Self {
        let k = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {k}");
        self
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let esc = val
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.out, "{k}=\"{esc}\"");
            }
            self.out.push('}');
        }
        let _ = if v.is_nan() {
            writeln!(self.out, " NaN")
        } else if v.is_infinite() {
            writeln!(self.out, " {}Inf", if v > 0.0 { "+" } else { "-" })
        } else {
            writeln!(self.out, " {v}")
        };
        self
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, help: &str, kind: Kind, v: f64) -> &mut Self {
        self.family(name, help, kind).sample(name, &[], v)
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Something that contributes families to `/metrics`.
pub trait MetricsSource: Send + Sync {
    fn write_metrics(&self, w: &mut MetricsWriter);
}

/// Counters of one ingest protocol (remote write, OTLP, ...).
#[derive(Default)]
pub struct IngestCounters {
    pub requests: AtomicU64,
    pub failed_requests: AtomicU64,
    pub samples_received: AtomicU64,
    pub samples_appended: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl IngestCounters {
    pub fn reject(&self, reason: &'static str, n: u64) {
        if n > 0 {
            *self.rejected.lock().entry(reason).or_default() += n;
        }
    }

    pub fn rejected(&self) -> Vec<(&'static str, u64)> {
        self.rejected.lock().iter().map(|(k, v)| (*k, *v)).collect()
    }
}

/// Requests and seconds spent by status code.
type ByCode = BTreeMap<u16, (u64, f64)>;

/// All counters kept by the API layer itself.
#[derive(Default)]
pub struct Telemetry {
    /// Requests and seconds by handler, then status code.
    http: Mutex<BTreeMap<String, ByCode>>,
    pub remote_write: IngestCounters,
    pub otlp_metrics: IngestCounters,
}

impl Telemetry {
    /// Records one finished HTTP request.
    pub fn observe_http(&self, handler: &str, code: u16, seconds: f64) {
        let mut m = self.http.lock();
        // Looked up by the borrowed name: a handler seen before costs no allocation.
        let codes = match m.get_mut(handler) {
            Some(c) => c,
            None => m.entry(handler.to_string()).or_default(),
        };
        let e = codes.entry(code).or_default();
        e.0 += 1;
        e.1 += seconds;
    }
}

impl MetricsSource for Telemetry {
    fn write_metrics(&self, w: &mut MetricsWriter) {
        {
            let m = self.http.lock();
            w.family(
                "pharos_http_requests_total",
                "HTTP requests by handler and status code.",
                Kind::Counter,
            );
            for (h, codes) in m.iter() {
                for (c, (n, _)) in codes {
                    w.sample(
                        "pharos_http_requests_total",
                        &[("handler", h), ("code", &c.to_string())],
                        *n as f64,
                    );
                }
            }
            w.family(
                "pharos_http_request_duration_seconds_total",
                "Total time spent serving HTTP requests by handler.",
                Kind::Counter,
            );
            for (h, codes) in m.iter() {
                w.sample(
                    "pharos_http_request_duration_seconds_total",
                    &[("handler", h)],
                    codes.values().map(|(_, s)| s).sum(),
                );
            }
        }
        for (proto, c) in [
            ("remote_write", &self.remote_write),
            ("otlp", &self.otlp_metrics),
        ] {
            let l = [("protocol", proto)];
            let ld = |n: &AtomicU64| n.load(Ordering::Relaxed) as f64;
            w.family(
                "pharos_ingest_requests_total",
                "Ingest requests received.",
                Kind::Counter,
            )
            .sample("pharos_ingest_requests_total", &l, ld(&c.requests));
            w.family(
                "pharos_ingest_failed_requests_total",
                "Ingest requests answered with an error.",
                Kind::Counter,
            )
            .sample(
                "pharos_ingest_failed_requests_total",
                &l,
                ld(&c.failed_requests),
            );
            w.family(
                "pharos_ingest_samples_received_total",
                "Samples received before validation.",
                Kind::Counter,
            )
            .sample(
                "pharos_ingest_samples_received_total",
                &l,
                ld(&c.samples_received),
            );
            w.family(
                "pharos_ingest_samples_appended_total",
                "Samples stored.",
                Kind::Counter,
            )
            .sample(
                "pharos_ingest_samples_appended_total",
                &l,
                ld(&c.samples_appended),
            );
            w.family(
                "pharos_ingest_samples_rejected_total",
                "Samples rejected, by reason.",
                Kind::Counter,
            );
            for (reason, n) in c.rejected() {
                w.sample(
                    "pharos_ingest_samples_rejected_total",
                    &[("protocol", proto), ("reason", reason)],
                    n as f64,
                );
            }
        }
    }
}

/// Process metrics from /proc (Linux): resident memory, CPU time, open fds, start time.
pub struct ProcessMetrics {
    pub start_time_seconds: f64,
}

impl MetricsSource for ProcessMetrics {
    fn write_metrics(&self, w: &mut MetricsWriter) {
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the command name (which may contain spaces) are space separated.
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let tick = 100.0; // USER_HZ on Linux
                let utime = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                let stime = f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                let rss_pages = f.get(21).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                w.single(
                    "process_cpu_seconds_total",
                    "Total user and system CPU time spent in seconds.",
                    Kind::Counter,
                    (utime + stime) / tick,
                );
                w.single(
                    "process_resident_memory_bytes",
                    "Resident memory size in bytes.",
                    Kind::Gauge,
                    rss_pages * 4096.0,
                );
            }
        }
        if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
            w.single(
                "process_open_fds",
                "Number of open file descriptors.",
                Kind::Gauge,
                rd.count() as f64,
            );
        }
        w.single(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            Kind::Gauge,
            self.start_time_seconds,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_escapes_and_formats() {
        let mut w = MetricsWriter::new();
        w.family("a_total", "help", Kind::Counter)
            .sample("a_total", &[("x", "q\"")], 1.0);
        w.single("b", "h", Kind::Gauge, f64::INFINITY);
        let s = w.finish();
        assert!(s.contains("# TYPE a_total counter\na_total{x=\"q\\\"\"} 1\n"));
        assert!(s.contains("b +Inf\n"));
    }
}
