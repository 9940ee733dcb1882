//! The stages: what each one does to an [`Entry`].
//!
//! An entry carries its line, time, structured metadata, its stream's labels
//! (copied only when a stage changes them) and an *extracted* map local to
//! the entry, as in Promtail. Parsers write the extracted map; `labels`,
//! `structured_metadata` and `output` read it. A name is looked up in the
//! extracted map first, then among the labels, then in the metadata.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use pharos_model::{Label, Labels, Line, LogEntry};
use regex::Regex;

use super::grok::Grok;
use super::redact::Redactor;
use super::timefmt::{Offset, TimeFormat};
use crate::pipeline::json::{self, Json, PathStep};
use crate::pipeline::template::{Ctx as TemplateCtx, Template};

/// A stream's labels as an entry sees them: borrowed until a stage changes
/// them.
pub(crate) struct LabelSet<'s> {
    base: &'s Labels,
    owned: Option<Vec<(String, String)>>,
}

impl<'s> LabelSet<'s> {
    pub(crate) fn new(base: &'s Labels) -> LabelSet<'s> {
        LabelSet { base, owned: None }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        match &self.owned {
            Some(v) => v.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()),
            None => self.base.get(name),
        }
    }

    fn own(&mut self) -> &mut Vec<(String, String)> {
        let base = self.base;
        self.owned.get_or_insert_with(|| {
            base.iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect()
        })
    }

    pub(crate) fn set(&mut self, name: &str, value: String) {
        if self.get(name) == Some(value.as_str()) {
            return;
        }
        let v = self.own();
        match v.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => v.push((name.to_string(), value)),
        }
    }

    pub(crate) fn remove(&mut self, name: &str) {
        if self.get(name).is_some() {
            self.own().retain(|(k, _)| k != name);
        }
    }

    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let all = match &self.owned {
            Some(v) => v.iter().all(|(k, _)| keep(k)),
            None => self.base.iter().all(|l| keep(&l.name)),
        };
        if !all {
            self.own().retain(|(k, _)| keep(k));
        }
    }

    /// Every (name, value), in no particular order.
    pub(crate) fn pairs(&self) -> Vec<(&str, &str)> {
        match &self.owned {
            Some(v) => v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            None => self
                .base
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str()))
                .collect(),
        }
    }

    /// The changed labels, or `None` when they equal the stream's.
    fn finish(self) -> Option<Labels> {
        let v = self.owned?;
        let labels = Labels::from_vec(
            v.into_iter()
                .map(|(name, value)| Label { name, value })
                .collect(),
        );
        (labels != *self.base).then_some(labels)
    }
}

/// One entry on its way through the pipelines.
pub(crate) struct Entry<'s> {
    pub(crate) ts: i64,
    pub(crate) line: Line,
    pub(crate) metadata: Vec<(String, String)>,
    pub(crate) labels: LabelSet<'s>,
    pub(crate) extracted: Vec<(String, String)>,
}

fn find<'a>(v: &'a [(String, String)], name: &str) -> Option<&'a str> {
    v.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

impl<'s> Entry<'s> {
    pub(crate) fn new(labels: &'s Labels, e: LogEntry) -> Entry<'s> {
        Entry {
            ts: e.ts,
            line: e.line,
            metadata: e.metadata,
            labels: LabelSet::new(labels),
            extracted: Vec::new(),
        }
    }

    /// The entry back, with its labels when they changed.
    pub(crate) fn finish(self) -> (Option<Labels>, LogEntry) {
        let labels = self.labels.finish();
        (
            labels,
            LogEntry {
                ts: self.ts,
                line: self.line,
                metadata: self.metadata,
            },
        )
    }

    /// A field: extracted, else a label, else metadata.
    pub(crate) fn lookup(&self, name: &str) -> Option<&str> {
        find(&self.extracted, name)
            .or_else(|| self.labels.get(name))
            .or_else(|| find(&self.metadata, name))
    }

    /// The line, or the field `source` names.
    fn source_text(&self, source: &Option<String>) -> Option<&str> {
        match source {
            None => Some(&self.line),
            Some(s) => self.lookup(s),
        }
    }

    /// Writes back what a stage computed from [`Entry::source_text`].
    fn set_source_text(&mut self, source: &Option<String>, text: String) {
        match source {
            None => self.line = text.into(),
            Some(s) => self.set_extracted(s, text),
        }
    }

    pub(crate) fn set_extracted(&mut self, name: &str, value: String) {
        match self.extracted.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => self.extracted.push((name.to_string(), value)),
        }
    }

    pub(crate) fn set_metadata(&mut self, name: &str, value: String) {
        match self.metadata.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => self.metadata.push((name.to_string(), value)),
        }
    }

    fn remove_metadata(&mut self, name: &str) {
        if self.metadata.iter().any(|(k, _)| k == name) {
            self.metadata.retain(|(k, _)| k != name);
        }
    }
}

/// State one push shares across the entries of one stream.
pub(crate) struct Ctx {
    /// Wall-clock time of the push, Unix nanoseconds.
    pub(crate) now_ns: i64,
    /// The last time a `timestamp` stage set in this stream (for `fudge`).
    pub(crate) last_ts: Option<i64>,
}

/// What a stage did with an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Nothing to report.
    Next,
    /// The stage acted: parsed, redacted, promoted, set the time.
    Hit,
    /// The stage could not act (no match, malformed input, missing field);
    /// the entry goes on.
    Failed,
    /// The entry is dropped.
    Drop,
}

/// A compiled stage.
pub(crate) trait Stage: Send + Sync {
    /// Runs the stage on one entry.
    fn apply(&self, e: &mut Entry<'_>, cx: &mut Ctx) -> Flow;

    /// Values the stage refused to promote, per label name (the
    /// cardinality guard of `labels`).
    fn label_refusals(&self) -> Vec<(String, u64)> {
        Vec::new()
    }
}

// ---------------------------------------------------------------- parsers

pub(crate) struct GrokStage {
    pub(crate) groks: Vec<Grok>,
    pub(crate) source: Option<String>,
}

impl Stage for GrokStage {
    fn apply(&self, e: &mut Entry<'_>, _: &mut Ctx) -> Flow {
        let Some(text) = e.source_text(&self.source) else {
            return Flow::Failed;
        };
        let found: Option<Vec<(String, String)>> = self.groks.iter().find_map(|g| {
            g.captures(text).map(|c| {
                c.into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
        });
        match found {
            Some(fields) => {
                for (k, v) in fields {
                    e.set_extracted(&k, v);
                }
                Flow::Hit
            }
            None => Flow::Failed,
        }
    }
}

pub(crate) struct RegexStage {
    pub(crate) re: Regex,
    pub(crate) source: Option<String>,
}

impl Stage for RegexStage {
    fn apply(&self, e: &mut Entry<'_>, _: &mut Ctx) -> Flow {
        let Some(text) = e.source_text(&self.source) else {
            return Flow::Failed;
        };
        let Some(caps) = self.re.captures(text) else {
            return Flow::Failed;
        };
        let fields: Vec<(String, String)> = self
            .re
            .capture_names()
            .flatten()
            .filter_map(|n| {
                caps.name(n)
                    .map(|m| (n.to_string(), m.as_str().to_string()))
            })
            .collect();
        for (k, v) in fields {
            e.set_extracted(&k, v);
        }
        Flow::Hit
    }
}

/// Reads a Promtail (JMESPath-like) path: `a.b`, `a[0]`, `a."b-c"`,
/// `"x y"`, and `a["b"]`.
pub(crate) fn parse_json_path(expr: &str) -> Result<Vec<PathStep>, String> {
    let mut s = String::with_capacity(expr.len() + 4);
    let mut it = expr.chars().peekable();
    let mut prev: Option<char> = None;
    while let Some(c) = it.next() {
        if c == '"' && matches!(prev, None | Some('.')) {
            if prev == Some('.') {
                s.pop();
            }
            s.push_str("[\"");
            let mut closed = false;
            for d in it.by_ref() {
                if d == '"' {
                    closed = true;
                    break;
                }
                s.push(d);
            }
            if !closed {
                return Err("unterminated string".into());
            }
            s.push_str("\"]");
            prev = Some(']');
            continue;
        }
        s.push(c);
        prev = Some(c);
    }
    json::parse_path(&s)
}

pub(crate) struct JsonStage {
    /// (name, path); empty: every field.
    pub(crate) paths: Vec<(String, Vec<PathStep>)>,
    pub(crate) source: Option<String>,
    pub(crate) drop_malformed: bool,
}

impl Stage for JsonStage {
    fn apply(&self, e: &mut Entry<'_>, _: &mut Ctx) -> Flow {
        let Some(text) = e.source_text(&self.source) else {
            return Flow::Failed;
        };
        let root = match json::parse(text) {
            Ok(r) => r,
            Err(_) if self.drop_malformed => return Flow::Drop,
            Err(_) => return Flow::Failed,
        };
        let mut out = Vec::new();
        if self.paths.is_empty() {
            let Json::Obj(fields, _) = &root else {
                return if self.drop_malformed {
                    Flow::Drop
                } else {
                    Flow::Failed
                };
            };
            json::flatten(fields, "", &mut out);
        } else {
            for (name, path) in &self.paths {
                if let Some(v) = json::lookup(&root, path) {
                    if !matches!(v, Json::Null) {
                        out.push((name.clone(), v.as_label_value()));
                    }
                }
            }
        }
        for (k, v) in out {
            e.set_extracted(&k, v);
        }
        Flow::Hit
    }
}

pub(crate) struct LogfmtStage {
    /// (name, key); empty: every key.
    pub(crate) mapping: Vec<(String, String)>,
    pub(crate) source: Option<String>,
}

impl Stage for LogfmtStage {
    fn apply(&self, e: &mut Entry<'_>, _: &mut Ctx) -> Flow {
        let Some(text) = e.source_text(&self.source) else {
            return Flow::Failed;
        };
        let (pairs, _) = crate::pipeline::logfmt::parse(text, false);
        if pairs.is_empty() {
            return Flow::Failed;
        }
        let mut out = Vec::new();
        for p in pairs {
            let Some(v) = p.value else { continue };
            if self.mapping.is_empty() {
                out.push((p.key, v));
            } else {
                for (name, key) in &self.mapping {
                    if *key == p.key {
                        out.push((name.clone(), v.clone()));
                    }
                }
            }
        }
        for (k, v) in out {
            e.set_extracted(&k, v);
        }
        Flow::Hit
    }
}

// ---------------------------------------------------------------- timestamp

pub(crate) struct TimestampStage {
    pub(crate) source: String,
    pub(crate) formats: Vec<TimeFormat>,
    pub(crate) location: Offset,
    pub(crate) fudge: bool,
}

impl Stage for TimestampStage {
    fn apply(&self, e: &mut Entry<'_>, cx: &mut Ctx) -> Flow {
        let parsed = e.lookup(&self.source).and_then(|v| {
            self.formats
                .iter()
                .find_map(|f| f.parse(v, self.location, cx.now_ns))
        });
        match parsed {
            Some(t) => {
                e.ts = t;
                cx.last_ts = Some(t);
                Flow::Hit
            }
            None => {
                if self.fudge {
                    if let Some(l) = cx.last_ts {
                        e.ts = l.saturating_add(1);
                        cx.last_ts = Some(e.ts);
                    }
                }
                Flow::Failed
            }
        }
    }
}

// ---------------------------------------------------------------- labels

/// The cardinality guard of one promoted label.
pub(crate) struct Guard {
    values: RwLock<HashSet<String>>,
    refused: AtomicU64,
    last_warn: Mutex<Option<Instant>>,
}

impl Guard {
    fn new() -> Guard {
        Guard {
            values: RwLock::new(HashSet::new()),
            refused: AtomicU64::new(0),
            last_warn: Mutex::new(None),
        }
    }

    /// True when `v` may be a value of the label: seen before, or there is
    /// room for one more.
    fn admit(&self, v: &str, max: usize) -> bool {
        if self.values.read().contains(v) {
            return true;
        }
        let mut w = self.values.write();
        if w.contains(v) {
            return true;
        }
        if w.len() < max {
            w.insert(v.to_string());
            return true;
        }
        false
    }
}

pub(crate) struct LabelsStage {
    pub(crate) pipeline: usize,
    /// (label, source field).
    pub(crate) items: Vec<(String, String)>,
    pub(crate) guards: Vec<Guard>,
    pub(crate) max_values: usize,
    pub(crate) max_len: usize,
}

/// How often a refusing guard may log, per label.
const WARN_EVERY: Duration = Duration::from_secs(60);

impl LabelsStage {
    pub(crate) fn new(
        pipeline: usize,
        items: Vec<(String, String)>,
        max_values: usize,
        max_len: usize,
    ) -> LabelsStage {
        LabelsStage {
            pipeline,
            guards: items.iter().map(|_| Guard::new()).collect(),
            items,
            max_values,
            max_len,
        }
    }

    fn refuse(&self, g: &Guard, label: &str, why: &str) {
        let n = g.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = g.last_warn.lock();
        if last.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                pipeline = self.pipeline,
                label,
                limit = self.max_values,
                refused_total = n,
                "log pipeline: value not promoted to a label ({why}); kept as structured metadata"
            );
        }
    }
}

impl Stage for LabelsStage {
    fn apply(&self, e: &mut Entry<'_>, _: &mut Ctx) -> Flow {
        let mut acted = false;
        for ((label, source), g) in self.items.iter().zip(&self.guards) {
            let Some(v) = e.lookup(source) else { continue };
            if v.is_empty() {
                continue;
            }
            let v = v.to_string();
            if v.len() > self.max_len {
                self.refuse(g, label, "value too long");
                e.set_metadata(label, v);
            } else if g.admit(&v, self.max_values) {
                e.labels.set(label, v);
                e.remove_metadata(label);
                acted = true;
            } else {
                self.refuse(g, label, "too many distinct values");
                e.set_metadata(label, v);
            }
        }
        if acted {
            Flow::Hit
        } else {
            Flow::Next
        }
    }

    fn label_refusals(&self) -> Vec<(String, u64)> {
        self.items
            .iter()
            .zip(&self.guards)
            .map(|((l, _), g)| (l.clone(), g.refused.load(Ordering::Relaxed)))
            .collect()
    }
}

pub(crate) struct MetadataStage {
    /// (metadata name, source field).
    pub(crate) items: Vec<(String, String)>,
}

impl Stage for MetadataStage {
    fn apply(&self, e: &mut Entry<'_>, _: &mut Ctx) -> Flow {
        let mut acted = false;
        for (name, source) in &self.items {
            if let Some(v) = e.lookup(source).filter(|v| !v.is_empty()) {
                let v = v.to_string();
                e.set_metadata(name, v);
                acted = true;
            }
        }
        if acted {
            Flow::Hit
        } else {
            Flow::Next
        }
    }
}

/// `static_labels`, `labeldrop`, `labelallow`, `rename_labels`.
pub(crate) enum LabelEdit {
    /// (name, value); `None` removes.
    Static(Vec<(String, Option<String>)>),
    Drop(Vec<String>),
    Allow(Vec<String>),
    Rename(Vec<(String, String)>),
}

impl Stage for LabelEdit {
    fn apply(&self, e: &mut Entry<'_>, _: &mut Ctx) -> Flow {
        match self {
            LabelEdit::Static(items) => {
                for (k, v) in items {
                    match v {
                        Some(v) => e.labels.set(k, v.clone()),
                        None => e.labels.remove(k),
                    }
                }
            }
            LabelEdit::Drop(names) => e.labels.retain(|k| !names.iter().any(|n| n == k)),
            LabelEdit::Allow(names) => e.labels.retain(|k| names.iter().any(|n| n == k)),
            LabelEdit::Rename(pairs) => {
                for (from, to) in pairs {
                    if let Some(v) = e.labels.get(from).map(str::to_string) {
                        e.labels.remove(from);
                        e.labels.set(to, v);
                    }
                }
            }
        }
        Flow::Next
    }
}

// ---------------------------------------------------------------- drop / keep

pub(crate) struct Condition {
    pub(crate) sources: Option<Vec<String>>,
    pub(crate) separator: String,
    pub(crate) expression: Option<Regex>,
    pub(crate) value: Option<String>,
    pub(crate) older_than_ns: Option<i64>,
    pub(crate) longer_than: Option<usize>,
}

impl Condition {
    fn holds(&self, e: &Entry<'_>, cx: &Ctx) -> bool {
        match &self.sources {
            Some(sources) => {
                let mut parts = Vec::with_capacity(sources.len());
                for s in sources {
                    match e.lookup(s) {
                        Some(v) => parts.push(v),
                        None => return false,
                    }
                }
                let joined = parts.join(&self.separator);
                if let Some(v) = &self.value {
                    if joined != *v {
                        return false;
                    }
                }
                if let Some(re) = &self.expression {
                    if !re.is_match(&joined) {
                        return false;
                    }
                }
            }
            None => {
                if let Some(re) = &self.expression {
                    if !re.is_match(&e.line) {
                        return false;
                    }
                }
            }
        }
        if let Some(d) = self.older_than_ns {
            if e.ts >= cx.now_ns.saturating_sub(d) {
                return false;
            }
        }
        if let Some(n) = self.longer_than {
            if e.line.len() <= n {
                return false;
            }
        }
        true
    }
}

/// `drop` (`keep: false`) and `keep`.
pub(crate) struct Filter {
    pub(crate) cond: Condition,
    pub(crate) keep: bool,
}

impl Stage for Filter {
    fn apply(&self, e: &mut Entry<'_>, cx: &mut Ctx) -> Flow {
        if self.cond.holds(e, cx) != self.keep {
            Flow::Drop
        } else {
            Flow::Next
        }
    }
}

// ---------------------------------------------------------------- rewriting

pub(crate) enum Replacement {
    Text(String),
    /// A template reading `.Value` (the matched text).
    Template(Template),
}

impl Replacement {
    fn render(&self, value: &str, ts: i64) -> String {
        match self {
            Replacement::Text(t) => t.clone(),
            Replacement::Template(t) => {
                let labels = [("Value".to_string(), value.to_string())];
                let ctx = TemplateCtx {
                    labels: &labels,
                    line: value,
                    ts_ns: ts,
                };
                t.execute(&ctx).unwrap_or_default()
            }
        }
    }
}

pub(crate) struct ReplaceStage {
    pub(crate) re: Regex,
    pub(crate) replace: Replacement,
    pub(crate) source: Option<String>,
}

impl Stage for ReplaceStage {
    fn apply(&self, e: &mut Entry<'_>, _: &mut Ctx) -> Flow {
        let Some(text) = e.source_text(&self.source) else {
            return Flow::Failed;
        };
        let groups = self.re.captures_len() > 1;
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        let mut named: Vec<(String, String)> = Vec::new();
        let mut any = false;
        for caps in self.re.captures_iter(text) {
            any = true;
            for n in self.re.capture_names().flatten() {
                if let Some(m) = caps.name(n) {
                    named.push((n.to_string(), m.as_str().to_string()));
                }
            }
            let spans: Vec<(usize, usize)> = if groups {
                (1..caps.len())
                    .filter_map(|i| caps.get(i).map(|m| (m.start(), m.end())))
                    .collect()
            } else {
                caps.get(0)
                    .map(|m| (m.start(), m.end()))
                    .into_iter()
                    .collect()
            };
            for (s, end) in spans {
                if s < last {
                    continue;
                }
                out.push_str(&text[last..s]);
                out.push_str(&self.replace.render(&text[s..end], e.ts));
                last = end;
            }
        }
        if !any {
            return Flow::Failed;
        }
        out.push_str(&text[last..]);
        for (k, v) in named {
            e.set_extracted(&k, v);
        }
        e.set_source_text(&self.source, out);
        Flow::Hit
    }
}

pub(crate) struct RedactStage {
    pub(crate) redactors: Vec<Redactor>,
    pub(crate) replacement: String,
    pub(crate) source: Option<String>,
}

impl Stage for RedactStage {
    fn apply(&self, e: &mut Entry<'_>, _: &mut Ctx) -> Flow {
        let Some(text) = e.source_text(&self.source) else {
            return Flow::Next;
        };
        let mut cur: Option<String> = None;
        for r in &self.redactors {
            let t = cur.as_deref().unwrap_or(text);
            if let Some(n) = r.apply(t, &self.replacement) {
                cur = Some(n);
            }
        }
        match cur {
            Some(t) => {
                e.set_source_text(&self.source, t);
                Flow::Hit
            }
            None => Flow::Next,
        }
    }
}

pub(crate) struct DecolorizeStage;

impl Stage for DecolorizeStage {
    fn apply(&self, e: &mut Entry<'_>, _: &mut Ctx) -> Flow {
        if e.line.contains('\u{1b}') {
            e.line = crate::pipeline::decolorize(&e.line).into();
            Flow::Hit
        } else {
            Flow::Next
        }
    }
}

pub(crate) struct OutputStage {
    pub(crate) source: String,
}

impl Stage for OutputStage {
    fn apply(&self, e: &mut Entry<'_>, _: &mut Ctx) -> Flow {
        match e.lookup(&self.source).map(str::to_string) {
            Some(v) => {
                e.line = v.into();
                Flow::Hit
            }
            None => Flow::Failed,
        }
    }
}
