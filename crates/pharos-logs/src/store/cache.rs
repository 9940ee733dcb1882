//! A byte-bounded cache of decoded token-index buckets, shared by every
//! segment in the process.
//!
//! A needle search over many segments spends nearly all of its time reading
//! and decompressing the token buckets it may match. Decoded buckets are kept
//! here, least recently used first out, so a warm search costs only the scan
//! of the token text. The budget is [`set_index_cache_bytes`] (serve's
//! `--logs.index-cache-size`); 0 turns the cache off.
//!
//! Keys are a segment's process-unique id (given when it is opened, so two
//! stores in one process never share an entry) and a bucket number; a
//! segment forgets its entries when it is dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::tokens::TokenIndex;

/// The default budget: 256 MiB.
pub const DEFAULT_INDEX_CACHE_BYTES: usize = 256 << 20;

struct Entry {
    ix: Arc<TokenIndex>,
    bytes: usize,
    used: u64,
}

struct Inner {
    budget: usize,
    bytes: usize,
    tick: u64,
    map: HashMap<(u64, u32), Entry>,
}

pub(crate) struct IndexCache {
    inner: Mutex<Inner>,
}

static CACHE: OnceLock<IndexCache> = OnceLock::new();
static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// Sets the byte budget of the process's token-index cache (evicting down
/// to it at once).
pub fn set_index_cache_bytes(bytes: usize) {
    let c = IndexCache::global();
    let mut g = c.inner.lock();
    g.budget = bytes;
    g.evict_to(bytes);
}

/// Bytes held by the token-index cache now.
pub fn index_cache_bytes() -> usize {
    IndexCache::global().inner.lock().bytes
}

/// A fresh cache key for a segment opened now.
pub(crate) fn next_uid() -> u64 {
    NEXT_UID.fetch_add(1, Ordering::Relaxed)
}

impl Inner {
    fn evict_to(&mut self, budget: usize) {
        while self.bytes > budget {
            let Some((&k, _)) = self.map.iter().min_by_key(|(_, e)| e.used) else {
                break;
            };
            if let Some(e) = self.map.remove(&k) {
                self.bytes -= e.bytes;
            }
        }
    }
}

impl IndexCache {
    pub(crate) fn global() -> &'static IndexCache {
        CACHE.get_or_init(|| IndexCache {
            inner: Mutex::new(Inner {
                budget: DEFAULT_INDEX_CACHE_BYTES,
                bytes: 0,
                tick: 0,
                map: HashMap::new(),
            }),
        })
    }

    pub(crate) fn get(&self, uid: u64, bucket: u32) -> Option<Arc<TokenIndex>> {
        let mut g = self.inner.lock();
        g.tick += 1;
        let tick = g.tick;
        let e = g.map.get_mut(&(uid, bucket))?;
        e.used = tick;
        Some(e.ix.clone())
    }

    /// Keeps `ix` if it fits the budget, evicting the least recently used.
    pub(crate) fn insert(&self, uid: u64, bucket: u32, ix: Arc<TokenIndex>) {
        let bytes = ix.heap_bytes();
        let mut g = self.inner.lock();
        if bytes > g.budget {
            return;
        }
        g.tick += 1;
        let used = g.tick;
        if let Some(old) = g.map.insert((uid, bucket), Entry { ix, bytes, used }) {
            g.bytes -= old.bytes;
        }
        g.bytes += bytes;
        let budget = g.budget;
        g.evict_to(budget);
    }

    /// Drops every entry of segment `uid`.
    pub(crate) fn forget(&self, uid: u64) {
        let mut g = self.inner.lock();
        let before = g.bytes;
        let mut freed = 0;
        g.map.retain(|&(u, _), e| {
            if u == uid {
                freed += e.bytes;
                false
            } else {
                true
            }
        });
        g.bytes = before - freed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tokens::TokenIndexBuilder;

    fn ix(words: &str) -> Arc<TokenIndex> {
        let mut b = TokenIndexBuilder::default();
        b.add(words.as_bytes(), 0);
        Arc::new(TokenIndex::decode(&b.encode(), 1, u32::MAX).expect("decodes"))
    }

    #[test]
    fn least_recently_used_goes_first_and_forget_frees() {
        let c = IndexCache {
            inner: Mutex::new(Inner {
                budget: 0,
                bytes: 0,
                tick: 0,
                map: HashMap::new(),
            }),
        };
        let a = ix("alpha beta gamma");
        let size = a.heap_bytes();
        c.inner.lock().budget = 2 * size;
        c.insert(1, 0, a);
        c.insert(1, 1, ix("alpha beta gammb"));
        assert!(c.get(1, 0).is_some()); // (1, 0) is now the most recent
        c.insert(2, 0, ix("alpha beta gammc"));
        assert!(c.get(1, 1).is_none(), "least recently used is evicted");
        assert!(c.get(1, 0).is_some());
        assert!(c.get(2, 0).is_some());
        c.forget(1);
        assert!(c.get(1, 0).is_none());
        assert_eq!(c.inner.lock().bytes, size);
        // Bigger than the whole budget: not kept.
        c.inner.lock().budget = 1;
        c.insert(3, 0, ix("delta"));
        assert!(c.get(3, 0).is_none());
    }
}
