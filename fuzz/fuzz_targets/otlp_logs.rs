//! Fuzzes OTLP logs decoding and conversion: no body may make
//! `otlp::logs::decode_request_protobuf`, `decode_request_json` or `convert`
//! panic. The first byte picks the encoding. Every record becomes exactly one
//! entry, every stream has valid labels with `service_name` and `level`, and
//! a decoded request re-encoded as protobuf converts to the same streams.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_ingest::otlp::logs;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let decoded = if mode & 1 == 0 {
        logs::decode_request_protobuf(body)
    } else {
        logs::decode_request_json(body)
    };
    let Ok(req) = decoded else { return };
    let records = logs::record_count(&req);
    let again = logs::decode_request_protobuf(&logs::encode_request_protobuf(&req))
        .expect("re-encoded request decodes");
    let streams = logs::convert(req, 7);
    let entries: usize = streams.iter().map(|s| s.entries.len()).sum();
    assert_eq!(entries, records);
    for s in &streams {
        assert!(!s.entries.is_empty());
        assert!(s.labels.validate().is_ok(), "{}", s.labels);
        assert!(s.labels.has(logs::SERVICE_NAME_LABEL));
        assert!(s.labels.has(logs::LEVEL_LABEL));
    }
    assert_eq!(logs::convert(again, 7), streams);
});
