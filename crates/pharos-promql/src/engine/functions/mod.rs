//! Function calls: dispatch by name to element-wise functions, range
//! functions (a window of samples per step), and the special ones.

pub(crate) mod hist_range;
pub(crate) mod histogram;
pub(crate) mod info;
pub(crate) mod labels;
pub(crate) mod math;
pub(crate) mod misc;
pub(crate) mod native;
pub(crate) mod over_time;
pub(crate) mod rate;
pub(crate) mod time;

use pharos_model::histogram::FloatHistogram;
use pharos_model::Labels;

use super::aggregate::{expr_pos, go_g, pos_suffix};
use super::eval::{unparen, Collector, Evaluator, Po, Range, SeriesV, Val};
use super::selectors::RangeInput;
use super::EvalError;
use crate::ast::{Call, Expr};

/// Where a range function's window sits at one step.
pub(crate) struct Win {
    pub step: usize,
    /// Evaluation timestamp of the step.
    pub ts: i64,
    /// Exclusive start of the window.
    pub start: i64,
    /// Inclusive end of the window.
    pub end: i64,
    pub range_ms: i64,
}

/// The position of the range argument of a range function.
fn range_arg_of(name: &str) -> Option<usize> {
    Some(match name {
        "quantile_over_time" => 1,
        "rate"
        | "increase"
        | "delta"
        | "irate"
        | "idelta"
        | "deriv"
        | "resets"
        | "changes"
        | "predict_linear"
        | "sum_over_time"
        | "avg_over_time"
        | "min_over_time"
        | "max_over_time"
        | "count_over_time"
        | "present_over_time"
        | "last_over_time"
        | "first_over_time"
        | "ts_of_last_over_time"
        | "ts_of_first_over_time"
        | "ts_of_max_over_time"
        | "ts_of_min_over_time"
        | "stdvar_over_time"
        | "stddev_over_time"
        | "mad_over_time"
        | "holt_winters"
        | "double_exponential_smoothing"
        | "absent_over_time" => 0,
        _ => return None,
    })
}

impl Evaluator<'_> {
    /// Evaluates the range functions that take native histograms into
    /// account; `None` for the float-only ones.
    fn hist_range_call(
        &mut self,
        c: &Call,
        r: Range,
        marg: usize,
        input: &RangeInput,
    ) -> Result<Option<Val>, EvalError> {
        let name = c.name.as_str();
        let v = match name {
            "rate" | "increase" | "delta" => {
                let (counter, is_rate) = (name != "delta", name == "rate");
                self.range_call_mixed(c, input, r, marg, false, |w, m, fl, hs, notes| {
                    hist_range::rate(w, m, fl, hs, counter, is_rate, notes)
                })?
            }
            "irate" | "idelta" => {
                let is_rate = name == "irate";
                self.range_call_mixed(c, input, r, marg, false, |_, m, fl, hs, notes| {
                    hist_range::instant(m, fl, hs, is_rate, notes)
                })?
            }
            "sum_over_time" | "avg_over_time" => {
                let avg = name == "avg_over_time";
                self.range_call_mixed(c, input, r, marg, false, |_, m, fl, hs, notes| {
                    hist_range::sum_avg(m, fl, hs, avg, notes)
                })?
            }
            "count_over_time" => {
                self.range_call_mixed(c, input, r, marg, false, |_, _, fl, hs, _| {
                    Some(Po::F((fl.len() + hs.len()) as f64))
                })?
            }
            "present_over_time" => {
                self.range_call_mixed(c, input, r, marg, false, |_, _, _, _, _| Some(Po::F(1.0)))?
            }
            "last_over_time" | "first_over_time" => {
                let first = name == "first_over_time";
                self.range_call_mixed(c, input, r, marg, true, |_, _, fl, hs, _| {
                    hist_range::select(fl, hs, first).map(|p| p.1)
                })?
            }
            "ts_of_last_over_time" | "ts_of_first_over_time" => {
                let first = name == "ts_of_first_over_time";
                self.range_call_mixed(c, input, r, marg, false, |_, _, fl, hs, _| {
                    hist_range::select(fl, hs, first).map(|p| Po::F(p.0 as f64 / 1000.0))
                })?
            }
            "resets" => self.range_call_mixed(c, input, r, marg, false, |_, _, fl, hs, _| {
                Some(Po::F(hist_range::resets(fl, hs)))
            })?,
            "changes" => self.range_call_mixed(c, input, r, marg, false, |_, _, fl, hs, _| {
                Some(Po::F(hist_range::changes(fl, hs)))
            })?,
            _ => return Ok(None),
        };
        Ok(Some(v))
    }

    /// Drops the histograms of a float-only function's input, with
    /// Prometheus's info for windows that held both kinds.
    fn ignore_histograms(&mut self, c: &Call, marg: usize, input: &mut RangeInput, r: Range) {
        let mut mixed: Vec<String> = Vec::new();
        for idx in 0..input.series.len() {
            if input.hists_of(idx).is_empty() || input.series[idx].1.is_empty() {
                continue;
            }
            let name = input.series[idx].0.metric_name().unwrap_or("").to_string();
            let _ = input.for_each_window_mixed(idx, r, |_, fl, hs| {
                if !fl.is_empty() && !hs.is_empty() && !mixed.contains(&name) {
                    mixed.push(name.clone());
                }
                Ok(())
            });
        }
        if let Some(a) = c.args.get(marg) {
            let pos = pos_suffix(expr_pos(a));
            for name in mixed {
                self.info(format!(
                    "PromQL info: ignored histograms in a range containing both floats and histograms for metric name {name:?} {pos}"
                ));
            }
        }
        input.hists.clear();
    }
}

/// Annotations gathered while evaluating windows: `(is_warning, text)`.
#[derive(Default)]
pub(crate) struct Notes(pub Vec<(bool, String)>);

impl Notes {
    pub fn warn(&mut self, msg: String) {
        if !self.0.iter().any(|(_, m)| *m == msg) {
            self.0.push((true, msg));
        }
    }
    pub fn info(&mut self, msg: String) {
        if !self.0.iter().any(|(_, m)| *m == msg) {
            self.0.push((false, msg));
        }
    }
}

/// Argument `i` of a call, or an error naming the function.
pub(crate) fn arg(c: &Call, i: usize) -> Result<&Expr, EvalError> {
    c.args.get(i).ok_or_else(|| {
        EvalError::exec(format!(
            "expected at least {} argument(s) in call to {:?}, got {}",
            i + 1,
            c.name,
            c.args.len()
        ))
    })
}

impl Evaluator<'_> {
    /// The series of a range argument (range selector or subquery).
    pub(crate) fn range_input(&mut self, e: &Expr, r: Range) -> Result<RangeInput, EvalError> {
        let key = e as *const Expr as usize;
        if let Some((k, input)) = self.pending_range.take() {
            if k == key {
                return Ok(input);
            }
        }
        if let Some((k, src)) = self.pending_source.take() {
            if k == key {
                return self.materialize(src);
            }
        }
        match unparen(e) {
            Expr::Matrix(ms) => self.select_range(ms, r),
            Expr::Subquery(sq) => self.eval_subquery(sq, r),
            _ => Err(EvalError::exec(
                "expected type range vector in call to function",
            )),
        }
    }

    /// Applies `f` to every window of the range argument `marg`.
    pub(crate) fn range_call(
        &mut self,
        c: &Call,
        r: Range,
        marg: usize,
        keep_name: bool,
        f: impl Fn(&Win, &[(i64, f64)]) -> Result<Option<f64>, EvalError> + Sync,
    ) -> Result<Val, EvalError> {
        let e = arg(c, marg)?;
        if let Some((k, src)) = self.pending_source.take() {
            if k == e as *const Expr as usize {
                return self.stream_range_call(src, r, keep_name, &f);
            }
        }
        let input = self.range_input(e, r)?;
        let n = r.len();
        let mut col = Collector::new(n);
        for idx in 0..input.series.len() {
            self.check_timeout()?;
            let drop = !keep_name || input.drops.get(idx).copied().unwrap_or(false);
            let mut out: Vec<(usize, f64)> = Vec::new();
            let base = col.points();
            let max = self.opts.max_samples;
            input.for_each_window(idx, r, |i, w| {
                if base + out.len() + w.len() > max {
                    return Err(EvalError::too_many_samples());
                }
                let win = input.win(r, i);
                if let Some(v) = f(&win, w)? {
                    out.push((i, v));
                }
                Ok(())
            })?;
            let labels = input.series[idx].0.clone();
            col.add_points(labels, drop, out)?;
        }
        Ok(Val::Vector(col.finish()))
    }

    /// Like [`Evaluator::range_call`] for an input that holds native
    /// histograms: `f` sees the float and the histogram points of each
    /// window and may answer with either; annotations it pushes to `notes`
    /// as `(is_warning, text)` get the range argument's position.
    pub(crate) fn range_call_mixed(
        &mut self,
        c: &Call,
        input: &RangeInput,
        r: Range,
        marg: usize,
        keep_name: bool,
        mut f: impl FnMut(&Win, &str, &[(i64, f64)], &[(i64, FloatHistogram)], &mut Notes) -> Option<Po>,
    ) -> Result<Val, EvalError> {
        let n = r.len();
        let mut col = Collector::new(n);
        let mut notes = Notes::default();
        for idx in 0..input.series.len() {
            self.check_timeout()?;
            let drop = !keep_name || input.drops.get(idx).copied().unwrap_or(false);
            let labels = &input.series[idx].0;
            let name = labels.metric_name().unwrap_or("");
            let mut out: Vec<(usize, Po)> = Vec::new();
            input.for_each_window_mixed(idx, r, |i, fl, hs| {
                let win = input.win(r, i);
                if let Some(p) = f(&win, name, fl, hs, &mut notes) {
                    out.push((i, p));
                }
                Ok(())
            })?;
            for (i, p) in out {
                col.add_po(labels, drop, i, p)?;
            }
        }
        let pos = pos_suffix(expr_pos(arg(c, marg)?));
        for (warn, msg) in notes.0 {
            let msg = format!("{msg} {pos}");
            if warn {
                self.warn(msg);
            } else {
                self.info(msg);
            }
        }
        Ok(Val::Vector(col.finish()))
    }

    /// Maps every sample of an instant vector; `f(step, value)`.
    pub(crate) fn map_vector(
        &mut self,
        v: Vec<SeriesV>,
        n: usize,
        drop_name: bool,
        f: impl Fn(usize, f64) -> Option<f64>,
    ) -> Result<Val, EvalError> {
        let _ = n;
        let out = v
            .into_iter()
            .map(|s| SeriesV {
                vals: s
                    .vals
                    .iter()
                    .enumerate()
                    .map(|(i, x)| x.and_then(|x| f(i, x)))
                    .collect(),
                labels: s.labels,
                hvals: Vec::new(),
                drop_name: s.drop_name || drop_name,
            })
            .collect();
        Ok(Val::Vector(out))
    }

    /// Evaluates optional scalar argument `i`, or `default` at every step.
    pub(crate) fn scalar_arg(
        &mut self,
        c: &Call,
        i: usize,
        r: Range,
        default: f64,
    ) -> Result<Vec<f64>, EvalError> {
        match c.args.get(i) {
            Some(e) => self.eval_scalar(e, r),
            None => Ok(vec![default; r.len()]),
        }
    }

    /// Evaluates a function call for all steps.
    pub(crate) fn eval_call(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        if let Some(v) = self.eval_extended_call(c, r)? {
            return Ok(v);
        }
        let n = r.len();
        let name = c.name.as_str();
        if let Some(marg) = range_arg_of(name) {
            let e = arg(c, marg)?;
            let plain = matches!(unparen(e), Expr::Matrix(ms) if !ms.anchored && !ms.smoothed);
            if let (true, Expr::Matrix(ms)) = (plain, unparen(e)) {
                // Selected now, decoded by the function: streamed unless
                // histograms need the whole input first.
                let src = self.open_range(ms, r)?;
                if !src.has_histograms() {
                    self.pending_source = Some((e as *const Expr as usize, src));
                } else {
                    let input = self.materialize(src)?;
                    self.pending_range = Some((e as *const Expr as usize, input));
                }
            }
            if matches!(unparen(e), Expr::Matrix(_) | Expr::Subquery(_))
                && self.pending_source.is_none()
            {
                let mut input = self.range_input(e, r)?;
                if input.hists.iter().any(|h| !h.is_empty()) {
                    if let Some(v) = self.hist_range_call(c, r, marg, &input)? {
                        return Ok(v);
                    }
                    // A float-only function: histograms are ignored.
                    if name != "absent_over_time" {
                        self.ignore_histograms(c, marg, &mut input, r);
                    }
                }
                self.pending_range = Some((e as *const Expr as usize, input));
            }
        }
        if let Some(f) = math::unary_math(name) {
            let v = self.eval_vector(arg(c, 0)?, r)?;
            return self.map_vector(v, n, true, |_, x| Some(f(x)));
        }
        match name {
            "rate" | "increase" | "delta" => {
                let (counter, is_rate) = (name != "delta", name == "rate");
                let v2 = self.opts.compat == super::Compat::V2_42;
                self.range_call(c, r, 0, false, |w, pts| {
                    Ok(rate::extrapolated_rate(
                        pts, w.start, w.end, w.range_ms, counter, is_rate, v2,
                    ))
                })
            }
            "irate" => self.range_call(c, r, 0, false, |_, p| Ok(rate::instant_value(p, true))),
            "idelta" => self.range_call(c, r, 0, false, |_, p| Ok(rate::instant_value(p, false))),
            "deriv" => self.range_call(c, r, 0, false, |_, p| Ok(rate::deriv(p))),
            "resets" => self.range_call(c, r, 0, false, |_, p| Ok(Some(rate::resets(p)))),
            "changes" => self.range_call(c, r, 0, false, |_, p| Ok(Some(rate::changes(p)))),
            "predict_linear" => {
                let d = self.eval_scalar(arg(c, 1)?, r)?;
                self.range_call(c, r, 0, false, |w, p| {
                    Ok(rate::predict_linear(p, w.ts, d[w.step]))
                })
            }
            "sum_over_time" => self.range_call(c, r, 0, false, |_, p| Ok(Some(over_time::sum(p)))),
            "avg_over_time" => self.range_call(c, r, 0, false, |_, p| Ok(Some(over_time::avg(p)))),
            "min_over_time" => self.range_call(c, r, 0, false, |_, p| Ok(Some(over_time::min(p)))),
            "max_over_time" => self.range_call(c, r, 0, false, |_, p| Ok(Some(over_time::max(p)))),
            "count_over_time" => self.range_call(c, r, 0, false, |_, p| Ok(Some(p.len() as f64))),
            "present_over_time" => self.range_call(c, r, 0, false, |_, _| Ok(Some(1.0))),
            "last_over_time" => self.range_call(c, r, 0, true, |_, p| Ok(p.last().map(|x| x.1))),
            "first_over_time" => self.range_call(c, r, 0, true, |_, p| Ok(p.first().map(|x| x.1))),
            "ts_of_last_over_time" => self.range_call(c, r, 0, false, |_, p| {
                Ok(p.last().map(|x| x.0 as f64 / 1000.0))
            }),
            "ts_of_first_over_time" => self.range_call(c, r, 0, false, |_, p| {
                Ok(p.first().map(|x| x.0 as f64 / 1000.0))
            }),
            "ts_of_max_over_time" => self.range_call(c, r, 0, false, |_, p| {
                Ok(Some(over_time::ts_of_extreme(p, true)))
            }),
            "ts_of_min_over_time" => self.range_call(c, r, 0, false, |_, p| {
                Ok(Some(over_time::ts_of_extreme(p, false)))
            }),
            "stdvar_over_time" => {
                self.range_call(c, r, 0, false, |_, p| Ok(Some(over_time::stdvar(p))))
            }
            "stddev_over_time" => {
                self.range_call(c, r, 0, false, |_, p| Ok(Some(over_time::stdvar(p).sqrt())))
            }
            "mad_over_time" => self.range_call(c, r, 0, false, |_, p| Ok(Some(over_time::mad(p)))),
            "quantile_over_time" => {
                let q = self.eval_scalar(arg(c, 0)?, r)?;
                if let Some(bad) = q.iter().find(|q| !(0.0..=1.0).contains(*q)) {
                    self.warn(format!(
                        "PromQL warning: quantile value should be between 0 and 1, got {} {}",
                        go_g(*bad),
                        pos_suffix(expr_pos(&c.args[0]))
                    ));
                }
                self.range_call(c, r, 1, false, |w, p| {
                    Ok(Some(over_time::quantile_of(q[w.step], p)))
                })
            }
            "holt_winters" | "double_exponential_smoothing" => {
                let sf = self.eval_scalar(arg(c, 1)?, r)?;
                let tf = self.eval_scalar(arg(c, 2)?, r)?;
                self.range_call(c, r, 0, false, |w, p| {
                    let (s, t) = (sf[w.step], tf[w.step]);
                    if s <= 0.0 || s >= 1.0 || s.is_nan() {
                        return Err(EvalError::exec(format!(
                            "invalid smoothing factor. Expected: 0 < sf < 1, got: {s:.6}"
                        )));
                    }
                    if t <= 0.0 || t >= 1.0 || t.is_nan() {
                        return Err(EvalError::exec(format!(
                            "invalid trend factor. Expected: 0 < tf < 1, got: {t:.6}"
                        )));
                    }
                    Ok(over_time::double_exp_smoothing(p, s, t))
                })
            }
            "absent_over_time" => self.absent_over_time(c, r),
            "absent" => self.absent(c, r),
            "clamp" => {
                let v = self.eval_vector(arg(c, 0)?, r)?;
                let lo = self.eval_scalar(arg(c, 1)?, r)?;
                let hi = self.eval_scalar(arg(c, 2)?, r)?;
                self.map_vector(v, n, true, |i, x| {
                    (hi[i] >= lo[i] || hi[i].is_nan() || lo[i].is_nan())
                        .then(|| math::go_max(lo[i], math::go_min(hi[i], x)))
                })
            }
            "clamp_min" => {
                let v = self.eval_vector(arg(c, 0)?, r)?;
                let lo = self.eval_scalar(arg(c, 1)?, r)?;
                self.map_vector(v, n, true, |i, x| Some(math::go_max(lo[i], x)))
            }
            "clamp_max" => {
                let v = self.eval_vector(arg(c, 0)?, r)?;
                let hi = self.eval_scalar(arg(c, 1)?, r)?;
                self.map_vector(v, n, true, |i, x| Some(math::go_min(hi[i], x)))
            }
            "round" => {
                let v = self.eval_vector(arg(c, 0)?, r)?;
                let to = self.scalar_arg(c, 1, r, 1.0)?;
                self.map_vector(v, n, true, |i, x| Some(math::round_to(x, to[i])))
            }
            "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; n])),
            "start" => Ok(Val::Scalar(vec![self.query_start as f64 / 1000.0; n])),
            "end" => Ok(Val::Scalar(vec![self.query_end as f64 / 1000.0; n])),
            "step" => Ok(Val::Scalar(vec![self.query_step as f64 / 1000.0; n])),
            "range" => Ok(Val::Scalar(vec![
                (self.query_end - self.query_start) as f64
                    / 1000.0;
                n
            ])),
            "min_of" | "max_of" => {
                let a = self.eval_scalar(arg(c, 0)?, r)?;
                let b = self.eval_scalar(arg(c, 1)?, r)?;
                let f = if name == "min_of" {
                    math::go_min
                } else {
                    math::go_max
                };
                Ok(Val::Scalar(
                    a.iter().zip(&b).map(|(x, y)| f(*x, *y)).collect(),
                ))
            }
            "time" => Ok(Val::Scalar(
                (0..n).map(|i| r.ts(i) as f64 / 1000.0).collect(),
            )),
            "vector" => {
                let s = self.eval_scalar(arg(c, 0)?, r)?;
                Ok(Val::Vector(vec![SeriesV::new(
                    Labels::empty(),
                    s.into_iter().map(Some).collect(),
                )]))
            }
            "scalar" => {
                let v = self.eval_vector(arg(c, 0)?, r)?;
                let mut out = vec![f64::NAN; n];
                for (i, o) in out.iter_mut().enumerate() {
                    let mut it = v.iter().filter_map(|s| s.vals[i]);
                    if let (Some(x), None) = (it.next(), it.next()) {
                        *o = x;
                    }
                }
                Ok(Val::Scalar(out))
            }
            "info" => self.eval_info(c, r),
            "timestamp" => self.timestamp(c, r),
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => self.sort_call(c, r),
            "label_replace" => self.label_replace(c, r),
            "label_join" => self.label_join(c, r),
            "histogram_quantile" => self.histogram_quantile(c, r),
            "histogram_quantiles" => self.histogram_quantiles(c, r),
            "histogram_fraction" => self.histogram_fraction(c, r),
            "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour"
            | "minute" | "month" | "year" => self.date_call(c, r),
            "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
            | "histogram_stdvar" => self.native_histogram_call(c, r),
            _ => Err(EvalError::exec(format!(
                "function {name:?} is not supported"
            ))),
        }
    }
}
