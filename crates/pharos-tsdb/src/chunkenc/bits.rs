//! Bit-level I/O for the chunk bitstream: [`BitBuf`] (append-only writer over a byte vector) and
//! [`BitReader`] (bounds-checked reader), plus zigzag varints and the adaptive Rice code
//! ([`Rice`]) built on them.
//!
//! This module knows nothing about samples, timestamps or chunk headers; it only moves bits.
//! The reader never panics: every read past the end returns [`ChunkError::Truncated`].

use super::ChunkError;

/// An append-only bit buffer. Bits are written most-significant first; the unused low bits of
/// the last byte are always zero.
#[derive(Clone, Debug, Default)]
pub(crate) struct BitBuf {
    pub(crate) bytes: Vec<u8>,
    /// Number of bits used in `bytes` (the last byte may be partial).
    pub(crate) bits: u64,
}

impl BitBuf {
    pub(crate) fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `n` bits of `v` (n <= 64), most significant first.
    pub(crate) fn write_bits(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        let mut n = n;
        while n > 0 {
            let used = (self.bits % 8) as u32;
            if used == 0 {
                self.bytes.push(0);
            }
            let free = 8 - used;
            let take = free.min(n);
            let part = ((v >> (n - take)) & mask(take)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= part << (free - take);
            }
            self.bits += u64::from(take);
            n -= take;
        }
    }

    /// Writes `v` zigzag-encoded as a varint of 8-bit groups (continuation bit first).
    pub(crate) fn write_varint(&mut self, v: i64) {
        let mut u = zigzag(v);
        loop {
            let group = u & 0x7f;
            u >>= 7;
            let cont = u != 0;
            self.write_bits((u64::from(cont) << 7) | group, 8);
            if !cont {
                break;
            }
        }
    }
}

/// A bounds-checked reader over a bit range of a byte slice.
#[derive(Clone, Debug)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: u64,
    end: u64,
}

impl<'a> BitReader<'a> {
    /// Reads bits `[start, end)` of `data`; `end` is clamped to the data length.
    pub(crate) fn new(data: &'a [u8], start: u64, end: u64) -> Self {
        let end = end.min(data.len() as u64 * 8);
        BitReader {
            data,
            pos: start,
            end,
        }
    }

    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// The next bits left-aligned in a word, at least 57 of them valid
    /// (bits past the end of the data are whatever follows in the buffer);
    /// `None` within 8 bytes of the buffer's end.
    #[inline(always)]
    pub(crate) fn peek57(&self) -> Option<u64> {
        let byte = (self.pos / 8) as usize;
        let b = self.data.get(byte..byte + 8)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        Some(u64::from_be_bytes(w) << (self.pos % 8))
    }

    /// Whether `n` more bits are within the range.
    #[inline(always)]
    pub(crate) fn has(&self, n: u32) -> bool {
        self.pos + u64::from(n) <= self.end
    }

    /// Consumes `n` bits that [`BitReader::has`] said are there.
    #[inline(always)]
    pub(crate) fn skip(&mut self, n: u32) {
        self.pos += u64::from(n);
    }

    #[inline(always)]
    pub(crate) fn read_bit(&mut self) -> Result<bool, ChunkError> {
        Ok(self.read_bits(1)? == 1)
    }

    /// Reads `n` bits (n <= 64), most significant first.
    #[inline(always)]
    pub(crate) fn read_bits(&mut self, n: u32) -> Result<u64, ChunkError> {
        if n > 64 || self.pos + u64::from(n) > self.end {
            return Err(ChunkError::Truncated);
        }
        if n == 0 {
            return Ok(0);
        }
        let byte = (self.pos / 8) as usize;
        if n <= 56 {
            if let Some(b) = self.data.get(byte..byte + 8) {
                let mut w = [0u8; 8];
                w.copy_from_slice(b);
                let used = (self.pos % 8) as u32;
                let out = (u64::from_be_bytes(w) << used) >> (64 - n);
                self.pos += u64::from(n);
                return Ok(out);
            }
        }
        let mut out: u64 = 0;
        let mut n = n;
        while n > 0 {
            let byte = *self
                .data
                .get((self.pos / 8) as usize)
                .ok_or(ChunkError::Truncated)?;
            let used = (self.pos % 8) as u32;
            let avail = 8 - used;
            let take = avail.min(n);
            let part = (u64::from(byte) >> (avail - take)) & mask(take);
            out = (out << take) | part;
            self.pos += u64::from(take);
            n -= take;
        }
        Ok(out)
    }

    /// Counts one bits up to `limit`, consuming them and the zero bit that ends a run
    /// shorter than `limit` (the same bits as a loop of `read_bit` would).
    #[inline(always)]
    pub(crate) fn read_unary(&mut self, limit: u32) -> Result<u32, ChunkError> {
        let byte = (self.pos / 8) as usize;
        if limit <= 56 && self.end.saturating_sub(self.pos) > u64::from(limit) {
            if let Some(b) = self.data.get(byte..byte + 8) {
                let mut w = [0u8; 8];
                w.copy_from_slice(b);
                let used = (self.pos % 8) as u32;
                let ones = (!(u64::from_be_bytes(w) << used)).leading_zeros();
                if ones < limit {
                    self.pos += u64::from(ones) + 1;
                    return Ok(ones);
                }
                self.pos += u64::from(limit);
                return Ok(limit);
            }
        }
        let mut q = 0;
        while q < limit && self.read_bit()? {
            q += 1;
        }
        Ok(q)
    }

    #[inline(always)]
    pub(crate) fn read_varint(&mut self) -> Result<i64, ChunkError> {
        let mut u: u64 = 0;
        for i in 0..10 {
            let group = self.read_bits(8)?;
            u |= (group & 0x7f).checked_shl(7 * i).unwrap_or(0);
            if group & 0x80 == 0 {
                return Ok(unzigzag(u));
            }
        }
        Err(ChunkError::Corrupt("varint longer than 10 groups"))
    }
}

/// Maps a signed integer to an unsigned one with small magnitudes first (0, -1, 1, -2, ...).
#[inline(always)]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline(always)]
pub(crate) fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Longest unary quotient of a [`Rice`] code; a run of this many one-bits starts an escape.
const RICE_LIMIT: u32 = 16;

/// What a [`Rice`] code decoded to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    Value(u64),
    /// The special value (used for the staleness marker).
    Escape,
}

/// Adaptive Golomb-Rice code for unsigned integers (LOCO-I style). The parameter `k` is
/// derived from the running mean of the values coded so far, which encoder and decoder both
/// track, so it costs no bits. A value `u` costs `(u >> k) + 1 + k` bits while the quotient is
/// below [`RICE_LIMIT`]; otherwise `RICE_LIMIT` one-bits, a zero flag bit, 6 bits of length `L`
/// and `L` bits of `u`. `RICE_LIMIT` one-bits followed by a one bit is the escape code.
#[derive(Clone, Debug)]
pub(crate) struct Rice {
    sum: u64,
    count: u64,
    /// Cached parameter, a function of `sum` and `count` (see [`Rice::compute_k`]).
    k: u32,
}

impl Default for Rice {
    fn default() -> Self {
        Rice {
            sum: 0,
            count: 1,
            k: 0,
        }
    }
}

impl Rice {
    const RESET: u64 = 16;

    #[inline(always)]
    fn k(&self) -> u32 {
        self.k
    }

    /// The smallest `k <= 62` with `count << k >= sum`. Branch-free: `k`
    /// changes with the data, so a branch here mispredicts on every other
    /// sample of a noisy series.
    #[inline(always)]
    fn compute_k(sum: u64, count: u64) -> u32 {
        // `count << k0` has the bit length of `sum` (or `k0` is 0 when
        // `sum` is no longer than `count`), so `k0` or `k0 + 1` is the answer.
        // `count` stays below `RESET`, so the shift cannot overflow.
        let k0 = count.leading_zeros().saturating_sub(sum.leading_zeros());
        let k = k0 + u32::from((count << k0) < sum);
        k.min(62)
    }

    /// Folds `u` into the running statistics.
    #[inline(always)]
    pub(crate) fn update(&mut self, u: u64) {
        self.sum = self.sum.saturating_add(u);
        self.count += 1;
        if self.count >= Self::RESET {
            self.sum >>= 1;
            self.count >>= 1;
        }
        self.k = Self::compute_k(self.sum, self.count);
    }

    /// Bits `write(u)` would take now.
    #[inline(always)]
    pub(crate) fn cost(&self, u: u64) -> u64 {
        let k = self.k();
        let q = u >> k;
        if q < u64::from(RICE_LIMIT) {
            q + 1 + u64::from(k)
        } else {
            u64::from(RICE_LIMIT + 1 + 6 + (64 - u.leading_zeros()))
        }
    }

    pub(crate) fn write(&self, w: &mut BitBuf, u: u64) {
        let k = self.k();
        let q = u >> k;
        if q < u64::from(RICE_LIMIT) {
            let q = q as u32;
            w.write_bits(mask(q) << 1, q + 1);
            w.write_bits(u & mask(k), k);
        } else {
            let len = 64 - u.leading_zeros();
            w.write_bits(mask(RICE_LIMIT) << 1, RICE_LIMIT + 1);
            // len is 1..=64; store len - 1 in 6 bits.
            w.write_bits(u64::from(len - 1), 6);
            w.write_bits(u, len);
        }
    }

    pub(crate) fn write_escape(&self, w: &mut BitBuf) {
        w.write_bits(mask(RICE_LIMIT + 1), RICE_LIMIT + 1);
    }

    #[inline(always)]
    pub(crate) fn read(&self, r: &mut BitReader<'_>) -> Result<Code, ChunkError> {
        // Fast path: the unary quotient, its stop bit and the k low bits all
        // lie in one 8-byte window (57 usable bits), read with one load.
        let k = self.k();
        if let Some(w) = r.peek57() {
            let ones = (!w).leading_zeros();
            let used = ones + 1 + k;
            if ones < RICE_LIMIT && used <= 57 && r.has(used) {
                let low = if k == 0 {
                    0
                } else {
                    (w << (ones + 1)) >> (64 - k)
                };
                r.skip(used);
                return Ok(Code::Value((u64::from(ones) << k) | low));
            }
        }
        let q = r.read_unary(RICE_LIMIT)?;
        if q < RICE_LIMIT {
            let k = self.k();
            let low = r.read_bits(k)?;
            return Ok(Code::Value((u64::from(q) << k) | low));
        }
        if r.read_bit()? {
            return Ok(Code::Escape);
        }
        let len = r.read_bits(6)? as u32 + 1;
        Ok(Code::Value(r.read_bits(len)?))
    }
}

#[inline(always)]
pub(crate) fn mask(n: u32) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip() {
        let mut w = BitBuf::default();
        w.write_bits(0b101, 3);
        w.write_bits(u64::MAX, 64);
        w.write_bit(false);
        w.write_varint(-1_700_000_000_000);
        w.write_bits(0x1234, 13);
        let mut r = BitReader::new(&w.bytes, 0, w.bits);
        assert_eq!(r.read_bits(3).unwrap(), 0b101);
        assert_eq!(r.read_bits(64).unwrap(), u64::MAX);
        assert!(!r.read_bit().unwrap());
        assert_eq!(r.read_varint().unwrap(), -1_700_000_000_000);
        assert_eq!(r.read_bits(13).unwrap(), 0x1234);
        assert!(r.read_bit().is_err());
    }

    #[test]
    fn rice_k_matches_search() {
        let slow = |sum: u64, count: u64| {
            let mut k = 0;
            while k < 62 && (u128::from(count) << k) < u128::from(sum) {
                k += 1;
            }
            k
        };
        let vals = [
            0u64,
            1,
            2,
            3,
            4,
            5,
            7,
            8,
            9,
            15,
            16,
            17,
            100,
            1 << 40,
            u64::MAX - 1,
            u64::MAX,
        ];
        for &sum in &vals {
            for count in 1..40u64 {
                assert_eq!(
                    Rice::compute_k(sum, count),
                    slow(sum, count),
                    "{sum} {count}"
                );
            }
        }
    }

    #[test]
    fn unary_matches_bits() {
        let mut w = BitBuf::default();
        for q in [0u32, 1, 5, 16, 20, 3, 0, 15, 16] {
            w.write_bits(mask(q) << 1, q + 1);
        }
        for limit in [16u32, 4] {
            let mut fast = BitReader::new(&w.bytes, 0, w.bits);
            let mut slow = BitReader::new(&w.bytes, 0, w.bits);
            loop {
                let a = fast.read_unary(limit);
                let mut q = 0;
                let b = loop {
                    if q >= limit {
                        break Ok(q);
                    }
                    match slow.read_bit() {
                        Ok(true) => q += 1,
                        Ok(false) => break Ok(q),
                        Err(e) => break Err(e),
                    }
                };
                assert_eq!(a, b);
                assert_eq!(fast.pos(), slow.pos());
                if a.is_err() {
                    break;
                }
            }
        }
    }

    #[test]
    fn rice_round_trip() {
        let vals = [
            0u64,
            1,
            2,
            3,
            100,
            5,
            7,
            1 << 20,
            9,
            u64::MAX,
            0,
            0,
            0,
            1 << 40,
            3,
        ];
        let mut w = BitBuf::default();
        let mut enc = Rice::default();
        for &u in &vals {
            enc.write(&mut w, u);
            enc.update(u);
        }
        enc.write_escape(&mut w);
        let mut r = BitReader::new(&w.bytes, 0, w.bits);
        let mut dec = Rice::default();
        for &u in &vals {
            assert_eq!(dec.read(&mut r).unwrap(), Code::Value(u));
            dec.update(u);
        }
        assert_eq!(dec.read(&mut r).unwrap(), Code::Escape);
        assert_eq!(r.pos(), w.bits);
    }
}
