//! Numeric helpers shared by functions and aggregations (Kahan–Neumaier
//! summation, overflow-safe mean, quantile, linear regression) and the
//! element-wise math functions (`abs`, `ln`, `clamp`, `round`, trig, ...).

/// One step of Kahan–Neumaier summation: returns the new sum and compensation
/// (the model's, shared with native histogram arithmetic).
pub(crate) use pharos_model::histogram::kahan_inc;

/// A mean computed by compensated summation, switching to an incremental
/// mean when the sum overflows (as Prometheus's `avg` and `avg_over_time`).
#[derive(Debug, Default, Clone)]
pub(crate) struct Mean {
    count: f64,
    sum: f64,
    c: f64,
    mean: f64,
    incremental: bool,
}

impl Mean {
    pub fn add(&mut self, v: f64) {
        self.count += 1.0;
        if self.count == 1.0 {
            self.sum = v;
            return;
        }
        if !self.incremental {
            let (s, c) = kahan_inc(v, self.sum, self.c);
            if !s.is_infinite() {
                self.sum = s;
                self.c = c;
                return;
            }
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.c /= self.count - 1.0;
        }
        let q = (self.count - 1.0) / self.count;
        let (m, c) = kahan_inc(v / self.count, q * self.mean, q * self.c);
        self.mean = m;
        self.c = c;
    }

    pub fn value(&self) -> f64 {
        if self.incremental {
            self.mean + self.c
        } else {
            self.sum / self.count + self.c / self.count
        }
    }
}

/// Sorts with NaN first, as Prometheus's value heap does.
pub(crate) fn sort_nan_first(v: &mut [f64]) {
    v.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
}

/// The φ-quantile of `values` with linear interpolation between ranks.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    sort_nan_first(values);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Least-squares fit of `points` with x in seconds relative to `intercept_t`.
pub(crate) fn linear_regression(points: &[(i64, f64)], intercept_t: i64) -> (f64, f64) {
    let mut n = 0.0;
    let (mut sx, mut cx, mut sy, mut cy) = (0.0, 0.0, 0.0, 0.0);
    let (mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = points.first().map(|p| p.1).unwrap_or(f64::NAN);
    let mut const_y = true;
    for (i, &(t, v)) in points.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(v, sy, cy);
        (sxy, cxy) = kahan_inc(x * v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

/// Go's `math.Max` (NaN wins).
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min` (NaN wins).
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

/// The element-wise function of one argument named `name`, if any.
pub(crate) fn unary_math(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v: f64| v * 180.0 / std::f64::consts::PI,
        "rad" => |v: f64| v * std::f64::consts::PI / 180.0,
        "sgn" => |v: f64| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

/// `round(v, to_nearest)`.
pub(crate) fn round_to(v: f64, to_nearest: f64) -> f64 {
    let inv = 1.0 / to_nearest;
    (v * inv + 0.5).floor() / inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let mut v = vec![3.0, 1.0, 2.0, 4.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert_eq!(quantile(1.5, &mut v), f64::INFINITY);
    }

    #[test]
    fn mean_overflow() {
        let mut m = Mean::default();
        m.add(f64::MAX);
        m.add(f64::MAX);
        assert_eq!(m.value(), f64::MAX);
    }

    #[test]
    fn regression() {
        let pts = [(0, 1.0), (1000, 2.0), (2000, 3.0)];
        let (s, i) = linear_regression(&pts, 0);
        assert!((s - 1.0).abs() < 1e-12 && (i - 1.0).abs() < 1e-12);
    }
}
