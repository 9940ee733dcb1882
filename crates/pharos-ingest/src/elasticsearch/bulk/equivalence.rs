//! [`parse_bulk`] and [`render_response`] against the implementation they
//! replaced ([`oracle`], and the old response writer below): the same
//! streams, entries, items, errors and bytes for varied, odd and broken
//! bodies.

use proptest::prelude::*;

use super::oracle;
use super::*;
use crate::elasticsearch::response::push_json_str_by_char;
use crate::elasticsearch::{filter_path, render_response, render_response_filtered};

/// Both parsers' answers for `body`, which must be alike.
fn check(body: &[u8], path_index: Option<&str>, mapping: &FieldMapping) -> Result<(), String> {
    let new = parse_bulk_seq(body, path_index, mapping, 7, 42);
    let old = oracle::parse_bulk(body, path_index, mapping, 7, 42);
    let shown = || String::from_utf8_lossy(body).into_owned();
    match (new, old) {
        (Ok(a), Ok(b)) => {
            if a.streams != b.streams {
                return Err(format!(
                    "streams differ for {:?}:\n new {:?}\n old {:?}",
                    shown(),
                    a.streams,
                    b.streams
                ));
            }
            if a.items != b.items {
                return Err(format!(
                    "items differ for {:?}:\n new {:?}\n old {:?}",
                    shown(),
                    a.items,
                    b.items
                ));
            }
            if a.refs != b.refs || a.labels != b.labels {
                return Err(format!("bookkeeping differs for {:?}", shown()));
            }
            let (ra, rb) = (render_response(&a, 5), old_render_response(&b, 5));
            if ra != rb {
                return Err(format!(
                    "responses differ for {:?}:\n new {}\n old {}",
                    shown(),
                    String::from_utf8_lossy(&ra),
                    String::from_utf8_lossy(&rb)
                ));
            }
            for filter in ["errors,items.*.error,items.*.status", "-items.*._id,-took"] {
                let fa = render_response_filtered(&a, 5, Some(filter));
                let fb = serde_json::from_slice::<serde_json::Value>(&rb)
                    .map(|v| serde_json::to_vec(&filter_path(&v, filter)).unwrap_or_default())
                    .unwrap_or_default();
                if fa != fb {
                    return Err(format!(
                        "filtered responses differ for {:?}:\n new {}\n old {}",
                        shown(),
                        String::from_utf8_lossy(&fa),
                        String::from_utf8_lossy(&fb)
                    ));
                }
            }
            Ok(())
        }
        (Err(a), Err(b)) if a == b => Ok(()),
        (a, b) => Err(format!(
            "outcomes differ for {:?}:\n new {:?}\n old {:?}",
            shown(),
            a.map(|r| r.items),
            b.map(|r| r.items)
        )),
    }
}

fn mappings() -> Vec<FieldMapping> {
    vec![
        FieldMapping::default(),
        FieldMapping {
            time_fields: vec!["ts".into(), "@timestamp".into()],
            line_fields: vec!["msg".into(), "message".into(), "log".into()],
            label_fields: vec![
                "level".into(),
                "a.b".into(),
                String::new(),
                "1x".into(),
                "kubernetes.namespace_name".into(),
                "a_b".into(),
            ],
            index_label: "es.index".into(),
        },
        FieldMapping {
            time_fields: vec!["message".into()],
            line_fields: vec!["@timestamp".into(), "a".into()],
            label_fields: vec!["message".into(), "a".into(), "host".into()],
            index_label: String::new(),
        },
    ]
}

fn check_all(body: &[u8]) -> Result<(), String> {
    for m in mappings() {
        check(body, None, &m)?;
        check(body, Some("path-index"), &m)?;
    }
    Ok(())
}

// ---- the response writer as it was ----

fn old_push_opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_json_str_by_char(out, s),
        None => out.push_str("null"),
    }
}

fn old_push_item(out: &mut String, item: &BulkItem, seq_no: &mut u64) {
    out.push_str("{\"");
    out.push_str(item.action.as_str());
    out.push_str("\":{\"_index\":");
    old_push_opt_str(out, item.index.as_deref());
    out.push_str(",\"_id\":");
    old_push_opt_str(out, item.id.as_deref());
    match &item.error {
        None => {
            out.push_str(
                ",\"_version\":1,\"result\":\"created\",\
                 \"_shards\":{\"total\":1,\"successful\":1,\"failed\":0},\"_seq_no\":",
            );
            out.push_str(&seq_no.to_string());
            out.push_str(",\"_primary_term\":1,\"status\":201}}");
            *seq_no += 1;
        }
        Some(e) => {
            out.push_str(",\"status\":");
            out.push_str(&e.status.to_string());
            out.push_str(",\"error\":{\"type\":");
            push_json_str_by_char(out, &e.kind);
            out.push_str(",\"reason\":");
            push_json_str_by_char(out, &e.reason);
            if let Some(index) = &item.index {
                out.push_str(",\"index\":");
                push_json_str_by_char(out, index);
            }
            out.push_str("}}}");
        }
    }
}

fn old_render_response(req: &BulkRequest, took_ms: u64) -> Vec<u8> {
    let mut out = String::with_capacity(64 + req.items.len() * 180);
    out.push_str("{\"took\":");
    out.push_str(&took_ms.to_string());
    out.push_str(",\"errors\":");
    out.push_str(if req.has_errors() { "true" } else { "false" });
    out.push_str(",\"items\":[");
    let mut seq_no = 0;
    for (i, item) in req.items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        old_push_item(&mut out, item, &mut seq_no);
    }
    out.push_str("]}");
    out.into_bytes()
}

// ---- generators of JSON text, valid and not ----

fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Pieces of a JSON string's content, mostly valid.
fn string_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => "[a-zA-Z0-9 ._:/@=-]{0,12}".prop_map(|s| bytes(&s)),
        2 => prop::sample::select(vec!["é", "😀", "日本", "\u{7f}", "\u{80}", "\u{fffd}"]).prop_map(bytes),
        3 => prop::sample::select(vec![
            "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u00e9", "\\u0041",
            "\\u0000", "\\u001f", "\\uFFFF", "\\uD83D\\uDE00", "\\ud83d\\ude00",
        ]).prop_map(bytes),
        1 => prop::sample::select(vec![
            "\\ud800", "\\udc00", "\\ud800x", "\\ud800\\u0041", "\\u12", "\\u12g4", "\\x",
            "\\'", "\\", "\\u+123", "\\U0041",
        ]).prop_map(bytes),
        1 => prop::sample::select(vec![
            vec![0x01u8], vec![b'\t'], vec![0x1f], vec![0xff], vec![0xc3], vec![0xc3, 0xa9],
            vec![0xed, 0xa0, 0x80], vec![0xf0, 0x9f, 0x98], vec![0x7f],
        ]),
    ]
}

/// A JSON string's text, quotes included.
fn json_string() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(string_piece(), 0..4).prop_map(|pieces| {
        let mut s = vec![b'"'];
        for p in pieces {
            s.extend(p);
        }
        s.push(b'"');
        s
    })
}

fn json_number() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => any::<i64>().prop_map(|n| bytes(&n.to_string())),
        2 => (0u64..2_000_000_000_000).prop_map(|n| bytes(&n.to_string())),
        2 => prop::sample::select(vec![
            "0", "-0", "7", "-7", "007", "-", "-a", "1.5", "-1.5", "1e3", "1E-2", "-0.0", "0.0",
            "1.", ".5", "+1", "1e400", "-1e400", "1e-400", "123456789012345678",
            "-123456789012345678", "1234567890123456789", "12345678901234567890",
            "18446744073709551615", "18446744073709551616", "-9223372036854775808",
            "-9223372036854775809", "99999999999999999999999", "1700000000000.25", "2e2",
            "0e0", "0.1e1", "1.7976931348623157e308", "5e-324", "01.5", "-01",
        ]).prop_map(bytes),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| bytes(&f.to_string())),
    ]
}

fn literal() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        "true", "false", "null", "tru", "nul", "falsey", "nulll", "True",
    ])
    .prop_map(bytes)
}

/// JSON whitespace (no `\n`: lines never hold one), now and then.
fn ws() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => Just(Vec::new()),
        1 => prop::sample::select(vec![" ", "\t", "\r", "  ", " \t "]).prop_map(bytes),
    ]
}

const KEYS: &[&str] = &[
    "message",
    "log",
    "@timestamp",
    "ts",
    "msg",
    "a",
    "a.b",
    "a_b",
    "b",
    "level",
    "host",
    "",
    "kubernetes",
    "namespace_name",
    "kubernetes.namespace_name",
    "1x",
    "é",
    "$serde_json::private::RawValue",
    "$serde_json::private::Number",
];

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::sample::select(KEYS).prop_map(|k| bytes(&format!("\"{k}\""))),
        1 => Just(bytes("\"me\\u0073sage\"")),
        1 => json_string(),
        1 => prop::sample::select(vec!["1", "a", "null", "'a'"]).prop_map(bytes),
    ]
}

/// A time-like value, to make time fields parse (and not).
fn time_value() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        "\"2023-11-14T22:13:20Z\"",
        "\"2023-11-14T22:13:20.123Z\"",
        "\"2023-11-14T22:13:20.123456789Z\"",
        "\"2023-11-14T22:13:20,5Z\"",
        "\"2023-11-14T22:13:20.1234567891Z\"",
        "\"2023-02-29T22:13:20Z\"",
        "\"2024-02-29T23:59:60Z\"",
        "\"2023-11-14t22:13:20z\"",
        "\"2023-11-14 22:13:20\"",
        "\"2023-11-14T22:13:20+01:00\"",
        "\" 2023-11-14T22:13:20Z \"",
        "\"2023-11-14T22:13:20.Z\"",
        "\"1700000000000\"",
        "\"1700000000000.5\"",
        "1700000000000",
        "1700000000000.5",
        "-5",
        "\"yesterday\"",
        "\"3000-01-01T00:00:00Z\"",
        "\"2262-04-11T23:47:16.854775807Z\"",
        "\"2262-04-11T23:47:16.854775808Z\"",
        "\"1677-09-21T00:12:43.145224192Z\"",
        "\"0000-01-01T00:00:00Z\"",
        "\"2023-11-14T22:13:20\\u005a\"",
    ])
    .prop_map(bytes)
}

fn value(depth: u32) -> BoxedStrategy<Vec<u8>> {
    let leaf = prop_oneof![
        4 => json_string(),
        2 => json_number(),
        1 => literal(),
        1 => time_value(),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        6 => leaf,
        2 => object(depth - 1),
        1 => array(depth - 1),
    ]
    .boxed()
}

fn array(depth: u32) -> BoxedStrategy<Vec<u8>> {
    (
        prop::collection::vec((ws(), value(depth), ws()), 0..4),
        prop::sample::select(vec!["", "", "", "", ",", "]"]),
    )
        .prop_map(|(items, junk)| {
            let mut s = vec![b'['];
            for (i, (w1, v, w2)) in items.into_iter().enumerate() {
                if i > 0 {
                    s.push(b',');
                }
                s.extend(w1);
                s.extend(v);
                s.extend(w2);
            }
            s.extend(junk.as_bytes());
            s.push(b']');
            s
        })
        .boxed()
}

fn object(depth: u32) -> BoxedStrategy<Vec<u8>> {
    (
        prop::collection::vec((ws(), key(), ws(), ws(), value(depth), ws()), 0..6),
        prop::sample::select(vec!["", "", "", "", "", "", ",", " ", "}"]),
    )
        .prop_map(|(entries, junk)| {
            let mut s = vec![b'{'];
            for (i, (w1, k, w2, w3, v, w4)) in entries.into_iter().enumerate() {
                if i > 0 {
                    s.push(b',');
                }
                s.extend(w1);
                s.extend(k);
                s.extend(w2);
                s.push(b':');
                s.extend(w3);
                s.extend(v);
                s.extend(w4);
            }
            s.extend(junk.as_bytes());
            s.push(b'}');
            s
        })
        .boxed()
}

/// Valid JSON strings (what the fast reader takes, mostly).
fn clean_string() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        6 => "[a-zA-Z0-9 ._:/@=-]{0,12}".prop_map(|s| bytes(&s)),
        2 => prop::sample::select(vec!["é", "😀", "日本", "\u{7f}", "\u{80}"]).prop_map(bytes),
        3 => prop::sample::select(vec![
            "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u00e9",
            "\\u0041", "\\u0000", "\\u001f", "\\uFFFF", "\\uD83D\\uDE00", "\\u00E9",
            "\\u20ac",
        ]).prop_map(bytes),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|pieces| {
        let mut s = vec![b'"'];
        for p in pieces {
            s.extend(p);
        }
        s.push(b'"');
        s
    })
}

/// Valid JSON numbers, mostly integers, at the edges of the fast reader's.
fn clean_number() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => any::<i64>().prop_map(|n| bytes(&n.to_string())),
        3 => prop::sample::select(vec![
            "0", "-0", "1", "-1", "9", "10", "-10", "999999999999999999", "-999999999999999999",
            "1000000000000000000", "-1000000000000000000", "9223372036854775807",
            "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
            "18446744073709551615", "18446744073709551616", "1.5", "-0.0", "1e2", "1700000000000",
        ]).prop_map(bytes),
    ]
}

fn clean_value(depth: u32) -> BoxedStrategy<Vec<u8>> {
    let scalar = prop_oneof![
        4 => clean_string(),
        2 => clean_number(),
        1 => prop::sample::select(vec!["true", "false", "null"]).prop_map(bytes),
        1 => time_value(),
    ];
    if depth == 0 {
        return scalar.boxed();
    }
    let arr = prop::collection::vec(clean_value(depth - 1), 0..4)
        .prop_map(|items| [bytes("["), items.join(&b","[..]), bytes("]")].concat());
    prop_oneof![
        6 => scalar,
        2 => clean_object(depth - 1),
        1 => arr,
    ]
    .boxed()
}

fn clean_object(depth: u32) -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(
        (
            ws(),
            prop::sample::select(&KEYS[..17]),
            ws(),
            clean_value(depth),
        ),
        0..6,
    )
    .prop_map(|entries| {
        let mut s = vec![b'{'];
        for (i, (w1, k, w2, v)) in entries.into_iter().enumerate() {
            if i > 0 {
                s.push(b',');
            }
            s.extend(w1);
            s.extend(format!("\"{k}\":").as_bytes());
            s.extend(w2);
            s.extend(v);
        }
        s.push(b'}');
        s
    })
    .boxed()
}

/// A document line: mostly an object (with a message now and then).
fn document() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => (ws(), object(3), ws()).prop_map(|(a, o, b)| [a, o, b].concat()),
        8 => clean_object(3),
        3 => (json_string(), time_value(), object(2)).prop_map(|(m, t, rest)| {
            let mut s = bytes("{\"message\":");
            s.extend(m);
            s.extend(b",\"@timestamp\":");
            s.extend(t);
            if rest.len() > 2 {
                s.push(b',');
                s.extend(&rest[1..]);
            } else {
                s.push(b'}');
            }
            s
        }),
        1 => value(2),
        1 => prop::sample::select(vec!["", " ", "{", "}", "{}", "{} x", "{}}", "[]", "\"x\""])
            .prop_map(bytes),
    ]
}

/// An action line: mostly a valid one.
fn action() -> impl Strategy<Value = Vec<u8>> {
    let id = prop_oneof![
        4 => Just(Vec::new()),
        2 => clean_string().prop_map(|s| [bytes(",\"_id\":"), s].concat()),
        1 => prop::sample::select(vec!["7", "-0", "1.5", "true", "null", "\"\""])
            .prop_map(|v| bytes(&format!(",\"_id\":{v}"))),
    ];
    let index = prop::sample::select(vec![
        "\"app\"",
        "\"app\"",
        "\"b\"",
        "\"\"",
        "\"a\\\"b\"",
        "null",
        "2024",
    ]);
    let name = prop::sample::select(vec![
        "index", "index", "create", "create", "update", "delete",
    ]);
    let valid = (name, index, id).prop_map(|(n, i, id)| {
        [
            bytes(&format!("{{\"{n}\":{{\"_index\":{i}")),
            id,
            bytes("}}"),
        ]
        .concat()
    });
    prop_oneof![12 => valid, 1 => any_action()]
}

/// An action line, valid or not.
fn any_action() -> impl Strategy<Value = Vec<u8>> {
    let id = prop_oneof![
        3 => Just(Vec::new()),
        2 => json_string().prop_map(|s| [bytes(",\"_id\":"), s].concat()),
        1 => prop_oneof![json_number(), literal(), array(0), object(0)]
            .prop_map(|v| [bytes(",\"_id\":"), v].concat()),
    ];
    let index = prop_oneof![
        4 => prop::sample::select(vec!["\"app\"", "\"b\"", "\"\"", "\"a\\\"b\""]).prop_map(bytes),
        1 => prop_oneof![json_string(), json_number(), literal(), array(0), object(0)],
    ];
    let name = prop::sample::select(vec![
        "index", "index", "index", "create", "create", "update", "delete", "upsert", "",
    ]);
    prop_oneof![
        10 => (name, index, id, ws()).prop_map(|(n, i, id, w)| {
            [bytes(&format!("{{\"{n}\":{{")), w, bytes("\"_index\":"), i, id, bytes("}}")].concat()
        }),
        2 => prop::sample::select(vec![
            "{\"index\":{}}",
            "{\"create\":{\"_index\":null}}",
            "{\"index\":{\"_index\":\"a\"},\"index\":{\"_index\":\"b\"}}",
            "{\"index\":{\"_index\":\"a\"},\"create\":{}}",
            "{\"index\":{\"_index\":\"a\",\"_index\":null}}",
            "{\"index\":{\"_index\":[1],\"_index\":\"a\"}}",
            "{\"index\":{\"_id\":{},\"_index\":[]}}",
            "{\"index\":{\"_index\":\"a\",\"routing\":{\"x\":[1,{\"y\":\"\\ud800\"}]}}}",
            "{\"index\":{\"$serde_json::private::RawValue\":\"{}\"}}",
            "{\"$serde_json::private::RawValue\":\"{\\\"index\\\":{\\\"_index\\\":\\\"r\\\"}}\"}",
            "{\"index\":{\"_index\":\"a\"}} x",
            "{\"index\":{\"_index\":1.5e3,\"_id\":true}}",
            "{\"index\":{\"_index\":\"a\",\"_id\":-0}}",
            "{}",
            "[]",
            "1",
            "nul",
            "",
            "  ",
        ])
        .prop_map(bytes),
        1 => value(1),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((action(), document(), 0u8..10), 1..6),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(pairs, crlf, final_nl)| {
            let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            let mut s = Vec::new();
            for (a, d, extra) in pairs {
                s.extend(a);
                s.extend(eol);
                if extra == 0 {
                    s.extend(eol); // a blank line
                }
                s.extend(d);
                s.extend(eol);
            }
            if !final_nl {
                s.truncate(s.len() - eol.len());
            }
            s
        })
}

/// `body` with a few bytes replaced, inserted or removed.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let edit = (
        any::<prop::sample::Index>(),
        0u8..3,
        prop::sample::select(vec![
            b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'\n', b'\r', b' ', 0x01, 0xff, 0xc3,
            b'0', b'-', b'.', b'e', b'u', b'a',
        ]),
    );
    (body(), prop::collection::vec(edit, 1..4)).prop_map(|(mut b, edits)| {
        for (at, op, byte) in edits {
            if b.is_empty() {
                b.push(byte);
                continue;
            }
            let i = at.index(b.len());
            match op {
                0 => b[i] = byte,
                1 => b.insert(i, byte),
                _ => {
                    b.remove(i);
                }
            }
        }
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn generated_bodies_parse_as_before(b in body()) {
        check_all(&b).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn mutated_bodies_parse_as_before(b in mutated()) {
        check_all(&b).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn arbitrary_bytes_parse_as_before(b in prop::collection::vec(any::<u8>(), 0..200)) {
        check_all(&b).map_err(TestCaseError::fail)?;
    }
}

/// A body of one `index` action per document.
fn indexed(docs: &[&[u8]]) -> Vec<u8> {
    let mut s = Vec::new();
    for d in docs {
        s.extend(b"{\"index\":{\"_index\":\"app\"}}\n");
        s.extend(*d);
        s.push(b'\n');
    }
    s
}

#[test]
fn edge_documents_parse_as_before() {
    let nested = |n: usize, open: &str, close: &str, inner: &str| {
        format!("{{\"a\":{}{inner}{}}}", open.repeat(n), close.repeat(n))
    };
    let mut docs: Vec<String> = vec![
        // Duplicate keys, at the top and nested; dotted names meeting nested ones.
        r#"{"message":"a","message":"b"}"#.into(),
        r#"{"message":"a","message":null}"#.into(),
        r#"{"a":{"x":1},"a":{"y":2}}"#.into(),
        r#"{"a":{"x":1},"a":3}"#.into(),
        r#"{"a":1,"a":{"b":{}}}"#.into(),
        r#"{"a.b":"flat","a":{"b":"nested"},"message":"m"}"#.into(),
        r#"{"a":{"b":"nested"},"a.b":"flat","message":"m"}"#.into(),
        r#"{"":{"":{"c":1}},"message":"m"}"#.into(),
        r#"{"a":{"":{"c":1}},"message":"m"}"#.into(),
        r#"{"@timestamp":"x","@timestamp":"2023-11-14T22:13:20Z","message":"m"}"#.into(),
        // Keys in every order; escaped keys equal to plain ones.
        r#"{"z":1,"y":2,"message":"m","b":3,"a":4,"é":5,"Z":6}"#.into(),
        r#"{"me\u0073sage":"escaped key","message":"plain"}"#.into(),
        // Numbers.
        r#"{"message":"m","n":[0,-0,1.0,1e2,-1,18446744073709551615,18446744073709551616,-9223372036854775808,-9223372036854775809]}"#.into(),
        r#"{"message":"m","big":123456789012345678901234567890}"#.into(),
        r#"{"message":"m","f":1e400}"#.into(),
        r#"{"message":"m","f":-0}"#.into(),
        r#"{"message":-0}"#.into(),
        r#"{"message":0.1}"#.into(),
        r#"{"@timestamp":1700000000000.123456789,"message":"m"}"#.into(),
        r#"{"@timestamp":-0,"message":"m"}"#.into(),
        // Strings.
        r#"{"message":"\ud83d\ude00 \u00e9 \/ \b\f\n\r\t \"q\" \\"}"#.into(),
        r#"{"message":"\ud800"}"#.into(),
        r#"{"message":"\udc00"}"#.into(),
        r#"{"message":"\ud800\u0041"}"#.into(),
        "{\"message\":\"tab\tinside\"}".into(),
        "{\"message\":\"del\u{7f}\"}".into(),
        // Arrays and objects as values.
        r#"{"message":["a",{"b":[1,{"d":null,"c":2}]}],"tags":[],"o":{}}"#.into(),
        r#"{"message":{"a":1}}"#.into(),
        r#"{"message":"m","a":[{"k":1,"k":2},{"b":1,"a":[2.5,-0,1e2]},[],{}]}"#.into(),
        r#"{"message":"m","a":[1-2]}"#.into(),
        r#"{"message":"m","a":1.5e+3,"b":-1E-2,"c":1.5.3,"d":2}"#.into(),
        r#"{"log":{"file":{"path":"/x"}},"message":"m"}"#.into(),
        // Not objects, empty, broken.
        "[]".into(),
        "\"s\"".into(),
        "1".into(),
        "1.5".into(),
        "true".into(),
        "null".into(),
        "{}".into(),
        " {} ".into(),
        "{} {}".into(),
        "{".into(),
        "{\"a\"".into(),
        "{\"a\":}".into(),
        "{\"a\":1,}".into(),
        "{\"a\" 1}".into(),
        "{a:1}".into(),
        "{\"a\":01}".into(),
        "{\"a\":-}".into(),
        "{\"a\":1.}".into(),
        "{\"a\":tru}".into(),
        "{\"a\":\"x}".into(),
        "{\"a\":\"\\x\"}".into(),
        // serde_json's private keys.
        r#"{"$serde_json::private::RawValue":"{\"message\":\"raw\"}"}"#.into(),
        r#"{"message":"m","x":{"$serde_json::private::RawValue":"[1]"}}"#.into(),
        r#"{"message":"m","x":{"k":1,"$serde_json::private::RawValue":"[1]"}}"#.into(),
        r#"{"$serde_json::private::Number":"1"}"#.into(),
        r#"{"message":"m","x":[{"$serde_json::private::RawValue":"2"}]}"#.into(),
        // Nesting at and past the recursion limit, and past the fast reader's depth.
        nested(126, "{\"b\":", "}", "1"),
        nested(127, "{\"b\":", "}", "1"),
        nested(128, "{\"b\":", "}", "1"),
        nested(15, "{\"b\":", "}", "\"deep\""),
        nested(16, "{\"b\":", "}", "\"deep\""),
        nested(17, "{\"b\":", "}", "\"deep\""),
        nested(126, "[", "]", "1"),
        nested(127, "[", "]", "1"),
        nested(128, "[", "]", "1"),
    ];
    docs.push(format!(
        "{{\"message\":\"{}\",\"@timestamp\":\"2023-11-14T22:13:20.123Z\"}}",
        "x".repeat(10_000)
    ));
    let owned: Vec<Vec<u8>> = docs.iter().map(|d| d.as_bytes().to_vec()).collect();
    let mut raw: Vec<Vec<u8>> = owned.clone();
    // Invalid UTF-8 inside and outside strings.
    raw.push(b"{\"message\":\"\xff\"}".to_vec());
    raw.push(b"{\"message\":\"\xc3\"}".to_vec());
    raw.push(b"{\"message\":\"\xed\xa0\x80\"}".to_vec());
    raw.push(b"{\"message\":\"ok\",\"\xff\":1}".to_vec());
    raw.push(b"{\"message\":\"a\\n\xc3\xa9\xff\"}".to_vec());
    raw.push(b"\xff{}".to_vec());
    raw.push(b"{\"message\":\"\x01\"}".to_vec());
    raw.push(b"{\"message\":\"m\"}\x0c".to_vec());
    raw.push(b"\x0c".to_vec());
    for d in &raw {
        if let Err(e) = check_all(&indexed(&[d])) {
            panic!("{e}");
        }
    }
    // All in one body, so streams and items interleave.
    let all: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
    if let Err(e) = check_all(&indexed(&all)) {
        panic!("{e}");
    }
}

#[test]
fn edge_action_lines_parse_as_before() {
    let lines = [
        "{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}",
        "{\"index\":{\"_index\":\"a\",\"_id\":1.5}}",
        "{\"index\":{\"_index\":\"a\",\"_id\":-0}}",
        "{\"index\":{\"_index\":\"a\",\"_id\":18446744073709551616}}",
        "{\"index\":{\"_index\":\"a\",\"_id\":false}}",
        "{\"index\":{\"_index\":\"a\",\"_id\":\"\\ud800\"}}",
        "{\"index\":{\"_index\":\"a\",\"_id\":[],\"_index\":{}}}",
        "{\"index\":{\"_id\":[],\"_index\":{}}}",
        "{\"index\":{\"_index\":{},\"_id\":[]}}",
        "{\"index\":{\"_index\":\"a\",\"_id\":null,\"_id\":\"x\"}}",
        "{\"index\":{\"_index\":\"a\",\"x\":\"\\ud800\"}}",
        "{\"index\":{\"_index\":\"a\",\"x\":1e400}}",
        "{\"index\":{\"_index\":\"a\",\"x\":[1,2,}}",
        "{\"index\":{\"_index\":\"a\"},\"index\":{\"_index\":\"b\"}}",
        "{\"delete\":{\"_index\":\"a\"},\"delete\":{}}",
        "{\"update\":{\"_index\":\"a\"},\"index\":{}}",
        "{\"index\":null}",
        "{\"index\":[]}",
        "{\"index\":1e400}",
        "{\"index\":-0}",
        "{\"\":{}}",
        "{\"ind\\u0065x\":{\"_ind\\u0065x\":\"esc\"}}",
        "{\"$serde_json::private::RawValue\":\"{\\\"index\\\":{\\\"_index\\\":\\\"r\\\"}}\"}",
        "{\"index\":{\"$serde_json::private::RawValue\":\"{\\\"_index\\\":\\\"r\\\"}\"}}",
        "{\"index\":{\"_index\":{\"$serde_json::private::RawValue\":\"\\\"r\\\"\"}}}",
        "{\"index\":{\"_index\":\"a\"}}  ",
        " \t{\"index\":{\"_index\":\"a\"}}",
        "{\"index\":{\"_index\":\"a\"}}}",
        "{\"index\":{\"_index\":\"a\"",
        "[{\"index\":{}}]",
        "\"index\"",
        "-0",
        "1e400",
    ];
    for l in lines {
        for doc in ["{\"message\":\"m\"}", ""] {
            // Twice, so that the second reads the remembered action line.
            let body = format!("{l}\n{doc}\n{l}\n{doc}\n");
            if let Err(e) = check_all(body.as_bytes()) {
                panic!("{e}");
            }
        }
    }
}

#[test]
fn a_large_realistic_body_parses_as_before() {
    let body = crate::elasticsearch::perf::bulk_body(3_000);
    if let Err(e) = check_all(&body) {
        panic!("{}", &e[..e.len().min(2000)]);
    }
}

/// Documents whose label fields take few values, so that label sets recur,
/// differ in one field, and empty, absent and non-string values meet.
fn labelled_body() -> impl Strategy<Value = Vec<u8>> {
    let v = prop::sample::select(vec![
        "\"x\"", "\"y\"", "\"\"", "1", "true", "null", "[\"x\"]", "{}",
    ]);
    let field = prop::sample::select(vec!["level", "a.b", "host", "a", "message"]);
    let doc = prop::collection::vec((field, v), 0..5).prop_map(|fs| {
        let body: Vec<String> = fs
            .iter()
            .map(|(k, v)| match *k {
                "a" => format!("\"a\":{{\"b\":{v}}}"),
                k => format!("\"{k}\":{v}"),
            })
            .collect();
        format!("{{{}}}", body.join(","))
    });
    let index = prop::sample::select(vec!["a", "b", "x"]);
    prop::collection::vec((index, doc), 1..12).prop_map(|docs| {
        let mut s = String::new();
        for (i, d) in docs {
            s.push_str(&format!("{{\"index\":{{\"_index\":\"{i}\"}}}}\n{d}\n"));
        }
        s.into_bytes()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn label_sets_group_as_before(b in labelled_body()) {
        let mappings = [
            FieldMapping {
                label_fields: vec!["level".into(), "a.b".into(), "host".into()],
                ..FieldMapping::default()
            },
            FieldMapping {
                label_fields: vec!["a.b".into(), "a_b".into(), "host".into(), "level".into()],
                index_label: "host".into(),
                ..FieldMapping::default()
            },
        ];
        for m in &mappings {
            check(&b, None, m).map_err(TestCaseError::fail)?;
        }
    }
}

/// The leaves of a `Value` document as they were flattened (`None` if it is
/// not JSON or not an object).
fn value_leaves(line: &[u8]) -> Option<Vec<(String, serde_json::Value)>> {
    fn walk(
        path: &mut String,
        key: &str,
        v: &serde_json::Value,
        out: &mut Vec<(String, serde_json::Value)>,
    ) {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    walk(path, k, v, out);
                }
            }
            v => out.push((path.clone(), v.clone())),
        }
        path.truncate(len);
    }
    let serde_json::Value::Object(m) = serde_json::from_slice(line).ok()? else {
        return None;
    };
    let mut out = Vec::new();
    for (k, v) in &m {
        walk(&mut String::new(), k, v, &mut out);
    }
    Some(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The document reader takes only what `serde_json` reads as an object,
    /// with the same leaves.
    #[test]
    fn the_document_reader_reads_as_serde_json(d in document()) {
        let mut doc = json::Document::default();
        if doc.read(&d) {
            let got: Vec<(String, serde_json::Value)> = doc
                .leaves
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        json::Leaf::Str(s) => serde_json::Value::String(s.to_string()),
                        json::Leaf::Other(v) => v.clone(),
                    };
                    (k.to_string(), v)
                })
                .collect();
            prop_assert_eq!(Some(got), value_leaves(&d), "{}", String::from_utf8_lossy(&d));
        }
    }
}
