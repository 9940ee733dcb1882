//! Loki push, receiver side: [`decode_push`] turns the body of
//! `POST /loki/api/v1/push` into model [`LogStream`]s.
//!
//! # Formats
//!
//! The `Content-Type` picks the format, as in Loki (`pkg/loghttp/push/push.go`):
//! `application/json` (parameters such as `; charset=utf-8` ignored, case
//! insensitive) is JSON; anything else is protobuf. So is a missing header,
//! as Loki's code comment intends (its `mime.ParseMediaType` call actually
//! refuses an empty header).
//!
//! **Protobuf**: a snappy block-compressed [`PushRequest`]
//! (`pkg/push/push.proto`). Every stream carries its labels as a selector
//! string, `{app="api", env="prod"}`, read by [`parse_labels`] (only `=`,
//! Go string escapes, valid and unique names, at least one label; empty values
//! dropped). An entry's timestamp is a `google.protobuf.Timestamp`; nanos
//! outside `[0, 1e9)` and instants outside the `i64` nanosecond range (years
//! 1677 to 2262) are refused. Lines and structured metadata that are not
//! UTF-8 are kept with U+FFFD replacements.
//!
//! **JSON**: `{"streams":[{"stream":{"app":"api"},"values":[["<ns>","line"],
//! ["<ns>","line",{"trace_id":"abc"}]]}]}`, read as Loki's
//! `loghttp.PushRequest` reads it (`pkg/loghttp/query.go`): unknown keys
//! ignored; a missing or `null` `streams`, `stream` or `values` is empty; a
//! `null` entry is skipped; label values, lines and metadata values must be
//! strings; a label name given twice keeps its last value (a Go map in Loki);
//! the same label checks as above. Differences, all stricter or more
//! lenient only where Loki's behaviour is accidental: the timestamp may also
//! be a JSON integer (Loki wants a string), never a fraction; an entry of
//! fewer than two or more than three elements is refused (Loki accepts short
//! entries as empty and ignores extra elements); a `null` metadata element
//! means none; repeated metadata names are all kept, in order; bytes after the
//! JSON value are refused.
//!
//! # Content-Encoding
//!
//! As Loki: none, `gzip` (multi-member too) and `deflate` (raw DEFLATE as Go's
//! `compress/flate` reads it; a zlib stream is recognised by its header and
//! accepted too) wrap either format; the snappy of a protobuf body is always
//! there and `Content-Encoding: snappy` on it is redundant. `identity` counts
//! as none, `x-gzip` as `gzip`, and names are case-insensitive. With JSON,
//! `snappy` means a snappy block, except that a body that does not decode to
//! JSON but already is JSON is read as is (Loki ignores the header and reads
//! the raw bytes). Anything else is [`LokiError::UnsupportedEncoding`].
//!
//! # Limits and errors
//!
//! No stage may produce more than `max_decoded` bytes (gzip or deflate
//! output, snappy output, or an uncompressed JSON body): beyond it the result
//! is [`LokiError::TooLarge`] (HTTP 413), found before allocating for snappy
//! and after at most `max_decoded + 1` bytes for gzip. Every other error is a
//! 400 whose message says where: the stream and entry index and the field,
//! plus the byte offset into the decompressed protobuf or the line and column
//! of the JSON. One bad stream fails the whole request (Loki's parser does the
//! same for unparsable labels). Decoding never panics, whatever the input.
//!
//! Streams come out in request order, one per request stream, entries in
//! their order; streams with the same labels are not merged, and label and
//! metadata length limits are the store's business.
//!
//! ```
//! use pharos_ingest::loki;
//! use pharos_model::{LogEntry, LogStream, Labels};
//! let streams = vec![LogStream {
//!     labels: Labels::from_pairs(&[("app", "api")]),
//!     entries: vec![LogEntry::new(1_700_000_000_000_000_000, "hello")],
//! }];
//! let body = loki::encode_push_protobuf(&streams);
//! let back = loki::decode_push(Some("application/x-protobuf"), None, &body, 1 << 20).unwrap();
//! assert_eq!(back, streams);
//! let json = br#"{"streams":[{"stream":{"app":"api"},"values":[["1700000000000000000","hello"]]}]}"#;
//! assert_eq!(loki::decode_push(Some("application/json"), None, json, 1 << 20).unwrap(), streams);
//! ```

mod json;
mod labels;
mod proto;
mod wire;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::io::Read;

use pharos_model::LogStream;
use prost::Message;

pub use labels::{format_labels, parse_labels, LabelsError};
pub use proto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp};

/// The default bound on a decoded body (64 MiB), for callers without a configured one.
pub const DEFAULT_MAX_DECODED: usize = 64 << 20;

/// At most this much of a labels string is quoted in an error message.
const MAX_QUOTED_LABELS: usize = 256;

/// Why a Loki push body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LokiError {
    /// A decoding stage would produce more than the limit (HTTP 413).
    #[error("decoded body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// A `Content-Encoding` other than none, `identity`, `gzip`, `deflate`, `snappy`.
    #[error("Content-Encoding {0:?} not supported")]
    UnsupportedEncoding(String),
    /// The body is not valid for its content coding (`gzip`, `deflate`, `snappy`).
    #[error("{encoding}: {message}")]
    Decompress {
        encoding: &'static str,
        message: String,
    },
    /// The decompressed body is not a valid `PushRequest`. `offset` is a byte
    /// offset into it; `context` says where (`stream 3: entry 17: line`).
    #[error("protobuf: {}{message} at byte {offset}", context_prefix(.context))]
    Protobuf {
        offset: usize,
        context: String,
        message: String,
    },
    /// The body is not valid JSON, or not a valid push request; the message
    /// names the stream, entry and field when the problem is in one.
    #[error("json: {message} at line {line} column {column}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// Stream `stream`'s labels are not acceptable.
    #[error("stream {stream}: error parsing labels '{}': {error}", quote_labels(.labels))]
    Labels {
        stream: usize,
        labels: String,
        error: LabelsError,
    },
    /// A protobuf timestamp with nanos outside `[0, 1e9)` or beyond the `i64` nanosecond range.
    #[error("stream {stream}: entry {entry}: {message}")]
    Timestamp {
        stream: usize,
        entry: usize,
        message: String,
    },
}

fn context_prefix(c: &str) -> String {
    if c.is_empty() {
        String::new()
    } else {
        format!("{c}: ")
    }
}

/// The labels string for a message, cut at [`MAX_QUOTED_LABELS`] bytes.
fn quote_labels(s: &str) -> Cow<'_, str> {
    if s.len() <= MAX_QUOTED_LABELS {
        return Cow::Borrowed(s);
    }
    let mut end = MAX_QUOTED_LABELS;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}...", &s[..end]))
}

impl LokiError {
    /// True for [`TooLarge`](LokiError::TooLarge), which HTTP answers with 413.
    pub fn is_too_large(&self) -> bool {
        matches!(self, LokiError::TooLarge { .. })
    }

    /// The HTTP status a receiver should answer with: 413 for
    /// [`TooLarge`](LokiError::TooLarge), 415 for an unsupported
    /// `Content-Encoding`, 400 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            LokiError::TooLarge { .. } => 413,
            LokiError::UnsupportedEncoding(_) => 415,
            _ => 400,
        }
    }
}

/// The body format of a push, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushFormat {
    /// Snappy block-compressed protobuf `PushRequest`.
    Protobuf,
    /// The JSON form.
    Json,
}

impl PushFormat {
    /// `application/json` (with any parameters, any case) is JSON, anything
    /// else or nothing is protobuf, as in Loki.
    pub fn from_content_type(content_type: Option<&str>) -> PushFormat {
        let media = content_type
            .and_then(|c| c.split(';').next())
            .map(str::trim)
            .unwrap_or("");
        if media.eq_ignore_ascii_case("application/json") {
            PushFormat::Json
        } else {
            PushFormat::Protobuf
        }
    }
}

/// A `Content-Encoding` the push endpoint understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Identity,
    Gzip,
    Deflate,
    Snappy,
}

impl Coding {
    fn parse(content_encoding: Option<&str>) -> Result<Coding, LokiError> {
        let Some(raw) = content_encoding else {
            return Ok(Coding::Identity);
        };
        let e = raw.trim();
        Ok(if e.is_empty() || e.eq_ignore_ascii_case("identity") {
            Coding::Identity
        } else if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") {
            Coding::Gzip
        } else if e.eq_ignore_ascii_case("deflate") {
            Coding::Deflate
        } else if e.eq_ignore_ascii_case("snappy") {
            Coding::Snappy
        } else {
            return Err(LokiError::UnsupportedEncoding(raw.to_string()));
        })
    }
}

/// Decodes the body of a Loki push: picks the format from `content_type`,
/// undoes `content_encoding`, and decodes (see the module docs). No stage may
/// produce more than `max_decoded` bytes ([`LokiError::TooLarge`]).
pub fn decode_push(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    max_decoded: usize,
) -> Result<Vec<LogStream>, LokiError> {
    let coding = Coding::parse(content_encoding)?;
    match PushFormat::from_content_type(content_type) {
        PushFormat::Protobuf => {
            let snappy = match coding {
                // The protobuf body is snappy whatever the header says.
                Coding::Identity | Coding::Snappy => Cow::Borrowed(body),
                c => undo_coding(c, body, max_decoded)?,
            };
            decode_snappy_protobuf(&snappy, max_decoded)
        }
        PushFormat::Json => {
            let data = match coding {
                Coding::Snappy => snappy_or_plain_json(body, max_decoded)?,
                c => undo_coding(c, body, max_decoded)?,
            };
            decode_json(&data)
        }
    }
}

/// A JSON body sent with `Content-Encoding: snappy`: the snappy block's
/// content if it decodes to something that starts like JSON, else the body
/// itself if it does (Loki ignores the header), else the snappy error.
fn snappy_or_plain_json(body: &[u8], max: usize) -> Result<Cow<'_, [u8]>, LokiError> {
    match snappy(body, max) {
        Ok(raw) if looks_like_json(&raw) => Ok(Cow::Owned(raw)),
        _ if looks_like_json(body) => undo_coding(Coding::Identity, body, max),
        // Not JSON either way: the JSON decoder or the snappy error says why.
        decoded => decoded.map(Cow::Owned),
    }
}

/// True if `body` starts (after whitespace) with `{`.
fn looks_like_json(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

/// Undoes a `Content-Encoding` (none, `identity`, `gzip`, `x-gzip`,
/// `deflate`, `snappy` as a snappy block), refusing output larger than
/// `max_decoded`. The body is returned as is when there is nothing to undo
/// (still refused if longer than `max_decoded`). For other endpoints that take
/// compressed bodies, such as JSON lines.
pub fn decompress<'a>(
    content_encoding: Option<&str>,
    body: &'a [u8],
    max_decoded: usize,
) -> Result<Cow<'a, [u8]>, LokiError> {
    undo_coding(Coding::parse(content_encoding)?, body, max_decoded)
}

fn undo_coding(coding: Coding, body: &[u8], max: usize) -> Result<Cow<'_, [u8]>, LokiError> {
    let too_large = LokiError::TooLarge { limit: max };
    match coding {
        Coding::Identity if body.len() > max => Err(too_large),
        Coding::Identity => Ok(Cow::Borrowed(body)),
        Coding::Snappy => snappy(body, max).map(Cow::Owned),
        Coding::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(body), "gzip", max),
        Coding::Deflate if is_zlib(body) => {
            read_bounded(flate2::read::ZlibDecoder::new(body), "deflate", max)
        }
        Coding::Deflate => read_bounded(flate2::read::DeflateDecoder::new(body), "deflate", max),
    }
}

/// True if `b` starts with a zlib header (RFC 1950: method 8, check bits).
fn is_zlib(b: &[u8]) -> bool {
    match b {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// Reads a decoder to the end, at most `max` bytes.
fn read_bounded<'a>(
    r: impl Read,
    encoding: &'static str,
    max: usize,
) -> Result<Cow<'a, [u8]>, LokiError> {
    let mut out = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    r.take(limit)
        .read_to_end(&mut out)
        .map_err(|e| LokiError::Decompress {
            encoding,
            message: e.to_string(),
        })?;
    if out.len() > max {
        return Err(LokiError::TooLarge { limit: max });
    }
    Ok(Cow::Owned(out))
}

/// Decompresses a snappy block, checking the announced size first.
fn snappy(body: &[u8], max: usize) -> Result<Vec<u8>, LokiError> {
    let err = |e: snap::Error| LokiError::Decompress {
        encoding: "snappy",
        message: e.to_string(),
    };
    let size = snap::raw::decompress_len(body).map_err(err)?;
    if size > max {
        return Err(LokiError::TooLarge { limit: max });
    }
    let mut out = vec![0; size];
    let n = snap::raw::Decoder::new()
        .decompress(body, &mut out)
        .map_err(err)?;
    out.truncate(n);
    Ok(out)
}

/// Decodes a snappy block-compressed protobuf `PushRequest` (a body without
/// `Content-Encoding`), refusing more than `max_decoded` decompressed bytes.
pub fn decode_snappy_protobuf(
    body: &[u8],
    max_decoded: usize,
) -> Result<Vec<LogStream>, LokiError> {
    // The entries' lines are slices of the decompressed request, which
    // lives as long as the last of them.
    wire::decode(&bytes::Bytes::from(snappy(body, max_decoded)?))
}

/// Decodes an already decompressed protobuf `PushRequest`.
pub fn decode_protobuf(raw: &[u8]) -> Result<Vec<LogStream>, LokiError> {
    wire::decode(&bytes::Bytes::copy_from_slice(raw))
}

/// Decodes an already decompressed JSON push body.
pub fn decode_json(body: &[u8]) -> Result<Vec<LogStream>, LokiError> {
    json::decode(body)
}

/// The [`PushRequest`] a sender would build for these streams: labels
/// formatted by [`format_labels`], timestamps split into seconds and nanos.
pub fn to_push_request(streams: &[LogStream]) -> PushRequest {
    PushRequest {
        streams: streams
            .iter()
            .map(|s| StreamAdapter {
                labels: format_labels(&s.labels),
                entries: s
                    .entries
                    .iter()
                    .map(|e| EntryAdapter {
                        timestamp: Some(Timestamp::from_nanos(e.ts)),
                        line: e.line.to_string(),
                        structured_metadata: e
                            .metadata
                            .iter()
                            .map(|(name, value)| LabelPairAdapter {
                                name: name.clone(),
                                value: value.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    }
}

/// Encodes streams as a protobuf push body, snappy block-compressed, as
/// Promtail and Grafana Alloy send it (for tests, benchmarks and clients).
/// Streams with no labels encode as `{}`, which [`decode_push`] refuses.
pub fn encode_push_protobuf(streams: &[LogStream]) -> Vec<u8> {
    let raw = to_push_request(streams).encode_to_vec();
    // Compression into a fresh buffer fails only for inputs above ~4 GiB.
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

/// Encodes streams as a JSON push body (uncompressed).
pub fn encode_push_json(streams: &[LogStream]) -> Vec<u8> {
    json::encode(streams)
}
