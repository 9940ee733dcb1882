//! The experimental `anchored` and `smoothed` modifiers (extended range
//! selectors).
//!
//! * `f(v[r] anchored)`: the window's boundary values are real samples: the
//!   latest sample at or before the window start (looked back up to the
//!   lookback delta) and the last sample in the window. No extrapolation.
//! * `f(v[r] smoothed)`: the boundary values are linearly interpolated
//!   between the samples around each boundary (looked for up to the lookback
//!   delta before the start and after the end).
//! * `v smoothed`: an instant selector interpolating between the samples
//!   around each step, carrying the last one forward when none follows.
//!
//! Only a few functions accept these modifiers; any other function taking
//! such a range selector fails at evaluation.

use pharos_model::Labels;

use super::eval::{stale, unparen, Collector, Evaluator, Range, Val};
use super::selectors::SelectedVector;
use super::EvalError;
use crate::ast::{Call, Expr, MatrixSelector, VectorSelector};
use crate::value::RangeSeries;

const ANCHORED_FUNCS: &[&str] = &["changes", "delta", "increase", "rate", "resets"];
const SMOOTHED_FUNCS: &[&str] = &["delta", "increase", "rate"];

/// The `anchored` / `smoothed` range selector argument of a call, if any.
fn extended_arg(c: &Call) -> Option<&MatrixSelector> {
    c.args.iter().find_map(|a| match unparen(a) {
        Expr::Matrix(ms) if ms.anchored || ms.smoothed => Some(ms),
        _ => None,
    })
}

/// Fails if `c` passes an `anchored` / `smoothed` range selector to a
/// function that does not accept it.
pub(crate) fn check_call(c: &Call) -> Result<(), EvalError> {
    let Some(ms) = extended_arg(c) else {
        return Ok(());
    };
    let (kind, allowed) = if ms.anchored {
        ("anchored", ANCHORED_FUNCS)
    } else {
        ("smoothed", SMOOTHED_FUNCS)
    };
    if allowed.contains(&c.name.as_str()) {
        return Ok(());
    }
    Err(EvalError::exec(format!(
        "{kind} modifier can only be used with: {} - not with {}",
        allowed.join(", "),
        c.name
    )))
}

/// Go's `sort.Search(n, f)`: the first index in `[0, n)` where `f` holds, or `n`.
fn search(n: usize, f: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let h = (lo + hi) / 2;
        if f(h) {
            hi = h;
        } else {
            lo = h + 1;
        }
    }
    lo
}

/// Linear interpolation at `t` between two points; for a counter whose
/// second value is lower, the first is taken as 0 (a reset).
fn interpolate(p1: (i64, f64), p2: (i64, f64), t: i64, counter: bool) -> f64 {
    let (t1, mut y1) = p1;
    let (t2, y2) = p2;
    if counter && y2 < y1 {
        y1 = 0.0;
    }
    y1 + (y2 - y1) * (t - t1) as f64 / (t2 - t1) as f64
}

/// Index of the latest point at or before `start`, or 0 (searching all but the last point).
fn first_index(f: &[(i64, f64)], start: i64) -> usize {
    search(f.len().saturating_sub(1), |i| f[i].0 > start).saturating_sub(1)
}

/// `rate` / `increase` / `delta` of an anchored or smoothed window
/// `(start, end]`; `f` holds the points fetched around it.
pub(crate) fn extended_rate(
    f: &[(i64, f64)],
    start: i64,
    end: i64,
    smoothed: bool,
    counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if f.is_empty() {
        return None;
    }
    let mut last = f.len() - 1;
    let mut first = first_index(f, start);
    if smoothed {
        last = search(last, |i| f[i].0 >= end);
    }
    if f[last].0 <= start || (smoothed && f[first].0 > end) {
        return None;
    }
    let left = if smoothed && f[first].0 < start {
        interpolate(f[first], f[first + 1], start, counter)
    } else {
        f[first].1
    };
    let right = if smoothed && last > 0 && f[last].0 > end {
        interpolate(f[last - 1], f[last], end, counter)
    } else {
        f[last].1
    };
    let mut result = right - left;
    if counter {
        if f[first].0 <= start {
            first += 1;
        }
        let hi = if f[last].0 >= end { last } else { last + 1 };
        let mut prev = left;
        for &(_, v) in f.get(first..hi).unwrap_or(&[]) {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
        if right < prev {
            result += prev;
        }
    }
    if is_rate {
        result /= (end - start) as f64 / 1000.0;
    }
    Some(result)
}

/// The points `resets` / `changes` see in an anchored window `(start, end]`:
/// from the latest point at or before the start.
pub(crate) fn anchored_points(f: &[(i64, f64)], start: i64) -> Option<&[(i64, f64)]> {
    match f.last() {
        Some(l) if l.0 > start => Some(&f[first_index(f, start)..]),
        _ => None,
    }
}

/// The points of an anchored / smoothed range selector evaluated on its own:
/// synthetic points on both boundaries of `(start, end]` and the real ones between.
fn extend_points(f: &[(i64, f64)], start: i64, end: i64, smoothed: bool) -> Vec<(i64, f64)> {
    if f.is_empty() {
        return Vec::new();
    }
    let mut last = f.len() - 1;
    let mut first = first_index(f, start);
    if smoothed {
        last = search(last, |i| f[i].0 >= end);
    }
    if f[last].0 <= start {
        return Vec::new();
    }
    let left = if smoothed && f[first].0 < start {
        interpolate(f[first], f[first + 1], start, false)
    } else {
        f[first].1
    };
    let right = if smoothed && last > 0 && f[last].0 > end {
        interpolate(f[last - 1], f[last], end, false)
    } else {
        f[last].1
    };
    if f[first].0 <= start {
        first += 1;
    }
    let hi = if f[last].0 >= end { last } else { last + 1 };
    let mut out = vec![(start, left)];
    out.extend_from_slice(f.get(first..hi).unwrap_or(&[]));
    out.push((end, right));
    out
}

/// Points in `(lo, hi]` of a sorted slice.
fn slice_between(f: &[(i64, f64)], lo: i64, hi: i64) -> &[(i64, f64)] {
    let a = f.partition_point(|p| p.0 <= lo);
    let b = f.partition_point(|p| p.0 <= hi);
    &f[a..b.max(a)]
}

/// A range selector's series read for all steps, with the window bounds.
struct Fetched {
    series: Vec<(Labels, Vec<(i64, f64)>)>,
    range_ms: i64,
    offset_ms: i64,
    at: Option<i64>,
}

impl Fetched {
    fn window(&self, ts: i64) -> (i64, i64) {
        let end = self.at.unwrap_or(ts) - self.offset_ms;
        (end - self.range_ms, end)
    }
}

impl Evaluator<'_> {
    /// Reads an extended range selector: samples from a lookback delta before
    /// the first window, to a lookback delta after the last one if smoothed.
    fn fetch_extended(&mut self, ms: &MatrixSelector, r: Range) -> Result<Fetched, EvalError> {
        let vs = &ms.selector;
        let mut out = Fetched {
            series: Vec::new(),
            range_ms: self.duration_ms(&ms.range)?,
            offset_ms: self.dur_ms(&vs.offset)?,
            at: self.at_ms(&vs.at),
        };
        let n = r.len();
        if n == 0 {
            return Ok(out);
        }
        let lookback = self.opts.lookback_delta_ms;
        let (lo, _) = out.window(r.start);
        let (_, mut hi) = out.window(r.ts(n - 1));
        if ms.smoothed {
            hi = hi.saturating_add(lookback);
        }
        let raw = self.select_raw(vs, lo.saturating_sub(lookback), hi)?;
        out.series = raw
            .into_iter()
            .map(|s| {
                let pts: Vec<(i64, f64)> = s
                    .samples
                    .into_iter()
                    .filter(|p| !stale(p.v))
                    .map(|p| (p.t, p.v))
                    .collect();
                (s.labels, pts)
            })
            .filter(|(_, p)| !p.is_empty())
            .collect();
        Ok(out)
    }

    /// Evaluates `rate`, `increase`, `delta`, `resets` or `changes` of an
    /// anchored / smoothed range selector; `None` if `c` is not such a call.
    pub(crate) fn eval_extended_call(
        &mut self,
        c: &Call,
        r: Range,
    ) -> Result<Option<Val>, EvalError> {
        check_call(c)?;
        let Some(ms) = extended_arg(c) else {
            return Ok(None);
        };
        let name = c.name.as_str();
        let input = self.fetch_extended(ms, r)?;
        let lookback = self.opts.lookback_delta_ms;
        let mut col = Collector::new(r.len());
        for (labels, pts) in &input.series {
            self.check_timeout()?;
            for i in 0..r.len() {
                let (start, end) = input.window(r.ts(i));
                let hi = if ms.smoothed { end + lookback } else { end };
                let f = slice_between(pts, start - lookback, hi);
                let v = match name {
                    "rate" | "increase" | "delta" => {
                        extended_rate(f, start, end, ms.smoothed, name != "delta", name == "rate")
                    }
                    "resets" => anchored_points(f, start).map(super::functions::rate::resets),
                    "changes" => anchored_points(f, start).map(super::functions::rate::changes),
                    _ => None,
                };
                if let Some(v) = v {
                    col.add_flag(labels.clone(), true, i, v)?;
                }
            }
        }
        Ok(Some(Val::Vector(col.finish())))
    }

    /// An anchored / smoothed range selector evaluated on its own at `t`.
    pub(crate) fn eval_extended_matrix(
        &mut self,
        ms: &MatrixSelector,
        t: i64,
    ) -> Result<Vec<RangeSeries>, EvalError> {
        let r = Range {
            start: t,
            end: t,
            step: 1,
        };
        let input = self.fetch_extended(ms, r)?;
        let (start, end) = input.window(t);
        Ok(input
            .series
            .iter()
            .filter_map(|(labels, pts)| {
                let points = extend_points(pts, start, end, ms.smoothed);
                (!points.is_empty()).then(|| RangeSeries {
                    labels: labels.clone(),
                    points,
                    histograms: Vec::new(),
                })
            })
            .collect())
    }

    /// A `smoothed` instant selector: at every step, the value interpolated
    /// between the latest sample at or before the step (within the lookback
    /// delta) and the next one after it (within the lookback delta), or the
    /// latest one if none follows.
    pub(crate) fn eval_smoothed_vector(
        &mut self,
        vs: &VectorSelector,
        r: Range,
    ) -> Result<SelectedVector, EvalError> {
        let off = self.dur_ms(&vs.offset)?;
        let at = self.at_ms(&vs.at);
        let eff = |ts: i64| at.unwrap_or(ts) - off;
        let n = r.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let lookback = self.opts.lookback_delta_ms;
        let lo = eff(r.start).min(eff(r.ts(n - 1)));
        let hi = eff(r.start).max(eff(r.ts(n - 1)));
        let raw = self.select_raw(vs, lo.saturating_sub(lookback), hi.saturating_add(lookback))?;
        let mut out = Vec::new();
        for s in raw {
            self.check_timeout()?;
            let mut vals = vec![None; n];
            let mut any = false;
            for (i, slot) in vals.iter_mut().enumerate() {
                let t = eff(r.ts(i));
                let j = s.samples.partition_point(|p| p.t <= t);
                if j == 0 {
                    continue;
                }
                let p = s.samples[j - 1];
                if p.t <= t - lookback || stale(p.v) {
                    continue;
                }
                let v = match s.samples.get(j) {
                    Some(nx) if p.t != t && nx.t <= t + lookback && !stale(nx.v) => {
                        interpolate((p.t, p.v), (nx.t, nx.v), t, false)
                    }
                    _ => p.v,
                };
                *slot = Some((t, v));
                any = true;
            }
            if any {
                out.push((s.labels, vals));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<(i64, f64)> {
        v.to_vec()
    }

    #[test]
    fn anchored_increase_uses_real_samples() {
        // 1+1x4 every 15s; window (−10s, 50s] anchored: 1@0 .. 4@45.
        let f = pts(&[(0, 1.0), (15_000, 2.0), (30_000, 3.0), (45_000, 4.0)]);
        assert_eq!(
            extended_rate(&f, -10_000, 50_000, false, true, false),
            Some(3.0)
        );
    }

    #[test]
    fn smoothed_rate_across_reset() {
        let f = pts(&[(0, 100.0), (15_000, 10.0)]);
        let v = extended_rate(&f, 2_000, 12_000, true, true, true).unwrap();
        assert!((v - 0.666_666_666_666_667).abs() < 1e-9, "{v}");
    }

    #[test]
    fn smoothed_needs_data_inside() {
        let f = pts(&[(10_000, 5.0), (20_000, 6.0)]);
        assert_eq!(extended_rate(&f, 0, 5_000, true, true, false), None);
        assert_eq!(extended_rate(&f, 50_000, 55_000, true, true, false), None);
    }

    #[test]
    fn anchored_changes_start_before_window() {
        let f = pts(&[(0, 1.0), (60_000, 2.0), (120_000, 2.0)]);
        let p = anchored_points(&f, 60_000).unwrap();
        assert_eq!(p.len(), 2);
        assert!(anchored_points(&f, 120_000).is_none());
    }

    #[test]
    fn extend_points_adds_boundaries() {
        let f = pts(&[(0, 0.0), (10_000, 10.0), (20_000, 20.0)]);
        let out = extend_points(&f, 5_000, 15_000, true);
        assert_eq!(out, vec![(5_000, 5.0), (10_000, 10.0), (15_000, 15.0)]);
    }

    #[test]
    fn check_call_message() {
        let e = crate::parser::parse("deriv(foo[3m] smoothed)").unwrap();
        let Expr::Call(c) = e else { panic!() };
        assert_eq!(
            check_call(&c).unwrap_err().message,
            "smoothed modifier can only be used with: delta, increase, rate - not with deriv"
        );
    }
}
