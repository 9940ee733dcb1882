//! `histogram_quantile` over classic (`le`-labelled) bucket series:
//! buckets sorted by bound, equal bounds merged, counts forced monotonic
//! (ignoring float noise), linear interpolation within the bucket.

use std::collections::HashMap;

use pharos_model::Labels;

use super::super::aggregate::{expr_pos, go_g, pos_suffix};
use super::super::eval::{Collector, Evaluator, Range, Val};
use super::super::EvalError;
use super::arg;
use crate::ast::Call;

const SMALL_DELTA: f64 = 1e-12;
const MIN_NORMAL: f64 = f64::MIN_POSITIVE;

fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < eps * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

/// The quantile of classic buckets `(upper bound, cumulative count)`;
/// also whether monotonicity had to be forced.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    match buckets.last() {
        Some(b) if b.0 == f64::INFINITY => {}
        _ => return (f64::NAN, false),
    }
    // Merge equal bounds.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    let mut forced = false;
    let mut prev = merged[0].1;
    for b in merged.iter_mut().skip(1) {
        let cur = b.1;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, SMALL_DELTA) {
            b.1 = prev;
            continue;
        }
        if cur < prev {
            b.1 = prev;
            forced = true;
            continue;
        }
        prev = cur;
    }
    if merged.len() < 2 {
        return (f64::NAN, forced);
    }
    let total = merged[merged.len() - 1].1;
    if total == 0.0 || total.is_nan() {
        return (f64::NAN, forced);
    }
    let mut rank = q * total;
    let last = merged.len() - 1;
    let b = merged[..last]
        .iter()
        .position(|x| x.1 >= rank)
        .unwrap_or(last);
    if b == last {
        return (merged[last - 1].0, forced);
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return (merged[0].0, forced);
    }
    let mut start = 0.0;
    let end = merged[b].0;
    let mut count = merged[b].1;
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    (start + (end - start) * (rank / count), forced)
}

impl Evaluator<'_> {
    pub(crate) fn histogram_quantile(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        let q = self.eval_scalar(arg(c, 0)?, r)?;
        let vexpr = arg(c, 1)?;
        let v = self.eval_vector(vexpr, r)?;
        let n = r.len();
        let vpos = pos_suffix(expr_pos(vexpr));
        if let Some(bad) = q.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            self.warn(format!(
                "PromQL warning: quantile value should be between 0 and 1, got {} {}",
                go_g(*bad),
                pos_suffix(expr_pos(&c.args[0]))
            ));
        }
        // Group and bound of each series.
        let mut gindex: HashMap<Labels, usize> = HashMap::new();
        let mut glabels: Vec<Labels> = Vec::new();
        let mut gname: Vec<String> = Vec::new();
        let mut meta: Vec<Option<(usize, f64)>> = Vec::with_capacity(v.len());
        for s in &v {
            let le = s.labels.get("le").unwrap_or("");
            let Ok(ub) = le.trim().parse::<f64>() else {
                self.warn(format!(
                    "PromQL warning: bucket label \"le\" is missing or has a malformed value of {:?} for metric name {:?} {}",
                    le,
                    s.labels.metric_name().unwrap_or(""),
                    vpos
                ));
                meta.push(None);
                continue;
            };
            let mut b = s.labels.builder();
            b.del("le");
            let g = b.build();
            let gi = *gindex.entry(g.clone()).or_insert_with(|| {
                glabels.push(g);
                gname.push(s.labels.metric_name().unwrap_or("").to_string());
                glabels.len() - 1
            });
            meta.push(Some((gi, ub)));
        }
        let mut col = Collector::new(n);
        let mut buckets: Vec<Vec<(f64, f64)>> = vec![Vec::new(); glabels.len()];
        let mut order: Vec<usize> = Vec::new();
        for (i, &qi) in q.iter().enumerate().take(n) {
            self.check_timeout()?;
            for b in buckets.iter_mut() {
                b.clear();
            }
            order.clear();
            for (si, s) in v.iter().enumerate() {
                let (Some(x), Some((g, ub))) = (s.vals[i], meta[si]) else {
                    continue;
                };
                if buckets[g].is_empty() {
                    order.push(g);
                }
                buckets[g].push((ub, x));
            }
            for &g in &order {
                let (res, forced) = bucket_quantile(qi, &mut buckets[g]);
                if forced {
                    self.info(format!(
                        "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {:?} {}",
                        gname[g], vpos
                    ));
                }
                col.add_flag(glabels[g].clone(), true, i, res)?;
            }
        }
        Ok(Val::Vector(col.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::bucket_quantile;

    #[test]
    fn interpolates() {
        let mut b = vec![(1.0, 10.0), (f64::INFINITY, 20.0), (0.5, 5.0)];
        let (v, forced) = bucket_quantile(0.5, &mut b);
        assert!(!forced);
        assert_eq!(v, 1.0);
        let mut b = vec![(1.0, 10.0), (2.0, 5.0), (f64::INFINITY, 20.0)];
        let (v, forced) = bucket_quantile(0.25, &mut b);
        assert!(forced);
        assert_eq!(v, 0.5);
    }
}
