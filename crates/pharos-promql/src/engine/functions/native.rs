//! Native histogram math of PromQL functions (quantile, fraction, stddev, rates, trims).
//!
//! Pure functions over [`FloatHistogram`], following Prometheus's
//! `promql/quantile.go` (`HistogramQuantile`, `HistogramFraction`),
//! `promql/functions.go` (`histogramRate`, `instantValue`, `histogramVariance`,
//! `sum_over_time` / `avg_over_time` of histograms) and
//! `model/histogram/float_histogram.go` (`TrimBuckets`, behind `</` and `>/`).
//! Annotations are returned as [`HistNote`]s; the caller adds positions.
//!
//! # `*_over_time` with histograms (for the caller)
//!
//! What Prometheus does when a range holds native histograms:
//!
//! - `sum_over_time`, `avg_over_time`: only histograms → [`histogram_sum_over_time`]
//!   / [`histogram_avg_over_time`]; floats *and* histograms in the range → no
//!   result and the warning [`HistNote::MixedFloatsHistograms`]; only floats →
//!   the float code.
//! - `count_over_time`, `present_over_time`, `absent_over_time`: count floats
//!   and histograms alike.
//! - `last_over_time` / `first_over_time`: the latest / earliest sample, float
//!   or histogram (the float wins only if strictly later / earlier);
//!   `ts_of_last_over_time` / `ts_of_first_over_time` consider both kinds.
//! - `max_over_time`, `min_over_time`, `ts_of_max_over_time`,
//!   `ts_of_min_over_time`, `stddev_over_time`, `stdvar_over_time`,
//!   `quantile_over_time`, `mad_over_time`: floats only. No floats in the range
//!   → no result, no annotation. Floats and histograms → result from the
//!   floats plus the info "ignored histograms in a range containing both floats
//!   and histograms for metric name %q".
//! - `deriv`, `predict_linear`, `double_exponential_smoothing`: floats only;
//!   fewer than two floats → no result (plus that same info if there is exactly
//!   one float and some histograms); at least two floats and some histograms →
//!   result plus the info.
//! - `changes`, `resets`: both kinds, in time order; a switch between float and
//!   histogram counts as a change / reset; histogram resets by
//!   `FloatHistogram::detect_reset`, changes by `!FloatHistogram::equals`.
//! - `rate`, `increase`, `delta`: floats and histograms in the range → no result
//!   and [`HistNote::MixedFloatsHistograms`]; at least two histograms →
//!   [`histogram_increase`] then extrapolation (see there).
//! - `irate`, `idelta`: the last two samples; one float and one histogram → no
//!   result and [`HistNote::MixedFloatsHistograms`]; two histograms →
//!   [`histogram_irate_idelta`].

use pharos_model::histogram::{
    AddOutcome, Bucket, CounterResetHint, FloatHistogram, HistogramError, Span,
};

use super::math::kahan_inc;
use crate::parser::lexer::go_quote;

// ---------------------------------------------------------------------------
// Annotations
// ---------------------------------------------------------------------------

/// Why `histogram_quantile` raises an info about NaN observations
/// (a histogram whose sum is NaN and whose buckets hold fewer observations
/// than its count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NanObservations {
    /// "input to histogram_quantile has NaN observations, result is skewed higher"
    SkewedHigher,
    /// "input to histogram_quantile has NaN observations, result is NaN"
    ResultNaN,
}

/// The operation named by [`HistNote::MismatchedCustomBuckets`] and
/// [`HistNote::CounterResetCollision`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HistOp {
    Addition,
    Subtraction,
    Aggregation,
}

impl HistOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            HistOp::Addition => "addition",
            HistOp::Subtraction => "subtraction",
            HistOp::Aggregation => "aggregation",
        }
    }
}

/// An annotation raised by the histogram functions of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HistNote {
    /// Warning: "this native histogram metric is not a counter: %q"
    /// (rate/increase/irate on a gauge histogram; the result is still returned).
    NotCounter,
    /// Warning: "this native histogram metric is not a gauge: %q"
    /// (delta/idelta on a counter histogram; the result is still returned).
    NotGauge,
    /// Warning: "vector contains a mix of histograms with exponential and custom
    /// buckets schemas for metric name %q" (comes with no result).
    MixedExponentialCustom,
    /// Warning: "encountered a mix of histograms and floats for metric name %q"
    /// (comes with no result). Never produced by this module's functions, which
    /// only see histograms: the caller checks for floats in the range.
    MixedFloatsHistograms,
    /// Info: "mismatched custom buckets were reconciled during {op}" (no metric name).
    MismatchedCustomBuckets(HistOp),
    /// Warning: "conflicting counter resets during histogram {op}" (no metric name).
    CounterResetCollision(HistOp),
}

impl HistNote {
    /// True for a warning, false for an info.
    pub(crate) fn is_warning(self) -> bool {
        !matches!(self, HistNote::MismatchedCustomBuckets(_))
    }

    /// Prometheus's text of the annotation (without the position suffix).
    pub(crate) fn message(self, metric_name: &str) -> String {
        let name = go_quote(metric_name);
        match self {
            HistNote::NotCounter => {
                format!("PromQL warning: this native histogram metric is not a counter: {name}")
            }
            HistNote::NotGauge => {
                format!("PromQL warning: this native histogram metric is not a gauge: {name}")
            }
            HistNote::MixedExponentialCustom => format!(
                "PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas for metric name {name}"
            ),
            HistNote::MixedFloatsHistograms => format!(
                "PromQL warning: encountered a mix of histograms and floats for metric name {name}"
            ),
            HistNote::MismatchedCustomBuckets(op) => format!(
                "PromQL info: mismatched custom buckets were reconciled during {}",
                op.as_str()
            ),
            HistNote::CounterResetCollision(op) => format!(
                "PromQL warning: conflicting counter resets during histogram {}",
                op.as_str()
            ),
        }
    }
}

/// A histogram result (or none) with the annotations raised on the way.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct HistOutcome {
    /// `None`: drop this output element (the notes tell why, if anything).
    pub value: Option<FloatHistogram>,
    /// Distinct annotations, in the order they were raised.
    pub notes: Vec<HistNote>,
}

impl HistOutcome {
    fn note(&mut self, n: HistNote) {
        if !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }

    /// No result and only `n` (Prometheus drops earlier annotations there).
    fn fail(n: HistNote) -> HistOutcome {
        HistOutcome {
            value: None,
            notes: vec![n],
        }
    }
}

// ---------------------------------------------------------------------------
// histogram_quantile, histogram_fraction
// ---------------------------------------------------------------------------

fn empty_bucket() -> Bucket {
    Bucket {
        lower: 0.0,
        upper: 0.0,
        lower_inclusive: false,
        upper_inclusive: false,
        count: 0.0,
        index: 0,
    }
}

/// `histogram_quantile(q, h)` of a native histogram (Prometheus `HistogramQuantile`).
///
/// Exponential buckets interpolate exponentially (on a log2 scale), custom
/// buckets and the zero bucket linearly. The zero bucket starts (ends) at 0 if
/// the histogram has only positive (negative) buckets. In custom buckets a
/// quantile in the first bucket `(-Inf, u]` interpolates from 0 (or is `u` if
/// `u <= 0`), one in the last bucket `(l, +Inf]` is `l`.
///
/// q < 0 → -Inf, q > 1 → +Inf, NaN q or count 0 → NaN. The second value asks
/// the caller for the info annotation about NaN observations.
pub(crate) fn histogram_quantile(q: f64, h: &FloatHistogram) -> (f64, Option<NanObservations>) {
    if q < 0.0 {
        return (f64::NEG_INFINITY, None);
    }
    if q > 1.0 {
        return (f64::INFINITY, None);
    }
    if h.count == 0.0 || q.is_nan() {
        return (f64::NAN, None);
    }
    let custom = h.uses_custom_buckets();
    // NaN observations count in `count` but in no bucket, so a histogram
    // with a NaN sum is walked from the bottom.
    let forward = h.sum.is_nan() || q < 0.5;
    let (mut it, mut rank) = if forward {
        (h.all_buckets(), q * h.count)
    } else {
        (h.all_buckets_reverse(), (1.0 - q) * h.count)
    };
    let mut bucket = empty_bucket();
    let mut count = 0.0;
    for b in it.by_ref() {
        bucket = b;
        if b.count == 0.0 {
            continue;
        }
        count += b.count;
        if count >= rank {
            break;
        }
    }
    if !custom && bucket.lower < 0.0 && bucket.upper > 0.0 {
        if h.negative_buckets.is_empty() && !h.positive_buckets.is_empty() {
            bucket.lower = 0.0;
        } else if h.positive_buckets.is_empty() && !h.negative_buckets.is_empty() {
            bucket.upper = 0.0;
        }
    } else if custom {
        if bucket.lower == f64::NEG_INFINITY {
            if bucket.upper <= 0.0 {
                return (bucket.upper, None);
            }
            bucket.lower = 0.0;
        } else if bucket.upper == f64::INFINITY {
            return (bucket.lower, None);
        }
    }
    // Rounding may push the running count above the histogram's count.
    if count > h.count {
        count = h.count;
    }
    if count < rank {
        // Only NaN observations leave the rank unreached.
        if h.sum.is_nan() {
            return (f64::NAN, Some(NanObservations::ResultNaN));
        }
        return (bucket.upper, None);
    }
    if forward {
        rank -= count - bucket.count;
    } else {
        rank = count - rank;
    }
    let mut note = None;
    if h.sum.is_nan() {
        // A NaN sum with all observations in buckets came from ±Inf
        // observations, which skew nothing.
        let total = count + it.map(|b| b.count).sum::<f64>();
        if total < h.count {
            note = Some(NanObservations::SkewedHigher);
        }
    }
    let fraction = rank / bucket.count;
    if custom || (bucket.lower <= 0.0 && bucket.upper >= 0.0) {
        return (
            bucket.lower + (bucket.upper - bucket.lower) * fraction,
            note,
        );
    }
    let log_lower = bucket.lower.abs().log2();
    let log_upper = bucket.upper.abs().log2();
    let v = if bucket.lower > 0.0 {
        (log_lower + (log_upper - log_lower) * fraction).exp2()
    } else {
        -(log_upper + (log_lower - log_upper) * (1.0 - fraction)).exp2()
    };
    (v, note)
}

/// `histogram_fraction(lower, upper, h)` of a native histogram (Prometheus
/// `HistogramFraction`): the estimated share of observations between the
/// bounds, interpolating like [`histogram_quantile`].
///
/// count 0 or a NaN bound → NaN; lower >= upper → 0. The bool asks the caller
/// for the info "input to histogram_fraction has NaN observations, which are
/// excluded from all fractions for metric name %q".
pub(crate) fn histogram_fraction(lower: f64, upper: f64, h: &FloatHistogram) -> (f64, bool) {
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return (f64::NAN, false);
    }
    if lower >= upper {
        return (0.0, false);
    }
    let custom = h.uses_custom_buckets();
    let only_positive = h.negative_buckets.is_empty() && !h.positive_buckets.is_empty();
    let only_negative = h.positive_buckets.is_empty() && !h.negative_buckets.is_empty();
    let (mut count, mut rank) = (0.0, 0.0);
    let (mut lower_rank, mut upper_rank) = (0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut it = h.all_buckets();
    for mut b in it.by_ref() {
        count += b.count;
        let mut zero_bucket = false;
        if b.lower <= 0.0 && b.upper >= 0.0 {
            zero_bucket = true;
            if only_positive {
                b.lower = 0.0;
            } else if only_negative {
                b.upper = 0.0;
            }
        }
        let linear = custom || zero_bucket;
        let interpolate = |v: f64| -> f64 {
            if linear {
                if b.lower == f64::NEG_INFINITY {
                    return b.count;
                }
                rank + b.count * (v - b.lower) / (b.upper - b.lower)
            } else {
                let log_lower = b.lower.abs().log2();
                let log_upper = b.upper.abs().log2();
                let log_v = v.abs().log2();
                let fraction = if v > 0.0 {
                    (log_v - log_lower) / (log_upper - log_lower)
                } else {
                    1.0 - (log_v - log_upper) / (log_lower - log_upper)
                };
                rank + b.count * fraction
            }
        };
        if !lower_set && b.lower >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && b.lower >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && b.lower < lower && b.upper > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && b.lower < upper && b.upper > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank += b.count;
    }
    let mut nans = false;
    if h.sum.is_nan() {
        // NaN observations are in no bucket: cap the ranks at the observations
        // that are.
        count += it.map(|b| b.count).sum::<f64>();
        nans = count < h.count;
    } else {
        count = h.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    ((upper_rank - lower_rank) / h.count, nans)
}

// ---------------------------------------------------------------------------
// histogram_stddev, histogram_stdvar
// ---------------------------------------------------------------------------

/// `histogram_stdvar(h)`: the variance of the observations, taking each bucket's
/// observations at its midpoint (geometric mean of the bounds for exponential
/// buckets, 0 for the zero bucket, arithmetic mean for custom buckets) around
/// the mean `sum / count`.
pub(crate) fn histogram_stdvar(h: &FloatHistogram) -> f64 {
    let mean = h.sum / h.count;
    let custom = h.uses_custom_buckets();
    let (mut variance, mut c) = (0.0, 0.0);
    for b in h.all_buckets() {
        if b.count == 0.0 {
            continue;
        }
        let val = if custom {
            (b.upper + b.lower) / 2.0
        } else if b.lower <= 0.0 && b.upper >= 0.0 {
            0.0
        } else {
            let g = (b.upper * b.lower).sqrt();
            if b.upper < 0.0 {
                -g
            } else {
                g
            }
        };
        let delta = val - mean;
        (variance, c) = kahan_inc(b.count * delta * delta, variance, c);
    }
    (variance + c) / h.count
}

/// `histogram_stddev(h)`: the square root of [`histogram_stdvar`].
pub(crate) fn histogram_stddev(h: &FloatHistogram) -> f64 {
    histogram_stdvar(h).sqrt()
}

// ---------------------------------------------------------------------------
// Trim operators `</` and `>/`
// ---------------------------------------------------------------------------

/// `h </ bound`: keeps the observations below `bound` (Prometheus
/// `TrimBuckets(bound, true)`).
pub(crate) fn trim_upper(h: &FloatHistogram, bound: f64) -> FloatHistogram {
    trim_buckets(h, bound, true)
}

/// `h >/ bound`: keeps the observations above `bound` (Prometheus
/// `TrimBuckets(bound, false)`).
pub(crate) fn trim_lower(h: &FloatHistogram, bound: f64) -> FloatHistogram {
    trim_buckets(h, bound, false)
}

/// Position in a bucket vector of each bucket (by schema index) its spans
/// describe, walked in ascending index order.
struct SpanCursor<'a> {
    spans: &'a [Span],
    span: usize,
    in_span: u32,
    index: i32,
    pos: usize,
}

impl<'a> SpanCursor<'a> {
    fn new(spans: &'a [Span]) -> Self {
        let index = spans.first().map_or(0, |s| s.offset);
        SpanCursor {
            spans,
            span: 0,
            in_span: 0,
            index,
            pos: 0,
        }
    }

    /// The vector position of bucket `index` (indexes must not decrease).
    fn position(&mut self, index: i32) -> Option<usize> {
        while self.span < self.spans.len() {
            if self.in_span >= self.spans[self.span].length {
                self.span += 1;
                self.in_span = 0;
                match self.spans.get(self.span) {
                    Some(s) => self.index += s.offset,
                    None => return None,
                }
                continue;
            }
            if self.index == index {
                return Some(self.pos);
            }
            if self.index > index {
                return None;
            }
            self.in_span += 1;
            self.index += 1;
            self.pos += 1;
        }
        None
    }
}

/// Where one bucket ends up after trimming.
enum Trimmed {
    /// Wholly on the kept side.
    Keep,
    /// Holds the trim point: keep this count.
    Partial(f64, f64),
    /// Wholly on the removed side.
    Drop,
}

fn trim_one(b: &Bucket, rhs: f64, upper_trim: bool, positive: bool, custom: bool) -> Trimmed {
    let (keep, partial) = if upper_trim {
        (b.upper <= rhs, b.lower < rhs)
    } else {
        (b.lower >= rhs, b.upper > rhs)
    };
    if keep {
        Trimmed::Keep
    } else if partial {
        let (count, mid) = bucket_trim(b, rhs, upper_trim, positive, custom);
        Trimmed::Partial(count, mid)
    } else {
        Trimmed::Drop
    }
}

fn trim_buckets(h: &FloatHistogram, rhs: f64, upper_trim: bool) -> FloatHistogram {
    let mut out = h.clone();
    let custom = h.uses_custom_buckets();
    let (mut count, mut sum) = (0.0, 0.0);
    let mut trimmed = false;
    let mut has_positive = false;
    let mut has_negative = false;

    for positive in [true, false] {
        let (iter, spans) = if positive {
            (h.positive_buckets(), &h.positive_spans)
        } else {
            (h.negative_buckets(), &h.negative_spans)
        };
        let mut cursor = SpanCursor::new(spans);
        for b in iter {
            let Some(pos) = cursor.position(b.index) else {
                continue;
            };
            if b.count == 0.0 {
                continue;
            }
            if positive {
                has_positive = true;
            } else {
                has_negative = true;
            }
            let slots = if positive {
                &mut out.positive_buckets
            } else {
                &mut out.negative_buckets
            };
            let Some(slot) = slots.get_mut(pos) else {
                continue;
            };
            match trim_one(&b, rhs, upper_trim, positive, custom) {
                Trimmed::Keep => {
                    count += b.count;
                    sum += midpoint(b.lower, b.upper, positive, custom) * b.count;
                }
                Trimmed::Partial(keep, mid) => {
                    count += keep;
                    sum += mid * keep;
                    if *slot != keep {
                        *slot = keep;
                        trimmed = true;
                    }
                }
                Trimmed::Drop => {
                    *slot = 0.0;
                    trimmed = true;
                }
            }
        }
    }

    if out.zero_count > 0.0 {
        let (keep, mid) = zero_bucket_trim(
            out.zero_threshold,
            out.zero_count,
            rhs,
            has_negative,
            has_positive,
            upper_trim,
        );
        if out.zero_count != keep {
            out.zero_count = keep;
            trimmed = true;
        }
        sum += mid * keep;
        count += keep;
    }

    if trimmed {
        out.count = count;
        out.sum = sum;
        out.compact(0);
    }
    out
}

/// The kept count and the midpoint of the kept part of the bucket that
/// holds the trim point.
fn bucket_trim(b: &Bucket, rhs: f64, upper_trim: bool, positive: bool, custom: bool) -> (f64, f64) {
    if b.lower == f64::NEG_INFINITY || b.upper == f64::INFINITY {
        return infinite_bucket_trim(b, rhs, upper_trim);
    }
    let under = split_count(b, rhs, positive, custom);
    if upper_trim {
        (under, midpoint(b.lower, rhs, positive, custom))
    } else {
        (b.count - under, midpoint(rhs, b.upper, positive, custom))
    }
}

/// A bucket with an infinite bound has no known distribution: it is mostly
/// kept or dropped whole. The first custom bucket `(-Inf, u]` with `u > 0` is
/// taken to start at 0.
fn infinite_bucket_trim(b: &Bucket, rhs: f64, upper_trim: bool) -> (f64, f64) {
    let finite_or_zero = |x: f64| if x.is_infinite() { 0.0 } else { x };
    if b.lower == f64::NEG_INFINITY {
        if upper_trim {
            if rhs >= b.upper {
                return (b.count, 0.0);
            }
            if rhs > 0.0 && b.upper > 0.0 && b.upper != f64::INFINITY {
                return (b.count * rhs / b.upper, rhs / 2.0);
            }
            if b.upper <= 0.0 {
                return (b.count, rhs);
            }
            return (0.0, finite_or_zero(b.upper));
        }
        if rhs <= b.lower {
            return (b.count, 0.0);
        }
        if rhs >= 0.0 && b.upper > rhs && b.upper != f64::INFINITY {
            return (b.count * (1.0 - rhs / b.upper), (rhs + b.upper) / 2.0);
        }
        return (0.0, finite_or_zero(b.upper));
    }
    // Upper bound +Inf.
    if upper_trim {
        return (0.0, finite_or_zero(b.lower));
    }
    if rhs >= b.lower {
        return (b.count, rhs);
    }
    (0.0, finite_or_zero(b.lower))
}

/// The part of a bucket's count at or below `rhs`, interpolated linearly or
/// exponentially.
fn split_count(b: &Bucket, rhs: f64, positive: bool, linear: bool) -> f64 {
    if rhs <= b.lower {
        return 0.0;
    }
    if rhs >= b.upper {
        return b.count;
    }
    let fraction = if linear {
        (rhs - b.lower) / (b.upper - b.lower)
    } else {
        let log_lower = b.lower.abs().log2();
        let log_upper = b.upper.abs().log2();
        let log_v = rhs.abs().log2();
        if positive {
            (log_v - log_lower) / (log_upper - log_lower)
        } else {
            1.0 - (log_v - log_upper) / (log_lower - log_upper)
        }
    };
    b.count * fraction
}

/// The kept count and midpoint of the zero bucket `[-t, t]`, taken as `[0, t]`
/// (`[-t, 0]`) if the histogram has only positive (negative) populated buckets.
fn zero_bucket_trim(
    threshold: f64,
    zero_count: f64,
    rhs: f64,
    has_negative: bool,
    has_positive: bool,
    upper_trim: bool,
) -> (f64, f64) {
    let (mut lower, mut upper) = (-threshold, threshold);
    if has_negative && !has_positive {
        upper = 0.0;
    }
    if has_positive && !has_negative {
        lower = 0.0;
    }
    let (fraction, mid) = if upper_trim {
        if rhs <= lower {
            return (0.0, 0.0);
        }
        if rhs >= upper {
            return (zero_count, (lower + upper) / 2.0);
        }
        ((rhs - lower) / (upper - lower), (lower + rhs) / 2.0)
    } else {
        if rhs <= lower {
            return (zero_count, (lower + upper) / 2.0);
        }
        if rhs >= upper {
            return (0.0, 0.0);
        }
        ((upper - rhs) / (upper - lower), (rhs + upper) / 2.0)
    };
    (zero_count * fraction, mid)
}

/// The value standing for the observations in `[lower, upper]`: arithmetic
/// mean for linear (custom) buckets, geometric mean for exponential ones;
/// an infinite bound falls back to the finite one (halved if positive), two
/// to 0.
fn midpoint(lower: f64, upper: f64, positive: bool, linear: bool) -> f64 {
    if lower.is_infinite() {
        if upper.is_infinite() {
            return 0.0;
        }
        if upper > 0.0 {
            return upper / 2.0;
        }
        return upper;
    } else if upper.is_infinite() {
        return lower;
    }
    if linear {
        return (lower + upper) / 2.0;
    }
    let g = (lower * upper).abs().sqrt();
    if positive {
        g
    } else {
        -g
    }
}

// ---------------------------------------------------------------------------
// rate, increase, delta, irate, idelta
// ---------------------------------------------------------------------------

/// Prometheus `isStartTimestampReset`: whether the current sample's start
/// (created) timestamp says the counter restarted since the previous sample.
/// A start timestamp of 0 is unknown.
pub(crate) fn is_start_timestamp_reset(prev_st: i64, prev_t: i64, cur_st: i64, cur_t: i64) -> bool {
    if cur_st == 0 || cur_st > cur_t {
        return false;
    }
    if cur_st < prev_t {
        return false;
    }
    if cur_st > prev_t {
        return true;
    }
    // Points at the previous sample: a reset for delta series only, which
    // have a known previous start timestamp.
    prev_st != 0
}

/// `last - first` of a range of histograms, corrected for counter resets if
/// `is_counter` (rate, increase) — the not yet extrapolated part of
/// Prometheus's `histogramRate`. `delta` passes `is_counter = false`.
///
/// `points` are (timestamp ms, histogram) in time order; fewer than two give
/// no result. The result is a gauge histogram in the smallest schema of the
/// range (for counters; for `delta`, of the first and last), compacted.
///
/// Caller's obligations:
/// - If the range also holds floats: don't call this; no result and
///   [`HistNote::MixedFloatsHistograms`].
/// - A result comes with any warnings [`HistNote::NotCounter`] (rate/increase
///   over a gauge histogram) / [`HistNote::NotGauge`] (delta over a non-gauge)
///   and the info [`HistNote::MismatchedCustomBuckets`]; emit them all.
/// - No result: drop the element and emit the notes
///   ([`HistNote::MixedExponentialCustom`], possibly after `NotCounter`).
/// - Extrapolate as for floats, using the result's `count` as the increase and
///   the *original* first histogram's `count` (`points[0].1.count`, even if it
///   was discarded for a reset) for the zero-point limit of counters: with
///   `result.count > 0 && first.count >= 0`, `durationToZero = sampledInterval
///   * first.count / result.count`; then `result.mul(factor)`.
pub(crate) fn histogram_increase(
    points: &[(i64, &FloatHistogram)],
    is_counter: bool,
) -> HistOutcome {
    histogram_increase_with_start_ts(points, &[], is_counter)
}

/// [`histogram_increase`] with the samples' start timestamps (`start_ts[i]`
/// for `points[i]`, 0 = unknown; empty if there are none), which also mark
/// counter resets.
pub(crate) fn histogram_increase_with_start_ts(
    points: &[(i64, &FloatHistogram)],
    start_ts: &[i64],
    is_counter: bool,
) -> HistOutcome {
    let mut out = HistOutcome::default();
    let (Some(&(_, first)), Some(&(_, last))) = (points.first(), points.last()) else {
        return out;
    };
    if points.len() < 2 {
        return out;
    }
    let st_reset = |i: usize| -> bool {
        i + 1 < start_ts.len()
            && is_start_timestamp_reset(start_ts[i], points[i].0, start_ts[i + 1], points[i + 1].0)
    };
    let gauge = CounterResetHint::Gauge;
    if is_counter && (first.counter_reset_hint == gauge || last.counter_reset_hint == gauge) {
        out.note(HistNote::NotCounter);
    }

    // A reset between the 1st and 2nd sample makes the 1st irrelevant (and so
    // any incompatibility of its layout): start from an empty histogram.
    let empty;
    let mut prev = first;
    if is_counter {
        let second = points[1].1;
        if st_reset(0) || second.detect_reset(first) {
            empty = FloatHistogram {
                schema: second.schema,
                custom_values: second.custom_values.clone(),
                ..FloatHistogram::default()
            };
            prev = &empty;
        }
    }
    let custom = prev.uses_custom_buckets();
    if last.uses_custom_buckets() != custom {
        out.note(HistNote::MixedExponentialCustom);
        return out;
    }

    let mut min_schema = last.schema.min(prev.schema);
    if is_counter {
        for &(_, cur) in &points[1..points.len() - 1] {
            if cur.counter_reset_hint == gauge {
                out.note(HistNote::NotCounter);
            }
            min_schema = min_schema.min(cur.schema);
            if cur.uses_custom_buckets() != custom {
                return HistOutcome::fail(HistNote::MixedExponentialCustom);
            }
        }
    }

    let mut h = last.clone();
    if min_schema < h.schema {
        h.reduce_resolution(min_schema);
    }
    match h.sub(prev) {
        Err(HistogramError::MixedExponentialCustom) => {
            return HistOutcome::fail(HistNote::MixedExponentialCustom)
        }
        Ok(o) if o.nhcb_bounds_reconciled => {
            out.note(HistNote::MismatchedCustomBuckets(HistOp::Subtraction));
        }
        _ => {}
    }

    if is_counter {
        for (i, &(_, cur)) in points.iter().enumerate().skip(1) {
            if st_reset(i - 1) || cur.detect_reset(prev) {
                match h.add(prev) {
                    Err(HistogramError::MixedExponentialCustom) => {
                        return HistOutcome::fail(HistNote::MixedExponentialCustom)
                    }
                    Ok(o) if o.nhcb_bounds_reconciled => {
                        out.note(HistNote::MismatchedCustomBuckets(HistOp::Addition));
                    }
                    _ => {}
                }
            }
            prev = cur;
        }
    } else if first.counter_reset_hint != gauge || last.counter_reset_hint != gauge {
        out.note(HistNote::NotGauge);
    }

    h.counter_reset_hint = gauge;
    h.compact(0);
    out.value = Some(h);
    out
}

/// `irate` (`is_rate`) / `idelta` of the last two samples when both are
/// histograms (Prometheus `instantValue`): `last - prev` as a gauge histogram,
/// for irate per second over `dt_ms` (the caller drops the element when
/// `dt_ms == 0`).
///
/// For irate, a counter reset (`last.detect_reset(prev)`, or `st_reset`, the
/// caller's [`is_start_timestamp_reset`] of the two samples) makes the result
/// `last` itself (no subtraction, so no layout check).
///
/// Notes: [`HistNote::NotCounter`] (irate with either one a gauge) /
/// [`HistNote::NotGauge`] (idelta with either one not a gauge) come with a
/// result; [`HistNote::MismatchedCustomBuckets`] too;
/// [`HistNote::MixedExponentialCustom`] comes without one (the earlier notes
/// are kept there). A float and a histogram as the last two samples are the
/// caller's case: no result, [`HistNote::MixedFloatsHistograms`].
pub(crate) fn histogram_irate_idelta(
    prev: &FloatHistogram,
    last: &FloatHistogram,
    is_rate: bool,
    dt_ms: i64,
    st_reset: bool,
) -> HistOutcome {
    let mut out = HistOutcome::default();
    let gauge = CounterResetHint::Gauge;
    let mut h = last.clone();
    if is_rate && (last.counter_reset_hint == gauge || prev.counter_reset_hint == gauge) {
        out.note(HistNote::NotCounter);
    }
    if !is_rate && (last.counter_reset_hint != gauge || prev.counter_reset_hint != gauge) {
        out.note(HistNote::NotGauge);
    }
    if !is_rate || (!st_reset && !last.detect_reset(prev)) {
        match h.sub(prev) {
            Err(HistogramError::MixedExponentialCustom) => {
                out.note(HistNote::MixedExponentialCustom);
                return out;
            }
            Ok(o) if o.nhcb_bounds_reconciled => {
                out.note(HistNote::MismatchedCustomBuckets(HistOp::Subtraction));
            }
            _ => {}
        }
    }
    h.counter_reset_hint = gauge;
    h.compact(0);
    if is_rate {
        h.div(dt_ms as f64 / 1000.0);
    }
    out.value = Some(h);
    out
}

// ---------------------------------------------------------------------------
// sum_over_time, avg_over_time
// ---------------------------------------------------------------------------

/// Go's `newCompensationHistogram`: the layout of `h` with zero counts.
fn new_compensation(h: &FloatHistogram) -> FloatHistogram {
    FloatHistogram {
        counter_reset_hint: h.counter_reset_hint,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        positive_spans: h.positive_spans.clone(),
        negative_spans: h.negative_spans.clone(),
        positive_buckets: vec![0.0; h.positive_buckets.len()],
        negative_buckets: vec![0.0; h.negative_buckets.len()],
        custom_values: h.custom_values.clone(),
        ..FloatHistogram::default()
    }
}

/// Go's `HasOverflow`: an infinite count, sum, zero count or bucket.
fn has_overflow(h: &FloatHistogram) -> bool {
    h.zero_count.is_infinite()
        || h.count.is_infinite()
        || h.sum.is_infinite()
        || h.positive_buckets.iter().any(|b| b.is_infinite())
        || h.negative_buckets.iter().any(|b| b.is_infinite())
}

/// The notes of a histogram aggregation over time.
#[derive(Default)]
struct AggTracker {
    reset_seen: bool,
    not_reset_seen: bool,
    reconciled: bool,
}

impl AggTracker {
    fn hint(&mut self, h: &FloatHistogram) {
        match h.counter_reset_hint {
            CounterResetHint::CounterReset => self.reset_seen = true,
            CounterResetHint::NotCounterReset => self.not_reset_seen = true,
            _ => {}
        }
    }

    /// Folds in the outcome of an addition; true for mixed schemas.
    fn mixed(&mut self, r: Result<AddOutcome, HistogramError>) -> bool {
        match r {
            Err(HistogramError::MixedExponentialCustom) => return true,
            Ok(o) if o.nhcb_bounds_reconciled => self.reconciled = true,
            _ => {}
        }
        false
    }

    fn finish(self, value: FloatHistogram) -> HistOutcome {
        let mut out = HistOutcome {
            value: Some(value),
            notes: Vec::new(),
        };
        if self.reset_seen && self.not_reset_seen {
            out.note(HistNote::CounterResetCollision(HistOp::Aggregation));
        }
        if self.reconciled {
            out.note(HistNote::MismatchedCustomBuckets(HistOp::Aggregation));
        }
        out
    }
}

/// `kahan_add` with Go's lazily created compensation histogram.
fn kahan_add(
    acc: &mut FloatHistogram,
    h: &FloatHistogram,
    comp: &mut Option<FloatHistogram>,
) -> Result<AddOutcome, HistogramError> {
    let c = comp.get_or_insert_with(|| new_compensation(acc));
    acc.kahan_add(h, c)
}

/// `sum_over_time` of a range of only histograms: their Kahan sum.
///
/// No input → no result. A mix of exponential and custom buckets → no result
/// and only [`HistNote::MixedExponentialCustom`]. Otherwise the sum with
/// [`HistNote::CounterResetCollision`] (hints `CounterReset` and
/// `NotCounterReset` both seen) and [`HistNote::MismatchedCustomBuckets`]
/// (aggregation) as they apply.
pub(crate) fn histogram_sum_over_time(hs: &[&FloatHistogram]) -> HistOutcome {
    let Some((first, rest)) = hs.split_first() else {
        return HistOutcome::default();
    };
    let mixed = || HistOutcome::fail(HistNote::MixedExponentialCustom);
    let mut t = AggTracker::default();
    let mut sum = (*first).clone();
    t.hint(&sum);
    let mut comp = None;
    for h in rest {
        t.hint(h);
        if t.mixed(kahan_add(&mut sum, h, &mut comp)) {
            return mixed();
        }
    }
    if let Some(c) = comp {
        if t.mixed(sum.add(&c)) {
            return mixed();
        }
    }
    t.finish(sum)
}

/// `avg_over_time` of a range of only histograms: the Kahan sum divided by
/// the number of histograms, switching to an incremental mean once the sum
/// would overflow. Notes as for [`histogram_sum_over_time`].
pub(crate) fn histogram_avg_over_time(hs: &[&FloatHistogram]) -> HistOutcome {
    let Some((first, rest)) = hs.split_first() else {
        return HistOutcome::default();
    };
    let mixed = || HistOutcome::fail(HistNote::MixedExponentialCustom);
    let mut t = AggTracker::default();
    let mut sum = (*first).clone();
    t.hint(&sum);
    let mut comp: Option<FloatHistogram> = None;
    let mut mean: Option<FloatHistogram> = None;
    let mut count = 1.0;
    for (i, h) in rest.iter().enumerate() {
        t.hint(h);
        count = (i + 2) as f64;
        let m = match mean.as_mut() {
            Some(m) => m,
            None => {
                let mut next_sum = sum.clone();
                let mut next_comp = comp.clone();
                if t.mixed(kahan_add(&mut next_sum, h, &mut next_comp)) {
                    return mixed();
                }
                if !has_overflow(&next_sum) {
                    sum = next_sum;
                    comp = next_comp;
                    continue;
                }
                // Switch to the incremental mean.
                let mut m = sum.clone();
                m.div(count - 1.0);
                if let Some(c) = comp.as_mut() {
                    c.div(count - 1.0);
                }
                mean.insert(m)
            }
        };
        let q = (count - 1.0) / count;
        if let Some(c) = comp.as_mut() {
            c.mul(q);
        }
        let mut to_add = (*h).clone();
        to_add.div(count);
        m.mul(q);
        if t.mixed(kahan_add(m, &to_add, &mut comp)) {
            return mixed();
        }
    }
    let result = match mean {
        Some(mut m) => {
            if let Some(c) = comp {
                if let Err(HistogramError::MixedExponentialCustom) = m.add(&c) {
                    return mixed();
                }
            }
            m
        }
        None => {
            sum.div(count);
            if let Some(mut c) = comp {
                c.div(count);
                if let Err(HistogramError::MixedExponentialCustom) = sum.add(&c) {
                    return mixed();
                }
            }
            sum
        }
    };
    t.finish(result)
}

#[cfg(test)]
mod tests {
    // The test data has values like 3.1415 and 1.4142135624.
    #![allow(clippy::approx_constant)]

    use super::*;
    use pharos_model::histogram::Span;
    use std::collections::BTreeMap;

    /// Builds a histogram from promqltest notation, e.g.
    /// `{{schema:0 sum:5 count:4 z_bucket:1 z_bucket_w:0.1 offset:1 buckets:[1 2 1] n_buckets:[3]}}`.
    fn hist(s: &str) -> FloatHistogram {
        let s = s.trim().trim_start_matches("{{").trim_end_matches("}}");
        let mut h = FloatHistogram::default();
        let (mut offset, mut n_offset) = (0, 0);
        let (mut buckets, mut n_buckets) = (Vec::new(), Vec::new());
        let mut rest = s.trim();
        while !rest.is_empty() {
            let colon = rest.find(':').expect("key");
            let key = rest[..colon].trim();
            rest = rest[colon + 1..].trim_start();
            let value;
            if rest.starts_with('[') {
                let end = rest.find(']').expect("]");
                value = &rest[1..end];
                rest = rest[end + 1..].trim_start();
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                value = &rest[..end];
                rest = rest[end..].trim_start();
            }
            let num = |v: &str| -> f64 { v.parse().expect("number") };
            let list = |v: &str| -> Vec<f64> { v.split_whitespace().map(num).collect() };
            match key {
                "schema" => h.schema = value.parse().expect("schema"),
                "sum" => h.sum = num(value),
                "count" => h.count = num(value),
                "z_bucket" => h.zero_count = num(value),
                "z_bucket_w" => h.zero_threshold = num(value),
                "offset" => offset = value.parse().expect("offset"),
                "n_offset" => n_offset = value.parse().expect("n_offset"),
                "buckets" => buckets = list(value),
                "n_buckets" => n_buckets = list(value),
                "custom_values" => h.custom_values = list(value),
                "counter_reset_hint" => {
                    h.counter_reset_hint = match value {
                        "gauge" => CounterResetHint::Gauge,
                        "reset" => CounterResetHint::CounterReset,
                        "not_reset" => CounterResetHint::NotCounterReset,
                        _ => CounterResetHint::Unknown,
                    }
                }
                k => panic!("unknown key {k}"),
            }
        }
        if !buckets.is_empty() {
            h.positive_spans = vec![Span::new(offset, buckets.len() as u32)];
            h.positive_buckets = buckets;
        }
        if !n_buckets.is_empty() {
            h.negative_spans = vec![Span::new(n_offset, n_buckets.len() as u32)];
            h.negative_buckets = n_buckets;
        }
        h
    }

    /// Like promqltest's comparison of floats (relative tolerance 1e-6).
    fn close(a: f64, b: f64) -> bool {
        if a.is_nan() || b.is_nan() {
            return a.is_nan() && b.is_nan();
        }
        if a == b {
            return true;
        }
        let diff = (a - b).abs();
        diff <= 1e-6 * a.abs().max(b.abs()) || diff < 1e-12
    }

    #[track_caller]
    fn assert_close(got: f64, want: f64) {
        assert!(close(got, want), "got {got}, want {want}");
    }

    /// Populated buckets by schema index.
    fn bucket_map(spans: &[Span], buckets: &[f64]) -> BTreeMap<i32, f64> {
        let mut m = BTreeMap::new();
        let (mut idx, mut pos) = (0, 0);
        for s in spans {
            idx += s.offset;
            for _ in 0..s.length {
                if let Some(&c) = buckets.get(pos) {
                    if c != 0.0 {
                        m.insert(idx, c);
                    }
                }
                idx += 1;
                pos += 1;
            }
        }
        m
    }

    #[track_caller]
    fn assert_hist(got: &FloatHistogram, want: &str) {
        let w = hist(want);
        let ctx = format!("\ngot  {got:?}\nwant {want}");
        assert_eq!(got.schema, w.schema, "schema{ctx}");
        assert!(close(got.count, w.count), "count{ctx}");
        assert!(close(got.sum, w.sum), "sum{ctx}");
        assert!(close(got.zero_count, w.zero_count), "zero count{ctx}");
        assert!(
            close(got.zero_threshold, w.zero_threshold),
            "zero threshold{ctx}"
        );
        assert_eq!(
            got.custom_values.len(),
            w.custom_values.len(),
            "custom values{ctx}"
        );
        for (a, b) in got.custom_values.iter().zip(&w.custom_values) {
            assert!(close(*a, *b), "custom values{ctx}");
        }
        for (g, w, what) in [
            (
                bucket_map(&got.positive_spans, &got.positive_buckets),
                bucket_map(&w.positive_spans, &w.positive_buckets),
                "positive",
            ),
            (
                bucket_map(&got.negative_spans, &got.negative_buckets),
                bucket_map(&w.negative_spans, &w.negative_buckets),
                "negative",
            ),
        ] {
            assert_eq!(
                g.keys().collect::<Vec<_>>(),
                w.keys().collect::<Vec<_>>(),
                "{what} bucket indexes{ctx}"
            );
            for (k, v) in &g {
                assert!(close(*v, w[k]), "{what} bucket {k}{ctx}");
            }
        }
        if want.contains("counter_reset_hint") {
            assert_eq!(got.counter_reset_hint, w.counter_reset_hint, "hint{ctx}");
        }
    }

    #[track_caller]
    fn outcome(o: &HistOutcome, want: Option<&str>, notes: &[HistNote]) {
        match (&o.value, want) {
            (Some(g), Some(w)) => assert_hist(g, w),
            (None, None) => {}
            (g, w) => panic!("got {g:?}, want {w:?}"),
        }
        assert_eq!(o.notes, notes);
    }

    #[test]
    fn test_helper_parses_notation() {
        let h = hist("{{schema:-53 sum:1 count:2 custom_values:[5 10] offset:1 buckets:[1 1] counter_reset_hint:gauge}}");
        assert_eq!(h.schema, -53);
        assert_eq!(h.custom_values, vec![5.0, 10.0]);
        assert_eq!(h.positive_spans, vec![Span::new(1, 2)]);
        assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);
        let h = hist(
            "{{schema:0 count:3 sum:-Inf z_bucket:1 z_bucket_w:0.5 n_offset:2 n_buckets:[2]}}",
        );
        assert_eq!(h.sum, f64::NEG_INFINITY);
        assert_eq!(h.negative_spans, vec![Span::new(2, 1)]);
    }

    #[test]
    fn notes_text() {
        assert_eq!(
            HistNote::NotCounter.message("some_metric"),
            "PromQL warning: this native histogram metric is not a counter: \"some_metric\""
        );
        assert_eq!(
            HistNote::MixedExponentialCustom.message("m"),
            "PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas for metric name \"m\""
        );
        assert_eq!(
            HistNote::MismatchedCustomBuckets(HistOp::Subtraction).message("m"),
            "PromQL info: mismatched custom buckets were reconciled during subtraction"
        );
        assert!(!HistNote::MismatchedCustomBuckets(HistOp::Addition).is_warning());
        assert!(HistNote::CounterResetCollision(HistOp::Aggregation).is_warning());
    }

    // --- histogram_quantile (native_histograms.test) ---

    /// native_histograms.test: the histogram_quantile_N and histogram_fraction_N cases.
    #[test]
    fn quantile_and_fraction_tables() {
        const INF: f64 = f64::INFINITY;
        let h0 = "{{schema:0 count:12 sum:100 z_bucket:2 z_bucket_w:0.001 buckets:[2 3 0 1 4]}}";
        let q0: &[(f64, f64)] = &[
            (1.001, INF),
            (1.0, 16.0),
            (0.99, 15.67072476139083),
            (0.9, 12.99603834169977),
            (0.6, 4.594793419988138),
            (0.5, 1.5874010519681994),
            (0.1, 0.0006),
            (0.0, 0.0),
            (-1.0, -INF),
        ];
        let f0: &[(f64, f64, f64)] = &[];
        let h1 = "{{schema:0 count:12 sum:100 z_bucket:2 z_bucket_w:0.001 n_buckets:[2 3 0 1 4]}}";
        let q1: &[(f64, f64)] = &[
            (1.001, INF),
            (1.0, 0.0),
            (0.99, -0.00006),
            (0.9, -0.0006),
            (0.5, -1.5874010519681996),
            (0.1, -12.996038341699768),
            (0.0, -16.0),
            (-1.0, -INF),
        ];
        let f1: &[(f64, f64, f64)] = &[];
        let h2 = "{{schema:0 count:24 sum:100 z_bucket:4 z_bucket_w:0.001 buckets:[2 3 0 1 4] n_buckets:[2 3 0 1 4]}}";
        let q2: &[(f64, f64)] = &[
            (1.001, INF),
            (1.0, 16.0),
            (0.99, 15.34822590920423),
            (0.9, 10.556063286183155),
            (0.7, 1.2030250360821164),
            (0.55, 0.0006),
            (0.5, 0.0),
            (0.45, -0.0006),
            (0.3, -1.2030250360821169),
            (0.1, -10.556063286183155),
            (0.01, -15.34822590920423),
            (0.0, -16.0),
            (-1.0, -INF),
        ];
        let f2: &[(f64, f64, f64)] = &[];
        let h3 = "{{}}";
        let q3: &[(f64, f64)] = &[];
        let f3: &[(f64, f64, f64)] = &[(3.1415, 42.0, f64::NAN)];
        let h4 = "{{schema:0 count:12 sum:100 z_bucket:2 z_bucket_w:0.001 buckets:[2 3 0 1 4]}}";
        let q4: &[(f64, f64)] = &[(0.08333333333333333, 0.0005), (0.6320802083934297, 6.0)];
        let f4: &[(f64, f64, f64)] = &[
            (0.0, INF, 1.0),
            (-INF, 0.0, 0.0),
            (-0.001, 0.0, 0.0),
            (0.0, 0.001, 0.16666666666666666),
            (0.001, INF, 0.8333333333333334),
            (0.0, 0.0005, 0.08333333333333333),
            (-INF, -0.001, 0.0),
            (1.0, 2.0, 0.25),
            (0.0, 1.5, 0.4795739585136224),
            (1.5, 2.0, 0.10375937481971091),
            (1.0, 8.0, 0.3333333333333333),
            (0.0, 6.0, 0.6320802083934297),
            (1.0, 6.0, 0.29874687506009634),
            (1.5, 6.0, 0.15250624987980724),
            (-2.0, -1.0, 0.0),
            (-2.0, -1.5, 0.0),
            (-8.0, -1.0, 0.0),
            (-6.0, -1.0, 0.0),
            (-6.0, -1.5, 0.0),
            (42.0, 3.1415, 0.0),
            (0.0, 0.0, 0.0),
            (0.000001, 0.000001, 0.0),
            (42.0, 42.0, 0.0),
            (-3.1, -3.1, 0.0),
            (3.1415, f64::NAN, f64::NAN),
            (f64::NAN, 42.0, f64::NAN),
            (f64::NAN, f64::NAN, f64::NAN),
            (-INF, INF, 1.0),
        ];
        let h5 = "{{schema:0 count:12 sum:100 z_bucket:2 z_bucket_w:0.001 n_buckets:[2 3 0 1 4]}}";
        let q5: &[(f64, f64)] = &[(0.9166666666666666, -0.0005), (0.36791979160657035, -6.0)];
        let f5: &[(f64, f64, f64)] = &[
            (0.0, INF, 0.0),
            (-INF, 0.0, 1.0),
            (-0.001, 0.0, 0.16666666666666666),
            (0.0, 0.001, 0.0),
            (-0.0005, 0.0, 0.08333333333333333),
            (-INF, -0.0005, 0.9166666666666666),
            (0.001, INF, 0.0),
            (-INF, -0.001, 0.8333333333333334),
            (1.0, 2.0, 0.0),
            (1.5, 2.0, 0.0),
            (1.0, 8.0, 0.0),
            (1.0, 6.0, 0.0),
            (1.5, 6.0, 0.0),
            (-2.0, -1.0, 0.25),
            (-2.0, -1.5, 0.10375937481971091),
            (-8.0, -1.0, 0.3333333333333333),
            (-INF, -6.0, 0.36791979160657035),
            (-6.0, -1.0, 0.29874687506009634),
            (-6.0, -1.5, 0.15250624987980724),
            (42.0, 3.1415, 0.0),
            (0.0, 0.0, 0.0),
            (0.000001, 0.000001, 0.0),
            (42.0, 42.0, 0.0),
            (-3.1, -3.1, 0.0),
            (3.1415, f64::NAN, f64::NAN),
            (f64::NAN, 42.0, f64::NAN),
            (f64::NAN, f64::NAN, f64::NAN),
            (-INF, INF, 1.0),
        ];
        let h6 = "{{schema:0 count:24 sum:100 z_bucket:4 z_bucket_w:0.001 buckets:[2 3 0 1 4] n_buckets:[2 3 0 1 4]}}";
        let q6: &[(f64, f64)] = &[(0.5416666666666666, 0.0005), (0.4583333333333333, -0.0005)];
        let f6: &[(f64, f64, f64)] = &[
            (0.0, INF, 0.5),
            (-INF, 0.0, 0.5),
            (-0.001, 0.0, 0.08333333333333333),
            (0.0, 0.001, 0.08333333333333333),
            (-0.0005, 0.0005, 0.08333333333333333),
            (-INF, 0.0005, 0.5416666666666666),
            (-INF, -0.0005, 0.4583333333333333),
            (0.001, INF, 0.4166666666666667),
            (-INF, -0.001, 0.4166666666666667),
            (1.0, 2.0, 0.125),
            (1.5, 2.0, 0.051879687409855414),
            (1.0, 8.0, 0.16666666666666666),
            (1.0, 6.0, 0.14937343753004825),
            (1.5, 6.0, 0.07625312493990366),
            (-2.0, -1.0, 0.125),
            (-2.0, -1.5, 0.051879687409855456),
            (-8.0, -1.0, 0.16666666666666666),
            (-6.0, -1.0, 0.14937343753004817),
            (-6.0, -1.5, 0.07625312493990362),
            (42.0, 3.1415, 0.0),
            (0.0, 0.0, 0.0),
            (0.000001, 0.000001, 0.0),
            (42.0, 42.0, 0.0),
            (-3.1, -3.1, 0.0),
            (3.1415, f64::NAN, f64::NAN),
            (f64::NAN, 42.0, f64::NAN),
            (f64::NAN, f64::NAN, f64::NAN),
            (-INF, INF, 1.0),
        ];
        let tables = [
            (h0, q0, f0),
            (h1, q1, f1),
            (h2, q2, f2),
            (h3, q3, f3),
            (h4, q4, f4),
            (h5, q5, f5),
            (h6, q6, f6),
        ];
        for (h, quantiles, fractions) in tables {
            let h = hist(h);
            for &(q, want) in quantiles {
                let (v, note) = histogram_quantile(q, &h);
                assert!(close(v, want), "{h:?}: quantile {q}: {v} vs {want}");
                assert!(note.is_none());
            }
            for &(lo, hi, want) in fractions {
                let (v, nan) = histogram_fraction(lo, hi, &h);
                assert!(
                    close(v, want),
                    "{h:?}: fraction ({lo}, {hi}): {v} vs {want}"
                );
                assert!(!nan);
            }
        }
    }

    #[test]
    fn quantile_custom_buckets_and_empty() {
        let h = hist("{{schema:-53 sum:5 count:4 custom_values:[5 10] buckets:[1 2 1]}}");
        assert_close(histogram_quantile(0.5, &h).0, 7.5);
        // First bucket interpolates from 0, the +Inf bucket yields its lower bound.
        assert_close(histogram_quantile(0.1, &h).0, 2.0);
        assert_close(histogram_quantile(0.9, &h).0, 10.0);
        let h = hist("{{schema:-53 sum:-5 count:4 custom_values:[-5 10] buckets:[2 2]}}");
        assert_close(histogram_quantile(0.25, &h).0, -5.0);
        let empty = hist("{{schema:0 sum:0 count:0}}");
        assert!(histogram_quantile(1.0, &empty).0.is_nan());
        assert!(histogram_quantile(f64::NAN, &h).0.is_nan());
    }

    #[test]
    fn quantile_nan_observations() {
        let all_nan = hist("{{schema:0 count:3 sum:NaN}}");
        let some_nan = hist("{{schema:0 count:15 sum:NaN buckets:[12]}}");
        for q in [1.0, 0.81] {
            for h in [&all_nan, &some_nan] {
                let (v, note) = histogram_quantile(q, h);
                assert!(v.is_nan());
                assert_eq!(note, Some(NanObservations::ResultNaN));
            }
        }
        assert_eq!(
            histogram_quantile(0.4, &all_nan).1,
            Some(NanObservations::ResultNaN)
        );
        let (v, note) = histogram_quantile(0.8, &some_nan);
        assert_close(v, 1.0);
        assert_eq!(note, Some(NanObservations::SkewedHigher));
        let (v, note) = histogram_quantile(0.4, &some_nan);
        assert_close(v, 0.7071067811865475);
        assert_eq!(note, Some(NanObservations::SkewedHigher));
        // ±Inf observations make the sum NaN but skew nothing.
        let infs = hist("{{schema:0 count:12 sum:NaN buckets:[12]}}");
        assert_eq!(histogram_quantile(0.4, &infs).1, None);
    }

    // --- histogram_fraction ---

    #[test]
    fn fraction_basic() {
        let h = hist("{{schema:0 sum:5 count:4 buckets:[1 2 1]}}");
        assert_close(histogram_fraction(1.0, 2.0, &h).0, 0.5);
        assert_close(histogram_fraction(0.0, 8.0, &h).0, 1.0);
        let empty = hist("{{}}");
        assert!(histogram_fraction(f64::NEG_INFINITY, f64::INFINITY, &empty)
            .0
            .is_nan());
        let h = hist("{{schema:-53 sum:5 count:4 custom_values:[5 10] buckets:[1 2 1]}}");
        assert_close(histogram_fraction(5.0, 10.0, &h).0, 0.5);
    }

    #[test]
    fn fraction_nan_observations() {
        let all_nan = hist("{{schema:0 count:3 sum:NaN}}");
        let some_nan = hist("{{schema:0 count:15 sum:NaN buckets:[12]}}");
        let inf = f64::INFINITY;
        assert_eq!(
            histogram_fraction(-inf, 0.7071067811865475, &all_nan),
            (0.0, true)
        );
        let (v, nan) = histogram_fraction(-inf, 0.7071067811865475, &some_nan);
        assert_close(v, 0.4);
        assert!(nan);
        let (v, nan) = histogram_fraction(-inf, inf, &some_nan);
        assert_close(v, 0.8);
        assert!(nan);
    }

    #[test]
    fn fraction_matches_trim_counts() {
        // native_histograms.test: h </ x == histogram_fraction(-Inf, x, h) * count.
        let inf = f64::INFINITY;
        let h = hist("{{schema:0 sum:123.75 count:34 z_bucket:1 z_bucket_w:0.001 buckets:[2 4 8 16] n_buckets:[1 2]}}");
        for (x, below) in [(2.0, 10.0), (-1.0, 2.0), (0.0, 3.5), (1.4142135624, 8.0)] {
            assert_close(histogram_fraction(-inf, x, &h).0 * h.count, below);
            assert_close(histogram_fraction(x, inf, &h).0 * h.count, h.count - below);
        }
        let h = hist("{{schema:2 sum:12.8286080906 count:28 z_bucket:1 z_bucket_w:0.001 buckets:[1 2 4 7 3] n_buckets:[1 5 3 1]}}");
        assert_close(
            histogram_fraction(-inf, 1.13, &h).0 * 28.0,
            13.410582181123704,
        );
        let h = hist(
            "{{schema:-53 sum:172.5 count:15 custom_values:[5 10 15 20] buckets:[1 6 4 3 1]}}",
        );
        assert_close(histogram_fraction(-inf, 15.0, &h).0 * 15.0, 11.0);
        assert_close(histogram_fraction(13.0, inf, &h).0 * 15.0, 5.6);
    }

    // --- histogram_stddev, histogram_stdvar ---

    #[test]
    fn stddev_stdvar() {
        let cases = [
            ("{{schema:2 count:4 sum:10 buckets:[1 0 0 0 1 0 0 1 1]}}", 1.0787993180043811, 1.163807968526718),
            ("{{schema:8 count:10 sum:10 buckets:[1 2 3 4]}}", 0.0048960313898237465, 2.3971123370139447e-05),
            ("{{schema:0 count:10 sum:-112946 z_bucket:0 n_buckets:[0 0 1 1 1 0 1 1 0 0 3 0 0 0 1 0 0 1]}}", 27556.344499842, 759352122.1939945),
            ("{{schema:0 count:10 sum:-100 z_bucket:0 n_buckets:[0 0 0 0 10]}}", 1.3137084989848, 1.725830020304794),
        ];
        for (h, sd, sv) in cases {
            let h = hist(h);
            assert_close(histogram_stddev(&h), sd);
            assert_close(histogram_stdvar(&h), sv);
        }
        let mut b = vec![0.0; 55];
        b[13] = 1.0;
        b[24] = 1.0;
        b[26] = 1.0;
        b[54] = 1.0;
        let mut n = vec![0.0; 47];
        n[24] = 1.0;
        n[46] = 1.0;
        let mk = |sum: f64| FloatHistogram {
            schema: 3,
            count: 7.0,
            sum,
            zero_count: 1.0,
            positive_spans: vec![Span::new(0, 55)],
            positive_buckets: b.clone(),
            negative_spans: vec![Span::new(0, 47)],
            negative_buckets: n.clone(),
            ..FloatHistogram::default()
        };
        assert_close(histogram_stddev(&mk(62.0)), 42.94723640026);
        assert_close(histogram_stdvar(&mk(62.0)), 1844.4651144196398);
        assert!(histogram_stddev(&mk(f64::NAN)).is_nan());
        assert_eq!(histogram_stdvar(&mk(f64::INFINITY)), f64::INFINITY);
        assert!(histogram_stddev(&hist("{{schema:0 sum:0 count:0}}")).is_nan());
    }

    // --- trim operators ---

    #[track_caller]
    fn trims(h: &str, cases: &[(bool, f64, &str)]) {
        let h = hist(h);
        for &(upper, x, want) in cases {
            let got = if upper {
                trim_upper(&h, x)
            } else {
                trim_lower(&h, x)
            };
            let op = if upper { "</" } else { ">/" };
            assert!(
                std::panic::catch_unwind(|| assert_hist(&got, want)).is_ok(),
                "h {op} {x}: got {got:?}, want {want}"
            );
        }
    }

    const U: bool = true;
    const L: bool = false;

    #[test]
    fn trim_exponential() {
        let inf = f64::INFINITY;
        trims(
            "{{schema:0 sum:123.75 count:34 z_bucket:1 z_bucket_w:0.001 buckets:[2 4 8 16] n_buckets:[1 2]}}",
            &[
                (L, -inf, "{{schema:0 sum:123.75 count:34 z_bucket:1 z_bucket_w:0.001 buckets:[2 4 8 16] n_buckets:[1 2]}}"),
                (U, inf, "{{schema:0 sum:123.75 count:34 z_bucket:1 z_bucket_w:0.001 buckets:[2 4 8 16] n_buckets:[1 2]}}"),
                (L, inf, "{{schema:0 z_bucket_w:0.001}}"),
                (U, -inf, "{{schema:0 z_bucket_w:0.001}}"),
                (L, 0.0, "{{schema:0 sum:120.20840280171308 count:30.5 z_bucket:0.5 z_bucket_w:0.001 buckets:[2 4 8 16]}}"),
                (U, 0.0, "{{schema:0 sum:-3.53578390593273768 count:3.5 z_bucket:0.5 z_bucket_w:0.001 n_buckets:[1 2]}}"),
                (U, 1.4142135624, "{{count:8 sum:0.2570938865989847 z_bucket:1 z_bucket_w:0.001 buckets:[2 2] n_buckets:[1 2]}}"),
                (L, 1.4142135624, "{{count:26 sum:116.50067065070982 z_bucket_w:0.001 buckets:[0 2 8 16]}}"),
                (U, 2.0, "{{count:10 sum:3.5355339059327373 z_bucket:1 z_bucket_w:0.001 buckets:[2 4] n_buckets:[1 2]}}"),
                (L, 2.0, "{{count:24 sum:113.13708498984761 z_bucket_w:0.001 offset:2 buckets:[8 16]}}"),
                (L, -1.0, "{{count:32 sum:119.50104602052653 z_bucket:1 z_bucket_w:0.001 buckets:[2 4 8 16] n_buckets:[1]}}"),
                (U, -1.0, "{{count:2 sum:-2.8284271247461903 z_bucket_w:0.001 n_offset:1 n_buckets:[2]}}"),
            ],
        );
        trims(
            "{{schema:2 sum:12.8286080906 count:28 z_bucket:1 z_bucket_w:0.001 buckets:[1 2 4 7 3] n_buckets:[1 5 3 1]}}",
            &[
                (U, 1.13, "{{schema:2 count:13.410582181123704 sum:-9.385798726068233 z_bucket:1 z_bucket_w:0.001 buckets:[1 1.410582181123704] n_buckets:[1 5 3 1]}}"),
                (L, 1.13, "{{schema:2 count:14.589417818876296 sum:22.168126492693734 z_bucket_w:0.001 offset:1 buckets:[0.589417818876296 4 7 3]}}"),
                (L, -1.3, "{{schema:2 count:25.54213947904476 sum:16.29588491217537 z_bucket:1 z_bucket_w:0.001 buckets:[1 2 4 7 3] n_buckets:[1 5 1.54213947904476]}}"),
                (U, -1.3, "{{schema:2 count:2.45786052095524 sum:-3.5189307983595066 z_bucket_w:0.001 n_offset:2 n_buckets:[1.45786052095524 1]}}"),
            ],
        );
    }

    #[test]
    fn trim_zero_bucket() {
        trims(
            "{{schema:0 sum:8.0210678118654755 count:12 z_bucket:2 z_bucket_w:0.5 buckets:[10]}}",
            &[
                (L, 0.5, "{{schema:0 count:10 sum:7.0710678118654755 z_bucket:0 z_bucket_w:0.5 buckets:[10]}}"),
                (L, 0.1, "{{schema:0 count:11.6 sum:7.551067811865476 z_bucket:1.6 z_bucket_w:0.5 buckets:[10]}}"),
                (L, 0.0, "{{schema:0 sum:8.0210678118654755 count:12 z_bucket:2 z_bucket_w:0.5 buckets:[10]}}"),
                (U, 0.5, "{{schema:0 count:2 sum:0.5 z_bucket:2 z_bucket_w:0.5}}"),
                (U, 0.1, "{{schema:0 count:0.4 sum:0.02 z_bucket:0.4 z_bucket_w:0.5}}"),
                (U, 0.0, "{{schema:0 z_bucket_w:0.5}}"),
            ],
        );
        trims(
            "{{schema:0 sum:-8.0210678118654755 count:12 z_bucket:2 z_bucket_w:0.5 n_buckets:[10]}}",
            &[
                (U, -0.5, "{{schema:0 count:10 sum:-7.0710678118654755 z_bucket:0 z_bucket_w:0.5 n_buckets:[10]}}"),
                (U, -0.1, "{{schema:0 count:11.6 sum:-7.551067811865476 z_bucket:1.6 z_bucket_w:0.5 n_buckets:[10]}}"),
                (U, 0.0, "{{schema:0 sum:-8.0210678118654755 count:12 z_bucket:2 z_bucket_w:0.5 n_buckets:[10]}}"),
                (L, -0.5, "{{schema:0 count:2 sum:-0.5 z_bucket:2 z_bucket_w:0.5}}"),
                (L, -0.1, "{{schema:0 count:0.4 sum:-0.02 z_bucket:0.4 z_bucket_w:0.5}}"),
                (L, 0.0, "{{schema:0 z_bucket_w:0.5}}"),
            ],
        );
        trims(
            "{{schema:0 count:5 sum:0 z_bucket:5 z_bucket_w:0.1 }}",
            &[
                (
                    L,
                    0.1,
                    "{{schema:0 count:0 sum:0 z_bucket:0 z_bucket_w:0.1 }}",
                ),
                (
                    U,
                    0.1,
                    "{{schema:0 count:5 sum:0 z_bucket:5 z_bucket_w:0.1 }}",
                ),
                (
                    L,
                    0.05,
                    "{{schema:0 count:1.25 sum:0.09375 z_bucket:1.25 z_bucket_w:0.1 }}",
                ),
                (
                    U,
                    0.05,
                    "{{schema:0 count:3.75 sum:-0.09375 z_bucket:3.75 z_bucket_w:0.1 }}",
                ),
                (
                    L,
                    0.0,
                    "{{schema:0 count:2.5 sum:0.125 z_bucket:2.5 z_bucket_w:0.1 }}",
                ),
                (
                    U,
                    0.0,
                    "{{schema:0 count:2.5 sum:-0.125 z_bucket:2.5 z_bucket_w:0.1 }}",
                ),
                (
                    L,
                    -0.05,
                    "{{schema:0 count:3.75 sum:0.09375 z_bucket:3.75 z_bucket_w:0.1 }}",
                ),
                (
                    U,
                    -0.05,
                    "{{schema:0 count:1.25 sum:-0.09375 z_bucket:1.25 z_bucket_w:0.1 }}",
                ),
                (
                    U,
                    -0.1,
                    "{{schema:0 count:0 sum:0 z_bucket:0 z_bucket_w:0.1 }}",
                ),
                (
                    L,
                    -0.1,
                    "{{schema:0 count:5 sum:0 z_bucket:5 z_bucket_w:0.1 }}",
                ),
            ],
        );
        trims(
            "{{schema:0 sum:-6.75 z_bucket:5 z_bucket_w:0.01 buckets:[2 3] n_buckets:[1 2 3]}}",
            &[
                (U, -0.005, "{{count:7.25 sum:-12.03019028017131 z_bucket:1.25 z_bucket_w:0.01 n_buckets:[1 2 3]}}"),
                (L, 0.0, "{{count:7.5 sum:5.669354249492381 z_bucket:2.5 z_bucket_w:0.01 buckets:[2 3]}}"),
            ],
        );
    }

    #[test]
    fn trim_custom_buckets() {
        let inf = f64::INFINITY;
        trims(
            "{{schema:-53 sum:172.5 count:15 custom_values:[5 10 15 20] buckets:[1 6 4 3 1]}}",
            &[
                (U, 15.0, "{{schema:-53 count:11 sum:97.5 custom_values:[5 10 15 20] buckets:[1 6 4]}}"),
                (L, 15.0, "{{schema:-53 count:4 sum:72.5 custom_values:[5 10 15 20] offset:3 buckets:[3 1]}}"),
                (U, 13.0, "{{schema:-53 count:9.4 sum:75.1 custom_values:[5 10 15 20] buckets:[1 6 2.4]}}"),
                (L, 13.0, "{{schema:-53 count:5.6 sum:94.9 custom_values:[5 10 15 20] offset:2 buckets:[1.6 3 1]}}"),
                (U, 7.5, "{{schema:-53 count:4 sum:21.25 custom_values:[5 10 15 20] buckets:[1 3]}}"),
                (U, 50.0, "{{schema:-53 count:14 sum:150.0 custom_values:[5 10 15 20] buckets:[1 6 4 3]}}"),
                (U, -inf, "{{schema:-53 custom_values:[5 10 15 20]}}"),
                (L, inf, "{{schema:-53 custom_values:[5 10 15 20]}}"),
                (U, inf, "{{schema:-53 sum:172.5 count:15 custom_values:[5 10 15 20] buckets:[1 6 4 3 1]}}"),
                (L, -inf, "{{schema:-53 sum:172.5 count:15 custom_values:[5 10 15 20] buckets:[1 6 4 3 1]}}"),
                (L, 0.0, "{{schema:-53 sum:172.5 count:15 custom_values:[5 10 15 20] buckets:[1 6 4 3 1]}}"),
                (U, 0.0, "{{schema:-53 custom_values:[5 10 15 20]}}"),
            ],
        );
        trims(
            "{{schema:-53 sum:172.5 count:15 custom_values:[-10 5 10 15 20] buckets:[2 1 6 4 3 1]}}",
            &[
                (U, 2.0, "{{schema:-53 count:2.8 sum:-23.2 custom_values:[-10 5 10 15 20] buckets:[2 0.8]}}"),
                (U, -4.0, "{{schema:-53 count:2.4 sum:-22.8 custom_values:[-10 5 10 15 20] buckets:[2 0.4]}}"),
                (U, -15.0, "{{schema:-53 count:2 sum:-30 custom_values:[-10 5 10 15 20] buckets:[2]}}"),
            ],
        );
        trims(
            "{{schema:-53 sum:100.0 count:100 buckets:[100]}}",
            &[
                (U, 10.0, "{{schema:-53 sum:0.0 count:0 buckets:[0]}}"),
                (L, 10.0, "{{schema:-53 sum:0.0 count:0 buckets:[0]}}"),
                (U, inf, "{{schema:-53 sum:100 count:100 buckets:[100]}}"),
                (L, inf, "{{schema:-53 sum:0 count:0 buckets:[0]}}"),
                (L, -inf, "{{schema:-53 sum:100 count:100 buckets:[100]}}"),
                (U, -inf, "{{schema:-53 sum:0 count:0 buckets:[0]}}"),
            ],
        );
        trims(
            "{{schema:-53 sum:33.0 count:100 custom_values:[0] buckets:[1 100]}}",
            &[
                (
                    U,
                    10.0,
                    "{{schema:-53 sum:0.0 count:1 custom_values:[0] buckets:[1 0]}}",
                ),
                (
                    U,
                    0.0,
                    "{{schema:-53 sum:0.0 count:1 custom_values:[0] buckets:[1 0]}}",
                ),
                (
                    U,
                    -10.0,
                    "{{schema:-53 sum:-10.0 count:1 custom_values:[0] buckets:[1 0]}}",
                ),
                (
                    L,
                    -10.0,
                    "{{schema:-53 sum:0.0 count:100 custom_values:[0] buckets:[0 100]}}",
                ),
                (
                    L,
                    0.0,
                    "{{schema:-53 sum:0.0 count:100 custom_values:[0] buckets:[0 100]}}",
                ),
                (
                    L,
                    10.0,
                    "{{schema:-53 sum:1000.0 count:100 custom_values:[0] buckets:[0 100]}}",
                ),
            ],
        );
        trims(
            "{{schema:-53 sum:33 count:101 custom_values:[5] buckets:[1 100]}}",
            &[
                (
                    U,
                    10.0,
                    "{{schema:-53 sum:2.5 count:1 custom_values:[5] buckets:[1 0]}}",
                ),
                (
                    U,
                    2.0,
                    "{{schema:-53 sum:0.4 count:0.4 custom_values:[5] buckets:[0.4 0]}}",
                ),
                (U, 0.0, "{{schema:-53 custom_values:[5]}}"),
                (
                    U,
                    -10.0,
                    "{{schema:-53 sum:0.0 count:0 custom_values:[5] buckets:[0 0]}}",
                ),
                (
                    L,
                    -10.0,
                    "{{schema:-53 sum:500.0 count:100 custom_values:[5] buckets:[0 100]}}",
                ),
                (
                    L,
                    0.0,
                    "{{schema:-53 sum:33.0 count:101 custom_values:[5] buckets:[1 100]}}",
                ),
                (
                    L,
                    2.0,
                    "{{schema:-53 sum:502.1 count:100.6 custom_values:[5] buckets:[0.6 100]}}",
                ),
                (
                    L,
                    10.0,
                    "{{schema:-53 sum:1000.0 count:100 custom_values:[5] buckets:[0 100]}}",
                ),
            ],
        );
        trims(
            "{{schema:-53 sum:33 count:101 custom_values:[-5] buckets:[1 100]}}",
            &[
                (
                    U,
                    10.0,
                    "{{schema:-53 sum:-5.0 count:1 custom_values:[-5] buckets:[1 0]}}",
                ),
                (
                    U,
                    0.0,
                    "{{schema:-53 sum:-5 count:1 custom_values:[-5] buckets:[1 0]}}",
                ),
                (
                    U,
                    -2.0,
                    "{{schema:-53 sum:-5.0 count:1 custom_values:[-5] buckets:[1 0]}}",
                ),
                (
                    U,
                    -10.0,
                    "{{schema:-53 sum:-10.0 count:1 custom_values:[-5] buckets:[1 0]}}",
                ),
                (
                    L,
                    -10.0,
                    "{{schema:-53 sum:-500 count:100 custom_values:[-5] buckets:[0 100]}}",
                ),
                (
                    L,
                    -2.0,
                    "{{schema:-53 sum:-200 count:100 custom_values:[-5] buckets:[0 100]}}",
                ),
                (
                    L,
                    0.0,
                    "{{schema:-53 sum:0.0 count:100 custom_values:[-5] buckets:[0 100]}}",
                ),
                (
                    L,
                    10.0,
                    "{{schema:-53 sum:1000.0 count:100 custom_values:[-5] buckets:[0 100]}}",
                ),
            ],
        );
        // Empty histograms stay empty.
        for x in [-inf, -5.0, 0.0, 5.0, inf] {
            for upper in [U, L] {
                trims("{{}}", &[(upper, x, "{{}}")]);
                trims(
                    "{{schema:-53 custom_values:[-3 2]}}",
                    &[(upper, x, "{{schema:-53 custom_values:[-3 2]}}")],
                );
            }
        }
    }

    // --- rate, increase, delta, irate, idelta ---

    fn series(hs: &[FloatHistogram], step_ms: i64) -> Vec<(i64, &FloatHistogram)> {
        hs.iter()
            .enumerate()
            .map(|(i, h)| (i as i64 * step_ms, h))
            .collect()
    }

    #[test]
    fn increase_gauge_histograms_warns() {
        let hs = [
            hist("{{schema:0 sum:1 count:1 buckets:[1] counter_reset_hint:gauge}}"),
            hist("{{schema:0 sum:2 count:2 buckets:[2] counter_reset_hint:gauge}}"),
            hist("{{schema:0 sum:3 count:3 buckets:[3] counter_reset_hint:gauge}}"),
        ];
        let o = histogram_increase(&series(&hs[..2], 30_000), true);
        outcome(
            &o,
            Some("{{count:1 sum:1 buckets:[1] counter_reset_hint:gauge}}"),
            &[HistNote::NotCounter],
        );
        let o = histogram_increase(&series(&hs, 30_000), true);
        outcome(
            &o,
            Some("{{count:2 sum:2 buckets:[2]}}"),
            &[HistNote::NotCounter],
        );
    }

    #[test]
    fn increase_mixed_schemas() {
        let exp1 = hist("{{schema:0 sum:1 count:1 buckets:[1]}}");
        let cus = hist("{{schema:-53 sum:1 count:1 custom_values:[5 10] buckets:[1]}}");
        let exp4 = hist("{{schema:0 sum:5 count:4 buckets:[1 2 1]}}");
        // Exponential, custom, exponential: no result.
        let pts = [(0, &exp1), (30_000, &cus), (60_000, &exp4)];
        outcome(
            &histogram_increase(&pts, true),
            None,
            &[HistNote::MixedExponentialCustom],
        );
        // Custom, exponential: the reset drops the custom one.
        let pts = [(30_000, &cus), (60_000, &exp4)];
        outcome(
            &histogram_increase(&pts, true),
            Some("{{count:4 sum:5 counter_reset_hint:gauge buckets:[1 2 1]}}"),
            &[],
        );
        // Exponential, custom: likewise.
        let pts = [(0, &exp4), (30_000, &cus)];
        outcome(
            &histogram_increase(&pts, true),
            Some("{{schema:-53 sum:1 count:1 custom_values:[5 10] buckets:[1]}}"),
            &[],
        );
    }

    #[test]
    fn increase_and_delta_with_custom_buckets() {
        let a = hist("{{schema:-53 sum:1 count:1 custom_values:[5] buckets:[1]}}");
        let b = hist("{{schema:-53 sum:1 count:1 custom_values:[5 10] buckets:[1]}}");
        let at12 = [a.clone(), a.clone(), b.clone()];
        let at18 = [a.clone(), b.clone(), b.clone()];
        // The subtraction reconciles the bounds [5] and [5 10].
        let sub = HistNote::MismatchedCustomBuckets(HistOp::Subtraction);
        for hs in [&at12, &at18] {
            outcome(
                &histogram_increase(&series(hs, 360_000), true),
                Some("{{schema:-53 custom_values:[5]}}"),
                &[sub],
            );
            outcome(
                &histogram_increase(&series(hs, 360_000), false),
                Some("{{schema:-53 custom_values:[5]}}"),
                &[sub, HistNote::NotGauge],
            );
        }
    }

    #[test]
    fn delta_and_counter_resets() {
        let g = |i: f64| {
            hist(&format!(
                "{{{{schema:0 sum:{i} count:{} buckets:[{i} {i} {i}] counter_reset_hint:gauge}}}}",
                2.0 * i
            ))
        };
        let hs: Vec<_> = (1..=4).map(|i| g(i as f64)).collect();
        outcome(
            &histogram_increase(&series(&hs, 300_000), false),
            Some("{{schema:0 sum:3 count:6 buckets:[3 3 3]}}"),
            &[],
        );
        // A counter with a reset in the middle.
        let hs = [
            hist("{{schema:0 sum:5 count:5 buckets:[5]}}"),
            hist("{{schema:0 sum:8 count:8 buckets:[8]}}"),
            hist("{{schema:0 sum:2 count:2 buckets:[2]}}"),
            hist("{{schema:0 sum:6 count:6 buckets:[2 4]}}"),
        ];
        outcome(
            &histogram_increase(&series(&hs, 60_000), true),
            Some("{{schema:0 sum:9 count:9 buckets:[5 4] counter_reset_hint:gauge}}"),
            &[],
        );
        // A reset marked by start timestamps (0 = unknown).
        let hs = [
            hist("{{schema:0 sum:5 count:5 buckets:[5]}}"),
            hist("{{schema:0 sum:8 count:8 buckets:[8]}}"),
        ];
        let pts = [(60_000, &hs[0]), (120_000, &hs[1])];
        for (st, want) in [
            ([1, 90_000], "{{schema:0 sum:8 count:8 buckets:[8]}}"),
            ([1, 1], "{{schema:0 sum:3 count:3 buckets:[3]}}"),
            ([0, 0], "{{schema:0 sum:3 count:3 buckets:[3]}}"),
        ] {
            outcome(
                &histogram_increase_with_start_ts(&pts, &st, true),
                Some(want),
                &[],
            );
        }
        outcome(
            &histogram_increase_with_start_ts(&pts, &[1, 90_000], false),
            Some("{{schema:0 sum:3 count:3 buckets:[3]}}"),
            &[HistNote::NotGauge],
        );
    }

    #[test]
    fn increase_reduces_to_smallest_schema() {
        // Schema 1 buckets 0 and 1 are schema 0 buckets 0 and 1.
        let hs = [
            hist("{{schema:1 sum:1 count:2 buckets:[1 1]}}"),
            hist("{{schema:0 sum:2 count:4 buckets:[2 2]}}"),
            hist("{{schema:0 sum:3 count:6 buckets:[3 3]}}"),
        ];
        outcome(
            &histogram_increase(&series(&hs, 60_000), true),
            Some("{{schema:0 sum:2 count:4 buckets:[2 2]}}"),
            &[],
        );
        // For delta only the first and the last count.
        outcome(
            &histogram_increase(&series(&hs, 60_000), false),
            Some("{{schema:0 sum:2 count:4 buckets:[2 2]}}"),
            &[HistNote::NotGauge],
        );
    }

    #[test]
    fn irate_idelta() {
        // functions.test
        let a = hist("{{sum:14 count:14}}");
        let b = hist("{{sum:17 count:17}}");
        outcome(
            &histogram_irate_idelta(&a, &b, true, 300_000, false),
            Some("{{sum:0.01 count:0.01 counter_reset_hint:gauge}}"),
            &[],
        );
        let c1 = hist("{{sum:1 count:1}}");
        let c2 = hist("{{sum:4 count:4 counter_reset_hint:gauge}}");
        outcome(
            &histogram_irate_idelta(&c1, &c2, true, 300_000, false),
            Some("{{sum:0.01 count:0.01 counter_reset_hint:gauge}}"),
            &[HistNote::NotCounter],
        );
        let f1 = hist("{{sum:1 count:1}}");
        let f2 = hist("{{schema:-53 sum:3 count:3 custom_values:[5 10] buckets:[3]}}");
        outcome(
            &histogram_irate_idelta(&f1, &f2, true, 300_000, false),
            Some("{{schema:-53 sum:0.01 count:0.01 custom_values:[5 10] buckets:[0.01]}}"),
            &[],
        );
        let ga = hist("{{sum:5 count:11 counter_reset_hint:gauge}}");
        let gb = hist("{{sum:6 count:14 counter_reset_hint:gauge}}");
        outcome(
            &histogram_irate_idelta(&ga, &gb, false, 300_000, false),
            Some("{{sum:1 count:3 counter_reset_hint:gauge}}"),
            &[],
        );
        let d1 = hist("{{sum:1 count:1 counter_reset_hint:gauge}}");
        let d2 = hist("{{sum:2 count:2}}");
        outcome(
            &histogram_irate_idelta(&d1, &d2, false, 300_000, false),
            Some("{{sum:1 count:1 counter_reset_hint:gauge}}"),
            &[HistNote::NotGauge],
        );
        let e1 = hist("{{sum:1 count:1 counter_reset_hint:gauge}}");
        let e2 = hist("{{schema:-53 sum:1 count:1 custom_values:[5 10] buckets:[1] counter_reset_hint:gauge}}");
        outcome(
            &histogram_irate_idelta(&e1, &e2, false, 300_000, false),
            None,
            &[HistNote::MixedExponentialCustom],
        );
        let g1 = hist(
            "{{schema:-53 sum:1 count:1 custom_values:[1] buckets:[2] counter_reset_hint:gauge}}",
        );
        let g2 = hist("{{schema:-53 sum:1 count:1 custom_values:[1 10] buckets:[1] counter_reset_hint:gauge}}");
        outcome(
            &histogram_irate_idelta(&g1, &g2, false, 300_000, false),
            Some("{{schema:-53 custom_values:[1] counter_reset_hint:gauge buckets:[-1]}}"),
            &[HistNote::MismatchedCustomBuckets(HistOp::Subtraction)],
        );
        // native_histograms.test: reconciled bounds for irate.
        let n1 = hist("{{schema:-53 sum:55 count:15 custom_values:[2 4 6] buckets:[1 2 5 7]}}");
        let n2 = hist("{{schema:-53 sum:555 count:450 custom_values:[1 2 3 4 5 6 7 8] buckets:[10 20 30 40 50 60 70 80 90]}}");
        let mut o = histogram_irate_idelta(&n1, &n2, true, 60_000, false);
        if let Some(h) = o.value.as_mut() {
            h.mul(60.0);
        }
        outcome(
            &o,
            Some("{{schema:-53 sum:500 count:435 custom_values:[2 4 6] buckets:[29 68 105 233]}}"),
            &[HistNote::MismatchedCustomBuckets(HistOp::Subtraction)],
        );
        // A reset: the result is the last histogram.
        let r = histogram_irate_idelta(&b, &a, true, 300_000, false);
        outcome(
            &r,
            Some("{{sum:0.04666666666666667 count:0.04666666666666667}}"),
            &[],
        );
        let r = histogram_irate_idelta(&a, &b, true, 300_000, true);
        outcome(
            &r,
            Some("{{sum:0.05666666666666667 count:0.05666666666666667}}"),
            &[],
        );
    }

    #[test]
    fn start_timestamp_resets() {
        assert!(!is_start_timestamp_reset(0, 10, 0, 20));
        assert!(!is_start_timestamp_reset(0, 10, 25, 20));
        assert!(!is_start_timestamp_reset(0, 10, 5, 20));
        assert!(is_start_timestamp_reset(0, 10, 15, 20));
        assert!(!is_start_timestamp_reset(0, 10, 10, 20));
        assert!(is_start_timestamp_reset(5, 10, 10, 20));
    }

    // --- sum_over_time, avg_over_time ---

    #[test]
    fn sum_and_avg_over_time() {
        let hs = [
            hist("{{schema:0 count:25 sum:1234.5 z_bucket:4 z_bucket_w:0.001 buckets:[1 2 0 1 1] n_buckets:[2 4 0 0 1 9]}}"),
            hist("{{schema:0 count:41 sum:2345.6 z_bucket:5 z_bucket_w:0.001 buckets:[1 3 1 2 1 1 1] n_buckets:[0 1 4 2 7 0 0 0 0 5 5 2]}}"),
            hist("{{schema:0 count:41 sum:1111.1 z_bucket:5 z_bucket_w:0.001 buckets:[1 3 1 2 1 1 1] n_buckets:[0 1 4 2 7 0 0 0 0 5 5 2]}}"),
            hist("{{schema:1 count:0}}"),
        ];
        let refs: Vec<_> = hs.iter().collect();
        outcome(
            &histogram_sum_over_time(&refs),
            Some("{{schema:0 count:107 sum:4691.2 z_bucket:14 z_bucket_w:0.001 buckets:[3 8 2 5 3 2 2] n_buckets:[2 6 8 4 15 9 0 0 0 10 10 4]}}"),
            &[],
        );
        outcome(
            &histogram_avg_over_time(&refs),
            Some("{{schema:0 count:26.75 sum:1172.8 z_bucket:3.5 z_bucket_w:0.001 buckets:[0.75 2 0.5 1.25 0.75 0.5 0.5] n_buckets:[0.5 1.5 2 1 3.75 2.25 0 0 0 2.5 2.5 1]}}"),
            &[],
        );
    }

    #[test]
    fn sum_and_avg_over_time_kahan_and_incremental() {
        let run = |s: &[&str], sum: &str, avg: &str| {
            let hs: Vec<_> = s.iter().map(|h| hist(h)).collect();
            let refs: Vec<_> = hs.iter().collect();
            outcome(&histogram_sum_over_time(&refs), Some(sum), &[]);
            outcome(&histogram_avg_over_time(&refs), Some(avg), &[]);
        };
        run(
            &[
                "{{schema:0 count:1 sum:1}}",
                "{{schema:0 count:2 sum:1e100}}",
                "{{schema:0 count:3 sum:1}}",
                "{{schema:0 count:4 sum:-1e100}}",
            ],
            "{{schema:0 count:10 sum:2}}",
            "{{schema:0 count:2.5 sum:0.5}}",
        );
        run(
            &[
                "{{schema:0 count:1 sum:5.3}}",
                "{{schema:0 count:2 sum:1e100}}",
                "{{schema:0 count:3 sum:1}}",
                "{{schema:0 count:4 sum:-1e100}}",
                "{{schema:0 count:5 sum:2}}",
                "{{schema:0 count:6 sum:1e50}}",
                "{{schema:0 count:7 sum:-1e50}}",
            ],
            "{{schema:0 count:28 sum:8.3}}",
            "{{schema:0 count:4 sum:1.1857142857142857}}",
        );
        run(
            &[
                "{{schema:0 count:1.7976931348623157e+308 sum:5.3}}",
                "{{schema:0 count:1e308 sum:1e100}}",
                "{{schema:0 count:1e-6 sum:1}}",
                "{{schema:0 count:1e-6 sum:-1e100}}",
                "{{schema:0 count:1e-6 sum:2}}",
                "{{schema:0 count:1e-6 sum:0}}",
                "{{schema:0 count:1e-6 sum:0}}",
            ],
            "{{schema:0 count:Inf sum:8.3}}",
            "{{schema:0 count:3.9967044783747367e+307 sum:1.1857142857142857}}",
        );
        run(
            &[
                "{{schema:0 count:1.7976931348623157e+308 sum:5.3}}",
                "{{schema:0 count:1e308 sum:1e100}}",
                "{{schema:0 count:1e-6 sum:-1e100}}",
                "{{schema:0 count:1e-6 sum:1}}",
                "{{schema:0 count:1e-6 sum:1e100}}",
                "{{schema:0 count:1e-6 sum:-1e100}}",
                "{{schema:0 count:1e-6 sum:0}}",
            ],
            "{{schema:0 count:Inf sum:6.3}}",
            "{{schema:0 count:3.9967044783747367e+307 sum:0.9}}",
        );
        let hs: Vec<_> = [
            "{{schema:0 count:1.7976931348623157e+308 sum:1}}",
            "{{schema:0 count:1e308 sum:1e100}}",
            "{{schema:0 count:1e-6 sum:1}}",
            "{{schema:0 count:1e-6 sum:-1e100}}",
        ]
        .iter()
        .map(|h| hist(h))
        .collect();
        let refs: Vec<_> = hs.iter().collect();
        outcome(
            &histogram_sum_over_time(&refs),
            Some("{{schema:0 count:Inf sum:2}}"),
            &[],
        );
    }

    #[test]
    fn over_time_notes() {
        let a = hist("{{schema:-53 sum:1 count:1 custom_values:[5] buckets:[1]}}");
        let b = hist("{{schema:-53 sum:1 count:1 custom_values:[5 10] buckets:[1]}}");
        let info = [HistNote::MismatchedCustomBuckets(HistOp::Aggregation)];
        outcome(
            &histogram_sum_over_time(&[&a, &a, &b]),
            Some("{{schema:-53 count:3 sum:3 custom_values:[5] buckets:[3]}}"),
            &info,
        );
        outcome(
            &histogram_avg_over_time(&[&a, &a, &b]),
            Some("{{schema:-53 count:1 sum:1 custom_values:[5] buckets:[1]}}"),
            &info,
        );
        let e = hist("{{schema:0 sum:1 count:1 buckets:[1]}}");
        let mixed = [HistNote::MixedExponentialCustom];
        outcome(&histogram_sum_over_time(&[&a, &e]), None, &mixed);
        outcome(&histogram_avg_over_time(&[&e, &a, &e]), None, &mixed);
        let r = hist("{{schema:0 sum:1 count:1 buckets:[1] counter_reset_hint:reset}}");
        let n = hist("{{schema:0 sum:1 count:1 buckets:[1] counter_reset_hint:not_reset}}");
        let collision = [HistNote::CounterResetCollision(HistOp::Aggregation)];
        assert_eq!(histogram_sum_over_time(&[&n, &r]).notes, collision);
        assert_eq!(histogram_avg_over_time(&[&r, &e, &n]).notes, collision);
        assert_eq!(histogram_sum_over_time(&[&r, &e, &r]).notes, []);
        assert_eq!(histogram_sum_over_time(&[]), HistOutcome::default());
        outcome(
            &histogram_sum_over_time(&[&e]),
            Some("{{schema:0 sum:1 count:1 buckets:[1]}}"),
            &[],
        );
    }
}
