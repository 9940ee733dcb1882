//! [`MetricsSource`]s for the storage engine and the scrape manager: their
//! stats snapshots rendered as `pharos_tsdb_*`, `pharos_wal_*` and
//! `pharos_scrape_*` families.

use std::sync::Arc;

use pharos_scrape::ScrapeManager;
use pharos_tsdb::Db;

use crate::telemetry::{Kind, MetricsSource, MetricsWriter};

/// The metrics store's figures.
pub struct TsdbMetrics(pub Arc<Db>);

impl MetricsSource for TsdbMetrics {
    fn write_metrics(&self, w: &mut MetricsWriter) {
        let s = self.0.stats();
        w.single(
            "pharos_tsdb_head_series",
            "Series in the head.",
            Kind::Gauge,
            s.head_series as f64,
        );
        w.single(
            "pharos_tsdb_head_chunks",
            "Chunks in the head.",
            Kind::Gauge,
            s.head_chunks as f64,
        );
        w.single(
            "pharos_tsdb_head_samples",
            "Samples in the head.",
            Kind::Gauge,
            s.head_samples as f64,
        );
        if let Some(t) = s.head_min_time {
            w.single(
                "pharos_tsdb_head_min_time",
                "Lowest timestamp in the head (ms).",
                Kind::Gauge,
                t as f64,
            );
        }
        if let Some(t) = s.head_max_time {
            w.single(
                "pharos_tsdb_head_max_time",
                "Highest timestamp in the head (ms).",
                Kind::Gauge,
                t as f64,
            );
        }
        w.single(
            "pharos_tsdb_blocks_loaded",
            "Blocks on disk.",
            Kind::Gauge,
            s.blocks as f64,
        );
        w.single(
            "pharos_tsdb_blocks_bytes",
            "Bytes of all blocks on disk.",
            Kind::Gauge,
            s.blocks_bytes as f64,
        );
        w.single(
            "pharos_tsdb_blocks_samples",
            "Samples in blocks on disk.",
            Kind::Gauge,
            s.blocks_samples as f64,
        );
        w.single(
            "pharos_tsdb_head_samples_appended_total",
            "Samples appended to the head.",
            Kind::Counter,
            s.samples_appended_total as f64,
        );
        w.single(
            "pharos_tsdb_head_series_created_total",
            "Series created in the head.",
            Kind::Counter,
            s.series_created_total as f64,
        );
        w.single(
            "pharos_tsdb_head_series_removed_total",
            "Series removed from the head.",
            Kind::Counter,
            s.series_removed_total as f64,
        );
        w.family(
            "pharos_tsdb_rejected_samples_total",
            "Samples refused by the store, by reason.",
            Kind::Counter,
        );
        for (reason, n) in &s.rejected_samples_total {
            w.sample(
                "pharos_tsdb_rejected_samples_total",
                &[("reason", reason)],
                *n as f64,
            );
        }
        w.single(
            "pharos_tsdb_out_of_order_samples_total",
            "Out-of-order samples seen.",
            Kind::Counter,
            s.out_of_order_samples_total as f64,
        );
        w.single(
            "pharos_tsdb_wal_replay_samples",
            "Samples replayed from the WAL at start-up.",
            Kind::Gauge,
            s.replay.samples as f64,
        );
        if let Some(wal) = &s.wal {
            w.single(
                "pharos_wal_bytes",
                "Bytes of WAL segments on disk.",
                Kind::Gauge,
                wal.bytes_on_disk as f64,
            );
            w.single(
                "pharos_wal_segments",
                "WAL segments on disk.",
                Kind::Gauge,
                wal.segments as f64,
            );
            w.single(
                "pharos_wal_fsyncs_total",
                "WAL fsyncs.",
                Kind::Counter,
                wal.fsyncs_total as f64,
            );
            w.single(
                "pharos_wal_fsync_duration_seconds_total",
                "Total time spent in WAL fsyncs.",
                Kind::Counter,
                wal.fsync_seconds_total,
            );
            w.single(
                "pharos_wal_last_fsync_duration_seconds",
                "Duration of the latest WAL fsync.",
                Kind::Gauge,
                wal.last_fsync_seconds,
            );
            w.single(
                "pharos_wal_records_written_total",
                "WAL records written.",
                Kind::Counter,
                wal.records_written as f64,
            );
            w.single(
                "pharos_wal_bytes_written_total",
                "WAL bytes written.",
                Kind::Counter,
                wal.bytes_written as f64,
            );
            w.single(
                "pharos_wal_corruptions_repaired_total",
                "Torn or corrupt WAL tails cut off.",
                Kind::Counter,
                wal.corruptions_repaired as f64,
            );
        }
    }
}

/// The scrape manager's figures.
pub struct ScrapeMetrics(pub Arc<ScrapeManager>);

impl MetricsSource for ScrapeMetrics {
    fn write_metrics(&self, w: &mut MetricsWriter) {
        let s = self.0.stats();
        w.single(
            "pharos_scrapes_total",
            "Scrapes performed.",
            Kind::Counter,
            s.scrapes_total as f64,
        );
        w.single(
            "pharos_scrapes_failed_total",
            "Scrapes that failed.",
            Kind::Counter,
            s.scrapes_failed_total as f64,
        );
        w.single(
            "pharos_scrape_samples_appended_total",
            "Samples appended by scrapes.",
            Kind::Counter,
            s.samples_appended_total as f64,
        );
        w.family(
            "pharos_scrape_samples_rejected_total",
            "Scraped samples refused, by reason.",
            Kind::Counter,
        );
        for (reason, n) in &s.samples_rejected_total {
            w.sample(
                "pharos_scrape_samples_rejected_total",
                &[("reason", reason)],
                *n as f64,
            );
        }
        w.single(
            "pharos_scrape_sample_limit_exceeded_total",
            "Scrapes refused for exceeding sample_limit.",
            Kind::Counter,
            s.sample_limit_exceeded_total as f64,
        );
        w.single(
            "pharos_scrape_stale_markers_total",
            "Staleness markers written.",
            Kind::Counter,
            s.stale_markers_total as f64,
        );
        let targets = self.0.targets();
        w.family(
            "pharos_scrape_targets",
            "Active scrape targets by job and health.",
            Kind::Gauge,
        );
        let mut counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
        for t in &targets {
            *counts
                .entry((t.job.clone(), format!("{:?}", t.health).to_lowercase()))
                .or_default() += 1;
        }
        for ((job, health), n) in counts {
            w.sample(
                "pharos_scrape_targets",
                &[("job", &job), ("health", &health)],
                n as f64,
            );
        }
    }
}

/// The log ingest pipeline's figures (`pharos_logs_pipeline_*`).
pub struct LogPipelineMetrics(pub Arc<pharos_logs::process::Processor>);

impl MetricsSource for LogPipelineMetrics {
    fn write_metrics(&self, w: &mut MetricsWriter) {
        if self.0.is_empty() {
            return;
        }
        let s = self.0.stats();
        w.single(
            "pharos_logs_pipeline_entries_total",
            "Log entries that went through at least one ingest pipeline.",
            Kind::Counter,
            s.entries as f64,
        );
        let name = "pharos_logs_pipeline_stage_entries_total";
        w.family(
            name,
            "Entries each pipeline stage acted on (hit), could not act on (failed) or dropped.",
            Kind::Counter,
        );
        for st in &s.stages {
            let (p, i) = (st.pipeline.to_string(), st.stage.to_string());
            for (result, v) in [
                ("hit", st.hits),
                ("failed", st.failures),
                ("dropped", st.dropped),
            ] {
                let labels = [
                    ("pipeline", p.as_str()),
                    ("stage", i.as_str()),
                    ("kind", st.name),
                    ("result", result),
                ];
                w.sample(name, &labels, v as f64);
            }
        }
        if !s.label_refusals.is_empty() {
            let name = "pharos_logs_pipeline_label_values_refused_total";
            w.family(
                name,
                "Values the cardinality guard kept out of the index (stored as structured metadata).",
                Kind::Counter,
            );
            for r in &s.label_refusals {
                let (p, i) = (r.pipeline.to_string(), r.stage.to_string());
                let labels = [
                    ("pipeline", p.as_str()),
                    ("stage", i.as_str()),
                    ("label", r.label.as_str()),
                ];
                w.sample(name, &labels, r.refused as f64);
            }
        }
        if s.metrics.is_empty() {
            return;
        }
        type Get = fn(&pharos_logs::process::MetricStats) -> f64;
        let families: [(&str, &str, Kind, Get); 5] = [
            (
                "pharos_logs_pipeline_metric_series",
                "Series a metric filter holds in memory.",
                Kind::Gauge,
                |m| m.series as f64,
            ),
            (
                "pharos_logs_pipeline_metric_value_errors_total",
                "Entries whose value was not a number (or negative for a counter).",
                Kind::Counter,
                |m| m.value_errors as f64,
            ),
            (
                "pharos_logs_pipeline_metric_series_refused_total",
                "Entries not counted because the metric had max_series series.",
                Kind::Counter,
                |m| m.series_refused as f64,
            ),
            (
                "pharos_logs_pipeline_metric_samples_written_total",
                "Metric filter samples written to the metrics store.",
                Kind::Counter,
                |m| m.samples_written as f64,
            ),
            (
                "pharos_logs_pipeline_metric_samples_refused_total",
                "Metric filter samples the metrics store refused.",
                Kind::Counter,
                |m| m.samples_refused as f64,
            ),
        ];
        for (name, help, kind, get) in families {
            w.family(name, help, kind);
            for m in &s.metrics {
                w.sample(name, &[("metric", m.name.as_str())], get(m));
            }
        }
    }
}
