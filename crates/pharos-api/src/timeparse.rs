//! Time parameters of the Prometheus HTTP API: RFC 3339 or Unix seconds
//! (fractions allowed), and durations (`5m` or float seconds).

/// Smallest and largest times Prometheus accepts for open ranges (ms).
pub const MIN_TIME_MS: i64 = -9_223_309_901_257_974; // Prometheus's minTime, in ms
pub const MAX_TIME_MS: i64 = 9_223_309_901_257_974;

/// Parses `1700000000`, `1700000000.123` or `2023-11-14T22:13:20.123Z` into ms.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() {
            return Ok((f * 1000.0).round() as i64);
        }
    }
    parse_rfc3339(s).ok_or_else(|| format!("cannot parse {s:?} to a valid timestamp"))
}

/// Parses a duration parameter: Prometheus syntax or float seconds, into ms.
pub fn parse_duration_param(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() && f * 1000.0 < i64::MAX as f64 {
            return Ok((f * 1000.0).round() as i64);
        }
    }
    pharos_model::duration::parse_duration(s)
        .map(|d| d.as_millis() as i64)
        .map_err(|_| format!("cannot parse {s:?} to a valid duration"))
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// RFC 3339: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() < 20 || !s.is_char_boundary(10) {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let sep = rest.as_bytes()[0];
    if sep != b'T' && sep != b't' && sep != b' ' {
        return None;
    }
    let rest = &rest[1..];
    let dp: Vec<&str> = date.split('-').collect();
    if dp.len() != 3 {
        return None;
    }
    let (y, mo, d) = (num(dp[0])?, num(dp[1])?, num(dp[2])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let tz_pos = rest.find(['Z', 'z', '+', '-'])?;
    let (clock, tz) = rest.split_at(tz_pos);
    let (hms, frac) = match clock.find('.') {
        Some(p) => (&clock[..p], &clock[p + 1..]),
        None => (clock, ""),
    };
    let tp: Vec<&str> = hms.split(':').collect();
    if tp.len() != 3 {
        return None;
    }
    let (h, mi, sec) = (num(tp[0])?, num(tp[1])?, num(tp[2])?);
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut ms = 0i64;
    if !frac.is_empty() {
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let f3: String = frac.chars().chain("000".chars()).take(3).collect();
        ms = f3.parse().ok()?;
    }
    let offset_s = match tz {
        "Z" | "z" => 0,
        _ => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            let hm: Vec<&str> = tz[1..].split(':').collect();
            if hm.len() != 2 {
                return None;
            }
            sign * (num(hm[0])? * 3600 + num(hm[1])? * 60)
        }
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    Some(secs * 1000 + ms)
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats ms since the epoch as RFC 3339 in UTC with milliseconds, e.g.
/// `2023-11-14T22:13:20.123Z` (Go's zero time for `None`-like callers is theirs to choose).
pub fn format_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Formats ms as Prometheus prints sample timestamps in JSON: float seconds.
pub fn format_seconds(ms: i64) -> serde_json::Value {
    let v = ms as f64 / 1000.0;
    serde_json::Number::from_f64(v)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("1700000000.5").unwrap(), 1_700_000_000_500);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20.25Z").unwrap(),
            1_700_000_000_250
        );
        assert_eq!(
            parse_time("2023-11-15T00:13:20+02:00").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_duration_param("5m").unwrap(), 300_000);
        assert_eq!(parse_duration_param("1.5").unwrap(), 1500);
        assert_eq!(
            format_rfc3339(1_700_000_000_250),
            "2023-11-14T22:13:20.250Z"
        );
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
        for t in [-86_400_123i64, 951_782_400_000, 4_102_444_800_999] {
            assert_eq!(parse_time(&format_rfc3339(t)).unwrap(), t);
        }
    }
}
