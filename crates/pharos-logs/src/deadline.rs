//! Query deadlines (Loki's `query_timeout`).
//!
//! A query is given a [`Deadline`] when it starts; the store's reads and the
//! evaluators look at it at every source (segment, frozen head, head stream)
//! and, through a [`Pacer`], every [`Pacer::EVERY`] entries of per-entry
//! work, and stop with [`TimedOut`] once it has passed. Cancellation is
//! cooperative: nothing is killed, every thread of a query notices the
//! deadline at its next look and returns.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// When a query must stop, if ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deadline {
    at: Option<Instant>,
    limit: Duration,
}

impl Deadline {
    /// No deadline: the query runs until done.
    pub const NONE: Deadline = Deadline {
        at: None,
        limit: Duration::ZERO,
    };

    /// `limit` from now; a zero limit is no deadline.
    pub fn after(limit: Duration) -> Deadline {
        if limit.is_zero() {
            return Deadline::NONE;
        }
        Deadline {
            at: Instant::now().checked_add(limit),
            limit,
        }
    }

    /// Whether there is a deadline at all.
    pub fn is_set(&self) -> bool {
        self.at.is_some()
    }

    /// Whether the deadline has passed (reads the clock).
    pub fn expired(&self) -> bool {
        self.at.is_some_and(|at| Instant::now() >= at)
    }

    /// `Err` once the deadline has passed.
    pub fn check(&self) -> Result<(), TimedOut> {
        if self.expired() {
            return Err(self.timed_out());
        }
        Ok(())
    }

    /// The error of this deadline.
    pub fn timed_out(&self) -> TimedOut {
        TimedOut { limit: self.limit }
    }
}

/// A query ran past its [`Deadline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("query timed out after {}", go_duration(*limit))]
pub struct TimedOut {
    /// The time the query was allowed.
    pub limit: Duration,
}

/// Looks at a [`Deadline`]'s clock at its first tick and then once per
/// [`Pacer::EVERY`] entries of work, so per-entry loops can check it
/// without reading the clock per entry. Once it has seen the deadline pass
/// it says so without looking again.
#[derive(Debug, Clone)]
pub struct Pacer {
    deadline: Deadline,
    left: usize,
    expired: bool,
}

impl Pacer {
    /// Entries of work between two looks at the clock.
    pub const EVERY: usize = 1024;

    pub fn new(deadline: Deadline) -> Pacer {
        Pacer {
            deadline,
            left: 0,
            expired: false,
        }
    }

    /// Counts `n` entries of work (`n` at least [`Pacer::EVERY`] looks at
    /// the clock at once) and says whether the deadline has passed.
    #[inline]
    pub fn tick(&mut self, n: usize) -> bool {
        if self.expired {
            return true;
        }
        if n < self.left {
            self.left -= n;
            return false;
        }
        self.left = Pacer::EVERY;
        self.expired = self.deadline.expired();
        self.expired
    }

    /// Whether this pacer has seen the deadline pass (work was skipped).
    pub fn expired(&self) -> bool {
        self.expired
    }

    /// The error of its deadline.
    pub fn timed_out(&self) -> TimedOut {
        self.deadline.timed_out()
    }
}

/// A duration as Go prints one (`1m0s`, `1h0m0s`, `1.5s`, `250ms`), as Loki
/// writes its limits.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_string();
    }
    // `whole.fraction` of `v / unit`, trailing zeros dropped.
    let frac = |v: u128, unit: u128, digits: usize| {
        let (w, r) = (v / unit, v % unit);
        if r == 0 {
            w.to_string()
        } else {
            let f = format!("{r:0digits$}");
            format!("{w}.{}", f.trim_end_matches('0'))
        }
    };
    const S: u128 = 1_000_000_000;
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac(ns, 1_000, 3));
    }
    if ns < S {
        return format!("{}ms", frac(ns, 1_000_000, 6));
    }
    let (h, m, s) = (ns / (3600 * S), ns / (60 * S) % 60, ns % (60 * S));
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if h > 0 || m > 0 {
        let _ = write!(out, "{m}m");
    }
    let _ = write!(out, "{}s", frac(s, S, 9));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(ms(1)), "1ms");
        assert_eq!(go_duration(ms(250)), "250ms");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(go_duration(Duration::from_nanos(1500)), "1.5µs");
        assert_eq!(go_duration(Duration::from_nanos(7)), "7ns");
        assert_eq!(go_duration(ms(1500)), "1.5s");
        assert_eq!(go_duration(ms(60_000)), "1m0s");
        assert_eq!(go_duration(ms(61_000)), "1m1s");
        assert_eq!(go_duration(ms(3_600_000)), "1h0m0s");
        assert_eq!(go_duration(ms(3_725_500)), "1h2m5.5s");
    }

    #[test]
    fn deadlines_and_pacers() {
        assert!(!Deadline::NONE.expired());
        assert_eq!(Deadline::after(Duration::ZERO), Deadline::NONE);
        assert!(Deadline::NONE.check().is_ok());
        let d = Deadline::after(Duration::from_secs(3600));
        assert!(d.is_set() && !d.expired());
        let d = Deadline::after(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(2));
        assert!(d.expired());
        assert_eq!(
            d.check().map_err(|e| e.to_string()),
            Err("query timed out after 1ms".to_string())
        );
        assert!(Pacer::new(d).tick(1), "the first tick looks");
        // Then the clock is read only every EVERY entries, and the answer sticks.
        let d = Deadline::after(Duration::from_millis(200));
        let mut p = Pacer::new(d);
        assert!(!p.tick(1));
        std::thread::sleep(Duration::from_millis(250));
        for _ in 0..Pacer::EVERY - 1 {
            assert!(!p.tick(1));
        }
        assert!(p.tick(1) && p.expired() && p.tick(0));
        let mut p = Pacer::new(d);
        assert!(p.tick(Pacer::EVERY), "a large batch looks at once");
        let mut p = Pacer::new(Deadline::NONE);
        assert!(!p.tick(usize::MAX) && !p.expired());
    }
}
