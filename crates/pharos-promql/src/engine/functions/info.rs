//! `info(v [, data-label-selector])`: adds the data labels of info series
//! (by default `target_info`) to the series of `v` that share their
//! identifying labels (`instance`, `job`).
//!
//! * The selector's `__name__` matchers pick the info metrics (default
//!   `target_info`); its other matchers must hold for an info series to be
//!   used and name the data labels to add (all of them when there are none).
//! * Info series are looked up, with the lookback delta, at the time the
//!   base expression's samples were read (honouring its `@` and `offset`).
//! * Several series of one info metric matching at a step: the one with the
//!   latest sample wins. A label added with different values by different
//!   info metrics is an error. Labels already on a base series are kept.
//! * A base series with no matching info series is kept as is, unless a data
//!   matcher rejects the empty value, in which case its sample is dropped.
//! * Base series that are themselves selected info series pass unchanged.

use std::collections::HashMap;

use pharos_model::{Labels, MatchOp, Matcher};

use super::arg;
use crate::ast::{Call, Expr, PosRange, VectorSelector};
use crate::engine::eval::{stale, unparen, Collector, Evaluator, Range, Val};
use crate::engine::EvalError;

/// Labels joining a series to its info series.
const IDENTIFYING: [&str; 2] = ["instance", "job"];
const NAME: &str = "__name__";

/// One info series: labels and, per step, the timestamp of its sample.
struct InfoSeries {
    labels: Labels,
    name: String,
    at: Vec<Option<i64>>,
}

/// The identifying label values of a series, or `None` if it has none.
fn signature(l: &Labels) -> Option<[String; 2]> {
    let sig = IDENTIFYING.map(|n| l.get(n).unwrap_or("").to_string());
    sig.iter().any(|v| !v.is_empty()).then_some(sig)
}

/// Whether an expression reads storage.
fn has_selector(e: &Expr) -> bool {
    match e {
        Expr::Vector(_) | Expr::Matrix(_) | Expr::Subquery(_) => true,
        Expr::Paren(e, _) | Expr::Unary(_, e, _) => has_selector(e),
        Expr::Call(c) => c.args.iter().any(has_selector),
        Expr::Aggregate(a) => has_selector(&a.expr),
        Expr::Binary(b) => has_selector(&b.lhs) || has_selector(&b.rhs),
        _ => false,
    }
}

impl Evaluator<'_> {
    /// The time at which `e`, evaluated at `ts`, reads its samples.
    fn info_ref_time(&self, e: &Expr, ts: i64) -> Result<i64, EvalError> {
        Ok(match unparen(e) {
            Expr::Vector(vs) => self.at_ms(&vs.at).unwrap_or(ts) - self.dur_ms(&vs.offset)?,
            Expr::Matrix(ms) => {
                let vs = &ms.selector;
                self.at_ms(&vs.at).unwrap_or(ts) - self.dur_ms(&vs.offset)?
            }
            Expr::Subquery(sq) => {
                let t = self.at_ms(&sq.at).unwrap_or(ts) - self.dur_ms(&sq.offset)?;
                self.info_ref_time(&sq.expr, t)?
            }
            Expr::Unary(_, e, _) => self.info_ref_time(e, ts)?,
            Expr::Aggregate(a) => self.info_ref_time(&a.expr, ts)?,
            Expr::Call(c) => match c.args.iter().find(|a| has_selector(a)) {
                Some(a) => self.info_ref_time(a, ts)?,
                None => ts,
            },
            Expr::Binary(b) if has_selector(&b.lhs) => self.info_ref_time(&b.lhs, ts)?,
            Expr::Binary(b) => self.info_ref_time(&b.rhs, ts)?,
            _ => ts,
        })
    }

    /// Evaluates `info(v [, selector])`.
    pub(crate) fn eval_info(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        let base_expr = arg(c, 0)?;
        let base = self.eval_vector(base_expr, r)?;
        let matchers: Vec<Matcher> = match c.args.get(1).map(unparen) {
            None => Vec::new(),
            Some(Expr::Vector(vs)) => vs.matchers.clone(),
            Some(_) => {
                return Err(EvalError::exec(
                    "expected label selectors as the second argument to \"info\" function",
                ))
            }
        };
        let (mut name_m, data_m): (Vec<Matcher>, Vec<Matcher>) =
            matchers.into_iter().partition(|m| m.name == NAME);
        // Without a positive `__name__` matcher, info metrics are those named
        // `*_info` (just `target_info` when there is no `__name__` matcher).
        let positive = name_m
            .iter()
            .any(|m| matches!(m.op, MatchOp::Equal | MatchOp::RegexMatch));
        if !positive {
            let m = if name_m.is_empty() {
                Matcher::new(MatchOp::Equal, NAME, "target_info")
            } else {
                Matcher::new(MatchOp::RegexMatch, NAME, ".+_info")
            };
            name_m.push(m.map_err(|e| EvalError::exec(e.to_string()))?);
        }
        let is_info_name = |n: &str| name_m.iter().all(|m| m.matches(n));
        let n = r.len();
        let refs = (0..n)
            .map(|i| self.info_ref_time(base_expr, r.ts(i)))
            .collect::<Result<Vec<i64>, EvalError>>()?;
        let infos = self.select_info_series(&name_m, &data_m, &refs)?;
        let mut by_sig: HashMap<[String; 2], Vec<usize>> = HashMap::new();
        for (k, s) in infos.iter().enumerate() {
            if let Some(sig) = signature(&s.labels) {
                by_sig.entry(sig).or_default().push(k);
            }
        }
        let keep_unmatched = data_m.iter().all(|m| m.matches_empty());
        let mut col = Collector::new(n);
        for s in base {
            self.check_timeout()?;
            if s.labels.metric_name().is_some_and(&is_info_name) {
                for (i, v) in s.vals.iter().enumerate() {
                    if let Some(v) = v {
                        col.add_flag(s.labels.clone(), s.drop_name, i, *v)?;
                    }
                }
                continue;
            }
            let cands: &[usize] = signature(&s.labels)
                .and_then(|sig| by_sig.get(&sig))
                .map_or(&[], |v| v.as_slice());
            for (i, v) in s.vals.iter().enumerate() {
                let Some(v) = *v else { continue };
                // Per info metric name, the series with the latest sample.
                let mut chosen: Vec<(usize, i64)> = Vec::new();
                for &k in cands {
                    let Some(t) = infos[k].at[i] else { continue };
                    match chosen
                        .iter_mut()
                        .find(|(j, _)| infos[*j].name == infos[k].name)
                    {
                        Some(slot) if slot.1 < t => *slot = (k, t),
                        Some(_) => {}
                        None => chosen.push((k, t)),
                    }
                }
                if chosen.is_empty() {
                    if keep_unmatched {
                        col.add_flag(s.labels.clone(), s.drop_name, i, v)?;
                    }
                    continue;
                }
                let labels = enrich(&s.labels, &data_m, chosen.iter().map(|(k, _)| &infos[*k]))?;
                col.add_flag(labels, s.drop_name, i, v)?;
            }
        }
        Ok(Val::Vector(col.finish()))
    }

    /// The info series matching the name and data matchers, with their
    /// sample times (lookback applied) at each reference time.
    fn select_info_series(
        &mut self,
        name_m: &[Matcher],
        data_m: &[Matcher],
        refs: &[i64],
    ) -> Result<Vec<InfoSeries>, EvalError> {
        let (Some(&lo), Some(&hi)) = (refs.iter().min(), refs.iter().max()) else {
            return Ok(Vec::new());
        };
        let lookback = self.opts.lookback_delta_ms;
        let vs = VectorSelector {
            name: None,
            matchers: name_m.to_vec(),
            offset: None,
            at: None,
            anchored: false,
            smoothed: false,
            pos: PosRange::default(),
        };
        let raw = self.select_raw(&vs, lo.saturating_sub(lookback), hi)?;
        let mut out = Vec::new();
        for s in raw {
            if !data_m
                .iter()
                .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
            {
                continue;
            }
            let at: Vec<Option<i64>> = refs
                .iter()
                .map(|&t| {
                    let j = s.samples.partition_point(|p| p.t <= t);
                    let p = s.samples.get(j.checked_sub(1)?)?;
                    (p.t > t - lookback && !stale(p.v)).then_some(p.t)
                })
                .collect();
            if at.iter().all(Option::is_none) {
                continue;
            }
            let name = s.labels.metric_name().unwrap_or("").to_string();
            out.push(InfoSeries {
                labels: s.labels,
                name,
                at,
            });
        }
        Ok(out)
    }
}

/// `base` with the data labels of the chosen info series added.
fn enrich<'a>(
    base: &Labels,
    data_m: &[Matcher],
    infos: impl Iterator<Item = &'a InfoSeries>,
) -> Result<Labels, EvalError> {
    let mut added: Vec<(String, String)> = Vec::new();
    for info in infos {
        for l in info.labels.iter() {
            if l.name == NAME || base.has(&l.name) {
                continue;
            }
            let wanted = if data_m.is_empty() {
                !IDENTIFYING.contains(&l.name.as_str())
            } else {
                data_m.iter().any(|m| m.name == l.name)
            };
            if !wanted {
                continue;
            }
            match added.iter().find(|(n, _)| *n == l.name) {
                Some((_, v)) if *v != l.value => {
                    return Err(EvalError::exec(format!(
                        "conflicting label: {} has values {:?} and {:?} in info metrics",
                        l.name, v, l.value
                    )))
                }
                Some(_) => {}
                None => added.push((l.name.clone(), l.value.clone())),
            }
        }
    }
    if added.is_empty() {
        return Ok(base.clone());
    }
    let mut b = base.builder();
    for (n, v) in &added {
        b.set(n, v);
    }
    Ok(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pairs: &[(&str, &str)]) -> InfoSeries {
        let labels = Labels::from_pairs(pairs);
        InfoSeries {
            name: labels.metric_name().unwrap_or("").to_string(),
            labels,
            at: vec![Some(0)],
        }
    }

    #[test]
    fn enrich_adds_data_labels_only() {
        let base = Labels::from_pairs(&[("__name__", "m"), ("instance", "a"), ("data", "base")]);
        let i = info(&[
            ("__name__", "target_info"),
            ("instance", "a"),
            ("data", "info"),
            ("x", "y"),
        ]);
        let out = enrich(&base, &[], std::iter::once(&i)).unwrap();
        assert_eq!(out.get("data"), Some("base"));
        assert_eq!(out.get("x"), Some("y"));
    }

    #[test]
    fn enrich_conflict_fails() {
        let base = Labels::from_pairs(&[("instance", "a")]);
        let a = info(&[("__name__", "a_info"), ("instance", "a"), ("x", "1")]);
        let b = info(&[("__name__", "b_info"), ("instance", "a"), ("x", "2")]);
        let err = enrich(&base, &[], [&a, &b].into_iter()).unwrap_err();
        assert!(err.message.contains("conflicting label"));
    }

    #[test]
    fn signature_needs_an_identifying_label() {
        assert!(signature(&Labels::from_pairs(&[("__name__", "m")])).is_none());
        assert!(signature(&Labels::from_pairs(&[("job", "j")])).is_some());
    }
}
