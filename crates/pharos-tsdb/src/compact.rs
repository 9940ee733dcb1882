//! Compaction: choosing blocks to merge ([`plan`]) and merging them
//! ([`merge_blocks`]) into one block of a larger time range.
//!
//! Ranges grow by 3× per level from the block range (2h → 6h → 18h → 54h...)
//! up to a maximum (10% of retention, at most 31 days). Blocks that fall in
//! the same aligned interval of a level are merged once that interval is
//! entirely persisted (the head accepts nothing older than its end). Merging
//! streams series in label order from every input block (a k-way merge),
//! copying chunk bytes; only if chunks of one series overlap across inputs are
//! they decoded, merged and re-encoded. Chunks under an input's tombstones
//! are decoded and written without the deleted samples, so deleted data never
//! comes back; [`rewrite_block`] does this for one block (`clean_tombstones`).
//! Knows nothing of the head or the WAL.

use std::cmp::Ordering;
use std::io;
use std::path::Path;
use std::sync::Arc;

use pharos_model::Sample;

use crate::block::{Block, BlockCompaction, BlockMeta, ChunkMeta};
use crate::block_writer::{encode_samples, BlockWriter, ChunkIn, OwnedChunk};
use crate::chunkenc::Chunk;
use crate::tombstones::Tombstones;

/// The compaction ranges above the base block range, ascending.
pub(crate) fn levels(block_range: i64, max_range: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut r = block_range.saturating_mul(3);
    while block_range > 0 && r <= max_range {
        out.push(r);
        r = r.saturating_mul(3);
    }
    out
}

/// Indexes (into `blocks`, sorted by min time) of a group to merge, if any.
/// `persisted_until`: no more data will arrive before this time.
pub(crate) fn plan(
    blocks: &[Arc<Block>],
    levels: &[i64],
    persisted_until: i64,
) -> Option<Vec<usize>> {
    for &l in levels {
        let mut i = 0;
        while i < blocks.len() {
            let k = blocks[i].meta.min_time.div_euclid(l);
            let end = (k + 1).saturating_mul(l);
            let mut j = i;
            while j < blocks.len() && blocks[j].meta.min_time.div_euclid(l) == k {
                j += 1;
            }
            let group: Vec<usize> = (i..j).filter(|&x| blocks[x].meta.max_time <= end).collect();
            if group.len() >= 2 && end <= persisted_until {
                return Some(group);
            }
            i = j;
        }
    }
    None
}

/// Merges `inputs` (sorted by min time) into one new block in `blocks_dir`,
/// one level above the highest input.
pub(crate) fn merge_blocks(
    inputs: &[Arc<Block>],
    blocks_dir: &Path,
    chunk_samples: usize,
) -> io::Result<BlockMeta> {
    let level = inputs
        .iter()
        .map(|b| b.meta.compaction.level)
        .max()
        .unwrap_or(1)
        + 1;
    write_merged(inputs, blocks_dir, chunk_samples, level)
}

/// Rewrites one block without the samples its tombstones cover: a new block
/// of the same range and level, listing the old block's sources (or the old
/// block itself), with no tombstones.
pub(crate) fn rewrite_block(
    block: &Arc<Block>,
    blocks_dir: &Path,
    chunk_samples: usize,
) -> io::Result<BlockMeta> {
    write_merged(
        std::slice::from_ref(block),
        blocks_dir,
        chunk_samples,
        block.meta.compaction.level,
    )
}

fn write_merged(
    inputs: &[Arc<Block>],
    blocks_dir: &Path,
    chunk_samples: usize,
    level: u32,
) -> io::Result<BlockMeta> {
    // Union of the symbol tables, and each input's id → new id map.
    let mut symbols: Vec<String> = inputs
        .iter()
        .flat_map(|b| b.symbols().iter().cloned())
        .collect();
    symbols.sort_unstable();
    symbols.dedup();
    let maps: Vec<Vec<u32>> = inputs
        .iter()
        .map(|b| {
            b.symbols()
                .iter()
                .map(|s| symbols.binary_search(s).map_or(u32::MAX, |i| i as u32))
                .collect()
        })
        .collect();
    let min_time = inputs.iter().map(|b| b.meta.min_time).min().unwrap_or(0);
    let max_time = inputs.iter().map(|b| b.meta.max_time).max().unwrap_or(0);
    let mut sources: Vec<String> = Vec::new();
    for b in inputs {
        if b.meta.compaction.sources.is_empty() {
            sources.push(b.meta.id.clone());
        } else {
            sources.extend(b.meta.compaction.sources.iter().cloned());
        }
    }
    let mut w = BlockWriter::new(
        blocks_dir,
        min_time,
        max_time,
        symbols,
        BlockCompaction { level, sources },
    )?;

    // Deleted intervals of every input (the caller keeps deletions out meanwhile).
    let stones: Vec<Tombstones> = inputs.iter().map(|b| b.tombstones.read().clone()).collect();
    struct Cursor {
        id: u32,
        next: u32,
        labels: Vec<u32>,
        chunks: Vec<ChunkMeta>,
        live: bool,
    }
    let mut cursors: Vec<Cursor> = inputs
        .iter()
        .map(|_| Cursor {
            id: 0,
            next: 0,
            labels: Vec::new(),
            chunks: Vec::new(),
            live: false,
        })
        .collect();
    let advance = |c: &mut Cursor, b: &Block, map: &[u32]| -> io::Result<()> {
        let mut raw = Vec::new();
        c.live = false;
        while (c.next as usize) < b.num_series() {
            let id = c.next;
            c.next += 1;
            if b.series(id, &mut raw, &mut c.chunks).is_err() {
                tracing::warn!(block = %b.meta.id, series = id, "skipping corrupt series entry while compacting");
                continue;
            }
            c.labels.clear();
            c.labels.extend(
                raw.iter()
                    .map(|&s| map.get(s as usize).copied().unwrap_or(u32::MAX)),
            );
            c.id = id;
            c.live = true;
            break;
        }
        Ok(())
    };
    for (i, c) in cursors.iter_mut().enumerate() {
        advance(c, &inputs[i], &maps[i])?;
    }
    let mut bytes: Vec<OwnedChunk> = Vec::new();
    loop {
        let mut min: Option<usize> = None;
        for (i, c) in cursors.iter().enumerate() {
            if !c.live {
                continue;
            }
            min = match min {
                Some(m) if cursors[m].labels.cmp(&c.labels) != Ordering::Greater => Some(m),
                _ => Some(i),
            };
        }
        let Some(m) = min else { break };
        let labels = cursors[m].labels.clone();
        bytes.clear();
        let mut loose: Vec<Sample> = Vec::new();
        let mut overlap = false;
        for (i, c) in cursors.iter_mut().enumerate() {
            if !c.live || c.labels != labels {
                continue;
            }
            let deleted = stones[i].get(c.id);
            let data = inputs[i].read_chunks(&c.chunks)?;
            for (meta, b) in c.chunks.iter().zip(data) {
                if let Some(iv) = deleted.filter(|iv| iv.overlaps(meta.min_t, meta.max_t)) {
                    // Decode, drop the deleted samples, re-encode below.
                    if let Ok(ch) = Chunk::from_bytes(b) {
                        let start = loose.len();
                        loose.extend(
                            ch.iter()
                                .map_while(Result::ok)
                                .map(|(t, v)| Sample::new(t, v)),
                        );
                        let mut tail = loose.split_off(start);
                        iv.filter(&mut tail);
                        loose.extend(tail);
                    }
                    overlap = true;
                    continue;
                }
                if bytes.last().is_some_and(|l| l.max_t >= meta.min_t) {
                    overlap = true;
                }
                bytes.push(OwnedChunk {
                    min_t: meta.min_t,
                    max_t: meta.max_t,
                    samples: meta.samples as usize,
                    bytes: b,
                });
            }
            advance(c, &inputs[i], &maps[i])?;
        }
        if labels.contains(&u32::MAX) {
            continue;
        }
        if overlap {
            let mut all: Vec<Sample> = std::mem::take(&mut loose);
            for o in bytes.drain(..) {
                if let Ok(c) = Chunk::from_bytes(o.bytes) {
                    all.extend(
                        c.iter()
                            .map_while(Result::ok)
                            .map(|(t, v)| Sample::new(t, v)),
                    );
                }
            }
            all.sort_by_key(|s| s.t);
            all.dedup_by_key(|s| s.t);
            bytes = encode_samples(&all, chunk_samples);
        }
        let chunks: Vec<ChunkIn<'_>> = bytes.iter().map(OwnedChunk::as_in).collect();
        w.add_series(&labels, &chunks)?;
    }
    // Even an empty result is written, so that the inputs can be replaced.
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_ranges() {
        assert_eq!(levels(2, 100), vec![6, 18, 54]);
        assert!(levels(2, 5).is_empty());
    }
}
