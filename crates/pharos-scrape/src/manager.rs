//! The scrape manager: one pool of scrape loops per job, kept in step with
//! the configuration and with discovery.
//!
//! Owns [`ScrapeManager`] (entry point: [`ScrapeManager::apply_config`],
//! [`targets`](ScrapeManager::targets), [`dropped_targets`](ScrapeManager::dropped_targets),
//! [`stats`](ScrapeManager::stats), [`stop`](ScrapeManager::stop)) and
//! [`TargetStatus`].
//!
//! **Reload never loses data**: a job whose configuration is unchanged is
//! left alone; a changed job keeps the loops of targets whose identity
//! (labels and URL) is unchanged and hands them the new settings; a loop
//! replaced by one with the same sample labels hands over its series, so no
//! staleness marker is written for series that go on; loops of targets that
//! are gone write staleness markers before `apply_config` returns. `stop`
//! writes no staleness markers, as Prometheus does on shutdown. A
//! configuration is checked whole (including building its HTTP clients)
//! before anything changes.
//!
//! Knows nothing of the storage engine (only [`Appendable`]) or of HTTP APIs.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;
use pharos_model::{Appendable, Labels};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::HttpScraper;
use crate::config::{validate_scrape_configs, ConfigError, GlobalConfig, ScrapeConfig};
use crate::discovery::{JobDiscovery, TargetGroup, DEFAULT_POLL_INTERVAL};
use crate::scrape_loop::{
    self, JobSettings, LoopDeps, LoopHandle, LoopStatus, StopMode, TargetHealth,
};
use crate::stats::{Counters, ScrapeStats};
use crate::target::{targets_from_groups, DroppedTarget, Target};

/// One target as the targets API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetStatus {
    /// The job (scrape pool).
    pub job: String,
    pub scrape_url: String,
    /// Labels of scraped samples (no `__` labels).
    pub labels: Labels,
    /// Labels from discovery, before relabeling.
    pub discovered_labels: Labels,
    pub health: TargetHealth,
    /// Empty when the last scrape succeeded.
    pub last_error: String,
    /// `None` before the first scrape.
    pub last_scrape: Option<SystemTime>,
    pub last_scrape_duration: Duration,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
}

/// Tuning of the manager itself.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    /// How often file_sd files are checked for changes.
    pub discovery_poll: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            discovery_poll: DEFAULT_POLL_INTERVAL,
        }
    }
}

/// Runs scrape loops for the configured jobs.
pub struct ScrapeManager {
    inner: Arc<Inner>,
}

struct Inner {
    appendable: Arc<dyn Appendable>,
    counters: Arc<Counters>,
    options: ManagerOptions,
    /// Serializes `apply_config` and `stop`.
    jobs: Mutex<HashMap<String, Job>>,
    /// What `targets()` reads, per job.
    views: RwLock<BTreeMap<String, JobView>>,
    seed: std::sync::atomic::AtomicU64,
}

#[derive(Default, Clone)]
struct JobView {
    active: Vec<(Target, Arc<parking_lot::Mutex<LoopStatus>>)>,
    dropped: Vec<DroppedTarget>,
}

struct Job {
    cfg: ScrapeConfig,
    pool: Arc<Mutex<Pool>>,
    discovery_cancel: CancellationToken,
    sync_task: Option<JoinHandle<()>>,
}

struct Pool {
    job: String,
    settings_tx: watch::Sender<Arc<JobSettings>>,
    loops: HashMap<u64, LoopHandle>,
    inner: std::sync::Weak<Inner>,
}

impl ScrapeManager {
    pub fn new(appendable: Arc<dyn Appendable>) -> ScrapeManager {
        ScrapeManager::with_options(appendable, ManagerOptions::default())
    }

    pub fn with_options(appendable: Arc<dyn Appendable>, options: ManagerOptions) -> ScrapeManager {
        ScrapeManager {
            inner: Arc::new(Inner {
                appendable,
                counters: Arc::new(Counters::default()),
                options,
                jobs: Mutex::new(HashMap::new()),
                views: RwLock::new(BTreeMap::new()),
                seed: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Applies a configuration: checks it whole, then starts, updates and
    /// stops jobs and targets. Warnings (ignored parts) are logged.
    pub async fn apply_config(
        &self,
        global: &GlobalConfig,
        scrape_configs: &[ScrapeConfig],
    ) -> Result<(), ConfigError> {
        let mut cfgs = scrape_configs.to_vec();
        for w in validate_scrape_configs(global, &mut cfgs)? {
            tracing::warn!("{w}");
        }
        let mut clients = Vec::with_capacity(cfgs.len());
        for c in &cfgs {
            let client = HttpScraper::new(c).map_err(|e| {
                ConfigError::Invalid(format!("scrape config {:?}: {e}", c.job_name))
            })?;
            clients.push(Arc::new(client));
        }
        self.inner.seed.store(
            global.external_labels().hash64(),
            std::sync::atomic::Ordering::Relaxed,
        );

        let mut jobs = self.inner.jobs.lock().await;
        let wanted: std::collections::HashSet<&str> =
            cfgs.iter().map(|c| c.job_name.as_str()).collect();
        let gone: Vec<String> = jobs
            .keys()
            .filter(|k| !wanted.contains(k.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some(job) = jobs.remove(&name) {
                job.shutdown(StopMode::Stale).await;
            }
            self.inner.views.write().remove(&name);
        }
        for (cfg, client) in cfgs.into_iter().zip(clients) {
            match jobs.get_mut(&cfg.job_name) {
                Some(job) if job.cfg == cfg => {}
                Some(job) => {
                    job.stop_discovery().await;
                    let settings = Arc::new(JobSettings {
                        cfg: Arc::new(cfg.clone()),
                        client,
                        forced_error: None,
                    });
                    job.pool.lock().await.settings_tx.send_replace(settings);
                    job.cfg = cfg;
                    self.start_discovery(job).await;
                }
                None => {
                    let settings = Arc::new(JobSettings {
                        cfg: Arc::new(cfg.clone()),
                        client,
                        forced_error: None,
                    });
                    let (settings_tx, _) = watch::channel(settings);
                    let pool = Pool {
                        job: cfg.job_name.clone(),
                        settings_tx,
                        loops: HashMap::new(),
                        inner: Arc::downgrade(&self.inner),
                    };
                    let mut job = Job {
                        cfg,
                        pool: Arc::new(Mutex::new(pool)),
                        discovery_cancel: CancellationToken::new(),
                        sync_task: None,
                    };
                    self.start_discovery(&mut job).await;
                    jobs.insert(job.cfg.job_name.clone(), job);
                }
            }
        }
        Ok(())
    }

    /// Reads the job's groups once, syncs its pool, and watches for changes.
    async fn start_discovery(&self, job: &mut Job) {
        let cancel = CancellationToken::new();
        let disc = JobDiscovery::new(&job.cfg);
        let poll = self.inner.options.discovery_poll;
        let c2 = cancel.clone();
        let rx = match tokio::task::spawn_blocking(move || {
            // `spawn` reads the files first; run that off the async threads.
            let handle = tokio::runtime::Handle::current();
            let _g = handle.enter();
            disc.spawn(poll, c2)
        })
        .await
        {
            Ok(rx) => rx,
            Err(e) => {
                tracing::error!(error = %e, "starting discovery failed");
                return;
            }
        };
        let groups = rx.borrow().clone();
        job.pool.lock().await.sync(groups).await;
        let pool = job.pool.clone();
        let c3 = cancel.clone();
        let mut rx = rx;
        job.sync_task = Some(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = c3.cancelled() => return,
                    r = rx.changed() => if r.is_err() { return },
                }
                let groups = rx.borrow_and_update().clone();
                pool.lock().await.sync(groups).await;
            }
        }));
        job.discovery_cancel = cancel;
    }

    /// Active targets of all jobs, by job then discovery order.
    pub fn targets(&self) -> Vec<TargetStatus> {
        let views = self.inner.views.read();
        let mut out = Vec::new();
        for (job, v) in views.iter() {
            for (t, st) in &v.active {
                let s = st.lock().clone();
                out.push(TargetStatus {
                    job: job.clone(),
                    scrape_url: t.url().to_string(),
                    labels: t.labels(),
                    discovered_labels: t.discovered_labels().clone(),
                    health: s.health,
                    last_error: s.last_error,
                    last_scrape: s.last_scrape,
                    last_scrape_duration: s.last_scrape_duration,
                    scrape_interval: t.interval(),
                    scrape_timeout: t.timeout(),
                });
            }
        }
        out
    }

    /// Discovered targets that relabeling dropped.
    pub fn dropped_targets(&self) -> Vec<DroppedTarget> {
        self.inner
            .views
            .read()
            .values()
            .flat_map(|v| v.dropped.iter().cloned())
            .collect()
    }

    /// Counters since the manager started.
    pub fn stats(&self) -> ScrapeStats {
        self.inner.counters.snapshot()
    }

    /// Stops every loop and discovery, without staleness markers.
    pub async fn stop(&self) {
        let mut jobs = self.inner.jobs.lock().await;
        for (_, job) in jobs.drain() {
            job.shutdown(StopMode::Quiet).await;
        }
        self.inner.views.write().clear();
    }
}

impl Drop for ScrapeManager {
    /// Signals every loop and discovery task to end (without staleness
    /// markers) if [`ScrapeManager::stop`] was not awaited.
    fn drop(&mut self) {
        if let Ok(jobs) = self.inner.jobs.try_lock() {
            for job in jobs.values() {
                job.discovery_cancel.cancel();
                if let Ok(pool) = job.pool.try_lock() {
                    for l in pool.loops.values() {
                        l.signal_stop(StopMode::Quiet);
                    }
                }
            }
        }
    }
}

impl Job {
    async fn stop_discovery(&mut self) {
        self.discovery_cancel.cancel();
        if let Some(t) = self.sync_task.take() {
            let _ = t.await;
        }
    }

    async fn shutdown(mut self, mode: StopMode) {
        self.stop_discovery().await;
        let mut pool = self.pool.lock().await;
        let loops: Vec<LoopHandle> = pool.loops.drain().map(|(_, l)| l).collect();
        for l in &loops {
            l.signal_stop(mode);
        }
        for l in loops {
            l.join().await;
        }
    }
}

impl Pool {
    /// Brings the loops in line with `groups`.
    async fn sync(&mut self, groups: Vec<TargetGroup>) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let settings = self.settings_tx.borrow().clone();
        let cfg = settings.cfg.clone();
        let built = targets_from_groups(&groups, &cfg);

        let limit = cfg.target_limit;
        let n = built.targets.len();
        let forced = (limit > 0 && n as u64 > limit)
            .then(|| format!("target_limit exceeded (number of targets: {n}, limit: {limit})"));
        if forced != settings.forced_error {
            let mut s = (*settings).clone();
            s.forced_error = forced;
            self.settings_tx.send_replace(Arc::new(s));
        }

        let new: HashMap<u64, Target> = built
            .targets
            .iter()
            .map(|t| (t.hash(), t.clone()))
            .collect();
        let removed: Vec<u64> = self
            .loops
            .keys()
            .filter(|h| !new.contains_key(h))
            .copied()
            .collect();
        let removed_loops: Vec<LoopHandle> = removed
            .iter()
            .filter_map(|h| self.loops.remove(h))
            .collect();

        // A new target with the same sample labels as a removed one (say, its
        // interval changed) continues its series: no staleness markers.
        let mut stopping: Vec<LoopHandle> = Vec::new();
        let mut by_labels: HashMap<Labels, LoopHandle> = HashMap::new();
        for l in removed_loops {
            match by_labels.entry(l.target.labels()) {
                Entry::Vacant(e) => {
                    e.insert(l);
                }
                Entry::Occupied(_) => stopping.push(l),
            }
        }
        let mut handover: HashMap<u64, LoopHandle> = HashMap::new();
        for t in &built.targets {
            let h = t.hash();
            if self.loops.contains_key(&h) {
                continue;
            }
            if let Some(l) = by_labels.remove(&t.labels()) {
                l.signal_stop(StopMode::Quiet);
                handover.insert(h, l);
            }
        }
        stopping.extend(by_labels.into_values());
        for l in &stopping {
            l.signal_stop(StopMode::Stale);
        }
        for l in stopping {
            l.join().await;
        }
        for t in &built.targets {
            let h = t.hash();
            if self.loops.contains_key(&h) {
                continue;
            }
            let state = match handover.remove(&h) {
                Some(old) => old.join().await,
                None => Default::default(),
            };
            let deps = LoopDeps {
                appendable: inner.appendable.clone(),
                counters: inner.counters.clone(),
                settings: self.settings_tx.subscribe(),
                seed: inner.seed.load(std::sync::atomic::Ordering::Relaxed),
            };
            self.loops
                .insert(h, scrape_loop::spawn(t.clone(), deps, state));
        }

        let active = built
            .targets
            .iter()
            .filter_map(|t| {
                self.loops
                    .get(&t.hash())
                    .map(|l| (l.target.clone(), l.status.clone()))
            })
            .collect();
        inner.views.write().insert(
            self.job.clone(),
            JobView {
                active,
                dropped: built.dropped,
            },
        );
    }
}
