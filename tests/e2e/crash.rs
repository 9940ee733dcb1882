//! Durability: every sample acknowledged with 2xx survives `kill -9`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pharos_ingest::remote_write::{self, WriteRequest};

use crate::util::{dump, http, Server};

const SERIES: usize = 50;

fn batch(n: u64) -> WriteRequest {
    let mut req = WriteRequest::default();
    for s in 0..SERIES {
        req.timeseries.push(remote_write::TimeSeries {
            labels: vec![
                remote_write::Label::new("__name__", "crash_test"),
                remote_write::Label::new("series", &s.to_string()),
            ],
            samples: vec![remote_write::Sample {
                value: (n * 1000 + s as u64) as f64,
                timestamp: 1_700_000_000_000 + n as i64 * 1000,
            }],
            ..Default::default()
        });
    }
    req
}

#[test]
fn acknowledged_remote_write_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &[]);
    let port = server.port;
    let acked = Arc::new(Mutex::new(Vec::<u64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop) = (acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body = remote_write::encode(&batch(n));
                let h = [
                    ("Content-Encoding", "snappy"),
                    ("Content-Type", "application/x-protobuf"),
                    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
                ];
                match http(port, "POST", "/api/v1/write", &h, &body) {
                    Ok((204, _)) => acked.lock().unwrap().push(n),
                    Ok((code, b)) => panic!("unexpected {code}: {}", String::from_utf8_lossy(&b)),
                    Err(_) => break, // the server is gone
                }
                n += 1;
            }
        })
    };
    std::thread::sleep(Duration::from_millis(2500));
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 10,
        "too few writes acknowledged: {}",
        acked.len()
    );

    // Restart: the WAL is replayed; then stop cleanly and read everything back.
    let mut server = Server::start(&data, &[]);
    assert_eq!(server.stop(), 0);
    let text = dump(&data, &["crash_test"]);
    let got: HashSet<(String, i64)> = text
        .lines()
        .filter_map(|l| {
            let (labels, rest) = l.rsplit_once("} ")?;
            let mut it = rest.split_whitespace();
            let v = it.next()?;
            let t: i64 = it.next()?.parse().ok()?;
            let series = labels
                .split("series=\"")
                .nth(1)?
                .split('"')
                .next()?
                .to_string();
            let _ = v;
            Some((series, t))
        })
        .collect();
    let mut missing = 0;
    for n in &acked {
        for s in 0..SERIES {
            if !got.contains(&(s.to_string(), 1_700_000_000_000 + *n as i64 * 1000)) {
                missing += 1;
            }
        }
    }
    assert_eq!(
        missing,
        0,
        "{missing} acknowledged samples lost of {}",
        acked.len() * SERIES
    );
}
