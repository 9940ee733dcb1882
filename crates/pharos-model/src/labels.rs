//! Label sets: the identity of a series.
//!
//! [`Labels`] is always sorted by name with unique names; construction through
//! [`Labels::from_pairs`] or [`LabelsBuilder`] guarantees it. Validation of
//! names and values against Prometheus's rules is [`Labels::validate`].

use std::fmt;
use std::sync::Arc;

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label pair.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// A sorted set of label pairs with unique names.
///
/// Immutable and shared: cloning is a reference-count increment, so a query
/// can hand the same label set through every stage without copying strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Arc<[Label]>);

/// Why a label set is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    #[error("invalid label name {0:?}")]
    InvalidName(String),
    #[error("invalid metric name {0:?}")]
    InvalidMetricName(String),
    #[error("empty value for label {0:?}")]
    EmptyValue(String),
    #[error("duplicate label name {0:?}")]
    Duplicate(String),
    #[error("labels not sorted: {0:?} after {1:?}")]
    Unsorted(String, String),
    #[error("label value for {0:?} is not valid UTF-8")]
    InvalidUtf8(String),
    #[error("series has no labels")]
    Empty,
    #[error("too many labels: {0} > limit {1}")]
    TooMany(usize, usize),
    #[error("label name {0:?} longer than limit {1}")]
    NameTooLong(String, usize),
    #[error("value of label {0:?} longer than limit {1}")]
    ValueTooLong(String, usize),
}

/// True if `s` is a valid Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// True if `s` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

impl Labels {
    /// The empty label set.
    pub fn empty() -> Labels {
        Labels::default()
    }

    /// Builds a label set from pairs; sorts them, and on duplicate names keeps the last.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> Labels {
        let mut b = LabelsBuilder::new();
        for (n, v) in pairs {
            b.set(n.as_ref(), v.as_ref());
        }
        b.build()
    }

    /// Wraps a vector that the caller has already sorted and de-duplicated.
    /// Use [`Labels::validate`] when the vector comes from outside the process.
    pub fn from_sorted_unchecked(v: Vec<Label>) -> Labels {
        Labels(v.into())
    }

    /// Builds from a vector in any order; on duplicate names keeps the last one.
    pub fn from_vec(mut v: Vec<Label>) -> Labels {
        v.reverse();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v.dedup_by(|a, b| a.name == b.name);
        Labels(v.into())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The metric name, `__name__`, if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0.to_vec()
    }

    /// A builder seeded with these labels.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            labels: self.0.to_vec(),
        }
    }

    /// A stable 64-bit hash of the label set (xxh3 over names and values).
    pub fn hash64(&self) -> u64 {
        hash_label_pairs(self.0.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    }

    /// Checks the set as remote write and the TSDB require: sorted, unique,
    /// valid names, non-empty values, a valid metric name if present.
    pub fn validate(&self) -> Result<(), LabelError> {
        validate_slice(&self.0)
    }

    /// Labels without the metric name.
    pub fn without_name(&self) -> Labels {
        self.filtered(|l| l.name != METRIC_NAME)
    }

    /// The labels `keep` accepts, in one copy (a subset of a sorted set is
    /// sorted).
    pub fn filtered(&self, mut keep: impl FnMut(&Label) -> bool) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| keep(l))
                .cloned()
                .collect::<Vec<Label>>()
                .into(),
        )
    }
}

/// The hash of [`Labels::hash64`], computed from borrowed `(name, value)`
/// pairs in label order, so a caller holding borrowed labels can find a
/// series without building a [`Labels`].
pub fn hash_label_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> u64 {
    // One-shot xxh3 over a stack buffer for the common case; streaming beyond it.
    let mut buf = [0u8; 512];
    let mut n = 0;
    for (name, value) in pairs.clone() {
        let need = name.len() + value.len() + 2;
        if n + need > buf.len() {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            for (name, value) in pairs {
                h.update(name.as_bytes());
                h.update(&[0xff]);
                h.update(value.as_bytes());
                h.update(&[0xff]);
            }
            return h.digest();
        }
        buf[n..n + name.len()].copy_from_slice(name.as_bytes());
        n += name.len();
        buf[n] = 0xff;
        n += 1;
        buf[n..n + value.len()].copy_from_slice(value.as_bytes());
        n += value.len();
        buf[n] = 0xff;
        n += 1;
    }
    xxhash_rust::xxh3::xxh3_64(&buf[..n])
}

/// Validates labels in their received order (for wire formats that require sorted labels).
pub fn validate_slice(ls: &[Label]) -> Result<(), LabelError> {
    if ls.is_empty() {
        return Err(LabelError::Empty);
    }
    let mut prev: Option<&str> = None;
    for l in ls {
        if l.name == METRIC_NAME {
            if !is_valid_metric_name(&l.value) {
                return Err(LabelError::InvalidMetricName(l.value.clone()));
            }
        } else if !is_valid_label_name(&l.name) {
            return Err(LabelError::InvalidName(l.name.clone()));
        }
        if l.value.is_empty() {
            return Err(LabelError::EmptyValue(l.name.clone()));
        }
        if let Some(p) = prev {
            match p.cmp(l.name.as_str()) {
                std::cmp::Ordering::Equal => return Err(LabelError::Duplicate(l.name.clone())),
                std::cmp::Ordering::Greater => {
                    return Err(LabelError::Unsorted(l.name.clone(), p.to_string()))
                }
                std::cmp::Ordering::Less => {}
            }
        }
        prev = Some(&l.name);
    }
    Ok(())
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Escapes a label value as Prometheus prints it.
fn write_escaped(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '"' => f.write_str("\\\"")?,
            '\n' => f.write_str("\\n")?,
            c => fmt::Write::write_char(f, c)?,
        }
    }
    Ok(())
}

impl fmt::Display for Labels {
    /// Prints `name{a="b", ...}` like Prometheus's `String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        if let Some(n) = name {
            f.write_str(n)?;
        }
        let rest: Vec<&Label> = self.0.iter().filter(|l| l.name != METRIC_NAME).collect();
        if rest.is_empty() && name.is_some() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, l) in rest.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}=\"", l.name)?;
            write_escaped(f, &l.value)?;
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

/// Incremental construction of a [`Labels`]; setting an empty value deletes.
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    labels: Vec<Label>,
}

impl LabelsBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`; an empty value removes the label, as in Prometheus.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        match self.labels.iter_mut().find(|l| l.name == name) {
            Some(l) if value.is_empty() => {
                let n = l.name.clone();
                self.labels.retain(|l| l.name != n);
            }
            Some(l) => l.value = value.to_string(),
            None if value.is_empty() => {}
            None => self.labels.push(Label {
                name: name.to_string(),
                value: value.to_string(),
            }),
        }
        self
    }

    pub fn del(&mut self, name: &str) -> &mut Self {
        self.labels.retain(|l| l.name != name);
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    /// Keeps only labels for which `f` is true.
    pub fn retain(&mut self, mut f: impl FnMut(&Label) -> bool) -> &mut Self {
        self.labels.retain(|l| f(l));
        self
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.labels.iter()
    }

    pub fn build(&self) -> Labels {
        let mut v = self.labels.clone();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Labels(v.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_display() {
        let l = Labels::from_pairs(&[("b", "2"), ("__name__", "m"), ("a", "x\"y")]);
        assert_eq!(l.to_string(), r#"m{a="x\"y", b="2"}"#);
        assert!(l.validate().is_ok());
        assert_eq!(Labels::from_pairs(&[("a", "1")]).to_string(), r#"{a="1"}"#);
    }

    #[test]
    fn validation_errors() {
        let v = |p: &[(&str, &str)]| {
            validate_slice(
                &p.iter()
                    .map(|(n, v)| Label {
                        name: n.to_string(),
                        value: v.to_string(),
                    })
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            v(&[("a", "1"), ("a", "2")]),
            Err(LabelError::Duplicate("a".into()))
        );
        assert!(matches!(
            v(&[("b", "1"), ("a", "2")]),
            Err(LabelError::Unsorted(..))
        ));
        assert_eq!(v(&[("1a", "1")]), Err(LabelError::InvalidName("1a".into())));
        assert_eq!(v(&[("a", "")]), Err(LabelError::EmptyValue("a".into())));
        assert_eq!(
            v(&[("__name__", "a-b")]),
            Err(LabelError::InvalidMetricName("a-b".into()))
        );
    }

    #[test]
    fn pair_hash_matches_streaming_hash_for_long_labels() {
        let long = "x".repeat(600);
        let short = Labels::from_pairs(&[("a", "1"), ("b", "2")]);
        let big = Labels::from_pairs(&[("a", long.as_str()), ("b", "2")]);
        let stream = |l: &Labels| {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            for x in l {
                h.update(x.name.as_bytes());
                h.update(&[0xff]);
                h.update(x.value.as_bytes());
                h.update(&[0xff]);
            }
            h.digest()
        };
        assert_eq!(short.hash64(), stream(&short));
        assert_eq!(big.hash64(), stream(&big));
        assert_ne!(short.hash64(), big.hash64());
    }

    #[test]
    fn builder_set_empty_deletes() {
        let l = Labels::from_pairs(&[("a", "1"), ("b", "2")]);
        let mut b = l.builder();
        b.set("a", "");
        b.set("c", "3");
        assert_eq!(b.build(), Labels::from_pairs(&[("b", "2"), ("c", "3")]));
    }
}
