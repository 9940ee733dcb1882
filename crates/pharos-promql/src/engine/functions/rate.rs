//! The counter and gauge change functions over a window: `rate`,
//! `increase`, `delta` (Prometheus's extrapolated rate), `irate`, `idelta`,
//! `deriv`, `predict_linear`, `resets`, `changes`.

use super::math::linear_regression;

/// `rate` / `increase` / `delta` over the window `(range_start, range_end]`.
/// `zero_point_first`: Prometheus 2.x's order, which limits the distance to
/// the window start by the counter's zero point before comparing it with the
/// extrapolation threshold (3.x compares first).
pub(crate) fn extrapolated_rate(
    w: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
    zero_point_first: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (first_t, first_v) = w[0];
    let (last_t, last_v) = w[w.len() - 1];
    let mut result = last_v - first_v;
    if is_counter {
        let mut prev = first_v;
        for &(_, v) in &w[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut to_start = (first_t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg_between = sampled / (w.len() - 1) as f64;
    let threshold = avg_between * 1.1;
    let mut interval = sampled;
    if zero_point_first && is_counter && result > 0.0 && first_v >= 0.0 {
        to_start = to_start.min(sampled * (first_v / result));
    }
    if to_start >= threshold {
        to_start = avg_between / 2.0;
    }
    if !zero_point_first && is_counter && result > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    interval += to_start;
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    interval += to_end;
    let mut factor = interval / sampled;
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` (`is_rate`) / `idelta` from the last two samples.
pub(crate) fn instant_value(w: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (pt, pv) = w[w.len() - 2];
    let (lt, lv) = w[w.len() - 1];
    let mut v = if is_rate && lv < pv { lv } else { lv - pv };
    if is_rate {
        let interval = lt - pt;
        if interval == 0 {
            return None;
        }
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// `deriv`: slope of the least-squares fit, per second.
pub(crate) fn deriv(w: &[(i64, f64)]) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    Some(linear_regression(w, w[0].0).0)
}

/// `predict_linear`: the fit's value `secs` seconds after `ts`.
pub(crate) fn predict_linear(w: &[(i64, f64)], ts: i64, secs: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(w, ts);
    Some(slope * secs + intercept)
}

/// `resets`: number of decreases.
pub(crate) fn resets(w: &[(i64, f64)]) -> f64 {
    w.windows(2).filter(|p| p[1].1 < p[0].1).count() as f64
}

/// `changes`: number of value changes (NaN to NaN is no change).
pub(crate) fn changes(w: &[(i64, f64)]) -> f64 {
    w.windows(2)
        .filter(|p| {
            let (a, b) = (p[0].1, p[1].1);
            a != b && !(a.is_nan() && b.is_nan())
        })
        .count() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_extrapolates() {
        // Counter going 0..10 over samples every 10s in a 50s window ending at 50s.
        let w: Vec<(i64, f64)> = (1..=5).map(|i| (i * 10_000, i as f64)).collect();
        let r = extrapolated_rate(&w, 0, 50_000, 50_000, true, false, false).unwrap();
        // Sampled 40s; start 10s away (< 11s threshold) but zero point at 10s; end 0.
        assert!((r - 5.0).abs() < 1e-9, "{r}");
    }

    #[test]
    fn irate_reset() {
        assert_eq!(instant_value(&[(0, 10.0), (1000, 2.0)], true), Some(2.0));
        assert_eq!(instant_value(&[(0, 10.0), (1000, 2.0)], false), Some(-8.0));
    }
}
