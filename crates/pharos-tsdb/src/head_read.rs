//! Reading the head: series selection and label queries over one time range.
//!
//! Selection takes the postings under the index lock, then snapshots each
//! series' chunks overlapping the range under that series' mutex (closed chunk
//! bytes are copied, the open chunk is cloned) and resolves its labels under
//! its stripe's lock, so a large query never holds the index lock for long
//! (series creation waits on it). Samples are decoded lazily when the caller
//! iterates. Samples under the head's tombstones are hidden.
//! Knows nothing of blocks or the WAL.

use pharos_model::{Matcher, Sample};

use crate::chunkenc::{Chunk, DecoderStates};
use crate::head::Head;
use crate::index::{label_names_for, label_values_for, postings_for_matchers};
use crate::querier::SnapSeries;

/// Fewest series worth a snapshot thread.
const SERIES_PER_THREAD: usize = 256;

impl Head {
    /// Series matching `ms` with samples in `[mint, maxt]`, sorted by labels
    /// when `sorted`, else in series-ref order (creation order).
    /// A large selection is snapshotted on several threads.
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
            let per = refs.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let handles: Vec<_> = refs
                    .chunks(per)
                    .skip(1)
                    .map(|part| {
                        (
                            part,
                            scope.spawn(move || self.snapshot(part, mint, maxt, stones, sorted)),
                        )
                    })
                    .collect();
                let mut out =
                    self.snapshot(&refs[..per.min(refs.len())], mint, maxt, stones, sorted);
                for (part, h) in handles {
                    // A thread that died is redone here, so no series goes
                    // missing (and a bug that panics again, panics here).
                    match h.join() {
                        Ok(got) => out.extend(got),
                        Err(_) => out.extend(self.snapshot(part, mint, maxt, stones, sorted)),
                    }
                }
                out
            })
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
        for &r in refs {
            let Some(s) = self.series_by_ref(r) else {
                continue;
            };
            // Bytes, time span and, for the last closed chunk, its saved
            // decoder states.
            let mut raw: Vec<(Vec<u8>, i64, i64, Option<DecoderStates>)> = Vec::new();
            let mut open = None;
            let mut extra = Vec::new();
            {
                let d = s.data.lock();
                let last = d.closed.len().wrapping_sub(1);
                for (i, c) in d.closed.iter().enumerate() {
                    if c.max_t() >= mint && c.min_t() <= maxt {
                        let states = if i == last {
                            d.tail_states.clone()
                        } else {
                            None
                        };
                        raw.push((c.data.to_vec(), c.min_t(), c.max_t(), states));
                    }
                }
                if let Some(c) = &d.open {
                    if let (Some(a), Some(b)) = (c.min_time(), c.max_time()) {
                        if b >= mint && a <= maxt {
                            open = Some(c.clone_for_read(mint));
                        }
                    }
                }
                if let Some(o) = &d.ooo {
                    extra.extend(
                        o.iter()
                            .filter(|s| s.0 >= mint && s.0 <= maxt)
                            .map(|s| Sample::new(s.0, s.1)),
                    );
                }
            }
            let mut chunks: Vec<Chunk> = raw
                .into_iter()
                .filter_map(|(b, lo, hi, states)| {
                    let c = Chunk::from_bytes_unchecked(b, lo, hi).ok()?;
                    Some(match states {
                        Some(st) => c.with_states(st, mint),
                        None => c,
                    })
                })
                .collect();
            chunks.extend(open);
            if chunks.is_empty() && extra.is_empty() {
                continue;
            }
            let snap = SnapSeries::new(self.labels_of(&s), chunks, extra, mint, maxt);
            if let Some(snap) = snap.without_deleted(stones.and_then(|t| t.get(r))) {
                out.push(snap);
            }
        }
        if sorted {
            out.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        }
        out
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
