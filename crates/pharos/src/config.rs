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
    }
}
