//! The store as the rest of pharos sees it: [`Db`], its [`Options`],
//! [`DbStats`] and [`DbError`].
//!
//! Directory layout under the directory given to [`Db::open`]:
//!
//! ```text
//! wal/                    the WAL (pharos-wal segments)
//! checkpoint.NNNNNNNN     live series + metadata, replayed before WAL segment NNNNNNNN
//! blocks/<id>/            immutable blocks: meta.json, index, chunks, tombstones
//! ```
//!
//! `Db` is a cheap-to-clone handle (`Arc` inside) implementing
//! [`Appendable`] and [`Queryable`]. [`Db::maintenance`] cuts blocks from the
//! head, compacts and applies retention; the caller runs it periodically.
//! [`Db::delete_series`] records tombstones (head: WAL record; block:
//! `tombstones` file); [`Db::clean_tombstones`] rewrites blocks without the
//! deleted samples. Both take the maintenance lock, so no block is cut or
//! compacted meanwhile.
//!
//! **Crash safety of a block cut** (see `docs/format/wal-records.md`): the head's
//! lower bound is raised and a WAL segment cut under the commit lock; the block
//! is written and renamed into place; the head is truncated; a checkpoint of
//! live series is written atomically; only then are WAL segments whose samples
//! are all in blocks deleted. A crash between any two steps replays to the same
//! data (samples older than the newest block are skipped on replay).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use pharos_model::{
    Appendable, Appender, Matcher, MetricMetadata, Querier, Queryable, Series, StorageError,
};
use pharos_wal::{FsyncPolicy, Wal, WalError, WalOptions, WalStats};

use crate::block::{Block, BlockError};
use crate::compact;
use crate::head::{Head, HeadOptions, WalLog, REJECT_REASONS};
use crate::head_append::HeadAppender;
use crate::head_wal::{ReplayStats, WalBackend};
use crate::querier::merge_sources;

/// Samples per head chunk before a new one is cut.
pub const CHUNK_SAMPLES: usize = 120;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// How the store behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Blocks whose newest sample is older than this behind the newest data are deleted.
    pub retention: Duration,
    /// When set, the oldest blocks are deleted while blocks take more bytes than this.
    pub retention_size_bytes: Option<u64>,
    pub wal: WalOptions,
    /// Time range of a block cut from the head, in milliseconds (2h).
    pub block_range_ms: i64,
    /// How far behind the newest sample out-of-order samples are accepted (0: never).
    pub out_of_order_window_ms: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retention: Duration::from_secs(15 * 24 * 3600),
            retention_size_bytes: None,
            wal: WalOptions::default(),
            block_range_ms: 2 * 3600 * 1000,
            out_of_order_window_ms: 0,
        }
    }
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    #[error("i/o error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    #[error("store is closed")]
    Closed,
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> DbError + '_ {
    move |source| DbError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Figures about the store, for `/metrics` and `tsdb status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DbStats {
    pub head_series: u64,
    pub head_chunks: u64,
    pub head_samples: u64,
    pub head_min_time: Option<i64>,
    pub head_max_time: Option<i64>,
    pub head_symbols: u64,
    pub head_symbol_bytes: u64,
    pub blocks: usize,
    pub blocks_bytes: u64,
    pub blocks_samples: u64,
    pub blocks_min_time: Option<i64>,
    pub wal: Option<WalStats>,
    pub samples_appended_total: u64,
    pub series_created_total: u64,
    pub series_removed_total: u64,
    /// `(reason, count)` with reasons as in `AppendError::reason`.
    pub rejected_samples_total: Vec<(&'static str, u64)>,
    pub out_of_order_samples_total: u64,
    pub replay: ReplayStats,
}

/// What one [`Db::maintenance`] run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub blocks_cut: usize,
    pub compactions: usize,
    pub blocks_deleted: usize,
}

/// The WAL behind a mutex, as the head and the store use it.
struct WalHandle {
    wal: Mutex<Wal>,
}

impl WalLog for WalHandle {
    fn log(&self, records: &[&[u8]]) -> io::Result<u32> {
        let mut w = self.wal.lock();
        w.append_batch(records).map_err(io::Error::other)?;
        Ok(w.current_segment())
    }
}

impl WalBackend for WalHandle {
    fn replay(&self, from: u32, f: &mut dyn FnMut(u32, &[u8])) -> io::Result<()> {
        let w = self.wal.lock();
        for r in w.replay().map_err(io::Error::other)? {
            match r {
                Ok((seg, rec)) => {
                    if seg >= from {
                        f(seg, &rec);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "stopping WAL replay at damaged record");
                    break;
                }
            }
        }
        Ok(())
    }
    fn cut_segment(&self) -> io::Result<u32> {
        self.wal.lock().cut_segment().map_err(io::Error::other)
    }
    fn truncate_before(&self, seg: u32) -> io::Result<()> {
        self.wal
            .lock()
            .truncate_before(seg)
            .map_err(io::Error::other)
    }
}

struct DbInner {
    dir: PathBuf,
    blocks_dir: PathBuf,
    opts: Options,
    head: Arc<Head>,
    wal: Arc<WalHandle>,
    blocks: RwLock<Vec<Arc<Block>>>,
    maint: Mutex<()>,
    replay: ReplayStats,
    /// Dropping it stops the fsync thread.
    _sync_stop: Option<mpsc::Sender<()>>,
}

/// The metrics store. Clone it freely: clones share one store.
#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

fn max_compaction_range(opts: &Options) -> i64 {
    let tenth = i64::try_from(opts.retention.as_millis() / 10).unwrap_or(i64::MAX);
    tenth.min(31 * DAY_MS)
}

impl Db {
    /// Opens (creating) the store in `dir`, loading blocks and replaying the WAL.
    pub fn open(dir: &Path, opts: Options) -> Result<Db, DbError> {
        if opts.block_range_ms <= 0 {
            return Err(DbError::InvalidOptions(format!(
                "block range {} ms must be positive",
                opts.block_range_ms
            )));
        }
        if opts.out_of_order_window_ms < 0 {
            return Err(DbError::InvalidOptions(
                "out-of-order window must not be negative".into(),
            ));
        }
        let blocks_dir = dir.join("blocks");
        fs::create_dir_all(&blocks_dir).map_err(io_at(&blocks_dir))?;
        let blocks = load_blocks(&blocks_dir)?;
        let wal = Arc::new(WalHandle {
            wal: Mutex::new(Wal::open(&dir.join("wal"), opts.wal.clone())?),
        });
        let head = Arc::new(Head::new(
            HeadOptions {
                block_range: opts.block_range_ms,
                ooo_window: opts.out_of_order_window_ms,
                chunk_samples: CHUNK_SAMPLES,
            },
            Some(Arc::clone(&wal) as Arc<dyn WalLog>),
        ));
        if let Some(max) = blocks.iter().map(|b| b.meta.max_time).max() {
            head.min_valid.store(max, Ordering::Release);
        }
        let started = std::time::Instant::now();
        let replay = head.replay(dir, &*wal).map_err(io_at(dir))?;
        tracing::info!(
            series = head.num_series(),
            samples = replay.samples,
            took_ms = started.elapsed().as_millis() as u64,
            "metrics WAL replayed"
        );
        let sync_stop = match opts.wal.fsync {
            FsyncPolicy::Interval(every) => Some(spawn_sync_thread(Arc::clone(&wal), every)),
            _ => None,
        };
        Ok(Db {
            inner: Arc::new(DbInner {
                dir: dir.to_path_buf(),
                blocks_dir,
                opts,
                head,
                wal,
                blocks: RwLock::new(blocks),
                maint: Mutex::new(()),
                replay,
                _sync_stop: sync_stop,
            }),
        })
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// Stops accepting commits, waits for those in flight and fsyncs the WAL.
    pub fn close(&self) -> Result<(), DbError> {
        let head = &self.inner.head;
        let _w = head.commit_lock.write();
        head.closed.store(true, Ordering::Release);
        self.inner.wal.wal.lock().sync()?;
        Ok(())
    }

    /// Fsyncs the WAL now.
    pub fn sync(&self) -> Result<(), DbError> {
        self.inner.wal.wal.lock().sync()?;
        Ok(())
    }

    /// Metadata of every metric family, by family name.
    pub fn metadata(&self) -> HashMap<String, MetricMetadata> {
        self.inner.head.metadata.read().clone()
    }

    /// Current figures.
    pub fn stats(&self) -> DbStats {
        let head = &self.inner.head;
        let c = &head.counters;
        let (symbols, symbol_bytes, series) = {
            let ix = head.index.read();
            (
                ix.syms.len() as u64,
                ix.syms.bytes() as u64,
                ix.num_series(),
            )
        };
        let min = head.min_time.load(Ordering::Acquire);
        let max = head.max_time.load(Ordering::Acquire);
        let blocks = self.inner.blocks.read();
        DbStats {
            head_series: series,
            head_chunks: c.chunks.load(Ordering::Relaxed).max(0) as u64,
            head_samples: c.samples.load(Ordering::Relaxed).max(0) as u64,
            head_min_time: (min != i64::MAX).then_some(min),
            head_max_time: (max != i64::MIN).then_some(max),
            head_symbols: symbols,
            head_symbol_bytes: symbol_bytes,
            blocks: blocks.len(),
            blocks_bytes: blocks.iter().map(|b| b.size_bytes).sum(),
            blocks_samples: blocks.iter().map(|b| b.meta.stats.num_samples).sum(),
            blocks_min_time: blocks.iter().map(|b| b.meta.min_time).min(),
            wal: Some(self.inner.wal.wal.lock().stats()),
            samples_appended_total: c.samples_appended.load(Ordering::Relaxed),
            series_created_total: c.series_created.load(Ordering::Relaxed),
            series_removed_total: c.series_removed.load(Ordering::Relaxed),
            rejected_samples_total: REJECT_REASONS
                .iter()
                .zip(c.rejected.iter())
                .map(|(r, n)| (*r, n.load(Ordering::Relaxed)))
                .collect(),
            out_of_order_samples_total: c.ooo_samples.load(Ordering::Relaxed),
            replay: self.inner.replay,
        }
    }

    /// Metas of the blocks on disk, oldest first.
    pub fn blocks(&self) -> Vec<crate::BlockMeta> {
        self.inner
            .blocks
            .read()
            .iter()
            .map(|b| b.meta.clone())
            .collect()
    }

    /// Cuts blocks from the head when it spans more than 1.5 block ranges,
    /// compacts blocks, and deletes blocks beyond retention.
    pub fn maintenance(&self) -> Result<MaintenanceReport, DbError> {
        let _m = self.inner.maint.lock();
        let mut report = MaintenanceReport {
            blocks_cut: self.cut_blocks(false)?,
            ..Default::default()
        };
        report.compactions = self.compact()?;
        report.blocks_deleted = self.apply_retention()?;
        Ok(report)
    }

    /// Writes everything in the head into blocks (used before measuring disk
    /// usage, or before a backup). New samples must be newer than the newest
    /// sample flushed.
    pub fn flush_head(&self) -> Result<usize, DbError> {
        let _m = self.inner.maint.lock();
        self.cut_blocks(true)
    }

    fn cut_blocks(&self, force: bool) -> Result<usize, DbError> {
        let head = &self.inner.head;
        let r = self.inner.opts.block_range_ms;
        let mut cut = 0;
        loop {
            let min = head.min_time.load(Ordering::Acquire);
            let max = head.max_time.load(Ordering::Acquire);
            if min == i64::MAX || max == i64::MIN || min > max {
                break;
            }
            if !force && max - min <= r / 2 * 3 {
                break;
            }
            let start = min.div_euclid(r) * r;
            let end = start.saturating_add(r);
            let end = if force && max < end { max + 1 } else { end };
            let from = start.max(head.min_valid.load(Ordering::Acquire));
            self.persist_range(from, end)?;
            cut += 1;
        }
        Ok(cut)
    }

    /// Moves the head's samples in `[mint, maxt)` into a block and truncates
    /// the head and the WAL behind it.
    fn persist_range(&self, mint: i64, maxt: i64) -> Result<(), DbError> {
        let inner = &self.inner;
        let head = &inner.head;
        let seg = {
            let _w = head.commit_lock.write();
            head.min_valid.fetch_max(maxt, Ordering::AcqRel);
            inner.wal.cut_segment().map_err(io_at(&inner.dir))?
        };
        let bd = &inner.blocks_dir;
        if let Some(meta) = head.write_block(bd, mint, maxt).map_err(io_at(bd))? {
            let block = Block::open(&bd.join(&meta.id))?;
            tracing::info!(id = %meta.id, mint, maxt, series = meta.stats.num_series, samples = meta.stats.num_samples, "block written");
            let mut blocks = inner.blocks.write();
            blocks.push(Arc::new(block));
            blocks.sort_by_key(|b| b.meta.min_time);
        }
        head.truncate(maxt);
        let keep_from = {
            let m = head.seg_max_t.lock();
            m.iter()
                .find(|(_, &t)| t >= maxt)
                .map_or(seg, |(&s, _)| s.min(seg))
        };
        head.write_checkpoint(&inner.dir, keep_from)
            .map_err(io_at(&inner.dir))?;
        inner
            .wal
            .truncate_before(keep_from)
            .map_err(io_at(&inner.dir))?;
        head.seg_max_t.lock().retain(|&s, _| s >= keep_from);
        Ok(())
    }

    fn compact(&self) -> Result<usize, DbError> {
        let inner = &self.inner;
        let levels = compact::levels(inner.opts.block_range_ms, max_compaction_range(&inner.opts));
        let mut done = 0;
        loop {
            let blocks = inner.blocks.read().clone();
            let persisted = inner.head.min_valid.load(Ordering::Acquire);
            let Some(group) = compact::plan(&blocks, &levels, persisted) else {
                break;
            };
            let inputs: Vec<Arc<Block>> = group.iter().map(|&i| Arc::clone(&blocks[i])).collect();
            let bd = &inner.blocks_dir;
            let meta = compact::merge_blocks(&inputs, bd, CHUNK_SAMPLES).map_err(io_at(bd))?;
            let merged = Arc::new(Block::open(&bd.join(&meta.id))?);
            tracing::info!(id = %meta.id, inputs = inputs.len(), "blocks compacted");
            {
                let mut list = inner.blocks.write();
                list.retain(|b| !inputs.iter().any(|x| x.meta.id == b.meta.id));
                list.push(merged);
                list.sort_by_key(|b| b.meta.min_time);
            }
            for b in inputs {
                delete_block_dir(&b.dir);
            }
            done += 1;
        }
        Ok(done)
    }

    fn apply_retention(&self) -> Result<usize, DbError> {
        let inner = &self.inner;
        let retention = i64::try_from(inner.opts.retention.as_millis()).unwrap_or(i64::MAX);
        let mut doomed: Vec<Arc<Block>> = Vec::new();
        {
            let mut list = inner.blocks.write();
            let newest = list
                .iter()
                .map(|b| b.meta.max_time)
                .max()
                .unwrap_or(i64::MIN)
                .max(inner.head.max_time.load(Ordering::Acquire));
            let cutoff = newest.saturating_sub(retention);
            list.retain(|b| {
                let keep = b.meta.max_time > cutoff;
                if !keep {
                    doomed.push(Arc::clone(b));
                }
                keep
            });
            if let Some(limit) = inner.opts.retention_size_bytes {
                let mut total: u64 = list.iter().map(|b| b.size_bytes).sum();
                while total > limit && !list.is_empty() {
                    let b = list.remove(0);
                    total -= b.size_bytes;
                    doomed.push(b);
                }
            }
        }
        let n = doomed.len();
        for b in doomed {
            tracing::info!(id = %b.meta.id, "deleting block beyond retention");
            delete_block_dir(&b.dir);
        }
        Ok(n)
    }

    /// Deletes the samples in `[mint, maxt]` (inclusive, milliseconds) of the
    /// series matching `matchers`, from the head and every block, as
    /// Prometheus does: tombstones hide them from queries at once and keep
    /// them out of blocks cut or compacted later; [`Db::clean_tombstones`]
    /// rewrites the blocks without them. Durable when it returns: the head's
    /// tombstones are in the WAL (fsynced), a block's in its `tombstones` file.
    /// Tombstones are clamped to the samples each series holds now, so
    /// samples appended afterwards are visible.
    pub fn delete_series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<(), DbError> {
        if mint > maxt {
            return Ok(());
        }
        let _m = self.inner.maint.lock();
        if self.inner.head.closed.load(Ordering::Acquire) {
            return Err(DbError::Closed);
        }
        let mut series = 0;
        for b in self.block_list() {
            series += b.delete(matchers, mint, maxt)?;
        }
        let head = &self.inner.head;
        let n = head
            .delete(matchers, mint, maxt)
            .map_err(io_at(&self.inner.dir))?;
        if n > 0 {
            self.inner.wal.wal.lock().sync()?;
        }
        tracing::info!(
            mint,
            maxt,
            block_series = series,
            head_series = n,
            "series deleted (tombstones recorded)"
        );
        Ok(())
    }

    /// Rewrites every block that has tombstones without the deleted samples
    /// (a new block of the same range replaces it) and drops its tombstones.
    /// The head's tombstones stay until its samples are cut into a block,
    /// which leaves the deleted samples out.
    pub fn clean_tombstones(&self) -> Result<(), DbError> {
        let inner = &self.inner;
        let _m = inner.maint.lock();
        let bd = &inner.blocks_dir;
        for old in self.block_list() {
            if old.tombstones.read().is_empty() {
                continue;
            }
            let meta = compact::rewrite_block(&old, bd, CHUNK_SAMPLES).map_err(io_at(bd))?;
            let fresh = Arc::new(Block::open(&bd.join(&meta.id))?);
            tracing::info!(old = %old.meta.id, new = %meta.id, series = meta.stats.num_series, "block rewritten without tombstones");
            {
                let mut list = inner.blocks.write();
                list.retain(|b| b.meta.id != old.meta.id);
                list.push(fresh);
                list.sort_by_key(|b| b.meta.min_time);
            }
            delete_block_dir(&old.dir);
        }
        Ok(())
    }

    pub(crate) fn head(&self) -> &Arc<Head> {
        &self.inner.head
    }

    pub(crate) fn block_list(&self) -> Vec<Arc<Block>> {
        self.inner.blocks.read().clone()
    }
}

fn delete_block_dir(dir: &Path) {
    let tmp = dir.with_extension("deleted");
    let res = fs::rename(dir, &tmp).and_then(|_| fs::remove_dir_all(&tmp));
    if let Err(e) = res {
        tracing::warn!(dir = %dir.display(), error = %e, "could not delete block");
    }
}

fn load_blocks(blocks_dir: &Path) -> Result<Vec<Arc<Block>>, DbError> {
    let mut blocks = Vec::new();
    for e in fs::read_dir(blocks_dir).map_err(io_at(blocks_dir))? {
        let e = e.map_err(io_at(blocks_dir))?;
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") || name.ends_with(".deleted") {
            tracing::info!(dir = %path.display(), "removing leftover block directory");
            let _ = fs::remove_dir_all(&path);
            continue;
        }
        if !path.is_dir() {
            continue;
        }
        match Block::open(&path) {
            Ok(b) => blocks.push(Arc::new(b)),
            Err(err) => {
                tracing::error!(dir = %path.display(), error = %err, "skipping unreadable block")
            }
        }
    }
    // A compacted or rewritten block replaces the blocks it was made of; if a
    // crash left both, drop the replaced ones. A block stands for its sources
    // (itself when it lists none); one block replaces another when it stands
    // for more, or for the same and is newer (ids sort by creation time).
    let covers: Vec<Vec<&str>> = blocks
        .iter()
        .map(|b| {
            let c = &b.meta.compaction.sources;
            if c.is_empty() {
                vec![b.meta.id.as_str()]
            } else {
                c.iter().map(String::as_str).collect()
            }
        })
        .collect();
    let stale: Vec<bool> = (0..blocks.len())
        .map(|i| {
            (0..blocks.len()).any(|j| {
                j != i
                    && covers[i].iter().all(|s| covers[j].contains(s))
                    && (covers[j].len() > covers[i].len() || blocks[j].meta.id > blocks[i].meta.id)
            })
        })
        .collect();
    drop(covers);
    let mut kept = Vec::with_capacity(blocks.len());
    for (b, st) in blocks.into_iter().zip(stale) {
        if st {
            tracing::info!(dir = %b.dir.display(), "removing block replaced by a newer one");
            delete_block_dir(&b.dir);
        } else {
            kept.push(b);
        }
    }
    let mut blocks = kept;
    blocks.sort_by_key(|b| b.meta.min_time);
    Ok(blocks)
}

fn spawn_sync_thread(wal: Arc<WalHandle>, every: Duration) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    let tick = (every / 2).max(Duration::from_millis(10));
    let spawned = std::thread::Builder::new()
        .name("tsdb-wal-sync".into())
        .spawn(move || loop {
            match rx.recv_timeout(tick) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(e) = wal.wal.lock().sync_if_due() {
                        tracing::warn!(error = %e, "WAL fsync failed");
                    }
                }
                _ => return,
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the WAL fsync thread; relying on appends to fsync");
    }
    tx
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(HeadAppender::new(Arc::clone(&self.inner.head)))
    }
}

/// A querier over the head and the blocks overlapping its range.
struct DbQuerier {
    head: Arc<Head>,
    blocks: Vec<Arc<Block>>,
    mint: i64,
    maxt: i64,
}

impl Queryable for Db {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        let blocks = self
            .inner
            .blocks
            .read()
            .iter()
            .filter(|b| b.meta.max_time > mint && b.meta.min_time <= maxt)
            .cloned()
            .collect();
        Ok(Box::new(DbQuerier {
            head: Arc::clone(&self.inner.head),
            blocks,
            mint,
            maxt,
        }))
    }
}

fn sorted_union(mut lists: Vec<Vec<String>>) -> Vec<String> {
    if lists.len() == 1 {
        return lists.pop().unwrap_or_default();
    }
    let mut all: Vec<String> = lists.into_iter().flatten().collect();
    all.sort();
    all.dedup();
    all
}

impl Querier for DbQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Box<dyn Series>>, StorageError> {
        let mut sources = Vec::with_capacity(self.blocks.len() + 1);
        for b in &self.blocks {
            sources.push(b.select(self.mint, self.maxt, matchers)?);
        }
        sources.push(self.head.select(self.mint, self.maxt, matchers, true));
        Ok(merge_sources(sources)
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn Series>)
            .collect())
    }

    fn select_unsorted(&self, matchers: &[Matcher]) -> Result<Vec<Box<dyn Series>>, StorageError> {
        // Merging with blocks needs label order; the head alone does not.
        if !self.blocks.is_empty() {
            return self.select(matchers);
        }
        Ok(self
            .head
            .select(self.mint, self.maxt, matchers, false)
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn Series>)
            .collect())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut lists: Vec<Vec<String>> = self
            .blocks
            .iter()
            .map(|b| b.label_names(matchers))
            .collect();
        lists.push(self.head.label_names(matchers));
        Ok(sorted_union(lists))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut lists: Vec<Vec<String>> = self
            .blocks
            .iter()
            .map(|b| b.label_values(name, matchers))
            .collect();
        lists.push(self.head.label_values(name, matchers));
        Ok(sorted_union(lists))
    }
}
