//! The storage seams: how ingest writes and how queries read.
//!
//! An [`Appender`] is a transaction: samples appended to it become visible and
//! durable only on [`Appender::commit`]; [`Appender::rollback`] discards them.
//! A [`Querier`] covers one time range. Neither trait knows the engine behind it.

use crate::{Labels, Matcher, Sample};

/// Why one sample was refused. The variants are the reasons counted in
/// `pharos_tsdb_rejected_samples_total{reason=...}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    #[error("out of order sample")]
    OutOfOrder,
    #[error("duplicate sample for timestamp")]
    DuplicateTimestamp,
    #[error("out of bounds")]
    OutOfBounds,
    #[error("too old sample")]
    TooOld,
    #[error("invalid labels: {0}")]
    InvalidLabels(#[from] crate::LabelError),
}

impl AppendError {
    /// A short reason string for metrics and messages.
    pub fn reason(&self) -> &'static str {
        match self {
            AppendError::OutOfOrder => "out_of_order",
            AppendError::DuplicateTimestamp => "duplicate",
            AppendError::OutOfBounds => "out_of_bounds",
            AppendError::TooOld => "too_old",
            AppendError::InvalidLabels(_) => "invalid_labels",
        }
    }
}

/// Failure of the storage itself (I/O), as opposed to a bad sample.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage is closed")]
    Closed,
    #[error("{0}")]
    Other(String),
}

/// What a commit did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitStats {
    /// Samples accepted.
    pub samples: usize,
    pub series_created: usize,
    /// Samples that passed `append` but were refused when judged again at
    /// commit (e.g. two samples of one series out of order in one transaction).
    pub rejected: Vec<CommitRejection>,
}

/// One sample refused at commit time.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitRejection {
    pub labels: Labels,
    pub t: i64,
    pub error: AppendError,
}

/// An exemplar attached to a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub labels: Labels,
    pub value: f64,
    pub t: Option<i64>,
}

/// Metric type as declared by `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    #[serde(rename = "gaugehistogram")]
    GaugeHistogram,
    Summary,
    Info,
    Stateset,
    #[default]
    Unknown,
}

impl MetricType {
    pub fn parse(s: &str) -> Option<MetricType> {
        Some(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::Stateset,
            "untyped" | "unknown" => MetricType::Unknown,
            _ => return None,
        })
    }
}

/// HELP/TYPE/UNIT of a metric family.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricMetadata {
    pub metric_type: MetricType,
    pub help: String,
    pub unit: String,
}

/// A write transaction.
pub trait Appender: Send {
    /// Stages one sample. A refused sample is reported and does not poison the transaction.
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError>;

    /// Stages one sample for a series given as borrowed `(name, value)` pairs,
    /// sorted by name with unique names (the store validates them when it
    /// creates the series). Stores override this to find existing series
    /// without building a [`Labels`]; the default builds one.
    fn append_pairs(&mut self, pairs: &[(&str, &str)], t: i64, v: f64) -> Result<(), AppendError> {
        let labels = Labels::from_sorted_unchecked(
            pairs
                .iter()
                .map(|(n, v)| crate::Label {
                    name: (*n).to_string(),
                    value: (*v).to_string(),
                })
                .collect(),
        );
        self.append(&labels, t, v)
    }

    /// Stages an exemplar for the series; storages without exemplar support ignore it.
    fn append_exemplar(&mut self, _labels: &Labels, _e: &Exemplar) -> Result<(), AppendError> {
        Ok(())
    }

    /// Records metadata of a metric family; storages without metadata support ignore it.
    fn update_metadata(&mut self, _metric_family: &str, _meta: &MetricMetadata) {}

    /// Makes everything staged durable and visible.
    fn commit(self: Box<Self>) -> Result<CommitStats, StorageError>;

    /// Discards everything staged.
    fn rollback(self: Box<Self>);
}

/// Something that hands out appenders.
pub trait Appendable: Send + Sync {
    fn appender(&self) -> Box<dyn Appender>;
}

/// A series returned by a querier: its labels and its samples in time order.
pub trait Series: Send {
    fn labels(&self) -> &Labels;
    /// Samples in ascending time order within the querier's range.
    fn samples(&self) -> Box<dyn Iterator<Item = Sample> + '_>;
    /// Appends the float samples with `mint <= t <= maxt` to `out` in time
    /// order, staleness markers included. The default walks
    /// [`Series::samples`]; a store overrides it with a tighter loop.
    fn append_floats(&self, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) {
        out.extend(
            self.samples()
                .filter(|s| s.t >= mint && s.t <= maxt)
                .map(|s| (s.t, s.v)),
        );
    }
    /// Native histogram samples in ascending time order within the
    /// querier's range. A series may hold floats and histograms at
    /// different times; stores without histogram support return none.
    fn histograms(&self) -> Box<dyn Iterator<Item = (i64, crate::histogram::FloatHistogram)> + '_> {
        Box::new(std::iter::empty())
    }
}

/// Read access to one time range `[mint, maxt]` (milliseconds, inclusive).
pub trait Querier: Send {
    /// Series matching all matchers, sorted by labels.
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Box<dyn Series>>, StorageError>;
    /// Like [`Querier::select`], but the series may come in any order (a
    /// store whose natural order is not label order may skip the sort, as
    /// Prometheus's `Select(sortSeries=false)` does). The default sorts.
    fn select_unsorted(&self, matchers: &[Matcher]) -> Result<Vec<Box<dyn Series>>, StorageError> {
        self.select(matchers)
    }
    /// Label names present on series matching the matchers (all if empty), sorted.
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;
    /// Values of `name` on series matching the matchers, sorted.
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;
}

/// Something that hands out queriers.
pub trait Queryable: Send + Sync {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError>;
}
