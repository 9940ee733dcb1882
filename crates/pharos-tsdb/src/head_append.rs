//! Appending to the head: [`HeadAppender`], the write transaction.
//!
//! `append` finds or creates the series (validating labels only on creation),
//! judges the sample against the series' committed state and stages it.
//! `commit` locks every involved series (in ref order), judges each staged
//! sample again against the locked state (another commit may have got ahead
//! of it: such a sample is counted as rejected, like Prometheus), writes one
//! WAL batch (series records for series not yet logged, one samples record
//! with the accepted samples, changed metadata), applies the samples to the
//! series' chunks, and unlocks.
//! Staged series are pinned (`MemSeries::pending`) so that garbage collection
//! cannot remove them before the transaction ends.
//!
//! This file knows nothing of blocks or of how the WAL stores records.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use pharos_model::{
    AppendError, Appender, CommitRejection, CommitStats, Labels, MetricMetadata, StorageError,
};

use parking_lot::MutexGuard;

use crate::head::{reject_slot, Head, MemSeries, SeriesData, Verdict};
use crate::record;

struct Staged {
    series: Arc<MemSeries>,
    t: i64,
    v: f64,
}

/// A write transaction on the head.
pub(crate) struct HeadAppender {
    head: Arc<Head>,
    staged: Vec<Staged>,
    created: usize,
    meta: Vec<(String, MetricMetadata)>,
    in_order_min: i64,
    ooo_min: Option<i64>,
}

impl Head {
    /// The lower time bounds an appender created now enforces: in-order
    /// samples (`max(min_valid, max_time - block_range/2)`) and out-of-order
    /// ones (`max(min_valid, max_time - window)`, `None` when disabled).
    pub(crate) fn append_bounds(&self) -> (i64, Option<i64>) {
        let min_valid = self.min_valid.load(Ordering::Acquire);
        let max = self.max_time.load(Ordering::Acquire);
        let in_order = if max == i64::MIN {
            min_valid
        } else {
            min_valid.max(max.saturating_sub(self.opts.block_range / 2))
        };
        let ooo = (self.opts.ooo_window > 0).then(|| {
            if max == i64::MIN {
                min_valid
            } else {
                min_valid.max(max.saturating_sub(self.opts.ooo_window))
            }
        });
        (in_order, ooo)
    }

    pub(crate) fn count_reject(&self, e: &AppendError) {
        self.counters.rejected[reject_slot(e)].fetch_add(1, Ordering::Relaxed);
    }
}

impl HeadAppender {
    pub(crate) fn new(head: Arc<Head>) -> HeadAppender {
        let (in_order_min, ooo_min) = head.append_bounds();
        HeadAppender {
            head,
            staged: Vec::new(),
            created: 0,
            meta: Vec::new(),
            in_order_min,
            ooo_min,
        }
    }

    fn reject(&self, e: AppendError) -> Result<(), AppendError> {
        self.head.count_reject(&e);
        Err(e)
    }

    fn unpin_all(&mut self) {
        for s in self.staged.drain(..) {
            s.series.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn stage(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        if t < self.in_order_min && self.ooo_min.is_none_or(|m| t < m) {
            return self.reject(AppendError::OutOfBounds);
        }
        let hash = labels.hash64();
        let series = match self.head.get(labels, hash, true) {
            Some(s) => s,
            None => {
                if let Err(e) = labels.validate() {
                    return self.reject(AppendError::InvalidLabels(e));
                }
                let (s, created) = self.head.get_or_create(labels, None, true);
                if created {
                    self.created += 1;
                }
                s
            }
        };
        self.stage_series(series, t, v)
    }

    /// `stage` for borrowed label pairs: an existing series is found without
    /// building a `Labels`; a new one goes through `stage`.
    fn stage_pairs(&mut self, pairs: &[(&str, &str)], t: i64, v: f64) -> Result<(), AppendError> {
        if t < self.in_order_min && self.ooo_min.is_none_or(|m| t < m) {
            return self.reject(AppendError::OutOfBounds);
        }
        let hash = pharos_model::hash_label_pairs(pairs.iter().copied());
        match self.head.get_pairs(pairs, hash, true) {
            Some(series) => self.stage_series(series, t, v),
            None => {
                let labels = Labels::from_sorted_unchecked(
                    pairs
                        .iter()
                        .map(|(n, v)| pharos_model::Label {
                            name: (*n).to_string(),
                            value: (*v).to_string(),
                        })
                        .collect(),
                );
                self.stage(&labels, t, v)
            }
        }
    }

    /// Judges a sample against a found (and pinned) series and stages it.
    fn stage_series(&mut self, series: Arc<MemSeries>, t: i64, v: f64) -> Result<(), AppendError> {
        let verdict = series.data.lock().classify(t, v, self.ooo_min);
        if let Err(e) = verdict {
            series.pending.fetch_sub(1, Ordering::AcqRel);
            return self.reject(e);
        }
        self.staged.push(Staged { series, t, v });
        Ok(())
    }

    fn do_commit(&mut self) -> Result<CommitStats, StorageError> {
        let head = Arc::clone(&self.head);
        let _commit = head.commit_lock.read();
        if head.closed.load(Ordering::Acquire) {
            self.unpin_all();
            return Err(StorageError::Closed);
        }
        let min_valid = head.min_valid.load(Ordering::Acquire);
        let staged = std::mem::take(&mut self.staged);
        let result = self.commit_locked(&head, &staged, min_valid);
        for s in &staged {
            s.series.pending.fetch_sub(1, Ordering::AcqRel);
        }
        result
    }

    /// Validates, logs and applies `staged` with every involved series locked
    /// (in ref order, so commits cannot deadlock). Holding the locks from
    /// validation to apply makes the WAL order of each series' samples its
    /// apply order, so replay rebuilds exactly what was acknowledged, and the
    /// WAL holds only samples that were accepted.
    fn commit_locked(
        &self,
        head: &Head,
        staged: &[Staged],
        min_valid: i64,
    ) -> Result<CommitStats, StorageError> {
        let mut order: Vec<usize> = (0..staged.len()).collect();
        order.sort_by_key(|&i| staged[i].series.sref);
        let mut guards: Vec<MutexGuard<'_, SeriesData>> = Vec::new();
        let mut group: Vec<usize> = vec![0; staged.len()];
        let mut prev: Option<u32> = None;
        for &i in &order {
            let r = staged[i].series.sref;
            if prev != Some(r) {
                guards.push(staged[i].series.data.lock());
                prev = Some(r);
            }
            group[i] = guards.len() - 1;
        }

        // Judge every sample against the locked state, in order per series.
        let mut verdicts: Vec<Option<Verdict>> = vec![None; staged.len()];
        let mut last = (i64::MIN, 0.0);
        let mut extra: Vec<(i64, f64)> = Vec::new();
        let mut cur_group = usize::MAX;
        let mut rejected: Vec<CommitRejection> = Vec::new();
        for &i in &order {
            let s = &staged[i];
            let g = &guards[group[i]];
            if group[i] != cur_group {
                cur_group = group[i];
                last = (g.last_t, g.last_v);
                extra.clear();
            }
            if s.t < min_valid {
                head.count_reject(&AppendError::OutOfBounds);
                rejected.push(CommitRejection {
                    labels: crate::head::decode_labels(&s.series.labels),
                    t: s.t,
                    error: AppendError::OutOfBounds,
                });
                continue;
            }
            match g.classify_next(s.t, s.v, self.ooo_min, &mut last, &mut extra) {
                Ok(v) => verdicts[i] = Some(v),
                Err(e) => {
                    head.count_reject(&e);
                    rejected.push(CommitRejection {
                        labels: crate::head::decode_labels(&s.series.labels),
                        t: s.t,
                        error: e,
                    });
                }
            }
        }
        let accepted = verdicts.iter().filter(|v| v.is_some()).count();
        let to_store =
            |i: &usize| matches!(verdicts[*i], Some(Verdict::InOrder | Verdict::OutOfOrder));

        let changed_meta: Vec<&(String, MetricMetadata)> = {
            let cur = head.metadata.read();
            self.meta
                .iter()
                .filter(|(f, m)| cur.get(f) != Some(m))
                .collect()
        };

        let mut new_series: Vec<&Arc<MemSeries>> = Vec::new();
        if let Some(wal) = &head.wal {
            let mut prev: Option<u32> = None;
            for i in order.iter().filter(|i| to_store(i)) {
                let s = &staged[*i].series;
                if prev != Some(s.sref) && !s.logged.load(Ordering::Acquire) {
                    new_series.push(s);
                }
                prev = Some(s.sref);
            }
            let mut recs: Vec<Vec<u8>> = Vec::with_capacity(3);
            if !new_series.is_empty() {
                let mut buf = Vec::with_capacity(64 * new_series.len());
                record::begin(&mut buf, record::REC_SERIES);
                for s in &new_series {
                    head.with_labels(s, |pairs| {
                        record::put_series(&mut buf, s.sref, pairs.iter().copied())
                    });
                }
                recs.push(buf);
            }
            let n_store = order.iter().filter(|i| to_store(i)).count();
            if n_store > 0 {
                let mut buf = Vec::with_capacity(16 + 14 * n_store);
                let it = order
                    .iter()
                    .filter(|i| to_store(i))
                    .map(|&i| (staged[i].series.sref, staged[i].t, staged[i].v));
                record::encode_samples(&mut buf, CountedIter { it, n: n_store });
                recs.push(buf);
            }
            if !changed_meta.is_empty() {
                let mut buf = Vec::new();
                record::begin(&mut buf, record::REC_METADATA);
                for (f, m) in &changed_meta {
                    record::put_metadata(&mut buf, f, m);
                }
                recs.push(buf);
            }
            if !recs.is_empty() {
                let refs: Vec<&[u8]> = recs.iter().map(|r| r.as_slice()).collect();
                let seg = wal.log(&refs).map_err(StorageError::Io)?;
                if let Some(max_t) = order
                    .iter()
                    .filter(|i| to_store(i))
                    .map(|&i| staged[i].t)
                    .max()
                {
                    let mut m = head.seg_max_t.lock();
                    let e = m.entry(seg).or_insert(max_t);
                    *e = (*e).max(max_t);
                }
                for s in &new_series {
                    s.logged.store(true, Ordering::Release);
                }
            }
        }
        if !changed_meta.is_empty() {
            let mut cur = head.metadata.write();
            for (f, m) in changed_meta {
                cur.insert(f.clone(), m.clone());
            }
        }

        let mut stored = 0i64;
        let mut chunks = 0i64;
        let mut ooo = 0u64;
        let mut min_t = i64::MAX;
        let mut max_t = i64::MIN;
        for &i in order.iter().filter(|i| to_store(i)) {
            let s = &staged[i];
            match guards[group[i]].apply(s.t, s.v, self.ooo_min, &head.opts) {
                Ok(a) => {
                    if a.stored {
                        stored += 1;
                        min_t = min_t.min(s.t);
                        max_t = max_t.max(s.t);
                    }
                    chunks += i64::from(a.new_chunk);
                    ooo += u64::from(a.ooo);
                }
                // Cannot happen: the same judgement passed under the same lock.
                Err(e) => head.count_reject(&e),
            }
        }
        drop(guards);
        if stored > 0 {
            head.observe_times(min_t, max_t);
        }
        let c = &head.counters;
        c.samples_appended
            .fetch_add(accepted as u64, Ordering::Relaxed);
        c.samples.fetch_add(stored, Ordering::Relaxed);
        c.chunks.fetch_add(chunks, Ordering::Relaxed);
        if ooo > 0 {
            c.ooo_samples.fetch_add(ooo, Ordering::Relaxed);
        }
        Ok(CommitStats {
            samples: accepted,
            series_created: self.created,
            rejected,
        })
    }
}

/// An iterator with a known length (for record encoding).
#[derive(Clone)]
struct CountedIter<I> {
    it: I,
    n: usize,
}

impl<I: Iterator> Iterator for CountedIter<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        self.it.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.n, Some(self.n))
    }
}

impl<I: Iterator> ExactSizeIterator for CountedIter<I> {}

impl Appender for HeadAppender {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        self.stage(labels, t, v)
    }

    fn append_pairs(&mut self, pairs: &[(&str, &str)], t: i64, v: f64) -> Result<(), AppendError> {
        self.stage_pairs(pairs, t, v)
    }

    fn update_metadata(&mut self, metric_family: &str, meta: &MetricMetadata) {
        self.meta.push((metric_family.to_string(), meta.clone()));
    }

    fn commit(mut self: Box<Self>) -> Result<CommitStats, StorageError> {
        self.do_commit()
    }

    fn rollback(mut self: Box<Self>) {
        self.unpin_all();
    }
}

impl Drop for HeadAppender {
    fn drop(&mut self) {
        self.unpin_all();
    }
}
