//! The head: the in-memory, appendable part of the store — [`Head`].
//!
//! The head holds every active series ([`MemSeries`]) with its samples of the
//! last hours as compressed chunks: a list of closed chunks plus one open chunk
//! being appended to, cut at `chunk_samples` samples or where the timestamp
//! crosses a multiple of the block range (so that a chunk never straddles a
//! block boundary). Series are found by the hash of their labels (collision
//! safe: the labels are compared) in striped hash tables, and by ref in striped
//! maps. Each series keeps its labels as one compact byte blob (no `String`
//! per label), so the append path takes only a stripe lock and the series'
//! mutex — never a global lock; the postings index interns the strings once
//! for queries.
//!
//! This file owns the structure, series creation, truncation and garbage
//! collection. Appending is in `head_append.rs`, reading in `head_read.rs`,
//! WAL replay and checkpoints in `head_wal.rs`. The head knows nothing of the
//! WAL's file format (it logs through [`WalLog`]); writing a block from the
//! head lives in `block_writer.rs`.
//!
//! Lock order: commit lock → series mutexes (in ref order) → WAL; hash stripe
//! → index → ref stripe. No series mutex is held while taking a stripe or the
//! index lock.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};
use pharos_model::{AppendError, Labels, MetricMetadata};

use crate::chunkenc::{Chunk, DecoderStates};
use crate::fxhash::FxMap;
use crate::index::{postings_for_matchers, MemIndex};
use crate::tombstones::Tombstones;

const STRIPES: usize = 256;

/// Saved decoder states kept for a series' last closed chunk: two cover a
/// window of up to 40 samples back from its end (10 minutes at 15 s).
const TAIL_STATES: usize = 2;

/// Where committed records go: the head's view of the WAL.
pub(crate) trait WalLog: Send + Sync {
    /// Writes records (never split across segments) so that they survive a
    /// process crash before returning; returns the segment they landed in.
    fn log(&self, records: &[&[u8]]) -> std::io::Result<u32>;
}

/// Head tuning, derived from the store's options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadOptions {
    pub(crate) block_range: i64,
    pub(crate) ooo_window: i64,
    pub(crate) chunk_samples: usize,
}

/// A chunk that is no longer appended to: its bytes, time span and sample
/// count, packed into 32 bytes.
pub(crate) struct ClosedChunk {
    pub(crate) data: Box<[u8]>,
    min_t: i64,
    span: u32,
    n: u16,
}

impl ClosedChunk {
    pub(crate) fn new(data: Box<[u8]>, min_t: i64, max_t: i64, n: usize) -> ClosedChunk {
        let span = u32::try_from(max_t.saturating_sub(min_t)).unwrap_or(u32::MAX);
        ClosedChunk {
            data,
            min_t,
            span,
            n: u16::try_from(n).unwrap_or(u16::MAX),
        }
    }
    pub(crate) fn min_t(&self) -> i64 {
        self.min_t
    }
    pub(crate) fn max_t(&self) -> i64 {
        self.min_t.saturating_add(i64::from(self.span))
    }
    pub(crate) fn samples(&self) -> usize {
        usize::from(self.n)
    }
}

/// The mutable state of one series, under the series' mutex.
pub(crate) struct SeriesData {
    pub(crate) closed: Vec<ClosedChunk>,
    /// Saved decoder states of the last closed chunk (see
    /// [`Chunk::tail_states`]); only the last keeps any, since a query of the
    /// newest minutes reaches back into that one alone.
    pub(crate) tail_states: Option<DecoderStates>,
    pub(crate) open: Option<Chunk>,
    /// Time and value of the newest in-order sample (`i64::MIN` if none yet).
    pub(crate) last_t: i64,
    pub(crate) last_v: f64,
    /// Out-of-order samples, sorted by time, when an out-of-order window is
    /// set. Boxed so that series without any cost 8 bytes, not 24.
    #[allow(clippy::box_collection)]
    pub(crate) ooo: Option<Box<Vec<(i64, f64)>>>,
}

/// How a sample relates to a series' existing samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    InOrder,
    /// Same timestamp and same value as the newest sample: accepted, not stored.
    Duplicate,
    /// Older than the newest sample, within the out-of-order window.
    OutOfOrder,
}

/// What applying a sample changed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Applied {
    pub(crate) stored: bool,
    pub(crate) new_chunk: bool,
    pub(crate) ooo: bool,
}

impl SeriesData {
    fn new() -> SeriesData {
        SeriesData {
            closed: Vec::new(),
            tail_states: None,
            open: None,
            last_t: i64::MIN,
            last_v: 0.0,
            ooo: None,
        }
    }

    /// Judges a sample against this series. `ooo_min` is the oldest time the
    /// out-of-order window accepts (`None` when out-of-order is disabled).
    pub(crate) fn classify(
        &self,
        t: i64,
        v: f64,
        ooo_min: Option<i64>,
    ) -> Result<Verdict, AppendError> {
        self.classify_next(
            t,
            v,
            ooo_min,
            &mut (self.last_t, self.last_v),
            &mut Vec::new(),
        )
    }

    /// Judges the next of several samples of one commit, as if the earlier
    /// ones had been applied: `last` is the newest in-order sample so far
    /// (start with the series' own) and `extra` the out-of-order samples
    /// accepted so far; both are updated.
    pub(crate) fn classify_next(
        &self,
        t: i64,
        v: f64,
        ooo_min: Option<i64>,
        last: &mut (i64, f64),
        extra: &mut Vec<(i64, f64)>,
    ) -> Result<Verdict, AppendError> {
        if t > last.0 {
            *last = (t, v);
            return Ok(Verdict::InOrder);
        }
        if t == last.0 {
            return if v.to_bits() == last.1.to_bits() {
                Ok(Verdict::Duplicate)
            } else {
                Err(AppendError::DuplicateTimestamp)
            };
        }
        match ooo_min {
            None => Err(AppendError::OutOfOrder),
            Some(min) if t < min => Err(AppendError::TooOld),
            Some(_) => {
                let existing = extra.iter().find(|s| s.0 == t).copied().or_else(|| {
                    self.ooo
                        .as_ref()
                        .and_then(|o| o.binary_search_by_key(&t, |s| s.0).ok().map(|i| o[i]))
                });
                match existing {
                    Some((_, ov)) if ov.to_bits() == v.to_bits() => Ok(Verdict::Duplicate),
                    Some(_) => Err(AppendError::DuplicateTimestamp),
                    None => {
                        extra.push((t, v));
                        Ok(Verdict::OutOfOrder)
                    }
                }
            }
        }
    }

    /// Classifies and stores a sample.
    pub(crate) fn apply(
        &mut self,
        t: i64,
        v: f64,
        ooo_min: Option<i64>,
        opts: &HeadOptions,
    ) -> Result<Applied, AppendError> {
        match self.classify(t, v, ooo_min)? {
            Verdict::Duplicate => Ok(Applied::default()),
            Verdict::InOrder => {
                let mut new_chunk = false;
                let cut = match &self.open {
                    None => true,
                    Some(c) => {
                        c.num_samples() >= opts.chunk_samples
                            || c.min_time().is_some_and(|m| {
                                t >= chunk_boundary(m, opts.block_range)
                                    || t - m > i64::from(u32::MAX)
                            })
                    }
                };
                if cut {
                    self.close_open();
                    self.open = Some(Chunk::new());
                    new_chunk = true;
                }
                if let Some(c) = self.open.as_mut() {
                    c.try_append(t, v).map_err(|_| AppendError::OutOfOrder)?;
                }
                self.last_t = t;
                self.last_v = v;
                Ok(Applied {
                    stored: true,
                    new_chunk,
                    ooo: false,
                })
            }
            Verdict::OutOfOrder => {
                let o = self.ooo.get_or_insert_with(Default::default);
                let i = o.partition_point(|s| s.0 < t);
                o.insert(i, (t, v));
                Ok(Applied {
                    stored: true,
                    new_chunk: false,
                    ooo: true,
                })
            }
        }
    }

    /// Moves the open chunk to the closed list, trimming its buffer.
    pub(crate) fn close_open(&mut self) {
        if let Some(c) = self.open.take() {
            if let (Some(min_t), Some(max_t)) = (c.min_time(), c.max_time()) {
                let n = c.num_samples();
                self.tail_states = c.tail_states(TAIL_STATES);
                let mut b = c.into_bytes();
                b.shrink_to_fit();
                self.closed
                    .push(ClosedChunk::new(b.into_boxed_slice(), min_t, max_t, n));
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.closed.is_empty()
            && self.open.as_ref().is_none_or(|c| c.is_empty())
            && self.ooo.as_ref().is_none_or(|o| o.is_empty())
    }

    /// Drops everything older than `before`; returns (chunks, samples) removed.
    /// Chunks never straddle a block boundary, so `before` (a boundary) splits
    /// between chunks.
    pub(crate) fn truncate(&mut self, before: i64) -> (usize, usize) {
        let mut chunks = 0;
        let mut samples = 0;
        self.closed.retain(|c| {
            let keep = c.max_t() >= before;
            if !keep {
                chunks += 1;
                samples += c.samples();
            }
            keep
        });
        if self.closed.is_empty() {
            self.tail_states = None;
        }
        if self
            .open
            .as_ref()
            .is_some_and(|c| c.max_time().is_some_and(|m| m < before))
        {
            if let Some(c) = self.open.take() {
                chunks += 1;
                samples += c.num_samples();
            }
        }
        if let Some(o) = self.ooo.as_mut() {
            let n = o.partition_point(|s| s.0 < before);
            o.drain(..n);
            samples += n;
            if o.is_empty() {
                self.ooo = None;
            }
        }
        (chunks, samples)
    }
}

/// The first multiple of `range` strictly after `t`.
pub(crate) fn chunk_boundary(t: i64, range: i64) -> i64 {
    (t.div_euclid(range) + 1).saturating_mul(range)
}

/// One series of the head.
pub(crate) struct MemSeries {
    pub(crate) sref: u32,
    pub(crate) hash: u64,
    /// The labels, sorted by name, as a compact blob (see `encode_labels`).
    /// Kept per series rather than as symbol ids so that finding a series by
    /// its labels needs no global lock; the index interns the strings.
    pub(crate) labels: Box<[u8]>,
    /// The labels as a [`Labels`], built on the first read and shared by every
    /// later one (a query then clones a pointer instead of a dozen strings).
    /// Only series that are read pay for it; the blob stays the source.
    read_labels: OnceLock<Labels>,
    /// Whether a series record for this ref is in the WAL.
    pub(crate) logged: AtomicBool,
    /// Appenders holding staged samples for this series; it is not garbage
    /// collected while non-zero.
    pub(crate) pending: AtomicU32,
    pub(crate) data: Mutex<SeriesData>,
}

/// Counters of the head, exported through `DbStats`.
#[derive(Default)]
pub(crate) struct HeadCounters {
    pub(crate) samples_appended: AtomicU64,
    pub(crate) series_created: AtomicU64,
    pub(crate) series_removed: AtomicU64,
    pub(crate) ooo_samples: AtomicU64,
    pub(crate) rejected: [AtomicU64; 5],
    pub(crate) chunks: AtomicI64,
    pub(crate) samples: AtomicI64,
}

/// Index into `HeadCounters::rejected` for an error.
pub(crate) fn reject_slot(e: &AppendError) -> usize {
    match e {
        AppendError::OutOfOrder => 0,
        AppendError::DuplicateTimestamp => 1,
        AppendError::OutOfBounds => 2,
        AppendError::TooOld => 3,
        _ => 4,
    }
}

/// The reason names of `HeadCounters::rejected`, by slot.
pub(crate) const REJECT_REASONS: [&str; 5] = [
    "out_of_order",
    "duplicate",
    "out_of_bounds",
    "too_old",
    "invalid_labels",
];

type RefStripe = RwLock<FxMap<u32, Arc<MemSeries>>>;

/// One stripe of the hash → series table.
type HashStripe = HashTable<Arc<MemSeries>>;

/// Encodes labels as the compact blob a series keeps: per label the name's
/// length (uvarint), the name, the value's length, the value.
fn encode_labels(ls: &Labels) -> Box<[u8]> {
    let mut b = Vec::with_capacity(ls.iter().map(|l| l.name.len() + l.value.len() + 2).sum());
    for l in ls {
        crate::encoding::put_str(&mut b, &l.name);
        crate::encoding::put_str(&mut b, &l.value);
    }
    b.into_boxed_slice()
}

/// Iterates the strings of a label blob (names and values alternating).
fn blob_strs(b: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut d = crate::encoding::Decoder::new(b);
    std::iter::from_fn(move || {
        if d.is_empty() {
            return None;
        }
        let n = d.uvarint().ok()?;
        d.bytes(usize::try_from(n).ok()?).ok()
    })
}

fn labels_eq(blob: &[u8], ls: &Labels) -> bool {
    let mut it = blob_strs(blob);
    for l in ls {
        if it.next() != Some(l.name.as_bytes()) || it.next() != Some(l.value.as_bytes()) {
            return false;
        }
    }
    it.next().is_none()
}

/// Whether a label blob holds exactly these pairs.
fn pairs_eq(blob: &[u8], pairs: &[(&str, &str)]) -> bool {
    let mut it = blob_strs(blob);
    for (n, v) in pairs {
        if it.next() != Some(n.as_bytes()) || it.next() != Some(v.as_bytes()) {
            return false;
        }
    }
    it.next().is_none()
}

/// The labels held in a label blob (built afresh; see [`Head::labels_of`]).
pub(crate) fn decode_labels(blob: &[u8]) -> Labels {
    let mut it = blob_strs(blob).map(|b| match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    });
    let mut v = Vec::with_capacity(8);
    while let (Some(name), Some(value)) = (it.next(), it.next()) {
        v.push(pharos_model::Label { name, value });
    }
    Labels::from_sorted_unchecked(v)
}

/// The in-memory head of the store.
pub(crate) struct Head {
    pub(crate) opts: HeadOptions,
    pub(crate) index: RwLock<MemIndex>,
    by_hash: Box<[RwLock<HashStripe>]>,
    by_ref: Box<[RefStripe]>,
    pub(crate) next_ref: AtomicU32,
    /// Oldest and newest sample time in the head (`MAX`/`MIN` when empty).
    pub(crate) min_time: AtomicI64,
    pub(crate) max_time: AtomicI64,
    /// Samples older than this are out of bounds (the head was truncated here).
    pub(crate) min_valid: AtomicI64,
    pub(crate) counters: HeadCounters,
    /// Commits hold it shared from the WAL write to the head update; cutting a
    /// WAL segment for a checkpoint holds it exclusively.
    pub(crate) commit_lock: RwLock<()>,
    pub(crate) wal: Option<Arc<dyn WalLog>>,
    /// Newest sample time committed per WAL segment, for deciding which
    /// segments a checkpoint makes obsolete.
    pub(crate) seg_max_t: Mutex<BTreeMap<u32, i64>>,
    pub(crate) metadata: RwLock<HashMap<String, MetricMetadata>>,
    /// Set by `Db::close`: commits fail from then on.
    pub(crate) closed: AtomicBool,
    /// Deleted intervals by series ref (see `tombstones.rs`).
    pub(crate) tombstones: RwLock<Tombstones>,
    /// Most threads one selection snapshots on (the machine's parallelism, at
    /// most 4), asked once: the answer takes several file reads under cgroups.
    pub(crate) snapshot_threads: usize,
}

fn hash_stripe(h: u64) -> usize {
    ((h >> 32) as usize) & (STRIPES - 1)
}

fn ref_stripe(r: u32) -> usize {
    (r as usize) & (STRIPES - 1)
}

impl Head {
    pub(crate) fn new(opts: HeadOptions, wal: Option<Arc<dyn WalLog>>) -> Head {
        Head {
            opts,
            index: RwLock::new(MemIndex::new()),
            by_hash: (0..STRIPES)
                .map(|_| RwLock::new(HashStripe::default()))
                .collect(),
            by_ref: (0..STRIPES)
                .map(|_| RwLock::new(FxMap::default()))
                .collect(),
            next_ref: AtomicU32::new(1),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid: AtomicI64::new(i64::MIN),
            counters: HeadCounters::default(),
            commit_lock: RwLock::new(()),
            wal,
            seg_max_t: Mutex::new(BTreeMap::new()),
            metadata: RwLock::new(HashMap::new()),
            closed: AtomicBool::new(false),
            tombstones: RwLock::new(Tombstones::default()),
            snapshot_threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
        }
    }

    /// The series with these labels, if it exists. When `pin` is set the
    /// series' pending count is raised (under the stripe lock, so garbage
    /// collection cannot remove it meanwhile). Takes only the stripe lock.
    pub(crate) fn get(&self, ls: &Labels, hash: u64, pin: bool) -> Option<Arc<MemSeries>> {
        let st = self.by_hash[hash_stripe(hash)].read();
        let s = st.find(hash, |s| s.hash == hash && labels_eq(&s.labels, ls))?;
        if pin {
            s.pending.fetch_add(1, Ordering::AcqRel);
        }
        Some(Arc::clone(s))
    }

    /// Like [`Head::get`] for borrowed `(name, value)` pairs in label order.
    pub(crate) fn get_pairs(
        &self,
        pairs: &[(&str, &str)],
        hash: u64,
        pin: bool,
    ) -> Option<Arc<MemSeries>> {
        let st = self.by_hash[hash_stripe(hash)].read();
        let s = st.find(hash, |s| s.hash == hash && pairs_eq(&s.labels, pairs))?;
        if pin {
            s.pending.fetch_add(1, Ordering::AcqRel);
        }
        Some(Arc::clone(s))
    }

    /// Returns the series for `ls`, creating it (with ref `want_ref` if given,
    /// else a fresh one) if needed; the bool tells whether it was created.
    /// The labels must already be validated.
    pub(crate) fn get_or_create(
        &self,
        ls: &Labels,
        want_ref: Option<u32>,
        pin: bool,
    ) -> (Arc<MemSeries>, bool) {
        let hash = ls.hash64();
        if let Some(s) = self.get(ls, hash, pin) {
            return (s, false);
        }
        let mut st = self.by_hash[hash_stripe(hash)].write();
        if let Some(s) = st.find(hash, |s| s.hash == hash && labels_eq(&s.labels, ls)) {
            if pin {
                s.pending.fetch_add(1, Ordering::AcqRel);
            }
            return (Arc::clone(s), false);
        }
        let sref = match want_ref {
            Some(r) if !self.by_ref[ref_stripe(r)].read().contains_key(&r) => {
                self.next_ref
                    .fetch_max(r.saturating_add(1), Ordering::AcqRel);
                r
            }
            _ => self.next_ref.fetch_add(1, Ordering::AcqRel),
        };
        self.index
            .write()
            .add(sref, ls.iter().map(|l| (l.name.as_str(), l.value.as_str())));
        let s = Arc::new(MemSeries {
            sref,
            hash,
            labels: encode_labels(ls),
            read_labels: OnceLock::new(),
            logged: AtomicBool::new(false),
            pending: AtomicU32::new(u32::from(pin)),
            data: Mutex::new(SeriesData::new()),
        });
        st.insert_unique(hash, Arc::clone(&s), |x| x.hash);
        drop(st);
        self.by_ref[ref_stripe(sref)]
            .write()
            .insert(sref, Arc::clone(&s));
        self.counters.series_created.fetch_add(1, Ordering::Relaxed);
        (s, true)
    }

    /// The series with this ref.
    pub(crate) fn series_by_ref(&self, sref: u32) -> Option<Arc<MemSeries>> {
        self.by_ref[ref_stripe(sref)].read().get(&sref).cloned()
    }

    /// Starts loading the series `refs` (their lookup, then each series
    /// struct with its reference counts and lock) so that the misses of
    /// many series overlap (see `crate::prefetch`). The struct addresses are
    /// only hinted at, never read through, so a series removed meanwhile
    /// does no harm.
    pub(crate) fn prefetch_series(&self, refs: &[u32]) {
        for &r in refs {
            crate::prefetch::value(&self.by_ref[ref_stripe(r)]);
        }
        for &r in refs {
            if let Some(s) = self.by_ref[ref_stripe(r)].read().get(&r) {
                crate::prefetch::arc_value(Arc::as_ptr(s).cast(), std::mem::size_of::<MemSeries>());
            }
        }
    }

    /// Calls `f` with a series' label pairs.
    pub(crate) fn with_labels<R>(&self, s: &MemSeries, f: impl FnOnce(&[(&str, &str)]) -> R) -> R {
        let strs: Vec<&str> = blob_strs(&s.labels)
            .map(|b| std::str::from_utf8(b).unwrap_or(""))
            .collect();
        let pairs: Vec<(&str, &str)> = strs.chunks_exact(2).map(|p| (p[0], p[1])).collect();
        f(&pairs)
    }

    /// Starts loading what a snapshot of `s` reads beyond the series struct
    /// (its labels, the newest closed chunk entries, the open chunk).
    pub(crate) fn prefetch_series_data(&self, s: &MemSeries) {
        if let Some(l) = s.read_labels.get() {
            let pairs = l.as_slice();
            crate::prefetch::arc_value(
                pairs.as_ptr().cast(),
                std::mem::size_of_val(pairs).min(256),
            );
        }
        let d = s.data.lock();
        let tail = d.closed.len().saturating_sub(2);
        crate::prefetch::slice(&d.closed[tail..], 128);
        if let Some(st) = &d.tail_states {
            st.prefetch();
        }
        if let Some(c) = &d.open {
            c.prefetch();
        }
    }

    /// Labels of a series, kept with the series from the first call on: for
    /// the read path (rejections build theirs with [`decode_labels`]).
    pub(crate) fn labels_of(&self, s: &MemSeries) -> Labels {
        s.read_labels
            .get_or_init(|| decode_labels(&s.labels))
            .clone()
    }

    /// Number of series in the head.
    pub(crate) fn num_series(&self) -> u64 {
        self.index.read().num_series()
    }

    /// Every series (a snapshot of the ref maps), in ref order.
    pub(crate) fn all_series(&self) -> Vec<Arc<MemSeries>> {
        let mut v: Vec<Arc<MemSeries>> = self
            .by_ref
            .iter()
            .flat_map(|s| s.read().values().cloned().collect::<Vec<_>>())
            .collect();
        v.sort_unstable_by_key(|s| s.sref);
        v
    }

    /// Records that samples up to `t` were committed (head time bounds).
    pub(crate) fn observe_times(&self, min_t: i64, max_t: i64) {
        self.min_time.fetch_min(min_t, Ordering::AcqRel);
        self.max_time.fetch_max(max_t, Ordering::AcqRel);
    }

    /// Drops every sample older than `before` and garbage-collects series
    /// left without samples. Callers must have raised `min_valid` to at least
    /// `before` first so that no commit adds older samples meanwhile.
    pub(crate) fn truncate(&self, before: i64) {
        let mut chunks = 0usize;
        let mut samples = 0usize;
        let mut new_min = i64::MAX;
        for s in self.all_series() {
            let mut d = s.data.lock();
            let (c, n) = d.truncate(before);
            chunks += c;
            samples += n;
            if let Some(m) = series_min_time(&d) {
                new_min = new_min.min(m);
            }
        }
        self.counters
            .chunks
            .fetch_sub(chunks as i64, Ordering::Relaxed);
        self.counters
            .samples
            .fetch_sub(samples as i64, Ordering::Relaxed);
        self.min_time.store(new_min, Ordering::Release);
        self.gc();
        // Tombstones before `before` went into the block; those of removed
        // series have nothing left to hide.
        let mut t = self.tombstones.write();
        if !t.is_empty() {
            t.prune(before, |r| self.series_by_ref(r).is_some());
        }
    }

    /// Records tombstones `[mint, maxt]` for the series matching `ms`, each
    /// clamped to the samples the series holds now (samples appended later
    /// stay visible), logging them to the WAL first. Returns how many series
    /// got a tombstone.
    pub(crate) fn delete(
        &self,
        ms: &[pharos_model::Matcher],
        mint: i64,
        maxt: i64,
    ) -> std::io::Result<usize> {
        let refs = postings_for_matchers(&*self.index.read(), ms);
        let mut stones: Vec<(u32, i64, i64)> = Vec::new();
        for r in &refs {
            let Some(s) = self.series_by_ref(r) else {
                continue;
            };
            let d = s.data.lock();
            let (Some(lo), Some(hi)) = (series_min_time(&d), series_max_time(&d)) else {
                continue;
            };
            let (a, b) = (mint.max(lo), maxt.min(hi));
            if a <= b {
                stones.push((r, a, b));
            }
        }
        if stones.is_empty() {
            return Ok(0);
        }
        if let Some(wal) = &self.wal {
            let mut buf = Vec::new();
            crate::record::encode_tombstones(&mut buf, stones.iter().copied());
            wal.log(&[&buf])?;
        }
        let mut t = self.tombstones.write();
        for &(r, a, b) in &stones {
            t.add(r, a, b);
        }
        Ok(stones.len())
    }

    /// Removes series that hold no samples and are not pinned by an appender.
    pub(crate) fn gc(&self) {
        let candidates: Vec<Arc<MemSeries>> = self
            .all_series()
            .into_iter()
            .filter(|s| s.pending.load(Ordering::Acquire) == 0 && s.data.lock().is_empty())
            .collect();
        let mut removed = 0u64;
        for s in candidates {
            let mut st = self.by_hash[hash_stripe(s.hash)].write();
            // Re-check under the stripe lock: appenders pin under it.
            if s.pending.load(Ordering::Acquire) != 0 || !s.data.lock().is_empty() {
                continue;
            }
            if let Ok(e) = st.find_entry(s.hash, |x| x.sref == s.sref) {
                e.remove();
            }
            self.with_labels(&s, |pairs| self.index.write().remove(s.sref, pairs));
            drop(st);
            self.by_ref[ref_stripe(s.sref)].write().remove(&s.sref);
            removed += 1;
        }
        self.counters
            .series_removed
            .fetch_add(removed, Ordering::Relaxed);
    }
}

/// Oldest sample time held by a series.
pub(crate) fn series_min_time(d: &SeriesData) -> Option<i64> {
    let c = d
        .closed
        .first()
        .map(|c| c.min_t())
        .or_else(|| d.open.as_ref().and_then(|c| c.min_time()));
    let o = d.ooo.as_ref().and_then(|o| o.first().map(|s| s.0));
    match (c, o) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Newest sample time held by a series.
pub(crate) fn series_max_time(d: &SeriesData) -> Option<i64> {
    let c = (d.last_t != i64::MIN).then_some(d.last_t);
    let o = d.ooo.as_ref().and_then(|o| o.last().map(|s| s.0));
    match (c, o) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> HeadOptions {
        HeadOptions {
            block_range: 1000,
            ooo_window: 0,
            chunk_samples: 4,
        }
    }

    #[test]
    fn classify_rules() {
        let o = opts();
        let mut d = SeriesData::new();
        assert!(d.apply(10, 1.0, None, &o).unwrap().stored);
        assert_eq!(d.classify(10, 1.0, None), Ok(Verdict::Duplicate));
        assert_eq!(
            d.classify(10, 2.0, None),
            Err(AppendError::DuplicateTimestamp)
        );
        assert_eq!(d.classify(5, 2.0, None), Err(AppendError::OutOfOrder));
        assert_eq!(d.classify(5, 2.0, Some(6)), Err(AppendError::TooOld));
        assert_eq!(d.classify(5, 2.0, Some(0)), Ok(Verdict::OutOfOrder));
        assert!(d.apply(5, 2.0, Some(0), &o).unwrap().ooo);
        assert_eq!(d.classify(5, 2.0, Some(0)), Ok(Verdict::Duplicate));
        assert_eq!(
            d.classify(5, 3.0, Some(0)),
            Err(AppendError::DuplicateTimestamp)
        );
    }

    #[test]
    fn chunks_cut_at_count_and_boundary() {
        let o = opts();
        let mut d = SeriesData::new();
        for t in [1, 2, 3, 4, 5, 999, 1000, 1001] {
            d.apply(t, t as f64, None, &o).unwrap();
        }
        // [1,2,3,4] [5,999] [1000,1001]
        assert_eq!(d.closed.len(), 2);
        assert_eq!((d.closed[1].min_t(), d.closed[1].max_t()), (5, 999));
        assert_eq!(d.open.as_ref().and_then(|c| c.min_time()), Some(1000));
        assert_eq!(d.truncate(1000), (2, 6));
        assert_eq!(d.closed.len(), 0);
        assert!(d.open.is_some());
    }

    #[test]
    fn large_select_is_complete_and_sorted() {
        use pharos_model::{Matcher, Series};
        let h = Head::new(opts(), None);
        let o = opts();
        for i in 0..1500 {
            let l = Labels::from_pairs(&[("__name__", "m"), ("i", &format!("{i}"))]);
            let (s, _) = h.get_or_create(&l, None, false);
            let mut d = s.data.lock();
            for t in 1..=6 {
                d.apply(t, (i * t) as f64, None, &o).unwrap();
            }
        }
        let got = h.select(2, 5, &[Matcher::equal("__name__", "m")], true);
        assert_eq!(got.len(), 1500);
        assert!(got.windows(2).all(|w| w[0].labels < w[1].labels));
        for s in &got {
            let i: i64 = s.labels.get("i").unwrap().parse().unwrap();
            let mut pts = Vec::new();
            s.append_floats(i64::MIN, i64::MAX, &mut pts);
            let want: Vec<(i64, f64)> = (2..=5).map(|t| (t, (i * t) as f64)).collect();
            assert_eq!(pts, want);
        }
        // Unsorted: the same series in creation order ("i" is 0, 1, 2, ...,
        // while label order puts "10" before "2").
        let loose = h.select(2, 5, &[Matcher::equal("__name__", "m")], false);
        let order: Vec<String> = loose
            .iter()
            .map(|s| s.labels.get("i").unwrap_or("").to_string())
            .collect();
        assert_eq!(order, (0..1500).map(|i| i.to_string()).collect::<Vec<_>>());
        // Labels read twice are the same shared set.
        let again = h.select(2, 5, &[Matcher::equal("__name__", "m")], true);
        assert_eq!(again[0].labels, got[0].labels);
    }

    #[test]
    fn last_closed_chunk_keeps_states_and_reads_from_any_time() {
        use pharos_model::{Matcher, Series};
        let o = HeadOptions {
            block_range: 1 << 40,
            ooo_window: 0,
            chunk_samples: 120,
        };
        let h = Head::new(o, None);
        let l = Labels::from_pairs(&[("__name__", "m")]);
        let (s, _) = h.get_or_create(&l, None, false);
        let all: Vec<(i64, f64)> = (0..250i64).map(|i| (i * 15, (i % 13) as f64)).collect();
        {
            let mut d = s.data.lock();
            for &(t, v) in &all {
                d.apply(t, v, None, &o).unwrap();
            }
            // Two closed chunks; only the last keeps states.
            assert_eq!(d.closed.len(), 2);
            assert!(d.tail_states.is_some());
        }
        for from in [0usize, 100, 119, 200, 205, 219, 220, 239, 240, 249] {
            let mint = all[from].0;
            let got = h.select(mint, i64::MAX, &[Matcher::equal("__name__", "m")], true);
            let mut pts = Vec::new();
            got[0].append_floats(mint, i64::MAX, &mut pts);
            assert_eq!(pts[..], all[from..], "from sample {from}");
        }
        let mut d = s.data.lock();
        d.truncate(all[245].0);
        assert!(d.closed.is_empty());
        assert!(d.tail_states.is_none());
    }

    #[test]
    fn create_lookup_gc() {
        let h = Head::new(opts(), None);
        let a = Labels::from_pairs(&[("__name__", "a"), ("x", "1")]);
        let (s, created) = h.get_or_create(&a, None, false);
        assert!(created);
        let (s2, created2) = h.get_or_create(&a, None, false);
        assert!(!created2);
        assert_eq!(s.sref, s2.sref);
        assert!(h.series_by_ref(s.sref).is_some());
        assert_eq!(h.labels_of(&s), a);
        h.gc();
        assert_eq!(h.num_series(), 0);
        assert!(h.get(&a, a.hash64(), false).is_none());
        assert!(h.series_by_ref(s.sref).is_none());
    }
}
