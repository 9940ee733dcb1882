//! Arithmetic on histograms, following Prometheus's `FloatHistogram` methods
//! (`Add`, `Sub`, `KahanAdd`, `Mul`, `Div`, `ReduceResolution`, `DetectReset`,
//! `Equals`).
//!
//! Inputs with an inconsistent layout (spans describing more or fewer buckets
//! than there are counts, negative offsets after the first span, indexes
//! beyond the `i32` range) are rejected with [`HistogramError::Invalid`]
//! instead of being processed; nothing here panics.

use super::bounds::{exponential_bound, is_exponential_schema, target_index};
use super::iter::{MergedBuckets, RawBuckets};
use super::{CounterResetHint, FloatHistogram, Span};

/// Why two histograms cannot be combined, or why a histogram is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistogramError {
    /// One operand uses custom buckets, the other an exponential schema
    /// (Prometheus `ErrHistogramsIncompatibleSchema`).
    #[error("cannot apply this operation on histograms with a mix of exponential and custom bucket schemas")]
    MixedExponentialCustom,
    /// An invalid histogram; the message uses Prometheus's wording where
    /// Prometheus has one (e.g. `positive side: spans need 3 buckets, have 2
    /// buckets: histogram spans specify different number of buckets than provided`).
    #[error("{0}")]
    Invalid(String),
}

/// Side information reported by [`FloatHistogram::add`] and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddOutcome {
    /// One operand said `CounterReset`, the other `NotCounterReset`; the
    /// result's hint has been set to `Unknown`.
    pub counter_reset_collision: bool,
    /// Custom bucket bounds differed and both operands were mapped onto the
    /// bounds they have in common.
    pub nhcb_bounds_reconciled: bool,
}

/// Prometheus `kahansum.Inc` (Neumaier's variant): `sum + inc`, with the lost
/// low-order part accumulated in `c`. Also the float summation of the PromQL
/// engine.
#[inline]
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Prometheus `kahansum.Dec`: `sum - dec`, compensated.
pub(crate) fn kahan_dec(dec: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum - dec;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= dec.abs() {
        c + ((sum - t) - dec)
    } else {
        c + ((-dec - t) + sum)
    };
    (t, c)
}

/// How bucket values of the second operand are folded into the first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fold {
    Add,
    Sub,
    Kahan,
}

/// One side (positive or negative) of a histogram being computed on: spans,
/// counts, and (for Kahan summation) a parallel array of compensations.
struct Side {
    spans: Vec<Span>,
    values: Vec<f64>,
    comps: Option<Vec<f64>>,
}

impl Side {
    fn comp(&self, i: usize) -> f64 {
        self.comps
            .as_ref()
            .and_then(|c| c.get(i).copied())
            .unwrap_or(0.0)
    }
}

/// `(index, value, compensation)` of one bucket.
type Entry = (i64, f64, f64);

/// Decodes a side into entries, pairing compensations by position.
fn entries(spans: &[Span], values: &[f64], comps: Option<&[f64]>) -> Vec<Entry> {
    RawBuckets::new(spans, values)
        .enumerate()
        .map(|(pos, (i, v))| {
            (
                i64::from(i),
                v,
                comps.and_then(|c| c.get(pos).copied()).unwrap_or(0.0),
            )
        })
        .collect()
}

/// Builds spans (relative offsets) from absolute `(start, length)` runs.
fn relative_spans(runs: &[(i64, u32)]) -> Vec<Span> {
    let mut prev_end: Option<i64> = None;
    runs.iter()
        .map(|&(start, length)| {
            let offset = prev_end.map_or(start, |e| start - e);
            prev_end = Some(start + i64::from(length));
            Span::new(clamp_i32(offset), length)
        })
        .collect()
}

fn clamp_i32(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Prometheus `addBuckets`/`kahanAddBuckets`: folds the (ascending) entries of
/// `b` into side `a`, creating missing buckets. A bucket of `b` that falls into
/// a gap of `a` extends the span ending right before it, else the span starting
/// right after it, else opens a new span; spans are never merged otherwise, so
/// the result may contain adjacent spans or empty buckets (see `compact`).
fn add_buckets(a: Side, b: &[Entry], fold: Fold) -> Side {
    struct Out {
        runs: Vec<(i64, u32)>,
        values: Vec<f64>,
        comps: Option<Vec<f64>>,
    }
    impl Out {
        fn push(&mut self, v: f64, c: f64) {
            self.values.push(v);
            if let Some(cs) = self.comps.as_mut() {
                cs.push(c);
            }
        }
        /// Places a bucket of `b` at `x`, in a gap of `a`. Returns true if it
        /// opened a span that the span of `a` starting at `next_start` joins.
        fn insert(&mut self, (x, v, c): Entry, next_start: Option<i64>) -> bool {
            self.push(v, c);
            match self.runs.last_mut() {
                Some(last) if last.0 + i64::from(last.1) == x => {
                    last.1 += 1;
                    false
                }
                _ => {
                    self.runs.push((x, 1));
                    next_start == Some(x + 1)
                }
            }
        }
    }

    let capacity = a.values.len() + b.len();
    let mut out = Out {
        runs: Vec::with_capacity(a.spans.len() + 1),
        values: Vec::with_capacity(capacity),
        comps: (fold == Fold::Kahan).then(|| Vec::with_capacity(capacity)),
    };
    let negate = |(x, v, c): Entry| {
        if fold == Fold::Sub {
            (x, -v, -c)
        } else {
            (x, v, c)
        }
    };
    let mut b_iter = b.iter().copied().map(negate).peekable();

    let mut pos = 0usize;
    let mut prev_end: Option<i64> = None;
    for span in &a.spans {
        let start = prev_end.map_or(i64::from(span.offset), |e| e + i64::from(span.offset));
        let mut join = false;
        while let Some(e) = b_iter.next_if(|e| e.0 < start) {
            join = out.insert(e, Some(start));
        }
        match out.runs.last_mut() {
            Some(last) if join => last.1 += span.length,
            _ => out.runs.push((start, span.length)),
        }
        for k in 0..i64::from(span.length) {
            let idx = start + k;
            let mut v = a.values.get(pos).copied().unwrap_or(0.0);
            let mut c = a.comp(pos);
            while let Some((_, bv, bc)) = b_iter.next_if(|e| e.0 == idx) {
                if fold == Fold::Kahan {
                    (v, c) = kahan_inc(bv, v, c);
                    if bc != 0.0 {
                        (v, c) = kahan_inc(bc, v, c);
                    }
                } else {
                    v += bv;
                }
            }
            out.push(v, c);
            pos += 1;
        }
        prev_end = Some(start + i64::from(span.length));
    }
    for e in b_iter {
        out.insert(e, None);
    }
    Side {
        spans: relative_spans(&out.runs),
        values: out.values,
        comps: out.comps,
    }
}

/// Prometheus `reduceResolution`/`kahanReduceResolution` for absolute counts:
/// merges the buckets of `side` from schema `origin` into schema `target`.
fn reduce_side(side: Side, origin: i32, target: i32, kahan: bool) -> Side {
    let mut runs: Vec<(i64, u32)> = Vec::new();
    let mut values: Vec<f64> = Vec::with_capacity(side.values.len());
    let mut comps: Option<Vec<f64>> = side
        .comps
        .as_ref()
        .map(|_| Vec::with_capacity(side.values.len()));
    let mut last_target: i64 = 0;
    for (pos, (index, v)) in RawBuckets::new(&side.spans, &side.values).enumerate() {
        let c = side.comp(pos);
        let t = i64::from(target_index(index, origin, target));
        match runs.last_mut() {
            None => runs.push((t, 1)),
            Some(_) if t == last_target => {
                let (Some(tv), tc) = (
                    values.last_mut(),
                    comps.as_mut().and_then(|cs| cs.last_mut()),
                ) else {
                    continue;
                };
                if kahan {
                    let mut comp = tc.as_deref().copied().unwrap_or(0.0);
                    (*tv, comp) = kahan_inc(v, *tv, comp);
                    (*tv, comp) = kahan_inc(c, *tv, comp);
                    if let Some(tc) = tc {
                        *tc = comp;
                    }
                } else {
                    *tv += v;
                }
                continue;
            }
            Some(last) if t == last_target + 1 => last.1 += 1,
            Some(_) if t > last_target + 1 => runs.push((t, 1)),
            // Out of order (only possible for inconsistent spans): dropped,
            // as Prometheus does.
            Some(_) => continue,
        }
        last_target = t;
        values.push(v);
        if let Some(cs) = comps.as_mut() {
            cs.push(c);
        }
    }
    Side {
        spans: relative_spans(&runs),
        values,
        comps,
    }
}

/// Checks that a side is consistent enough to compute with.
fn check_side(spans: &[Span], n_buckets: usize, side: &str) -> Result<(), HistogramError> {
    let mut needed: u64 = 0;
    let mut index: i64 = 0;
    for (n, span) in spans.iter().enumerate() {
        if n > 0 && span.offset < 0 {
            return Err(HistogramError::Invalid(format!(
                "{side} side: span number {} with offset {}: histogram has a span whose offset is negative",
                n + 1,
                span.offset
            )));
        }
        needed += u64::from(span.length);
        index += i64::from(span.offset) + i64::from(span.length);
    }
    if needed != n_buckets as u64 {
        return Err(HistogramError::Invalid(format!(
            "{side} side: spans need {needed} buckets, have {n_buckets} buckets: histogram spans specify different number of buckets than provided"
        )));
    }
    if index - 1 > i64::from(i32::MAX) {
        return Err(HistogramError::Invalid(format!(
            "{side} side: bucket index {} exceeds the supported range",
            index - 1
        )));
    }
    Ok(())
}

fn check_layout(h: &FloatHistogram) -> Result<(), HistogramError> {
    check_side(&h.positive_spans, h.positive_buckets.len(), "positive")?;
    if !h.uses_custom_buckets() {
        check_side(&h.negative_spans, h.negative_buckets.len(), "negative")?;
    }
    Ok(())
}

/// Prometheus `intersectCustomBucketBounds`.
fn intersect_bounds(a: &[f64], b: &[f64]) -> Vec<f64> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(a[i]);
            i += 1;
            j += 1;
        } else if a[i] < b[j] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Prometheus `CustomBucketBoundsMatch`.
fn bounds_match(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Prometheus `addCustomBucketsWithMismatches`: maps the buckets of both
/// operands onto the `common` bounds (each bucket goes to the first common
/// bound `>=` its own upper bound, or the +Inf bucket) and folds them there.
/// Buckets ending up empty (value and compensation both zero) are dropped.
fn add_mismatched_custom(
    a: &Side,
    a_bounds: &[f64],
    b: &Side,
    b_bounds: &[f64],
    common: &[f64],
    negative: bool,
) -> Side {
    let n = common.len() + 1;
    let mut target = vec![0.0; n];
    let mut target_c = vec![0.0; n];
    let mut map = |side: &Side, bounds: &[f64], negative: bool, with_comps: bool| {
        let mut src: i64 = 0;
        let mut pos = 0usize;
        let mut common_idx = 0usize;
        for span in &side.spans {
            src += i64::from(span.offset);
            for _ in 0..span.length {
                if let Some(&value) = side.values.get(pos) {
                    let mut t = n - 1;
                    let own_bound = match usize::try_from(src) {
                        Ok(i) => bounds.get(i).copied(),
                        Err(_) => Some(f64::NEG_INFINITY),
                    };
                    if let Some(own_bound) = own_bound {
                        while common_idx < common.len() {
                            if common[common_idx] >= own_bound {
                                t = common_idx;
                                break;
                            }
                            common_idx += 1;
                        }
                    }
                    if negative {
                        (target[t], target_c[t]) = kahan_dec(value, target[t], target_c[t]);
                    } else {
                        (target[t], target_c[t]) = kahan_inc(value, target[t], target_c[t]);
                        if with_comps {
                            if let Some(c) = side.comps.as_ref().and_then(|c| c.get(pos)) {
                                (target[t], target_c[t]) = kahan_inc(*c, target[t], target_c[t]);
                            }
                        }
                    }
                }
                src += 1;
                pos += 1;
            }
        }
    };
    map(a, a_bounds, false, true);
    map(b, b_bounds, negative, false);

    let mut runs: Vec<(i64, u32)> = Vec::new();
    let mut values = Vec::new();
    let mut comps = Vec::new();
    for (i, (&v, &c)) in target.iter().zip(&target_c).enumerate() {
        if v == 0.0 && c == 0.0 {
            continue;
        }
        let i = i as i64;
        match runs.last_mut() {
            Some(last) if last.0 + i64::from(last.1) == i => last.1 += 1,
            _ => runs.push((i, 1)),
        }
        values.push(v);
        comps.push(c);
    }
    Side {
        spans: relative_spans(&runs),
        values,
        comps: Some(comps),
    }
}

impl FloatHistogram {
    /// `self += other`, like Prometheus `FloatHistogram.Add`.
    ///
    /// The result has the lower of the two schemas and the larger zero
    /// threshold (moved, if needed, to a bucket boundary not inside a
    /// populated bucket; buckets inside the widened zero bucket are folded into
    /// it). Custom-bucket histograms with equal bounds add bucket-wise; with
    /// different bounds both are mapped onto their common bounds. The result may
    /// contain empty buckets and adjacent spans; call [`compact`](Self::compact)
    /// to normalise. On error `self` is unchanged.
    pub fn add(&mut self, other: &FloatHistogram) -> Result<AddOutcome, HistogramError> {
        self.add_or_sub(other, Fold::Add)
    }

    /// `self -= other`, like Prometheus `FloatHistogram.Sub` (same rules as
    /// [`add`](Self::add), including the counter reset hint handling; PromQL's
    /// `-` operator sets the hint to `Gauge` afterwards).
    pub fn sub(&mut self, other: &FloatHistogram) -> Result<AddOutcome, HistogramError> {
        self.add_or_sub(other, Fold::Sub)
    }

    fn add_or_sub(
        &mut self,
        other: &FloatHistogram,
        fold: Fold,
    ) -> Result<AddOutcome, HistogramError> {
        self.check_compatible(other)?;
        let mut outcome = AddOutcome {
            counter_reset_collision: self.adjust_counter_reset(other),
            ..Default::default()
        };
        let negate = fold == Fold::Sub;
        if !self.uses_custom_buckets() {
            let (other_zero, _) = self.reconcile_zero_buckets(other, None);
            if negate {
                self.zero_count -= other_zero;
            } else {
                self.zero_count += other_zero;
            }
        }
        if negate {
            self.count -= other.count;
            self.sum -= other.sum;
        } else {
            self.count += other.count;
            self.sum += other.sum;
        }

        let mine = Side {
            spans: std::mem::take(&mut self.positive_spans),
            values: std::mem::take(&mut self.positive_buckets),
            comps: None,
        };
        let theirs = Side {
            spans: other.positive_spans.clone(),
            values: other.positive_buckets.clone(),
            comps: None,
        };
        if self.uses_custom_buckets() {
            let result = if bounds_match(&self.custom_values, &other.custom_values) {
                add_buckets(mine, &entries(&theirs.spans, &theirs.values, None), fold)
            } else {
                outcome.nhcb_bounds_reconciled = true;
                let common = intersect_bounds(&self.custom_values, &other.custom_values);
                let r = add_mismatched_custom(
                    &mine,
                    &self.custom_values,
                    &theirs,
                    &other.custom_values,
                    &common,
                    negate,
                );
                self.custom_values = common;
                r
            };
            self.positive_spans = result.spans;
            self.positive_buckets = result.values;
            return Ok(outcome);
        }

        let mut mine_neg = Side {
            spans: std::mem::take(&mut self.negative_spans),
            values: std::mem::take(&mut self.negative_buckets),
            comps: None,
        };
        let mut theirs_neg = Side {
            spans: other.negative_spans.clone(),
            values: other.negative_buckets.clone(),
            comps: None,
        };
        let (mut mine, mut theirs) = (mine, theirs);
        if other.schema < self.schema {
            mine = reduce_side(mine, self.schema, other.schema, false);
            mine_neg = reduce_side(mine_neg, self.schema, other.schema, false);
            self.schema = other.schema;
        } else if other.schema > self.schema {
            theirs = reduce_side(theirs, other.schema, self.schema, false);
            theirs_neg = reduce_side(theirs_neg, other.schema, self.schema, false);
        }
        let pos = add_buckets(mine, &self.above_zero_bucket(&theirs), fold);
        let neg = add_buckets(mine_neg, &self.above_zero_bucket(&theirs_neg), fold);
        self.positive_spans = pos.spans;
        self.positive_buckets = pos.values;
        self.negative_spans = neg.spans;
        self.negative_buckets = neg.values;
        Ok(outcome)
    }

    /// `self += other` with Kahan (Neumaier) compensation, like Prometheus
    /// `FloatHistogram.KahanAdd`, used by `sum`/`avg` and `sum_over_time`.
    ///
    /// `comp` is the running compensation histogram, structurally parallel to
    /// `self`. Pass `FloatHistogram::default()` for the first addition (the
    /// equivalent of Go's `nil`); a `comp` whose bucket arrays do not match
    /// `self`'s is likewise replaced by a fresh, all-zero compensation. After
    /// the last addition, the caller folds the compensation in with
    /// `sum.add(&comp)`, as Prometheus does.
    pub fn kahan_add(
        &mut self,
        other: &FloatHistogram,
        comp: &mut FloatHistogram,
    ) -> Result<AddOutcome, HistogramError> {
        self.check_compatible(other)?;
        let mut outcome = AddOutcome {
            counter_reset_collision: self.adjust_counter_reset(other),
            ..Default::default()
        };
        let fresh = *comp == FloatHistogram::default()
            || comp.positive_buckets.len() != self.positive_buckets.len()
            || (!self.uses_custom_buckets()
                && comp.negative_buckets.len() != self.negative_buckets.len());
        if fresh {
            *comp = self.new_compensation();
        }
        if !self.uses_custom_buckets() {
            let (other_zero, other_zero_c) = self.reconcile_zero_buckets(other, Some(comp));
            (self.zero_count, comp.zero_count) =
                kahan_inc(other_zero, self.zero_count, comp.zero_count);
            (self.zero_count, comp.zero_count) =
                kahan_inc(other_zero_c, self.zero_count, comp.zero_count);
        }
        (self.count, comp.count) = kahan_inc(other.count, self.count, comp.count);
        (self.sum, comp.sum) = kahan_inc(other.sum, self.sum, comp.sum);

        let mine = Side {
            spans: std::mem::take(&mut self.positive_spans),
            values: std::mem::take(&mut self.positive_buckets),
            comps: Some(std::mem::take(&mut comp.positive_buckets)),
        };
        let theirs = Side {
            spans: other.positive_spans.clone(),
            values: other.positive_buckets.clone(),
            comps: None,
        };
        if self.uses_custom_buckets() {
            let result = if bounds_match(&self.custom_values, &other.custom_values) {
                add_buckets(
                    mine,
                    &entries(&theirs.spans, &theirs.values, None),
                    Fold::Kahan,
                )
            } else {
                outcome.nhcb_bounds_reconciled = true;
                let common = intersect_bounds(&self.custom_values, &other.custom_values);
                let r = add_mismatched_custom(
                    &mine,
                    &self.custom_values,
                    &theirs,
                    &other.custom_values,
                    &common,
                    false,
                );
                self.custom_values = common.clone();
                comp.custom_values = common;
                r
            };
            self.positive_spans = result.spans;
            self.positive_buckets = result.values;
            comp.positive_buckets = result.comps.unwrap_or_default();
            comp.positive_spans = self.positive_spans.clone();
            return Ok(outcome);
        }

        let mut mine_neg = Side {
            spans: std::mem::take(&mut self.negative_spans),
            values: std::mem::take(&mut self.negative_buckets),
            comps: Some(std::mem::take(&mut comp.negative_buckets)),
        };
        let mut theirs_neg = Side {
            spans: other.negative_spans.clone(),
            values: other.negative_buckets.clone(),
            comps: None,
        };
        let (mut mine, mut theirs) = (mine, theirs);
        if other.schema < self.schema {
            mine = reduce_side(mine, self.schema, other.schema, true);
            mine_neg = reduce_side(mine_neg, self.schema, other.schema, true);
            self.schema = other.schema;
        } else if other.schema > self.schema {
            for side in [&mut theirs, &mut theirs_neg] {
                if !side.values.is_empty() {
                    side.comps = Some(vec![0.0; side.values.len()]);
                    *side = reduce_side(
                        std::mem::replace(
                            side,
                            Side {
                                spans: Vec::new(),
                                values: Vec::new(),
                                comps: None,
                            },
                        ),
                        other.schema,
                        self.schema,
                        true,
                    );
                }
            }
        }
        let pos = add_buckets(mine, &self.above_zero_bucket(&theirs), Fold::Kahan);
        let neg = add_buckets(mine_neg, &self.above_zero_bucket(&theirs_neg), Fold::Kahan);
        self.positive_spans = pos.spans;
        self.positive_buckets = pos.values;
        self.negative_spans = neg.spans;
        self.negative_buckets = neg.values;
        comp.positive_buckets = pos.comps.unwrap_or_default();
        comp.negative_buckets = neg.comps.unwrap_or_default();
        comp.schema = self.schema;
        comp.zero_threshold = self.zero_threshold;
        comp.positive_spans = self.positive_spans.clone();
        comp.negative_spans = self.negative_spans.clone();
        Ok(outcome)
    }

    /// Prometheus `newCompensationHistogram`: same layout and hint, all zero.
    fn new_compensation(&self) -> FloatHistogram {
        let custom = self.uses_custom_buckets();
        FloatHistogram {
            counter_reset_hint: self.counter_reset_hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            positive_spans: self.positive_spans.clone(),
            negative_spans: self.negative_spans.clone(),
            positive_buckets: vec![0.0; self.positive_buckets.len()],
            negative_buckets: if custom {
                Vec::new()
            } else {
                vec![0.0; self.negative_buckets.len()]
            },
            custom_values: self.custom_values.clone(),
            ..Default::default()
        }
    }

    /// The entries of `side` (in `self`'s current schema), without the leading
    /// buckets that lie entirely inside `self`'s zero bucket.
    fn above_zero_bucket(&self, side: &Side) -> Vec<Entry> {
        let all = entries(&side.spans, &side.values, side.comps.as_deref());
        if !is_exponential_schema(self.schema) {
            return all;
        }
        let threshold = self.zero_threshold;
        let skip = all
            .iter()
            .take_while(|e| exponential_bound(clamp_i32(e.0), self.schema) <= threshold)
            .count();
        all[skip..].to_vec()
    }

    fn check_compatible(&self, other: &FloatHistogram) -> Result<(), HistogramError> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(HistogramError::MixedExponentialCustom);
        }
        check_layout(self)?;
        check_layout(other)
    }

    /// Prometheus `adjustCounterReset`; true on a CounterReset/NotCounterReset
    /// collision.
    fn adjust_counter_reset(&mut self, other: &FloatHistogram) -> bool {
        use CounterResetHint::*;
        match (self.counter_reset_hint, other.counter_reset_hint) {
            (a, b) if a == b => false,
            (Gauge, _) | (Unknown, _) => false,
            (_, Gauge) => {
                self.counter_reset_hint = Gauge;
                false
            }
            (_, Unknown) => {
                self.counter_reset_hint = Unknown;
                false
            }
            _ => {
                self.counter_reset_hint = Unknown;
                true
            }
        }
    }

    /// Prometheus `zeroCountForLargerThreshold`: the zero count (and its
    /// compensation) this histogram would have with zero threshold `larger`
    /// (`>=` the current one), together with the threshold actually needed: if
    /// `larger` falls inside a populated bucket, it grows to that bucket's
    /// outer bound.
    fn zero_count_for_larger_threshold(
        &self,
        larger: f64,
        comp: Option<&FloatHistogram>,
    ) -> (f64, f64, f64) {
        let mut larger = larger;
        let mut c_zero = comp.map_or(0.0, |c| c.zero_count);
        if larger <= self.zero_threshold {
            return (self.zero_count, larger.max(self.zero_threshold), c_zero);
        }
        let comp_at = |positive: bool, i: usize| -> f64 {
            comp.and_then(|c| {
                if positive {
                    c.positive_buckets.get(i)
                } else {
                    c.negative_buckets.get(i)
                }
            })
            .copied()
            .unwrap_or(0.0)
        };
        'outer: loop {
            let mut count = self.zero_count;
            for (i, b) in self.side_buckets(true).enumerate() {
                if b.lower >= larger {
                    break;
                }
                (count, c_zero) = kahan_inc(b.count, count, c_zero);
                if comp.is_some() {
                    (count, c_zero) = kahan_inc(comp_at(true, i), count, c_zero);
                }
                if b.upper > larger {
                    if b.count != 0.0 {
                        larger = b.upper;
                    }
                    break;
                }
            }
            for (i, b) in self.side_buckets(false).enumerate() {
                if b.upper <= -larger {
                    break;
                }
                (count, c_zero) = kahan_inc(b.count, count, c_zero);
                if comp.is_some() {
                    (count, c_zero) = kahan_inc(comp_at(false, i), count, c_zero);
                }
                if b.lower < -larger {
                    if b.count != 0.0 {
                        larger = -b.lower;
                        continue 'outer;
                    }
                    break;
                }
            }
            return (count, larger, c_zero);
        }
    }

    /// Prometheus `trimBucketsInZeroBucket`: empties the buckets inside the
    /// zero bucket (their counts are already part of the zero count) and
    /// compacts.
    fn trim_buckets_in_zero_bucket(&mut self, comp: Option<&mut FloatHistogram>) {
        let zt = self.zero_threshold;
        let n_pos = self
            .side_buckets(true)
            .take_while(|b| !is_ge(b.lower, zt))
            .count();
        let n_neg = self
            .side_buckets(false)
            .take_while(|b| !is_ge(-zt, b.upper))
            .count();
        self.positive_buckets
            .iter_mut()
            .take(n_pos)
            .for_each(|v| *v = 0.0);
        self.negative_buckets
            .iter_mut()
            .take(n_neg)
            .for_each(|v| *v = 0.0);
        match comp {
            Some(c) => {
                c.positive_buckets
                    .iter_mut()
                    .take(n_pos)
                    .for_each(|v| *v = 0.0);
                c.negative_buckets
                    .iter_mut()
                    .take(n_neg)
                    .for_each(|v| *v = 0.0);
                self.compact_with_compensation(0, c);
            }
            None => self.compact(0),
        }
    }

    /// Prometheus `reconcileZeroBuckets`: widens `self`'s zero bucket until it
    /// also covers `other`'s, at a threshold not inside a populated bucket of
    /// either. Returns the zero count (and its compensation) `other` would have
    /// with that threshold.
    fn reconcile_zero_buckets(
        &mut self,
        other: &FloatHistogram,
        mut comp: Option<&mut FloatHistogram>,
    ) -> (f64, f64) {
        let mut other_zero = other.zero_count;
        let mut other_zero_c = 0.0;
        let mut other_threshold = other.zero_threshold;
        // Each round moves a threshold up to a bucket boundary; the guard only
        // protects against pathological inputs.
        let mut rounds = 0usize;
        while other_threshold != self.zero_threshold && rounds < 4096 {
            if other_threshold.is_nan() || self.zero_threshold.is_nan() {
                break;
            }
            rounds += 1;
            if self.zero_threshold > other_threshold {
                (other_zero, other_threshold, other_zero_c) =
                    other.zero_count_for_larger_threshold(self.zero_threshold, None);
            }
            if other_threshold > self.zero_threshold {
                let (zc, zt, czc) =
                    self.zero_count_for_larger_threshold(other_threshold, comp.as_deref());
                self.zero_count = zc;
                self.zero_threshold = zt;
                if let Some(c) = comp.as_deref_mut() {
                    c.zero_count = czc;
                }
                self.trim_buckets_in_zero_bucket(comp.as_deref_mut());
            }
        }
        (other_zero, other_zero_c)
    }

    /// Multiplies count, sum, zero count and all buckets by `factor`
    /// (Prometheus `Mul`). A negative factor makes the histogram a gauge.
    pub fn mul(&mut self, factor: f64) {
        self.zero_count *= factor;
        self.count *= factor;
        self.sum *= factor;
        self.positive_buckets.iter_mut().for_each(|b| *b *= factor);
        self.negative_buckets.iter_mut().for_each(|b| *b *= factor);
        if factor < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
    }

    /// Divides count, sum, zero count and all buckets by `divisor`
    /// (Prometheus `Div`). Division by zero turns the scalars into ±Inf/NaN and
    /// removes all buckets; a negative divisor makes the histogram a gauge.
    pub fn div(&mut self, divisor: f64) {
        self.zero_count /= divisor;
        self.count /= divisor;
        self.sum /= divisor;
        if divisor == 0.0 {
            self.positive_buckets.clear();
            self.negative_buckets.clear();
            self.positive_spans.clear();
            self.negative_spans.clear();
            return;
        }
        self.positive_buckets.iter_mut().for_each(|b| *b /= divisor);
        self.negative_buckets.iter_mut().for_each(|b| *b /= divisor);
        if divisor < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
    }

    /// Merges buckets into the lower-resolution `target_schema` (Prometheus
    /// `ReduceResolution`). Does nothing when Prometheus would refuse: custom
    /// buckets, a custom target, a target not below the current schema, or an
    /// inconsistent layout. See [`try_reduce_resolution`](Self::try_reduce_resolution).
    pub fn reduce_resolution(&mut self, target_schema: i32) {
        let _ = self.try_reduce_resolution(target_schema);
    }

    /// [`reduce_resolution`](Self::reduce_resolution), reporting why nothing
    /// was done (with Prometheus's messages). On error `self` is unchanged.
    pub fn try_reduce_resolution(&mut self, target_schema: i32) -> Result<(), HistogramError> {
        if self.uses_custom_buckets() {
            return Err(HistogramError::Invalid(
                "cannot reduce resolution when there are custom buckets".into(),
            ));
        }
        if target_schema == super::CUSTOM_BUCKETS_SCHEMA {
            return Err(HistogramError::Invalid(
                "cannot reduce resolution to custom buckets schema".into(),
            ));
        }
        if target_schema >= self.schema {
            return Err(HistogramError::Invalid(format!(
                "cannot reduce resolution from schema {} to {}",
                self.schema, target_schema
            )));
        }
        check_layout(self)?;
        let pos = Side {
            spans: std::mem::take(&mut self.positive_spans),
            values: std::mem::take(&mut self.positive_buckets),
            comps: None,
        };
        let neg = Side {
            spans: std::mem::take(&mut self.negative_spans),
            values: std::mem::take(&mut self.negative_buckets),
            comps: None,
        };
        let pos = reduce_side(pos, self.schema, target_schema, false);
        let neg = reduce_side(neg, self.schema, target_schema, false);
        self.positive_spans = pos.spans;
        self.positive_buckets = pos.values;
        self.negative_spans = neg.spans;
        self.negative_buckets = neg.values;
        self.schema = target_schema;
        Ok(())
    }

    /// A copy in the lower-resolution `target_schema` (Prometheus
    /// `CopyToSchema`: the copy has no counter reset hint). Returns a plain
    /// copy when the conversion is not possible.
    pub fn copy_to_schema(&self, target_schema: i32) -> FloatHistogram {
        if target_schema == self.schema {
            return self.clone();
        }
        let mut c = self.clone();
        if c.try_reduce_resolution(target_schema).is_ok() {
            c.counter_reset_hint = CounterResetHint::Unknown;
        }
        c
    }

    /// True if `self` follows a counter reset relative to `previous`
    /// (Prometheus `DetectReset`).
    ///
    /// The hints decide first (`CounterReset` → true, `NotCounterReset` →
    /// false). Otherwise: a smaller count, a higher schema, a smaller zero
    /// threshold, a larger zero threshold that cuts through a populated bucket
    /// of `previous`, a smaller zero count, or any bucket (merged to `self`'s
    /// schema) that lost observations or disappeared while populated, is a
    /// reset. Custom-bucket histograms with different bounds are compared on
    /// their common bounds.
    pub fn detect_reset(&self, previous: &FloatHistogram) -> bool {
        match self.counter_reset_hint {
            CounterResetHint::CounterReset => return true,
            CounterResetHint::NotCounterReset => return false,
            _ => {}
        }
        if self.count < previous.count {
            return true;
        }
        if self.uses_custom_buckets() {
            if !previous.uses_custom_buckets() {
                return true;
            }
            if !bounds_match(&self.custom_values, &previous.custom_values) {
                return self.detect_reset_mismatched_bounds(previous);
            }
        }
        if self.schema > previous.schema {
            return true;
        }
        if self.zero_threshold < previous.zero_threshold {
            return true;
        }
        let (previous_zero, threshold, _) =
            previous.zero_count_for_larger_threshold(self.zero_threshold, None);
        if threshold != self.zero_threshold {
            return true;
        }
        if self.zero_count < previous_zero {
            return true;
        }
        [true, false].into_iter().any(|positive| {
            buckets_lost(
                merged_side(self, positive, self.schema, self.zero_threshold),
                merged_side(previous, positive, self.schema, self.zero_threshold),
            )
        })
    }

    /// Prometheus `detectResetWithMismatchedCustomBounds`: compares cumulative
    /// counts rolled up to the bounds both histograms have.
    fn detect_reset_mismatched_bounds(&self, previous: &FloatHistogram) -> bool {
        struct Rollup<'a> {
            it: super::iter::SideBuckets<'a>,
            pending: Option<super::Bucket>,
            started: bool,
            more: bool,
        }
        impl Rollup<'_> {
            fn sum_up_to(&mut self, bound: f64) -> f64 {
                if self.started && !self.more {
                    return 0.0;
                }
                if !self.started {
                    self.started = true;
                    self.pending = self.it.next();
                }
                let mut sum = 0.0;
                while let Some(b) = self.pending {
                    if !is_ge(bound, b.upper) {
                        break;
                    }
                    sum += b.count;
                    self.pending = self.it.next();
                }
                self.more = self.pending.is_some();
                sum
            }
        }
        let mut curr = Rollup {
            it: self.side_buckets(true),
            pending: None,
            started: false,
            more: false,
        };
        let mut prev = Rollup {
            it: previous.side_buckets(true),
            pending: None,
            started: false,
            more: false,
        };
        let (cb, pb) = (&self.custom_values, &previous.custom_values);
        let (mut i, mut j) = (0, 0);
        while i <= cb.len() && j <= pb.len() {
            let c = cb.get(i).copied().unwrap_or(f64::INFINITY);
            let p = pb.get(j).copied().unwrap_or(f64::INFINITY);
            if c == p {
                if curr.sum_up_to(c) < prev.sum_up_to(c) {
                    return true;
                }
                i += 1;
                j += 1;
            } else if c < p {
                i += 1;
            } else {
                j += 1;
            }
        }
        false
    }

    /// Exact equality like Prometheus `Equals`: schema, zero threshold, the
    /// bit patterns of count, sum, zero count and bucket counts, custom bounds
    /// (for custom buckets), and the bucket layout (spans may be split
    /// differently, e.g. with zero-length spans, as long as they describe the
    /// same buckets). The counter reset hint is not compared.
    pub fn equals(&self, other: &FloatHistogram) -> bool {
        if self.schema != other.schema
            || self.count.to_bits() != other.count.to_bits()
            || self.sum.to_bits() != other.sum.to_bits()
        {
            return false;
        }
        if self.uses_custom_buckets() && !bounds_match(&self.custom_values, &other.custom_values) {
            return false;
        }
        if self.zero_threshold != other.zero_threshold
            || self.zero_count.to_bits() != other.zero_count.to_bits()
        {
            return false;
        }
        spans_match(&self.negative_spans, &other.negative_spans)
            && bits_match(&self.negative_buckets, &other.negative_buckets)
            && spans_match(&self.positive_spans, &other.positive_spans)
            && bits_match(&self.positive_buckets, &other.positive_buckets)
    }
}

fn merged_side(
    h: &FloatHistogram,
    positive: bool,
    target: i32,
    start_value: f64,
) -> MergedBuckets<'_> {
    let (spans, buckets) = if positive {
        (&h.positive_spans, &h.positive_buckets)
    } else {
        (&h.negative_spans, &h.negative_buckets)
    };
    MergedBuckets::new(spans, buckets, h.schema, target, start_value)
}

/// Prometheus `detectReset` over two merged bucket sequences.
fn buckets_lost(mut curr: MergedBuckets<'_>, mut prev: MergedBuckets<'_>) -> bool {
    let Some(mut p) = prev.next() else {
        return false;
    };
    let Some(mut c) = curr.next() else {
        return p.1 != 0.0 || prev.any(|b| b.1 != 0.0);
    };
    loop {
        while c.0 < p.0 {
            match curr.next() {
                Some(next) => c = next,
                None => return p.1 != 0.0 || prev.any(|b| b.1 != 0.0),
            }
        }
        if c.0 > p.0 {
            if p.1 != 0.0 {
                return true;
            }
        } else if c.1 < p.1 {
            return true;
        }
        match prev.next() {
            Some(next) => p = next,
            None => return false,
        }
    }
}

/// `a >= b`, spelled out so that negating it keeps NaN semantics readable.
fn is_ge(a: f64, b: f64) -> bool {
    matches!(
        a.partial_cmp(&b),
        Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
    )
}

fn bits_match(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// The bucket layout described by `spans` as maximal runs of absolute indexes.
fn layout_runs(spans: &[Span]) -> Vec<(i64, i64)> {
    let mut runs: Vec<(i64, i64)> = Vec::new();
    let mut pos: i64 = 0;
    for (k, s) in spans.iter().enumerate() {
        let start = if k == 0 {
            i64::from(s.offset)
        } else {
            pos + i64::from(s.offset)
        };
        pos = start + i64::from(s.length);
        if s.length == 0 {
            continue;
        }
        match runs.last_mut() {
            Some(last) if last.0 + last.1 == start => last.1 += i64::from(s.length),
            _ => runs.push((start, i64::from(s.length))),
        }
    }
    runs
}

/// Prometheus `spansMatch`: same bucket layout, ignoring how it is split into
/// spans.
fn spans_match(a: &[Span], b: &[Span]) -> bool {
    layout_runs(a) == layout_runs(b)
}

#[cfg(test)]
mod tests;
