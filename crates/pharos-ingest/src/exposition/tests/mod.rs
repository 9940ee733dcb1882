//! Tests of the exposition parsers, one file per concern: `text.rs` and
//! `openmetrics.rs` pin acceptance rules and error messages as Prometheus 2.42
//! has them, `props.rs` holds the property tests (no panics, round trips), and
//! this file the shared helpers, Content-Type selection and an ignored
//! throughput benchmark.

use pharos_model::Labels;

use super::*;

mod openmetrics;
mod props;
mod text;

pub(super) fn text(body: impl AsRef<[u8]>) -> Scraped {
    let body = body.as_ref();
    match parse(body, Format::PrometheusText) {
        Ok(s) => s,
        Err(e) => panic!("text body refused: {e}\n{}", String::from_utf8_lossy(body)),
    }
}

pub(super) fn om(body: impl AsRef<[u8]>) -> Scraped {
    let body = body.as_ref();
    match parse(body, Format::OpenMetrics) {
        Ok(s) => s,
        Err(e) => panic!(
            "openmetrics body refused: {e}\n{}",
            String::from_utf8_lossy(body)
        ),
    }
}

pub(super) fn text_err(body: impl AsRef<[u8]>) -> ParseError {
    let body = body.as_ref();
    match parse(body, Format::PrometheusText) {
        Ok(s) => panic!(
            "text body accepted: {:?} -> {s:?}",
            String::from_utf8_lossy(body)
        ),
        Err(e) => e,
    }
}

pub(super) fn om_err(body: impl AsRef<[u8]>) -> ParseError {
    let body = body.as_ref();
    match parse(body, Format::OpenMetrics) {
        Ok(s) => panic!(
            "openmetrics body accepted: {:?} -> {s:?}",
            String::from_utf8_lossy(body)
        ),
        Err(e) => e,
    }
}

pub(super) fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

pub(super) fn series(s: &Scraped) -> Vec<String> {
    s.samples.iter().map(|x| x.labels.to_string()).collect()
}

#[test]
fn content_type_selects_the_parser() {
    use Format::*;
    for (ct, f) in [
        (None, PrometheusText),
        (Some(""), PrometheusText),
        (
            Some("text/plain; version=0.0.4; charset=utf-8"),
            PrometheusText,
        ),
        (
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            OpenMetrics,
        ),
        (Some("application/openmetrics-text"), OpenMetrics),
        (
            Some(" Application/OpenMetrics-Text ;version=0.0.1"),
            OpenMetrics,
        ),
        (
            Some("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily"),
            PrometheusText,
        ),
        (Some("application/json"), PrometheusText),
    ] {
        assert_eq!(format_from_content_type(ct), f, "{ct:?}");
    }
    assert!(SCRAPE_ACCEPT_HEADER.starts_with("application/openmetrics-text;version=1.0.0,"));
}

/// A node-exporter-like body of `lines` sample lines (plus metadata).
fn bench_body(lines: usize) -> String {
    let mut body = String::new();
    let modes = [
        "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
    ];
    let mut n = 0;
    let mut family = 0;
    while n < lines {
        body.push_str(&format!(
            "# HELP node_cpu_seconds_{family}_total Seconds the CPUs spent in each mode.\n\
             # TYPE node_cpu_seconds_{family}_total counter\n"
        ));
        for cpu in 0..16 {
            for mode in modes {
                if n == lines {
                    break;
                }
                body.push_str(&format!(
                    "node_cpu_seconds_{family}_total{{cpu=\"{cpu}\",mode=\"{mode}\"}} {}.{:02}\n",
                    1_000_000 + n * 7919 % 100_000,
                    n % 100
                ));
                n += 1;
            }
        }
        family += 1;
    }
    body
}

#[test]
#[ignore = "benchmark: cargo test -p pharos-ingest --release exposition::tests::bench -- --ignored --nocapture"]
fn bench_parse_throughput() {
    let body = bench_body(10_000);
    let om_body = format!("{body}# EOF\n");
    for (format, b) in [
        (Format::PrometheusText, &body),
        (Format::OpenMetrics, &om_body),
    ] {
        let b = b.as_bytes();
        let iters = 200;
        let start = std::time::Instant::now();
        let mut samples = 0;
        for _ in 0..iters {
            samples += parse(std::hint::black_box(b), format)
                .map(|s| s.samples.len())
                .unwrap_or(0);
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(samples, 10_000 * iters);
        println!(
            "{format:?}: {} bytes x {iters}: {:.1} MB/s, {:.0} ns/sample",
            b.len(),
            (b.len() * iters) as f64 / secs / 1e6,
            secs * 1e9 / samples as f64
        );
    }
}
