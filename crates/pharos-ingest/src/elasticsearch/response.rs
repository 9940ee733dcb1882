//! The `_bulk` response body and Elasticsearch's `filter_path`.

use serde_json::Value;

use super::bulk::{BulkItem, BulkRequest};

/// Appends `s` as a JSON string: `"`, `\\`, `\n`, `\r` and `\t` escaped as
/// such, other control characters as `\u00xx`, everything else as it is.
fn push_json_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // `b` is ASCII: `i` and `i + 1` are character boundaries.
        out.push_str(&s[start..i]);
        start = i + 1;
        if esc.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        } else {
            out.push_str(esc);
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends `n` in decimal.
fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

fn push_opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_json_str(out, s),
        None => out.push_str("null"),
    }
}

fn push_item(out: &mut String, item: &BulkItem, seq_no: &mut u64) {
    out.push_str("{\"");
    out.push_str(item.action.as_str());
    out.push_str("\":{\"_index\":");
    push_opt_str(out, item.index.as_deref());
    out.push_str(",\"_id\":");
    push_opt_str(out, item.id.as_deref());
    match &item.error {
        None => {
            out.push_str(
                ",\"_version\":1,\"result\":\"created\",\
                 \"_shards\":{\"total\":1,\"successful\":1,\"failed\":0},\"_seq_no\":",
            );
            push_u64(out, *seq_no);
            out.push_str(",\"_primary_term\":1,\"status\":201}}");
            *seq_no += 1;
        }
        Some(e) => {
            out.push_str(",\"status\":");
            push_u64(out, u64::from(e.status));
            out.push_str(",\"error\":{\"type\":");
            push_json_str(out, &e.kind);
            out.push_str(",\"reason\":");
            push_json_str(out, &e.reason);
            if let Some(index) = &item.index {
                out.push_str(",\"index\":");
                push_json_str(out, index);
            }
            out.push_str("}}}");
        }
    }
}

/// About the length of an item's rendering (exact unless strings need escapes).
fn item_len(item: &BulkItem) -> usize {
    let strings = |s: &Option<String>| s.as_ref().map_or(4, |s| s.len() + 2);
    let fixed = 30 + strings(&item.index) + strings(&item.id);
    match &item.error {
        None => fixed + 140,
        Some(e) => fixed + 60 + e.kind.len() + e.reason.len() + strings(&item.index),
    }
}

/// The `_bulk` response body, Elasticsearch's shape:
///
/// ```text
/// {"took":3,"errors":false,"items":[
///   {"index":{"_index":"app","_id":"…","_version":1,"result":"created",
///     "_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},
///   {"delete":{"_index":"app","_id":"1","status":400,
///     "error":{"type":"illegal_argument_exception","reason":"…","index":"app"}}}]}
/// ```
///
/// Successful items are numbered by `_seq_no` from 0 in order. `took_ms` is
/// the time spent on the request. The HTTP status is 200 even when items
/// failed, as in Elasticsearch.
pub fn render_response(req: &BulkRequest, took_ms: u64) -> Vec<u8> {
    // One pass for the size and `errors` (`BulkRequest::has_errors`).
    let (len, errors) = req.items.iter().fold((64, false), |(len, errors), item| {
        (len + item_len(item), errors || item.error.is_some())
    });
    let mut out = String::with_capacity(len);
    out.push_str("{\"took\":");
    push_u64(&mut out, took_ms);
    out.push_str(",\"errors\":");
    out.push_str(if errors { "true" } else { "false" });
    out.push_str(",\"items\":[");
    let mut seq_no = 0;
    for (i, item) in req.items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_item(&mut out, item, &mut seq_no);
    }
    out.push_str("]}");
    out.into_bytes()
}

/// [`render_response`] reduced by a `filter_path` query parameter (see
/// [`filter_path`]); without a filter the full body.
///
/// The answer is [`filter_path`] applied to the `Value` of the full body,
/// serialised by `serde_json`, but made without either: what the filter
/// leaves of an item depends only on the item's shape (action, success or
/// error, index or none), so each shape is filtered once, with markers for
/// its values, and each item written from its shape's result.
pub fn render_response_filtered(req: &BulkRequest, took_ms: u64, filter: Option<&str>) -> Vec<u8> {
    let Some(filter) = filter.filter(|f| !f.trim().is_empty()) else {
        return render_response(req, took_ms);
    };
    let (incl, excl) = filter_specs(filter);
    let incl: Vec<&[&str]> = incl.iter().map(Vec::as_slice).collect();
    let excl: Vec<&[&str]> = excl.iter().map(Vec::as_slice).collect();
    // What the inclusions keep of the top level (nothing but what they
    // match, the items looked through), then what the exclusions remove.
    let (mut took, mut errors, items) = if incl.is_empty() {
        (true, true, Items::All)
    } else {
        let (next, matched) = descend(&incl, "items");
        let items = if matched {
            Items::All
        } else if next.is_empty() {
            Items::None
        } else {
            Items::Each(next)
        };
        (descend(&incl, "took").1, descend(&incl, "errors").1, items)
    };
    took &= !descend(&excl, "took").1;
    errors &= !descend(&excl, "errors").1;
    let (excl_items, items_excluded) = descend(&excl, "items");
    let mut shapes = Shapes::default();
    let with_items = !items_excluded
        && match items {
            Items::All => true,
            Items::None => false,
            Items::Each(_) => req
                .items
                .iter()
                .any(|i| shapes.filtered(i, &items, &excl_items).is_some()),
        };
    // The top level in the order `serde_json` reads it into a map (and so
    // serialises it, whatever order its maps keep).
    let mut top = serde_json::Map::new();
    if took {
        top.insert("took".into(), Value::from(took_ms));
    }
    if errors {
        top.insert("errors".into(), Value::from(req.has_errors()));
    }
    if with_items {
        top.insert("items".into(), Value::Null);
    }
    let mut out = Vec::with_capacity(64);
    out.push(b'{');
    for (i, (k, v)) in top.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json(&mut out, k);
        out.push(b':');
        if k != "items" {
            write_json(&mut out, v);
            continue;
        }
        out.push(b'[');
        let mut seq_no = 0;
        let mut first = true;
        for item in &req.items {
            let this_seq_no = seq_no;
            if item.error.is_none() {
                seq_no += 1;
            }
            let Some(template) = shapes.filtered(item, &items, &excl_items) else {
                continue;
            };
            if !first {
                out.push(b',');
            }
            first = false;
            write_item(&mut out, template, item, this_seq_no);
        }
        out.push(b']');
    }
    out.push(b'}');
    out
}

/// What the inclusions of a filter keep of the items.
enum Items<'a> {
    /// All of every item.
    All,
    /// What these paths keep of each item (items with nothing left go).
    Each(Vec<&'a [&'a str]>),
    /// Nothing.
    None,
}

/// Markers standing for an item's values in its shape's filtered `Value`.
const M_INDEX: &str = "\0_index";
const M_ID: &str = "\0_id";
const M_SEQ_NO: &str = "\0_seq_no";
const M_STATUS: &str = "\0status";
const M_TYPE: &str = "\0type";
const M_REASON: &str = "\0reason";
const M_ERROR_INDEX: &str = "\0index";

/// Per item shape, what the filter leaves of it (`None`: nothing), once known.
#[derive(Default)]
struct Shapes([Option<Option<Value>>; 12]);

impl Shapes {
    /// What `items` and then `excl` (the exclusions below `items`) leave of
    /// `item`'s shape, with markers for its values.
    fn filtered(&mut self, item: &BulkItem, items: &Items<'_>, excl: &[&[&str]]) -> Option<&Value> {
        let kind = match &item.error {
            None => 0,
            Some(_) => 1 + usize::from(item.index.is_some()),
        };
        self.0[item.action as usize * 3 + kind]
            .get_or_insert_with(|| {
                let shape = shape(item);
                let kept = match items {
                    Items::All => Some(shape),
                    Items::Each(paths) => include(&shape, paths),
                    Items::None => None,
                };
                kept.map(|mut v| {
                    if !excl.is_empty() {
                        exclude(&mut v, excl);
                    }
                    v
                })
            })
            .as_ref()
    }
}

/// The `Value` of `item`'s shape: the item as [`render_response`] writes it
/// (keys in its order), with markers for its values.
fn shape(item: &BulkItem) -> Value {
    let marker = |m: &str| Value::String(m.to_string());
    let fields = match &item.error {
        None => vec![
            ("_index", marker(M_INDEX)),
            ("_id", marker(M_ID)),
            ("_version", Value::from(1)),
            ("result", Value::from("created")),
            (
                "_shards",
                object(vec![
                    ("total", Value::from(1)),
                    ("successful", Value::from(1)),
                    ("failed", Value::from(0)),
                ]),
            ),
            ("_seq_no", marker(M_SEQ_NO)),
            ("_primary_term", Value::from(1)),
            ("status", Value::from(201)),
        ],
        Some(_) => {
            let mut error = vec![("type", marker(M_TYPE)), ("reason", marker(M_REASON))];
            if item.index.is_some() {
                error.push(("index", marker(M_ERROR_INDEX)));
            }
            vec![
                ("_index", marker(M_INDEX)),
                ("_id", marker(M_ID)),
                ("status", marker(M_STATUS)),
                ("error", object(error)),
            ]
        }
    };
    object(vec![(item.action.as_str(), object(fields))])
}

fn object(fields: Vec<(&str, Value)>) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// Appends `v` as `serde_json` serialises it.
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing to a `Vec` does not fail, nor does serialising these values.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// Appends `template` (a shape's filtered `Value`) for `item`, its markers
/// replaced by the item's values, as `serde_json` serialises the `Value` of
/// the full item.
fn write_item(out: &mut Vec<u8>, template: &Value, item: &BulkItem, seq_no: u64) {
    match template {
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, k);
                out.push(b':');
                write_item(out, v, item, seq_no);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_item(out, v, item, seq_no);
            }
            out.push(b']');
        }
        Value::String(s) if s.starts_with('\0') => {
            let error = item.error.as_ref();
            match s.as_str() {
                M_INDEX => write_json(out, &item.index),
                M_ID => write_json(out, &item.id),
                M_SEQ_NO => write_json(out, &seq_no),
                M_STATUS => write_json(out, &error.map(|e| e.status)),
                M_TYPE => write_json(out, &error.map(|e| &e.kind)),
                M_REASON => write_json(out, &error.map(|e| &e.reason)),
                M_ERROR_INDEX => write_json(out, &item.index),
                _ => write_json(out, template),
            }
        }
        v => write_json(out, v),
    }
}

/// The inclusions and exclusions of a `filter_path`, each split at dots.
fn filter_specs(filter: &str) -> (Vec<Vec<&str>>, Vec<Vec<&str>>) {
    let specs: Vec<&str> = filter
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    fn split(s: &str) -> Vec<&str> {
        s.split('.').collect()
    }
    let incl = specs
        .iter()
        .filter(|s| !s.starts_with('-'))
        .map(|s| split(s))
        .collect();
    let excl = specs
        .iter()
        .filter_map(|s| s.strip_prefix('-'))
        .map(split)
        .collect();
    (incl, excl)
}

/// One segment pattern of a filter path.
fn glob(pattern: &str, s: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), s.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// The paths left to match below `key`, and whether one of them ended there.
fn descend<'a>(paths: &[&'a [&'a str]], key: &str) -> (Vec<&'a [&'a str]>, bool) {
    let mut next = Vec::new();
    let mut matched = false;
    for p in paths {
        let Some((first, rest)) = p.split_first() else {
            continue;
        };
        if *first == "**" {
            if rest.is_empty() {
                matched = true; // a trailing `**` takes the whole subtree
                continue;
            }
            // `**` takes this key (and maybe more below), or nothing.
            next.push(*p);
            let (sub, m) = descend(&[rest], key);
            matched |= m;
            next.extend(sub);
        } else if glob(first, key) {
            if rest.is_empty() {
                matched = true;
            } else {
                next.push(rest);
            }
        }
    }
    (next, matched)
}

fn include(v: &Value, paths: &[&[&str]]) -> Option<Value> {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, child) in m {
                let (next, matched) = descend(paths, k);
                if matched {
                    out.insert(k.clone(), child.clone());
                } else if !next.is_empty() {
                    if let Some(c) = include(child, &next) {
                        out.insert(k.clone(), c);
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(a) => {
            let out: Vec<Value> = a.iter().filter_map(|x| include(x, paths)).collect();
            (!out.is_empty()).then_some(Value::Array(out))
        }
        _ => None,
    }
}

fn exclude(v: &mut Value, paths: &[&[&str]]) {
    match v {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let (next, matched) = descend(paths, &k);
                if matched {
                    m.remove(&k);
                } else if !next.is_empty() {
                    if let Some(c) = m.get_mut(&k) {
                        exclude(c, &next);
                    }
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| exclude(x, paths)),
        _ => {}
    }
}

/// Elasticsearch's `filter_path` response filtering: a comma-separated list
/// of dotted paths; `*` matches within a name, `**` any number of levels,
/// arrays are looked through, and a leading `-` excludes instead of
/// includes. What no inclusion matches is left out (an empty result is `{}`).
///
/// Shippers send e.g. `filter_path=errors,items.*.error,items.*.status`
/// (Logstash, Beats) to keep bulk answers small.
pub fn filter_path(v: &Value, filter: &str) -> Value {
    let (incl, excl) = filter_specs(filter);
    let mut out = if incl.is_empty() {
        v.clone()
    } else {
        let paths: Vec<&[&str]> = incl.iter().map(Vec::as_slice).collect();
        include(v, &paths).unwrap_or_else(|| Value::Object(Default::default()))
    };
    if !excl.is_empty() {
        let paths: Vec<&[&str]> = excl.iter().map(Vec::as_slice).collect();
        exclude(&mut out, &paths);
    }
    out
}

/// The escaping as it was before [`push_json_str`], char by char: the
/// reference its tests (and the bulk equivalence tests) compare with.
#[cfg(test)]
pub(crate) fn push_json_str_by_char(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    proptest::proptest! {
        #[test]
        fn strings_are_escaped_as_before(s in "(\\PC|[\\x00-\\x1f\"\\\\\\x7f])*") {
            let (mut a, mut b) = (String::new(), String::new());
            push_json_str(&mut a, &s);
            push_json_str_by_char(&mut b, &s);
            proptest::prop_assert_eq!(&a, &b);
            proptest::prop_assert_eq!(serde_json::from_str::<String>(&a).ok(), Some(s));
        }

        #[test]
        fn numbers_are_written_as_before(n in proptest::prelude::any::<u64>()) {
            let mut a = String::new();
            push_u64(&mut a, n);
            proptest::prop_assert_eq!(a, n.to_string());
        }
    }

    /// `render_response_filtered` as it was: the full body parsed, filtered
    /// and serialised again.
    fn filtered_by_value(req: &BulkRequest, took_ms: u64, filter: Option<&str>) -> Vec<u8> {
        let body = render_response(req, took_ms);
        let Some(filter) = filter.filter(|f| !f.trim().is_empty()) else {
            return body;
        };
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => serde_json::to_vec(&filter_path(&v, filter)).unwrap_or(body),
            Err(_) => body,
        }
    }

    fn arb_text() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::prop_oneof![
            4 => "[a-z0-9-]{0,8}",
            1 => "(\\PC|[\\x00-\\x1f\"\\\\\\x7f]){0,6}",
        ]
    }

    fn arb_item() -> impl proptest::strategy::Strategy<Value = BulkItem> {
        use crate::elasticsearch::{BulkAction, ItemError};
        use proptest::prelude::*;
        (
            prop::sample::select(vec![
                BulkAction::Index,
                BulkAction::Create,
                BulkAction::Update,
                BulkAction::Delete,
            ]),
            prop::option::of(arb_text()),
            prop::option::of(arb_text()),
            prop::option::of((
                prop::sample::select(vec![400u16, 429, 503]),
                arb_text(),
                arb_text(),
            )),
            1usize..100,
        )
            .prop_map(|(action, index, id, error, line)| BulkItem {
                action,
                index,
                id,
                line,
                error: error.map(|(status, kind, reason)| ItemError {
                    status,
                    kind,
                    reason,
                }),
            })
    }

    /// `filter_path` values: shippers' and odd ones.
    fn arb_filter() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let segment = prop::sample::select(vec![
            "took", "errors", "items", "items", "*", "*", "**", "index", "create", "update",
            "delete", "_id", "_index", "status", "error", "type", "reason", "_shards", "total",
            "result", "_seq_no", "*e*", "i*", "*x", "", "x",
        ]);
        let spec = (
            prop::sample::select(vec!["", "", "", "-", " ", " -"]),
            prop::collection::vec(segment, 1..5),
        )
            .prop_map(|(sign, segs)| format!("{sign}{}", segs.join(".")));
        prop_oneof![
            1 => prop::sample::select(vec![
                "errors,items.*.error,items.*.status",
                "items.*.status",
                "-took",
                "items.*._id,-items.*.error",
                "**.status",
                "took,errors",
                "items",
                "-items.*.error.reason",
                "*",
                "-*",
                ",",
                "items.**",
                "items.*.*",
            ]).prop_map(String::from),
            4 => prop::collection::vec(spec, 1..4).prop_map(|s| s.join(",")),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn filtered_responses_are_as_before(
            items in proptest::collection::vec(arb_item(), 0..6),
            took in proptest::prelude::any::<u64>(),
            filter in proptest::option::of(arb_filter()),
        ) {
            let mut req = BulkRequest::default();
            req.items = items;
            let got = render_response_filtered(&req, took, filter.as_deref());
            let want = filtered_by_value(&req, took, filter.as_deref());
            proptest::prop_assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "filter {:?}",
                filter
            );
        }
    }

    #[test]
    fn globs() {
        assert!(glob("*", "abc"));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("abc", "abc"));
        assert!(!glob("abc", "abd"));
        assert!(glob("*error*", "an_error_x"));
        assert!(!glob("a*b", "ac"));
        assert!(glob("", ""));
    }

    #[test]
    fn filtering() {
        let v = json!({
            "took": 1, "errors": true,
            "items": [
                {"index": {"_id": "a", "status": 201}},
                {"create": {"_id": "b", "status": 400, "error": {"type": "x", "reason": "y"}}}
            ]
        });
        assert_eq!(
            filter_path(&v, "errors,items.*.error"),
            json!({"errors": true, "items": [{"create": {"error": {"type": "x", "reason": "y"}}}]})
        );
        assert_eq!(
            filter_path(&v, "items.*.status"),
            json!({"items": [{"index": {"status": 201}}, {"create": {"status": 400}}]})
        );
        assert_eq!(
            filter_path(&v, "**.type"),
            json!({"items": [{"create": {"error": {"type": "x"}}}]})
        );
        assert_eq!(filter_path(&v, "nothing"), json!({}));
        assert_eq!(filter_path(&v, "-items,-took"), json!({"errors": true}));
        assert_eq!(
            filter_path(&v, "items,-items.*.error"),
            json!({"items": [{"index": {"_id": "a", "status": 201}}, {"create": {"_id": "b", "status": 400}}]})
        );
        assert_eq!(filter_path(&v, ""), v);
    }
}
