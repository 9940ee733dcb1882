//! Deterministic data set of the `query` scenario: many hours of a small
//! fleet, in time order, shaped for the queries dashboards issue.
//!
//! Instances are `instance="host-<i>:9100"` (no zero padding, so
//! `instance=~"host-1.*"` selects `host-1`, `host-10`..`host-19`,
//! `host-100`..), each in `job` [`JOBS`]`[i % 5]`. Every instance exposes the
//! same catalogue of [`SERIES_PER_INSTANCE`] (100) series, the last instance
//! possibly fewer so that the total is exactly `series`:
//!
//! - 60 counters: `http_requests_total{handler,method,code}` (5 handlers × 2
//!   methods × 2 codes), `node_cpu_seconds_total{cpu,mode}` (4 × 8),
//!   `node_network_{receive,transmit}_bytes_total{device}` (2 × 4);
//! - 40 gauges: `node_load1/5/15`, `node_memory_MemAvailable_bytes`,
//!   `process_open_fds`, `node_filesystem_avail_bytes{mountpoint}` and
//!   `node_filesystem_files_free{mountpoint}` (4 each),
//!   `node_hwmon_temp_celsius{sensor}` (16), `node_cpu_scaling_frequency_hertz{cpu}`
//!   (4), `node_disk_io_now{device}` (7).
//!
//! On top of these, the first `histogram_instances` instances expose a classic
//! histogram `http_request_duration_seconds{handler}` for 4 handlers: 11
//! finite buckets plus `+Inf` (`_bucket{le=...}`), `_sum` and `_count`, so 56
//! series per instance.
//!
//! Values evolve with the models of [`crate::workload`] (integer or seconds
//! counters, random-walk and byte gauges, exponential observations for the
//! histogram) from per-series [`SplitMix64`] streams, so the same
//! [`QuerySpec`] always gives the same samples. Round `r` of instance `i` is
//! stamped `start_ms + r × interval_ms + offset(i) + jitter(i, r)` with a fixed
//! offset in `[0, interval)` and at most ±2 ms of jitter, like a scraper.

use pharos_ingest::remote_write::{Label, Sample, TimeSeries};

use crate::workload::{advance, initial_state, mix, Model, SplitMix64, State, LATENCY_BUCKETS};

/// `job` of instance `i` is `JOBS[i % JOBS.len()]`.
pub const JOBS: &[&str] = &["api", "web", "db", "cache", "worker"];
/// Counter and gauge series per instance.
pub const SERIES_PER_INSTANCE: usize = 100;
/// Handlers of `http_requests_total` (the first [`HIST_HANDLERS`] also have the histogram).
pub const HANDLERS: &[&str] = &[
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/write",
];
/// Handlers with a `http_request_duration_seconds` histogram.
pub const HIST_HANDLERS: usize = 4;
/// Series of one histogram: 11 finite buckets, `+Inf`, `_sum`, `_count`.
pub const SERIES_PER_HISTOGRAM: usize = 14;
const METHODS: &[&str] = &["GET", "POST"];
const CODES: &[&str] = &["200", "500"];
const MODES: &[&str] = &[
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];
const MOUNTS: &[&str] = &["/", "/var", "/home", "/data"];

/// Parameters of the data set.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    pub seed: u64,
    /// Counter and gauge series in total (histogram series come on top).
    pub series: usize,
    /// Instances (the first ones) that also expose the histogram.
    pub histogram_instances: usize,
    pub rounds: usize,
    pub interval_ms: i64,
    pub start_ms: i64,
}

impl QuerySpec {
    /// Instances needed for `series` counter and gauge series.
    pub fn instances(&self) -> usize {
        self.series.div_ceil(SERIES_PER_INSTANCE)
    }

    /// Instances that expose the histogram.
    pub fn histogram_instances(&self) -> usize {
        self.histogram_instances.min(self.instances())
    }

    /// Histogram series (buckets, `_sum` and `_count`).
    pub fn histogram_series(&self) -> usize {
        self.histogram_instances() * HIST_HANDLERS * SERIES_PER_HISTOGRAM
    }

    /// Every series of the data set.
    pub fn total_series(&self) -> usize {
        self.series + self.histogram_series()
    }

    /// Samples of all rounds.
    pub fn total_samples(&self) -> u64 {
        self.total_series() as u64 * self.rounds as u64
    }

    /// Just after the newest sample: `start_ms + rounds × interval_ms`.
    pub fn end_ms(&self) -> i64 {
        self.start_ms + self.rounds as i64 * self.interval_ms
    }
}

/// One value stream: a scalar series, or a histogram's 14 series.
#[derive(Debug, Clone)]
struct Slot {
    instance: usize,
    model: Model,
    rng: SplitMix64,
    state: State,
    /// Full sorted label sets: one, or buckets in order then `_sum` and `_count`.
    labels: Vec<Vec<Label>>,
}

/// The generator's state.
#[derive(Debug)]
pub struct QueryWorkload {
    spec: QuerySpec,
    slots: Vec<Slot>,
    offsets: Vec<i64>,
}

/// A label set (sorted by name) from pairs.
fn label_set(pairs: &[(&str, &str)]) -> Vec<Label> {
    let mut v: Vec<Label> = pairs.iter().map(|(n, val)| Label::new(n, val)).collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// One entry of the per-instance catalogue: `(name, extra labels, model)`.
type Entry = (&'static str, Vec<(&'static str, String)>, Model);

/// The counter and gauge catalogue of one instance.
fn catalogue() -> Vec<Entry> {
    let mut out = Vec::with_capacity(SERIES_PER_INSTANCE);
    for h in HANDLERS {
        for m in METHODS {
            for c in CODES {
                let model = if *c == "200" {
                    Model::CounterInt {
                        max_step: 200,
                        idle: 0.1,
                    }
                } else {
                    Model::CounterInt {
                        max_step: 3,
                        idle: 0.8,
                    }
                };
                out.push((
                    "http_requests_total",
                    vec![
                        ("handler", h.to_string()),
                        ("method", m.to_string()),
                        ("code", c.to_string()),
                    ],
                    model,
                ));
            }
        }
    }
    for cpu in 0..4 {
        for mode in MODES {
            out.push((
                "node_cpu_seconds_total",
                vec![("cpu", cpu.to_string()), ("mode", mode.to_string())],
                Model::CounterSeconds { max_step: 15.0 },
            ));
        }
    }
    for name in [
        "node_network_receive_bytes_total",
        "node_network_transmit_bytes_total",
    ] {
        for d in 0..4 {
            out.push((
                name,
                vec![("device", format!("eth{d}"))],
                Model::CounterInt {
                    max_step: 50_000_000,
                    idle: 0.05,
                },
            ));
        }
    }
    let walk = |lo: f64, hi: f64, step: f64, decimals: i32| Model::GaugeWalk {
        lo,
        hi,
        step,
        decimals,
        idle: 0.0,
    };
    for (name, step) in [
        ("node_load1", 0.5),
        ("node_load5", 0.2),
        ("node_load15", 0.1),
    ] {
        out.push((name, vec![], walk(0.0, 8.0, step, 2)));
    }
    out.push((
        "node_memory_MemAvailable_bytes",
        vec![],
        Model::GaugeBytes {
            lo: 2e9,
            hi: 6e10,
            max_pages: 20_000,
            idle: 0.0,
        },
    ));
    out.push(("process_open_fds", vec![], walk(10.0, 1000.0, 5.0, 0)));
    for m in MOUNTS {
        out.push((
            "node_filesystem_avail_bytes",
            vec![("mountpoint", m.to_string())],
            Model::GaugeBytes {
                lo: 1e9,
                hi: 5e11,
                max_pages: 2_000,
                idle: 0.3,
            },
        ));
    }
    for m in MOUNTS {
        out.push((
            "node_filesystem_files_free",
            vec![("mountpoint", m.to_string())],
            walk(1e5, 3e7, 50.0, 0),
        ));
    }
    for s in 0..16 {
        out.push((
            "node_hwmon_temp_celsius",
            vec![("sensor", format!("temp{s}"))],
            walk(35.0, 70.0, 1.5, 1),
        ));
    }
    for cpu in 0..4 {
        out.push((
            "node_cpu_scaling_frequency_hertz",
            vec![("cpu", cpu.to_string())],
            walk(8e8, 3.6e9, 2e8, -6),
        ));
    }
    for d in 0..7 {
        out.push((
            "node_disk_io_now",
            vec![("device", format!("nvme0n{d}"))],
            walk(0.0, 10.0, 1.0, 0),
        ));
    }
    out
}

impl QueryWorkload {
    /// Builds every series of `spec`.
    pub fn new(spec: QuerySpec) -> QueryWorkload {
        let cat = catalogue();
        let instances = spec.instances();
        let hist_model = Model::Histogram {
            buckets: LATENCY_BUCKETS,
            mean: 0.08,
            max_obs: 60,
        };
        let mut slots = Vec::with_capacity(spec.series + spec.histogram_instances() * 4);
        let mut offsets = Vec::with_capacity(instances);
        for i in 0..instances {
            let mut r = SplitMix64::new(mix(&[spec.seed, 11, i as u64]));
            offsets.push(r.below(spec.interval_ms.max(1) as u64) as i64);
            let instance = format!("host-{i}:9100");
            let job = JOBS[i % JOBS.len()];
            let n = (spec.series - i * SERIES_PER_INSTANCE).min(SERIES_PER_INSTANCE);
            let mut add = |k: usize, model: Model, labels: Vec<Vec<Label>>| {
                let mut rng = SplitMix64::new(mix(&[spec.seed, 12, i as u64, k as u64]));
                let state = initial_state(&model, &mut rng);
                slots.push(Slot {
                    instance: i,
                    model,
                    rng,
                    state,
                    labels,
                });
            };
            for (k, (name, extra, model)) in cat.iter().take(n).enumerate() {
                let mut pairs: Vec<(&str, &str)> =
                    vec![("__name__", name), ("instance", &instance), ("job", job)];
                pairs.extend(extra.iter().map(|(n, v)| (*n, v.as_str())));
                add(k, *model, vec![label_set(&pairs)]);
            }
            if i < spec.histogram_instances() {
                for (h, handler) in HANDLERS.iter().take(HIST_HANDLERS).enumerate() {
                    let base = [
                        ("instance", instance.as_str()),
                        ("job", job),
                        ("handler", handler),
                    ];
                    let mut sets = Vec::with_capacity(SERIES_PER_HISTOGRAM);
                    let les = LATENCY_BUCKETS
                        .iter()
                        .map(|(_, s)| *s)
                        .chain(std::iter::once("+Inf"));
                    for le in les {
                        let mut p = base.to_vec();
                        p.push(("__name__", "http_request_duration_seconds_bucket"));
                        p.push(("le", le));
                        sets.push(label_set(&p));
                    }
                    for name in [
                        "http_request_duration_seconds_sum",
                        "http_request_duration_seconds_count",
                    ] {
                        let mut p = base.to_vec();
                        p.push(("__name__", name));
                        sets.push(label_set(&p));
                    }
                    add(SERIES_PER_INSTANCE + h, hist_model, sets);
                }
            }
        }
        QueryWorkload {
            spec,
            slots,
            offsets,
        }
    }

    /// Timestamp of round `round` of instance `i`.
    pub fn timestamp(&self, i: usize, round: usize) -> i64 {
        let jitter_max = (self.spec.interval_ms / 1000).min(2);
        let jitter = if jitter_max > 0 {
            let mut r = SplitMix64::new(mix(&[self.spec.seed, 13, i as u64, round as u64]));
            r.below(2 * jitter_max as u64 + 1) as i64 - jitter_max
        } else {
            0
        };
        let offset = self.offsets.get(i).copied().unwrap_or(0);
        self.spec.start_ms + round as i64 * self.spec.interval_ms + offset + jitter
    }

    /// Advances every series to round `round` and emits it with one sample;
    /// `emit` gets a stable key per value stream (same key, same series).
    pub fn emit_round(&mut self, round: usize, mut emit: impl FnMut(usize, TimeSeries)) {
        let stamps: Vec<i64> = (0..self.offsets.len())
            .map(|i| self.timestamp(i, round))
            .collect();
        for (key, slot) in self.slots.iter_mut().enumerate() {
            if round > 0 {
                advance(&slot.model, &mut slot.rng, &mut slot.state);
            }
            let ts = stamps.get(slot.instance).copied().unwrap_or(0);
            let values: Vec<f64> = match &slot.state {
                State::Scalar(v) => vec![*v],
                State::Histogram { cum, sum, count } => {
                    cum.iter().copied().chain([*sum, *count]).collect()
                }
            };
            for (labels, value) in slot.labels.iter().zip(values) {
                emit(
                    key,
                    TimeSeries {
                        labels: labels.clone(),
                        samples: vec![Sample {
                            value,
                            timestamp: ts,
                        }],
                        ..Default::default()
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet};

    fn spec(series: usize, hist: usize, rounds: usize) -> QuerySpec {
        QuerySpec {
            seed: 3,
            series,
            histogram_instances: hist,
            rounds,
            interval_ms: 15_000,
            start_ms: 1_700_000_000_000,
        }
    }

    fn text(v: &[u8]) -> String {
        String::from_utf8_lossy(v).to_string()
    }

    fn name_of(ts: &TimeSeries) -> String {
        ts.labels
            .iter()
            .find(|l| l.name == b"__name__")
            .map(|l| text(&l.value))
            .unwrap_or_default()
    }

    #[test]
    fn catalogue_has_the_documented_shape() {
        let cat = catalogue();
        assert_eq!(cat.len(), SERIES_PER_INSTANCE);
        let counters = cat
            .iter()
            .filter(|(_, _, m)| {
                matches!(m, Model::CounterInt { .. } | Model::CounterSeconds { .. })
            })
            .count();
        assert_eq!(counters, 60);
    }

    #[test]
    fn counts_labels_and_determinism() {
        let s = spec(250, 2, 3);
        assert_eq!(s.instances(), 3);
        assert_eq!(s.total_series(), 250 + 2 * 56);
        let mut w = QueryWorkload::new(s.clone());
        let mut seen = HashSet::new();
        let mut first = Vec::new();
        w.emit_round(0, |_, ts| {
            assert!(ts.labels.windows(2).all(|p| p[0].name < p[1].name));
            seen.insert(format!("{:?}", ts.labels));
            first.push(ts);
        });
        assert_eq!(first.len(), s.total_series());
        assert_eq!(seen.len(), first.len(), "label sets are unique");
        let jobs: HashSet<String> = first
            .iter()
            .flat_map(|t| {
                t.labels
                    .iter()
                    .filter(|l| l.name == b"job")
                    .map(|l| text(&l.value))
            })
            .collect();
        assert_eq!(jobs.len(), 3);
        let mut again = Vec::new();
        QueryWorkload::new(s).emit_round(0, |_, ts| again.push(ts));
        assert_eq!(first, again);
    }

    #[test]
    fn time_order_and_cumulative_histograms() {
        let s = spec(200, 2, 6);
        let mut w = QueryWorkload::new(s);
        let mut last: BTreeMap<String, (i64, f64)> = BTreeMap::new();
        for r in 0..6 {
            let mut buckets: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            w.emit_round(r, |_, ts| {
                let k = format!("{:?}", ts.labels);
                let smp = ts.samples[0];
                let name = name_of(&ts);
                if let Some((t0, v0)) = last.get(&k) {
                    assert!(smp.timestamp > *t0);
                    if name.ends_with("_total") || name.ends_with("_bucket") {
                        assert!(smp.value >= *v0);
                    }
                }
                if name.ends_with("_bucket") {
                    let group: String = ts
                        .labels
                        .iter()
                        .filter(|l| l.name != b"le")
                        .map(|l| text(&l.value))
                        .collect();
                    buckets.entry(group).or_default().push(smp.value);
                }
                last.insert(k, (smp.timestamp, smp.value));
            });
            assert_eq!(buckets.len(), 2 * HIST_HANDLERS);
            for b in buckets.values() {
                assert_eq!(b.len(), 12);
                assert!(b.windows(2).all(|p| p[0] <= p[1]));
            }
        }
    }
}
