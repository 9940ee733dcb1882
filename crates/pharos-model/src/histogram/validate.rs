//! Prometheus `FloatHistogram.Validate`.

use super::bounds::is_exponential_schema;
use super::format::{go_f, go_g};
use super::ops::HistogramError;
use super::{
    FloatHistogram, Span, CUSTOM_BUCKETS_SCHEMA, MAX_EXPONENTIAL_SCHEMA, MIN_EXPONENTIAL_SCHEMA,
};

const NEGATIVE_BUCKET_COUNT: &str = "histogram has a bucket whose observation count is negative";

impl FloatHistogram {
    /// Checks the histogram like Prometheus `Validate`: spans consistent with
    /// the bucket counts, no negative offsets after the first span, no negative
    /// counts, a valid schema, custom bounds strictly increasing, finite and
    /// sufficient, and no zero bucket or negative buckets with custom buckets.
    /// The error message is Prometheus's. (As in Prometheus, the count is not
    /// compared with the sum of the buckets.)
    pub fn validate(&self) -> Result<(), HistogramError> {
        let invalid = |m: String| Err(HistogramError::Invalid(m));
        if self.schema == CUSTOM_BUCKETS_SCHEMA {
            if let Err(e) = check_custom_bounds(
                &self.custom_values,
                &self.positive_spans,
                self.positive_buckets.len(),
            ) {
                return invalid(format!("custom buckets: {e}"));
            }
            if self.zero_count != 0.0 {
                return invalid("custom buckets: must have zero count of 0".into());
            }
            if self.zero_threshold != 0.0 {
                return invalid("custom buckets: must have zero threshold of 0".into());
            }
            if !self.negative_spans.is_empty() {
                return invalid("custom buckets: must not have negative spans".into());
            }
            if !self.negative_buckets.is_empty() {
                return invalid("custom buckets: must not have negative buckets".into());
            }
        } else if is_exponential_schema(self.schema) {
            if let Err(e) = check_spans(&self.positive_spans, self.positive_buckets.len()) {
                return invalid(format!("positive side: {e}"));
            }
            if let Err(e) = check_spans(&self.negative_spans, self.negative_buckets.len()) {
                return invalid(format!("negative side: {e}"));
            }
            if let Err(e) = check_buckets(&self.negative_buckets) {
                return invalid(format!("negative side: {e}"));
            }
            if self.zero_count < 0.0 {
                return invalid(format!(
                    "zero bucket has observation count of {}: {NEGATIVE_BUCKET_COUNT}",
                    go_g(self.zero_count)
                ));
            }
            if !self.custom_values.is_empty() {
                return invalid(
                    "histogram with exponential schema must not have custom bounds".into(),
                );
            }
        } else {
            return invalid(format!(
                "histogram has an invalid schema, which must be between {MIN_EXPONENTIAL_SCHEMA} and {MAX_EXPONENTIAL_SCHEMA} for exponential buckets, or {CUSTOM_BUCKETS_SCHEMA} for custom buckets, got schema {}",
                self.schema
            ));
        }
        if self.count < 0.0 {
            return invalid(format!(
                "observation count is  {}: histogram's observation count is negative",
                go_g(self.count)
            ));
        }
        if let Err(e) = check_buckets(&self.positive_buckets) {
            return invalid(format!("positive side: {e}"));
        }
        Ok(())
    }
}

fn check_spans(spans: &[Span], n_buckets: usize) -> Result<(), String> {
    let mut needed: u64 = 0;
    for (n, span) in spans.iter().enumerate() {
        if n > 0 && span.offset < 0 {
            return Err(format!(
                "span number {} with offset {}: histogram has a span whose offset is negative",
                n + 1,
                span.offset
            ));
        }
        needed += u64::from(span.length);
    }
    if needed != n_buckets as u64 {
        return Err(format!(
            "spans need {needed} buckets, have {n_buckets} buckets: histogram spans specify different number of buckets than provided"
        ));
    }
    Ok(())
}

fn check_buckets(buckets: &[f64]) -> Result<(), String> {
    match buckets.iter().position(|&c| c < 0.0) {
        Some(i) => Err(format!(
            "bucket number {} has observation count of {}: {NEGATIVE_BUCKET_COUNT}",
            i + 1,
            go_g(buckets[i])
        )),
        None => Ok(()),
    }
}

fn check_custom_bounds(bounds: &[f64], spans: &[Span], n_buckets: usize) -> Result<(), String> {
    let mut prev = f64::NEG_INFINITY;
    for (i, &curr) in bounds.iter().enumerate() {
        if curr.is_nan() {
            return Err("histogram custom bounds must not be NaN".into());
        }
        if i > 0 && curr <= prev {
            return Err(format!(
                "previous bound is {} and current is {}: histogram custom bounds must be in strictly increasing order",
                go_f(prev),
                go_f(curr)
            ));
        }
        prev = curr;
    }
    if prev == f64::INFINITY {
        return Err("last +Inf bound must not be explicitly defined: histogram custom bounds must be finite".into());
    }
    let mut needed: u64 = 0;
    let mut total: i64 = 0;
    for (n, span) in spans.iter().enumerate() {
        if span.offset < 0 {
            return Err(format!(
                "span number {} with offset {}: histogram has a span whose offset is negative",
                n + 1,
                span.offset
            ));
        }
        needed += u64::from(span.length);
        total += i64::from(span.length) + i64::from(span.offset);
    }
    if needed != n_buckets as u64 {
        return Err(format!(
            "spans need {needed} buckets, have {n_buckets} buckets: histogram spans specify different number of buckets than provided"
        ));
    }
    if (bounds.len() as i64) + 1 < total {
        return Err(format!(
            "only {} custom bounds defined which is insufficient to cover total span length of {total}: histogram custom bounds are too few",
            bounds.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(h: &FloatHistogram) -> String {
        h.validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn valid_histograms() {
        let h = FloatHistogram {
            schema: 2,
            count: 5.0,
            zero_count: 1.0,
            positive_spans: vec![Span::new(-3, 2), Span::new(1, 1)],
            positive_buckets: vec![1.0, 2.0, 0.0],
            negative_spans: vec![Span::new(4, 1)],
            negative_buckets: vec![2.0],
            ..Default::default()
        };
        assert_eq!(h.validate(), Ok(()));
        let c = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            positive_spans: vec![Span::new(0, 1), Span::new(1, 1)],
            positive_buckets: vec![1.0, 2.0],
            custom_values: vec![1.0, 2.0],
            ..Default::default()
        };
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn exponential_errors() {
        let base = FloatHistogram {
            positive_spans: vec![Span::new(0, 2)],
            positive_buckets: vec![1.0, 2.0],
            ..Default::default()
        };
        let mut h = base.clone();
        h.positive_buckets.pop();
        assert_eq!(err(&h), "positive side: spans need 2 buckets, have 1 buckets: histogram spans specify different number of buckets than provided");
        let mut h = base.clone();
        h.negative_spans = vec![Span::new(0, 1), Span::new(-2, 1)];
        h.negative_buckets = vec![1.0, 1.0];
        assert_eq!(err(&h), "negative side: span number 2 with offset -2: histogram has a span whose offset is negative");
        let mut h = base.clone();
        h.positive_buckets[1] = -1.5;
        assert_eq!(err(&h), "positive side: bucket number 2 has observation count of -1.5: histogram has a bucket whose observation count is negative");
        let mut h = base.clone();
        h.zero_count = -1.0;
        assert_eq!(err(&h), "zero bucket has observation count of -1: histogram has a bucket whose observation count is negative");
        let mut h = base.clone();
        h.count = -2.0;
        assert_eq!(
            err(&h),
            "observation count is  -2: histogram's observation count is negative"
        );
        let mut h = base.clone();
        h.custom_values = vec![1.0];
        assert_eq!(
            err(&h),
            "histogram with exponential schema must not have custom bounds"
        );
        let mut h = base.clone();
        h.schema = 9;
        assert_eq!(err(&h), "histogram has an invalid schema, which must be between -4 and 8 for exponential buckets, or -53 for custom buckets, got schema 9");
    }

    #[test]
    fn custom_errors() {
        let base = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            positive_spans: vec![Span::new(0, 2)],
            positive_buckets: vec![1.0, 2.0],
            custom_values: vec![1.0, 2.0],
            ..Default::default()
        };
        let mut h = base.clone();
        h.custom_values = vec![2.0, 1.0];
        assert_eq!(err(&h), "custom buckets: previous bound is 2.000000 and current is 1.000000: histogram custom bounds must be in strictly increasing order");
        h.custom_values = vec![1.0, f64::NAN];
        assert_eq!(
            err(&h),
            "custom buckets: histogram custom bounds must not be NaN"
        );
        h.custom_values = vec![1.0, f64::INFINITY];
        assert_eq!(err(&h), "custom buckets: last +Inf bound must not be explicitly defined: histogram custom bounds must be finite");
        h.custom_values = vec![];
        assert_eq!(err(&h), "custom buckets: only 0 custom bounds defined which is insufficient to cover total span length of 2: histogram custom bounds are too few");
        let mut h = base.clone();
        h.zero_threshold = 0.1;
        assert_eq!(err(&h), "custom buckets: must have zero threshold of 0");
        let mut h = base.clone();
        h.negative_buckets = vec![1.0];
        assert_eq!(err(&h), "custom buckets: must not have negative buckets");
        let mut h = base;
        h.positive_spans[0].offset = -1;
        assert_eq!(err(&h), "custom buckets: span number 1 with offset -1: histogram has a span whose offset is negative");
    }
}
