//! The `logs.pipelines` configuration as it is written in YAML, and the
//! errors of turning it into a [`super::Processor`].
//!
//! Stage names and fields follow Promtail's `pipeline_stages` where Promtail
//! has the stage (`regex`, `json`, `logfmt`, `timestamp`, `labels`,
//! `structured_metadata`, `static_labels`, `labeldrop`, `labelallow`, `drop`,
//! `replace`, `output`, `luhn`, `decolorize`, `metrics`); pharos adds `grok`,
//! `keep`, `rename_labels` and `redact`. Maps keep the order they are written
//! in. Nothing here compiles or checks values beyond their YAML types: that
//! is `Processor::new`'s job, whose errors name the pipeline and the stage.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// A map that keeps the order its keys are written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderedMap<K, V>(pub Vec<(K, V)>);

impl<K, V> Default for OrderedMap<K, V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<K, V> OrderedMap<K, V> {
    /// True when the map has no key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs in written order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for V2<K, V> {
            type Value = OrderedMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry()? {
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(OrderedMap(Vec::new()))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

/// One string or a list of strings (`source: a` or `source: [a, b]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The names, in order.
    pub fn names(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// A size: a number of bytes or a string such as `8KB` (1000-based) or
/// `8KiB` (1024-based).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ByteSize {
    Bytes(u64),
    Text(String),
}

/// One entry of `logs.pipelines`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// A LogQL stream selector (`{app="nginx"}`), matched against the
    /// labels a stream arrives with; absent: every stream.
    #[serde(default)]
    pub selector: Option<String>,
    /// The stages, applied in order to each entry.
    #[serde(default)]
    pub stages: Vec<StageConfig>,
    /// Distinct values a `labels` stage of this pipeline promotes per label
    /// name (the cardinality guard); default 100.
    #[serde(default)]
    pub max_label_values: Option<usize>,
    /// Longest value a `labels` stage promotes, in bytes; longer values go
    /// to structured metadata. Default 2048 (the store's limit).
    #[serde(default)]
    pub max_label_value_length: Option<usize>,
}

/// One stage: a one-key map naming the stage (`- json: {...}`).
#[derive(Debug, Clone, PartialEq)]
pub enum StageConfig {
    /// pharos: Logstash grok patterns, `%{NAME:field}`.
    Grok(GrokConfig),
    /// Promtail: a regular expression with named captures.
    Regex(RegexConfig),
    /// Promtail: fields of a JSON line.
    Json(JsonConfig),
    /// Promtail: fields of a logfmt line.
    Logfmt(LogfmtConfig),
    /// Promtail: the entry's time from a field.
    Timestamp(TimestampConfig),
    /// Promtail: extracted fields to labels (`label: source`, empty source:
    /// the same name), under the cardinality guard.
    Labels(OrderedMap<String, Option<String>>),
    /// Promtail: extracted fields to structured metadata.
    StructuredMetadata(OrderedMap<String, Option<String>>),
    /// Promtail: constant labels (an empty value removes the label).
    StaticLabels(OrderedMap<String, Option<String>>),
    /// Promtail: labels to remove.
    Labeldrop(Vec<String>),
    /// Promtail: the only labels to keep.
    Labelallow(Vec<String>),
    /// pharos: `from: to` renames.
    RenameLabels(OrderedMap<String, String>),
    /// Promtail: drop entries meeting every condition given.
    Drop(ConditionConfig),
    /// pharos: keep only entries meeting every condition given.
    Keep(ConditionConfig),
    /// Promtail: rewrite what a regular expression matches.
    Replace(ReplaceConfig),
    /// pharos: built-in redaction patterns.
    Redact(RedactConfig),
    /// Promtail: redact numbers passing the Luhn check (card numbers).
    Luhn(LuhnConfig),
    /// Promtail: strip ANSI colour sequences.
    Decolorize(Option<EmptyConfig>),
    /// Promtail: an extracted field becomes the line.
    Output(OutputConfig),
    /// Promtail (written to the metrics store here): counters and gauges.
    Metrics(OrderedMap<String, MetricConfig>),
}

/// Every stage name, as written.
pub const STAGE_NAMES: [&str; 19] = [
    "grok",
    "regex",
    "json",
    "logfmt",
    "timestamp",
    "labels",
    "structured_metadata",
    "static_labels",
    "labeldrop",
    "labelallow",
    "rename_labels",
    "drop",
    "keep",
    "replace",
    "redact",
    "luhn",
    "decolorize",
    "output",
    "metrics",
];

impl<'de> Deserialize<'de> for StageConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct StageVisitor;
        impl<'de> Visitor<'de> for StageVisitor {
            type Value = StageConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a stage: a map with one key naming the stage, e.g. `json: {...}`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<StageConfig, A::Error> {
                use serde::de::Error;
                let Some(name) = m.next_key::<String>()? else {
                    return Err(A::Error::custom(
                        "empty stage: write a map with one key naming the stage",
                    ));
                };
                let stage = match name.as_str() {
                    "grok" => StageConfig::Grok(m.next_value()?),
                    "regex" => StageConfig::Regex(m.next_value()?),
                    "json" => StageConfig::Json(m.next_value()?),
                    "logfmt" => StageConfig::Logfmt(m.next_value()?),
                    "timestamp" => StageConfig::Timestamp(m.next_value()?),
                    "labels" => StageConfig::Labels(m.next_value()?),
                    "structured_metadata" => StageConfig::StructuredMetadata(m.next_value()?),
                    "static_labels" => StageConfig::StaticLabels(m.next_value()?),
                    "labeldrop" => StageConfig::Labeldrop(m.next_value()?),
                    "labelallow" => StageConfig::Labelallow(m.next_value()?),
                    "rename_labels" => StageConfig::RenameLabels(m.next_value()?),
                    "drop" => StageConfig::Drop(m.next_value()?),
                    "keep" => StageConfig::Keep(m.next_value()?),
                    "replace" => StageConfig::Replace(m.next_value()?),
                    "redact" => StageConfig::Redact(m.next_value()?),
                    "luhn" => StageConfig::Luhn(m.next_value()?),
                    "decolorize" => StageConfig::Decolorize(m.next_value()?),
                    "output" => StageConfig::Output(m.next_value()?),
                    "metrics" => StageConfig::Metrics(m.next_value()?),
                    other => return Err(A::Error::unknown_variant(other, &STAGE_NAMES)),
                };
                if let Some(k) = m.next_key::<String>()? {
                    return Err(A::Error::custom(format!(
                        "a stage is a map with one key; found {k:?} after {name:?} (start a new list item with -)"
                    )));
                }
                Ok(stage)
            }
        }
        d.deserialize_map(StageVisitor)
    }
}

impl StageConfig {
    /// The stage's name as written in the configuration.
    pub fn name(&self) -> &'static str {
        match self {
            StageConfig::Grok(_) => "grok",
            StageConfig::Regex(_) => "regex",
            StageConfig::Json(_) => "json",
            StageConfig::Logfmt(_) => "logfmt",
            StageConfig::Timestamp(_) => "timestamp",
            StageConfig::Labels(_) => "labels",
            StageConfig::StructuredMetadata(_) => "structured_metadata",
            StageConfig::StaticLabels(_) => "static_labels",
            StageConfig::Labeldrop(_) => "labeldrop",
            StageConfig::Labelallow(_) => "labelallow",
            StageConfig::RenameLabels(_) => "rename_labels",
            StageConfig::Drop(_) => "drop",
            StageConfig::Keep(_) => "keep",
            StageConfig::Replace(_) => "replace",
            StageConfig::Redact(_) => "redact",
            StageConfig::Luhn(_) => "luhn",
            StageConfig::Decolorize(_) => "decolorize",
            StageConfig::Output(_) => "output",
            StageConfig::Metrics(_) => "metrics",
        }
    }
}

/// A stage without settings (`- decolorize: {}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyConfig {}

/// `grok`: `pattern` (or several `patterns`, the first that matches wins),
/// `pattern_definitions` (your own `NAME: regex`), `source`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrokConfig {
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub patterns: Vec<String>,
    #[serde(default)]
    pub pattern_definitions: OrderedMap<String, String>,
    #[serde(default)]
    pub source: Option<String>,
}

/// `regex`: `expression` with named captures, on the line or `source`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexConfig {
    pub expression: String,
    #[serde(default)]
    pub source: Option<String>,
}

/// `json`: `expressions` (`name: path`, empty path: the same name; none:
/// every field, nested names joined with `_`), `source`, `drop_malformed`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonConfig {
    #[serde(default)]
    pub expressions: OrderedMap<String, Option<String>>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub drop_malformed: bool,
}

/// `logfmt`: `mapping` (`name: key`, empty key: the same name; none: every
/// key), `source`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogfmtConfig {
    #[serde(default)]
    pub mapping: OrderedMap<String, Option<String>>,
    #[serde(default)]
    pub source: Option<String>,
}

/// What the `timestamp` stage does when the field does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// The previous parsed time of the stream in the same push plus 1 ns
    /// (else the entry's own time), as Promtail does.
    #[default]
    Fudge,
    /// Keep the entry's own time.
    Skip,
}

/// `timestamp`: `source`, `format`, `fallback_formats`, `location`,
/// `action_on_failure`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampConfig {
    pub source: String,
    pub format: String,
    #[serde(default)]
    pub fallback_formats: Vec<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub action_on_failure: OnFailure,
}

/// The conditions of `drop` and `keep`; every condition given must hold.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// Field(s) tested; several are joined with `separator`.
    #[serde(default)]
    pub source: Option<OneOrMany>,
    #[serde(default)]
    pub separator: Option<String>,
    /// A regular expression the field (or, without `source`, the line) matches.
    #[serde(default)]
    pub expression: Option<String>,
    /// A value the field equals.
    #[serde(default)]
    pub value: Option<String>,
    /// The entry is older than this (`24h`, `7d`).
    #[serde(default)]
    pub older_than: Option<String>,
    /// The line is longer than this (`8KB`, `8KiB`, `8000`).
    #[serde(default)]
    pub longer_than: Option<ByteSize>,
    /// Promtail's reason label for its drop counter; accepted and kept as
    /// the stage's name in pharos's own metrics.
    #[serde(default)]
    pub drop_counter_reason: Option<String>,
}

/// `replace`: `expression`, `replace` (text, `{{ .Value }}` is the matched
/// text), `source`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceConfig {
    pub expression: String,
    #[serde(default)]
    pub replace: String,
    #[serde(default)]
    pub source: Option<String>,
}

/// `redact`: `builtin` names, your own `expressions`, `replacement`, `source`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactConfig {
    #[serde(default)]
    pub builtin: Vec<String>,
    #[serde(default)]
    pub expressions: Vec<String>,
    #[serde(default)]
    pub replacement: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
}

/// `luhn`: `min_length` (13), `replacement` (`**REDACTED**`), `source`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LuhnConfig {
    #[serde(default)]
    pub min_length: Option<usize>,
    #[serde(default)]
    pub replacement: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
}

/// `output`: the extracted field that becomes the line.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    pub source: String,
}

/// A metric's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum MetricKind {
    #[serde(rename = "counter", alias = "Counter")]
    Counter,
    #[serde(rename = "gauge", alias = "Gauge")]
    Gauge,
    #[serde(rename = "histogram", alias = "Histogram")]
    Histogram,
}

/// What a matching entry does to its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricAction {
    /// Add 1 (or the line's bytes with `count_entry_bytes`).
    Inc,
    /// Add the number in `source`.
    Add,
    /// Gauges: set to the number in `source`.
    Set,
    /// Gauges: subtract 1.
    Dec,
    /// Gauges: subtract the number in `source`.
    Sub,
}

/// Promtail's nested `config:` of a metric; its fields may also be written
/// at the metric's level.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromtailMetricConfig {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub action: Option<MetricAction>,
    #[serde(default)]
    pub match_all: Option<bool>,
    #[serde(default)]
    pub count_entry_bytes: Option<bool>,
}

/// One metric of a `metrics` stage.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    #[serde(rename = "type")]
    pub kind: MetricKind,
    #[serde(default)]
    pub description: Option<String>,
    /// Prepended to the metric's name.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The field holding the number (`add`, `set`, `sub`), or compared
    /// with `value`.
    #[serde(default)]
    pub source: Option<String>,
    /// Only entries whose `source` equals this count.
    #[serde(default)]
    pub value: Option<String>,
    /// A LogQL pipeline an entry must pass to count: line filters and
    /// label filters (`|= "error"`, `| status >= 500`).
    #[serde(default, rename = "match")]
    pub match_: Option<String>,
    #[serde(default)]
    pub action: Option<MetricAction>,
    /// The series' labels: these names (from labels, then extracted fields,
    /// then metadata); absent: every label of the entry.
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    #[serde(default)]
    pub count_entry_bytes: Option<bool>,
    #[serde(default)]
    pub match_all: Option<bool>,
    /// Most series this metric keeps (default 1000); entries that would
    /// make more are counted as refused.
    #[serde(default)]
    pub max_series: Option<usize>,
    /// A series not updated for this long is ended with a staleness marker
    /// and forgotten (default `5m`).
    #[serde(default)]
    pub max_idle_duration: Option<String>,
    #[serde(default)]
    pub config: Option<PromtailMetricConfig>,
}

/// Why a configuration could not be turned into a processor. Displays as
/// `logs.pipelines[0].stages[2] (grok): unknown pattern %{FOO}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {kind}", self.location())]
pub struct ConfigError {
    /// Index of the pipeline in `logs.pipelines`.
    pub pipeline: usize,
    /// Index and name of the stage, when the fault is in a stage.
    pub stage: Option<(usize, &'static str)>,
    pub kind: ConfigErrorKind,
}

impl ConfigError {
    /// Where the fault is: `logs.pipelines[0].selector` or
    /// `logs.pipelines[0].stages[2] (grok)`.
    pub fn location(&self) -> String {
        match self.stage {
            Some((i, name)) => format!("logs.pipelines[{}].stages[{i}] ({name})", self.pipeline),
            None => match self.kind {
                ConfigErrorKind::BadSelector(_) => {
                    format!("logs.pipelines[{}].selector", self.pipeline)
                }
                _ => format!("logs.pipelines[{}]", self.pipeline),
            },
        }
    }
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    #[error("invalid selector: {0}")]
    BadSelector(String),
    #[error("unknown pattern %{{{0}}}")]
    UnknownGrokPattern(String),
    #[error("invalid grok pattern {pattern:?}: {reason}")]
    BadGrok { pattern: String, reason: String },
    #[error("invalid regular expression {pattern:?}: {reason}")]
    BadRegex { pattern: String, reason: String },
    #[error("expression {0:?} has no named capture group")]
    NoNamedGroup(String),
    #[error("invalid label name {0:?}")]
    BadLabelName(String),
    #[error("invalid metric name {0:?}")]
    BadMetricName(String),
    #[error("invalid JSON path {path:?}: {reason}")]
    BadJsonPath { path: String, reason: String },
    #[error("invalid timestamp format {format:?}: {reason}")]
    BadTimeFormat { format: String, reason: String },
    #[error("invalid location {0:?}: use UTC or an offset such as +02:00")]
    BadLocation(String),
    #[error("invalid duration {0:?}")]
    BadDuration(String),
    #[error("invalid size {0:?}")]
    BadSize(String),
    #[error("unknown built-in pattern {name:?} (known: {known})")]
    UnknownBuiltin { name: String, known: String },
    #[error("invalid template {template:?}: {reason}")]
    BadTemplate { template: String, reason: String },
    #[error("invalid match {query:?}: {reason}")]
    BadMatch { query: String, reason: String },
    /// A setting is missing, or two settings conflict.
    #[error("{0}")]
    Invalid(String),
}
