//! Compressed chunks of `(i64 ms timestamp, f64 value)` samples for one series: [`Chunk`].
//!
//! Timestamps are delta-of-delta coded with prefix buckets. Values use one of two encodings,
//! picked per chunk while appending (see [`ValueEncoding`]):
//!
//! * **decimal integer** — every value is `n / 10^k` for one scale `k` in `0..=9` (counters,
//!   histogram buckets, `node_cpu_seconds_total`-style two-decimal values, most gauges read from
//!   text), coded as integer delta-of-delta; the staleness marker has its own escape code;
//! * **XOR** — any f64 (Gorilla XOR against the previous value).
//!
//! Decimal-integer chunks also drop low zero bits shared by all values (a binary `shift`: byte
//! counters made of 512-byte sectors or 4 KiB pages).
//!
//! A chunk starts in decimal-integer mode with the smallest scale and the largest shift that fit
//! the first value; when a value arrives that does not fit, the chunk is re-encoded with a larger
//! scale, a smaller shift, or as XOR. Scale only grows and shift only shrinks, so a chunk is
//! re-encoded a bounded number of times (in practice once or twice, early) and appending stays
//! amortised O(1). Every f64 bit
//! pattern (NaN payloads, ±Inf, -0.0, [`pharos_model::STALE_NAN_BITS`]) round-trips exactly.
//!
//! The byte format is specified in `docs/format/chunks.md`. This module knows nothing about
//! series, labels, the head or blocks; it never panics on corrupt bytes.
//!
//! ```
//! use pharos_tsdb::chunkenc::Chunk;
//! let mut c = Chunk::new();
//! c.append(1_000, 1.0);
//! c.append(16_000, 2.0);
//! let back = Chunk::from_bytes(c.bytes().to_vec()).unwrap();
//! let samples: Vec<(i64, f64)> = back.iter().collect::<Result<_, _>>().unwrap();
//! assert_eq!(samples, vec![(1_000, 1.0), (16_000, 2.0)]);
//! ```

mod bits;
mod codec;
#[cfg(test)]
mod tests;

use bits::{BitBuf, BitReader};
use codec::{classify, fit, IntCodec, IntValue, TsCodec, XorCodec, MAX_SCALE, MAX_SHIFT};

/// Bytes before the bitstream: encoding byte, shift byte, sample count as big-endian u16.
const HEADER_LEN: usize = 4;
const ENC_XOR: u8 = 0x1;
const ENC_INT: u8 = 0x2;

/// Errors from decoding or appending to a chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    #[error("chunk shorter than its {HEADER_LEN}-byte header")]
    HeaderTooShort,
    #[error("unknown chunk encoding byte {0:#04x}")]
    UnknownEncoding(u8),
    #[error("chunk data truncated")]
    Truncated,
    #[error("corrupt chunk: {0}")]
    Corrupt(&'static str),
    #[error("{0} trailing bytes after the last sample")]
    TrailingBytes(usize),
    #[error("chunk is full ({} samples)", Chunk::MAX_SAMPLES)]
    Full,
    #[error("out of order sample: timestamp {t} is not after {max_t}")]
    OutOfOrder { t: i64, max_t: i64 },
}

/// How a chunk encodes its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueEncoding {
    /// Every value is `(m << shift) / 10^scale` (or the staleness marker); `m` is coded as
    /// integer delta or delta-of-delta.
    DecimalInt { scale: u8, shift: u8 },
    /// Gorilla XOR of the raw f64 bits.
    Xor,
}

#[derive(Clone, Debug)]
enum ValueCodec {
    Int(IntCodec),
    Xor(XorCodec),
}

/// A compressed, appendable run of samples with strictly increasing timestamps.
///
/// `bytes()` is the stable on-disk form; `from_bytes` validates it completely, so a chunk read
/// back can be iterated and appended to.
#[derive(Clone, Debug)]
pub struct Chunk {
    buf: BitBuf,
    num: u16,
    min_t: i64,
    ts: TsCodec,
    val: ValueCodec,
    /// Built by [`Chunk::from_bytes_unchecked`]: codec state not restored, no appends.
    read_only: bool,
    /// Decoder states saved while appending (every [`MARK_EVERY`] samples), so a
    /// reader that wants only the newest samples of the head's open chunk can
    /// start part-way. In memory only; never encoded.
    marks: Vec<Mark>,
}

/// Samples between two saved decoder states of an appendable chunk.
const MARK_EVERY: u16 = 20;

/// The decoder's state after the first `idx` samples of a chunk.
#[derive(Clone, Debug)]
struct Mark {
    idx: u16,
    /// Bit position of sample `idx`.
    bit: u64,
    /// Timestamp of sample `idx - 1`.
    last_t: i64,
    ts: TsCodec,
    val: ValueCodec,
}

/// Saved decoder states of a chunk, kept beside its bytes once the chunk is
/// no longer appended to (see [`Chunk::tail_states`]). In memory only.
#[derive(Clone, Debug)]
pub struct DecoderStates(Box<[Mark]>);

impl DecoderStates {
    /// Starts loading the states (see `crate::prefetch`).
    pub(crate) fn prefetch(&self) {
        crate::prefetch::slice(&self.0, 1024);
    }
}

impl Default for Chunk {
    fn default() -> Self {
        Chunk::new()
    }
}

impl Chunk {
    /// Most samples a chunk can hold (the count is a u16). The head should cut far earlier:
    /// 120–240 samples is the sweet spot (see `docs/format/chunks.md`).
    pub const MAX_SAMPLES: usize = u16::MAX as usize;

    /// An empty, appendable chunk.
    pub fn new() -> Chunk {
        Chunk::with_encoding(ValueEncoding::DecimalInt { scale: 0, shift: 0 })
    }

    fn with_encoding(enc: ValueEncoding) -> Chunk {
        let (byte, shift, val) = match enc {
            ValueEncoding::DecimalInt { scale, shift } => (
                (ENC_INT << 4) | scale,
                shift,
                ValueCodec::Int(IntCodec::new(scale, shift)),
            ),
            ValueEncoding::Xor => (ENC_XOR << 4, 0, ValueCodec::Xor(XorCodec::default())),
        };
        let buf = BitBuf {
            bytes: vec![byte, shift, 0, 0],
            bits: (HEADER_LEN * 8) as u64,
        };
        Chunk {
            buf,
            num: 0,
            min_t: 0,
            ts: TsCodec::default(),
            val,
            read_only: false,
            marks: Vec::new(),
        }
    }

    /// Parses and fully validates an encoded chunk (header, every sample, no trailing bytes).
    pub fn from_bytes(b: Vec<u8>) -> Result<Chunk, ChunkError> {
        let (enc, num) = parse_header(&b)?;
        let mut chunk = Chunk::with_encoding(enc);
        let mut r = BitReader::new(&b, (HEADER_LEN * 8) as u64, b.len() as u64 * 8);
        for i in 0..num {
            let t = chunk.ts.read(&mut r)?;
            if i == 0 {
                chunk.min_t = t;
            }
            match &mut chunk.val {
                ValueCodec::Int(c) => c.read(&mut r)?,
                ValueCodec::Xor(c) => c.read(&mut r)?,
            };
        }
        let used = r.pos().div_ceil(8) as usize;
        if used < b.len() {
            return Err(ChunkError::TrailingBytes(b.len() - used));
        }
        let pad = (8 - r.pos() % 8) % 8;
        if pad > 0
            && b.last()
                .is_some_and(|&last| u64::from(last) & bits::mask(pad as u32) != 0)
        {
            return Err(ChunkError::Corrupt("non-zero padding bits"));
        }
        let bits = r.pos();
        chunk.num = num;
        chunk.buf = BitBuf { bytes: b, bits };
        Ok(chunk)
    }

    /// Wraps encoded bytes whose time range is already known (from an index or the head)
    /// without decoding them: only the header is checked. Corrupt sample data shows up when
    /// iterating (one `Err`, then the end). The result is read-only: appending fails.
    pub fn from_bytes_unchecked(b: Vec<u8>, min_t: i64, max_t: i64) -> Result<Chunk, ChunkError> {
        let (enc, num) = parse_header(&b)?;
        let mut chunk = Chunk::with_encoding(enc);
        chunk.num = num;
        chunk.min_t = min_t;
        chunk.ts.prev_t = max_t;
        chunk.read_only = true;
        let bits = b.len() as u64 * 8;
        chunk.buf = BitBuf { bytes: b, bits };
        Ok(chunk)
    }

    /// The encoded form: header plus bitstream, padded with zero bits to a whole byte.
    pub fn bytes(&self) -> &[u8] {
        &self.buf.bytes
    }

    /// Consumes the chunk, returning its encoded form.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf.bytes
    }

    pub fn num_samples(&self) -> usize {
        usize::from(self.num)
    }

    pub fn is_empty(&self) -> bool {
        self.num == 0
    }

    pub fn is_full(&self) -> bool {
        self.num_samples() >= Self::MAX_SAMPLES
    }

    pub fn min_time(&self) -> Option<i64> {
        (self.num > 0).then_some(self.min_t)
    }

    pub fn max_time(&self) -> Option<i64> {
        (self.num > 0).then_some(self.ts.prev_t)
    }

    /// The value encoding the chunk currently uses.
    pub fn encoding(&self) -> ValueEncoding {
        match &self.val {
            ValueCodec::Int(c) => ValueEncoding::DecimalInt {
                scale: c.scale,
                shift: c.shift,
            },
            ValueCodec::Xor(_) => ValueEncoding::Xor,
        }
    }

    /// Encoded size in bytes (`bytes().len()`).
    pub fn size_bytes(&self) -> usize {
        self.buf.bytes.len()
    }

    /// Appends a sample. The caller guarantees `t > max_time()` and that the chunk is not full.
    ///
    /// # Panics
    /// If that contract is broken (use [`Chunk::try_append`] to get an error instead).
    pub fn append(&mut self, t: i64, v: f64) {
        if let Err(e) = self.try_append(t, v) {
            panic!("chunk append contract violated: {e}");
        }
    }

    /// Appends a sample, or reports why it cannot be appended (full, out of order).
    pub fn try_append(&mut self, t: i64, v: f64) -> Result<(), ChunkError> {
        if self.read_only {
            return Err(ChunkError::Corrupt("chunk opened read-only"));
        }
        if self.is_full() {
            return Err(ChunkError::Full);
        }
        if let Some(max_t) = self.max_time() {
            if t <= max_t {
                return Err(ChunkError::OutOfOrder { t, max_t });
            }
        }
        if self.num == 0 {
            *self = Chunk::with_encoding(initial_encoding(v));
            self.min_t = t;
        }
        if let ValueCodec::Int(c) = &self.val {
            if fit(v, c.scale, c.shift).is_none() {
                self.reencode_for(v)?;
            }
        }
        self.ts.write(&mut self.buf, t);
        match &mut self.val {
            ValueCodec::Int(c) => match fit(v, c.scale, c.shift) {
                Some(x) => c.write(&mut self.buf, x),
                // reencode_for guarantees the value fits; unreachable.
                None => return Err(ChunkError::Corrupt("value does not fit chunk encoding")),
            },
            ValueCodec::Xor(c) => c.write(&mut self.buf, v),
        }
        self.num += 1;
        self.buf.bytes[2..HEADER_LEN].copy_from_slice(&self.num.to_be_bytes());
        self.save_mark(self.num, t);
        Ok(())
    }

    /// After `n` samples (the newest at `t`) are written, saves the
    /// decoder's state every [`MARK_EVERY`] samples: the encoder's state
    /// equals the decoder's after the same samples.
    fn save_mark(&mut self, n: u16, t: i64) {
        if n.is_multiple_of(MARK_EVERY) {
            self.marks.push(Mark {
                idx: n,
                bit: self.buf.bits,
                last_t: t,
                ts: self.ts.clone(),
                val: self.val.clone(),
            });
        }
    }

    /// Re-encodes the existing samples with the cheapest encoding that can also hold `v`.
    fn reencode_for(&mut self, v: f64) -> Result<(), ChunkError> {
        let samples = self.iter().collect::<Result<Vec<_>, _>>()?;
        let (scale, shift) = match self.encoding() {
            ValueEncoding::DecimalInt { scale, shift } => (scale, shift),
            ValueEncoding::Xor => return Ok(()),
        };
        let values = samples.iter().map(|&(_, x)| x).chain(std::iter::once(v));
        let enc = int_encoding(values, scale, shift);
        let mut fresh = Chunk::with_encoding(enc);
        for (i, &(t, x)) in samples.iter().enumerate() {
            fresh.ts.write(&mut fresh.buf, t);
            match &mut fresh.val {
                ValueCodec::Int(c) => {
                    let x = fit(x, c.scale, c.shift)
                        .ok_or(ChunkError::Corrupt("value does not fit chunk encoding"))?;
                    c.write(&mut fresh.buf, x);
                }
                ValueCodec::Xor(c) => c.write(&mut fresh.buf, x),
            }
            // The saved decoder states, again for the new bits.
            fresh.save_mark(u16::try_from(i + 1).unwrap_or(u16::MAX), t);
        }
        fresh.num = self.num;
        fresh.min_t = self.min_t;
        fresh.buf.bytes[2..HEADER_LEN].copy_from_slice(&fresh.num.to_be_bytes());
        *self = fresh;
        Ok(())
    }

    /// Iterates the samples in time order. Items are `Result`s: on corrupt data the iterator
    /// yields one `Err` and then ends. Chunks built by `append` or accepted by `from_bytes`
    /// never yield an error.
    pub fn iter(&self) -> ChunkIter<'_> {
        let val = match &self.val {
            ValueCodec::Int(c) => ValueCodec::Int(IntCodec::new(c.scale, c.shift)),
            ValueCodec::Xor(_) => ValueCodec::Xor(XorCodec::default()),
        };
        ChunkIter {
            r: BitReader::new(&self.buf.bytes, (HEADER_LEN * 8) as u64, self.buf.bits),
            ts: TsCodec::default(),
            val,
            remaining: self.num,
        }
    }
}

impl Chunk {
    /// Appends every sample to `out` in time order: the same samples as
    /// [`Chunk::iter`], in one loop specialised for the chunk's value encoding
    /// (the query path's decoder). On corrupt data the samples before the
    /// damage are appended and the error is returned.
    pub fn decode_into(&self, out: &mut Vec<(i64, f64)>) -> Result<(), ChunkError> {
        self.decode_from(i64::MIN, out)
    }

    /// Starts loading what [`Chunk::clone_for_read`] reads (see
    /// `crate::prefetch`): the bytes and the saved decoder states.
    pub(crate) fn prefetch(&self) {
        crate::prefetch::slice(&self.buf.bytes, 512);
        crate::prefetch::slice(&self.marks, 1024);
    }

    /// A copy for reading samples from `min_t` on: like `clone`, but of the
    /// saved decoder states it keeps only the one [`Chunk::decode_from`]
    /// would start from, so a query's snapshot of an open chunk stays small.
    pub fn clone_for_read(&self, min_t: i64) -> Chunk {
        Chunk {
            buf: self.buf.clone(),
            num: self.num,
            min_t: self.min_t,
            ts: self.ts.clone(),
            val: self.val.clone(),
            read_only: self.read_only,
            marks: self
                .marks
                .iter()
                .rev()
                .find(|m| m.last_t < min_t)
                .cloned()
                .into_iter()
                .collect(),
        }
    }

    /// The newest `keep` saved decoder states from which samples remain to be
    /// decoded, to keep beside the chunk's bytes when it is closed: a query
    /// of the newest minutes that reaches back into the head's last closed
    /// chunk then decodes its tail, not all of it. `None` if there are none.
    pub fn tail_states(&self, keep: usize) -> Option<DecoderStates> {
        let usable = self.marks.iter().filter(|m| m.idx < self.num).count();
        let first = usable.saturating_sub(keep);
        let kept: Box<[Mark]> = self.marks[first..usable].into();
        (!kept.is_empty()).then_some(DecoderStates(kept))
    }

    /// This chunk with the one state of `states` that [`Chunk::decode_from`]
    /// with `min_t` would start from. `states` must come from
    /// [`Chunk::tail_states`] of a chunk with these very bytes.
    pub fn with_states(mut self, states: &DecoderStates, min_t: i64) -> Chunk {
        self.marks = states
            .0
            .iter()
            .rev()
            .find(|m| m.last_t < min_t && m.idx < self.num)
            .cloned()
            .into_iter()
            .collect();
        self
    }

    /// Like [`Chunk::decode_into`], but may leave out samples before `min_t`
    /// (not necessarily all of them): an appendable chunk starts from the
    /// last saved decoder state whose samples are all older than `min_t`.
    pub fn decode_from(&self, min_t: i64, out: &mut Vec<(i64, f64)>) -> Result<(), ChunkError> {
        let mark = self.marks.iter().rev().find(|m| m.last_t < min_t);
        Encoded {
            bytes: &self.buf.bytes,
            bits: self.buf.bits,
            num: self.num,
            enc: self.encoding(),
        }
        .decode(mark, out)
    }
}

/// Appends every sample of the encoded chunk `b` (as [`Chunk::bytes`] gives
/// it) to `out` without building a [`Chunk`]: the query path's decoder for
/// chunks read from disk into a reused buffer. Only the header is checked up
/// front; on corrupt data the samples before the damage are appended and the
/// error is returned.
pub fn decode_bytes(b: &[u8], out: &mut Vec<(i64, f64)>) -> Result<(), ChunkError> {
    let (enc, num) = parse_header(b)?;
    Encoded {
        bytes: b,
        bits: b.len() as u64 * 8,
        num,
        enc,
    }
    .decode(None, out)
}

/// A chunk's encoded samples, borrowed.
struct Encoded<'a> {
    bytes: &'a [u8],
    bits: u64,
    num: u16,
    enc: ValueEncoding,
}

impl Encoded<'_> {
    /// Decodes from `mark` (a state saved for these very bytes) or the start,
    /// in the loop compiled with LZCNT when the CPU has it.
    fn decode(&self, mark: Option<&Mark>, out: &mut Vec<(i64, f64)>) -> Result<(), ChunkError> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("lzcnt") {
                // SAFETY: the CPU has LZCNT, checked just above.
                return unsafe { self.decode_lzcnt(mark, out) };
            }
        }
        self.decode_loop(mark, out)
    }

    /// The decode loop compiled with LZCNT: the codecs count leading zeros
    /// several times per sample, and without it that is `BSR`, several times
    /// slower on some CPUs (measured: ~50 → see `docs/benchmarks.md`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "lzcnt")]
    unsafe fn decode_lzcnt(
        &self,
        mark: Option<&Mark>,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<(), ChunkError> {
        self.decode_loop(mark, out)
    }

    #[inline(always)]
    fn decode_loop(
        &self,
        mark: Option<&Mark>,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<(), ChunkError> {
        let start = mark.map_or((HEADER_LEN * 8) as u64, |m| m.bit);
        let mut r = BitReader::new(self.bytes, start, self.bits);
        let mut ts = mark.map_or_else(TsCodec::default, |m| m.ts.clone());
        let n = usize::from(self.num.saturating_sub(mark.map_or(0, |m| m.idx)));
        out.reserve(n);
        let val = mark.map(|m| &m.val);
        match self.enc {
            ValueEncoding::DecimalInt { scale, shift } => {
                let mut vc = match val {
                    Some(ValueCodec::Int(v)) => v.clone(),
                    _ => IntCodec::new(scale, shift),
                };
                for _ in 0..n {
                    let t = ts.read(&mut r)?;
                    let v = vc.read(&mut r)?;
                    out.push((t, v));
                }
            }
            ValueEncoding::Xor => {
                let mut vc = match val {
                    Some(ValueCodec::Xor(v)) => v.clone(),
                    _ => XorCodec::default(),
                };
                for _ in 0..n {
                    let t = ts.read(&mut r)?;
                    let v = vc.read(&mut r)?;
                    out.push((t, v));
                }
            }
        }
        Ok(())
    }
}

fn initial_encoding(v: f64) -> ValueEncoding {
    int_encoding(std::iter::once(v), 0, MAX_SHIFT)
}

/// The smallest decimal scale from `min_scale` on that represents every value, with the largest
/// binary shift (at most `max_shift`) those integers share; XOR if no scale fits. Scale never
/// decreases and shift never increases across re-encodes, which bounds their number.
fn int_encoding(
    values: impl Iterator<Item = f64> + Clone,
    min_scale: u8,
    max_shift: u8,
) -> ValueEncoding {
    'scales: for scale in min_scale..=MAX_SCALE {
        let mut shift = u32::from(max_shift);
        let mut any = false;
        for v in values.clone() {
            match classify(v, scale) {
                None => continue 'scales,
                Some(IntValue::Int(n)) if n != 0 => {
                    shift = shift.min(n.trailing_zeros());
                    any = true;
                }
                Some(_) => {}
            }
        }
        let shift = if any { shift as u8 } else { 0 };
        return ValueEncoding::DecimalInt { scale, shift };
    }
    ValueEncoding::Xor
}

fn parse_header(b: &[u8]) -> Result<(ValueEncoding, u16), ChunkError> {
    let [byte, shift, hi, lo, ..] = *b else {
        return Err(ChunkError::HeaderTooShort);
    };
    let enc = match (byte >> 4, byte & 0x0f) {
        (ENC_XOR, 0) if shift == 0 => ValueEncoding::Xor,
        (ENC_INT, scale) if scale <= MAX_SCALE && shift <= MAX_SHIFT => {
            ValueEncoding::DecimalInt { scale, shift }
        }
        (ENC_XOR, 0) | (ENC_INT, 0..=MAX_SCALE) => {
            return Err(ChunkError::Corrupt("invalid shift byte"))
        }
        _ => return Err(ChunkError::UnknownEncoding(byte)),
    };
    Ok((enc, u16::from_be_bytes([hi, lo])))
}

/// Iterator over a chunk's samples; see [`Chunk::iter`].
#[derive(Clone, Debug)]
pub struct ChunkIter<'a> {
    r: BitReader<'a>,
    ts: TsCodec,
    val: ValueCodec,
    remaining: u16,
}

impl Iterator for ChunkIter<'_> {
    type Item = Result<(i64, f64), ChunkError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let res = self.ts.read(&mut self.r).and_then(|t| {
            let v = match &mut self.val {
                ValueCodec::Int(c) => c.read(&mut self.r)?,
                ValueCodec::Xor(c) => c.read(&mut self.r)?,
            };
            Ok((t, v))
        });
        self.remaining = if res.is_ok() { self.remaining - 1 } else { 0 };
        Some(res)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.remaining)))
    }
}
