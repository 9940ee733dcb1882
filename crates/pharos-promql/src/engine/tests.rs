//! End-to-end tests of the engine: query strings through the parser against
//! the in-memory store.

use std::time::Duration;

use pharos_model::{Labels, STALE_NAN};

use super::testutil::MemStore;
use super::{Engine, EngineOptions, EvalErrorKind};
use crate::value::Value;

fn engine() -> Engine {
    Engine::new(EngineOptions::default())
}

fn parse(q: &str) -> crate::ast::Expr {
    match crate::parser::parse(q) {
        Ok(e) => e,
        Err(e) => panic!("parse {q}: {e:?}"),
    }
}

/// Instant query → sorted `(labels string, value)`.
fn inst(s: &MemStore, q: &str, t_s: i64) -> Vec<(String, f64)> {
    let r = engine()
        .instant(s, &parse(q), t_s * 1000)
        .unwrap_or_else(|e| panic!("{q}: {e}"));
    match r.value {
        Value::Vector(v) => {
            let mut out: Vec<(String, f64)> =
                v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        Value::Scalar { v, .. } => vec![("scalar".into(), v)],
        other => panic!("unexpected {other:?}"),
    }
}

fn one(s: &MemStore, q: &str, t_s: i64) -> f64 {
    let v = inst(s, q, t_s);
    assert_eq!(v.len(), 1, "{q}: {v:?}");
    v[0].1
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-6 * b.abs().max(1e-9)
}

fn store() -> MemStore {
    let mut s = MemStore::default();
    // http_requests{job="api", instance="0"} 0, 10, ... every 30s
    s.add_seq(
        "http_requests",
        &[("job", "api"), ("instance", "0")],
        30,
        &(0..=20).map(|i| (i * 10) as f64).collect::<Vec<_>>(),
    );
    s.add_seq(
        "http_requests",
        &[("job", "api"), ("instance", "1")],
        30,
        &(0..=20).map(|i| (i * 20) as f64).collect::<Vec<_>>(),
    );
    s.add_seq(
        "http_requests",
        &[("job", "db"), ("instance", "0")],
        30,
        &(0..=20).map(|i| (i * 5) as f64).collect::<Vec<_>>(),
    );
    s
}

#[test]
fn topk_and_bottomk_break_ties_as_prometheus_does() {
    // Prometheus 2.42 (checked with `promtool test rules`) keeps b and c:
    // its heap holds a and b, c replaces the root a, and b is not moved.
    let mut s = MemStore::default();
    for (name, v) in [("a", 1.0), ("b", 1.0), ("c", 2.0)] {
        s.add_seq("x", &[("s", name)], 30, &[v]);
    }
    let want = |neg: f64| {
        vec![
            ("{s=\"b\"}".to_string(), neg),
            ("{s=\"c\"}".to_string(), 2.0 * neg),
        ]
    };
    let strip = |v: Vec<(String, f64)>| {
        v.into_iter()
            .map(|(l, x)| (l.trim_start_matches('x').to_string(), x))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(inst(&s, "topk(2, x)", 0)), want(1.0));
    assert_eq!(inst(&s, "bottomk(2, -x)", 0), want(-1.0));
    // Without a tie at the k-th place the choice is the obvious one.
    assert_eq!(inst(&s, "topk(1, x)", 0).len(), 1);
    assert_eq!(
        strip(inst(&s, "topk(1, x)", 0)),
        vec![("{s=\"c\"}".into(), 2.0)]
    );
    assert_eq!(inst(&s, "topk(5, x)", 0).len(), 3);
    assert!(inst(&s, "topk(0, x)", 0).is_empty());
}

#[test]
fn selector_lookback_and_staleness() {
    let mut s = MemStore::default();
    s.add(
        &[("__name__", "m")],
        &[(0, 1.0), (60, 2.0), (120, STALE_NAN)],
    );
    assert_eq!(one(&s, "m", 60), 2.0);
    assert_eq!(one(&s, "m", 119), 2.0);
    assert!(inst(&s, "m", 120).is_empty());
    // Lookback 5m, left-open.
    let mut s2 = MemStore::default();
    s2.add(&[("__name__", "x")], &[(0, 1.0)]);
    assert_eq!(one(&s2, "x", 299), 1.0);
    assert!(inst(&s2, "x", 300).is_empty());
    assert_eq!(one(&s2, "x offset 1m", 359), 1.0);
    assert_eq!(one(&s2, "x @ 100", 100_000), 1.0);
}

#[test]
fn arithmetic_and_matching() {
    let s = store();
    let v = inst(&s, "http_requests{job=\"api\"} * 2", 300);
    assert_eq!(
        v,
        vec![
            ("{instance=\"0\", job=\"api\"}".into(), 200.0),
            ("{instance=\"1\", job=\"api\"}".into(), 400.0)
        ]
    );
    // Comparison keeps the name.
    let v = inst(&s, "http_requests > 60", 300);
    assert_eq!(v.len(), 2);
    assert!(v[0].0.starts_with("http_requests"));
    let v = inst(&s, "http_requests > bool 60", 300);
    assert_eq!(v.len(), 3);
    assert!(v[0].0.starts_with('{'));
    // one-to-one with ignoring
    let e = engine()
        .instant(&s, &parse("http_requests{instance=\"0\"} / ignoring(job) http_requests{job=\"api\",instance=\"0\"}"), 300_000)
        .unwrap_err();
    assert!(e.message.starts_with("multiple matches for labels"), "{e}");
    let v = inst(&s, "http_requests / on(instance, job) http_requests", 300);
    assert_eq!(v.len(), 3);
    // group_left
    let v = inst(
        &s,
        "http_requests / on(job) group_left sum by (job) (http_requests)",
        300,
    );
    assert_eq!(v.len(), 3);
    // Many-to-many error.
    let e = engine()
        .instant(&s, &parse("http_requests + on(job) http_requests"), 300_000)
        .unwrap_err();
    assert_eq!(e.kind, EvalErrorKind::Execution);
    assert!(
        e.message.contains("many-to-many matching not allowed"),
        "{e}"
    );
    // Set ops.
    assert_eq!(
        inst(&s, "http_requests and http_requests{job=\"db\"}", 300).len(),
        1
    );
    assert_eq!(
        inst(&s, "http_requests unless http_requests{job=\"db\"}", 300).len(),
        2
    );
    assert_eq!(
        inst(&s, "http_requests{job=\"db\"} or http_requests", 300).len(),
        3
    );
    assert_eq!(one(&s, "1 + 2 * 3", 0), 7.0);
    assert_eq!(one(&s, "2 ^ 3 ^ 2", 0), 512.0);
}

#[test]
fn aggregations() {
    let s = store();
    assert_eq!(one(&s, "sum(http_requests)", 300), 350.0);
    let v = inst(&s, "sum by (job) (http_requests)", 300);
    assert_eq!(
        v,
        vec![
            ("{job=\"api\"}".into(), 300.0),
            ("{job=\"db\"}".into(), 50.0)
        ]
    );
    assert_eq!(one(&s, "count(http_requests)", 300), 3.0);
    assert_eq!(one(&s, "max(http_requests)", 300), 200.0);
    assert_eq!(one(&s, "min(http_requests)", 300), 50.0);
    assert!(close(one(&s, "avg(http_requests)", 300), 350.0 / 3.0));
    assert!(close(
        one(&s, "stddev(http_requests)", 300),
        62.36095644623235
    ));
    let v = inst(&s, "topk(1, http_requests)", 300);
    assert_eq!(v[0].1, 200.0);
    assert!(v[0].0.starts_with("http_requests"));
    assert_eq!(inst(&s, "bottomk(2, http_requests)", 300).len(), 2);
    assert_eq!(one(&s, "quantile(0.5, http_requests)", 300), 100.0);
    let v = inst(&s, "count_values(\"v\", http_requests)", 300);
    assert_eq!(v.len(), 3);
    assert_eq!(
        inst(&s, "sum without (instance) (http_requests)", 300).len(),
        2
    );
    assert_eq!(one(&s, "group(http_requests)", 300), 1.0);
    assert_eq!(inst(&s, "limitk(2, http_requests)", 300).len(), 2);
}

#[test]
fn rate_family() {
    let s = store();
    // Counter increasing 10 per 30s → 1/3 per second.
    let v = one(
        &s,
        "rate(http_requests{job=\"api\",instance=\"0\"}[5m])",
        600,
    );
    assert!(close(v, 1.0 / 3.0), "{v}");
    let v = one(
        &s,
        "increase(http_requests{job=\"api\",instance=\"0\"}[5m])",
        600,
    );
    assert!(close(v, 100.0), "{v}");
    let v = one(
        &s,
        "irate(http_requests{job=\"api\",instance=\"0\"}[5m])",
        600,
    );
    assert!(close(v, 1.0 / 3.0));
    let v = one(
        &s,
        "delta(http_requests{job=\"api\",instance=\"0\"}[5m])",
        600,
    );
    assert!(close(v, 100.0));
    let v = one(
        &s,
        "deriv(http_requests{job=\"api\",instance=\"0\"}[5m])",
        600,
    );
    assert!(close(v, 1.0 / 3.0));
    let v = one(
        &s,
        "predict_linear(http_requests{job=\"api\",instance=\"0\"}[5m], 60)",
        600,
    );
    assert!(close(v, 220.0), "{v}");
    assert_eq!(
        one(
            &s,
            "changes(http_requests{job=\"api\",instance=\"0\"}[5m])",
            600
        ),
        9.0
    );
    assert_eq!(
        one(
            &s,
            "resets(http_requests{job=\"api\",instance=\"0\"}[5m])",
            600
        ),
        0.0
    );
}

#[test]
fn over_time() {
    let s = store();
    let q = |f: &str| one(&s, &format!("{f}(http_requests{{job=\"db\"}}[1m])"), 600);
    // Window (540, 600]: samples at 570 (95) and 600 (100).
    assert_eq!(q("count_over_time"), 2.0);
    assert_eq!(q("sum_over_time"), 195.0);
    assert_eq!(q("avg_over_time"), 97.5);
    assert_eq!(q("min_over_time"), 95.0);
    assert_eq!(q("max_over_time"), 100.0);
    assert_eq!(q("last_over_time"), 100.0);
    assert_eq!(q("stddev_over_time"), 2.5);
    assert_eq!(q("stdvar_over_time"), 6.25);
    assert_eq!(q("present_over_time"), 1.0);
    assert_eq!(
        one(
            &s,
            "quantile_over_time(0.5, http_requests{job=\"db\"}[1m])",
            600
        ),
        97.5
    );
    assert_eq!(
        one(&s, "absent_over_time(nonexistent{a=\"b\"}[1m])", 600),
        1.0
    );
    assert!(inst(&s, "absent_over_time(http_requests[1m])", 600).is_empty());
}

#[test]
fn subqueries() {
    let s = store();
    let v = one(&s, "max_over_time(http_requests{job=\"db\"}[5m:1m])", 600);
    assert_eq!(v, 100.0);
    let v = one(
        &s,
        "rate(http_requests{job=\"db\",instance=\"0\"}[5m:30s])",
        600,
    );
    assert!(close(v, 1.0 / 6.0), "{v}");
    let v = one(&s, "sum_over_time(vector(1)[5m:1m])", 600);
    assert_eq!(v, 5.0);
}

#[test]
fn functions_misc() {
    let s = store();
    assert_eq!(one(&s, "scalar(http_requests{job=\"db\"})", 300), 50.0);
    assert!(one(&s, "scalar(http_requests)", 300).is_nan());
    assert_eq!(one(&s, "time()", 300), 300.0);
    assert_eq!(one(&s, "timestamp(http_requests{job=\"db\"})", 310), 300.0);
    let v = inst(
        &s,
        "label_replace(http_requests{job=\"db\"}, \"dst\", \"x-$1\", \"job\", \"(.*)\")",
        300,
    );
    assert_eq!(
        v[0].0,
        "http_requests{dst=\"x-db\", instance=\"0\", job=\"db\"}"
    );
    let v = inst(
        &s,
        "label_join(http_requests{job=\"db\"}, \"dst\", \"-\", \"job\", \"instance\")",
        300,
    );
    assert_eq!(
        v[0].0,
        "http_requests{dst=\"db-0\", instance=\"0\", job=\"db\"}"
    );
    assert_eq!(one(&s, "absent(nonexistent{job=\"x\"})", 300), 1.0);
    assert_eq!(
        inst(&s, "absent(nonexistent{job=\"x\"})", 300)[0].0,
        "{job=\"x\"}"
    );
    assert_eq!(one(&s, "year(vector(0))", 0), 1970.0);
    assert_eq!(one(&s, "clamp(vector(5), 0, 3)", 0), 3.0);
    assert_eq!(one(&s, "round(vector(2.5))", 0), 3.0);
    assert_eq!(one(&s, "sgn(vector(-2))", 0), -1.0);
    let e = engine().instant(
        &s,
        &parse("rate({__name__=~\"http.*\"}[5m]) + ignoring(instance) 0 * rate(http_requests[5m])"),
        300_000,
    );
    assert!(e.is_err());
}

#[test]
fn histogram_quantile_classic() {
    let mut s = MemStore::default();
    for (le, v) in [("0.1", 10.0), ("1", 50.0), ("+Inf", 100.0)] {
        s.add(&[("__name__", "h_bucket"), ("le", le)], &[(0, v)]);
    }
    let v = one(&s, "histogram_quantile(0.5, h_bucket)", 10);
    assert!(close(v, 1.0), "{v}");
    let v = one(&s, "histogram_quantile(0.3, h_bucket)", 10);
    assert!(close(v, 0.1 + 0.9 * 0.5), "{v}");
}

#[test]
fn range_query() {
    let s = store();
    let r = engine()
        .range(&s, &parse("sum(http_requests)"), 0, 120_000, 30_000)
        .unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].labels, Labels::empty());
    assert_eq!(
        m[0].points,
        vec![
            (0, 0.0),
            (30_000, 35.0),
            (60_000, 70.0),
            (90_000, 105.0),
            (120_000, 140.0)
        ]
    );
    let r = engine().range(&s, &parse("1"), 0, 60_000, 30_000).unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert_eq!(m[0].points.len(), 3);
    // Instant result equals the middle step of a range query.
    for q in [
        "rate(http_requests[2m])",
        "http_requests offset 1m",
        "max_over_time(http_requests[3m:1m])",
    ] {
        let e = parse(q);
        let i = engine().instant(&s, &e, 300_000).unwrap();
        let r = engine().range(&s, &e, 240_000, 360_000, 60_000).unwrap();
        let (Value::Vector(iv), Value::Matrix(rm)) = (i.value, r.value) else {
            panic!()
        };
        assert_eq!(iv.len(), rm.len(), "{q}");
        for smp in iv {
            let ser = rm.iter().find(|x| x.labels == smp.labels).unwrap();
            let p = ser.points.iter().find(|p| p.0 == 300_000).unwrap();
            assert!(close(p.1, smp.v), "{q}");
        }
    }
}

#[test]
fn limits() {
    let s = store();
    let e = Engine::new(EngineOptions {
        max_samples: 5,
        ..EngineOptions::default()
    });
    let err = e
        .range(&s, &parse("http_requests"), 0, 600_000, 10_000)
        .unwrap_err();
    assert_eq!(err.kind, EvalErrorKind::TooManySamples);
    assert_eq!(
        err.to_string(),
        "query processing would load too many samples into memory in query execution"
    );
    let e = Engine::new(EngineOptions {
        timeout: std::time::Duration::from_nanos(0),
        ..EngineOptions::default()
    });
    let err = e.instant(&s, &parse("http_requests"), 0).unwrap_err();
    assert_eq!(err.kind, EvalErrorKind::Timeout);
}

#[test]
fn matrix_top_level() {
    let s = store();
    let r = engine()
        .instant(&s, &parse("http_requests{job=\"db\"}[1m]"), 600_000)
        .unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert_eq!(m[0].points, vec![(570_000, 95.0), (600_000, 100.0)]);
}

/// Runs the conformance suites through the promqltest runner and prints the
/// failures (diagnostic; `cargo test -p pharos-promql engine::tests::suites -- --ignored --nocapture`).
#[test]
#[ignore]
fn suites() {
    use crate::promqltest::run::{run_file, PharosBackend};
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/promql");
    let set = std::env::var("SUITE").unwrap_or_else(|_| "v2.42".into());
    let backend = PharosBackend::new(if set == "v2.42" {
        super::Compat::V2_42
    } else {
        super::Compat::Latest
    });
    let mut entries: Vec<_> = std::fs::read_dir(root.join(&set))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    let (mut pass, mut total) = (0, 0);
    for p in entries {
        let rep = run_file(&backend, &p);
        pass += rep.passed();
        total += rep.total();
        println!("== {} {}/{}", rep.name, rep.passed(), rep.total());
        for f in rep.failures() {
            let msg: String = f
                .failure
                .clone()
                .unwrap_or_default()
                .chars()
                .take(400)
                .collect();
            println!("  L{} {} :: {}", f.line, f.expr, msg);
        }
    }
    println!("TOTAL {pass}/{total}");
}

fn fill_store() -> MemStore {
    let mut s = MemStore::default();
    for (name, l, v) in [
        ("l", "a", 10.0),
        ("l", "b", 20.0),
        ("r", "a", 100.0),
        ("r", "c", 300.0),
    ] {
        s.add(&[("__name__", name), ("k", l)], &[(0, v)]);
    }
    s
}

#[test]
fn fill_modifiers() {
    let s = fill_store();
    assert_eq!(
        inst(&s, "l + fill(0) r", 0),
        vec![
            ("{k=\"a\"}".to_string(), 110.0),
            ("{k=\"b\"}".to_string(), 20.0),
            ("{k=\"c\"}".to_string(), 300.0)
        ]
    );
    assert_eq!(
        inst(&s, "l - fill_left(1) fill_right(2) r", 0),
        vec![
            ("{k=\"a\"}".to_string(), -90.0),
            ("{k=\"b\"}".to_string(), 18.0),
            ("{k=\"c\"}".to_string(), -299.0)
        ]
    );
    assert_eq!(
        inst(&s, "l + fill_right(0) r", 0),
        vec![
            ("{k=\"a\"}".to_string(), 110.0),
            ("{k=\"b\"}".to_string(), 20.0)
        ]
    );
    // A comparison keeps the left name; a filled left side has only the match labels.
    assert_eq!(
        inst(&s, "l != fill(20) r", 0),
        vec![
            ("l{k=\"a\"}".to_string(), 10.0),
            ("{k=\"c\"}".to_string(), 20.0)
        ]
    );
    // One side empty: only the fill of the missing side creates results.
    assert_eq!(inst(&s, "l + fill_left(0) nothing", 0), vec![]);
    assert_eq!(inst(&s, "l + fill_right(5) nothing", 0).len(), 2);
    // group_right: `fill_right` fills the missing "one" (left) side.
    assert_eq!(
        inst(&s, "l * on(k) group_right fill_right(0) r", 0),
        vec![
            ("{k=\"a\"}".to_string(), 1000.0),
            ("{k=\"c\"}".to_string(), 0.0)
        ]
    );
}

#[test]
fn metadata_labels_dropped_with_name() {
    let mut s = MemStore::default();
    s.add(
        &[
            ("__name__", "m"),
            ("__type__", "counter"),
            ("__unit__", "req"),
            ("job", "a"),
        ],
        &[(0, 5.0)],
    );
    assert_eq!(
        inst(&s, "m * 2", 0),
        vec![("{job=\"a\"}".to_string(), 10.0)]
    );
    assert_eq!(inst(&s, "-m", 0), vec![("{job=\"a\"}".to_string(), -5.0)]);
    assert_eq!(inst(&s, "+m", 0).len(), 1);
    assert!(inst(&s, "+m", 0)[0].0.contains("__type__"));
}

#[test]
fn mad_nan_and_invalid_label_name() {
    let mut s = MemStore::default();
    s.add(
        &[("__name__", "m")],
        &[(0, 1.0), (10, 2.0), (20, f64::NAN), (30, 4.0)],
    );
    assert!(one(&s, "mad_over_time(m[40s])", 30).is_nan());
    assert_eq!(one(&s, "mad_over_time(m[15s])", 10), 0.5);
    let err = engine()
        .instant(
            &s,
            &parse(r#"label_replace(m, "\xff", "", "a", "(.*)")"#),
            0,
        )
        .unwrap_err();
    assert!(err.to_string().contains("invalid destination label name"));
}

#[test]
fn classic_histogram_quantiles_and_fraction() {
    let mut s = MemStore::default();
    for (le, c) in [("1", 2.0), ("2", 6.0), ("+Inf", 8.0)] {
        s.add(&[("__name__", "h_bucket"), ("le", le)], &[(0, c)]);
    }
    assert_eq!(one(&s, "histogram_fraction(0, 1, h_bucket)", 0), 0.25);
    assert_eq!(
        inst(&s, r#"histogram_quantiles(h_bucket, "q", 0.25, 0.5)"#, 0),
        vec![
            ("{q=\"0.25\"}".to_string(), 1.0),
            ("{q=\"0.5\"}".to_string(), 1.5)
        ]
    );
    // The quantile label must keep the label sets apart.
    assert!(engine()
        .instant(
            &s,
            &parse(r#"histogram_quantiles(h_bucket, "le", 0.25)"#),
            0
        )
        .is_ok());
}

/// 300 series: enough for several worker threads.
fn wide_store() -> MemStore {
    let mut s = MemStore::default();
    for i in 0..300 {
        let inst = format!("i{i:03}");
        let job = ["a", "b", "c"][i % 3];
        let vals: Vec<f64> = (0..120)
            .map(|k| {
                if i % 7 == 0 && k == 60 {
                    STALE_NAN
                } else {
                    (k * (i + 1)) as f64 * 0.5
                }
            })
            .collect();
        s.add_seq("req_total", &[("instance", &inst), ("job", job)], 15, &vals);
    }
    s
}

#[test]
fn threads_do_not_change_answers() {
    let s = wide_store();
    let queries = [
        "rate(req_total[1m])",
        "sum by (job) (rate(req_total[2m]))",
        "topk(3, increase(req_total[5m]))",
        "req_total",
        "max_over_time(req_total[3m])",
        "predict_linear(req_total[5m], 60)",
        "quantile_over_time(0.9, req_total[5m])",
        "req_total[1m]",
        "max_over_time(rate(req_total[1m])[5m:30s])",
    ];
    let with = |threads: usize| {
        Engine::new(EngineOptions {
            threads,
            parallel_after: Duration::ZERO,
            ..EngineOptions::default()
        })
    };
    for q in queries {
        let e = parse(q);
        let one = with(1).range(&s, &e, 0, 1_800_000, 30_000);
        let four = with(4).range(&s, &e, 0, 1_800_000, 30_000);
        match (one, four) {
            (Ok(a), Ok(b)) => assert_eq!(a.value, b.value, "{q}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{q}"),
            (a, b) => panic!("{q}: {a:?} vs {b:?}"),
        }
        let one = with(1).instant(&s, &e, 1_500_000);
        let four = with(4).instant(&s, &e, 1_500_000);
        assert_eq!(one.map(|r| r.value).ok(), four.map(|r| r.value).ok(), "{q}");
    }
}

#[test]
fn sample_limit_holds_across_threads() {
    let s = wide_store();
    // rate over the whole range reads 300 × 120 samples.
    let q = parse("rate(req_total[1h])");
    for threads in [1, 4] {
        let tight = Engine::new(EngineOptions {
            threads,
            parallel_after: Duration::ZERO,
            max_samples: 300 * 120 - 1,
            ..EngineOptions::default()
        });
        let err = tight.instant(&s, &q, 1_785_000).unwrap_err();
        assert_eq!(err.kind, EvalErrorKind::TooManySamples, "threads {threads}");
        let enough = Engine::new(EngineOptions {
            threads,
            parallel_after: Duration::ZERO,
            max_samples: 300 * 120,
            ..EngineOptions::default()
        });
        assert!(
            enough.instant(&s, &q, 1_785_000).is_ok(),
            "threads {threads}"
        );
    }
}
