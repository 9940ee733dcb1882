//! The configuration file: a Prometheus configuration accepted as it is, plus
//! pharos's own `listen:` and `logs:` sections.
//!
//! Sections pharos does not act on yet (`rule_files`, `alerting`,
//! `remote_write`, `remote_read`, `storage`, `tracing`) are accepted with one
//! warning each. Unknown top-level keys are an error, as in Prometheus.

use std::path::Path;

use pharos_scrape::config::{GlobalConfig, ScrapeConfig};
use serde::Deserialize;

/// Addresses of the listeners, as `listen:` in the file; flags override them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ListenConfig {
    pub http: Option<String>,
    pub otlp_grpc: Option<String>,
    pub otlp_http: Option<String>,
    pub zipkin: Option<String>,
    pub jaeger_http: Option<String>,
    pub jaeger_udp: Option<String>,
    pub syslog: Option<String>,
}

/// pharos's `logs:` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// How Elasticsearch bulk documents become entries: `time_fields`,
    /// `line_fields`, `label_fields`, `index_label` (read at start).
    #[serde(default)]
    pub elasticsearch: Option<pharos_ingest::elasticsearch::FieldMapping>,
    /// The processing pipelines applied at ingest (`docs/logs-pipeline.md`;
    /// read at start).
    #[serde(default)]
    pub pipelines: Vec<pharos_logs::process::PipelineConfig>,
    /// How often metric filters are written to the metrics store (default 15s).
    #[serde(default)]
    pub metrics_interval: Option<String>,
    /// Retention periods per stream selector (Loki's `retention_stream`):
    /// the matching rule with the highest priority decides, the first listed
    /// among equals; streams no rule matches keep `--logs.retention.time`.
    #[serde(default)]
    pub retention_stream: Vec<RetentionStream>,
}

/// One `logs.retention_stream` rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionStream {
    pub selector: String,
    #[serde(default)]
    pub priority: i64,
    pub period: String,
}

impl LogsConfig {
    /// Default of `metrics_interval`.
    pub const DEFAULT_METRICS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

    /// The compiled pipelines; errors name the pipeline and stage.
    pub fn processor(&self) -> anyhow::Result<pharos_logs::process::Processor> {
        Ok(pharos_logs::process::Processor::new(&self.pipelines)?)
    }

    /// The `retention_stream` rules, checked, highest priority first.
    pub fn retention_rules(&self) -> anyhow::Result<Vec<pharos_logs::RetentionRule>> {
        let mut rules: Vec<(i64, pharos_logs::RetentionRule)> = Vec::new();
        for (i, r) in self.retention_stream.iter().enumerate() {
            let at = format!("logs.retention_stream[{i}]");
            let matchers = match pharos_logs::logql::parse_expr(&r.selector) {
                Ok(pharos_logs::logql::Expr::Log(l)) if l.stages.is_empty() => l.matchers,
                Ok(_) => anyhow::bail!(
                    "{at}.selector: want a stream selector like {{app=\"x\"}}, got {:?}",
                    r.selector
                ),
                Err(e) => anyhow::bail!("{at}.selector: {e}"),
            };
            let period = pharos_model::duration::parse_duration(&r.period)
                .map_err(|e| anyhow::anyhow!("{at}.period: {e}"))?;
            anyhow::ensure!(!period.is_zero(), "{at}.period: must be more than 0");
            rules.push((r.priority, pharos_logs::RetentionRule { matchers, period }));
        }
        rules.sort_by_key(|(p, _)| std::cmp::Reverse(*p));
        Ok(rules.into_iter().map(|(_, r)| r).collect())
    }

    /// `metrics_interval`, checked (more than zero).
    pub fn metrics_interval(&self) -> anyhow::Result<std::time::Duration> {
        let Some(s) = &self.metrics_interval else {
            return Ok(Self::DEFAULT_METRICS_INTERVAL);
        };
        let d = pharos_model::duration::parse_duration(s)
            .map_err(|e| anyhow::anyhow!("logs.metrics_interval: {e}"))?;
        anyhow::ensure!(!d.is_zero(), "logs.metrics_interval: must be more than 0");
        Ok(d)
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub global: GlobalConfig,
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    #[serde(default)]
    pub scrape_config_files: Option<serde_yaml::Value>,
    #[serde(default)]
    pub rule_files: Option<serde_yaml::Value>,
    #[serde(default)]
    pub alerting: Option<serde_yaml::Value>,
    #[serde(default)]
    pub remote_write: Option<serde_yaml::Value>,
    #[serde(default)]
    pub remote_read: Option<serde_yaml::Value>,
    #[serde(default)]
    pub storage: Option<serde_yaml::Value>,
    #[serde(default)]
    pub tracing: Option<serde_yaml::Value>,
    #[serde(default)]
    pub listen: Option<ListenConfig>,
    #[serde(default)]
    pub logs: Option<LogsConfig>,
}

impl FileConfig {
    /// Reads and validates a file; returns it with the warnings to log.
    pub fn load(path: &Path) -> anyhow::Result<(FileConfig, Vec<String>)> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading config file {}: {e}", path.display()))?;
        let (mut cfg, warnings) = Self::parse(&text)
            .map_err(|e| anyhow::anyhow!("parsing config file {}: {e}", path.display()))?;
        if let Some(dir) = path.parent() {
            for s in &mut cfg.scrape_configs {
                s.set_directory(dir);
            }
        }
        Ok((cfg, warnings))
    }

    /// Parses YAML text; an empty document is the default configuration.
    pub fn parse(text: &str) -> anyhow::Result<(FileConfig, Vec<String>)> {
        let mut cfg: FileConfig = if text.trim().is_empty() {
            FileConfig::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| pharos_scrape::config::yaml_error(&e))?
        };
        let mut warnings = Vec::new();
        for (name, present) in [
            ("rule_files", cfg.rule_files.is_some()),
            ("alerting", cfg.alerting.is_some()),
            ("remote_write", cfg.remote_write.is_some()),
            ("remote_read", cfg.remote_read.is_some()),
            ("storage", cfg.storage.is_some()),
            ("tracing", cfg.tracing.is_some()),
            ("scrape_config_files", cfg.scrape_config_files.is_some()),
        ] {
            if present {
                warnings.push(format!(
                    "configuration section {name:?} is accepted but not acted on yet; ignoring it"
                ));
            }
        }
        warnings.extend(pharos_scrape::config::validate_scrape_configs(
            &cfg.global,
            &mut cfg.scrape_configs,
        )?);
        if let Some(l) = &cfg.logs {
            l.processor()?;
            l.metrics_interval()?;
            l.retention_rules()?;
        }
        Ok((cfg, warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_file_with_ignored_sections() {
        let (cfg, warnings) = FileConfig::parse(
            r#"
global:
  scrape_interval: 15s
  external_labels: {cluster: a}
rule_files: ["rules/*.yml"]
alerting:
  alertmanagers: [{static_configs: [{targets: ["localhost:9093"]}]}]
remote_write: [{url: "http://x/api/v1/write"}]
scrape_configs:
  - job_name: node
    static_configs: [{targets: ["localhost:9100"]}]
"#,
        )
        .unwrap();
        assert_eq!(cfg.scrape_configs.len(), 1);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(FileConfig::parse("bogus: 1").is_err());
        assert!(FileConfig::parse("").is_ok());
        let (cfg, _) = FileConfig::parse(
            "logs:\n  retention_stream:\n    - {selector: '{a=\"x\"}', period: 24h}\n    - {selector: '{b=\"y\"}', priority: 2, period: 1h}\n",
        )
        .unwrap();
        let rules = cfg.logs.unwrap().retention_rules().unwrap();
        assert_eq!(
            rules[0].period,
            std::time::Duration::from_secs(3600),
            "priority first"
        );
        let e =
            FileConfig::parse("logs:\n  retention_stream:\n    - {selector: 'a', period: 1h}\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("logs.retention_stream[0].selector"), "{e}");
    }

    #[test]
    fn logs_pipelines() {
        let (cfg, _) = FileConfig::parse(
            r#"
logs:
  metrics_interval: 1s
  pipelines:
    - selector: '{app="nginx"}'
      stages:
        - grok: {pattern: '%{COMBINEDAPACHELOG}'}
        - labels: {status: response}
"#,
        )
        .unwrap();
        let logs = cfg.logs.unwrap();
        assert_eq!(logs.pipelines.len(), 1);
        assert_eq!(
            logs.metrics_interval().unwrap(),
            std::time::Duration::from_secs(1)
        );
        let bad = |y: &str| FileConfig::parse(y).unwrap_err().to_string();
        let e = bad("logs:\n  pipelines:\n    - stages:\n        - grok: {pattern: '%{FOO:x}'}\n");
        assert_eq!(
            e,
            "logs.pipelines[0].stages[0] (grok): unknown pattern %{FOO}"
        );
        let e = bad("logs:\n  pipelines:\n    - stages:\n        - grk: {}\n");
        assert!(
            e.contains("logs.pipelines[0].stages[0]") && e.contains("unknown variant `grk`"),
            "{e}"
        );
        let e = bad("logs:\n  metrics_interval: 0s\n");
        assert!(e.contains("logs.metrics_interval"), "{e}");
    }
}
