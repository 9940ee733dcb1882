//! Results of the ingest scenario: per-server figures, pharos/Prometheus
//! ratios with their targets, printed as a table and written as JSON.
//!
//! Ratios are always pharos ÷ Prometheus. Targets: samples per server
//! CPU-second ≥ 3, bytes on disk per sample ≤ 0.5, RSS per active series ≤ 0.3.
//! A figure that could not be measured prints as `n/a` and its ratio as
//! `n/a` (neither PASS nor FAIL).

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::blocks::DiskSummary;
use crate::driver::SendStats;
use crate::process::Kind;

/// The ingest phase of one server.
#[derive(Debug, Clone)]
pub struct IngestResult {
    pub samples_sent: u64,
    pub active_series: u64,
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
    pub peak_rss: u64,
    pub rss_at_ready: u64,
    pub rss_at_end: u64,
    pub ready_seconds: f64,
    pub send: SendStats,
}

impl IngestResult {
    pub fn samples_per_cpu_second(&self) -> Option<f64> {
        (self.cpu_seconds > 0.0 && self.send.samples_ok > 0)
            .then(|| self.send.samples_ok as f64 / self.cpu_seconds)
    }

    pub fn samples_per_second(&self) -> Option<f64> {
        (self.wall_seconds > 0.0).then(|| self.send.samples_ok as f64 / self.wall_seconds)
    }

    pub fn rss_per_series(&self) -> Option<f64> {
        (self.active_series > 0).then(|| self.peak_rss as f64 / self.active_series as f64)
    }
}

/// The disk phase of one server.
#[derive(Debug, Clone)]
pub struct DiskResult {
    pub samples_sent: u64,
    pub series: u64,
    pub send: SendStats,
    /// `None`: no block appeared.
    pub summary: Option<DiskSummary>,
    /// How the blocks were obtained (cut while running, or after SIGTERM).
    pub method: String,
    pub waited_seconds: f64,
}

impl DiskResult {
    pub fn bytes_per_sample(&self) -> Option<f64> {
        self.summary
            .as_ref()
            .and_then(DiskSummary::bytes_per_sample)
    }
}

/// Everything measured for one server.
#[derive(Debug, Clone)]
pub struct ServerReport {
    pub kind: Kind,
    pub version: Option<String>,
    pub ingest: Result<IngestResult, String>,
    /// `None`: the disk phase was not run.
    pub disk: Option<Result<DiskResult, String>>,
}

impl ServerReport {
    fn ingest(&self) -> Option<&IngestResult> {
        self.ingest.as_ref().ok()
    }

    fn disk(&self) -> Option<&DiskResult> {
        self.disk.as_ref().and_then(|d| d.as_ref().ok())
    }
}

/// Description of the workload, printed above the table and put in the JSON.
#[derive(Debug, Clone)]
pub struct WorkloadInfo {
    pub json: Value,
    pub text: String,
}

/// A ratio target.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub at_least: bool,
    pub bound: f64,
}

pub const TARGETS: [Target; 3] = [
    Target {
        name: "samples per server CPU-second",
        at_least: true,
        bound: 3.0,
    },
    Target {
        name: "bytes on disk per sample",
        at_least: false,
        bound: 0.5,
    },
    Target {
        name: "RSS per active series",
        at_least: false,
        bound: 0.3,
    },
];

/// pharos ÷ Prometheus for the three targeted figures (`None`: not measured).
pub fn ratios(pharos: Option<&ServerReport>, prom: Option<&ServerReport>) -> [Option<f64>; 3] {
    let r = |f: &dyn Fn(&ServerReport) -> Option<f64>| -> Option<f64> {
        let a = f(pharos?)?;
        let b = f(prom?)?;
        (b > 0.0).then(|| a / b)
    };
    [
        r(&|s| s.ingest().and_then(IngestResult::samples_per_cpu_second)),
        r(&|s| s.disk().and_then(DiskResult::bytes_per_sample)),
        r(&|s| s.ingest().and_then(IngestResult::rss_per_series)),
    ]
}

fn verdict(t: &Target, r: Option<f64>) -> &'static str {
    match r {
        None => "n/a",
        Some(v) if (t.at_least && v >= t.bound) || (!t.at_least && v <= t.bound) => "PASS",
        Some(_) => "FAIL",
    }
}

fn fmt_num(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) if v.is_finite() => {
            if v.abs() >= 1e6 {
                format!("{:.3e}", v)
            } else {
                format!("{v:.decimals$}")
            }
        }
        _ => "n/a".to_string(),
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// The report as text.
pub fn render(info: &WorkloadInfo, servers: &[ServerReport]) -> String {
    let pharos = servers.iter().find(|s| s.kind == Kind::Pharos);
    let prom = servers.iter().find(|s| s.kind == Kind::Prometheus);
    let ratio = ratios(pharos, prom);
    let mut out = String::new();
    let _ = writeln!(out, "{}", info.text);

    type Row<'a> = (
        &'a str,
        Box<dyn Fn(&ServerReport) -> String + 'a>,
        Option<usize>,
    );
    let ing = |f: fn(&IngestResult) -> String| -> Box<dyn Fn(&ServerReport) -> String> {
        Box::new(move |s: &ServerReport| s.ingest().map_or("n/a".to_string(), f))
    };
    let dsk = |f: fn(&DiskResult) -> String| -> Box<dyn Fn(&ServerReport) -> String> {
        Box::new(move |s: &ServerReport| s.disk().map_or("n/a".to_string(), f))
    };
    let rows: Vec<Row> = vec![
        (
            "ingest: samples accepted",
            ing(|r| r.send.samples_ok.to_string()),
            None,
        ),
        (
            "ingest: active series",
            ing(|r| r.active_series.to_string()),
            None,
        ),
        (
            "ingest: server CPU (s)",
            ing(|r| format!("{:.2}", r.cpu_seconds)),
            None,
        ),
        (
            "ingest: samples / server CPU-s",
            ing(|r| fmt_num(r.samples_per_cpu_second(), 0)),
            Some(0),
        ),
        (
            "ingest: wall time (s)",
            ing(|r| format!("{:.2}", r.wall_seconds)),
            None,
        ),
        (
            "ingest: samples / s (wall)",
            ing(|r| fmt_num(r.samples_per_second(), 0)),
            None,
        ),
        (
            "ingest: request p50 / p99 (ms)",
            ing(|r| {
                format!(
                    "{} / {}",
                    fmt_num(r.send.latency_ms(0.5), 1),
                    fmt_num(r.send.latency_ms(0.99), 1)
                )
            }),
            None,
        ),
        (
            "ingest: RSS at ready (MiB)",
            ing(|r| format!("{:.1}", mib(r.rss_at_ready))),
            None,
        ),
        (
            "ingest: peak RSS (MiB)",
            ing(|r| format!("{:.1}", mib(r.peak_rss))),
            None,
        ),
        (
            "ingest: RSS / active series (B)",
            ing(|r| fmt_num(r.rss_per_series(), 1)),
            Some(2),
        ),
        (
            "ingest: requests ok / non-2xx / transport err",
            ing(|r| {
                format!(
                    "{} / {} / {}",
                    r.send.ok_requests, r.send.non_2xx, r.send.transport_errors
                )
            }),
            None,
        ),
        (
            "disk: samples accepted",
            dsk(|r| r.send.samples_ok.to_string()),
            None,
        ),
        (
            "disk: blocks",
            dsk(|r| {
                r.summary
                    .as_ref()
                    .map_or("none".into(), |s| s.blocks.to_string())
            }),
            None,
        ),
        (
            "disk: samples in blocks",
            dsk(|r| {
                r.summary.as_ref().map_or("n/a".into(), |s| {
                    format!("{} ({})", s.samples, s.samples_source)
                })
            }),
            None,
        ),
        (
            "disk: block bytes",
            dsk(|r| {
                r.summary
                    .as_ref()
                    .map_or("n/a".into(), |s| s.bytes.to_string())
            }),
            None,
        ),
        (
            "disk: bytes / sample",
            dsk(|r| fmt_num(r.bytes_per_sample(), 3)),
            Some(1),
        ),
        (
            "disk: how blocks were obtained",
            dsk(|r| r.method.clone()),
            None,
        ),
        (
            "disk: requests ok / non-2xx / transport err",
            dsk(|r| {
                format!(
                    "{} / {} / {}",
                    r.send.ok_requests, r.send.non_2xx, r.send.transport_errors
                )
            }),
            None,
        ),
    ];
    let cell = |s: Option<&ServerReport>, f: &dyn Fn(&ServerReport) -> String| {
        s.map_or("-".to_string(), f)
    };
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(10);
    let _ = writeln!(
        out,
        "{:<w0$}  {:>22}  {:>22}  {:>8}  {:>12}",
        "", "pharos", "prometheus", "ratio", "target"
    );
    for (label, f, target) in &rows {
        let (r, t) = match target {
            Some(i) => {
                let tg = &TARGETS[*i];
                let bound = format!(
                    "{}{} {}",
                    if tg.at_least { ">=" } else { "<=" },
                    tg.bound,
                    verdict(tg, ratio[*i])
                );
                (fmt_num(ratio[*i], 3), bound)
            }
            None => (String::new(), String::new()),
        };
        let _ = writeln!(
            out,
            "{label:<w0$}  {:>22}  {:>22}  {r:>8}  {t:>12}",
            cell(pharos, f),
            cell(prom, f)
        );
    }
    for s in servers {
        let name = s.kind.name();
        if let Err(e) = &s.ingest {
            let _ = writeln!(out, "{name} ingest phase FAILED: {e}");
        }
        if let Some(Err(e)) = &s.disk {
            let _ = writeln!(out, "{name} disk phase FAILED: {e}");
        }
        for (phase, st) in [
            ("ingest", s.ingest().map(|r| &r.send)),
            ("disk", s.disk().map(|r| &r.send)),
        ] {
            if let Some(st) = st {
                if let Some(e) = &st.first_error {
                    let _ = writeln!(
                        out,
                        "{name} {phase}: {} non-2xx {:?}, first error: {e}",
                        st.non_2xx, st.status_counts
                    );
                }
            }
        }
    }
    let _ = writeln!(out, "ratios are pharos / prometheus:");
    for (i, t) in TARGETS.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {:<32} {:>8}  target {} {}  {}",
            t.name,
            fmt_num(ratio[i], 3),
            if t.at_least { ">=" } else { "<=" },
            t.bound,
            verdict(t, ratio[i])
        );
    }
    out
}

fn send_json(s: &SendStats) -> Value {
    json!({
        "requests": s.requests,
        "ok_requests": s.ok_requests,
        "failed_requests": s.failed_requests,
        "retries": s.retries,
        "non_2xx": s.non_2xx,
        "status_counts": s.status_counts.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "transport_errors": s.transport_errors,
        "first_error": s.first_error,
        "samples_ok": s.samples_ok,
        "samples_failed": s.samples_failed,
        "body_bytes": s.body_bytes,
        "wall_seconds": s.wall.as_secs_f64(),
        "latency_ms_p50": s.latency_ms(0.5),
        "latency_ms_p99": s.latency_ms(0.99),
        "latency_ms_max": s.latency_ms(1.0),
    })
}

fn server_json(s: &ServerReport) -> Value {
    let ingest = match &s.ingest {
        Ok(r) => json!({
            "samples_sent": r.samples_sent,
            "samples_ok": r.send.samples_ok,
            "active_series": r.active_series,
            "cpu_seconds": r.cpu_seconds,
            "wall_seconds": r.wall_seconds,
            "samples_per_cpu_second": r.samples_per_cpu_second(),
            "samples_per_second": r.samples_per_second(),
            "peak_rss_bytes": r.peak_rss,
            "rss_at_ready_bytes": r.rss_at_ready,
            "rss_at_end_bytes": r.rss_at_end,
            "rss_bytes_per_series": r.rss_per_series(),
            "ready_seconds": r.ready_seconds,
            "requests": send_json(&r.send),
        }),
        Err(e) => json!({ "error": e }),
    };
    let disk = match &s.disk {
        None => Value::Null,
        Some(Err(e)) => json!({ "error": e }),
        Some(Ok(r)) => json!({
            "samples_sent": r.samples_sent,
            "series": r.series,
            "samples_ok": r.send.samples_ok,
            "blocks": r.summary.as_ref().map(|s| s.blocks),
            "block_bytes": r.summary.as_ref().map(|s| s.bytes),
            "samples_in_blocks": r.summary.as_ref().map(|s| s.samples),
            "samples_source": r.summary.as_ref().map(|s| s.samples_source.clone()),
            "blocks_min_time": r.summary.as_ref().and_then(|s| s.min_time),
            "blocks_max_time": r.summary.as_ref().and_then(|s| s.max_time),
            "bytes_per_sample": r.bytes_per_sample(),
            "method": r.method,
            "waited_seconds": r.waited_seconds,
            "requests": send_json(&r.send),
        }),
    };
    json!({ "server": s.kind.name(), "version": s.version, "ingest": ingest, "disk": disk })
}

/// The report as JSON.
pub fn to_json(info: &WorkloadInfo, servers: &[ServerReport]) -> Value {
    let pharos = servers.iter().find(|s| s.kind == Kind::Pharos);
    let prom = servers.iter().find(|s| s.kind == Kind::Prometheus);
    let ratio = ratios(pharos, prom);
    let ratios: Vec<Value> = TARGETS
        .iter()
        .zip(ratio)
        .map(|(t, r)| {
            json!({
                "name": t.name,
                "ratio": r,
                "target": format!("{} {}", if t.at_least { ">=" } else { "<=" }, t.bound),
                "verdict": verdict(t, r),
            })
        })
        .collect();
    json!({
        "scenario": "ingest",
        "workload": info.json,
        "servers": servers.iter().map(server_json).collect::<Vec<_>>(),
        "ratios": ratios,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(kind: Kind, cpu: f64, rss: u64, bytes: u64) -> ServerReport {
        let send = SendStats {
            samples_ok: 1000,
            ..Default::default()
        };
        ServerReport {
            kind,
            version: None,
            ingest: Ok(IngestResult {
                samples_sent: 1000,
                active_series: 100,
                cpu_seconds: cpu,
                wall_seconds: 1.0,
                peak_rss: rss,
                rss_at_ready: 0,
                rss_at_end: 0,
                ready_seconds: 0.1,
                send: send.clone(),
            }),
            disk: Some(Ok(DiskResult {
                samples_sent: 1000,
                series: 10,
                send,
                summary: Some(DiskSummary {
                    blocks: 1,
                    bytes,
                    samples: 1000,
                    ..Default::default()
                }),
                method: "x".into(),
                waited_seconds: 0.0,
            })),
        }
    }

    #[test]
    fn ratios_and_verdicts() {
        let p = server(Kind::Pharos, 1.0, 100, 400);
        let q = server(Kind::Prometheus, 4.0, 1000, 1000);
        let r = ratios(Some(&p), Some(&q));
        assert_eq!(r, [Some(4.0), Some(0.4), Some(0.1)]);
        assert_eq!(verdict(&TARGETS[0], r[0]), "PASS");
        assert_eq!(verdict(&TARGETS[1], Some(0.6)), "FAIL");
        assert_eq!(verdict(&TARGETS[2], None), "n/a");
        let info = WorkloadInfo {
            json: json!({}),
            text: "w".into(),
        };
        let text = render(&info, &[p.clone(), q.clone()]);
        assert!(text.contains("PASS"));
        let mut broken = p;
        broken.disk = Some(Err("no blocks".into()));
        let text = render(&info, &[broken.clone(), q.clone()]);
        assert!(text.contains("n/a") && text.contains("disk phase FAILED: no blocks"));
        assert_eq!(to_json(&info, &[broken, q])["ratios"][1]["verdict"], "n/a");
    }
}
