//! Tombstones: deleted time ranges per series — [`Intervals`] and
//! [`Tombstones`], and the `tombstones` file of a block.
//!
//! `Db::delete_series` does not rewrite data; it records, per series, closed
//! intervals `[mint, maxt]` (milliseconds, both inclusive) whose samples
//! queries must no longer see. The head keeps its tombstones by series ref
//! (made durable by a tombstones WAL record, `docs/format/wal-records.md`); a
//! block keeps them by series id (position in its index) in a `tombstones`
//! file next to its index (`docs/format/block.md`), replaced atomically.
//! Cutting a block from the head, compaction and `Db::clean_tombstones` write
//! data without the deleted samples. Knows nothing of the head or of blocks.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use pharos_model::Sample;

use crate::encoding::{put_uvarint, put_varint, DecodeError, Decoder};
use crate::head_wal::sync_dir;

/// Name of the tombstones file in a block directory.
pub(crate) const TOMBSTONES_FILE: &str = "tombstones";
const MAGIC: &[u8; 8] = b"PHXTMB01";

/// Sorted, disjoint, non-adjacent closed intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Intervals(Vec<(i64, i64)>);

impl Intervals {
    /// Adds `[mint, maxt]`, merging with overlapping or adjacent intervals.
    /// Returns whether anything changed.
    pub(crate) fn add(&mut self, mint: i64, maxt: i64) -> bool {
        if mint > maxt {
            return false;
        }
        if self.covers(mint, maxt) {
            return false;
        }
        let (mut lo, mut hi) = (mint, maxt);
        let mut out = Vec::with_capacity(self.0.len() + 1);
        let mut placed = false;
        for &(a, b) in &self.0 {
            if b.saturating_add(1) < lo {
                out.push((a, b));
            } else if a > hi.saturating_add(1) {
                if !placed {
                    out.push((lo, hi));
                    placed = true;
                }
                out.push((a, b));
            } else {
                lo = lo.min(a);
                hi = hi.max(b);
            }
        }
        if !placed {
            out.push((lo, hi));
        }
        self.0 = out;
        true
    }

    /// Whether one interval holds all of `[mint, maxt]`.
    fn covers(&self, mint: i64, maxt: i64) -> bool {
        self.0.iter().any(|&(a, b)| a <= mint && maxt <= b)
    }

    /// Whether `t` is deleted.
    pub(crate) fn contains(&self, t: i64) -> bool {
        let i = self.0.partition_point(|&(_, b)| b < t);
        self.0.get(i).is_some_and(|&(a, _)| a <= t)
    }

    /// Whether any interval meets `[mint, maxt]`.
    pub(crate) fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.0.iter().any(|&(a, b)| a <= maxt && b >= mint)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.0.iter().copied()
    }

    /// Drops intervals ending before `t`.
    pub(crate) fn drop_before(&mut self, t: i64) {
        self.0.retain(|&(_, b)| b >= t);
    }

    /// Removes the deleted samples from `samples`.
    pub(crate) fn filter(&self, samples: &mut Vec<Sample>) {
        if !self.is_empty() {
            samples.retain(|s| !self.contains(s.t));
        }
    }
}

/// Deleted intervals by series (head ref or block series id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tombstones(BTreeMap<u32, Intervals>);

impl Tombstones {
    pub(crate) fn get(&self, id: u32) -> Option<&Intervals> {
        self.0.get(&id)
    }

    /// Adds an interval for series `id`; returns whether anything changed.
    pub(crate) fn add(&mut self, id: u32, mint: i64, maxt: i64) -> bool {
        if mint > maxt {
            return false;
        }
        self.0.entry(id).or_default().add(mint, maxt)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &Intervals)> + '_ {
        self.0.iter().map(|(k, v)| (*k, v))
    }

    /// Keeps intervals ending at or after `t`, for series `keep` accepts.
    pub(crate) fn prune(&mut self, t: i64, mut keep: impl FnMut(u32) -> bool) {
        self.0.retain(|&id, iv| {
            iv.drop_before(t);
            !iv.is_empty() && keep(id)
        });
    }

    /// The file body: magic, series count, per series its id, interval
    /// count and intervals, then a CRC32C of everything before it.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(16 + self.0.len() * 8);
        b.extend_from_slice(MAGIC);
        put_uvarint(&mut b, self.0.len() as u64);
        for (id, iv) in &self.0 {
            put_uvarint(&mut b, u64::from(*id));
            put_uvarint(&mut b, iv.0.len() as u64);
            for &(a, z) in &iv.0 {
                put_varint(&mut b, a);
                put_varint(&mut b, z);
            }
        }
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses a file body written by [`Tombstones::encode`].
    pub(crate) fn decode(data: &[u8]) -> Result<Tombstones, String> {
        if data.len() < MAGIC.len() + 4 || &data[..MAGIC.len()] != MAGIC {
            return Err("bad magic or too short".to_string());
        }
        let (body, crc) = data.split_at(data.len() - 4);
        let want = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32c::crc32c(body) != want {
            return Err("checksum mismatch".to_string());
        }
        let mut d = Decoder::new(&body[MAGIC.len()..]);
        let mut out = Tombstones::default();
        let de = |e: DecodeError| e.to_string();
        let n = d.uvarint().map_err(de)?;
        for _ in 0..n {
            let id = d.uvarint32().map_err(de)?;
            let k = d.uvarint().map_err(de)?;
            for _ in 0..k {
                let a = d.varint().map_err(de)?;
                let z = d.varint().map_err(de)?;
                out.add(id, a, z);
            }
        }
        if !d.is_empty() {
            return Err("trailing bytes".to_string());
        }
        Ok(out)
    }
}

/// Reads the tombstones of the block in `dir` (none if there is no file).
pub(crate) fn read_file(dir: &Path) -> io::Result<Result<Tombstones, String>> {
    match fs::read(dir.join(TOMBSTONES_FILE)) {
        Ok(data) => Ok(Tombstones::decode(&data)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Ok(Tombstones::default())),
        Err(e) => Err(e),
    }
}

/// Replaces the tombstones file of the block in `dir` atomically: written to
/// `tombstones.tmp`, fsynced, renamed, and the directory fsynced.
pub(crate) fn write_file(dir: &Path, t: &Tombstones) -> io::Result<()> {
    let path = dir.join(TOMBSTONES_FILE);
    let tmp = dir.join(format!("{TOMBSTONES_FILE}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&t.encode())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &path)?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_merge_and_contain() {
        let mut iv = Intervals::default();
        assert!(iv.add(10, 20));
        assert!(iv.add(30, 40));
        assert!(!iv.add(12, 18));
        assert!(iv.add(21, 25)); // adjacent: merges
        assert_eq!(iv.iter().collect::<Vec<_>>(), vec![(10, 25), (30, 40)]);
        assert!(iv.add(0, 5));
        assert!(iv.add(24, 31));
        assert_eq!(iv.iter().collect::<Vec<_>>(), vec![(0, 5), (10, 40)]);
        assert!(iv.contains(0) && iv.contains(5) && iv.contains(10) && iv.contains(40));
        assert!(!iv.contains(6) && !iv.contains(41) && !iv.contains(-1));
        assert!(!iv.overlaps(41, 100) && iv.overlaps(40, 100));
        assert!(iv.add(i64::MIN, i64::MAX));
        assert_eq!(iv.iter().collect::<Vec<_>>(), vec![(i64::MIN, i64::MAX)]);
        iv.drop_before(0);
        assert!(!iv.is_empty());
    }

    #[test]
    fn file_roundtrip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_file(dir.path()).unwrap().unwrap().is_empty());
        let mut t = Tombstones::default();
        t.add(3, -5, 7);
        t.add(3, 100, i64::MAX);
        t.add(9, i64::MIN, 0);
        write_file(dir.path(), &t).unwrap();
        assert_eq!(read_file(dir.path()).unwrap().unwrap(), t);
        let mut bytes = fs::read(dir.path().join(TOMBSTONES_FILE)).unwrap();
        let n = bytes.len();
        bytes[n / 2] ^= 0xff;
        assert!(Tombstones::decode(&bytes).is_err());
        assert!(Tombstones::decode(&bytes[..5]).is_err());
    }
}
