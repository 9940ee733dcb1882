//! The timestamps of a row group, packed (segment data files of format 3,
//! `docs/format/logs-segment.md`, "Timestamps").
//!
//! A row group is a sequence of *runs*, consecutive rows of one stream in
//! ascending time, whose first and last timestamps the segment index holds
//! already. A run's timestamps are stored as the differences between
//! neighbours, divided by their greatest common divisor (a shipper that
//! sends milliseconds gives differences that are multiples of 10⁶ ns), less
//! the smallest of them, and Rice-coded with the parameter that makes the
//! run shortest. Differences
//! between entries of one stream are close to exponentially distributed, for
//! which Rice codes are within a few hundredths of a bit of the entropy;
//! Parquet's DELTA_BINARY_PACKED spent about 8 bits more per entry on the
//! benchmark corpus (bit widths set by the largest difference of each 32,
//! the jump between two streams' runs, and no common divisor).

use super::codec::{put_uvarint, Reader};

/// A quotient of this many or more is written as this many 0 bits, a 1 bit
/// and the whole value in 64 bits (a stream idle for a long time would
/// otherwise take millions of bits).
const ESCAPE: u32 = 40;

/// Why packed timestamps could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    #[error("run {run}: truncated")]
    Truncated { run: usize },
    #[error("run {run}: {what}")]
    Invalid { run: usize, what: &'static str },
    #[error("{left} bytes after the last run")]
    LeftOver { left: usize },
}

/// One run: its rows and its first and last timestamps (from the index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSpan {
    pub rows: u32,
    pub first: i64,
    pub last: i64,
}

/// Appends the packed form of `ts` to `out`. `runs` cut `ts` into runs;
/// each run must be ascending (the segment writer sorts each stream's
/// entries): an error says which is not, or that the runs do not cover
/// `ts`.
pub fn encode(ts: &[i64], runs: &[RunSpan], out: &mut Vec<u8>) -> Result<(), &'static str> {
    let mut at = 0usize;
    let mut vals: Vec<u64> = Vec::new();
    for run in runs {
        let rows = ts
            .get(at..at + run.rows as usize)
            .ok_or("runs longer than the timestamps")?;
        at += run.rows as usize;
        if rows.len() < 2 {
            continue;
        }
        vals.clear();
        let mut g = 0u64;
        for w in rows.windows(2) {
            let d = u64::try_from(i128::from(w[1]) - i128::from(w[0]))
                .map_err(|_| "a run's timestamps do not ascend")?;
            g = gcd(g, d);
            vals.push(d);
        }
        let g = g.max(1);
        let base = vals.iter().map(|&v| v / g).min().unwrap_or(0);
        for v in &mut vals {
            *v = *v / g - base;
        }
        let k = best_k(&vals);
        put_uvarint(out, g);
        put_uvarint(out, base);
        out.push(k as u8);
        let mut w = BitWriter::new(out);
        for &v in &vals {
            let q = v >> k;
            if q >= u64::from(ESCAPE) {
                w.zeros(ESCAPE);
                w.put(1, 1);
                w.put(v, 64);
            } else {
                w.zeros(q as u32);
                w.put(1, 1);
                w.put(v & low_mask(k), k);
            }
        }
        w.finish();
    }
    if at != ts.len() {
        return Err("runs shorter than the timestamps");
    }
    Ok(())
}

/// Decodes what [`encode`] wrote for `runs` into `out` (cleared first),
/// checking that every run ends at its `last`.
pub fn decode(b: &[u8], runs: &[RunSpan], out: &mut Vec<i64>) -> Result<(), TsError> {
    out.clear();
    let mut pos = 0usize;
    for (ri, run) in runs.iter().enumerate() {
        let invalid = |what| TsError::Invalid { run: ri, what };
        if run.rows == 0 {
            return Err(invalid("no rows"));
        }
        out.push(run.first);
        if run.rows == 1 {
            if run.first != run.last {
                return Err(invalid("one row, but first and last differ"));
            }
            continue;
        }
        let mut r = Reader::new(&b[pos..], "packed timestamps");
        let g = r.uvarint().map_err(|_| TsError::Truncated { run: ri })?;
        let base = r.uvarint().map_err(|_| TsError::Truncated { run: ri })?;
        let k = u32::from(r.byte().map_err(|_| TsError::Truncated { run: ri })?);
        if g == 0 || k > 63 {
            return Err(invalid("divisor 0 or Rice parameter over 63"));
        }
        pos += r.pos;
        let mut bits = BitReader::new(&b[pos..]);
        let mut t = run.first;
        for _ in 1..run.rows {
            let q = bits.zeros(ESCAPE).ok_or(TsError::Truncated { run: ri })?;
            let v = if q == ESCAPE {
                bits.get(64).ok_or(TsError::Truncated { run: ri })?
            } else {
                let low = bits.get(k).ok_or(TsError::Truncated { run: ri })?;
                (u64::from(q) << k) | low
            };
            let d = v
                .checked_add(base)
                .and_then(|v| v.checked_mul(g))
                .ok_or_else(|| invalid("difference out of range"))?;
            t = i64::try_from(i128::from(t) + i128::from(d))
                .map_err(|_| invalid("timestamp out of range"))?;
            out.push(t);
        }
        if t != run.last {
            return Err(invalid("does not end at its last timestamp"));
        }
        pos += bits.bytes_read();
    }
    if pos != b.len() {
        return Err(TsError::LeftOver {
            left: b.len() - pos,
        });
    }
    Ok(())
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn low_mask(k: u32) -> u64 {
    if k == 0 {
        0
    } else {
        u64::MAX >> (64 - k)
    }
}

/// The Rice parameter that codes `vals` in the fewest bits: near log2 of
/// their mean, chosen among its neighbours by the exact length.
fn best_k(vals: &[u64]) -> u32 {
    let mean = vals.iter().map(|&v| u128::from(v)).sum::<u128>() / vals.len() as u128;
    let guess = (127 - mean.max(1).leading_zeros()).min(63);
    let cost = |k: u32| -> u64 {
        vals.iter()
            .map(|&v| {
                let q = v >> k;
                if q >= u64::from(ESCAPE) {
                    u64::from(ESCAPE) + 65
                } else {
                    q + 1 + u64::from(k)
                }
            })
            .sum()
    };
    [guess.saturating_sub(1), guess, (guess + 1).min(63)]
        .into_iter()
        .min_by_key(|&k| cost(k))
        .unwrap_or(guess)
}

/// Writes bits least significant first, whole bytes at the end.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter { out, acc: 0, n: 0 }
    }

    /// The low `n` bits of `v` (n ≤ 64).
    fn put(&mut self, v: u64, n: u32) {
        if n == 0 {
            return;
        }
        let v = v & if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        let room = 64 - self.n;
        if n < room {
            self.acc |= v << self.n;
            self.n += n;
        } else {
            // Fill the accumulator, write it out, keep the rest.
            let acc = self.acc | if self.n == 0 { v } else { v << self.n };
            self.out.extend_from_slice(&acc.to_le_bytes());
            self.acc = if room == 64 { 0 } else { v >> room };
            self.n = n - room;
        }
    }

    fn zeros(&mut self, mut n: u32) {
        while n > 0 {
            let m = n.min(32);
            self.put(0, m);
            n -= m;
        }
    }

    fn finish(self) {
        let bytes = self.n.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
    }
}

/// Reads bits least significant first.
struct BitReader<'a> {
    b: &'a [u8],
    /// Bits consumed.
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(b: &'a [u8]) -> Self {
        BitReader { b, pos: 0 }
    }

    /// The next 64 bits from `pos` (zeros past the end).
    #[inline]
    fn peek(&self) -> u64 {
        let byte = self.pos / 8;
        let shift = self.pos % 8;
        let mut w = [0u8; 16];
        let avail = self.b.len().saturating_sub(byte).min(16);
        w[..avail].copy_from_slice(&self.b[byte..byte + avail]);
        let v = u128::from_le_bytes(w) >> shift;
        v as u64
    }

    fn bits_left(&self) -> usize {
        self.b.len() * 8 - self.pos
    }

    /// `n` bits (n ≤ 64), or `None` past the end.
    #[inline]
    fn get(&mut self, n: u32) -> Option<u64> {
        if n as usize > self.bits_left() {
            return None;
        }
        let v = self.peek() & low_mask(n);
        self.pos += n as usize;
        Some(v)
    }

    /// Counts 0 bits up to `max` and consumes them and, below `max`, the 1
    /// bit after them; `None` past the end.
    #[inline]
    fn zeros(&mut self, max: u32) -> Option<u32> {
        let z = self.peek().trailing_zeros().min(max);
        let used = z as usize + 1;
        if used > self.bits_left() {
            return None;
        }
        self.pos += used;
        Some(z)
    }

    fn bytes_read(&self) -> usize {
        self.pos.div_ceil(8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spans(ts: &[i64], rows: &[u32]) -> Vec<RunSpan> {
        let mut at = 0usize;
        rows.iter()
            .map(|&r| {
                let s = RunSpan {
                    rows: r,
                    first: ts[at],
                    last: ts[at + r as usize - 1],
                };
                at += r as usize;
                s
            })
            .collect()
    }

    fn round_trip(ts: &[i64], rows: &[u32]) -> Vec<u8> {
        let runs = spans(ts, rows);
        let mut b = Vec::new();
        encode(ts, &runs, &mut b).expect("encodes");
        let mut got = Vec::new();
        decode(&b, &runs, &mut got).expect("decodes");
        assert_eq!(got, ts);
        b
    }

    #[test]
    fn runs_of_milliseconds_take_few_bits() {
        // Two streams: one in milliseconds, one in nanoseconds, and a run of
        // one row.
        let mut ts: Vec<i64> = (0..1000)
            .map(|i| 1_700_000_000_000_000_000 + i * 2_000_000)
            .collect();
        ts.extend((0..1000).map(|i| 1_600_000_000_000_000_000 + i * 2_000_017));
        ts.push(5);
        let b = round_trip(&ts, &[1000, 1000, 1]);
        // Constant differences: one bit each (0 after the divisor and the
        // smallest difference are taken off).
        assert!(b.len() < 2 * 1000 / 8 + 64, "{} bytes", b.len());
    }

    #[test]
    fn equal_timestamps_and_long_gaps() {
        let ts = vec![10, 10, 10, 11, i64::MAX / 2, i64::MAX / 2 + 3, i64::MAX];
        round_trip(&ts, &[7]);
        round_trip(&[-5, -5, 0, 1 << 62], &[2, 2]);
        round_trip(&[i64::MIN, i64::MAX, i64::MIN, -1, 0, i64::MAX], &[2, 4]);
        let mut b = Vec::new();
        let runs = spans(&[3, 2], &[2]);
        assert!(encode(&[3, 2], &runs, &mut b).is_err(), "descending");
        assert!(encode(&[3, 4, 5], &runs, &mut b).is_err(), "not covered");
    }

    #[test]
    fn damaged_input_is_an_error() {
        let ts: Vec<i64> = (0..50).map(|i| i * i * 1000).collect();
        let runs = spans(&ts, &[20, 30]);
        let mut b = Vec::new();
        encode(&ts, &runs, &mut b).expect("encodes");
        let mut out = Vec::new();
        for cut in 0..b.len() {
            assert!(decode(&b[..cut], &runs, &mut out).is_err(), "cut at {cut}");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert_eq!(
            decode(&longer, &runs, &mut out),
            Err(TsError::LeftOver { left: 1 })
        );
        let mut wrong = runs.clone();
        wrong[1].last += 1;
        assert!(decode(&b, &wrong, &mut out).is_err());
        let mut flipped = b.clone();
        flipped[3] ^= 0x10;
        assert!(decode(&flipped, &runs, &mut out).is_err());
    }

    proptest! {
        #[test]
        fn any_ascending_runs_round_trip(
            runs in proptest::collection::vec(
                (any::<i64>(), proptest::collection::vec(0u64..1 << 40, 0..60), 1u64..1_000_000),
                1..8,
            )
        ) {
            let mut ts = Vec::new();
            let mut rows = Vec::new();
            for (start, gaps, scale) in runs {
                let start = start / 4;
                let mut t = start;
                ts.push(t);
                for g in &gaps {
                    t = t.saturating_add(((g * scale) % (1 << 58)) as i64);
                    ts.push(t);
                }
                rows.push(gaps.len() as u32 + 1);
            }
            round_trip(&ts, &rows);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(
            b in proptest::collection::vec(any::<u8>(), 0..200),
            rows in proptest::collection::vec(0u32..50, 0..5),
            first in any::<i64>(), last in any::<i64>(),
        ) {
            let runs: Vec<RunSpan> = rows.iter().map(|&r| RunSpan { rows: r, first, last }).collect();
            let mut out = Vec::new();
            let _ = decode(&b, &runs, &mut out);
        }
    }
}
