//! Samples and the staleness marker.

/// The bit pattern Prometheus writes as a staleness marker.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// The staleness marker as an `f64`.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// True if `v` is exactly the staleness marker (not any NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One point of a series: milliseconds since the epoch and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

impl Sample {
    pub fn new(t: i64, v: f64) -> Sample {
        Sample { t, v }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stale() {
        assert!(super::is_stale_nan(super::STALE_NAN));
        assert!(!super::is_stale_nan(f64::NAN));
    }
}
