//! Metric filters (CloudWatch-style, written as Promtail's `metrics` stage):
//! counters and gauges fed by entries, kept in memory per label set and
//! written to the metrics store by [`MetricsStage::flush`], which the binary
//! calls on a timer.
//!
//! A counter is written as a cumulative value, so `rate()` and `increase()`
//! work on it; a new series first gets a 0 at the time it was created, so the
//! first events count too. Restarts begin again at 0, which `rate()` reads
//! as a counter reset. A series not updated for `max_idle_duration` is ended
//! with a staleness marker and forgotten. Each metric keeps at most
//! `max_series` series; entries that would create more are counted, not
//! kept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use pharos_model::{Appender, Label, Labels, MetricMetadata, MetricType, METRIC_NAME, STALE_NAN};

use super::config::{MetricAction, MetricKind};
use super::stages::{Ctx, Entry, Flow, Stage};
use crate::pipeline::Pipeline;

/// What feeds one series.
#[derive(Debug)]
struct SeriesState {
    value: f64,
    /// Wall-clock time of the last update, Unix nanoseconds.
    updated_ns: i64,
    /// Creation time in ms, until the series' first flush.
    created_ms: Option<i64>,
}

/// One metric of a `metrics` stage.
pub(crate) struct Metric {
    pub(crate) name: String,
    pub(crate) kind: MetricKind,
    pub(crate) help: String,
    pub(crate) source: Option<String>,
    pub(crate) value: Option<String>,
    /// A LogQL pipeline the entry must pass; `true`: only line filters.
    pub(crate) filter: Option<(Pipeline, bool)>,
    pub(crate) action: MetricAction,
    pub(crate) labels: Option<Vec<String>>,
    pub(crate) count_bytes: bool,
    pub(crate) max_series: usize,
    pub(crate) max_idle_ns: i64,
    series: Mutex<HashMap<Labels, SeriesState>>,
    errors: AtomicU64,
    refused: AtomicU64,
    written: AtomicU64,
    write_refused: AtomicU64,
}

/// A metric's figures, for self-telemetry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricStats {
    pub name: String,
    /// Series held in memory.
    pub series: usize,
    /// Entries whose value was not a number (or negative, for a counter).
    pub value_errors: u64,
    /// Entries not counted because the metric had `max_series` series.
    pub series_refused: u64,
    /// Samples written to the metrics store, and refused by it.
    pub samples_written: u64,
    pub samples_refused: u64,
}

/// What one flush wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushStats {
    pub samples: usize,
    pub refused: usize,
}

impl Metric {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: String,
        kind: MetricKind,
        help: String,
        source: Option<String>,
        value: Option<String>,
        filter: Option<(Pipeline, bool)>,
        action: MetricAction,
        labels: Option<Vec<String>>,
        count_bytes: bool,
        max_series: usize,
        max_idle_ns: i64,
    ) -> Metric {
        Metric {
            name,
            kind,
            help,
            source,
            value,
            filter,
            action,
            labels,
            count_bytes,
            max_series,
            max_idle_ns,
            series: Mutex::new(HashMap::new()),
            errors: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            written: AtomicU64::new(0),
            write_refused: AtomicU64::new(0),
        }
    }

    fn passes(&self, e: &Entry<'_>) -> bool {
        let Some((p, line_only)) = &self.filter else {
            return true;
        };
        if *line_only {
            return p.keeps_line(&e.line);
        }
        let mut labels: Vec<(String, String)> = Vec::new();
        {
            let mut add = |k: &str, v: &str| {
                if !labels.iter().any(|(n, _)| n == k) {
                    labels.push((k.to_string(), v.to_string()));
                }
            };
            for (k, v) in &e.extracted {
                add(k, v);
            }
            for (k, v) in e.labels.pairs() {
                add(k, v);
            }
            for (k, v) in &e.metadata {
                add(k, v);
            }
        }
        p.process_at(e.ts, &e.line, &mut labels).is_some()
    }

    /// The number an entry adds (or sets); `None` when it does not count.
    fn amount(&self, e: &Entry<'_>) -> Option<f64> {
        let from_source = || -> Option<Result<f64, ()>> {
            let v = e.lookup(self.source.as_deref()?)?;
            Some(v.trim().parse::<f64>().map_err(|_| ()))
        };
        let x = match self.action {
            MetricAction::Inc if self.count_bytes => e.line.len() as f64,
            MetricAction::Inc => 1.0,
            MetricAction::Dec => -1.0,
            MetricAction::Add | MetricAction::Set | MetricAction::Sub => match from_source()? {
                Ok(x) if x.is_finite() => x,
                _ => {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            },
        };
        let x = if self.action == MetricAction::Sub {
            -x
        } else {
            x
        };
        if self.kind == MetricKind::Counter && x < 0.0 {
            self.errors.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(x)
    }

    fn series_labels(&self, e: &Entry<'_>) -> Labels {
        let mut v: Vec<Label> = Vec::new();
        match &self.labels {
            None => {
                for (k, val) in e.labels.pairs() {
                    if k != METRIC_NAME {
                        v.push(Label {
                            name: k.to_string(),
                            value: val.to_string(),
                        });
                    }
                }
            }
            Some(names) => {
                for n in names {
                    let val = e
                        .labels
                        .get(n)
                        .or_else(|| e.lookup(n))
                        .filter(|v| !v.is_empty());
                    if let Some(val) = val {
                        v.push(Label {
                            name: n.clone(),
                            value: val.to_string(),
                        });
                    }
                }
            }
        }
        v.push(Label {
            name: METRIC_NAME.to_string(),
            value: self.name.clone(),
        });
        Labels::from_vec(v)
    }

    fn observe(&self, e: &Entry<'_>, now_ns: i64) {
        if let Some(want) = &self.value {
            let got = self.source.as_deref().and_then(|s| e.lookup(s));
            if got != Some(want.as_str()) {
                return;
            }
        }
        if !self.passes(e) {
            return;
        }
        let Some(x) = self.amount(e) else { return };
        let labels = self.series_labels(e);
        let mut series = self.series.lock();
        let len = series.len();
        let s = match series.get_mut(&labels) {
            Some(s) => s,
            None if len >= self.max_series => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return;
            }
            None => series.entry(labels).or_insert(SeriesState {
                value: 0.0,
                updated_ns: now_ns,
                created_ms: Some(now_ns.div_euclid(1_000_000)),
            }),
        };
        match (self.kind, self.action) {
            (MetricKind::Gauge, MetricAction::Set) => s.value = x,
            _ => s.value += x,
        }
        s.updated_ns = now_ns;
    }

    fn flush(&self, app: &mut dyn Appender, now_ms: i64, out: &mut FlushStats) {
        let mut series = self.series.lock();
        if series.is_empty() {
            return;
        }
        app.update_metadata(
            &self.name,
            &MetricMetadata {
                metric_type: match self.kind {
                    MetricKind::Gauge => MetricType::Gauge,
                    _ => MetricType::Counter,
                },
                help: self.help.clone(),
                unit: String::new(),
            },
        );
        let now_ns = now_ms.saturating_mul(1_000_000);
        let mut ok = 0u64;
        let mut bad = 0u64;
        series.retain(|labels, s| {
            let mut put = |t: i64, v: f64| match app.append(labels, t, v) {
                Ok(()) => ok += 1,
                Err(_) => bad += 1,
            };
            if now_ns.saturating_sub(s.updated_ns) > self.max_idle_ns {
                put(now_ms, STALE_NAN);
                return false;
            }
            if let Some(c) = s.created_ms.take() {
                if self.kind == MetricKind::Counter && c < now_ms {
                    put(c, 0.0);
                }
            }
            put(now_ms, s.value);
            true
        });
        self.written.fetch_add(ok, Ordering::Relaxed);
        self.write_refused.fetch_add(bad, Ordering::Relaxed);
        out.samples += ok as usize;
        out.refused += bad as usize;
    }

    fn stats(&self) -> MetricStats {
        MetricStats {
            name: self.name.clone(),
            series: self.series.lock().len(),
            value_errors: self.errors.load(Ordering::Relaxed),
            series_refused: self.refused.load(Ordering::Relaxed),
            samples_written: self.written.load(Ordering::Relaxed),
            samples_refused: self.write_refused.load(Ordering::Relaxed),
        }
    }
}

/// A `metrics` stage: its metrics observe every entry that reaches it.
pub(crate) struct MetricsStage {
    pub(crate) metrics: Vec<Metric>,
}

impl MetricsStage {
    /// Stages the current value of every series (see the module doc).
    pub(crate) fn flush(&self, app: &mut dyn Appender, now_ms: i64, out: &mut FlushStats) {
        for m in &self.metrics {
            m.flush(app, now_ms, out);
        }
    }

    pub(crate) fn stats(&self) -> Vec<MetricStats> {
        self.metrics.iter().map(Metric::stats).collect()
    }
}

impl Stage for std::sync::Arc<MetricsStage> {
    fn apply(&self, e: &mut Entry<'_>, cx: &mut Ctx) -> Flow {
        for m in &self.metrics {
            m.observe(e, cx.now_ns);
        }
        Flow::Next
    }
}
