//! The `ingest` scenario: the same remote write workload into pharos and into
//! Prometheus, one server after the other, each in two phases.
//!
//! 1. **Ingest phase** (fresh server): the whole workload is generated and
//!    encoded *before* the server starts (so that the bench competes as
//!    little as possible with the server for CPU), the server is started and
//!    left idle for 2 s, then the batches are sent through `--concurrency`
//!    shards. Measured: the server's CPU time (utime + stime) over the
//!    sending, its `VmHWM` at the end, and the wall time.
//! 2. **Disk phase** (another fresh server): `--disk-series` series over
//!    `--disk-hours` of synthetic time, generated while sending (bounded
//!    queues keep the shards within a few batches of each other), in time
//!    order. Then the bench waits for blocks to appear and for the block set
//!    to stay unchanged for `--disk-settle` (longer than the 60 s maintenance
//!    period of pharos and of Prometheus's background compaction loop), at
//!    most `--disk-wait`. If no block appeared by then, the server is stopped
//!    with SIGTERM (a graceful shutdown may persist the head) and the data
//!    directory is scanned once more. Bytes per sample = bytes of all block
//!    directories ÷ samples in those blocks (the WAL and the head are not
//!    counted).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::json;
use tokio::sync::mpsc;

use crate::blocks;
use crate::driver::{self, Batch, SendOptions};
use crate::process::{self, Kind, Server};
use crate::report::{self, DiskResult, IngestResult, ServerReport, WorkloadInfo};
use crate::workload::{Workload, WorkloadSpec};
use crate::{IngestArgs, Only};

/// Queue depth per shard between the generator and the sender.
const SHARD_QUEUE: usize = 4;
/// Idle time between readiness and the start of the measured phase.
const SETTLE_BEFORE_INGEST: Duration = Duration::from_secs(2);
/// How long a graceful stop may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(120);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[pharos-bench] {}", msg.as_ref());
}

/// Runs the scenario and prints the report.
pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.targets > 0 && args.series_per_target > 0,
        "--targets and --series-per-target must be > 0"
    );
    anyhow::ensure!(args.rounds > 0, "--rounds must be > 0");
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.churn),
        "--churn must be in [0, 1]"
    );
    anyhow::ensure!(
        args.concurrency > 0 && args.batch_size > 0,
        "--concurrency and --batch-size must be > 0"
    );
    let interval_ms = args.interval.as_millis() as i64;
    anyhow::ensure!(interval_ms >= 10, "--interval must be at least 10ms");

    let ticks = process::clock_ticks();
    let now = now_ms();
    let ingest_spec = WorkloadSpec {
        seed: args.seed,
        targets: args.targets,
        series_per_target: args.series_per_target,
        last_target_series: 0,
        rounds: args.rounds,
        interval_ms,
        start_ms: now - args.rounds as i64 * interval_ms,
        churn: args.churn,
    };
    let disk_rounds = (args.disk_hours * 3_600_000.0 / interval_ms as f64).round() as usize;
    let disk_spec = (args.disk_series > 0 && disk_rounds > 0).then(|| {
        let mut s =
            WorkloadSpec::with_total(args.seed ^ 0xD15C, args.disk_series, args.series_per_target);
        s.rounds = disk_rounds;
        s.interval_ms = interval_ms;
        s.start_ms = now - disk_rounds as i64 * interval_ms;
        s
    });

    log(format!(
        "generating ingest workload: {} targets x {} series, {} rounds at {}ms, churn {}",
        args.targets, args.series_per_target, args.rounds, interval_ms, args.churn
    ));
    let t0 = Instant::now();
    let (batches, active_series) =
        pregenerate(ingest_spec.clone(), args.concurrency, args.batch_size);
    let body_bytes: u64 = batches.iter().map(|(_, b)| b.body.len() as u64).sum();
    let samples: u64 = batches.iter().map(|(_, b)| b.samples).sum();
    log(format!(
        "generated {} requests, {samples} samples, {:.1} MiB encoded, in {:.1}s",
        batches.len(),
        body_bytes as f64 / 1048576.0,
        t0.elapsed().as_secs_f64()
    ));
    let batches = Arc::new(batches);

    let info = workload_info(
        &args,
        &ingest_spec,
        disk_spec.as_ref(),
        samples,
        active_series,
        batches.len(),
        body_bytes,
    );

    let client = driver::client(args.concurrency, args.request_timeout)?;
    let work_root = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let kinds: Vec<Kind> = match args.only {
        Only::Pharos => vec![Kind::Pharos],
        Only::Prometheus => vec![Kind::Prometheus],
        Only::Both => vec![Kind::Pharos, Kind::Prometheus],
    };

    let mut reports = Vec::new();
    for kind in kinds {
        let version = server_version(&args, kind);
        log(format!("{}: ingest phase", kind.name()));
        let ingest = ingest_phase(
            &args,
            kind,
            &client,
            &work_root,
            batches.clone(),
            active_series,
            ticks,
        )
        .await
        .map_err(|e| format!("{e:#}"));
        if let Err(e) = &ingest {
            log(format!("{}: ingest phase failed: {e}", kind.name()));
        }
        let disk = match &disk_spec {
            None => None,
            Some(spec) => {
                log(format!("{}: disk phase", kind.name()));
                let d = disk_phase(&args, kind, &client, &work_root, spec.clone())
                    .await
                    .map_err(|e| format!("{e:#}"));
                if let Err(e) = &d {
                    log(format!("{}: disk phase failed: {e}", kind.name()));
                }
                Some(d)
            }
        };
        reports.push(ServerReport {
            kind,
            version,
            ingest,
            disk,
        });
    }

    println!("{}", report::render(&info, &reports));
    if let Some(path) = &args.json {
        let v = report::to_json(&info, &reports);
        std::fs::write(path, serde_json::to_string_pretty(&v)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        log(format!("JSON written to {}", path.display()));
    }
    Ok(())
}

/// Every batch of the workload, in generation order, with its shard.
fn pregenerate(spec: WorkloadSpec, shards: usize, batch_size: usize) -> (Vec<(usize, Batch)>, u64) {
    let mut w = Workload::new(spec);
    let mut out = Vec::new();
    driver::generate(
        &mut w,
        shards,
        batch_size,
        |_| {},
        |s, b| {
            out.push((s, b));
            true
        },
    );
    (out, w.distinct_series())
}

fn server_version(args: &IngestArgs, kind: Kind) -> Option<String> {
    let bin = match kind {
        Kind::Pharos => &args.pharos_bin,
        Kind::Prometheus => &args.prometheus_bin,
    };
    let out = std::process::Command::new(bin)
        .arg("--version")
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

fn start(args: &IngestArgs, kind: Kind, dir: &Path) -> anyhow::Result<Server> {
    match kind {
        Kind::Pharos => Server::start_pharos(&args.pharos_bin, dir, &[]),
        Kind::Prometheus => Server::start_prometheus(&args.prometheus_bin, dir),
    }
}

fn phase_dir(
    args: &IngestArgs,
    root: &Path,
    kind: Kind,
    phase: &str,
) -> anyhow::Result<tempfile::TempDir> {
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let mut d = tempfile::Builder::new()
        .prefix(&format!("pharos-bench-{}-{phase}-", kind.name()))
        .tempdir_in(root)
        .with_context(|| format!("creating a directory under {}", root.display()))?;
    if args.keep_data {
        d.disable_cleanup(true);
        log(format!("keeping {}", d.path().display()));
    }
    Ok(d)
}

async fn ingest_phase(
    args: &IngestArgs,
    kind: Kind,
    client: &reqwest::Client,
    root: &Path,
    batches: Arc<Vec<(usize, Batch)>>,
    active_series: u64,
    ticks: u64,
) -> anyhow::Result<IngestResult> {
    let dir = phase_dir(args, root, kind, "ingest")?;
    let mut server = start(args, kind, dir.path())?;
    let ready = server.wait_ready(client, args.ready_timeout).await?;
    tokio::time::sleep(SETTLE_BEFORE_INGEST).await;
    let rss_at_ready = server.memory()?.rss;

    let (txs, rxs): (Vec<_>, Vec<_>) = (0..args.concurrency)
        .map(|_| mpsc::channel::<Batch>(SHARD_QUEUE))
        .unzip();
    let opts = SendOptions {
        url: server.write_url(),
        timeout: args.request_timeout,
        max_retries: args.max_retries,
    };
    let cpu0 = server.cpu_seconds(ticks)?;
    let t0 = Instant::now();
    let feeder = tokio::spawn(async move {
        for (s, b) in batches.iter() {
            if txs[*s].send(b.clone()).await.is_err() {
                break;
            }
        }
    });
    let send = driver::send_all(client, &opts, rxs).await;
    let wall = t0.elapsed().as_secs_f64();
    if !server.running() {
        anyhow::bail!(
            "{} exited during the ingest phase; log {}:\n{}",
            kind.name(),
            server.log_path.display(),
            server.log_tail(20)
        );
    }
    let cpu1 = server.cpu_seconds(ticks)?;
    let mem = server.memory()?;
    let _ = feeder.await;
    let samples_sent = send.samples_ok + send.samples_failed;
    log(format!(
        "{}: {} samples accepted in {wall:.2}s, server CPU {:.2}s, peak RSS {:.1} MiB, {} non-2xx",
        kind.name(),
        send.samples_ok,
        cpu1 - cpu0,
        mem.peak_rss as f64 / 1048576.0,
        send.non_2xx
    ));
    let stop = server.stop(STOP_TIMEOUT).await?;
    if stop.graceful {
        log(format!(
            "{}: stopped in {:.1}s",
            kind.name(),
            stop.took.as_secs_f64()
        ));
    } else {
        log(format!(
            "{}: stop was not graceful: {}",
            kind.name(),
            stop.status
        ));
    }
    Ok(IngestResult {
        samples_sent,
        active_series,
        cpu_seconds: cpu1 - cpu0,
        wall_seconds: wall,
        peak_rss: mem.peak_rss,
        rss_at_ready,
        rss_at_end: mem.rss,
        ready_seconds: ready.as_secs_f64(),
        send,
    })
}

async fn disk_phase(
    args: &IngestArgs,
    kind: Kind,
    client: &reqwest::Client,
    root: &Path,
    spec: WorkloadSpec,
) -> anyhow::Result<DiskResult> {
    let dir = phase_dir(args, root, kind, "disk")?;
    let mut server = start(args, kind, dir.path())?;
    server.wait_ready(client, args.ready_timeout).await?;
    let series = spec.total_series() as u64;

    let (txs, rxs): (Vec<_>, Vec<_>) = (0..args.concurrency)
        .map(|_| mpsc::channel::<Batch>(SHARD_QUEUE))
        .unzip();
    let opts = SendOptions {
        url: server.write_url(),
        timeout: args.request_timeout,
        max_retries: args.max_retries,
    };
    let (shards, batch_size) = (args.concurrency, args.batch_size);
    let producer = tokio::task::spawn_blocking(move || {
        let mut w = Workload::new(spec);
        let mut ledger: Vec<(i64, u64)> = Vec::new();
        driver::generate(
            &mut w,
            shards,
            batch_size,
            |l| ledger.extend(l),
            |s, b| txs[s].blocking_send(b).is_ok(),
        );
        ledger
    });
    let send = driver::send_all(client, &opts, rxs).await;
    let ledger = producer.await.context("generator task failed")?;
    let samples_sent = send.samples_ok + send.samples_failed;
    log(format!(
        "{}: sent {samples_sent} samples ({} accepted, {} non-2xx) in {:.1}s; waiting for blocks",
        kind.name(),
        send.samples_ok,
        send.non_2xx,
        send.wall.as_secs_f64()
    ));

    let scan_root = match kind {
        Kind::Pharos => server.data_dir.join("metrics"),
        Kind::Prometheus => server.data_dir.clone(),
    };
    let t0 = Instant::now();
    let mut last_sig = None;
    let mut stable_since = Instant::now();
    let mut found = Vec::new();
    loop {
        let blocks = blocks::scan(&scan_root);
        if !blocks.is_empty() {
            let sig = blocks::signature(&blocks);
            if last_sig.as_ref() != Some(&sig) {
                log(format!(
                    "{}: {} block(s) on disk after {:.0}s",
                    kind.name(),
                    blocks.len(),
                    t0.elapsed().as_secs_f64()
                ));
                last_sig = Some(sig);
                stable_since = Instant::now();
            }
            found = blocks;
            if stable_since.elapsed() >= args.disk_settle {
                break;
            }
        }
        if t0.elapsed() >= args.disk_wait || !server.running() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut method = format!("running, settled {}s", args.disk_settle.as_secs());
    let stop = server.stop(STOP_TIMEOUT).await?;
    if found.is_empty() {
        found = blocks::scan(&scan_root);
        method = if found.is_empty() {
            "none, even after SIGTERM".to_string()
        } else {
            "after SIGTERM".to_string()
        };
    }
    if !stop.graceful {
        log(format!(
            "{}: stop was not graceful: {}",
            kind.name(),
            stop.status
        ));
    }
    let summary = (!found.is_empty()).then(|| blocks::summarize(&found, &ledger));
    if let Some(s) = &summary {
        log(format!(
            "{}: {} block(s), {} bytes, {} samples ({}), {} B/sample",
            kind.name(),
            s.blocks,
            s.bytes,
            s.samples,
            s.samples_source,
            s.bytes_per_sample()
                .map_or("n/a".into(), |b| format!("{b:.3}"))
        ));
    }
    Ok(DiskResult {
        samples_sent,
        series,
        send,
        summary,
        method,
        waited_seconds: t0.elapsed().as_secs_f64(),
    })
}

#[allow(clippy::too_many_arguments)]
fn workload_info(
    args: &IngestArgs,
    spec: &WorkloadSpec,
    disk: Option<&WorkloadSpec>,
    samples: u64,
    active_series: u64,
    requests: usize,
    body_bytes: u64,
) -> WorkloadInfo {
    let text = format!(
        "workload: {} targets x {} series = {} series/round, {} rounds at {}s, churn {} -> {} active series, {} samples, \
         {} requests of <= {} samples over {} connections, {:.1} MiB snappy\n\
         disk phase: {}",
        spec.targets,
        spec.series_per_target,
        spec.total_series(),
        spec.rounds,
        spec.interval_ms as f64 / 1000.0,
        spec.churn,
        active_series,
        samples,
        requests,
        args.batch_size,
        args.concurrency,
        body_bytes as f64 / 1048576.0,
        match disk {
            Some(d) => format!(
                "{} series x {} rounds ({} h) = {} samples",
                d.total_series(),
                d.rounds,
                args.disk_hours,
                d.total_samples()
            ),
            None => "off".to_string(),
        }
    );
    let json = json!({
        "seed": spec.seed,
        "targets": spec.targets,
        "series_per_target": spec.series_per_target,
        "rounds": spec.rounds,
        "interval_ms": spec.interval_ms,
        "churn": spec.churn,
        "active_series": active_series,
        "samples": samples,
        "requests": requests,
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
        "body_bytes": body_bytes,
        "disk_series": disk.map(|d| d.total_series()),
        "disk_rounds": disk.map(|d| d.rounds),
        "disk_hours": args.disk_hours,
        "disk_samples": disk.map(|d| d.total_samples()),
    });
    WorkloadInfo { json, text }
}
