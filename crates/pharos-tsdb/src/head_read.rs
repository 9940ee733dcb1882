//! Reading the head: series selection and label queries over one time range.
//!
//! Selection takes the postings under the index lock, then snapshots each
//! series' chunks overlapping the range under that series' mutex (closed chunk
//! bytes are copied, the open chunk is cloned) and resolves its labels under
//! its stripe's lock, so a large query never holds the index lock for long
//! (series creation waits on it). Samples are decoded lazily when the caller
//! iterates. Samples under the head's tombstones are hidden.
//! Knows nothing of blocks or the WAL.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use pharos_model::pool::Pool;
use pharos_model::{Matcher, Sample};

use crate::chunkenc::Chunk;
use crate::head::{Head, MemSeries};
use crate::index::{label_names_for, label_values_for, postings_for_matchers};
use crate::querier::SnapSeries;

/// Fewest series worth a snapshot thread.
const SERIES_PER_THREAD: usize = 256;

/// Series whose cache lines are asked for together (see `crate::prefetch`).
const PREFETCH_BLOCK: usize = 32;

impl Head {
    /// Series matching `ms` with samples in `[mint, maxt]`, sorted by labels
    /// when `sorted`, else in series-ref order (creation order).
    /// A large selection is snapshotted on several threads (the calling one
    /// and helpers of the process's [`Pool`]).
    pub(crate) fn select(
        &self,
        mint: i64,
        maxt: i64,
        ms: &[Matcher],
        sorted: bool,
    ) -> Vec<SnapSeries> {
        let refs: Vec<u32> = postings_for_matchers(&*self.index.read(), ms)
            .iter()
            .collect();
        let stones = {
            let t = self.tombstones.read();
            (!t.is_empty()).then(|| t.clone())
        };
        let stones = stones.as_ref();
        let threads = self
            .snapshot_threads
            .min(refs.len() / SERIES_PER_THREAD)
            .max(1);
        let mut out = if threads == 1 {
            self.snapshot(&refs, mint, maxt, stones, sorted)
        } else {
            // Parts (four per thread) are claimed from a cursor by the
            // calling thread and the pool's helpers, so a helper that starts
            // late or not at all leaves its share to the others; a part no
            // thread finished (a helper that panicked) is redone here, so no
            // series goes missing.
            let parts: Vec<&[u32]> = refs.chunks(refs.len().div_ceil(threads * 4)).collect();
            let done: Vec<Mutex<Option<Vec<SnapSeries>>>> =
                parts.iter().map(|_| Mutex::new(None)).collect();
            let cursor = AtomicUsize::new(0);
            let work = || loop {
                let i = cursor.fetch_add(1, Ordering::Relaxed);
                let (Some(part), Some(slot)) = (parts.get(i), done.get(i)) else {
                    break;
                };
                *slot.lock() = Some(self.snapshot(part, mint, maxt, stones, sorted));
            };
            let _ = Pool::global().scope(|scope| {
                scope.help(threads - 1, &work);
                work();
            });
            let mut out = Vec::with_capacity(refs.len());
            for (part, slot) in parts.iter().zip(done) {
                match slot.into_inner() {
                    Some(got) => out.extend(got),
                    None => out.extend(self.snapshot(part, mint, maxt, stones, sorted)),
                }
            }
            out
        };
        // Each part arrives sorted; the stable sort finds those runs and
        // merges them in linear time.
        if sorted {
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        out
    }

    /// Snapshots the series `refs` over `[mint, maxt]`, sorted by labels
    /// when `sorted`, else in the order of `refs`.
    fn snapshot(
        &self,
        refs: &[u32],
        mint: i64,
        maxt: i64,
        stones: Option<&crate::tombstones::Tombstones>,
        sorted: bool,
    ) -> Vec<SnapSeries> {
        let mut out = Vec::with_capacity(refs.len());
        let mut block = Vec::with_capacity(PREFETCH_BLOCK);
        for part in refs.chunks(PREFETCH_BLOCK) {
            // Lines of a whole block are asked for first, so that their
            // misses overlap instead of each series waiting on its own.
            self.prefetch_series(part);
            block.clear();
            for &r in part {
                if let Some(s) = self.series_by_ref(r) {
                    self.prefetch_series_data(&s);
                    block.push((r, s));
                }
            }
            for (r, s) in block.drain(..) {
                self.snapshot_one(r, &s, mint, maxt, stones, &mut out);
            }
        }
        if sorted {
            out.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        }
        out
    }

    /// Appends the snapshot of series `s` (ref `r`) over `[mint, maxt]` to
    /// `out`, unless it has no samples there.
    fn snapshot_one(
        &self,
        r: u32,
        s: &MemSeries,
        mint: i64,
        maxt: i64,
        stones: Option<&crate::tombstones::Tombstones>,
        out: &mut Vec<SnapSeries>,
    ) {
        let mut chunks: Vec<Chunk> = Vec::new();
        let mut extra = Vec::new();
        {
            let d = s.data.lock();
            let overlaps = |lo: i64, hi: i64| hi >= mint && lo <= maxt;
            let open = d.open.as_ref().filter(
                |c| matches!((c.min_time(), c.max_time()), (Some(a), Some(b)) if overlaps(a, b)),
            );
            let last = d.closed.len().wrapping_sub(1);
            let closed = d
                .closed
                .iter()
                .enumerate()
                .filter(|(_, c)| overlaps(c.min_t(), c.max_t()));
            chunks.reserve_exact(closed.clone().count() + usize::from(open.is_some()));
            for (i, c) in closed {
                let Ok(chunk) = Chunk::from_bytes_unchecked(c.data.to_vec(), c.min_t(), c.max_t())
                else {
                    continue;
                };
                // The last closed chunk keeps its newest decoder states.
                chunks.push(match d.tail_states.as_ref().filter(|_| i == last) {
                    Some(st) => chunk.with_states(st, mint),
                    None => chunk,
                });
            }
            chunks.extend(open.map(|c| c.clone_for_read(mint)));
            if let Some(o) = &d.ooo {
                extra.extend(
                    o.iter()
                        .filter(|s| s.0 >= mint && s.0 <= maxt)
                        .map(|s| Sample::new(s.0, s.1)),
                );
            }
        }
        if chunks.is_empty() && extra.is_empty() {
            return;
        }
        let snap = SnapSeries::new(self.labels_of(s), chunks, extra, mint, maxt);
        if let Some(snap) = snap.without_deleted(stones.and_then(|t| t.get(r))) {
            out.push(snap);
        }
    }

    /// Label names on series matching `ms` (all series if empty), sorted.
    pub(crate) fn label_names(&self, ms: &[Matcher]) -> Vec<String> {
        let ix = self.index.read();
        if ms.is_empty() {
            return label_names_for(&*ix, None);
        }
        let set = postings_for_matchers(&*ix, ms);
        label_names_for(&*ix, Some(&set))
    }

    /// Values of `name` on series matching `ms` (all series if empty), sorted.
    pub(crate) fn label_values(&self, name: &str, ms: &[Matcher]) -> Vec<String> {
        let ix = self.index.read();
        if ms.is_empty() {
            return label_values_for(&*ix, name, None);
        }
        let set = postings_for_matchers(&*ix, ms);
        label_values_for(&*ix, name, Some(&set))
    }
}
