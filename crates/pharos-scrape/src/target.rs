//! Targets: what a discovered address becomes after relabeling, as
//! Prometheus 2.42's `populateLabels` builds it.
//!
//! Owns [`Target`] (final labels, discovered labels, URL, interval and
//! timeout), [`DroppedTarget`] (kept for the targets API), [`TargetError`]
//! and [`targets_from_group`]. The steps: `__address__` and the group's
//! labels; `job`, `__scheme__`, `__metrics_path__`, `__scrape_interval__`,
//! `__scrape_timeout__` and `__param_<name>` unless already set;
//! `relabel_configs`; a default port from the scheme (2.42 still adds `:80`
//! or `:443`); `__meta_*` removed; `instance` defaulted to the address. The
//! labels a scraped sample gets are the ones without a `__` prefix.
//!
//! Knows nothing of HTTP or of running loops.

use std::collections::BTreeMap;
use std::time::Duration;

use pharos_model::duration::{format_duration, parse_duration};
use pharos_model::{Labels, LabelsBuilder};
use reqwest::Url;

use crate::config::ScrapeConfig;
use crate::discovery::TargetGroup;
use crate::relabel;

pub const ADDRESS_LABEL: &str = "__address__";
pub const SCHEME_LABEL: &str = "__scheme__";
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
pub const PARAM_LABEL_PREFIX: &str = "__param_";
pub const META_LABEL_PREFIX: &str = "__meta_";
pub const RESERVED_LABEL_PREFIX: &str = "__";
pub const JOB_LABEL: &str = "job";
pub const INSTANCE_LABEL: &str = "instance";

/// Why a discovered address could not become a target (logged, not fatal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    #[error("no address")]
    NoAddress,
    #[error("invalid scheme: {0:?}")]
    InvalidScheme(String),
    #[error("{0:?} is not a valid hostname")]
    InvalidHostname(String),
    #[error("error parsing scrape interval: {0}")]
    BadInterval(String),
    #[error("scrape interval cannot be 0")]
    ZeroInterval,
    #[error("error parsing scrape timeout: {0}")]
    BadTimeout(String),
    #[error("scrape timeout cannot be 0")]
    ZeroTimeout,
    #[error("scrape timeout cannot be greater than scrape interval ({0:?} > {1:?})")]
    TimeoutExceedsInterval(String, String),
    #[error("invalid target url {0:?}: {1}")]
    BadUrl(String, String),
}

/// One thing to scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    job: String,
    /// All labels after relabeling, `__address__` and the other `__` labels included.
    all: Labels,
    discovered: Labels,
    url: Url,
    interval: Duration,
    timeout: Duration,
}

impl Target {
    /// The job (scrape config) this target belongs to.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The labels scraped samples get: every label without a `__` prefix.
    pub fn labels(&self) -> Labels {
        Labels::from_sorted_unchecked(
            self.all
                .iter()
                .filter(|l| !l.name.starts_with(RESERVED_LABEL_PREFIX))
                .cloned()
                .collect(),
        )
    }

    /// Every label after relabeling, `__` labels included.
    pub fn all_labels(&self) -> &Labels {
        &self.all
    }

    /// The labels discovery produced, before relabeling.
    pub fn discovered_labels(&self) -> &Labels {
        &self.discovered
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Identity of the target within its job: its labels and its URL.
    pub fn hash(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(&self.all.hash64().to_le_bytes());
        h.update(self.url.as_str().as_bytes());
        h.digest()
    }
}

/// A discovered address that relabeling dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedTarget {
    pub job: String,
    pub discovered_labels: Labels,
}

/// Builds the labels of one discovered label set. `Ok((None, discovered))`
/// means relabeling dropped it.
pub fn populate_labels(
    lset: &Labels,
    cfg: &ScrapeConfig,
) -> Result<(Option<Labels>, Labels), TargetError> {
    let mut b = lset.builder();
    let defaults = [
        (JOB_LABEL, cfg.job_name.clone()),
        (SCRAPE_INTERVAL_LABEL, format_duration(cfg.interval())),
        (SCRAPE_TIMEOUT_LABEL, format_duration(cfg.timeout())),
        (METRICS_PATH_LABEL, cfg.metrics_path.clone()),
        (SCHEME_LABEL, cfg.scheme.clone()),
    ];
    for (name, value) in defaults {
        if b.get(name).unwrap_or("").is_empty() {
            b.set(name, &value);
        }
    }
    for (k, v) in &cfg.params {
        if let Some(first) = v.first() {
            b.set(&format!("{PARAM_LABEL_PREFIX}{k}"), first);
        }
    }
    let discovered = b.build();
    if !relabel::process_builder(&mut b, &cfg.relabel_configs) {
        return Ok((None, discovered));
    }
    let addr = b.get(ADDRESS_LABEL).unwrap_or("").to_string();
    if addr.is_empty() {
        return Err(TargetError::NoAddress);
    }
    let addr = with_default_port(&addr, b.get(SCHEME_LABEL).unwrap_or(""))?;
    b.set(ADDRESS_LABEL, &addr);
    if addr.contains('/') {
        return Err(TargetError::InvalidHostname(addr));
    }
    interval_and_timeout(&b)?;
    b.retain(|l| !l.name.starts_with(META_LABEL_PREFIX));
    if b.get(INSTANCE_LABEL).unwrap_or("").is_empty() {
        b.set(INSTANCE_LABEL, &addr);
    }
    Ok((Some(b.build()), discovered))
}

fn interval_and_timeout(b: &LabelsBuilder) -> Result<(Duration, Duration), TargetError> {
    let is = b.get(SCRAPE_INTERVAL_LABEL).unwrap_or("");
    let interval = parse_duration(is).map_err(|e| TargetError::BadInterval(e.to_string()))?;
    if interval.is_zero() {
        return Err(TargetError::ZeroInterval);
    }
    let ts = b.get(SCRAPE_TIMEOUT_LABEL).unwrap_or("");
    let timeout = parse_duration(ts).map_err(|e| TargetError::BadTimeout(e.to_string()))?;
    if timeout.is_zero() {
        return Err(TargetError::ZeroTimeout);
    }
    if timeout > interval {
        return Err(TargetError::TimeoutExceedsInterval(
            ts.to_string(),
            is.to_string(),
        ));
    }
    Ok((interval, timeout))
}

/// Adds `:80` or `:443` to an address without a port, as Prometheus 2.42 does.
fn with_default_port(addr: &str, scheme: &str) -> Result<String, TargetError> {
    if has_port(addr) {
        return Ok(addr.to_string());
    }
    match scheme {
        "http" | "" => Ok(format!("{addr}:80")),
        "https" => Ok(format!("{addr}:443")),
        s => Err(TargetError::InvalidScheme(s.to_string())),
    }
}

fn has_port(addr: &str) -> bool {
    if let Some(rest) = addr.strip_prefix('[') {
        // [v6]:port
        return rest
            .split_once(']')
            .is_some_and(|(_, p)| p.starts_with(':') && p.len() > 1);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) => !host.contains(':') && !port.is_empty(),
        None => false,
    }
}

/// The scrape URL from `__scheme__`, `__address__`, `__metrics_path__`, the
/// config's `params` and any `__param_<name>` label (which replaces the first value).
pub fn target_url(
    all: &Labels,
    params: &BTreeMap<String, Vec<String>>,
) -> Result<Url, TargetError> {
    let scheme = all.get(SCHEME_LABEL).unwrap_or("http");
    let addr = all.get(ADDRESS_LABEL).unwrap_or("");
    let path = all.get(METRICS_PATH_LABEL).unwrap_or("");
    let base = format!("{scheme}://{addr}");
    let mut url =
        Url::parse(&base).map_err(|e| TargetError::BadUrl(base.clone(), e.to_string()))?;
    url.set_path(path);
    let mut q: BTreeMap<String, Vec<String>> = params.clone();
    for l in all.iter() {
        if let Some(k) = l.name.strip_prefix(PARAM_LABEL_PREFIX) {
            match q.get_mut(k) {
                Some(v) if !v.is_empty() => v[0] = l.value.clone(),
                _ => {
                    q.insert(k.to_string(), vec![l.value.clone()]);
                }
            }
        }
    }
    if q.values().any(|v| !v.is_empty()) {
        let mut pairs = url.query_pairs_mut();
        for (k, vs) in &q {
            for v in vs {
                pairs.append_pair(k, v);
            }
        }
    }
    Ok(url)
}

/// The outcome of building the targets of some groups.
#[derive(Debug, Default)]
pub struct Built {
    pub targets: Vec<Target>,
    pub dropped: Vec<DroppedTarget>,
    pub errors: Vec<TargetError>,
}

/// Builds targets from one group: each address with the group's labels
/// (labels of the address win), then [`populate_labels`].
pub fn targets_from_group(tg: &TargetGroup, cfg: &ScrapeConfig, out: &mut Built) {
    for addr in &tg.targets {
        let mut b = tg.labels.builder();
        b.set(ADDRESS_LABEL, addr);
        let lset = b.build();
        match build_target(&lset, cfg) {
            Ok(Ok(t)) => out.targets.push(t),
            Ok(Err(d)) => out.dropped.push(d),
            Err(e) => {
                tracing::warn!(job = %cfg.job_name, source = %tg.source, error = %e, "creating target failed");
                out.errors.push(e)
            }
        }
    }
}

/// Builds the targets of all groups of a job, without duplicates.
pub fn targets_from_groups(groups: &[TargetGroup], cfg: &ScrapeConfig) -> Built {
    let mut out = Built::default();
    for g in groups {
        targets_from_group(g, cfg, &mut out);
    }
    let mut seen = std::collections::HashSet::new();
    out.targets.retain(|t| seen.insert(t.hash()));
    out
}

fn build_target(
    lset: &Labels,
    cfg: &ScrapeConfig,
) -> Result<Result<Target, DroppedTarget>, TargetError> {
    let (res, discovered) = populate_labels(lset, cfg)?;
    let Some(all) = res else {
        return Ok(Err(DroppedTarget {
            job: cfg.job_name.clone(),
            discovered_labels: discovered,
        }));
    };
    let b = all.builder();
    let (interval, timeout) = interval_and_timeout(&b)?;
    let url = target_url(&all, &cfg.params)?;
    Ok(Ok(Target {
        job: cfg.job_name.clone(),
        all,
        discovered,
        url,
        interval,
        timeout,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> ScrapeConfig {
        let mut c: ScrapeConfig = serde_yaml::from_str(yaml).unwrap();
        c.validate(&crate::config::GlobalConfig::default()).unwrap();
        c
    }

    fn group(targets: &[&str], labels: &[(&str, &str)]) -> TargetGroup {
        TargetGroup {
            source: "t".into(),
            targets: targets.iter().map(|s| s.to_string()).collect(),
            labels: Labels::from_pairs(labels),
        }
    }

    #[test]
    fn defaults() {
        let c = cfg("{job_name: node, scrape_interval: 15s}");
        let b = targets_from_groups(&[group(&["h1:9100"], &[("env", "prod")])], &c);
        assert_eq!(b.targets.len(), 1);
        let t = &b.targets[0];
        assert_eq!(
            t.labels(),
            Labels::from_pairs(&[("env", "prod"), ("instance", "h1:9100"), ("job", "node")])
        );
        assert_eq!(t.url().as_str(), "http://h1:9100/metrics");
        assert_eq!(t.interval(), Duration::from_secs(15));
        assert_eq!(t.timeout(), Duration::from_secs(10));
        assert_eq!(
            t.discovered_labels(),
            &Labels::from_pairs(&[
                ("__address__", "h1:9100"),
                ("__metrics_path__", "/metrics"),
                ("__scheme__", "http"),
                ("__scrape_interval__", "15s"),
                ("__scrape_timeout__", "10s"),
                ("env", "prod"),
                ("job", "node"),
            ])
        );
    }

    #[test]
    fn default_ports_and_schemes() {
        let c = cfg("{job_name: a, scheme: https}");
        let b = targets_from_groups(&[group(&["h1", "h2:8443", "[::1]"], &[])], &c);
        let urls: Vec<_> = b.targets.iter().map(|t| t.url().to_string()).collect();
        assert_eq!(
            urls,
            vec![
                "https://h1/metrics",
                "https://h2:8443/metrics",
                "https://[::1]/metrics"
            ]
        );
        assert_eq!(b.targets[0].labels().get("instance"), Some("h1:443"));
        let c =
            cfg("{job_name: a, relabel_configs: [{target_label: __scheme__, replacement: ftp}]}");
        let b = targets_from_groups(&[group(&["h1"], &[])], &c);
        assert_eq!(b.errors, vec![TargetError::InvalidScheme("ftp".into())]);
    }

    #[test]
    fn params_and_relabeling() {
        let c = cfg(
            r#"{job_name: blackbox, metrics_path: /probe, params: {module: [http_2xx]},
                relabel_configs: [
                  {source_labels: [__address__], target_label: __param_target},
                  {source_labels: [__param_target], target_label: instance},
                  {target_label: __address__, replacement: 'bb:9115'},
                  {source_labels: [__meta_x], target_label: x},
                ]}"#,
        );
        let b = targets_from_groups(
            &[group(
                &["https://example.com", "http://b.org/x?y"],
                &[("__meta_x", "m")],
            )],
            &c,
        );
        assert!(b.errors.is_empty(), "{:?}", b.errors);
        let t = &b.targets[0];
        assert_eq!(
            t.url().as_str(),
            "http://bb:9115/probe?module=http_2xx&target=https%3A%2F%2Fexample.com"
        );
        assert_eq!(
            t.labels(),
            Labels::from_pairs(&[
                ("instance", "https://example.com"),
                ("job", "blackbox"),
                ("x", "m")
            ])
        );
        assert!(!t.all_labels().has("__meta_x"));
        assert!(t.all_labels().has("__param_target"));
        assert_ne!(b.targets[0].hash(), b.targets[1].hash());
    }

    #[test]
    fn dropped_and_errors() {
        let c = cfg(
            "{job_name: a, relabel_configs: [{source_labels: [env], regex: dev, action: drop}]}",
        );
        let b = targets_from_groups(
            &[
                group(&["h1:1"], &[("env", "dev")]),
                group(&["h2:1", "a/b:1"], &[("env", "prod")]),
            ],
            &c,
        );
        assert_eq!(b.targets.len(), 1);
        assert_eq!(b.dropped.len(), 1);
        assert_eq!(
            b.dropped[0].discovered_labels.get("__address__"),
            Some("h1:1")
        );
        assert_eq!(b.errors, vec![TargetError::InvalidHostname("a/b:1".into())]);
        let c =
            cfg("{job_name: a, relabel_configs: [{target_label: __address__, replacement: ''}]}");
        let b = targets_from_groups(&[group(&["h1:1"], &[])], &c);
        assert_eq!(b.errors, vec![TargetError::NoAddress]);
    }

    #[test]
    fn relabeled_interval_and_duplicates() {
        let c = cfg(
            "{job_name: a, scrape_interval: 30s, relabel_configs: [{target_label: __scrape_interval__, replacement: 1m}, {target_label: __scrape_timeout__, replacement: 2m}]}",
        );
        let b = targets_from_groups(&[group(&["h1:1"], &[])], &c);
        assert_eq!(
            b.errors,
            vec![TargetError::TimeoutExceedsInterval(
                "2m".into(),
                "1m".into()
            )]
        );
        let c = cfg("{job_name: a, relabel_configs: [{target_label: __scrape_interval__, replacement: 1m}]}");
        let b = targets_from_groups(&[group(&["h1:1", "h1:1"], &[])], &c);
        assert_eq!(b.targets.len(), 1);
        assert_eq!(b.targets[0].interval(), Duration::from_secs(60));
        // Group labels never override the address, and a group's job wins over the default.
        let b = targets_from_groups(
            &[group(
                &["h1:1"],
                &[("job", "custom"), ("__address__", "x:1")],
            )],
            &c,
        );
        assert_eq!(b.targets[0].labels().get("job"), Some("custom"));
        assert_eq!(b.targets[0].labels().get("instance"), Some("h1:1"));
    }
}
