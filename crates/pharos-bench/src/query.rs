//! The `query` scenario: the same data in pharos and in Prometheus, then the
//! queries dashboards issue, timed against both in the same conditions.
//!
//! For each server (one after the other):
//!
//! 1. **Load.** A fresh server receives the whole [`QueryWorkload`] over
//!    remote write, in time order, generated while sending (same shards and
//!    batching as the `ingest` scenario, [`crate::driver`]). Prometheus cuts
//!    blocks from its head as it spans more than 3 h, pharos in its 60 s
//!    maintenance pass; both end with blocks plus a head, as in production.
//! 2. **Settle.** The bench waits at least `--settle`, then until the
//!    server's CPU use over a 5 s window is below `--idle-cpu` (fraction of a
//!    core), at most `--settle-max`, so that compaction after the load does not
//!    overlap the queries.
//!
//! Then, with every loaded server running (`--order interleaved`, the
//! default):
//!
//! 3. **Queries.** `VmHWM` of each server is reset by writing `5` to
//!    `/proc/<pid>/clear_refs` (Linux ≥ 4.0), so that the `VmHWM` read at the
//!    end is the peak resident set of the query phase; `VmRSS` is also sampled
//!    every 100 ms as a cross-check (and as the figure when the reset is
//!    refused). Every query of [`queries`] (each class as an instant query at
//!    the end of the data and as range queries over the last `--short-range`
//!    at `--short-step` and the last `--long-range` at `--long-step`, ends
//!    aligned to the step) runs `--warmup` untimed passes, then `--repeat`
//!    timed passes; a pass runs every query once on each server, one request
//!    at a time, the server that goes first alternating from query to query
//!    and pass to pass. So each query's runs on the two servers lie
//!    milliseconds apart: the CPU speed of a shared machine, which can change
//!    by a third within an hour, changes both alike. Latency is the HTTP round
//!    trip seen by the bench: from sending the request to having the whole
//!    body, timed by a blocking HTTP/1.1 client ([`crate::http1`], `--client
//!    lean`) so that no client run-time wake-ups are added to it (`--client
//!    reqwest` times through reqwest on a single-threaded tokio runtime, as
//!    earlier runs did). An idle server costs the other next to nothing (both
//!    settle before the queries start).
//!
//! `--order sequential` instead runs one server at a time (load, settle,
//! queries, stop; never both running), as the earlier runs in
//! `docs/benchmarks.md` did.
//!
//! The report prints per query the median latency of each server and the
//! ratio pharos ÷ Prometheus (target ≤ 0.5), the number of series each
//! returned (a warning per mismatch), and the memory figures (target: pharos's
//! peak RSS during the query phase ≤ Prometheus's).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::driver::{self, Batch, Batcher, SendOptions, SendStats};
use crate::process::{self, Kind, Server};
use crate::query_workload::{QuerySpec, QueryWorkload};
use crate::{Only, Order, QueryArgs, TimingClient};

/// Queue depth per shard between the generator and the sender.
const SHARD_QUEUE: usize = 4;
/// How long a graceful stop may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// Window over which idleness is judged after the load.
const IDLE_WINDOW: Duration = Duration::from_secs(5);
/// Period of the RSS sampler during the query phase.
const RSS_SAMPLE_PERIOD: Duration = Duration::from_millis(100);
/// Target of every latency ratio (pharos ÷ Prometheus).
pub const TARGET_RATIO: f64 = 0.5;

fn log(msg: impl AsRef<str>) {
    eprintln!("[pharos-bench] {}", msg.as_ref());
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The query classes: `(name, PromQL)`.
pub fn classes() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "rate, one series",
            r#"rate(http_requests_total{instance="host-0:9100",handler="/api/v1/query",method="GET",code="200"}[5m])"#,
        ),
        ("rate, many series", "rate(http_requests_total[5m])"),
        ("sum by (job) of rate", "sum by (job) (rate(http_requests_total[5m]))"),
        (
            "histogram_quantile",
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        ),
        ("topk", "topk(10, rate(node_cpu_seconds_total[5m]))"),
        (
            "regex matchers",
            r#"rate(http_requests_total{instance=~"host-1.*",code=~"5.."}[5m])"#,
        ),
        (
            "subquery",
            r#"max_over_time(rate(http_requests_total{job="api"}[5m])[1h:1m])"#,
        ),
        ("avg_over_time", "avg_over_time(node_load1[1h])"),
    ]
}

/// The shape of a query: instant, or range over `range` at `step`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    Instant,
    Range { range: Duration, step: Duration },
}

impl Shape {
    pub fn label(&self) -> String {
        match self {
            Shape::Instant => "instant".to_string(),
            Shape::Range { range, step } => {
                format!("range {}/{}", fmt_dur(*range), fmt_dur(*step))
            }
        }
    }
}

/// A Prometheus-style duration in hours, minutes and seconds: `24h`, `5m`, `1m30s`.
pub fn fmt_dur(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return format!("{}ms", d.as_millis());
    }
    let mut out = String::new();
    for (unit, n) in [("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= n {
            out += &format!("{}{unit}", s / n);
            s %= n;
        }
    }
    out
}

/// One query to time: a class in one shape, with its evaluation times.
#[derive(Debug, Clone)]
pub struct QuerySpecTimed {
    pub class: &'static str,
    pub expr: &'static str,
    pub shape: Shape,
    /// Instant: evaluation time; range: end (ms).
    pub end_ms: i64,
    /// Range start (ms); equal to `end_ms` for an instant query.
    pub start_ms: i64,
}

impl QuerySpecTimed {
    /// Path and parameters of the HTTP request.
    pub fn request(&self) -> (&'static str, Vec<(&'static str, String)>) {
        let secs = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
        match self.shape {
            Shape::Instant => (
                "/api/v1/query",
                vec![
                    ("query", self.expr.to_string()),
                    ("time", secs(self.end_ms)),
                ],
            ),
            Shape::Range { step, .. } => (
                "/api/v1/query_range",
                vec![
                    ("query", self.expr.to_string()),
                    ("start", secs(self.start_ms)),
                    ("end", secs(self.end_ms)),
                    ("step", format!("{}", step.as_secs_f64())),
                ],
            ),
        }
    }
}

/// Every query: each class instant, then over the short and the long range.
/// `data_end_ms` is just after the newest sample; range ends are aligned down
/// to their step, as dashboards do.
pub fn queries(args: &QueryArgs, data_end_ms: i64) -> Vec<QuerySpecTimed> {
    let shapes = [
        Shape::Instant,
        Shape::Range {
            range: args.short_range,
            step: args.short_step,
        },
        Shape::Range {
            range: args.long_range,
            step: args.long_step,
        },
    ];
    let mut out = Vec::new();
    for (class, expr) in classes() {
        for shape in shapes {
            let (start_ms, end_ms) = match shape {
                Shape::Instant => {
                    let t = data_end_ms - data_end_ms.rem_euclid(1000);
                    (t, t)
                }
                Shape::Range { range, step } => {
                    let step_ms = (step.as_millis() as i64).max(1);
                    let end = data_end_ms - data_end_ms.rem_euclid(step_ms);
                    (end - range.as_millis() as i64, end)
                }
            };
            out.push(QuerySpecTimed {
                class,
                expr,
                shape,
                end_ms,
                start_ms,
            });
        }
    }
    out
}

/// What one server answered to one query over all timed runs.
#[derive(Debug, Clone, Default)]
pub struct QueryOutcome {
    /// Latencies of the successful timed runs, in seconds.
    pub latencies: Vec<f64>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Series in the last successful answer.
    pub series: Option<usize>,
    /// Samples (points) in the last successful answer.
    pub points: Option<usize>,
    pub response_bytes: Option<usize>,
}

/// Median of `v` (mean of the two middle values for an even count).
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

impl QueryOutcome {
    pub fn median(&self) -> Option<f64> {
        median(&self.latencies)
    }

    fn quantile(&self, q: f64) -> Option<f64> {
        if self.latencies.is_empty() {
            return None;
        }
        let mut s = self.latencies.clone();
        s.sort_by(f64::total_cmp);
        let idx = ((s.len() - 1) as f64 * q).round() as usize;
        s.get(idx).copied()
    }
}

/// Series and points of a successful query API answer; an error for anything else.
pub fn parse_answer(body: &[u8]) -> anyhow::Result<(usize, usize)> {
    let v: Value = serde_json::from_slice(body).context("answer is not JSON")?;
    if v.get("status").and_then(Value::as_str) != Some("success") {
        let e = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no error message");
        bail!("status is not success: {e}");
    }
    let data = v.get("data").context("answer has no data")?;
    let kind = data
        .get("resultType")
        .and_then(Value::as_str)
        .context("answer has no resultType")?;
    let result = data.get("result").context("answer has no result")?;
    match kind {
        "vector" | "matrix" => {
            let arr = result.as_array().context("result is not an array")?;
            let points = arr
                .iter()
                .map(|s| {
                    let n = |k: &str| s.get(k).and_then(Value::as_array).map_or(0, Vec::len);
                    if kind == "vector" {
                        1
                    } else {
                        n("values") + n("histograms")
                    }
                })
                .sum();
            Ok((arr.len(), points))
        }
        "scalar" | "string" => Ok((1, 1)),
        other => bail!("unknown resultType {other:?}"),
    }
}

/// The timing client, one connection per server (`--client`).
enum TimedClient {
    Lean(Vec<crate::http1::Conn>),
    Reqwest {
        rt: tokio::runtime::Runtime,
        clients: Vec<(reqwest::Client, String)>,
    },
}

impl TimedClient {
    fn new(
        which: TimingClient,
        targets: &[(String, &'static str)],
        timeout: Duration,
    ) -> anyhow::Result<TimedClient> {
        Ok(match which {
            TimingClient::Lean => TimedClient::Lean(
                targets
                    .iter()
                    .map(|(base, _)| crate::http1::Conn::new(base, timeout))
                    .collect::<anyhow::Result<_>>()?,
            ),
            TimingClient::Reqwest => TimedClient::Reqwest {
                rt: tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("building the query client's runtime")?,
                clients: targets
                    .iter()
                    .map(|(base, _)| Ok((driver::client(1, timeout)?, base.clone())))
                    .collect::<anyhow::Result<_>>()?,
            },
        })
    }

    /// Runs `q` on server `s`: the latency (from sending the request to
    /// having the whole body), the series and points answered, the body's
    /// size.
    fn run(
        &mut self,
        s: usize,
        q: &QuerySpecTimed,
    ) -> anyhow::Result<(Duration, usize, usize, usize)> {
        let (path, params) = q.request();
        let (status, body, took) = match self {
            TimedClient::Lean(conns) => {
                let a = conns[s].get(path, &params)?;
                (a.status, a.body, a.took)
            }
            TimedClient::Reqwest { rt, clients } => {
                let (client, base) = &clients[s];
                rt.block_on(async {
                    // Built before the clock starts: the latency runs from sending.
                    let req = client
                        .get(format!("{base}{path}"))
                        .query(&params)
                        .build()
                        .context("building the request")?;
                    let t0 = Instant::now();
                    let resp = client.execute(req).await.context("request failed")?;
                    let status = resp.status().as_u16();
                    let body = resp.bytes().await.context("reading the answer")?;
                    anyhow::Ok((status, body.to_vec(), t0.elapsed()))
                })?
            }
        };
        if !(200..300).contains(&status) {
            let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            bail!("HTTP {status}: {}", text.trim());
        }
        let (series, points) = parse_answer(&body)?;
        Ok((took, series, points, body.len()))
    }
}

/// Memory figures of one server (bytes).
#[derive(Debug, Clone, Default)]
pub struct MemoryResult {
    /// `VmHWM` at the end of the load (peak of the load and settle phases).
    pub peak_rss_load: u64,
    /// `VmRSS` once settled after the load.
    pub rss_after_load: u64,
    /// `VmHWM` at the end of the queries after the reset; `None` when the reset was refused.
    pub peak_rss_queries_hwm: Option<u64>,
    /// Largest `VmRSS` sampled every 100 ms during the queries.
    pub peak_rss_queries_sampled: u64,
    /// `VmRSS` at the end of the queries.
    pub rss_end: u64,
}

impl MemoryResult {
    /// Peak RSS during the query phase: `VmHWM` after the reset, else the sampled peak.
    pub fn peak_rss_queries(&self) -> u64 {
        self.peak_rss_queries_hwm
            .unwrap_or(0)
            .max(self.peak_rss_queries_sampled)
    }
}

/// Everything measured for one server.
#[derive(Debug, Clone)]
pub struct ServerRun {
    pub kind: Kind,
    pub version: Option<String>,
    pub load: SendStats,
    pub settle_seconds: f64,
    pub settled_idle: bool,
    pub query_cpu_seconds: f64,
    pub memory: MemoryResult,
    /// One per query of [`queries`], same order.
    pub outcomes: Vec<QueryOutcome>,
}

fn server_version(bin: &Path) -> Option<String> {
    let out = std::process::Command::new(bin)
        .arg("--version")
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// Resets `VmHWM` to the current RSS (`echo 5 > /proc/<pid>/clear_refs`).
fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// Runs the scenario and prints the report.
pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.series > 0, "--series must be > 0");
    anyhow::ensure!(args.hours > 0.0, "--hours must be > 0");
    anyhow::ensure!(args.repeat > 0, "--repeat must be > 0");
    anyhow::ensure!(
        args.concurrency > 0 && args.batch_size > 0,
        "--concurrency and --batch-size must be > 0"
    );
    let interval_ms = args.interval.as_millis() as i64;
    anyhow::ensure!(interval_ms >= 10, "--interval must be at least 10ms");
    anyhow::ensure!(
        !args.short_step.is_zero() && !args.long_step.is_zero(),
        "steps must be > 0"
    );
    let rounds = (args.hours * 3_600_000.0 / interval_ms as f64).round() as usize;
    anyhow::ensure!(rounds > 0, "--hours is shorter than one --interval");
    // The data ends now (at the start of the run), so both servers get the same
    // timestamps and the queries the same evaluation times.
    let spec = QuerySpec {
        seed: args.seed,
        series: args.series,
        histogram_instances: args.histogram_instances,
        rounds,
        interval_ms,
        start_ms: now_ms() - rounds as i64 * interval_ms,
    };
    let qs = queries(&args, spec.end_ms());
    let info = format!(
        "data: {} instances, {} counter/gauge series + {} histogram series ({} instances) = {} series, \
         {} rounds at {}s ({} h) = {} samples\n\
         queries: {} classes x 3 shapes, {} warm-up + {} timed passes each, one at a time",
        spec.instances(),
        spec.series,
        spec.histogram_series(),
        spec.histogram_instances(),
        spec.total_series(),
        rounds,
        interval_ms as f64 / 1000.0,
        args.hours,
        spec.total_samples(),
        classes().len(),
        args.warmup,
        args.repeat,
    );
    log(&info);

    let kinds: Vec<Kind> = match args.only {
        Only::Pharos => vec![Kind::Pharos],
        Only::Prometheus => vec![Kind::Prometheus],
        Only::Both => vec![Kind::Pharos, Kind::Prometheus],
    };
    let work_root = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let runs: Vec<Result<ServerRun, String>> = match args.order {
        Order::Interleaved => {
            let mut prepared = Vec::new();
            for kind in &kinds {
                prepared.push(prepare(&args, *kind, &work_root, &spec).await);
            }
            let mut ready: Vec<&mut Prepared> = prepared
                .iter_mut()
                .filter_map(|p| p.as_mut().ok())
                .collect();
            let mut measured = measure(&args, &mut ready, &qs).await.into_iter();
            let mut runs = Vec::new();
            for p in prepared {
                runs.push(match p {
                    Ok(p) => match measured.next() {
                        Some(m) => finish(p, m).await,
                        None => Err(anyhow::anyhow!("no measurement")),
                    },
                    Err(e) => Err(e),
                });
            }
            runs
        }
        Order::Sequential => {
            let mut runs = Vec::new();
            for kind in &kinds {
                let run = async {
                    let mut p = prepare(&args, *kind, &work_root, &spec).await?;
                    let m = measure(&args, &mut [&mut p], &qs).await.pop();
                    finish(p, m.ok_or_else(|| anyhow::anyhow!("no measurement"))?).await
                };
                runs.push(run.await);
            }
            runs
        }
    }
    .into_iter()
    .zip(&kinds)
    .map(|(r, kind)| {
        r.map_err(|e| {
            let e = format!("{e:#}");
            log(format!("{}: failed: {e}", kind.name()));
            e
        })
    })
    .collect();

    let find = |k: Kind| -> Option<&ServerRun> {
        runs.iter()
            .filter_map(|r| r.as_ref().ok())
            .find(|r| r.kind == k)
    };
    let (ph, pr) = (find(Kind::Pharos), find(Kind::Prometheus));
    println!("{info}");
    println!("{}", render(&qs, ph, pr));
    for (k, r) in kinds.iter().zip(&runs) {
        if let Err(e) = r {
            println!("{}: FAILED: {e}", k.name());
        }
    }
    if let Some(path) = &args.json {
        let v = to_json(&args, &spec, &qs, &kinds, &runs);
        std::fs::write(path, serde_json::to_string_pretty(&v)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        log(format!("JSON written to {}", path.display()));
    }
    Ok(())
}

/// A server loaded and settled, ready for the queries.
struct Prepared {
    kind: Kind,
    version: Option<String>,
    server: Server,
    /// Deleted when dropped (unless `--keep-data`), after the server.
    _dir: tempfile::TempDir,
    ticks: u64,
    load: SendStats,
    settle_seconds: f64,
    settled_idle: bool,
    after_load: process::Memory,
}

/// What the query phase measured of one server.
struct Measured {
    outcomes: Vec<QueryOutcome>,
    query_cpu_seconds: f64,
    memory: MemoryResult,
}

/// Starts a fresh server, loads the data set into it and waits for it to settle.
async fn prepare(
    args: &QueryArgs,
    kind: Kind,
    root: &Path,
    spec: &QuerySpec,
) -> anyhow::Result<Prepared> {
    let bin = match kind {
        Kind::Pharos => &args.pharos_bin,
        Kind::Prometheus => &args.prometheus_bin,
    };
    let version = server_version(bin);
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let mut dir = tempfile::Builder::new()
        .prefix(&format!("pharos-bench-{}-query-", kind.name()))
        .tempdir_in(root)
        .with_context(|| format!("creating a directory under {}", root.display()))?;
    if args.keep_data {
        dir.disable_cleanup(true);
        log(format!("keeping {}", dir.path().display()));
    }
    let mut server = match kind {
        Kind::Pharos => Server::start_pharos(bin, dir.path(), &[])?,
        Kind::Prometheus => Server::start_prometheus(bin, dir.path())?,
    };
    let load_client = driver::client(args.concurrency, args.request_timeout)?;
    server.wait_ready(&load_client, args.ready_timeout).await?;
    let ticks = process::clock_ticks();

    // 1. Load.
    log(format!(
        "{}: loading {} samples",
        kind.name(),
        spec.total_samples()
    ));
    let load = load(args, &server, &load_client, spec.clone()).await?;
    log(format!(
        "{}: {} samples accepted, {} failed ({} non-2xx) in {:.1}s{}",
        kind.name(),
        load.samples_ok,
        load.samples_failed,
        load.non_2xx,
        load.wall.as_secs_f64(),
        load.first_error
            .as_ref()
            .map_or(String::new(), |e| format!("; first error: {e}"))
    ));
    if !server.running() {
        bail!(
            "{} exited during the load; log {}:\n{}",
            kind.name(),
            server.log_path.display(),
            server.log_tail(20)
        );
    }
    anyhow::ensure!(load.samples_ok > 0, "no sample was accepted");

    // 2. Settle.
    let t0 = Instant::now();
    let mut settled_idle = false;
    tokio::time::sleep(args.settle).await;
    while t0.elapsed() < args.settle_max && server.running() {
        let c0 = server.cpu_seconds(ticks)?;
        tokio::time::sleep(IDLE_WINDOW).await;
        let c1 = server.cpu_seconds(ticks)?;
        if (c1 - c0) / IDLE_WINDOW.as_secs_f64() < args.idle_cpu {
            settled_idle = true;
            break;
        }
    }
    let settle_seconds = t0.elapsed().as_secs_f64();
    log(format!(
        "{}: {} after {settle_seconds:.0}s",
        kind.name(),
        if settled_idle { "idle" } else { "still busy" }
    ));
    let after_load = server.memory()?;
    Ok(Prepared {
        kind,
        version,
        server,
        _dir: dir,
        ticks,
        load,
        settle_seconds,
        settled_idle,
        after_load,
    })
}

/// What the query phase watches of one server while it runs.
struct Watch {
    /// Whether `VmHWM` was reset at the start.
    reset: bool,
    /// Stops the RSS sampler.
    stop: Arc<AtomicBool>,
    /// Largest RSS the sampler saw.
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
    /// The server's CPU seconds at the start.
    cpu0: anyhow::Result<f64>,
}

/// Which servers go first in pass `pass` of query `query`: the order
/// alternates, so neither server systematically follows the other.
fn pass_order(servers: usize, pass: usize, query: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..servers).collect();
    if (pass + query) % 2 == 1 {
        order.reverse();
    }
    order
}

/// The query phase over `servers`, all running: every pass runs every query
/// once on each server, one request at a time, so each query's runs on the
/// servers lie close together in time and see the same machine. One result
/// per server, same order.
async fn measure(
    args: &QueryArgs,
    servers: &mut [&mut Prepared],
    qs: &[QuerySpecTimed],
) -> Vec<anyhow::Result<Measured>> {
    let mut watches = Vec::new();
    for p in servers.iter_mut() {
        let reset = reset_peak_rss(p.server.pid);
        if !reset {
            log(format!(
                "{}: cannot reset VmHWM; peak RSS of the query phase is sampled",
                p.kind.name()
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let task = {
            let (stop, peak) = (stop.clone(), peak.clone());
            let path = format!("/proc/{}/status", p.server.pid);
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(m) = std::fs::read_to_string(&path)
                        .map_err(anyhow::Error::from)
                        .and_then(|s| process::parse_status_memory(&s))
                    {
                        peak.fetch_max(m.rss, Ordering::Relaxed);
                    }
                    tokio::time::sleep(RSS_SAMPLE_PERIOD).await;
                }
            })
        };
        watches.push(Watch {
            reset,
            stop,
            peak,
            task,
            cpu0: p.server.cpu_seconds(p.ticks),
        });
    }
    // The timed client runs alone on a thread of its own (`--client lean`:
    // blocking reads, no runtime; `reqwest`: a single-threaded runtime): on
    // the bench's multi-threaded runtime, each request and answer could wake
    // another worker thread of the bench, which then competes with the
    // server for the machine's cores and adds its own wake-ups to every
    // latency, the same for both servers.
    let targets: Vec<(String, &'static str)> = servers
        .iter()
        .map(|p| (p.server.base_url(), p.kind.name()))
        .collect();
    let n = targets.len();
    let (qs2, warmup, repeat, timeout, which) = (
        qs.to_vec(),
        args.warmup,
        args.repeat,
        args.query_timeout,
        args.client,
    );
    let client = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Vec<QueryOutcome>>> {
        let mut client = TimedClient::new(which, &targets, timeout)?;
        let mut outcomes = vec![vec![QueryOutcome::default(); qs2.len()]; n];
        let passes = warmup + repeat;
        for pass in 0..passes {
            let timed = pass >= warmup;
            for (qi, q) in qs2.iter().enumerate() {
                for s in pass_order(n, pass, qi) {
                    let out = &mut outcomes[s][qi];
                    match client.run(s, q) {
                        Ok((took, series, points, bytes)) => {
                            if timed {
                                out.latencies.push(took.as_secs_f64());
                            }
                            out.series = Some(series);
                            out.points = Some(points);
                            out.response_bytes = Some(bytes);
                        }
                        Err(e) => {
                            if timed {
                                out.errors += 1;
                            }
                            if out.first_error.is_none() {
                                log(format!(
                                    "{}: {} [{}]: {e:#}",
                                    targets[s].1,
                                    q.class,
                                    q.shape.label()
                                ));
                                out.first_error = Some(format!("{e:#}"));
                            }
                        }
                    }
                }
            }
            log(format!(
                "{} pass {}/{passes} done",
                if timed { "timed" } else { "warm-up" },
                pass + 1
            ));
        }
        Ok(outcomes)
    })
    .await
    .context("query client thread failed")
    .and_then(|r| r);
    let outcomes = match client {
        Ok(o) => o,
        Err(e) => {
            let e = format!("{e:#}");
            for w in &watches {
                w.stop.store(true, Ordering::Relaxed);
            }
            return (0..n).map(|_| Err(anyhow::anyhow!("{e}"))).collect();
        }
    };
    let mut results = Vec::new();
    for ((p, w), outcomes) in servers.iter_mut().zip(watches).zip(outcomes) {
        let r = async {
            if !p.server.running() {
                bail!(
                    "{} exited during the queries; log {}:\n{}",
                    p.kind.name(),
                    p.server.log_path.display(),
                    p.server.log_tail(20)
                );
            }
            let query_cpu_seconds = p.server.cpu_seconds(p.ticks)? - w.cpu0?;
            let end = p.server.memory()?;
            w.stop.store(true, Ordering::Relaxed);
            let _ = w.task.await;
            Ok(Measured {
                outcomes,
                query_cpu_seconds,
                memory: MemoryResult {
                    peak_rss_load: p.after_load.peak_rss,
                    rss_after_load: p.after_load.rss,
                    peak_rss_queries_hwm: w.reset.then_some(end.peak_rss),
                    peak_rss_queries_sampled: w.peak.load(Ordering::Relaxed).max(end.rss),
                    rss_end: end.rss,
                },
            })
        }
        .await;
        // Also when the figures could not be read.
        w.stop.store(true, Ordering::Relaxed);
        results.push(r);
    }
    results
}

/// Stops the server and puts its figures together.
async fn finish(mut p: Prepared, m: anyhow::Result<Measured>) -> anyhow::Result<ServerRun> {
    let m = m?;
    let stop = p.server.stop(STOP_TIMEOUT).await?;
    if !stop.graceful {
        log(format!(
            "{}: stop was not graceful: {}",
            p.kind.name(),
            stop.status
        ));
    }
    Ok(ServerRun {
        kind: p.kind,
        version: p.version,
        load: p.load,
        settle_seconds: p.settle_seconds,
        settled_idle: p.settled_idle,
        query_cpu_seconds: m.query_cpu_seconds,
        memory: m.memory,
        outcomes: m.outcomes,
    })
}

/// Sends the whole data set in time order, generated while sending.
async fn load(
    args: &QueryArgs,
    server: &Server,
    client: &reqwest::Client,
    spec: QuerySpec,
) -> anyhow::Result<SendStats> {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..args.concurrency)
        .map(|_| mpsc::channel::<Batch>(SHARD_QUEUE))
        .unzip();
    let opts = SendOptions {
        url: server.write_url(),
        timeout: args.request_timeout,
        max_retries: args.max_retries,
    };
    let (shards, batch_size) = (args.concurrency, args.batch_size);
    let name = server.kind.name();
    let producer = tokio::task::spawn_blocking(move || {
        let rounds = spec.rounds;
        let per_hour = (3_600_000 / spec.interval_ms.max(1)).max(1) as usize;
        let mut w = QueryWorkload::new(spec);
        let mut batcher = Batcher::new(shards, batch_size);
        let mut sink = |s: usize, b: Batch| txs[s].blocking_send(b).is_ok();
        let t0 = Instant::now();
        for round in 0..rounds {
            let mut ok = true;
            w.emit_round(round, |key, ts| {
                if ok {
                    ok = batcher.push(key, ts, &mut sink);
                }
            });
            if !ok || !batcher.flush_all(&mut sink) {
                return;
            }
            if (round + 1) % per_hour == 0 {
                log(format!(
                    "{name}: {} h of data sent in {:.0}s",
                    (round + 1) / per_hour,
                    t0.elapsed().as_secs_f64()
                ));
            }
        }
    });
    let send = driver::send_all(client, &opts, rxs).await;
    producer.await.context("generator task failed")?;
    Ok(send)
}

fn ms(s: Option<f64>) -> String {
    s.map_or("n/a".to_string(), |v| format!("{:.2}", v * 1000.0))
}

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / 1048576.0)
}

/// pharos ÷ Prometheus of two medians.
fn ratio(p: Option<f64>, q: Option<f64>) -> Option<f64> {
    match (p, q) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn verdict(r: Option<f64>, pass: impl Fn(f64) -> bool) -> &'static str {
    match r {
        Some(v) if pass(v) => "PASS",
        Some(_) => "FAIL",
        None => "n/a",
    }
}

fn series_text(o: Option<&QueryOutcome>) -> String {
    match o {
        Some(o) => match o.series {
            Some(n) => n.to_string(),
            None => "err".to_string(),
        },
        None => "-".to_string(),
    }
}

/// Series-count mismatches: `(query index, pharos, Prometheus)`.
pub fn mismatches(
    qs: &[QuerySpecTimed],
    ph: Option<&ServerRun>,
    pr: Option<&ServerRun>,
) -> Vec<(usize, Option<usize>, Option<usize>)> {
    let (Some(ph), Some(pr)) = (ph, pr) else {
        return Vec::new();
    };
    (0..qs.len())
        .filter_map(|i| {
            let a = ph.outcomes.get(i).and_then(|o| o.series);
            let b = pr.outcomes.get(i).and_then(|o| o.series);
            (a != b).then_some((i, a, b))
        })
        .collect()
}

/// The report as text.
pub fn render(qs: &[QuerySpecTimed], ph: Option<&ServerRun>, pr: Option<&ServerRun>) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nmedian latency per query (ms, HTTP round trip, sequential); target pharos/Prometheus <= {TARGET_RATIO}"
    );
    let _ = writeln!(
        s,
        "{:<22} {:<15} {:>9} {:>9} {:>11} {:>11} {:>7}  verdict",
        "class", "shape", "series P", "series Q", "pharos", "prometheus", "ratio"
    );
    let (mut pass, mut fail) = (0, 0);
    for (i, q) in qs.iter().enumerate() {
        let po = ph.and_then(|r| r.outcomes.get(i));
        let qo = pr.and_then(|r| r.outcomes.get(i));
        let (pm, qm) = (
            po.and_then(QueryOutcome::median),
            qo.and_then(QueryOutcome::median),
        );
        let r = ratio(pm, qm);
        let v = verdict(r, |x| x <= TARGET_RATIO);
        match v {
            "PASS" => pass += 1,
            "FAIL" => fail += 1,
            _ => {}
        }
        let _ = writeln!(
            s,
            "{:<22} {:<15} {:>9} {:>9} {:>11} {:>11} {:>7}  {v}",
            q.class,
            q.shape.label(),
            series_text(po),
            series_text(qo),
            ms(pm),
            ms(qm),
            r.map_or("n/a".to_string(), |x| format!("{x:.3}")),
        );
    }
    let _ = writeln!(s, "latency ratios: {pass} PASS, {fail} FAIL");
    for (i, a, b) in mismatches(qs, ph, pr) {
        let q = &qs[i];
        let _ = writeln!(
            s,
            "WARNING: series count differs for {} [{}]: pharos {}, prometheus {} ({})",
            q.class,
            q.shape.label(),
            a.map_or("error".into(), |n| n.to_string()),
            b.map_or("error".into(), |n| n.to_string()),
            q.expr
        );
    }
    for r in [ph, pr].into_iter().flatten() {
        for (q, o) in qs.iter().zip(&r.outcomes) {
            if o.errors > 0 || o.series.is_none() {
                let _ = writeln!(
                    s,
                    "WARNING: {} failed {} of the timed runs of {} [{}]: {}",
                    r.kind.name(),
                    o.errors,
                    q.class,
                    q.shape.label(),
                    o.first_error.as_deref().unwrap_or("?")
                );
            }
        }
    }

    let _ = writeln!(s, "\nper server");
    let _ = writeln!(s, "{:<44} {:>14} {:>14}", "figure", "pharos", "prometheus");
    let row = |s: &mut String, name: &str, f: &dyn Fn(&ServerRun) -> String| {
        let _ = writeln!(
            s,
            "{:<44} {:>14} {:>14}",
            name,
            ph.map_or("n/a".into(), f),
            pr.map_or("n/a".into(), f)
        );
    };
    row(&mut s, "samples loaded (accepted)", &|r| {
        r.load.samples_ok.to_string()
    });
    row(&mut s, "samples rejected", &|r| {
        r.load.samples_failed.to_string()
    });
    row(&mut s, "load wall time (s)", &|r| {
        format!("{:.1}", r.load.wall.as_secs_f64())
    });
    row(&mut s, "settle time (s)", &|r| {
        format!(
            "{:.0}{}",
            r.settle_seconds,
            if r.settled_idle { "" } else { " busy" }
        )
    });
    row(&mut s, "peak RSS, load (MiB)", &|r| {
        mib(r.memory.peak_rss_load)
    });
    row(&mut s, "RSS after load (MiB)", &|r| {
        mib(r.memory.rss_after_load)
    });
    row(&mut s, "peak RSS, query phase, VmHWM (MiB)", &|r| {
        r.memory.peak_rss_queries_hwm.map_or("n/a".into(), mib)
    });
    row(&mut s, "peak RSS, query phase, sampled (MiB)", &|r| {
        mib(r.memory.peak_rss_queries_sampled)
    });
    row(&mut s, "RSS at end (MiB)", &|r| mib(r.memory.rss_end));
    row(&mut s, "server CPU during queries (s)", &|r| {
        format!("{:.2}", r.query_cpu_seconds)
    });
    let peak = |r: Option<&ServerRun>| r.map(|r| r.memory.peak_rss_queries() as f64);
    let mr = ratio(peak(ph), peak(pr));
    let _ = writeln!(
        s,
        "peak RSS during queries, pharos/Prometheus: {} (target <= 1) {}",
        mr.map_or("n/a".to_string(), |x| format!("{x:.3}")),
        verdict(mr, |x| x <= 1.0)
    );
    s
}

fn outcome_json(o: &QueryOutcome) -> Value {
    json!({
        "median_ms": o.median().map(|v| v * 1000.0),
        "p90_ms": o.quantile(0.9).map(|v| v * 1000.0),
        "min_ms": o.quantile(0.0).map(|v| v * 1000.0),
        "max_ms": o.quantile(1.0).map(|v| v * 1000.0),
        "latencies_ms": o.latencies.iter().map(|v| v * 1000.0).collect::<Vec<_>>(),
        "errors": o.errors,
        "first_error": o.first_error,
        "series": o.series,
        "points": o.points,
        "response_bytes": o.response_bytes,
    })
}

fn to_json(
    args: &QueryArgs,
    spec: &QuerySpec,
    qs: &[QuerySpecTimed],
    kinds: &[Kind],
    runs: &[Result<ServerRun, String>],
) -> Value {
    let find = |k: Kind| {
        runs.iter()
            .filter_map(|r| r.as_ref().ok())
            .find(|r| r.kind == k)
    };
    let (ph, pr) = (find(Kind::Pharos), find(Kind::Prometheus));
    let queries: Vec<Value> = qs
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let po = ph.and_then(|r| r.outcomes.get(i));
            let qo = pr.and_then(|r| r.outcomes.get(i));
            let r = ratio(
                po.and_then(QueryOutcome::median),
                qo.and_then(QueryOutcome::median),
            );
            json!({
                "class": q.class,
                "expr": q.expr,
                "shape": q.shape.label(),
                "start_ms": q.start_ms,
                "end_ms": q.end_ms,
                "pharos": po.map(outcome_json),
                "prometheus": qo.map(outcome_json),
                "ratio": r,
                "target": TARGET_RATIO,
                "verdict": verdict(r, |x| x <= TARGET_RATIO),
                "series_match": po.and_then(|o| o.series) == qo.and_then(|o| o.series),
            })
        })
        .collect();
    let servers: Vec<Value> = kinds
        .iter()
        .zip(runs)
        .map(|(k, r)| match r {
            Err(e) => json!({"server": k.name(), "error": e}),
            Ok(r) => json!({
                "server": k.name(),
                "version": r.version,
                "samples_loaded": r.load.samples_ok,
                "samples_rejected": r.load.samples_failed,
                "load_non_2xx": r.load.non_2xx,
                "load_first_error": r.load.first_error,
                "load_seconds": r.load.wall.as_secs_f64(),
                "settle_seconds": r.settle_seconds,
                "settled_idle": r.settled_idle,
                "query_cpu_seconds": r.query_cpu_seconds,
                "peak_rss_load_bytes": r.memory.peak_rss_load,
                "rss_after_load_bytes": r.memory.rss_after_load,
                "peak_rss_queries_hwm_bytes": r.memory.peak_rss_queries_hwm,
                "peak_rss_queries_sampled_bytes": r.memory.peak_rss_queries_sampled,
                "peak_rss_queries_bytes": r.memory.peak_rss_queries(),
                "rss_end_bytes": r.memory.rss_end,
            }),
        })
        .collect();
    let peak = |r: Option<&ServerRun>| r.map(|r| r.memory.peak_rss_queries() as f64);
    let mr = ratio(peak(ph), peak(pr));
    json!({
        "scenario": "query",
        "data": {
            "seed": spec.seed,
            "instances": spec.instances(),
            "series": spec.series,
            "histogram_instances": spec.histogram_instances(),
            "histogram_series": spec.histogram_series(),
            "total_series": spec.total_series(),
            "rounds": spec.rounds,
            "interval_ms": spec.interval_ms,
            "start_ms": spec.start_ms,
            "end_ms": spec.end_ms(),
            "samples": spec.total_samples(),
        },
        "repeat": args.repeat,
        "warmup": args.warmup,
        "queries": queries,
        "servers": servers,
        "peak_rss_queries_ratio": mr,
        "peak_rss_queries_verdict": verdict(mr, |x| x <= 1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_that_goes_first_alternates() {
        assert_eq!(pass_order(1, 0, 1), vec![0]);
        assert_eq!(pass_order(2, 0, 0), vec![0, 1]);
        assert_eq!(pass_order(2, 0, 1), vec![1, 0]);
        assert_eq!(pass_order(2, 1, 0), vec![1, 0]);
        assert_eq!(pass_order(2, 1, 1), vec![0, 1]);
        // Over two passes every query runs first on each server once.
        for q in 0..5 {
            let firsts: Vec<usize> = (0..2).map(|p| pass_order(2, p, q)[0]).collect();
            assert_eq!(firsts.iter().sum::<usize>(), 1);
        }
    }

    #[test]
    fn parses_answers() {
        let v = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2"]},{"metric":{"a":"b"},"value":[1,"3"]}]}}"#;
        assert_eq!(parse_answer(v).ok(), Some((2, 2)));
        let m = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"2"],[2,"3"]]}]}}"#;
        assert_eq!(parse_answer(m).ok(), Some((1, 2)));
        let s = br#"{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}"#;
        assert_eq!(parse_answer(s).ok(), Some((1, 1)));
        let e = br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert!(parse_answer(e).is_err());
        assert!(parse_answer(b"not json").is_err());
        assert!(parse_answer(br#"{"status":"success","data":{"resultType":"vector"}}"#).is_err());
    }

    #[test]
    fn medians_and_durations() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(fmt_dur(Duration::from_secs(6 * 3600)), "6h");
        assert_eq!(fmt_dur(Duration::from_secs(300)), "5m");
        assert_eq!(fmt_dur(Duration::from_secs(86_400)), "24h");
        assert_eq!(fmt_dur(Duration::from_secs(90)), "1m30s");
    }
}
