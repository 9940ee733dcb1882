//! The in-memory head: every stream's entries since the store opened (or
//! since its WAL began), in time order per stream.

use std::collections::HashMap;

use pharos_model::{Labels, LogEntry, Matcher};

/// One stream in the head.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) labels: Labels,
    /// Sorted by timestamp; entries with equal timestamps keep arrival order.
    pub(crate) entries: Vec<LogEntry>,
    pub(crate) bytes: usize,
}

impl Stream {
    /// Inserts in time order (appends in the common in-order case).
    pub(crate) fn insert(&mut self, e: LogEntry) {
        self.bytes += e.size();
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
