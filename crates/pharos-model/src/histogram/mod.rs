//! Native histograms: the float representation PromQL computes with.
//!
//! A [`FloatHistogram`] has the shape of Prometheus's `FloatHistogram`:
//! a schema, a zero bucket, and sparse positive/negative buckets described
//! by spans. Bucket counts are absolute (not deltas). With schema
//! [`CUSTOM_BUCKETS_SCHEMA`] the positive buckets are "custom buckets" whose
//! upper bounds are listed in `custom_values` (the last bucket ends at +Inf);
//! such histograms have no zero bucket and no negative buckets.
//!
//! Bucket `i` of an exponential schema `s` covers `(2^((i-1)·2^-s), 2^(i·2^-s)]`
//! for positive buckets, mirrored for negative ones. Bounds are computed
//! exactly as Prometheus computes them ([`exponential_bound`]).
//!
//! Arithmetic follows Prometheus's `model/histogram` package: `add`, `sub`,
//! `kahan_add`, `mul`, `div`, `compact`, `reduce_resolution`, `detect_reset`,
//! `equals`, `validate` and `test_expression` are methods of
//! [`FloatHistogram`]; bucket iteration is `positive_buckets()`,
//! `negative_buckets()`, `all_buckets()` and `all_buckets_reverse()`. None of
//! them panics, whatever the input; inconsistent layouts make the binary
//! operations fail with [`HistogramError::Invalid`].

mod bounds;
mod compact;
mod format;
mod iter;
mod ops;
mod validate;

pub use bounds::{
    bucket_lower_bound, bucket_upper_bound, exponential_bound, is_exponential_schema,
    is_valid_schema, MAX_EXPONENTIAL_SCHEMA_RESERVED, MIN_EXPONENTIAL_SCHEMA_RESERVED,
};
pub use iter::{Bucket, BucketIter};
pub use ops::{kahan_inc, AddOutcome, HistogramError};

/// The schema of histograms with custom bucket boundaries (NHCB).
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;
/// Smallest exponential schema PromQL computes with (Prometheus accepts down
/// to [`MIN_EXPONENTIAL_SCHEMA_RESERVED`] on ingest and reduces to this).
pub const MIN_EXPONENTIAL_SCHEMA: i32 = -4;
/// Largest exponential schema.
pub const MAX_EXPONENTIAL_SCHEMA: i32 = 8;

/// A run of consecutive buckets: `offset` is the gap to the previous span's
/// end (or, for the first span, the index of its first bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub offset: i32,
    pub length: u32,
}

impl Span {
    pub fn new(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }
}

/// What the producer said about counter resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum CounterResetHint {
    /// Nothing known; compare with the previous histogram to find out.
    #[default]
    Unknown,
    /// This histogram follows a counter reset.
    CounterReset,
    /// No counter reset since the previous histogram.
    NotCounterReset,
    /// A gauge histogram: it may go up and down, there are no resets.
    Gauge,
}

/// A native histogram with float counts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    pub counter_reset_hint: CounterResetHint,
    pub schema: i32,
    /// Width of the zero bucket: it covers `[-zero_threshold, zero_threshold]`.
    pub zero_threshold: f64,
    pub zero_count: f64,
    /// Total number of observations.
    pub count: f64,
    /// Sum of the observations.
    pub sum: f64,
    pub positive_spans: Vec<Span>,
    pub negative_spans: Vec<Span>,
    /// Absolute counts of the buckets the positive spans describe.
    pub positive_buckets: Vec<f64>,
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of the custom buckets (schema [`CUSTOM_BUCKETS_SCHEMA`]), ascending.
    pub custom_values: Vec<f64>,
}

impl FloatHistogram {
    /// True for a histogram with custom bucket boundaries.
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// True if the sum is the staleness marker.
    pub fn is_stale(&self) -> bool {
        crate::is_stale_nan(self.sum)
    }
}
