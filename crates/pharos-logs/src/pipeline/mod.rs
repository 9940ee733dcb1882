//! Evaluation of LogQL pipeline stages: line filters, parsers, label
//! filters, formatters, `drop`, `keep` and `decolorize`.
//!
//! [`Pipeline::new`] compiles the stages of a parsed query once (regular
//! expressions, patterns, `ip()` ranges, templates); [`Pipeline::process`]
//! runs one entry through them, rewriting its line and labels, and says
//! whether it passes.
//!
//! # Supported, as in Loki
//!
//! - Line filters `|=` `!=` `|~` `!~` `|>` `!>` with `or` alternatives, and
//!   `ip("...")` alternatives (an address, a CIDR block or a range `a-b`,
//!   IPv4 and IPv6): the line contains an address in the range.
//! - Parsers `json` (every string, number and boolean leaf, nested keys
//!   joined with `_`, arrays and nulls skipped; with parameters, paths such
//!   as `a.b[0]` and `a["b c"]`, missing paths giving `""`), `logfmt`
//!   (`--strict`, `--keep-empty`, parameters), `regexp` (named groups),
//!   `pattern` (`<name>` and `<_>`), `unpack` (`_entry` becomes the line,
//!   the other string fields labels). Extracted names are sanitised (`[^A-Za-z0-9_]`
//!   becomes `_`, a leading digit gets a `_` prefix) and get an `_extracted`
//!   suffix when they collide with an input label. A line that does not
//!   parse is kept, with `__error__` (`JSONParserErr`, `LogfmtParserErr`)
//!   and `__error_details__` labels.
//! - Label filters: string matchers, number, duration, byte and `ip()`
//!   comparisons, `and`/`or`. As in Loki's `NumericLabelFilter` and its
//!   duration and bytes siblings: a missing label fails the comparison; a
//!   value that does not convert sets `__error__="LabelFilterErr"` (and
//!   `__error_details__`) and the comparison *passes*, so that
//!   `| __error__=""` can drop the line later; once an entry carries an
//!   error, number/duration/bytes/ip comparisons pass and only string
//!   matchers can filter it. Both sides of `and` are evaluated (so errors
//!   from either side are recorded); `or` stops at the first passing side.
//! - `line_format` and `label_format` with the Go template subset described
//!   in `template.rs` (`{{.label}}`, `{{__line__}}`, `{{__timestamp__}}`,
//!   pipelines, `if`/`else`, `printf` and Loki's string and math
//!   functions). An execution error sets `__error__="TemplateFormatErr"` and
//!   leaves the line (label) unchanged. `label_format` templates read the
//!   labels as they were when the first template of the stage runs (after
//!   earlier renames of the same stage), as Loki does; `a=b` renames `b`
//!   (nothing happens when `b` is missing).
//! - `drop` and `keep` with names and matchers; `decolorize` (ANSI CSI
//!   sequences).
//!
//! # Differences from Loki
//!
//! - Every input label counts as a stream label for the `_extracted` rule
//!   (Loki applies it to stream labels only, not structured metadata).
//! - A malformed JSON line adds no labels at all (Loki keeps the fields read
//!   before the error).
//! - logfmt without `--strict` never reports an error: malformed tokens are
//!   skipped up to the next space. Duplicate keys: the last value wins.
//! - Template comparisons accept an int and a float together (Go refuses);
//!   functions taking an int accept a string holding one. `__timestamp__`
//!   prints in UTC. `regexReplaceAll` compiles its expression at each call.
//!   Not supported (a [`PipelineError::Template`] at compile time): `$`
//!   variables, `range`, `with`, `define`/`template`, and the functions
//!   `date`, `toDate`, `toDateInZone`, `now`, `fromJson`, `indent`,
//!   `nindent`, `b64enc`, `b64dec`.
//! - The `ip()` line filter tries each maximal run of hex digits, `.` and
//!   `:` in the line as an address.

mod ip;
pub(crate) mod json;
pub(crate) mod logfmt;
mod pattern;
pub(crate) mod template;
#[cfg(test)]
mod tests;

use pharos_model::Matcher;
use regex::Regex;

use crate::logql::{
    CmpOp, LabelFilterExpr, LabelFormatOp, LabelSelection, LineFilter, LineFilterOp,
    LineFilterValue, ParserStage, Stage,
};
use ip::IpMatcher;
use json::Json;
use pattern::Pattern;
use template::{Ctx, Template};

/// The label Loki sets when a stage fails on an entry.
pub const ERROR_LABEL: &str = "__error__";
/// The label holding the details of [`ERROR_LABEL`].
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";

const EXTRACTED_SUFFIX: &str = "_extracted";

/// Why a pipeline could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    /// A regular expression (line filter, `regexp` parser) does not compile.
    #[error("invalid regular expression {pattern:?}: {reason}")]
    BadRegex {
        /// The expression.
        pattern: String,
        /// The compiler's message.
        reason: String,
    },
    /// A `pattern` parser or `|>` filter is malformed.
    #[error("invalid pattern {pattern:?}: {reason}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        reason: String,
    },
    /// An `ip("...")` argument is not an address, CIDR block or range.
    #[error("invalid ip filter {0:?}")]
    BadIp(String),
    /// A parser stage is invalid (no named capture, bad JSON path, bad label name, ...).
    #[error("invalid parser stage: {0}")]
    BadParser(String),
    /// A `line_format` or `label_format` template does not compile, or uses
    /// an unknown or unsupported function.
    #[error("invalid template {template:?}: {reason}")]
    Template {
        /// The template.
        template: String,
        /// What is wrong (names the function when one is unknown).
        reason: String,
    },
    /// A `label_format` stage sets a label twice or sets `__error__`.
    #[error("invalid label_format: {0}")]
    BadLabelFormat(String),
}

/// One alternative of a line filter.
#[derive(Debug)]
enum LineAlt {
    Contains(String),
    Regex(Regex),
    Pattern(Pattern),
    Ip(IpMatcher),
}

impl LineAlt {
    fn matches(&self, line: &str) -> bool {
        match self {
            LineAlt::Contains(s) => line.contains(s.as_str()),
            LineAlt::Regex(r) => r.is_match(line),
            LineAlt::Pattern(p) => p.matches(line),
            LineAlt::Ip(m) => m.matches_line(line),
        }
    }
}

/// A compiled label filter.
#[derive(Debug)]
enum LabelTest {
    And(Box<LabelTest>, Box<LabelTest>),
    Or(Box<LabelTest>, Box<LabelTest>),
    Matcher(Matcher),
    Number(String, CmpOp, f64),
    Duration(String, CmpOp, i64),
    Bytes(String, CmpOp, u64),
    Ip(String, bool, IpMatcher),
}

#[derive(Debug)]
enum Step {
    Line {
        negative: bool,
        alts: Vec<LineAlt>,
    },
    Json,
    JsonPaths(Vec<(String, Vec<json::PathStep>)>),
    Logfmt {
        strict: bool,
        keep_empty: bool,
        /// (label, key); empty for every key.
        params: Vec<(String, String)>,
    },
    Regexp(Regex),
    Pattern(Pattern),
    Unpack,
    Labels(LabelTest),
    LineFormat(Template),
    LabelFormat(Vec<LabelFormatStep>),
    Drop(Vec<LabelSelection>),
    Keep(Vec<LabelSelection>),
    Decolorize,
}

#[derive(Debug)]
enum LabelFormatStep {
    Rename { dst: String, src: String },
    Template { dst: String, template: Template },
}

/// A compiled LogQL pipeline.
#[derive(Debug)]
pub struct Pipeline {
    steps: Vec<Step>,
}

fn bad_regex(pattern: &str, e: regex::Error) -> PipelineError {
    PipelineError::BadRegex {
        pattern: pattern.to_string(),
        reason: e.to_string(),
    }
}

fn is_label_name(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn compile_line_filter(f: &LineFilter) -> Result<Step, PipelineError> {
    let mut alts = Vec::with_capacity(f.values.len());
    for v in &f.values {
        alts.push(match v {
            LineFilterValue::Ip(p) => {
                LineAlt::Ip(IpMatcher::new(p).map_err(|_| PipelineError::BadIp(p.clone()))?)
            }
            LineFilterValue::Literal(s) => match f.op {
                LineFilterOp::Contains | LineFilterOp::NotContains => LineAlt::Contains(s.clone()),
                LineFilterOp::Match | LineFilterOp::NotMatch => {
                    LineAlt::Regex(Regex::new(s).map_err(|e| bad_regex(s, e))?)
                }
                LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                    LineAlt::Pattern(Pattern::new(s).map_err(|reason| {
                        PipelineError::BadPattern {
                            pattern: s.clone(),
                            reason,
                        }
                    })?)
                }
            },
        });
    }
    Ok(Step::Line {
        negative: f.op.is_negative(),
        alts,
    })
}

fn compile_label_filter(f: &LabelFilterExpr) -> Result<LabelTest, PipelineError> {
    Ok(match f {
        LabelFilterExpr::And(a, b) => LabelTest::And(
            Box::new(compile_label_filter(a)?),
            Box::new(compile_label_filter(b)?),
        ),
        LabelFilterExpr::Or(a, b) => LabelTest::Or(
            Box::new(compile_label_filter(a)?),
            Box::new(compile_label_filter(b)?),
        ),
        LabelFilterExpr::Matcher(m) => LabelTest::Matcher(m.clone()),
        LabelFilterExpr::Number { label, op, value } => {
            LabelTest::Number(label.clone(), *op, *value)
        }
        LabelFilterExpr::Duration { label, op, nanos } => {
            LabelTest::Duration(label.clone(), *op, *nanos)
        }
        LabelFilterExpr::Bytes { label, op, bytes } => LabelTest::Bytes(label.clone(), *op, *bytes),
        LabelFilterExpr::Ip {
            label,
            negated,
            pattern,
        } => LabelTest::Ip(
            label.clone(),
            *negated,
            IpMatcher::new(pattern).map_err(|_| PipelineError::BadIp(pattern.clone()))?,
        ),
    })
}

fn template(src: &str) -> Result<Template, PipelineError> {
    Template::new(src).map_err(|reason| PipelineError::Template {
        template: src.to_string(),
        reason,
    })
}

fn compile_parser(p: &ParserStage) -> Result<Step, PipelineError> {
    let check_label = |l: &str| {
        if is_label_name(l) {
            Ok(())
        } else {
            Err(PipelineError::BadParser(format!(
                "invalid extracted label name '{l}'"
            )))
        }
    };
    Ok(match p {
        ParserStage::Json(params) if params.is_empty() => Step::Json,
        ParserStage::Json(params) => {
            let mut out = Vec::with_capacity(params.len());
            for p in params {
                check_label(&p.label)?;
                let path = json::parse_path(&p.expr).map_err(PipelineError::BadParser)?;
                out.push((p.label.clone(), path));
            }
            Step::JsonPaths(out)
        }
        ParserStage::Logfmt {
            strict,
            keep_empty,
            params,
        } => {
            for p in params {
                check_label(&p.label)?;
            }
            Step::Logfmt {
                strict: *strict,
                keep_empty: *keep_empty,
                params: params
                    .iter()
                    .map(|p| (p.label.clone(), p.expr.clone()))
                    .collect(),
            }
        }
        ParserStage::Regexp(src) => {
            let re = Regex::new(src).map_err(|e| bad_regex(src, e))?;
            let names: Vec<&str> = re.capture_names().flatten().collect();
            if names.is_empty() {
                return Err(PipelineError::BadParser(
                    "at least one named capture must be supplied".into(),
                ));
            }
            for n in names {
                check_label(n)?;
            }
            Step::Regexp(re)
        }
        ParserStage::Pattern(src) => {
            let bad = |reason: String| PipelineError::BadPattern {
                pattern: src.clone(),
                reason,
            };
            let pat = Pattern::new(src).map_err(bad)?;
            if pat.names().is_empty() {
                return Err(bad("at least one named capture must be supplied".into()));
            }
            Step::Pattern(pat)
        }
        ParserStage::Unpack => Step::Unpack,
    })
}

fn compile_label_format(ops: &[LabelFormatOp]) -> Result<Step, PipelineError> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        let dst = match op {
            LabelFormatOp::Rename { dst, .. } | LabelFormatOp::Template { dst, .. } => dst,
        };
        if dst == ERROR_LABEL {
            return Err(PipelineError::BadLabelFormat(format!(
                "{ERROR_LABEL} cannot be formatted"
            )));
        }
        if seen.contains(&dst.as_str()) {
            return Err(PipelineError::BadLabelFormat(format!(
                "multiple label name '{dst}' not allowed in a single format operation"
            )));
        }
        seen.push(dst);
        out.push(match op {
            LabelFormatOp::Rename { dst, src } => LabelFormatStep::Rename {
                dst: dst.clone(),
                src: src.clone(),
            },
            LabelFormatOp::Template { dst, template: t } => LabelFormatStep::Template {
                dst: dst.clone(),
                template: template(t)?,
            },
        });
    }
    Ok(Step::LabelFormat(out))
}

// ---- label helpers -------------------------------------------------------

fn get<'a>(labels: &'a [(String, String)], name: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn set(labels: &mut Vec<(String, String)>, name: &str, value: String) {
    match labels.iter_mut().find(|(k, _)| k == name) {
        Some(l) => l.1 = value,
        None => labels.push((name.to_string(), value)),
    }
}

fn del(labels: &mut Vec<(String, String)>, name: &str) {
    labels.retain(|(k, _)| k != name);
}

fn has_err(labels: &[(String, String)]) -> bool {
    get(labels, ERROR_LABEL).is_some_and(|v| !v.is_empty())
}

fn set_err(labels: &mut Vec<(String, String)>, err: &str, details: String) {
    set(labels, ERROR_LABEL, err.to_string());
    if !details.is_empty() {
        set(labels, ERROR_DETAILS_LABEL, details);
    }
}

/// The name an extracted label gets: `_extracted` appended on collision
/// with an input label.
fn extracted(base: &[String], name: String) -> String {
    if base.contains(&name) {
        name + EXTRACTED_SUFFIX
    } else {
        name
    }
}

/// A Go duration (`1h30m`, `250ms`, `1.5s`, `-2us`) in nanoseconds.
pub(crate) fn go_duration_ns(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    let mut any = false;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[u..];
        total += num * mult;
        any = true;
    }
    any.then_some(if neg { -total } else { total } as i64)
}

/// A humanized size (`42`, `1.5 KB`, `2KiB`, `3mb`, `1,024`) in bytes, as
/// go-humanize parses it: SI units are powers of 1000, `i` units of 1024.
pub(crate) fn bytes_of(s: &str) -> Option<f64> {
    let s = s.trim();
    let n = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(s.len());
    let num: f64 = s[..n].replace(',', "").parse().ok()?;
    let unit = s[n..].trim().to_ascii_lowercase();
    let si = ["", "k", "m", "g", "t", "p", "e"];
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    if let Some(p) = unit.strip_suffix('i') {
        let e = si.iter().position(|u| *u == p).filter(|e| *e > 0)?;
        return Some(num * 1024f64.powi(e as i32));
    }
    let e = si.iter().position(|u| *u == unit)?;
    Some(num * 1000f64.powi(e as i32))
}

/// Evaluates a label filter as Loki does (see the module documentation).
fn label_test(t: &LabelTest, labels: &mut Vec<(String, String)>) -> bool {
    fn convert<T>(
        labels: &mut Vec<(String, String)>,
        label: &str,
        parse: impl Fn(&str) -> Option<T>,
        what: &str,
        test: impl Fn(T) -> bool,
    ) -> bool {
        if has_err(labels) {
            return true;
        }
        let Some(v) = get(labels, label) else {
            return false;
        };
        match parse(v) {
            Some(x) => test(x),
            None => {
                let details = format!("cannot convert label {label}={v:?} to {what}");
                set_err(labels, "LabelFilterErr", details);
                true
            }
        }
    }
    match t {
        LabelTest::And(a, b) => {
            let l = label_test(a, labels);
            let r = label_test(b, labels);
            l && r
        }
        LabelTest::Or(a, b) => label_test(a, labels) || label_test(b, labels),
        LabelTest::Matcher(m) => m.matches(get(labels, &m.name).unwrap_or("")),
        LabelTest::Number(l, op, value) => convert(
            labels,
            l,
            |v| v.trim().parse::<f64>().ok(),
            "a number",
            |x| op.holds(x, *value),
        ),
        LabelTest::Duration(l, op, nanos) => {
            convert(labels, l, go_duration_ns, "a duration", |x| {
                op.holds(x, *nanos)
            })
        }
        LabelTest::Bytes(l, op, bytes) => {
            convert(labels, l, bytes_of, "bytes", |x| op.holds(x, *bytes as f64))
        }
        LabelTest::Ip(l, negated, m) => {
            if has_err(labels) {
                return true;
            }
            match get(labels, l) {
                Some(v) => m.matches_str(v) != *negated,
                None => false,
            }
        }
    }
}

fn selected(sel: &[LabelSelection], name: &str, value: &str) -> bool {
    sel.iter().any(|s| match s {
        LabelSelection::Name(n) => n == name,
        LabelSelection::Matcher(m) => m.name == name && m.matches(value),
    })
}

/// Strips ANSI escape sequences (`ESC [ ... final byte`, and `ESC ] ... BEL`).
pub(crate) fn decolorize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut it = line.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\u{1b}' && it.peek() == Some(&'[') {
            it.next();
            for d in it.by_ref() {
                if ('@'..='~').contains(&d) {
                    break;
                }
            }
        } else if c == '\u{1b}' && it.peek() == Some(&']') {
            for d in it.by_ref() {
                if d == '\u{7}' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn set_parsed(base: &[String], labels: &mut Vec<(String, String)>, name: String, value: String) {
    if name.is_empty() {
        return;
    }
    let name = extracted(base, name);
    set(labels, &name, value);
}

impl Pipeline {
    /// Compiles the stages. Errors on invalid regular expressions, patterns,
    /// `ip()` arguments, JSON paths, templates (unknown functions included),
    /// parsers without named captures and invalid `label_format`s.
    pub fn new(stages: &[Stage]) -> Result<Pipeline, PipelineError> {
        let steps = stages
            .iter()
            .map(|s| match s {
                Stage::LineFilter(f) => compile_line_filter(f),
                Stage::Parser(p) => compile_parser(p),
                Stage::LabelFilter(f) => compile_label_filter(f).map(Step::Labels),
                Stage::LineFormat(t) => template(t).map(Step::LineFormat),
                Stage::LabelFormat(ops) => compile_label_format(ops),
                Stage::Drop(v) => Ok(Step::Drop(v.clone())),
                Stage::Keep(v) => Ok(Step::Keep(v.clone())),
                Stage::Decolorize => Ok(Step::Decolorize),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pipeline { steps })
    }

    /// True when the pipeline has no stage.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Whether the pipeline only filters lines (no stage reads or changes
    /// labels, and the line is never rewritten): callers may then skip
    /// building label sets.
    pub fn is_line_filter_only(&self) -> bool {
        self.steps.iter().all(|s| matches!(s, Step::Line { .. }))
    }

    /// For a pipeline of line filters only ([`Pipeline::is_line_filter_only`]):
    /// whether `line` passes them, without copying it.
    pub fn keeps_line(&self, line: &str) -> bool {
        self.steps.iter().all(|step| match step {
            Step::Line { negative, alts } => alts.iter().any(|a| a.matches(line)) != *negative,
            _ => true,
        })
    }

    /// Runs one entry through the pipeline with timestamp 0 (see
    /// [`Pipeline::process_at`]).
    pub fn process(&self, line: &str, labels: &mut Vec<(String, String)>) -> Option<String> {
        self.process_at(0, line, labels)
    }

    /// Runs one entry, stamped `ts_ns` (Unix nanoseconds, read by
    /// `__timestamp__` in templates), through the pipeline.
    ///
    /// `labels` holds the stream labels and the entry's structured metadata
    /// on entry (each name once); parsers and formatters add, change and
    /// remove labels in place, new labels being appended. Returns the
    /// (possibly rewritten) line when the entry passes every stage, `None`
    /// when a filter drops it (`labels` is then unspecified).
    pub fn process_at(
        &self,
        ts_ns: i64,
        line: &str,
        labels: &mut Vec<(String, String)>,
    ) -> Option<String> {
        let mut line = line.to_string();
        let mut base: Option<Vec<String>> = None;
        for step in &self.steps {
            let mut base_names = || -> Vec<String> {
                base.get_or_insert_with(|| labels.iter().map(|(k, _)| k.clone()).collect())
                    .clone()
            };
            match step {
                Step::Line { negative, alts } => {
                    if alts.iter().any(|a| a.matches(&line)) == *negative {
                        return None;
                    }
                }
                Step::Json => {
                    let base = base_names();
                    match json::parse(&line) {
                        Ok(Json::Obj(fields, _)) => {
                            let mut out = Vec::new();
                            json::flatten(&fields, "", &mut out);
                            for (k, v) in out {
                                set_parsed(&base, labels, k, v);
                            }
                        }
                        Ok(_) => set_err(labels, "JSONParserErr", "expecting json object".into()),
                        Err(e) => set_err(labels, "JSONParserErr", e),
                    }
                }
                Step::JsonPaths(paths) => {
                    if line.is_empty() {
                        continue;
                    }
                    let base = base_names();
                    if !line.starts_with(['{', '[', '"']) {
                        set_err(labels, "JSONParserErr", String::new());
                        continue;
                    }
                    match json::parse(&line) {
                        Ok(root) => {
                            for (label, path) in paths {
                                let v = json::lookup(&root, path)
                                    .map(Json::as_label_value)
                                    .unwrap_or_default();
                                set_parsed(&base, labels, label.clone(), v);
                            }
                        }
                        Err(e) => set_err(labels, "JSONParserErr", e),
                    }
                }
                Step::Logfmt {
                    strict,
                    keep_empty,
                    params,
                } => {
                    let base = base_names();
                    let (pairs, err) = logfmt::parse(&line, *strict);
                    if params.is_empty() {
                        for p in pairs {
                            let v = match p.value {
                                None if !*keep_empty => continue,
                                None => String::new(),
                                Some(v) if v.contains('\u{FFFD}') => String::new(),
                                Some(v) => v,
                            };
                            set_parsed(&base, labels, json::sanitize(&p.key, true), v);
                        }
                    } else {
                        for (label, _) in params {
                            if !base.contains(label) {
                                set(labels, label, String::new());
                            }
                        }
                        for p in pairs {
                            for (label, key) in params {
                                if *key == p.key {
                                    let v = p.value.clone().unwrap_or_default();
                                    set_parsed(&base, labels, label.clone(), v);
                                }
                            }
                        }
                    }
                    if let Some(e) = err {
                        set_err(labels, "LogfmtParserErr", e);
                    }
                }
                Step::Regexp(re) => {
                    let base = base_names();
                    if let Some(caps) = re.captures(&line) {
                        for name in re.capture_names().flatten() {
                            let v = caps.name(name).map_or("", |m| m.as_str()).to_string();
                            set_parsed(&base, labels, name.to_string(), v);
                        }
                    }
                }
                Step::Pattern(pat) => {
                    let base = base_names();
                    for (name, v) in pat.captures(&line) {
                        set_parsed(&base, labels, name.to_string(), v.to_string());
                    }
                }
                Step::Unpack => {
                    if line.is_empty() {
                        continue;
                    }
                    let base = base_names();
                    let mut new_line = None;
                    match json::parse(&line) {
                        Ok(Json::Obj(fields, _)) => {
                            for (k, v) in fields {
                                let Json::Str(v) = v else { continue };
                                if k == "_entry" {
                                    new_line = Some(v);
                                } else {
                                    set_parsed(&base, labels, k, v);
                                }
                            }
                        }
                        Ok(_) => set_err(labels, "JSONParserErr", "expecting json object".into()),
                        Err(e) => set_err(labels, "JSONParserErr", e),
                    }
                    if let Some(l) = new_line {
                        line = l;
                    }
                }
                Step::Labels(t) => {
                    if !label_test(t, labels) {
                        return None;
                    }
                }
                Step::LineFormat(t) => {
                    let ctx = Ctx {
                        labels,
                        line: &line,
                        ts_ns,
                    };
                    match t.execute(&ctx) {
                        Ok(l) => line = l,
                        Err(e) => set_err(labels, "TemplateFormatErr", e),
                    }
                }
                Step::LabelFormat(ops) => {
                    let mut snapshot: Option<Vec<(String, String)>> = None;
                    for op in ops {
                        match op {
                            LabelFormatStep::Rename { dst, src } => {
                                if let Some(v) = get(labels, src).map(str::to_string) {
                                    del(labels, src);
                                    set(labels, dst, v);
                                }
                            }
                            LabelFormatStep::Template { dst, template } => {
                                let data = snapshot.get_or_insert_with(|| labels.clone());
                                let ctx = Ctx {
                                    labels: data,
                                    line: &line,
                                    ts_ns,
                                };
                                match template.execute(&ctx) {
                                    Ok(v) => set(labels, dst, v),
                                    Err(e) => set_err(labels, "TemplateFormatErr", e),
                                }
                            }
                        }
                    }
                }
                Step::Drop(sel) => labels.retain(|(k, v)| !selected(sel, k, v)),
                Step::Keep(sel) => labels.retain(|(k, v)| selected(sel, k, v)),
                Step::Decolorize => line = decolorize(&line),
            }
        }
        Some(line)
    }
}
