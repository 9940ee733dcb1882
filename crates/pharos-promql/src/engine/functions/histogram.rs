//! `histogram_quantile`, `histogram_quantiles` and `histogram_fraction` over
//! classic (`le`-labelled) bucket series. For quantiles:
//! buckets sorted by bound, equal bounds merged, counts forced monotonic
//! (ignoring float noise), linear interpolation within the bucket.

use crate::engine::hash::FastMap;

use pharos_model::Labels;

use super::super::aggregate::{expr_pos, go_g, pos_suffix};
use super::super::eval::{Collector, Evaluator, Range, SeriesV, Val};
use super::super::EvalError;
use super::{arg, native};
use crate::ast::{Call, Expr};

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

/// The fraction of observations between `lower` and `upper` in classic
/// buckets `(upper bound, cumulative count)`, interpolating linearly within a
/// bucket. The lowest bucket starts at 0 when its upper bound is positive.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [(f64, f64)]) -> f64 {
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    match buckets.last() {
        Some(b) if b.0 == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    let count = merged[merged.len() - 1].1;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let mut rank = 0.0;
    let (mut lower_rank, mut upper_rank) = (None, None);
    let mut lo = if merged[0].0 <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for (k, &(hi, c)) in merged.iter().enumerate() {
        if k > 0 {
            lo = merged[k - 1].0;
        }
        let interp = |v: f64| {
            if lo == f64::NEG_INFINITY {
                c
            } else {
                rank + (c - rank) * (v - lo) / (hi - lo)
            }
        };
        if lower_rank.is_none() && lo >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && lo >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        if lower_rank.is_none() && lo < lower && hi > lower {
            lower_rank = Some(interp(lower));
        }
        if upper_rank.is_none() && lo < upper && hi > upper {
            upper_rank = Some(interp(upper));
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank = c;
    }
    let lr = lower_rank.filter(|r| *r <= count).unwrap_or(count);
    let ur = upper_rank.filter(|r| *r <= count).unwrap_or(count);
    (ur - lr) / count
}

/// A quantile as the label value `histogram_quantiles` gives it: integral
/// values keep a `.0`.
fn quantile_label(q: f64) -> String {
    if q.is_nan() {
        "NaN".into()
    } else if q.is_infinite() {
        if q > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if q.fract() == 0.0 && q.abs() < 1e15 {
        format!("{q:.1}")
    } else {
        format!("{q}")
    }
}

/// Classic bucket series grouped by their labels without `le`.
struct Classic {
    v: Vec<SeriesV>,
    /// Group and upper bound of each series (`None`: bad `le`).
    meta: Vec<Option<(usize, f64)>>,
    glabels: Vec<Labels>,
    gname: Vec<String>,
    vpos: String,
    buckets: Vec<Vec<(f64, f64)>>,
    /// Groups with buckets at the current step, in order of appearance.
    order: Vec<usize>,
}

impl Classic {
    /// Gathers the buckets of step `i`.
    fn load_step(&mut self, i: usize) {
        for b in self.buckets.iter_mut() {
            b.clear();
        }
        self.order.clear();
        for (si, s) in self.v.iter().enumerate() {
            let (Some(x), Some((g, ub))) = (s.vals[i], self.meta[si]) else {
                continue;
            };
            if self.buckets[g].is_empty() {
                self.order.push(g);
            }
            self.buckets[g].push((ub, x));
        }
    }
}

/// What a native histogram function computes at one step.
enum NativeOp<'a> {
    Quantile(f64),
    Quantiles(&'a [Vec<f64>], &'a str),
    Fraction(f64, f64),
}

impl Evaluator<'_> {
    /// Evaluates the native histograms of step `i` (`cl.load_step(i)` done):
    /// a native histogram whose labels equal a classic bucket group's at
    /// the same step conflicts with it, and both are dropped with a warning.
    fn native_step(
        &mut self,
        cl: &mut Classic,
        i: usize,
        op: NativeOp<'_>,
        col: &mut Collector,
    ) -> Result<(), EvalError> {
        for si in 0..cl.v.len() {
            let Some(h) = cl.v[si].h(i) else { continue };
            let labels = &cl.v[si].labels;
            if let Some(g) = cl.glabels.iter().position(|g| g == labels) {
                if !cl.buckets[g].is_empty() {
                    cl.buckets[g].clear();
                    let name = labels.metric_name().unwrap_or("").to_string();
                    self.warn(format!(
                        "PromQL warning: vector contains a mix of classic and native histograms for metric name {:?} {}",
                        name, cl.vpos
                    ));
                    continue;
                }
            }
            let name = labels.metric_name().unwrap_or("").to_string();
            let mut nan_note = None;
            let labels = labels.clone();
            match op {
                NativeOp::Quantile(q) => {
                    let (v, note) = native::histogram_quantile(q, h);
                    nan_note = note;
                    col.add_flag(labels, true, i, v)?;
                }
                NativeOp::Quantiles(qs, label) => {
                    let h = h.clone();
                    for q in qs {
                        let (v, note) = native::histogram_quantile(q[i], &h);
                        nan_note = nan_note.or(note);
                        let mut b = labels.builder();
                        b.set(label, &quantile_label(q[i]));
                        col.add_flag(b.build(), true, i, v)?;
                    }
                }
                NativeOp::Fraction(lo, hi) => {
                    let (v, nan) = native::histogram_fraction(lo, hi, h);
                    col.add_flag(labels, true, i, v)?;
                    if nan {
                        self.info(format!(
                            "PromQL info: input to histogram_fraction has NaN observations, which are excluded from all fractions for metric name {:?} {}",
                            name, cl.vpos
                        ));
                    }
                }
            }
            if let Some(note) = nan_note {
                let what = match note {
                    native::NanObservations::SkewedHigher => "result is skewed higher",
                    native::NanObservations::ResultNaN => "result is NaN",
                };
                self.info(format!(
                    "PromQL info: input to histogram_quantile has NaN observations, {what} for metric name {:?} {}",
                    name, cl.vpos
                ));
            }
        }
        Ok(())
    }

    fn classic_input(&mut self, vexpr: &Expr, r: Range) -> Result<Classic, EvalError> {
        let v = self.eval_vector(vexpr, r)?;
        let vpos = pos_suffix(expr_pos(vexpr));
        let mut gindex: FastMap<Labels, usize> = FastMap::default();
        let mut glabels: Vec<Labels> = Vec::new();
        let mut gname: Vec<String> = Vec::new();
        let mut meta: Vec<Option<(usize, f64)>> = Vec::with_capacity(v.len());
        for s in &v {
            if s.vals.iter().all(Option::is_none) {
                // Only native histograms: not a classic bucket series.
                meta.push(None);
                continue;
            }
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
        let buckets = vec![Vec::new(); glabels.len()];
        Ok(Classic {
            v,
            meta,
            glabels,
            gname,
            vpos,
            buckets,
            order: Vec::new(),
        })
    }

    fn warn_quantile_range(&mut self, q: &[f64], qexpr: &Expr) {
        if let Some(bad) = q.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            self.warn(format!(
                "PromQL warning: quantile value should be between 0 and 1, got {} {}",
                go_g(*bad),
                pos_suffix(expr_pos(qexpr))
            ));
        }
    }

    fn info_forced(&mut self, cl: &Classic, g: usize) {
        self.info(format!(
            "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {:?} {}",
            cl.gname[g], cl.vpos
        ));
    }

    pub(crate) fn histogram_quantile(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        let q = self.eval_scalar(arg(c, 0)?, r)?;
        self.warn_quantile_range(&q, &c.args[0]);
        let mut cl = self.classic_input(arg(c, 1)?, r)?;
        let n = r.len();
        let mut col = Collector::new(n);
        for (i, &qi) in q.iter().enumerate().take(n) {
            self.check_timeout()?;
            cl.load_step(i);
            self.native_step(&mut cl, i, NativeOp::Quantile(qi), &mut col)?;
            for k in 0..cl.order.len() {
                let g = cl.order[k];
                if cl.buckets[g].is_empty() {
                    continue;
                }
                let (res, forced) = bucket_quantile(qi, &mut cl.buckets[g]);
                if forced {
                    self.info_forced(&cl, g);
                }
                col.add_flag(cl.glabels[g].clone(), true, i, res)?;
            }
        }
        Ok(Val::Vector(col.finish()))
    }

    /// `histogram_quantiles(v, "label", q1, q2, ...)` over classic buckets:
    /// one series per quantile, told apart by `label`.
    pub(crate) fn histogram_quantiles(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        let label = self.eval_string(arg(c, 1)?, r)?;
        let mut qs: Vec<Vec<f64>> = Vec::new();
        for a in c.args.iter().skip(2) {
            let q = self.eval_scalar(a, r)?;
            self.warn_quantile_range(&q, a);
            qs.push(q);
        }
        let mut cl = self.classic_input(arg(c, 0)?, r)?;
        let n = r.len();
        let mut col = Collector::new(n);
        let mut scratch: Vec<(f64, f64)> = Vec::new();
        for i in 0..n {
            self.check_timeout()?;
            cl.load_step(i);
            self.native_step(&mut cl, i, NativeOp::Quantiles(&qs, &label), &mut col)?;
            for k in 0..cl.order.len() {
                let g = cl.order[k];
                if cl.buckets[g].is_empty() {
                    continue;
                }
                let mut forced_any = false;
                for q in &qs {
                    scratch.clear();
                    scratch.extend_from_slice(&cl.buckets[g]);
                    let (res, forced) = bucket_quantile(q[i], &mut scratch);
                    forced_any |= forced;
                    let mut b = cl.glabels[g].builder();
                    b.set(&label, &quantile_label(q[i]));
                    col.add_flag(b.build(), true, i, res)?;
                }
                if forced_any {
                    self.info_forced(&cl, g);
                }
            }
        }
        Ok(Val::Vector(col.finish()))
    }

    /// `histogram_fraction(lower, upper, v)` over classic buckets.
    pub(crate) fn histogram_fraction(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        let lower = self.eval_scalar(arg(c, 0)?, r)?;
        let upper = self.eval_scalar(arg(c, 1)?, r)?;
        let mut cl = self.classic_input(arg(c, 2)?, r)?;
        let n = r.len();
        let mut col = Collector::new(n);
        for i in 0..n {
            self.check_timeout()?;
            cl.load_step(i);
            self.native_step(&mut cl, i, NativeOp::Fraction(lower[i], upper[i]), &mut col)?;
            for k in 0..cl.order.len() {
                let g = cl.order[k];
                if cl.buckets[g].is_empty() {
                    continue;
                }
                let res = bucket_fraction(lower[i], upper[i], &mut cl.buckets[g]);
                col.add_flag(cl.glabels[g].clone(), true, i, res)?;
            }
        }
        Ok(Val::Vector(col.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::{bucket_fraction, bucket_quantile, quantile_label};

    #[test]
    fn fractions() {
        let b = || vec![(1.0, 2.0), (2.0, 6.0), (f64::INFINITY, 8.0)];
        assert_eq!(bucket_fraction(0.0, 1.0, &mut b()), 0.25);
        assert_eq!(bucket_fraction(1.0, 1.5, &mut b()), 0.25);
        assert_eq!(
            bucket_fraction(f64::NEG_INFINITY, f64::INFINITY, &mut b()),
            1.0
        );
        assert_eq!(bucket_fraction(3.0, 2.0, &mut b()), 0.0);
        assert!(bucket_fraction(f64::NAN, 2.0, &mut b()).is_nan());
        assert!(bucket_fraction(0.0, 1.0, &mut [(1.0, 2.0)]).is_nan());
        // A first bucket with a non-positive bound starts at -Inf.
        let mut neg = vec![(-1.0, 2.0), (f64::INFINITY, 4.0)];
        assert_eq!(bucket_fraction(-3.0, -2.0, &mut neg), 0.0);
    }

    #[test]
    fn quantile_labels() {
        assert_eq!(quantile_label(0.0), "0.0");
        assert_eq!(quantile_label(1.0), "1.0");
        assert_eq!(quantile_label(0.25), "0.25");
        assert_eq!(quantile_label(-0.1), "-0.1");
        assert_eq!(quantile_label(f64::NAN), "NaN");
    }

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
