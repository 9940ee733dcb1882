//! Tests of histogram arithmetic. Several cases mirror the behaviour pinned by
//! Prometheus's `float_histogram_test.go` (layouts after `Add`/`Sub`, zero
//! bucket reconciliation, reset detection).

use super::*;
use crate::histogram::{CUSTOM_BUCKETS_SCHEMA, MAX_EXPONENTIAL_SCHEMA, MIN_EXPONENTIAL_SCHEMA};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn sp(v: &[(i32, u32)]) -> Vec<Span> {
    v.iter().map(|&(o, l)| Span::new(o, l)).collect()
}

/// An exponential histogram: (zero threshold, zero count, count, sum, schema).
fn fh(
    (zt, zc, count, sum, schema): (f64, f64, f64, f64, i32),
    pos: &[(i32, u32)],
    pos_b: &[f64],
    neg: &[(i32, u32)],
    neg_b: &[f64],
) -> FloatHistogram {
    FloatHistogram {
        schema,
        zero_threshold: zt,
        zero_count: zc,
        count,
        sum,
        positive_spans: sp(pos),
        positive_buckets: pos_b.to_vec(),
        negative_spans: sp(neg),
        negative_buckets: neg_b.to_vec(),
        ..Default::default()
    }
}

fn nhcb(bounds: &[f64], spans: &[(i32, u32)], buckets: &[f64]) -> FloatHistogram {
    FloatHistogram {
        schema: CUSTOM_BUCKETS_SCHEMA,
        count: buckets.iter().sum(),
        positive_spans: sp(spans),
        positive_buckets: buckets.to_vec(),
        custom_values: bounds.to_vec(),
        ..Default::default()
    }
}

fn assert_layout(
    h: &FloatHistogram,
    pos: &[(i32, u32)],
    pos_b: &[f64],
    neg: &[(i32, u32)],
    neg_b: &[f64],
) {
    assert_eq!(h.positive_spans, sp(pos), "positive spans");
    assert_eq!(h.positive_buckets, pos_b, "positive buckets");
    assert_eq!(h.negative_spans, sp(neg), "negative spans");
    assert_eq!(h.negative_buckets, neg_b, "negative buckets");
}

fn a30() -> FloatHistogram {
    fh(
        (0.01, 11.0, 30.0, 2.345, 0),
        &[(-2, 2), (2, 3)],
        &[1.0, 0.0, 3.0, 4.0, 7.0],
        &[(3, 2), (3, 2)],
        &[3.0, 1.0, 5.0, 6.0],
    )
}

fn b21() -> FloatHistogram {
    fh(
        (0.01, 8.0, 21.0, 1.234, 0),
        &[(-1, 4), (0, 3)],
        &[5.0, 4.0, 2.0, 3.0, 6.0, 2.0, 5.0],
        &[(4, 2), (1, 2)],
        &[1.0, 1.0, 4.0, 4.0],
    )
}

fn c30_schema1() -> FloatHistogram {
    fh(
        (0.01, 11.0, 30.0, 2.345, 1),
        &[(-4, 3), (5, 5)],
        &[1.0, 0.0, 0.0, 3.0, 2.0, 2.0, 3.0, 4.0],
        &[(6, 3), (6, 4)],
        &[3.0, 0.5, 0.5, 2.0, 3.0, 2.0, 4.0],
    )
}

fn d21_wide_zero(zt: f64) -> FloatHistogram {
    fh(
        (zt, 17.0, 21.0, 1.234, 0),
        &[(1, 2), (0, 3)],
        &[2.0, 3.0, 6.0, 2.0, 5.0],
        &[(4, 2), (1, 2)],
        &[1.0, 1.0, 4.0, 4.0],
    )
}

#[test]
fn add_non_overlapping_spans() {
    let mut a = fh(
        (0.001, 11.0, 30.0, 2.345, 0),
        &[(-2, 2), (2, 3)],
        &[1.0, 0.0, 3.0, 4.0, 7.0],
        &[(3, 2), (3, 2)],
        &[3.0, 1.0, 5.0, 6.0],
    );
    let b = fh(
        (0.001, 8.0, 21.0, 1.234, 0),
        &[(0, 2), (3, 3)],
        &[5.0, 4.0, 2.0, 3.0, 6.0],
        &[(-9, 2), (3, 2)],
        &[1.0, 1.0, 4.0, 4.0],
    );
    let mut b2 = b.clone();
    assert_eq!(a.add(&b), Ok(AddOutcome::default()));
    assert_eq!((a.zero_count, a.count, a.sum), (19.0, 51.0, 2.345 + 1.234));
    assert_layout(
        &a,
        &[(-2, 4), (0, 6)],
        &[1.0, 0.0, 5.0, 4.0, 3.0, 4.0, 7.0, 2.0, 3.0, 6.0],
        &[(-9, 2), (3, 2), (5, 2), (3, 2)],
        &[1.0, 1.0, 4.0, 4.0, 3.0, 1.0, 5.0, 6.0],
    );
    // The other way round: buckets extend the following spans instead.
    let mut a = a30();
    a.zero_threshold = 0.001;
    b2.add(&a).unwrap();
    assert_layout(
        &b2,
        &[(-2, 2), (0, 5), (0, 3)],
        &[1.0, 0.0, 5.0, 4.0, 3.0, 4.0, 7.0, 2.0, 3.0, 6.0],
        &[(-9, 2), (3, 2), (5, 2), (3, 2)],
        &[1.0, 1.0, 4.0, 4.0, 3.0, 1.0, 5.0, 6.0],
    );
}

#[test]
fn add_overlapping_spans() {
    let mut a = a30();
    a.add(&b21()).unwrap();
    assert_layout(
        &a,
        &[(-2, 4), (0, 4)],
        &[1.0, 5.0, 4.0, 2.0, 6.0, 10.0, 9.0, 5.0],
        &[(3, 3), (1, 3)],
        &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0],
    );
    let mut b = b21();
    b.add(&a30()).unwrap();
    assert_layout(
        &b,
        &[(-2, 5), (0, 3)],
        &[1.0, 5.0, 4.0, 2.0, 6.0, 10.0, 9.0, 5.0],
        &[(3, 3), (1, 3)],
        &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0],
    );
}

#[test]
fn add_different_schemas() {
    // The receiver has the lower schema: the other histogram is reduced.
    let mut b = b21();
    b.add(&c30_schema1()).unwrap();
    assert_eq!(b.schema, 0);
    assert_layout(
        &b,
        &[(-2, 5), (0, 3)],
        &[1.0, 5.0, 4.0, 2.0, 6.0, 10.0, 9.0, 5.0],
        &[(3, 3), (1, 3)],
        &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0],
    );
    // The receiver has the higher schema: it is reduced and takes the lower one.
    let mut c = c30_schema1();
    c.add(&b21()).unwrap();
    assert_eq!(c.schema, 0);
    let mut expected = b.clone();
    expected.compact(0);
    let mut got = c.clone();
    got.compact(0);
    assert_eq!(
        (got.positive_spans, got.positive_buckets),
        (expected.positive_spans, expected.positive_buckets)
    );
    assert_eq!(
        (got.negative_spans, got.negative_buckets),
        (expected.negative_spans, expected.negative_buckets)
    );
    assert_eq!(c.zero_count, 19.0);
}

#[test]
fn add_larger_zero_bucket() {
    let mut d = d21_wide_zero(1.0);
    d.add(&a30()).unwrap();
    assert_eq!((d.zero_threshold, d.zero_count), (1.0, 29.0));
    assert_layout(
        &d,
        &[(1, 2), (0, 3)],
        &[2.0, 6.0, 10.0, 9.0, 5.0],
        &[(3, 3), (1, 3)],
        &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0],
    );

    let mut a = a30();
    a.add(&d21_wide_zero(1.0)).unwrap();
    assert_eq!((a.zero_threshold, a.zero_count), (1.0, 29.0));
    assert_layout(
        &a,
        &[(1, 5)],
        &[2.0, 6.0, 10.0, 9.0, 5.0],
        &[(3, 3), (1, 3)],
        &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0],
    );
}

#[test]
fn add_zero_threshold_inside_populated_bucket() {
    // 0.2 lies inside the populated bucket (0.125, 0.25] of the other
    // histogram: the threshold grows to 0.25.
    let mut d = d21_wide_zero(0.2);
    d.add(&a30()).unwrap();
    assert_eq!((d.zero_threshold, d.zero_count), (0.25, 29.0));
    assert_layout(
        &d,
        &[(-1, 1), (1, 5)],
        &[0.0, 2.0, 6.0, 10.0, 9.0, 5.0],
        &[(3, 3), (1, 3)],
        &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0],
    );

    let mut a = a30();
    a.add(&d21_wide_zero(0.2)).unwrap();
    assert_eq!((a.zero_threshold, a.zero_count), (0.25, 29.0));
    assert_layout(
        &a,
        &[(1, 5)],
        &[2.0, 6.0, 10.0, 9.0, 5.0],
        &[(3, 3), (1, 3)],
        &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0],
    );
}

#[test]
fn add_schema_and_zero_threshold_changes() {
    let mut a = fh(
        (0.01, 8.0, 21.0, 1.234, 0),
        &[(-2, 5), (0, 3)],
        &[2.0, 5.0, 4.0, 2.0, 3.0, 6.0, 2.0, 5.0],
        &[(4, 2), (1, 2)],
        &[1.0, 1.0, 4.0, 4.0],
    );
    let b = fh(
        (0.25, 12.0, 30.0, 2.345, 1),
        &[(-3, 2), (5, 5)],
        &[1.0, 0.0, 3.0, 2.0, 2.0, 3.0, 4.0],
        &[(6, 3), (6, 4)],
        &[3.0, 0.5, 0.5, 2.0, 3.0, 2.0, 4.0],
    );
    a.add(&b).unwrap();
    assert_eq!((a.zero_threshold, a.zero_count, a.schema), (0.25, 22.0, 0));
    assert_layout(
        &a,
        &[(-1, 7)],
        &[6.0, 4.0, 2.0, 6.0, 10.0, 9.0, 5.0],
        &[(3, 3), (1, 3)],
        &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0],
    );

    let mut a = b21();
    a.zero_threshold = 0.25;
    a.add(&c30_schema1()).unwrap();
    assert_eq!((a.zero_threshold, a.zero_count), (0.25, 20.0));
    assert_layout(
        &a,
        &[(-1, 4), (0, 3)],
        &[5.0, 4.0, 2.0, 6.0, 10.0, 9.0, 5.0],
        &[(3, 3), (1, 3)],
        &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0],
    );
}

#[test]
fn sub_same_layout_and_schema_change() {
    let mut a = fh(
        (0.01, 11.0, 30.0, 23.0, 0),
        &[(-2, 2), (1, 3)],
        &[1.0, 0.0, 3.0, 4.0, 7.0],
        &[(3, 2), (3, 2)],
        &[3.0, 1.0, 5.0, 6.0],
    );
    let b = fh(
        (0.01, 8.0, 21.0, 12.0, 0),
        &[(-2, 2), (1, 3)],
        &[0.0, 0.0, 2.0, 3.0, 6.0],
        &[(3, 2), (3, 2)],
        &[1.0, 1.0, 4.0, 4.0],
    );
    a.sub(&b).unwrap();
    assert_eq!((a.zero_count, a.count, a.sum), (3.0, 9.0, 11.0));
    assert_layout(
        &a,
        &[(-2, 2), (1, 3)],
        &[1.0, 0.0, 1.0, 1.0, 1.0],
        &[(3, 2), (3, 2)],
        &[2.0, 0.0, 1.0, 2.0],
    );

    let mut a = fh(
        (0.01, 8.0, 59.0, 1.234, 0),
        &[(-2, 5), (0, 3)],
        &[2.0, 5.0, 4.0, 2.0, 3.0, 6.0, 7.0, 5.0],
        &[(3, 3), (1, 3)],
        &[4.0, 10.0, 1.0, 4.0, 14.0, 7.0],
    );
    let b = fh(
        (0.01, 2.0, 19.0, 0.345, 1),
        &[(-4, 3), (5, 5)],
        &[1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 4.0],
        &[(6, 3), (6, 4)],
        &[3.0, 0.5, 0.5, 2.0, 3.0, 2.0, 4.0],
    );
    a.sub(&b).unwrap();
    assert_eq!((a.zero_count, a.count), (6.0, 40.0));
    assert_layout(
        &a,
        &[(-2, 5), (0, 3)],
        &[1.0, 5.0, 4.0, 2.0, 2.0, 2.0, 0.0, 5.0],
        &[(3, 3), (1, 3)],
        &[1.0, 9.0, 1.0, 4.0, 9.0, 1.0],
    );
}

#[test]
fn sub_inserts_negated_buckets() {
    let mut a = fh(
        (0.0, 0.0, 1.0, 1.0, 0),
        &[(0, 1), (1, 1)],
        &[1.0, 2.0],
        &[],
        &[],
    );
    let b = fh(
        (0.0, 0.0, 2.0, 2.0, 0),
        &[(1, 1), (2, 1)],
        &[0.0, 0.0],
        &[(0, 1)],
        &[2.0],
    );
    a.sub(&b).unwrap();
    // Index 1 extends the first span (leaving an adjacent span behind), index
    // 4 opens a new span.
    assert_layout(
        &a,
        &[(0, 2), (0, 1), (1, 1)],
        &[1.0, -0.0, 2.0, -0.0],
        &[(0, 1)],
        &[-2.0],
    );
    assert!(a.positive_buckets[1].is_sign_negative());
    assert_eq!(
        a.test_expression(),
        "{{count:-1 sum:-1 buckets:[1 -0 2] n_buckets:[-2]}}"
    );
}

#[test]
fn add_mixed_schemas_fails() {
    let mut a = a30();
    let before = a.clone();
    let c = nhcb(&[1.0], &[(0, 1)], &[1.0]);
    assert_eq!(a.add(&c), Err(HistogramError::MixedExponentialCustom));
    assert_eq!(a, before);
    let mut c2 = c.clone();
    assert_eq!(c2.sub(&a), Err(HistogramError::MixedExponentialCustom));
    assert_eq!(
        c2.kahan_add(&a, &mut FloatHistogram::default()),
        Err(HistogramError::MixedExponentialCustom)
    );
    assert_eq!(
        HistogramError::MixedExponentialCustom.to_string(),
        "cannot apply this operation on histograms with a mix of exponential and custom bucket schemas"
    );
}

#[test]
fn add_inconsistent_layout_fails() {
    let mut a = a30();
    let before = a.clone();
    let mut bad = b21();
    bad.positive_buckets.pop();
    let err = a.add(&bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        "positive side: spans need 7 buckets, have 6 buckets: histogram spans specify different number of buckets than provided"
    );
    assert_eq!(a, before);
    let mut bad = b21();
    bad.negative_spans[1].offset = -3;
    assert!(matches!(a.sub(&bad), Err(HistogramError::Invalid(_))));
    let mut huge = b21();
    huge.positive_spans = sp(&[(i32::MAX, 1), (i32::MAX, 1)]);
    huge.positive_buckets = vec![1.0, 1.0];
    assert!(a.add(&huge).is_err());
    assert_eq!(a, before);
}

#[test]
fn counter_reset_hints() {
    use CounterResetHint::*;
    let cases = [
        (Unknown, Unknown, Unknown, false),
        (CounterReset, CounterReset, CounterReset, false),
        (Gauge, CounterReset, Gauge, false),
        (NotCounterReset, Gauge, Gauge, false),
        (Unknown, NotCounterReset, Unknown, false),
        (NotCounterReset, Unknown, Unknown, false),
        (CounterReset, NotCounterReset, Unknown, true),
        (NotCounterReset, CounterReset, Unknown, true),
    ];
    for (mine, theirs, want, collision) in cases {
        let mut a = a30();
        a.counter_reset_hint = mine;
        let mut b = b21();
        b.counter_reset_hint = theirs;
        let mut s = a.clone();
        let out = a.add(&b).unwrap();
        assert_eq!(
            (a.counter_reset_hint, out.counter_reset_collision),
            (want, collision),
            "{mine:?} + {theirs:?}"
        );
        let out = s.sub(&b).unwrap();
        assert_eq!(
            (s.counter_reset_hint, out.counter_reset_collision),
            (want, collision),
            "{mine:?} - {theirs:?}"
        );
    }
}

#[test]
fn custom_buckets_equal_bounds() {
    let mut a = nhcb(&[1.0, 2.0, 5.0], &[(0, 2), (1, 1)], &[1.0, 2.0, 3.0]);
    let b = nhcb(&[1.0, 2.0, 5.0], &[(1, 2)], &[10.0, 20.0]);
    let out = a.add(&b).unwrap();
    assert_eq!(out, AddOutcome::default());
    assert_layout(&a, &[(0, 3), (0, 1)], &[1.0, 12.0, 20.0, 3.0], &[], &[]);
    assert_eq!(a.custom_values, vec![1.0, 2.0, 5.0]);
    assert_eq!(a.count, 36.0);
    a.sub(&b).unwrap();
    assert_layout(&a, &[(0, 3), (0, 1)], &[1.0, 2.0, 0.0, 3.0], &[], &[]);
}

#[test]
fn custom_buckets_different_bounds() {
    let mut a = nhcb(&[1.0, 2.0, 3.0], &[(0, 4)], &[1.0, 2.0, 3.0, 4.0]);
    let b = nhcb(&[1.0, 3.0, 4.0], &[(0, 4)], &[10.0, 20.0, 30.0, 40.0]);
    let out = a.add(&b).unwrap();
    assert!(out.nhcb_bounds_reconciled);
    assert_eq!(a.custom_values, vec![1.0, 3.0]);
    assert_layout(&a, &[(0, 3)], &[11.0, 25.0, 74.0], &[], &[]);
    assert_eq!(a.count, 110.0);

    // Buckets that cancel out disappear.
    let mut a = nhcb(&[1.0, 2.0], &[(0, 3)], &[1.0, 2.0, 3.0]);
    let b = nhcb(&[2.0, 5.0], &[(0, 2)], &[3.0, 1.0]);
    let out = a.sub(&b).unwrap();
    assert!(out.nhcb_bounds_reconciled);
    assert_eq!(a.custom_values, vec![2.0]);
    assert_layout(&a, &[(1, 1)], &[2.0], &[], &[]);

    // No bounds in common: everything lands in the +Inf bucket.
    let mut a = nhcb(&[1.0], &[(0, 2)], &[1.0, 2.0]);
    a.add(&nhcb(&[7.0], &[(1, 1)], &[4.0])).unwrap();
    assert!(a.custom_values.is_empty());
    assert_layout(&a, &[(0, 1)], &[7.0], &[], &[]);
}

#[test]
fn custom_buckets_prometheus_cases() {
    let cases = [
        // Partial intersection.
        (
            nhcb(&[1.0, 2.5], &[(0, 3)], &[2.0, 3.0, 5.0]),
            nhcb(&[1.0, 2.0, 3.0], &[(0, 4)], &[1.0, 2.0, 3.0, 2.0]),
            vec![1.0],
            vec![3.0, 15.0],
        ),
        // Intersection and roll-up.
        (
            nhcb(&[2.0, 4.0], &[(0, 1), (1, 1)], &[1.0, 5.0]),
            nhcb(
                &[1.0, 2.0, 3.0, 4.0, 5.0],
                &[(0, 2), (1, 1), (0, 2)],
                &[10.0, 20.0, 40.0, 50.0, 100.0],
            ),
            vec![2.0, 4.0],
            vec![31.0, 40.0, 155.0],
        ),
        // Nothing in common but +Inf.
        (
            nhcb(&[1.5], &[(0, 2)], &[1.0, 2.0]),
            nhcb(&[2.5], &[(0, 2)], &[10.0, 20.0]),
            vec![],
            vec![33.0],
        ),
    ];
    for (x, y, bounds, buckets) in cases {
        for (mut a, b) in [(x.clone(), y.clone()), (y.clone(), x.clone())] {
            let out = a.add(&b).unwrap();
            assert!(out.nhcb_bounds_reconciled);
            a.compact(0);
            assert_eq!(a.custom_values, bounds);
            assert_eq!(a.positive_buckets, buckets);
            assert_eq!(a.count, x.count + y.count);
        }
    }
    // Same layout described differently.
    let mut a = nhcb(
        &[1.0, 2.0, 3.0, 4.0, 5.0],
        &[(0, 2), (1, 1), (0, 2)],
        &[1.0, 0.0, 3.0, 4.0, 7.0],
    );
    let b = nhcb(
        &[1.0, 2.0, 3.0, 4.0, 5.0],
        &[(0, 2), (1, 2), (0, 1)],
        &[0.0, 0.0, 2.0, 3.0, 6.0],
    );
    assert!(!a.add(&b).unwrap().nhcb_bounds_reconciled);
    assert_layout(
        &a,
        &[(0, 2), (1, 1), (0, 2)],
        &[1.0, 0.0, 5.0, 7.0, 13.0],
        &[],
        &[],
    );
    // Collision of hints on empty histograms.
    let mut a = FloatHistogram {
        schema: CUSTOM_BUCKETS_SCHEMA,
        counter_reset_hint: CounterResetHint::CounterReset,
        ..Default::default()
    };
    let b = FloatHistogram {
        schema: CUSTOM_BUCKETS_SCHEMA,
        counter_reset_hint: CounterResetHint::NotCounterReset,
        ..Default::default()
    };
    assert_eq!(
        a.add(&b),
        Ok(AddOutcome {
            counter_reset_collision: true,
            nhcb_bounds_reconciled: false
        })
    );
}

#[test]
fn mul_and_div() {
    let mut a = a30();
    a.mul(2.0);
    assert_eq!((a.zero_count, a.count, a.sum), (22.0, 60.0, 4.69));
    assert_eq!(a.positive_buckets, vec![2.0, 0.0, 6.0, 8.0, 14.0]);
    assert_eq!(a.counter_reset_hint, CounterResetHint::Unknown);
    a.mul(-1.0);
    assert_eq!(a.counter_reset_hint, CounterResetHint::Gauge);
    assert_eq!(a.negative_buckets, vec![-6.0, -2.0, -10.0, -12.0]);

    let mut a = a30();
    a.counter_reset_hint = CounterResetHint::NotCounterReset;
    a.mul(f64::NAN);
    assert!(a.count.is_nan());
    assert_eq!(a.counter_reset_hint, CounterResetHint::NotCounterReset);

    let mut a = a30();
    a.div(2.0);
    assert_eq!(a.positive_buckets, vec![0.5, 0.0, 1.5, 2.0, 3.5]);
    a.div(-1.0);
    assert_eq!(a.counter_reset_hint, CounterResetHint::Gauge);

    let mut a = a30();
    a.counter_reset_hint = CounterResetHint::NotCounterReset;
    a.div(0.0);
    assert_eq!((a.count, a.zero_count), (f64::INFINITY, f64::INFINITY));
    assert!(a.positive_buckets.is_empty() && a.positive_spans.is_empty());
    assert!(a.negative_buckets.is_empty() && a.negative_spans.is_empty());
    assert_eq!(a.counter_reset_hint, CounterResetHint::NotCounterReset);
    let mut z = FloatHistogram::default();
    z.div(-0.0);
    assert!(z.count.is_nan());
}

#[test]
fn reduce_resolution_merges_buckets() {
    let mut c = c30_schema1();
    c.counter_reset_hint = CounterResetHint::Gauge;
    c.reduce_resolution(0);
    assert_eq!(c.schema, 0);
    assert_eq!(c.counter_reset_hint, CounterResetHint::Gauge);
    // Schema-1 buckets -4, -3..-2, 4, 5..6, 7..8 become schema-0 buckets -2,
    // -1, 2, 3, 4; negative 6, 7..8, 15..16, 17..18 become 3, 4, 8, 9.
    assert_layout(
        &c,
        &[(-2, 2), (2, 3)],
        &[1.0, 0.0, 3.0, 4.0, 7.0],
        &[(3, 2), (3, 2)],
        &[3.0, 1.0, 5.0, 6.0],
    );

    let copy = c30_schema1().copy_to_schema(-1);
    assert_eq!(copy.schema, -1);
    assert_eq!(copy.positive_buckets.iter().sum::<f64>(), 15.0);

    // Refused cases leave the histogram alone.
    let mut c = c30_schema1();
    c.reduce_resolution(1);
    c.reduce_resolution(3);
    assert_eq!(c, c30_schema1());
    assert_eq!(
        c.try_reduce_resolution(2).unwrap_err().to_string(),
        "cannot reduce resolution from schema 1 to 2"
    );
    let mut n = nhcb(&[1.0], &[(0, 1)], &[1.0]);
    assert!(n.try_reduce_resolution(0).is_err());
    // Extreme targets do not panic.
    let mut c = c30_schema1();
    c.reduce_resolution(i32::MIN);
    assert_eq!(c.positive_buckets.iter().sum::<f64>(), 15.0);
}

#[test]
fn kahan_add_compensates() {
    let big = fh((0.0, 0.0, 1e16, 1e16, 0), &[(0, 2)], &[1e16, 0.0], &[], &[]);
    let one = fh(
        (0.0, 0.0, 1.0, 1.0, 0),
        &[(0, 1), (2, 1)],
        &[1.0, 1.0],
        &[],
        &[],
    );
    let mut sum = big.clone();
    let mut comp = FloatHistogram::default();
    let mut plain = big.clone();
    for _ in 0..10 {
        sum.kahan_add(&one, &mut comp).unwrap();
        plain.add(&one).unwrap();
    }
    assert_eq!(plain.count, 1e16);
    assert_eq!(sum.count, 1e16);
    assert_eq!(comp.count, 10.0);
    assert_eq!(comp.positive_spans, sum.positive_spans);
    assert_eq!(comp.positive_buckets.len(), sum.positive_buckets.len());
    sum.add(&comp).unwrap();
    assert_eq!(sum.count, 1e16 + 10.0);
    assert_eq!(sum.sum, 1e16 + 10.0);
    assert_layout(&sum, &[(0, 2), (1, 1)], &[1e16 + 10.0, 0.0, 10.0], &[], &[]);
}

#[test]
fn kahan_add_schema_and_zero_changes() {
    // Same results as plain add when nothing needs compensating.
    for (x, y) in [
        (b21(), c30_schema1()),
        (c30_schema1(), b21()),
        (d21_wide_zero(0.2), a30()),
        (a30(), d21_wide_zero(1.0)),
    ] {
        let mut plain = x.clone();
        plain.add(&y).unwrap();
        let mut k = x.clone();
        let mut comp = FloatHistogram::default();
        k.kahan_add(&y, &mut comp).unwrap();
        assert_eq!(k, plain);
        assert_eq!(comp.schema, k.schema);
        assert_eq!(comp.zero_threshold, k.zero_threshold);
        assert_eq!(comp.negative_spans, k.negative_spans);
        assert_eq!(comp.negative_buckets.len(), k.negative_buckets.len());
        assert!(comp
            .positive_buckets
            .iter()
            .chain(&comp.negative_buckets)
            .all(|&c| c == 0.0));
    }
}

#[test]
fn kahan_add_custom_buckets() {
    let mut sum = nhcb(&[1.0, 2.0], &[(0, 2)], &[1e16, 1.0]);
    let mut comp = FloatHistogram::default();
    for _ in 0..4 {
        sum.kahan_add(&nhcb(&[1.0, 2.0], &[(0, 1)], &[1.0]), &mut comp)
            .unwrap();
    }
    assert_eq!(comp.positive_buckets, vec![4.0, 0.0]);
    let out = sum
        .kahan_add(&nhcb(&[2.0], &[(0, 1)], &[1.0]), &mut comp)
        .unwrap();
    assert!(out.nhcb_bounds_reconciled);
    assert_eq!(sum.custom_values, vec![2.0]);
    assert_eq!(comp.custom_values, vec![2.0]);
    assert_eq!(comp.positive_spans, sum.positive_spans);
    sum.add(&comp).unwrap();
    assert_eq!(sum.positive_buckets, vec![1e16 + 6.0]);
}

#[test]
fn detect_reset_cases() {
    let prev = fh(
        (0.01, 5.5, 3493.3, 2349209.324, 0),
        &[(-2, 2), (1, 3)],
        &[1.0, 0.0, 3.3, 4.2, 0.1],
        &[(3, 2), (3, 2)],
        &[3.1, 3.0, 1.234e5, 1000.0],
    );
    assert!(!prev.detect_reset(&prev));
    assert!(!FloatHistogram::default().detect_reset(&FloatHistogram::default()));
    assert!(!prev.detect_reset(&FloatHistogram::default()));
    assert!(FloatHistogram::default().detect_reset(&prev));

    let with = |f: &dyn Fn(&mut FloatHistogram)| {
        let mut h = prev.clone();
        f(&mut h);
        h
    };
    // An unpopulated bucket disappears: no reset; a populated one: reset.
    assert!(!with(&|h| {
        h.positive_spans = sp(&[(-2, 1), (2, 3)]);
        h.positive_buckets = vec![1.0, 3.3, 4.2, 0.1];
    })
    .detect_reset(&prev));
    assert!(with(&|h| {
        h.positive_spans = sp(&[(-1, 1), (1, 3)]);
        h.positive_buckets = vec![0.0, 3.3, 4.2, 0.1];
    })
    .detect_reset(&prev));
    assert!(!with(&|h| h.zero_count = 5.6).detect_reset(&prev));
    assert!(with(&|h| h.zero_count = 5.4).detect_reset(&prev));
    assert!(with(&|h| h.count = 3493.2).detect_reset(&prev));
    assert!(!with(&|h| h.sum = 0.0).detect_reset(&prev));
    assert!(with(&|h| h.positive_buckets[3] = 4.1).detect_reset(&prev));
    assert!(with(&|h| h.negative_buckets[1] = 2.9).detect_reset(&prev));
    assert!(!with(&|h| h.negative_buckets[1] = 3.1).detect_reset(&prev));
    // Zero threshold changes.
    assert!(with(&|h| h.zero_threshold = 0.009).detect_reset(&prev));
    assert!(!with(&|h| h.zero_threshold = 0.011).detect_reset(&prev));
    // Growing the zero bucket to swallow bucket -2 (0.125, 0.25] and -1
    // (0.25, 0.5]: fine if the zero count absorbed them.
    assert!(!with(&|h| {
        h.zero_threshold = 0.5;
        h.zero_count = 6.5;
        h.positive_spans = sp(&[(1, 3)]);
        h.positive_buckets = vec![3.3, 4.2, 0.1];
    })
    .detect_reset(&prev));
    assert!(with(&|h| {
        h.zero_threshold = 0.5;
        h.zero_count = 6.4;
    })
    .detect_reset(&prev));
    // A threshold inside a populated bucket of the previous histogram.
    assert!(with(&|h| {
        h.zero_threshold = 0.2;
        h.zero_count = 100.0;
    })
    .detect_reset(&prev));
    // Schema changes: higher resolution is a reset; lower compares merged.
    assert!(with(&|h| h.schema = 1).detect_reset(&prev));
    let mut lower = prev.clone();
    lower.reduce_resolution(-1);
    assert!(!lower.detect_reset(&prev));
    lower.positive_buckets[0] -= 0.5;
    assert!(lower.detect_reset(&prev));
    // Hints decide first.
    assert!(with(&|h| h.counter_reset_hint = CounterResetHint::CounterReset).detect_reset(&prev));
    assert!(!with(&|h| {
        h.count = 0.0;
        h.counter_reset_hint = CounterResetHint::NotCounterReset;
    })
    .detect_reset(&prev));
    assert!(with(&|h| {
        h.count = 0.0;
        h.counter_reset_hint = CounterResetHint::Gauge;
    })
    .detect_reset(&prev));
}

#[test]
fn detect_reset_custom_buckets() {
    let prev = nhcb(&[1.0, 2.0, 3.0], &[(0, 4)], &[1.0, 2.0, 3.0, 4.0]);
    assert!(!prev.detect_reset(&prev));
    assert!(prev.detect_reset(&a30()));
    assert!(a30().detect_reset(&prev));
    // Different bounds: compared on the common bounds 1 and 3 (and +Inf).
    let curr = nhcb(&[1.0, 3.0], &[(0, 3)], &[1.0, 5.0, 4.0]);
    assert!(!curr.detect_reset(&prev));
    let curr = nhcb(&[1.0, 3.0], &[(0, 3)], &[1.0, 4.0, 5.0]);
    assert!(curr.detect_reset(&prev));
    let curr = nhcb(&[0.5, 1.0, 2.5, 3.0], &[(1, 1), (1, 2)], &[1.0, 5.0, 4.0]);
    assert!(!curr.detect_reset(&prev));
}

#[test]
fn equals_semantics() {
    let a = a30();
    assert!(a.equals(&a.clone()));
    let mut b = a.clone();
    b.counter_reset_hint = CounterResetHint::Gauge;
    assert!(a.equals(&b), "hint is not compared");
    // Same layout split differently.
    let mut b = a.clone();
    b.positive_spans = sp(&[(-2, 1), (0, 0), (0, 1), (2, 3), (4, 0)]);
    assert!(a.equals(&b));
    let mut b = a.clone();
    b.positive_spans = sp(&[(-2, 2), (3, 3)]);
    assert!(!a.equals(&b));
    // NaN-aware: identical NaN bits are equal, -0 and 0 are not.
    let mut n = a.clone();
    n.sum = f64::NAN;
    assert!(n.equals(&n.clone()));
    let mut z = a.clone();
    z.positive_buckets[1] = -0.0;
    assert!(!a.equals(&z));
    let mut b = a.clone();
    b.zero_threshold = 0.02;
    assert!(!a.equals(&b));
    // Custom bounds matter for custom buckets only.
    let c = nhcb(&[1.0, 2.0], &[(0, 1)], &[1.0]);
    let mut d = c.clone();
    d.custom_values = vec![1.0, 3.0];
    assert!(!c.equals(&d));
    let mut e = a.clone();
    e.custom_values = vec![1.0];
    assert!(a.equals(&e));
}

#[test]
fn kahan_inc_matches_prometheus() {
    assert_eq!(kahan_inc(1.0, 1e16, 0.0), (1e16, 1.0));
    assert_eq!(kahan_inc(1e16, 1.0, 0.0), (1e16, 1.0));
    assert_eq!(kahan_inc(f64::INFINITY, 1.0, 5.0), (f64::INFINITY, 0.0));
    assert_eq!(kahan_dec(1.0, 1e16, 0.0), (1e16, -1.0));
    assert_eq!(kahan_dec(-1e16, 1.0, 0.0), (1e16, 1.0));
}

// ---------------------------------------------------------------------------
// Property tests.

/// A valid exponential histogram with absolute counts.
fn arb_histogram(
    schema: impl Strategy<Value = i32>,
    zero_threshold: f64,
) -> impl Strategy<Value = FloatHistogram> {
    let side = prop::collection::vec((0i32..4, 1u32..5), 0..4).prop_flat_map(|spans| {
        let n: u32 = spans.iter().map(|s| s.1).sum();
        (
            Just(spans),
            prop::collection::vec(prop_oneof![Just(0.0), 0.0f64..1000.0], n as usize),
        )
    });
    (
        schema,
        -10i32..10,
        side.clone(),
        -10i32..10,
        side,
        0.0f64..50.0,
    )
        .prop_map(
            move |(schema, pos_start, (pos, pos_b), neg_start, (neg, neg_b), zc)| {
                let to_spans = |start: i32, s: &[(i32, u32)]| {
                    s.iter()
                        .enumerate()
                        .map(|(i, &(o, l))| Span::new(if i == 0 { start } else { o }, l))
                        .collect::<Vec<_>>()
                };
                let count = zc + pos_b.iter().sum::<f64>() + neg_b.iter().sum::<f64>();
                FloatHistogram {
                    schema,
                    zero_threshold,
                    zero_count: zc,
                    count,
                    sum: count * 1.5,
                    positive_spans: to_spans(pos_start, &pos),
                    positive_buckets: pos_b,
                    negative_spans: to_spans(neg_start, &neg),
                    negative_buckets: neg_b,
                    ..Default::default()
                }
            },
        )
}

fn bucket_map(spans: &[Span], buckets: &[f64]) -> BTreeMap<i32, f64> {
    let mut m = BTreeMap::new();
    for (i, v) in RawBuckets::new(spans, buckets) {
        *m.entry(i).or_insert(0.0) += v;
    }
    m
}

fn close_maps(a: &BTreeMap<i32, f64>, b: &BTreeMap<i32, f64>) -> bool {
    a.keys().chain(b.keys()).all(|k| {
        let x = a.get(k).copied().unwrap_or(0.0);
        let y = b.get(k).copied().unwrap_or(0.0);
        (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs()))
    })
}

/// Any histogram, including inconsistent and extreme ones.
fn arb_wild() -> impl Strategy<Value = FloatHistogram> {
    let offset = prop_oneof![-5i32..5, Just(i32::MAX), Just(i32::MIN), any::<i32>()];
    let spans = prop::collection::vec((offset, 0u32..6), 0..4);
    let value = prop_oneof![
        0.0f64..10.0,
        Just(0.0),
        Just(-0.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(-1.0),
        Just(1e300)
    ];
    let buckets = prop::collection::vec(value.clone(), 0..12);
    let schema = prop_oneof![
        MIN_EXPONENTIAL_SCHEMA..=MAX_EXPONENTIAL_SCHEMA,
        Just(CUSTOM_BUCKETS_SCHEMA),
        -12i32..12,
        any::<i32>()
    ];
    let zt = prop_oneof![
        Just(0.0),
        0.0f64..4.0,
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(1e-300)
    ];
    let bounds = prop::collection::vec(
        prop_oneof![-5.0f64..5.0, Just(f64::INFINITY), Just(f64::NAN)],
        0..5,
    );
    (
        schema,
        zt,
        value.clone(),
        value,
        spans.clone(),
        buckets.clone(),
        spans,
        buckets,
        bounds,
    )
        .prop_map(
            |(schema, zero_threshold, zero_count, count, ps, pb, ns, nb, mut cv)| {
                cv.sort_by(f64::total_cmp);
                FloatHistogram {
                    schema,
                    zero_threshold,
                    zero_count,
                    count,
                    sum: count,
                    positive_spans: ps.into_iter().map(|(o, l)| Span::new(o, l)).collect(),
                    positive_buckets: pb,
                    negative_spans: ns.into_iter().map(|(o, l)| Span::new(o, l)).collect(),
                    negative_buckets: nb,
                    custom_values: cv,
                    ..Default::default()
                }
            },
        )
}

proptest! {
    #[test]
    fn add_then_sub_restores_counts(
        (a, b) in (-2i32..4, prop_oneof![Just(0.0), Just(0.001), Just(0.3)])
            .prop_flat_map(|(schema, zt)| (arb_histogram(Just(schema), zt), arb_histogram(Just(schema), zt)))
    ) {
        let mut r = a.clone();
        r.add(&b).unwrap();
        r.sub(&b).unwrap();
        prop_assert_eq!(r.schema, a.schema);
        prop_assert_eq!(r.zero_threshold, a.zero_threshold);
        prop_assert!((r.count - a.count).abs() <= 1e-9 * (1.0 + a.count));
        prop_assert!((r.zero_count - a.zero_count).abs() <= 1e-9 * (1.0 + a.zero_count));
        prop_assert!(close_maps(&bucket_map(&r.positive_spans, &r.positive_buckets), &bucket_map(&a.positive_spans, &a.positive_buckets)));
        prop_assert!(close_maps(&bucket_map(&r.negative_spans, &r.negative_buckets), &bucket_map(&a.negative_spans, &a.negative_buckets)));
        prop_assert_eq!(r.validate_layout_for_tests(), Ok(()));
    }

    #[test]
    fn add_matches_bucket_wise_sum(
        a in arb_histogram(-1i32..3, 0.0),
        b in arb_histogram(-1i32..3, 0.0),
    ) {
        let target = a.schema.min(b.schema);
        let mut want = bucket_map(&a.copy_to_schema(target).positive_spans, &a.copy_to_schema(target).positive_buckets);
        for (k, v) in bucket_map(&b.copy_to_schema(target).positive_spans, &b.copy_to_schema(target).positive_buckets) {
            *want.entry(k).or_insert(0.0) += v;
        }
        let mut r = a.clone();
        r.add(&b).unwrap();
        prop_assert_eq!(r.schema, target);
        prop_assert!(close_maps(&bucket_map(&r.positive_spans, &r.positive_buckets), &want));
        // Kahan addition gives the same layout.
        let mut k = a.clone();
        let mut comp = FloatHistogram::default();
        k.kahan_add(&b, &mut comp).unwrap();
        prop_assert_eq!(&k.positive_spans, &r.positive_spans);
        prop_assert_eq!(&k.negative_spans, &r.negative_spans);
        prop_assert_eq!(comp.positive_buckets.len(), k.positive_buckets.len());
    }

    #[test]
    fn compact_preserves_counts(h in arb_histogram(-4i32..9, 0.01), max in prop_oneof![Just(0usize), 1usize..4, Just(usize::MAX)]) {
        let mut c = h.clone();
        c.compact(max);
        prop_assert_eq!(c.count, h.count);
        prop_assert_eq!(c.positive_buckets.iter().sum::<f64>(), h.positive_buckets.iter().sum::<f64>());
        prop_assert_eq!(c.negative_buckets.iter().sum::<f64>(), h.negative_buckets.iter().sum::<f64>());
        let nonzero = |m: BTreeMap<i32, f64>| m.into_iter().filter(|e| e.1 != 0.0).collect::<Vec<_>>();
        prop_assert_eq!(nonzero(bucket_map(&c.positive_spans, &c.positive_buckets)), nonzero(bucket_map(&h.positive_spans, &h.positive_buckets)));
        prop_assert_eq!(nonzero(bucket_map(&c.negative_spans, &c.negative_buckets)), nonzero(bucket_map(&h.negative_spans, &h.negative_buckets)));
        let mut again = c.clone();
        again.compact(max);
        prop_assert!(c.equals(&again));
        prop_assert_eq!(c.validate(), Ok(()));
        if max == 0 {
            prop_assert!(c.positive_buckets.iter().chain(&c.negative_buckets).all(|&v| v != 0.0));
        }
        if max == usize::MAX {
            prop_assert!(c.positive_spans.len() <= 1 && c.negative_spans.len() <= 1);
        }
    }

    #[test]
    fn nothing_panics(a in arb_wild(), b in arb_wild(), factor in prop_oneof![any::<f64>(), Just(0.0), Just(-1.0)], target in any::<i32>(), max in prop_oneof![Just(0usize), 0usize..3, Just(usize::MAX)]) {
        let mut x = a.clone();
        let _ = x.add(&b);
        let _ = x.sub(&a);
        let mut comp = FloatHistogram::default();
        let _ = x.kahan_add(&b, &mut comp);
        let _ = x.kahan_add(&a, &mut comp);
        x.mul(factor);
        x.div(factor);
        x.compact(max);
        x.reduce_resolution(target);
        let _ = a.copy_to_schema(target);
        let _ = a.detect_reset(&b);
        let _ = b.detect_reset(&a);
        let _ = a.equals(&b);
        let _ = a.test_expression();
        let _ = x.test_expression();
        let _ = a.validate();
        let _ = a.all_buckets().count() + a.all_buckets_reverse().count();
    }
}

impl FloatHistogram {
    /// Structural consistency as `add` requires it.
    fn validate_layout_for_tests(&self) -> Result<(), HistogramError> {
        check_layout(self)
    }
}
