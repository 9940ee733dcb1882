//! Command-line interface: `pharos serve`, `pharos tsdb analyze|dump`,
//! `pharos promqltest`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// pharos: metrics, logs, traces and alerting in one program that speaks the
/// protocols of Prometheus, Loki, Jaeger and OpenTelemetry.
#[derive(Debug, Parser)]
#[command(name = "pharos", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: listeners, scraping, storage. Zero configuration needed.
    Serve(Box<ServeArgs>),
    /// Run a PromQL query against a server: `pharos query 'EXPR'`, or `pharos query range 'EXPR' --start .. --end .. --step ..`.
    Query(QueryArgs),
    /// Run a LogQL query against a server's Loki API: `pharos logs '{app="x"} |= "error"' --since 1h`.
    Logs(LogsArgs),
    /// Inspect the metrics store on disk (run while the server is stopped, or on a copy).
    #[command(subcommand)]
    Tsdb(TsdbCommand),
    /// Run Prometheus's promqltest files (`*.test`) against pharos's PromQL engine and report pass counts.
    Promqltest(PromqltestArgs),
}

/// `--wal-fsync` policy.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum WalFsync {
    /// fsync at most one second after a write (a process crash loses nothing; a power failure at most 1 s).
    Interval,
    /// fsync before every acknowledgement.
    Always,
}

/// `--logs.line-encoding`: how log segments store lines.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LineEncoding {
    /// Each line split into its text with the numbers and hex ids taken out
    /// and those values, stored per row group as the distinct texts and one
    /// column per value, numbers written against their previous value or the
    /// entry's timestamp (segment format 7).
    Split,
    /// A row group's lines as one text (segment format 5).
    Text,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory for all stored data (WAL, blocks).
    #[arg(long, default_value = "./data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Configuration file: a Prometheus configuration (global, scrape_configs, ...) plus pharos's `listen:` section.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Main HTTP listener: query APIs, remote write, OTLP/HTTP, /metrics. HOST:PORT or `off`.
    #[arg(long, value_name = "HOST:PORT|off")]
    pub http_addr: Option<String>,
    /// OTLP gRPC listener. HOST:PORT or `off`.
    #[arg(long, value_name = "HOST:PORT|off")]
    pub otlp_grpc_addr: Option<String>,
    /// OTLP HTTP listener (/v1/metrics). HOST:PORT or `off`.
    #[arg(long, value_name = "HOST:PORT|off")]
    pub otlp_http_addr: Option<String>,
    /// Zipkin listener (reserved: not served yet; traces arrive in a later release).
    #[arg(long, value_name = "HOST:PORT|off")]
    pub zipkin_addr: Option<String>,
    /// Jaeger Thrift HTTP listener (reserved: not served yet).
    #[arg(long, value_name = "HOST:PORT|off")]
    pub jaeger_http_addr: Option<String>,
    /// Jaeger agent UDP listener (reserved: not served yet).
    #[arg(long, value_name = "HOST:PORT|off")]
    pub jaeger_udp_addr: Option<String>,
    /// Syslog listener, TCP and UDP on one address: RFC 5424 and RFC 3164 (default off).
    #[arg(long, value_name = "HOST:PORT|off")]
    pub syslog_addr: Option<String>,

    /// How long to keep metric samples (Prometheus duration, e.g. 15d, 12h).
    #[arg(long, default_value = "15d", value_name = "DURATION")]
    pub retention_time: String,
    /// Maximum bytes of metric blocks to keep (e.g. 512MB, 10GB); 0 means no limit. Units B, KB, MB, GB, TB, PB (base 1024).
    #[arg(long, default_value = "0", value_name = "SIZE")]
    pub retention_size: String,
    /// When the WAL is fsynced: `interval` (at most 1 s behind) or `always` (before each acknowledgement).
    #[arg(long, value_enum, default_value_t = WalFsync::Interval)]
    pub wal_fsync: WalFsync,
    /// Accept samples up to this far behind a series' newest sample (0s: out-of-order samples are rejected).
    #[arg(long, default_value = "0s", value_name = "DURATION")]
    pub out_of_order_window: String,
    /// Largest accepted request body in bytes; larger requests get 413.
    #[arg(long, default_value_t = 32 << 20, value_name = "BYTES")]
    pub max_request_bytes: usize,
    /// Remote write: refuse series with more labels than this (400 naming the series); 0 means no limit.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub max_labels_per_series: usize,
    /// Remote write: refuse series with a label name longer than this; 0 means no limit.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub max_label_name_length: usize,
    /// Remote write: refuse series with a label value longer than this; 0 means no limit.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub max_label_value_length: usize,
    /// Longest a PromQL query may run (Prometheus duration).
    #[arg(long = "query.timeout", default_value = "2m", value_name = "DURATION")]
    pub query_timeout: String,
    /// Most samples a single query may hold in memory.
    #[arg(
        long = "query.max-samples",
        default_value_t = 50_000_000,
        value_name = "N"
    )]
    pub query_max_samples: usize,
    /// Most queries evaluated at once; further queries wait for a slot.
    #[arg(long = "query.max-concurrency", default_value_t = 20, value_name = "N")]
    pub query_max_concurrency: usize,
    /// Threads one query may use to read and evaluate series (0: the
    /// machine's cores, at most 4; 1: only the thread serving the request).
    /// Helpers come from one pool of parked threads (cores - 1, at most 3)
    /// shared by all queries.
    #[arg(long = "query.threads", default_value_t = 0, value_name = "N")]
    pub query_threads: usize,
    /// How far back an instant selector looks for the latest sample.
    #[arg(
        long = "query.lookback-delta",
        default_value = "5m",
        value_name = "DURATION"
    )]
    pub query_lookback_delta: String,
    /// Most entries a log query may ask for (`limit`); larger limits are refused (Loki's
    /// `max_entries_limit_per_query`).
    #[arg(
        long = "logs.max-entries-per-query",
        default_value_t = 5000,
        value_name = "N"
    )]
    pub logs_max_entries: usize,
    /// Most streams a log query may select, and most series a LogQL metric query may return
    /// (Loki's `max_query_series`).
    #[arg(
        long = "logs.max-query-series",
        default_value_t = 500,
        value_name = "N"
    )]
    pub logs_max_series: usize,
    /// Longest a LogQL query or log index call (series, labels, label values,
    /// index stats) may run; it is then stopped and answered 504 (Loki's
    /// `query_timeout`). 0 = no limit.
    #[arg(
        long = "logs.query-timeout",
        default_value = "1m",
        value_name = "DURATION"
    )]
    pub logs_query_timeout: String,
    /// Sustained log ingestion rate over all streams, MB/s (Loki's
    /// `ingestion_rate_mb`); 0 = no limit.
    #[arg(
        long = "logs.ingestion-rate-mb",
        default_value_t = 4.0,
        value_name = "MB"
    )]
    pub logs_rate_mb: f64,
    /// Burst allowed above that rate, MB (Loki's `ingestion_burst_size_mb`).
    #[arg(
        long = "logs.ingestion-burst-size-mb",
        default_value_t = 6.0,
        value_name = "MB"
    )]
    pub logs_burst_mb: f64,
    /// Sustained ingestion rate of one stream, MB/s (Loki's `per_stream_rate_limit`);
    /// 0 = no limit.
    #[arg(
        long = "logs.per-stream-rate-limit-mb",
        default_value_t = 3.0,
        value_name = "MB"
    )]
    pub logs_stream_rate_mb: f64,
    /// Burst allowed above it, MB (Loki's `per_stream_rate_limit_burst`).
    #[arg(
        long = "logs.per-stream-rate-limit-burst-mb",
        default_value_t = 15.0,
        value_name = "MB"
    )]
    pub logs_stream_burst_mb: f64,
    /// Most streams in the in-memory head (Loki's `max_global_streams_per_user`); 0 = no limit.
    #[arg(long = "logs.max-streams", default_value_t = 5000, value_name = "N")]
    pub logs_max_streams: usize,
    /// Raw log text the in-memory head collects before it is written out as an
    /// immutable segment, MB. Larger segments compress better (more of each
    /// stream per row group); memory holds about 2.5 times this (two heads
    /// while one is written).
    #[arg(
        long = "logs.segment-size-mb",
        default_value_t = 192,
        value_name = "MB"
    )]
    pub logs_segment_mb: u64,
    /// Raw log text per row group of a segment, KiB: the unit a query reads
    /// and decompresses whole (like Loki's `chunk_block_size`). Larger groups
    /// compress better; a needle query decodes a whole group per hit.
    #[arg(
        long = "logs.row-group-size-kb",
        default_value_t = 4096,
        value_name = "KB"
    )]
    pub logs_group_kb: usize,
    /// Longest time the head collects before it is written out as a segment.
    #[arg(
        long = "logs.segment-max-age",
        default_value = "1h",
        value_name = "DURATION"
    )]
    pub logs_segment_max_age: String,
    /// How long log entries are kept (0s: forever). Selectors in the
    /// configuration file's `logs.retention` override it per stream.
    #[arg(
        long = "logs.retention.time",
        default_value = "0s",
        value_name = "DURATION"
    )]
    pub logs_retention_time: String,
    /// Most bytes the log store may keep on disk; the oldest segments go first
    /// (0: no limit). Units: B, KB, MB, GB, TB (powers of 1024).
    #[arg(long = "logs.retention.size", default_value = "0", value_name = "SIZE")]
    pub logs_retention_size: String,
    /// Memory kept for decoded token-index buckets of log segments, so that
    /// repeated line-filter searches skip reading and decompressing them
    /// (0: no cache). Units as for --logs.retention.size.
    #[arg(
        long = "logs.index-cache-size",
        default_value = "256MB",
        value_name = "SIZE"
    )]
    pub logs_index_cache_size: String,
    /// How log segments store lines: `split` (each line's text with the
    /// numbers and hex ids taken out, and those values in one column per
    /// value of each text, a line's own date and time written as differences
    /// from its entry's timestamp; segment format 7) or `text` (a row group's
    /// lines as one text; format 5). On the benchmark corpus split lines took
    /// a third less disk than text for a tenth to a half more ingest CPU.
    /// Segments of every format are read either way.
    #[arg(
        long = "logs.line-encoding",
        value_enum,
        default_value = "split",
        value_name = "ENCODING"
    )]
    pub logs_line_encoding: LineEncoding,
    /// Same as `--logs.line-encoding=split` (the default), kept for command
    /// lines written when text was the default.
    #[arg(long = "logs.split-lines", hide = true)]
    pub logs_split_lines: bool,
    /// Enable the TSDB admin API (`/api/v1/admin/tsdb/delete_series`,
    /// `/api/v1/admin/tsdb/clean_tombstones`), off by default as in Prometheus.
    #[arg(long = "web.enable-admin-api")]
    pub web_enable_admin_api: bool,
    /// Do not add the default job that scrapes pharos's own /metrics.
    #[arg(long)]
    pub no_self_scrape: bool,
    /// Log filter, e.g. `info`, `debug`, `pharos_scrape=debug` (also RUST_LOG).
    #[arg(long, default_value = "info", value_name = "FILTER")]
    pub log_level: String,
}

#[derive(Debug, Subcommand)]
pub enum TsdbCommand {
    /// Series, label cardinality, bytes per sample and chunk statistics (like `promtool tsdb analyze`).
    Analyze(AnalyzeArgs),
    /// Print series and samples in a time range as text (like `promtool tsdb dump`).
    Dump(DumpArgs),
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Data directory of the server.
    #[arg(long, default_value = "./data", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Block to analyze: a block id, or `head`; default: the head if it holds samples, else the newest block.
    #[arg(long)]
    pub block: Option<String>,
    /// How many entries each top list shows.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// Data directory of the server.
    #[arg(long, default_value = "./data", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Start of the range (RFC 3339 or Unix seconds); default: everything.
    #[arg(long)]
    pub min_time: Option<String>,
    /// End of the range (RFC 3339 or Unix seconds); default: everything.
    #[arg(long)]
    pub max_time: Option<String>,
    /// Series selector, e.g. `up{job="node"}`; repeatable; default: all series.
    #[arg(long = "match", value_name = "SELECTOR")]
    pub matchers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PromqltestArgs {
    /// Test files in Prometheus's promqltest format.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print each failing eval with file:line, the query and why it failed.
    #[arg(long, short)]
    pub verbose: bool,
    /// Exit 0 when at least this fraction of evals passed (e.g. 0.95), instead of requiring all.
    #[arg(long, value_name = "RATIO")]
    pub min_pass_ratio: Option<f64>,
    /// Which Prometheus version's PromQL semantics and test runner to reproduce: `2.42` (closed
    /// range/lookback windows, the 2.42 runner) or `latest` (Prometheus 3).
    #[arg(long, value_name = "2.42|latest", default_value = "latest")]
    pub prometheus_compat: pharos_promql::engine::Compat,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The LogQL query (a log query prints entries, a metric query prints samples).
    pub query: String,
    /// Server to ask.
    #[arg(long, default_value = "http://127.0.0.1:9800")]
    pub server: String,
    /// How far back to look (Prometheus duration).
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub since: String,
    /// Most entries to print (per poll with --follow).
    #[arg(long, default_value_t = 30)]
    pub limit: usize,
    /// Keep polling every second and print new entries as they arrive.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Take the oldest entries of the range instead of the newest.
    #[arg(long)]
    pub forward: bool,
    /// Print the API's JSON answer instead of lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(subcommand_precedence_over_arg = true)]
pub struct QueryArgs {
    /// Server to ask.
    #[arg(long, default_value = "http://127.0.0.1:9800", global = true)]
    pub server: String,
    /// Print the API's JSON answer instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Evaluation time (RFC 3339 or Unix seconds); default now.
    #[arg(long)]
    pub time: Option<String>,
    /// The PromQL expression (instant query).
    pub expr: Option<String>,
    #[command(subcommand)]
    pub range: Option<QuerySubcommand>,
}

#[derive(Debug, Subcommand)]
pub enum QuerySubcommand {
    /// A range query.
    Range(QueryRangeArgs),
}

#[derive(Debug, Args)]
pub struct QueryRangeArgs {
    /// The PromQL expression.
    pub expr: String,
    /// Start (RFC 3339 or Unix seconds).
    #[arg(long)]
    pub start: String,
    /// End (RFC 3339 or Unix seconds).
    #[arg(long)]
    pub end: String,
    /// Resolution step: a duration (`15s`) or float seconds.
    #[arg(long, default_value = "15s")]
    pub step: String,
}

/// Parses `512MB`-style sizes (base 1024, like Prometheus's `--storage.tsdb.retention.size`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mult: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        "PB" => 1 << 50,
        "EB" => 1 << 60,
        _ => {
            return Err(format!(
                "invalid size unit in {s:?}: use B, KB, MB, GB, TB, PB or EB"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512MB").unwrap(), 512 << 20);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert!(parse_size("5XB").is_err());
    }
}
