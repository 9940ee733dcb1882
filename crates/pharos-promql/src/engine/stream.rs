//! Reading series from storage without holding them all: a [`Reader`] walks
//! the series a selector matched on up to [`EngineOptions::threads`] threads
//! (the calling one and parked helpers of the process's [`Pool`]), each with
//! its own decode buffer, and a [`RangeSource`] is a range
//! selector whose series are selected but not yet decoded.
//!
//! A range function over a plain range selector (`rate(x[5m])`, the common
//! case) is evaluated by [`Evaluator::stream_range_call`]: each series is
//! decoded into the worker's buffer, its windows are evaluated, and only the
//! per-step results are kept, so a query over many series never holds more
//! than one series' samples per worker. Everything else materialises the
//! input with [`Evaluator::materialize`], also on the workers.
//!
//! Limits hold across workers: the samples read count against
//! `max_samples` in one shared counter, every worker checks the deadline
//! before each series, and the first error stops the others. Results come
//! back in the order of the series, so the output does not depend on the
//! number of threads.
//!
//! [`EngineOptions::threads`]: super::EngineOptions::threads

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use pharos_model::histogram::FloatHistogram;
use pharos_model::pool::Pool;
use pharos_model::{Labels, Series};

use super::eval::{stale, Evaluator, Range, SeriesV, Val};
use super::functions::Win;
use super::selectors::RangeInput;
use super::EvalError;
use crate::ast::{MatrixSelector, VectorSelector};

/// Most series per batch handed to a worker; a read is cut into about
/// eight batches per thread so that the threads finish close together.
const MAX_BATCH: usize = 64;

/// Shared limits and parallelism of one read.
pub(crate) struct Reader {
    threads: usize,
    parallel_after: std::time::Duration,
    deadline: Option<Instant>,
    max_samples: usize,
    read: AtomicUsize,
    failed: AtomicBool,
}

impl Reader {
    /// Counts `n` more samples read; fails past the sample limit.
    pub fn count_samples(&self, n: usize) -> Result<(), EvalError> {
        let total = self.read.fetch_add(n, Ordering::Relaxed) + n;
        if total > self.max_samples {
            return Err(EvalError::too_many_samples());
        }
        Ok(())
    }

    /// Applies `f` to every series, on up to `threads` threads, each with its
    /// own reusable buffer; results are in series order. The first error
    /// (in series order among those that ran) is returned.
    ///
    /// Work starts on the calling thread in batches (about eight per thread, at most [`MAX_BATCH`] series);
    /// parked threads of the process's [`Pool`] are asked to help only once
    /// the work has taken [`EngineOptions::parallel_after`] and at least two
    /// batches remain, so a small query never pays for waking threads, and a
    /// large one is split dynamically: every thread claims the next batch
    /// from a shared cursor. Helpers busy with another query are not waited
    /// for; the calling thread does their share.
    pub fn map_series<T: Send>(
        &self,
        series: Vec<Box<dyn Series>>,
        f: impl Fn(&dyn Series, &mut Vec<(i64, f64)>) -> Result<T, EvalError> + Sync,
    ) -> Result<Vec<T>, EvalError> {
        let started = Instant::now();
        let mut batches: Vec<Slot> = Vec::new();
        let batch = (series.len() / (self.threads * 8)).clamp(1, MAX_BATCH);
        let mut it = series.into_iter().peekable();
        while it.peek().is_some() {
            batches.push(Mutex::new(Some(it.by_ref().take(batch).collect())));
        }
        let cursor = AtomicUsize::new(0);
        let work = Work {
            batches: &batches,
            cursor: &cursor,
        };
        let f = &f;
        let helped: Mutex<Vec<Done<T>>> = Mutex::new(Vec::new());
        let helper = || {
            let done = self.drain(work, f, || {});
            helped
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(done);
        };
        let mine = Pool::global().scope(|scope| {
            let mut asked = false;
            self.drain(work, f, || {
                let left = batches.len().saturating_sub(cursor.load(Ordering::Relaxed));
                if !asked
                    && self.threads > 1
                    && left >= 2
                    && started.elapsed() >= self.parallel_after
                {
                    scope.help((self.threads - 1).min(left - 1), &helper);
                    asked = true;
                }
            })
        });
        let mut done = match mine {
            Ok(mine) => mine,
            Err(_) => {
                self.failed.store(true, Ordering::Relaxed);
                return Err(EvalError::exec("query worker thread panicked"));
            }
        };
        done.extend(helped.into_inner().unwrap_or_else(|e| e.into_inner()));
        done.sort_by_key(|(i, _)| *i);
        let mut out = Vec::new();
        for (_, r) in done {
            out.extend(r?);
        }
        Ok(out)
    }

    /// Claims batches of `work` until none is left, with one buffer, calling
    /// `after_batch` after each; the results of the batches it ran.
    fn drain<T>(
        &self,
        work: Work<'_>,
        f: &(impl Fn(&dyn Series, &mut Vec<(i64, f64)>) -> Result<T, EvalError> + Sync),
        mut after_batch: impl FnMut(),
    ) -> Vec<Done<T>> {
        let mut buf = Vec::new();
        let mut done = Vec::new();
        while let Some((i, share)) = work.claim() {
            done.push((i, self.run_share(share, &mut buf, f)));
            after_batch();
        }
        done
    }

    fn run_share<T>(
        &self,
        share: Vec<Box<dyn Series>>,
        buf: &mut Vec<(i64, f64)>,
        f: &(impl Fn(&dyn Series, &mut Vec<(i64, f64)>) -> Result<T, EvalError> + Sync),
    ) -> Result<Vec<T>, EvalError> {
        let mut out = Vec::with_capacity(share.len());
        for s in share {
            if self.failed.load(Ordering::Relaxed) {
                // Another worker failed; its error is the one reported.
                return Ok(out);
            }
            if self.deadline.is_some_and(|d| Instant::now() > d) {
                self.failed.store(true, Ordering::Relaxed);
                return Err(EvalError::timeout());
            }
            match f(s.as_ref(), buf) {
                Ok(v) => out.push(v),
                Err(e) => {
                    self.failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(out)
    }
}

/// The results of one batch and its index.
type Done<T> = (usize, Result<Vec<T>, EvalError>);

/// One batch of series, taken by the thread that claims it.
type Slot = Mutex<Option<Vec<Box<dyn Series>>>>;

/// The batches of one [`Reader::map_series`] call and the cursor that hands
/// them out, shared by the threads working on it.
#[derive(Clone, Copy)]
struct Work<'a> {
    batches: &'a [Slot],
    cursor: &'a AtomicUsize,
}

impl Work<'_> {
    /// The next unclaimed batch and its index.
    fn claim(&self) -> Option<(usize, Vec<Box<dyn Series>>)> {
        let i = self.cursor.fetch_add(1, Ordering::Relaxed);
        let slot = self.batches.get(i)?;
        let share = slot.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        Some((i, share))
    }
}

/// A range selector whose series are selected but not decoded.
pub(crate) struct RangeSource {
    /// Window geometry (no series).
    pub frame: RangeInput,
    pub series: Vec<Box<dyn Series>>,
    /// Samples are read in `(mint_excl, maxt]`.
    pub mint_excl: i64,
    pub maxt: i64,
}

impl RangeSource {
    /// Whether any selected series holds native histograms in range.
    pub fn has_histograms(&self) -> bool {
        self.series.iter().any(|s| {
            s.histograms()
                .any(|(t, _)| t > self.mint_excl && t <= self.maxt)
        })
    }
}

impl Evaluator<'_> {
    /// A reader with this query's limits.
    pub(crate) fn reader(&self) -> Reader {
        Reader {
            threads: self.opts.threads.max(1),
            parallel_after: self.opts.parallel_after,
            deadline: self.deadline(),
            max_samples: self.opts.max_samples,
            read: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
        }
    }

    /// The series matching `vs` that have samples in `(mint_excl, maxt]`.
    pub(crate) fn select_series(
        &self,
        vs: &VectorSelector,
        mint_excl: i64,
        maxt: i64,
    ) -> Result<Vec<Box<dyn Series>>, EvalError> {
        let querier = self
            .q
            .querier(mint_excl.saturating_add(1), maxt)
            .map_err(|e| EvalError::exec(e.to_string()))?;
        // Order does not matter here: range answers are sorted at the end,
        // and instant answers keep the store's order, as Prometheus's do.
        querier
            .select_unsorted(&vs.matchers)
            .map_err(|e| EvalError::exec(e.to_string()))
    }

    /// Selects the series of a range selector for all steps of `r`.
    pub(crate) fn open_range(
        &mut self,
        ms: &MatrixSelector,
        r: Range,
    ) -> Result<RangeSource, EvalError> {
        if ms.anchored || ms.smoothed {
            return Err(EvalError::exec(
                "anchored and smoothed range selectors are not supported",
            ));
        }
        let vs = &ms.selector;
        let off = self.dur_ms(&vs.offset)?;
        let at = self.at_ms(&vs.at);
        let range_ms = self.duration_ms(&ms.range)?;
        let frame = RangeInput::new(range_ms, off, at, self.opts.compat.closed_windows());
        let n = r.len();
        if n == 0 {
            return Ok(RangeSource {
                frame,
                series: Vec::new(),
                mint_excl: 0,
                maxt: -1,
            });
        }
        let first = frame.window_end(r.start);
        let last = frame.window_end(r.ts(n - 1));
        let (mint_excl, maxt) = (frame.start_excl(first), last);
        let series = self.select_series(vs, mint_excl, maxt)?;
        Ok(RangeSource {
            frame,
            series,
            mint_excl,
            maxt,
        })
    }

    /// Decodes every series of `src` into a [`RangeInput`] (staleness
    /// markers dropped; series without samples left out).
    pub(crate) fn materialize(&mut self, src: RangeSource) -> Result<RangeInput, EvalError> {
        let RangeSource {
            mut frame,
            series,
            mint_excl,
            maxt,
        } = src;
        type One = Option<(Labels, Vec<(i64, f64)>, Vec<(i64, FloatHistogram)>)>;
        let reader = self.reader();
        let all: Vec<One> = reader.map_series(series, |s, buf| {
            buf.clear();
            s.append_floats(mint_excl.saturating_add(1), maxt, buf);
            let read = buf.len();
            buf.retain(|p| !stale(p.1));
            let hs: Vec<(i64, FloatHistogram)> = s
                .histograms()
                .filter(|(t, h)| *t > mint_excl && *t <= maxt && !h.is_stale())
                .collect();
            // The sample limit counts stale markers too, as reading them does.
            reader.count_samples(read + hs.len())?;
            Ok((!buf.is_empty() || !hs.is_empty())
                .then(|| (s.labels().clone(), buf.as_slice().to_vec(), hs)))
        })?;
        for (labels, pts, hs) in all.into_iter().flatten() {
            frame.series.push((labels, pts));
            frame.hists.push(hs);
        }
        Ok(frame)
    }

    /// Evaluates a float range function over a range selector's series one
    /// at a time: `f` gets each non-empty window and may give the step a
    /// value. Equivalent to [`Evaluator::range_call`] over the materialised
    /// input of `src`, which must hold no native histograms.
    pub(crate) fn stream_range_call(
        &mut self,
        src: RangeSource,
        r: Range,
        keep_name: bool,
        f: &(impl Fn(&Win, &[(i64, f64)]) -> Result<Option<f64>, EvalError> + Sync),
    ) -> Result<Val, EvalError> {
        let RangeSource {
            frame,
            series,
            mint_excl,
            maxt,
        } = src;
        let max = self.opts.max_samples;
        let points = AtomicUsize::new(0);
        let reader = self.reader();
        let frame = &frame;
        let n = r.len();
        // Series from one selection have distinct label sets, so results
        // go straight into the output without a label-set index.
        let outs: Vec<Option<SeriesV>> = reader.map_series(series, |s, buf| {
            buf.clear();
            s.append_floats(mint_excl.saturating_add(1), maxt, buf);
            reader.count_samples(buf.len())?;
            buf.retain(|p| !stale(p.1));
            if buf.is_empty() {
                return Ok(None);
            }
            let base = points.load(Ordering::Relaxed);
            let mut vals: Vec<Option<f64>> = Vec::new();
            let mut got = 0usize;
            frame.windows_of(buf, r, |i, w| {
                if base + got + w.len() > max {
                    return Err(EvalError::too_many_samples());
                }
                let win = frame.win(r, i);
                if let Some(v) = f(&win, w)? {
                    if vals.is_empty() {
                        vals = vec![None; n];
                    }
                    vals[i] = Some(v);
                    got += 1;
                }
                Ok(())
            })?;
            if got == 0 {
                return Ok(None);
            }
            points.fetch_add(got, Ordering::Relaxed);
            let mut sv = SeriesV::new(s.labels().clone(), vals);
            sv.drop_name = !keep_name;
            Ok(Some(sv))
        })?;
        Ok(Val::Vector(outs.into_iter().flatten().collect()))
    }
}
