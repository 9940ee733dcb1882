//! The JSON form of a Loki push (`Content-Type: application/json`):
//!
//! ```json
//! {"streams": [{"stream": {"app": "api"},
//!               "values": [["1700000000000000000", "a line"],
//!                          ["1700000000000000001", "another", {"trace_id": "abc"}]]}]}
//! ```
//!
//! Read with serde visitors straight into the model, so that an error names
//! the stream and entry index and serde_json adds the line and column. What
//! is accepted, following Loki's `loghttp.PushRequest` decoding
//! (`pkg/loghttp/query.go`):
//!
//! - unknown keys are ignored; a missing or `null` `streams` or `values` is empty;
//! - label values must be strings; a label given twice keeps the last value
//!   (Loki reads the object into a Go map); empty values are dropped;
//! - an entry is `[timestamp, line]` or `[timestamp, line, metadata]`; a
//!   `null` entry is skipped, as Loki does; more than three elements or fewer
//!   than two are refused (Loki ignores extra elements and silently accepts
//!   short ones);
//! - the timestamp is a string of integer Unix nanoseconds; pharos also
//!   accepts a JSON integer (Loki refuses numbers), never a fraction;
//! - the line is a string;
//! - metadata is an object of string values (`null` is taken as none);
//!   repeated names are all kept, in order.
//!
//! The body must hold exactly one JSON value (Loki ignores trailing bytes).

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use pharos_model::{LogEntry, LogStream};

use super::labels::{build_labels, format_pairs, Duplicates};
use super::LokiError;

/// Decodes a JSON push body (already decompressed).
pub(super) fn decode(body: &[u8]) -> Result<Vec<LogStream>, LokiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let raw = RequestSeed.deserialize(&mut de).map_err(json_error)?;
    de.end().map_err(json_error)?;
    raw.into_iter()
        .enumerate()
        .map(|(i, s)| {
            let labels = build_labels(s.labels.clone(), Duplicates::LastWins).map_err(|error| {
                LokiError::Labels {
                    stream: i,
                    labels: format_pairs(&s.labels),
                    error,
                }
            })?;
            Ok(LogStream {
                labels,
                entries: s.entries,
            })
        })
        .collect()
}

/// A serde_json error as a [`LokiError::Json`], its position split out.
fn json_error(e: serde_json::Error) -> LokiError {
    let (line, column) = (e.line(), e.column());
    let mut message = e.to_string();
    let suffix = format!(" at line {line} column {column}");
    if message.ends_with(&suffix) {
        message.truncate(message.len() - suffix.len());
    }
    LokiError::Json {
        line,
        column,
        message,
    }
}

/// A stream as read, before its labels are checked.
struct RawStream {
    labels: Vec<(String, String)>,
    entries: Vec<LogEntry>,
}

/// What a JSON value is, for messages.
fn kind(u: &de::Unexpected<'_>) -> String {
    match u {
        de::Unexpected::Bool(b) => format!("`{b}`"),
        de::Unexpected::Unsigned(n) => format!("the number {n}"),
        de::Unexpected::Signed(n) => format!("the number {n}"),
        de::Unexpected::Float(n) => format!("the number {n}"),
        de::Unexpected::Str(_) => "a string".to_string(),
        de::Unexpected::Unit | de::Unexpected::Option => "null".to_string(),
        de::Unexpected::Seq => "an array".to_string(),
        de::Unexpected::Map => "an object".to_string(),
        other => other.to_string(),
    }
}

/// The top-level object.
struct RequestSeed;

impl<'de> DeserializeSeed<'de> for RequestSeed {
    type Value = Vec<RawStream>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RequestSeed {
    type Value = Vec<RawStream>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"an object {"streams": [...]}"#)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut streams = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "streams" {
                streams = map.next_value_seed(StreamsSeed)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(streams)
    }
}

/// `"streams": [...]`.
struct StreamsSeed;

impl<'de> DeserializeSeed<'de> for StreamsSeed {
    type Value = Vec<RawStream>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StreamsSeed {
    type Value = Vec<RawStream>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#""streams" to be an array"#)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let i = out.len();
            match seq.next_element_seed(StreamSeed { i })? {
                Some(s) => out.push(s),
                None => return Ok(out),
            }
        }
    }
}

/// One stream object, number `i`.
struct StreamSeed {
    i: usize,
}

impl<'de> DeserializeSeed<'de> for StreamSeed {
    type Value = RawStream;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StreamSeed {
    type Value = RawStream;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"stream {} to be an object {{"stream": {{...}}, "values": [...]}}"#,
            self.i
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut s = RawStream {
            labels: Vec::new(),
            entries: Vec::new(),
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "stream" => s.labels = map.next_value_seed(LabelsSeed { i: self.i })?,
                "values" => s.entries = map.next_value_seed(ValuesSeed { i: self.i })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(s)
    }
}

/// `"stream": {"name": "value", ...}` of stream `i`.
struct LabelsSeed {
    i: usize,
}

impl<'de> DeserializeSeed<'de> for LabelsSeed {
    type Value = Vec<(String, String)>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LabelsSeed {
    type Value = Vec<(String, String)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the labels of stream {} to be an object", self.i)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value_seed(Leaf {
                what: What::Label {
                    stream: self.i,
                    name: &name,
                },
            })?;
            out.push((name, value.into_string()));
        }
        Ok(out)
    }
}

/// `"values": [...]` of stream `i`.
struct ValuesSeed {
    i: usize,
}

impl<'de> DeserializeSeed<'de> for ValuesSeed {
    type Value = Vec<LogEntry>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValuesSeed {
    type Value = Vec<LogEntry>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the values of stream {} to be an array", self.i)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        let mut j = 0;
        while let Some(e) = seq.next_element_seed(EntrySeed {
            stream: self.i,
            entry: j,
        })? {
            if let Some(e) = e {
                out.push(e);
            }
            j += 1;
        }
        Ok(out)
    }
}

/// Entry `entry` of stream `stream`: `[ts, line]` or `[ts, line, {metadata}]`; `null` is skipped.
struct EntrySeed {
    stream: usize,
    entry: usize,
}

impl EntrySeed {
    fn shape_error<E: de::Error>(&self, got: &str) -> E {
        E::custom(format_args!(
            "stream {}: entry {}: expected [timestamp, line] or [timestamp, line, structured metadata], got {got}",
            self.stream, self.entry
        ))
    }
}

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = Option<LogEntry>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed {
    type Value = Option<LogEntry>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entry {} of stream {} to be an array [timestamp, line]",
            self.entry, self.stream
        )
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Err(self.shape_error(&kind(&de::Unexpected::Bool(v))))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Err(self.shape_error(&kind(&de::Unexpected::Signed(v))))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Err(self.shape_error(&kind(&de::Unexpected::Unsigned(v))))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Err(self.shape_error(&kind(&de::Unexpected::Float(v))))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(self.shape_error("a string"))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.shape_error("an object"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (stream, entry) = (self.stream, self.entry);
        let Some(ts) = seq.next_element_seed(Leaf {
            what: What::Timestamp { stream, entry },
        })?
        else {
            return Err(self.shape_error("an empty array"));
        };
        let Some(line) = seq.next_element_seed(Leaf {
            what: What::Line { stream, entry },
        })?
        else {
            return Err(self.shape_error("an array of 1 element"));
        };
        let metadata = seq
            .next_element_seed(MetadataSeed { stream, entry })?
            .unwrap_or_default();
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(self.shape_error("an array of more than 3 elements"));
        }
        Ok(Some(LogEntry {
            ts: ts.into_timestamp(),
            line: line.into_string().into(),
            metadata,
        }))
    }
}

/// The structured metadata object of an entry.
struct MetadataSeed {
    stream: usize,
    entry: usize,
}

impl<'de> DeserializeSeed<'de> for MetadataSeed {
    type Value = Vec<(String, String)>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MetadataSeed {
    type Value = Vec<(String, String)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the structured metadata of entry {} of stream {} to be an object",
            self.entry, self.stream
        )
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value_seed(Leaf {
                what: What::Metadata {
                    stream: self.stream,
                    entry: self.entry,
                    name: &name,
                },
            })?;
            out.push((name, value.into_string()));
        }
        Ok(out)
    }
}

/// Which scalar a [`Leaf`] reads, for its messages and its accepted types.
#[derive(Clone, Copy)]
enum What<'a> {
    Label {
        stream: usize,
        name: &'a str,
    },
    Timestamp {
        stream: usize,
        entry: usize,
    },
    Line {
        stream: usize,
        entry: usize,
    },
    Metadata {
        stream: usize,
        entry: usize,
        name: &'a str,
    },
}

impl fmt::Display for What<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            What::Label { stream, name } => write!(f, "stream {stream}: label {name:?}"),
            What::Timestamp { stream, entry } => {
                write!(f, "stream {stream}: entry {entry}: timestamp")
            }
            What::Line { stream, entry } => write!(f, "stream {stream}: entry {entry}: line"),
            What::Metadata {
                stream,
                entry,
                name,
            } => write!(
                f,
                "stream {stream}: entry {entry}: structured metadata {name:?}"
            ),
        }
    }
}

/// A scalar read by [`Leaf`].
enum LeafValue {
    Str(String),
    Ts(i64),
}

impl LeafValue {
    fn into_string(self) -> String {
        match self {
            LeafValue::Str(s) => s,
            LeafValue::Ts(t) => t.to_string(),
        }
    }

    fn into_timestamp(self) -> i64 {
        match self {
            LeafValue::Ts(t) => t,
            // Not produced for timestamps; 0 keeps this total.
            LeafValue::Str(_) => 0,
        }
    }
}

/// Reads a string (labels, lines, metadata) or a timestamp, refusing other
/// JSON types with a message that names the place.
struct Leaf<'a> {
    what: What<'a>,
}

impl Leaf<'_> {
    fn wrong<E: de::Error>(&self, got: &de::Unexpected<'_>) -> E {
        match self.what {
            What::Timestamp { .. } => E::custom(format_args!(
                "{} must be a string of integer Unix nanoseconds, got {}",
                self.what,
                kind(got)
            )),
            _ => E::custom(format_args!(
                "{} must be a string, got {}",
                self.what,
                kind(got)
            )),
        }
    }

    fn timestamp<E: de::Error>(&self, s: &str) -> Result<LeafValue, E> {
        parse_nanos(s).map(LeafValue::Ts).ok_or_else(|| {
            E::custom(format_args!(
                "{} {s:?} is not an integer number of nanoseconds",
                self.what
            ))
        })
    }
}

/// Strict integer parsing as Loki's: an optional `-`, then decimal digits, in `i64` range.
pub(super) fn parse_nanos(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl<'de> DeserializeSeed<'de> for Leaf<'_> {
    type Value = LeafValue;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Leaf<'_> {
    type Value = LeafValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to be a string", self.what)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        match self.what {
            What::Timestamp { .. } => self.timestamp(v),
            _ => Ok(LeafValue::Str(v.to_owned())),
        }
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        match self.what {
            What::Timestamp { .. } => self.timestamp(&v),
            _ => Ok(LeafValue::Str(v)),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        match self.what {
            What::Timestamp { .. } => Ok(LeafValue::Ts(v)),
            _ => Err(self.wrong(&de::Unexpected::Signed(v))),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        match (self.what, i64::try_from(v)) {
            (What::Timestamp { .. }, Ok(v)) => Ok(LeafValue::Ts(v)),
            (What::Timestamp { .. }, Err(_)) => Err(E::custom(format_args!(
                "{} {v} is out of range for Unix nanoseconds",
                self.what
            ))),
            _ => Err(self.wrong(&de::Unexpected::Unsigned(v))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        match self.what {
            What::Timestamp { .. } => Err(E::custom(format_args!(
                "{} {v} is not an integer number of nanoseconds",
                self.what
            ))),
            _ => Err(self.wrong(&de::Unexpected::Float(v))),
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Err(self.wrong(&de::Unexpected::Bool(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(self.wrong(&de::Unexpected::Unit))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.wrong(&de::Unexpected::Seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.wrong(&de::Unexpected::Map))
    }
}

/// Encodes streams as a JSON push body (labels in their order, timestamps as
/// strings, metadata as a third element when there is any, repeated names kept).
pub(super) fn encode(streams: &[LogStream]) -> Vec<u8> {
    let mut out = String::with_capacity(
        64 + streams
            .iter()
            .map(|s| {
                32 + s
                    .entries
                    .iter()
                    .map(|e| 32 + e.size() + 6 * e.metadata.len())
                    .sum::<usize>()
            })
            .sum::<usize>(),
    );
    out.push_str(r#"{"streams":["#);
    for (i, s) in streams.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"stream":{"#);
        for (k, l) in s.labels.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            push_json_string(&mut out, &l.name);
            out.push(':');
            push_json_string(&mut out, &l.value);
        }
        out.push_str(r#"},"values":["#);
        for (j, e) in s.entries.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str("[\"");
            out.push_str(&e.ts.to_string());
            out.push_str("\",");
            push_json_string(&mut out, &e.line);
            if !e.metadata.is_empty() {
                out.push_str(",{");
                for (k, (n, v)) in e.metadata.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    push_json_string(&mut out, n);
                    out.push(':');
                    push_json_string(&mut out, v);
                }
                out.push('}');
            }
            out.push(']');
        }
        out.push_str("]}");
    }
    out.push_str("]}");
    out.into_bytes()
}

/// Appends `s` as a JSON string literal.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => out.push_str(&format!("\\u{:04x}", c as u32)),
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}
