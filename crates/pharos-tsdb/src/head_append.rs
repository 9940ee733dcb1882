//! Appending to the head: [`HeadAppender`], the write transaction.
//!
//! `append` finds or creates the series (validating labels only on creation),
//! judges the sample against the series' committed state and stages it.
//! `commit` re-checks the head's lower time bound, writes one WAL batch
//! (series records for series not yet logged, one samples record, changed
//! metadata), then applies the samples to the series' chunks under each
//! series' own mutex. A sample that became invalid between staging and commit
//! (another commit got ahead of it) is counted as rejected, like Prometheus.
//! Staged series are pinned (`MemSeries::pending`) so that garbage collection
//! cannot remove them before the transaction ends.
//!
//! This file knows nothing of blocks or of how the WAL stores records.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use pharos_model::{AppendError, Appender, CommitStats, Labels, MetricMetadata, StorageError};

use crate::head::{reject_slot, Head, MemSeries};
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
        let mut staged = std::mem::take(&mut self.staged);
        let mut early_rejects = 0usize;
        staged.retain(|s| {
            let ok = s.t >= min_valid;
            if !ok {
                head.count_reject(&AppendError::OutOfBounds);
                s.series.pending.fetch_sub(1, Ordering::AcqRel);
                early_rejects += 1;
            }
            ok
        });
        self.staged = staged;

        let changed_meta: Vec<&(String, MetricMetadata)> = {
            let cur = head.metadata.read();
            self.meta
                .iter()
                .filter(|(f, m)| cur.get(f) != Some(m))
                .collect()
        };

        let mut new_series: Vec<&Arc<MemSeries>> = Vec::new();
        if let Some(wal) = &head.wal {
            let mut seen: HashSet<u32> = HashSet::new();
            for s in &self.staged {
                if !s.series.logged.load(Ordering::Acquire) && seen.insert(s.series.sref) {
                    new_series.push(&s.series);
                }
            }
            let mut recs: Vec<Vec<u8>> = Vec::with_capacity(3);
            if !new_series.is_empty() {
                let mut buf = Vec::with_capacity(64 * new_series.len());
                record::begin(&mut buf, record::REC_SERIES);
                let ix = head.index.read();
                for s in &new_series {
                    let pairs: Vec<(&str, &str)> = s
                        .ids
                        .chunks_exact(2)
                        .map(|p| (ix.syms.get(p[0]), ix.syms.get(p[1])))
                        .collect();
                    record::put_series(&mut buf, s.sref, pairs.into_iter());
                }
                recs.push(buf);
            }
            if !self.staged.is_empty() {
                let mut buf = Vec::with_capacity(16 + 14 * self.staged.len());
                record::encode_samples(
                    &mut buf,
                    self.staged.iter().map(|s| (s.series.sref, s.t, s.v)),
                );
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
                let seg = match wal.log(&refs) {
                    Ok(seg) => seg,
                    Err(e) => {
                        self.unpin_all();
                        return Err(StorageError::Io(e));
                    }
                };
                if let Some(max_t) = self.staged.iter().map(|s| s.t).max() {
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

        let mut accepted = 0usize;
        let mut stored = 0i64;
        let mut chunks = 0i64;
        let mut ooo = 0u64;
        let mut min_t = i64::MAX;
        let mut max_t = i64::MIN;
        for s in &self.staged {
            let res = s
                .series
                .data
                .lock()
                .apply(s.t, s.v, self.ooo_min, &head.opts);
            match res {
                Ok(a) => {
                    accepted += 1;
                    if a.stored {
                        stored += 1;
                        min_t = min_t.min(s.t);
                        max_t = max_t.max(s.t);
                    }
                    chunks += i64::from(a.new_chunk);
                    ooo += u64::from(a.ooo);
                }
                Err(e) => head.count_reject(&e),
            }
        }
        self.unpin_all();
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
        })
    }
}

impl Appender for HeadAppender {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        self.stage(labels, t, v)
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
