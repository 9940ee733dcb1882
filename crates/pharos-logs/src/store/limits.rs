//! Ingestion limits, with Loki's defaults: what one entry or one stream may
//! be, and how fast data may arrive (token buckets, global and per stream).

use std::time::Instant;

use pharos_model::{Labels, LogEntry, LogRejectReason};

/// Limits applied to every push.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Longest line in bytes (Loki `max_line_size`, 256 KiB); 0 = no limit.
    pub max_line_size: usize,
    /// Most labels per stream (Loki `max_label_names_per_series`, 15).
    pub max_labels: usize,
    /// Longest label name and value (Loki: 1024 and 2048 bytes).
    pub max_label_name_len: usize,
    pub max_label_value_len: usize,
    /// Entries older than this before now are refused (Loki
    /// `reject_old_samples_max_age`, 1 week); `None` accepts any age.
    pub max_age_ns: Option<i64>,
    /// Entries newer than now plus this are refused (Loki
    /// `creation_grace_period`, 10 minutes).
    pub future_grace_ns: i64,
    /// Sustained ingestion rate over all streams in bytes per second (Loki
    /// `ingestion_rate_mb`, 4 MB/s) and the burst allowed above it
    /// (`ingestion_burst_size_mb`, 6 MB); a rate of 0 = no limit.
    pub rate_bytes: f64,
    pub burst_bytes: f64,
    /// The same per stream (Loki `per_stream_rate_limit` 3 MB/s, burst 15 MB).
    pub stream_rate_bytes: f64,
    pub stream_burst_bytes: f64,
    /// Most streams in the head (Loki `max_global_streams_per_user`, 5000);
    /// 0 = no limit.
    pub max_streams: usize,
}

const MB: f64 = 1024.0 * 1024.0;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_size: 256 * 1024,
            max_labels: 15,
            max_label_name_len: 1024,
            max_label_value_len: 2048,
            max_age_ns: Some(7 * 24 * 3600 * 1_000_000_000),
            future_grace_ns: 10 * 60 * 1_000_000_000,
            rate_bytes: 4.0 * MB,
            burst_bytes: 6.0 * MB,
            stream_rate_bytes: 3.0 * MB,
            stream_burst_bytes: 15.0 * MB,
            max_streams: 5000,
        }
    }
}

impl Limits {
    /// Checks a stream's labels.
    pub fn check_labels(&self, labels: &Labels) -> Result<(), LogRejectReason> {
        if labels.is_empty() {
            return Err(LogRejectReason::NoLabels);
        }
        labels.validate()?;
        if labels.len() > self.max_labels {
            return Err(pharos_model::LabelError::TooMany(labels.len(), self.max_labels).into());
        }
        for l in labels.iter() {
            if l.name.len() > self.max_label_name_len {
                return Err(pharos_model::LabelError::NameTooLong(
                    l.name.clone(),
                    self.max_label_name_len,
                )
                .into());
            }
            if l.value.len() > self.max_label_value_len {
                return Err(pharos_model::LabelError::ValueTooLong(
                    l.name.clone(),
                    self.max_label_value_len,
                )
                .into());
            }
        }
        Ok(())
    }

    /// Checks one entry against the line size and the time window around `now_ns`.
    pub fn check_entry(&self, e: &LogEntry, now_ns: i64) -> Result<(), LogRejectReason> {
        if self.max_line_size > 0 && e.line.len() > self.max_line_size {
            return Err(LogRejectReason::LineTooLong {
                len: e.line.len(),
                max: self.max_line_size,
            });
        }
        if let Some(age) = self.max_age_ns {
            let oldest = now_ns.saturating_sub(age);
            if e.ts < oldest {
                return Err(LogRejectReason::TooOld { ts: e.ts, oldest });
            }
        }
        let newest = now_ns.saturating_add(self.future_grace_ns);
        if e.ts > newest {
            return Err(LogRejectReason::TooNew { ts: e.ts, newest });
        }
        Ok(())
    }
}

/// A token bucket of bytes.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn new(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            last: now,
        }
    }

    /// Takes `n` bytes if the bucket (refilled at `rate` up to `burst`) holds
    /// them; a rate of 0 always allows. A request larger than the burst is
    /// allowed only from a full bucket, so it is never refused forever.
    pub(crate) fn take(&mut self, n: f64, rate: f64, burst: f64, now: Instant) -> bool {
        if rate <= 0.0 {
            return true;
        }
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * rate).min(burst);
        if n <= self.tokens || (n > burst && self.tokens >= burst) {
            self.tokens -= n;
            true
        } else {
            false
        }
    }

    /// Seconds until `n` bytes would be available (for `Retry-After`).
    pub(crate) fn wait_for(&self, n: f64, rate: f64, burst: f64) -> f64 {
        if rate <= 0.0 {
            return 0.0;
        }
        ((n.min(burst) - self.tokens) / rate).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_outside_the_window_or_too_long_are_refused() {
        let l = Limits {
            max_line_size: 5,
            ..Limits::default()
        };
        let now = 1_000_000_000_000_000_000;
        assert!(l.check_entry(&LogEntry::new(now, "abc"), now).is_ok());
        assert!(matches!(
            l.check_entry(&LogEntry::new(now, "abcdef"), now),
            Err(LogRejectReason::LineTooLong { len: 6, max: 5 })
        ));
        let week = 7 * 24 * 3600 * 1_000_000_000;
        assert!(matches!(
            l.check_entry(&LogEntry::new(now - week - 1, "a"), now),
            Err(LogRejectReason::TooOld { .. })
        ));
        assert!(matches!(
            l.check_entry(&LogEntry::new(now + 11 * 60 * 1_000_000_000, "a"), now),
            Err(LogRejectReason::TooNew { .. })
        ));
    }

    #[test]
    fn labels_are_checked() {
        let l = Limits {
            max_labels: 2,
            ..Limits::default()
        };
        assert!(matches!(
            l.check_labels(&Labels::empty()),
            Err(LogRejectReason::NoLabels)
        ));
        assert!(l.check_labels(&Labels::from_pairs(&[("a", "1")])).is_ok());
        assert!(l
            .check_labels(&Labels::from_pairs(&[("a", "1"), ("b", "2"), ("c", "3")]))
            .is_err());
        assert!(l.check_labels(&Labels::from_pairs(&[("1a", "1")])).is_err());
    }

    #[test]
    fn bucket_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10.0, t0);
        assert!(b.take(10.0, 5.0, 10.0, t0));
        assert!(!b.take(1.0, 5.0, 10.0, t0));
        assert!((b.wait_for(5.0, 5.0, 10.0) - 1.0).abs() < 1e-9);
        assert!(b.take(5.0, 5.0, 10.0, t0 + Duration::from_secs(1)));
        // Larger than the burst: only from a full bucket.
        assert!(!b.take(50.0, 5.0, 10.0, t0 + Duration::from_secs(1)));
        assert!(b.take(50.0, 5.0, 10.0, t0 + Duration::from_secs(10)));
    }
}
