//! OTLP metrics to Prometheus series, following the OpenTelemetry "Prometheus
//! and OpenMetrics Compatibility" specification the way Prometheus's own OTLP
//! receiver does.
//!
//! | OTLP | Prometheus |
//! |---|---|
//! | gauge | gauge |
//! | cumulative monotonic sum | counter, `_total` |
//! | cumulative non-monotonic sum | gauge |
//! | cumulative histogram | `_bucket{le}` (cumulative, ending in `+Inf` = count), `_sum`, `_count` |
//! | cumulative exponential histogram | classic buckets, see below |
//! | summary | `{quantile}`, `_sum`, `_count` |
//! | delta sum, histogram, exp. histogram | **rejected**: counted in `rejected_points`, with a message |
//!
//! **Delta temporality** is refused rather than accumulated: turning deltas into
//! cumulative values needs state across requests and a single writer per
//! series, which a stateless receiver cannot promise. The message asks the
//! user to configure the exporter for cumulative temporality (the OpenTelemetry
//! SDKs' `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative`, the
//! default of most SDKs).
//!
//! **Exponential histograms** become classic histograms until pharos has native
//! histograms. With `base = 2^(2^-scale)`, a positive bucket at index `i`
//! (`offset + position`) holds `(base^i, base^(i+1)]`, so it becomes
//! `_bucket{le="base^(i+1)"}`; the zero bucket becomes `le="<zero_threshold>"`
//! (`le="0"` when the threshold is 0); a negative bucket at index `i` holds
//! `[-base^(i+1), -base^i)` and becomes `le="-base^i"`. Buckets are emitted in
//! ascending `le` order with cumulative counts, every bucket in the sent range
//! (empty ones included), then `le="+Inf"` = count, `_sum`, `_count`. Scales
//! outside `[-10, 20]` are rejected. `min` and `max` are dropped.
//!
//! Resources: `service.name` (prefixed by `service.namespace/`) becomes `job`,
//! `service.instance.id` becomes `instance`, and the other resource attributes
//! are the labels of one `target_info` sample (value 1, at the resource's latest
//! timestamp), unless there are none. Attributes listed in
//! [`OtlpOptions::promote_resource_attributes`] are also copied to every series.
//! Instrumentation scopes are dropped.
//!
//! Points: timestamps are converted from nanoseconds to milliseconds; a point
//! without a timestamp or value is rejected; the `NoRecordedValue` flag becomes
//! the staleness marker. Exemplars keep `trace_id` and `span_id` as hex labels
//! plus as many filtered attributes as fit the 128-character exemplar limit;
//! histogram exemplars go to the first bucket whose `le` holds their value.

use std::collections::{BTreeMap, HashMap, HashSet};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric::Data, number_data_point, AggregationTemporality, DataPointFlags,
    Exemplar as OtlpExemplar, ExponentialHistogramDataPoint, HistogramDataPoint, Metric,
    NumberDataPoint, SummaryDataPoint,
};
use pharos_model::{Exemplar, Label, Labels, MetricMetadata, MetricType, Sample, STALE_NAN};

use super::names::{format_float, label_name, metric_name, prometheus_unit, NameKind};

/// Longest exemplar label set, in characters of names and values (OpenMetrics).
const MAX_EXEMPLAR_LABELS_CHARS: usize = 128;
/// How many distinct problem messages [`Converted::messages`] keeps.
const MAX_MESSAGES: usize = 10;
/// The exponential histogram scales the OTLP specification allows.
const SCALES: std::ops::RangeInclusive<i32> = -10..=20;

/// How OTLP metrics are mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpOptions {
    /// Add unit suffixes, `_total` and `_ratio` (default true); when false the
    /// name is only sanitised.
    pub add_metric_suffixes: bool,
    /// Resource attributes (OTLP keys) copied as labels onto every series of
    /// their resource, besides `job` and `instance`.
    pub promote_resource_attributes: Vec<String>,
    /// Emit a `target_info` series per resource (default true).
    pub target_info: bool,
}

impl Default for OtlpOptions {
    fn default() -> Self {
        OtlpOptions {
            add_metric_suffixes: true,
            promote_resource_attributes: Vec::new(),
            target_info: true,
        }
    }
}

/// The result of [`convert`]: series to append and what was refused.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Converted {
    /// One entry per distinct label set; samples sorted by time.
    pub series: Vec<(Labels, Vec<Sample>, Vec<Exemplar>)>,
    /// Metric family name and its metadata, one per family.
    pub metadata: Vec<(String, MetricMetadata)>,
    /// OTLP data points refused (`partial_success.rejected_data_points`).
    pub rejected_points: i64,
    /// Distinct problems, at most a few (`partial_success.error_message`).
    pub messages: Vec<String>,
}

impl Converted {
    /// The messages joined for `partial_success.error_message`.
    pub fn error_message(&self) -> String {
        self.messages.join("; ")
    }
}

/// Converts an OTLP metrics request to Prometheus series. Never fails: what
/// cannot be converted is counted and described in the result.
pub fn convert(req: &ExportMetricsServiceRequest, opts: &OtlpOptions) -> Converted {
    let mut out = Out::new(opts);
    for rm in &req.resource_metrics {
        let attrs = rm
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        let mut res = Resource::new(attrs, opts);
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                out.metric(&mut res, m);
            }
        }
        out.target_info(&res);
    }
    out.finish()
}

/// Labels that come from the resource.
struct Resource {
    /// `job` and `instance`, which override point attributes.
    identity: Vec<(String, String)>,
    /// Promoted attributes, which do not override point attributes.
    promoted: Vec<(String, String)>,
    /// The other attributes, for `target_info`.
    info: BTreeMap<String, String>,
    /// Latest accepted timestamp, for `target_info`.
    max_t: Option<i64>,
}

impl Resource {
    fn new(attrs: &[KeyValue], opts: &OtlpOptions) -> Resource {
        let get = |k: &str| {
            attrs
                .iter()
                .find(|a| a.key == k)
                .map(|a| value_string(&a.value))
                .unwrap_or_default()
        };
        let (name, ns, id) = (
            get("service.name"),
            get("service.namespace"),
            get("service.instance.id"),
        );
        let mut identity = Vec::new();
        if !name.is_empty() {
            let job = if ns.is_empty() {
                name
            } else {
                format!("{ns}/{name}")
            };
            identity.push(("job".to_string(), job));
        }
        if !id.is_empty() {
            identity.push(("instance".to_string(), id));
        }
        let promoted = attrs_to_labels(
            attrs
                .iter()
                .filter(|a| opts.promote_resource_attributes.contains(&a.key)),
        )
        .into_iter()
        .collect();
        let info = attrs_to_labels(attrs.iter().filter(|a| {
            !matches!(
                a.key.as_str(),
                "service.name" | "service.namespace" | "service.instance.id"
            )
        }));
        Resource {
            identity,
            promoted,
            info,
            max_t: None,
        }
    }
}

/// Point attributes to labels: names sanitised, values stringified, empty
/// values dropped, and values of keys that sanitise to one name joined with
/// `;` in the order of the original keys.
fn attrs_to_labels<'a>(attrs: impl Iterator<Item = &'a KeyValue>) -> BTreeMap<String, String> {
    let mut sorted: Vec<&KeyValue> = attrs.collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for a in sorted {
        let value = value_string(&a.value);
        let Some(name) = label_name(&a.key) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        match out.get_mut(&name) {
            Some(v) => {
                v.push(';');
                v.push_str(&value);
            }
            None => {
                out.insert(name, value);
            }
        }
    }
    out
}

/// An attribute value as a label value, as the OpenTelemetry collector prints it.
fn value_string(v: &Option<AnyValue>) -> String {
    use any_value::Value as V;
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        None | Some(V::StringValueStrindex(_)) => String::new(),
        Some(V::StringValue(s)) => s.clone(),
        Some(V::BoolValue(b)) => b.to_string(),
        Some(V::IntValue(i)) => i.to_string(),
        Some(V::DoubleValue(d)) => format_float(*d),
        Some(V::BytesValue(b)) => base64(b),
        Some(V::ArrayValue(_)) | Some(V::KvlistValue(_)) => {
            v.as_ref().map(json_value).unwrap_or_default().to_string()
        }
    }
}

/// An attribute value as JSON, for arrays and maps.
fn json_value(v: &AnyValue) -> serde_json::Value {
    use any_value::Value as V;
    use serde_json::Value as J;
    match &v.value {
        None | Some(V::StringValueStrindex(_)) => J::Null,
        Some(V::StringValue(s)) => J::String(s.clone()),
        Some(V::BoolValue(b)) => J::Bool(*b),
        Some(V::IntValue(i)) => J::from(*i),
        Some(V::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(J::Number)
            .unwrap_or(J::Null),
        Some(V::BytesValue(b)) => J::String(base64(b)),
        Some(V::ArrayValue(a)) => J::Array(a.values.iter().map(json_value).collect()),
        Some(V::KvlistValue(kv)) => J::Object(
            kv.values
                .iter()
                .map(|e| {
                    (
                        e.key.clone(),
                        e.value.as_ref().map(json_value).unwrap_or(J::Null),
                    )
                })
                .collect(),
        ),
    }
}

/// Standard base64 with padding.
fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (c.get(1).copied().unwrap_or(0) as u32) << 8
            | c.get(2).copied().unwrap_or(0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Nanoseconds to milliseconds; 0 (unset) is no timestamp.
fn millis(ns: u64) -> Option<i64> {
    (ns != 0).then_some((ns / 1_000_000) as i64)
}

fn is_stale(flags: u32) -> bool {
    flags & DataPointFlags::NoRecordedValueMask as u32 != 0
}

fn exemplar_value(e: &OtlpExemplar) -> Option<f64> {
    match e.value? {
        exemplar::Value::AsDouble(d) => Some(d),
        exemplar::Value::AsInt(i) => Some(i as f64),
    }
}

/// An OTLP exemplar in the model; `None` if it has no value.
fn convert_exemplar(e: &OtlpExemplar) -> Option<Exemplar> {
    let value = exemplar_value(e)?;
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    let mut chars = 0;
    if !e.trace_id.is_empty() {
        let v = hex(&e.trace_id);
        chars += "trace_id".len() + v.len();
        labels.insert("trace_id".into(), v);
    }
    if !e.span_id.is_empty() {
        let v = hex(&e.span_id);
        chars += "span_id".len() + v.len();
        labels.insert("span_id".into(), v);
    }
    for (n, v) in attrs_to_labels(e.filtered_attributes.iter()) {
        let c = n.chars().count() + v.chars().count();
        if labels.contains_key(&n) || chars + c > MAX_EXEMPLAR_LABELS_CHARS {
            continue;
        }
        chars += c;
        labels.insert(n, v);
    }
    Some(Exemplar {
        labels: to_labels(labels),
        value,
        t: millis(e.time_unix_nano),
    })
}

fn to_labels(m: BTreeMap<String, String>) -> Labels {
    Labels::from_sorted_unchecked(
        m.into_iter()
            .map(|(name, value)| Label { name, value })
            .collect(),
    )
}

/// The accumulating result.
struct Out<'o> {
    opts: &'o OtlpOptions,
    series: Vec<(Labels, Vec<Sample>, Vec<Exemplar>)>,
    index: HashMap<Labels, usize>,
    metadata: Vec<(String, MetricMetadata)>,
    families: HashSet<String>,
    rejected_points: i64,
    messages: Vec<String>,
    seen_messages: HashSet<String>,
    more_messages: usize,
}

/// What every point of one metric shares.
struct Family<'m> {
    /// The Prometheus name (`_total` included for counters).
    name: String,
    /// The OTLP name, for messages.
    otlp_name: &'m str,
}

impl<'o> Out<'o> {
    fn new(opts: &'o OtlpOptions) -> Self {
        Out {
            opts,
            series: Vec::new(),
            index: HashMap::new(),
            metadata: Vec::new(),
            families: HashSet::new(),
            rejected_points: 0,
            messages: Vec::new(),
            seen_messages: HashSet::new(),
            more_messages: 0,
        }
    }

    fn finish(mut self) -> Converted {
        for (_, samples, _) in &mut self.series {
            samples.sort_by_key(|s| s.t);
        }
        if self.more_messages > 0 {
            self.messages
                .push(format!("and {} more problems", self.more_messages));
        }
        Converted {
            series: self.series,
            metadata: self.metadata,
            rejected_points: self.rejected_points,
            messages: self.messages,
        }
    }

    fn reject(&mut self, points: usize, message: String) {
        self.rejected_points += points as i64;
        if self.seen_messages.contains(&message) {
            return;
        }
        if self.messages.len() >= MAX_MESSAGES {
            self.more_messages += 1;
        } else {
            self.messages.push(message.clone());
        }
        self.seen_messages.insert(message);
    }

    fn add(&mut self, labels: Labels, sample: Sample, exemplars: Vec<Exemplar>) {
        match self.index.get(&labels) {
            Some(&i) => {
                let s = &mut self.series[i];
                s.1.push(sample);
                s.2.extend(exemplars);
            }
            None => {
                self.index.insert(labels.clone(), self.series.len());
                self.series.push((labels, vec![sample], exemplars));
            }
        }
    }

    fn describe(&mut self, name: &str, metric_type: MetricType, m: &Metric) {
        if self.families.insert(name.to_string()) {
            let meta = MetricMetadata {
                metric_type,
                help: m.description.clone(),
                unit: prometheus_unit(&m.unit),
            };
            self.metadata.push((name.to_string(), meta));
        }
    }

    /// Labels of one series: point attributes, then promoted resource
    /// attributes where absent, then `job`/`instance`, then `__name__` and `extra`.
    fn labels(
        &self,
        res: &Resource,
        attrs: &[KeyValue],
        name: &str,
        extra: Option<(&str, String)>,
    ) -> Labels {
        let mut m = attrs_to_labels(attrs.iter());
        for (k, v) in &res.promoted {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for (k, v) in &res.identity {
            m.insert(k.clone(), v.clone());
        }
        m.insert(pharos_model::METRIC_NAME.to_string(), name.to_string());
        if let Some((k, v)) = extra {
            m.insert(k.to_string(), v);
        }
        to_labels(m)
    }

    fn metric(&mut self, res: &mut Resource, m: &Metric) {
        let (kind, metric_type, points, temporality) = match &m.data {
            None => {
                self.reject(0, format!("metric {:?}: no data", m.name));
                return;
            }
            Some(Data::Gauge(g)) => (
                NameKind::Gauge,
                MetricType::Gauge,
                g.data_points.len(),
                None,
            ),
            Some(Data::Sum(s)) if s.is_monotonic => (
                NameKind::Counter,
                MetricType::Counter,
                s.data_points.len(),
                Some(s.aggregation_temporality),
            ),
            Some(Data::Sum(s)) => (
                NameKind::Gauge,
                MetricType::Gauge,
                s.data_points.len(),
                Some(s.aggregation_temporality),
            ),
            Some(Data::Histogram(h)) => (
                NameKind::Other,
                MetricType::Histogram,
                h.data_points.len(),
                Some(h.aggregation_temporality),
            ),
            Some(Data::ExponentialHistogram(h)) => (
                NameKind::Other,
                MetricType::Histogram,
                h.data_points.len(),
                Some(h.aggregation_temporality),
            ),
            Some(Data::Summary(s)) => (
                NameKind::Other,
                MetricType::Summary,
                s.data_points.len(),
                None,
            ),
        };
        let Some(name) = metric_name(&m.name, &m.unit, kind, self.opts.add_metric_suffixes) else {
            let why = if m.name.is_empty() {
                "metric without a name".to_string()
            } else {
                format!("metric {:?}: name has no letters or digits", m.name)
            };
            self.reject(points, why);
            return;
        };
        match temporality {
            Some(t) if t == AggregationTemporality::Delta as i32 => {
                self.reject(points, format!(
                    "metric {:?}: delta temporality is not supported; configure the exporter for cumulative temporality",
                    m.name
                ));
                return;
            }
            Some(t) if t != AggregationTemporality::Cumulative as i32 => {
                self.reject(
                    points,
                    format!(
                        "metric {:?}: aggregation temporality {t} is not cumulative",
                        m.name
                    ),
                );
                return;
            }
            _ => {}
        }
        if points > 0 {
            self.describe(&name, metric_type, m);
        }
        let fam = Family {
            name,
            otlp_name: &m.name,
        };
        match &m.data {
            Some(Data::Gauge(g)) => g.data_points.iter().for_each(|p| self.number(res, &fam, p)),
            Some(Data::Sum(s)) => s.data_points.iter().for_each(|p| self.number(res, &fam, p)),
            Some(Data::Histogram(h)) => h
                .data_points
                .iter()
                .for_each(|p| self.histogram(res, &fam, p)),
            Some(Data::ExponentialHistogram(h)) => h
                .data_points
                .iter()
                .for_each(|p| self.exp_histogram(res, &fam, p)),
            Some(Data::Summary(s)) => s
                .data_points
                .iter()
                .for_each(|p| self.summary(res, &fam, p)),
            None => {}
        }
    }

    /// The point's time in milliseconds, or a rejection.
    fn time(&mut self, res: &mut Resource, fam: &Family, ns: u64) -> Option<i64> {
        match millis(ns) {
            Some(t) => {
                res.max_t = Some(res.max_t.map_or(t, |m| m.max(t)));
                Some(t)
            }
            None => {
                self.reject(
                    1,
                    format!("metric {:?}: data point without a timestamp", fam.otlp_name),
                );
                None
            }
        }
    }

    fn number(&mut self, res: &mut Resource, fam: &Family, p: &NumberDataPoint) {
        let v = match p.value {
            _ if is_stale(p.flags) => STALE_NAN,
            Some(number_data_point::Value::AsDouble(d)) => d,
            Some(number_data_point::Value::AsInt(i)) => i as f64,
            None => {
                self.reject(
                    1,
                    format!("metric {:?}: data point without a value", fam.otlp_name),
                );
                return;
            }
        };
        let Some(t) = self.time(res, fam, p.time_unix_nano) else {
            return;
        };
        let labels = self.labels(res, &p.attributes, &fam.name, None);
        let exemplars = p.exemplars.iter().filter_map(convert_exemplar).collect();
        self.add(labels, Sample::new(t, v), exemplars);
    }

    fn summary(&mut self, res: &mut Resource, fam: &Family, p: &SummaryDataPoint) {
        let Some(t) = self.time(res, fam, p.time_unix_nano) else {
            return;
        };
        let stale = is_stale(p.flags);
        let val = |v: f64| if stale { STALE_NAN } else { v };
        for q in &p.quantile_values {
            let l = self.labels(
                res,
                &p.attributes,
                &fam.name,
                Some(("quantile", format_float(q.quantile))),
            );
            self.add(l, Sample::new(t, val(q.value)), Vec::new());
        }
        let l = self.labels(res, &p.attributes, &format!("{}_sum", fam.name), None);
        self.add(l, Sample::new(t, val(p.sum)), Vec::new());
        let l = self.labels(res, &p.attributes, &format!("{}_count", fam.name), None);
        self.add(l, Sample::new(t, val(p.count as f64)), Vec::new());
    }

    fn histogram(&mut self, res: &mut Resource, fam: &Family, p: &HistogramDataPoint) {
        let b = &p.explicit_bounds;
        if !p.bucket_counts.is_empty() && p.bucket_counts.len() != b.len() + 1 {
            let msg = format!(
                "metric {:?}: histogram has {} bucket counts for {} explicit bounds",
                fam.otlp_name,
                p.bucket_counts.len(),
                b.len()
            );
            self.reject(1, msg);
            return;
        }
        if b.iter().any(|x| x.is_nan()) || b.windows(2).any(|w| w[0] >= w[1]) {
            let msg = format!(
                "metric {:?}: histogram bounds are not increasing",
                fam.otlp_name
            );
            self.reject(1, msg);
            return;
        }
        let Some(t) = self.time(res, fam, p.time_unix_nano) else {
            return;
        };
        let mut buckets = Vec::with_capacity(b.len());
        let mut cum: u64 = 0;
        for (bound, count) in b.iter().zip(&p.bucket_counts) {
            cum = cum.saturating_add(*count);
            push_bucket(&mut buckets, *bound, cum);
        }
        let pt = Point {
            attrs: &p.attributes,
            t,
            stale: is_stale(p.flags),
            count: p.count,
            sum: p.sum,
        };
        self.emit_histogram(res, fam, &pt, &buckets, &p.exemplars);
    }

    fn exp_histogram(
        &mut self,
        res: &mut Resource,
        fam: &Family,
        p: &ExponentialHistogramDataPoint,
    ) {
        if !SCALES.contains(&p.scale) {
            let msg = format!(
                "metric {:?}: exponential histogram scale {} is outside [-10, 20]",
                fam.otlp_name, p.scale
            );
            self.reject(1, msg);
            return;
        }
        let Some(t) = self.time(res, fam, p.time_unix_nano) else {
            return;
        };
        let mut buckets = Vec::new();
        let mut cum: u64 = 0;
        if let Some(neg) = &p.negative {
            for (k, count) in neg.bucket_counts.iter().enumerate().rev() {
                cum = cum.saturating_add(*count);
                push_bucket(
                    &mut buckets,
                    -exp_bound(p.scale, neg.offset as i64 + k as i64),
                    cum,
                );
            }
        }
        cum = cum.saturating_add(p.zero_count);
        push_bucket(&mut buckets, p.zero_threshold.max(0.0), cum);
        if let Some(pos) = &p.positive {
            for (k, count) in pos.bucket_counts.iter().enumerate() {
                cum = cum.saturating_add(*count);
                push_bucket(
                    &mut buckets,
                    exp_bound(p.scale, pos.offset as i64 + k as i64 + 1),
                    cum,
                );
            }
        }
        let pt = Point {
            attrs: &p.attributes,
            t,
            stale: is_stale(p.flags),
            count: p.count,
            sum: p.sum,
        };
        self.emit_histogram(res, fam, &pt, &buckets, &p.exemplars);
    }

    /// `_bucket` series for `buckets` (ascending finite `le`, cumulative
    /// counts), `le="+Inf"` = count, `_sum` if known, `_count`.
    fn emit_histogram(
        &mut self,
        res: &Resource,
        fam: &Family,
        p: &Point,
        buckets: &[(f64, u64)],
        exemplars: &[OtlpExemplar],
    ) {
        let val = |v: f64| if p.stale { STALE_NAN } else { v };
        let mut per_bucket: Vec<Vec<Exemplar>> = vec![Vec::new(); buckets.len() + 1];
        for e in exemplars.iter().filter_map(convert_exemplar) {
            let i = buckets
                .iter()
                .position(|(le, _)| e.value <= *le)
                .unwrap_or(buckets.len());
            per_bucket[i].push(e);
        }
        let bucket_name = format!("{}_bucket", fam.name);
        let les = buckets
            .iter()
            .map(|(le, c)| (*le, *c))
            .chain(std::iter::once((f64::INFINITY, p.count)));
        for ((le, count), ex) in les.zip(per_bucket) {
            let l = self.labels(res, p.attrs, &bucket_name, Some(("le", format_float(le))));
            self.add(l, Sample::new(p.t, val(count as f64)), ex);
        }
        if let Some(sum) = p.sum {
            let l = self.labels(res, p.attrs, &format!("{}_sum", fam.name), None);
            self.add(l, Sample::new(p.t, val(sum)), Vec::new());
        }
        let l = self.labels(res, p.attrs, &format!("{}_count", fam.name), None);
        self.add(l, Sample::new(p.t, val(p.count as f64)), Vec::new());
    }

    fn target_info(&mut self, res: &Resource) {
        let Some(t) = res.max_t else { return };
        if !self.opts.target_info || res.info.is_empty() {
            return;
        }
        let mut m = res.info.clone();
        for (k, v) in &res.identity {
            m.insert(k.clone(), v.clone());
        }
        m.insert(
            pharos_model::METRIC_NAME.to_string(),
            "target_info".to_string(),
        );
        self.add(to_labels(m), Sample::new(t, 1.0), Vec::new());
        if self.families.insert("target_info".to_string()) {
            let meta = MetricMetadata {
                metric_type: MetricType::Gauge,
                help: "Target metadata".to_string(),
                unit: String::new(),
            };
            self.metadata.push(("target_info".to_string(), meta));
        }
    }
}

/// What the histogram emitter needs of a point.
struct Point<'p> {
    attrs: &'p [KeyValue],
    t: i64,
    stale: bool,
    count: u64,
    sum: Option<f64>,
}

/// Appends a bucket, keeping `le` strictly increasing and finite: an
/// infinite bound folds into `+Inf`, an equal or lower one into the previous bucket.
fn push_bucket(buckets: &mut Vec<(f64, u64)>, le: f64, cum: u64) {
    if !le.is_finite() {
        return;
    }
    match buckets.last_mut() {
        Some(last) if le <= last.0 => last.1 = cum,
        _ => buckets.push((le, cum)),
    }
}

/// `base^index` with `base = 2^(2^-scale)`.
fn exp_bound(scale: i32, index: i64) -> f64 {
    ((index as f64) * (-(scale as f64)).exp2()).exp2()
}
