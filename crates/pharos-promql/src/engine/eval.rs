//! The tree walker: evaluates every node for all steps of a [`Range`] at once.
//!
//! An instant vector over a range is held densely: one `Option<f64>` per
//! step for each series ([`SeriesV`]). A scalar is one value per step.
//! Per-step operators (binary operators, aggregations, most functions) build
//! the vector of one step from their inputs and gather outputs by label set
//! in a [`Collector`], which also rejects duplicate label sets at a step as
//! Prometheus does.

use super::hash::FastMap;
use std::time::Instant;

use pharos_model::histogram::FloatHistogram;
use pharos_model::{is_stale_nan, Labels, Queryable};

use super::{EngineOptions, EvalError};
use crate::ast::{At, BinaryOp, Duration, Expr, UnaryOp};
use crate::value::{QueryResult, RangeSeries, Value};

/// The steps of an evaluation: `start`, `start + step`, ... up to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub start: i64,
    pub end: i64,
    /// Always positive.
    pub step: i64,
}

impl Range {
    /// Number of steps.
    pub fn len(&self) -> usize {
        if self.end < self.start || self.step <= 0 {
            0
        } else {
            ((self.end - self.start) / self.step + 1) as usize
        }
    }

    /// Timestamp of step `i`.
    pub fn ts(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// One series of an instant vector evaluated over a range: a value per step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesV {
    pub labels: Labels,
    pub vals: Vec<Option<f64>>,
    /// Native histogram values per step: empty when the series has none,
    /// otherwise one slot per step. A step holds a float or a histogram,
    /// never both.
    pub hvals: Vec<Option<Box<FloatHistogram>>>,
    /// The metric name is to be removed at the end of evaluation
    /// (Prometheus's delayed name removal).
    pub drop_name: bool,
}

/// A borrowed point of an instant vector: a float or a histogram.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pv<'a> {
    F(f64),
    H(&'a FloatHistogram),
}

/// An owned point of an instant vector.
#[derive(Debug, Clone)]
pub(crate) enum Po {
    F(f64),
    H(Box<FloatHistogram>),
}

impl Pv<'_> {
    pub fn to_owned(self) -> Po {
        match self {
            Pv::F(v) => Po::F(v),
            Pv::H(h) => Po::H(Box::new(h.clone())),
        }
    }
}

impl SeriesV {
    pub fn new(labels: Labels, vals: Vec<Option<f64>>) -> SeriesV {
        SeriesV {
            labels,
            vals,
            hvals: Vec::new(),
            drop_name: false,
        }
    }

    /// The histogram at step `i`, if any.
    pub fn h(&self, i: usize) -> Option<&FloatHistogram> {
        self.hvals.get(i).and_then(|h| h.as_deref())
    }

    /// The point at step `i`, if any.
    pub fn get(&self, i: usize) -> Option<Pv<'_>> {
        match self.vals[i] {
            Some(v) => Some(Pv::F(v)),
            None => self.h(i).map(Pv::H),
        }
    }

    /// Whether step `i` holds a point.
    pub fn present(&self, i: usize) -> bool {
        self.vals[i].is_some() || self.h(i).is_some()
    }

    /// Whether any step holds a histogram.
    pub fn has_histograms(&self) -> bool {
        self.hvals.iter().any(Option::is_some)
    }

    /// Number of steps holding a point.
    pub fn count(&self) -> usize {
        self.vals.iter().filter(|v| v.is_some()).count()
            + self.hvals.iter().filter(|v| v.is_some()).count()
    }

    /// Sets step `i` to an owned point.
    pub fn set(&mut self, i: usize, p: Po) {
        match p {
            Po::F(v) => self.vals[i] = Some(v),
            Po::H(h) => {
                if self.hvals.is_empty() {
                    self.hvals = vec![None; self.vals.len()];
                }
                self.hvals[i] = Some(h);
            }
        }
    }
}

/// A value evaluated over all steps.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Scalar(Vec<f64>),
    Vector(Vec<SeriesV>),
    /// Only for an instant evaluation of a range selector or subquery.
    Matrix(Vec<RangeSeries>),
    String(String),
}

impl Val {
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Vector(_) => "instant vector",
            Val::Matrix(_) => "range vector",
            Val::String(_) => "string",
        }
    }
}

/// Gathers per-step outputs by label set.
pub(crate) struct Collector {
    n: usize,
    index: FastMap<Labels, usize>,
    out: Vec<SeriesV>,
    points: usize,
}

pub(crate) const DUP_LABELSET: &str = "vector cannot contain metrics with the same labelset";

impl Collector {
    pub fn new(n: usize) -> Collector {
        Collector {
            n,
            index: FastMap::default(),
            out: Vec::new(),
            points: 0,
        }
    }

    /// Index of the output series of `labels`, created if new.
    fn series_index(&mut self, labels: &Labels) -> usize {
        match self.index.get(labels) {
            Some(&idx) => idx,
            None => self.insert_series(labels.clone()),
        }
    }

    /// Starts a new output series.
    fn insert_series(&mut self, labels: Labels) -> usize {
        let idx = self.out.len();
        self.index.insert(labels.clone(), idx);
        self.out.push(SeriesV::new(labels, vec![None; self.n]));
        idx
    }

    /// Sets step `i` of output series `idx`; a second value at a step is an error.
    fn put(&mut self, idx: usize, drop: bool, i: usize, p: Po) -> Result<(), EvalError> {
        let s = &mut self.out[idx];
        if drop {
            s.drop_name = true;
        }
        if s.present(i) {
            return Err(EvalError::exec(DUP_LABELSET));
        }
        s.set(i, p);
        self.points += 1;
        Ok(())
    }

    /// Adds an owned point (float or histogram) of `labels` at step `i`.
    pub fn add_po(
        &mut self,
        labels: &Labels,
        drop: bool,
        i: usize,
        p: Po,
    ) -> Result<(), EvalError> {
        let idx = self.series_index(labels);
        self.put(idx, drop, i, p)
    }

    /// Adds the value of `labels` at step `i`; a second value at the same step is an error.
    pub fn add(&mut self, labels: Labels, i: usize, v: f64) -> Result<(), EvalError> {
        self.add_flag(labels, false, i, v)
    }

    /// Like [`Collector::add`], marking the series' name for removal if `drop`.
    pub fn add_flag(
        &mut self,
        labels: Labels,
        drop: bool,
        i: usize,
        v: f64,
    ) -> Result<(), EvalError> {
        let idx = match self.index.get(&labels) {
            Some(&idx) => idx,
            None => self.insert_series(labels),
        };
        self.put(idx, drop, i, Po::F(v))
    }

    /// Like [`Collector::add_flag`], cloning `labels` only for a new series.
    pub fn add_ref(
        &mut self,
        labels: &Labels,
        drop: bool,
        i: usize,
        v: f64,
    ) -> Result<(), EvalError> {
        self.add_po(labels, drop, i, Po::F(v))
    }

    /// Adds the values of `labels` at several steps with one label-set lookup;
    /// like calling [`Collector::add_flag`] for each `(step, value)`.
    pub fn add_points(
        &mut self,
        labels: Labels,
        drop: bool,
        pts: impl IntoIterator<Item = (usize, f64)>,
    ) -> Result<(), EvalError> {
        let mut pts = pts.into_iter().peekable();
        if pts.peek().is_none() {
            return Ok(());
        }
        let idx = match self.index.get(&labels) {
            Some(&idx) => idx,
            None => self.insert_series(labels),
        };
        for (i, v) in pts {
            self.put(idx, drop, i, Po::F(v))?;
        }
        Ok(())
    }

    /// Points added so far.
    pub fn points(&self) -> usize {
        self.points
    }

    pub fn finish(self) -> Vec<SeriesV> {
        self.out
    }
}

/// Evaluation state of one query.
pub(crate) struct Evaluator<'a> {
    pub q: &'a dyn Queryable,
    pub opts: &'a EngineOptions,
    started: Instant,
    /// Start and end of the whole query, for `@ start()` / `@ end()` and `range()`.
    pub query_start: i64,
    pub query_end: i64,
    /// Step of the whole query (0 for an instant query), for `step()`.
    pub query_step: i64,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    /// A range argument evaluated ahead of its function (to look for native
    /// histograms), keyed by the argument's address.
    pub pending_range: Option<(usize, super::selectors::RangeInput)>,
    /// A range selector opened ahead of its function (no histograms in it),
    /// keyed by the argument's address: the function streams through it.
    pub pending_source: Option<(usize, super::stream::RangeSource)>,
}

impl<'a> Evaluator<'a> {
    pub fn new(
        q: &'a dyn Queryable,
        opts: &'a EngineOptions,
        started: Instant,
        query_start: i64,
        query_end: i64,
        query_step: i64,
    ) -> Evaluator<'a> {
        Evaluator {
            q,
            opts,
            started,
            query_start,
            query_end,
            query_step,
            warnings: Vec::new(),
            infos: Vec::new(),
            pending_range: None,
            pending_source: None,
        }
    }

    /// Wraps a value with the collected annotations.
    pub fn finish(self, value: Value) -> QueryResult {
        let mut warnings = self.warnings;
        warnings.dedup();
        let mut infos = self.infos;
        infos.dedup();
        QueryResult {
            value,
            warnings,
            infos,
        }
    }

    /// When the query runs out of time (`None`: too far away to represent).
    pub fn deadline(&self) -> Option<Instant> {
        self.started.checked_add(self.opts.timeout)
    }

    /// Fails if the query ran out of time.
    pub fn check_timeout(&self) -> Result<(), EvalError> {
        if self.started.elapsed() > self.opts.timeout {
            return Err(EvalError::timeout());
        }
        Ok(())
    }

    /// Fails if `n` samples would exceed the limit.
    pub fn check_samples(&self, n: usize) -> Result<(), EvalError> {
        if n > self.opts.max_samples {
            return Err(EvalError::too_many_samples());
        }
        Ok(())
    }

    /// Adds a warning annotation (deduplicated).
    pub fn warn(&mut self, msg: String) {
        if !self.warnings.contains(&msg) {
            self.warnings.push(msg);
        }
    }

    /// Adds an info annotation (deduplicated).
    pub fn info(&mut self, msg: String) {
        if !self.infos.contains(&msg) {
            self.infos.push(msg);
        }
    }

    /// The fixed evaluation time of an `@` modifier.
    pub fn at_ms(&self, at: &Option<At>) -> Option<i64> {
        at.map(|a| match a {
            At::Time(t) => t,
            At::Start => self.query_start,
            At::End => self.query_end,
        })
    }

    /// A duration in milliseconds (0 when absent).
    pub fn dur_ms(&self, d: &Option<Duration>) -> Result<i64, EvalError> {
        match d {
            None => Ok(0),
            Some(d) => self.duration_ms(d),
        }
    }

    /// A duration in milliseconds.
    pub fn duration_ms(&self, d: &Duration) -> Result<i64, EvalError> {
        match d {
            Duration::Millis(ms) => Ok(*ms),
            Duration::Expr(e) => {
                let secs = self.duration_secs(e)?;
                if !secs.is_finite() {
                    return Err(EvalError::exec(format!(
                        "duration expression evaluated to invalid value {secs}"
                    )));
                }
                Ok((secs * 1000.0).round() as i64)
            }
        }
    }

    /// Evaluates a duration expression to seconds.
    fn duration_secs(&self, e: &Expr) -> Result<f64, EvalError> {
        Ok(match e {
            Expr::Number(v, _) => *v,
            Expr::Paren(e, _) => self.duration_secs(e)?,
            Expr::Unary(UnaryOp::Neg, e, _) => -self.duration_secs(e)?,
            Expr::Unary(UnaryOp::Pos, e, _) => self.duration_secs(e)?,
            Expr::Step(_) => self.query_step as f64 / 1000.0,
            Expr::Range(_) => (self.query_end - self.query_start) as f64 / 1000.0,
            Expr::Binary(b) => {
                let l = self.duration_secs(&b.lhs)?;
                let r = self.duration_secs(&b.rhs)?;
                match b.op {
                    BinaryOp::Add => l + r,
                    BinaryOp::Sub => l - r,
                    BinaryOp::Mul => l * r,
                    BinaryOp::Div => l / r,
                    BinaryOp::Mod => l % r,
                    BinaryOp::Pow => l.powf(r),
                    _ => {
                        return Err(EvalError::exec(format!(
                            "unsupported operator {} in duration expression",
                            b.op.as_str()
                        )))
                    }
                }
            }
            Expr::Call(c) if (c.name == "min_of" || c.name == "max_of") && c.args.len() == 2 => {
                let a = self.duration_secs(&c.args[0])?;
                let b = self.duration_secs(&c.args[1])?;
                if c.name == "min_of" {
                    super::functions::math::go_min(a, b)
                } else {
                    super::functions::math::go_max(a, b)
                }
            }
            Expr::Call(c) if c.args.is_empty() && c.name == "step" => {
                self.query_step as f64 / 1000.0
            }
            Expr::Call(c) if c.args.is_empty() && c.name == "range" => {
                (self.query_end - self.query_start) as f64 / 1000.0
            }
            _ => return Err(EvalError::exec("unsupported duration expression")),
        })
    }

    /// Evaluates the root of a query.
    pub fn eval_top(&mut self, e: &Expr, r: Range) -> Result<Val, EvalError> {
        self.eval(e, r)
    }

    /// Evaluates `e` for all steps of `r`.
    pub fn eval(&mut self, e: &Expr, r: Range) -> Result<Val, EvalError> {
        self.check_timeout()?;
        let n = r.len();
        let v = match e {
            Expr::Number(v, _) => Val::Scalar(vec![*v; n]),
            Expr::String(s, _) => Val::String(s.clone()),
            Expr::Paren(inner, _) => self.eval(inner, r)?,
            Expr::Unary(op, inner, _) => {
                let v = self.eval(inner, r)?;
                match (op, v) {
                    (UnaryOp::Pos, v) => v,
                    (UnaryOp::Neg, Val::Scalar(vs)) => Val::Scalar(vs.into_iter().map(|v| -v).collect()),
                    (UnaryOp::Neg, Val::Vector(series)) => {
                        let mut c = Collector::new(n);
                        for s in series {
                            for i in 0..s.vals.len() {
                                match s.get(i) {
                                    Some(Pv::F(v)) => c.add_flag(s.labels.clone(), true, i, -v)?,
                                    Some(Pv::H(h)) => {
                                        let mut h = h.clone();
                                        h.mul(-1.0);
                                        c.add_po(&s.labels, true, i, Po::H(Box::new(h)))?
                                    }
                                    None => {}
                                }
                            }
                        }
                        Val::Vector(c.finish())
                    }
                    (_, v) => {
                        return Err(EvalError::exec(format!(
                            "unary expression only allowed on expressions of type scalar or instant vector, got {:?}",
                            v.type_name()
                        )))
                    }
                }
            }
            Expr::Vector(vs) => {
                let series = self.eval_vector_selector_mixed(vs, r)?;
                Val::Vector(
                    series
                        .into_iter()
                        .map(|(labels, vals, hvals)| {
                            let mut s = SeriesV::new(
                                labels,
                                vals.into_iter().map(|p| p.map(|(_, v)| v)).collect(),
                            );
                            s.hvals = hvals.into_iter().map(|p| p.map(|(_, h)| h)).collect();
                            s
                        })
                        .collect(),
                )
            }
            Expr::Matrix(ms) => {
                if n != 1 {
                    return Err(EvalError::exec(
                        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector",
                    ));
                }
                if ms.anchored || ms.smoothed {
                    Val::Matrix(self.eval_extended_matrix(ms, r.start)?)
                } else {
                    let input = self.select_range(ms, r)?;
                    Val::Matrix(input.into_matrix(r.start))
                }
            }
            Expr::Subquery(sq) => {
                if n != 1 {
                    return Err(EvalError::exec(
                        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector",
                    ));
                }
                let input = self.eval_subquery(sq, r)?;
                Val::Matrix(input.into_raw_matrix())
            }
            Expr::Binary(b) => self.eval_binary(b, r)?,
            Expr::Aggregate(a) => self.eval_aggregate(a, r)?,
            Expr::Call(c) => self.eval_call(c, r)?,
            Expr::Step(_) => Val::Scalar(vec![self.query_step as f64 / 1000.0; n]),
            Expr::Range(_) => {
                Val::Scalar(vec![(self.query_end - self.query_start) as f64 / 1000.0; n])
            }
        };
        if let Val::Vector(series) = &v {
            let pts: usize = series.iter().map(SeriesV::count).sum();
            self.check_samples(pts)?;
        }
        Ok(v)
    }

    /// Evaluates `e` expecting a scalar (one value per step).
    pub fn eval_scalar(&mut self, e: &Expr, r: Range) -> Result<Vec<f64>, EvalError> {
        match self.eval(e, r)? {
            Val::Scalar(v) => Ok(v),
            v => Err(EvalError::exec(format!(
                "expected type scalar, got {}",
                v.type_name()
            ))),
        }
    }

    /// Evaluates `e` expecting an instant vector.
    pub fn eval_vector(&mut self, e: &Expr, r: Range) -> Result<Vec<SeriesV>, EvalError> {
        match self.eval(e, r)? {
            Val::Vector(v) => Ok(v),
            v => Err(EvalError::exec(format!(
                "expected type instant vector, got {}",
                v.type_name()
            ))),
        }
    }

    /// Evaluates `e` expecting a string.
    pub fn eval_string(&mut self, e: &Expr, r: Range) -> Result<String, EvalError> {
        match self.eval(e, r)? {
            Val::String(s) => Ok(s),
            v => Err(EvalError::exec(format!(
                "expected type string, got {}",
                v.type_name()
            ))),
        }
    }
}

/// Strips parentheses.
pub(crate) fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(inner, _) = e {
        e = inner;
    }
    e
}

/// True if a raw sample value is the staleness marker.
pub(crate) fn stale(v: f64) -> bool {
    is_stale_nan(v)
}
