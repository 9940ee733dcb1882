//! Tests of metric query evaluation: every number below is computed by hand
//! from the entries pushed in [`store`] (the comment beside each check shows
//! the computation).

use super::*;
use crate::logql::{parse_expr, Expr};
use crate::store::{Limits, StoreOptions};
use pharos_model::{LogEntry, LogSink, LogStream};
use proptest::prelude::*;

const T: i64 = 1_700_000_000_000_000_000;
const S: i64 = 1_000_000_000;

fn open(dir: &std::path::Path) -> LogStore {
    LogStore::open(
        dir,
        StoreOptions {
            limits: Limits {
                max_age_ns: None,
                future_grace_ns: i64::MAX / 2,
                ..Limits::default()
            },
            fsync: pharos_wal::FsyncPolicy::Never,
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

/// A stream of `(seconds after T, line)`.
fn stream(labels: &[(&str, &str)], lines: &[(i64, &str)]) -> LogStream {
    LogStream {
        labels: Labels::from_pairs(labels),
        entries: lines
            .iter()
            .map(|(s, l)| LogEntry::new(T + s * S, *l))
            .collect(),
    }
}

/// A stream of `(seconds after T, metadata value of `key`)`, lines "x".
fn meta(labels: &[(&str, &str)], key: &str, vals: &[(i64, &str)]) -> LogStream {
    LogStream {
        labels: Labels::from_pairs(labels),
        entries: vals
            .iter()
            .enumerate()
            .map(|(i, (s, v))| {
                let mut e = LogEntry::new(T + s * S, format!("x{i}"));
                e.metadata.push((key.into(), (*v).into()));
                e
            })
            .collect(),
    }
}

/// The data every test reads (times in seconds after T, line bytes in
/// parentheses):
/// - `{app="api",env="prod"}`: 1s "GET /a" (6), 2s "GET /bb" (7), 5s "POST /ccc" (9)
/// - `{app="web",env="prod"}`: 3s "hello" (5), 12s "hello world" (11)
/// - `{app="db",env="dev"}`: 4s "q" (1)
/// - `{app="svc",pod="a"}` with metadata v: 1s 2, 2s 4, 3s 9, 4s 1
/// - `{app="svc",pod="b"}` with v: 2s 10
/// - `{app="dur"}` with d: 1s "1.5s", 2s "250ms", 3s "" (skipped by unwrap)
/// - `{app="bytes"}` with b: 1s "1KiB", 2s "2kB"
/// - `{app="bad"}` with v: 1s "abc", 2s "3"
/// - `{app="ctr"}` with c: 1s 10, 2s 20, 3s 5 (a reset), 4s 15
fn store(dir: &std::path::Path) -> LogStore {
    let st = open(dir);
    st.push(vec![
        stream(
            &[("app", "api"), ("env", "prod")],
            &[(1, "GET /a"), (2, "GET /bb"), (5, "POST /ccc")],
        ),
        stream(
            &[("app", "web"), ("env", "prod")],
            &[(3, "hello"), (12, "hello world")],
        ),
        stream(&[("app", "db"), ("env", "dev")], &[(4, "q")]),
        meta(
            &[("app", "svc"), ("pod", "a")],
            "v",
            &[(1, "2"), (2, "4"), (3, "9"), (4, "1")],
        ),
        meta(&[("app", "svc"), ("pod", "b")], "v", &[(2, "10")]),
        meta(
            &[("app", "dur")],
            "d",
            &[(1, "1.5s"), (2, "250ms"), (3, "")],
        ),
        meta(&[("app", "bytes")], "b", &[(1, "1KiB"), (2, "2kB")]),
        meta(&[("app", "bad")], "v", &[(1, "abc"), (2, "3")]),
        meta(
            &[("app", "ctr")],
            "c",
            &[(1, "10"), (2, "20"), (3, "5"), (4, "15")],
        ),
    ])
    .unwrap();
    st
}

fn parse(q: &str) -> MetricExpr {
    match parse_expr(q) {
        Ok(Expr::Metric(m)) => m,
        other => panic!("not a metric query: {q}: {other:?}"),
    }
}

/// An instant query at T + `at` seconds, as `(labels, value)` strings.
fn inst(st: &LogStore, q: &str, at: i64) -> Vec<(String, f64)> {
    eval_instant(st, &parse(q), T + at * S, Deadline::NONE)
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .into_iter()
        .map(|s| (s.labels.to_string(), s.value))
        .collect()
}

/// The single value of an instant query.
fn one(st: &LogStore, q: &str, at: i64) -> f64 {
    let v = inst(st, q, at);
    assert_eq!(v.len(), 1, "{q}: {v:?}");
    v[0].1
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 || (a.is_nan() && b.is_nan())
}

fn assert_vec(got: Vec<(String, f64)>, want: &[(&str, f64)]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for ((gl, gv), (wl, wv)) in got.iter().zip(want) {
        assert_eq!(gl, wl, "{got:?} vs {want:?}");
        assert!(close(*gv, *wv), "{gl}: {gv} vs {wv}");
    }
}

/// A range query from T + `a` to T + `b` seconds, step `step` seconds, as
/// `(labels, [(seconds after T, value)])`.
fn range(st: &LogStore, q: &str, a: i64, b: i64, step: i64) -> Vec<(String, Vec<(i64, f64)>)> {
    eval_range(
        st,
        &parse(q),
        T + a * S,
        T + b * S,
        step * S,
        Deadline::NONE,
    )
    .unwrap_or_else(|e| panic!("{q}: {e}"))
    .into_iter()
    .map(|s| {
        (
            s.labels.to_string(),
            s.points.iter().map(|(t, v)| ((t - T) / S, *v)).collect(),
        )
    })
    .collect()
}

const API: &str = r#"{app="api", env="prod"}"#;
const WEB: &str = r#"{app="web", env="prod"}"#;
const DB: &str = r#"{app="db", env="dev"}"#;
/// count_over_time of the three plain streams at T+5s over [5s]: the window
/// (T, T+5s] holds api 1s,2s,5s → 3; web 3s → 1; db 4s → 1.
const V: &str = r#"count_over_time({env=~".+"}[5s])"#;

#[test]
fn log_range_aggregations() {
    let d = tempfile::tempdir().unwrap();
    let st = store(d.path());
    assert_vec(
        inst(&st, r#"count_over_time({env="prod"}[5s])"#, 5),
        &[(API, 3.0), (WEB, 1.0)],
    );
    // 3 lines / 5 s.
    assert!(close(one(&st, r#"rate({app="api"}[5s])"#, 5), 0.6));
    // 6 + 7 + 9 bytes, and / 5 s.
    assert!(close(
        one(&st, r#"bytes_over_time({app="api"}[5s])"#, 5),
        22.0
    ));
    assert!(close(one(&st, r#"bytes_rate({app="api"}[5s])"#, 5), 4.4));
    // (T+3s, T+5s] holds only 5s; the lower bound is exclusive.
    assert!(close(
        one(&st, r#"count_over_time({app="api"}[2s])"#, 5),
        1.0
    ));
    assert!(close(
        one(&st, r#"count_over_time({app="api"}[4s])"#, 5),
        2.0
    ));
    // offset 3s: (T, T+2s] holds 1s and 2s.
    assert!(close(
        one(&st, r#"count_over_time({app="api"}[2s] offset 3s)"#, 5),
        2.0
    ));
    // A line filter: "GET" in 1s and 2s.
    assert!(close(
        one(&st, r#"count_over_time({app="api"} |= "GET" [5s])"#, 5),
        2.0
    ));
    // Nothing in the window: no sample at all.
    assert!(inst(&st, r#"count_over_time({app="api"}[1s])"#, 4).is_empty());
}

#[test]
fn absent_over_time_labels_and_steps() {
    let d = tempfile::tempdir().unwrap();
    let st = store(d.path());
    assert!(inst(&st, r#"absent_over_time({app="api"}[1s])"#, 5).is_empty());
    // Only equality matchers give labels.
    assert_vec(
        inst(&st, r#"absent_over_time({app="nope", env=~"p.*"}[5s])"#, 5),
        &[(r#"{app="nope"}"#, 1.0)],
    );
    // db has a line at 4s only: absent at 3s ((2,3]) and 5s ((4,5]).
    assert_eq!(
        range(&st, r#"absent_over_time({app="db"}[1s])"#, 3, 5, 1),
        vec![(r#"{app="db"}"#.to_string(), vec![(3, 1.0), (5, 1.0)])]
    );
}

#[test]
fn unwrapped_range_aggregations() {
    let d = tempfile::tempdir().unwrap();
    let st = store(d.path());
    // pod a over (T, T+5s]: values 2, 4, 9, 1 at 1s..4s.
    let f = |op: &str| format!(r#"{op}({{app="svc", pod="a"}} | unwrap v [5s])"#);
    let cases = [
        ("sum_over_time", 16.0),
        ("avg_over_time", 4.0),
        ("min_over_time", 1.0),
        ("max_over_time", 9.0),
        // mean 4; squared deviations 4, 0, 25, 9 → 38 / 4.
        ("stdvar_over_time", 9.5),
        ("stddev_over_time", 9.5f64.sqrt()),
        ("first_over_time", 2.0),
        ("last_over_time", 1.0),
        // 16 / 5 s.
        ("rate", 3.2),
    ];
    for (op, want) in cases {
        let got = inst(&st, &f(op), 5);
        // The unwrapped label is gone; the stream labels stay.
        assert_vec(got, &[(r#"{app="svc", pod="a"}"#, want)]);
    }
    // Sorted 1, 2, 4, 9: rank 0.5*3 = 1.5 → (2 + 4) / 2; rank 0.9*3 = 2.7 →
    // 4*0.3 + 9*0.7.
    let q = |p: &str| format!(r#"quantile_over_time({p}, {{app="svc", pod="a"}} | unwrap v [5s])"#);
    assert!(close(one(&st, &q("0.5"), 5), 3.0));
    assert!(close(one(&st, &q("0.9"), 5), 7.5));
    // Window (T+2s, T+4s]: 9 and 1.
    assert!(close(
        one(
            &st,
            r#"sum_over_time({app="svc", pod="a"} | unwrap v [2s])"#,
            4
        ),
        10.0
    ));
    // Grouping: pod b has 10 at 2s.
    assert_vec(
        inst(&st, r#"max_over_time({app="svc"} | unwrap v [5s])"#, 5),
        &[
            (r#"{app="svc", pod="a"}"#, 9.0),
            (r#"{app="svc", pod="b"}"#, 10.0),
        ],
    );
    for g in ["by (app)", "without (pod)"] {
        assert_vec(
            inst(
                &st,
                &format!(r#"max_over_time({{app="svc"}} | unwrap v [5s]) {g}"#),
                5,
            ),
            &[(r#"{app="svc"}"#, 10.0)],
        );
    }
    // by () merges everything: min over 2, 4, 9, 1, 10.
    assert_vec(
        inst(
            &st,
            r#"min_over_time({app="svc"} | unwrap v [5s]) by ()"#,
            5,
        ),
        &[("{}", 1.0)],
    );
    // 1.5 s + 0.25 s; the empty value is skipped.
    assert!(close(
        one(
            &st,
            r#"sum_over_time({app="dur"} | unwrap duration(d) [5s])"#,
            5
        ),
        1.75
    ));
    assert!(close(
        one(
            &st,
            r#"sum_over_time({app="dur"} | unwrap duration_seconds(d) [5s])"#,
            5
        ),
        1.75
    ));
    // 1024 + 2000 bytes.
    assert!(close(
        one(
            &st,
            r#"sum_over_time({app="bytes"} | unwrap bytes(b) [5s])"#,
            5
        ),
        3024.0
    ));
    // Post-unwrap filters see the unwrapped label: values above 3 are 4 + 9.
    assert!(close(
        one(
            &st,
            r#"sum_over_time({app="svc", pod="a"} | unwrap v | v > 3 [5s])"#,
            5
        ),
        13.0
    ));
}

#[test]
fn unwrap_errors_fail_unless_filtered() {
    let d = tempfile::tempdir().unwrap();
    let st = store(d.path());
    let e = eval_instant(
        &st,
        &parse(r#"sum_over_time({app="bad"} | unwrap v [5s])"#),
        T + 5 * S,
        Deadline::NONE,
    )
    .unwrap_err();
    assert!(
        matches!(&e, MetricError::Pipeline { error, .. } if error == SAMPLE_EXTRACTION_ERR),
        "{e}"
    );
    assert!(e
        .to_string()
        .starts_with("pipeline error: 'SampleExtractionErr'"));
    // Dropping the errors leaves 3.
    assert_vec(
        inst(
            &st,
            r#"sum_over_time({app="bad"} | unwrap v | __error__="" [5s])"#,
            5,
        ),
        &[(r#"{app="bad"}"#, 3.0)],
    );
}

#[test]
fn rate_counter_extrapolates() {
    let d = tempfile::tempdir().unwrap();
    let st = store(d.path());
    // Window (T, T+4s], samples 10, 20, 5, 15 at 1..4 s.
    // Increase 15 - 10 = 5, plus 20 for the reset at 5 → 25.
    // sampled interval 3 s, average spacing 1 s, threshold 1.1 s;
    // to start 1 s (zero point at 3 * 10/25 = 1.2 s is farther) < 1.1 → +1;
    // to end 0 → +0; 25 * 4/3 / 4 s = 25/3.
    assert!(close(
        one(&st, r#"rate_counter({app="ctr"} | unwrap c [4s])"#, 4),
        25.0 / 3.0
    ));
    // One sample: 0.
    assert!(close(
        one(&st, r#"rate_counter({app="ctr"} | unwrap c [1s])"#, 4),
        0.0
    ));
}

#[test]
fn vector_aggregations() {
    let d = tempfile::tempdir().unwrap();
    let st = store(d.path());
    let agg = |q: &str| inst(&st, &q.replace("V", V), 5);
    // Values api 3, db 1, web 1.
    assert_vec(agg("sum(V)"), &[("{}", 5.0)]);
    assert_vec(
        agg("sum by (env) (V)"),
        &[(r#"{env="dev"}"#, 1.0), (r#"{env="prod"}"#, 4.0)],
    );
    assert_vec(
        agg("sum without (app) (V)"),
        &[(r#"{env="dev"}"#, 1.0), (r#"{env="prod"}"#, 4.0)],
    );
    assert_vec(agg("avg(V)"), &[("{}", 5.0 / 3.0)]);
    assert_vec(agg("min(V)"), &[("{}", 1.0)]);
    assert_vec(agg("max(V)"), &[("{}", 3.0)]);
    assert_vec(agg("count(V)"), &[("{}", 3.0)]);
    // mean 5/3; squared deviations 16/9, 4/9, 4/9 → 24/9 / 3 = 8/9.
    assert_vec(agg("stdvar(V)"), &[("{}", 8.0 / 9.0)]);
    assert_vec(agg("stddev(V)"), &[("{}", (8.0f64 / 9.0).sqrt())]);
    assert_vec(agg("topk(1, V)"), &[(API, 3.0)]);
    assert_vec(agg("bottomk(2, V)"), &[(DB, 1.0), (WEB, 1.0)]);
    assert_vec(agg("topk by (env) (1, V)"), &[(API, 3.0), (DB, 1.0)]);
    // sort keeps its order in an instant answer (ties stay in label order).
    assert_vec(agg("sort(V)"), &[(DB, 1.0), (WEB, 1.0), (API, 3.0)]);
    assert_vec(agg("sort_desc(V)"), &[(API, 3.0), (DB, 1.0), (WEB, 1.0)]);
}

#[test]
fn binary_operators() {
    let d = tempfile::tempdir().unwrap();
    let st = store(d.path());
    let b = |q: &str| inst(&st, &q.replace("V", V), 5);
    // Vector and scalar.
    assert_vec(b("V * 2"), &[(API, 6.0), (DB, 2.0), (WEB, 2.0)]);
    assert_vec(b("2 - V"), &[(API, -1.0), (DB, 1.0), (WEB, 1.0)]);
    assert_vec(b("V % 2"), &[(API, 1.0), (DB, 1.0), (WEB, 1.0)]);
    assert_vec(b("V ^ 2"), &[(API, 9.0), (DB, 1.0), (WEB, 1.0)]);
    assert_vec(
        b("V / 0"),
        &[(API, f64::NAN), (DB, f64::NAN), (WEB, f64::NAN)],
    );
    assert_vec(b("V > 1"), &[(API, 3.0)]);
    assert_vec(b("V > bool 1"), &[(API, 1.0), (DB, 0.0), (WEB, 0.0)]);
    // The scalar on the left: the kept value is still the vector's.
    assert_vec(b("1 < V"), &[(API, 3.0)]);
    assert_vec(b("V == 1"), &[(DB, 1.0), (WEB, 1.0)]);
    assert_vec(b("V != bool 1"), &[(API, 1.0), (DB, 0.0), (WEB, 0.0)]);
    assert_vec(b("V >= 3"), &[(API, 3.0)]);
    assert_vec(b("V <= 1"), &[(DB, 1.0), (WEB, 1.0)]);
    // Scalars and vector().
    assert_vec(b("2 ^ 3"), &[("{}", 8.0)]);
    assert_vec(b("vector(2) + 1"), &[("{}", 3.0)]);
    assert_vec(b("vector(2) * vector(3)"), &[("{}", 6.0)]);
    // One to one on all labels.
    assert_vec(b("V + V"), &[(API, 6.0), (DB, 2.0), (WEB, 2.0)]);
    assert_vec(b("V > bool V"), &[(API, 0.0), (DB, 0.0), (WEB, 0.0)]);
    // on() keeps only the matching labels in a one-to-one result.
    assert_vec(
        b("V - on(app) V"),
        &[
            (r#"{app="api"}"#, 0.0),
            (r#"{app="db"}"#, 0.0),
            (r#"{app="web"}"#, 0.0),
        ],
    );
    // Share of each app in its env: 3/4, 1/1, 1/4.
    let share = [(API, 0.75), (DB, 1.0), (WEB, 0.25)];
    assert_vec(b("V / on(env) group_left sum by (env) (V)"), &share);
    assert_vec(b("V / ignoring(app) group_left sum by (env) (V)"), &share);
    // group_right: prod sum 4 + 3, 4 + 1; dev 1 + 1; labels of the right side.
    assert_vec(
        b("sum by (env) (V) + on(env) group_right V"),
        &[(API, 7.0), (DB, 2.0), (WEB, 5.0)],
    );
    // group_left(region) copies region from the one side (set by label_replace).
    assert_vec(
        b(
            r#"V * on(env) group_left(region) label_replace(sum by (env) (V), "region", "eu-$1", "env", "(.*)")"#,
        ),
        &[
            (r#"{app="api", env="prod", region="eu-prod"}"#, 12.0),
            (r#"{app="db", env="dev", region="eu-dev"}"#, 1.0),
            (r#"{app="web", env="prod", region="eu-prod"}"#, 4.0),
        ],
    );
    // Set operators: prod sums to 4 > 3.
    assert_vec(
        b("V and on(env) (sum by (env) (V) > 3)"),
        &[(API, 3.0), (WEB, 1.0)],
    );
    assert_vec(b("V unless on(env) (sum by (env) (V) > 3)"), &[(DB, 1.0)]);
    assert_vec(
        b("V or vector(7)"),
        &[("{}", 7.0), (API, 3.0), (DB, 1.0), (WEB, 1.0)],
    );
    assert_vec(b("V and V > 2"), &[(API, 3.0)]);
    // Matching errors.
    for q in [
        "V + on(env) V",
        "V / ignoring(app) sum by (env) (V)",
        "sum by (env) (V) + on(env) group_left V",
    ] {
        let e = eval_instant(&st, &parse(&q.replace("V", V)), T + 5 * S, Deadline::NONE);
        assert!(matches!(e, Err(MetricError::Matching(_))), "{q}: {e:?}");
    }
}

#[test]
fn label_replace_rewrites_and_checks() {
    let d = tempfile::tempdir().unwrap();
    let st = store(d.path());
    let q = |s: &str| inst(&st, &s.replace("V", V), 5);
    assert_vec(
        q(r#"label_replace(V, "svc", "$1-x", "app", "(a.*)")"#),
        &[
            (r#"{app="api", env="prod", svc="api-x"}"#, 3.0),
            (DB, 1.0),
            (WEB, 1.0),
        ],
    );
    // An empty replacement removes the label; not matching leaves it.
    assert_vec(
        q(r#"label_replace(V, "env", "", "app", "api")"#),
        &[(r#"{app="api"}"#, 3.0), (DB, 1.0), (WEB, 1.0)],
    );
    // Two series end up equal.
    let e = eval_instant(
        &st,
        &parse(&format!(r#"label_replace({V}, "app", "x", "", "")"#)),
        T + 5 * S,
        Deadline::NONE,
    );
    assert!(matches!(e, Err(MetricError::Invalid(_))), "{e:?}");
}

#[test]
fn range_queries_and_limits() {
    let d = tempfile::tempdir().unwrap();
    let st = store(d.path());
    // Windows (t-2s, t]: 1s {1}; 2s {1,2}; 3s {2}; 4s none; 5s {5}; 6s {5}.
    assert_eq!(
        range(&st, r#"count_over_time({app="api"}[2s])"#, 1, 6, 1),
        vec![(
            API.to_string(),
            vec![(1, 1.0), (2, 2.0), (3, 1.0), (5, 1.0), (6, 1.0)]
        )]
    );
    // Sum over both prod streams per step of 2 s with [2s]: at 2s api 1,2 → 2;
    // 4s web 3 → 1; 6s api 5 → 1.
    assert_eq!(
        range(&st, r#"sum(count_over_time({env="prod"}[2s]))"#, 2, 6, 2),
        vec![("{}".to_string(), vec![(2, 2.0), (4, 1.0), (6, 1.0)])]
    );
    // A literal answers at every step.
    assert_eq!(
        range(&st, "1 + 1", 0, 2, 1),
        vec![("{}".to_string(), vec![(0, 2.0), (1, 2.0), (2, 2.0)])]
    );
    let e = parse("vector(1)");
    assert_eq!(
        eval_range(&st, &e, 0, 11_001, 1, Deadline::NONE),
        Err(MetricError::TooManyPoints)
    );
    assert!(MetricError::TooManyPoints
        .to_string()
        .starts_with("exceeded maximum resolution of 11,000 points per timeseries."));
    assert_eq!(
        eval_range(&st, &e, 0, 11_000, 1, Deadline::NONE).unwrap()[0]
            .points
            .len(),
        11_001
    );
    assert_eq!(
        eval_range(&st, &e, 0, 10, 0, Deadline::NONE),
        Err(MetricError::BadStep)
    );
    assert_eq!(
        eval_range(&st, &e, 10, 0, 1, Deadline::NONE),
        Err(MetricError::EndBeforeStart)
    );
}

#[test]
fn conversions() {
    use crate::pipeline::{bytes_of, go_duration_ns};
    assert_eq!(go_duration_ns("1h30m"), Some(5_400_000_000_000));
    assert_eq!(go_duration_ns("-1.5s"), Some(-1_500_000_000));
    assert_eq!(go_duration_ns("0"), Some(0));
    assert_eq!(go_duration_ns("5"), None);
    assert_eq!(go_duration_ns(""), None);
    assert_eq!(bytes_of("42"), Some(42.0));
    assert_eq!(bytes_of("1.5 KB"), Some(1500.0));
    assert_eq!(bytes_of("2KiB"), Some(2048.0));
    assert_eq!(bytes_of("3mb"), Some(3e6));
    assert_eq!(bytes_of("1Mi"), Some(1_048_576.0));
    assert_eq!(bytes_of("x"), None);
    assert_eq!(bytes_of("1i"), None);
    assert!(convert("1.5e3", None).is_ok_and(|v| v == 1500.0));
    assert!(convert("abc", None).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// count_over_time at every step equals a brute-force count of the
    /// timestamps in (t - range, t].
    #[test]
    fn count_over_time_matches_brute_force(
        mut ts in prop::collection::vec(0i64..60_000, 0..80),
        range_ms in 1i64..20_000,
        step_ms in 1i64..10_000,
        start_ms in 0i64..30_000,
        len_ms in 0i64..40_000,
    ) {
        ts.sort_unstable();
        let d = tempfile::tempdir().unwrap();
        let st = open(d.path());
        let ms = 1_000_000;
        if !ts.is_empty() {
            st.push(vec![LogStream {
                labels: Labels::from_pairs(&[("app", "p")]),
                entries: ts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| LogEntry::new(T + t * ms, format!("l{i}")))
                    .collect(),
            }])
            .unwrap();
        }
        let q = parse(&format!(r#"count_over_time({{app="p"}}[{range_ms}ms])"#));
        let (start, end) = (T + start_ms * ms, T + (start_ms + len_ms) * ms);
        let got = eval_range(&st, &q, start, end, step_ms * ms, Deadline::NONE).unwrap();
        let mut want = Vec::new();
        let mut t = start;
        while t <= end {
            let n = ts
                .iter()
                .filter(|x| T + *x * ms > t - range_ms * ms && T + *x * ms <= t)
                .count();
            if n > 0 {
                want.push((t, n as f64));
            }
            t += step_ms * ms;
        }
        let got_points = got.first().map(|s| s.points.clone()).unwrap_or_default();
        prop_assert!(got.len() <= 1);
        prop_assert_eq!(got_points, want);
    }
}

/// The streaming path for counting functions answers as the general path
/// does (forced here with a `drop` of a label no entry has), in the head and
/// after the data went to a segment, with metadata, offsets and grouping.
#[test]
fn counting_fast_path_matches_the_general_path() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    let queries = [
        "count_over_time({env=\"prod\"}[3s])",
        "rate({app=~\".+\"} |= \"GET\" [2s])",
        "bytes_over_time({app=~\".+\"} != \"hello\" [4s] offset 1s)",
        "bytes_rate({app=\"svc\"}[5s])",
        "sum by (env) (count_over_time({app=~\".+\"}[2s]))",
        "absent_over_time({app=\"web\"}[2s])",
    ];
    let check = |st: &LogStore, when: &str| {
        for q in queries {
            // Insert the drop stage just before the range.
            let at = q.find('[').unwrap();
            let general = format!("{} | drop nope {}", &q[..at], &q[at..]);
            let fast = range(st, q, 0, 15, 1);
            let slow = range(st, &general, 0, 15, 1);
            assert_eq!(fast, slow, "{when}: {q} vs {general}");
            assert!(
                !fast.is_empty() || q.starts_with("absent"),
                "{when}: {q} answers"
            );
        }
    };
    check(&st, "head");
    st.flush().unwrap();
    check(&st, "segment");
}

#[test]
fn metric_queries_stop_at_their_deadline() {
    let d = tempfile::tempdir().unwrap();
    let st = store(d.path());
    let lines: Vec<(i64, String)> = (0..5000).map(|i| (i / 100, format!("l{i}"))).collect();
    let lines: Vec<(i64, &str)> = lines.iter().map(|(t, l)| (*t, l.as_str())).collect();
    st.push(vec![stream(&[("app", "big")], &lines)]).unwrap();
    let past = Deadline::after(std::time::Duration::from_millis(1));
    std::thread::sleep(std::time::Duration::from_millis(2));
    fn timed_out<T>(r: &Result<T, MetricError>) -> bool {
        matches!(r, Err(MetricError::Query(QueryError::TimedOut(_))))
    }
    for q in [
        // The counting path, with and without lines.
        r#"count_over_time({app=~".+"}[10s])"#,
        r#"sum by (app) (bytes_over_time({app=~".+"} |= "l" [10s]))"#,
        // The general path.
        r#"max_over_time({app=~".+"} | regexp "l(?P<n>[0-9]+)" | unwrap n [10s])"#,
        r#"count_over_time({app="big"}[10s]) / count_over_time({app="big"}[20s])"#,
    ] {
        let e = parse(q);
        let r = eval_range(&st, &e, T, T + 50 * S, S, past);
        assert!(timed_out(&r), "{q}: {r:?}");
        let r = eval_instant(&st, &e, T + 50 * S, past);
        assert!(timed_out(&r), "{q}: {r:?}");
        st.flush().unwrap();
        assert!(
            timed_out(&eval_range(&st, &e, T, T + 50 * S, S, past)),
            "{q}"
        );
        let far = Deadline::after(std::time::Duration::from_secs(3600));
        assert!(eval_range(&st, &e, T, T + 50 * S, S, far).is_ok(), "{q}");
    }
}
