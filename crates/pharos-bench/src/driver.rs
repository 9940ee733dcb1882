//! Remote write sending: batching into shards and concurrent HTTP POSTs.
//!
//! Modelled on Prometheus's remote write queue manager: every series is
//! assigned to one of `shards` queues by a stable key, so the samples of a
//! series are always sent in order by the same sender; each shard cuts a
//! request when it holds `batch_size` samples (Prometheus's
//! `max_samples_per_send`, 2000 by default) and at the end of every scrape
//! round (standing in for `batch_send_deadline`: a round's samples are all
//! sent before the next round's). Each shard has one connection and one
//! request in flight, so `shards` is the number of concurrent requests.
//!
//! Requests carry the remote write 1.0 headers and a body produced by
//! [`pharos_ingest::remote_write::encode`] (protobuf + snappy). Like
//! Prometheus, a request answered with 429 or 5xx, or failing at the
//! transport level, is retried with exponential backoff (30 ms doubling to
//! 5 s, `Retry-After` honoured up to 5 s) at most `max_retries` times; any
//! other non-2xx answer is final. Every non-2xx answer is counted and the first
//! error body kept so that a broken server is visible in the report.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pharos_ingest::remote_write::{encode, TimeSeries, WriteRequest};
use tokio::sync::mpsc;

use crate::workload::Workload;

/// One encoded remote write request.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Snappy-compressed protobuf `WriteRequest`.
    pub body: Bytes,
    pub samples: u64,
}

/// Accumulates series per shard and cuts [`Batch`]es.
pub struct Batcher {
    pending: Vec<Vec<TimeSeries>>,
    pending_samples: Vec<usize>,
    batch_size: usize,
}

impl Batcher {
    pub fn new(shards: usize, batch_size: usize) -> Batcher {
        Batcher {
            pending: (0..shards.max(1)).map(|_| Vec::new()).collect(),
            pending_samples: vec![0; shards.max(1)],
            batch_size: batch_size.max(1),
        }
    }

    fn shards(&self) -> usize {
        self.pending.len()
    }

    /// Adds a series for the shard chosen by `key`; cuts a batch when full.
    /// Returns false when `sink` asked to stop.
    pub fn push(
        &mut self,
        key: usize,
        ts: TimeSeries,
        sink: &mut impl FnMut(usize, Batch) -> bool,
    ) -> bool {
        let shard = key % self.shards();
        self.pending_samples[shard] += ts.samples.len();
        self.pending[shard].push(ts);
        if self.pending_samples[shard] >= self.batch_size {
            return self.flush(shard, sink);
        }
        true
    }

    fn flush(&mut self, shard: usize, sink: &mut impl FnMut(usize, Batch) -> bool) -> bool {
        if self.pending[shard].is_empty() {
            return true;
        }
        let timeseries = std::mem::take(&mut self.pending[shard]);
        let samples = std::mem::take(&mut self.pending_samples[shard]) as u64;
        let body = encode(&WriteRequest {
            timeseries,
            metadata: vec![],
        });
        sink(
            shard,
            Batch {
                body: Bytes::from(body),
                samples,
            },
        )
    }

    /// Sends every partly filled batch.
    pub fn flush_all(&mut self, sink: &mut impl FnMut(usize, Batch) -> bool) -> bool {
        (0..self.shards()).all(|s| self.flush(s, sink))
    }
}

/// Generates every round of `workload` in order, handing batches to `sink`
/// (`sink` returns false to stop early). `on_round` sees each round's
/// `(timestamp, samples)` ledger.
pub fn generate(
    workload: &mut Workload,
    shards: usize,
    batch_size: usize,
    mut on_round: impl FnMut(Vec<(i64, u64)>),
    mut sink: impl FnMut(usize, Batch) -> bool,
) {
    let mut batcher = Batcher::new(shards, batch_size);
    for round in 0..workload.spec().rounds {
        on_round(workload.round_ledger(round));
        let mut ok = true;
        workload.emit_round(round, |key, ts| {
            if ok {
                ok = batcher.push(key, ts, &mut sink);
            }
        });
        if !ok || !batcher.flush_all(&mut sink) {
            return;
        }
    }
}

/// How requests are sent.
#[derive(Debug, Clone)]
pub struct SendOptions {
    pub url: String,
    pub timeout: Duration,
    pub max_retries: u32,
}

/// What a send phase did.
#[derive(Debug, Clone, Default)]
pub struct SendStats {
    /// Requests sent (not counting retries).
    pub requests: u64,
    pub ok_requests: u64,
    pub failed_requests: u64,
    pub retries: u64,
    /// Answers other than 2xx (every attempt), by status code.
    pub status_counts: BTreeMap<u16, u64>,
    pub non_2xx: u64,
    pub transport_errors: u64,
    pub first_error: Option<String>,
    pub samples_ok: u64,
    pub samples_failed: u64,
    pub body_bytes: u64,
    pub wall: Duration,
    /// Request latencies in microseconds (successful requests, last attempt).
    pub latencies_us: Vec<u64>,
}

impl SendStats {
    fn merge(&mut self, o: SendStats) {
        self.requests += o.requests;
        self.ok_requests += o.ok_requests;
        self.failed_requests += o.failed_requests;
        self.retries += o.retries;
        for (k, v) in o.status_counts {
            *self.status_counts.entry(k).or_default() += v;
        }
        self.non_2xx += o.non_2xx;
        self.transport_errors += o.transport_errors;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
        self.samples_ok += o.samples_ok;
        self.samples_failed += o.samples_failed;
        self.body_bytes += o.body_bytes;
        self.latencies_us.extend(o.latencies_us);
    }

    /// Latency quantile in milliseconds (`q` in `[0, 1]`).
    pub fn latency_ms(&self, q: f64) -> Option<f64> {
        if self.latencies_us.is_empty() {
            return None;
        }
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        let idx = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        v.get(idx).map(|us| *us as f64 / 1000.0)
    }

    fn note_error(&mut self, msg: String) {
        if self.first_error.is_none() {
            self.first_error = Some(msg);
        }
    }
}

/// An HTTP client for remote write: HTTP/1.1, one pooled connection per shard.
pub fn client(shards: usize, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(shards.max(1))
        .timeout(timeout)
        .no_proxy()
        .build()?)
}

/// Sends every batch arriving on `shards` (one sender task per receiver, one
/// request in flight each) and returns the merged statistics.
pub async fn send_all(
    client: &reqwest::Client,
    opts: &SendOptions,
    shards: Vec<mpsc::Receiver<Batch>>,
) -> SendStats {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut rx in shards {
        let client = client.clone();
        let opts = opts.clone();
        tasks.spawn(async move {
            let mut st = SendStats::default();
            while let Some(batch) = rx.recv().await {
                send_one(&client, &opts, batch, &mut st).await;
            }
            st
        });
    }
    let mut total = SendStats::default();
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(st) => total.merge(st),
            Err(e) => total.note_error(format!("sender task failed: {e}")),
        }
    }
    total.wall = start.elapsed();
    total
}

fn retryable(status: reqwest::StatusCode) -> bool {
    status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

const MIN_BACKOFF: Duration = Duration::from_millis(30);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

async fn send_one(client: &reqwest::Client, opts: &SendOptions, batch: Batch, st: &mut SendStats) {
    st.requests += 1;
    st.body_bytes += batch.body.len() as u64;
    let mut backoff = MIN_BACKOFF;
    let mut attempt = 0u32;
    loop {
        let t0 = Instant::now();
        let res = client
            .post(&opts.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .header("User-Agent", "pharos-bench")
            .timeout(opts.timeout)
            .body(batch.body.clone())
            .send()
            .await;
        let mut wait = backoff;
        let retry = match res {
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    // Drain the body so that the connection is reused.
                    let _ = resp.bytes().await;
                    st.ok_requests += 1;
                    st.samples_ok += batch.samples;
                    st.latencies_us.push(t0.elapsed().as_micros() as u64);
                    return;
                }
                st.non_2xx += 1;
                *st.status_counts.entry(status.as_u16()).or_default() += 1;
                if let Some(ra) = resp
                    .headers()
                    .get("Retry-After")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                {
                    wait = Duration::from_secs(ra).min(MAX_BACKOFF);
                }
                let body = resp.text().await.unwrap_or_default();
                let body: String = body.chars().take(500).collect();
                st.note_error(format!("HTTP {status}: {}", body.trim()));
                retryable(status)
            }
            Err(e) => {
                st.transport_errors += 1;
                st.note_error(format!("request failed: {e}"));
                true
            }
        };
        if !retry || attempt >= opts.max_retries {
            st.failed_requests += 1;
            st.samples_failed += batch.samples;
            return;
        }
        attempt += 1;
        st.retries += 1;
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::WorkloadSpec;
    use pharos_ingest::remote_write::decode;

    #[test]
    fn batches_cover_every_sample_once_per_round_and_decode() {
        let mut spec = WorkloadSpec::with_total(3, 1500, 1000);
        spec.rounds = 3;
        let mut w = Workload::new(spec);
        let mut per_shard: Vec<Vec<Batch>> = vec![Vec::new(); 4];
        let mut ledger = 0u64;
        generate(
            &mut w,
            4,
            200,
            |l| ledger += l.iter().map(|x| x.1).sum::<u64>(),
            |s, b| {
                per_shard[s].push(b);
                true
            },
        );
        assert_eq!(ledger, 4500);
        let mut total = 0u64;
        for batches in &per_shard {
            let mut last_ts: std::collections::HashMap<Vec<u8>, i64> = Default::default();
            for b in batches {
                assert!(b.samples <= 200);
                let req = decode(&b.body).expect("decodes");
                let n: usize = req.timeseries.iter().map(|t| t.samples.len()).sum();
                assert_eq!(n as u64, b.samples);
                total += b.samples;
                for t in &req.timeseries {
                    let key: Vec<u8> = t
                        .labels
                        .iter()
                        .flat_map(|l| [l.name.clone(), l.value.clone()].concat())
                        .collect();
                    let ts = t.samples[0].timestamp;
                    if let Some(prev) = last_ts.insert(key, ts) {
                        assert!(ts > prev, "in order within a shard");
                    }
                }
            }
        }
        assert_eq!(total, 4500);
    }

    #[test]
    fn latency_quantiles() {
        let mut s = SendStats::default();
        assert_eq!(s.latency_ms(0.5), None);
        s.latencies_us = vec![1000, 2000, 3000, 4000, 5000];
        assert_eq!(s.latency_ms(0.5), Some(3.0));
        assert_eq!(s.latency_ms(1.0), Some(5.0));
    }
}
