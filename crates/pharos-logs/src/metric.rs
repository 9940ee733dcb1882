//! Evaluation of LogQL metric queries over the store.
//!
//! [`eval_range`] answers a range query (a matrix, one point per step) and
//! [`eval_instant`] an instant query (a vector at one time). Every node of the
//! query is evaluated for all steps at once: a range aggregation fetches its
//! log entries once for the whole span `[start - range - offset, end - offset]`
//! with [`select_logs`] and slides the window `(t - range - offset, t - offset]`
//! over each series' sorted timestamps; vector aggregations and binary
//! operators then work step by step. A query stops with
//! [`QueryError::TimedOut`] (as [`MetricError::Query`]) once its
//! [`Deadline`] has passed: the reads look at it as they go, the evaluation
//! after every node and while it walks the steps.
//!
//! Supported, with Loki's semantics:
//! - range aggregations: `count_over_time`, `rate`, `bytes_over_time`,
//!   `bytes_rate`, `absent_over_time` (1, labelled with the selector's
//!   equality matchers, at steps where no series has a sample), and with
//!   `| unwrap`: `sum_over_time`, `avg_over_time`, `min_over_time`,
//!   `max_over_time`, `stdvar_over_time`, `stddev_over_time`,
//!   `quantile_over_time`, `first_over_time`, `last_over_time`, `rate`
//!   (sum / range seconds) and `rate_counter` (Prometheus' extrapolated
//!   counter rate), each with `offset` and `by`/`without`;
//! - `unwrap label`, `unwrap duration(label)`/`duration_seconds(label)`
//!   (seconds) and `unwrap bytes(label)` (bytes), then the post-unwrap label
//!   filters. As in Loki, an entry whose label is missing or empty is
//!   skipped; a value that does not convert marks the series with
//!   `__error__="SampleExtractionErr"` (and `__error_details__`) so a post
//!   filter such as `| __error__=""` can drop it; a series that still carries
//!   `__error__` when it reaches the range aggregation fails the query with
//!   Loki's pipeline error (a `by`/`without` clause does not hide it, as in
//!   Loki). The unwrapped label is removed from the series after the post
//!   filters ran.
//! - vector aggregations `sum`, `avg`, `min`, `max`, `stddev`, `stdvar`,
//!   `count`, `topk`, `bottomk`, `sort`, `sort_desc` with `by`/`without`;
//! - binary operators between vectors and scalars with Prometheus' matching
//!   rules (`on`/`ignoring`, `group_left`/`group_right` with include labels,
//!   `bool`, `and`/`or`/`unless`); division and modulo by zero give NaN, as
//!   Loki computes them;
//! - number literals, `vector(n)` and `label_replace`;
//! - Loki's limit of 11,000 points per series for range queries.
//!
//! Differences from Loki:
//! - A query that is only a scalar (`2 * 3`) answers as one series without
//!   labels instead of a scalar result type; the caller can tell from
//!   [`MetricExpr::const_value`].
//! - `rate_counter` extrapolates to the actual window bounds
//!   (`t - range - offset`, `t - offset`), as newer Loki versions and
//!   Prometheus do, and gives 0 with fewer than two samples.
//! - Post-unwrap numeric, duration and byte filters on a value that does not
//!   convert drop the series instead of adding a second `__error__`.
//! - Not implemented: the `ip()` label filter after unwrap (never passes),
//!   the per-query series limit, and `label_replace`'s duplicate-series check
//!   reports only within one step.

use std::collections::{BTreeMap, HashMap, HashSet};

use pharos_model::{Label, Labels, MatchOp};
use regex::Regex;

use crate::deadline::{Deadline, Pacer};
use crate::logql::{
    BinaryExpr, BinaryOp, Cardinality, Grouping, LabelFilterExpr, LabelReplace, MetricExpr,
    RangeAggregation, RangeOp, UnwrapConversion, VectorAggregation, VectorMatching, VectorOp,
};
use crate::pipeline::Pipeline;
use crate::query::{required_literals, select_logs, Direction, QueryError};
use crate::store::LogStore;

/// Loki's default maximum number of points per series of a range query.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// The label Loki sets when a stage fails on an entry.
pub const ERROR_LABEL: &str = "__error__";
/// The label holding the details of [`ERROR_LABEL`].
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";
/// The value of [`ERROR_LABEL`] when an unwrapped value does not convert.
pub const SAMPLE_EXTRACTION_ERR: &str = "SampleExtractionErr";

/// One series of a range query's answer: its labels and its points
/// (timestamp in nanoseconds, value), in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series labels.
    pub labels: Labels,
    /// `(timestamp ns, value)` at the steps where the series has a value.
    pub points: Vec<(i64, f64)>,
}

/// One sample of an instant query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series labels.
    pub labels: Labels,
    /// The value.
    pub value: f64,
}

/// Why a metric query could not be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// The log selection failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// More steps than Loki allows per series.
    #[error("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")]
    TooManyPoints,
    /// The step is zero or negative.
    #[error(
        "zero or negative query resolution step widths are not accepted. Try a positive integer"
    )]
    BadStep,
    /// The end is before the start.
    #[error("end timestamp must not be before start time")]
    EndBeforeStart,
    /// A series reached a range aggregation with an `__error__` label.
    #[error("pipeline error: '{error}' for series: '{series}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{error}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n")]
    Pipeline {
        /// The value of `__error__`.
        error: String,
        /// The series labels.
        series: String,
    },
    /// Vector matching failed (duplicates on the "one" side, ...).
    #[error("{0}")]
    Matching(String),
    /// An invalid expression (a set operator with a scalar, a bad label name).
    #[error("{0}")]
    Invalid(String),
    /// A regular expression of `label_replace` does not compile.
    #[error("invalid regular expression {pattern:?} in label_replace(): {reason}")]
    BadRegex {
        /// The expression.
        pattern: String,
        /// The compiler's message.
        reason: String,
    },
}

/// Evaluates `expr` at every step `start_ns, start_ns + step_ns, ...` up to
/// `end_ns` (inclusive) and answers a matrix sorted by labels; stops at
/// `deadline`.
pub fn eval_range(
    store: &LogStore,
    expr: &MetricExpr,
    start_ns: i64,
    end_ns: i64,
    step_ns: i64,
    deadline: Deadline,
) -> Result<Vec<Series>, MetricError> {
    if step_ns <= 0 {
        return Err(MetricError::BadStep);
    }
    if end_ns < start_ns {
        return Err(MetricError::EndBeforeStart);
    }
    // Loki's check: (end - start) / step > max points.
    if (end_ns - start_ns) / step_ns > MAX_POINTS_PER_SERIES {
        return Err(MetricError::TooManyPoints);
    }
    let mut steps = Vec::new();
    let mut t = start_ns;
    while t <= end_ns {
        steps.push(t);
        match t.checked_add(step_ns) {
            Some(n) => t = n,
            None => break,
        }
    }
    let per_step = to_vectors(eval(store, expr, &steps, deadline)?, steps.len());
    let mut matrix: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for (t, vec) in steps.iter().zip(per_step) {
        for s in vec {
            matrix.entry(s.labels).or_default().push((*t, s.value));
        }
    }
    Ok(matrix
        .into_iter()
        .map(|(labels, points)| Series { labels, points })
        .collect())
}

/// Evaluates `expr` at `t_ns` and answers a vector, sorted by labels unless
/// the outermost operation is `sort` or `sort_desc` (as Loki does); stops
/// at `deadline`.
pub fn eval_instant(
    store: &LogStore,
    expr: &MetricExpr,
    t_ns: i64,
    deadline: Deadline,
) -> Result<Vec<Sample>, MetricError> {
    let mut v = to_vectors(eval(store, expr, &[t_ns], deadline)?, 1)
        .pop()
        .unwrap_or_default();
    let sorted_by_value = matches!(
        expr,
        MetricExpr::VectorAggregation(a) if matches!(a.op, VectorOp::Sort | VectorOp::SortDesc)
    );
    if !sorted_by_value {
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
    Ok(v)
}

/// The value of a node at every step.
enum Value {
    /// The same number at every step.
    Scalar(f64),
    /// One vector per step.
    Vectors(Vec<Vec<Sample>>),
}

fn to_vectors(v: Value, n: usize) -> Vec<Vec<Sample>> {
    match v {
        Value::Scalar(x) => (0..n)
            .map(|_| {
                vec![Sample {
                    labels: Labels::empty(),
                    value: x,
                }]
            })
            .collect(),
        Value::Vectors(v) => v,
    }
}

fn eval(
    store: &LogStore,
    expr: &MetricExpr,
    steps: &[i64],
    deadline: Deadline,
) -> Result<Value, MetricError> {
    if let Some(c) = expr.const_value() {
        return Ok(Value::Scalar(c));
    }
    let value = match expr {
        MetricExpr::Literal(v) => Value::Scalar(*v),
        MetricExpr::Vector(v) => Value::Vectors(to_vectors(Value::Scalar(*v), steps.len())),
        MetricExpr::RangeAggregation(ra) => {
            Value::Vectors(range_aggregation(store, ra, steps, deadline)?)
        }
        MetricExpr::VectorAggregation(va) => {
            let inner = to_vectors(eval(store, &va.expr, steps, deadline)?, steps.len());
            Value::Vectors(
                inner
                    .into_iter()
                    .map(|v| vector_aggregation(va, v))
                    .collect(),
            )
        }
        MetricExpr::Binary(b) => {
            let l = eval(store, &b.lhs, steps, deadline)?;
            let r = eval(store, &b.rhs, steps, deadline)?;
            binary(b, l, r)?
        }
        MetricExpr::LabelReplace(lr) => {
            let inner = to_vectors(eval(store, &lr.expr, steps, deadline)?, steps.len());
            Value::Vectors(label_replace(lr, inner)?)
        }
    };
    deadline.check().map_err(QueryError::from)?;
    Ok(value)
}

// ---------------------------------------------------------------------------
// Range aggregations

fn range_aggregation(
    store: &LogStore,
    ra: &RangeAggregation,
    steps: &[i64],
    deadline: Deadline,
) -> Result<Vec<Vec<Sample>>, MetricError> {
    let mut out: Vec<Vec<Sample>> = vec![Vec::new(); steps.len()];
    let (Some(&first), Some(&last)) = (steps.first(), steps.last()) else {
        return Ok(out);
    };
    let range_ns = i64::try_from(ra.range.range.as_nanos()).unwrap_or(i64::MAX);
    let off = ra.range.offset_nanos;
    // Windows are (t - range - off, t - off]; select_logs reads [from, to).
    let from = first
        .saturating_sub(range_ns)
        .saturating_sub(off)
        .saturating_add(1);
    let to = last.saturating_sub(off).saturating_add(1);
    if let Some(out) = counting_range(store, ra, steps, from, to, deadline)? {
        return Ok(out);
    }
    let streams = select_logs(
        store,
        &ra.range.selector,
        from,
        to,
        0,
        Direction::Forward,
        deadline,
    )?;

    let bytes = matches!(ra.op, RangeOp::BytesOverTime | RangeOp::BytesRate);
    let mut series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    let mut pacer = Pacer::new(deadline);
    let timed_out = |p: &Pacer| MetricError::Query(p.timed_out().into());
    for s in streams {
        if pacer.tick(s.entries.len()) {
            return Err(timed_out(&pacer));
        }
        let (labels, value) = match &ra.range.unwrap {
            None => (s.labels, None),
            Some(u) => {
                let raw = s.labels.get(&u.label).unwrap_or("");
                if raw.is_empty() {
                    // Loki skips entries without the unwrapped label.
                    continue;
                }
                let mut b = s.labels.builder();
                let v = match convert(raw, u.conversion) {
                    Ok(v) => v,
                    Err(details) => {
                        b.set(ERROR_LABEL, SAMPLE_EXTRACTION_ERR);
                        b.set(ERROR_DETAILS_LABEL, &details);
                        0.0
                    }
                };
                // The post filters still see the unwrapped label.
                let before = b.build();
                if !u.post_filters.iter().all(|f| label_filter(f, &before)) {
                    continue;
                }
                let labels = b.del(&u.label).build();
                (labels, Some(v))
            }
        };
        if let Some(err) = labels.get(ERROR_LABEL) {
            return Err(MetricError::Pipeline {
                error: err.to_string(),
                series: labels.to_string(),
            });
        }
        let key = match &ra.grouping {
            Some(g) => group_key(&labels, g),
            None => labels,
        };
        let points = series.entry(key).or_default();
        points.extend(s.entries.iter().map(|e| {
            let v = match value {
                Some(v) => v,
                None if bytes => e.line.len() as f64,
                None => 1.0,
            };
            (e.ts, v)
        }));
    }
    for points in series.values_mut() {
        points.sort_by_key(|p| p.0);
    }

    let range_s = range_ns as f64 / 1e9;
    for (i, &t) in steps.iter().enumerate() {
        if pacer.tick(series.len()) {
            return Err(timed_out(&pacer));
        }
        let hi_t = t.saturating_sub(off);
        let lo_t = hi_t.saturating_sub(range_ns);
        let mut any = false;
        for (labels, points) in &series {
            let lo = points.partition_point(|p| p.0 <= lo_t);
            let hi = points.partition_point(|p| p.0 <= hi_t);
            if hi <= lo {
                continue;
            }
            any = true;
            if ra.op == RangeOp::AbsentOverTime {
                break;
            }
            let w = &points[lo..hi];
            let value = window_value(ra, w, lo_t, hi_t, range_s);
            out[i].push(Sample {
                labels: labels.clone(),
                value,
            });
        }
        if ra.op == RangeOp::AbsentOverTime && !any {
            out[i].push(Sample {
                labels: absent_labels(ra),
                value: 1.0,
            });
        }
    }
    Ok(out)
}

/// Range functions that only count entries or their bytes over a
/// selector whose pipeline only filters lines (`count_over_time`, `rate`,
/// `bytes_over_time`, `bytes_rate`, `absent_over_time`, no `unwrap`), the
/// dashboard staple: entries are streamed from the store into per-step sums
/// without being collected, and lines are not even read when nothing needs
/// them. `None` when the query is not of this kind.
fn counting_range(
    store: &LogStore,
    ra: &RangeAggregation,
    steps: &[i64],
    from: i64,
    to: i64,
    deadline: Deadline,
) -> Result<Option<Vec<Vec<Sample>>>, MetricError> {
    let counting = matches!(
        ra.op,
        RangeOp::CountOverTime
            | RangeOp::Rate
            | RangeOp::BytesOverTime
            | RangeOp::BytesRate
            | RangeOp::AbsentOverTime
    );
    if !counting || ra.range.unwrap.is_some() {
        return Ok(None);
    }
    let sel = &ra.range.selector;
    let pipeline = Pipeline::new(&sel.stages).map_err(QueryError::from)?;
    if !pipeline.is_line_filter_only() {
        return Ok(None);
    }
    let bytes = matches!(ra.op, RangeOp::BytesOverTime | RangeOp::BytesRate);
    let filters = !pipeline.is_empty();
    let contains = required_literals(&sel.stages);
    let range_ns = i64::try_from(ra.range.range.as_nanos()).unwrap_or(i64::MAX);
    let off = ra.range.offset_nanos;
    let key_of = |labels: &Labels| match &ra.grouping {
        Some(g) => group_key(labels, g),
        None => labels.clone(),
    };
    // Per series: the sum per step, and whether the step saw an entry;
    // one such table per reading thread, merged at the end.
    struct Sums {
        index: HashMap<Labels, usize>,
        sums: Vec<(Vec<f64>, Vec<bool>)>,
        scratch: Vec<Label>,
        pacer: Pacer,
    }
    impl Sums {
        fn new(deadline: Deadline) -> Sums {
            Sums {
                index: HashMap::new(),
                sums: Vec::new(),
                scratch: Vec::new(),
                pacer: Pacer::new(deadline),
            }
        }

        fn slot(&mut self, n: usize, key: Labels) -> usize {
            let sums = &mut self.sums;
            *self.index.entry(key).or_insert_with(|| {
                sums.push((vec![0.0; n], vec![false; n]));
                sums.len() - 1
            })
        }
    }
    // Evenly spaced steps (every range query): the steps of an entry are
    // computed rather than searched.
    let uniform: Option<(i64, i64)> = match steps {
        [a, b, ..] if b > a => b.checked_sub(*a).and_then(|step| {
            steps
                .windows(2)
                .all(|w| w[1].checked_sub(w[0]) == Some(step))
                .then_some((*a, step))
        }),
        _ => None,
    };
    let scan = crate::store::Scan {
        matchers: &sel.matchers,
        start_ns: from,
        end_ns: to,
        contains: &contains,
        metadata_eq: &[],
        lines: bytes || filters,
        deadline,
    };
    let visit = |acc: &mut Sums, stream: &Labels, entries: Vec<pharos_model::LogEntry>| {
        let mut base: Option<usize> = None;
        for e in entries {
            if acc.pacer.tick(1) {
                return;
            }
            if filters && !pipeline.keeps_line(&e.line) {
                continue;
            }
            let v = if bytes { e.line.len() as f64 } else { 1.0 };
            let at = if e.metadata.is_empty() {
                match base {
                    Some(b) => b,
                    None => {
                        let b = acc.slot(steps.len(), key_of(stream));
                        base = Some(b);
                        b
                    }
                }
            } else {
                // Structured metadata joins the series' labels.
                let mut scratch = std::mem::take(&mut acc.scratch);
                scratch.clear();
                scratch.extend(stream.iter().cloned());
                for (k, val) in &e.metadata {
                    if stream.get(k).is_none() {
                        scratch.push(Label {
                            name: k.clone(),
                            value: val.clone(),
                        });
                    }
                }
                let key = key_of(&Labels::from_vec(scratch));
                acc.slot(steps.len(), key)
            };
            // Steps t whose window (t - off - range, t - off] holds ts:
            // ts + off <= t < ts + off + range.
            let (lo, hi) = match uniform {
                Some((first, step)) => {
                    let n = steps.len() as i64;
                    // ceil(a / step), within 0..=n.
                    let ceil = |a: i64| {
                        if a <= 0 {
                            0
                        } else {
                            ((a - 1) / step + 1).min(n) as usize
                        }
                    };
                    let from = e.ts.saturating_add(off).saturating_sub(first);
                    (ceil(from), ceil(from.saturating_add(range_ns)))
                }
                None => (
                    steps.partition_point(|&t| t.saturating_sub(off) < e.ts),
                    steps.partition_point(|&t| {
                        t.saturating_sub(off).saturating_sub(range_ns) < e.ts
                    }),
                ),
            };
            let (vals, seen) = &mut acc.sums[at];
            for k in lo..hi {
                vals[k] += v;
                seen[k] = true;
            }
        }
    };
    let threads = crate::store::read_threads();
    let parts = store
        .scan_parallel(&scan, threads, || Sums::new(deadline), visit)
        .map_err(QueryError::from)?;
    if let Some(p) = parts.iter().find(|p| p.pacer.expired()) {
        return Err(QueryError::from(p.pacer.timed_out()).into());
    }
    // Merge the tables.
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut sums: Vec<(Vec<f64>, Vec<bool>)> = Vec::new();
    for part in parts {
        for (labels, at) in part.index {
            let (pv, ps) = &part.sums[at];
            match index.get(&labels) {
                Some(&i) => {
                    let (v, s) = &mut sums[i];
                    for k in 0..steps.len() {
                        v[k] += pv[k];
                        s[k] |= ps[k];
                    }
                }
                None => {
                    index.insert(labels, sums.len());
                    sums.push((pv.clone(), ps.clone()));
                }
            }
        }
    }
    let mut series: Vec<(Labels, usize)> = index.into_iter().collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let range_s = range_ns as f64 / 1e9;
    let mut out: Vec<Vec<Sample>> = vec![Vec::new(); steps.len()];
    let mut pacer = Pacer::new(deadline);
    for (k, o) in out.iter_mut().enumerate() {
        if pacer.tick(series.len()) {
            return Err(QueryError::from(pacer.timed_out()).into());
        }
        let mut any = false;
        for (labels, at) in &series {
            let (vals, seen) = &sums[*at];
            if !seen[k] {
                continue;
            }
            any = true;
            let value = match ra.op {
                RangeOp::Rate | RangeOp::BytesRate => vals[k] / range_s,
                _ => vals[k],
            };
            if ra.op != RangeOp::AbsentOverTime {
                o.push(Sample {
                    labels: labels.clone(),
                    value,
                });
            }
        }
        if ra.op == RangeOp::AbsentOverTime && !any {
            o.push(Sample {
                labels: absent_labels(ra),
                value: 1.0,
            });
        }
    }
    Ok(Some(out))
}

/// The value of a range function over a non-empty window.
fn window_value(
    ra: &RangeAggregation,
    w: &[(i64, f64)],
    lo_t: i64,
    hi_t: i64,
    range_s: f64,
) -> f64 {
    let vals = || w.iter().map(|p| p.1);
    let sum = || vals().sum::<f64>();
    let n = w.len() as f64;
    match ra.op {
        RangeOp::CountOverTime => n,
        RangeOp::Rate if ra.range.unwrap.is_none() => n / range_s,
        RangeOp::Rate | RangeOp::BytesRate => sum() / range_s,
        RangeOp::BytesOverTime | RangeOp::SumOverTime => sum(),
        RangeOp::AvgOverTime => sum() / n,
        RangeOp::MinOverTime => {
            vals().fold(f64::NAN, |m, v| if v < m || m.is_nan() { v } else { m })
        }
        RangeOp::MaxOverTime => {
            vals().fold(f64::NAN, |m, v| if v > m || m.is_nan() { v } else { m })
        }
        RangeOp::StdvarOverTime => variance(vals()),
        RangeOp::StddevOverTime => variance(vals()).sqrt(),
        RangeOp::QuantileOverTime => quantile(ra.param.unwrap_or(f64::NAN), vals().collect()),
        RangeOp::FirstOverTime => w.first().map_or(f64::NAN, |p| p.1),
        RangeOp::LastOverTime => w.last().map_or(f64::NAN, |p| p.1),
        RangeOp::RateCounter => counter_rate(w, lo_t, hi_t, range_s),
        RangeOp::AbsentOverTime => 1.0,
    }
}

/// Population variance (Welford).
fn variance(vals: impl Iterator<Item = f64>) -> f64 {
    let (mut n, mut mean, mut aux) = (0.0, 0.0, 0.0);
    for v in vals {
        n += 1.0;
        let d = v - mean;
        mean += d / n;
        aux += d * (v - mean);
    }
    aux / n
}

/// The φ-quantile with linear interpolation between the closest ranks, as
/// Prometheus and Loki compute it; -Inf below 0, +Inf above 1.
fn quantile(q: f64, mut v: Vec<f64>) -> f64 {
    if v.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len() as f64;
    let rank = q * (n - 1.0);
    let lo = rank.floor().max(0.0);
    let hi = (lo + 1.0).min(n - 1.0);
    let w = rank - rank.floor();
    v[lo as usize] * (1.0 - w) + v[hi as usize] * w
}

/// Prometheus' extrapolated per-second rate of a counter over the window
/// `(lo_t, hi_t]`; 0 with fewer than two samples, as Loki answers.
fn counter_rate(w: &[(i64, f64)], lo_t: i64, hi_t: i64, range_s: f64) -> f64 {
    let (Some(&(t0, v0)), Some(&(tn, vn))) = (w.first(), w.last()) else {
        return 0.0;
    };
    if w.len() < 2 {
        return 0.0;
    }
    let mut result = vn - v0;
    let mut prev = 0.0;
    for &(_, v) in w {
        if v < prev {
            result += prev;
        }
        prev = v;
    }
    let mut to_start = (t0 - lo_t) as f64 / 1e9;
    let to_end = (hi_t - tn) as f64 / 1e9;
    let sampled = (tn - t0) as f64 / 1e9;
    let avg = sampled / (w.len() - 1) as f64;
    if result > 0.0 && v0 >= 0.0 {
        let to_zero = sampled * (v0 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg / 2.0
    };
    result * (interval / sampled) / range_s
}

/// The labels of `absent_over_time`: the selector's equality matchers, minus
/// any label named by another matcher too.
fn absent_labels(ra: &RangeAggregation) -> Labels {
    let ms = &ra.range.selector.matchers;
    let mut b = Labels::empty().builder();
    let mut other = Vec::new();
    for m in ms {
        if m.op == MatchOp::Equal && b.get(&m.name).is_none() {
            b.set(&m.name, &m.value);
        } else {
            other.push(m.name.as_str());
        }
    }
    for n in other {
        b.del(n);
    }
    b.build()
}

/// Converts an unwrapped label value; the error is `__error_details__`.
fn convert(raw: &str, conv: Option<UnwrapConversion>) -> Result<f64, String> {
    match conv {
        None => raw
            .parse::<f64>()
            .map_err(|_| format!("strconv.ParseFloat: parsing {raw:?}: invalid syntax")),
        Some(UnwrapConversion::Duration | UnwrapConversion::DurationSeconds) => {
            crate::pipeline::go_duration_ns(raw)
                .map(|ns| ns as f64 / 1e9)
                .ok_or_else(|| format!("time: invalid duration {raw:?}"))
        }
        Some(UnwrapConversion::Bytes) => crate::pipeline::bytes_of(raw)
            .ok_or_else(|| format!("strconv.ParseFloat: parsing {raw:?}: invalid syntax")),
    }
}

/// A post-unwrap label filter over a series' labels.
fn label_filter(f: &LabelFilterExpr, labels: &Labels) -> bool {
    let get = |n: &str| labels.get(n).unwrap_or("");
    match f {
        LabelFilterExpr::And(a, b) => label_filter(a, labels) && label_filter(b, labels),
        LabelFilterExpr::Or(a, b) => label_filter(a, labels) || label_filter(b, labels),
        LabelFilterExpr::Matcher(m) => m.matches(get(&m.name)),
        LabelFilterExpr::Number { label, op, value } => {
            get(label).parse::<f64>().is_ok_and(|v| op.holds(v, *value))
        }
        LabelFilterExpr::Duration { label, op, nanos } => {
            crate::pipeline::go_duration_ns(get(label)).is_some_and(|v| op.holds(v, *nanos))
        }
        LabelFilterExpr::Bytes { label, op, bytes } => {
            crate::pipeline::bytes_of(get(label)).is_some_and(|v| op.holds(v, *bytes as f64))
        }
        LabelFilterExpr::Ip { .. } => false,
    }
}

// ---------------------------------------------------------------------------
// Vector aggregations

/// The labels kept by `by (...)` or left by `without (...)`.
fn group_key(labels: &Labels, g: &Grouping) -> Labels {
    let listed = |l: &Label| g.labels.contains(&l.name);
    Labels::from_sorted_unchecked(
        labels
            .iter()
            .filter(|l| listed(l) != g.without)
            .cloned()
            .collect(),
    )
}

fn vector_aggregation(va: &VectorAggregation, mut v: Vec<Sample>) -> Vec<Sample> {
    let desc = |a: &Sample, b: &Sample| {
        // NaN sorts last in both directions, as Prometheus keeps it.
        match (a.value.is_nan(), b.value.is_nan()) {
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => b.value.total_cmp(&a.value),
        }
    };
    let asc = |a: &Sample, b: &Sample| match (a.value.is_nan(), b.value.is_nan()) {
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.value.total_cmp(&b.value),
    };
    match va.op {
        VectorOp::Sort => {
            v.sort_by(asc);
            return v;
        }
        VectorOp::SortDesc => {
            v.sort_by(desc);
            return v;
        }
        _ => {}
    }
    let mut groups: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for s in v {
        groups
            .entry(group_key(&s.labels, &va.grouping))
            .or_default()
            .push(s);
    }
    let mut out = Vec::new();
    for (key, mut g) in groups {
        let vals = || g.iter().map(|s| s.value);
        let n = g.len() as f64;
        let value = match va.op {
            VectorOp::Topk | VectorOp::Bottomk => {
                let k = usize::try_from(va.param.unwrap_or(1)).unwrap_or(usize::MAX);
                if va.op == VectorOp::Topk {
                    g.sort_by(desc);
                } else {
                    g.sort_by(asc);
                }
                g.truncate(k);
                out.extend(g);
                continue;
            }
            VectorOp::Sum => vals().sum(),
            VectorOp::Avg => vals().sum::<f64>() / n,
            VectorOp::Count => n,
            VectorOp::Min => vals().fold(f64::NAN, |m, v| if v < m || m.is_nan() { v } else { m }),
            VectorOp::Max => vals().fold(f64::NAN, |m, v| if v > m || m.is_nan() { v } else { m }),
            VectorOp::Stdvar => variance(vals()),
            VectorOp::Stddev => variance(vals()).sqrt(),
            VectorOp::Sort | VectorOp::SortDesc => continue,
        };
        out.push(Sample { labels: key, value });
    }
    out
}

// ---------------------------------------------------------------------------
// Binary operators

fn compare(op: BinaryOp, l: f64, r: f64) -> Option<bool> {
    Some(match op {
        BinaryOp::Eq => l == r,
        BinaryOp::Ne => l != r,
        BinaryOp::Gt => l > r,
        BinaryOp::Ge => l >= r,
        BinaryOp::Lt => l < r,
        BinaryOp::Le => l <= r,
        _ => return None,
    })
}

/// `l op r` for two numbers: `Some(value)` to keep a sample, `None` to drop
/// it (a false comparison without `bool`). `keep` is the value a kept
/// comparison answers (the vector side's value).
fn elem(op: BinaryOp, return_bool: bool, l: f64, r: f64, keep: f64) -> Option<f64> {
    match compare(op, l, r) {
        Some(c) if return_bool => Some(if c { 1.0 } else { 0.0 }),
        Some(true) => Some(keep),
        Some(false) => None,
        None => op.arith(l, r),
    }
}

fn binary(b: &BinaryExpr, l: Value, r: Value) -> Result<Value, MetricError> {
    if b.op.is_set_operator() && (matches!(l, Value::Scalar(_)) || matches!(r, Value::Scalar(_))) {
        return Err(MetricError::Invalid(format!(
            "set operator \"{}\" not allowed in binary scalar expression",
            b.op.as_str()
        )));
    }
    Ok(match (l, r) {
        (Value::Scalar(x), Value::Scalar(y)) => Value::Scalar(match compare(b.op, x, y) {
            Some(c) => f64::from(u8::from(c)),
            None => b.op.arith(x, y).unwrap_or(f64::NAN),
        }),
        (Value::Vectors(v), Value::Scalar(y)) => Value::Vectors(
            v.into_iter()
                .map(|vec| {
                    vec.into_iter()
                        .filter_map(|s| {
                            let value = elem(b.op, b.return_bool, s.value, y, s.value)?;
                            Some(Sample {
                                labels: s.labels,
                                value,
                            })
                        })
                        .collect()
                })
                .collect(),
        ),
        (Value::Scalar(x), Value::Vectors(v)) => Value::Vectors(
            v.into_iter()
                .map(|vec| {
                    vec.into_iter()
                        .filter_map(|s| {
                            let value = elem(b.op, b.return_bool, x, s.value, s.value)?;
                            Some(Sample {
                                labels: s.labels,
                                value,
                            })
                        })
                        .collect()
                })
                .collect(),
        ),
        (Value::Vectors(lv), Value::Vectors(rv)) => Value::Vectors(
            lv.into_iter()
                .zip(rv)
                .map(|(l, r)| vector_binary(b, l, r))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// The matching signature of a sample's labels.
fn signature(labels: &Labels, m: Option<&VectorMatching>) -> Labels {
    match m {
        None => labels.clone(),
        Some(m) => group_key(
            labels,
            &Grouping {
                without: !m.on,
                labels: m.labels.clone(),
            },
        ),
    }
}

fn vector_binary(
    b: &BinaryExpr,
    l: Vec<Sample>,
    r: Vec<Sample>,
) -> Result<Vec<Sample>, MetricError> {
    let m = b.matching.as_ref();
    match b.op {
        BinaryOp::And | BinaryOp::Unless => {
            let rs: HashSet<Labels> = r.iter().map(|s| signature(&s.labels, m)).collect();
            let want = b.op == BinaryOp::And;
            return Ok(l
                .into_iter()
                .filter(|s| rs.contains(&signature(&s.labels, m)) == want)
                .collect());
        }
        BinaryOp::Or => {
            let ls: HashSet<Labels> = l.iter().map(|s| signature(&s.labels, m)).collect();
            let mut out = l;
            out.extend(
                r.into_iter()
                    .filter(|s| !ls.contains(&signature(&s.labels, m))),
            );
            return Ok(out);
        }
        _ => {}
    }
    let card = m.map_or(Cardinality::OneToOne, |m| m.card);
    // The "many" side and the "one" side; group_right swaps them.
    let (many, one, swapped) = match card {
        Cardinality::OneToMany => (r, l, true),
        _ => (l, r, false),
    };
    let mut ones: HashMap<Labels, Sample> = HashMap::new();
    for s in one {
        let sig = signature(&s.labels, m);
        if ones.contains_key(&sig) {
            return Err(MetricError::Matching(format!(
                "found duplicate series for the match group {sig} on the {} hand-side of the operation: [{}]; many-to-many matching not allowed: matching labels must be unique on one side",
                if swapped { "left" } else { "right" },
                s.labels
            )));
        }
        ones.insert(sig, s);
    }
    let mut matched: HashSet<Labels> = HashSet::new();
    let mut seen: HashSet<Labels> = HashSet::new();
    let mut out = Vec::new();
    for s in many {
        let sig = signature(&s.labels, m);
        let Some(o) = ones.get(&sig) else { continue };
        if card == Cardinality::OneToOne && !matched.insert(sig) {
            return Err(MetricError::Matching(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
            ));
        }
        let (lv, rv) = if swapped {
            (o.value, s.value)
        } else {
            (s.value, o.value)
        };
        let Some(value) = elem(b.op, b.return_bool, lv, rv, lv) else {
            continue;
        };
        let labels = result_labels(&s.labels, &o.labels, m);
        if card != Cardinality::OneToOne && !seen.insert(labels.clone()) {
            return Err(MetricError::Matching(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            ));
        }
        out.push(Sample { labels, value });
    }
    Ok(out)
}

/// The labels of a vector-matching result, from the "many" side's labels.
fn result_labels(many: &Labels, one: &Labels, m: Option<&VectorMatching>) -> Labels {
    let Some(m) = m else {
        return many.clone();
    };
    if m.card == Cardinality::OneToOne {
        return signature(many, Some(m));
    }
    let mut b = many.builder();
    for name in &m.include {
        match one.get(name) {
            Some(v) => b.set(name, v),
            None => b.del(name),
        };
    }
    b.build()
}

// ---------------------------------------------------------------------------
// label_replace

fn label_replace(
    lr: &LabelReplace,
    input: Vec<Vec<Sample>>,
) -> Result<Vec<Vec<Sample>>, MetricError> {
    if !pharos_model::is_valid_label_name(&lr.dst) {
        return Err(MetricError::Invalid(format!(
            "invalid destination label name in label_replace(): {}",
            lr.dst
        )));
    }
    let re = Regex::new(&format!("^(?s:{})$", lr.regex)).map_err(|e| MetricError::BadRegex {
        pattern: lr.regex.clone(),
        reason: e.to_string(),
    })?;
    input
        .into_iter()
        .map(|vec| {
            let mut seen = HashSet::new();
            let mut out = Vec::with_capacity(vec.len());
            for s in vec {
                let src = s.labels.get(&lr.src).unwrap_or("");
                let labels = match re.captures(src) {
                    Some(c) => {
                        let mut res = String::new();
                        c.expand(&lr.replacement, &mut res);
                        let mut b = s.labels.builder();
                        b.set(&lr.dst, &res);
                        b.build()
                    }
                    None => s.labels,
                };
                if !seen.insert(labels.clone()) {
                    return Err(MetricError::Invalid(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
                out.push(Sample {
                    labels,
                    value: s.value,
                });
            }
            Ok(out)
        })
        .collect()
}

#[cfg(test)]
mod tests;
