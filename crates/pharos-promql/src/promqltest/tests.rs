//! End-to-end checks of the runner: small inline promqltest snippets run
//! through pharos's own parser and engine.

use super::run::{run_source, FileReport, PharosBackend};

fn run(src: &str) -> FileReport {
    run_source(&PharosBackend::default(), "inline.test", src)
}

fn assert_all_pass(src: &str) {
    let r = run(src);
    let fails: Vec<String> = r
        .failures()
        .map(|f| {
            format!(
                "line {}: {} — {}",
                f.line,
                f.expr,
                f.failure.as_deref().unwrap_or("")
            )
        })
        .collect();
    assert!(fails.is_empty(), "failures:\n{}", fails.join("\n"));
    assert!(r.total() > 0);
}

#[test]
fn instant_range_and_scalar_evals_pass() {
    assert_all_pass(
        r#"
load 1m
  http_requests{job="api", instance="0"} 0+10x10
  http_requests{job="api", instance="1"} 0+20x10

eval instant at 5m http_requests
  http_requests{job="api", instance="0"} 50
  http_requests{job="api", instance="1"} 100

eval instant at 5m sum(http_requests)
  {} 150

eval range from 0 to 2m step 1m http_requests{instance="0"}
  http_requests{job="api", instance="0"} 0 10 20

eval instant at 1m 1 + 2
  3

eval instant at 20m http_requests
"#,
    );
}

#[test]
fn wrong_expectations_fail() {
    let r = run(r#"
load 1m
  m 1 2 3

eval instant at 1m m
  m 5

eval instant at 1m m
  other 2

eval range from 0 to 2m step 1m m
  m 1 2

eval instant at 1m m
  expect fail
  m 2

eval instant at 1m m(
"#);
    assert_eq!(r.total(), 5);
    assert_eq!(r.passed(), 0, "{:?}", r.outcomes);
}

#[test]
fn clear_and_stale() {
    assert_all_pass(
        r#"
load 1m
  m 1 stale 3

eval instant at 1m m

eval instant at 2m m
  m 3

clear

eval instant at 2m m
"#,
    );
}

#[test]
fn native_histograms_load_and_compare() {
    assert_all_pass(
        r#"
load 1m
  h {{schema:0 sum:1 count:1 buckets:[1]}}+{{schema:0 sum:1 count:1 buckets:[1]}}x4
  f 1 2 3
  mix 1 {{sum:5 count:5}} 3

eval instant at 1m h
  h {{schema:0 sum:2 count:2 buckets:[2]}}

eval instant at 2m h
  h {{schema:0 sum:3 count:3 buckets:[3] counter_reset_hint:not_reset}}

eval instant at 0m h
  h {{schema:0 sum:1 count:1 buckets:[1] counter_reset_hint:unknown}}

eval range from 0 to 2m step 1m h
  h {{schema:0 sum:1 count:1 buckets:[1]}}+{{schema:0 sum:1 count:1 buckets:[1]}}x2

eval range from 0 to 2m step 1m mix
  mix 1 {{sum:5 count:5}} 3

eval instant at 1m f
  f 2
"#,
    );
}

#[test]
fn native_histogram_mismatches_fail() {
    let r = run(r#"
load 1m
  h {{schema:0 sum:1 count:1 buckets:[1]}}x3
  f 1 2 3

eval instant at 1m h
  h {{schema:0 sum:1 count:1 buckets:[2]}}

eval instant at 1m h
  h {{schema:1 sum:1 count:1 buckets:[1]}}

eval instant at 1m h
  h 1

eval instant at 1m f
  f {{sum:2 count:2}}

eval instant at 1m h
  h {{schema:0 sum:1 count:1 buckets:[1] counter_reset_hint:reset}}

eval range from 0 to 1m step 1m h
  h {{schema:0 sum:1 count:1 buckets:[1]}} 1

eval range from 0 to 1m step 1m h
  h {{schema:0 sum:1 count:1 buckets:[1]}}
"#);
    assert_eq!(r.total(), 7);
    assert_eq!(r.passed(), 0, "{:?}", r.outcomes);
    let why = r.outcomes[0].failure.clone().unwrap_or_default();
    assert!(
        why.contains("{{"),
        "mismatches are reported as histograms: {why}"
    );
}

#[test]
fn load_failures_are_reported() {
    let r = run(r#"
load_with_nhcb 1m
  m_bucket{le="1"} 5
  m_bucket{le="2"} 3

eval instant at 0 m_bucket
"#);
    assert_eq!(r.total(), 2);
    let why = r.outcomes[0].failure.clone().unwrap_or_default();
    assert!(why.contains("error loading data"), "{why}");
}

/// Runs `src` with Prometheus 2.42's semantics and runner.
fn run_v2(src: &str) -> FileReport {
    run_source(
        &PharosBackend::new(crate::engine::Compat::V2_42),
        "inline.test",
        src,
    )
}

#[test]
fn v2_42_closed_windows() {
    let src = r#"
load 1m
  m 1 2 3 4 5 6

eval instant at 5m count_over_time(m[1m])
  {} 2

eval instant at 10m m
  m 6

eval instant at 5m count_over_time(m[2m:1m])
  {} 3
"#;
    let v2 = run_v2(src);
    assert_eq!(v2.passed(), 3, "{:?}", v2.outcomes);
    // Prometheus 3 sees one sample less in each window.
    assert_eq!(run(src).passed(), 0);
}

#[test]
fn v2_42_runner_rules() {
    let r = run_v2(
        r#"
load 1m
  m 1 2 3

eval instant at 2m m[1m]

eval instant at 2m m
  m 3
"#,
    );
    assert_eq!(r.total(), 2);
    assert_eq!(r.passed(), 1, "{:?}", r.outcomes);
    let why = r
        .failures()
        .next()
        .and_then(|f| f.failure.clone())
        .unwrap_or_default();
    assert!(
        why.contains("received range result on instant evaluation"),
        "{why}"
    );
}
