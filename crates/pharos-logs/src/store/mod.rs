//! The log store: validate → WAL → head → acknowledge.
//!
//! [`LogStore::push`] judges every entry against the [`Limits`], writes the
//! accepted ones to the WAL in one batch (a stream record first for each new
//! stream), applies them to the in-memory head and only then returns, so an
//! acknowledged entry survives `kill -9` ([`LogStore::open`] replays the WAL).
//! [`LogStore::select`] reads the head.
//!
//! Not yet: immutable on-disk segments, compaction, retention and the token
//! indexes; until then the head holds everything since the WAL began.

mod head;
mod limits;
mod record;

use std::path::{Path, PathBuf};
use std::time::Instant;

use parking_lot::Mutex;
use pharos_model::{
    Labels, LogEntry, LogRejectReason, LogRejection, LogSink, LogStoreError, LogStream, Matcher,
    PushOutcome,
};
use pharos_wal::{FsyncPolicy, Wal, WalOptions};

pub use limits::Limits;

use head::Head;
use limits::Bucket;
use record::Record;

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub limits: Limits,
    pub fsync: FsyncPolicy,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            limits: Limits::default(),
            fsync: WalOptions::default().fsync,
        }
    }
}

/// What replay found when the store opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub streams: usize,
    pub entries: usize,
    /// Records that could not be decoded or named an unknown stream (logged).
    pub bad_records: usize,
}

struct State {
    wal: Wal,
    head: Head,
    global: Bucket,
    per_stream: Vec<Bucket>,
}

/// The log store over one directory.
pub struct LogStore {
    dir: PathBuf,
    limits: Limits,
    state: Mutex<State>,
    replayed: ReplayStats,
}

/// The entries of one stream returned by [`LogStore::select`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntries {
    pub labels: Labels,
    pub entries: Vec<LogEntry>,
}

/// Makes structured-metadata names label names (every character outside
/// `[a-zA-Z0-9_]` becomes `_`, a leading digit gets a `_` before it), as Loki
/// does for OTLP attributes, so LogQL label filters can name them:
/// `k8s.node.name` is stored as `k8s_node_name`.
fn normalize_metadata(e: &mut LogEntry) {
    for (k, _) in &mut e.metadata {
        if pharos_model::is_valid_label_name(k) {
            continue;
        }
        let mut n: String = k
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if n.is_empty() || n.starts_with(|c: char| c.is_ascii_digit()) {
            n.insert(0, '_');
        }
        *k = n;
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl LogStore {
    /// Opens (creating if needed) the store in `dir` and replays its WAL.
    pub fn open(dir: &Path, opts: StoreOptions) -> Result<LogStore, LogStoreError> {
        std::fs::create_dir_all(dir)?;
        let wal = Wal::open(
            &dir.join("wal"),
            WalOptions {
                fsync: opts.fsync,
                ..WalOptions::default()
            },
        )
        .map_err(|e| LogStoreError::Io(std::io::Error::other(e.to_string())))?;
        let mut head = Head::default();
        let mut stats = ReplayStats::default();
        let replay = wal
            .replay()
            .map_err(|e| LogStoreError::Io(std::io::Error::other(e.to_string())))?;
        for item in replay {
            let (seg, bytes) = match item {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "log WAL replay stopped early");
                    break;
                }
            };
            match record::decode(&bytes) {
                Ok(Record::Stream { id, labels }) => {
                    if id as usize == head.streams.len() {
                        head.add(labels);
                        stats.streams += 1;
                    } else {
                        tracing::warn!(segment = seg, id, "log WAL: stream id out of sequence");
                        stats.bad_records += 1;
                    }
                }
                Ok(Record::Entries { stream, entries }) => {
                    match head.streams.get_mut(stream as usize) {
                        Some(s) => {
                            stats.entries += entries.len();
                            for e in entries {
                                s.insert(e);
                            }
                        }
                        None => {
                            tracing::warn!(
                                segment = seg,
                                stream,
                                "log WAL: entries of an unknown stream"
                            );
                            stats.bad_records += 1;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(segment = seg, error = %e, "log WAL: undecodable record skipped");
                    stats.bad_records += 1;
                }
            }
        }
        let now = Instant::now();
        let per_stream = (0..head.streams.len())
            .map(|_| Bucket::new(opts.limits.stream_burst_bytes, now))
            .collect();
        Ok(LogStore {
            dir: dir.to_path_buf(),
            state: Mutex::new(State {
                wal,
                head,
                global: Bucket::new(opts.limits.burst_bytes, now),
                per_stream,
            }),
            limits: opts.limits,
            replayed: stats,
        })
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What replay found at open.
    pub fn replayed(&self) -> &ReplayStats {
        &self.replayed
    }

    /// Number of streams and entries in the head.
    pub fn counts(&self) -> (usize, usize) {
        let st = self.state.lock();
        let entries = st.head.streams.iter().map(|s| s.entries.len()).sum();
        (st.head.streams.len(), entries)
    }

    /// Fsyncs the WAL if the interval policy says it is due (call from a timer).
    pub fn sync_if_due(&self) -> Result<(), LogStoreError> {
        self.state
            .lock()
            .wal
            .sync_if_due()
            .map(|_| ())
            .map_err(|e| LogStoreError::Io(std::io::Error::other(e.to_string())))
    }

    /// Fsyncs the WAL now (at shutdown).
    pub fn sync(&self) -> Result<(), LogStoreError> {
        self.state
            .lock()
            .wal
            .sync()
            .map_err(|e| LogStoreError::Io(std::io::Error::other(e.to_string())))
    }

    /// Seconds until a refused push of `bytes` could pass the global rate
    /// limit (for `Retry-After`), at least 1.
    pub fn retry_after_secs(&self, bytes: usize) -> u64 {
        let st = self.state.lock();
        let w = st.global.wait_for(
            bytes as f64,
            self.limits.rate_bytes,
            self.limits.burst_bytes,
        );
        (w.ceil() as u64).max(1)
    }

    /// Pushes `streams` as of `now_ns`; see [`LogSink::push`].
    pub fn push_at(
        &self,
        streams: Vec<LogStream>,
        now_ns: i64,
    ) -> Result<PushOutcome, LogStoreError> {
        let mut out = PushOutcome::default();
        let mut st = self.state.lock();
        let now = Instant::now();
        let mut wal_buf: Vec<u8> = Vec::new();
        let mut recs: Vec<(usize, usize)> = Vec::new();
        let mut apply: Vec<(u32, Vec<LogEntry>)> = Vec::new();
        let mut new_streams: Vec<Labels> = Vec::new();
        let first_new = st.head.streams.len();
        let reject =
            |out: &mut PushOutcome, labels: &Labels, n: usize, ts: i64, r: LogRejectReason| {
                if n > 0 {
                    out.rejected.push(LogRejection {
                        stream: labels.clone(),
                        entries: n,
                        first_ts: ts,
                        reason: r,
                    });
                }
            };
        for s in streams {
            let first_ts = s.entries.first().map_or(0, |e| e.ts);
            if let Err(r) = self.limits.check_labels(&s.labels) {
                reject(&mut out, &s.labels, s.entries.len(), first_ts, r);
                continue;
            }
            // Per-entry checks; refusals grouped by reason.
            let mut ok = Vec::with_capacity(s.entries.len());
            let mut refused: Vec<(LogRejectReason, usize, i64)> = Vec::new();
            for mut e in s.entries {
                normalize_metadata(&mut e);
                match self.limits.check_entry(&e, now_ns) {
                    Ok(()) => ok.push(e),
                    Err(r) => match refused.iter_mut().find(|x| x.0.reason() == r.reason()) {
                        Some(x) => x.1 += 1,
                        None => refused.push((r, 1, e.ts)),
                    },
                }
            }
            for (r, n, ts) in refused {
                reject(&mut out, &s.labels, n, ts, r);
            }
            if ok.is_empty() {
                continue;
            }
            let bytes: usize = ok.iter().map(LogEntry::size).sum();
            let id = match st.head.find(&s.labels).or_else(|| {
                new_streams
                    .iter()
                    .position(|l| *l == s.labels)
                    .map(|i| (first_new + i) as u32)
            }) {
                Some(id) => id,
                None => {
                    let total = first_new + new_streams.len();
                    if self.limits.max_streams > 0 && total >= self.limits.max_streams {
                        let n = ok.len();
                        reject(
                            &mut out,
                            &s.labels,
                            n,
                            first_ts,
                            LogRejectReason::TooManyStreams(self.limits.max_streams),
                        );
                        continue;
                    }
                    let id = total as u32;
                    let at = wal_buf.len();
                    record::encode_stream(&mut wal_buf, id, &s.labels);
                    recs.push((at, wal_buf.len()));
                    new_streams.push(s.labels.clone());
                    st.per_stream
                        .push(Bucket::new(self.limits.stream_burst_bytes, now));
                    id
                }
            };
            let l = &self.limits;
            let stream_ok = st.per_stream[id as usize].take(
                bytes as f64,
                l.stream_rate_bytes,
                l.stream_burst_bytes,
                now,
            );
            if !stream_ok
                || !st
                    .global
                    .take(bytes as f64, l.rate_bytes, l.burst_bytes, now)
            {
                let n = ok.len();
                reject(
                    &mut out,
                    &s.labels,
                    n,
                    first_ts,
                    LogRejectReason::RateLimited,
                );
                continue;
            }
            let at = wal_buf.len();
            record::encode_entries(&mut wal_buf, id, ok.iter());
            recs.push((at, wal_buf.len()));
            out.accepted += ok.len();
            out.accepted_bytes += bytes;
            apply.push((id, ok));
        }
        if !recs.is_empty() {
            let slices: Vec<&[u8]> = recs.iter().map(|&(a, b)| &wal_buf[a..b]).collect();
            if let Err(e) = st.wal.append_batch(&slices) {
                // Nothing was applied; buckets of new streams are dropped below.
                st.per_stream.truncate(first_new);
                return Err(LogStoreError::Io(std::io::Error::other(e.to_string())));
            }
        }
        // A stream whose every entry was refused later (rate limit) still
        // had its stream record written; it must exist so ids stay in step.
        out.streams_created = new_streams.len();
        for labels in new_streams {
            st.head.add(labels);
        }
        for (id, entries) in apply {
            let s = &mut st.head.streams[id as usize];
            for e in entries {
                s.insert(e);
            }
        }
        Ok(out)
    }

    /// Entries of the streams matching `ms` with `start_ns <= ts < end_ns`,
    /// streams in label order, entries in time order.
    pub fn select(&self, ms: &[Matcher], start_ns: i64, end_ns: i64) -> Vec<StreamEntries> {
        let st = self.state.lock();
        let mut out: Vec<StreamEntries> = st
            .head
            .matching(ms)
            .into_iter()
            .filter_map(|id| {
                let s = &st.head.streams[id as usize];
                let a = s.entries.partition_point(|e| e.ts < start_ns);
                let b = s.entries.partition_point(|e| e.ts < end_ns);
                (a < b).then(|| StreamEntries {
                    labels: s.labels.clone(),
                    entries: s.entries[a..b].to_vec(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Label sets of the streams matching `ms` (all if empty) that have an
    /// entry with `start_ns <= ts < end_ns`, sorted.
    pub fn streams(&self, ms: &[Matcher], start_ns: i64, end_ns: i64) -> Vec<Labels> {
        let st = self.state.lock();
        let mut v: Vec<Labels> = st
            .head
            .matching(ms)
            .into_iter()
            .map(|id| &st.head.streams[id as usize])
            .filter(|s| {
                let a = s.entries.partition_point(|e| e.ts < start_ns);
                s.entries.get(a).is_some_and(|e| e.ts < end_ns)
            })
            .map(|s| s.labels.clone())
            .collect();
        v.sort();
        v
    }

    /// Streams, entries and bytes (lines and metadata) of the streams
    /// matching `ms` within `[start_ns, end_ns)`: Loki's index statistics.
    pub fn stats(&self, ms: &[Matcher], start_ns: i64, end_ns: i64) -> (usize, usize, usize) {
        let st = self.state.lock();
        let (mut streams, mut entries, mut bytes) = (0, 0, 0);
        for id in st.head.matching(ms) {
            let s = &st.head.streams[id as usize];
            let a = s.entries.partition_point(|e| e.ts < start_ns);
            let b = s.entries.partition_point(|e| e.ts < end_ns);
            if a < b {
                streams += 1;
                entries += b - a;
                bytes += s.entries[a..b].iter().map(LogEntry::size).sum::<usize>();
            }
        }
        (streams, entries, bytes)
    }

    /// Label names of those streams, sorted.
    pub fn label_names(&self, ms: &[Matcher], start_ns: i64, end_ns: i64) -> Vec<String> {
        let mut v: Vec<String> = self
            .streams(ms, start_ns, end_ns)
            .iter()
            .flat_map(|ls| ls.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Values of label `name` on those streams, sorted.
    pub fn label_values(
        &self,
        name: &str,
        ms: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Vec<String> {
        let mut v: Vec<String> = self
            .streams(ms, start_ns, end_ns)
            .iter()
            .filter_map(|ls| ls.get(name).map(str::to_string))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

impl LogSink for LogStore {
    fn push(&self, streams: Vec<LogStream>) -> Result<PushOutcome, LogStoreError> {
        self.push_at(streams, now_ns())
    }
}

#[cfg(test)]
mod tests;
