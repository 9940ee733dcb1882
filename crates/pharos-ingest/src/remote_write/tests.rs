//! Tests of remote write decoding and validation.

use super::*;
use pharos_model::{LabelError, MetricType as ModelType};
use proptest::prelude::*;

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels.iter().map(|(n, v)| Label::new(n, v)).collect(),
        samples: samples
            .iter()
            .map(|&(t, v)| Sample {
                value: v,
                timestamp: t,
            })
            .collect(),
        ..Default::default()
    }
}

fn req(ts: Vec<TimeSeries>) -> WriteRequest {
    WriteRequest {
        timeseries: ts,
        metadata: vec![],
    }
}

fn one_rejection(ts: TimeSeries, limits: &Limits) -> Rejection {
    let v = validate(req(vec![ts]), limits);
    assert!(v.series.is_empty(), "{v:?}");
    assert_eq!(v.rejected.len(), 1);
    v.rejected[0].clone()
}

#[test]
fn round_trip_encode_decode_validate() {
    let mut ts = series(
        &[("__name__", "http_requests_total"), ("code", "200")],
        &[(1000, 1.5), (2000, 2.5)],
    );
    ts.exemplars.push(Exemplar {
        labels: vec![Label::new("trace_id", "abc")],
        value: 1.0,
        timestamp: 1500,
    });
    let mut r = req(vec![ts, series(&[("__name__", "up")], &[])]);
    r.metadata.push(MetricMetadata {
        r#type: MetricType::Counter as i32,
        metric_family_name: "http_requests_total".into(),
        help: "Requests.".into(),
        unit: "".into(),
    });
    let body = encode(&r);
    let back = decode(&body).unwrap();
    assert_eq!(back, r);
    let v = validate(back, &Limits::default());
    assert!(v.rejected.is_empty());
    assert_eq!(v.series.len(), 2);
    let s = &v.series[0];
    assert_eq!(s.labels.to_string(), r#"http_requests_total{code="200"}"#);
    assert_eq!(
        s.samples,
        vec![
            pharos_model::Sample::new(1000, 1.5),
            pharos_model::Sample::new(2000, 2.5)
        ]
    );
    assert_eq!(s.exemplars.len(), 1);
    assert_eq!(s.exemplars[0].labels.get("trace_id"), Some("abc"));
    assert_eq!(s.exemplars[0].t, Some(1500));
    // A series with zero samples is fine.
    assert!(v.series[1].samples.is_empty());
    assert_eq!(v.metadata.len(), 1);
    assert_eq!(v.metadata[0].0, "http_requests_total");
    assert_eq!(v.metadata[0].1.metric_type, ModelType::Counter);
    assert_eq!(v.metadata[0].1.help, "Requests.");
    assert!(v.error_message().is_none());
}

#[test]
fn stale_nan_survives() {
    let r = req(vec![series(
        &[("__name__", "up")],
        &[(1, pharos_model::STALE_NAN)],
    )]);
    let v = validate(decode(&encode(&r)).unwrap(), &Limits::default());
    assert!(pharos_model::is_stale_nan(v.series[0].samples[0].v));
}

#[test]
fn rejects_invalid_label_name() {
    let r = one_rejection(
        series(&[("1a", "x"), ("__name__", "m")], &[(1, 1.0)]),
        &Limits::default(),
    );
    assert_eq!(r.reason, LabelError::InvalidName("1a".into()).to_string());
    assert_eq!(r.samples, 1);
}

#[test]
fn rejects_invalid_metric_name() {
    let r = one_rejection(
        series(&[("__name__", "a-b")], &[(1, 1.0)]),
        &Limits::default(),
    );
    assert_eq!(
        r.reason,
        LabelError::InvalidMetricName("a-b".into()).to_string()
    );
}

#[test]
fn rejects_unsorted_and_duplicate() {
    let r = one_rejection(series(&[("b", "1"), ("a", "1")], &[]), &Limits::default());
    assert!(r.reason.contains("not sorted"), "{}", r.reason);
    let r = one_rejection(series(&[("a", "1"), ("a", "2")], &[]), &Limits::default());
    assert_eq!(r.reason, LabelError::Duplicate("a".into()).to_string());
}

#[test]
fn rejects_empty_value_and_empty_set() {
    let r = one_rejection(
        series(&[("__name__", "m"), ("a", "")], &[]),
        &Limits::default(),
    );
    assert_eq!(r.reason, LabelError::EmptyValue("a".into()).to_string());
    let r = one_rejection(series(&[], &[(1, 1.0)]), &Limits::default());
    assert_eq!(r.reason, LabelError::Empty.to_string());
}

#[test]
fn rejects_bad_utf8() {
    let mut ts = series(&[("__name__", "m")], &[(1, 1.0), (2, 2.0)]);
    ts.labels.push(Label {
        name: b"job".to_vec(),
        value: vec![0xff, 0xfe],
    });
    let r = one_rejection(ts, &Limits::default());
    assert_eq!(r.reason, LabelError::InvalidUtf8("job".into()).to_string());
    assert_eq!(r.samples, 2);
    let ts = TimeSeries {
        labels: vec![Label {
            name: vec![0xc3],
            value: b"v".to_vec(),
        }],
        ..Default::default()
    };
    let r = one_rejection(ts, &Limits::default());
    assert!(r.reason.starts_with("invalid label name"), "{}", r.reason);
}

#[test]
fn rejects_over_limits() {
    let ts = || {
        series(
            &[("__name__", "m"), ("long_name", "long value")],
            &[(1, 1.0)],
        )
    };
    let l = Limits {
        max_labels_per_series: 1,
        ..Default::default()
    };
    assert_eq!(
        one_rejection(ts(), &l).reason,
        LabelError::TooMany(2, 1).to_string()
    );
    let l = Limits {
        max_label_name_len: 8,
        ..Default::default()
    };
    assert_eq!(
        one_rejection(ts(), &l).reason,
        LabelError::NameTooLong("long_name".into(), 8).to_string()
    );
    let l = Limits {
        max_label_value_len: 5,
        ..Default::default()
    };
    assert_eq!(
        one_rejection(ts(), &l).reason,
        LabelError::ValueTooLong("long_name".into(), 5).to_string()
    );
    let l = Limits {
        max_labels_per_series: 2,
        max_label_name_len: 9,
        max_label_value_len: 10,
    };
    assert!(validate(req(vec![ts()]), &l).rejected.is_empty());
}

#[test]
fn partial_rejection_keeps_good_series() {
    let r = req(vec![
        series(&[("__name__", "good")], &[(1, 1.0)]),
        series(&[("1a", "x")], &[(1, 1.0), (2, 1.0)]),
        series(
            &[("__name__", "bad metric")],
            &[(1, 1.0), (2, 1.0), (3, 1.0)],
        ),
    ]);
    let v = validate(r, &Limits::default());
    assert_eq!(v.series.len(), 1);
    assert_eq!(v.rejected.len(), 2);
    assert_eq!(v.rejected_samples, 5);
    let msg = v.error_message().unwrap();
    assert_eq!(
        msg,
        r#"2 series rejected (5 samples): invalid label name "1a" in {1a="x"}; invalid metric name "bad metric" in bad metric"#
    );
}

#[test]
fn summary_is_concise() {
    let rs: Vec<Rejection> = (0..5)
        .map(|i| Rejection {
            series: format!("m{i}"),
            reason: "r".into(),
            samples: 1,
        })
        .collect();
    assert_eq!(
        summarize(&rs),
        "5 series rejected (5 samples): r in m0; r in m1; r in m2; and 2 more"
    );
    assert_eq!(summarize(&rs[..1]), "1 series rejected (1 sample): r in m0");
}

#[test]
fn long_series_is_truncated_in_rejection() {
    let long = "x".repeat(1000);
    let r = one_rejection(
        series(&[("__name__", "m"), ("a", &long), ("b", "")], &[]),
        &Limits::default(),
    );
    assert!(r.series.chars().count() <= 257);
    assert!(r.series.ends_with('…'));
}

#[test]
fn invalid_exemplars_are_dropped_and_counted() {
    let mut ts = series(&[("__name__", "m")], &[(1, 1.0)]);
    let ex = |labels: Vec<Label>| Exemplar {
        labels,
        value: 1.0,
        timestamp: 1,
    };
    ts.exemplars = vec![
        ex(vec![Label::new("trace_id", "a")]),
        ex(vec![Label::new("bad-name", "a")]),
        ex(vec![Label::new("a", "1"), Label::new("a", "2")]),
        ex(vec![Label::new("trace_id", &"f".repeat(200))]),
        ex(vec![Label {
            name: b"a".to_vec(),
            value: vec![0xff],
        }]),
        ex(vec![]),
    ];
    let v = validate(req(vec![ts]), &Limits::default());
    assert_eq!(v.series[0].exemplars.len(), 2);
    assert_eq!(v.rejected_exemplars, 4);
    assert!(v.rejected.is_empty());
}

#[test]
fn native_histograms_are_counted_not_ingested() {
    let mut ts = series(&[("__name__", "h")], &[(1, 1.0)]);
    ts.histograms.push(Histogram {
        count: Some(histogram::Count::CountInt(3)),
        sum: 2.0,
        schema: 3,
        zero_count: Some(histogram::ZeroCount::ZeroCountInt(1)),
        positive_spans: vec![BucketSpan {
            offset: -2,
            length: 2,
        }],
        positive_deltas: vec![1, 0],
        timestamp: 5,
        ..Default::default()
    });
    let r = req(vec![ts]);
    let back = decode(&encode(&r)).unwrap();
    assert_eq!(back, r);
    let v = validate(back, &Limits::default());
    assert_eq!(v.unsupported_histograms, 1);
    assert_eq!(v.series[0].samples.len(), 1);
    assert!(v.error_message().is_none());
}

#[test]
fn metadata_types_and_invalid_names() {
    let md = |t: i32, name: &str| MetricMetadata {
        r#type: t,
        metric_family_name: name.into(),
        help: String::new(),
        unit: "seconds".into(),
    };
    let r = WriteRequest {
        timeseries: vec![],
        metadata: vec![
            md(2, "g"),
            md(4, "gh"),
            md(7, "ss"),
            md(99, "unknown_enum"),
            md(1, ""),
            md(1, "a b"),
        ],
    };
    let v = validate(r, &Limits::default());
    let types: Vec<_> = v
        .metadata
        .iter()
        .map(|(n, m)| (n.as_str(), m.metric_type))
        .collect();
    assert_eq!(
        types,
        vec![
            ("g", ModelType::Gauge),
            ("gh", ModelType::GaugeHistogram),
            ("ss", ModelType::Stateset),
            ("unknown_enum", ModelType::Unknown)
        ]
    );
    assert_eq!(v.metadata[0].1.unit, "seconds");
    assert_eq!(v.rejected_metadata, 2);
}

#[test]
fn bad_snappy() {
    let e = decode(b"\xff\xff\xff\xff\xff\xff").unwrap_err();
    assert!(matches!(e, DecodeError::Snappy(_)));
    assert!(e.to_string().starts_with("snappy: corrupt input"), "{e}");
    assert_eq!(e.http_status(), 400);
    // A valid header promising 10 bytes with a truncated body.
    let e = decode(&[10, 0x24, b'a']).unwrap_err();
    assert!(e.to_string().starts_with("snappy: corrupt input"), "{e}");
    assert!(matches!(decode(b"").unwrap_err(), DecodeError::Snappy(_)));
}

#[test]
fn bad_protobuf() {
    // Field 1 (timeseries), length-delimited, claiming 100 bytes that are absent.
    let raw = [0x0a, 100, 1, 2];
    let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    let e = decode(&body).unwrap_err();
    assert!(matches!(e, DecodeError::Protobuf(_)));
    let msg = e.to_string();
    assert!(msg.starts_with("protobuf: "), "{msg}");
    assert!(msg.contains("WriteRequest.timeseries"), "{msg}");
    // Wrong wire type for a sample's value inside a series.
    let raw = [0x0a, 4, 0x12, 2, 0x08, 1];
    let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    let msg = decode(&body).unwrap_err().to_string();
    assert!(msg.contains("TimeSeries.samples"), "{msg}");
    // Invalid UTF-8 in metadata strings is a protobuf error.
    let raw = [0x1a, 3, 0x12, 1, 0xff];
    let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    let msg = decode(&body).unwrap_err().to_string();
    assert!(msg.contains("MetricMetadata.metric_family_name"), "{msg}");
}

#[test]
fn oversize() {
    let r = req(vec![series(
        &[("__name__", "m"), ("a", &"v".repeat(4096))],
        &[(1, 1.0)],
    )]);
    let body = encode(&r);
    let e = decode_with_limit(&body, 1024).unwrap_err();
    assert!(
        matches!(e, DecodeError::TooLarge { limit: 1024, .. }),
        "{e:?}"
    );
    assert_eq!(e.http_status(), 413);
    assert!(decode_with_limit(&body, 1 << 20).is_ok());
    // A header that announces 4 GiB is refused before any allocation.
    let e = decode(&[0x80, 0x80, 0x80, 0x80, 0x0f, 0]).unwrap_err();
    assert!(
        matches!(e, DecodeError::TooLarge { .. } | DecodeError::Snappy(_)),
        "{e:?}"
    );
}

fn label_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,12}".prop_filter("not __name__", |s| s != "__name__")
}

fn valid_series() -> impl Strategy<Value = TimeSeries> {
    (
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}",
        prop::collection::btree_map(label_name(), "\\PC{1,12}", 0..6),
        prop::collection::vec((any::<i64>(), prop::num::f64::ANY), 0..8),
    )
        .prop_map(|(name, rest, samples)| {
            let mut labels = vec![Label::new("__name__", &name)];
            labels.extend(rest.iter().map(|(n, v)| Label::new(n, v)));
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            TimeSeries {
                labels,
                samples: samples
                    .into_iter()
                    .map(|(t, v)| Sample {
                        value: v,
                        timestamp: t,
                    })
                    .collect(),
                ..Default::default()
            }
        })
}

proptest! {
    #[test]
    fn decode_arbitrary_bytes_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&body);
    }

    #[test]
    fn decode_arbitrary_protobuf_never_panics(raw in prop::collection::vec(any::<u8>(), 0..512)) {
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        if let Ok(r) = decode(&body) {
            let _ = validate(r, &Limits::default());
        }
    }

    #[test]
    fn round_trip_valid_requests(ts in prop::collection::vec(valid_series(), 0..6)) {
        let r = req(ts);
        let back = decode(&encode(&r)).unwrap();
        // Compare through bits so that NaN samples compare equal; prost, like
        // any proto3 encoder, drops a zero value, so -0.0 comes back as 0.0.
        prop_assert_eq!(back.timeseries.len(), r.timeseries.len());
        for (a, b) in back.timeseries.iter().zip(&r.timeseries) {
            prop_assert_eq!(&a.labels, &b.labels);
            let bits = |s: &[Sample]| {
                s.iter()
                    .map(|s| (s.timestamp, if s.value == 0.0 { 0 } else { s.value.to_bits() }))
                    .collect::<Vec<_>>()
            };
            prop_assert_eq!(bits(&a.samples), bits(&b.samples));
        }
        let v = validate(back, &Limits::default());
        prop_assert!(v.rejected.is_empty(), "{:?}", v.rejected);
        prop_assert_eq!(v.series.len(), r.timeseries.len());
        for (s, t) in v.series.iter().zip(&r.timeseries) {
            prop_assert_eq!(s.labels.len(), t.labels.len());
            prop_assert_eq!(s.samples.len(), t.samples.len());
        }
    }
}
