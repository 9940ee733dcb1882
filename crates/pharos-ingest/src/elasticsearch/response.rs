//! The `_bulk` response body and Elasticsearch's `filter_path`.

use serde_json::Value;

use super::bulk::{BulkItem, BulkRequest};

/// Appends `s` as a JSON string.
fn push_json_str(out: &mut String, s: &str) {
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
            out.push_str(&seq_no.to_string());
            out.push_str(",\"_primary_term\":1,\"status\":201}}");
            *seq_no += 1;
        }
        Some(e) => {
            out.push_str(",\"status\":");
            out.push_str(&e.status.to_string());
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
        push_item(&mut out, item, &mut seq_no);
    }
    out.push_str("]}");
    out.into_bytes()
}

/// [`render_response`] reduced by a `filter_path` query parameter (see
/// [`filter_path`]); without a filter the full body.
pub fn render_response_filtered(req: &BulkRequest, took_ms: u64, filter: Option<&str>) -> Vec<u8> {
    let body = render_response(req, took_ms);
    let Some(filter) = filter.filter(|f| !f.trim().is_empty()) else {
        return body;
    };
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) => serde_json::to_vec(&filter_path(&v, filter)).unwrap_or(body),
        Err(_) => body,
    }
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
    let specs: Vec<&str> = filter
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    fn split(s: &str) -> Vec<&str> {
        s.split('.').collect()
    }
    let incl: Vec<Vec<&str>> = specs
        .iter()
        .filter(|s| !s.starts_with('-'))
        .map(|s| split(s))
        .collect();
    let excl: Vec<Vec<&str>> = specs
        .iter()
        .filter_map(|s| s.strip_prefix('-'))
        .map(split)
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
