use super::*;
use crate::store::head::Head;
use parquet::file::writer::SerializedColumnWriter;

/// A stream's labels and entries.
type Spec<'a> = (&'a [(&'a str, &'a str)], Vec<LogEntry>);

fn head(streams: &[Spec]) -> Head {
    let mut h = Head::default();
    for (labels, entries) in streams {
        let id = h.add(Labels::from_pairs(labels));
        for e in entries {
            h.insert(id, e.clone());
        }
    }
    h
}

fn entry(ts: i64, line: &str) -> LogEntry {
    LogEntry::new(ts, line)
}

fn read_all(seg: &Segment, plan: &ReadPlan) -> Vec<(String, LogEntry)> {
    let mut out = Vec::new();
    seg.read(plan, &mut |l, es| {
        out.extend(es.into_iter().map(|e| (l.to_string(), e)))
    })
    .expect("reads");
    out
}

fn plan<'a>(
    ms: &'a [Matcher],
    contains: &'a [Vec<String>],
    horizon: &'a dyn Fn(&Labels) -> Option<i64>,
) -> ReadPlan<'a> {
    ReadPlan {
        matchers: ms,
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        contains,
        metadata_eq: &[],
        lines: true,
        horizon,
        deadline: crate::Deadline::NONE,
    }
}

#[test]
fn a_head_round_trips_through_a_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut with_md = entry(5, "b one");
    with_md.metadata = vec![
        ("trace_id".into(), "0af7".into()),
        ("zeta".into(), "\"quoted\" \u{e9}".into()),
    ];
    let h = head(&[
        (&[("app", "b")], vec![with_md.clone(), entry(6, "b two")]),
        (
            &[("app", "a"), ("level", "info")],
            vec![entry(2, "a2"), entry(1, "a1"), entry(3, "")],
        ),
    ]);
    let seg = Segment::write(dir.path(), 7, &h, 12, &SegmentOptions::default()).expect("writes");
    assert_eq!(seg.id, 7);
    assert_eq!(seg.wal_last, 12);
    assert_eq!(seg.entries, 5);
    assert_eq!((seg.min_ts, seg.max_ts), (1, 6));
    assert!(dir.path().join("0000000007").join("data.parquet").exists());
    let reopened = Segment::open(&dir.path().join("0000000007")).expect("opens");
    assert_eq!(reopened.streams.len(), 2);
    let none = |_: &Labels| None;
    let got = read_all(&reopened, &plan(&[], &[], &none));
    let want = vec![
        (r#"{app="a", level="info"}"#.to_string(), entry(1, "a1")),
        (r#"{app="a", level="info"}"#.to_string(), entry(2, "a2")),
        (r#"{app="a", level="info"}"#.to_string(), entry(3, "")),
        (r#"{app="b"}"#.to_string(), with_md),
        (r#"{app="b"}"#.to_string(), entry(6, "b two")),
    ];
    assert_eq!(got, want);
    // Matchers, time range and retention.
    let ms = [Matcher::equal("app", "a")];
    let mut p = plan(&ms, &[], &none);
    p.start_ns = 2;
    p.end_ns = 3;
    assert_eq!(read_all(&reopened, &p), vec![want[1].clone()]);
    let keep_from_3 = |_: &Labels| Some(3);
    let p = plan(&ms, &[], &keep_from_3);
    assert_eq!(read_all(&reopened, &p), vec![want[2].clone()]);
    // Timestamps only.
    let mut p = plan(&[], &[], &none);
    p.lines = false;
    let got = read_all(&reopened, &p);
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|(_, e)| e.line.is_empty()));
    assert_eq!(got[3].1.metadata, want[3].1.metadata, "metadata is kept");
    // A passed deadline stops the read before its first row group.
    let mut p = plan(&[], &[], &none);
    p.deadline = crate::Deadline::after(std::time::Duration::from_nanos(1));
    std::thread::sleep(std::time::Duration::from_millis(2));
    assert!(read_all(&reopened, &p).is_empty());
}

#[test]
fn tokens_skip_row_groups_without_the_literal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let entries: Vec<LogEntry> = (0..400)
        .map(|i| {
            let word = if i == 123 { "needle42" } else { "hay" };
            entry(i, &format!("line {i} request {word} done"))
        })
        .collect();
    let h = head(&[(&[("app", "x")], entries)]);
    let opts = SegmentOptions {
        group_bytes: 500,
        ..SegmentOptions::default()
    };
    let seg = Segment::write(dir.path(), 1, &h, 0, &opts).expect("writes");
    assert!(seg.groups.len() > 10, "{} groups", seg.groups.len());
    let none = |_: &Labels| None;
    for lit in [
        "needle42",
        "needle4",
        " needle42 ",
        "edle4",
        "st needle42 do",
    ] {
        let contains = vec![vec![lit.to_string()]];
        let got = read_all(&seg, &plan(&[], &contains, &none));
        assert!(
            got.iter().any(|(_, e)| e.ts == 123),
            "{lit}: the matching line is read"
        );
        assert!(
            got.len() < 100,
            "{lit}: only its row group is read ({})",
            got.len()
        );
    }
    // A literal no line has reads nothing; one of two choices reads its group.
    let contains = vec![vec!["absent".to_string()]];
    assert!(read_all(&seg, &plan(&[], &contains, &none)).is_empty());
    let contains = vec![vec!["absent".to_string(), "needle42".to_string()]];
    assert!(read_all(&seg, &plan(&[], &contains, &none))
        .iter()
        .any(|(_, e)| e.ts == 123));
    // Every clause must hold.
    let contains = vec![vec!["needle42".to_string()], vec!["absent".to_string()]];
    assert!(read_all(&seg, &plan(&[], &contains, &none)).is_empty());
}

#[test]
fn an_index_with_tokens_as_text_is_still_read() {
    // A segment written now, its index then rewritten as segments were
    // before number tokens were stored as values (PHXLSEG2): the same reads
    // give the same entries, and still skip row groups.
    let dir = tempfile::tempdir().expect("tempdir");
    let entries: Vec<LogEntry> = (0..300)
        .map(|i| {
            entry(
                i,
                &format!("req {i:05} id {:016x} blk_{} ok", i * 7919, i * 104_729),
            )
        })
        .collect();
    let h = head(&[(&[("app", "x")], entries)]);
    let opts = SegmentOptions {
        group_bytes: 400,
        ..SegmentOptions::default()
    };
    let seg = Segment::write(dir.path(), 1, &h, 0, &opts).expect("writes");
    assert!(!seg.text_tokens);
    let none = |_: &Labels| None;
    let lits = [
        " 00123 ",
        "00123",
        &format!(" {:016x} ", 77 * 7919),
        &format!("{:x}", 77 * 7919),
        &format!("blk_{} ", 200 * 104_729),
        " 00999 ",
        "req",
    ];
    let read = |seg: &Segment| -> Vec<Vec<i64>> {
        lits.iter()
            .map(|l| {
                let contains = vec![vec![l.to_string()]];
                read_all(seg, &plan(&[], &contains, &none))
                    .iter()
                    .map(|(_, e)| e.ts)
                    .collect()
            })
            .collect()
    };
    let want = read(&seg);
    assert_eq!(want[0], vec![123]);
    assert_eq!(want[2], vec![77]);
    assert_eq!(want[4], vec![200]);
    assert!(want[5].is_empty());
    assert_eq!(want[6].len(), 300);
    let path = seg.dir.join(INDEX_FILE);
    let buckets: Vec<EncodedBucket> = seg
        .buckets
        .iter()
        .map(|b| {
            let raw =
                read_section(&path, (seg.tokens_at.0 + b.offset, b.len, b.crc)).expect("bucket");
            let ix = TokenIndex::decode(&raw, b.min_len, b.max_len).expect("decodes");
            EncodedBucket {
                min_len: b.min_len,
                max_len: b.max_len,
                tokens: ix.len() as u32,
                bytes: ix.encode_text_for_test(),
            }
        })
        .collect();
    let old = encode_index(
        encode_tables(seg.wal_last, &seg.streams, &seg.groups),
        &buckets,
        INDEX_MAGIC_TEXT,
    )
    .expect("encodes");
    let seg_dir = seg.dir.clone();
    drop(seg);
    std::fs::write(&path, old).expect("writes");
    let reopened = Segment::open(&seg_dir).expect("opens");
    assert!(reopened.text_tokens);
    assert_eq!(read(&reopened), want);
}

#[test]
fn damaged_index_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = head(&[(&[("app", "x")], vec![entry(1, "hello")])]);
    Segment::write(dir.path(), 3, &h, 0, &SegmentOptions::default()).expect("writes");
    let path = dir.path().join("0000000003").join("index.bin");
    let good = std::fs::read(&path).expect("reads");
    for cut in [0, 5, 9, good.len() / 2, good.len() - 1] {
        std::fs::write(&path, &good[..cut]).expect("writes");
        assert!(Segment::open(&dir.path().join("0000000003")).is_err());
    }
    let mut bad = good.clone();
    bad[10] ^= 0xff;
    std::fs::write(&path, &bad).expect("writes");
    let e = Segment::open(&dir.path().join("0000000003"))
        .expect_err("checksum")
        .to_string();
    assert!(e.contains("checksum mismatch"), "{e}");
}

fn log_like_head() -> Head {
    let lines = [
        "081109 203615 148 INFO dfs.DataNode$PacketResponder: blk_-1608999687919862906 terminating",
        "2015-10-18 18:01:47,978 INFO [main] req-3f2a9c1e-77b0-4c1d-9e2f-0a1b2c3d4e5f took 0.25s",
        "addr 0x7FFD12AB00 00000000000000000000000000000001 x1234abcd5678 ünï 7",
        "",
        "plain words only",
        "multi\nline\n\nentry 42",
        "\n",
        "ends in a newline\n",
    ];
    let entries: Vec<LogEntry> = lines
        .iter()
        .enumerate()
        // The first line's own time (2008-11-09 20:36:15.148 UTC), and on.
        .map(|(i, l)| entry(1_226_262_975_148_000_000 + i as i64, l))
        .collect();
    head(&[
        (&[("app", "hdfs")], entries[..3].to_vec()),
        (&[("app", "other")], entries[3..].to_vec()),
    ])
}

#[test]
fn lines_round_trip_in_every_format() {
    for (split_lines, packed_timestamps, join_lines, time_predictors) in [
        (false, true, true, true),
        (true, true, true, true),
        (true, true, true, false),
        (false, true, false, true),
        (true, true, false, true),
        (false, false, true, true),
        (true, false, false, true),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = log_like_head();
        let opts = SegmentOptions {
            split_lines,
            packed_timestamps,
            join_lines,
            time_predictors,
            ..SegmentOptions::default()
        };
        let seg = Segment::write(dir.path(), 1, &h, 1, &opts).expect("writes");
        // The data file says its format and has its columns.
        let file = File::open(seg.dir.join(DATA_FILE)).expect("data file");
        let r = SerializedFileReader::new(file).expect("parquet");
        let meta = r.metadata().file_metadata();
        let format = meta
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == "pharos.format"))
            .and_then(|k| k.value.clone());
        let columns: Vec<String> = (0..meta.schema_descr().num_columns())
            .map(|i| meta.schema_descr().column(i).name().to_string())
            .collect();
        let (want_format, line_column) =
            match (packed_timestamps, split_lines, join_lines, time_predictors) {
                (false, false, _, _) => ("logs-segment 1", "line"),
                (false, true, _, _) => ("logs-segment 2", "line_skeleton"),
                (true, false, false, _) => ("logs-segment 3", "line"),
                (true, true, false, _) => ("logs-segment 4", "line_skeleton"),
                (true, false, true, _) => ("logs-segment 5", "lines"),
                (true, true, true, false) => ("logs-segment 6", "lines_split"),
                (true, true, true, true) => ("logs-segment 7", "lines_block"),
            };
        assert_eq!(format.as_deref(), Some(want_format));
        assert_eq!(columns[2], line_column);
        // Lines carry no min/max statistics (nor do packed timestamps).
        let rg = r.metadata().row_group(0);
        assert!(rg.column(2).statistics().is_none(), "{want_format}");
        assert_eq!(rg.column(COL_TS).statistics().is_none(), packed_timestamps);
        let ts_column = if packed_timestamps {
            "timestamps"
        } else {
            "timestamp"
        };
        assert_eq!(columns[COL_TS], ts_column);

        let none = |_: &Labels| None;
        let reopened = Segment::open(&seg.dir).expect("opens");
        let got: Vec<LogEntry> = read_all(&reopened, &plan(&[], &[], &none))
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        let want: Vec<LogEntry> = h
            .streams
            .iter()
            .flat_map(|s| s.entries.iter().map(|e| h.entry(e, true)))
            .collect();
        assert_eq!(got, want, "{want_format}");
        // A line filter sees the whole line, digits included.
        let needle = vec![vec!["blk_-1608999687919862906".to_string()]];
        let got = read_all(&reopened, &plan(&[], &needle, &none));
        assert_eq!(got.len(), 1);
        assert!(got[0].1.line.starts_with("081109 203615"));
    }
}

/// A split line whose variables are damaged makes the read fail with an
/// error naming the row group and row, not a panic or a wrong line.
#[test]
fn damaged_split_lines_are_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = head(&[(&[("app", "a")], vec![entry(1, "took 12 ms")])]);
    let opts = SegmentOptions {
        split_lines: true,
        ..SegmentOptions::default()
    };
    let seg = Segment::write(dir.path(), 1, &h, 1, &opts).expect("writes");
    // Rewrite the data file with variables that do not fit the skeleton.
    let mut skel = b"took ".to_vec();
    skel.extend_from_slice(&[linecodec::DIGITS, 2]);
    skel.extend_from_slice(b" ms");
    rewrite_group(
        &seg,
        &schema(false, LineLayout::Split).0,
        |col, c| match col {
            0 => c.typed::<Int32Type>().write_batch(&[0], None, None),
            1 => c.typed::<Int64Type>().write_batch(&[1], None, None),
            2 => {
                c.typed::<ByteArrayType>()
                    .write_batch(&[ByteArray::from(skel.clone())], None, None)
            }
            // 100 does not fit in two digits.
            3 => {
                c.typed::<ByteArrayType>()
                    .write_batch(&[ByteArray::from(vec![100u8])], None, None)
            }
            4 => c
                .typed::<ByteArrayType>()
                .write_batch(&[], Some(&[0]), None),
            _ => c.typed::<ByteArrayType>().write_batch(
                &[ByteArray::from(b"{app=\"a\"}".to_vec())],
                None,
                None,
            ),
        },
    );
    let none = |_: &Labels| None;
    let err = seg
        .read(&plan(&[], &[], &none), &mut |_, _| {})
        .expect_err("damaged");
    let msg = err.to_string();
    assert!(
        msg.contains("row group 0 row 0") && msg.contains("more than 2 digits"),
        "{msg}"
    );
}

/// Writes `seg`'s data file anew: one row group with this schema, column
/// `col` written by `write(col, writer)`.
fn rewrite_group(
    seg: &Segment,
    schema: &str,
    mut write: impl FnMut(usize, &mut SerializedColumnWriter<'_>) -> parquet::errors::Result<usize>,
) {
    let schema = Arc::new(parse_message_type(schema).expect("schema"));
    let file = File::create(seg.dir.join(DATA_FILE)).expect("create");
    let mut w =
        SerializedFileWriter::new(file, schema, Arc::new(WriterProperties::builder().build()))
            .expect("writer");
    let mut rg = w.next_row_group().expect("row group");
    let mut col = 0;
    while let Some(mut c) = rg.next_column().expect("column") {
        write(col, &mut c).expect("write");
        c.close().expect("close column");
        col += 1;
    }
    rg.close().expect("close row group");
    w.close().expect("close file");
}

/// Writes a data file of one row group of 40 rows of stream 0 (format 3, 5
/// or 6 by `layout`) with these `timestamps` and line values.
fn rewrite_data(seg: &Segment, ts_blob: &[u8], lines: &[ByteArray], layout: LineLayout) {
    let joined = layout != LineLayout::Rows;
    let mut first = vec![0i16; 40];
    first[0] = 1;
    rewrite_group(seg, &schema(true, layout).0, |col, c| match col {
        0 => c.typed::<Int32Type>().write_batch(&[0; 40], None, None),
        1 => c.typed::<ByteArrayType>().write_batch(
            &[ByteArray::from(ts_blob.to_vec())],
            Some(&first),
            None,
        ),
        2 => {
            c.typed::<ByteArrayType>()
                .write_batch(lines, joined.then_some(first.as_slice()), None)
        }
        3 => c
            .typed::<ByteArrayType>()
            .write_batch(&[], Some(&[0; 40]), None),
        _ => c.typed::<ByteArrayType>().write_batch(
            &vec![ByteArray::from(b"{app=\"a\"}".to_vec()); 40],
            None,
            None,
        ),
    });
}

/// Damaged packed timestamps or joined lines make the read fail with an
/// error naming the row group, not a panic or wrong entries.
#[test]
fn damaged_timestamps_and_joined_lines_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let entries: Vec<LogEntry> = (0..40).map(|i| entry(1000 + i * i, "x")).collect();
    let ts: Vec<i64> = entries.iter().map(|e| e.ts).collect();
    let h = head(&[(&[("app", "a")], entries)]);
    let seg = Segment::write(dir.path(), 1, &h, 1, &SegmentOptions::default()).expect("writes");
    let none = |_: &Labels| None;
    assert_eq!(read_all(&seg, &plan(&[], &[], &none)).len(), 40);
    let rows = vec![ByteArray::from(b"x".to_vec()); 40];
    let read_err = || {
        seg.read(&plan(&[], &[], &none), &mut |_, _| {})
            .expect_err("damaged")
            .to_string()
    };
    for blob in [vec![], vec![1, 3, 0xff], vec![0; 64]] {
        rewrite_data(&seg, &blob, &rows, LineLayout::Rows);
        let msg = read_err();
        assert!(msg.contains("row group 0: timestamps: run 0"), "{msg}");
    }
    let mut good = Vec::new();
    let span = tscodec::RunSpan {
        rows: 40,
        first: ts[0],
        last: ts[39],
    };
    tscodec::encode(&ts, &[span], &mut good).expect("encodes");
    rewrite_data(&seg, &good, &rows, LineLayout::Rows);
    assert_eq!(read_all(&seg, &plan(&[], &[], &none)).len(), 40);
    let joined = |n: usize| vec![ByteArray::from(vec!["x"; n].join("\n").into_bytes())];
    rewrite_data(&seg, &good, &joined(40), LineLayout::Joined);
    assert_eq!(read_all(&seg, &plan(&[], &[], &none)).len(), 40);
    for n in [39, 41] {
        rewrite_data(&seg, &good, &joined(n), LineLayout::Joined);
        let msg = read_err();
        assert!(msg.contains("row group 0 does not have the rows"), "{msg}");
    }
    // A block of split lines that is not one.
    let block = vec![ByteArray::from(vec![1u8, 2, b'x', 7])];
    for layout in [LineLayout::SplitBlock, LineLayout::TimedBlock] {
        rewrite_data(&seg, &good, &block, layout);
        let msg = read_err();
        assert!(msg.contains("row group 0: lines: byte"), "{msg}");
    }
}

/// Prints the bytes per column of the data files of the segments under
/// `$PHAROS_SEGMENTS` (a `logs/segments` directory, e.g. of a
/// `pharos-bench logs --keep-data` run):
/// `PHAROS_SEGMENTS=... cargo test --release -p pharos-logs column_sizes -- --ignored --nocapture`.
#[test]
#[ignore]
fn column_sizes() {
    let Ok(root) = std::env::var("PHAROS_SEGMENTS") else {
        eprintln!("PHAROS_SEGMENTS is not set: nothing to measure");
        return;
    };
    let mut sizes: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    let mut files = 0;
    for d in std::fs::read_dir(&root)
        .expect("segments directory")
        .flatten()
    {
        let Ok(file) = File::open(d.path().join(DATA_FILE)) else {
            continue;
        };
        files += 1;
        let r = SerializedFileReader::new(file).expect("parquet");
        for rg in r.metadata().row_groups() {
            for c in rg.columns() {
                let e = sizes.entry(c.column_path().string()).or_default();
                e.0 += c.compressed_size() as u64;
                e.1 += c.uncompressed_size() as u64;
            }
        }
        let index = d.path().join(INDEX_FILE);
        let e = sizes.entry("(index.bin)".into()).or_default();
        e.0 += std::fs::metadata(index).map_or(0, |m| m.len());
    }
    println!("{files} data files under {root}");
    for (col, (c, u)) in sizes {
        println!(
            "{col:16} {:>12} bytes stored {:>12} before compression",
            c, u
        );
    }
}

/// Prints what the token indexes of the segments under `$PHAROS_SEGMENTS`
/// hold, by token class:
/// `PHAROS_SEGMENTS=... cargo test --release -p pharos-logs index_sizes -- --ignored --nocapture`.
#[test]
#[ignore]
fn index_sizes() {
    let Ok(root) = std::env::var("PHAROS_SEGMENTS") else {
        eprintln!("PHAROS_SEGMENTS is not set: nothing to measure");
        return;
    };
    // class -> (tokens, text bytes, postings entries, single-group tokens)
    let mut by: std::collections::BTreeMap<&str, (u64, u64, u64, u64)> = Default::default();
    let (mut zsum, mut rawsum, mut postbytes) = (0u64, 0u64, 0u64);
    let mut levels = [0u64; 4];
    for d in std::fs::read_dir(&root).expect("segments").flatten() {
        let Ok(seg) = Segment::open(&d.path()) else {
            continue;
        };
        let path = seg.dir.join(INDEX_FILE);
        for b in &seg.buckets {
            let raw =
                read_section(&path, (seg.tokens_at.0 + b.offset, b.len, b.crc)).expect("bucket");
            zsum += b.len;
            rawsum += raw.len() as u64;
            for (i, l) in [2, 3, 5, 9].iter().enumerate() {
                levels[i] += zstd::bulk::compress(&raw, *l).expect("zstd").len() as u64;
            }
            let ix = if seg.text_tokens {
                TokenIndex::decode_text(&raw)
            } else {
                TokenIndex::decode(&raw, b.min_len, b.max_len)
            }
            .expect("decode");
            for i in 0..ix.len() {
                let t = ix.token_for_test(i);
                let digits = t.iter().all(|c| c.is_ascii_digit());
                let hex = !digits
                    && t.len() >= 8
                    && t.iter().all(|c| c.is_ascii_hexdigit())
                    && t.iter().any(|c| c.is_ascii_digit());
                let mixed = !digits && !hex && t.iter().any(|c| c.is_ascii_digit());
                let class = if digits {
                    "digits"
                } else if hex {
                    "hex"
                } else if mixed {
                    "mixed"
                } else {
                    "word"
                };
                let k = ix.postings_for_test(i);
                if class == "mixed" && i % 20011 == 0 && std::env::var_os("PHAROS_SHOW").is_some() {
                    println!("mixed: {} ({k} groups)", String::from_utf8_lossy(t));
                }
                let e = by.entry(class).or_default();
                e.0 += 1;
                e.1 += t.len() as u64 + 1;
                e.2 += k as u64;
                e.3 += u64::from(k == 1);
            }
            postbytes += ix.postings_len_for_test() as u64;
        }
    }
    println!("buckets: {zsum} bytes stored, {rawsum} before zstd, postings {postbytes}");
    println!("zstd levels 2, 3, 5, 9: {levels:?}");
    for (c, (n, tb, p, one)) in by {
        println!("{c:8} tokens {n:>10} text {tb:>11} postings {p:>10} in one group {one:>10}");
    }
}

/// Estimates encodings of the timestamp column of the segments under
/// `$PHAROS_SEGMENTS`, in bits per row: as stored, Parquet's
/// DELTA_BINARY_PACKED as written, the same with each stream's run in a row
/// group shifted to follow on from the previous row, and Rice codes of each
/// run's differences divided by their greatest common divisor:
/// `PHAROS_SEGMENTS=... cargo test --release -p pharos-logs timestamp_sizes -- --ignored --nocapture`.
#[test]
#[ignore]
fn timestamp_sizes() {
    let Ok(root) = std::env::var("PHAROS_SEGMENTS") else {
        eprintln!("PHAROS_SEGMENTS is not set: nothing to measure");
        return;
    };
    fn dbp_bits(v: &[i64]) -> u64 {
        let mut bits = 0u64;
        let d: Vec<i64> = v.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
        for block in d.chunks(128) {
            let min = *block.iter().min().unwrap_or(&0);
            bits += 8 * (10 + 4);
            for mb in block.chunks(32) {
                let max = mb.iter().map(|&x| (x - min) as u64).max().unwrap_or(0);
                let w = 64 - max.leading_zeros() as u64;
                bits += w * 32;
            }
        }
        bits
    }
    fn rice_bits(d: &[u64]) -> u64 {
        if d.is_empty() {
            return 0;
        }
        let g = d.iter().fold(0u64, |a, &b| gcd(a, b)).max(1);
        let mean = d.iter().map(|&x| x / g).sum::<u64>() / d.len() as u64;
        let k = 64 - mean.max(1).leading_zeros() as u64 - 1;
        d.iter().map(|&x| ((x / g) >> k) + 1 + k).sum::<u64>() + 64
    }
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let (mut rows, mut stored, mut raw_dbp, mut cont_dbp, mut rice) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    for d in std::fs::read_dir(&root).expect("segments").flatten() {
        let Ok(seg) = Segment::open(&d.path()) else {
            continue;
        };
        let file = File::open(seg.dir.join(DATA_FILE)).expect("data");
        let r = SerializedFileReader::new(file).expect("parquet");
        for (gi, g) in seg.groups.iter().enumerate() {
            stored += r.metadata().row_group(gi).column(COL_TS).compressed_size() as u64;
            let rg = r.get_row_group(gi).expect("rg");
            let mut ts = Vec::new();
            read_i64(rg.as_ref(), COL_TS, g.rows as usize, &mut ts).expect("ts");
            rows += ts.len() as u64;
            raw_dbp += dbp_bits(&ts);
            // Continuous: each run starts one after the previous row's value.
            let mut cont = Vec::with_capacity(ts.len());
            let mut at = 0usize;
            for run in &g.runs {
                let n = run.rows as usize;
                let off = match cont.last() {
                    Some(&p) => ts[at] - (p + 1),
                    None => 0,
                };
                for &t in &ts[at..at + n] {
                    cont.push(t - off);
                }
                let d: Vec<u64> = ts[at..at + n]
                    .windows(2)
                    .map(|w| (w[1] - w[0]) as u64)
                    .collect();
                rice += rice_bits(&d);
                at += n;
            }
            cont_dbp += dbp_bits(&cont);
        }
    }
    let per = |b: u64| b as f64 / rows as f64;
    println!("{rows} rows; stored {:.1} bits/row; DBP raw {:.1}, DBP continuous {:.1}, Rice per run {:.1}",
        per(stored * 8), per(raw_dbp), per(cont_dbp), per(rice));
}

/// Writes the lines of the segment in `$PHAROS_SEGMENT`, in segment
/// order, one per line, to `$PHAROS_LINES_OUT` (to try other compressors
/// on them).
#[test]
#[ignore]
fn dump_lines() {
    let (Ok(dir), Ok(out)) = (
        std::env::var("PHAROS_SEGMENT"),
        std::env::var("PHAROS_LINES_OUT"),
    ) else {
        eprintln!("PHAROS_SEGMENT or PHAROS_LINES_OUT is not set: nothing to dump");
        return;
    };
    let seg = Segment::open(Path::new(&dir)).expect("open");
    let none = |_: &Labels| None;
    let mut text = Vec::new();
    // With `$PHAROS_LINES_META` set, each line is `labels\tts\tline`.
    let meta = std::env::var_os("PHAROS_LINES_META").is_some();
    for (l, e) in read_all(&seg, &plan(&[], &[], &none)) {
        if meta {
            text.extend_from_slice(format!("{l}\t{}\t", e.ts).as_bytes());
        }
        text.extend_from_slice(e.line.as_bytes());
        text.push(b'\n');
    }
    std::fs::write(out, text).expect("write");
}

/// Sizes of ways to store the lines of `$PHAROS_LINES` (one per line, in
/// segment order) split by [`linecodec`], per 2 MiB group, zstd level 1.
#[test]
#[ignore]
fn split_layouts() {
    let Ok(path) = std::env::var("PHAROS_LINES") else {
        eprintln!("PHAROS_LINES is not set");
        return;
    };
    let text = std::fs::read(path).expect("lines");
    let z = |b: &[u8]| zstd::bulk::compress(b, 1).expect("zstd").len();
    let (mut raw, mut joined, mut rows_vars, mut joined_vars, mut slots) = (0, 0, 0, 0, 0);
    let mut best = 0;
    let mut parts = (0, 0, 0, 0, 0);
    let mut group: Vec<&[u8]> = Vec::new();
    let mut flush = |group: &mut Vec<&[u8]>| {
        if group.is_empty() {
            return;
        }
        let mut skels: Vec<Vec<u8>> = Vec::new();
        let mut ids = std::collections::HashMap::new();
        let mut row_ids: Vec<u8> = Vec::new();
        let mut vars_rows: Vec<u8> = Vec::new();
        let mut vars_joined: Vec<u8> = Vec::new();
        // (skeleton id, slot) -> column bytes, and the previous value.
        let mut cols: std::collections::BTreeMap<(u32, u32), (Vec<u8>, u64)> = Default::default();
        let mut raw_cols: std::collections::BTreeMap<(u32, u32), Vec<u8>> = Default::default();
        let mut jt = Vec::new();
        for l in group.iter() {
            jt.extend_from_slice(l);
            jt.push(b'\n');
            let (mut sk, mut va) = (Vec::new(), Vec::new());
            linecodec::split(l, &mut sk, &mut va);
            let n = ids.len() as u32;
            let id = *ids.entry(sk.clone()).or_insert_with(|| {
                skels.push(sk.clone());
                n
            });
            put_uvarint(&mut row_ids, u64::from(id));
            vars_rows.extend_from_slice(&(va.len() as u32).to_le_bytes());
            vars_rows.extend_from_slice(&va);
            vars_joined.extend_from_slice(&va);
            // Walk the markers.
            let (mut i, mut v, mut slot) = (0usize, 0usize, 0u32);
            while i < sk.len() {
                let m = sk[i];
                if !(linecodec::DIGITS..=linecodec::UUID_UPPER).contains(&m) {
                    i += 1;
                    continue;
                }
                let w = usize::from(sk[i + 1]);
                let col = cols.entry((id, slot)).or_default();
                if m == linecodec::DIGITS {
                    let mut r = Reader::new(&va[v..], "");
                    let x = r.uvarint().expect("varint");
                    v += r.pos;
                    let d = x.wrapping_sub(col.1) as i64;
                    put_uvarint(&mut col.0, ((d << 1) ^ (d >> 63)) as u64);
                    col.1 = x;
                    put_uvarint(raw_cols.entry((id, slot)).or_default(), x);
                } else {
                    let b = if m >= linecodec::UUID_LOWER {
                        16
                    } else {
                        w.div_ceil(2)
                    };
                    col.0.extend_from_slice(&va[v..v + b]);
                    v += b;
                }
                slot += 1;
                i += 2;
            }
        }
        let mut dict = Vec::new();
        for s in &skels {
            put_uvarint(&mut dict, s.len() as u64);
            dict.extend_from_slice(s);
        }
        let mut all_cols = Vec::new();
        let mut best_cols = Vec::new();
        for (k, (c, _)) in &cols {
            all_cols.extend_from_slice(c);
            match raw_cols.get(k) {
                Some(r) if z(r) < z(c) => best_cols.extend_from_slice(r),
                _ => best_cols.extend_from_slice(c),
            }
        }
        best += z(&dict) + z(&row_ids) + z(&best_cols);
        parts.0 += z(&dict);
        let mut sorted: Vec<(&Vec<u8>, usize)> = skels.iter().zip(0..).collect();
        sorted.sort();
        let mut sdict = Vec::new();
        let mut rank = vec![0u64; skels.len()];
        for (r, (s, id)) in sorted.into_iter().enumerate() {
            put_uvarint(&mut sdict, s.len() as u64);
            sdict.extend_from_slice(s);
            rank[id] = r as u64;
        }
        let mut rr = Vec::new();
        let mut rd = Reader::new(&row_ids, "");
        while rd.pos < row_ids.len() {
            let id = rd.uvarint().expect("id") as usize;
            put_uvarint(&mut rr, rank[id]);
        }
        parts.3 += z(&sdict);
        parts.4 += z(&rr);
        parts.1 += z(&row_ids);
        parts.2 += z(&all_cols);
        let base = z(&dict) + z(&row_ids);
        raw += group.iter().map(|l| l.len()).sum::<usize>();
        joined += z(&jt);
        rows_vars += base + z(&vars_rows);
        joined_vars += base + z(&vars_joined);
        slots += base + z(&all_cols);
        group.clear();
    };
    let mut bytes = 0;
    for l in text.split(|&c| c == b'\n') {
        group.push(l);
        bytes += l.len();
        if bytes >= 2 << 20 {
            flush(&mut group);
            bytes = 0;
        }
    }
    flush(&mut group);
    let pct = |x: usize| 100.0 * x as f64 / raw as f64;
    println!(
        "joined text {:.2}%, split with vars per row {:.2}%, vars joined {:.2}%, vars by slot {:.2}%, \
         by slot with each column's numbers raw or as differences, the smaller {:.2}%",
        pct(joined),
        pct(rows_vars),
        pct(joined_vars),
        pct(slots),
        pct(best)
    );
    println!(
        "by slot: skeletons {:.2}% (sorted {:.2}%), skeleton numbers {:.2}% (by sorted skeletons {:.2}%), columns {:.2}%",
        pct(parts.0),
        pct(parts.3),
        pct(parts.1),
        pct(parts.4),
        pct(parts.2)
    );
}

/// What the blocks of split lines take, on the segments under
/// `$PHAROS_SEGMENTS`, per group as the writer cuts them (or of
/// `$PHAROS_GROUP_KB`): format 6 against format 7 (zstd level 3, as
/// written, and the levels in `$PHAROS_LEVELS`, e.g. `1,9`), the parts of a
/// format 7 block each compressed alone (zstd level 1), and what one
/// skeleton dictionary per segment would take instead of one per group:
/// `PHAROS_SEGMENTS=... cargo test --release -p pharos-logs line_experiments -- --ignored --nocapture`.
#[test]
#[ignore]
fn line_experiments() {
    let Ok(root) = std::env::var("PHAROS_SEGMENTS") else {
        eprintln!("PHAROS_SEGMENTS is not set");
        return;
    };
    let z = |b: &[u8], level| zstd::bulk::compress(b, level).expect("zstd").len();
    let (mut raw, mut format6, mut format7) = (0, 0, 0);
    // Optional: the group size in KiB and more zstd levels to try.
    let group_bytes: usize = std::env::var("PHAROS_GROUP_KB")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(SegmentOptions::default().group_bytes, |kb: usize| kb << 10);
    let levels: Vec<i32> = std::env::var("PHAROS_LEVELS")
        .unwrap_or_default()
        .split(',')
        .filter_map(|l| l.parse().ok())
        .collect();
    let mut at_level = vec![0usize; levels.len()];
    // Parts of the format 7 blocks: skeletons, skeleton numbers, predictors,
    // columns.
    let mut parts = [0usize; 4];
    let (mut seg_dict, mut seg_numbers, mut seg_skels) = (0, 0, 0);
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("segments")
        .flatten()
        .collect();
    dirs.sort_by_key(|d| d.path());
    for d in dirs {
        let Ok(seg) = Segment::open(&d.path()) else {
            continue;
        };
        let none = |_: &Labels| None;
        let entries: Vec<LogEntry> = read_all(&seg, &plan(&[], &[], &none))
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        let split = split_lines(&entries);
        // The segment's distinct skeletons, in byte order.
        let mut skels: Vec<&[u8]> = split.iter().map(|(s, _)| &s[..]).collect();
        skels.sort_unstable();
        skels.dedup();
        let mut dict = Vec::new();
        for s in &skels {
            put_uvarint(&mut dict, s.len() as u64);
            dict.extend_from_slice(s);
        }
        seg_dict += z(&dict, 3);
        seg_skels += skels.len();
        // The groups, cut as the writer cuts them.
        let (mut from, mut bytes) = (0, 0);
        for (i, e) in entries.iter().enumerate() {
            bytes += e.line.len();
            if bytes < group_bytes && i + 1 < entries.len() {
                continue;
            }
            let group = from..i + 1;
            (from, bytes) = (i + 1, 0);
            raw += entries[group.clone()]
                .iter()
                .map(|e| e.line.len())
                .sum::<usize>();
            let rows: Vec<(&[u8], &[u8])> = split[group.clone()]
                .iter()
                .map(|(s, v)| (&s[..], &v[..]))
                .collect();
            let ts: Vec<i64> = entries[group.clone()].iter().map(|e| e.ts).collect();
            let (mut b6, mut b7) = (Vec::new(), Vec::new());
            linecodec::encode_block(&rows, None, &mut b6);
            linecodec::encode_block(&rows, Some(&ts), &mut b7);
            format6 += z(&b6, 3);
            format7 += z(&b7, 3);
            for (sum, &l) in at_level.iter_mut().zip(&levels) {
                *sum += z(&b7, l);
            }
            // Cut the format 7 block into its parts.
            let mut r = Reader::new(&b7, "block");
            let n = r.count().expect("skeletons");
            let mut predictors = 0;
            for _ in 0..n {
                let sk = r.bytes().expect("skeleton");
                let mut k = 0;
                while k < sk.len() {
                    if (linecodec::DIGITS..=linecodec::UUID_UPPER).contains(&sk[k]) {
                        predictors += usize::from(sk[k] == linecodec::DIGITS);
                        k += 2;
                    } else {
                        k += 1;
                    }
                }
            }
            let numbers = rows.len() * linecodec::number_width(n);
            let ends = [
                r.pos,
                r.pos + numbers,
                r.pos + numbers + predictors,
                b7.len(),
            ];
            let mut start = 0;
            for (part, end) in parts.iter_mut().zip(ends) {
                *part += z(&b7[start..end], 1);
                start = end;
            }
            // The same rows numbered in the segment's dictionary.
            let mut seg_ids = Vec::new();
            for (sk, _) in &rows {
                let id = skels.binary_search(sk).expect("a segment skeleton");
                put_uvarint(&mut seg_ids, id as u64);
            }
            seg_numbers += z(&seg_ids, 1);
        }
    }
    let pct = |x: usize| 100.0 * x as f64 / raw as f64;
    println!(
        "{raw} bytes of lines: format 6 blocks {:.2}%, format 7 blocks {:.2}%",
        pct(format6),
        pct(format7)
    );
    for (l, sum) in levels.iter().zip(&at_level) {
        println!("  format 7 blocks at zstd level {l}: {:.2}%", pct(*sum));
    }
    println!(
        "  format 7 parts alone: skeletons {:.2}%, skeleton numbers {:.2}%, predictors {:.2}%, \
         columns {:.2}%",
        pct(parts[0]),
        pct(parts[1]),
        pct(parts[2]),
        pct(parts[3])
    );
    println!(
        "  one dictionary per segment instead: {seg_skels} skeletons {:.2}%, numbers in it {:.2}%",
        pct(seg_dict),
        pct(seg_numbers)
    );
}

/// Times [`linecodec::encode_block`] with and without timestamps, and zstd
/// levels 1 to 5 on the timed blocks, on the groups of the first four
/// segments under `$PHAROS_SEGMENTS` (2 MiB, or `$PHAROS_GROUP_MB`; run it
/// under a profiler too).
#[test]
#[ignore]
fn encode_block_speed() {
    let Ok(root) = std::env::var("PHAROS_SEGMENTS") else {
        eprintln!("PHAROS_SEGMENTS is not set");
        return;
    };
    type Rows = Vec<(Vec<u8>, Vec<u8>)>;
    let mut groups: Vec<(Rows, Vec<i64>)> = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("segments")
        .flatten()
        .collect();
    dirs.sort_by_key(|d| d.path());
    let (mut rows, mut ts, mut bytes) = (Vec::new(), Vec::new(), 0);
    for d in dirs.iter().take(4) {
        let Ok(seg) = Segment::open(&d.path()) else {
            continue;
        };
        let none = |_: &Labels| None;
        for (_, e) in read_all(&seg, &plan(&[], &[], &none)) {
            let (mut s, mut v) = (Vec::new(), Vec::new());
            linecodec::split(e.line.as_bytes(), &mut s, &mut v);
            rows.push((s, v));
            ts.push(e.ts);
            bytes += e.line.len();
            if bytes
                >= std::env::var("PHAROS_GROUP_MB")
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(2)
                    << 20
            {
                groups.push((std::mem::take(&mut rows), std::mem::take(&mut ts)));
                bytes = 0;
            }
        }
    }
    let blocks: Vec<Vec<u8>> = groups
        .iter()
        .map(|(rows, ts)| {
            let r: Vec<(&[u8], &[u8])> = rows.iter().map(|(s, v)| (&s[..], &v[..])).collect();
            let mut b = Vec::new();
            linecodec::encode_block(&r, Some(ts), &mut b);
            b
        })
        .collect();
    for level in [1, 2, 3, 4, 5] {
        let t0 = std::time::Instant::now();
        let z: usize = blocks
            .iter()
            .map(|b| zstd::bulk::compress(b, level).expect("zstd").len())
            .sum();
        println!("zstd level {level}: {z} bytes in {:?}", t0.elapsed());
    }
    for timed in [false, true, false, true] {
        let t0 = std::time::Instant::now();
        let mut out = 0;
        for (rows, ts) in &groups {
            let r: Vec<(&[u8], &[u8])> = rows.iter().map(|(s, v)| (&s[..], &v[..])).collect();
            let mut b = Vec::new();
            linecodec::encode_block(&r, timed.then_some(&ts[..]), &mut b);
            out += b.len();
        }
        println!(
            "timed {timed}: {:?} for {} groups, {out} bytes",
            t0.elapsed(),
            groups.len()
        );
    }
}

/// Memory of a head and of writing it: reads the segment in
/// `$PHAROS_SEGMENT` into a head, then writes that head as a segment,
/// printing the process's resident and peak resident memory after each.
///
/// `PHAROS_SEGMENT=<dir> cargo test --release -p pharos-logs write_memory -- --ignored --nocapture`
#[test]
#[ignore]
fn write_memory() {
    let Ok(dir) = std::env::var("PHAROS_SEGMENT") else {
        eprintln!("PHAROS_SEGMENT is not set");
        return;
    };
    let status = |what: &str| {
        let s = std::fs::read_to_string("/proc/self/status").expect("status");
        let kb = |k: &str| {
            s.lines()
                .find(|l| l.starts_with(k))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        println!(
            "{what}: RSS {} MiB, peak {} MiB",
            kb("VmRSS:") / 1024,
            kb("VmHWM:") / 1024
        );
    };
    status("start");
    let seg = Segment::open(Path::new(&dir)).expect("open");
    let mut h = Head::default();
    let none = |_: &Labels| None;
    let mut bytes = 0;
    seg.read(&plan(&[], &[], &none), &mut |l, es| {
        let id = h.find(l).unwrap_or_else(|| h.add(l.clone()));
        for e in es {
            bytes += e.line.len();
            h.insert(id, e);
        }
    })
    .expect("reads");
    status(&format!("head of {} MiB of lines", bytes >> 20));
    let out = tempfile::tempdir().expect("tempdir");
    let w = Segment::write(out.path(), 1, &h, 0, &SegmentOptions::default()).expect("write");
    status(&format!("written ({} row groups)", w.groups.len()));
}

/// Each entry's line split into skeleton and variables.
fn split_lines(entries: &[LogEntry]) -> Vec<(Vec<u8>, Vec<u8>)> {
    entries
        .iter()
        .map(|e| {
            let (mut s, mut v) = (Vec::new(), Vec::new());
            linecodec::split(e.line.as_bytes(), &mut s, &mut v);
            (s, v)
        })
        .collect()
}

/// Bits per line of format 7 blocks, per value of a label (`PHAROS_LABEL`,
/// default `app`): each label value's rows of the segments under
/// `PHAROS_SEGMENTS`, in segment order, cut into groups as the writer cuts
/// them (by default) and encoded
/// alone, to set beside the generator's floor (`entropy_floor` in
/// pharos-bench):
/// `PHAROS_SEGMENTS=... cargo test --release -p pharos-logs lines_by_label -- --ignored --nocapture`.
#[test]
#[ignore]
fn lines_by_label() {
    let Ok(root) = std::env::var("PHAROS_SEGMENTS") else {
        eprintln!("PHAROS_SEGMENTS is not set");
        return;
    };
    let label = std::env::var("PHAROS_LABEL").unwrap_or_else(|_| "app".to_string());
    let key = format!("{label}=\"");
    let group_bytes = SegmentOptions::default().group_bytes;
    let mut by: std::collections::BTreeMap<String, Vec<LogEntry>> = Default::default();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("segments")
        .flatten()
        .collect();
    dirs.sort_by_key(|d| d.path());
    // (rows, line bytes, block bytes) per label value.
    let mut sums: std::collections::BTreeMap<String, (usize, usize, usize)> = Default::default();
    let mut flush = |by: &mut std::collections::BTreeMap<String, Vec<LogEntry>>| {
        for (v, entries) in by.iter_mut() {
            let sum = sums.entry(v.clone()).or_default();
            let (mut from, mut bytes) = (0, 0);
            for (i, e) in entries.iter().enumerate() {
                bytes += e.line.len();
                if bytes < group_bytes && i + 1 < entries.len() {
                    continue;
                }
                let group = &entries[from..i + 1];
                (from, bytes) = (i + 1, 0);
                let split = split_lines(group);
                let rows: Vec<(&[u8], &[u8])> =
                    split.iter().map(|(s, v)| (&s[..], &v[..])).collect();
                let ts: Vec<i64> = group.iter().map(|e| e.ts).collect();
                let mut b = Vec::new();
                linecodec::encode_block(&rows, Some(&ts), &mut b);
                sum.0 += group.len();
                sum.1 += group.iter().map(|e| e.line.len()).sum::<usize>();
                sum.2 += zstd::bulk::compress(&b, 3).expect("zstd").len();
            }
            entries.clear();
        }
    };
    for d in dirs {
        let Ok(seg) = Segment::open(&d.path()) else {
            continue;
        };
        let none = |_: &Labels| None;
        for (labels, e) in read_all(&seg, &plan(&[], &[], &none)) {
            let v = labels
                .split_once(&key)
                .and_then(|(_, rest)| rest.split_once('"'))
                .map_or("", |(v, _)| v);
            by.entry(v.to_string()).or_default().push(e);
        }
        flush(&mut by);
    }
    let (mut lines, mut blocks) = (0, 0);
    for (v, (rows, raw, b)) in &sums {
        lines += raw;
        blocks += b;
        println!(
            "{v:12} {:6.1} bits per line of {:4} B: {:.2}%",
            8.0 * *b as f64 / *rows as f64,
            raw / rows.max(&1),
            100.0 * *b as f64 / *raw as f64
        );
    }
    println!("all: {:.2}%", 100.0 * blocks as f64 / lines as f64);
}
