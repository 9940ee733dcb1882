//! Reading storage: instant selectors (lookback, staleness, `offset`, `@`)
//! and range selectors (`(t - range, t]`, left-open).
//!
//! Each selector reads storage once for the whole query range and walks the
//! samples of each series with a cursor as the steps advance.

use pharos_model::{Labels, Sample};

use super::eval::{stale, Evaluator, Range};
use super::EvalError;
use crate::ast::{MatrixSelector, VectorSelector};
use crate::value::RangeSeries;

/// Samples of one series as read from storage.
pub(crate) struct RawSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// Per-step sample `(sample time, value)` of each series of an instant selector.
pub(crate) type SelectedVector = Vec<(Labels, Vec<Option<(i64, f64)>>)>;

/// The input of a range function: series of points and how each step's window is found.
pub(crate) struct RangeInput {
    pub series: Vec<(Labels, Vec<(i64, f64)>)>,
    /// Per series: the metric name is to be removed (from a subquery's inner result).
    pub drops: Vec<bool>,
    pub range_ms: i64,
    pub offset_ms: i64,
    pub at: Option<i64>,
}

impl RangeInput {
    /// The inclusive end of the window of evaluation step `ts`.
    pub fn window_end(&self, ts: i64) -> i64 {
        self.at.unwrap_or(ts) - self.offset_ms
    }

    /// Calls `f(step, window)` for every step whose window `(end - range, end]`
    /// is non-empty, for series `idx`.
    pub fn for_each_window(
        &self,
        idx: usize,
        r: Range,
        mut f: impl FnMut(usize, &[(i64, f64)]) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let pts = &self.series[idx].1;
        let (mut lo, mut hi) = (0usize, 0usize);
        for i in 0..r.len() {
            let end = self.window_end(r.ts(i));
            let start = end - self.range_ms;
            while hi < pts.len() && pts[hi].0 <= end {
                hi += 1;
            }
            while lo < hi && pts[lo].0 <= start {
                lo += 1;
            }
            if lo < hi {
                f(i, &pts[lo..hi])?;
            }
        }
        Ok(())
    }

    /// The points in the window of `t` for every series (top-level range selector).
    pub fn into_matrix(self, t: i64) -> Vec<RangeSeries> {
        let end = self.window_end(t);
        let start = end - self.range_ms;
        self.series
            .into_iter()
            .filter_map(|(labels, pts)| {
                let points: Vec<(i64, f64)> = pts
                    .into_iter()
                    .filter(|(pt, _)| *pt > start && *pt <= end)
                    .collect();
                (!points.is_empty()).then_some(RangeSeries { labels, points })
            })
            .collect()
    }

    /// All points (top-level subquery).
    pub fn into_raw_matrix(self) -> Vec<RangeSeries> {
        let drops = self.drops;
        self.series
            .into_iter()
            .enumerate()
            .filter(|(_, (_, p))| !p.is_empty())
            .map(|(i, (labels, points))| RangeSeries {
                labels: if drops.get(i).copied().unwrap_or(false) {
                    labels.without_name()
                } else {
                    labels
                },
                points,
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
        let querier = self
            .q
            .querier(mint_excl.saturating_add(1), maxt)
            .map_err(|e| EvalError::exec(e.to_string()))?;
        let series = querier
            .select(&vs.matchers)
            .map_err(|e| EvalError::exec(e.to_string()))?;
        let mut out = Vec::with_capacity(series.len());
        let mut total = 0usize;
        for s in series {
            let samples: Vec<Sample> = s
                .samples()
                .filter(|p| p.t > mint_excl && p.t <= maxt)
                .collect();
            total += samples.len();
            self.check_samples(total)?;
            out.push(RawSeries {
                labels: s.labels().clone(),
                samples,
            });
        }
        Ok(out)
    }

    /// Evaluates an instant vector selector at every step: the latest sample
    /// in `(t - lookback, t]` unless it is a staleness marker.
    pub(crate) fn eval_vector_selector(
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
        let first = eff(r.start);
        let last = eff(r.ts(n - 1));
        let raw = self.select_raw(vs, first.saturating_sub(lookback), last)?;
        let mut out = Vec::with_capacity(raw.len());
        let mut points = 0usize;
        for s in raw {
            self.check_timeout()?;
            let mut vals = vec![None; n];
            let mut any = false;
            let mut j = 0usize;
            for (i, slot) in vals.iter_mut().enumerate() {
                let t = eff(r.ts(i));
                while j < s.samples.len() && s.samples[j].t <= t {
                    j += 1;
                }
                if j == 0 {
                    continue;
                }
                let p = s.samples[j - 1];
                if p.t > t - lookback && !stale(p.v) {
                    *slot = Some((p.t, p.v));
                    any = true;
                    points += 1;
                }
            }
            self.check_samples(points)?;
            if any {
                out.push((s.labels, vals));
            }
        }
        Ok(out)
    }

    /// Reads a range selector for all steps of `r`.
    pub(crate) fn select_range(
        &mut self,
        ms: &MatrixSelector,
        r: Range,
    ) -> Result<RangeInput, EvalError> {
        if ms.anchored || ms.smoothed {
            return Err(EvalError::exec(
                "anchored and smoothed range selectors are not supported",
            ));
        }
        let vs = &ms.selector;
        let off = self.dur_ms(&vs.offset)?;
        let at = self.at_ms(&vs.at);
        let range_ms = self.duration_ms(&ms.range)?;
        let mut input = RangeInput {
            series: Vec::new(),
            drops: Vec::new(),
            range_ms,
            offset_ms: off,
            at,
        };
        let n = r.len();
        if n == 0 {
            return Ok(input);
        }
        let first = input.window_end(r.start);
        let last = input.window_end(r.ts(n - 1));
        let raw = self.select_raw(vs, first.saturating_sub(range_ms), last)?;
        input.series = raw
            .into_iter()
            .map(|s| {
                (
                    s.labels,
                    s.samples
                        .into_iter()
                        .filter(|p| !stale(p.v))
                        .map(|p| (p.t, p.v))
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, p)| !p.is_empty())
            .collect();
        Ok(input)
    }
}
