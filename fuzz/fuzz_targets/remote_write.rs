//! Fuzzes remote write decoding: no body may make `remote_write::decode` or
//! `validate` panic. The first byte picks the layer: the snappy body as sent,
//! or the protobuf behind it (random bytes are rarely valid snappy). Accepted
//! series must have valid labels, and re-encoding a decoded request must be stable.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_ingest::remote_write::{self, Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let decoded = if mode & 1 == 0 {
        remote_write::decode_with_limit(body, 1 << 20)
    } else {
        remote_write::decode_protobuf(body)
    };
    let Ok(req) = decoded else { return };
    let encoded = remote_write::encode(&req);
    let again = remote_write::decode(&encoded).expect("re-encoded request decodes");
    assert_eq!(remote_write::encode(&again), encoded);
    let limits = Limits {
        max_labels_per_series: 8,
        max_label_name_len: 16,
        max_label_value_len: 32,
    };
    let v = remote_write::validate(req, &limits);
    for s in &v.series {
        assert!(s.labels.validate().is_ok(), "{}", s.labels);
        assert!(s.labels.len() <= 8);
    }
    assert_eq!(
        v.rejected_samples,
        v.rejected.iter().map(|r| r.samples).sum::<usize>()
    );
    let _ = v.error_message();
});
