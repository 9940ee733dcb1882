//! OTLP logs to log streams: decode an `ExportLogsServiceRequest` from binary
//! protobuf ([`decode_logs_protobuf`], OTLP/HTTP `application/x-protobuf`)
//! or OTLP/JSON ([`decode_logs_json`], `application/json`), or take one from
//! the gRPC service, and [`convert`] it to [`LogStream`]s.
//!
//! # Mapping
//!
//! | OTLP                                    | log model                                                            |
//! |-----------------------------------------|----------------------------------------------------------------------|
//! | resource attributes in [`LABEL_ATTRIBUTES`] | stream labels, dots replaced by `_` (`service.name` → `service_name`) |
//! | no `service.name`                       | label `service_name="unknown_service"` (as Loki, and the SDK default) |
//! | `severity_text`, else `severity_number` | label `level`: the text lower-cased; else by number 1–4 `trace`, 5–8 `debug`, 9–12 `info`, 13–16 `warn`, 17–20 `error`, 21–24 `fatal`; unspecified or out of range `unknown` (as Loki's `detected_level`) |
//! | `body`                                  | the line: a string as it is, other values as their text (below)     |
//! | `time_unix_nano`                        | the timestamp; if 0, `observed_time_unix_nano`; if 0 too, `now_ns`  |
//! | log record attributes                   | metadata, first                                                      |
//! | `trace_id`, `span_id`                   | metadata `trace_id`, `span_id` as lowercase hex (absent when empty, all zero or not 16/8 bytes) |
//! | `severity_text`, `severity_number`      | metadata `severity_text`, `severity_number` (when set), as Loki keeps them |
//! | `observed_time_unix_nano`               | metadata `observed_timestamp` (ns) when both times are set            |
//! | `flags`, `dropped_attributes_count`, `event_name` | metadata `flags`, `dropped_attributes_count`, `event_name` when non-zero / non-empty |
//! | other resource attributes               | metadata                                                             |
//! | scope name, version, attributes         | metadata `scope_name`, `scope_version`, the attributes, and `scope_dropped_attributes_count` |
//!
//! Attribute values become text: strings as they are, booleans and integers
//! in decimal, doubles in shortest form (`NaN`, `+Inf`, `-Inf`), bytes in
//! standard base64, arrays as JSON. Key/value lists are flattened with dots:
//! attribute `http` = `{method: GET}` is metadata `http.method=GET`. Metadata
//! names are the attribute keys as sent (dots kept). Attributes without a
//! value are dropped.
//!
//! Streams are grouped by label set in order of first appearance; entries
//! keep their arrival order.
//!
//! # OTLP/JSON
//!
//! Read as the OTLP specification defines it and the SDKs send it:
//! lowerCamelCase keys (the proto field names with underscores are accepted
//! too), 64-bit integers as strings or numbers, enums as numbers or names
//! (`SEVERITY_NUMBER_INFO`), trace and span ids as hex (not base64), bytes
//! values as base64, doubles also as `"NaN"`, `"Infinity"`, `"-Infinity"`;
//! unknown keys are ignored and `null` is an absent field. A value of the
//! wrong type is an error naming its place, e.g.
//! `resourceLogs[0].scopeLogs[1].logRecords[2].traceId: invalid hex`.
//!
//! # Limits
//!
//! Nesting of values is bounded by the decoders' recursion limits (prost's
//! 100, serde_json's 128). No size limit is applied here (the HTTP and gRPC
//! layers bound bodies). Decoding never panics.
//!
//! ```
//! use pharos_ingest::otlp::logs;
//! let body = br#"{"resourceLogs":[{
//!   "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}},
//!                             {"key":"host.arch","value":{"stringValue":"amd64"}}]},
//!   "scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000",
//!     "severityNumber":17,"body":{"stringValue":"boom"},
//!     "traceId":"5B8EFFF798038103D269B633813FC60C",
//!     "attributes":[{"key":"http","value":{"kvlistValue":{"values":[
//!       {"key":"status","value":{"intValue":"500"}}]}}}]}]}]}]}"#;
//! let streams = logs::decode_logs_json(body, 0).unwrap();
//! assert_eq!(streams[0].labels.to_string(), r#"{level="error", service_name="api"}"#);
//! let e = &streams[0].entries[0];
//! assert_eq!((e.ts, e.line.as_str()), (1_700_000_000_000_000_000, "boom"));
//! assert_eq!(e.metadata_value("http.status"), Some("500"));
//! assert_eq!(e.metadata_value("trace_id"), Some("5b8efff798038103d269b633813fc60c"));
//! assert_eq!(e.metadata_value("host.arch"), Some("amd64"));
//! ```

use std::collections::HashMap;
use std::fmt::Display;

use prost::Message;
use serde_json::{Map, Value};

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use pharos_model::log::{SPAN_ID, TRACE_ID};
use pharos_model::{Labels, LabelsBuilder, LogEntry, LogStream};

pub use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;

use super::names::format_float;

/// Resource attributes that become stream labels, with their label names.
/// Every other resource attribute is structured metadata.
pub const LABEL_ATTRIBUTES: &[(&str, &str)] = &[
    ("service.name", "service_name"),
    ("service.namespace", "service_namespace"),
    ("deployment.environment", "deployment_environment"),
    ("deployment.environment.name", "deployment_environment_name"),
    ("k8s.namespace.name", "k8s_namespace_name"),
    ("k8s.pod.name", "k8s_pod_name"),
    ("k8s.container.name", "k8s_container_name"),
    ("host.name", "host_name"),
];

/// The label holding the severity.
pub const LEVEL_LABEL: &str = "level";
/// The label holding `service.name`.
pub const SERVICE_NAME_LABEL: &str = "service_name";
/// `service_name` of a resource without `service.name`.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Why an OTLP logs body could not be decoded (HTTP 400, gRPC `InvalidArgument`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpLogsError {
    /// Not a valid protobuf `ExportLogsServiceRequest`; prost's field path is included.
    #[error("protobuf: {0}")]
    Protobuf(String),
    /// Not JSON at all; the position is included.
    #[error("json: {0}")]
    Json(String),
    /// A field of the wrong type or form; `path` names it, e.g.
    /// `resourceLogs[0].scopeLogs[1].logRecords[2].traceId`.
    #[error("json: {path}: {message}")]
    JsonField { path: String, message: String },
}

/// Decodes a binary protobuf `ExportLogsServiceRequest` (already decompressed).
pub fn decode_request_protobuf(body: &[u8]) -> Result<ExportLogsServiceRequest, OtlpLogsError> {
    ExportLogsServiceRequest::decode(body).map_err(|e| {
        let s = e.to_string();
        OtlpLogsError::Protobuf(
            match s.strip_prefix("failed to decode Protobuf message: ") {
                Some(rest) => rest.to_string(),
                None => s,
            },
        )
    })
}

/// Encodes a request as binary protobuf (for tests, fuzzing and forwarding).
pub fn encode_request_protobuf(req: &ExportLogsServiceRequest) -> Vec<u8> {
    req.encode_to_vec()
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest` (already decompressed).
pub fn decode_request_json(body: &[u8]) -> Result<ExportLogsServiceRequest, OtlpLogsError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| OtlpLogsError::Json(e.to_string()))?;
    json::request(&v)
}

/// Decodes a binary protobuf body and [`convert`]s it.
pub fn decode_logs_protobuf(body: &[u8], now_ns: i64) -> Result<Vec<LogStream>, OtlpLogsError> {
    decode_request_protobuf(body).map(|r| convert(r, now_ns))
}

/// Decodes an OTLP/JSON body and [`convert`]s it.
pub fn decode_logs_json(body: &[u8], now_ns: i64) -> Result<Vec<LogStream>, OtlpLogsError> {
    decode_request_json(body).map(|r| convert(r, now_ns))
}

/// The number of log records in a request (for `partial_success` and stats).
pub fn record_count(req: &ExportLogsServiceRequest) -> usize {
    req.resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum()
}

/// The `level` label of a record: `severity_text` trimmed and lower-cased
/// when set, else the range of `severity_number`, else `unknown`.
pub fn level_from_severity(text: &str, number: i32) -> String {
    let t = text.trim();
    if !t.is_empty() {
        return t.to_lowercase();
    }
    match number {
        1..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => "unknown",
    }
    .to_string()
}

/// Converts a request to streams, as the module documentation describes.
/// Records without a time get `now_ns`. Every record becomes one entry.
pub fn convert(req: ExportLogsServiceRequest, now_ns: i64) -> Vec<LogStream> {
    let mut out: Vec<LogStream> = Vec::new();
    let mut streams: HashMap<Labels, usize> = HashMap::new();
    for rl in req.resource_logs {
        let ResourceLogs {
            resource,
            scope_logs,
            ..
        } = rl;
        let (labels, res_meta) = resource_parts(resource);
        // Level → stream index, for this resource.
        let mut by_level: Vec<(String, usize)> = Vec::new();
        for sl in scope_logs {
            let ScopeLogs {
                scope, log_records, ..
            } = sl;
            let scope_meta = scope_parts(scope);
            for rec in log_records {
                let level = level_from_severity(&rec.severity_text, rec.severity_number);
                let s = match by_level.iter().find(|(l, _)| *l == level) {
                    Some(&(_, s)) => s,
                    None => {
                        let mut b = labels.clone();
                        b.set(LEVEL_LABEL, &level);
                        let ls = b.build();
                        let s = *streams.entry(ls.clone()).or_insert_with(|| {
                            out.push(LogStream {
                                labels: ls,
                                entries: Vec::new(),
                            });
                            out.len() - 1
                        });
                        by_level.push((level, s));
                        s
                    }
                };
                out[s]
                    .entries
                    .push(entry(rec, &res_meta, &scope_meta, now_ns));
            }
        }
    }
    out
}

/// A resource's labels (without `level`) and its metadata.
fn resource_parts(resource: Option<Resource>) -> (LabelsBuilder, Vec<(String, String)>) {
    let mut labels = LabelsBuilder::new();
    let mut meta = Vec::new();
    for kv in resource.map(|r| r.attributes).unwrap_or_default() {
        match LABEL_ATTRIBUTES.iter().find(|(k, _)| *k == kv.key) {
            Some((_, name)) => {
                if let Some(v) = kv.value.as_ref().and_then(text) {
                    labels.set(name, &v);
                }
            }
            None => flatten(kv.key, kv.value, &mut meta),
        }
    }
    if labels.get(SERVICE_NAME_LABEL).is_none() {
        labels.set(SERVICE_NAME_LABEL, UNKNOWN_SERVICE);
    }
    (labels, meta)
}

/// A scope's metadata.
fn scope_parts(scope: Option<InstrumentationScope>) -> Vec<(String, String)> {
    let Some(scope) = scope else {
        return Vec::new();
    };
    let mut meta = Vec::new();
    if !scope.name.is_empty() {
        meta.push(("scope_name".to_string(), scope.name));
    }
    if !scope.version.is_empty() {
        meta.push(("scope_version".to_string(), scope.version));
    }
    for kv in scope.attributes {
        flatten(kv.key, kv.value, &mut meta);
    }
    if scope.dropped_attributes_count != 0 {
        meta.push((
            "scope_dropped_attributes_count".to_string(),
            scope.dropped_attributes_count.to_string(),
        ));
    }
    meta
}

/// Nanoseconds as a timestamp: 0 (unset) and values past `i64::MAX` are none.
fn nanos(t: u64) -> Option<i64> {
    i64::try_from(t).ok().filter(|&t| t != 0)
}

/// A trace or span id of the right length and not all zero, as lowercase hex.
fn id_hex(b: &[u8], len: usize) -> Option<String> {
    (b.len() == len && b.iter().any(|&x| x != 0)).then(|| {
        let mut s = String::with_capacity(len * 2);
        for x in b {
            s.push(char::from(HEX[usize::from(x >> 4)]));
            s.push(char::from(HEX[usize::from(x & 15)]));
        }
        s
    })
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn entry(
    rec: LogRecord,
    res_meta: &[(String, String)],
    scope_meta: &[(String, String)],
    now_ns: i64,
) -> LogEntry {
    let LogRecord {
        time_unix_nano,
        observed_time_unix_nano,
        severity_number,
        severity_text,
        body,
        attributes,
        dropped_attributes_count,
        flags,
        trace_id,
        span_id,
        event_name,
    } = rec;
    let mut md = Vec::with_capacity(attributes.len() + 6 + res_meta.len() + scope_meta.len());
    for kv in attributes {
        flatten(kv.key, kv.value, &mut md);
    }
    if let Some(t) = id_hex(&trace_id, 16) {
        md.push((TRACE_ID.to_string(), t));
    }
    if let Some(s) = id_hex(&span_id, 8) {
        md.push((SPAN_ID.to_string(), s));
    }
    if !severity_text.is_empty() {
        md.push(("severity_text".to_string(), severity_text));
    }
    if severity_number != 0 {
        md.push(("severity_number".to_string(), severity_number.to_string()));
    }
    let (time, observed) = (nanos(time_unix_nano), nanos(observed_time_unix_nano));
    if let (Some(_), Some(o)) = (time, observed) {
        md.push(("observed_timestamp".to_string(), o.to_string()));
    }
    if flags != 0 {
        md.push(("flags".to_string(), flags.to_string()));
    }
    if dropped_attributes_count != 0 {
        md.push((
            "dropped_attributes_count".to_string(),
            dropped_attributes_count.to_string(),
        ));
    }
    if !event_name.is_empty() {
        md.push(("event_name".to_string(), event_name));
    }
    md.extend_from_slice(res_meta);
    md.extend_from_slice(scope_meta);
    let line = match body.and_then(|b| b.value) {
        Some(any_value::Value::StringValue(s)) => s,
        Some(v) => text(&AnyValue { value: Some(v) }).unwrap_or_default(),
        None => String::new(),
    };
    LogEntry {
        ts: time.or(observed).unwrap_or(now_ns),
        line: line.into(),
        metadata: md,
    }
}

/// Appends an attribute as metadata: key/value lists flattened with dots,
/// anything else as its text; attributes without a value are dropped.
fn flatten(key: String, value: Option<AnyValue>, out: &mut Vec<(String, String)>) {
    match value.and_then(|v| v.value) {
        None | Some(any_value::Value::StringValueStrindex(_)) => {}
        Some(any_value::Value::StringValue(s)) => out.push((key, s)),
        Some(any_value::Value::KvlistValue(kvs)) => {
            for kv in kvs.values {
                flatten(format!("{key}.{}", kv.key), kv.value, out);
            }
        }
        Some(v) => {
            if let Some(t) = text(&AnyValue { value: Some(v) }) {
                out.push((key, t));
            }
        }
    }
}

/// A value as text (see the module documentation); `None` when it has none.
fn text(v: &AnyValue) -> Option<String> {
    use any_value::Value as V;
    Some(match v.value.as_ref()? {
        V::StringValueStrindex(_) => return None,
        V::StringValue(s) => s.clone(),
        V::BoolValue(b) => b.to_string(),
        V::IntValue(i) => i.to_string(),
        V::DoubleValue(d) => format_float(*d),
        V::BytesValue(b) => base64::encode(b),
        V::ArrayValue(_) | V::KvlistValue(_) => to_json(v).to_string(),
    })
}

/// A value as JSON, for arrays and key/value lists.
fn to_json(v: &AnyValue) -> Value {
    use any_value::Value as V;
    match &v.value {
        None | Some(V::StringValueStrindex(_)) => Value::Null,
        Some(V::StringValue(s)) => Value::String(s.clone()),
        Some(V::BoolValue(b)) => Value::Bool(*b),
        Some(V::IntValue(i)) => Value::from(*i),
        Some(V::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(format_float(*d))),
        Some(V::BytesValue(b)) => Value::String(base64::encode(b)),
        Some(V::ArrayValue(a)) => Value::Array(a.values.iter().map(to_json).collect()),
        Some(V::KvlistValue(kv)) => Value::Object(
            kv.values
                .iter()
                .map(|e| (e.key.clone(), e.value.as_ref().map_or(Value::Null, to_json)))
                .collect(),
        ),
    }
}

/// Standard base64, both ways (OTLP/JSON `bytesValue`).
mod base64 {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// With padding.
    pub(super) fn encode(b: &[u8]) -> String {
        let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
        for c in b.chunks(3) {
            let n = u32::from(c[0]) << 16
                | u32::from(c.get(1).copied().unwrap_or(0)) << 8
                | u32::from(c.get(2).copied().unwrap_or(0));
            for i in 0..4 {
                if i <= c.len() {
                    s.push(char::from(STD[(n >> (18 - 6 * i) & 63) as usize]));
                } else {
                    s.push('=');
                }
            }
        }
        s
    }

    /// Standard or URL-safe alphabet, padding optional.
    pub(super) fn decode(s: &str) -> Option<Vec<u8>> {
        let s = s.trim_end_matches('=');
        let mut out = Vec::with_capacity(s.len() * 3 / 4);
        let (mut acc, mut bits) = (0u32, 0);
        for c in s.bytes() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' | b'-' => 62,
                b'/' | b'_' => 63,
                _ => return None,
            };
            acc = (acc << 6 | u32::from(v)) & 0xff_ffff;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        // A lone trailing character cannot encode a byte.
        (bits < 6).then_some(out)
    }
}

/// OTLP/JSON to the protobuf message types, by hand so that every error names
/// its place (serde's derive would give neither paths nor the proto names).
mod json {
    use super::*;

    type R<T> = Result<T, OtlpLogsError>;

    fn fail<T>(path: &str, message: impl Display) -> R<T> {
        Err(OtlpLogsError::JsonField {
            path: path.to_string(),
            message: message.to_string(),
        })
    }

    fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// `o[camel]`, else `o[snake]`; `null` is absent.
    fn get<'a>(o: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
        o.get(camel)
            .or_else(|| o.get(snake))
            .filter(|v| !v.is_null())
    }

    fn object<'a>(v: &'a Value, path: &str) -> R<&'a Map<String, Value>> {
        match v {
            Value::Object(o) => Ok(o),
            v => fail(path, format!("expected an object, found {}", kind(v))),
        }
    }

    /// The array under a key (absent: empty) with its path.
    fn array<'a>(
        o: &'a Map<String, Value>,
        camel: &str,
        snake: &str,
        path: &str,
    ) -> R<(&'a [Value], String)> {
        let p = if path.is_empty() {
            camel.to_string()
        } else {
            format!("{path}.{camel}")
        };
        match get(o, camel, snake) {
            None => Ok((&[], p)),
            Some(Value::Array(a)) => Ok((a, p)),
            Some(v) => fail(&p, format!("expected an array, found {}", kind(v))),
        }
    }

    fn string(o: &Map<String, Value>, camel: &str, snake: &str, path: &str) -> R<String> {
        match get(o, camel, snake) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => fail(
                &format!("{path}.{camel}"),
                format!("expected a string, found {}", kind(v)),
            ),
        }
    }

    /// An unsigned integer from a number or a decimal string.
    fn unsigned(o: &Map<String, Value>, camel: &str, snake: &str, path: &str) -> R<u64> {
        let Some(v) = get(o, camel, snake) else {
            return Ok(0);
        };
        let n = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match n {
            Some(n) => Ok(n),
            None => fail(
                &format!("{path}.{camel}"),
                format!("expected an unsigned integer, found {v}"),
            ),
        }
    }

    fn unsigned32(o: &Map<String, Value>, camel: &str, snake: &str, path: &str) -> R<u32> {
        let n = unsigned(o, camel, snake, path)?;
        match u32::try_from(n) {
            Ok(n) => Ok(n),
            Err(_) => fail(&format!("{path}.{camel}"), format!("{n} is out of range")),
        }
    }

    /// A hex id (`traceId`, `spanId`); empty is none.
    fn hex(o: &Map<String, Value>, camel: &str, snake: &str, path: &str) -> R<Vec<u8>> {
        let s = string(o, camel, snake, path)?;
        let b = s.as_bytes();
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        if b.len() % 2 != 0 {
            return fail(&format!("{path}.{camel}"), "invalid hex: odd length");
        }
        let mut out = Vec::with_capacity(b.len() / 2);
        for pair in b.chunks(2) {
            match (digit(pair[0]), digit(pair[1])) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => return fail(&format!("{path}.{camel}"), format!("invalid hex {s:?}")),
            }
        }
        Ok(out)
    }

    fn severity(o: &Map<String, Value>, path: &str) -> R<i32> {
        let Some(v) = get(o, "severityNumber", "severity_number") else {
            return Ok(0);
        };
        let n = match v {
            Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
            Value::String(s) => SeverityNumber::from_str_name(s)
                .map(|s| s as i32)
                .or_else(|| s.trim().parse().ok()),
            _ => None,
        };
        match n {
            Some(n) => Ok(n),
            None => fail(
                &format!("{path}.severityNumber"),
                format!("invalid severity number {v}"),
            ),
        }
    }

    pub(super) fn request(v: &Value) -> R<ExportLogsServiceRequest> {
        let o = object(v, "$")?;
        let (rls, p) = array(o, "resourceLogs", "resource_logs", "")?;
        let mut req = ExportLogsServiceRequest::default();
        for (i, rl) in rls.iter().enumerate() {
            req.resource_logs
                .push(resource_logs(rl, &format!("{p}[{i}]"))?);
        }
        Ok(req)
    }

    fn resource_logs(v: &Value, path: &str) -> R<ResourceLogs> {
        let o = object(v, path)?;
        let resource = match get(o, "resource", "resource") {
            None => None,
            Some(r) => {
                let rp = format!("{path}.resource");
                let ro = object(r, &rp)?;
                Some(Resource {
                    attributes: key_values(ro, &rp)?,
                    dropped_attributes_count: unsigned32(
                        ro,
                        "droppedAttributesCount",
                        "dropped_attributes_count",
                        &rp,
                    )?,
                    ..Default::default()
                })
            }
        };
        let (sls, sp) = array(o, "scopeLogs", "scope_logs", path)?;
        let mut scope_logs = Vec::with_capacity(sls.len());
        for (i, sl) in sls.iter().enumerate() {
            scope_logs.push(scope_logs_of(sl, &format!("{sp}[{i}]"))?);
        }
        Ok(ResourceLogs {
            resource,
            scope_logs,
            schema_url: string(o, "schemaUrl", "schema_url", path)?,
        })
    }

    fn scope_logs_of(v: &Value, path: &str) -> R<ScopeLogs> {
        let o = object(v, path)?;
        let scope = match get(o, "scope", "scope") {
            None => None,
            Some(s) => {
                let sp = format!("{path}.scope");
                let so = object(s, &sp)?;
                Some(InstrumentationScope {
                    name: string(so, "name", "name", &sp)?,
                    version: string(so, "version", "version", &sp)?,
                    attributes: key_values(so, &sp)?,
                    dropped_attributes_count: unsigned32(
                        so,
                        "droppedAttributesCount",
                        "dropped_attributes_count",
                        &sp,
                    )?,
                })
            }
        };
        let (recs, rp) = array(o, "logRecords", "log_records", path)?;
        let mut log_records = Vec::with_capacity(recs.len());
        for (i, r) in recs.iter().enumerate() {
            log_records.push(record(r, &format!("{rp}[{i}]"))?);
        }
        Ok(ScopeLogs {
            scope,
            log_records,
            schema_url: string(o, "schemaUrl", "schema_url", path)?,
        })
    }

    fn record(v: &Value, path: &str) -> R<LogRecord> {
        let o = object(v, path)?;
        let body = match get(o, "body", "body") {
            None => None,
            Some(b) => Some(any_value(b, &format!("{path}.body"))?),
        };
        Ok(LogRecord {
            time_unix_nano: unsigned(o, "timeUnixNano", "time_unix_nano", path)?,
            observed_time_unix_nano: unsigned(
                o,
                "observedTimeUnixNano",
                "observed_time_unix_nano",
                path,
            )?,
            severity_number: severity(o, path)?,
            severity_text: string(o, "severityText", "severity_text", path)?,
            body,
            attributes: key_values(o, path)?,
            dropped_attributes_count: unsigned32(
                o,
                "droppedAttributesCount",
                "dropped_attributes_count",
                path,
            )?,
            flags: unsigned32(o, "flags", "flags", path)?,
            trace_id: hex(o, "traceId", "trace_id", path)?,
            span_id: hex(o, "spanId", "span_id", path)?,
            event_name: string(o, "eventName", "event_name", path)?,
        })
    }

    /// `o.attributes`.
    fn key_values(o: &Map<String, Value>, path: &str) -> R<Vec<KeyValue>> {
        let (kvs, p) = array(o, "attributes", "attributes", path)?;
        kv_list(kvs, &p)
    }

    fn kv_list(kvs: &[Value], path: &str) -> R<Vec<KeyValue>> {
        let mut out = Vec::with_capacity(kvs.len());
        for (i, kv) in kvs.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let o = object(kv, &p)?;
            let value = match get(o, "value", "value") {
                None => None,
                Some(v) => Some(any_value(v, &format!("{p}.value"))?),
            };
            out.push(KeyValue {
                key: string(o, "key", "key", &p)?,
                value,
                ..Default::default()
            });
        }
        Ok(out)
    }

    fn any_value(v: &Value, path: &str) -> R<AnyValue> {
        use any_value::Value as V;
        let o = object(v, path)?;
        let at = |k: &str| format!("{path}.{k}");
        let mut value = None;
        if let Some(x) = get(o, "stringValue", "string_value") {
            match x {
                Value::String(s) => value = Some(V::StringValue(s.clone())),
                x => {
                    return fail(
                        &at("stringValue"),
                        format!("expected a string, found {}", kind(x)),
                    )
                }
            }
        } else if let Some(x) = get(o, "boolValue", "bool_value") {
            match x {
                Value::Bool(b) => value = Some(V::BoolValue(*b)),
                x => {
                    return fail(
                        &at("boolValue"),
                        format!("expected a boolean, found {}", kind(x)),
                    )
                }
            }
        } else if let Some(x) = get(o, "intValue", "int_value") {
            let n = match x {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match n {
                Some(n) => value = Some(V::IntValue(n)),
                None => return fail(&at("intValue"), format!("invalid 64-bit integer {x}")),
            }
        } else if let Some(x) = get(o, "doubleValue", "double_value") {
            let d = match x {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => match s.as_str() {
                    "NaN" => Some(f64::NAN),
                    "Infinity" => Some(f64::INFINITY),
                    "-Infinity" => Some(f64::NEG_INFINITY),
                    s => s.trim().parse::<f64>().ok(),
                },
                _ => None,
            };
            match d {
                Some(d) => value = Some(V::DoubleValue(d)),
                None => return fail(&at("doubleValue"), format!("invalid double {x}")),
            }
        } else if let Some(x) = get(o, "arrayValue", "array_value") {
            let p = at("arrayValue");
            let ao = object(x, &p)?;
            let (vals, vp) = array(ao, "values", "values", &p)?;
            let mut values = Vec::with_capacity(vals.len());
            for (i, v) in vals.iter().enumerate() {
                values.push(any_value(v, &format!("{vp}[{i}]"))?);
            }
            value = Some(V::ArrayValue(ArrayValue { values }));
        } else if let Some(x) = get(o, "kvlistValue", "kvlist_value") {
            let p = at("kvlistValue");
            let ko = object(x, &p)?;
            let (vals, vp) = array(ko, "values", "values", &p)?;
            value = Some(V::KvlistValue(KeyValueList {
                values: kv_list(vals, &vp)?,
            }));
        } else if let Some(x) = get(o, "bytesValue", "bytes_value") {
            match x.as_str().and_then(base64::decode) {
                Some(b) => value = Some(V::BytesValue(b)),
                None => return fail(&at("bytesValue"), format!("invalid base64 {x}")),
            }
        }
        Ok(AnyValue { value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    use proptest::prelude::*;

    const T: u64 = 1_700_000_000_123_456_789;

    fn kv(k: &str, v: V) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    fn s(k: &str, v: &str) -> KeyValue {
        kv(k, V::StringValue(v.into()))
    }

    fn request(resource: Vec<KeyValue>, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        version: "1.2".into(),
                        ..Default::default()
                    }),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn record(body: &str, severity: i32) -> LogRecord {
        LogRecord {
            time_unix_nano: T,
            severity_number: severity,
            body: Some(AnyValue {
                value: Some(V::StringValue(body.into())),
            }),
            ..Default::default()
        }
    }

    fn md(e: &LogEntry) -> Vec<(&str, &str)> {
        e.metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn resource_attributes_on_the_allow_list_are_labels() {
        let res = vec![
            s("service.name", "api"),
            s("service.namespace", "shop"),
            s("deployment.environment", "prod"),
            s("deployment.environment.name", "prod2"),
            s("k8s.namespace.name", "ns"),
            s("k8s.pod.name", "pod-1"),
            s("k8s.container.name", "c"),
            s("host.name", "h1"),
            s("host.arch", "arm64"),
            s("k8s.node.name", ""),
        ];
        let out = convert(request(res, vec![record("x", 9)]), 0);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].labels,
            Labels::from_pairs(&[
                ("service_name", "api"),
                ("service_namespace", "shop"),
                ("deployment_environment", "prod"),
                ("deployment_environment_name", "prod2"),
                ("k8s_namespace_name", "ns"),
                ("k8s_pod_name", "pod-1"),
                ("k8s_container_name", "c"),
                ("host_name", "h1"),
                ("level", "info"),
            ])
        );
        assert_eq!(
            md(&out[0].entries[0]),
            vec![
                ("severity_number", "9"),
                ("host.arch", "arm64"),
                ("k8s.node.name", ""),
                ("scope_name", "lib"),
                ("scope_version", "1.2"),
            ]
        );
    }

    #[test]
    fn a_resource_without_service_name_is_unknown_service() {
        let out = convert(request(vec![], vec![record("x", 0)]), 0);
        assert_eq!(
            out[0].labels,
            Labels::from_pairs(&[("service_name", "unknown_service"), ("level", "unknown")])
        );
        let out = convert(
            request(vec![s("service.name", "")], vec![record("x", 0)]),
            0,
        );
        assert_eq!(out[0].labels.get("service_name"), Some("unknown_service"));
        let out = convert(
            ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    scope_logs: vec![ScopeLogs {
                        log_records: vec![record("x", 1)],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            },
            0,
        );
        assert_eq!(out[0].labels.get("service_name"), Some("unknown_service"));
        assert!(out[0].entries[0].metadata_value("scope_name").is_none());
    }

    #[test]
    fn levels() {
        let cases = [
            ("", 0, "unknown"),
            ("", 1, "trace"),
            ("", 4, "trace"),
            ("", 5, "debug"),
            ("", 8, "debug"),
            ("", 9, "info"),
            ("", 12, "info"),
            ("", 13, "warn"),
            ("", 16, "warn"),
            ("", 17, "error"),
            ("", 20, "error"),
            ("", 21, "fatal"),
            ("", 24, "fatal"),
            ("", 25, "unknown"),
            ("", -3, "unknown"),
            ("WARNING", 17, "warning"),
            (" Information ", 0, "information"),
            ("  ", 9, "info"),
        ];
        for (text, n, want) in cases {
            assert_eq!(level_from_severity(text, n), want, "{text:?} {n}");
        }
    }

    #[test]
    fn streams_split_by_level_and_keep_order() {
        let recs = vec![
            record("a", 9),
            record("b", 17),
            record("c", 10),
            record("d", 17),
        ];
        let out = convert(request(vec![s("service.name", "x")], recs), 0);
        let got: Vec<(String, Vec<&str>)> = out
            .iter()
            .map(|s| {
                (
                    s.labels.get("level").unwrap_or_default().to_string(),
                    s.entries.iter().map(|e| e.line.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("info".to_string(), vec!["a", "c"]),
                ("error".to_string(), vec!["b", "d"])
            ]
        );
        // Two resources with equal labels share a stream.
        let mut req = request(vec![s("service.name", "x")], vec![record("a", 9)]);
        req.resource_logs.push(
            request(vec![s("service.name", "x")], vec![record("b", 9)]).resource_logs[0].clone(),
        );
        let out = convert(req, 0);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].entries.len(), 2);
    }

    #[test]
    fn record_fields_become_metadata() {
        let rec = LogRecord {
            time_unix_nano: T,
            observed_time_unix_nano: T + 5,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: Some(AnyValue {
                value: Some(V::KvlistValue(KeyValueList {
                    values: vec![s("msg", "hi"), kv("n", V::IntValue(3))],
                })),
            }),
            attributes: vec![
                s("http.method", "GET"),
                kv("http.status_code", V::IntValue(500)),
                kv("ok", V::BoolValue(false)),
                kv("ratio", V::DoubleValue(0.25)),
                kv("inf", V::DoubleValue(f64::INFINITY)),
                kv("raw", V::BytesValue(vec![0xde, 0xad, 0xbe, 0xef])),
                kv(
                    "list",
                    V::ArrayValue(ArrayValue {
                        values: vec![
                            AnyValue {
                                value: Some(V::StringValue("a".into())),
                            },
                            AnyValue {
                                value: Some(V::IntValue(1)),
                            },
                        ],
                    }),
                ),
                kv(
                    "user",
                    V::KvlistValue(KeyValueList {
                        values: vec![
                            s("id", "u1"),
                            kv(
                                "geo",
                                V::KvlistValue(KeyValueList {
                                    values: vec![s("city", "Oslo")],
                                }),
                            ),
                        ],
                    }),
                ),
                KeyValue {
                    key: "none".into(),
                    value: None,
                    ..Default::default()
                },
            ],
            dropped_attributes_count: 2,
            flags: 1,
            trace_id: (1..=16).collect(),
            span_id: vec![0xab; 8],
            event_name: "checkout".into(),
        };
        let out = convert(request(vec![s("service.name", "api")], vec![rec]), 0);
        assert_eq!(out[0].labels.get("level"), Some("error"));
        let e = &out[0].entries[0];
        assert_eq!(e.ts, T as i64);
        assert_eq!(e.line, r#"{"msg":"hi","n":3}"#);
        assert_eq!(
            md(e),
            vec![
                ("http.method", "GET"),
                ("http.status_code", "500"),
                ("ok", "false"),
                ("ratio", "0.25"),
                ("inf", "+Inf"),
                ("raw", "3q2+7w=="),
                ("list", r#"["a",1]"#),
                ("user.id", "u1"),
                ("user.geo.city", "Oslo"),
                ("trace_id", "0102030405060708090a0b0c0d0e0f10"),
                ("span_id", "abababababababab"),
                ("severity_text", "ERROR"),
                ("severity_number", "17"),
                ("observed_timestamp", "1700000000123456794"),
                ("flags", "1"),
                ("dropped_attributes_count", "2"),
                ("event_name", "checkout"),
                ("scope_name", "lib"),
                ("scope_version", "1.2"),
            ]
        );
    }

    #[test]
    fn invalid_ids_are_left_out() {
        for (trace, span) in [
            (vec![0u8; 16], vec![0u8; 8]),
            (vec![], vec![]),
            (vec![1u8; 15], vec![1u8; 9]),
        ] {
            let rec = LogRecord {
                trace_id: trace,
                span_id: span,
                ..record("x", 9)
            };
            let out = convert(request(vec![], vec![rec]), 0);
            let e = &out[0].entries[0];
            assert_eq!(e.metadata_value(TRACE_ID), None);
            assert_eq!(e.metadata_value(SPAN_ID), None);
        }
    }

    #[test]
    fn timestamps_fall_back_to_observed_then_now() {
        let at = |t: u64, o: u64| {
            let rec = LogRecord {
                time_unix_nano: t,
                observed_time_unix_nano: o,
                ..record("x", 9)
            };
            let out = convert(request(vec![], vec![rec]), 42);
            let e = &out[0].entries[0];
            (
                e.ts,
                e.metadata_value("observed_timestamp").map(str::to_string),
            )
        };
        assert_eq!(at(T, 0), (T as i64, None));
        assert_eq!(at(0, T), (T as i64, None));
        assert_eq!(at(0, 0), (42, None));
        assert_eq!(at(u64::MAX, 7), (7, None));
        assert_eq!(at(5, 6), (5, Some("6".to_string())));
    }

    #[test]
    fn bodies_of_every_kind() {
        let line = |v: Option<V>| {
            let rec = LogRecord {
                body: v.map(|v| AnyValue { value: Some(v) }),
                ..record("", 9)
            };
            convert(request(vec![], vec![rec]), 0)[0].entries[0]
                .line
                .clone()
        };
        assert_eq!(line(None), "");
        assert_eq!(line(Some(V::StringValue("a\nb".into()))), "a\nb");
        assert_eq!(line(Some(V::IntValue(-4))), "-4");
        assert_eq!(line(Some(V::DoubleValue(1.0))), "1");
        assert_eq!(line(Some(V::BoolValue(true))), "true");
        assert_eq!(line(Some(V::BytesValue(b"hi".to_vec()))), "aGk=");
        assert_eq!(line(Some(V::StringValueStrindex(3))), "");
        assert_eq!(
            line(Some(V::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(V::DoubleValue(f64::NAN))
                }]
            }))),
            r#"["NaN"]"#
        );
    }

    #[test]
    fn protobuf_round_trip_and_errors() {
        let req = request(vec![s("service.name", "api")], vec![record("hello", 13)]);
        let body = req.encode_to_vec();
        let out = decode_logs_protobuf(&body, 0).unwrap_or_default();
        assert_eq!(out[0].labels.get("level"), Some("warn"));
        assert_eq!(out[0].entries[0].line, "hello");
        assert_eq!(record_count(&req), 1);
        let e = decode_logs_protobuf(&body[..body.len() - 2], 0).err();
        assert!(matches!(e, Some(OtlpLogsError::Protobuf(_))), "{e:?}");
        let e = decode_logs_protobuf(b"\xff\xff", 0).err();
        assert!(matches!(e, Some(OtlpLogsError::Protobuf(_))), "{e:?}");
        assert_eq!(decode_logs_protobuf(b"", 0), Ok(vec![]));
    }

    #[test]
    fn json_as_the_sdks_send_it() {
        let body = br#"{"resourceLogs":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"checkout"}},
            {"key":"pid","value":{"intValue":"1234"}}]},
          "scopeLogs":[{"scope":{"name":"app","version":"2"},
            "logRecords":[
              {"timeUnixNano":"1700000000123456789","observedTimeUnixNano":1700000000123456790,
               "severityNumber":"SEVERITY_NUMBER_WARN2","severityText":"Warn",
               "traceId":"0102030405060708090A0B0C0D0E0F10","spanId":"",
               "body":{"stringValue":"low stock"},
               "attributes":[{"key":"sku","value":{"stringValue":"A1"}},
                             {"key":"qty","value":{"intValue":3}},
                             {"key":"p","value":{"doubleValue":"NaN"}},
                             {"key":"b","value":{"bytesValue":"3q2-7w"}},
                             {"key":"e","value":{}},
                             {"key":"n","value":null},
                             {"key":"x","value":{"arrayValue":{"values":[{"boolValue":true}]}}}],
               "flags":1,"droppedAttributesCount":0,"unknownField":[1,2]},
              {"time_unix_nano":"5","severity_number":21,"body":{"kvlist_value":{"values":[{"key":"k","value":{"string_value":"v"}}]}}}
            ]}]}]}"#;
        let out = decode_logs_json(body, 0).unwrap_or_default();
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].labels,
            Labels::from_pairs(&[("service_name", "checkout"), ("level", "warn")])
        );
        let e = &out[0].entries[0];
        assert_eq!(e.ts, T as i64);
        assert_eq!(e.line, "low stock");
        assert_eq!(
            md(e),
            vec![
                ("sku", "A1"),
                ("qty", "3"),
                ("p", "NaN"),
                ("b", "3q2+7w=="),
                ("x", "[true]"),
                ("trace_id", "0102030405060708090a0b0c0d0e0f10"),
                ("severity_text", "Warn"),
                ("severity_number", "14"),
                ("observed_timestamp", "1700000000123456790"),
                ("flags", "1"),
                ("pid", "1234"),
                ("scope_name", "app"),
                ("scope_version", "2"),
            ]
        );
        let e = &out[1].entries[0];
        assert_eq!(out[1].labels.get("level"), Some("fatal"));
        assert_eq!((e.ts, e.line.as_str()), (5, r#"{"k":"v"}"#));
    }

    #[test]
    fn json_errors_name_their_place() {
        let err = |body: &str| match decode_logs_json(body.as_bytes(), 0) {
            Err(OtlpLogsError::JsonField { path, message }) => format!("{path}: {message}"),
            other => panic!("{other:?}"),
        };
        let rec = |r: &str| {
            format!(
                r#"{{"resourceLogs":[{{}},{{"scopeLogs":[{{}},{{"logRecords":[{{}},{r}]}}]}}]}}"#
            )
        };
        assert_eq!(
            err(&rec(r#"{"traceId":"xyz0"}"#)),
            r#"resourceLogs[1].scopeLogs[1].logRecords[1].traceId: invalid hex "xyz0""#
        );
        assert_eq!(
            err(&rec(r#"{"spanId":"abc"}"#)),
            "resourceLogs[1].scopeLogs[1].logRecords[1].spanId: invalid hex: odd length"
        );
        assert_eq!(
            err(&rec(r#"{"timeUnixNano":"-1"}"#)),
            r#"resourceLogs[1].scopeLogs[1].logRecords[1].timeUnixNano: expected an unsigned integer, found "-1""#
        );
        assert_eq!(
            err(&rec(r#"{"severityNumber":"LOUD"}"#)),
            r#"resourceLogs[1].scopeLogs[1].logRecords[1].severityNumber: invalid severity number "LOUD""#
        );
        assert_eq!(
            err(&rec(
                r#"{"attributes":[{"key":"a","value":{"intValue":"x"}}]}"#
            )),
            r#"resourceLogs[1].scopeLogs[1].logRecords[1].attributes[0].value.intValue: invalid 64-bit integer "x""#
        );
        assert_eq!(
            err(&rec(
                r#"{"body":{"kvlistValue":{"values":[{"key":"k","value":{"bytesValue":"!"}}]}}}"#
            )),
            r#"resourceLogs[1].scopeLogs[1].logRecords[1].body.kvlistValue.values[0].value.bytesValue: invalid base64 "!""#
        );
        assert_eq!(
            err(&rec(r#"{"flags":4294967296}"#)),
            "resourceLogs[1].scopeLogs[1].logRecords[1].flags: 4294967296 is out of range"
        );
        assert_eq!(
            err(r#"{"resourceLogs":{}}"#),
            "resourceLogs: expected an array, found an object"
        );
        assert_eq!(err("[]"), "$: expected an object, found an array");
        assert_eq!(
            err(r#"{"resourceLogs":[{"resource":{"attributes":[{"key":1}]}}]}"#),
            "resourceLogs[0].resource.attributes[0].key: expected a string, found a number"
        );
        assert!(matches!(
            decode_logs_json(b"{", 0),
            Err(OtlpLogsError::Json(_))
        ));
        assert_eq!(decode_logs_json(b"{}", 0), Ok(vec![]));
    }

    #[test]
    fn base64_both_ways() {
        for b in [&b""[..], b"f", b"fo", b"foo", b"foob", b"\xff\xfe\xfd"] {
            let e = base64::encode(b);
            assert_eq!(base64::decode(&e).as_deref(), Some(b));
            assert_eq!(base64::decode(e.trim_end_matches('=')).as_deref(), Some(b));
        }
        assert_eq!(base64::decode("_-8").as_deref(), Some(&[0xff, 0xef][..]));
        assert_eq!(base64::decode("a"), None);
        assert_eq!(base64::decode("a b"), None);
    }

    fn arb_value() -> impl Strategy<Value = AnyValue> {
        let leaf = prop_oneof![
            "[ -~]{0,10}".prop_map(V::StringValue),
            any::<bool>().prop_map(V::BoolValue),
            any::<i64>().prop_map(V::IntValue),
            // Quarters survive serde_json's float printing and parsing exactly.
            (-4_000_000i32..4_000_000).prop_map(|q| V::DoubleValue(f64::from(q) / 4.0)),
            prop::collection::vec(any::<u8>(), 0..6).prop_map(V::BytesValue),
        ]
        .prop_map(|v| AnyValue { value: Some(v) });
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3)
                    .prop_map(|values| V::ArrayValue(ArrayValue { values })),
                prop::collection::vec(("[a-z]{1,3}", inner), 0..3).prop_map(|kvs| {
                    V::KvlistValue(KeyValueList {
                        values: kvs
                            .into_iter()
                            .map(|(k, v)| KeyValue {
                                key: k,
                                value: Some(v),
                                ..Default::default()
                            })
                            .collect(),
                    })
                }),
            ]
            .prop_map(|v| AnyValue { value: Some(v) })
        })
    }

    fn arb_attr() -> impl Strategy<Value = KeyValue> {
        (
            prop_oneof![
                Just("service.name".to_string()),
                Just("host.name".to_string()),
                Just("k8s.pod.name".to_string()),
                "[a-z.]{1,8}",
            ],
            arb_value(),
        )
            .prop_map(|(key, v)| KeyValue {
                key,
                value: Some(v),
                ..Default::default()
            })
    }

    fn arb_record() -> impl Strategy<Value = LogRecord> {
        (
            prop_oneof![Just(0u64), 1u64..u64::MAX],
            prop_oneof![Just(0u64), 1u64..4_000_000_000_000_000_000],
            -2i32..27,
            prop_oneof![Just(String::new()), "[A-Za-z ]{0,6}"],
            prop::option::of(arb_value()),
            prop::collection::vec(arb_attr(), 0..4),
            prop_oneof![Just(vec![]), prop::collection::vec(any::<u8>(), 16)],
            prop_oneof![Just(vec![]), prop::collection::vec(any::<u8>(), 8)],
        )
            .prop_map(
                |(
                    time,
                    observed,
                    severity_number,
                    severity_text,
                    body,
                    attributes,
                    trace_id,
                    span_id,
                )| {
                    LogRecord {
                        time_unix_nano: time,
                        observed_time_unix_nano: observed,
                        severity_number,
                        severity_text,
                        body,
                        attributes,
                        trace_id,
                        span_id,
                        ..Default::default()
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn protobuf_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(streams) = decode_logs_protobuf(&body, 0) {
                for s in streams {
                    prop_assert!(s.labels.validate().is_ok());
                }
            }
        }

        #[test]
        fn json_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_logs_json(&body, 0);
        }

        #[test]
        fn json_text_never_panics(body in r#"[{}\[\]",:0-9a-zA-Z_ .-]{0,200}"#) {
            if let Ok(streams) = decode_logs_json(body.as_bytes(), 0) {
                for s in streams {
                    prop_assert!(s.labels.validate().is_ok());
                }
            }
        }

        #[test]
        fn encoded_requests_decode_to_their_entries(
            res in prop::collection::vec(arb_attr(), 0..4),
            records in prop::collection::vec(arb_record(), 0..6),
        ) {
            let req = request(res, records.clone());
            let body = req.encode_to_vec();
            let streams = decode_logs_protobuf(&body, 99).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let total: usize = streams.iter().map(|s| s.entries.len()).sum();
            prop_assert_eq!(total, records.len());
            for s in &streams {
                prop_assert!(s.labels.validate().is_ok());
                prop_assert!(s.labels.has("service_name"));
            }
            // Every record is found, in order within its level.
            let mut seen: HashMap<String, usize> = HashMap::new();
            for r in &records {
                let level = level_from_severity(&r.severity_text, r.severity_number);
                let s = streams.iter().find(|s| s.labels.get("level") == Some(level.as_str()));
                let s = s.ok_or_else(|| TestCaseError::fail(format!("no stream for {level}")))?;
                let i = seen.entry(level).or_default();
                let e = &s.entries[*i];
                *i += 1;
                let want_ts = nanos(r.time_unix_nano).or(nanos(r.observed_time_unix_nano)).unwrap_or(99);
                prop_assert_eq!(e.ts, want_ts);
                let want_line = match r.body.as_ref().and_then(|b| b.value.as_ref()) {
                    Some(V::StringValue(s)) => s.clone(),
                    Some(_) => r.body.as_ref().and_then(text).unwrap_or_default(),
                    None => String::new(),
                };
                prop_assert_eq!(&e.line, &want_line);
                let trace = id_hex(&r.trace_id, 16);
                prop_assert_eq!(e.metadata_value(TRACE_ID), trace.as_deref());
                for a in &r.attributes {
                    if let Some(V::StringValue(v)) = a.value.as_ref().and_then(|v| v.value.as_ref()) {
                        prop_assert!(e.metadata.iter().any(|(k, x)| *k == a.key && x == v));
                    }
                }
            }
            // OTLP/JSON, as the opentelemetry-proto serializer writes it, reads back the same.
            if let Ok(json) = serde_json::to_vec(&req) {
                let back = decode_logs_json(&json, 99).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&json))))?;
                prop_assert_eq!(back, streams);
            }
        }
    }
}
