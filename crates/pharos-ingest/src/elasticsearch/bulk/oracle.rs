//! The `_bulk` parser as it was before the single-pass readers (`json`):
//! `serde_json::Value` documents, flattened and mapped. Kept verbatim as the
//! reference the tests hold [`super::parse_bulk`] to.

#![allow(dead_code)]

use std::collections::HashMap;

use serde_json::{Map, Value};

use pharos_model::{LabelsBuilder, LogEntry, LogStream};

use super::{
    generated_id, truncate, BulkAction, BulkError, BulkItem, BulkRequest, EntryRef, ItemError,
    MAX_ID_BYTES,
};
use crate::elasticsearch::document::{sanitize_label_name, FieldMapping};

/// The Jackson token name Elasticsearch reports for the first token of `v`.
fn token_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "VALUE_NULL",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Number(_) => "VALUE_NUMBER",
        Value::String(_) => "VALUE_STRING",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

/// A scalar metadata value as text (`parser.text()` in Elasticsearch).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A serde_json message without its " at line L column C" suffix, and the column.
fn json_error(e: &serde_json::Error) -> (usize, String) {
    let s = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = s.strip_suffix(&suffix).unwrap_or(&s).to_string();
    (e.column(), msg)
}

/// One parsed action line.
struct Action {
    action: BulkAction,
    index: Option<String>,
    id: Option<String>,
}

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

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
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

/// Why an item is answered with an error before its document is read:
/// `update` and `delete` are not supported; `index` and `create` need a
/// document line, an index and, if given, a valid `_id`.
fn refusal(item: &BulkItem, has_doc: bool) -> Option<ItemError> {
    let invalid = |what: String| {
        Some(ItemError::new(
            400,
            "action_request_validation_exception",
            format!("Validation Failed: 1: {what};"),
        ))
    };
    let action = item.action.as_str();
    match item.action {
        BulkAction::Update | BulkAction::Delete => Some(ItemError::new(
            400,
            "illegal_argument_exception",
            format!(
                "the [{action}] action is not supported: \
                 pharos stores log documents, which cannot be changed"
            ),
        )),
        _ if !has_doc => invalid(format!(
            "the [{action}] action on line [{}] has no document line",
            item.line
        )),
        _ if item.index.is_none() => invalid("index is missing".into()),
        _ => match item.id.as_deref() {
            Some("") => invalid("if _id is specified it must not be empty".into()),
            Some(id) if id.len() > MAX_ID_BYTES => invalid(format!(
                "id [{}...] is too long, must be no longer than {MAX_ID_BYTES} bytes but was: {}",
                truncate(id, 32),
                id.len()
            )),
            _ => None,
        },
    }
}

/// A document line as a JSON object and its trimmed text, or the item error.
fn parse_document(line: &[u8]) -> Result<(serde_json::Map<String, Value>, &str), ItemError> {
    let fail = |reason: String| ItemError::new(400, "document_parsing_exception", reason);
    if is_blank(line) {
        return Err(fail("failed to parse, document is empty".into()));
    }
    let v: Value = serde_json::from_slice(line).map_err(|e| {
        let (col, msg) = json_error(&e);
        fail(format!("[1:{col}] failed to parse: {msg}"))
    })?;
    let Value::Object(map) = v else {
        return Err(fail(format!(
            "[1:1] failed to parse: the document must be an object, found [{}]",
            token_name(&v)
        )));
    };
    // Valid JSON is valid UTF-8.
    let raw = std::str::from_utf8(line).unwrap_or_default().trim();
    Ok((map, raw))
}

/// A document converted: its label pairs (not yet including the index) and entry.
pub(crate) struct Converted {
    pub labels: Vec<(String, String)>,
    pub entry: LogEntry,
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

/// Appends the leaves under `key` (objects flattened with dots; arrays and
/// scalars are leaves; nulls and empty objects are dropped).
fn flatten<'a>(path: &mut String, key: &str, v: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
    match v {
        Value::Null => {}
        Value::Object(m) => {
            for (k, v) in m {
                flatten(path, k, v, out);
            }
        }
        _ => out.push((path.clone(), v)),
    }
    path.truncate(len);
}

/// A leaf as text: strings as they are, anything else as compact JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
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

/// Fractional epoch milliseconds; whole milliseconds and the fraction apart,
/// so that no precision is lost to the product.
fn float_millis(ms: f64) -> Option<i64> {
    if !ms.is_finite() || ms.abs() >= 9.2e12 {
        return None;
    }
    let whole = ms.trunc();
    let frac = ((ms - whole) * 1e6).round() as i64;
    (whole as i64).checked_mul(1_000_000)?.checked_add(frac)
}

/// `-?digits(.digits)?` as epoch milliseconds.
fn parse_epoch_millis(s: &str) -> Option<i64> {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, f),
        None => (rest, ""),
    };
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (rest.contains('.') && frac.is_empty())
    {
        return None;
    }
    let ms: i64 = int.parse().ok()?;
    // Up to six fractional digits of a millisecond are nanoseconds.
    let mut sub = 0i64;
    for (i, b) in frac.bytes().take(6).enumerate() {
        sub += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
    }
    let ns = ms.checked_mul(1_000_000)?.checked_add(sub)?;
    Some(if neg { -ns } else { ns })
}

/// A cursor over the bytes of a date string.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    /// Exactly `n` digits.
    fn digits(&mut self, n: usize) -> Option<i64> {
        let s = self.b.get(self.i..self.i + n)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(s.iter().fold(0i64, |a, d| a * 10 + i64::from(d - b'0')))
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
