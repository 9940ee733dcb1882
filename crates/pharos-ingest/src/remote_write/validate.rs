//! Validation of a decoded `WriteRequest` and conversion to the model.
//!
//! Rules (remote write 1.0, as Prometheus enforces them): label names sorted
//! and unique, names matching `[a-zA-Z_][a-zA-Z0-9_]*`, a `__name__` value that
//! is a valid metric name, non-empty values, UTF-8 throughout, plus the
//! configured [`Limits`]. A series that breaks a rule is rejected as a whole and
//! reported in [`Validated::rejected`]; the rest of the request stays usable.
//! A series without samples is accepted. A `__name__` label is not required,
//! as in Prometheus.

use pharos_model::{
    is_valid_label_name, is_valid_metric_name, Exemplar, Label, LabelError, Labels, MetricMetadata,
    Sample, METRIC_NAME,
};

use super::proto;

/// Longest printable series kept in a [`Rejection`].
const MAX_SERIES_CHARS: usize = 256;
/// Longest label set of an exemplar, in characters of names and values (OpenMetrics).
pub const MAX_EXEMPLAR_LABELS_CHARS: usize = 128;
/// How many rejection reasons [`summarize`] spells out.
const SUMMARY_REASONS: usize = 3;

/// Per-series limits; 0 means unlimited (the default, as in Prometheus).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_labels_per_series: usize,
    pub max_label_name_len: usize,
    pub max_label_value_len: usize,
}

/// A series that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    pub exemplars: Vec<Exemplar>,
}

/// A series refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The series' labels, printed (and truncated) for a human.
    pub series: String,
    /// Why, in lowercase words.
    pub reason: String,
    /// How many samples the series carried.
    pub samples: usize,
}

/// The outcome of [`validate`]: what to append and what was refused.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Validated {
    pub series: Vec<ValidSeries>,
    /// Metric family name and its metadata.
    pub metadata: Vec<(String, MetricMetadata)>,
    pub rejected: Vec<Rejection>,
    /// Samples in rejected series.
    pub rejected_samples: usize,
    /// Exemplars dropped because their labels were invalid (in accepted series).
    pub rejected_exemplars: usize,
    /// Metadata entries dropped because the family name was not a valid metric name.
    pub rejected_metadata: usize,
    /// Native histogram samples received; pharos does not ingest them yet.
    pub unsupported_histograms: usize,
}

impl Validated {
    /// The message for a 400 answer, or `None` if nothing was refused.
    /// Unsupported native histograms alone do not make an error.
    pub fn error_message(&self) -> Option<String> {
        if self.rejected.is_empty() {
            None
        } else {
            Some(summarize(&self.rejected))
        }
    }
}

/// A concise account of rejections for an HTTP 400 body:
/// `2 series rejected (5 samples): invalid label name "1a" in {...}; ...`.
pub fn summarize(rejected: &[Rejection]) -> String {
    let samples: usize = rejected.iter().map(|r| r.samples).sum();
    let mut out = format!(
        "{} series rejected ({} sample{})",
        rejected.len(),
        samples,
        if samples == 1 { "" } else { "s" }
    );
    for (i, r) in rejected.iter().take(SUMMARY_REASONS).enumerate() {
        out.push_str(if i == 0 { ": " } else { "; " });
        out.push_str(&r.reason);
        out.push_str(" in ");
        out.push_str(&r.series);
    }
    if rejected.len() > SUMMARY_REASONS {
        out.push_str(&format!("; and {} more", rejected.len() - SUMMARY_REASONS));
    }
    out
}

/// Validates every series of `req` and converts the good ones to the model.
pub fn validate(req: proto::WriteRequest, limits: &Limits) -> Validated {
    let mut out = Validated::default();
    for ts in req.timeseries {
        out.unsupported_histograms += ts.histograms.len();
        let raw: Vec<(&[u8], &[u8])> = ts
            .labels
            .iter()
            .map(|l| (&l.name[..], &l.value[..]))
            .collect();
        let mut pairs = Vec::with_capacity(raw.len());
        if let Err(rejection) = series_pairs(&raw, ts.samples.len(), limits, &mut pairs) {
            out.rejected_samples += rejection.samples;
            out.rejected.push(rejection);
            continue;
        }
        let labels = Labels::from_sorted_unchecked(
            pairs
                .iter()
                .map(|&(name, value)| Label {
                    name: name.to_string(),
                    value: value.to_string(),
                })
                .collect(),
        );
        let samples = ts
            .samples
            .iter()
            .map(|s| Sample::new(s.timestamp, s.value))
            .collect();
        let mut exemplars = Vec::with_capacity(ts.exemplars.len());
        for e in ts.exemplars {
            match exemplar(e) {
                Some(e) => exemplars.push(e),
                None => out.rejected_exemplars += 1,
            }
        }
        out.series.push(ValidSeries {
            labels,
            samples,
            exemplars,
        });
    }
    for m in req.metadata {
        match metadata(m) {
            Some(m) => out.metadata.push(m),
            None => out.rejected_metadata += 1,
        }
    }
    out
}

/// Checks the raw labels of one series (in received order) and fills `out`
/// with them as text; on failure, the [`Rejection`] of a series that carried
/// `samples` samples. Shared by [`validate`] and the zero-copy decoder.
pub(super) fn series_pairs<'a>(
    raw: &[(&'a [u8], &'a [u8])],
    samples: usize,
    limits: &Limits,
    out: &mut Vec<(&'a str, &'a str)>,
) -> Result<(), Rejection> {
    out.clear();
    check_raw_labels(raw, limits, out).map_err(|e| Rejection {
        series: printable_series(raw),
        reason: e.to_string(),
        samples,
    })
}

fn check_raw_labels<'a>(
    raw: &[(&'a [u8], &'a [u8])],
    limits: &Limits,
    out: &mut Vec<(&'a str, &'a str)>,
) -> Result<(), LabelError> {
    if limits.max_labels_per_series > 0 && raw.len() > limits.max_labels_per_series {
        return Err(LabelError::TooMany(raw.len(), limits.max_labels_per_series));
    }
    for &(name, value) in raw {
        let name = std::str::from_utf8(name)
            .map_err(|_| LabelError::InvalidName(String::from_utf8_lossy(name).into_owned()))?;
        let value =
            std::str::from_utf8(value).map_err(|_| LabelError::InvalidUtf8(name.to_string()))?;
        if limits.max_label_name_len > 0 && name.len() > limits.max_label_name_len {
            return Err(LabelError::NameTooLong(
                name.to_string(),
                limits.max_label_name_len,
            ));
        }
        if limits.max_label_value_len > 0 && value.len() > limits.max_label_value_len {
            return Err(LabelError::ValueTooLong(
                name.to_string(),
                limits.max_label_value_len,
            ));
        }
        out.push((name, value));
    }
    check_pairs(out)
}

/// [`pharos_model::validate_slice`] over borrowed pairs: not empty, valid
/// names, a valid metric name, non-empty values, sorted, unique.
pub(super) fn check_pairs(ls: &[(&str, &str)]) -> Result<(), LabelError> {
    if ls.is_empty() {
        return Err(LabelError::Empty);
    }
    let mut prev: Option<&str> = None;
    for &(name, value) in ls {
        if name == METRIC_NAME {
            if !is_valid_metric_name(value) {
                return Err(LabelError::InvalidMetricName(value.to_string()));
            }
        } else if !is_valid_label_name(name) {
            return Err(LabelError::InvalidName(name.to_string()));
        }
        if value.is_empty() {
            return Err(LabelError::EmptyValue(name.to_string()));
        }
        if let Some(p) = prev {
            match p.cmp(name) {
                std::cmp::Ordering::Equal => return Err(LabelError::Duplicate(name.to_string())),
                std::cmp::Ordering::Greater => {
                    return Err(LabelError::Unsorted(name.to_string(), p.to_string()))
                }
                std::cmp::Ordering::Less => {}
            }
        }
        prev = Some(name);
    }
    Ok(())
}

/// An exemplar of an accepted series, or `None` if its labels are invalid.
pub(super) fn exemplar(e: proto::Exemplar) -> Option<Exemplar> {
    Some(Exemplar {
        labels: exemplar_labels(e.labels)?,
        value: e.value,
        t: Some(e.timestamp),
    })
}

/// A metadata entry, or `None` if the family name is not a valid metric name.
pub(super) fn metadata(m: proto::MetricMetadata) -> Option<(String, MetricMetadata)> {
    if !is_valid_metric_name(&m.metric_family_name) {
        return None;
    }
    let metric_type = proto::MetricType::try_from(m.r#type)
        .unwrap_or(proto::MetricType::Unknown)
        .to_model();
    Some((
        m.metric_family_name,
        MetricMetadata {
            metric_type,
            help: m.help,
            unit: m.unit,
        },
    ))
}

/// Exemplar labels: UTF-8, valid unique names, at most
/// [`MAX_EXEMPLAR_LABELS_CHARS`] characters; empty values are dropped.
fn exemplar_labels(raw: Vec<proto::Label>) -> Option<Labels> {
    let mut v = Vec::with_capacity(raw.len());
    let mut chars = 0;
    for l in raw {
        let name = String::from_utf8(l.name).ok()?;
        let value = String::from_utf8(l.value).ok()?;
        if !is_valid_label_name(&name) {
            return None;
        }
        chars += name.chars().count() + value.chars().count();
        if !value.is_empty() {
            v.push(Label { name, value });
        }
    }
    if chars > MAX_EXEMPLAR_LABELS_CHARS {
        return None;
    }
    v.sort();
    if v.windows(2).any(|w| w[0].name == w[1].name) {
        return None;
    }
    Some(Labels::from_sorted_unchecked(v))
}

/// `name{a="b", ...}` from raw labels, lossy and truncated.
fn printable_series(raw: &[(&[u8], &[u8])]) -> String {
    let v = raw
        .iter()
        .map(|(name, value)| Label {
            name: String::from_utf8_lossy(name).into_owned(),
            value: String::from_utf8_lossy(value).into_owned(),
        })
        .collect();
    let mut s = Labels::from_sorted_unchecked(v).to_string();
    if let Some((i, _)) = s.char_indices().nth(MAX_SERIES_CHARS) {
        s.truncate(i);
        s.push('…');
    }
    s
}
