//! Evaluation of LogQL log queries over the store.
//!
//! A log query selects streams, runs every entry of the time range through
//! the pipeline (`crate::pipeline`: line filters, parsers, label filters,
//! formatting), and keeps the `limit` newest (`Direction::Backward`, Loki's
//! default) or oldest (`Forward`) entries that pass, grouped by their final
//! label set. Structured metadata is visible to the pipeline and, as Loki
//! answers clients that do not ask for categorized labels, part of each
//! answer stream's labels, as are parsed labels.

use std::collections::BTreeMap;

use pharos_model::{Label, Labels, LogEntry};

use crate::logql::LogExpr;
use crate::pipeline::{Pipeline, PipelineError};
use crate::store::{LogStore, StreamEntries};

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
}

/// One stream of a log query's answer: its labels and its entries, in the
/// query's direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamResult {
    pub labels: Labels,
    pub entries: Vec<LogEntry>,
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
    let pipeline = Pipeline::new(&expr.stages)?;
    let mut hits: Vec<(Labels, LogEntry)> = Vec::new();
    let mut labels: Vec<(String, String)> = Vec::new();
    // A pipeline of line filters only reads no labels: they are built only
    // for the answer, and only when metadata joins the stream's labels.
    let plain = pipeline.is_line_filter_only();
    for StreamEntries {
        labels: stream,
        entries,
    } in store.select(&expr.matchers, start_ns, end_ns)
    {
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
            if plain {
                labels.clear();
            } else {
                fill(&mut labels, &e);
            }
            let Some(line) = pipeline.process_at(e.ts, &e.line, &mut labels) else {
                continue;
            };
            e.line = line;
            let out = if plain && e.metadata.is_empty() {
                stream.clone()
            } else {
                if plain {
                    fill(&mut labels, &e);
                }
                Labels::from_vec(
                    labels
                        .drain(..)
                        .map(|(name, value)| Label { name, value })
                        .collect(),
                )
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
}
