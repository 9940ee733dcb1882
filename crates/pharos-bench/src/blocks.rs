//! Persisted blocks on disk: find them, size them, count their samples.
//!
//! A block is a directory holding a `meta.json`, anywhere up to four levels
//! below the root (Prometheus: `<tsdb>/<ULID>/`; pharos:
//! `<data>/metrics/blocks/.../`). Directories being written (`*.tmp`,
//! `*.tmp-for-*`), `wal`, `wbl` and `chunks_head` are skipped, and a block
//! listed as a compaction parent or source of another present block
//! (`compaction.parents` / `compaction.sources`: compacted, about to be
//! deleted) is not counted twice.
//!
//! A block's bytes are the sizes of all its files (index, chunks, meta,
//! tombstones). Its samples come from `meta.json` (`stats.numSamples` for
//! Prometheus, `stats.num_samples` for pharos, or either name at the top
//! level); when absent, from the
//! bench's own ledger of what it sent: the samples whose timestamps fall in
//! `[minTime, maxTime)` of the block.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One block directory.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockInfo {
    pub dir: PathBuf,
    pub id: String,
    pub bytes: u64,
    pub num_samples: Option<u64>,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
    /// Blocks this one was compacted from (`compaction.parents` and
    /// `compaction.sources`, without the block itself).
    pub parents: Vec<String>,
}

/// Totals over the blocks of a data directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiskSummary {
    pub blocks: usize,
    pub bytes: u64,
    pub samples: u64,
    /// Where the sample count came from: `meta.json`, `ledger`, or both.
    pub samples_source: String,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
}

impl DiskSummary {
    pub fn bytes_per_sample(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.bytes as f64 / self.samples as f64)
    }
}

fn skip_dir(name: &str) -> bool {
    name == "wal"
        || name == "wbl"
        || name == "chunks_head"
        || name.ends_with(".tmp")
        || name.contains(".tmp-")
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_bytes(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn get<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for k in keys {
        cur = cur.get(k)?;
    }
    Some(cur)
}

fn first_u64(v: &Value, paths: &[&[&str]]) -> Option<u64> {
    paths.iter().find_map(|p| get(v, p).and_then(Value::as_u64))
}

fn first_i64(v: &Value, paths: &[&[&str]]) -> Option<i64> {
    paths.iter().find_map(|p| get(v, p).and_then(Value::as_i64))
}

/// Reads one block's `meta.json` text.
pub fn parse_meta(dir: &Path, id: &str, meta: &str, bytes: u64) -> BlockInfo {
    let v: Value = serde_json::from_str(meta).unwrap_or(Value::Null);
    let num_samples = first_u64(
        &v,
        &[
            &["stats", "numSamples"],
            &["numSamples"],
            &["stats", "num_samples"],
            &["num_samples"],
        ],
    );
    let min_time = first_i64(&v, &[&["minTime"], &["min_time"], &["mint"]]);
    let max_time = first_i64(&v, &[&["maxTime"], &["max_time"], &["maxt"]]);
    let id = ["ulid", "id"]
        .iter()
        .find_map(|k| v.get(k).and_then(Value::as_str))
        .unwrap_or(id)
        .to_string();
    let mut parents: Vec<String> = get(&v, &["compaction", "parents"])
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| p.get("ulid").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some(sources) = get(&v, &["compaction", "sources"]).and_then(Value::as_array) {
        parents.extend(sources.iter().filter_map(Value::as_str).map(str::to_string));
    }
    parents.retain(|p| *p != id);
    parents.sort();
    parents.dedup();
    BlockInfo {
        dir: dir.to_path_buf(),
        id,
        bytes,
        num_samples,
        min_time,
        max_time,
        parents,
    }
}

/// Every block under `root`, sorted by directory, superseded ones left out.
pub fn scan(root: &Path) -> Vec<BlockInfo> {
    let mut out = Vec::new();
    walk(root, 0, &mut out);
    let superseded: HashSet<String> = out.iter().flat_map(|b| b.parents.iter().cloned()).collect();
    out.retain(|b| !superseded.contains(&b.id));
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    out
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<BlockInfo>) {
    let meta = dir.join("meta.json");
    if depth > 0 {
        if let Ok(text) = std::fs::read_to_string(&meta) {
            let id = dir
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            out.push(parse_meta(dir, &id, &text, dir_bytes(dir)));
            return;
        }
    }
    if depth >= 4 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) && !skip_dir(&name) {
            walk(&e.path(), depth + 1, out);
        }
    }
}

/// Sums `blocks`; samples without a count in `meta.json` are taken from
/// `ledger` (`(timestamp, samples)` of everything sent).
pub fn summarize(blocks: &[BlockInfo], ledger: &[(i64, u64)]) -> DiskSummary {
    let mut s = DiskSummary {
        blocks: blocks.len(),
        ..Default::default()
    };
    let (mut from_meta, mut from_ledger) = (false, false);
    for b in blocks {
        s.bytes += b.bytes;
        match (b.num_samples, b.min_time, b.max_time) {
            (Some(n), _, _) => {
                s.samples += n;
                from_meta = true;
            }
            (None, Some(lo), Some(hi)) => {
                s.samples += ledger
                    .iter()
                    .filter(|(t, _)| *t >= lo && *t < hi)
                    .map(|(_, n)| n)
                    .sum::<u64>();
                from_ledger = true;
            }
            _ => {}
        }
        s.min_time = match (s.min_time, b.min_time) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        s.max_time = match (s.max_time, b.max_time) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    s.samples_source = match (from_meta, from_ledger) {
        (true, true) => "meta.json+ledger",
        (true, false) => "meta.json",
        (false, true) => "ledger",
        (false, false) => "none",
    }
    .to_string();
    s
}

/// A fingerprint of the block set, to tell when compaction has settled.
pub fn signature(blocks: &[BlockInfo]) -> Vec<(PathBuf, u64)> {
    blocks.iter().map(|b| (b.dir.clone(), b.bytes)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROM_META: &str = r#"{
        "ulid": "01H00000000000000000000002",
        "minTime": 1000, "maxTime": 2000,
        "stats": {"numSamples": 480, "numSeries": 4, "numChunks": 8},
        "compaction": {"level": 2, "sources": ["a", "b"],
            "parents": [{"ulid": "01H00000000000000000000001", "minTime": 1000, "maxTime": 1500}]},
        "version": 1
    }"#;

    #[test]
    fn scan_and_summarize() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let mk = |rel: &str, meta: &str, extra: usize| {
            let d = root.join(rel);
            std::fs::create_dir_all(d.join("chunks")).expect("mkdir");
            std::fs::write(d.join("meta.json"), meta).expect("write");
            std::fs::write(d.join("chunks/000001"), vec![0u8; extra]).expect("write");
        };
        mk("01H00000000000000000000002", PROM_META, 1000);
        // The parent, superseded by the compacted block above.
        mk(
            "01H00000000000000000000001",
            r#"{"ulid":"01H00000000000000000000001","minTime":1000,"maxTime":1500,"stats":{"numSamples":240}}"#,
            500,
        );
        // Being written.
        mk(
            "01H00000000000000000000003.tmp-for-creation",
            r#"{"minTime":0,"maxTime":1}"#,
            5,
        );
        // Nested (pharos-style) without a sample count.
        mk(
            "metrics/blocks/b1",
            r#"{"minTime":2000,"maxTime":3000}"#,
            100,
        );
        // pharos-style (snake_case, `id`, `compaction.sources`): c2 was
        // compacted from c1, which is still on disk for a moment.
        mk(
            "metrics/blocks/c2",
            r#"{"version":1,"id":"c2","min_time":3000,"max_time":4000,
                "stats":{"num_series":1,"num_samples":50,"num_chunks":1},
                "compaction":{"level":2,"sources":["c1","c2"]}}"#,
            10,
        );
        mk(
            "metrics/blocks/c1",
            r#"{"version":1,"id":"c1","min_time":3000,"max_time":3500,
                "stats":{"num_series":1,"num_samples":25,"num_chunks":1},
                "compaction":{"level":1,"sources":["c1"]}}"#,
            10,
        );
        std::fs::create_dir_all(root.join("wal")).expect("mkdir");

        let blocks = scan(root);
        let ids: Vec<&str> = blocks.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, vec!["01H00000000000000000000002", "b1", "c2"]);
        assert_eq!(blocks[0].num_samples, Some(480));
        assert!(blocks[0].bytes >= 1000 + PROM_META.len() as u64);

        let ledger = [(1500, 10), (2000, 7), (2999, 5), (3000, 100)];
        let s = summarize(&blocks, &ledger);
        assert_eq!(s.blocks, 3);
        assert_eq!(s.samples, 480 + 7 + 5 + 50);
        assert_eq!(s.samples_source, "meta.json+ledger");
        assert_eq!((s.min_time, s.max_time), (Some(1000), Some(4000)));
        assert!(s.bytes_per_sample().is_some());
    }

    #[test]
    fn bad_meta_is_tolerated() {
        let b = parse_meta(Path::new("/x"), "x", "not json", 10);
        assert_eq!(
            (b.num_samples, b.min_time, b.id.as_str()),
            (None, None, "x")
        );
        assert_eq!(summarize(&[b], &[]).bytes_per_sample(), None);
    }
}
