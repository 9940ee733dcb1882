//! Tests of Loki push decoding: labels, protobuf, JSON, bodies, round trips.

use std::io::Write;

use pharos_model::{Labels, LogEntry, LogStream};
use proptest::prelude::*;
use prost::Message;

use super::*;

fn stream(labels: &[(&str, &str)], entries: Vec<LogEntry>) -> LogStream {
    LogStream {
        labels: Labels::from_pairs(labels),
        entries,
    }
}

fn entry(ts: i64, line: &str, md: &[(&str, &str)]) -> LogEntry {
    LogEntry {
        ts,
        line: line.into(),
        metadata: md
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn sample() -> Vec<LogStream> {
    vec![
        stream(
            &[("app", "api"), ("env", "prod")],
            vec![
                entry(1_700_000_000_000_000_000, "GET /", &[]),
                entry(
                    1_700_000_000_000_000_001,
                    "boom \"quoted\"\n",
                    &[("trace_id", "abc"), ("trace_id", "dup"), ("", "")],
                ),
            ],
        ),
        stream(
            &[("app", "db")],
            vec![entry(-1_500_000_000, "before 1970", &[])],
        ),
        // Same labels again: not merged.
        stream(&[("app", "api"), ("env", "prod")], vec![]),
    ]
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    w.write_all(b).unwrap();
    w.finish().unwrap()
}

fn snappy_block(b: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(b).unwrap()
}

fn raw_protobuf(streams: &[LogStream]) -> Vec<u8> {
    to_push_request(streams).encode_to_vec()
}

/// A raw request with one stream holding `labels` and entries given as raw `EntryAdapter` bytes.
fn raw_request(labels: &str, entries: &[Vec<u8>]) -> Vec<u8> {
    let mut s = Vec::new();
    prost::encoding::string::encode(1, &labels.to_string(), &mut s);
    for e in entries {
        prost::encoding::bytes::encode(2, e, &mut s);
    }
    let mut r = Vec::new();
    prost::encoding::bytes::encode(1, &s, &mut r);
    r
}

fn raw_entry(e: &EntryAdapter) -> Vec<u8> {
    e.encode_to_vec()
}

fn json_err(body: &str) -> LokiError {
    decode_json(body.as_bytes()).unwrap_err()
}

// ---- labels -------------------------------------------------------------

#[test]
fn labels_parse_sorted_with_escapes_and_quotes() {
    let ls = parse_labels(" {\tenv = \"prod\" ,app='a\\'p\\ti', \"job\"=`raw\\n\n`,} \n").unwrap();
    assert_eq!(
        ls,
        Labels::from_pairs(&[("app", "a'p\ti"), ("env", "prod"), ("job", "raw\\n\n")])
    );
    let ls =
        parse_labels(r#"{a="\a\b\f\n\r\t\v\\\"", b="\101\x42\u00e9\U0001F600\xc3\xa9"}"#).unwrap();
    assert_eq!(ls.get("a"), Some("\x07\x08\x0c\n\r\t\x0b\\\""));
    assert_eq!(ls.get("b"), Some("AB\u{e9}\u{1F600}\u{e9}"));
    // Empty values are dropped, as Loki normalises them away.
    assert_eq!(
        parse_labels(r#"{a="", b="1"}"#).unwrap(),
        Labels::from_pairs(&[("b", "1")])
    );
    assert!(parse_labels(r#"{__name__="up", a="1"}"#)
        .unwrap()
        .validate()
        .is_ok());
}

#[test]
fn labels_errors_say_what_and_where() {
    let err = |s: &str| parse_labels(s).unwrap_err().to_string();
    assert_eq!(err(r#"app="x""#), r#"expected '{', found 'a' at offset 0"#);
    assert_eq!(
        err(r#"up{app="x"}"#),
        r#"expected '{', found 'u' at offset 0"#
    );
    assert_eq!(err(""), "expected '{', found end of input at offset 0");
    assert_eq!(
        err(r#"{app!="x"}"#),
        "only '=' is allowed between a label name and its value in stream labels, found '!=' at offset 4"
    );
    assert!(err(r#"{app=~"x"}"#).contains("found '=~' at offset 4"));
    assert!(err(r#"{app !~ "x"}"#).contains("found '!~' at offset 5"));
    assert_eq!(
        err(r#"{app "x"}"#),
        r#"expected '=' after the label name, found '"' at offset 5"#
    );
    assert_eq!(
        err(r#"{app=x}"#),
        "expected a quoted label value, found 'x' at offset 5"
    );
    assert_eq!(
        err(r#"{app="x" env="y"}"#),
        r#"expected ',' or '}', found 'e' at offset 9"#
    );
    assert_eq!(
        err(r#"{,}"#),
        "expected a label name, found ',' at offset 1"
    );
    assert_eq!(
        err(r#"{a="1"} x"#),
        "expected end of input after '}', found 'x' at offset 8"
    );
    assert_eq!(
        err(r#"{a="1""#),
        "expected ',' or '}', found end of input at offset 6"
    );
    assert_eq!(err(r#"{a="1}"#), "unterminated quoted string at offset 3");
    assert_eq!(err("{a=\"1\n\"}"), "unterminated quoted string at offset 3");
    assert_eq!(err("{a=`1}"), "unterminated quoted string at offset 3");
    assert_eq!(
        err(r#"{a="\q"}"#),
        r#"unknown escape sequence '\q' at offset 4"#
    );
    assert_eq!(
        err(r#"{a='\"'}"#),
        r#"unknown escape sequence '\"' at offset 4"#
    );
    assert_eq!(
        err(r#"{a="\x4"}"#),
        r#"invalid escape sequence '\x4' at offset 4"#
    );
    assert_eq!(
        err(r#"{a="\400"}"#),
        r#"escape sequence '\400' is an invalid Unicode code point at offset 4"#
    );
    assert_eq!(
        err(r#"{a="\ud800"}"#),
        r#"escape sequence '\ud800' is an invalid Unicode code point at offset 4"#
    );
    assert_eq!(err(r#"{a="\xff"}"#), "labels are not valid UTF-8");
    assert_eq!(err(r#"{"a.b"="1"}"#), r#"invalid label name "a.b""#);
    assert_eq!(err(r#"{a="1", a="2"}"#), r#"duplicate label name "a""#);
    assert_eq!(err("{}"), "at least one label pair is required per stream");
    assert_eq!(
        err(r#"{a=""}"#),
        "at least one label pair is required per stream"
    );
    assert_eq!(
        err(r#"{__name__="a-b"}"#),
        r#"invalid metric name "a-b" in label __name__"#
    );
    assert_eq!(
        parse_labels(r#"{a="1", a="2"}"#),
        Err(LabelsError::Duplicate { name: "a".into() })
    );
}

#[test]
fn format_labels_is_read_back() {
    let ls = Labels::from_pairs(&[("__name__", "up"), ("a", "q\"b\\s\n\r\t\x01\x7f é 😀")]);
    let s = format_labels(&ls);
    assert_eq!(s, r#"{__name__="up", a="q\"b\\s\n\r\t\x01\x7f é 😀"}"#);
    assert_eq!(parse_labels(&s).unwrap(), ls);
}

// ---- protobuf -----------------------------------------------------------

#[test]
fn protobuf_lines_share_the_decompressed_request() {
    let streams = vec![LogStream {
        labels: Labels::from_pairs(&[("app", "a")]),
        entries: vec![entry(1, "first line", &[]), entry(2, "second line", &[])],
    }];
    let body = encode_push_protobuf(&streams);
    let got = decode_snappy_protobuf(&body, 1 << 20).unwrap();
    assert_eq!(got, streams);
    let [a, b] = [&got[0].entries[0].line, &got[0].entries[1].line];
    // Both lines point into one buffer, a few protobuf bytes apart.
    let gap = b.as_ptr() as usize - a.as_ptr() as usize;
    assert!(gap > a.len() && gap < a.len() + 32, "gap {gap}");
    // Invalid UTF-8 is still replaced, as Loki does.
    let mut raw = raw_protobuf(&streams);
    let at = raw.windows(5).position(|w| w == b"first").unwrap();
    raw[at] = 0xff;
    let lossy = decode_protobuf(&raw).unwrap();
    assert_eq!(lossy[0].entries[0].line, "\u{fffd}irst line");
}

#[test]
fn protobuf_round_trip() {
    let streams = sample();
    let body = encode_push_protobuf(&streams);
    assert_eq!(decode_snappy_protobuf(&body, 1 << 20).unwrap(), streams);
    assert_eq!(decode_push(None, None, &body, 1 << 20).unwrap(), streams);
    // The same through prost: the hand-written reader agrees with it.
    let req = PushRequest::decode(raw_protobuf(&streams).as_slice()).unwrap();
    assert_eq!(req, to_push_request(&streams));
}

#[test]
fn protobuf_timestamps() {
    let e = |seconds, nanos| EntryAdapter {
        timestamp: Some(Timestamp { seconds, nanos }),
        line: "x".into(),
        structured_metadata: vec![],
    };
    let ok = decode_protobuf(&raw_request(
        "{a=\"1\"}",
        &[
            raw_entry(&e(1, 5)),
            raw_entry(&e(-1, 999_999_999)),
            raw_entry(&EntryAdapter::default()),
            raw_entry(&e(-9_223_372_037, 145_224_192)),
        ],
    ))
    .unwrap();
    let ts: Vec<i64> = ok[0].entries.iter().map(|e| e.ts).collect();
    assert_eq!(ts, [1_000_000_005, -1, 0, i64::MIN]);

    let err = decode_protobuf(&raw_request(
        "{a=\"1\"}",
        &[raw_entry(&e(1, 0)), raw_entry(&e(1, -1))],
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "stream 0: entry 1: timestamp nanos -1 not in range [0, 1e9) (seconds 1)"
    );
    assert_eq!(err.http_status(), 400);
    let err = decode_protobuf(&raw_request(
        "{a=\"1\"}",
        &[raw_entry(&e(10_000_000_000, 0))],
    ))
    .unwrap_err();
    assert_eq!(
        err,
        LokiError::Timestamp {
            stream: 0,
            entry: 0,
            message: "timestamp of 10000000000 seconds is outside the range of Unix nanoseconds (years 1677 to 2262)".into()
        }
    );

    // A timestamp given twice is merged field by field, as protobuf does.
    let mut twice = Vec::new();
    prost::encoding::message::encode(
        1,
        &Timestamp {
            seconds: 7,
            nanos: 0,
        },
        &mut twice,
    );
    prost::encoding::message::encode(
        1,
        &Timestamp {
            seconds: 0,
            nanos: 3,
        },
        &mut twice,
    );
    let got = decode_protobuf(&raw_request("{a=\"1\"}", &[twice])).unwrap();
    assert_eq!(got[0].entries[0].ts, 7_000_000_003);
}

#[test]
fn protobuf_errors_give_offset_and_place() {
    // Entry 1 of stream 0 has a line whose length runs past its message.
    let good = raw_entry(&EntryAdapter {
        timestamp: Some(Timestamp::from_nanos(5)),
        line: "ok".into(),
        structured_metadata: vec![],
    });
    let mut bad = Vec::new();
    bad.extend_from_slice(&[0x12, 100, b'a', b'b', b'c']); // line: length 100, 3 bytes
    let body = raw_request("{a=\"1\"}", &[good.clone(), bad]);
    let err = decode_protobuf(&body).unwrap_err();
    let offset = body.len() - 4; // the length varint of the line
    assert_eq!(
        err,
        LokiError::Protobuf {
            offset,
            context: "stream 0: entry 1: line".into(),
            message: "length 100 runs past the end of the message (3 bytes left)".into(),
        }
    );
    assert_eq!(
        err.to_string(),
        format!("protobuf: stream 0: entry 1: line: length 100 runs past the end of the message (3 bytes left) at byte {offset}")
    );

    // A known field with the wrong wire type.
    let body = raw_request("{a=\"1\"}", &[vec![0x10, 1]]); // line (2) as a varint
    assert_eq!(
        decode_protobuf(&body).unwrap_err().to_string(),
        format!(
            "protobuf: stream 0: entry 0: line: invalid wire type varint (expected length-delimited) at byte {}",
            body.len() - 2
        )
    );
    // Metadata pairs are indexed too.
    let mut md = Vec::new();
    prost::encoding::bytes::encode(3, &vec![0x0a, 5, b'x'], &mut md);
    let err = decode_protobuf(&raw_request("{a=\"1\"}", &[good, md])).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "protobuf: stream 0: entry 1: structured metadata 0: name: length 5 runs past"
        ),
        "{err}"
    );
    // Truncated at the top level.
    let full = raw_protobuf(&sample());
    let err = decode_protobuf(&full[..full.len() - 1]).unwrap_err();
    assert!(
        matches!(&err, LokiError::Protobuf { context, message, .. }
            if context == "stream 2" && message.contains("runs past the end")),
        "{err}"
    );
    // Keys prost refuses.
    assert_eq!(
        decode_protobuf(&[0x00]).unwrap_err().to_string(),
        "protobuf: invalid tag value: 0 at byte 0"
    );
    assert_eq!(
        decode_protobuf(&[0x0e]).unwrap_err().to_string(),
        "protobuf: invalid wire type value: 6 at byte 0"
    );
    assert_eq!(
        decode_protobuf(&[0x80; 11]).unwrap_err().to_string(),
        "protobuf: invalid varint (longer than 10 bytes) at byte 0"
    );
    assert_eq!(
        decode_protobuf(&[0x4c]).unwrap_err().to_string(),
        "protobuf: unexpected end group tag at byte 0"
    );
    assert_eq!(
        decode_protobuf(&[0x0c]).unwrap_err().to_string(),
        "protobuf: stream 0: invalid wire type end group (expected length-delimited) at byte 0"
    );
}

#[test]
fn protobuf_unknown_fields_groups_and_recursion() {
    let mut body = raw_request(
        "{a=\"1\"}",
        &[{
            let mut e = raw_entry(&EntryAdapter {
                timestamp: Some(Timestamp::from_nanos(9)),
                line: "l".into(),
                structured_metadata: vec![],
            });
            // parsed (4), as Loki's query responses carry it, and a group (field 9).
            prost::encoding::bytes::encode(4, &vec![0x0a, 1, b'k'], &mut e);
            e.extend_from_slice(&[0x4b, 0x08, 0x01, 0x4c]);
            e
        }],
    );
    // PushRequest.format (2), hash (3) of a second stream, fixed-width unknowns.
    prost::encoding::string::encode(2, &"loki".to_string(), &mut body);
    let mut s2 = Vec::new();
    prost::encoding::string::encode(1, &"{b=\"2\"}".to_string(), &mut s2);
    prost::encoding::uint64::encode(3, &12345, &mut s2);
    s2.extend_from_slice(&[0x79, 1, 2, 3, 4, 5, 6, 7, 8, 0x7d, 1, 2, 3, 4]);
    prost::encoding::bytes::encode(1, &s2, &mut body);
    let got = decode_protobuf(&body).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].entries, vec![LogEntry::new(9, "l")]);
    assert_eq!(got[1], stream(&[("b", "2")], vec![]));
    assert!(PushRequest::decode(body.as_slice()).is_ok());

    // Deeply nested groups hit the recursion limit instead of the stack.
    let mut deep = vec![0x4b; 5000];
    deep.extend(vec![0x4c; 5000]);
    assert!(PushRequest::decode(deep.as_slice()).is_err());
    assert_eq!(
        decode_protobuf(&deep).unwrap_err().to_string(),
        "protobuf: recursion limit reached at byte 100"
    );
    let mut ok = vec![0x4b; 50];
    ok.extend(vec![0x4c; 50]);
    assert!(decode_protobuf(&ok).unwrap().is_empty());
    // A mismatched end group.
    assert!(decode_protobuf(&[0x4b, 0x54]).is_err());
}

#[test]
fn protobuf_labels_and_text() {
    let e = raw_entry(&EntryAdapter {
        timestamp: None,
        line: String::new(),
        structured_metadata: vec![],
    });
    let err = decode_protobuf(&raw_request(r#"{app=~"x"}"#, &[e])).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"stream 0: error parsing labels '{app=~"x"}': only '=' is allowed between a label name and its value in stream labels, found '=~' at offset 4"#
    );
    let long = format!("{{a=\"{}\", b}}", "x".repeat(400));
    let msg = decode_protobuf(&raw_request(&long, &[]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("xxx...': expected '='"), "{msg}");
    assert!(msg.len() < 400, "{msg}");
    // Invalid UTF-8: refused in labels, replaced in lines and metadata.
    let mut body = Vec::new();
    let mut s = Vec::new();
    prost::encoding::bytes::encode(1, &b"{a=\"\xff\"}".to_vec(), &mut s);
    prost::encoding::bytes::encode(1, &s, &mut body);
    assert!(matches!(
        decode_protobuf(&body),
        Err(LokiError::Labels {
            stream: 0,
            error: LabelsError::InvalidUtf8,
            ..
        })
    ));
    let mut e = Vec::new();
    prost::encoding::bytes::encode(2, &b"a\xffb".to_vec(), &mut e);
    let mut pair = Vec::new();
    prost::encoding::bytes::encode(1, &b"k\xfe".to_vec(), &mut pair);
    prost::encoding::bytes::encode(2, &b"v".to_vec(), &mut pair);
    prost::encoding::bytes::encode(3, &pair, &mut e);
    let got = decode_protobuf(&raw_request("{a=\"1\"}", &[e])).unwrap();
    assert_eq!(
        got[0].entries[0],
        entry(0, "a\u{fffd}b", &[("k\u{fffd}", "v")])
    );
}

// ---- JSON ---------------------------------------------------------------

#[test]
fn json_push_decodes() {
    let body = r#"
    {"streams": [
      {"stream": {"env": "prod", "app": "api", "gone": ""},
       "values": [["1700000000000000000", "GET /"],
                  null,
                  [1700000000000000001, "two", {"trace_id": "abc", "trace_id": "dup"}],
                  ["-5", "neg", null]],
       "extra": {"ignored": [1, 2]}},
      {"stream": {"app": "db", "app": "db2"}, "values": null},
      {"values": [], "stream": {"z": "1"}}
    ], "format": "whatever"}"#;
    let got = decode_json(body.as_bytes()).unwrap();
    assert_eq!(
        got,
        vec![
            stream(
                &[("app", "api"), ("env", "prod")],
                vec![
                    entry(1_700_000_000_000_000_000, "GET /", &[]),
                    entry(
                        1_700_000_000_000_000_001,
                        "two",
                        &[("trace_id", "abc"), ("trace_id", "dup")]
                    ),
                    entry(-5, "neg", &[]),
                ]
            ),
            stream(&[("app", "db2")], vec![]),
            stream(&[("z", "1")], vec![]),
        ]
    );
    assert!(decode_json(b"{}").unwrap().is_empty());
    assert!(decode_json(br#"{"streams":null}"#).unwrap().is_empty());
}

#[test]
fn json_errors_name_stream_entry_and_position() {
    // serde_json points just past the offending value.
    let e = json_err(r#"{"streams":[{"stream":{"a":"1"},"values":[["1","x"],["abc","y"]]}]}"#);
    assert_eq!(
        e.to_string(),
        r#"json: stream 0: entry 1: timestamp "abc" is not an integer number of nanoseconds at line 1 column 58"#
    );
    assert!(matches!(
        e,
        LokiError::Json {
            line: 1,
            column: 58,
            ..
        }
    ));
    let cases = [
        (
            r#"{"streams":[{"stream":{"a":"1"}},{"stream":{"a":"1"},"values":[["1",2]]}]}"#,
            "json: stream 1: entry 0: line must be a string, got the number 2 at line 1",
        ),
        (
            r#"{"streams":[{"values":[["1.5","x"]]}]}"#,
            r#"json: stream 0: entry 0: timestamp "1.5" is not an integer number of nanoseconds"#,
        ),
        (
            r#"{"streams":[{"values":[[1.5,"x"]]}]}"#,
            "json: stream 0: entry 0: timestamp 1.5 is not an integer number of nanoseconds",
        ),
        (
            r#"{"streams":[{"values":[["+1","x"]]}]}"#,
            r#"json: stream 0: entry 0: timestamp "+1" is not an integer number"#,
        ),
        (
            r#"{"streams":[{"values":[["99999999999999999999","x"]]}]}"#,
            r#"json: stream 0: entry 0: timestamp "99999999999999999999" is not an integer"#,
        ),
        (
            r#"{"streams":[{"values":[[18446744073709551615,"x"]]}]}"#,
            "json: stream 0: entry 0: timestamp 18446744073709551615 is out of range for Unix nanoseconds",
        ),
        (
            r#"{"streams":[{"values":[[true,"x"]]}]}"#,
            "json: stream 0: entry 0: timestamp must be a string of integer Unix nanoseconds, got `true`",
        ),
        (
            r#"{"streams":[{"values":[["1"]]}]}"#,
            "json: stream 0: entry 0: expected [timestamp, line] or [timestamp, line, structured metadata], got an array of 1 element",
        ),
        (
            r#"{"streams":[{"values":[[]]}]}"#,
            "got an empty array",
        ),
        (
            r#"{"streams":[{"values":[["1","x",{},4]]}]}"#,
            "got an array of more than 3 elements",
        ),
        (
            r#"{"streams":[{"values":[{"ts":"1"}]}]}"#,
            "json: stream 0: entry 0: expected [timestamp, line] or [timestamp, line, structured metadata], got an object",
        ),
        (
            r#"{"streams":[{"values":[["1","x",{"k":1}]]}]}"#,
            r#"json: stream 0: entry 0: structured metadata "k" must be a string, got the number 1"#,
        ),
        (
            r#"{"streams":[{"values":[["1","x",["k"]]]}]}"#,
            "invalid type: sequence, expected the structured metadata of entry 0 of stream 0 to be an object",
        ),
        (
            r#"{"streams":[{"stream":{"a":1}}]}"#,
            r#"json: stream 0: label "a" must be a string, got the number 1"#,
        ),
        (
            r#"{"streams":[{"stream":["a"]}]}"#,
            "expected the labels of stream 0 to be an object",
        ),
        (r#"{"streams":{}}"#, r#"expected "streams" to be an array"#),
        (r#"{"streams":[1]}"#, "expected stream 0 to be an object"),
        (r#"[]"#, r#"expected an object {"streams": [...]}"#),
        (r#"{"streams":[]} x"#, "json: trailing characters at line 1 column 16"),
        ("", "json: EOF while parsing a value at line 1 column 0"),
    ];
    for (body, want) in cases {
        let got = json_err(body).to_string();
        assert!(got.contains(want), "{body}\n got: {got}\nwant: {want}");
    }
}

#[test]
fn json_label_errors() {
    assert_eq!(
        json_err(r#"{"streams":[{"stream":{"a":"1"}},{"stream":{"b":"2","a.b":"c"}}]}"#)
            .to_string(),
        r#"stream 1: error parsing labels '{b="2", a.b="c"}': invalid label name "a.b""#
    );
    assert_eq!(
        json_err(r#"{"streams":[{"stream":{"a":""},"values":[]}]}"#).to_string(),
        r#"stream 0: error parsing labels '{a=""}': at least one label pair is required per stream"#
    );
    assert_eq!(
        json_err(r#"{"streams":[{"values":[]}]}"#),
        LokiError::Labels {
            stream: 0,
            labels: "{}".into(),
            error: LabelsError::Empty
        }
    );
}

#[test]
fn json_round_trip() {
    let streams = sample();
    let body = encode_push_json(&streams);
    assert_eq!(decode_json(&body).unwrap(), streams);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.starts_with(r#"{"streams":[{"stream":{"app":"api","env":"prod"},"values":[["1700000000000000000","GET /"],["1700000000000000001","boom \"quoted\"\n","#)
    );
}

// ---- bodies -------------------------------------------------------------

#[test]
fn content_types() {
    use PushFormat::*;
    assert_eq!(PushFormat::from_content_type(None), Protobuf);
    assert_eq!(PushFormat::from_content_type(Some("")), Protobuf);
    assert_eq!(
        PushFormat::from_content_type(Some("application/x-protobuf")),
        Protobuf
    );
    assert_eq!(
        PushFormat::from_content_type(Some("application/jsonn")),
        Protobuf
    );
    assert_eq!(
        PushFormat::from_content_type(Some("application/json")),
        Json
    );
    assert_eq!(
        PushFormat::from_content_type(Some(" Application/JSON ; charset=utf-8")),
        Json
    );
}

#[test]
fn content_encodings() {
    let streams = sample();
    let json = encode_push_json(&streams);
    let pb = encode_push_protobuf(&streams);
    let j = Some("application/json");
    let p = Some("application/x-protobuf");
    let max = 1 << 20;
    let ok = |ct, ce, body: &[u8]| decode_push(ct, ce, body, max).unwrap();
    assert_eq!(ok(j, None, &json), streams);
    assert_eq!(ok(j, Some("identity"), &json), streams);
    assert_eq!(ok(j, Some("gzip"), &gzip(&json)), streams);
    assert_eq!(
        ok(j, Some("GZIP"), &[gzip(&json), gzip(b" ")].concat()),
        streams
    );
    assert_eq!(ok(p, Some("gzip"), &gzip(&pb)), streams);
    assert_eq!(ok(p, Some("snappy"), &pb), streams);
    assert_eq!(ok(j, Some("snappy"), &snappy_block(&json)), streams);
    // JSON labelled snappy but sent plain (Loki ignores the header).
    assert_eq!(ok(j, Some("snappy"), &json), streams);
    let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    raw.write_all(&json).unwrap();
    assert_eq!(ok(j, Some("deflate"), &raw.finish().unwrap()), streams);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&pb).unwrap();
    assert_eq!(ok(None, Some("deflate"), &z.finish().unwrap()), streams);

    let err = decode_push(j, Some("br"), &json, max).unwrap_err();
    assert_eq!(err.to_string(), r#"Content-Encoding "br" not supported"#);
    assert_eq!(err.http_status(), 415);
    let err = decode_push(j, Some("gzip"), &json, max).unwrap_err();
    assert!(
        matches!(
            err,
            LokiError::Decompress {
                encoding: "gzip",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with("gzip: "), "{err}");
    let err = decode_push(p, None, &json, max).unwrap_err();
    assert!(err.to_string().starts_with("snappy: "), "{err}");
    // Protobuf without snappy is refused, as in Loki.
    assert!(decode_push(p, None, &raw_protobuf(&streams), max).is_err());
}

#[test]
fn decoded_size_limit() {
    let big = sample();
    let json = encode_push_json(&big);
    let pb = encode_push_protobuf(&big);
    let small = 100;
    let too_large = LokiError::TooLarge { limit: small };
    let j = Some("application/json");
    assert_eq!(decode_push(j, None, &json, small), Err(too_large.clone()));
    assert_eq!(
        decode_push(j, Some("gzip"), &gzip(&json), small),
        Err(too_large.clone())
    );
    assert_eq!(decode_push(None, None, &pb, small), Err(too_large.clone()));
    assert_eq!(
        decode_push(None, Some("gzip"), &gzip(&pb), small),
        Err(too_large.clone())
    );
    assert_eq!(too_large.http_status(), 413);
    assert!(too_large.is_too_large());
    assert!(!LokiError::UnsupportedEncoding("br".into()).is_too_large());
    assert_eq!(
        too_large.to_string(),
        "decoded body exceeds the limit of 100 bytes"
    );
    // A gzip bomb stops at the limit.
    let bomb = gzip(&vec![b'{'; 10 << 20]);
    assert_eq!(
        decode_push(j, Some("gzip"), &bomb, 1 << 20),
        Err(LokiError::TooLarge { limit: 1 << 20 })
    );
    // Exactly at the limit is fine.
    assert!(decode_push(j, None, &json, json.len()).is_ok());
    assert!(decode_push(j, Some("gzip"), &gzip(&json), json.len()).is_ok());
    let raw_len = raw_protobuf(&big).len();
    assert!(decode_push(None, None, &pb, raw_len).is_ok());
    assert!(decompress(Some("snappy"), &pb, raw_len - 1).is_err());
    assert_eq!(decompress(None, b"abc", 3).unwrap().as_ref(), b"abc");
}

// ---- properties ---------------------------------------------------------

fn label_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,8}".prop_filter("not __name__", |n| n != "__name__")
}

fn labels() -> impl Strategy<Value = Labels> {
    prop::collection::vec(
        (
            label_name(),
            any::<String>().prop_filter("non-empty", |v| !v.is_empty()),
        ),
        1..4,
    )
    .prop_map(|pairs| Labels::from_pairs(&pairs))
}

fn log_entry() -> impl Strategy<Value = LogEntry> {
    (
        any::<i64>(),
        any::<String>(),
        prop::collection::vec((any::<String>(), any::<String>()), 0..3),
    )
        .prop_map(|(ts, line, metadata)| LogEntry {
            ts,
            line: line.into(),
            metadata,
        })
}

fn streams() -> impl Strategy<Value = Vec<LogStream>> {
    prop::collection::vec(
        (labels(), prop::collection::vec(log_entry(), 0..4))
            .prop_map(|(labels, entries)| LogStream { labels, entries }),
        0..4,
    )
}

/// Checks the hand-written reader against prost on the same bytes: if prost
/// accepts them, the reader yields the same content (or refuses the labels or
/// a timestamp, which prost does not look at); if the reader reports a wire
/// error, prost refuses them too.
fn agrees_with_prost(raw: &[u8]) -> Result<(), TestCaseError> {
    let ours = decode_protobuf(raw);
    match PushRequest::decode(raw) {
        Ok(req) => match ours {
            Ok(streams) => {
                prop_assert_eq!(streams.len(), req.streams.len());
                for (s, r) in streams.iter().zip(&req.streams) {
                    prop_assert_eq!(&s.labels, &parse_labels(&r.labels).unwrap());
                    prop_assert_eq!(s.entries.len(), r.entries.len());
                    for (e, re) in s.entries.iter().zip(&r.entries) {
                        prop_assert_eq!(Some(e.ts), re.timestamp.unwrap_or_default().to_nanos());
                        prop_assert_eq!(&e.line, &re.line);
                        let md: Vec<(String, String)> = re
                            .structured_metadata
                            .iter()
                            .map(|p| (p.name.clone(), p.value.clone()))
                            .collect();
                        prop_assert_eq!(&e.metadata, &md);
                    }
                }
            }
            Err(LokiError::Labels { .. } | LokiError::Timestamp { .. }) => {}
            Err(e) => prop_assert!(false, "prost accepts, we refuse: {}", e),
        },
        Err(_) => {
            // The reader is lenient only about UTF-8 in lines and metadata.
            if let Ok(streams) = ours {
                let lossy = streams.iter().flat_map(|s| &s.entries).any(|e| {
                    e.line.contains('\u{fffd}')
                        || e.metadata
                            .iter()
                            .any(|(k, v)| k.contains('\u{fffd}') || v.contains('\u{fffd}'))
                });
                prop_assert!(lossy, "prost refuses, we accept");
            }
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn labels_format_parse_round_trip(ls in labels()) {
        prop_assert_eq!(parse_labels(&format_labels(&ls)).unwrap(), ls);
    }

    #[test]
    fn parse_labels_arbitrary_never_panics(s in any::<String>()) {
        if let Ok(ls) = parse_labels(&s) {
            prop_assert!(ls.validate().is_ok());
        }
    }

    #[test]
    fn parse_labels_selector_like_never_panics(s in r#"\{ ?(("?[a-z_]{0,3}"?|`[a-z]`) ?(=|!=|=~)? ?("([^"\\]|\\[abfnrtv\\"'xuU0-9a-fA-F]){0,6}"?|'[^']{0,3}'?|`[^`]{0,3}`?) ?,? ?){0,3}\}?"#) {
        if let Ok(ls) = parse_labels(&s) {
            prop_assert!(ls.validate().is_ok());
            prop_assert_eq!(parse_labels(&format_labels(&ls)).unwrap(), ls);
        }
    }

    #[test]
    fn protobuf_round_trip_random(ss in streams()) {
        let body = encode_push_protobuf(&ss);
        prop_assert_eq!(decode_push(Some("application/x-protobuf"), None, &body, 1 << 24).unwrap(), ss.clone());
        prop_assert_eq!(decode_push(None, Some("gzip"), &gzip(&body), 1 << 24).unwrap(), ss);
    }

    #[test]
    fn json_round_trip_random(ss in streams()) {
        let body = encode_push_json(&ss);
        prop_assert_eq!(decode_push(Some("application/json"), None, &body, 1 << 24).unwrap(), ss);
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        for ct in [None, Some("application/json")] {
            for ce in [None, Some("gzip"), Some("deflate"), Some("snappy")] {
                if let Err(e) = decode_push(ct, ce, &body, 1 << 16) {
                    let _ = (e.to_string(), e.http_status());
                }
            }
        }
        let _ = decode_json(&body);
        let _ = decode_push(None, None, &snappy_block(&body), 1 << 16);
    }

    #[test]
    fn arbitrary_protobuf_agrees_with_prost(raw in prop::collection::vec(any::<u8>(), 0..256)) {
        agrees_with_prost(&raw)?;
    }

    #[test]
    fn mutated_protobuf_agrees_with_prost(
        ss in streams(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut raw = raw_protobuf(&ss);
        if raw.is_empty() {
            return Ok(());
        }
        for (i, b) in &edits {
            let at = i.index(raw.len());
            raw[at] = *b;
        }
        agrees_with_prost(&raw)?;
        agrees_with_prost(&raw[..cut.index(raw.len())])?;
    }

    #[test]
    fn mutated_json_never_panics(
        ss in streams(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(&b"{}[],:\"0-a \\"[..])), 1..4),
    ) {
        let mut body = encode_push_json(&ss);
        if body.is_empty() {
            return Ok(());
        }
        for (i, b) in &edits {
            let at = i.index(body.len());
            body[at] = *b;
        }
        if let Ok(got) = decode_json(&body) {
            for s in &got {
                prop_assert!(s.labels.validate().is_ok());
            }
        }
    }
}
