//! Scrape manager, service discovery and relabeling: the Prometheus pull model.
//!
//! Configuration ([`config`]) is read as Prometheus 2.42 reads its `global`
//! and `scrape_configs` sections. [`discovery`] turns `static_configs` and
//! `file_sd_configs` into target groups; [`target`] builds each target's
//! labels and URL through [`relabel`]; the [`manager`] runs one scrape loop
//! per target and writes samples, report series and staleness markers
//! through an [`pharos_model::Appendable`].
//!
//! This crate knows nothing of the storage engine behind the appendable, nor
//! of the HTTP API that shows targets; it parses bodies with
//! `pharos_ingest::exposition`.
//!
//! ```
//! use pharos_model::Labels;
//! use pharos_scrape::relabel::{process, RelabelConfig};
//! let rules: Vec<RelabelConfig> = serde_yaml::from_str(
//!     "- {source_labels: [__address__], regex: '(.*):9100', target_label: host}",
//! ).unwrap();
//! let out = process(&Labels::from_pairs(&[("__address__", "db1:9100")]), &rules).unwrap();
//! assert_eq!(out.get("host"), Some("db1"));
//! ```

pub mod append;
pub mod client;
pub mod config;
pub mod discovery;
pub mod manager;
pub mod relabel;
pub mod scrape_loop;
pub mod stats;
pub mod target;

pub use config::{Config, ConfigError, GlobalConfig, ScrapeConfig};
pub use manager::{ManagerOptions, ScrapeManager, TargetStatus};
pub use relabel::RelabelConfig;
pub use scrape_loop::TargetHealth;
pub use stats::ScrapeStats;
