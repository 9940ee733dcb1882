//! Deleting series (`Db::delete_series`) and cleaning tombstones
//! (`Db::clean_tombstones`) through the store's public API: in the head, in
//! blocks, across restarts and WAL checkpoints, through block cuts and
//! compaction.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use pharos_model::{Appendable, Labels, MatchOp, Matcher, Queryable};
use pharos_tsdb::{Db, FsyncPolicy, Options, WalOptions};

type Dump = Vec<(String, Vec<i64>)>;

fn all(db: &Db) -> Dump {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    q.select(&[Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()])
        .unwrap()
        .iter()
        .map(|s| (s.labels().to_string(), s.samples().map(|x| x.t).collect()))
        .collect()
}

fn names(db: &Db, mint: i64, maxt: i64) -> Vec<String> {
    let q = db.querier(mint, maxt).unwrap();
    q.select(&[Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()])
        .unwrap()
        .iter()
        .map(|s| s.labels().get("__name__").unwrap_or("").to_string())
        .collect()
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

fn series(name: &str) -> Labels {
    Labels::from_pairs(&[("__name__", name), ("job", "j")])
}

/// Appends `name` at `from..to` step `step`.
fn fill(db: &Db, names: &[&str], from: i64, to: i64, step: i64) {
    let mut t = from;
    while t < to {
        let mut a = db.appender();
        for n in names {
            a.append(&series(n), t, t as f64).unwrap();
        }
        a.commit().unwrap();
        t += step;
    }
}

fn name_is(n: &str) -> Vec<Matcher> {
    vec![Matcher::equal("__name__", n)]
}

fn times(d: &Dump, name: &str) -> Option<Vec<i64>> {
    d.iter()
        .find(|(l, _)| l.starts_with(&format!("{name}{{")))
        .map(|(_, t)| t.clone())
}

fn range(from: i64, to: i64, step: i64) -> Vec<i64> {
    (from..to).step_by(step as usize).collect()
}

fn tombstone_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("tombstones").exists())
        .count()
}

#[test]
fn delete_in_head_hides_samples_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(1_000_000)).unwrap();
    fill(&db, &["a", "b", "c"], 0, 100, 10);
    db.delete_series(&name_is("a"), 20, 50).unwrap();
    db.delete_series(&name_is("b"), i64::MIN, i64::MAX).unwrap();
    let d = all(&db);
    let mut want_a = vec![0, 10];
    want_a.extend([60, 70, 80, 90]);
    assert_eq!(times(&d, "a"), Some(want_a.clone()));
    assert_eq!(times(&d, "b"), None, "fully deleted series disappears");
    assert_eq!(times(&d, "c"), Some(range(0, 100, 10)));
    // A range holding only deleted samples shows no series for it.
    assert_eq!(names(&db, 25, 45), vec!["c"]);
    // Tombstones are clamped to the data held: new samples stay visible.
    fill(&db, &["b"], 100, 120, 10);
    assert_eq!(times(&all(&db), "b"), Some(vec![100, 110]));
    let before = all(&db);
    // Crash (no close), reopen: replayed from the WAL.
    drop(db);
    let db = Db::open(dir.path(), opts(1_000_000)).unwrap();
    assert_eq!(all(&db), before);
    db.close().unwrap();
    drop(db);
    let db = Db::open(dir.path(), opts(1_000_000)).unwrap();
    assert_eq!(all(&db), before);
    // Deleting nothing is fine.
    db.delete_series(&name_is("nope"), 0, 10).unwrap();
    db.delete_series(&name_is("a"), 10, 5).unwrap();
    assert_eq!(all(&db), before);
}

#[test]
fn head_tombstones_apply_when_cutting_blocks_and_survive_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(1000)).unwrap();
    fill(&db, &["a", "b"], 0, 2000, 50);
    db.delete_series(&name_is("a"), 500, 1400).unwrap();
    db.delete_series(&name_is("b"), 1900, 5000).unwrap();
    let expect_a: Vec<i64> = range(0, 2000, 50)
        .into_iter()
        .filter(|t| !(500..=1400).contains(t))
        .collect();
    let d = all(&db);
    assert_eq!(times(&d, "a"), Some(expect_a.clone()));
    // More data makes maintenance cut [0,1000) and write a checkpoint,
    // truncating the WAL that held the tombstone record.
    fill(&db, &["a", "b"], 2000, 3000, 50);
    let r = db.maintenance().unwrap();
    assert!(r.blocks_cut >= 1, "{r:?}");
    let mut want_a = expect_a.clone();
    want_a.extend(range(2000, 3000, 50));
    let d = all(&db);
    assert_eq!(times(&d, "a"), Some(want_a.clone()));
    // Block [0,1000) holds a without 500..=999: no tombstones file needed.
    assert_eq!(tombstone_files(dir.path()), 0);
    let before = all(&db);
    drop(db);
    let db = Db::open(dir.path(), opts(1000)).unwrap();
    assert_eq!(all(&db), before);
    // Cut everything: deleted samples stay out of the blocks.
    db.flush_head().unwrap();
    assert_eq!(all(&db), before);
    let samples: u64 = db.blocks().iter().map(|b| b.stats.num_samples).sum();
    let held: usize = before.iter().map(|(_, t)| t.len()).sum();
    assert_eq!(samples as usize, held);
    drop(db);
    let db = Db::open(dir.path(), opts(1000)).unwrap();
    assert_eq!(all(&db), before);
}

#[test]
fn delete_in_blocks_compaction_and_clean_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(1000)).unwrap();
    fill(&db, &["a", "b", "c"], 0, 3100, 100);
    db.flush_head().unwrap();
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 4);
    db.delete_series(&name_is("a"), 500, 1500).unwrap();
    db.delete_series(&name_is("c"), i64::MIN, i64::MAX).unwrap();
    assert_eq!(tombstone_files(dir.path()), 4);
    let want_a: Vec<i64> = range(0, 3100, 100)
        .into_iter()
        .filter(|t| !(500..=1500).contains(t))
        .collect();
    let check = |db: &Db| {
        let d = all(db);
        assert_eq!(times(&d, "a"), Some(want_a.clone()));
        assert_eq!(times(&d, "b"), Some(range(0, 3100, 100)));
        assert_eq!(times(&d, "c"), None);
    };
    check(&db);
    assert_eq!(names(&db, 600, 1400), vec!["b"]);
    // Restart: the tombstones files are read back.
    drop(db);
    let db = Db::open(dir.path(), opts(1000)).unwrap();
    check(&db);
    // Compaction merges the first three blocks without the deleted samples.
    let r = db.maintenance().unwrap();
    assert_eq!(r.compactions, 1, "{r:?}");
    assert_eq!(db.blocks().len(), 2);
    assert_eq!(tombstone_files(dir.path()), 1);
    check(&db);
    drop(db);
    let db = Db::open(dir.path(), opts(1000)).unwrap();
    check(&db);
    assert_eq!(db.blocks()[0].stats.num_series, 2);
}

#[test]
fn clean_tombstones_rewrites_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(1000)).unwrap();
    fill(&db, &["a", "b"], 0, 1900, 100);
    db.flush_head().unwrap();
    let before: Vec<_> = db.blocks();
    assert_eq!(before.len(), 2);
    db.delete_series(&name_is("a"), 0, 1200).unwrap();
    // Only the blocks with tombstones are rewritten.
    db.delete_series(&name_is("b"), 1500, 1500).unwrap();
    db.clean_tombstones().unwrap();
    assert_eq!(tombstone_files(dir.path()), 0);
    let after = db.blocks();
    assert_eq!(after.len(), 2);
    for (o, n) in before.iter().zip(&after) {
        assert_ne!(o.id, n.id);
        assert_eq!((o.min_time, o.max_time), (n.min_time, n.max_time));
        assert_eq!(o.compaction.level, n.compaction.level);
    }
    // First block: a fully gone (10 samples of b only).
    assert_eq!(after[0].stats.num_series, 1);
    assert_eq!(after[0].stats.num_samples, 10);
    let d = all(&db);
    assert_eq!(times(&d, "a"), Some(range(1300, 1900, 100)));
    let want_b: Vec<i64> = range(0, 1900, 100)
        .into_iter()
        .filter(|&t| t != 1500)
        .collect();
    assert_eq!(times(&d, "b"), Some(want_b));
    // Nothing to clean: no change.
    db.clean_tombstones().unwrap();
    assert_eq!(db.blocks(), after);
    drop(db);
    let db = Db::open(dir.path(), opts(1000)).unwrap();
    assert_eq!(all(&db), d);
    assert_eq!(db.blocks(), after);
}

#[test]
fn crash_during_clean_keeps_the_rewritten_block_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(1000)).unwrap();
    fill(&db, &["a", "b"], 0, 900, 100);
    db.flush_head().unwrap();
    let old = db.blocks()[0].clone();
    db.delete_series(&name_is("a"), 0, 400).unwrap();
    // Simulate a crash after the rewritten block was renamed into place but
    // before the old one was deleted: copy the old block back.
    let saved = dir.path().join("saved");
    copy_dir(&dir.path().join("blocks").join(&old.id), &saved);
    db.clean_tombstones().unwrap();
    let d = all(&db);
    drop(db);
    copy_dir(&saved, &dir.path().join("blocks").join(&old.id));
    let db = Db::open(dir.path(), opts(1000)).unwrap();
    assert_eq!(db.blocks().len(), 1);
    assert_ne!(db.blocks()[0].id, old.id);
    assert_eq!(all(&db), d);
    assert!(!dir.path().join("blocks").join(&old.id).exists());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
