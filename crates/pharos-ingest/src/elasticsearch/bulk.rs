//! The `_bulk` body: NDJSON action and document lines to log streams and
//! per-item results.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

use pharos_model::{LabelsBuilder, LogEntry, LogRejectReason, LogStream, PushOutcome};

use super::document::{self, sanitize_label_name, FieldMapping, Prepared, Selection};
use super::json::{self, ActionLine, Document, Meta, Param, ReadError};

/// The operation an action line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BulkAction {
    /// `index`: stored as a log entry.
    Index,
    /// `create`: stored as a log entry.
    Create,
    /// `update`: answered as unsupported; its document line is skipped.
    Update,
    /// `delete`: answered as unsupported; it has no document line.
    Delete,
}

impl BulkAction {
    /// The action's name, as on the wire and as the key of its response item.
    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::Index => "index",
            BulkAction::Create => "create",
            BulkAction::Update => "update",
            BulkAction::Delete => "delete",
        }
    }

    fn from_name(s: &str) -> Option<BulkAction> {
        match s {
            "index" => Some(BulkAction::Index),
            "create" => Some(BulkAction::Create),
            "update" => Some(BulkAction::Update),
            "delete" => Some(BulkAction::Delete),
            _ => None,
        }
    }
}

/// Why one item failed, in Elasticsearch's terms (the item's `status` and
/// `error.type` / `error.reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// HTTP status of the item (400, 429, ...).
    pub status: u16,
    /// Elasticsearch exception type, e.g. `document_parsing_exception`.
    pub kind: String,
    pub reason: String,
}

impl ItemError {
    pub fn new(status: u16, kind: &str, reason: impl Into<String>) -> ItemError {
        ItemError {
            status,
            kind: kind.to_string(),
            reason: reason.into(),
        }
    }

    /// The item error for an entry the log store refused: 429
    /// `es_rejected_execution_exception` (which shippers retry) for rate and
    /// stream limits, 400 `illegal_argument_exception` otherwise.
    pub fn from_rejection(r: &LogRejectReason) -> ItemError {
        match r {
            LogRejectReason::RateLimited | LogRejectReason::TooManyStreams(_) => ItemError::new(
                429,
                "es_rejected_execution_exception",
                format!("rejected execution of bulk item: {r}"),
            ),
            r => ItemError::new(
                400,
                "illegal_argument_exception",
                format!("log entry refused: {r}"),
            ),
        }
    }
}

/// One action of the request, in order, with what its response item needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkItem {
    pub action: BulkAction,
    /// The target index: the action's `_index`, else the path's index.
    pub index: Option<String>,
    /// The action's `_id`, or a generated one for stored items.
    pub id: Option<String>,
    /// 1-based line number of the action line.
    pub line: usize,
    /// `None` while the item is (to be) stored successfully.
    pub error: Option<ItemError>,
}

/// Where an entry of [`BulkRequest::streams`] came from, kept after the
/// streams have been taken so the store's answer can be mapped to items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntryRef {
    item: usize,
    ts: i64,
    line_len: usize,
}

/// A parsed `_bulk` request: the log streams to store and the items to answer.
#[derive(Debug, Clone, Default)]
pub struct BulkRequest {
    /// Entries of accepted items grouped by label set, streams in order of
    /// first appearance and entries in arrival order.
    pub streams: Vec<LogStream>,
    /// One per action line, in order.
    pub items: Vec<BulkItem>,
    /// Per stream, per entry: its item, timestamp and line length.
    refs: Vec<Vec<EntryRef>>,
    /// Stream labels, kept for [`BulkRequest::apply_outcome`].
    labels: Vec<pharos_model::Labels>,
}

/// A request that cannot be processed at all; Elasticsearch answers these with
/// its top-level error document and status 400 (see [`BulkError::to_json`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BulkError {
    /// An action line that is JSON but not an action (`illegal_argument_exception`).
    #[error("{reason}")]
    Malformed { line: usize, reason: String },
    /// An action line that is not JSON (`x_content_parse_exception`).
    #[error("{reason}")]
    Parse { line: usize, reason: String },
    /// No action at all (`action_request_validation_exception`).
    #[error("Validation Failed: 1: no requests added;")]
    NoRequests,
}

impl BulkError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        400
    }

    /// The Elasticsearch exception type.
    pub fn kind(&self) -> &'static str {
        match self {
            BulkError::Malformed { .. } => "illegal_argument_exception",
            BulkError::Parse { .. } => "x_content_parse_exception",
            BulkError::NoRequests => "action_request_validation_exception",
        }
    }

    /// The answer body: `{"error":{"root_cause":[..],"type":..,"reason":..},"status":400}`.
    pub fn to_json(&self) -> Value {
        super::compat::error_document(self.status(), self.kind(), &self.to_string())
    }
}

/// The longest `_id` Elasticsearch accepts, in bytes.
pub const MAX_ID_BYTES: usize = 512;

/// The longest prefix of `s` of at most `n` bytes on a character boundary.
fn truncate(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Process-wide sequence mixed into generated ids so that they differ across
/// requests parsed in the same nanosecond.
static ID_SEQ: AtomicU32 = AtomicU32::new(0);

/// A 20-character URL-safe base64 id like Elasticsearch's generated `_id`s,
/// from the parse time, a process-wide request sequence and the item number.
fn generated_id(now_ns: i64, seq: u32, item: usize) -> String {
    let mut b = [0u8; 15];
    b[..8].copy_from_slice(&now_ns.to_be_bytes());
    b[8..12].copy_from_slice(&seq.to_be_bytes());
    b[12..].copy_from_slice(&(item as u32).to_be_bytes()[1..]);
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::with_capacity(20);
    for c in b.chunks(3) {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        for i in 0..4 {
            s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    s
}

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
#[derive(Debug, Clone, PartialEq, Eq)]
struct Action {
    action: BulkAction,
    index: Option<String>,
    id: Option<String>,
}

/// The error of an action line that is not JSON.
fn action_parse_error(e: &serde_json::Error, n: usize) -> BulkError {
    let (col, msg) = json_error(e);
    BulkError::Parse {
        line: n,
        reason: format!("[1:{col}] Malformed action/metadata line [{n}]: {msg}"),
    }
}

/// Parses an action line as Elasticsearch's `BulkRequestParser` does, with
/// the same messages; unknown parameters (`_type`, `routing`, `pipeline`,
/// `require_alias`, ...) are ignored rather than refused.
fn parse_action(line: &[u8], n: usize) -> Result<Action, BulkError> {
    let malformed = |detail: String| BulkError::Malformed {
        line: n,
        reason: format!("Malformed action/metadata line [{n}], {detail}"),
    };
    let entries = match json::read_action(line) {
        Ok(ActionLine::Object(entries)) => entries,
        Ok(ActionLine::Other(token)) => {
            return Err(malformed(format!(
                "expected START_OBJECT but found [{token}]"
            )))
        }
        Err(ReadError::Json(e)) => return Err(action_parse_error(&e, n)),
        Err(ReadError::Fallback) => return parse_action_value(line, n),
    };
    let mut fields = entries.into_iter();
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
    let (index, id) = match meta {
        Meta::Object { index, id } => (index, id),
        Meta::Other(token) => {
            return Err(malformed(format!(
                "expected START_OBJECT or END_OBJECT but found [{token}]"
            )))
        }
    };
    // In key order, as the `Value` map is walked: `_id` before `_index`.
    let text = |k: &str, p: Param| match p {
        Param::None => Ok(None),
        Param::Text(s) => Ok(Some(s)),
        Param::Complex(token) => Err(malformed(format!(
            "expected a simple value for field [{k}] but found [{token}]"
        ))),
    };
    let id = text("_id", id)?;
    let index = text("_index", index)?;
    Ok(Action { action, index, id })
}

/// [`parse_action`] through a `serde_json::Value` (for lines `serde_json`
/// may read specially; see `json`).
fn parse_action_value(line: &[u8], n: usize) -> Result<Action, BulkError> {
    let malformed = |detail: String| BulkError::Malformed {
        line: n,
        reason: format!("Malformed action/metadata line [{n}], {detail}"),
    };
    let v: Value = serde_json::from_slice(line).map_err(|e| action_parse_error(&e, n))?;
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
fn lines(body: &[u8]) -> Lines<'_> {
    Lines {
        rest: (!body.is_empty()).then(|| body.strip_suffix(b"\n").unwrap_or(body)),
        n: 0,
    }
}

/// The iterator of [`lines`].
struct Lines<'a> {
    /// What is left after the last line's `\n` (`None` after the last line).
    rest: Option<&'a [u8]>,
    /// Number of the last line.
    n: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        let rest = self.rest?;
        let line = match find_newline(rest) {
            Some(i) => {
                self.rest = Some(&rest[i + 1..]);
                &rest[..i]
            }
            None => {
                self.rest = None;
                rest
            }
        };
        self.n += 1;
        Some((self.n, line.strip_suffix(b"\r").unwrap_or(line)))
    }
}

/// The position of the first `\n` in `s`, eight bytes at a time.
fn find_newline(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = ONES * b'\n' as u64;
    let mut words = s.chunks_exact(8);
    for (k, w) in (&mut words).enumerate() {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let x = u64::from_le_bytes(a) ^ NL;
        // The lowest flagged byte is the first zero byte of `x`.
        let zero = x.wrapping_sub(ONES) & !x & HIGH;
        if zero != 0 {
            return Some(k * 8 + (zero.trailing_zeros() / 8) as usize);
        }
    }
    let tail = words.remainder();
    let at = s.len() - tail.len();
    tail.iter().position(|&b| b == b'\n').map(|i| at + i)
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Finds a request's streams by label set and — to build a label set only
/// once per distinct one — by what a label set is made of: the index and the
/// texts of the label fields found (encoded in `key`).
#[derive(Default)]
struct StreamFinder {
    by_labels: HashMap<pharos_model::Labels, usize>,
    by_key: HashMap<Vec<u8>, usize>,
    /// The key being looked up, and the previous one with its stream.
    key: Vec<u8>,
    last: Option<(Vec<u8>, usize)>,
    /// Entries to make room for in the first stream: often the only one.
    /// (Room never written to is, for large vectors, never paged in.)
    first_capacity: usize,
}

impl StreamFinder {
    /// Appends a length-prefixed part to the key.
    fn push_part(&mut self, s: &str) {
        self.key.extend_from_slice(&(s.len() as u64).to_le_bytes());
        self.key.extend_from_slice(s.as_bytes());
    }

    /// The stream for the key built in `key`, made with `labels` if new.
    fn find(
        &mut self,
        req: &mut BulkRequest,
        labels: impl FnOnce() -> pharos_model::Labels,
    ) -> usize {
        if let Some((k, s)) = &self.last {
            if *k == self.key {
                return *s;
            }
        }
        let s = match self.by_key.get(self.key.as_slice()) {
            Some(&s) => s,
            None => {
                let s = self.find_labels(req, labels());
                self.by_key.insert(self.key.clone(), s);
                s
            }
        };
        match &mut self.last {
            Some((k, last)) => {
                std::mem::swap(k, &mut self.key);
                *last = s;
            }
            None => self.last = Some((std::mem::take(&mut self.key), s)),
        }
        s
    }

    /// The stream with `labels`, added if new.
    fn find_labels(&mut self, req: &mut BulkRequest, labels: pharos_model::Labels) -> usize {
        let room = if req.streams.is_empty() {
            self.first_capacity
        } else {
            0
        };
        *self.by_labels.entry(labels.clone()).or_insert_with(|| {
            req.streams.push(LogStream {
                labels: labels.clone(),
                entries: Vec::with_capacity(room),
            });
            req.refs.push(Vec::with_capacity(room));
            req.labels.push(labels);
            req.streams.len() - 1
        })
    }
}

/// Number of `\n` in `body` (summed in bytes per block of 255, which
/// vectorises well).
fn count_newlines(body: &[u8]) -> usize {
    let mut blocks = body.chunks_exact(255);
    let mut n = 0;
    for b in &mut blocks {
        n += usize::from(
            b.iter()
                .fold(0u8, |acc, &c| acc.wrapping_add(u8::from(c == b'\n'))),
        );
    }
    n + blocks.remainder().iter().filter(|&&c| c == b'\n').count()
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
) -> Result<BulkRequest, BulkError> {
    let seq = ID_SEQ.fetch_add(1, Ordering::Relaxed);
    parse_bulk_seq(body, path_index, mapping, now_ns, seq)
}

/// [`parse_bulk`] with the request sequence number of generated ids.
fn parse_bulk_seq(
    body: &[u8],
    path_index: Option<&str>,
    mapping: &FieldMapping,
    now_ns: i64,
    seq: u32,
) -> Result<BulkRequest, BulkError> {
    // Room for the items (and the first stream's entries) up front: most
    // bodies are action/document pairs. Blank lines count too, so the
    // estimate is also held to one pair per 64 bytes, a small document.
    let pairs = (count_newlines(body) / 2).min(body.len() / 64) + 1;
    let mut p = BulkParser {
        req: BulkRequest::default(),
        finder: StreamFinder {
            first_capacity: pairs,
            ..StreamFinder::default()
        },
        doc: Document::default(),
        sel: Selection::default(),
        mapping: Prepared::new(mapping),
        index_label: sanitize_label_name(&mapping.index_label),
        now_ns,
    };
    p.req.items.reserve(pairs);
    let path_index = path_index.filter(|s| !s.is_empty());
    // Shippers repeat action lines: the last one parsed, and its action.
    let mut last_action: Option<(&[u8], Action)> = None;
    let mut it = lines(body);
    while let Some((n, line)) = it.next() {
        if is_blank(line) {
            continue;
        }
        let a = match &last_action {
            Some((l, a)) if *l == line => a.clone(),
            _ => {
                let a = parse_action(line, n)?;
                last_action = Some((line, a.clone()));
                a
            }
        };
        let item_no = p.req.items.len();
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
            (Some(index), Some((_, doc))) if item.error.is_none() => {
                match p.store_document(doc, index) {
                    Err(e) => item.error = Some(e),
                    Ok((s, entry)) => {
                        p.req.refs[s].push(EntryRef {
                            item: item_no,
                            ts: entry.ts,
                            line_len: entry.line.len(),
                        });
                        p.req.streams[s].entries.push(entry);
                        if item.id.is_none() {
                            item.id = Some(generated_id(now_ns, seq, item_no));
                        }
                    }
                }
            }
            _ => {}
        }
        p.req.items.push(item);
    }
    if p.req.items.is_empty() {
        return Err(BulkError::NoRequests);
    }
    Ok(p.req)
}

/// One [`parse_bulk`]: the request so far, and what documents share.
struct BulkParser<'a, 'm> {
    req: BulkRequest,
    finder: StreamFinder,
    /// The document being read (reused, as is `sel`).
    doc: Document<'a>,
    sel: Selection,
    mapping: Prepared<'m>,
    index_label: Option<String>,
    now_ns: i64,
}

impl<'a> BulkParser<'a, '_> {
    /// Reads a document line of index `index` into its entry and finds (or
    /// adds) its stream, or gives the item error.
    fn store_document(
        &mut self,
        line: &'a [u8],
        index: &str,
    ) -> Result<(usize, LogEntry), ItemError> {
        if !self.doc.read(line) {
            return self.store_document_value(line, index);
        }
        let (leaves, sel, mapping) = (&mut self.doc.leaves, &mut self.sel, &self.mapping);
        document::select(leaves, mapping, sel);
        let entry = document::entry(leaves, sel, line, self.now_ns);
        // The stream: by index and label texts; the label set only when new.
        let finder = &mut self.finder;
        finder.key.clear();
        finder.push_part(index);
        for &(j, i) in &sel.labels {
            finder.key.extend_from_slice(&(j as u64).to_le_bytes());
            finder.push_part(&leaves[i].1.text());
        }
        let index_label = self.index_label.as_deref();
        let s = finder.find(&mut self.req, || {
            let mut b = LabelsBuilder::new();
            for &(j, i) in &sel.labels {
                if let Some(name) = &mapping.label_names[j] {
                    b.set(name, &leaves[i].1.text());
                }
            }
            if let Some(l) = index_label {
                b.set(l, index);
            }
            b.build()
        });
        Ok((s, entry))
    }

    /// [`BulkParser::store_document`] through a `serde_json::Value`, for
    /// the lines [`Document::read`] does not take (which include every line
    /// that is not a JSON object: this has the item errors).
    fn store_document_value(
        &mut self,
        line: &[u8],
        index: &str,
    ) -> Result<(usize, LogEntry), ItemError> {
        let (map, raw) = parse_document(line)?;
        let c = document::convert(&map, raw, self.mapping.mapping, self.now_ns);
        let mut b = LabelsBuilder::new();
        for (k, v) in &c.labels {
            b.set(k, v);
        }
        if let Some(l) = &self.index_label {
            b.set(l, index);
        }
        let s = self.finder.find_labels(&mut self.req, b.build());
        Ok((s, c.entry))
    }
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

impl BulkRequest {
    /// Takes the streams to hand to the log store; the item bookkeeping stays.
    pub fn take_streams(&mut self) -> Vec<LogStream> {
        std::mem::take(&mut self.streams)
    }

    /// Number of entries to store (successful items so far).
    pub fn entry_count(&self) -> usize {
        self.refs.iter().map(Vec::len).sum()
    }

    /// The item of entry `entry` of stream `stream`.
    pub fn entry_item(&self, stream: usize, entry: usize) -> Option<usize> {
        self.refs.get(stream)?.get(entry).map(|r| r.item)
    }

    /// Marks the item of one entry failed (if it has not failed already).
    pub fn fail_entry(&mut self, stream: usize, entry: usize, error: ItemError) {
        if let Some(i) = self.entry_item(stream, entry) {
            self.fail_item(i, error);
        }
    }

    /// Marks item `item` failed (if it exists and has not failed already).
    pub fn fail_item(&mut self, item: usize, error: ItemError) {
        if let Some(it) = self.items.get_mut(item) {
            if it.error.is_none() {
                it.error = Some(error);
            }
        }
    }

    /// Marks every item that was to be stored failed, e.g. with a 503 when
    /// the store itself failed.
    pub fn fail_all_entries(&mut self, error: &ItemError) {
        let items: Vec<usize> = self.refs.iter().flatten().map(|r| r.item).collect();
        for i in items {
            self.fail_item(i, error.clone());
        }
    }

    /// Marks the items whose entries the store refused, from its answer to
    /// the streams of [`BulkRequest::take_streams`] (pushed unchanged).
    ///
    /// The outcome counts refusals per stream and reason, not per entry; the
    /// entries are found again as the store judges them: first lines longer
    /// than the limit, then entries older, then newer than the bounds named
    /// in the reasons (in that order, each entry once), then — for stream-wide
    /// refusals (labels, stream limit, rate limit) — the remaining entries.
    /// Each reason marks at most as many entries as it counts.
    pub fn apply_outcome(&mut self, outcome: &PushOutcome) {
        let mut failed: Vec<Vec<bool>> = self.refs.iter().map(|r| vec![false; r.len()]).collect();
        let rank = |r: &LogRejectReason| match r {
            LogRejectReason::LineTooLong { .. } => 0,
            LogRejectReason::TooOld { .. } => 1,
            LogRejectReason::TooNew { .. } => 2,
            _ => 3,
        };
        let mut rejections: Vec<_> = outcome.rejected.iter().collect();
        rejections.sort_by_key(|r| rank(&r.reason));
        let index: HashMap<&pharos_model::Labels, usize> = self
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l, i))
            .collect();
        for rej in rejections {
            let Some(&s) = index.get(&rej.stream) else {
                continue;
            };
            let pred = |e: &EntryRef| match rej.reason {
                LogRejectReason::LineTooLong { max, .. } => e.line_len > max,
                LogRejectReason::TooOld { oldest, .. } => e.ts < oldest,
                LogRejectReason::TooNew { newest, .. } => e.ts > newest,
                _ => true,
            };
            let err = ItemError::from_rejection(&rej.reason);
            let mut left = rej.entries;
            for (j, e) in self.refs[s].iter().enumerate() {
                if left == 0 {
                    break;
                }
                if !failed[s][j] && pred(e) {
                    failed[s][j] = true;
                    left -= 1;
                    if let Some(it) = self.items.get_mut(e.item) {
                        if it.error.is_none() {
                            it.error = Some(err.clone());
                        }
                    }
                }
            }
        }
    }

    /// True if any item failed (the response's `errors`).
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|i| i.error.is_some())
    }
}

#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod oracle;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_20_url_safe_chars_and_differ() {
        let a = generated_id(1_700_000_000_000_000_000, 1, 0);
        let b = generated_id(1_700_000_000_000_000_000, 1, 1);
        let c = generated_id(1_700_000_000_000_000_000, 2, 0);
        assert_eq!(a.len(), 20);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    proptest::proptest! {
        #[test]
        fn newlines_are_found_and_counted_as_by_a_plain_search(
            body in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'\n', b'\r', 0x0b, 0x8a, 0xff, b' ']),
                0..600,
            ),
            skip in 0usize..600,
        ) {
            let from = skip.min(body.len());
            proptest::prop_assert_eq!(
                find_newline(&body[from..]),
                body[from..].iter().position(|&b| b == b'\n')
            );
            proptest::prop_assert_eq!(
                count_newlines(&body),
                body.iter().filter(|&&b| b == b'\n').count()
            );
            let trimmed = body.strip_suffix(b"\n").unwrap_or(&body);
            let want: Vec<(usize, &[u8])> = trimmed
                .split(|&b| b == b'\n')
                .filter(|_| !body.is_empty())
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .enumerate()
                .map(|(i, l)| (i + 1, l))
                .collect();
            let got: Vec<(usize, &[u8])> = lines(&body).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn line_splitting() {
        let v: Vec<(usize, &[u8])> = lines(b"a\r\n\nb").collect();
        assert_eq!(v, vec![(1, &b"a"[..]), (2, &b""[..]), (3, &b"b"[..])]);
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(lines(b"\n").count(), 1);
        assert_eq!(lines(b"x\n").count(), 1);
    }
}
