//! From a parsed scrape body to appended samples: the storage side of one
//! scrape, as Prometheus 2.42's `scrapeLoop.append` and `report` do it.
//!
//! Owns [`SeriesState`] (the series of the previous scrape, for staleness and
//! `scrape_series_added`) and [`append_scrape`]: target labels merged with
//! `honor_labels` (a conflict renames the scraped label `exported_<name>`),
//! `metric_relabel_configs`, label limits and `sample_limit` (either fails
//! the whole scrape), `honor_timestamps`, metadata and exemplars, staleness
//! markers for series that disappeared, then the report series (`up`,
//! `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling`, `scrape_series_added`), all in
//! one appender transaction.
//!
//! Pure with respect to I/O other than the appender: knows nothing of HTTP,
//! timing or discovery.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use pharos_ingest::exposition::Scraped;
use pharos_model::{Appendable, Appender, LabelError, Labels, METRIC_NAME, STALE_NAN};

use crate::relabel::{self, RelabelConfig};
use crate::stats::{Counters, ScrapeCounts};

/// What one loop remembers between scrapes.
#[derive(Debug, Default, Clone)]
pub struct SeriesState {
    /// Series of the last scrape that take staleness markers (those without
    /// an honored explicit timestamp), by label hash.
    stale_tracked: HashMap<u64, Labels>,
    /// Every series appended by the last scrape, for `scrape_series_added`.
    seen: HashSet<u64>,
    /// Timestamp of the last report written, if any.
    last_report_ts: Option<i64>,
}

impl SeriesState {
    /// Number of series that would get staleness markers now.
    pub fn tracked(&self) -> usize {
        self.stale_tracked.len()
    }

    /// The timestamp of the last scrape reported.
    pub fn last_ts(&self) -> Option<i64> {
        self.last_report_ts
    }
}

/// The per-scrape settings of a target.
#[derive(Debug, Clone)]
pub struct AppendSettings<'a> {
    pub target_labels: &'a Labels,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub metric_relabel_configs: &'a [RelabelConfig],
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
}

/// What one scrape did, for the report series and the target's status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScrapeReport {
    pub samples_scraped: usize,
    pub samples_post_relabel: usize,
    pub series_added: usize,
    /// `None` if the scrape succeeded (up=1).
    pub error: Option<String>,
}

/// Why a scrape was refused while appending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AppendFailure {
    #[error("sample limit exceeded")]
    SampleLimit,
    #[error("{0}")]
    LabelLimit(String),
    #[error("invalid metric name or label names: {0}")]
    InvalidLabels(String),
}

/// Writes one scrape: `body` is the parsed body or the error of the scrape.
/// On any error, all series of the previous scrape get staleness markers and
/// `up` is 0. Report series are always written at `ts`.
pub(crate) fn append_scrape(
    appendable: &dyn Appendable,
    st: &mut SeriesState,
    s: &AppendSettings<'_>,
    body: Result<Scraped, String>,
    ts: i64,
    duration: Duration,
    counters: &Counters,
) -> ScrapeReport {
    let mut counts = ScrapeCounts::default();
    let mut app = appendable.appender();
    let mut report = ScrapeReport::default();
    match body {
        Ok(scraped) => {
            report.samples_scraped = scraped.samples.len();
            match append_samples(app.as_mut(), st, s, scraped, ts, &mut counts, &mut report) {
                Ok(()) => {}
                Err(f) => {
                    match f {
                        AppendFailure::SampleLimit => Counters::add(&counters.sample_limit, 1),
                        AppendFailure::LabelLimit(_) => Counters::add(&counters.label_limit, 1),
                        AppendFailure::InvalidLabels(_) => {}
                    }
                    app.rollback();
                    app = appendable.appender();
                    counts.appended = 0;
                    counts.rejected.clear();
                    counts.exemplars_rejected = 0;
                    report.series_added = 0;
                    report.error = Some(f.to_string());
                }
            }
        }
        Err(e) => report.error = Some(e),
    }
    if report.error.is_some() {
        mark_all_stale(app.as_mut(), st, ts, &mut counts);
    }
    write_report(app.as_mut(), s.target_labels, ts, duration, &report);
    st.last_report_ts = Some(ts);
    if let Err(e) = app.commit() {
        tracing::error!(error = %e, "scrape commit failed");
        Counters::add(&counters.commit_failures, 1);
    }
    Counters::add(&counters.scrapes, 1);
    if report.error.is_some() {
        Counters::add(&counters.failed, 1);
    }
    counters.merge(counts);
    report
}

/// Staleness markers for every series of the last scrape and for the report
/// series, as when a target goes away. Commits.
pub(crate) fn end_of_run(
    appendable: &dyn Appendable,
    st: &mut SeriesState,
    target_labels: &Labels,
    ts: i64,
    counters: &Counters,
) {
    let mut counts = ScrapeCounts::default();
    let mut app = appendable.appender();
    mark_all_stale(app.as_mut(), st, ts, &mut counts);
    if st.last_report_ts.is_some() {
        for name in REPORT_NAMES {
            if app
                .append(&report_labels(target_labels, name), ts, STALE_NAN)
                .is_ok()
            {
                counts.stale_markers += 1;
            }
        }
    }
    if let Err(e) = app.commit() {
        tracing::error!(error = %e, "staleness commit failed");
        Counters::add(&counters.commit_failures, 1);
    }
    counters.merge(counts);
}

fn mark_all_stale(
    app: &mut dyn Appender,
    st: &mut SeriesState,
    ts: i64,
    counts: &mut ScrapeCounts,
) {
    for (_, l) in st.stale_tracked.drain() {
        if app.append(&l, ts, STALE_NAN).is_ok() {
            counts.stale_markers += 1;
        }
    }
    st.seen.clear();
}

fn append_samples(
    app: &mut dyn Appender,
    st: &mut SeriesState,
    s: &AppendSettings<'_>,
    scraped: Scraped,
    ts: i64,
    counts: &mut ScrapeCounts,
    report: &mut ScrapeReport,
) -> Result<(), AppendFailure> {
    for (family, meta) in &scraped.metadata {
        app.update_metadata(family, meta);
    }
    let mut cur_stale: HashMap<u64, Labels> = HashMap::with_capacity(st.stale_tracked.len());
    let mut cur_seen: HashSet<u64> = HashSet::with_capacity(st.seen.len());
    for sample in scraped.samples {
        let Some(lset) = mutate_sample_labels(&sample.labels, s) else {
            continue;
        };
        if lset.is_empty() {
            continue;
        }
        check_label_limits(&lset, s)?;
        if let Err(e) = lset.validate() {
            if !matches!(e, LabelError::EmptyValue(_)) {
                return Err(AppendFailure::InvalidLabels(lset.to_string()));
            }
        }
        report.samples_post_relabel += 1;
        if s.sample_limit > 0 && report.samples_post_relabel as u64 > s.sample_limit {
            return Err(AppendFailure::SampleLimit);
        }
        let explicit = sample.timestamp_ms.filter(|_| s.honor_timestamps);
        let t = explicit.unwrap_or(ts);
        let h = lset.hash64();
        match app.append(&lset, t, sample.value) {
            Ok(()) => {
                counts.appended += 1;
                if !st.seen.contains(&h) && !cur_seen.contains(&h) {
                    report.series_added += 1;
                }
                cur_seen.insert(h);
                if let Some(ex) = &sample.exemplar {
                    if app.append_exemplar(&lset, ex).is_err() {
                        counts.exemplars_rejected += 1;
                    }
                }
            }
            Err(e) => counts.reject(e.reason()),
        }
        if explicit.is_none() {
            cur_stale.insert(h, lset);
        }
    }
    for (h, l) in &st.stale_tracked {
        if !cur_stale.contains_key(h) && app.append(l, ts, STALE_NAN).is_ok() {
            counts.stale_markers += 1;
        }
    }
    st.stale_tracked = cur_stale;
    st.seen = cur_seen;
    Ok(())
}

/// Adds the target's labels to a scraped label set and applies
/// `metric_relabel_configs`. `None` means a rule dropped the sample.
pub fn mutate_sample_labels(lset: &Labels, s: &AppendSettings<'_>) -> Option<Labels> {
    let mut b = lset.builder();
    if s.honor_labels {
        for l in s.target_labels {
            if !lset.has(&l.name) {
                b.set(&l.name, &l.value);
            }
        }
    } else {
        let mut conflicts: Vec<(String, String)> = Vec::new();
        for l in s.target_labels {
            if let Some(v) = lset.get(&l.name).filter(|v| !v.is_empty()) {
                conflicts.push((l.name.clone(), v.to_string()));
            }
            b.set(&l.name, &l.value);
        }
        if !conflicts.is_empty() {
            // Shorter names first, so that `exported_` chains resolve stably.
            conflicts.sort_by_key(|(n, _)| n.len());
            for i in 0..conflicts.len() {
                let mut name = conflicts[i].0.clone();
                loop {
                    name = format!("exported_{name}");
                    let taken = lset.has(&name)
                        || s.target_labels.has(&name)
                        || conflicts[..i].iter().any(|(n, _)| *n == name);
                    if !taken {
                        break;
                    }
                }
                conflicts[i].0 = name;
            }
            for (n, v) in &conflicts {
                b.set(n, v);
            }
        }
    }
    if s.metric_relabel_configs.is_empty() {
        return Some(b.build());
    }
    relabel::process_builder(&mut b, s.metric_relabel_configs).then(|| b.build())
}

fn trunc(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn check_label_limits(lset: &Labels, s: &AppendSettings<'_>) -> Result<(), AppendFailure> {
    let met = lset.get(METRIC_NAME).unwrap_or("");
    if s.label_limit > 0 && lset.len() as u64 > s.label_limit {
        return Err(AppendFailure::LabelLimit(format!(
            "label_limit exceeded (metric: {}, number of labels: {}, limit: {})",
            trunc(met, 50),
            lset.len(),
            s.label_limit
        )));
    }
    if s.label_name_length_limit == 0 && s.label_value_length_limit == 0 {
        return Ok(());
    }
    for l in lset {
        if s.label_name_length_limit > 0 && l.name.len() as u64 > s.label_name_length_limit {
            return Err(AppendFailure::LabelLimit(format!(
                "label_name_length_limit exceeded (metric: {}, label name: {}, length: {}, limit: {})",
                trunc(met, 50),
                trunc(&l.name, 50),
                l.name.len(),
                s.label_name_length_limit
            )));
        }
        if s.label_value_length_limit > 0 && l.value.len() as u64 > s.label_value_length_limit {
            return Err(AppendFailure::LabelLimit(format!(
                "label_value_length_limit exceeded (metric: {}, label name: {}, value: {:?}, length: {}, limit: {})",
                trunc(met, 50),
                trunc(&l.name, 50),
                trunc(&l.value, 50),
                l.value.len(),
                s.label_value_length_limit
            )));
        }
    }
    Ok(())
}

/// Names of the report series, in the order they are written.
pub const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

fn report_labels(target_labels: &Labels, name: &str) -> Labels {
    let mut b = target_labels.builder();
    b.set(METRIC_NAME, name);
    b.build()
}

fn write_report(
    app: &mut dyn Appender,
    target_labels: &Labels,
    ts: i64,
    duration: Duration,
    r: &ScrapeReport,
) {
    let values = [
        if r.error.is_none() { 1.0 } else { 0.0 },
        duration.as_secs_f64(),
        r.samples_scraped as f64,
        r.samples_post_relabel as f64,
        r.series_added as f64,
    ];
    for (name, v) in REPORT_NAMES.iter().zip(values) {
        if let Err(e) = app.append(&report_labels(target_labels, name), ts, v) {
            tracing::debug!(series = name, error = %e, "report sample refused");
        }
    }
}

#[cfg(test)]
#[path = "append_tests.rs"]
mod tests;
