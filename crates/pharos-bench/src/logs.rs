//! The `logs` scenario: the log store against its targets, on a corpus
//! expanded from real Loghub samples ([`corpus`]).
//!
//! 1. **Corpus.** `--bytes` of raw log text (lines, newlines not counted)
//!    over the `--span` ending when the bench starts, generated before the
//!    server starts: the lines go to `corpus.log` (one per entry, exactly as
//!    sent, for grep) and the request bodies ([`encode`]) to `bodies.bin`, so
//!    that during the ingest the bench only reads a file and sends.
//! 2. **Ingest.** pharos is started on a fresh data directory with a
//!    configuration file that maps Elasticsearch bulk documents onto the Loki
//!    label names (`index_label: app`, `label_fields: [host, level]`) and with
//!    the log limits lifted; after it is ready and 2 s idle, `--concurrency`
//!    senders post every body (80% of the hosts over Loki push, 20% over
//!    `_bulk`). Any refusal (non-2xx, or a bulk answer with `errors: true`)
//!    fails the run with the server's message. Measured: wall time, the
//!    server's CPU time (`utime + stime` of `/proc/<pid>/stat`) over the
//!    sending, `VmHWM` at the end.
//! 3. **Flush and disk.** `POST /flush` (the head written out as segments),
//!    then the bytes of every file under `<data-dir>/logs`.
//! 4. **Queries.** The needle query `{app=~".+"} |= "<token>"` (limit 1000)
//!    over the whole span, which must return exactly the `--needles` entries;
//!    `sum by (level) (count_over_time({app=~".+"}[5m]))` over the whole span
//!    at step 5m, which must answer one series per level with positive
//!    values. Each is run once cold, then `--repeat` times (the median is the
//!    figure). Then `grep -F -c <token> corpus.log` twice (`LC_ALL=C`), the
//!    second, warm-cache run being the comparison.
//!
//! The report lists every figure with its target and PASS/FAIL; `--json`
//! writes them all.

pub(crate) mod corpus;
mod encode;
mod server;

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::process;
use crate::process::Server;
use crate::query::{fmt_dur, median};
use corpus::{App, CorpusSpec, Generator, Level};
use encode::{Batcher, Proto, ProtoTotals, Record};

/// Target: raw MiB ingested per CPU-second of the server.
pub const TARGET_MIB_PER_CPU_SECOND: f64 = 50.0;
/// Target: bytes under `<data-dir>/logs` after the flush ÷ raw bytes.
pub const TARGET_DISK_RATIO: f64 = 0.08;
/// Target: median latency of the needle query and of the metric query (s).
pub const TARGET_QUERY_SECONDS: f64 = 1.0;
/// Target: warm `grep -F` time ÷ needle query median.
pub const TARGET_GREP_SPEEDUP: f64 = 20.0;
/// Target: peak RSS of pharos during the ingest (bytes).
pub const TARGET_PEAK_RSS: u64 = 1 << 30;

/// Window and step of the metric query.
const METRIC_STEP: Duration = Duration::from_secs(300);
/// Entries the needle query asks for.
const NEEDLE_LIMIT: usize = 1000;
/// Queue depth per sender between the file reader and the sender.
const SHARD_QUEUE: usize = 4;
/// Idle time between readiness and the start of the ingest.
const SETTLE_BEFORE_INGEST: Duration = Duration::from_secs(2);
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// Entries per chunk handed from the generator thread to the encoder thread.
const CHUNK_ENTRIES: usize = 16_384;

/// The limit flags the bench gives `pharos serve` (left out, with a warning, when the binary lacks them).
const LIMIT_FLAGS: [(&str, &str); 6] = [
    ("--logs.ingestion-rate-mb", "100000"),
    ("--logs.ingestion-burst-size-mb", "100000"),
    ("--logs.per-stream-rate-limit-mb", "100000"),
    ("--logs.per-stream-rate-limit-burst-mb", "100000"),
    ("--logs.max-streams", "0"),
    ("--logs.max-query-series", "100000"),
];

fn log(msg: impl AsRef<str>) {
    eprintln!("[pharos-bench] {}", msg.as_ref());
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// A size with an optional suffix `K`, `M`, `G`, `T` (powers of 1024; `B`, `iB` allowed): `5G`, `50M`, `1.5GiB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let stripped = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (num, mult) = match stripped.chars().last() {
        Some('k') => (&stripped[..stripped.len() - 1], 1u64 << 10),
        Some('m') => (&stripped[..stripped.len() - 1], 1 << 20),
        Some('g') => (&stripped[..stripped.len() - 1], 1 << 30),
        Some('t') => (&stripped[..stripped.len() - 1], 1 << 40),
        _ => (stripped, 1),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a size: {s:?} (e.g. 50M, 5G)"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("size must be > 0: {s:?}"));
    }
    Ok((v * mult as f64).round() as u64)
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// pharos binary to benchmark.
    #[arg(long, default_value = "target/release/pharos", value_name = "PATH")]
    pub pharos_bin: PathBuf,
    /// One more argument for `pharos serve` (repeat for several), e.g.
    /// `--pharos-arg=--logs.line-encoding=text`.
    #[arg(long = "pharos-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub pharos_args: Vec<String>,
    /// Shared directory holding the Loghub samples (`<DIR>/data/loghub/*.log`).
    #[arg(
        long,
        env = "PHAROS_SHARED",
        default_value = "../shared",
        value_name = "DIR"
    )]
    pub shared: PathBuf,

    /// Raw log text to generate and ingest (line bytes, newlines not counted; K/M/G are powers of 1024).
    #[arg(long, default_value = "5G", value_parser = parse_size, value_name = "SIZE")]
    pub bytes: u64,
    /// Hosts per app (`host="host-<n>"`); streams are app × host × level.
    #[arg(long, default_value_t = 50)]
    pub hosts: u32,
    /// Fraction of each app's hosts that ship over Elasticsearch bulk (the others over Loki push).
    #[arg(long, default_value = "0.2", value_parser = crate::parse_fraction, value_name = "FRACTION")]
    pub es_fraction: f64,
    /// Entries that carry the needle token.
    #[arg(long, default_value_t = 5)]
    pub needles: u32,
    /// Time covered by the corpus, ending when the bench starts (inside Loki's default 1-week acceptance window).
    #[arg(long, default_value = "24h", value_parser = crate::parse_dur, value_name = "DURATION")]
    pub span: Duration,
    /// Seed of the deterministic generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Concurrent senders (one request in flight each); every stream goes through one of them.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Line bytes per request (Promtail's batchsize is 1 MiB).
    #[arg(long, default_value = "1M", value_parser = parse_size, value_name = "SIZE")]
    pub batch_bytes: u64,
    /// Timed runs of each query after its cold run (the median is the figure).
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,

    /// Timeout of one push or bulk request.
    #[arg(long, default_value = "60s", value_parser = crate::parse_dur, value_name = "DURATION")]
    pub request_timeout: Duration,
    /// Timeout of `POST /flush`.
    #[arg(long, default_value = "10m", value_parser = crate::parse_dur, value_name = "DURATION")]
    pub flush_timeout: Duration,
    /// Timeout of one query.
    #[arg(long, default_value = "2m", value_parser = crate::parse_dur, value_name = "DURATION")]
    pub query_timeout: Duration,
    /// How long pharos may take to answer 200 on /-/ready.
    #[arg(long, default_value = "2m", value_parser = crate::parse_dur, value_name = "DURATION")]
    pub ready_timeout: Duration,

    /// Where the corpus, the request bodies and the data directory go (default: the system temp dir).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Keep the work directory (corpus, bodies, data, server log) instead of deleting it.
    #[arg(long)]
    pub keep_data: bool,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

impl LogsArgs {
    fn es_hosts(&self) -> u32 {
        ((f64::from(self.hosts) * self.es_fraction).round() as u32).min(self.hosts)
    }
}

/// What the generation phase produced.
#[derive(Debug, Clone, Default)]
pub struct CorpusInfo {
    pub apps: Vec<String>,
    pub entries: u64,
    /// Line bytes, newlines not counted.
    pub raw_bytes: u64,
    /// Size of `corpus.log` (lines and newlines).
    pub file_bytes: u64,
    pub token: String,
    pub needles: u64,
    pub start_ns: i64,
    pub end_ns: i64,
    pub loki: ProtoTotals,
    pub es: ProtoTotals,
    pub loki_streams: usize,
    pub es_streams: usize,
    pub levels: Vec<Level>,
    /// Entries per level.
    pub level_entries: [u64; 4],
    pub seconds: f64,
    /// Time the generator thread spent producing lines (not writing or waiting).
    pub generator_seconds: f64,
}

/// The ingest phase.
#[derive(Debug, Clone, Default)]
pub struct IngestInfo {
    pub wall_seconds: f64,
    pub cpu_seconds: f64,
    pub peak_rss: u64,
    pub rss_end: u64,
    pub rss_at_ready: u64,
    pub ready_seconds: f64,
    pub loki: ProtoSent,
    pub es: ProtoSent,
}

/// What the senders did for one protocol.
#[derive(Debug, Clone, Default)]
pub struct ProtoSent {
    pub requests: u64,
    pub lines: u64,
    pub raw_bytes: u64,
    pub body_bytes: u64,
    pub latencies: Vec<f64>,
}

impl ProtoSent {
    fn merge(&mut self, o: ProtoSent) {
        self.requests += o.requests;
        self.lines += o.lines;
        self.raw_bytes += o.raw_bytes;
        self.body_bytes += o.body_bytes;
        self.latencies.extend(o.latencies);
    }
}

impl IngestInfo {
    pub fn raw_bytes(&self) -> u64 {
        self.loki.raw_bytes + self.es.raw_bytes
    }

    pub fn mib_per_cpu_second(&self) -> Option<f64> {
        (self.cpu_seconds > 0.0).then(|| self.raw_bytes() as f64 / 1048576.0 / self.cpu_seconds)
    }

    pub fn mib_per_second(&self) -> Option<f64> {
        (self.wall_seconds > 0.0).then(|| self.raw_bytes() as f64 / 1048576.0 / self.wall_seconds)
    }
}

/// `POST /flush`.
#[derive(Debug, Clone, Default)]
pub struct FlushInfo {
    pub ok: bool,
    /// What happened, for the report (`HTTP 204`, `HTTP 404: not available`, an error).
    pub status: String,
    pub seconds: f64,
    pub cpu_seconds: f64,
}

/// Bytes on disk under `<data-dir>/logs`.
#[derive(Debug, Clone, Default)]
pub struct DiskInfo {
    pub after_ingest: u64,
    pub after_flush: u64,
    pub after_flush_allocated: u64,
    pub breakdown: Vec<(String, u64)>,
}

/// One query's runs.
#[derive(Debug, Clone, Default)]
pub struct QueryRuns {
    pub expr: String,
    pub cold: Option<f64>,
    pub latencies: Vec<f64>,
    /// Needle: entries returned; metric: series returned (last run).
    pub returned: Option<usize>,
    /// Metric: points and the sum of all values (last run).
    pub points: Option<usize>,
    pub value_sum: Option<f64>,
    pub series_levels: Vec<String>,
    /// Answers that failed the check (first message kept).
    pub check_failures: u64,
    pub first_failure: Option<String>,
}

impl QueryRuns {
    pub fn median(&self) -> Option<f64> {
        median(&self.latencies)
    }

    fn fail(&mut self, msg: String) {
        self.check_failures += 1;
        if self.first_failure.is_none() {
            log(format!("query check failed: {msg}"));
            self.first_failure = Some(msg);
        }
    }
}

/// `grep -F -c` over the corpus file.
#[derive(Debug, Clone, Default)]
pub struct GrepInfo {
    pub cold_seconds: f64,
    pub warm_seconds: f64,
    pub count: u64,
}

/// Everything measured.
#[derive(Debug, Clone, Default)]
pub struct LogsRun {
    pub version: Option<String>,
    pub command: Vec<String>,
    pub missing_flags: Vec<String>,
    pub corpus: CorpusInfo,
    pub ingest: IngestInfo,
    pub flush: FlushInfo,
    pub disk: DiskInfo,
    pub needle: QueryRuns,
    pub metric: QueryRuns,
    pub grep: GrepInfo,
    pub memory_end: process::Memory,
}

/// Runs the scenario and prints the report.
pub async fn run(args: LogsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.hosts > 0, "--hosts must be > 0");
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be > 0");
    anyhow::ensure!(args.repeat > 0, "--repeat must be > 0");
    anyhow::ensure!(args.span >= METRIC_STEP, "--span must be at least 5m");
    let samples = args.shared.join("data").join("loghub");
    let apps = corpus::load_apps(&samples).with_context(|| {
        format!(
            "loading the Loghub samples from {} (set --shared or PHAROS_SHARED)",
            samples.display()
        )
    })?;
    log(format!(
        "{} sample files: {}",
        apps.len(),
        apps.iter()
            .map(|a| format!("{} ({} lines)", a.name, a.templates.len()))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let work_root = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&work_root)
        .with_context(|| format!("creating {}", work_root.display()))?;
    // corpus file (raw + newlines), bodies (snappy protobuf for 80%, NDJSON for
    // 20%: about 0.7 × raw), and pharos's data (a WAL of about 1.1 × raw before
    // the flush, plus segments): ask for 3.5 × raw.
    let need = args.bytes.saturating_mul(7) / 2;
    if let Some(free) = server::free_bytes(&work_root) {
        anyhow::ensure!(
            free >= need,
            "{} has {:.1} GiB free; --bytes {:.2} GiB needs about {:.1} GiB (corpus file, request bodies, pharos data); use --work-dir or a smaller --bytes",
            work_root.display(),
            free as f64 / GIB,
            args.bytes as f64 / GIB,
            need as f64 / GIB
        );
    } else {
        log(format!(
            "cannot read the free space of {}; going on",
            work_root.display()
        ));
    }
    let mut dir = tempfile::Builder::new()
        .prefix("pharos-bench-logs-")
        .tempdir_in(&work_root)
        .with_context(|| format!("creating a directory under {}", work_root.display()))?;
    if args.keep_data {
        dir.disable_cleanup(true);
        log(format!("keeping {}", dir.path().display()));
    }

    // 1. Corpus.
    let end_ns = now_ns();
    let span_ns = args.span.as_nanos() as i64;
    let spec = CorpusSpec {
        seed: args.seed,
        target_bytes: args.bytes,
        hosts: args.hosts,
        needles: args.needles,
        start_ns: end_ns - span_ns,
        span_ns,
    };
    let corpus_path = dir.path().join("corpus.log");
    let bodies_path = dir.path().join("bodies.bin");
    let info = {
        let (apps, spec, a, b) = (
            apps.clone(),
            spec.clone(),
            args.clone(),
            (corpus_path.clone(), bodies_path.clone()),
        );
        tokio::task::spawn_blocking(move || generate(&apps, spec, &a, &b.0, &b.1))
            .await
            .context("generator task failed")??
    };
    log(format!(
        "corpus: {} entries, {:.1} MiB raw in {:.1}s (generator thread alone {:.0} MiB/s); {} Loki streams, {} bulk streams; needle {}",
        info.entries,
        info.raw_bytes as f64 / MIB,
        info.seconds,
        info.raw_bytes as f64 / MIB / info.generator_seconds.max(1e-9),
        info.loki_streams,
        info.es_streams,
        info.token
    ));

    let mut out = LogsRun {
        corpus: info,
        ..LogsRun::default()
    };
    let res = run_server(&args, dir.path(), &corpus_path, &bodies_path, &mut out).await;
    if let Err(e) = &res {
        log(format!("failed: {e:#}"));
    }

    println!("{}", render(&args, &out));
    if let Some(path) = &args.json {
        let v = to_json(&args, &out, res.as_ref().err().map(|e| format!("{e:#}")));
        std::fs::write(path, serde_json::to_string_pretty(&v)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        log(format!("JSON written to {}", path.display()));
    }
    res?;
    let mut problems = Vec::new();
    if let Some(m) = &out.needle.first_failure {
        problems.push(format!("needle query: {m}"));
    }
    if let Some(m) = &out.metric.first_failure {
        problems.push(format!("metric query: {m}"));
    }
    if out.grep.count != out.corpus.needles {
        problems.push(format!(
            "grep counted {} lines with the token, {} were generated",
            out.grep.count, out.corpus.needles
        ));
    }
    if !problems.is_empty() {
        bail!("wrong answers: {}", problems.join("; "));
    }
    Ok(())
}

const MIB: f64 = 1048576.0;
const GIB: f64 = 1073741824.0;

/// Generates the corpus file and the bodies file: one thread produces lines
/// and writes the corpus, another cuts and encodes the request bodies.
fn generate(
    apps: &[App],
    spec: CorpusSpec,
    args: &LogsArgs,
    corpus_path: &Path,
    bodies_path: &Path,
) -> anyhow::Result<CorpusInfo> {
    struct Chunk {
        text: Vec<u8>,
        entries: Vec<(corpus::EntryInfo, u32, u32)>,
    }
    let t0 = Instant::now();
    let names: Vec<String> = apps.iter().map(|a| a.name.clone()).collect();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(4);
    let bodies = std::fs::File::create(bodies_path)
        .with_context(|| format!("creating {}", bodies_path.display()))?;
    let mut batcher = Batcher::new(
        names.clone(),
        args.hosts,
        args.es_hosts(),
        args.concurrency as u32,
        args.batch_bytes,
    );
    let encoder = std::thread::spawn(move || -> anyhow::Result<Batcher> {
        let mut w = BufWriter::with_capacity(4 << 20, bodies);
        let mut sink = |r: Record| -> anyhow::Result<()> {
            r.write_to(&mut w)?;
            Ok(())
        };
        for chunk in rx {
            for (e, off, len) in &chunk.entries {
                batcher.push(
                    e,
                    &chunk.text[*off as usize..(*off + *len) as usize],
                    &mut sink,
                )?;
            }
        }
        batcher.finish(&mut sink)?;
        w.flush()?;
        Ok(batcher)
    });

    let mut generator = Generator::new(apps, spec.clone());
    let token = generator.token.clone();
    let total = generator.entries();
    let file = std::fs::File::create(corpus_path)
        .with_context(|| format!("creating {}", corpus_path.display()))?;
    let mut w = BufWriter::with_capacity(4 << 20, file);
    let (mut raw, mut needles, mut level_entries) = (0u64, 0u64, [0u64; 4]);
    let mut gen_time = Duration::ZERO;
    let mut done = 0u64;
    let mut next_report = total / 10;
    let send_result = loop {
        let g0 = Instant::now();
        let mut chunk = Chunk {
            text: Vec::with_capacity(CHUNK_ENTRIES * 160),
            entries: Vec::with_capacity(CHUNK_ENTRIES),
        };
        for _ in 0..CHUNK_ENTRIES {
            let off = chunk.text.len();
            let Some(e) = generator.next_entry(&mut chunk.text) else {
                break;
            };
            let len = chunk.text.len() - off;
            chunk.text.push(b'\n');
            raw += len as u64;
            needles += u64::from(e.needle);
            level_entries[e.level.index()] += 1;
            chunk.entries.push((e, off as u32, len as u32));
        }
        gen_time += g0.elapsed();
        if chunk.entries.is_empty() {
            break Ok(());
        }
        done += chunk.entries.len() as u64;
        if let Err(e) = w.write_all(&chunk.text) {
            break Err(anyhow::Error::from(e).context(format!("writing {}", corpus_path.display())));
        }
        if tx.send(chunk).is_err() {
            break Ok(()); // the encoder failed; its error is reported below
        }
        if done >= next_report && total >= 10 {
            log(format!(
                "generated {}% ({done} of {total} entries, {:.0} MiB) in {:.1}s",
                done * 100 / total,
                raw as f64 / MIB,
                t0.elapsed().as_secs_f64()
            ));
            next_report += total / 10;
        }
    };
    drop(tx);
    let batcher = encoder
        .join()
        .map_err(|_| anyhow::anyhow!("encoder thread panicked"))??;
    send_result?;
    w.flush()
        .with_context(|| format!("writing {}", corpus_path.display()))?;
    drop(w);
    let file_bytes = std::fs::metadata(corpus_path)?.len();
    Ok(CorpusInfo {
        apps: names,
        entries: done,
        raw_bytes: raw,
        file_bytes,
        token,
        needles,
        start_ns: spec.start_ns,
        end_ns: spec.start_ns + spec.span_ns,
        loki: batcher.loki_totals,
        es: batcher.es_totals,
        loki_streams: batcher.loki_streams.len(),
        es_streams: batcher.es_streams.len(),
        levels: batcher.levels(),
        level_entries,
        seconds: t0.elapsed().as_secs_f64(),
        generator_seconds: gen_time.as_secs_f64(),
    })
}

/// The bench's configuration file: bulk documents get the Loki label names.
const CONFIG: &str =
    "# pharos-bench logs: Elasticsearch bulk documents get the label names of the Loki streams\n\
logs:\n  elasticsearch:\n    index_label: app\n    label_fields: [host, level]\n";

async fn run_server(
    args: &LogsArgs,
    dir: &Path,
    corpus_path: &Path,
    bodies_path: &Path,
    out: &mut LogsRun,
) -> anyhow::Result<()> {
    let bin = &args.pharos_bin;
    out.version = server::version(bin);
    let config = dir.join("pharos.yml");
    std::fs::write(&config, CONFIG).with_context(|| format!("writing {}", config.display()))?;
    let mut wanted: Vec<&str> = LIMIT_FLAGS.iter().map(|(f, _)| *f).collect();
    wanted.push("--config");
    let (ok, missing) = server::supported_flags(bin, &wanted)?;
    for m in &missing {
        log(format!(
            "WARNING: `{} serve --help` has no {m}; started without it (the server's default applies)",
            bin.display()
        ));
    }
    anyhow::ensure!(
        ok.iter().any(|f| f == "--config"),
        "pharos serve has no --config: the bulk label mapping cannot be set"
    );
    out.missing_flags = missing;
    let mut extra: Vec<String> = vec!["--config".into(), config.display().to_string()];
    for (f, v) in LIMIT_FLAGS {
        if ok.iter().any(|o| o == f) {
            extra.extend([f.to_string(), v.to_string()]);
        }
    }

    extra.extend(args.pharos_args.iter().cloned());
    let mut pharos = Server::start_pharos(bin, dir, &extra)?;
    out.command = pharos.command.clone();
    let client = crate::driver::client(args.concurrency, args.request_timeout)?;
    out.ingest.ready_seconds = pharos
        .wait_ready(&client, args.ready_timeout)
        .await?
        .as_secs_f64();
    tokio::time::sleep(SETTLE_BEFORE_INGEST).await;
    out.ingest.rss_at_ready = pharos.memory()?.rss;
    let ticks = process::clock_ticks();

    // 2. Ingest.
    log(format!(
        "ingest: {} requests to {}",
        out.corpus.loki.requests + out.corpus.es.requests,
        pharos.base_url()
    ));
    let cpu0 = pharos.cpu_seconds(ticks)?;
    let t0 = Instant::now();
    let sent = send_all(args, &pharos, &client, bodies_path).await;
    out.ingest.wall_seconds = t0.elapsed().as_secs_f64();
    let running = pharos.running();
    if running {
        out.ingest.cpu_seconds = pharos.cpu_seconds(ticks)? - cpu0;
        let m = pharos.memory()?;
        out.ingest.peak_rss = m.peak_rss;
        out.ingest.rss_end = m.rss;
    }
    let (loki, es) = match sent {
        Ok(s) => s,
        Err(e) => {
            return Err(e.context(format!(
                "ingest failed (server log {}{})",
                pharos.log_path.display(),
                if args.keep_data {
                    ""
                } else {
                    ", deleted at exit unless --keep-data"
                }
            )));
        }
    };
    out.ingest.loki = loki;
    out.ingest.es = es;
    if !running {
        bail!(
            "pharos exited during the ingest; log {}:\n{}",
            pharos.log_path.display(),
            pharos.log_tail(20)
        );
    }
    log(format!(
        "ingest: {:.1} MiB in {:.1}s, server CPU {:.1}s: {:.1} MiB per CPU-second, peak RSS {:.0} MiB",
        out.ingest.raw_bytes() as f64 / MIB,
        out.ingest.wall_seconds,
        out.ingest.cpu_seconds,
        out.ingest.mib_per_cpu_second().unwrap_or(0.0),
        out.ingest.peak_rss as f64 / MIB
    ));
    let logs_dir = pharos.data_dir.join("logs");
    out.disk.after_ingest = server::dir_bytes(&logs_dir).0;

    // 3. Flush and disk.
    let cpu0 = pharos.cpu_seconds(ticks)?;
    let t0 = Instant::now();
    let (ok, status) = flush(&client, &pharos.base_url(), args.flush_timeout).await;
    out.flush = FlushInfo {
        ok,
        status,
        seconds: t0.elapsed().as_secs_f64(),
        cpu_seconds: pharos.cpu_seconds(ticks)? - cpu0,
    };
    log(format!(
        "flush: {} in {:.1}s",
        out.flush.status, out.flush.seconds
    ));
    let (apparent, allocated) = server::dir_bytes(&logs_dir);
    out.disk.after_flush = apparent;
    out.disk.after_flush_allocated = allocated;
    out.disk.breakdown = server::dir_breakdown(&logs_dir);

    // 4. Queries.
    let qclient = crate::driver::client(1, args.query_timeout)?;
    let base = pharos.base_url();
    out.needle = needle_queries(args, &qclient, &base, &out.corpus).await;
    out.metric = metric_queries(args, &qclient, &base, &out.corpus).await;
    out.grep = grep(&out.corpus.token, corpus_path)?;
    out.memory_end = pharos.memory()?;
    if !pharos.stop(STOP_TIMEOUT).await?.graceful {
        log("pharos did not stop within 120s of SIGTERM (killed)");
    }
    Ok(())
}

/// `POST /flush`: `(done, what happened)`.
async fn flush(client: &reqwest::Client, base: &str, timeout: Duration) -> (bool, String) {
    match client
        .post(format!("{base}/flush"))
        .timeout(timeout)
        .send()
        .await
    {
        Err(e) => (false, format!("request failed: {e}")),
        Ok(r) => {
            let status = r.status();
            // Unknown paths fall through to the Elasticsearch compatibility answers.
            let es = r.headers().contains_key("x-elastic-product");
            let body = r.text().await.unwrap_or_default();
            let body: String = body.trim().chars().take(200).collect();
            if status.is_success() && !es {
                (true, format!("HTTP {}", status.as_u16()))
            } else {
                log(format!(
                    "WARNING: POST /flush is not available (HTTP {status}{}); disk is measured without it",
                    if es {
                        ", answered by the Elasticsearch fallback"
                    } else {
                        ""
                    }
                ));
                (
                    false,
                    format!("not available: HTTP {} {body}", status.as_u16()),
                )
            }
        }
    }
}

/// Reads the bodies file and posts every record through one sender per shard.
async fn send_all(
    args: &LogsArgs,
    pharos: &Server,
    client: &reqwest::Client,
    bodies_path: &Path,
) -> anyhow::Result<(ProtoSent, ProtoSent)> {
    let stop = Arc::new(AtomicBool::new(false));
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..args.concurrency)
        .map(|_| mpsc::channel::<Record>(SHARD_QUEUE))
        .unzip();
    let reader = {
        let stop = stop.clone();
        let path = bodies_path.to_path_buf();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let f = std::fs::File::open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            let mut r = BufReader::with_capacity(4 << 20, f);
            while let Some(rec) = Record::read_from(&mut r)? {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let shard = rec.shard as usize % txs.len();
                if txs[shard].blocking_send(rec).is_err() {
                    break;
                }
            }
            Ok(())
        })
    };
    let base = pharos.base_url();
    let mut tasks = tokio::task::JoinSet::new();
    for mut rx in rxs {
        let (client, base, stop) = (client.clone(), base.clone(), stop.clone());
        tasks.spawn(async move {
            let (mut loki, mut es) = (ProtoSent::default(), ProtoSent::default());
            while let Some(mut rec) = rx.recv().await {
                let body = bytes::Bytes::from(std::mem::take(&mut rec.body));
                let body_len = body.len() as u64;
                let t0 = Instant::now();
                let r = post(&client, &base, &rec, body).await;
                let took = t0.elapsed().as_secs_f64();
                if let Err(e) = r {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                let s = match rec.proto {
                    Proto::Loki => &mut loki,
                    Proto::Elasticsearch => &mut es,
                };
                s.requests += 1;
                s.lines += u64::from(rec.lines);
                s.raw_bytes += rec.raw_bytes;
                s.body_bytes += body_len;
                s.latencies.push(took);
            }
            Ok((loki, es))
        });
    }
    let (mut loki, mut es) = (ProtoSent::default(), ProtoSent::default());
    let mut first_err: Option<anyhow::Error> = None;
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok((l, e))) => {
                loki.merge(l);
                es.merge(e);
            }
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(anyhow::anyhow!("sender task failed: {e}"));
            }
        }
    }
    let read = reader.await.context("reader task failed")?;
    if let Some(e) = first_err {
        return Err(e);
    }
    read?;
    Ok((loki, es))
}

/// Posts one record (`body` taken out of it); any refusal is an error naming the server's answer.
async fn post(
    client: &reqwest::Client,
    base: &str,
    rec: &Record,
    body: bytes::Bytes,
) -> anyhow::Result<()> {
    let (url, ctype) = match rec.proto {
        Proto::Loki => (format!("{base}/loki/api/v1/push"), "application/x-protobuf"),
        Proto::Elasticsearch => (format!("{base}/_bulk"), "application/x-ndjson"),
    };
    let resp = client
        .post(&url)
        .header("Content-Type", ctype)
        .header("User-Agent", "pharos-bench")
        .body(body)
        .send()
        .await
        .with_context(|| format!("{} request failed", rec.proto.name()))?;
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    let text = || {
        String::from_utf8_lossy(&body[..body.len().min(1000)])
            .trim()
            .to_string()
    };
    if !status.is_success() {
        bail!(
            "{} refused ({} entries): HTTP {status}: {}",
            rec.proto.name(),
            rec.lines,
            text()
        );
    }
    if rec.proto == Proto::Elasticsearch {
        bulk_errors(&body).map_err(|e| {
            anyhow::anyhow!(
                "elasticsearch bulk refused entries ({} in the request): {e}",
                rec.lines
            )
        })?;
    }
    Ok(())
}

/// `Ok` when a bulk answer says `"errors":false`; else the first failed item.
pub fn bulk_errors(body: &[u8]) -> Result<(), String> {
    let head = &body[..body.len().min(256)];
    if head.windows(16).any(|w| w == b"\"errors\":false") {
        return Ok(());
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        format!(
            "answer is not JSON: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        )
    })?;
    match v.get("errors").and_then(Value::as_bool) {
        Some(false) => Ok(()),
        Some(true) => {
            let items = v.get("items").and_then(Value::as_array);
            let failed = items
                .into_iter()
                .flatten()
                .filter_map(|i| i.as_object().and_then(|o| o.values().next()))
                .filter(|i| i.get("error").is_some())
                .collect::<Vec<_>>();
            let first = failed
                .first()
                .map(|i| {
                    format!(
                        "status {}: {}",
                        i.get("status").map_or("?".into(), Value::to_string),
                        i.get("error").map_or("?".into(), Value::to_string)
                    )
                })
                .unwrap_or_else(|| "no failed item listed".into());
            Err(format!("{} failed items; first: {first}", failed.len()))
        }
        None => Err(format!(
            "answer has no `errors`: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        )),
    }
}

/// One `GET /loki/api/v1/query_range`: `(round trip, body)`.
async fn query_range(
    client: &reqwest::Client,
    base: &str,
    params: &[(&str, String)],
) -> anyhow::Result<(f64, Value)> {
    let t0 = Instant::now();
    let resp = client
        .get(format!("{base}/loki/api/v1/query_range"))
        .query(params)
        .send()
        .await
        .context("request failed")?;
    let status = resp.status();
    let body = resp.bytes().await.context("reading the answer")?;
    let took = t0.elapsed().as_secs_f64();
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&body).chars().take(500).collect();
        bail!("HTTP {status}: {}", text.trim());
    }
    let v: Value = serde_json::from_slice(&body).context("answer is not JSON")?;
    if v.get("status").and_then(Value::as_str) != Some("success") {
        bail!("status is not success: {v}");
    }
    Ok((took, v))
}

/// The needle entries of a `streams` answer that contain the token; an error when it is not a streams answer.
pub fn needle_entries(v: &Value, token: &str) -> Result<(usize, usize), String> {
    let data = v.get("data").ok_or("no data")?;
    if data.get("resultType").and_then(Value::as_str) != Some("streams") {
        return Err(format!(
            "resultType is not streams: {}",
            data.get("resultType").unwrap_or(&Value::Null)
        ));
    }
    let result = data
        .get("result")
        .and_then(Value::as_array)
        .ok_or("no result array")?;
    let (mut total, mut with_token) = (0, 0);
    for s in result {
        for e in s
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            total += 1;
            if e.get(1)
                .and_then(Value::as_str)
                .is_some_and(|l| l.contains(token))
            {
                with_token += 1;
            }
        }
    }
    Ok((total, with_token))
}

async fn needle_queries(
    args: &LogsArgs,
    client: &reqwest::Client,
    base: &str,
    c: &CorpusInfo,
) -> QueryRuns {
    let expr = format!("{{app=~\".+\"}} |= \"{}\"", c.token);
    let params = [
        ("query", expr.clone()),
        // Start inclusive, end exclusive: one second of margin on each side.
        ("start", (c.start_ns - 1_000_000_000).to_string()),
        ("end", (c.end_ns + 1_000_000_000).to_string()),
        ("limit", NEEDLE_LIMIT.to_string()),
        ("direction", "backward".into()),
    ];
    let mut q = QueryRuns {
        expr,
        ..QueryRuns::default()
    };
    run_timed(
        args.repeat,
        client,
        base,
        &params,
        &mut q,
        |q, v| match needle_entries(v, &c.token) {
            Ok((total, with)) => {
                q.returned = Some(total);
                if total as u64 != c.needles || with != total {
                    q.fail(format!(
                        "{total} entries returned ({with} with the token), {} expected",
                        c.needles
                    ));
                }
            }
            Err(e) => q.fail(e),
        },
    )
    .await;
    log(format!(
        "needle query: cold {:.1} ms, median {:.1} ms, {} entries",
        q.cold.unwrap_or(f64::NAN) * 1000.0,
        q.median().unwrap_or(f64::NAN) * 1000.0,
        q.returned.map_or("no".into(), |n| n.to_string())
    ));
    q
}

/// Checks a `sum by (level)` matrix: one series per level of `levels`, every
/// value positive. Returns `(series levels, points, sum of values)`.
pub fn check_level_matrix(
    v: &Value,
    levels: &[Level],
) -> Result<(Vec<String>, usize, f64), String> {
    let data = v.get("data").ok_or("no data")?;
    if data.get("resultType").and_then(Value::as_str) != Some("matrix") {
        return Err(format!(
            "resultType is not matrix: {}",
            data.get("resultType").unwrap_or(&Value::Null)
        ));
    }
    let result = data
        .get("result")
        .and_then(Value::as_array)
        .ok_or("no result array")?;
    let (mut names, mut points, mut sum) = (Vec::new(), 0usize, 0.0);
    for s in result {
        let level = s
            .get("metric")
            .and_then(|m| m.get("level"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        for p in s
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let x: f64 = p
                .get(1)
                .and_then(Value::as_str)
                .and_then(|x| x.parse().ok())
                .ok_or_else(|| format!("bad point {p}"))?;
            if x.is_nan() || x <= 0.0 {
                return Err(format!(
                    "level {level:?}: value {x} at {}",
                    p.get(0).unwrap_or(&Value::Null)
                ));
            }
            points += 1;
            sum += x;
        }
        names.push(level);
    }
    let mut got = names.clone();
    got.sort();
    let mut want: Vec<String> = levels.iter().map(|l| l.name().to_string()).collect();
    want.sort();
    if got != want {
        return Err(format!("series by level {got:?}, expected {want:?}"));
    }
    Ok((names, points, sum))
}

/// Runs a range query once cold and `repeat` times more, recording the
/// latencies in `q` and checking every answer with `check`.
async fn run_timed(
    repeat: usize,
    client: &reqwest::Client,
    base: &str,
    params: &[(&str, String)],
    q: &mut QueryRuns,
    mut check: impl FnMut(&mut QueryRuns, &Value),
) {
    for run in 0..=repeat {
        match query_range(client, base, params).await {
            Ok((took, v)) => {
                if run == 0 {
                    q.cold = Some(took);
                } else {
                    q.latencies.push(took);
                }
                check(q, &v);
            }
            Err(e) => q.fail(format!("{e:#}")),
        }
    }
}

async fn metric_queries(
    args: &LogsArgs,
    client: &reqwest::Client,
    base: &str,
    c: &CorpusInfo,
) -> QueryRuns {
    let expr = format!(
        "sum by (level) (count_over_time({{app=~\".+\"}}[{}]))",
        fmt_dur(METRIC_STEP)
    );
    let params = [
        ("query", expr.clone()),
        ("start", c.start_ns.to_string()),
        ("end", c.end_ns.to_string()),
        ("step", METRIC_STEP.as_secs().to_string()),
    ];
    let mut q = QueryRuns {
        expr,
        ..QueryRuns::default()
    };
    run_timed(
        args.repeat,
        client,
        base,
        &params,
        &mut q,
        |q, v| match check_level_matrix(v, &c.levels) {
            Ok((names, points, sum)) => {
                q.returned = Some(names.len());
                q.series_levels = names;
                q.points = Some(points);
                q.value_sum = Some(sum);
            }
            Err(e) => q.fail(e),
        },
    )
    .await;
    log(format!(
        "metric query: cold {:.1} ms, median {:.1} ms, {} series",
        q.cold.unwrap_or(f64::NAN) * 1000.0,
        q.median().unwrap_or(f64::NAN) * 1000.0,
        q.returned.map_or("no".into(), |n| n.to_string())
    ));
    q
}

/// `LC_ALL=C grep -F -c <token> <file>`, twice.
fn grep(token: &str, file: &Path) -> anyhow::Result<GrepInfo> {
    let once = || -> anyhow::Result<(f64, u64)> {
        let t0 = Instant::now();
        let out = std::process::Command::new("grep")
            .env("LC_ALL", "C")
            .args(["-F", "-c", token])
            .arg(file)
            .output()
            .context("running grep")?;
        let took = t0.elapsed().as_secs_f64();
        // Exit 1: no line matched.
        anyhow::ensure!(
            matches!(out.status.code(), Some(0 | 1)),
            "grep failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let n = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("grep -c printed no count")?;
        Ok((took, n))
    };
    let (cold, _) = once()?;
    let (warm, count) = once()?;
    log(format!(
        "grep -F -c: {:.3}s, then {:.3}s, {count} lines",
        cold, warm
    ));
    Ok(GrepInfo {
        cold_seconds: cold,
        warm_seconds: warm,
        count,
    })
}

/// One line of the report: figure, value, target, verdict.
#[derive(Debug, Clone)]
pub struct Row {
    pub figure: &'static str,
    pub value: Option<f64>,
    pub text: String,
    /// `(bound, at_least)`; `None` for an informative row.
    pub target: Option<(f64, bool)>,
}

impl Row {
    fn info(figure: &'static str, text: String) -> Row {
        Row {
            figure,
            value: None,
            text,
            target: None,
        }
    }

    fn target(
        figure: &'static str,
        value: Option<f64>,
        digits: usize,
        bound: f64,
        at_least: bool,
    ) -> Row {
        Row {
            figure,
            value,
            text: value.map_or("n/a".into(), |v| format!("{v:.digits$}")),
            target: Some((bound, at_least)),
        }
    }

    pub fn verdict(&self) -> &'static str {
        match (self.target, self.value) {
            (None, _) => "",
            (Some(_), None) => "n/a",
            (Some((b, true)), Some(v)) if v >= b => "PASS",
            (Some((b, false)), Some(v)) if v <= b => "PASS",
            (Some(_), Some(_)) => "FAIL",
        }
    }

    fn target_text(&self) -> String {
        match self.target {
            None => String::new(),
            Some((b, at_least)) => format!("{} {b}", if at_least { ">=" } else { "<=" }),
        }
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// The report's rows (targets first).
pub fn rows(r: &LogsRun) -> Vec<Row> {
    let raw = r.ingest.raw_bytes().max(r.corpus.raw_bytes);
    let ms = |s: Option<f64>| s.map_or("n/a".into(), |v| format!("{:.1}", v * 1000.0));
    let disk_ratio =
        (raw > 0 && r.disk.after_flush > 0).then(|| r.disk.after_flush as f64 / raw as f64);
    let ingested = r.ingest.raw_bytes() > 0;
    vec![
        Row::target(
            "ingest: raw MiB per pharos CPU-second",
            r.ingest.mib_per_cpu_second().filter(|_| ingested),
            1,
            TARGET_MIB_PER_CPU_SECOND,
            true,
        ),
        Row::target(
            "disk: <data>/logs after flush / raw bytes",
            disk_ratio,
            4,
            TARGET_DISK_RATIO,
            false,
        ),
        Row::target(
            "needle query: median latency (s)",
            r.needle.median(),
            4,
            TARGET_QUERY_SECONDS,
            false,
        ),
        Row::target(
            "needle query: grep -F (warm) / pharos",
            ratio(
                (r.grep.warm_seconds > 0.0).then_some(r.grep.warm_seconds),
                r.needle.median(),
            ),
            1,
            TARGET_GREP_SPEEDUP,
            true,
        ),
        Row::target(
            "sum by (level) count_over_time 24h/5m: median (s)",
            r.metric.median(),
            4,
            TARGET_QUERY_SECONDS,
            false,
        ),
        Row::target(
            "peak RSS during ingest (GiB)",
            (r.ingest.peak_rss > 0).then(|| r.ingest.peak_rss as f64 / GIB),
            3,
            TARGET_PEAK_RSS as f64 / GIB,
            false,
        ),
        Row::info(
            "ingest: wall-clock raw MiB/s",
            r.ingest
                .mib_per_second()
                .filter(|_| ingested)
                .map_or("n/a".into(), |v| format!("{v:.1}")),
        ),
        Row::info(
            "ingest: wall time / pharos CPU (s)",
            format!("{:.1} / {:.1}", r.ingest.wall_seconds, r.ingest.cpu_seconds),
        ),
        Row::info("ingest + flush: raw MiB per pharos CPU-second", {
            let cpu = r.ingest.cpu_seconds + r.flush.cpu_seconds;
            if ingested && cpu > 0.0 {
                format!("{:.1}", r.ingest.raw_bytes() as f64 / MIB / cpu)
            } else {
                "n/a".into()
            }
        }),
        Row::info(
            "ingest: requests loki / bulk",
            format!(
                "{} / {} (p50 {} / {} ms)",
                r.ingest.loki.requests,
                r.ingest.es.requests,
                ms(median(&r.ingest.loki.latencies)),
                ms(median(&r.ingest.es.latencies))
            ),
        ),
        Row::info(
            "RSS at ready / after ingest / at end (MiB)",
            format!(
                "{:.0} / {:.0} / {:.0}",
                r.ingest.rss_at_ready as f64 / MIB,
                r.ingest.rss_end as f64 / MIB,
                r.memory_end.rss as f64 / MIB
            ),
        ),
        Row::info(
            "peak RSS at end of run (MiB)",
            format!("{:.0}", r.memory_end.peak_rss as f64 / MIB),
        ),
        Row::info(
            "flush",
            format!(
                "{} in {:.2}s, CPU {:.2}s",
                if r.flush.status.is_empty() {
                    "not run"
                } else {
                    &r.flush.status
                },
                r.flush.seconds,
                r.flush.cpu_seconds
            ),
        ),
        Row::info(
            "disk: after ingest / after flush (MiB)",
            format!(
                "{:.1} / {:.1} (allocated {:.1})",
                r.disk.after_ingest as f64 / MIB,
                r.disk.after_flush as f64 / MIB,
                r.disk.after_flush_allocated as f64 / MIB
            ),
        ),
        Row::info(
            "disk: after flush by directory (MiB)",
            r.disk
                .breakdown
                .iter()
                .map(|(n, b)| format!("{n} {:.1}", *b as f64 / MIB))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Row::info(
            "needle query: cold / median (ms)",
            format!("{} / {}", ms(r.needle.cold), ms(r.needle.median())),
        ),
        Row::info(
            "needle query: entries returned / expected",
            format!(
                "{} / {}",
                r.needle.returned.map_or("n/a".into(), |n| n.to_string()),
                r.corpus.needles
            ),
        ),
        Row::info(
            "grep -F -c: cold / warm (ms), lines",
            format!(
                "{:.1} / {:.1}, {}",
                r.grep.cold_seconds * 1000.0,
                r.grep.warm_seconds * 1000.0,
                r.grep.count
            ),
        ),
        Row::info(
            "metric query: cold / median (ms)",
            format!("{} / {}", ms(r.metric.cold), ms(r.metric.median())),
        ),
        Row::info(
            "metric query: series, points, sum of values",
            format!(
                "{} ({}), {}, {} (entries {})",
                r.metric.returned.map_or("n/a".into(), |n| n.to_string()),
                r.metric.series_levels.join(" "),
                r.metric.points.map_or("n/a".into(), |n| n.to_string()),
                r.metric
                    .value_sum
                    .map_or("n/a".into(), |v| format!("{v:.0}")),
                r.corpus.entries
            ),
        ),
    ]
}

/// The report as text.
pub fn render(args: &LogsArgs, r: &LogsRun) -> String {
    use std::fmt::Write as _;
    let c = &r.corpus;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\ncorpus: {} apps ({}), {} hosts each ({} over Elasticsearch bulk), seed {}, span {} ending at {}",
        c.apps.len(),
        c.apps.join(", "),
        args.hosts,
        args.es_hosts(),
        args.seed,
        fmt_dur(args.span),
        {
            let mut t = Vec::new();
            corpus::Civil::from_nanos(c.end_ns).write_rfc3339_ms(&mut t);
            String::from_utf8_lossy(&t).into_owned()
        }
    );
    let _ = writeln!(
        s,
        "  {} entries, raw {:.1} MiB (line bytes without newlines; corpus file {:.1} MiB with them), levels {}",
        c.entries,
        c.raw_bytes as f64 / MIB,
        c.file_bytes as f64 / MIB,
        Level::ALL
            .iter()
            .map(|l| format!("{} {}", l.name(), c.level_entries[l.index()]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (name, t, streams) in [
        ("loki push", &c.loki, c.loki_streams),
        ("elasticsearch bulk", &c.es, c.es_streams),
    ] {
        let _ = writeln!(
            s,
            "  {name}: {} entries, {:.1} MiB raw ({:.0}%), {} streams, {} requests, {:.1} MiB of bodies",
            t.lines,
            t.raw_bytes as f64 / MIB,
            t.raw_bytes as f64 * 100.0 / c.raw_bytes.max(1) as f64,
            streams,
            t.requests,
            t.body_bytes as f64 / MIB
        );
    }
    let _ = writeln!(
        s,
        "  generated in {:.1}s (generator thread alone {:.0} MiB/s); needle {} in {} entries",
        c.seconds,
        c.raw_bytes as f64 / MIB / c.generator_seconds.max(1e-9),
        c.token,
        c.needles
    );
    let _ = writeln!(
        s,
        "server: {}{}",
        r.version.as_deref().unwrap_or("pharos (version unknown)"),
        if r.missing_flags.is_empty() {
            String::new()
        } else {
            format!(
                "; WARNING: started without {} (not in `serve --help`)",
                r.missing_flags.join(" ")
            )
        }
    );
    let _ = writeln!(
        s,
        "\n{:<52} {:>10} {:>9}  verdict",
        "figure", "value", "target"
    );
    let rows = rows(r);
    let (mut pass, mut fail) = (0, 0);
    for row in rows.iter().filter(|r| r.target.is_some()) {
        match row.verdict() {
            "PASS" => pass += 1,
            "FAIL" => fail += 1,
            _ => {}
        }
        let _ = writeln!(
            s,
            "{:<52} {:>10} {:>9}  {}",
            row.figure,
            row.text,
            row.target_text(),
            row.verdict()
        );
    }
    let _ = writeln!(s, "targets: {pass} PASS, {fail} FAIL\n");
    for row in rows.iter().filter(|r| r.target.is_none()) {
        let _ = writeln!(s, "{}: {}", row.figure, row.text);
    }
    for (name, q) in [("needle query", &r.needle), ("metric query", &r.metric)] {
        if let Some(e) = &q.first_failure {
            let _ = writeln!(
                s,
                "WARNING: {name} answer wrong in {} of {} runs: {e}",
                q.check_failures,
                args.repeat + 1
            );
        }
    }
    if r.grep.count != c.needles && r.grep.warm_seconds > 0.0 {
        let _ = writeln!(
            s,
            "WARNING: grep counted {} lines with the token, {} generated",
            r.grep.count, c.needles
        );
    }
    if let (Some(sum), true) = (r.metric.value_sum, r.metric.first_failure.is_none()) {
        if (sum - c.entries as f64).abs() > 0.5 {
            let _ = writeln!(
                s,
                "note: the metric query's values sum to {sum:.0}, {} entries were sent (windows of 5m at step 5m tile the span)",
                c.entries
            );
        }
    }
    if !r.flush.ok && !r.flush.status.is_empty() {
        let _ = writeln!(
            s,
            "WARNING: POST /flush {}; disk was measured without it",
            r.flush.status
        );
    }
    s
}

fn totals_json(t: &ProtoTotals, streams: usize) -> Value {
    json!({
        "entries": t.lines,
        "raw_bytes": t.raw_bytes,
        "requests": t.requests,
        "body_bytes": t.body_bytes,
        "streams": streams,
    })
}

fn sent_json(t: &ProtoSent) -> Value {
    json!({
        "requests": t.requests,
        "entries": t.lines,
        "raw_bytes": t.raw_bytes,
        "body_bytes": t.body_bytes,
        "latency_median_ms": median(&t.latencies).map(|v| v * 1000.0),
        "latency_max_ms": t.latencies.iter().cloned().fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x)))).map(|v| v * 1000.0),
    })
}

fn query_json(q: &QueryRuns) -> Value {
    json!({
        "expr": q.expr,
        "cold_ms": q.cold.map(|v| v * 1000.0),
        "median_ms": q.median().map(|v| v * 1000.0),
        "latencies_ms": q.latencies.iter().map(|v| v * 1000.0).collect::<Vec<_>>(),
        "returned": q.returned,
        "points": q.points,
        "value_sum": q.value_sum,
        "series_levels": q.series_levels,
        "check_failures": q.check_failures,
        "first_failure": q.first_failure,
    })
}

fn to_json(args: &LogsArgs, r: &LogsRun, error: Option<String>) -> Value {
    let c = &r.corpus;
    let targets: Vec<Value> = rows(r)
        .iter()
        .filter(|row| row.target.is_some())
        .map(|row| {
            let (bound, at_least) = row.target.unwrap_or((0.0, false));
            json!({
                "figure": row.figure,
                "value": row.value,
                "bound": bound,
                "at_least": at_least,
                "verdict": row.verdict(),
            })
        })
        .collect();
    json!({
        "scenario": "logs",
        "error": error,
        "corpus": {
            "seed": args.seed,
            "apps": c.apps,
            "hosts_per_app": args.hosts,
            "es_hosts_per_app": args.es_hosts(),
            "bytes_requested": args.bytes,
            "entries": c.entries,
            "raw_bytes": c.raw_bytes,
            "raw_bytes_note": "line bytes without newlines",
            "file_bytes": c.file_bytes,
            "start_ns": c.start_ns,
            "end_ns": c.end_ns,
            "needle_token": c.token,
            "needle_entries": c.needles,
            "levels": c.levels.iter().map(|l| l.name()).collect::<Vec<_>>(),
            "entries_per_level": Level::ALL.iter().map(|l| (l.name().to_string(), json!(c.level_entries[l.index()]))).collect::<serde_json::Map<_, _>>(),
            "loki": totals_json(&c.loki, c.loki_streams),
            "elasticsearch": totals_json(&c.es, c.es_streams),
            "generation_seconds": c.seconds,
            "generator_thread_seconds": c.generator_seconds,
            "generator_mib_per_second": (c.generator_seconds > 0.0).then(|| c.raw_bytes as f64 / MIB / c.generator_seconds),
        },
        "server": {
            "version": r.version,
            "command": r.command,
            "missing_flags": r.missing_flags,
        },
        "ingest": {
            "concurrency": args.concurrency,
            "batch_bytes": args.batch_bytes,
            "wall_seconds": r.ingest.wall_seconds,
            "cpu_seconds": r.ingest.cpu_seconds,
            "raw_bytes": r.ingest.raw_bytes(),
            "mib_per_cpu_second": r.ingest.mib_per_cpu_second(),
            "mib_per_second": r.ingest.mib_per_second(),
            "peak_rss_bytes": r.ingest.peak_rss,
            "rss_end_bytes": r.ingest.rss_end,
            "rss_at_ready_bytes": r.ingest.rss_at_ready,
            "ready_seconds": r.ingest.ready_seconds,
            "loki": sent_json(&r.ingest.loki),
            "elasticsearch": sent_json(&r.ingest.es),
        },
        "flush": {
            "ok": r.flush.ok,
            "status": r.flush.status,
            "seconds": r.flush.seconds,
            "cpu_seconds": r.flush.cpu_seconds,
        },
        "disk": {
            "logs_bytes_after_ingest": r.disk.after_ingest,
            "logs_bytes_after_flush": r.disk.after_flush,
            "logs_allocated_bytes_after_flush": r.disk.after_flush_allocated,
            "by_directory": r.disk.breakdown.iter().map(|(n, b)| (n.clone(), json!(b))).collect::<serde_json::Map<_, _>>(),
        },
        "needle_query": query_json(&r.needle),
        "metric_query": query_json(&r.metric),
        "grep": {
            "command": format!("LC_ALL=C grep -F -c {} corpus.log", c.token),
            "cold_seconds": r.grep.cold_seconds,
            "warm_seconds": r.grep.warm_seconds,
            "count": r.grep.count,
        },
        "memory_end": {
            "peak_rss_bytes": r.memory_end.peak_rss,
            "rss_bytes": r.memory_end.rss,
        },
        "targets": targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("5G"), Ok(5 << 30));
        assert_eq!(parse_size("50M"), Ok(50 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("10k"), Ok(10_240));
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("2MB"), Ok(2 << 20));
        assert!(parse_size("x").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("-1G").is_err());
    }

    #[test]
    fn bulk_answers() {
        assert!(bulk_errors(br#"{"took":3,"errors":false,"items":[]}"#).is_ok());
        let bad = br#"{"took":3,"errors":true,"items":[{"create":{"status":201}},{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rate"}}}]}"#;
        let e = bulk_errors(bad).expect_err("refused");
        assert!(
            e.contains("1 failed items") && e.contains("429") && e.contains("rate"),
            "{e}"
        );
        assert!(bulk_errors(b"nope").is_err());
        assert!(bulk_errors(b"{}").is_err());
    }

    #[test]
    fn answers_are_checked() {
        let v: Value = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"streams","result":[
                {"stream":{"app":"a"},"values":[["1","x needle1"],["2","y needle1"]]},
                {"stream":{"app":"b"},"values":[["3","z"]]}]}}"#,
        )
        .expect("json");
        assert_eq!(needle_entries(&v, "needle1"), Ok((3, 2)));
        let m: Value = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
                {"metric":{"level":"info"},"values":[[1,"2"],[2,"3"]]},
                {"metric":{"level":"error"},"values":[[1,"1"]]}]}}"#,
        )
        .expect("json");
        let (names, points, sum) =
            check_level_matrix(&m, &[Level::Error, Level::Info]).expect("ok");
        assert_eq!((names.len(), points, sum), (2, 3, 6.0));
        assert!(check_level_matrix(&m, &[Level::Info]).is_err());
        assert!(needle_entries(&m, "x").is_err());
        let zero: Value = serde_json::from_str(
            r#"{"data":{"resultType":"matrix","result":[{"metric":{"level":"info"},"values":[[1,"0"]]}]}}"#,
        )
        .expect("json");
        assert!(check_level_matrix(&zero, &[Level::Info]).is_err());
    }

    #[test]
    fn verdicts() {
        let r = Row::target("x", Some(60.0), 1, 50.0, true);
        assert_eq!(r.verdict(), "PASS");
        assert_eq!(
            Row::target("x", Some(0.09), 1, 0.08, false).verdict(),
            "FAIL"
        );
        assert_eq!(Row::target("x", None, 1, 0.08, false).verdict(), "n/a");
        let rows = rows(&LogsRun::default());
        assert_eq!(rows.iter().filter(|r| r.target.is_some()).count(), 6);
        assert!(rows
            .iter()
            .all(|r| r.verdict() != "PASS" && r.verdict() != "FAIL"));
    }
}
