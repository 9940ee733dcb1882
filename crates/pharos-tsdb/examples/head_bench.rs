//! Rough ingest and memory benchmark of the store: `cargo run --release -p
//! pharos-tsdb --example head_bench -- [series] [rounds] [threads]`.
//! Prints samples/s, RSS per series, replay time and on-disk bytes per sample.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use pharos_model::{Appendable, Labels};
use pharos_tsdb::{Db, FsyncPolicy, Options, WalOptions};

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let series = args.first().copied().unwrap_or(200_000);
    let rounds = args.get(1).copied().unwrap_or(20);
    let threads = args.get(2).copied().unwrap_or(2);
    let dir = match std::env::var("BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d).unwrap(),
        Err(_) => tempfile::tempdir().unwrap(),
    };
    let opts = Options {
        wal: WalOptions {
            fsync: FsyncPolicy::Never,
            ..WalOptions::default()
        },
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts.clone()).unwrap();
    let labels: Vec<Labels> = (0..series)
        .map(|i| {
            Labels::from_pairs(&[
                ("__name__", format!("metric_{}", i % 1000)),
                ("instance", format!("host-{}.example.com:9100", i / 1000)),
                ("job", "node".to_string()),
                (
                    "mode",
                    ["user", "system", "idle", "iowait"][i % 4].to_string(),
                ),
                ("cpu", (i % 16).to_string()),
            ])
        })
        .collect();
    let base_rss = rss_bytes();
    let labels = std::sync::Arc::new(labels);
    let start = Instant::now();
    let cpu0 = cpu_secs();
    for r in 0..rounds {
        let t = 1_700_000_000_000i64 + r as i64 * 15_000;
        let hs: Vec<_> = (0..threads)
            .map(|k| {
                let db = db.clone();
                let labels = labels.clone();
                std::thread::spawn(move || {
                    // Scrape-sized transactions of 500 samples.
                    let mine: Vec<usize> = (k..labels.len()).step_by(threads).collect();
                    for part in mine.chunks(500) {
                        let mut a = db.appender();
                        for &i in part {
                            a.append(&labels[i], t, (r * (i % 7)) as f64).unwrap();
                        }
                        a.commit().unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        if r == 0 {
            let rss = rss_bytes().saturating_sub(base_rss);
            println!(
                "after first round: {} bytes RSS/series, {:.2}s",
                rss / series as u64,
                start.elapsed().as_secs_f64()
            );
        }
    }
    let el = start.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    let total = (series * rounds) as f64;
    let rss = rss_bytes().saturating_sub(base_rss);
    println!(
        "{series} series x {rounds} rounds: {:.0} samples/s wall, {:.0} samples/cpu-s, RSS/series {} bytes",
        total / el,
        total / cpu,
        rss / series as u64
    );
    let st = db.stats();
    println!(
        "head chunks {} samples {} symbols {}",
        st.head_chunks, st.head_samples, st.head_symbols
    );
    drop(db);
    let t = Instant::now();
    let c = cpu_secs();
    let db = Db::open(dir.path(), opts).unwrap();
    println!(
        "reopen (WAL replay) took {:.2}s wall {:.2}s cpu, {} series",
        t.elapsed().as_secs_f64(),
        cpu_secs() - c,
        db.stats().head_series
    );
    db.flush_head().unwrap();
    let st = db.stats();
    println!(
        "flushed: {} blocks, {} bytes, {} samples, {:.3} bytes/sample",
        st.blocks,
        st.blocks_bytes,
        st.blocks_samples,
        st.blocks_bytes as f64 / st.blocks_samples.max(1) as f64
    );
}

fn cpu_secs() -> f64 {
    // utime + stime of this process, from /proc/self/stat (clock ticks, assume 100 Hz).
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<&str> = after.split_whitespace().collect();
    let u: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    let st: f64 = f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    (u + st) / 100.0
}
