//! Fuzzes Elasticsearch `_bulk` parsing and answering: no body may make
//! `elasticsearch::parse_bulk`, `BulkRequest::apply_outcome` or
//! `render_response` panic. The first byte picks the path index and the field
//! mapping. An accepted request has one item per action line (in line
//! order), one entry per successful item, streams with valid labels, and a
//! response with as many items; a refused one is a 400 error
//! document.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_ingest::elasticsearch::{self, FieldMapping};
use pharos_model::{LogRejectReason, LogRejection, PushOutcome};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let path_index = (mode & 1 == 1).then_some("path-index");
    let mapping = if mode & 2 == 0 {
        FieldMapping::default()
    } else {
        FieldMapping {
            time_fields: vec!["ts".into(), "@timestamp".into()],
            line_fields: vec!["msg".into()],
            label_fields: vec!["host".into(), "kubernetes.namespace_name".into()],
            index_label: "es_index".into(),
        }
    };
    let mut req = match elasticsearch::parse_bulk(body, path_index, &mapping, 1) {
        Ok(req) => req,
        Err(e) => {
            let doc = e.to_json();
            assert_eq!(doc["status"], 400);
            assert!(doc["error"]["type"].is_string());
            assert_eq!(doc["error"]["reason"], e.to_string().as_str());
            return;
        }
    };
    // One item per action line, in order, and never more than the lines.
    let lines = body.split(|&b| b == b'\n').count();
    assert!(!req.items.is_empty());
    assert!(req.items.len() <= lines);
    assert!(req.items.windows(2).all(|w| w[0].line < w[1].line));
    assert!(req.items.iter().all(|i| i.line >= 1 && i.line <= lines));
    // One entry per successful item, each pointing at its item.
    let ok_items = req.items.iter().filter(|i| i.error.is_none()).count();
    assert_eq!(req.entry_count(), ok_items);
    for (s, stream) in req.streams.iter().enumerate() {
        assert!(!stream.entries.is_empty());
        assert!(stream.labels.validate().is_ok(), "{}", stream.labels);
        for e in 0..stream.entries.len() {
            let item = req.entry_item(s, e).expect("entry has an item");
            assert!(req.items[item].error.is_none());
            assert!(req.items[item]
                .id
                .as_deref()
                .is_some_and(|id| !id.is_empty()));
        }
    }
    let streams = req.take_streams();
    // The store refuses the first stream: its items become 429s.
    if let Some(first) = streams.first() {
        let outcome = PushOutcome {
            rejected: vec![LogRejection {
                stream: first.labels.clone(),
                entries: first.entries.len(),
                first_ts: 0,
                reason: LogRejectReason::RateLimited,
            }],
            ..PushOutcome::default()
        };
        req.apply_outcome(&outcome);
        for e in 0..first.entries.len() {
            let item = req.entry_item(0, e).expect("entry has an item");
            assert_eq!(req.items[item].error.as_ref().map(|e| e.status), Some(429));
        }
    }
    // The response: `{"took":1,"errors":..,"items":[..]}` with one `"status":`
    // per item (a quote inside a string is escaped, so the key cannot be faked).
    let resp = String::from_utf8(elasticsearch::render_response(&req, 1)).expect("UTF-8");
    let head = format!("{{\"took\":1,\"errors\":{},\"items\":[", req.has_errors());
    assert!(resp.starts_with(&head) && resp.ends_with("]}"), "{resp}");
    assert_eq!(
        resp.matches("\"status\":").count(),
        req.items.len(),
        "{resp}"
    );
    let _ = elasticsearch::render_response_filtered(&req, 1, Some("errors,items.*.error,-took"));
});
