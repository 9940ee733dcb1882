//! Service discovery: `static_configs` and `file_sd_configs` turned into
//! target groups per job.
//!
//! Owns [`TargetGroup`], [`FileSd`] (one `file_sd_configs` entry: glob
//! expansion, JSON/YAML reading, change detection by mtime and size plus a
//! full re-read every `refresh_interval`; a file that fails to read or parse
//! keeps its last good groups) and [`JobDiscovery`] (all groups of one job,
//! and a task that watches the files and publishes changes on a
//! `tokio::sync::watch` channel).
//!
//! Knows nothing of relabeling, target labels or scraping: it only says which
//! addresses exist and with which group labels.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use pharos_model::Labels;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{FileSdConfig, ScrapeConfig, StaticConfig};

/// The label file_sd adds with the path a group was read from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// Addresses with the labels they share, from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroup {
    /// Where the group came from: `static/0`, `/etc/prom/a.json:2`.
    pub source: String,
    /// `host:port` addresses.
    pub targets: Vec<String>,
    /// Labels every target of the group gets (unless the target sets them).
    pub labels: Labels,
}

/// Why a file_sd file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    #[error("reading {path}: {err}")]
    Read { path: String, err: std::io::Error },
    #[error("parsing {path}: {message}")]
    Parse { path: String, message: String },
}

fn labels_of(m: &BTreeMap<String, String>) -> Labels {
    Labels::from_pairs(&m.iter().collect::<Vec<_>>())
}

/// The groups of a job's `static_configs`.
pub fn static_groups(cfgs: &[StaticConfig]) -> Vec<TargetGroup> {
    cfgs.iter()
        .enumerate()
        .map(|(i, s)| TargetGroup {
            source: format!("static/{i}"),
            targets: s.targets.clone(),
            labels: labels_of(&s.labels),
        })
        .collect()
}

/// Parses the content of a file_sd file: a list of `{targets, labels}`,
/// JSON if the name ends in `.json`, YAML otherwise.
pub fn parse_file_groups(path: &Path, data: &[u8]) -> Result<Vec<TargetGroup>, DiscoveryError> {
    let p = path.display().to_string();
    let perr = |message: String| DiscoveryError::Parse {
        path: p.clone(),
        message,
    };
    let is_json = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let groups: Vec<Option<StaticConfig>> = if is_json {
        serde_json::from_slice(data).map_err(|e| perr(e.to_string()))?
    } else if data.iter().all(|b| b.is_ascii_whitespace()) {
        Vec::new()
    } else {
        serde_yaml::from_slice(data).map_err(|e| perr(e.to_string()))?
    };
    let mut out = Vec::with_capacity(groups.len());
    for (i, g) in groups.into_iter().enumerate() {
        let g = g.ok_or_else(|| perr("nil target group item found".to_string()))?;
        g.validate().map_err(|e| perr(e.to_string()))?;
        let mut b = labels_of(&g.labels).builder();
        b.set(FILEPATH_LABEL, &p);
        out.push(TargetGroup {
            source: format!("{p}:{i}"),
            targets: g.targets,
            labels: b.build(),
        });
    }
    Ok(out)
}

/// Expands a pattern whose last element may hold `*` and `?` wildcards.
/// Missing directories and unreadable entries give no matches.
pub fn expand_glob(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new(pattern);
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    if !name.contains(['*', '?']) {
        return if path.exists() {
            vec![path.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(|n| glob_match(name, n)))
        .map(|e| dir.join(e.file_name()))
        .collect();
    out.sort();
    out
}

/// Matches `*` (any run) and `?` (one character); everything else literally.
fn glob_match(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

#[derive(Debug)]
struct FileState {
    stamp: FileStamp,
    groups: Vec<TargetGroup>,
}

/// One `file_sd_configs` entry and what it last read.
#[derive(Debug)]
pub struct FileSd {
    cfg: FileSdConfig,
    files: BTreeMap<PathBuf, FileState>,
    last_full: Option<Instant>,
}

impl FileSd {
    pub fn new(cfg: FileSdConfig) -> FileSd {
        FileSd {
            cfg,
            files: BTreeMap::new(),
            last_full: None,
        }
    }

    /// Re-reads what changed (all files if `refresh_interval` has passed).
    /// Returns true if the groups changed. Errors are logged; a file that
    /// fails keeps its last good groups.
    pub fn refresh(&mut self) -> bool {
        let full = self
            .last_full
            .is_none_or(|t| t.elapsed() >= self.cfg.refresh_interval.0);
        if full {
            self.last_full = Some(Instant::now());
        }
        let mut seen: Vec<PathBuf> = self.cfg.files.iter().flat_map(|p| expand_glob(p)).collect();
        seen.sort();
        seen.dedup();
        let mut changed = false;
        let gone: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|p| seen.binary_search(p).is_err())
            .cloned()
            .collect();
        for p in gone {
            self.files.remove(&p);
            changed = true;
        }
        for p in seen {
            let stamp = match std::fs::metadata(&p) {
                Ok(m) => FileStamp {
                    modified: m.modified().ok(),
                    len: m.len(),
                },
                Err(_) => continue,
            };
            let known = self.files.get(&p);
            if !full && known.is_some_and(|s| s.stamp == stamp) {
                continue;
            }
            let read = std::fs::read(&p)
                .map_err(|err| DiscoveryError::Read {
                    path: p.display().to_string(),
                    err,
                })
                .and_then(|data| parse_file_groups(&p, &data));
            match read {
                Ok(groups) => {
                    if known.is_none_or(|s| s.groups != groups) {
                        changed = true;
                    }
                    self.files.insert(p, FileState { stamp, groups });
                }
                Err(e) => {
                    tracing::error!(error = %e, "file_sd: keeping the last good targets");
                    if let Some(s) = self.files.get_mut(&p) {
                        // Do not retry this version of the file until it changes again.
                        s.stamp = stamp;
                    }
                }
            }
        }
        changed
    }

    /// The groups of all files, in path order.
    pub fn groups(&self) -> Vec<TargetGroup> {
        self.files
            .values()
            .flat_map(|s| s.groups.iter().cloned())
            .collect()
    }
}

/// All target groups of one job.
#[derive(Debug)]
pub struct JobDiscovery {
    static_groups: Vec<TargetGroup>,
    files: Vec<FileSd>,
}

/// How often file_sd files are checked for changes.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);

impl JobDiscovery {
    pub fn new(cfg: &ScrapeConfig) -> JobDiscovery {
        JobDiscovery {
            static_groups: static_groups(&cfg.static_configs),
            files: cfg
                .file_sd_configs
                .iter()
                .cloned()
                .map(FileSd::new)
                .collect(),
        }
    }

    /// True if there is something to watch (file_sd).
    pub fn is_dynamic(&self) -> bool {
        !self.files.is_empty()
    }

    /// Re-reads files; true if the groups changed.
    pub fn refresh(&mut self) -> bool {
        let mut changed = false;
        for f in &mut self.files {
            changed |= f.refresh();
        }
        changed
    }

    /// Static groups first, then file groups.
    pub fn groups(&self) -> Vec<TargetGroup> {
        let mut v = self.static_groups.clone();
        for f in &self.files {
            v.extend(f.groups());
        }
        v
    }

    /// Reads everything once, then (if there are files) watches them every
    /// `poll` on a blocking-safe task until `cancel`. The receiver always
    /// holds the current groups.
    pub fn spawn(
        mut self,
        poll: Duration,
        cancel: CancellationToken,
    ) -> watch::Receiver<Vec<TargetGroup>> {
        self.refresh();
        let (tx, rx) = watch::channel(self.groups());
        if !self.is_dynamic() {
            return rx;
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let res = tokio::task::spawn_blocking(move || {
                    let changed = self.refresh();
                    (self, changed)
                })
                .await;
                let Ok((me, changed)) = res else {
                    tracing::error!("file_sd: refresh task failed");
                    return;
                };
                self = me;
                if changed && tx.send(self.groups()).is_err() {
                    return;
                }
            }
        });
        rx
    }
}

/// Groups by job name, as the manager sees them.
pub type JobGroups = HashMap<String, Vec<TargetGroup>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, s: &str) {
        std::fs::write(p, s).unwrap();
    }

    #[test]
    fn static_configs_become_groups() {
        let cfg: ScrapeConfig = serde_yaml::from_str(
            "{job_name: a, static_configs: [{targets: ['h1:80', 'h2:80'], labels: {env: prod}}, {targets: ['h3:80']}]}",
        )
        .unwrap();
        let g = JobDiscovery::new(&cfg).groups();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].source, "static/0");
        assert_eq!(g[0].targets, vec!["h1:80", "h2:80"]);
        assert_eq!(g[0].labels, Labels::from_pairs(&[("env", "prod")]));
        assert!(g[1].labels.is_empty());
    }

    #[test]
    fn file_sd_json_and_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("a.json");
        let y = dir.path().join("b.yml");
        write(
            &j,
            r#"[{"targets": ["h1:9100"], "labels": {"env": "prod"}}, {"targets": ["h2:9100"]}]"#,
        );
        write(
            &y,
            "- targets: ['h3:9100']\n  labels: {env: dev, port: 9100}\n",
        );
        let cfg = FileSdConfig {
            files: vec![
                dir.path().join("*.json").display().to_string(),
                y.display().to_string(),
            ],
            refresh_interval: crate::config::PromDuration::from_secs(300),
        };
        let mut sd = FileSd::new(cfg);
        assert!(sd.refresh());
        let g = sd.groups();
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].source, format!("{}:0", j.display()));
        assert_eq!(g[0].labels.get("env"), Some("prod"));
        assert_eq!(
            g[0].labels.get(FILEPATH_LABEL),
            Some(j.display().to_string().as_str())
        );
        assert_eq!(g[1].targets, vec!["h2:9100"]);
        assert_eq!(g[2].targets, vec!["h3:9100"]);
        assert_eq!(g[2].labels.get("port"), Some("9100"));
        // Nothing changed: no change reported.
        assert!(!sd.refresh());
    }

    #[test]
    fn file_sd_change_detection_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("t.json");
        write(&j, r#"[{"targets": ["h1:1"]}]"#);
        let cfg = FileSdConfig {
            files: vec![dir.path().join("*.json").display().to_string()],
            refresh_interval: crate::config::PromDuration::from_secs(300),
        };
        let mut sd = FileSd::new(cfg);
        assert!(sd.refresh());
        // A change of content (and size) is seen.
        write(&j, r#"[{"targets": ["h1:1", "h2:2"]}]"#);
        assert!(sd.refresh());
        assert_eq!(sd.groups()[0].targets, vec!["h1:1", "h2:2"]);
        // A broken file keeps the last good targets.
        write(&j, "[{\"targets\": [");
        assert!(!sd.refresh());
        assert_eq!(sd.groups()[0].targets, vec!["h1:1", "h2:2"]);
        // A new file matching the glob is picked up.
        write(&dir.path().join("u.json"), r#"[{"targets": ["h3:3"]}]"#);
        assert!(sd.refresh());
        assert_eq!(sd.groups().len(), 2);
        // A removed file removes its groups.
        std::fs::remove_file(&j).unwrap();
        assert!(sd.refresh());
        assert_eq!(sd.groups().len(), 1);
        assert_eq!(sd.groups()[0].targets, vec!["h3:3"]);
        // Invalid content is refused with a message.
        let e = parse_file_groups(
            Path::new("x.yml"),
            b"- targets: [a]\n  labels: {'a-b': x}\n",
        );
        assert!(e.unwrap_err().to_string().contains("invalid name"));
        assert!(parse_file_groups(Path::new("x.yml"), b"")
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn spawn_publishes_changes() {
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("t.yaml");
        write(&j, "- targets: ['a:1']\n");
        let cfg: ScrapeConfig = serde_yaml::from_str(&format!(
            "{{job_name: a, static_configs: [{{targets: ['s:1']}}], file_sd_configs: [{{files: ['{}']}}]}}",
            j.display()
        ))
        .unwrap();
        let cancel = CancellationToken::new();
        let mut rx = JobDiscovery::new(&cfg).spawn(Duration::from_millis(20), cancel.clone());
        assert_eq!(rx.borrow().len(), 2);
        write(&j, "- targets: ['a:1', 'b:2']\n");
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rx.borrow()[1].targets, vec!["a:1", "b:2"]);
        cancel.cancel();
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.json", "a.json"));
        assert!(glob_match("a*b*.yml", "axxbyy.yml"));
        assert!(glob_match("?.json", "a.json"));
        assert!(!glob_match("*.json", "a.yml"));
        assert!(!glob_match("?.json", "ab.json"));
    }
}
