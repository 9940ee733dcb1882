//! The `_bulk` parser as it was before the single-pass readers (`json`):
//! `serde_json::Value` documents, flattened and mapped. Kept as the reference
//! the tests hold [`super::parse_bulk`] to: the functions the change replaced
//! are here as they were; the unchanged ones, and the old action and date
//! parsers the crate keeps as fallbacks, are used from the crate.

use std::collections::HashMap;

use serde_json::{Map, Value};

use pharos_model::{LabelsBuilder, LogEntry, LogStream};

// What the single-pass readers did not change is shared with them, not copied.
// The old action parser is still the fallback for unusual lines.
use super::{
    generated_id, is_blank, parse_action_value, parse_document, refusal, BulkAction, BulkError,
    BulkItem, BulkRequest, EntryRef,
};
use crate::elasticsearch::document::{
    flatten, float_millis, parse_date_general, parse_epoch_millis, sanitize_label_name, text,
    Converted, FieldMapping,
};

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
        let a = parse_action_value(line, n)?;
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
            line: line.into(),
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
        Value::String(s) => parse_date_general(s).or_else(|| parse_epoch_millis(s)),
        _ => None,
    }
}
