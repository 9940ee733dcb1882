//! Walking the buckets of a histogram.
//!
//! The public iterators follow Prometheus's `PositiveBucketIterator`,
//! `NegativeBucketIterator`, `AllBucketIterator` and
//! `AllReverseBucketIterator`. They never panic on inconsistent histograms:
//! iteration stops at whichever runs out first, the spans or the bucket counts.

use std::iter::Peekable;

use super::bounds::{bucket_upper_bound, exponential_bound, is_exponential_schema, target_index};
use super::{FloatHistogram, Span, CUSTOM_BUCKETS_SCHEMA};

/// One bucket with its boundaries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub lower: f64,
    pub upper: f64,
    pub lower_inclusive: bool,
    pub upper_inclusive: bool,
    pub count: f64,
    /// Bucket index within its schema (0 for the zero bucket).
    pub index: i32,
}

/// Iterator over buckets (see the `*_buckets` methods of [`FloatHistogram`]).
pub struct BucketIter<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    Side(SideBuckets<'a>),
    List(std::vec::IntoIter<Bucket>),
}

impl Iterator for BucketIter<'_> {
    type Item = Bucket;
    fn next(&mut self) -> Option<Bucket> {
        match &mut self.inner {
            Inner::Side(s) => s.next(),
            Inner::List(l) => l.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Inner::Side(s) => (0, Some(s.raw.buckets.len())),
            Inner::List(l) => l.size_hint(),
        }
    }
}

impl std::iter::FusedIterator for BucketIter<'_> {}

impl FloatHistogram {
    /// Positive buckets in ascending index order, with their bounds.
    ///
    /// Exponential buckets are `(lower, upper]`. Custom buckets take their
    /// bounds from `custom_values`; the first one starts at -Inf (inclusive),
    /// the one past the last listed bound ends at +Inf.
    pub fn positive_buckets(&self) -> BucketIter<'_> {
        BucketIter {
            inner: Inner::Side(self.side_buckets(true)),
        }
    }

    /// Negative buckets in ascending absolute index, i.e. from the zero bucket
    /// outwards (descending values). Bounds are negated: `[lower, upper)`.
    pub fn negative_buckets(&self) -> BucketIter<'_> {
        BucketIter {
            inner: Inner::Side(self.side_buckets(false)),
        }
    }

    /// All buckets in ascending order of value: negative buckets starting at
    /// the most negative, then the zero bucket if its count is positive, then
    /// the positive buckets. Bounds of buckets overlapping the zero bucket are
    /// clipped to the zero threshold.
    pub fn all_buckets(&self) -> BucketIter<'_> {
        let mut out = Vec::with_capacity(self.bucket_capacity());
        let mut neg: Vec<Bucket> = self.side_buckets(false).collect();
        neg.reverse();
        out.extend(neg.into_iter().map(|b| self.clip_to_zero_bucket(b)));
        if let Some(z) = self.listed_zero_bucket() {
            out.push(z);
        }
        out.extend(self.side_buckets(true).map(|b| self.clip_to_zero_bucket(b)));
        BucketIter {
            inner: Inner::List(out.into_iter()),
        }
    }

    /// All buckets in descending order of value (the reverse of
    /// [`all_buckets`](Self::all_buckets)).
    pub fn all_buckets_reverse(&self) -> BucketIter<'_> {
        let mut out = Vec::with_capacity(self.bucket_capacity());
        let mut pos: Vec<Bucket> = self.side_buckets(true).collect();
        pos.reverse();
        out.extend(pos.into_iter().map(|b| self.clip_to_zero_bucket(b)));
        if let Some(z) = self.listed_zero_bucket() {
            out.push(z);
        }
        out.extend(
            self.side_buckets(false)
                .map(|b| self.clip_to_zero_bucket(b)),
        );
        BucketIter {
            inner: Inner::List(out.into_iter()),
        }
    }

    /// The zero bucket `[-zero_threshold, zero_threshold]`.
    pub fn zero_bucket(&self) -> Bucket {
        Bucket {
            lower: -self.zero_threshold,
            upper: self.zero_threshold,
            lower_inclusive: true,
            upper_inclusive: true,
            count: self.zero_count,
            index: 0,
        }
    }

    fn bucket_capacity(&self) -> usize {
        self.positive_buckets.len() + self.negative_buckets.len() + 1
    }

    /// The zero bucket as the all-bucket iterators list it (only when populated).
    fn listed_zero_bucket(&self) -> Option<Bucket> {
        (self.zero_count > 0.0 && !self.uses_custom_buckets()).then(|| self.zero_bucket())
    }

    fn clip_to_zero_bucket(&self, mut b: Bucket) -> Bucket {
        let zt = self.zero_threshold;
        if b.upper < 0.0 && b.upper > -zt {
            b.upper = -zt;
        } else if b.lower > 0.0 && b.lower < zt {
            b.lower = zt;
        }
        b
    }

    pub(crate) fn side_buckets(&self, positive: bool) -> SideBuckets<'_> {
        let (spans, buckets, custom): (&[Span], &[f64], &[f64]) = if positive {
            (
                &self.positive_spans,
                &self.positive_buckets,
                &self.custom_values,
            )
        } else {
            (&self.negative_spans, &self.negative_buckets, &[])
        };
        SideBuckets {
            raw: RawBuckets::new(spans, buckets),
            schema: self.schema,
            custom,
            positive,
        }
    }
}

/// The buckets of one side with their bounds.
#[derive(Clone)]
pub(crate) struct SideBuckets<'a> {
    raw: RawBuckets<'a>,
    schema: i32,
    custom: &'a [f64],
    positive: bool,
}

impl Iterator for SideBuckets<'_> {
    type Item = Bucket;
    fn next(&mut self) -> Option<Bucket> {
        let (index, count) = self.raw.next()?;
        Some(make_bucket(
            index,
            count,
            self.schema,
            self.custom,
            self.positive,
        ))
    }
}

/// A bucket of `schema` with its bounds, like Prometheus's iterator `At()`.
pub(crate) fn make_bucket(
    index: i32,
    count: f64,
    schema: i32,
    custom: &[f64],
    positive: bool,
) -> Bucket {
    let hi = bucket_upper_bound(schema, index, custom);
    let lo = bucket_upper_bound(schema, index.saturating_sub(1), custom);
    let (lower, upper) = if positive { (lo, hi) } else { (-hi, -lo) };
    let (lower_inclusive, upper_inclusive) = if schema == CUSTOM_BUCKETS_SCHEMA {
        (index == 0, true)
    } else {
        (lower < 0.0, upper > 0.0)
    };
    Bucket {
        lower,
        upper,
        lower_inclusive,
        upper_inclusive,
        count,
        index,
    }
}

/// `(index, count)` pairs of one side in storage order.
///
/// Zero-length spans are skipped; iteration ends when either the spans or the
/// counts are exhausted. Indexes saturate at the `i32` range.
#[derive(Clone)]
pub(crate) struct RawBuckets<'a> {
    spans: &'a [Span],
    buckets: &'a [f64],
    span: usize,
    in_span: u32,
    bucket: usize,
    next_index: i64,
}

impl<'a> RawBuckets<'a> {
    pub(crate) fn new(spans: &'a [Span], buckets: &'a [f64]) -> Self {
        let next_index = spans.first().map_or(0, |s| i64::from(s.offset));
        RawBuckets {
            spans,
            buckets,
            span: 0,
            in_span: 0,
            bucket: 0,
            next_index,
        }
    }
}

impl Iterator for RawBuckets<'_> {
    type Item = (i32, f64);
    fn next(&mut self) -> Option<(i32, f64)> {
        let count = *self.buckets.get(self.bucket)?;
        loop {
            let span = self.spans.get(self.span)?;
            if self.in_span < span.length {
                break;
            }
            self.span += 1;
            self.in_span = 0;
            if let Some(next) = self.spans.get(self.span) {
                self.next_index = self.next_index.saturating_add(i64::from(next.offset));
            }
        }
        let index = self
            .next_index
            .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        self.next_index = self.next_index.saturating_add(1);
        self.in_span += 1;
        self.bucket += 1;
        Some((index, count))
    }
}

/// Prometheus's low-level `floatBucketIterator`: the `(index, count)` pairs of
/// one side, merged into `target` schema (`<= schema`), skipping leading
/// buckets whose upper bound is `<= start_value` (exponential targets only,
/// and only when `start_value != 0`).
pub(crate) struct MergedBuckets<'a> {
    raw: Peekable<RawBuckets<'a>>,
    schema: i32,
    target: i32,
    start_value: f64,
    reached_start: bool,
}

impl<'a> MergedBuckets<'a> {
    pub(crate) fn new(
        spans: &'a [Span],
        buckets: &'a [f64],
        schema: i32,
        target: i32,
        start_value: f64,
    ) -> Self {
        MergedBuckets {
            raw: RawBuckets::new(spans, buckets).peekable(),
            schema,
            target,
            start_value,
            reached_start: start_value == 0.0,
        }
    }
}

impl Iterator for MergedBuckets<'_> {
    type Item = (i32, f64);
    fn next(&mut self) -> Option<(i32, f64)> {
        loop {
            let (index, mut count) = self.raw.next()?;
            let mut index = index;
            if self.schema != self.target {
                index = target_index(index, self.schema, self.target);
                while let Some(&(i, c)) = self.raw.peek() {
                    if target_index(i, self.schema, self.target) != index {
                        break;
                    }
                    count += c;
                    self.raw.next();
                }
            }
            if !self.reached_start
                && is_exponential_schema(self.target)
                && exponential_bound(index, self.target) <= self.start_value
            {
                continue;
            }
            self.reached_start = true;
            return Some((index, count));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::CounterResetHint;

    fn sample() -> FloatHistogram {
        FloatHistogram {
            schema: 0,
            zero_threshold: 0.5,
            zero_count: 2.0,
            count: 12.0,
            sum: 5.0,
            positive_spans: vec![Span::new(-1, 2), Span::new(1, 1)],
            positive_buckets: vec![1.0, 2.0, 3.0],
            negative_spans: vec![Span::new(0, 2)],
            negative_buckets: vec![4.0, 5.0],
            ..Default::default()
        }
    }

    fn bounds(it: BucketIter<'_>) -> Vec<(f64, f64, bool, bool, f64, i32)> {
        it.map(|b| {
            (
                b.lower,
                b.upper,
                b.lower_inclusive,
                b.upper_inclusive,
                b.count,
                b.index,
            )
        })
        .collect()
    }

    #[test]
    fn positive_and_negative() {
        let h = sample();
        assert_eq!(
            bounds(h.positive_buckets()),
            vec![
                (0.25, 0.5, false, true, 1.0, -1),
                (0.5, 1.0, false, true, 2.0, 0),
                (2.0, 4.0, false, true, 3.0, 2),
            ]
        );
        assert_eq!(
            bounds(h.negative_buckets()),
            vec![
                (-1.0, -0.5, true, false, 4.0, 0),
                (-2.0, -1.0, true, false, 5.0, 1)
            ]
        );
    }

    #[test]
    fn all_and_reverse() {
        let h = sample();
        let all = bounds(h.all_buckets());
        assert_eq!(
            all,
            vec![
                (-2.0, -1.0, true, false, 5.0, 1),
                (-1.0, -0.5, true, false, 4.0, 0),
                (-0.5, 0.5, true, true, 2.0, 0),
                // (0.25, 0.5] overlaps the zero bucket: lower clipped to 0.5.
                (0.5, 0.5, false, true, 1.0, -1),
                (0.5, 1.0, false, true, 2.0, 0),
                (2.0, 4.0, false, true, 3.0, 2),
            ]
        );
        let mut rev = bounds(h.all_buckets_reverse());
        rev.reverse();
        assert_eq!(rev, all);
    }

    #[test]
    fn zero_bucket_only_when_populated() {
        let mut h = sample();
        h.zero_count = 0.0;
        assert_eq!(h.all_buckets().count(), 5);
        h.zero_count = f64::NAN;
        assert_eq!(h.all_buckets().count(), 5);
        h.zero_count = 1.0;
        h.zero_threshold = 0.0;
        assert_eq!(h.all_buckets().count(), 6);
    }

    #[test]
    fn custom_bucket_bounds() {
        let h = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            counter_reset_hint: CounterResetHint::Gauge,
            positive_spans: vec![Span::new(0, 2), Span::new(1, 1)],
            positive_buckets: vec![1.0, 2.0, 3.0],
            custom_values: vec![1.0, 2.0, 5.0],
            ..Default::default()
        };
        let inf = f64::INFINITY;
        assert_eq!(
            bounds(h.positive_buckets()),
            vec![
                (-inf, 1.0, true, true, 1.0, 0),
                (1.0, 2.0, false, true, 2.0, 1),
                (5.0, inf, false, true, 3.0, 3),
            ]
        );
        assert_eq!(bounds(h.all_buckets()), bounds(h.positive_buckets()));
    }

    #[test]
    fn inconsistent_histograms_do_not_panic() {
        let h = FloatHistogram {
            positive_spans: vec![
                Span::new(i32::MAX, 3),
                Span::new(i32::MAX, 0),
                Span::new(5, 4),
            ],
            positive_buckets: vec![1.0, 2.0],
            negative_spans: vec![Span::new(0, 0)],
            negative_buckets: vec![1.0, 2.0],
            custom_values: vec![1.0],
            ..Default::default()
        };
        let pos: Vec<_> = h.positive_buckets().collect();
        assert_eq!(pos.len(), 2);
        assert_eq!(pos[1].index, i32::MAX);
        assert_eq!(pos[1].upper, f64::INFINITY);
        assert_eq!(h.negative_buckets().count(), 0);
        assert_eq!(h.all_buckets().count(), 2);
        let mut c = h.clone();
        c.schema = CUSTOM_BUCKETS_SCHEMA;
        assert_eq!(c.all_buckets_reverse().count(), 2);
    }

    #[test]
    fn merged_iteration() {
        // Schema 1 buckets 1..=4 merge pairwise into schema 0 buckets 1 and 2.
        let spans = [Span::new(1, 4)];
        let buckets = [1.0, 2.0, 3.0, 4.0];
        let got: Vec<_> = MergedBuckets::new(&spans, &buckets, 1, 0, 0.0).collect();
        assert_eq!(got, vec![(1, 3.0), (2, 7.0)]);
        // Skip buckets ending at or below 2 (schema 0 bucket 1 ends at 2).
        let got: Vec<_> = MergedBuckets::new(&spans, &buckets, 1, 0, 2.0).collect();
        assert_eq!(got, vec![(2, 7.0)]);
    }
}
