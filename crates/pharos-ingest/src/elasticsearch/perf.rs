//! `_bulk` throughput micro-benchmark (ignored; run it by name):
//!
//! ```text
//! cargo test --release -p pharos-ingest --lib elasticsearch::perf -- --ignored --nocapture
//! ```
//!
//! A ~51 MiB body of 180k `index`/`create` pairs shaped like shipper output
//! (mostly flat documents with `@timestamp`, a ~140-byte `message` and a few
//! keyword fields; some with nested objects, arrays, floats, nulls and
//! escaped strings) is parsed, its streams taken and the response rendered
//! (in full, and with the `filter_path` Beats send), repeatedly
//! (`BULK_ROUNDS`, default 7); the best and median MiB/s of the body per
//! phase are printed, in CPU time of the thread where Linux tells it, so
//! that a busy machine disturbs them less.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::*;

/// A small deterministic generator (xorshift), so every run sees one body.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PATHS: [&str; 6] = [
    "/api/v1/orders",
    "/api/v1/users/login",
    "/healthz",
    "/api/v2/search?q=shoes&page=3",
    "/static/app.js",
    "/api/v1/carts/items",
];
const LEVELS: [&str; 4] = ["info", "info", "warn", "error"];
const SERVICES: [&str; 3] = ["api", "worker", "gateway"];

/// A ~140-byte access-log-like message with addresses, ids and numbers.
fn message(r: &mut Rng, out: &mut String) {
    let _ = write!(
        out,
        "10.{}.{}.{} - - \\\"GET {} HTTP/1.1\\\" {} {} req_id={:016x} user={} latency_ms={}.{:03} upstream=172.16.{}.{}:8080",
        r.below(256),
        r.below(256),
        r.below(256),
        PATHS[r.below(PATHS.len() as u64) as usize],
        [200, 200, 200, 201, 404, 500][r.below(6) as usize],
        r.below(90_000),
        r.next(),
        r.below(100_000),
        r.below(900),
        r.below(1000),
        r.below(32),
        r.below(256),
    );
}

/// The benchmark body: `docs` action/document pairs.
pub(super) fn bulk_body(docs: usize) -> Vec<u8> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut s = String::with_capacity(docs * 190);
    let base_ms: u64 = 1_795_255_200_000; // 2026-11-21T10:00:00Z
    for i in 0..docs {
        if i % 10 == 9 {
            s.push_str("{\"create\":{\"_index\":\"app-logs\"}}\n");
        } else {
            s.push_str("{\"index\":{\"_index\":\"app-logs\"}}\n");
        }
        let ms = base_ms + i as u64 * 13 + r.below(13);
        let (secs, milli) = (ms / 1000, ms % 1000);
        let (days, sod) = (secs / 86_400, secs % 86_400);
        let (y, mo, d) = crate::civil::civil_from_days(days as i64);
        let _ = write!(
            s,
            "{{\"@timestamp\":\"{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z\",\"message\":\"",
            sod / 3600,
            sod / 60 % 60,
            sod % 60,
        );
        message(&mut r, &mut s);
        let _ = write!(
            s,
            "\",\"host\":\"host-{}\",\"level\":\"{}\",\"service\":\"{}\"",
            r.below(16),
            LEVELS[r.below(4) as usize],
            SERVICES[r.below(3) as usize],
        );
        match r.below(100) {
            // Filebeat/Kubernetes-like nesting, numbers and arrays.
            0..=5 => {
                let _ = write!(
                    s,
                    ",\"kubernetes\":{{\"namespace_name\":\"prod\",\"pod_name\":\"api-{:x}\",\
                     \"labels\":{{\"app\":\"api\",\"tier\":\"backend\"}}}},\
                     \"log\":{{\"offset\":{},\"file\":{{\"path\":\"/var/log/containers/api.log\"}}}},\
                     \"tags\":[\"beats\",\"k8s\",{}],\"http\":{{\"status\":{},\"took\":{}.5}}",
                    r.next() & 0xffff_ffff,
                    r.below(1 << 40),
                    r.below(10),
                    200 + r.below(300),
                    r.below(1000),
                );
            }
            // Escaped strings and a null.
            6..=8 => {
                s.push_str(
                    ",\"stack\":\"java.lang.IllegalStateException: bad \\\"state\\\"\\n\\tat a.B.c(B.java:42)\\n\\tat \\u00e9t\\u00e9\",\
                     \"trace\":null",
                );
            }
            _ => {}
        }
        s.push_str("}\n");
    }
    s.into_bytes()
}

/// The CPU time of this thread so far (Linux `schedstat`), so that time the
/// thread waits for a core on a busy machine does not count; wall time
/// elsewhere.
fn cpu_now() -> Result<Duration, Instant> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .ok_or_else(Instant::now)
}

fn elapsed(since: &Result<Duration, Instant>) -> Duration {
    match (since, cpu_now()) {
        (Ok(a), Ok(b)) => b.saturating_sub(*a),
        (Err(a), _) => a.elapsed(),
        (Ok(_), Err(_)) => Duration::ZERO,
    }
}

fn mib_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64()
}

fn report(name: &str, bytes: usize, mut times: Vec<Duration>) {
    times.sort();
    let best = times[0];
    let median = times[times.len() / 2];
    println!(
        "{name:<20} best {:>7.1} MiB/s {:>6.2} Mdoc/s ({:>7.1} ms)   median {:>7.1} MiB/s ({:>7.1} ms)",
        mib_s(bytes, best),
        DOCS as f64 / 1e6 / best.as_secs_f64(),
        best.as_secs_f64() * 1e3,
        mib_s(bytes, median),
        median.as_secs_f64() * 1e3,
    );
}

fn run(label: &str, body: &[u8], mapping: &FieldMapping, rounds: usize) {
    let (mut parse, mut render, mut render_filtered, mut total) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let t0 = cpu_now();
        let req = parse_bulk(body, None, mapping, 1_795_255_200_000_000_000);
        let d_parse = elapsed(&t0);
        let Ok(mut req) = req else {
            panic!("benchmark body refused");
        };
        let streams = req.take_streams();
        let t1 = cpu_now();
        let resp = render_response(&req, 12);
        let d_render = elapsed(&t1);
        let t2 = cpu_now();
        let filtered = render_response_filtered(&req, 12, Some(BEATS_FILTER));
        let d_filtered = elapsed(&t2);
        std::hint::black_box(&filtered);
        drop(filtered);
        assert!(!req.has_errors());
        assert_eq!(
            req.items.len(),
            streams.iter().map(|s| s.entries.len()).sum::<usize>()
        );
        std::hint::black_box((&streams, &resp));
        drop(streams);
        drop(req);
        drop(resp);
        parse.push(d_parse);
        render.push(d_render);
        render_filtered.push(d_filtered);
        total.push(elapsed(&t0));
    }
    println!("-- {label}");
    report("parse_bulk", body.len(), parse);
    report("render_response", body.len(), render);
    report("  with filter_path", body.len(), render_filtered);
    report("all of it, and drops", body.len(), total);
}

/// The `filter_path` Beats and Logstash send with `_bulk`.
const BEATS_FILTER: &str = "errors,items.*.error,items.*.status";

/// Documents in the body (~50 MiB).
const DOCS: usize = 180_000;

#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn bulk_throughput() {
    let body = bulk_body(DOCS);
    println!(
        "body: {:.1} MiB, {} lines",
        body.len() as f64 / (1024.0 * 1024.0),
        body.iter().filter(|&&b| b == b'\n').count()
    );
    for line in body.split(|&b| b == b'\n').take(4) {
        println!("  {}", String::from_utf8_lossy(line));
    }
    let rounds = std::env::var("BULK_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    run("default mapping", &body, &FieldMapping::default(), rounds);
    let labelled = FieldMapping {
        label_fields: vec!["service".into(), "level".into()],
        ..FieldMapping::default()
    };
    run("label_fields [service, level]", &body, &labelled, rounds);
}
