//! Evaluation of LogQL log queries over the store.
//!
//! A log query selects streams, runs every entry of the time range through
//! the pipeline (`crate::pipeline`: line filters, parsers, label filters,
//! formatting), and keeps the `limit` newest (`Direction::Backward`, Loki's
//! default) or oldest (`Forward`) entries that pass, grouped by their final
//! label set. Structured metadata is visible to the pipeline and, as Loki
//! answers clients that do not ask for categorized labels, part of each
//! answer stream's labels, as are parsed labels. A query stops with
//! [`QueryError::TimedOut`] once its [`Deadline`] has passed.

use std::collections::BTreeMap;

use pharos_model::{Label, Labels, LogEntry};

use crate::deadline::{Deadline, Pacer, TimedOut};
use crate::logql::{LabelFilterExpr, LineFilterOp, LineFilterValue, LogExpr, Stage};
use crate::pipeline::{Pipeline, PipelineError};
use crate::store::{LogStore, ReadError, Scan};

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
    #[error("{0}")]
    Pipeline(#[from] PipelineError),
    #[error("reading the log store: {0}")]
    Store(String),
    /// The query ran past its deadline.
    #[error(transparent)]
    TimedOut(#[from] TimedOut),
}

impl From<pharos_model::LogStoreError> for QueryError {
    fn from(e: pharos_model::LogStoreError) -> Self {
        QueryError::Store(e.to_string())
    }
}

impl From<ReadError> for QueryError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Store(e) => e.into(),
            ReadError::TimedOut(t) => QueryError::TimedOut(t),
        }
    }
}

/// One stream of a log query's answer: its labels and its entries, in the
/// query's direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamResult {
    pub labels: Labels,
    pub entries: Vec<LogEntry>,
}

/// The literals every line a pipeline lets through contains, as the store's
/// `contains` wants them: one list of alternatives per `|=` filter that
/// comes before any stage that rewrites the line (`line_format`,
/// `decolorize`) and has only string alternatives.
pub(crate) fn required_literals(stages: &[Stage]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for st in stages {
        match st {
            Stage::LineFormat(_) | Stage::Decolorize => break,
            Stage::LineFilter(f) if f.op == LineFilterOp::Contains => {
                let lits: Option<Vec<String>> = f
                    .values
                    .iter()
                    .map(|v| match v {
                        LineFilterValue::Literal(s) => Some(s.clone()),
                        LineFilterValue::Ip(_) => None,
                    })
                    .collect();
                if let Some(l) = lits {
                    out.push(l);
                }
            }
            _ => {}
        }
    }
    out
}

/// The entries a limited query keeps: all of them without a limit, else
/// the `limit` newest (backward) or oldest (forward) seen so far.
struct Best {
    limit: usize,
    dir: Direction,
    /// Ordered so that the top is the entry to drop first.
    heap: std::collections::BinaryHeap<Hit>,
    seq: u64,
}

struct Hit {
    /// Larger is worse: `-ts` backward, `ts` forward; then arrival order.
    key: (i64, u64),
    labels: Labels,
    entry: LogEntry,
}

impl PartialEq for Hit {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for Hit {}
impl PartialOrd for Hit {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Hit {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key.cmp(&o.key)
    }
}

impl Best {
    fn new(limit: usize, dir: Direction) -> Best {
        Best {
            limit,
            dir,
            heap: std::collections::BinaryHeap::new(),
            seq: 0,
        }
    }

    fn badness(&self, ts: i64) -> i64 {
        match self.dir {
            Direction::Backward => ts.saturating_neg(),
            Direction::Forward => ts,
        }
    }

    /// Whether an entry at `ts` could still be kept.
    fn wants(&self, ts: i64) -> bool {
        self.limit == 0
            || self.heap.len() < self.limit
            || self.heap.peek().is_some_and(|w| self.badness(ts) < w.key.0)
    }

    fn push(&mut self, labels: Labels, entry: LogEntry) {
        let key = (self.badness(entry.ts), self.seq);
        self.seq += 1;
        if self.limit > 0 && self.heap.len() >= self.limit {
            if self.heap.peek().is_some_and(|w| key < w.key) {
                self.heap.pop();
            } else {
                return;
            }
        }
        self.heap.push(Hit { key, labels, entry });
    }

    /// The kept entries, best first.
    fn into_sorted(self) -> Vec<(Labels, LogEntry)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|h| (h.labels, h.entry))
            .collect()
    }
}

/// The `name="value"` label filters on trace and span ids that every entry
/// a pipeline lets through passes, as the store's `metadata_eq` wants them:
/// those in the stages before any parser or `label_format` (which could
/// set the label from elsewhere), joined by `and` only.
pub(crate) fn required_metadata(stages: &[Stage]) -> Vec<(String, String)> {
    fn walk(f: &LabelFilterExpr, out: &mut Vec<(String, String)>) {
        match f {
            LabelFilterExpr::And(a, b) => {
                walk(a, out);
                walk(b, out);
            }
            LabelFilterExpr::Matcher(m)
                if m.op == pharos_model::MatchOp::Equal
                    && !m.value.is_empty()
                    && crate::store::INDEXED_METADATA.contains(&m.name.as_str()) =>
            {
                out.push((m.name.clone(), m.value.clone()));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for st in stages {
        match st {
            Stage::Parser(_) | Stage::LabelFormat(_) => break,
            Stage::LabelFilter(f) => walk(f, &mut out),
            _ => {}
        }
    }
    out
}

/// Runs a log query over `[start_ns, end_ns)`, keeping at most `limit`
/// entries (0 = no limit) from the end `dir` says; stops with
/// [`QueryError::TimedOut`] at `deadline`.
pub fn select_logs(
    store: &LogStore,
    expr: &LogExpr,
    start_ns: i64,
    end_ns: i64,
    limit: usize,
    dir: Direction,
    deadline: Deadline,
) -> Result<Vec<StreamResult>, QueryError> {
    let pipeline = Pipeline::new(&expr.stages)?;
    // The `limit` entries kept so far, the worst (first to go) on top.
    // A pipeline of line filters only reads no labels: they are built only
    // for the answer, and only when metadata joins the stream's labels.
    let plain = pipeline.is_line_filter_only();
    let contains = required_literals(&expr.stages);
    let metadata_eq = required_metadata(&expr.stages);
    let scan = Scan {
        matchers: &expr.matchers,
        start_ns,
        end_ns,
        contains: &contains,
        metadata_eq: &metadata_eq,
        lines: true,
        deadline,
    };
    // Each reading thread keeps its own best entries (and label scratch,
    // and a pacer: the pipeline may be slow per entry); they are merged
    // below.
    let visit = |(hits, labels, pacer): &mut (Best, Vec<(String, String)>, Pacer),
                 stream: &Labels,
                 entries: Vec<LogEntry>| {
        let fill = |labels: &mut Vec<(String, String)>, e: &LogEntry| {
            labels.clear();
            labels.extend(stream.iter().map(|l| (l.name.clone(), l.value.clone())));
            for (k, v) in &e.metadata {
                if stream.get(k).is_none() {
                    labels.push((k.clone(), v.clone()));
                }
            }
        };
        for mut e in entries {
            if pacer.tick(1) {
                return;
            }
            if !hits.wants(e.ts) {
                continue;
            }
            if plain {
                if !pipeline.keeps_line(&e.line) {
                    continue;
                }
            } else {
                fill(labels, &e);
                let Some(line) = pipeline.process_at(e.ts, &e.line, labels) else {
                    continue;
                };
                e.line = line.into();
            }
            let out = if plain && e.metadata.is_empty() {
                stream.clone()
            } else {
                if plain {
                    fill(labels, &e);
                }
                Labels::from_vec(
                    labels
                        .drain(..)
                        .map(|(name, value)| Label { name, value })
                        .collect(),
                )
            };
            hits.push(out, e);
        }
    };
    let threads = crate::store::read_threads();
    let parts = store.scan_parallel(
        &scan,
        threads,
        || (Best::new(limit, dir), Vec::new(), Pacer::new(deadline)),
        visit,
    )?;
    if let Some((_, _, p)) = parts.iter().find(|(_, _, p)| p.expired()) {
        return Err(p.timed_out().into());
    }
    let mut hits = Best::new(limit, dir);
    let mut pacer = Pacer::new(deadline);
    for (part, _, _) in parts {
        for (l, e) in part.into_sorted() {
            if pacer.tick(1) {
                return Err(pacer.timed_out().into());
            }
            if hits.wants(e.ts) {
                hits.push(l, e);
            }
        }
    }
    let hits = hits.into_sorted();
    let mut groups: BTreeMap<Labels, Vec<LogEntry>> = BTreeMap::new();
    for (l, e) in hits {
        groups.entry(l).or_default().push(e);
    }
    Ok(groups
        .into_iter()
        .map(|(labels, entries)| StreamResult { labels, entries })
        .collect())
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
                ..StoreOptions::default()
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
        let mut v: Vec<(i64, String, String)> =
            select_logs(st, &e, NOW, NOW + 100, limit, dir, Deadline::NONE)
                .unwrap()
                .into_iter()
                .flat_map(|s| {
                    let app = s.labels.get("app").unwrap_or("").to_string();
                    s.entries
                        .into_iter()
                        .map(move |e| (e.ts, app.clone(), e.line.to_string()))
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
        let got = select_logs(&st, &e, NOW, NOW + 100, 0, b, Deadline::NONE).unwrap();
        let ls: Vec<String> = got.iter().map(|s| s.labels.to_string()).collect();
        assert_eq!(ls, vec![r#"{status="200"}"#, r#"{status="300"}"#]);
    }

    #[test]
    fn parsers_and_formatting_run() {
        let d = tempfile::tempdir().unwrap();
        let st = store(d.path());
        assert_eq!(
            run(
                &st,
                r#"{app="api"} | regexp "(?P<method>[A-Z]+) (?P<path>\\S+)" | path="/b" | line_format "{{.method}} on {{.path}}""#,
                0,
                Direction::Backward
            ),
            pairs(&[("api", "GET on /b")])
        );
    }

    #[test]
    fn log_queries_stop_at_their_deadline() {
        let d = tempfile::tempdir().unwrap();
        let st = store(d.path());
        // Enough entries that no stage gets through them before looking.
        let lines: Vec<String> = (0..5000).map(|i| format!("line {i} error")).collect();
        st.push(vec![LogStream {
            labels: Labels::from_pairs(&[("app", "big")]),
            entries: lines
                .iter()
                .enumerate()
                .map(|(i, l)| LogEntry::new(NOW + i as i64, l.as_str()))
                .collect(),
        }])
        .unwrap();
        let past = Deadline::after(std::time::Duration::from_millis(1));
        std::thread::sleep(std::time::Duration::from_millis(2));
        let Ok(Expr::Log(e)) = parse_expr(r#"{app=~".+"} |~ "line [0-9]+ error" | json"#) else {
            panic!()
        };
        let b = Direction::Backward;
        let got = select_logs(&st, &e, NOW, NOW + 10_000, 10, b, past);
        assert!(
            matches!(&got, Err(QueryError::TimedOut(t)) if t.limit.as_millis() == 1),
            "{got:?}"
        );
        assert_eq!(
            got.map(|_| ()).map_err(|e| e.to_string()),
            Err("query timed out after 1ms".to_string())
        );
        // From a segment too.
        st.flush().unwrap();
        let got = select_logs(&st, &e, NOW, NOW + 10_000, 10, b, past);
        assert!(matches!(got, Err(QueryError::TimedOut(_))), "{got:?}");
        // A deadline far off changes nothing.
        let far = Deadline::after(std::time::Duration::from_secs(3600));
        let got = select_logs(&st, &e, NOW, NOW + 10_000, 10, b, far).unwrap();
        assert_eq!(got.iter().map(|s| s.entries.len()).sum::<usize>(), 10);
    }

    #[test]
    fn what_a_pipeline_requires_of_every_line() {
        let stages = |q: &str| match parse_expr(q) {
            Ok(Expr::Log(e)) => e.stages,
            other => panic!("{q}: {other:?}"),
        };
        let q = r#"{a="b"} |= "x" or "y" != "z" |= ip("10.0.0.1") |~ "r" |= "w" | line_format "{{.a}}" |= "late""#;
        assert_eq!(
            required_literals(&stages(q)),
            vec![
                vec!["x".to_string(), "y".to_string()],
                vec!["w".to_string()]
            ]
        );
        let q = r#"{a="b"} | trace_id="t1" and span_id="s1" | trace_id="t2" or trace_id="t3" | json | trace_id="t4""#;
        assert_eq!(
            required_metadata(&stages(q)),
            vec![
                ("trace_id".to_string(), "t1".to_string()),
                ("span_id".to_string(), "s1".to_string())
            ]
        );
        assert!(required_metadata(&stages(r#"{a="b"} | other="t1""#)).is_empty());
    }
}
