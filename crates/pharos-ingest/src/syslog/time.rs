//! Calendar arithmetic (proleptic Gregorian, no time zone database) and the
//! two timestamp syntaxes: RFC 3339 (`2003-10-11T22:14:15.003Z`, RFC 5424's
//! TIMESTAMP and the ISO variant of BSD syslog) and the BSD date
//! (`Oct 11 22:14:15`, RFC 3164).

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

use crate::civil::{civil_from_days, days_from_civil, days_in_month};

/// A wall-clock date and time, not yet placed in a time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
}

impl DateTime {
    /// True when every field is in range (seconds 0..=59: leap seconds are refused).
    pub fn is_valid(self) -> bool {
        (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
            && i64::from(self.nanos) < NANOS_PER_SEC
    }

    /// Unix nanoseconds of this wall-clock time at `offset_secs` east of UTC,
    /// or `None` when it is invalid or outside `i64` nanoseconds (1677..2262).
    pub fn to_unix_ns(self, offset_secs: i64) -> Option<i64> {
        if !self.is_valid() {
            return None;
        }
        let days = i128::from(days_from_civil(self.year, self.month, self.day));
        let secs = days * i128::from(SECS_PER_DAY)
            + i128::from(self.hour * 3600 + self.minute * 60 + self.second)
            - i128::from(offset_secs);
        i64::try_from(secs * i128::from(NANOS_PER_SEC) + i128::from(self.nanos)).ok()
    }

    /// The UTC wall-clock time of Unix nanoseconds `ns`.
    pub fn from_unix_ns(ns: i64) -> DateTime {
        let secs = ns.div_euclid(NANOS_PER_SEC);
        let nanos = ns.rem_euclid(NANOS_PER_SEC) as u32;
        let days = secs.div_euclid(SECS_PER_DAY);
        let sod = secs.rem_euclid(SECS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
            nanos,
        }
    }
}

/// The year of Unix nanoseconds `ns` on a clock `offset_secs` east of UTC.
pub(super) fn year_of(ns: i64, offset_secs: i32) -> i64 {
    let local = ns.saturating_add(i64::from(offset_secs).saturating_mul(NANOS_PER_SEC));
    DateTime::from_unix_ns(local).year
}

/// Writes `ns` as RFC 3339 in UTC: `2003-10-11T22:14:15.003Z`, with as many
/// fractional digits as needed (up to 6, or 9 when microseconds do not suffice).
pub(super) fn format_rfc3339(ns: i64, out: &mut String) {
    use std::fmt::Write;
    let t = DateTime::from_unix_ns(ns);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    );
    if t.nanos != 0 {
        let digits = if t.nanos / 1000 * 1000 == t.nanos {
            format!("{:06}", t.nanos / 1000)
        } else {
            format!("{:09}", t.nanos)
        };
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    s.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// True when `b` starts like an RFC 3339 date (`dddd-dd-dd`): the token is
/// meant as a timestamp, so a failure to parse it is an error, not a message.
pub(super) fn looks_like_rfc3339(b: &[u8]) -> bool {
    digits(b, 0, 4).is_some()
        && b.get(4) == Some(&b'-')
        && digits(b, 5, 2).is_some()
        && b.get(7) == Some(&b'-')
}

/// Parses a whole token as an RFC 3339 timestamp:
/// `YYYY-MM-DD(T|t)hh:mm:ss[.1-9 digits](Z|z|(+|-)hh:mm)?`. A missing offset
/// means `default_offset_secs` (the sender's local time). Returns Unix
/// nanoseconds, or `None` when the token is not a valid timestamp.
pub(super) fn parse_rfc3339(tok: &[u8], default_offset_secs: i32) -> Option<i64> {
    let year = digits(tok, 0, 4)?;
    let month = digits(tok, 5, 2)?;
    let day = digits(tok, 8, 2)?;
    let hour = digits(tok, 11, 2)?;
    let minute = digits(tok, 14, 2)?;
    let second = digits(tok, 17, 2)?;
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| tok.get(i) != Some(&c))
        || !matches!(tok.get(10), Some(b'T' | b't'))
    {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if tok.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < tok.len() && tok[i].is_ascii_digit() {
            if i - start == 9 {
                return None;
            }
            nanos = nanos * 10 + u32::from(tok[i] - b'0');
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        nanos *= 10u32.pow(9 - n as u32);
    }
    let offset = match tok.get(i) {
        None => i64::from(default_offset_secs),
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(tok, i + 1, 2)?;
            let om = digits(tok, i + 4, 2)?;
            if tok.get(i + 3) != Some(&b':') || oh > 23 || om > 59 {
                return None;
            }
            i += 6;
            let secs = i64::from(oh * 3600 + om * 60);
            if sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        Some(_) => return None,
    };
    if i != tok.len() {
        return None;
    }
    DateTime {
        year: i64::from(year),
        month,
        day,
        hour,
        minute,
        second,
        nanos,
    }
    .to_unix_ns(offset)
}

/// A BSD date as written by RFC 3164 senders, before the year is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BsdDate {
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
    /// The year when the sender wrote one (`Oct 11 2023 22:14:15`, Cisco style).
    pub year: Option<i64>,
}

/// The outcome of matching a BSD date at the start of a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BsdMatch {
    /// Not shaped like a BSD date: the text is message, not timestamp.
    No,
    /// Shaped like a date but out of range (`Feb 30`, `25:00:00`); `len` bytes.
    Invalid { len: usize },
    /// A date of `len` bytes.
    Date { date: BsdDate, len: usize },
}

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// Matches `Mmm dd hh:mm:ss` at the start of `b`. Accepted variants: the day
/// space-padded (`Oct  1`), zero-padded or unpadded, a year before the time
/// (`Oct 11 2023 22:14:15`), a fraction after the seconds (`22:14:15.123456`),
/// and any letter case in the month. The date must end at a space or at the
/// end of `b`.
pub(super) fn match_bsd_date(b: &[u8]) -> BsdMatch {
    let Some(name) = b.get(..3) else {
        return BsdMatch::No;
    };
    let Some(month) = MONTHS
        .iter()
        .position(|m| name.eq_ignore_ascii_case(&m[..]))
    else {
        return BsdMatch::No;
    };
    if b.get(3) != Some(&b' ') {
        return BsdMatch::No;
    }
    let mut i = 4;
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    let Some((day, n)) = number(b, i, 2) else {
        return BsdMatch::No;
    };
    i += n;
    if b.get(i) != Some(&b' ') {
        return BsdMatch::No;
    }
    i += 1;
    let mut year = None;
    if let Some(y) = digits(b, i, 4) {
        if b.get(i + 4) == Some(&b' ') {
            year = Some(i64::from(y));
            i += 5;
        }
    }
    let (Some(hour), Some(minute), Some(second)) =
        (digits(b, i, 2), digits(b, i + 3, 2), digits(b, i + 6, 2))
    else {
        return BsdMatch::No;
    };
    if b.get(i + 2) != Some(&b':') || b.get(i + 5) != Some(&b':') {
        return BsdMatch::No;
    }
    i += 8;
    let mut nanos = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut j = start;
        while j < b.len() && b[j].is_ascii_digit() && j - start < 9 {
            nanos = nanos * 10 + u32::from(b[j] - b'0');
            j += 1;
        }
        if j == start {
            return BsdMatch::No;
        }
        nanos *= 10u32.pow(9 - (j - start) as u32);
        i = j;
    }
    if !matches!(b.get(i), None | Some(b' ')) {
        return BsdMatch::No;
    }
    let date = BsdDate {
        month: month as u32 + 1,
        day,
        hour,
        minute,
        second,
        nanos,
        year,
    };
    // Day 31 is possible in some month; Feb 29 in some year: check the rest here
    // and the month length once the year is known.
    if day == 0 || day > 31 || hour > 23 || minute > 59 || second > 59 {
        return BsdMatch::Invalid { len: i };
    }
    if day > days_in_month(year.unwrap_or(2000), date.month) {
        return BsdMatch::Invalid { len: i };
    }
    BsdMatch::Date { date, len: i }
}

/// 1..=`max` ASCII digits at `at`: the value and the digit count.
fn number(b: &[u8], at: usize, max: usize) -> Option<(u32, usize)> {
    let mut v = 0u32;
    let mut n = 0;
    while n < max {
        match b.get(at + n) {
            Some(c) if c.is_ascii_digit() => {
                v = v * 10 + u32::from(c - b'0');
                n += 1;
            }
            _ => break,
        }
    }
    (n > 0).then_some((v, n))
}

/// How far ahead of its reception a BSD date may be and still be given the
/// reception's year (or the next): senders' clocks run a little ahead, and a
/// date further ahead is a date of last year.
const BSD_FUTURE_MARGIN_NS: i64 = 31 * SECS_PER_DAY * NANOS_PER_SEC;

/// Unix nanoseconds of a BSD date in local time `offset_secs` east of UTC.
/// The year is the date's own, else `year` when given, else the latest of
/// the next, current and previous year (around `received_ns`) that puts the
/// date at most 31 days after `received_ns`: a December line read on
/// January 1st belongs to last year, a January 1st line read on December
/// 31st to next year, and a line from February read in November to this
/// year. `None` when no candidate year makes a valid date in range.
pub(super) fn bsd_to_unix_ns(
    d: &BsdDate,
    year: Option<i32>,
    offset_secs: i32,
    received_ns: i64,
) -> Option<i64> {
    let at = |y: i64| {
        DateTime {
            year: y,
            month: d.month,
            day: d.day,
            hour: d.hour,
            minute: d.minute,
            second: d.second,
            nanos: d.nanos,
        }
        .to_unix_ns(i64::from(offset_secs))
    };
    if let Some(y) = d.year.or(year.map(i64::from)) {
        return at(y);
    }
    let current = year_of(received_ns, offset_secs);
    let limit = received_ns.saturating_add(BSD_FUTURE_MARGIN_NS);
    [current + 1, current, current - 1]
        .into_iter()
        .filter_map(at)
        .find(|&ns| ns <= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-800_000i64, -1, 0, 1, 59, 365, 11_016, 19_000, 106_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn rfc3339_examples_of_rfc5424() {
        // RFC 5424 section 6.2.3.1, examples 1 to 4.
        assert_eq!(
            parse_rfc3339(b"1985-04-12T23:20:50.52Z", 0),
            Some(482_196_050_520_000_000)
        );
        assert_eq!(
            parse_rfc3339(b"1985-04-12T19:20:50.52-04:00", 0),
            Some(482_196_050_520_000_000)
        );
        assert_eq!(
            parse_rfc3339(b"2003-10-11T22:14:15.003Z", 0),
            Some(1_065_910_455_003_000_000)
        );
        assert_eq!(
            parse_rfc3339(b"2003-08-24T05:14:15.000003-07:00", 0),
            Some(1_061_727_255_000_003_000)
        );
        // Nine fractional digits: RFC 5424 forbids them, we accept them.
        assert_eq!(
            parse_rfc3339(b"2003-08-24T05:14:15.000000003-07:00", 0),
            Some(1_061_727_255_000_000_003)
        );
        // Example 5: leap second, refused.
        assert_eq!(parse_rfc3339(b"2003-10-11T22:14:60Z", 0), None);
        for bad in [
            &b"2003-13-11T22:14:15Z"[..],
            b"2003-02-29T22:14:15Z",
            b"2003-10-11 22:14:15Z",
            b"2003-10-11T22:14:15.Z",
            b"2003-10-11T22:14:15.0000000001Z",
            b"2003-10-11T22:14:15+0200",
            b"2003-10-11T22:14:15+24:00",
            b"2003-10-11T22:14:15Zx",
            b"2003-10-11T22:14",
            b"10000-10-11T22:14:15Z",
            b"1500-10-11T22:14:15Z",
        ] {
            assert_eq!(
                parse_rfc3339(bad, 0),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // No offset: the sender's local time.
        assert_eq!(
            parse_rfc3339(b"2003-10-11T22:14:15", 3600),
            Some(1_065_910_455_000_000_000 - 3_600_000_000_000)
        );
    }

    #[test]
    fn format_rfc3339_round_trips() {
        for ns in [
            0i64,
            1_065_910_455_003_000_000,
            1_061_727_255_000_000_003,
            -1,
            i64::MIN,
            i64::MAX,
        ] {
            let mut s = String::new();
            format_rfc3339(ns, &mut s);
            assert_eq!(parse_rfc3339(s.as_bytes(), 0), Some(ns), "{s}");
        }
    }

    #[test]
    fn bsd_dates() {
        let date = |s: &str| match match_bsd_date(s.as_bytes()) {
            BsdMatch::Date { date, len } => Some((date, len)),
            _ => None,
        };
        let (d, len) = date("Oct 11 22:14:15 host").unwrap();
        assert_eq!(
            (d.month, d.day, d.hour, d.minute, d.second),
            (10, 11, 22, 14, 15)
        );
        assert_eq!(len, 15);
        assert_eq!(date("Feb  5 17:32:18").unwrap().0.day, 5);
        assert_eq!(date("Feb 5 17:32:18").unwrap().0.day, 5);
        assert_eq!(date("feb 05 17:32:18").unwrap().0.day, 5);
        let (d, len) = date("Oct 11 2023 22:14:15.25 x").unwrap();
        assert_eq!((d.year, d.nanos, len), (Some(2023), 250_000_000, 23));
        assert_eq!(match_bsd_date(b"May I help you"), BsdMatch::No);
        assert_eq!(match_bsd_date(b"Oct 11 22:14:15x"), BsdMatch::No);
        assert_eq!(match_bsd_date(b"Oct 11 22:14"), BsdMatch::No);
        assert_eq!(
            match_bsd_date(b"Feb 30 22:14:15"),
            BsdMatch::Invalid { len: 15 }
        );
        assert_eq!(
            match_bsd_date(b"Oct 11 25:14:15"),
            BsdMatch::Invalid { len: 15 }
        );
        assert_eq!(
            match_bsd_date(b"Feb 29 2023 10:00:00"),
            BsdMatch::Invalid { len: 20 }
        );
    }

    #[test]
    fn bsd_year_is_the_latest_not_far_ahead_of_reception() {
        let d = |m, day| BsdDate {
            month: m,
            day,
            hour: 23,
            minute: 59,
            second: 59,
            nanos: 0,
            year: None,
        };
        let year = |ns| DateTime::from_unix_ns(ns).year;
        // Received 2024-01-01T00:00:10Z.
        let received = 1_704_067_210_000_000_000;
        let dec31 = bsd_to_unix_ns(&d(12, 31), None, 0, received).unwrap();
        assert_eq!(dec31, 1_704_067_199_000_000_000); // 2023-12-31T23:59:59Z
        let jan1 = bsd_to_unix_ns(&d(1, 1), None, 0, received).unwrap();
        assert_eq!(year(jan1), 2024);
        // A line from January 1st received on December 31st: next year.
        let received_dec31 = 1_704_067_199_000_000_000;
        let next = bsd_to_unix_ns(&d(1, 1), None, 0, received_dec31).unwrap();
        assert_eq!(year(next), 2024);
        // February read in November: this year, not the closer next one.
        let received_nov = 1_795_285_050_000_000_000; // 2026-11-21T18:17:30Z
        assert_eq!(
            year(bsd_to_unix_ns(&d(2, 5), None, 0, received_nov).unwrap()),
            2026
        );
        // A month ahead is the margin.
        assert_eq!(
            year(bsd_to_unix_ns(&d(12, 20), None, 0, received_nov).unwrap()),
            2026
        );
        assert_eq!(
            year(bsd_to_unix_ns(&d(12, 31), None, 0, received_nov).unwrap()),
            2025
        );
        // An explicit year wins.
        let y = bsd_to_unix_ns(&d(12, 31), Some(2024), 0, received).unwrap();
        assert_eq!(year(y), 2024);
        // Feb 29 only exists in leap years: 2024 here, none around 2026.
        let march_2024 = DateTime {
            year: 2024,
            month: 3,
            day: 10,
            hour: 0,
            minute: 0,
            second: 0,
            nanos: 0,
        }
        .to_unix_ns(0)
        .unwrap();
        let feb29 = bsd_to_unix_ns(&d(2, 29), None, 0, march_2024).unwrap();
        assert_eq!(year(feb29), 2024);
        assert_eq!(bsd_to_unix_ns(&d(2, 29), None, 0, received_nov), None);
        assert_eq!(bsd_to_unix_ns(&d(2, 29), Some(2023), 0, received), None);
        // Local time east of UTC is earlier in UTC.
        let east = bsd_to_unix_ns(&d(12, 31), None, 3600, received).unwrap();
        assert_eq!(dec31 - east, 3_600_000_000_000);
    }
}
