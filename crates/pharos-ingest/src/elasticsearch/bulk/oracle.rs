//! The `_bulk` parser as it was before the single-pass readers (`json`):
//! `serde_json::Value` documents, flattened and mapped. Kept as the reference
//! the tests hold [`super::parse_bulk`] to: the functions the change replaced
//! are here as they were; the unchanged ones are used from the crate.

#![allow(dead_code)]

use std::collections::HashMap;

use serde_json::{Map, Value};

use pharos_model::{LabelsBuilder, LogEntry, LogStream};

// What the single-pass readers did not change is shared with them, not copied.
use super::{
    generated_id, is_blank, json_error, parse_document, refusal, scalar_text, token_name, Action,
    BulkAction, BulkError, BulkItem, BulkRequest, EntryRef,
};
use crate::elasticsearch::document::{
    flatten, float_millis, parse_epoch_millis, sanitize_label_name, text, Converted, Cur,
    FieldMapping,
};

/// Parses an action line as Elasticsearch's `BulkRequestParser` does, with
/// the same messages; unknown parameters (`_type`, `routing`, `pipeline`,
/// `require_alias`, ...) are ignored rather than refused.
fn parse_action(line: &[u8], n: usize) -> Result<Action, BulkError> {
    let malformed = |detail: String| BulkError::Malformed {
        line: n,
        reason: format!("Malformed action/metadata line [{n}], {detail}"),
    };
    let v: Value = serde_json::from_slice(line).map_err(|e| {
        let (col, msg) = json_error(&e);
        BulkError::Parse {
            line: n,
            reason: format!("[1:{col}] Malformed action/metadata line [{n}]: {msg}"),
        }
    })?;
    let Value::Object(top) = v else {
        return Err(malformed(format!(
            "expected START_OBJECT but found [{}]",
            token_name(&v)
        )));
    };
    let mut fields = top.into_iter();
    let Some((name, meta)) = fields.next() else {
        return Err(malformed(
            "expected FIELD_NAME but found [END_OBJECT]".into(),
        ));
    };
    if fields.next().is_some() {
        return Err(malformed(
            "expected END_OBJECT but found [FIELD_NAME]".into(),
        ));
    }
    let Some(action) = BulkAction::from_name(&name) else {
        return Err(malformed(format!(
            "expected field [create], [delete], [index] or [update] but found [{name}]"
        )));
    };
    let Value::Object(meta) = meta else {
        return Err(malformed(format!(
            "expected START_OBJECT or END_OBJECT but found [{}]",
            token_name(&meta)
        )));
    };
    let (mut index, mut id) = (None, None);
    for (k, v) in &meta {
        let slot = match k.as_str() {
            "_index" => &mut index,
            "_id" => &mut id,
            _ => continue,
        };
        match v {
            Value::Null => {}
            Value::Array(_) | Value::Object(_) => {
                return Err(malformed(format!(
                    "expected a simple value for field [{k}] but found [{}]",
                    token_name(v)
                )))
            }
            v => *slot = scalar_text(v),
        }
    }
    Ok(Action { action, index, id })
}

/// Splits `body` into lines with their 1-based numbers; a final line need not
/// end with `\n`, and a `\r` before the `\n` is dropped.
fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let trimmed = body.strip_suffix(b"\n").unwrap_or(body);
    let empty = body.is_empty();
    trimmed
        .split(|&b| b == b'\n')
        .filter(move |_| !empty)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
}

/// Parses a `_bulk` body (already decompressed).
///
/// `path_index` is the `{index}` of `/{index}/_bulk`, the default for actions
/// without `_index`. `now_ns` is the time of entries without a time field and
/// seeds generated `_id`s. A malformed action line fails the whole request
/// ([`BulkError`]); everything else is answered per item.
pub fn parse_bulk(
    body: &[u8],
    path_index: Option<&str>,
    mapping: &FieldMapping,
    now_ns: i64,
    seq: u32,
) -> Result<BulkRequest, BulkError> {
    let mut req = BulkRequest::default();
    let mut by_labels: HashMap<pharos_model::Labels, usize> = HashMap::new();
    let index_label = sanitize_label_name(&mapping.index_label);
    let path_index = path_index.filter(|s| !s.is_empty());
    let mut it = lines(body);
    while let Some((n, line)) = it.next() {
        if is_blank(line) {
            continue;
        }
        let a = parse_action(line, n)?;
        let item_no = req.items.len();
        let index = a
            .index
            .filter(|s| !s.is_empty())
            .or_else(|| path_index.map(str::to_string));
        let mut item = BulkItem {
            action: a.action,
            index,
            id: a.id,
            line: n,
            error: None,
        };
        let doc = if a.action == BulkAction::Delete {
            None
        } else {
            it.next()
        };
        item.error = refusal(&item, doc.is_some());
        match (&item.index, doc) {
            (Some(index), Some((_, doc))) if item.error.is_none() => match parse_document(doc) {
                Err(e) => item.error = Some(e),
                Ok((map, raw)) => {
                    let c = convert(&map, raw, mapping, now_ns);
                    let mut b = LabelsBuilder::new();
                    for (k, v) in &c.labels {
                        b.set(k, v);
                    }
                    if let Some(l) = &index_label {
                        b.set(l, index);
                    }
                    let labels = b.build();
                    let s = *by_labels.entry(labels.clone()).or_insert_with(|| {
                        req.streams.push(LogStream {
                            labels: labels.clone(),
                            entries: Vec::new(),
                        });
                        req.refs.push(Vec::new());
                        req.labels.push(labels);
                        req.streams.len() - 1
                    });
                    req.refs[s].push(EntryRef {
                        item: item_no,
                        ts: c.entry.ts,
                        line_len: c.entry.line.len(),
                    });
                    req.streams[s].entries.push(c.entry);
                    if item.id.is_none() {
                        item.id = Some(generated_id(now_ns, seq, item_no));
                    }
                }
            },
            _ => {}
        }
        req.items.push(item);
    }
    if req.items.is_empty() {
        return Err(BulkError::NoRequests);
    }
    Ok(req)
}

/// Converts one parsed document. `raw` is its line as received (the entry's
/// line when no line field is present).
pub(crate) fn convert(
    doc: &Map<String, Value>,
    raw: &str,
    mapping: &FieldMapping,
    now_ns: i64,
) -> Converted {
    let mut leaves: Vec<(String, &Value)> = Vec::new();
    let mut path = String::new();
    for (k, v) in doc {
        flatten(&mut path, k, v, &mut leaves);
    }
    let mut used = vec![false; leaves.len()];
    let find = |used: &[bool], name: &str| {
        leaves
            .iter()
            .enumerate()
            .position(|(i, (k, _))| !used[i] && k == name)
    };

    let mut ts = None;
    for f in &mapping.time_fields {
        if let Some(i) = find(&used, f) {
            if let Some(t) = parse_time_value(leaves[i].1) {
                used[i] = true;
                ts = Some(t);
                break;
            }
        }
    }

    let mut line = None;
    for f in &mapping.line_fields {
        if let Some(i) = find(&used, f) {
            used[i] = true;
            line = Some(text(leaves[i].1));
            break;
        }
    }

    let mut labels = Vec::new();
    for f in &mapping.label_fields {
        let (Some(i), Some(name)) = (find(&used, f), sanitize_label_name(f)) else {
            continue;
        };
        used[i] = true;
        labels.push((name, text(leaves[i].1)));
    }

    let (line, metadata) = match line {
        Some(line) => {
            let metadata = leaves
                .iter()
                .zip(&used)
                .filter(|(_, u)| !**u)
                .map(|((k, v), _)| (k.clone(), text(v)))
                .collect();
            (line, metadata)
        }
        // The whole document is the line; its fields are not repeated as metadata.
        None => (raw.to_string(), Vec::new()),
    };
    Converted {
        labels,
        entry: LogEntry {
            ts: ts.unwrap_or(now_ns),
            line,
            metadata,
        },
    }
}

/// A time field's value in Unix nanoseconds, read as Elasticsearch's default
/// `date` format `strict_date_optional_time||epoch_millis` reads it: a JSON
/// number is epoch milliseconds; a string is an ISO 8601 date/time, else
/// epoch milliseconds (possibly fractional). `None` if it is neither or out
/// of the nanosecond range.
pub fn parse_time_value(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(ms) => ms.checked_mul(1_000_000),
            None => float_millis(n.as_f64()?),
        },
        Value::String(s) => parse_date(s).or_else(|| parse_epoch_millis(s)),
        _ => None,
    }
}

/// ISO 8601 as Elasticsearch's `strict_date_optional_time` reads it:
/// `yyyy[-MM[-dd]][THH[:mm[:ss[.fraction]]]][Z|±HH[[:]mm]]`, UTC when no zone
/// is given. A space is accepted for `T`, and up to nine fraction digits
/// count (more are ignored).
pub fn parse_date(s: &str) -> Option<i64> {
    let mut c = Cur {
        b: s.trim().as_bytes(),
        i: 0,
    };
    let year = c.digits(4)?;
    let (mut month, mut day) = (1, 1);
    if c.eat(b'-') {
        month = c.digits(2)?;
        if c.eat(b'-') {
            day = c.digits(2)?;
        }
    }
    let (mut h, mut m, mut sec, mut nanos) = (0, 0, 0, 0i64);
    if matches!(c.peek(), Some(b'T' | b't' | b' ')) {
        c.i += 1;
        h = c.digits(2)?;
        if c.eat(b':') {
            m = c.digits(2)?;
            if c.eat(b':') {
                sec = c.digits(2)?;
                if c.eat(b'.') || c.eat(b',') {
                    let start = c.i;
                    while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                        if c.i - start < 9 {
                            nanos = nanos * 10 + i64::from(c.b[c.i] - b'0');
                        }
                        c.i += 1;
                    }
                    let n = c.i - start;
                    if n == 0 {
                        return None;
                    }
                    if n < 9 {
                        nanos *= 10i64.pow(9 - n as u32);
                    }
                }
            }
        }
    }
    let mut offset = 0i64;
    match c.peek() {
        Some(b'Z' | b'z') => c.i += 1,
        Some(sign @ (b'+' | b'-')) => {
            c.i += 1;
            let oh = c.digits(2)?;
            let mut om = 0;
            if c.peek().is_some() {
                c.eat(b':');
                om = c.digits(2)?;
            }
            if oh > 18 || om > 59 {
                return None;
            }
            offset = (oh * 3600 + om * 60) * if sign == b'-' { -1 } else { 1 };
        }
        _ => {}
    }
    if c.i != c.b.len()
        || !(1..=12).contains(&month)
        || day < 1
        || day > i64::from(crate::civil::days_in_month(year, month as u32))
        || h > 23
        || m > 59
        || sec > 60
    {
        return None;
    }
    let secs = crate::civil::days_from_civil(year, month as u32, day as u32) * 86_400
        + h * 3600
        + m * 60
        + sec
        - offset;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}
