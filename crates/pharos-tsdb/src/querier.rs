//! Query results: [`SnapSeries`], a series' labels with a snapshot of its
//! chunks, decoded lazily, and the merge of results from the head and blocks.
//!
//! Chunks of one series from different sources never overlap in time in
//! normal operation (the head only accepts samples after the newest block);
//! if they do, the series falls back to decoding everything eagerly, sorting
//! and de-duplicating, so a query is always correct. Out-of-order samples of
//! the head ride along as a sorted list merged at iteration time; on equal
//! timestamps the chunk sample wins. A series with tombstones over the query
//! range is decoded eagerly without the deleted samples, and dropped from the
//! result when none is left. Knows nothing of where chunks came from.

use std::cell::RefCell;
use std::sync::Arc;

use pharos_model::{Labels, Sample, Series};

use crate::chunkenc::{decode_bytes, Chunk};
use crate::tombstones::Intervals;

/// Where chunks still on disk are read from (a block's chunk file).
pub(crate) trait ChunkFile: Send + Sync {
    /// Fills `buf` from `offset` on.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
    /// Names the file in warnings.
    fn name(&self) -> String;
}

/// A chunk on disk: its place in its file and its time span.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredChunk {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) offset: u64,
    pub(crate) len: u32,
    /// Index into [`SnapSeries::files`].
    file: u32,
}

impl StoredChunk {
    pub(crate) fn new(min_t: i64, max_t: i64, offset: u64, len: u32) -> StoredChunk {
        StoredChunk {
            min_t,
            max_t,
            offset,
            len,
            file: 0,
        }
    }
}

/// A series of a query result.
///
/// Chunks from the head are copied into `chunks`; chunks of blocks stay on
/// disk (`stored`, 32 bytes each) and are read when the series is iterated,
/// into a buffer each thread reuses, so a query over many series and many
/// hours holds their chunk lists, not their bytes.
pub(crate) struct SnapSeries {
    pub(crate) labels: Labels,
    chunks: Vec<Chunk>,
    stored: Vec<StoredChunk>,
    files: Vec<Arc<dyn ChunkFile>>,
    extra: Vec<Sample>,
    mint: i64,
    maxt: i64,
}

thread_local! {
    /// Bytes of stored chunks being decoded on this thread.
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl SnapSeries {
    pub(crate) fn new(
        labels: Labels,
        chunks: Vec<Chunk>,
        extra: Vec<Sample>,
        mint: i64,
        maxt: i64,
    ) -> SnapSeries {
        let mut s = SnapSeries {
            labels,
            chunks,
            stored: Vec::new(),
            files: Vec::new(),
            extra,
            mint,
            maxt,
        };
        s.normalize();
        s
    }

    /// A series whose chunks (in time order) are in `file`.
    pub(crate) fn stored(
        labels: Labels,
        file: Arc<dyn ChunkFile>,
        stored: Vec<StoredChunk>,
        mint: i64,
        maxt: i64,
    ) -> SnapSeries {
        let mut s = SnapSeries {
            labels,
            chunks: Vec::new(),
            stored,
            files: vec![file],
            extra: Vec::new(),
            mint,
            maxt,
        };
        s.normalize();
        s
    }

    fn normalize(&mut self) {
        self.chunks
            .sort_by_key(|c| c.min_time().unwrap_or(i64::MIN));
        self.stored.sort_by_key(|c| c.min_t);
        let overlap = self.overlap();
        let (mint, maxt) = (self.mint, self.maxt);
        if overlap {
            let mut all = Vec::new();
            self.chunk_floats(i64::MIN, i64::MAX, &mut all);
            // Sorted by time, a chunk's own order kept among equal times.
            all.sort_by_key(|p| p.0);
            self.chunks.clear();
            self.stored.clear();
            self.files.clear();
            self.extra
                .extend(all.into_iter().map(|(t, v)| Sample::new(t, v)));
        }
        self.extra.retain(|s| s.t >= mint && s.t <= maxt);
        if !self.extra.is_sorted_by_key(|s| s.t) {
            self.extra.sort_by_key(|s| s.t);
        }
        self.extra.dedup_by_key(|s| s.t);
    }

    /// Whether any two chunks (head or stored, each list sorted by start)
    /// share a time: walks both lists in start order.
    fn overlap(&self) -> bool {
        let mem = self.chunks.iter().map(|c| {
            (
                c.min_time().unwrap_or(i64::MIN),
                c.max_time().unwrap_or(i64::MIN),
            )
        });
        let disk = self.stored.iter().map(|c| (c.min_t, c.max_t));
        let (mut mem, mut disk) = (mem.peekable(), disk.peekable());
        let mut end = None;
        loop {
            let next = match (mem.peek(), disk.peek()) {
                (Some(a), Some(b)) if a.0 < b.0 => mem.next(),
                (Some(_), Some(_)) | (None, Some(_)) => disk.next(),
                (Some(_), None) => mem.next(),
                (None, None) => return false,
            };
            let Some((lo, hi)) = next else { return false };
            if end.is_some_and(|e| lo <= e) {
                return true;
            }
            end = Some(end.map_or(hi, |e: i64| e.max(hi)));
        }
    }

    /// Hides the samples in deleted intervals (decoding the series eagerly
    /// when any interval meets its range); `None` if no sample is left.
    pub(crate) fn without_deleted(self, deleted: Option<&Intervals>) -> Option<SnapSeries> {
        let Some(iv) = deleted.filter(|iv| iv.overlaps(self.mint, self.maxt)) else {
            return Some(self);
        };
        let mut all: Vec<Sample> = self.samples().collect();
        iv.filter(&mut all);
        if all.is_empty() {
            return None;
        }
        Some(SnapSeries {
            labels: self.labels,
            chunks: Vec::new(),
            stored: Vec::new(),
            files: Vec::new(),
            extra: all,
            mint: self.mint,
            maxt: self.maxt,
        })
    }

    /// Adds the data of another snapshot of the same series.
    pub(crate) fn absorb(&mut self, other: SnapSeries) {
        let base = u32::try_from(self.files.len()).unwrap_or(u32::MAX);
        self.chunks.extend(other.chunks);
        self.stored.extend(other.stored.into_iter().map(|mut c| {
            c.file = c.file.saturating_add(base);
            c
        }));
        self.files.extend(other.files);
        self.extra.extend(other.extra);
        self.mint = self.mint.min(other.mint);
        self.maxt = self.maxt.max(other.maxt);
        self.normalize();
    }

    /// Number of samples in range (decodes everything).
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.samples().count()
    }

    /// Appends the chunk samples (not `extra`) with `lo <= t <= hi` to `out`
    /// in chunk order. A chunk that cannot be read or decoded contributes the
    /// samples before the damage, and is logged.
    fn chunk_floats(&self, lo: i64, hi: i64, out: &mut Vec<(i64, f64)>) {
        let (mut i, mut j) = (0, 0);
        loop {
            let mem = self.chunks.get(i);
            let disk = self.stored.get(j);
            let take_mem = match (mem, disk) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(m), Some(d)) => m.min_time().unwrap_or(i64::MIN) < d.min_t,
            };
            if take_mem {
                i += 1;
                let Some(c) = mem else { break };
                if c.max_time().is_some_and(|m| m < lo) {
                    continue;
                }
                if c.min_time().is_some_and(|m| m > hi) {
                    break;
                }
                let start = out.len();
                if let Err(e) = c.decode_from(lo, out) {
                    tracing::warn!(series = %self.labels, error = %e, "corrupt chunk: samples after the damage are skipped");
                }
                if trim(out, start, lo, hi) {
                    break;
                }
            } else {
                let Some(d) = disk else { break };
                if d.max_t < lo {
                    j += 1;
                    continue;
                }
                if d.min_t > hi {
                    break;
                }
                // A run of stored chunks of one file, back to back on disk,
                // up to the next head chunk or `hi`: one read.
                let next_mem = mem.and_then(|m| m.min_time()).unwrap_or(i64::MAX);
                let first = j;
                j += 1;
                while let (Some(a), Some(b)) = (self.stored.get(j - 1), self.stored.get(j)) {
                    if b.file != a.file
                        || b.offset != a.offset + u64::from(a.len)
                        || b.min_t >= next_mem
                        || b.min_t > hi
                    {
                        break;
                    }
                    j += 1;
                }
                if self.read_run(&self.stored[first..j], lo, hi, out) {
                    break;
                }
            }
        }
    }

    /// Reads and decodes `run` (adjacent chunks of one file); true when the
    /// samples went past `hi`.
    fn read_run(&self, run: &[StoredChunk], lo: i64, hi: i64, out: &mut Vec<(i64, f64)>) -> bool {
        let (Some(first), Some(last)) = (run.first(), run.last()) else {
            return false;
        };
        let Some(file) = self.files.get(first.file as usize) else {
            return false;
        };
        let total = (last.offset + u64::from(last.len)).saturating_sub(first.offset) as usize;
        READ_BUF.with_borrow_mut(|buf| {
            buf.clear();
            buf.resize(total, 0);
            if let Err(e) = file.read_at(buf, first.offset) {
                tracing::warn!(series = %self.labels, file = %file.name(), error = %e, "chunks could not be read: skipped");
                return false;
            }
            for c in run {
                let at = (c.offset - first.offset) as usize;
                let bytes = buf.get(at..at + c.len as usize).unwrap_or(&[]);
                let start = out.len();
                if let Err(e) = decode_bytes(bytes, out) {
                    tracing::warn!(series = %self.labels, file = %file.name(), error = %e, "corrupt chunk: samples after the damage are skipped");
                }
                if trim(out, start, lo, hi) {
                    return true;
                }
            }
            false
        })
    }
}

/// Drops the samples of `out[start..]` outside `[lo, hi]` (they are sorted);
/// true when some were past `hi`.
fn trim(out: &mut Vec<(i64, f64)>, start: usize, lo: i64, hi: i64) -> bool {
    let new = &out[start..];
    if new.first().is_some_and(|p| p.0 < lo) {
        let k = new.partition_point(|p| p.0 < lo);
        out.drain(start..start + k);
    }
    let new = &out[start..];
    if new.last().is_some_and(|p| p.0 > hi) {
        let k = new.partition_point(|p| p.0 <= hi);
        out.truncate(start + k);
        return true;
    }
    false
}

/// Merges per-source results (each sorted by labels) into one sorted list
/// with one entry per label set.
pub(crate) fn merge_sources(mut sources: Vec<Vec<SnapSeries>>) -> Vec<SnapSeries> {
    sources.retain(|s| !s.is_empty());
    if sources.len() <= 1 {
        // One source is already sorted with one entry per label set.
        return sources.pop().unwrap_or_default();
    }
    let mut all: Vec<SnapSeries> = sources.into_iter().flatten().collect();
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut out: Vec<SnapSeries> = Vec::with_capacity(all.len());
    for s in all {
        match out.last_mut() {
            Some(last) if last.labels == s.labels => last.absorb(s),
            _ => out.push(s),
        }
    }
    out
}

impl Series for SnapSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Decodes whole chunks and trims the first and the last to the range;
    /// series with loose samples (out-of-order or tombstoned) merge them in.
    fn append_floats(&self, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) {
        let (lo, hi) = (mint.max(self.mint), maxt.min(self.maxt));
        if lo > hi {
            return;
        }
        if self.extra.is_empty() {
            self.chunk_floats(lo, hi, out);
            return;
        }
        let mut chunk = Vec::new();
        self.chunk_floats(lo, hi, &mut chunk);
        let a = self.extra.partition_point(|s| s.t < lo);
        let b = self.extra.partition_point(|s| s.t <= hi);
        merge_into(&chunk, &self.extra[a..b], out);
    }

    fn samples(&self) -> Box<dyn Iterator<Item = Sample> + '_> {
        let mut chunk = Vec::new();
        self.chunk_floats(self.mint, self.maxt, &mut chunk);
        let mut all = Vec::with_capacity(chunk.len() + self.extra.len());
        merge_into(&chunk, &self.extra, &mut all);
        Box::new(all.into_iter().map(|(t, v)| Sample::new(t, v)))
    }
}

/// Merges two time-ordered lists into `out`; on equal times the chunk
/// sample wins.
fn merge_into(chunk: &[(i64, f64)], extra: &[Sample], out: &mut Vec<(i64, f64)>) {
    out.reserve(chunk.len() + extra.len());
    let (mut i, mut j) = (0, 0);
    while i < chunk.len() || j < extra.len() {
        match (chunk.get(i), extra.get(j)) {
            (Some(&p), Some(e)) if e.t < p.0 => {
                out.push((e.t, e.v));
                j += 1;
            }
            (Some(&p), Some(e)) => {
                if e.t == p.0 {
                    j += 1;
                }
                out.push(p);
                i += 1;
            }
            (Some(&p), None) => {
                out.push(p);
                i += 1;
            }
            (None, Some(e)) => {
                out.push((e.t, e.v));
                j += 1;
            }
            (None, None) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(ts: &[i64]) -> Chunk {
        let mut c = Chunk::new();
        for &t in ts {
            c.append(t, t as f64);
        }
        c
    }

    #[test]
    fn lazy_range_and_merge() {
        let l = Labels::from_pairs(&[("a", "1")]);
        let s = SnapSeries::new(
            l.clone(),
            vec![chunk(&[10, 20, 30]), chunk(&[1, 2, 3])],
            vec![
                Sample::new(15, 0.5),
                Sample::new(20, 9.0),
                Sample::new(100, 1.0),
            ],
            2,
            25,
        );
        let got: Vec<(i64, f64)> = s.samples().map(|s| (s.t, s.v)).collect();
        assert_eq!(
            got,
            vec![(2, 2.0), (3, 3.0), (10, 10.0), (15, 0.5), (20, 20.0)]
        );

        // overlapping chunks fall back to eager merge
        let s = SnapSeries::new(
            l,
            vec![chunk(&[1, 5, 9]), chunk(&[3, 5, 7])],
            vec![],
            0,
            100,
        );
        let ts: Vec<i64> = s.samples().map(|s| s.t).collect();
        assert_eq!(ts, vec![1, 3, 5, 7, 9]);
    }

    #[test]
    fn append_floats_matches_iterator() {
        let l = Labels::from_pairs(&[("a", "1")]);
        let chunks = || vec![chunk(&[1, 2, 3]), chunk(&[10, 20, 30]), chunk(&[40, 50])];
        // An appendable chunk long enough to carry saved decoder states.
        let long: Vec<i64> = (0..150).map(|i| 1000 + i * 10).collect();
        let s = SnapSeries::new(l.clone(), vec![chunk(&long)], vec![], 0, 5000);
        for mint in [0, 1000, 1395, 1400, 1405, 1795, 1800, 2000, 2490, 2500] {
            let mut got = Vec::new();
            s.append_floats(mint, 2400, &mut got);
            let want: Vec<(i64, f64)> = long
                .iter()
                .filter(|&&t| t >= mint && t <= 2400)
                .map(|&t| (t, t as f64))
                .collect();
            assert_eq!(got, want, "from {mint}");
        }
        for (mint, maxt) in [
            (0, 100),
            (2, 25),
            (3, 40),
            (11, 19),
            (31, 39),
            (60, 70),
            (20, 20),
        ] {
            for extra in [vec![], vec![Sample::new(15, 0.5)]] {
                let s = SnapSeries::new(l.clone(), chunks(), extra, 0, 45);
                let want: Vec<(i64, f64)> = s
                    .samples()
                    .filter(|p| p.t >= mint && p.t <= maxt)
                    .map(|p| (p.t, p.v))
                    .collect();
                let mut got = vec![(-1, -1.0)];
                s.append_floats(mint, maxt, &mut got);
                assert_eq!(got[0], (-1, -1.0));
                assert_eq!(&got[1..], &want[..], "[{mint}, {maxt}]");
            }
        }
    }

    /// Chunk bytes back to back in memory, as in a block's chunk file.
    struct MemFile(Vec<u8>, bool);

    impl ChunkFile for MemFile {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
            let at = offset as usize;
            match self.0.get(at..at + buf.len()) {
                Some(b) if self.1 => {
                    buf.copy_from_slice(b);
                    Ok(())
                }
                _ => Err(std::io::Error::other("unreadable")),
            }
        }
        fn name(&self) -> String {
            "mem".into()
        }
    }

    /// Writes the chunks to one file; returns it and their entries.
    fn stored(chunks: &[Chunk], readable: bool) -> (Arc<dyn ChunkFile>, Vec<StoredChunk>) {
        let mut bytes = vec![0u8; 8];
        let mut entries = Vec::new();
        for c in chunks {
            entries.push(StoredChunk::new(
                c.min_time().unwrap(),
                c.max_time().unwrap(),
                bytes.len() as u64,
                c.bytes().len() as u32,
            ));
            bytes.extend_from_slice(c.bytes());
        }
        (Arc::new(MemFile(bytes, readable)), entries)
    }

    #[test]
    fn stored_chunks_read_when_iterated_and_merge_with_head_chunks() {
        let l = Labels::from_pairs(&[("a", "1")]);
        // Two "blocks" and a "head": [1..3] [10..30] | [40, 50] [60..80] | head [90, 100]
        let (f1, s1) = stored(&[chunk(&[1, 2, 3]), chunk(&[10, 20, 30])], true);
        let (f2, s2) = stored(&[chunk(&[40, 50]), chunk(&[60, 70, 80])], true);
        let all: Vec<i64> = vec![1, 2, 3, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        for extra in [vec![], vec![Sample::new(55, 0.5), Sample::new(70, 9.0)]] {
            let mut s = SnapSeries::new(l.clone(), vec![chunk(&[90, 100])], extra.clone(), 0, 1000);
            s.absorb(SnapSeries::stored(
                l.clone(),
                f2.clone(),
                s2.clone(),
                0,
                1000,
            ));
            s.absorb(SnapSeries::stored(
                l.clone(),
                f1.clone(),
                s1.clone(),
                0,
                1000,
            ));
            let mut want: Vec<(i64, f64)> = all.iter().map(|&t| (t, t as f64)).collect();
            if !extra.is_empty() {
                want.insert(8, (55, 0.5));
            }
            let got: Vec<(i64, f64)> = s.samples().map(|p| (p.t, p.v)).collect();
            assert_eq!(got, want);
            for (mint, maxt) in [
                (0, 1000),
                (2, 25),
                (3, 45),
                (31, 39),
                (45, 95),
                (81, 89),
                (100, 100),
            ] {
                let mut got = vec![(-1, -1.0)];
                s.append_floats(mint, maxt, &mut got);
                let w: Vec<(i64, f64)> = want
                    .iter()
                    .copied()
                    .filter(|p| p.0 >= mint && p.0 <= maxt)
                    .collect();
                assert_eq!(&got[1..], &w[..], "[{mint}, {maxt}]");
            }
        }
        // Overlapping sources fall back to one merged list.
        let (f3, s3) = stored(&[chunk(&[5, 15, 25])], true);
        let mut s = SnapSeries::stored(l.clone(), f1.clone(), s1.clone(), 0, 1000);
        s.absorb(SnapSeries::stored(l.clone(), f3, s3, 0, 1000));
        let ts: Vec<i64> = s.samples().map(|p| p.t).collect();
        assert_eq!(ts, vec![1, 2, 3, 5, 10, 15, 20, 25, 30]);
        // A file that cannot be read gives no samples, and no panic.
        let (bad, sb) = stored(&[chunk(&[1, 2, 3])], false);
        let s = SnapSeries::stored(l, bad, sb, 0, 1000);
        assert_eq!(s.count(), 0);
    }

    #[test]
    fn merge_by_labels() {
        let a = Labels::from_pairs(&[("a", "1")]);
        let b = Labels::from_pairs(&[("a", "2")]);
        let out = merge_sources(vec![
            vec![SnapSeries::new(
                a.clone(),
                vec![chunk(&[1, 2])],
                vec![],
                0,
                10,
            )],
            vec![
                SnapSeries::new(a.clone(), vec![chunk(&[5, 6])], vec![], 0, 10),
                SnapSeries::new(b, vec![chunk(&[1])], vec![], 0, 10),
            ],
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].labels, a);
        assert_eq!(out[0].count(), 4);
    }
}
