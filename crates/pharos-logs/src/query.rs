//! Evaluation of LogQL log queries over the store.
//!
//! A log query selects streams, runs every entry of the time range through
//! the pipeline, and keeps the `limit` newest (`Direction::Backward`, Loki's
//! default) or oldest (`Forward`) entries that pass, grouped by their final
//! label set. Structured metadata is visible to label filters and, as Loki
//! answers clients that do not ask for categorized labels, part of each
//! answer stream's labels.
//!
//! Supported stages today: line filters with strings and regular expressions
//! (`|=`, `!=`, `|~`, `!~`, with `or`), label filters (string, number,
//! duration and byte comparisons, `and`/`or`), `drop`, `keep` and
//! `decolorize`. Parsers, `line_format`, `label_format`, pattern and `ip()`
//! filters, and metric queries answer [`QueryError::Unsupported`] naming the
//! stage.

use std::collections::BTreeMap;

use pharos_model::{Label, Labels, LogEntry};
use regex::Regex;

use crate::logql::{
    CmpOp, LabelFilterExpr, LabelSelection, LineFilter, LineFilterOp, LineFilterValue, LogExpr,
    Stage,
};
use crate::store::LogStore;

/// Which end of the time range a limited query keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Newest first (Loki's default).
    #[default]
    Backward,
    /// Oldest first.
    Forward,
}

/// Why a query could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("{0} is not supported yet")]
    Unsupported(String),
    #[error("invalid regular expression {pattern:?}: {reason}")]
    BadRegex { pattern: String, reason: String },
}

/// One stream of a log query's answer: its labels and its entries, in the
/// query's direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamResult {
    pub labels: Labels,
    pub entries: Vec<LogEntry>,
}

enum LineTest {
    Contains(Vec<String>),
    NotContains(Vec<String>),
    Match(Vec<Regex>),
    NotMatch(Vec<Regex>),
}

impl LineTest {
    fn passes(&self, line: &str) -> bool {
        match self {
            LineTest::Contains(v) => v.iter().any(|s| line.contains(s.as_str())),
            LineTest::NotContains(v) => !v.iter().any(|s| line.contains(s.as_str())),
            LineTest::Match(v) => v.iter().any(|r| r.is_match(line)),
            LineTest::NotMatch(v) => !v.iter().any(|r| r.is_match(line)),
        }
    }
}

enum Step {
    Line(LineTest),
    Labels(LabelFilterExpr),
    Drop(Vec<LabelSelection>),
    Keep(Vec<LabelSelection>),
    Decolorize,
}

fn compile_line_filter(f: &LineFilter) -> Result<LineTest, QueryError> {
    let mut lits = Vec::with_capacity(f.values.len());
    for v in &f.values {
        match v {
            LineFilterValue::Literal(s) => lits.push(s.clone()),
            LineFilterValue::Ip(_) => {
                return Err(QueryError::Unsupported("the ip() line filter".into()))
            }
        }
    }
    let regexes = |lits: Vec<String>| {
        lits.into_iter()
            .map(|p| {
                Regex::new(&p).map_err(|e| QueryError::BadRegex {
                    pattern: p.clone(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match f.op {
        LineFilterOp::Contains => LineTest::Contains(lits),
        LineFilterOp::NotContains => LineTest::NotContains(lits),
        LineFilterOp::Match => LineTest::Match(regexes(lits)?),
        LineFilterOp::NotMatch => LineTest::NotMatch(regexes(lits)?),
        LineFilterOp::Pattern | LineFilterOp::NotPattern => {
            return Err(QueryError::Unsupported(
                "the pattern line filter (|> and !>)".into(),
            ))
        }
    })
}

fn compile(expr: &LogExpr) -> Result<Vec<Step>, QueryError> {
    expr.stages
        .iter()
        .map(|s| {
            Ok(match s {
                Stage::LineFilter(f) => Step::Line(compile_line_filter(f)?),
                Stage::LabelFilter(f) => Step::Labels(f.clone()),
                Stage::Drop(v) => Step::Drop(v.clone()),
                Stage::Keep(v) => Step::Keep(v.clone()),
                Stage::Decolorize => Step::Decolorize,
                Stage::Parser(_) => {
                    return Err(QueryError::Unsupported(
                        "parser stages (json, logfmt, regexp, pattern, unpack)".into(),
                    ))
                }
                Stage::LineFormat(_) => return Err(QueryError::Unsupported("line_format".into())),
                Stage::LabelFormat(_) => {
                    return Err(QueryError::Unsupported("label_format".into()))
                }
            })
        })
        .collect()
}

fn cmp<T: PartialOrd>(a: T, op: CmpOp, b: T) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
    }
}

/// A Go duration (`1h30m`, `250ms`, `1.5s`, `-2us`) in nanoseconds.
fn go_duration_ns(s: &str) -> Option<i64> {
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

/// A humanized byte size (`20MB`, `1KiB`, `512`) in bytes.
fn bytes_of(s: &str) -> Option<u64> {
    let s = s.trim();
    let n = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let num: f64 = s[..n].parse().ok()?;
    let mult = match s[n..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "kib" | "ki" => 1024.0,
        "mib" | "mi" => 1024.0 * 1024.0,
        "gib" | "gi" => 1024.0 * 1024.0 * 1024.0,
        "tib" | "ti" => 1024f64.powi(4),
        _ => return None,
    };
    Some((num * mult) as u64)
}

fn label_filter(f: &LabelFilterExpr, labels: &BTreeMap<String, String>) -> bool {
    let get = |n: &str| labels.get(n).map_or("", String::as_str);
    match f {
        LabelFilterExpr::And(a, b) => label_filter(a, labels) && label_filter(b, labels),
        LabelFilterExpr::Or(a, b) => label_filter(a, labels) || label_filter(b, labels),
        LabelFilterExpr::Matcher(m) => m.matches(get(&m.name)),
        // A value that does not convert fails the filter (Loki also adds an
        // `__error__` label; without parsers there is nothing to convert yet).
        LabelFilterExpr::Number { label, op, value } => {
            get(label).parse::<f64>().is_ok_and(|v| cmp(v, *op, *value))
        }
        LabelFilterExpr::Duration { label, op, nanos } => {
            go_duration_ns(get(label)).is_some_and(|v| cmp(v, *op, *nanos))
        }
        LabelFilterExpr::Bytes { label, op, bytes } => {
            bytes_of(get(label)).is_some_and(|v| cmp(v, *op, *bytes))
        }
        LabelFilterExpr::Ip { .. } => false,
    }
}

fn selected(sel: &[LabelSelection], name: &str, value: &str) -> bool {
    sel.iter().any(|s| match s {
        LabelSelection::Name(n) => n == name,
        LabelSelection::Matcher(m) => m.name == name && m.matches(value),
    })
}

/// Strips ANSI escape sequences (`ESC [ ... final byte`).
fn decolorize(line: &str) -> String {
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
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs a log query over `[start_ns, end_ns)`, keeping at most `limit`
/// entries (0 = no limit) from the end `dir` says.
pub fn select_logs(
    store: &LogStore,
    expr: &LogExpr,
    start_ns: i64,
    end_ns: i64,
    limit: usize,
    dir: Direction,
) -> Result<Vec<StreamResult>, QueryError> {
    let steps = compile(expr)?;
    // Every passing entry with its final labels; then the limit by time.
    let mut hits: Vec<(Labels, LogEntry)> = Vec::new();
    for s in store.select(&expr.matchers, start_ns, end_ns) {
        let base: BTreeMap<String, String> = s
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        'entry: for mut e in s.entries {
            let mut labels: Option<BTreeMap<String, String>> = None;
            for step in &steps {
                match step {
                    Step::Line(t) => {
                        if !t.passes(&e.line) {
                            continue 'entry;
                        }
                    }
                    Step::Decolorize => e.line = decolorize(&e.line),
                    Step::Labels(f) => {
                        let ls = labels.get_or_insert_with(|| with_metadata(&base, &e));
                        if !label_filter(f, ls) {
                            continue 'entry;
                        }
                    }
                    Step::Drop(sel) => {
                        let ls = labels.get_or_insert_with(|| with_metadata(&base, &e));
                        ls.retain(|k, v| !selected(sel, k, v));
                    }
                    Step::Keep(sel) => {
                        let ls = labels.get_or_insert_with(|| with_metadata(&base, &e));
                        ls.retain(|k, v| selected(sel, k, v));
                    }
                }
            }
            // As Loki answers without the categorize-labels flag: structured
            // metadata is part of the answer's stream labels.
            let out = match labels {
                None if e.metadata.is_empty() => s.labels.clone(),
                None => to_labels(with_metadata(&base, &e)),
                Some(ls) => to_labels(ls),
            };
            hits.push((out, e));
        }
    }
    match dir {
        Direction::Backward => hits.sort_by_key(|h| std::cmp::Reverse(h.1.ts)),
        Direction::Forward => hits.sort_by_key(|h| h.1.ts),
    }
    if limit > 0 {
        hits.truncate(limit);
    }
    let mut groups: BTreeMap<Labels, Vec<LogEntry>> = BTreeMap::new();
    for (l, e) in hits {
        groups.entry(l).or_default().push(e);
    }
    Ok(groups
        .into_iter()
        .map(|(labels, entries)| StreamResult { labels, entries })
        .collect())
}

fn to_labels(m: BTreeMap<String, String>) -> Labels {
    Labels::from_vec(
        m.into_iter()
            .map(|(name, value)| Label { name, value })
            .collect(),
    )
}

fn with_metadata(base: &BTreeMap<String, String>, e: &LogEntry) -> BTreeMap<String, String> {
    let mut m = base.clone();
    for (k, v) in &e.metadata {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::{parse_expr, Expr};
    use crate::store::{Limits, StoreOptions};
    use pharos_model::{LogSink, LogStream};

    const NOW: i64 = 1_700_000_000_000_000_000;

    fn store(dir: &std::path::Path) -> LogStore {
        let st = LogStore::open(
            dir,
            StoreOptions {
                limits: Limits {
                    max_age_ns: None,
                    future_grace_ns: i64::MAX / 2,
                    ..Limits::default()
                },
                fsync: pharos_wal::FsyncPolicy::Never,
            },
        )
        .unwrap();
        let mk = |app: &str, lines: &[&str], t0: i64| LogStream {
            labels: Labels::from_pairs(&[("app", app)]),
            entries: lines
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let mut e = LogEntry::new(t0 + i as i64, *l);
                    e.metadata
                        .push(("status".into(), format!("{}", 200 + i * 100)));
                    e.metadata
                        .push(("took".into(), format!("{}ms", 10 * (i + 1))));
                    e
                })
                .collect(),
        };
        st.push(vec![
            mk(
                "api",
                &[
                    "GET /a ok",
                    "GET /b error",
                    "\u{1b}[31mPOST /c\u{1b}[0m error",
                ],
                NOW,
            ),
            mk("web", &["render ok", "render error"], NOW + 10),
        ])
        .unwrap();
        st
    }

    /// The lines of the answer in the query's direction, each with its app.
    fn run(st: &LogStore, q: &str, limit: usize, dir: Direction) -> Vec<(String, String)> {
        let Ok(Expr::Log(e)) = parse_expr(q) else {
            panic!("not a log query: {q}")
        };
        let mut v: Vec<(i64, String, String)> = select_logs(st, &e, NOW, NOW + 100, limit, dir)
            .unwrap()
            .into_iter()
            .flat_map(|s| {
                let app = s.labels.get("app").unwrap_or("").to_string();
                s.entries
                    .into_iter()
                    .map(move |e| (e.ts, app.clone(), e.line))
            })
            .collect();
        v.sort();
        if dir == Direction::Backward {
            v.reverse();
        }
        v.into_iter().map(|(_, a, l)| (a, l)).collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn line_and_label_filters_direction_and_limit() {
        let d = tempfile::tempdir().unwrap();
        let st = store(d.path());
        let b = Direction::Backward;
        assert_eq!(
            run(&st, r#"{app=~".+"} |= "error" != "render""#, 0, b),
            pairs(&[
                ("api", "\u{1b}[31mPOST /c\u{1b}[0m error"),
                ("api", "GET /b error")
            ])
        );
        assert_eq!(
            run(
                &st,
                r#"{app="api"} |~ "GET /(a|b)" | status >= 300 | decolorize"#,
                0,
                b
            ),
            pairs(&[("api", "GET /b error")])
        );
        assert_eq!(
            run(&st, r#"{app="api"} | took > 25ms | decolorize"#, 0, b),
            pairs(&[("api", "POST /c error")])
        );
        // The newest two over all streams, then the oldest two.
        assert_eq!(
            run(&st, r#"{app=~"api|web"}"#, 2, b),
            pairs(&[("web", "render error"), ("web", "render ok")])
        );
        assert_eq!(
            run(&st, r#"{app=~"api|web"}"#, 2, Direction::Forward),
            pairs(&[("api", "GET /a ok"), ("api", "GET /b error")])
        );
        // Structured metadata is part of the answer's labels; drop removes labels.
        let Ok(Expr::Log(e)) = parse_expr(r#"{app="web"} | drop app, took"#) else {
            panic!()
        };
        let got = select_logs(&st, &e, NOW, NOW + 100, 0, b).unwrap();
        let ls: Vec<String> = got.iter().map(|s| s.labels.to_string()).collect();
        assert_eq!(ls, vec![r#"{status="200"}"#, r#"{status="300"}"#]);
    }

    #[test]
    fn unsupported_stages_say_so() {
        let d = tempfile::tempdir().unwrap();
        let st = store(d.path());
        let Ok(Expr::Log(e)) = parse_expr(r#"{app="api"} | json"#) else {
            panic!()
        };
        assert!(matches!(
            select_logs(&st, &e, NOW, NOW + 100, 0, Direction::Backward),
            Err(QueryError::Unsupported(_))
        ));
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(go_duration_ns("1h30m"), Some(5_400_000_000_000));
        assert_eq!(go_duration_ns("1.5s"), Some(1_500_000_000));
        assert_eq!(go_duration_ns("-250ms"), Some(-250_000_000));
        assert_eq!(go_duration_ns("5"), None);
        assert_eq!(bytes_of("20MB"), Some(20_000_000));
        assert_eq!(bytes_of("1KiB"), Some(1024));
        assert_eq!(bytes_of("12"), Some(12));
        assert_eq!(bytes_of("x"), None);
    }
}
