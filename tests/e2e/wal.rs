//! WAL repair and the data directory lock, seen from outside the process.

use std::io::Write;

use pharos_ingest::remote_write::{self, Label, Sample, TimeSeries, WriteRequest};

use crate::util::{bin, dump, http, Server};

fn write(port: u16, t: i64, v: f64) -> u16 {
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![Label::new("__name__", "wal_test"), Label::new("job", "x")],
            samples: vec![Sample {
                value: v,
                timestamp: t,
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let h = [
        ("Content-Encoding", "snappy"),
        ("Content-Type", "application/x-protobuf"),
    ];
    http(
        port,
        "POST",
        "/api/v1/write",
        &h,
        &remote_write::encode(&req),
    )
    .unwrap()
    .0
}

#[test]
fn torn_wal_tail_is_cut_with_a_log_line_and_data_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start(&data, &[]);
    for i in 0..10 {
        assert_eq!(write(s.port, 1_700_000_000_000 + i * 1000, i as f64), 204);
    }
    s.kill9();
    // A torn record at the end of the newest segment: a length that promises more than is there.
    let wal_dir = data.join("metrics").join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    segs.sort();
    let last = segs.last().expect("a wal segment").clone();
    let before = std::fs::metadata(&last).unwrap().len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap()
        .write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 9, 9])
        .unwrap();

    let mut s = Server::start(&data, &[]);
    assert_eq!(write(s.port, 1_700_000_100_000, 42.0), 204);
    assert_eq!(s.stop(), 0);
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    let name = last.file_name().unwrap().to_str().unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains(name) && l.contains(&before.to_string())),
        "no log line naming {name} and offset {before}:\n{log}"
    );
    let text = dump(&data, &["wal_test"]);
    assert_eq!(text.lines().count(), 11, "{text}");
    assert!(text.contains(" 42 1700000100000"), "{text}");
}

#[test]
fn data_dir_is_locked_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start(&data, &[]);
    assert_eq!(write(s.port, 1_700_000_000_000, 1.0), 204);
    let out = std::process::Command::new(bin())
        .args(["tsdb", "dump", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.stop(), 0);
    let out = std::process::Command::new(bin())
        .args(["tsdb", "analyze", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("Series: 1"), "{report}");
}

#[test]
fn fsync_always_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start(&data, &["--wal-fsync", "always"]);
    for i in 0..20 {
        assert_eq!(write(s.port, 1_700_000_000_000 + i * 1000, i as f64), 204);
    }
    s.kill9();
    let mut s = Server::start(&data, &[]);
    assert_eq!(s.stop(), 0);
    assert_eq!(dump(&data, &["wal_test"]).lines().count(), 20);
}
