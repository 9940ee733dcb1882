//! Subqueries: `expr[range:step] offset d @ t`.
//!
//! The inner expression is evaluated once as a range evaluation whose steps
//! are aligned to absolute multiples of the subquery step (as Prometheus
//! does), covering the windows of all outer steps; the resulting points
//! feed range functions exactly like samples from a range selector.

use pharos_model::histogram::{CounterResetHint, FloatHistogram};
use pharos_model::Labels;

use super::eval::{Evaluator, Range, Val};
use super::selectors::RangeInput;
use super::EvalError;
use crate::ast::Subquery;

/// A series of points and histogram points, and whether its name is to be removed.
type Flagged = (Labels, Vec<(i64, f64)>, bool, Vec<(i64, FloatHistogram)>);

impl Evaluator<'_> {
    /// Evaluates a subquery for all steps of `r`.
    pub(crate) fn eval_subquery(
        &mut self,
        sq: &Subquery,
        r: Range,
    ) -> Result<RangeInput, EvalError> {
        let off = self.dur_ms(&sq.offset)?;
        let at = self.at_ms(&sq.at);
        let range_ms = self.duration_ms(&sq.range)?;
        let step = match &sq.step {
            Some(d) => self.duration_ms(d)?,
            None => self.opts.default_subquery_step_ms,
        };
        if step <= 0 {
            return Err(EvalError::exec(
                "zero or negative subquery step widths are not accepted",
            ));
        }
        let closed = self.opts.compat.closed_windows();
        let mut input = RangeInput::new(range_ms, off, at, closed);
        let n = r.len();
        if n == 0 {
            return Ok(input);
        }
        let first_end = input.window_end(r.start);
        let last_end = input.window_end(r.ts(n - 1));
        // First multiple of the step inside the first window (Go's
        // truncating division): at or after its start when the window is
        // closed (Prometheus 2.x), strictly after it when left-open.
        let lo = input.start_excl(first_end) + 1;
        let mut start = step * (lo / step);
        if start < lo {
            start += step;
        }
        let inner = Range {
            start,
            end: last_end,
            step,
        };
        if inner.len() == 0 {
            return Ok(input);
        }
        let v = self.eval(&sq.expr, inner)?;
        let mut all: Vec<Flagged> = match v {
            Val::Scalar(vs) => vec![(
                Labels::empty(),
                vs.iter()
                    .enumerate()
                    .map(|(i, v)| (inner.ts(i), *v))
                    .collect(),
                false,
                Vec::new(),
            )],
            Val::Vector(series) => series
                .into_iter()
                .map(|s| {
                    let pts = s
                        .vals
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.map(|v| (inner.ts(i), v)))
                        .collect::<Vec<_>>();
                    let hs = s
                        .hvals
                        .into_iter()
                        .enumerate()
                        .filter_map(|(i, h)| {
                            h.map(|mut h| {
                                // Points of a subquery carry no reliable
                                // counter-reset information: let consumers
                                // detect resets themselves.
                                if h.counter_reset_hint != CounterResetHint::Gauge {
                                    h.counter_reset_hint = CounterResetHint::Unknown;
                                }
                                (inner.ts(i), *h)
                            })
                        })
                        .collect::<Vec<_>>();
                    (s.labels, pts, s.drop_name, hs)
                })
                .filter(|(_, p, _, h)| !p.is_empty() || !h.is_empty())
                .collect(),
            v => {
                return Err(EvalError::exec(format!(
                    "subquery is only allowed on instant vector, got {} instead",
                    v.type_name()
                )))
            }
        };
        all.sort_by(|a, b| a.0.cmp(&b.0));
        input.drops = all.iter().map(|x| x.2).collect();
        let mut hists = Vec::with_capacity(all.len());
        input.series = all
            .into_iter()
            .map(|(l, p, _, h)| {
                hists.push(h);
                (l, p)
            })
            .collect();
        input.hists = hists;
        Ok(input)
    }
}
