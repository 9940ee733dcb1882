//! The `*_over_time` aggregations of a window.

use super::math::{kahan_inc, quantile, Mean};

pub(crate) fn sum(w: &[(i64, f64)]) -> f64 {
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

pub(crate) fn avg(w: &[(i64, f64)]) -> f64 {
    let mut m = Mean::default();
    for &(_, v) in w {
        m.add(v);
    }
    m.value()
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
