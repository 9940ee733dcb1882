//! The log corpus: real Loghub samples (`<shared>/data/loghub/*.log`, about
//! 2,000 lines per system) expanded into any number of entries that keep the
//! samples' shape.
//!
//! Every sample line is a [`Template`]: its bytes plus the *slots* where a
//! value varies, found once when the samples are loaded:
//!
//! - **timestamps** in the formats the samples use ([`TIME_FORMATS`]: Android
//!   `03-17 16:13:38.811`, Apache `[Sun Dec 04 04:47:44 2005]`, BGL's epoch,
//!   `2005.06.03` and `2005-06-03-15.42.50.675872`, HDFS `081109 203615`,
//!   Hadoop/ZooKeeper `2015-10-18 18:01:47,978`, syslog `Jun 14 15:16:01`,
//!   OpenStack `2017-05-16 00:00:00.008`, Spark `17/06/09 20:10:40`, ...) are
//!   rewritten to the entry's own time, in the same format (UTC). OpenStack's
//!   log file name (`nova-api.log.1.2017-05-16_13:53:08`) is kept as it is;
//! - **IPv4 addresses**: the last two octets get new values with the same
//!   number of digits (the network part stays, as in a real cluster);
//! - **hex ids**: runs of 8 or more hex digits holding a letter (`0x` prefix
//!   allowed), and the groups of a UUID, get random hex of the same length
//!   and case;
//! - **numbers**: every other run of 2 or more digits gets random digits of
//!   the same length (a leading non-zero digit stays non-zero); single digits
//!   are kept (the samples' own small counts, `HTTP/1.1`, ...).
//!
//! A slot whose original text occurs more than once in its app's sample (a
//! tenant id, a pid, a server address, `status: 200`) is *shared*: it gets one
//! value per host, derived from the host and the original text, so it repeats
//! as the sample repeats it; a value that occurs once (request and block ids,
//! timings) is drawn afresh for every line. (Fresh values everywhere made the
//! text compress 2-4x worse than the samples themselves; see the ignored test
//! `real_samples`, which compares them with `zstd -19`.)
//!
//! So a generated line has its template's length and every byte outside the
//! slots, and the message variety of the samples. Each entry draws a system
//! (uniformly), a host (uniformly among `hosts`) and a template of that system
//! (uniformly), all from one seeded [`Rng`] (SplitMix64); timestamps are
//! spread evenly over the span in entry order, so the corpus is in time order
//! overall and per stream. The `level` comes from the line's own level word
//! ([`detect_level`]), else `info`.
//!
//! The needle (`needle` + 16 random hex digits, letters that no slot
//! produces) is appended as ` req_id=<token>` to `needles` entries chosen at
//! random.

use std::path::Path;

use anyhow::{bail, Context};

/// SplitMix64: a fast, seeded generator (not cryptographic).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x6a09_e667_f3bc_c908)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)` (`n > 0`), by multiply-shift.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Fills `out` with random decimal digits.
    #[inline]
    fn digits(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let mut x = self.next_u64();
            for b in chunk {
                let m = u128::from(x) * 10;
                *b = b'0' + (m >> 64) as u8;
                x = m as u64;
            }
        }
    }

    /// Fills `out` with random hex digits (`upper`: `A-F`, else `a-f`).
    #[inline]
    fn hex(&mut self, out: &mut [u8], upper: bool) {
        let table: &[u8; 16] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        for chunk in out.chunks_mut(16) {
            let mut x = self.next_u64();
            for b in chunk {
                *b = table[(x & 15) as usize];
                x >>= 4;
            }
        }
    }
}

/// The `level` label of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Debug, Level::Info, Level::Warn, Level::Error];

    pub fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The level a line states: the first level word among its first 160 bytes
/// (`INFO`, `WARN`, `WARNING`, `ERROR`, `FATAL`, `SEVERE`, `DEBUG`, `TRACE`,
/// ...; lower-case ones only in brackets, as Apache's `[notice]`), or an
/// Android-style single letter (`V D I W E F`) among the first six
/// whitespace-separated fields. `None` when there is none.
pub fn detect_level(line: &[u8]) -> Option<Level> {
    let head = &line[..line.len().min(160)];
    let mut i = 0;
    while i < head.len() {
        if !head[i].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let start = i;
        while i < head.len() && head[i].is_ascii_alphanumeric() {
            i += 1;
        }
        if start > 0 && head[start - 1].is_ascii_alphanumeric() {
            continue;
        }
        let word = &head[start..i];
        let upper = match word {
            b"INFO" | b"NOTICE" => Some(Level::Info),
            b"WARN" | b"WARNING" => Some(Level::Warn),
            b"ERROR" | b"FATAL" | b"SEVERE" | b"CRITICAL" | b"CRIT" | b"ALERT" | b"EMERG" => {
                Some(Level::Error)
            }
            b"DEBUG" | b"TRACE" => Some(Level::Debug),
            _ => None,
        };
        if upper.is_some() {
            return upper;
        }
        let bracketed = start > 0 && head[start - 1] == b'[' && head.get(i) == Some(&b']');
        if bracketed {
            let lower = match word {
                b"info" | b"notice" => Some(Level::Info),
                b"warn" | b"warning" => Some(Level::Warn),
                b"error" | b"crit" | b"alert" | b"emerg" | b"fatal" => Some(Level::Error),
                b"debug" | b"trace" => Some(Level::Debug),
                _ => None,
            };
            if lower.is_some() {
                return lower;
            }
        }
    }
    for field in head
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .take(6)
    {
        match field {
            b"V" | b"D" => return Some(Level::Debug),
            b"I" => return Some(Level::Info),
            b"W" => return Some(Level::Warn),
            b"E" | b"F" | b"A" => return Some(Level::Error),
            _ => {}
        }
    }
    None
}

/// One element of a timestamp format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(u8),
    /// `%Y`: four-digit year.
    Year4,
    /// `%y`: two-digit year.
    Year2,
    /// `%m`: month 01-12.
    Month,
    /// `%d`: day, zero-padded.
    DayZero,
    /// `%e`: day, space-padded.
    DaySpace,
    /// `%H`, `%M`, `%S`.
    Hour,
    Minute,
    Second,
    /// `%3`: milliseconds; `%6`: microseconds.
    Milli,
    Micro,
    /// `%b`: `Jan`..`Dec`; `%a`: `Sun`..`Sat`.
    MonthName,
    DayName,
    /// `%s`: Unix seconds, 10 digits.
    Epoch,
}

/// A timestamp format found in the samples.
#[derive(Debug, Clone)]
pub struct TimeFormat {
    toks: Vec<Tok>,
    /// Only at the start of a line.
    anchored: bool,
    /// Left as it is (not the entry's time: OpenStack's rotated file name).
    keep: bool,
}

/// `(spec, anchored, keep)`, tried in this order at every word boundary.
pub const TIME_FORMATS: [(&str, bool, bool); 12] = [
    ("%m-%d %H:%M:%S.%3", true, false),
    ("[%a %b %d %H:%M:%S %Y]", false, false),
    ("%a %b %e %H:%M:%S %Y", false, false),
    ("- %s %Y.%m.%d", true, false),
    ("%Y-%m-%d-%H.%M.%S.%6", false, false),
    ("%y%m%d %H%M%S", true, false),
    ("%Y-%m-%d %H:%M:%S,%3", false, false),
    ("%Y-%m-%d %H:%M:%S.%3", false, false),
    ("%Y-%m-%d_%H:%M:%S", false, true),
    ("%y/%m/%d %H:%M:%S", true, false),
    ("%b %e %H:%M:%S", true, false),
    ("%Y-%m-%dT%H:%M:%S", false, false),
];

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];
const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];

fn parse_spec(spec: &str) -> Vec<Tok> {
    let b = spec.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 1 < b.len() {
            out.push(match b[i + 1] {
                b'Y' => Tok::Year4,
                b'y' => Tok::Year2,
                b'm' => Tok::Month,
                b'd' => Tok::DayZero,
                b'e' => Tok::DaySpace,
                b'H' => Tok::Hour,
                b'M' => Tok::Minute,
                b'S' => Tok::Second,
                b'3' => Tok::Milli,
                b'6' => Tok::Micro,
                b'b' => Tok::MonthName,
                b'a' => Tok::DayName,
                b's' => Tok::Epoch,
                c => Tok::Lit(c),
            });
            i += 2;
        } else {
            out.push(Tok::Lit(b[i]));
            i += 1;
        }
    }
    out
}

pub fn time_formats() -> Vec<TimeFormat> {
    TIME_FORMATS
        .iter()
        .map(|&(spec, anchored, keep)| TimeFormat {
            toks: parse_spec(spec),
            anchored,
            keep,
        })
        .collect()
}

fn num(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 18 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u64, |a, &d| a * 10 + u64::from(d - b'0')))
}

impl TimeFormat {
    /// Length of a match at the start of `s`, if the format matches there.
    fn match_at(&self, s: &[u8]) -> Option<usize> {
        let mut p = 0;
        let field = |p: usize, n: usize, lo: u64, hi: u64| -> Option<usize> {
            let v = num(s.get(p..p + n)?)?;
            (lo..=hi).contains(&v).then_some(p + n)
        };
        for t in &self.toks {
            p = match *t {
                Tok::Lit(c) => (s.get(p) == Some(&c)).then_some(p + 1)?,
                Tok::Year4 => field(p, 4, 1970, 2100)?,
                Tok::Year2 | Tok::Minute | Tok::Second => field(p, 2, 0, 59)?,
                Tok::Month => field(p, 2, 1, 12)?,
                Tok::DayZero => field(p, 2, 1, 31)?,
                Tok::DaySpace => {
                    let two = s.get(p..p + 2)?;
                    let ok = match two[0] {
                        b' ' => two[1].is_ascii_digit() && two[1] != b'0',
                        b'1'..=b'3' => two[1].is_ascii_digit(),
                        _ => false,
                    };
                    ok.then_some(p + 2)?
                }
                Tok::Hour => field(p, 2, 0, 23)?,
                Tok::Milli => field(p, 3, 0, 999)?,
                Tok::Micro => field(p, 6, 0, 999_999)?,
                Tok::Epoch => field(p, 10, 0, 9_999_999_999)?,
                Tok::MonthName => {
                    let w = s.get(p..p + 3)?;
                    MONTHS.iter().any(|m| &m[..] == w).then_some(p + 3)?
                }
                Tok::DayName => {
                    let w = s.get(p..p + 3)?;
                    DAYS.iter().any(|m| &m[..] == w).then_some(p + 3)?
                }
            };
        }
        // Not in the middle of a longer word or number.
        match s.get(p) {
            Some(c)
                if c.is_ascii_alphanumeric()
                    && self.toks.last().is_some_and(|t| !matches!(t, Tok::Lit(_))) =>
            {
                None
            }
            _ => Some(p),
        }
    }

    /// Writes `t` in this format into `out` (exactly the length of a match).
    fn render(&self, t: &Civil, out: &mut [u8]) {
        /// Writes `v` as `n` zero-padded digits at `p`; returns the position after.
        fn put(out: &mut [u8], p: usize, v: u64, n: usize) -> usize {
            let mut v = v;
            for i in (0..n).rev() {
                out[p + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
            p + n
        }
        let mut p = 0;
        for tok in &self.toks {
            p = match *tok {
                Tok::Lit(c) => {
                    out[p] = c;
                    p + 1
                }
                Tok::Year4 => put(out, p, t.year.clamp(0, 9999) as u64, 4),
                Tok::Year2 => put(out, p, t.year.rem_euclid(100) as u64, 2),
                Tok::Month => put(out, p, u64::from(t.month), 2),
                Tok::DayZero => put(out, p, u64::from(t.day), 2),
                Tok::DaySpace => {
                    let q = put(out, p, u64::from(t.day), 2);
                    if t.day < 10 {
                        out[p] = b' ';
                    }
                    q
                }
                Tok::Hour => put(out, p, u64::from(t.hour), 2),
                Tok::Minute => put(out, p, u64::from(t.minute), 2),
                Tok::Second => put(out, p, u64::from(t.second), 2),
                Tok::Milli => put(out, p, u64::from(t.nanos / 1_000_000), 3),
                Tok::Micro => put(out, p, u64::from(t.nanos / 1_000), 6),
                Tok::Epoch => put(out, p, t.unix_seconds.clamp(0, 9_999_999_999) as u64, 10),
                Tok::MonthName => {
                    out[p..p + 3].copy_from_slice(MONTHS[usize::from(t.month - 1)]);
                    p + 3
                }
                Tok::DayName => {
                    out[p..p + 3].copy_from_slice(DAYS[usize::from(t.weekday)]);
                    p + 3
                }
            };
        }
    }
}

/// A UTC calendar time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub unix_seconds: i64,
    pub year: i64,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub nanos: u32,
    /// 0 = Sunday.
    pub weekday: u8,
}

impl Civil {
    /// From Unix nanoseconds.
    pub fn from_nanos(ns: i64) -> Civil {
        let secs = ns.div_euclid(1_000_000_000);
        let nanos = ns.rem_euclid(1_000_000_000) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (year, month, day) = pharos_model::civil::civil_from_days(days);
        Civil {
            unix_seconds: secs,
            year,
            month: month as u8,
            day: day as u8,
            hour: (sod / 3_600) as u8,
            minute: (sod / 60 % 60) as u8,
            second: (sod % 60) as u8,
            nanos,
            weekday: (days + 4).rem_euclid(7) as u8,
        }
    }

    /// RFC 3339 with milliseconds and `Z`: `2024-05-01T12:00:00.123Z`.
    pub fn write_rfc3339_ms(&self, out: &mut Vec<u8>) {
        let mut b = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, n: usize, v: u64| {
            let mut v = v;
            for i in (at..at + n).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, self.year.clamp(0, 9999) as u64);
        put(5, 2, u64::from(self.month));
        put(8, 2, u64::from(self.day));
        put(11, 2, u64::from(self.hour));
        put(14, 2, u64::from(self.minute));
        put(17, 2, u64::from(self.second));
        put(20, 3, u64::from(self.nanos / 1_000_000));
        out.extend_from_slice(&b);
    }
}

/// What a slot of a template becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// Random digits; the first one non-zero when `nonzero_first`.
    Digits { nonzero_first: bool },
    /// Random hex digits.
    Hex { upper: bool },
    /// An IPv4 octet of the slot's length (1: 0-9, 2: 10-99, 3: 100-255).
    Octet,
    /// The entry's time in [`time_formats`]`()[i]`.
    Time(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub off: u32,
    pub len: u32,
    pub kind: SlotKind,
    /// 0: a fresh value on every line. Else the value is shared: its original
    /// text occurs more than once in the app's sample, so it gets one value per
    /// host (drawn from this id, a hash of the original text, and the host).
    pub shared: u32,
}

/// One sample line and where it varies.
#[derive(Debug, Clone)]
pub struct Template {
    pub bytes: Box<[u8]>,
    pub slots: Vec<Slot>,
    pub level: Level,
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// An IPv4 address at the start of `s`: the lengths of its four octets.
fn ipv4_at(s: &[u8]) -> Option<[usize; 4]> {
    let mut lens = [0usize; 4];
    let mut p = 0;
    for (k, len) in lens.iter_mut().enumerate() {
        let n = s[p..]
            .iter()
            .take(4)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if !(1..=3).contains(&n) || num(&s[p..p + n]).is_none_or(|v| v > 255) {
            return None;
        }
        *len = n;
        p += n;
        if k < 3 {
            if s.get(p) != Some(&b'.') {
                return None;
            }
            p += 1;
        }
    }
    // Not followed by more of a dotted number or a word.
    match s.get(p) {
        Some(c) if c.is_ascii_alphanumeric() => None,
        Some(b'.') if s.get(p + 1).is_some_and(u8::is_ascii_digit) => None,
        _ => Some(lens),
    }
}

/// A UUID (8-4-4-4-12 hex) at the start of `s`.
fn uuid_at(s: &[u8]) -> bool {
    let groups = [8usize, 4, 4, 4, 12];
    let mut p = 0;
    for (k, g) in groups.iter().enumerate() {
        if s.len() < p + g || !s[p..p + g].iter().all(|&b| is_hex(b)) {
            return false;
        }
        p += g;
        if k < 4 {
            if s.get(p) != Some(&b'-') {
                return false;
            }
            p += 1;
        }
    }
    !s.get(p).is_some_and(u8::is_ascii_alphanumeric)
}

impl Template {
    /// Finds the slots of a sample line.
    pub fn new(line: &[u8], formats: &[TimeFormat]) -> Template {
        let mut slots = Vec::new();
        let b = line;
        let mut i = 0;
        'scan: while i < b.len() {
            let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
            if boundary {
                for (fi, f) in formats.iter().enumerate() {
                    if f.anchored && i != 0 {
                        continue;
                    }
                    if let Some(n) = f.match_at(&b[i..]) {
                        if !f.keep {
                            slots.push(Slot {
                                shared: 0,
                                off: i as u32,
                                len: n as u32,
                                kind: SlotKind::Time(fi as u8),
                            });
                        }
                        i += n;
                        continue 'scan;
                    }
                }
                if b[i].is_ascii_digit() && (i == 0 || b[i - 1] != b'.') {
                    if let Some(lens) = ipv4_at(&b[i..]) {
                        let mut p = i;
                        for (k, len) in lens.iter().enumerate() {
                            if k >= 2 {
                                slots.push(Slot {
                                    shared: 0,
                                    off: p as u32,
                                    len: *len as u32,
                                    kind: SlotKind::Octet,
                                });
                            }
                            p += len + 1;
                        }
                        i = p - 1;
                        continue 'scan;
                    }
                }
                if is_hex(b[i]) && uuid_at(&b[i..]) {
                    let upper = b[i..i + 36].iter().any(u8::is_ascii_uppercase);
                    for (off, len) in [(0, 8), (9, 4), (14, 4), (19, 4), (24, 12)] {
                        slots.push(Slot {
                            shared: 0,
                            off: (i + off) as u32,
                            len: len as u32,
                            kind: SlotKind::Hex { upper },
                        });
                    }
                    i += 36;
                    continue 'scan;
                }
            }
            if !b[i].is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
            // A word: [0-9A-Za-z]+.
            let start = i;
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let word = &b[start..i];
            let (hex_start, hex) =
                if word.len() > 2 && (word.starts_with(b"0x") || word.starts_with(b"0X")) {
                    (start + 2, &word[2..])
                } else {
                    (start, word)
                };
            let all_hex = hex.iter().all(|&c| is_hex(c));
            let has_letter = hex.iter().any(u8::is_ascii_alphabetic);
            let lower = hex.iter().all(|c| !c.is_ascii_uppercase());
            let upper = hex.iter().all(|c| !c.is_ascii_lowercase());
            if hex.len() >= 8 && all_hex && has_letter && (lower || upper) {
                slots.push(Slot {
                    shared: 0,
                    off: hex_start as u32,
                    len: hex.len() as u32,
                    kind: SlotKind::Hex { upper: !lower },
                });
                continue;
            }
            // Digit runs of 2 or more inside the word.
            let mut j = start;
            while j < i {
                if b[j].is_ascii_digit() {
                    let s = j;
                    while j < i && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    if j - s >= 2 {
                        slots.push(Slot {
                            shared: 0,
                            off: s as u32,
                            len: (j - s) as u32,
                            kind: SlotKind::Digits {
                                nonzero_first: b[s] != b'0',
                            },
                        });
                    }
                } else {
                    j += 1;
                }
            }
        }
        Template {
            bytes: line.into(),
            slots,
            level: detect_level(line).unwrap_or(Level::Info),
        }
    }

    /// Appends a fresh line from this template at time `t` to `out` (shared
    /// slots as for host key 0).
    #[cfg(test)]
    pub fn render(&self, rng: &mut Rng, t: &Civil, formats: &[TimeFormat], out: &mut Vec<u8>) {
        render_parts(&self.bytes, &self.slots, 0, rng, t, formats, out);
    }
}

/// Fills one slot's bytes.
#[inline]
fn fill(kind: SlotKind, dst: &mut [u8], rng: &mut Rng, t: &Civil, formats: &[TimeFormat]) {
    match kind {
        SlotKind::Digits { nonzero_first } => {
            rng.digits(dst);
            if nonzero_first && dst[0] == b'0' {
                dst[0] = b'1' + rng.below(9) as u8;
            }
        }
        SlotKind::Hex { upper } => rng.hex(dst, upper),
        SlotKind::Octet => {
            let mut v = match dst.len() {
                1 => rng.below(10),
                2 => 10 + rng.below(90),
                _ => 100 + rng.below(156),
            };
            for d in dst.iter_mut().rev() {
                *d = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        SlotKind::Time(fi) => formats[usize::from(fi)].render(t, dst),
    }
}

/// Appends `bytes` to `out` with every slot filled: fresh slots from `rng`,
/// shared ones from `host_key` and their id.
#[inline]
fn render_parts(
    bytes: &[u8],
    slots: &[Slot],
    host_key: u64,
    rng: &mut Rng,
    t: &Civil,
    formats: &[TimeFormat],
    out: &mut Vec<u8>,
) {
    let base = out.len();
    out.extend_from_slice(bytes);
    let line = &mut out[base..];
    for s in slots {
        let dst = &mut line[s.off as usize..(s.off + s.len) as usize];
        if s.shared == 0 {
            fill(s.kind, dst, rng, t, formats);
        } else {
            let mut r = Rng(host_key ^ u64::from(s.shared).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            fill(s.kind, dst, &mut r, t, formats);
        }
    }
}

/// The templates of one system (one sample file).
#[derive(Debug, Clone)]
pub struct App {
    /// The `app` label: the file name before `_` (or `.`), lower-cased.
    pub name: String,
    pub templates: Vec<Template>,
    /// Mean template length in bytes.
    pub mean_len: f64,
}

impl App {
    pub fn from_lines(name: &str, text: &[u8], formats: &[TimeFormat]) -> App {
        let mut templates: Vec<Template> = text
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(|l| Template::new(l, formats))
            .collect();
        mark_shared(&mut templates);
        let total: usize = templates.iter().map(|t| t.bytes.len()).sum();
        App {
            name: name.to_string(),
            mean_len: total as f64 / templates.len().max(1) as f64,
            templates,
        }
    }
}

/// FNV-1a of `b`, never 0.
fn value_id(b: &[u8]) -> u32 {
    let h = b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &c| {
        (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3)
    });
    ((h >> 32) as u32 ^ h as u32) | 1
}

/// Marks the slots whose original text occurs more than once among `templates`.
fn mark_shared(templates: &mut [Template]) {
    let mut counts: std::collections::HashMap<Vec<u8>, u32> = Default::default();
    for t in templates.iter() {
        for s in t
            .slots
            .iter()
            .filter(|s| !matches!(s.kind, SlotKind::Time(_)))
        {
            *counts
                .entry(t.bytes[s.off as usize..(s.off + s.len) as usize].to_vec())
                .or_default() += 1;
        }
    }
    for t in templates.iter_mut() {
        let bytes = &t.bytes;
        for s in t
            .slots
            .iter_mut()
            .filter(|s| !matches!(s.kind, SlotKind::Time(_)))
        {
            let v = &bytes[s.off as usize..(s.off + s.len) as usize];
            if counts.get(v).is_some_and(|&n| n > 1) {
                s.shared = value_id(v);
            }
        }
    }
}

/// Reads `dir/*.log` (sorted by name), one [`App`] per file. Lines that are
/// not UTF-8 are made so (U+FFFD), since Loki lines are strings.
pub fn load_apps(dir: &Path) -> anyhow::Result<Vec<App>> {
    let formats = time_formats();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {} (set --shared)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "log") && p.is_file())
        .collect();
    paths.sort();
    let mut apps = Vec::new();
    for p in paths {
        let raw = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let name: String = stem
            .split(['_', '.'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.is_empty() {
            continue;
        }
        let app = App::from_lines(&name, text.as_bytes(), &formats);
        if !app.templates.is_empty() {
            apps.push(app);
        }
    }
    if apps.is_empty() {
        bail!("no *.log sample files in {}", dir.display());
    }
    if let Some(a) = apps
        .iter()
        .find(|a| a.templates.iter().any(|t| contains(&t.bytes, b"needle")))
    {
        bail!(
            "the samples of {} contain the word `needle`, which the bench uses as its search token",
            a.name
        );
    }
    Ok(apps)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct CorpusSpec {
    pub seed: u64,
    /// Raw bytes wanted (lines without newlines); the entry count is derived from it.
    pub target_bytes: u64,
    pub hosts: u32,
    pub needles: u32,
    /// Timestamps are spread over `(start_ns, start_ns + span_ns]`.
    pub start_ns: i64,
    pub span_ns: i64,
}

/// One generated entry (its line is in the caller's buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryInfo {
    pub app: u16,
    pub host: u32,
    pub level: Level,
    pub ts_ns: i64,
    pub needle: bool,
}

/// A template in the generator's arenas.
#[derive(Debug, Clone, Copy)]
struct TRef {
    bytes_off: u32,
    bytes_len: u32,
    slots_off: u32,
    slots_len: u32,
    level: Level,
}

/// The draw for one entry: app, host, template (index into `refs`).
#[derive(Debug, Clone, Copy)]
struct Draw {
    app: u16,
    host: u32,
    tref: u32,
}

/// Asks the CPU to start loading the cache lines of `bytes` (a hint only).
#[inline]
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for off in (0..bytes.len()).step_by(64) {
        // SAFETY: a prefetch is a hint that never faults; the pointer is inside `bytes`.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                bytes.as_ptr().add(off).cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// Generates the entries of a corpus in time order.
///
/// The templates are copied into two flat arenas (bytes, slots) and each
/// entry's template is drawn one entry ahead and prefetched: a template is
/// picked at random among some 20,000, so without this most of the time goes
/// to cache misses.
pub struct Generator {
    arena: Vec<u8>,
    slots: Vec<Slot>,
    refs: Vec<TRef>,
    /// Per app: `(first ref, number of refs)`.
    apps: Vec<(u32, u32)>,
    formats: Vec<TimeFormat>,
    spec: CorpusSpec,
    rng: Rng,
    entries: u64,
    next: u64,
    /// The next entry's draw.
    ahead: Draw,
    /// Sorted entry indexes that carry the needle.
    needle_at: Vec<u64>,
    needle_pos: usize,
    pub token: String,
    /// Cached calendar time of the last second rendered.
    cached: Option<(i64, Civil)>,
    /// `start_ns + floor(next × span / entries)`, kept exactly without a
    /// 128-bit division per entry: `step` per entry plus `rem / entries` carried in `err`.
    ts: i64,
    step: i64,
    rem: u64,
    err: u64,
}

impl Generator {
    pub fn new(apps: &[App], spec: CorpusSpec) -> Generator {
        let mean = apps.iter().map(|a| a.mean_len).sum::<f64>() / apps.len().max(1) as f64;
        let entries = ((spec.target_bytes as f64 / mean.max(1.0)).ceil() as u64).max(1);
        let span = spec.span_ns.max(0) as u64;
        let start = spec.start_ns;
        let mut rng = Rng::new(spec.seed);
        let mut hex = [0u8; 16];
        rng.hex(&mut hex, false);
        let token = format!("needle{}", String::from_utf8_lossy(&hex));
        let mut needle_at: Vec<u64> = Vec::new();
        let want = u64::from(spec.needles).min(entries);
        while (needle_at.len() as u64) < want {
            let i = rng.below(entries);
            if !needle_at.contains(&i) {
                needle_at.push(i);
            }
        }
        needle_at.sort_unstable();
        let (mut arena, mut slots, mut refs, mut ranges) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for a in apps {
            ranges.push((refs.len() as u32, a.templates.len() as u32));
            for t in &a.templates {
                refs.push(TRef {
                    bytes_off: arena.len() as u32,
                    bytes_len: t.bytes.len() as u32,
                    slots_off: slots.len() as u32,
                    slots_len: t.slots.len() as u32,
                    level: t.level,
                });
                arena.extend_from_slice(&t.bytes);
                slots.extend_from_slice(&t.slots);
            }
        }
        let mut g = Generator {
            arena,
            slots,
            refs,
            apps: ranges,
            formats: time_formats(),
            spec,
            rng,
            entries,
            next: 0,
            ahead: Draw {
                app: 0,
                host: 0,
                tref: 0,
            },
            needle_at,
            needle_pos: 0,
            token,
            cached: None,
            ts: start,
            step: (span / entries) as i64,
            rem: span % entries,
            err: 0,
        };
        g.ahead = g.draw();
        g
    }

    /// Draws app, host and template, and prefetches the template.
    #[inline]
    fn draw(&mut self) -> Draw {
        let app = self.rng.below(self.apps.len() as u64) as usize;
        let host = self.rng.below(u64::from(self.spec.hosts.max(1))) as u32;
        let (first, n) = self.apps[app];
        let tref = first + self.rng.below(u64::from(n)) as u32;
        let r = self.refs[tref as usize];
        prefetch(&self.arena[r.bytes_off as usize..(r.bytes_off + r.bytes_len) as usize]);
        let sl = &self.slots[r.slots_off as usize..(r.slots_off + r.slots_len) as usize];
        // SAFETY: reinterpreting the slots as bytes for a prefetch hint only.
        prefetch(unsafe {
            std::slice::from_raw_parts(sl.as_ptr().cast::<u8>(), std::mem::size_of_val(sl))
        });
        Draw {
            app: app as u16,
            host,
            tref,
        }
    }

    /// Entries this generator produces in all.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Appends the next entry's line (no newline) to `out`; `None` at the end.
    pub fn next_entry(&mut self, out: &mut Vec<u8>) -> Option<EntryInfo> {
        if self.next >= self.entries {
            return None;
        }
        let i = self.next;
        self.next += 1;
        self.ts += self.step;
        self.err += self.rem;
        if self.err >= self.entries {
            self.err -= self.entries;
            self.ts += 1;
        }
        let ts_ns = self.ts;
        let d = self.ahead;
        self.ahead = self.draw();
        let r = self.refs[d.tref as usize];
        let sec = ts_ns.div_euclid(1_000_000_000);
        let civil = match self.cached {
            Some((s, c)) if s == sec => Civil {
                nanos: ts_ns.rem_euclid(1_000_000_000) as u32,
                ..c
            },
            _ => {
                let c = Civil::from_nanos(ts_ns);
                self.cached = Some((sec, c));
                c
            }
        };
        let host_key =
            Rng::new(self.spec.seed ^ (u64::from(d.app) << 32 | u64::from(d.host))).next_u64();
        render_parts(
            &self.arena[r.bytes_off as usize..(r.bytes_off + r.bytes_len) as usize],
            &self.slots[r.slots_off as usize..(r.slots_off + r.slots_len) as usize],
            host_key,
            &mut self.rng,
            &civil,
            &self.formats,
            out,
        );
        let needle = self.needle_at.get(self.needle_pos) == Some(&i);
        if needle {
            self.needle_pos += 1;
            out.extend_from_slice(b" req_id=");
            out.extend_from_slice(self.token.as_bytes());
        }
        Some(EntryInfo {
            app: d.app,
            host: d.host,
            level: r.level,
            ts_ns,
            needle,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(line: &str) -> Template {
        Template::new(line.as_bytes(), &time_formats())
    }

    fn render(t: &Template, seed: u64, ns: i64) -> String {
        let mut out = Vec::new();
        t.render(
            &mut Rng::new(seed),
            &Civil::from_nanos(ns),
            &time_formats(),
            &mut out,
        );
        String::from_utf8(out).expect("ascii")
    }

    /// 2023-11-14T22:13:20.123456789Z, a Tuesday.
    const T: i64 = 1_700_000_000_123_456_789;

    #[test]
    fn civil_dates() {
        let c = Civil::from_nanos(T);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute, c.second, c.weekday),
            (2023, 11, 14, 22, 13, 20, 2)
        );
        let c = Civil::from_nanos(0);
        assert_eq!((c.year, c.month, c.day, c.weekday), (1970, 1, 1, 4));
        let c = Civil::from_nanos(951_782_400 * 1_000_000_000); // 2000-02-29
        assert_eq!((c.year, c.month, c.day), (2000, 2, 29));
        let mut s = Vec::new();
        Civil::from_nanos(T).write_rfc3339_ms(&mut s);
        assert_eq!(s, b"2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn a_line_keeps_its_length_and_non_digit_characters() {
        let line = "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_-6952295868487656571 terminating";
        let t = template(line);
        for seed in 0..20 {
            let out = render(&t, seed, T + seed as i64 * 7_777_777_777);
            assert_eq!(out.len(), line.len());
            for (a, b) in line.bytes().zip(out.bytes()) {
                if a.is_ascii_digit() {
                    assert!(b.is_ascii_digit(), "{out}");
                } else {
                    assert_eq!(a, b, "{out}");
                }
            }
            // Single digits are kept, the rest varies.
            assert!(out.contains(" PacketResponder 1 for block blk_-"));
        }
        assert_eq!(&render(&t, 1, T)[..13], "231114 221320");
        assert_ne!(render(&t, 1, T), render(&t, 2, T));
    }

    #[test]
    fn timestamps_take_the_entry_time_in_the_line_format() {
        let cases = [
            (
                "03-17 16:13:38.811  1702  2395 D WindowManager: x",
                "11-14 22:13:20.123  ",
            ),
            (
                "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok",
                "[Tue Nov 14 22:13:20 2023] [notice]",
            ),
            (
                "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02",
                "- 1700000000 2023.11.14 R",
            ),
            (
                "2015-10-18 18:01:47,978 INFO [main] x",
                "2023-11-14 22:13:20,123 INFO [main]",
            ),
            (
                "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: x",
                "Nov 14 22:13:20 combo sshd(pam_unix)[",
            ),
            (
                "17/06/09 20:10:40 INFO executor.X: y",
                "23/11/14 22:13:20 INFO",
            ),
            (
                "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO",
                "nova-api.log.1.2017-05-16_13:53:08 2023-11-14 22:13:20.123 ",
            ),
        ];
        for (line, prefix) in cases {
            let out = render(&template(line), 3, T);
            assert!(out.starts_with(prefix), "{line}\n -> {out}");
            assert_eq!(out.len(), line.len());
        }
        let bgl = render(&template(cases[2].0), 3, T);
        assert!(bgl.contains(" 2023-11-14-22.13.20.123456 "), "{bgl}");
        // Space-padded day in syslog style, in both places.
        let l = "Jul  9 12:16:49 combo ftpd[23142]: connection from 211.167.68.59 () at Sat Jul  9 12:16:49 2005 ";
        let t = template(l);
        let out = render(&t, 3, 1_700_000_000_000_000_000 - 10 * 86_400_000_000_000);
        assert!(out.starts_with("Nov  4 22:13:20 combo ftpd["), "{out}");
        assert!(out.ends_with(" at Sat Nov  4 22:13:20 2023 "), "{out}");
        assert!(out.contains(" from 211.167."), "{out}");
    }

    #[test]
    fn hex_ids_uuids_and_addresses() {
        let l = "nova [req-38101a0b-2096-447d-96ea-a692162415ae 113d3a99c3da401fbd62cc2caa5b96d2 -] 10.11.10.1 \"GET /v2/x HTTP/1.1\" session 0x34ede65503f002d";
        let t = template(l);
        let out = render(&t, 9, T);
        assert_eq!(out.len(), l.len());
        assert!(out.contains("\" session 0x"), "{out}");
        assert!(out.contains(" HTTP/1.1\""), "{out}");
        assert!(out.contains("] 10.11."), "{out}");
        assert_ne!(&out[10..46], &l[10..46]);
        assert_eq!(out.as_bytes()[18], b'-');
        for s in &t.slots {
            if let SlotKind::Hex { upper } = s.kind {
                assert!(!upper);
                let v = &out[s.off as usize..(s.off + s.len) as usize];
                assert!(
                    v.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                    "{v}"
                );
            }
        }
        let ips = template("from 173.234.31.186 port 34100 and 1.2.3.4.5");
        let octets = ips
            .slots
            .iter()
            .filter(|s| s.kind == SlotKind::Octet)
            .count();
        assert_eq!(octets, 2);
        for seed in 0..50 {
            let out = render(&ips, seed, T);
            let ip: Vec<u32> = out[5..19]
                .split('.')
                .map(|o| o.parse().expect("octet"))
                .collect();
            assert!(
                ip[2] >= 10 && ip[2] <= 99 && ip[3] >= 100 && ip[3] <= 255,
                "{out}"
            );
        }
    }

    #[test]
    fn levels() {
        let cases = [
            (
                "03-17 16:13:38.811  1702  2395 D WindowManager: x",
                Some(Level::Debug),
            ),
            (
                "03-17 16:13:38.811  1702  2395 W WindowManager: x",
                Some(Level::Warn),
            ),
            (
                "[Sun Dec 04 04:47:44 2005] [error] mod_jk child",
                Some(Level::Error),
            ),
            (
                "[Sun Dec 04 04:47:44 2005] [notice] jk2_init()",
                Some(Level::Info),
            ),
            (
                "- 1117838570 2005.06.03 R02 RAS KERNEL FATAL machine check",
                Some(Level::Error),
            ),
            (
                "2015-07-29 19:29:03,816 - WARN  [RecvWorker:188978561024:Q] - x",
                Some(Level::Warn),
            ),
            (
                "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure",
                None,
            ),
            (
                "Dec 10 06:55:46 LabSZ sshd[24200]: error: Received disconnect",
                None,
            ),
        ];
        for (l, want) in cases {
            assert_eq!(detect_level(l.as_bytes()), want, "{l}");
        }
    }

    fn apps() -> Vec<App> {
        let f = time_formats();
        vec![
            App::from_lines(
                "hdfs",
                b"081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating\n\
                  081109 204005 35 WARN dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated: 10.251.73.220:50010 is added\n",
                &f,
            ),
            App::from_lines(
                "apache",
                b"[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties\r\n\n\
                  [Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6\n",
                &f,
            ),
        ]
    }

    fn generate(apps: &[App], seed: u64) -> (Vec<u8>, Vec<EntryInfo>, String) {
        let spec = CorpusSpec {
            seed,
            target_bytes: 200_000,
            hosts: 5,
            needles: 3,
            start_ns: T - 86_400_000_000_000,
            span_ns: 86_400_000_000_000,
        };
        let mut g = Generator::new(apps, spec);
        let mut text = Vec::new();
        let mut infos = Vec::new();
        while let Some(e) = g.next_entry(&mut text) {
            text.push(b'\n');
            infos.push(e);
        }
        (text, infos, g.token.clone())
    }

    #[test]
    fn generation_is_deterministic_in_order_and_carries_the_needles() {
        let apps = apps();
        assert_eq!(apps[1].templates.len(), 2);
        let (a, ia, tok) = generate(&apps, 7);
        let (b, ib, tok_b) = generate(&apps, 7);
        assert_eq!((&a, &ia, &tok), (&b, &ib, &tok_b));
        let (c, _, tok_c) = generate(&apps, 8);
        assert_ne!(a, c);
        assert_ne!(tok, tok_c);
        assert!(tok.starts_with("needle") && tok.len() == 22);
        // Close to the requested size.
        assert!((190_000..215_000).contains(&a.len()), "{}", a.len());
        let text = String::from_utf8(a).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), ia.len());
        assert_eq!(lines.iter().filter(|l| l.contains(&tok)).count(), 3);
        assert_eq!(ia.iter().filter(|e| e.needle).count(), 3);
        for (l, e) in lines.iter().zip(&ia) {
            assert_eq!(l.contains(&tok), e.needle);
            assert_eq!(l.ends_with(&format!(" req_id={tok}")), e.needle);
        }
        assert!(ia.windows(2).all(|w| w[0].ts_ns < w[1].ts_ns));
        assert!(ia[0].ts_ns > T - 86_400_000_000_000 && ia[ia.len() - 1].ts_ns == T);
        assert!(ia.iter().all(|e| e.host < 5));
        let levels: std::collections::BTreeSet<_> = ia.iter().map(|e| e.level).collect();
        assert_eq!(
            levels.into_iter().collect::<Vec<_>>(),
            vec![Level::Info, Level::Warn, Level::Error]
        );
    }

    #[test]
    fn values_repeated_in_the_sample_repeat_per_host() {
        let app = App::from_lines(
            "hdfs",
            b"081109 203615 148 INFO dfs.DataNode: Receiving blk_1234567 src: /10.251.73.220:50010\n\
              081109 203616 149 INFO dfs.DataNode: Served blk_7654321 to /10.251.73.220:50010\n",
            &time_formats(),
        );
        let t = &app.templates[0];
        let shared: Vec<bool> = t.slots.iter().map(|s| s.shared != 0).collect();
        // time, 148, 1234567 fresh; octets 73 and 220 and port 50010 shared.
        assert_eq!(shared, vec![false, false, false, true, true, true]);
        let apps = vec![app];
        let spec = CorpusSpec {
            seed: 3,
            target_bytes: 20_000,
            hosts: 3,
            needles: 0,
            start_ns: T - 1_000_000_000_000,
            span_ns: 1_000_000_000_000,
        };
        let mut g = Generator::new(&apps, spec);
        let mut per_host: std::collections::HashMap<u32, std::collections::BTreeSet<String>> =
            Default::default();
        let mut blocks = std::collections::HashSet::new();
        let mut line = Vec::new();
        while let Some(e) = g.next_entry(&mut line) {
            let l = String::from_utf8(std::mem::take(&mut line)).expect("utf8");
            let addr = l.rsplit('/').next().expect("addr").to_string();
            assert!(
                addr.starts_with("10.251.") && addr.len() == "10.251.73.220:50010".len(),
                "{l}"
            );
            per_host.entry(e.host).or_default().insert(addr);
            blocks.insert(l.split("blk_").nth(1).expect("blk")[..7].to_string());
        }
        assert_eq!(per_host.len(), 3);
        assert!(per_host.values().all(|s| s.len() == 1), "{per_host:?}");
        let distinct: std::collections::BTreeSet<_> = per_host.values().flatten().collect();
        assert_eq!(distinct.len(), 3, "{distinct:?}");
        assert!(blocks.len() > 100, "block ids are fresh per line");
    }
}

#[cfg(test)]
mod samples {
    use super::*;

    fn zstd_ratio(path: &Path) -> Option<f64> {
        let out = std::process::Command::new("zstd")
            .args(["-19", "-c"])
            .arg(path)
            .output()
            .ok()?;
        let len = std::fs::metadata(path).ok()?.len();
        (out.status.success() && len > 0).then(|| out.stdout.len() as f64 / len as f64)
    }

    /// `$PHAROS_SHARED`, else `../shared` beside the repository.
    fn shared_dir() -> std::path::PathBuf {
        std::env::var_os("PHAROS_SHARED").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
            std::path::PathBuf::from,
        )
    }

    /// Fresh random bits per generated line (template choice, and every
    /// slot not shared per host; times follow the entry's timestamp), as a
    /// share of the line bytes: no encoding of the lines can go below it.
    ///
    /// `cargo test --release -p pharos-bench entropy_floor -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn entropy_floor() {
        let shared = shared_dir();
        let apps = load_apps(&shared.join("data/loghub")).expect("samples");
        let (mut bytes, mut len) = (0.0, 0.0);
        for a in &apps {
            let n = a.templates.len() as f64;
            let slot_bits: f64 = a
                .templates
                .iter()
                .flat_map(|t| t.slots.iter().filter(|s| s.shared == 0))
                .map(|s| match s.kind {
                    SlotKind::Digits { .. } => f64::from(s.len) * 10f64.log2(),
                    SlotKind::Hex { .. } => f64::from(s.len) * 4.0,
                    SlotKind::Octet => {
                        [10f64, 90.0, 156.0][(s.len as usize).clamp(1, 3) - 1].log2()
                    }
                    SlotKind::Time(_) => 0.0,
                })
                .sum();
            let bits = slot_bits / n + n.log2();
            println!(
                "{:<10} {bits:.1} bits per line of {:.0} B: {:.2}%",
                a.name,
                a.mean_len,
                bits / 8.0 / a.mean_len * 100.0
            );
            // Apps are drawn with equal probability.
            bytes += bits / 8.0;
            len += a.mean_len;
        }
        println!("corpus: {:.2}% of the line bytes", bytes / len * 100.0);
    }

    /// On the real samples (`$PHAROS_SHARED`, else `../shared` beside the
    /// repository): slots per app, generator speed, and how well 20,000
    /// generated lines of one app and one host compress (`zstd -19`) against
    /// the app's sample file.
    ///
    /// `cargo test --release -p pharos-bench real_samples -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn real_samples() {
        let shared = shared_dir();
        let dir = shared.join("data/loghub");
        let apps = load_apps(&dir).expect("samples");
        let tmp = tempfile::tempdir().expect("tempdir");
        for a in &apps {
            let no_time = a
                .templates
                .iter()
                .filter(|t| !t.slots.iter().any(|s| matches!(s.kind, SlotKind::Time(_))))
                .count();
            let slots: usize = a.templates.iter().map(|t| t.slots.len()).sum();
            let shared: usize = a
                .templates
                .iter()
                .map(|t| t.slots.iter().filter(|s| s.shared != 0).count())
                .sum();
            let mut levels = [0; 4];
            for t in &a.templates {
                levels[t.level.index()] += 1;
            }
            let one = vec![a.clone()];
            let spec = CorpusSpec {
                seed: 1,
                target_bytes: (a.mean_len * 20_000.0) as u64,
                hosts: 1,
                needles: 0,
                start_ns: 1_700_000_000_000_000_000,
                span_ns: 86_400_000_000_000,
            };
            let mut g = Generator::new(&one, spec);
            let mut buf = Vec::new();
            while g.next_entry(&mut buf).is_some() {
                buf.push(b'\n');
            }
            let path = tmp.path().join(&a.name);
            std::fs::write(&path, &buf).expect("write");
            let sample = std::fs::read_dir(&dir)
                .expect("dir")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| {
                    p.file_name().is_some_and(|n| {
                        n.to_string_lossy()
                            .to_ascii_lowercase()
                            .starts_with(&format!("{}_", a.name))
                    })
                });
            println!(
                "{:<10} {} templates, mean {:.0} B, {} without a time, {:.1} slots per line ({:.0}% shared), levels d/i/w/e {:?}; zstd -19: sample {}, generated {}",
                a.name,
                a.templates.len(),
                a.mean_len,
                no_time,
                slots as f64 / a.templates.len() as f64,
                shared as f64 * 100.0 / slots.max(1) as f64,
                levels,
                sample.and_then(|p| zstd_ratio(&p)).map_or("n/a".into(), |r| format!("{:.1}%", r * 100.0)),
                zstd_ratio(&path).map_or("n/a".into(), |r| format!("{:.1}%", r * 100.0)),
            );
        }
        let spec = CorpusSpec {
            seed: 1,
            target_bytes: 1 << 30,
            hosts: 50,
            needles: 5,
            start_ns: 1_700_000_000_000_000_000,
            span_ns: 86_400_000_000_000,
        };
        let mut g = Generator::new(&apps, spec);
        let mut buf = Vec::with_capacity(8 << 20);
        let t0 = std::time::Instant::now();
        let mut bytes = 0u64;
        while g.next_entry(&mut buf).is_some() {
            if buf.len() > (4 << 20) {
                bytes += buf.len() as u64;
                buf.clear();
            }
        }
        bytes += buf.len() as u64;
        let s = t0.elapsed().as_secs_f64();
        println!(
            "generated {} MiB in {s:.2}s: {:.0} MiB/s on one thread",
            bytes >> 20,
            bytes as f64 / 1048576.0 / s
        );
    }
}
