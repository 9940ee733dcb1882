//! `absent`, `absent_over_time`, `timestamp`, the sort functions, and the
//! native-histogram accessors (`histogram_count`, `histogram_sum`, ...).

use std::cmp::Ordering;

use pharos_model::histogram::FloatHistogram;
use pharos_model::{Labels, LabelsBuilder, MatchOp, Matcher, METRIC_NAME};

use super::super::aggregate::pos_suffix;
use super::super::eval::{unparen, Collector, Evaluator, Range, SeriesV, Val};
use super::super::EvalError;
use super::{arg, native};
use crate::ast::{Call, Expr};

/// Labels of `absent`'s output: the equality matchers of the selector.
fn absent_labels(e: &Expr) -> Labels {
    let matchers: &[Matcher] = match unparen(e) {
        Expr::Vector(vs) => &vs.matchers,
        Expr::Matrix(ms) => &ms.selector.matchers,
        _ => return Labels::empty(),
    };
    let mut b = LabelsBuilder::new();
    let mut has: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.op == MatchOp::Equal && !has.contains(&m.name.as_str()) {
            b.set(&m.name, &m.value);
            has.push(&m.name);
        } else {
            b.del(&m.name);
        }
    }
    b.build()
}

/// Natural ("version") ordering of two strings: digit runs compare as numbers.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = std::str::from_utf8(&a[si..i])
                .unwrap_or("")
                .trim_start_matches('0');
            let nb = std::str::from_utf8(&b[sj..j])
                .unwrap_or("")
                .trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

impl Evaluator<'_> {
    pub(crate) fn absent(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        let e = arg(c, 0)?;
        let v = self.eval_vector(e, r)?;
        let n = r.len();
        let vals: Vec<Option<f64>> = (0..n)
            .map(|i| (!v.iter().any(|s| s.present(i))).then_some(1.0))
            .collect();
        Ok(absent_result(absent_labels(e), vals))
    }

    pub(crate) fn absent_over_time(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        let e = arg(c, 0)?;
        let input = self.range_input(e, r)?;
        let n = r.len();
        let mut present = vec![false; n];
        for idx in 0..input.series.len() {
            input.for_each_window_mixed(idx, r, |i, _, _| {
                present[i] = true;
                Ok(())
            })?;
        }
        let vals = present.iter().map(|p| (!p).then_some(1.0)).collect();
        Ok(absent_result(absent_labels(e), vals))
    }

    pub(crate) fn timestamp(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        let e = arg(c, 0)?;
        let n = r.len();
        if let Expr::Vector(vs) = unparen(e) {
            let sel = self.eval_vector_selector_mixed(vs, r)?;
            let mut col = Collector::new(n);
            for (labels, vals, hvals) in sel {
                for (i, p) in vals.iter().enumerate() {
                    let t = p
                        .map(|(t, _)| t)
                        .or_else(|| hvals.get(i).and_then(|h| h.as_ref()).map(|(t, _)| *t));
                    if let Some(t) = t {
                        col.add_flag(labels.clone(), true, i, t as f64 / 1000.0)?;
                    }
                }
            }
            return Ok(Val::Vector(col.finish()));
        }
        let v = self.eval_vector(e, r)?;
        self.map_vector(v, n, true, |i, _| Some(r.ts(i) as f64 / 1000.0))
    }

    pub(crate) fn sort_call(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        let mut v = self.eval_vector(arg(c, 0)?, r)?;
        if self.query_step != 0 {
            self.warn(format!(
                "PromQL warning: sort is ineffective for range queries since results are always ordered by labels {}",
                pos_suffix(c.pos)
            ));
        }
        if r.len() != 1 {
            return Ok(Val::Vector(v));
        }
        let val = |s: &SeriesV| s.vals[0].unwrap_or(f64::NAN);
        match c.name.as_str() {
            "sort" | "sort_desc" => {
                // Histogram samples are dropped by the value sorts.
                v.retain(|s| s.vals[0].is_some());
                let desc = c.name == "sort_desc";
                v.sort_by(|a, b| {
                    let (x, y) = (val(a), val(b));
                    match (x.is_nan(), y.is_nan()) {
                        (true, true) => Ordering::Equal,
                        (true, false) => Ordering::Greater,
                        (false, true) => Ordering::Less,
                        _ if desc => y.partial_cmp(&x).unwrap_or(Ordering::Equal),
                        _ => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                    }
                });
            }
            _ => {
                let mut names = Vec::new();
                for e in c.args.iter().skip(1) {
                    names.push(self.eval_string(e, r)?);
                }
                let desc = c.name == "sort_by_label_desc";
                v.sort_by(|a, b| {
                    let mut o = Ordering::Equal;
                    for nme in &names {
                        let x = a.labels.get(nme).unwrap_or("");
                        let y = b.labels.get(nme).unwrap_or("");
                        if x != y {
                            o = natural_cmp(x, y);
                            break;
                        }
                    }
                    let o = o.then_with(|| a.labels.cmp(&b.labels));
                    if desc {
                        o.reverse()
                    } else {
                        o
                    }
                });
            }
        }
        Ok(Val::Vector(v))
    }

    /// `histogram_count|sum|avg|stddev|stdvar(v)`: a float per native
    /// histogram sample; float samples are ignored.
    pub(crate) fn native_histogram_call(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        let v = self.eval_vector(arg(c, 0)?, r)?;
        let f: fn(&FloatHistogram) -> f64 = match c.name.as_str() {
            "histogram_count" => |h| h.count,
            "histogram_sum" => |h| h.sum,
            "histogram_avg" => |h| h.sum / h.count,
            "histogram_stddev" => native::histogram_stddev,
            _ => native::histogram_stdvar,
        };
        let out = v
            .into_iter()
            .filter(SeriesV::has_histograms)
            .map(|s| {
                let vals = (0..s.vals.len()).map(|i| s.h(i).map(f)).collect();
                SeriesV {
                    labels: s.labels,
                    vals,
                    hvals: Vec::new(),
                    drop_name: true,
                }
            })
            .collect();
        Ok(Val::Vector(out))
    }
}

fn absent_result(labels: Labels, vals: Vec<Option<f64>>) -> Val {
    if vals.iter().all(|v| v.is_none()) {
        return Val::Vector(Vec::new());
    }
    Val::Vector(vec![SeriesV::new(labels, vals)])
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;
    use std::cmp::Ordering;

    #[test]
    fn natural() {
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("b", "a10"), Ordering::Greater);
        assert_eq!(natural_cmp("a", "a"), Ordering::Equal);
    }
}
