//! Immutable on-disk blocks: reading — [`Block`] and [`BlockMeta`].
//!
//! A block is a directory `blocks/<id>/` holding `meta.json`, `index` and
//! `chunks` (format in `docs/format/block.md`). Opening a block reads and
//! checks the whole index into memory (symbols, the series section kept as
//! bytes with an offset table, postings as roaring bitmaps); chunk bytes are
//! read with positioned reads when a query needs them. The optional
//! `tombstones` file (deleted intervals by series id) is read on open and is
//! the one file of a block that is ever replaced (atomically); queries hide
//! the samples it covers. Series ids inside a
//! block are positions in label order, so postings iterate in label order.
//!
//! Writing is in `block_writer.rs`. A block knows nothing of the head, the WAL
//! or other blocks.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hashbrown::HashTable;
use parking_lot::RwLock;
use pharos_model::{Label, Labels, Matcher};
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};

use crate::encoding::{DecodeError, Decoder};
use crate::index::{label_names_for, label_values_for, postings_for_matchers, IndexReader};
use crate::querier::{ChunkFile, SnapSeries, StoredChunk};
use crate::symbols::hash_str as hash_symbol;
use crate::tombstones::{self, Tombstones, TOMBSTONES_FILE};

pub(crate) const INDEX_MAGIC: &[u8; 8] = b"PHXIDX01";
pub(crate) const CHUNKS_MAGIC: &[u8; 8] = b"PHXCHK01";
pub(crate) const FOOTER_LEN: usize = 28;

/// Why a block could not be opened or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad meta.json in {path}: {reason}")]
    BadMeta { path: PathBuf, reason: String },
    #[error("corrupt index {path}: {reason}")]
    CorruptIndex { path: PathBuf, reason: String },
    #[error("corrupt tombstones {path}: {reason}")]
    CorruptTombstones { path: PathBuf, reason: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BlockError + '_ {
    move |source| BlockError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Counts recorded in a block's meta.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStats {
    pub num_series: u64,
    pub num_samples: u64,
    pub num_chunks: u64,
}

/// Which blocks a block was compacted from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockCompaction {
    pub level: u32,
    pub sources: Vec<String>,
}

/// The contents of `meta.json`. Times are milliseconds; `min_time` is
/// inclusive and `max_time` exclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    pub version: u32,
    pub id: String,
    pub min_time: i64,
    pub max_time: i64,
    pub stats: BlockStats,
    pub compaction: BlockCompaction,
}

/// Where one chunk of a series lives in the chunks file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkMeta {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) offset: u64,
    pub(crate) len: u32,
    pub(crate) samples: u32,
}

/// A block opened for reading.
pub(crate) struct Block {
    pub(crate) meta: BlockMeta,
    pub(crate) dir: PathBuf,
    symbols: Vec<String>,
    /// Symbol ids by the string's hash: a lookup is one probe, where a
    /// binary search of `symbols` would chase a pointer per step.
    symbol_ids: HashTable<u32>,
    series_data: Vec<u8>,
    series_offsets: Vec<u32>,
    postings: BTreeMap<u32, Vec<(u32, RoaringBitmap)>>,
    chunks: File,
    /// Bytes on disk (index + chunks + meta).
    pub(crate) size_bytes: u64,
    /// Deleted intervals by series id; the `tombstones` file mirrors it.
    pub(crate) tombstones: RwLock<Tombstones>,
}

/// Parses one series entry: labels as symbol ids and the chunk metas.
pub(crate) fn decode_series_entry(
    entry: &[u8],
    block_min: i64,
    labels: &mut Vec<u32>,
    chunks: &mut Vec<ChunkMeta>,
) -> Result<(), DecodeError> {
    let mut d = Decoder::new(entry);
    labels.clear();
    chunks.clear();
    let n = d.uvarint()?;
    for _ in 0..n.saturating_mul(2) {
        labels.push(d.uvarint32()?);
    }
    let nc = d.uvarint()?;
    if nc == 0 {
        return Ok(());
    }
    let mut offset = d.uvarint()?;
    let mut prev = block_min;
    for _ in 0..nc {
        let min_t = prev.wrapping_add(d.varint()?);
        let max_t = min_t.wrapping_add(d.uvarint()? as i64);
        let len = d.uvarint32()?;
        let samples = d.uvarint32()?;
        chunks.push(ChunkMeta {
            min_t,
            max_t,
            offset,
            len,
            samples,
        });
        offset += u64::from(len);
        prev = max_t;
    }
    Ok(())
}

impl Block {
    /// Opens the block in `dir`, reading meta and index.
    pub(crate) fn open(dir: &Path) -> Result<Block, BlockError> {
        let meta_path = dir.join("meta.json");
        let meta_bytes = fs::read(&meta_path).map_err(io_err(&meta_path))?;
        let meta: BlockMeta =
            serde_json::from_slice(&meta_bytes).map_err(|e| BlockError::BadMeta {
                path: meta_path.clone(),
                reason: e.to_string(),
            })?;
        let index_path = dir.join("index");
        let data = fs::read(&index_path).map_err(io_err(&index_path))?;
        let corrupt = |reason: String| BlockError::CorruptIndex {
            path: index_path.clone(),
            reason,
        };
        if data.len() < INDEX_MAGIC.len() + FOOTER_LEN || &data[..8] != INDEX_MAGIC {
            return Err(corrupt("bad magic or too short".into()));
        }
        let foot = &data[data.len() - FOOTER_LEN..];
        let rd = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&foot[i * 8..i * 8 + 8]);
            u64::from_le_bytes(a) as usize
        };
        let (sym_off, ser_off, post_off) = (rd(0), rd(1), rd(2));
        let mut c = [0u8; 4];
        c.copy_from_slice(&foot[24..28]);
        let body_end = data.len() - FOOTER_LEN;
        if crc32c::crc32c(&data[..body_end + 24]) != u32::from_le_bytes(c) {
            return Err(corrupt("checksum mismatch".into()));
        }
        if !(8 <= sym_off && sym_off <= ser_off && ser_off <= post_off && post_off <= body_end) {
            return Err(corrupt("section offsets out of order".into()));
        }
        let de = |e: DecodeError| corrupt(e.to_string());
        // Symbols.
        let mut d = Decoder::new(&data[sym_off..ser_off]);
        let n = d.uvarint().map_err(de)?;
        let mut symbols = Vec::with_capacity(n.min(1 << 24) as usize);
        for _ in 0..n {
            symbols.push(d.str().map_err(de)?.to_string());
        }
        let mut symbol_ids = HashTable::with_capacity(symbols.len());
        for (i, sym) in symbols.iter().enumerate() {
            symbol_ids.insert_unique(hash_symbol(sym), i as u32, |&id| {
                hash_symbol(&symbols[id as usize])
            });
        }
        // Series: keep the bytes, index the entry offsets.
        let series_data = data[ser_off..post_off].to_vec();
        let mut d = Decoder::new(&series_data);
        let n = d.uvarint().map_err(de)?;
        let mut series_offsets = Vec::with_capacity(n.min(1 << 26) as usize);
        for _ in 0..n {
            let len = d.uvarint().map_err(de)? as usize;
            let at = d.pos();
            series_offsets
                .push(u32::try_from(at).map_err(|_| corrupt("series section over 4 GiB".into()))?);
            d.bytes(len).map_err(de)?;
        }
        // Postings.
        let mut d = Decoder::new(&data[post_off..body_end]);
        let n = d.uvarint().map_err(de)?;
        let mut postings: BTreeMap<u32, Vec<(u32, RoaringBitmap)>> = BTreeMap::new();
        for _ in 0..n {
            let name = d.uvarint32().map_err(de)?;
            let value = d.uvarint32().map_err(de)?;
            let len = d.uvarint().map_err(de)? as usize;
            let b = d.bytes(len).map_err(de)?;
            let bm = RoaringBitmap::deserialize_from(b)
                .map_err(|e| corrupt(format!("postings: {e}")))?;
            postings.entry(name).or_default().push((value, bm));
        }
        for v in postings.values_mut() {
            v.sort_by_key(|p| p.0);
        }
        let chunks_path = dir.join("chunks");
        let chunks = File::open(&chunks_path).map_err(io_err(&chunks_path))?;
        let chunks_len = chunks.metadata().map_err(io_err(&chunks_path))?.len();
        let size_bytes = data.len() as u64 + chunks_len + meta_bytes.len() as u64;
        let stones_path = dir.join(TOMBSTONES_FILE);
        let tombstones = tombstones::read_file(dir)
            .map_err(io_err(&stones_path))?
            .map_err(|reason| BlockError::CorruptTombstones {
                path: stones_path.clone(),
                reason,
            })?;
        Ok(Block {
            meta,
            dir: dir.to_path_buf(),
            symbols,
            symbol_ids,
            series_data,
            series_offsets,
            postings,
            chunks,
            size_bytes,
            tombstones: RwLock::new(tombstones),
        })
    }

    /// Adds tombstones `[mint, maxt]` for the series matching `ms` that have
    /// chunks in that range (clamped to the series' samples) and rewrites the
    /// `tombstones` file atomically. Returns how many series got one.
    pub(crate) fn delete(&self, ms: &[Matcher], mint: i64, maxt: i64) -> Result<usize, BlockError> {
        if self.meta.max_time <= mint || self.meta.min_time > maxt {
            return Ok(0);
        }
        let ids = postings_for_matchers(self, ms);
        let mut guard = self.tombstones.write();
        let mut next = guard.clone();
        let mut labels = Vec::new();
        let mut metas = Vec::new();
        let mut n = 0;
        for id in &ids {
            if self.series(id, &mut labels, &mut metas).is_err() {
                continue;
            }
            if !metas.iter().any(|m| m.max_t >= mint && m.min_t <= maxt) {
                continue;
            }
            let (Some(first), Some(last)) = (metas.first(), metas.last()) else {
                continue;
            };
            if next.add(id, mint.max(first.min_t), maxt.min(last.max_t)) {
                n += 1;
            }
        }
        if n > 0 {
            tombstones::write_file(&self.dir, &next).map_err(io_err(&self.dir))?;
            *guard = next;
        }
        Ok(n)
    }

    pub(crate) fn num_series(&self) -> usize {
        self.series_offsets.len()
    }

    pub(crate) fn symbols(&self) -> &[String] {
        &self.symbols
    }

    fn sym_id(&self, s: &str) -> Option<u32> {
        let symbols = &self.symbols;
        self.symbol_ids
            .find(hash_symbol(s), |&id| symbols[id as usize] == s)
            .copied()
    }

    pub(crate) fn sym(&self, id: u32) -> &str {
        self.symbols.get(id as usize).map_or("", |s| s.as_str())
    }

    /// Entry bytes of series `id` (to the end of the section: decoding reads
    /// only what the entry holds).
    fn entry(&self, id: u32) -> &[u8] {
        let start = self
            .series_offsets
            .get(id as usize)
            .map_or(self.series_data.len(), |&o| o as usize);
        self.series_data.get(start..).unwrap_or(&[])
    }

    /// Decodes series `id` into symbol ids and chunk metas.
    pub(crate) fn series(
        &self,
        id: u32,
        labels: &mut Vec<u32>,
        chunks: &mut Vec<ChunkMeta>,
    ) -> Result<(), DecodeError> {
        decode_series_entry(self.entry(id), self.meta.min_time, labels, chunks)
    }

    /// Labels from symbol ids.
    pub(crate) fn labels_from(&self, ids: &[u32]) -> Labels {
        Labels::from_sorted_unchecked(
            ids.chunks_exact(2)
                .map(|p| Label {
                    name: self.sym(p[0]).to_string(),
                    value: self.sym(p[1]).to_string(),
                })
                .collect(),
        )
    }

    /// Reads the bytes of consecutive chunks (one positioned read).
    pub(crate) fn read_chunks(&self, metas: &[ChunkMeta]) -> std::io::Result<Vec<Vec<u8>>> {
        let (Some(first), Some(last)) = (metas.first(), metas.last()) else {
            return Ok(Vec::new());
        };
        let total = (last.offset + u64::from(last.len)).saturating_sub(first.offset) as usize;
        let mut buf = vec![0u8; total];
        self.chunks.read_exact_at(&mut buf, first.offset)?;
        let mut out = Vec::with_capacity(metas.len());
        for m in metas {
            let s = (m.offset - first.offset) as usize;
            out.push(buf.get(s..s + m.len as usize).unwrap_or(&[]).to_vec());
        }
        Ok(out)
    }

    /// Series matching `ms` with chunks overlapping `[mint, maxt]`, in label order.
    pub(crate) fn select(
        self: &Arc<Self>,
        mint: i64,
        maxt: i64,
        ms: &[Matcher],
    ) -> std::io::Result<Vec<SnapSeries>> {
        let mut out = Vec::new();
        if self.meta.max_time <= mint || self.meta.min_time > maxt {
            return Ok(out);
        }
        let ids = postings_for_matchers(self.as_ref(), ms);
        let stones = {
            let t = self.tombstones.read();
            (!t.is_empty()).then(|| t.clone())
        };
        let mut labels = Vec::new();
        let mut metas = Vec::new();
        for id in &ids {
            if let Err(e) = self.series(id, &mut labels, &mut metas) {
                tracing::warn!(block = %self.meta.id, series = id, error = %e, "skipping corrupt series entry");
                continue;
            }
            metas.retain(|m| m.max_t >= mint && m.min_t <= maxt);
            if metas.is_empty() {
                continue;
            }
            // The bytes are read when the series is iterated.
            let stored = metas
                .iter()
                .map(|m| StoredChunk::new(m.min_t, m.max_t, m.offset, m.len))
                .collect();
            let file: Arc<dyn ChunkFile> = self.clone();
            let snap = SnapSeries::stored(self.labels_from(&labels), file, stored, mint, maxt);
            if let Some(snap) = snap.without_deleted(stones.as_ref().and_then(|t| t.get(id))) {
                out.push(snap);
            }
        }
        Ok(out)
    }

    pub(crate) fn label_names(&self, ms: &[Matcher]) -> Vec<String> {
        if ms.is_empty() {
            return label_names_for(self, None);
        }
        let set = postings_for_matchers(self, ms);
        label_names_for(self, Some(&set))
    }

    pub(crate) fn label_values(&self, name: &str, ms: &[Matcher]) -> Vec<String> {
        if ms.is_empty() {
            return label_values_for(self, name, None);
        }
        let set = postings_for_matchers(self, ms);
        label_values_for(self, name, Some(&set))
    }
}

impl ChunkFile for Block {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.chunks.read_exact_at(buf, offset)
    }
    fn name(&self) -> String {
        self.dir.join("chunks").display().to_string()
    }
}

impl IndexReader for Block {
    fn all_postings(&self) -> RoaringBitmap {
        let mut b = RoaringBitmap::new();
        b.insert_range(0..self.series_offsets.len() as u32);
        b
    }

    fn postings(&self, name: &str, value: &str) -> Option<&RoaringBitmap> {
        let (n, v) = (self.sym_id(name)?, self.sym_id(value)?);
        let vals = self.postings.get(&n)?;
        let i = vals.binary_search_by_key(&v, |p| p.0).ok()?;
        Some(&vals[i].1)
    }

    fn postings_where(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        if let Some(vals) = self.sym_id(name).and_then(|n| self.postings.get(&n)) {
            for (v, p) in vals {
                if pred(self.sym(*v)) {
                    out |= p;
                }
            }
        }
        out
    }

    fn for_each_name(&self, f: &mut dyn FnMut(&str) -> bool) {
        for n in self.postings.keys() {
            if !f(self.sym(*n)) {
                return;
            }
        }
    }

    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str, &RoaringBitmap)) {
        if let Some(vals) = self.sym_id(name).and_then(|n| self.postings.get(&n)) {
            for (v, p) in vals {
                f(self.sym(*v), p);
            }
        }
    }
}
