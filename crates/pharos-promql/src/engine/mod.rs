//! The PromQL evaluator.
//!
//! [`Engine::instant`] and [`Engine::range`] evaluate a parsed [`Expr`]
//! against a [`Queryable`]. Evaluation is step-vectorised: every node is
//! evaluated once for all steps of the query (see [`eval`]), selectors read
//! storage once for the whole range and walk samples with cursors.
//!
//! The semantics follow Prometheus's documented behaviour (lookback delta,
//! staleness markers, `offset`/`@`, subquery step alignment, extrapolated
//! rates, vector matching, aggregation NaN rules, sample limits).

mod aggregate;
mod binary;
mod eval;
mod extended;
mod functions;
mod hash;
mod selectors;
mod stream;
mod subquery;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

use std::fmt;
use std::time::{Duration, Instant};

use pharos_model::Queryable;

use crate::ast::Expr;
use crate::value::{QueryResult, RangeSeries, Value, VecSample};

use eval::{Evaluator, Range, Val};

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for the latest sample (ms).
    pub lookback_delta_ms: i64,
    /// Most samples a query may hold in memory at once.
    pub max_samples: usize,
    /// Step of a subquery written without one (`[5m:]`), ms.
    pub default_subquery_step_ms: i64,
    /// Wall-clock limit of one query.
    pub timeout: Duration,
    /// Which Prometheus version's semantics to follow (see [`Compat`]).
    pub compat: Compat,
    /// Threads one query may use to read and evaluate series (1: only the
    /// calling thread): the calling thread and parked helpers of the
    /// process's [`pharos_model::pool::Pool`], so at most one more than the
    /// pool has. Small selections stay on the calling thread.
    pub threads: usize,
    /// How long a read runs on the calling thread alone before helpers are
    /// asked to join it: waking a parked thread costs more than a small
    /// query takes in all.
    pub parallel_after: Duration,
}

/// The Prometheus version whose PromQL semantics the engine reproduces.
///
/// The HTTP API always uses [`Compat::Latest`]; [`Compat::V2_42`] exists so
/// the conformance suite of Prometheus 2.42 can be checked as well.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Compat {
    /// Prometheus 3.x: left-open windows `(t - range, t]` for range
    /// selectors, subqueries and the lookback of instant selectors.
    #[default]
    Latest,
    /// Prometheus 2.42: closed windows `[t - range, t]` and `[t - lookback, t]`,
    /// plus the other 2.x differences listed in `docs/promql-compat.md`.
    V2_42,
}

impl Compat {
    /// Whether windows include their left boundary (Prometheus 2.x).
    pub fn closed_windows(self) -> bool {
        self == Compat::V2_42
    }
}

impl std::str::FromStr for Compat {
    type Err = String;

    fn from_str(s: &str) -> Result<Compat, String> {
        match s {
            "latest" | "3" | "3.x" => Ok(Compat::Latest),
            "2.42" | "v2.42" => Ok(Compat::V2_42),
            _ => Err(format!(
                "unknown Prometheus compatibility {s:?} (want \"2.42\" or \"latest\")"
            )),
        }
    }
}

impl fmt::Display for Compat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compat::Latest => "latest",
            Compat::V2_42 => "2.42",
        })
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 300_000,
            max_samples: 50_000_000,
            default_subquery_step_ms: 60_000,
            timeout: Duration::from_secs(120),
            compat: Compat::Latest,
            threads: default_threads(),
            parallel_after: DEFAULT_PARALLEL_AFTER,
        }
    }
}

/// Default of [`EngineOptions::parallel_after`].
pub const DEFAULT_PARALLEL_AFTER: Duration = Duration::from_micros(300);

/// The machine's parallelism, at most 4 (a query shares the machine with
/// ingestion and other queries).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// What went wrong while evaluating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalErrorKind {
    Timeout,
    TooManySamples,
    Execution,
    Canceled,
}

/// An evaluation error; its `Display` is Prometheus's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    pub kind: EvalErrorKind,
    pub message: String,
}

impl EvalError {
    /// An execution error with the given message.
    pub fn exec(msg: impl Into<String>) -> EvalError {
        EvalError {
            kind: EvalErrorKind::Execution,
            message: msg.into(),
        }
    }

    pub(crate) fn too_many_samples() -> EvalError {
        EvalError {
            kind: EvalErrorKind::TooManySamples,
            message: "query processing would load too many samples into memory in query execution"
                .into(),
        }
    }

    pub(crate) fn timeout() -> EvalError {
        EvalError {
            kind: EvalErrorKind::Timeout,
            message: "query timed out in expression evaluation".into(),
        }
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EvalError {}

/// The PromQL engine.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Engine {
        Engine { opts }
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `expr` at one instant.
    pub fn instant(
        &self,
        q: &dyn Queryable,
        expr: &Expr,
        t_ms: i64,
    ) -> Result<QueryResult, EvalError> {
        let mut ev = Evaluator::new(q, &self.opts, Instant::now(), t_ms, t_ms, 0);
        let r = Range {
            start: t_ms,
            end: t_ms,
            step: 1,
        };
        let v = finalize(ev.eval_top(expr, r)?)?;
        let value = match v {
            Val::Scalar(vs) => Value::Scalar {
                t: t_ms,
                v: vs.first().copied().unwrap_or(f64::NAN),
            },
            Val::String(s) => Value::String { t: t_ms, s },
            Val::Vector(series) => Value::Vector(
                series
                    .into_iter()
                    .filter_map(|mut s| match s.vals.first().copied().flatten() {
                        Some(v) => Some(VecSample {
                            labels: s.labels,
                            t: t_ms,
                            v,
                            h: None,
                        }),
                        None => s
                            .hvals
                            .get_mut(0)
                            .and_then(Option::take)
                            .map(|h| VecSample {
                                labels: s.labels,
                                t: t_ms,
                                v: 0.0,
                                h: Some(h),
                            }),
                    })
                    .collect(),
            ),
            Val::Matrix(m) => Value::Matrix(m),
        };
        Ok(ev.finish(value))
    }

    /// Evaluates `expr` at every step from `start_ms` to `end_ms`.
    pub fn range(
        &self,
        q: &dyn Queryable,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, EvalError> {
        if step_ms <= 0 {
            return Err(EvalError::exec(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if end_ms < start_ms {
            return Err(EvalError::exec(
                "end timestamp must not be before start time",
            ));
        }
        let mut ev = Evaluator::new(q, &self.opts, Instant::now(), start_ms, end_ms, step_ms);
        let r = Range {
            start: start_ms,
            end: end_ms,
            step: step_ms,
        };
        let v = finalize(ev.eval_top(expr, r)?)?;
        let mut out: Vec<RangeSeries> = match v {
            Val::Scalar(vs) => vec![RangeSeries {
                labels: pharos_model::Labels::empty(),
                points: vs
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (r.ts(i), *v))
                    .collect(),
                histograms: Vec::new(),
            }],
            Val::Vector(series) => series
                .into_iter()
                .map(|s| RangeSeries {
                    points: s
                        .vals
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.map(|v| (r.ts(i), v)))
                        .collect(),
                    histograms: s
                        .hvals
                        .into_iter()
                        .enumerate()
                        .filter_map(|(i, h)| h.map(|h| (r.ts(i), *h)))
                        .collect(),
                    labels: s.labels,
                })
                .filter(|s| !s.points.is_empty() || !s.histograms.is_empty())
                .collect(),
            Val::String(_) => {
                return Err(EvalError::exec(
                    "invalid expression type \"string\" for range query, must be Scalar or instant Vector",
                ))
            }
            Val::Matrix(_) => {
                return Err(EvalError::exec(
                    "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector",
                ))
            }
        };
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(ev.finish(Value::Matrix(out)))
    }
}

/// Removes metric names marked for removal and rejects label sets that
/// then collide at the same step.
fn finalize(v: Val) -> Result<Val, EvalError> {
    let Val::Vector(series) = v else { return Ok(v) };
    if !series.iter().any(|s| s.drop_name) {
        return Ok(Val::Vector(series));
    }
    // Distinct label sets that all lose the same name stay distinct (the
    // usual `rate(x[5m])` answer): no collision to look for. Callers hand
    // over distinct label sets (the Collector merges equal ones).
    fn dropped(l: &pharos_model::Labels) -> [Option<&str>; 3] {
        [l.metric_name(), l.get("__type__"), l.get("__unit__")]
    }
    let first = series.first().map(|s| dropped(&s.labels));
    if series
        .iter()
        .all(|s| s.drop_name && Some(dropped(&s.labels)) == first)
    {
        let mut out = series;
        for s in &mut out {
            s.labels = binary::drop_reserved(&s.labels);
            s.drop_name = false;
        }
        return Ok(Val::Vector(out));
    }
    let mut index: hash::FastMap<pharos_model::Labels, usize> =
        hash::FastMap::with_capacity_and_hasher(series.len(), Default::default());
    let mut out: Vec<eval::SeriesV> = Vec::with_capacity(series.len());
    for mut s in series {
        if s.drop_name {
            s.labels = binary::drop_reserved(&s.labels);
            s.drop_name = false;
        }
        match index.get(&s.labels) {
            Some(&i) => {
                let dst = &mut out[i];
                let mut hvals = s.hvals.into_iter();
                for (k, b) in s.vals.into_iter().enumerate() {
                    let p = match (b, hvals.next().flatten()) {
                        (Some(v), _) => eval::Po::F(v),
                        (None, Some(h)) => eval::Po::H(h),
                        (None, None) => continue,
                    };
                    if dst.present(k) {
                        return Err(EvalError::exec(eval::DUP_LABELSET));
                    }
                    dst.set(k, p);
                }
            }
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    Ok(Val::Vector(out))
}
