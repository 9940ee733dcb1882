//! Query results: the four PromQL value types and the result envelope.
//!
//! A point holds a float or a native histogram.

use pharos_model::histogram::FloatHistogram;
use pharos_model::Labels;

/// One point of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct VecSample {
    pub labels: Labels,
    /// Evaluation timestamp (ms).
    pub t: i64,
    /// The float value (0 when `h` is set).
    pub v: f64,
    /// A native histogram value instead of a float.
    pub h: Option<Box<FloatHistogram>>,
}

/// One series of a range vector (matrix) or of a range query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    /// Points in ascending time order (ms, value).
    pub points: Vec<(i64, f64)>,
    /// Native histogram points in ascending time order.
    pub histograms: Vec<(i64, FloatHistogram)>,
}

/// A PromQL value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, s: String },
    Vector(Vec<VecSample>),
    Matrix(Vec<RangeSeries>),
}

impl Value {
    /// `resultType` of the HTTP API.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// A query's answer with its annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    /// Annotations of level warning (Prometheus's `warnings`).
    pub warnings: Vec<String>,
    /// Annotations of level info (Prometheus's `infos`).
    pub infos: Vec<String>,
}
