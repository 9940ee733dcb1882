//! The `global` and `scrape_configs` sections of a Prometheus configuration,
//! read unchanged (Prometheus 2.42 field names, defaults and error messages).
//!
//! Owns [`GlobalConfig`], [`ScrapeConfig`] (with [`StaticConfig`] and
//! [`FileSdConfig`]), [`Config`] (the two sections together) and
//! [`validate_scrape_configs`], which fills inherited values and returns the
//! warnings for fields pharos accepts but does not implement. Unknown fields
//! are refused with Prometheus's message (`field x not found in type
//! config.ScrapeConfig`).
//!
//! Knows nothing of HTTP clients, running loops or storage.

pub mod http;
pub mod values;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use pharos_model::{is_valid_label_name, Labels};
use serde::{Deserialize, Serialize};

pub use http::{Authorization, BasicAuth, Secret, TlsConfig};
use values::{
    lenient_opt_string, lenient_params, lenient_string, lenient_string_map, lenient_string_vec,
    null_default,
};
pub use values::{ByteSize, PromDuration};

use crate::relabel::RelabelConfig;

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The YAML did not parse or did not fit the types.
    #[error("{0}")]
    Parse(String),
    #[error("found multiple scrape configs with job name {0:?}")]
    DuplicateJob(String),
    #[error("scrape timeout greater than scrape interval for scrape config with job name {0:?}")]
    TimeoutExceedsInterval(String),
    #[error("job_name is empty")]
    EmptyJobName,
    /// Any other rule a value breaks.
    #[error("{0}")]
    Invalid(String),
    #[error("reading {path}: {message}")]
    Read { path: String, message: String },
}

const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(60);

/// The `global` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawGlobalConfig")]
pub struct GlobalConfig {
    pub scrape_interval: PromDuration,
    pub scrape_timeout: PromDuration,
    pub evaluation_interval: PromDuration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_log_file: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub external_labels: BTreeMap<String, String>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: PromDuration(DEFAULT_SCRAPE_INTERVAL),
            scrape_timeout: PromDuration(DEFAULT_SCRAPE_TIMEOUT),
            evaluation_interval: PromDuration(DEFAULT_EVALUATION_INTERVAL),
            query_log_file: None,
            external_labels: BTreeMap::new(),
        }
    }
}

impl GlobalConfig {
    /// The external labels as a label set.
    pub fn external_labels(&self) -> Labels {
        Labels::from_pairs(&self.external_labels.iter().collect::<Vec<_>>())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobalConfig {
    #[serde(default)]
    scrape_interval: Option<PromDuration>,
    #[serde(default)]
    scrape_timeout: Option<PromDuration>,
    #[serde(default)]
    evaluation_interval: Option<PromDuration>,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    query_log_file: Option<String>,
    #[serde(default, deserialize_with = "lenient_string_map")]
    external_labels: BTreeMap<String, String>,
}

impl TryFrom<RawGlobalConfig> for GlobalConfig {
    type Error = ConfigError;
    fn try_from(r: RawGlobalConfig) -> Result<Self, ConfigError> {
        for name in r.external_labels.keys() {
            if !is_valid_label_name(name) {
                return Err(ConfigError::Invalid(format!(
                    "{name:?} is not a valid label name"
                )));
            }
        }
        let interval = r
            .scrape_interval
            .filter(|d| !d.0.is_zero())
            .unwrap_or(PromDuration(DEFAULT_SCRAPE_INTERVAL));
        let timeout = match r.scrape_timeout.filter(|d| !d.0.is_zero()) {
            Some(t) if t > interval => {
                return Err(ConfigError::Invalid(
                    "global scrape timeout greater than scrape interval".into(),
                ))
            }
            Some(t) => t,
            None => PromDuration(DEFAULT_SCRAPE_TIMEOUT.min(interval.0)),
        };
        Ok(GlobalConfig {
            scrape_interval: interval,
            scrape_timeout: timeout,
            evaluation_interval: r
                .evaluation_interval
                .filter(|d| !d.0.is_zero())
                .unwrap_or(PromDuration(DEFAULT_EVALUATION_INTERVAL)),
            query_log_file: r.query_log_file,
            external_labels: r
                .external_labels
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect(),
        })
    }
}

/// One entry of `static_configs` (and the shape of a file_sd target group).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default, deserialize_with = "lenient_string_vec")]
    pub targets: Vec<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
}

impl StaticConfig {
    /// Checks addresses and label names as Prometheus does.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for t in &self.targets {
            check_target_address(t)?;
        }
        for name in self.labels.keys() {
            if !is_valid_label_name(name) {
                return Err(ConfigError::Invalid(format!("invalid name {name:?}")));
            }
        }
        Ok(())
    }
}

/// Refuses an address with a path in it (`host:port` only).
pub fn check_target_address(addr: &str) -> Result<(), ConfigError> {
    if addr.contains('/') {
        return Err(ConfigError::Invalid(format!(
            "{addr:?} is not a valid hostname"
        )));
    }
    Ok(())
}

const DEFAULT_FILE_SD_REFRESH: Duration = Duration::from_secs(300);

fn default_refresh() -> PromDuration {
    PromDuration(DEFAULT_FILE_SD_REFRESH)
}

/// One entry of `file_sd_configs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    /// Paths; the last element may hold `*` globs. Must end in `.json`, `.yml` or `.yaml`.
    #[serde(default, deserialize_with = "lenient_string_vec")]
    pub files: Vec<String>,
    #[serde(default = "default_refresh")]
    pub refresh_interval: PromDuration,
}

impl FileSdConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.files.is_empty() {
            return Err(ConfigError::Invalid(
                "file service discovery config must contain at least one path name".into(),
            ));
        }
        for f in &self.files {
            if !is_valid_file_sd_name(f) {
                return Err(ConfigError::Invalid(format!(
                    "path name {f:?} is not valid for file discovery"
                )));
            }
        }
        Ok(())
    }
}

/// `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`
fn is_valid_file_sd_name(f: &str) -> bool {
    let exts = [".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"];
    let Some(stem) = exts.iter().find_map(|e| f.strip_suffix(e)) else {
        return false;
    };
    match stem.find('*') {
        None => true,
        Some(i) => !stem[i + 1..].contains('/') && !stem[i + 1..].contains('*'),
    }
}

fn yes() -> bool {
    true
}
fn default_metrics_path() -> String {
    "/metrics".to_string()
}
fn default_scheme() -> String {
    "http".to_string()
}

macro_rules! scrape_config {
    ($($sd:ident),* $(,)?) => {
        /// One entry of `scrape_configs`.
        ///
        /// `scrape_interval` and `scrape_timeout` are `None` until
        /// [`validate_scrape_configs`] fills them from [`GlobalConfig`].
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct ScrapeConfig {
            #[serde(default, deserialize_with = "lenient_string")]
            pub job_name: String,
            #[serde(default)]
            pub honor_labels: bool,
            #[serde(default = "yes")]
            pub honor_timestamps: bool,
            #[serde(default, deserialize_with = "lenient_params", skip_serializing_if = "BTreeMap::is_empty")]
            pub params: BTreeMap<String, Vec<String>>,
            #[serde(default)]
            pub scrape_interval: Option<PromDuration>,
            #[serde(default)]
            pub scrape_timeout: Option<PromDuration>,
            #[serde(default = "default_metrics_path", deserialize_with = "lenient_string")]
            pub metrics_path: String,
            #[serde(default = "default_scheme", deserialize_with = "lenient_string")]
            pub scheme: String,
            /// 0 means no limit.
            #[serde(default)]
            pub body_size_limit: ByteSize,
            #[serde(default)]
            pub sample_limit: u64,
            #[serde(default)]
            pub target_limit: u64,
            #[serde(default)]
            pub label_limit: u64,
            #[serde(default)]
            pub label_name_length_limit: u64,
            #[serde(default)]
            pub label_value_length_limit: u64,

            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub basic_auth: Option<BasicAuth>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub authorization: Option<Authorization>,
            /// Accepted, not implemented (a warning).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub oauth2: Option<serde_yaml::Value>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub bearer_token: Option<Secret>,
            #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient_opt_string")]
            pub bearer_token_file: Option<String>,
            #[serde(default, deserialize_with = "null_default")]
            pub tls_config: TlsConfig,
            #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient_opt_string")]
            pub proxy_url: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient_opt_string")]
            pub no_proxy: Option<String>,
            #[serde(default)]
            pub proxy_from_environment: bool,
            /// Accepted, not implemented (a warning).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub proxy_connect_header: Option<serde_yaml::Value>,
            #[serde(default = "yes")]
            pub follow_redirects: bool,
            #[serde(default = "yes")]
            pub enable_http2: bool,

            #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
            pub static_configs: Vec<StaticConfig>,
            #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
            pub file_sd_configs: Vec<FileSdConfig>,
            #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
            pub relabel_configs: Vec<RelabelConfig>,
            #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
            pub metric_relabel_configs: Vec<RelabelConfig>,

            $(
                /// Service discovery pharos accepts but does not run (a warning).
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $sd: Option<serde_yaml::Value>,
            )*
        }

        impl Default for ScrapeConfig {
            fn default() -> Self {
                ScrapeConfig {
                    job_name: String::new(),
                    honor_labels: false,
                    honor_timestamps: true,
                    params: BTreeMap::new(),
                    scrape_interval: None,
                    scrape_timeout: None,
                    metrics_path: default_metrics_path(),
                    scheme: default_scheme(),
                    body_size_limit: ByteSize(0),
                    sample_limit: 0,
                    target_limit: 0,
                    label_limit: 0,
                    label_name_length_limit: 0,
                    label_value_length_limit: 0,
                    basic_auth: None,
                    authorization: None,
                    oauth2: None,
                    bearer_token: None,
                    bearer_token_file: None,
                    tls_config: TlsConfig::default(),
                    proxy_url: None,
                    no_proxy: None,
                    proxy_from_environment: false,
                    proxy_connect_header: None,
                    follow_redirects: true,
                    enable_http2: true,
                    static_configs: Vec::new(),
                    file_sd_configs: Vec::new(),
                    relabel_configs: Vec::new(),
                    metric_relabel_configs: Vec::new(),
                    $( $sd: None, )*
                }
            }
        }

        impl ScrapeConfig {
            /// Names of the service discovery sections set here that pharos does not run.
            pub fn unsupported_sd_configs(&self) -> Vec<&'static str> {
                let mut v = Vec::new();
                $( if self.$sd.is_some() { v.push(stringify!($sd)); } )*
                v
            }
        }
    };
}

scrape_config!(
    azure_sd_configs,
    consul_sd_configs,
    digitalocean_sd_configs,
    docker_sd_configs,
    dockerswarm_sd_configs,
    dns_sd_configs,
    ec2_sd_configs,
    eureka_sd_configs,
    gce_sd_configs,
    hetzner_sd_configs,
    http_sd_configs,
    ionos_sd_configs,
    kubernetes_sd_configs,
    kuma_sd_configs,
    lightsail_sd_configs,
    linode_sd_configs,
    marathon_sd_configs,
    nerve_sd_configs,
    nomad_sd_configs,
    openstack_sd_configs,
    ovhcloud_sd_configs,
    puppetdb_sd_configs,
    scaleway_sd_configs,
    serverset_sd_configs,
    triton_sd_configs,
    uyuni_sd_configs,
    vultr_sd_configs,
);

impl ScrapeConfig {
    /// The scrape interval (after validation: this config's or the global one).
    pub fn interval(&self) -> Duration {
        self.scrape_interval
            .map(|d| d.0)
            .unwrap_or(DEFAULT_SCRAPE_INTERVAL)
    }

    /// The scrape timeout (after validation: this config's or derived from the global one).
    pub fn timeout(&self) -> Duration {
        self.scrape_timeout
            .map(|d| d.0)
            .unwrap_or(DEFAULT_SCRAPE_TIMEOUT.min(self.interval()))
    }

    /// Fills inherited values from `global` and checks this config with
    /// Prometheus's rules. Returns warnings about ignored parts.
    pub fn validate(&mut self, global: &GlobalConfig) -> Result<Vec<String>, ConfigError> {
        if self.job_name.is_empty() {
            return Err(ConfigError::EmptyJobName);
        }
        let interval = match self.scrape_interval.filter(|d| !d.0.is_zero()) {
            Some(i) => i,
            None => global.scrape_interval,
        };
        self.scrape_interval = Some(interval);
        match self.scrape_timeout.filter(|d| !d.0.is_zero()) {
            Some(t) if t > interval => {
                return Err(ConfigError::TimeoutExceedsInterval(self.job_name.clone()))
            }
            Some(t) => self.scrape_timeout = Some(t),
            None => self.scrape_timeout = Some(global.scrape_timeout.min(interval)),
        }
        if self.metrics_path.is_empty() {
            self.metrics_path = default_metrics_path();
        }
        if self.scheme.is_empty() {
            self.scheme = default_scheme();
        }
        http::validate_http(&http::HttpAuthFields {
            basic_auth: self.basic_auth.as_ref(),
            authorization: self.authorization.as_ref(),
            oauth2: self.oauth2.is_some(),
            bearer_token: self.bearer_token.is_some(),
            bearer_token_file: self.bearer_token_file.is_some(),
            tls: &self.tls_config,
        })?;
        for s in &self.static_configs {
            s.validate()?;
        }
        for f in &self.file_sd_configs {
            f.validate()?;
        }
        for r in self
            .relabel_configs
            .iter()
            .chain(&self.metric_relabel_configs)
        {
            r.validate().map_err(|e| ConfigError::Invalid(e.0))?;
        }
        if let Some(p) = &self.proxy_url {
            if !p.contains("://") {
                return Err(ConfigError::Invalid(format!("invalid proxy_url {p:?}")));
            }
        }
        Ok(self.warnings())
    }

    /// What this config asks for that pharos accepts but ignores.
    pub fn warnings(&self) -> Vec<String> {
        let job = &self.job_name;
        let mut w: Vec<String> = self
            .unsupported_sd_configs()
            .into_iter()
            .map(|sd| {
                format!("scrape config {job:?}: {sd} is not supported by pharos and is ignored")
            })
            .collect();
        if self.oauth2.is_some() {
            w.push(format!(
                "scrape config {job:?}: oauth2 is not supported by pharos and is ignored"
            ));
        }
        if self.proxy_connect_header.is_some() {
            w.push(format!(
                "scrape config {job:?}: proxy_connect_header is not supported by pharos and is ignored"
            ));
        }
        w
    }

    /// Resolves relative file paths against `dir`, the configuration file's directory.
    pub fn set_directory(&mut self, dir: &Path) {
        if let Some(b) = self.basic_auth.as_mut() {
            http::join_dir(dir, &mut b.password_file);
        }
        if let Some(a) = self.authorization.as_mut() {
            http::join_dir(dir, &mut a.credentials_file);
        }
        http::join_dir(dir, &mut self.bearer_token_file);
        let t = &mut self.tls_config;
        for p in [&mut t.ca_file, &mut t.cert_file, &mut t.key_file] {
            http::join_dir(dir, p);
        }
        for f in &mut self.file_sd_configs {
            for p in &mut f.files {
                if Path::new(p.as_str()).is_relative() {
                    *p = dir.join(p.as_str()).to_string_lossy().into_owned();
                }
            }
        }
    }
}

/// Fills inherited values and checks every scrape config, then the set
/// (unique job names). Returns warnings about ignored parts.
pub fn validate_scrape_configs(
    global: &GlobalConfig,
    cfgs: &mut [ScrapeConfig],
) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    let mut seen = HashSet::new();
    for c in cfgs.iter_mut() {
        warnings.extend(c.validate(global)?);
        if !seen.insert(c.job_name.clone()) {
            return Err(ConfigError::DuplicateJob(c.job_name.clone()));
        }
    }
    Ok(warnings)
}

/// The `global` and `scrape_configs` sections of a configuration file; other
/// top-level sections are left to their owners and ignored here.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Config {
    #[serde(default, deserialize_with = "null_default")]
    pub global: GlobalConfig,
    #[serde(default, deserialize_with = "null_default")]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Warnings collected while validating: accepted but ignored parts.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Config {
    /// Parses and validates YAML text.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        let mut c: Config = serde_yaml::from_str(text).map_err(|e| yaml_error(&e))?;
        c.warnings = validate_scrape_configs(&c.global, &mut c.scrape_configs)?;
        Ok(c)
    }

    /// Reads a file; relative paths inside are resolved against its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut c = Config::from_yaml(&text)?;
        if let Some(dir) = path.parent() {
            for s in &mut c.scrape_configs {
                s.set_directory(dir);
            }
        }
        Ok(c)
    }

    /// The warnings of this configuration (accepted but ignored parts).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// The Go type name Prometheus reports for a YAML path's last element.
fn go_type_for_path(path: &str) -> &'static str {
    let last = path.rsplit('.').next().unwrap_or(path);
    let last = last.split('[').next().unwrap_or(last);
    match last {
        "" => "config.plain",
        "global" => "config.GlobalConfig",
        "scrape_configs" => "config.ScrapeConfig",
        "relabel_configs" | "metric_relabel_configs" => "relabel.Config",
        "static_configs" => "targetgroup.Group",
        "file_sd_configs" => "file.SDConfig",
        "basic_auth" => "config.BasicAuth",
        "authorization" => "config.Authorization",
        "tls_config" => "config.TLSConfig",
        _ => "config",
    }
}

/// Turns a serde_yaml error into Prometheus's wording where they differ
/// (`unknown field` → `field x not found in type config.ScrapeConfig`).
pub fn yaml_error(e: &serde_yaml::Error) -> ConfigError {
    let msg = e.to_string();
    let line = e.location().map(|l| l.line());
    if let Some(start) = msg.find("unknown field `") {
        let rest = &msg[start + "unknown field `".len()..];
        if let Some(end) = rest.find('`') {
            let field = &rest[..end];
            let path = msg[..start].trim_end_matches([':', ' ']);
            let ty = go_type_for_path(path);
            let prefix = line.map(|l| format!("line {l}: ")).unwrap_or_default();
            return ConfigError::Parse(format!("{prefix}field {field} not found in type {ty}"));
        }
    }
    ConfigError::Parse(msg)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
