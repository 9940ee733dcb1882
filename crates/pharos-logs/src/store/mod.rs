//! The log store: validate → WAL → head → acknowledge; head → segments.
//!
//! [`LogStore::push`] judges every entry against the [`Limits`], writes the
//! accepted ones to the WAL in one batch (a stream record first for each new
//! stream), applies them to the in-memory head and only then returns, so an
//! acknowledged entry survives `kill -9` ([`LogStore::open`] replays the WAL).
//!
//! When the head holds [`StoreOptions::segment_bytes`] of entries, or is
//! older than [`StoreOptions::segment_max_age`], it is *cut*: a new WAL
//! segment starts with a cut record, the head is frozen (still read by
//! queries) and a fresh head takes the pushes. A background worker writes
//! the frozen head as an immutable [`segment`] and only then drops the WAL
//! segments it came from. Every segment records the last WAL segment it
//! holds, so replay skips what a segment already has: an entry is never lost
//! and never read twice. The worker also applies retention
//! ([`Retention`]): whole segments are deleted once every stream in them is
//! past its retention, or, oldest first, while the store is over its size.
//!
//! Reads ([`LogStore::select_where`]) see one consistent set of sources —
//! segments, frozen heads and the head — taken under the head's lock, and
//! stop with [`ReadError::TimedOut`] once their [`Deadline`] has passed.

mod cache;
mod codec;
mod head;
mod limits;
pub mod linecodec;
mod record;
mod segment;
pub mod tokens;
pub mod tscodec;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use pharos_model::{
    Labels, LogEntry, LogRejectReason, LogRejection, LogSink, LogStoreError, LogStream, Matcher,
    PushOutcome,
};
use pharos_wal::{FsyncPolicy, Wal, WalOptions};

use crate::deadline::{Deadline, Pacer, TimedOut};

pub use cache::{index_cache_bytes, set_index_cache_bytes, DEFAULT_INDEX_CACHE_BYTES};
pub use codec::CodecError;
pub use limits::Limits;
pub use segment::SegmentOptions;
pub(crate) use segment::INDEXED_METADATA;

use head::{Head, HeadEntry};
use limits::Bucket;
use record::Record;
use segment::{ReadPlan, Segment};

/// How long entries are kept.
#[derive(Debug, Clone, Default)]
pub struct Retention {
    /// Default age limit (`None`: forever).
    pub period: Option<Duration>,
    /// Most bytes the segments may take on disk; the oldest go first.
    pub max_bytes: Option<u64>,
    /// Per-selector periods; the first rule whose matchers all match a
    /// stream's labels decides that stream's period.
    pub rules: Vec<RetentionRule>,
}

/// A retention period for the streams a selector matches.
#[derive(Debug, Clone)]
pub struct RetentionRule {
    pub matchers: Vec<Matcher>,
    pub period: Duration,
}

impl Retention {
    /// The oldest timestamp kept for `labels` as of `now_ns` (`None`: all).
    pub fn horizon(&self, labels: &Labels, now_ns: i64) -> Option<i64> {
        let p = self
            .rules
            .iter()
            .find(|r| {
                r.matchers
                    .iter()
                    .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
            })
            .map(|r| r.period)
            .or(self.period)?;
        Some(now_ns.saturating_sub(i64::try_from(p.as_nanos()).unwrap_or(i64::MAX)))
    }

    fn is_unlimited(&self) -> bool {
        self.period.is_none() && self.rules.is_empty()
    }
}

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub limits: Limits,
    pub fsync: FsyncPolicy,
    /// Bytes of entries (lines and metadata) after which the head is cut.
    pub segment_bytes: u64,
    /// Age after which a non-empty head is cut.
    pub segment_max_age: Duration,
    pub segment: SegmentOptions,
    pub retention: Retention,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            limits: Limits::default(),
            fsync: WalOptions::default().fsync,
            segment_bytes: 192 << 20,
            segment_max_age: Duration::from_secs(3600),
            segment: SegmentOptions::default(),
            retention: Retention::default(),
        }
    }
}

/// What replay found when the store opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub streams: usize,
    pub entries: usize,
    /// Records that could not be decoded or named an unknown stream (logged).
    pub bad_records: usize,
    /// Segments found on disk.
    pub segments: usize,
}

/// Sizes of the store, for `/metrics` and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub head_streams: usize,
    pub head_entries: usize,
    pub head_bytes: usize,
    pub frozen_heads: usize,
    pub segments: usize,
    pub segment_entries: u64,
    pub segment_disk_bytes: u64,
}

/// The largest WAL encoding buffer kept for the next push.
const WAL_BUF_KEEP: usize = 16 << 20;

struct State {
    wal: Wal,
    head: Head,
    head_bytes: usize,
    head_started: Instant,
    generation: u64,
    global: Bucket,
    per_stream: Vec<Bucket>,
    /// Rate buckets of the streams of the previous head, by label hash, so a
    /// cut does not refill them.
    carried: HashMap<u64, Bucket>,
    /// The WAL records of a push are encoded here, kept between pushes so a
    /// push does not fault in fresh pages for a new buffer.
    wal_buf: Vec<u8>,
}

/// A head being written out.
struct Frozen {
    id: u64,
    head: Head,
    wal_last: u32,
}

/// What queries read besides the head.
#[derive(Default)]
struct Sources {
    segments: Vec<Arc<Segment>>,
    frozen: Vec<Arc<Frozen>>,
}

struct Shared {
    dir: PathBuf,
    limits: Limits,
    opts: StoreOptions,
    state: Mutex<State>,
    sources: RwLock<Sources>,
    next_id: AtomicU64,
    /// Held while segments are written or deleted.
    writing: Mutex<()>,
}

enum Msg {
    Wake,
    Stop,
}

/// The log store over one directory.
pub struct LogStore {
    shared: Arc<Shared>,
    replayed: ReplayStats,
    tx: Mutex<mpsc::Sender<Msg>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

/// What one read sees, taken by [`LogStore::snapshot`].
struct Snapshot {
    segments: Vec<Arc<Segment>>,
    frozen: Vec<Arc<Frozen>>,
    head: Vec<(Labels, Vec<LogEntry>)>,
}

/// What a [`LogStore::scan_with`] reads.
#[derive(Debug, Clone, Copy)]
pub struct Scan<'a> {
    pub matchers: &'a [Matcher],
    pub start_ns: i64,
    pub end_ns: i64,
    /// Literals lines must hold, as for [`LogStore::select_where`].
    pub contains: &'a [Vec<String>],
    /// `(name, value)`: structured metadata every wanted entry has (or a
    /// stream label); row groups without the value are skipped where the
    /// name's values are indexed (trace and span ids).
    pub metadata_eq: &'a [(String, String)],
    /// Whether lines are needed.
    pub lines: bool,
    /// When to give up ([`Deadline::NONE`]: never). The read looks at it
    /// before every segment and every [`Pacer::EVERY`] entries it hands on,
    /// and then answers [`ReadError::TimedOut`]; a segment being read stops
    /// before its next row group.
    pub deadline: Deadline,
}

/// Why a read of the store stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Store(#[from] LogStoreError),
    #[error(transparent)]
    TimedOut(#[from] TimedOut),
}

/// The entries of one stream returned by [`LogStore::select`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntries {
    pub labels: Labels,
    pub entries: Vec<LogEntry>,
}

/// Makes structured-metadata names label names (every character outside
/// `[a-zA-Z0-9_]` becomes `_`, a leading digit gets a `_` before it), as Loki
/// does for OTLP attributes, so LogQL label filters can name them:
/// `k8s.node.name` is stored as `k8s_node_name`.
fn normalize_metadata(e: &mut LogEntry) {
    for (k, _) in &mut e.metadata {
        if pharos_model::is_valid_label_name(k) {
            continue;
        }
        let mut n: String = k
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if n.is_empty() || n.starts_with(|c: char| c.is_ascii_digit()) {
            n.insert(0, '_');
        }
        *k = n;
    }
}

/// Threads a read may use: the machine's parallelism, at most 4, asked once
/// (under cgroups the answer costs several file reads).
pub(crate) fn read_threads() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn wal_err(e: impl std::fmt::Display) -> LogStoreError {
    LogStoreError::Io(std::io::Error::other(e.to_string()))
}

fn seg_err(e: segment::SegmentError) -> LogStoreError {
    LogStoreError::Io(std::io::Error::other(e.to_string()))
}

fn matches_all(ms: &[Matcher], ls: &Labels) -> bool {
    ms.iter().all(|m| m.matches(ls.get(&m.name).unwrap_or("")))
}

/// Loads the segments under `root`, deleting leftovers of interrupted writes.
fn load_segments(root: &Path) -> Result<Vec<Arc<Segment>>, LogStoreError> {
    std::fs::create_dir_all(root)?;
    let mut out = Vec::new();
    for ent in std::fs::read_dir(root)? {
        let ent = ent?;
        let path = ent.path();
        let name = ent.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            tracing::warn!(path = %path.display(), "removing an unfinished log segment");
            std::fs::remove_dir_all(&path)?;
            continue;
        }
        if !path.is_dir() {
            continue;
        }
        match Segment::open(&path) {
            Ok(s) => out.push(Arc::new(s)),
            Err(e) => {
                // Not deleted: it may hold the only copy of its entries.
                tracing::error!(error = %e, "log segment cannot be read; left in place and skipped");
            }
        }
    }
    out.sort_by_key(|s| s.id);
    // A compaction's segment is complete before the segments it replaces are
    // deleted; any of them a crash left behind go now.
    let replaced: std::collections::HashSet<u64> = out
        .iter()
        .flat_map(|s| s.replaces.iter().copied())
        .collect();
    out.retain(|s| {
        if replaced.contains(&s.id) {
            tracing::warn!(
                segment = s.id,
                "removing a log segment a compaction replaced"
            );
            s.remove_on_drop
                .store(true, std::sync::atomic::Ordering::Release);
            false
        } else {
            true
        }
    });
    Ok(out)
}

impl Shared {
    /// Cuts the head (the caller holds the state lock): a new WAL segment
    /// starting with a cut record, the head frozen for the worker.
    fn cut(&self, st: &mut State) -> Result<(), LogStoreError> {
        if st.head.streams.is_empty() {
            return Ok(());
        }
        let new_seg = st.wal.cut_segment().map_err(wal_err)?;
        st.generation += 1;
        let mut rec = Vec::new();
        record::encode_cut(&mut rec, st.generation);
        st.wal.append(&rec).map_err(wal_err)?;
        let head = std::mem::take(&mut st.head);
        let mut carried = HashMap::with_capacity(head.streams.len());
        for (s, b) in head.streams.iter().zip(st.per_stream.drain(..)) {
            carried.insert(s.labels.hash64(), b);
        }
        st.carried = carried;
        st.head_bytes = 0;
        st.head_started = Instant::now();
        let frozen = Frozen {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            head,
            wal_last: new_seg.saturating_sub(1),
        };
        self.sources.write().frozen.push(Arc::new(frozen));
        Ok(())
    }

    /// Writes every frozen head as a segment, oldest first, and drops the
    /// WAL segments they came from.
    fn write_frozen(&self) -> Result<(), LogStoreError> {
        let _w = self.writing.lock();
        loop {
            let Some(f) = self.sources.read().frozen.first().cloned() else {
                return Ok(());
            };
            let started = Instant::now();
            let seg = Segment::write(
                &self.dir.join("segments"),
                f.id,
                &f.head,
                f.wal_last,
                &self.opts.segment,
            )
            .map_err(seg_err)?;
            tracing::info!(
                segment = seg.id,
                entries = seg.entries,
                bytes = seg.bytes,
                disk_bytes = seg.disk_bytes,
                row_groups = seg.groups.len(),
                elapsed = ?started.elapsed(),
                "log segment written"
            );
            {
                let mut src = self.sources.write();
                src.segments.push(Arc::new(seg));
                src.frozen.retain(|x| !Arc::ptr_eq(x, &f));
            }
            self.state
                .lock()
                .wal
                .truncate_before(f.wal_last + 1)
                .map_err(wal_err)?;
        }
    }

    /// Deletes segments past retention.
    fn apply_retention(&self, now_ns: i64) -> Result<(), LogStoreError> {
        let r = &self.opts.retention;
        if r.is_unlimited() && r.max_bytes.is_none() {
            return Ok(());
        }
        let _w = self.writing.lock();
        let segs = self.sources.read().segments.clone();
        let mut doomed: Vec<u64> = Vec::new();
        if !r.is_unlimited() {
            for s in &segs {
                let expired = s
                    .streams
                    .iter()
                    .all(|st| r.horizon(&st.labels, now_ns).is_some_and(|h| st.max_ts < h));
                if expired {
                    doomed.push(s.id);
                }
            }
        }
        if let Some(max) = r.max_bytes {
            let mut live: Vec<&Arc<Segment>> =
                segs.iter().filter(|s| !doomed.contains(&s.id)).collect();
            live.sort_by_key(|s| s.max_ts);
            let mut total: u64 = live.iter().map(|s| s.disk_bytes).sum();
            for s in live {
                if total <= max {
                    break;
                }
                total -= s.disk_bytes;
                doomed.push(s.id);
            }
        }
        if doomed.is_empty() {
            return Ok(());
        }
        let gone: Vec<Arc<Segment>> = {
            let mut src = self.sources.write();
            let (gone, keep) = src.segments.drain(..).partition(|s| doomed.contains(&s.id));
            src.segments = keep;
            gone
        };
        for s in gone {
            tracing::info!(
                segment = s.id,
                max_ts = s.max_ts,
                "log segment deleted by retention"
            );
            std::fs::remove_dir_all(&s.dir)?;
        }
        Ok(())
    }

    /// Merges the oldest run of adjacent small segments (each under half
    /// [`StoreOptions::segment_bytes`], together at most that) into one
    /// segment, leaving out entries past retention; one run per call.
    /// Heads cut by age at a low ingest rate make such segments. Returns
    /// whether it merged.
    ///
    /// The merged segment names in its `replaces` file every segment whose
    /// entries it holds (theirs too, if they were merged before), so a crash
    /// between writing it and deleting them never leaves an entry twice. The
    /// old segments leave the sources at once and their directories go when
    /// the last query reading them lets go.
    fn compact(&self, now_ns: i64) -> Result<bool, LogStoreError> {
        let _w = self.writing.lock();
        let limit = self.opts.segment_bytes;
        let mut segs = self.sources.read().segments.clone();
        segs.sort_by_key(|s| s.id);
        let mut run: Vec<Arc<Segment>> = Vec::new();
        let mut total = 0u64;
        let mut chosen: Option<Vec<Arc<Segment>>> = None;
        for s in &segs {
            let small = s.bytes < limit / 2;
            if small && total + s.bytes <= limit {
                total += s.bytes;
                run.push(s.clone());
                continue;
            }
            if run.len() >= 2 {
                chosen = Some(std::mem::take(&mut run));
                break;
            }
            run.clear();
            total = 0;
            if small {
                total = s.bytes;
                run.push(s.clone());
            }
        }
        let Some(run) = chosen.or((run.len() >= 2).then_some(run)) else {
            return Ok(false);
        };
        let started = Instant::now();
        let retention = &self.opts.retention;
        let horizon = |l: &Labels| retention.horizon(l, now_ns);
        let plan = ReadPlan {
            matchers: &[],
            start_ns: i64::MIN,
            end_ns: i64::MAX,
            contains: &[],
            metadata_eq: &[],
            lines: true,
            horizon: &horizon,
            deadline: Deadline::NONE,
        };
        let mut head = Head::default();
        for s in &run {
            s.read(&plan, &mut |labels, es| {
                let id = match head.find(labels) {
                    Some(id) => id,
                    None => head.add(labels.clone()),
                };
                for e in es {
                    head.insert(id, e);
                }
            })
            .map_err(seg_err)?;
        }
        let mut replaces: Vec<u64> = run
            .iter()
            .flat_map(|s| std::iter::once(s.id).chain(s.replaces.iter().copied()))
            .collect();
        replaces.sort_unstable();
        replaces.dedup();
        let ids: Vec<u64> = run.iter().map(|s| s.id).collect();
        let merged = if head.streams.iter().any(|s| !s.entries.is_empty()) {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let wal_last = run.iter().map(|s| s.wal_last).max().unwrap_or(0);
            let seg = Segment::write_replacing(
                &self.dir.join("segments"),
                id,
                &head,
                wal_last,
                &self.opts.segment,
                &replaces,
            )
            .map_err(seg_err)?;
            tracing::info!(
                segment = seg.id,
                replaces = ?ids,
                entries = seg.entries,
                disk_bytes = seg.disk_bytes,
                elapsed = ?started.elapsed(),
                "log segments compacted"
            );
            Some(Arc::new(seg))
        } else {
            // Every entry was past retention: nothing to keep.
            None
        };
        {
            let mut src = self.sources.write();
            src.segments.retain(|s| !ids.contains(&s.id));
            if let Some(seg) = merged {
                src.segments.push(seg);
                src.segments.sort_by_key(|s| s.id);
            }
        }
        for s in &run {
            s.remove_on_drop.store(true, Ordering::Release);
        }
        Ok(true)
    }

    /// Cuts a head older than the maximum age.
    fn cut_if_old(&self) -> Result<(), LogStoreError> {
        let mut st = self.state.lock();
        if !st.head.streams.is_empty() && st.head_started.elapsed() >= self.opts.segment_max_age {
            self.cut(&mut st)?;
        }
        Ok(())
    }
}

fn worker(sh: Arc<Shared>, rx: mpsc::Receiver<Msg>) {
    let tick = Duration::from_secs(1);
    let mut last_retention = Instant::now() - Duration::from_secs(3600);
    loop {
        match rx.recv_timeout(tick) {
            Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Ok(Msg::Wake) | Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Err(e) = sh.cut_if_old() {
            tracing::error!(error = %e, "log store: cutting the head failed");
        }
        if let Err(e) = sh.write_frozen() {
            tracing::error!(error = %e, "log store: writing a segment failed; retrying");
        }
        if last_retention.elapsed() >= Duration::from_secs(30) {
            last_retention = Instant::now();
            if let Err(e) = sh.apply_retention(now_ns()) {
                tracing::error!(error = %e, "log store: retention failed");
            }
            if let Err(e) = sh.compact(now_ns()) {
                tracing::error!(error = %e, "log store: compaction failed");
            }
        }
    }
}

impl LogStore {
    /// Opens (creating if needed) the store in `dir`: loads its segments,
    /// replays the WAL records no segment holds, and writes out every head
    /// generation replay finished.
    pub fn open(dir: &Path, opts: StoreOptions) -> Result<LogStore, LogStoreError> {
        std::fs::create_dir_all(dir)?;
        let segments = load_segments(&dir.join("segments"))?;
        let covered = segments.iter().map(|s| s.wal_last).max();
        let next_id = segments.iter().map(|s| s.id + 1).max().unwrap_or(1);
        let wal = Wal::open(
            &dir.join("wal"),
            WalOptions {
                fsync: opts.fsync,
                ..WalOptions::default()
            },
        )
        .map_err(wal_err)?;
        let mut head = Head::default();
        let mut finished: Vec<(Head, u32)> = Vec::new();
        let mut stats = ReplayStats {
            segments: segments.len(),
            ..ReplayStats::default()
        };
        let mut generation = 0;
        let replay = wal.replay().map_err(wal_err)?;
        for item in replay {
            let (seg, bytes) = match item {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "log WAL replay stopped early");
                    break;
                }
            };
            if covered.is_some_and(|c| seg <= c) {
                continue;
            }
            match record::decode(&bytes) {
                Ok(Record::Cut { generation: g }) => {
                    generation = generation.max(g);
                    let done = std::mem::take(&mut head);
                    if !done.streams.is_empty() {
                        finished.push((done, seg.saturating_sub(1)));
                    }
                }
                Ok(Record::Stream { id, labels }) => {
                    if id as usize == head.streams.len() {
                        head.add(labels);
                        stats.streams += 1;
                    } else {
                        tracing::warn!(segment = seg, id, "log WAL: stream id out of sequence");
                        stats.bad_records += 1;
                    }
                }
                Ok(Record::Entries { stream, entries }) => {
                    if (stream as usize) < head.streams.len() {
                        stats.entries += entries.len();
                        for e in entries {
                            head.insert(stream, e);
                        }
                    } else {
                        tracing::warn!(
                            segment = seg,
                            stream,
                            "log WAL: entries of an unknown stream"
                        );
                        stats.bad_records += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(segment = seg, error = %e, "log WAL: undecodable record skipped");
                    stats.bad_records += 1;
                }
            }
        }
        let now = Instant::now();
        let per_stream = (0..head.streams.len())
            .map(|_| Bucket::new(opts.limits.stream_burst_bytes, now))
            .collect();
        let head_bytes = head.streams.iter().map(|s| s.bytes).sum();
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            limits: opts.limits.clone(),
            state: Mutex::new(State {
                wal,
                head,
                head_bytes,
                head_started: now,
                generation,
                global: Bucket::new(opts.limits.burst_bytes, now),
                per_stream,
                carried: HashMap::new(),
                wal_buf: Vec::new(),
            }),
            sources: RwLock::new(Sources {
                segments,
                frozen: Vec::new(),
            }),
            next_id: AtomicU64::new(next_id),
            writing: Mutex::new(()),
            opts,
        });
        {
            let mut src = shared.sources.write();
            for (head, wal_last) in finished {
                src.frozen.push(Arc::new(Frozen {
                    id: shared.next_id.fetch_add(1, Ordering::Relaxed),
                    head,
                    wal_last,
                }));
            }
        }
        shared.write_frozen()?;
        if let Some(c) = covered {
            let mut st = shared.state.lock();
            // New records must land after every WAL segment a segment holds
            // (replay skips those), even if the WAL was lost or is behind.
            if st.wal.current_segment() <= c {
                st.wal.cut_segment_at(c + 1).map_err(wal_err)?;
            }
            // Records a segment holds but whose WAL segments survived a crash
            // right after the segment was written.
            st.wal.truncate_before(c + 1).map_err(wal_err)?;
        }
        let (tx, rx) = mpsc::channel();
        let sh = shared.clone();
        let worker = std::thread::Builder::new()
            .name("log-segments".into())
            .spawn(move || worker(sh, rx))?;
        Ok(LogStore {
            shared,
            replayed: stats,
            tx: Mutex::new(tx),
            worker: Some(worker),
        })
    }

    fn wake(&self) {
        let _ = self.tx.lock().send(Msg::Wake);
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// What replay found at open.
    pub fn replayed(&self) -> &ReplayStats {
        &self.replayed
    }

    /// Number of streams and entries in the head.
    pub fn counts(&self) -> (usize, usize) {
        let st = self.shared.state.lock();
        let entries = st.head.streams.iter().map(|s| s.entries.len()).sum();
        (st.head.streams.len(), entries)
    }

    /// Sizes of the head, the frozen heads and the segments.
    pub fn stats_all(&self) -> StoreStats {
        let st = self.shared.state.lock();
        let src = self.shared.sources.read();
        StoreStats {
            head_streams: st.head.streams.len(),
            head_entries: st.head.streams.iter().map(|s| s.entries.len()).sum(),
            head_bytes: st.head_bytes,
            frozen_heads: src.frozen.len(),
            segments: src.segments.len(),
            segment_entries: src.segments.iter().map(|s| s.entries).sum(),
            segment_disk_bytes: src.segments.iter().map(|s| s.disk_bytes).sum(),
        }
    }

    /// Writes the head out as a segment now and waits until every frozen
    /// head is on disk (Loki's `/flush`).
    pub fn flush(&self) -> Result<(), LogStoreError> {
        {
            let mut st = self.shared.state.lock();
            self.shared.cut(&mut st)?;
        }
        self.shared.write_frozen()
    }

    /// Merges one run of small segments now, as of `now_ns` for retention
    /// (the worker does this every 30 s); whether it merged.
    pub fn compact(&self, now_ns: i64) -> Result<bool, LogStoreError> {
        self.shared.compact(now_ns)
    }

    /// Deletes segments past retention as of `now_ns` (the worker does this
    /// every 30 s).
    pub fn apply_retention(&self, now_ns: i64) -> Result<(), LogStoreError> {
        self.shared.apply_retention(now_ns)
    }

    /// Fsyncs the WAL if the interval policy says it is due (call from a timer).
    pub fn sync_if_due(&self) -> Result<(), LogStoreError> {
        self.shared
            .state
            .lock()
            .wal
            .sync_if_due()
            .map(|_| ())
            .map_err(wal_err)
    }

    /// Fsyncs the WAL now (at shutdown).
    pub fn sync(&self) -> Result<(), LogStoreError> {
        self.shared.state.lock().wal.sync().map_err(wal_err)
    }

    /// Seconds until a refused push of `bytes` could pass the global rate
    /// limit (for `Retry-After`), at least 1.
    pub fn retry_after_secs(&self, bytes: usize) -> u64 {
        let st = self.shared.state.lock();
        let w = st.global.wait_for(
            bytes as f64,
            self.shared.limits.rate_bytes,
            self.shared.limits.burst_bytes,
        );
        (w.ceil() as u64).max(1)
    }

    /// Pushes `streams` as of `now_ns`; see [`LogSink::push`].
    pub fn push_at(
        &self,
        streams: Vec<LogStream>,
        now_ns: i64,
    ) -> Result<PushOutcome, LogStoreError> {
        let mut out = PushOutcome::default();
        let sh = &*self.shared;
        let mut st = sh.state.lock();
        let now = Instant::now();
        let mut wal_buf = std::mem::take(&mut st.wal_buf);
        wal_buf.clear();
        let mut recs: Vec<(usize, usize)> = Vec::new();
        let mut apply: Vec<(u32, Vec<LogEntry>)> = Vec::new();
        let mut new_streams: Vec<Labels> = Vec::new();
        let first_new = st.head.streams.len();
        let reject =
            |out: &mut PushOutcome, labels: &Labels, n: usize, ts: i64, r: LogRejectReason| {
                if n > 0 {
                    out.rejected.push(LogRejection {
                        stream: labels.clone(),
                        entries: n,
                        first_ts: ts,
                        reason: r,
                    });
                }
            };
        for s in streams {
            let first_ts = s.entries.first().map_or(0, |e| e.ts);
            if let Err(r) = sh.limits.check_labels(&s.labels) {
                reject(&mut out, &s.labels, s.entries.len(), first_ts, r);
                continue;
            }
            // Per-entry checks; refusals grouped by reason.
            let mut ok = Vec::with_capacity(s.entries.len());
            let mut refused: Vec<(LogRejectReason, usize, i64)> = Vec::new();
            for mut e in s.entries {
                normalize_metadata(&mut e);
                match sh.limits.check_entry(&e, now_ns) {
                    Ok(()) => ok.push(e),
                    Err(r) => match refused.iter_mut().find(|x| x.0.reason() == r.reason()) {
                        Some(x) => x.1 += 1,
                        None => refused.push((r, 1, e.ts)),
                    },
                }
            }
            for (r, n, ts) in refused {
                reject(&mut out, &s.labels, n, ts, r);
            }
            if ok.is_empty() {
                continue;
            }
            let bytes: usize = ok.iter().map(LogEntry::size).sum();
            let id = match st.head.find(&s.labels).or_else(|| {
                new_streams
                    .iter()
                    .position(|l| *l == s.labels)
                    .map(|i| (first_new + i) as u32)
            }) {
                Some(id) => id,
                None => {
                    let total = first_new + new_streams.len();
                    if sh.limits.max_streams > 0 && total >= sh.limits.max_streams {
                        let n = ok.len();
                        reject(
                            &mut out,
                            &s.labels,
                            n,
                            first_ts,
                            LogRejectReason::TooManyStreams(sh.limits.max_streams),
                        );
                        continue;
                    }
                    let id = total as u32;
                    let at = wal_buf.len();
                    record::encode_stream(&mut wal_buf, id, &s.labels);
                    recs.push((at, wal_buf.len()));
                    new_streams.push(s.labels.clone());
                    let bucket = st
                        .carried
                        .remove(&s.labels.hash64())
                        .unwrap_or_else(|| Bucket::new(sh.limits.stream_burst_bytes, now));
                    st.per_stream.push(bucket);
                    id
                }
            };
            let l = &sh.limits;
            let stream_ok = st.per_stream[id as usize].take(
                bytes as f64,
                l.stream_rate_bytes,
                l.stream_burst_bytes,
                now,
            );
            if !stream_ok
                || !st
                    .global
                    .take(bytes as f64, l.rate_bytes, l.burst_bytes, now)
            {
                let n = ok.len();
                reject(
                    &mut out,
                    &s.labels,
                    n,
                    first_ts,
                    LogRejectReason::RateLimited,
                );
                continue;
            }
            let at = wal_buf.len();
            record::encode_entries(&mut wal_buf, id, ok.iter());
            recs.push((at, wal_buf.len()));
            out.accepted += ok.len();
            out.accepted_bytes += bytes;
            apply.push((id, ok));
        }
        if !recs.is_empty() {
            let slices: Vec<&[u8]> = recs.iter().map(|&(a, b)| &wal_buf[a..b]).collect();
            if let Err(e) = st.wal.append_batch(&slices) {
                // Nothing was applied; buckets of new streams are dropped below.
                st.per_stream.truncate(first_new);
                return Err(LogStoreError::Io(std::io::Error::other(e.to_string())));
            }
        }
        // A stream whose every entry was refused later (rate limit) still
        // had its stream record written; it must exist so ids stay in step.
        out.streams_created = new_streams.len();
        for labels in new_streams {
            st.head.add(labels);
        }
        // Lines are copied into the head's arena (`Head::insert`): a line
        // may be a slice of its request's body, which lives as long as any
        // of them.
        for (id, entries) in apply {
            for e in entries {
                st.head.insert(id, e);
            }
        }
        st.head_bytes += out.accepted_bytes;
        if wal_buf.capacity() <= WAL_BUF_KEEP {
            st.wal_buf = wal_buf;
        }
        if st.head_bytes as u64 >= sh.opts.segment_bytes {
            // Writing is the worker's. A head that fills while the last one
            // is still being written waits for that write (its pushers wait
            // with it) instead of freezing too, so memory holds two heads
            // at most.
            if !sh.sources.read().frozen.is_empty() {
                drop(st);
                sh.write_frozen()?;
                st = sh.state.lock();
                if (st.head_bytes as u64) < sh.opts.segment_bytes {
                    // Another pusher cut it meanwhile.
                    return Ok(out);
                }
            }
            sh.cut(&mut st)?;
            drop(st);
            self.wake();
        }
        Ok(out)
    }

    /// Entries of the streams matching `ms` with `start_ns <= ts < end_ns`,
    /// streams in label order, entries in time order.
    pub fn select(&self, ms: &[Matcher], start_ns: i64, end_ns: i64) -> Vec<StreamEntries> {
        self.select_where(ms, start_ns, end_ns, &[], Deadline::NONE)
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "log select failed");
                Vec::new()
            })
    }

    /// As [`LogStore::select`], where `contains` lets segments skip row
    /// groups: every inner list is a choice of literals of which a returned
    /// line holds at least one. Lines without them may still be returned
    /// (the caller filters); lines with them never go missing. Stops at
    /// `deadline` (see [`Scan::deadline`]).
    pub fn select_where(
        &self,
        ms: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        contains: &[Vec<String>],
        deadline: Deadline,
    ) -> Result<Vec<StreamEntries>, ReadError> {
        let mut acc: HashMap<Labels, (Vec<LogEntry>, bool)> = HashMap::new();
        self.scan(
            ms,
            start_ns,
            end_ns,
            contains,
            true,
            deadline,
            &mut |labels, es| match acc.get_mut(labels) {
                Some((v, sorted)) => {
                    if v.last().zip(es.first()).is_some_and(|(l, f)| l.ts > f.ts) {
                        *sorted = false;
                    }
                    v.extend(es);
                }
                None => {
                    acc.insert(labels.clone(), (es, true));
                }
            },
        )?;
        let mut out: Vec<StreamEntries> = acc
            .into_iter()
            .map(|(labels, (mut entries, sorted))| {
                if !sorted {
                    entries.sort_by_key(|e| e.ts);
                }
                StreamEntries { labels, entries }
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// Calls `visit(stream, entries)` with the entries of the streams
    /// matching `ms` in `[start_ns, end_ns)` and within retention, without
    /// collecting them: each call's entries are in time order, but a stream
    /// comes in several calls (from the segments, oldest first, then the
    /// heads) whose ranges may overlap. `contains` as for
    /// [`LogStore::select_where`]; lines are empty unless `lines` (metadata
    /// is always there); stops at `deadline` (see [`Scan::deadline`]).
    #[allow(clippy::too_many_arguments)]
    pub fn scan(
        &self,
        ms: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        contains: &[Vec<String>],
        lines: bool,
        deadline: Deadline,
        visit: &mut dyn FnMut(&Labels, Vec<LogEntry>),
    ) -> Result<(), ReadError> {
        self.scan_with(
            &Scan {
                matchers: ms,
                start_ns,
                end_ns,
                contains,
                metadata_eq: &[],
                lines,
                deadline,
            },
            visit,
        )
    }

    /// As [`LogStore::scan`], with everything a read can use to skip data.
    pub fn scan_with(
        &self,
        q: &Scan,
        visit: &mut dyn FnMut(&Labels, Vec<LogEntry>),
    ) -> Result<(), ReadError> {
        let now = now_ns();
        let retention = &self.shared.opts.retention;
        let horizon = |l: &Labels| retention.horizon(l, now);
        let Snapshot {
            segments,
            frozen,
            head,
        } = self.snapshot(q, &horizon)?;
        let plan = ReadPlan::of(q, &horizon);
        let mut pacer = Pacer::new(q.deadline);
        for s in &segments {
            q.deadline.check()?;
            read_segment(s, &plan, &mut pacer, visit)?;
        }
        for f in &frozen {
            read_head(&f.head, q, &horizon, &mut pacer, visit)?;
        }
        visit_head(head, &mut pacer, visit)?;
        Ok(())
    }

    /// The sources as of one moment: segments and frozen heads shared, the
    /// head's entries for `q` copied under its lock (and visited after it is
    /// released).
    fn snapshot(
        &self,
        q: &Scan,
        horizon: &dyn Fn(&Labels) -> Option<i64>,
    ) -> Result<Snapshot, TimedOut> {
        let st = self.shared.state.lock();
        let src = self.shared.sources.read();
        let segments = src.segments.clone();
        let frozen = src.frozen.clone();
        drop(src);
        let mut head: Vec<(Labels, Vec<LogEntry>)> = Vec::new();
        let mut pacer = Pacer::new(q.deadline);
        read_head(&st.head, q, horizon, &mut pacer, &mut |l, es| {
            head.push((l.clone(), es))
        })?;
        Ok(Snapshot {
            segments,
            frozen,
            head,
        })
    }

    /// As [`LogStore::scan_with`], reading the segments on up to `threads`
    /// threads, each folding what it reads into its own `make()` state with
    /// `visit`; the heads are folded into the first state. Returns the states
    /// (for the caller to merge); order of visits is unspecified. Every
    /// thread looks at `q.deadline` before each segment it takes and while
    /// handing entries on, so all of them stop once it has passed.
    pub fn scan_parallel<V: Send>(
        &self,
        q: &Scan,
        threads: usize,
        make: impl Fn() -> V + Sync,
        visit: impl Fn(&mut V, &Labels, Vec<LogEntry>) + Sync,
    ) -> Result<Vec<V>, ReadError> {
        let now = now_ns();
        let retention = &self.shared.opts.retention;
        let horizon = |l: &Labels| retention.horizon(l, now);
        let Snapshot {
            segments,
            frozen,
            head,
        } = self.snapshot(q, &horizon)?;
        let cursor = std::sync::atomic::AtomicUsize::new(0);
        let work = || -> (V, Result<(), ReadError>) {
            let mut state = make();
            let plan = ReadPlan::of(q, &horizon);
            let mut pacer = Pacer::new(q.deadline);
            loop {
                let i = cursor.fetch_add(1, Ordering::Relaxed);
                let Some(s) = segments.get(i) else {
                    return (state, Ok(()));
                };
                if let Err(e) = q.deadline.check() {
                    return (state, Err(e.into()));
                }
                let r = read_segment(s, &plan, &mut pacer, &mut |l, es| visit(&mut state, l, es));
                if let Err(e) = r {
                    return (state, Err(e));
                }
            }
        };
        let threads = threads.clamp(1, segments.len().max(1));
        let mut results: Vec<(V, Result<(), ReadError>)> = std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
            let mut out = vec![work()];
            for h in helpers {
                match h.join() {
                    Ok(r) => out.push(r),
                    Err(_) => out.push((
                        make(),
                        Err(
                            LogStoreError::Io(std::io::Error::other("a log read thread panicked"))
                                .into(),
                        ),
                    )),
                }
            }
            out
        });
        let mut states = Vec::with_capacity(results.len());
        for (v, r) in results.drain(..) {
            r?;
            states.push(v);
        }
        if let Some(first) = states.first_mut() {
            let mut pacer = Pacer::new(q.deadline);
            let visit = &mut |l: &Labels, es| visit(first, l, es);
            for f in &frozen {
                read_head(&f.head, q, &horizon, &mut pacer, visit)?;
            }
            visit_head(head, &mut pacer, visit)?;
        }
        Ok(states)
    }

    /// Per matching stream with entries in `[start_ns, end_ns)`: its labels,
    /// and its entries and bytes in that range — counted from whole
    /// segments' tables where a segment lies inside the range, so no data is
    /// read for them. Stops at `deadline`, as a scan does.
    fn stream_stats(
        &self,
        ms: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        deadline: Deadline,
    ) -> Result<HashMap<Labels, (usize, usize)>, TimedOut> {
        let now = now_ns();
        let retention = &self.shared.opts.retention;
        let mut acc: HashMap<Labels, (usize, usize)> = HashMap::new();
        let mut pacer = Pacer::new(deadline);
        let mut count = |head: &Head, labels: &Labels, entries: &[HeadEntry]| {
            let h = retention
                .horizon(labels, now)
                .unwrap_or(i64::MIN)
                .max(start_ns);
            let a = entries.partition_point(|e| e.ts < h);
            let b = entries.partition_point(|e| e.ts < end_ns);
            if a < b {
                if pacer.tick(b - a) {
                    return Err(pacer.timed_out());
                }
                let x = acc.entry(labels.clone()).or_default();
                x.0 += b - a;
                x.1 += entries[a..b].iter().map(|e| head.size(e)).sum::<usize>();
            }
            Ok(())
        };
        let (segments, frozen) = {
            let st = self.shared.state.lock();
            for id in st.head.matching(ms) {
                let s = &st.head.streams[id as usize];
                count(&st.head, &s.labels, &s.entries)?;
            }
            let src = self.shared.sources.read();
            (src.segments.clone(), src.frozen.clone())
        };
        for f in &frozen {
            for id in f.head.matching(ms) {
                let s = &f.head.streams[id as usize];
                count(&f.head, &s.labels, &s.entries)?;
            }
        }
        let mut pacer = Pacer::new(deadline);
        for seg in &segments {
            if seg.max_ts < start_ns || seg.min_ts >= end_ns {
                continue;
            }
            deadline.check()?;
            // Streams wholly in range count from the table; those partly in
            // range from one read of the segment for all of them.
            let mut partly: Vec<&Labels> = Vec::new();
            for s in &seg.streams {
                if !matches_all(ms, &s.labels) || s.max_ts < start_ns || s.min_ts >= end_ns {
                    continue;
                }
                let h = retention.horizon(&s.labels, now).unwrap_or(i64::MIN);
                if s.min_ts >= start_ns.max(h) && s.max_ts < end_ns {
                    let x = acc.entry(s.labels.clone()).or_default();
                    x.0 += s.entries as usize;
                    x.1 += s.bytes as usize;
                } else {
                    partly.push(&s.labels);
                }
            }
            if partly.is_empty() {
                continue;
            }
            let horizon = |l: &Labels| retention.horizon(l, now);
            let plan = ReadPlan {
                matchers: ms,
                start_ns,
                end_ns,
                contains: &[],
                metadata_eq: &[],
                lines: true,
                horizon: &horizon,
                deadline,
            };
            let read = seg.read(&plan, &mut |labels, es| {
                if partly.contains(&labels) && !pacer.tick(es.len()) {
                    let x = acc.entry(labels.clone()).or_default();
                    x.0 += es.len();
                    x.1 += es.iter().map(LogEntry::size).sum::<usize>();
                }
            });
            if let Err(e) = read {
                tracing::warn!(error = %e, "log index statistics: a segment could not be read");
            }
            if pacer.expired() || deadline.expired() {
                return Err(pacer.timed_out());
            }
        }
        Ok(acc)
    }

    /// Label sets of the streams matching `ms` (all if empty) that have an
    /// entry with `start_ns <= ts < end_ns`, sorted; stops at `deadline`.
    pub fn streams(
        &self,
        ms: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        deadline: Deadline,
    ) -> Result<Vec<Labels>, TimedOut> {
        let mut v: Vec<Labels> = self
            .stream_stats(ms, start_ns, end_ns, deadline)?
            .into_keys()
            .collect();
        v.sort();
        Ok(v)
    }

    /// Streams, entries and bytes (lines and metadata) of the streams
    /// matching `ms` within `[start_ns, end_ns)`: Loki's index statistics.
    pub fn stats(
        &self,
        ms: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        deadline: Deadline,
    ) -> Result<(usize, usize, usize), TimedOut> {
        let all = self.stream_stats(ms, start_ns, end_ns, deadline)?;
        let entries = all.values().map(|x| x.0).sum();
        let bytes = all.values().map(|x| x.1).sum();
        Ok((all.len(), entries, bytes))
    }

    /// Label names of those streams, sorted.
    pub fn label_names(
        &self,
        ms: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        deadline: Deadline,
    ) -> Result<Vec<String>, TimedOut> {
        let mut v: Vec<String> = self
            .streams(ms, start_ns, end_ns, deadline)?
            .iter()
            .flat_map(|ls| ls.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// Values of label `name` on those streams, sorted.
    pub fn label_values(
        &self,
        name: &str,
        ms: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        deadline: Deadline,
    ) -> Result<Vec<String>, TimedOut> {
        let mut v: Vec<String> = self
            .streams(ms, start_ns, end_ns, deadline)?
            .iter()
            .filter_map(|ls| ls.get(name).map(str::to_string))
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }
}

/// Reads segment `s` into `visit` while `pacer` has not seen the deadline
/// pass, then answers the timeout. A segment cannot be cut short from here:
/// once the deadline has passed its remaining row groups are still decoded,
/// but nothing more is handed to `visit`.
fn read_segment(
    s: &Segment,
    plan: &ReadPlan,
    pacer: &mut Pacer,
    visit: &mut dyn FnMut(&Labels, Vec<LogEntry>),
) -> Result<(), ReadError> {
    let read = s.read(plan, &mut |l, es| {
        if !pacer.tick(es.len()) {
            visit(l, es);
        }
    });
    match read {
        Ok(()) => {}
        // Deleted by retention while this read was under way.
        Err(_) if !s.dir.exists() => {}
        Err(e) => return Err(seg_err(e).into()),
    }
    // The segment stops between row groups at the deadline, with or
    // without having handed anything on.
    if pacer.expired() || plan.deadline.expired() {
        return Err(pacer.timed_out().into());
    }
    Ok(())
}

/// Hands the head's copied streams to `visit` until `pacer` sees the
/// deadline pass.
fn visit_head(
    head: Vec<(Labels, Vec<LogEntry>)>,
    pacer: &mut Pacer,
    visit: &mut dyn FnMut(&Labels, Vec<LogEntry>),
) -> Result<(), TimedOut> {
    for (l, es) in head {
        if pacer.tick(es.len()) {
            return Err(pacer.timed_out());
        }
        visit(&l, es);
    }
    Ok(())
}

/// Feeds the entries of `head`'s streams matching `ms` within the range
/// and retention to `visit`, a stream per call (lines left empty unless
/// `lines`; metadata always kept), until `pacer` sees the deadline pass.
fn read_head(
    head: &Head,
    q: &Scan,
    horizon: &dyn Fn(&Labels) -> Option<i64>,
    pacer: &mut Pacer,
    visit: &mut dyn FnMut(&Labels, Vec<LogEntry>),
) -> Result<(), TimedOut> {
    let required = tokens::Required::new(if q.lines { q.contains } else { &[] });
    for id in head.matching(q.matchers) {
        let s = &head.streams[id as usize];
        let from = horizon(&s.labels).unwrap_or(i64::MIN).max(q.start_ns);
        let a = s.entries.partition_point(|e| e.ts < from);
        let b = s.entries.partition_point(|e| e.ts < q.end_ns);
        if a >= b {
            continue;
        }
        if pacer.tick(b - a) {
            return Err(pacer.timed_out());
        }
        let es: Vec<LogEntry> = s.entries[a..b]
            .iter()
            .filter(|e| required.is_empty() || required.admits(head.line(e).as_bytes()))
            .map(|e| head.entry(e, q.lines))
            .collect();
        if !es.is_empty() {
            visit(&s.labels, es);
        }
    }
    Ok(())
}

impl Drop for LogStore {
    fn drop(&mut self) {
        let _ = self.tx.lock().send(Msg::Stop);
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl LogSink for LogStore {
    fn push(&self, streams: Vec<LogStream>) -> Result<PushOutcome, LogStoreError> {
        self.push_at(streams, now_ns())
    }
}

#[cfg(test)]
mod tests;
