//! Tests of the storage side of a scrape: label merging, limits, staleness
//! and the report series, against an in-memory appendable.

use std::sync::Arc;

use parking_lot::Mutex;
use pharos_ingest::exposition::{parse, Format};
use pharos_model::{
    is_stale_nan, AppendError, CommitStats, Exemplar, MetricMetadata, StorageError,
};

use super::*;

#[derive(Default)]
struct Mem {
    samples: Mutex<Vec<(Labels, i64, f64)>>,
    metadata: Mutex<Vec<String>>,
    exemplars: Mutex<usize>,
}

struct MemApp {
    mem: Arc<Mem>,
    staged: Vec<(Labels, i64, f64)>,
    meta: Vec<String>,
    ex: usize,
}

impl Appender for MemApp {
    fn append(&mut self, l: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        let last = self
            .mem
            .samples
            .lock()
            .iter()
            .chain(self.staged.iter())
            .filter(|(ll, _, _)| ll == l)
            .map(|(_, t, _)| *t)
            .max();
        match last {
            Some(lt) if lt == t => return Err(AppendError::DuplicateTimestamp),
            Some(lt) if lt > t => return Err(AppendError::OutOfOrder),
            _ => {}
        }
        self.staged.push((l.clone(), t, v));
        Ok(())
    }
    fn append_exemplar(&mut self, _l: &Labels, _e: &Exemplar) -> Result<(), AppendError> {
        self.ex += 1;
        Ok(())
    }
    fn update_metadata(&mut self, family: &str, _m: &MetricMetadata) {
        self.meta.push(family.to_string());
    }
    fn commit(self: Box<Self>) -> Result<CommitStats, StorageError> {
        let n = self.staged.len();
        self.mem.samples.lock().extend(self.staged);
        self.mem.metadata.lock().extend(self.meta);
        *self.mem.exemplars.lock() += self.ex;
        Ok(CommitStats {
            samples: n,
            series_created: 0,
            ..Default::default()
        })
    }
    fn rollback(self: Box<Self>) {}
}

struct MemAppendable(Arc<Mem>);

impl Appendable for MemAppendable {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(MemApp {
            mem: self.0.clone(),
            staged: Vec::new(),
            meta: Vec::new(),
            ex: 0,
        })
    }
}

fn target() -> Labels {
    Labels::from_pairs(&[("instance", "h:1"), ("job", "j")])
}

fn settings(t: &Labels) -> AppendSettings<'_> {
    AppendSettings {
        target_labels: t,
        honor_labels: false,
        honor_timestamps: true,
        metric_relabel_configs: &[],
        sample_limit: 0,
        label_limit: 0,
        label_name_length_limit: 0,
        label_value_length_limit: 0,
    }
}

fn body(s: &str) -> Result<Scraped, String> {
    parse(s.as_bytes(), Format::PrometheusText).map_err(|e| e.to_string())
}

fn value_of(mem: &Mem, series: &str, t: i64) -> Option<f64> {
    mem.samples
        .lock()
        .iter()
        .find(|(l, tt, _)| l.to_string() == series && *tt == t)
        .map(|s| s.2)
}

#[test]
fn samples_report_and_staleness() {
    let mem = Arc::new(Mem::default());
    let a = MemAppendable(mem.clone());
    let c = Counters::default();
    let t = target();
    let s = settings(&t);
    let mut st = SeriesState::default();
    let d = Duration::from_millis(5);
    let r = append_scrape(
        &a,
        &mut st,
        &s,
        body("# HELP a help\n# TYPE a gauge\na 1\nb{x=\"1\"} 2\nc 3 500\n"),
        1000,
        d,
        &c,
    );
    assert_eq!(
        r,
        ScrapeReport {
            samples_scraped: 3,
            samples_post_relabel: 3,
            series_added: 3,
            error: None
        }
    );
    assert_eq!(
        value_of(&mem, r#"a{instance="h:1", job="j"}"#, 1000),
        Some(1.0)
    );
    assert_eq!(
        value_of(&mem, r#"b{instance="h:1", job="j", x="1"}"#, 1000),
        Some(2.0)
    );
    // Explicit timestamps are honored.
    assert_eq!(
        value_of(&mem, r#"c{instance="h:1", job="j"}"#, 500),
        Some(3.0)
    );
    assert_eq!(
        value_of(&mem, r#"up{instance="h:1", job="j"}"#, 1000),
        Some(1.0)
    );
    assert_eq!(
        value_of(
            &mem,
            r#"scrape_samples_scraped{instance="h:1", job="j"}"#,
            1000
        ),
        Some(3.0)
    );
    assert_eq!(
        value_of(
            &mem,
            r#"scrape_series_added{instance="h:1", job="j"}"#,
            1000
        ),
        Some(3.0)
    );
    assert_eq!(
        value_of(
            &mem,
            r#"scrape_duration_seconds{instance="h:1", job="j"}"#,
            1000
        ),
        Some(0.005)
    );
    assert_eq!(*mem.metadata.lock(), vec!["a"]);
    // Series with explicit timestamps take no staleness markers.
    assert_eq!(st.tracked(), 2);

    // b disappears: it gets a staleness marker; a is not new.
    let r = append_scrape(&a, &mut st, &s, body("a 1\nc 3 600\n"), 2000, d, &c);
    assert_eq!(r.series_added, 0);
    assert!(is_stale_nan(
        value_of(&mem, r#"b{instance="h:1", job="j", x="1"}"#, 2000).unwrap()
    ));
    assert_eq!(value_of(&mem, r#"c{instance="h:1", job="j"}"#, 2000), None);

    // A failed scrape: up=0 and every previous series goes stale.
    let r = append_scrape(
        &a,
        &mut st,
        &s,
        Err("connection refused".into()),
        3000,
        d,
        &c,
    );
    assert_eq!(r.error.as_deref(), Some("connection refused"));
    assert_eq!(
        value_of(&mem, r#"up{instance="h:1", job="j"}"#, 3000),
        Some(0.0)
    );
    assert!(is_stale_nan(
        value_of(&mem, r#"a{instance="h:1", job="j"}"#, 3000).unwrap()
    ));
    assert_eq!(st.tracked(), 0);

    // Back up, then the target goes away: everything goes stale, report series too.
    append_scrape(&a, &mut st, &s, body("a 1\n"), 4000, d, &c);
    end_of_run(&a, &mut st, &t, 4500, &c);
    assert!(is_stale_nan(
        value_of(&mem, r#"a{instance="h:1", job="j"}"#, 4500).unwrap()
    ));
    assert!(is_stale_nan(
        value_of(&mem, r#"up{instance="h:1", job="j"}"#, 4500).unwrap()
    ));
    let snap = c.snapshot();
    assert_eq!(snap.scrapes_total, 4);
    assert_eq!(snap.scrapes_failed_total, 1);
    assert_eq!(snap.samples_appended_total, 6);
    assert_eq!(snap.stale_markers_total, 1 + 1 + 1 + 5);
}

#[test]
fn out_of_order_is_counted_not_fatal() {
    let mem = Arc::new(Mem::default());
    let a = MemAppendable(mem.clone());
    let c = Counters::default();
    let t = target();
    let s = settings(&t);
    let mut st = SeriesState::default();
    append_scrape(
        &a,
        &mut st,
        &s,
        body("x 1 1000\n"),
        5000,
        Duration::ZERO,
        &c,
    );
    let r = append_scrape(
        &a,
        &mut st,
        &s,
        body("x 1 900\ny 2\ny 3\n"),
        6000,
        Duration::ZERO,
        &c,
    );
    assert_eq!(r.error, None);
    let snap = c.snapshot();
    assert_eq!(snap.samples_rejected_total.get("out_of_order"), Some(&1));
    assert_eq!(snap.samples_rejected_total.get("duplicate"), Some(&1));
    assert_eq!(
        value_of(&mem, r#"y{instance="h:1", job="j"}"#, 6000),
        Some(2.0)
    );
}

#[test]
fn honor_labels_and_conflicts() {
    let t = target();
    let mut s = settings(&t);
    let l = Labels::from_pairs(&[("__name__", "m"), ("job", "scraped"), ("exported_job", "x")]);
    let got = mutate_sample_labels(&l, &s).unwrap();
    assert_eq!(
        got,
        Labels::from_pairs(&[
            ("__name__", "m"),
            ("exported_exported_job", "scraped"),
            ("exported_job", "x"),
            ("instance", "h:1"),
            ("job", "j"),
        ])
    );
    s.honor_labels = true;
    let got = mutate_sample_labels(&l, &s).unwrap();
    assert_eq!(
        got,
        Labels::from_pairs(&[
            ("__name__", "m"),
            ("exported_job", "x"),
            ("instance", "h:1"),
            ("job", "scraped")
        ])
    );
}

#[test]
fn metric_relabel_and_limits() {
    let mem = Arc::new(Mem::default());
    let a = MemAppendable(mem.clone());
    let c = Counters::default();
    let t = target();
    let rules: Vec<RelabelConfig> =
        serde_yaml::from_str("- {source_labels: [__name__], regex: 'go_.*', action: drop}")
            .unwrap();
    let mut s = settings(&t);
    s.metric_relabel_configs = &rules;
    s.sample_limit = 2;
    let mut st = SeriesState::default();
    // Dropped samples do not count against the limit.
    let r = append_scrape(
        &a,
        &mut st,
        &s,
        body("go_a 1\ngo_b 1\na 1\nb 1\n"),
        1000,
        Duration::ZERO,
        &c,
    );
    assert_eq!(
        (r.samples_scraped, r.samples_post_relabel, r.error.clone()),
        (4, 2, None)
    );
    assert_eq!(
        value_of(&mem, r#"go_a{instance="h:1", job="j"}"#, 1000),
        None
    );
    // Over the limit: nothing of the body is kept, up=0, previous series stale.
    let r = append_scrape(
        &a,
        &mut st,
        &s,
        body("a 1\nb 1\nc 1\n"),
        2000,
        Duration::ZERO,
        &c,
    );
    assert_eq!(r.error.as_deref(), Some("sample limit exceeded"));
    assert_eq!(
        value_of(&mem, r#"up{instance="h:1", job="j"}"#, 2000),
        Some(0.0)
    );
    assert!(is_stale_nan(
        value_of(&mem, r#"a{instance="h:1", job="j"}"#, 2000).unwrap()
    ));
    assert_eq!(value_of(&mem, r#"c{instance="h:1", job="j"}"#, 2000), None);
    assert_eq!(c.snapshot().sample_limit_exceeded_total, 1);

    let mut s = settings(&t);
    s.label_limit = 3;
    let r = append_scrape(
        &a,
        &mut st,
        &s,
        body("a{x=\"1\",y=\"2\"} 1\n"),
        3000,
        Duration::ZERO,
        &c,
    );
    assert_eq!(
        r.error.as_deref(),
        Some("label_limit exceeded (metric: a, number of labels: 5, limit: 3)")
    );
    let mut s = settings(&t);
    s.label_value_length_limit = 2;
    let r = append_scrape(&a, &mut st, &s, body("a 1\n"), 4000, Duration::ZERO, &c);
    assert_eq!(
        r.error.as_deref(),
        Some("label_value_length_limit exceeded (metric: a, label name: instance, value: \"h:1\", length: 3, limit: 2)")
    );
    assert_eq!(c.snapshot().label_limit_exceeded_total, 2);
}

#[test]
fn parse_errors_fail_the_scrape() {
    let mem = Arc::new(Mem::default());
    let a = MemAppendable(mem.clone());
    let c = Counters::default();
    let t = target();
    let s = settings(&t);
    let mut st = SeriesState::default();
    append_scrape(&a, &mut st, &s, body("a 1\n"), 1000, Duration::ZERO, &c);
    let r = append_scrape(&a, &mut st, &s, body("a 1\nb{\n"), 2000, Duration::ZERO, &c);
    assert!(r.error.is_some());
    assert!(is_stale_nan(
        value_of(&mem, r#"a{instance="h:1", job="j"}"#, 2000).unwrap()
    ));
    assert_eq!(
        value_of(&mem, r#"up{instance="h:1", job="j"}"#, 2000),
        Some(0.0)
    );
}

#[test]
fn exemplars_are_passed_on() {
    let mem = Arc::new(Mem::default());
    let a = MemAppendable(mem.clone());
    let c = Counters::default();
    let t = target();
    let s = settings(&t);
    let mut st = SeriesState::default();
    let om = "# TYPE foo counter\nfoo_total 17.0 # {trace_id=\"abc\"} 1.0 1520879607.789\n# EOF\n";
    let scraped = parse(om.as_bytes(), Format::OpenMetrics).map_err(|e| e.to_string());
    let r = append_scrape(&a, &mut st, &s, scraped, 1000, Duration::ZERO, &c);
    assert_eq!(r.error, None);
    assert_eq!(*mem.exemplars.lock(), 1);
}
