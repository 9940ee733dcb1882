//! Reading storage: instant selectors (lookback, staleness, `offset`, `@`)
//! and range selectors.
//!
//! Windows are left-open, `(t - range, t]` and `(t - lookback, t]`, as in
//! Prometheus 3; with [`Compat::V2_42`](super::Compat) they are closed,
//! `[t - range, t]` and `[t - lookback, t]`, as in Prometheus 2.x. Timestamps
//! are whole milliseconds, so a closed window is the left-open one starting
//! 1 ms earlier: [`window_start_excl`] gives the exclusive start either way.
//!
//! Each selector reads storage once for the whole query range and walks the
//! samples of each series with a cursor as the steps advance.

use pharos_model::histogram::FloatHistogram;
use pharos_model::{Labels, Sample};

use super::eval::{stale, Evaluator, Range};
use super::EvalError;
use crate::ast::{MatrixSelector, VectorSelector};
use crate::value::RangeSeries;

/// Samples of one series as read from storage.
pub(crate) struct RawSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    /// Native histogram samples (stale markers included).
    pub hists: Vec<(i64, FloatHistogram)>,
}

/// Per-step sample `(sample time, value)` of each series of an instant selector.
pub(crate) type SelectedVector = Vec<(Labels, Vec<Option<(i64, f64)>>)>;

/// Per-step histogram `(sample time, histogram)` of a series (empty if it has none).
pub(crate) type SelectedHists = Vec<Option<(i64, Box<FloatHistogram>)>>;

/// One series of an instant selector: labels, per-step floats and histograms.
pub(crate) type SelectedSeries = (Labels, Vec<Option<(i64, f64)>>, SelectedHists);

/// The input of a range function: series of points and how each step's window is found.
pub(crate) struct RangeInput {
    pub series: Vec<(Labels, Vec<(i64, f64)>)>,
    /// Native histogram points of each series (parallel to `series`; empty
    /// vectors for float-only series).
    pub hists: Vec<Vec<(i64, FloatHistogram)>>,
    /// Per series: the metric name is to be removed (from a subquery's inner result).
    pub drops: Vec<bool>,
    pub range_ms: i64,
    pub offset_ms: i64,
    pub at: Option<i64>,
    /// Windows include their left boundary (Prometheus 2.x).
    pub closed: bool,
}

/// The exclusive start of a window of `len_ms` ending (inclusively) at `end`:
/// `end - len_ms`, or one millisecond earlier when windows are `closed`.
pub(crate) fn window_start_excl(end: i64, len_ms: i64, closed: bool) -> i64 {
    let start = end.saturating_sub(len_ms);
    if closed {
        start.saturating_sub(1)
    } else {
        start
    }
}

/// Moves the window `(lo, hi)` over time-ordered `pts` to the points in
/// `(start, end]` and returns it; windows only move forward.
fn slide<T>(pts: &[(i64, T)], w: &mut (usize, usize), start: i64, end: i64) -> (usize, usize) {
    while w.1 < pts.len() && pts[w.1].0 <= end {
        w.1 += 1;
    }
    while w.0 < w.1 && pts[w.0].0 <= start {
        w.0 += 1;
    }
    *w
}

impl RangeInput {
    /// An input with no series yet.
    pub fn new(range_ms: i64, offset_ms: i64, at: Option<i64>, closed: bool) -> RangeInput {
        RangeInput {
            series: Vec::new(),
            hists: Vec::new(),
            drops: Vec::new(),
            range_ms,
            offset_ms,
            at,
            closed,
        }
    }

    /// The exclusive start of the window that ends at `end`.
    pub fn start_excl(&self, end: i64) -> i64 {
        window_start_excl(end, self.range_ms, self.closed)
    }

    /// Where the window of step `i` of `r` sits.
    pub fn win(&self, r: Range, i: usize) -> super::functions::Win {
        let ts = r.ts(i);
        let end = self.window_end(ts);
        super::functions::Win {
            step: i,
            ts,
            start: end - self.range_ms,
            end,
            range_ms: self.range_ms,
        }
    }

    /// The inclusive end of the window of evaluation step `ts`.
    pub fn window_end(&self, ts: i64) -> i64 {
        self.at.unwrap_or(ts) - self.offset_ms
    }

    /// Calls `f(step, window)` for every step whose window `(end - range, end]`
    /// (or `[end - range, end]` if `closed`) is non-empty, for series `idx`.
    pub fn for_each_window(
        &self,
        idx: usize,
        r: Range,
        f: impl FnMut(usize, &[(i64, f64)]) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        self.windows_of(&self.series[idx].1, r, f)
    }

    /// Like [`RangeInput::for_each_window`] over the points `pts` of a
    /// series that is not held in the input (streaming evaluation).
    pub fn windows_of(
        &self,
        pts: &[(i64, f64)],
        r: Range,
        mut f: impl FnMut(usize, &[(i64, f64)]) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let mut w = (0usize, 0usize);
        for i in 0..r.len() {
            let end = self.window_end(r.ts(i));
            let (lo, hi) = slide(pts, &mut w, self.start_excl(end), end);
            if lo < hi {
                f(i, &pts[lo..hi])?;
            }
        }
        Ok(())
    }

    /// The histograms of series `idx` (empty if it has none).
    pub fn hists_of(&self, idx: usize) -> &[(i64, FloatHistogram)] {
        self.hists.get(idx).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Like [`RangeInput::for_each_window`], passing the float and the
    /// histogram points of each window; called when either is non-empty.
    pub fn for_each_window_mixed(
        &self,
        idx: usize,
        r: Range,
        mut f: impl FnMut(usize, &[(i64, f64)], &[(i64, FloatHistogram)]) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let pts = &self.series[idx].1;
        let hs = self.hists_of(idx);
        let (mut fw, mut hw) = ((0usize, 0usize), (0usize, 0usize));
        for i in 0..r.len() {
            let end = self.window_end(r.ts(i));
            let start = self.start_excl(end);
            let (lo, hi) = slide(pts, &mut fw, start, end);
            let (hlo, hhi) = slide(hs, &mut hw, start, end);
            if lo < hi || hlo < hhi {
                f(i, &pts[lo..hi], &hs[hlo..hhi])?;
            }
        }
        Ok(())
    }

    /// The points in the window of `t` for every series (top-level range selector).
    pub fn into_matrix(self, t: i64) -> Vec<RangeSeries> {
        let end = self.window_end(t);
        let start = self.start_excl(end);
        let mut hists = self.hists.into_iter();
        self.series
            .into_iter()
            .filter_map(|(labels, pts)| {
                let hs = hists.next().unwrap_or_default();
                let points: Vec<(i64, f64)> = pts
                    .into_iter()
                    .filter(|(pt, _)| *pt > start && *pt <= end)
                    .collect();
                let histograms: Vec<(i64, FloatHistogram)> = hs
                    .into_iter()
                    .filter(|(pt, _)| *pt > start && *pt <= end)
                    .collect();
                (!points.is_empty() || !histograms.is_empty()).then_some(RangeSeries {
                    labels,
                    points,
                    histograms,
                })
            })
            .collect()
    }

    /// All points (top-level subquery).
    pub fn into_raw_matrix(self) -> Vec<RangeSeries> {
        let drops = self.drops;
        let mut hists = self.hists.into_iter();
        self.series
            .into_iter()
            .enumerate()
            .map(|(i, (labels, points))| (i, labels, points, hists.next().unwrap_or_default()))
            .filter(|(_, _, p, h)| !p.is_empty() || !h.is_empty())
            .map(|(i, labels, points, histograms)| RangeSeries {
                labels: if drops.get(i).copied().unwrap_or(false) {
                    super::binary::drop_reserved(&labels)
                } else {
                    labels
                },
                points,
                histograms,
            })
            .collect()
    }
}

impl Evaluator<'_> {
    /// Reads the series matching `vs` with samples in `(mint_excl, maxt]`.
    pub(crate) fn select_raw(
        &mut self,
        vs: &VectorSelector,
        mint_excl: i64,
        maxt: i64,
    ) -> Result<Vec<RawSeries>, EvalError> {
        let series = self.select_series(vs, mint_excl, maxt)?;
        let reader = self.reader();
        let out = reader.map_series(series, |s, buf| {
            buf.clear();
            s.append_floats(mint_excl.saturating_add(1), maxt, buf);
            let samples: Vec<Sample> = buf.iter().map(|&(t, v)| Sample::new(t, v)).collect();
            let hists: Vec<(i64, FloatHistogram)> = s
                .histograms()
                .filter(|(t, _)| *t > mint_excl && *t <= maxt)
                .collect();
            reader.count_samples(samples.len() + hists.len())?;
            Ok(RawSeries {
                labels: s.labels().clone(),
                samples,
                hists,
            })
        })?;
        Ok(out)
    }

    /// Evaluates an instant vector selector at every step: the latest sample
    /// in `(t - lookback, t]` (`[t - lookback, t]` for Prometheus 2.x) unless
    /// it is a staleness marker. Floats and histograms are both read; at a
    /// step, the later of the latest float and the latest histogram wins.
    pub(crate) fn eval_vector_selector_mixed(
        &mut self,
        vs: &VectorSelector,
        r: Range,
    ) -> Result<Vec<SelectedSeries>, EvalError> {
        if vs.smoothed {
            return Ok(self
                .eval_smoothed_vector(vs, r)?
                .into_iter()
                .map(|(l, v)| (l, v, Vec::new()))
                .collect());
        }
        let off = self.dur_ms(&vs.offset)?;
        let at = self.at_ms(&vs.at);
        let eff = |ts: i64| at.unwrap_or(ts) - off;
        let n = r.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let lookback = self.opts.lookback_delta_ms;
        let closed = self.opts.compat.closed_windows();
        let first = eff(r.start);
        let last = eff(r.ts(n - 1));
        let raw = self.select_raw(vs, window_start_excl(first, lookback, closed), last)?;
        let mut out = Vec::with_capacity(raw.len());
        let mut points = 0usize;
        for s in raw {
            self.check_timeout()?;
            let mut vals = vec![None; n];
            let mut hvals: SelectedHists = Vec::new();
            let mut any = false;
            let (mut j, mut k) = (0usize, 0usize);
            for i in 0..n {
                let t = eff(r.ts(i));
                while j < s.samples.len() && s.samples[j].t <= t {
                    j += 1;
                }
                while k < s.hists.len() && s.hists[k].0 <= t {
                    k += 1;
                }
                let ft = if j > 0 { s.samples[j - 1].t } else { i64::MIN };
                let ht = if k > 0 { s.hists[k - 1].0 } else { i64::MIN };
                if j == 0 && k == 0 {
                    continue;
                }
                let min_t = window_start_excl(t, lookback, closed);
                if k > 0 && ht > ft {
                    let (pt, h) = &s.hists[k - 1];
                    if *pt > min_t && !h.is_stale() {
                        if hvals.is_empty() {
                            hvals = vec![None; n];
                        }
                        hvals[i] = Some((*pt, Box::new(h.clone())));
                        any = true;
                        points += 1;
                    }
                    continue;
                }
                let p = s.samples[j - 1];
                if p.t > min_t && !stale(p.v) {
                    vals[i] = Some((p.t, p.v));
                    any = true;
                    points += 1;
                }
            }
            self.check_samples(points)?;
            if any {
                out.push((s.labels, vals, hvals));
            }
        }
        Ok(out)
    }

    /// Reads a range selector for all steps of `r` into memory.
    pub(crate) fn select_range(
        &mut self,
        ms: &MatrixSelector,
        r: Range,
    ) -> Result<RangeInput, EvalError> {
        let src = self.open_range(ms, r)?;
        self.materialize(src)
    }
}
#[cfg(test)]
mod tests {
    use super::super::testutil::MemStore;
    use super::super::{Compat, Engine, EngineOptions};
    use super::window_start_excl;
    use crate::value::Value;

    fn engine(compat: Compat) -> Engine {
        Engine::new(EngineOptions {
            compat,
            ..EngineOptions::default()
        })
    }

    /// `m` with a sample every 60s from 0 to 600s, valued 1, 2, 3, ...
    fn store() -> MemStore {
        let mut s = MemStore::default();
        let vals: Vec<f64> = (1..=11).map(f64::from).collect();
        s.add_seq("m", &[], 60, &vals);
        s
    }

    /// The values of an instant query at `t_s` (empty vector → empty).
    fn values(compat: Compat, q: &str, t_s: i64) -> Vec<f64> {
        let e = crate::parser::parse(q).unwrap_or_else(|e| panic!("{q}: {e:?}"));
        let r = engine(compat)
            .instant(&store(), &e, t_s * 1000)
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        match r.value {
            Value::Vector(v) => v.into_iter().map(|s| s.v).collect(),
            Value::Scalar { v, .. } => vec![v],
            Value::Matrix(m) => m
                .into_iter()
                .flat_map(|s| s.points.into_iter().map(|p| p.1))
                .collect(),
            other => panic!("{q}: unexpected {other:?}"),
        }
    }

    #[test]
    fn exclusive_start() {
        assert_eq!(window_start_excl(600_000, 60_000, false), 540_000);
        assert_eq!(window_start_excl(600_000, 60_000, true), 539_999);
        assert_eq!(window_start_excl(i64::MIN, 1, true), i64::MIN);
    }

    #[test]
    fn range_selector_left_boundary() {
        // Samples at 240s and 300s: the one at 240s sits on the left boundary.
        let q = "count_over_time(m[1m])";
        assert_eq!(values(Compat::Latest, q, 300), vec![1.0]);
        assert_eq!(values(Compat::V2_42, q, 300), vec![2.0]);
        // A top-level range selector returns the boundary sample too.
        assert_eq!(values(Compat::Latest, "m[1m]", 300), vec![6.0]);
        assert_eq!(values(Compat::V2_42, "m[1m]", 300), vec![5.0, 6.0]);
        // With offset and @ the window moves, its boundary rule does not.
        assert_eq!(
            values(Compat::V2_42, "count_over_time(m[2m] offset 1m)", 300),
            vec![3.0]
        );
        assert_eq!(
            values(Compat::Latest, "count_over_time(m[2m] @ 240)", 0),
            vec![2.0]
        );
        assert_eq!(
            values(Compat::V2_42, "count_over_time(m[2m] @ 240)", 0),
            vec![3.0]
        );
    }

    #[test]
    fn lookback_left_boundary() {
        // The last sample is at 600s; 5m later it is on the lookback boundary.
        assert_eq!(values(Compat::Latest, "m", 900), Vec::<f64>::new());
        assert_eq!(values(Compat::V2_42, "m", 900), vec![11.0]);
        assert_eq!(values(Compat::V2_42, "m", 901), Vec::<f64>::new());
        assert_eq!(values(Compat::Latest, "m", 899), vec![11.0]);
    }

    #[test]
    fn subquery_left_boundary() {
        // Inner steps at 180, 240, 300s: 180s is the left boundary of [2m:1m] at 300s.
        let q = "count_over_time(m[2m:1m])";
        assert_eq!(values(Compat::Latest, q, 300), vec![2.0]);
        assert_eq!(values(Compat::V2_42, q, 300), vec![3.0]);
        assert_eq!(values(Compat::Latest, "m[2m:1m]", 300), vec![5.0, 6.0]);
        assert_eq!(values(Compat::V2_42, "m[2m:1m]", 300), vec![4.0, 5.0, 6.0]);
    }

    #[test]
    fn range_query_matches_instant() {
        let e = crate::parser::parse("sum_over_time(m[1m])").unwrap();
        for compat in [Compat::Latest, Compat::V2_42] {
            let eng = engine(compat);
            let Value::Matrix(m) = eng
                .range(&store(), &e, 120_000, 360_000, 60_000)
                .unwrap()
                .value
            else {
                panic!("not a matrix")
            };
            for (t, v) in &m[0].points {
                let one = values(compat, "sum_over_time(m[1m])", t / 1000);
                assert_eq!(one, vec![*v], "{compat} at {t}");
            }
        }
    }

    #[test]
    fn compat_parses() {
        assert_eq!("2.42".parse::<Compat>(), Ok(Compat::V2_42));
        assert_eq!("latest".parse::<Compat>(), Ok(Compat::Latest));
        assert!("2.0".parse::<Compat>().is_err());
        assert_eq!(Compat::V2_42.to_string(), "2.42");
        assert_eq!(Compat::default(), Compat::Latest);
    }
}
