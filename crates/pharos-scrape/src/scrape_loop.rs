//! One target's scrape loop: a tokio task that scrapes on a fixed schedule
//! until stopped.
//!
//! Owns [`LoopHandle`] (how the manager stops a loop and reads its status),
//! [`LoopStatus`], [`JobSettings`] (what all loops of a job share and a
//! reload replaces) and the schedule: the first scrape lands at
//! `hash(target) ^ seed` modulo the interval, measured on the wall clock, so
//! that targets spread over the interval and a restarted loop keeps its
//! phase; later scrapes follow every interval (missed ticks are skipped). A
//! scrape is bounded by the timeout and abandoned at once when the loop is
//! stopped; the append work runs on the blocking pool.
//!
//! Stopping either writes staleness markers for all series of the target
//! (target removed) or not (shutdown, or the series are handed to a
//! successor loop) — see [`StopMode`]. Knows nothing of discovery.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use pharos_ingest::exposition::{format_from_content_type, parse_with_options, ParseOptions};
use pharos_model::{Appendable, Labels};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::append::{append_scrape, end_of_run, AppendSettings, SeriesState};
use crate::client::{HttpScraper, ScrapeError};
use crate::config::ScrapeConfig;
use crate::stats::Counters;
use crate::target::Target;

/// Health of a target as the targets API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TargetHealth {
    Up,
    Down,
    #[default]
    Unknown,
}

impl TargetHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetHealth::Up => "up",
            TargetHealth::Down => "down",
            TargetHealth::Unknown => "unknown",
        }
    }
}

/// The outcome of a loop's last scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoopStatus {
    pub health: TargetHealth,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_scrape_duration: Duration,
}

/// What all loops of one job share; replaced as a whole on reload.
#[derive(Debug, Clone)]
pub struct JobSettings {
    pub cfg: Arc<ScrapeConfig>,
    pub client: Arc<HttpScraper>,
    /// Set when the job is over its `target_limit`: every scrape fails with it.
    pub forced_error: Option<String>,
}

/// How a loop ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StopMode {
    /// The target went away: staleness markers for all its series.
    Stale = 0,
    /// Shutdown, or the series continue in another loop: no markers.
    Quiet = 1,
}

/// The manager's grip on a running loop.
#[derive(Debug)]
pub struct LoopHandle {
    pub target: Target,
    pub status: Arc<Mutex<LoopStatus>>,
    cancel: CancellationToken,
    mode: Arc<AtomicU8>,
    join: JoinHandle<SeriesState>,
}

impl LoopHandle {
    /// Asks the loop to end without waiting.
    pub fn signal_stop(&self, mode: StopMode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
        self.cancel.cancel();
    }

    /// Waits for the loop to end (after [`signal_stop`](Self::signal_stop)) and returns its series state.
    pub async fn join(self) -> SeriesState {
        match self.join.await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "scrape loop task failed");
                SeriesState::default()
            }
        }
    }
}

/// What a loop needs from the manager.
pub(crate) struct LoopDeps {
    pub appendable: Arc<dyn Appendable>,
    pub counters: Arc<Counters>,
    pub settings: watch::Receiver<Arc<JobSettings>>,
    pub seed: u64,
}

/// Starts the loop of `target`, continuing from `state` (the series of a loop it replaces).
pub(crate) fn spawn(target: Target, deps: LoopDeps, state: SeriesState) -> LoopHandle {
    let status = Arc::new(Mutex::new(LoopStatus::default()));
    let cancel = CancellationToken::new();
    let mode = Arc::new(AtomicU8::new(StopMode::Stale as u8));
    let ctx = LoopCtx {
        target: target.clone(),
        target_labels: Arc::new(target.labels()),
        deps,
        status: status.clone(),
        cancel: cancel.clone(),
        mode: mode.clone(),
    };
    let join = tokio::spawn(ctx.run(state));
    LoopHandle {
        target,
        status,
        cancel,
        mode,
        join,
    }
}

struct LoopCtx {
    target: Target,
    target_labels: Arc<Labels>,
    deps: LoopDeps,
    status: Arc<Mutex<LoopStatus>>,
    cancel: CancellationToken,
    mode: Arc<AtomicU8>,
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Delay until the next instant `t` with `t ≡ offset (mod interval)` on the wall clock.
pub fn first_delay(hash: u64, seed: u64, interval: Duration, now: SystemTime) -> Duration {
    let iv = interval.as_nanos().max(1);
    let offset = ((hash ^ seed) as u128) % iv;
    let now_ns = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let delay = (offset + iv - now_ns % iv) % iv;
    Duration::from_nanos(delay as u64)
}

impl LoopCtx {
    async fn run(self, mut state: SeriesState) -> SeriesState {
        let interval = self.target.interval();
        let delay = first_delay(
            self.target.hash(),
            self.deps.seed,
            interval,
            SystemTime::now(),
        );
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + delay, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => break,
                _ = ticker.tick() => {}
            }
            match self.scrape_once(state).await {
                Some(s) => state = s,
                None => return SeriesState::default(),
            }
            if self.cancel.is_cancelled() {
                break;
            }
        }
        if self.mode.load(Ordering::SeqCst) == StopMode::Stale as u8 {
            let appendable = self.deps.appendable.clone();
            let counters = self.deps.counters.clone();
            let labels = self.target_labels.clone();
            let ts = unix_ms(SystemTime::now()).max(state.last_ts().map_or(0, |t| t + 1));
            let res = tokio::task::spawn_blocking(move || {
                end_of_run(appendable.as_ref(), &mut state, &labels, ts, &counters);
                state
            })
            .await;
            return res.unwrap_or_default();
        }
        state
    }

    /// One scrape. Returns the new state, or `None` if the append task died.
    async fn scrape_once(&self, state: SeriesState) -> Option<SeriesState> {
        let settings = self.deps.settings.borrow().clone();
        let start_wall = SystemTime::now();
        let started = Instant::now();
        let timeout = self.target.timeout();
        let fetched: Result<_, String> = match &settings.forced_error {
            Some(e) => Err(e.clone()),
            None => {
                let fut = tokio::time::timeout(
                    timeout,
                    settings.client.fetch(self.target.url(), timeout),
                );
                tokio::select! {
                    biased;
                    // Stopped mid-scrape: drop the request, keep the state as it was.
                    _ = self.cancel.cancelled() => return Some(state),
                    r = fut => match r {
                        Err(_) => Err(ScrapeError::Timeout.to_string()),
                        Ok(Err(e)) => Err(e.to_string()),
                        Ok(Ok(f)) => Ok(f),
                    }
                }
            }
        };
        let duration = started.elapsed();
        let ts = unix_ms(start_wall);
        let appendable = self.deps.appendable.clone();
        let counters = self.deps.counters.clone();
        let labels = self.target_labels.clone();
        let cfg = settings.cfg.clone();
        let target = self.target.to_string_for_logs();
        let res = tokio::task::spawn_blocking(move || {
            let mut state = state;
            let body = fetched.and_then(|f| {
                let format = format_from_content_type(f.content_type.as_deref());
                // Prometheus 2.42 keeps `_created` samples and accepts exemplars on any line.
                parse_with_options(&f.body, format, &ParseOptions::prometheus_2_42())
                    .map_err(|e| e.to_string())
            });
            let s = AppendSettings {
                target_labels: &labels,
                honor_labels: cfg.honor_labels,
                honor_timestamps: cfg.honor_timestamps,
                metric_relabel_configs: &cfg.metric_relabel_configs,
                sample_limit: cfg.sample_limit,
                label_limit: cfg.label_limit,
                label_name_length_limit: cfg.label_name_length_limit,
                label_value_length_limit: cfg.label_value_length_limit,
            };
            let report = append_scrape(
                appendable.as_ref(),
                &mut state,
                &s,
                body,
                ts,
                duration,
                &counters,
            );
            (state, report)
        })
        .await;
        let Ok((state, report)) = res else {
            tracing::error!(target = %target, "scrape append task failed");
            return None;
        };
        let mut st = self.status.lock();
        st.last_scrape = Some(start_wall);
        st.last_scrape_duration = duration;
        match report.error {
            None => {
                st.health = TargetHealth::Up;
                st.last_error.clear();
            }
            Some(e) => {
                tracing::debug!(target = %target, error = %e, "scrape failed");
                st.health = TargetHealth::Down;
                st.last_error = e;
            }
        }
        Some(state)
    }
}

impl Target {
    fn to_string_for_logs(&self) -> String {
        format!("{}/{}", self.job(), self.url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_delay_is_aligned_to_the_offset() {
        let iv = Duration::from_secs(10);
        let now = UNIX_EPOCH + Duration::from_millis(1_000_003_500);
        // offset = 7s: next wall time ≡ 7s (mod 10s) after 1_000_003.5s is 1_000_007s.
        let d = first_delay(7_000_000_000, 0, iv, now);
        assert_eq!(d, Duration::from_millis(3500));
        // Always less than the interval.
        for h in [0u64, 1, u64::MAX, 123_456_789_012] {
            assert!(first_delay(h, 42, iv, now) < iv);
        }
    }
}
