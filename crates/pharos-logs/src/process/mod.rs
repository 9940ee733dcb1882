//! The processing pipeline at ingest: what Logstash filters and Promtail's
//! `pipeline_stages` do, run on every pushed entry before the store sees it.
//!
//! A [`Processor`] is built once from `logs.pipelines` ([`PipelineConfig`]).
//! Each pipeline has a LogQL stream selector and a list of stages; a stream
//! goes through every pipeline whose selector matches the labels it arrived
//! with, in configuration order. Stages parse (`grok`, `regex`, `json`,
//! `logfmt`), set the time (`timestamp`), move fields to labels (`labels`,
//! under a cardinality guard) or to structured metadata, edit labels,
//! drop or keep entries, rewrite and redact the line, and count entries into
//! metric series ([`Processor::flush_metrics`] writes them to the metrics
//! store). [`Processor::process`] regroups entries whose labels changed into
//! the right streams.
//!
//! [`ProcessingSink`] is the seam: a `LogSink` that processes, then pushes to
//! the sink behind it (the log store). With no pipelines it hands the
//! streams on untouched.
//!
//! ```
//! use std::sync::Arc;
//! use pharos_logs::process::{PipelineConfig, Processor, StageConfig, RegexConfig, OrderedMap};
//! use pharos_model::{Labels, LogEntry, LogStream};
//!
//! let cfg = PipelineConfig {
//!     selector: Some(r#"{app="api"}"#.into()),
//!     stages: vec![
//!         StageConfig::Regex(RegexConfig { expression: r"status=(?P<status>\d+)".into(), source: None }),
//!         StageConfig::Labels(OrderedMap(vec![("status".into(), None)])),
//!     ],
//!     ..Default::default()
//! };
//! let p = Processor::new(&[cfg]).unwrap();
//! let out = p.process(vec![LogStream {
//!     labels: Labels::from_pairs(&[("app", "api")]),
//!     entries: vec![LogEntry::new(1, "GET / status=200")],
//! }]);
//! assert_eq!(out[0].labels, Labels::from_pairs(&[("app", "api"), ("status", "200")]));
//! ```
//!
//! The processor knows nothing of HTTP or of how entries arrive, and writes
//! metrics only through `pharos_model::Appendable`.

mod config;
pub mod grok;
mod metrics;
mod redact;
mod stages;
#[cfg(test)]
mod tests;
mod timefmt;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pharos_model::{
    is_valid_label_name, is_valid_metric_name, Appendable, Labels, LogEntry, LogSink,
    LogStoreError, LogStream, Matcher, PushOutcome, StorageError,
};
use regex::Regex;

pub use config::{
    ByteSize, ConditionConfig, ConfigError, ConfigErrorKind, EmptyConfig, GrokConfig, JsonConfig,
    LogfmtConfig, LuhnConfig, MetricAction, MetricConfig, MetricKind, OnFailure, OneOrMany,
    OrderedMap, OutputConfig, PipelineConfig, PromtailMetricConfig, RedactConfig, RegexConfig,
    ReplaceConfig, StageConfig, TimestampConfig,
};
pub use metrics::{FlushStats, MetricStats};

use metrics::{Metric, MetricsStage};
use stages::{Ctx, Entry, Flow, Stage};

/// Default distinct values per promoted label.
pub const DEFAULT_MAX_LABEL_VALUES: usize = 100;
/// Default longest promoted label value (the store's limit).
pub const DEFAULT_MAX_LABEL_VALUE_LENGTH: usize = 2048;
/// Default most series per metric.
pub const DEFAULT_MAX_SERIES: usize = 1000;
/// Default idle time after which a metric series is ended.
pub const DEFAULT_MAX_IDLE_NS: i64 = 5 * 60 * 1_000_000_000;

struct CompiledStage {
    name: &'static str,
    stage: Box<dyn Stage>,
    hits: AtomicU64,
    failures: AtomicU64,
    dropped: AtomicU64,
}

struct CompiledPipeline {
    /// `None`: every stream.
    matchers: Option<Vec<Matcher>>,
    stages: Vec<CompiledStage>,
}

impl CompiledPipeline {
    fn selects(&self, labels: &Labels) -> bool {
        self.matchers.as_ref().is_none_or(|ms| {
            ms.iter()
                .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
        })
    }
}

/// The compiled `logs.pipelines`.
pub struct Processor {
    pipelines: Vec<CompiledPipeline>,
    metrics: Vec<Arc<MetricsStage>>,
    entries: AtomicU64,
}

/// One stage's counts since start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageStats {
    pub pipeline: usize,
    pub stage: usize,
    pub name: &'static str,
    /// Entries the stage acted on (parsed, redacted, promoted, timed).
    pub hits: u64,
    /// Entries it could not act on (no match, malformed, missing field).
    pub failures: u64,
    /// Entries it dropped.
    pub dropped: u64,
}

/// Values the cardinality guard kept out of the index, per label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRefusals {
    pub pipeline: usize,
    pub stage: usize,
    pub label: String,
    pub refused: u64,
}

/// A snapshot of the processor's counters, for self-telemetry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessorStats {
    /// Entries that went through at least one pipeline.
    pub entries: u64,
    pub stages: Vec<StageStats>,
    pub label_refusals: Vec<LabelRefusals>,
    pub metrics: Vec<MetricStats>,
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Processor {
    /// A processor that does nothing.
    pub fn empty() -> Processor {
        Processor {
            pipelines: Vec::new(),
            metrics: Vec::new(),
            entries: AtomicU64::new(0),
        }
    }

    /// Compiles the pipelines. Errors name the pipeline, the stage and what
    /// is wrong: `logs.pipelines[0].stages[2] (grok): unknown pattern %{FOO}`.
    pub fn new(configs: &[PipelineConfig]) -> Result<Processor, ConfigError> {
        let mut pipelines = Vec::with_capacity(configs.len());
        let mut metrics = Vec::new();
        for (pi, pc) in configs.iter().enumerate() {
            let matchers = match &pc.selector {
                None => None,
                Some(s) => Some(compile_selector(s).map_err(|kind| ConfigError {
                    pipeline: pi,
                    stage: None,
                    kind,
                })?),
            };
            let mut stages = Vec::with_capacity(pc.stages.len());
            for (si, sc) in pc.stages.iter().enumerate() {
                let stage =
                    compile_stage(pi, pc, sc, &mut metrics).map_err(|kind| ConfigError {
                        pipeline: pi,
                        stage: Some((si, sc.name())),
                        kind,
                    })?;
                stages.push(CompiledStage {
                    name: sc.name(),
                    stage,
                    hits: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    dropped: AtomicU64::new(0),
                });
            }
            pipelines.push(CompiledPipeline { matchers, stages });
        }
        Ok(Processor {
            pipelines,
            metrics,
            entries: AtomicU64::new(0),
        })
    }

    /// True when there is no pipeline: [`Processor::process`] returns its
    /// input as it is.
    pub fn is_empty(&self) -> bool {
        self.pipelines.is_empty()
    }

    /// True when some pipeline has a `metrics` stage (the binary then runs
    /// [`Processor::flush_metrics`] on a timer).
    pub fn has_metrics(&self) -> bool {
        !self.metrics.is_empty()
    }

    /// Runs the pipelines over `streams` at the current time.
    pub fn process(&self, streams: Vec<LogStream>) -> Vec<LogStream> {
        if self.pipelines.is_empty() {
            return streams;
        }
        self.process_at(streams, now_ns())
    }

    /// Runs the pipelines over `streams` with `now_ns` as the current time
    /// (for `older_than`, years missing from timestamps, and metric series).
    /// Dropped entries are gone; entries whose labels changed are regrouped
    /// into streams by their new labels (streams may merge). Entries keep
    /// their relative order.
    pub fn process_at(&self, streams: Vec<LogStream>, now_ns: i64) -> Vec<LogStream> {
        if self.pipelines.is_empty() {
            return streams;
        }
        let plans: Vec<Vec<usize>> = streams
            .iter()
            .map(|s| {
                self.pipelines
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.selects(&s.labels))
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        if plans.iter().all(Vec::is_empty) {
            return streams;
        }
        // Counts are gathered per call and added once at the end.
        let mut counts: Vec<Vec<[u64; 3]>> = self
            .pipelines
            .iter()
            .map(|p| vec![[0; 3]; p.stages.len()])
            .collect();
        let mut processed = 0u64;
        let mut out: Vec<LogStream> = Vec::with_capacity(streams.len());
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut place =
            |out: &mut Vec<LogStream>, labels: Labels, entries: Vec<LogEntry>| match index
                .get(&labels)
            {
                Some(&i) => out[i].entries.extend(entries),
                None => {
                    index.insert(labels.clone(), out.len());
                    out.push(LogStream { labels, entries });
                }
            };
        for (stream, plan) in streams.into_iter().zip(plans) {
            if plan.is_empty() {
                place(&mut out, stream.labels, stream.entries);
                continue;
            }
            let LogStream { labels, entries } = stream;
            let mut kept = Vec::with_capacity(entries.len());
            let mut moved: Vec<(Labels, LogEntry)> = Vec::new();
            let mut cx = Ctx {
                now_ns,
                last_ts: None,
            };
            for entry in entries {
                processed += 1;
                let mut e = Entry::new(&labels, entry);
                let mut dropped = false;
                'pipelines: for &pi in &plan {
                    for (si, st) in self.pipelines[pi].stages.iter().enumerate() {
                        let slot = &mut counts[pi][si];
                        match st.stage.apply(&mut e, &mut cx) {
                            Flow::Next => {}
                            Flow::Hit => slot[0] += 1,
                            Flow::Failed => slot[1] += 1,
                            Flow::Drop => {
                                slot[2] += 1;
                                dropped = true;
                                break 'pipelines;
                            }
                        }
                    }
                }
                if dropped {
                    continue;
                }
                match e.finish() {
                    (None, entry) => kept.push(entry),
                    (Some(l), entry) => moved.push((l, entry)),
                }
            }
            if !kept.is_empty() {
                place(&mut out, labels, kept);
            }
            for (l, entry) in moved {
                place(&mut out, l, vec![entry]);
            }
        }
        self.entries.fetch_add(processed, Ordering::Relaxed);
        for (p, pc) in self.pipelines.iter().zip(&counts) {
            for (st, c) in p.stages.iter().zip(pc) {
                for (a, n) in [&st.hits, &st.failures, &st.dropped].into_iter().zip(c) {
                    if *n > 0 {
                        a.fetch_add(*n, Ordering::Relaxed);
                    }
                }
            }
        }
        out
    }

    /// Writes the current value of every metric-filter series to the
    /// metrics store, stamped `now_ms`, in one transaction. Does nothing
    /// (no appender) when no pipeline has a `metrics` stage.
    pub fn flush_metrics(
        &self,
        appendable: &dyn Appendable,
        now_ms: i64,
    ) -> Result<FlushStats, StorageError> {
        let mut out = FlushStats::default();
        if self.metrics.is_empty() {
            return Ok(out);
        }
        let mut app = appendable.appender();
        for m in &self.metrics {
            m.flush(app.as_mut(), now_ms, &mut out);
        }
        let stats = app.commit()?;
        out.refused += stats.rejected.len();
        out.samples = out.samples.saturating_sub(stats.rejected.len());
        Ok(out)
    }

    /// The counters since start.
    pub fn stats(&self) -> ProcessorStats {
        let mut s = ProcessorStats {
            entries: self.entries.load(Ordering::Relaxed),
            ..Default::default()
        };
        for (pi, p) in self.pipelines.iter().enumerate() {
            for (si, st) in p.stages.iter().enumerate() {
                s.stages.push(StageStats {
                    pipeline: pi,
                    stage: si,
                    name: st.name,
                    hits: st.hits.load(Ordering::Relaxed),
                    failures: st.failures.load(Ordering::Relaxed),
                    dropped: st.dropped.load(Ordering::Relaxed),
                });
                for (label, refused) in st.stage.label_refusals() {
                    s.label_refusals.push(LabelRefusals {
                        pipeline: pi,
                        stage: si,
                        label,
                        refused,
                    });
                }
            }
        }
        for m in &self.metrics {
            s.metrics.extend(m.stats());
        }
        s
    }
}

/// A [`LogSink`] that runs a [`Processor`] and hands the result to the sink
/// behind it. An entry a pipeline drops is neither accepted nor refused.
pub struct ProcessingSink {
    processor: Arc<Processor>,
    inner: Arc<dyn LogSink>,
}

impl ProcessingSink {
    pub fn new(processor: Arc<Processor>, inner: Arc<dyn LogSink>) -> ProcessingSink {
        ProcessingSink { processor, inner }
    }

    pub fn processor(&self) -> &Arc<Processor> {
        &self.processor
    }
}

impl LogSink for ProcessingSink {
    fn push(&self, streams: Vec<LogStream>) -> Result<PushOutcome, LogStoreError> {
        if self.processor.is_empty() {
            return self.inner.push(streams);
        }
        let streams = self.processor.process(streams);
        if streams.is_empty() {
            return Ok(PushOutcome::default());
        }
        self.inner.push(streams)
    }
}

// ---------------------------------------------------------------- compiling

fn compile_selector(s: &str) -> Result<Vec<Matcher>, ConfigErrorKind> {
    match crate::logql::parse_expr(s) {
        Ok(crate::logql::Expr::Log(l)) if l.stages.is_empty() => Ok(l.matchers),
        Ok(_) => Err(ConfigErrorKind::BadSelector(
            "a stream selector without a pipeline is expected, e.g. {app=\"nginx\"}".into(),
        )),
        Err(e) => Err(ConfigErrorKind::BadSelector(e.to_string())),
    }
}

/// The regex compiler's message on one line (its syntax errors draw the
/// pattern with a caret; the last line says what is wrong).
fn regex_reason(e: &regex::Error) -> String {
    let s = e.to_string();
    let last = s.lines().last().unwrap_or("").trim();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

fn regex(pattern: &str) -> Result<Regex, ConfigErrorKind> {
    Regex::new(pattern).map_err(|e| ConfigErrorKind::BadRegex {
        pattern: pattern.to_string(),
        reason: regex_reason(&e),
    })
}

fn label_name(n: &str) -> Result<String, ConfigErrorKind> {
    if is_valid_label_name(n) && !n.starts_with("__") {
        Ok(n.to_string())
    } else {
        Err(ConfigErrorKind::BadLabelName(n.to_string()))
    }
}

/// `name: source` pairs with an empty source meaning the same name.
fn name_source(
    m: &OrderedMap<String, Option<String>>,
    check: bool,
) -> Result<Vec<(String, String)>, ConfigErrorKind> {
    m.iter()
        .map(|(k, v)| {
            let name = if check { label_name(k)? } else { k.clone() };
            let src = v
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| k.clone());
            Ok((name, src))
        })
        .collect()
}

fn duration_ns(s: &str) -> Result<i64, ConfigErrorKind> {
    if let Ok(d) = pharos_model::duration::parse_duration(s) {
        return Ok(d.as_nanos().min(i64::MAX as u128) as i64);
    }
    crate::pipeline::go_duration_ns(s)
        .filter(|d| *d >= 0)
        .ok_or_else(|| ConfigErrorKind::BadDuration(s.to_string()))
}

fn invalid(msg: impl Into<String>) -> ConfigErrorKind {
    ConfigErrorKind::Invalid(msg.into())
}

fn compile_stage(
    pi: usize,
    pc: &PipelineConfig,
    sc: &StageConfig,
    metrics: &mut Vec<Arc<MetricsStage>>,
) -> Result<Box<dyn Stage>, ConfigErrorKind> {
    Ok(match sc {
        StageConfig::Grok(g) => {
            let custom: HashMap<String, String> = g.pattern_definitions.0.iter().cloned().collect();
            let mut pats: Vec<&String> = g.pattern.iter().collect();
            pats.extend(&g.patterns);
            if pats.is_empty() {
                return Err(invalid("grok needs a pattern"));
            }
            let mut groks = Vec::with_capacity(pats.len());
            for p in pats {
                groks.push(grok::Grok::compile(p, &custom).map_err(|e| match e {
                    grok::GrokError::Unknown(n) => ConfigErrorKind::UnknownGrokPattern(n),
                    grok::GrokError::Bad(reason) => ConfigErrorKind::BadGrok {
                        pattern: p.clone(),
                        reason,
                    },
                })?);
            }
            Box::new(stages::GrokStage {
                groks,
                source: g.source.clone(),
            })
        }
        StageConfig::Regex(r) => {
            let re = regex(&r.expression)?;
            if re.capture_names().flatten().next().is_none() {
                return Err(ConfigErrorKind::NoNamedGroup(r.expression.clone()));
            }
            Box::new(stages::RegexStage {
                re,
                source: r.source.clone(),
            })
        }
        StageConfig::Json(j) => {
            let mut paths = Vec::new();
            for (name, path) in name_source(&j.expressions, false)? {
                let steps = stages::parse_json_path(&path)
                    .map_err(|reason| ConfigErrorKind::BadJsonPath { path, reason })?;
                paths.push((name, steps));
            }
            Box::new(stages::JsonStage {
                paths,
                source: j.source.clone(),
                drop_malformed: j.drop_malformed,
            })
        }
        StageConfig::Logfmt(l) => Box::new(stages::LogfmtStage {
            mapping: name_source(&l.mapping, false)?,
            source: l.source.clone(),
        }),
        StageConfig::Timestamp(t) => {
            let mut formats = Vec::new();
            for f in std::iter::once(&t.format).chain(&t.fallback_formats) {
                formats.push(timefmt::TimeFormat::new(f).map_err(|reason| {
                    ConfigErrorKind::BadTimeFormat {
                        format: f.clone(),
                        reason,
                    }
                })?);
            }
            let location = match &t.location {
                None => 0,
                Some(l) => timefmt::parse_location(l)
                    .ok_or_else(|| ConfigErrorKind::BadLocation(l.clone()))?,
            };
            Box::new(stages::TimestampStage {
                source: t.source.clone(),
                formats,
                location,
                fudge: t.action_on_failure == OnFailure::Fudge,
            })
        }
        StageConfig::Labels(m) => Box::new(stages::LabelsStage::new(
            pi,
            name_source(m, true)?,
            pc.max_label_values.unwrap_or(DEFAULT_MAX_LABEL_VALUES),
            pc.max_label_value_length
                .unwrap_or(DEFAULT_MAX_LABEL_VALUE_LENGTH),
        )),
        StageConfig::StructuredMetadata(m) => Box::new(stages::MetadataStage {
            items: name_source(m, true)?,
        }),
        StageConfig::StaticLabels(m) => {
            let items = m
                .iter()
                .map(|(k, v)| Ok((label_name(k)?, v.clone().filter(|v| !v.is_empty()))))
                .collect::<Result<Vec<_>, ConfigErrorKind>>()?;
            Box::new(stages::LabelEdit::Static(items))
        }
        StageConfig::Labeldrop(v) => Box::new(stages::LabelEdit::Drop(v.clone())),
        StageConfig::Labelallow(v) => Box::new(stages::LabelEdit::Allow(v.clone())),
        StageConfig::RenameLabels(m) => {
            let pairs = m
                .iter()
                .map(|(k, v)| Ok((k.clone(), label_name(v)?)))
                .collect::<Result<Vec<_>, ConfigErrorKind>>()?;
            Box::new(stages::LabelEdit::Rename(pairs))
        }
        StageConfig::Drop(c) => Box::new(stages::Filter {
            cond: compile_condition(c)?,
            keep: false,
        }),
        StageConfig::Keep(c) => Box::new(stages::Filter {
            cond: compile_condition(c)?,
            keep: true,
        }),
        StageConfig::Replace(r) => {
            let re = regex(&r.expression)?;
            let replace = if r.replace.contains("{{") {
                stages::Replacement::Template(
                    crate::pipeline::template::Template::new(&r.replace).map_err(|reason| {
                        ConfigErrorKind::BadTemplate {
                            template: r.replace.clone(),
                            reason,
                        }
                    })?,
                )
            } else {
                stages::Replacement::Text(r.replace.clone())
            };
            Box::new(stages::ReplaceStage {
                re,
                replace,
                source: r.source.clone(),
            })
        }
        StageConfig::Redact(r) => {
            let mut redactors = Vec::new();
            for name in &r.builtin {
                redactors.push(redact::Redactor::builtin(name).ok_or_else(|| {
                    ConfigErrorKind::UnknownBuiltin {
                        name: name.clone(),
                        known: redact::builtin_names().join(", "),
                    }
                })?);
            }
            for e in &r.expressions {
                redactors.push(redact::Redactor::custom(e).map_err(|err| {
                    ConfigErrorKind::BadRegex {
                        pattern: e.clone(),
                        reason: regex_reason(&err),
                    }
                })?);
            }
            if redactors.is_empty() {
                return Err(invalid("redact needs builtin names or expressions"));
            }
            Box::new(stages::RedactStage {
                redactors,
                replacement: r.replacement.clone().unwrap_or_else(|| "****".into()),
                source: r.source.clone(),
            })
        }
        StageConfig::Luhn(l) => {
            let r = redact::Redactor::luhn(l.min_length.unwrap_or(13)).map_err(|e| {
                ConfigErrorKind::BadRegex {
                    pattern: "luhn".into(),
                    reason: e.to_string(),
                }
            })?;
            Box::new(stages::RedactStage {
                redactors: vec![r],
                replacement: l
                    .replacement
                    .clone()
                    .unwrap_or_else(|| "**REDACTED**".into()),
                source: l.source.clone(),
            })
        }
        StageConfig::Decolorize(_) => Box::new(stages::DecolorizeStage),
        StageConfig::Output(o) => Box::new(stages::OutputStage {
            source: o.source.clone(),
        }),
        StageConfig::Metrics(m) => {
            let mut ms = Vec::new();
            for (name, mc) in m.iter() {
                ms.push(compile_metric(name, mc)?);
            }
            if ms.is_empty() {
                return Err(invalid("metrics needs at least one metric"));
            }
            let stage = Arc::new(MetricsStage { metrics: ms });
            metrics.push(stage.clone());
            Box::new(stage)
        }
    })
}

fn compile_condition(c: &ConditionConfig) -> Result<stages::Condition, ConfigErrorKind> {
    if c.value.is_some() && c.expression.is_some() {
        return Err(invalid("value and expression cannot both be set"));
    }
    if c.value.is_some() && c.source.is_none() {
        return Err(invalid("value needs a source"));
    }
    if c.source.is_none()
        && c.expression.is_none()
        && c.older_than.is_none()
        && c.longer_than.is_none()
    {
        return Err(invalid(
            "at least one of source, expression, older_than or longer_than is needed",
        ));
    }
    let longer_than = match &c.longer_than {
        None => None,
        Some(ByteSize::Bytes(n)) => Some(usize::try_from(*n).unwrap_or(usize::MAX)),
        Some(ByteSize::Text(t)) => Some(
            crate::pipeline::bytes_of(t)
                .filter(|b| *b >= 0.0)
                .map(|b| b as usize)
                .ok_or_else(|| ConfigErrorKind::BadSize(t.clone()))?,
        ),
    };
    Ok(stages::Condition {
        sources: c.source.as_ref().map(OneOrMany::names),
        separator: c.separator.clone().unwrap_or_else(|| ";".into()),
        expression: c.expression.as_deref().map(regex).transpose()?,
        value: c.value.clone(),
        older_than_ns: c.older_than.as_deref().map(duration_ns).transpose()?,
        longer_than,
    })
}

fn compile_metric(name: &str, mc: &MetricConfig) -> Result<Metric, ConfigErrorKind> {
    let full = format!("{}{name}", mc.prefix.as_deref().unwrap_or(""));
    if !is_valid_metric_name(&full) {
        return Err(ConfigErrorKind::BadMetricName(full));
    }
    let inner = mc.config.clone().unwrap_or_default();
    let action = mc.action.or(inner.action).unwrap_or(MetricAction::Inc);
    let value = mc.value.clone().or(inner.value);
    let count_bytes = mc
        .count_entry_bytes
        .or(inner.count_entry_bytes)
        .unwrap_or(false);
    match (mc.kind, action) {
        (MetricKind::Histogram, _) => {
            return Err(invalid(format!(
                "{full}: histogram metrics are not supported (counter and gauge are)"
            )))
        }
        (MetricKind::Counter, MetricAction::Inc | MetricAction::Add) => {}
        (MetricKind::Counter, a) => {
            return Err(invalid(format!(
                "{full}: a counter's action is inc or add, not {}",
                format!("{a:?}").to_lowercase()
            )))
        }
        (MetricKind::Gauge, _) => {}
    }
    if matches!(
        action,
        MetricAction::Add | MetricAction::Set | MetricAction::Sub
    ) && mc.source.is_none()
    {
        return Err(invalid(format!(
            "{full}: action {} needs a source",
            format!("{action:?}").to_lowercase()
        )));
    }
    if value.is_some() && mc.source.is_none() {
        return Err(invalid(format!("{full}: value needs a source")));
    }
    let filter = match &mc.match_ {
        None => None,
        Some(q) => Some(compile_match(q)?),
    };
    let labels = match &mc.labels {
        None => None,
        Some(ls) => {
            let mut names: Vec<String> = Vec::with_capacity(ls.len());
            for l in ls {
                let l = label_name(l)?;
                if !names.contains(&l) {
                    names.push(l);
                }
            }
            Some(names)
        }
    };
    let max_idle_ns = match &mc.max_idle_duration {
        None => DEFAULT_MAX_IDLE_NS,
        Some(d) => duration_ns(d)?,
    };
    Ok(Metric::new(
        full,
        mc.kind,
        mc.description.clone().unwrap_or_default(),
        mc.source.clone(),
        value,
        filter,
        action,
        labels,
        count_bytes,
        mc.max_series.unwrap_or(DEFAULT_MAX_SERIES).max(1),
        max_idle_ns,
    ))
}

/// A metric's `match`: a LogQL pipeline (`|= "error" | json | status >= 500`).
fn compile_match(q: &str) -> Result<(crate::pipeline::Pipeline, bool), ConfigErrorKind> {
    const PREFIX: &str = "{__match__=\"x\"} ";
    let bad = |reason: String| ConfigErrorKind::BadMatch {
        query: q.to_string(),
        reason,
    };
    let expr = crate::logql::parse_expr(&format!("{PREFIX}{q}")).map_err(|e| {
        // Positions as in `q` itself.
        let col = e.col.saturating_sub(PREFIX.chars().count()).max(1);
        bad(format!("col {col}: {}", e.msg))
    })?;
    let crate::logql::Expr::Log(l) = expr else {
        return Err(bad("a log pipeline such as |= \"error\" is expected".into()));
    };
    let p = crate::pipeline::Pipeline::new(&l.stages).map_err(|e| bad(e.to_string()))?;
    let line_only = p.is_line_filter_only();
    Ok((p, line_only))
}
