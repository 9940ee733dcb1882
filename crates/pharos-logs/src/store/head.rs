//! The in-memory head: every stream's entries since the store opened (or
//! since its WAL began), in time order per stream.
//!
//! The head is the store's largest use of memory (a segment's worth of
//! lines, twice while a frozen head is written), so it keeps an entry in 24
//! bytes beside its line: the lines are copied into 1 MiB buffers shared by
//! the whole head, and the rare structured metadata sits in a side table.

use std::collections::HashMap;

use pharos_model::{metadata_size, Labels, Line, LogEntry, Matcher};

/// Line bytes per buffer of the head's arena.
const ARENA_CHUNK: usize = 1 << 20;

/// An entry as the head holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadEntry {
    /// Unix nanoseconds.
    pub(crate) ts: i64,
    /// Where the line is: buffer, offset and length.
    chunk: u32,
    off: u32,
    len: u32,
    /// 1 + its index in [`Head::metadata`]; 0 when it has none.
    md: u32,
}

/// One stream in the head.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) labels: Labels,
    /// Sorted by timestamp; entries with equal timestamps keep arrival order.
    pub(crate) entries: Vec<HeadEntry>,
    /// What its entries count for ([`LogEntry::size`]).
    pub(crate) bytes: usize,
}

impl Stream {
    /// Inserts in time order (appends in the common in-order case).
    fn insert(&mut self, e: HeadEntry) {
        match self.entries.last() {
            Some(last) if last.ts > e.ts => {
                let at = self.entries.partition_point(|x| x.ts <= e.ts);
                self.entries.insert(at, e);
            }
            _ => self.entries.push(e),
        }
    }
}

/// Streams by id, and ids by label hash.
#[derive(Debug, Default)]
pub(crate) struct Head {
    pub(crate) streams: Vec<Stream>,
    by_hash: HashMap<u64, Vec<u32>>,
    /// The lines, back to back. A pushed line is a slice of its request's
    /// body, and keeping it would keep the whole body (protobuf framing, an
    /// Elasticsearch document's JSON) for as long as the head.
    chunks: Vec<Vec<u8>>,
    /// Structured metadata of the entries that have any.
    metadata: Vec<Vec<(String, String)>>,
}

impl Head {
    /// The id of the stream with these labels, if any.
    pub(crate) fn find(&self, labels: &Labels) -> Option<u32> {
        self.by_hash
            .get(&labels.hash64())?
            .iter()
            .copied()
            .find(|&id| self.streams[id as usize].labels == *labels)
    }

    /// Adds a stream; its id is the next free one. Replay adds streams in the
    /// order their ids were given, so ids are stable across restarts.
    pub(crate) fn add(&mut self, labels: Labels) -> u32 {
        let id = self.streams.len() as u32;
        self.by_hash.entry(labels.hash64()).or_default().push(id);
        self.streams.push(Stream {
            labels,
            entries: Vec::new(),
            bytes: 0,
        });
        id
    }

    /// Inserts `e` into stream `id` (which must exist), its line copied into
    /// the head's buffers.
    pub(crate) fn insert(&mut self, id: u32, e: LogEntry) {
        let size = e.size();
        let b = e.line.as_bytes();
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.capacity() - c.len() >= b.len());
        if !fits {
            self.chunks
                .push(Vec::with_capacity(ARENA_CHUNK.max(b.len())));
        }
        let chunk = self.chunks.len() - 1;
        let c = &mut self.chunks[chunk];
        let off = c.len();
        c.extend_from_slice(b);
        let md = if e.metadata.is_empty() {
            0
        } else {
            self.metadata.push(e.metadata);
            self.metadata.len() as u32
        };
        let s = &mut self.streams[id as usize];
        s.bytes += size;
        s.insert(HeadEntry {
            ts: e.ts,
            chunk: chunk as u32,
            off: off as u32,
            len: b.len() as u32,
            md,
        });
    }

    /// The line of `e`, an entry of this head.
    pub(crate) fn line(&self, e: &HeadEntry) -> &str {
        let b = &self.chunks[e.chunk as usize][e.off as usize..][..e.len as usize];
        // SAFETY: `insert` copied exactly these bytes from a `Line`, which is
        // valid UTF-8, and nothing writes over bytes once copied.
        unsafe { std::str::from_utf8_unchecked(b) }
    }

    /// The structured metadata of `e`, an entry of this head.
    pub(crate) fn metadata(&self, e: &HeadEntry) -> &[(String, String)] {
        match e.md {
            0 => &[],
            k => &self.metadata[k as usize - 1],
        }
    }

    /// What `e` counts for in size limits ([`LogEntry::size`]).
    pub(crate) fn size(&self, e: &HeadEntry) -> usize {
        e.len as usize + metadata_size(self.metadata(e))
    }

    /// `e` as a [`LogEntry`] of its own (the line copied), its line left
    /// empty unless `line`.
    pub(crate) fn entry(&self, e: &HeadEntry, line: bool) -> LogEntry {
        LogEntry {
            ts: e.ts,
            line: if line {
                Line::from(self.line(e))
            } else {
                Line::default()
            },
            metadata: self.metadata(e).to_vec(),
        }
    }

    /// Ids of the streams whose labels match every matcher.
    pub(crate) fn matching(&self, ms: &[Matcher]) -> Vec<u32> {
        (0..self.streams.len() as u32)
            .filter(|&id| {
                let ls = &self.streams[id as usize].labels;
                ms.iter().all(|m| m.matches(ls.get(&m.name).unwrap_or("")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_their_lines_metadata_and_time_order() {
        let mut h = Head::default();
        let a = h.add(Labels::from_pairs(&[("app", "a")]));
        let mut with_md = LogEntry::new(5, "five");
        with_md.metadata = vec![("trace_id".into(), "abc".into())];
        h.insert(a, LogEntry::new(7, "seven"));
        h.insert(a, with_md.clone());
        h.insert(a, LogEntry::new(9, "nine"));
        let long = "x".repeat(ARENA_CHUNK + 10);
        h.insert(a, LogEntry::new(8, long.as_str()));
        let s = &h.streams[a as usize];
        let got: Vec<LogEntry> = s.entries.iter().map(|e| h.entry(e, true)).collect();
        let want = vec![
            with_md.clone(),
            LogEntry::new(7, "seven"),
            LogEntry::new(8, long.as_str()),
            LogEntry::new(9, "nine"),
        ];
        assert_eq!(got, want);
        assert_eq!(s.bytes, want.iter().map(LogEntry::size).sum::<usize>());
        let sizes: Vec<usize> = s.entries.iter().map(|e| h.size(e)).collect();
        assert_eq!(sizes, want.iter().map(LogEntry::size).collect::<Vec<_>>());
        // The long line has a buffer of its own; the short ones share one.
        assert_eq!(h.chunks.len(), 2);
        assert_eq!(h.entry(&s.entries[0], false).line, "");
        assert_eq!(std::mem::size_of::<HeadEntry>(), 24);
    }
}
