//! Zero-copy remote write decoding: [`visit_write_request`] walks a
//! decompressed `WriteRequest` with a hand-written protobuf reader and hands
//! every valid series to a visitor as label pairs borrowed from the buffer,
//! with no `Vec<u8>`, `String` or `Labels` built per series.
//!
//! It is a drop-in for [`decode_protobuf`](super::decode_protobuf) followed by
//! [`validate`](super::validate): the same series are accepted (same labels,
//! samples, exemplars, in request order), the same rejections are reported with
//! the same strings, and a body prost refuses is refused with prost's message
//! (same description and field path). Two passes: the first checks the whole
//! wire structure exactly as prost would (wire types of known fields, varints,
//! lengths, nested limits, unknown fields of every wire type including groups,
//! prost's recursion limit, UTF-8 of metadata strings) without allocating; the
//! second extracts and validates. So on `Err`, the visitor was never called.
//!
//! Exemplars and metadata are rare and still decoded with prost; native
//! histograms are checked for syntax and counted, not decoded.

use prost::Message;

use pharos_model::{Exemplar, MetricMetadata, Sample};

use super::decode::{protobuf_message, DecodeError};
use super::validate::{self, summarize, Limits, Rejection};

/// What the visitor gets for each series that passed validation. Label pairs
/// are sorted, unique and valid (same rules and limits as
/// [`validate`](super::validate)), borrowed from the decompressed buffer.
#[derive(Debug, Clone, Copy)]
pub struct SeriesView<'a, 'b> {
    pub labels: &'b [(&'a str, &'a str)],
    pub samples: &'b [Sample],
    pub exemplars: &'b [Exemplar],
}

/// Everything of a request except the accepted series: the fields of
/// [`Validated`](super::Validated) minus `series`, plus `samples_total`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VisitSummary {
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
    /// Samples in the request, accepted or not.
    pub samples_total: usize,
}

impl VisitSummary {
    /// The message for a 400 answer, or `None` if nothing was refused
    /// (as [`Validated::error_message`](super::Validated::error_message)).
    pub fn error_message(&self) -> Option<String> {
        if self.rejected.is_empty() {
            None
        } else {
            Some(summarize(&self.rejected))
        }
    }
}

/// Decompresses a snappy block body, refusing bodies announced larger than
/// `max_decompressed` before allocating (the errors of
/// [`decode_with_limit`](super::decode_with_limit)).
pub fn decompress(body: &[u8], max_decompressed: usize) -> Result<Vec<u8>, DecodeError> {
    let size = snap::raw::decompress_len(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    if size > max_decompressed {
        return Err(DecodeError::TooLarge {
            size,
            limit: max_decompressed,
        });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::Snappy(e.to_string()))
}

/// Walks a decompressed `WriteRequest` without building owned labels,
/// validating each series exactly as [`validate`](super::validate) does and
/// calling `visit` for every valid series in request order. On `Err` (the
/// body is not a valid `WriteRequest`), `visit` was never called.
pub fn visit_write_request<'a>(
    raw: &'a [u8],
    limits: &Limits,
    mut visit: impl FnMut(SeriesView<'a, '_>),
) -> Result<VisitSummary, DecodeError> {
    Reader::new(raw)
        .check_fields(raw.len(), &WRITE_REQUEST, RECURSION_LIMIT)
        .map_err(WireError::into_decode_error)?;
    let mut out = VisitSummary::default();
    let mut scratch = Scratch::default();
    let mut rd = Reader::new(raw);
    while !rd.at_end() {
        match rd.field().map_err(WireError::into_decode_error)? {
            (1, Val::Len(ts)) => scratch.series(ts, limits, &mut out, &mut visit)?,
            (3, Val::Len(m)) => match validate::metadata(decode_prost(m)?) {
                Some(m) => out.metadata.push(m),
                None => out.rejected_metadata += 1,
            },
            _ => {}
        }
    }
    Ok(out)
}

/// prost's default recursion limit, which the first pass enforces as prost does.
const RECURSION_LIMIT: u32 = 100;

/// Buffers reused from one series to the next: the steady state allocates
/// nothing per accepted series without exemplars.
#[derive(Default)]
struct Scratch<'a> {
    raw: Vec<(&'a [u8], &'a [u8])>,
    pairs: Vec<(&'a str, &'a str)>,
    samples: Vec<Sample>,
    exemplar_bufs: Vec<&'a [u8]>,
    exemplars: Vec<Exemplar>,
}

impl<'a> Scratch<'a> {
    /// One `TimeSeries` whose syntax the first pass has checked.
    fn series(
        &mut self,
        buf: &'a [u8],
        limits: &Limits,
        out: &mut VisitSummary,
        visit: &mut impl FnMut(SeriesView<'a, '_>),
    ) -> Result<(), DecodeError> {
        self.raw.clear();
        self.samples.clear();
        self.exemplar_bufs.clear();
        self.exemplars.clear();
        let mut rd = Reader::new(buf);
        while !rd.at_end() {
            match rd.field().map_err(WireError::into_decode_error)? {
                (1, Val::Len(b)) => self
                    .raw
                    .push(label(b).map_err(WireError::into_decode_error)?),
                (2, Val::Len(b)) => self
                    .samples
                    .push(sample(b).map_err(WireError::into_decode_error)?),
                (3, Val::Len(b)) => self.exemplar_bufs.push(b),
                (4, Val::Len(_)) => out.unsupported_histograms += 1,
                _ => {}
            }
        }
        out.samples_total += self.samples.len();
        let n = self.samples.len();
        if let Err(r) = validate::series_pairs(&self.raw, n, limits, &mut self.pairs) {
            out.rejected_samples += r.samples;
            out.rejected.push(r);
            return Ok(());
        }
        for b in &self.exemplar_bufs {
            match validate::exemplar(decode_prost(b)?) {
                Some(e) => self.exemplars.push(e),
                None => out.rejected_exemplars += 1,
            }
        }
        visit(SeriesView {
            labels: &self.pairs,
            samples: &self.samples,
            exemplars: &self.exemplars,
        });
        Ok(())
    }
}

/// A checked `Label`: name and value, the last occurrence of each winning.
fn label(buf: &[u8]) -> Result<(&[u8], &[u8]), WireError> {
    let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
    let mut rd = Reader::new(buf);
    while !rd.at_end() {
        match rd.field()? {
            (1, Val::Len(b)) => name = b,
            (2, Val::Len(b)) => value = b,
            _ => {}
        }
    }
    Ok((name, value))
}

/// A checked `Sample`; absent fields are proto3 zeros.
fn sample(buf: &[u8]) -> Result<Sample, WireError> {
    let mut s = Sample::new(0, 0.0);
    let mut rd = Reader::new(buf);
    while !rd.at_end() {
        match rd.field()? {
            (1, Val::Fixed64(bits)) => s.v = f64::from_bits(bits),
            (2, Val::Varint(t)) => s.t = t as i64,
            _ => {}
        }
    }
    Ok(s)
}

/// A rare submessage (exemplar, metadata) through prost; its syntax is
/// already checked, so this fails only if the two passes disagree.
fn decode_prost<M: Message + Default>(buf: &[u8]) -> Result<M, DecodeError> {
    M::decode(buf).map_err(|e| DecodeError::Protobuf(protobuf_message(&e)))
}

/// A protobuf wire type, named as prost's `WireType` (its `Debug` is in messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Varint,
    SixtyFourBit,
    LengthDelimited,
    StartGroup,
    EndGroup,
    ThirtyTwoBit,
}

/// Why the wire structure is invalid: prost's `DecodeErrorKind`s that can occur here.
#[derive(Debug)]
enum Kind {
    InvalidVarint,
    InvalidWireType(u64),
    InvalidKey(u64),
    InvalidTag,
    UnexpectedWireType { actual: Wire, expected: Wire },
    BufferUnderflow,
    DelimitedLengthExceeded,
    UnexpectedEndGroupTag,
    InvalidString,
    RecursionLimitReached,
}

/// A syntax error and the (message, field) path to it, innermost first as prost keeps it.
#[derive(Debug)]
struct WireError {
    kind: Kind,
    stack: Vec<(&'static str, &'static str)>,
}

impl From<Kind> for WireError {
    fn from(kind: Kind) -> Self {
        WireError {
            kind,
            stack: Vec::new(),
        }
    }
}

impl WireError {
    fn at(mut self, message: &'static str, field: &'static str) -> Self {
        self.stack.push((message, field));
        self
    }

    /// The error prost's path reports: its message without the generic prefix.
    fn into_decode_error(self) -> DecodeError {
        let mut s = String::new();
        for (message, field) in &self.stack {
            s.push_str(&format!("{message}.{field}: "));
        }
        s.push_str(&match self.kind {
            Kind::InvalidVarint => "invalid varint".to_string(),
            Kind::InvalidWireType(v) => format!("invalid wire type value: {v}"),
            Kind::InvalidKey(k) => format!("invalid key value: {k}"),
            Kind::InvalidTag => "invalid tag value: 0".to_string(),
            Kind::UnexpectedWireType { actual, expected } => {
                format!("invalid wire type: {actual:?} (expected {expected:?})")
            }
            Kind::BufferUnderflow => "buffer underflow".to_string(),
            Kind::DelimitedLengthExceeded => "delimited length exceeded".to_string(),
            Kind::UnexpectedEndGroupTag => "unexpected end group tag".to_string(),
            Kind::InvalidString => "invalid string value: data is not UTF-8 encoded".to_string(),
            Kind::RecursionLimitReached => "recursion limit reached".to_string(),
        });
        DecodeError::Protobuf(s)
    }
}

/// The type of a known field, as far as the wire syntax is concerned.
#[derive(Clone, Copy)]
enum Ty {
    Varint,
    Fixed64,
    Bytes,
    Str,
    Msg(&'static Schema),
    /// Repeated varint scalar: packed or not.
    RepVarint,
    /// Repeated 64-bit scalar: packed or not.
    RepFixed64,
}

/// The known fields of a message: tag, field name (for error paths), type.
struct Schema {
    name: &'static str,
    fields: &'static [(u32, &'static str, Ty)],
}

static LABEL: Schema = Schema {
    name: "Label",
    fields: &[(1, "name", Ty::Bytes), (2, "value", Ty::Bytes)],
};
static SAMPLE: Schema = Schema {
    name: "Sample",
    fields: &[(1, "value", Ty::Fixed64), (2, "timestamp", Ty::Varint)],
};
static EXEMPLAR: Schema = Schema {
    name: "Exemplar",
    fields: &[
        (1, "labels", Ty::Msg(&LABEL)),
        (2, "value", Ty::Fixed64),
        (3, "timestamp", Ty::Varint),
    ],
};
static BUCKET_SPAN: Schema = Schema {
    name: "BucketSpan",
    fields: &[(1, "offset", Ty::Varint), (2, "length", Ty::Varint)],
};
static HISTOGRAM: Schema = Schema {
    name: "Histogram",
    fields: &[
        (1, "count", Ty::Varint),
        (2, "count", Ty::Fixed64),
        (3, "sum", Ty::Fixed64),
        (4, "schema", Ty::Varint),
        (5, "zero_threshold", Ty::Fixed64),
        (6, "zero_count", Ty::Varint),
        (7, "zero_count", Ty::Fixed64),
        (8, "negative_spans", Ty::Msg(&BUCKET_SPAN)),
        (9, "negative_deltas", Ty::RepVarint),
        (10, "negative_counts", Ty::RepFixed64),
        (11, "positive_spans", Ty::Msg(&BUCKET_SPAN)),
        (12, "positive_deltas", Ty::RepVarint),
        (13, "positive_counts", Ty::RepFixed64),
        (14, "reset_hint", Ty::Varint),
        (15, "timestamp", Ty::Varint),
        (16, "custom_values", Ty::RepFixed64),
    ],
};
static TIME_SERIES: Schema = Schema {
    name: "TimeSeries",
    fields: &[
        (1, "labels", Ty::Msg(&LABEL)),
        (2, "samples", Ty::Msg(&SAMPLE)),
        (3, "exemplars", Ty::Msg(&EXEMPLAR)),
        (4, "histograms", Ty::Msg(&HISTOGRAM)),
    ],
};
static METADATA: Schema = Schema {
    name: "MetricMetadata",
    fields: &[
        (1, "r#type", Ty::Varint),
        (2, "metric_family_name", Ty::Str),
        (4, "help", Ty::Str),
        (5, "unit", Ty::Str),
    ],
};
static WRITE_REQUEST: Schema = Schema {
    name: "WriteRequest",
    fields: &[
        (1, "timeseries", Ty::Msg(&TIME_SERIES)),
        (3, "metadata", Ty::Msg(&METADATA)),
    ],
};

/// A field value as the second pass sees it.
enum Val<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    /// A 32-bit value or a group, skipped.
    Other,
}

/// A cursor over a whole buffer. Like prost, reads are bounded by the end of
/// the buffer, not of the enclosing message, which is checked after each
/// message: this gives prost's error for every malformed input.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// A LEB128 varint of at most 10 bytes, refusing overflow as prost does.
    #[inline]
    fn varint(&mut self) -> Result<u64, WireError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        if let Some(&b) = rest.first() {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        let mut value = 0u64;
        for (i, &b) in rest.iter().take(10).enumerate() {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                if i == 9 && b >= 2 {
                    break;
                }
                self.pos += i + 1;
                return Ok(value);
            }
        }
        Err(Kind::InvalidVarint.into())
    }

    #[inline]
    fn key(&mut self) -> Result<(u32, Wire), WireError> {
        let key = self.varint()?;
        if key > u64::from(u32::MAX) {
            return Err(Kind::InvalidKey(key).into());
        }
        let wire = match key & 7 {
            0 => Wire::Varint,
            1 => Wire::SixtyFourBit,
            2 => Wire::LengthDelimited,
            3 => Wire::StartGroup,
            4 => Wire::EndGroup,
            5 => Wire::ThirtyTwoBit,
            v => return Err(Kind::InvalidWireType(v).into()),
        };
        let tag = key as u32 >> 3;
        if tag == 0 {
            return Err(Kind::InvalidTag.into());
        }
        Ok((tag, wire))
    }

    #[inline]
    fn take(&mut self, n: u64) -> Result<&'a [u8], WireError> {
        if n > self.remaining() as u64 {
            return Err(Kind::BufferUnderflow.into());
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(self.buf.get(start..self.pos).unwrap_or_default())
    }

    #[inline]
    fn len_delimited(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.varint()?;
        self.take(n)
    }

    /// Skips an unknown field as prost's `skip_field` does, groups included.
    fn skip(&mut self, wire: Wire, tag: u32, depth: u32) -> Result<(), WireError> {
        if depth == 0 {
            return Err(Kind::RecursionLimitReached.into());
        }
        let n = match wire {
            Wire::Varint => self.varint().map(|_| 0)?,
            Wire::ThirtyTwoBit => 4,
            Wire::SixtyFourBit => 8,
            Wire::LengthDelimited => self.varint()?,
            Wire::StartGroup => loop {
                let (inner_tag, inner_wire) = self.key()?;
                if inner_wire == Wire::EndGroup {
                    if inner_tag != tag {
                        return Err(Kind::UnexpectedEndGroupTag.into());
                    }
                    break 0;
                }
                self.skip(inner_wire, inner_tag, depth - 1)?;
            },
            Wire::EndGroup => return Err(Kind::UnexpectedEndGroupTag.into()),
        };
        self.take(n).map(|_| ())
    }

    #[inline]
    /// The next field of a message whose syntax is checked; groups and
    /// 32-bit values are skipped.
    fn field(&mut self) -> Result<(u32, Val<'a>), WireError> {
        let (tag, wire) = self.key()?;
        let val = match wire {
            Wire::Varint => Val::Varint(self.varint()?),
            Wire::SixtyFourBit => {
                let b = self.take(8)?;
                Val::Fixed64(b.iter().rev().fold(0, |v, &x| v << 8 | u64::from(x)))
            }
            Wire::LengthDelimited => Val::Len(self.len_delimited()?),
            w => {
                self.skip(w, tag, RECURSION_LIMIT)?;
                Val::Other
            }
        };
        Ok((tag, val))
    }

    /// First pass: checks the fields of a `schema` message up to `end`.
    fn check_fields(&mut self, end: usize, schema: &Schema, depth: u32) -> Result<(), WireError> {
        while self.pos < end {
            let (tag, wire) = self.key()?;
            match schema.fields.iter().find(|f| f.0 == tag) {
                Some(&(_, field, ty)) => self
                    .check_field(wire, ty, depth)
                    .map_err(|e| e.at(schema.name, field))?,
                None => self.skip(wire, tag, depth)?,
            }
        }
        Ok(())
    }

    fn check_field(&mut self, wire: Wire, ty: Ty, depth: u32) -> Result<(), WireError> {
        let expect = |expected: Wire| -> Result<(), WireError> {
            if wire == expected {
                Ok(())
            } else {
                Err(Kind::UnexpectedWireType {
                    actual: wire,
                    expected,
                }
                .into())
            }
        };
        match ty {
            Ty::Varint => expect(Wire::Varint).and_then(|_| self.varint().map(|_| ())),
            Ty::Fixed64 => expect(Wire::SixtyFourBit).and_then(|_| self.take(8).map(|_| ())),
            Ty::Bytes => {
                expect(Wire::LengthDelimited).and_then(|_| self.len_delimited().map(|_| ()))
            }
            Ty::Str => {
                expect(Wire::LengthDelimited)?;
                match std::str::from_utf8(self.len_delimited()?) {
                    Ok(_) => Ok(()),
                    Err(_) => Err(Kind::InvalidString.into()),
                }
            }
            Ty::Msg(sub) => {
                expect(Wire::LengthDelimited)?;
                if depth == 0 {
                    return Err(Kind::RecursionLimitReached.into());
                }
                self.nested(|r, end| r.check_fields(end, sub, depth - 1))
            }
            Ty::RepVarint if wire == Wire::LengthDelimited => self.nested(|r, end| {
                while r.pos < end {
                    r.varint()?;
                }
                Ok(())
            }),
            Ty::RepVarint => self.check_field(wire, Ty::Varint, depth),
            Ty::RepFixed64 if wire == Wire::LengthDelimited => self.nested(|r, end| {
                while r.pos < end {
                    r.take(8)?;
                }
                Ok(())
            }),
            Ty::RepFixed64 => self.check_field(wire, Ty::Fixed64, depth),
        }
    }

    /// A length-delimited run of values checked by `f`, as prost's `merge_loop`.
    fn nested(
        &mut self,
        f: impl FnOnce(&mut Self, usize) -> Result<(), WireError>,
    ) -> Result<(), WireError> {
        let n = self.varint()?;
        if n > self.remaining() as u64 {
            return Err(Kind::BufferUnderflow.into());
        }
        let end = self.pos + n as usize;
        f(self, end)?;
        if self.pos != end {
            return Err(Kind::DelimitedLengthExceeded.into());
        }
        Ok(())
    }
}
