//! Fuzzes OTLP metrics decoding and conversion: no body may make
//! `otlp::decode_protobuf`, `otlp::decode_json` or `otlp::convert` panic. The
//! first byte picks the encoding. Every converted series must have valid
//! labels, and the rejected count can never be negative.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_ingest::otlp::{self, OtlpOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let decoded = if mode & 1 == 0 {
        otlp::decode_protobuf(body)
    } else {
        otlp::decode_json(body)
    };
    let Ok(req) = decoded else { return };
    let opts = OtlpOptions {
        promote_resource_attributes: vec!["host.name".to_string()],
        add_metric_suffixes: mode & 2 == 0,
        ..OtlpOptions::default()
    };
    let out = otlp::convert(&req, &opts);
    assert!(out.rejected_points >= 0);
    for (labels, samples, _) in &out.series {
        assert!(labels.validate().is_ok(), "{labels}");
        assert!(!samples.is_empty());
        assert!(samples.windows(2).all(|w| w[0].t <= w[1].t));
    }
    let _ = out.error_message();
});
