//! Self-telemetry of scraping: counters the manager keeps and
//! [`ScrapeManager::stats`](crate::manager::ScrapeManager::stats) reads.
//!
//! Owns [`ScrapeStats`] (a snapshot) and the internal atomic counters. Knows
//! nothing of how the numbers are exported.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// A snapshot of the scrape counters since the manager started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrapeStats {
    /// Scrapes attempted (`prometheus_target_scrapes_total` in spirit).
    pub scrapes_total: u64,
    /// Scrapes that ended with up=0.
    pub scrapes_failed_total: u64,
    /// Samples the appender accepted (scraped samples, not report series or staleness markers).
    pub samples_appended_total: u64,
    /// Samples the appender refused, by [`pharos_model::AppendError::reason`].
    pub samples_rejected_total: BTreeMap<String, u64>,
    /// Scrapes failed because `sample_limit` was exceeded.
    pub sample_limit_exceeded_total: u64,
    /// Scrapes failed because a label limit was exceeded.
    pub label_limit_exceeded_total: u64,
    /// Exemplars the appender refused.
    pub exemplars_rejected_total: u64,
    /// Staleness markers written.
    pub stale_markers_total: u64,
    /// Commits that failed (storage errors).
    pub commit_failures_total: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub scrapes: AtomicU64,
    pub failed: AtomicU64,
    pub appended: AtomicU64,
    pub rejected: Mutex<BTreeMap<&'static str, u64>>,
    pub sample_limit: AtomicU64,
    pub label_limit: AtomicU64,
    pub exemplars_rejected: AtomicU64,
    pub stale_markers: AtomicU64,
    pub commit_failures: AtomicU64,
}

/// Counts gathered during one scrape, merged once at its end.
#[derive(Debug, Default)]
pub(crate) struct ScrapeCounts {
    pub appended: u64,
    pub rejected: BTreeMap<&'static str, u64>,
    pub exemplars_rejected: u64,
    pub stale_markers: u64,
}

impl ScrapeCounts {
    pub fn reject(&mut self, reason: &'static str) {
        *self.rejected.entry(reason).or_default() += 1;
    }
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn merge(&self, s: ScrapeCounts) {
        Self::add(&self.appended, s.appended);
        Self::add(&self.exemplars_rejected, s.exemplars_rejected);
        Self::add(&self.stale_markers, s.stale_markers);
        if !s.rejected.is_empty() {
            let mut r = self.rejected.lock();
            for (k, v) in s.rejected {
                *r.entry(k).or_default() += v;
            }
        }
    }

    pub fn snapshot(&self) -> ScrapeStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ScrapeStats {
            scrapes_total: g(&self.scrapes),
            scrapes_failed_total: g(&self.failed),
            samples_appended_total: g(&self.appended),
            samples_rejected_total: self
                .rejected
                .lock()
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            sample_limit_exceeded_total: g(&self.sample_limit),
            label_limit_exceeded_total: g(&self.label_limit),
            exemplars_rejected_total: g(&self.exemplars_rejected),
            stale_markers_total: g(&self.stale_markers),
            commit_failures_total: g(&self.commit_failures),
        }
    }
}
