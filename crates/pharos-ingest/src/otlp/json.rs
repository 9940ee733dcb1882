//! OTLP/JSON (`Content-Type: application/json`) metrics requests.
//!
//! The `opentelemetry-proto` crate's serde support reads OTLP/JSON as the
//! OpenTelemetry SDKs send it: lowerCamelCase keys, 64-bit integers as strings
//! or numbers, hex trace and span ids, enums as integers, unknown keys ignored.
//! Its gaps, which this module closes before and after handing the document to it:
//!
//! - a malformed value inside a metric's data (`"sum":{...}`, a data point's
//!   `asDouble`, an exemplar) is *silently* dropped, because those `oneof`s are
//!   `#[serde(flatten)]`ed; here it is reported as a [`DecodeError::Json`] with
//!   its path, so that no data disappears without a word;
//! - original proto field names (`resource_metrics`, `time_unix_nano`), which
//!   the protobuf JSON mapping lets parsers accept, were ignored: keys are
//!   rewritten to lowerCamelCase first;
//! - enum names (`"AGGREGATION_TEMPORALITY_CUMULATIVE"`) are turned into numbers;
//! - doubles written as strings (`"1.5"`, and `"NaN"`, `"Infinity"`,
//!   `"-Infinity"`, which JSON numbers cannot express) are accepted for point
//!   values, sums, minima, maxima, quantile values and exemplar values.

use serde::Deserialize;
use serde_json::Value;

use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric::Data, number_data_point, Exemplar, ExponentialHistogram, Gauge, Histogram,
    Metric, Sum, Summary,
};

use super::{DecodeError, ExportMetricsServiceRequest};

/// Keys whose values are doubles (or arrays of doubles) in the metrics schema.
const DOUBLE_KEYS: [&str; 9] = [
    "asDouble",
    "sum",
    "min",
    "max",
    "value",
    "quantile",
    "zeroThreshold",
    "explicitBounds",
    "doubleValue",
];
/// The `oneof data` keys of a metric.
const DATA_KEYS: [&str; 5] = [
    "gauge",
    "sum",
    "histogram",
    "exponentialHistogram",
    "summary",
];

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest` (already decompressed).
pub fn decode_json(body: &[u8]) -> Result<ExportMetricsServiceRequest, DecodeError> {
    let mut v: Value =
        serde_json::from_slice(body).map_err(|e| DecodeError::Json(e.to_string()))?;
    normalize(&mut v);
    let fixes = non_finite_fixes(&mut v);
    let mut req = ExportMetricsServiceRequest::deserialize(&v)
        .map_err(|e| DecodeError::Json(e.to_string()))?;
    for f in &fixes {
        apply(&mut req, f);
    }
    check(&v, &req)?;
    Ok(req)
}

/// lowerCamelCase keys, enum names as numbers, finite doubles in strings as numbers.
fn normalize(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let old = std::mem::take(map);
            for (k, mut val) in old {
                let k = if k.contains('_') { camel(&k) } else { k };
                if k == "aggregationTemporality" {
                    if let Some(n) = val.as_str().and_then(temporality) {
                        val = Value::from(n);
                    }
                } else if DOUBLE_KEYS.contains(&k.as_str()) {
                    finite_number(&mut val);
                    if let Value::Array(a) = &mut val {
                        a.iter_mut().for_each(finite_number);
                    }
                }
                normalize(&mut val);
                map.insert(k, val);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        _ => {}
    }
}

fn camel(k: &str) -> String {
    let mut out = String::with_capacity(k.len());
    let mut upper = false;
    for c in k.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn temporality(s: &str) -> Option<i64> {
    match s {
        "AGGREGATION_TEMPORALITY_UNSPECIFIED" => Some(0),
        "AGGREGATION_TEMPORALITY_DELTA" => Some(1),
        "AGGREGATION_TEMPORALITY_CUMULATIVE" => Some(2),
        _ => None,
    }
}

/// A string holding a finite double becomes a number.
fn finite_number(v: &mut Value) {
    if let Some(n) = v
        .as_str()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .and_then(serde_json::Number::from_f64)
    {
        *v = Value::Number(n);
    }
}

/// The value of a string that proto3 JSON allows for a double that JSON
/// numbers cannot hold.
fn non_finite(v: &Value) -> Option<f64> {
    match v.as_str()? {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// Which double of a data point a [`Fix`] sets.
#[derive(Debug, Clone, Copy)]
enum Field {
    Value,
    Sum,
    Min,
    Max,
    QuantileValue(usize),
    ExemplarValue(usize),
}

/// A non-finite double taken out of the document, to be put back after decoding.
#[derive(Debug, Clone, Copy)]
struct Fix {
    /// Resource, scope, metric, data point.
    at: [usize; 4],
    field: Field,
    value: f64,
}

/// Children of `v[key]` as an array, or nothing.
fn items<'a>(v: &'a mut Value, key: &str) -> impl Iterator<Item = (usize, &'a mut Value)> {
    v.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .enumerate()
}

/// Replaces `"NaN"`, `"Infinity"`, `"-Infinity"` in the doubles of data points
/// by 0 and records them.
fn non_finite_fixes(v: &mut Value) -> Vec<Fix> {
    let mut fixes = Vec::new();
    for (r, rm) in items(v, "resourceMetrics") {
        for (s, sm) in items(rm, "scopeMetrics") {
            for (m, metric) in items(sm, "metrics") {
                for key in DATA_KEYS {
                    let Some(data) = metric.get_mut(key) else {
                        continue;
                    };
                    for (p, point) in items(data, "dataPoints") {
                        let mut take = |slot: Option<&mut Value>, field: Field| {
                            if let Some(slot) = slot {
                                if let Some(value) = non_finite(slot) {
                                    *slot = Value::from(0.0);
                                    fixes.push(Fix {
                                        at: [r, s, m, p],
                                        field,
                                        value,
                                    });
                                }
                            }
                        };
                        take(point.get_mut("asDouble"), Field::Value);
                        take(point.get_mut("sum"), Field::Sum);
                        take(point.get_mut("min"), Field::Min);
                        take(point.get_mut("max"), Field::Max);
                        for (q, qv) in items(point, "quantileValues") {
                            take(qv.get_mut("value"), Field::QuantileValue(q));
                        }
                        for (e, ev) in items(point, "exemplars") {
                            take(ev.get_mut("asDouble"), Field::ExemplarValue(e));
                        }
                    }
                }
            }
        }
    }
    fixes
}

fn set_exemplar(exemplars: &mut [Exemplar], i: usize, v: f64) {
    if let Some(e) = exemplars.get_mut(i) {
        e.value = Some(exemplar::Value::AsDouble(v));
    }
}

/// Puts one recorded non-finite double into the decoded request.
fn apply(req: &mut ExportMetricsServiceRequest, f: &Fix) {
    let [r, s, m, p] = f.at;
    let Some(data) = req
        .resource_metrics
        .get_mut(r)
        .and_then(|rm| rm.scope_metrics.get_mut(s))
        .and_then(|sm| sm.metrics.get_mut(m))
        .and_then(|m| m.data.as_mut())
    else {
        return;
    };
    let v = f.value;
    match data {
        Data::Gauge(Gauge { data_points, .. }) | Data::Sum(Sum { data_points, .. }) => {
            let Some(pt) = data_points.get_mut(p) else {
                return;
            };
            match f.field {
                Field::Value => pt.value = Some(number_data_point::Value::AsDouble(v)),
                Field::ExemplarValue(i) => set_exemplar(&mut pt.exemplars, i, v),
                _ => {}
            }
        }
        Data::Histogram(h) => {
            let Some(pt) = h.data_points.get_mut(p) else {
                return;
            };
            match f.field {
                Field::Sum => pt.sum = Some(v),
                Field::Min => pt.min = Some(v),
                Field::Max => pt.max = Some(v),
                Field::ExemplarValue(i) => set_exemplar(&mut pt.exemplars, i, v),
                _ => {}
            }
        }
        Data::ExponentialHistogram(h) => {
            let Some(pt) = h.data_points.get_mut(p) else {
                return;
            };
            match f.field {
                Field::Sum => pt.sum = Some(v),
                Field::Min => pt.min = Some(v),
                Field::Max => pt.max = Some(v),
                Field::ExemplarValue(i) => set_exemplar(&mut pt.exemplars, i, v),
                _ => {}
            }
        }
        Data::Summary(sm) => {
            let Some(pt) = sm.data_points.get_mut(p) else {
                return;
            };
            match f.field {
                Field::Sum => pt.sum = v,
                Field::QuantileValue(i) => {
                    if let Some(q) = pt.quantile_values.get_mut(i) {
                        q.value = v;
                    }
                }
                _ => {}
            }
        }
    }
}

/// Children of `v[key]` as an array, read-only.
fn list<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = (usize, &'a Value)> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

/// Finds what the flattened `oneof`s dropped silently and reports it.
fn check(v: &Value, req: &ExportMetricsServiceRequest) -> Result<(), DecodeError> {
    for (r, rmv) in list(v, "resourceMetrics") {
        let Some(rm) = req.resource_metrics.get(r) else {
            continue;
        };
        for (s, smv) in list(rmv, "scopeMetrics") {
            let Some(sm) = rm.scope_metrics.get(s) else {
                continue;
            };
            for (m, mv) in list(smv, "metrics") {
                let Some(metric) = sm.metrics.get(m) else {
                    continue;
                };
                let path = format!("resourceMetrics[{r}].scopeMetrics[{s}].metrics[{m}]");
                check_metric(mv, metric, &path)?;
            }
        }
    }
    Ok(())
}

fn check_metric(mv: &Value, m: &Metric, path: &str) -> Result<(), DecodeError> {
    let present: Vec<&str> = DATA_KEYS
        .into_iter()
        .filter(|k| mv.get(*k).is_some_and(|d| !d.is_null()))
        .collect();
    let Some(data) = &m.data else {
        if present.is_empty() {
            return Ok(()); // no data at all: the converter reports it
        }
        for k in &present {
            let d = &mv[*k];
            let r = match *k {
                "gauge" => Gauge::deserialize(d).map(drop),
                "sum" => Sum::deserialize(d).map(drop),
                "histogram" => Histogram::deserialize(d).map(drop),
                "exponentialHistogram" => ExponentialHistogram::deserialize(d).map(drop),
                _ => Summary::deserialize(d).map(drop),
            };
            if let Err(e) = r {
                return Err(DecodeError::Json(format!("{path}.{k}: {e}")));
            }
        }
        return Err(DecodeError::Json(format!(
            "{path}: metric data could not be decoded ({})",
            present.join(", ")
        )));
    };
    let key = match data {
        Data::Gauge(_) => "gauge",
        Data::Sum(_) => "sum",
        Data::Histogram(_) => "histogram",
        Data::ExponentialHistogram(_) => "exponentialHistogram",
        Data::Summary(_) => "summary",
    };
    let points = list(&mv[key], "dataPoints");
    for (p, pv) in points {
        let here = || format!("{path}.{key}.dataPoints[{p}]");
        let has_value = |v: &Value| {
            ["asDouble", "asInt"]
                .into_iter()
                .find(|k| v.get(*k).is_some_and(|x| !x.is_null()))
        };
        let (value_lost, exemplars) = match data {
            Data::Gauge(g) => point_state(
                g.data_points
                    .get(p)
                    .map(|x| (x.value.is_none(), &x.exemplars)),
            ),
            Data::Sum(s) => point_state(
                s.data_points
                    .get(p)
                    .map(|x| (x.value.is_none(), &x.exemplars)),
            ),
            Data::Histogram(h) => point_state(h.data_points.get(p).map(|x| (false, &x.exemplars))),
            Data::ExponentialHistogram(h) => {
                point_state(h.data_points.get(p).map(|x| (false, &x.exemplars)))
            }
            Data::Summary(_) => (false, None),
        };
        if value_lost {
            if let Some(k) = has_value(pv) {
                return Err(DecodeError::Json(format!(
                    "{}.{k}: invalid value {}",
                    here(),
                    pv[k]
                )));
            }
        }
        for (e, ev) in list(pv, "exemplars") {
            let lost = exemplars
                .and_then(|x| x.get(e))
                .is_some_and(|x| x.value.is_none());
            if let Some(k) = has_value(ev).filter(|_| lost) {
                return Err(DecodeError::Json(format!(
                    "{}.exemplars[{e}].{k}: invalid value {}",
                    here(),
                    ev[k]
                )));
            }
        }
    }
    Ok(())
}

fn point_state(p: Option<(bool, &Vec<Exemplar>)>) -> (bool, Option<&Vec<Exemplar>>) {
    match p {
        Some((lost, ex)) => (lost, Some(ex)),
        None => (false, None),
    }
}
