//! JSON lines (NDJSON) logs, for `POST /api/v1/logs` from scripts and curl:
//! one JSON object per line, turned into model [`LogStream`]s by
//! [`decode_ndjson`].
//!
//! ```text
//! {"ts":"2024-05-01T12:00:00.5Z","level":"info","msg":"started","http":{"port":8080}}
//! {"ts":1714564801,"msg":"ready","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}
//! ```
//!
//! For each object:
//!
//! - **Time**: the field named by [`JsonLinesOptions::time_field`], by default
//!   the first present of `ts`, `timestamp`, `time`, `@timestamp`; absent or
//!   `null`, the entry gets [`JsonLinesOptions::now_ns`]. A time is an RFC 3339
//!   string (`2024-05-01T12:00:00.123456789Z`, `+02:00` offsets, `t`/space
//!   separators; no offset means UTC; fractions beyond nanoseconds are cut),
//!   or a number, or a string holding a number (decimals and exponents
//!   allowed), read as Unix time in a unit chosen by its magnitude `|v|`:
//!   seconds if `|v| < 1e11`, milliseconds if `< 1e14`, microseconds if
//!   `< 1e17`, nanoseconds otherwise. So seconds cover years up to 5138 and the
//!   other units every instant after 1973-03-03 (earlier ones are misread as
//!   the next smaller unit). Fractions below a nanosecond are cut.
//! - **Line**: the field named by [`JsonLinesOptions::line_field`], by default
//!   the first present of `line`, `message`, `msg`, `log`; a string is taken as
//!   is, another value as its JSON text. Without one (or if it is `null`), the
//!   line is the whole object's text as received.
//! - **Labels**: [`JsonLinesOptions::labels`] (fixed, for every line), then the
//!   fields named in [`JsonLinesOptions::label_fields`], which override fixed
//!   labels of the same name. A field name becomes a label name with every
//!   character outside `[a-zA-Z0-9_]` replaced by `_` (and a `_` in front of a
//!   leading digit): `service.name` is `service_name`. Strings are taken as
//!   is, other values as their JSON text; `null`, absent and empty values give
//!   no label. A line that ends with no label at all is an error.
//! - **Structured metadata**: every other field, in order. Nested objects are
//!   flattened with dots (`{"http":{"port":8080}}` is `http.port` = `8080`);
//!   numbers, booleans and arrays are kept as their JSON text; `null`s are
//!   dropped. Fields are found by these flattened names too, so `time_field`,
//!   `line_field` and `label_fields` may name nested fields (`event.created`)
//!   or a whole object, which is then taken as its JSON text.
//!   When a name occurs twice, the first occurrence is the one used as time,
//!   line or label, and the others stay metadata.
//!
//! Entries are grouped into streams by their label set: streams in the order
//! their first entry arrived, entries in arrival order. Blank lines (only
//! whitespace) are skipped; line numbers in errors are 1-based and count them.
//! Any error fails the whole body. Input size is the caller's limit; decoding
//! never panics.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::de::{self, Deserialize, MapAccess, SeqAccess, Visitor};

use pharos_model::{is_valid_label_name, validate_slice, LabelError, Labels, LabelsBuilder};
use pharos_model::{LogEntry, LogStream};

/// Time fields tried in order when [`JsonLinesOptions::time_field`] is `None`.
pub const DEFAULT_TIME_FIELDS: [&str; 4] = ["ts", "timestamp", "time", "@timestamp"];
/// Line fields tried in order when [`JsonLinesOptions::line_field`] is `None`.
pub const DEFAULT_LINE_FIELDS: [&str; 4] = ["line", "message", "msg", "log"];

/// How [`decode_ndjson`] maps objects to entries (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonLinesOptions {
    /// Labels of every entry (the API takes them from query parameters).
    pub labels: Vec<(String, String)>,
    /// Fields promoted to labels.
    pub label_fields: Vec<String>,
    /// The time field; `None` tries [`DEFAULT_TIME_FIELDS`].
    pub time_field: Option<String>,
    /// The line field; `None` tries [`DEFAULT_LINE_FIELDS`].
    pub line_field: Option<String>,
    /// The timestamp of entries without a time, Unix nanoseconds.
    pub now_ns: i64,
}

/// Why a JSON lines body was refused. Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonLinesError {
    /// The line is not valid JSON.
    #[error("line {line}: invalid JSON at column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// The line is valid JSON but not an object.
    #[error("line {line}: expected a JSON object, got {found}")]
    NotAnObject { line: usize, found: &'static str },
    /// The time field holds something that is not a time, or a time outside
    /// the `i64` nanosecond range (years 1677 to 2262).
    #[error("line {line}: field {field:?}: {message}")]
    Time {
        line: usize,
        field: String,
        message: String,
    },
    /// A fixed label from [`JsonLinesOptions::labels`] is invalid.
    #[error("label {name:?}: {error}")]
    FixedLabel { name: String, error: LabelError },
    /// The labels of a line are invalid (for example `__name__` holding
    /// something that is not a metric name).
    #[error("line {line}: {error}")]
    Labels { line: usize, error: LabelError },
    /// The line has no label: no fixed labels and no label field present.
    #[error("line {line}: no labels: give fixed labels or label fields present in every line")]
    NoLabels { line: usize },
}

/// Decodes an NDJSON body into streams (see the module docs for the mapping).
///
/// ```
/// use pharos_ingest::jsonlines::{decode_ndjson, JsonLinesOptions};
/// let opts = JsonLinesOptions {
///     labels: vec![("job".into(), "script".into())],
///     label_fields: vec!["level".into()],
///     ..Default::default()
/// };
/// let body = b"{\"ts\":1700000000,\"level\":\"info\",\"msg\":\"hi\",\"n\":3}\n\n";
/// let streams = decode_ndjson(body, &opts).unwrap();
/// assert_eq!(streams[0].labels.to_string(), r#"{job="script", level="info"}"#);
/// let e = &streams[0].entries[0];
/// assert_eq!((e.ts, e.line.as_str()), (1_700_000_000_000_000_000, "hi"));
/// assert_eq!(e.metadata, vec![("n".to_string(), "3".to_string())]);
/// ```
pub fn decode_ndjson(
    body: &[u8],
    opts: &JsonLinesOptions,
) -> Result<Vec<LogStream>, JsonLinesError> {
    let fixed = fixed_labels(opts)?;
    let mut streams: Vec<LogStream> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (labels, entry) = decode_line(raw, line_no, opts, &fixed)?;
        match index.get(&labels) {
            Some(&k) => streams[k].entries.push(entry),
            None => {
                index.insert(labels.clone(), streams.len());
                streams.push(LogStream {
                    labels,
                    entries: vec![entry],
                });
            }
        }
    }
    Ok(streams)
}

/// The fixed labels, checked once: valid names; empty values dropped.
fn fixed_labels(opts: &JsonLinesOptions) -> Result<LabelsBuilder, JsonLinesError> {
    let mut b = LabelsBuilder::new();
    for (name, value) in &opts.labels {
        if !is_valid_label_name(name) {
            return Err(JsonLinesError::FixedLabel {
                name: name.clone(),
                error: LabelError::InvalidName(name.clone()),
            });
        }
        b.set(name, value);
    }
    Ok(b)
}

/// One non-blank line: its labels and its entry.
fn decode_line(
    raw: &[u8],
    line: usize,
    opts: &JsonLinesOptions,
    fixed: &LabelsBuilder,
) -> Result<(Labels, LogEntry), JsonLinesError> {
    let value: J = serde_json::from_slice(raw).map_err(|e| {
        let column = e.column();
        let mut message = e.to_string();
        let suffix = format!(" at line {} column {column}", e.line());
        if message.ends_with(&suffix) {
            message.truncate(message.len() - suffix.len());
        }
        JsonLinesError::Json {
            line,
            column,
            message,
        }
    })?;
    let J::Obj(fields) = value else {
        return Err(JsonLinesError::NotAnObject {
            line,
            found: value.kind(),
        });
    };
    let mut flat: Vec<Flat<'_>> = Vec::with_capacity(fields.len());
    flatten(&fields, &mut String::new(), &mut flat);
    // Which flattened fields were used as time, line or label.
    let mut used = vec![false; flat.len()];
    let find = |name: &str| {
        flat.iter()
            .position(|f| f.key == name && !matches!(f.value, J::Null))
    };
    // Marks field `k` used, and everything inside it if it is an object.
    let mut take = |k: usize| used[k..=k + flat[k].inside].fill(true);
    let find_first = |names: &[&str]| names.iter().find_map(|n| find(n));

    let time_at = match &opts.time_field {
        Some(f) => find(f),
        None => find_first(&DEFAULT_TIME_FIELDS),
    };
    let ts = match time_at {
        Some(k) => {
            take(k);
            parse_time(flat[k].value).map_err(|message| JsonLinesError::Time {
                line,
                field: flat[k].key.clone(),
                message,
            })?
        }
        None => opts.now_ns,
    };

    let line_at = match &opts.line_field {
        Some(f) => find(f),
        None => find_first(&DEFAULT_LINE_FIELDS),
    };
    let text = match line_at {
        Some(k) => {
            take(k);
            flat[k].value.to_text()
        }
        None => String::from_utf8_lossy(raw.trim_ascii()).into_owned(),
    };

    let labels = if opts.label_fields.is_empty() {
        fixed.build()
    } else {
        let mut b = fixed.clone();
        for f in &opts.label_fields {
            if let Some(k) = find(f) {
                take(k);
                let value = flat[k].value.to_text();
                // An empty value gives no label (and leaves a fixed one alone).
                if !value.is_empty() {
                    b.set(&label_name(f), &value);
                }
            }
        }
        b.build()
    };
    if labels.is_empty() {
        return Err(JsonLinesError::NoLabels { line });
    }
    validate_slice(labels.as_slice()).map_err(|error| JsonLinesError::Labels { line, error })?;

    let metadata = flat
        .iter()
        .zip(&used)
        .filter(|(f, used)| !**used && !matches!(f.value, J::Null | J::Obj(_)))
        .map(|(f, _)| (f.key.clone(), f.value.to_text()))
        .collect();
    Ok((
        labels,
        LogEntry {
            ts,
            line: text.into(),
            metadata,
        },
    ))
}

/// A field name as a label name: `[a-zA-Z0-9_]` kept, anything else `_`, a
/// `_` in front of a leading digit.
fn label_name(field: &str) -> String {
    let mut out: String = field
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// One field of an object flattened by [`flatten`].
struct Flat<'a> {
    /// The dotted path: `http.port`.
    key: String,
    value: &'a J,
    /// For an object, how many of the following fields are inside it.
    inside: usize,
}

/// Flattens nested objects into `prefix.name` keys, depth first: an object
/// is listed (so that it can be named as a whole), then its members.
fn flatten<'a>(fields: &'a [(String, J)], prefix: &mut String, out: &mut Vec<Flat<'a>>) {
    for (name, value) in fields {
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(name);
        let at = out.len();
        out.push(Flat {
            key: prefix.clone(),
            value,
            inside: 0,
        });
        if let J::Obj(inner) = value {
            flatten(inner, prefix, out);
            out[at].inside = out.len() - at - 1;
        }
        prefix.truncate(len);
    }
}

/// A JSON value that keeps the order (and repetitions) of object members.
#[derive(Debug, Clone, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn kind(&self) -> &'static str {
        match self {
            J::Null => "null",
            J::Bool(_) => "a boolean",
            J::Num(_) => "a number",
            J::Str(_) => "a string",
            J::Arr(_) => "an array",
            J::Obj(_) => "an object",
        }
    }

    /// A string as is, anything else as its JSON text.
    fn to_text(&self) -> String {
        match self {
            J::Str(s) => s.clone(),
            other => {
                let mut out = String::new();
                other.write_json(&mut out);
                out
            }
        }
    }

    fn write_json(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => {
                let _ = write!(out, "{n}");
            }
            J::Str(s) => {
                // Serializing a str to JSON cannot fail.
                out.push_str(&serde_json::to_string(s).unwrap_or_default());
            }
            J::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap_or_default());
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        d.deserialize_any(JVisitor)
    }
}

struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = J;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<J, E> {
        Ok(J::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<J, E> {
        Ok(J::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<J, E> {
        Ok(J::Num(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<J, E> {
        Ok(J::Num(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<J, E> {
        // JSON numbers are finite; from_f64 refuses only NaN and infinities.
        Ok(serde_json::Number::from_f64(v).map_or(J::Null, J::Num))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<J, E> {
        Ok(J::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<J, E> {
        Ok(J::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(J::Arr(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, J>()? {
            out.push((k, v));
        }
        Ok(J::Obj(out))
    }
}

/// The Unix nanoseconds of a time value (see the module docs), or why not.
fn parse_time(v: &J) -> Result<i64, String> {
    match v {
        J::Num(n) => {
            let s = n.to_string();
            numeric_time(&s).ok_or_else(|| out_of_range(&s))
        }
        J::Str(s) => {
            let t = s.trim();
            if let Some(d) = Decimal::parse(t) {
                return d
                    .unix_nanos()
                    .ok_or_else(|| out_of_range(&format!("{s:?}")));
            }
            match parse_rfc3339(t) {
                Some(Some(ns)) => Ok(ns),
                Some(None) => Err(out_of_range(&format!("{s:?}"))),
                None => Err(format!(
                    "{s:?} is neither an RFC 3339 time nor a Unix timestamp"
                )),
            }
        }
        other => Err(format!("{} is not a time", other.kind())),
    }
}

fn out_of_range(v: &str) -> String {
    format!("time {v} is outside the range of Unix nanoseconds (years 1677 to 2262)")
}

/// Unix nanoseconds of a numeric time (JSON number text).
fn numeric_time(s: &str) -> Option<i64> {
    Decimal::parse(s)?.unix_nanos()
}

/// A decimal number as `(-1)^neg × digits × 10^exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal {
    neg: bool,
    /// The integer and fraction digits, without leading zeros (empty for zero).
    digits: String,
    exp: i64,
}

impl Decimal {
    /// `[+-]? digits? (. digits?)? ([eE] [+-]? digits)?` with at least one mantissa digit.
    fn parse(s: &str) -> Option<Decimal> {
        let b = s.as_bytes();
        let mut i = 0;
        let neg = match b.first() {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let int_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let int = &s[int_start..i];
        let mut frac = "";
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let f = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            frac = &s[f..i];
        }
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let mut exp: i64 = 0;
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            let eneg = match b.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let e0 = i;
            while i < b.len() && b[i].is_ascii_digit() {
                // Saturate: beyond a million the value is 0 or out of range anyway.
                exp = (exp * 10 + i64::from(b[i] - b'0')).min(1_000_000);
                i += 1;
            }
            if i == e0 {
                return None;
            }
            if eneg {
                exp = -exp;
            }
        }
        if i != b.len() {
            return None;
        }
        let mut digits = String::with_capacity(int.len() + frac.len());
        digits.push_str(int);
        digits.push_str(frac);
        let trimmed = digits.trim_start_matches('0').to_string();
        Some(Decimal {
            neg,
            digits: trimmed,
            exp: exp - frac.len() as i64,
        })
    }

    /// The number as Unix time in the unit its magnitude picks, in nanoseconds.
    fn unix_nanos(&self) -> Option<i64> {
        if self.digits.is_empty() {
            return Some(0);
        }
        // Digits before the decimal point (<= 0 when |v| < 1).
        let int_digits = self.digits.len() as i64 + self.exp;
        let scale = match int_digits {
            ..=11 => 9, // seconds: |v| < 1e11
            12..=14 => 6,
            15..=17 => 3,
            _ => 0,
        };
        let shift = self.exp + scale;
        let kept: i64 = self.digits.len() as i64 + shift.min(0);
        if kept <= 0 {
            return Some(0);
        }
        // More than 19 significant integer digits cannot fit an i64.
        if kept + shift.max(0) > 19 {
            return None;
        }
        let mantissa: i128 = self.digits[..kept as usize].parse().ok()?;
        let v = mantissa * 10i128.pow(shift.max(0) as u32);
        i64::try_from(if self.neg { -v } else { v }).ok()
    }
}

/// RFC 3339 to Unix nanoseconds: `None` if `s` is not RFC 3339, `Some(None)`
/// if it is but outside the `i64` nanosecond range.
fn parse_rfc3339(s: &str) -> Option<Option<i64>> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        if d.iter().all(u8::is_ascii_digit) {
            Some(d.iter().fold(0i64, |a, &c| a * 10 + i64::from(c - b'0')))
        } else {
            None
        }
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo)
        || d < 1
        || d > i64::from(crate::civil::days_in_month(y, mo as u32))
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    let mut i = 19;
    let mut frac_ns: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                frac_ns = frac_ns * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            frac_ns *= 10;
        }
    }
    let offset_s = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&c @ (b'+' | b'-')) => {
            let rest = &s[i + 1..];
            let (oh, om) = match rest.len() {
                5 if rest.as_bytes()[2] == b':' => (num(i + 1..i + 3)?, num(i + 4..i + 6)?),
                4 => (num(i + 1..i + 3)?, num(i + 3..i + 5)?),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if c == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let secs =
        crate::civil::days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + sec
            - offset_s;
    let ns = i128::from(secs) * 1_000_000_000 + i128::from(frac_ns);
    Some(i64::try_from(ns).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn opts() -> JsonLinesOptions {
        JsonLinesOptions {
            labels: vec![("job".into(), "test".into())],
            now_ns: 42,
            ..Default::default()
        }
    }

    fn one(body: &str, o: &JsonLinesOptions) -> LogEntry {
        let s = decode_ndjson(body.as_bytes(), o).unwrap();
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].entries.len(), 1);
        s[0].entries[0].clone()
    }

    fn md(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_time_line_metadata() {
        let e = one(
            r#"{"ts":"2024-05-01T12:00:00.5Z","level":"info","msg":"started","http":{"port":8080,"tls":false},"tags":["a",1],"gone":null}"#,
            &opts(),
        );
        assert_eq!(e.ts, 1_714_564_800_500_000_000);
        assert_eq!(e.line, "started");
        assert_eq!(
            e.metadata,
            md(&[
                ("level", "info"),
                ("http.port", "8080"),
                ("http.tls", "false"),
                ("tags", r#"["a",1]"#)
            ])
        );
    }

    #[test]
    fn default_fields_are_tried_in_order() {
        // `timestamp` before `time`, `message` before `msg`.
        let e = one(
            r#"{"time":1,"timestamp":2,"msg":"b","message":"a"}"#,
            &opts(),
        );
        assert_eq!(e.ts, 2_000_000_000);
        assert_eq!(e.line, "a");
        assert_eq!(e.metadata, md(&[("time", "1"), ("msg", "b")]));
        let e = one(
            r#"{"@timestamp":"2024-01-01T00:00:00Z","log":"x"}"#,
            &opts(),
        );
        assert_eq!(e.ts, 1_704_067_200_000_000_000);
        assert_eq!(e.line, "x");
    }

    #[test]
    fn no_line_field_takes_the_whole_object_and_no_time_takes_now() {
        let body = "  {\"a\": 1, \"b\": {\"c\": \"d\"}}  \r\n";
        let e = one(body, &opts());
        assert_eq!(e.line, r#"{"a": 1, "b": {"c": "d"}}"#);
        assert_eq!(e.ts, 42);
        assert_eq!(e.metadata, md(&[("a", "1"), ("b.c", "d")]));
        // A null time or line counts as absent.
        let e = one(r#"{"ts":null,"line":null,"x":"y"}"#, &opts());
        assert_eq!(e.ts, 42);
        assert_eq!(e.line, r#"{"ts":null,"line":null,"x":"y"}"#);
    }

    #[test]
    fn configured_fields_may_be_nested_and_lines_may_be_non_strings() {
        let o = JsonLinesOptions {
            time_field: Some("event.created".into()),
            line_field: Some("body".into()),
            label_fields: vec!["service.name".into(), "level".into(), "9lives".into()],
            ..opts()
        };
        let s = decode_ndjson(
            br#"{"event":{"created":1700000000123},"body":{"k":[1,2]},"service":{"name":"api"},"level":"warn","9lives":true,"ts":5}"#,
            &o,
        )
        .unwrap();
        assert_eq!(
            s[0].labels.to_string(),
            r#"{_9lives="true", job="test", level="warn", service_name="api"}"#
        );
        let e = &s[0].entries[0];
        assert_eq!(e.ts, 1_700_000_000_123_000_000);
        assert_eq!(e.line, r#"{"k":[1,2]}"#);
        // `ts` is not the time field here, so it is metadata.
        assert_eq!(e.metadata, md(&[("ts", "5")]));
    }

    #[test]
    fn label_fields_override_fixed_labels_and_group_streams_in_order() {
        let o = JsonLinesOptions {
            labels: vec![
                ("level".into(), "unknown".into()),
                ("job".into(), "j".into()),
            ],
            label_fields: vec!["level".into()],
            ..opts()
        };
        let body = concat!(
            "{\"level\":\"info\",\"msg\":\"1\"}\n",
            "{\"msg\":\"2\"}\n",
            "\n",
            "   \n",
            "{\"level\":\"info\",\"msg\":\"3\"}\n",
            "{\"level\":\"\",\"msg\":\"4\"}",
        );
        let s = decode_ndjson(body.as_bytes(), &o).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels.to_string(), r#"{job="j", level="info"}"#);
        let lines = |k: usize| {
            s[k].entries
                .iter()
                .map(|e| e.line.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(lines(0), ["1", "3"]);
        assert_eq!(s[1].labels.to_string(), r#"{job="j", level="unknown"}"#);
        // An empty label field value gives no label, so the fixed one stays.
        assert_eq!(lines(1), ["2", "4"]);
    }

    #[test]
    fn duplicate_names_first_is_used_others_stay_metadata() {
        let e = one(r#"{"msg":"a","msg":"b","x":{"y":1},"x.y":2}"#, &opts());
        assert_eq!(e.line, "a");
        assert_eq!(e.metadata, md(&[("msg", "b"), ("x.y", "1"), ("x.y", "2")]));
    }

    #[test]
    fn numeric_times_by_magnitude() {
        let ns = |v: &str| parse_time(&serde_json::from_str::<J>(v).unwrap());
        let t = 1_700_000_000_000_000_000i64;
        assert_eq!(ns("1700000000"), Ok(t));
        assert_eq!(ns("1700000000.25"), Ok(t + 250_000_000));
        assert_eq!(ns(r#""1700000000.123456789""#), Ok(t + 123_456_789));
        assert_eq!(ns(r#""1700000000.1234567891""#), Ok(t + 123_456_789));
        assert_eq!(ns("1700000000000"), Ok(t));
        assert_eq!(ns("1700000000000.5"), Ok(t + 500_000));
        assert_eq!(ns("1700000000000000"), Ok(t));
        assert_eq!(ns("1700000000000000000"), Ok(t));
        assert_eq!(ns(r#""1700000000000000001""#), Ok(t + 1));
        assert_eq!(ns("1.7e9"), Ok(t));
        assert_eq!(ns(r#"" 1.7E18 ""#), Ok(t));
        assert_eq!(ns("0"), Ok(0));
        assert_eq!(ns("-1.5"), Ok(-1_500_000_000));
        assert_eq!(ns("0.000000000001"), Ok(0));
        // Thresholds: 1e11 is milliseconds, just below is seconds.
        assert_eq!(ns("100000000000"), Ok(100_000_000_000_000_000));
        assert_eq!(ns("100000000000000"), Ok(100_000_000_000_000_000));
        assert_eq!(ns("100000000000000000"), Ok(100_000_000_000_000_000));
        assert!(ns("99999999999").is_err(), "1e11 s is beyond 2262");
        assert!(ns("1e30").unwrap_err().contains("outside the range"));
        assert!(ns(r#""1e999999999999999""#).is_err());
        assert_eq!(ns(r#""1e-999999999999999""#), Ok(0));
        assert_eq!(ns("9223372036854775807"), Ok(i64::MAX));
        assert!(ns("9223372036854775808").is_err());
        assert_eq!(ns("-9223372036854775808"), Ok(i64::MIN));
    }

    #[test]
    fn rfc3339_times() {
        let ns = |v: &str| parse_time(&J::Str(v.into()));
        assert_eq!(ns("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(ns("1970-01-01t00:00:01.000000001z"), Ok(1_000_000_001));
        assert_eq!(ns("1970-01-01 01:00:00+01:00"), Ok(0));
        assert_eq!(ns("1970-01-01T00:00:00-0130"), Ok(5_400_000_000_000));
        assert_eq!(ns("1970-01-01T00:00:00"), Ok(0));
        assert_eq!(
            ns("2024-02-29T23:59:60.123456789999Z"),
            Ok(1_709_251_200_123_456_789)
        );
        assert_eq!(ns("1969-12-31T23:59:59.5Z"), Ok(-500_000_000));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+1:00",
            "2024-01-01T00:00:00Zjunk",
            "2024-01-01",
            "yesterday",
            "",
        ] {
            let e = ns(bad).unwrap_err();
            assert!(e.contains("neither an RFC 3339 time"), "{bad}: {e}");
        }
        assert!(ns("2263-01-01T00:00:00Z")
            .unwrap_err()
            .contains("outside the range"));
        assert!(ns("1600-01-01T00:00:00Z")
            .unwrap_err()
            .contains("outside the range"));
    }

    #[test]
    fn errors_name_line_and_field() {
        let err = |body: &str, o: &JsonLinesOptions| decode_ndjson(body.as_bytes(), o).unwrap_err();
        let e = err("{\"msg\":\"ok\"}\n\n{\"msg\": }\n", &opts());
        assert_eq!(
            e,
            JsonLinesError::Json {
                line: 3,
                column: 9,
                message: "expected value".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "line 3: invalid JSON at column 9: expected value"
        );
        assert_eq!(
            err("[1]\n", &opts()).to_string(),
            "line 1: expected a JSON object, got an array"
        );
        assert_eq!(
            err("\n\"s\"", &opts()),
            JsonLinesError::NotAnObject {
                line: 2,
                found: "a string"
            }
        );
        assert_eq!(
            err(r#"{"ts":"soon"}"#, &opts()).to_string(),
            r#"line 1: field "ts": "soon" is neither an RFC 3339 time nor a Unix timestamp"#
        );
        assert_eq!(
            err(r#"{"ts":true}"#, &opts()).to_string(),
            r#"line 1: field "ts": a boolean is not a time"#
        );
        assert_eq!(
            err(r#"{"ts":1e300}"#, &opts()).to_string(),
            r#"line 1: field "ts": time 1e+300 is outside the range of Unix nanoseconds (years 1677 to 2262)"#
        );
        let no_labels = JsonLinesOptions::default();
        assert_eq!(err("{}", &no_labels), JsonLinesError::NoLabels { line: 1 });
        let bad_fixed = JsonLinesOptions {
            labels: vec![("a-b".into(), "x".into())],
            ..Default::default()
        };
        assert_eq!(
            err("{}", &bad_fixed).to_string(),
            r#"label "a-b": invalid label name "a-b""#
        );
        let name_field = JsonLinesOptions {
            label_fields: vec!["__name__".into()],
            ..opts()
        };
        assert!(matches!(
            err(r#"{"__name__":"a-b"}"#, &name_field),
            JsonLinesError::Labels {
                line: 1,
                error: LabelError::InvalidMetricName(_)
            }
        ));
        // Invalid UTF-8 is a JSON error, not a panic.
        assert!(matches!(
            decode_ndjson(b"{\"msg\":\"\xff\"}", &opts()),
            Err(JsonLinesError::Json { line: 1, .. })
        ));
    }

    #[test]
    fn empty_and_blank_bodies() {
        assert!(decode_ndjson(b"", &opts()).unwrap().is_empty());
        assert!(decode_ndjson(b"\n \r\n\t\n", &opts()).unwrap().is_empty());
    }

    #[test]
    fn label_names_from_fields() {
        assert_eq!(label_name("service.name"), "service_name");
        assert_eq!(label_name("k8s-pod"), "k8s_pod");
        assert_eq!(label_name("1x"), "_1x");
        assert_eq!(label_name(""), "_");
        assert_eq!(label_name("é"), "_");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
            let o = JsonLinesOptions {
                label_fields: vec!["a".into(), "b.c".into()],
                time_field: None,
                ..opts()
            };
            if let Ok(streams) = decode_ndjson(&body, &o) {
                for s in &streams {
                    prop_assert!(s.labels.validate().is_ok());
                    prop_assert!(!s.entries.is_empty());
                }
            }
        }

        #[test]
        fn arbitrary_json_lines_never_panic(lines in prop::collection::vec(
            r#"\{("(ts|msg|a|b|time|x)":(-?[0-9]{1,22}(\.[0-9]{0,12})?([eE][-+]?[0-9]{1,4})?|"[^"\\]{0,30}"|null|true|\[\]|\{"c":"[a-z]{0,3}"\}),?){0,5}\}"#,
            0..8,
        )) {
            let body = lines.join("\n");
            let o = JsonLinesOptions {
                label_fields: vec!["a".into(), "b.c".into()],
                ..opts()
            };
            match decode_ndjson(body.as_bytes(), &o) {
                Ok(streams) => {
                    for s in &streams {
                        prop_assert!(s.labels.validate().is_ok());
                        prop_assert!(!s.entries.is_empty());
                    }
                }
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }

        #[test]
        fn numeric_strings_and_numbers_agree(secs in 0i64..9_000_000_000, frac in 0u32..1000) {
            let s = format!("{secs}.{frac:03}");
            let a = parse_time(&J::Str(s.clone()));
            let b = parse_time(&serde_json::from_str::<J>(&s).unwrap());
            prop_assert_eq!(a.clone(), Ok(secs * 1_000_000_000 + i64::from(frac) * 1_000_000));
            // The JSON number goes through f64, so allow a microsecond of rounding.
            prop_assert!((a.unwrap() - b.unwrap()).abs() < 1_000);
        }
    }
}
