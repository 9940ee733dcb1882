//! Integration tests for `pharos_wal::Wal`: round-trips, reopen, segment rotation, truncation,
//! torn-tail and corruption repair, and proptests over random records and random damage.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pharos_wal::{FsyncPolicy, Wal, WalError, WalOptions};
use proptest::prelude::*;

fn opts(segment_size: u64) -> WalOptions {
    WalOptions {
        segment_size,
        fsync: FsyncPolicy::Never,
    }
}

fn replay_all(wal: &Wal) -> Vec<(u32, Vec<u8>)> {
    wal.replay().unwrap().map(|r| r.unwrap()).collect()
}

fn records(wal: &Wal) -> Vec<Vec<u8>> {
    replay_all(wal).into_iter().map(|(_, r)| r).collect()
}

/// Bytes of a segment header (format version 2).
const HEADER: usize = 20;

fn seg_path(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{index:010}"))
}

fn rec(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j * 7) as u8).collect()
}

#[test]
fn append_and_replay_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    let recs: Vec<Vec<u8>> = (0..100).map(|i| rec(i, i * 3)).collect();
    for r in &recs {
        wal.append(r).unwrap();
    }
    assert_eq!(records(&wal), recs);
    let st = wal.stats();
    assert_eq!(st.records_written, 100);
    assert_eq!(st.segments, 1);
    assert_eq!(
        st.bytes_on_disk,
        fs::metadata(seg_path(dir.path(), 0)).unwrap().len()
    );
}

#[test]
fn empty_record_and_empty_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    wal.append(b"").unwrap();
    wal.append_batch(&[]).unwrap();
    wal.append_batch(&[b"x", b"", b"yz"]).unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(
        records(&wal),
        vec![vec![], b"x".to_vec(), vec![], b"yz".to_vec()]
    );
    assert_eq!(wal.stats().corruptions_repaired, 0);
}

#[test]
fn reopen_continues_in_last_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    wal.append(b"one").unwrap();
    assert_eq!(wal.cut_segment().unwrap(), 1);
    wal.append(b"two").unwrap();
    drop(wal);
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(wal.current_segment(), 1);
    wal.append(b"three").unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(
        replay_all(&wal),
        vec![
            (0, b"one".to_vec()),
            (1, b"two".to_vec()),
            (1, b"three".to_vec())
        ]
    );
}

#[test]
fn segments_rotate_at_size_and_records_never_span() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(1000)).unwrap();
    let recs: Vec<Vec<u8>> = (0..50).map(|i| rec(i, 100)).collect();
    for r in &recs {
        wal.append(r).unwrap();
    }
    // 8-byte header + 108 bytes per framed record: 9 records per 1000-byte segment.
    assert_eq!(wal.current_segment(), 5);
    for index in wal.segments() {
        assert!(fs::metadata(seg_path(dir.path(), index)).unwrap().len() <= 1000);
    }
    let got = replay_all(&wal);
    assert_eq!(got.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(), recs);
    assert_eq!(got[8].0, 0);
    assert_eq!(got[9].0, 1);
}

#[test]
fn large_records_exceed_segment_size_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    let big = rec(7, 20 << 20);
    wal.append(b"small").unwrap();
    wal.append(&big).unwrap();
    wal.append(b"after").unwrap();
    assert_eq!(wal.segments(), vec![0, 1, 2]);
    drop(wal);
    let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    let got = replay_all(&wal);
    assert_eq!(got.len(), 3);
    assert_eq!(got[1], (1, big));
    assert_eq!(got[2], (2, b"after".to_vec()));
}

#[test]
fn truncate_before_deletes_older_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    for i in 0..4u8 {
        wal.append(&[i]).unwrap();
        wal.cut_segment().unwrap();
    }
    assert_eq!(wal.segments(), vec![0, 1, 2, 3, 4]);
    wal.truncate_before(2).unwrap();
    assert_eq!(wal.segments(), vec![2, 3, 4]);
    assert!(!seg_path(dir.path(), 1).exists());
    assert_eq!(records(&wal), vec![vec![2u8], vec![3]]);
    assert!(matches!(
        wal.truncate_before(9),
        Err(WalError::TruncateBeyondCurrent {
            requested: 9,
            current: 4
        })
    ));
    wal.truncate_before(4).unwrap();
    assert_eq!(wal.segments(), vec![4]);
    drop(wal);
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(wal.current_segment(), 4);
    wal.append(b"z").unwrap();
    assert_eq!(replay_all(&wal), vec![(4, b"z".to_vec())]);
    assert_eq!(wal.stats().segments, 1);
}

#[test]
fn torn_tail_at_every_offset_of_last_record_is_repaired() {
    let base: Vec<Vec<u8>> = (0..3).map(|i| rec(i, 40)).collect();
    let last = rec(9, 37);
    let template = tempfile::tempdir().unwrap();
    {
        let mut wal = Wal::open(template.path(), opts(1 << 20)).unwrap();
        for r in &base {
            wal.append(r).unwrap();
        }
        wal.append(&last).unwrap();
    }
    let full = fs::read(seg_path(template.path(), 0)).unwrap();
    let start = full.len() - (8 + last.len());
    for cut in start..full.len() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(seg_path(dir.path(), 0), &full[..cut]).unwrap();
        let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
        assert_eq!(records(&wal), base, "cut at {cut}");
        assert_eq!(wal.stats().corruptions_repaired, u64::from(cut > start));
        assert_eq!(
            fs::metadata(seg_path(dir.path(), 0)).unwrap().len(),
            start as u64
        );
        wal.append(b"new").unwrap();
        drop(wal);
        let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
        let mut want = base.clone();
        want.push(b"new".to_vec());
        assert_eq!(records(&wal), want);
        assert_eq!(wal.stats().corruptions_repaired, 0);
    }
}

/// A WAL of segments 0, 1 and 2, each of four 4-byte records
/// `[segment, i, 0xaa, 0xbb]` (12 bytes framed).
fn three_segments_of_four() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    for seg in 0..3u8 {
        for i in 0..4u8 {
            wal.append(&[seg, i, 0xaa, 0xbb]).unwrap();
        }
        if seg < 2 {
            wal.cut_segment().unwrap();
        }
    }
    dir
}

/// What replay keeps of [`three_segments_of_four`] when segment 1 breaks
/// after its second record.
fn first_six_records() -> Vec<(u32, Vec<u8>)> {
    (0..4u8)
        .map(|i| (0, vec![0, i, 0xaa, 0xbb]))
        .chain((0..2u8).map(|i| (1, vec![1, i, 0xaa, 0xbb])))
        .collect()
}

#[test]
fn corrupt_crc_in_middle_segment_drops_the_rest() {
    let dir = three_segments_of_four();
    // Flip a payload byte of the third record of segment 1.
    let path = seg_path(dir.path(), 1);
    let mut bytes = fs::read(&path).unwrap();
    let third = HEADER + 2 * 12;
    bytes[third + 8 + 2] ^= 0xff;
    fs::write(&path, &bytes).unwrap();

    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    let got = replay_all(&wal);
    let want = first_six_records();
    assert_eq!(got, want);
    assert_eq!(wal.segments(), vec![0, 1]);
    assert!(!seg_path(dir.path(), 2).exists());
    assert_eq!(wal.stats().corruptions_repaired, 2);
    assert_eq!(fs::metadata(&path).unwrap().len(), third as u64);
    wal.append(b"next").unwrap();
    assert_eq!(replay_all(&wal).last().unwrap(), &(1, b"next".to_vec()));
}

#[test]
fn a_middle_segment_cut_at_a_record_boundary_drops_the_rest() {
    let dir = three_segments_of_four();
    // Segment 1 loses its last two records, cleanly: every record left is
    // intact, but segment 2 does not start where it now ends.
    let path = seg_path(dir.path(), 1);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..HEADER + 2 * 12]).unwrap();

    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(wal.stats().corruptions_repaired, 1);
    let want = first_six_records();
    assert_eq!(replay_all(&wal), want);
    assert_eq!(wal.segments(), vec![0, 1]);
    // Appends go on from there, and a reopen keeps them.
    wal.append(b"next").unwrap();
    wal.cut_segment().unwrap();
    wal.append(b"last").unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(wal.stats().corruptions_repaired, 0);
    let got = records(&wal);
    assert_eq!(got.len(), 8);
    assert_eq!(&got[6..], &[b"next".to_vec(), b"last".to_vec()]);
}

#[test]
fn replay_reports_records_lost_between_segments_after_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    wal.append(b"a").unwrap();
    wal.append(b"b").unwrap();
    wal.cut_segment().unwrap();
    wal.append(b"c").unwrap();
    let path = seg_path(dir.path(), 0);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..HEADER + 9]).unwrap();
    let got: Vec<_> = wal.replay().unwrap().collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].as_ref().unwrap().1, b"a".to_vec());
    assert!(matches!(got[1], Err(WalError::Corrupt { offset: 0, .. })));
}

#[test]
fn version_1_segments_are_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    wal.append(b"a").unwrap();
    wal.cut_segment().unwrap();
    wal.append(b"b").unwrap();
    drop(wal);
    // As a version 1 WAL wrote them: the 8-byte magic alone.
    for i in 0..2 {
        let path = seg_path(dir.path(), i);
        let bytes = fs::read(&path).unwrap();
        let mut v1 = b"PHWAL\x00\x00\x01".to_vec();
        v1.extend_from_slice(&bytes[HEADER..]);
        fs::write(&path, v1).unwrap();
    }
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(records(&wal), vec![b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(wal.stats().corruptions_repaired, 0);
    // Appends go into the version 1 segment, then into version 2 ones.
    wal.append(b"c").unwrap();
    wal.cut_segment().unwrap();
    wal.append(b"d").unwrap();
    drop(wal);
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(wal.stats().corruptions_repaired, 0);
    assert_eq!(records(&wal).len(), 4);
    // With the first segments gone, a version 1 segment still leads into
    // a version 2 one.
    wal.truncate_before(1).unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(wal.stats().corruptions_repaired, 0);
    assert_eq!(
        records(&wal),
        vec![b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]
    );
}

#[test]
fn garbage_tail_and_bad_header_are_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    wal.append(b"keep").unwrap();
    wal.cut_segment().unwrap();
    drop(wal);
    // Garbage after the header of the last segment.
    let mut f = OpenOptions::new()
        .append(true)
        .open(seg_path(dir.path(), 1))
        .unwrap();
    std::io::Write::write_all(&mut f, &[0u8; 100]).unwrap();
    drop(f);
    let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(records(&wal), vec![b"keep".to_vec()]);
    drop(wal);
    // A last segment with a wrong header is reset to an empty segment.
    fs::write(seg_path(dir.path(), 1), b"NOTAWAL!xxxxxxxxxxxxxxxx").unwrap();
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(records(&wal), vec![b"keep".to_vec()]);
    wal.append(b"more").unwrap();
    assert_eq!(records(&wal), vec![b"keep".to_vec(), b"more".to_vec()]);
}

#[test]
fn gap_in_numbering_drops_later_segments_and_other_files_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    for i in 0..3u8 {
        wal.append(&[i]).unwrap();
        wal.cut_segment().unwrap();
    }
    drop(wal);
    fs::remove_file(seg_path(dir.path(), 1)).unwrap();
    fs::write(dir.path().join("checkpoint.tmp"), b"not a segment").unwrap();
    let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(wal.segments(), vec![0]);
    assert_eq!(records(&wal), vec![vec![0u8]]);
    assert!(dir.path().join("checkpoint.tmp").exists());
}

#[test]
fn fsync_policies_count_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(
        dir.path(),
        WalOptions {
            segment_size: 1 << 20,
            fsync: FsyncPolicy::Always,
        },
    )
    .unwrap();
    wal.append(b"a").unwrap();
    wal.append_batch(&[b"b", b"c"]).unwrap();
    assert_eq!(wal.stats().fsyncs_total, 2);
    wal.sync().unwrap(); // nothing dirty
    assert_eq!(wal.stats().fsyncs_total, 2);
    drop(wal);

    let dir = tempfile::tempdir().unwrap();
    let interval = Duration::from_millis(50);
    let mut wal = Wal::open(
        dir.path(),
        WalOptions {
            segment_size: 1 << 20,
            fsync: FsyncPolicy::Interval(interval),
        },
    )
    .unwrap();
    wal.append(b"a").unwrap();
    assert_eq!(wal.stats().fsyncs_total, 0);
    assert!(wal.next_sync_due().is_some());
    assert!(!wal.sync_if_due().unwrap());
    std::thread::sleep(interval);
    assert!(wal.sync_if_due().unwrap());
    assert_eq!(wal.stats().fsyncs_total, 1);
    assert!(wal.next_sync_due().is_none());
    assert!(wal.stats().fsync_seconds_total >= wal.stats().last_fsync_seconds);
}

#[test]
fn replay_reports_damage_made_after_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    wal.append(b"first").unwrap();
    wal.append(b"second").unwrap();
    let path = seg_path(dir.path(), 0);
    let mut bytes = fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    fs::write(&path, &bytes).unwrap();
    let got: Vec<_> = wal.replay().unwrap().collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].as_ref().unwrap().1, b"first".to_vec());
    assert!(matches!(got[1], Err(WalError::Corrupt { offset: 33, .. })));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_records_round_trip_through_reopen(
        recs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..60),
        segment_size in 16u64..2000,
        actions in proptest::collection::vec(0u8..10, 60),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), opts(segment_size)).unwrap();
        for (r, &a) in recs.iter().zip(actions.iter().chain(std::iter::repeat(&0))) {
            match a {
                0 => { drop(wal); wal = Wal::open(dir.path(), opts(segment_size)).unwrap(); }
                1 => { wal.cut_segment().unwrap(); }
                _ => {}
            }
            wal.append(r).unwrap();
        }
        drop(wal);
        let wal = Wal::open(dir.path(), opts(segment_size)).unwrap();
        prop_assert_eq!(records(&wal), recs);
        prop_assert_eq!(wal.stats().corruptions_repaired, 0);
    }

    #[test]
    fn prop_random_damage_yields_a_prefix(
        recs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 1..40),
        victim in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        garbage in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), opts(300)).unwrap();
        for r in &recs {
            wal.append(r).unwrap();
        }
        let segments = wal.segments();
        drop(wal);
        let index = segments[victim.index(segments.len())];
        let path = seg_path(dir.path(), index);
        let mut bytes = fs::read(&path).unwrap();
        bytes.truncate(cut.index(bytes.len() + 1));
        bytes.extend_from_slice(&garbage);
        fs::write(&path, &bytes).unwrap();

        let mut wal = Wal::open(dir.path(), opts(300)).unwrap();
        let got = records(&wal);
        prop_assert!(got.len() <= recs.len());
        prop_assert_eq!(&got[..], &recs[..got.len()]);
        // The repaired log takes appends and replays them after the prefix.
        wal.append(b"tail").unwrap();
        drop(wal);
        let wal = Wal::open(dir.path(), opts(300)).unwrap();
        let again = records(&wal);
        prop_assert_eq!(&again[..got.len()], &got[..]);
        prop_assert_eq!(again.last().unwrap(), &b"tail".to_vec());
        prop_assert_eq!(again.len(), got.len() + 1);
    }
}
