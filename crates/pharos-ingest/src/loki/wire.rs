//! The protobuf reader behind [`decode_protobuf`](super::decode_protobuf): a
//! hand-written walk of `PushRequest` that builds model streams directly and,
//! when the body is broken, says where (byte offset, stream and entry index,
//! field).
//!
//! It accepts exactly the wire syntax prost accepts for
//! [`PushRequest`](super::PushRequest) (varints, keys, wire types of known
//! fields, lengths, unknown fields of every wire type including groups,
//! prost's recursion limit), with two differences, both more lenient: log
//! lines and structured metadata that are not valid UTF-8 are converted
//! lossily (U+FFFD) instead of failing the whole request, as Loki (gogoproto,
//! which does not check UTF-8) keeps them; and the stream labels string is
//! parsed and checked as Loki does.

use bytes::Bytes;
use pharos_model::{Line, LogEntry, LogStream};

use super::labels::parse_labels;
use super::proto::Timestamp;
use super::{LabelsError, LokiError};

/// prost's default recursion limit. `depth` arguments below are prost's
/// remaining recursion budget for the fields of the message being read: 100 at
/// the top, one less per nested message. The nesting of `PushRequest` is
/// fixed (four levels), so only groups inside unknown fields can exhaust it,
/// which [`Reader::skip`] checks as prost's `skip_field` does.
const RECURSION_LIMIT: u32 = 100;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// A wire-level error: where, in which part of the request, what.
#[derive(Debug)]
struct WireError {
    offset: usize,
    context: String,
    message: String,
}

impl WireError {
    fn new(offset: usize, message: impl Into<String>) -> WireError {
        WireError {
            offset,
            context: String::new(),
            message: message.into(),
        }
    }

    /// Prefixes the context with `part` (outermost last).
    fn within(mut self, part: impl std::fmt::Display) -> WireError {
        self.context = if self.context.is_empty() {
            part.to_string()
        } else {
            format!("{part}: {}", self.context)
        };
        self
    }
}

impl From<WireError> for LokiError {
    fn from(e: WireError) -> LokiError {
        LokiError::Protobuf {
            offset: e.offset,
            context: e.context,
            message: e.message,
        }
    }
}

/// A cursor over one message's bytes; `base` is the absolute offset of `buf[0]`.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize) -> Reader<'a> {
        Reader { buf, pos: 0, base }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// A LEB128 varint, as prost reads it: at most 10 bytes, the 10th at most 1.
    fn varint(&mut self) -> Result<u64, WireError> {
        let start = self.offset();
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(WireError::new(start, "invalid varint (truncated)"));
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Err(WireError::new(start, "invalid varint (overflows 64 bits)"));
                }
                return Ok(v);
            }
        }
        Err(WireError::new(
            start,
            "invalid varint (longer than 10 bytes)",
        ))
    }

    /// A field key: (field number, wire type), checked as prost checks it.
    fn key(&mut self) -> Result<(u32, u8), WireError> {
        let start = self.offset();
        let k = self.varint()?;
        if k > u64::from(u32::MAX) {
            return Err(WireError::new(start, format!("invalid key value: {k}")));
        }
        let wt = (k & 7) as u8;
        if wt > FIXED32 {
            return Err(WireError::new(
                start,
                format!("invalid wire type value: {wt}"),
            ));
        }
        let tag = (k >> 3) as u32;
        if tag == 0 {
            return Err(WireError::new(start, "invalid tag value: 0"));
        }
        Ok((tag, wt))
    }

    /// A length-delimited payload and its absolute offset.
    fn bytes(&mut self) -> Result<(&'a [u8], usize), WireError> {
        let start = self.offset();
        let len = self.varint()?;
        let rest = self.buf.len() - self.pos;
        if len > rest as u64 {
            return Err(WireError::new(
                start,
                format!("length {len} runs past the end of the message ({rest} bytes left)"),
            ));
        }
        let len = len as usize;
        let at = self.offset();
        let b = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok((b, at))
    }

    /// Skips an unknown field, as prost's `skip_field` does.
    fn skip(&mut self, wt: u8, tag: u32, depth: u32, key_at: usize) -> Result<(), WireError> {
        if depth == 0 {
            return Err(WireError::new(key_at, "recursion limit reached"));
        }
        let n = match wt {
            VARINT => {
                self.varint()?;
                0
            }
            FIXED64 => 8,
            FIXED32 => 4,
            LEN => {
                self.bytes()?;
                0
            }
            START_GROUP => loop {
                let at = self.offset();
                let (t, w) = self.key()?;
                if w == END_GROUP {
                    if t != tag {
                        return Err(WireError::new(at, "unexpected end group tag"));
                    }
                    break 0;
                }
                self.skip(w, t, depth - 1, at)?;
            },
            _ => return Err(WireError::new(key_at, "unexpected end group tag")),
        };
        if self.buf.len() - self.pos < n {
            return Err(WireError::new(
                self.offset(),
                format!("{n}-byte field runs past the end of the message"),
            ));
        }
        self.pos += n;
        Ok(())
    }
}

fn wire_type_name(wt: u8) -> &'static str {
    match wt {
        VARINT => "varint",
        FIXED64 => "64-bit",
        LEN => "length-delimited",
        START_GROUP => "start group",
        END_GROUP => "end group",
        _ => "32-bit",
    }
}

/// Refuses a known field sent with another wire type (prost's
/// `check_wire_type`). `field` names it in the context unless empty (repeated
/// messages, whose index is the context).
fn expect(wt: u8, want: u8, key_at: usize, field: &str) -> Result<(), WireError> {
    if wt == want {
        return Ok(());
    }
    let e = WireError::new(
        key_at,
        format!(
            "invalid wire type {} (expected {})",
            wire_type_name(wt),
            wire_type_name(want)
        ),
    );
    Err(if field.is_empty() { e } else { e.within(field) })
}

/// Decodes a `PushRequest` into streams, in request order.
///
/// Lines are slices of `raw` (shared, not copied).
pub(super) fn decode(raw: &Bytes) -> Result<Vec<LogStream>, LokiError> {
    let mut rd = Reader::new(raw, 0);
    let mut streams = Vec::new();
    while !rd.at_end() {
        let at = rd.offset();
        let (tag, wt) = rd.key()?;
        if tag == 1 {
            let i = streams.len();
            expect(wt, LEN, at, "").map_err(|e| e.within(format!("stream {i}")))?;
            let (buf, base) = rd.bytes().map_err(|e| e.within(format!("stream {i}")))?;
            streams.push(stream(raw, buf, base, i, RECURSION_LIMIT - 1)?);
        } else {
            rd.skip(wt, tag, RECURSION_LIMIT, at)?;
        }
    }
    Ok(streams)
}

/// One `StreamAdapter`, number `i` of the request.
fn stream(
    root: &Bytes,
    buf: &[u8],
    base: usize,
    i: usize,
    depth: u32,
) -> Result<LogStream, LokiError> {
    let ctx = |e: WireError| LokiError::from(e.within(format!("stream {i}")));
    let mut rd = Reader::new(buf, base);
    let mut labels: &[u8] = &[];
    let mut entries = Vec::new();
    while !rd.at_end() {
        let at = rd.offset();
        let (tag, wt) = rd.key().map_err(ctx)?;
        match tag {
            1 => {
                expect(wt, LEN, at, "labels").map_err(ctx)?;
                labels = rd.bytes().map_err(|e| ctx(e.within("labels")))?.0;
            }
            2 => {
                let j = entries.len();
                let entry_ctx = |e: WireError| ctx(e.within(format!("entry {j}")));
                expect(wt, LEN, at, "").map_err(entry_ctx)?;
                let (ebuf, ebase) = rd.bytes().map_err(entry_ctx)?;
                let (e, ts) = entry(root, ebuf, ebase, depth - 1).map_err(entry_ctx)?;
                let ts = ts.to_nanos().ok_or_else(|| LokiError::Timestamp {
                    stream: i,
                    entry: j,
                    message: timestamp_problem(ts),
                })?;
                entries.push(LogEntry { ts, ..e });
            }
            3 => {
                expect(wt, VARINT, at, "hash").map_err(ctx)?;
                rd.varint().map_err(|e| ctx(e.within("hash")))?;
            }
            _ => rd.skip(wt, tag, depth, at).map_err(ctx)?,
        }
    }
    let labels = std::str::from_utf8(labels)
        .map_err(|_| LokiError::Labels {
            stream: i,
            labels: String::from_utf8_lossy(labels).into_owned(),
            error: LabelsError::InvalidUtf8,
        })
        .and_then(|s| {
            parse_labels(s).map_err(|error| LokiError::Labels {
                stream: i,
                labels: s.to_string(),
                error,
            })
        })?;
    Ok(LogStream { labels, entries })
}

/// Why a protobuf timestamp has no nanosecond value.
fn timestamp_problem(ts: Timestamp) -> String {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        format!(
            "timestamp nanos {} not in range [0, 1e9) (seconds {})",
            ts.nanos, ts.seconds
        )
    } else {
        format!(
            "timestamp of {} seconds is outside the range of Unix nanoseconds (years 1677 to 2262)",
            ts.seconds
        )
    }
}

/// One `EntryAdapter`: the entry without its timestamp, and the timestamp.
/// `buf` lies within `root`, whose bytes the line shares.
fn entry(
    root: &Bytes,
    buf: &[u8],
    base: usize,
    depth: u32,
) -> Result<(LogEntry, Timestamp), WireError> {
    let mut rd = Reader::new(buf, base);
    let mut ts = Timestamp::default();
    let mut line: &[u8] = &[];
    let mut metadata = Vec::new();
    while !rd.at_end() {
        let at = rd.offset();
        let (tag, wt) = rd.key()?;
        match tag {
            1 => {
                expect(wt, LEN, at, "timestamp")?;
                let (tbuf, tbase) = rd.bytes().map_err(|e| e.within("timestamp"))?;
                // A message field given twice is merged, as prost does.
                timestamp(tbuf, tbase, depth - 1, &mut ts).map_err(|e| e.within("timestamp"))?;
            }
            2 => {
                expect(wt, LEN, at, "line")?;
                line = rd.bytes().map_err(|e| e.within("line"))?.0;
            }
            3 => {
                let k = metadata.len();
                let md = |e: WireError| e.within(format!("structured metadata {k}"));
                expect(wt, LEN, at, "").map_err(md)?;
                let (pbuf, pbase) = rd.bytes().map_err(md)?;
                metadata.push(label_pair(pbuf, pbase, depth - 1).map_err(md)?);
            }
            _ => rd.skip(wt, tag, depth, at)?,
        }
    }
    let entry = LogEntry {
        ts: 0,
        line: Line::from_utf8_lossy(root.slice_ref(line)),
        metadata,
    };
    Ok((entry, ts))
}

/// Merges a `google.protobuf.Timestamp` into `ts`.
fn timestamp(buf: &[u8], base: usize, depth: u32, ts: &mut Timestamp) -> Result<(), WireError> {
    let mut rd = Reader::new(buf, base);
    while !rd.at_end() {
        let at = rd.offset();
        let (tag, wt) = rd.key()?;
        match tag {
            1 => {
                expect(wt, VARINT, at, "seconds")?;
                ts.seconds = rd.varint().map_err(|e| e.within("seconds"))? as i64;
            }
            2 => {
                expect(wt, VARINT, at, "nanos")?;
                // int32 on the wire is a varint truncated to 32 bits, as prost reads it.
                ts.nanos = rd.varint().map_err(|e| e.within("nanos"))? as i32;
            }
            _ => rd.skip(wt, tag, depth, at)?,
        }
    }
    Ok(())
}

/// A `LabelPairAdapter` (structured metadata pair).
fn label_pair(buf: &[u8], base: usize, depth: u32) -> Result<(String, String), WireError> {
    let mut rd = Reader::new(buf, base);
    let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
    while !rd.at_end() {
        let at = rd.offset();
        let (tag, wt) = rd.key()?;
        match tag {
            1 => {
                expect(wt, LEN, at, "name")?;
                name = rd.bytes().map_err(|e| e.within("name"))?.0;
            }
            2 => {
                expect(wt, LEN, at, "value")?;
                value = rd.bytes().map_err(|e| e.within("value"))?.0;
            }
            _ => rd.skip(wt, tag, depth, at)?,
        }
    }
    Ok((lossy(name), lossy(value)))
}

/// `b` as a string, invalid UTF-8 replaced by U+FFFD as Loki does; valid
/// text (nearly all) takes the SIMD check, which only says yes or no.
fn lossy(b: &[u8]) -> String {
    match simdutf8::basic::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
}
