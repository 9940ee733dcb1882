//! The bloom variant of `logs-index`: per row group, a bloom filter over the
//! distinct tokens of its lines (the VictoriaLogs approach), sized for a 1%
//! false-positive rate.
//!
//! A standard bloom filter with `k` probes derived from one xxh3 hash by
//! double hashing (Kirsch and Mitzenmacher: probe `i` is `h1 + i × h2`, each
//! half 32 bits, mapped onto the `m` bits by a multiply-shift). With
//! `m = n × ln(1/p) / ln(2)²` bits for `n` distinct tokens and
//! `k = round(m/n × ln 2)`, the false-positive rate is about `p`.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use pharos_logs::store::tokens::for_each_token;
use xxhash_rust::xxh3::xxh3_64;

/// Bytes stored per filter besides its bits: bit count (u32), probes (u8),
/// padding, and the filter's offset in the file (u64).
pub const HEADER_BYTES: usize = 16;

/// A hasher for keys that are already hashes.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

/// A set of token hashes.
pub type HashSet64 = HashSet<u64, BuildHasherDefault<IdHasher>>;

/// The hash of a token, as stored in the filters.
#[inline]
pub fn token_hash(t: &[u8]) -> u64 {
    xxh3_64(t)
}

/// A standard bloom filter over 64-bit hashes.
#[derive(Debug, Clone)]
pub struct Bloom {
    words: Vec<u64>,
    /// Number of bits (a multiple of 64, at least 64).
    m: u64,
    k: u32,
}

impl Bloom {
    /// An empty filter sized for `n` items at false-positive rate `p`.
    pub fn with_items(n: usize, p: f64) -> Bloom {
        let ln2 = std::f64::consts::LN_2;
        let n = n.max(1) as f64;
        let bits = (n * (1.0 / p).ln() / (ln2 * ln2)).ceil().max(64.0) as u64;
        let m = bits.div_ceil(64) * 64;
        let k = ((m as f64 / n) * ln2).round().clamp(1.0, 16.0) as u32;
        Bloom {
            words: vec![0; (m / 64) as usize],
            m,
            k,
        }
    }

    #[inline]
    fn probes(&self, h: u64) -> impl Iterator<Item = u64> + '_ {
        let h1 = h as u32;
        let h2 = (h >> 32) as u32 | 1;
        (0..self.k).map(move |i| {
            let g = h1.wrapping_add(i.wrapping_mul(h2));
            (u64::from(g) * self.m) >> 32
        })
    }

    /// Adds the item with hash `h`.
    #[inline]
    pub fn insert(&mut self, h: u64) {
        let (m, k) = (self.m, self.k);
        let h1 = h as u32;
        let h2 = (h >> 32) as u32 | 1;
        for i in 0..k {
            let bit = (u64::from(h1.wrapping_add(i.wrapping_mul(h2))) * m) >> 32;
            self.words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
    }

    /// Whether the item with hash `h` may have been added (never false for one that was).
    #[inline]
    pub fn may_contain(&self, h: u64) -> bool {
        self.probes(h)
            .all(|bit| self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    /// Bytes on disk: the bits and [`HEADER_BYTES`].
    pub fn disk_bytes(&self) -> usize {
        self.words.len() * 8 + HEADER_BYTES
    }

    /// Number of probes per item.
    pub fn k(&self) -> u32 {
        self.k
    }
}

/// The filter of one row group: the distinct tokens of `lines` (hashed into
/// `seen`, which is cleared first), then a filter sized for them. Returns the
/// filter and the number of distinct tokens.
pub fn group_filter<'a>(
    lines: impl Iterator<Item = &'a [u8]>,
    seen: &mut HashSet64,
    p: f64,
) -> (Bloom, usize) {
    seen.clear();
    for line in lines {
        for_each_token(line, |t| {
            seen.insert(token_hash(t));
        });
    }
    let mut b = Bloom::with_items(seen.len(), p);
    for &h in seen.iter() {
        b.insert(h);
    }
    (b, seen.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing_follows_the_formula() {
        let b = Bloom::with_items(1000, 0.01);
        // 1000 × 9.585 bits, rounded up to whole words.
        assert_eq!(b.m, 9600);
        assert_eq!(b.k(), 7);
        assert_eq!(b.disk_bytes(), 1200 + HEADER_BYTES);
        assert_eq!(Bloom::with_items(0, 0.01).m, 64);
    }

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives() {
        let n = 20_000;
        let mut b = Bloom::with_items(n, 0.01);
        for i in 0..n {
            b.insert(token_hash(format!("tok{i}").as_bytes()));
        }
        for i in 0..n {
            assert!(b.may_contain(token_hash(format!("tok{i}").as_bytes())));
        }
        let probes = 100_000;
        let fp = (0..probes)
            .filter(|i| b.may_contain(token_hash(format!("other{i}").as_bytes())))
            .count();
        let rate = fp as f64 / probes as f64;
        assert!((0.005..0.02).contains(&rate), "false-positive rate {rate}");
    }

    #[test]
    fn group_filter_counts_distinct_tokens() {
        let mut seen = HashSet64::default();
        let lines: [&[u8]; 2] = [b"GET /a/b a", b"b c_d"];
        let (b, n) = group_filter(lines.into_iter(), &mut seen, 0.01);
        assert_eq!(n, 4); // GET a b c_d
        for t in ["GET", "a", "b", "c_d"] {
            assert!(b.may_contain(token_hash(t.as_bytes())));
        }
    }
}
