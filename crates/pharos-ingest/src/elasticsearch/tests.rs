//! Tests of `_bulk` parsing, mapping and answering: one per rule.

use super::*;
use pharos_model::{LabelError, Labels, LogRejectReason, LogRejection, PushOutcome};
use proptest::prelude::*;
use serde_json::{json, Value};

const T: i64 = 1_700_000_000_000_000_000;

fn parse(body: &str) -> Result<BulkRequest, BulkError> {
    parse_bulk(body.as_bytes(), None, &FieldMapping::default(), 7)
}

fn ok(body: &str) -> BulkRequest {
    match parse(body) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

fn response(req: &BulkRequest) -> Value {
    serde_json::from_slice(&render_response(req, 3)).unwrap_or_default()
}

fn malformed(body: &str) -> String {
    match parse(body) {
        Err(BulkError::Malformed { reason, .. }) => reason,
        other => panic!("{other:?}"),
    }
}

#[test]
fn index_and_create_become_entries_grouped_by_index() {
    let body = concat!(
        "{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\n",
        "{\"message\":\"one\",\"@timestamp\":\"2023-11-14T22:13:20Z\"}\n",
        "{\"create\":{\"_index\":\"b\"}}\n",
        "{\"log\":\"two\\n\"}\n",
        "{\"create\":{}}\n",
        "{\"message\":\"three\"}\n",
    );
    let mut req =
        parse_bulk(body.as_bytes(), Some("a"), &FieldMapping::default(), 7).unwrap_or_default();
    assert_eq!(req.entry_count(), 3);
    let streams = req.take_streams();
    assert_eq!(streams.len(), 2);
    assert_eq!(streams[0].labels, Labels::from_pairs(&[("index", "a")]));
    assert_eq!(streams[1].labels, Labels::from_pairs(&[("index", "b")]));
    let lines: Vec<(&str, i64)> = streams[0]
        .entries
        .iter()
        .map(|e| (e.line.as_str(), e.ts))
        .collect();
    assert_eq!(lines, vec![("one", T), ("three", 7)]);
    assert_eq!(streams[1].entries[0].line, "two\n");
    assert_eq!(req.entry_item(0, 1), Some(2));
    assert_eq!(req.entry_item(1, 0), Some(1));
    assert!(!req.has_errors());

    let r = response(&req);
    assert_eq!(r["took"], 3);
    assert_eq!(r["errors"], false);
    let first = &r["items"][0]["index"];
    assert_eq!(first["_index"], "a");
    assert_eq!(first["_id"], "1");
    assert_eq!(first["status"], 201);
    assert_eq!(first["result"], "created");
    assert_eq!(first["_version"], 1);
    assert_eq!(first["_seq_no"], 0);
    assert_eq!(first["_primary_term"], 1);
    assert_eq!(
        first["_shards"],
        json!({"total":1,"successful":1,"failed":0})
    );
    assert_eq!(r["items"][1]["create"]["_seq_no"], 1);
    assert_eq!(r["items"][2]["create"]["_index"], "a");
    let id = r["items"][1]["create"]["_id"].as_str().unwrap_or_default();
    assert_eq!(id.len(), 20);
    assert_ne!(
        id,
        r["items"][2]["create"]["_id"].as_str().unwrap_or_default()
    );
}

#[test]
fn shipper_payloads() {
    // Filebeat 8 (data stream, ECS: `log` is an object, `message` the line).
    let filebeat = concat!(
        "{\"create\":{\"_index\":\"filebeat-8.11.0\"}}\n",
        "{\"@timestamp\":\"2023-11-14T22:13:20.000Z\",\"message\":\"GET /\",",
        "\"log\":{\"offset\":12,\"file\":{\"path\":\"/var/log/a.log\"}},",
        "\"host\":{\"name\":\"web-1\"},\"ecs\":{\"version\":\"8.0.0\"}}\n",
    );
    let req = ok(filebeat);
    let e = &req.streams[0].entries[0];
    assert_eq!((e.ts, e.line.as_str()), (T, "GET /"));
    assert_eq!(e.metadata_value("log.file.path"), Some("/var/log/a.log"));
    assert_eq!(e.metadata_value("log.offset"), Some("12"));
    assert_eq!(e.metadata_value("host.name"), Some("web-1"));
    // Logstash (nulls in the action), Fluent Bit (`log`, nanosecond time).
    let logstash_fluentbit = concat!(
        "{\"index\":{\"_id\":null,\"_index\":\"logstash-2023.11.14\",\"routing\":null}}\n",
        "{\"@timestamp\":\"2023-11-14T22:13:20.000Z\",\"message\":\"m\",\"@version\":\"1\"}\n",
        "{\"create\":{\"_index\":\"fluent-bit\"}}\n",
        "{\"@timestamp\":\"2023-11-14T22:13:20.123456789Z\",\"log\":\"l\",\"stream\":\"stdout\"}\n",
    );
    let req = ok(logstash_fluentbit);
    assert!(!req.has_errors());
    assert_eq!(
        req.streams[0].entries[0].metadata_value("@version"),
        Some("1")
    );
    let e = &req.streams[1].entries[0];
    assert_eq!((e.ts, e.line.as_str()), (T + 123_456_789, "l"));
    assert_eq!(e.metadata_value("stream"), Some("stdout"));
}

#[test]
fn a_missing_index_fails_only_its_item() {
    let req = ok("{\"index\":{}}\n{\"message\":\"x\"}\n{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"y\"}\n");
    assert_eq!(req.streams.len(), 1);
    assert_eq!(req.streams[0].entries[0].line, "y");
    let r = response(&req);
    assert_eq!(r["errors"], true);
    let item = &r["items"][0]["index"];
    assert_eq!(item["status"], 400);
    assert_eq!(item["_index"], Value::Null);
    assert_eq!(item["_id"], Value::Null);
    assert_eq!(item["error"]["type"], "action_request_validation_exception");
    assert_eq!(
        item["error"]["reason"],
        "Validation Failed: 1: index is missing;"
    );
    assert_eq!(r["items"][1]["index"]["status"], 201);
    assert_eq!(r["items"][1]["index"]["_seq_no"], 0);
}

#[test]
fn update_and_delete_are_unsupported_items_and_keep_the_stream_aligned() {
    let body = concat!(
        "{\"update\":{\"_index\":\"a\",\"_id\":\"1\"}}\n",
        "{\"doc\":{\"message\":\"changed\"}}\n",
        "{\"delete\":{\"_index\":\"a\",\"_id\":\"2\"}}\n",
        "{\"index\":{\"_index\":\"a\"}}\n",
        "{\"message\":\"kept\"}\n",
    );
    let req = ok(body);
    assert_eq!(req.items.len(), 3);
    assert_eq!(req.streams[0].entries.len(), 1);
    assert_eq!(req.streams[0].entries[0].line, "kept");
    let r = response(&req);
    for (i, action, id) in [(0, "update", "1"), (1, "delete", "2")] {
        let item = &r["items"][i][action];
        assert_eq!(item["status"], 400);
        assert_eq!(item["_id"], id);
        assert_eq!(item["error"]["type"], "illegal_argument_exception");
        let reason = item["error"]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(&format!("[{action}]")), "{reason}");
    }
    assert_eq!(req.items[2].line, 4);
}

#[test]
fn malformed_action_lines_fail_the_request_with_elasticsearch_messages() {
    let pair = "{\"index\":{\"_index\":\"a\"}}\n{}\n";
    assert_eq!(
        malformed(&format!("{pair}\"x\"\n")),
        "Malformed action/metadata line [3], expected START_OBJECT but found [VALUE_STRING]"
    );
    assert_eq!(
        malformed("[1]\n"),
        "Malformed action/metadata line [1], expected START_OBJECT but found [START_ARRAY]"
    );
    assert_eq!(
        malformed("{}\n"),
        "Malformed action/metadata line [1], expected FIELD_NAME but found [END_OBJECT]"
    );
    assert_eq!(
        malformed("{\"upsert\":{}}\n{}\n"),
        "Malformed action/metadata line [1], expected field [create], [delete], [index] or [update] but found [upsert]"
    );
    assert_eq!(
        malformed("{\"index\":\"a\"}\n{}\n"),
        "Malformed action/metadata line [1], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]"
    );
    assert_eq!(
        malformed("{\"index\":{\"_index\":[\"a\"]}}\n{}\n"),
        "Malformed action/metadata line [1], expected a simple value for field [_index] but found [START_ARRAY]"
    );
    assert_eq!(
        malformed("{\"index\":{},\"create\":{}}\n{}\n"),
        "Malformed action/metadata line [1], expected END_OBJECT but found [FIELD_NAME]"
    );
    // Blank lines count.
    assert_eq!(
        malformed(&format!("\n\n{pair}1\n")),
        "Malformed action/metadata line [5], expected START_OBJECT but found [VALUE_NUMBER]"
    );
    let e = parse("{\"index\":\n").err();
    assert!(
        matches!(&e, Some(BulkError::Parse { line: 1, reason }) if reason.contains("line [1]")),
        "{e:?}"
    );
    let e = e.map(|e| e.to_json()).unwrap_or_default();
    assert_eq!(e["status"], 400);
    assert_eq!(e["error"]["type"], "x_content_parse_exception");
    assert_eq!(
        e["error"]["root_cause"][0]["type"],
        "x_content_parse_exception"
    );
}

#[test]
fn the_top_level_error_document() {
    let e = parse("true\n")
        .err()
        .map(|e| e.to_json())
        .unwrap_or_default();
    let reason =
        "Malformed action/metadata line [1], expected START_OBJECT but found [VALUE_BOOLEAN]";
    assert_eq!(
        e,
        json!({
            "error": {
                "root_cause": [{"type": "illegal_argument_exception", "reason": reason}],
                "type": "illegal_argument_exception",
                "reason": reason
            },
            "status": 400
        })
    );
}

#[test]
fn no_actions_is_a_validation_failure() {
    for body in ["", "\n", "\n  \n\r\n"] {
        let e = parse(body).err();
        assert_eq!(e, Some(BulkError::NoRequests));
        let j = e.map(|e| e.to_json()).unwrap_or_default();
        assert_eq!(j["error"]["type"], "action_request_validation_exception");
        assert_eq!(
            j["error"]["reason"],
            "Validation Failed: 1: no requests added;"
        );
    }
}

#[test]
fn malformed_documents_fail_their_item_only() {
    let body = concat!(
        "{\"index\":{\"_index\":\"a\"}}\n",
        "{\"message\":\n",
        "{\"index\":{\"_index\":\"a\"}}\n",
        "[1,2]\n",
        "{\"index\":{\"_index\":\"a\"}}\n",
        "\n",
        "{\"index\":{\"_index\":\"a\"}}\n",
        "{\"message\":\"fine\"}\n",
    );
    let req = ok(body);
    assert_eq!(req.items.len(), 4);
    assert_eq!(req.entry_count(), 1);
    let r = response(&req);
    for i in 0..3 {
        let item = &r["items"][i]["index"];
        assert_eq!(item["status"], 400, "{item}");
        assert_eq!(item["error"]["type"], "document_parsing_exception");
        assert_eq!(item["error"]["index"], "a");
    }
    let reason = |i: usize| {
        r["items"][i]["index"]["error"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        reason(0).starts_with("[1:11] failed to parse: EOF"),
        "{}",
        reason(0)
    );
    assert!(reason(1).contains("START_ARRAY"), "{}", reason(1));
    assert_eq!(reason(2), "failed to parse, document is empty");
    assert_eq!(r["items"][3]["index"]["status"], 201);
}

#[test]
fn empty_and_overlong_ids_fail_their_item() {
    let long = "x".repeat(513);
    let body = format!(
        "{{\"index\":{{\"_index\":\"a\",\"_id\":\"\"}}}}\n{{}}\n{{\"index\":{{\"_index\":\"a\",\"_id\":\"{long}\"}}}}\n{{}}\n{{\"index\":{{\"_index\":\"a\",\"_id\":\"{}\"}}}}\n{{}}\n",
        &long[1..]
    );
    let req = ok(&body);
    let reasons: Vec<Option<String>> = req
        .items
        .iter()
        .map(|i| i.error.as_ref().map(|e| e.reason.clone()))
        .collect();
    assert_eq!(
        reasons[0].as_deref(),
        Some("Validation Failed: 1: if _id is specified it must not be empty;")
    );
    assert!(reasons[1]
        .as_deref()
        .is_some_and(|r| r.ends_with("must be no longer than 512 bytes but was: 513;")));
    assert_eq!(reasons[2], None);
}

#[test]
fn a_final_action_without_document_fails_its_item() {
    let req =
        ok("{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"x\"}\n{\"index\":{\"_index\":\"a\"}}\n");
    assert_eq!(req.items.len(), 2);
    let e = req.items[1].error.clone().map(|e| e.kind);
    assert_eq!(e.as_deref(), Some("action_request_validation_exception"));
}

#[test]
fn crlf_and_a_missing_final_newline_are_accepted() {
    let req = ok("{\"index\":{\"_index\":\"a\"}}\r\n{\"message\":\"x\"}\r\n{\"index\":{\"_index\":\"a\"}}\r\n{\"message\":\"y\"}");
    let lines: Vec<&str> = req.streams[0]
        .entries
        .iter()
        .map(|e| e.line.as_str())
        .collect();
    assert_eq!(lines, vec!["x", "y"]);
}

#[test]
fn scalar_index_and_id_are_text_and_unknown_parameters_are_ignored() {
    let req = ok("{\"index\":{\"_index\":2024,\"_id\":5,\"_type\":\"_doc\",\"routing\":\"r\",\"pipeline\":\"p\",\"dynamic_templates\":{\"a\":\"b\"},\"_source\":null}}\n{\"message\":\"x\"}\n");
    assert_eq!(req.items[0].index.as_deref(), Some("2024"));
    assert_eq!(req.items[0].id.as_deref(), Some("5"));
    assert!(!req.has_errors());
}

#[test]
fn label_fields_and_the_index_label_follow_the_mapping() {
    let mapping = FieldMapping {
        label_fields: vec!["kubernetes.namespace_name".into(), "level".into()],
        index_label: "es.index".into(),
        ..FieldMapping::default()
    };
    let body = concat!(
        "{\"index\":{\"_index\":\"k8s\"}}\n",
        "{\"log\":\"a\",\"level\":\"info\",\"kubernetes\":{\"namespace_name\":\"prod\",\"pod_name\":\"p1\"}}\n",
        "{\"index\":{\"_index\":\"k8s\"}}\n",
        "{\"log\":\"b\",\"kubernetes.namespace_name\":\"dev\",\"level\":\"\"}\n",
    );
    let req = parse_bulk(body.as_bytes(), None, &mapping, 7).unwrap_or_default();
    assert_eq!(req.streams.len(), 2);
    assert_eq!(
        req.streams[0].labels,
        Labels::from_pairs(&[
            ("es_index", "k8s"),
            ("kubernetes_namespace_name", "prod"),
            ("level", "info")
        ])
    );
    assert_eq!(
        req.streams[0].entries[0].metadata,
        vec![("kubernetes.pod_name".to_string(), "p1".to_string())]
    );
    // An empty value is no label.
    assert_eq!(
        req.streams[1].labels,
        Labels::from_pairs(&[("es_index", "k8s"), ("kubernetes_namespace_name", "dev")])
    );

    let no_index = FieldMapping {
        index_label: String::new(),
        label_fields: vec!["level".into()],
        ..FieldMapping::default()
    };
    let req = parse_bulk(body.as_bytes(), None, &no_index, 7).unwrap_or_default();
    assert_eq!(
        req.streams[0].labels,
        Labels::from_pairs(&[("level", "info")])
    );
    assert!(req.streams[1].labels.is_empty());
}

#[test]
fn the_mapping_deserialises_with_defaults() {
    let m: FieldMapping =
        serde_json::from_value(json!({"label_fields": ["host"]})).unwrap_or_default();
    assert_eq!(m.label_fields, vec!["host".to_string()]);
    assert_eq!(m.time_fields, vec!["@timestamp".to_string()]);
    assert_eq!(m.index_label, "index");
}

fn three_entries() -> BulkRequest {
    let body = concat!(
        "{\"index\":{\"_index\":\"a\"}}\n",
        "{\"message\":\"0123456789\",\"@timestamp\":1000}\n",
        "{\"index\":{\"_index\":\"a\"}}\n",
        "{\"message\":\"short\",\"@timestamp\":1000}\n",
        "{\"index\":{\"_index\":\"a\"}}\n",
        "{\"message\":\"new\",\"@timestamp\":5000}\n",
        "{\"delete\":{\"_index\":\"a\",\"_id\":\"x\"}}\n",
        "{\"index\":{\"_index\":\"b\"}}\n",
        "{\"message\":\"other\",\"@timestamp\":5000}\n",
    );
    ok(body)
}

fn rejection(index: &str, entries: usize, reason: LogRejectReason) -> LogRejection {
    LogRejection {
        stream: Labels::from_pairs(&[("index", index)]),
        entries,
        first_ts: 0,
        reason,
    }
}

#[test]
fn store_refusals_mark_their_items() {
    let mut req = three_entries();
    let streams = req.take_streams();
    assert_eq!(streams.len(), 2);
    assert!(req.streams.is_empty());
    let outcome = PushOutcome {
        accepted: 1,
        rejected: vec![
            rejection(
                "a",
                1,
                LogRejectReason::TooOld {
                    ts: 1_000_000_000,
                    oldest: 2_000_000_000,
                },
            ),
            rejection("a", 1, LogRejectReason::LineTooLong { len: 10, max: 8 }),
            rejection("b", 1, LogRejectReason::RateLimited),
            rejection("zzz", 1, LogRejectReason::NoLabels),
        ],
        ..PushOutcome::default()
    };
    req.apply_outcome(&outcome);
    let errs: Vec<Option<(u16, String)>> = req
        .items
        .iter()
        .map(|i| i.error.as_ref().map(|e| (e.status, e.kind.clone())))
        .collect();
    let bad = Some((400, "illegal_argument_exception".to_string()));
    assert_eq!(
        errs,
        vec![
            bad.clone(), // the long line, judged first
            bad.clone(), // the old entry
            None,
            bad, // delete
            Some((429, "es_rejected_execution_exception".to_string())),
        ]
    );
    let reason = req.items[0].error.as_ref().map(|e| e.reason.clone());
    assert!(reason.is_some_and(|r| r.contains("longer than the limit")));
    let r = response(&req);
    assert_eq!(r["errors"], true);
    assert_eq!(r["items"][2]["index"]["_seq_no"], 0);
}

#[test]
fn stream_wide_refusals_take_the_remaining_entries() {
    let mut req = three_entries();
    req.take_streams();
    let outcome = PushOutcome {
        rejected: vec![
            rejection("a", 2, LogRejectReason::InvalidLabels(LabelError::Empty)),
            rejection(
                "a",
                1,
                LogRejectReason::TooNew {
                    ts: 5_000_000_000,
                    newest: 4_000_000_000,
                },
            ),
        ],
        ..PushOutcome::default()
    };
    req.apply_outcome(&outcome);
    // The too-new entry (third) is marked first, the two others by the label refusal.
    assert!(req.items[..3].iter().all(|i| i.error.is_some()));
    assert!(req.items[2]
        .error
        .as_ref()
        .is_some_and(|e| e.reason.contains("future")));
    assert!(req.items[4].error.is_none());
}

#[test]
fn a_store_failure_fails_every_stored_item() {
    let mut req = three_entries();
    req.fail_all_entries(&ItemError::new(
        503,
        "unavailable_shards_exception",
        "store closed",
    ));
    let statuses: Vec<u16> = req
        .items
        .iter()
        .map(|i| i.error.as_ref().map_or(201, |e| e.status))
        .collect();
    assert_eq!(statuses, vec![503, 503, 503, 400, 503]);
    req.fail_entry(9, 9, ItemError::new(1, "x", "y")); // out of range: nothing
    req.fail_item(99, ItemError::new(1, "x", "y"));
}

#[test]
fn responses_escape_strings_and_filter() {
    let req = ok("{\"index\":{\"_index\":\"a\\\"b\",\"_id\":\"\\n\\u0001\"}}\n{\"message\":\"x\"}\n{\"delete\":{\"_index\":\"a\"}}\n");
    let r = response(&req);
    assert_eq!(r["items"][0]["index"]["_index"], "a\"b");
    assert_eq!(r["items"][0]["index"]["_id"], "\n\u{1}");
    let filtered: Value = serde_json::from_slice(&render_response_filtered(
        &req,
        1,
        Some("errors,items.*.error,items.*.status"),
    ))
    .unwrap_or_default();
    assert_eq!(filtered["errors"], true);
    assert_eq!(filtered["items"][0], json!({"index": {"status": 201}}));
    assert_eq!(filtered["items"][1]["delete"]["status"], 400);
    assert!(filtered["items"][1]["delete"]["error"]["reason"].is_string());
    assert_eq!(
        render_response_filtered(&req, 1, None),
        render_response(&req, 1)
    );
}

/// A document field value: scalars, arrays of strings, small objects.
fn arb_field_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        "[ -~]{0,12}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        prop::collection::vec("[a-z]{0,3}".prop_map(Value::from), 0..3).prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop::collection::btree_map("[a-z]{1,4}", inner, 1..3)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    })
}

/// The flattened leaves of `v` under `prefix`, as text.
fn leaves(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                leaves(&format!("{prefix}.{k}"), x, out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        Value::Null => {}
        v => out.push((prefix.to_string(), v.to_string())),
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(req) = parse_bulk(&body, Some("p"), &FieldMapping::default(), 0) {
            let r: Value = serde_json::from_slice(&render_response(&req, 0)).unwrap_or_default();
            prop_assert_eq!(r["items"].as_array().map(Vec::len), Some(req.items.len()));
        }
    }

    #[test]
    fn ndjson_shaped_text_never_panics(
        lines in prop::collection::vec(
            prop_oneof![
                Just("{\"index\":{}}".to_string()),
                Just("{\"create\":{\"_index\":\"x\"}}".to_string()),
                Just("{\"delete\":{\"_id\":\"1\"}}".to_string()),
                Just("{\"update\":{\"_id\":\"1\"}}".to_string()),
                r#"[{}\[\]",:0-9a-z_@ .-]{0,40}"#,
            ],
            0..12,
        )
    ) {
        let body = lines.join("\n");
        if let Ok(mut req) = parse_bulk(body.as_bytes(), None, &FieldMapping::default(), 0) {
            let stored = req.entry_count();
            let ok_items = req.items.iter().filter(|i| i.error.is_none()).count();
            prop_assert_eq!(stored, ok_items);
            for s in req.take_streams() {
                prop_assert!(s.labels.validate().is_ok());
                prop_assert!(!s.entries.is_empty());
            }
            let _ = render_response_filtered(&req, 0, Some("items.**.status,-took"));
        }
    }

    #[test]
    fn documents_carry_their_fields(
        docs in prop::collection::vec(
            (
                "[ -~]{0,20}",
                0i64..4_000_000_000_000,
                prop::collection::btree_map("f[a-z]{0,5}", arb_field_value(), 0..5),
            ),
            1..6,
        )
    ) {
        let mut body = String::new();
        for (msg, ms, fields) in &docs {
            let mut doc = serde_json::Map::new();
            doc.insert("message".into(), Value::from(msg.clone()));
            doc.insert("@timestamp".into(), Value::from(*ms));
            for (k, v) in fields {
                doc.insert(k.clone(), v.clone());
            }
            body.push_str("{\"index\":{\"_index\":\"logs\"}}\n");
            body.push_str(&Value::Object(doc).to_string());
            body.push('\n');
        }
        let mut req = parse_bulk(body.as_bytes(), None, &FieldMapping::default(), 0)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(!req.has_errors());
        prop_assert_eq!(req.items.len(), docs.len());
        let streams = req.take_streams();
        prop_assert_eq!(streams.len(), 1);
        prop_assert_eq!(streams[0].labels.get("index"), Some("logs"));
        for (e, (msg, ms, fields)) in streams[0].entries.iter().zip(&docs) {
            prop_assert_eq!(&e.line, msg);
            prop_assert_eq!(e.ts, ms * 1_000_000);
            let mut want = Vec::new();
            for (k, v) in fields {
                leaves(k, v, &mut want);
            }
            let mut got = e.metadata.clone();
            got.sort();
            want.sort();
            prop_assert_eq!(got, want);
        }
    }
}
