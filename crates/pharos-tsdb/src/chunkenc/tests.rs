//! Tests for [`super::Chunk`]: unit cases, proptest round-trips, corrupt input, and a
//! bytes-per-sample report on a synthetic node_exporter-like workload (run with `--nocapture`)
//! compared against a Prometheus-style XOR chunk size model.

use super::*;
use pharos_model::STALE_NAN_BITS;
use proptest::prelude::*;

fn collect(c: &Chunk) -> Vec<(i64, u64)> {
    c.iter()
        .map(|r| r.map(|(t, v)| (t, v.to_bits())).unwrap())
        .collect()
}

fn build(samples: &[(i64, f64)]) -> Chunk {
    let mut c = Chunk::new();
    for &(t, v) in samples {
        c.append(t, v);
    }
    c
}

fn check_round_trip(samples: &[(i64, f64)]) -> Chunk {
    let c = build(samples);
    let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert_eq!(collect(&c), want);
    let back = Chunk::from_bytes(c.bytes().to_vec()).unwrap();
    assert_eq!(collect(&back), want);
    let mut decoded = Vec::new();
    back.decode_into(&mut decoded).unwrap();
    let decoded: Vec<(i64, u64)> = decoded.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert_eq!(decoded, want);
    assert_eq!(back.num_samples(), samples.len());
    assert_eq!(back.min_time(), samples.first().map(|s| s.0));
    assert_eq!(back.max_time(), samples.last().map(|s| s.0));
    c
}

#[test]
fn empty_chunk() {
    let c = Chunk::new();
    assert_eq!(c.num_samples(), 0);
    assert_eq!(c.min_time(), None);
    assert_eq!(c.max_time(), None);
    assert_eq!(c.iter().count(), 0);
    let back = Chunk::from_bytes(c.bytes().to_vec()).unwrap();
    assert!(back.is_empty());
}

#[test]
fn integer_counter_uses_int_encoding() {
    let s: Vec<_> = (0..120)
        .map(|i| (1_000 + i * 15_000, (i * 3) as f64))
        .collect();
    let c = check_round_trip(&s);
    assert_eq!(
        c.encoding(),
        ValueEncoding::DecimalInt { scale: 0, shift: 0 }
    );
}

#[test]
fn decimal_values_pick_smallest_scale() {
    let s = [(1, 1.0), (2, 1.5), (3, 2.25), (4, 12345.67)];
    let c = check_round_trip(&s);
    assert_eq!(
        c.encoding(),
        ValueEncoding::DecimalInt { scale: 2, shift: 0 }
    );
}

#[test]
fn shared_low_zero_bits_are_shifted_out() {
    let s: Vec<_> = (0..50)
        .map(|i| (i * 15_000, (4096 * (1000 + i * i % 7)) as f64))
        .collect();
    let c = check_round_trip(&s);
    assert_eq!(
        c.encoding(),
        ValueEncoding::DecimalInt {
            scale: 0,
            shift: 12
        }
    );
    let mut s2 = s.clone();
    s2.push((50 * 15_000, 512.0 * 3.0));
    s2.push((51 * 15_000, 0.0));
    let c = check_round_trip(&s2);
    assert_eq!(
        c.encoding(),
        ValueEncoding::DecimalInt { scale: 0, shift: 9 }
    );
    s2.push((52 * 15_000, 0.25));
    let c = check_round_trip(&s2);
    assert_eq!(
        c.encoding(),
        ValueEncoding::DecimalInt { scale: 2, shift: 0 }
    );
}

#[test]
fn non_decimal_value_switches_to_xor() {
    let s = [(1, 1.0), (2, 2.0), (3, std::f64::consts::PI), (4, 4.0)];
    let c = check_round_trip(&s);
    assert_eq!(c.encoding(), ValueEncoding::Xor);
}

#[test]
fn special_floats_round_trip_bit_exactly() {
    let specials = [
        f64::from_bits(STALE_NAN_BITS),
        f64::NAN,
        f64::from_bits(0x7ff8_dead_beef_0001),
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        5e-324,
    ];
    for (i, &first) in specials.iter().enumerate() {
        let mut s = vec![(0, first)];
        for (j, &v) in specials.iter().enumerate() {
            s.push((1 + (i * 100 + j) as i64, v));
        }
        check_round_trip(&s);
    }
}

#[test]
fn stale_markers_stay_in_int_encoding() {
    let stale = f64::from_bits(STALE_NAN_BITS);
    let s = [
        (10, stale),
        (20, 5.0),
        (30, 6.0),
        (40, stale),
        (50, 8.0),
        (60, stale),
    ];
    let c = check_round_trip(&s);
    assert_eq!(
        c.encoding(),
        ValueEncoding::DecimalInt { scale: 0, shift: 0 }
    );
}

#[test]
fn extreme_timestamps_and_integers() {
    let s = [
        (i64::MIN, i64::MIN as f64),
        (-1, -9.0e18),
        (0, 9.0e18),
        (i64::MAX, 1.0),
    ];
    check_round_trip(&s);
}

#[test]
fn append_after_from_bytes_continues() {
    let mut s: Vec<_> = (0..50).map(|i| (i * 15_000, i as f64 * 0.5)).collect();
    let c = build(&s);
    let mut back = Chunk::from_bytes(c.bytes().to_vec()).unwrap();
    for i in 50..100 {
        let v = if i == 70 { 1.0 / 3.0 } else { i as f64 };
        back.append(i * 15_000, v);
        s.push((i * 15_000, v));
    }
    let want: Vec<_> = s.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert_eq!(collect(&back), want);
    assert_eq!(back.encoding(), ValueEncoding::Xor);
}

#[test]
fn try_append_rejects_out_of_order() {
    let mut c = build(&[(100, 1.0)]);
    assert_eq!(
        c.try_append(100, 2.0),
        Err(ChunkError::OutOfOrder { t: 100, max_t: 100 })
    );
    assert_eq!(
        c.try_append(99, 2.0),
        Err(ChunkError::OutOfOrder { t: 99, max_t: 100 })
    );
    assert_eq!(c.num_samples(), 1);
}

#[test]
fn from_bytes_rejects_bad_headers_and_truncation() {
    assert_eq!(
        Chunk::from_bytes(vec![]).unwrap_err(),
        ChunkError::HeaderTooShort
    );
    assert_eq!(
        Chunk::from_bytes(vec![0x70, 0, 0, 0]).unwrap_err(),
        ChunkError::UnknownEncoding(0x70)
    );
    assert_eq!(
        Chunk::from_bytes(vec![0x10, 1, 0, 0]).unwrap_err(),
        ChunkError::Corrupt("invalid shift byte")
    );
    assert_eq!(
        Chunk::from_bytes(vec![0x2f, 0, 0, 0]).unwrap_err(),
        ChunkError::UnknownEncoding(0x2f)
    );
    let c = build(
        &(0..30)
            .map(|i| (i * 15_000, i as f64 / 7.0))
            .collect::<Vec<_>>(),
    );
    let b = c.bytes();
    for len in 0..b.len() {
        assert!(
            Chunk::from_bytes(b[..len].to_vec()).is_err(),
            "prefix {len} accepted"
        );
    }
    let mut extra = b.to_vec();
    extra.push(0);
    assert_eq!(
        Chunk::from_bytes(extra).unwrap_err(),
        ChunkError::TrailingBytes(1)
    );
}

/// Samples about 15 s apart whose values mix the kinds real series have
/// (integers, decimals, stale markers, thirds, huge and tiny numbers), from
/// proptest's `(interval, kind, magnitude)` triples.
fn mixed_samples(steps: &[(i64, u8, i64)]) -> Vec<(i64, f64)> {
    let mut t = 1_700_000_000_000i64;
    let mut s = Vec::new();
    for &(dt, kind, n) in steps {
        t += dt;
        let v = match kind {
            0 => n as f64,
            1 => n as f64 / 100.0,
            2 => f64::from_bits(STALE_NAN_BITS),
            3 => n as f64 / 3.0,
            4 => n as f64 * 1e12,
            _ => n as f64 / 1e9,
        };
        s.push((t, v));
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prop_round_trip_arbitrary_bits(
        start in any::<i64>(),
        steps in proptest::collection::vec((1i64..1_000_000_000, any::<u64>()), 0..300),
    ) {
        let mut t = start;
        let mut s = Vec::new();
        for (dt, bits) in steps {
            let Some(next) = t.checked_add(dt) else { break };
            t = next;
            s.push((t, f64::from_bits(bits)));
        }
        check_round_trip(&s);
    }

    #[test]
    fn prop_round_trip_mixed_values(
        steps in proptest::collection::vec((14_990i64..15_010, 0u8..6, -1000i64..1000), 0..300),
    ) {
        let s = mixed_samples(&steps);
        check_round_trip(&s);
    }

    #[test]
    fn prop_decode_from_is_a_suffix_holding_the_newer_samples(
        steps in proptest::collection::vec((14_990i64..15_010, 0u8..6, -1000i64..1000), 1..300),
        cut in 0usize..300,
    ) {
        let s = mixed_samples(&steps);
        let c = build(&s);
        let min_t = s[cut % s.len()].0;
        let bits = |v: &[(i64, f64)]| v.iter().map(|&(t, v)| (t, v.to_bits())).collect::<Vec<_>>();
        let mut all = Vec::new();
        c.decode_into(&mut all).unwrap();
        let mut part = Vec::new();
        c.decode_from(min_t, &mut part).unwrap();
        prop_assert_eq!(bits(&all[all.len() - part.len()..]), bits(&part));
        prop_assert!(part.len() >= s.iter().filter(|p| p.0 >= min_t).count());
        // A read copy made for min_t answers the same from min_t or later.
        let copy = c.clone_for_read(min_t);
        for from in [min_t, min_t.saturating_add(30_000)] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            c.decode_from(from, &mut a).unwrap();
            copy.decode_from(from, &mut b).unwrap();
            let keep = |v: Vec<(i64, f64)>| bits(&v.into_iter().filter(|p| p.0 >= from).collect::<Vec<_>>());
            prop_assert_eq!(keep(a), keep(b));
        }
    }

    #[test]
    fn prop_from_bytes_arbitrary_never_panics(b in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(c) = Chunk::from_bytes(b.clone()) {
            prop_assert_eq!(c.iter().filter(|r| r.is_ok()).count(), c.num_samples());
            prop_assert_eq!(c.bytes(), &b[..]);
        }
    }

    #[test]
    fn prop_mutated_chunk_never_panics(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed);
        let s: Vec<_> = (0..120).map(|i| (i * 15_000 + rng.jitter(5), rng.next() as f64)).collect();
        let mut b = build(&s).into_bytes();
        let len = b.len();
        for (pos, x) in flips {
            b[pos % len] ^= x;
        }
        if let Ok(c) = Chunk::from_bytes(b.clone()) {
            let _ = c.iter().count();
        }
        // The query path wraps bytes unchecked: the batch decoder must agree
        // with the iterator on the samples before any damage.
        if let Ok(c) = Chunk::from_bytes_unchecked(b, 0, 0) {
            let good: Vec<(i64, u64)> = c
                .iter()
                .map_while(Result::ok)
                .map(|(t, v)| (t, v.to_bits()))
                .collect();
            let mut out = Vec::new();
            let res = c.decode_into(&mut out);
            let got: Vec<(i64, u64)> = out.iter().map(|&(t, v)| (t, v.to_bits())).collect();
            prop_assert_eq!(got, good);
            prop_assert_eq!(res.is_ok(), c.iter().all(|r| r.is_ok()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Synthetic workload report.

/// splitmix64: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn jitter(&mut self, j: i64) -> i64 {
        if j == 0 {
            0
        } else {
            self.below(2 * j as u64 + 1) as i64 - j
        }
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Encoded size in bits of a Prometheus XOR chunk (2-byte count header, varint first sample,
/// uvarint first delta, dod buckets 14/17/20/64 bits, Gorilla XOR values), for comparison.
fn prometheus_xor_bits(samples: &[(i64, f64)]) -> u64 {
    fn varint_len(u: u64) -> u64 {
        8 * (((64 - u.leading_zeros()).max(1)).div_ceil(7) as u64)
    }
    let mut bits = 16;
    let (mut pt, mut pd, mut pv) = (0i64, 0i64, 0u64);
    let mut window: Option<(u32, u32)> = None;
    for (i, &(t, v)) in samples.iter().enumerate() {
        let vb = v.to_bits();
        match i {
            0 => bits += varint_len(((t << 1) ^ (t >> 63)) as u64) + 64,
            _ => {
                let d = t - pt;
                if i == 1 {
                    bits += varint_len(d as u64);
                } else {
                    let dod = d - pd;
                    bits += match dod {
                        0 => 1,
                        -8191..=8192 => 2 + 14,
                        -65535..=65536 => 3 + 17,
                        -524287..=524288 => 4 + 20,
                        _ => 4 + 64,
                    };
                }
                pd = d;
                let x = vb ^ pv;
                if x == 0 {
                    bits += 1;
                } else {
                    let (l, tr) = (x.leading_zeros().min(31), x.trailing_zeros());
                    match window {
                        Some((pl, ptr)) if l >= pl && tr >= ptr => {
                            bits += 2 + u64::from(64 - pl - ptr)
                        }
                        _ => {
                            bits += 2 + 5 + 6 + u64::from(64 - l - tr);
                            window = Some((l, tr));
                        }
                    }
                }
            }
        }
        pt = t;
        pv = vb;
    }
    bits.div_ceil(8) * 8
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// e.g. node_filesystem_size_bytes, *_info, node_memory_MemTotal_bytes.
    Constant,
    /// Integer counter growing by small random ints (0..=10) each scrape.
    SmallIntCounter,
    /// Integer counter that rarely moves (error and drop counters).
    RareCounter,
    /// Byte counter with a steady rate and noise (network/disk bytes).
    BusyByteCounter,
    /// Two-decimal seconds counter (node_cpu_seconds_total, from USER_HZ=100).
    CpuSeconds,
    /// Histogram bucket: integer counter; low buckets rarely move, high ones track the count.
    HistogramBucket,
    /// Integer gauge random walk (memory bytes in pages of 4096, open fds).
    IntGaugeWalk,
    /// Two-decimal gauge random walk (load average, temperature).
    DecimalGaugeWalk,
    /// Arbitrary float gauge random walk (computed ratios).
    FloatGaugeWalk,
}

fn series(kind: Kind, n: usize, jitter: i64, rng: &mut Rng) -> Vec<(i64, f64)> {
    let mut t = 1_700_000_000_000 + rng.below(15_000) as i64;
    let mut out = Vec::with_capacity(n);
    let mut x: f64 = match kind {
        Kind::Constant => (rng.below(1 << 40) * 4096) as f64,
        Kind::BusyByteCounter => rng.below(1 << 40) as f64,
        Kind::CpuSeconds => rng.below(10_000_000) as f64 / 100.0,
        Kind::IntGaugeWalk => (rng.below(1 << 20) * 4096) as f64,
        Kind::DecimalGaugeWalk => rng.below(400) as f64 / 100.0,
        Kind::FloatGaugeWalk => rng.unit(),
        _ => rng.below(100_000) as f64,
    };
    let bucket_rate = rng.below(4) as f64 * 0.5;
    let mut cpu_cents: i64 = (x * 100.0).round() as i64;
    let mut load_cents: i64 = (x * 100.0).round() as i64;
    for i in 0..n {
        out.push((t + rng.jitter(jitter), x));
        t += 15_000;
        let _ = i;
        x = match kind {
            Kind::Constant => x,
            Kind::SmallIntCounter => x + rng.below(11) as f64,
            Kind::RareCounter => x + if rng.below(50) == 0 { 1.0 } else { 0.0 },
            Kind::BusyByteCounter => x + (150_000 + rng.below(20_000)) as f64,
            Kind::CpuSeconds => {
                cpu_cents += 1_400 + rng.below(200) as i64;
                cpu_cents as f64 / 100.0
            }
            Kind::HistogramBucket => {
                x + if rng.unit() < bucket_rate / 2.0 {
                    rng.below(3) as f64
                } else {
                    0.0
                }
            }
            Kind::IntGaugeWalk => (x + (rng.below(65) as f64 - 32.0) * 4096.0).max(0.0),
            Kind::DecimalGaugeWalk => {
                load_cents = (load_cents + rng.below(21) as i64 - 10).max(0);
                load_cents as f64 / 100.0
            }
            Kind::FloatGaugeWalk => (x + (rng.unit() - 0.5) * 0.01).clamp(0.0, 1.0),
        };
    }
    out
}

/// (ours, prometheus) bytes per sample over `count` series of `kind`, cut into chunks.
fn measure(kind: Kind, count: usize, jitter: i64, chunk_len: usize, seed: u64) -> (f64, f64) {
    let mut rng = Rng(seed);
    let (mut ours, mut prom, mut samples) = (0u64, 0u64, 0u64);
    for _ in 0..count {
        let s = series(kind, 720, jitter, &mut rng);
        for part in s.chunks(chunk_len) {
            let c = build(part);
            assert_eq!(c.num_samples(), part.len());
            ours += c.size_bytes() as u64;
            prom += prometheus_xor_bits(part) / 8;
            samples += part.len() as u64;
        }
    }
    (ours as f64 / samples as f64, prom as f64 / samples as f64)
}

/// Series mix of a node_exporter scrape (share in percent).
const MIX: [(Kind, usize); 9] = [
    (Kind::Constant, 25),
    (Kind::RareCounter, 20),
    (Kind::HistogramBucket, 15),
    (Kind::CpuSeconds, 10),
    (Kind::BusyByteCounter, 8),
    (Kind::SmallIntCounter, 7),
    (Kind::IntGaugeWalk, 7),
    (Kind::DecimalGaugeWalk, 4),
    (Kind::FloatGaugeWalk, 4),
];

#[test]
fn report_bytes_per_sample() {
    for chunk_len in [120, 240] {
        for jitter in [0i64, 2, 10] {
            println!("chunk of {chunk_len} samples, 15s interval, timestamp jitter ±{jitter} ms:");
            let (mut ours_mix, mut prom_mix) = (0.0, 0.0);
            for (i, &(kind, share)) in MIX.iter().enumerate() {
                let (ours, prom) = measure(kind, 20, jitter, chunk_len, 42 + i as u64);
                println!("  {kind:<18?} {share:>3}%  pharos {ours:.3} B/sample   prometheus-xor {prom:.3}");
                ours_mix += ours * share as f64 / 100.0;
                prom_mix += prom * share as f64 / 100.0;
            }
            println!("  MIX                      pharos {ours_mix:.3} B/sample   prometheus-xor {prom_mix:.3}");
            assert!(ours_mix < prom_mix, "regressed against the xor baseline");
        }
    }
}

/// Decoding speed on counter- and gauge-like chunks (diagnostic:
/// `cargo test --release -p pharos-tsdb decode_speed -- --ignored --nocapture`).
#[test]
#[ignore]
fn decode_speed() {
    let mut rng = Rng(7);
    let mut chunks = Vec::new();
    for s in 0..2000 {
        let mut c = Chunk::new();
        let mut v = 0.0f64;
        for i in 0..120i64 {
            v += (rng.below(50) + s % 3) as f64;
            let g = if s % 2 == 0 {
                v
            } else {
                (rng.below(10_000) as f64) / 100.0
            };
            c.append(1_700_000_000_000 + i * 15_000 + rng.jitter(2), g);
        }
        let b = c.into_bytes();
        chunks.push(Chunk::from_bytes_unchecked(b, 0, 0).unwrap());
    }
    let mut out = Vec::with_capacity(200);
    let start = std::time::Instant::now();
    let rounds = 50;
    let mut n = 0usize;
    for _ in 0..rounds {
        for c in &chunks {
            out.clear();
            c.decode_into(&mut out).unwrap();
            n += out.len();
        }
    }
    let dt = start.elapsed();
    println!(
        "decode_into: {:.2} ns/sample over {n} samples",
        dt.as_nanos() as f64 / n as f64
    );
}

#[test]
fn saved_decoder_states_survive_a_reencode() {
    let mut c = Chunk::new();
    let mut samples = Vec::new();
    let mut v = 1000.0f64;
    for i in 0..120i64 {
        v += (i % 7) as f64;
        if i == 90 {
            // Needs a finer scale: the chunk is re-encoded.
            v += 0.5;
        }
        c.append(i * 15_000, v);
        samples.push((i * 15_000, v));
    }
    let idx: Vec<u16> = c.marks.iter().map(|m| m.idx).collect();
    assert_eq!(idx, [20, 40, 60, 80, 100, 120]);
    // Decoding from each state gives the same samples as from the start.
    let mut all = Vec::new();
    c.decode_into(&mut all).unwrap();
    assert_eq!(all, samples);
    for from in [0usize, 19, 20, 45, 99, 100, 119] {
        let mut part = Vec::new();
        c.decode_from(samples[from].0, &mut part).unwrap();
        assert_eq!(part[..], all[all.len() - part.len()..]);
        // From the newest state at or before `from`, none lost.
        assert_eq!(part.len(), 120 - from / 20 * 20, "from sample {from}");
    }
}

#[test]
fn tail_states_resume_a_closed_chunk_read_from_its_bytes() {
    let mut c = Chunk::new();
    let mut samples = Vec::new();
    for i in 0..120i64 {
        let v = (i * i) as f64 / 4.0;
        c.append(i * 15_000, v);
        samples.push((i * 15_000, v));
    }
    let states = c.tail_states(2).unwrap();
    // The state at the chunk's end has nothing left to decode.
    let idx: Vec<u16> = states.0.iter().map(|m| m.idx).collect();
    assert_eq!(idx, [80, 100]);
    let (lo, hi) = (c.min_time().unwrap(), c.max_time().unwrap());
    for from in [0usize, 60, 79, 80, 81, 99, 100, 101, 119] {
        let t = samples[from].0;
        let closed = Chunk::from_bytes_unchecked(c.bytes().to_vec(), lo, hi)
            .unwrap()
            .with_states(&states, t);
        let mut part = Vec::new();
        closed.decode_from(t, &mut part).unwrap();
        // From the newest kept state whose samples are all older than `t`.
        let start = match from {
            0..=79 => 0,
            80..=99 => 80,
            _ => 100,
        };
        assert_eq!(part[..], samples[start..], "from sample {from}");
    }
    // Too few samples for a state: none kept.
    let mut short = Chunk::new();
    for i in 0..20i64 {
        short.append(i, 1.0);
    }
    assert!(short.tail_states(2).is_none());
    assert!(Chunk::new().tail_states(2).is_none());
}
