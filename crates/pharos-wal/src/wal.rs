//! The write side of the WAL: [`Wal`] — opening and repairing a directory of segments, appending
//! framed records, fsync policy, segment rotation and truncation, and [`WalStats`].
//!
//! Knows nothing about what records contain or who replays them.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::segment::{
    encode_header, encode_record, parse_segment_name, segment_path, SegmentReader, FRAME_LEN,
    HEADER_LEN,
};
use crate::{FsyncPolicy, WalError, WalOptions, MAX_RECORD_LEN};

/// Counters and gauges describing a WAL, for self-telemetry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WalStats {
    /// Sum of the sizes of all segment files.
    pub bytes_on_disk: u64,
    pub segments: u32,
    pub fsyncs_total: u64,
    pub fsync_seconds_total: f64,
    pub last_fsync_seconds: f64,
    /// Records appended since `open`.
    pub records_written: u64,
    /// Bytes appended since `open`, framing included.
    pub bytes_written: u64,
    /// Corrupt or torn tails cut off (and segments dropped) by `open`.
    pub corruptions_repaired: u64,
}

/// A segmented, append-only log of opaque byte records. See the crate docs.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    /// Segment index -> file size in bytes.
    segments: BTreeMap<u32, u64>,
    current: u32,
    /// Header bytes of the current segment (a version 1 segment's are fewer).
    header_len: u64,
    /// Sequence number of the next record appended: the first of the next
    /// segment's header.
    next_seq: u64,
    file: File,
    /// Reused buffer for framing a batch.
    buf: Vec<u8>,
    /// When the oldest write not yet fsynced happened.
    dirty_since: Option<Instant>,
    stats: WalStats,
}

impl Wal {
    /// Opens (creating) the WAL directory, repairing a torn or corrupt tail.
    ///
    /// Segments are scanned oldest first. At the first record that is not intact (partial,
    /// checksum mismatch, garbage) the segment is truncated at that record's offset, and every
    /// later segment is deleted; each action is logged with `tracing::warn!` naming the file and
    /// offset. A gap in segment numbering is treated the same way, and so is a segment whose
    /// first sequence number is not where the segment before it ends (records lost at the end of
    /// that one, e.g. a file cut at a record boundary). Start-up never fails on bad data, only
    /// on I/O errors. Appends continue at the end of the last segment.
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Wal, WalError> {
        fs::create_dir_all(dir).map_err(WalError::io(dir))?;
        let mut found = Vec::new();
        for entry in fs::read_dir(dir).map_err(WalError::io(dir))? {
            let entry = entry.map_err(WalError::io(dir))?;
            if let Some(index) = entry.file_name().to_str().and_then(parse_segment_name) {
                found.push(index);
            }
        }
        found.sort_unstable();

        let mut segments = BTreeMap::new();
        let mut repaired = 0u64;
        let mut broken_at: Option<usize> = None;
        // Where the last segment ends: its header's length and the sequence
        // number after its last record (`None` past a version 1 segment,
        // whose first is unknown).
        let mut header_len = HEADER_LEN;
        let mut next: Option<u64> = None;
        // Records seen, for the next sequence number when the last segment
        // is a version 1 segment.
        let mut seen = 0u64;
        for (i, &index) in found.iter().enumerate() {
            let path = segment_path(dir, index);
            if i > 0 && found[i - 1].checked_add(1) != Some(index) {
                tracing::warn!(file = %path.display(), "gap in wal segment numbering, dropping this and later segments");
                broken_at = Some(i);
                break;
            }
            let scan = scan_segment(&path)?;
            // Where this segment must start.
            let want = next;
            if let (Some(want), Some(first)) = (want, scan.first) {
                if first != want {
                    tracing::warn!(
                        file = %path.display(),
                        first,
                        expected = want,
                        "wal segment does not start where the one before it ends (records lost), dropping this and later segments"
                    );
                    broken_at = Some(i);
                    break;
                }
            }
            seen += scan.records;
            next = scan.first.map(|f| f + scan.records);
            header_len = scan.header_len;
            if let Some(d) = scan.damage {
                tracing::warn!(
                    file = %path.display(),
                    offset = d.offset,
                    reason = d.reason,
                    "truncating corrupt wal tail"
                );
                if scan.good_len < scan.header_len {
                    // The header itself: the segment starts again, empty.
                    let first = want.unwrap_or(seen);
                    next = Some(first);
                    header_len = HEADER_LEN;
                    repair_segment(&path, 0, Some(first))?;
                } else {
                    repair_segment(&path, scan.good_len, None)?;
                }
                repaired += 1;
                segments.insert(index, scan.good_len.max(header_len));
                broken_at = Some(i + 1);
                break;
            }
            segments.insert(index, scan.good_len);
        }
        if let Some(from) = broken_at {
            for &index in found.get(from..).unwrap_or_default() {
                let path = segment_path(dir, index);
                tracing::warn!(file = %path.display(), "deleting wal segment after corruption");
                remove_file(&path)?;
                repaired += 1;
            }
        }

        let (current, file) = match segments.last_key_value() {
            Some((&index, _)) => {
                let path = segment_path(dir, index);
                let file = OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(WalError::io(&path))?;
                (index, file)
            }
            None => {
                let file = create_segment(dir, 0, &opts, 0)?;
                segments.insert(0, HEADER_LEN);
                header_len = HEADER_LEN;
                (0, file)
            }
        };
        let mut wal = Wal {
            dir: dir.to_path_buf(),
            opts,
            segments,
            current,
            header_len,
            next_seq: next.unwrap_or(seen),
            file,
            buf: Vec::new(),
            dirty_since: None,
            stats: WalStats {
                corruptions_repaired: repaired,
                ..WalStats::default()
            },
        };
        wal.refresh_disk_stats();
        Ok(wal)
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Indexes of all segments on disk, oldest first.
    pub fn segments(&self) -> Vec<u32> {
        self.segments.keys().copied().collect()
    }

    /// The segment being appended to.
    pub fn current_segment(&self) -> u32 {
        self.current
    }

    pub fn options(&self) -> &WalOptions {
        &self.opts
    }

    /// Appends one record; see [`Wal::append_batch`].
    pub fn append(&mut self, rec: &[u8]) -> Result<(), WalError> {
        self.append_batch(&[rec])
    }

    /// Appends records with a single `write(2)`, so they survive a process crash once this
    /// returns. A batch is never split across segments: if it does not fit in the current,
    /// non-empty segment, a new segment is started first, and a batch larger than
    /// `segment_size` makes its segment that much larger. With [`FsyncPolicy::Always`] the
    /// segment is fsynced before returning; with [`FsyncPolicy::Interval`] it is fsynced here if
    /// the oldest unsynced write is `interval` old (see [`Wal::sync_if_due`]).
    ///
    /// On a write error the segment is cut back to its previous length, so a failed append
    /// leaves no partial record behind.
    pub fn append_batch(&mut self, recs: &[&[u8]]) -> Result<(), WalError> {
        if recs.is_empty() {
            return Ok(());
        }
        let mut total = 0u64;
        for rec in recs {
            if rec.len() > MAX_RECORD_LEN {
                return Err(WalError::RecordTooLarge {
                    len: rec.len(),
                    max: MAX_RECORD_LEN,
                });
            }
            total += (FRAME_LEN + rec.len()) as u64;
        }
        let size = self.current_size();
        if size > self.header_len && size + total > self.opts.segment_size {
            self.cut_segment()?;
        }
        self.buf.clear();
        self.buf.reserve(total as usize);
        for rec in recs {
            encode_record(&mut self.buf, rec);
        }
        let size = self.current_size();
        if let Err(source) = self.file.write_all(&self.buf) {
            let path = self.current_path();
            // Best effort: remove a partial batch so later appends stay readable.
            let _ = self.file.set_len(size);
            return Err(WalError::Io { path, source });
        }
        if self.buf.capacity() > 4 * 1024 * 1024 {
            self.buf = Vec::new();
        }
        self.segments.insert(self.current, size + total);
        self.stats.records_written += recs.len() as u64;
        self.next_seq += recs.len() as u64;
        self.stats.bytes_written += total;
        self.stats.bytes_on_disk += total;
        self.dirty_since.get_or_insert_with(Instant::now);
        match self.opts.fsync {
            FsyncPolicy::Always => self.sync(),
            FsyncPolicy::Interval(_) => self.sync_if_due().map(|_| ()),
            FsyncPolicy::Never => Ok(()),
        }
    }

    /// Fsyncs the current segment if anything was written since the last fsync.
    pub fn sync(&mut self) -> Result<(), WalError> {
        if self.dirty_since.is_none() {
            return Ok(());
        }
        let start = Instant::now();
        self.file
            .sync_data()
            .map_err(WalError::io(self.current_path()))?;
        let took = start.elapsed().as_secs_f64();
        self.dirty_since = None;
        self.stats.fsyncs_total += 1;
        self.stats.fsync_seconds_total += took;
        self.stats.last_fsync_seconds = took;
        Ok(())
    }

    /// With [`FsyncPolicy::Interval`], fsyncs if the oldest unsynced write is at least
    /// `interval` old; returns whether it did. The owner calls this from a timer (at
    /// [`Wal::next_sync_due`], or every `interval / 2`) so that data written just before traffic
    /// stops is fsynced within about `interval`. A no-op under the other policies.
    pub fn sync_if_due(&mut self) -> Result<bool, WalError> {
        match (self.opts.fsync, self.dirty_since) {
            (FsyncPolicy::Interval(every), Some(since)) if since.elapsed() >= every => {
                self.sync()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// When [`Wal::sync_if_due`] will next have work to do, if anything is unsynced under
    /// [`FsyncPolicy::Interval`].
    pub fn next_sync_due(&self) -> Option<Instant> {
        match (self.opts.fsync, self.dirty_since) {
            (FsyncPolicy::Interval(every), Some(since)) => Some(since + every),
            _ => None,
        }
    }

    /// Closes the current segment (fsyncing it unless the policy is `Never`) and starts a new
    /// one; returns the new segment's index.
    pub fn cut_segment(&mut self) -> Result<u32, WalError> {
        self.cut_segment_at(0)
    }

    /// As [`Wal::cut_segment`], but the new segment's index is at least `min_index`
    /// (indexes may skip: replay reads segments in index order).
    pub fn cut_segment_at(&mut self, min_index: u32) -> Result<u32, WalError> {
        let next = self
            .current
            .checked_add(1)
            .ok_or(WalError::SegmentIndexOverflow)?
            .max(min_index);
        if self.opts.fsync != FsyncPolicy::Never {
            self.sync()?;
        }
        let file = create_segment(&self.dir, next, &self.opts, self.next_seq)?;
        // Any unsynced data was in the old file; under `Never` nobody will sync it.
        self.dirty_since = None;
        self.file = file;
        self.current = next;
        self.header_len = HEADER_LEN;
        self.segments.insert(next, HEADER_LEN);
        self.refresh_disk_stats();
        Ok(next)
    }

    /// Deletes every segment with an index below `segment` (which must not be past the
    /// current segment).
    pub fn truncate_before(&mut self, segment: u32) -> Result<(), WalError> {
        if segment > self.current {
            return Err(WalError::TruncateBeyondCurrent {
                requested: segment,
                current: self.current,
            });
        }
        let doomed: Vec<u32> = self.segments.range(..segment).map(|(&i, _)| i).collect();
        for index in doomed {
            remove_file(&segment_path(&self.dir, index))?;
            self.segments.remove(&index);
        }
        self.refresh_disk_stats();
        Ok(())
    }

    pub fn stats(&self) -> WalStats {
        self.stats.clone()
    }

    fn current_size(&self) -> u64 {
        self.segments
            .get(&self.current)
            .copied()
            .unwrap_or(self.header_len)
    }

    fn current_path(&self) -> PathBuf {
        segment_path(&self.dir, self.current)
    }

    fn refresh_disk_stats(&mut self) {
        self.stats.bytes_on_disk = self.segments.values().sum();
        self.stats.segments = self.segments.len() as u32;
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if self.opts.fsync != FsyncPolicy::Never {
            if let Err(e) = self.sync() {
                tracing::warn!(error = %e, "wal fsync on close failed");
            }
        }
    }
}

/// What reading a segment to its first damaged record found.
struct Scan {
    /// Length of the intact prefix (0 if the header is damaged).
    good_len: u64,
    damage: Option<crate::segment::Damage>,
    /// The header's first sequence number (version 2).
    first: Option<u64>,
    header_len: u64,
    /// Intact records.
    records: u64,
}

fn scan_segment(path: &Path) -> Result<Scan, WalError> {
    let mut reader = match SegmentReader::open(path.to_path_buf())? {
        Ok(r) => r,
        Err(damage) => {
            return Ok(Scan {
                good_len: 0,
                damage: Some(damage),
                first: None,
                header_len: HEADER_LEN,
                records: 0,
            })
        }
    };
    let header_len = reader.offset;
    let mut buf = Vec::new();
    let damage = loop {
        match reader.next_record(&mut buf)? {
            Ok(true) => {}
            Ok(false) => break None,
            Err(damage) => break Some(damage),
        }
    };
    Ok(Scan {
        good_len: reader.offset,
        damage,
        first: reader.first,
        header_len,
        records: reader.records,
    })
}

/// Cuts a segment back to `good_len` bytes; with `header`, to nothing but a new header whose
/// first sequence number is that (its own was damaged).
fn repair_segment(path: &Path, good_len: u64, header: Option<u64>) -> Result<(), WalError> {
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(WalError::io(path))?;
    match header {
        Some(first) => {
            file.set_len(0).map_err(WalError::io(path))?;
            file.write_all(&encode_header(first))
                .map_err(WalError::io(path))?;
        }
        None => file.set_len(good_len).map_err(WalError::io(path))?,
    }
    file.sync_all().map_err(WalError::io(path))
}

/// Creates segment `index` with its header (its first record will be record `first`) and
/// opens it for appending.
fn create_segment(dir: &Path, index: u32, opts: &WalOptions, first: u64) -> Result<File, WalError> {
    let path = segment_path(dir, index);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .map_err(WalError::io(&path))?;
    file.write_all(&encode_header(first))
        .map_err(WalError::io(&path))?;
    if opts.fsync != FsyncPolicy::Never {
        file.sync_all().map_err(WalError::io(&path))?;
        sync_dir(dir)?;
    }
    drop(file);
    OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(WalError::io(&path))
}

fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(WalError::io(dir))
}

fn remove_file(path: &Path) -> Result<(), WalError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(WalError::io(path)(e)),
        _ => Ok(()),
    }
}
