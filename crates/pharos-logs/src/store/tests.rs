use super::*;
use pharos_model::{LogRejectReason, MatchOp};

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
        },
    )
    .unwrap()
}

fn lines(got: &[StreamEntries]) -> Vec<(String, Vec<String>)> {
    got.iter()
        .map(|s| {
            (
                s.labels.to_string(),
                s.entries.iter().map(|e| e.line.clone()).collect(),
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
    assert_eq!(st.streams(&[], NOW + 4, NOW + 6).len(), 1);
    assert_eq!(
        st.label_names(&[], i64::MIN, i64::MAX),
        vec!["app".to_string()]
    );
    assert_eq!(
        st.label_values("app", &[], NOW, NOW + 3),
        vec!["a".to_string()]
    );
    assert!(st.label_values("app", &[], NOW + 10, NOW + 20).is_empty());
    // Index statistics: a2 and a3 in [NOW+2, NOW+4); b1 is outside.
    assert_eq!(st.stats(&[], NOW + 2, NOW + 4), (1, 2, 4));
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
