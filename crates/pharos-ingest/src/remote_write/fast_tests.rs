//! Tests of the zero-copy decoder: equivalence with `decode_protobuf` +
//! `validate` (accepted series, rejections, counts, and prost's exact error
//! messages), unknown fields, errors late in a body, and a micro benchmark.

use super::validate::check_pairs;
use super::*;
use pharos_model::{validate_slice, STALE_NAN};
use proptest::prelude::*;
use prost::Message;

/// A comparable account of one path's result; floats as bits so NaNs compare.
#[derive(Debug, PartialEq)]
struct Outcome {
    series: Vec<Norm>,
    metadata: Vec<(String, pharos_model::MetricMetadata)>,
    rejected: Vec<Rejection>,
    counts: [usize; 4],
}

type NormExemplar = (String, u64, Option<i64>);
type Norm = (Vec<(String, String)>, Vec<(i64, u64)>, Vec<NormExemplar>);

fn norm(
    labels: Vec<(String, String)>,
    s: &[pharos_model::Sample],
    e: &[pharos_model::Exemplar],
) -> Norm {
    (
        labels,
        s.iter().map(|s| (s.t, s.v.to_bits())).collect(),
        e.iter()
            .map(|e| (e.labels.to_string(), e.value.to_bits(), e.t))
            .collect(),
    )
}

/// The reference: prost, then `validate`.
fn slow(raw: &[u8], limits: &Limits) -> Result<Outcome, DecodeError> {
    let v = validate(decode_protobuf(raw)?, limits);
    Ok(Outcome {
        series: v
            .series
            .iter()
            .map(|s| {
                let l = s.labels.iter().map(|l| (l.name.clone(), l.value.clone()));
                norm(l.collect(), &s.samples, &s.exemplars)
            })
            .collect(),
        metadata: v.metadata,
        rejected: v.rejected,
        counts: [
            v.rejected_samples,
            v.rejected_exemplars,
            v.rejected_metadata,
            v.unsupported_histograms,
        ],
    })
}

/// The zero-copy path, checking on the way that the visitor sees valid labels.
fn fast(raw: &[u8], limits: &Limits) -> Result<(Outcome, usize), DecodeError> {
    let mut series = Vec::new();
    let s = visit_write_request(raw, limits, |v| {
        assert!(check_pairs(v.labels).is_ok(), "{:?}", v.labels);
        let l = v
            .labels
            .iter()
            .map(|&(n, v)| (n.to_string(), v.to_string()));
        series.push(norm(l.collect(), v.samples, v.exemplars));
    })?;
    assert_eq!(s.error_message().is_some(), !s.rejected.is_empty());
    let out = Outcome {
        series,
        metadata: s.metadata,
        rejected: s.rejected,
        counts: [
            s.rejected_samples,
            s.rejected_exemplars,
            s.rejected_metadata,
            s.unsupported_histograms,
        ],
    };
    Ok((out, s.samples_total))
}

/// Both paths agree, errors included (same message); returns the outcome.
fn agree(raw: &[u8], limits: &Limits) -> Result<Outcome, DecodeError> {
    let f = fast(raw, limits);
    let s = slow(raw, limits);
    let expected_total =
        decode_protobuf(raw).map(|r| r.timeseries.iter().map(|t| t.samples.len()).sum::<usize>());
    match (&f, &s) {
        (Ok((fo, total)), Ok(so)) => {
            assert_eq!(fo, so);
            assert_eq!(Ok(*total), expected_total);
        }
        (Err(fe), Err(se)) => assert_eq!(fe, se),
        _ => panic!("paths disagree on {raw:02x?}:\nfast {f:?}\nslow {s:?}"),
    }
    s
}

fn name_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(vec!["__name__", "a", "b", "job", "le", "_x", "z9"])
            .prop_map(|s| s.as_bytes().to_vec()),
        2 => "[a-zA-Z_][a-zA-Z0-9_]{0,4}".prop_map(String::into_bytes),
        1 => prop::sample::select(vec!["", "1a", "a-b", "é", "__name__ "])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..4),
    ]
}

fn value_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(vec!["up", "node", "x:y", "1", "a_b"])
            .prop_map(|s| s.as_bytes().to_vec()),
        2 => "\\PC{0,6}".prop_map(String::into_bytes),
        1 => Just(Vec::new()),
        1 => prop::collection::vec(any::<u8>(), 0..4),
    ]
}

fn labels() -> impl Strategy<Value = Vec<Label>> {
    let pair = (name_bytes(), value_bytes()).prop_map(|(name, value)| Label { name, value });
    let chaos = (prop::collection::vec(pair, 0..6), 0..3u8).prop_map(|(mut v, mode)| {
        if mode > 0 {
            v.sort();
            v.dedup_by(|a, b| a.name == b.name);
        }
        v
    });
    let valid = (
        prop::option::of("[a-z_:][a-z0-9_:]{0,8}"),
        prop::collection::btree_map("[a-z_][a-z0-9_]{0,5}", "\\PC{1,6}", 0..5),
    )
        .prop_map(|(name, rest)| {
            let mut v: Vec<Label> = rest
                .iter()
                .filter(|(n, _)| n.as_str() != "__name__")
                .map(|(n, v)| Label::new(n, v))
                .collect();
            v.extend(name.map(|n| Label::new("__name__", &n)));
            v.sort();
            v
        });
    prop_oneof![valid, chaos]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => prop::num::f64::ANY,
        1 => Just(STALE_NAN),
        1 => Just(-0.0),
    ]
}

fn histogram() -> impl Strategy<Value = Histogram> {
    (
        any::<u64>(),
        float(),
        any::<i32>(),
        prop::collection::vec(any::<i64>(), 0..3),
    )
        .prop_map(|(n, sum, schema, deltas)| Histogram {
            count: Some(histogram::Count::CountInt(n)),
            sum,
            schema,
            positive_spans: vec![BucketSpan {
                offset: schema,
                length: deltas.len() as u32,
            }],
            positive_deltas: deltas,
            custom_values: vec![sum],
            ..Default::default()
        })
}

fn time_series() -> impl Strategy<Value = TimeSeries> {
    let exemplar =
        (labels(), float(), any::<i64>()).prop_map(|(labels, value, timestamp)| Exemplar {
            labels,
            value,
            timestamp,
        });
    (
        labels(),
        prop::collection::vec((float(), any::<i64>()), 0..4),
        prop::collection::vec(exemplar, 0..3),
        prop::collection::vec(histogram(), 0..2),
    )
        .prop_map(|(labels, samples, exemplars, histograms)| TimeSeries {
            labels,
            samples: samples
                .into_iter()
                .map(|(value, timestamp)| Sample { value, timestamp })
                .collect(),
            exemplars,
            histograms,
        })
}

fn write_request() -> impl Strategy<Value = WriteRequest> {
    let meta =
        (-1..9i32, name_bytes(), "\\PC{0,4}", "[a-z]{0,3}").prop_map(|(t, n, help, unit)| {
            MetricMetadata {
                r#type: t,
                metric_family_name: String::from_utf8_lossy(&n).into_owned(),
                help,
                unit,
            }
        });
    (
        prop::collection::vec(time_series(), 0..8),
        prop::collection::vec(meta, 0..3),
    )
        .prop_map(|(timeseries, metadata)| WriteRequest {
            timeseries,
            metadata,
        })
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        (0..5usize, 0..6usize, 0..6usize).prop_map(|(a, b, c)| Limits {
            max_labels_per_series: a,
            max_label_name_len: b,
            max_label_value_len: c,
        }),
    ]
}

/// Unknown fields of every wire type (a group with nested fields included).
fn unknown_fields(seed: u8) -> Vec<u8> {
    let mut b = Vec::new();
    let t = 20 + u32::from(seed % 8);
    prost::encoding::encode_key(t, prost::encoding::WireType::Varint, &mut b);
    prost::encoding::encode_varint(u64::from(seed) << 40, &mut b);
    prost::encoding::encode_key(t + 1, prost::encoding::WireType::SixtyFourBit, &mut b);
    b.extend_from_slice(&[seed; 8]);
    prost::encoding::encode_key(t + 2, prost::encoding::WireType::ThirtyTwoBit, &mut b);
    b.extend_from_slice(&[seed; 4]);
    prost::encoding::encode_key(t + 3, prost::encoding::WireType::LengthDelimited, &mut b);
    b.extend_from_slice(&[3, seed, seed, seed]);
    prost::encoding::encode_key(t + 4, prost::encoding::WireType::StartGroup, &mut b);
    prost::encoding::encode_key(1, prost::encoding::WireType::Varint, &mut b);
    b.push(seed & 0x7f);
    prost::encoding::encode_key(2, prost::encoding::WireType::StartGroup, &mut b);
    prost::encoding::encode_key(2, prost::encoding::WireType::EndGroup, &mut b);
    prost::encoding::encode_key(t + 4, prost::encoding::WireType::EndGroup, &mut b);
    b
}

/// Encodes `msg` with unknown fields around each of its parts, recursing into
/// labels and samples: a request prost decodes to the same message.
fn len_field(tag: u32, payload: &[u8], out: &mut Vec<u8>) {
    prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, out);
    prost::encoding::encode_varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

fn encode_with_unknowns(r: &WriteRequest, seed: u8) -> Vec<u8> {
    let mut out = unknown_fields(seed);
    for (i, ts) in r.timeseries.iter().enumerate() {
        let s = seed.wrapping_add(i as u8);
        let mut t = unknown_fields(s);
        for l in &ts.labels {
            let mut lb = l.encode_to_vec();
            lb.splice(0..0, unknown_fields(s.wrapping_mul(3)));
            lb.extend(unknown_fields(s ^ 0x55));
            len_field(1, &lb, &mut t);
        }
        for x in &ts.samples {
            let mut sb = unknown_fields(s.wrapping_add(7));
            sb.extend(x.encode_to_vec());
            len_field(2, &sb, &mut t);
        }
        for e in &ts.exemplars {
            len_field(3, &e.encode_to_vec(), &mut t);
        }
        for h in &ts.histograms {
            len_field(4, &h.encode_to_vec(), &mut t);
        }
        t.extend(unknown_fields(s.wrapping_add(1)));
        len_field(1, &t, &mut out);
        out.extend(unknown_fields(s.wrapping_add(2)));
    }
    for m in &r.metadata {
        len_field(3, &m.encode_to_vec(), &mut out);
    }
    out
}

fn simple_series(i: usize) -> TimeSeries {
    TimeSeries {
        labels: vec![
            Label::new("__name__", "http_requests_total"),
            Label::new("code", "200"),
            Label::new("instance", &format!("host-{}:9100", i % 97)),
            Label::new("job", "node"),
            Label::new("method", "GET"),
            Label::new("path", &format!("/api/v1/item/{i}")),
        ],
        samples: vec![Sample {
            value: i as f64,
            timestamp: 1_700_000_000_000 + i as i64,
        }],
        ..Default::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn fast_equivalent_to_prost_and_validate(r in write_request(), l in limits()) {
        let body = encode(&r);
        let raw = decompress(&body, DEFAULT_MAX_DECOMPRESSED).unwrap();
        prop_assert!(agree(&raw, &l).is_ok());
    }

    #[test]
    fn fast_arbitrary_bytes_agree(raw in prop::collection::vec(any::<u8>(), 0..256), l in limits()) {
        let _ = agree(&raw, &l);
    }

    #[test]
    fn fast_mutated_requests_agree(
        r in write_request(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..4u8), 1..4),
        seed in any::<u8>(),
    ) {
        let mut raw = encode_with_unknowns(&r, seed);
        for (at, byte, op) in edits {
            if raw.is_empty() {
                break;
            }
            let i = at.index(raw.len());
            match op {
                0 => raw[i] = byte,
                1 => raw.insert(i, byte),
                2 => { raw.remove(i); }
                _ => raw.truncate(i),
            }
        }
        let _ = agree(&raw, &Limits::default());
    }

    #[test]
    fn fast_skips_unknown_fields_everywhere(r in write_request(), seed in any::<u8>()) {
        let raw = encode_with_unknowns(&r, seed);
        let with = agree(&raw, &Limits::default());
        let without = slow(&r.encode_to_vec(), &Limits::default());
        prop_assert_eq!(with, without);
    }

    #[test]
    fn check_pairs_matches_validate_slice(
        v in prop::collection::vec(("[_a-c1é-]{0,3}", "[ab:-]{0,2}"), 0..5)
    ) {
        let pairs: Vec<(&str, &str)> = v.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let labels: Vec<pharos_model::Label> = v
            .iter()
            .map(|(name, value)| pharos_model::Label { name: name.clone(), value: value.clone() })
            .collect();
        prop_assert_eq!(check_pairs(&pairs), validate_slice(&labels));
    }
}

#[test]
fn unknown_fields_of_each_wire_type_are_skipped() {
    let r = WriteRequest {
        timeseries: vec![simple_series(1), simple_series(2)],
        metadata: vec![],
    };
    let raw = encode_with_unknowns(&r, 9);
    assert_ne!(raw, r.encode_to_vec());
    let out = agree(&raw, &Limits::default()).unwrap();
    assert_eq!(out.series.len(), 2);
    assert_eq!(out.series[0].0[2].1, "host-1:9100");
    assert_eq!(out.series[1].1, vec![(1_700_000_000_002, 2f64.to_bits())]);
    assert!(out.rejected.is_empty());
}

#[test]
fn wire_type_mismatch_and_groups_match_prost() {
    let ts = simple_series(0).encode_to_vec();
    let mut cases: Vec<Vec<u8>> = vec![
        vec![0x08, 0x01],                         // timeseries as a varint
        vec![0x0b, 0x0c],                         // timeseries as a group
        vec![0x0c],                               // lone end group
        vec![0x13, 0x14],                         // reserved tag 2 as an empty group: skipped
        vec![0x13, 0x1c],                         // group closed by another tag
        vec![0x07],                               // wire type 7
        vec![0x00],                               // tag 0
        vec![0x80, 0x80, 0x80, 0x80, 0x10],       // key above u32::MAX
        vec![0x0a, 0x02, 0x0a, 0x05],             // label longer than its series
        vec![0x0a, 0x03, 0x12, 0x01, 0x08],       // sample timestamp past the sample
        vec![0x0a, 0x04, 0x12, 0x02, 0x08, 0x01], // sample longer than its series
        vec![0x0a, 0x02, 0x12, 0x00, 0x0a],       // trailing truncated key
        vec![0x0a, 0x03, 0x12, 0x01, 0x0a],       // sample value as bytes
        vec![0x1a, 0x02, 0x12, 0x01, 0xff],       // metadata name truncated
        vec![0x1a, 0x03, 0x12, 0x01, 0xff],       // metadata name not UTF-8
        vec![0x1a, 0x02, 0x08, 0x80],             // metadata type: bad varint
    ];
    // Histogram with packed doubles not a multiple of 8 bytes.
    cases.push(vec![0x0a, 0x06, 0x22, 0x04, 0x6a, 0x02, 0x00, 0x00]);
    cases.push(vec![
        0x0a, 0x06, 0x22, 0x04, 0x6a, 0x02, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 7, 8,
    ]);
    // Groups nested beyond prost's recursion limit, and just within it.
    for depth in [98usize, 99, 100, 101] {
        let mut g = vec![0x13; depth];
        g.extend(vec![0x14; depth]);
        cases.push(g);
    }
    for depth in [98usize, 99, 100] {
        let mut inner = vec![0x2b; depth];
        inner.extend(vec![0x2c; depth]);
        let mut g = vec![0x0a];
        prost::encoding::encode_varint(inner.len() as u64, &mut g);
        g.extend(inner);
        cases.push(g);
    }
    let mut late = ts.clone();
    late.extend([0x0a, 0x01, 0x22, 0x09, 0x01]);
    cases.push(late);
    for raw in &cases {
        let _ = agree(raw, &Limits::default());
    }
    assert!(agree(&[0x13, 0x14], &Limits::default()).is_ok());
    let deep = [vec![0x13; 101], vec![0x14; 101]].concat();
    let e = agree(&deep, &Limits::default()).unwrap_err();
    assert_eq!(e.to_string(), "protobuf: recursion limit reached");
    let e = agree(&[0x08, 0x01], &Limits::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "protobuf: WriteRequest.timeseries: invalid wire type: Varint (expected LengthDelimited)"
    );
}

#[test]
fn syntax_error_late_in_body_means_no_visit() {
    let r = WriteRequest {
        timeseries: (0..200).map(simple_series).collect(),
        metadata: vec![],
    };
    let mut raw = r.encode_to_vec();
    // One more series whose single label claims more bytes than remain.
    raw.extend([0x0a, 0x04, 0x0a, 0x02, 0x0a, 0x09]);
    let mut visited = 0;
    let e = visit_write_request(&raw, &Limits::default(), |_| visited += 1).unwrap_err();
    assert_eq!(visited, 0);
    assert_eq!(
        e,
        decode_protobuf(&raw).unwrap_err(),
        "same error as the prost path"
    );
    assert!(
        e.to_string()
            .contains("TimeSeries.labels: WriteRequest.timeseries"),
        "{e}"
    );
}

#[test]
fn decompress_limits_like_decode() {
    let body = encode(&WriteRequest {
        timeseries: vec![simple_series(0)],
        metadata: vec![],
    });
    assert!(matches!(
        decompress(&body, 10),
        Err(DecodeError::TooLarge { limit: 10, .. })
    ));
    assert_eq!(
        decompress(&body, 10),
        decode_with_limit(&body, 10).map(|_| vec![])
    );
    assert!(matches!(
        decompress(b"\xff\xff\xff", 1 << 20),
        Err(DecodeError::Snappy(_))
    ));
    let raw = decompress(&body, 1 << 20).unwrap();
    let mut n = 0;
    let s = visit_write_request(&raw, &Limits::default(), |v| {
        assert_eq!(v.labels[0], ("__name__", "http_requests_total"));
        n += 1;
    })
    .unwrap();
    assert_eq!((n, s.samples_total, s.error_message()), (1, 1, None));
}

/// `cargo test --release -p pharos-ingest fast_micro_benchmark -- --ignored --nocapture`
#[test]
#[ignore]
fn fast_micro_benchmark() {
    let r = WriteRequest {
        timeseries: (0..2000).map(simple_series).collect(),
        metadata: vec![],
    };
    let body = encode(&r);
    let rounds = 1000;
    let limits = Limits::default();
    let t = std::time::Instant::now();
    let mut n = 0usize;
    for _ in 0..rounds {
        let v = validate(decode(&body).unwrap(), &limits);
        n += v.series.len();
    }
    let slow = t.elapsed();
    let t = std::time::Instant::now();
    let mut m = 0usize;
    for _ in 0..rounds {
        let raw = decompress(&body, DEFAULT_MAX_DECOMPRESSED).unwrap();
        visit_write_request(&raw, &limits, |_| m += 1).unwrap();
    }
    let fast = t.elapsed();
    assert_eq!(n, m);
    let raw = decompress(&body, DEFAULT_MAX_DECOMPRESSED).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..rounds {
        visit_write_request(&raw, &limits, |_| m += 1).unwrap();
    }
    let visit_only = t.elapsed();
    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!(
        "prost+validate: {:.0} series/s ({slow:?}); decompress+visit: {:.0} series/s ({fast:?}); \
         {:.2}x; visit alone (no decompression): {:.0} series/s",
        rate(slow),
        rate(fast),
        slow.as_secs_f64() / fast.as_secs_f64(),
        rate(visit_only)
    );
}
