//! Aggregation operators (`sum`, `avg`, `count`, `min`, `max`, `group`,
//! `stddev`, `stdvar`, `topk`, `bottomk`, `quantile`, `count_values`,
//! `limitk`, `limit_ratio`) with `by` / `without`.

use super::hash::FastMap;

use pharos_model::histogram::{CounterResetHint, FloatHistogram};
use pharos_model::{is_valid_label_name, Labels, LabelsBuilder, METRIC_NAME};

use super::eval::{Collector, Evaluator, Po, Pv, Range, Val};
use super::functions::math::{kahan_inc, quantile, Mean};
use super::functions::native;
use super::hash::labels_hash;
use super::EvalError;
use crate::ast::{AggregateExpr, AggregateOp, PosRange};

/// Whether label `name` stays in the labels of a series' group.
fn kept(name: &str, grouping: &[String], without: bool) -> bool {
    let listed = grouping.iter().any(|g| g == name);
    if without {
        !listed && name != METRIC_NAME
    } else {
        listed
    }
}

/// Labels of the group a series falls into.
pub(crate) fn group_labels(l: &Labels, grouping: &[String], without: bool) -> Labels {
    let mut b = LabelsBuilder::new();
    for lb in l.iter().filter(|lb| kept(&lb.name, grouping, without)) {
        b.set(&lb.name, &lb.value);
    }
    b.build()
}

/// The group of each series, numbered in order of first appearance, and
/// the labels of each group. Only a series that starts a new group builds
/// its group's labels; the others are matched by a hash of the kept pairs
/// and compared pair by pair.
fn group_series<'a>(
    labels: impl Iterator<Item = &'a Labels>,
    grouping: &[String],
    without: bool,
) -> (Vec<usize>, Vec<Labels>) {
    use std::hash::{BuildHasher, Hash, Hasher};
    let build = std::hash::BuildHasherDefault::<super::hash::FastHasher>::default();
    let mut by_hash: FastMap<u64, Vec<usize>> = FastMap::default();
    let mut groups: Vec<Labels> = Vec::new();
    let mut of_series = Vec::new();
    for l in labels {
        let pairs = || l.iter().filter(|lb| kept(&lb.name, grouping, without));
        let mut h = build.build_hasher();
        for lb in pairs() {
            lb.name.hash(&mut h);
            lb.value.hash(&mut h);
        }
        let candidates = by_hash.entry(h.finish()).or_default();
        let found = candidates
            .iter()
            .copied()
            .find(|&g| groups.get(g).is_some_and(|gl| pairs().eq(gl.iter())));
        of_series.push(match found {
            Some(g) => g,
            None => {
                groups.push(group_labels(l, grouping, without));
                candidates.push(groups.len() - 1);
                groups.len() - 1
            }
        });
    }
    (of_series, groups)
}

/// `(line:col)` of a position, as Prometheus appends to annotations.
pub(crate) fn pos_suffix(p: PosRange) -> String {
    format!("({}:{})", 1, p.start + 1)
}

/// Running state of one group at one step.
#[derive(Default)]
struct State {
    seen: bool,
    count: f64,
    sum: f64,
    c: f64,
    mean: Mean,
    value: f64,
    wmean: f64,
    members: Vec<(usize, f64)>,
    drop: bool,
    /// `sum`/`avg`: floats and histograms seen (both: no result).
    has_float: bool,
    has_hist: bool,
    /// Input series whose histograms `sum`/`avg` combine at this step.
    hmembers: Vec<usize>,
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// Orders NaN below everything (Prometheus's heap order).
fn nan_low(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// The `k` members (in input order) that `topk` (`top`) or `bottomk` keeps,
/// chosen as Prometheus 2.42 chooses them: a binary heap of at most `k`, its
/// weakest member on top, filled in input order and moved exactly as Go's
/// `container/heap` moves it. Which of several members tied at the k-th place
/// stays depends on those moves, and this way it is the same one.
fn heap_select(members: &[(usize, f64)], k: usize, top: bool) -> Vec<(usize, f64)> {
    // Prometheus's `Less`: NaN first, then the weaker value.
    let less = |a: f64, b: f64| a.is_nan() || if top { a < b } else { a > b };
    let mut h: Vec<(usize, f64)> = Vec::with_capacity(k);
    if k == 0 {
        return h;
    }
    for &m in members {
        if h.len() < k {
            // heap.Push: append, then up.
            h.push(m);
            let mut j = h.len() - 1;
            while j > 0 {
                let i = (j - 1) / 2;
                if !less(h[j].1, h[i].1) {
                    break;
                }
                h.swap(i, j);
                j = i;
            }
            continue;
        }
        let root = h[0].1;
        let beats = if top { root < m.1 } else { root > m.1 };
        if beats || (root.is_nan() && !m.1.is_nan()) {
            h[0] = m;
            // heap.Fix at the root: down (up from the root moves nothing).
            let n = h.len();
            let mut i = 0;
            loop {
                let j1 = 2 * i + 1;
                if j1 >= n {
                    break;
                }
                let mut j = j1;
                if j1 + 1 < n && less(h[j1 + 1].1, h[j1].1) {
                    j = j1 + 1;
                }
                if !less(h[j].1, h[i].1) {
                    break;
                }
                h.swap(i, j);
                i = j;
            }
        }
    }
    h
}

impl Evaluator<'_> {
    /// Evaluates an aggregation for all steps.
    pub(crate) fn eval_aggregate(&mut self, a: &AggregateExpr, r: Range) -> Result<Val, EvalError> {
        let n = r.len();
        let op = a.op;
        let mut sparam: Option<Vec<f64>> = None;
        let mut label_param: Option<String> = None;
        if let Some(p) = &a.param {
            if op == AggregateOp::CountValues {
                label_param = Some(self.eval_string(p, r)?);
            } else if op.takes_param() {
                sparam = Some(self.eval_scalar(p, r)?);
            }
        }
        let input = self.eval_vector(&a.expr, r)?;
        let ppos = a.param.as_ref().map(|p| expr_pos(p)).unwrap_or(a.pos);

        if op == AggregateOp::CountValues {
            let label = label_param.unwrap_or_default();
            if !is_valid_label_name(&label) {
                return Err(EvalError::exec(format!("invalid label name {label:?}")));
            }
            let mut grouping = a.grouping.clone();
            if !a.without {
                grouping.push(label.clone());
            }
            let mut c = Collector::new(n);
            for i in 0..n {
                self.check_timeout()?;
                let mut order: Vec<Labels> = Vec::new();
                let mut counts: FastMap<Labels, f64> = FastMap::default();
                for s in &input {
                    let value = match s.get(i) {
                        Some(Pv::F(v)) => format_float(v),
                        Some(Pv::H(h)) => h.to_string(),
                        None => continue,
                    };
                    let mut b = s.labels.builder();
                    b.set(&label, &value);
                    let g = group_labels(&b.build(), &grouping, a.without);
                    let e = counts.entry(g.clone()).or_insert_with(|| {
                        order.push(g);
                        0.0
                    });
                    *e += 1.0;
                }
                for g in order {
                    let v = counts.get(&g).copied().unwrap_or(0.0);
                    c.add(g, i, v)?;
                }
            }
            return Ok(Val::Vector(c.finish()));
        }

        // Group of each input series, fixed across steps.
        let (series_group, glabels) =
            group_series(input.iter().map(|s| &s.labels), &a.grouping, a.without);

        let mut c = Collector::new(n);
        let mut states: Vec<State> = (0..glabels.len()).map(|_| State::default()).collect();
        let mut order: Vec<usize> = Vec::new();
        for i in 0..n {
            self.check_timeout()?;
            for st in states.iter_mut() {
                *st = State::default();
            }
            order.clear();
            let param = sparam.as_ref().map(|p| p[i]);
            // Parameter checks.
            let mut k: i64 = 0;
            let mut ratio = 0.0;
            match op {
                AggregateOp::TopK | AggregateOp::BottomK | AggregateOp::LimitK => {
                    let p = param.unwrap_or(f64::NAN);
                    if p.is_nan() {
                        return Err(EvalError::exec("Parameter value is NaN"));
                    }
                    k = if p >= i64::MAX as f64 {
                        i64::MAX
                    } else if p <= i64::MIN as f64 {
                        i64::MIN
                    } else {
                        p as i64
                    };
                    if k < 1 {
                        continue;
                    }
                }
                AggregateOp::LimitRatio => {
                    let p = param.unwrap_or(f64::NAN);
                    if p.is_nan() {
                        return Err(EvalError::exec("Ratio value is NaN"));
                    }
                    ratio = p.clamp(-1.0, 1.0);
                    if ratio != p {
                        self.warn(format!(
                            "PromQL warning: ratio value should be between -1 and 1, got {}, capping to {} {}",
                            go_g(p),
                            go_g(ratio),
                            pos_suffix(ppos)
                        ));
                    }
                }
                AggregateOp::Quantile => {
                    let p = param.unwrap_or(f64::NAN);
                    if !(0.0..=1.0).contains(&p) || p.is_nan() {
                        self.warn(format!(
                            "PromQL warning: quantile value should be between 0 and 1, got {} {}",
                            go_g(p),
                            pos_suffix(ppos)
                        ));
                    }
                }
                _ => {}
            }
            for (si, s) in input.iter().enumerate() {
                let Some(p) = s.get(i) else { continue };
                let v = match p {
                    Pv::F(v) => v,
                    Pv::H(_) => {
                        self.aggregate_histogram(
                            a,
                            &mut states,
                            &mut order,
                            series_group[si],
                            si,
                            s,
                            ratio,
                        )?;
                        continue;
                    }
                };
                let g = series_group[si];
                let st = &mut states[g];
                if !st.seen {
                    st.seen = true;
                    order.push(g);
                    st.value = v;
                    st.wmean = v;
                }
                st.count += 1.0;
                st.drop |= s.drop_name;
                st.has_float = true;
                match op {
                    AggregateOp::Sum => {
                        let (s2, c2) = kahan_inc(v, st.sum, st.c);
                        st.sum = s2;
                        st.c = c2;
                    }
                    AggregateOp::Avg => st.mean.add(v),
                    AggregateOp::Min => {
                        if st.value > v || st.value.is_nan() {
                            st.value = v;
                        }
                    }
                    AggregateOp::Max => {
                        if st.value < v || st.value.is_nan() {
                            st.value = v;
                        }
                    }
                    AggregateOp::Stddev | AggregateOp::Stdvar => {
                        if st.count == 1.0 {
                            st.value = if v.is_finite() { 0.0 } else { f64::NAN };
                        } else {
                            let delta = v - st.wmean;
                            st.wmean += delta / st.count;
                            st.value += delta * (v - st.wmean);
                        }
                    }
                    AggregateOp::TopK
                    | AggregateOp::BottomK
                    | AggregateOp::Quantile
                    | AggregateOp::LimitK => st.members.push((si, v)),
                    AggregateOp::LimitRatio => {
                        let off = labels_hash(&s.labels) as f64 / u64::MAX as f64;
                        if (ratio >= 0.0 && off < ratio) || (ratio < 0.0 && off >= 1.0 + ratio) {
                            st.members.push((si, v));
                        }
                    }
                    AggregateOp::Count | AggregateOp::Group | AggregateOp::CountValues => {}
                }
            }
            for &g in &order {
                let st = &mut states[g];
                if matches!(op, AggregateOp::Sum | AggregateOp::Avg) && st.has_hist {
                    let pos = pos_suffix(expr_pos(&a.expr));
                    if st.has_float {
                        self.warn(format!(
                            "PromQL warning: encountered a mix of histograms and floats for aggregation {pos}"
                        ));
                        continue;
                    }
                    let hs: Vec<&FloatHistogram> = st
                        .hmembers
                        .iter()
                        .filter_map(|&si| input[si].h(i))
                        .collect();
                    let out = if op == AggregateOp::Avg {
                        native::histogram_avg_over_time(&hs)
                    } else {
                        native::histogram_sum_over_time(&hs)
                    };
                    let name = st
                        .hmembers
                        .first()
                        .and_then(|&si| input[si].labels.metric_name())
                        .unwrap_or("");
                    for n in &out.notes {
                        let msg = format!("{} {pos}", n.message(name));
                        if n.is_warning() {
                            self.warn(msg);
                        } else {
                            self.info(msg);
                        }
                    }
                    if let Some(mut h) = out.value {
                        // A gauge among the inputs makes the result a gauge.
                        if hs
                            .iter()
                            .any(|h| h.counter_reset_hint == CounterResetHint::Gauge)
                        {
                            h.counter_reset_hint = CounterResetHint::Gauge;
                        }
                        c.add_po(&glabels[g], st.drop, i, Po::H(Box::new(h)))?;
                    }
                    continue;
                }
                let out = match op {
                    AggregateOp::Sum => {
                        if st.sum.is_infinite() {
                            st.sum
                        } else {
                            st.sum + st.c
                        }
                    }
                    AggregateOp::Avg => st.mean.value(),
                    AggregateOp::Count => st.count,
                    AggregateOp::Group => 1.0,
                    AggregateOp::Min | AggregateOp::Max => st.value,
                    AggregateOp::Stdvar => st.value / st.count,
                    AggregateOp::Stddev => (st.value / st.count).sqrt(),
                    AggregateOp::Quantile => {
                        let mut vals: Vec<f64> = st.members.iter().map(|m| m.1).collect();
                        quantile(param.unwrap_or(f64::NAN), &mut vals)
                    }
                    AggregateOp::TopK | AggregateOp::BottomK => {
                        let mut m = std::mem::take(&mut st.members);
                        // Members are in input order (`si` increasing), so breaking ties
                        // by `si` gives the order of a stable sort.
                        let cmp = |a: &(usize, f64), b: &(usize, f64)| {
                            let by_value = if op == AggregateOp::TopK {
                                // Highest first, NaN last; ties keep input order.
                                nan_low(b.1, a.1)
                            } else {
                                match (a.1.is_nan(), b.1.is_nan()) {
                                    (true, true) => std::cmp::Ordering::Equal,
                                    (true, false) => std::cmp::Ordering::Greater,
                                    (false, true) => std::cmp::Ordering::Less,
                                    _ => a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal),
                                }
                            };
                            by_value.then(a.0.cmp(&b.0))
                        };
                        let take = (k.max(0) as u64).min(m.len() as u64) as usize;
                        if take < m.len() {
                            m = heap_select(&m, take, op == AggregateOp::TopK);
                        }
                        m.sort_unstable_by(cmp);
                        for (si, v) in m.into_iter().take(take) {
                            c.add_ref(&input[si].labels, input[si].drop_name, i, v)?;
                        }
                        continue;
                    }
                    AggregateOp::LimitK | AggregateOp::LimitRatio => {
                        let m = std::mem::take(&mut st.members);
                        let take = if op == AggregateOp::LimitK {
                            (k.max(0) as u64).min(m.len() as u64) as usize
                        } else {
                            m.len()
                        };
                        for (si, _) in m.into_iter().take(take) {
                            if let Some(p) = input[si].get(i) {
                                c.add_po(&input[si].labels, input[si].drop_name, i, p.to_owned())?;
                            }
                        }
                        continue;
                    }
                    AggregateOp::CountValues => continue,
                };
                c.add_ref(&glabels[g], st.drop, i, out)?;
            }
        }
        Ok(Val::Vector(c.finish()))
    }
}

impl Evaluator<'_> {
    /// Folds the histogram `h` of input series `si` into its group's state.
    #[allow(clippy::too_many_arguments)]
    fn aggregate_histogram(
        &mut self,
        a: &AggregateExpr,
        states: &mut [State],
        order: &mut Vec<usize>,
        g: usize,
        si: usize,
        s: &super::eval::SeriesV,
        ratio: f64,
    ) -> Result<(), EvalError> {
        let op = a.op;
        let ignored = match op {
            AggregateOp::Min => Some("min"),
            AggregateOp::Max => Some("max"),
            AggregateOp::Stddev => Some("stddev"),
            AggregateOp::Stdvar => Some("stdvar"),
            AggregateOp::Quantile => Some("quantile"),
            AggregateOp::TopK => Some("topk"),
            AggregateOp::BottomK => Some("bottomk"),
            _ => None,
        };
        if let Some(name) = ignored {
            let pos = if matches!(op, AggregateOp::TopK | AggregateOp::BottomK) {
                a.pos
            } else {
                expr_pos(&a.expr)
            };
            self.info(format!(
                "PromQL info: ignored histogram in {name} aggregation {}",
                pos_suffix(pos)
            ));
            return Ok(());
        }
        if op == AggregateOp::LimitRatio {
            let off = labels_hash(&s.labels) as f64 / u64::MAX as f64;
            if !((ratio >= 0.0 && off < ratio) || (ratio < 0.0 && off >= 1.0 + ratio)) {
                return Ok(());
            }
        }
        let st = &mut states[g];
        if !st.seen {
            st.seen = true;
            order.push(g);
        }
        st.count += 1.0;
        st.drop |= s.drop_name;
        match op {
            AggregateOp::Sum | AggregateOp::Avg => {
                st.has_hist = true;
                st.hmembers.push(si);
            }
            AggregateOp::LimitK | AggregateOp::LimitRatio => st.members.push((si, f64::NAN)),
            _ => {}
        }
        Ok(())
    }
}

/// Go's `%g` for the common cases of annotation messages.
pub(crate) fn go_g(v: f64) -> String {
    format_float(v)
}

/// The position of an expression.
pub(crate) fn expr_pos(e: &crate::ast::Expr) -> PosRange {
    use crate::ast::Expr;
    match e {
        Expr::Number(_, p)
        | Expr::String(_, p)
        | Expr::Paren(_, p)
        | Expr::Unary(_, _, p)
        | Expr::Step(p)
        | Expr::Range(p) => *p,
        Expr::Vector(v) => v.pos,
        Expr::Matrix(m) => m.pos,
        Expr::Subquery(s) => s.pos,
        Expr::Binary(b) => b.pos,
        Expr::Aggregate(a) => a.pos,
        Expr::Call(c) => c.pos,
    }
}

#[cfg(test)]
mod heap_tests {
    use super::heap_select;
    use proptest::prelude::*;

    proptest! {
        /// The heap keeps `k` members (all when fewer), each at least as
        /// strong as every member it left out, NaN weakest.
        #[test]
        fn heap_select_keeps_a_valid_top_k(
            vals in proptest::collection::vec(prop_oneof![9 => (0u8..6).prop_map(f64::from), 1 => Just(f64::NAN)], 0..40),
            k in 0usize..12,
            top in any::<bool>(),
        ) {
            let members: Vec<(usize, f64)> = vals.iter().copied().enumerate().collect();
            let kept = heap_select(&members, k, top);
            prop_assert_eq!(kept.len(), k.min(members.len()));
            let strength = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else if top { v } else { -v };
            let weakest = kept.iter().map(|m| strength(m.1)).fold(f64::INFINITY, f64::min);
            for m in &members {
                if !kept.iter().any(|x| x.0 == m.0) {
                    prop_assert!(strength(m.1) <= weakest, "left out {:?}, kept {:?}", m, kept);
                }
            }
        }
    }
}

#[cfg(test)]
mod group_tests {
    use super::{group_labels, group_series};
    use pharos_model::Labels;
    use proptest::prelude::*;

    proptest! {
        /// Series share a group exactly when their group labels are equal,
        /// groups are numbered in order of first appearance, and each
        /// group's labels are those `group_labels` builds.
        #[test]
        fn group_series_matches_group_labels(
            series in proptest::collection::vec(
                proptest::collection::vec((0u8..4, 0u8..3), 0..5), 0..30),
            grouping in proptest::collection::vec(0u8..5, 0..3),
            without in any::<bool>(),
        ) {
            let names = ["__name__", "a", "b", "le", "zz"];
            let labels: Vec<Labels> = series
                .iter()
                .map(|pairs| {
                    let pairs: Vec<(&str, String)> = pairs
                        .iter()
                        .map(|&(n, v)| (names[usize::from(n)], format!("v{v}")))
                        .collect();
                    let refs: Vec<(&str, &str)> =
                        pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
                    Labels::from_pairs(&refs)
                })
                .collect();
            let grouping: Vec<String> =
                grouping.iter().map(|&g| names[usize::from(g)].to_string()).collect();
            let (of, groups) = group_series(labels.iter(), &grouping, without);
            let mut want: Vec<Labels> = Vec::new();
            for (l, &g) in labels.iter().zip(&of) {
                let gl = group_labels(l, &grouping, without);
                let at = match want.iter().position(|w| *w == gl) {
                    Some(at) => at,
                    None => {
                        want.push(gl);
                        want.len() - 1
                    }
                };
                prop_assert_eq!(g, at);
            }
            prop_assert_eq!(groups, want);
        }
    }
}
