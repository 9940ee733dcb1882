//! Request bodies for the log corpus: Loki push (protobuf + snappy) and
//! Elasticsearch bulk (NDJSON), cut into batches per sender shard and kept
//! in a file of [`Record`]s until the ingest phase sends them.
//!
//! Every stream (`app`, `host`, `level`) belongs to one shard (by `app` and
//! `host`), and one shard's requests are sent in order by one sender, so each
//! stream reaches the server in time order, as from one Promtail or Filebeat
//! per host. Hosts are split between the protocols: the last `es_hosts` hosts
//! of every app ship over Elasticsearch bulk, the others over Loki push. A
//! shard cuts a batch for a protocol when it holds `batch_bytes` of line text
//! (Promtail's `batchsize` is 1 MiB), and at the end; a Loki batch groups the
//! entries of several streams, one `StreamAdapter` per stream.
//!
//! Bulk documents are `{"create":{"_index":"<app>"}}` then
//! `{"@timestamp":"<RFC 3339, ms>","message":"<line>","host":"host-<n>","level":"<level>"}`;
//! the server's field mapping (set by the bench) turns the index into the
//! `app` label and `host`, `level` into labels, so both protocols give the
//! same label names.

use std::collections::HashMap;
use std::io::{Read, Write};

use pharos_ingest::loki::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
use prost::Message;

use super::corpus::{Civil, EntryInfo, Level};

/// Which protocol a record is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Loki,
    Elasticsearch,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Loki => "loki",
            Proto::Elasticsearch => "elasticsearch",
        }
    }
}

/// One request body with what it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub proto: Proto,
    pub shard: u32,
    pub lines: u32,
    /// Line bytes (no newlines) in the body.
    pub raw_bytes: u64,
    pub body: Vec<u8>,
}

const HEADER: usize = 24;

impl Record {
    /// `[proto u8][0;3][shard u32][lines u32][pad u32][raw u64]` then `[len u64][body]`.
    pub fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        let mut h = [0u8; HEADER];
        h[0] = match self.proto {
            Proto::Loki => 0,
            Proto::Elasticsearch => 1,
        };
        h[4..8].copy_from_slice(&self.shard.to_le_bytes());
        h[8..12].copy_from_slice(&self.lines.to_le_bytes());
        h[16..24].copy_from_slice(&self.raw_bytes.to_le_bytes());
        w.write_all(&h)?;
        w.write_all(&(self.body.len() as u64).to_le_bytes())?;
        w.write_all(&self.body)
    }

    /// The next record, `None` at a clean end of the stream.
    pub fn read_from(r: &mut impl Read) -> std::io::Result<Option<Record>> {
        let mut h = [0u8; HEADER];
        match r.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let mut len = [0u8; 8];
        r.read_exact(&mut len)?;
        let mut body = vec![0u8; u64::from_le_bytes(len) as usize];
        r.read_exact(&mut body)?;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&h[16..24]);
        Ok(Some(Record {
            proto: if h[0] == 0 {
                Proto::Loki
            } else {
                Proto::Elasticsearch
            },
            shard: u32_at(4),
            lines: u32_at(8),
            raw_bytes: u64::from_le_bytes(raw),
            body,
        }))
    }
}

/// Appends `s` as the inside of a JSON string.
pub fn json_escape(s: &[u8], out: &mut Vec<u8>) {
    let mut last = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[last..i]);
        if esc.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(esc);
        }
        last = i + 1;
    }
    out.extend_from_slice(&s[last..]);
}

#[derive(Default)]
struct LokiPending {
    streams: Vec<StreamAdapter>,
    /// Stream id → index in `streams`.
    index: HashMap<u32, usize>,
    bytes: u64,
    lines: u32,
}

#[derive(Default)]
struct EsPending {
    body: Vec<u8>,
    bytes: u64,
    lines: u32,
}

/// Totals per protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtoTotals {
    pub lines: u64,
    pub raw_bytes: u64,
    pub requests: u64,
    pub body_bytes: u64,
}

/// Cuts the entries of a corpus into request bodies.
pub struct Batcher {
    app_names: Vec<String>,
    hosts: u32,
    es_hosts: u32,
    shards: u32,
    batch_bytes: u64,
    /// `{app="..", host="..", level=".."}` per stream id, built on first use.
    labels: HashMap<u32, String>,
    loki: Vec<LokiPending>,
    es: Vec<EsPending>,
    pub loki_totals: ProtoTotals,
    pub es_totals: ProtoTotals,
    /// Stream ids seen, per protocol.
    pub loki_streams: std::collections::HashSet<u32>,
    pub es_streams: std::collections::HashSet<u32>,
}

impl Batcher {
    pub fn new(
        app_names: Vec<String>,
        hosts: u32,
        es_hosts: u32,
        shards: u32,
        batch_bytes: u64,
    ) -> Batcher {
        let shards = shards.max(1);
        Batcher {
            app_names,
            hosts: hosts.max(1),
            es_hosts,
            shards,
            batch_bytes: batch_bytes.max(1),
            labels: HashMap::new(),
            loki: (0..shards).map(|_| LokiPending::default()).collect(),
            es: (0..shards).map(|_| EsPending::default()).collect(),
            loki_totals: ProtoTotals::default(),
            es_totals: ProtoTotals::default(),
            loki_streams: Default::default(),
            es_streams: Default::default(),
        }
    }

    /// The protocol of a host.
    pub fn proto_of(&self, host: u32) -> Proto {
        if host >= self.hosts.saturating_sub(self.es_hosts) {
            Proto::Elasticsearch
        } else {
            Proto::Loki
        }
    }

    fn stream_id(&self, e: &EntryInfo) -> u32 {
        (u32::from(e.app) * self.hosts + e.host) * 4 + e.level.index() as u32
    }

    fn shard_of(&self, e: &EntryInfo) -> u32 {
        // A multiplicative hash of (app, host), so that shards get a mix of apps.
        let k = u64::from(u32::from(e.app) * self.hosts + e.host);
        ((k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) % u64::from(self.shards)) as u32
    }

    /// Adds one entry; `sink` receives every batch cut.
    pub fn push(
        &mut self,
        e: &EntryInfo,
        line: &[u8],
        sink: &mut impl FnMut(Record) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let shard = self.shard_of(e);
        let sid = self.stream_id(e);
        match self.proto_of(e.host) {
            Proto::Loki => {
                self.loki_streams.insert(sid);
                let labels = match self.labels.get(&sid) {
                    Some(l) => l,
                    None => {
                        let l = format!(
                            "{{app=\"{}\", host=\"host-{}\", level=\"{}\"}}",
                            self.app_names[usize::from(e.app)],
                            e.host,
                            e.level.name()
                        );
                        self.labels.entry(sid).or_insert(l)
                    }
                };
                let p = &mut self.loki[shard as usize];
                let idx = match p.index.get(&sid) {
                    Some(&i) => i,
                    None => {
                        p.streams.push(StreamAdapter {
                            labels: labels.clone(),
                            entries: Vec::new(),
                            hash: 0,
                        });
                        p.index.insert(sid, p.streams.len() - 1);
                        p.streams.len() - 1
                    }
                };
                p.streams[idx].entries.push(EntryAdapter {
                    timestamp: Some(Timestamp::from_nanos(e.ts_ns)),
                    // Lines are UTF-8: templates are, and slots are ASCII.
                    line: String::from_utf8_lossy(line).into_owned(),
                    structured_metadata: Vec::new(),
                });
                p.bytes += line.len() as u64;
                p.lines += 1;
                if p.bytes >= self.batch_bytes {
                    self.flush_loki(shard, sink)?;
                }
            }
            Proto::Elasticsearch => {
                self.es_streams.insert(sid);
                let app = &self.app_names[usize::from(e.app)];
                let p = &mut self.es[shard as usize];
                p.body.extend_from_slice(b"{\"create\":{\"_index\":\"");
                p.body.extend_from_slice(app.as_bytes());
                p.body.extend_from_slice(b"\"}}\n{\"@timestamp\":\"");
                Civil::from_nanos(e.ts_ns).write_rfc3339_ms(&mut p.body);
                p.body.extend_from_slice(b"\",\"message\":\"");
                json_escape(line, &mut p.body);
                p.body.extend_from_slice(b"\",\"host\":\"host-");
                p.body.extend_from_slice(e.host.to_string().as_bytes());
                p.body.extend_from_slice(b"\",\"level\":\"");
                p.body.extend_from_slice(e.level.name().as_bytes());
                p.body.extend_from_slice(b"\"}\n");
                p.bytes += line.len() as u64;
                p.lines += 1;
                if p.bytes >= self.batch_bytes {
                    self.flush_es(shard, sink)?;
                }
            }
        }
        Ok(())
    }

    fn flush_loki(
        &mut self,
        shard: u32,
        sink: &mut impl FnMut(Record) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let p = std::mem::take(&mut self.loki[shard as usize]);
        if p.lines == 0 {
            return Ok(());
        }
        let raw = PushRequest { streams: p.streams }.encode_to_vec();
        let body = snap::raw::Encoder::new().compress_vec(&raw)?;
        let t = &mut self.loki_totals;
        t.lines += u64::from(p.lines);
        t.raw_bytes += p.bytes;
        t.requests += 1;
        t.body_bytes += body.len() as u64;
        sink(Record {
            proto: Proto::Loki,
            shard,
            lines: p.lines,
            raw_bytes: p.bytes,
            body,
        })
    }

    fn flush_es(
        &mut self,
        shard: u32,
        sink: &mut impl FnMut(Record) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let p = std::mem::take(&mut self.es[shard as usize]);
        if p.lines == 0 {
            return Ok(());
        }
        let t = &mut self.es_totals;
        t.lines += u64::from(p.lines);
        t.raw_bytes += p.bytes;
        t.requests += 1;
        t.body_bytes += p.body.len() as u64;
        sink(Record {
            proto: Proto::Elasticsearch,
            shard,
            lines: p.lines,
            raw_bytes: p.bytes,
            body: p.body,
        })
    }

    /// Cuts every partly filled batch.
    pub fn finish(
        &mut self,
        sink: &mut impl FnMut(Record) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        for s in 0..self.shards {
            self.flush_loki(s, sink)?;
            self.flush_es(s, sink)?;
        }
        Ok(())
    }

    /// Levels present, per protocol's streams together.
    pub fn levels(&self) -> Vec<Level> {
        let mut seen = [false; 4];
        for sid in self.loki_streams.iter().chain(&self.es_streams) {
            seen[(sid % 4) as usize] = true;
        }
        Level::ALL.into_iter().filter(|l| seen[l.index()]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_ingest::elasticsearch::{parse_bulk, FieldMapping};

    fn entry(app: u16, host: u32, level: Level, ts_ns: i64) -> EntryInfo {
        EntryInfo {
            app,
            host,
            level,
            ts_ns,
            needle: false,
        }
    }

    #[test]
    fn bodies_decode_as_the_server_reads_them() {
        let mut b = Batcher::new(vec!["hdfs".into(), "apache".into()], 5, 1, 2, 60);
        let mut recs = Vec::new();
        let mut sink = |r: Record| {
            recs.push(r);
            Ok(())
        };
        let t0 = 1_700_000_000_123_456_789;
        let lines = [
            "a \"quoted\" \\ line\twith tab",
            "second line",
            "third",
            "fourth one",
        ];
        for (i, l) in lines.iter().enumerate() {
            let host = if i % 2 == 0 { 0 } else { 4 };
            b.push(
                &entry((i % 2) as u16, host, Level::Warn, t0 + i as i64),
                l.as_bytes(),
                &mut sink,
            )
            .expect("push");
        }
        b.finish(&mut sink).expect("finish");
        assert_eq!(b.loki_totals.lines + b.es_totals.lines, 4);
        assert_eq!(b.levels(), vec![Level::Warn]);
        let mut loki_lines = Vec::new();
        let mut es_lines = Vec::new();
        for r in &recs {
            let mut buf = Vec::new();
            r.write_to(&mut buf).expect("write");
            let back = Record::read_from(&mut buf.as_slice())
                .expect("read")
                .expect("some");
            assert_eq!(&back, r);
            match r.proto {
                Proto::Loki => {
                    let streams = pharos_ingest::loki::decode_push(
                        Some("application/x-protobuf"),
                        None,
                        &r.body,
                        1 << 20,
                    )
                    .expect("decodes");
                    for s in streams {
                        assert_eq!(
                            s.labels.to_string(),
                            r#"{app="hdfs", host="host-0", level="warn"}"#
                        );
                        loki_lines
                            .extend(s.entries.into_iter().map(|e| (e.ts, e.line.to_string())));
                    }
                }
                Proto::Elasticsearch => {
                    let mapping = FieldMapping {
                        index_label: "app".into(),
                        label_fields: vec!["host".into(), "level".into()],
                        ..FieldMapping::default()
                    };
                    let mut req = parse_bulk(&r.body, None, &mapping, 0).expect("parses");
                    for s in req.take_streams() {
                        assert_eq!(
                            s.labels.to_string(),
                            r#"{app="apache", host="host-4", level="warn"}"#
                        );
                        for e in s.entries {
                            assert!(e.metadata.is_empty());
                            es_lines.push((e.ts, e.line.to_string()));
                        }
                    }
                }
            }
        }
        assert_eq!(
            loki_lines,
            vec![(t0, lines[0].to_string()), (t0 + 2, lines[2].to_string())]
        );
        // Bulk timestamps are in milliseconds.
        assert_eq!(
            es_lines,
            vec![
                (t0 / 1_000_000 * 1_000_000, lines[1].to_string()),
                (t0 / 1_000_000 * 1_000_000, lines[3].to_string())
            ]
        );
        assert!(Record::read_from(&mut &[][..]).expect("eof").is_none());
    }

    #[test]
    fn json_escaping() {
        let mut out = Vec::new();
        json_escape(b"a\"b\\c\nd\x01e\xc3\xa9", &mut out);
        assert_eq!(out, b"a\\\"b\\\\c\\nd\\u0001e\xc3\xa9");
    }

    #[test]
    fn batches_are_cut_at_the_size() {
        let mut b = Batcher::new(vec!["x".into()], 1, 0, 1, 100);
        let mut recs = Vec::new();
        let mut sink = |r: Record| {
            recs.push(r);
            Ok(())
        };
        for i in 0..10 {
            b.push(&entry(0, 0, Level::Info, i), &[b'a'; 30], &mut sink)
                .expect("push");
        }
        b.finish(&mut sink).expect("finish");
        let sizes: Vec<u64> = recs.iter().map(|r| r.raw_bytes).collect();
        assert_eq!(sizes, vec![120, 120, 60]);
        assert!(recs.iter().all(|r| r.proto == Proto::Loki));
    }
}
