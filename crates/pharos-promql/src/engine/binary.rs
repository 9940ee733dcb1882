//! Binary operators: arithmetic, comparison (with and without `bool`), set
//! operators, and vector matching (`on`/`ignoring`, `group_left`/`group_right`).

use std::collections::{HashMap, HashSet};

use pharos_model::{Labels, LabelsBuilder, METRIC_NAME};

use super::eval::{Collector, Evaluator, Range, SeriesV, Val};
use super::EvalError;
use crate::ast::{BinaryExpr, BinaryOp, Cardinality, VectorMatching};

/// Applies a scalar operator; `(value, keep)` where `keep` is the comparison outcome.
pub(crate) fn scalar_op(op: BinaryOp, l: f64, r: f64) -> Result<(f64, bool), EvalError> {
    Ok(match op {
        BinaryOp::Add => (l + r, true),
        BinaryOp::Sub => (l - r, true),
        BinaryOp::Mul => (l * r, true),
        BinaryOp::Div => (l / r, true),
        BinaryOp::Mod => (l % r, true),
        BinaryOp::Pow => (l.powf(r), true),
        BinaryOp::Atan2 => (l.atan2(r), true),
        BinaryOp::Eql => (l, l == r),
        BinaryOp::Neq => (l, l != r),
        BinaryOp::Gtr => (l, l > r),
        BinaryOp::Lss => (l, l < r),
        BinaryOp::Gte => (l, l >= r),
        BinaryOp::Lte => (l, l <= r),
        BinaryOp::TrimUpper | BinaryOp::TrimLower => {
            return Err(EvalError::exec(format!(
                "operator {:?} is only defined for native histograms, which are not supported",
                op.as_str()
            )))
        }
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => {
            return Err(EvalError::exec(format!(
                "set operator {:?} not allowed in binary scalar expression",
                op.as_str()
            )))
        }
    })
}

/// Labels without the metric name and the `__type__` / `__unit__` metadata
/// labels, which Prometheus drops together with the name.
pub(crate) fn drop_reserved(l: &Labels) -> Labels {
    if !l
        .iter()
        .any(|lb| lb.name == METRIC_NAME || lb.name == "__type__" || lb.name == "__unit__")
    {
        return l.clone();
    }
    let mut b = l.builder();
    b.del(METRIC_NAME);
    b.del("__type__");
    b.del("__unit__");
    b.build()
}

/// Whether the operator removes the metric name from its result
/// (Prometheus 2.x kept it for `atan2`).
fn drops_name(op: BinaryOp, compat: super::Compat) -> bool {
    if op == BinaryOp::Atan2 && compat == super::Compat::V2_42 {
        return false;
    }
    matches!(
        op,
        BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Mod
            | BinaryOp::Pow
            | BinaryOp::Atan2
    )
}

/// The key by which two series match.
fn signature(l: &Labels, m: &VectorMatching) -> String {
    let mut s = String::new();
    for lb in l.iter() {
        let keep = if m.on {
            m.labels.contains(&lb.name)
        } else {
            lb.name != METRIC_NAME && !m.labels.contains(&lb.name)
        };
        if keep {
            s.push_str(&lb.name);
            s.push('\u{ff}');
            s.push_str(&lb.value);
            s.push('\u{ff}');
        }
    }
    s
}

/// Labels as Prometheus's `Labels.String()` prints them: `{a="b", ...}`.
pub(crate) fn prom_labels(l: &Labels) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|lb| format!("{}={:?}", lb.name, lb.value))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// The labels a signature was made of.
fn match_labels(l: &Labels, m: &VectorMatching) -> Labels {
    let mut b = LabelsBuilder::new();
    for lb in l.iter() {
        let keep = if m.on {
            m.labels.contains(&lb.name)
        } else {
            lb.name != METRIC_NAME && !m.labels.contains(&lb.name)
        };
        if keep {
            b.set(&lb.name, &lb.value);
        }
    }
    b.build()
}

/// Labels of a matched pair's result (`many` is the side iterated, `one` the other).
fn result_labels(
    many: &Labels,
    one: &Labels,
    op: BinaryOp,
    m: &VectorMatching,
    ret_bool: bool,
) -> Labels {
    let _ = (op, ret_bool);
    let mut b = many.builder();
    if m.card == Cardinality::OneToOne {
        if m.on {
            b.retain(|l| m.labels.contains(&l.name));
        } else {
            b.retain(|l| !m.labels.contains(&l.name));
        }
    }
    for name in &m.include {
        match one.get(name) {
            Some(v) if !v.is_empty() => {
                b.set(name, v);
            }
            _ => {
                b.del(name);
            }
        }
    }
    b.build()
}

fn default_matching(op: BinaryOp) -> VectorMatching {
    VectorMatching {
        card: if op.is_set() {
            Cardinality::ManyToMany
        } else {
            Cardinality::OneToOne
        },
        labels: Vec::new(),
        on: false,
        include: Vec::new(),
    }
}

/// Result labels of (many, one) pairs, by series index; `None` stands for a
/// sample made up by a fill value.
#[derive(Default)]
struct PairCache(HashMap<(Option<usize>, Option<usize>), Labels>);

impl PairCache {
    fn get(&mut self, key: (Option<usize>, Option<usize>), f: impl FnOnce() -> Labels) -> Labels {
        self.0.entry(key).or_insert_with(f).clone()
    }
}

/// State of one step of a vector/vector operation.
struct PairCtx<'a, 'b> {
    b: &'a BinaryExpr,
    m: &'a VectorMatching,
    swapped: bool,
    c: &'a mut Collector,
    matched: &'a mut HashMap<&'b str, HashSet<Labels>>,
    i: usize,
    compat: super::Compat,
}

impl<'b> PairCtx<'_, 'b> {
    /// Combines a "many" side value with a "one" side value of match group `sig`.
    fn pair(
        &mut self,
        sig: &'b str,
        mv: f64,
        ov: f64,
        labels: Labels,
        many_drop: bool,
    ) -> Result<(), EvalError> {
        let (fl, fr) = if self.swapped { (ov, mv) } else { (mv, ov) };
        let (mut v, keep) = scalar_op(self.b.op, fl, fr)?;
        let set = self.matched.entry(sig).or_default();
        if self.m.card == Cardinality::OneToOne {
            if !set.is_empty() {
                return Err(EvalError::exec(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
            set.insert(Labels::empty());
        } else if !set.insert(labels.clone()) {
            return Err(EvalError::exec(
                "multiple matches for matching labels in many-to-one matching: labels of the many side must be unique",
            ));
        }
        if self.b.return_bool {
            v = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            return Ok(());
        }
        let drop = drops_name(self.b.op, self.compat) || self.b.return_bool || many_drop;
        self.c.add_flag(labels, drop, self.i, v)
    }
}

impl Evaluator<'_> {
    /// Evaluates a binary expression for all steps.
    pub(crate) fn eval_binary(&mut self, b: &BinaryExpr, r: Range) -> Result<Val, EvalError> {
        let lhs = self.eval(&b.lhs, r)?;
        let rhs = self.eval(&b.rhs, r)?;
        let n = r.len();
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(rv)) => {
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    let (v, keep) = scalar_op(b.op, l[i], rv[i])?;
                    out.push(if b.op.is_comparison() {
                        if keep {
                            1.0
                        } else {
                            0.0
                        }
                    } else {
                        v
                    });
                }
                Ok(Val::Scalar(out))
            }
            (Val::Vector(v), Val::Scalar(s)) => self.vector_scalar(b, v, &s, false, n),
            (Val::Scalar(s), Val::Vector(v)) => self.vector_scalar(b, v, &s, true, n),
            (Val::Vector(l), Val::Vector(rv)) => {
                let m = b.matching.clone().unwrap_or_else(|| default_matching(b.op));
                if b.op.is_set() {
                    self.set_op(b.op, &m, l, rv, r)
                } else {
                    self.vector_vector(b, &m, l, rv, r)
                }
            }
            (l, rv) => Err(EvalError::exec(format!(
                "binary expression must contain only scalar and instant vector types, got {} and {}",
                l.type_name(),
                rv.type_name()
            ))),
        }
    }

    fn vector_scalar(
        &mut self,
        b: &BinaryExpr,
        v: Vec<SeriesV>,
        s: &[f64],
        scalar_left: bool,
        n: usize,
    ) -> Result<Val, EvalError> {
        if b.op.is_set() {
            return Err(EvalError::exec(format!(
                "set operator {:?} not allowed in binary scalar expression",
                b.op.as_str()
            )));
        }
        let mut c = Collector::new(n);
        for series in v {
            let drop = drops_name(b.op, self.opts.compat) || b.return_bool || series.drop_name;
            let labels = series.labels.clone();
            for (i, val) in series.vals.iter().enumerate() {
                let Some(x) = *val else { continue };
                let (l, rr) = if scalar_left { (s[i], x) } else { (x, s[i]) };
                let (mut out, keep) = scalar_op(b.op, l, rr)?;
                if b.op.is_comparison() {
                    out = x;
                }
                if b.return_bool {
                    c.add_flag(labels.clone(), drop, i, if keep { 1.0 } else { 0.0 })?;
                } else if keep {
                    c.add_flag(labels.clone(), drop, i, out)?;
                }
            }
        }
        Ok(Val::Vector(c.finish()))
    }

    fn vector_vector(
        &mut self,
        b: &BinaryExpr,
        m: &VectorMatching,
        lhs: Vec<SeriesV>,
        rhs: Vec<SeriesV>,
        r: Range,
    ) -> Result<Val, EvalError> {
        let n = r.len();
        if m.card == Cardinality::ManyToMany {
            return Err(EvalError::exec(
                "many-to-many only allowed for set operators",
            ));
        }
        let swapped = m.card == Cardinality::OneToMany;
        let (many, one) = if swapped { (&rhs, &lhs) } else { (&lhs, &rhs) };
        // As in Prometheus, the fill values are not swapped with the operands:
        // `fill.right` fills a missing "one" side, `fill.left` a missing "many" side.
        let fill_one = b.fill.right;
        let fill_many = b.fill.left;
        let many_sigs: Vec<String> = many.iter().map(|s| signature(&s.labels, m)).collect();
        let one_sigs: Vec<String> = one.iter().map(|s| signature(&s.labels, m)).collect();
        let mut c = Collector::new(n);
        let mut cache = PairCache::default();
        let mut one_map: HashMap<&str, usize> = HashMap::new();
        let mut matched: HashMap<&str, HashSet<Labels>> = HashMap::new();
        for i in 0..n {
            self.check_timeout()?;
            let many_any = many.iter().any(|s| s.vals[i].is_some());
            let one_any = one.iter().any(|s| s.vals[i].is_some());
            if (!many_any && !one_any)
                || ((!many_any || !one_any) && fill_one.is_none() && fill_many.is_none())
            {
                continue;
            }
            one_map.clear();
            for (k, s) in one.iter().enumerate() {
                if s.vals[i].is_none() {
                    continue;
                }
                if let Some(&prev) = one_map.get(one_sigs[k].as_str()) {
                    let side = if swapped { "left" } else { "right" };
                    let mut pair = [&one[prev].labels, &s.labels];
                    pair.sort();
                    return Err(EvalError::exec(format!(
                        "found duplicate series for the match group {} on the {} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                        prom_labels(&match_labels(&s.labels, m)),
                        side,
                        prom_labels(pair[0]),
                        prom_labels(pair[1])
                    )));
                }
                one_map.insert(one_sigs[k].as_str(), k);
            }
            matched.clear();
            let mut ctx = PairCtx {
                b,
                m,
                swapped,
                c: &mut c,
                matched: &mut matched,
                i,
                compat: self.opts.compat,
            };
            for (k, s) in many.iter().enumerate() {
                let Some(mv) = s.vals[i] else { continue };
                let sig = many_sigs[k].as_str();
                let (ov, labels) = match one_map.get(sig) {
                    Some(&o) => {
                        let ov = one[o].vals[i].unwrap_or(f64::NAN);
                        let labels = cache.get((Some(k), Some(o)), || {
                            result_labels(&s.labels, &one[o].labels, b.op, m, b.return_bool)
                        });
                        (ov, labels)
                    }
                    None => {
                        let Some(fv) = fill_one else { continue };
                        let labels = cache.get((Some(k), None), || {
                            let filled = match_labels(&s.labels, m);
                            result_labels(&s.labels, &filled, b.op, m, b.return_bool)
                        });
                        (fv, labels)
                    }
                };
                ctx.pair(sig, mv, ov, labels, s.drop_name)?;
            }
            if let Some(fv) = fill_many {
                for (o, s) in one.iter().enumerate() {
                    let Some(ov) = s.vals[i] else { continue };
                    let sig = one_sigs[o].as_str();
                    if ctx.matched.get(sig).is_some_and(|set| !set.is_empty()) {
                        continue;
                    }
                    let labels = cache.get((None, Some(o)), || {
                        let filled = match_labels(&s.labels, m);
                        result_labels(&filled, &s.labels, b.op, m, b.return_bool)
                    });
                    ctx.pair(sig, fv, ov, labels, false)?;
                }
            }
        }
        Ok(Val::Vector(c.finish()))
    }

    fn set_op(
        &mut self,
        op: BinaryOp,
        m: &VectorMatching,
        lhs: Vec<SeriesV>,
        rhs: Vec<SeriesV>,
        r: Range,
    ) -> Result<Val, EvalError> {
        let n = r.len();
        let lsigs: Vec<String> = lhs.iter().map(|s| signature(&s.labels, m)).collect();
        let rsigs: Vec<String> = rhs.iter().map(|s| signature(&s.labels, m)).collect();
        let mut c = Collector::new(n);
        let mut set: HashSet<&str> = HashSet::new();
        for i in 0..n {
            self.check_timeout()?;
            set.clear();
            match op {
                BinaryOp::And | BinaryOp::Unless => {
                    for (k, s) in rhs.iter().enumerate() {
                        if s.vals[i].is_some() {
                            set.insert(rsigs[k].as_str());
                        }
                    }
                    let want = op == BinaryOp::And;
                    for (k, s) in lhs.iter().enumerate() {
                        if let Some(v) = s.vals[i] {
                            if set.contains(lsigs[k].as_str()) == want {
                                c.add_ref(&s.labels, s.drop_name, i, v)?;
                            }
                        }
                    }
                }
                _ => {
                    for (k, s) in lhs.iter().enumerate() {
                        if let Some(v) = s.vals[i] {
                            set.insert(lsigs[k].as_str());
                            c.add_ref(&s.labels, s.drop_name, i, v)?;
                        }
                    }
                    for (k, s) in rhs.iter().enumerate() {
                        if let Some(v) = s.vals[i] {
                            if !set.contains(rsigs[k].as_str()) {
                                c.add_ref(&s.labels, s.drop_name, i, v)?;
                            }
                        }
                    }
                }
            }
        }
        Ok(Val::Vector(c.finish()))
    }
}
