//! Fuzzes Loki push and JSON lines decoding: no body may make them panic.
//! The first byte picks the input: a snappy block-compressed protobuf body,
//! the raw protobuf behind it (random bytes are rarely valid snappy), a JSON
//! push body, or an NDJSON body. Every decoded stream must have valid,
//! non-empty labels that survive `format_labels` / `parse_labels`, and
//! re-encoding the streams as protobuf and as JSON must decode to the same
//! streams.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_ingest::jsonlines::{self, JsonLinesOptions};
use pharos_ingest::loki::{self, LokiError};
use pharos_model::LogStream;

const MAX_DECODED: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => check(loki::decode_push(
            Some("application/x-protobuf"),
            None,
            body,
            MAX_DECODED,
        )),
        1 => check(loki::decode_protobuf(body)),
        2 => check(loki::decode_push(
            Some("application/json"),
            None,
            body,
            MAX_DECODED,
        )),
        _ => ndjson(body),
    }
});

/// Checks a Loki decoding result and round-trips the streams through both encoders.
fn check(decoded: Result<Vec<LogStream>, LokiError>) {
    let streams = match decoded {
        Ok(s) => s,
        Err(e) => {
            let _ = (e.to_string(), e.http_status());
            return;
        }
    };
    for s in &streams {
        assert!(!s.labels.is_empty());
        assert!(s.labels.validate().is_ok(), "{}", s.labels);
        let text = loki::format_labels(&s.labels);
        assert_eq!(loki::parse_labels(&text).as_ref(), Ok(&s.labels), "{text}");
    }
    let pb = loki::encode_push_protobuf(&streams);
    let again =
        loki::decode_push(None, None, &pb, usize::MAX).expect("re-encoded protobuf decodes");
    assert_eq!(again, streams);
    let json = loki::encode_push_json(&streams);
    let again = loki::decode_json(&json).expect("re-encoded JSON decodes");
    assert_eq!(again, streams);
}

/// NDJSON: streams are non-empty, labelled, and push through Loki encoding unchanged.
fn ndjson(body: &[u8]) {
    let opts = JsonLinesOptions {
        labels: vec![("job".into(), "fuzz".into())],
        label_fields: vec!["level".into(), "a.b".into()],
        time_field: None,
        line_field: None,
        now_ns: 1_700_000_000_000_000_000,
    };
    let streams = match jsonlines::decode_ndjson(body, &opts) {
        Ok(s) => s,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let lines = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count();
    let entries: usize = streams.iter().map(|s| s.entries.len()).sum();
    assert_eq!(entries, lines);
    for s in &streams {
        assert!(!s.entries.is_empty());
        assert_eq!(s.labels.get("job"), Some("fuzz"));
    }
    check(Ok(streams));
}
