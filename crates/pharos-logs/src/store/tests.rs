use super::*;
use pharos_model::{Line, LogRejectReason, MatchOp};
use std::time::Duration;

const NOW: i64 = 1_700_000_000_000_000_000;

fn stream(pairs: &[(&str, &str)], entries: &[(i64, &str)]) -> LogStream {
    LogStream {
        labels: Labels::from_pairs(pairs),
        entries: entries.iter().map(|&(t, l)| LogEntry::new(t, l)).collect(),
    }
}

fn open(dir: &Path, limits: Limits) -> LogStore {
    LogStore::open(
        dir,
        StoreOptions {
            limits,
            fsync: FsyncPolicy::Never,
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

fn lines(got: &[StreamEntries]) -> Vec<(String, Vec<String>)> {
    got.iter()
        .map(|s| {
            (
                s.labels.to_string(),
                s.entries.iter().map(|e| e.line.to_string()).collect(),
            )
        })
        .collect()
}

#[test]
fn push_select_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    {
        let st = open(dir.path(), Limits::default());
        let mut with_meta = stream(&[("app", "b")], &[(NOW + 5, "b1")]);
        with_meta.entries[0]
            .metadata
            .push(("trace_id".into(), "0af7".into()));
        with_meta.entries[0]
            .metadata
            .push(("k8s.node.name".into(), "n1".into()));
        let out = st
            .push_at(
                vec![
                    stream(&[("app", "a")], &[(NOW + 2, "a2"), (NOW + 1, "a1")]),
                    with_meta,
                    stream(&[("app", "a")], &[(NOW + 3, "a3")]),
                ],
                NOW,
            )
            .unwrap();
        assert_eq!(out.accepted, 4);
        assert_eq!(out.streams_created, 2);
        assert!(out.rejected.is_empty());
    }
    // Reopened: everything comes back from the WAL, in time order.
    let st = open(dir.path(), Limits::default());
    assert_eq!(st.replayed().streams, 2);
    assert_eq!(st.replayed().entries, 4);
    let all = st.select(&[], i64::MIN, i64::MAX);
    assert_eq!(
        lines(&all),
        vec![
            (
                r#"{app="a"}"#.into(),
                vec!["a1".into(), "a2".into(), "a3".into()]
            ),
            (r#"{app="b"}"#.into(), vec!["b1".into()]),
        ]
    );
    assert_eq!(all[1].entries[0].metadata_value("trace_id"), Some("0af7"));
    // Metadata names are stored as label names.
    assert_eq!(
        all[1].entries[0].metadata_value("k8s_node_name"),
        Some("n1")
    );
    // Matchers and the half-open time range.
    let m = Matcher::new(MatchOp::RegexMatch, "app", "a|c").unwrap();
    let got = st.select(&[m], NOW + 2, NOW + 3);
    assert_eq!(
        lines(&got),
        vec![(r#"{app="a"}"#.into(), vec!["a2".into()])]
    );
    // Streams, label names and values within a time range.
    assert_eq!(
        st.streams(&[], NOW + 4, NOW + 6, Deadline::NONE)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        st.label_names(&[], i64::MIN, i64::MAX, Deadline::NONE)
            .unwrap(),
        vec!["app".to_string()]
    );
    assert_eq!(
        st.label_values("app", &[], NOW, NOW + 3, Deadline::NONE)
            .unwrap(),
        vec!["a".to_string()]
    );
    assert!(st
        .label_values("app", &[], NOW + 10, NOW + 20, Deadline::NONE)
        .unwrap()
        .is_empty());
    // Index statistics: a2 and a3 in [NOW+2, NOW+4); b1 is outside.
    assert_eq!(
        st.stats(&[], NOW + 2, NOW + 4, Deadline::NONE).unwrap(),
        (1, 2, 4)
    );
    // New entries after replay go to the same stream ids.
    st.push_at(vec![stream(&[("app", "b")], &[(NOW + 9, "b2")])], NOW)
        .unwrap();
    drop(st);
    let st = open(dir.path(), Limits::default());
    assert_eq!(st.counts(), (2, 5));
}

#[test]
fn refusals_name_stream_and_reason_and_keep_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let st = open(
        dir.path(),
        Limits {
            max_line_size: 4,
            ..Limits::default()
        },
    );
    let week = 7 * 24 * 3600 * 1_000_000_000;
    let out = st
        .push_at(
            vec![
                stream(&[], &[(NOW, "x")]),
                stream(&[("1bad", "v")], &[(NOW, "x")]),
                stream(
                    &[("app", "a")],
                    &[
                        (NOW, "ok"),
                        (NOW, "too long"),
                        (NOW - week - 1, "old"),
                        (NOW - week - 2, "old"),
                        (NOW + 3_600_000_000_000, "new"),
                    ],
                ),
            ],
            NOW,
        )
        .unwrap();
    assert_eq!(out.accepted, 1);
    let reasons: Vec<(&str, usize)> = out
        .rejected
        .iter()
        .map(|r| (r.reason.reason(), r.entries))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("missing_labels", 1),
            ("invalid_labels", 1),
            ("line_too_long", 1),
            ("greater_than_max_sample_age", 2),
            ("too_far_in_future", 1),
        ]
    );
    assert!(matches!(
        out.rejected[2].reason,
        LogRejectReason::LineTooLong { len: 8, max: 4 }
    ));
    assert!(!out.only_limited());
    assert_eq!(st.counts(), (1, 1));
}

#[test]
fn lines_in_the_head_do_not_hold_their_request_body() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    /// A request body that says when it is freed.
    struct Body(Vec<u8>, Arc<AtomicBool>);
    impl AsRef<[u8]> for Body {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }
    impl Drop for Body {
        fn drop(&mut self) {
            self.1.store(true, Ordering::SeqCst);
        }
    }
    let week = 7 * 24 * 3600 * 1_000_000_000;
    let push = |refused: usize| {
        let dir = tempfile::tempdir().unwrap();
        let st = open(dir.path(), Limits::default());
        let freed = Arc::new(AtomicBool::new(false));
        let text = b"kept line, then refused ones".to_vec();
        let body = bytes::Bytes::from_owner(Body(text, freed.clone()));
        let mut entries = vec![LogEntry::new(
            NOW,
            Line::from_utf8(body.slice(0..9)).unwrap(),
        )];
        for i in 0..refused {
            let old = Line::from_utf8(body.slice(11..28)).unwrap();
            entries.push(LogEntry::new(NOW - week - 1 - i as i64, old));
        }
        drop(body);
        let s = LogStream {
            labels: Labels::from_pairs(&[("app", "a")]),
            entries,
        };
        let out = st.push_at(vec![s], NOW).unwrap();
        assert_eq!(
            (out.accepted, out.rejected.len()),
            (1, (refused > 0) as usize)
        );
        let got = st.select(&[], 0, i64::MAX);
        assert_eq!(
            lines(&got),
            vec![(r#"{app="a"}"#.into(), vec!["kept line".into()])]
        );
        drop(got);
        freed.load(Ordering::SeqCst)
    };
    // The head copies the lines it keeps, whether or not others were
    // refused: the body goes with the request.
    assert!(push(2));
    assert!(push(0));
}

#[test]
fn rate_and_stream_limits_refuse_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let st = open(
        dir.path(),
        Limits {
            rate_bytes: 10.0,
            burst_bytes: 10.0,
            max_streams: 2,
            ..Limits::default()
        },
    );
    let out = st
        .push_at(vec![stream(&[("app", "a")], &[(NOW, "0123456789")])], NOW)
        .unwrap();
    assert_eq!(out.accepted, 1);
    let out = st
        .push_at(vec![stream(&[("app", "a")], &[(NOW, "0123456789")])], NOW)
        .unwrap();
    assert!(out.only_limited(), "{out:?}");
    assert!(st.retry_after_secs(10) >= 1);
    let st2dir = tempfile::tempdir().unwrap();
    let st2 = open(
        st2dir.path(),
        Limits {
            max_streams: 2,
            ..Limits::default()
        },
    );
    let out = st2
        .push_at(
            vec![
                stream(&[("app", "a")], &[(NOW, "x")]),
                stream(&[("app", "b")], &[(NOW, "x")]),
                stream(&[("app", "c")], &[(NOW, "x")]),
            ],
            NOW,
        )
        .unwrap();
    assert_eq!(out.accepted, 2);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].reason, LogRejectReason::TooManyStreams(2));
}

#[test]
fn a_damaged_wal_tail_loses_only_the_damaged_records() {
    let dir = tempfile::tempdir().unwrap();
    {
        let st = open(dir.path(), Limits::default());
        for i in 0..10 {
            st.push_at(vec![stream(&[("app", "a")], &[(NOW + i, "line")])], NOW)
                .unwrap();
        }
    }
    // Cut the last segment in the middle of the last record.
    let wal = dir.path().join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let last = segs.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(last).unwrap();
    f.set_len(len - 3).unwrap();
    let st = open(dir.path(), Limits::default());
    assert_eq!(st.counts(), (1, 9));
}

fn open_with(dir: &Path, f: impl FnOnce(&mut StoreOptions)) -> LogStore {
    let mut o = StoreOptions {
        limits: Limits {
            max_age_ns: None,
            future_grace_ns: i64::MAX / 2,
            ..Limits::default()
        },
        fsync: FsyncPolicy::Never,
        ..StoreOptions::default()
    };
    f(&mut o);
    LogStore::open(dir, o).unwrap()
}

fn count(st: &LogStore) -> usize {
    st.select(&[], i64::MIN, i64::MAX)
        .iter()
        .map(|s| s.entries.len())
        .sum()
}

#[test]
fn flushed_segments_are_read_and_not_replayed_twice() {
    let dir = tempfile::tempdir().unwrap();
    {
        let st = open_with(dir.path(), |_| {});
        st.push_at(
            vec![stream(&[("app", "a")], &[(NOW + 1, "a1"), (NOW + 2, "a2")])],
            NOW,
        )
        .unwrap();
        st.flush().unwrap();
        assert_eq!(st.stats_all().segments, 1);
        assert_eq!(st.stats_all().head_entries, 0);
        // The same stream continues in the new head.
        st.push_at(vec![stream(&[("app", "a")], &[(NOW + 3, "a3")])], NOW)
            .unwrap();
        let got = st.select(&[], i64::MIN, i64::MAX);
        assert_eq!(
            lines(&got),
            vec![(
                r#"{app="a"}"#.into(),
                vec!["a1".into(), "a2".into(), "a3".into()]
            )]
        );
        assert_eq!(
            st.streams(&[], i64::MIN, i64::MAX, Deadline::NONE)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            st.stats(&[], NOW + 2, i64::MAX, Deadline::NONE).unwrap(),
            (1, 2, 4)
        );
        assert_eq!(
            st.stats(&[], i64::MIN, i64::MAX, Deadline::NONE).unwrap(),
            (1, 3, 6)
        );
    }
    let st = open_with(dir.path(), |_| {});
    assert_eq!(st.replayed().segments, 1);
    assert_eq!(st.replayed().entries, 1, "only the entry after the cut");
    assert_eq!(count(&st), 3);
}

#[test]
fn a_head_cut_but_not_written_is_written_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    {
        let st = open_with(dir.path(), |_| {});
        st.push_at(vec![stream(&[("app", "a")], &[(NOW + 1, "a1")])], NOW)
            .unwrap();
        // Hold the writer so the cut head stays unwritten, and copy the
        // directory as a crash would leave it.
        let _w = st.shared.writing.lock();
        {
            let mut s = st.shared.state.lock();
            st.shared.cut(&mut s).unwrap();
        }
        st.push_at(vec![stream(&[("app", "b")], &[(NOW + 2, "b1")])], NOW)
            .unwrap();
        copy_dir(dir.path(), copy.path());
    }
    let st = open_with(copy.path(), |_| {});
    assert_eq!(st.replayed().entries, 2);
    assert_eq!(st.stats_all().segments, 1, "the finished generation");
    assert_eq!(st.stats_all().head_entries, 1);
    assert_eq!(count(&st), 2);
    drop(st);
    let st = open_with(copy.path(), |_| {});
    assert_eq!(count(&st), 2, "no entry twice after a second open");
}

#[test]
fn a_segment_whose_wal_survived_is_not_read_twice() {
    let dir = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    {
        let st = open_with(dir.path(), |_| {});
        st.push_at(vec![stream(&[("app", "a")], &[(NOW + 1, "a1")])], NOW)
            .unwrap();
        copy_dir(&dir.path().join("wal"), &copy.path().join("wal"));
        st.flush().unwrap();
        copy_dir(&dir.path().join("segments"), &copy.path().join("segments"));
    }
    // The copy holds the segment and the WAL it came from.
    let st = open_with(copy.path(), |_| {});
    assert_eq!(count(&st), 1);
}

#[test]
fn heads_are_cut_by_size_and_the_wal_shrinks() {
    let dir = tempfile::tempdir().unwrap();
    let st = open_with(dir.path(), |o| o.segment_bytes = 2000);
    let line = "x".repeat(100);
    for i in 0..100 {
        st.push_at(
            vec![stream(&[("app", "a")], &[(NOW + i, line.as_str())])],
            NOW,
        )
        .unwrap();
    }
    st.flush().unwrap();
    let s = st.stats_all();
    assert!(s.segments >= 4, "{s:?}");
    assert_eq!(s.segment_entries, 100);
    assert_eq!(count(&st), 100);
    let wal_files = std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    assert!(wal_files <= 2, "{wal_files} WAL segments left");
}

#[test]
fn a_head_that_fills_while_the_last_is_written_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let st = std::sync::Arc::new(open_with(dir.path(), |o| o.segment_bytes = 1000));
    let push = |st: &LogStore, i: i64| {
        let line = "x".repeat(600);
        st.push_at(
            vec![stream(&[("app", "a")], &[(NOW + i, line.as_str())])],
            NOW,
        )
        .unwrap();
    };
    // Hold the writer: the first full head is frozen and stays unwritten.
    let w = st.shared.writing.lock();
    push(&st, 1);
    push(&st, 2);
    assert_eq!(st.stats_all().frozen_heads, 1);
    let pusher = std::thread::spawn({
        let st = st.clone();
        move || {
            push(&st, 3);
            push(&st, 4);
        }
    });
    // The second full head is not frozen beside it: its pusher waits.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!pusher.is_finished());
    assert_eq!(st.stats_all().frozen_heads, 1);
    drop(w);
    pusher.join().unwrap();
    st.flush().unwrap();
    let s = st.stats_all();
    assert_eq!((s.frozen_heads, s.segments), (0, 2), "{s:?}");
    assert_eq!(count(&st), 4);
}

#[test]
fn retention_by_time_with_overrides_and_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let hour = 3_600_000_000_000i64;
    // Queries apply retention with the real clock.
    let now = now_ns();
    let st = open_with(dir.path(), |o| {
        o.retention = Retention {
            period: Some(Duration::from_secs(3600)),
            max_bytes: None,
            rules: vec![RetentionRule {
                matchers: vec![Matcher::equal("app", "keep")],
                period: Duration::from_secs(10 * 3600),
            }],
        };
    });
    // Two old segments: one only of "drop", one mixed.
    st.push_at(
        vec![stream(&[("app", "drop")], &[(now - 3 * hour, "d1")])],
        now,
    )
    .unwrap();
    st.flush().unwrap();
    st.push_at(
        vec![
            stream(&[("app", "drop")], &[(now - 3 * hour, "d2")]),
            stream(&[("app", "keep")], &[(now - 3 * hour, "k1")]),
        ],
        now,
    )
    .unwrap();
    st.flush().unwrap();
    st.apply_retention(now).unwrap();
    assert_eq!(st.stats_all().segments, 1, "the mixed segment stays");
    // Queries hide what retention has passed even before it is deleted.
    let got = st.select(&[], i64::MIN, i64::MAX);
    assert_eq!(
        lines(&got),
        vec![(r#"{app="keep"}"#.into(), vec!["k1".into()])]
    );
    drop(st);

    // By size: the oldest segments go first.
    let dir = tempfile::tempdir().unwrap();
    let st = open_with(dir.path(), |_| {});
    for i in 0..3 {
        st.push_at(vec![stream(&[("app", "a")], &[(NOW + i, "line")])], NOW)
            .unwrap();
        st.flush().unwrap();
    }
    let per = st.stats_all().segment_disk_bytes / 3;
    drop(st);
    let st = open_with(dir.path(), |o| {
        o.retention.max_bytes = Some(per * 2 + per / 2)
    });
    st.apply_retention(NOW).unwrap();
    let got = st.select(&[], i64::MIN, i64::MAX);
    assert_eq!(
        got[0].entries.iter().map(|e| e.ts).collect::<Vec<_>>(),
        vec![NOW + 1, NOW + 2]
    );
}

#[test]
fn select_where_prunes_segments_but_never_loses_a_match() {
    let dir = tempfile::tempdir().unwrap();
    let st = open_with(dir.path(), |o| o.segment.group_bytes = 200);
    for i in 0..200 {
        let line = if i == 77 {
            "found the needle9 here".to_string()
        } else {
            format!("hay {i}")
        };
        st.push_at(
            vec![stream(&[("app", "a")], &[(NOW + i, line.as_str())])],
            NOW,
        )
        .unwrap();
    }
    st.flush().unwrap();
    let got = st
        .select_where(
            &[],
            i64::MIN,
            i64::MAX,
            &[vec!["needle9".into()]],
            Deadline::NONE,
        )
        .unwrap();
    let n: usize = got.iter().map(|s| s.entries.len()).sum();
    assert!(got[0].entries.iter().any(|e| e.line.contains("needle9")));
    assert!(n < 50, "{n} entries read");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

#[test]
fn trace_ids_in_metadata_are_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let st = open_with(dir.path(), |o| o.segment.group_bytes = 200);
    for i in 0..200 {
        let mut s = stream(&[("app", "a")], &[(NOW + i, "some line of text")]);
        s.entries[0]
            .metadata
            .push(("trace_id".into(), format!("{:032x}", i % 50)));
        st.push_at(vec![s], NOW).unwrap();
    }
    // A stream whose trace_id is a stream label is never skipped.
    st.push_at(
        vec![stream(
            &[
                ("app", "b"),
                ("trace_id", "00000000000000000000000000000007"),
            ],
            &[(NOW, "x")],
        )],
        NOW,
    )
    .unwrap();
    st.flush().unwrap();
    let want = format!("{:032x}", 7);
    let eq = [("trace_id".to_string(), want.clone())];
    let mut read = 0;
    let mut hits = 0;
    st.scan_with(
        &Scan {
            matchers: &[],
            start_ns: i64::MIN,
            end_ns: i64::MAX,
            contains: &[],
            metadata_eq: &eq,
            lines: true,
            deadline: Deadline::NONE,
        },
        &mut |l, es| {
            read += es.len();
            hits += es
                .iter()
                .filter(|e| {
                    e.metadata_value("trace_id") == Some(want.as_str())
                        || l.get("trace_id").is_some()
                })
                .count();
        },
    )
    .unwrap();
    assert_eq!(
        hits, 5,
        "4 entries with the trace id and the labelled stream"
    );
    assert!(read < 60, "{read} entries read of 201");
}

#[test]
fn parallel_scans_see_every_entry_once() {
    let dir = tempfile::tempdir().unwrap();
    let st = open_with(dir.path(), |_| {});
    let mut n = 0;
    for seg in 0..5 {
        for s in 0..3 {
            let app = format!("a{s}");
            let es: Vec<(i64, &str)> = (0..10).map(|i| (NOW + seg * 100 + i, "l")).collect();
            st.push_at(vec![stream(&[("app", app.as_str())], &es)], NOW)
                .unwrap();
            n += 10;
        }
        if seg < 4 {
            st.flush().unwrap();
        }
    }
    assert_eq!(st.stats_all().segments, 4);
    let q = Scan {
        matchers: &[],
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        contains: &[],
        metadata_eq: &[],
        lines: false,
        deadline: Deadline::NONE,
    };
    for threads in [1, 2, 3, 8] {
        let parts = st
            .scan_parallel(&q, threads, || 0usize, |c, _, es| *c += es.len())
            .unwrap();
        assert_eq!(parts.iter().sum::<usize>(), n, "{threads} threads");
    }
}

/// A deadline already past.
fn past() -> Deadline {
    let d = Deadline::after(Duration::from_millis(1));
    std::thread::sleep(Duration::from_millis(2));
    d
}

#[test]
fn reads_stop_at_their_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let st = open_with(dir.path(), |_| {});
    // 20 segments of 3 streams, and a head.
    for seg in 0..21 {
        for s in 0..3 {
            let app = format!("a{s}");
            let es: Vec<(i64, &str)> = (0..10).map(|i| (NOW + seg * 100 + i, "l")).collect();
            st.push_at(vec![stream(&[("app", app.as_str())], &es)], NOW)
                .unwrap();
        }
        if seg < 20 {
            st.flush().unwrap();
        }
    }
    let scan = |deadline| Scan {
        matchers: &[],
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        contains: &[],
        metadata_eq: &[],
        lines: true,
        deadline,
    };
    fn timed_out<T>(r: &Result<T, ReadError>) -> bool {
        matches!(r, Err(ReadError::TimedOut(_)))
    }
    // Past already: nothing is read.
    let d = past();
    for threads in [1, 2] {
        let visits = std::sync::atomic::AtomicUsize::new(0);
        let r = st.scan_parallel(
            &scan(d),
            threads,
            || (),
            |_, _, _| {
                visits.fetch_add(1, Ordering::Relaxed);
            },
        );
        assert!(timed_out(&r), "{threads} threads");
        assert_eq!(visits.into_inner(), 0);
    }
    let mut n = 0;
    assert!(timed_out(&st.scan_with(&scan(d), &mut |_, _| n += 1)));
    assert_eq!(n, 0);
    let r = st.select_where(&[], i64::MIN, i64::MAX, &[], d);
    assert!(matches!(r, Err(ReadError::TimedOut(t)) if t.limit == Duration::from_millis(1)));
    assert!(st.streams(&[], i64::MIN, i64::MAX, d).is_err());
    assert!(st.stats(&[], NOW + 5, NOW + 2000, d).is_err());
    assert!(st.label_names(&[], i64::MIN, i64::MAX, d).is_err());
    assert!(st.label_values("app", &[], i64::MIN, i64::MAX, d).is_err());
    // Passing during the read: 63 slow visits (20 ms each) would take
    // 0.6 s on two threads; both threads stop soon after 100 ms.
    let visits = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    let d = Deadline::after(Duration::from_millis(100));
    let r = st.scan_parallel(
        &scan(d),
        2,
        || (),
        |_, _, _| {
            visits.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
        },
    );
    assert!(timed_out(&r));
    let visits = visits.into_inner();
    assert!(visits < 40, "{visits} of 63 batches visited");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Without a deadline everything is there.
    assert_eq!(
        st.stats(&[], i64::MIN, i64::MAX, Deadline::NONE).unwrap(),
        (3, 630, 630)
    );
    let d = Deadline::after(Duration::from_secs(3600));
    assert_eq!(
        st.select_where(&[], i64::MIN, i64::MAX, &[], d)
            .unwrap()
            .len(),
        3
    );
}

fn segment_ids(dir: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn small_segments_are_compacted_and_a_crash_leaves_no_entry_twice() {
    let dir = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    {
        let st = open_with(dir.path(), |o| o.segment_bytes = 1 << 20);
        // Three small segments (flushed heads), then one in the head.
        for (i, app) in ["a", "b", "a"].iter().enumerate() {
            let t = NOW + 10 * i as i64;
            st.push_at(
                vec![stream(
                    &[("app", app)],
                    &[
                        (t + 1, &format!("{app} one {i}")),
                        (t + 2, &format!("{app} two {i}")),
                    ],
                )],
                NOW,
            )
            .unwrap();
            st.flush().unwrap();
        }
        st.push_at(vec![stream(&[("app", "a")], &[(NOW + 99, "a head")])], NOW)
            .unwrap();
        assert_eq!(segment_ids(dir.path()), vec![1, 2, 3]);
        // Kept aside: what a crash before their deletion would leave.
        for id in [1, 2, 3] {
            let name = format!("{id:010}");
            copy_dir(
                &dir.path().join("segments").join(&name),
                &saved.path().join(&name),
            );
        }
        let before = lines(&st.select(&[], i64::MIN, i64::MAX));
        assert!(st.compact(NOW).unwrap());
        assert_eq!(st.stats_all().segments, 1);
        assert!(!st.compact(NOW).unwrap(), "nothing left to merge");
        assert_eq!(lines(&st.select(&[], i64::MIN, i64::MAX)), before);
        assert_eq!(
            segment_ids(dir.path()),
            vec![4],
            "the old directories are gone"
        );
        // A line filter still finds its row group through the new index.
        let got = st
            .select_where(
                &[],
                i64::MIN,
                i64::MAX,
                &[vec!["two 1".to_string()]],
                Deadline::NONE,
            )
            .unwrap();
        assert!(lines(&got)
            .iter()
            .any(|(_, ls)| ls.contains(&"b two 1".to_string())));
        assert_eq!(
            lines(&st.select(&[], i64::MIN, i64::MAX))[0].1,
            vec!["a one 0", "a two 0", "a one 2", "a two 2", "a head"]
        );
    }
    // The crash: the replaced segments are back beside their replacement.
    for id in [1, 2, 3] {
        let name = format!("{id:010}");
        copy_dir(
            &saved.path().join(&name),
            &dir.path().join("segments").join(&name),
        );
    }
    let st = open_with(dir.path(), |o| o.segment_bytes = 1 << 20);
    assert_eq!(segment_ids(dir.path()), vec![4]);
    assert_eq!(count(&st), 7, "every entry once");
    // A second compaction names the first one's segments too.
    st.flush().unwrap();
    st.push_at(vec![stream(&[("app", "c")], &[(NOW + 200, "c1")])], NOW)
        .unwrap();
    st.flush().unwrap();
    assert!(st.compact(NOW).unwrap());
    let ids = segment_ids(dir.path());
    assert_eq!(ids.len(), 1);
    let replaces = std::fs::read_to_string(
        dir.path()
            .join("segments")
            .join(format!("{:010}", ids[0]))
            .join("replaces"),
    )
    .unwrap();
    let listed: Vec<u64> = replaces.lines().map(|l| l.parse().unwrap()).collect();
    assert!(listed.starts_with(&[1, 2, 3, 4]), "{listed:?}");
    assert_eq!(count(&st), 8);
}

#[test]
fn compaction_leaves_out_entries_past_retention() {
    let dir = tempfile::tempdir().unwrap();
    let st = open_with(dir.path(), |o| {
        o.segment_bytes = 1 << 20;
        o.retention.period = Some(Duration::from_secs(60));
    });
    // Retention counts from the real clock.
    let now = now_ns();
    let old = now - 3_600_000_000_000;
    st.push_at(vec![stream(&[("app", "a")], &[(old, "old")])], now)
        .unwrap();
    st.flush().unwrap();
    st.push_at(vec![stream(&[("app", "a")], &[(now, "new")])], now)
        .unwrap();
    st.flush().unwrap();
    assert!(st.compact(now).unwrap());
    let all = st.select(&[], i64::MIN, i64::MAX);
    assert_eq!(
        lines(&all),
        vec![(r#"{app="a"}"#.into(), vec!["new".into()])]
    );
    assert_eq!(st.stats_all().segments, 1);
}
