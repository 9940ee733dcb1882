//! Immutable segments: a head written out to disk (format:
//! `docs/format/logs-segment.md`).
//!
//! A segment is a directory holding `data.parquet` — every entry, sorted by
//! stream (in label order) then time, cut into row groups of about
//! [`SegmentOptions::group_bytes`] of line text, compressed with zstd; a row
//! group's timestamps packed by [`tscodec`] and its lines joined into one
//! text, or split by [`linecodec`] with [`SegmentOptions::split_lines`] — and
//! `index.bin`, pharos's index of it: the stream table, per row group the
//! runs of rows of each stream with their time ranges, and the token index
//! ([`super::tokens`]). A query reads `index.bin`'s tables (kept in memory
//! while the segment is open), picks the row groups whose streams, times and
//! tokens can match, and decodes only those, and of them only the columns
//! it needs.
//!
//! A segment is written into `<id>.tmp/` and renamed into place once both
//! files are synced, so a segment directory is always whole; `.tmp`
//! directories found at start-up are leftovers of a crash and are deleted.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::column::reader::{get_typed_column_reader, ColumnReader};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{FileReader, RowGroupReader};
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::ColumnPath;
use pharos_model::{Label, Labels, Line, LogEntry, Matcher};

use super::cache::{self, IndexCache};
use super::codec::{put_ivarint, put_str, put_uvarint, CodecError, Reader};
use super::head::{Head, HeadEntry};
use super::linecodec;
use super::tokens::{
    bucket_may_fit, pieces, EncodedBucket, Piece, Required, TokenIndex, TokenIndexBuilder,
};
use super::tscodec::{self, RunSpan};
use crate::deadline::Deadline;

/// `index.bin` as written now: number tokens stored as values.
const INDEX_MAGIC: &[u8; 8] = b"PHXLSEG3";
/// `index.bin` before that: every token as text (still read).
const INDEX_MAGIC_TEXT: &[u8; 8] = b"PHXLSEG2";
const FOOTER_MAGIC: &[u8; 8] = b"PHXLEND1";
const DATA_FILE: &str = "data.parquet";
const INDEX_FILE: &str = "index.bin";
/// zstd level of `index.bin`'s sections.
const INDEX_ZSTD_LEVEL: i32 = 1;
/// zstd level of blocks of split lines with predictors (format 7), at least
/// the data file's: their text is a small part of them, and on the benchmark
/// corpus level 3 took them 2.8% smaller than level 1 for a tenth of a
/// second more per GiB of lines (level 1's advantage on text lines is gone).
const BLOCK_ZSTD_LEVEL: i32 = 3;
/// Written by a compaction: the ids of the segments this one replaces.
const REPLACES_FILE: &str = "replaces";

/// How a data file holds its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineLayout {
    /// `line`: one text value per row (formats 1 and 3).
    Rows,
    /// `lines`: a row group's lines joined by `\n`, in its first row
    /// (format 5).
    Joined,
    /// `line_skeleton` and `line_vars` per row, by [`linecodec`] (formats 2
    /// and 4).
    Split,
    /// `lines_split`: a row group's lines split by [`linecodec`], as one
    /// block ([`linecodec::encode_block`]) in its first row (format 6).
    SplitBlock,
    /// `lines_block`: as `lines_split`, with each number column written
    /// against a predictor (its previous value, or a field of the rows'
    /// timestamps: [`linecodec::encode_block`] with timestamps; format 7).
    TimedBlock,
}

impl LineLayout {
    const ALL: [LineLayout; 5] = [
        LineLayout::Rows,
        LineLayout::Joined,
        LineLayout::Split,
        LineLayout::SplitBlock,
        LineLayout::TimedBlock,
    ];

    /// Its line columns: name and Parquet type, in schema order.
    fn columns(self) -> &'static [(&'static str, &'static str)] {
        match self {
            LineLayout::Rows => &[("line", "required binary line (UTF8);")],
            LineLayout::Joined => &[("lines", "optional binary lines;")],
            LineLayout::Split => &[
                ("line_skeleton", "required binary line_skeleton;"),
                ("line_vars", "required binary line_vars;"),
            ],
            LineLayout::SplitBlock => &[("lines_split", "optional binary lines_split;")],
            LineLayout::TimedBlock => &[("lines_block", "optional binary lines_block;")],
        }
    }

    /// A row group's lines are one value, in its first row.
    fn one_value(self) -> bool {
        matches!(
            self,
            LineLayout::Joined | LineLayout::SplitBlock | LineLayout::TimedBlock
        )
    }
}

/// A `\n` inside a line, in joined lines: a byte that never occurs in
/// UTF-8, so the lines' own bytes need no other escape.
const NEWLINE_IN_LINE: u8 = 0xFF;

/// `lines` joined as [`LineLayout::Joined`] stores them.
fn join_text<'a>(lines: impl Iterator<Item = &'a [u8]> + Clone) -> Vec<u8> {
    let mut text = Vec::with_capacity(lines.clone().map(|l| l.len() + 1).sum());
    for (i, l) in lines.enumerate() {
        if i > 0 {
            text.push(b'\n');
        }
        if memchr::memchr(b'\n', l).is_some() {
            text.extend(
                l.iter()
                    .map(|&c| if c == b'\n' { NEWLINE_IN_LINE } else { c }),
            );
        } else {
            text.extend_from_slice(l);
        }
    }
    text
}

/// Where each line of joined `text` ([`join_text`]) starts and ends.
fn joined_bounds(text: &[u8], bounds: &mut Vec<(usize, usize)>) {
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', text) {
        bounds.push((start, nl));
        start = nl + 1;
    }
    bounds.push((start, text.len()));
}

/// The schema and `pharos.format` of a data file: timestamps packed by
/// [`tscodec`] (formats 3 to 6) or plain (1 and 2), and lines as
/// [`LineLayout`] says.
fn schema(packed_ts: bool, lines: LineLayout) -> (String, &'static str) {
    let ts = if packed_ts {
        "optional binary timestamps;"
    } else {
        "required int64 timestamp (TIMESTAMP(NANOS,true));"
    };
    let line = lines
        .columns()
        .iter()
        .map(|(_, ty)| *ty)
        .collect::<Vec<_>>()
        .join("\n  ");
    let format = match (packed_ts, lines) {
        (false, LineLayout::Rows) => "logs-segment 1",
        (false, LineLayout::Split) => "logs-segment 2",
        (true, LineLayout::Rows) => "logs-segment 3",
        (true, LineLayout::Split) => "logs-segment 4",
        (_, LineLayout::Joined) => "logs-segment 5",
        (_, LineLayout::SplitBlock) => "logs-segment 6",
        (_, LineLayout::TimedBlock) => "logs-segment 7",
    };
    (
        format!(
            "message pharos_log_entries {{\n  required int32 stream;\n  {ts}\n  {line}\n  \
             optional binary metadata (UTF8);\n  required binary labels (UTF8);\n}}"
        ),
        format,
    )
}

/// Structured-metadata names whose values join the token index, so that
/// "every entry of this trace" reads only the row groups holding it.
pub(crate) const INDEXED_METADATA: &[&str] = &[
    "trace_id", "span_id", "traceID", "traceId", "spanID", "spanId",
];

const COL_TS: usize = 1;

/// How segments are written.
#[derive(Debug, Clone)]
pub struct SegmentOptions {
    /// Line bytes per row group: the unit a query decodes.
    pub group_bytes: usize,
    /// zstd level of the data file. Level 1 is the default: on the
    /// benchmark corpus's lines (1 MiB pages) it compressed 4% smaller than
    /// level 3 in two thirds of the time.
    pub zstd_level: i32,
    /// Store lines split into skeleton and variables ([`linecodec`]; format
    /// 6, the default, or 2 and 4 as below) instead of as text (formats 5,
    /// 3 and 1): on the benchmark corpus a fifth less disk than text for
    /// about a tenth more ingest CPU.
    pub split_lines: bool,
    /// Store each row group's timestamps packed by [`tscodec`] (formats 3
    /// to 6, the default) instead of as Parquet's delta-encoded INT64
    /// column (formats 1 and 2, still read; written only to test that).
    pub packed_timestamps: bool,
    /// Store a row group's lines as one value (with packed timestamps, the
    /// default): as text joined by `\n` (format 5), where one value per row
    /// made Parquet write each line's 4-byte length (7% of the compressed
    /// lines on the benchmark corpus), or split lines as one block with a
    /// column per variable of each skeleton (format 6).
    pub join_lines: bool,
    /// Write each number column of a block of split lines against the
    /// predictor that costs it least, among its previous value and the fields
    /// of the rows' timestamps (format 7, the default), instead of always
    /// its previous value (format 6): a line's own timestamp mostly repeats
    /// its entry's, and then takes next to nothing.
    pub time_predictors: bool,
}

impl SegmentOptions {
    fn line_layout(&self) -> LineLayout {
        let one_value = self.join_lines && self.packed_timestamps;
        match (self.split_lines, one_value) {
            (true, true) if self.time_predictors => LineLayout::TimedBlock,
            (true, true) => LineLayout::SplitBlock,
            (true, false) => LineLayout::Split,
            (false, true) => LineLayout::Joined,
            (false, false) => LineLayout::Rows,
        }
    }
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            group_bytes: 4 << 20,
            zstd_level: 1,
            split_lines: true,
            packed_timestamps: true,
            join_lines: true,
            time_predictors: true,
        }
    }
}

/// Why a segment could not be written or read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SegmentError {
    #[error("log segment {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("log segment {path}: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("log segment {path}: {source}")]
    Corrupt { path: PathBuf, source: CodecError },
    #[error("log segment {path}: {what}")]
    Invalid { path: PathBuf, what: String },
}

/// One stream of a segment.
#[derive(Debug, Clone)]
pub(crate) struct SegStream {
    pub(crate) labels: Labels,
    pub(crate) entries: u64,
    pub(crate) bytes: u64,
    pub(crate) min_ts: i64,
    pub(crate) max_ts: i64,
}

/// Consecutive rows of one stream inside a row group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) stream: u32,
    pub(crate) rows: u32,
    pub(crate) min_ts: i64,
    pub(crate) max_ts: i64,
}

/// One row group.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) rows: u32,
    pub(crate) line_bytes: u64,
    pub(crate) runs: Vec<Run>,
}

/// An open segment: its tables, in memory; its data, on disk.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) id: u64,
    pub(crate) dir: PathBuf,
    /// The last WAL segment whose records this segment holds.
    pub(crate) wal_last: u32,
    pub(crate) min_ts: i64,
    pub(crate) max_ts: i64,
    pub(crate) entries: u64,
    /// Lines and metadata, as counted against limits.
    pub(crate) bytes: u64,
    /// Both files.
    pub(crate) disk_bytes: u64,
    pub(crate) streams: Vec<SegStream>,
    pub(crate) groups: Vec<Group>,
    tokens_at: (u64, u64, u32),
    /// The token-length buckets of section 1.
    buckets: Vec<TokenBucket>,
    /// Whether the buckets hold every token as text (`PHXLSEG2`).
    text_tokens: bool,
    /// This segment's key in the process's token-index cache.
    uid: u64,
    /// The segments a compaction merged into this one (its `replaces` file).
    pub(crate) replaces: Vec<u64>,
    /// Set when a compaction has replaced this segment: its directory is
    /// deleted when the last reader lets go of it.
    pub(crate) remove_on_drop: AtomicBool,
}

impl Drop for Segment {
    fn drop(&mut self) {
        IndexCache::global().forget(self.uid);
        if self.remove_on_drop.load(Ordering::Acquire) {
            match std::fs::remove_dir_all(&self.dir) {
                Ok(()) => tracing::info!(segment = self.id, "log segment deleted after compaction"),
                Err(e) => tracing::error!(
                    segment = self.id,
                    error = %e,
                    "a compacted log segment could not be deleted; it is deleted at the next start"
                ),
            }
        }
    }
}

/// Where one token-length bucket lies in section 1 of `index.bin`.
#[derive(Debug, Clone)]
struct TokenBucket {
    min_len: u32,
    max_len: u32,
    /// Offset within the section and length of its zstd frame.
    offset: u64,
    len: u64,
    crc: u32,
}

/// What a read asks of a segment.
pub(crate) struct ReadPlan<'a> {
    pub(crate) matchers: &'a [Matcher],
    pub(crate) start_ns: i64,
    pub(crate) end_ns: i64,
    /// Literals a line must contain: every inner list is a choice of
    /// literals of which at least one must be in the line.
    pub(crate) contains: &'a [Vec<String>],
    /// `(name, value)` label filters every returned entry passes, on names
    /// of [`INDEXED_METADATA`]: row groups without the value as a token are
    /// skipped, unless a stream in them has the name as a stream label.
    pub(crate) metadata_eq: &'a [(String, String)],
    /// Whether lines are needed, or only timestamps and metadata.
    pub(crate) lines: bool,
    /// Per stream, entries older than this are not returned (retention).
    pub(crate) horizon: &'a dyn Fn(&Labels) -> Option<i64>,
    /// A read stops before its next row group once this has passed (the
    /// caller answers the timeout).
    pub(crate) deadline: Deadline,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SegmentError + '_ {
    move |source| SegmentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn pq(path: &Path) -> impl FnOnce(parquet::errors::ParquetError) -> SegmentError + '_ {
    move |source| SegmentError::Parquet {
        path: path.to_path_buf(),
        source,
    }
}

/// The directory name of segment `id`.
pub(crate) fn dir_name(id: u64) -> String {
    format!("{id:010}")
}

fn encode_metadata(md: &[(String, String)]) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in md.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&serde_json::Value::from(k.as_str()).to_string());
        s.push(':');
        s.push_str(&serde_json::Value::from(v.as_str()).to_string());
    }
    s.push('}');
    s
}

/// Decodes a metadata object, keeping the order of its keys.
fn decode_metadata(s: &str) -> Result<Vec<(String, String)>, String> {
    struct Pairs;
    impl<'de> serde::de::Visitor<'de> for Pairs {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of strings")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> Result<Self::Value, A::Error> {
            let mut v = Vec::new();
            while let Some((k, x)) = m.next_entry::<String, String>()? {
                v.push((k, x));
            }
            Ok(v)
        }
    }
    let mut de = serde_json::Deserializer::from_str(s);
    serde::Deserializer::deserialize_map(&mut de, Pairs).map_err(|e| e.to_string())
}

fn labels_text(l: &Labels) -> String {
    l.to_string()
}

impl<'a> ReadPlan<'a> {
    /// The plan of a store-level scan.
    pub(crate) fn of(q: &super::Scan<'a>, horizon: &'a dyn Fn(&Labels) -> Option<i64>) -> Self {
        ReadPlan {
            matchers: q.matchers,
            start_ns: q.start_ns,
            end_ns: q.end_ns,
            contains: q.contains,
            metadata_eq: q.metadata_eq,
            lines: q.lines,
            horizon,
            deadline: q.deadline,
        }
    }
}

impl Segment {
    /// Writes `head` as segment `id` under `root` and opens it.
    pub(crate) fn write(
        root: &Path,
        id: u64,
        head: &Head,
        wal_last: u32,
        opts: &SegmentOptions,
    ) -> Result<Segment, SegmentError> {
        Segment::write_replacing(root, id, head, wal_last, opts, &[])
    }

    /// As [`Segment::write`], for a compaction: the segment names in its
    /// `replaces` file the segments whose entries it holds, so that opening
    /// the store deletes any of them a crash left behind.
    pub(crate) fn write_replacing(
        root: &Path,
        id: u64,
        head: &Head,
        wal_last: u32,
        opts: &SegmentOptions,
        replaces: &[u64],
    ) -> Result<Segment, SegmentError> {
        let tmp = root.join(format!("{}.tmp", dir_name(id)));
        let fin = root.join(dir_name(id));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        let data_path = tmp.join(DATA_FILE);

        // Streams in label order; empty ones are left out.
        let mut order: Vec<usize> = (0..head.streams.len())
            .filter(|&i| !head.streams[i].entries.is_empty())
            .collect();
        order.sort_by(|&a, &b| head.streams[a].labels.cmp(&head.streams[b].labels));
        let streams: Vec<SegStream> = order
            .iter()
            .map(|&i| {
                let s = &head.streams[i];
                SegStream {
                    labels: s.labels.clone(),
                    entries: s.entries.len() as u64,
                    bytes: s.bytes as u64,
                    min_ts: s.entries.first().map_or(0, |e| e.ts),
                    max_ts: s.entries.last().map_or(0, |e| e.ts),
                }
            })
            .collect();

        let layout = opts.line_layout();
        let (schema, format) = schema(opts.packed_timestamps, layout);
        let schema = Arc::new(parse_message_type(&schema).map_err(pq(&data_path))?);
        let level = ZstdLevel::try_new(opts.zstd_level).map_err(pq(&data_path))?;
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_dictionary_enabled(false)
            .set_column_dictionary_enabled(ColumnPath::from("stream"), true)
            .set_column_dictionary_enabled(ColumnPath::from("labels"), true)
            .set_column_dictionary_enabled(ColumnPath::from("metadata"), true)
            .set_column_encoding(ColumnPath::from("timestamp"), Encoding::DELTA_BINARY_PACKED)
            // Rice codes: zstd finds nothing in them.
            .set_column_compression(ColumnPath::from("timestamps"), Compression::UNCOMPRESSED)
            .set_column_dictionary_enabled(ColumnPath::from("line_skeleton"), true)
            .set_column_compression(
                ColumnPath::from("lines_block"),
                Compression::ZSTD(
                    ZstdLevel::try_new(opts.zstd_level.max(BLOCK_ZSTD_LEVEL))
                        .map_err(pq(&data_path))?,
                ),
            )
            .set_statistics_enabled(EnabledStatistics::Chunk);
        // No statistics where a minimum and maximum say nothing useful.
        let line_columns = LineLayout::ALL
            .iter()
            .flat_map(|l| l.columns().iter().map(|c| c.0));
        for c in ["timestamps", "metadata"].into_iter().chain(line_columns) {
            props =
                props.set_column_statistics_enabled(ColumnPath::from(c), EnabledStatistics::None);
        }
        let props = props
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "pharos.format".to_string(),
                format.to_string(),
            )]))
            .build();
        let file = File::create(&data_path).map_err(io(&data_path))?;
        let mut w =
            SerializedFileWriter::new(file, schema, Arc::new(props)).map_err(pq(&data_path))?;

        // About one distinct token per 190 bytes of lines on the benchmark
        // corpus: sized so the table rarely grows while it is built.
        let line_bytes: usize = head.streams.iter().map(|s| s.bytes).sum();
        let mut tokens = TokenIndexBuilder::with_capacity(line_bytes / 190);
        let mut groups: Vec<Group> = Vec::new();
        let label_texts: Vec<ByteArray> = streams
            .iter()
            .map(|s| ByteArray::from(labels_text(&s.labels).into_bytes()))
            .collect();

        // The rows of the group being built: (segment stream, entry), and
        // their lines split as they are added (while in cache): skeletons
        // and variables back to back, and where each row ends.
        let mut rows: Vec<(u32, &HeadEntry)> = Vec::new();
        let mut row_bytes = 0usize;
        let mut split = SplitLines::with_capacity(if opts.split_lines {
            opts.group_bytes
        } else {
            0
        });
        let flush = |rows: &mut Vec<(u32, &HeadEntry)>,
                     split: &mut SplitLines,
                     w: &mut SerializedFileWriter<File>,
                     groups: &mut Vec<Group>|
         -> Result<(), SegmentError> {
            if rows.is_empty() {
                return Ok(());
            }
            let mut runs: Vec<Run> = Vec::new();
            for &(s, e) in rows.iter() {
                match runs.last_mut() {
                    Some(r) if r.stream == s => {
                        r.rows += 1;
                        r.min_ts = r.min_ts.min(e.ts);
                        r.max_ts = r.max_ts.max(e.ts);
                    }
                    _ => runs.push(Run {
                        stream: s,
                        rows: 1,
                        min_ts: e.ts,
                        max_ts: e.ts,
                    }),
                }
            }
            let stream_col: Vec<i32> = rows.iter().map(|&(s, _)| s as i32).collect();
            let ts_col: Vec<i64> = rows.iter().map(|&(_, e)| e.ts).collect();
            // Packed timestamps and joined lines: one value, in the first row.
            let mut first_row = vec![0i16; rows.len()];
            first_row[0] = 1;
            let packed = if opts.packed_timestamps {
                let spans: Vec<RunSpan> = runs
                    .iter()
                    .map(|r| RunSpan {
                        rows: r.rows,
                        first: r.min_ts,
                        last: r.max_ts,
                    })
                    .collect();
                let mut b = Vec::with_capacity(rows.len() * 5);
                tscodec::encode(&ts_col, &spans, &mut b).map_err(|what| SegmentError::Invalid {
                    path: data_path.clone(),
                    what: format!("row group {}: timestamps: {what}", groups.len()),
                })?;
                Some(ByteArray::from(b))
            } else {
                None
            };
            // The lines: one text per row (the lines' own shared bytes, not
            // copied), joined, or split.
            let line_cols: Vec<Vec<ByteArray>> = match layout {
                LineLayout::Split => {
                    let (skel, vars) = split.take_columns();
                    vec![skel, vars]
                }
                LineLayout::SplitBlock => vec![vec![ByteArray::from(split.take_block(None))]],
                LineLayout::TimedBlock => {
                    vec![vec![ByteArray::from(split.take_block(Some(&ts_col)))]]
                }
                LineLayout::Joined => vec![vec![ByteArray::from(join_text(
                    rows.iter().map(|&(_, e)| head.line(e).as_bytes()),
                ))]],
                LineLayout::Rows => vec![rows
                    .iter()
                    .map(|&(_, e)| ByteArray::from(head.line(e).as_bytes().to_vec()))
                    .collect()],
            };
            let line_def = layout.one_value().then_some(first_row.as_slice());
            let n_line = line_cols.len();
            let mut md_def: Vec<i16> = Vec::with_capacity(rows.len());
            let mut md_col: Vec<ByteArray> = Vec::new();
            for &(_, e) in rows.iter() {
                let md = head.metadata(e);
                if md.is_empty() {
                    md_def.push(0);
                } else {
                    md_def.push(1);
                    md_col.push(ByteArray::from(encode_metadata(md).into_bytes()));
                }
            }
            let labels_col: Vec<ByteArray> = rows
                .iter()
                .map(|&(s, _)| label_texts[s as usize].clone())
                .collect();
            let line_bytes: u64 = rows.iter().map(|&(_, e)| head.line(e).len() as u64).sum();
            let mut rg = w.next_row_group().map_err(pq(&data_path))?;
            let mut col = 0;
            while let Some(mut c) = rg.next_column().map_err(pq(&data_path))? {
                let r = match col {
                    0 => c.typed::<Int32Type>().write_batch(&stream_col, None, None),
                    1 => match &packed {
                        Some(b) => c.typed::<ByteArrayType>().write_batch(
                            std::slice::from_ref(b),
                            Some(&first_row),
                            None,
                        ),
                        None => c.typed::<Int64Type>().write_batch(&ts_col, None, None),
                    },
                    k if k < 2 + n_line => {
                        c.typed::<ByteArrayType>()
                            .write_batch(&line_cols[k - 2], line_def, None)
                    }
                    k if k == 2 + n_line => {
                        c.typed::<ByteArrayType>()
                            .write_batch(&md_col, Some(&md_def), None)
                    }
                    _ => c
                        .typed::<ByteArrayType>()
                        .write_batch(&labels_col, None, None),
                };
                r.map_err(pq(&data_path))?;
                c.close().map_err(pq(&data_path))?;
                col += 1;
            }
            rg.close().map_err(pq(&data_path))?;
            groups.push(Group {
                rows: rows.len() as u32,
                line_bytes,
                runs,
            });
            rows.clear();
            Ok(())
        };
        for (si, &hi) in order.iter().enumerate() {
            for e in &head.streams[hi].entries {
                let line = head.line(e).as_bytes();
                tokens.add(line, groups.len() as u32);
                for (k, v) in head.metadata(e) {
                    if INDEXED_METADATA.contains(&k.as_str()) {
                        tokens.add(v.as_bytes(), groups.len() as u32);
                    }
                }
                rows.push((si as u32, e));
                if opts.split_lines {
                    split.push(line);
                }
                row_bytes += line.len();
                if row_bytes >= opts.group_bytes {
                    flush(&mut rows, &mut split, &mut w, &mut groups)?;
                    row_bytes = 0;
                }
            }
        }
        flush(&mut rows, &mut split, &mut w, &mut groups)?;
        let file = w.into_inner().map_err(pq(&data_path))?;
        file.sync_all().map_err(io(&data_path))?;
        drop(file);

        // The index.
        let meta = encode_tables(wal_last, &streams, &groups);
        let index_path = tmp.join(INDEX_FILE);
        let out =
            encode_index(meta, &tokens.encode_buckets(), INDEX_MAGIC).map_err(io(&index_path))?;
        let mut f = File::create(&index_path).map_err(io(&index_path))?;
        f.write_all(&out).map_err(io(&index_path))?;
        f.sync_all().map_err(io(&index_path))?;
        drop(f);
        if !replaces.is_empty() {
            let path = tmp.join(REPLACES_FILE);
            let text: String = replaces.iter().map(|id| format!("{id}\n")).collect();
            let mut f = File::create(&path).map_err(io(&path))?;
            f.write_all(text.as_bytes()).map_err(io(&path))?;
            f.sync_all().map_err(io(&path))?;
        }
        sync_dir(&tmp)?;
        std::fs::rename(&tmp, &fin).map_err(io(&fin))?;
        sync_dir(root)?;
        Segment::open(&fin)
    }

    /// Opens the segment in `dir` (named by its id).
    pub(crate) fn open(dir: &Path) -> Result<Segment, SegmentError> {
        let invalid = |what: String| SegmentError::Invalid {
            path: dir.to_path_buf(),
            what,
        };
        let id: u64 = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| invalid("directory name is not a segment id".into()))?;
        let index_path = dir.join(INDEX_FILE);
        let data_path = dir.join(DATA_FILE);
        let mut f = File::open(&index_path).map_err(io(&index_path))?;
        let len = f.metadata().map_err(io(&index_path))?.len();
        const FOOTER: u64 = 2 * 20 + 8;
        if len < 8 + FOOTER {
            return Err(invalid(format!("{INDEX_FILE} is only {len} bytes")));
        }
        let mut head = [0u8; 8];
        f.read_exact(&mut head).map_err(io(&index_path))?;
        let text_tokens = match &head {
            h if h == INDEX_MAGIC => false,
            h if h == INDEX_MAGIC_TEXT => true,
            _ => {
                return Err(invalid(format!(
                    "{INDEX_FILE} does not start with PHXLSEG3"
                )))
            }
        };
        let mut footer = [0u8; FOOTER as usize];
        f.seek(SeekFrom::Start(len - FOOTER))
            .map_err(io(&index_path))?;
        f.read_exact(&mut footer).map_err(io(&index_path))?;
        if &footer[40..] != FOOTER_MAGIC {
            return Err(invalid(format!("{INDEX_FILE} has no footer")));
        }
        let section = |i: usize| -> (u64, u64, u32) {
            let b = &footer[i * 20..i * 20 + 20];
            let mut o = [0u8; 8];
            let mut l = [0u8; 8];
            let mut c = [0u8; 4];
            o.copy_from_slice(&b[..8]);
            l.copy_from_slice(&b[8..16]);
            c.copy_from_slice(&b[16..]);
            (
                u64::from_le_bytes(o),
                u64::from_le_bytes(l),
                u32::from_le_bytes(c),
            )
        };
        let (moff, mlen, mcrc) = section(0);
        let tokens_at = section(1);
        for (off, l, _) in [(moff, mlen, mcrc), tokens_at] {
            if off.checked_add(l).is_none_or(|end| end > len - FOOTER) {
                return Err(invalid(format!("{INDEX_FILE}: section out of bounds")));
            }
        }
        let meta = read_section(&index_path, (moff, mlen, mcrc))?;
        let mut r = Reader::new(&meta, "log segment index");
        let corrupt = |source| SegmentError::Corrupt {
            path: index_path.clone(),
            source,
        };
        let wal_last = r.id().map_err(corrupt)?;
        let n = r.count().map_err(corrupt)?;
        let mut streams = Vec::with_capacity(n);
        for _ in 0..n {
            let k = r.count().map_err(corrupt)?;
            let mut v = Vec::with_capacity(k);
            for _ in 0..k {
                let name = r.str().map_err(corrupt)?.to_string();
                let value = r.str().map_err(corrupt)?.to_string();
                v.push(Label { name, value });
            }
            streams.push(SegStream {
                labels: Labels::from_vec(v),
                entries: r.uvarint().map_err(corrupt)?,
                bytes: r.uvarint().map_err(corrupt)?,
                min_ts: r.ivarint().map_err(corrupt)?,
                max_ts: r.ivarint().map_err(corrupt)?,
            });
        }
        let n = r.count().map_err(corrupt)?;
        let mut groups = Vec::with_capacity(n);
        for _ in 0..n {
            let rows = r.id().map_err(corrupt)?;
            let line_bytes = r.uvarint().map_err(corrupt)?;
            let k = r.count().map_err(corrupt)?;
            let mut runs = Vec::with_capacity(k);
            let mut total = 0u64;
            for _ in 0..k {
                let run = Run {
                    stream: r.id().map_err(corrupt)?,
                    rows: r.id().map_err(corrupt)?,
                    min_ts: r.ivarint().map_err(corrupt)?,
                    max_ts: r.ivarint().map_err(corrupt)?,
                };
                if run.stream as usize >= streams.len() {
                    return Err(invalid("a run names an unknown stream".into()));
                }
                total += u64::from(run.rows);
                runs.push(run);
            }
            if total != u64::from(rows) {
                return Err(invalid(
                    "a row group's runs do not add up to its rows".into(),
                ));
            }
            groups.push(Group {
                rows,
                line_bytes,
                runs,
            });
        }
        let n = r.count().map_err(corrupt)?;
        let mut buckets = Vec::with_capacity(n);
        for _ in 0..n {
            let b = TokenBucket {
                min_len: r.id().map_err(corrupt)?,
                max_len: r.id().map_err(corrupt)?,
                offset: r.uvarint().map_err(corrupt)?,
                len: r.uvarint().map_err(corrupt)?,
                crc: r.id().map_err(corrupt)?,
            };
            if b.offset.checked_add(b.len).is_none_or(|e| e > tokens_at.1) {
                return Err(invalid("a token bucket lies outside its section".into()));
            }
            buckets.push(b);
        }
        r.finish().map_err(corrupt)?;
        let data_len = std::fs::metadata(&data_path).map_err(io(&data_path))?.len();
        let replaces_path = dir.join(REPLACES_FILE);
        let replaces = match std::fs::read_to_string(&replaces_path) {
            Ok(text) => text
                .lines()
                .map(|l| {
                    l.trim().parse::<u64>().map_err(|_| {
                        invalid(format!("{REPLACES_FILE} holds {l:?}, not a segment id"))
                    })
                })
                .collect::<Result<Vec<u64>, _>>()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&replaces_path)(e)),
        };
        Ok(Segment {
            id,
            dir: dir.to_path_buf(),
            wal_last,
            min_ts: streams.iter().map(|s| s.min_ts).min().unwrap_or(0),
            max_ts: streams.iter().map(|s| s.max_ts).max().unwrap_or(0),
            entries: streams.iter().map(|s| s.entries).sum(),
            bytes: streams.iter().map(|s| s.bytes).sum(),
            disk_bytes: len + data_len,
            streams,
            groups,
            tokens_at,
            buckets,
            text_tokens,
            uid: cache::next_uid(),
            replaces,
            remove_on_drop: AtomicBool::new(false),
        })
    }

    /// Marks in `groups` the row groups holding a token that fits `p`,
    /// reading (once per read, kept in `loaded`) only the token-length
    /// buckets that can.
    fn token_groups(
        &self,
        p: &Piece,
        loaded: &mut Vec<Option<Arc<TokenIndex>>>,
        groups: &mut [bool],
    ) -> Result<(), SegmentError> {
        if loaded.len() != self.buckets.len() {
            loaded.clear();
            loaded.resize_with(self.buckets.len(), || None);
        }
        let path = self.dir.join(INDEX_FILE);
        for (i, b) in self.buckets.iter().enumerate() {
            if !bucket_may_fit(p, b.min_len, b.max_len) {
                continue;
            }
            if loaded[i].is_none() {
                let cache = IndexCache::global();
                let ix = match cache.get(self.uid, i as u32) {
                    Some(ix) => ix,
                    None => {
                        let bytes =
                            read_section(&path, (self.tokens_at.0 + b.offset, b.len, b.crc))?;
                        let ix = if self.text_tokens {
                            TokenIndex::decode_text(&bytes)
                        } else {
                            TokenIndex::decode(&bytes, b.min_len, b.max_len)
                        };
                        let ix = ix.map_err(|source| SegmentError::Corrupt {
                            path: path.clone(),
                            source,
                        })?;
                        let ix = Arc::new(ix);
                        cache.insert(self.uid, i as u32, ix.clone());
                        ix
                    }
                };
                loaded[i] = Some(ix);
            }
            if let Some(ix) = &loaded[i] {
                ix.add_groups(p, groups);
            }
        }
        Ok(())
    }

    /// Which row groups can hold entries `plan` asks for, by streams and
    /// time alone.
    fn candidate_groups(&self, plan: &ReadPlan, wanted: &[bool]) -> Vec<bool> {
        self.groups
            .iter()
            .map(|g| {
                g.runs.iter().any(|r| {
                    wanted[r.stream as usize] && r.max_ts >= plan.start_ns && r.min_ts < plan.end_ns
                })
            })
            .collect()
    }

    /// Calls `visit(stream, entries)` with every entry `plan` asks for,
    /// stream by stream in time order (a stream's entries may come in several
    /// calls). Lines are left empty unless `plan.lines`; metadata is always read.
    pub(crate) fn read(
        &self,
        plan: &ReadPlan,
        visit: &mut dyn FnMut(&Labels, Vec<LogEntry>),
    ) -> Result<(), SegmentError> {
        if self.max_ts < plan.start_ns || self.min_ts >= plan.end_ns {
            return Ok(());
        }
        let wanted: Vec<bool> = self
            .streams
            .iter()
            .map(|s| {
                plan.matchers
                    .iter()
                    .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
                    && s.max_ts >= plan.start_ns
                    && s.min_ts < plan.end_ns
            })
            .collect();
        if !wanted.iter().any(|&w| w) {
            return Ok(());
        }
        let horizons: Vec<Option<i64>> = self
            .streams
            .iter()
            .zip(&wanted)
            .map(|(s, &w)| if w { (plan.horizon)(&s.labels) } else { None })
            .collect();
        let mut groups = self.candidate_groups(plan, &wanted);
        let indexed = !plan.contains.is_empty() || !plan.metadata_eq.is_empty();
        if indexed && groups.iter().any(|&g| g) {
            let n = self.groups.len();
            let mut loaded: Vec<Option<Arc<TokenIndex>>> = Vec::new();
            // The row groups holding every piece of `lit`.
            let holding = |lit: &str,
                           loaded: &mut Vec<Option<Arc<TokenIndex>>>|
             -> Result<Option<Vec<bool>>, SegmentError> {
                let ps = pieces(lit);
                if ps.is_empty() {
                    return Ok(None);
                }
                let mut all = vec![true; n];
                for p in &ps {
                    let mut g = vec![false; n];
                    self.token_groups(p, loaded, &mut g)?;
                    for (a, b) in all.iter_mut().zip(g) {
                        *a &= b;
                    }
                }
                Ok(Some(all))
            };
            for (name, value) in plan.metadata_eq {
                // The value's tokens, each whole.
                let Some(all) = holding(&format!(" {value} "), &mut loaded)? else {
                    continue;
                };
                for (gi, g) in self.groups.iter().enumerate() {
                    // A stream label of that name answers the filter itself.
                    let labelled = g
                        .runs
                        .iter()
                        .any(|r| self.streams[r.stream as usize].labels.get(name).is_some());
                    groups[gi] &= all[gi] || labelled;
                }
            }
            for choice in plan.contains {
                let mut any = vec![false; n];
                for lit in choice {
                    match holding(lit, &mut loaded)? {
                        None => {
                            any.iter_mut().for_each(|x| *x = true);
                            break;
                        }
                        Some(all) => {
                            for (a, b) in any.iter_mut().zip(all) {
                                *a |= b;
                            }
                        }
                    }
                }
                for (a, b) in groups.iter_mut().zip(any) {
                    *a &= b;
                }
            }
        }
        if !groups.iter().any(|&g| g) {
            return Ok(());
        }
        let data_path = self.dir.join(DATA_FILE);
        let file = File::open(&data_path).map_err(io(&data_path))?;
        let reader = SerializedFileReader::new(file).map_err(pq(&data_path))?;
        if reader.num_row_groups() != self.groups.len() {
            return Err(SegmentError::Invalid {
                path: data_path,
                what: "row groups do not match the index".into(),
            });
        }
        let layout = Layout::of(&reader).map_err(|what| SegmentError::Invalid {
            path: data_path.clone(),
            what,
        })?;
        let required = Required::new(if plan.lines { plan.contains } else { &[] });
        let mut ts: Vec<i64> = Vec::new();
        let mut ts_packed: Vec<ByteArray> = Vec::new();
        let mut ts_def: Vec<i16> = Vec::new();
        let mut spans: Vec<RunSpan> = Vec::new();
        let mut lines: Vec<ByteArray> = Vec::new();
        let mut lines_def: Vec<i16> = Vec::new();
        // Lines stored as one value per row group: where each row's line lies
        // in the value (joined text without escapes) or in `block` (decoded
        // or unescaped), as `in_block` says.
        let mut bounds: Vec<(usize, usize)> = Vec::new();
        let mut ends: Vec<usize> = Vec::new();
        let mut block: Vec<u8> = Vec::new();
        let mut in_block = false;
        let mut vars: Vec<ByteArray> = Vec::new();
        let mut scratch: Vec<u8> = Vec::new();
        let mut md: Vec<ByteArray> = Vec::new();
        let mut md_def: Vec<i16> = Vec::new();
        for (gi, g) in self.groups.iter().enumerate() {
            if !groups[gi] {
                continue;
            }
            if plan.deadline.expired() {
                return Ok(());
            }
            let rg = reader.get_row_group(gi).map_err(pq(&data_path))?;
            let n = g.rows as usize;
            if layout.packed_ts {
                read_bytes(&*rg, COL_TS, n, &mut ts_packed, Some(&mut ts_def))
                    .map_err(pq(&data_path))?;
                let [b] = ts_packed.as_slice() else {
                    return Err(SegmentError::Invalid {
                        path: data_path,
                        what: format!("row group {gi}: not one value of packed timestamps"),
                    });
                };
                spans.clear();
                spans.extend(g.runs.iter().map(|r| RunSpan {
                    rows: r.rows,
                    first: r.min_ts,
                    last: r.max_ts,
                }));
                tscodec::decode(b.data(), &spans, &mut ts).map_err(|e| SegmentError::Invalid {
                    path: data_path.clone(),
                    what: format!("row group {gi}: timestamps: {e}"),
                })?;
            } else {
                read_i64(&*rg, COL_TS, n, &mut ts).map_err(pq(&data_path))?;
            }
            if plan.lines {
                let one = layout.lines.one_value();
                let def = one.then_some(&mut lines_def);
                read_bytes(&*rg, layout.line, n, &mut lines, def).map_err(pq(&data_path))?;
                if one {
                    let [text] = lines.as_slice() else {
                        return Err(SegmentError::Invalid {
                            path: data_path,
                            what: format!("row group {gi}: not one value of lines"),
                        });
                    };
                    bounds.clear();
                    block.clear();
                    if layout.lines == LineLayout::Joined {
                        joined_bounds(text.data(), &mut bounds);
                        // A line held a newline: the text unescaped, once.
                        in_block = memchr::memchr(NEWLINE_IN_LINE, text.data()).is_some();
                        if in_block {
                            block.extend(text.data().iter().map(|&c| {
                                if c == NEWLINE_IN_LINE {
                                    b'\n'
                                } else {
                                    c
                                }
                            }));
                        }
                    } else {
                        ends.clear();
                        let timed = (layout.lines == LineLayout::TimedBlock).then_some(&ts[..]);
                        linecodec::decode_block(text.data(), n, timed, &mut block, &mut ends)
                            .map_err(|e| SegmentError::Invalid {
                                path: data_path.clone(),
                                what: format!("row group {gi}: lines: {e}"),
                            })?;
                        bounds.extend(ends.iter().scan(0, |start, &end| {
                            let b = (*start, end);
                            *start = end;
                            Some(b)
                        }));
                        in_block = true;
                    }
                }
                if let Some(c) = layout.vars {
                    read_bytes(&*rg, c, n, &mut vars, None).map_err(pq(&data_path))?;
                }
            }
            read_bytes(&*rg, layout.meta, n, &mut md, Some(&mut md_def)).map_err(pq(&data_path))?;
            let short_vars = layout.vars.is_some() && vars.len() != n;
            let line_rows = match layout.lines {
                LineLayout::Joined | LineLayout::SplitBlock | LineLayout::TimedBlock => {
                    bounds.len()
                }
                _ => lines.len(),
            };
            if ts.len() != n || md_def.len() != n || (plan.lines && (line_rows != n || short_vars))
            {
                return Err(SegmentError::Invalid {
                    path: data_path,
                    what: format!("row group {gi} does not have the rows the index says"),
                });
            }
            let mut row = 0usize;
            let mut md_at = 0usize;
            for run in &g.runs {
                let s = run.stream as usize;
                let take = wanted[s] && run.max_ts >= plan.start_ns && run.min_ts < plan.end_ns;
                let end = row + run.rows as usize;
                if !take {
                    md_at += md_def[row..end].iter().filter(|&&d| d > 0).count();
                    row = end;
                    continue;
                }
                let from = plan.start_ns.max(horizons[s].unwrap_or(i64::MIN));
                let labels = &self.streams[s].labels;
                let mut batch = Vec::with_capacity(end - row);
                for i in row..end {
                    let has_md = md_def[i] > 0;
                    let this_md = md_at;
                    if has_md {
                        md_at += 1;
                    }
                    let t = ts[i];
                    if t < from || t >= plan.end_ns {
                        continue;
                    }
                    let mut e = LogEntry {
                        ts: t,
                        line: Line::default(),
                        metadata: Vec::new(),
                    };
                    if plan.lines {
                        let line = match layout.lines {
                            LineLayout::Rows => lines[i].data(),
                            LineLayout::Joined
                            | LineLayout::SplitBlock
                            | LineLayout::TimedBlock => {
                                let (start, end) = bounds[i];
                                let text = if in_block { &block } else { lines[0].data() };
                                &text[start..end]
                            }
                            LineLayout::Split => {
                                scratch.clear();
                                linecodec::join(lines[i].data(), vars[i].data(), &mut scratch)
                                    .map_err(|err| SegmentError::Invalid {
                                        path: data_path.clone(),
                                        what: format!("row group {gi} row {i}: line: {err}"),
                                    })?;
                                &scratch
                            }
                        };
                        if !required.is_empty() && !required.admits(line) {
                            continue;
                        }
                        e.line = Line::from_utf8_lossy(line.to_vec().into());
                    }
                    if has_md {
                        let text = String::from_utf8_lossy(md[this_md].data());
                        e.metadata =
                            decode_metadata(&text).map_err(|what| SegmentError::Invalid {
                                path: data_path.clone(),
                                what: format!("row group {gi} row {i}: metadata: {what}"),
                            })?;
                    }
                    batch.push(e);
                }
                if !batch.is_empty() {
                    visit(labels, batch);
                }
                row = end;
            }
        }
        Ok(())
    }
}

/// Section 0 of `index.bin` up to the bucket directory: the stream and
/// row-group tables.
fn encode_tables(wal_last: u32, streams: &[SegStream], groups: &[Group]) -> Vec<u8> {
    let mut meta = Vec::new();
    put_uvarint(&mut meta, u64::from(wal_last));
    put_uvarint(&mut meta, streams.len() as u64);
    for s in streams {
        put_uvarint(&mut meta, s.labels.len() as u64);
        for l in s.labels.iter() {
            put_str(&mut meta, &l.name);
            put_str(&mut meta, &l.value);
        }
        put_uvarint(&mut meta, s.entries);
        put_uvarint(&mut meta, s.bytes);
        put_ivarint(&mut meta, s.min_ts);
        put_ivarint(&mut meta, s.max_ts);
    }
    put_uvarint(&mut meta, groups.len() as u64);
    for g in groups {
        put_uvarint(&mut meta, u64::from(g.rows));
        put_uvarint(&mut meta, g.line_bytes);
        put_uvarint(&mut meta, g.runs.len() as u64);
        for r in &g.runs {
            put_uvarint(&mut meta, u64::from(r.stream));
            put_uvarint(&mut meta, u64::from(r.rows));
            put_ivarint(&mut meta, r.min_ts);
            put_ivarint(&mut meta, r.max_ts);
        }
    }
    meta
}

/// The whole `index.bin`: `magic`, section 0 (`meta`, then the directory of
/// `buckets`), section 1 (one zstd frame per bucket) and the footer.
fn encode_index(
    mut meta: Vec<u8>,
    buckets: &[EncodedBucket],
    magic: &[u8; 8],
) -> std::io::Result<Vec<u8>> {
    let mut token_section = Vec::new();
    put_uvarint(&mut meta, buckets.len() as u64);
    let mut zc = zstd::bulk::Compressor::new(INDEX_ZSTD_LEVEL)?;
    for b in buckets {
        let z = zc.compress(&b.bytes)?;
        put_uvarint(&mut meta, u64::from(b.min_len));
        put_uvarint(&mut meta, u64::from(b.max_len));
        put_uvarint(&mut meta, token_section.len() as u64);
        put_uvarint(&mut meta, z.len() as u64);
        put_uvarint(&mut meta, u64::from(crc32c::crc32c(&z)));
        token_section.extend_from_slice(&z);
    }
    let mut out = Vec::new();
    out.extend_from_slice(magic);
    let mut sections = Vec::new();
    let z = zc.compress(&meta)?;
    sections.push((out.len() as u64, z.len() as u64, crc32c::crc32c(&z)));
    out.extend_from_slice(&z);
    sections.push((
        out.len() as u64,
        token_section.len() as u64,
        crc32c::crc32c(&token_section),
    ));
    out.extend_from_slice(&token_section);
    for &(off, len, crc) in &sections {
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
    }
    out.extend_from_slice(FOOTER_MAGIC);
    Ok(out)
}

/// Reads the zstd frame of `len` bytes at `off`, checking its crc32c.
fn read_section(path: &Path, (off, len, crc): (u64, u64, u32)) -> Result<Vec<u8>, SegmentError> {
    let mut f = File::open(path).map_err(io(path))?;
    f.seek(SeekFrom::Start(off)).map_err(io(path))?;
    let mut z = vec![0u8; len as usize];
    f.read_exact(&mut z).map_err(io(path))?;
    if crc32c::crc32c(&z) != crc {
        return Err(SegmentError::Invalid {
            path: path.to_path_buf(),
            what: format!("section at byte {off}: checksum mismatch"),
        });
    }
    // One allocation of the size the frame header names (checked above).
    match zstd::zstd_safe::get_frame_content_size(&z) {
        Ok(Some(n)) if n <= 1 << 30 => zstd::bulk::decompress(&z, n as usize).map_err(io(path)),
        _ => zstd::stream::decode_all(&z[..]).map_err(io(path)),
    }
}

/// The lines of a row group being built, split by [`linecodec`].
struct SplitLines {
    skel: Vec<u8>,
    vars: Vec<u8>,
    /// Per row, where its skeleton and its variables end.
    ends: Vec<(usize, usize)>,
    capacity: usize,
}

impl SplitLines {
    fn with_capacity(line_bytes: usize) -> SplitLines {
        SplitLines {
            skel: Vec::with_capacity(line_bytes),
            vars: Vec::with_capacity(line_bytes / 4),
            ends: Vec::new(),
            capacity: line_bytes,
        }
    }

    fn push(&mut self, line: &[u8]) {
        linecodec::split(line, &mut self.skel, &mut self.vars);
        self.ends.push((self.skel.len(), self.vars.len()));
    }

    /// The rows pushed since the last call as one block
    /// ([`linecodec::encode_block`]); starts over empty.
    fn take_block(&mut self, ts: Option<&[i64]>) -> Vec<u8> {
        let mut rows = Vec::with_capacity(self.ends.len());
        let (mut s0, mut v0) = (0, 0);
        for &(s1, v1) in &self.ends {
            rows.push((&self.skel[s0..s1], &self.vars[v0..v1]));
            (s0, v0) = (s1, v1);
        }
        let mut b = Vec::with_capacity(self.skel.len() / 2 + self.vars.len());
        linecodec::encode_block(&rows, ts, &mut b);
        self.skel.clear();
        self.vars.clear();
        self.ends.clear();
        b
    }

    /// The `line_skeleton` and `line_vars` values of the rows pushed since
    /// the last call (slices of two shared buffers); starts over empty.
    fn take_columns(&mut self) -> (Vec<ByteArray>, Vec<ByteArray>) {
        let skel = bytes::Bytes::from(std::mem::replace(
            &mut self.skel,
            Vec::with_capacity(self.capacity),
        ));
        let vars = bytes::Bytes::from(std::mem::replace(
            &mut self.vars,
            Vec::with_capacity(self.capacity / 4),
        ));
        let mut cols = (
            Vec::with_capacity(self.ends.len()),
            Vec::with_capacity(self.ends.len()),
        );
        let (mut s0, mut v0) = (0, 0);
        for (s1, v1) in self.ends.drain(..) {
            cols.0.push(ByteArray::from(skel.slice(s0..s1)));
            cols.1.push(ByteArray::from(vars.slice(v0..v1)));
            (s0, v0) = (s1, v1);
        }
        cols
    }
}

const NO_LINE_COLUMNS: &str =
    "no line columns (line, lines, lines_split, lines_block, or line_skeleton and line_vars)";

/// Where a data file keeps its lines and metadata (by format).
struct Layout {
    /// Column 1 is `timestamps` (formats 3 to 6), not `timestamp`.
    packed_ts: bool,
    lines: LineLayout,
    /// `line`, `lines` or `line_skeleton`.
    line: usize,
    /// `line_vars`.
    vars: Option<usize>,
    meta: usize,
}

impl Layout {
    fn of(reader: &SerializedFileReader<File>) -> Result<Layout, String> {
        let schema = reader.metadata().file_metadata().schema_descr();
        let find =
            |name: &str| (0..schema.num_columns()).find(|&i| schema.column(i).name() == name);
        let meta = find("metadata").ok_or("no metadata column")?;
        let packed_ts = match (find("timestamp"), find("timestamps")) {
            (Some(COL_TS), None) => false,
            (None, Some(COL_TS)) => true,
            _ => return Err("no timestamp column in second place".into()),
        };
        // Exactly one layout's line columns, all of them.
        let present = |l: &&LineLayout| l.columns().iter().any(|(name, _)| find(name).is_some());
        let (lines, line, vars) = match LineLayout::ALL.iter().filter(present).collect::<Vec<_>>()[..]
        {
            [&l] => match l
                .columns()
                .iter()
                .map(|(name, _)| find(name))
                .collect::<Vec<_>>()[..]
            {
                [Some(c)] => (l, c, None),
                [Some(c), Some(v)] => (l, c, Some(v)),
                _ => return Err(NO_LINE_COLUMNS.into()),
            },
            _ => return Err(NO_LINE_COLUMNS.into()),
        };
        Ok(Layout {
            packed_ts,
            lines,
            line,
            vars,
            meta,
        })
    }
}

fn read_i64(
    rg: &dyn RowGroupReader,
    col: usize,
    n: usize,
    out: &mut Vec<i64>,
) -> parquet::errors::Result<()> {
    out.clear();
    let mut r = get_typed_column_reader::<Int64Type>(rg.get_column_reader(col)?);
    while out.len() < n {
        let (recs, _, _) = r.read_records(n - out.len(), None, None, out)?;
        if recs == 0 {
            break;
        }
    }
    Ok(())
}

fn read_bytes(
    rg: &dyn RowGroupReader,
    col: usize,
    n: usize,
    out: &mut Vec<ByteArray>,
    mut def: Option<&mut Vec<i16>>,
) -> parquet::errors::Result<()> {
    out.clear();
    if let Some(d) = def.as_deref_mut() {
        d.clear();
    }
    let cr: ColumnReader = rg.get_column_reader(col)?;
    let mut r = get_typed_column_reader::<ByteArrayType>(cr);
    let mut done = 0;
    while done < n {
        let (recs, _, _) = r.read_records(n - done, def.as_deref_mut(), None, out)?;
        if recs == 0 {
            break;
        }
        done += recs;
    }
    if def.is_none() && out.len() != done {
        // Required column: one value per record.
        out.truncate(done);
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), SegmentError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
#[path = "segment_tests.rs"]
mod tests;
