//! Time formats of the `timestamp` stage, as Promtail names them: `RFC3339`,
//! `RFC3339Nano`, `Unix` (seconds, a fraction allowed), `UnixMs`, `UnixUs`,
//! `UnixNs`, Go's named layouts (`ANSIC`, `RFC1123Z`, `Stamp`, `DateTime`,
//! ...) and any Go reference layout (`2006-01-02 15:04:05.000`).
//!
//! A layout is parsed as Go's `time.Parse` parses it: the reference date's
//! parts stand for fields (`2006` year, `01`/`1`/`Jan`/`January` month,
//! `02`/`2`/`_2` day, `15`/`03`/`3` hour, `04`/`4` minute, `05`/`5` second,
//! `PM`, `.000`/`.999` fractions, `-0700`/`-07:00`/`Z07:00` offsets, `MST`
//! zone names, `Mon`/`Monday`); a run of spaces matches a run of spaces; a
//! fraction may follow the seconds even when the layout has none. Zone names
//! other than UTC, GMT and Z are read but carry no offset (the stage's
//! `location` applies, as Go does for unknown names). A layout without a year
//! takes the year that puts the time at most a day after now.

use pharos_model::civil;

/// Days since 1970-01-01 of a valid date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    civil::days_from_civil(y, m as u32, d as u32)
}

/// A fixed offset east of UTC, in seconds.
pub(crate) type Offset = i32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Lit(String),
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    YearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    Pm {
        upper: bool,
    },
    TzName,
    /// Numeric offset; `z`: `Z` accepted for UTC.
    TzNum {
        z: bool,
    },
    /// `.000` (exact digits) or `.999` (any digits, optional).
    Frac {
        digits: usize,
        exact: bool,
    },
}

/// A parsed `format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimeFormat {
    Unix,
    UnixMs,
    UnixUs,
    UnixNs,
    Layout(Vec<Tok>),
}

const NAMED: [(&str, &str); 19] = [
    ("ANSIC", "Mon Jan _2 15:04:05 2006"),
    ("UnixDate", "Mon Jan _2 15:04:05 MST 2006"),
    ("RubyDate", "Mon Jan 02 15:04:05 -0700 2006"),
    ("RFC822", "02 Jan 06 15:04 MST"),
    ("RFC822Z", "02 Jan 06 15:04 -0700"),
    ("RFC850", "Monday, 02-Jan-06 15:04:05 MST"),
    ("RFC1123", "Mon, 02 Jan 2006 15:04:05 MST"),
    ("RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0700"),
    ("RFC3339", "2006-01-02T15:04:05Z07:00"),
    ("RFC3339Nano", "2006-01-02T15:04:05.999999999Z07:00"),
    ("Kitchen", "3:04PM"),
    ("Stamp", "Jan _2 15:04:05"),
    ("StampMilli", "Jan _2 15:04:05.000"),
    ("StampMicro", "Jan _2 15:04:05.000000"),
    ("StampNano", "Jan _2 15:04:05.000000000"),
    ("DateTime", "2006-01-02 15:04:05"),
    ("DateOnly", "2006-01-02"),
    ("TimeOnly", "15:04:05"),
    ("RFC3339Micro", "2006-01-02T15:04:05.999999Z07:00"),
];

const LONG_MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const LONG_DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

impl TimeFormat {
    /// Reads a format name or a Go layout.
    pub(crate) fn new(format: &str) -> Result<TimeFormat, String> {
        match format {
            "Unix" => return Ok(TimeFormat::Unix),
            "UnixMs" => return Ok(TimeFormat::UnixMs),
            "UnixUs" => return Ok(TimeFormat::UnixUs),
            "UnixNs" => return Ok(TimeFormat::UnixNs),
            _ => {}
        }
        let layout = NAMED
            .iter()
            .find(|(n, _)| *n == format)
            .map_or(format, |(_, l)| *l);
        let toks = tokenize(layout);
        if !toks.iter().any(|t| !matches!(t, Tok::Lit(_))) {
            return Err("no date or time field in the layout (write it with Go's reference time, 2006-01-02T15:04:05Z07:00)".into());
        }
        Ok(TimeFormat::Layout(toks))
    }

    /// Parses `value` into Unix nanoseconds. `loc` is the offset used when
    /// the value has none; `now_ns` decides the year when the layout has
    /// none.
    pub(crate) fn parse(&self, value: &str, loc: Offset, now_ns: i64) -> Option<i64> {
        let value = value.trim();
        match self {
            TimeFormat::Unix => parse_unix_seconds(value),
            TimeFormat::UnixMs => value.parse::<i64>().ok()?.checked_mul(1_000_000),
            TimeFormat::UnixUs => value.parse::<i64>().ok()?.checked_mul(1_000),
            TimeFormat::UnixNs => value.parse::<i64>().ok(),
            TimeFormat::Layout(toks) => parse_layout(toks, value, loc, now_ns),
        }
    }
}

fn parse_unix_seconds(v: &str) -> Option<i64> {
    let (neg, v) = match v.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, v),
    };
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
    }
    let t = secs.checked_mul(1_000_000_000)?.checked_add(nanos)?;
    Some(if neg { -t } else { t })
}

/// Splits a Go layout into tokens, as Go's `nextStdChunk` does.
fn tokenize(layout: &str) -> Vec<Tok> {
    let b = layout.as_bytes();
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    let starts = |i: usize, s: &str| layout.get(i..).is_some_and(|r| r.starts_with(s));
    while i < b.len() {
        let (tok, len) = match b[i] {
            b'J' if starts(i, "January") => (Some(Tok::LongMonth), 7),
            b'J' if starts(i, "Jan") => (Some(Tok::Month), 3),
            b'M' if starts(i, "Monday") => (Some(Tok::LongWeekDay), 6),
            b'M' if starts(i, "Mon") => (Some(Tok::WeekDay), 3),
            b'M' if starts(i, "MST") => (Some(Tok::TzName), 3),
            b'0' if starts(i, "002") => (Some(Tok::ZeroYearDay), 3),
            b'0' if matches!(b.get(i + 1), Some(b'1'..=b'6')) => (
                Some(match b[i + 1] {
                    b'1' => Tok::ZeroMonth,
                    b'2' => Tok::ZeroDay,
                    b'3' => Tok::ZeroHour12,
                    b'4' => Tok::ZeroMinute,
                    b'5' => Tok::ZeroSecond,
                    _ => Tok::Year,
                }),
                2,
            ),
            b'1' if starts(i, "15") => (Some(Tok::Hour), 2),
            b'1' => (Some(Tok::NumMonth), 1),
            b'2' if starts(i, "2006") => (Some(Tok::LongYear), 4),
            b'2' => (Some(Tok::Day), 1),
            b'_' if starts(i, "_2006") => {
                lit.push('_');
                (Some(Tok::LongYear), 5)
            }
            b'_' if starts(i, "__2") => (Some(Tok::YearDay), 3),
            b'_' if starts(i, "_2") => (Some(Tok::UnderDay), 2),
            b'3' => (Some(Tok::Hour12), 1),
            b'4' => (Some(Tok::Minute), 1),
            b'5' => (Some(Tok::Second), 1),
            b'P' if starts(i, "PM") => (Some(Tok::Pm { upper: true }), 2),
            b'p' if starts(i, "pm") => (Some(Tok::Pm { upper: false }), 2),
            b'-' | b'Z' => {
                let z = b[i] == b'Z';
                let rest = &layout[i + 1..];
                let n = ["070000", "07:00:00", "0700", "07:00", "07"]
                    .iter()
                    .find(|p| rest.starts_with(*p))
                    .map(|p| p.len());
                match n {
                    Some(n) => (Some(Tok::TzNum { z }), n + 1),
                    None => (None, 1),
                }
            }
            b'.' | b',' if matches!(b.get(i + 1), Some(b'0' | b'9')) => {
                let d = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == d {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    (None, 1)
                } else {
                    (
                        Some(Tok::Frac {
                            digits: j - i - 1,
                            exact: d == b'0',
                        }),
                        j - i,
                    )
                }
            }
            _ => (None, 1),
        };
        match tok {
            Some(t) => {
                // ("_2006" has pushed its underscore to the literal.)
                if !lit.is_empty() {
                    out.push(Tok::Lit(std::mem::take(&mut lit)));
                }
                out.push(t);
                i += len;
            }
            None => {
                let ch = layout[i..].chars().next().unwrap_or(' ');
                lit.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    if !lit.is_empty() {
        out.push(Tok::Lit(lit));
    }
    out
}

/// Reads 1–2 digits (or exactly `min` when `fixed`).
fn num(v: &mut &str, fixed: bool, max_len: usize) -> Option<i64> {
    let b = v.as_bytes();
    let n = b
        .iter()
        .take(max_len)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if n == 0 || (fixed && n != max_len) {
        return None;
    }
    let x = v[..n].parse().ok()?;
    *v = &v[n..];
    Some(x)
}

fn name_index(v: &mut &str, names: &[&str], short: bool) -> Option<usize> {
    for (i, n) in names.iter().enumerate() {
        let n = if short { &n[..3] } else { n };
        if v.len() >= n.len() && v.as_bytes()[..n.len()].eq_ignore_ascii_case(n.as_bytes()) {
            *v = &v[n.len()..];
            return Some(i);
        }
    }
    None
}

fn skip_lit(v: &mut &str, lit: &str) -> Option<()> {
    let mut p = lit;
    while !p.is_empty() {
        if p.starts_with(' ') {
            if !v.is_empty() && !v.starts_with(' ') {
                return None;
            }
            p = p.trim_start_matches(' ');
            *v = v.trim_start_matches(' ');
            continue;
        }
        let c = p.chars().next()?;
        *v = v.strip_prefix(c)?;
        p = &p[c.len_utf8()..];
    }
    Some(())
}

fn frac(v: &mut &str) -> i64 {
    let n = v.bytes().take_while(u8::is_ascii_digit).count();
    let mut nanos = 0;
    for (i, b) in v.bytes().take(n.min(9)).enumerate() {
        nanos += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
    }
    *v = &v[n..];
    nanos
}

fn tz_offset(v: &mut &str, z: bool) -> Option<Offset> {
    if z {
        if let Some(r) = v.strip_prefix('Z') {
            *v = r;
            return Some(0);
        }
    }
    let sign = match v.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    *v = &v[1..];
    let h = num(v, true, 2)?;
    let mut m = 0;
    let mut s = 0;
    let colon = v.starts_with(':');
    let take = |v: &mut &str| -> Option<i64> {
        if colon {
            *v = v.strip_prefix(':')?;
        }
        num(v, true, 2)
    };
    if v.starts_with(|c: char| c.is_ascii_digit() || (colon && c == ':')) {
        m = take(v)?;
        if v.starts_with(|c: char| c.is_ascii_digit() || (colon && c == ':')) {
            s = take(v)?;
        }
    }
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60 + s) as Offset)
}

/// Days in month `m` of year `y`; 0 for an invalid month.
fn days_in_month(y: i64, m: i64) -> i64 {
    u32::try_from(m).map_or(0, |m| i64::from(civil::days_in_month(y, m)))
}

/// The civil year of Unix nanoseconds.
fn year_of(ns: i64) -> i64 {
    civil::civil_from_days(ns.div_euclid(86_400 * 1_000_000_000)).0
}

fn parse_layout(toks: &[Tok], value: &str, loc: Offset, now_ns: i64) -> Option<i64> {
    let mut v = value;
    let (mut year, mut month, mut day, mut yday) = (None, None, None, None);
    let (mut hour, mut min, mut sec, mut nanos) = (0i64, 0i64, 0i64, 0i64);
    let mut pm: Option<bool> = None;
    let mut offset: Option<Offset> = None;
    for (k, t) in toks.iter().enumerate() {
        match t {
            Tok::Lit(l) => skip_lit(&mut v, l)?,
            Tok::LongMonth => month = Some(name_index(&mut v, &LONG_MONTHS, false)? as i64 + 1),
            Tok::Month => month = Some(name_index(&mut v, &LONG_MONTHS, true)? as i64 + 1),
            Tok::NumMonth => month = Some(num(&mut v, false, 2)?),
            Tok::ZeroMonth => month = Some(num(&mut v, true, 2)?),
            Tok::LongWeekDay => {
                name_index(&mut v, &LONG_DAYS, false)?;
            }
            Tok::WeekDay => {
                name_index(&mut v, &LONG_DAYS, true)?;
            }
            Tok::Day => day = Some(num(&mut v, false, 2)?),
            Tok::UnderDay => {
                if let Some(r) = v.strip_prefix(' ') {
                    v = r;
                    day = Some(num(&mut v, true, 1)?);
                } else {
                    day = Some(num(&mut v, false, 2)?);
                }
            }
            Tok::ZeroDay => day = Some(num(&mut v, true, 2)?),
            Tok::YearDay => {
                let t = v.trim_start_matches(' ');
                if v.len() - t.len() > 2 {
                    return None;
                }
                v = t;
                yday = Some(num(&mut v, false, 3)?);
            }
            Tok::ZeroYearDay => yday = Some(num(&mut v, true, 3)?),
            Tok::Hour => hour = num(&mut v, false, 2)?,
            Tok::Hour12 => hour = num(&mut v, false, 2)?,
            Tok::ZeroHour12 => hour = num(&mut v, true, 2)?,
            Tok::Minute => min = num(&mut v, false, 2)?,
            Tok::ZeroMinute => min = num(&mut v, true, 2)?,
            Tok::Second | Tok::ZeroSecond => {
                sec = num(&mut v, matches!(t, Tok::ZeroSecond), 2)?;
                // A fraction may follow even when the layout has none.
                let next_is_frac = matches!(toks.get(k + 1), Some(Tok::Frac { .. }));
                if !next_is_frac
                    && v.len() >= 2
                    && matches!(v.as_bytes()[0], b'.' | b',')
                    && v.as_bytes()[1].is_ascii_digit()
                {
                    v = &v[1..];
                    nanos = frac(&mut v);
                }
            }
            Tok::LongYear => {
                let n = v.bytes().take(4).take_while(u8::is_ascii_digit).count();
                if n != 4 {
                    return None;
                }
                year = Some(num(&mut v, true, 4)?);
            }
            Tok::Year => {
                let y = num(&mut v, true, 2)?;
                year = Some(if y >= 69 { 1900 + y } else { 2000 + y });
            }
            Tok::Pm { upper } => {
                let (p, a) = if *upper { ("PM", "AM") } else { ("pm", "am") };
                if let Some(r) = v.strip_prefix(p) {
                    v = r;
                    pm = Some(true);
                } else {
                    v = v.strip_prefix(a)?;
                    pm = Some(false);
                }
            }
            Tok::TzName => {
                let n = v.bytes().take_while(|c| c.is_ascii_uppercase()).count();
                if !(1..=5).contains(&n) {
                    return None;
                }
                let name = &v[..n];
                v = &v[n..];
                if matches!(name, "UTC" | "GMT" | "Z" | "UT") {
                    offset = Some(0);
                    // GMT+3 and similar.
                    if name == "GMT" && v.starts_with(['+', '-']) {
                        let sign = if v.starts_with('-') { -1 } else { 1 };
                        let mut r = &v[1..];
                        let h = num(&mut r, false, 2)?;
                        v = r;
                        offset = Some(sign * h as Offset * 3600);
                    }
                }
            }
            Tok::TzNum { z } => offset = Some(tz_offset(&mut v, *z)?),
            Tok::Frac { digits, exact } => {
                if *exact {
                    if !matches!(v.as_bytes().first(), Some(b'.' | b',')) {
                        return None;
                    }
                    let n = v[1..].bytes().take_while(u8::is_ascii_digit).count();
                    if n != *digits {
                        return None;
                    }
                    v = &v[1..];
                    nanos = frac(&mut v);
                } else if v.len() >= 2
                    && matches!(v.as_bytes()[0], b'.' | b',')
                    && v.as_bytes()[1].is_ascii_digit()
                {
                    v = &v[1..];
                    nanos = frac(&mut v);
                }
            }
        }
    }
    if !v.is_empty() {
        return None;
    }
    match pm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        Some(_) if hour > 12 => return None,
        _ => {}
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let offset = offset.unwrap_or(loc);
    let build = |y: i64| -> Option<i64> {
        let (m, d) = match (yday, month, day) {
            (Some(yd), None, None) => {
                let len = if civil::is_leap(y) { 366 } else { 365 };
                if yd < 1 || yd > len {
                    return None;
                }
                let mut m = 1;
                let mut left = yd;
                while left > days_in_month(y, m) {
                    left -= days_in_month(y, m);
                    m += 1;
                }
                (m, left)
            }
            _ => (month.unwrap_or(1), day.unwrap_or(1)),
        };
        if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return None;
        }
        let secs =
            days_from_civil(y, m, d) * 86_400 + hour * 3600 + min * 60 + sec - i64::from(offset);
        secs.checked_mul(1_000_000_000)?.checked_add(nanos)
    };
    match year {
        Some(y) => build(y),
        None => {
            // No year: this year, unless that is more than a day ahead.
            let this = year_of(now_ns);
            let t = build(this)?;
            if t > now_ns.saturating_add(86_400 * 1_000_000_000) {
                build(this - 1).or(Some(t))
            } else {
                Some(t)
            }
        }
    }
}

/// Reads a `location`: `UTC`, `GMT`, `Z`, or an offset `+02:00`, `-0500`,
/// `+03` (also after `UTC`: `UTC+2`).
pub(crate) fn parse_location(s: &str) -> Option<Offset> {
    let s = s.trim();
    if matches!(s, "UTC" | "GMT" | "Z" | "Etc/UTC" | "") {
        return Some(0);
    }
    let r = s
        .strip_prefix("UTC")
        .or_else(|| s.strip_prefix("GMT"))
        .unwrap_or(s);
    let sign = match r.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = &r[1..];
    let (h, m) = match body.split_once(':') {
        Some((h, m)) => (h, m),
        None if body.len() == 4 => (&body[..2], &body[2..]),
        None => (body, "0"),
    };
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if !(0..=23).contains(&h) || !(0..=59).contains(&m) {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_714_557_600 * 1_000_000_000; // 2024-05-01T10:00:00Z

    fn p(fmt: &str, v: &str) -> Option<i64> {
        TimeFormat::new(fmt).unwrap().parse(v, 0, NOW)
    }

    #[test]
    fn named_formats() {
        assert_eq!(p("RFC3339", "2024-05-01T10:00:00Z"), Some(NOW));
        assert_eq!(p("RFC3339", "2024-05-01T12:00:00+02:00"), Some(NOW));
        assert_eq!(
            p("RFC3339", "2024-05-01T10:00:00.5Z"),
            Some(NOW + 500_000_000)
        );
        assert_eq!(
            p("RFC3339Nano", "2024-05-01T10:00:00.123456789Z"),
            Some(NOW + 123_456_789)
        );
        assert_eq!(p("RFC3339", "2024-05-01 10:00:00Z"), None);
        assert_eq!(p("Unix", "1714557600"), Some(NOW));
        assert_eq!(p("Unix", "1714557600.25"), Some(NOW + 250_000_000));
        assert_eq!(p("UnixMs", "1714557600001"), Some(NOW + 1_000_000));
        assert_eq!(p("UnixUs", "1714557600000001"), Some(NOW + 1_000));
        assert_eq!(p("UnixNs", "1714557600000000001"), Some(NOW + 1));
        assert_eq!(p("UnixMs", "12x"), None);
        assert_eq!(p("RFC1123Z", "Wed, 01 May 2024 10:00:00 +0000"), Some(NOW));
        assert_eq!(p("RFC1123", "Wed, 01 May 2024 10:00:00 GMT"), Some(NOW));
        assert_eq!(p("ANSIC", "Wed May  1 10:00:00 2024"), Some(NOW));
        assert_eq!(
            p("Kitchen", "10:00AM").map(|t| t % 86_400_000_000_000),
            Some(36_000_000_000_000)
        );
        // No year: this year.
        assert_eq!(p("Stamp", "May  1 10:00:00"), Some(NOW));
        assert_eq!(
            p("StampMilli", "May  1 10:00:00.250"),
            Some(NOW + 250_000_000)
        );
        // Far ahead in the year: last year's.
        let dec = p("Stamp", "Dec 31 23:00:00").unwrap();
        assert!(dec < NOW, "{dec}");
    }

    #[test]
    fn go_layouts() {
        assert_eq!(
            p("2006-01-02 15:04:05.000", "2024-05-01 10:00:00.042"),
            Some(NOW + 42_000_000)
        );
        assert_eq!(p("2006-01-02 15:04:05.000", "2024-05-01 10:00:00.42"), None);
        assert_eq!(
            p("02/Jan/2006:15:04:05 -0700", "01/May/2024:12:00:00 +0200"),
            Some(NOW)
        );
        assert_eq!(
            p("2006-01-02 15:04:05", "2024-05-01 10:00:00,7"),
            Some(NOW + 700_000_000)
        );
        assert_eq!(
            p("January 2, 2006 3:04 PM", "May 1, 2024 10:00 AM"),
            Some(NOW)
        );
        assert_eq!(p("2006.002 15", "2024.122 10"), Some(NOW));
        assert_eq!(p("2006-01-02", "2024-02-30"), None);
        assert_eq!(p("2006-01-02", "2024-05-01 trailing"), None);
        assert_eq!(
            p("2006-01-02T15:04:05Z07:00", "2024-05-01T10:00:00Z"),
            Some(NOW)
        );
        let with_loc =
            TimeFormat::new("2006-01-02 15:04")
                .unwrap()
                .parse("2024-05-01 12:00", 7200, NOW);
        assert_eq!(with_loc, Some(NOW));
        assert!(TimeFormat::new("hello").is_err());
    }

    #[test]
    fn locations_and_civil() {
        assert_eq!(parse_location("UTC"), Some(0));
        assert_eq!(parse_location("+02:00"), Some(7200));
        assert_eq!(parse_location("-0530"), Some(-(5 * 3600 + 1800)));
        assert_eq!(parse_location("UTC+3"), Some(3 * 3600));
        assert_eq!(parse_location("Europe/Paris"), None);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(year_of(NOW), 2024);
        assert_eq!(year_of(-1), 1969);
    }
}
