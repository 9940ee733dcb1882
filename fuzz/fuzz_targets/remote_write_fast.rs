//! Fuzzes the zero-copy remote write decoder against the prost path: for any
//! body, `decompress` + `visit_write_request` must agree with
//! `decode_with_limit` + `validate` (or `decode_protobuf` + `validate` for the
//! raw protobuf layer): same error, or the same accepted series (labels,
//! samples, exemplars), rejections, metadata and counts. Never panics.
//! The first byte picks the layer (bit 0) and the limits (bit 1).

#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_ingest::remote_write::{self, Limits};

type Series = (
    Vec<(String, String)>,
    Vec<(i64, u64)>,
    Vec<(String, u64, Option<i64>)>,
);

fn norm(
    labels: Vec<(String, String)>,
    samples: &[pharos_model::Sample],
    exemplars: &[pharos_model::Exemplar],
) -> Series {
    (
        labels,
        samples.iter().map(|s| (s.t, s.v.to_bits())).collect(),
        exemplars
            .iter()
            .map(|e| (e.labels.to_string(), e.value.to_bits(), e.t))
            .collect(),
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let limits = if mode & 2 == 0 {
        Limits::default()
    } else {
        Limits {
            max_labels_per_series: 8,
            max_label_name_len: 16,
            max_label_value_len: 32,
        }
    };
    let (raw, slow) = if mode & 1 == 0 {
        let raw = remote_write::decompress(body, 1 << 20);
        let slow = remote_write::decode_with_limit(body, 1 << 20);
        match (raw, slow) {
            (Ok(raw), slow) => (raw, slow),
            (Err(a), Err(b)) => {
                assert_eq!(a, b);
                return;
            }
            (Err(a), Ok(_)) => panic!("decompress failed alone: {a}"),
        }
    } else {
        (body.to_vec(), remote_write::decode_protobuf(body))
    };
    let mut series = Vec::new();
    let fast = remote_write::visit_write_request(&raw, &limits, |v| {
        let labels = v
            .labels
            .iter()
            .map(|&(n, v)| (n.to_string(), v.to_string()));
        series.push(norm(labels.collect(), v.samples, v.exemplars));
    });
    let (summary, req) = match (fast, slow) {
        (Err(a), Err(b)) => {
            assert_eq!(a, b);
            assert!(series.is_empty(), "visited before an error");
            return;
        }
        (Ok(s), Ok(r)) => (s, r),
        (a, b) => panic!("paths disagree: fast {a:?}, prost {:?}", b.map(|_| ())),
    };
    let total: usize = req.timeseries.iter().map(|t| t.samples.len()).sum();
    let v = remote_write::validate(req, &limits);
    let expected: Vec<Series> = v
        .series
        .iter()
        .map(|s| {
            let labels = s.labels.iter().map(|l| (l.name.clone(), l.value.clone()));
            norm(labels.collect(), &s.samples, &s.exemplars)
        })
        .collect();
    assert_eq!(series, expected);
    assert_eq!(summary.rejected, v.rejected);
    assert_eq!(summary.metadata, v.metadata);
    assert_eq!(summary.rejected_samples, v.rejected_samples);
    assert_eq!(summary.rejected_exemplars, v.rejected_exemplars);
    assert_eq!(summary.rejected_metadata, v.rejected_metadata);
    assert_eq!(summary.unsupported_histograms, v.unsupported_histograms);
    assert_eq!(summary.samples_total, total);
    assert_eq!(summary.error_message(), v.error_message());
});
