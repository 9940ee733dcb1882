//! The inverted index: label name → value → postings, and matcher evaluation.
//!
//! [`IndexReader`] is the small seam both the head's in-memory index
//! ([`MemIndex`]) and a block's on-disk index implement; the evaluation of
//! matchers ([`postings_for_matchers`]) and the label name/value queries are
//! written once against it, with Prometheus's semantics:
//!
//! - `=`, `!=`, `=~`, `!~`; a matcher that matches the empty string also selects
//!   series that lack the label (`a=""`, `a!="x"`, `a=~"x|"`, `a!~"x"`);
//! - a set regex `a|b|c` is a union of exact postings, any other regex is run
//!   over the value list of the label;
//! - if no matcher is "positive" (every matcher matches empty), evaluation
//!   starts from all series. Refusing such selectors (`{a=""}`) is the API's
//!   job, as in Prometheus where the PromQL parser rejects them; see
//!   [`check_selector`].
//!
//! Postings are `RoaringBitmap`s of `u32` series refs. The index knows nothing
//! of chunks, samples or the WAL.

use std::borrow::Cow;

use pharos_model::{MatchOp, Matcher};
use roaring::RoaringBitmap;

use crate::fxhash::FxMap;
use crate::symbols::Symbols;

/// Read access to an inverted index.
pub(crate) trait IndexReader {
    /// Every series ref in the index.
    fn all_postings(&self) -> RoaringBitmap;
    /// Series with `name="value"`, `None` if there are none.
    fn postings(&self, name: &str, value: &str) -> Option<&RoaringBitmap>;
    /// Union of the postings of every value of `name` for which `pred` holds.
    fn postings_where(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> RoaringBitmap;
    /// Calls `f` for every label name with every value's postings, names in any order.
    fn for_each_name(&self, f: &mut dyn FnMut(&str) -> bool);
    /// Calls `f(value, postings)` for every value of `name`.
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str, &RoaringBitmap));
}

/// The error for a selector whose every matcher matches the empty string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("vector selector must contain at least one non-empty matcher")]
pub struct EmptySelectorError;

/// Checks Prometheus's rule that a selector has a matcher not matching "".
pub fn check_selector(ms: &[Matcher]) -> Result<(), EmptySelectorError> {
    if ms.iter().any(|m| !m.matches_empty()) {
        Ok(())
    } else {
        Err(EmptySelectorError)
    }
}

/// Postings of series satisfying `m`, for a matcher that does not match "";
/// an equality matcher's list is borrowed from the index.
fn positive_postings<'a>(ix: &'a dyn IndexReader, m: &Matcher) -> Cow<'a, RoaringBitmap> {
    match m.op {
        MatchOp::Equal => match ix.postings(&m.name, &m.value) {
            Some(p) => Cow::Borrowed(p),
            None => Cow::Owned(RoaringBitmap::new()),
        },
        MatchOp::RegexMatch => Cow::Owned(match m.set_matches() {
            Some(set) => union_of(ix, &m.name, &set),
            None => ix.postings_where(&m.name, &mut |v| m.matches(v)),
        }),
        MatchOp::NotEqual | MatchOp::RegexNoMatch => {
            Cow::Owned(ix.postings_where(&m.name, &mut |v| m.matches(v)))
        }
    }
}

/// `acc &= other`; when `acc` is much the smaller, by looking each of its
/// refs up in `other` rather than walking all of `other`.
fn intersect_with(acc: &mut RoaringBitmap, other: &RoaringBitmap) {
    if acc.len().saturating_mul(16) < other.len() {
        *acc = acc.iter().filter(|r| other.contains(*r)).collect();
    } else {
        *acc &= other;
    }
}

/// Union of the postings of `name` equal to each non-empty value of `set`.
fn union_of(ix: &dyn IndexReader, name: &str, set: &[String]) -> RoaringBitmap {
    let mut out = RoaringBitmap::new();
    for v in set.iter().filter(|v| !v.is_empty()) {
        if let Some(p) = ix.postings(name, v) {
            out |= p;
        }
    }
    out
}

/// Postings of series that have `m.name` set to a value *not* satisfying `m`;
/// for a matcher that matches "", these are exactly the series it excludes.
fn excluded_postings<'a>(ix: &'a dyn IndexReader, m: &Matcher) -> Cow<'a, RoaringBitmap> {
    match m.op {
        MatchOp::NotEqual => match ix.postings(&m.name, &m.value) {
            Some(p) => Cow::Borrowed(p),
            None => Cow::Owned(RoaringBitmap::new()),
        },
        MatchOp::RegexNoMatch => Cow::Owned(
            match Matcher::new(MatchOp::RegexMatch, &m.name, &m.value)
                .ok()
                .and_then(|p| p.set_matches())
            {
                Some(set) => union_of(ix, &m.name, &set),
                None => ix.postings_where(&m.name, &mut |v| !m.matches(v)),
            },
        ),
        _ => Cow::Owned(ix.postings_where(&m.name, &mut |v| !m.matches(v))),
    }
}

/// The refs of series matching all matchers (all series if `ms` is empty).
pub(crate) fn postings_for_matchers(ix: &dyn IndexReader, ms: &[Matcher]) -> RoaringBitmap {
    let mut positives: Vec<&Matcher> = Vec::new();
    let mut negatives: Vec<&Matcher> = Vec::new();
    for m in ms {
        if m.matches_empty() {
            negatives.push(m);
        } else {
            positives.push(m);
        }
    }
    // Cheapest first: equality matchers, their lists borrowed and the
    // shortest first; then sets, then regexes, computed only while the
    // intersection is not yet empty.
    let class = |m: &&Matcher| match m.op {
        MatchOp::Equal => 0,
        MatchOp::RegexMatch if m.set_matches().is_some() => 1,
        _ => 2,
    };
    positives.sort_by_key(class);
    let n_exact = positives
        .iter()
        .take_while(|m| m.op == MatchOp::Equal)
        .count();
    let (exact, rest) = positives.split_at(n_exact);
    let mut exact: Vec<Cow<'_, RoaringBitmap>> =
        exact.iter().map(|m| positive_postings(ix, m)).collect();
    exact.sort_by_key(|p| p.len());
    let lists = exact
        .into_iter()
        .chain(rest.iter().map(|m| positive_postings(ix, m)));
    let mut acc: Option<RoaringBitmap> = None;
    for p in lists {
        match acc.as_mut() {
            None => acc = Some(p.into_owned()),
            Some(a) => intersect_with(a, &p),
        }
        if acc.as_ref().is_some_and(RoaringBitmap::is_empty) {
            return RoaringBitmap::new();
        }
    }
    let mut acc = match acc {
        Some(a) => a,
        None => ix.all_postings(),
    };
    for m in negatives {
        if acc.is_empty() {
            break;
        }
        acc -= &*excluded_postings(ix, m);
    }
    acc
}

/// Label names present on the series in `set` (all series if `None`), sorted.
pub(crate) fn label_names_for(ix: &dyn IndexReader, set: Option<&RoaringBitmap>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut all: Vec<String> = Vec::new();
    ix.for_each_name(&mut |n| {
        all.push(n.to_string());
        true
    });
    for n in all {
        match set {
            None => names.push(n),
            Some(s) => {
                let mut hit = false;
                ix.for_each_value(&n, &mut |_, p| {
                    if !hit && !p.is_disjoint(s) {
                        hit = true;
                    }
                });
                if hit {
                    names.push(n);
                }
            }
        }
    }
    names.sort();
    names
}

/// Values of `name` on the series in `set` (all series if `None`), sorted.
pub(crate) fn label_values_for(
    ix: &dyn IndexReader,
    name: &str,
    set: Option<&RoaringBitmap>,
) -> Vec<String> {
    let mut out = Vec::new();
    ix.for_each_value(name, &mut |v, p| {
        if set.is_none_or(|s| !p.is_disjoint(s)) {
            out.push(v.to_string());
        }
    });
    out.sort();
    out
}

/// The head's in-memory index: the symbol table and postings keyed by symbol ids.
#[derive(Default)]
pub(crate) struct MemIndex {
    pub(crate) syms: Symbols,
    postings: FxMap<u32, FxMap<u32, RoaringBitmap>>,
    all: RoaringBitmap,
}

impl MemIndex {
    pub(crate) fn new() -> MemIndex {
        MemIndex::default()
    }

    /// Interns a series' labels and adds it to the postings.
    pub(crate) fn add<'a>(&mut self, sref: u32, labels: impl Iterator<Item = (&'a str, &'a str)>) {
        for (n, v) in labels {
            let ni = self.syms.intern(n);
            let vi = self.syms.intern(v);
            self.postings
                .entry(ni)
                .or_default()
                .entry(vi)
                .or_default()
                .insert(sref);
        }
        self.all.insert(sref);
    }

    /// Removes a series from the postings and releases its symbols.
    pub(crate) fn remove(&mut self, sref: u32, labels: &[(&str, &str)]) {
        for (n, v) in labels {
            let (Some(ni), Some(vi)) = (self.syms.lookup(n), self.syms.lookup(v)) else {
                continue;
            };
            if let Some(values) = self.postings.get_mut(&ni) {
                if let Some(p) = values.get_mut(&vi) {
                    p.remove(sref);
                    if p.is_empty() {
                        values.remove(&vi);
                    }
                }
                if values.is_empty() {
                    self.postings.remove(&ni);
                }
            }
            self.syms.release(ni);
            self.syms.release(vi);
        }
        self.all.remove(sref);
    }

    /// Number of series indexed.
    pub(crate) fn num_series(&self) -> u64 {
        self.all.len()
    }
}

impl IndexReader for MemIndex {
    fn all_postings(&self) -> RoaringBitmap {
        self.all.clone()
    }

    fn postings(&self, name: &str, value: &str) -> Option<&RoaringBitmap> {
        let (n, v) = (self.syms.lookup(name)?, self.syms.lookup(value)?);
        self.postings.get(&n)?.get(&v)
    }

    fn postings_where(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> RoaringBitmap {
        let Some(vals) = self.syms.lookup(name).and_then(|n| self.postings.get(&n)) else {
            return RoaringBitmap::new();
        };
        let mut out = RoaringBitmap::new();
        for (v, p) in vals {
            if pred(self.syms.get(*v)) {
                out |= p;
            }
        }
        out
    }

    fn for_each_name(&self, f: &mut dyn FnMut(&str) -> bool) {
        for n in self.postings.keys() {
            if !f(self.syms.get(*n)) {
                return;
            }
        }
    }

    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str, &RoaringBitmap)) {
        let Some(vals) = self.syms.lookup(name).and_then(|n| self.postings.get(&n)) else {
            return;
        };
        for (v, p) in vals {
            f(self.syms.get(*v), p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::Labels;
    use proptest::prelude::*;

    fn build(series: &[Labels]) -> MemIndex {
        let mut ix = MemIndex::new();
        for (i, ls) in series.iter().enumerate() {
            ix.add(
                i as u32,
                ls.iter().map(|l| (l.name.as_str(), l.value.as_str())),
            );
        }
        ix
    }

    fn brute(series: &[Labels], ms: &[Matcher]) -> Vec<u32> {
        series
            .iter()
            .enumerate()
            .filter(|(_, ls)| ms.iter().all(|m| m.matches(ls.get(&m.name).unwrap_or(""))))
            .map(|(i, _)| i as u32)
            .collect()
    }

    fn m(op: MatchOp, n: &str, v: &str) -> Matcher {
        Matcher::new(op, n, v).unwrap()
    }

    #[test]
    fn semantics() {
        let s = vec![
            Labels::from_pairs(&[("__name__", "up"), ("job", "a")]),
            Labels::from_pairs(&[("__name__", "up"), ("job", "b"), ("x", "1")]),
            Labels::from_pairs(&[("__name__", "up")]),
            Labels::from_pairs(&[("__name__", "down"), ("job", "a")]),
        ];
        let ix = build(&s);
        let cases: Vec<Vec<Matcher>> = vec![
            vec![m(MatchOp::Equal, "__name__", "up")],
            vec![
                m(MatchOp::Equal, "__name__", "up"),
                m(MatchOp::Equal, "job", ""),
            ],
            vec![
                m(MatchOp::Equal, "__name__", "up"),
                m(MatchOp::NotEqual, "job", "a"),
            ],
            vec![m(MatchOp::RegexMatch, "job", "a|b")],
            vec![m(MatchOp::RegexMatch, "job", "a|")],
            vec![m(MatchOp::RegexMatch, "job", ".*")],
            vec![m(MatchOp::RegexMatch, "job", ".+")],
            vec![m(MatchOp::RegexNoMatch, "job", "a")],
            vec![m(MatchOp::RegexNoMatch, "job", "")],
            vec![m(MatchOp::NotEqual, "job", "")],
            vec![m(MatchOp::Equal, "nope", "")],
            vec![m(MatchOp::Equal, "nope", "x")],
            vec![],
        ];
        for ms in cases {
            let got: Vec<u32> = postings_for_matchers(&ix, &ms).iter().collect();
            assert_eq!(got, brute(&s, &ms), "matchers {ms:?}");
        }
        assert_eq!(label_names_for(&ix, None), vec!["__name__", "job", "x"]);
        let set = postings_for_matchers(&ix, &[m(MatchOp::Equal, "job", "a")]);
        assert_eq!(
            label_values_for(&ix, "__name__", Some(&set)),
            vec!["down", "up"]
        );
        assert_eq!(label_names_for(&ix, Some(&set)), vec!["__name__", "job"]);
        assert!(check_selector(&[m(MatchOp::Equal, "job", "")]).is_err());
        assert!(check_selector(&[m(MatchOp::Equal, "job", "a")]).is_ok());
    }

    #[test]
    fn remove_releases() {
        let s = [
            Labels::from_pairs(&[("a", "1"), ("b", "2")]),
            Labels::from_pairs(&[("a", "1"), ("c", "3")]),
        ];
        let mut ix = MemIndex::new();
        ix.add(0, s[0].iter().map(|l| (l.name.as_str(), l.value.as_str())));
        ix.add(1, s[1].iter().map(|l| (l.name.as_str(), l.value.as_str())));
        let pairs: Vec<(&str, &str)> = s[0]
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        ix.remove(0, &pairs);
        assert_eq!(ix.num_series(), 1);
        assert_eq!(ix.syms.lookup("b"), None);
        assert!(ix.syms.lookup("a").is_some());
        assert_eq!(label_names_for(&ix, None), vec!["a", "c"]);
    }

    fn arb_labels() -> impl Strategy<Value = Labels> {
        proptest::collection::vec(
            (
                prop::sample::select(vec!["a", "b", "c"]),
                prop::sample::select(vec!["x", "y", "z", "xy"]),
            ),
            0..3,
        )
        .prop_map(|v| Labels::from_pairs(&v))
    }

    fn arb_matcher() -> impl Strategy<Value = Matcher> {
        (
            prop::sample::select(vec![
                MatchOp::Equal,
                MatchOp::NotEqual,
                MatchOp::RegexMatch,
                MatchOp::RegexNoMatch,
            ]),
            prop::sample::select(vec!["a", "b", "c", "d"]),
            prop::sample::select(vec!["", "x", "y", "x|y", "x.*", ".*", ".+", "x|", "z|xy"]),
        )
            .prop_map(|(op, n, v)| Matcher::new(op, n, v).unwrap())
    }

    proptest! {
        #[test]
        fn intersect_with_is_and(
            a in proptest::collection::btree_set(0u32..6_000, 0..40),
            b in proptest::collection::btree_set(0u32..6_000, 0..3000),
        ) {
            let (a, b): (RoaringBitmap, RoaringBitmap) =
                (a.into_iter().collect(), b.into_iter().collect());
            let mut got = a.clone();
            intersect_with(&mut got, &b);
            prop_assert_eq!(got, &a & &b);
            let mut got = b.clone();
            intersect_with(&mut got, &a);
            prop_assert_eq!(got, &a & &b);
        }

        #[test]
        fn matches_brute_force(
            series in proptest::collection::vec(arb_labels(), 0..100),
            ms in proptest::collection::vec(arb_matcher(), 0..4),
        ) {
            let ix = build(&series);
            let got: Vec<u32> = postings_for_matchers(&ix, &ms).iter().collect();
            prop_assert_eq!(got, brute(&series, &ms));
        }
    }
}
