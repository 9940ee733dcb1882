//! Tests of the processor: configuration, every stage, regrouping, the
//! cardinality guard, metric filters and their flush, errors.

use std::sync::Mutex as StdMutex;

use pharos_model::{
    AppendError, Appender, CommitStats, LogEntry, MetricMetadata, StorageError, STALE_NAN_BITS,
};
use proptest::prelude::*;

use super::*;

const NOW: i64 = 1_714_557_600 * 1_000_000_000; // 2024-05-01T10:00:00Z

fn yaml(text: &str) -> Vec<PipelineConfig> {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn processor(text: &str) -> Processor {
    Processor::new(&yaml(text)).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    match Processor::new(&yaml(text)) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    }
}

fn stream(labels: &[(&str, &str)], lines: &[&str]) -> LogStream {
    LogStream {
        labels: Labels::from_pairs(labels),
        entries: lines
            .iter()
            .enumerate()
            .map(|(i, l)| LogEntry::new(NOW + i as i64, *l))
            .collect(),
    }
}

fn find<'a>(out: &'a [LogStream], labels: &[(&str, &str)]) -> &'a LogStream {
    let want = Labels::from_pairs(labels);
    out.iter()
        .find(|s| s.labels == want)
        .unwrap_or_else(|| panic!("no stream {want} in {out:?}"))
}

fn lines(s: &LogStream) -> Vec<&str> {
    s.entries.iter().map(|e| e.line.as_str()).collect()
}

#[test]
fn yaml_shapes_follow_promtail() {
    let cfg = yaml(
        r#"
- selector: '{app="nginx"}'
  max_label_values: 5
  stages:
    - grok: {pattern: '%{COMBINEDAPACHELOG}'}
    - regex: {expression: '(?P<status>\d{3})', source: response}
    - json: {expressions: {level: lvl, msg: "", nested: "a.b[0]"}}
    - logfmt: {mapping: {level: ""}}
    - timestamp: {source: time, format: RFC3339, fallback_formats: [UnixMs], location: "+02:00", action_on_failure: skip}
    - labels: {level: "", status: code, method: ~}
    - structured_metadata: {trace_id: ""}
    - static_labels: {env: prod}
    - labeldrop: [pod]
    - labelallow: [app, env, level]
    - rename_labels: {level: severity}
    - drop: {source: level, value: debug}
    - drop: {source: [a, b], separator: "|", expression: '^x'}
    - drop: {older_than: 24h, drop_counter_reason: stale}
    - drop: {longer_than: 8KB}
    - keep: {expression: 'GET'}
    - replace: {expression: 'password=(\S+)', replace: '****'}
    - redact: {builtin: [credit_card, password]}
    - luhn: {min_length: 14}
    - decolorize:
    - output: {source: msg}
    - metrics:
        http_errors_total: {type: counter, match: '|= "error"', action: inc}
        bytes_total: {type: Counter, source: bytes, config: {action: add}}
"#,
    );
    assert_eq!(cfg[0].stages.len(), 22);
    assert_eq!(cfg[0].stages[0].name(), "grok");
    assert_eq!(cfg[0].stages[20].name(), "output");
    match &cfg[0].stages[5] {
        StageConfig::Labels(m) => {
            assert_eq!(
                m.0,
                vec![
                    ("level".to_string(), Some(String::new())),
                    ("status".to_string(), Some("code".to_string())),
                    ("method".to_string(), None),
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(Processor::new(&cfg).is_ok());
    // Unknown stages and fields are refused by the YAML reader.
    assert!(serde_yaml::from_str::<Vec<PipelineConfig>>("- stages: [{grk: {}}]").is_err());
    assert!(serde_yaml::from_str::<Vec<PipelineConfig>>(
        "- stages: [{regex: {expression: x, bogus: 1}}]"
    )
    .is_err());
}

const NGINX: &str = r#"
- selector: '{app="nginx"}'
  stages:
    - grok: {pattern: '%{COMBINEDAPACHELOG}'}
    - timestamp: {source: timestamp, format: '02/Jan/2006:15:04:05 -0700'}
    - labels: {status: response, method: verb}
    - structured_metadata: {client: clientip}
"#;

#[test]
fn nginx_lines_get_labels_metadata_and_their_own_time() {
    let p = processor(NGINX);
    let out = p.process_at(
        vec![stream(
            &[("app", "nginx")],
            &[
                r#"203.0.113.9 - - [01/May/2024:12:00:00 +0200] "GET /index.html HTTP/1.1" 200 512 "-" "curl/8""#,
                r#"203.0.113.10 - - [01/May/2024:09:59:59 +0000] "POST /api HTTP/1.1" 500 0 "-" "curl/8""#,
                "not an access line",
            ],
        )],
        NOW,
    );
    assert_eq!(out.len(), 3, "{out:?}");
    let ok = find(
        &out,
        &[("app", "nginx"), ("method", "GET"), ("status", "200")],
    );
    assert_eq!(ok.entries[0].ts, NOW);
    assert_eq!(ok.entries[0].metadata_value("client"), Some("203.0.113.9"));
    let bad = find(
        &out,
        &[("app", "nginx"), ("method", "POST"), ("status", "500")],
    );
    assert_eq!(bad.entries[0].ts, NOW - 1_000_000_000);
    // The unparsed line stays in its stream; fudge gives it the last time + 1ns.
    let other = find(&out, &[("app", "nginx")]);
    assert_eq!(lines(other), ["not an access line"]);
    assert_eq!(other.entries[0].ts, NOW - 1_000_000_000 + 1);
    let st = p.stats();
    assert_eq!(st.entries, 3);
    assert_eq!((st.stages[0].hits, st.stages[0].failures), (2, 1));
    assert_eq!((st.stages[1].hits, st.stages[1].failures), (2, 1));
    // Other streams are not touched, and come back as they were.
    let input = vec![stream(&[("app", "api")], &["x"])];
    let ptr = input[0].entries.as_ptr();
    let out = p.process_at(input, NOW);
    assert_eq!(out[0].entries.as_ptr(), ptr);
}

#[test]
fn empty_processor_passes_through_without_copying() {
    let p = Processor::new(&[]).unwrap();
    assert!(p.is_empty() && !p.has_metrics());
    let input = vec![stream(&[("a", "b")], &["one", "two"])];
    let ptr = input[0].entries.as_ptr();
    let out = p.process(input);
    assert_eq!(out[0].entries.as_ptr(), ptr);
}

#[test]
fn json_logfmt_and_output() {
    let p = processor(
        r#"
- stages:
    - json: {expressions: {level: lvl, msg: "", user: "ctx.user", first: "tags[0]", dashed: 'ctx."x-id"'}}
    - labels: {level: ""}
    - structured_metadata: {user: "", first: "", dashed: ""}
    - output: {source: msg}
- selector: '{kind="kv"}'
  stages:
    - logfmt: {mapping: {lvl: level, duration: ""}}
    - labels: {level: lvl}
"#,
    );
    let out = p.process_at(
        vec![
            stream(
                &[("app", "a")],
                &[
                    r#"{"lvl":"warn","msg":"disk almost full","ctx":{"user":"ana","x-id":"7"},"tags":["t1"]}"#,
                    "plain text",
                ],
            ),
            stream(&[("kind", "kv")], &[r#"level=error duration=5ms msg="a b""#]),
        ],
        NOW,
    );
    let w = find(&out, &[("app", "a"), ("level", "warn")]);
    assert_eq!(lines(w), ["disk almost full"]);
    let md = &w.entries[0].metadata;
    assert!(md.contains(&("user".into(), "ana".into())), "{md:?}");
    assert!(md.contains(&("first".into(), "t1".into())), "{md:?}");
    assert!(md.contains(&("dashed".into(), "7".into())), "{md:?}");
    assert_eq!(lines(find(&out, &[("app", "a")])), ["plain text"]);
    let kv = find(&out, &[("kind", "kv"), ("level", "error")]);
    assert_eq!(lines(kv), [r#"level=error duration=5ms msg="a b""#]);
    // Every field when no expressions are given.
    let p = processor("- stages: [{json: {}}, {labels: {a_b: ''}}]");
    let out = p.process_at(vec![stream(&[("x", "y")], &[r#"{"a":{"b":1}}"#])], NOW);
    find(&out, &[("x", "y"), ("a_b", "1")]);
    // drop_malformed.
    let p = processor("- stages: [{json: {drop_malformed: true}}]");
    let out = p.process_at(vec![stream(&[("x", "y")], &["{bad", r#"{"ok":1}"#])], NOW);
    assert_eq!(lines(&out[0]), [r#"{"ok":1}"#]);
}

#[test]
fn drop_and_keep() {
    let p = processor(
        r#"
- stages:
    - logfmt: {}
    - drop: {source: level, value: debug}
    - drop: {source: msg, expression: '^healthcheck'}
    - drop: {expression: 'GET /metrics'}
    - drop: {older_than: 1h}
    - drop: {longer_than: 40}
"#,
    );
    let mut s = stream(
        &[("a", "b")],
        &[
            "level=debug msg=x",
            "level=info msg=healthcheck-ok",
            "level=info msg=req path=\"GET /metrics\"",
            "level=info msg=old",
            "level=info msg=this-line-is-much-longer-than-forty-bytes",
            "level=info msg=kept",
        ],
    );
    s.entries[3].ts = NOW - 2 * 3600 * 1_000_000_000;
    let out = p.process_at(vec![s], NOW);
    assert_eq!(lines(&out[0]), ["level=info msg=kept"]);
    let st = p.stats();
    let dropped: Vec<u64> = st.stages.iter().map(|s| s.dropped).collect();
    assert_eq!(dropped, [0, 1, 1, 1, 1, 1]);

    let p = processor(
        r#"
- stages:
    - regex: {expression: '^(?P<level>\w+):'}
    - keep: {source: level, expression: '^(ERROR|WARN)$'}
    - keep: {source: [level], value: 'ERROR'}
"#,
    );
    let out = p.process_at(
        vec![stream(
            &[("a", "b")],
            &["ERROR: x", "WARN: y", "INFO: z", "none"],
        )],
        NOW,
    );
    assert_eq!(lines(&out[0]), ["ERROR: x"]);
    // Everything dropped: no stream at all.
    let p = processor("- stages: [{drop: {expression: '.*'}}]");
    assert!(p
        .process_at(vec![stream(&[("a", "b")], &["x"])], NOW)
        .is_empty());
}

#[test]
fn replace_and_redact() {
    let p = processor(
        r#"
- stages:
    - replace: {expression: 'password=(?P<pw>\S+)', replace: '****'}
    - replace: {expression: 'user=(\w+)', replace: '{{ .Value | ToUpper }}'}
    - replace: {expression: 'x+', replace: 'x'}
    - redact: {builtin: [credit_card, bearer_token]}
    - redact: {expressions: ['ssn=(\d+)'], replacement: '#'}
    - luhn: {}
"#,
    );
    let out = p.process_at(
        vec![stream(
            &[("a", "b")],
            &["login user=bob password=hunter2 card=4111 1111 1111 1111 Bearer abc.def ssn=123 xxxx 5500005555555559"],
        )],
        NOW,
    );
    assert_eq!(
        lines(&out[0]),
        ["login user=BOB password=**** card=**** Bearer **** ssn=# x ****"]
    );
    // On a field: the extracted value changes, the line does not.
    let p = processor(
        r#"
- stages:
    - json: {}
    - redact: {builtin: [email], source: user}
    - structured_metadata: {user: ""}
"#,
    );
    let out = p.process_at(
        vec![stream(&[("a", "b")], &[r#"{"user":"ana@example.org"}"#])],
        NOW,
    );
    assert_eq!(lines(&out[0]), [r#"{"user":"ana@example.org"}"#]);
    assert_eq!(out[0].entries[0].metadata_value("user"), Some("****"));
}

#[test]
fn label_edits_and_regrouping() {
    let p = processor(
        r#"
- selector: '{job="a"}'
  stages:
    - static_labels: {env: prod, job: b}
    - labeldrop: [pod]
    - rename_labels: {ns: namespace}
- selector: '{job=~"a|c"}'
  stages:
    - labelallow: [job, env, namespace]
"#,
    );
    let out = p.process_at(
        vec![
            stream(
                &[("job", "a"), ("pod", "p1"), ("ns", "n"), ("x", "1")],
                &["one"],
            ),
            stream(
                &[("env", "prod"), ("job", "b"), ("namespace", "n")],
                &["two"],
            ),
            stream(&[("job", "c"), ("x", "1")], &["three"]),
        ],
        NOW,
    );
    // The first stream's entry joined the second (same labels now).
    assert_eq!(out.len(), 2, "{out:?}");
    let merged = find(&out, &[("env", "prod"), ("job", "b"), ("namespace", "n")]);
    assert_eq!(lines(merged), ["one", "two"]);
    assert_eq!(lines(find(&out, &[("job", "c")])), ["three"]);
}

#[test]
fn cardinality_guard_refuses_into_metadata() {
    let p = processor(
        r#"
- stages:
    - regex: {expression: 'user=(?P<user>\S+)'}
    - labels: {user: ""}
"#,
    );
    let lines_in: Vec<String> = (0..101).map(|i| format!("user=u{i}")).collect();
    let refs: Vec<&str> = lines_in.iter().map(String::as_str).collect();
    let out = p.process_at(vec![stream(&[("app", "x")], &refs)], NOW);
    assert_eq!(out.len(), 101);
    let last = find(&out, &[("app", "x")]);
    assert_eq!(last.entries[0].metadata_value("user"), Some("u100"));
    let st = p.stats();
    assert_eq!(st.label_refusals.len(), 1);
    assert_eq!(st.label_refusals[0].label, "user");
    assert_eq!(st.label_refusals[0].refused, 1);
    // Known values are still promoted after the limit is reached.
    let out = p.process_at(vec![stream(&[("app", "x")], &["user=u5", "user=new"])], NOW);
    find(&out, &[("app", "x"), ("user", "u5")]);
    assert_eq!(p.stats().label_refusals[0].refused, 2);

    // Per-pipeline limit and too-long values.
    let p = processor(
        r#"
- max_label_values: 1
  max_label_value_length: 3
  stages:
    - regex: {expression: 'v=(?P<v>\S+)'}
    - labels: {v: ""}
"#,
    );
    let out = p.process_at(vec![stream(&[("a", "b")], &["v=1", "v=2", "v=1234"])], NOW);
    find(&out, &[("a", "b"), ("v", "1")]);
    let rest = find(&out, &[("a", "b")]);
    assert_eq!(rest.entries.len(), 2);
    assert_eq!(rest.entries[1].metadata_value("v"), Some("1234"));
    assert_eq!(p.stats().label_refusals[0].refused, 2);
}

#[test]
fn promoting_metadata_moves_it() {
    let p = processor("- stages: [{labels: {level: ''}}]");
    let mut s = stream(&[("a", "b")], &["x"]);
    s.entries[0].metadata.push(("level".into(), "info".into()));
    let out = p.process_at(vec![s], NOW);
    let s = find(&out, &[("a", "b"), ("level", "info")]);
    assert!(s.entries[0].metadata.is_empty());
}

/// Collects what the processor appends.
#[derive(Default)]
struct TestStore {
    samples: StdMutex<Vec<(Labels, i64, f64)>>,
    meta: StdMutex<Vec<(String, MetricMetadata)>>,
}

struct TestAppender<'a> {
    store: &'a TestStore,
    staged: Vec<(Labels, i64, f64)>,
}

impl Appender for TestAppender<'static> {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        self.staged.push((labels.clone(), t, v));
        Ok(())
    }
    fn update_metadata(&mut self, family: &str, meta: &MetricMetadata) {
        if let Ok(mut m) = self.store.meta.lock() {
            m.push((family.to_string(), meta.clone()));
        }
    }
    fn commit(self: Box<Self>) -> Result<CommitStats, StorageError> {
        let n = self.staged.len();
        if let Ok(mut s) = self.store.samples.lock() {
            s.extend(self.staged);
        }
        Ok(CommitStats {
            samples: n,
            ..Default::default()
        })
    }
    fn rollback(self: Box<Self>) {}
}

impl Appendable for &'static TestStore {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(TestAppender {
            store: self,
            staged: Vec::new(),
        })
    }
}

fn leak_store() -> &'static TestStore {
    Box::leak(Box::default())
}

fn sample_values(store: &TestStore, name: &str) -> Vec<(String, i64, f64)> {
    let mut v: Vec<_> = store
        .samples
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|(l, _, _)| l.metric_name() == Some(name))
        .map(|(l, t, v)| (l.without_name().to_string(), t, v))
        .collect();
    v.sort_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)));
    v
}

#[test]
fn metric_filters_count_and_sum_into_the_tsdb() {
    let p = processor(
        r#"
- selector: '{app="web"}'
  stages:
    - logfmt: {}
    - metrics:
        web_errors_total: {type: counter, match: '|= "error"', description: "Error lines."}
        web_bytes_total: {type: counter, source: bytes, action: add, labels: [app, status]}
        web_slow_total: {type: counter, match: '| duration > 1s', labels: [app]}
        web_line_bytes_total: {type: counter, count_entry_bytes: true, labels: []}
        web_inflight: {type: gauge, source: inflight, action: set, labels: [app]}
        web_level_total: {type: counter, source: level, value: warn, labels: [app]}
"#,
    );
    assert!(p.has_metrics());
    let s = stream(
        &[("app", "web")],
        &[
            "level=error status=500 bytes=10 duration=2s inflight=3",
            "level=info status=200 bytes=20 duration=10ms inflight=4",
            "level=warn status=200 bytes=oops duration=5s",
            "level=error status=500 bytes=-1",
        ],
    );
    let total_bytes: usize = s.entries.iter().map(|e| e.line.len()).sum();
    p.process_at(vec![s], NOW);
    let store = leak_store();
    let created = NOW / 1_000_000;
    let (t1, t2) = (created + 1000, created + 2000);
    let flushed = p.flush_metrics(&store, t1).unwrap();
    assert!(flushed.samples > 0 && flushed.refused == 0, "{flushed:?}");
    assert_eq!(
        sample_values(store, "web_errors_total"),
        [
            (r#"{app="web"}"#.to_string(), created, 0.0),
            (r#"{app="web"}"#.to_string(), t1, 2.0)
        ]
    );
    let bytes = sample_values(store, "web_bytes_total");
    assert!(
        bytes.contains(&(r#"{app="web", status="200"}"#.into(), t1, 20.0)),
        "{bytes:?}"
    );
    assert!(
        bytes.contains(&(r#"{app="web", status="500"}"#.into(), t1, 10.0)),
        "{bytes:?}"
    );
    assert_eq!(
        sample_values(store, "web_slow_total").last().map(|s| s.2),
        Some(2.0)
    );
    assert_eq!(
        sample_values(store, "web_line_bytes_total")
            .last()
            .map(|s| s.2),
        Some(total_bytes as f64)
    );
    assert_eq!(
        sample_values(store, "web_inflight").last().map(|s| s.2),
        Some(4.0)
    );
    assert_eq!(
        sample_values(store, "web_level_total").last().map(|s| s.2),
        Some(1.0)
    );
    let st = p.stats();
    let bytes_stats = st
        .metrics
        .iter()
        .find(|m| m.name == "web_bytes_total")
        .unwrap();
    assert_eq!(bytes_stats.value_errors, 2, "{bytes_stats:?}");
    assert_eq!(bytes_stats.series, 2);
    let meta = store.meta.lock().map(|m| m.clone()).unwrap_or_default();
    assert!(meta
        .iter()
        .any(|(n, m)| n == "web_errors_total" && m.help == "Error lines."));

    // Cumulative across flushes; idle series end with a staleness marker.
    p.process_at(vec![stream(&[("app", "web")], &["level=error"])], NOW);
    p.flush_metrics(&store, t2).unwrap();
    let errs = sample_values(store, "web_errors_total");
    assert_eq!(errs.last().map(|s| (s.1, s.2)), Some((t2, 3.0)));
    let later = NOW / 1_000_000 + 10 * 60 * 1000;
    p.flush_metrics(&store, later).unwrap();
    let errs = sample_values(store, "web_errors_total");
    assert_eq!(errs.last().map(|s| s.2.to_bits()), Some(STALE_NAN_BITS));
    assert_eq!(p.stats().metrics.iter().map(|m| m.series).sum::<usize>(), 0);
}

#[test]
fn metric_series_are_capped() {
    let p = processor(
        r#"
- stages:
    - regex: {expression: 'u=(?P<u>\S+)'}
    - metrics:
        per_user_total: {type: counter, labels: [u], max_series: 2}
"#,
    );
    p.process_at(
        vec![stream(&[("a", "b")], &["u=1", "u=2", "u=3", "u=1"])],
        NOW,
    );
    let st = &p.stats().metrics[0];
    assert_eq!((st.series, st.series_refused), (2, 1));
}

#[test]
fn processing_sink_processes_then_pushes() {
    struct Capture(StdMutex<Vec<LogStream>>);
    impl LogSink for Capture {
        fn push(&self, streams: Vec<LogStream>) -> Result<PushOutcome, LogStoreError> {
            let n = streams.iter().map(|s| s.entries.len()).sum();
            if let Ok(mut v) = self.0.lock() {
                v.extend(streams);
            }
            Ok(PushOutcome {
                accepted: n,
                ..Default::default()
            })
        }
    }
    let inner = Arc::new(Capture(StdMutex::new(Vec::new())));
    let p = Arc::new(processor(
        "- stages: [{drop: {expression: 'debug'}}, {static_labels: {x: y}}]",
    ));
    let sink = ProcessingSink::new(p, inner.clone());
    let out = sink
        .push(vec![stream(&[("a", "b")], &["debug 1", "info 2"])])
        .unwrap();
    assert_eq!(out.accepted, 1);
    // A push whose every entry is dropped never reaches the store.
    let out = sink.push(vec![stream(&[("a", "b")], &["debug"])]).unwrap();
    assert_eq!(out, PushOutcome::default());
    let got = inner.0.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].labels, Labels::from_pairs(&[("a", "b"), ("x", "y")]));
}

#[test]
fn timestamp_failures() {
    let p = processor(
        r#"
- stages:
    - regex: {expression: '^(?P<t>\S+)'}
    - timestamp: {source: t, format: UnixMs, action_on_failure: skip}
"#,
    );
    let out = p.process_at(
        vec![stream(&[("a", "b")], &["1714557600000 ok", "bad x"])],
        NOW,
    );
    assert_eq!(out[0].entries[0].ts, NOW);
    assert_eq!(out[0].entries[1].ts, NOW + 1); // its own time
    assert_eq!(p.stats().stages[1].failures, 1);
}

#[test]
fn configuration_errors_name_pipeline_and_stage() {
    let cases: [(&str, &str); 16] = [
        (
            "- stages: [{regex: {expression: '(?P<a>x)'}}, {labels: {a: ''}}, {grok: {pattern: '%{FOO:x}'}}]",
            "logs.pipelines[0].stages[2] (grok): unknown pattern %{FOO}",
        ),
        (
            "- {}\n- selector: '{app=\"x\"} |= \"y\"'",
            "logs.pipelines[1].selector: invalid selector: a stream selector without a pipeline is expected",
        ),
        ("- selector: 'app'", "logs.pipelines[0].selector: invalid selector: parse error"),
        (
            "- stages: [{regex: {expression: '(x'}}]",
            "logs.pipelines[0].stages[0] (regex): invalid regular expression \"(x\": unclosed group",
        ),
        (
            "- stages: [{regex: {expression: '(x)'}}]",
            "logs.pipelines[0].stages[0] (regex): expression \"(x)\" has no named capture group",
        ),
        (
            "- stages: [{labels: {'bad-name': x}}]",
            "logs.pipelines[0].stages[0] (labels): invalid label name \"bad-name\"",
        ),
        (
            "- stages: [{redact: {builtin: [ssn]}}]",
            "logs.pipelines[0].stages[0] (redact): unknown built-in pattern \"ssn\" (known: credit_card",
        ),
        (
            "- stages: [{timestamp: {source: t, format: 'hello'}}]",
            "logs.pipelines[0].stages[0] (timestamp): invalid timestamp format \"hello\"",
        ),
        (
            "- stages: [{timestamp: {source: t, format: RFC3339, location: Europe/Paris}}]",
            "logs.pipelines[0].stages[0] (timestamp): invalid location \"Europe/Paris\"",
        ),
        (
            "- stages: [{drop: {}}]",
            "logs.pipelines[0].stages[0] (drop): at least one of source",
        ),
        (
            "- stages: [{drop: {older_than: soon}}]",
            "logs.pipelines[0].stages[0] (drop): invalid duration \"soon\"",
        ),
        (
            "- stages: [{metrics: {'bad-name': {type: counter}}}]",
            "logs.pipelines[0].stages[0] (metrics): invalid metric name \"bad-name\"",
        ),
        (
            "- stages: [{metrics: {x_total: {type: counter, action: set, source: v}}}]",
            "logs.pipelines[0].stages[0] (metrics): x_total: a counter's action is inc or add, not set",
        ),
        (
            "- stages: [{metrics: {x: {type: histogram}}}]",
            "logs.pipelines[0].stages[0] (metrics): x: histogram metrics are not supported",
        ),
        (
            "- stages: [{metrics: {x: {type: counter, match: '|= 5'}}}]",
            "logs.pipelines[0].stages[0] (metrics): invalid match \"|= 5\": col 4:",
        ),
        (
            "- stages: [{json: {expressions: {a: 'b[x]'}}}]",
            "logs.pipelines[0].stages[0] (json): invalid JSON path",
        ),
    ];
    for (cfg, want) in cases {
        let got = err(cfg);
        assert!(got.starts_with(want), "{cfg}\n got: {got}\nwant: {want}");
    }
}

fn every_stage() -> &'static Processor {
    static P: std::sync::OnceLock<Processor> = std::sync::OnceLock::new();
    P.get_or_init(|| processor(
        r#"
- stages:
    - grok: {patterns: ['%{COMBINEDAPACHELOG}', '%{SYSLOGLINE}', '%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:level} %{GREEDYDATA:msg}']}
    - regex: {expression: '(?P<num>\d+)'}
    - json: {}
    - json: {expressions: {a: 'a.b[1]', m: msg}}
    - logfmt: {}
    - timestamp: {source: ts, format: RFC3339Nano, fallback_formats: [Unix, '2006-01-02 15:04:05.000', Stamp]}
    - labels: {level: '', num: ''}
    - structured_metadata: {msg: '', m: ''}
    - static_labels: {env: test}
    - rename_labels: {level: severity}
    - labeldrop: [num]
    - drop: {source: severity, value: debug}
    - drop: {longer_than: 10KB}
    - keep: {expression: '.'}
    - replace: {expression: '(\d)', replace: '{{ .Value | printf "%s%s" "n" }}'}
    - redact: {builtin: [credit_card, password, secret, bearer_token, basic_auth, aws_key, jwt, url_password, email]}
    - luhn: {}
    - decolorize: {}
    - output: {source: m}
    - metrics:
        c_total: {type: counter, match: '|~ "a" | num > 3'}
        s_total: {type: counter, source: num, action: add}
        g: {type: gauge, source: num, action: sub}
"#,
    ))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn processing_never_panics(lines_in in proptest::collection::vec(".{0,200}", 1..8),
                               ts in any::<i64>()) {
        let p = every_stage();
        let refs: Vec<&str> = lines_in.iter().map(String::as_str).collect();
        let mut s = stream(&[("app", "x")], &refs);
        for e in &mut s.entries {
            e.ts = ts;
        }
        let out = p.process_at(vec![s], NOW);
        prop_assert!(out.iter().map(|s| s.entries.len()).sum::<usize>() <= lines_in.len());
        let store = leak_store();
        let _ = p.flush_metrics(&store, ts / 1_000_000);
    }

    #[test]
    fn structured_lines_never_panic(
        level in "(debug|info|warn|error|[a-z]{0,6})",
        num in "-?[0-9]{0,25}(\\.[0-9]{0,5})?",
        ts in "[0-9TZ:.+ -]{0,40}",
        junk in "[\\PC]{0,40}",
    ) {
        let p = every_stage();
        let lines_in = [
            format!(r#"{{"ts":"{ts}","level":"{level}","num":"{num}","msg":"{junk}","a":{{"b":[1,"{junk}"]}}}}"#),
            format!("ts={ts:?} level={level} num={num} msg={junk:?}"),
            format!("{ts} {level} {num} {junk}"),
        ];
        let refs: Vec<&str> = lines_in.iter().map(String::as_str).collect();
        p.process_at(vec![stream(&[("app", "x")], &refs)], NOW);
    }

    #[test]
    fn configuration_never_panics(text in "[\\PC\n]{0,300}") {
        if let Ok(cfg) = serde_yaml::from_str::<Vec<PipelineConfig>>(&text) {
            let _ = Processor::new(&cfg);
        }
    }

    #[test]
    fn stage_configurations_never_panic(
        name in proptest::sample::select(config::STAGE_NAMES.to_vec()),
        key in proptest::sample::select(vec![
            "pattern", "expression", "source", "format", "value", "older_than", "longer_than",
            "builtin", "replace", "location", "type", "match", "action", "labels", "x",
        ]),
        value in "[\\PC]{0,20}",
        selector in "[{}a-z=~\"!.*|]{0,16}",
    ) {
        let quoted = serde_yaml::to_string(&value).unwrap_or_default();
        let quoted = quoted.trim_end();
        for body in [
            format!("{{{key}: {quoted}}}"),
            format!("{{{key}: [{quoted}]}}"),
            format!("{{m: {{type: counter, {key}: {quoted}}}}}"),
            quoted.to_string(),
        ] {
            let text = format!("- selector: '{}'\n  stages: [{{{name}: {body}}}]",
                               selector.replace('\'', "''"));
            if let Ok(cfg) = serde_yaml::from_str::<Vec<PipelineConfig>>(&text) {
                if let Ok(p) = Processor::new(&cfg) {
                    p.process_at(vec![stream(&[("a", "b")], &[value.as_str()])], NOW);
                }
            }
        }
    }

    #[test]
    fn stage_values_never_panic(
        pattern in "[%{}A-Z_:a-z0-9()?<>|\\\\.*+\\[\\]-]{0,40}",
        format in "[0-9A-Za-z_ :./,-]{0,30}",
        value in "[0-9A-Za-z_ :./,+-]{0,30}",
    ) {
        let cfg = vec![PipelineConfig {
            stages: vec![
                StageConfig::Grok(GrokConfig { pattern: Some(pattern.clone()), ..Default::default() }),
            ],
            ..Default::default()
        }];
        if let Ok(p) = Processor::new(&cfg) {
            p.process_at(vec![stream(&[("a", "b")], &[value.as_str()])], NOW);
        }
        if let Ok(f) = timefmt::TimeFormat::new(&format) {
            let _ = f.parse(&value, 3600, NOW);
        }
        let _ = stages::parse_json_path(&pattern);
    }
}
