//! Executing a parsed test file and comparing results, as Prometheus's
//! promqltest runner does.
//!
//! Each eval counts once: it passes only if the query itself and all the
//! reference runner's extra runs pass (the `@`-modifier re-runs of instant
//! evals, and for each instant run the range query over [t−1m, t+1m] whose
//! middle step must equal the instant result). The parser and engine are
//! reached through [`Backend`], so this module holds the only calls into
//! them ([`PharosBackend`]).
//!
//! [`Backend::compat`] selects which reference runner is reproduced. With
//! [`Compat::V2_42`] it is the one of Prometheus 2.42 (`promql/test.go`):
//! the range-mode re-run happens for every instant run that succeeded,
//! including queries with `@ start()`/`@ end()`, its matrix is not checked
//! for sort order, and an instant eval that returns a range vector fails
//! ("received range result on instant evaluation").

use std::time::Duration;

use pharos_model::histogram::{FloatHistogram, Span};
use pharos_model::{is_stale_nan, Labels, Queryable};

use crate::ast::Expr;
use crate::engine::{Compat, Engine, EngineOptions};
use crate::value::{QueryResult, RangeSeries, Value, VecSample};

use super::format::{parse_file, Command, Eval, EvalKind, ExpectKind, Expected, ExpectedSeries};
use super::load::SeqValue;
use super::rewrite::{at_modifier_cases, uses_query_context_funcs};
use super::storage::MemStorage;

/// Relative tolerance of float comparisons.
pub const EPSILON: f64 = 1e-6;

/// Samples per query the test files assume.
pub const TEST_MAX_SAMPLES: usize = 10_000;

/// The parser and evaluator under test.
pub trait Backend {
    /// Parses a query; the error is the text `expect fail` compares.
    fn parse(&self, query: &str) -> Result<Expr, String>;
    /// Evaluates at one instant.
    fn instant(&self, q: &dyn Queryable, expr: &Expr, t_ms: i64) -> Result<QueryResult, String>;
    /// Evaluates over a range.
    fn range(
        &self,
        q: &dyn Queryable,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, String>;
    /// Which Prometheus version's runner (and engine) to reproduce.
    fn compat(&self) -> Compat {
        Compat::Latest
    }
}

/// pharos's own parser and engine, with the settings the files assume:
/// lookback 5m, at most 10,000 samples, subquery default step 1m.
#[derive(Debug, Clone)]
pub struct PharosBackend {
    engine: Engine,
}

impl PharosBackend {
    /// The backend following the semantics of `compat`.
    pub fn new(compat: Compat) -> PharosBackend {
        PharosBackend {
            engine: Engine::new(EngineOptions {
                lookback_delta_ms: 300_000,
                max_samples: TEST_MAX_SAMPLES,
                default_subquery_step_ms: 60_000,
                timeout: Duration::from_secs(100),
                compat,
                threads: crate::engine::default_threads(),
                parallel_after: crate::engine::DEFAULT_PARALLEL_AFTER,
            }),
        }
    }
}

impl Default for PharosBackend {
    fn default() -> Self {
        PharosBackend::new(Compat::Latest)
    }
}

impl Backend for PharosBackend {
    fn parse(&self, query: &str) -> Result<Expr, String> {
        crate::parser::parse(query).map_err(|e| e.to_string())
    }

    fn instant(&self, q: &dyn Queryable, expr: &Expr, t_ms: i64) -> Result<QueryResult, String> {
        self.engine
            .instant(q, expr, t_ms)
            .map_err(|e| e.to_string())
    }

    fn range(
        &self,
        q: &dyn Queryable,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, String> {
        self.engine
            .range(q, expr, start_ms, end_ms, step_ms)
            .map_err(|e| e.to_string())
    }

    fn compat(&self) -> Compat {
        self.engine.options().compat
    }
}

/// The outcome of one eval (or of one malformed block).
#[derive(Debug, Clone)]
pub struct EvalOutcome {
    /// 1-based line of the eval command.
    pub line: usize,
    pub expr: String,
    /// `None` when it passed; else why it failed.
    pub failure: Option<String>,
}

/// The outcomes of one file.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    pub name: String,
    pub outcomes: Vec<EvalOutcome>,
}

impl FileReport {
    pub fn total(&self) -> usize {
        self.outcomes.len()
    }

    pub fn passed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.failure.is_none()).count()
    }

    pub fn failed(&self) -> usize {
        self.total() - self.passed()
    }

    pub fn failures(&self) -> impl Iterator<Item = &EvalOutcome> {
        self.outcomes.iter().filter(|o| o.failure.is_some())
    }
}

/// Prometheus's `almost.Equal` with epsilon, plus: the stale marker only
/// equals the stale marker.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let min_normal = f64::MIN_POSITIVE;
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < min_normal {
        return diff < epsilon * min_normal;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Runs a test file's text.
pub fn run_source(backend: &dyn Backend, name: &str, src: &str) -> FileReport {
    let file = parse_file(src);
    let mut storage = MemStorage::new();
    let mut report = FileReport {
        name: name.to_string(),
        outcomes: Vec::new(),
    };
    for cmd in &file.commands {
        match cmd {
            Command::Clear => storage.clear(),
            Command::Load(l) => {
                if let Err(e) = storage.apply_load(l) {
                    report.outcomes.push(EvalOutcome {
                        line: l.line,
                        expr: String::new(),
                        failure: Some(format!("error loading data: {e}")),
                    });
                }
            }
            Command::Invalid { line, message } => report.outcomes.push(EvalOutcome {
                line: *line,
                expr: String::new(),
                failure: Some(format!("invalid test block: {message}")),
            }),
            Command::Eval(ev) => {
                let failure = run_eval(backend, &storage, ev).err();
                report.outcomes.push(EvalOutcome {
                    line: ev.line,
                    expr: ev.expr.clone(),
                    failure,
                });
            }
        }
    }
    report
}

/// Reads and runs a test file.
pub fn run_file(backend: &dyn Backend, path: &std::path::Path) -> FileReport {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(src) => run_source(backend, &name, &src),
        Err(e) => FileReport {
            name,
            outcomes: vec![EvalOutcome {
                line: 0,
                expr: String::new(),
                failure: Some(format!("cannot read file: {e}")),
            }],
        },
    }
}

fn run_eval(backend: &dyn Backend, st: &MemStorage, ev: &Eval) -> Result<(), String> {
    let expr = match backend.parse(&ev.expr) {
        Ok(e) => e,
        Err(e) => {
            if ev.is_fail() && check_expected_failure(ev, &e).is_ok() {
                return Ok(());
            }
            return Err(format!("parse error: {e}"));
        }
    };
    match ev.kind {
        EvalKind::Range {
            start_ms,
            end_ms,
            step_ms,
        } => {
            let res = match backend.range(st, &expr, start_ms, end_ms, step_ms) {
                Err(e) if ev.is_fail() => return check_expected_failure(ev, &e),
                Err(e) => return Err(format!("error evaluating query: {e}")),
                Ok(_) if ev.is_fail() => {
                    return Err("expected error evaluating query but got none".into())
                }
                Ok(r) => r,
            };
            check_annotations(ev, &res)?;
            compare_result(ev, &res.value, (start_ms, end_ms, step_ms))
        }
        EvalKind::Instant { at_ms } => {
            run_instant_query(backend, st, ev, &ev.expr, &expr, at_ms)?;
            if let Some((pinned, times)) = at_modifier_cases(&expr, at_ms) {
                let text = pinned.to_string();
                let reparsed = backend
                    .parse(&text)
                    .map_err(|e| format!("cannot parse the @-modifier rewrite {text:?}: {e}"))?;
                for t in times {
                    run_instant_query(backend, st, ev, &text, &reparsed, t).map_err(|e| {
                        format!("@-modifier re-run at t={}s: {e}", t as f64 / 1000.0)
                    })?;
                }
            }
            Ok(())
        }
    }
}

fn run_instant_query(
    backend: &dyn Backend,
    st: &MemStorage,
    ev: &Eval,
    text: &str,
    expr: &Expr,
    t: i64,
) -> Result<(), String> {
    let res = match backend.instant(st, expr, t) {
        Err(e) if ev.is_fail() => return check_expected_failure(ev, &e),
        Err(e) => return Err(format!("error evaluating query {text:?}: {e}")),
        Ok(_) if ev.is_fail() => {
            return Err(format!(
                "expected error evaluating query {text:?} but got none"
            ))
        }
        Ok(r) => r,
    };
    check_annotations(ev, &res).map_err(|e| format!("{text:?}: {e}"))?;
    let v2 = backend.compat() == Compat::V2_42;
    if v2 && matches!(res.value, Value::Matrix(_)) {
        return Err(format!(
            "{text:?}: received range result on instant evaluation"
        ));
    }
    let spec = match ev.range_vector {
        Some(spec) => spec,
        // An instant eval has no range: any expected matrix point is too many.
        None => (t, i64::MIN, 0),
    };
    compare_result(ev, &res.value, spec).map_err(|e| format!("{text:?}: {e}"))?;
    if ev.exclude_from_range_query || (!v2 && uses_query_context_funcs(text)) {
        return Ok(());
    }
    let (start, end) = (t.saturating_sub(60_000), t.saturating_add(60_000));
    let range = backend
        .range(st, expr, start, end, 60_000)
        .map_err(|e| format!("error evaluating query {text:?} in range mode: {e}"))?;
    if ev.is_ordered() {
        return Ok(());
    }
    let Value::Matrix(m) = &range.value else {
        return Err(format!(
            "range mode of {text:?} returned a {}, not a matrix",
            range.value.type_name()
        ));
    };
    if !v2 {
        assert_sorted(m)?;
    }
    // The point at the middle step of each series: a float or a histogram.
    let mut vec: Vec<VecSample> = Vec::new();
    for s in m {
        if let Some((_, v)) = s.points.iter().find(|(pt, _)| *pt == t) {
            vec.push(VecSample {
                labels: s.labels.clone(),
                t,
                v: *v,
                h: None,
            });
        }
        if let Some((_, h)) = s.histograms.iter().find(|(pt, _)| *pt == t) {
            vec.push(VecSample {
                labels: s.labels.clone(),
                t,
                v: 0.0,
                h: Some(Box::new(h.clone())),
            });
        }
    }
    let middle = if matches!(res.value, Value::Scalar { .. }) {
        match vec.first() {
            Some(s) => Value::Scalar { t, v: s.v },
            None => {
                return Err(format!(
                    "range mode of {text:?}: no point at the middle step"
                ))
            }
        }
    } else {
        Value::Vector(vec)
    };
    compare_result(ev, &middle, spec).map_err(|e| format!("{text:?} in range mode: {e}"))
}

fn check_expected_failure(ev: &Eval, actual: &str) -> Result<(), String> {
    if let Some(m) = &ev.expected_fail_message {
        if m != actual {
            return Err(format!("expected error {m:?}, but got: {actual}"));
        }
    }
    if let Some(r) = &ev.expected_fail_regexp {
        if !r.is_match(actual) {
            return Err(format!(
                "expected error matching pattern {:?}, but got: {actual}",
                r.as_str()
            ));
        }
    }
    if let Some(e) = ev.expects_of(ExpectKind::Fail).next() {
        if !e.matcher.matches(actual) {
            return Err(format!(
                "expected error matching {}, but got: {actual}",
                e.matcher.describe()
            ));
        }
    }
    Ok(())
}

fn check_annotations(ev: &Eval, res: &QueryResult) -> Result<(), String> {
    if ev.warn && res.warnings.is_empty() {
        return Err("expected warnings but got none".into());
    }
    if ev.info && res.infos.is_empty() {
        return Err("expected info annotations but got none".into());
    }
    for (kind, actual, name) in [
        (ExpectKind::Warn, &res.warnings, "warn"),
        (ExpectKind::Info, &res.infos, "info"),
    ] {
        let expected: Vec<_> = ev.expects_of(kind).collect();
        if expected.is_empty() {
            continue;
        }
        if actual.is_empty() {
            return Err(format!("expected {name} annotations but none were found"));
        }
        for e in &expected {
            if !actual.iter().any(|a| e.matcher.matches(a)) {
                return Err(format!(
                    "expected {name} annotation matching {} but none matched; found: {actual:?}",
                    e.matcher.describe()
                ));
            }
        }
        for a in actual.iter() {
            if !expected.iter().any(|e| e.matcher.matches(a)) {
                return Err(format!("unexpected {name} annotation {a:?}"));
            }
        }
    }
    if ev.expects_of(ExpectKind::NoWarn).next().is_some() && !res.warnings.is_empty() {
        return Err(format!(
            "unexpected warning annotations: {:?}",
            res.warnings
        ));
    }
    if ev.expects_of(ExpectKind::NoInfo).next().is_some() && !res.infos.is_empty() {
        return Err(format!("unexpected info annotations: {:?}", res.infos));
    }
    Ok(())
}

fn assert_sorted(m: &[RangeSeries]) -> Result<(), String> {
    for w in m.windows(2) {
        if w[0].labels > w[1].labels {
            return Err(format!(
                "matrix results should always be sorted by labels, but {} sorts before {}",
                w[1].labels, w[0].labels
            ));
        }
    }
    Ok(())
}

fn expected_series(ev: &Eval) -> &[ExpectedSeries] {
    match &ev.expected {
        Expected::Series(s) => s,
        _ => &[],
    }
}

fn find_expected<'a>(ev: &'a Eval, labels: &Labels) -> Option<&'a ExpectedSeries> {
    expected_series(ev).iter().find(|e| &e.labels == labels)
}

/// The points of a result series, as the reference reports them.
fn format_series_result(s: &RangeSeries) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let floats: Vec<String> = s
        .points
        .iter()
        .map(|(t, v)| format!("{v} @[{t}]"))
        .collect();
    let hists: Vec<String> = s
        .histograms
        .iter()
        .map(|(t, h)| format!("{} @[{t}]", h.test_expression()))
        .collect();
    format!(
        "{} float point{} [{}] and {} histogram point{} [{}]",
        s.points.len(),
        plural(s.points.len()),
        floats.join(" "),
        s.histograms.len(),
        plural(s.histograms.len()),
        hists.join(", ")
    )
}

/// The value of an instant-vector sample for reports.
fn format_sample_value(s: &VecSample) -> String {
    match &s.h {
        Some(h) => h.test_expression(),
        None => s.v.to_string(),
    }
}

/// Prometheus's `compareNativeHistogram` on both histograms compacted with
/// `compact(0)`: the schema and the zero threshold match exactly, counts,
/// sums and bucket counts within [`EPSILON`], custom bounds exactly, spans
/// ignoring empty ones. The counter-reset hint only counts when the
/// expectation spelled one (`hint_set`).
pub fn histograms_match(exp: &FloatHistogram, got: &FloatHistogram, hint_set: bool) -> bool {
    let mut exp = exp.clone();
    exp.compact(0);
    let mut got = got.clone();
    got.compact(0);
    if exp.schema != got.schema
        || !almost_equal(exp.count, got.count, EPSILON)
        || !almost_equal(exp.sum, got.sum, EPSILON)
    {
        return false;
    }
    if exp.uses_custom_buckets() && exp.custom_values != got.custom_values {
        return false;
    }
    if exp.zero_threshold != got.zero_threshold
        || !almost_equal(exp.zero_count, got.zero_count, EPSILON)
    {
        return false;
    }
    if !spans_match(&exp.negative_spans, &got.negative_spans)
        || !buckets_match(&exp.negative_buckets, &got.negative_buckets)
        || !spans_match(&exp.positive_spans, &got.positive_spans)
        || !buckets_match(&exp.positive_buckets, &got.positive_buckets)
    {
        return false;
    }
    !hint_set || exp.counter_reset_hint == got.counter_reset_hint
}

fn buckets_match(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| almost_equal(*x, *y, EPSILON))
}

/// Spans equal once zero-length spans are folded into the next span's
/// offset (trailing empty spans are ignored).
fn spans_match(a: &[Span], b: &[Span]) -> bool {
    fn normalize(spans: &[Span]) -> Vec<Span> {
        let mut out = Vec::new();
        let mut carry = 0i32;
        for s in spans {
            if s.length == 0 {
                carry += s.offset;
            } else {
                out.push(Span::new(s.offset + carry, s.length));
                carry = 0;
            }
        }
        out
    }
    normalize(a) == normalize(b)
}

/// Compares a result with the expectation. `spec` is (start, end, step)
/// of the expected matrix points.
fn compare_result(ev: &Eval, value: &Value, spec: (i64, i64, i64)) -> Result<(), String> {
    match value {
        Value::Matrix(m) => {
            if ev.is_ordered() {
                return Err("expected ordered result, but query returned a matrix".into());
            }
            if let Expected::Scalar(_) = ev.expected {
                return Err("expected scalar result, but got a matrix".into());
            }
            assert_sorted(m)?;
            let (start, end, step) = spec;
            for s in m {
                let Some(exp) = find_expected(ev, &s.labels) else {
                    return Err(format!(
                        "unexpected metric {} in result, has {}",
                        s.labels,
                        format_series_result(s)
                    ));
                };
                let mut floats = Vec::new();
                let mut hists = Vec::new();
                for (i, v) in exp.values.iter().enumerate() {
                    let ts = start.saturating_add((i as i64).saturating_mul(step));
                    if ts > end {
                        return Err(format!(
                            "expected {} points for {}, but query time range cannot return this many points",
                            exp.values.len(),
                            exp.labels
                        ));
                    }
                    match v {
                        SeqValue::Histogram { h, hint_set } => hists.push((ts, &**h, *hint_set)),
                        SeqValue::Float(f) => floats.push((ts, *f)),
                        SeqValue::Omitted => {}
                    }
                }
                if floats.len() != s.points.len() || hists.len() != s.histograms.len() {
                    return Err(format!(
                        "expected {} float points and {} histogram points for {}, but got {}",
                        floats.len(),
                        hists.len(),
                        exp.labels,
                        format_series_result(s)
                    ));
                }
                for (i, ((et, ev_), (at, av))) in floats.iter().zip(&s.points).enumerate() {
                    if et != at {
                        return Err(format!(
                            "expected float value at index {i} for {} to have timestamp {et}, but it had timestamp {at} (result has {})",
                            exp.labels,
                            format_series_result(s)
                        ));
                    }
                    if !almost_equal(*av, *ev_, EPSILON) {
                        return Err(format!(
                            "expected float value at index {i} (t={at}) for {} to be {ev_}, but got {av} (result has {})",
                            exp.labels,
                            format_series_result(s)
                        ));
                    }
                }
                for (i, ((et, eh, hint_set), (at, ah))) in
                    hists.iter().zip(&s.histograms).enumerate()
                {
                    if et != at {
                        return Err(format!(
                            "expected histogram value at index {i} for {} to have timestamp {et}, but it had timestamp {at} (result has {})",
                            exp.labels,
                            format_series_result(s)
                        ));
                    }
                    if !histograms_match(eh, ah, *hint_set) {
                        return Err(format!(
                            "expected histogram value at index {i} (t={at}) for {} to be {}, but got {} (result has {})",
                            exp.labels,
                            eh.test_expression(),
                            ah.test_expression(),
                            format_series_result(s)
                        ));
                    }
                }
            }
            for e in expected_series(ev) {
                if !m.iter().any(|s| s.labels == e.labels) {
                    let got: Vec<String> = m.iter().map(|s| s.labels.to_string()).collect();
                    return Err(format!(
                        "expected metric {} not found; result has [{}]",
                        e.labels,
                        got.join(", ")
                    ));
                }
            }
            Ok(())
        }
        Value::Vector(vec) => {
            if let Expected::Scalar(_) = ev.expected {
                return Err(format!(
                    "expected scalar result, but got a vector of {} samples",
                    vec.len()
                ));
            }
            for (pos, s) in vec.iter().enumerate() {
                let Some(exp) = find_expected(ev, &s.labels) else {
                    return Err(format!(
                        "unexpected metric {} in result, has value {}",
                        s.labels,
                        format_sample_value(s)
                    ));
                };
                if ev.is_ordered() && exp.pos != pos + 1 {
                    return Err(format!(
                        "expected metric {} at position {} but was at {}",
                        s.labels,
                        exp.pos,
                        pos + 1
                    ));
                }
                let Some(want) = exp.values.first() else {
                    return Err(format!("no expected value given for {}", s.labels));
                };
                match (want, &s.h) {
                    (SeqValue::Histogram { h, hint_set }, Some(got)) => {
                        if !histograms_match(h, got, *hint_set) {
                            return Err(format!(
                                "expected {} for {} but got {}",
                                h.test_expression(),
                                s.labels,
                                got.test_expression()
                            ));
                        }
                    }
                    (SeqValue::Histogram { h, .. }, None) => {
                        return Err(format!(
                            "expected histogram {} for {} but got float value {}",
                            h.test_expression(),
                            s.labels,
                            s.v
                        ));
                    }
                    (want, Some(got)) => {
                        let want = match want {
                            SeqValue::Float(f) => f.to_string(),
                            _ => "_".to_string(),
                        };
                        return Err(format!(
                            "expected float value {want} for {} but got histogram {}",
                            s.labels,
                            got.test_expression()
                        ));
                    }
                    (want, None) => {
                        // `_` expects 0, as the reference's zero value does.
                        let want = match want {
                            SeqValue::Float(f) => *f,
                            _ => 0.0,
                        };
                        if !almost_equal(want, s.v, EPSILON) {
                            return Err(format!(
                                "expected {want} for {} but got {}",
                                s.labels, s.v
                            ));
                        }
                    }
                }
            }
            for e in expected_series(ev) {
                if !vec.iter().any(|s| s.labels == e.labels) {
                    let got: Vec<String> = vec
                        .iter()
                        .map(|s| format!("{} {}", s.labels, format_sample_value(s)))
                        .collect();
                    return Err(format!(
                        "expected metric {} not found; result has [{}]",
                        e.labels,
                        got.join(", ")
                    ));
                }
            }
            Ok(())
        }
        Value::Scalar { v, .. } => {
            let Expected::Scalar(want) = ev.expected else {
                return Err(format!(
                    "expected vector or matrix result, but got scalar {v}"
                ));
            };
            if !almost_equal(want, *v, EPSILON) {
                return Err(format!("expected scalar {want} but got {v}"));
            }
            Ok(())
        }
        Value::String { s, .. } => {
            let want = match &ev.expected {
                Expected::String(w) => w.as_str(),
                _ => "",
            };
            if want != s {
                return Err(format!("expected string {want:?} but got {s:?}"));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promqltest::format::parse_file;

    fn eval_of(src: &str) -> Eval {
        match parse_file(src).commands.into_iter().next() {
            Some(Command::Eval(e)) => *e,
            other => panic!("{other:?}"),
        }
    }

    fn vs(labels: &[(&str, &str)], v: f64) -> VecSample {
        VecSample {
            labels: Labels::from_pairs(labels),
            t: 0,
            v,
            h: None,
        }
    }

    #[test]
    fn almost_equal_rules() {
        assert!(almost_equal(1.0, 1.0 + 1e-9, EPSILON));
        assert!(!almost_equal(1.0, 1.001, EPSILON));
        assert!(almost_equal(f64::NAN, f64::NAN, EPSILON));
        assert!(!almost_equal(f64::NAN, pharos_model::STALE_NAN, EPSILON));
        assert!(almost_equal(
            pharos_model::STALE_NAN,
            pharos_model::STALE_NAN,
            EPSILON
        ));
        assert!(!almost_equal(0.0, 1e-9, EPSILON));
        assert!(almost_equal(f64::INFINITY, f64::INFINITY, EPSILON));
        assert!(!almost_equal(f64::INFINITY, f64::NEG_INFINITY, EPSILON));
    }

    #[test]
    fn vector_comparison() {
        let ev = eval_of("eval instant at 0 x\n  x{a=\"1\"} 1\n  x{a=\"2\"} NaN\n");
        let ok = Value::Vector(vec![
            vs(&[("__name__", "x"), ("a", "2")], f64::NAN),
            vs(&[("__name__", "x"), ("a", "1")], 1.0000001),
        ]);
        assert!(compare_result(&ev, &ok, (0, 0, 0)).is_ok());
        let missing = Value::Vector(vec![vs(&[("__name__", "x"), ("a", "1")], 1.0)]);
        assert!(compare_result(&ev, &missing, (0, 0, 0)).is_err());
        let wrong_name = Value::Vector(vec![
            vs(&[("a", "1")], 1.0),
            vs(&[("__name__", "x"), ("a", "2")], f64::NAN),
        ]);
        assert!(compare_result(&ev, &wrong_name, (0, 0, 0)).is_err());
        let scalar = Value::Scalar { t: 0, v: 1.0 };
        assert!(compare_result(&ev, &scalar, (0, 0, 0)).is_err());
    }

    #[test]
    fn ordered_comparison() {
        let ev = eval_of("eval_ordered instant at 0 x\n  x{a=\"1\"} 1\n  x{a=\"2\"} 2\n");
        let good = Value::Vector(vec![
            vs(&[("__name__", "x"), ("a", "1")], 1.0),
            vs(&[("__name__", "x"), ("a", "2")], 2.0),
        ]);
        let bad = Value::Vector(vec![
            vs(&[("__name__", "x"), ("a", "2")], 2.0),
            vs(&[("__name__", "x"), ("a", "1")], 1.0),
        ]);
        assert!(compare_result(&ev, &good, (0, 0, 0)).is_ok());
        assert!(compare_result(&ev, &bad, (0, 0, 0)).is_err());
    }

    #[test]
    fn matrix_comparison() {
        let ev = eval_of("eval range from 0 to 2m step 1m x\n  x 1 _ 3\n");
        let series = |points: Vec<(i64, f64)>| {
            Value::Matrix(vec![RangeSeries {
                labels: Labels::from_pairs(&[("__name__", "x")]),
                points,
                histograms: vec![],
            }])
        };
        let spec = (0, 120_000, 60_000);
        assert!(compare_result(&ev, &series(vec![(0, 1.0), (120_000, 3.0)]), spec).is_ok());
        assert!(compare_result(&ev, &series(vec![(0, 1.0), (60_000, 3.0)]), spec).is_err());
        assert!(compare_result(
            &ev,
            &series(vec![(0, 1.0), (60_000, 2.0), (120_000, 3.0)]),
            spec
        )
        .is_err());
        assert!(compare_result(&ev, &Value::Matrix(vec![]), spec).is_err());
        let too_many = eval_of("eval range from 0 to 1m step 1m x\n  x 1 2 3\n");
        assert!(compare_result(
            &too_many,
            &series(vec![(0, 1.0), (60_000, 2.0)]),
            (0, 60_000, 60_000)
        )
        .is_err());
        let empty = eval_of("eval range from 0 to 1m step 1m x\n");
        assert!(compare_result(&empty, &Value::Matrix(vec![]), (0, 60_000, 60_000)).is_ok());
    }

    #[test]
    fn scalar_string_and_failures() {
        let ev = eval_of("eval instant at 0 1\n  1\n");
        assert!(compare_result(&ev, &Value::Scalar { t: 0, v: 1.0 }, (0, 0, 0)).is_ok());
        assert!(compare_result(&ev, &Value::Scalar { t: 0, v: 2.0 }, (0, 0, 0)).is_err());
        let ev = eval_of("eval instant at 0 \"a\"\n  expect string \"a\"\n");
        assert!(compare_result(
            &ev,
            &Value::String {
                t: 0,
                s: "a".into()
            },
            (0, 0, 0)
        )
        .is_ok());
        assert!(compare_result(
            &ev,
            &Value::String {
                t: 0,
                s: "b".into()
            },
            (0, 0, 0)
        )
        .is_err());
        let ev = eval_of("eval instant at 0 x\n  expect fail regex: bad.*thing\n");
        assert!(check_expected_failure(&ev, "a bad thing").is_ok());
        assert!(check_expected_failure(&ev, "fine").is_err());
        let ev = eval_of("eval_fail instant at 0 x\n  expected_fail_message exact\n");
        assert!(check_expected_failure(&ev, "exact").is_ok());
        assert!(check_expected_failure(&ev, "exact!").is_err());
    }

    #[test]
    fn annotations() {
        let qr = |w: &[&str], i: &[&str]| QueryResult {
            value: Value::Vector(vec![]),
            warnings: w.iter().map(|s| s.to_string()).collect(),
            infos: i.iter().map(|s| s.to_string()).collect(),
        };
        let ev = eval_of("eval instant at 0 x\n  expect warn msg: w1\n  expect no_info\n");
        assert!(check_annotations(&ev, &qr(&["w1"], &[])).is_ok());
        assert!(check_annotations(&ev, &qr(&[], &[])).is_err());
        assert!(check_annotations(&ev, &qr(&["w1", "w2"], &[])).is_err());
        assert!(check_annotations(&ev, &qr(&["w1"], &["i"])).is_err());
        let ev = eval_of("eval_info instant at 0 x\n");
        assert!(check_annotations(&ev, &qr(&[], &[])).is_err());
        assert!(check_annotations(&ev, &qr(&["w"], &["i"])).is_ok());
    }
}
