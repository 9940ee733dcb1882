//! `absent`, `absent_over_time`, `timestamp`, the sort functions, and the
//! native-histogram functions (not supported: they find no histograms).

use std::cmp::Ordering;

use pharos_model::{Labels, LabelsBuilder, MatchOp, Matcher, METRIC_NAME};

use super::super::aggregate::pos_suffix;
use super::super::eval::{unparen, Collector, Evaluator, Range, SeriesV, Val};
use super::super::EvalError;
use super::arg;
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
            .map(|i| (!v.iter().any(|s| s.vals[i].is_some())).then_some(1.0))
            .collect();
        Ok(absent_result(absent_labels(e), vals))
    }

    pub(crate) fn absent_over_time(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        let e = arg(c, 0)?;
        let input = self.range_input(e, r)?;
        let n = r.len();
        let mut present = vec![false; n];
        for idx in 0..input.series.len() {
            input.for_each_window(idx, r, |i, _| {
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
            let sel = self.eval_vector_selector(vs, r)?;
            let mut col = Collector::new(n);
            for (labels, vals) in sel {
                for (i, p) in vals.iter().enumerate() {
                    if let Some((t, _)) = p {
                        col.add_flag(labels.clone(), true, i, *t as f64 / 1000.0)?;
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

    /// Native-histogram functions: with float-only storage there is nothing to compute.
    pub(crate) fn native_histogram_call(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        for a in &c.args {
            if !matches!(unparen(a), Expr::Number(..)) {
                let _ = self.eval(a, r)?;
            }
        }
        Ok(Val::Vector(Vec::new()))
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
