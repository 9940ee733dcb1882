//! `pharos-bench`: load generator and benchmark scenarios that drive a running
//! server over its real protocols and compare pharos with its peers on the
//! same data.
//!
//! Scenarios:
//! - `ingest`: a node_exporter-like workload over Prometheus remote write 1.0
//!   into pharos and into Prometheus, one after the other; prints server CPU
//!   per sample, memory per series, throughput and bytes on disk per sample,
//!   and the pharos/Prometheus ratios (see [`ingest`]).
//! - `query`: the same hours of data loaded into pharos and into Prometheus,
//!   then dashboard-style PromQL queries (instant and range) timed against each
//!   server alone; prints median latencies, their pharos/Prometheus ratios,
//!   series counts and peak RSS during the queries (see [`query`]).
//! - `logs`: the log store against its targets on a corpus expanded from the
//!   Loghub samples, ingested over Loki push and Elasticsearch bulk; prints
//!   ingest MiB per server CPU-second, bytes on disk, needle query vs grep,
//!   a 24 h metric query and peak RSS (see [`logs`]).
//!
//! Modules: [`workload`] (deterministic generator), [`driver`] (batching and
//! concurrent HTTP), [`process`] (servers and `/proc`), [`blocks`] (blocks on
//! disk), [`report`] (table and JSON), [`ingest`] (the scenario),
//! [`query_workload`] and [`query`] (the query scenario).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod blocks;
mod driver;
mod http1;
mod ingest;
mod logs;
mod logs_index;
mod process;
mod query;
mod query_workload;
mod report;
mod workload;

/// Load generator and benchmarks for pharos, compared against its peers on the same data.
#[derive(Debug, Parser)]
#[command(name = "pharos-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Remote write ingest, pharos vs Prometheus: server CPU per sample, RSS per series, throughput, bytes on disk per sample.
    ///
    /// Runs each server in turn (never both at once) on a fresh data directory with the
    /// identical deterministic workload: an ingest phase (measured) and a disk phase (enough
    /// hours of data for both servers to cut blocks), then prints a table, the
    /// pharos/Prometheus ratios with PASS/FAIL against the targets, and optionally JSON.
    Ingest(IngestArgs),
    /// PromQL query latency, pharos vs Prometheus, on the same data: median latency per query class, series counts, peak RSS.
    ///
    /// Runs each server in turn (never both at once): start it on a fresh data directory,
    /// load --hours of data for --series series (plus a classic histogram family) over remote
    /// write in time order, wait until it is idle, then run every query class as an instant
    /// query and as two range queries, --warmup untimed then --repeat timed passes, one query
    /// at a time; stop it. Prints per query the median HTTP round trip of each server, the ratio
    /// pharos/Prometheus with PASS/FAIL against <= 0.5, a warning per series-count mismatch,
    /// and the peak RSS of each server during the query phase (target pharos <= Prometheus).
    Query(QueryArgs),
    /// Log store: ingest MiB per server CPU-second, bytes on disk, needle query vs grep, a 24 h metric query, peak RSS.
    ///
    /// Expands the Loghub samples (--shared) into --bytes of log text over the last 24 h,
    /// writes it to a corpus file and the request bodies to a second file, starts pharos on a
    /// fresh data directory, sends 80% over Loki push and 20% over Elasticsearch bulk, calls
    /// POST /flush, measures <data-dir>/logs, then times a needle query (against grep -F over
    /// the corpus file) and `sum by (level) (count_over_time(...[5m]))` over the 24 h; prints
    /// every figure with its target and PASS/FAIL.
    Logs(logs::LogsArgs),
    /// Log search indexes compared on one corpus: pharos's token index, per-row-group bloom filters, tantivy.
    ///
    /// Reads --corpus (one line per line) or generates --bytes like `logs`, cuts it into row
    /// groups of --group-bytes and segments of 32 groups, builds each index (build CPU, bytes
    /// as % of raw), then looks up --needles rare tokens as whole tokens and as `|=` substrings
    /// inside a token (lookup time, row groups left to read, false positives). tantivy is
    /// measured only when built with `--features tantivy`.
    LogsIndex(logs_index::LogsIndexArgs),
}

/// Which servers to run.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Only {
    Pharos,
    Prometheus,
    Both,
}

/// The client that times the queries.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TimingClient {
    /// A blocking HTTP/1.1 client, one keep-alive connection per server.
    Lean,
    /// reqwest on a single-threaded tokio runtime.
    Reqwest,
}

/// How the query phases of the servers are arranged.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Order {
    /// Load every server first, then run each query on each server in turn (alternating which goes first), so both see the same machine.
    Interleaved,
    /// One server at a time: load, settle, query, stop; then the next (never both running).
    Sequential,
}

fn parse_dur(s: &str) -> Result<Duration, String> {
    pharos_model::duration::parse_duration(s).map_err(|e| e.to_string())
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("not a number: {s:?}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be between 0 and 1: {s}"))
    }
}

#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// pharos binary to benchmark (started as `serve` with only the HTTP listener on).
    #[arg(long, default_value = "target/release/pharos", value_name = "PATH")]
    pub pharos_bin: PathBuf,
    /// Prometheus binary to compare with (started with --web.enable-remote-write-receiver).
    #[arg(long, default_value = "prometheus", value_name = "PATH")]
    pub prometheus_bin: PathBuf,
    /// Which servers to run.
    #[arg(long, value_enum, default_value_t = Only::Both)]
    pub only: Only,

    /// Scrape targets (distinct `instance` labels) of the ingest phase.
    #[arg(long, default_value_t = 100)]
    pub targets: usize,
    /// Series per target (60% counters, 25% gauges, 15% histogram series).
    #[arg(long, default_value_t = 10_000)]
    pub series_per_target: usize,
    /// Scrape rounds of the ingest phase (one sample per series per round).
    #[arg(long, default_value_t = 10)]
    pub rounds: usize,
    /// Synthetic scrape interval (Prometheus duration). Timestamps start at now - rounds × interval.
    #[arg(long, default_value = "15s", value_parser = parse_dur, value_name = "DURATION")]
    pub interval: Duration,
    /// Fraction of series replaced by new ones (new `instance` value) at each round after the first.
    #[arg(long, default_value = "0.0", value_parser = parse_fraction, value_name = "FRACTION")]
    pub churn: f64,
    /// Seed of the deterministic generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Samples per remote write request (Prometheus's max_samples_per_send default is 2000).
    #[arg(long, default_value_t = 2000)]
    pub batch_size: usize,
    /// Shards: concurrent connections, one request in flight each.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Retries of a request answered 429/5xx or failing in transport (backoff 30ms doubling to 5s).
    #[arg(long, default_value_t = 3)]
    pub max_retries: u32,
    /// Timeout of one request.
    #[arg(long, default_value = "60s", value_parser = parse_dur, value_name = "DURATION")]
    pub request_timeout: Duration,
    /// How long a server may take to answer 200 on /-/ready.
    #[arg(long, default_value = "2m", value_parser = parse_dur, value_name = "DURATION")]
    pub ready_timeout: Duration,

    /// Series of the disk phase (bytes on disk per sample); 0 skips the phase.
    #[arg(long, default_value_t = 20_000)]
    pub disk_series: usize,
    /// Hours of synthetic data in the disk phase, at --interval (more than 3 so that blocks are cut).
    #[arg(long, default_value_t = 8.0)]
    pub disk_hours: f64,
    /// Longest wait for blocks after the disk phase's data is sent; without blocks by then the server gets SIGTERM and is scanned again.
    #[arg(long, default_value = "5m", value_parser = parse_dur, value_name = "DURATION")]
    pub disk_wait: Duration,
    /// Blocks are measured once the set of block directories has not changed for this long (covers the 60s maintenance/compaction period).
    #[arg(long, default_value = "65s", value_parser = parse_dur, value_name = "DURATION")]
    pub disk_settle: Duration,

    /// Where the servers' temporary data directories go (default: the system temp dir).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Keep the servers' data directories and logs instead of deleting them.
    #[arg(long)]
    pub keep_data: bool,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct QueryArgs {
    /// pharos binary to benchmark (started as `serve` with only the HTTP listener on).
    #[arg(long, default_value = "target/release/pharos", value_name = "PATH")]
    pub pharos_bin: PathBuf,
    /// Prometheus binary to compare with (started with --web.enable-remote-write-receiver).
    #[arg(long, default_value = "prometheus", value_name = "PATH")]
    pub prometheus_bin: PathBuf,
    /// Which servers to run.
    #[arg(long, value_enum, default_value_t = Only::Both)]
    pub only: Only,
    /// How the servers' query phases are arranged: `interleaved` keeps every server running and alternates them query by query, so a change in the machine's speed during the run affects both alike.
    #[arg(long, value_enum, default_value_t = Order::Interleaved)]
    pub order: Order,
    /// The timing client: `lean` (a blocking HTTP/1.1 client on a thread of its own: the round trip alone) or `reqwest` (async, on a tokio runtime: adds the client's own wake-ups, as the runs before F1 measured).
    #[arg(long, value_enum, default_value_t = TimingClient::Lean)]
    pub client: TimingClient,

    /// Counter and gauge series: 100 per instance (`instance="host-<i>:9100"`, `job` one of api, web, db, cache, worker by i mod 5).
    #[arg(long, default_value_t = 10_000)]
    pub series: usize,
    /// The first N instances also expose the classic histogram `http_request_duration_seconds` (4 handlers × 14 series).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub histogram_instances: usize,
    /// Hours of data, ending when the bench starts.
    #[arg(long, default_value_t = 24.0)]
    pub hours: f64,
    /// Resolution of the data (Prometheus duration): one sample per series per interval.
    #[arg(long, default_value = "15s", value_parser = parse_dur, value_name = "DURATION")]
    pub interval: Duration,
    /// Seed of the deterministic generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Timed passes over all queries (the median of these is reported per query).
    #[arg(long, default_value_t = 20)]
    pub repeat: usize,
    /// Untimed passes over all queries before the timed ones.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Range of the short range queries, ending at the end of the data (aligned to the step).
    #[arg(long, default_value = "6h", value_parser = parse_dur, value_name = "DURATION")]
    pub short_range: Duration,
    /// Step of the short range queries.
    #[arg(long, default_value = "60s", value_parser = parse_dur, value_name = "DURATION")]
    pub short_step: Duration,
    /// Range of the long range queries, ending at the end of the data (aligned to the step).
    #[arg(long, default_value = "24h", value_parser = parse_dur, value_name = "DURATION")]
    pub long_range: Duration,
    /// Step of the long range queries.
    #[arg(long, default_value = "5m", value_parser = parse_dur, value_name = "DURATION")]
    pub long_step: Duration,
    /// Client timeout of one query.
    #[arg(long, default_value = "2m", value_parser = parse_dur, value_name = "DURATION")]
    pub query_timeout: Duration,

    /// Least time to wait after the load before querying (covers pharos's 60s maintenance pass, which cuts blocks).
    #[arg(long, default_value = "65s", value_parser = parse_dur, value_name = "DURATION")]
    pub settle: Duration,
    /// After --settle, wait until the server uses less than --idle-cpu over 5s, at most this long.
    #[arg(long, default_value = "10m", value_parser = parse_dur, value_name = "DURATION")]
    pub settle_max: Duration,
    /// CPU use (fraction of one core over 5s) under which a server counts as idle after the load.
    #[arg(long, default_value = "0.05", value_parser = parse_fraction, value_name = "FRACTION")]
    pub idle_cpu: f64,

    /// Samples per remote write request of the load.
    #[arg(long, default_value_t = 2000)]
    pub batch_size: usize,
    /// Shards of the load: concurrent connections, one request in flight each.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Retries of a load request answered 429/5xx or failing in transport.
    #[arg(long, default_value_t = 3)]
    pub max_retries: u32,
    /// Timeout of one remote write request.
    #[arg(long, default_value = "60s", value_parser = parse_dur, value_name = "DURATION")]
    pub request_timeout: Duration,
    /// How long a server may take to answer 200 on /-/ready.
    #[arg(long, default_value = "2m", value_parser = parse_dur, value_name = "DURATION")]
    pub ready_timeout: Duration,

    /// Where the servers' temporary data directories go (default: the system temp dir).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Keep the servers' data directories and logs instead of deleting them.
    #[arg(long)]
    pub keep_data: bool,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Ingest(args) => ingest::run(args).await,
        Command::Query(args) => query::run(args).await,
        Command::Logs(args) => logs::run(args).await,
        Command::LogsIndex(args) => logs_index::run(args),
    };
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pharos-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "pharos-bench",
            "ingest",
            "--interval",
            "30s",
            "--churn",
            "0.1",
            "--only",
            "prometheus",
        ])
        .expect("parses");
        let Command::Ingest(a) = cli.command else {
            panic!("not ingest");
        };
        assert_eq!(a.interval, Duration::from_secs(30));
        assert_eq!(a.only, Only::Prometheus);
        assert!(Cli::try_parse_from(["pharos-bench", "ingest", "--churn", "2"]).is_err());
    }

    #[test]
    fn query_cli_and_query_times() {
        let cli = Cli::try_parse_from([
            "pharos-bench",
            "query",
            "--series",
            "500",
            "--hours",
            "4",
            "--repeat",
            "3",
        ])
        .expect("parses");
        let Command::Query(a) = cli.command else {
            panic!("not query");
        };
        assert_eq!((a.series, a.hours, a.repeat), (500, 4.0, 3));
        assert_eq!(a.long_step, Duration::from_secs(300));
        let end = 1_700_000_123_456;
        let qs = query::queries(&a, end);
        assert_eq!(qs.len(), query::classes().len() * 3);
        for q in &qs {
            assert!(q.end_ms <= end && end - q.end_ms < 300_000);
            match q.shape {
                query::Shape::Instant => assert_eq!(q.start_ms, q.end_ms),
                query::Shape::Range { range, step } => {
                    assert_eq!(q.end_ms % step.as_millis() as i64, 0);
                    assert_eq!(q.end_ms - q.start_ms, range.as_millis() as i64);
                }
            }
        }
    }
}
