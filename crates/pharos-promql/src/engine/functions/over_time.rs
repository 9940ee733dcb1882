//! The `*_over_time` aggregations of a window.

use super::math::{kahan_inc, quantile, Mean};

pub(crate) fn sum(w: &[(i64, f64)]) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for &(_, v) in w {
        // `kahan_inc`, written out so the loop stays branch-light.
        let t = s + v;
        if t.is_infinite() {
            c = 0.0;
        } else {
            let (big, small) = if s.abs() >= v.abs() { (s, v) } else { (v, s) };
            c += (big - t) + small;
        }
        s = t;
    }
    if s.is_infinite() {
        s
    } else {
        s + c
    }
}

/// The mean of a window, as [`Mean`] computes it: compensated summation,
/// and the incremental mean from the point where the sum overflows.
pub(crate) fn avg(w: &[(i64, f64)]) -> f64 {
    let Some(&(_, first)) = w.first() else {
        return Mean::default().value();
    };
    // The common case in one tight loop; the first overflow hands the
    // whole window to `Mean`, which then takes the same steps.
    let (mut s, mut c) = (first, 0.0f64);
    for &(_, v) in &w[1..] {
        let t = s + v;
        if t.is_infinite() {
            let mut m = Mean::default();
            for &(_, v) in w {
                m.add(v);
            }
            return m.value();
        }
        let (big, small) = if s.abs() >= v.abs() { (s, v) } else { (v, s) };
        c += (big - t) + small;
        s = t;
    }
    let n = w.len() as f64;
    s / n + c / n
}

pub(crate) fn min(w: &[(i64, f64)]) -> f64 {
    let mut m = w[0].1;
    for &(_, v) in w {
        if v < m || m.is_nan() {
            m = v;
        }
    }
    m
}

pub(crate) fn max(w: &[(i64, f64)]) -> f64 {
    let mut m = w[0].1;
    for &(_, v) in w {
        if v > m || m.is_nan() {
            m = v;
        }
    }
    m
}

/// Population variance by Welford's method with compensated sums.
pub(crate) fn stdvar(w: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut cmean, mut aux, mut caux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(_, v) in w {
        count += 1.0;
        let delta = v - (mean + cmean);
        (mean, cmean) = kahan_inc(delta / count, mean, cmean);
        (aux, caux) = kahan_inc(delta * (v - (mean + cmean)), aux, caux);
    }
    (aux + caux) / count
}

pub(crate) fn quantile_of(q: f64, w: &[(i64, f64)]) -> f64 {
    let mut vals: Vec<f64> = w.iter().map(|p| p.1).collect();
    quantile(q, &mut vals)
}

/// Median absolute deviation; a NaN sample makes the result NaN.
pub(crate) fn mad(w: &[(i64, f64)]) -> f64 {
    if w.iter().any(|p| p.1.is_nan()) {
        return f64::NAN;
    }
    let mut vals: Vec<f64> = w.iter().map(|p| p.1).collect();
    let median = quantile(0.5, &mut vals);
    let mut dev: Vec<f64> = w.iter().map(|p| (p.1 - median).abs()).collect();
    quantile(0.5, &mut dev)
}

/// Timestamp (seconds) of the extreme value, the latest on ties.
pub(crate) fn ts_of_extreme(w: &[(i64, f64)], want_max: bool) -> f64 {
    let (mut bt, mut bv) = w[0];
    for &(t, v) in w {
        let better = if want_max { v >= bv } else { v <= bv };
        if better || bv.is_nan() {
            bt = t;
            bv = v;
        }
    }
    bt as f64 / 1000.0
}

/// Double exponential smoothing (`holt_winters`).
pub(crate) fn double_exp_smoothing(w: &[(i64, f64)], sf: f64, tf: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let mut s0 = 0.0;
    let mut s1 = w[0].1;
    let mut b = w[1].1 - w[0].1;
    for (i, &(_, v)) in w.iter().enumerate().skip(1) {
        let x = sf * v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

#[cfg(test)]
mod tests {
    use super::super::math::{kahan_inc, Mean};
    use proptest::prelude::*;

    fn reference_sum(w: &[(i64, f64)]) -> f64 {
        let (mut s, mut c) = (0.0, 0.0);
        for &(_, v) in w {
            (s, c) = kahan_inc(v, s, c);
        }
        if s.is_infinite() {
            s
        } else {
            s + c
        }
    }

    fn reference_avg(w: &[(i64, f64)]) -> f64 {
        let mut m = Mean::default();
        for &(_, v) in w {
            m.add(v);
        }
        m.value()
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            -1e3f64..1e3,
            Just(f64::MAX),
            Just(-f64::MAX),
            Just(1e308),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::NAN),
            Just(1e100),
            Just(-1e100),
        ]
    }

    proptest! {
        /// The tight loops give the same bits as the step-by-step reference.
        #[test]
        fn sum_and_avg_match_reference(vals in proptest::collection::vec(value(), 0..40)) {
            let w: Vec<(i64, f64)> = vals.iter().enumerate().map(|(i, &v)| (i as i64, v)).collect();
            let (a, b) = (super::sum(&w), reference_sum(&w));
            prop_assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{} vs {}", a, b);
            let (a, b) = (super::avg(&w), reference_avg(&w));
            prop_assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{} vs {}", a, b);
        }
    }
}
