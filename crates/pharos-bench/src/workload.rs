//! Deterministic node_exporter-like workload generator.
//!
//! A [`Workload`] is a set of *targets* (one `instance` each, `job="node"`),
//! each exposing a fixed number of series drawn from a realistic catalogue of
//! metric families ([`FAMILIES`]): about 60% monotone counters
//! (`node_cpu_seconds_total`, `node_network_receive_bytes_total`, ...), 25%
//! gauges (random walks with a few decimals, byte gauges moving by pages, and
//! constants such as `node_filesystem_size_bytes`) and 15% classic histograms
//! (`*_bucket` series with `le` labels plus `_sum` and `_count`).
//!
//! Every value comes from per-series [`SplitMix64`] streams seeded from the
//! workload seed, the target and the slot, so the same [`WorkloadSpec`] always
//! produces the same series, values and timestamps, independent of the order
//! in which the output is consumed. Timestamps of round `r` for target `t` are
//! `start_ms + r * interval_ms + offset(t) + jitter(t, r)`: a fixed per-target
//! scrape offset in `[0, interval)` and a jitter of at most ±2 ms, as a real
//! scraper produces.
//!
//! Churn: at each round after the first, every series slot is replaced by a
//! new series with probability `churn` (its `instance` label gains a
//! generation suffix and its value restarts), modelling restarted pods.

use pharos_ingest::remote_write::{Label, Sample, TimeSeries};

/// SplitMix64: a small, fast, well-mixed PRNG (Steele, Lea, Flood 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[0, n)`; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }
}

/// Mixes several words into one seed.
pub fn mix(words: &[u64]) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3u64;
    for w in words {
        h = SplitMix64::new(h ^ w.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64();
    }
    h
}

/// One label dimension of a metric family.
#[derive(Debug, Clone, Copy)]
pub enum Dim {
    /// A label with a fixed set of values (`mode`, `method`, ...).
    Fixed(&'static str, &'static [&'static str]),
    /// A label whose value is `prefix` followed by the family's running
    /// number (`cpu="7"`, `device="eth3"`); all numbered dimensions of a
    /// family share the number, so the family is unbounded.
    Numbered(&'static str, &'static str),
}

/// How a family's values evolve.
#[derive(Debug, Clone, Copy)]
pub enum Model {
    /// Counter growing by random integers in `[0, max_step]`; a round leaves
    /// it unchanged with probability `idle`.
    CounterInt { max_step: u64, idle: f64 },
    /// Counter in seconds growing by up to `max_step`, rounded to 0.01.
    CounterSeconds { max_step: f64 },
    /// Gauge of bytes: starts in `[lo, hi)`, moves by whole 4 KiB pages.
    GaugeBytes {
        lo: f64,
        hi: f64,
        max_pages: u64,
        idle: f64,
    },
    /// Random walk with `decimals` decimals, starting in `[lo, hi)`, moving by
    /// at most `step` per round, kept non-negative.
    GaugeWalk {
        lo: f64,
        hi: f64,
        step: f64,
        decimals: i32,
        idle: f64,
    },
    /// Never changes after the first value, drawn from `[lo, hi)` as an integer.
    GaugeConst { lo: f64, hi: f64 },
    /// Classic histogram; `buckets` are the finite upper bounds (the `+Inf`
    /// bucket is added); observations are exponential with mean `mean`, up to
    /// `max_obs` per round.
    Histogram {
        buckets: &'static [(f64, &'static str)],
        mean: f64,
        max_obs: u64,
    },
}

/// The kind of a family, used to fill each share of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Model {
    /// Which share of the mix the model belongs to.
    pub fn kind(&self) -> Kind {
        match self {
            Model::CounterInt { .. } | Model::CounterSeconds { .. } => Kind::Counter,
            Model::GaugeBytes { .. } | Model::GaugeWalk { .. } | Model::GaugeConst { .. } => {
                Kind::Gauge
            }
            Model::Histogram { .. } => Kind::Histogram,
        }
    }
}

/// A metric family: its name, label dimensions and value model.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub dims: &'static [Dim],
    pub model: Model,
}

impl Family {
    /// How many distinct label sets the family can produce (`None`: unbounded).
    fn capacity(&self) -> Option<usize> {
        if self.dims.iter().any(|d| matches!(d, Dim::Numbered(..))) {
            None
        } else {
            Some(self.fixed_product())
        }
    }

    fn fixed_product(&self) -> usize {
        self.dims
            .iter()
            .map(|d| match d {
                Dim::Fixed(_, v) => v.len().max(1),
                Dim::Numbered(..) => 1,
            })
            .product()
    }

    /// Series per slot: 1, or buckets + `+Inf` + `_sum` + `_count` for a histogram.
    pub fn series_per_slot(&self) -> usize {
        match self.model {
            Model::Histogram { buckets, .. } => buckets.len() + 3,
            _ => 1,
        }
    }
}

const MODES: &[&str] = &[
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE"];
const METHODS2: &[&str] = &["GET", "POST"];
const CODES: &[&str] = &["200", "404", "500"];
const FSTYPES: &[&str] = &["ext4", "xfs"];
const CHIPS: &[&str] = &["platform_coretemp_0", "platform_coretemp_1"];
pub(crate) const LATENCY_BUCKETS: &[(f64, &str)] = &[
    (0.005, "0.005"),
    (0.01, "0.01"),
    (0.025, "0.025"),
    (0.05, "0.05"),
    (0.1, "0.1"),
    (0.25, "0.25"),
    (0.5, "0.5"),
    (1.0, "1"),
    (2.5, "2.5"),
    (5.0, "5"),
    (10.0, "10"),
];
const SIZE_BUCKETS: &[(f64, &str)] = &[
    (100.0, "100"),
    (1000.0, "1000"),
    (10000.0, "10000"),
    (100000.0, "100000"),
    (1e6, "1e+06"),
    (1e7, "1e+07"),
];

const CPU: Dim = Dim::Numbered("cpu", "");
const NETDEV: Dim = Dim::Numbered("device", "eth");
const DISK: Dim = Dim::Numbered("device", "nvme0n");
const HANDLER: Dim = Dim::Numbered("handler", "/api/v1/resource");

const fn counter(name: &'static str, dims: &'static [Dim], max_step: u64, idle: f64) -> Family {
    Family {
        name,
        dims,
        model: Model::CounterInt { max_step, idle },
    }
}
const fn seconds(name: &'static str, dims: &'static [Dim], max_step: f64) -> Family {
    Family {
        name,
        dims,
        model: Model::CounterSeconds { max_step },
    }
}

/// The catalogue: node_exporter families plus a few application families.
pub const FAMILIES: &[Family] = &[
    // Counters.
    seconds(
        "node_cpu_seconds_total",
        &[CPU, Dim::Fixed("mode", MODES)],
        15.0,
    ),
    counter(
        "node_network_receive_bytes_total",
        &[NETDEV],
        50_000_000,
        0.05,
    ),
    counter(
        "node_network_transmit_bytes_total",
        &[NETDEV],
        20_000_000,
        0.05,
    ),
    counter(
        "node_network_receive_packets_total",
        &[NETDEV],
        40_000,
        0.05,
    ),
    counter(
        "node_network_transmit_packets_total",
        &[NETDEV],
        30_000,
        0.05,
    ),
    counter("node_network_receive_errs_total", &[NETDEV], 2, 0.97),
    counter("node_network_receive_drop_total", &[NETDEV], 3, 0.9),
    counter("node_disk_read_bytes_total", &[DISK], 8_000_000, 0.3),
    counter("node_disk_written_bytes_total", &[DISK], 12_000_000, 0.1),
    counter("node_disk_reads_completed_total", &[DISK], 2_000, 0.3),
    counter("node_disk_writes_completed_total", &[DISK], 3_000, 0.1),
    seconds("node_disk_io_time_seconds_total", &[DISK], 3.0),
    seconds("node_schedstat_running_seconds_total", &[CPU], 12.0),
    counter("node_context_switches_total", &[], 200_000, 0.0),
    counter("node_intr_total", &[], 150_000, 0.0),
    counter("node_forks_total", &[], 300, 0.0),
    counter("node_vmstat_pgfault", &[], 500_000, 0.0),
    seconds("process_cpu_seconds_total", &[], 1.5),
    counter(
        "http_requests_total",
        &[
            HANDLER,
            Dim::Fixed("method", METHODS),
            Dim::Fixed("code", CODES),
        ],
        500,
        0.4,
    ),
    // Gauges.
    Family {
        name: "node_filesystem_avail_bytes",
        dims: &[
            Dim::Numbered("device", "/dev/sda"),
            Dim::Numbered("mountpoint", "/mnt/data"),
            Dim::Fixed("fstype", FSTYPES),
        ],
        model: Model::GaugeBytes {
            lo: 1e9,
            hi: 5e11,
            max_pages: 2_000,
            idle: 0.3,
        },
    },
    Family {
        name: "node_filesystem_size_bytes",
        dims: &[
            Dim::Numbered("device", "/dev/sda"),
            Dim::Numbered("mountpoint", "/mnt/data"),
            Dim::Fixed("fstype", FSTYPES),
        ],
        model: Model::GaugeConst { lo: 1e10, hi: 1e12 },
    },
    Family {
        name: "node_filesystem_files_free",
        dims: &[
            Dim::Numbered("device", "/dev/sda"),
            Dim::Numbered("mountpoint", "/mnt/data"),
            Dim::Fixed("fstype", FSTYPES),
        ],
        model: Model::GaugeWalk {
            lo: 1e5,
            hi: 3e7,
            step: 50.0,
            decimals: 0,
            idle: 0.5,
        },
    },
    Family {
        name: "node_memory_MemAvailable_bytes",
        dims: &[],
        model: Model::GaugeBytes {
            lo: 2e9,
            hi: 6e10,
            max_pages: 20_000,
            idle: 0.0,
        },
    },
    Family {
        name: "node_memory_Cached_bytes",
        dims: &[],
        model: Model::GaugeBytes {
            lo: 1e9,
            hi: 3e10,
            max_pages: 5_000,
            idle: 0.0,
        },
    },
    Family {
        name: "node_load1",
        dims: &[],
        model: Model::GaugeWalk {
            lo: 0.0,
            hi: 8.0,
            step: 0.5,
            decimals: 2,
            idle: 0.0,
        },
    },
    Family {
        name: "node_load5",
        dims: &[],
        model: Model::GaugeWalk {
            lo: 0.0,
            hi: 8.0,
            step: 0.2,
            decimals: 2,
            idle: 0.0,
        },
    },
    Family {
        name: "node_load15",
        dims: &[],
        model: Model::GaugeWalk {
            lo: 0.0,
            hi: 8.0,
            step: 0.1,
            decimals: 2,
            idle: 0.0,
        },
    },
    Family {
        name: "node_hwmon_temp_celsius",
        dims: &[Dim::Numbered("sensor", "temp"), Dim::Fixed("chip", CHIPS)],
        model: Model::GaugeWalk {
            lo: 35.0,
            hi: 70.0,
            step: 1.5,
            decimals: 1,
            idle: 0.2,
        },
    },
    Family {
        name: "node_network_up",
        dims: &[NETDEV],
        model: Model::GaugeConst { lo: 1.0, hi: 1.0 },
    },
    Family {
        name: "node_network_mtu_bytes",
        dims: &[NETDEV],
        model: Model::GaugeConst {
            lo: 1500.0,
            hi: 1500.0,
        },
    },
    Family {
        name: "node_cpu_scaling_frequency_hertz",
        dims: &[CPU],
        model: Model::GaugeWalk {
            lo: 8e8,
            hi: 3.6e9,
            step: 2e8,
            decimals: -6,
            idle: 0.3,
        },
    },
    Family {
        name: "go_goroutines",
        dims: &[],
        model: Model::GaugeWalk {
            lo: 8.0,
            hi: 200.0,
            step: 5.0,
            decimals: 0,
            idle: 0.3,
        },
    },
    Family {
        name: "process_resident_memory_bytes",
        dims: &[],
        model: Model::GaugeBytes {
            lo: 2e7,
            hi: 2e9,
            max_pages: 500,
            idle: 0.1,
        },
    },
    // Histograms.
    Family {
        name: "http_request_duration_seconds",
        dims: &[HANDLER, Dim::Fixed("method", METHODS2)],
        model: Model::Histogram {
            buckets: LATENCY_BUCKETS,
            mean: 0.08,
            max_obs: 60,
        },
    },
    Family {
        name: "http_response_size_bytes",
        dims: &[HANDLER, Dim::Fixed("method", METHODS2)],
        model: Model::Histogram {
            buckets: SIZE_BUCKETS,
            mean: 20_000.0,
            max_obs: 60,
        },
    },
    Family {
        name: "grpc_server_handling_seconds",
        dims: &[
            Dim::Numbered("grpc_method", "Method"),
            Dim::Fixed("grpc_service", &["pharos.v1.Store", "pharos.v1.Query"]),
        ],
        model: Model::Histogram {
            buckets: LATENCY_BUCKETS,
            mean: 0.02,
            max_obs: 40,
        },
    },
];

/// Parameters of a workload.
#[derive(Debug, Clone)]
pub struct WorkloadSpec {
    pub seed: u64,
    pub targets: usize,
    /// Series per target; the last target of a [`WorkloadSpec::total_series`]-based
    /// split may have fewer (see [`WorkloadSpec::with_total`]).
    pub series_per_target: usize,
    /// Series of the last target, when it differs (0: same as the others).
    pub last_target_series: usize,
    pub rounds: usize,
    pub interval_ms: i64,
    pub start_ms: i64,
    pub churn: f64,
}

impl WorkloadSpec {
    /// `total` series split into targets of at most `per_target` series.
    pub fn with_total(seed: u64, total: usize, per_target: usize) -> WorkloadSpec {
        let per = per_target.clamp(1, total.max(1));
        let targets = total.div_ceil(per).max(1);
        let last = total - per * (targets - 1);
        WorkloadSpec {
            seed,
            targets,
            series_per_target: per,
            last_target_series: if last == per { 0 } else { last },
            rounds: 1,
            interval_ms: 15_000,
            start_ms: 0,
            churn: 0.0,
        }
    }

    fn target_series(&self, t: usize) -> usize {
        if t + 1 == self.targets && self.last_target_series != 0 {
            self.last_target_series
        } else {
            self.series_per_target
        }
    }

    /// Series exposed at each round (the active series when there is no churn).
    pub fn total_series(&self) -> usize {
        (0..self.targets).map(|t| self.target_series(t)).sum()
    }

    /// Samples produced by all rounds.
    pub fn total_samples(&self) -> u64 {
        self.total_series() as u64 * self.rounds as u64
    }
}

/// Value state of one slot.
#[derive(Debug, Clone)]
pub(crate) enum State {
    Scalar(f64),
    Histogram { cum: Vec<f64>, sum: f64, count: f64 },
}

/// One slot of a target: a family member (a series, or a histogram's series).
#[derive(Debug, Clone)]
struct Slot {
    family: u16,
    /// Index within the family (mixed radix over its dimensions).
    member: u32,
    generation: u32,
    rng: SplitMix64,
    state: State,
}

#[derive(Debug, Clone)]
struct Target {
    slots: Vec<Slot>,
    series: usize,
    offset_ms: i64,
}

/// The generator's state: targets, slots and values.
#[derive(Debug)]
pub struct Workload {
    spec: WorkloadSpec,
    targets: Vec<Target>,
    /// Series created by churn so far.
    churned: u64,
}

/// Shares of the mix, in series.
const COUNTER_SHARE: f64 = 0.60;
const GAUGE_SHARE: f64 = 0.25;

impl Workload {
    /// Builds the targets and their series for `spec`.
    pub fn new(spec: WorkloadSpec) -> Workload {
        let targets = (0..spec.targets)
            .map(|t| build_target(&spec, t, spec.target_series(t)))
            .collect();
        Workload {
            spec,
            targets,
            churned: 0,
        }
    }

    pub fn spec(&self) -> &WorkloadSpec {
        &self.spec
    }

    /// Distinct series produced so far (initial series plus churned ones).
    pub fn distinct_series(&self) -> u64 {
        self.spec.total_series() as u64 + self.churned
    }

    /// Timestamp of round `round` for target `t`.
    pub fn timestamp(&self, t: usize, round: usize) -> i64 {
        let jitter_max = (self.spec.interval_ms / 1000).min(2);
        let jitter = if jitter_max > 0 {
            let mut r = SplitMix64::new(mix(&[self.spec.seed, 3, t as u64, round as u64]));
            r.below(2 * jitter_max as u64 + 1) as i64 - jitter_max
        } else {
            0
        };
        let offset = self.targets.get(t).map_or(0, |x| x.offset_ms);
        self.spec.start_ms + round as i64 * self.spec.interval_ms + offset + jitter
    }

    /// `(timestamp, samples)` of every target in round `round`.
    pub fn round_ledger(&self, round: usize) -> Vec<(i64, u64)> {
        (0..self.targets.len())
            .map(|t| (self.timestamp(t, round), self.targets[t].series as u64))
            .collect()
    }

    /// Advances every slot to round `round` and emits its series. `emit`
    /// receives a stable stream key (the global slot number: the same series
    /// always has the same key) and the series with one sample.
    pub fn emit_round(&mut self, round: usize, mut emit: impl FnMut(usize, TimeSeries)) {
        let mut key = 0usize;
        let seed = self.spec.seed;
        let churn = self.spec.churn;
        for t in 0..self.targets.len() {
            let ts = self.timestamp(t, round);
            let instance = format!("host-{t:04}:9100");
            let target = &mut self.targets[t];
            for slot in target.slots.iter_mut() {
                let fam = &FAMILIES[slot.family as usize];
                if round > 0 && churn > 0.0 {
                    let mut r = SplitMix64::new(mix(&[seed, 4, key as u64, round as u64]));
                    if r.chance(churn) {
                        slot.generation += 1;
                        slot.rng = SplitMix64::new(mix(&[
                            seed,
                            5,
                            key as u64,
                            u64::from(slot.generation),
                        ]));
                        slot.state = initial_state(&fam.model, &mut slot.rng);
                        self.churned += fam.series_per_slot() as u64;
                    }
                }
                if round > 0 || slot.generation > 0 {
                    advance(&fam.model, &mut slot.rng, &mut slot.state);
                }
                let inst = if slot.generation == 0 {
                    instance.clone()
                } else {
                    format!("host-{t:04}-g{}:9100", slot.generation)
                };
                emit_slot(fam, slot, &inst, ts, key, &mut emit);
                key += 1;
            }
        }
    }
}

fn build_target(spec: &WorkloadSpec, t: usize, series: usize) -> Target {
    let mut offset_rng = SplitMix64::new(mix(&[spec.seed, 1, t as u64]));
    let offset_ms = offset_rng.below(spec.interval_ms.max(1) as u64) as i64;
    let counter_quota = (series as f64 * COUNTER_SHARE).round() as usize;
    let gauge_quota = (series as f64 * GAUGE_SHARE).round() as usize;
    let hist_quota = series.saturating_sub(counter_quota + gauge_quota);

    let mut members: Vec<(u16, u32)> = Vec::new();
    let hist_used = fill(Kind::Histogram, hist_quota, &mut members);
    let gauge_used = fill(Kind::Gauge, gauge_quota, &mut members);
    // Counters take what histograms could not fill exactly.
    let counter_left = series - hist_used - gauge_used;
    fill(Kind::Counter, counter_left, &mut members);

    let slots = members
        .into_iter()
        .enumerate()
        .map(|(i, (family, member))| {
            let mut rng = SplitMix64::new(mix(&[spec.seed, 2, t as u64, i as u64]));
            let state = initial_state(&FAMILIES[family as usize].model, &mut rng);
            Slot {
                family,
                member,
                generation: 0,
                rng,
                state,
            }
        })
        .collect();
    Target {
        slots,
        series,
        offset_ms,
    }
}

/// Adds members of families of `kind`, round robin, until `quota` series are
/// used (a histogram that does not fit whole is skipped). Returns the series used.
fn fill(kind: Kind, quota: usize, out: &mut Vec<(u16, u32)>) -> usize {
    let fams: Vec<usize> = (0..FAMILIES.len())
        .filter(|&i| FAMILIES[i].model.kind() == kind)
        .collect();
    let mut next = vec![0u32; fams.len()];
    let mut used = 0usize;
    loop {
        let mut progressed = false;
        for (k, &f) in fams.iter().enumerate() {
            let fam = &FAMILIES[f];
            let size = fam.series_per_slot();
            if used + size > quota {
                continue;
            }
            if let Some(cap) = fam.capacity() {
                if next[k] as usize >= cap {
                    continue;
                }
            }
            out.push((f as u16, next[k]));
            next[k] += 1;
            used += size;
            progressed = true;
        }
        if !progressed {
            return used;
        }
    }
}

fn round_to(v: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (v * p).round() / p
}

pub(crate) fn initial_state(model: &Model, rng: &mut SplitMix64) -> State {
    let uniform = |rng: &mut SplitMix64, lo: f64, hi: f64| lo + (hi - lo) * rng.next_f64();
    match *model {
        Model::CounterInt { max_step, .. } => {
            // Counters of long-running processes: large, varied magnitudes.
            let mag = rng.below(6) as i32;
            State::Scalar((rng.below(max_step.max(1) * 1000) as f64 * 10f64.powi(mag - 3)).floor())
        }
        Model::CounterSeconds { max_step } => {
            State::Scalar(round_to(uniform(rng, 0.0, max_step * 100_000.0), 2))
        }
        Model::GaugeBytes { lo, hi, .. } => {
            State::Scalar((uniform(rng, lo, hi) / 4096.0).floor() * 4096.0)
        }
        Model::GaugeWalk {
            lo, hi, decimals, ..
        } => State::Scalar(round_to(uniform(rng, lo, hi), decimals)),
        Model::GaugeConst { lo, hi } => State::Scalar(uniform(rng, lo, hi).floor()),
        Model::Histogram { buckets, .. } => State::Histogram {
            cum: vec![0.0; buckets.len() + 1],
            sum: 0.0,
            count: 0.0,
        },
    }
}

pub(crate) fn advance(model: &Model, rng: &mut SplitMix64, state: &mut State) {
    let idle = match *model {
        Model::CounterInt { idle, .. }
        | Model::GaugeBytes { idle, .. }
        | Model::GaugeWalk { idle, .. } => idle,
        _ => 0.0,
    };
    if idle > 0.0 && rng.chance(idle) {
        return;
    }
    match (*model, state) {
        (Model::CounterInt { max_step, .. }, State::Scalar(v)) => {
            *v += rng.below(max_step + 1) as f64;
        }
        (Model::CounterSeconds { max_step }, State::Scalar(v)) => {
            *v = round_to(*v + rng.next_f64() * max_step, 2);
        }
        (Model::GaugeBytes { max_pages, .. }, State::Scalar(v)) => {
            let pages = rng.below(2 * max_pages + 1) as f64 - max_pages as f64;
            *v = (*v + pages * 4096.0).max(0.0);
        }
        (Model::GaugeWalk { step, decimals, .. }, State::Scalar(v)) => {
            let d = (rng.next_f64() + rng.next_f64() - 1.0) * step;
            *v = round_to((*v + d).max(0.0), decimals);
        }
        (Model::GaugeConst { .. }, State::Scalar(_)) => {}
        (
            Model::Histogram {
                buckets,
                mean,
                max_obs,
            },
            State::Histogram { cum, sum, count },
        ) => {
            let n = rng.below(max_obs + 1);
            for _ in 0..n {
                // Exponential observation; 1 - u is in (0, 1].
                let x = -mean * (1.0 - rng.next_f64()).ln();
                let first = buckets
                    .iter()
                    .position(|(le, _)| x <= *le)
                    .unwrap_or(buckets.len());
                for c in cum.iter_mut().skip(first) {
                    *c += 1.0;
                }
                *sum += x;
            }
            *count += n as f64;
        }
        // A state always matches its model: initial_state builds it from the same model.
        _ => {}
    }
}

fn member_labels(fam: &Family, member: u32, instance: &str) -> Vec<Label> {
    let mut labels = Vec::with_capacity(fam.dims.len() + 4);
    labels.push(Label::new("instance", instance));
    labels.push(Label::new("job", "node"));
    let mut rest = member as usize;
    // Fixed dimensions take the low digits, last dimension fastest.
    let mut fixed_vals: Vec<(usize, usize)> = Vec::new();
    for (i, d) in fam.dims.iter().enumerate().rev() {
        if let Dim::Fixed(_, vals) = d {
            let n = vals.len().max(1);
            fixed_vals.push((i, rest % n));
            rest /= n;
        }
    }
    for (i, d) in fam.dims.iter().enumerate() {
        match d {
            Dim::Fixed(name, vals) => {
                let idx = fixed_vals
                    .iter()
                    .find(|(j, _)| *j == i)
                    .map_or(0, |(_, v)| *v);
                labels.push(Label::new(name, vals.get(idx).copied().unwrap_or("")));
            }
            Dim::Numbered(name, prefix) => {
                labels.push(Label::new(name, &format!("{prefix}{rest}")))
            }
        }
    }
    labels
}

fn with_name(mut labels: Vec<Label>, name: &str, le: Option<&str>) -> Vec<Label> {
    labels.push(Label::new("__name__", name));
    if let Some(le) = le {
        labels.push(Label::new("le", le));
    }
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    labels
}

fn series(labels: Vec<Label>, ts: i64, value: f64) -> TimeSeries {
    TimeSeries {
        labels,
        samples: vec![Sample {
            value,
            timestamp: ts,
        }],
        ..Default::default()
    }
}

fn emit_slot(
    fam: &Family,
    slot: &Slot,
    instance: &str,
    ts: i64,
    key: usize,
    emit: &mut impl FnMut(usize, TimeSeries),
) {
    let base = member_labels(fam, slot.member, instance);
    match (&fam.model, &slot.state) {
        (Model::Histogram { buckets, .. }, State::Histogram { cum, sum, count }) => {
            let bucket_name = format!("{}_bucket", fam.name);
            for (i, c) in cum.iter().enumerate() {
                let le = buckets.get(i).map_or("+Inf", |(_, s)| *s);
                emit(
                    key,
                    series(with_name(base.clone(), &bucket_name, Some(le)), ts, *c),
                );
            }
            emit(
                key,
                series(
                    with_name(base.clone(), &format!("{}_sum", fam.name), None),
                    ts,
                    *sum,
                ),
            );
            emit(
                key,
                series(
                    with_name(base, &format!("{}_count", fam.name), None),
                    ts,
                    *count,
                ),
            );
        }
        (_, State::Scalar(v)) => emit(key, series(with_name(base, fam.name, None), ts, *v)),
        // Unreachable by construction (see `advance`); emit nothing rather than panic.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet};

    fn spec(targets: usize, per: usize, rounds: usize, churn: f64) -> WorkloadSpec {
        WorkloadSpec {
            seed: 7,
            targets,
            series_per_target: per,
            last_target_series: 0,
            rounds,
            interval_ms: 15_000,
            start_ms: 1_700_000_000_000,
            churn,
        }
    }

    fn key_of(ts: &TimeSeries) -> String {
        ts.labels
            .iter()
            .map(|l| {
                format!(
                    "{}={}",
                    String::from_utf8_lossy(&l.name),
                    String::from_utf8_lossy(&l.value)
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    fn label<'a>(ts: &'a TimeSeries, name: &str) -> Option<&'a [u8]> {
        ts.labels
            .iter()
            .find(|l| l.name == name.as_bytes())
            .map(|l| l.value.as_slice())
    }

    fn run(spec: WorkloadSpec) -> Vec<Vec<TimeSeries>> {
        let rounds = spec.rounds;
        let mut w = Workload::new(spec);
        (0..rounds)
            .map(|r| {
                let mut out = Vec::new();
                w.emit_round(r, |_, ts| out.push(ts));
                out
            })
            .collect()
    }

    #[test]
    fn deterministic() {
        assert_eq!(run(spec(3, 700, 4, 0.05)), run(spec(3, 700, 4, 0.05)));
        let mut other = spec(3, 700, 4, 0.05);
        other.seed = 8;
        assert_ne!(run(spec(3, 700, 4, 0.05)), run(other));
    }

    #[test]
    fn series_count_mix_and_unique_sorted_labels() {
        let rounds = run(spec(2, 5000, 1, 0.0));
        let r0 = &rounds[0];
        assert_eq!(r0.len(), 10_000);
        let uniq: HashSet<String> = r0.iter().map(key_of).collect();
        assert_eq!(uniq.len(), r0.len(), "label sets are unique");
        for ts in r0 {
            assert!(
                ts.labels.windows(2).all(|w| w[0].name < w[1].name),
                "sorted: {}",
                key_of(ts)
            );
        }
        let hist = r0
            .iter()
            .filter(|ts| {
                let n = label(ts, "__name__").unwrap_or_default();
                n.ends_with(b"_bucket") || n.ends_with(b"_sum") || n.ends_with(b"_count")
            })
            .count();
        let frac = hist as f64 / r0.len() as f64;
        assert!((0.12..=0.16).contains(&frac), "histogram share {frac}");
    }

    #[test]
    fn counters_monotone_and_timestamps_increase() {
        let rounds = run(spec(2, 2000, 6, 0.0));
        let mut last: BTreeMap<String, (i64, f64)> = BTreeMap::new();
        for r in &rounds {
            for ts in r {
                let name =
                    String::from_utf8_lossy(label(ts, "__name__").unwrap_or_default()).to_string();
                let k = key_of(ts);
                let s = ts.samples[0];
                if let Some((t0, v0)) = last.get(&k) {
                    assert!(s.timestamp > *t0);
                    let counter = name.ends_with("_total")
                        || name.ends_with("_bucket")
                        || name.ends_with("_count");
                    if counter {
                        assert!(s.value >= *v0, "{k}: {} < {v0}", s.value);
                    }
                }
                last.insert(k, (s.timestamp, s.value));
            }
        }
    }

    #[test]
    fn histogram_buckets_cumulative() {
        let rounds = run(spec(1, 3000, 5, 0.0));
        for r in &rounds {
            // Group buckets by their series without `le`.
            let mut groups: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
            let mut counts: BTreeMap<String, f64> = BTreeMap::new();
            for ts in r {
                let name =
                    String::from_utf8_lossy(label(ts, "__name__").unwrap_or_default()).to_string();
                let rest: String = ts
                    .labels
                    .iter()
                    .filter(|l| l.name != b"le" && l.name != b"__name__")
                    .map(|l| {
                        format!(
                            "{}={},",
                            String::from_utf8_lossy(&l.name),
                            String::from_utf8_lossy(&l.value)
                        )
                    })
                    .collect();
                if let Some(base) = name.strip_suffix("_bucket") {
                    let le =
                        String::from_utf8_lossy(label(ts, "le").unwrap_or_default()).to_string();
                    let le: f64 = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().unwrap_or(f64::NAN)
                    };
                    groups
                        .entry(format!("{base}|{rest}"))
                        .or_default()
                        .push((le, ts.samples[0].value));
                } else if let Some(base) = name.strip_suffix("_count") {
                    counts.insert(format!("{base}|{rest}"), ts.samples[0].value);
                }
            }
            assert!(!groups.is_empty());
            for (k, mut b) in groups {
                b.sort_by(|x, y| x.0.total_cmp(&y.0));
                assert!(b.iter().all(|(le, _)| !le.is_nan()));
                assert!(b.windows(2).all(|w| w[0].1 <= w[1].1), "{k}: {b:?}");
                assert_eq!(b.last().map(|x| x.0), Some(f64::INFINITY));
                assert_eq!(
                    b.last().map(|x| x.1),
                    counts.get(&k).copied(),
                    "{k}: +Inf == _count"
                );
            }
        }
    }

    #[test]
    fn churn_creates_new_series() {
        let mut w = Workload::new(spec(2, 1000, 5, 0.1));
        let mut seen = HashSet::new();
        for r in 0..5 {
            let mut n = 0;
            w.emit_round(r, |_, ts| {
                n += 1;
                seen.insert(key_of(&ts));
            });
            assert_eq!(n, 2000, "series per round stays constant");
        }
        assert_eq!(seen.len() as u64, w.distinct_series());
        assert!(w.distinct_series() > 2000 + 500, "{}", w.distinct_series());
    }

    #[test]
    fn with_total_splits() {
        let s = WorkloadSpec::with_total(1, 20_000, 10_000);
        assert_eq!((s.targets, s.total_series()), (2, 20_000));
        let s = WorkloadSpec::with_total(1, 500, 10_000);
        assert_eq!((s.targets, s.total_series()), (1, 500));
        let s = WorkloadSpec::with_total(1, 2500, 1000);
        assert_eq!((s.targets, s.total_series()), (3, 2500));
        let w = Workload::new(s);
        let mut n = 0;
        let mut w = w;
        w.emit_round(0, |_, _| n += 1);
        assert_eq!(n, 2500);
    }

    #[test]
    fn prng_ranges() {
        let mut r = SplitMix64::new(1);
        for _ in 0..10_000 {
            let f = r.next_f64();
            assert!((0.0..1.0).contains(&f));
            assert!(r.below(7) < 7);
        }
        assert_eq!(r.below(0), 0);
    }
}
