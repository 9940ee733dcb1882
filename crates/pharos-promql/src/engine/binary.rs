//! Binary operators: arithmetic, comparison (with and without `bool`), set
//! operators, and vector matching (`on`/`ignoring`, `group_left`/`group_right`).

use super::hash::{FastMap as HashMap, FastSet as HashSet};

use pharos_model::{Labels, LabelsBuilder, METRIC_NAME};

use super::aggregate::pos_suffix;
use super::eval::{Collector, Evaluator, Po, Pv, Range, SeriesV, Val};
use super::functions::native;
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
        // Trimming is defined for a histogram and a float only.
        BinaryOp::TrimUpper | BinaryOp::TrimLower => (l, false),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => {
            return Err(EvalError::exec(format!(
                "set operator {:?} not allowed in binary scalar expression",
                op.as_str()
            )))
        }
    })
}

/// The outcome of an operator applied to two points.
pub(crate) enum Elem {
    /// A value and whether a comparison kept it.
    Val(Po, bool),
    /// The operator is not defined for these sample types (an info annotation).
    Incompatible(&'static str, &'static str),
    /// Histograms with exponential and custom buckets met (a warning).
    MixedSchemas,
}

fn kind(p: Pv<'_>) -> &'static str {
    match p {
        Pv::F(_) => "float",
        Pv::H(_) => "histogram",
    }
}

/// Applies a binary operator to two points, floats or histograms, as
/// Prometheus does; `notes` receives the annotations of histogram arithmetic
/// as (is_warning, text without position).
pub(crate) fn elem_op(
    op: BinaryOp,
    l: Pv<'_>,
    r: Pv<'_>,
    notes: &mut Vec<(bool, String)>,
) -> Result<Elem, EvalError> {
    use BinaryOp::*;
    let incompatible = Elem::Incompatible(kind(l), kind(r));
    Ok(match (l, r) {
        (Pv::F(a), Pv::F(b)) => {
            let (v, keep) = scalar_op(op, a, b)?;
            Elem::Val(Po::F(v), keep)
        }
        (Pv::F(f), Pv::H(h)) => match op {
            Mul => {
                let mut h = h.clone();
                h.mul(f);
                h.compact(0);
                Elem::Val(Po::H(Box::new(h)), true)
            }
            _ => incompatible,
        },
        (Pv::H(h), Pv::F(f)) => match op {
            Mul | Div => {
                let mut h = h.clone();
                if op == Mul {
                    h.mul(f);
                } else {
                    h.div(f);
                }
                h.compact(0);
                Elem::Val(Po::H(Box::new(h)), true)
            }
            TrimUpper => Elem::Val(Po::H(Box::new(native::trim_upper(h, f))), true),
            TrimLower => Elem::Val(Po::H(Box::new(native::trim_lower(h, f))), true),
            _ => incompatible,
        },
        (Pv::H(a), Pv::H(b)) => match op {
            Add | Sub => {
                let mut h = a.clone();
                let res = if op == Add { h.add(b) } else { h.sub(b) };
                let what = if op == Add { "addition" } else { "subtraction" };
                match res {
                    Ok(outcome) => {
                        if outcome.counter_reset_collision {
                            notes.push((
                                true,
                                format!("PromQL warning: conflicting counter resets during histogram {what}"),
                            ));
                        }
                        if outcome.nhcb_bounds_reconciled {
                            notes.push((
                                false,
                                format!("PromQL info: mismatched custom buckets were reconciled during {what}"),
                            ));
                        }
                        if op == Sub {
                            // A difference can go down: it is a gauge.
                            h.counter_reset_hint = pharos_model::histogram::CounterResetHint::Gauge;
                        }
                        h.compact(0);
                        Elem::Val(Po::H(Box::new(h)), true)
                    }
                    Err(_) => Elem::MixedSchemas,
                }
            }
            Eql => Elem::Val(Po::H(Box::new(a.clone())), a.equals(b)),
            Neq => Elem::Val(Po::H(Box::new(a.clone())), !a.equals(b)),
            _ => incompatible,
        },
    })
}

/// Labels without the metric name and the `__type__` / `__unit__` metadata
/// labels, which Prometheus drops together with the name.
pub(crate) fn drop_reserved(l: &Labels) -> Labels {
    let reserved = |lb: &pharos_model::Label| {
        matches!(lb.name.as_str(), METRIC_NAME | "__type__" | "__unit__")
    };
    if !l.iter().any(reserved) {
        return l.clone();
    }
    l.filtered(|lb| !reserved(lb))
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
    notes: &'a mut Vec<(bool, String)>,
}

/// Prometheus's info for an operator applied to incompatible sample types.
fn incompatible_msg(op: BinaryOp, l: &str, r: &str) -> String {
    format!(
        "PromQL info: incompatible sample types encountered for binary operator {:?}: {l} {} {r}",
        op.as_str(),
        op.as_str()
    )
}

/// Prometheus's warning for exponential and custom bucket histograms combined.
pub(crate) fn mixed_schemas_msg(labels: &Labels) -> String {
    native::HistNote::MixedExponentialCustom.message(labels.metric_name().unwrap_or(""))
}

impl<'b> PairCtx<'_, 'b> {
    /// Combines a "many" side value with a "one" side value of match group `sig`.
    fn pair(
        &mut self,
        sig: &'b str,
        mv: Pv<'_>,
        ov: Pv<'_>,
        labels: Labels,
        many_drop: bool,
    ) -> Result<(), EvalError> {
        let (fl, fr) = if self.swapped { (ov, mv) } else { (mv, ov) };
        let (v, keep) = match elem_op(self.b.op, fl, fr, self.notes)? {
            Elem::Val(v, keep) => (v, keep),
            Elem::Incompatible(a, b) => {
                self.notes.push((false, incompatible_msg(self.b.op, a, b)));
                return Ok(());
            }
            Elem::MixedSchemas => {
                self.notes.push((true, mixed_schemas_msg(&labels)));
                return Ok(());
            }
        };
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
        let v = if self.b.return_bool {
            Po::F(if keep { 1.0 } else { 0.0 })
        } else if !keep {
            return Ok(());
        } else {
            v
        };
        let drop = drops_name(self.b.op, self.compat) || self.b.return_bool || many_drop;
        self.c.add_po(&labels, drop, self.i, v)
    }
}

impl Evaluator<'_> {
    /// Emits the annotations of histogram operations with the operator's position.
    fn binop_notes(&mut self, notes: Vec<(bool, String)>, b: &BinaryExpr) {
        for (warn, msg) in notes {
            let msg = format!("{msg} {}", pos_suffix(b.pos));
            if warn {
                self.warn(msg);
            } else {
                self.info(msg);
            }
        }
    }

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
        let mut notes: Vec<(bool, String)> = Vec::new();
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
            for (i, h) in series.hvals.iter().enumerate() {
                let Some(h) = h.as_deref() else { continue };
                let (l, rr) = if scalar_left {
                    (Pv::F(s[i]), Pv::H(h))
                } else {
                    (Pv::H(h), Pv::F(s[i]))
                };
                match elem_op(b.op, l, rr, &mut notes)? {
                    Elem::Val(v, keep) => {
                        if b.return_bool {
                            c.add_flag(labels.clone(), drop, i, if keep { 1.0 } else { 0.0 })?;
                        } else if keep {
                            c.add_po(&labels, drop, i, v)?;
                        }
                    }
                    Elem::Incompatible(x, y) => notes.push((false, incompatible_msg(b.op, x, y))),
                    Elem::MixedSchemas => notes.push((true, mixed_schemas_msg(&labels))),
                }
            }
        }
        self.binop_notes(notes, b);
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
        let mut one_map: HashMap<&str, usize> = HashMap::default();
        let mut matched: HashMap<&str, HashSet<Labels>> = HashMap::default();
        let mut notes: Vec<(bool, String)> = Vec::new();
        for i in 0..n {
            self.check_timeout()?;
            let many_any = many.iter().any(|s| s.present(i));
            let one_any = one.iter().any(|s| s.present(i));
            if (!many_any && !one_any)
                || ((!many_any || !one_any) && fill_one.is_none() && fill_many.is_none())
            {
                continue;
            }
            one_map.clear();
            for (k, s) in one.iter().enumerate() {
                if !s.present(i) {
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
                notes: &mut notes,
            };
            for (k, s) in many.iter().enumerate() {
                let Some(mv) = s.get(i) else { continue };
                let sig = many_sigs[k].as_str();
                let (ov, labels) = match one_map.get(sig) {
                    Some(&o) => {
                        let ov = one[o].get(i).unwrap_or(Pv::F(f64::NAN));
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
                        (Pv::F(fv), labels)
                    }
                };
                ctx.pair(sig, mv, ov, labels, s.drop_name)?;
            }
            if let Some(fv) = fill_many {
                for (o, s) in one.iter().enumerate() {
                    let Some(ov) = s.get(i) else { continue };
                    let sig = one_sigs[o].as_str();
                    if ctx.matched.get(sig).is_some_and(|set| !set.is_empty()) {
                        continue;
                    }
                    let labels = cache.get((None, Some(o)), || {
                        let filled = match_labels(&s.labels, m);
                        result_labels(&filled, &s.labels, b.op, m, b.return_bool)
                    });
                    ctx.pair(sig, Pv::F(fv), ov, labels, false)?;
                }
            }
        }
        self.binop_notes(notes, b);
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
        let mut set: HashSet<&str> = HashSet::default();
        for i in 0..n {
            self.check_timeout()?;
            set.clear();
            match op {
                BinaryOp::And | BinaryOp::Unless => {
                    for (k, s) in rhs.iter().enumerate() {
                        if s.present(i) {
                            set.insert(rsigs[k].as_str());
                        }
                    }
                    let want = op == BinaryOp::And;
                    for (k, s) in lhs.iter().enumerate() {
                        if let Some(v) = s.get(i) {
                            if set.contains(lsigs[k].as_str()) == want {
                                c.add_po(&s.labels, s.drop_name, i, v.to_owned())?;
                            }
                        }
                    }
                }
                _ => {
                    for (k, s) in lhs.iter().enumerate() {
                        if let Some(v) = s.get(i) {
                            set.insert(lsigs[k].as_str());
                            c.add_po(&s.labels, s.drop_name, i, v.to_owned())?;
                        }
                    }
                    for (k, s) in rhs.iter().enumerate() {
                        if let Some(v) = s.get(i) {
                            if !set.contains(rsigs[k].as_str()) {
                                c.add_po(&s.labels, s.drop_name, i, v.to_owned())?;
                            }
                        }
                    }
                }
            }
        }
        Ok(Val::Vector(c.finish()))
    }
}
