//! Text forms of histograms: Prometheus's `TestExpression` and Go-style
//! number formatting.

use super::{CounterResetHint, FloatHistogram};

/// Formats `x` like Go's `fmt` verb `%g` (and `%v`) for a `float64`:
/// shortest round-trip digits, in exponent form (`1e+06`, `1.5e-05`) when the
/// decimal exponent is below -4 or at least 6; infinities are `+Inf`/`-Inf`.
pub(crate) fn go_g(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0");
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "d.ddde<exp>".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.unsigned_abs());
    }
    // Decimal point after `exp + 1` digits.
    let point = exp + 1;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

/// Formats `x` like Go's `%f` (six decimals; `+Inf`, `-Inf`, `NaN`).
pub(crate) fn go_f(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    format!("{x:.6}")
}

impl FloatHistogram {
    /// The histogram in the notation of PromQL test files and promtool rule
    /// tests (Prometheus `TestExpression`), e.g.
    /// `{{schema:1 count:3 sum:5 z_bucket:1 z_bucket_w:0.001 offset:1 buckets:[1 2]}}`.
    ///
    /// The histogram is compacted first (so each side has at most one span);
    /// fields that are zero are left out; numbers use Go's `%g` format. The
    /// field order is schema, count, sum, z_bucket, z_bucket_w, custom_values,
    /// counter_reset_hint, offset, buckets, n_offset, n_buckets.
    pub fn test_expression(&self) -> String {
        let custom = self.uses_custom_buckets();
        let mut m = self.clone();
        if custom {
            // Prometheus's copy of a custom-bucket histogram drops these.
            m.zero_threshold = 0.0;
            m.zero_count = 0.0;
            m.negative_spans.clear();
            m.negative_buckets.clear();
        }
        m.compact(usize::MAX);

        let mut parts: Vec<String> = Vec::new();
        if m.schema != 0 {
            parts.push(format!("schema:{}", m.schema));
        }
        if m.count != 0.0 {
            parts.push(format!("count:{}", go_g(m.count)));
        }
        if m.sum != 0.0 {
            parts.push(format!("sum:{}", go_g(m.sum)));
        }
        if m.zero_count != 0.0 {
            parts.push(format!("z_bucket:{}", go_g(m.zero_count)));
        }
        if m.zero_threshold != 0.0 {
            parts.push(format!("z_bucket_w:{}", go_g(m.zero_threshold)));
        }
        if custom {
            parts.push(format!("custom_values:[{}]", join_g(&m.custom_values)));
        }
        match m.counter_reset_hint {
            CounterResetHint::Unknown => {}
            CounterResetHint::CounterReset => parts.push("counter_reset_hint:reset".into()),
            CounterResetHint::NotCounterReset => parts.push("counter_reset_hint:not_reset".into()),
            CounterResetHint::Gauge => parts.push("counter_reset_hint:gauge".into()),
        }
        for (spans, buckets, offset_key, buckets_key) in [
            (&m.positive_spans, &m.positive_buckets, "offset", "buckets"),
            (
                &m.negative_spans,
                &m.negative_buckets,
                "n_offset",
                "n_buckets",
            ),
        ] {
            // After compacting there is at most one span (Prometheus panics
            // otherwise; only absurd layouts get here with more).
            if let Some(span) = spans.first().filter(|s| s.offset != 0) {
                parts.push(format!("{offset_key}:{}", span.offset));
            }
            if !buckets.is_empty() {
                parts.push(format!("{buckets_key}:[{}]", join_g(buckets)));
            }
        }
        format!("{{{{{}}}}}", parts.join(" "))
    }
}

fn join_g(values: &[f64]) -> String {
    values
        .iter()
        .map(|&v| go_g(v))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::{Span, CUSTOM_BUCKETS_SCHEMA};

    #[test]
    fn go_g_format() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (100000.0, "100000"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (3493.3, "3493.3"),
            (2349209.324, "2.349209324e+06"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for &(x, want) in cases {
            assert_eq!(go_g(x), want, "{x:?}");
        }
        assert_eq!(go_f(1.5), "1.500000");
        assert_eq!(go_f(f64::INFINITY), "+Inf");
    }

    #[test]
    fn exponential_expression() {
        let h = FloatHistogram {
            schema: 1,
            count: 3.0,
            sum: 5.0,
            zero_count: 1.0,
            zero_threshold: 0.001,
            positive_spans: vec![Span::new(1, 1), Span::new(1, 1)],
            positive_buckets: vec![1.0, 2.0],
            negative_spans: vec![Span::new(-2, 2)],
            negative_buckets: vec![0.0, 4.5],
            counter_reset_hint: CounterResetHint::Gauge,
            ..Default::default()
        };
        assert_eq!(
            h.test_expression(),
            "{{schema:1 count:3 sum:5 z_bucket:1 z_bucket_w:0.001 counter_reset_hint:gauge offset:1 buckets:[1 0 2] n_offset:-1 n_buckets:[4.5]}}"
        );
        assert_eq!(FloatHistogram::default().test_expression(), "{{}}");
    }

    #[test]
    fn custom_expression() {
        let h = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: 4.0,
            sum: 1e7,
            zero_count: 3.0,
            positive_spans: vec![Span::new(0, 2)],
            positive_buckets: vec![1.0, 3.0],
            custom_values: vec![0.5, 1.0, 2e6],
            counter_reset_hint: CounterResetHint::NotCounterReset,
            ..Default::default()
        };
        assert_eq!(
            h.test_expression(),
            "{{schema:-53 count:4 sum:1e+07 custom_values:[0.5 1 2e+06] counter_reset_hint:not_reset buckets:[1 3]}}"
        );
        let mut e = h.clone();
        e.custom_values.clear();
        e.counter_reset_hint = CounterResetHint::CounterReset;
        assert!(e
            .test_expression()
            .contains("custom_values:[] counter_reset_hint:reset"));
    }
}

impl std::fmt::Display for super::Bucket {
    /// `(lower,upper]:count` with brackets telling which bounds are inclusive
    /// (Prometheus `Bucket.String`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{},{}{}:{}",
            if self.lower_inclusive { '[' } else { '(' },
            go_g(self.lower),
            go_g(self.upper),
            if self.upper_inclusive { ']' } else { ')' },
            go_g(self.count)
        )
    }
}

impl std::fmt::Display for FloatHistogram {
    /// Prometheus's `FloatHistogram.String`: count, sum, then every
    /// non-empty bucket in ascending order, e.g.
    /// `{count:20, sum:10, [-2,-1):2, [-0.001,0.001]:2, (1,2]:2}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{count:{}, sum:{}", go_g(self.count), go_g(self.sum))?;
        let neg: Vec<super::Bucket> = self.negative_buckets().filter(|b| b.count != 0.0).collect();
        for b in neg.iter().rev() {
            write!(f, ", {b}")?;
        }
        if self.zero_count != 0.0 {
            write!(f, ", {}", self.zero_bucket())?;
        }
        for b in self.positive_buckets().filter(|b| b.count != 0.0) {
            write!(f, ", {b}")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod display_tests {
    use crate::histogram::{FloatHistogram, Span};

    #[test]
    fn prometheus_string() {
        let h = FloatHistogram {
            schema: 0,
            count: 20.0,
            sum: 10.0,
            zero_threshold: 0.001,
            zero_count: 2.0,
            positive_spans: vec![Span::new(0, 2)],
            positive_buckets: vec![1.0, 2.0],
            negative_spans: vec![Span::new(0, 2)],
            negative_buckets: vec![1.0, 2.0],
            ..FloatHistogram::default()
        };
        assert_eq!(
            h.to_string(),
            "{count:20, sum:10, [-2,-1):2, [-1,-0.5):1, [-0.001,0.001]:2, (0.5,1]:1, (1,2]:2}"
        );
    }
}
