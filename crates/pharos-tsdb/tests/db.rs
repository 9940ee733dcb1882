//! End-to-end tests of the store through its public seams: append, query,
//! reopen, crash (no close), blocks, compaction, retention.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use pharos_model::{
    AppendError, Appendable, Labels, MatchOp, Matcher, MetricMetadata, MetricType, Queryable,
};
use pharos_tsdb::{Db, FsyncPolicy, Options, WalOptions};
use proptest::prelude::*;

type Dump = Vec<(String, Vec<(i64, u64)>)>;

fn dump(db: &Db, mint: i64, maxt: i64, ms: &[Matcher]) -> Dump {
    let q = db.querier(mint, maxt).unwrap();
    q.select(ms)
        .unwrap()
        .iter()
        .map(|s| {
            (
                s.labels().to_string(),
                s.samples().map(|x| (x.t, x.v.to_bits())).collect(),
            )
        })
        .collect()
}

fn all(db: &Db) -> Dump {
    dump(
        db,
        i64::MIN,
        i64::MAX,
        &[Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()],
    )
}

fn opts(range: i64) -> Options {
    Options {
        block_range_ms: range,
        wal: WalOptions {
            segment_size: 4096,
            fsync: FsyncPolicy::Never,
        },
        ..Options::default()
    }
}

fn ls(name: &str, i: usize) -> Labels {
    Labels::from_pairs(&[
        ("__name__", name.to_string()),
        ("i", i.to_string()),
        ("job", "j".to_string()),
    ])
}

fn append(db: &Db, samples: &[(Labels, i64, f64)]) {
    let mut a = db.appender();
    for (l, t, v) in samples {
        a.append(l, *t, *v).unwrap();
    }
    a.commit().unwrap();
}

fn open(dir: &Path, o: Options) -> Db {
    Db::open(dir, o).unwrap()
}

#[test]
fn append_query_close_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts(1000 * 3600));
    let mut batch = Vec::new();
    for i in 0..50 {
        for t in 0..300 {
            batch.push((ls("m", i), t * 15, (t * i as i64) as f64 + 0.5));
        }
    }
    append(&db, &batch);
    let mut a = db.appender();
    a.update_metadata(
        "m",
        &MetricMetadata {
            metric_type: MetricType::Gauge,
            help: "h".into(),
            unit: String::new(),
        },
    );
    a.commit().unwrap();
    let before = all(&db);
    assert_eq!(before.len(), 50);
    assert_eq!(before[0].1.len(), 300);
    let st = db.stats();
    assert_eq!(st.head_series, 50);
    assert_eq!(st.head_samples, 15000);
    assert_eq!(st.head_chunks, 50 * 3);
    db.close().unwrap();
    assert!(
        db.appender().commit().is_err(),
        "closed store refuses commits"
    );
    drop(db);
    let db = open(dir.path(), opts(1000 * 3600));
    assert_eq!(all(&db), before);
    assert_eq!(
        db.metadata().get("m").map(|m| m.metric_type),
        Some(MetricType::Gauge)
    );
    // Range restriction and matchers.
    let d = dump(&db, 30, 45, &[Matcher::equal("i", "3")]);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].1.iter().map(|x| x.0).collect::<Vec<_>>(), vec![30, 45]);
}

#[test]
fn unclean_shutdown_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts(3600 * 1000));
    for t in 0..100 {
        append(
            &db,
            &[(ls("a", 1), t, t as f64), (ls("b", 2), t, -(t as f64))],
        );
    }
    let mut pending = db.appender();
    pending.append(&ls("c", 3), 5, 1.0).unwrap();
    let before = all(&db);
    // Simulate kill -9: no close, no destructors.
    std::mem::forget(pending);
    std::mem::forget(db);
    let db = open(dir.path(), opts(3600 * 1000));
    let after = all(&db);
    assert_eq!(after, before);
}

#[test]
fn append_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts(3600 * 1000));
    let l = ls("a", 1);
    append(&db, &[(l.clone(), 1000, 1.0)]);
    let mut a = db.appender();
    assert_eq!(a.append(&l, 999, 1.0), Err(AppendError::OutOfOrder));
    assert_eq!(
        a.append(&l, 1000, 2.0),
        Err(AppendError::DuplicateTimestamp)
    );
    assert_eq!(a.append(&l, 1000, 1.0), Ok(()));
    let bad = Labels::from_pairs(&[("__name__", "a-b")]);
    assert!(matches!(
        a.append(&bad, 1000, 1.0),
        Err(AppendError::InvalidLabels(_))
    ));
    // Far older than max - range/2: out of bounds even for a new series.
    append(&db, &[(l.clone(), 10_000_000, 1.0)]);
    assert_eq!(
        a.append(&ls("new", 9), 1001, 1.0),
        Ok(()),
        "bounds are fixed when the appender is created"
    );
    let stats = a.commit().unwrap();
    // The duplicate at 1000 became out of order when 10_000_000 was committed first.
    assert_eq!(stats.samples, 1);
    assert_eq!(stats.series_created, 1);
    let mut a = db.appender();
    assert_eq!(
        a.append(&ls("new", 10), 1001, 1.0),
        Err(AppendError::OutOfBounds)
    );
    a.rollback();
    let st = db.stats();
    let r: std::collections::HashMap<_, _> = st.rejected_samples_total.into_iter().collect();
    assert_eq!(r["out_of_order"], 2);
    assert_eq!(r["duplicate"], 1);
    assert_eq!(r["invalid_labels"], 1);
    assert_eq!(r["out_of_bounds"], 1);
    // Rolled back samples are not visible.
    let mut a = db.appender();
    a.append(&ls("rb", 1), 10_000_001, 1.0).unwrap();
    a.rollback();
    assert!(dump(&db, 0, i64::MAX, &[Matcher::equal("__name__", "rb")]).is_empty());
    // Several samples of one series in one transaction are judged in order at commit.
    let m = ls("multi", 1);
    let mut a = db.appender();
    for (t, v) in [
        (10_000_010, 1.0),
        (10_000_020, 2.0),
        (10_000_020, 2.0),
        (10_000_015, 3.0),
    ] {
        a.append(&m, t, v).unwrap();
    }
    let st = a.commit().unwrap();
    assert_eq!(st.samples, 3);
    let d = dump(&db, 0, i64::MAX, &[Matcher::equal("__name__", "multi")]);
    assert_eq!(
        d[0].1.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![10_000_010, 10_000_020]
    );
}

#[test]
fn out_of_order_window() {
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        out_of_order_window_ms: 500,
        ..opts(3600 * 1000)
    };
    let db = open(dir.path(), o.clone());
    let l = ls("a", 1);
    append(&db, &[(l.clone(), 1000, 1.0), (l.clone(), 2000, 2.0)]);
    append(&db, &[(l.clone(), 1600, 1.6)]);
    let mut a = db.appender();
    assert_eq!(a.append(&l, 1400, 1.0), Err(AppendError::TooOld));
    assert_eq!(
        a.append(&l, 1600, 9.0),
        Err(AppendError::DuplicateTimestamp)
    );
    a.rollback();
    let d = all(&db);
    assert_eq!(
        d[0].1.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![1000, 1600, 2000]
    );
    assert_eq!(db.stats().out_of_order_samples_total, 1);
    drop(db);
    let db = open(dir.path(), o);
    assert_eq!(all(&db), d);
}

#[test]
fn blocks_cut_compact_retain() {
    let dir = tempfile::tempdir().unwrap();
    let range = 100;
    let mut o = opts(range);
    o.retention = Duration::from_millis(100_000);
    let db = open(dir.path(), o.clone());
    let mut expect_len = 0;
    for t in 0..1000 {
        let mut batch = vec![(ls("a", 1), t, t as f64)];
        if t % 3 == 0 {
            batch.push((ls("b", t as usize % 7), t, 1.0));
        }
        append(&db, &batch);
        expect_len += batch.len();
        if t % 50 == 0 {
            db.maintenance().unwrap();
        }
    }
    db.maintenance().unwrap();
    let blocks = db.blocks();
    assert!(!blocks.is_empty());
    for w in blocks.windows(2) {
        assert!(
            w[0].max_time <= w[1].min_time,
            "blocks do not overlap: {blocks:?}"
        );
    }
    assert!(
        blocks.iter().any(|b| b.compaction.level > 1),
        "compaction happened: {blocks:?}"
    );
    let before = all(&db);
    let n: usize = before.iter().map(|s| s.1.len()).sum();
    assert_eq!(n, expect_len);
    let st = db.stats();
    assert!(st.head_max_time.unwrap() - st.head_min_time.unwrap() <= range * 3 / 2 + range);
    assert!(
        st.wal.as_ref().unwrap().segments < 20,
        "wal truncated: {:?}",
        st.wal
    );
    drop(db);
    let db = open(dir.path(), o.clone());
    assert_eq!(all(&db), before);
    // Labels API spans blocks and head.
    let q = db.querier(0, 2000).unwrap();
    assert_eq!(
        q.label_values("i", &[Matcher::equal("__name__", "b")])
            .unwrap()
            .len(),
        7
    );
    assert_eq!(q.label_names(&[]).unwrap(), vec!["__name__", "i", "job"]);
    // Flush the head, then retention by size drops the oldest blocks.
    db.flush_head().unwrap();
    assert_eq!(db.stats().head_samples, 0);
    assert_eq!(all(&db), before);
    append(&db, &[(ls("a", 1), 1000, 5.0)]);
    drop(db);
    let mut o2 = o.clone();
    o2.retention_size_bytes = Some(1);
    let db = open(dir.path(), o2);
    db.maintenance().unwrap();
    assert!(db.blocks().is_empty());
    // Retention by time.
    let dir2 = tempfile::tempdir().unwrap();
    let mut o3 = opts(range);
    o3.retention = Duration::from_millis(300);
    let db = open(dir2.path(), o3);
    for t in 0..2000 {
        append(&db, &[(ls("a", 1), t, 1.0)]);
        if t % 100 == 0 {
            db.maintenance().unwrap();
        }
    }
    db.maintenance().unwrap();
    let min = db.blocks().iter().map(|b| b.min_time).min().unwrap();
    assert!(
        min >= 2000 - 300 - 2 * range * 3,
        "old blocks deleted, oldest starts at {min}"
    );
}

#[test]
fn concurrent_appenders() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts(3600 * 1000));
    let threads: Vec<_> = (0..4)
        .map(|k| {
            let db = db.clone();
            std::thread::spawn(move || {
                for t in 0..200 {
                    let mut a = db.appender();
                    for i in 0..20 {
                        a.append(&ls("c", k * 100 + i), t, t as f64).unwrap();
                        a.append(&ls("shared", i), t * 4 + k as i64, 1.0).ok();
                    }
                    a.commit().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let d = dump(&db, 0, i64::MAX, &[Matcher::equal("__name__", "c")]);
    assert_eq!(d.len(), 80);
    assert!(d.iter().all(|s| s.1.len() == 200));
    let before = all(&db);
    drop(db);
    let db = open(dir.path(), opts(3600 * 1000));
    assert_eq!(all(&db), before);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn wal_replay_restores_identical_results(
        ops in proptest::collection::vec((0usize..6, 0i64..400, -1000i32..1000, any::<bool>()), 1..200),
        range in prop::sample::select(vec![50i64, 1000, 1_000_000]),
        maint in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path(), opts(range));
        let mut a = db.appender();
        for (i, (s, t, v, commit)) in ops.iter().enumerate() {
            let _ = a.append(&ls("p", *s), *t, f64::from(*v) / 4.0);
            if *commit || i == ops.len() - 1 {
                a.commit().unwrap();
                a = db.appender();
                if maint {
                    db.maintenance().unwrap();
                }
            }
        }
        a.rollback();
        let before = all(&db);
        drop(db);
        let db = open(dir.path(), opts(range));
        prop_assert_eq!(all(&db), before);
    }
}

#[test]
fn tools_analyze_and_dump() {
    use pharos_tsdb::tools::{analyze, dump, AnalyzeTarget};
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts(1000));
    for t in 0..10 {
        append(
            &db,
            &[
                (ls("a", 1), t * 100, 1.5),
                (ls("a", 2), t * 100, 2.0),
                (ls("b", 1), t * 100, 1e21),
            ],
        );
    }
    let r = analyze(&db, &AnalyzeTarget::Auto, 10).unwrap();
    assert_eq!(r.source, "head");
    assert_eq!(r.series, 3);
    assert_eq!(r.samples, 30);
    assert_eq!(r.highest_cardinality_metric_names[0], ("a".to_string(), 2));
    assert_eq!(r.highest_cardinality_labels[0], ("__name__".to_string(), 2));
    let text = r.to_string();
    assert!(text.contains("Series: 3"), "{text}");
    assert!(
        text.contains("Highest cardinality metric names:\n2 a\n1 b"),
        "{text}"
    );
    db.flush_head().unwrap();
    let r = analyze(&db, &AnalyzeTarget::Auto, 10).unwrap();
    assert_ne!(r.source, "head");
    assert_eq!((r.series, r.samples), (3, 30));
    let mut out = Vec::new();
    let n = dump(&db, 0, 100, &[Matcher::equal("__name__", "b")], &mut out).unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{__name__=\"b\", i=\"1\", job=\"j\"} 1e+21 0\n{__name__=\"b\", i=\"1\", job=\"j\"} 1e+21 100\n"
    );
}

#[test]
fn append_pairs_matches_append() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts(7_200_000));
    let mut app = db.appender();
    // New series through pairs, then the same series through Labels, then pairs again.
    app.append_pairs(&[("__name__", "m"), ("a", "1")], 1000, 1.0)
        .unwrap();
    app.commit().unwrap();
    let mut app = db.appender();
    app.append(
        &Labels::from_pairs(&[("__name__", "m"), ("a", "1")]),
        2000,
        2.0,
    )
    .unwrap();
    app.append_pairs(&[("__name__", "m"), ("a", "2")], 2000, 5.0)
        .unwrap();
    app.commit().unwrap();
    let mut app = db.appender();
    app.append_pairs(&[("__name__", "m"), ("a", "1")], 3000, 3.0)
        .unwrap();
    assert_eq!(
        app.append_pairs(&[("__name__", "m"), ("a", "1")], 500, 0.5),
        Err(AppendError::OutOfOrder)
    );
    // Invalid labels are refused when the series would be created.
    assert!(matches!(
        app.append_pairs(&[("__name__", "m"), ("1bad", "x")], 3000, 1.0),
        Err(AppendError::InvalidLabels(_))
    ));
    app.commit().unwrap();
    let d = all(&db);
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!(d[0].0, r#"m{a="1"}"#);
    assert_eq!(
        d[0].1,
        vec![
            (1000, 1f64.to_bits()),
            (2000, 2f64.to_bits()),
            (3000, 3f64.to_bits())
        ]
    );
}
