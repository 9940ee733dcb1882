//! Writing blocks: [`BlockWriter`], and cutting a block out of the head.
//!
//! The writer is given the block's sorted symbol table up front; series may be
//! added in any order (each series' chunks are written to the `chunks` file at
//! once, contiguously, and its index entry is kept in a compact byte arena),
//! and `finish` sorts the entries by labels (symbol ids are ranks in the sorted
//! table, so comparing ids compares strings), builds the postings, writes the
//! index and `meta.json`, fsyncs, and renames the directory into place. A crash
//! leaves at most a `*.tmp` directory, removed on the next open.
//!
//! Format in `docs/format/block.md`. Knows nothing of the WAL.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use pharos_model::Sample;
use roaring::RoaringBitmap;

use crate::block::{BlockCompaction, BlockMeta, BlockStats, CHUNKS_MAGIC, INDEX_MAGIC};
use crate::chunkenc::Chunk;
use crate::encoding::{put_str, put_uvarint, put_varint, Decoder};
use crate::head::Head;
use crate::head_wal::sync_dir;

static BLOCK_SEQ: AtomicU64 = AtomicU64::new(0);

/// A new, unique, time-sortable block id.
pub(crate) fn new_block_id() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let seq = BLOCK_SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{ms:013x}{:05x}{seq:06x}", std::process::id() & 0xfffff)
}

/// One chunk handed to the writer.
pub(crate) struct ChunkIn<'a> {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) samples: usize,
    pub(crate) bytes: &'a [u8],
}

/// A chunk with owned bytes.
pub(crate) struct OwnedChunk {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) samples: usize,
    pub(crate) bytes: Vec<u8>,
}

impl OwnedChunk {
    pub(crate) fn as_in(&self) -> ChunkIn<'_> {
        ChunkIn {
            min_t: self.min_t,
            max_t: self.max_t,
            samples: self.samples,
            bytes: &self.bytes,
        }
    }
}

/// Builds one block directory.
pub(crate) struct BlockWriter {
    tmp: PathBuf,
    dest: PathBuf,
    meta: BlockMeta,
    chunks: BufWriter<File>,
    chunk_off: u64,
    symbols: Vec<String>,
    arena: Vec<u8>,
    entries: Vec<u64>,
}

fn labels_of_entry(arena: &[u8], off: u64) -> impl Iterator<Item = u32> + '_ {
    let mut d = Decoder::new(arena.get(off as usize..).unwrap_or(&[]));
    let n = d.uvarint().unwrap_or(0).saturating_mul(2);
    (0..n).map_while(move |_| d.uvarint32().ok())
}

impl BlockWriter {
    /// Starts a block for `[min_time, max_time)` under `blocks_dir`.
    pub(crate) fn new(
        blocks_dir: &Path,
        min_time: i64,
        max_time: i64,
        symbols: Vec<String>,
        compaction: BlockCompaction,
    ) -> io::Result<BlockWriter> {
        let id = new_block_id();
        let dest = blocks_dir.join(&id);
        let tmp = blocks_dir.join(format!("{id}.tmp"));
        fs::create_dir_all(&tmp)?;
        let mut chunks = BufWriter::with_capacity(1 << 20, File::create(tmp.join("chunks"))?);
        chunks.write_all(CHUNKS_MAGIC)?;
        Ok(BlockWriter {
            tmp,
            dest,
            meta: BlockMeta {
                version: 1,
                id,
                min_time,
                max_time,
                stats: BlockStats::default(),
                compaction,
            },
            chunks,
            chunk_off: CHUNKS_MAGIC.len() as u64,
            symbols,
            arena: Vec::new(),
            entries: Vec::new(),
        })
    }

    /// Adds a series: labels as ids into the writer's symbols
    /// (`[name0, value0, ...]`, sorted by name) and its chunks in time order.
    pub(crate) fn add_series(&mut self, labels: &[u32], chunks: &[ChunkIn<'_>]) -> io::Result<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        let off = self.arena.len() as u64;
        put_uvarint(&mut self.arena, (labels.len() / 2) as u64);
        for &id in labels {
            put_uvarint(&mut self.arena, u64::from(id));
        }
        put_uvarint(&mut self.arena, chunks.len() as u64);
        put_uvarint(&mut self.arena, self.chunk_off);
        let mut prev = self.meta.min_time;
        for c in chunks {
            put_varint(&mut self.arena, c.min_t.wrapping_sub(prev));
            put_uvarint(&mut self.arena, c.max_t.wrapping_sub(c.min_t) as u64);
            put_uvarint(&mut self.arena, c.bytes.len() as u64);
            put_uvarint(&mut self.arena, c.samples as u64);
            prev = c.max_t;
            self.chunks.write_all(c.bytes)?;
            self.chunk_off += c.bytes.len() as u64;
            self.meta.stats.num_chunks += 1;
            self.meta.stats.num_samples += c.samples as u64;
        }
        self.entries.push(off);
        Ok(())
    }

    pub(crate) fn num_series(&self) -> usize {
        self.entries.len()
    }

    /// Writes the index and meta and moves the block into place.
    pub(crate) fn finish(mut self) -> io::Result<BlockMeta> {
        self.chunks.flush()?;
        let f = self.chunks.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        let arena = std::mem::take(&mut self.arena);
        self.entries
            .sort_by(|&a, &b| labels_of_entry(&arena, a).cmp(labels_of_entry(&arena, b)));
        self.meta.stats.num_series = self.entries.len() as u64;

        let mut idx: Vec<u8> = Vec::with_capacity(arena.len() + 1024);
        idx.extend_from_slice(INDEX_MAGIC);
        let sym_off = idx.len() as u64;
        put_uvarint(&mut idx, self.symbols.len() as u64);
        for s in &self.symbols {
            put_str(&mut idx, s);
        }
        let ser_off = idx.len() as u64;
        put_uvarint(&mut idx, self.entries.len() as u64);
        let mut postings: BTreeMap<(u32, u32), RoaringBitmap> = BTreeMap::new();
        for (i, &off) in self.entries.iter().enumerate() {
            let ids: Vec<u32> = labels_of_entry(&arena, off).collect();
            for p in ids.chunks_exact(2) {
                postings.entry((p[0], p[1])).or_default().push(i as u32);
            }
            let end = entry_end(&arena, off);
            let bytes = arena.get(off as usize..end).unwrap_or(&[]);
            put_uvarint(&mut idx, bytes.len() as u64);
            idx.extend_from_slice(bytes);
        }
        let post_off = idx.len() as u64;
        put_uvarint(&mut idx, postings.len() as u64);
        let mut tmp = Vec::new();
        for ((n, v), bm) in &postings {
            put_uvarint(&mut idx, u64::from(*n));
            put_uvarint(&mut idx, u64::from(*v));
            tmp.clear();
            bm.serialize_into(&mut tmp)?;
            put_uvarint(&mut idx, tmp.len() as u64);
            idx.extend_from_slice(&tmp);
        }
        for o in [sym_off, ser_off, post_off] {
            idx.extend_from_slice(&o.to_le_bytes());
        }
        let crc = crc32c::crc32c(&idx);
        idx.extend_from_slice(&crc.to_le_bytes());
        write_synced(&self.tmp.join("index"), &idx)?;
        let meta = serde_json::to_vec_pretty(&self.meta).map_err(io::Error::other)?;
        write_synced(&self.tmp.join("meta.json"), &meta)?;
        sync_dir(&self.tmp)?;
        fs::rename(&self.tmp, &self.dest)?;
        if let Some(parent) = self.dest.parent() {
            sync_dir(parent)?;
        }
        Ok(self.meta)
    }

    /// Abandons the block, removing its temporary directory.
    pub(crate) fn abort(self) {
        let _ = fs::remove_dir_all(&self.tmp);
    }
}

/// End offset of the entry starting at `off` in the arena.
fn entry_end(arena: &[u8], off: u64) -> usize {
    let start = off as usize;
    let mut d = Decoder::new(arena.get(start..).unwrap_or(&[]));
    let res = (|| -> Result<(), crate::encoding::DecodeError> {
        let n = d.uvarint()?;
        for _ in 0..n * 2 {
            d.uvarint()?;
        }
        let nc = d.uvarint()?;
        d.uvarint()?;
        for _ in 0..nc {
            d.varint()?;
            d.uvarint()?;
            d.uvarint()?;
            d.uvarint()?;
        }
        Ok(())
    })();
    match res {
        Ok(()) => start + d.pos(),
        Err(_) => arena.len(),
    }
}

fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// Re-encodes merged samples into chunks of at most `per_chunk` samples.
pub(crate) fn encode_samples(samples: &[Sample], per_chunk: usize) -> Vec<OwnedChunk> {
    let mut out = Vec::new();
    for part in samples.chunks(per_chunk.max(1)) {
        let mut c = Chunk::new();
        for s in part {
            if c.try_append(s.t, s.v).is_err() {
                continue;
            }
        }
        if let (Some(a), Some(b)) = (c.min_time(), c.max_time()) {
            out.push(OwnedChunk {
                min_t: a,
                max_t: b,
                samples: c.num_samples(),
                bytes: c.into_bytes(),
            });
        }
    }
    out
}

impl Head {
    /// Writes the head's samples in `[mint, maxt)` as a block in `blocks_dir`,
    /// leaving out samples under the head's tombstones. Returns `None` if
    /// there were none. The head is not changed.
    pub(crate) fn write_block(
        &self,
        blocks_dir: &Path,
        mint: i64,
        maxt: i64,
    ) -> io::Result<Option<BlockMeta>> {
        // The block's symbols: every symbol of the head index, sorted.
        let symbols = {
            let ix = self.index.read();
            let mut syms: Vec<String> = ix.syms.iter().map(|(_, s)| s.to_string()).collect();
            syms.sort_unstable();
            syms
        };
        let mut w = BlockWriter::new(
            blocks_dir,
            mint,
            maxt,
            symbols,
            BlockCompaction {
                level: 1,
                sources: Vec::new(),
            },
        )?;
        let mut labels: Vec<u32> = Vec::new();
        let mut owned: Vec<OwnedChunk> = Vec::new();
        let stones = self.tombstones.read().clone();
        for s in self.all_series() {
            owned.clear();
            let deleted = stones
                .get(s.sref)
                .filter(|iv| iv.overlaps(mint, maxt.saturating_sub(1)));
            {
                let d = s.data.lock();
                let ooo: Vec<Sample> = d
                    .ooo
                    .as_ref()
                    .map(|o| {
                        o.iter()
                            .filter(|x| x.0 >= mint && x.0 < maxt)
                            .map(|x| Sample::new(x.0, x.1))
                            .collect()
                    })
                    .unwrap_or_default();
                for c in &d.closed {
                    if c.min_t() >= mint && c.max_t() < maxt {
                        owned.push(OwnedChunk {
                            min_t: c.min_t(),
                            max_t: c.max_t(),
                            samples: c.samples(),
                            bytes: c.data.to_vec(),
                        });
                    }
                }
                if let Some(c) = &d.open {
                    if let (Some(a), Some(b)) = (c.min_time(), c.max_time()) {
                        if a >= mint && b < maxt {
                            owned.push(OwnedChunk {
                                min_t: a,
                                max_t: b,
                                samples: c.num_samples(),
                                bytes: c.bytes().to_vec(),
                            });
                        }
                    }
                }
                if !ooo.is_empty() || deleted.is_some() {
                    let mut all: Vec<Sample> = ooo;
                    for o in &owned {
                        if let Ok(c) = Chunk::from_bytes(o.bytes.clone()) {
                            all.extend(
                                c.iter()
                                    .map_while(Result::ok)
                                    .map(|(t, v)| Sample::new(t, v)),
                            );
                        }
                    }
                    all.sort_by_key(|x| x.t);
                    all.dedup_by_key(|x| x.t);
                    if let Some(iv) = deleted {
                        iv.filter(&mut all);
                    }
                    owned = encode_samples(&all, self.opts.chunk_samples);
                }
            }
            if owned.is_empty() {
                continue;
            }
            labels.clear();
            let ok = self.with_labels(&s, |pairs| {
                for (n, v) in pairs {
                    for x in [n, v] {
                        match w.symbols.binary_search_by(|s| s.as_str().cmp(x)) {
                            Ok(r) => labels.push(r as u32),
                            Err(_) => return false,
                        }
                    }
                }
                true
            });
            if !ok {
                continue;
            }
            let chunks: Vec<ChunkIn<'_>> = owned.iter().map(OwnedChunk::as_in).collect();
            w.add_series(&labels, &chunks)?;
        }
        if w.num_series() == 0 {
            w.abort();
            return Ok(None);
        }
        w.finish().map(Some)
    }
}
