//! Remote write bad input: each problem is a 400 naming it and counting the
//! rejected samples, and the valid part of the request is stored exactly once.

use pharos_ingest::remote_write::{self, Label, Sample, TimeSeries, WriteRequest};

use crate::util::{dump, http, Server};

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels.iter().map(|(n, v)| Label::new(n, v)).collect(),
        samples: samples
            .iter()
            .map(|(t, v)| Sample {
                timestamp: *t,
                value: *v,
            })
            .collect(),
        ..Default::default()
    }
}

fn post(port: u16, ts: Vec<TimeSeries>) -> (u16, String) {
    let req = WriteRequest {
        timeseries: ts,
        ..Default::default()
    };
    let h = [
        ("Content-Encoding", "snappy"),
        ("Content-Type", "application/x-protobuf"),
    ];
    let (code, body) = http(
        port,
        "POST",
        "/api/v1/write",
        &h,
        &remote_write::encode(&req),
    )
    .unwrap();
    (code, String::from_utf8_lossy(&body).into_owned())
}

const T: i64 = 1_700_000_000_000;

#[test]
fn remote_write_rejections_are_named_and_valid_data_kept_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start(&data, &["--max-labels-per-series", "4"]);
    let p = s.port;

    // Out of order within a series: the later, older sample is refused.
    let (code, body) = post(
        p,
        vec![series(
            &[("__name__", "ok"), ("a", "1")],
            &[(T + 2000, 2.0), (T + 1000, 1.0)],
        )],
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("out of order") && body.contains("1 of 2 samples stored"),
        "{body}"
    );

    // Duplicate timestamp with another value.
    let (code, body) = post(
        p,
        vec![series(
            &[("__name__", "ok"), ("a", "1")],
            &[(T + 2000, 5.0)],
        )],
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("duplicate"), "{body}");

    // Same timestamp, same value: accepted silently, as in Prometheus.
    let (code, body) = post(
        p,
        vec![series(
            &[("__name__", "ok"), ("a", "1")],
            &[(T + 2000, 2.0)],
        )],
    );
    assert_eq!(code, 204, "{body}");

    // Invalid series next to a valid one: the valid one is stored.
    let (code, body) = post(
        p,
        vec![
            series(&[("__name__", "ok"), ("a", "2")], &[(T, 7.0)]),
            series(
                &[("__name__", "bad"), ("1x", "v")],
                &[(T, 1.0), (T + 1, 2.0)],
            ),
            series(&[("__name__", "bad"), ("b", "1"), ("a", "2")], &[(T, 1.0)]),
            series(&[("__name__", "bad"), ("a", "")], &[(T, 1.0)]),
            series(&[("__name__", "bad"), ("a", "1"), ("a", "2")], &[(T, 1.0)]),
            series(
                &[
                    ("__name__", "bad"),
                    ("a", "1"),
                    ("b", "1"),
                    ("c", "1"),
                    ("d", "1"),
                ],
                &[(T, 1.0)],
            ),
        ],
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("1 of 7 samples stored"), "{body}");
    assert!(body.contains("5 series rejected (6 samples)"), "{body}");
    assert!(body.contains("1x"), "{body}");

    // Garbage.
    let (code, body) = {
        let h = [("Content-Encoding", "snappy")];
        let (c, b) = http(p, "POST", "/api/v1/write", &h, b"\x64\x00a").unwrap();
        (c, String::from_utf8_lossy(&b).into_owned())
    };
    assert_eq!(code, 400, "{body}");

    // Rejections are counted by reason in pharos's own metrics.
    let (_, m) = http(p, "GET", "/metrics", &[], &[]).unwrap();
    let m = String::from_utf8_lossy(&m);
    assert!(m.contains("pharos_ingest_samples_rejected_total{protocol=\"remote_write\",reason=\"out_of_order\"} 1"), "{m}");
    assert!(m.contains("pharos_ingest_samples_rejected_total{protocol=\"remote_write\",reason=\"duplicate\"} 1"), "{m}");

    assert_eq!(s.stop(), 0);
    let text = dump(&data, &["ok"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        text.contains("{__name__=\"ok\", a=\"1\"} 2 1700000002000"),
        "{text}"
    );
    assert!(
        text.contains("{__name__=\"ok\", a=\"2\"} 7 1700000000000"),
        "{text}"
    );
    assert!(dump(&data, &["bad"]).is_empty());
}
