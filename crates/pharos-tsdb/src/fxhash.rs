//! A small, fast hasher for integer keys (series refs, symbol ids).
//!
//! SipHash is needlessly slow for keys that are not attacker-controlled strings;
//! this mixes integers with a multiply and a final fold so that both the low
//! bits (bucket index) and the high bits (hashbrown's tag) are well spread.
//! Knows nothing of the store.

use std::hash::{BuildHasherDefault, Hasher};

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Hasher for integer keys.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    h: u64,
}

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        let x = self.h.wrapping_mul(K);
        x ^ (x >> 29) ^ (x << 17)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.h = (self.h.rotate_left(5) ^ u64::from(*b)).wrapping_mul(K);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.h = (self.h.rotate_left(5) ^ i).wrapping_mul(K);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// `HashMap` with [`FxHasher`].
pub(crate) type FxMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FxHasher>>;
