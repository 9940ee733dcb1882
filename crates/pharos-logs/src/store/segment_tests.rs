use super::*;
use crate::store::head::Head;

/// A stream's labels and entries.
type Spec<'a> = (&'a [(&'a str, &'a str)], Vec<LogEntry>);

fn head(streams: &[Spec]) -> Head {
    let mut h = Head::default();
    for (labels, entries) in streams {
        let id = h.add(Labels::from_pairs(labels));
        for e in entries {
            h.streams[id as usize].insert(e.clone());
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
