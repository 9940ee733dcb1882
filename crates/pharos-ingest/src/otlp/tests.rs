//! Tests of OTLP decoding and conversion: one per mapping rule.

use super::*;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use pharos_model::{is_stale_nan, Labels, MetricType, Sample};
use proptest::prelude::*;
use prost::Message;

const T: u64 = 1_700_000_000_123_456_789;
const MS: i64 = 1_700_000_000_123;
const CUMULATIVE: i32 = 2;
const DELTA: i32 = 1;

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.into()))
}

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    version: "1".into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        description: format!("{name} help"),
        data: Some(data),
        ..Default::default()
    }
}

fn point(attrs: Vec<KeyValue>, t: u64, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: t,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn gauge(points: Vec<NumberDataPoint>) -> Data {
    Data::Gauge(Gauge {
        data_points: points,
    })
}

fn sum(points: Vec<NumberDataPoint>, monotonic: bool, temporality: i32) -> Data {
    Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: temporality,
        is_monotonic: monotonic,
    })
}

fn run(req: &ExportMetricsServiceRequest) -> Converted {
    let out = convert(req, &OtlpOptions::default());
    for (l, _, ex) in &out.series {
        l.validate().unwrap_or_else(|e| panic!("{l}: {e}"));
        for e in ex {
            assert!(
                e.labels.validate().is_ok() || e.labels.is_empty(),
                "{}",
                e.labels
            );
        }
    }
    out
}

fn one(m: Metric) -> Converted {
    run(&request(vec![], vec![m]))
}

/// The series printed as Prometheus does, with its samples.
fn printed(out: &Converted) -> Vec<(String, Vec<Sample>)> {
    out.series
        .iter()
        .map(|(l, s, _)| (l.to_string(), s.clone()))
        .collect()
}

fn get<'a>(
    out: &'a Converted,
    series: &str,
) -> &'a (Labels, Vec<Sample>, Vec<pharos_model::Exemplar>) {
    out.series
        .iter()
        .find(|(l, _, _)| l.to_string() == series)
        .unwrap_or_else(|| panic!("no {series} in {:#?}", printed(out)))
}

fn value(out: &Converted, series: &str) -> f64 {
    let s = &get(out, series).1;
    assert_eq!(s.len(), 1, "{series}");
    assert_eq!(s[0].t, MS);
    s[0].v
}

#[test]
fn gauge_name_attributes_and_time() {
    let out = one(metric(
        "system.cpu-load.avg",
        "",
        gauge(vec![point(vec![s("host.name", "a")], T, 0.5)]),
    ));
    assert_eq!(
        printed(&out),
        vec![(
            r#"system_cpu_load_avg{host_name="a"}"#.to_string(),
            vec![Sample::new(MS, 0.5)]
        )]
    );
    assert_eq!(out.rejected_points, 0);
    assert!(out.messages.is_empty());
    assert_eq!(out.metadata[0].0, "system_cpu_load_avg");
    assert_eq!(out.metadata[0].1.metric_type, MetricType::Gauge);
    assert_eq!(out.metadata[0].1.help, "system.cpu-load.avg help");
}

#[test]
fn monotonic_cumulative_sum_is_counter_with_total() {
    let mut p = point(vec![], T, 0.0);
    p.value = Some(number_data_point::Value::AsInt(42));
    let out = one(metric(
        "http.server.requests",
        "{request}",
        sum(vec![p], true, CUMULATIVE),
    ));
    assert_eq!(value(&out, "http_server_requests_total"), 42.0);
    assert_eq!(
        out.metadata[0],
        (
            "http_server_requests_total".into(),
            pharos_model::MetricMetadata {
                metric_type: MetricType::Counter,
                help: "http.server.requests help".into(),
                unit: String::new(),
            }
        )
    );
}

#[test]
fn non_monotonic_sum_is_gauge() {
    let out = one(metric(
        "queue.size",
        "{item}",
        sum(vec![point(vec![], T, 3.0)], false, CUMULATIVE),
    ));
    assert_eq!(value(&out, "queue_size"), 3.0);
    assert_eq!(out.metadata[0].1.metric_type, MetricType::Gauge);
}

#[test]
fn unit_suffixes() {
    let cases = [
        ("req.duration", "s", "req_duration_seconds"),
        ("mem.used", "By", "mem_used_bytes"),
        ("latency", "ms", "latency_milliseconds"),
        ("cpu.utilization", "1", "cpu_utilization_ratio"),
        ("net.io", "By/s", "net_io_bytes_per_second"),
        ("conns", "{connection}", "conns"),
        ("size_bytes", "By", "size_bytes"),
    ];
    for (name, unit, want) in cases {
        let out = one(metric(name, unit, gauge(vec![point(vec![], T, 1.0)])));
        assert_eq!(out.series[0].0.to_string(), want, "{name} {unit}");
    }
    let out = one(metric("mem.used", "By", gauge(vec![point(vec![], T, 1.0)])));
    assert_eq!(out.metadata[0].1.unit, "bytes");
    // Counters get the unit before _total; "1" adds nothing to a counter.
    let out = one(metric(
        "io",
        "By",
        sum(vec![point(vec![], T, 1.0)], true, CUMULATIVE),
    ));
    assert_eq!(out.series[0].0.to_string(), "io_bytes_total");
    let out = one(metric(
        "errors",
        "1",
        sum(vec![point(vec![], T, 1.0)], true, CUMULATIVE),
    ));
    assert_eq!(out.series[0].0.to_string(), "errors_total");
}

#[test]
fn suffixes_can_be_turned_off() {
    let req = request(
        vec![],
        vec![metric(
            "req.duration",
            "s",
            sum(vec![point(vec![], T, 1.0)], true, CUMULATIVE),
        )],
    );
    let opts = OtlpOptions {
        add_metric_suffixes: false,
        ..Default::default()
    };
    let out = convert(&req, &opts);
    assert_eq!(out.series[0].0.to_string(), "req_duration");
}

#[test]
fn histogram_buckets_sum_count() {
    let p = HistogramDataPoint {
        attributes: vec![s("route", "/")],
        time_unix_nano: T,
        count: 10,
        sum: Some(4.5),
        bucket_counts: vec![1, 2, 3, 4],
        explicit_bounds: vec![0.005, 0.5, 1.0],
        ..Default::default()
    };
    let out = one(metric(
        "http.server.duration",
        "s",
        Data::Histogram(Histogram {
            data_points: vec![p],
            aggregation_temporality: CUMULATIVE,
        }),
    ));
    let n = "http_server_duration_seconds";
    assert_eq!(
        value(&out, &format!(r#"{n}_bucket{{le="0.005", route="/"}}"#)),
        1.0
    );
    assert_eq!(
        value(&out, &format!(r#"{n}_bucket{{le="0.5", route="/"}}"#)),
        3.0
    );
    assert_eq!(
        value(&out, &format!(r#"{n}_bucket{{le="1", route="/"}}"#)),
        6.0
    );
    assert_eq!(
        value(&out, &format!(r#"{n}_bucket{{le="+Inf", route="/"}}"#)),
        10.0
    );
    assert_eq!(value(&out, &format!(r#"{n}_sum{{route="/"}}"#)), 4.5);
    assert_eq!(value(&out, &format!(r#"{n}_count{{route="/"}}"#)), 10.0);
    assert_eq!(out.series.len(), 6);
    assert_eq!(
        out.metadata,
        vec![(
            n.to_string(),
            pharos_model::MetricMetadata {
                metric_type: MetricType::Histogram,
                help: "http.server.duration help".into(),
                unit: "seconds".into(),
            }
        )]
    );
}

#[test]
fn histogram_without_buckets_or_sum() {
    let p = HistogramDataPoint {
        time_unix_nano: T,
        count: 3,
        ..Default::default()
    };
    let out = one(metric(
        "h",
        "",
        Data::Histogram(Histogram {
            data_points: vec![p],
            aggregation_temporality: CUMULATIVE,
        }),
    ));
    assert_eq!(value(&out, r#"h_bucket{le="+Inf"}"#), 3.0);
    assert_eq!(value(&out, "h_count"), 3.0);
    assert_eq!(out.series.len(), 2, "no _sum when the sum is unknown");
}

#[test]
fn malformed_histograms_are_rejected() {
    let bad_len = HistogramDataPoint {
        time_unix_nano: T,
        count: 3,
        bucket_counts: vec![1, 2],
        explicit_bounds: vec![1.0, 2.0],
        ..Default::default()
    };
    let bad_order = HistogramDataPoint {
        time_unix_nano: T,
        count: 3,
        bucket_counts: vec![1, 1, 1],
        explicit_bounds: vec![2.0, 1.0],
        ..Default::default()
    };
    let out = one(metric(
        "h",
        "",
        Data::Histogram(Histogram {
            data_points: vec![bad_len, bad_order],
            aggregation_temporality: CUMULATIVE,
        }),
    ));
    assert!(out.series.is_empty());
    assert_eq!(out.rejected_points, 2);
    assert_eq!(
        out.messages,
        vec![
            r#"metric "h": histogram has 2 bucket counts for 2 explicit bounds"#.to_string(),
            r#"metric "h": histogram bounds are not increasing"#.to_string(),
        ]
    );
}

#[test]
fn summary_quantiles_sum_count() {
    let p = SummaryDataPoint {
        time_unix_nano: T,
        count: 7,
        sum: 12.5,
        quantile_values: vec![
            ValueAtQuantile {
                quantile: 0.5,
                value: 1.0,
            },
            ValueAtQuantile {
                quantile: 0.99,
                value: 3.0,
            },
        ],
        ..Default::default()
    };
    let out = one(metric(
        "rpc.latency",
        "ms",
        Data::Summary(Summary {
            data_points: vec![p],
        }),
    ));
    let n = "rpc_latency_milliseconds";
    assert_eq!(value(&out, &format!(r#"{n}{{quantile="0.5"}}"#)), 1.0);
    assert_eq!(value(&out, &format!(r#"{n}{{quantile="0.99"}}"#)), 3.0);
    assert_eq!(value(&out, &format!("{n}_sum")), 12.5);
    assert_eq!(value(&out, &format!("{n}_count")), 7.0);
    assert_eq!(out.metadata[0].1.metric_type, MetricType::Summary);
}

fn exp_point(scale: i32) -> ExponentialHistogramDataPoint {
    ExponentialHistogramDataPoint {
        time_unix_nano: T,
        count: 12,
        sum: Some(3.0),
        scale,
        zero_count: 2,
        zero_threshold: 0.0,
        positive: Some(Buckets {
            offset: -1,
            bucket_counts: vec![1, 2, 3],
        }),
        negative: Some(Buckets {
            offset: 0,
            bucket_counts: vec![4, 2],
        }),
        ..Default::default()
    }
}

#[test]
fn exponential_histogram_to_classic_buckets() {
    let out = one(metric(
        "e",
        "",
        Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![exp_point(0)],
            aggregation_temporality: CUMULATIVE,
        }),
    ));
    // Scale 0: base 2. Negative index 1 = [-4,-2) -> le=-2 (2), index 0 = [-2,-1) -> le=-1 (4);
    // zero -> le=0 (2); positive offset -1: (0.5,1] le=1, (1,2] le=2, (2,4] le=4.
    let want = [
        ("-2", 2.0),
        ("-1", 6.0),
        ("0", 8.0),
        ("1", 9.0),
        ("2", 11.0),
        ("4", 14.0),
        ("+Inf", 12.0),
    ];
    for (le, v) in want {
        assert_eq!(
            value(&out, &format!(r#"e_bucket{{le="{le}"}}"#)),
            v,
            "le={le}"
        );
    }
    assert_eq!(value(&out, "e_sum"), 3.0);
    assert_eq!(value(&out, "e_count"), 12.0);
    assert_eq!(out.series.len(), want.len() + 2);
    assert_eq!(out.metadata[0].1.metric_type, MetricType::Histogram);
}

#[test]
fn exponential_histogram_scales_and_zero_threshold() {
    let mut p = exp_point(1);
    p.negative = None;
    p.zero_threshold = 0.25;
    let out = one(metric(
        "e",
        "",
        Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![p],
            aggregation_temporality: CUMULATIVE,
        }),
    ));
    // Scale 1: base sqrt(2); positive offset -1 -> upper bounds 2^0, 2^0.5, 2^1.
    assert_eq!(value(&out, r#"e_bucket{le="0.25"}"#), 2.0);
    assert_eq!(value(&out, r#"e_bucket{le="1"}"#), 3.0);
    assert_eq!(
        value(&out, &format!(r#"e_bucket{{le="{}"}}"#, 2f64.sqrt())),
        5.0
    );
    assert_eq!(value(&out, r#"e_bucket{le="2"}"#), 8.0);
    let p = exp_point(21);
    let out = one(metric(
        "e",
        "",
        Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![p],
            aggregation_temporality: CUMULATIVE,
        }),
    ));
    assert_eq!(out.rejected_points, 1);
    assert!(out.messages[0].contains("scale 21"), "{:?}", out.messages);
}

#[test]
fn delta_temporality_is_rejected() {
    let req = request(
        vec![],
        vec![
            metric(
                "d",
                "",
                sum(
                    vec![point(vec![], T, 1.0), point(vec![], T + 1, 2.0)],
                    true,
                    DELTA,
                ),
            ),
            metric(
                "dh",
                "",
                Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        time_unix_nano: T,
                        count: 1,
                        ..Default::default()
                    }],
                    aggregation_temporality: DELTA,
                }),
            ),
            metric(
                "de",
                "",
                Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![exp_point(0)],
                    aggregation_temporality: DELTA,
                }),
            ),
            metric("ok", "", gauge(vec![point(vec![], T, 1.0)])),
        ],
    );
    let out = run(&req);
    assert_eq!(
        printed(&out),
        vec![("ok".to_string(), vec![Sample::new(MS, 1.0)])]
    );
    assert_eq!(out.rejected_points, 4);
    assert_eq!(
        out.messages[0],
        r#"metric "d": delta temporality is not supported; configure the exporter for cumulative temporality"#
    );
    assert_eq!(out.messages.len(), 3);
    assert_eq!(out.metadata.len(), 1, "no metadata for refused metrics");
}

#[test]
fn unspecified_temporality_is_rejected() {
    let out = one(metric("u", "", sum(vec![point(vec![], T, 1.0)], true, 0)));
    assert_eq!(out.rejected_points, 1);
    assert_eq!(
        out.messages,
        vec![r#"metric "u": aggregation temporality 0 is not cumulative"#.to_string()]
    );
}

#[test]
fn attribute_keys_sanitised_and_collisions_joined() {
    let attrs = vec![
        s("a_b", "y"),
        s("a.b", "x"),
        s("1st", "v"),
        s("_private", "p"),
        s("empty", ""),
        s("", "nameless"),
        kv("n", any_value::Value::IntValue(-3)),
        kv("f", any_value::Value::DoubleValue(0.25)),
        kv("b", any_value::Value::BoolValue(true)),
        kv("bytes", any_value::Value::BytesValue(b"hi!?".to_vec())),
        kv(
            "arr",
            any_value::Value::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(any_value::Value::StringValue("x".into())),
                    },
                    AnyValue {
                        value: Some(any_value::Value::IntValue(1)),
                    },
                ],
            }),
        ),
    ];
    let out = one(metric("m", "", gauge(vec![point(attrs, T, 1.0)])));
    let l = &out.series[0].0;
    assert_eq!(l.get("a_b"), Some("x;y"));
    assert_eq!(l.get("key_1st"), Some("v"));
    assert_eq!(l.get("key_private"), Some("p"));
    assert_eq!(l.get("empty"), None);
    assert_eq!(l.get("n"), Some("-3"));
    assert_eq!(l.get("f"), Some("0.25"));
    assert_eq!(l.get("b"), Some("true"));
    assert_eq!(l.get("bytes"), Some("aGkhPw=="));
    assert_eq!(l.get("arr"), Some(r#"["x",1]"#));
    assert_eq!(l.len(), 9, "eight attributes and the name");
}

#[test]
fn resource_to_job_instance_and_target_info() {
    let res = vec![
        s("service.name", "api"),
        s("service.namespace", "shop"),
        s("service.instance.id", "pod-1"),
        s("host.name", "h1"),
        s("deployment.environment", "prod"),
    ];
    let req = request(
        res,
        vec![metric(
            "m",
            "",
            gauge(vec![
                point(vec![s("job", "overridden")], T - 1_000_000_000, 1.0),
                point(vec![s("job", "overridden")], T, 2.0),
            ]),
        )],
    );
    let out = run(&req);
    let (l, samples, _) = get(&out, r#"m{instance="pod-1", job="shop/api"}"#);
    assert_eq!(
        l.get("host_name"),
        None,
        "resource attributes are not copied by default"
    );
    assert_eq!(
        samples,
        &vec![Sample::new(MS - 1000, 1.0), Sample::new(MS, 2.0)]
    );
    let info = get(
        &out,
        r#"target_info{deployment_environment="prod", host_name="h1", instance="pod-1", job="shop/api"}"#,
    );
    assert_eq!(info.1, vec![Sample::new(MS, 1.0)]);
    assert!(out
        .metadata
        .iter()
        .any(|(n, m)| n == "target_info" && m.metric_type == MetricType::Gauge));
}

#[test]
fn no_target_info_without_other_attributes() {
    let req = request(
        vec![s("service.name", "api")],
        vec![metric("m", "", gauge(vec![point(vec![], T, 1.0)]))],
    );
    let out = run(&req);
    assert_eq!(
        printed(&out),
        vec![(r#"m{job="api"}"#.to_string(), vec![Sample::new(MS, 1.0)])]
    );
    let req = request(
        vec![s("host.name", "h")],
        vec![metric("m", "", gauge(vec![point(vec![], T, 1.0)]))],
    );
    let opts = OtlpOptions {
        target_info: false,
        ..Default::default()
    };
    assert_eq!(convert(&req, &opts).series.len(), 1);
}

#[test]
fn promoted_resource_attributes() {
    let req = request(
        vec![
            s("service.name", "api"),
            s("k8s.namespace.name", "ns1"),
            s("region", "eu"),
        ],
        vec![metric(
            "m",
            "",
            gauge(vec![
                point(vec![], T, 1.0),
                point(vec![s("region", "us"), s("x", "1")], T, 1.0),
            ]),
        )],
    );
    let opts = OtlpOptions {
        promote_resource_attributes: vec!["k8s.namespace.name".into(), "region".into()],
        ..Default::default()
    };
    let out = convert(&req, &opts);
    let names: Vec<String> = out.series.iter().map(|s| s.0.to_string()).collect();
    assert!(
        names.contains(&r#"m{job="api", k8s_namespace_name="ns1", region="eu"}"#.to_string()),
        "{names:?}"
    );
    assert!(
        names
            .contains(&r#"m{job="api", k8s_namespace_name="ns1", region="us", x="1"}"#.to_string()),
        "{names:?}"
    );
}

#[test]
fn no_recorded_value_is_stale_marker() {
    let mut p = point(vec![], T, 5.0);
    p.flags = 1;
    let out = one(metric("g", "", gauge(vec![p])));
    assert!(is_stale_nan(value(&out, "g")));
    let h = HistogramDataPoint {
        time_unix_nano: T,
        count: 2,
        sum: Some(1.0),
        bucket_counts: vec![1, 1],
        explicit_bounds: vec![1.0],
        flags: 1,
        ..Default::default()
    };
    let out = one(metric(
        "h",
        "",
        Data::Histogram(Histogram {
            data_points: vec![h],
            aggregation_temporality: CUMULATIVE,
        }),
    ));
    assert_eq!(out.series.len(), 4);
    assert!(out.series.iter().all(|(_, s, _)| is_stale_nan(s[0].v)));
    let mut sp = SummaryDataPoint {
        time_unix_nano: T,
        count: 1,
        sum: 1.0,
        ..Default::default()
    };
    sp.flags = 1;
    let out = one(metric(
        "s",
        "",
        Data::Summary(Summary {
            data_points: vec![sp],
        }),
    ));
    assert!(out.series.iter().all(|(_, s, _)| is_stale_nan(s[0].v)));
}

fn otlp_exemplar(v: f64) -> Exemplar {
    Exemplar {
        time_unix_nano: T,
        trace_id: vec![
            0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
            0xc6, 0x0c,
        ],
        span_id: vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74],
        filtered_attributes: vec![s("user.id", "42")],
        value: Some(exemplar::Value::AsDouble(v)),
    }
}

#[test]
fn exemplars_carry_trace_and_span_ids() {
    let mut p = point(vec![], T, 1.0);
    p.exemplars = vec![
        otlp_exemplar(0.7),
        Exemplar {
            value: None,
            ..otlp_exemplar(0.0)
        },
    ];
    let out = one(metric("c", "", sum(vec![p], true, CUMULATIVE)));
    let ex = &get(&out, "c_total").2;
    assert_eq!(ex.len(), 1, "an exemplar without a value is dropped");
    assert_eq!(
        ex[0].labels.to_string(),
        r#"{span_id="eee19b7ec3c1b174", trace_id="5b8efff798038103d269b633813fc60c", user_id="42"}"#
    );
    assert_eq!(ex[0].value, 0.7);
    assert_eq!(ex[0].t, Some(MS));
}

#[test]
fn histogram_exemplars_go_to_their_bucket() {
    let h = HistogramDataPoint {
        time_unix_nano: T,
        count: 3,
        bucket_counts: vec![1, 1, 1],
        explicit_bounds: vec![1.0, 2.0],
        exemplars: vec![otlp_exemplar(1.5), otlp_exemplar(9.0)],
        ..Default::default()
    };
    let out = one(metric(
        "h",
        "",
        Data::Histogram(Histogram {
            data_points: vec![h],
            aggregation_temporality: CUMULATIVE,
        }),
    ));
    assert!(get(&out, r#"h_bucket{le="1"}"#).2.is_empty());
    assert_eq!(get(&out, r#"h_bucket{le="2"}"#).2[0].value, 1.5);
    assert_eq!(get(&out, r#"h_bucket{le="+Inf"}"#).2[0].value, 9.0);
}

#[test]
fn invalid_points_are_counted_and_described() {
    let mut no_value = point(vec![], T, 1.0);
    no_value.value = None;
    let req = request(
        vec![],
        vec![
            metric("", "", gauge(vec![point(vec![], T, 1.0)])),
            metric("...", "", gauge(vec![point(vec![], T, 1.0)])),
            metric("no.time", "", gauge(vec![point(vec![], 0, 1.0)])),
            metric("no.value", "", gauge(vec![no_value])),
            Metric {
                name: "no.data".into(),
                ..Default::default()
            },
            metric("fine", "", gauge(vec![point(vec![], T, 1.0)])),
        ],
    );
    let out = run(&req);
    assert_eq!(out.series.len(), 1);
    assert_eq!(out.rejected_points, 4);
    assert_eq!(
        out.messages,
        vec![
            "metric without a name".to_string(),
            r#"metric "...": name has no letters or digits"#.to_string(),
            r#"metric "no.time": data point without a timestamp"#.to_string(),
            r#"metric "no.value": data point without a value"#.to_string(),
            r#"metric "no.data": no data"#.to_string(),
        ]
    );
    assert_eq!(out.error_message().matches("; ").count(), 4);
}

#[test]
fn messages_are_deduplicated_and_capped() {
    let metrics = (0..30)
        .map(|i| {
            metric(
                &format!("d{}", i % 15),
                "",
                sum(vec![point(vec![], T, 1.0)], true, DELTA),
            )
        })
        .collect();
    let out = run(&request(vec![], metrics));
    assert_eq!(out.rejected_points, 30);
    assert_eq!(out.messages.len(), 11);
    assert_eq!(out.messages[10], "and 5 more problems");
}

#[test]
fn points_of_one_series_are_merged_and_sorted() {
    let req = request(
        vec![],
        vec![
            metric("m", "", gauge(vec![point(vec![], T, 2.0)])),
            metric("m", "", gauge(vec![point(vec![], T - 1_000_000, 1.0)])),
        ],
    );
    let out = run(&req);
    assert_eq!(
        printed(&out),
        vec![(
            "m".to_string(),
            vec![Sample::new(MS - 1, 1.0), Sample::new(MS, 2.0)]
        )]
    );
    assert_eq!(out.metadata.len(), 1);
}

#[test]
fn protobuf_round_trip_and_errors() {
    let req = request(
        vec![s("service.name", "api")],
        vec![metric("m", "s", gauge(vec![point(vec![], T, 1.0)]))],
    );
    let body = req.encode_to_vec();
    assert_eq!(decode_protobuf(&body).unwrap(), req);
    let e = decode_protobuf(&[0x0a, 50, 1]).unwrap_err();
    assert!(matches!(e, DecodeError::Protobuf(_)));
    let msg = e.to_string();
    assert!(
        msg.starts_with("protobuf: ") && msg.contains("resource_metrics"),
        "{msg}"
    );
    // Invalid UTF-8 in a metric name: field 1 > 2 > 2 > 1.
    let bad = [0x0a, 7, 0x12, 5, 0x12, 3, 0x0a, 1, 0xff];
    let msg = decode_protobuf(&bad).unwrap_err().to_string();
    assert!(msg.contains("Metric.name"), "{msg}");
}

/// What an OpenTelemetry SDK sends (JS, Python, Java): camelCase, int64 as strings, hex ids.
const SDK_JSON: &str = r#"{"resourceMetrics":[{"resource":{"attributes":[
  {"key":"service.name","value":{"stringValue":"checkout"}},
  {"key":"telemetry.sdk.language","value":{"stringValue":"nodejs"}},
  {"key":"process.pid","value":{"intValue":"4242"}}],"droppedAttributesCount":0},
 "scopeMetrics":[{"scope":{"name":"app","version":"1.0.0"},"metrics":[
  {"name":"http.server.duration","description":"d","unit":"ms","histogram":{"aggregationTemporality":2,
   "dataPoints":[{"attributes":[{"key":"http.method","value":{"stringValue":"GET"}}],
     "startTimeUnixNano":"1700000000000000000","timeUnixNano":"1700000000123456789",
     "count":"3","sum":12.5,"bucketCounts":["1","1","1"],"explicitBounds":[5,10],"min":1,"max":9,
     "exemplars":[{"timeUnixNano":"1700000000100000000","asDouble":9,
       "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174"}]}]}},
  {"name":"orders","unit":"{order}","sum":{"aggregationTemporality":2,"isMonotonic":true,
   "dataPoints":[{"asInt":"17","timeUnixNano":"1700000000123456789","startTimeUnixNano":"1"}]}},
  {"name":"temp","unit":"Cel","gauge":{"dataPoints":[{"asDouble":21.5,"timeUnixNano":1700000000123456789}]}}
 ]}]}]}"#;

#[test]
fn json_from_sdks() {
    let req = decode_json(SDK_JSON.as_bytes()).unwrap();
    let out = run(&req);
    assert_eq!(out.rejected_points, 0, "{:?}", out.messages);
    let n = "http_server_duration_milliseconds";
    assert_eq!(
        value(
            &out,
            &format!(r#"{n}_bucket{{http_method="GET", job="checkout", le="10"}}"#)
        ),
        2.0
    );
    let ex = &get(
        &out,
        &format!(r#"{n}_bucket{{http_method="GET", job="checkout", le="10"}}"#),
    )
    .2;
    assert_eq!(
        ex[0].labels.get("trace_id"),
        Some("5b8efff798038103d269b633813fc60c")
    );
    assert_eq!(value(&out, r#"orders_total{job="checkout"}"#), 17.0);
    assert_eq!(value(&out, r#"temp_celsius{job="checkout"}"#), 21.5);
    assert_eq!(
        get(
            &out,
            r#"target_info{job="checkout", process_pid="4242", telemetry_sdk_language="nodejs"}"#
        )
        .1[0]
            .v,
        1.0
    );
    // The same request through protobuf converts the same way.
    let again = decode_protobuf(&req.encode_to_vec()).unwrap();
    assert_eq!(convert(&again, &OtlpOptions::default()), out);
}

#[test]
fn json_tolerates_proto_names_enum_names_and_special_floats() {
    let body = r#"{"resource_metrics":[{"scope_metrics":[{"metrics":[
      {"name":"g","gauge":{"data_points":[
        {"as_double":"NaN","time_unix_nano":"1700000000123456789"},
        {"asDouble":"Infinity","timeUnixNano":"1700000001123456789"},
        {"asDouble":"-1.5","timeUnixNano":"1700000002123456789"}]}},
      {"name":"h","histogram":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_CUMULATIVE",
        "dataPoints":[{"count":"1","sum":"NaN","bucketCounts":["1"],"timeUnixNano":"1700000000123456789"}]}},
      {"name":"s","summary":{"dataPoints":[{"count":"0","sum":0,"timeUnixNano":"1700000000123456789",
        "quantileValues":[{"quantile":0.5,"value":"NaN"}]}]}}
    ]}]}]}"#;
    let req = decode_json(body.as_bytes()).unwrap();
    let out = run(&req);
    let g = &get(&out, "g").1;
    assert!(g[0].v.is_nan() && !is_stale_nan(g[0].v));
    assert_eq!(g[1].v, f64::INFINITY);
    assert_eq!(g[2].v, -1.5);
    assert!(value(&out, "h_sum").is_nan());
    assert!(value(&out, r#"s{quantile="0.5"}"#).is_nan());
}

#[test]
fn json_reports_what_the_library_would_drop_silently() {
    let bad_sum = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
      {"name":"h","histogram":{"aggregationTemporality":2,"dataPoints":[{"count":"1","sum":"x"}]}}]}]}]}"#;
    let msg = decode_json(bad_sum.as_bytes()).unwrap_err().to_string();
    assert!(
        msg.starts_with("json: resourceMetrics[0].scopeMetrics[0].metrics[0].histogram: "),
        "{msg}"
    );
    let bad_value = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
      {"name":"g","gauge":{"dataPoints":[{"asDouble":"many","timeUnixNano":"1"}]}}]}]}]}"#;
    let msg = decode_json(bad_value.as_bytes()).unwrap_err().to_string();
    assert_eq!(
        msg,
        r#"json: resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].asDouble: invalid value "many""#
    );
    let bad_exemplar = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
      {"name":"g","gauge":{"dataPoints":[{"asDouble":1,"exemplars":[{"asInt":"x"}]}]}}]}]}]}"#;
    let msg = decode_json(bad_exemplar.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        msg.ends_with(r#"dataPoints[0].exemplars[0].asInt: invalid value "x""#),
        "{msg}"
    );
    let bad_trace = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
      {"name":"g","gauge":{"dataPoints":[{"asDouble":1,"exemplars":[{"asDouble":1,"traceId":"zz"}]}]}}]}]}]}"#;
    assert!(decode_json(bad_trace.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("metrics[0].gauge"));
}

#[test]
fn json_syntax_errors() {
    let e = decode_json(b"{\"resourceMetrics\":[").unwrap_err();
    assert!(matches!(e, DecodeError::Json(_)));
    assert!(e.to_string().contains("line 1"), "{e}");
    assert!(decode_json(b"[1,2]").is_err());
    assert!(decode_json(
        b"{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"\xff\"}]}]}]}"
    )
    .is_err());
    assert_eq!(
        decode_json(b"{}").unwrap(),
        ExportMetricsServiceRequest::default()
    );
}

fn arb_attr() -> impl Strategy<Value = KeyValue> {
    (
        "\\PC{0,8}",
        prop_oneof![
            "\\PC{0,8}".prop_map(any_value::Value::StringValue),
            any::<i64>().prop_map(any_value::Value::IntValue),
            any::<f64>().prop_map(any_value::Value::DoubleValue),
            any::<bool>().prop_map(any_value::Value::BoolValue),
        ],
    )
        .prop_map(|(k, v)| kv(&k, v))
}

fn arb_metric() -> impl Strategy<Value = Metric> {
    let points = prop::collection::vec(
        (
            prop::collection::vec(arb_attr(), 0..4),
            any::<u64>(),
            any::<f64>(),
            0u32..3,
        ),
        0..4,
    )
    .prop_map(|ps| {
        ps.into_iter()
            .map(|(a, t, v, flags)| NumberDataPoint {
                flags,
                ..point(a, t, v)
            })
            .collect::<Vec<_>>()
    });
    let hist = (
        any::<u64>(),
        prop::collection::vec(any::<u64>(), 0..5),
        prop::collection::vec(any::<f64>(), 0..5),
        -12i32..22,
        any::<i32>(),
    )
        .prop_map(|(t, counts, bounds, scale, offset)| {
            (
                HistogramDataPoint {
                    time_unix_nano: t,
                    count: 5,
                    bucket_counts: counts.clone(),
                    explicit_bounds: bounds,
                    ..Default::default()
                },
                ExponentialHistogramDataPoint {
                    time_unix_nano: t,
                    scale,
                    positive: Some(Buckets {
                        offset,
                        bucket_counts: counts.clone(),
                    }),
                    negative: Some(Buckets {
                        offset: offset / 2,
                        bucket_counts: counts,
                    }),
                    zero_threshold: 1e-9,
                    ..Default::default()
                },
            )
        });
    (
        "\\PC{0,12}",
        "\\PC{0,6}",
        points,
        hist,
        0i32..3,
        any::<bool>(),
        0usize..5,
    )
        .prop_map(|(name, unit, points, (h, e), temporality, mono, kind)| {
            let data = match kind {
                0 => gauge(points),
                1 => sum(points, mono, temporality),
                2 => Data::Histogram(Histogram {
                    data_points: vec![h],
                    aggregation_temporality: temporality,
                }),
                3 => Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![e],
                    aggregation_temporality: temporality,
                }),
                _ => Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        time_unix_nano: 1,
                        ..Default::default()
                    }],
                }),
            };
            metric(&name, &unit, data)
        })
}

proptest! {
    #[test]
    fn decode_protobuf_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(req) = decode_protobuf(&body) {
            let _ = run(&req);
        }
    }

    #[test]
    fn decode_json_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_json(&body);
    }

    #[test]
    fn decode_json_text_never_panics(body in r#"[{}\[\]",:0-9a-zA-Z_ .-]{0,200}"#) {
        if let Ok(req) = decode_json(body.as_bytes()) {
            let _ = run(&req);
        }
    }

    #[test]
    fn convert_yields_valid_labels_and_counts_everything(
        res in prop::collection::vec(arb_attr(), 0..4),
        metrics in prop::collection::vec(arb_metric(), 0..5),
    ) {
        let req = request(res, metrics);
        let out = run(&req);
        prop_assert!(out.rejected_points >= 0);
        // Serialising to OTLP/JSON and back converts to the same thing (NaN aside).
        if let Ok(json) = serde_json::to_vec(&req) {
            if let Ok(back) = decode_json(&json) {
                let again = convert(&back, &OtlpOptions::default());
                prop_assert_eq!(again.series.len(), out.series.len());
                prop_assert_eq!(again.rejected_points, out.rejected_points);
            }
        }
    }
}
