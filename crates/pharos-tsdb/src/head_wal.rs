//! The head's durability: WAL replay on start and checkpoints on truncation.
//!
//! Replay reads the newest checkpoint (`checkpoint.NNNNNNNN`: every live
//! series record and the metadata at the time of the checkpoint, written
//! atomically), then the WAL segments from `NNNNNNNN` on, oldest first, and
//! rebuilds the head: series keep their refs, samples older than the newest
//! block are skipped (they are in the block), samples for refs without a series
//! record are counted and skipped (their series were garbage-collected after
//! their samples went into a block). Tombstone records are applied after
//! everything else (a tombstone hides samples whenever they were appended);
//! intervals wholly older than the newest block are dropped, since they were
//! applied when the block was written. The checkpoint carries the head's
//! tombstones after its series. The checkpoint file format is in
//! `docs/format/wal-records.md`.
//!
//! This file knows the record encoding and the checkpoint file, not the WAL's
//! segment format (it talks to the WAL through [`WalBackend`]).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;

use pharos_model::{Label, Labels, MetricMetadata};

use crate::fxhash::FxMap;
use crate::head::{Head, MemSeries, WalLog};
use crate::record::{self, RecordVisitor};

/// What the store needs from a write-ahead log, beyond logging commits.
pub(crate) trait WalBackend: WalLog {
    /// Calls `f(segment, record)` for every record, oldest first, starting at
    /// segment `from`.
    fn replay(&self, from: u32, f: &mut dyn FnMut(u32, &[u8])) -> io::Result<()>;
    /// Starts a new segment and returns its number.
    fn cut_segment(&self) -> io::Result<u32>;
    /// Deletes every segment before `seg`.
    fn truncate_before(&self, seg: u32) -> io::Result<()>;
}

const CHECKPOINT_MAGIC: &[u8; 8] = b"PHXCKPT1";
const CHECKPOINT_PREFIX: &str = "checkpoint.";
const SERIES_PER_RECORD: usize = 1024;

/// What replay found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplayStats {
    pub checkpoint_series: u64,
    pub series_records: u64,
    pub samples: u64,
    pub samples_skipped_old: u64,
    pub samples_unknown_series: u64,
    pub samples_rejected: u64,
    pub corrupt_records: u64,
}

/// Samples handed to one replay worker.
type Batch = Vec<(Arc<MemSeries>, i64, f64)>;
const BATCH: usize = 4096;

/// What a replay worker applied.
#[derive(Default)]
struct Applied {
    samples: u64,
    rejected: u64,
    stored: i64,
    chunks: i64,
    min_t: i64,
    max_t: i64,
}

/// Applies batches of samples; samples of one series always go to the same
/// worker, in WAL order.
fn replay_worker(head: &Head, rx: mpsc::Receiver<Batch>) -> Applied {
    let ooo_min = (head.opts.ooo_window > 0).then_some(i64::MIN);
    let mut a = Applied {
        min_t: i64::MAX,
        max_t: i64::MIN,
        ..Applied::default()
    };
    for batch in rx {
        for (s, t, v) in batch {
            match s.data.lock().apply(t, v, ooo_min, &head.opts) {
                Ok(r) => {
                    a.samples += 1;
                    if r.stored {
                        a.stored += 1;
                        a.min_t = a.min_t.min(t);
                        a.max_t = a.max_t.max(t);
                    }
                    a.chunks += i64::from(r.new_chunk);
                }
                Err(_) => a.rejected += 1,
            }
        }
    }
    a
}

/// Series by WAL ref: a dense vector for the usual small refs.
#[derive(Default)]
struct RefTable {
    dense: Vec<Option<Arc<MemSeries>>>,
    sparse: FxMap<u32, Arc<MemSeries>>,
}

impl RefTable {
    const DENSE_MAX: u32 = 1 << 26;

    fn insert(&mut self, r: u32, s: Arc<MemSeries>) {
        if r < Self::DENSE_MAX {
            let i = r as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, None);
            }
            self.dense[i] = Some(s);
        } else {
            self.sparse.insert(r, s);
        }
    }

    fn get(&self, r: u32) -> Option<&Arc<MemSeries>> {
        if r < Self::DENSE_MAX {
            self.dense.get(r as usize).and_then(|s| s.as_ref())
        } else {
            self.sparse.get(&r)
        }
    }
}

/// Decodes records on the calling thread, creates series there, and hands
/// samples to the workers.
struct Replayer<'a> {
    head: &'a Head,
    refs: RefTable,
    segment: u32,
    seg_max_t: BTreeMap<u32, i64>,
    max_ref: u32,
    stats: ReplayStats,
    pending: Vec<Batch>,
    workers: Vec<mpsc::SyncSender<Batch>>,
    /// Tombstones seen, applied once every series is known.
    stones: Vec<(u32, i64, i64)>,
}

impl Replayer<'_> {
    fn flush(&mut self, shard: usize) {
        let b = std::mem::replace(&mut self.pending[shard], Vec::with_capacity(BATCH));
        if !b.is_empty() {
            // A worker only stops early if it panicked; the join reports that.
            let _ = self.workers[shard].send(b);
        }
    }
}

impl RecordVisitor for Replayer<'_> {
    fn series(&mut self, sref: u32, labels: &[(&str, &str)]) {
        self.stats.series_records += 1;
        self.max_ref = self.max_ref.max(sref);
        let ls = Labels::from_sorted_unchecked(
            labels
                .iter()
                .map(|(n, v)| Label {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
        );
        let (s, _) = self.head.get_or_create(&ls, Some(sref), false);
        s.logged.store(true, Ordering::Release);
        self.refs.insert(sref, s);
    }

    fn sample(&mut self, sref: u32, t: i64, v: f64) {
        self.max_ref = self.max_ref.max(sref);
        let min_valid = self.head.min_valid.load(Ordering::Relaxed);
        if t < min_valid {
            self.stats.samples_skipped_old += 1;
            return;
        }
        let Some(s) = self.refs.get(sref) else {
            self.stats.samples_unknown_series += 1;
            return;
        };
        let e = self.seg_max_t.entry(self.segment).or_insert(t);
        *e = (*e).max(t);
        let shard = sref as usize % self.workers.len();
        self.pending[shard].push((Arc::clone(s), t, v));
        if self.pending[shard].len() >= BATCH {
            self.flush(shard);
        }
    }

    fn metadata(&mut self, family: &str, m: MetricMetadata) {
        self.head.metadata.write().insert(family.to_string(), m);
    }

    fn tombstone(&mut self, sref: u32, mint: i64, maxt: i64) {
        self.max_ref = self.max_ref.max(sref);
        self.stones.push((sref, mint, maxt));
    }
}

fn checkpoint_path(dir: &Path, seg: u32) -> PathBuf {
    dir.join(format!("{CHECKPOINT_PREFIX}{seg:08}"))
}

/// Checkpoints in `dir`, newest last.
fn list_checkpoints(dir: &Path) -> io::Result<Vec<(u32, PathBuf)>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in rd {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name.strip_prefix(CHECKPOINT_PREFIX) {
            if let Ok(seg) = n.parse::<u32>() {
                out.push((seg, e.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the frames of a checkpoint file; stops (with a warning) at the first
/// damaged frame.
fn read_checkpoint(path: &Path, f: &mut dyn FnMut(&[u8])) -> io::Result<()> {
    let mut data = Vec::new();
    fs::File::open(path)?.read_to_end(&mut data)?;
    if data.len() < 8 || &data[..8] != CHECKPOINT_MAGIC {
        tracing::warn!(file = %path.display(), "checkpoint has a bad header; ignored");
        return Ok(());
    }
    let mut pos = 8usize;
    while pos < data.len() {
        let Some(hdr) = data.get(pos..pos + 8) else {
            tracing::warn!(file = %path.display(), offset = pos, "truncated checkpoint frame header");
            break;
        };
        let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        let Some(body) = data.get(pos + 8..pos + 8 + len) else {
            tracing::warn!(file = %path.display(), offset = pos, "truncated checkpoint frame");
            break;
        };
        if crc32c::crc32c(body) != crc {
            tracing::warn!(file = %path.display(), offset = pos, "checkpoint frame checksum mismatch");
            break;
        }
        f(body);
        pos += 8 + len;
    }
    Ok(())
}

fn write_frame(w: &mut impl Write, rec: &[u8]) -> io::Result<()> {
    w.write_all(&(rec.len() as u32).to_le_bytes())?;
    w.write_all(&crc32c::crc32c(rec).to_le_bytes())?;
    w.write_all(rec)
}

/// Fsyncs a directory so that renames and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

impl Head {
    /// Rebuilds the head from the newest checkpoint in `dir` and the WAL.
    /// `min_valid` (the end of the newest block) must be set before.
    pub(crate) fn replay(&self, dir: &Path, wal: &dyn WalBackend) -> io::Result<ReplayStats> {
        let n = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 8);
        std::thread::scope(|scope| {
            let mut senders = Vec::with_capacity(n);
            let mut handles = Vec::with_capacity(n);
            for _ in 0..n {
                let (tx, rx) = mpsc::sync_channel::<Batch>(4);
                senders.push(tx);
                handles.push(scope.spawn(move || replay_worker(self, rx)));
            }
            let mut r = Replayer {
                head: self,
                refs: RefTable::default(),
                segment: 0,
                seg_max_t: BTreeMap::new(),
                max_ref: 0,
                stats: ReplayStats::default(),
                pending: (0..n).map(|_| Vec::with_capacity(BATCH)).collect(),
                workers: senders,
                stones: Vec::new(),
            };
            let res = self.replay_into(dir, wal, &mut r);
            for shard in 0..n {
                r.flush(shard);
            }
            r.workers.clear();
            let mut stored = 0i64;
            let mut chunks = 0i64;
            let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
            for h in handles {
                let a = h
                    .join()
                    .map_err(|_| io::Error::other("replay worker panicked"))?;
                r.stats.samples += a.samples;
                r.stats.samples_rejected += a.rejected;
                stored += a.stored;
                chunks += a.chunks;
                min_t = min_t.min(a.min_t);
                max_t = max_t.max(a.max_t);
            }
            res?;
            self.next_ref
                .fetch_max(r.max_ref.saturating_add(1), Ordering::AcqRel);
            if stored > 0 {
                self.observe_times(min_t, max_t);
            }
            self.counters.chunks.fetch_add(chunks, Ordering::Relaxed);
            self.counters.samples.fetch_add(stored, Ordering::Relaxed);
            *self.seg_max_t.lock() = std::mem::take(&mut r.seg_max_t);
            let min_valid = self.min_valid.load(Ordering::Acquire);
            let mut t = self.tombstones.write();
            for &(sref, mint, maxt) in &r.stones {
                // Older intervals were applied when their block was written.
                if maxt >= min_valid && self.series_by_ref(sref).is_some() {
                    t.add(sref, mint, maxt);
                }
            }
            Ok(r.stats)
        })
    }

    fn replay_into(
        &self,
        dir: &Path,
        wal: &dyn WalBackend,
        r: &mut Replayer<'_>,
    ) -> io::Result<()> {
        let mut from = 0;
        if let Some((seg, path)) = list_checkpoints(dir)?.pop() {
            from = seg;
            let mut corrupt = 0u64;
            read_checkpoint(&path, &mut |rec| {
                if record::decode(rec, r).is_err() {
                    corrupt += 1;
                }
            })?;
            r.stats.corrupt_records += corrupt;
            r.stats.checkpoint_series = r.stats.series_records;
        }
        let mut corrupt = 0u64;
        wal.replay(from, &mut |seg, rec| {
            r.segment = seg;
            if let Err(e) = record::decode(rec, r) {
                tracing::warn!(segment = seg, error = %e, "skipping undecodable WAL record");
                corrupt += 1;
            }
        })?;
        r.stats.corrupt_records += corrupt;
        Ok(())
    }

    /// Writes a checkpoint of every live series and the metadata, to be
    /// replayed before WAL segment `seg`; removes older checkpoints.
    pub(crate) fn write_checkpoint(&self, dir: &Path, seg: u32) -> io::Result<()> {
        let path = checkpoint_path(dir, seg);
        let tmp = path.with_extension("tmp");
        let mut w = BufWriter::new(fs::File::create(&tmp)?);
        w.write_all(CHECKPOINT_MAGIC)?;
        let series = self.all_series();
        let mut buf = Vec::new();
        for batch in series.chunks(SERIES_PER_RECORD) {
            record::begin(&mut buf, record::REC_SERIES);
            for s in batch {
                self.with_labels(s, |pairs| {
                    record::put_series(&mut buf, s.sref, pairs.iter().copied())
                });
            }
            write_frame(&mut w, &buf)?;
        }
        {
            let t = self.tombstones.read();
            let all: Vec<(u32, i64, i64)> = t
                .iter()
                .flat_map(|(r, iv)| iv.iter().map(move |(a, b)| (r, a, b)))
                .collect();
            for batch in all.chunks(SERIES_PER_RECORD) {
                record::encode_tombstones(&mut buf, batch.iter().copied());
                write_frame(&mut w, &buf)?;
            }
        }
        {
            let meta = self.metadata.read();
            if !meta.is_empty() {
                record::begin(&mut buf, record::REC_METADATA);
                for (f, m) in meta.iter() {
                    record::put_metadata(&mut buf, f, m);
                }
                write_frame(&mut w, &buf)?;
            }
        }
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &path)?;
        sync_dir(dir)?;
        for (s, p) in list_checkpoints(dir)? {
            if s < seg {
                fs::remove_file(p)?;
            }
        }
        Ok(())
    }
}
